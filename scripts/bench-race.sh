#!/bin/sh
# bench-race.sh VIRTNETD — the race: the same front end, DPDK's
# net_virtio_user in dpdk-testpmd (txonly or rxonly, 64-byte frames, one
# forwarding lcore on CPU 0), against
#   (a) a virtnetd vhost-user function, pure polling, one datapath lcore
#       on CPU 1, its representor a net_null port;
#   (b) dpdk-testpmd with DPDK's vhost library (net_vhost) forwarding (io)
#       to a net_null port on one lcore on CPU 1.
# The null port discards what it is sent (front end txonly: device
# receive) or makes up 64-byte frames as fast as it is read (front end
# rxonly: device transmit to the guest). Split and packed rings, queue
# sizes 256 and 1024, the same virtio_user devargs for both back ends
# (mergeable buffers and in-order off).
#
# Mpps is the front end's rate (testpmd's Tx-pps / Rx-pps, the median of
# the last seconds); cycles/pkt is the back end's busy cycles per packet
# delivered to or taken from the front end (virtnetd: its datapath
# lcore's busy cycles from telemetry; DPDK: testpmd --record-core-cycles);
# ratio = virtnet Mpps / DPDK vhost Mpps of each pair of neighbouring
# runs, their median. spill says which side limits the rate: the share
# of the producer's frames that found the ring full (front end txonly:
# the front end's dropped frames; rxonly: the null source's frames the
# back end found no buffer for). A back end that spills in rxonly is
# waiting for the front end, and so is one whose front end does not
# spill in txonly: the front end is then what is measured, and busy
# cycles include the spilled frames' cost. Each case runs the two back
# ends as BENCH_REPEAT pairs (default 3; who goes first alternates) and
# prints the medians. check: every run's sink saw whole 64-byte frames
# (rxonly: the front end's port counters; txonly: what the back end took
# from the ring) and both back ends negotiated the same virtio features.
# Figures, never pass/fail. BENCH_SECONDS per run (default 5, at least 4:
# the front end takes about 2 s to start forwarding, and at 3 s a DPDK
# run printed no rate). Needs root (DPDK runtime dirs). A subset:
# BENCH_RINGS="0 1" (split, packed),
# BENCH_QSIZES="256 1024", BENCH_MODES="txonly rxonly" (front end's mode).
# BENCH_RUNS=1 also prints every pair of runs (the spread behind the medians).
# rel: the share of the frames virtnetd took from the ring whose lines it
# released after the copy, as its measurement chose (vnet_dp_release_tick).
# With rttmon (tests/bench/rttmon.c, built by make bench; BENCH_RTTMON= its
# path) the front end's output goes through it, which samples the CPU 0-1
# cache-line round trip every 250 ms during the run; each case then also
# prints its "regimes" line: the front end's readings labelled fast or
# slow by the samples of their own interval (scripts/regime.awk; the
# split BENCH_RTT_SPLIT ns, default 250), each back end's median per
# regime and their ratio. Use BENCH_SECONDS=20 or more for it.
#
# BENCH_AB=1 measures a change instead (hal/include/hal_ab.h): VIRTNETD is
# built with EXTRA_CFLAGS=-DVNET_AB and alternates the old and the new way
# every 0.41 s; each case is one virtnetd run of BENCH_SECONDS (say 40)
# against the front end, and prints the medians of new / old over pairs of
# neighbouring phases in the fast regime, in the slow one, and mixed
# (ab_report).
set -u

bin=${1:-build/bin/virtnetd}
secs=${BENCH_SECONDS:-5}
repeat=${BENCH_REPEAT:-3}
secs=${secs%.*}
[ "$secs" -ge 4 ] 2>/dev/null || secs=4
tmp=$(mktemp -d)
ID=$$
vpid=""
# The regime probe (tests/bench/rttmon.c, built by make bench); without
# it the race runs as before, with no regime line.
rttmon=${BENCH_RTTMON:-$(dirname "$bin")/../bench/rttmon}
[ -x "$rttmon" ] || rttmon=""
rtt_split=${BENCH_RTT_SPLIT:-250}
here=$(dirname "$0")

