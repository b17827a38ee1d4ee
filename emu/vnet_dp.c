/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtio-net packet path: transmit chains to mbufs, mbufs to receive
 * buffers, receive steering. See vnet_dp.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mbuf.h>

#include "hal_log.h"
#include "vnet_dp.h"

#define COMP "vnet_dp"

#define F(b) VNET_F(b)

/* ---- the lcores' view of a device ------------------------------------------ */
struct vnet_dp_conf *vnet_dp_conf_alloc(uint16_t max_pairs)
{
	size_t words = (max_pairs + 63u) / 64;
	struct vnet_dp_conf *c;

	if (!max_pairs)
		return NULL;
	c = calloc(1, sizeof(*c) + words * sizeof(uint64_t));
	if (!c)
		return NULL;
	c->max_pairs = max_pairs;
	c->pairs = 1;
	c->coal = calloc(2u * max_pairs, sizeof(*c->coal));
	if (!c->coal) {
		free(c);
		return NULL;
	}
	return c;
}

struct vnet_dp_conf *vnet_dp_conf_new(const struct vnet_dev *n)
{
	uint64_t f = vdev_features(&n->vdev);
	bool mq = f & (F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_RSS));
	uint16_t max_pairs = mq ? n->p.max_queue_pairs : 1;
	struct vnet_dp_conf *c = vnet_dp_conf_alloc(max_pairs);

	if (!c)
		return NULL;
	c->features = f;
	c->rx_features = (f & ~VNET_GUEST_OFFLOADS) | (n->guest_offloads & f);
	c->hdr_len = (uint32_t)vnet_hdr_len(f);
	c->max_frame = (f & F(VIRTIO_NET_F_MTU)) ? n->p.mtu + 14u : 0;
	c->pairs = n->curr_pairs <= max_pairs ? n->curr_pairs : max_pairs;
	c->link_up = n->status & VIRTIO_NET_S_LINK_UP;
	c->hash_report = f & F(VIRTIO_NET_F_HASH_REPORT);
	bool rss_on = n->rss && n->rss->enabled && (f & F(VIRTIO_NET_F_RSS));
	c->steer_auto = (f & F(VIRTIO_NET_F_MQ)) && c->pairs > 1 && !rss_on;
	c->filter = n->filter;
	memcpy(c->coal, n->vq_coal, 2u * max_pairs * sizeof(*c->coal));
	if (n->rss && (rss_on || c->hash_report)) {
		c->rss_copy = malloc(sizeof(*c->rss_copy));
		if (!c->rss_copy) {
			vnet_dp_conf_free(c);
			return NULL;
		}
		memcpy(c->rss_copy, n->rss, sizeof(*c->rss_copy));
		c->rss = c->rss_copy;
	}
	for (uint16_t q = 0; q < max_pairs && !n->vdev.resetting; q++) {
		const struct vdev_queue *vq = &n->vdev.q[2u * q];
		if (vq->enabled && !vq->resetting)
			c->rxq_ok[q / 64] |= 1ull << (q % 64);
	}
	return c;
}

void vnet_dp_conf_free(struct vnet_dp_conf *c)
{
	if (!c)
		return;
	if (c->rss_copy) {
		/* The key is the driver's secret as much as anything is. */
		memset(c->rss_copy->key, 0, sizeof(c->rss_copy->key));
		free(c->rss_copy);
	}
	free(c->coal);
	free(c);
}

/* ---- queues ------------------------------------------------------------------- */
int vnet_dp_queue_setup(struct vnet_dp_queue *q, struct vq *vq,
			struct vnet_queue_stats *stats, uint16_t index,
			uint16_t max_size, struct vnet_steer *steer,
			const struct vnet_mbuf_ops *mops,
			void (*irq)(void *ctx, uint16_t index), void *irq_ctx)
{
	memset(q, 0, sizeof(*q));
	if (!stats || !max_size || max_size > VQ_MAX_SIZE)
		return -EINVAL;
	if ((index & 1) && (!mops || !mops->alloc || !mops->free))
		return -EINVAL; /* transmit makes mbufs */
	q->vq = vq;
	q->stats = stats;
	q->steer = steer;
	q->index = index;
	q->pair = index / 2;
	if (mops)
		q->mops = *mops;
	q->irq = irq;
	q->irq_ctx = irq_ctx;
	q->pick.can = dma_release_supported();
	/* Never more chains in flight than the queue holds; a burst pops into
	 * what is left of segs, which must hold any legal chain (the queue
	 * size) after the chains kept from the last burst. */
	q->nchains_cap = max_size;
	q->nsegs_cap = 4u * max_size;
	q->chains = calloc(q->nchains_cap, sizeof(*q->chains));
	q->segs = calloc(q->nsegs_cap, sizeof(*q->segs));
	q->done = calloc(max_size, sizeof(*q->done));
	if (!q->chains || !q->segs || !q->done) {
		vnet_dp_queue_fini(q);
		return -ENOMEM;
	}
	return 0;
}

