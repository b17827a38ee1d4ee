/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vnet_dp — the virtio-net packet path (virtio 1.3, device-types/net,
 * "Packet Transmission", "Setting Up Receive Buffers", "Processing of
 * Incoming Packets", "Automatic receive steering", "RSS processing").
 *
 * Transmit: vnet_dp_tx_burst() pops chains from a transmit queue, copies
 * each packet once into mbufs and maps its virtio-net header onto the
 * mbuf's offload fields (vnet_hdr_to_mbuf), completes the chains and
 * raises the queue's interrupt when the driver wants one.
 *
 * Receive: vnet_dp_rx_classify() runs the RX filter and picks each
 * packet's receive queue (RSS, or automatic steering that follows the
 * flows the driver transmitted, or receiveq1) and hash; vnet_dp_rx_burst()
 * fills the header (checksum and GSO state, num_buffers, hash) and copies
 * each packet once into one buffer, or across several with
 * VIRTIO_NET_F_MRG_RXBUF.
 *
 * What the lcores read of the device's negotiated and control-queue state
 * is a struct vnet_dp_conf: an immutable snapshot the control thread
 * builds (vnet_dp_conf_new) and publishes RCU-style; the lcores never read
 * struct vnet_dev. The automatic-steering flow table (struct vnet_steer) is
 * the only state shared between lcores: one 16-bit store per transmitted
 * packet, one load per received one, both relaxed atomics (a stale entry
 * only steers a packet to another valid queue).
 *
 * Threads: a struct vnet_dp_queue is owned by one lcore, like its vq;
 * vnet_dp_queue_init/fini/reset run on the control thread while the queue
 * is not polled. Nothing on the burst paths allocates (except mbufs through
 * the caller's ops), blocks or logs above debug without a rate limit.
 *
 * mbufs: the caller provides them (ops->alloc, a mempool in virtnetd) and
 * owns what it passes to vnet_dp_rx_burst (it frees every one afterwards,
 * delivered or not). Nothing here needs the EAL.
 */
#ifndef VIRTNET_VNET_DP_H
#define VIRTNET_VNET_DP_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_net.h"

struct rte_mbuf;

/* Most packets one burst call handles. */
#define VNET_DP_BURST_MAX 64
/* Longest frame accepted from a transmit queue (without the virtio-net
 * header): the 65535-byte IPv6 payload, 40 bytes of IPv6 header and 14 of
 * Ethernet, as the spec sizes receive buffers, plus two VLAN tags. */
#define VNET_DP_FRAME_MAX (65589u + 8u)
/* Automatic receive steering: flows remembered per device. */
#define VNET_STEER_FLOWS 1024

struct vnet_mbuf_ops {
	/* n empty mbufs (as rte_pktmbuf_reset leaves them: data_off at the
	 * headroom, data_len/pkt_len 0, nb_segs 1, next NULL) into m[], or
	 * -ENOMEM and none. */
	int (*alloc)(void *ctx, struct rte_mbuf **m, unsigned n);
	/* Free a packet, every segment of its chain. */
	void (*free)(void *ctx, struct rte_mbuf *m);
	void *ctx;
};

/* The datapath's view of one device: built on the control thread from a
 * vnet_dev whenever what it holds changes (DRIVER_OK, every vnet_hooks
 * apply, a queue reset), read-only afterwards. */
struct vnet_dp_conf {
	uint64_t features;     /* negotiated */
	uint64_t rx_features;  /* features, guest offloads as CTRL_GUEST_OFFLOADS set them */
	uint32_t hdr_len;      /* 12, or 20 with HASH_REPORT */
	uint32_t max_frame;    /* with MTU: mtu + 14 (+ 4 per VLAN tag); else 0 */
	uint16_t pairs;        /* receive queues automatic steering may use */
	uint16_t max_pairs;    /* data queue pairs of the device */
	bool link_up;
	bool steer_auto;       /* MQ negotiated, pairs > 1, RSS steering off */
	bool hash_report;      /* HASH_REPORT negotiated */
	const struct vnet_rss *rss; /* rss_copy, or NULL: no hash, no RSS */
	struct vnet_rx_filter filter;
	struct vnet_rss *rss_copy;
	struct vnet_coal *coal;  /* per data virtqueue (2 * max_pairs) */
	uint64_t rxq_ok[];     /* bit q: receive queue q (virtqueue 2q) is
				* enabled and not being reset */
};

/* A snapshot of n's state for the lcores (control thread). NULL on ENOMEM. */
struct vnet_dp_conf *vnet_dp_conf_new(const struct vnet_dev *n);
/* An empty conf for max_pairs (1..) queue pairs, for a transport whose
 * front end keeps the control plane (vhost-user) to fill in: everything
 * zero (no features, link down, no receive queue usable, no filtering,
 * no coalescing) but max_pairs and pairs = 1. NULL on ENOMEM or 0. */
struct vnet_dp_conf *vnet_dp_conf_alloc(uint16_t max_pairs);
void vnet_dp_conf_free(struct vnet_dp_conf *c);

static inline bool vnet_dp_rxq_ok(const struct vnet_dp_conf *c, uint16_t q)
{
	return q < c->max_pairs && ((c->rxq_ok[q / 64] >> (q % 64)) & 1);
}

/* Automatic receive steering: the receive queue of each flow the driver
 * last transmitted on, plus one (0: none). Zeroed at device reset. */
struct vnet_steer {
	uint16_t q[VNET_STEER_FLOWS];
};

/* One data virtqueue of a device, as its lcore drives it. */
struct vnet_dp_queue {
	struct vq *vq;                  /* the device's (vdev.q[index].vq) */
	struct vnet_queue_stats *stats; /* the device's (vnet_dev.qstats[index]) */
	struct vnet_steer *steer;       /* the device's, or NULL */
	uint16_t index;                 /* virtqueue index: 2k receive, 2k+1 transmit */
	uint16_t pair;                  /* k */
	struct vnet_mbuf_ops mops;      /* transmit: where mbufs come from */
	/* Raise the queue's used-buffer interrupt. */
	void (*irq)(void *ctx, uint16_t index);
	void *irq_ctx;
	/* chains popped and not used yet (receive: a packet the ring ran dry
	 * under), then this burst's */
	struct vq_chain *chains;
	uint32_t nchains_cap, nstash;
	struct vq_seg *segs;
	uint32_t nsegs_cap;
	struct vq_done *done;
	/* transmit: mbufs allocated and not used yet */
	struct rte_mbuf *spare[VNET_DP_BURST_MAX];
	unsigned nspare;
	/* notification coalescing: an interrupt is owed for coal_pending
	 * packets, counted from coal_since (vnet_dp_coal_tick's clock) */
	bool irq_owed, coal_timing;
	uint32_t coal_pending;
	uint64_t coal_since;
	/* transmit: whether the bursts release the frames they read
	 * (dma_release), and how vnet_dp_release_tick chooses it */
	bool release;
	struct {
		uint64_t phase; /* the phase counted now (clock >> VNET_PICK_SHIFT) */
		uint64_t base;  /* stats->packets when it began */
		uint64_t n[2];  /* a block's trial frames: [0] the choice, [1] the other */
		unsigned trials;/* trial phases counted in n (4: judge) */
		bool on;        /* the choice */
		bool can;       /* dma_release_supported(), at setup: else never on */
	} pick;
};

/* Set up q for the data virtqueue `index` (2k receive, 2k+1 transmit) on
 * ring vq (set up when the bursts run, not necessarily now; NULL: the
 * transport sets q->vq before the queue runs) with counters in *stats;
 * max_size bounds the ring's size. -EINVAL, -ENOMEM. */
int vnet_dp_queue_setup(struct vnet_dp_queue *q, struct vq *vq,
			struct vnet_queue_stats *stats, uint16_t index,
			uint16_t max_size, struct vnet_steer *steer,
			const struct vnet_mbuf_ops *mops,
			void (*irq)(void *ctx, uint16_t index), void *irq_ctx);
/* The same for data virtqueue `index` of n: its vq and counters. */
int vnet_dp_queue_init(struct vnet_dp_queue *q, struct vnet_dev *n,
		       uint16_t index, struct vnet_steer *steer,
		       const struct vnet_mbuf_ops *mops,
		       void (*irq)(void *ctx, uint16_t index), void *irq_ctx);
void vnet_dp_queue_fini(struct vnet_dp_queue *q);
/* The ring was reset (device or queue reset): forget popped chains. */
void vnet_dp_queue_reset(struct vnet_dp_queue *q);

/*
 * Notification coalescing (VIRTIO_NET_F_NOTF_COAL, VQ_NOTF_COAL; virtio
 * 1.3, "Notifications Coalescing"). With both max_packets and max_usecs of
 * the queue non-zero, a used-buffer interrupt the driver wants is held
 * until max_packets packets completed since the last one or max_usecs
 * passed since the first of them; with either 0, every burst that the
 * driver wants an interrupt for raises one. The bursts count packets; the
 * owning lcore calls this with its clock (microseconds) every loop to
 * raise what time has made due, including after the parameters changed.
 */
void vnet_dp_coal_tick(struct vnet_dp_queue *q, const struct vnet_dp_conf *c,
		       uint64_t now_us);

/*
 * Release of what a transmit queue reads (dma_release of each frame's
 * bytes after its copy), chosen by measurement. Whether it pays depends on
 * where the driver's CPU sits against ours (see dma_release), which only
 * the frames tell: the owning lcore calls this with its clock
 * (microseconds) every loop. Time runs in phases of 2^VNET_PICK_SHIFT us,
 * blocks of VNET_PICK_BLOCK phases; the block's last four phases run the
 * choice, the other, the other and the choice (a steady ramp in the load
 * favours neither), and when the other's two phases delivered at
 * least 1/16 more frames than the choice's two (and VNET_PICK_MIN or more:
 * a light load tells nothing), the other becomes the choice. Trials
 * interrupted by a gap (the lcore slept) are not judged. The choice starts
 * off; it stays off where dma_release_supported() was false at setup
 * (pick.can: not x86, or no CLFLUSHOPT). The trials are short and the
 * blocks long: the wrong choice costs a fifth to a third of the frames
 * while it runs (README, "Releasing what transmit reads").
 */
#define VNET_PICK_SHIFT 11   /* phases of 2 ms */
#define VNET_PICK_BLOCK 128  /* blocks of 262 ms: the other runs 1.6% of the time */
#define VNET_PICK_MIN   1024 /* frames in two phases: 0.25 Mpps */
void vnet_dp_release_tick(struct vnet_dp_queue *q, uint64_t now_us);

/* A doorbell for the queue was consumed (counts a kick). */
static inline void vnet_dp_kicked(struct vnet_dp_queue *q)
{
	q->stats->kicks++;
}

/*
 * Transmit: pop up to n (<= VNET_DP_BURST_MAX) packets from the transmit
 * queue into pkts[] and complete their chains. Returns the number of
 * packets. Dropped, counted in stats->drops and completed all the same:
 * chains shorter than the header or with a frame shorter than 14 bytes or
 * longer than VNET_DP_FRAME_MAX, headers vnet_hdr_to_mbuf refuses
 * (MALFORMED); every packet while the link is down (LINK_DOWN); packets no
 * mbuf could be allocated for (NO_BUFFER). With steer_auto each packet's
 * flow is remembered for this queue's pair.
 */
unsigned vnet_dp_tx_burst(struct vnet_dp_queue *q,
			  const struct vnet_dp_conf *c,
			  struct rte_mbuf **pkts, unsigned n);

/* Where vnet_dp_rx_classify sends a packet. */
struct vnet_rx_meta {
	uint32_t hash;   /* with hash_report */
	uint8_t report;  /* VIRTIO_NET_HASH_REPORT_* */
	uint8_t drop;    /* 0, or 1 + enum vnet_drop: do not deliver */
	uint16_t queue;  /* receive queue index (virtqueue 2 * queue) */
};

/*
 * Receive, step 1: for each of pkts[0..n) decide delivery and queue. The
 * headers are read from each mbuf's first segment. Link down: drop
 * LINK_DOWN. The RX filter refuses: drop FILTER. Queue: with RSS steering,
 * the indirection table's (dropped QUEUE_OFF when that queue is disabled
 * or being reset); with steer_auto, the queue of the pair that last
 * transmitted on the flow, else one picked by the flow's hash, re-picked
 * when the choice is disabled or being reset (drop QUEUE_OFF when every
 * one is); otherwise receiveq1. The hash and report are those of the RSS /
 * hash configuration (VIRTIO_NET_HASH_REPORT_NONE without one).
 */
void vnet_dp_rx_classify(const struct vnet_dp_conf *c,
			 const struct vnet_steer *steer,
			 struct rte_mbuf *const *pkts, unsigned n,
			 struct vnet_rx_meta *meta);

/*
 * Receive, step 2: deliver pkts[0..n) (<= VNET_DP_BURST_MAX), all meant for
 * this receive queue, with their meta (NULL: no hash, deliver all). The
 * packets' data may be written (checksum completion): the caller must own
 * it. Returns the number delivered; every packet stays the caller's.
 * Dropped and counted: meta's drops; the queue not enabled (QUEUE_OFF);
 * the header cannot describe the packet honestly or it needs segmenting
 * the path does not do (MALFORMED / TOO_BIG); longer than max_frame
 * without GSO (TOO_BIG); no buffer, or not enough buffers with
 * MRG_RXBUF (NO_BUFFER); without MRG_RXBUF, a buffer too small for it
 * (TOO_BIG: the buffer is returned to the driver with nothing written,
 * as a device that never stalls its ring must).
 */
unsigned vnet_dp_rx_burst(struct vnet_dp_queue *q,
			  const struct vnet_dp_conf *c,
			  struct rte_mbuf **pkts,
			  const struct vnet_rx_meta *meta, unsigned n);

#endif /* VIRTNET_VNET_DP_H */
