/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to emu/virtq*.c: what the split and packed rings share — the
 * once-only reads, failure, and the per-descriptor checks of a walk.
 */
#ifndef VIRTNET_VIRTQ_PRIV_H
#define VIRTNET_VIRTQ_PRIV_H

#include "virtq.h"

#define READ_ONCE(x)      __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v)  __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define unlikely(x)       __builtin_expect(!!(x), 0)
#define likely(x)         __builtin_expect(!!(x), 1)

void vq_fail(struct vq *vq, enum vq_error e);
bool vq_begin(struct vq *vq);

/* What a walk has gathered so far. */
struct walk {
	const struct dma_table *t;
	struct vq_seg *seg;
	unsigned cap;
	unsigned nseg, nread;
	uint32_t count;   /* buffer descriptors seen: at most the queue size */
	uint64_t rlen, wlen;
	bool seen_write;
};

#define WALK_FULL_ERR VQ_ERR__COUNT /* not an error: segs[] is full */

/* One buffer descriptor: order, length, address and permission checks,
 * then a segment (zero-length descriptors are skipped). */
static inline enum vq_error walk_seg(struct vq *vq, struct walk *w,
				     uint64_t addr, uint32_t len, bool write)
{
	if (++w->count > vq->size)
		return VQ_ERR_CHAIN_LEN;
	if (write)
		w->seen_write = true;
	else if (w->seen_write)
		return VQ_ERR_ORDER;
	if (len == 0)
		return VQ_OK;
	if (addr + len - 1 < addr)
		return VQ_ERR_LEN_OVERFLOW;
	uint32_t prot = write ? DMA_PROT_WRITE : DMA_PROT_READ;
	void *va = dma_ptr_hint(w->t, &vq->hint, addr, len, prot);
	if (!va && !dma_range_ok(w->t, addr, len, prot))
		return VQ_ERR_ADDR;
	if (w->nseg == w->cap)
		return WALK_FULL_ERR;
	w->seg[w->nseg++] = (struct vq_seg){
		.iova = addr, .va = va, .len = len, .write = write,
	};
	if (write) {
		w->wlen += len;
	} else {
		w->rlen += len;
		w->nread++;
	}
	if (w->rlen + w->wlen > UINT32_MAX)
		return VQ_ERR_LEN_OVERFLOW;
	return VQ_OK;
}

/* Check an indirect descriptor's table (16-byte entries, at most the queue
 * size of them) and return a pointer to it: in place when it lies in one
 * region and is aligned, else copied into the queue's bounce buffer. */
static inline enum vq_error walk_indirect(struct vq *vq, struct walk *w,
					  uint64_t addr, uint32_t len,
					  const void **tab, uint32_t *n)
{
	if (!(vq->flags & VQ_F_INDIRECT))
		return VQ_ERR_INDIRECT_FEAT;
	if (len == 0 || len % 16 || len / 16 > vq->size)
		return VQ_ERR_INDIRECT_LEN;
	const void *p = dma_ptr(w->t, addr, len, DMA_PROT_READ);
	if (!p || ((uintptr_t)p & 15)) {
		if (dma_read(w->t, addr, vq->bounce, len))
			return VQ_ERR_ADDR;
		p = vq->bounce;
	}
	*tab = p;
	*n = len / 16;
	return VQ_OK;
}

/* The walk's result for a chain of one direct descriptor, without the
 * walk, when its buffer lies in one region of t (vq->tbl); false
 * otherwise (an empty or straddling buffer): the caller walks it.
 * c->head is the caller's. */
static inline bool pop_direct(struct vq *vq, const struct dma_table *t,
			      struct vq_chain *c, struct vq_seg *seg,
			      uint64_t addr, uint32_t len, bool write)
{
	void *va = dma_ptr_hint(t, &vq->hint, addr, len,
				write ? DMA_PROT_WRITE : DMA_PROT_READ);

	if (va == NULL)
		return false;
	*seg = (struct vq_seg){ .iova = addr, .va = va, .len = len, .write = write };
	*c = (struct vq_chain){
		.nseg = 1, .nread = !write,
		.rlen = write ? 0 : len, .wlen = write ? len : 0,
		.gen = t->gen, .seg = seg,
	};
	return true;
}

static inline void walk_finish(const struct walk *w, struct vq_chain *c,
			       uint16_t head)
{
	c->head = head;
	c->nseg = (uint16_t)w->nseg;
	c->nread = (uint16_t)w->nread;
	c->rlen = (uint32_t)w->rlen;
	c->wlen = (uint32_t)w->wlen;
	c->gen = w->t->gen;
	c->seg = w->seg;
}

/*
 * In-flight recording (vq_inflight_attach). While the queue runs the
 * region is only written: what the recording needs to know of it (the
 * free list, the chains' entries) is kept here, so a front end writing
 * the shared memory cannot steer an lcore's stores.
 */
