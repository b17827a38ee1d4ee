#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# test_vhost_user_client.sh VIRTNETD — a virtnetd vhost-user function in
# client mode ("mode": "client") against DPDK's net_virtio_user in server
# mode (server=1) in dpdk-testpmd, in the sim topology (scripts/sim-topo.sh).
#
# testpmd answers pings (--forward-mode=icmpecho), so one ping from the
# peer namespace crosses the function both ways: wire0 -> br0 ->
# representor pf0 -> device receive ring -> testpmd, and back through the
# transmit ring and the representor to wire0. Each traffic check counts
# the pings answered and, in virtnetd's telemetry and the peer's wire0,
# that every answered ping went through the device (received and
# transmitted), left the representor and arrived at the wire.
#
#   1. virtnetd first, no server yet: it retries with a bounded back-off
#      (it stays nearly idle), then connects when testpmd listens.
#   2. traffic both ways (split ring).
#   3. virtnetd SIGKILLed in mid-traffic and started again with the same
#      config: it reconnects, testpmd re-negotiates, traffic flows again.
#   4. testpmd SIGKILLed while virtnetd runs on: virtnetd notices, retries
#      on its own without spinning, reconnects to the new testpmd (packed
#      ring this time), traffic flows again.
#   5. virtnetd stops cleanly on SIGTERM (status 0, no runtime files).
#
# Run as root from the repository root after `make`:
#   sh tests/integration/test_vhost_user_client.sh build/bin/virtnetd
# Prints "ok"/"FAIL" per check; exits 1 if any failed. Only processes it
# started are signalled (by PID); namespaces and files it made are removed,
# also on failure.
set -u

bin=${1:-build/bin/virtnetd}
ID=$$
P="vnc${ID}-"                 # namespace prefix
PREFIX="vnc${ID}"             # virtnetd's EAL file prefix
TP_PREFIX="vnc${ID}tp"        # testpmd's
MAC=02:76:6e:00:00:20
PINGS=50

. "$(dirname "$0")/lib.sh"

vnd_pid=""
tp_pid=""
ping_pid=""
tmp=$(mktemp -d)
sock="$tmp/vu0.sock"

cleanup() {
	stop_pid "$ping_pid" INT
	stop_pid "$tp_pid" INT
	stop_pid "$vnd_pid" TERM
	sh scripts/sim-topo.sh down "$P" 2>/dev/null
	rm -rf "$tmp" "/var/run/dpdk/$PREFIX" "/var/run/dpdk/$TP_PREFIX"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

vnd_start() {	# vnd_start LOG: virtnetd in the DPU namespace, $vnd_pid
	sh scripts/sim-topo.sh dpu "$P" -- "$bin" --allow-unsealed \
		--config "$tmp/cfg.json" --run-dir "$tmp/run" -- \
		--file-prefix "$PREFIX" > "$1" 2>&1 &
	vnd_pid=$!
	if wait_for "$1" "serving" 20; then
		ok "virtnetd up, vu0 a vhost-user client of $sock"
	else
		bad "virtnetd up"
		cat "$1"
		exit 1
	fi
	# A new virtnetd brings a new representor: into the bridge.
	sh scripts/sim-topo.sh attach pf0 "$P" || bad "representor pf0 into the bridge"
}

tp_start() {	# tp_start LOG DEVARGS: testpmd, server mode, $tp_pid
	rm -f "$sock"	# a killed server leaves it: bind() would fail
	rm -rf "/var/run/dpdk/$TP_PREFIX"
	dpdk-testpmd -l 0-1 --no-huge -m 256 --no-pci --file-prefix "$TP_PREFIX" \
		--single-file-segments --log-level=error \
		--vdev "net_virtio_user0,path=$sock,server=1,mac=$MAC,$2" -- \
		--total-num-mbufs=8192 --forward-mode=icmpecho -a \
		--stats-period=1 > "$1" 2>&1 &
	tp_pid=$!
}

# connected VNDLOG N WHAT: the N-th connection of this virtnetd has both
# rings running (every "ring 1 running" line is one negotiation)
connected() {
	if wait_count "$1" "vu0: ring 1 running" "$2" 20; then
		ok "$3"
	else
		bad "$3: no negotiation seen"
		tail -n 20 "$1"
		return 1
	fi
}

# traffic WHAT: PINGS pings from the peer, each answered by testpmd (once
# a first one is: testpmd forwards a moment after the rings run)
traffic() {
	i=0
	until ip netns exec "${P}wire" ping -q -c 1 -W 1 10.77.0.10 > /dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 10 ] || break
	done
	sleep 0.5	# telemetry is a snapshot every 200 ms: let it catch up
	d0=$(tel "/virtnet/device,vu0")
	w0=$(wire_rx)
	# -w: wait for every answer up to 20 s (not just two round trips after
	# the last request): on 2 shared cores a poller may be descheduled.
	out=$(ip netns exec "${P}wire" ping -q -c "$PINGS" -i 0.01 -w 20 10.77.0.10 2>&1)
	sleep 0.5	# a telemetry snapshot every 200 ms
	d1=$(tel "/virtnet/device,vu0")
	w1=$(wire_rx)
	got=$(echo "$out" | sed -n 's/.* \([0-9]*\) received.*/\1/p')
	got=${got:-0}
	drx=$(( $(num "$d1" packets rx) - $(num "$d0" packets rx) ))
	dtx=$(( $(num "$d1" packets tx) - $(num "$d0" packets tx) ))
	left=$(( $(num "$d1" representor_tx) - $(num "$d0" representor_tx) ))
	arrived=$((w1 - w0))
	if [ "$got" -eq "$PINGS" ] && [ "$drx" -ge "$got" ] && [ "$dtx" -ge "$got" ] &&
	   [ "$left" -ge "$got" ] && [ "$arrived" -ge "$left" ]; then
		ok "$1: $got/$PINGS pings answered; device received $drx, transmitted $dtx, $left left the representor, $arrived at the wire"
	else
		bad "$1: $got/$PINGS answered; device received $drx, transmitted $dtx, representor tx $left, wire $arrived"
		echo "$out" | tail -n 3
		echo "before: $d0"
		echo "after:  $d1"
	fi
}