cleanup() {
	[ -n "$vpid" ] && kill -INT "$vpid" 2>/dev/null && wait "$vpid" 2>/dev/null
	rm -rf "$tmp" /var/run/dpdk/rv$ID /var/run/dpdk/rf$ID /var/run/dpdk/rh$ID
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# median of the last 3 non-zero readings of KEY (Tx-pps or Rx-pps)
rate() {
	grep "$2:" "$1" | sed -n "s/.*$2: *\([0-9]*\).*/\1/p" | grep -v '^0$' |
		tail -n 3 | sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'
}

# frontend SOCK MODE PACKED QSIZE LOG; with rttmon, LOG.rtt gets its
# samples and the front end's lines stamped (secs_regime).
frontend() {
	if [ -n "$rttmon" ]; then
		fe_testpmd "$@" stdbuf -oL 2>&1 | "$rttmon" 250 0 1 "$5.rtt" > "$5"
	else
		fe_testpmd "$@" > "$5" 2>&1
	fi
	rm -rf "/var/run/dpdk/rf$ID"
}

fe_testpmd() {	# fe_testpmd SOCK MODE PACKED QSIZE LOG [WRAPPER...]
	s=$1 m=$2 p=$3 qs=$4
	shift 5
	timeout -s INT "$secs" "$@" dpdk-testpmd --lcores=0@0,1@0 --no-huge -m 256 --no-pci \
		--file-prefix "rf$ID" --single-file-segments --log-level=error \
		--vdev "net_virtio_user0,path=$s,queues=1,packed_vq=$p,mrg_rxbuf=0,in_order=0,queue_size=$qs" \
		-- --total-num-mbufs=16384 --forward-mode="$m" --txpkts=64 \
		--no-lsc-interrupt -a --stats-period=1
}

# secs_regime RTTLOG KEY: the front end's KEY readings labelled by
# regime, "F|S|M rate ms" (scripts/regime.awk).
secs_regime() {
	awk -v key="$2:" -v cut="$rtt_split" -f "$here/regime.awk" "$1" "$1"
}

# regime_line: the case's front-end readings by regime, both back ends
# (secs_regime lines in $tmp/sv and $tmp/sd): per regime, each back end's
# median Mpps and number of readings, and the ratio of the medians (given
# three readings or more on each side).
regime_line() {
	out=""
	for c in F S; do
		m=""
		for f in "$tmp/sv" "$tmp/sd"; do
			grep "^$c " "$f" > "$tmp/rg"
			m="$m $(median "$tmp/rg" 2) $(wc -l < "$tmp/rg")"
		done
		out="$out$(echo "$c$m" | awk '{
			r = ($3 >= 3 && $5 >= 3) ? sprintf("%.2f", $2 / $4) : "-"
			printf "  %s virtnet %s (%d) DPDK %s (%d) ratio %s;", $1 == "F" ? "fast" : "slow",
				$3 ? sprintf("%.2f", $2 / 1e6) : "-", $3, $5 ? sprintf("%.2f", $4 / 1e6) : "-", $5, r }')"
	done
	echo "       regimes (rttmon, fast < $rtt_split ns), median Mpps (readings):$out  mixed $(grep -c '^M' "$tmp/sv"), $(grep -c '^M' "$tmp/sd")"
}

tel() {	# tel CMD [PREFIX]
	echo "$1" | timeout 10 dpdk-telemetry.py -f "${2:-rv$ID}" 2>/dev/null | grep '^{' | tail -n 1
}

