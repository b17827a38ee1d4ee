#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# test_qemu_guest.sh VIRTNETD — a virtnetd vhost-user function driven by the
# Linux kernel's own virtio_net driver: Debian 12's stock kernel boots under
# QEMU 7.2 (software emulation: no KVM here) with a busybox initramfs
# (scripts/guest-kit.sh, tests/guest/init) and guest memory in a shared
# memfd, attached to the function; virtnetd and its representor sit in the
# sim topology (scripts/sim-topo.sh), the peer at the wire's end.
#
# For each ring layout (split, then packed with two queue pairs):
#   - the guest's driver binds and negotiates what the function offers;
#   - the guest pings the peer and the peer pings the guest;
#   - TCP both ways: the guest fetches a file from the peer's HTTP server,
#     the peer fetches one the guest made; checksums compared (the guest
#     has checksum offload and TSO negotiated, so its frames carry partial
#     checksums and may be TSO-sized: the file arriving intact says they
#     were completed and segmented on the way out);
#   - every frame the guest sent was taken by the device, every frame the
#     device delivered was counted by the guest; the guest powers off and
#     QEMU exits 0; virtnetd sees the front end go and keeps the function.
# QEMU 7.2 crashes under TCG when MSI-X is used with a vhost-user device:
# the device gets vectors=0 (INTx).
#
# Run as root from the repository root after `make`:
#   sh tests/integration/test_qemu_guest.sh build/bin/virtnetd
# Prints "ok"/"FAIL" per check; exits 1 if any failed. Only processes it
# started are signalled (by PID); namespaces and files it made are removed,
# also on failure. The guest kit is cached in build/guest.
set -u

bin=${1:-build/bin/virtnetd}
ID=$$
P="vnq${ID}-"
PREFIX="vnq${ID}"
MAC=02:76:6e:00:00:20
GUEST_IP=10.77.0.10
PEER_IP=10.77.0.254
BLOB_MB=${BLOB_MB:-4}
BOOT_SECONDS=${BOOT_SECONDS:-240}
KIT=${GUEST_KIT:-build/guest}

. "$(dirname "$0")/lib.sh"

vnd_pid=""
qemu_pid=""
httpd_pid=""
tmp=$(mktemp -d)

