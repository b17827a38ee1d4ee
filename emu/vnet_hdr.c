/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-net packet header <-> mbuf offload metadata (virtio 1.3, 5.1.6).
 *
 * The packet behind a header is hostile (TX: the driver wrote it; RX: it
 * came off the wire). Headers are parsed from a bounded window copied out
 * of the mbuf chain (at most PARSE_MAX bytes): every offset is checked
 * against the window before it is read, every length taken from the
 * packet is checked against the packet, and the extension-header walk is
 * bounded. Checksums are computed as big-endian 16-bit words so the code
 * is the same on either byte order.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <netinet/in.h>
#include <rte_mbuf.h>

#include "hal_log.h"
#include "vnet_hdr.h"

#define COMP "vnet"
#define F(b) (1ull << (b))

/* Headers we look at: 2 VLAN tags, IPv4 with options or IPv6 with a few
 * extension headers, TCP with options. Longer stacks are not offloaded. */
#define PARSE_MAX 256

#define ETH_HLEN        14
#define ETYPE_IPV4      0x0800
#define ETYPE_IPV6      0x86dd
#define ETYPE_VLAN      0x8100
#define ETYPE_QINQ      0x88a8
#define MAX_VLAN_TAGS   2
#define MAX_IPV6_EXT    8
#define TCP_CSUM_OFF    16
#define UDP_CSUM_OFF    6
#define TCP_FLAG_CWR    0x80

/* What parse() found. l4_len != 0 means a whole TCP/UDP header of the
 * first (or only) fragment is in the window, and l4_total (transport
 * header + payload, from the IP header) fits in the packet. */
struct pkt {
	const uint8_t *win;  /* the first win_len bytes of the packet */
	uint32_t win_len;
	uint16_t l2_len;
	uint16_t l3_len;     /* IPv4 with options / IPv6 with ext headers */
	uint16_t l4_len;
	uint8_t ipv;         /* 4 or 6 once the L3 header parsed, else 0 */
	uint8_t proto;       /* IPPROTO_TCP / IPPROTO_UDP when l4_len != 0 */
	uint8_t tcp_flags;
	uint32_t l4_total;
	uint8_t buf[PARSE_MAX];
};

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- the mbuf chain as one byte string -------------------------------- */

/* Skip to the segment holding byte *off; *off becomes an offset into it. */
static const struct rte_mbuf *seg_at(const struct rte_mbuf *s, uint32_t *off)
{
	while (s != NULL && *off >= s->data_len) {
		*off -= s->data_len;
		s = s->next;
	}
	return s;
}

/* len bytes at off: a pointer into the first segment when they lie there,
 * else a copy in buf; NULL when the range is not inside the packet. */
static const uint8_t *pkt_read(const struct rte_mbuf *m, uint32_t off,
			       uint32_t len, uint8_t *buf)
{
	const struct rte_mbuf *s;
	uint8_t *d = buf;

	if (off > m->pkt_len || len > m->pkt_len - off)
		return NULL;
	if (off + len <= m->data_len)
		return rte_pktmbuf_mtod_offset(m, const uint8_t *, off);
	s = seg_at(m, &off);
	while (len > 0) {
		uint32_t n;

		if (s == NULL)
			return NULL;
		n = RTE_MIN(len, (uint32_t)s->data_len - off);
		memcpy(d, rte_pktmbuf_mtod_offset(s, const uint8_t *, off), n);
		d += n;
		len -= n;
		off = 0;
		s = s->next;
	}
	return buf;
}

static int pkt_write(struct rte_mbuf *m, uint32_t off, const uint8_t *src,
		     uint32_t len)
{
	struct rte_mbuf *s;

	if (off > m->pkt_len || len > m->pkt_len - off)
		return -EINVAL;
	s = (struct rte_mbuf *)seg_at(m, &off);
	while (len > 0) {
		uint32_t n;

		if (s == NULL)
			return -EINVAL;
		n = RTE_MIN(len, (uint32_t)s->data_len - off);
		memcpy(rte_pktmbuf_mtod_offset(s, uint8_t *, off), src, n);
		src += n;
		len -= n;
		off = 0;
		s = s->next;
	}
	return 0;
}

