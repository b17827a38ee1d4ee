/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtio-net packet path (emu/vnet_dp) between the device model and a
 * driver (sim_net over sim_vq) that checks every rule the spec puts on the
 * device: the full initialisation sequence through the virtio_dev API,
 * then packets both ways.
 *
 *  - the feature matrix: split/packed x indirect x EVENT_IDX x MRG_RXBUF x
 *    IN_ORDER x one or four queue pairs, thousands of random frames each, checked
 *    byte for byte and header field for header field on the way out
 *    (mbuf) and on the way in (receive buffers);
 *  - control commands and their effect on the path: RX filter, VLAN
 *    filter, automatic steering after VQ_PAIRS_SET, RSS and hash
 *    reporting checked against an independent Toeplitz, guest offloads;
 *  - offloads: NEEDS_CSUM and TSO out, checksum and GSO state in;
 *  - hostile or unlucky cases: short chains, bad headers, no mbufs (or
 *    few), no receive buffers, buffers too small or of many descriptors,
 *    link down, MTU, device and queue reset in the middle of traffic;
 *  - interrupt suppression as the driver asks for it.
 *
 * mbufs come from a malloc allocator (no EAL): each buffer is its own
 * heap block, so ASan catches a write past one.
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
#include <rte_mbuf.h>

#include "hal_log.h"
#include "sim_hostmem.h"
#include "sim_net.h"
#include "sim_vq.h"
#include "virtio_dev.h"
#include "virtio_net.h"
#include "vnet_dp.h"

#define NF(b) VNET_F(b)
#define GF(b) VDEV_BIT(b)
#define S_ACK VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRV VIRTIO_STATUS_DRIVER
#define S_FOK VIRTIO_STATUS_FEATURES_OK
#define S_DOK VIRTIO_STATUS_DRIVER_OK

#define MEM_IOVA  0x100000ull
#define MEM_LEN   (96ull << 20)
#define MAXP      4
#define MB_ROOM   2048u /* data room of a test mbuf (DPDK's default) */
#define FRAME_CAP 70000u

static const uint8_t OWN[6]   = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t PEER[6]  = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };
static const uint8_t OTHER[6] = { 0x52, 0x54, 0x00, 0x01, 0x02, 0x03 };
static const uint8_t BC[6]    = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* ---- mbufs without a mempool ------------------------------------------------ */
struct mpool {
	unsigned live;       /* allocated and not freed */
	unsigned fail_after; /* allocations left before failing (~0u: never) */
};

static int mb_alloc(void *ctx, struct rte_mbuf **m, unsigned n)
{
	struct mpool *p = ctx;

	if (p->fail_after < n)
		return -ENOMEM;
	if (p->fail_after != ~0u)
		p->fail_after -= n;
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *b = calloc(1, sizeof(*b));
		uint8_t *data = malloc(RTE_PKTMBUF_HEADROOM + MB_ROOM);
		assert_non_null(b);
		assert_non_null(data);
		b->buf_addr = data;
		b->buf_len = RTE_PKTMBUF_HEADROOM + MB_ROOM;
		b->data_off = RTE_PKTMBUF_HEADROOM;
		b->nb_segs = 1;
		m[i] = b;
	}
	p->live += n;
	return 0;
}

static void mb_free(void *ctx, struct rte_mbuf *m)
{
	struct mpool *p = ctx;

	while (m) {
		struct rte_mbuf *next = m->next;
		free(m->buf_addr);
		free(m);
		p->live--;
		m = next;
	}
}

/* The packet's bytes, gathered from its segments. */
static uint32_t mb_bytes(const struct rte_mbuf *m, uint8_t *out)
{
	uint32_t n = 0;

	for (const struct rte_mbuf *s = m; s; s = s->next) {
		memcpy(out + n, rte_pktmbuf_mtod(s, const uint8_t *), s->data_len);
		n += s->data_len;
	}
	assert_int_equal(n, m->pkt_len);
	return n;
}

/* A one-segment mbuf holding f[0..len) (len <= MB_ROOM), or a chain. */
static struct rte_mbuf *mb_from(struct mpool *p, const uint8_t *f, uint32_t len)
{
	struct rte_mbuf *m = NULL, *last = NULL;
	uint32_t off = 0;

	do {
		struct rte_mbuf *s;
		uint32_t n = len - off < MB_ROOM ? len - off : MB_ROOM;
		assert_int_equal(mb_alloc(p, &s, 1), 0);
		memcpy(rte_pktmbuf_mtod(s, uint8_t *), f + off, n);
		s->data_len = (uint16_t)n;
		if (!m) {
			m = s;
		} else {
			last->next = s;
			m->nb_segs++;
		}
		last = s;
		off += n;
	} while (off < len);
	m->pkt_len = len;
	return m;
}

/* ---- frames --------------------------------------------------------------- */
struct flow {
	int ipv;       /* 4 or 6; 0: not IP (ethertype 0x88b5) */
	int proto;     /* 6 TCP, 17 UDP, other: no ports */
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
};

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void random_flow(uint64_t *rng, struct flow *fl)
{
	uint64_t r = rnd(rng);

	memset(fl, 0, sizeof(*fl));
	fl->ipv = (r & 7) == 0 ? 0 : (r & 1) ? 4 : 6;
	fl->proto = ((r >> 3) & 3) == 0 ? 1 : ((r >> 3) & 1) ? 6 : 17;
	for (int i = 0; i < 16; i++) {
		fl->src[i] = (uint8_t)rnd(rng);
		fl->dst[i] = (uint8_t)rnd(rng);
	}
	fl->sport = (uint16_t)rnd(rng);
	fl->dport = (uint16_t)rnd(rng);
}

static void reverse(const struct flow *a, struct flow *b)
{
	*b = *a;
	memcpy(b->src, a->dst, 16);
	memcpy(b->dst, a->src, 16);
	b->sport = a->dport;
	b->dport = a->sport;
}

/* Header bytes (L2 + L3 + L4) of a frame of fl; vid >= 0 adds a tag. */
static uint32_t hdrs_len(const struct flow *fl, int vid)
{
	uint32_t n = 14 + (vid >= 0 ? 4 : 0);

	if (!fl->ipv)
		return n;
	n += fl->ipv == 4 ? 20 : 40;
	return n + (fl->proto == 6 ? 20 : fl->proto == 17 ? 8 : 0);
}

/* Build a frame dst <- src of fl with `payload` random bytes. */
static uint32_t mk_frame(uint8_t *f, const uint8_t *dmac, const uint8_t *smac,
			 const struct flow *fl, int vid, uint32_t payload,
			 uint64_t *rng)
{
	uint32_t o = 12, l3, l4len;

	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	if (vid >= 0) {
		put16(f + o, 0x8100);
		put16(f + o + 2, (uint16_t)vid);
		o += 4;
	}
	put16(f + o, fl->ipv == 4 ? 0x0800 : fl->ipv == 6 ? 0x86dd : 0x88b5);
	o += 2;
	l3 = o;
	l4len = (fl->proto == 6 ? 20 : fl->proto == 17 ? 8 : 0) + payload;
	if (fl->ipv == 4) {
		memset(f + o, 0, 20);
		f[o] = 0x45;
		put16(f + o + 2, (uint16_t)(20 + l4len));
		f[o + 8] = 64;
		f[o + 9] = (uint8_t)fl->proto;
		memcpy(f + o + 12, fl->src, 4);
		memcpy(f + o + 16, fl->dst, 4);
		o += 20;
	} else if (fl->ipv == 6) {
		memset(f + o, 0, 40);
		f[o] = 0x60;
		put16(f + o + 4, (uint16_t)l4len);
		f[o + 6] = (uint8_t)fl->proto;
		f[o + 7] = 64;
		memcpy(f + o + 8, fl->src, 16);
		memcpy(f + o + 24, fl->dst, 16);
		o += 40;
	}
	(void)l3;
	if (fl->ipv && fl->proto == 6) {
		memset(f + o, 0, 20);
		put16(f + o, fl->sport);
		put16(f + o + 2, fl->dport);
		f[o + 12] = 5 << 4;
		f[o + 13] = 0x10; /* ACK */
		o += 20;
	} else if (fl->ipv && fl->proto == 17) {
		memset(f + o, 0, 8);
		put16(f + o, fl->sport);
		put16(f + o + 2, fl->dport);
		put16(f + o + 4, (uint16_t)(8 + payload));
		o += 8;
	}
	for (uint32_t i = 0; i < payload; i++)
		f[o + i] = (uint8_t)rnd(rng);
	return o + payload;
}

/* ---- the device and the driver ---------------------------------------------- */
struct env {
	struct sim_hostmem mem;
	struct dma_space *dma;
	struct vnet_dev n;
	struct vnet_params p;
	bool have_dev;
	struct vnet_dp_conf *conf;
	struct vnet_steer steer;
	struct mpool pool;
	struct vnet_dp_queue dq[2 * MAXP];
	struct sim_net_rxq rx[MAXP];
	struct sim_net_txq tx[MAXP];
	struct sim_vq ctl;
	unsigned npairs;    /* data queue pairs brought up */
	bool have_ctl;
	unsigned irqs[2 * MAXP];
	/* how the driver sets its queues up */
	uint16_t qsize;
	uint32_t rx_buf;    /* 0: what the features call for */
	uint32_t rx_split;
	uint32_t tx_max;    /* longest frame the driver sends */
	bool indirect;
	uint64_t seed;
	uint64_t rng;       /* the focused tests' frames */
	/* queue reset: the lcores take their time (vdev_queue_resetting reads
	 * true until qreset_finish) */
	bool defer_qreset;
	uint8_t *frame, *got;
};

static void rebuild_conf(struct env *e)
{
	vnet_dp_conf_free(e->conf);
	e->conf = vnet_dp_conf_new(&e->n);
	assert_non_null(e->conf);
}

static void h_apply(struct vnet_dev *n, unsigned what)
{
	(void)what;
	rebuild_conf(n->hooks_ctx);
}

static void h_start(struct vnet_dev *n) { rebuild_conf(n->hooks_ctx); }

static void h_quiesce(struct vnet_dev *n)
{
	struct env *e = n->hooks_ctx;

	for (unsigned i = 0; i < 2 * e->npairs; i++)
		vnet_dp_queue_reset(&e->dq[i]);
	memset(&e->steer, 0, sizeof(e->steer));
	vdev_quiesced(&n->vdev);
	rebuild_conf(e);
}

static void h_quiesce_queue(struct vnet_dev *n, uint16_t q)
{
	struct env *e = n->hooks_ctx;

	if (e->defer_qreset) {
		/* The lcores learn the queue is going (a new conf) but have
		 * not let go of the ring yet. */
		rebuild_conf(e);
		return;
	}
	if (q < 2 * e->npairs)
		vnet_dp_queue_reset(&e->dq[q]);
	vdev_queue_quiesced(&n->vdev, q);
	rebuild_conf(e);
}

/* A deferred queue reset completes: the lcores let go of queue q. */
static void qreset_finish(struct env *e, uint16_t q)
{
	assert_true(vdev_queue_resetting(&e->n.vdev, q));
	vnet_dp_queue_reset(&e->dq[q]);
	vdev_queue_quiesced(&e->n.vdev, q);
	rebuild_conf(e);
	assert_false(vdev_queue_resetting(&e->n.vdev, q));
}

static const struct vnet_hooks hooks = {
	.apply = h_apply,
	.start = h_start,
	.quiesce = h_quiesce,
	.quiesce_queue = h_quiesce_queue,
};

static void h_irq(void *ctx, uint16_t index)
{
	((struct env *)ctx)->irqs[index]++;
}

static void quiet(enum hal_log_level l, const char *line)
{
	(void)l;
	(void)line;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	hal_log_set_sink(quiet);
	sim_hostmem_init(&e->mem);
	assert_int_equal(sim_hostmem_add(&e->mem, MEM_IOVA, MEM_LEN), 0);
	e->dma = dma_space_create(NULL);
	assert_non_null(e->dma);
	assert_int_equal(sim_hostmem_map(&e->mem, e->dma, DMA_PROT_READ | DMA_PROT_WRITE), 0);
	vnet_params_default(&e->p);
	memcpy(e->p.mac, OWN, 6);
	e->pool.fail_after = ~0u;
	e->qsize = 256;
	e->tx_max = 9216;
	e->seed = 1;
	e->rng = 0x5eed;
	e->frame = malloc(FRAME_CAP);
	e->got = malloc(FRAME_CAP);
	*state = e;
	return 0;
}

static void drv_down(struct env *e)
{
	for (unsigned i = 0; i < e->npairs; i++) {
		sim_net_rxq_fini(&e->rx[i]);
		sim_net_txq_fini(&e->tx[i]);
		vnet_dp_queue_fini(&e->dq[2 * i]);
		vnet_dp_queue_fini(&e->dq[2 * i + 1]);
	}
	e->npairs = 0;
	if (e->have_ctl)
		sim_vq_fini(&e->ctl);
	e->have_ctl = false;
	/* Host memory is the driver's again: start allocating from the top. */
	e->mem.cur = 0;
	e->mem.cursor = 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	drv_down(e);
	if (e->have_dev)
		vnet_fini(&e->n);
	vnet_dp_conf_free(e->conf);
	assert_int_equal(e->pool.live, 0);
	dma_space_destroy(e->dma);
	sim_hostmem_free(&e->mem);
	free(e->frame);
	free(e->got);
	free(e);
	hal_log_set_sink(NULL);
	return 0;
}

static void dev_create(struct env *e, uint64_t features, uint16_t pairs)
{
	e->p.features = features;
	e->p.max_queue_pairs = pairs;
	if (features & NF(VIRTIO_NET_F_RSS))
		e->p.rss_max_table_len = 128;
	if (features & (NF(VIRTIO_NET_F_RSS) | NF(VIRTIO_NET_F_HASH_REPORT)))
		e->p.hash_types = VNET_RSS_HASH_TYPES_ALL;
	assert_int_equal(vnet_init(&e->n, &e->p, e->dma, "t"), 0);
	e->have_dev = true;
	vnet_set_hooks(&e->n, &hooks, e);
}

/* The driver's receive buffer size for the negotiated features. */
static uint32_t rx_buf_len(const struct env *e, uint64_t f)
{
	uint32_t hl = (uint32_t)vnet_hdr_len(f);

	if (e->rx_buf)
		return e->rx_buf;
	if (f & NF(VIRTIO_NET_F_MRG_RXBUF))
		return 1536; /* as Linux sizes mergeable buffers, roughly */
	if (f & (NF(VIRTIO_NET_F_GUEST_TSO4) | NF(VIRTIO_NET_F_GUEST_TSO6) |
		 NF(VIRTIO_NET_F_GUEST_USO4) | NF(VIRTIO_NET_F_GUEST_USO6)))
		return 65589 + hl + 8;
	return 1514 + hl + 8; /* two VLAN tags of slack */
}

/*
 * The driver's initialisation sequence (virtio 1.3, 3.1.1): reset,
 * ACKNOWLEDGE, DRIVER, read the offer, write the accepted subset,
 * FEATURES_OK and read it back, set up every queue (size, addresses,
 * enable), DRIVER_OK. `want` is what the driver would like; it takes the
 * intersection with the offer.
 */
static void drv_up(struct env *e, uint64_t want)
{
	struct vdev *d = &e->n.vdev;
	uint64_t f;
	uint32_t rflags;
	struct vnet_mbuf_ops mops = { mb_alloc, mb_free, &e->pool };

	assert_int_equal(vdev_set_status(d, 0), 0);
	assert_int_equal(vdev_get_status(d), 0);
	assert_int_equal(vdev_set_status(d, S_ACK), 0);
	assert_int_equal(vdev_set_status(d, S_ACK | S_DRV), 0);
	f = want & d->device_features;
	assert_int_equal(vdev_set_driver_features(d, f), 0);
	assert_int_equal(vdev_set_status(d, S_ACK | S_DRV | S_FOK), 0);
	assert_int_equal(vdev_get_status(d), S_ACK | S_DRV | S_FOK);
	assert_int_equal(vdev_features(d), f);
	rflags = vdev_ring_flags(d);

	int ci = vnet_ctrl_queue_index(&e->n);
	e->npairs = ci >= 0 ? (unsigned)ci / 2 : 1;
	assert_true(e->npairs <= MAXP);
	for (unsigned i = 0; i < e->npairs; i++) {
		struct sim_net_rxq *rq = &e->rx[i];
		struct sim_net_txq *tq = &e->tx[i];
		bool ind = e->indirect && (rflags & VQ_F_INDIRECT);

		assert_int_equal(sim_net_rxq_init(rq, &e->mem, e->qsize, rflags, f,
						  rx_buf_len(e, f), e->rx_split, ind), 0);
		assert_int_equal(sim_net_txq_init(tq, &e->mem, e->qsize, rflags, f,
						  e->tx_max, ind,
						  e->seed * 7 + i), 0);
		struct sim_vq *v[2] = { &rq->vq, &tq->vq };
		for (unsigned k = 0; k < 2; k++) {
			uint16_t qi = (uint16_t)(2 * i + k);
			assert_int_equal(vdev_queue_set_size(d, qi, e->qsize), 0);
			assert_int_equal(vdev_queue_set_addr(d, qi, v[k]->desc_iova,
							     v[k]->avail_iova, v[k]->used_iova), 0);
			assert_int_equal(vdev_queue_set_vector(d, qi, qi), 0);
			assert_int_equal(vdev_queue_enable(d, qi), 0);
			assert_int_equal(vnet_dp_queue_init(&e->dq[qi], &e->n, qi, &e->steer,
							    &mops, h_irq, e), 0);
		}
	}
	if (ci >= 0) {
		assert_int_equal(sim_vq_init(&e->ctl, &e->mem, 64, rflags, 0), 0);
		assert_int_equal(vdev_queue_set_size(d, (uint16_t)ci, 64), 0);
		assert_int_equal(vdev_queue_set_addr(d, (uint16_t)ci, e->ctl.desc_iova,
						     e->ctl.avail_iova, e->ctl.used_iova), 0);
		assert_int_equal(vdev_queue_enable(d, (uint16_t)ci), 0);
		e->have_ctl = true;
	}
	assert_int_equal(vdev_set_status(d, S_ACK | S_DRV | S_FOK | S_DOK), 0);
	assert_int_equal(vdev_get_status(d), S_ACK | S_DRV | S_FOK | S_DOK);
	assert_non_null(e->conf); /* start hook ran */
	for (unsigned i = 0; i < e->npairs; i++)
		sim_net_rx_fill(&e->rx[i]);
}

