#!/bin/sh
# bench-vfu.sh VIRTNETD — end to end through vfio-user: virtnet-host (the
# simulated host's vfio-user client and virtio-net driver, --bench, busy
# polling, pinned to CPU 0) against a virtnetd vfio-user function
# (--poll, one datapath lcore on CPU 1, its representor a net_null port).
#
#   device receive:  virtnet-host --bench txonly (64-byte UDP frames, one
#                    flow per pair) -> virtnetd -> net_null sink
#   device transmit: net_null source (64-byte frames as fast as they are
#                    read) -> virtnetd -> virtnet-host --bench rxonly
#
# Split and packed rings of 256, 1 and 2 queue pairs; mergeable buffers
# off, as in bench-race.sh. Mpps is virtnet-host's (frames the device
# completed on its transmit rings, or frames received, over BENCH_SECONDS
# after a 1 s warm-up); per pair the same for each pair. cyc/pkt is the
# datapath lcore's busy cycles per packet the device moved from or to the
# host's rings (/virtnet/lcores and /virtnet/device telemetry, read while
# the rings run: from the host's warm-up to shortly before its
# measurement ends). spill (device transmit): the share of the null
# source's frames that found no receive buffer: the host is the limit.
# check: virtnet-host exited 0, every frame it received was a whole
# 64-byte frame, and what the device took from the transmit rings was
# 64 bytes a frame. Figures, never pass/fail. Needs root (DPDK runtime
# directory). A subset: BENCH_RINGS="0 1" (split, packed), BENCH_PAIRS="1 2",
# BENCH_MODES="txonly rxonly" (virtnet-host's mode).
#
# Everything it starts is stopped by PID, also on failure; null
# representors create no interfaces, so no namespace is needed.
set -u

bin=${1:-build/bin/virtnetd}
host_bin=$(dirname "$bin")/virtnet-host
secs=${BENCH_SECONDS:-5}
secs=${secs%.*}
[ "$secs" -ge 1 ] 2>/dev/null || secs=1
tmp=$(mktemp -d)
ID=$$
vpid=""
hpid=""

