#!/bin/sh
# run-tests.sh BUILD "UNIT_TESTS" "FUZZ_TARGETS" FUZZ_SECONDS ["INTEGRATION"]
#
# Runs every cmocka unit test binary (ASan/UBSan builds), every libFuzzer
# target for FUZZ_SECONDS each and every integration script
# (tests/integration/test_*.sh, given BUILD/bin/virtnetd), then prints one
# closing line:
#   tests: N passed, N failed
# A fuzz target and an integration script count as one test each; a unit
# binary that dies without its cmocka summary counts as one failure.
set -u
build=$1
units=$2
fuzzers=$3
secs=$4
integ=${5:-}
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

for t in $units; do
	echo "=== unit: $t"
	"$build/test/$t" > "$tmp/out" 2>&1
	rc=$?
	cat "$tmp/out"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$tmp/out" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$tmp/out" | tail -n 1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "=== $t exited with status $rc without a cmocka failure count"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

for f in $fuzzers; do
	name=${f#fuzz_}
	echo "=== fuzz: $f for ${secs}s"
	mkdir -p "$tmp/corpus-$name" "$build/fuzz-artifacts"
	seeds=""
	[ -d "tests/fuzz/corpus/$name" ] && seeds="tests/fuzz/corpus/$name"
	# shellcheck disable=SC2086
	if "$build/fuzz/$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$build/fuzz-artifacts/$f-" \
		"$tmp/corpus-$name" $seeds > "$tmp/fuzz.log" 2>&1; then
		tail -n 3 "$tmp/fuzz.log"
		passed=$((passed + 1))
	else
		tail -n 60 "$tmp/fuzz.log"
		echo "=== $f FAILED (artifacts in $build/fuzz-artifacts/)"
		failed=$((failed + 1))
	fi
done

for s in $integ; do
	echo "=== integration: $s"
	if sh "$s" "$build/bin/virtnetd" > "$tmp/integ.log" 2>&1; then
		grep -c '^ok' "$tmp/integ.log" | sed 's/^/    checks ok: /'
		passed=$((passed + 1))
	else
		cat "$tmp/integ.log"
		echo "=== $s FAILED"
		failed=$((failed + 1))
	fi
done

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
