/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_rss — libFuzzer target for receive-side scaling (emu/vnet_rss.c):
 * the VIRTIO_NET_CTRL_MQ_RSS_CONFIG / HASH_CONFIG payloads a hostile
 * driver sends, and the classification of hostile received frames.
 *
 * Input layout (all little-endian):
 *
 *   off len
 *    0   1  bits 0-1 commands - 1 (1..4); bit 2 raw device limits (taken
 *           as they are, possibly out of range: every command must then
 *           be refused); bit 3 classify only after the last command
 *    1   2  table_max given to vnet_rss_init: 1 + v % 512 (raw: v % 1024;
 *           0 and above VNET_RSS_TABLE_MAX must be refused, and the input
 *           ends there)
 *    3   2  max_pairs: 1 + v % 0x8000 (raw: v)
 *    5   2  max_table_len: 1 + v % table_max (raw: v % 1024)
 *    7   1  max_key_len: v % (VNET_RSS_KEY_MAX + 1) (raw: v)
 *    8   2  supported_types (bits 9-15 are types nobody defined)
 *   10      the commands, each:
 *             0  1  op: bit 0 RSS_CONFIG (else HASH_CONFIG); bit 1 the
 *                   length is what the payload's own counts describe
 *                   (clamped to the input left; the len field is then
 *                   ignored); bit 2 vnet_rss_disable() afterwards; bit 3
 *                   vnet_rss_reset() before; bit 4 a NULL buffer of
 *                   length 0 instead of the payload
 *             1  2  len: payload bytes (clamped to the input left)
 *             3 len the payload
 *   then    the Ethernet frame: the rest of the input, classified after
 *           each command (or only after the last)
 *
 * The harness keeps a model of the configuration (what the last accepted
 * command, disable and reset must leave) and traps when the device
 * disagrees: an accepted command that should have been refused or the
 * reverse, an error code the header does not allow for the faults
 * present, a refused command that changed any byte of struct vnet_rss, a
 * field that differs from the model, a broken invariant (table length a
 * power of two within the limits, every queue below max_pairs, key length
 * within its limit), the table-driven hash differing from the bit loop
 * and from the harness's own bit-by-bit Toeplitz, and a classification
 * that differs from the harness's own parse (VLAN tags, IPv4, IPv6
 * without extension headers; IPv6 with extension headers gets the weaker
 * checks: a defined, enabled IPv6 report type, and the queue the table
 * gives for the hash).
 *
 * The payload and the frame are heap copies of exactly their sizes, so
 * ASan sees any read past either; struct vnet_rss (~38 KiB) is on the
 * heap too.
 *
 * FUZZ_RSS_VERBOSE=1 in the environment keeps the library's log lines.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal_log.h"