static int pkt_write16(struct rte_mbuf *m, uint32_t off, uint16_t v)
{
	const uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	return pkt_write(m, off, b, 2);
}

/* ---- ones' complement sums (RFC 1071) --------------------------------- */

/* Sum of n bytes as big-endian words; odd: p[0] sits at an odd position
 * of the summed string (the low byte of a word). */
static uint64_t sum_bytes(const uint8_t *p, uint32_t n, bool odd)
{
	uint64_t s = 0;
	uint32_t i = 0;

	if (odd && n > 0) {
		s += p[0];
		i = 1;
	}
	for (; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < n)
		s += (uint32_t)p[i] << 8;
	return s;
}

static uint16_t fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Sum of len bytes at off across the chain; -EINVAL past the packet. */
static int pkt_sum(const struct rte_mbuf *m, uint32_t off, uint32_t len,
		   uint64_t *sum)
{
	const struct rte_mbuf *s;
	bool odd = false;

	if (off > m->pkt_len || len > m->pkt_len - off)
		return -EINVAL;
	s = seg_at(m, &off);
	while (len > 0) {
		uint32_t n;

		if (s == NULL)
			return -EINVAL;
		n = RTE_MIN(len, (uint32_t)s->data_len - off);
		*sum += sum_bytes(rte_pktmbuf_mtod_offset(s, const uint8_t *, off),
				  n, odd);
		odd ^= n & 1;
		len -= n;
		off = 0;
		s = s->next;
	}
	return 0;
}

/* The TCP/UDP pseudo-header sum (RFC 793, RFC 8200 8.1), unfolded. */
static uint64_t pseudo_sum(const struct pkt *pk)
{
	const uint8_t *ip = pk->win + pk->l2_len;
	uint64_t s;

	if (pk->ipv == 4)
		s = sum_bytes(ip + 12, 8, false);   /* saddr, daddr */
	else
		s = sum_bytes(ip + 8, 32, false);   /* saddr, daddr */
	return s + pk->proto + (pk->l4_total >> 16) + (pk->l4_total & 0xffff);
}

/* ---- header parsing ---------------------------------------------------- */

static void parse_l4(struct pkt *pk, uint8_t proto)
{
	uint32_t off = (uint32_t)pk->l2_len + pk->l3_len;
	const uint8_t *p = pk->win;

	if (proto == IPPROTO_TCP) {
		uint32_t doff;

		if (off + 20 > pk->win_len || pk->l4_total < 20)
			return;
		doff = (uint32_t)(p[off + 12] >> 4) * 4;
		if (doff < 20 || off + doff > pk->win_len || doff > pk->l4_total)
			return;
		pk->l4_len = (uint16_t)doff;
		pk->tcp_flags = p[off + 13];
	} else if (proto == IPPROTO_UDP) {
		if (off + 8 > pk->win_len || pk->l4_total < 8)
			return;
		pk->l4_len = 8;
	} else {
		return;
	}
	pk->proto = proto;
}

static void parse_ipv4(struct pkt *pk, uint32_t pkt_len)
{
	uint32_t off = pk->l2_len, ihl, tot;
	const uint8_t *ip = pk->win + off;

	if (off + 20 > pk->win_len || ip[0] >> 4 != 4)
		return;
	ihl = (uint32_t)(ip[0] & 0xf) * 4;
	tot = be16(ip + 2);
	if (ihl < 20 || off + ihl > pk->win_len || tot < ihl ||
	    tot > pkt_len - off)
		return;
	pk->ipv = 4;
	pk->l3_len = (uint16_t)ihl;
	/* A fragment (MF or an offset) has no transport header to offload
	 * (the first one's covers only part of the datagram). */
	if (be16(ip + 6) & 0x3fff)
		return;
	pk->l4_total = tot - ihl;
	parse_l4(pk, ip[9]);
}

static bool ipv6_ext(uint8_t nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING ||
	       nh == IPPROTO_DSTOPTS;
}

