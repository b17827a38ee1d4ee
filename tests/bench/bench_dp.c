/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_dp — cost of the virtio-net packet path (emu/vnet_dp) per packet:
 * the device's side only, against the simulated driver (sim/drv_net).
 *
 * One thread (the EAL main lcore, -l 0): the driver and the device take
 * turns, so there is no core-to-core traffic and no waiting in the
 * figures. Only the device's calls are timed (rte_rdtsc around each): the
 * driver's work between them (building chains, reading receive buffers,
 * checking them) is not. A device created per case goes through the
 * driver's initialisation sequence (virtio_dev API), the control queue
 * configures it. The driver negotiates VERSION_1, EVENT_IDX, MAC, STATUS,
 * CTRL_VQ and CTRL_RX (so the RX filter runs: frames go to the device's
 * MAC), plus what a case names; queue size 256, bursts of 32; mbufs from a
 * DPDK mempool (rte_pktmbuf_alloc_bulk / rte_pktmbuf_free, per-lcore
 * cache). No interrupt callback: the device decides them, raises none.
 *
 *   tx-*: the driver posts 32 header + frame chains (one descriptor each,
 *     plain header) and publishes; timed: vnet_dp_tx_burst (pop, copy
 *     each frame into an mbuf, header to offload flags, complete, decide
 *     the interrupt, allocate spare mbufs when short). The mbufs are
 *     checked and freed (rte_pktmbuf_free_bulk) outside the timed window
 *     and the driver reclaims its chains.
 *   rx-*: 512 TCP/IPv4 packets are built once in mbufs and handed out 32
 *     at a time, cyclically (plain packets: the path never writes them,
 *     so reuse is fine). Timed: vnet_dp_rx_classify on the burst, the
 *     grouping by receive queue (a pass over the burst: the caller's
 *     part) and one vnet_dp_rx_burst per queue that got packets. The
 *     driver then receives everything and reposts its buffers.
 *       rx-1500-mrg: MRG_RXBUF with 1024-byte buffers (two per packet);
 *       rx-64-rss-hash: RSS and HASH_REPORT, 4 pairs, RSS_CONFIG with a
 *         40-byte key and a 128-entry table over 4 queues, every packet
 *         its own flow (source port);
 *       rx-64-autosteer: MQ, 4 pairs, VQ_PAIRS_SET 4; the driver first
 *         transmits one packet of each of 64 flows (flow f on pair f % 4),
 *         the receive packets belong to those flows.
 *
 * Correctness, cheaply, so a broken path cannot pass for a fast one: the
 * k-th transmitted packet carries k (checked in every mbuf with its
 * length); every received packet carries its source mbuf's index, must
 * arrive with the right length (and num_buffers, hash and hash type where
 * they apply), in order, on the queue a model says (RSS: the indirection
 * table over vnet_toeplitz, the reference bit loop; autosteer: the pair
 * each flow was transmitted on, indexed by the device's vnet_flow_key as
 * in the unit test). Every burst must deliver all 32, the
 * driver's sim_net checks every rule of the spec on what comes back, and
 * no queue may count a drop. Exit status 1 on any failure.
 *
 * BENCH_SECONDS (default 1) per case after a 0.1 s warm-up;
 * BENCH_ONLY=<substring> runs the cases whose tag contains it; =<tag> that
 * case alone.
 * Figures, never pass/fail thresholds (DESIGN.md, "Tests and checks").
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_version.h>

#include "bench_common.h"
#include "dma.h"
#include "sim_hostmem.h"
#include "sim_net.h"
#include "sim_vq.h"
#include "virtio_dev.h"
#include "virtio_net.h"
#include "vnet_dp.h"

#define QSIZE     256
#define BURST     32
#define MAXP      4
#define N_RX      512      /* pre-built receive packets (a multiple of BURST) */
#define N_FLOWS   64       /* autosteer: flows learned from transmitted packets */
#define SEQ_OFF   54       /* Ethernet + IPv4 + TCP: the payload's first byte */
#define TX_MAX    1514     /* longest frame the driver sends */
#define MRG_BUF   1024     /* receive buffer with MRG_RXBUF */
#define MEM_IOVA  0x100000ull
#define MEM_LEN   (32ull << 20)
#define WARMUP_S  0.1
#define RSS_TABLE 128

