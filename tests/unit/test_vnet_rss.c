/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for emu/vnet_rss: the Toeplitz hash against Microsoft's
 * published verification vectors, RSS_CONFIG / HASH_CONFIG decoding (every
 * malformed command refused without touching the previous configuration),
 * and classification of well-formed and hostile frames.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hal_log.h"
#include "vnet_rss.h"

/*
 * Microsoft, "Verifying the RSS Hash Calculation" (Windows Driver Kit, NDIS
 * RSS documentation):
 * https://learn.microsoft.com/windows-hardware/drivers/network/verifying-the-rss-hash-calculation
 * The default 40-byte key and, per tuple, the hash over the addresses only
 * ("IPv4" / "IPv6") and over addresses + ports ("with TCP"). The same suite
 * is in Intel's 82599 datasheet (7.1.2.8.3 "RSS Verification Suite"); the
 * values below were cross-checked against copies of it in DPDK
 * (app/test/test_thash.c) and Knot DNS (tests, Toeplitz hash).
 */
static const uint8_t ms_key[40] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2,
	0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
	0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
	0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
	0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

struct v4_vector {
	uint8_t src[4], dst[4];
	uint16_t sport, dport;
	uint32_t ip, ip_tcp;
};

static const struct v4_vector v4_vectors[] = {
	{ { 66, 9, 149, 187 }, { 161, 142, 100, 80 }, 2794, 1766, 0x323e8fc2, 0x51ccc178 },
	{ { 199, 92, 111, 2 }, { 65, 69, 140, 83 }, 14230, 4739, 0xd718262a, 0xc626b0ea },
	{ { 24, 19, 198, 95 }, { 12, 22, 207, 184 }, 12898, 38024, 0xd2d0a5de, 0x5c2b394a },
	{ { 38, 27, 205, 30 }, { 209, 142, 163, 6 }, 48228, 2217, 0x82989176, 0xafc7327f },
	{ { 153, 39, 163, 191 }, { 202, 188, 127, 2 }, 44251, 1303, 0x5d1809c5, 0x10e828a2 },
};

struct v6_vector {
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t ip, ip_tcp;
};

static const struct v6_vector v6_vectors[] = {
	/* 3ffe:2501:200:1fff::7 :2794 -> 3ffe:2501:200:3::1 :1766 */
	{ { 0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x07 },
	  { 0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, 0x01 },
	  2794, 1766, 0x2cc18cd5, 0x40207d3d },
	/* 3ffe:501:8::260:97ff:fe40:efab :14230 -> ff02::1 :4739 */
	{ { 0x3f, 0xfe, 0x05, 0x01, 0x00, 0x08, 0, 0, 0x02, 0x60, 0x97, 0xff, 0xfe, 0x40, 0xef, 0xab },
	  { 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01 },
	  14230, 4739, 0x0f0c461c, 0xdde51bbf },
	/* 3ffe:1900:4545:3:200:f8ff:fe21:67cf :44251 -> fe80::200:f8ff:fe21:67cf :38024 */
	{ { 0x3f, 0xfe, 0x19, 0x00, 0x45, 0x45, 0x00, 0x03, 0x02, 0x00, 0xf8, 0xff, 0xfe, 0x21, 0x67, 0xcf },
	  { 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0xf8, 0xff, 0xfe, 0x21, 0x67, 0xcf },
	  44251, 38024, 0x4b61e985, 0x02d1feef },
};

#define NV4 (sizeof(v4_vectors) / sizeof(v4_vectors[0]))
#define NV6 (sizeof(v6_vectors) / sizeof(v6_vectors[0]))

#define ALL VNET_RSS_HASH_TYPES_ALL
#define T_IPv4   VIRTIO_NET_RSS_HASH_TYPE_IPv4
#define T_TCPv4  VIRTIO_NET_RSS_HASH_TYPE_TCPv4
#define T_UDPv4  VIRTIO_NET_RSS_HASH_TYPE_UDPv4
#define T_IPv6   VIRTIO_NET_RSS_HASH_TYPE_IPv6
#define T_TCPv6  VIRTIO_NET_RSS_HASH_TYPE_TCPv6
#define T_UDPv6  VIRTIO_NET_RSS_HASH_TYPE_UDPv6
#define T_IP_EX  VIRTIO_NET_RSS_HASH_TYPE_IP_EX
#define T_TCP_EX VIRTIO_NET_RSS_HASH_TYPE_TCP_EX
#define T_UDP_EX VIRTIO_NET_RSS_HASH_TYPE_UDP_EX

/* The device's limits in these tests. */
#define PAIRS     8
#define TABLE_MAX 128
#define KEY_MAX   40

/* ---- helpers ------------------------------------------------------------ */

static unsigned log_lines;
static char last_log[256];

static void count_log(enum hal_log_level level, const char *line)
{
	(void)level;
	log_lines++;
	snprintf(last_log, sizeof(last_log), "%s", line);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static void tuple(uint8_t *in, const uint8_t *src, const uint8_t *dst,
		  size_t alen, uint16_t sport, uint16_t dport)
{
	memcpy(in, src, alen);
	memcpy(in + alen, dst, alen);
	in[2 * alen] = sport >> 8;
	in[2 * alen + 1] = sport & 0xff;
	in[2 * alen + 2] = dport >> 8;
	in[2 * alen + 3] = dport & 0xff;
}

static uint32_t ref_hash(const uint8_t *src, const uint8_t *dst, size_t alen,
			 uint16_t sport, uint16_t dport, bool ports)
{
	uint8_t in[36];

	tuple(in, src, dst, alen, sport, dport);
	return vnet_toeplitz(ms_key, sizeof(ms_key), in, 2 * alen + (ports ? 4 : 0));
}

/* An RSS_CONFIG payload, little-endian, into b; returns its length. */
static size_t mk_rss(uint8_t *b, uint32_t types, uint32_t entries,
		     const uint16_t *table, uint16_t unclass, uint16_t max_tx,
		     const uint8_t *key, uint8_t key_len)
{
	size_t o = 0;
	uint16_t mask = (uint16_t)(entries - 1);

	b[o++] = types;
	b[o++] = types >> 8;
	b[o++] = types >> 16;
	b[o++] = types >> 24;
	b[o++] = mask;
	b[o++] = mask >> 8;
	b[o++] = unclass;
	b[o++] = unclass >> 8;
	for (uint32_t i = 0; i < entries; i++) {
		b[o++] = table[i];
		b[o++] = table[i] >> 8;
	}
	b[o++] = max_tx;
	b[o++] = max_tx >> 8;
	b[o++] = key_len;
	if (key_len)
		memcpy(b + o, key, key_len);
	return o + key_len;
}

/* A HASH_CONFIG payload. */
static size_t mk_hash(uint8_t *b, uint32_t types, const uint16_t reserved[4],
		      const uint8_t *key, uint8_t key_len)
{
	size_t o = 0;

	b[o++] = types;
	b[o++] = types >> 8;
	b[o++] = types >> 16;
	b[o++] = types >> 24;
	for (int i = 0; i < 4; i++) {
		b[o++] = reserved ? reserved[i] : 0;
		b[o++] = reserved ? reserved[i] >> 8 : 0;
	}
	b[o++] = key_len;
	if (key_len)
		memcpy(b + o, key, key_len);
	return o + key_len;
}

/* Parse from a heap copy of exactly len bytes, so ASan sees any overread. */
static int parse_exact(struct vnet_rss *r, const uint8_t *b, size_t len,
		       bool rss)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, b, len);
	rc = vnet_rss_parse_config(r, copy, len, PAIRS, TABLE_MAX, KEY_MAX, ALL, rss);
	free(copy);
	return rc;
}

/* Classify from a heap copy of exactly len bytes. */
static int classify_exact(const struct vnet_rss *r, const uint8_t *f,
			  size_t len, uint32_t *hash, uint8_t *report)
{
	uint8_t *copy = malloc(len ? len : 1);
	int q;

	assert_non_null(copy);
	memcpy(copy, f, len);
	q = vnet_rss_classify(r, copy, len, hash, report);
	free(copy);
	return q;
}

