/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vnet_hdr — the virtio-net packet header (virtio 1.3, 5.1.6 "Device
 * Operation") and its mapping to DPDK mbuf offload metadata.
 *
 * Every packet on a transmit or receive queue is preceded by struct
 * vnet_hdr (VERSION_1 layout, 12 bytes: num_buffers is always present),
 * or by struct vnet_hdr_hash (20 bytes) when VIRTIO_NET_F_HASH_REPORT was
 * negotiated. Legacy (pre-VERSION_1) layouts are not supported: virtio_dev
 * refuses drivers without VERSION_1.
 *
 * TX (driver -> device): vnet_hdr_to_mbuf() checks the driver's header
 * against the negotiated features and turns NEEDS_CSUM / GSO into mbuf
 * offload requests (ol_flags, l2/l3/l4_len, tso_segsz) found by parsing
 * the packet itself, which is hostile: every read is bounded by the
 * packet, nothing in the header is trusted (hdr_len is ignored). A header
 * a conforming driver cannot send is refused with -EINVAL: the caller
 * drops the packet and counts it.
 *
 * RX (device -> driver): vnet_hdr_from_mbuf() fills the header for a
 * packet from a representor port from its ol_flags and the negotiated
 * features, without touching the packet, and returns the work the RX
 * path must do before delivery (VNET_RX_*): segment it, complete or
 * re-seed a checksum (vnet_rx_fixup()), or drop it.
 *
 * The packet in an mbuf may be chained (multi-segment); pkt_len must be
 * the sum of the segments' data_len (the mbuf is ours, its data is not).
 * Nothing here needs the EAL or a mempool. Both directions may be called
 * from any lcore; no state is kept between calls.
 */
#ifndef VIRTNET_VNET_HDR_H
#define VIRTNET_VNET_HDR_H

#include <stddef.h>
#include <stdint.h>

#include <rte_mbuf_core.h>

#include "virtq.h"
#include "vnet_rss.h"

/* ---- offload feature bits (virtio 1.3, 5.1.3) ------------------------- */
#define VIRTIO_NET_F_CSUM         0  /* device handles partial checksums */
#define VIRTIO_NET_F_GUEST_CSUM   1  /* driver handles partial checksums */
#define VIRTIO_NET_F_GUEST_TSO4   7  /* driver can receive TSOv4 */
#define VIRTIO_NET_F_GUEST_TSO6   8  /* driver can receive TSOv6 */
#define VIRTIO_NET_F_GUEST_ECN    9  /* driver can receive TSO with ECN */
#define VIRTIO_NET_F_GUEST_UFO    10 /* driver can receive UFO */
#define VIRTIO_NET_F_HOST_TSO4    11 /* device can receive TSOv4 */
#define VIRTIO_NET_F_HOST_TSO6    12 /* device can receive TSOv6 */
#define VIRTIO_NET_F_HOST_ECN     13 /* device can receive TSO with ECN */
#define VIRTIO_NET_F_HOST_UFO     14 /* device can receive UFO */
#define VIRTIO_NET_F_MRG_RXBUF    15 /* driver can merge receive buffers */
#define VIRTIO_NET_F_GUEST_USO4   54 /* driver can receive USOv4 */
#define VIRTIO_NET_F_GUEST_USO6   55 /* driver can receive USOv6 */
#define VIRTIO_NET_F_HOST_USO     56 /* device can receive USO */
#define VIRTIO_NET_F_HASH_REPORT  57 /* device reports a per-packet hash */

/* ---- struct virtio_net_hdr values (virtio 1.3, 5.1.6) ---------------- */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_F_RSC_INFO   4

#define VIRTIO_NET_HDR_GSO_NONE   0
#define VIRTIO_NET_HDR_GSO_TCPV4  1
#define VIRTIO_NET_HDR_GSO_UDP    3 /* UFO: IP fragmentation of one datagram */
#define VIRTIO_NET_HDR_GSO_TCPV6  4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5 /* USO: one UDP header per segment */
#define VIRTIO_NET_HDR_GSO_ECN    0x80

/* hash_report values: VIRTIO_NET_HASH_REPORT_* in vnet_rss.h. */

/* struct virtio_net_hdr, VERSION_1 layout (num_buffers always present). */
struct vnet_hdr {
	uint8_t flags;       /* VIRTIO_NET_HDR_F_* */
	uint8_t gso_type;    /* VIRTIO_NET_HDR_GSO_*, optionally | GSO_ECN */
	vle16 hdr_len;       /* TX: a hint only; RX: headers incl. transport */
	vle16 gso_size;      /* MSS */
	vle16 csum_start;    /* from the start of the packet */
	vle16 csum_offset;   /* from csum_start */
	vle16 num_buffers;   /* RX: buffers the packet spans; TX: unused */
};

/* ... followed by the hash fields with VIRTIO_NET_F_HASH_REPORT. */
struct vnet_hdr_hash {
	struct vnet_hdr hdr;
	vle32 hash_value;
	vle16 hash_report;      /* VIRTIO_NET_HASH_REPORT_* */
	vle16 padding_reserved;
};

_Static_assert(sizeof(struct vnet_hdr) == 12, "virtio_net_hdr is 12 bytes");
_Static_assert(offsetof(struct vnet_hdr, num_buffers) == 10,
	       "num_buffers at offset 10");
_Static_assert(sizeof(struct vnet_hdr_hash) == 20,
	       "virtio_net_hdr with hash report is 20 bytes");
_Static_assert(offsetof(struct vnet_hdr_hash, hash_value) == 12 &&
	       offsetof(struct vnet_hdr_hash, hash_report) == 16,
	       "hash fields follow num_buffers");

/* Every offload feature this module maps (a device offers a subset). */
#define VNET_HDR_OFFLOAD_FEATURES \
	((1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) | \
	 (1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6) | \
	 (1ull << VIRTIO_NET_F_GUEST_ECN) | (1ull << VIRTIO_NET_F_HOST_TSO4) | \
	 (1ull << VIRTIO_NET_F_HOST_TSO6) | (1ull << VIRTIO_NET_F_HOST_ECN) | \
	 (1ull << VIRTIO_NET_F_HOST_UFO) | (1ull << VIRTIO_NET_F_HOST_USO) | \
	 (1ull << VIRTIO_NET_F_GUEST_USO4) | (1ull << VIRTIO_NET_F_GUEST_USO6))

/* Most segments one GSO request may ask for (vnet_hdr_to_mbuf refuses
 * more). Linux never sends more than 64 KiB / 48 bytes (its smallest TCP
 * MSS) = 1366 TCP segments or 256 UDP ones. */
#define VNET_GSO_MAX_SEGS 2048

/* Bytes of header before every packet: 12, or 20 with HASH_REPORT. */
size_t vnet_hdr_len(uint64_t features);

/*
 * TX: map the driver's header h (as read from the ring, little-endian)
 * onto m, whose data is the packet that followed it. Returns 0 or -EINVAL.
 *
 * On 0, m's TX offload fields are rewritten (the old ones are cleared):
 *  - no NEEDS_CSUM and GSO_NONE: nothing requested, the packet is parsed
 *    no further;
 *  - NEEDS_CSUM at the TCP/UDP checksum of a TCP/UDP over IPv4/IPv6
 *    packet (any VLAN tags, IPv4 options, IPv6 extension headers):
 *    RTE_MBUF_F_TX_{TCP,UDP}_CKSUM | RTE_MBUF_F_TX_IPV{4,6}, l2/l3/l4_len;
 *  - NEEDS_CSUM anywhere else (an inner header, ICMPv6, a fragment,
 *    headers longer than the 256 bytes parsed...):
 *    the checksum is computed here in software, as the spec defines it,
 *    and nothing is requested of the port. This writes the packet data:
 *    m must own its data (not the driver's buffer, not shared);
 *  - GSO TCPV4/TCPV6: RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM |
 *    IPV4 | IP_CKSUM (or IPV6), l2/l3/l4_len, tso_segsz = gso_size. The L4
 *    checksum flag is kept with TCP_SEG so the segments DPDK's GSO library
 *    cuts still ask the port for their checksums;
 *  - GSO UDP_L4 (USO) and UDP (UFO): RTE_MBUF_F_TX_UDP_SEG |
 *    RTE_MBUF_F_TX_UDP_CKSUM | IPV4 | IP_CKSUM (or IPV6). DPDK has one
 *    flag for both: a port's RTE_ETH_TX_OFFLOAD_UDP_TSO cuts datagrams
 *    (USO) while the GSO library fragments IPv4 (UFO), so the TX path picks
 *    the consumer from h->gso_type, and HOST_USO is offered only where a
 *    port does UDP segmentation.
 * The L4 checksum field keeps what the driver put there, the pseudo-header
 * sum over the full L4 length; rte_eth_tx_prepare() rewrites it to what
 * the port wants (without the length for TSO).
 *
 * -EINVAL: NEEDS_CSUM without VIRTIO_NET_F_CSUM; csum_start/csum_offset
 * past the packet; a GSO type not negotiated (HOST_TSO4/TSO6/UFO/USO) or
 * unknown; the ECN bit without HOST_ECN or on a non-TCP type; gso_size 0
 * or so small the payload makes more than VNET_GSO_MAX_SEGS segments;
 * GSO without NEEDS_CSUM; GSO on a packet that is not what gso_type says
 * (a TCPV4 request on IPv6 or UDP, a fragment, truncated headers,
 * headers past the first 256 bytes, a checksum position other than the
 * transport checksum). m's offload fields are then cleared.
 *
 * Ignored, as the spec has the device do: flag bits it does not recognize
 * and the DATA_VALID and RSC_INFO bits (meaningless on TX), hdr_len, and
 * num_buffers.
 */
int vnet_hdr_to_mbuf_offload(const struct vnet_hdr *h, uint64_t features,
			     struct rte_mbuf *m);

/* Most headers ask for nothing: that case, inline, without the call. */
static inline int vnet_hdr_to_mbuf(const struct vnet_hdr *h, uint64_t features,
				   struct rte_mbuf *m)
{
	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    h->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		m->ol_flags &= ~RTE_MBUF_F_TX_OFFLOAD_MASK;
		m->tx_offload = 0;
		return 0;
	}
	return vnet_hdr_to_mbuf_offload(h, features, m);
}

