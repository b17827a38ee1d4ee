#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# test_vfio_user.sh VIRTNETD — virtnetd's vfio-user PCI functions driven by
# virtnet-host (the simulated host: vfio-user client, virtio-PCI driver,
# TAP interfaces) in the sim topology: virtnetd and its representors in the
# DPU namespace, bridged to a peer namespace over a veth "wire"; the PF's
# TAP in a "host" namespace, each VF's in a "container" namespace of its
# own.
#
# Functions: pf0 (two queue pairs, offloads, two VFs), pf1 (carries
# traffic while the others change), pf2 (only ever sees garbage), pf3
# (MTU 9000: its representor a veth pair read by net_af_packet).
# Checks: ping over the PF and both VFs to the wire and between them;
# iperf3 TCP with checksum/TSO offloads (segmented in software on the way
# to the representor) and without; several streams over two queue pairs,
# spread (per-queue counters); packed rings; pf0's VFs disabled and
# enabled again while pf1 carries traffic; a vfio-user client sending
# garbage to pf2 and disconnecting while pf1 carries traffic, which must
# not notice; a VF whose own client outlives VF Enable (it keeps carrying
# traffic, and goes when its client does); MTU 9000 end to end (9000-byte pings that may not be
# fragmented, both ways; iperf3 both ways); a clean stop that leaves no
# representor interface behind.
#
# Run as root from the repository root after `make`:
#   sh tests/integration/test_vfio_user.sh build/bin/virtnetd
# Prints "ok"/"FAIL" per check; exits 1 if any failed. Only processes it
# started are signalled (by PID); namespaces and files it made are removed,
# also on failure.
set -u

bin=${1:-build/bin/virtnetd}
host_bin=$(dirname "$bin")/virtnet-host
ID=$$
P="vft${ID}-"                 # namespace prefix
PREFIX="vft${ID}"             # virtnetd's EAL file prefix
HOST="${P}host"               # the PF's TAP
CT="${P}c"                    # VF k's TAP: ${CT}k
IPERF_SECONDS=${IPERF_SECONDS:-3}

. "$(dirname "$0")/lib.sh"

vnd_pid=""
host_pid=""
host1_pid=""
hostvf_pid=""
iperf_pids=""
tmp=$(mktemp -d)

