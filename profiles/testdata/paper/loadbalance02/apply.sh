#!/bin/bash
# Role profile of loadbalance02.prod.example.com (loadbalancer), rendered by provision.
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

log "loadbalance02: loadbalancer"
[ -r /etc/redhat-release ] && grep -q 'release 6' /etc/redhat-release || fail "this profile is for CentOS 6"
put 0644 root:root /etc/yum.repos.d/provision.repo
pkgs ntp zabbix-agent rsyslog openstack-utils openstack-selinux haproxy keepalived
put 0644 root:root /etc/hosts
put 0644 root:root /etc/security/limits.d/90-provision.conf
put 0644 root:root /etc/yum.repos.d/provision.repo
put 0644 root:root /etc/ntp.conf
put 0644 root:root /etc/resolv.conf
put 0644 root:root /etc/zabbix/zabbix_agentd.conf
put 0644 root:root /etc/rsyslog.d/90-provision.conf
put 0640 root:haproxy /etc/haproxy/haproxy.cfg
put 0600 root:root /etc/keepalived/keepalived.conf
put 0755 root:root /etc/keepalived/check_haproxy.sh
put 0644 root:root /etc/sysctl.d/90-provision.conf
sysctl -e -q -p /etc/sysctl.d/90-provision.conf
svc ntpd /etc/ntp.conf
svc rsyslog /etc/rsyslog.d/90-provision.conf
svc zabbix-agent /etc/zabbix/zabbix_agentd.conf

# Load balancer: HAProxy on the VIPs, Keepalived moving them.
kv=$(rpm -q --qf '%{VERSION}' keepalived)
if [ "$(printf '%s\n' 1.2.8 "$kv" | sort -V | head -n1)" != 1.2.8 ]; then
	log "keepalived $kv has no unicast_peer: updating"
	yum -y -q update keepalived
	kv=$(rpm -q --qf '%{VERSION}' keepalived)
	[ "$(printf '%s\n' 1.2.8 "$kv" | sort -V | head -n1)" = 1.2.8 ] || fail "keepalived $kv: 1.2.8 or later needed (unicast_peer)"
fi
haproxy -c -q -f /etc/haproxy/haproxy.cfg || fail "haproxy.cfg does not check"
svc haproxy /etc/haproxy/haproxy.cfg
svc keepalived /etc/keepalived/keepalived.conf /etc/keepalived/check_haproxy.sh
log "loadbalance02: profile applied"