/* One control command; returns the ack. */
static int ctrl(struct env *e, uint8_t cls, uint8_t cmd, const void *data,
		uint32_t len)
{
	uint64_t out_iova, in_iova;
	uint8_t buf[2048];
	struct sim_buf out, in;
	uint32_t used;
	bool bad;

	assert_true(e->have_ctl && len + 2 <= sizeof(buf));
	buf[0] = cls;
	buf[1] = cmd;
	memcpy(buf + 2, data, len);
	assert_int_equal(sim_hostmem_alloc(&e->mem, len + 2, 8, &out_iova), 0);
	assert_int_equal(sim_hostmem_alloc(&e->mem, 1, 8, &in_iova), 0);
	assert_int_equal(sim_hostmem_write(&e->mem, out_iova, buf, len + 2), 0);
	out = (struct sim_buf){ out_iova, len + 2 };
	in = (struct sim_buf){ in_iova, 1 };
	assert_int_equal(sim_vq_add(&e->ctl, &out, 1, &in, 1, (void *)e, false), 0);
	sim_vq_publish(&e->ctl);
	assert_int_equal(vnet_ctrl_process(&e->n), 1);
	assert_ptr_equal(sim_vq_get_used(&e->ctl, &used, &bad), (void *)e);
	assert_int_equal(used, 1);
	uint8_t ack;
	assert_int_equal(sim_hostmem_read(&e->mem, in_iova, &ack, 1), 0);
	return ack;
}

static int ctrl_u8(struct env *e, uint8_t cls, uint8_t cmd, uint8_t v)
{
	return ctrl(e, cls, cmd, &v, 1);
}

static int ctrl_u16(struct env *e, uint8_t cls, uint8_t cmd, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	return ctrl(e, cls, cmd, b, 2);
}

/* ---- moving packets ---------------------------------------------------------- */

/* A driver header with nothing asked. */
static void plain_hdr(struct vnet_hdr_hash *h)
{
	memset(h, 0, sizeof(*h));
}

/* Run transmit queue `pair` until it is empty; the packets go to out[]
 * (at most cap); returns how many. */
static unsigned tx_drain(struct env *e, unsigned pair, struct rte_mbuf **out,
			 unsigned cap)
{
	unsigned n = 0;

	for (;;) {
		struct rte_mbuf *b[VNET_DP_BURST_MAX];
		unsigned want = cap - n < VNET_DP_BURST_MAX ? cap - n : VNET_DP_BURST_MAX;
		unsigned got = vnet_dp_tx_burst(&e->dq[2 * pair + 1], e->conf, b, want);
		unsigned popped_none = got == 0 && e->tx[pair].vq.num_free == e->qsize;

		memcpy(out + n, b, got * sizeof(*b));
		n += got;
		if (got == 0 || n == cap || popped_none) {
			/* Nothing delivered: make sure the ring is really drained
			 * (drops complete chains too). */
			if (got == 0)
				break;
		}
		if (n == cap)
			break;
	}
	assert_true(sim_net_tx_reclaim(&e->tx[pair]) >= 0);
	return n;
}

/* Deliver pkts[0..n) through the classify + per-queue receive path, as
 * virtnetd's lcore does; frees them. */
static void rx_deliver(struct env *e, struct rte_mbuf **pkts, unsigned n)
{
	for (unsigned off = 0; off < n; off += VNET_DP_BURST_MAX) {
		unsigned cnt = n - off < VNET_DP_BURST_MAX ? n - off : VNET_DP_BURST_MAX;
		struct vnet_rx_meta meta[VNET_DP_BURST_MAX];

		vnet_dp_rx_classify(e->conf, &e->steer, pkts + off, cnt, meta);
		for (unsigned q = 0; q < e->npairs; q++) {
			struct rte_mbuf *sel[VNET_DP_BURST_MAX];
			struct vnet_rx_meta sm[VNET_DP_BURST_MAX];
			unsigned k = 0;

			for (unsigned i = 0; i < cnt; i++) {
				if (meta[i].queue != q)
					continue;
				sel[k] = pkts[off + i];
				sm[k++] = meta[i];
			}
			if (k)
				vnet_dp_rx_burst(&e->dq[2 * q], e->conf, sel, sm, k);
		}
		for (unsigned i = 0; i < cnt; i++)
			assert_true(meta[i].queue < e->npairs);
		for (unsigned i = 0; i < cnt; i++)
			mb_free(&e->pool, pkts[off + i]);
	}
}

/* Receive one packet from queue q; 1, or 0 when there is none. */
static int recv1(struct env *e, unsigned q, struct vnet_hdr_hash *h, uint32_t *len)
{
	int rc = sim_net_recv(&e->rx[q], h, e->got, FRAME_CAP, len);

	if (rc < 0)
		fail_msg("driver: %s", e->rx[q].why ? e->rx[q].why : "?");
	return rc;
}

static uint64_t drops(const struct env *e, unsigned qi, enum vnet_drop why)
{
	return e->n.qstats[qi].drops[why];
}

/* Everything the device may offer in these tests. */
#define OFFER (GF(VIRTIO_F_VERSION_1) | GF(VIRTIO_F_RING_PACKED) | \
	       GF(VIRTIO_F_INDIRECT_DESC) | GF(VIRTIO_F_EVENT_IDX) | \
	       GF(VIRTIO_F_IN_ORDER) | GF(VIRTIO_F_RING_RESET) | \
	       NF(VIRTIO_NET_F_MAC) | NF(VIRTIO_NET_F_STATUS) | \
	       NF(VIRTIO_NET_F_CTRL_VQ) | NF(VIRTIO_NET_F_CTRL_RX) | \
	       NF(VIRTIO_NET_F_CTRL_VLAN) | NF(VIRTIO_NET_F_MQ) | \
	       NF(VIRTIO_NET_F_MRG_RXBUF) | NF(VIRTIO_NET_F_CSUM) | \
	       NF(VIRTIO_NET_F_GUEST_CSUM) | NF(VIRTIO_NET_F_HOST_TSO4) | \
	       NF(VIRTIO_NET_F_HOST_TSO6) | NF(VIRTIO_NET_F_GUEST_TSO4) | \
	       NF(VIRTIO_NET_F_GUEST_TSO6) | NF(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | \
	       NF(VIRTIO_NET_F_MTU) | NF(VIRTIO_NET_F_RSS) | \
	       NF(VIRTIO_NET_F_HASH_REPORT))

/* The basic driver: no offloads, no multiqueue. */
#define BASIC (GF(VIRTIO_F_VERSION_1) | NF(VIRTIO_NET_F_MAC) | \
	       NF(VIRTIO_NET_F_STATUS) | NF(VIRTIO_NET_F_CTRL_VQ) | \
	       NF(VIRTIO_NET_F_CTRL_RX))

/* ---- the feature matrix -------------------------------------------------- */

/* What the driver expects back: the frames of one receive queue, in order. */
struct expect {
	uint32_t off[4096], len[4096];
	unsigned n, next;
	uint8_t *bytes;
	uint32_t used;
};

static void expect_add(struct expect *x, const uint8_t *f, uint32_t len)
{
	assert_true(x->n < 4096 && x->used + len <= (8u << 20));
	x->off[x->n] = x->used;
	x->len[x->n++] = len;
	memcpy(x->bytes + x->used, f, len);
	x->used += len;
}

/* Steering model: the flows the driver sent, as the spec asks the device
 * to follow them, in a table of the device's size. The key itself is the
 * device's (vnet_flow_key, checked for symmetry on its own below). */
struct steer_model {
	uint16_t q[VNET_STEER_FLOWS];
};

static unsigned model_queue(const struct steer_model *m, const uint8_t *f,
			    uint32_t len, unsigned pairs)
{
	uint32_t key;

	if (pairs < 2 || !vnet_flow_key(f, len, &key))
		return 0;
	uint16_t e = m->q[key % VNET_STEER_FLOWS];
	return e ? e - 1u : key % pairs;
}

static void model_learn(struct steer_model *m, const uint8_t *f, uint32_t len,
			unsigned pair)
{
	uint32_t key;

	if (vnet_flow_key(f, len, &key))
		m->q[key % VNET_STEER_FLOWS] = (uint16_t)(pair + 1);
}

struct mcase {
	bool packed, indirect, event_idx, mrg, in_order;
	unsigned pairs;
};

/* Returns the packets it moved, both ways. */
static unsigned run_matrix_case(struct env *e, const struct mcase *mc)
{
	uint64_t want = BASIC | NF(VIRTIO_NET_F_CTRL_VLAN);
	uint64_t rng = 0x1234 + (mc->in_order << 5 | mc->packed << 4 | mc->indirect << 3 |
				 mc->event_idx << 2 | mc->mrg << 1) * 131 + mc->pairs;
	struct rte_mbuf **pk = calloc(4096, sizeof(*pk));
	struct expect *x = calloc(MAXP, sizeof(*x));
	struct steer_model *sm = calloc(1, sizeof(*sm));
	uint64_t tx_pkts[MAXP] = { 0 }, tx_bytes[MAXP] = { 0 };
	uint64_t rx_pkts[MAXP] = { 0 }, rx_bytes[MAXP] = { 0 };
	struct flow *flows = calloc(4096, sizeof(*flows));
	uint32_t maxpay = mc->mrg ? 9000 : 1400;
	unsigned total_rx = 0;

	want |= mc->packed ? GF(VIRTIO_F_RING_PACKED) : 0;
	want |= mc->indirect ? GF(VIRTIO_F_INDIRECT_DESC) : 0;
	want |= mc->event_idx ? GF(VIRTIO_F_EVENT_IDX) : 0;
	want |= mc->mrg ? NF(VIRTIO_NET_F_MRG_RXBUF) : 0;
	want |= mc->pairs > 1 ? NF(VIRTIO_NET_F_MQ) : 0;
	want |= mc->in_order ? GF(VIRTIO_F_IN_ORDER) : 0;
	e->indirect = mc->indirect;
	e->rx_split = mc->indirect ? 512 : 0; /* a buffer in several pieces */
	e->qsize = mc->packed ? 200 : 256;    /* packed: any size */
	dev_create(e, OFFER, MAXP);
	drv_up(e, want);
	assert_int_equal(e->npairs, mc->pairs > 1 ? MAXP : 1);
	if (mc->pairs > 1)
		assert_int_equal(ctrl_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
					  (uint16_t)mc->pairs), VIRTIO_NET_OK);
	assert_int_equal(e->conf->pairs, mc->pairs);
	assert_int_equal(e->conf->steer_auto, mc->pairs > 1);
	for (unsigned q = 0; q < MAXP; q++)
		x[q].bytes = malloc(8u << 20);

	for (unsigned round = 0; round < 24; round++) {
		unsigned nf = 0;

		/* Transmit: a random burst on every pair, random layouts. */
		for (unsigned p = 0; p < e->npairs; p++) {
			unsigned k = 1 + (unsigned)(rnd(&rng) % 24), got;
			uint32_t lens[32];
			uint8_t *sent = malloc(k * 9100u);

			for (unsigned i = 0; i < k; i++) {
				struct vnet_hdr_hash h;
				struct flow fl;

				random_flow(&rng, &fl);
				uint32_t pay = (uint32_t)(rnd(&rng) % (maxpay + 1));
				lens[i] = mk_frame(sent + i * 9100u, PEER, OWN, &fl, -1, pay, &rng);
				plain_hdr(&h);
				assert_int_equal(sim_net_send(&e->tx[p], &h, sent + i * 9100u,
							      lens[i], SIM_NET_LAYOUT__COUNT), 0);
				flows[nf++] = fl;
				model_learn(sm, sent + i * 9100u, lens[i], p);
			}
			sim_net_tx_flush(&e->tx[p]);
			vnet_dp_kicked(&e->dq[2 * p + 1]);
			got = tx_drain(e, p, pk, 4096);
			assert_int_equal(got, k);
			for (unsigned i = 0; i < k; i++) {
				struct rte_mbuf *m = pk[i];
				assert_int_equal(m->pkt_len, lens[i]);
				assert_int_equal(m->nb_segs, (lens[i] + MB_ROOM - 1) / MB_ROOM);
				assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_OFFLOAD_MASK, 0);
				mb_bytes(m, e->got);
				assert_memory_equal(e->got, sent + i * 9100u, lens[i]);
				tx_pkts[p]++;
				tx_bytes[p] += lens[i];
				mb_free(&e->pool, m);
			}
			free(sent);
		}

		/* Receive: a reply to every flow, plus broadcasts; each lands
		 * where the steering model says. */
		unsigned nrx = 0;
		for (unsigned i = 0; i < nf; i++) {
			struct flow r;
			uint32_t pay = (uint32_t)(rnd(&rng) % (maxpay + 1));
			const uint8_t *dmac = (rnd(&rng) & 15) == 0 ? BC : OWN;

			reverse(&flows[i], &r);
			uint32_t len = mk_frame(e->frame, dmac, PEER, &r, -1, pay, &rng);
			unsigned q = model_queue(sm, e->frame, len, mc->pairs);
			expect_add(&x[q], e->frame, len);
			rx_pkts[q]++;
			rx_bytes[q] += len;
			pk[nrx++] = mb_from(&e->pool, e->frame, len);
		}
		rx_deliver(e, pk, nrx);
		total_rx += nrx;

		/* The driver reads every queue and checks every field. */
		for (unsigned q = 0; q < e->npairs; q++) {
			struct vnet_hdr_hash h;
			uint32_t len;

			while (recv1(e, q, &h, &len) == 1) {
				struct expect *ex = &x[q];
				uint32_t buf = e->rx[q].buf_len;
				uint32_t hl = e->conf->hdr_len;

				assert_true(ex->next < ex->n);
				assert_int_equal(len, ex->len[ex->next]);
				assert_memory_equal(e->got, ex->bytes + ex->off[ex->next], len);
				ex->next++;
				assert_int_equal(h.hdr.flags, 0);
				assert_int_equal(h.hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
				assert_int_equal(vle16_to_cpu(h.hdr.gso_size), 0);
				assert_int_equal(vle16_to_cpu(h.hdr.csum_start), 0);
				assert_int_equal(vle16_to_cpu(h.hdr.csum_offset), 0);
				assert_int_equal(vle16_to_cpu(h.hdr.num_buffers),
						 mc->mrg ? (hl + len + buf - 1) / buf : 1);
			}
			sim_net_rx_fill(&e->rx[q]);
		}
		for (unsigned q = 0; q < e->npairs; q++)
			assert_int_equal(x[q].next, x[q].n);
	}

	/* Counters: what went through, nothing dropped, interrupts as sent. */
	for (unsigned p = 0; p < e->npairs; p++) {
		const struct vnet_queue_stats *rs = &e->n.qstats[2 * p];
		const struct vnet_queue_stats *ts = &e->n.qstats[2 * p + 1];

		assert_int_equal(ts->packets, tx_pkts[p]);
		assert_int_equal(ts->bytes, tx_bytes[p]);
		assert_int_equal(rs->packets, rx_pkts[p]);
		assert_int_equal(rs->bytes, rx_bytes[p]);
		for (unsigned d = 0; d < VNET_DROP__COUNT; d++) {
			assert_int_equal(rs->drops[d], 0);
			assert_int_equal(ts->drops[d], 0);
		}
		assert_int_equal(ts->kicks, 24);
		assert_int_equal(rs->interrupts, e->irqs[2 * p]);
		assert_int_equal(ts->interrupts, e->irqs[2 * p + 1]);
		assert_true(ts->interrupts > 0);
		if (rx_pkts[p])
			assert_true(rs->interrupts > 0);
	}
	if (mc->pairs > 1) /* the replies really were spread */
		for (unsigned q = 0; q < MAXP; q++)
			assert_true(rx_pkts[q] > 0);
	assert_true(total_rx >= 24);
	for (unsigned q = 0; q < MAXP; q++)
		free(x[q].bytes);
	free(x);
	free(sm);
	free(pk);
	free(flows);
	return 2 * total_rx; /* one reply per transmitted packet */
}

static void test_matrix(void **state)
{
	struct env *e = *state;
	unsigned ncases = 0, moved = 0;

	for (unsigned bits = 0; bits < 64; bits++) {
		struct mcase mc = {
			.packed = bits & 1, .indirect = bits & 2, .event_idx = bits & 4,
			.mrg = bits & 8, .pairs = (bits & 16) ? 4 : 1,
			.in_order = bits & 32,
		};
		moved += run_matrix_case(e, &mc);
		drv_down(e);
		assert_int_equal(e->pool.live, 0); /* the queues' spares too */
		vnet_fini(&e->n);
		e->have_dev = false;
		vnet_dp_conf_free(e->conf);
		e->conf = NULL;
		memset(e->irqs, 0, sizeof(e->irqs));
		memset(&e->steer, 0, sizeof(e->steer));
		ncases++;
	}
	assert_int_equal(ncases, 64);
	assert_true(moved > 40000);
	print_message("matrix: %u cases, %u packets checked\n", ncases, moved);
}

/* ---- the focused tests' tools --------------------------------------------- */