struct vq_ifl {
	union {
		struct vq_ifl_split *split;
		struct vq_ifl_packed *packed;
	};
	uint64_t counter;         /* the next chain's counter */
	uint16_t last_batch_head; /* split */
	uint16_t free_head, old_free_head; /* packed: as in the region */
	/* packed, queue size entries each */
	uint16_t *next;           /* per entry: as desc[].next in the region */
	uint16_t *last;           /* per head entry: its chain's last entry */
	uint16_t *entry;          /* per buffer id: its chain's head entry */
	struct vq_pdesc *rec;     /* the chain being popped, as read (CPU order) */
	struct vq_pdesc *saved;   /* per entry: recovered descriptors (CPU order) */
};

/* Chains in flight at a previous owner, oldest first: popped again before
 * anything new; inflight[].avail_idx counts on from `seq`. */
void vq_restore(struct vq *vq, const uint16_t *ids, uint16_t n, uint16_t seq);

/* A head in flight in a recovered area, sorted oldest first. */
struct vq_ifl_key {
	uint64_t counter;
	uint16_t idx;
};

/* Counters grow by one per chain popped: one beyond this is garbage (and
 * would wrap the ones after it). */
#define VQ_IFL_COUNTER_MAX (UINT64_C(1) << 63)

/* Sort by counter (ties by index); returns the counter to go on with. */
uint64_t vq_ifl_sort(struct vq_ifl_key *k, uint16_t n);
/* A recovered area that does not check out (rate-limited log line). */
void vq_ifl_bad(const struct vq *vq, const char *why);

/* The packed half (virtq_packed.c): recovery of an area whose version and
 * desc_num checked out, and a fresh area. */
int vq_ifl_attach_packed(struct vq *vq, struct vq_ifl *f);
void vq_ifl_init_packed(struct vq *vq);

/* Packed ring (virtq_packed.c). */
unsigned vq_pop_packed(struct vq *vq, struct vq_chain *chains, unsigned n,
		       struct vq_seg *segs, unsigned nsegs);
/* The short ways (vq_fill_burst, vq_take_burst): at most this many
 * buffers a call. */
#define VQ_SHORT_MAX 64
/* The region a short way's buffers mostly come from (the queue's hint),
 * in locals: the stores into the vq_buf array cannot be taken to change
 * it, so nothing is loaded again per buffer. len 0: none (matches
 * nothing). */
struct vq_rgn {
	uint64_t iova, len;
	uint8_t *va;
};

static inline void vq_rgn_load(const struct vq *vq, const struct dma_table *t,
			       uint32_t prot, struct vq_rgn *g)
{
	uint32_t h = vq->hint;
	bool ok = h < t->n && (t->r[h].prot & prot) == prot;

	*g = ok ? (struct vq_rgn){ t->r[h].iova, t->r[h].len, t->r[h].va } :
		  (struct vq_rgn){ 0, 0, NULL };
}

/* Is the one-descriptor buffer [addr, addr + blen) one for a short way: a
 * fill writes `lim` bytes into it (blen >= lim), a take reads all of it
 * (blen <= lim)? The whole of it must be mapped, as vq_pop_burst wants
 * it: in *g, else looked up (and *g moved there). Found, it goes in *b,
 * and its first and last lines are asked for (to write or to read). */
static inline bool vq_buf_find(struct vq *vq, const struct dma_table *t, struct vq_rgn *g,
			       uint64_t addr, uint32_t blen, bool write, uint32_t lim,
			       uint16_t id, uint16_t pos, struct vq_buf *b)
{
	uint32_t prot = write ? DMA_PROT_WRITE : DMA_PROT_READ;
	uint64_t off = addr - g->iova;
	uint8_t *va;

	if (write ? blen < lim : (blen > lim || blen == 0))
		return false;
	if (likely(off < g->len && blen <= g->len - off)) {
		va = g->va + off;
	} else {
		va = dma_ptr_hint(t, &vq->hint, addr, blen, prot);
		if (!va)
			return false;
		vq_rgn_load(vq, t, prot, g);
	}
	if (write) {
		__builtin_prefetch(va, 1);
	} else {
		__builtin_prefetch(va);
		__builtin_prefetch(va + blen - 1);
	}
	*b = (struct vq_buf){ va, addr, write ? lim : blen, id, pos };
	return true;
}
/* The packed halves of the short ways: find (writable buffers each
 * taking lim[i] bytes, or readable ones of at most lim[0] bytes; *rest:
 * whether the general way may find more), then complete what was
 * found. */
unsigned vq_short_find_packed(struct vq *vq, struct vq_buf *b, unsigned n, bool write,
			      const uint32_t *lim, bool *rest);
void vq_short_done_packed(struct vq *vq, const struct vq_buf *b, unsigned n, bool write);
/* A short way met a buffer offered again while one found before it in
 * the same call is in flight: unmark b[0..n), fail the queue
 * (HEAD_BUSY, as a pop would); 0 found, nothing left. */
unsigned vq_short_busy(struct vq *vq, const struct vq_buf *b, unsigned n, bool *rest);
void vq_push_packed(struct vq *vq, const struct vq_done *done, unsigned n,
		    bool batch);
bool vq_should_notify_packed(struct vq *vq);
void vq_notify_disable_packed(struct vq *vq);
bool vq_notify_enable_packed(struct vq *vq);
unsigned vq_avail_packed(const struct vq *vq);

#endif