num() {	# num JSON KEY [DICT]
	if [ $# -eq 3 ]; then
		echo "$1" | sed -n "s/.*\"$3\": {[^}]*\"$2\": \([0-9]*\).*/\1/p"
	else
		echo "$1" | sed -n "s/.*\"$2\": \([0-9]*\).*/\1/p"
	fi
}

run_virtnet() {	# run_virtnet MODE PACKED QSIZE: prints "Mpps cycles spill% features sink released%"
	null=sink
	[ "$1" = rxonly ] && null=source
	cat > "$tmp/cfg.json" <<EOF
{ "devices": [ { "name": "rv0", "transport": "vhost-user", "socket": "$tmp/rv.sock",
  "queue_size": $3, "features": { "packed": true, "mrg_rxbuf": false,
  "ctrl_vq": false, "ctrl_rx": false, "ctrl_rx_extra": false, "ctrl_vlan": false,
  "ctrl_mac_addr": false, "guest_announce": false } } ] }
EOF
	"$bin" --poll -N "$null" --allow-unsealed --config "$tmp/cfg.json" \
		--run-dir "$tmp/run" -l warn -- --file-prefix "rv$ID" \
		--lcores=0@0,1@1 > "$tmp/vnd.log" 2>&1 &
	vpid=$!
	i=0
	while [ $i -lt 100 ] && [ ! -S "$tmp/rv.sock" ]; do sleep 0.1; i=$((i + 1)); done
	sleep 0.3
	l0=$(tel /virtnet/lcores)
	q0=$(tel /virtnet/queues,rv0)
	frontend "$tmp/rv.sock" "$1" "$2" "$3" "$tmp/fe.log" &
	fpid=$!
	# The features, as soon as the front end has set them: early, so
	# that the query is over before the seconds rate() reads.
	feat="" i=0
	while [ -z "$feat" ] && [ $i -lt 10 ]; do
		sleep 0.2
		feat=$(echo "$(tel /virtnet/device,rv0)" |
			sed -n 's/.*"features": "\(0x[0-9a-f]*[1-9a-f][0-9a-f]*\)".*/\1/p')
		i=$((i + 1))
	done
	wait "$fpid"
	sleep 0.4
	l1=$(tel /virtnet/lcores)
	q1=$(tel /virtnet/queues,rv0)
	kill -TERM "$vpid"
	wait "$vpid"
	vpid=""
	key=Tx-pps
	qn=tx0
	[ "$1" = rxonly ] && key=Rx-pps && qn=rx0
	pps=$(rate "$tmp/fe.log" "$key")
	[ -n "$rttmon" ] && secs_regime "$tmp/fe.log.rtt" "$key" >> "$tmp/sv"
	cyc=$(( $(num "$l1" busy_cycles dp0) - $(num "$l0" busy_cycles dp0) ))
	pk=$(( $(num "$q1" packets "$qn") - $(num "$q0" packets "$qn") ))
	[ "$pk" -gt 0 ] && cpp=$((cyc / pk)) || cpp="-"
	if [ "$1" = rxonly ]; then	# frames the null source made that found no buffer
		nb=$(( $(num "$q1" drop_no_buffer rx0) - $(num "$q0" drop_no_buffer rx0) ))
		sp=$(pct "$nb" "$((pk + nb))")
	else
		sp=$(fe_spill "$tmp/fe.log")
	fi
	if [ "$1" = rxonly ]; then
		sink=$(fe_sink "$tmp/fe.log")
	else	# what the device took from the front end's ring
		sink=$(frames_ok "$(( $(num "$q1" packets tx0) - $(num "$q0" packets tx0) ))" \
			"$(( $(num "$q1" bytes tx0) - $(num "$q0" bytes tx0) ))")
	fi
	# The share of the frames taken whose lines were released after the
	# copy (vnet_dp_release_tick's choice).
	rel=$(pct "$(( $(num "$q1" released tx0) - $(num "$q0" released tx0) ))" \
		"$(( $(num "$q1" packets tx0) - $(num "$q0" packets tx0) ))")
	echo "${pps:-0} $cpp $sp ${feat:-none} $sink $rel"
}

run_dpdk() {	# run_dpdk MODE PACKED QSIZE: prints "Mpps cycles spill% features sink -"
	nullarg=no-rx=1
	[ "$1" = rxonly ] && nullarg=copy=1
	rm -f "$tmp/vh.sock"
	dpdk-testpmd --lcores=0@1,1@1 --no-huge -m 256 --no-pci --file-prefix "rh$ID" \
		--log-level=lib.vhost.config:info --vdev "net_vhost0,iface=$tmp/vh.sock,queues=1" \
		--vdev "net_null0,size=64,$nullarg" -- --forward-mode=io --nb-cores=1 \
		--rxd="$3" --txd="$3" --total-num-mbufs=16384 -a --stats-period=1 \
		--record-core-cycles --no-lsc-interrupt > "$tmp/vh.log" 2>&1 &
	vpid=$!
	i=0
	while [ $i -lt 100 ] && [ ! -S "$tmp/vh.sock" ]; do sleep 0.1; i=$((i + 1)); done
	frontend "$tmp/vh.sock" "$1" "$2" "$3" "$tmp/fe.log" &
	fpid=$!
	# The counters once frames reach the front end (early in the run,
	# as virtnetd's features query): frames dropped while it connected
	# are not spill.
	i=0
	while [ $i -lt 10 ]; do
		sleep 0.2
		m0=$(tel /ethdev/stats,1 "rh$ID")
		t0=$(tel /ethdev/stats,0 "rh$ID")
		[ "$1" = txonly ] || [ "$(num "$t0" opackets)" -gt 0 ] 2>/dev/null && break
		i=$((i + 1))
	done
	wait "$fpid"
	m1=$(tel /ethdev/stats,1 "rh$ID")
	t1=$(tel /ethdev/stats,0 "rh$ID")
	kill -INT "$vpid"
	wait "$vpid"
	vpid=""
	rm -rf "/var/run/dpdk/rh$ID"
	key=Tx-pps
	tot=TX
	[ "$1" = rxonly ] && key=Rx-pps && tot=RX
	pps=$(rate "$tmp/fe.log" "$key")
	[ -n "$rttmon" ] && secs_regime "$tmp/fe.log.rtt" "$key" >> "$tmp/sd"
	cyc=$(sed -n 's/.*total cycles=\([0-9]*\).*/\1/p' "$tmp/vh.log" | tail -n 1)
	pk=$(grep "$tot-packets:.*$tot-dropped" "$tmp/fe.log" | tail -n 1 |
		sed -n "s/.*$tot-packets: *\([0-9]*\).*/\1/p")
	[ -n "$cyc" ] && [ "${pk:-0}" -gt 0 ] && cpp=$((cyc / pk)) || cpp="-"
	if [ "$1" = rxonly ]; then
		# Made by the null port (1) against taken by the vhost port
		# (0) while the front end ran.
		made=$(( $(num "$m1" ipackets) - $(num "$m0" ipackets) ))
		took=$(( $(num "$t1" opackets) - $(num "$t0" opackets) ))
		sp=$(pct "$((made - took))" "$made")
	else
		sp=$(fe_spill "$tmp/fe.log")
	fi
	if [ "$1" = rxonly ]; then
		sink=$(fe_sink "$tmp/fe.log")
	else	# what the vhost port took from the front end's ring
		sink=$(frames_ok "$(( $(num "$t1" ipackets) - $(num "$t0" ipackets) ))" \
			"$(( $(num "$t1" ibytes) - $(num "$t0" ibytes) ))")
	fi
	feat=$(sed -n 's/.*negotiated Virtio features: \(0x[0-9a-f]*\).*/\1/p' "$tmp/vh.log" | tail -n 1)
	echo "${pps:-0} $cpp $sp ${feat:-none} $sink -"
}

# The sink's check: frames arrived, each of 64 bytes. frames_ok PKTS BYTES
# (read while frames still arrive, the two counters may be a few bursts
# apart: up to 1,024 frames).
frames_ok() {
	d=$(($2 / 64 - $1))
	if [ "${1:-0}" -gt 0 ] && [ $(($2 % 64)) -eq 0 ] && [ "$d" -ge -1024 ] &&
	   [ "$d" -le 1024 ]; then
		echo ok
	else
		echo "size($1,$2)"
	fi
}

# The front end as the sink (rxonly): its port's packets and bytes over
# the run, no receive errors.
fe_sink() {
	awk '/statistics/ { cur = /NIC statistics for port 0/ }
		cur && /RX-packets:/ { p = $2; b = $6 }
		cur && /RX-errors:/ { e = $2 }
		END { print (p == "" ? 0 : p), (b == "" ? 0 : b), (e == "" ? 0 : e) }' "$1" | {
		read -r p b e
		if [ "$e" -ne 0 ]; then echo "rx-errors($e)"; else frames_ok "$p" "$b"; fi
	}
}

