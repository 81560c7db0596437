package profiles

import (
	"fmt"
	"net/netip"

	"github.com/provision/provision/provision"
)

// ctlView is a controller's clusters: Galera, RabbitMQ, memcached.
type ctlView struct {
	// First is true on the first controller (by name): it bootstraps
	// Galera and RabbitMQ, creates the databases and the Keystone
	// catalogue; the others join.
	First     bool
	FirstName string
	Galera    []peer
	Rabbit    []peer
	Memcached []peer
	// Clients are the hosts allowed to reach the databases: the
	// management network.
	Clients string
	// Public is the URL host of the public endpoints.
	Endpoints []endpoint
}

// endpoint is a Keystone catalogue entry.
type endpoint struct {
	Name, Type, Description string
	Public, Internal, Admin string
}

func (v *view) controller(plan *provision.Plan) error {
	mg := plan.Site.Management
	c := &ctlView{
		Galera:    addrsOf(plan, "galera", mg),
		Rabbit:    addrsOf(plan, "rabbitmq-server", mg),
		Memcached: addrsOf(plan, "memcached", mg),
	}
	// Only the controllers' memcached serve Keystone and Horizon; the
	// Swift proxies keep their own.
	var mc []peer
	for _, p := range c.Memcached {
		if n, ok := plan.Node(p.Name); ok && n.HasService("keystone") {
			mc = append(mc, p)
		}
	}
	c.Memcached = mc
	if len(c.Galera) == 0 {
		return fmt.Errorf("controller without galera nodes in the site")
	}
	c.FirstName = c.Galera[0].Name
	c.First = c.FirstName == v.Node.Name
	c.Clients = v.MgmtNet.Prefix.String()
	c.Endpoints = endpoints(v.VIP)
	v.Ctl = c
	v.Sysctl = append(v.Sysctl, kv{"vm.swappiness", "1"})
	v.NoFile = 102400
	v.file("/etc/my.cnf.d/galera.cnf", "galera.cnf.tmpl", 0o644)
	v.secretFile("/root/.my.cnf", "my.cnf.tmpl", "root:root", 0o600)
	if c.First {
		v.secretFile("/etc/provision/db.sql", "db.sql.tmpl", "root:root", 0o600)
		v.secretFile("/etc/provision/keystone-bootstrap.sh", "keystone-bootstrap.sh.tmpl", "root:root", 0o700)
	}
	v.file("/etc/rabbitmq/rabbitmq-env.conf", "rabbitmq-env.conf.tmpl", 0o644)
	v.file("/etc/rabbitmq/rabbitmq.config", "rabbitmq.config.tmpl", 0o644)
	v.secretFile("/var/lib/rabbitmq/.erlang.cookie", "erlang.cookie.tmpl", "rabbitmq:rabbitmq", 0o400)
	v.file("/etc/sysconfig/memcached", "memcached.tmpl", 0o644)
	v.secretFile("/etc/openstack-dashboard/local_settings", "local_settings.tmpl", "root:apache", 0o640)
	v.Packages = append(v.Packages, "mariadb-galera-server", "galera", "rsync", "rabbitmq-server",
		"memcached", "python-memcached", "openstack-keystone", "python-keystoneclient",
		"openstack-glance", "openstack-nova-api", "openstack-nova-scheduler", "openstack-nova-conductor",
		"openstack-nova-console", "openstack-nova-novncproxy", "openstack-cinder",
		"openstack-neutron", "openstack-neutron-ml2", "python-neutronclient",
		"openstack-dashboard", "httpd", "mod_ssl")
	return nil
}

// endpoints is the Keystone catalogue: public URLs on the public VIP,
// internal and admin URLs on the internal one.
func endpoints(vip vipAddrs) []endpoint {
	u := func(a netip.Addr, port int, path string) string {
		return fmt.Sprintf("http://%s:%d%s", a, port, path)
	}
	mk := func(name, typ, desc string, port int, path string) endpoint {
		return endpoint{Name: name, Type: typ, Description: desc,
			Public: u(vip.Public, port, path), Internal: u(vip.Internal, port, path), Admin: u(vip.Internal, port, path)}
	}
	ks := mk("keystone", "identity", "OpenStack Identity", 5000, "/v2.0")
	ks.Admin = u(vip.Internal, 35357, "/v2.0")
	out := []endpoint{
		ks,
		mk("glance", "image", "OpenStack Image Service", 9292, ""),
		mk("nova", "compute", "OpenStack Compute", 8774, "/v2/%(tenant_id)s"),
		mk("cinder", "volume", "OpenStack Block Storage", 8776, "/v1/%(tenant_id)s"),
		mk("cinderv2", "volumev2", "OpenStack Block Storage v2", 8776, "/v2/%(tenant_id)s"),
		mk("neutron", "network", "OpenStack Networking", 9696, ""),
	}
	if vip.Swift.IsValid() {
		out = append(out, endpoint{Name: "swift", Type: "object-store", Description: "OpenStack Object Storage",
			Public: u(vip.Swift, 8080, "/v1/AUTH_%(tenant_id)s"), Internal: u(vip.Swift, 8080, "/v1/AUTH_%(tenant_id)s"),
			Admin: u(vip.Swift, 8080, "")})
	}
	return out
}
