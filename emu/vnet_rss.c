/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Receive-side scaling for the virtio-net device: the Toeplitz hash, the
 * RSS_CONFIG / HASH_CONFIG control commands, and the classification of
 * received frames (virtio 1.3, device-types/net).
 */
#include <errno.h>
#include <string.h>

#include "hal_log.h"
#include "vnet_rss.h"

#define COMP "vnet"

#define ETH_HLEN        14
#define ETH_P_IPV4      0x0800
#define ETH_P_IPV6      0x86dd
#define ETH_P_8021Q     0x8100
#define ETH_P_8021AD    0x88a8

#define IPV4_HLEN       20
#define IPV6_HLEN       40
#define TCP_HLEN        20
#define UDP_HLEN        8

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_TCP_     6
#define IPPROTO_UDP_     17
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAG_    44
#define IPPROTO_ESP_     50
#define IPPROTO_AH_      51
#define IPPROTO_NONE_    59
#define IPPROTO_DSTOPTS_ 60
#define IPPROTO_MH_      135
#define IPPROTO_HIP_     139
#define IPPROTO_SHIM6_   140
#define IPPROTO_EXP1_    253
#define IPPROTO_EXP2_    254

#define IPV6_TLV_PAD1    0
#define IPV6_TLV_HAO     0xc9 /* home address option (RFC 6275 6.3) */
#define IPV6_RT_TYPE2    2    /* type 2 routing header (RFC 6275 6.4) */

/* ---- Toeplitz ----------------------------------------------------------- */

static inline uint8_t key_byte(const uint8_t *key, size_t key_len, size_t i)
{
	return i < key_len ? key[i] : 0;
}

/* The 64 key bits starting at byte offset `at`, first key bit in bit 63. */
static inline uint64_t key_window(const uint8_t *key, size_t key_len,
				  size_t at)
{
	uint64_t w = 0;

	for (size_t i = 0; i < 8; i++)
		w = w << 8 | key_byte(key, key_len, at + i);
	return w;
}

uint32_t vnet_toeplitz(const uint8_t *key, size_t key_len, const uint8_t *in,
		       size_t len)
{
	uint64_t w = key_window(key, key_len, 0);
	uint32_t h = 0;

	/* Invariant: w holds key bits [8i, 8i + 63]. Input bit j of byte i
	 * (j = 0 the most significant) selects key bits [8i + j, 8i + j + 31]
	 * = w >> (32 - j). Branch-free: input bits are random. */
	for (size_t i = 0; i < len; i++) {
		uint32_t b = in[i];

#define TOEPLITZ_STEP(j) \
		h ^= (uint32_t)(w >> (32 - (j))) & (0u - ((b >> (7 - (j))) & 1u))
		TOEPLITZ_STEP(0);
		TOEPLITZ_STEP(1);
		TOEPLITZ_STEP(2);
		TOEPLITZ_STEP(3);
		TOEPLITZ_STEP(4);
		TOEPLITZ_STEP(5);
		TOEPLITZ_STEP(6);
		TOEPLITZ_STEP(7);
#undef TOEPLITZ_STEP
		w = w << 8 | key_byte(key, key_len, i + 8);
	}
	return h;
}

/* lut[i][v] = vnet_toeplitz of an input that is v at offset i and zero
 * elsewhere; by linearity the hash is the XOR of one entry per byte. */
static void build_lut(struct vnet_rss *r)
{
	for (size_t i = 0; i < VNET_RSS_INPUT_MAX; i++) {
		uint64_t w = key_window(r->key, r->key_len, i);
		uint32_t bit[8]; /* bit[k]: contribution of value 1 << k */
		uint32_t *row = r->lut[i];

		for (unsigned k = 0; k < 8; k++)
			bit[k] = (uint32_t)(w >> (25 + k)); /* 32 - (7 - k) */
		row[0] = 0;
		for (unsigned v = 1; v < 256; v++)
			row[v] = row[v & (v - 1)] ^ bit[__builtin_ctz(v)];
	}
}

uint32_t vnet_rss_hash(const struct vnet_rss *r, const uint8_t *in,
		       size_t len)
{
	uint32_t h = 0;

	if (len > VNET_RSS_INPUT_MAX)
		return vnet_toeplitz(r->key, r->key_len, in, len);
	for (size_t i = 0; i < len; i++)
		h ^= r->lut[i][in[i]];
	return h;
}

/* ---- configuration ------------------------------------------------------ */