static struct vnet_rss *new_rss(void)
{
	struct vnet_rss *r = malloc(sizeof(*r));

	assert_non_null(r);
	assert_int_equal(vnet_rss_init(r, TABLE_MAX), 0);
	return r;
}

/* Steering on with the Microsoft key, types, and table[i] = i % PAIRS. */
static void configure(struct vnet_rss *r, uint32_t types, uint32_t entries,
		      uint16_t unclass)
{
	uint8_t b[1400];
	uint16_t table[VNET_RSS_TABLE_MAX];
	size_t len;

	for (uint32_t i = 0; i < entries; i++)
		table[i] = (uint16_t)(i % PAIRS);
	len = mk_rss(b, types, entries, table, unclass, PAIRS, ms_key, sizeof(ms_key));
	assert_int_equal(parse_exact(r, b, len, true), 0);
}

/* ---- frame builder ------------------------------------------------------ */

struct frame {
	uint8_t b[512];
	size_t n;
};

static void put(struct frame *f, const void *p, size_t n)
{
	assert_true(f->n + n <= sizeof(f->b));
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

static void put8(struct frame *f, uint8_t v)
{
	put(f, &v, 1);
}

static void put16(struct frame *f, uint16_t v)
{
	put8(f, v >> 8);
	put8(f, v & 0xff);
}

static void put_zero(struct frame *f, size_t n)
{
	while (n--)
		put8(f, 0);
}

static void eth(struct frame *f, uint16_t etype, const uint16_t *tpids,
		int ntags)
{
	static const uint8_t macs[12] = { 0x52, 0x54, 0, 0, 0, 1,
					  0x52, 0x54, 0, 0, 0, 2 };

	f->n = 0;
	put(f, macs, sizeof(macs));
	for (int i = 0; i < ntags; i++) {
		put16(f, tpids[i]);
		put16(f, (uint16_t)(100 + i));
	}
	put16(f, etype);
}

static void ipv4(struct frame *f, const uint8_t *src, const uint8_t *dst,
		 uint8_t proto, unsigned ihl, uint16_t frag)
{
	put8(f, (uint8_t)(0x40 | ihl));
	put8(f, 0);
	put16(f, (uint16_t)(ihl * 4 + 28));
	put16(f, 0x1234);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put(f, src, 4);
	put(f, dst, 4);
	for (unsigned i = 5; i < ihl; i++) { /* options: NOPs */
		put8(f, 1);
		put8(f, 1);
		put8(f, 1);
		put8(f, 1);
	}
}

static void ipv6(struct frame *f, const uint8_t *src, const uint8_t *dst,
		 uint8_t nh)
{
	put8(f, 0x60);
	put8(f, 0);
	put16(f, 0);
	put16(f, 0);
	put8(f, nh);
	put8(f, 64);
	put(f, src, 16);
	put(f, dst, 16);
}

static void l4(struct frame *f, uint8_t proto, uint16_t sport, uint16_t dport)
{
	put16(f, sport);
	put16(f, dport);
	put_zero(f, proto == 6 ? 16 : 4);
	put(f, "data", 4);
}

/* Destination options with PadN then a home address option (24 bytes). */
static void ext_dstopts_hao(struct frame *f, uint8_t nh, const uint8_t *home)
{
	put8(f, nh);
	put8(f, 2);
	put8(f, 1); /* PadN, 2 bytes of padding */
	put8(f, 2);
	put16(f, 0);
	put8(f, 0xc9);
	put8(f, 16);
	put(f, home, 16);
}

/* Destination options with padding only (8 bytes). */
static void ext_dstopts_pad(struct frame *f, uint8_t nh)
{
	put8(f, nh);
	put8(f, 0);
	put8(f, 1);
	put8(f, 4);
	put_zero(f, 4);
}

/* Type 2 routing header (24 bytes). */
static void ext_rt2(struct frame *f, uint8_t nh, const uint8_t *addr)
{
	put8(f, nh);
	put8(f, 2);
	put8(f, 2);
	put8(f, 1);
	put_zero(f, 4);
	put(f, addr, 16);
}

static void ext_frag(struct frame *f, uint8_t nh, uint16_t offset, bool more)
{
	put8(f, nh);
	put8(f, 0);
	put16(f, (uint16_t)(offset << 3 | (more ? 1 : 0)));
	put16(f, 0xabcd);
	put16(f, 0x1234);
}

/* Authentication header, 24 bytes: payload length (24 / 4) - 2. */
static void ext_ah(struct frame *f, uint8_t nh)
{
	put8(f, nh);
	put8(f, 4);
	put_zero(f, 22);
}

static void v4_tcp_frame(struct frame *f, const struct v4_vector *v, uint8_t proto)
{
	eth(f, 0x0800, NULL, 0);
	ipv4(f, v->src, v->dst, proto, 5, 0);
	l4(f, proto, v->sport, v->dport);
}

static void v6_tcp_frame(struct frame *f, const struct v6_vector *v, uint8_t proto)
{
	eth(f, 0x86dd, NULL, 0);
	ipv6(f, v->src, v->dst, proto);
	l4(f, proto, v->sport, v->dport);
}

/* ---- fixture: a device with a known RSS configuration applied ---------- */

struct env {
	struct vnet_rss *r;
	struct vnet_rss *snap;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->r = new_rss();
	e->snap = malloc(sizeof(*e->snap));
	assert_non_null(e->snap);
	configure(e->r, ALL, 64, 3);
	memcpy(e->snap, e->r, sizeof(*e->r));
	log_lines = 0;
	last_log[0] = 0;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	free(e->r);
	free(e->snap);
	free(e);
	return 0;
}

/* The configuration in force is byte-for-byte the one before. */
static void assert_unchanged(const struct env *e)
{
	assert_memory_equal(e->r, e->snap, sizeof(*e->r));
}

static void reject_rss(struct env *e, const uint8_t *b, size_t len, int rc)
{
	unsigned before = log_lines;

	assert_int_equal(parse_exact(e->r, b, len, true), rc);
	assert_unchanged(e);
	/* A rate-limited line naming the function. */
	assert_true(log_lines > before);
	assert_non_null(strstr(last_log, "vnet_rss_parse_config"));
}

static void reject_hash(struct env *e, const uint8_t *b, size_t len, int rc)
{
	assert_int_equal(parse_exact(e->r, b, len, false), rc);
	assert_unchanged(e);
}

static const uint16_t tbl8[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };

/* ---- Toeplitz ----------------------------------------------------------- */

static void test_toeplitz_ms_ipv4(void **state)
{
	struct env *e = *state;

	for (size_t i = 0; i < NV4; i++) {
		const struct v4_vector *v = &v4_vectors[i];
		uint8_t in[12];

		tuple(in, v->src, v->dst, 4, v->sport, v->dport);
		assert_int_equal(vnet_toeplitz(ms_key, 40, in, 8), v->ip);
		assert_int_equal(vnet_toeplitz(ms_key, 40, in, 12), v->ip_tcp);
		/* The table-driven path of the configured device. */
		assert_int_equal(vnet_rss_hash(e->r, in, 8), v->ip);
		assert_int_equal(vnet_rss_hash(e->r, in, 12), v->ip_tcp);
	}
}

static void test_toeplitz_ms_ipv6(void **state)
{
	struct env *e = *state;

	for (size_t i = 0; i < NV6; i++) {
		const struct v6_vector *v = &v6_vectors[i];
		uint8_t in[36];

		tuple(in, v->src, v->dst, 16, v->sport, v->dport);
		assert_int_equal(vnet_toeplitz(ms_key, 40, in, 32), v->ip);
		assert_int_equal(vnet_toeplitz(ms_key, 40, in, 36), v->ip_tcp);
		assert_int_equal(vnet_rss_hash(e->r, in, 32), v->ip);
		assert_int_equal(vnet_rss_hash(e->r, in, 36), v->ip_tcp);
	}
}

/* Short keys read as zero-extended; the lookup table equals the bit loop
 * for every key length and input length. */
static void test_toeplitz_table_matches_bit_loop(void **state)
{
	struct vnet_rss *r = new_rss();
	uint8_t b[64], key[40], padded[40], in[40];

	(void)state;
	for (int round = 0; round < 200; round++) {
		uint8_t klen = (uint8_t)(1 + rnd() % 40);
		size_t len;

		for (int i = 0; i < 40; i++)
			key[i] = (uint8_t)rnd();
		len = mk_hash(b, ALL, NULL, key, klen);
		assert_int_equal(parse_exact(r, b, len, false), 0);
		memset(padded, 0, sizeof(padded));
		memcpy(padded, key, klen);
		for (int j = 0; j < 8; j++) {
			size_t n = rnd() % 37;

			for (size_t k = 0; k < n; k++)
				in[k] = (uint8_t)rnd();
			assert_int_equal(vnet_rss_hash(r, in, n),
					 vnet_toeplitz(key, klen, in, n));
			assert_int_equal(vnet_toeplitz(key, klen, in, n),
					 vnet_toeplitz(padded, 40, in, n));
		}
	}
	/* Longer than the table covers: falls back to the bit loop. */
	for (int k = 0; k < 40; k++)
		in[k] = (uint8_t)rnd();
	assert_int_equal(vnet_rss_hash(r, in, 40), vnet_toeplitz(r->key, r->key_len, in, 40));
	free(r);
}

static void test_toeplitz_linear(void **state)
{
	uint8_t a[36], b[36], x[36], zero[36] = { 0 };

	(void)state;
	for (int i = 0; i < 36; i++) {
		a[i] = (uint8_t)rnd();
		b[i] = (uint8_t)rnd();
		x[i] = a[i] ^ b[i];
	}
	assert_int_equal(vnet_toeplitz(ms_key, 40, x, 36),
			 vnet_toeplitz(ms_key, 40, a, 36) ^ vnet_toeplitz(ms_key, 40, b, 36));
	assert_int_equal(vnet_toeplitz(ms_key, 40, zero, 36), 0);
	assert_int_equal(vnet_toeplitz(NULL, 0, a, 36), 0);
	assert_int_equal(vnet_toeplitz(ms_key, 40, a, 0), 0);
	/* One input bit selects the key's first 32 bits. */
	x[0] = 0x80;
	assert_int_equal(vnet_toeplitz(ms_key, 40, x, 1), 0x6d5a56da);
}

/* ---- classification of good frames ------------------------------------ */

static void test_classify_ms_ipv4_tcp(void **state)
{
	struct env *e = *state;
	struct frame f;
	uint32_t h;
	uint8_t rep;

	for (size_t i = 0; i < NV4; i++) {
		v4_tcp_frame(&f, &v4_vectors[i], 6);
		configure(e->r, T_IPv4 | T_TCPv4, 64, 3);
		classify_exact(e->r, f.b, f.n, &h, &rep);
		assert_int_equal(h, v4_vectors[i].ip_tcp);
		assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_TCPv4);
		configure(e->r, T_IPv4, 64, 3);
		classify_exact(e->r, f.b, f.n, &h, &rep);
		assert_int_equal(h, v4_vectors[i].ip);
		assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv4);
	}
}

