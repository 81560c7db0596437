// Package profiles renders the role profile of a node: the configuration
// files its roles need and an idempotent apply.sh that installs packages
// (yum from the appliance's mirrors of CentOS 6.5, EPEL and RDO Icehouse),
// puts each file in place only when it changed, and enables and starts the
// services in the order a careful operator would, restarting a service only
// when one of its files changed. The result is a Bundle; the SSH handoff
// (internal/handoff) uploads it and runs apply.sh, and `provision render
// profile NODE --out DIR` writes it for inspection.
//
// Rendering is a pure function of the plan, the node and Inputs: the
// generated secrets (kept under the state directory by Secrets), the
// OpenVPN PKI (kept there by PKI) and the DNS zone serial. Templates are
// embedded, run with missingkey=error, and rendered into buffers: a
// bundle is returned whole or not at all.
//
// The appliance node (admin01) is special: the appliance runs on a current
// Debian there (SITE.md, contradiction 5), so its profile uses apt-get and
// systemctl and Debian's paths, and is applied locally
// (`provision profile admin01 --local`). Every other node runs CentOS 6.5.
//
// Layout of an uploaded bundle:
//
//	apply.sh            the script, run as root from the bundle directory
//	files/ABS/PATH      each file, installed at /ABS/PATH by apply.sh
package profiles