int vnet_dp_queue_init(struct vnet_dp_queue *q, struct vnet_dev *n,
		       uint16_t index, struct vnet_steer *steer,
		       const struct vnet_mbuf_ops *mops,
		       void (*irq)(void *ctx, uint16_t index), void *irq_ctx)
{
	memset(q, 0, sizeof(*q));
	if (!n->vdev.q || index >= 2u * n->p.max_queue_pairs)
		return -EINVAL;
	return vnet_dp_queue_setup(q, &n->vdev.q[index].vq, &n->qstats[index],
				   index, n->p.max_queue_size, steer, mops, irq,
				   irq_ctx);
}

void vnet_dp_queue_fini(struct vnet_dp_queue *q)
{
	for (unsigned i = 0; i < q->nspare; i++)
		q->mops.free(q->mops.ctx, q->spare[i]);
	free(q->chains);
	free(q->segs);
	free(q->done);
	memset(q, 0, sizeof(*q));
}

void vnet_dp_queue_reset(struct vnet_dp_queue *q)
{
	q->nstash = 0;
	q->irq_owed = q->coal_timing = false;
	q->coal_pending = 0;
}

static inline void drop(struct vnet_dp_queue *q, enum vnet_drop why)
{
	q->stats->drops[why]++;
}

static void irq_raise(struct vnet_dp_queue *q)
{
	q->irq_owed = q->coal_timing = false;
	q->coal_pending = 0;
	q->stats->interrupts++;
	if (q->irq)
		q->irq(q->irq_ctx, q->index);
}

static inline const struct vnet_coal *coal_of(const struct vnet_dp_queue *q,
					      const struct vnet_dp_conf *c)
{
	const struct vnet_coal *co = &c->coal[q->index];

	/* "max_usecs = 0 or max_packets = 0: the notification conditions
	 * are met after every packet". */
	return co->max_packets && co->max_usecs ? co : NULL;
}

/* After a burst completed `pkts` packets: interrupt when the driver
 * wants one and coalescing does not hold it back. */
static void notify(struct vnet_dp_queue *q, const struct vnet_dp_conf *c,
		   unsigned pkts)
{
	const struct vnet_coal *co;

	/* The decision is taken (and, with EVENT_IDX, recorded) now even
	 * when the interrupt is held: it is owed until raised. */
	q->irq_owed |= vq_should_notify(q->vq);
	co = coal_of(q, c);
	if (co) {
		q->coal_pending += pkts;
		if (q->coal_pending < co->max_packets)
			return; /* the count or the clock (coal_tick) raises it */
	}
	if (q->irq_owed)
		irq_raise(q);
	else
		q->coal_pending = 0;
}

/* Complete what the burst used (n chains, `pkts` packets), then notify.
 * false: the completion was refused (nothing notified). */
static bool complete(struct vnet_dp_queue *q, const struct vnet_dp_conf *c,
		     unsigned n, unsigned pkts, bool batch)
{
	if (!n)
		return true;
	if (vq_push_burst(q->vq, q->done, n, batch)) {
		/* Our own bookkeeping is wrong, not the driver's ring. */
		HAL_LOG_RL(HAL_LOG_ERR, COMP, "%s: queue %u: completion refused",
			   q->vq->name, q->index);
		return false;
	}
	notify(q, c, pkts);
	return true;
}

void vnet_dp_coal_tick(struct vnet_dp_queue *q, const struct vnet_dp_conf *c,
		       uint64_t now_us)
{
	const struct vnet_coal *co;

	if (!q->irq_owed)
		return;
	co = coal_of(q, c);
	if (!co || q->coal_pending >= co->max_packets) {
		irq_raise(q); /* the parameters changed under a held one */
		return;
	}
	if (!q->coal_timing) {
		q->coal_timing = true;
		q->coal_since = now_us;
	} else if (now_us - q->coal_since >= co->max_usecs) {
		irq_raise(q);
	}
}

/* ---- release of what transmit reads (see vnet_dp.h) ------------------------- */

/* Which of a block's phases run the other choice: the middle two of its
 * last four (choice, other, other, choice), so that a load rising or
 * falling steadily across the trials favours neither. */
static inline bool pick_other(uint64_t slot)
{
	return slot == VNET_PICK_BLOCK - 3 || slot == VNET_PICK_BLOCK - 2;
}

