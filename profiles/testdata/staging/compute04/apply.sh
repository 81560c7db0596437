#!/bin/bash
# Role profile of compute04.staging.example.com (compute), rendered by provision.
# Run as root from the bundle directory. Safe to run again: a file is
# replaced only when it differs, a service restarted only when one of its
# files changed, a cluster joined only when not yet joined. No secret is
# written in this script: they are in the files it installs (mode 0600/0640).
set -euo pipefail
umask 022
BUNDLE=$(cd "$(dirname "$0")" && pwd)
CHANGED=" "
log() { echo "profile: $*"; }
fail() { echo "profile: FAILED: $*" >&2; exit 1; }
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR

# put MODE OWNER PATH installs the bundle's copy of PATH when it differs.
put() {
	local mode=$1 owner=$2 path=$3 src=$BUNDLE/files$3
	if [ -f "$path" ] && cmp -s "$src" "$path"; then
		chmod "$mode" "$path"
		chown "$owner" "$path"
		return 0
	fi
	install -D -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$src" "$path"
	CHANGED="$CHANGED$path "
	log "updated $path"
}
changed() {
	local p
	for p; do
		case "$CHANGED" in *" $p "*) return 0 ;; esac
	done
	return 1
}
# wait_for SECONDS WHAT COMMAND...: poll COMMAND once a second.
wait_for() {
	local n=$1 what=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "timed out waiting for $what"
		sleep 1
	done
}
pkgs() {
	local missing=() p
	for p; do rpm -q "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	yum -y -q install "${missing[@]}"
}
# svc NAME [FILES...]: enable and start NAME, restart it when a file changed.
svc() {
	local name=$1
	shift
	chkconfig "$name" on
	if [ $# -gt 0 ] && changed "$@"; then
		log "restarting $name"
		service "$name" restart
	elif ! service "$name" status >/dev/null 2>&1; then
		log "starting $name"
		service "$name" start
	fi
}
# standby NAME: installed and configured, off (the active node runs it).
standby() {
	chkconfig "$1" off
	if service "$1" status >/dev/null 2>&1; then service "$1" stop; fi
}
# osc FILE SECTION KEY VALUE sets an ini key with openstack-config when it differs.
osc() {
	local cur
	cur=$(openstack-config --get "$1" "$2" "$3" 2>/dev/null || true)
	[ "$cur" = "$4" ] && return 0
	openstack-config --set "$1" "$2" "$3" "$4"
	changed "$1" || CHANGED="$CHANGED$1 "
	log "set $1 [$2] $3"
}

log "compute04: compute"
[ -r /etc/redhat-release ] && grep -q 'release 6' /etc/redhat-release || fail "this profile is for CentOS 6"
put 0644 root:root /etc/yum.repos.d/provision.repo
pkgs ntp zabbix-agent rsyslog openstack-utils openstack-selinux openstack-nova-compute libvirt qemu-kvm iscsi-initiator-utils openstack-neutron-ml2 openstack-neutron-openvswitch
put 0644 root:root /etc/hosts
put 0644 root:root /etc/security/limits.d/90-provision.conf
put 0644 root:root /etc/yum.repos.d/provision.repo
put 0644 root:root /etc/ntp.conf
put 0644 root:root /etc/resolv.conf
put 0644 root:root /etc/zabbix/zabbix_agentd.conf
put 0644 root:root /etc/rsyslog.d/90-provision.conf
put 0644 root:root /etc/iscsi/initiatorname.iscsi
put 0600 root:root /etc/provision/openstack.settings
put 0644 root:root /etc/sysctl.d/90-provision.conf
sysctl -e -q -p /etc/sysctl.d/90-provision.conf
while IFS=$'\t' read -r f s k v; do
	[ -n "$f" ] && osc "$f" "$s" "$k" "$v"
done </etc/provision/openstack.settings
svc ntpd /etc/ntp.conf
svc rsyslog /etc/rsyslog.d/90-provision.conf
svc zabbix-agent /etc/zabbix/zabbix_agentd.conf

# Compute node: KVM, tunnels from 10.4.2.43 (VLAN 104), iSCSI from 10.5.2.43 (VLAN 105).
grep -Eq 'vmx|svm' /proc/cpuinfo || fail "no hardware virtualisation: enable VT-x in the BIOS"
svc messagebus
svc libvirtd
# The kickstart mounted the ephemeral volume before nova existed.
chown nova:nova /var/lib/nova/instances
svc iscsid /etc/iscsi/initiatorname.iscsi
svc openvswitch
ovs-vsctl --may-exist add-br br-int
ln -sf /etc/neutron/plugins/ml2/ml2_conf.ini /etc/neutron/plugin.ini
svc neutron-openvswitch-agent /etc/neutron/neutron.conf /etc/neutron/plugins/ml2/ml2_conf.ini
svc openstack-nova-compute /etc/nova/nova.conf
log "compute04: profile applied"
