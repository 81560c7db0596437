#!/bin/busybox sh
# The installer of a provision VM node (package vm): what anaconda does
# with the appliance, without the disk work. It reads the kernel
# arguments the node's boot script gave (ks=, ip=, netmask=, gateway=,
# BOOTIF=), brings up the PXE NIC statically as anaconda does with
# ksdevice=bootif, fetches the kickstart, reads the install tree its url
# command names, posts the callbacks with the node's token and reboots.
# Every step is written to the serial console with a "provision-vm:" prefix.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
con=/dev/ttyS0
diskMagic="provision-vm-disk 1"
say() { echo "provision-vm: $*" >"$con"; }
halt_here() {
	say "install stopped: $*"
	# An installer that fails shows its error and waits for the operator.
	while :; do sleep 3600; done
}

# Load the NIC's modules as modprobe would without modules.dep: passes
# over the list until a pass loads nothing more (a module whose
# dependencies are not in yet fails and is tried again).
left=$(echo $(cat /lib/modules/order))
while [ -n "$left" ]; do
	again=
	for m in $left; do
		insmod "/lib/modules/$m" 2>/dev/null || again="$again $m"
	done
	again=$(echo $again)
	[ "$again" = "$left" ] && break
	left="$again"
done
[ -z "$again" ] || say "modules not loaded:$again"

for a in $(cat /proc/cmdline); do
	case "$a" in
	ks=*) ks="${a#ks=}" ;;
	ip=*) ip="${a#ip=}" ;;
	netmask=*) netmask="${a#netmask=}" ;;
	gateway=*) gateway="${a#gateway=}" ;;
	BOOTIF=*) bootif="${a#BOOTIF=}" ;;
	esac
done
[ -n "$ks" ] || halt_here "no ks= argument"
[ -n "$ip" ] || halt_here "no ip= argument"

# BOOTIF=01-aa-bb-cc-dd-ee-ff names the NIC the firmware booted from.
mac=$(echo "${bootif#01-}" | tr 'A-F-' 'a-f:')
dev=
tries=0
while [ -z "$dev" ] && [ $tries -lt 50 ]; do
	for d in /sys/class/net/*; do
		n="${d##*/}"
		[ "$n" = lo ] && continue
		if [ -z "$mac" ] || [ "$(cat "$d/address")" = "$mac" ]; then
			dev="$n"
			break
		fi
	done
	[ -n "$dev" ] || { tries=$((tries + 1)); sleep 0.1; }
done
[ -n "$dev" ] || halt_here "no NIC with MAC $mac"
ifconfig lo 127.0.0.1 up
ifconfig "$dev" "$ip" netmask "${netmask:-255.255.255.0}" up || halt_here "cannot configure $dev"
[ -n "$gateway" ] && route add default gw "$gateway" 2>/dev/null
say "network: $dev $mac $ip netmask $netmask"

token="${ks#*token=}"
token="${token%%&*}"
[ "$token" != "$ks" ] || token=
events="${ks%%/kickstart*}/events"
post() {
	wget -q -O /dev/null --header "Authorization: Bearer $token" \
		--header "Content-Type: application/json" \
		--post-data "{\"state\":\"$1\",\"message\":\"$2\"}" "$events"
}

ok=
for i in 1 2 3 4 5 6 7 8 9 10; do
	if wget -q -O /tmp/ks.cfg "$ks"; then
		ok=1
		break
	fi
	sleep 1
done
[ -n "$ok" ] || halt_here "cannot fetch the kickstart $ks"
say "kickstart: $(wc -c </tmp/ks.cfg) bytes"
url=$(sed -n 's/^url .*--url[= ]\([^ ]*\).*/\1/p' /tmp/ks.cfg | head -n 1)
[ -n "$url" ] || { post failed "kickstart has no url command"; halt_here "kickstart has no url command"; }
wget -q -O /tmp/treeinfo "$url/.treeinfo" || { post failed "install tree $url unreachable"; halt_here "install tree $url unreachable"; }
say "install tree: $url ($(wc -c </tmp/treeinfo) bytes of .treeinfo)"
post installing "busybox installer: kickstart and install tree read" || say "installing callback failed"
say "installing"
# The install: the kickstart, as anaconda keeps it, on the disk (see
# ReadDisk), where the machine's next life finds it.
if [ -b /dev/vda ]; then
	{
		echo "$diskMagic"
		wc -c </tmp/ks.cfg
		cat /tmp/ks.cfg
	} >/dev/vda || { post failed "cannot write the disk"; halt_here "cannot write /dev/vda"; }
	sync
	say "disk: kickstart written to /dev/vda"
fi
post installed "busybox installer: done" || halt_here "installed callback failed"
say "installed, rebooting"
sync
reboot -f
