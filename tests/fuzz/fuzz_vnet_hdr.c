/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_vnet_hdr — libFuzzer target for the virtio-net header and its
 * mapping to mbuf offload metadata (emu/vnet_hdr.c).
 *
 * TX: a hostile driver's header over a hostile packet goes through
 * vnet_hdr_to_mbuf(). RX: a packet off the wire, with whatever ol_flags
 * and tso_segsz a port (or a loop back from TX) left, goes through
 * vnet_hdr_from_mbuf() and then vnet_rx_fixup() with the work it asked
 * for. No EAL: each mbuf is a plain struct rte_mbuf, each segment's data
 * its own heap buffer of exactly the segment's size (a zero-length
 * segment is a zero-size allocation), so ASan sees any access past a
 * segment.
 *
 * Input layout (all little-endian):
 *
 *   off len
 *    0   2  features: bit i negotiates the i-th of CSUM, GUEST_CSUM,
 *           GUEST_TSO4, GUEST_TSO6, GUEST_ECN, GUEST_UFO, HOST_TSO4,
 *           HOST_TSO6, HOST_ECN, HOST_UFO, MRG_RXBUF, GUEST_USO4,
 *           GUEST_USO6, HOST_USO, HASH_REPORT, VERSION_1
 *    2  12  the TX header (struct vnet_hdr as the driver wrote it)
 *   14   1  bits 0-1 TX mbuf segments (1 + b % 3); bits 2-3 RX mbuf
 *           segments (likewise); bit 4 stale offload metadata in the TX
 *           mbuf; bit 5 loop the TX result back through the RX path;
 *           bits 6-7 VNET_RX_IP_CSUM, VNET_RX_DROP for the last fixup
 *   15   2  where the first segment ends: v % (len + 1)
 *   17   2  where the second ends: cut0 + v % (len - cut0 + 1)
 *           (segments may be empty)
 *   19   2  RX ol_flags: bits 0-1 RX L4 checksum state (UNKNOWN, BAD,
 *           GOOD, NONE); bits 2-3 TX L4 request (none, TCP, SCTP, UDP);
 *           bit 4 RX_LRO; 5 TX_TCP_SEG; 6 TX_UDP_SEG; 7 TX_IP_CKSUM;
 *           8 TX_IPV4; 9 TX_IPV6; 10 RX_VLAN | RX_VLAN_STRIPPED;
 *           11 RX_IP_CKSUM_GOOD; 12 stale l2/l3/l4_len; 13-15
 *           VNET_RX_SEGMENT, CSUM, PSEUDO for the last fixup: once more
 *           on a fresh copy of the RX mbuf, vnet_rx_fixup() with the work
 *           these five bits ask for (when any), whatever the packet is
 *   21   2  RX tso_segsz
 *   23      the packet (the rest, at most 65535 bytes)
 *
 * Checks (the harness traps on any failure):
 *  TX  rc is 0 or -EINVAL; every header the header file says must be
 *      refused is; a refusal clears the TX offload fields and leaves the
 *      data and the other ol_flags alone. Accepted with offload flags: the
 *      flags are one consistent combination (one L4 checksum, one of
 *      IPV4/IPV6, tso_segsz nonzero iff TCP_SEG/UDP_SEG, the segmentation
 *      kind and IP version gso_type asked for, IP_CKSUM iff segmenting
 *      IPv4), csum_start/csum_offset are the transport checksum at
 *      l2_len + l3_len, l2/l3/l4_len are plausible for the headers found
 *      at those offsets and lie within the packet, and the data is
 *      untouched. Accepted without: nothing requested and the data
 *      untouched, or (NEEDS_CSUM) a software checksum that changed only
 *      the two bytes at csum_start + csum_offset and that sums to 0xffff
 *      with the driver's pseudo-header sum (for an even csum_offset).
 *  RX  vnet_hdr_from_mbuf writes neither the data nor the mbuf; the
 *      header follows the spec's rules: num_buffers 1; no flag but
 *      NEEDS_CSUM / DATA_VALID and none without GUEST_CSUM; NEEDS_CSUM
 *      iff VNET_RX_PSEUDO, with csum_start + csum_offset + 2 <= len at a
 *      TCP/UDP checksum offset; gso_type != NONE only with NEEDS_CSUM, a
 *      negotiated GUEST_* feature for it (never UFO), ECN only with
 *      GUEST_ECN on TCP, gso_size nonzero and less than the payload,
 *      hdr_len covering the checksum field and within the packet.
 *      vnet_rx_fixup returns 0 or -EINVAL and writes only the fields it
 *      was asked to: the IPv4 header checksum (then correct), the L4
 *      checksum field (then the pseudo-header sum for VNET_RX_PSEUDO, a
 *      checksum that verifies for VNET_RX_CSUM); VNET_RX_SEGMENT writes
 *      only metadata, a consistent TSO/USO request. Work asked of a packet
 *      without a TCP/UDP header (or SEGMENT with tso_segsz 0) is refused.
 *  hash  vnet_hdr_set_hash (value and report taken from the TX header's
 *      bytes) writes them and a zero padding little-endian and leaves the
 *      header alone.
 *  loop  an mbuf TX accepted with offloads comes back from the RX path
 *      with the same checksum position and a matching gso_type.
 *
 * FUZZ_VNET_HDR_VERBOSE=1 in the environment keeps the library's log
 * lines and prints what each input did.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mbuf.h>