static const uint8_t MC[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

/* A flow of the given kind (ipv 0: not IP), random addresses and ports. */
static void flow_of(struct env *e, struct flow *fl, int ipv, int proto)
{
	random_flow(&e->rng, fl);
	fl->ipv = ipv;
	fl->proto = proto;
}

/* A frame of exactly len bytes of fl, dmac <- smac (vid >= 0: tagged). */
static uint32_t frame_of(struct env *e, uint8_t *f, const uint8_t *dmac,
			 const uint8_t *smac, const struct flow *fl, int vid,
			 uint32_t len)
{
	uint32_t h = hdrs_len(fl, vid);

	assert_true(len >= h && len <= FRAME_CAP);
	assert_int_equal(mk_frame(f, dmac, smac, fl, vid, len - h, &e->rng), len);
	return len;
}

/* Frames for one receive burst. */
#define SET_FRAME 2048
struct fset {
	unsigned n;
	uint32_t len[VNET_DP_BURST_MAX];
	uint8_t f[VNET_DP_BURST_MAX][SET_FRAME];
};

/* Add a frame of len bytes to dmac; returns its index. */
static unsigned fset_add(struct env *e, struct fset *s, const uint8_t *dmac,
			 const struct flow *fl, int vid, uint32_t len)
{
	assert_true(s->n < VNET_DP_BURST_MAX && len <= SET_FRAME);
	s->len[s->n] = frame_of(e, s->f[s->n], dmac, PEER, fl, vid, len);
	return s->n++;
}

/* Hand every frame of s to the receive path in one burst. */
static void rx_set(struct env *e, const struct fset *s)
{
	struct rte_mbuf *pk[VNET_DP_BURST_MAX];

	for (unsigned i = 0; i < s->n; i++)
		pk[i] = mb_from(&e->pool, s->f[i], s->len[i]);
	rx_deliver(e, pk, s->n);
}

static void rx_frame(struct env *e, const uint8_t *f, uint32_t len)
{
	struct rte_mbuf *m = mb_from(&e->pool, f, len);

	rx_deliver(e, &m, 1);
}

/* The driver's next packet on queue q is f[0..len) (its header in *h). */
static void expect_rx(struct env *e, unsigned q, const uint8_t *f, uint32_t len,
		      struct vnet_hdr_hash *h)
{
	struct vnet_hdr_hash mine;
	uint32_t got = 0;

	assert_int_equal(recv1(e, q, h ? h : &mine, &got), 1);
	assert_int_equal(got, len);
	assert_memory_equal(e->got, f, len);
}

static void expect_set(struct env *e, unsigned q, const struct fset *s, unsigned i)
{
	expect_rx(e, q, s->f[i], s->len[i], NULL);
}

/* Nothing (more) on any receive queue; the buffers go back to the ring. */
static void expect_quiet(struct env *e)
{
	for (unsigned q = 0; q < e->npairs; q++) {
		struct vnet_hdr_hash h;
		uint32_t len;

		assert_int_equal(recv1(e, q, &h, &len), 0);
		sim_net_rx_fill(&e->rx[q]);
	}
}

/* Deliver one frame alone: the queue the driver found it on (its header in
 * *h), or -1 when it found it nowhere. The buffers go back to the ring. */
static int rx_where(struct env *e, const uint8_t *f, uint32_t len,
		    struct vnet_hdr_hash *h)
{
	int where = -1;

	rx_frame(e, f, len);
	for (unsigned q = 0; q < e->npairs; q++) {
		struct vnet_hdr_hash hh;
		uint32_t got;

		if (recv1(e, q, &hh, &got) == 0)
			continue;
		assert_int_equal(where, -1); /* one copy, one queue */
		where = (int)q;
		assert_int_equal(got, len);
		assert_memory_equal(e->got, f, len);
		if (h)
			*h = hh;
	}
	expect_quiet(e);
	return where;
}

/* One drop counter summed over the receive queues / every counter of
 * every data queue. */
static uint64_t rx_drops(const struct env *e, enum vnet_drop why)
{
	uint64_t n = 0;

	for (unsigned q = 0; q < e->npairs; q++)
		n += drops(e, 2 * q, why);
	return n;
}

static uint64_t all_drops(const struct env *e)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < 2 * e->npairs; i++)
		for (unsigned d = 0; d < VNET_DROP__COUNT; d++)
			n += drops(e, i, (enum vnet_drop)d);
	return n;
}

/* Queue one frame on transmit queue p (h NULL: nothing asked), publish. */
static void tx_frame(struct env *e, unsigned p, const struct vnet_hdr_hash *h,
		     const uint8_t *f, uint32_t len)
{
	struct vnet_hdr_hash plain;

	if (!h) {
		plain_hdr(&plain);
		h = &plain;
	}
	assert_int_equal(sim_net_send(&e->tx[p], h, f, len, SIM_NET_LAYOUT__COUNT), 0);
	sim_net_tx_flush(&e->tx[p]);
}

/* Transmit one frame: the mbuf the device made of it. */
static struct rte_mbuf *tx_one(struct env *e, unsigned p,
			       const struct vnet_hdr_hash *h, const uint8_t *f,
			       uint32_t len)
{
	struct rte_mbuf *m = NULL;

	tx_frame(e, p, h, f, len);
	assert_int_equal(tx_drain(e, p, &m, 1), 1);
	assert_int_equal(m->pkt_len, len);
	mb_bytes(m, e->got);
	assert_memory_equal(e->got, f, len);
	return m;
}

/* Transmit one plain frame on pair p (the device sees its flow there). */
static void tx_learn(struct env *e, unsigned p, const uint8_t *f, uint32_t len)
{
	mb_free(&e->pool, tx_one(e, p, NULL, f, len));
}

/* Post a chain sim_net_send would never build: rlen readable then wlen
 * writable bytes (either may be 0), inside one of the queue's own slots so
 * sim_net_tx_reclaim takes it back like any other. Not published. */
static void tx_raw(struct env *e, unsigned p, uint32_t rlen, uint32_t wlen)
{
	struct sim_net_txq *t = &e->tx[p];
	struct sim_buf out, in;
	uint16_t slot;
	uint64_t iova;

	assert_true(t->n_free > 0 && rlen + wlen <= t->slot_len && rlen + wlen > 0);
	slot = t->free_slots[--t->n_free];
	iova = t->slot_iova + (uint64_t)slot * t->slot_len;
	memset(t->slot_va + (size_t)slot * t->slot_len, 0x5a, rlen + wlen);
	out = (struct sim_buf){ iova, rlen };
	in = (struct sim_buf){ iova + rlen, wlen };
	assert_int_equal(sim_vq_add(&t->vq, rlen ? &out : NULL, rlen ? 1 : 0,
				    wlen ? &in : NULL, wlen ? 1 : 0,
				    (void *)(uintptr_t)(slot + 1u), false), 0);
	t->sent++;
}

/* ---- control commands ---------------------------------------------------- */

static int mac_table_set(struct env *e, const uint8_t (*uc)[6], uint32_t nuc,
			 const uint8_t (*mc)[6], uint32_t nmc)
{
	uint8_t b[2 * (4 + 4 * 6)];
	uint32_t o = 0;

	assert_true(nuc <= 4 && nmc <= 4);
	put_le32(b + o, nuc);
	o += 4;
	for (uint32_t i = 0; i < nuc; i++, o += 6)
		memcpy(b + o, uc[i], 6);
	put_le32(b + o, nmc);
	o += 4;
	for (uint32_t i = 0; i < nmc; i++, o += 6)
		memcpy(b + o, mc[i], 6);
	return ctrl(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, b, o);
}

/* struct virtio_net_rss_config: n table entries, a 40-byte key. */
static int rss_config(struct env *e, uint32_t types, const uint16_t *table,
		      uint16_t n, uint16_t unclassified, uint16_t max_tx_vq,
		      const uint8_t *key)
{
	uint8_t b[8 + 2 * 128 + 3 + 40];
	uint32_t o = 8;

	assert_true(n <= 128);
	put_le32(b, types);
	put_le16(b + 4, (uint16_t)(n - 1));
	put_le16(b + 6, unclassified);
	for (uint16_t i = 0; i < n; i++, o += 2)
		put_le16(b + o, table[i]);
	put_le16(b + o, max_tx_vq);
	b[o + 2] = 40;
	o += 3;
	memcpy(b + o, key, 40);
	o += 40;
	return ctrl(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, b, o);
}

/* struct virtio_net_hash_config with a 40-byte key. */
static int hash_config(struct env *e, uint32_t types, const uint8_t *key)
{
	uint8_t b[VNET_HASH_CONFIG_MIN_LEN + 40];

	memset(b, 0, sizeof(b));
	put_le32(b, types);
	b[12] = 40;
	memcpy(b + VNET_HASH_CONFIG_MIN_LEN, key, 40);
	return ctrl(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_HASH_CONFIG, b, sizeof(b));
}

static int guest_offloads_set(struct env *e, uint64_t v)
{
	uint8_t b[8];

	put_le32(b, (uint32_t)v);
	put_le32(b + 4, (uint32_t)(v >> 32));
	return ctrl(e, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
		    VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, b, 8);
}

#define RSS_TYPES (VIRTIO_NET_RSS_HASH_TYPE_TCPv4 | VIRTIO_NET_RSS_HASH_TYPE_UDPv4 | \
		   VIRTIO_NET_RSS_HASH_TYPE_IPv4 | VIRTIO_NET_RSS_HASH_TYPE_TCPv6 | \
		   VIRTIO_NET_RSS_HASH_TYPE_UDPv6 | VIRTIO_NET_RSS_HASH_TYPE_IPv6)

/* The hash the spec defines for fl under a 40-byte key: Toeplitz (the
 * reference bit loop) over source address, destination address and, for
 * TCP/UDP, source and destination port, in network order. *report: its
 * type; NONE and 0 for a frame that is not IP. */
static uint32_t flow_hash(const uint8_t *key, const struct flow *fl, uint8_t *report)
{
	uint8_t in[36];
	size_t al = fl->ipv == 4 ? 4 : 16, n;
	bool ports = fl->proto == 6 || fl->proto == 17;

	if (!fl->ipv) {
		*report = VIRTIO_NET_HASH_REPORT_NONE;
		return 0;
	}
	memcpy(in, fl->src, al);
	memcpy(in + al, fl->dst, al);
	n = 2 * al;
	if (ports) {
		put16(in + n, fl->sport);
		put16(in + n + 2, fl->dport);
		n += 4;
	}
	if (fl->ipv == 4)
		*report = fl->proto == 6 ? VIRTIO_NET_HASH_REPORT_TCPv4 :
			  fl->proto == 17 ? VIRTIO_NET_HASH_REPORT_UDPv4 :
			  VIRTIO_NET_HASH_REPORT_IPv4;
	else
		*report = fl->proto == 6 ? VIRTIO_NET_HASH_REPORT_TCPv6 :
			  fl->proto == 17 ? VIRTIO_NET_HASH_REPORT_UDPv6 :
			  VIRTIO_NET_HASH_REPORT_IPv6;
	return vnet_toeplitz(key, 40, in, n);
}

/* ---- checksums, as a driver computes them (RFC 1071) ----------------------- */
static uint64_t sum16(const uint8_t *p, uint32_t n)
{
	uint64_t s = 0;
	uint32_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < n)
		s += (uint32_t)p[i] << 8;
	return s;
}

