#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# test_vhost_user_rarp.sh VIRTNETD — VHOST_USER_SEND_RARP, as a front end
# (QEMU) sends it after a live migration, makes virtnetd broadcast a RARP
# request from the guest's MAC out of the function's representor, and a
# malformed one does not take the function down.
#
# The front end is tests/integration/vhu_frontend.py (python3, no
# packages): it negotiates (GET_FEATURES, SET_OWNER, GET/SET_PROTOCOL_
# FEATURES with RARP and REPLY_ACK, SET_FEATURES) with a virtnetd function
# in server mode in the sim topology (scripts/sim-topo.sh) and sends
# SEND_RARP. A python AF_PACKET socket in the peer namespace captures
# every RARP frame (ethertype 0x8035) reaching wire0 through the bridge.
#
#   1. a good SEND_RARP for MAC_A: acked 0;
#   2. malformed ones for MAC_BAD on the same connection: a 6-byte and a
#      16-byte payload with need_reply are refused (non-zero ack), a
#      7-byte one without need_reply is dropped silently, and the stream
#      stays in sync: a good SEND_RARP for MAC_B right after is acked 0;
#   3. a header announcing a 1 MiB payload: virtnetd closes that
#      connection and runs on; a new front end connects, negotiates and
#      sends a good SEND_RARP for MAC_C, acked 0;
#   4. the wire saw exactly one RARP request for each of MAC_A, MAC_B,
#      MAC_C (broadcast destination, source MAC, ethertype 0x8035,
#      Ethernet/IPv4, opcode 3, sender and target hardware address the
#      MAC) and none from MAC_BAD;
#   5. virtnetd stops cleanly on SIGTERM.
#
# Run as root from the repository root after `make`:
#   sh tests/integration/test_vhost_user_rarp.sh build/bin/virtnetd
# Prints "ok"/"FAIL" per check; exits 1 if any failed. Only processes it
# started are signalled (by PID); namespaces and files it made are removed,
# also on failure.
set -u

bin=${1:-build/bin/virtnetd}
ID=$$
P="vnr${ID}-"                 # namespace prefix
PREFIX="vnr${ID}"             # virtnetd's EAL file prefix
MAC=02:76:6e:00:00:30         # the function's own
MAC_A=02:aa:00:00:00:0a
MAC_B=02:aa:00:00:00:0b
MAC_C=02:aa:00:00:00:0c
MAC_BAD=02:aa:00:00:00:ee
FE="python3 $(dirname "$0")/vhu_frontend.py"

. "$(dirname "$0")/lib.sh"

vnd_pid=""
cap_pid=""
tmp=$(mktemp -d)
sock="$tmp/vu0.sock"

cleanup() {
	stop_pid "$cap_pid" TERM
	stop_pid "$vnd_pid" TERM
	sh scripts/sim-topo.sh down "$P" 2>/dev/null
	rm -rf "$tmp" "/var/run/dpdk/$PREFIX"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

# Every RARP frame that reaches IFNAME, one line each:
#   dst=.. src=.. type=8035 htype=1 ptype=0800 hlen=6 plen=4 op=3 sha=.. tha=..
CAPTURE='
import signal, socket, struct, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x8035))
s.bind((sys.argv[1], 0))
print("ready", flush=True)
mac = lambda b: ":".join("%02x" % x for x in b)
while True:
    f, addr = s.recvfrom(2048)
    if addr[2] == socket.PACKET_OUTGOING or len(f) < 42:
        continue
    t, ht, pt, hl, pl, op = struct.unpack("!HHHBBH", f[12:22])
    print("dst=%s src=%s type=%04x htype=%d ptype=%04x hlen=%d plen=%d op=%d sha=%s tha=%s"
          % (mac(f[0:6]), mac(f[6:12]), t, ht, pt, hl, pl, op, mac(f[22:28]),
             mac(f[32:38])), flush=True)
'

fe() {	# fe LOG STEP...: one front-end connection, its output in LOG
	log=$1
	shift
	$FE "$sock" "$@" > "$log" 2>&1
}

# ---- topology, capture, virtnetd --------------------------------------
sh scripts/sim-topo.sh up "$P" > /dev/null || { bad "topology up"; exit 1; }
ip netns exec "${P}wire" python3 -c "$CAPTURE" wire0 > "$tmp/cap.log" 2>&1 &
cap_pid=$!
wait_for "$tmp/cap.log" "^ready" 10 || { bad "capture up"; cat "$tmp/cap.log"; exit 1; }
cat > "$tmp/cfg.json" <<EOF
{ "devices": [ { "name": "vu0", "transport": "vhost-user",
  "socket": "$sock", "mac": "$MAC" } ] }