#define NF(b) VNET_F(b)
#define GF(b) VDEV_BIT(b)

static const uint8_t OWN[6]  = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t PEER[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };
static const uint8_t OWN_IP[4]  = { 10, 0, 0, 1 };
static const uint8_t PEER_IP[4] = { 10, 0, 0, 2 };

enum kind { K_TX, K_RX, K_RSS, K_AUTO };

struct bcase {
	const char *tag;
	enum kind kind;
	uint32_t pkt;   /* frame bytes, without the virtio-net header */
	bool packed, mrg;
};

static const struct bcase cases[] = {
	{ "tx-64", K_TX, 64, false, false },
	{ "tx-1500", K_TX, 1500, false, false },
	{ "packed-tx-64", K_TX, 64, true, false },
	{ "rx-64", K_RX, 64, false, false },
	{ "rx-1500", K_RX, 1500, false, false },
	{ "rx-1500-mrg", K_RX, 1500, false, true },
	{ "packed-rx-64", K_RX, 64, true, false },
	{ "rx-64-rss-hash", K_RSS, 64, false, false },
	{ "rx-64-autosteer", K_AUTO, 64, false, false },
};

struct bench {
	const struct bcase *bc;
	struct sim_hostmem mem;
	struct dma_space *dma;
	struct vnet_dev n;
	bool have_dev;
	struct vnet_dp_conf *conf;
	bool conf_failed;
	struct vnet_steer steer;
	struct vnet_mbuf_ops mops;
	struct vnet_dp_queue dq[2 * MAXP];
	struct sim_net_rxq rx[MAXP];
	struct sim_net_txq tx[MAXP];
	struct sim_vq ctl;
	bool have_ctl;
	unsigned npairs, nq; /* pairs brought up; data queues set up */
	uint32_t rx_buf;
	uint8_t rss_key[40];
	/* receive: the packets and where each must arrive */
	struct rte_mbuf *src[N_RX];
	uint16_t exp_q[N_RX], nxt[N_RX];
	uint32_t exp_hash[N_RX];
	int want[MAXP];       /* next index each queue must deliver, -1: none */
	/* counters */
	uint64_t cycles, pkts, seq, total;
	unsigned k;           /* next source packet */
	uint8_t frame[2048], got[2048];
};

static int fail(const char *what, int rc)
{
	fprintf(stderr, "bench_dp: %s: %s\n", what, rc ? strerror(rc < 0 ? -rc : rc) : "failed");
	return -1;
}

#define TRY(x) do { int rc_ = (x); if (rc_) return fail(#x, rc_); } while (0)
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "bench_dp: " __VA_ARGS__); \
	fputc('\n', stderr); return -1; } } while (0)

/* ---- mbufs from the mempool ----------------------------------------------- */
static int mb_alloc(void *ctx, struct rte_mbuf **m, unsigned n)
{
	return rte_pktmbuf_alloc_bulk(ctx, m, n) ? -ENOMEM : 0;
}

static void mb_free(void *ctx, struct rte_mbuf *m)
{
	(void)ctx;
	rte_pktmbuf_free(m);
}

/* ---- frames ------------------------------------------------------------------ */
static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An Ethernet + IPv4 + TCP frame of len (>= SEQ_OFF + 4) bytes with seq at
 * SEQ_OFF. */
static void mk_frame(uint8_t *f, uint32_t len, const uint8_t *dmac,
		     const uint8_t *smac, const uint8_t *sip, const uint8_t *dip,
		     uint16_t sport, uint16_t dport, uint32_t seq)
{
	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	put16(f + 12, 0x0800);
	memset(f + 14, 0, 40);
	f[14] = 0x45;
	put16(f + 16, (uint16_t)(len - 14));
	f[22] = 64;
	f[23] = 6;
	memcpy(f + 26, sip, 4);
	memcpy(f + 30, dip, 4);
	put16(f + 34, sport);
	put16(f + 36, dport);
	f[46] = 5 << 4;
	f[47] = 0x10; /* ACK */
	for (uint32_t i = SEQ_OFF; i < len; i++)
		f[i] = (uint8_t)(i * 13);
	memcpy(f + SEQ_OFF, &seq, sizeof(seq));
}