cleanup() {
	[ -n "$hpid" ] && kill -TERM "$hpid" 2>/dev/null && wait "$hpid" 2>/dev/null
	[ -n "$vpid" ] && kill -TERM "$vpid" 2>/dev/null && wait "$vpid" 2>/dev/null
	rm -rf "$tmp" "/var/run/dpdk/bv$ID"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# The datapath lcore's and the function's counters, in one query (one
# Python start: it runs while the rings do).
snap() {
	printf '/virtnet/lcores\n/virtnet/device,pf0\n' |
		timeout 10 dpdk-telemetry.py -f "bv$ID" 2>/dev/null | grep '^{'
}

num() {	# num JSON KEY [DICT]: 0 when absent (a failed query), so that
	# the arithmetic below stays valid
	if [ $# -eq 3 ]; then
		v=$(echo "$1" | sed -n "s/.*\"$3\": {[^}]*\"$2\": \([0-9]*\).*/\1/p")
	else
		v=$(echo "$1" | sed -n "s/.*\"$2\": \([0-9]*\).*/\1/p")
	fi
	echo "${v:-0}"
}

field() {	# field LINE KEY: the word after KEY in virtnet-host's bench line
	echo "$1" | awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'
}

# frames_ok PKTS BYTES: frames counted, 64 bytes each (counters read
# while frames move may be a few bursts apart: up to 1,024 frames)
frames_ok() {
	d=$(($2 / 64 - $1))
	[ "$1" -gt 0 ] && [ $(($2 % 64)) -eq 0 ] && [ "$d" -ge -1024 ] && [ "$d" -le 1024 ]
}

pct() { [ "${2:-0}" -gt 0 ] && awk "BEGIN { printf \"%.0f%%\", 100 * $1 / $2 }" || echo "-"; }

stop_vnd() {
	kill -TERM "$vpid" 2>/dev/null
	wait "$vpid" 2>/dev/null
	vpid=""
	rm -rf "/var/run/dpdk/bv$ID"
}

run() {	# run MODE PACKED PAIRS: prints "Mpps per-pair cyc/pkt spill check"
	null=sink
	[ "$1" = rxonly ] && null=source
	mq=false
	[ "$3" -gt 1 ] && mq=true
	cat > "$tmp/cfg.json" <<EOF
{ "devices": [ { "name": "pf0", "transport": "vfio-user", "queue_pairs": $3,
  "queue_size": 256, "features": { "packed": true, "mrg_rxbuf": false, "mq": $mq,
  "ctrl_rx": false, "ctrl_rx_extra": false, "ctrl_vlan": false,
  "ctrl_mac_addr": false, "guest_announce": false } } ] }
EOF
	rm -rf "$tmp/run"
	"$bin" --poll -N "$null" --config "$tmp/cfg.json" --run-dir "$tmp/run" -l warn \
		-- --file-prefix "bv$ID" --lcores=0@0,1@1 > "$tmp/vnd.log" 2>&1 &
	vpid=$!
	i=0
	while [ $i -lt 100 ] && [ ! -S "$tmp/run/pf0.sock" ]; do sleep 0.1; i=$((i + 1)); done
	if [ ! -S "$tmp/run/pf0.sock" ]; then
		stop_vnd
		echo "0 - - - virtnetd-did-not-start"
		return
	fi
	popt=""
	[ "$2" = 1 ] && popt=--packed
	timeout -k 5 $((secs + 30)) taskset -c 0 "$host_bin" --poll --bench "$1" \
		--seconds "$secs" --pairs "$3" $popt "$tmp/run/pf0.sock" \
		> "$tmp/host.out" 2> "$tmp/host.log" &
	hpid=$!
	# The device's counters while the host's rings run: from its 1 s
	# warm-up to shortly before its measurement ends. Not before it
	# attaches or after it leaves: a null source keeps the lcore busy
	# dropping frames (QUEUE_OFF) while no ring runs, and those cycles
	# would count against the frames delivered. The control thread
	# publishes counters every 200 ms.
	i=0
	while [ $i -lt 200 ] && ! grep -qs ': tap - ' "$tmp/host.out" &&
	      kill -0 "$hpid" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	sleep 0.2
	s0=$(snap)
	sleep "$secs"
	s1=$(snap)
	wait "$hpid"
	hrc=$?
	hpid=""
	stop_vnd
	l0=$(echo "$s0" | grep lcores) d0=$(echo "$s0" | grep device)
	l1=$(echo "$s1" | grep lcores) d1=$(echo "$s1" | grep device)

	line=$(grep '^bench ' "$tmp/host.out" | tail -n 1)
	pk=$(field "$line" packets) by=$(field "$line" bytes) bad=$(field "$line" bad)
	mpps=$(field "$line" mpps) per=$(field "$line" pair_mpps)
	feat=$(sed -n 's/.* features \(0x[0-9a-f]*\).*/\1/p' "$tmp/host.out" | head -n 1)
	# The device's side of the host's rings: its receive queues in
	# device transmit, its transmit queues in device receive.
	q=tx
	[ "$1" = rxonly ] && q=rx
	dpk=$(( $(num "$d1" packets "$q") - $(num "$d0" packets "$q") ))
	dby=$(( $(num "$d1" bytes "$q") - $(num "$d0" bytes "$q") ))
	cyc=$(( $(num "$l1" busy_cycles dp0) - $(num "$l0" busy_cycles dp0) ))
	[ "$dpk" -gt 0 ] && cpp=$((cyc / dpk)) || cpp="-"
	sp="-"
	if [ "$1" = rxonly ]; then
		nb=$(( $(num "$d1" drop_no_buffer rx) - $(num "$d0" drop_no_buffer rx) ))
		sp=$(pct "$nb" "$((dpk + nb))")
	fi
	if [ "$hrc" -ne 0 ] || [ -z "$line" ]; then
		chk="virtnet-host-exit-$hrc"
	elif [ "$bad" -ne 0 ] || ! frames_ok "$pk" "$by"; then
		chk="host-saw($pk,$by,bad=$bad)"
	elif ! frames_ok "$dpk" "$dby"; then
		chk="device-saw($dpk,$dby)"
	else
		chk="ok($feat)"
	fi
	echo "${mpps:-0} ${per:--} $cpp $sp $chk"
}

echo "# end to end through vfio-user: virtnet-host --poll --bench (CPU 0) against virtnetd --poll (one datapath lcore, CPU 1), net_null representor, 64 B frames, ring 256"
echo "# $(sed -n 's/^model name.*: //p' /proc/cpuinfo | head -n 1), $(nproc) CPUs$(grep -q hypervisor /proc/cpuinfo && echo ', virtual machine'), DPDK $(dpkg-query -W -f='${Version}' dpdk-dev 2>/dev/null), ${secs} s per run after a 1 s warm-up"
echo "# 2 pairs: both virtnet-host workers share CPU 0 (and virtnetd's control thread is there too), one virtnetd lcore serves both pairs"
printf "%-6s %-5s %-29s %7s %-13s %8s %6s  %s\n" ring pairs direction Mpps "per pair" \
	"cyc/pkt" spill check
for packed in ${BENCH_RINGS:-0 1}; do
for pairs in ${BENCH_PAIRS:-1 2}; do
for mode in ${BENCH_MODES:-txonly rxonly}; do
	dir="device receive (host txonly)"
	[ "$mode" = rxonly ] && dir="device transmit (host rxonly)"
	ring="split"
	[ "$packed" = 1 ] && ring=packed
	run "$mode" "$packed" "$pairs" > "$tmp/r"
	read -r mpps per cpp sp chk < "$tmp/r"
	printf "%-6s %-5s %-29s %7.2f %-13s %8s %6s  %s\n" "$ring" "$pairs" "$dir" "$mpps" \
		"$per" "$cpp" "$sp" "$chk"
done
done
done