static void test_classify_ms_ipv4_udp(void **state)
{
	struct env *e = *state;
	struct frame f;
	uint32_t h;
	uint8_t rep;

	for (size_t i = 0; i < NV4; i++) {
		v4_tcp_frame(&f, &v4_vectors[i], 17);
		configure(e->r, T_IPv4 | T_UDPv4, 64, 3);
		classify_exact(e->r, f.b, f.n, &h, &rep);
		assert_int_equal(h, v4_vectors[i].ip_tcp); /* same tuple */
		assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_UDPv4);
		/* TCPv4 does not cover UDP: falls to IPv4. */
		configure(e->r, T_IPv4 | T_TCPv4, 64, 3);
		classify_exact(e->r, f.b, f.n, &h, &rep);
		assert_int_equal(h, v4_vectors[i].ip);
		assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv4);
	}
}

static void test_classify_ms_ipv6(void **state)
{
	struct env *e = *state;
	struct frame f;
	uint32_t h;
	uint8_t rep;

	for (size_t i = 0; i < NV6; i++) {
		v6_tcp_frame(&f, &v6_vectors[i], 6);
		configure(e->r, T_IPv6 | T_TCPv6 | T_UDPv6, 64, 3);
		classify_exact(e->r, f.b, f.n, &h, &rep);
		assert_int_equal(h, v6_vectors[i].ip_tcp);
		assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_TCPv6);
		configure(e->r, T_IPv6, 64, 3);
		classify_exact(e->r, f.b, f.n, &h, &rep);
		assert_int_equal(h, v6_vectors[i].ip);
		assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv6);

		v6_tcp_frame(&f, &v6_vectors[i], 17);
		configure(e->r, T_IPv6 | T_TCPv6 | T_UDPv6, 64, 3);
		classify_exact(e->r, f.b, f.n, &h, &rep);
		assert_int_equal(h, v6_vectors[i].ip_tcp);
		assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_UDPv6);
	}
}

/* IPv4 types do not apply to IPv6 and the reverse. */
static void test_classify_family_types(void **state)
{
	struct env *e = *state;
	struct frame f;
	uint32_t h;
	uint8_t rep;

	configure(e->r, T_IPv4 | T_TCPv4 | T_UDPv4, 64, 5);
	v6_tcp_frame(&f, &v6_vectors[0], 6);
	assert_int_equal(classify_exact(e->r, f.b, f.n, &h, &rep), 5);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_NONE);
	assert_int_equal(h, 0);

	configure(e->r, T_IPv6 | T_TCPv6 | T_UDPv6 | T_IP_EX | T_TCP_EX | T_UDP_EX, 64, 6);
	v4_tcp_frame(&f, &v4_vectors[0], 6);
	assert_int_equal(classify_exact(e->r, f.b, f.n, &h, &rep), 6);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_NONE);
}

static void test_classify_vlan(void **state)
{
	struct env *e = *state;
	const struct v4_vector *v = &v4_vectors[1];
	const uint16_t q[1] = { 0x8100 }, ad[1] = { 0x88a8 };
	const uint16_t qinq[2] = { 0x88a8, 0x8100 }, three[3] = { 0x88a8, 0x8100, 0x8100 };
	struct frame f;
	uint32_t h;
	uint8_t rep;

	eth(&f, 0x0800, q, 1);
	ipv4(&f, v->src, v->dst, 6, 5, 0);
	l4(&f, 6, v->sport, v->dport);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(h, v->ip_tcp);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_TCPv4);

	eth(&f, 0x0800, ad, 1);
	ipv4(&f, v->src, v->dst, 6, 5, 0);
	l4(&f, 6, v->sport, v->dport);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(h, v->ip_tcp);

	eth(&f, 0x86dd, qinq, 2);
	ipv6(&f, v6_vectors[2].src, v6_vectors[2].dst, 17);
	l4(&f, 17, v6_vectors[2].sport, v6_vectors[2].dport);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(h, v6_vectors[2].ip_tcp);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_UDPv6);

	/* A third tag is past the bound: not parsed, unclassified. */
	eth(&f, 0x0800, three, 3);
	ipv4(&f, v->src, v->dst, 6, 5, 0);
	l4(&f, 6, v->sport, v->dport);
	assert_int_equal(classify_exact(e->r, f.b, f.n, &h, &rep), 3);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_NONE);
}

