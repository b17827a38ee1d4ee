#!/bin/sh
# demo.sh BUILD BOARD — the main job as far as the project has come.
#
# Today (issue 2 landed: host memory + split ring engine): validate the
# board with virtnetd, then run the split-ring engine with a driver thread
# on one core and the device on the other, moving real packets through
# rte_mbufs, and print the throughput. The sim topology (virtnet-host,
# TAP interfaces, representors, ping and iperf3 across namespaces) comes
# with the vfio-user issue; this script grows into it.
set -eu
build=$1
board=$2

echo "== virtnetd: board '$board'"
"$build/bin/virtnetd" --board "$board" --check

echo
echo "== split-ring engine: driver on CPU 0, device on CPU 1 (1 s per case)"
BENCH_SECONDS=${BENCH_SECONDS:-1} "$build/bench/bench_split"