#include "hal_log.h"
#include "vnet_hdr.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                          \
	do {                                                              \
		if (!(c)) {                                               \
			fprintf(stderr, "fuzz_vnet_hdr: check failed at line %d: %s\n", \
				__LINE__, #c);                            \
			__builtin_trap();                                 \
		}                                                         \
	} while (0)

#define F(b) (1ull << (b))
#define HDR_LEN  23u
#define MAX_PKT  65535u
#define TX_MASK  RTE_MBUF_F_TX_OFFLOAD_MASK
#define SEG_MASK (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)
#define RX_ALL   (VNET_RX_SEGMENT | VNET_RX_CSUM | VNET_RX_PSEUDO | \
		  VNET_RX_IP_CSUM | VNET_RX_DROP)

static bool g_verbose; /* FUZZ_VNET_HDR_VERBOSE */

static const uint8_t feat_bits[16] = {
	VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4,
	VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_ECN, VIRTIO_NET_F_GUEST_UFO,
	VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_HOST_ECN,
	VIRTIO_NET_F_HOST_UFO, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_GUEST_USO4,
	VIRTIO_NET_F_GUEST_USO6, VIRTIO_NET_F_HOST_USO, VIRTIO_NET_F_HASH_REPORT,
	32, /* VIRTIO_F_VERSION_1 */
};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- checksums, the naive way ---------------------------------------------- */

/* Big-endian word sum of p[0..n), p[0] the high byte of the first word. */
static uint64_t ref_sum(const uint8_t *p, uint32_t n)
{
	uint64_t s = 0;

	for (uint32_t i = 0; i < n; i++)
		s += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	return s;
}

static uint16_t ref_fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* ---- mbufs without a mempool ------------------------------------------------ */

struct chain {
	struct rte_mbuf m[3];
	int n;
	uint32_t len;
};

/* d[0..len) as n segments cut at c0 <= c1, each in its own heap buffer of
 * exactly its size. */
static void chain_build(struct chain *c, const uint8_t *d, uint32_t len,
			int n, uint32_t c0, uint32_t c1)
{
	uint32_t cuts[3] = { c0, c1, len }, from = 0;

	if (n == 1)
		cuts[0] = len;
	else if (n == 2)
		cuts[1] = len;
	memset(c, 0, sizeof(*c));
	c->n = n;
	c->len = len;
	for (int i = 0; i < n; i++) {
		uint32_t sl = cuts[i] - from;
		uint8_t *buf = malloc(sl);
		struct rte_mbuf *s = &c->m[i];

		CHECK(buf != NULL || sl == 0);
		memcpy(buf, d + from, sl);
		s->buf_addr = buf;
		s->buf_len = (uint16_t)sl;
		s->data_off = 0;
		s->data_len = (uint16_t)sl;
		s->pkt_len = sl;
		s->nb_segs = 1;
		s->next = i + 1 < n ? &c->m[i + 1] : NULL;
		from = cuts[i];
	}
	c->m[0].pkt_len = len;
	c->m[0].nb_segs = (uint16_t)n;
}

/* The chain's data, flattened into out[0..len). */
static void chain_read(const struct chain *c, uint8_t *out)
{
	uint32_t at = 0;

	for (const struct rte_mbuf *s = &c->m[0]; s != NULL; s = s->next) {
		memcpy(out + at, s->buf_addr, s->data_len);
		at += s->data_len;
	}
	CHECK(at == c->len);
}

static void chain_free(struct chain *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->m[i].buf_addr);
	c->n = 0;
}