static uint32_t seq_of(const uint8_t *f)
{
	uint32_t v;

	memcpy(&v, f + SEQ_OFF, sizeof(v));
	return v;
}

/* ---- the device and the driver --------------------------------------------- */
static void rebuild_conf(struct vnet_dev *n)
{
	struct bench *b = n->hooks_ctx;

	vnet_dp_conf_free(b->conf);
	b->conf = vnet_dp_conf_new(n);
	if (!b->conf)
		b->conf_failed = true;
}

static void h_apply(struct vnet_dev *n, unsigned what)
{
	(void)what;
	rebuild_conf(n);
}

static const struct vnet_hooks hooks = { .apply = h_apply, .start = rebuild_conf };

/* The driver's initialisation sequence (virtio 1.3, 3.1.1) with the
 * features of `want` the device offers; every data queue set up. */
static int drv_up(struct bench *b, uint64_t want)
{
	struct vdev *d = &b->n.vdev;
	uint64_t f;
	uint32_t rflags;
	const uint8_t S = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	TRY(vdev_set_status(d, 0));
	TRY(vdev_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE));
	TRY(vdev_set_status(d, S));
	f = want & d->device_features;
	CHECK(f == want, "device does not offer %#" PRIx64, want & ~f);
	TRY(vdev_set_driver_features(d, f));
	TRY(vdev_set_status(d, S | VIRTIO_STATUS_FEATURES_OK));
	CHECK(vdev_get_status(d) & VIRTIO_STATUS_FEATURES_OK, "FEATURES_OK refused");
	rflags = vdev_ring_flags(d);

	int ci = vnet_ctrl_queue_index(&b->n);
	CHECK(ci >= 2 && ci <= 2 * MAXP, "control queue index %d", ci);
	b->npairs = (unsigned)ci / 2;
	uint32_t hl = (uint32_t)vnet_hdr_len(f);
	b->rx_buf = (f & NF(VIRTIO_NET_F_MRG_RXBUF)) ? MRG_BUF : 1514 + hl + 8;
	for (unsigned i = 0; i < b->npairs; i++) {
		TRY(sim_net_rxq_init(&b->rx[i], &b->mem, QSIZE, rflags, f, b->rx_buf, 0, false));
		TRY(sim_net_txq_init(&b->tx[i], &b->mem, QSIZE, rflags, f, TX_MAX, false, i + 1));
		const struct sim_vq *v[2] = { &b->rx[i].vq, &b->tx[i].vq };
		for (unsigned k = 0; k < 2; k++) {
			uint16_t qi = (uint16_t)(2 * i + k);
			TRY(vdev_queue_set_size(d, qi, QSIZE));
			TRY(vdev_queue_set_addr(d, qi, v[k]->desc_iova, v[k]->avail_iova,
						v[k]->used_iova));
			TRY(vdev_queue_set_vector(d, qi, qi));
			TRY(vdev_queue_enable(d, qi));
			/* Polling: interrupts are decided, none raised. */
			TRY(vnet_dp_queue_init(&b->dq[qi], &b->n, qi, &b->steer, &b->mops,
					       NULL, NULL));
			b->nq = qi + 1u;
		}
	}
	TRY(sim_vq_init(&b->ctl, &b->mem, 64, rflags, 0));
	b->have_ctl = true;
	TRY(vdev_queue_set_size(d, (uint16_t)ci, 64));
	TRY(vdev_queue_set_addr(d, (uint16_t)ci, b->ctl.desc_iova, b->ctl.avail_iova,
				b->ctl.used_iova));
	TRY(vdev_queue_enable(d, (uint16_t)ci));
	TRY(vdev_set_status(d, S | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK));
	CHECK(vdev_get_status(d) & VIRTIO_STATUS_DRIVER_OK, "DRIVER_OK refused");
	CHECK(b->conf && !b->conf_failed, "no datapath configuration");
	for (unsigned i = 0; i < b->npairs; i++)
		sim_net_rx_fill(&b->rx[i]);
	return 0;
}