static void parse_ipv6(struct pkt *pk, uint32_t pkt_len)
{
	uint32_t off = pk->l2_len, l3 = 40, plen;
	const uint8_t *ip = pk->win + off;
	uint8_t nh;
	int i;

	if (off + 40 > pk->win_len || ip[0] >> 4 != 6)
		return;
	plen = be16(ip + 4);
	/* plen 0 is a jumbogram (RFC 2675): not ours to offload. */
	if (plen == 0 || plen > pkt_len - off - 40)
		return;
	nh = ip[6];
	for (i = 0; i < MAX_IPV6_EXT && ipv6_ext(nh); i++) {
		const uint8_t *x = pk->win + off + l3;
		uint32_t xl;

		if (off + l3 + 8 > pk->win_len)
			return;
		xl = ((uint32_t)x[1] + 1) * 8;
		if (off + l3 + xl > pk->win_len || l3 - 40 + xl > plen)
			return;
		nh = x[0];
		l3 += xl;
	}
	if (ipv6_ext(nh))
		return; /* more than we walk */
	pk->ipv = 6;
	pk->l3_len = (uint16_t)l3;
	/* A fragment header (44) or anything else: no L4 for us. */
	pk->l4_total = plen - (l3 - 40);
	parse_l4(pk, nh);
}

static void parse(const struct rte_mbuf *m, struct pkt *pk)
{
	uint32_t off = ETH_HLEN;
	uint16_t type;
	int i;

	pk->win_len = RTE_MIN(m->pkt_len, (uint32_t)PARSE_MAX);
	pk->win = pkt_read(m, 0, pk->win_len, pk->buf);
	pk->l2_len = pk->l3_len = pk->l4_len = 0;
	pk->ipv = pk->proto = pk->tcp_flags = 0;
	pk->l4_total = 0;
	if (pk->win == NULL || pk->win_len < ETH_HLEN)
		return;
	type = be16(pk->win + 12);
	for (i = 0; i < MAX_VLAN_TAGS && (type == ETYPE_VLAN || type == ETYPE_QINQ); i++) {
		if (off + 4 > pk->win_len)
			return;
		type = be16(pk->win + off + 2);
		off += 4;
	}
	pk->l2_len = (uint16_t)off;
	if (type == ETYPE_IPV4)
		parse_ipv4(pk, m->pkt_len);
	else if (type == ETYPE_IPV6)
		parse_ipv6(pk, m->pkt_len);
}

static uint16_t l4_csum_off(const struct pkt *pk)
{
	return pk->proto == IPPROTO_TCP ? TCP_CSUM_OFF : UDP_CSUM_OFF;
}

/* ---- mbuf offload metadata -------------------------------------------- */

static void tx_offload_clear(struct rte_mbuf *m)
{
	m->ol_flags &= ~RTE_MBUF_F_TX_OFFLOAD_MASK;
	m->tx_offload = 0;
}

/* Ask the port (or the GSO library) for the L4 checksum, and segmentation
 * when mss != 0, of a packet that parsed to a TCP/UDP header. */
static void tx_offload_set(struct rte_mbuf *m, const struct pkt *pk,
			   uint16_t mss)
{
	bool tcp = pk->proto == IPPROTO_TCP;
	uint64_t ol = tcp ? RTE_MBUF_F_TX_TCP_CKSUM : RTE_MBUF_F_TX_UDP_CKSUM;

	ol |= pk->ipv == 4 ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6;
	if (mss != 0) {
		ol |= tcp ? RTE_MBUF_F_TX_TCP_SEG : RTE_MBUF_F_TX_UDP_SEG;
		/* Every segment gets its own IPv4 total length and id. */
		if (pk->ipv == 4)
			ol |= RTE_MBUF_F_TX_IP_CKSUM;
	}
	m->ol_flags |= ol;
	m->l2_len = pk->l2_len;
	m->l3_len = pk->l3_len;
	m->l4_len = pk->l4_len;
	m->tso_segsz = mss;
}

/* ---- public ------------------------------------------------------------- */

size_t vnet_hdr_len(uint64_t features)
{
	return features & F(VIRTIO_NET_F_HASH_REPORT) ?
	       sizeof(struct vnet_hdr_hash) : sizeof(struct vnet_hdr);
}

void vnet_hdr_set_hash(struct vnet_hdr_hash *h, uint32_t value,
		       uint16_t report)
{
	h->hash_value = cpu_to_vle32(value);
	h->hash_report = cpu_to_vle16(report);
	h->padding_reserved = 0;
}