static uint16_t fold16(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* TCP/IPv4 frames without tags or options: l3 at 14, l4 at 34. */
#define T4_IP   14u
#define T4_TCP  34u
#define T4_CSUM (T4_TCP + 16u)

static uint32_t tcp4_len(const uint8_t *f)
{
	return (uint32_t)(f[T4_IP + 2] << 8 | f[T4_IP + 3]) - 20u;
}

/* The pseudo-header sum (addresses, protocol, TCP length), folded. */
static uint16_t tcp4_pseudo(const uint8_t *f)
{
	return fold16(sum16(f + T4_IP + 12, 8) + 6 + tcp4_len(f));
}

static bool tcp4_csum_ok(const uint8_t *f)
{
	return fold16(tcp4_pseudo(f) + sum16(f + T4_TCP, tcp4_len(f))) == 0xffff;
}

static bool ip4_csum_ok(const uint8_t *f)
{
	return fold16(sum16(f + T4_IP, 20)) == 0xffff;
}

/* What a driver does for NEEDS_CSUM: the ones' complement sum from
 * csum_start to the end of the packet, stored at csum_offset. */
static void csum_complete(uint8_t *f, uint32_t len, uint16_t start, uint16_t off)
{
	put16(f + start + off, (uint16_t)~fold16(sum16(f + start, len - start)));
}

/* got equals want but for the 2-byte fields at a and b (the checksums the
 * device fills in). */
static void equal_but(const uint8_t *got, const uint8_t *want, uint32_t len,
		      uint32_t a, uint32_t b)
{
	uint8_t *w = malloc(len);

	assert_non_null(w);
	memcpy(w, want, len);
	memcpy(w + a, got + a, 2);
	memcpy(w + b, got + b, 2);
	assert_memory_equal(got, w, len);
	free(w);
}

/* ---- queues set up again after a queue reset ---------------------------- */
static void queue_again(struct env *e, uint16_t qi, const struct sim_vq *v)
{
	struct vdev *d = &e->n.vdev;

	assert_false(vdev_queue_resetting(d, qi));
	assert_false(d->q[qi].enabled);
	assert_int_equal(vdev_queue_set_size(d, qi, e->qsize), 0);
	assert_int_equal(vdev_queue_set_addr(d, qi, v->desc_iova, v->avail_iova,
					     v->used_iova), 0);
	assert_int_equal(vdev_queue_set_vector(d, qi, qi), 0);
	assert_int_equal(vdev_queue_enable(d, qi), 0);
}

/* Receive queue of pair p on a fresh driver ring, filled. */
static void rxq_again(struct env *e, unsigned p)
{
	struct vdev *d = &e->n.vdev;
	uint32_t rflags = vdev_ring_flags(d);
	uint64_t f = vdev_features(d);

	sim_net_rxq_fini(&e->rx[p]);
	assert_int_equal(sim_net_rxq_init(&e->rx[p], &e->mem, e->qsize, rflags, f,
					  rx_buf_len(e, f), e->rx_split,
					  e->indirect && (rflags & VQ_F_INDIRECT)), 0);
	queue_again(e, (uint16_t)(2 * p), &e->rx[p].vq);
	sim_net_rx_fill(&e->rx[p]);
	assert_true(vnet_dp_rxq_ok(e->conf, (uint16_t)p));
}

/* Transmit queue of pair p on a fresh driver ring. */
static void txq_again(struct env *e, unsigned p)
{
	struct vdev *d = &e->n.vdev;
	uint32_t rflags = vdev_ring_flags(d);

	sim_net_txq_fini(&e->tx[p]);
	assert_int_equal(sim_net_txq_init(&e->tx[p], &e->mem, e->qsize, rflags,
					  vdev_features(d), e->tx_max,
					  e->indirect && (rflags & VQ_F_INDIRECT),
					  e->seed * 13 + p), 0);
	queue_again(e, (uint16_t)(2 * p + 1), &e->tx[p].vq);
}

/* ---- RX filter, VLAN filter ------------------------------------------------ */

/* What the driver sets with CTRL_RX decides which frames it gets: with
 * PROMISC off only its own address, broadcast and what MAC_TABLE_SET
 * lists; NOBCAST (CTRL_RX_EXTRA) takes broadcast away. Refused frames are
 * counted, the others in the same burst arrive untouched and in order. */
static void test_rx_filter(void **state)
{
	struct env *e = *state;
	struct fset *s = calloc(1, sizeof(*s));
	const uint8_t *dst[] = { OTHER, OWN, BC, MC, OTHER, OWN };
	uint8_t uc[1][6], mc[1][6];
	struct flow fl;

	assert_non_null(s);
	memcpy(uc[0], OTHER, 6);
	memcpy(mc[0], MC, 6);
	dev_create(e, OFFER | NF(VIRTIO_NET_F_CTRL_RX_EXTRA), 1);
	drv_up(e, BASIC | NF(VIRTIO_NET_F_CTRL_RX_EXTRA));
	assert_true(vdev_has(&e->n.vdev, VIRTIO_NET_F_CTRL_RX_EXTRA));
	flow_of(e, &fl, 4, 17);
	for (unsigned i = 0; i < 6; i++)
		fset_add(e, s, dst[i], &fl, -1, 60 + 10 * i);

	/* Promiscuous, as after reset: everything. */
	rx_set(e, s);
	for (unsigned i = 0; i < 6; i++)
		expect_set(e, 0, s, i);
	expect_quiet(e);
	assert_int_equal(drops(e, 0, VNET_DROP_FILTER), 0);

	/* PROMISC off: own address and broadcast. */
	assert_int_equal(ctrl_u8(e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0),
			 VIRTIO_NET_OK);
	rx_set(e, s);
	expect_set(e, 0, s, 1);
	expect_set(e, 0, s, 2);
	expect_set(e, 0, s, 5);
	expect_quiet(e);
	assert_int_equal(drops(e, 0, VNET_DROP_FILTER), 3);

	/* OTHER in the unicast table, MC in the multicast one: all again. */
	assert_int_equal(mac_table_set(e, (const uint8_t (*)[6])uc, 1,
				       (const uint8_t (*)[6])mc, 1), VIRTIO_NET_OK);
	rx_set(e, s);
	for (unsigned i = 0; i < 6; i++)
		expect_set(e, 0, s, i);
	expect_quiet(e);
	assert_int_equal(drops(e, 0, VNET_DROP_FILTER), 3);

	/* NOBCAST: broadcast goes, the table stays. */
	assert_int_equal(ctrl_u8(e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, 1),
			 VIRTIO_NET_OK);
	rx_set(e, s);
	for (unsigned i = 0; i < 6; i++)
		if (i != 2)
			expect_set(e, 0, s, i);
	expect_quiet(e);
	assert_int_equal(drops(e, 0, VNET_DROP_FILTER), 4);

	/* An empty table: OTHER and MC go too. */
	assert_int_equal(mac_table_set(e, NULL, 0, NULL, 0), VIRTIO_NET_OK);
	rx_set(e, s);
	expect_set(e, 0, s, 1);
	expect_set(e, 0, s, 5);
	expect_quiet(e);
	assert_int_equal(drops(e, 0, VNET_DROP_FILTER), 8);

	/* PROMISC on: everything, NOBCAST or not. */
	assert_int_equal(ctrl_u8(e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1),
			 VIRTIO_NET_OK);
	rx_set(e, s);
	for (unsigned i = 0; i < 6; i++)
		expect_set(e, 0, s, i);
	expect_quiet(e);
	assert_int_equal(drops(e, 0, VNET_DROP_FILTER), 8);
	assert_int_equal(e->n.qstats[0].packets, 6 + 3 + 6 + 5 + 2 + 6);
	free(s);
}

/* CTRL_VLAN: tagged frames pass only with their VID in the table;
 * untagged and priority-tagged (VID 0) frames always do. */
static void test_vlan_filter(void **state)
{
	struct env *e = *state;
	struct fset *s = calloc(1, sizeof(*s));
	struct flow fl;

	assert_non_null(s);
	dev_create(e, OFFER, 1);
	drv_up(e, BASIC | NF(VIRTIO_NET_F_CTRL_VLAN));
	assert_int_equal(ctrl_u8(e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0),
			 VIRTIO_NET_OK);
	flow_of(e, &fl, 6, 6);
	fset_add(e, s, OWN, &fl, 5, 200);  /* 0: VID 5 */
	fset_add(e, s, OWN, &fl, 6, 210);  /* 1: VID 6 */
	fset_add(e, s, OWN, &fl, -1, 220); /* 2: untagged */
	fset_add(e, s, OWN, &fl, 0, 230);  /* 3: priority tag */

	/* Empty table: no tagged frame. */
	rx_set(e, s);
	expect_set(e, 0, s, 2);
	expect_set(e, 0, s, 3);
	expect_quiet(e);
	assert_int_equal(drops(e, 0, VNET_DROP_FILTER), 2);

	assert_int_equal(ctrl_u16(e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 5),
			 VIRTIO_NET_OK);
	rx_set(e, s);
	expect_set(e, 0, s, 0);
	expect_set(e, 0, s, 2);
	expect_set(e, 0, s, 3);
	expect_quiet(e);
	assert_int_equal(drops(e, 0, VNET_DROP_FILTER), 3);

	assert_int_equal(ctrl_u16(e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL, 5),
			 VIRTIO_NET_OK);
	rx_set(e, s);
	expect_set(e, 0, s, 2);
	expect_set(e, 0, s, 3);
	expect_quiet(e);
	assert_int_equal(drops(e, 0, VNET_DROP_FILTER), 5);
	free(s);
}

/* ---- automatic receive steering -------------------------------------------- */

/* A frame of fl (as the driver sends it, to PEER) into *f, and its reply
 * (to OWN) into *r. */
static void flow_frames(struct env *e, const struct flow *fl, uint8_t *f,
			uint32_t *flen, uint8_t *r, uint32_t *rlen)
{
	struct flow rv;

	reverse(fl, &rv);
	*flen = frame_of(e, f, PEER, OWN, fl, -1, hdrs_len(fl, -1) + 40);
	*rlen = frame_of(e, r, OWN, PEER, &rv, -1, hdrs_len(&rv, -1) + 70);
}

/* "Automatic receive steering": replies of a flow come back on the receive
 * queue of the pair the driver last sent it on; one pair means receiveq1;
 * a queue being reset is avoided (re-selected), and with none left the
 * packet is dropped. */
static void test_steer_auto(void **state)
{
	struct env *e = *state;
	struct vdev *d = &e->n.vdev;
	static const int kinds[][2] = { { 4, 6 }, { 4, 17 }, { 4, 1 }, { 6, 6 }, { 6, 17 }, { 6, 1 } };
	struct steer_model *sm = calloc(1, sizeof(*sm));
	struct flow fl[16];
	uint8_t *tx = malloc(SET_FRAME), *rx = malloc(SET_FRAME * 16);
	uint32_t txl, rxl[16], k1, k2;
	unsigned on_own_pair = 0;
	int w;

	assert_true(sm && tx && rx);
	dev_create(e, OFFER, MAXP);
	drv_up(e, BASIC | NF(VIRTIO_NET_F_MQ) | GF(VIRTIO_F_RING_RESET));
	assert_int_equal(e->npairs, MAXP);
	assert_int_equal(ctrl_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, MAXP),
			 VIRTIO_NET_OK);
	assert_true(e->conf->steer_auto);

	/* (a) one key for both directions of a flow (tagged or not, both
	 * ends on one host or not); none for what is not IP. */
	for (unsigned i = 0; i < 600; i++) {
		struct flow f, r;
		int vid = i % 3 ? -1 : 7;

		flow_of(e, &f, kinds[i % 6][0], kinds[i % 6][1]);
		if (i % 5 == 0)
			memcpy(f.dst, f.src, 16); /* the ports tell the ends apart */
		reverse(&f, &r);
		uint32_t a = frame_of(e, tx, PEER, OWN, &f, -1, hdrs_len(&f, -1) + 10);
		uint32_t b = frame_of(e, rx, OWN, PEER, &r, vid, hdrs_len(&r, vid) + 30);
		assert_true(vnet_flow_key(tx, a, &k1));
		assert_true(vnet_flow_key(rx, b, &k2));
		assert_int_equal(k1, k2);
	}
	{
		struct flow f;

		flow_of(e, &f, 0, 6);
		txl = frame_of(e, tx, PEER, OWN, &f, -1, 64);
		assert_false(vnet_flow_key(tx, txl, &k1));
	}

	/* (b) flow i sent on pair i % 4: its replies on receive queue i % 4
	 * (the model only differs where two flows share a table slot). */
	for (unsigned i = 0; i < 16; i++) {
		flow_of(e, &fl[i], kinds[i % 6][0], kinds[i % 6][1]);
		flow_frames(e, &fl[i], tx, &txl, rx + i * SET_FRAME, &rxl[i]);
		tx_learn(e, i % 4, tx, txl);
		model_learn(sm, tx, txl, i % 4);
	}
	for (unsigned i = 0; i < 16; i++) {
		unsigned q = model_queue(sm, rx + i * SET_FRAME, rxl[i], MAXP);
		assert_int_equal(rx_where(e, rx + i * SET_FRAME, rxl[i], NULL), (int)q);
		on_own_pair += q == i % 4;
	}
	assert_true(on_own_pair >= 14);
	/* The flow moves: its replies follow. */
	flow_frames(e, &fl[0], tx, &txl, rx, &rxl[0]);
	tx_learn(e, 3, tx, txl);
	model_learn(sm, tx, txl, 3);
	assert_int_equal(rx_where(e, rx, rxl[0], NULL), 3);

	/* (c) one pair: receiveq1 for everything, nothing learned. */
	assert_int_equal(ctrl_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 1),
			 VIRTIO_NET_OK);
	assert_false(e->conf->steer_auto);
	assert_int_equal(e->conf->pairs, 1);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(rx_where(e, rx + i * SET_FRAME, rxl[i], NULL), 0);
	flow_frames(e, &fl[5], tx, &txl, rx + 5 * SET_FRAME, &rxl[5]);
	tx_learn(e, 0, tx, txl); /* one pair: not remembered */
	assert_int_equal(ctrl_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, MAXP),
			 VIRTIO_NET_OK);
	assert_true(e->conf->steer_auto);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(rx_where(e, rx + i * SET_FRAME, rxl[i], NULL),
				 (int)model_queue(sm, rx + i * SET_FRAME, rxl[i], MAXP));
	assert_int_equal(all_drops(e), 0);

	/* (d) receive queue 2 (virtqueue 4) being reset: its flows' replies
	 * go elsewhere, none is lost; back once it is set up again. */
	unsigned f2 = 0;
	while (model_queue(sm, rx + f2 * SET_FRAME, rxl[f2], MAXP) != 2)
		f2++;
	e->defer_qreset = true;
	assert_int_equal(vdev_queue_reset(d, 4), 0);
	assert_true(vdev_queue_resetting(d, 4));
	assert_false(vnet_dp_rxq_ok(e->conf, 2));
	for (unsigned i = 0; i < 16; i++) {
		unsigned q = model_queue(sm, rx + i * SET_FRAME, rxl[i], MAXP);
		w = rx_where(e, rx + i * SET_FRAME, rxl[i], NULL);
		if (q == 2)
			assert_true(w >= 0 && w != 2);
		else
			assert_int_equal(w, (int)q);
	}
	e->defer_qreset = false;
	qreset_finish(e, 4);
	w = rx_where(e, rx + f2 * SET_FRAME, rxl[f2], NULL);
	assert_true(w >= 0 && w != 2);
	assert_int_equal(all_drops(e), 0);
	rxq_again(e, 2);
	assert_int_equal(rx_where(e, rx + f2 * SET_FRAME, rxl[f2], NULL), 2);

	/* Every receive queue reset: dropped, QUEUE_OFF. */
	for (uint16_t q = 0; q < MAXP; q++)
		assert_int_equal(vdev_queue_reset(d, (uint16_t)(2 * q)), 0);
	for (uint16_t q = 0; q < MAXP; q++)
		assert_false(vnet_dp_rxq_ok(e->conf, q));
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(rx_where(e, rx + i * SET_FRAME, rxl[i], NULL), -1);
	assert_int_equal(rx_drops(e, VNET_DROP_QUEUE_OFF), 16);
	{
		struct rte_mbuf *m = mb_from(&e->pool, rx, rxl[0]);
		struct vnet_rx_meta mt;

		vnet_dp_rx_classify(e->conf, &e->steer, &m, 1, &mt);
		assert_int_equal(mt.drop, 1 + VNET_DROP_QUEUE_OFF);
		mb_free(&e->pool, m);
	}
	assert_int_equal(all_drops(e), 16);
	free(sm);
	free(tx);
	free(rx);
}

/* ---- RSS and hash reports ------------------------------------------------ */

/* RSS_CONFIG: every classified packet lands on table[hash & mask] with the
 * spec's Toeplitz hash (checked against the reference bit loop over the
 * test's own tuple) and type in its header; the unclassified ones on
 * unclassified_queue with no hash; transmitted flows do not move them; a
 * table entry naming a queue being reset drops the packet. */
static void test_rss(void **state)
{
	struct env *e = *state;
	static const int kinds[][2] = { { 4, 6 }, { 4, 17 }, { 4, 1 }, { 6, 6 }, { 6, 17 }, { 6, 1 } };
	uint16_t table[128];
	uint8_t key[40];
	unsigned hits[MAXP] = { 0 };
	struct vdev *d = &e->n.vdev;
	uint8_t *fr = malloc(SET_FRAME), *tx = malloc(SET_FRAME);
	struct vnet_hdr_hash h;
	struct flow fl, rv;
	uint8_t rep;

	assert_true(fr && tx);
	for (unsigned i = 0; i < 40; i++)
		key[i] = (uint8_t)rnd(&e->rng);
	for (unsigned i = 0; i < 128; i++)
		table[i] = (uint16_t)((i ^ (i >> 2) ^ (i >> 5)) & 3);
	dev_create(e, OFFER, MAXP);
	drv_up(e, BASIC | NF(VIRTIO_NET_F_MQ) | NF(VIRTIO_NET_F_RSS) |
		  NF(VIRTIO_NET_F_HASH_REPORT) | GF(VIRTIO_F_RING_RESET));
	assert_int_equal(e->conf->hdr_len, 20);
	assert_int_equal(rss_config(e, RSS_TYPES, table, 128, 3, MAXP, key), VIRTIO_NET_OK);
	assert_true(e->conf->rss && e->conf->rss->enabled);
	assert_false(e->conf->steer_auto);

	for (unsigned i = 0; i < 240; i++) {
		unsigned k = i % 6;
		flow_of(e, &fl, kinds[k][0], kinds[k][1]);
		uint32_t len = frame_of(e, fr, OWN, PEER, &fl, -1, hdrs_len(&fl, -1) + i % 50);
		uint32_t hv = flow_hash(key, &fl, &rep);
		unsigned q = table[hv & 127];

		if (i % 7 == 0) {
			/* The driver sends the flow on another pair: RSS
			 * steering does not follow it. */
			reverse(&fl, &rv);
			uint32_t tl = frame_of(e, tx, PEER, OWN, &rv, -1, hdrs_len(&rv, -1) + 5);
			tx_learn(e, (q + 1) % 4, tx, tl);
		}
		assert_int_equal(rx_where(e, fr, len, &h), (int)q);
		assert_int_equal(vle32_to_cpu(h.hash_value), hv);
		assert_int_equal(vle16_to_cpu(h.hash_report), rep);
		assert_int_equal(vle16_to_cpu(h.hdr.num_buffers), 1);
		hits[q]++;
	}
	for (unsigned q = 0; q < MAXP; q++)
		assert_true(hits[q] > 10);
	/* Not IP: unclassified_queue, no hash. */
	flow_of(e, &fl, 0, 0);
	uint32_t len = frame_of(e, fr, OWN, PEER, &fl, -1, 80);
	assert_int_equal(rx_where(e, fr, len, &h), 3);
	assert_int_equal(vle32_to_cpu(h.hash_value), 0);
	assert_int_equal(vle16_to_cpu(h.hash_report), VIRTIO_NET_HASH_REPORT_NONE);
	assert_int_equal(all_drops(e), 0);

	/* A flow of table entry 2; receive queue 2 being reset: "the device
	 * MUST drop the packet", and nothing reaches the ring being reset. */
	do {
		flow_of(e, &fl, 4, 6);
	} while (table[flow_hash(key, &fl, &rep) & 127] != 2);
	len = frame_of(e, fr, OWN, PEER, &fl, -1, 300);
	e->defer_qreset = true;
	assert_int_equal(vdev_queue_reset(d, 4), 0);
	assert_true(e->n.vdev.q[4].vq.enabled); /* the lcore has not let go */
	assert_int_equal(rx_where(e, fr, len, NULL), -1);
	assert_int_equal(drops(e, 4, VNET_DROP_QUEUE_OFF), 1);
	assert_int_equal(all_drops(e), 1);
	e->defer_qreset = false;
	qreset_finish(e, 4);
	assert_int_equal(rx_where(e, fr, len, NULL), -1);
	assert_int_equal(drops(e, 4, VNET_DROP_QUEUE_OFF), 2);
	/* The others are not affected; queue 2 back: it gets its flows. */
	flow_of(e, &fl, 6, 17);
	uint32_t l2 = frame_of(e, tx, OWN, PEER, &fl, -1, 200);
	assert_int_equal(rx_where(e, tx, l2, NULL), table[flow_hash(key, &fl, &rep) & 127]);
	rxq_again(e, 2);
	assert_int_equal(rx_where(e, fr, len, &h), 2);
	assert_int_equal(vle16_to_cpu(h.hash_report), VIRTIO_NET_HASH_REPORT_TCPv4);
	assert_int_equal(all_drops(e), 2);
	free(fr);
	free(tx);
}

/* HASH_REPORT without RSS: HASH_CONFIG turns hash reports on; the queue
 * is still automatic steering's (the pair the flow was sent on, else
 * the flow key's pick; receiveq1 for what has no key). */
static void test_hash_report(void **state)
{
	struct env *e = *state;
	static const int kinds[][2] = { { 4, 6 }, { 4, 17 }, { 4, 1 }, { 6, 6 }, { 6, 17 }, { 6, 1 } };
	uint8_t key[40];
	uint8_t *tx = malloc(SET_FRAME), *rx = malloc(SET_FRAME);
	struct steer_model *sm = calloc(1, sizeof(*sm));
	struct vnet_hdr_hash h;
	struct flow fl;
	uint32_t txl, rxl, k;
	uint8_t rep;

	assert_true(tx && rx && sm);
	for (unsigned i = 0; i < 40; i++)
		key[i] = (uint8_t)(0x6d ^ (i * 37));
	dev_create(e, OFFER & ~NF(VIRTIO_NET_F_RSS), MAXP);
	drv_up(e, BASIC | NF(VIRTIO_NET_F_MQ) | NF(VIRTIO_NET_F_RSS) |
		  NF(VIRTIO_NET_F_HASH_REPORT));
	assert_false(vdev_has(&e->n.vdev, VIRTIO_NET_F_RSS));
	assert_int_equal(e->conf->hdr_len, 20);
	assert_int_equal(ctrl_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, MAXP),
			 VIRTIO_NET_OK);
	/* No hash configured yet: reported as none. */
	flow_of(e, &fl, 4, 6);
	rxl = frame_of(e, rx, OWN, PEER, &fl, -1, 100);
	assert_true(rx_where(e, rx, rxl, &h) >= 0);
	assert_int_equal(vle16_to_cpu(h.hash_report), VIRTIO_NET_HASH_REPORT_NONE);
	assert_int_equal(vle32_to_cpu(h.hash_value), 0);

	uint16_t t1 = 0;
	assert_int_equal(rss_config(e, RSS_TYPES, &t1, 1, 0, 1, key), VIRTIO_NET_ERR);
	assert_int_equal(hash_config(e, RSS_TYPES, key), VIRTIO_NET_OK);
	assert_true(e->conf->rss && !e->conf->rss->enabled && e->conf->hash_report);
	assert_true(e->conf->steer_auto);

	for (unsigned i = 0; i < 48; i++) {
		struct flow rv;
		unsigned kd = i % 6;

		flow_of(e, &fl, kinds[kd][0], kinds[kd][1]);
		reverse(&fl, &rv);
		rxl = frame_of(e, rx, OWN, PEER, &rv, -1, hdrs_len(&rv, -1) + 20);
		uint32_t hv = flow_hash(key, &rv, &rep);
		if (i % 2) {
			/* Sent on pair i % 4 first: back there. */
			txl = frame_of(e, tx, PEER, OWN, &fl, -1, hdrs_len(&fl, -1) + 9);
			tx_learn(e, i % 4, tx, txl);
			model_learn(sm, tx, txl, i % 4);
		} else {
			/* Never sent: the flow key picks (unless the slot is
			 * another flow's). */
			assert_true(vnet_flow_key(rx, rxl, &k));
		}
		assert_int_equal(rx_where(e, rx, rxl, &h),
				 (int)model_queue(sm, rx, rxl, MAXP));
		assert_int_equal(vle32_to_cpu(h.hash_value), hv);
		assert_int_equal(vle16_to_cpu(h.hash_report), rep);
	}
	/* Not IP: receiveq1, no hash. */
	flow_of(e, &fl, 0, 0);
	rxl = frame_of(e, rx, OWN, PEER, &fl, -1, 90);
	assert_int_equal(rx_where(e, rx, rxl, &h), 0);
	assert_int_equal(vle16_to_cpu(h.hash_report), VIRTIO_NET_HASH_REPORT_NONE);
	/* One pair: receiveq1, hash still reported. */
	assert_int_equal(ctrl_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 1),
			 VIRTIO_NET_OK);
	flow_of(e, &fl, 6, 17);
	rxl = frame_of(e, rx, OWN, PEER, &fl, -1, 150);
	assert_int_equal(rx_where(e, rx, rxl, &h), 0);
	assert_int_equal(vle32_to_cpu(h.hash_value), flow_hash(key, &fl, &rep));
	assert_int_equal(vle16_to_cpu(h.hash_report), VIRTIO_NET_HASH_REPORT_UDPv6);
	assert_int_equal(all_drops(e), 0);
	free(sm);
	free(tx);
	free(rx);
}