static void test_classify_ipv4_options(void **state)
{
	struct env *e = *state;
	const struct v4_vector *v = &v4_vectors[2];
	struct frame f;
	uint32_t h;
	uint8_t rep;

	for (unsigned ihl = 5; ihl <= 15; ihl++) {
		eth(&f, 0x0800, NULL, 0);
		ipv4(&f, v->src, v->dst, 6, ihl, 0);
		l4(&f, 6, v->sport, v->dport);
		classify_exact(e->r, f.b, f.n, &h, &rep);
		assert_int_equal(h, v->ip_tcp);
		assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_TCPv4);
	}
}

/* Every fragment hashes as IP only: first (MF, offset 0), middle, last. */
static void test_classify_ipv4_fragments(void **state)
{
	struct env *e = *state;
	const struct v4_vector *v = &v4_vectors[3];
	const uint16_t frags[] = { 0x2000, 0x2000 | 185, 370, 0x4000 | 0x2000 };
	struct frame f;
	uint32_t h;
	uint8_t rep;

	for (size_t i = 0; i < sizeof(frags) / sizeof(frags[0]); i++) {
		eth(&f, 0x0800, NULL, 0);
		ipv4(&f, v->src, v->dst, 6, 5, frags[i]);
		l4(&f, 6, v->sport, v->dport);
		configure(e->r, ALL, 64, 3);
		classify_exact(e->r, f.b, f.n, &h, &rep);
		assert_int_equal(h, v->ip);
		assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv4);
		/* Without the IPv4 type a fragment gets no hash. */
		configure(e->r, T_TCPv4 | T_UDPv4, 64, 3);
		assert_int_equal(classify_exact(e->r, f.b, f.n, &h, &rep), 3);
		assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_NONE);
	}
	/* DF alone is not a fragment. */
	eth(&f, 0x0800, NULL, 0);
	ipv4(&f, v->src, v->dst, 6, 5, 0x4000);
	l4(&f, 6, v->sport, v->dport);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_TCPv4);
	assert_int_equal(h, v->ip_tcp);
}

static const uint8_t home_addr[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xaa, 0x01 };
static const uint8_t rt2_addr[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xbb, 0x02 };

/* Destination options with a home address option, then TCP. */
static void test_classify_ipv6_ex_home_address(void **state)
{
	struct env *e = *state;
	const struct v6_vector *v = &v6_vectors[0];
	struct frame f;
	uint32_t h;
	uint8_t rep;

	eth(&f, 0x86dd, NULL, 0);
	ipv6(&f, v->src, v->dst, 60);
	ext_dstopts_hao(&f, 6, home_addr);
	l4(&f, 6, v->sport, v->dport);

	configure(e->r, T_TCP_EX, 64, 3);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_TCPv6_EX);
	assert_int_equal(h, ref_hash(home_addr, v->dst, 16, v->sport, v->dport, true));

	configure(e->r, T_IP_EX | T_TCPv6 | T_IPv6, 64, 3); /* IP_EX first */
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv6_EX);
	assert_int_equal(h, ref_hash(home_addr, v->dst, 16, 0, 0, false));

	/* No _EX type: skip the extension headers, plain TCPv6 over the
	 * real source. */
	configure(e->r, T_TCPv6 | T_IPv6, 64, 3);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_TCPv6);
	assert_int_equal(h, v->ip_tcp);

	/* UDP_EX does not cover TCP; IPv6 is next. */
	configure(e->r, T_UDP_EX | T_IPv6, 64, 3);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv6);
	assert_int_equal(h, v->ip);
}

/* Type 2 routing header, alone and with a home address option. */
static void test_classify_ipv6_ex_routing_type2(void **state)
{
	struct env *e = *state;
	const struct v6_vector *v = &v6_vectors[1];
	struct frame f;
	uint32_t h;
	uint8_t rep;

	configure(e->r, T_UDP_EX | T_UDPv6 | T_IPv6, 64, 3);
	eth(&f, 0x86dd, NULL, 0);
	ipv6(&f, v->src, v->dst, 43);
	ext_rt2(&f, 17, rt2_addr);
	l4(&f, 17, v->sport, v->dport);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_UDPv6_EX);
	assert_int_equal(h, ref_hash(v->src, rt2_addr, 16, v->sport, v->dport, true));

	/* Hop-by-hop, routing type 2, destination options with HAO. */
	eth(&f, 0x86dd, NULL, 0);
	ipv6(&f, v->src, v->dst, 0);
	ext_dstopts_pad(&f, 43); /* same layout as hop-by-hop */
	ext_rt2(&f, 60, rt2_addr);
	ext_dstopts_hao(&f, 17, home_addr);
	l4(&f, 17, v->sport, v->dport);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_UDPv6_EX);
	assert_int_equal(h, ref_hash(home_addr, rt2_addr, 16, v->sport, v->dport, true));

	/* A routing header of another type carries no address we use. */
	eth(&f, 0x86dd, NULL, 0);
	ipv6(&f, v->src, v->dst, 43);
	ext_rt2(&f, 17, rt2_addr);
	f.b[14 + 40 + 2] = 0; /* routing type 0 */
	l4(&f, 17, v->sport, v->dport);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_UDPv6_EX);
	assert_int_equal(h, v->ip_tcp);
}

/* The spec lists the _EX types for packets with extension headers only. */
static void test_classify_ipv6_ex_not_for_plain(void **state)
{
	struct env *e = *state;
	const struct v6_vector *v = &v6_vectors[2];
	struct frame f;
	uint32_t h;
	uint8_t rep;

	v6_tcp_frame(&f, v, 6);
	configure(e->r, T_IP_EX | T_TCP_EX | T_UDP_EX, 64, 4);
	assert_int_equal(classify_exact(e->r, f.b, f.n, &h, &rep), 4);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_NONE);

	configure(e->r, ALL, 64, 4);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_TCPv6);
	assert_int_equal(h, v->ip_tcp);
}

/* IPv6 fragment header: a real fragment hashes as IP only; an atomic
 * fragment (offset 0, M clear) still has its upper-layer header. AH and
 * hop-by-hop are walked. */
static void test_classify_ipv6_fragment_and_ah(void **state)
{
	struct env *e = *state;
	const struct v6_vector *v = &v6_vectors[0];
	struct frame f;
	uint32_t h;
	uint8_t rep;

	configure(e->r, T_IPv6 | T_TCPv6, 64, 3);
	eth(&f, 0x86dd, NULL, 0);
	ipv6(&f, v->src, v->dst, 44);
	ext_frag(&f, 6, 0, true);
	l4(&f, 6, v->sport, v->dport);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv6);
	assert_int_equal(h, v->ip);

	configure(e->r, T_IP_EX | T_TCP_EX, 64, 3);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv6_EX);
	assert_int_equal(h, v->ip);

	eth(&f, 0x86dd, NULL, 0);
	ipv6(&f, v->src, v->dst, 44);
	ext_frag(&f, 6, 0, false); /* atomic */
	l4(&f, 6, v->sport, v->dport);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_TCPv6_EX);
	assert_int_equal(h, v->ip_tcp);

	eth(&f, 0x86dd, NULL, 0);
	ipv6(&f, v->src, v->dst, 0);
	ext_dstopts_pad(&f, 51);
	ext_ah(&f, 17);
	l4(&f, 17, v->sport, v->dport);
	configure(e->r, T_UDP_EX, 64, 3);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_UDPv6_EX);
	assert_int_equal(h, v->ip_tcp);

	/* ESP: nothing past it is readable; no upper layer. */
	eth(&f, 0x86dd, NULL, 0);
	ipv6(&f, v->src, v->dst, 50);
	put_zero(&f, 32);
	configure(e->r, T_TCPv6 | T_IPv6, 64, 3);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv6);
}