#include "vnet_rss.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                          \
	do {                                                              \
		if (!(c)) {                                               \
			fprintf(stderr, "fuzz_rss: check failed at line %d: %s\n", \
				__LINE__, #c);                            \
			__builtin_trap();                                 \
		}                                                         \
	} while (0)

#define HDR_LEN   10u

static bool g_verbose; /* FUZZ_RSS_VERBOSE: library log lines, a trace */
#define MAX_CMDS  4u

/* Error bits of the model: which refusals the header allows. */
#define E_MSGSIZE  (1u << 0)
#define E_INVAL    (1u << 1)
#define E_NOTSUP   (1u << 2)
#define E_RANGE    (1u << 3)

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- the model ------------------------------------------------------------ */

struct limits {
	uint16_t table_max, max_pairs, max_table_len;
	uint8_t max_key_len;
	uint32_t supported;
	bool ok; /* all within the ranges the header gives */
};

/* What struct vnet_rss must hold. table_known is false after a HASH_CONFIG:
 * the header leaves the table and the unclassified queue unspecified then
 * (steering is off), so only the invariants are checked. */
struct model {
	bool enabled;
	uint32_t types;
	bool table_known;
	uint16_t table_len;
	uint16_t unclass;
	uint16_t max_tx_vq;
	uint8_t key_len;
	uint8_t key[VNET_RSS_KEY_MAX];
	uint16_t table[VNET_RSS_TABLE_MAX];
};

static void model_defaults(struct model *md)
{
	memset(md, 0, sizeof(*md));
	md->table_known = true;
	md->table_len = 1;
	md->max_tx_vq = 1;
}

/* Evaluate a command against the header's rules: returns the E_* faults
 * present (0: it must be accepted) and, when there are none, what it
 * configures in *out. A field that lies past len is not a fault of its
 * own: the short length (E_MSGSIZE) is. */
static unsigned model_parse(const struct model *cur, const struct limits *lim,
			    const uint8_t *p, size_t len, bool rss,
			    struct model *out)
{
	unsigned e = 0;
	uint32_t n = 1, types = 0;
	size_t key_off;
	bool have_types = p && len >= 4, have_keylen = false;
	uint8_t key_len = 0;

	if (!lim->ok)
		e |= E_INVAL;
	if (have_types) {
		types = le32(p);
		if (types & ~(lim->supported & VNET_RSS_HASH_TYPES_ALL))
			e |= E_NOTSUP;
	}
	if (rss) {
		if (!p || len < 8)
			return e | E_MSGSIZE;
		n = (uint32_t)le16(p + 4) + 1;
		if (n & (n - 1))
			e |= E_INVAL;
		if (n > lim->max_table_len)
			e |= E_INVAL;
		if (le16(p + 6) >= lim->max_pairs)
			e |= E_RANGE;
		for (uint32_t i = 0; i < n && 8 + 2 * (size_t)i + 2 <= len; i++)
			if (le16(p + 8 + 2 * i) >= lim->max_pairs)
				e |= E_RANGE;
		key_off = 8 + 2 * (size_t)n + 3;
		if (len < key_off) {
			e |= E_MSGSIZE;
		} else {
			uint16_t tx = le16(p + key_off - 3);

			if (tx == 0 || tx > lim->max_pairs)
				e |= E_RANGE;
			key_len = p[key_off - 1];
			have_keylen = true;
		}
	} else {
		key_off = 13;
		if (!p || len < key_off) {
			e |= E_MSGSIZE;
		} else {
			key_len = p[12];
			have_keylen = true;
		}
	}
	if (have_keylen) {
		if (len != key_off + key_len)
			e |= E_MSGSIZE;
		if (key_len > lim->max_key_len)
			e |= E_INVAL;
		if (have_types && types && key_len == 0)
			e |= E_INVAL;
	}
	if (e)
		return e;

	*out = *cur;
	out->enabled = rss;
	out->types = types;
	out->key_len = key_len;
	memset(out->key, 0, sizeof(out->key));
	memcpy(out->key, p + key_off, key_len);
	if (rss) {
		out->table_known = true;
		out->table_len = (uint16_t)n;
		out->unclass = le16(p + 6);
		out->max_tx_vq = le16(p + key_off - 3);
		for (uint32_t i = 0; i < n; i++)
			out->table[i] = le16(p + 8 + 2 * i);
	} else {
		out->table_known = false;
	}
	return 0;
}

/* ---- Toeplitz, bit by bit (the definition, not the library's loop) ------- */

static unsigned key_bit(const uint8_t *key, size_t klen, size_t b)
{
	return b / 8 < klen ? key[b / 8] >> (7 - b % 8) & 1u : 0u;
}

static uint32_t ref_toeplitz(const uint8_t *key, size_t klen,
			     const uint8_t *in, size_t n)
{
	uint32_t h = 0, w = 0;

	for (size_t b = 0; b < 32; b++)
		w = w << 1 | key_bit(key, klen, b);
	for (size_t i = 0; i < n * 8; i++) {
		if (in[i / 8] >> (7 - i % 8) & 1)
			h ^= w;
		w = w << 1 | key_bit(key, klen, i + 32);
	}
	return h;
}

/* ---- the structure against the model ------------------------------------- */

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static void check_state(const struct vnet_rss *r, const struct model *md,
			const struct limits *lim)
{
	CHECK(r->table_max == lim->table_max);
	CHECK(r->enabled == md->enabled);
	CHECK(r->hash_types == md->types);
	CHECK(r->key_len == md->key_len);
	CHECK(memcmp(r->key, md->key, md->key_len) == 0);
	CHECK(r->max_tx_vq == md->max_tx_vq);
	/* Invariants, whatever the last command was. */
	CHECK(pow2(r->table_len) && r->table_len <= r->table_max);
	CHECK(r->table_mask == r->table_len - 1);
	CHECK(r->key_len <= VNET_RSS_KEY_MAX);
	CHECK(r->max_tx_vq >= 1);
	if (lim->ok) {
		CHECK(r->key_len <= lim->max_key_len);
		CHECK(r->table_len <= lim->max_table_len);
		CHECK(r->unclassified_queue < lim->max_pairs);
		CHECK(r->max_tx_vq <= lim->max_pairs);
		for (unsigned i = 0; i < r->table_len; i++)
			CHECK(r->table[i] < lim->max_pairs);
	}
	if (md->table_known) {
		CHECK(r->table_len == md->table_len);
		CHECK(r->unclassified_queue == md->unclass);
		CHECK(memcmp(r->table, md->table,
			     md->table_len * sizeof(md->table[0])) == 0);
	}
}

/* The per-key table against the bit loop and the definition, over inputs
 * taken from the frame: every length up to VNET_RSS_INPUT_MAX through the
 * table, and one past it (the fallback). */
static void check_hash(const struct vnet_rss *r, const uint8_t *f, size_t flen,
		       const struct model *md)
{
	uint8_t in[VNET_RSS_INPUT_MAX + 8] = { 0 };
	size_t n = flen % (sizeof(in) + 1);

	memcpy(in, f, flen < sizeof(in) ? flen : sizeof(in));
	uint32_t want = ref_toeplitz(md->key, md->key_len, in, n);
	CHECK(vnet_toeplitz(r->key, r->key_len, in, n) == want);
	CHECK(vnet_rss_hash(r, in, n) == want);
	CHECK(vnet_rss_hash(r, in, VNET_RSS_INPUT_MAX) ==
	      vnet_toeplitz(r->key, r->key_len, in, VNET_RSS_INPUT_MAX));
}

/* ---- classification: the harness's own parse ----------------------------- */

struct ref {
	bool known;     /* false: IPv6 with extension headers (weaker checks) */
	bool v6;        /* an IPv6 frame (known or not) */
	uint8_t report;
	size_t n;
	uint8_t in[VNET_RSS_INPUT_MAX];
	const uint8_t *v6_addrs; /* the fixed IPv6 header's addresses */
};

static void ref_classify(uint32_t types, const uint8_t *f, size_t len,
			 struct ref *o)
{
	size_t off = 14;
	uint16_t et;

	memset(o, 0, sizeof(*o));
	o->known = true;
	if (!types || len < 14)
		return;
	et = be16(f + 12);
	for (int t = 0; t < 2 && (et == 0x8100 || et == 0x88a8); t++) {
		if (len < off + 4)
			return;
		et = be16(f + off + 2);
		off += 4;
	}
	if (et == 0x0800) {
		if (len < off + 20 || f[off] >> 4 != 4)
			return;
		size_t ihl = (size_t)(f[off] & 15) * 4, l4 = off + ihl;
		if (ihl < 20 || len < l4)
			return;
		bool frag = (be16(f + off + 6) & 0x2000) || (be16(f + off + 6) & 0x1fff);
		uint8_t proto = f[off + 9];
		bool tcp = !frag && proto == 6 && len >= l4 + 20;
		bool udp = !frag && proto == 17 && len >= l4 + 8;

		memcpy(o->in, f + off + 12, 8);
		if (tcp && (types & VIRTIO_NET_RSS_HASH_TYPE_TCPv4)) {
			memcpy(o->in + 8, f + l4, 4);
			o->n = 12;
			o->report = VIRTIO_NET_HASH_REPORT_TCPv4;
		} else if (udp && (types & VIRTIO_NET_RSS_HASH_TYPE_UDPv4)) {
			memcpy(o->in + 8, f + l4, 4);
			o->n = 12;
			o->report = VIRTIO_NET_HASH_REPORT_UDPv4;
		} else if (types & VIRTIO_NET_RSS_HASH_TYPE_IPv4) {
			o->n = 8;
			o->report = VIRTIO_NET_HASH_REPORT_IPv4;
		}
		return;
	}
	if (et == 0x86dd) {
		if (len < off + 40 || f[off] >> 4 != 6)
			return;
		uint8_t nh = f[off + 6];
		size_t l4 = off + 40;

		o->v6 = true;
		o->v6_addrs = f + off + 8;
		/* Only next headers that are certainly not extension headers
		 * (TCP, UDP, ICMPv6) are modelled. */
		if (nh != 6 && nh != 17 && nh != 58) {
			o->known = false;
			return;
		}
		bool tcp = nh == 6 && len >= l4 + 20;
		bool udp = nh == 17 && len >= l4 + 8;

		memcpy(o->in, f + off + 8, 32);
		if (tcp && (types & VIRTIO_NET_RSS_HASH_TYPE_TCPv6)) {
			memcpy(o->in + 32, f + l4, 4);
			o->n = 36;
			o->report = VIRTIO_NET_HASH_REPORT_TCPv6;
		} else if (udp && (types & VIRTIO_NET_RSS_HASH_TYPE_UDPv6)) {
			memcpy(o->in + 32, f + l4, 4);
			o->n = 36;
			o->report = VIRTIO_NET_HASH_REPORT_UDPv6;
		} else if (types & VIRTIO_NET_RSS_HASH_TYPE_IPv6) {
			o->n = 32;
			o->report = VIRTIO_NET_HASH_REPORT_IPv6;
		}
	}
}

static void check_classify(const struct vnet_rss *r, const struct limits *lim,
			   const uint8_t *f, size_t flen, bool deep)
{
	uint32_t hash = 0xdeadbeef;
	uint8_t report = 0xee;
	struct ref o;
	int q = vnet_rss_classify(r, f, flen, &hash, &report);

	/* The same answer without the optional outputs. */
	CHECK(vnet_rss_classify(r, f, flen, NULL, NULL) == q);
	CHECK(report <= VIRTIO_NET_HASH_REPORT_UDPv6_EX);
	if (report == VIRTIO_NET_HASH_REPORT_NONE)
		CHECK(hash == 0);
	else
		CHECK(r->hash_types & (1u << (report - 1)));
	if (!r->enabled)
		CHECK(q == 0);
	else if (report == VIRTIO_NET_HASH_REPORT_NONE)
		CHECK(q == r->unclassified_queue);
	else
		CHECK(q == r->table[hash & r->table_mask]);
	CHECK(q >= 0 && (!lim->ok || q < lim->max_pairs));

	/* No frame: no hash. */
	CHECK(vnet_rss_classify(r, NULL, 0, &hash, &report) ==
	      (r->enabled ? r->unclassified_queue : 0));
	CHECK(hash == 0 && report == VIRTIO_NET_HASH_REPORT_NONE);
	hash = 0xdeadbeef;
	report = 0xee;
	q = vnet_rss_classify(r, f, flen, &hash, &report);
	if (g_verbose)
		fprintf(stderr, "fuzz_rss: frame %zu bytes: queue %d, report %u, hash %#x\n",
			flen, q, report, hash);

	ref_classify(r->hash_types, f, flen, &o);
	if (o.known) {
		if (report != o.report)
			fprintf(stderr, "fuzz_rss: report %u, expected %u\n",
				report, o.report);
		CHECK(report == o.report);
		if (o.n) {
			CHECK(hash == vnet_toeplitz(r->key, r->key_len, o.in, o.n));
			if (deep)
				CHECK(hash == ref_toeplitz(r->key, r->key_len,
							   o.in, o.n));
		}
	} else {
		/* IPv6 with extension headers: an IPv6 type, and over the
		 * fixed header's addresses when it is plain IPv6. */
		CHECK(report == VIRTIO_NET_HASH_REPORT_NONE ||
		      report >= VIRTIO_NET_HASH_REPORT_IPv6);
		if (report == VIRTIO_NET_HASH_REPORT_IPv6)
			CHECK(hash == vnet_toeplitz(r->key, r->key_len,
						    o.v6_addrs, 32));
	}
	if (o.v6 || report == VIRTIO_NET_HASH_REPORT_NONE)
		CHECK(report == VIRTIO_NET_HASH_REPORT_NONE ||
		      report >= VIRTIO_NET_HASH_REPORT_IPv6);
	else
		CHECK(report <= VIRTIO_NET_HASH_REPORT_UDPv4);
}

/* ---- the run --------------------------------------------------------------- */

static void discard_log(enum hal_log_level level, const char *line)
{
	(void)level;
	(void)line;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	g_verbose = getenv("FUZZ_RSS_VERBOSE") != NULL;
	if (!g_verbose)
		hal_log_set_sink(discard_log);
	return 0;
}

/* The length a payload's own counts describe (at most left). */
static size_t auto_len(const uint8_t *p, size_t left, bool rss)
{
	size_t need;

	if (rss) {
		if (left < 6)
			return left;
		need = 8 + 2 * ((size_t)le16(p + 4) + 1) + 3;
	} else {
		need = 13;
	}
	if (left < need)
		return left;
	need += p[need - 1];
	return left < need ? left : need;
}

static int err_bit(int rc)
{
	switch (rc) {
	case -EMSGSIZE: return E_MSGSIZE;
	case -EINVAL: return E_INVAL;
	case -EOPNOTSUPP: return E_NOTSUP;
	case -ERANGE: return E_RANGE;
	default: return 0;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vnet_rss *r = NULL, *before = NULL;
	struct model *md = NULL, *next = NULL;
	uint8_t *frame = NULL;
	struct limits lim;

	if (size < HDR_LEN)
		return 0;
	unsigned ncmd = 1 + (data[0] & 3u);
	bool raw = data[0] & 4, last_only = data[0] & 8;
	uint16_t v_tmax = le16(data + 1), v_pairs = le16(data + 3);
	uint16_t v_tlen = le16(data + 5);

	memset(&lim, 0, sizeof(lim));
	if (raw) {
		lim.table_max = v_tmax % 1024;
		lim.max_pairs = v_pairs;
		lim.max_table_len = v_tlen % 1024;
		lim.max_key_len = data[7];
	} else {
		lim.table_max = (uint16_t)(1 + v_tmax % VNET_RSS_TABLE_MAX);
		lim.max_pairs = (uint16_t)(1 + v_pairs % 0x8000);
		lim.max_table_len = (uint16_t)(1 + v_tlen % lim.table_max);
		lim.max_key_len = data[7] % (VNET_RSS_KEY_MAX + 1);
	}
	lim.supported = le16(data + 8);
	lim.ok = lim.max_pairs >= 1 && lim.max_pairs <= 0x8000 &&
		 lim.max_table_len >= 1 && lim.max_table_len <= lim.table_max &&
		 lim.max_key_len <= VNET_RSS_KEY_MAX;

	r = malloc(sizeof(*r));
	before = malloc(sizeof(*before));
	md = malloc(sizeof(*md));
	next = malloc(sizeof(*next));
	CHECK(r && before && md && next);
	memset(r, 0xa5, sizeof(*r)); /* init must not rely on a zeroed object */
	int rc = vnet_rss_init(r, lim.table_max);
	bool init_ok = lim.table_max >= 1 && lim.table_max <= VNET_RSS_TABLE_MAX;
	CHECK((rc == 0) == init_ok);
	if (rc) {
		CHECK(rc == -EINVAL);
		goto out;
	}
	model_defaults(md);
	check_state(r, md, &lim);

	/* Split the rest into commands and the frame. */
	const uint8_t *cmd[MAX_CMDS];
	size_t cmd_len[MAX_CMDS];
	uint8_t ops[MAX_CMDS];
	size_t pos = HDR_LEN;
	unsigned nc = 0;

	for (; nc < ncmd && size - pos >= 3; nc++) {
		size_t left, len;

		ops[nc] = data[pos];
		len = le16(data + pos + 1);
		pos += 3;
		left = size - pos;
		if (ops[nc] & 2)
			len = auto_len(data + pos, left, ops[nc] & 1);
		if (len > left)
			len = left;
		cmd[nc] = data + pos;
		cmd_len[nc] = len;
		pos += len;
	}
	size_t flen = size - pos;
	frame = malloc(flen ? flen : 1);
	CHECK(frame != NULL);
	memcpy(frame, data + pos, flen);

	for (unsigned i = 0; i < nc; i++) {
		uint8_t op = ops[i];
		bool rss = op & 1;
		size_t len = cmd_len[i];
		uint8_t *p = NULL;

		if (op & 8) {
			vnet_rss_reset(r);
			model_defaults(md);
			check_state(r, md, &lim);
			/* The key is wiped: the table hashes to zero. */
			CHECK(r->key_len == 0);
			for (unsigned k = 0; k < VNET_RSS_KEY_MAX; k++)
				CHECK(r->key[k] == 0);
		}
		if (op & 16) {
			len = 0;
		} else {
			p = malloc(len ? len : 1);
			CHECK(p != NULL);
			memcpy(p, cmd[i], len);
		}

		unsigned want = model_parse(md, &lim, p, len, rss, next);
		memcpy(before, r, sizeof(*r));
		rc = vnet_rss_parse_config(r, p, len, lim.max_pairs,
					   lim.max_table_len, lim.max_key_len,
					   lim.supported, rss);
		if (g_verbose)
			fprintf(stderr, "fuzz_rss: %s %zu bytes: rc %d, model faults %#x\n",
				rss ? "RSS_CONFIG" : "HASH_CONFIG", len, rc, want);
		if (p)
			CHECK(memcmp(p, cmd[i], len) == 0); /* const */
		if (want == 0) {
			CHECK(rc == 0);
			*md = *next;
		} else {
			/* Refused with one of the errors its faults allow,
			 * and nothing changed. */
			CHECK(rc != 0);
			CHECK(err_bit(rc) & want);
			CHECK(memcmp(before, r, sizeof(*r)) == 0);
		}
		free(p);
		check_state(r, md, &lim);

		if (op & 4) {
			memcpy(before, r, sizeof(*r));
			vnet_rss_disable(r);
			md->enabled = false;
			check_state(r, md, &lim);
			before->enabled = false;
			CHECK(memcmp(before, r, sizeof(*r)) == 0);
		}
		if (!last_only || i == nc - 1) {
			check_hash(r, frame, flen, md);
			check_classify(r, &lim, frame, flen, i == nc - 1);
		}
	}
	if (nc == 0)
		check_classify(r, &lim, frame, flen, true);

out:
	free(frame);
	free(next);
	free(md);
	free(before);
	free(r);
	return 0;
}