/* One control command, answered VIRTIO_NET_OK. */
static int ctrl(struct bench *b, uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
	uint8_t buf[2048], ack = VIRTIO_NET_ERR;
	uint64_t out_iova, in_iova;
	struct sim_buf out, in;
	uint32_t used;
	bool bad;

	CHECK(len + 2 <= sizeof(buf), "command too long");
	buf[0] = cls;
	buf[1] = cmd;
	memcpy(buf + 2, data, len);
	TRY(sim_hostmem_alloc(&b->mem, len + 2, 8, &out_iova));
	TRY(sim_hostmem_alloc(&b->mem, 1, 8, &in_iova));
	TRY(sim_hostmem_write(&b->mem, out_iova, buf, len + 2));
	out = (struct sim_buf){ out_iova, len + 2 };
	in = (struct sim_buf){ in_iova, 1 };
	TRY(sim_vq_add(&b->ctl, &out, 1, &in, 1, b, false));
	sim_vq_publish(&b->ctl);
	CHECK(vnet_ctrl_process(&b->n) == 1, "control queue");
	CHECK(sim_vq_get_used(&b->ctl, &used, &bad) == b && used == 1, "control used entry");
	TRY(sim_hostmem_read(&b->mem, in_iova, &ack, 1));
	CHECK(ack == VIRTIO_NET_OK && !b->conf_failed, "command %u/%u refused", cls, cmd);
	return 0;
}

/* RSS_CONFIG: TCP/UDP/IP over IPv4 and IPv6, the table spreading over
 * MAXP queues, a 40-byte key. */
static int rss_config(struct bench *b)
{
	uint8_t p[8 + 2 * RSS_TABLE + 3 + 40];
	uint32_t types = VIRTIO_NET_RSS_HASH_TYPE_IPv4 | VIRTIO_NET_RSS_HASH_TYPE_TCPv4 |
			 VIRTIO_NET_RSS_HASH_TYPE_UDPv4 | VIRTIO_NET_RSS_HASH_TYPE_IPv6 |
			 VIRTIO_NET_RSS_HASH_TYPE_TCPv6 | VIRTIO_NET_RSS_HASH_TYPE_UDPv6;
	size_t o = 0;

	for (int i = 0; i < 4; i++)
		p[o++] = (uint8_t)(types >> (8 * i));
	p[o++] = (RSS_TABLE - 1) & 0xff;
	p[o++] = (RSS_TABLE - 1) >> 8;
	p[o++] = 0; /* unclassified_queue */
	p[o++] = 0;
	for (unsigned i = 0; i < RSS_TABLE; i++) {
		p[o++] = (uint8_t)(i % MAXP);
		p[o++] = 0;
	}
	p[o++] = MAXP; /* max_tx_vq */
	p[o++] = 0;
	p[o++] = sizeof(b->rss_key);
	for (unsigned i = 0; i < sizeof(b->rss_key); i++)
		b->rss_key[i] = (uint8_t)(0x6d + 37 * i);
	memcpy(p + o, b->rss_key, sizeof(b->rss_key));
	o += sizeof(b->rss_key);
	return ctrl(b, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, p, (uint32_t)o);
}

static void teardown(struct bench *b)
{
	for (unsigned i = 0; i < b->nq; i++)
		vnet_dp_queue_fini(&b->dq[i]);
	for (unsigned i = 0; i < b->npairs; i++) {
		sim_net_rxq_fini(&b->rx[i]);
		sim_net_txq_fini(&b->tx[i]);
	}
	if (b->have_ctl)
		sim_vq_fini(&b->ctl);
	if (b->have_dev)
		vnet_fini(&b->n);
	vnet_dp_conf_free(b->conf);
	for (unsigned i = 0; i < N_RX; i++)
		rte_pktmbuf_free(b->src[i]); /* NULL is fine */
	if (b->dma)
		dma_space_destroy(b->dma);
	sim_hostmem_free(&b->mem);
}

/* ---- transmit ------------------------------------------------------------------ */

/* Send n copies of b->frame (its sequence number patched in) on pair p;
 * 0 once the device took them all (timed when `timed`), the packets were
 * checked and the driver reclaimed its chains. */