# ---- topology -------------------------------------------------------------
sh scripts/sim-topo.sh up "$P" > /dev/null || { bad "topology up"; exit 1; }
ip -n "${P}wire" neigh replace 10.77.0.10 lladdr "$MAC" dev wire0
cat > "$tmp/cfg.json" <<EOF
{ "devices": [ { "name": "vu0", "transport": "vhost-user",
  "socket": "$sock", "mode": "client", "mac": "$MAC", "queue_pairs": 1,
  "features": { "mrg_rxbuf": true, "packed": true } } ] }
EOF

# ---- 1. the client before its server -----------------------------------
vnd_start "$tmp/vnd1.log"
sleep 1
c0=$(main_ticks "$vnd_pid")
sleep 2
c1=$(main_ticks "$vnd_pid")
hz=$(getconf CLK_TCK)
# Retrying with nobody listening must not spin the control thread: a tenth
# of a CPU over 2 s is far above its idle loop, far below a busy loop.
if [ $((c1 - c0)) -le $((hz / 5)) ] && kill -0 "$vnd_pid" 2>/dev/null; then
	ok "no server yet: virtnetd retries, its control thread used $((c1 - c0)) CPU ticks in 2 s"
else
	bad "no server yet: virtnetd's control thread used $((c1 - c0)) CPU ticks in 2 s (HZ $hz)"
fi
tp_start "$tmp/tp1.log" "queues=1,packed_vq=0"
connected "$tmp/vnd1.log" 1 "testpmd listens: virtnetd connects, split rings negotiated"

# ---- 2. traffic ---------------------------------------------------------------
sleep 0.5
traffic "split ring"

# ---- 3. virtnetd killed in mid-traffic, started again ----------------------
ip netns exec "${P}wire" ping -q -c 2000 -i 0.005 -W 1 10.77.0.10 > "$tmp/ping.log" 2>&1 &
ping_pid=$!
sleep 1
stop_pid "$vnd_pid" KILL
vnd_pid=""
sleep 0.5
kill -0 "$tp_pid" 2>/dev/null && ok "virtnetd SIGKILLed in mid-traffic: testpmd runs on" ||
	bad "testpmd died with virtnetd"
vnd_start "$tmp/vnd2.log"
connected "$tmp/vnd2.log" 1 "virtnetd restarted: reconnected, testpmd re-negotiated"
sleep 0.5
stop_pid "$ping_pid" INT
ping_pid=""
n=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$tmp/ping.log")
[ "${n:-0}" -gt 0 ] && ok "the pings around the kill: ${n} answered" ||
	bad "no ping answered around the kill: $(tail -n 2 "$tmp/ping.log")"
s=$(tel "/virtnet/device,vu0")
[ "$(num "$s" connected)" -eq 1 ] && [ "$(num "$s" queues_running)" -eq 2 ] &&
	ok "telemetry: connected, 2 rings running" ||
	bad "telemetry after the restart: $s"
traffic "after virtnetd's restart"

# ---- 4. testpmd killed, virtnetd reconnects on its own ---------------------
stop_pid "$tp_pid" KILL
tp_pid=""
if wait_for "$tmp/vnd2.log" "front end gone" 10 && kill -0 "$vnd_pid" 2>/dev/null; then
	ok "testpmd SIGKILLed: virtnetd noticed and runs on"
else
	bad "testpmd killed: virtnetd did not notice"
fi
c0=$(main_ticks "$vnd_pid")
sleep 2
c1=$(main_ticks "$vnd_pid")
[ $((c1 - c0)) -le $((hz / 5)) ] &&
	ok "server gone: virtnetd retries, its control thread used $((c1 - c0)) CPU ticks in 2 s" ||
	bad "server gone: virtnetd's control thread used $((c1 - c0)) CPU ticks in 2 s (HZ $hz)"
tp_start "$tmp/tp2.log" "queues=1,packed_vq=1"
connected "$tmp/vnd2.log" 2 "testpmd restarted: virtnetd reconnected by itself, packed rings negotiated"
sleep 0.5
traffic "packed ring, after testpmd's restart"

# ---- 5. virtnetd stops cleanly ---------------------------------------------
stop_status "$vnd_pid"
vnd_pid=""
[ "$status" -eq 0 ] && ok "virtnetd stopped on SIGTERM, status 0" || bad "virtnetd exit status $status"
[ ! -e "/var/run/dpdk/$PREFIX" ] && ok "no runtime files left" || bad "runtime dir left"

[ "$failures" -eq 0 ]
