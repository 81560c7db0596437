#!/bin/bash
# Role profile of controller03.staging.example.com (controller, loadbalancer), rendered by provision.
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

log "controller03: controller, loadbalancer"
[ -r /etc/redhat-release ] && grep -q 'release 6' /etc/redhat-release || fail "this profile is for CentOS 6"
put 0644 root:root /etc/yum.repos.d/provision.repo
pkgs ntp zabbix-agent rsyslog openstack-utils openstack-selinux haproxy keepalived mariadb-galera-server galera rsync rabbitmq-server memcached python-memcached openstack-keystone python-keystoneclient openstack-glance openstack-nova-api openstack-nova-scheduler openstack-nova-conductor openstack-nova-console openstack-nova-novncproxy openstack-cinder openstack-neutron openstack-neutron-ml2 python-neutronclient openstack-dashboard httpd mod_ssl
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
put 0644 root:root /etc/my.cnf.d/galera.cnf
put 0600 root:root /root/.my.cnf
put 0644 root:root /etc/rabbitmq/rabbitmq-env.conf
put 0644 root:root /etc/rabbitmq/rabbitmq.config
put 0400 rabbitmq:rabbitmq /var/lib/rabbitmq/.erlang.cookie
put 0644 root:root /etc/sysconfig/memcached
put 0640 root:apache /etc/openstack-dashboard/local_settings
put 0600 root:root /etc/provision/openstack.settings
put 0644 root:root /etc/sysctl.d/90-provision.conf
sysctl -e -q -p /etc/sysctl.d/90-provision.conf
while IFS=$'\t' read -r f s k v; do
	[ -n "$f" ] && osc "$f" "$s" "$k" "$v"
done </etc/provision/openstack.settings
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

# Controller. controller01 bootstraps Galera and RabbitMQ and creates the
# databases and the Keystone catalogue; the others join.
galera_ready() { mysql -N -e "SHOW STATUS LIKE 'wsrep_ready'" | grep -q ON; }
peer_up() {
	local p
	for p in 10.3.2.20 10.3.2.21; do
		(exec 3<>"/dev/tcp/$p/4567") 2>/dev/null && return 0
	done
	return 1
}
chkconfig mysqld on
# The data volume is mounted here by the kickstart, before mysql existed.
chown mysql:mysql /var/lib/mysql
if ! service mysqld status >/dev/null 2>&1; then
	peer_up || fail "no Galera peer answers: controller01 must be up first"
	log "joining the Galera cluster"
	service mysqld start
elif changed /etc/my.cnf.d/galera.cnf; then
	service mysqld restart
fi
# A joiner answers once its state transfer is done: allow for a large one.
wait_for 1800 "mysqld to answer" mysqladmin --no-defaults -uroot ping
wait_for 300 "Galera to be ready" galera_ready

# RabbitMQ: shared cookie, cluster with controller01, mirrored queues.
svc rabbitmq-server /var/lib/rabbitmq/.erlang.cookie /etc/rabbitmq/rabbitmq.config /etc/rabbitmq/rabbitmq-env.conf
if ! rabbitmqctl cluster_status | grep -A1 running_nodes | grep -q "rabbit@controller01"; then
	log "joining the RabbitMQ cluster of controller01"
	rabbitmqctl stop_app
	rabbitmqctl join_cluster rabbit@controller01 || rabbitmqctl cluster_status | grep -q "rabbit@controller01"
	rabbitmqctl start_app
fi
svc memcached /etc/sysconfig/memcached

# OpenStack APIs and schedulers, all reached through 10.3.2.100.
ln -sf /etc/neutron/plugins/ml2/ml2_conf.ini /etc/neutron/plugin.ini
svc openstack-keystone /etc/keystone/keystone.conf
wait_for 60 "keystone" bash -c 'exec 3<>/dev/tcp/10.3.2.22/35357'
svc openstack-glance-registry /etc/glance/glance-registry.conf
svc openstack-glance-api /etc/glance/glance-api.conf
for s in api scheduler conductor consoleauth novncproxy; do svc openstack-nova-$s /etc/nova/nova.conf; done
for s in api scheduler; do svc openstack-cinder-$s /etc/cinder/cinder.conf; done
svc neutron-server /etc/neutron/neutron.conf /etc/neutron/plugins/ml2/ml2_conf.ini
# Horizon: Apache on this node's address only, so HAProxy can hold the VIP's :80 and :443.
sed -i 's/^Listen .*/Listen 10.3.2.22:80/' /etc/httpd/conf/httpd.conf
sed -i 's/^Listen .*/Listen 10.3.2.22:443/' /etc/httpd/conf.d/ssl.conf
svc httpd /etc/openstack-dashboard/local_settings
log "controller03: profile applied"
