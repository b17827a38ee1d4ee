/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_net.h"

#define READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* TX: a header cut in two plus a frame in up to 4 pieces never needs more
 * than 5 descriptors; between pieces we leave a gap of up to TX_GAP - 1
 * poisoned bytes, so a device that reads past a descriptor sees garbage. */
#define TX_MAX_PIECES 4
#define TX_MAX_DESC   (1 + TX_MAX_PIECES)
#define TX_GAP        16u
#define TX_ROOM       (TX_MAX_DESC * TX_GAP)
#define TX_POISON     0xa5

/* RX: descriptors per posted buffer (`split`), bounded so a buffer's list
 * fits on the stack. Linux posts at most MAX_SKB_FRAGS + 2. */
#define RX_MAX_PIECES 64

#define HDR_MIN_FRAME 14 /* an Ethernet header */

static uint64_t rnd(uint64_t *s)
{
	/* splitmix64: any seed, 0 included, gives a good sequence. */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(rnd(s) % n);
}

/*
 * sim_vq_get_used() refused the next used entry. Was it the length (the
 * entry names a buffer we have outstanding, with more bytes than it could
 * take) rather than the id? For q->why only: a racing device may change
 * the entry under us, the verdict stands either way. The entry is at
 * last_used: sim_vq refuses before moving past it, and in order only at
 * the start of a batch.
 */
static bool bad_was_len(const struct sim_vq *vq)
{
	uint32_t id, len;

	if (vq->flags & VQ_F_PACKED) {
		const struct vq_pdesc *d = &vq->pdesc[vq_ctr_pos(vq->last_used, vq->size)];
		uint16_t f = vle16_to_cpu(READ_ONCE(d->flags));
		id = vle16_to_cpu(READ_ONCE(d->id));
		len = (f & VQ_DESC_F_WRITE) ? vle32_to_cpu(READ_ONCE(d->len)) : 0;
	} else {
		uint16_t used_idx = vle16_to_cpu(READ_ONCE(vq->used->idx));
		if ((uint16_t)(used_idx - vq->last_used) > vq->size)
			return false;
		const struct vq_used_elem *e = &vq->used->ring[vq->last_used & vq->mask];
		id = vle32_to_cpu(READ_ONCE(e->id));
		len = vle32_to_cpu(READ_ONCE(e->len));
	}
	return id < vq->size && vq->slot[id].token && len > vq->slot[id].wlen;
}

/* ---- transmit --------------------------------------------------------- */

int sim_net_txq_init(struct sim_net_txq *q, struct sim_hostmem *mem,
		     uint16_t size, uint32_t vq_flags, uint64_t features,
		     uint32_t max_frame, bool indirect, uint64_t seed)
{
	uint64_t bytes;
	int rc;

	memset(q, 0, sizeof(*q));
	q->features = features;
	q->hdr_len = (uint32_t)vnet_hdr_len(features);
	q->indirect = indirect;
	q->rng = seed;
	if (indirect && !(vq_flags & VQ_F_INDIRECT))
		return -EINVAL;
	if (max_frame > UINT32_MAX - q->hdr_len - TX_ROOM)
		return -EINVAL;
	/* Exact, not rounded: sim_net_send derives max_frame from it. */
	q->slot_len = q->hdr_len + max_frame + TX_ROOM;
	rc = sim_vq_init(&q->vq, mem, size, vq_flags, indirect ? TX_MAX_DESC : 0);
	if (rc)
		goto fail;
	bytes = (uint64_t)size * q->slot_len;
	rc = sim_hostmem_alloc(mem, bytes, 64, &q->slot_iova);
	if (rc)
		goto fail;
	q->slot_va = sim_hostmem_va(mem, q->slot_iova, bytes);
	q->free_slots = calloc(size, sizeof(*q->free_slots));
	if (!q->slot_va || !q->free_slots) {
		rc = -ENOMEM;
		goto fail;
	}
	/* Highest index on top: the first packets take slots 0, 1, ... */
	for (uint16_t i = 0; i < size; i++)
		q->free_slots[i] = (uint16_t)(size - 1 - i);
	q->n_free = size;
	return 0;
fail:
	sim_net_txq_fini(q);
	return rc;
}

