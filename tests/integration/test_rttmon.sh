#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# test_rttmon.sh — the race's regime probe and its labels
# (tests/bench/rttmon.c, scripts/regime.awk; README, "The race").
#
#   sh tests/integration/test_rttmon.sh build/bin/virtnetd
#
# rttmon passes its input through unchanged, logs it stamped with the
# time it arrived beside its round-trip samples, ends with its input and
# refuses bad arguments; regime.awk labels each front-end reading by the
# samples of its own interval. Nothing here is timed against a figure:
# the samples only have to be there and be round trips.
set -u

bin=${1:-build/bin/virtnetd}
rttmon=$(dirname "$bin")/../bench/rttmon
here=$(dirname "$0")
. "$here/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -x "$rttmon" ] || { bad "no $rttmon (make check-build builds it)"; exit 1; }

# Input through, stamped, samples beside it; the end of the input ends it.
{ echo first; sleep 1.3; echo second; } | timeout 20 "$rttmon" 100 0 1 "$tmp/log" > "$tmp/out"
st=$?
if [ $st -eq 0 ] && [ "$(cat "$tmp/out")" = "$(printf 'first\nsecond')" ]; then
	ok "rttmon passes its input through and ends with it"
else
	bad "rttmon: exit $st, output '$(cat "$tmp/out")'"
fi
t1=$(sed -n 's/^@\([0-9]*\) first$/\1/p' "$tmp/log")
t2=$(sed -n 's/^@\([0-9]*\) second$/\1/p' "$tmp/log")
if [ -n "$t1" ] && [ -n "$t2" ] && [ "$t1" -lt 1000 ] && [ $((t2 - t1)) -ge 1200 ]; then
	ok "input lines stamped with their arrival ($t1 ms, $t2 ms)"
else
	bad "stamps: first '$t1', second '$t2'"
fi
# About 13 samples at 100 ms (4 asked for); each a round trip in ns, or
# -1 where the other CPU's thread did not come (a VM may take that long
# to wake it).
good=$(awk '$1 == "RTT" && $3 > 0 && $3 < 1000000' "$tmp/log" | wc -l)
other=$(awk '$1 == "RTT" && !($3 > 0 && $3 < 1000000) && $3 != -1' "$tmp/log" | wc -l)
if [ "$good" -ge 4 ] && [ "$other" -eq 0 ]; then
	ok "rttmon logged $good round trips ($(awk '$1 == "RTT" { printf "%s ", $3 }' "$tmp/log")ns)"
else
	bad "round trips: $good good, $other malformed: $(grep -c RTT "$tmp/log") lines"
fi

# Bad arguments: refused with a message, nothing run.
for args in "5 0 1 $tmp/x" "100 0 1" "abc 0 1 $tmp/x" "100 0 x $tmp/x" "100 -1 1 $tmp/x"; do
	# shellcheck disable=SC2086 # the arguments are split on purpose
	echo | "$rttmon" $args > /dev/null 2> "$tmp/err"
	st=$?
	if [ $st -eq 2 ] && grep -q usage "$tmp/err"; then
		ok "rttmon $args: refused"
	else
		bad "rttmon $args: exit $st, '$(cat "$tmp/err")'"
	fi
done
# A CPU this process may not run on.
echo | "$rttmon" 100 0 "$(getconf _NPROCESSORS_CONF)" "$tmp/x" > /dev/null 2> "$tmp/err"
st=$?
if [ $st -eq 2 ] && grep -q "cannot run on CPUs" "$tmp/err"; then
	ok "a CPU it cannot use is refused: $(cat "$tmp/err")"
else
	bad "missing CPU: exit $st, '$(cat "$tmp/err")'"
fi
echo | "$rttmon" 100 0 1 "$tmp/no/such/dir/log" > /dev/null 2> "$tmp/err"
st=$?
if [ $st -eq 2 ] && grep -q "no/such/dir/log" "$tmp/err"; then
	ok "an unwritable log is named: $(cat "$tmp/err")"
else
	bad "unwritable log: exit $st, '$(cat "$tmp/err")'"
fi

# The labels. A reading every 2000 ms: at 2000 a zero rate (left out),
# at 4000 the first rate (left out: the start), then each labelled by the
# 8 samples since the reading before it: 8 fast; 7 fast and 1 slow
# (87.5%: fast); 6 and 2 (mixed); 8 slow; none (mixed: -1 is no sample);
# 7 at the cut itself, which counts as slow, and 1 fast.
{
	t=0
	for ns in 100 100 100 100 100 100 100 100  500 100 100 100 100 100 100 100 \
		  100 100 100 100 100 100 100 100 \
		  100 100 100 100 100 100 100 500 \
		  100 100 500 100 100 100 500 100 \
		  500 500 500 500 500 500 500 500 \
		  -1 -1 -1 -1 -1 -1 -1 -1 \
		  250 250 250 250 250 250 250 100; do
		t=$((t + 250))
		echo "RTT $t $ns"
		if [ $((t % 2000)) -eq 0 ]; then
			rate=$((t * 1000))
			[ $t -eq 2000 ] && rate=0
			echo "@$t   Rx-pps:      99          Rx-bps: 0"
			echo "@$t   Tx-pps:      $rate          Tx-bps: 1"
		fi
	done
} > "$tmp/synth"
awk -v key=Tx-pps: -v cut=250 -f "$here/../../scripts/regime.awk" "$tmp/synth" "$tmp/synth" > "$tmp/lab"
want="F 6000000 2000
F 8000000 2000
M 10000000 2000
S 12000000 2000
M 14000000 2000
S 16000000 2000"
if [ "$(cat "$tmp/lab")" = "$want" ]; then
	ok "regime.awk labels each reading by its own interval's samples"
else
	bad "regime.awk: got '$(tr '\n' ';' < "$tmp/lab")', want '$(echo "$want" | tr '\n' ';')'"
fi

exit $((failures > 0))