/* The VLAN-tag walk every offload parse starts with: the L3 offset. */
static uint32_t ref_l2(const uint8_t *p, uint32_t len)
{
	uint32_t off = 14;
	uint16_t t;

	if (len < 14)
		return 0;
	t = be16(p + 12);
	for (int i = 0; i < 2 && (t == 0x8100 || t == 0x88a8); i++) {
		if (len < off + 4)
			return 0;
		t = be16(p + off + 2);
		off += 4;
	}
	return off;
}

/* ---- TX ----------------------------------------------------------------------- */

/* Refusals the header file requires, from the header, features and
 * length alone. */
static bool tx_must_refuse(const struct vnet_hdr *h, uint64_t f, uint32_t len)
{
	const uint8_t gso = h->gso_type, base = gso & 0x7f;
	const bool csum = h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
	uint32_t start = vle16_to_cpu(h->csum_start);
	uint32_t off = vle16_to_cpu(h->csum_offset);

	if (csum && !(f & F(VIRTIO_NET_F_CSUM)))
		return true;
	if (csum && start + off + 2 > len)
		return true;
	switch (base) {
	case VIRTIO_NET_HDR_GSO_NONE: break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!(f & F(VIRTIO_NET_F_HOST_TSO4)))
			return true;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!(f & F(VIRTIO_NET_F_HOST_TSO6)))
			return true;
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		if (!(f & F(VIRTIO_NET_F_HOST_UFO)))
			return true;
		break;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		if (!(f & F(VIRTIO_NET_F_HOST_USO)))
			return true;
		break;
	default:
		return true;
	}
	if ((gso & VIRTIO_NET_HDR_GSO_ECN) &&
	    (!(f & F(VIRTIO_NET_F_HOST_ECN)) ||
	     (base != VIRTIO_NET_HDR_GSO_TCPV4 && base != VIRTIO_NET_HDR_GSO_TCPV6)))
		return true;
	if (base != VIRTIO_NET_HDR_GSO_NONE &&
	    (vle16_to_cpu(h->gso_size) == 0 || !csum))
		return true;
	return false;
}