void vnet_dp_release_tick(struct vnet_dp_queue *q, uint64_t now_us)
{
	uint64_t ph = now_us >> VNET_PICK_SHIFT, slot = q->pick.phase % VNET_PICK_BLOCK;

	if (likely(ph == q->pick.phase))
		return;
	if (!q->pick.can) {
		/* The choice stays off; the phase moves on all the same, or
		 * every loop would come this far. */
		q->pick.phase = ph;
		return;
	}
	if (slot >= VNET_PICK_BLOCK - 4) {
		/* A trial phase ended; one cut short by a gap (the lcore
		 * slept) spoils the block's trials. */
		if (ph == q->pick.phase + 1) {
			q->pick.n[pick_other(slot)] += q->stats->packets - q->pick.base;
			q->pick.trials++;
		}
		if (slot == VNET_PICK_BLOCK - 1 || ph != q->pick.phase + 1) {
			if (q->pick.trials == 4 && q->pick.n[1] >= VNET_PICK_MIN &&
			    q->pick.n[1] > q->pick.n[0] + q->pick.n[0] / 16)
				q->pick.on = !q->pick.on;
			q->pick.n[0] = q->pick.n[1] = 0;
			q->pick.trials = 0;
		}
	}
	q->pick.phase = ph;
	q->pick.base = q->stats->packets;
	slot = ph % VNET_PICK_BLOCK;
	q->release = pick_other(slot) ? !q->pick.on : q->pick.on;
}

/* Release the frames (the bytes after the header) of n buffers taken the
 * short way, or of the first n chains popped, once copied. */
static void release_bufs(struct vnet_dp_queue *q, const struct vq_buf *b, unsigned n,
			 uint32_t hdr_len)
{
	for (unsigned i = 0; i < n; i++)
		if (b[i].len > hdr_len)
			dma_release(b[i].va + hdr_len, b[i].len - hdr_len);
	q->stats->released += n;
}

static void release_chains(struct vnet_dp_queue *q, unsigned n, uint32_t hdr_len)
{
	for (unsigned i = 0; i < n; i++) {
		const struct vq_chain *ch = &q->chains[i];
		uint32_t off = 0;

		for (unsigned k = 0; k < ch->nread; k++) {
			const struct vq_seg *g = &ch->seg[k];
			uint32_t skip = off < hdr_len ? hdr_len - off : 0;

			if (g->va && g->len > skip)
				dma_release((const uint8_t *)g->va + skip, g->len - skip);
			off += g->len;
		}
	}
	q->stats->released += n;
}

/* ---- transmit ------------------------------------------------------------------ */

/* Take one empty mbuf: the spares first, then the caller's allocator. */
static struct rte_mbuf *mbuf_get(struct vnet_dp_queue *q)
{
	struct rte_mbuf *m;

	if (q->nspare)
		return q->spare[--q->nspare];
	if (q->mops.alloc(q->mops.ctx, &m, 1))
		return NULL;
	return m;
}

/* Copy the frame (the readable bytes after the header: of the chain, or
 * of the one mapped buffer `flat`) into a new mbuf chain. NULL when out
 * of mbufs or when the driver's memory could not be read (*why says
 * which). */
static inline __attribute__((always_inline)) struct rte_mbuf *
tx_copy(struct vnet_dp_queue *q, const struct vq_chain *ch, const uint8_t *flat,
	uint32_t off, uint32_t len, enum vnet_drop *why)
{
	struct rte_mbuf *m = mbuf_get(q), *last = m;
	uint32_t done = 0;

	*why = VNET_DROP_NO_BUFFER;
	if (!m)
		return NULL;
	for (;;) {
		uint32_t room = rte_pktmbuf_tailroom(last);
		uint32_t cnt = len - done < room ? len - done : room;
		uint8_t *dst = rte_pktmbuf_mtod(last, uint8_t *);

		if (!room)
			goto fail; /* an allocator handing out full mbufs */
		if (flat)
			memcpy(dst, flat + off + done, cnt);
		else if (vq_chain_read(q->vq, ch, off + done, dst, cnt) != cnt) {
			*why = VNET_DROP_MALFORMED; /* memory unmapped under us */
			goto fail;
		}
		last->data_len = (uint16_t)cnt;
		done += cnt;
		if (done == len)
			break;
		struct rte_mbuf *s = mbuf_get(q);
		if (!s)
			goto fail;
		last->next = s;
		last = s;
		m->nb_segs++;
	}
	m->pkt_len = len;
	return m;
fail:
	q->mops.free(q->mops.ctx, m);
	return NULL;
}