pct() { [ "${2:-0}" -gt 0 ] && awk "BEGIN { printf \"%.0f\", 100 * $1 / $2 }" || echo "-"; }

# The front end's frames that found the ring full (txonly), in percent.
fe_spill() {
	grep "TX-packets:.*TX-dropped" "$1" | tail -n 1 |
		sed -n 's/.*TX-packets: *\([0-9]*\) *TX-dropped: *\([0-9]*\).*/\1 \2/p' |
		awk '{ if ($1 + $2 > 0) printf "%.0f", 100 * $2 / ($1 + $2); else print "-" }'
}

# Every run's sink saw its frames whole, and both back ends negotiated
# the same virtio features (bit 30, VHOST_USER_F_PROTOCOL_FEATURES, is
# vhost-user's own and only DPDK's front end asks for it).
check() {
	bad=$(cat "$tmp/v" "$tmp/d" | awk '$5 != "ok" { print $5; exit }')
	feats=$(cat "$tmp/v" "$tmp/d" | awk '{ print $4 }' | while read -r f; do
		case $f in 0x*) printf '0x%x\n' $((f & ~(1 << 30))) ;; *) echo "$f" ;; esac
	done | sort -u)
	if [ -n "$bad" ]; then
		echo "sink: $bad"
	elif [ "$(echo "$feats" | wc -l)" -ne 1 ] || [ "$feats" = none ]; then
		echo "features differ:" $feats
	else
		echo "ok, features $feats"
	fi
}