static void test_queue_selection(void **state)
{
	struct env *e = *state;
	uint16_t table[128];
	uint8_t b[1400];
	struct frame f;
	uint32_t h;
	uint8_t rep;
	size_t len;

	for (int i = 0; i < 128; i++)
		table[i] = (uint16_t)((i * 5 + 3) % PAIRS);
	len = mk_rss(b, ALL, 128, table, 7, 4, ms_key, 40);
	assert_int_equal(parse_exact(e->r, b, len, true), 0);
	assert_true(e->r->enabled);
	assert_int_equal(e->r->table_len, 128);
	assert_int_equal(e->r->table_mask, 127);
	assert_int_equal(e->r->max_tx_vq, 4);
	for (size_t i = 0; i < NV4; i++) {
		v4_tcp_frame(&f, &v4_vectors[i], 6);
		assert_int_equal(classify_exact(e->r, f.b, f.n, &h, &rep),
				 table[v4_vectors[i].ip_tcp & 127]);
	}
	for (size_t i = 0; i < NV6; i++) {
		v6_tcp_frame(&f, &v6_vectors[i], 6);
		assert_int_equal(classify_exact(e->r, f.b, f.n, &h, &rep),
				 table[v6_vectors[i].ip_tcp & 127]);
	}
	/* A one-entry table sends everything hashed to that queue. */
	table[0] = 6;
	len = mk_rss(b, ALL, 1, table, 2, 1, ms_key, 40);
	assert_int_equal(parse_exact(e->r, b, len, true), 0);
	for (size_t i = 0; i < NV4; i++) {
		v4_tcp_frame(&f, &v4_vectors[i], 17);
		assert_int_equal(classify_exact(e->r, f.b, f.n, NULL, NULL), 6);
	}
}

static void test_unclassified_queue(void **state)
{
	struct env *e = *state;
	struct frame f;
	uint32_t h = 1;
	uint8_t rep = 1;
	uint8_t b[64];
	size_t len;

	/* ARP. */
	eth(&f, 0x0806, NULL, 0);
	put_zero(&f, 28);
	assert_int_equal(classify_exact(e->r, f.b, f.n, &h, &rep), 3);
	assert_int_equal(h, 0);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_NONE);

	/* Steering on, no hash type: everything is unclassified. */
	len = mk_rss(b, 0, 1, tbl8, 5, 2, NULL, 0);
	assert_int_equal(parse_exact(e->r, b, len, true), 0);
	v4_tcp_frame(&f, &v4_vectors[0], 6);
	assert_int_equal(classify_exact(e->r, f.b, f.n, &h, &rep), 5);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_NONE);
}

/* HASH_CONFIG: hash for reporting, no steering; the reserved words are
 * ignored (older Linux put max_tx_vq there). */
static void test_hash_report_only(void **state)
{
	struct env *e = *state;
	const uint16_t reserved[4] = { 0, 0, 0, 4 };
	struct frame f;
	uint8_t b[64];
	uint32_t h;
	uint8_t rep;
	size_t len;

	len = mk_hash(b, T_IPv4 | T_TCPv4, reserved, ms_key, 40);
	assert_int_equal(parse_exact(e->r, b, len, false), 0);
	assert_false(e->r->enabled);
	assert_int_equal(e->r->hash_types, T_IPv4 | T_TCPv4);
	assert_int_equal(e->r->table_len, 1);
	assert_int_equal(e->r->unclassified_queue, 0);
	assert_int_equal(e->r->max_tx_vq, PAIRS); /* left as it was */
	for (size_t i = 0; i < NV4; i++) {
		v4_tcp_frame(&f, &v4_vectors[i], 6);
		assert_int_equal(classify_exact(e->r, f.b, f.n, &h, &rep), 0);
		assert_int_equal(h, v4_vectors[i].ip_tcp);
		assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_TCPv4);
	}
	/* Hash types 0 and no key: reporting off. */
	len = mk_hash(b, 0, NULL, NULL, 0);
	assert_int_equal(parse_exact(e->r, b, len, false), 0);
	v4_tcp_frame(&f, &v4_vectors[0], 6);
	assert_int_equal(classify_exact(e->r, f.b, f.n, &h, &rep), 0);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_NONE);
}

static void test_init_reset_disable(void **state)
{
	struct env *e = *state;
	struct vnet_rss *r = malloc(sizeof(*r));
	static const uint8_t zero_key[VNET_RSS_KEY_MAX];
	struct frame f;
	uint32_t h;
	uint8_t rep;

	assert_non_null(r);
	assert_int_equal(vnet_rss_init(r, 0), -EINVAL);
	assert_int_equal(vnet_rss_init(r, VNET_RSS_TABLE_MAX + 1), -EINVAL);
	assert_int_equal(vnet_rss_init(r, VNET_RSS_TABLE_MAX), 0);
	assert_false(r->enabled);
	assert_int_equal(r->hash_types, 0);
	assert_int_equal(r->table_len, 1);
	assert_int_equal(r->max_tx_vq, 1);
	free(r);

	/* Disable: steering off, hashing for reports kept. */
	vnet_rss_disable(e->r);
	v4_tcp_frame(&f, &v4_vectors[0], 6);
	assert_int_equal(classify_exact(e->r, f.b, f.n, &h, &rep), 0);
	assert_int_equal(h, v4_vectors[0].ip_tcp);

	/* Reset: defaults, key wiped, table_max kept. */
	vnet_rss_reset(e->r);
	assert_false(e->r->enabled);
	assert_int_equal(e->r->hash_types, 0);
	assert_int_equal(e->r->key_len, 0);
	assert_memory_equal(e->r->key, zero_key, sizeof(zero_key));
	assert_int_equal(e->r->lut[3][0x55], 0);
	assert_int_equal(e->r->table_max, TABLE_MAX);
	assert_int_equal(classify_exact(e->r, f.b, f.n, &h, &rep), 0);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_NONE);
}

static void test_config_accepts_limits(void **state)
{
	struct env *e = *state;
	uint16_t table[TABLE_MAX];
	uint8_t b[1400];
	size_t len;

	for (int i = 0; i < TABLE_MAX; i++)
		table[i] = PAIRS - 1;
	/* Largest table, largest key, last queue, max_tx_vq = max_pairs. */
	len = mk_rss(b, ALL, TABLE_MAX, table, PAIRS - 1, PAIRS, ms_key, KEY_MAX);
	assert_int_equal(parse_exact(e->r, b, len, true), 0);
	assert_int_equal(e->r->table_len, TABLE_MAX);
	assert_int_equal(e->r->table[TABLE_MAX - 1], PAIRS - 1);
	assert_int_equal(e->r->unclassified_queue, PAIRS - 1);
	assert_int_equal(e->r->key_len, KEY_MAX);
	assert_memory_equal(e->r->key, ms_key, KEY_MAX);
	/* A short key is fine. */
	len = mk_rss(b, ALL, 2, tbl8, 0, 1, ms_key, 1);
	assert_int_equal(parse_exact(e->r, b, len, true), 0);
	assert_int_equal(e->r->key_len, 1);
}

/* ---- malformed configurations: refused, previous one intact ----------- */

static void test_cfg_short_fixed_part(void **state)
{
	struct env *e = *state;
	uint8_t b[1400];

	mk_rss(b, ALL, 8, tbl8, 0, 1, ms_key, 40);
	for (size_t len = 0; len < 8; len++)
		reject_rss(e, b, len, -EMSGSIZE);
	assert_int_equal(vnet_rss_parse_config(e->r, NULL, 0, PAIRS, TABLE_MAX, KEY_MAX, ALL, true),
			 -EMSGSIZE);
	assert_unchanged(e);
}

static void test_cfg_ends_inside_table(void **state)
{
	struct env *e = *state;
	uint8_t b[1400];

	mk_rss(b, ALL, 8, tbl8, 0, 1, ms_key, 40);
	/* Table is bytes 8..23; max_tx_vq and key_len follow. */
	for (size_t len = 8; len < 8 + 16 + 3; len++)
		reject_rss(e, b, len, -EMSGSIZE);
}