cleanup() {
	stop_pid "$host_pid" TERM
	stop_pid "$host1_pid" TERM
	stop_pid "$hostvf_pid" TERM
	for p in $iperf_pids; do stop_pid "$p" TERM; done
	stop_pid "$vnd_pid" TERM
	for ns in "$HOST" "${HOST}1" "${HOST}3" "${CT}0" "${CT}1"; do
		ip netns del "$ns" 2>/dev/null
	done
	sh scripts/sim-topo.sh down "$P" 2>/dev/null
	rm -rf "$tmp" "/var/run/dpdk/$PREFIX"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

# host_up WHAT [VIRTNET-HOST OPTIONS] SOCKET: virtnet-host in the
# background ($host_pid), until it printed a line per function expected
# ($nfn, default 1).
host_up() {
	what=$1
	shift
	"$host_bin" "$@" > "$tmp/host.out" 2> "$tmp/host.log" &
	host_pid=$!
	if wait_count "$tmp/host.out" "^[a-z0-9]*: tap" "${nfn:-1}" 20; then
		ok "virtnet-host: $what: $(grep -c '^[a-z0-9]*: tap' "$tmp/host.out") function(s) attached"
	else
		bad "virtnet-host: $what"; cat "$tmp/host.out" "$tmp/host.log"; return 1
	fi
}
host_down() {
	stop_status "$host_pid"
	host_pid=""
	[ "$status" -eq 0 ] || bad "virtnet-host exit status $status"
}
addr() {	# addr NS IF ADDR: address and up
	ip -n "$1" addr add "$3/24" dev "$2" && ip -n "$1" link set "$2" up
}
pings() {	# pings NS DEST WHAT
	if ip netns exec "$1" ping -c 5 -i 0.2 -W 2 "$2" > "$tmp/ping.log" 2>&1; then
		ok "ping $3: $(grep -o '[0-9]*% packet loss' "$tmp/ping.log")"
	else
		bad "ping $3"; cat "$tmp/ping.log"
	fi
}
iperf() {	# iperf NS WHAT [IPERF3 OPTIONS]: TCP to the wire's server
	ns=$1
	what=$2
	shift 2
	if ip netns exec "$ns" timeout 30 iperf3 -c 10.77.0.254 -p 5201 -t "$IPERF_SECONDS" -J "$@" \
		> "$tmp/iperf.json" 2>&1; then
		bps=$(sed -n 's/.*"bits_per_second":[[:space:]]*\([0-9.e+]*\).*/\1/p' \
			"$tmp/iperf.json" | tail -n 1)
		bytes=$(sed -n 's/.*"bytes":[[:space:]]*\([0-9]*\).*/\1/p' "$tmp/iperf.json" | tail -n 1)
		if [ "${bytes:-0}" -gt 0 ]; then
			ok "iperf3 $what: $(awk -v b="$bps" 'BEGIN { printf "%.0f Mbit/s", b / 1e6 }')"
		else
			bad "iperf3 $what: nothing received"
		fi
	else
		bad "iperf3 $what"; tail -n 20 "$tmp/iperf.json"
	fi
}

# ---- topology, virtnetd --------------------------------------------------
sh scripts/sim-topo.sh up "$P" > /dev/null || { bad "topology up"; exit 1; }
for port in 5201 5202; do
	ip netns exec "${P}wire" iperf3 -s -D -p $port -I "$tmp/iperf$port.pid" > /dev/null 2>&1
	iperf_pids="$iperf_pids $(cat "$tmp/iperf$port.pid" 2>/dev/null)"
done
ip netns add "$HOST"
ip netns add "${HOST}1"
ip netns add "${HOST}3"
ip netns add "${CT}0"
ip netns add "${CT}1"
mkdir -p "$tmp/run"
cat > "$tmp/cfg.json" <<EOF
{ "devices": [
  { "name": "pf0", "transport": "vfio-user", "queue_pairs": 2,
    "features": { "mq": true, "csum": true, "guest_csum": true, "tso": true,
                  "mrg_rxbuf": true } },
  { "name": "pf1", "transport": "vfio-user" },
  { "name": "pf2", "transport": "vfio-user" },
  { "name": "pf3", "transport": "vfio-user", "mtu": 9000,
    "features": { "csum": true, "guest_csum": true, "tso": true } }
] }
EOF
vnd_up "vfio-user functions pf0, pf1, pf2, pf3" || exit 1
for f in pf1 pf2 pf3; do
	sh scripts/sim-topo.sh attach $f "$P" || bad "representor $f into the bridge"
done
[ -S "$tmp/run/pf0.sock" ] && [ -S "$tmp/run/pf1.sock" ] && [ -S "$tmp/run/pf2.sock" ] &&
	ok "sockets pf0.sock, pf1.sock, pf2.sock" || bad "sockets pf0.sock, pf1.sock, pf2.sock"

# pf1, steady, in a host namespace of its own.
"$host_bin" --netns "${HOST}1" "$tmp/run/pf1.sock" > "$tmp/host1.out" 2> "$tmp/host1.log" &
host1_pid=$!
wait_for "$tmp/host1.out" "^pf1: tap" 20 && ok "virtnet-host: pf1 attached" ||
	{ bad "virtnet-host: pf1"; cat "$tmp/host1.log"; }
addr "${HOST}1" pf1 10.77.0.2
pings "${HOST}1" 10.77.0.254 "pf1 to the wire"
# One client per function: a second one on pf1's socket is closed at once.
if python3 - "$tmp/run/pf1.sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
sys.exit(0 if s.recv(16) == b"" else 1)
EOF
then
	ok "a second client on pf1 is refused while virtnet-host holds it"
else
	bad "a second client on pf1 is refused"
fi
t=$(tel /virtnet/device,pf1)
case "$t" in
*'"transport": "vfio-user"'*'"connected": 1'*) ok "telemetry: pf1 is a connected vfio-user function" ;;
*) bad "telemetry of pf1: $t" ;;
esac

# ---- the PF and two VFs ------------------------------------------------------
nfn=3 host_up "PF with 2 VFs, interrupts" --netns "$HOST" --vfs 2 --vf-netns "$CT" \
	--pairs 2 "$tmp/run/pf0.sock" || exit 1
for k in 0 1; do
	if wait_for "$tmp/vnd.log" "pf0vf$k: vfio-user on" 5; then
		sh scripts/sim-topo.sh attach "pf0vf$k" "$P" || bad "representor pf0vf$k"
	else
		bad "VF $k created"
	fi
done
addr "$HOST" pf0 10.77.0.1
addr "${CT}0" pf0vf0 10.77.0.11
addr "${CT}1" pf0vf1 10.77.0.12
pings "$HOST" 10.77.0.254 "PF to the wire"
pings "${CT}0" 10.77.0.254 "VF 0 to the wire"
pings "${CT}1" 10.77.0.11 "VF 1 to VF 0"
pings "${CT}0" 10.77.0.1 "VF 0 to the PF"

