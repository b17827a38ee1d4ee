#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# test_virtnetd_cli.sh VIRTNETD — virtnetd's command line, --check, and
# two instances side by side: each brings EAL up with its own default file
# prefix, logs that it is up, keeps its own runtime directory, stops on
# SIGTERM with status 0 and leaves nothing behind in /var/run/dpdk or
# /dev/shm.
#
# Run as root from the repository root after `make`:
#   sh tests/integration/test_virtnetd_cli.sh build/bin/virtnetd
#
# Prints one "ok" or "FAIL" line per check and exits 1 if any failed. Only
# the processes it started are ever signalled, by PID, also on failure.
set -u

bin=${1:-build/bin/virtnetd}
UP_TIMEOUT=${UP_TIMEOUT:-20}	# seconds to wait for "up" / for an exit
DPDK_RUN=/var/run/dpdk

failures=0
pids=""
tmp=""
t0=$(date +%s.%N)

ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; failures=$((failures + 1)); }
check() {	# check DESCRIPTION COMMAND...
	d=$1
	shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}

cleanup() {
	for p in $pids; do
		if kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p" 2>/dev/null
			i=0
			while [ $i -lt 50 ] && ! exited "$p"; do
				sleep 0.1
				i=$((i + 1))
			done
			exited "$p" || kill -KILL "$p" 2>/dev/null
			wait "$p" 2>/dev/null
			# what the instance we stopped here may have left
			rm -rf "$DPDK_RUN/virtnetd-$p"
		fi
	done
	pids=""
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'cleanup; exit 1' INT TERM HUP

# Gone, or a zombie waiting for us (kill -0 succeeds on a zombie).
exited() {
	[ -r "/proc/$1/stat" ] || return 0
	st=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

# wait_for FILE PATTERN: until a line of FILE matches, at most UP_TIMEOUT s.
wait_for() {
	i=0
	while [ $i -lt $((UP_TIMEOUT * 10)) ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# stop PID: SIGTERM, wait (bounded) and reap; sets $status.
stop() {
	status=none
	# (an instance that already died may have been reaped by the shell:
	# kill fails then, and wait still reports its status)
	kill -TERM "$1" 2>/dev/null
	i=0
	while [ $i -lt $((UP_TIMEOUT * 10)) ] && ! exited "$1"; do
		sleep 0.1
		i=$((i + 1))
	done
	exited "$1" || return 1
	wait "$1"
	status=$?
	return 0
}

leftovers() {	# leftovers PREFIX: prints whatever EAL left with that prefix
	ls -d "$DPDK_RUN/$1" 2>/dev/null
	ls /dev/shm 2>/dev/null | grep -F "$1"
	ls /dev/hugepages 2>/dev/null | grep -F "$1"
}

if [ "$(id -u)" != 0 ]; then
	echo "FAIL must run as root (EAL runtime directories under $DPDK_RUN)"
	exit 1
fi
if [ ! -x "$bin" ]; then
	echo "FAIL $bin: not an executable (run make first)"
	exit 1
fi
tmp=$(mktemp -d /tmp/virtnet-cli-XXXXXX) || exit 1

# --- --help ---------------------------------------------------------------
"$bin" --help > "$tmp/help" 2>&1
check "--help exits 0" [ $? -eq 0 ]
missing=""
for o in --board --boards-dir --config --run-dir --poll --check --log-level \
	 --help -- --file-prefix --lcores --no-huge --no-pci VIRTNET_RUN_DIR \
	 VIRTNET_BOARDS_DIR "Exit status"; do
	grep -q -e "$o" "$tmp/help" || missing="$missing $o"
done
check "--help mentions every option${missing:+ (missing:$missing)}" [ -z "$missing" ]

"$bin" --no-such-option > /dev/null 2>&1
check "an unknown option exits 2" [ $? -eq 2 ]
"$bin" stray > /dev/null 2>&1
check "a stray argument before -- exits 2" [ $? -eq 2 ]

# --- configs ------------------------------------------------------------------
cat > "$tmp/good.json" <<'EOF'
{
	"devices": [
		{ "name": "vu0", "transport": "vhost-user", "mode": "server",
		  "mac": "02:76:6e:00:00:10", "mtu": 1500, "queue_pairs": 2,
		  "queue_size": 256,
		  "features": { "mrg_rxbuf": true, "packed": true, "csum": true,
				"guest_csum": true, "tso": true, "mq": true,
				"ctrl_vq": true } },
		{ "name": "pf0", "transport": "vfio-user" }
	]
}
EOF
cat > "$tmp/bad.json" <<'EOF'
{
	"devices": [
		{ "name": "a", "transport": "vfio-user" },
		{ "name": "b", "transport": "vfio-user" },
		{ "name": "c", "transport": "vfio-user", "queue_size": 300 }
	]
}
EOF

"$bin" --check --config "$tmp/good.json" --run-dir "$tmp/run" \
	> "$tmp/check.out" 2> "$tmp/check.err"
rc=$?
check "--check with a good config exits 0" [ $rc -eq 0 ]
check "--check prints one line per device" \
	[ "$(grep -c '^device ' "$tmp/check.out")" -eq 2 ]
check "--check resolves sockets in the run dir" \
	grep -q "device pf0: vfio-user server $tmp/run/pf0.sock" "$tmp/check.out"
check "--check does not create the run dir" [ ! -e "$tmp/run" ]

"$bin" --check --config "$tmp/bad.json" > /dev/null 2> "$tmp/bad.err"
rc=$?
check "--check with a bad config exits 1" [ $rc -eq 1 ]
check "the error names the file, the field and the reason" \
	grep -qF "$tmp/bad.json: field 'devices[2].queue_size': must be a power of two (got 300)" "$tmp/bad.err"

"$bin" --config "$tmp/bad.json" --run-dir "$tmp/run" > /dev/null 2> "$tmp/bad2.err"
rc=$?
check "a bad config without --check exits 1" [ $rc -eq 1 ]
check "... before EAL is initialised" sh -c "! grep -q 'EAL' '$tmp/bad2.err'"

"$bin" --check --config "$tmp/nonexistent.json" > /dev/null 2> "$tmp/nf.err"
rc=$?
check "a missing config exits 1 naming it" \
	sh -c "[ $rc -eq 1 ] && grep -q 'nonexistent.json: cannot open' '$tmp/nf.err'"

"$bin" --run-dir "$tmp/run" -- --no-such-eal-option > /dev/null 2> "$tmp/eal.err"
rc=$?
check "a bad EAL argument exits 1 with EAL's error" \
	sh -c "[ $rc -eq 1 ] && grep -q 'EAL initialisation failed' '$tmp/eal.err'"

# --- two instances side by side -----------------------------------------------
# start_one N [EAL-ARGS]: virtnetd in the background with the good config,
# run dir $tmp/runN, log $tmp/N.log, EAL-ARGS after "--"; sets $pid.
# Each instance in a network namespace of its own (unshare execs it: same
# PID): its representors are created there, not in this machine's.
start_one() {
	n=$1
	shift
	if [ $# -gt 0 ]; then
		unshare --net -- "$bin" --config "$tmp/good.json" --run-dir "$tmp/run$n" \
			-- "$@" > "$tmp/$n.log" 2>&1 &
	else
		unshare --net -- "$bin" --config "$tmp/good.json" --run-dir "$tmp/run$n" \
			> "$tmp/$n.log" 2>&1 &
	fi
	pid=$!
	pids="$pids $pid"
}

start_one 1
p1=$pid
start_one 2
p2=$pid

up=1
for n in 1 2; do
	if ! wait_for "$tmp/$n.log" 'INFO virtnetd: up:'; then
		up=0
		sed "s/^/    [$n] /" "$tmp/$n.log"
	fi
done
check "both instances log that they are up (within ${UP_TIMEOUT}s)" [ $up -eq 1 ]
check "both instances are running" \
	sh -c "kill -0 $p1 && kill -0 $p2"
check "each has its own runtime dir" \
	sh -c "[ -d '$DPDK_RUN/virtnetd-$p1' ] && [ -d '$DPDK_RUN/virtnetd-$p2' ]"
check "each log names its runtime dir" \
	sh -c "grep -q 'EAL runtime dir $DPDK_RUN/virtnetd-$p1,' '$tmp/1.log' &&
	       grep -q 'EAL runtime dir $DPDK_RUN/virtnetd-$p2,' '$tmp/2.log'"
check "each prints its devices" \
	sh -c "[ \$(grep -c '^device ' '$tmp/1.log') -eq 2 ] &&
	       [ \$(grep -c '^device ' '$tmp/2.log') -eq 2 ]"
if command -v dpdk-telemetry.py > /dev/null 2>&1; then
	check "telemetry answers for instance 1" \
		sh -c "echo /eal/params | timeout 10 dpdk-telemetry.py -f virtnetd-$p1 2>/dev/null |
		       grep -q 'virtnetd-$p1'"
else
	echo "skip telemetry (no dpdk-telemetry.py)"
fi

for p in $p1 $p2; do
	if stop "$p"; then
		check "SIGTERM to $p: exit status 0" [ "$status" -eq 0 ]
	else
		bad "SIGTERM to $p: still running after ${UP_TIMEOUT}s"
	fi
done
check "each logs a clean stop" \
	sh -c "grep -q 'INFO virtnetd: stopped' '$tmp/1.log' &&
	       grep -q 'INFO virtnetd: stopped' '$tmp/2.log'"
check "no warnings about files left behind" \
	sh -c "! grep -q 'cannot remove' '$tmp/1.log' '$tmp/2.log'"
for p in $p1 $p2; do
	left=$(leftovers "virtnetd-$p")
	check "nothing left with prefix virtnetd-$p${left:+ ($left)}" [ -z "$left" ]
done

# --- the user's EAL arguments win ---------------------------------------------
prefix="vn-cli-test-$$"
start_one 3 --file-prefix "$prefix" -l 0-1 --main-lcore 1
p3=$pid
if wait_for "$tmp/3.log" 'INFO virtnetd: serving'; then
	check "a pass-through --file-prefix wins" [ -d "$DPDK_RUN/$prefix" ]
	check "a pass-through -l / --main-lcore wins (main lcore 1)" \
		grep -q 'up: board sim, 2 lcores (main 1 + 1 datapath)' "$tmp/3.log"
	stop "$p3"
	check "SIGTERM: exit status 0" [ "$status" = 0 ]
	left=$(leftovers "$prefix")
	check "nothing left with prefix $prefix${left:+ ($left)}" [ -z "$left" ]
else
	bad "instance with pass-through EAL arguments came up"
	sed 's/^/    [3] /' "$tmp/3.log"
	rm -rf "${DPDK_RUN:?}/$prefix"
fi

# --- no lcore left for the datapath: refused, nothing left ----------------
prefix4="vn-cli-test4-$$"
start_one 4 --file-prefix "$prefix4" -l 0
p4=$pid
wait_for "$tmp/4.log" 'no datapath lcore'
if stop "$p4" && [ "$status" = 1 ]; then
	ok "one lcore only: exit status 1"
else
	bad "one lcore only: exit status ${status:-?} (want 1)"
fi
check "... saying there is no datapath lcore" grep -q 'no datapath lcore' "$tmp/4.log"
left=$(leftovers "$prefix4")
check "nothing left with prefix $prefix4${left:+ ($left)}" [ -z "$left" ]

cleanup
t1=$(date +%s.%N)
dur=$(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }')
if [ $failures -eq 0 ]; then
	echo "test_virtnetd_cli: all passed in ${dur}s"
	exit 0
fi
echo "test_virtnetd_cli: $failures FAILED in ${dur}s"
exit 1