/* ---- offloads ------------------------------------------------------------- */

#define TSO_LEN 30000u
#define TSO_MSS 1448u

/* A TCP/IPv4 frame of len bytes to dmac in e->frame. */
static uint32_t tcp4_frame(struct env *e, const uint8_t *dmac, uint32_t len)
{
	struct flow fl;

	flow_of(e, &fl, 4, 6);
	return frame_of(e, e->frame, dmac, PEER, &fl, -1, len);
}

/* NEEDS_CSUM at the TCP checksum, and GSO_TCPV4 when mss != 0. */
static void csum_hdr(struct vnet_hdr_hash *h, uint16_t mss)
{
	plain_hdr(h);
	h->hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->hdr.csum_start = cpu_to_vle16(T4_TCP);
	h->hdr.csum_offset = cpu_to_vle16(16);
	if (mss) {
		h->hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		h->hdr.gso_size = cpu_to_vle16(mss);
		h->hdr.hdr_len = cpu_to_vle16(T4_TCP + 20);
	}
}

/* NEEDS_CSUM and TSO from the driver become the mbuf's offload requests
 * (with the packet copied exactly, over as many mbufs as it takes);
 * NEEDS_CSUM without CSUM negotiated is dropped, its chain completed. */
static void test_tx_offloads(void **state)
{
	struct env *e = *state;
	struct vnet_hdr_hash h;
	struct rte_mbuf *m;
	struct flow fl;
	uint32_t len;

	dev_create(e, OFFER, 1);
	e->tx_max = 65600;
	e->qsize = 64;
	drv_up(e, BASIC | NF(VIRTIO_NET_F_CSUM) | NF(VIRTIO_NET_F_HOST_TSO4));

	/* TCP checksum. */
	len = tcp4_frame(e, PEER, 1000);
	csum_hdr(&h, 0);
	m = tx_one(e, 0, &h, e->frame, len);
	assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_OFFLOAD_MASK,
			 RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IPV4);
	assert_int_equal(m->l2_len, 14);
	assert_int_equal(m->l3_len, 20);
	assert_int_equal(m->l4_len, 20);
	assert_int_equal(m->nb_segs, 1);
	mb_free(&e->pool, m);

	/* UDP checksum. */
	flow_of(e, &fl, 4, 17);
	len = frame_of(e, e->frame, PEER, OWN, &fl, -1, 700);
	h.hdr.csum_offset = cpu_to_vle16(6);
	m = tx_one(e, 0, &h, e->frame, len);
	assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_OFFLOAD_MASK,
			 RTE_MBUF_F_TX_UDP_CKSUM | RTE_MBUF_F_TX_IPV4);
	assert_int_equal(m->l4_len, 8);
	mb_free(&e->pool, m);

	/* TSO: 30000 bytes in 2048-byte mbufs. */
	len = tcp4_frame(e, PEER, TSO_LEN);
	csum_hdr(&h, TSO_MSS);
	m = tx_one(e, 0, &h, e->frame, len);
	assert_int_equal(m->nb_segs, (TSO_LEN + MB_ROOM - 1) / MB_ROOM);
	assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_OFFLOAD_MASK,
			 RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM |
			 RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM);
	assert_int_equal(m->tso_segsz, TSO_MSS);
	assert_int_equal(m->l2_len, 14);
	assert_int_equal(m->l3_len, 20);
	assert_int_equal(m->l4_len, 20);
	mb_free(&e->pool, m);

	/* A GSO type not negotiated (TCPV6): dropped, completed. */
	uint64_t mal = drops(e, 1, VNET_DROP_MALFORMED);
	h.hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	tx_frame(e, 0, &h, e->frame, len);
	assert_int_equal(tx_drain(e, 0, &m, 1), 0);
	assert_int_equal(drops(e, 1, VNET_DROP_MALFORMED), mal + 1);
	assert_int_equal(e->tx[0].reclaimed, e->tx[0].sent);
	assert_int_equal(e->n.qstats[1].packets, 3);

	/* Without CSUM: NEEDS_CSUM is malformed; plain frames pass. */
	drv_down(e);
	drv_up(e, BASIC);
	assert_false(vdev_has(&e->n.vdev, VIRTIO_NET_F_CSUM));
	len = tcp4_frame(e, PEER, 400);
	csum_hdr(&h, 0);
	tx_frame(e, 0, &h, e->frame, len);
	tx_frame(e, 0, NULL, e->frame, len);
	struct rte_mbuf *out[4];
	assert_int_equal(tx_drain(e, 0, out, 4), 1);
	assert_int_equal(out[0]->ol_flags & RTE_MBUF_F_TX_OFFLOAD_MASK, 0);
	mb_bytes(out[0], e->got);
	assert_memory_equal(e->got, e->frame, len);
	mb_free(&e->pool, out[0]);
	assert_int_equal(drops(e, 1, VNET_DROP_MALFORMED), mal + 2);
	assert_int_equal(e->tx[0].sent, 2);
	assert_int_equal(e->tx[0].reclaimed, 2);
}

/* Loop one transmitted packet (h: its driver header) into the receive
 * path; the driver's view of it in e->got, its header in *rh. 1, or 0 when
 * it did not arrive. */
static int loop1(struct env *e, const struct vnet_hdr_hash *h, uint32_t len,
		 struct vnet_hdr_hash *rh)
{
	struct rte_mbuf *m = tx_one(e, 0, h, e->frame, len);
	uint32_t got = 0;
	int rc;

	rx_deliver(e, &m, 1);
	rc = recv1(e, 0, rh, &got);
	if (rc == 1)
		assert_int_equal(got, len);
	sim_net_rx_fill(&e->rx[0]);
	return rc;
}

/* A looped checksum-pending TCP/IPv4 packet of len bytes, the driver
 * without GUEST_CSUM: a complete, correct checksum and flags 0. */