cleanup() {
	stop_pid "$qemu_pid" TERM
	stop_pid "$httpd_pid" TERM
	stop_pid "$vnd_pid" TERM
	sh scripts/sim-topo.sh down "$P" 2>/dev/null
	rm -rf "$tmp" "/var/run/dpdk/$PREFIX"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

gwait() {	# gwait PATTERN SECONDS: a console line, unless the guest ended first
	i=0
	while [ $i -lt $(($2 * 10)) ]; do
		grep -q "$1" "$tmp/console.log" 2>/dev/null && return 0
		grep -q "^VN-DONE" "$tmp/console.log" 2>/dev/null && return 1
		kill -0 "$qemu_pid" 2>/dev/null || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
gval() {	# gval NAME: a "VN-VAL NAME value" line the guest printed
	sed -n "s/^VN-VAL $1 \(.*\)$/\1/p" "$tmp/console.log" | tr -d '\r' | head -n 1
}
feature() {	# feature BITS N: bit N of the guest's features string
	echo "$1" | cut -c $(($2 + 1))
}

# ---- the guest kit, the topology, the peer's HTTP server, virtnetd --------
if sh scripts/guest-kit.sh "$KIT" > "$tmp/kit.log" 2>&1; then
	ok "guest kit: $(tail -n 1 "$tmp/kit.log")"
else
	bad "guest kit"; cat "$tmp/kit.log"; exit 1
fi
sh scripts/sim-topo.sh up "$P" > /dev/null || { bad "topology up"; exit 1; }
mkdir -p "$tmp/www"
dd if=/dev/urandom of="$tmp/www/blob" bs=1M count="$BLOB_MB" 2> /dev/null
peer_sum=$(sha256sum < "$tmp/www/blob" | cut -d' ' -f1)
ip netns exec "${P}wire" busybox httpd -f -p "$PEER_IP:8000" -h "$tmp/www" &
httpd_pid=$!

cat > "$tmp/cfg.json" <<EOF
{ "devices": [
  { "name": "vu0", "transport": "vhost-user", "socket": "$tmp/vu0.sock",
    "mac": "$MAC", "queue_pairs": 2, "queue_size": 256,
    "features": { "mrg_rxbuf": true, "packed": true, "mq": true,
                  "csum": true, "guest_csum": true, "tso": true,
                  "event_idx": true, "indirect": true, "status": true } } ] }
EOF
vnd_up "vhost-user function vu0" || exit 1

# ---- one guest boot per ring layout --------------------------------------
# guest NAME QUEUES DEVICE-OPTIONS
guest() {
	name=$1 q=$2 devopts=$3
	rm -f "$tmp/www/finished" "$tmp/console.log"
	d0=$(tel "/virtnet/device,vu0")
	gone=$(($(grep -c "front end gone" "$tmp/vnd.log") + 1))
	smp=1
	[ "$q" -gt 1 ] && smp=2
	qemu-system-x86_64 -nodefaults -display none -no-reboot \
		-machine pc,accel=tcg,memory-backend=mem -smp "$smp" -m 256M \
		-object memory-backend-memfd,id=mem,size=256M,share=on \
		-chardev socket,id=vu,path="$tmp/vu0.sock" \
		-netdev vhost-user,id=n0,chardev=vu,queues="$q" \
		-device "virtio-net-pci,netdev=n0,mac=$MAC,vectors=0,disable-legacy=on$devopts" \
		-kernel "$KIT/vmlinuz" -initrd "$KIT/initrd.gz" \
		-append "console=ttyS0 panic=-1 quiet vn.ip=$GUEST_IP/24 vn.peer=$PEER_IP vn.blob=$BLOB_MB" \
		-serial "file:$tmp/console.log" > "$tmp/qemu.log" 2>&1 &
	qemu_pid=$!

	if gwait "^VN-VAL queues" "$BOOT_SECONDS"; then
		ok "$name: the guest's virtio_net bound: driver $(gval driver), $(gval queues) queue pair(s), MAC $(gval mac)"
	else
		bad "$name: no virtio_net interface in the guest"
		tail -n 30 "$tmp/console.log" "$tmp/qemu.log" "$tmp/vnd.log"
		stop_pid "$qemu_pid" TERM; qemu_pid=""
		wait_count "$tmp/vnd.log" "front end gone" "$gone" 10
		return
	fi
	f=$(gval features)
	# VERSION_1 32, MRG_RXBUF 15, CSUM 0, HOST_TSO4 11, RING_PACKED 34, MQ 22
	want_packed=0
	case "$devopts" in *packed=on*) want_packed=1 ;; esac
	if [ "$(feature "$f" 32)" = 1 ] && [ "$(feature "$f" 15)" = 1 ] &&
	   [ "$(feature "$f" 0)" = 1 ] && [ "$(feature "$f" 11)" = 1 ] &&
	   [ "$(feature "$f" 34)" = "$want_packed" ] &&
	   [ "$(gval queues)" = "$q" ]; then
		ok "$name: negotiated VERSION_1 MRG_RXBUF CSUM HOST_TSO4, packed=$want_packed, $q pair(s)"
	else
		bad "$name: negotiated features $f, queues $(gval queues)"
	fi

	gwait "^VN-...* ping" 60
	if grep -q "^VN-OK ping" "$tmp/console.log"; then
		ok "$name: the guest pinged the peer"
	else
		bad "$name: the guest's ping"
		grep -A5 "VN-FAIL ping" "$tmp/console.log"
		tail -n 30 "$tmp/qemu.log" "$tmp/vnd.log"
	fi
	if ip netns exec "${P}wire" ping -c 3 -W 5 "$GUEST_IP" > "$tmp/ping" 2>&1; then
		ok "$name: the peer pinged the guest"
	else
		bad "$name: the peer's ping"; cat "$tmp/ping"
	fi

	# peer -> guest
	gwait "^VN-VAL fetched\|^VN-FAIL fetch" 120
	got=$(gval fetched)
	if [ "$got" = "$peer_sum $((BLOB_MB * 1048576))" ]; then
		ok "$name: TCP peer -> guest: $BLOB_MB MiB, checksum matches"
	else
		bad "$name: TCP peer -> guest: guest got '${got}', peer sent $peer_sum"
	fi

	# guest -> peer
	gwait "^VN-OK httpd" 120
	sum=$(gval serving | cut -d' ' -f1)
	rm -f "$tmp/fromguest"
	# (busybox 1.35's wget crashes with -T: timeout(1) bounds it)
	ip netns exec "${P}wire" timeout 60 busybox wget -q -O "$tmp/fromguest" \
		"http://$GUEST_IP/blob" 2> "$tmp/wget.log"
	if [ -n "$sum" ] && [ -f "$tmp/fromguest" ] &&
	   [ "$(sha256sum < "$tmp/fromguest" | cut -d' ' -f1)" = "$sum" ]; then
		ok "$name: TCP guest -> peer: $BLOB_MB MiB, checksum matches"
	else
		bad "$name: TCP guest -> peer: guest served '${sum}'"; cat "$tmp/wget.log"
	fi

	# The device's view: every frame the guest handed over went out (or
	# is a counted port drop), and segmentation happened here. The guest
	# reads its counters after fetching "finished", and frames still reach
	# it after that (the ACK of its last connection's FIN): the device's
	# count before "finished" exists is at most the guest's, the one after
	# the guest is done at least.
	dm=$(tel "/virtnet/device,vu0")
	: > "$tmp/www/finished"
	if wait_for "$tmp/console.log" "^VN-DONE" 60; then
		ok "$name: the guest finished and powers off"
	else
		bad "$name: the guest did not finish"; tail -n 20 "$tmp/console.log"
	fi
	d1=$(tel "/virtnet/device,vu0")
	tx=$(( $(num "$d1" packets tx) - $(num "$d0" packets tx) ))
	rx=$(( $(num "$d1" packets rx) - $(num "$d0" packets rx) ))
	rxm=$(( $(num "$dm" packets rx) - $(num "$d0" packets rx) ))
	gtx=$(gval tx_packets)
	grx=$(gval rx_packets)
	if [ "$tx" -gt 0 ] && [ -n "$gtx" ] && [ "$tx" -ge "$gtx" ] &&
	   [ "$rxm" -gt 0 ] && [ -n "$grx" ] && [ "$grx" -ge "$rxm" ] &&
	   [ "$rx" -ge "$grx" ]; then
		txb=$(( $(num "$d1" bytes tx) - $(num "$d0" bytes tx) ))
		ok "$name: device took $tx frames from the guest (guest counted $gtx, $((txb / tx)) bytes on average), delivered $rxm before the last fetch and $rx by the end (guest counted $grx)"
	else
		bad "$name: device tx $tx (guest $gtx), rx $rxm before the last fetch and $rx by the end (guest $grx)"
		echo "$dm"
		echo "$d1"
	fi
	i=0
	while [ $i -lt 300 ] && kill -0 "$qemu_pid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
	if kill -0 "$qemu_pid" 2>/dev/null; then
		bad "$name: QEMU still running after the guest powered off"
		stop_pid "$qemu_pid" TERM
	else
		wait "$qemu_pid"
		st=$?
		[ "$st" -eq 0 ] && ok "$name: QEMU exited, status 0" ||
			{ bad "$name: QEMU exit status $st"; tail -n 20 "$tmp/qemu.log"; }
	fi
	qemu_pid=""
	if wait_count "$tmp/vnd.log" "front end gone" "$gone" 10; then
		ok "$name: virtnetd saw the front end go, the function stays"
	else
		bad "$name: virtnetd did not see the front end go"
		tail -n 20 "$tmp/vnd.log"
	fi
}

for g in ${GUESTS:-split packed}; do
	case $g in
	split) guest split 1 "" ;;
	packed) guest "packed, 2 pairs" 2 ",packed=on,mq=on" ;;
	esac
done

# ---- virtnetd stops cleanly ------------------------------------------------
stop_status "$vnd_pid"
vnd_pid=""
[ "$status" -eq 0 ] && ok "virtnetd stopped on SIGTERM, status 0" || bad "virtnetd exit status $status"
[ ! -e "/var/run/dpdk/$PREFIX" ] && ok "no runtime files left" || bad "runtime dir left"

[ "$failures" -eq 0 ]