mpps() { awk "BEGIN { printf \"%.2f\", $1 / 1e6 }"; }

# ab_report LOG: virtnetd's A/B phases (its "AB phase=N way=W frames=F
# mpps=R" lines). The first and last phases with frames are left out (the
# front end starting and stopping); each pair of neighbouring phases gives
# new / old, classed fast or slow when both phases' rates are more than 5%
# above or below AB_SPLIT Mpps, mixed otherwise. AB_SPLIT defaults to the
# geometric mean of the run's 10th and 90th percentile phase rates: the
# regimes' figures differ from machine to machine.
ab_report() {
	sed -n 's/^AB phase=\([0-9]*\) way=\([01]\) frames=\([0-9]*\) mpps=\([0-9.]*\).*/\1 \2 \3 \4/p' "$1" |
		awk '$3 > 0' | sed '1d;$d' > "$tmp/abp"
	split=$(awk '{ print $4 }' "$tmp/abp" | sort -n | awk '{ a[NR] = $1 }
		END { if (NR) printf "%.2f", sqrt(a[int(NR / 10) + 1] * a[NR - int(NR / 10)]); else print 1 }')
	split=${AB_SPLIT:-$split}
	awk -v s="$split" '
		NR > 1 && $1 == p + 1 && $2 != w {
			r = $2 ? $3 / f : f / $3
			c = ($4 > s * 1.05 && m > s * 1.05) ? "fast" : ($4 < s / 1.05 && m < s / 1.05) ? "slow" : "mixed"
			printf "%s %.4f\n", c, r
		}
		{ p = $1; w = $2; f = $3; m = $4 }' "$tmp/abp" > "$tmp/ab"
	echo "  phases $(wc -l < "$tmp/abp"), split at $split Mpps"
	for c in fast slow mixed; do
		sort -k2 -n "$tmp/ab" | grep "^$c " | awk -v c="$c" '
			{ r[NR] = $2 }
			END {
				if (!NR) { printf "  %-5s   0 pairs\n", c; exit }
				printf "  %-5s %3d pairs  new/old median %.3f (%.3f-%.3f)\n", c, NR, r[int((NR + 1) / 2)], r[1], r[NR]
			}'
	done
}

median() {	# median FILE COLUMN
	awk -v c="$2" '{ print $c }' "$1" | grep -v -- - | sort -n |
		awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print 0 }'
}