/* Remember that the driver sends this flow on our pair. */
static void steer_learn(struct vnet_dp_queue *q, const struct rte_mbuf *m)
{
	uint32_t key;

	if (!vnet_flow_key(rte_pktmbuf_mtod(m, const uint8_t *), m->data_len, &key))
		return;
	uint16_t *slot = &q->steer->q[key % VNET_STEER_FLOWS];
	uint16_t v = (uint16_t)(q->pair + 1);
	/* Store only on a change: the line stays shared with the RX lcores. */
	if (__atomic_load_n(slot, __ATOMIC_RELAXED) != v)
		__atomic_store_n(slot, v, __ATOMIC_RELAXED);
}

/* What a transmit burst reads of the configuration, in locals (stores
 * into mbufs and counters cannot be taken to change it), and its
 * counts, added to the queue's counters once. */
struct tx_burst {
	uint32_t hdr_len;
	bool link_up, learn;
	uint64_t features;
	uint64_t packets, bytes;
};

/* One packet of rlen bytes (header and frame), from a chain or from one
 * mapped buffer (`flat`): the mbuf to send, or NULL (*why says why). */
static inline __attribute__((always_inline)) struct rte_mbuf *
tx_one(struct vnet_dp_queue *q, struct tx_burst *x, const struct vq_chain *ch,
       const uint8_t *flat, uint32_t rlen, enum vnet_drop *why)
{
	struct vnet_hdr h;
	struct rte_mbuf *m;

	*why = VNET_DROP_MALFORMED;
	if (!x->link_up) {
		*why = VNET_DROP_LINK_DOWN;
		return NULL;
	}
	if (rlen < x->hdr_len + 14 || rlen - x->hdr_len > VNET_DP_FRAME_MAX)
		return NULL;
	/* The header's 12 bytes; the hash fields that follow with
	 * HASH_REPORT mean nothing on transmit. */
	if (flat)
		memcpy(&h, flat, sizeof(h));
	else if (vq_chain_read(q->vq, ch, 0, &h, sizeof(h)) != sizeof(h))
		return NULL;
	m = tx_copy(q, ch, flat, x->hdr_len, rlen - x->hdr_len, why);
	if (!m)
		return NULL;
	if (vnet_hdr_to_mbuf(&h, x->features, m)) {
		q->mops.free(q->mops.ctx, m);
		*why = VNET_DROP_MALFORMED;
		return NULL;
	}
	if (x->learn)
		steer_learn(q, m);
	x->packets++;
	x->bytes += m->pkt_len;
	return m;
}

unsigned vnet_dp_tx_burst(struct vnet_dp_queue *q,
			  const struct vnet_dp_conf *c,
			  struct rte_mbuf **pkts, unsigned n)
{
	struct vq *vq = q->vq;
	struct vq_buf b[VNET_DP_BURST_MAX];
	struct tx_burst x = {
		.hdr_len = c->hdr_len, .link_up = c->link_up,
		.learn = c->steer_auto && q->steer, .features = c->features,
	};
	unsigned took, got, out = 0;
	enum vnet_drop why;
	bool rest;
	struct rte_mbuf *m;

	if (n > VNET_DP_BURST_MAX)
		n = VNET_DP_BURST_MAX;
	/* One mbuf per packet before popping: without them the chains stay
	 * in the ring (backpressure), none is popped to be dropped. */
	if (q->nspare < n) {
		unsigned want = VNET_DP_BURST_MAX - q->nspare;
		if (q->mops.alloc(q->mops.ctx, q->spare + q->nspare, want) == 0) {
			q->nspare += want;
		} else {
			/* Short of a whole refill: one at a time, what the
			 * waiting chains need, or the queue would stall while
			 * the pool still holds mbufs. */
			unsigned need = vq_avail_count(vq);
			if (need > n)
				need = n;
			while (q->nspare < need &&
			       q->mops.alloc(q->mops.ctx, q->spare + q->nspare, 1) == 0)
				q->nspare++;
		}
		if (q->nspare < n)
			n = q->nspare;
	}
	/* The short way first: the buffers at the front that are one
	 * readable descriptor each, read in place and completed together. */
	took = vq_take_burst(vq, b, n, x.hdr_len + VNET_DP_FRAME_MAX, &rest);
	for (unsigned i = 0; i < took; i++) {
		if ((m = tx_one(q, &x, NULL, b[i].va, b[i].len, &why)))
			pkts[out++] = m;
		else
			drop(q, why);
	}
	/* Copied: released before the driver may write them again. */
	if (q->release)
		release_bufs(q, b, took, x.hdr_len);
	vq_take_done(vq, b, took);
	got = took < n && rest ? vq_pop_burst(vq, q->chains, n - took, q->segs, q->nsegs_cap) : 0;
	/* The frames' first lines (header and the start of the frame) were
	 * written by the driver's core: start every miss before the copies. */
	for (unsigned i = 0; i < got; i++)
		if (q->chains[i].nread && q->chains[i].seg[0].va)
			__builtin_prefetch(q->chains[i].seg[0].va);
	for (unsigned i = 0; i < got; i++) {
		const struct vq_chain *ch = &q->chains[i];

		/* Transmit buffers are read-only: nothing written. */
		q->done[i] = (struct vq_done){ ch->head, 0 };
		if ((m = tx_one(q, &x, ch, NULL, ch->rlen, &why)))
			pkts[out++] = m;
		else
			drop(q, why);
	}
	if (q->release && got)
		release_chains(q, got, x.hdr_len);
	q->stats->packets += x.packets;
	q->stats->bytes += x.bytes;
	/* In order, every chain completes in pop order with nothing
	 * written: one used entry for the burst (virtio 1.3, 2.7.9). */
	/* One interrupt decision for both ways (the short way's buffers
	 * are used already, whatever becomes of the others). */
	if (!(got && complete(q, c, got, took + got, vq->flags & VQ_F_IN_ORDER)) && took)
		notify(q, c, took);
	return out;
}