static int tx_refuse(struct rte_mbuf *m, const char *why)
{
	tx_offload_clear(m);
	HAL_DP_DEBUG(COMP, "tx header refused: %s", why);
	return -EINVAL;
}

/* Spec: "calculating a ones' complement checksum from csum_start up until
 * the end of the packet and storing the result at offset csum_offset from
 * csum_start will result in a fully checksummed packet". The field itself
 * holds the driver's pseudo-header sum and is part of the sum. */
static int tx_csum_sw(struct rte_mbuf *m, uint16_t start, uint16_t offset)
{
	uint64_t sum = 0;
	uint16_t c;

	if (pkt_sum(m, start, m->pkt_len - start, &sum) < 0)
		return -EINVAL;
	c = (uint16_t)~fold(sum);
	/* 0 means "no checksum" to UDP; 0xffff is the same sum. */
	return pkt_write16(m, (uint32_t)start + offset, c ? c : 0xffff);
}

int vnet_hdr_to_mbuf_offload(const struct vnet_hdr *h, uint64_t features,
			     struct rte_mbuf *m)
{
	const uint8_t gso = h->gso_type;
	const uint8_t base = gso & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	const bool csum = h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
	uint16_t start, offset, mss;
	unsigned int need;
	struct pkt pk;
	bool at_l4;

	tx_offload_clear(m);
	/* DATA_VALID, RSC_INFO and unknown flag bits are ignored: see the
	 * header. The common case ends here without touching the packet. */
	if (!csum && gso == VIRTIO_NET_HDR_GSO_NONE)
		return 0;
	if (csum && !(features & F(VIRTIO_NET_F_CSUM)))
		return tx_refuse(m, "NEEDS_CSUM without VIRTIO_NET_F_CSUM");

	switch (base) {
	case VIRTIO_NET_HDR_GSO_NONE:
		need = 0;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		need = VIRTIO_NET_F_HOST_TSO4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		need = VIRTIO_NET_F_HOST_TSO6;
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		need = VIRTIO_NET_F_HOST_UFO;
		break;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		need = VIRTIO_NET_F_HOST_USO;
		break;
	default:
		return tx_refuse(m, "unknown gso_type");
	}
	if (need != 0 && !(features & F(need)))
		return tx_refuse(m, "gso_type not negotiated");
	if (gso & VIRTIO_NET_HDR_GSO_ECN) {
		if (!(features & F(VIRTIO_NET_F_HOST_ECN)))
			return tx_refuse(m, "GSO_ECN without HOST_ECN");
		if (base != VIRTIO_NET_HDR_GSO_TCPV4 &&
		    base != VIRTIO_NET_HDR_GSO_TCPV6)
			return tx_refuse(m, "GSO_ECN on a non-TCP gso_type");
	}
	mss = vle16_to_cpu(h->gso_size);
	if (base != VIRTIO_NET_HDR_GSO_NONE) {
		if (mss == 0)
			return tx_refuse(m, "gso_size 0");
		if (!csum)
			return tx_refuse(m, "GSO without NEEDS_CSUM");
	}

	start = vle16_to_cpu(h->csum_start);
	offset = vle16_to_cpu(h->csum_offset);
	if (csum && (uint32_t)start + offset + 2 > m->pkt_len)
		return tx_refuse(m, "checksum position past the packet");

	parse(m, &pk);
	at_l4 = pk.l4_len != 0 && start == pk.l2_len + pk.l3_len &&
		offset == l4_csum_off(&pk);

	if (base == VIRTIO_NET_HDR_GSO_NONE) {
		if (at_l4)
			tx_offload_set(m, &pk, 0);
		else if (tx_csum_sw(m, start, offset) < 0)
			return tx_refuse(m, "checksum range not in the mbuf");
		return 0;
	}

