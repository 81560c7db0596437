#!/bin/bash
# Keystone's tenants, users and catalogue, run on controller01 once Keystone
# answers. Idempotent: each object is created only when missing.
set -euo pipefail
export OS_SERVICE_TOKEN='test-keystone-admin-token'
export OS_SERVICE_ENDPOINT=http://10.3.2.20:35357/v2.0
ks() { keystone "$@"; }
id_of() { ks "$1-list" 2>/dev/null | awk -v n="$2" -F'|' '{gsub(/ /,"",$3)} $3==n {gsub(/ /,"",$2); print $2}'; }
tenant() { [ -n "$(id_of tenant "$1")" ] || ks tenant-create --name "$1" --description "$2" >/dev/null; }
role() { [ -n "$(id_of role "$1")" ] || ks role-create --name "$1" >/dev/null; }
user() {
	if [ -z "$(id_of user "$1")" ]; then
		ks user-create --name "$1" --pass "$2" >/dev/null
	else
		ks user-password-update --pass "$2" "$1" >/dev/null
	fi
	ks user-role-list --user "$1" --tenant "$3" | grep -qw "$4" ||
		ks user-role-add --user "$1" --tenant "$3" --role "$4"
}
service() {
	[ -n "$(id_of service "$1")" ] || ks service-create --name "$1" --type "$2" --description "$3" >/dev/null
	local sid; sid=$(id_of service "$1")
	ks endpoint-list | grep -q "$sid" ||
		ks endpoint-create --service-id "$sid" --publicurl "$4" --internalurl "$5" --adminurl "$6" >/dev/null
}
tenant admin "Admin Tenant"
tenant service "Service Tenant"
role admin
role _member_
user admin 'test-keystone-admin' admin admin
user glance 'test-svc-glance' service admin
user nova 'test-svc-nova' service admin
user cinder 'test-svc-cinder' service admin
user neutron 'test-svc-neutron' service admin
user swift 'test-svc-swift' service admin
service keystone identity 'OpenStack Identity' 'http://10.3.2.100:5000/v2.0' 'http://10.3.2.100:5000/v2.0' 'http://10.3.2.100:35357/v2.0'
service glance image 'OpenStack Image Service' 'http://10.3.2.100:9292' 'http://10.3.2.100:9292' 'http://10.3.2.100:9292'
service nova compute 'OpenStack Compute' 'http://10.3.2.100:8774/v2/%(tenant_id)s' 'http://10.3.2.100:8774/v2/%(tenant_id)s' 'http://10.3.2.100:8774/v2/%(tenant_id)s'
service cinder volume 'OpenStack Block Storage' 'http://10.3.2.100:8776/v1/%(tenant_id)s' 'http://10.3.2.100:8776/v1/%(tenant_id)s' 'http://10.3.2.100:8776/v1/%(tenant_id)s'
service cinderv2 volumev2 'OpenStack Block Storage v2' 'http://10.3.2.100:8776/v2/%(tenant_id)s' 'http://10.3.2.100:8776/v2/%(tenant_id)s' 'http://10.3.2.100:8776/v2/%(tenant_id)s'
service neutron network 'OpenStack Networking' 'http://10.3.2.100:9696' 'http://10.3.2.100:9696' 'http://10.3.2.100:9696'
service swift object-store 'OpenStack Object Storage' 'http://10.3.2.200:8080/v1/AUTH_%(tenant_id)s' 'http://10.3.2.200:8080/v1/AUTH_%(tenant_id)s' 'http://10.3.2.200:8080'