static int tx_round(struct bench *b, unsigned p, unsigned n, bool timed)
{
	static const struct vnet_hdr_hash hdr; /* nothing asked */
	struct rte_mbuf *m[BURST];
	uint32_t len = b->bc->pkt;
	uint64_t seq0 = b->seq;
	unsigned got;
	int rc;

	for (unsigned i = 0; i < n; i++) {
		uint32_t s = (uint32_t)b->seq++;

		memcpy(b->frame + SEQ_OFF, &s, sizeof(s));
		TRY(sim_net_send(&b->tx[p], &hdr, b->frame, len, SIM_NET_HDR_INLINE));
	}
	sim_net_tx_flush(&b->tx[p]);
	uint64_t t0 = rte_rdtsc();
	got = vnet_dp_tx_burst(&b->dq[2 * p + 1], b->conf, m, n);
	uint64_t t1 = rte_rdtsc();
	if (timed) {
		b->cycles += t1 - t0;
		b->pkts += got;
	}
	b->total += got;
	for (unsigned i = 0; i < got; i++) {
		const struct rte_mbuf *x = m[i];
		if (x->pkt_len != len || x->data_len != len || x->nb_segs != 1 ||
		    seq_of(rte_pktmbuf_mtod(x, const uint8_t *)) != (uint32_t)(seq0 + i)) {
			rte_pktmbuf_free_bulk(m, got);
			CHECK(false, "transmit: packet %" PRIu64 " is not what was sent", seq0 + i);
		}
	}
	rte_pktmbuf_free_bulk(m, got);
	CHECK(got == n, "transmit: %u of %u packets", got, n);
	rc = sim_net_tx_reclaim(&b->tx[p]);
	CHECK(rc == (int)n, "transmit: driver reclaimed %d of %u (%s)", rc, n,
	      b->tx[p].why ? b->tx[p].why : "-");
	return 0;
}

/* ---- receive -------------------------------------------------------------------- */

/* The packets, and where each must land. */
static int rx_prepare(struct bench *b, struct rte_mempool *pool)
{
	const struct bcase *bc = b->bc;
	uint16_t learned[VNET_STEER_FLOWS] = { 0 };
	int last[MAXP];

	if (bc->kind == K_AUTO) {
		/* The driver talks on each flow first: flow f from pair f % MAXP. */
		for (unsigned f = 0; f < N_FLOWS; f++) {
			uint32_t key;
			mk_frame(b->frame, bc->pkt, PEER, OWN, OWN_IP, PEER_IP, 80,
				 (uint16_t)(1024 + f), 0);
			CHECK(vnet_flow_key(b->frame, bc->pkt, &key), "no flow key");
			if (tx_round(b, f % MAXP, 1, false))
				return -1;
			learned[key % VNET_STEER_FLOWS] = (uint16_t)(f % MAXP + 1);
		}
		b->total = 0; /* receive cases count what the receive queues do */
	}
	for (unsigned i = 0; i < N_RX; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
		uint16_t sport = (uint16_t)(1024 + (bc->kind == K_AUTO ? i % N_FLOWS : i));
		uint8_t *p;

		CHECK(m, "mbuf allocation");
		b->src[i] = m;
		p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)bc->pkt);
		CHECK(p, "mbuf too small");
		mk_frame(p, bc->pkt, OWN, PEER, PEER_IP, OWN_IP, sport, 80, i);
		b->exp_q[i] = 0;
		if (bc->kind == K_RSS) {
			/* The reference Toeplitz over src, dst, sport, dport. */
			uint8_t in[12];
			memcpy(in, p + 26, 8);
			memcpy(in + 8, p + 34, 4);
			b->exp_hash[i] = vnet_toeplitz(b->rss_key, sizeof(b->rss_key), in, 12);
			b->exp_q[i] = (uint16_t)((b->exp_hash[i] & (RSS_TABLE - 1)) % MAXP);
		} else if (bc->kind == K_AUTO) {
			uint32_t key;
			CHECK(vnet_flow_key(p, bc->pkt, &key), "no flow key");
			uint16_t e = learned[key % VNET_STEER_FLOWS];
			b->exp_q[i] = (uint16_t)(e ? e - 1u : key % MAXP);
		}
	}
	/* Each queue delivers its packets in the order they were handed over. */
	for (unsigned q = 0; q < MAXP; q++)
		b->want[q] = last[q] = -1;
	for (unsigned r = 0; r < 2; r++)
		for (unsigned i = 0; i < N_RX; i++) {
			unsigned q = b->exp_q[i];
			if (last[q] >= 0)
				b->nxt[last[q]] = (uint16_t)i;
			else
				b->want[q] = (int)i;
			last[q] = (int)i;
		}
	return 0;
}