static void test_cfg_ends_inside_key(void **state)
{
	struct env *e = *state;
	uint8_t b[1400];
	size_t len = mk_rss(b, ALL, 8, tbl8, 0, 1, ms_key, 40);

	for (size_t l = len - 40; l < len; l++)
		reject_rss(e, b, l, -EMSGSIZE);
}

static void test_cfg_trailing_bytes(void **state)
{
	struct env *e = *state;
	uint8_t b[1400];
	size_t len = mk_rss(b, ALL, 8, tbl8, 0, 1, ms_key, 40);

	b[len] = 0;
	reject_rss(e, b, len + 1, -EMSGSIZE);
}

static void test_cfg_table_not_power_of_two(void **state)
{
	struct env *e = *state;
	uint8_t b[1400];
	uint16_t table[6] = { 0 };
	size_t len = mk_rss(b, ALL, 6, table, 0, 1, ms_key, 40);

	reject_rss(e, b, len, -EINVAL);
}

static void test_cfg_table_too_long(void **state)
{
	struct env *e = *state;
	uint16_t table[2 * TABLE_MAX] = { 0 };
	uint8_t b[1400];
	size_t len = mk_rss(b, ALL, 2 * TABLE_MAX, table, 0, 1, ms_key, 40);

	reject_rss(e, b, len, -EINVAL);
}

/* indirection_table_mask 0xffff: 65536 entries, 0 in 16-bit arithmetic. */
static void test_cfg_table_length_wraps_to_zero(void **state)
{
	struct env *e = *state;
	uint8_t b[64];

	mk_rss(b, ALL, 1, tbl8, 0, 1, ms_key, 40);
	b[4] = 0xff;
	b[5] = 0xff;
	reject_rss(e, b, 11 + 2 + 40, -EINVAL);
}

static void test_cfg_table_queue_out_of_range(void **state)
{
	struct env *e = *state;
	uint16_t table[8] = { 0, 1, 2, 3, 4, 5, 6, PAIRS };
	uint8_t b[1400];
	size_t len = mk_rss(b, ALL, 8, table, 0, 1, ms_key, 40);

	reject_rss(e, b, len, -ERANGE);
}

/* rss_rq_id bit 15 is reserved (zero): such an entry is out of range. */
static void test_cfg_table_queue_reserved_bit(void **state)
{
	struct env *e = *state;
	uint16_t table[2] = { 1, 0x8001 };
	uint8_t b[1400];
	size_t len = mk_rss(b, ALL, 2, table, 0, 1, ms_key, 40);

	reject_rss(e, b, len, -ERANGE);
}

static void test_cfg_unclassified_out_of_range(void **state)
{
	struct env *e = *state;
	uint8_t b[1400];
	size_t len = mk_rss(b, ALL, 8, tbl8, PAIRS, 1, ms_key, 40);

	reject_rss(e, b, len, -ERANGE);
}

static void test_cfg_key_too_long(void **state)
{
	struct env *e = *state;
	uint8_t key[41] = { 1 };
	uint8_t b[1400];
	size_t len = mk_rss(b, ALL, 8, tbl8, 0, 1, key, 41);

	reject_rss(e, b, len, -EINVAL);
	/* Against a device advertising a shorter maximum, too. */
	len = mk_rss(b, ALL, 8, tbl8, 0, 1, ms_key, 40);
	assert_int_equal(vnet_rss_parse_config(e->r, b, len, PAIRS, TABLE_MAX, 39, ALL, true),
			 -EINVAL);
	assert_unchanged(e);
}

static void test_cfg_types_without_key(void **state)
{
	struct env *e = *state;
	uint8_t b[1400];
	size_t len = mk_rss(b, T_IPv4, 8, tbl8, 0, 1, NULL, 0);

	reject_rss(e, b, len, -EINVAL);
}

static void test_cfg_hash_types_unsupported(void **state)
{
	struct env *e = *state;
	uint8_t b[1400];
	size_t len = mk_rss(b, T_IPv4 | T_TCP_EX, 8, tbl8, 0, 1, ms_key, 40);

	/* The device supports everything but the _EX types. */
	assert_int_equal(vnet_rss_parse_config(e->r, b, len, PAIRS, TABLE_MAX, KEY_MAX,
					       T_IPv4 | T_TCPv4 | T_UDPv4 | T_IPv6 | T_TCPv6 | T_UDPv6,
					       true),
			 -EOPNOTSUPP);
	assert_unchanged(e);
}

/* A bit no hash type defines, even if the caller claims support for it. */
static void test_cfg_hash_types_undefined(void **state)
{
	struct env *e = *state;
	uint8_t b[1400];
	size_t len = mk_rss(b, T_IPv4 | (1u << 9), 8, tbl8, 0, 1, ms_key, 40);

	assert_int_equal(vnet_rss_parse_config(e->r, b, len, PAIRS, TABLE_MAX, KEY_MAX,
					       0xffffffffu, true),
			 -EOPNOTSUPP);
	assert_unchanged(e);
	len = mk_rss(b, 0x80000000u, 8, tbl8, 0, 1, ms_key, 40);
	reject_rss(e, b, len, -EOPNOTSUPP);
}

static void test_cfg_max_tx_vq_zero(void **state)
{
	struct env *e = *state;
	uint8_t b[1400];
	size_t len = mk_rss(b, ALL, 8, tbl8, 0, 0, ms_key, 40);

	reject_rss(e, b, len, -ERANGE);
}

static void test_cfg_max_tx_vq_too_big(void **state)
{
	struct env *e = *state;
	uint8_t b[1400];
	size_t len = mk_rss(b, ALL, 8, tbl8, 0, PAIRS + 1, ms_key, 40);

	reject_rss(e, b, len, -ERANGE);
}

/* The caller's own limits are checked too. */
static void test_cfg_bad_device_limits(void **state)
{
	struct env *e = *state;
	uint8_t b[1400];
	size_t len = mk_rss(b, ALL, 8, tbl8, 0, 1, ms_key, 40);

	assert_int_equal(vnet_rss_parse_config(e->r, b, len, 0, TABLE_MAX, KEY_MAX, ALL, true), -EINVAL);
	assert_int_equal(vnet_rss_parse_config(e->r, b, len, 0x8001, TABLE_MAX, KEY_MAX, ALL, true), -EINVAL);
	assert_int_equal(vnet_rss_parse_config(e->r, b, len, PAIRS, 0, KEY_MAX, ALL, true), -EINVAL);
	assert_int_equal(vnet_rss_parse_config(e->r, b, len, PAIRS, TABLE_MAX + 1, KEY_MAX, ALL, true), -EINVAL);
	assert_int_equal(vnet_rss_parse_config(e->r, b, len, PAIRS, TABLE_MAX, KEY_MAX + 1, ALL, true), -EINVAL);
	assert_unchanged(e);
}

static void test_hash_cfg_short(void **state)
{
	struct env *e = *state;
	uint8_t b[64];
	size_t len = mk_hash(b, ALL, NULL, ms_key, 40);

	for (size_t l = 0; l < len; l++)
		reject_hash(e, b, l, -EMSGSIZE);
	b[len] = 0;
	reject_hash(e, b, len + 1, -EMSGSIZE);
}

static void test_hash_cfg_key_too_long(void **state)
{
	struct env *e = *state;
	uint8_t key[41] = { 0 };
	uint8_t b[64];
	size_t len = mk_hash(b, ALL, NULL, key, 41);

	reject_hash(e, b, len, -EINVAL);
}

static void test_hash_cfg_types_unsupported(void **state)
{
	struct env *e = *state;
	uint8_t b[64];
	size_t len = mk_hash(b, T_UDP_EX, NULL, ms_key, 40);

	assert_int_equal(vnet_rss_parse_config(e->r, b, len, PAIRS, TABLE_MAX, KEY_MAX,
					       T_IPv4 | T_TCPv4, false),
			 -EOPNOTSUPP);
	assert_unchanged(e);
	len = mk_hash(b, T_IPv4, NULL, NULL, 0);
	reject_hash(e, b, len, -EINVAL); /* types without a key */
}