static void check_csum_done(struct env *e, uint32_t len)
{
	struct vnet_hdr_hash h, rh;

	len = tcp4_frame(e, OWN, len);
	csum_hdr(&h, 0);
	assert_int_equal(loop1(e, &h, len, &rh), 1);
	assert_int_equal(rh.hdr.flags, 0);
	assert_int_equal(rh.hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	equal_but(e->got, e->frame, len, T4_CSUM, T4_CSUM);
	assert_true(tcp4_csum_ok(e->got));
}

/* The same with GUEST_CSUM: NEEDS_CSUM at the TCP checksum, whose field
 * holds the pseudo-header sum, so the driver's completion verifies. */
static void check_csum_partial(struct env *e, uint32_t len)
{
	struct vnet_hdr_hash h, rh;

	len = tcp4_frame(e, OWN, len);
	csum_hdr(&h, 0);
	assert_int_equal(loop1(e, &h, len, &rh), 1);
	assert_int_equal(rh.hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(rh.hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_int_equal(vle16_to_cpu(rh.hdr.csum_start), T4_TCP);
	assert_int_equal(vle16_to_cpu(rh.hdr.csum_offset), 16);
	equal_but(e->got, e->frame, len, T4_CSUM, T4_CSUM);
	assert_int_equal(e->got[T4_CSUM] << 8 | e->got[T4_CSUM + 1], tcp4_pseudo(e->got));
	csum_complete(e->got, len, T4_TCP, 16);
	assert_true(tcp4_csum_ok(e->got));
}

/* A looped TSO packet, the driver with GUEST_TSO4: one packet, GSO state
 * in the header, IPv4 header checksum filled, bytes otherwise exact. */
static void check_tso_whole(struct env *e, uint16_t nbufs)
{
	struct vnet_hdr_hash h, rh;
	uint32_t len = tcp4_frame(e, OWN, TSO_LEN);

	csum_hdr(&h, TSO_MSS);
	assert_int_equal(loop1(e, &h, len, &rh), 1);
	assert_int_equal(rh.hdr.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(vle16_to_cpu(rh.hdr.gso_size), TSO_MSS);
	assert_int_equal(vle16_to_cpu(rh.hdr.hdr_len), T4_TCP + 20);
	assert_int_equal(rh.hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(vle16_to_cpu(rh.hdr.csum_start), T4_TCP);
	assert_int_equal(vle16_to_cpu(rh.hdr.csum_offset), 16);
	assert_int_equal(vle16_to_cpu(rh.hdr.num_buffers), nbufs);
	equal_but(e->got, e->frame, len, T4_IP + 10, T4_CSUM);
	assert_true(ip4_csum_ok(e->got));
	csum_complete(e->got, len, T4_TCP, 16);
	assert_true(tcp4_csum_ok(e->got));
}

/* A looped TSO packet the driver cannot take: dropped TOO_BIG. */
static void check_tso_refused(struct env *e)
{
	struct vnet_hdr_hash h, rh;
	uint32_t len = tcp4_frame(e, OWN, TSO_LEN);
	uint64_t big = drops(e, 0, VNET_DROP_TOO_BIG);

	csum_hdr(&h, TSO_MSS);
	assert_int_equal(loop1(e, &h, len, &rh), 0);
	assert_int_equal(drops(e, 0, VNET_DROP_TOO_BIG), big + 1);
}

/* The offload state of a packet (pending checksum, TSO, as the transmit
 * path leaves it) reaches the driver as its negotiated and enabled guest
 * offloads allow: partial checksum and GSO header, or a completed
 * checksum, or a drop when it would need segmenting. */
static void test_rx_offloads(void **state)
{
	struct env *e = *state;
	const uint64_t host = NF(VIRTIO_NET_F_CSUM) | NF(VIRTIO_NET_F_HOST_TSO4);
	const uint64_t guest = NF(VIRTIO_NET_F_GUEST_CSUM) | NF(VIRTIO_NET_F_GUEST_TSO4);

	dev_create(e, OFFER, 1);
	e->tx_max = 65600;
	e->qsize = 64;

	/* GUEST_CSUM + GUEST_TSO4, mergeable buffers. */
	drv_up(e, BASIC | host | guest | NF(VIRTIO_NET_F_MRG_RXBUF) |
		  NF(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS));
	check_csum_partial(e, 1000);
	check_csum_partial(e, 61); /* odd length */
	check_tso_whole(e, (uint16_t)((TSO_LEN + 12 + 1535) / 1536));

	/* Guest offloads switched off: as if never negotiated. */
	assert_int_equal(guest_offloads_set(e, 0), VIRTIO_NET_OK);
	assert_int_equal(e->conf->rx_features & VNET_GUEST_OFFLOADS, 0);
	check_tso_refused(e);
	check_csum_done(e, 1000);
	/* Checksum only: TSO still refused, checksum partial again. */
	assert_int_equal(guest_offloads_set(e, NF(VIRTIO_NET_F_GUEST_CSUM)), VIRTIO_NET_OK);
	check_tso_refused(e);
	check_csum_partial(e, 1000);
	/* Both back. */
	assert_int_equal(guest_offloads_set(e, guest), VIRTIO_NET_OK);
	check_tso_whole(e, (uint16_t)((TSO_LEN + 12 + 1535) / 1536));

	/* A driver without guest offloads. */
	drv_down(e);
	drv_up(e, BASIC | host);
	check_csum_done(e, 1000);
	check_csum_done(e, 77);
	check_tso_refused(e);

	/* GUEST_TSO4 with big buffers (no MRG_RXBUF): one buffer. */
	drv_down(e);
	e->qsize = 8;
	drv_up(e, BASIC | host | guest);
	assert_int_equal(e->rx[0].buf_len, 65589 + 12 + 8);
	check_tso_whole(e, 1);
	check_csum_partial(e, 1000);
	assert_int_equal(drops(e, 0, VNET_DROP_MALFORMED), 0);
}

/* A burst the short way (vq_fill_burst) takes only in part: packets with
 * a header of their own (the port checked their checksum) between plain
 * ones, and one longer than the MTU allows: every packet arrives in order
 * with its own header, the long one is dropped TOO_BIG, and the next
 * bursts go the same way. */
static void test_rx_short_way_mixed(void **state)
{
	struct env *e = *state;
	static struct fset s;
	struct rte_mbuf *pk[VNET_DP_BURST_MAX];
	struct flow fl;

	e->p.mtu = 1400;
	dev_create(e, OFFER, 1);
	e->qsize = 16;
	drv_up(e, BASIC | NF(VIRTIO_NET_F_GUEST_CSUM) | NF(VIRTIO_NET_F_MTU));
	assert_int_equal(e->conf->max_frame, 1414);
	flow_of(e, &fl, 4, 17);
	for (int round = 0; round < 3; round++) {
		memset(&s, 0, sizeof(s));
		for (unsigned i = 0; i < 10; i++)
			fset_add(e, &s, OWN, &fl, -1, i == 6 ? 1414 + 1 : 100 + 50 * i);
		for (unsigned i = 0; i < s.n; i++) {
			pk[i] = mb_from(&e->pool, s.f[i], s.len[i]);
			if (i == 2 || i == 7)
				pk[i]->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_GOOD;
		}
		uint64_t big = drops(e, 0, VNET_DROP_TOO_BIG);
		rx_deliver(e, pk, s.n);
		assert_int_equal(drops(e, 0, VNET_DROP_TOO_BIG), big + 1);
		for (unsigned i = 0; i < s.n; i++) {
			struct vnet_hdr_hash h;
			if (i == 6)
				continue;
			expect_rx(e, 0, s.f[i], s.len[i], &h);
			assert_int_equal(h.hdr.flags, i == 2 || i == 7 ? VIRTIO_NET_HDR_F_DATA_VALID : 0);
			assert_int_equal(h.hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
			assert_int_equal(vle16_to_cpu(h.hdr.num_buffers), 1);
		}
		expect_quiet(e);
	}
	assert_int_equal(drops(e, 0, VNET_DROP_NO_BUFFER), 0);
}

/* ---- the short way for transmit (vq_take_burst) ----------------------------- */

/* The same burst twice, every chain one descriptor (header and frame
 * together: the short way) and then every chain in two (the general
 * way), split and packed: the same packets come out, with the same
 * offload requests, in order. In the burst: plain frames, a checksum
 * request, a TSO frame over many mbufs, a runt and a header the
 * features refuse (both dropped MALFORMED and completed), the longest
 * frame, and one chain in two pieces in the middle of the one-piece
 * ones (the short way stops there and the general way goes on). */
#define SW_N 9
static void test_tx_short_way(void **state)
{
	struct env *e = *state;
	struct vnet_hdr_hash h[SW_N];
	uint8_t *f[SW_N];
	uint32_t len[SW_N];
	struct rte_mbuf *out[2][SW_N];
	uint8_t *back = malloc(VNET_DP_FRAME_MAX);
	struct flow fl;

	assert_non_null(back);
	dev_create(e, OFFER, 1);
	e->tx_max = 65600;
	e->qsize = 32;
	flow_of(e, &fl, 4, 6);
	for (unsigned i = 0; i < SW_N; i++) {
		f[i] = malloc(VNET_DP_FRAME_MAX);
		assert_non_null(f[i]);
		plain_hdr(&h[i]);
		len[i] = frame_of(e, f[i], PEER, OWN, &fl, -1, 60 + 100 * i);
	}
	csum_hdr(&h[1], 0);
	len[2] = TSO_LEN;
	for (uint32_t j = 0; j < TSO_LEN; j++)
		f[2][j] = (uint8_t)(j * 3);
	memcpy(f[2], f[1], T4_TCP + 20);
	csum_hdr(&h[2], TSO_MSS);
	len[3] = 13;                                /* runt */
	h[5].hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV6; /* TSO6 not negotiated */
	h[5].hdr.gso_size = cpu_to_vle16(1000);
	len[6] = VNET_DP_FRAME_MAX;
	for (uint32_t j = 0; j < len[6]; j++)
		f[6][j] = (uint8_t)(j * 7);
	/* Split and packed, each plain, in order and with EVENT_IDX; the
	 * frames released after their copy (vnet_dp_release_tick's choice)
	 * or not: the same packets either way. */
	const uint64_t extra[3] = { 0, GF(VIRTIO_F_IN_ORDER), GF(VIRTIO_F_EVENT_IDX) };
	for (int run = 0; run < 12; run++) {
		int packed = run % 2;
		bool rel = run >= 6 && dma_release_supported();
		drv_up(e, BASIC | NF(VIRTIO_NET_F_CSUM) | NF(VIRTIO_NET_F_HOST_TSO4) |
			  extra[run / 2 % 3] | (packed ? GF(VIRTIO_F_RING_PACKED) : 0));
		e->dq[1].release = rel;
		for (int way = 0; way < 2; way++) {
			uint64_t bad = drops(e, 1, VNET_DROP_MALFORMED);
			uint64_t sent = e->n.qstats[1].packets, short0 = e->dq[1].vq->n_short;
			uint64_t released = e->n.qstats[1].released;
			for (unsigned i = 0; i < SW_N; i++)
				assert_int_equal(sim_net_send(&e->tx[0], &h[i], f[i], len[i],
							      way == 0 && i != 7 ?
							      SIM_NET_HDR_INLINE :
							      SIM_NET_HDR_SEPARATE), 0);
			sim_net_tx_flush(&e->tx[0]);
			assert_int_equal(tx_drain(e, 0, out[way], SW_N), SW_N - 2);
			assert_int_equal(drops(e, 1, VNET_DROP_MALFORMED), bad + 2);
			assert_int_equal(e->tx[0].n_free, e->qsize); /* all completed */
			assert_int_equal(e->n.qstats[1].packets, sent + SW_N - 2);
			/* The one-piece chains before the two-piece one went the
			 * short way; none did the second time. */
			assert_int_equal(e->dq[1].vq->n_short, short0 + (way ? 0 : 7));
			/* Both ways release, the runt and the refused too. */
			assert_int_equal(e->n.qstats[1].released, released + (rel ? SW_N : 0));
			for (unsigned i = 0, k = 0; i < SW_N; i++) {
				if (i == 3 || i == 5)
					continue;
				struct rte_mbuf *m = out[way][k++];
				assert_int_equal(m->pkt_len, len[i]);
				mb_bytes(m, back);
				assert_memory_equal(back, f[i], len[i]);
			}
		}
		/* The checksum and TSO requests did come through. */
		assert_int_equal(out[0][1]->ol_flags & RTE_MBUF_F_TX_OFFLOAD_MASK,
				 RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IPV4);
		assert_true(out[0][2]->ol_flags & RTE_MBUF_F_TX_TCP_SEG);
		assert_int_equal(out[0][2]->tso_segsz, TSO_MSS);
		for (unsigned k = 0; k < SW_N - 2; k++) {
			struct rte_mbuf *a = out[0][k], *b = out[1][k];
			assert_int_equal(a->ol_flags, b->ol_flags);
			assert_int_equal(a->nb_segs, b->nb_segs);
			assert_int_equal(a->tx_offload, b->tx_offload);
			mb_free(&e->pool, a);
			mb_free(&e->pool, b);
		}
		drv_down(e);
	}
	assert_int_equal(e->pool.live, 0);
	for (unsigned i = 0; i < SW_N; i++)
		free(f[i]);
	free(back);
}

/* vnet_dp_release_tick: a queue whose frames come `on` or `off` per
 * phase with release on or off, run for `blocks` blocks of phases from
 * phase *ph; `gap` skips the block's second trial phase. Returns the
 * choice once the last phase has ended. */
static bool pick_run(struct vnet_dp_queue *q, uint64_t *ph, unsigned blocks,
		     uint64_t on, uint64_t off, bool gap)
{
	for (unsigned k = 0; k < blocks * VNET_PICK_BLOCK; k++, (*ph)++) {
		if (gap && *ph % VNET_PICK_BLOCK == VNET_PICK_BLOCK - 3)
			continue;
		/* Two calls a phase, as an lcore's loops: only the first moves. */
		vnet_dp_release_tick(q, (*ph << VNET_PICK_SHIFT) + 1);
		vnet_dp_release_tick(q, (*ph << VNET_PICK_SHIFT) + 7);
		q->stats->packets += q->release ? on : off;
	}
	vnet_dp_release_tick(q, *ph << VNET_PICK_SHIFT); /* the last phase ends */
	return q->pick.on;
}

/* The release of transmit frames is chosen by the frames each choice
 * delivers: a clear win flips it, in a block; a tie, a light load, a
 * trial cut by a sleep do not. */
static void test_release_pick(void **state)
{
	struct vnet_queue_stats *st = aligned_alloc(64, sizeof(*st));
	struct vnet_dp_queue *q = calloc(1, sizeof(*q));
	uint64_t ph = 31 * VNET_PICK_BLOCK; /* a block's first phase */
	const uint64_t M = VNET_PICK_MIN;

	(void)state;
	assert_non_null(st);
	assert_non_null(q);
	memset(st, 0, sizeof(*st));
	q->stats = st;
	/* Where it cannot run (no CLFLUSHOPT; not x86, as the DPU's Arm
	 * cores): never on, whatever the frames say, not even for a trial,
	 * and the phase moves on as the clock does. */
	q->pick.can = false;
	assert_false(pick_run(q, &ph, 3, 10 * M, M, false));
	assert_false(q->release);
	assert_int_equal(q->pick.phase, ph);
	assert_int_equal(q->pick.trials, 0);
	if (!dma_release_supported())
		goto out;
	memset(&q->pick, 0, sizeof(q->pick));
	q->pick.can = true;
	/* Starts off; the trial phases of a block run the other choice. */
	assert_false(pick_run(q, &ph, 1, M, M, false));
	unsigned trial_on = 0;
	for (unsigned k = 0; k < VNET_PICK_BLOCK; k++, ph++) {
		vnet_dp_release_tick(q, ph << VNET_PICK_SHIFT);
		trial_on += q->release;
		assert_int_equal(q->release,
				 k == VNET_PICK_BLOCK - 3 || k == VNET_PICK_BLOCK - 2);
		st->packets += M;
	}
	assert_int_equal(trial_on, 2);
	/* A load rising steadily through the trials (a front end starting
	 * up), the same with either choice: the rise favours neither. */
	for (unsigned k = 0; k < VNET_PICK_BLOCK; k++, ph++) {
		vnet_dp_release_tick(q, ph << VNET_PICK_SHIFT);
		st->packets += 8 * M + (k >= VNET_PICK_BLOCK - 4 ? k - (VNET_PICK_BLOCK - 4) : 0) * M;
	}
	vnet_dp_release_tick(q, ph << VNET_PICK_SHIFT);
	assert_false(q->pick.on);
	/* Release delivers 70% more (a driver across L3 domains): on after
	 * one block, and on outside the trials. */
	assert_true(pick_run(q, &ph, 1, 2 * M, M + M / 6, false));
	assert_true(q->release);
	/* A tie, or a gain under 1/16: it stays. */
	assert_true(pick_run(q, &ph, 3, 2 * M, 2 * M, false));
	assert_true(pick_run(q, &ph, 3, 16 * M, 16 * M + M / 2, false));
	/* Off now delivers more (the driver moved into our L3): off. */
	assert_false(pick_run(q, &ph, 1, 12 * M, 15 * M, false));
	/* A light load never flips it, however lopsided. */
	assert_false(pick_run(q, &ph, 3, M / 4, 0, false));
	/* A sleep inside the trials: that block is not judged; the next is. */
	assert_false(pick_run(q, &ph, 1, 4 * M, M, true));
	assert_true(pick_run(q, &ph, 1, 4 * M, M, false));
out:
	free(q);
	free(st);
}

/* ---- hostile and unlucky transmit ------------------------------------------ */

/* Chains the device cannot make a packet of are dropped MALFORMED and
 * completed, without disturbing the rest of the burst; an allocator out
 * of mbufs is backpressure: the chains stay in the ring. */
static void test_tx_hostile(void **state)
{
	struct env *e = *state;
	struct rte_mbuf *out[16];
	uint8_t *big = malloc(VNET_DP_FRAME_MAX + 1);
	uint32_t lens[16];
	unsigned ngood = 0;
	uint8_t *good[16];
	struct vnet_hdr_hash h, ph;
	struct flow fl;

	assert_non_null(big);
	dev_create(e, OFFER, 1);
	e->tx_max = 65600;
	e->qsize = 32;
	drv_up(e, BASIC);

	/* No mbufs at all, and none kept from before: nothing is popped. */
	flow_of(e, &fl, 4, 6);
	for (unsigned i = 0; i < 3; i++) {
		good[i] = malloc(SET_FRAME);
		lens[i] = frame_of(e, good[i], PEER, OWN, &fl, -1, 100 + i);
		tx_frame(e, 0, NULL, good[i], lens[i]);
	}
	e->pool.fail_after = 0;
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vnet_dp_tx_burst(&e->dq[1], e->conf, out, 16), 0);
	assert_int_equal(vq_avail_count(e->dq[1].vq), 3);
	assert_int_equal(sim_net_tx_reclaim(&e->tx[0]), 0);
	assert_int_equal(all_drops(e), 0);
	e->pool.fail_after = ~0u;
	assert_int_equal(tx_drain(e, 0, out, 16), 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(out[i]->pkt_len, lens[i]);
		mb_bytes(out[i], e->got);
		assert_memory_equal(e->got, good[i], lens[i]);
		mb_free(&e->pool, out[i]);
		free(good[i]);
	}
	assert_int_equal(e->tx[0].reclaimed, 3);

	/* One burst: good, short chain, good, runt, good, write-only chain,
	 * 14 bytes (good), bad header, good, one byte too long, the longest
	 * frame (good). */
	plain_hdr(&ph);
	plain_hdr(&h);
	h.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM; /* CSUM not negotiated */
	h.hdr.csum_start = cpu_to_vle16(T4_TCP);
	h.hdr.csum_offset = cpu_to_vle16(16);
	for (uint32_t j = 0; j < VNET_DP_FRAME_MAX + 1; j++)
		big[j] = (uint8_t)(j * 7);
	for (unsigned i = 0; i < 11; i++) {
		uint32_t l;

		switch (i) {
		case 1: /* shorter than the header */
			tx_raw(e, 0, 5, 0);
			continue;
		case 3: /* a header and 13 bytes */
			assert_int_equal(sim_net_send(&e->tx[0], &ph, big, 13,
						      SIM_NET_LAYOUT__COUNT), 0);
			continue;
		case 5: /* nothing readable */
			tx_raw(e, 0, 0, 64);
			continue;
		case 7: /* a header the negotiated features do not allow */
			l = frame_of(e, e->frame, PEER, OWN, &fl, -1, 200);
			assert_int_equal(sim_net_send(&e->tx[0], &h, e->frame, l,
						      SIM_NET_LAYOUT__COUNT), 0);
			continue;
		case 9: /* VNET_DP_FRAME_MAX + 1 */
			assert_int_equal(sim_net_send(&e->tx[0], &ph, big,
						      VNET_DP_FRAME_MAX + 1,
						      SIM_NET_LAYOUT__COUNT), 0);
			continue;
		default:
			break;
		}
		l = i == 6 ? 14 : i == 10 ? VNET_DP_FRAME_MAX : 60 + 37 * i;
		good[ngood] = malloc(l);
		assert_non_null(good[ngood]);
		if (l == 14) {
			memcpy(good[ngood], OWN, 6);
			memcpy(good[ngood] + 6, PEER, 6);
			put16(good[ngood] + 12, 0x88b5);
		} else if (l > SET_FRAME) {
			for (uint32_t j = 0; j < l; j++)
				good[ngood][j] = (uint8_t)(j * 13 + 1);
		} else {
			frame_of(e, good[ngood], PEER, OWN, &fl, -1, l);
		}
		lens[ngood] = l;
		assert_int_equal(sim_net_send(&e->tx[0], &ph, good[ngood], l,
					      SIM_NET_LAYOUT__COUNT), 0);
		ngood++;
	}
	sim_net_tx_flush(&e->tx[0]);
	vnet_dp_kicked(&e->dq[1]);
	assert_int_equal(tx_drain(e, 0, out, 16), ngood);
	assert_int_equal(ngood, 6);
	for (unsigned i = 0; i < ngood; i++) {
		assert_int_equal(out[i]->pkt_len, lens[i]);
		mb_bytes(out[i], big);
		assert_memory_equal(big, good[i], lens[i]);
		mb_free(&e->pool, out[i]);
		free(good[i]);
	}
	assert_int_equal(drops(e, 1, VNET_DROP_MALFORMED), 5);
	assert_int_equal(all_drops(e), 5);
	/* Every chain completed, none twice. */
	assert_int_equal(e->tx[0].sent, 3 + 11);
	assert_int_equal(e->tx[0].reclaimed, 3 + 11);
	assert_int_equal(e->tx[0].n_free, e->qsize);
	assert_int_equal(e->n.qstats[1].packets, 3 + 6);
	assert_false(vq_broken(e->dq[1].vq));
	free(big);
}

/* ---- receive buffers ------------------------------------------------------- */

/* Without buffers packets are dropped NO_BUFFER (the ones that fit are
 * delivered in order); with MRG_RXBUF a packet the posted buffers cannot
 * hold yet is dropped, and the buffers it had taken serve the next packets
 * in order: none is lost or returned twice. */
static void test_rx_no_buffer(void **state)
{
	struct env *e = *state;
	struct fset *s = calloc(1, sizeof(*s));
	struct vnet_hdr_hash h;
	struct flow fl;
	uint32_t len;

	assert_non_null(s);
	dev_create(e, OFFER, 1);
	e->qsize = 16;
	drv_up(e, BASIC);
	flow_of(e, &fl, 6, 17);
	for (unsigned i = 0; i < 20; i++)
		fset_add(e, s, OWN, &fl, -1, 100 + i);
	rx_set(e, s);
	assert_int_equal(drops(e, 0, VNET_DROP_NO_BUFFER), 4);
	for (unsigned i = 0; i < 16; i++)
		expect_set(e, 0, s, i);
	assert_int_equal(recv1(e, 0, &h, &len), 0);
	/* The driver took them and posted nothing again: still none. */
	rx_frame(e, s->f[0], s->len[0]);
	assert_int_equal(drops(e, 0, VNET_DROP_NO_BUFFER), 5);
	assert_int_equal(recv1(e, 0, &h, &len), 0);
	sim_net_rx_fill(&e->rx[0]);
	rx_frame(e, s->f[1], s->len[1]);
	expect_set(e, 0, s, 1);
	expect_quiet(e);
	assert_int_equal(e->rx[0].empty, 0);

	/* Mergeable 256-byte buffers, 16 of them. */
	drv_down(e);
	e->rx_buf = 256;
	drv_up(e, BASIC | NF(VIRTIO_NET_F_MRG_RXBUF));
	uint64_t nob = drops(e, 0, VNET_DROP_NO_BUFFER);
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < 12; i++)      /* 0..11: one buffer each */
		fset_add(e, s, OWN, &fl, -1, 100 + i);
	unsigned big = fset_add(e, s, OWN, &fl, -1, 2000); /* 8 buffers */
	unsigned a = fset_add(e, s, OWN, &fl, -1, 150);
	unsigned b = fset_add(e, s, OWN, &fl, -1, 160);
	unsigned big2 = fset_add(e, s, OWN, &fl, -1, 2000);
	unsigned c = fset_add(e, s, OWN, &fl, -1, 170);
	struct fset *t = calloc(1, sizeof(*t));
	assert_non_null(t);

	/* 12 buffers used, the driver does not look: 4 left. */
	t->n = 12;
	memcpy(t->len, s->len, sizeof(t->len));
	memcpy(t->f, s->f, 12 * sizeof(s->f[0]));
	rx_set(e, t);
	/* big, a, b in one burst: big does not fit the 4; a and b use two
	 * of the buffers it had taken. */
	t->n = 3;
	t->len[0] = s->len[big];
	t->len[1] = s->len[a];
	t->len[2] = s->len[b];
	memcpy(t->f[0], s->f[big], SET_FRAME);
	memcpy(t->f[1], s->f[a], SET_FRAME);
	memcpy(t->f[2], s->f[b], SET_FRAME);
	rx_set(e, t);
	assert_int_equal(drops(e, 0, VNET_DROP_NO_BUFFER), nob + 1);
	for (unsigned i = 0; i < 12; i++)
		expect_set(e, 0, s, i);
	expect_set(e, 0, s, a);
	expect_set(e, 0, s, b);
	assert_int_equal(recv1(e, 0, &h, &len), 0);
	/* 14 buffers back: 2 kept by the device + 14 posted. */
	sim_net_rx_fill(&e->rx[0]);
	t->n = 2;
	t->len[0] = s->len[big2];
	t->len[1] = s->len[c];
	memcpy(t->f[0], s->f[big2], SET_FRAME);
	memcpy(t->f[1], s->f[c], SET_FRAME);
	rx_set(e, t);
	expect_rx(e, 0, s->f[big2], s->len[big2], &h);
	assert_int_equal(vle16_to_cpu(h.hdr.num_buffers), 8);
	expect_set(e, 0, s, c);
	expect_quiet(e);
	/* All 16 buffers are the driver's again: exactly 16 packets fit. */
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < 17; i++)
		fset_add(e, t, OWN, &fl, -1, 80 + i);
	rx_set(e, t);
	for (unsigned i = 0; i < 16; i++)
		expect_set(e, 0, t, i);
	expect_quiet(e);
	assert_int_equal(drops(e, 0, VNET_DROP_NO_BUFFER), nob + 2);
	assert_int_equal(e->rx[0].buffers, 12 + 2 + 8 + 1 + 16);
	assert_int_equal(e->rx[0].packets, 12 + 2 + 2 + 16);
	assert_int_equal(e->rx[0].empty, 0);
	assert_int_equal(e->rx[0].n_free, 0); /* every buffer posted */
	free(t);
	free(s);
}

/* Without MRG_RXBUF a packet longer than the buffer is dropped TOO_BIG and
 * the buffer goes back to the driver unused; the next packet fits. */
static void test_rx_buffer_too_small(void **state)
{
	struct env *e = *state;
	struct flow fl;
	uint32_t len;
	uint8_t *small = malloc(SET_FRAME);

	assert_non_null(small);
	dev_create(e, OFFER, 1);
	e->rx_buf = 256;
	e->qsize = 16;
	drv_up(e, BASIC);
	flow_of(e, &fl, 4, 6);
	len = frame_of(e, e->frame, OWN, PEER, &fl, -1, 1000);
	rx_frame(e, e->frame, len);
	assert_int_equal(drops(e, 0, VNET_DROP_TOO_BIG), 1);
	uint32_t sl = frame_of(e, small, OWN, PEER, &fl, -1, 100);
	rx_frame(e, small, sl);
	expect_rx(e, 0, small, sl, NULL);
	assert_int_equal(e->rx[0].empty, 1);
	expect_quiet(e);
	/* The edge: 244 + 12 fills the buffer exactly, 245 does not. */
	len = frame_of(e, e->frame, OWN, PEER, &fl, -1, 256 - 12 + 1);
	rx_frame(e, e->frame, len);
	sl = frame_of(e, small, OWN, PEER, &fl, -1, 256 - 12);
	rx_frame(e, small, sl);
	expect_rx(e, 0, small, sl, NULL);
	expect_quiet(e);
	assert_int_equal(drops(e, 0, VNET_DROP_TOO_BIG), 2);
	assert_int_equal(e->rx[0].empty, 2);
	assert_int_equal(e->rx[0].n_free, 0);
	assert_int_equal(all_drops(e), 2);
	free(small);
}

/* ---- link, MTU ------------------------------------------------------------ */

/* Link down: nothing goes out or in (counted, transmit chains still
 * completed); link up: traffic again. */
static void test_link_down(void **state)
{
	struct env *e = *state;
	struct rte_mbuf *out[8];
	uint8_t st[2];
	struct flow fl;
	uint32_t len;

	dev_create(e, OFFER, 1);
	drv_up(e, BASIC);
	flow_of(e, &fl, 4, 17);
	len = frame_of(e, e->frame, OWN, PEER, &fl, -1, 300);

	vnet_set_link(&e->n, false);
	assert_false(e->conf->link_up);
	vdev_config_read(&e->n.vdev, VNET_CFG_STATUS, st, 2);
	assert_int_equal(st[0] & VIRTIO_NET_S_LINK_UP, 0);
	for (unsigned i = 0; i < 3; i++)
		tx_frame(e, 0, NULL, e->frame, len);
	assert_int_equal(tx_drain(e, 0, out, 8), 0);
	assert_int_equal(drops(e, 1, VNET_DROP_LINK_DOWN), 3);
	assert_int_equal(e->tx[0].reclaimed, 3);
	assert_int_equal(rx_where(e, e->frame, len, NULL), -1);
	assert_int_equal(rx_where(e, e->frame, len, NULL), -1);
	assert_int_equal(drops(e, 0, VNET_DROP_LINK_DOWN), 2);

	vnet_set_link(&e->n, true);
	assert_true(e->conf->link_up);
	tx_learn(e, 0, e->frame, len);
	assert_int_equal(rx_where(e, e->frame, len, NULL), 0);
	assert_int_equal(all_drops(e), 5);
}

/* With MTU negotiated no packet without GSO longer than mtu + 14 (+ 4 per
 * VLAN tag) reaches the driver; without it the buffers are the limit. */
static void test_mtu(void **state)
{
	struct env *e = *state;
	struct flow fl;
	uint32_t len;

	e->p.mtu = 1500;
	dev_create(e, OFFER, 1);
	e->rx_buf = 4096;
	e->qsize = 16;
	drv_up(e, BASIC | NF(VIRTIO_NET_F_MTU));
	assert_int_equal(e->conf->max_frame, 1514);
	flow_of(e, &fl, 4, 6);
	len = frame_of(e, e->frame, OWN, PEER, &fl, -1, 1514);
	assert_int_equal(rx_where(e, e->frame, len, NULL), 0);
	len = frame_of(e, e->frame, OWN, PEER, &fl, -1, 1515);
	assert_int_equal(rx_where(e, e->frame, len, NULL), -1);
	assert_int_equal(drops(e, 0, VNET_DROP_TOO_BIG), 1);
	len = frame_of(e, e->frame, OWN, PEER, &fl, 42, 1518);
	assert_int_equal(rx_where(e, e->frame, len, NULL), 0);
	len = frame_of(e, e->frame, OWN, PEER, &fl, 42, 1519);
	assert_int_equal(rx_where(e, e->frame, len, NULL), -1);
	assert_int_equal(drops(e, 0, VNET_DROP_TOO_BIG), 2);

	/* MTU not negotiated: 4000 bytes pass. */
	drv_down(e);
	drv_up(e, BASIC);
	assert_int_equal(e->conf->max_frame, 0);
	len = frame_of(e, e->frame, OWN, PEER, &fl, -1, 4000);
	assert_int_equal(rx_where(e, e->frame, len, NULL), 0);
	assert_int_equal(all_drops(e), 2);
}

/* ---- resets in the middle of traffic ---------------------------------------- */

/* n small frames that are not IP (receiveq1 whatever the steering) and
 * one of 2000 bytes, into s. */
static void fill_set(struct env *e, struct fset *s, unsigned n, bool with_big)
{
	struct flow fl;

	memset(s, 0, sizeof(*s));
	flow_of(e, &fl, 0, 0);
	for (unsigned i = 0; i < n; i++)
		fset_add(e, s, OWN, &fl, -1, 64 + i);
	if (with_big)
		fset_add(e, s, OWN, &fl, -1, 2000);
}

/* A few frames both ways on every pair (but the transmit queue of pair
 * `no_tx`), checked byte for byte. */
static void traffic_ok(struct env *e, struct steer_model *sm, unsigned no_tx)
{
	uint8_t *tx = malloc(SET_FRAME), *rx = malloc(SET_FRAME);
	struct vnet_hdr_hash h;
	struct flow fl;
	uint32_t txl, rxl;

	assert_true(tx && rx);
	for (unsigned i = 0; i < 4 * e->npairs; i++) {
		unsigned p = i % e->npairs;

		if (p == no_tx)
			continue;
		flow_of(e, &fl, i % 2 ? 4 : 6, i % 3 ? 6 : 17);
		flow_frames(e, &fl, tx, &txl, rx, &rxl);
		tx_learn(e, p, tx, txl);
		model_learn(sm, tx, txl, p);
		assert_int_equal(rx_where(e, rx, rxl, &h),
				 (int)model_queue(sm, rx, rxl, e->conf->pairs));
	}
	/* A packet over eight mergeable buffers. */
	flow_of(e, &fl, 0, 0);
	rxl = frame_of(e, rx, OWN, PEER, &fl, -1, 2000);
	assert_int_equal(rx_where(e, rx, rxl, &h), 0);
	if (e->rx_buf == 256)
		assert_int_equal(vle16_to_cpu(h.hdr.num_buffers), 8);
	free(tx);
	free(rx);
}

/* A device reset while packets are half way through (popped and not
 * completed, buffers held for a packet that did not fit): status reads 0,
 * nothing leaks, steering is forgotten, and a new driver gets traffic
 * flowing again. */
static void test_device_reset_mid_traffic(void **state)
{
	struct env *e = *state;
	const uint64_t want = BASIC | NF(VIRTIO_NET_F_MQ) | NF(VIRTIO_NET_F_MRG_RXBUF);
	struct steer_model *sm = calloc(1, sizeof(*sm));
	struct fset *s = calloc(1, sizeof(*s));
	struct rte_mbuf *out[VNET_DP_BURST_MAX];
	static const struct vnet_steer zero;
	uint8_t *tx = malloc(SET_FRAME), *rx = malloc(SET_FRAME);
	uint32_t txl, rxl;
	struct flow fl;

	assert_true(sm && s && tx && rx);
	dev_create(e, OFFER, MAXP);
	e->rx_buf = 256;
	e->qsize = 16;
	drv_up(e, want);
	assert_int_equal(ctrl_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, MAXP),
			 VIRTIO_NET_OK);
	traffic_ok(e, sm, MAXP);

	/* Transmit: 3 posted on pair 1 (what 16 descriptors surely hold),
	 * 1 taken. */
	flow_of(e, &fl, 4, 6);
	flow_frames(e, &fl, tx, &txl, rx, &rxl);
	for (unsigned i = 0; i < 3; i++)
		tx_frame(e, 1, NULL, tx, txl);
	assert_int_equal(vnet_dp_tx_burst(&e->dq[3], e->conf, out, 1), 1);
	mb_free(&e->pool, out[0]);
	assert_true(memcmp(&e->steer, &zero, sizeof(zero)) != 0);
	/* Receive: 12 buffers filled unread, 4 held for a packet that needs 8. */
	fill_set(e, s, 12, true);
	rx_set(e, s);
	assert_int_equal(drops(e, 0, VNET_DROP_NO_BUFFER), 1);
	assert_int_equal(e->dq[0].nstash, 4);

	assert_int_equal(vdev_set_status(&e->n.vdev, 0), 0);
	assert_int_equal(vdev_get_status(&e->n.vdev), 0);
	assert_int_equal(e->dq[0].nstash, 0);
	assert_memory_equal(&e->steer, &zero, sizeof(zero));
	assert_int_equal(e->conf->features, 0);
	for (uint16_t q = 0; q < MAXP; q++)
		assert_false(vnet_dp_rxq_ok(e->conf, q));
	drv_down(e);
	assert_int_equal(e->pool.live, 0);

	/* A new driver: everything flows, the old flow is not remembered. */
	drv_up(e, want);
	assert_int_equal(ctrl_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, MAXP),
			 VIRTIO_NET_OK);
	memset(sm, 0, sizeof(*sm));
	assert_int_equal(rx_where(e, rx, rxl, NULL), (int)model_queue(sm, rx, rxl, MAXP));
	traffic_ok(e, sm, MAXP);
	fill_set(e, s, 7, true); /* 7 + 8 buffers of 16 */
	rx_set(e, s);
	for (unsigned i = 0; i < 8; i++)
		expect_set(e, 0, s, i);
	expect_quiet(e);
	assert_int_equal(all_drops(e), 1); /* the NO_BUFFER before the reset */
	free(sm);
	free(s);
	free(tx);
	free(rx);
}

/* VIRTIO_F_RING_RESET in the middle of traffic: transmitq2 (virtqueue 3)
 * with chains not yet taken, receiveq1 with buffers held for a packet
 * that did not fit. Each comes back on a fresh ring and works; the other
 * queues never stop. */
static void test_queue_reset_mid_traffic(void **state)
{
	struct env *e = *state;
	struct vdev *d = &e->n.vdev;
	struct steer_model *sm = calloc(1, sizeof(*sm));
	struct fset *s = calloc(1, sizeof(*s));
	struct rte_mbuf *out[VNET_DP_BURST_MAX];
	uint8_t *tx = malloc(SET_FRAME), *rx = malloc(SET_FRAME);
	struct vnet_hdr_hash h;
	uint32_t txl, rxl;
	struct flow fl;

	assert_true(sm && s && tx && rx);
	dev_create(e, OFFER, MAXP);
	e->rx_buf = 256;
	e->qsize = 16;
	drv_up(e, BASIC | NF(VIRTIO_NET_F_MQ) | NF(VIRTIO_NET_F_MRG_RXBUF) |
		  GF(VIRTIO_F_RING_RESET));
	assert_int_equal(ctrl_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, MAXP),
			 VIRTIO_NET_OK);
	traffic_ok(e, sm, MAXP);

	/* Transmit queue of pair 1: 3 posted, 1 taken, reset. */
	flow_of(e, &fl, 6, 6);
	flow_frames(e, &fl, tx, &txl, rx, &rxl);
	for (unsigned i = 0; i < 3; i++)
		tx_frame(e, 1, NULL, tx, txl);
	assert_int_equal(vnet_dp_tx_burst(&e->dq[3], e->conf, out, 1), 1);
	mb_bytes(out[0], e->got);
	assert_memory_equal(e->got, tx, txl);
	mb_free(&e->pool, out[0]);
	assert_int_equal(vdev_queue_reset(d, 3), 0);
	assert_false(d->q[3].enabled);
	assert_int_equal(vnet_dp_tx_burst(&e->dq[3], e->conf, out, 8), 0);
	traffic_ok(e, sm, 1);
	txq_again(e, 1);
	for (unsigned k = 0; k < 4; k++) {
		fill_set(e, s, 3, false);
		for (unsigned i = 0; i < 3; i++)
			tx_frame(e, 1, NULL, s->f[i], s->len[i]);
		assert_int_equal(tx_drain(e, 1, out, VNET_DP_BURST_MAX), 3);
		for (unsigned i = 0; i < 3; i++) {
			assert_int_equal(out[i]->pkt_len, s->len[i]);
			mb_bytes(out[i], e->got);
			assert_memory_equal(e->got, s->f[i], s->len[i]);
			mb_free(&e->pool, out[i]);
		}
	}
	assert_int_equal(e->tx[1].reclaimed, 12);
	traffic_ok(e, sm, MAXP);

	/* receiveq1: 12 buffers filled unread, 4 held for a 2000-byte
	 * packet; reset while the device holds them. */
	fill_set(e, s, 12, true);
	rx_set(e, s);
	assert_int_equal(e->dq[0].nstash, 4);
	assert_int_equal(vdev_queue_reset(d, 0), 0);
	assert_int_equal(e->dq[0].nstash, 0);
	/* Meanwhile the others work (the driver's old receiveq1 ring, with
	 * its 12 unread packets, is not looked at). */
	flow_of(e, &fl, 4, 6);
	flow_frames(e, &fl, tx, &txl, rx, &rxl);
	tx_learn(e, 2, tx, txl);
	model_learn(sm, tx, txl, 2);
	assert_int_equal(model_queue(sm, rx, rxl, MAXP), 2);
	rx_frame(e, rx, rxl);
	expect_rx(e, 2, rx, rxl, NULL);
	sim_net_rx_fill(&e->rx[2]);
	rxq_again(e, 0);
	fill_set(e, s, 3, true);
	rx_set(e, s);
	for (unsigned i = 0; i < 4; i++)
		expect_set(e, 0, s, i);
	expect_quiet(e);
	assert_int_equal(e->rx[0].empty, 0);
	fill_set(e, s, 0, true);
	rx_set(e, s);
	expect_rx(e, 0, s->f[0], s->len[0], &h);
	assert_int_equal(vle16_to_cpu(h.hdr.num_buffers), 8);
	expect_quiet(e);
	traffic_ok(e, sm, MAXP);

	/* One pair, no steering: receiveq1 being reset (the lcore still
	 * holds the ring) drops everything, nothing reaches that ring. */
	assert_int_equal(ctrl_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 1),
			 VIRTIO_NET_OK);
	uint64_t off = drops(e, 0, VNET_DROP_QUEUE_OFF);
	e->defer_qreset = true;
	assert_int_equal(vdev_queue_reset(d, 0), 0);
	assert_true(d->q[0].vq.enabled);
	fill_set(e, s, 3, false);
	rx_set(e, s);
	assert_int_equal(drops(e, 0, VNET_DROP_QUEUE_OFF), off + 3);
	uint32_t len;
	assert_int_equal(recv1(e, 0, &h, &len), 0);
	e->defer_qreset = false;
	qreset_finish(e, 0);
	rxq_again(e, 0);
	rx_set(e, s);
	for (unsigned i = 0; i < 3; i++)
		expect_set(e, 0, s, i);
	expect_quiet(e);
	assert_int_equal(all_drops(e), 3 + 1); /* + the NO_BUFFER above */
	free(sm);
	free(s);
	free(tx);
	free(rx);
}