EOF
vnd_up "vhost-user function vu0 (server)" || exit 1
# Telemetry for a name that is no function: refused, and the next
# question is answered (the snapshot lock was let go).
for what in device queues; do
	s=$(tel "/virtnet/$what,nosuch")
	s2=$(tel "/virtnet/$what,vu0")
	case "$s$s2" in
	*'"name": "nosuch"'*) bad "telemetry /virtnet/$what,nosuch answered: $s" ;;
	*'"name": "vu0"'*|*'"rx0"'*) ok "telemetry /virtnet/$what: an unknown name refused, vu0 answered after it" ;;
	*) bad "telemetry /virtnet/$what,vu0 after an unknown name: $s2" ;;
	esac
done

# ---- 1 and 2: good, malformed, good on one connection ------------------
fe "$tmp/fe1.log" hello "rarp:$MAC_A" "rarp:$MAC_BAD:6" "rarp:$MAC_BAD:16" \
	"rarp-noreply:$MAC_BAD:7" "rarp:$MAC_B"
st=$?
grep -q "^hello .*set_features_ack=0" "$tmp/fe1.log" &&
	ok "negotiated: $(grep '^hello' "$tmp/fe1.log")" ||
	bad "negotiation: $(cat "$tmp/fe1.log")"
grep -q "^rarp mac=$MAC_A size=8 ack=0$" "$tmp/fe1.log" &&
	ok "SEND_RARP $MAC_A acked 0" || bad "SEND_RARP $MAC_A: $(cat "$tmp/fe1.log")"
n=$(grep -c "^rarp mac=$MAC_BAD size=\(6\|16\) ack=[1-9]" "$tmp/fe1.log")
[ "$n" -eq 2 ] && ok "SEND_RARP with 6 and 16 bytes refused: $(grep "size=\(6\|16\)" "$tmp/fe1.log" | sed 's/.*size=\([0-9]*\) ack=\([0-9]*\)/\1 bytes: \2;/' | tr '\n' ' ')" ||
	bad "malformed SEND_RARP not refused: $(cat "$tmp/fe1.log")"
[ "$st" -eq 0 ] && grep -q "^rarp mac=$MAC_B size=8 ack=0$" "$tmp/fe1.log" &&
	ok "the stream stays in sync: SEND_RARP $MAC_B right after acked 0" ||
	bad "after the malformed ones (status $st): $(cat "$tmp/fe1.log")"
wait_count "$tmp/vnd.log" "front end gone" 1 10 || bad "virtnetd did not see the front end go"

# ---- 3: a broken stream, then a new front end ---------------------------
fe "$tmp/fe2.log" hello garbage
if grep -q "^garbage closed" "$tmp/fe2.log" &&
   wait_count "$tmp/vnd.log" "front end gone" 2 10 && kill -0 "$vnd_pid" 2>/dev/null; then
	ok "a 1 MiB payload header: virtnetd closed that connection and runs on"
else
	bad "broken stream: $(cat "$tmp/fe2.log")"
fi
fe "$tmp/fe3.log" hello "rarp:$MAC_C"
grep -q "^rarp mac=$MAC_C size=8 ack=0$" "$tmp/fe3.log" &&
	ok "a new front end: negotiated, SEND_RARP $MAC_C acked 0" ||
	bad "the next front end: $(cat "$tmp/fe3.log")"

# ---- 4: what reached the wire -------------------------------------------
# Three good requests were acked: wait (bounded) for their frames, then
# stop the capture (anything the bad ones sent would be there by then).
wait_count "$tmp/cap.log" "type=8035" 3 5
stop_pid "$cap_pid" TERM
cap_pid=""
for m in $MAC_A $MAC_B $MAC_C; do
	want="dst=ff:ff:ff:ff:ff:ff src=$m type=8035 htype=1 ptype=0800 hlen=6 plen=4 op=3 sha=$m tha=$m"
	n=$(grep -c "^$want$" "$tmp/cap.log")
	[ "$n" -eq 1 ] && ok "on the wire: one RARP request from $m (broadcast, opcode 3, sha=tha=$m)" ||
		bad "RARP from $m: $n well-formed frames; captured: $(grep -c . "$tmp/cap.log") lines"
done
n=$(grep -c "src=$MAC_BAD\|sha=$MAC_BAD" "$tmp/cap.log")
[ "$n" -eq 0 ] && ok "nothing on the wire from the malformed SEND_RARPs" ||
	bad "$n frames from the malformed SEND_RARPs"
n=$(grep -c "^dst=" "$tmp/cap.log")
[ "$n" -eq 3 ] && ok "3 RARP frames in all" || { bad "$n RARP frames in all"; cat "$tmp/cap.log"; }
grep -q "SEND_RARP refused: payload of 6 bytes" "$tmp/vnd.log" &&
	ok "virtnetd logged the refusal" || bad "no refusal in the log"

# ---- 5: virtnetd stops cleanly ---------------------------------------------
stop_status "$vnd_pid"
vnd_pid=""
[ "$status" -eq 0 ] && ok "virtnetd stopped on SIGTERM, status 0" || bad "virtnetd exit status $status"
[ ! -e "/var/run/dpdk/$PREFIX" ] && ok "no runtime files left" || bad "runtime dir left"

[ "$failures" -eq 0 ]