void sim_net_txq_fini(struct sim_net_txq *q)
{
	sim_vq_fini(&q->vq);
	free(q->free_slots);
	q->free_slots = NULL;
	q->n_free = 0;
}

/* Where a packet's pieces go in its slot. */
struct tx_build {
	struct sim_net_txq *q;
	uint8_t *va;
	uint64_t iova;
	uint32_t off;
	unsigned n;
	struct sim_buf b[TX_MAX_DESC];
};

/* Copy one piece in as its own descriptor, then skip a random gap. */
static void tx_piece(struct tx_build *t, const void *src, uint32_t len)
{
	uint32_t gap = rnd_below(&t->q->rng, TX_GAP);

	memcpy(t->va + t->off, src, len);
	t->b[t->n++] = (struct sim_buf){ t->iova + t->off, len };
	t->off += len;
	memset(t->va + t->off, TX_POISON, gap);
	t->off += gap;
}

/* Descriptors `layout` takes for a frame of len bytes (pieces: 1). */
static unsigned tx_ndesc(enum sim_net_layout layout, uint32_t len)
{
	switch (layout) {
	case SIM_NET_HDR_INLINE:
		return 1;
	case SIM_NET_HDR_SPLIT:
		return len ? 3 : 2;
	default:
		return len ? 2 : 1;
	}
}

int sim_net_send(struct sim_net_txq *q, const void *hdr, const uint8_t *frame,
		 uint32_t len, enum sim_net_layout layout)
{
	struct tx_build t = { .q = q };
	/* Descriptors one chain may take: an indirect table holds
	 * TX_MAX_DESC, the ring its size. */
	unsigned max_desc = q->indirect || q->vq.size >= TX_MAX_DESC ?
			    TX_MAX_DESC : q->vq.size;
	int rc;

	if (!hdr || (len && !frame) || (unsigned)layout > SIM_NET_LAYOUT__COUNT)
		return -EINVAL;
	if (len > q->slot_len - q->hdr_len - TX_ROOM)
		return -EINVAL;
	if (q->n_free == 0)
		return -ENOSPC;
	if (layout == SIM_NET_LAYOUT__COUNT) {
		layout = (enum sim_net_layout)rnd_below(&q->rng, SIM_NET_LAYOUT__COUNT);
		/* A tiny ring cannot take every layout: one always fits. */
		if (tx_ndesc(layout, len) > max_desc)
			layout = SIM_NET_HDR_INLINE;
	}

	uint16_t slot = q->free_slots[q->n_free - 1];
	t.va = q->slot_va + (size_t)slot * q->slot_len;
	t.iova = q->slot_iova + (uint64_t)slot * q->slot_len;

	switch (layout) {
	case SIM_NET_HDR_INLINE:
		/* One descriptor: header and frame must be adjacent. */
		memcpy(t.va, hdr, q->hdr_len);
		if (len)
			memcpy(t.va + q->hdr_len, frame, len);
		t.b[t.n++] = (struct sim_buf){ t.iova, q->hdr_len + len };
		break;
	case SIM_NET_HDR_SEPARATE:
		tx_piece(&t, hdr, q->hdr_len);
		if (len)
			tx_piece(&t, frame, len);
		break;
	case SIM_NET_PIECES: {
		tx_piece(&t, hdr, q->hdr_len);
		if (!len)
			break;
		uint32_t most = TX_MAX_PIECES;
		if (most > len)
			most = len;
		if (max_desc > 1 && most > max_desc - 1)
			most = max_desc - 1;
		uint32_t np = 1 + rnd_below(&q->rng, most), off = 0;
		for (uint32_t i = 0; i + 1 < np; i++) {
			/* Leave at least a byte for each piece still to come. */
			uint32_t room = len - off - (np - 1 - i);
			uint32_t l = 1 + rnd_below(&q->rng, room);
			tx_piece(&t, frame + off, l);
			off += l;
		}
		tx_piece(&t, frame + off, len - off);
		break;
	}
	case SIM_NET_HDR_SPLIT: {
		/* hdr_len is 12 or 20: both halves are non-empty. */
		uint32_t cut = 1 + rnd_below(&q->rng, q->hdr_len - 1);
		tx_piece(&t, hdr, cut);
		tx_piece(&t, (const uint8_t *)hdr + cut, q->hdr_len - cut);
		if (len)
			tx_piece(&t, frame, len);
		break;
	}
	default:
		return -EINVAL;
	}

	rc = sim_vq_add(&q->vq, t.b, t.n, NULL, 0, (void *)(uintptr_t)(slot + 1u),
			q->indirect);
	if (rc)
		return rc;
	q->n_free--;
	q->sent++;
	return 0;
}