/* ---- interrupts --------------------------------------------------------------- */

/* One burst of n frames to receiveq1 (not read yet). */
static void rx_burst_send(struct env *e, struct fset *s, unsigned n)
{
	fill_set(e, s, n, false);
	rx_set(e, s);
}

/* The driver reads them all and posts the buffers again. */
static void rx_burst_read(struct env *e, const struct fset *s)
{
	for (unsigned i = 0; i < s->n; i++)
		expect_set(e, 0, s, i);
	expect_quiet(e);
}

/* Used-buffer notifications as the driver asks for them (split and packed
 * with EVENT_IDX, split with flags): one per burst while it wants them,
 * none while it has them off, as a NAPI driver runs it (off in the
 * interrupt handler before it reads, on again when it is done). */
static void test_irq_suppression(void **state)
{
	struct env *e = *state;
	struct fset *s = calloc(1, sizeof(*s));
	static const uint64_t modes[] = {
		GF(VIRTIO_F_EVENT_IDX),
		GF(VIRTIO_F_EVENT_IDX) | GF(VIRTIO_F_RING_PACKED),
		0,
	};
	const struct vnet_queue_stats *st;

	assert_non_null(s);
	dev_create(e, OFFER, 1);
	st = &e->n.qstats[0];
	for (unsigned mode = 0; mode < 3; mode++) {
		drv_up(e, BASIC | modes[mode]);
		struct sim_vq *v = &e->rx[0].vq;
		unsigned irq0 = e->irqs[0];
		uint64_t int0 = st->interrupts;

		assert_int_equal(irq0, int0);
		/* Wanted: one per burst, however many packets. */
		for (unsigned r = 0; r < 4; r++) {
			assert_false(sim_vq_enable_cb(v));
			rx_burst_send(e, s, 2 + 3 * r);
			assert_int_equal(e->irqs[0], irq0 + r + 1);
			assert_int_equal(st->interrupts, int0 + r + 1);
			rx_burst_read(e, s);
		}
		/* The interrupt of a burst turns them off; the driver polls:
		 * none however many bursts arrive. */
		assert_false(sim_vq_enable_cb(v));
		rx_burst_send(e, s, 4);
		assert_int_equal(e->irqs[0], irq0 + 5);
		sim_vq_disable_cb(v);
		rx_burst_read(e, s);
		for (unsigned r = 0; r < 4; r++) {
			rx_burst_send(e, s, 3 + r);
			rx_burst_read(e, s);
			assert_int_equal(e->irqs[0], irq0 + 5);
			assert_int_equal(st->interrupts, int0 + 5);
		}
		/* On again (nothing pending): one per burst again. */
		for (unsigned r = 0; r < 3; r++) {
			assert_false(sim_vq_enable_cb(v));
			rx_burst_send(e, s, 7);
			assert_int_equal(e->irqs[0], irq0 + 6 + r);
			assert_int_equal(st->interrupts, int0 + 6 + r);
			rx_burst_read(e, s);
		}
		assert_int_equal(all_drops(e), 0);
		drv_down(e);
	}
	free(s);
}

/* ---- notification coalescing ------------------------------------------------ */