static int rx_round(struct bench *b, bool timed)
{
	struct rte_mbuf **pk = &b->src[b->k];
	struct rte_mbuf *sel[MAXP][BURST];
	struct vnet_rx_meta meta[BURST], sm[MAXP][BURST];
	unsigned cnt[MAXP] = { 0 }, got = 0, stray = 0, recvd = 0;
	const struct vnet_dp_conf *c = b->conf;
	bool mrg = c->features & NF(VIRTIO_NET_F_MRG_RXBUF);
	uint32_t len = b->bc->pkt;

	b->k = (b->k + BURST) % N_RX;
	uint64_t t0 = rte_rdtsc();
	vnet_dp_rx_classify(c, &b->steer, pk, BURST, meta);
	for (unsigned i = 0; i < BURST; i++) {
		unsigned q = meta[i].queue;
		if (q >= b->npairs) {
			stray++;
			continue;
		}
		sel[q][cnt[q]] = pk[i];
		sm[q][cnt[q]++] = meta[i];
	}
	for (unsigned q = 0; q < b->npairs; q++)
		if (cnt[q])
			got += vnet_dp_rx_burst(&b->dq[2 * q], c, sel[q], sm[q], cnt[q]);
	uint64_t t1 = rte_rdtsc();
	if (timed) {
		b->cycles += t1 - t0;
		b->pkts += got;
	}
	b->total += got;
	CHECK(!stray, "receive: %u packets classified beyond the queues", stray);
	CHECK(got == BURST, "receive: %u of %u packets delivered", got, BURST);

	for (unsigned q = 0; q < b->npairs; q++) {
		struct sim_net_rxq *rq = &b->rx[q];
		struct vnet_hdr_hash h;
		uint32_t l;
		int rc;

		while ((rc = sim_net_recv(rq, &h, b->got, sizeof(b->got), &l)) == 1) {
			uint32_t s = seq_of(b->got);
			recvd++;
			CHECK(l == len && s < N_RX && (int)s == b->want[q],
			      "receive: queue %u: packet %u (len %u), expected %d", q, s, l,
			      b->want[q]);
			b->want[q] = b->nxt[s];
			CHECK(!mrg || vle16_to_cpu(h.hdr.num_buffers) ==
				      (c->hdr_len + len + b->rx_buf - 1) / b->rx_buf,
			      "receive: num_buffers %u", vle16_to_cpu(h.hdr.num_buffers));
			if (c->hash_report)
				CHECK(vle16_to_cpu(h.hash_report) == VIRTIO_NET_HASH_REPORT_TCPv4 &&
				      vle32_to_cpu(h.hash_value) == b->exp_hash[s],
				      "receive: packet %u: hash %#x type %u, expected %#x TCPv4",
				      s, vle32_to_cpu(h.hash_value), vle16_to_cpu(h.hash_report),
				      b->exp_hash[s]);
		}
		CHECK(rc == 0, "receive: queue %u: %s (%s)", q, strerror(-rc),
		      rq->why ? rq->why : "-");
		sim_net_rx_fill(rq);
	}
	CHECK(recvd == BURST, "receive: driver got %u of %u", recvd, BURST);
	return 0;
}

/* ---- one case --------------------------------------------------------------------- */
struct result {
	uint64_t pkts, drops;
	double ns, share; /* device ns per packet; % of wall time the thread ran */
	double tsc_err;   /* rte_get_tsc_hz against CLOCK_MONOTONIC, % */
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int round_once(struct bench *b, bool timed)
{
	if (b->bc->kind == K_TX)
		return tx_round(b, 0, BURST, timed);
	return rx_round(b, timed);
}

static int run_case(struct bench *b, struct rte_mempool *pool, double seconds,
		    struct result *res)
{
	const struct bcase *bc = b->bc;
	struct vnet_params p;
	uint64_t want = GF(VIRTIO_F_VERSION_1) | GF(VIRTIO_F_EVENT_IDX) |
			NF(VIRTIO_NET_F_MAC) | NF(VIRTIO_NET_F_STATUS) |
			NF(VIRTIO_NET_F_CTRL_VQ) | NF(VIRTIO_NET_F_CTRL_RX);