	if (!at_l4)
		return tx_refuse(m, "GSO packet without a TCP/UDP checksum at its transport header");
	switch (base) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (pk.ipv != 4 || pk.proto != IPPROTO_TCP)
			return tx_refuse(m, "GSO_TCPV4 on a packet that is not TCP/IPv4");
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (pk.ipv != 6 || pk.proto != IPPROTO_TCP)
			return tx_refuse(m, "GSO_TCPV6 on a packet that is not TCP/IPv6");
		break;
	default: /* UDP, UDP_L4 */
		if (pk.proto != IPPROTO_UDP)
			return tx_refuse(m, "UDP GSO on a packet that is not UDP");
		break;
	}
	/* A tiny gso_size would turn one chain into tens of thousands of
	 * segments downstream (mbufs, port descriptors): bounded. */
	uint32_t payload = m->pkt_len - (pk.l2_len + pk.l3_len + pk.l4_len);
	if ((payload + mss - 1) / mss > VNET_GSO_MAX_SEGS)
		return tx_refuse(m, "more than VNET_GSO_MAX_SEGS segments");
	tx_offload_set(m, &pk, mss);
	return 0;
}

/* The GSO type the driver accepts for this packet, or NONE. */
static uint8_t rx_gso_type(const struct pkt *pk, uint64_t features)
{
	if (!(features & F(VIRTIO_NET_F_GUEST_CSUM)))
		return VIRTIO_NET_HDR_GSO_NONE; /* GSO needs NEEDS_CSUM */
	if (pk->proto == IPPROTO_TCP) {
		if (pk->ipv == 4 && (features & F(VIRTIO_NET_F_GUEST_TSO4)))
			return VIRTIO_NET_HDR_GSO_TCPV4;
		if (pk->ipv == 6 && (features & F(VIRTIO_NET_F_GUEST_TSO6)))
			return VIRTIO_NET_HDR_GSO_TCPV6;
	} else {
		if ((pk->ipv == 4 && (features & F(VIRTIO_NET_F_GUEST_USO4))) ||
		    (pk->ipv == 6 && (features & F(VIRTIO_NET_F_GUEST_USO6))))
			return VIRTIO_NET_HDR_GSO_UDP_L4;
	}
	return VIRTIO_NET_HDR_GSO_NONE;
}

static void rx_needs_csum(struct vnet_hdr *h, const struct pkt *pk)
{
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->csum_start = cpu_to_vle16((uint16_t)(pk->l2_len + pk->l3_len));
	h->csum_offset = cpu_to_vle16(l4_csum_off(pk));
}