static void set_defaults(struct vnet_rss *r)
{
	uint16_t table_max = r->table_max;

	/* Also wipes the key and the tables derived from it. */
	memset(r, 0, sizeof(*r));
	r->table_max = table_max;
	r->table_len = 1;
	r->table_mask = 0;
	r->max_tx_vq = 1;
	/* A zero key gives an all-zero lut: memset already built it. */
}

int vnet_rss_init(struct vnet_rss *r, uint16_t table_max)
{
	if (table_max == 0 || table_max > VNET_RSS_TABLE_MAX)
		return -EINVAL;
	r->table_max = table_max;
	set_defaults(r);
	return 0;
}

void vnet_rss_reset(struct vnet_rss *r)
{
	set_defaults(r);
}

void vnet_rss_disable(struct vnet_rss *r)
{
	r->enabled = false;
}

static inline uint16_t rd_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t rd_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint16_t rd_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Offsets in struct virtio_net_rss_config (n = table entries) and struct
 * virtio_net_hash_config, which shares the layout of the former with n = 1
 * (reserved[4] covers mask, unclassified_queue, table[0], max_tx_vq). */
#define RSS_OFF_TYPES    0
#define RSS_OFF_MASK     4
#define RSS_OFF_UNCLASS  6
#define RSS_OFF_TABLE    8
#define HASH_OFF_KEYLEN  12

int vnet_rss_parse_config(struct vnet_rss *r, const void *buf, size_t len,
			  uint16_t max_pairs, uint16_t max_table_len,
			  uint8_t max_key_len, uint32_t supported_types,
			  bool rss_command)
{
	const uint8_t *p = buf;
	const char *why;
	uint16_t table[VNET_RSS_TABLE_MAX];
	uint32_t types, n = 1;
	uint16_t unclass = 0, max_tx_vq = r->max_tx_vq;
	size_t key_off;
	uint8_t key_len;
	int rc;

	if (max_pairs == 0 || max_pairs > 0x8000 || max_table_len == 0 ||
	    max_table_len > r->table_max || max_key_len > VNET_RSS_KEY_MAX) {
		rc = -EINVAL;
		why = "device limits out of range";
		goto bad;
	}
	table[0] = 0;

	if (rss_command) {
		uint32_t mask;
		size_t tail;

		if (!p || len < RSS_OFF_TABLE) {
			rc = -EMSGSIZE;
			why = "shorter than its fixed part";
			goto bad;
		}
		mask = rd_le16(p + RSS_OFF_MASK);
		n = mask + 1; /* 1..0x10000: never 0 in 32 bits */
		if (n & (n - 1)) {
			rc = -EINVAL;
			why = "indirection table length not a power of two";
			goto bad;
		}
		if (n > max_table_len) {
			rc = -EINVAL;
			why = "indirection table too long";
			goto bad;
		}
		/* n <= VNET_RSS_TABLE_MAX from here: no overflow below. */
		tail = RSS_OFF_TABLE + 2 * (size_t)n; /* max_tx_vq, key_len */
		if (len < tail + 3) {
			rc = -EMSGSIZE;
			why = "payload ends inside the table";
			goto bad;
		}
		unclass = rd_le16(p + RSS_OFF_UNCLASS);
		max_tx_vq = rd_le16(p + tail);
		key_len = p[tail + 2];
		key_off = tail + 3;
	} else {
		if (!p || len < VNET_HASH_CONFIG_MIN_LEN) {
			rc = -EMSGSIZE;
			why = "shorter than its fixed part";
			goto bad;
		}
		key_len = p[HASH_OFF_KEYLEN];
		key_off = VNET_HASH_CONFIG_MIN_LEN;
	}

	if (len != key_off + key_len) {
		rc = -EMSGSIZE;
		why = len < key_off + key_len ? "payload ends inside the key"
					      : "trailing bytes after the key";
		goto bad;
	}
	types = rd_le32(p + RSS_OFF_TYPES);
	if (types & ~(supported_types & VNET_RSS_HASH_TYPES_ALL)) {
		rc = -EOPNOTSUPP;
		why = "hash type not supported";
		goto bad;
	}
	if (key_len > max_key_len) {
		rc = -EINVAL;
		why = "key too long";
		goto bad;
	}
	if (types && key_len == 0) {
		rc = -EINVAL;
		why = "hash types enabled without a key";
		goto bad;
	}
	if (rss_command) {
		if (unclass >= max_pairs) {
			rc = -ERANGE;
			why = "unclassified queue out of range";
			goto bad;
		}
		if (max_tx_vq == 0 || max_tx_vq > max_pairs) {
			rc = -ERANGE;
			why = "max_tx_vq out of range";
			goto bad;
		}
		/* Read each entry once, into our own copy, and check that. */
		for (uint32_t i = 0; i < n; i++) {
			table[i] = rd_le16(p + RSS_OFF_TABLE + 2 * i);
			if (table[i] >= max_pairs) {
				rc = -ERANGE;
				why = "indirection table entry out of range";
				goto bad;
			}
		}
	}

	/* Everything checked: apply (from our own copies, read once). */
	{
		uint8_t key[VNET_RSS_KEY_MAX] = { 0 };
		bool new_key;

		memcpy(key, p + key_off, key_len);
		new_key = key_len != r->key_len ||
			  memcmp(r->key, key, sizeof(key)) != 0;

		r->enabled = rss_command;
		r->hash_types = types;
		r->table_len = (uint16_t)n;
		r->table_mask = (uint16_t)(n - 1);
		memcpy(r->table, table, n * sizeof(table[0]));
		r->unclassified_queue = unclass;
		r->max_tx_vq = max_tx_vq;
		if (new_key) {
			memcpy(r->key, key, sizeof(key));
			r->key_len = key_len;
			build_lut(r);
		}
		memset(key, 0, sizeof(key));
	}
	return 0;

bad:
	HAL_LOG_RL(HAL_LOG_WARN, COMP,
		   "vnet_rss_parse_config: %s command refused (%zu bytes): %s",
		   rss_command ? "RSS_CONFIG" : "HASH_CONFIG", len, why);
	return rc;
}