echo "# race: DPDK net_virtio_user (testpmd, 64 B, CPU 0) against virtnetd (one datapath lcore, polling, CPU 1) and DPDK vhost (testpmd io, CPU 1), both to net_null"
how="$repeat pairs of runs per case (medians; ratio: median of the pairs' ratios)"
[ -n "${BENCH_AB:-}" ] && how="A/B of one virtnetd per case (new / old: medians over pairs of neighbouring phases)"
echo "# $(sed -n 's/^model name.*: //p' /proc/cpuinfo | head -n 1), $(nproc) CPUs, DPDK $(dpkg-query -W -f='${Version}' dpdk-dev 2>/dev/null)$(grep -q hypervisor /proc/cpuinfo && echo ', virtual machine'), ${secs} s per run, $how"
[ -z "${BENCH_AB:-}" ] &&
printf "%-6s %-5s %-28s %10s %8s %6s %4s %10s %8s %6s %7s  %s\n" ring qsize direction \
	"virtnet" "cyc/pkt" "spill" "rel" "dpdk" "cyc/pkt" "spill" ratio check
for packed in ${BENCH_RINGS:-0 1}; do
for q in ${BENCH_QSIZES:-256 1024}; do
for mode in ${BENCH_MODES:-txonly rxonly}; do
	dir="device receive (fe txonly)"
	[ "$mode" = rxonly ] && dir="device transmit (fe rxonly)"
	if [ -n "${BENCH_AB:-}" ]; then
		ring=split
		[ "$packed" = 1 ] && ring=packed
		# Not in a $(...) subshell: vpid must reach cleanup.
		run_virtnet "$mode" "$packed" "$q" > "$tmp/abr"
		r=$(cat "$tmp/abr")
		echo "$ring $q $dir: A/B over $secs s (front end $(mpps "${r%% *}") Mpps at the end)"
		ab_report "$tmp/vnd.log"
		continue
	fi
	# Interleaved, REPEAT times: this VM's cross-core latency changes
	# every few seconds; the medians of neighbouring runs compare.
	: > "$tmp/v" ; : > "$tmp/d" ; : > "$tmp/sv" ; : > "$tmp/sd"
	r=0
	while [ $r -lt "$repeat" ]; do
		# Each pair back to back, who goes first alternating.
		if [ $((r % 2)) -eq 0 ]; then
			run_virtnet "$mode" "$packed" "$q" >> "$tmp/v"
			run_dpdk "$mode" "$packed" "$q" >> "$tmp/d"
		else
			run_dpdk "$mode" "$packed" "$q" >> "$tmp/d"
			run_virtnet "$mode" "$packed" "$q" >> "$tmp/v"
		fi
		r=$((r + 1))
	done
	v=$(median "$tmp/v" 1) vc=$(median "$tmp/v" 2) vs=$(median "$tmp/v" 3) vr=$(median "$tmp/v" 6)
	d=$(median "$tmp/d" 1) dc=$(median "$tmp/d" 2) ds=$(median "$tmp/d" 3)
	# The ratio of each pair (neighbours in time, most likely in the
	# same latency regime), then their median.
	paste -d ' ' "$tmp/v" "$tmp/d" |
		awk '{ d = $(NF / 2 + 1); if (d > 0) printf "%.4f\n", $1 / d }' > "$tmp/r"
	if [ -n "${BENCH_RUNS:-}" ]; then	# every pair: Mpps cyc/pkt spill, each side
		paste -d ' ' "$tmp/v" "$tmp/d" | awk -v c="$packed/$q/$mode" \
			'{ printf "#   %s pair %d: virtnet %.2f Mpps %s cyc %s%% rel %s%%, dpdk %.2f Mpps %s cyc %s%%\n", c, NR, $1 / 1e6, $2, $3, $6, $(NF / 2 + 1) / 1e6, $(NF / 2 + 2), $(NF / 2 + 3) }'
	fi
	ratio=$(sort -n "$tmp/r" | awk '{ a[NR] = $1 } END { if (NR) printf "%.2f", a[int((NR + 1) / 2)]; else print "-" }')
	ring=split
	[ "$packed" = 1 ] && ring=packed
	printf "%-6s %-5s %-28s %10s %8s %5s%% %3s%% %10s %8s %5s%% %7s  %s\n" "$ring" "$q" "$dir" \
		"$(mpps "$v")" "$vc" "$vs" "$vr" "$(mpps "$d")" "$dc" "$ds" "$ratio" "$(check)"
	[ -n "$rttmon" ] && regime_line
done
done
done
