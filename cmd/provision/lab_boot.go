package main

import (
	"fmt"
	"net"
	"path/filepath"

	"github.com/provision/provision/internal/lab"
	"github.com/provision/provision/internal/simnode"
	"github.com/provision/provision/internal/vm"
	"github.com/spf13/cobra"
)

func (a *app) labBootCmd() *cobra.Command {
	var pxe bool
	cmd := &cobra.Command{
		Use:   "boot NODE",
		Short: "Run one boot of a simulated node (started by the lab's iDRACs)",
		Long: `boot runs in a node's lab namespace, started by the node's simulated iDRAC
when it boots the server: with --pxe, the firmware's DHCP and TFTP, iPXE,
the installer (kickstart fetched and linted, %pre checks, callbacks), the
reboot; then, or without --pxe, the installed system with its network and
sshd, until the server is powered off.`,
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rec, err := lab.Load(a.state)
			if err != nil {
				return fmt.Errorf("no lab is up in %s: %w", a.state, err)
			}
			plan, err := a.loadPlan()
			if err != nil {
				return err
			}
			n, ok := plan.Node(args[0])
			if !ok {
				return fmt.Errorf("node %s: not in the site", args[0])
			}
			mac, err := lab.PXEMAC(n)
			if err != nil {
				return err
			}
			hw, _ := net.ParseMAC(mac)
			root, err := filepath.Abs(filepath.Join(lab.Dir(a.state), "nodes", n.Name))
			if err != nil {
				return err
			}
			f := rec.Faults[n.Name]
			cfg := simnode.Config{Node: n.Name, MAC: hw, Interface: n.PXE.NIC, PXENIC: n.PXE.NIC, BootMode: n.BootMode,
				InstallTime: rec.InstallTime.Duration, RootDir: root, Log: a.log,
				Faults: simnode.Faults{NoCallback: f.NoCallback, MissingDisk: f.MissingDisk},
				Progress: func(s simnode.Step) {
					fmt.Fprintf(a.stdout, "%8s %-9s %-10s %s\n", s.Elapsed.Round(1e6), s.Phase, s.What, s.Msg)
				}}
			if fw, ok := rec.QEMU[n.Name]; ok && pxe {
				res, err := lab.BootVM(cmd.Context(), lab.VMBoot{Node: n.Name, MAC: mac, NIC: n.PXE.NIC,
					Firmware: vm.Firmware(fw), Console: filepath.Join(lab.Dir(a.state), n.Name+".console"),
					Disk: filepath.Join(root, "..", n.Name+".disk"), Log: a.log})
				if err != nil || !res.Installed {
					return err // powered off, or the VM's installer stopped and waited for it
				}
				if err := simnode.InstallFrom(cfg, res.Kickstart); err != nil {
					return err
				}
				pxe = false // the VM rebooted to its disk: the installed system runs here
			}
			return simnode.Boot(cmd.Context(), cfg, pxe)
		},
	}
	cmd.Flags().BoolVar(&pxe, "pxe", false, "the iDRAC set a one-time PXE boot")
	return cmd
}