bool sim_net_tx_flush(struct sim_net_txq *q)
{
	return sim_vq_publish(&q->vq);
}

int sim_net_tx_reclaim(struct sim_net_txq *q)
{
	int n = 0;

	for (;;) {
		uint32_t len;
		bool bad;
		void *tok = sim_vq_get_used(&q->vq, &len, &bad);

		if (!tok) {
			if (!bad)
				return n;
			/* sim_vq compares len with the writable bytes: 0. */
			q->why = bad_was_len(&q->vq) ?
				 "used len on a transmit buffer" :
				 "used id not in flight";
			return -EPROTO;
		}
		/* Our own token (sim_vq hands back only what we added). */
		q->free_slots[q->n_free++] = (uint16_t)((uintptr_t)tok - 1);
		q->reclaimed++;
		if (len) {
			q->why = "used len on a transmit buffer";
			return -EPROTO;
		}
		n++;
	}
}

/* ---- receive ---------------------------------------------------------- */

int sim_net_rxq_init(struct sim_net_rxq *q, struct sim_hostmem *mem,
		     uint16_t size, uint32_t vq_flags, uint64_t features,
		     uint32_t buf_len, uint32_t split, bool indirect)
{
	uint64_t bytes, pieces;
	int rc;

	memset(q, 0, sizeof(*q));
	q->features = features;
	q->hdr_len = (uint32_t)vnet_hdr_len(features);
	q->mergeable = features & (1ull << VIRTIO_NET_F_MRG_RXBUF);
	q->buf_len = buf_len;
	q->split = split;
	q->indirect = indirect;
	if (indirect && !(vq_flags & VQ_F_INDIRECT))
		return -EINVAL;
	/* The header never spans buffers; without MRG_RXBUF a packet must
	 * fit one buffer, so at least an Ethernet header must. The caller
	 * picks the real size (the spec's 1526/65601 and the like). */
	if (buf_len < q->hdr_len ||
	    (!q->mergeable && buf_len < q->hdr_len + HDR_MIN_FRAME))
		return -EINVAL;
	pieces = split ? ((uint64_t)buf_len + split - 1) / split : 1;
	if (pieces > RX_MAX_PIECES || pieces > size)
		return -EINVAL;
	rc = sim_vq_init(&q->vq, mem, size, vq_flags,
			 indirect ? (uint16_t)pieces : 0);
	if (rc)
		goto fail;
	bytes = (uint64_t)size * buf_len;
	rc = sim_hostmem_alloc(mem, bytes, 64, &q->buf_iova);
	if (rc)
		goto fail;
	q->buf_va = sim_hostmem_va(mem, q->buf_iova, bytes);
	q->free_bufs = calloc(size, sizeof(*q->free_bufs));
	if (!q->buf_va || !q->free_bufs) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint16_t i = 0; i < size; i++)
		q->free_bufs[i] = (uint16_t)(size - 1 - i);
	q->n_free = size;
	return 0;
fail:
	sim_net_rxq_fini(q);
	return rc;
}

void sim_net_rxq_fini(struct sim_net_rxq *q)
{
	sim_vq_fini(&q->vq);
	free(q->free_bufs);
	q->free_bufs = NULL;
	q->n_free = 0;
}

bool sim_net_rx_fill(struct sim_net_rxq *q)
{
	struct sim_buf b[RX_MAX_PIECES];
	uint32_t step = q->split ? q->split : q->buf_len;

	while (q->n_free) {
		uint16_t i = q->free_bufs[q->n_free - 1];
		uint64_t iova = q->buf_iova + (uint64_t)i * q->buf_len;
		unsigned n = 0;

		for (uint64_t off = 0; off < q->buf_len; off += step) {
			uint64_t l = q->buf_len - off;
			b[n++] = (struct sim_buf){ iova + off, (uint32_t)(l < step ? l : step) };
		}
		/* -ENOSPC: the ring is full (chains of several descriptors). */
		if (sim_vq_add(&q->vq, NULL, 0, b, n, (void *)(uintptr_t)(i + 1u),
			       q->indirect))
			break;
		q->n_free--;
	}
	return sim_vq_publish(&q->vq);
}

