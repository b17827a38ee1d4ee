#!/bin/sh
# sim-topo.sh — the sim board's network: what stands around virtnetd on a
# DPU, built from Linux network namespaces.
#
#   <P>dpu   the DPU's side: virtnetd runs here, its representors (net_tap
#            interfaces pf0, pf0vf0, ...) join bridge br0, which stands in
#            for OVS on the eSwitch; veth uplink0 leads out of it.
#   <P>wire  the peer at the other end of the wire: wire0, 10.77.0.254/24
#            and fd77::fe/64.
#
# usage: sim-topo.sh up|down [PREFIX]
#        sim-topo.sh attach REPRESENTOR [PREFIX]   (into br0, up)
#        sim-topo.sh dpu|wire [PREFIX] -- CMD...   (run CMD in a namespace)
# PREFIX defaults to "vn-"; tests pass their own so runs never collide.
# Needs root (ip netns). "down" removes everything "up" made, and is safe
# to run when nothing is there.
set -eu

cmd=${1:-}
[ $# -gt 0 ] && shift

prefix_of() {
	if [ $# -gt 0 ] && [ "$1" != "--" ]; then echo "$1"; else echo "vn-"; fi
}

case "$cmd" in
up)
	P=$(prefix_of "$@")
	ip netns add "${P}dpu"
	ip netns add "${P}wire"
	ip -n "${P}dpu" link set lo up
	ip -n "${P}wire" link set lo up
	ip -n "${P}dpu" link add br0 type bridge
	# No STP delay: a representor forwards as soon as it joins.
	ip -n "${P}dpu" link set br0 type bridge forward_delay 0 stp_state 0
	ip -n "${P}dpu" link set br0 up
	ip -n "${P}dpu" link add uplink0 type veth peer name wire0 netns "${P}wire"
	ip -n "${P}dpu" link set uplink0 master br0 up
	ip -n "${P}wire" addr add 10.77.0.254/24 dev wire0
	ip -n "${P}wire" addr add fd77::fe/64 dev wire0 nodad
	ip -n "${P}wire" link set wire0 up
	echo "sim-topo: ${P}dpu (br0, uplink0) <-> ${P}wire (wire0 10.77.0.254/24)"
	;;
down)
	P=$(prefix_of "$@")
	for ns in "${P}dpu" "${P}wire"; do
		if ip netns list | grep -qw "^$ns"; then
			ip netns del "$ns"
		fi
	done
	;;
attach)
	rep=${1:?representor name}
	shift
	P=$(prefix_of "$@")
	ip -n "${P}dpu" link set "$rep" master br0 up
	;;
dpu|wire)
	P=$(prefix_of "$@")
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do shift; done
	[ $# -gt 0 ] && shift
	exec ip netns exec "${P}${cmd}" "$@"
	;;
*)
	sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