/* Offload flags set: a consistent request over headers that are there. */
static void check_tx_offload(const struct rte_mbuf *m, const struct vnet_hdr *h,
			     const uint8_t *p, uint32_t len)
{
	const uint64_t ol = m->ol_flags & TX_MASK;
	const uint64_t l4f = ol & RTE_MBUF_F_TX_L4_MASK, seg = ol & SEG_MASK;
	const uint8_t base = h->gso_type & 0x7f;
	const bool tcp = l4f == RTE_MBUF_F_TX_TCP_CKSUM;
	const bool v4 = ol & RTE_MBUF_F_TX_IPV4, v6 = ol & RTE_MBUF_F_TX_IPV6;
	const uint32_t l2 = m->l2_len, l3 = m->l3_len, l4 = m->l4_len;

	CHECK(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
	CHECK(!(ol & ~(RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_IPV4 |
		       RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_IP_CKSUM | SEG_MASK)));
	CHECK(l4f == RTE_MBUF_F_TX_TCP_CKSUM || l4f == RTE_MBUF_F_TX_UDP_CKSUM);
	CHECK(v4 != v6);
	CHECK(seg != SEG_MASK);
	if (seg == RTE_MBUF_F_TX_TCP_SEG)
		CHECK(tcp);
	if (seg == RTE_MBUF_F_TX_UDP_SEG)
		CHECK(!tcp);
	/* tso_segsz is nonzero iff a segmentation flag is set. */
	CHECK((m->tso_segsz != 0) == (seg != 0));
	CHECK(!!(ol & RTE_MBUF_F_TX_IP_CKSUM) == (seg != 0 && v4));
	switch (base) {
	case VIRTIO_NET_HDR_GSO_NONE:
		CHECK(seg == 0);
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		CHECK(seg == RTE_MBUF_F_TX_TCP_SEG && v4);
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		CHECK(seg == RTE_MBUF_F_TX_TCP_SEG && v6);
		break;
	default: /* UDP (UFO), UDP_L4 (USO) */
		CHECK(seg == RTE_MBUF_F_TX_UDP_SEG);
		break;
	}
	if (seg) {
		CHECK(m->tso_segsz == vle16_to_cpu(h->gso_size));
		/* Never more segments than the bound. */
		CHECK(len >= l2 + l3 + l4 &&
		      (len - l2 - l3 - l4 + m->tso_segsz - 1) / m->tso_segsz <=
		      VNET_GSO_MAX_SEGS);
	}
	/* The checksum the driver asked for is the transport checksum. */
	CHECK(vle16_to_cpu(h->csum_start) == l2 + l3);
	CHECK(vle16_to_cpu(h->csum_offset) == (tcp ? 16 : 6));
	/* Lengths within the packet and plausible for what is there. */
	CHECK(l2 == 14 || l2 == 18 || l2 == 22);
	CHECK(l2 == ref_l2(p, len));
	CHECK(l3 >= 20 && l4 >= 8);
	CHECK(l2 + l3 + l4 <= len);
	CHECK(be16(p + l2 - 2) == (v4 ? 0x0800 : 0x86dd));
	CHECK(p[l2] >> 4 == (v4 ? 4 : 6));
	if (v4) {
		CHECK(l3 == (uint32_t)(p[l2] & 15) * 4 && l3 >= 20);
		CHECK(p[l2 + 9] == (tcp ? 6 : 17));
		CHECK(!(be16(p + l2 + 6) & 0x3fff)); /* not a fragment */
		CHECK(be16(p + l2 + 2) >= l3 + l4);
		CHECK(be16(p + l2 + 2) <= len - l2);
	} else {
		CHECK(l3 >= 40 && l3 % 8 == 0);
		if (l3 == 40)
			CHECK(p[l2 + 6] == (tcp ? 6 : 17));
		CHECK(be16(p + l2 + 4) >= l3 - 40 + l4);
		CHECK(be16(p + l2 + 4) <= len - l2 - 40);
	}
	if (tcp)
		CHECK(l4 >= 20 && l4 <= 60 && l4 == (uint32_t)(p[l2 + l3 + 12] >> 4) * 4);
	else
		CHECK(l4 == 8);
}

/* ---- RX ----------------------------------------------------------------------- */

/* The header's rules for what vnet_hdr_from_mbuf() returned. */
static void check_rx_hdr(const struct vnet_hdr *h, unsigned todo, uint64_t f,
			 uint32_t len, uint16_t segsz)
{
	const uint8_t fl = h->flags, gso = h->gso_type;
	const uint32_t start = vle16_to_cpu(h->csum_start);
	const uint32_t off = vle16_to_cpu(h->csum_offset);
	const uint32_t hdr_len = vle16_to_cpu(h->hdr_len);

	CHECK(!(todo & ~RX_ALL));
	if (todo & (VNET_RX_SEGMENT | VNET_RX_DROP))
		return; /* h is not valid */
	CHECK(vle16_to_cpu(h->num_buffers) == 1);
	CHECK(!(fl & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)));
	if (!(f & F(VIRTIO_NET_F_GUEST_CSUM)))
		CHECK(fl == 0);
	CHECK(!!(fl & VIRTIO_NET_HDR_F_NEEDS_CSUM) == !!(todo & VNET_RX_PSEUDO));
	if (todo & VNET_RX_CSUM)
		CHECK(!(f & F(VIRTIO_NET_F_GUEST_CSUM)) && fl == 0);
	if (fl & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		CHECK(start + off + 2 <= len);
		CHECK(off == 16 || off == 6);
		CHECK(start >= 14 + 20);
	}
	if (gso != VIRTIO_NET_HDR_GSO_NONE) {
		const uint8_t base = gso & 0x7f;

		CHECK(fl & VIRTIO_NET_HDR_F_NEEDS_CSUM);
		CHECK(vle16_to_cpu(h->gso_size) != 0);
		CHECK(vle16_to_cpu(h->gso_size) == segsz);
		CHECK(hdr_len >= start + off + 2 && hdr_len <= len);
		CHECK(len - hdr_len > segsz); /* more than one segment */
		switch (base) {
		case VIRTIO_NET_HDR_GSO_TCPV4:
			CHECK((f & F(VIRTIO_NET_F_GUEST_TSO4)) && off == 16);
			break;
		case VIRTIO_NET_HDR_GSO_TCPV6:
			CHECK((f & F(VIRTIO_NET_F_GUEST_TSO6)) && off == 16);
			break;
		case VIRTIO_NET_HDR_GSO_UDP_L4:
			CHECK((f & (F(VIRTIO_NET_F_GUEST_USO4) |
				    F(VIRTIO_NET_F_GUEST_USO6))) && off == 6);
			break;
		default: /* never UFO, nothing undefined */
			CHECK(0);
		}
		if (gso & VIRTIO_NET_HDR_GSO_ECN)
			CHECK((f & F(VIRTIO_NET_F_GUEST_ECN)) && off == 16);
	}
}