/* ---- receive: steering ------------------------------------------------------ */

/* The first usable queue from `from` on, cyclically among `pairs`. */
static int next_ok(const struct vnet_dp_conf *c, uint16_t from, uint16_t pairs)
{
	for (uint16_t i = 0; i < pairs; i++) {
		uint16_t q = (uint16_t)((from + i) % pairs);
		if (vnet_dp_rxq_ok(c, q))
			return q;
	}
	return -1;
}

static void classify_one(const struct vnet_dp_conf *c,
			 const struct vnet_steer *steer,
			 const struct rte_mbuf *m, struct vnet_rx_meta *mt)
{
	const uint8_t *fr = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = m->data_len;
	int q = 0;

	memset(mt, 0, sizeof(*mt));
	if (!c->link_up) {
		mt->drop = 1 + VNET_DROP_LINK_DOWN;
		return;
	}
	if (!vnet_rx_filter_accept(&c->filter, fr, len)) {
		mt->drop = 1 + VNET_DROP_FILTER;
		return;
	}
	if (c->rss) {
		q = vnet_rss_classify(c->rss, fr, len,
				      c->hash_report ? &mt->hash : NULL,
				      c->hash_report ? &mt->report : NULL);
		if (c->rss->enabled) {
			/* "If the destination receive queue is being reset,
			 * the device MUST drop the packet." */
			if (!vnet_dp_rxq_ok(c, (uint16_t)q))
				mt->drop = 1 + VNET_DROP_QUEUE_OFF;
			mt->queue = (uint16_t)q;
			return;
		}
	}
	if (c->steer_auto) {
		uint32_t key;

		q = 0;
		if (vnet_flow_key(fr, len, &key)) {
			uint16_t e = steer ? __atomic_load_n(&steer->q[key % VNET_STEER_FLOWS],
							     __ATOMIC_RELAXED) : 0;
			/* A flow the driver sent on: its pair. Otherwise "the
			 * device MAY steer a packet to a random queue": the
			 * flow's hash spreads flows over the pairs. */
			q = e && e <= c->pairs ? e - 1 : (int)(key % c->pairs);
		}
		/* "If the destination receive queue is being reset, the
		 * device SHOULD re-select another random queue. If all
		 * receive queues are being reset, the device MUST drop." */
		q = next_ok(c, (uint16_t)q, c->pairs);
		if (q < 0) {
			mt->drop = 1 + VNET_DROP_QUEUE_OFF;
			q = 0;
		}
	} else if (!vnet_dp_rxq_ok(c, 0)) {
		mt->drop = 1 + VNET_DROP_QUEUE_OFF;
	}
	mt->queue = (uint16_t)q;
}

void vnet_dp_rx_classify(const struct vnet_dp_conf *c,
			 const struct vnet_steer *steer,
			 struct rte_mbuf *const *pkts, unsigned n,
			 struct vnet_rx_meta *meta)
{
	/* No filter, no hash, no steering: classify_one's answer is the
	 * same for every whole Ethernet frame, so decide it once. */
	if (c->link_up && !c->rss && !c->steer_auto &&
	    !c->filter.mac_filter && !c->filter.vlan_filter) {
		uint8_t d = vnet_dp_rxq_ok(c, 0) ? 0 : 1 + VNET_DROP_QUEUE_OFF;

		for (unsigned i = 0; i < n; i++)
			meta[i] = (struct vnet_rx_meta){
				.drop = pkts[i]->data_len < 14 ? 1 + VNET_DROP_FILTER : d,
			};
		return;
	}
	for (unsigned i = 0; i < n; i++)
		classify_one(c, steer, pkts[i], &meta[i]);
}