/* RX: what the RX path must do before delivering the packet. */
#define VNET_RX_SEGMENT (1u << 0) /* a large (LRO/TSO) packet the driver
				   * cannot take: h is not valid; call
				   * vnet_rx_fixup(VNET_RX_SEGMENT) to set
				   * up the GSO library, segment, and fill
				   * a header for each segment */
#define VNET_RX_CSUM    (1u << 1) /* complete the partial L4 checksum */
#define VNET_RX_PSEUDO  (1u << 2) /* NEEDS_CSUM is set: store the pseudo-
				   * header sum in the L4 checksum field */
#define VNET_RX_IP_CSUM (1u << 3) /* compute the IPv4 header checksum */
#define VNET_RX_DROP    (1u << 4) /* cannot be delivered honestly */

/*
 * RX: fill h for m (a packet from a representor, any VLAN tag already
 * back in the data) and the negotiated features. Reads m's data (bounded)
 * but never writes it. Returns 0 when h describes m as it is, else
 * VNET_RX_* bits. The mbuf states read:
 *  - partial L4 checksum: RTE_MBUF_F_RX_L4_CKSUM_NONE (DPDK's "checksum
 *    not in the packet, data verified") or a pending
 *    RTE_MBUF_F_TX_{TCP,UDP}_CKSUM (an mbuf looped back without a port);
 *  - checksum good: RTE_MBUF_F_RX_L4_CKSUM_GOOD;
 *  - large: RTE_MBUF_F_RX_LRO or RTE_MBUF_F_TX_{TCP,UDP}_SEG with
 *    tso_segsz != 0 and a payload longer than tso_segsz;
 *  - RTE_MBUF_F_TX_IP_CKSUM: the IPv4 header checksum is pending.
 * The header:
 *  - GUEST_CSUM, partial TCP/UDP: NEEDS_CSUM, csum_start at the transport
 *    header, csum_offset 16 (TCP) or 6 (UDP), and VNET_RX_PSEUDO: the spec
 *    wants the pseudo-header sum in the field and DPDK does not say what
 *    a port left there. Without GUEST_CSUM: flags 0 and VNET_RX_CSUM
 *    ("the device MUST set flags to zero and SHOULD supply a fully
 *    checksummed packet"). Partial but not parseable: VNET_RX_DROP;
 *  - GUEST_CSUM, checksum good: DATA_VALID;
 *  - large TCP/IPv4 with GUEST_TSO4, TCP/IPv6 with GUEST_TSO6, UDP with
 *    GUEST_USO4/USO6 (and GUEST_CSUM): gso_type, gso_size = tso_segsz,
 *    hdr_len = l2 + l3 + l4, NEEDS_CSUM as above, GSO_ECN when the TCP
 *    CWR flag is set (needs GUEST_ECN). Otherwise VNET_RX_SEGMENT.
 *    Coalescing implies the port checked every segment, so a large packet
 *    with an unknown checksum state counts as validated; one the port
 *    calls bad (RTE_MBUF_F_RX_L4_CKSUM_BAD), or that does not parse as
 *    TCP/UDP, gets VNET_RX_DROP. GUEST_UFO is never used: a large UDP
 *    packet is delivered as USO or segmented;
 *  - num_buffers = 1 (the RX path sets it for mergeable buffers),
 *    RSC_INFO never (RSC_EXT is not offered).
 */
