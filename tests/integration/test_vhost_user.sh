#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# test_vhost_user.sh VIRTNETD — a virtnetd vhost-user function driven by a
# driver we did not write: DPDK's net_virtio_user in dpdk-testpmd, in the
# sim topology (scripts/sim-topo.sh: virtnetd and its representor pf0 in
# the DPU namespace, bridged to a peer namespace over a veth "wire").
#
# For every combination of split/packed, mergeable buffers on/off,
# in-order on/off and 1/4 queue pairs:
#   - transmit: testpmd txonly for a while; what the device took from the
#     rings (telemetry) left the representor or was counted as a port
#     drop, at most the rings' worth stayed behind when testpmd stopped,
#     and at least what left the representor arrived at the peer's wire0;
#   - receive: testpmd rxonly while the peer pings the device's MAC from
#     several addresses (so with 4 pairs, several flows): testpmd receives
#     at least every ping, and the device counts no drop meanwhile.
# Then a front end killed with SIGKILL in mid-traffic: the function stays,
# the next front end gets traffic through.
#
# Run as root from the repository root after `make`:
#   sh tests/integration/test_vhost_user.sh build/bin/virtnetd
# Prints "ok"/"FAIL" per check; exits 1 if any failed. Only processes it
# started are signalled (by PID); namespaces and files it made are removed,
# also on failure.
set -u

bin=${1:-build/bin/virtnetd}
ID=$$
P="vnt${ID}-"                 # namespace prefix
PREFIX="vnt${ID}"             # virtnetd's EAL file prefix
TP_PREFIX="vnt${ID}tp"        # testpmd's
MAC=02:76:6e:00:00:10
QSIZE=256
TX_SECONDS=${TX_SECONDS:-1}

. "$(dirname "$0")/lib.sh"

vnd_pid=""
tp_pid=""
tmp=$(mktemp -d)