static int rx_fail(struct sim_net_rxq *q, const char *why)
{
	q->why = why;
	return -EPROTO;
}

/* The next used buffer: 1 (index in *idx, its used len in *len), 0, or
 * -EPROTO. The caller gives it back with rx_put. */
static int rx_take(struct sim_net_rxq *q, uint16_t *idx, uint32_t *len)
{
	bool bad;
	void *tok = sim_vq_get_used(&q->vq, len, &bad);

	if (!tok) {
		if (!bad)
			return 0;
		/* sim_vq compares len with the writable bytes: buf_len. */
		return rx_fail(q, bad_was_len(&q->vq) ?
				  "used len longer than the buffer" :
				  "used id not posted");
	}
	*idx = (uint16_t)((uintptr_t)tok - 1);
	q->buffers++;
	return 1;
}

static void rx_put(struct sim_net_rxq *q, uint16_t idx)
{
	q->free_bufs[q->n_free++] = idx;
}

static const uint8_t *rx_buf(const struct sim_net_rxq *q, uint16_t idx)
{
	return q->buf_va + (size_t)idx * q->buf_len;
}

/* Append src[0..n) to the frame, as far as cap allows; *total counts all. */
static void rx_copy(uint8_t *frame, uint32_t cap, uint64_t *total,
		    const uint8_t *src, uint32_t n)
{
	if (*total < cap) {
		uint64_t room = cap - *total;
		memcpy(frame + *total, src, n < room ? n : room);
	}
	*total += n;
}

int sim_net_recv(struct sim_net_rxq *q, struct vnet_hdr_hash *hdr,
		 uint8_t *frame, uint32_t cap, uint32_t *len)
{
	struct vnet_hdr_hash h;
	uint64_t total = 0;
	uint16_t idx, nb;
	uint32_t l;
	int rc;

	/* A buffer returned with nothing written is the device refusing a
	 * packet that did not fit (Linux counts it as a length error and
	 * reposts it): not a packet, not a violation. */
	while ((rc = rx_take(q, &idx, &l)) > 0 && l == 0) {
		rx_put(q, idx);
		q->empty++;
	}
	if (rc <= 0)
		return rc;
	if (l < q->hdr_len || l > q->buf_len) {
		rx_put(q, idx);
		return rx_fail(q, l < q->hdr_len ? "used len shorter than the header" :
						  "used len longer than the buffer");
	}
	/* One copy of the header: what we check is what we return. Only
	 * hdr_len bytes are the device's; the hash fields stay zero without
	 * HASH_REPORT. */
	memset(&h, 0, sizeof(h));
	memcpy(&h, rx_buf(q, idx), q->hdr_len);
	nb = vle16_to_cpu(h.hdr.num_buffers);
	if (nb == 0 || (nb > 1 && !q->mergeable) || (nb > 1 && l != q->buf_len)) {
		rx_put(q, idx);
		return rx_fail(q, nb == 0 ? "num_buffers 0" :
				  !q->mergeable ? "num_buffers above 1 without MRG_RXBUF" :
				  "buffer before the packet's last not filled");
	}
	rx_copy(frame, cap, &total, rx_buf(q, idx) + q->hdr_len, l - q->hdr_len);
	rx_put(q, idx);
	/* Continuation buffers carry no header (5.1.6.4.2). */
	for (uint16_t k = 1; k < nb; k++) {
		rc = rx_take(q, &idx, &l);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return rx_fail(q, "num_buffers beyond completed buffers");
		if (l > q->buf_len || (k + 1 < nb && l != q->buf_len)) {
			rx_put(q, idx);
			return rx_fail(q, l > q->buf_len ? "used len longer than the buffer" :
							  "buffer before the packet's last not filled");
		}
		rx_copy(frame, cap, &total, rx_buf(q, idx), l);
		rx_put(q, idx);
	}
	if (hdr)
		*hdr = h;
	*len = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
	if (total > cap)
		return -EMSGSIZE;
	q->packets++;
	return 1;
}