/* ---- receive: delivery ------------------------------------------------------ */

/* State of one receive burst: chains [0, nchains) popped, [0, next) used. */
/* A small frame's copy, put off until every buffer of the burst is
 * claimed and its header written: the copies then run back to back. */
#define RX_DEFER_LEN 256
struct rx_defer {
	uint8_t *dst;
	const uint8_t *src;
	uint32_t len;
	uint64_t iova;
};

struct rx_burst {
	struct vnet_dp_queue *q;
	unsigned nchains, next, segs_used, ndone, ndefer;
	bool dry; /* the ring had nothing more */
	struct rx_defer *defer; /* VNET_DP_BURST_MAX, not cleared */
};

/* Put off the copy of m (one segment, small) into the one buffer ch, after
 * a header of hdr_len bytes. false: not that simple case. */
static bool rx_defer(struct rx_burst *b, const struct vq *vq,
		     const struct vq_chain *ch, uint32_t hdr_len,
		     const struct rte_mbuf *m)
{
	const struct vq_seg *s = &ch->seg[ch->nread];

	if (m->nb_segs != 1 || m->data_len > RX_DEFER_LEN ||
	    b->ndefer == VNET_DP_BURST_MAX || ch->nseg == ch->nread || !s->va ||
	    s->len < hdr_len + m->data_len ||
	    ch->gen != dma_space_table(vq->dma)->gen)
		return false;
	b->defer[b->ndefer++] = (struct rx_defer){
		(uint8_t *)s->va + hdr_len, rte_pktmbuf_mtod(m, const uint8_t *),
		m->data_len, s->iova + hdr_len,
	};
	return true;
}

/* Chains [0, keep) are completed: drop their segments (the front of segs,
 * in chain order) so the next pop has room. */
static void rx_segs_reclaim(struct rx_burst *b, unsigned keep)
{
	struct vnet_dp_queue *q = b->q;
	uint32_t s0 = keep < b->nchains ?
		      (uint32_t)(q->chains[keep].seg - q->segs) : b->segs_used;

	memmove(q->segs, q->segs + s0, (b->segs_used - s0) * sizeof(*q->segs));
	for (unsigned i = keep; i < b->nchains; i++)
		q->chains[i].seg -= s0;
	b->segs_used -= s0;
}

/* The next popped chain, popping up to `want` more when none is left.
 * Chains before `keep` (the current packet's first) are done with. */
static struct vq_chain *rx_chain(struct rx_burst *b, unsigned want,
				 unsigned keep)
{
	struct vnet_dp_queue *q = b->q;

	if (b->next == b->nchains) {
		unsigned room = q->nchains_cap - b->nchains;
		unsigned got;

		if (b->dry)
			return NULL;
		if (want > room)
			want = room;
		/* vq_pop_burst pops nothing into less than the queue size:
		 * chains of many segments (indirect tables) fill segs long
		 * before the ring runs dry. */
		if (keep && q->nsegs_cap - b->segs_used < q->vq->size)
			rx_segs_reclaim(b, keep);
		got = vq_pop_burst(q->vq, q->chains + b->nchains, want,
				   q->segs + b->segs_used, q->nsegs_cap - b->segs_used);
		if (!got) {
			b->dry = true;
			return NULL;
		}
		for (unsigned i = 0; i < got; i++) {
			const struct vq_chain *x = &q->chains[b->nchains + i];
			b->segs_used += x->nseg;
			/* The buffers' lines live in the driver's cache: ask
			 * for them (to write) now, all at once. */
			if (x->nseg > x->nread && x->seg[x->nread].va)
				__builtin_prefetch(x->seg[x->nread].va, 1);
		}
		b->nchains += got;
	}
	return &q->chains[b->next++];
}

/* Complete a chain with len bytes written. */
static inline void rx_done(struct rx_burst *b, const struct vq_chain *ch,
			   uint32_t len)
{
	b->q->done[b->ndone++] = (struct vq_done){ ch->head, len };
}

/* Copy m's data into the chains ch[0..) from byte `off` of the first
 * one, each filled to its wlen in turn. false when a write failed. */
