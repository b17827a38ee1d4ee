/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio_net — the virtio-net device model's control plane (virtio 1.3,
 * device-types/net): provisioning parameters and their validation, the
 * device configuration layout, feature-bit requirements at FEATURES_OK,
 * the control virtqueue (RX mode, MAC tables, VLAN filter, announce,
 * multiqueue / RSS / hash configuration, guest offloads, notification
 * coalescing) and the RX filter that state defines.
 *
 * A struct vnet_dev embeds the generic struct vdev and plugs into it
 * through vdev_ops; a transport drives it only through vdev_* (status,
 * features, queues, config reads/writes) plus vnet_ctrl_process() when the
 * control queue is kicked. The datapath is wired in through struct
 * vnet_hooks: `apply` is called synchronously, on the control thread,
 * after a control command changed the state and before its answer is
 * written (DESIGN.md: "Control-queue changes (MQ pairs, RX filter) are
 * applied on the lcores before the control-queue answer is written"), so
 * the hook publishes what lcores read (e.g. a copy of n->filter and of
 * *n->rss) and returns once every lcore uses it.
 *
 * Threads: every function here runs on the control thread, except
 * vnet_rx_filter_accept(), which only reads the filter it is given and may
 * run on lcores over a published copy. vnet_rx_accept() reads the live
 * filter of n and is for the control thread (and tests).
 *
 * Everything from the host is hostile: each command's length is checked
 * before a byte of it is used, every byte of a command is read once into
 * device memory, and a command either applies completely or changes
 * nothing and is answered VIRTIO_NET_ERR.
 */
#ifndef VIRTNET_VIRTIO_NET_H
#define VIRTNET_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dma.h"
#include "virtio_dev.h"
#include "virtq.h"
#include "vnet_hdr.h" /* offload feature bits: VIRTIO_NET_F_CSUM ... HASH_REPORT */
#include "vnet_rss.h" /* struct vnet_rss, VIRTIO_NET_RSS_HASH_TYPE_* */

/* ---- feature bits (virtio 1.3, 5.1.3) ----------------------------------
 * The offload bits (CSUM, GUEST_CSUM, GUEST/HOST TSO4/TSO6/ECN/UFO,
 * MRG_RXBUF, GUEST_USO4/USO6, HOST_USO, HASH_REPORT) are defined once, in
 * vnet_hdr.h. These are the others. VIRTIO_NET_F_RSS_CONTEXT (64) does not
 * fit the 64-bit feature words of virtio_dev and is neither defined nor
 * offered. */
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2
#define VIRTIO_NET_F_MTU            3
#define VIRTIO_NET_F_MAC            5
#define VIRTIO_NET_F_STATUS         16
#define VIRTIO_NET_F_CTRL_VQ        17
#define VIRTIO_NET_F_CTRL_RX        18
#define VIRTIO_NET_F_CTRL_VLAN      19
#define VIRTIO_NET_F_CTRL_RX_EXTRA  20
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_MQ             22
#define VIRTIO_NET_F_CTRL_MAC_ADDR  23
#define VIRTIO_NET_F_DEVICE_STATS   50
#define VIRTIO_NET_F_HASH_TUNNEL    51
#define VIRTIO_NET_F_VQ_NOTF_COAL   52
#define VIRTIO_NET_F_NOTF_COAL      53
#define VIRTIO_NET_F_GUEST_HDRLEN   59
#define VIRTIO_NET_F_RSS            60
#define VIRTIO_NET_F_RSC_EXT        61
#define VIRTIO_NET_F_STANDBY        62
#define VIRTIO_NET_F_SPEED_DUPLEX   63

#define VNET_F(b) (1ull << (b))

/* The guest offloads VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET switches. */
#define VNET_GUEST_OFFLOADS \
	(VNET_F(VIRTIO_NET_F_GUEST_CSUM) | VNET_F(VIRTIO_NET_F_GUEST_TSO4) | \
	 VNET_F(VIRTIO_NET_F_GUEST_TSO6) | VNET_F(VIRTIO_NET_F_GUEST_ECN) | \
	 VNET_F(VIRTIO_NET_F_GUEST_UFO) | VNET_F(VIRTIO_NET_F_GUEST_USO4) | \
	 VNET_F(VIRTIO_NET_F_GUEST_USO6))

/* Device-type features a device may be provisioned to offer. Not offered:
 * GUEST_UFO (vnet_hdr never produces UFO), DEVICE_STATS, HASH_TUNNEL,
 * GUEST_HDRLEN, RSC_EXT (not implemented). STANDBY asks nothing of the
 * device beyond sharing its MAC with a primary: the driver (Linux
 * net_failover) pairs the two; offered only with MAC. */
#define VNET_NET_FEATURES \
	(VNET_HDR_OFFLOAD_FEATURES | VNET_F(VIRTIO_NET_F_MRG_RXBUF) | \
	 VNET_F(VIRTIO_NET_F_HASH_REPORT) | \
	 VNET_F(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | VNET_F(VIRTIO_NET_F_MTU) | \
	 VNET_F(VIRTIO_NET_F_MAC) | VNET_F(VIRTIO_NET_F_STATUS) | \
	 VNET_F(VIRTIO_NET_F_CTRL_VQ) | VNET_F(VIRTIO_NET_F_CTRL_RX) | \
	 VNET_F(VIRTIO_NET_F_CTRL_VLAN) | VNET_F(VIRTIO_NET_F_CTRL_RX_EXTRA) | \
	 VNET_F(VIRTIO_NET_F_GUEST_ANNOUNCE) | VNET_F(VIRTIO_NET_F_MQ) | \
	 VNET_F(VIRTIO_NET_F_CTRL_MAC_ADDR) | VNET_F(VIRTIO_NET_F_VQ_NOTF_COAL) | \
	 VNET_F(VIRTIO_NET_F_NOTF_COAL) | VNET_F(VIRTIO_NET_F_RSS) | \
	 VNET_F(VIRTIO_NET_F_SPEED_DUPLEX) | VNET_F(VIRTIO_NET_F_STANDBY))

/* Everything a vnet_params.features may contain. */
#define VNET_SUPPORTED_FEATURES (VDEV_GENERIC_FEATURES | VNET_NET_FEATURES)

/* ---- device configuration layout (virtio 1.3, 5.1.4) ------------------ */
#define VIRTIO_NET_S_LINK_UP  1
#define VIRTIO_NET_S_ANNOUNCE 2

/* Offsets in struct virtio_net_config. A field exists when its feature is
 * offered; fields never move. */
#define VNET_CFG_MAC               0  /* u8[6], always */
#define VNET_CFG_STATUS            6  /* le16, STATUS */
#define VNET_CFG_MAX_VQ_PAIRS      8  /* le16, MQ or RSS */
#define VNET_CFG_MTU               10 /* le16, MTU */
#define VNET_CFG_SPEED             12 /* le32, SPEED_DUPLEX */
#define VNET_CFG_DUPLEX            16 /* u8,   SPEED_DUPLEX */
#define VNET_CFG_RSS_MAX_KEY       17 /* u8,   RSS or HASH_REPORT */
#define VNET_CFG_RSS_MAX_TABLE     18 /* le16, RSS */
#define VNET_CFG_HASH_TYPES        20 /* le32, RSS or HASH_REPORT */
#define VNET_CFG_TUNNEL_TYPES      24 /* le32, HASH_TUNNEL (never offered) */
#define VNET_CFG_SIZE              28

#define VNET_SPEED_UNKNOWN  0xffffffffu
/* duplex values as Linux and QEMU use them (and the field description of
 * the spec: 0x01 full); the spec's normative text swaps 0 and 1. */
#define VNET_DUPLEX_HALF    0x00
#define VNET_DUPLEX_FULL    0x01
#define VNET_DUPLEX_UNKNOWN 0xff

/* ---- control virtqueue (virtio 1.3, 5.1.6.5) -------------------------- */
#define VIRTIO_NET_OK  0
#define VIRTIO_NET_ERR 1

#define VIRTIO_NET_CTRL_RX             0
#define  VIRTIO_NET_CTRL_RX_PROMISC    0
#define  VIRTIO_NET_CTRL_RX_ALLMULTI   1
#define  VIRTIO_NET_CTRL_RX_ALLUNI     2
#define  VIRTIO_NET_CTRL_RX_NOMULTI    3
#define  VIRTIO_NET_CTRL_RX_NOUNI      4
#define  VIRTIO_NET_CTRL_RX_NOBCAST    5
#define VIRTIO_NET_CTRL_MAC            1
#define  VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define  VIRTIO_NET_CTRL_MAC_ADDR_SET  1
#define VIRTIO_NET_CTRL_VLAN           2
#define  VIRTIO_NET_CTRL_VLAN_ADD      0
#define  VIRTIO_NET_CTRL_VLAN_DEL      1
#define VIRTIO_NET_CTRL_ANNOUNCE       3
#define  VIRTIO_NET_CTRL_ANNOUNCE_ACK  0
#define VIRTIO_NET_CTRL_MQ             4
#define  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0
#define  VIRTIO_NET_CTRL_MQ_RSS_CONFIG   1
#define  VIRTIO_NET_CTRL_MQ_HASH_CONFIG  2
#define VIRTIO_NET_CTRL_GUEST_OFFLOADS 5
#define  VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET 0
#define VIRTIO_NET_CTRL_NOTF_COAL      6
#define  VIRTIO_NET_CTRL_NOTF_COAL_TX_SET 0
#define  VIRTIO_NET_CTRL_NOTF_COAL_RX_SET 1
#define  VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET 2
#define  VIRTIO_NET_CTRL_NOTF_COAL_VQ_GET 3

#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN 1
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX 0x8000

/* ---- limits -------------------------------------------------------------- */
/* Queue pairs: 2 * pairs + 1 (controlq) queues must fit virtio_dev's u16
 * queue count, so one less than the spec's 0x8000. */
#define VNET_MAX_QUEUE_PAIRS 0x7fff
/* Entries kept per MAC filter table. A larger table is not refused: the
 * table is left empty and the matching "all" fallback is set (all unicast /
 * all multicast), as the spec's footnote allows ("silently switch to
 * allmulti or promiscuous mode if it is given too many addresses") and as
 * real NICs and QEMU do. Refusing would leave the driver's previous filter
 * in force: Linux only logs the ERR, and the multicast groups it just
 * joined (IPv6 neighbour discovery) would be dropped. */
#define VNET_MAC_TABLE_MAX 64
#define VNET_VLAN_MAX      4096
/* Readable command data copied to device memory for parsing; every
 * command but MAC_TABLE_SET (read piecewise) is shorter. */
#define VNET_CTRL_DATA_MAX 2048

/* ---- provisioning ---------------------------------------------------------- */
struct vnet_params {
	uint64_t features;        /* offered: VIRTIO_F_* and VIRTIO_NET_F_* bits */
	uint8_t mac[6];           /* with VIRTIO_NET_F_MAC: a unicast, non-zero address */
	uint16_t mtu;             /* with VIRTIO_NET_F_MTU: 68..65535 */
	uint16_t max_queue_pairs; /* 1..VNET_MAX_QUEUE_PAIRS; > 1 needs MQ or RSS */
	uint16_t max_queue_size;  /* power of two, 1..32768 */
	uint32_t speed;           /* Mb/s, 0..0x7fffffff or VNET_SPEED_UNKNOWN */
	uint8_t duplex;           /* VNET_DUPLEX_* */
	bool link_up;
	/* RSS / HASH_REPORT */
	uint16_t rss_max_table_len; /* with RSS: 128..VNET_RSS_TABLE_MAX */
	uint32_t hash_types;        /* supported VIRTIO_NET_RSS_HASH_TYPE_* */
};

/* A conservative default: VERSION_1, EVENT_IDX, INDIRECT_DESC, RING_PACKED,
 * MAC, STATUS, MTU 1500, SPEED_DUPLEX (unknown), CTRL_VQ, CTRL_RX,
 * CTRL_RX_EXTRA, CTRL_VLAN, CTRL_MAC_ADDR, GUEST_ANNOUNCE; one queue pair
 * of 256 entries; link up. No offloads, no MQ/RSS: the caller adds them. */
void vnet_params_default(struct vnet_params *p);

/* 0, or -EINVAL with *why (may be NULL) naming the problem: a feature not
 * in VNET_SUPPORTED_FEATURES or without VERSION_1, an offered set that
 * breaks a feature-bit requirement (MQ or RSS without CTRL_VQ, ...) or a
 * device SHOULD NOT (HASH_REPORT or CTRL_RX_EXTRA without CTRL_VQ),
 * GUEST_ANNOUNCE without STATUS, or a value out of range. */
int vnet_params_validate(const struct vnet_params *p, const char **why);

/* The spec's "Feature bit requirements" on a feature set: 0 or -EINVAL
 * (*why names the first broken requirement). Used at FEATURES_OK on the
 * driver's set and at provisioning on the offered set. */
int vnet_features_check(uint64_t features, const char **why);

/* ---- state ------------------------------------------------------------------ */

/* What the RX filter needs: plain data, copied by the datapath's apply
 * hook into what its lcores read. */
struct vnet_rx_filter {
	uint8_t mac[6];      /* primary MAC (config mac, or MAC_ADDR_SET) */
	bool mac_filter;     /* CTRL_RX negotiated: the MAC / mode rules apply */
	bool vlan_filter;    /* CTRL_VLAN negotiated: the VLAN table applies */
	bool promisc, allmulti, alluni, nomulti, nouni, nobcast;
	bool uc_overflow;    /* unicast table was too long: all unicast */
	bool mc_overflow;    /* multicast table was too long: all multicast */
	uint16_t n_uc, n_mc;
	uint8_t uc[VNET_MAC_TABLE_MAX][6];
	uint8_t mc[VNET_MAC_TABLE_MAX][6];
	uint64_t vlans[VNET_VLAN_MAX / 64];
};

/* Notification coalescing parameters (struct virtio_net_ctrl_coal). */
struct vnet_coal {
	uint32_t max_packets;
	uint32_t max_usecs;
};

/* Why the datapath dropped a packet. */
enum vnet_drop {
	VNET_DROP_FILTER = 0, /* RX: refused by the RX filter (MAC, mode, VLAN) */
	VNET_DROP_NO_BUFFER,  /* RX: no receive buffer (overrun) */
	VNET_DROP_TOO_BIG,    /* RX: does not fit the buffers / mtu */
	VNET_DROP_MALFORMED,  /* TX: bad header or chain */
	VNET_DROP_LINK_DOWN,
	VNET_DROP_QUEUE_OFF,  /* queue not enabled, being reset, or beyond the pairs in use */
	VNET_DROP_PORT,       /* the representor port refused it */
	VNET_DROP__COUNT
};

/* Per-queue counters: written by the one lcore that owns the queue (the
 * control thread for the control queue), read by anyone. */
struct vnet_queue_stats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t kicks;       /* driver notifications */
	uint64_t interrupts;  /* used-buffer notifications sent */
	uint64_t released;    /* transmit: frames released after the copy (vnet_dp_release_tick) */
	uint64_t drops[VNET_DROP__COUNT];
} __attribute__((aligned(64)));

/* Control queue counters (control thread). */
struct vnet_ctrl_stats {
	uint64_t commands;    /* chains completed */
	uint64_t ok;
	uint64_t err;         /* answered VIRTIO_NET_ERR */
	uint64_t no_ack;      /* no writable byte for the ack: completed with len 0 */
	uint64_t unnegotiated;/* command of a feature not negotiated (see the table in virtio_net.c) */
};

/* What a command changed: the `what` of vnet_hooks.apply. */
#define VNET_APPLY_RX_MODE   (1u << 0) /* promisc, all-, no- modes */
#define VNET_APPLY_MAC_TABLE (1u << 1)
#define VNET_APPLY_MAC_ADDR  (1u << 2)
#define VNET_APPLY_VLAN      (1u << 3)
#define VNET_APPLY_MQ        (1u << 4) /* curr_pairs */
#define VNET_APPLY_RSS       (1u << 5) /* *rss (steering / hash config) */
#define VNET_APPLY_OFFLOADS  (1u << 6) /* guest_offloads */
#define VNET_APPLY_COAL      (1u << 7) /* coalescing parameters */
#define VNET_APPLY_LINK      (1u << 8) /* link_up (vnet_set_link) */
#define VNET_APPLY_RX_FILTER \
	(VNET_APPLY_RX_MODE | VNET_APPLY_MAC_TABLE | VNET_APPLY_MAC_ADDR | \
	 VNET_APPLY_VLAN)

struct vnet_dev;

/* The datapath and the transport. Every member may be NULL. */
struct vnet_hooks {
	/* Publish n's changed state to the lcores; return when they use it.
	 * Called before the control-queue answer is written. */
	void (*apply)(struct vnet_dev *n, unsigned what);
	/* vdev_ops.start / quiesce / quiesce_queue, passed on. quiesce and
	 * quiesce_queue answer with vdev_quiesced(&n->vdev) /
	 * vdev_queue_quiesced(&n->vdev, q), possibly later; when NULL the
	 * device answers itself at once. The control-plane state is back to
	 * its reset values when quiesce is called. */
	void (*start)(struct vnet_dev *n);
	void (*quiesce)(struct vnet_dev *n);
	void (*quiesce_queue)(struct vnet_dev *n, uint16_t q);
	/* Raise the configuration-change interrupt (vdev_ops.config_irq). */
	void (*config_irq)(struct vnet_dev *n);
	/* Raise queue q's used-buffer interrupt (the control queue's). */
	void (*queue_irq)(struct vnet_dev *n, uint16_t q);
};

struct vnet_dev {
	struct vdev vdev;             /* first: &n->vdev == (struct vdev *)n */
	struct vnet_params p;         /* as provisioned */
	const struct vnet_hooks *hooks;
	void *hooks_ctx;              /* the hooks' */

	/* device configuration */
	uint16_t status;              /* VIRTIO_NET_S_* */

	/* control-plane state, back to defaults on device reset */
	struct vnet_rx_filter filter;
	uint16_t curr_pairs;          /* VQ_PAIRS_SET; 1 after reset */
	struct vnet_rss *rss;         /* RSS_CONFIG / HASH_CONFIG; NULL unless
				       * RSS or HASH_REPORT is offered */
	uint64_t guest_offloads;      /* VNET_GUEST_OFFLOADS bits enabled */
	struct vnet_coal tx_coal;     /* last TX_SET (0 after reset) */
	struct vnet_coal rx_coal;     /* last RX_SET */
	struct vnet_coal *vq_coal;    /* per data queue (2 * max_queue_pairs) */

	/* counters */
	struct vnet_queue_stats *qstats; /* per queue (vdev.num_queues) */
	struct vnet_ctrl_stats ctrl;

	/* control queue scratch */
	struct vq_seg *ctrl_segs;
	uint32_t ctrl_nsegs;
};

/* Validate p (vnet_params_validate), then set up the device: queue count
 * 2 * max_queue_pairs, plus one when CTRL_VQ is offered. -EINVAL, -ENOMEM;
 * on error nothing is left allocated. */
int vnet_init(struct vnet_dev *n, const struct vnet_params *p,
	      struct dma_space *dma, const char *name);
void vnet_fini(struct vnet_dev *n);

void vnet_set_hooks(struct vnet_dev *n, const struct vnet_hooks *h, void *ctx);

/* The control queue's index: 2N, N = max_queue_pairs when MQ or RSS was
 * negotiated, else 1. -1 when CTRL_VQ was not negotiated (or before
 * FEATURES_OK). */
int vnet_ctrl_queue_index(const struct vnet_dev *n);

/* Bytes of device configuration: the end of the last field that exists
 * for the offered features (the transport's device-cfg length). */
uint32_t vnet_config_len(const struct vnet_dev *n);

/* Process the control queue (call on its kick): pop every available
 * command (at most the queue size per call), answer each, complete them,
 * and raise the queue's interrupt through hooks->queue_irq when the
 * driver wants one. Returns the number of commands completed; -EIO when
 * the queue broke (DEVICE_NEEDS_RESET is then set). Does nothing before
 * DRIVER_OK, during a reset, or without an enabled control queue. */
int vnet_ctrl_process(struct vnet_dev *n);

/* The RX filter: may frame[0..len) (Ethernet, destination MAC first) be
 * delivered? Runts (< 14 bytes) never; promiscuous mode (CTRL_RX) takes
 * everything else. VLAN filter (CTRL_VLAN): frames with an 802.1Q tag
 * (0x8100, outermost) pass only when their VID is in the table; untagged
 * and priority-tagged (VID 0) frames always pass. MAC rules (CTRL_RX):
 * broadcast unless NOBCAST; multicast unless NOMULTI, if ALLMULTI, the
 * table overflowed, or the address is in the table; unicast unless NOUNI,
 * if ALLUNI, the table overflowed, the address is the primary MAC or in
 * the table. Without CTRL_RX every address passes. */
bool vnet_rx_filter_accept(const struct vnet_rx_filter *f,
			   const uint8_t *frame, size_t len);
static inline bool vnet_rx_accept(const struct vnet_dev *n,
				  const uint8_t *frame, size_t len)
{
	return vnet_rx_filter_accept(&n->filter, frame, len);
}

/* Link state (VIRTIO_NET_S_LINK_UP): on a change, a configuration-change
 * notification when STATUS is offered, and apply(VNET_APPLY_LINK). */
void vnet_set_link(struct vnet_dev *n, bool up);

/* Ask the driver to announce itself (after a migration): with
 * GUEST_ANNOUNCE and STATUS negotiated, set VIRTIO_NET_S_ANNOUNCE and
 * raise a configuration change; ANNOUNCE_ACK clears it. Otherwise nothing. */
void vnet_announce(struct vnet_dev *n);

#endif /* VIRTNET_VIRTIO_NET_H */