cleanup() {
	stop_pid "$tp_pid" INT
	stop_pid "$vnd_pid" TERM
	sh scripts/sim-topo.sh down "$P" 2>/dev/null
	rm -rf "$tmp" "/var/run/dpdk/$PREFIX" "/var/run/dpdk/$TP_PREFIX"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

testpmd() {	# testpmd LOG MODE DEVARGS QUEUES: in the background, $tp_pid
	dpdk-testpmd -l 0-1 --no-huge -m 256 --no-pci --file-prefix "$TP_PREFIX" \
		--single-file-segments --log-level=error \
		--vdev "net_virtio_user0,path=$tmp/vu0.sock,$3" -- \
		--total-num-mbufs=8192 --rxq="$4" --txq="$4" --forward-mode="$2" \
		--txpkts=64 --eth-peer=0,02:00:00:00:00:99 --no-lsc-interrupt \
		-a --stats-period=1 > "$1" 2>&1 &
	tp_pid=$!
}
tp_stop() {	# SIGINT: testpmd prints its totals and exits
	stop_pid "$tp_pid" INT
	tp_pid=""
}
tp_total() {	# tp_total LOG RX|TX: the accumulated count
	grep "$2-packets:.*$2-dropped" "$1" | tail -n 1 | \
		sed -n "s/.*$2-packets: *\([0-9]*\).*/\1/p"
}

# ---- topology and virtnetd ----------------------------------------------
sh scripts/sim-topo.sh up "$P" > /dev/null || { bad "topology up"; exit 1; }
ip -n "${P}wire" neigh replace 10.77.0.10 lladdr "$MAC" dev wire0
for a in 201 202 203 204; do
	ip -n "${P}wire" addr add "10.77.0.$a/24" dev wire0
done
cat > "$tmp/cfg.json" <<EOF
{ "devices": [ { "name": "vu0", "transport": "vhost-user",
  "socket": "$tmp/vu0.sock", "mac": "$MAC", "queue_pairs": 4,
  "queue_size": $QSIZE,
  "features": { "mrg_rxbuf": true, "packed": true, "in_order": true,
                "mq": true, "csum": true, "guest_csum": true } } ] }
EOF
vnd_up "vhost-user function vu0" --allow-unsealed || exit 1
[ -S "$tmp/vu0.sock" ] && ok "socket $tmp/vu0.sock" || bad "socket"

# ---- every combination --------------------------------------------------
all0=$(tel "/virtnet/device,vu0")
for packed in 0 1; do
for mrg in 0 1; do
for inorder in 0 1; do
for q in 1 4; do
	what="packed=$packed mrg_rxbuf=$mrg in_order=$inorder queues=$q"
	args="queues=$q,packed_vq=$packed,mrg_rxbuf=$mrg,in_order=$inorder"

	# transmit
	d0=$(tel "/virtnet/device,vu0")
	w0=$(wire_rx)
	testpmd "$tmp/tx.log" txonly "$args" "$q"
	sleep "$TX_SECONDS"
	tp_stop
	sleep 0.5
	d1=$(tel "/virtnet/device,vu0")
	w1=$(wire_rx)
	sent=$(tp_total "$tmp/tx.log" TX)
	took=$(( $(num "$d1" packets tx) - $(num "$d0" packets tx) ))
	left=$(( $(num "$d1" representor_tx) - $(num "$d0" representor_tx) ))
	pdrop=$(( $(num "$d1" drop_port tx) - $(num "$d0" drop_port tx) ))
	arrived=$((w1 - w0))
	if [ -n "$sent" ] && [ "$took" -gt 0 ] && [ "$took" -le "$sent" ] &&
	   [ $((sent - took)) -le $((q * QSIZE)) ] &&
	   [ $((left + pdrop)) -eq "$took" ] && [ "$arrived" -ge "$left" ]; then
		ok "$what: transmit: testpmd sent $sent, device took $took, $left left the representor ($pdrop port drops), $arrived at the wire"
	else
		bad "$what: transmit: sent ${sent:-?} took $took left $left port-drops $pdrop arrived $arrived"
		tail -n 20 "$tmp/tx.log"
	fi

	# receive (counters from when every ring runs and testpmd has posted
	# its buffers: a frame of the peer's own that came before is not ours)
	started=$(($(grep -c "ring $((2 * q - 1)) running" "$tmp/vnd.log") + 1))
	testpmd "$tmp/rx.log" rxonly "$args" "$q"
	wait_count "$tmp/vnd.log" "ring $((2 * q - 1)) running" "$started" 10
	sleep 1
	d0=$(tel "/virtnet/device,vu0")
	q0=$(tel "/virtnet/queues,vu0")
	for a in 201 202 203 204; do
		ip netns exec "${P}wire" ping -q -c 25 -i 0.01 -W 0.1 -I "10.77.0.$a" \
			10.77.0.10 > /dev/null 2>&1
	done
	sleep 0.5
	# The device's counters while testpmd still runs: a ring it has
	# stopped refilling on its way out may see drops after this.
	d1=$(tel "/virtnet/device,vu0")
	q1=$(tel "/virtnet/queues,vu0")
	tp_stop
	got=$(tp_total "$tmp/rx.log" RX)
	spread=0
	for r in 0 1 2 3; do
		[ $(( $(num "$q1" packets rx$r) - $(num "$q0" packets rx$r) )) -gt 0 ] &&
			spread=$((spread + 1))
	done
	dev_rx=$(( $(num "$d1" packets rx) - $(num "$d0" packets rx) ))
	bad_drops=0
	which=""
	for k in drop_filter drop_no_buffer drop_too_big drop_malformed drop_link_down drop_port; do
		n=$(( $(num "$d1" $k rx) - $(num "$d0" $k rx) ))
		[ "$n" -gt 0 ] && which="$which $k=$n"
		bad_drops=$((bad_drops + n))
	done
	# 4 flows, steered by their hash over the pairs in use: the same
	# addresses hash the same way every run, to more than one queue.
	want_spread=1
	[ "$q" -eq 4 ] && want_spread=2
	if [ -n "$got" ] && [ "$got" -ge 100 ] && [ "$dev_rx" -ge 100 ] &&
	   [ "$bad_drops" -eq 0 ] && [ "$spread" -ge "$want_spread" ]; then
		ok "$what: receive: 100 pings from 4 addresses, testpmd got $got, device delivered $dev_rx on $spread queue(s)"
	else
		bad "$what: receive: testpmd got ${got:-?}, device delivered $dev_rx on $spread queue(s), drops $bad_drops:$which"
		tail -n 20 "$tmp/rx.log"
	fi
done
done
done
done

# The transmit queues chose whether to release what they read by trying
# it (vnet_dp_release_tick): under 16 s of testpmd's traffic the trial
# phases alone release some frames, never more than were taken; a CPU
# without CLFLUSHOPT releases none.
all1=$(tel "/virtnet/device,vu0")
rel=$(( $(num "$all1" released tx) - $(num "$all0" released tx) ))
txall=$(( $(num "$all1" packets tx) - $(num "$all0" packets tx) ))
if grep -qw clflushopt /proc/cpuinfo; then
	[ "$rel" -gt 0 ] && [ "$rel" -le "$txall" ] &&
		ok "released after the copy: $rel of $txall transmitted frames" ||
		bad "released $rel of $txall transmitted frames"
else
	[ "$rel" -eq 0 ] && ok "no CLFLUSHOPT: nothing released" || bad "released $rel without CLFLUSHOPT"
fi

# ---- a front end killed in mid-traffic -----------------------------------
testpmd "$tmp/kill.log" txonly "queues=1" 1
sleep 1
stop_pid "$tp_pid" KILL
tp_pid=""
rm -rf "/var/run/dpdk/$TP_PREFIX"
if wait_for "$tmp/vnd.log" "front end gone" 10 && kill -0 "$vnd_pid" 2>/dev/null; then
	ok "front end killed: virtnetd noticed and runs on"
else
	bad "front end killed"
fi
d0=$(tel "/virtnet/device,vu0")
testpmd "$tmp/tx2.log" txonly "queues=1" 1
sleep "$TX_SECONDS"
tp_stop
sleep 0.5
d1=$(tel "/virtnet/device,vu0")
took=$(( $(num "$d1" packets tx) - $(num "$d0" packets tx) ))
[ "$took" -gt 0 ] && ok "the next front end: device took $took packets" ||
	bad "the next front end: nothing went through"

# ---- virtnetd stops cleanly ------------------------------------------------
stop_status "$vnd_pid"
vnd_pid=""
[ "$status" -eq 0 ] && ok "virtnetd stopped on SIGTERM, status 0" || bad "virtnetd exit status $status"
[ ! -e "/var/run/dpdk/$PREFIX" ] && ok "no runtime files left" || bad "runtime dir left"

[ "$failures" -eq 0 ]