gso0=$(num "$(tel /virtnet/device,pf0)" sw_gso)
iperf "$HOST" "PF to the wire, checksum and TSO offloads"
gso=$(($(num "$(tel /virtnet/device,pf0)" sw_gso) - gso0))
[ "$gso" -gt 0 ] && ok "TSO frames segmented in software on the way out ($gso)" ||
	bad "no TSO frame was segmented (sw_gso $gso)"
iperf "$HOST" "wire to the PF, offloads" -R
tx0=$(num "$(tel /virtnet/queues,pf0)" packets tx0)
tx1=$(num "$(tel /virtnet/queues,pf0)" packets tx1)
iperf "$HOST" "PF, 8 streams over 2 pairs" -P 8
q=$(tel /virtnet/queues,pf0)
d0=$(($(num "$q" packets tx0) - tx0))
d1=$(($(num "$q" packets tx1) - tx1))
if [ "$d0" -gt 0 ] && [ "$d1" -gt 0 ]; then
	ok "8 streams spread over both transmit queues ($d0 and $d1 packets)"
else
	bad "8 streams spread over both transmit queues ($d0 and $d1 packets)"
fi
iperf "${CT}0" "VF 0 to the wire"

# pf0's VFs off and on again while pf1 carries traffic.
bg_iperf() {	# bg_iperf SECONDS: pf1 to the wire in the background ($bg)
	ip netns exec "${HOST}1" iperf3 -c 10.77.0.254 -p 5202 -t "$1" -J \
		> "$tmp/iperf-bg.json" 2>&1 &
	bg=$!
	sleep 1
}
bg_check() {	# bg_check WHAT
	if wait "$bg" && grep -q '"bits_per_second"' "$tmp/iperf-bg.json"; then
		ok "pf1's iperf3 ran through $1"
	else
		bad "pf1's iperf3 during $1"; tail -n 20 "$tmp/iperf-bg.json"
	fi
}
bg_iperf 6
host_down
if [ ! -S "$tmp/run/pf0vf0.sock" ] && [ ! -S "$tmp/run/pf0vf1.sock" ]; then
	ok "VF sockets gone with VF Enable cleared"
else
	bad "VF sockets gone with VF Enable cleared"; ls "$tmp/run"
fi
nfn=3 host_up "PF with its VFs enabled again" --netns "$HOST" --vfs 2 --vf-netns "$CT" \
	--pairs 2 "$tmp/run/pf0.sock"
for k in 0 1; do
	wait_count "$tmp/vnd.log" "pf0vf$k: vfio-user on" 2 5 &&
		sh scripts/sim-topo.sh attach "pf0vf$k" "$P"
done
addr "$HOST" pf0 10.77.0.1
addr "${CT}0" pf0vf0 10.77.0.11
bg_check "pf0's VFs disabled and enabled again"
pings "${CT}0" 10.77.0.254 "VF 0 to the wire, enabled again"

# ---- a garbage client on pf2 while pf1 carries traffic ---------------------------
bg_iperf 4
python3 - "$tmp/run/pf2.sock" <<'EOF'
import socket, struct, sys, os
for junk in (os.urandom(64), struct.pack("<HHIII", 1, 2, 1 << 30, 0, 0),
             struct.pack("<HHIII", 1, 9, 8, 0, 0), b"\xff" * 4096):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    try:
        s.sendall(junk)
    except OSError:
        pass
    s.close()
EOF
bg_check "a garbage client on pf2"
grep -q "pf2: client gone" "$tmp/vnd.log" && ok "pf2 dropped the garbage clients" ||
	bad "pf2 dropped the garbage clients"
pings "${HOST}1" 10.77.0.254 "pf1 to the wire, after it all"
host_down

# ---- a VF whose client outlives VF Enable -------------------------------------------
# virtnet-host enables 2 VFs and attaches VF 0; a second virtnet-host
# attaches VF 1. When the first goes (VF Enable cleared), VF 1 stays with
# its client until that goes too.
nfn=2 host_up "PF with 2 VFs, VF 1 left to another client" --netns "$HOST" --vfs 2 \
	--vf-attach 1 --vf-netns "$CT" "$tmp/run/pf0.sock" || exit 1
"$host_bin" --netns "${CT}1" "$tmp/run/pf0vf1.sock" > "$tmp/hostvf.out" 2> "$tmp/hostvf.log" &
hostvf_pid=$!
wait_for "$tmp/hostvf.out" "^pf0vf1: tap" 20 && ok "virtnet-host: VF 1 on a client of its own" ||
	{ bad "virtnet-host: VF 1 on its own"; cat "$tmp/hostvf.log"; }