/* ---- classification ----------------------------------------------------- */

/* What the IPv6 walk found. */
struct v6_walk {
	bool ext;             /* at least one extension header */
	bool malformed;       /* ran off the frame or past the bound */
	int l4;               /* upper-layer protocol, or -1 */
	size_t l4_off;
	const uint8_t *home;  /* home address option's address */
	const uint8_t *rt2;   /* type 2 routing header's address */
};

/* Scan the options of a destination options header [opt, end) for the home
 * address option. Bounded by the header, which is inside the frame. */
static const uint8_t *find_hao(const uint8_t *opt, const uint8_t *end)
{
	while (opt < end) {
		if (opt[0] == IPV6_TLV_PAD1) {
			opt++;
			continue;
		}
		if (end - opt < 2 || end - opt - 2 < opt[1])
			return NULL; /* option runs past its header */
		if (opt[0] == IPV6_TLV_HAO && opt[1] >= 16)
			return opt + 2;
		opt += 2 + opt[1];
	}
	return NULL;
}

static void walk_ipv6(const uint8_t *f, size_t len, size_t off,
		      struct v6_walk *w)
{
	uint8_t nh = f[off + 6];
	size_t p = off + IPV6_HLEN;

	memset(w, 0, sizeof(*w));
	w->l4 = -1;
	for (unsigned hops = 0;; hops++) {
		size_t hl;

		switch (nh) {
		case IPPROTO_HOPOPTS_:
		case IPPROTO_ROUTING_:
		case IPPROTO_DSTOPTS_:
		case IPPROTO_HIP_:
		case IPPROTO_SHIM6_:
		case IPPROTO_EXP1_:
		case IPPROTO_EXP2_:
		case IPPROTO_FRAG_:
		case IPPROTO_AH_:
			break;
		case IPPROTO_ESP_:   /* encrypted: nothing beyond is readable */
		case IPPROTO_MH_:    /* mobility header: no upper layer after */
			w->ext = true;
			return;
		case IPPROTO_NONE_:
			return;
		default:
			w->l4 = nh;
			w->l4_off = p;
			return;
		}
		/* One more extension header. */
		if (hops == VNET_RSS_MAX_EXT_HDRS || len - p < 8) {
			w->malformed = true;
			return;
		}
		w->ext = true;
		if (nh == IPPROTO_FRAG_)
			hl = 8;
		else if (nh == IPPROTO_AH_)
			hl = ((size_t)f[p + 1] + 2) * 4;
		else
			hl = ((size_t)f[p + 1] + 1) * 8;
		if (len - p < hl) {
			w->malformed = true;
			return;
		}
		if (nh == IPPROTO_FRAG_ && (rd_be16(f + p + 2) & 0xfff9)) {
			/* Offset (bits 15-3) or M (bit 0): a fragment; the
			 * upper-layer header is not hashed. */
			return;
		}
		if (nh == IPPROTO_DSTOPTS_ && !w->home)
			w->home = find_hao(f + p + 2, f + p + hl);
		if (nh == IPPROTO_ROUTING_ && f[p + 2] == IPV6_RT_TYPE2 &&
		    hl >= 24 && !w->rt2)
			w->rt2 = f + p + 8;
		nh = f[p];
		p += hl;
	}
}