/* The pseudo-header sum of the packet p whose transport header starts at
 * l4off, from its own IP header; false when that header does not say. */
static bool ref_pseudo(const uint8_t *p, uint32_t len, uint32_t l4off,
		       uint8_t proto, uint64_t *sum, uint32_t *l4_total)
{
	uint32_t l2 = ref_l2(p, len);
	const uint8_t *ip = p + l2;

	if (l2 == 0 || l4off < l2 + 20 || l4off > len)
		return false;
	if (ip[0] >> 4 == 4) {
		uint32_t tot = be16(ip + 2);

		if (l4off - l2 != (uint32_t)(ip[0] & 15) * 4 || tot < l4off - l2)
			return false;
		*l4_total = tot - (l4off - l2);
		*sum = ref_sum(ip + 12, 8);
	} else if (ip[0] >> 4 == 6 && l4off >= l2 + 40) {
		uint32_t plen = be16(ip + 4);

		if (plen < l4off - l2 - 40)
			return false;
		*l4_total = plen - (l4off - l2 - 40);
		*sum = ref_sum(ip + 8, 32);
	} else {
		return false;
	}
	if (l4off + *l4_total > len)
		return false;
	*sum += proto + (*l4_total >> 16) + (*l4_total & 0xffff);
	return true;
}

/* vnet_rx_fixup(m, todo), todo as vnet_hdr_from_mbuf(m, f, h) returned it
 * (h != NULL) or any bits a caller might pass (h == NULL); b is the data
 * before. */