unsigned int vnet_hdr_from_mbuf_offload(const struct rte_mbuf *m,
					uint64_t features, struct vnet_hdr *h);

/*
 * Every ol_flags bit vnet_hdr_from_mbuf() reads (the out-of-line part
 * masks the rest off first). A packet with none of them gets the plain
 * header (all zero, num_buffers 1) and no work, inline: most frames.
 */
#define VNET_HDR_RX_OL_FLAGS \
	(RTE_MBUF_F_RX_L4_CKSUM_MASK | RTE_MBUF_F_TX_L4_MASK | \
	 RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG | RTE_MBUF_F_RX_LRO | \
	 RTE_MBUF_F_TX_IP_CKSUM)

static inline unsigned int vnet_hdr_from_mbuf(const struct rte_mbuf *m,
					      uint64_t features,
					      struct vnet_hdr *h)
{
	if (!(m->ol_flags & VNET_HDR_RX_OL_FLAGS)) {
		*h = (struct vnet_hdr){ .num_buffers = cpu_to_vle16(1) };
		return 0;
	}
	return vnet_hdr_from_mbuf_offload(m, features, h);
}

/*
 * Do the data work vnet_hdr_from_mbuf() asked for: VNET_RX_IP_CSUM,
 * VNET_RX_PSEUDO, VNET_RX_CSUM write the packet (m must own its data);
 * VNET_RX_SEGMENT writes only metadata (the TX_*_SEG flags, lengths and
 * tso_segsz that rte_gso_segment() reads). Returns 0, or -EINVAL when the
 * packet does not parse as needed (drop it).
 */
int vnet_rx_fixup(struct rte_mbuf *m, unsigned int todo);

/* Fill the hash fields (VIRTIO_NET_F_HASH_REPORT): value and report type
 * (VIRTIO_NET_HASH_REPORT_*; NONE with value 0 when no hash was
 * calculated). Leaves h->hdr alone. */
void vnet_hdr_set_hash(struct vnet_hdr_hash *h, uint32_t value,
		       uint16_t report);

#endif /* VIRTNET_VNET_HDR_H */