/* ---- hostile frames ----------------------------------------------------- */

#define EXPECT_UNCLASSIFIED(e, f, n) \
	do { \
		uint32_t h_ = 1; \
		uint8_t rep_ = 1; \
		assert_int_equal(classify_exact((e)->r, (f), (n), &h_, &rep_), 3); \
		assert_int_equal(h_, 0); \
		assert_int_equal(rep_, VIRTIO_NET_HASH_REPORT_NONE); \
	} while (0)

static void test_frame_short_ethernet(void **state)
{
	struct env *e = *state;
	struct frame f;

	v4_tcp_frame(&f, &v4_vectors[0], 6);
	for (size_t n = 0; n <= 14; n++)
		EXPECT_UNCLASSIFIED(e, f.b, n);
	assert_int_equal(vnet_rss_classify(e->r, NULL, 0, NULL, NULL), 3);
	/* A VLAN tag cut short. */
	eth(&f, 0x8100, NULL, 0);
	put8(&f, 0);
	EXPECT_UNCLASSIFIED(e, f.b, f.n);
}

static void test_frame_ipv4_short_header(void **state)
{
	struct env *e = *state;
	struct frame f;

	v4_tcp_frame(&f, &v4_vectors[0], 6);
	for (size_t n = 14; n < 14 + 20; n++)
		EXPECT_UNCLASSIFIED(e, f.b, n);
}

static void test_frame_ipv4_ihl_below_5(void **state)
{
	struct env *e = *state;
	struct frame f;

	for (uint8_t ihl = 0; ihl < 5; ihl++) {
		v4_tcp_frame(&f, &v4_vectors[0], 6);
		f.b[14] = (uint8_t)(0x40 | ihl);
		EXPECT_UNCLASSIFIED(e, f.b, f.n);
	}
}

static void test_frame_ipv4_ihl_beyond_frame(void **state)
{
	struct env *e = *state;
	struct frame f;

	eth(&f, 0x0800, NULL, 0);
	ipv4(&f, v4_vectors[0].src, v4_vectors[0].dst, 6, 5, 0);
	f.b[14] = 0x4f; /* 60-byte header in a 20-byte packet */
	EXPECT_UNCLASSIFIED(e, f.b, f.n);
	put_zero(&f, 39);
	EXPECT_UNCLASSIFIED(e, f.b, f.n); /* one byte short */
	put_zero(&f, 1);
	{
		uint32_t h;
		uint8_t rep;

		classify_exact(e->r, f.b, f.n, &h, &rep);
		assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv4);
		assert_int_equal(h, v4_vectors[0].ip); /* no room for TCP */
	}
}

static void test_frame_ip_bad_version(void **state)
{
	struct env *e = *state;
	struct frame f;

	v4_tcp_frame(&f, &v4_vectors[0], 6);
	f.b[14] = 0x65;
	EXPECT_UNCLASSIFIED(e, f.b, f.n);
	v6_tcp_frame(&f, &v6_vectors[0], 6);
	f.b[14] = 0x40;
	EXPECT_UNCLASSIFIED(e, f.b, f.n);
}

/* A TCP/UDP header cut short is not a TCP/UDP header: IP hash. */
static void test_frame_l4_truncated(void **state)
{
	struct env *e = *state;
	struct frame f;
	uint32_t h;
	uint8_t rep;

	v4_tcp_frame(&f, &v4_vectors[4], 6);
	for (size_t n = 34; n < 34 + 20; n++) {
		classify_exact(e->r, f.b, n, &h, &rep);
		assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv4);
		assert_int_equal(h, v4_vectors[4].ip);
	}
	classify_exact(e->r, f.b, 34 + 20, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_TCPv4);

	v6_tcp_frame(&f, &v6_vectors[1], 17);
	for (size_t n = 54; n < 54 + 8; n++) {
		classify_exact(e->r, f.b, n, &h, &rep);
		assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv6);
		assert_int_equal(h, v6_vectors[1].ip);
	}
	classify_exact(e->r, f.b, 54 + 8, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_UDPv6);
}

static void test_frame_ipv6_short_header(void **state)
{
	struct env *e = *state;
	struct frame f;

	v6_tcp_frame(&f, &v6_vectors[0], 6);
	for (size_t n = 14; n < 54; n++)
		EXPECT_UNCLASSIFIED(e, f.b, n);
}

/* An extension header chain that runs off the end of the frame: the fixed
 * header's addresses only (IPv6), or nothing. */
static void test_frame_ipv6_ext_runs_off_end(void **state)
{
	struct env *e = *state;
	const struct v6_vector *v = &v6_vectors[0];
	struct frame f;
	uint32_t h;
	uint8_t rep;

	eth(&f, 0x86dd, NULL, 0);
	ipv6(&f, v->src, v->dst, 60);
	ext_dstopts_hao(&f, 6, home_addr);
	l4(&f, 6, v->sport, v->dport);
	/* Cut inside the first 8 bytes, and inside the 24-byte header. */
	for (size_t n = 54; n < 54 + 24; n++) {
		classify_exact(e->r, f.b, n, &h, &rep);
		assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv6);
		assert_int_equal(h, v->ip);
	}
	/* A length field pointing far past the end. */
	f.b[54 + 1] = 0xff;
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv6);
	assert_int_equal(h, v->ip);
	/* Without the IPv6 type: no hash at all. */
	configure(e->r, T_TCPv6 | T_IP_EX | T_TCP_EX, 64, 3);
	EXPECT_UNCLASSIFIED(e, f.b, f.n);
}

static void test_frame_ipv6_ext_chain_too_long(void **state)
{
	struct env *e = *state;
	const struct v6_vector *v = &v6_vectors[1];
	struct frame f;
	uint32_t h;
	uint8_t rep;

	/* VNET_RSS_MAX_EXT_HDRS headers: walked, TCP found. */
	eth(&f, 0x86dd, NULL, 0);
	ipv6(&f, v->src, v->dst, 60);
	for (int i = 0; i < VNET_RSS_MAX_EXT_HDRS; i++)
		ext_dstopts_pad(&f, i == VNET_RSS_MAX_EXT_HDRS - 1 ? 6 : 60);
	l4(&f, 6, v->sport, v->dport);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_TCPv6_EX);
	assert_int_equal(h, v->ip_tcp);

	/* One more: past the bound, malformed. */
	eth(&f, 0x86dd, NULL, 0);
	ipv6(&f, v->src, v->dst, 60);
	for (int i = 0; i < VNET_RSS_MAX_EXT_HDRS + 1; i++)
		ext_dstopts_pad(&f, i == VNET_RSS_MAX_EXT_HDRS ? 6 : 60);
	l4(&f, 6, v->sport, v->dport);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv6);
	assert_int_equal(h, v->ip);

	/* A long chain of hop-by-hop headers pointing at each other, filling
	 * the frame: bounded, no hash beyond IPv6. */
	eth(&f, 0x86dd, NULL, 0);
	ipv6(&f, v->src, v->dst, 0);
	while (f.n + 8 <= sizeof(f.b))
		ext_dstopts_pad(&f, 0);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv6);
}