static void run_fixup(struct chain *c, unsigned todo, const struct vnet_hdr *h,
		      const uint8_t *b, uint8_t *a)
{
	struct rte_mbuf *m = &c->m[0];
	const uint32_t len = c->len;
	const uint64_t ol0 = m->ol_flags;
	const uint16_t segsz0 = m->tso_segsz;
	uint32_t field = UINT32_MAX, l2 = ref_l2(b, len);
	const bool v4 = l2 && l2 + 20 <= len && b[l2] >> 4 == 4;
	struct rte_mbuf probe = *m;
	struct vnet_hdr hc;
	unsigned t2;
	bool has_l4;
	int rc;

	/* Where the L4 checksum field is, if the packet has one: what the RX
	 * path says for a partial checksum with GUEST_CSUM. */
	probe.ol_flags = RTE_MBUF_F_RX_L4_CKSUM_NONE;
	probe.tso_segsz = 0;
	t2 = vnet_hdr_from_mbuf(&probe, F(VIRTIO_NET_F_GUEST_CSUM), &hc);
	has_l4 = t2 & VNET_RX_PSEUDO;
	CHECK(has_l4 || t2 == VNET_RX_DROP);
	if (has_l4)
		field = (uint32_t)vle16_to_cpu(hc.csum_start) +
			vle16_to_cpu(hc.csum_offset);
	if (h && (todo & VNET_RX_PSEUDO)) {
		CHECK(has_l4);
		CHECK(h->csum_start == hc.csum_start && h->csum_offset == hc.csum_offset);
	}
	if (!(todo & (VNET_RX_PSEUDO | VNET_RX_CSUM)))
		field = UINT32_MAX;

	rc = vnet_rx_fixup(m, todo);
	CHECK(rc == 0 || rc == -EINVAL);
	chain_read(c, a);
	if (g_verbose)
		fprintf(stderr, "fuzz_vnet_hdr: rx fixup %#x: rc %d\n", todo, rc);

	/* Only the fields asked for are written, even on failure. */
	for (uint32_t i = 0; i < len; i++) {
		if (a[i] == b[i])
			continue;
		bool ok = false;

		if ((todo & VNET_RX_IP_CSUM) && v4 &&
		    (i == l2 + 10 || i == l2 + 11))
			ok = true;
		if (field != UINT32_MAX && (i == field || i == field + 1))
			ok = true;
		if (!ok)
			fprintf(stderr, "fuzz_vnet_hdr: fixup %#x wrote byte %u\n",
				todo, i);
		CHECK(ok);
	}
	/* Nothing to work on: refused. */
	if ((todo & (VNET_RX_SEGMENT | VNET_RX_CSUM | VNET_RX_PSEUDO)) && !has_l4)
		CHECK(rc == -EINVAL);
	if ((todo & VNET_RX_SEGMENT) && segsz0 == 0)
		CHECK(rc == -EINVAL);
	if (rc)
		return;

	/* The IPv4 header checksum, when written or claimed done (SEGMENT
	 * rewrites the TX flags itself), verifies. */
	if ((v4 && (a[l2 + 10] != b[l2 + 10] || a[l2 + 11] != b[l2 + 11])) ||
	    ((todo & VNET_RX_IP_CSUM) && !(todo & VNET_RX_SEGMENT) &&
	     (ol0 & RTE_MBUF_F_TX_IP_CKSUM) &&
	     !(m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM))) {
		CHECK(v4 && l2 + (uint32_t)(a[l2] & 15) * 4 <= len);
		CHECK(ref_fold(ref_sum(a + l2, (uint32_t)(a[l2] & 15) * 4)) == 0xffff);
	}
	if (todo & VNET_RX_SEGMENT) {
		const uint64_t seg = m->ol_flags & SEG_MASK;

		CHECK(seg == RTE_MBUF_F_TX_TCP_SEG || seg == RTE_MBUF_F_TX_UDP_SEG);
		CHECK(m->tso_segsz == segsz0 && segsz0 != 0);
		CHECK(m->l4_len != 0);
		CHECK((uint32_t)m->l2_len + m->l3_len + m->l4_len <= len);
		CHECK(!(m->ol_flags & RTE_MBUF_F_RX_LRO));
		if (seg == RTE_MBUF_F_TX_TCP_SEG)
			CHECK((m->ol_flags & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_TCP_CKSUM);
		else
			CHECK((m->ol_flags & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_UDP_CKSUM);
	}
	if ((todo & (VNET_RX_PSEUDO | VNET_RX_CSUM)) && !(todo & VNET_RX_SEGMENT)) {
		const uint32_t l4off = vle16_to_cpu(hc.csum_start);
		const uint8_t proto = vle16_to_cpu(hc.csum_offset) == 16 ? 6 : 17;
		uint64_t ps;
		uint32_t l4_total;

		CHECK(ref_pseudo(a, len, l4off, proto, &ps, &l4_total));
		if (todo & VNET_RX_CSUM) {
			/* Fully checksummed. */
			CHECK(ref_fold(ps + ref_sum(a + l4off, l4_total)) == 0xffff);
			if (proto == 17) /* 0 would mean "no checksum" */
				CHECK(be16(a + field) != 0);
		} else {
			/* The pseudo-header sum, for the driver to complete. */
			CHECK(be16(a + field) == ref_fold(ps));
		}
	}
}

/* vnet_hdr_from_mbuf on the chain, then the fixup it asks for. */
static void run_rx(struct chain *c, uint64_t f, uint8_t *b, uint8_t *a,
		   struct vnet_hdr *h, unsigned *todo_out)
{
	struct rte_mbuf saved[3];
	unsigned todo;

	chain_read(c, b);
	memcpy(saved, c->m, sizeof(saved));
	memset(h, 0xee, sizeof(*h));
	todo = vnet_hdr_from_mbuf(&c->m[0], f, h);
	if (g_verbose)
		fprintf(stderr, "fuzz_vnet_hdr: rx ol %#llx segsz %u: todo %#x flags %#x "
			"gso %#x start %u off %u\n",
			(unsigned long long)c->m[0].ol_flags, c->m[0].tso_segsz,
			todo, h->flags, h->gso_type, vle16_to_cpu(h->csum_start),
			vle16_to_cpu(h->csum_offset));
	/* Reads only: the mbufs and the data are as they were. */
	CHECK(memcmp(saved, c->m, sizeof(saved)) == 0);
	chain_read(c, a);
	CHECK(memcmp(a, b, c->len) == 0);
	check_rx_hdr(h, todo, f, c->len, c->m[0].tso_segsz);
	*todo_out = todo;
	if (!(todo & VNET_RX_DROP))
		run_fixup(c, todo, h, b, a);
}

/* ---- the run ------------------------------------------------------------------ */

static void discard_log(enum hal_log_level level, const char *line)
{
	(void)level;
	(void)line;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	g_verbose = getenv("FUZZ_VNET_HDR_VERBOSE") != NULL;
	if (!g_verbose)
		hal_log_set_sink(discard_log);
	return 0;
}

static void cuts(uint32_t len, const uint8_t *p, int *n, uint32_t *c0,
		 uint32_t *c1)
{
	*c0 = le16(p) % (len + 1);
	*c1 = *c0 + le16(p + 2) % (len - *c0 + 1);
	if (*n < 1 || *n > 3)
		*n = 1;
}

static const uint64_t rx_l4_states[4] = {
	RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN, RTE_MBUF_F_RX_L4_CKSUM_BAD,
	RTE_MBUF_F_RX_L4_CKSUM_GOOD, RTE_MBUF_F_RX_L4_CKSUM_NONE,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vnet_hdr h;
	struct chain c;
	uint64_t f = 0;
	unsigned todo;
	int rc;

	if (size < HDR_LEN)
		return 0;
	uint16_t fsel = le16(data);
	for (unsigned i = 0; i < 16; i++)
		if (fsel >> i & 1)
			f |= F(feat_bits[i]);
	memcpy(&h, data + 2, sizeof(h));
	uint8_t mode = data[14];
	uint16_t rxsel = le16(data + 19), rx_segsz = le16(data + 21);
	uint32_t len = (uint32_t)(size - HDR_LEN);
	if (len > MAX_PKT)
		len = MAX_PKT;
	const uint8_t *src = data + HDR_LEN;
	uint8_t *pkt = malloc(len), *b = malloc(len), *a = malloc(len);
	struct vnet_hdr hr;
	uint32_t c0, c1;
	int n;

	CHECK((pkt && b && a) || len == 0);
	memcpy(pkt, src, len);
	CHECK(vnet_hdr_len(f) == (f & F(VIRTIO_NET_F_HASH_REPORT) ? 20u : 12u));

	/* ---- TX ---- */
	n = 1 + (mode & 3) % 3;
	cuts(len, data + 15, &n, &c0, &c1);
	chain_build(&c, pkt, len, n, c0, c1);
	struct rte_mbuf *m = &c.m[0];
	if (mode & 0x10) {
		m->ol_flags = RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV6 |
			      RTE_MBUF_F_TX_UDP_CKSUM | RTE_MBUF_F_TX_IP_CKSUM |
			      RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
		m->l2_len = 99;
		m->l3_len = 77;
		m->l4_len = 55;
		m->tso_segsz = 1234;
	}
	const uint64_t other = m->ol_flags & ~TX_MASK;
	const bool refuse = tx_must_refuse(&h, f, len);
	const bool csum = h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
	const uint8_t base = h.gso_type & 0x7f;

	rc = vnet_hdr_to_mbuf(&h, f, m);
	chain_read(&c, a);
	if (g_verbose)
		fprintf(stderr, "fuzz_vnet_hdr: tx %u bytes in %d segs, flags %#x gso %#x "
			"start %u off %u mss %u, features %#llx: rc %d ol %#llx "
			"l2 %u l3 %u l4 %u segsz %u\n", len, n, h.flags, h.gso_type,
			vle16_to_cpu(h.csum_start), vle16_to_cpu(h.csum_offset),
			vle16_to_cpu(h.gso_size), (unsigned long long)f, rc,
			(unsigned long long)m->ol_flags, m->l2_len, m->l3_len,
			m->l4_len, m->tso_segsz);
	CHECK(rc == 0 || rc == -EINVAL);
	CHECK((m->ol_flags & ~TX_MASK) == other);
	if (refuse)
		CHECK(rc == -EINVAL);
	if (rc) {
		/* Refused: offloads cleared, data untouched; only GSO can be
		 * refused for what the packet holds. */
		CHECK((m->ol_flags & TX_MASK) == 0 && m->tx_offload == 0);
		CHECK(memcmp(a, pkt, len) == 0);
		CHECK(refuse || base != VIRTIO_NET_HDR_GSO_NONE);
	} else if (!csum) {
		CHECK(h.gso_type == VIRTIO_NET_HDR_GSO_NONE);
		CHECK((m->ol_flags & TX_MASK) == 0 && m->tx_offload == 0);
		CHECK(memcmp(a, pkt, len) == 0);
	} else if ((m->ol_flags & TX_MASK) == 0) {
		/* The checksum done in software: only its field written, and
		 * it completes the driver's pseudo-header sum. */
		const uint32_t start = vle16_to_cpu(h.csum_start);
		const uint32_t off = vle16_to_cpu(h.csum_offset);
		const uint32_t fld = start + off;

		CHECK(base == VIRTIO_NET_HDR_GSO_NONE);
		CHECK(m->tx_offload == 0);
		for (uint32_t i = 0; i < len; i++)
			if (i != fld && i != fld + 1)
				CHECK(a[i] == pkt[i]);
		if (off % 2 == 0)
			CHECK(ref_fold(ref_sum(a + start, len - start) +
				       be16(pkt + fld)) == 0xffff);
	} else {
		check_tx_offload(m, &h, pkt, len);
		CHECK(memcmp(a, pkt, len) == 0);
		if (mode & 0x20) {
			/* Looped back: the RX path sees the same packet. */
			const uint64_t l4f = m->ol_flags & RTE_MBUF_F_TX_L4_MASK;
			const uint16_t l4at = (uint16_t)(m->l2_len + m->l3_len);
			const uint64_t seg = m->ol_flags & SEG_MASK;
			const uint16_t mss = m->tso_segsz;

			run_rx(&c, f, b, a, &hr, &todo);
			if (hr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM &&
			    !(todo & (VNET_RX_SEGMENT | VNET_RX_DROP))) {
				CHECK(vle16_to_cpu(hr.csum_start) == l4at);
				CHECK(vle16_to_cpu(hr.csum_offset) ==
				      (l4f == RTE_MBUF_F_TX_TCP_CKSUM ? 16 : 6));
			}
			if (hr.gso_type != VIRTIO_NET_HDR_GSO_NONE &&
			    !(todo & (VNET_RX_SEGMENT | VNET_RX_DROP))) {
				const uint8_t rb = hr.gso_type & 0x7f;

				CHECK(seg != 0 && vle16_to_cpu(hr.gso_size) == mss);
				if (base == VIRTIO_NET_HDR_GSO_TCPV4 ||
				    base == VIRTIO_NET_HDR_GSO_TCPV6)
					CHECK(rb == base);
				else
					CHECK(rb == VIRTIO_NET_HDR_GSO_UDP_L4);
			}
			/* TX parsed a TCP/UDP header; RX drops only what the
			 * port called bad. */
			if (todo & VNET_RX_DROP)
				CHECK((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) ==
				      RTE_MBUF_F_RX_L4_CKSUM_BAD);
		}
	}
	chain_free(&c);

	/* ---- RX, from the wire ---- */
	n = 1 + ((mode >> 2) & 3) % 3;
	cuts(len, data + 15, &n, &c0, &c1);
	chain_build(&c, pkt, len, n, c0, c1);
	m = &c.m[0];
	m->ol_flags = rx_l4_states[rxsel & 3] |
		      (uint64_t)(rxsel >> 2 & 3) << 52;
	if (rxsel & 0x10)
		m->ol_flags |= RTE_MBUF_F_RX_LRO;
	if (rxsel & 0x20)
		m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG;
	if (rxsel & 0x40)
		m->ol_flags |= RTE_MBUF_F_TX_UDP_SEG;
	if (rxsel & 0x80)
		m->ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
	if (rxsel & 0x100)
		m->ol_flags |= RTE_MBUF_F_TX_IPV4;
	if (rxsel & 0x200)
		m->ol_flags |= RTE_MBUF_F_TX_IPV6;
	if (rxsel & 0x400)
		m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
	if (rxsel & 0x800)
		m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_GOOD;
	if (rxsel & 0x1000) {
		m->l2_len = 127;
		m->l3_len = 511;
		m->l4_len = 255;
	}
	m->tso_segsz = rx_segsz;
	const uint64_t rx_ol = m->ol_flags;
	run_rx(&c, f, b, a, &hr, &todo);
	chain_free(&c);

	/* ---- RX fixup asked for work of the caller's choosing ---- */
	todo = (unsigned)(rxsel >> 13) | (unsigned)(mode >> 6) << 3;
	if (todo) {
		chain_build(&c, pkt, len, n, c0, c1);
		c.m[0].ol_flags = rx_ol;
		c.m[0].tso_segsz = rx_segsz;
		chain_read(&c, b);
		run_fixup(&c, todo, NULL, b, a);
		chain_free(&c);
	}

	/* ---- the hash fields ---- */
	struct vnet_hdr_hash hh;
	const uint32_t hv = (uint32_t)le16(data + 4) << 16 | le16(data + 8);
	const uint16_t hrep = le16(data + 10);

	memset(&hh, 0xee, sizeof(hh));
	hh.hdr = hr;
	vnet_hdr_set_hash(&hh, hv, hrep);
	CHECK(memcmp(&hh.hdr, &hr, sizeof(hr)) == 0);
	const uint8_t *hb = (const uint8_t *)&hh + 12;
	CHECK(((uint32_t)le16(hb) | (uint32_t)le16(hb + 2) << 16) == hv);
	CHECK(le16(hb + 4) == hrep && le16(hb + 6) == 0);

	free(a);
	free(b);
	free(pkt);
	return 0;
}