wait_count "$tmp/vnd.log" "pf0vf1: vfio-user on" 3 5 && sh scripts/sim-topo.sh attach pf0vf1 "$P"
addr "${CT}1" pf0vf1 10.77.0.12
pings "${CT}1" 10.77.0.254 "VF 1, its own client"
host_down
wait_for "$tmp/vnd.log" "pf0vf1: VF Enable cleared: removed when its client goes" 5 &&
	ok "VF Enable cleared: VF 1 kept for its client" || bad "VF 1 kept for its client"
[ ! -S "$tmp/run/pf0vf1.sock" ] && ok "VF 1's socket gone (no new client)" ||
	bad "VF 1's socket still there"
pings "${CT}1" 10.77.0.254 "VF 1 after VF Enable was cleared"
stop_status "$hostvf_pid"
hostvf_pid=""
[ "$status" -eq 0 ] || bad "virtnet-host (VF 1) exit status $status"
i=0
while [ $i -lt 50 ] && ip -n "${P}dpu" link show pf0vf1 > /dev/null 2>&1; do
	sleep 0.1
	i=$((i + 1))
done
ip -n "${P}dpu" link show pf0vf1 > /dev/null 2>&1 && bad "VF 1 still there after its client left" ||
	ok "VF 1 removed once its client left (representor gone)"

# ---- packed rings, no offloads ---------------------------------------------------
host_up "packed rings, no offloads" --netns "$HOST" --packed --no-offloads \
	"$tmp/run/pf0.sock" && addr "$HOST" pf0 10.77.0.1
grep -q "packed" "$tmp/host.out" && ok "packed ring negotiated" || bad "packed ring negotiated"
pings "$HOST" 10.77.0.254 "packed, PF to the wire"
iperf "$HOST" "packed, no offloads"
host_down

# ---- MTU 9000 ---------------------------------------------------------------------
# The wire takes jumbo frames; pf3's representor is a veth pair (net_tap
# carries at most 1522-byte frames), the TAP gets the device's MTU.
ip -n "${P}wire" link set wire0 mtu 9000
ip -n "${P}dpu" link set uplink0 mtu 9000
rep=$(ip -d -n "${P}dpu" link show pf3 2>&1)
case "$rep" in
*"mtu 9000"*veth*) ok "representor pf3: a veth with MTU 9000" ;;
*) bad "representor pf3: $rep" ;;
esac
host_up "MTU 9000" --netns "${HOST}3" "$tmp/run/pf3.sock" && addr "${HOST}3" pf3 10.77.0.3
ip -n "${HOST}3" link show pf3 | grep -q "mtu 9000" && ok "pf3's TAP has MTU 9000" ||
	bad "pf3's TAP MTU: $(ip -n "${HOST}3" link show pf3)"
jumbo_ping() {	# jumbo_ping NS DEST WHAT: 9000-byte IP packets, never fragmented
	if ip netns exec "$1" ping -c 5 -i 0.2 -W 2 -M do -s 8972 "$2" > "$tmp/ping.log" 2>&1 &&
		grep -q "^8980 bytes from" "$tmp/ping.log"; then
		ok "ping $3, 9000-byte packets: $(grep -o '[0-9]*% packet loss' "$tmp/ping.log")"
	else
		bad "ping $3, 9000-byte packets"; cat "$tmp/ping.log"
	fi
}
jumbo_ping "${HOST}3" 10.77.0.254 "pf3 to the wire"
jumbo_ping "${P}wire" 10.77.0.3 "the wire to pf3"
iperf "${HOST}3" "pf3 to the wire, MTU 9000, TSO"
iperf "${HOST}3" "the wire to pf3, MTU 9000" -R
host_down

# ---- stop ---------------------------------------------------------------------------
stop_status "$host1_pid"
host1_pid=""
[ "$status" -eq 0 ] || bad "virtnet-host (pf1) exit status $status"
stop_status "$vnd_pid"
vnd_pid=""
[ "$status" -eq 0 ] && ok "virtnetd stopped on SIGTERM, status 0" ||
	bad "virtnetd exit status $status"
[ -z "$(ls "$tmp/run")" ] && ok "no sockets left" || { bad "sockets left"; ls "$tmp/run"; }
left=$(ip -n "${P}dpu" -o link show | grep -E ": (pf[0-9]|vnrep)" | cut -d: -f2)
[ -z "$left" ] && ok "no representor interface left" || bad "representors left:$left"

[ "$failures" -eq 0 ]