static bool rx_copy(const struct vq *vq, const struct vq_chain *ch,
		    uint32_t off, const struct rte_mbuf *m)
{
	unsigned j = 0;

	for (const struct rte_mbuf *s = m; s; s = s->next) {
		const uint8_t *src = rte_pktmbuf_mtod(s, const uint8_t *);
		uint32_t left = s->data_len;

		while (left) {
			if (off == ch[j].wlen) {
				j++;
				off = 0;
				continue;
			}
			uint32_t cnt = ch[j].wlen - off;
			if (cnt > left)
				cnt = left;
			if (vq_chain_write(vq, &ch[j], off, src, cnt) != cnt)
				return false;
			src += cnt;
			left -= cnt;
			off += cnt;
		}
	}
	return true;
}

/* VLAN tags at the front of the frame (802.1Q / 802.1ad), at most two. */
static uint32_t vlan_tags(const struct rte_mbuf *m)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t n = 0, off = 12;

	while (n < 2 && m->data_len >= off + 6) {
		uint16_t t = (uint16_t)(f[off] << 8 | f[off + 1]);
		if (t != 0x8100 && t != 0x88a8)
			break;
		n++;
		off += 4;
	}
	return n;
}

/* Deliver one packet; returns 0 or the drop reason + 1. */
static int rx_one(struct rx_burst *b, const struct vnet_dp_conf *c,
		  struct rte_mbuf *m, const struct vnet_rx_meta *mt,
		  unsigned remaining)
{
	struct vnet_dp_queue *q = b->q;
	struct vnet_hdr_hash hh;
	bool mrg = c->features & F(VIRTIO_NET_F_MRG_RXBUF);
	unsigned todo, first = b->next, k = 0;
	uint32_t total, have = 0;

	todo = vnet_hdr_from_mbuf(m, c->rx_features, &hh.hdr);
	if (todo & VNET_RX_DROP)
		return 1 + VNET_DROP_MALFORMED;
	/* Segmenting is the caller's (DPDK's GSO library in virtnetd): it
	 * knows the driver's offloads from the conf. */
	if (todo & VNET_RX_SEGMENT)
		return 1 + VNET_DROP_TOO_BIG;
	if (todo && vnet_rx_fixup(m, todo))
		return 1 + VNET_DROP_MALFORMED;
	/* "The device MUST NOT pass received packets that exceed mtu (plus
	 * low level ethernet header length) size with gso_type NONE or ECN". */
	if (c->max_frame && (hh.hdr.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_NONE &&
	    m->pkt_len > c->max_frame + 4 * vlan_tags(m))
		return 1 + VNET_DROP_TOO_BIG;
	if (c->hash_report)
		vnet_hdr_set_hash(&hh, mt ? mt->hash : 0,
				  mt ? mt->report : VIRTIO_NET_HASH_REPORT_NONE);
	total = c->hdr_len + m->pkt_len;

	/* Gather buffers: one without MRG_RXBUF, as many as it takes with. */
	while (have < total) {
		struct vq_chain *x = rx_chain(b, remaining, first);
		if (!x) {
			b->next = first; /* keep them for a later packet */
			return 1 + VNET_DROP_NO_BUFFER;
		}
		if (k == 0 && x->wlen < (mrg ? c->hdr_len : total)) {
			/* A buffer that cannot hold the header (or, without
			 * MRG_RXBUF, the packet): back to the driver empty,
			 * as Linux and DPDK drivers expect of a length
			 * error; holding it would stall the ring. */
			rx_done(b, x, 0);
			first = b->next;
			if (!mrg)
				return 1 + VNET_DROP_TOO_BIG;
			continue;
		}
		have += x->wlen;
		k++;
		if (k == q->vq->size && have < total) {
			/* The whole ring would not hold it. */
			b->next = first;
			return 1 + VNET_DROP_TOO_BIG;
		}
	}
	/* The packet's buffers are chains[first, first + k): every one but
	 * the last is filled completely. */
	const struct vq_chain *use = &q->chains[first];
	hh.hdr.num_buffers = cpu_to_vle16((uint16_t)k);
	if (vq_chain_write(q->vq, use, 0, &hh, c->hdr_len) != c->hdr_len ||
	    (!(k == 1 && rx_defer(b, q->vq, use, c->hdr_len, m)) &&
	     !rx_copy(q->vq, use, c->hdr_len, m))) {
		/* Memory unmapped under us: nothing trustworthy was written. */
		for (unsigned j = 0; j < k; j++)
			rx_done(b, &use[j], 0);
		return 1 + VNET_DROP_NO_BUFFER;
	}
	for (unsigned j = 0; j < k; j++) {
		uint32_t len = j + 1 < k ? use[j].wlen : total;
		rx_done(b, &use[j], len);
		total -= len;
	}
	return 0;
}

/* A packet the short way takes: the plain header (no offload metadata,
 * no hash), one segment, not dropped, not longer than the MTU allows. */
static inline bool rx_plain(const struct vnet_dp_conf *c, const struct rte_mbuf *m,
			    const struct vnet_rx_meta *mt)
{
	return !(m->ol_flags & VNET_HDR_RX_OL_FLAGS) && m->nb_segs == 1 &&
	       (!mt || !mt->drop) && (!c->max_frame || m->pkt_len <= c->max_frame);
}

/* The short way (vq_fill_burst) for the packets at the front of the
 * burst that need nothing but the plain header and one buffer each, while
 * no chain is stashed. Returns the packets delivered. */
static unsigned rx_fill(struct vnet_dp_queue *q, const struct vnet_dp_conf *c,
			struct rte_mbuf **pkts, const struct vnet_rx_meta *meta,
			unsigned n)
{
	const void *data[VNET_DP_BURST_MAX];
	uint32_t len[VNET_DP_BURST_MAX];
	struct vnet_hdr h;
	unsigned k = 0, got;
	uint64_t bytes = 0;

	if (q->nstash || c->hash_report || c->hdr_len != sizeof(h))
		return 0;
	while (k < n && rx_plain(c, pkts[k], meta ? &meta[k] : NULL)) {
		data[k] = rte_pktmbuf_mtod(pkts[k], const void *);
		len[k] = pkts[k]->data_len;
		k++;
	}
	memset(&h, 0, sizeof(h));
	h.num_buffers = cpu_to_vle16(1);
	got = k ? vq_fill_burst(q->vq, &h, c->hdr_len, data, len, k) : 0;
	for (unsigned i = 0; i < got; i++)
		bytes += len[i];
	q->stats->packets += got;
	q->stats->bytes += bytes;
	return got;
}

unsigned vnet_dp_rx_burst(struct vnet_dp_queue *q,
			  const struct vnet_dp_conf *c,
			  struct rte_mbuf **pkts,
			  const struct vnet_rx_meta *meta, unsigned n)
{
	struct rx_defer defer[VNET_DP_BURST_MAX];
	struct rx_burst b = { .q = q, .nchains = q->nstash, .defer = defer };
	unsigned delivered = 0;

	if (n > VNET_DP_BURST_MAX)
		n = VNET_DP_BURST_MAX;
	for (unsigned i = 0; i < q->nstash; i++)
		b.segs_used += q->chains[i].nseg;
	if (!q->vq->enabled || vq_broken(q->vq)) {
		for (unsigned i = 0; i < n; i++)
			drop(q, VNET_DROP_QUEUE_OFF);
		return 0;
	}
	unsigned filled = rx_fill(q, c, pkts, meta, n);
	delivered = filled;
	for (unsigned i = filled; i < n; i++) {
		const struct vnet_rx_meta *mt = meta ? &meta[i] : NULL;
		int why = mt && mt->drop ? mt->drop : 0;

		if (!why)
			why = rx_one(&b, c, pkts[i], mt, n - i);
		if (why) {
			drop(q, (enum vnet_drop)(why - 1));
			continue;
		}
		q->stats->packets++;
		q->stats->bytes += pkts[i]->pkt_len;
		delivered++;
	}
	/* The copies put off, before any of their buffers is used. */
	if (b.ndefer) {
		const struct dma_table *t = dma_space_table(q->vq->dma);
		for (unsigned i = 0; i < b.ndefer; i++) {
			memcpy(b.defer[i].dst, b.defer[i].src, b.defer[i].len);
			dma_mark_dirty(t, b.defer[i].iova, b.defer[i].len);
		}
	}
	if (b.ndone)
		complete(q, c, b.ndone, delivered, false);
	else if (filled)
		notify(q, c, filled);
	/* Chains popped and not used stay, oldest first, for the next burst. */
	q->nstash = b.nchains - b.next;
	if (q->nstash && b.next) {
		uint32_t s0 = (uint32_t)(q->chains[b.next].seg - q->segs), nseg = 0;
		for (unsigned i = 0; i < q->nstash; i++) {
			struct vq_chain *x = &q->chains[b.next + i];
			x->seg = q->segs + (x->seg - q->segs - s0);
			nseg += x->nseg;
		}
		memmove(q->segs, q->segs + s0, nseg * sizeof(*q->segs));
		memmove(q->chains, q->chains + b.next, q->nstash * sizeof(*q->chains));
	}
	return delivered;
}