/* The upper-layer header present in full, or -1. */
static int l4_present(int proto, size_t l4_off, size_t len)
{
	if (proto == IPPROTO_TCP_ && l4_off <= len && len - l4_off >= TCP_HLEN)
		return IPPROTO_TCP_;
	if (proto == IPPROTO_UDP_ && l4_off <= len && len - l4_off >= UDP_HLEN)
		return IPPROTO_UDP_;
	return -1;
}

/* Build the hash input; returns its length (0: no hash) and the report. */
static size_t hash_input(uint32_t types, const uint8_t *f, size_t len,
			 uint8_t in[VNET_RSS_INPUT_MAX], uint8_t *report)
{
	size_t off = ETH_HLEN;
	uint16_t etype;

	if (len < ETH_HLEN)
		return 0;
	etype = rd_be16(f + 12);
	for (unsigned t = 0; t < VNET_RSS_MAX_VLAN_TAGS &&
	     (etype == ETH_P_8021Q || etype == ETH_P_8021AD); t++) {
		if (len - off < 4)
			return 0;
		etype = rd_be16(f + off + 2);
		off += 4;
	}

	if (etype == ETH_P_IPV4) {
		size_t ihl;
		int l4 = -1;

		if (len - off < IPV4_HLEN || (f[off] >> 4) != 4)
			return 0;
		ihl = (size_t)(f[off] & 0xf) * 4;
		if (ihl < IPV4_HLEN || len - off < ihl)
			return 0;
		if (!(rd_be16(f + off + 6) & 0x3fff)) /* not a fragment */
			l4 = l4_present(f[off + 9], off + ihl, len);
		memcpy(in, f + off + 12, 8);
		if (l4 == IPPROTO_TCP_ && (types & VIRTIO_NET_RSS_HASH_TYPE_TCPv4)) {
			memcpy(in + 8, f + off + ihl, 4);
			*report = VIRTIO_NET_HASH_REPORT_TCPv4;
			return 12;
		}
		if (l4 == IPPROTO_UDP_ && (types & VIRTIO_NET_RSS_HASH_TYPE_UDPv4)) {
			memcpy(in + 8, f + off + ihl, 4);
			*report = VIRTIO_NET_HASH_REPORT_UDPv4;
			return 12;
		}
		if (types & VIRTIO_NET_RSS_HASH_TYPE_IPv4) {
			*report = VIRTIO_NET_HASH_REPORT_IPv4;
			return 8;
		}
		return 0;
	}

	if (etype == ETH_P_IPV6) {
		struct v6_walk w;
		int l4;

		if (len - off < IPV6_HLEN || (f[off] >> 4) != 6)
			return 0;
		walk_ipv6(f, len, off, &w);
		if (w.malformed) {
			if (!(types & VIRTIO_NET_RSS_HASH_TYPE_IPv6))
				return 0;
			memcpy(in, f + off + 8, 32);
			*report = VIRTIO_NET_HASH_REPORT_IPv6;
			return 32;
		}
		l4 = l4_present(w.l4, w.l4_off, len);
		if (w.ext) {
			uint8_t rep = VIRTIO_NET_HASH_REPORT_NONE;

			if (l4 == IPPROTO_TCP_ && (types & VIRTIO_NET_RSS_HASH_TYPE_TCP_EX))
				rep = VIRTIO_NET_HASH_REPORT_TCPv6_EX;
			else if (l4 == IPPROTO_UDP_ && (types & VIRTIO_NET_RSS_HASH_TYPE_UDP_EX))
				rep = VIRTIO_NET_HASH_REPORT_UDPv6_EX;
			else if (types & VIRTIO_NET_RSS_HASH_TYPE_IP_EX)
				rep = VIRTIO_NET_HASH_REPORT_IPv6_EX;
			if (rep != VIRTIO_NET_HASH_REPORT_NONE) {
				memcpy(in, w.home ? w.home : f + off + 8, 16);
				memcpy(in + 16, w.rt2 ? w.rt2 : f + off + 24, 16);
				*report = rep;
				if (rep == VIRTIO_NET_HASH_REPORT_IPv6_EX)
					return 32;
				memcpy(in + 32, f + w.l4_off, 4);
				return 36;
			}
			/* Else: skip the extension headers, hash as without. */
		}
		memcpy(in, f + off + 8, 32);
		if (l4 == IPPROTO_TCP_ && (types & VIRTIO_NET_RSS_HASH_TYPE_TCPv6)) {
			memcpy(in + 32, f + w.l4_off, 4);
			*report = VIRTIO_NET_HASH_REPORT_TCPv6;
			return 36;
		}
		if (l4 == IPPROTO_UDP_ && (types & VIRTIO_NET_RSS_HASH_TYPE_UDPv6)) {
			memcpy(in + 32, f + w.l4_off, 4);
			*report = VIRTIO_NET_HASH_REPORT_UDPv6;
			return 36;
		}
		if (types & VIRTIO_NET_RSS_HASH_TYPE_IPv6) {
			*report = VIRTIO_NET_HASH_REPORT_IPv6;
			return 32;
		}
	}
	return 0;
}