	want |= bc->packed ? GF(VIRTIO_F_RING_PACKED) : 0;
	want |= bc->mrg ? NF(VIRTIO_NET_F_MRG_RXBUF) : 0;
	want |= bc->kind == K_RSS ? NF(VIRTIO_NET_F_MQ) | NF(VIRTIO_NET_F_RSS) |
				    NF(VIRTIO_NET_F_HASH_REPORT) : 0;
	want |= bc->kind == K_AUTO ? NF(VIRTIO_NET_F_MQ) : 0;

	sim_hostmem_init(&b->mem);
	TRY(sim_hostmem_add(&b->mem, MEM_IOVA, MEM_LEN));
	b->dma = dma_space_create(NULL); /* nothing remaps while we run */
	CHECK(b->dma, "dma_space_create");
	TRY(sim_hostmem_map(&b->mem, b->dma, DMA_PROT_READ | DMA_PROT_WRITE));
	vnet_params_default(&p);
	memcpy(p.mac, OWN, 6);
	p.features |= NF(VIRTIO_NET_F_MQ) | NF(VIRTIO_NET_F_MRG_RXBUF) |
		      NF(VIRTIO_NET_F_RSS) | NF(VIRTIO_NET_F_HASH_REPORT);
	p.max_queue_pairs = MAXP;
	p.max_queue_size = QSIZE;
	p.rss_max_table_len = RSS_TABLE;
	p.hash_types = VNET_RSS_HASH_TYPES_ALL;
	TRY(vnet_init(&b->n, &p, b->dma, "bench"));
	b->have_dev = true;
	vnet_set_hooks(&b->n, &hooks, b);
	b->mops = (struct vnet_mbuf_ops){ mb_alloc, mb_free, pool };
	if (drv_up(b, want))
		return -1;
	if (bc->kind == K_RSS && rss_config(b))
		return -1;
	if (bc->kind == K_AUTO) {
		uint8_t v[2] = { MAXP, 0 };
		if (ctrl(b, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, v, 2))
			return -1;
		CHECK(b->conf->steer_auto, "automatic steering off");
	}
	CHECK(b->npairs == (bc->kind == K_RSS || bc->kind == K_AUTO ? MAXP : 1u),
	      "%u pairs", b->npairs);
	if (bc->kind == K_TX)
		mk_frame(b->frame, bc->pkt, PEER, OWN, OWN_IP, PEER_IP, 80, 1024, 0);
	else if (rx_prepare(b, pool))
		return -1;

	uint64_t hz = rte_get_tsc_hz(), now = rte_rdtsc();
	uint64_t end = now + (uint64_t)(WARMUP_S * (double)hz);
	while (rte_rdtsc() < end)
		if (round_once(b, false))
			return -1;
	uint64_t base = b->total; /* everything before the window */
	uint64_t w0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	uint64_t s0 = rte_rdtsc();
	end = s0 + (uint64_t)(seconds * (double)hz);
	while ((now = rte_rdtsc()) < end)
		if (round_once(b, true))
			return -1;
	uint64_t w1 = clock_ns(CLOCK_MONOTONIC), c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	res->tsc_err = 100.0 * ((double)(now - s0) * 1e9 / (double)(w1 - w0) / (double)hz - 1);