/* A home address option whose length runs past its header is ignored. */
static void test_frame_ipv6_bad_options(void **state)
{
	struct env *e = *state;
	const struct v6_vector *v = &v6_vectors[2];
	struct frame f;
	uint32_t h;
	uint8_t rep;

	eth(&f, 0x86dd, NULL, 0);
	ipv6(&f, v->src, v->dst, 60);
	ext_dstopts_hao(&f, 6, home_addr);
	l4(&f, 6, v->sport, v->dport);
	f.b[54 + 6 + 1] = 17; /* HAO length 17 in a header with 16 left */
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_TCPv6_EX);
	assert_int_equal(h, v->ip_tcp);

	/* PadN whose length runs past the header. */
	f.b[54 + 6 + 1] = 16;
	f.b[54 + 3] = 200;
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_TCPv6_EX);
	assert_int_equal(h, v->ip_tcp);

	/* A home address option too short to hold an address, in the last
	 * header of the frame: not read past. */
	eth(&f, 0x86dd, NULL, 0);
	ipv6(&f, v->src, v->dst, 60);
	put8(&f, 59);
	put8(&f, 0);
	put8(&f, 0xc9);
	put8(&f, 4);
	put_zero(&f, 4);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_IPv6_EX);
	assert_int_equal(h, v->ip);

	/* A type 2 routing header too short to hold an address. */
	eth(&f, 0x86dd, NULL, 0);
	ipv6(&f, v->src, v->dst, 43);
	put8(&f, 6);
	put8(&f, 0);
	put8(&f, 2);
	put8(&f, 1);
	put_zero(&f, 4);
	l4(&f, 6, v->sport, v->dport);
	classify_exact(e->r, f.b, f.n, &h, &rep);
	assert_int_equal(rep, VIRTIO_NET_HASH_REPORT_TCPv6_EX);
	assert_int_equal(h, v->ip_tcp);
}

/* Every prefix of every kind of frame, in an exactly sized buffer. */
static void test_frame_every_prefix(void **state)
{
	struct env *e = *state;
	struct frame frames[6];
	const uint16_t qinq[2] = { 0x88a8, 0x8100 };

	v4_tcp_frame(&frames[0], &v4_vectors[0], 6);
	eth(&frames[1], 0x0800, qinq, 2);
	ipv4(&frames[1], v4_vectors[1].src, v4_vectors[1].dst, 17, 9, 0);
	l4(&frames[1], 17, 1, 2);
	v6_tcp_frame(&frames[2], &v6_vectors[0], 6);
	eth(&frames[3], 0x86dd, NULL, 0);
	ipv6(&frames[3], v6_vectors[1].src, v6_vectors[1].dst, 0);
	ext_dstopts_pad(&frames[3], 43);
	ext_rt2(&frames[3], 44, rt2_addr);
	ext_frag(&frames[3], 51, 0, false);
	ext_ah(&frames[3], 60);
	ext_dstopts_hao(&frames[3], 17, home_addr);
	l4(&frames[3], 17, 7, 8);
	eth(&frames[4], 0x86dd, qinq, 1);
	ipv6(&frames[4], v6_vectors[2].src, v6_vectors[2].dst, 44);
	ext_frag(&frames[4], 6, 10, true);
	l4(&frames[4], 6, 9, 10);
	eth(&frames[5], 0x0800, NULL, 0);
	ipv4(&frames[5], v4_vectors[2].src, v4_vectors[2].dst, 6, 15, 0x2000);

	for (int types = 0; types < 2; types++) {
		configure(e->r, types ? ALL : (T_TCP_EX | T_UDP_EX | T_IP_EX), 64, 3);
		for (size_t i = 0; i < 6; i++)
			for (size_t n = 0; n <= frames[i].n; n++) {
				uint32_t h;
				uint8_t rep;
				int q = classify_exact(e->r, frames[i].b, n, &h, &rep);

				assert_true(q >= 0 && q < PAIRS);
				assert_true(rep <= VIRTIO_NET_HASH_REPORT_UDPv6_EX);
				if (rep == VIRTIO_NET_HASH_REPORT_NONE)
					assert_int_equal(q, 3);
				else
					assert_int_equal(q, e->r->table[h & e->r->table_mask]);
			}
	}
}

/* Random bytes behind IPv4 / IPv6 / VLAN ethertypes. */
static void test_frame_random(void **state)
{
	struct env *e = *state;
	static const uint16_t etypes[] = { 0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806 };
	static const uint8_t nhs[] = { 0, 6, 17, 43, 44, 50, 51, 59, 60, 135, 139, 140, 253 };
	uint8_t f[300];

	for (int round = 0; round < 20000; round++) {
		size_t n = rnd() % sizeof(f);
		uint32_t h;
		uint8_t rep;
		int q;

		for (size_t i = 0; i < n; i++)
			f[i] = (uint8_t)rnd();
		if (n >= 14) {
			uint16_t t = etypes[rnd() % 5];

			f[12] = t >> 8;
			f[13] = t & 0xff;
		}
		if (n >= 18 && (rnd() & 1)) { /* IPv4/IPv6 after the tag */
			f[16] = rnd() & 1 ? 0x08 : 0x86;
			f[17] = f[16] == 0x08 ? 0x00 : 0xdd;
		}
		if (n > 20 && (rnd() & 1))
			f[14] = (f[12] == 0x86 ? 0x60 : 0x40) | (rnd() & 0xf);
		/* Plausible IPv6 extension chains. */
		for (size_t at = 20; at + 1 < n; at += 8)
			if (rnd() % 3 == 0) {
				f[at] = nhs[rnd() % sizeof(nhs)];
				f[at + 1] = (uint8_t)(rnd() % 4);
			}
		q = classify_exact(e->r, f, n, &h, &rep);
		assert_true(q >= 0 && q < PAIRS);
		assert_true(rep <= VIRTIO_NET_HASH_REPORT_UDPv6_EX);
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

static int group_setup(void **state)
{
	(void)state;
	hal_log_set_sink(count_log);
	hal_log_set_ratelimit(100000, 1000);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	hal_log_set_sink(NULL);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_toeplitz_ms_ipv4),
		T(test_toeplitz_ms_ipv6),
		T(test_toeplitz_table_matches_bit_loop),
		T(test_toeplitz_linear),
		T(test_classify_ms_ipv4_tcp),
		T(test_classify_ms_ipv4_udp),
		T(test_classify_ms_ipv6),
		T(test_classify_family_types),
		T(test_classify_vlan),
		T(test_classify_ipv4_options),
		T(test_classify_ipv4_fragments),
		T(test_classify_ipv6_ex_home_address),
		T(test_classify_ipv6_ex_routing_type2),
		T(test_classify_ipv6_ex_not_for_plain),
		T(test_classify_ipv6_fragment_and_ah),
		T(test_queue_selection),
		T(test_unclassified_queue),
		T(test_hash_report_only),
		T(test_init_reset_disable),
		T(test_config_accepts_limits),
		T(test_cfg_short_fixed_part),
		T(test_cfg_ends_inside_table),
		T(test_cfg_ends_inside_key),
		T(test_cfg_trailing_bytes),
		T(test_cfg_table_not_power_of_two),
		T(test_cfg_table_too_long),
		T(test_cfg_table_length_wraps_to_zero),
		T(test_cfg_table_queue_out_of_range),
		T(test_cfg_table_queue_reserved_bit),
		T(test_cfg_unclassified_out_of_range),
		T(test_cfg_key_too_long),
		T(test_cfg_types_without_key),
		T(test_cfg_hash_types_unsupported),
		T(test_cfg_hash_types_undefined),
		T(test_cfg_max_tx_vq_zero),
		T(test_cfg_max_tx_vq_too_big),
		T(test_cfg_bad_device_limits),
		T(test_hash_cfg_short),
		T(test_hash_cfg_key_too_long),
		T(test_hash_cfg_types_unsupported),
		T(test_frame_short_ethernet),
		T(test_frame_ipv4_short_header),
		T(test_frame_ipv4_ihl_below_5),
		T(test_frame_ipv4_ihl_beyond_frame),
		T(test_frame_ip_bad_version),
		T(test_frame_l4_truncated),
		T(test_frame_ipv6_short_header),
		T(test_frame_ipv6_ext_runs_off_end),
		T(test_frame_ipv6_ext_chain_too_long),
		T(test_frame_ipv6_bad_options),
		T(test_frame_every_prefix),
		T(test_frame_random),
	};
	return cmocka_run_group_tests_name("vnet_rss", tests, group_setup, group_teardown);
}
