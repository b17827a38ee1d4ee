# SPDX-License-Identifier: BSD-3-Clause
#
# lib.sh — helpers shared by the integration scripts (sourced, not run:
# run-tests.sh runs only test_*.sh). The sourcing script sets, before
# calling them:
#   P       its namespace prefix for scripts/sim-topo.sh ("vnt$$-")
#   PREFIX  virtnetd's EAL file prefix (telemetry)
#   tmp     its scratch directory
# and counts failures in $failures through ok/bad.

failures=0

ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; failures=$((failures + 1)); }

stop_pid() {	# stop_pid PID SIGNAL: signal, wait (bounded), reap
	[ -n "$1" ] || return 0
	kill "-$2" "$1" 2>/dev/null
	i=0
	while [ $i -lt 100 ] && kill -0 "$1" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# stop_status PID: SIGTERM, wait up to 10 s, reap; the exit status in
# $status (255 when it had to be killed). Not in $(...): only this shell
# can wait for its children.
stop_status() {
	kill -TERM "$1" 2>/dev/null
	i=0
	while [ $i -lt 100 ] && kill -0 "$1" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		status=255
		return
	fi
	wait "$1"
	status=$?
}

# wait_for FILE PATTERN SECONDS
wait_for() {
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# wait_count FILE PATTERN N SECONDS: until PATTERN is on at least N lines
wait_count() {
	i=0
	while [ $i -lt $(($4 * 10)) ]; do
		[ "$(grep -c "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# vnd_up WHAT [VIRTNETD-OPTIONS...]: virtnetd ($bin) with $tmp/cfg.json in
# the DPU namespace, its log in $tmp/vnd.log, its pid in $vnd_pid; waits
# for it to serve and bridges representor pf0. Returns 1 if it never served.
vnd_up() {
	what=$1
	shift
	sh scripts/sim-topo.sh dpu "$P" -- "$bin" "$@" --config "$tmp/cfg.json" \
		--run-dir "$tmp/run" -- --file-prefix "$PREFIX" > "$tmp/vnd.log" 2>&1 &
	vnd_pid=$!
	if wait_for "$tmp/vnd.log" "serving" 20; then
		ok "virtnetd up with $what"
	else
		bad "virtnetd up"; cat "$tmp/vnd.log"; return 1
	fi
	sh scripts/sim-topo.sh attach pf0 "$P" || bad "representor pf0 into the bridge"
}

tel() {	# tel COMMAND: one telemetry answer (JSON on one line)
	echo "$1" | timeout 10 dpdk-telemetry.py -f "$PREFIX" 2>/dev/null | grep '^{' | tail -n 1
}
num() {	# num JSON KEY [DICT]: a number from a telemetry answer (0 if absent)
	if [ $# -eq 3 ]; then
		v=$(echo "$1" | sed -n "s/.*\"$3\": {[^}]*\"$2\": \([0-9]*\).*/\1/p")
	else
		v=$(echo "$1" | sed -n "s/.*\"$2\": \([0-9]*\).*/\1/p")
	fi
	echo "${v:-0}"
}
wire_rx() {
	ip netns exec "${P}wire" cat /sys/class/net/wire0/statistics/rx_packets
}

# main_ticks PID: user + system clock ticks of the process's main thread
# (virtnetd's control thread: its libev loop)
main_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/task/$1/stat" 2>/dev/null || echo 0
}
