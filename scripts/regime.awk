# regime.awk — the race's front-end readings labelled by latency regime
# (scripts/bench-race.sh, tests/bench/rttmon.c).
#
#   awk -v key=Tx-pps: -v cut=250 -f scripts/regime.awk LOG LOG
#
# LOG is what rttmon wrote while the front end ran: its samples
# "RTT <ms> <ns>" (-1: no sample) and the front end's lines stamped
# "@<ms> <line>". The file is read twice: the samples first, then the
# lines. For each line with `key` and a rate above 0, but the first (it
# covers the start), prints "F|S|M <rate> <ms>": of the samples taken
# since the line before with `key` (testpmd prints about every 2 s, 8
# samples at rttmon's 250 ms), at least 85% below `cut` ns (F, fast), at
# least 85% at or above it (S, slow), or neither, or none (M, mixed).
FNR == NR {
	if ($1 == "RTT" && $3 >= 0) {
		n++
		t[n] = $2
		ns[n] = $3
	}
	next
}
/^@/ && index($0, key) {
	now = substr($1, 2) + 0
	from = prev
	prev = now
	v = $0
	sub(".*" key " *", "", v)
	v += 0
	if (v <= 0 || ++seen <= 1)
		next
	f = sl = 0
	for (i = 1; i <= n; i++)
		if (t[i] > from && t[i] <= now) {
			if (ns[i] < cut)
				f++
			else
				sl++
		}
	c = "M"
	if (f + sl)
		c = f >= 0.85 * (f + sl) ? "F" : sl >= 0.85 * (f + sl) ? "S" : "M"
	print c, v, now - from
}