static int coal_cmd(struct env *e, uint8_t cmd, int vq, uint32_t pkts,
		    uint32_t usecs)
{
	uint8_t b[12];
	uint32_t o = 0;

	if (vq >= 0) { /* VQ_SET: le16 vq_index, le16 reserved */
		b[0] = (uint8_t)vq;
		b[1] = (uint8_t)(vq >> 8);
		b[2] = b[3] = 0;
		o = 4;
	}
	for (int i = 0; i < 4; i++) {
		b[o + i] = (uint8_t)(pkts >> (8 * i));
		b[o + 4 + i] = (uint8_t)(usecs >> (8 * i));
	}
	return ctrl(e, VIRTIO_NET_CTRL_NOTF_COAL, cmd, b, o + 8);
}

/* Held until max_packets packets or max_usecs since the first, per queue;
 * a parameter change re-checks at once; 0 means every burst; TX_SET and
 * VQ_SET too; nothing while the driver has notifications off. */
static void test_coalescing(void **state)
{
	struct env *e = *state;
	struct fset *s = calloc(1, sizeof(*s));
	struct vnet_dp_queue *rq = &e->dq[0], *tq = &e->dq[1];
	struct rte_mbuf *pk[8];

	assert_non_null(s);
	dev_create(e, OFFER | NF(VIRTIO_NET_F_NOTF_COAL) | NF(VIRTIO_NET_F_VQ_NOTF_COAL), 1);
	drv_up(e, BASIC | NF(VIRTIO_NET_F_NOTF_COAL) | NF(VIRTIO_NET_F_VQ_NOTF_COAL));
	assert_int_equal(coal_cmd(e, VIRTIO_NET_CTRL_NOTF_COAL_RX_SET, -1, 8, 100),
			 VIRTIO_NET_OK);
	/* 3 + 5 packets: the 8th raises it, not the clock. */
	rx_burst_send(e, s, 3);
	vnet_dp_coal_tick(rq, e->conf, 1000);
	vnet_dp_coal_tick(rq, e->conf, 1099);
	assert_int_equal(e->irqs[0], 0);
	rx_burst_read(e, s);
	rx_burst_send(e, s, 5);
	assert_int_equal(e->irqs[0], 1);
	rx_burst_read(e, s);
	/* 1 packet: raised by the clock, 100 us after the first tick. */
	rx_burst_send(e, s, 1);
	vnet_dp_coal_tick(rq, e->conf, 2000);
	vnet_dp_coal_tick(rq, e->conf, 2099);
	assert_int_equal(e->irqs[0], 1);
	vnet_dp_coal_tick(rq, e->conf, 2100);
	assert_int_equal(e->irqs[0], 2);
	vnet_dp_coal_tick(rq, e->conf, 9000); /* nothing owed any more */
	assert_int_equal(e->irqs[0], 2);
	rx_burst_read(e, s);
	/* 3 held, then max_packets 2: due at once. */
	rx_burst_send(e, s, 3);
	assert_int_equal(coal_cmd(e, VIRTIO_NET_CTRL_NOTF_COAL_RX_SET, -1, 2, 100),
			 VIRTIO_NET_OK);
	vnet_dp_coal_tick(rq, e->conf, 3000);
	assert_int_equal(e->irqs[0], 3);
	rx_burst_read(e, s);
	/* Zero: every burst, as without coalescing. */
	assert_int_equal(coal_cmd(e, VIRTIO_NET_CTRL_NOTF_COAL_RX_SET, -1, 0, 0),
			 VIRTIO_NET_OK);
	rx_burst_send(e, s, 2);
	assert_int_equal(e->irqs[0], 4);
	rx_burst_read(e, s);
	/* Per queue (VQ_SET on receiveq1): 16 packets or 10 us. */
	assert_int_equal(coal_cmd(e, VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET, 0, 16, 10),
			 VIRTIO_NET_OK);
	rx_burst_send(e, s, 3);
	vnet_dp_coal_tick(rq, e->conf, 5000);
	assert_int_equal(e->irqs[0], 4);
	vnet_dp_coal_tick(rq, e->conf, 5010);
	assert_int_equal(e->irqs[0], 5);
	rx_burst_read(e, s);
	/* Driver has them off: nothing, whatever the count or the clock. */
	sim_vq_disable_cb(&e->rx[0].vq);
	for (unsigned r = 0; r < 3; r++) {
		rx_burst_send(e, s, 7);
		vnet_dp_coal_tick(rq, e->conf, 6000 + 100 * r);
		rx_burst_read(e, s);
	}
	assert_int_equal(e->irqs[0], 5);
	assert_int_equal(e->n.qstats[0].interrupts, 5);
	/* Transmit: TX_SET 4 packets / 50 us. */
	assert_int_equal(coal_cmd(e, VIRTIO_NET_CTRL_NOTF_COAL_TX_SET, -1, 4, 50),
			 VIRTIO_NET_OK);
	unsigned tx0 = e->irqs[1];
	fill_set(e, s, 4, false);
	for (unsigned i = 0; i < 2; i++)
		tx_frame(e, 0, NULL, s->f[i], s->len[i]);
	assert_int_equal(tx_drain(e, 0, pk, 8), 2);
	assert_int_equal(e->irqs[1], tx0);
	for (unsigned i = 2; i < 4; i++)
		tx_frame(e, 0, NULL, s->f[i], s->len[i]);
	assert_int_equal(tx_drain(e, 0, pk + 2, 6), 2);
	assert_int_equal(e->irqs[1], tx0 + 1);
	assert_int_equal(e->n.qstats[1].interrupts, e->irqs[1]);
	(void)tq;
	for (unsigned i = 0; i < 4; i++)
		mb_free(&e->pool, pk[i]);
	assert_int_equal(all_drops(e), 0);
	free(s);
}

/* ---- the generic features the device offers ------------------------------- */

/* ACCESS_PLATFORM (addresses are IOVAs: they always are here),
 * ORDER_PLATFORM (the path's barriers are the platform's already),
 * NOTIFICATION_DATA (a doorbell's data is a hint the device may ignore)
 * and SR_IOV (a PCI matter): each negotiated, alone and all together, on
 * both rings, and packets move both ways unchanged. */
static void test_generic_features(void **state)
{
	struct env *e = *state;
	struct fset *s = calloc(1, sizeof(*s));
	static const uint64_t bits[] = {
		GF(VIRTIO_F_ACCESS_PLATFORM), GF(VIRTIO_F_ORDER_PLATFORM),
		GF(VIRTIO_F_NOTIFICATION_DATA), GF(VIRTIO_F_SR_IOV),
		GF(VIRTIO_F_ACCESS_PLATFORM) | GF(VIRTIO_F_ORDER_PLATFORM) |
		GF(VIRTIO_F_NOTIFICATION_DATA) | GF(VIRTIO_F_SR_IOV),
	};
	struct rte_mbuf *pk[VNET_DP_BURST_MAX];

	assert_non_null(s);
	dev_create(e, OFFER | bits[4], 1);
	for (unsigned i = 0; i < 2 * 5; i++) {
		uint64_t f = bits[i / 2] | (i % 2 ? GF(VIRTIO_F_RING_PACKED) : 0);

		drv_up(e, BASIC | f);
		assert_int_equal(vdev_features(&e->n.vdev) & f, f);
		fill_set(e, s, 16, false);
		for (unsigned k = 0; k < s->n; k++)
			tx_frame(e, 0, NULL, s->f[k], s->len[k]);
		assert_int_equal(tx_drain(e, 0, pk, VNET_DP_BURST_MAX), s->n);
		for (unsigned k = 0; k < s->n; k++) {
			assert_int_equal(mb_bytes(pk[k], e->got), s->len[k]);
			assert_memory_equal(e->got, s->f[k], s->len[k]);
			mb_free(&e->pool, pk[k]);
		}
		rx_set(e, s);
		for (unsigned k = 0; k < s->n; k++)
			expect_set(e, 0, s, k);
		expect_quiet(e);
		assert_int_equal(all_drops(e), 0);
		drv_down(e);
	}
	free(s);
}

/* ---- a conf built by hand (a front end that keeps the control plane) ------- */

/* As vhost-user will use it: the conf filled by the transport, queues set
 * up on bare rings with their own counters; no RX filter (any MAC
 * passes), receiveq1 usable once marked so. Bad arguments refused. */
static void test_conf_by_hand(void **state)
{
	struct env *e = *state;
	struct fset *s = calloc(1, sizeof(*s));
	struct vnet_queue_stats *st = aligned_alloc(64, 2 * sizeof(*st));
	struct vnet_dp_queue rq, tq;
	struct vnet_mbuf_ops mops = { mb_alloc, mb_free, &e->pool };
	struct rte_mbuf *pk[VNET_DP_BURST_MAX];
	struct vnet_dp_conf *c;
	struct flow fl;

	assert_non_null(s);
	assert_non_null(st);
	memset(st, 0, 2 * sizeof(*st));
	assert_null(vnet_dp_conf_alloc(0));
	assert_int_equal(vnet_dp_queue_setup(&tq, NULL, NULL, 1, 256, NULL, &mops, NULL, NULL), -EINVAL);
	assert_int_equal(vnet_dp_queue_setup(&tq, NULL, st, 1, 0, NULL, &mops, NULL, NULL), -EINVAL);
	assert_int_equal(vnet_dp_queue_setup(&tq, &e->n.vdev.q[1].vq, st, 1, 256, NULL, NULL, NULL, NULL),
			 -EINVAL); /* transmit without mbufs */
	dev_create(e, OFFER, 1);
	drv_up(e, BASIC);
	c = vnet_dp_conf_alloc(1);
	assert_non_null(c);
	c->features = c->rx_features = vdev_features(&e->n.vdev);
	c->hdr_len = (uint32_t)vnet_hdr_len(c->features);
	c->link_up = true;
	assert_int_equal(vnet_dp_queue_setup(&rq, &e->n.vdev.q[0].vq, &st[0], 0, e->qsize,
					     NULL, NULL, NULL, NULL), 0);
	assert_int_equal(vnet_dp_queue_setup(&tq, &e->n.vdev.q[1].vq, &st[1], 1, e->qsize,
					     NULL, &mops, NULL, NULL), 0);
	/* Receive: nothing usable yet, then receiveq1 marked usable. */
	memset(s, 0, sizeof(*s));
	flow_of(e, &fl, 4, 17);
	fset_add(e, s, OTHER, &fl, -1, 100);
	fset_add(e, s, OWN, &fl, -1, 200);
	struct vnet_rx_meta meta[2];
	for (unsigned k = 0; k < 2; k++)
		pk[k] = mb_from(&e->pool, s->f[k], s->len[k]);
	vnet_dp_rx_classify(c, NULL, pk, 2, meta);
	assert_int_equal(meta[0].drop, 1 + VNET_DROP_QUEUE_OFF);
	c->rxq_ok[0] = 1;
	/* No filter, no hash, no steering (decided once per burst): still a
	 * frame too short for an Ethernet header is dropped, and a link
	 * going down drops all. */
	{
		static const uint8_t runt[13] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
		struct rte_mbuf *r[2] = { mb_from(&e->pool, runt, sizeof(runt)), pk[0] };
		struct vnet_rx_meta rm[2];

		vnet_dp_rx_classify(c, NULL, r, 2, rm);
		assert_int_equal(rm[0].drop, 1 + VNET_DROP_FILTER);
		assert_int_equal(rm[1].drop, 0);
		assert_int_equal(rm[1].queue, 0);
		c->link_up = false;
		vnet_dp_rx_classify(c, NULL, r, 2, rm);
		assert_int_equal(rm[0].drop, 1 + VNET_DROP_LINK_DOWN);
		assert_int_equal(rm[1].drop, 1 + VNET_DROP_LINK_DOWN);
		c->link_up = true;
		mb_free(&e->pool, r[0]);
	}
	vnet_dp_rx_classify(c, NULL, pk, 2, meta);
	assert_int_equal(meta[0].drop, 0);
	assert_int_equal(meta[1].drop, 0);
	assert_int_equal(vnet_dp_rx_burst(&rq, c, pk, meta, 2), 2);
	for (unsigned k = 0; k < 2; k++) {
		mb_free(&e->pool, pk[k]);
		expect_set(e, 0, s, k);
	}
	assert_int_equal(st[0].packets, 2);
	/* Transmit through the same conf. */
	tx_frame(e, 0, NULL, s->f[1], s->len[1]);
	assert_int_equal(vnet_dp_tx_burst(&tq, c, pk, VNET_DP_BURST_MAX), 1);
	assert_int_equal(mb_bytes(pk[0], e->got), s->len[1]);
	assert_memory_equal(e->got, s->f[1], s->len[1]);
	mb_free(&e->pool, pk[0]);
	assert_int_equal(st[1].packets, 1);
	assert_true(sim_net_tx_reclaim(&e->tx[0]) == 1);
	vnet_dp_queue_fini(&rq);
	vnet_dp_queue_fini(&tq);
	vnet_dp_conf_free(c);
	free(st);
	free(s);
}

/* ---- receive buffers of many descriptors, a pool running low ---------------- */

/* Receive buffers posted as many descriptors through indirect tables (as
 * Linux does without MRG_RXBUF for big packets): a burst of packets finds
 * every one of the buffers posted, none is dropped while buffers wait in
 * the ring; with MRG_RXBUF packets spread over several such buffers arrive
 * intact. */
static void test_rx_many_descriptor_buffers(void **state)
{
	struct env *e = *state;
	struct fset *s = calloc(1, sizeof(*s));
	struct flow fl;

	assert_non_null(s);
	dev_create(e, OFFER, 1);
	e->indirect = true;
	e->rx_split = 64; /* 1534-byte buffers in 24 pieces */
	for (int packed = 0; packed < 2; packed++) {
		drv_up(e, BASIC | GF(VIRTIO_F_INDIRECT_DESC) |
			  (packed ? GF(VIRTIO_F_RING_PACKED) : 0));
		fill_set(e, s, VNET_DP_BURST_MAX, false);
		for (unsigned r = 0; r < 3; r++) {
			rx_set(e, s);
			for (unsigned i = 0; i < VNET_DP_BURST_MAX; i++)
				expect_set(e, 0, s, i);
			expect_quiet(e);
			assert_int_equal(drops(e, 0, VNET_DROP_NO_BUFFER), 0);
		}
		drv_down(e);
	}
	/* Mergeable: 1024-byte buffers in 64 pieces, packets of one to
	 * three buffers: several times the segments the device keeps per
	 * queue in one burst, packets straddling each refill. */
	e->rx_buf = 1024;
	e->rx_split = 16;
	for (int packed = 0; packed < 2; packed++) {
		struct vnet_hdr_hash h;
		uint32_t used = 0;

		drv_up(e, BASIC | GF(VIRTIO_F_INDIRECT_DESC) | NF(VIRTIO_NET_F_MRG_RXBUF) |
			  (packed ? GF(VIRTIO_F_RING_PACKED) : 0));
		memset(s, 0, sizeof(*s));
		flow_of(e, &fl, 4, 17);
		while (s->n < VNET_DP_BURST_MAX) {
			uint32_t l = s->n % 3 == 0 ? 100 : s->n % 3 == 1 ? 1600 : 2040;
			fset_add(e, s, OWN, &fl, -1, l);
			used += (12 + l + 1023) / 1024;
		}
		assert_true(used * 64 > 4 * 4u * e->p.max_queue_size && used <= e->qsize);
		rx_set(e, s);
		for (unsigned i = 0; i < VNET_DP_BURST_MAX; i++) {
			expect_rx(e, 0, s->f[i], s->len[i], &h);
			assert_int_equal(vle16_to_cpu(h.hdr.num_buffers),
					 (12 + s->len[i] + 1023) / 1024);
		}
		expect_quiet(e);
		assert_int_equal(all_drops(e), 0);
		assert_int_equal(e->rx[0].buffers, used);
		drv_down(e);
	}
	free(s);
}

/* A pool with a few mbufs left still serves the chains waiting (the
 * queue must not stall until a whole burst's worth is free), takes no
 * more than they need, and what it cannot serve waits in the ring. */
static void test_tx_pool_low(void **state)
{
	struct env *e = *state;
	struct rte_mbuf *out[8];
	struct fset *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	dev_create(e, OFFER, 1);
	drv_up(e, BASIC);
	fill_set(e, s, 5, false);
	for (unsigned i = 0; i < 3; i++)
		tx_frame(e, 0, NULL, s->f[i], s->len[i]);
	e->pool.fail_after = 5;
	assert_int_equal(tx_drain(e, 0, out, 8), 3);
	assert_int_equal(e->pool.fail_after, 2); /* none hoarded */
	for (unsigned i = 0; i < 3; i++) {
		mb_bytes(out[i], e->got);
		assert_memory_equal(e->got, s->f[i], s->len[i]);
		mb_free(&e->pool, out[i]);
	}
	/* Two mbufs left, three packets: two go, one waits. */
	for (unsigned i = 0; i < 3; i++)
		tx_frame(e, 0, NULL, s->f[2 + i], s->len[2 + i]);
	assert_int_equal(tx_drain(e, 0, out, 8), 2);
	assert_int_equal(vq_avail_count(e->dq[1].vq), 1);
	e->pool.fail_after = ~0u;
	assert_int_equal(tx_drain(e, 0, out + 2, 6), 1);
	for (unsigned i = 0; i < 3; i++) {
		mb_bytes(out[i], e->got);
		assert_memory_equal(e->got, s->f[2 + i], s->len[2 + i]);
		mb_free(&e->pool, out[i]);
	}
	assert_int_equal(all_drops(e), 0);
	assert_int_equal(e->tx[0].reclaimed, 6);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_matrix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vlan_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_steer_auto, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_offloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_offloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_short_way_mixed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_short_way, setup, teardown),
		cmocka_unit_test(test_release_pick),
		cmocka_unit_test_setup_teardown(test_tx_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_no_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_buffer_too_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mtu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_reset_mid_traffic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_reset_mid_traffic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_suppression, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coalescing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generic_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conf_by_hand, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_many_descriptor_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_pool_low, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
