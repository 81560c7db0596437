package kickstart

import (
	"strings"
	"testing"

	"github.com/provision/provision/provision"
)

// TestPlanInKickstart: every interface, address, bond, slave, VLAN and
// volume of a node's plan appears in its kickstart, for every node of both
// example sites.
func TestPlanInKickstart(t *testing.T) {
	for _, site := range exampleSites {
		plan := loadSite(t, site)
		for _, n := range plan.Nodes {
			if n.Appliance {
				continue
			}
			t.Run(site+"/"+n.Name, func(t *testing.T) {
				b, err := Render(plan, n, fakeInputs(n.Name))
				if err != nil {
					t.Fatal(err)
				}
				ks := string(b)
				want := func(s string) {
					t.Helper()
					if !strings.Contains(ks, s) {
						t.Errorf("kickstart lacks %q", s)
					}
				}
				for _, i := range n.Interfaces {
					want("ifcfg-" + i.Name + " <<'PROVISION_EOF'\nDEVICE=" + i.Name + "\n")
					if i.Address.IsValid() {
						want("IPADDR=" + i.Address.Addr().String() + "\nNETMASK=" + netmask(i.Address.Bits()) + "\n")
					}
					switch {
					case i.Kind == provision.KindBond:
						want("BONDING_OPTS=\"" + bondingOpts(i) + "\"\n")
						want("alias " + i.Name + " bonding\n")
						for _, s := range i.Slaves {
							want("DEVICE=" + s + "\nTYPE=Ethernet\n")
						}
					case i.Master != "":
						want("DEVICE=" + i.Name + "\nTYPE=Ethernet\n")
						want("MASTER=" + i.Master + "\nSLAVE=yes\n")
					case i.Kind == provision.KindVLAN:
						want("DEVICE=" + i.Name + "\nVLAN=yes\n")
					}
				}
				want("--ip=" + n.PXE.Address.String() + " ")
				for _, r := range n.Routes {
					want(r.To.String() + " via " + r.Via.String() + " dev " + r.Interface + "\n")
				}
				for _, v := range n.Storage {
					switch v.Use {
					case provision.UseSwift:
						for _, l := range v.Labels {
							want("LABEL=" + l + " " + v.Mount + "/" + l + " xfs ")
						}
					case provision.UseLVM:
						want("volgroup " + v.VG + " ")
					default:
						if v.Mount != "" {
							want(" " + v.Mount + " ")
						}
					}
				}
			})
		}
	}
}
