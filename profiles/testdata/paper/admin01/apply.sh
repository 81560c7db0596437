#!/bin/bash
# Role profile of admin01.prod.example.com (admin), rendered by provision.
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
	for p; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get -q update
	DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends "${missing[@]}"
}
# svc NAME [FILES...]: enable and start NAME, restart it when a file changed.
svc() {
	local name=$1
	shift
	systemctl enable -q "$name"
	if [ $# -gt 0 ] && changed "$@"; then
		log "restarting $name"
		systemctl restart "$name"
	elif ! systemctl is-active -q "$name"; then
		log "starting $name"
		systemctl start "$name"
	fi
}

log "admin01: admin"
pkgs zabbix-agent ntpsec bind9 bind9-utils openvpn mariadb-server zabbix-server-mysql
put 0644 root:root /etc/hosts
put 0644 root:root /etc/security/limits.d/90-provision.conf
put 0644 root:root /etc/zabbix/zabbix_agentd.conf
put 0644 root:root /etc/ntpsec/ntp.conf
put 0644 root:root /etc/bind/named.conf
put 0644 root:root /etc/openvpn/server/provision.conf
put 0640 root:zabbix /etc/zabbix/zabbix_server.conf
put 0600 root:root /etc/provision/zabbix-db.sql
put 0644 root:root /etc/logstash/conf.d/provision.conf
put 0644 root:root /etc/sysctl.d/90-provision.conf
put 0644 root:bind /etc/bind/provision/db.prod.example.com
put 0644 root:bind /etc/bind/provision/db.1.0.10.in-addr.arpa
put 0644 root:bind /etc/bind/provision/db.1.3.10.in-addr.arpa
put 0644 root:bind /etc/bind/provision/db.1.4.10.in-addr.arpa
put 0644 root:bind /etc/bind/provision/db.1.5.10.in-addr.arpa
put 0644 root:bind /etc/bind/provision/db.1.6.10.in-addr.arpa
put 0644 root:bind /etc/bind/provision/db.1.7.10.in-addr.arpa
put 0644 root:bind /etc/bind/provision/db.113.0.203.in-addr.arpa
put 0644 root:root /etc/openvpn/server/provision/ca.crt
put 0644 root:root /etc/openvpn/server/provision/server.crt
put 0600 root:root /etc/openvpn/server/provision/server.key
put 0600 root:root /etc/openvpn/server/provision/tls-crypt.key
sysctl -e -q -p /etc/sysctl.d/90-provision.conf

# The appliance host (Debian): time source, DNS, VPN, monitoring, logs.
svc zabbix-agent /etc/zabbix/zabbix_agentd.conf
svc ntpsec /etc/ntpsec/ntp.conf
named-checkconf -z /etc/bind/named.conf >/dev/null || fail "named.conf or a zone does not check"
svc named /etc/bind/named.conf /etc/bind/provision/db.prod.example.com /etc/bind/provision/db.1.0.10.in-addr.arpa /etc/bind/provision/db.1.3.10.in-addr.arpa /etc/bind/provision/db.1.4.10.in-addr.arpa /etc/bind/provision/db.1.5.10.in-addr.arpa /etc/bind/provision/db.1.6.10.in-addr.arpa /etc/bind/provision/db.1.7.10.in-addr.arpa /etc/bind/provision/db.113.0.203.in-addr.arpa
svc openvpn-server@provision /etc/openvpn/server/provision.conf /etc/openvpn/server/provision/server.crt /etc/openvpn/server/provision/server.key /etc/openvpn/server/provision/tls-crypt.key
svc mariadb
mysql </etc/provision/zabbix-db.sql
if [ "$(mysql -N -e 'SELECT COUNT(*) FROM information_schema.tables WHERE table_schema="zabbix"')" = 0 ]; then
	log "loading the Zabbix schema"
	zcat /usr/share/zabbix-server-mysql/schema.sql.gz /usr/share/zabbix-server-mysql/images.sql.gz /usr/share/zabbix-server-mysql/data.sql.gz | mysql zabbix
fi
svc zabbix-server /etc/zabbix/zabbix_server.conf
if dpkg -s logstash >/dev/null 2>&1; then
	svc logstash /etc/logstash/conf.d/provision.conf
else
	log "logstash is not a Debian package: install it from Elastic's repository, then run this again"
fi
if apt-cache show puppetserver >/dev/null 2>&1; then
	pkgs puppetserver
	svc puppetserver
else
	log "puppetserver is not available from this host's repositories: skipped"
fi
log "admin01: profile applied"