unsigned int vnet_hdr_from_mbuf_offload(const struct rte_mbuf *m,
					uint64_t features, struct vnet_hdr *h)
{
	const uint64_t ol = m->ol_flags & VNET_HDR_RX_OL_FLAGS;
	const uint64_t rx_l4 = ol & RTE_MBUF_F_RX_L4_CKSUM_MASK;
	const uint64_t tx_l4 = ol & RTE_MBUF_F_TX_L4_MASK;
	const uint64_t seg = ol & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG);
	const bool guest_csum = features & F(VIRTIO_NET_F_GUEST_CSUM);
	const bool partial = rx_l4 == RTE_MBUF_F_RX_L4_CKSUM_NONE ||
			     tx_l4 == RTE_MBUF_F_TX_TCP_CKSUM ||
			     tx_l4 == RTE_MBUF_F_TX_UDP_CKSUM || seg != 0;
	const bool good = rx_l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	bool large = (seg != 0 || (ol & RTE_MBUF_F_RX_LRO)) && m->tso_segsz != 0;
	unsigned int todo = 0;
	struct pkt pk;
	uint8_t gso;

	memset(h, 0, sizeof(*h));
	h->num_buffers = cpu_to_vle16(1);
	if (ol & RTE_MBUF_F_TX_IP_CKSUM)
		todo |= VNET_RX_IP_CSUM;
	if (!partial && !large)
		goto plain;

	parse(m, &pk);
	if (large) {
		if (pk.l4_len == 0)
			return VNET_RX_DROP;
		/* One segment's worth is just a packet. */
		large = pk.l4_total - pk.l4_len > m->tso_segsz;
	}
	if (large) {
		/* Coalescing implies the port checked every segment; one it
		 * calls bad is not passed off as validated. */
		if (rx_l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
			return VNET_RX_DROP;
		gso = rx_gso_type(&pk, features);
		if (gso == VIRTIO_NET_HDR_GSO_NONE)
			return VNET_RX_SEGMENT;
		/* "The device SHOULD NOT send to the driver TCP packets
		 * requiring segmentation offload which have the Explicit
		 * Congestion Notification bit set, unless the
		 * VIRTIO_NET_F_GUEST_ECN feature is negotiated, in which case
		 * the device MUST set the VIRTIO_NET_HDR_GSO_ECN bit". */
		if (pk.proto == IPPROTO_TCP && (pk.tcp_flags & TCP_FLAG_CWR)) {
			if (!(features & F(VIRTIO_NET_F_GUEST_ECN)))
				return VNET_RX_SEGMENT;
			gso |= VIRTIO_NET_HDR_GSO_ECN;
		}
		rx_needs_csum(h, &pk);
		h->gso_type = gso;
		h->gso_size = cpu_to_vle16(m->tso_segsz);
		h->hdr_len = cpu_to_vle16((uint16_t)(pk.l2_len + pk.l3_len + pk.l4_len));
		return todo | VNET_RX_PSEUDO;
	}

	/* A checksum the port found bad is handed over as it is (flags 0):
	 * the driver checks it and drops the packet. Re-seeding it for
	 * NEEDS_CSUM would pass corrupted data off as good. */
	if (!partial || rx_l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		goto plain;
	if (pk.l4_len == 0)
		return VNET_RX_DROP; /* no idea where its checksum goes */
	if (!guest_csum)
		return todo | VNET_RX_CSUM;
	rx_needs_csum(h, &pk);
	return todo | VNET_RX_PSEUDO;
plain:
	/* A complete packet: DATA_VALID when the port checked it. */
	if (good && guest_csum)
		h->flags = VIRTIO_NET_HDR_F_DATA_VALID;
	return todo;
}

int vnet_rx_fixup(struct rte_mbuf *m, unsigned int todo)
{
	struct pkt pk;
	uint32_t l4off;
	uint16_t mss;

	todo &= VNET_RX_SEGMENT | VNET_RX_CSUM | VNET_RX_PSEUDO | VNET_RX_IP_CSUM;
	if (todo == 0)
		return 0;
	parse(m, &pk);

	if (todo & VNET_RX_IP_CSUM) {
		uint8_t ip[60];

		/* Asked for, but the packet has no IPv4 header we can parse
		 * (truncated, or not IPv4): say so, the caller drops it. */
		if (pk.ipv != 4 || pk.l3_len < 20 || pk.l3_len > sizeof(ip))
			return -EINVAL;
		uint16_t c;

		memcpy(ip, pk.win + pk.l2_len, pk.l3_len);
		ip[10] = ip[11] = 0;
		c = (uint16_t)~fold(sum_bytes(ip, pk.l3_len, false));
		if (pkt_write16(m, pk.l2_len + 10u, c) < 0)
			return -EINVAL;
		m->ol_flags &= ~RTE_MBUF_F_TX_IP_CKSUM;
	}

	if (todo & VNET_RX_SEGMENT) {
		/* The GSO library reads TX metadata; the segments it cuts
		 * come back through vnet_hdr_from_mbuf(). */
		if (pk.l4_len == 0 || m->tso_segsz == 0)
			return -EINVAL;
		mss = m->tso_segsz;
		tx_offload_clear(m);
		m->ol_flags &= ~RTE_MBUF_F_RX_LRO;
		tx_offload_set(m, &pk, mss);
		return 0;
	}

	if (todo & (VNET_RX_CSUM | VNET_RX_PSEUDO)) {
		uint32_t field;
		uint64_t sum = 0;
		uint16_t c;

		if (pk.l4_len == 0)
			return -EINVAL;
		l4off = (uint32_t)pk.l2_len + pk.l3_len;
		field = l4off + l4_csum_off(&pk);
		/* Whatever the port left in the field, start from the
		 * pseudo-header sum, as a driver does for NEEDS_CSUM. */
		if (pkt_write16(m, field, fold(pseudo_sum(&pk))) < 0)
			return -EINVAL;
		if (todo & VNET_RX_CSUM) {
			if (pkt_sum(m, l4off, pk.l4_total, &sum) < 0)
				return -EINVAL;
			c = (uint16_t)~fold(sum);
			if (pkt_write16(m, field, c ? c : 0xffff) < 0)
				return -EINVAL;
			m->ol_flags &= ~(RTE_MBUF_F_TX_L4_MASK |
					 RTE_MBUF_F_RX_L4_CKSUM_MASK);
			m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_GOOD;
		}
	}
	return 0;
}
