#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# demo.sh BUILD BOARD [up|down] — the main job: the sim topology with a
# simulated host whose PF and two VFs are Linux interfaces, talking through
# virtnetd's emulated PCI functions, its datapath and its representors to
# a peer on the "wire".
#
#   vn-host  pf0 10.77.0.1      (virtnet-host: the PF, 2 queue pairs)
#   vn-c0    pf0vf0 10.77.0.11  (VF 0, a "container")
#   vn-c1    pf0vf1 10.77.0.12  (VF 1, another)
#      |  vfio-user sockets in /run/virtnet-demo/run
#   vn-dpu   virtnetd; representors pf0, pf0vf0, pf0vf1 in bridge br0
#      |  veth uplink0 <-> wire0
#   vn-wire  wire0 10.77.0.254 (an iperf3 server)
#
# `up` (the default) tears down a previous demo, brings it all up, shows a
# ping from each interface and an iperf3 run, and leaves it running;
# `down` stops what `up` started (by the PIDs it recorded) and removes the
# namespaces. Run as root.
set -eu

build=$1
board=$2
cmd=${3:-up}
P=vn-
state=/run/virtnet-demo
prefix=vndemo

say() { printf '%s\n' "$*"; }

# Stop a recorded process: only when the PID still runs the program named.
stop_recorded() {	# stop_recorded NAME PROGRAM
	f="$state/$1.pid"
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if [ -n "$pid" ] && grep -q "$2" "/proc/$pid/cmdline" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		i=0
		while [ $i -lt 100 ] && kill -0 "$pid" 2>/dev/null; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

down() {
	stop_recorded host virtnet-host
	stop_recorded iperf3 iperf3
	stop_recorded virtnetd virtnetd
	for ns in "${P}host" "${P}c0" "${P}c1"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	sh scripts/sim-topo.sh down "$P" 2>/dev/null || true
	rm -rf "$state" "/var/run/dpdk/$prefix"
}

wait_for() {	# wait_for FILE PATTERN SECONDS
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

fail() {
	say "demo: $*" >&2
	for l in virtnetd host; do
		[ -f "$state/$l.log" ] && { say "--- $state/$l.log" >&2; tail -n 20 "$state/$l.log" >&2; }
	done
	down
	exit 1
}

if [ "$cmd" = down ]; then
	down
	say "demo: down"
	exit 0
fi
[ "$cmd" = up ] || { say "usage: demo.sh BUILD BOARD [up|down]" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { say "demo: run as root (namespaces, TAP interfaces)" >&2; exit 1; }

say "== virtnetd: board '$board'"
"$build/bin/virtnetd" --board "$board" --check | sed 's/^/   /'

down
mkdir -p "$state/run"
say
say "== the sim topology"
sh scripts/sim-topo.sh up "$P" | sed 's/^/   /'
for ns in "${P}host" "${P}c0" "${P}c1"; do
	ip netns add "$ns"
done
cat > "$state/cfg.json" <<EOF
{ "devices": [
  { "name": "pf0", "transport": "vfio-user", "queue_pairs": 2,
    "features": { "mq": true, "csum": true, "guest_csum": true, "tso": true,
                  "mrg_rxbuf": true } }
] }
EOF

# virtnetd in the DPU namespace, on its own (setsid: it outlives this
# script and the make that ran it).
setsid sh scripts/sim-topo.sh dpu "$P" -- "$build/bin/virtnetd" --board "$board" \
	--config "$state/cfg.json" --run-dir "$state/run" -- --file-prefix "$prefix" \
	> "$state/virtnetd.log" 2>&1 < /dev/null &
echo $! > "$state/virtnetd.pid"
wait_for "$state/virtnetd.log" "serving" 30 || fail "virtnetd did not come up"
sh scripts/sim-topo.sh attach pf0 "$P"
say "   virtnetd: $(grep -o 'pf0: vfio-user on .*' "$state/virtnetd.log")"

# The host: the PF in vn-host, VF k in vn-c<k>.
setsid "$build/bin/virtnet-host" --netns "${P}host" --vfs 2 --vf-netns "${P}c" --pairs 2 \
	"$state/run/pf0.sock" > "$state/host.out" 2> "$state/host.log" < /dev/null &
echo $! > "$state/host.pid"
i=0
while [ "$(cat "$state/host.out" 2>/dev/null | grep -c ': tap')" -lt 3 ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "virtnet-host did not attach the PF and its VFs"
	sleep 0.1
done
for k in 0 1; do
	wait_for "$state/virtnetd.log" "pf0vf$k: vfio-user on" 10 || fail "VF $k"
	sh scripts/sim-topo.sh attach "pf0vf$k" "$P"
done
ip -n "${P}host" addr add 10.77.0.1/24 dev pf0
ip -n "${P}c0" addr add 10.77.0.11/24 dev pf0vf0
ip -n "${P}c1" addr add 10.77.0.12/24 dev pf0vf1
sed 's/^/   virtnet-host: /' "$state/host.out"

say
say "== ping"
for p in "${P}host 10.77.0.254 PF->wire" "${P}c0 10.77.0.254 VF0->wire" \
	 "${P}c1 10.77.0.11 VF1->VF0" "${P}c0 10.77.0.1 VF0->PF"; do
	set -- $p
	r=$(ip netns exec "$1" ping -c 3 -i 0.2 -W 2 "$2" 2>&1 | tail -n 2 | tr '\n' ' ')
	say "   $3: $r"
done

say
say "== iperf3: the PF to the wire, 3 s"
ip netns exec "${P}wire" iperf3 -s -D -I "$state/iperf3.pid" > /dev/null 2>&1
ip netns exec "${P}host" iperf3 -c 10.77.0.254 -t 3 2>&1 | grep -E "sender|receiver" | sed 's/^/   /'

cat <<EOF

== up, and left running
   namespaces   ${P}host (pf0 10.77.0.1), ${P}c0 (pf0vf0 10.77.0.11), ${P}c1 (pf0vf1 10.77.0.12),
                ${P}dpu (virtnetd, representors in br0), ${P}wire (wire0 10.77.0.254, iperf3 -s)
   sockets      $state/run/pf0.sock, pf0vf0.sock, pf0vf1.sock
   logs         $state/virtnetd.log, $state/host.log
   try          ip netns exec ${P}c1 ping 10.77.0.254
                ip netns exec ${P}host iperf3 -c 10.77.0.254 -P 4
                echo /virtnet/queues,pf0 | dpdk-telemetry.py -f $prefix
   stop         make demo-down    (or: sh scripts/demo.sh $build $board down)
EOF