int vnet_rss_classify(const struct vnet_rss *r, const uint8_t *frame,
		      size_t len, uint32_t *hash, uint8_t *report)
{
	uint8_t in[VNET_RSS_INPUT_MAX];
	uint8_t rep = VIRTIO_NET_HASH_REPORT_NONE;
	uint32_t h = 0;
	size_t n = 0;

	/* Steering off and nobody wants the hash: nothing to compute. */
	if (!r->enabled && !hash && !report)
		return 0;
	if (r->hash_types && frame)
		n = hash_input(r->hash_types, frame, len, in, &rep);
	if (n)
		h = vnet_rss_hash(r, in, n);
	else
		rep = VIRTIO_NET_HASH_REPORT_NONE;
	if (hash)
		*hash = h;
	if (report)
		*report = rep;
	if (!r->enabled)
		return 0;
	return n ? r->table[h & r->table_mask] : r->unclassified_queue;
}

/* ---- the flow key of automatic receive steering (vnet_dp.h) ------------- */
#define FLOW_TYPES \
	(VIRTIO_NET_RSS_HASH_TYPE_IPv4 | VIRTIO_NET_RSS_HASH_TYPE_TCPv4 | \
	 VIRTIO_NET_RSS_HASH_TYPE_UDPv4 | VIRTIO_NET_RSS_HASH_TYPE_IPv6 | \
	 VIRTIO_NET_RSS_HASH_TYPE_TCPv6 | VIRTIO_NET_RSS_HASH_TYPE_UDPv6)

static inline uint64_t ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

bool vnet_flow_key(const uint8_t *frame, uint32_t len, uint32_t *key)
{
	uint8_t in[VNET_RSS_INPUT_MAX], rep = 0;
	size_t n = frame ? hash_input(FLOW_TYPES, frame, len, in, &rep) : 0;
	uint64_t a[2] = { 0, 0 }, b[2] = { 0, 0 };
	uint16_t pa = 0, pb = 0;

	if (!n)
		return false;
	/* The hash input is source, destination (and source port,
	 * destination port); a reply has them the other way round. Order the
	 * two endpoints (any fixed order will do) so both directions give one
	 * key. Fixed-size loads: this runs for every packet in automatic
	 * steering mode. */
	if (n == 8 || n == 12) {
		uint32_t x, y;
		memcpy(&x, in, 4);
		memcpy(&y, in + 4, 4);
		a[0] = x;
		b[0] = y;
		if (n == 12) {
			memcpy(&pa, in + 8, 2);
			memcpy(&pb, in + 10, 2);
		}
	} else {
		a[0] = ld64(in);
		a[1] = ld64(in + 8);
		b[0] = ld64(in + 16);
		b[1] = ld64(in + 24);
		if (n == 36) {
			memcpy(&pa, in + 32, 2);
			memcpy(&pb, in + 34, 2);
		}
	}
	bool swap = a[0] != b[0] ? a[0] > b[0] : a[1] != b[1] ? a[1] > b[1] : pa > pb;
	if (swap) {
		uint64_t t0 = a[0], t1 = a[1];
		uint16_t tp = pa;
		a[0] = b[0];
		a[1] = b[1];
		b[0] = t0;
		b[1] = t1;
		pa = pb;
		pb = tp;
	}
	uint64_t h = mix64(a[0] ^ 0x9e3779b97f4a7c15ull);
	h = mix64(h ^ a[1]);
	h = mix64(h ^ b[0]);
	h = mix64(h ^ b[1] ^ ((uint64_t)pa << 32 | (uint64_t)pb << 48));
	*key = (uint32_t)(h ^ (h >> 32));
	return true;
}