	/* The device's own counters agree, and nothing was dropped. */
	uint64_t counted = 0;
	res->drops = 0;
	for (unsigned q = 0; q < b->nq; q++) {
		const struct vnet_queue_stats *s = &b->n.qstats[q];
		if ((q & 1) == (bc->kind == K_TX))
			counted += s->packets;
		for (unsigned d = 0; d < VNET_DROP__COUNT; d++)
			res->drops += s->drops[d];
	}
	CHECK(counted == b->total && b->pkts == b->total - base,
	      "device counted %" PRIu64 " packets, %" PRIu64 " went through", counted,
	      b->total);
	res->pkts = b->pkts;
	res->ns = b->pkts ? (double)b->cycles * 1e9 / (double)hz / (double)b->pkts : 0;
	res->share = w1 > w0 ? 100.0 * (double)(c1 - c0) / (double)(w1 - w0) : 0;
	return 0;
}

/* ---- main ------------------------------------------------------------------------ */
static void print_machine(int argc, char **argv, double seconds)
{
	bench_print_header(argc, argv);
	printf("# one thread (lcore 0), driver and device alternating; device calls"
	       " timed with rte_rdtsc (TSC %.3f GHz);\n# queue %d, burst %d, EVENT_IDX;"
	       " %.1f s per case after %.1f s warm-up; pkt: frame bytes without the"
	       " virtio-net header;\n# ns/pkt: device cycles per packet delivered; Mpps:"
	       " 1000 / ns/pkt (device only, driver excluded)\n",
	       (double)rte_get_tsc_hz() / 1e9, QSIZE, BURST, seconds, WARMUP_S);
}

int main(int argc, char **argv)
{
	double seconds = 1.0;
	unsigned shared = 0;
	char prefix[64];
	int status = 0;

	if (bench_seconds_env("bench_dp", &seconds))
		return 1;
	snprintf(prefix, sizeof(prefix), "virtnet-bench-dp-%d", (int)getpid());
	char *eal_argv[] = {
		argv[0], "-l", "0", "--no-huge", "--no-pci", "--no-shconf",
		"--file-prefix", prefix, "--log-level=error", "-m", "256",
		"--no-telemetry", NULL,
	};
	if (rte_eal_init((int)(sizeof(eal_argv) / sizeof(eal_argv[0])) - 1, eal_argv) < 0) {
		fprintf(stderr, "bench_dp: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	char rundir[PATH_MAX];
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	struct rte_mempool *pool = rte_pktmbuf_pool_create(
		"bench_dp", 4095, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!pool) {
		fprintf(stderr, "bench_dp: mempool: %s\n", rte_strerror(rte_errno));
		status = 1;
		goto out;
	}

	print_machine(argc, argv, seconds);
	printf("%-16s %5s %-6s %5s %10s %8s %8s %6s\n", "case", "pkt", "ring",
	       "pairs", "packets", "ns/pkt", "Mpps", "drops");
	fflush(stdout);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bcase *bc = &cases[i];
		struct result r = { 0 };
		struct bench *b;
		int rc;

		if (!bench_only(bc->tag))
			continue;
		b = calloc(1, sizeof(*b));
		if (!b) {
			status = 1;
			break;
		}
		b->bc = bc;
		rc = run_case(b, pool, seconds, &r);
		unsigned pairs = b->npairs;
		teardown(b);
		free(b);
		if (rc) {
			fprintf(stderr, "bench_dp: %s: FAILED\n", bc->tag);
			status = 1;
			continue;
		}
		printf("%-16s %5u %-6s %5u %10" PRIu64 " %8.1f %8.2f %6" PRIu64 "\n",
		       bc->tag, bc->pkt, bc->packed ? "packed" : "split", pairs, r.pkts,
		       r.ns, r.ns > 0 ? 1000.0 / r.ns : 0, r.drops);
		fflush(stdout);
		if (r.drops)
			status = 1;
		if (r.share < 95)
			shared++;
		if (r.tsc_err > 1 || r.tsc_err < -1)
			printf("# warning: %s: the TSC ran %+.1f%% off rte_get_tsc_hz():"
			       " ns figures are off as much\n", bc->tag, r.tsc_err);
	}
	if (shared)
		printf("# warning: in %u case(s) the thread got less than 95%% of its"
		       " CPU: other processes ran there; those figures are high\n", shared);
	if (pool && rte_mempool_avail_count(pool) != pool->size) {
		fprintf(stderr, "bench_dp: %u mbufs not returned to the pool\n",
			pool->size - rte_mempool_avail_count(pool));
		status = 1;
	}
	rte_mempool_free(pool);
out:
	rte_eal_cleanup();
	rmdir(rundir); /* EAL leaves its (empty) runtime directory behind */
	return status;
}
