/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device side of the packed virtqueue (virtio 1.3, 2.8).
 *
 * Positions are kept as wrap-counted counters in [0, 2 * size) (see
 * vq_ctr_pos in virtq.h). A descriptor at position p is available when its
 * AVAIL bit equals the device's avail wrap counter and its USED bit does
 * not; the device marks a buffer used by writing one descriptor (id, len,
 * AVAIL = USED = its used wrap counter) at its next used position and
 * skipping forward by the number of ring descriptors the buffer took.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "virtq_priv.h"

static inline bool pdesc_avail(uint16_t flags, bool wrap)
{
	return !!(flags & VQ_PDESC_F_AVAIL) == wrap &&
	       !!(flags & VQ_PDESC_F_USED) != wrap;
}

enum walk_result_p { PW_OK, PW_FULL, PW_BAD };

static enum walk_result_p pwalk_result(struct vq *vq, enum vq_error err)
{
	if (err == WALK_FULL_ERR)
		return PW_FULL;
	vq_fail(vq, err);
	return PW_BAD;
}

/* The buffers of an indirect table (2.8.8). */
static enum vq_error walk_table_packed(struct vq *vq, struct walk *w,
				       uint64_t addr, uint32_t len)
{
	const void *tp;
	uint32_t n;
	enum vq_error err = walk_indirect(vq, w, addr, len, &tp, &n);

	if (err)
		return err;
	const struct vq_pdesc *tab = tp;
	for (uint32_t i = 0; i < n; i++) {
		/* Only WRITE is valid in a table (2.8.8) and the spec has the
		 * device ignore the rest; we ignore all but INDIRECT, which we
		 * refuse as the split ring does: a driver that nests tables is
		 * broken. */
		uint16_t f = vle16_to_cpu(READ_ONCE(tab[i].flags));
		if (f & VQ_DESC_F_INDIRECT)
			return VQ_ERR_INDIRECT_NESTED;
		err = walk_seg(vq, w, vle64_to_cpu(READ_ONCE(tab[i].addr)),
			       vle32_to_cpu(READ_ONCE(tab[i].len)),
			       f & VQ_DESC_F_WRITE);
		if (err)
			return err;
	}
	return VQ_OK;
}

/*
 * Walk the list that starts at ring counter `ctr` (its first descriptor's
 * flags already read as `flags0`). On success *id is the buffer id (from
 * the list's last descriptor) and *ndesc the ring descriptors it took.
 * With `rec` (in-flight recording) each ring descriptor is also stored
 * there, in CPU order, as it was read.
 */
static enum walk_result_p vq_walk_packed(struct vq *vq, uint16_t ctr,
					 uint16_t flags0, struct vq_chain *c,
					 struct vq_seg *seg, unsigned cap,
					 uint16_t *id, uint16_t *ndesc,
					 struct vq_pdesc *rec)
{
	struct walk w = { .t = vq->tbl, .seg = seg, .cap = cap };
	uint16_t pos = vq_ctr_pos(ctr, vq->size), flags = flags0, nd = 0;
	enum vq_error err;

	for (;;) {
		const struct vq_pdesc *dp = &vq->pdesc[pos];
		uint64_t addr = vle64_to_cpu(READ_ONCE(dp->addr));
		uint32_t len = vle32_to_cpu(READ_ONCE(dp->len));
		uint16_t did = vle16_to_cpu(READ_ONCE(dp->id));

		nd++; /* bounded below: never past the ring's free slots */
		if (unlikely(rec != NULL))
			rec[nd - 1] = (struct vq_pdesc){
				.addr = addr, .len = len, .id = did, .flags = flags,
			};
		if (flags & VQ_DESC_F_INDIRECT) {
			/* 2.8.13: never in a NEXT list, and one table only. */
			if (nd > 1 || (flags & VQ_DESC_F_NEXT))
				return pwalk_result(vq, VQ_ERR_INDIRECT_NEXT);
			err = walk_table_packed(vq, &w, addr, len);
			if (err)
				return pwalk_result(vq, err);
			*id = did;
			break;
		}
		err = walk_seg(vq, &w, addr, len, flags & VQ_DESC_F_WRITE);
		if (err)
			return pwalk_result(vq, err);
		if (!(flags & VQ_DESC_F_NEXT)) {
			*id = did; /* 2.8.6: the id is in the list's last descriptor */
			break;
		}
		if (++pos == vq->size)
			pos = 0;
		/* A list as long as the ring that goes on, or one running into
		 * the slots of chains still in flight. */
		if (nd == vq->size)
			return pwalk_result(vq, VQ_ERR_CHAIN_LEN);
		if (nd >= vq->size - vq->pk_slots)
			return pwalk_result(vq, VQ_ERR_AVAIL_IDX);
		/* The driver wrote the whole list before the first descriptor's
		 * flags, which we read with acquire: plain reads suffice. Each
		 * must be available too (2.8.10: a device MUST NOT use a
		 * descriptor it has not seen made available). */
		flags = vle16_to_cpu(READ_ONCE(vq->pdesc[pos].flags));
		if (!pdesc_avail(flags, vq_ctr_wrap(vq_ctr_add(ctr, nd, vq->size), vq->size)))
			return pwalk_result(vq, VQ_ERR_NOT_AVAIL);
	}
	*ndesc = nd;
	walk_finish(&w, c, 0);
	return PW_OK;
}

unsigned vq_avail_packed(const struct vq *vq)
{
	uint16_t ctr = vq->last_avail, size = vq->size;
	uint32_t seen = 0, limit = size - vq->pk_slots;
	unsigned n = 0;

	/* Count list heads, skipping each list; never past the free slots. */
	while (seen < limit) {
		uint16_t f = vle16_to_cpu(__atomic_load_n(
			&vq->pdesc[vq_ctr_pos(ctr, size)].flags, __ATOMIC_ACQUIRE));
		if (!pdesc_avail(f, vq_ctr_wrap(ctr, size)))
			break;
		n++;
		for (;;) {
			seen++;
			ctr = vq_ctr_add(ctr, 1, size);
			if (!(f & VQ_DESC_F_NEXT) || (f & VQ_DESC_F_INDIRECT) ||
			    seen >= limit)
				break;
			f = vle16_to_cpu(READ_ONCE(vq->pdesc[vq_ctr_pos(ctr, size)].flags));
		}
	}
	return n;
}

/* ---- in-flight recording, packed (vhost-user.rst, Inflight I/O tracking)
 * As for the split ring (virtq.c): nothing reads the region while this
 * back end runs; the release stores and fences keep the stores in the
 * spec's order for a back end that recovers after this one stopped or
 * died, and name the recovery load they pair with (vq_ifl_attach_packed).
 * Entries are taken from and returned to the free list kept in f->next,
 * never from the region's copy of it. */

/* "When receiving available buffers", for the nd ring descriptors of one
 * chain (rec, as the walk read them). The free list holds at least nd
 * entries: it has one per ring slot not in flight. */
/*
 * used_idx, old_used_idx and the two used wrap counters share the eight
 * bytes at offset 16 of the area (8-byte aligned: vq_inflight_attach
 * checks). They are stored, and read, as one word: recovery judges each
 * (index, wrap counter) pair together, and a stop between two separate
 * stores could leave one position's index beside another's wrap counter
 * (a batch that crossed the ring's end), which names neither position.
 */
typedef uint64_t __attribute__((may_alias)) ifl_word;
union ifl_used {
	struct {
		uint16_t idx, old_idx;
		uint8_t wrap, old_wrap;
		uint8_t pad[2];
	} f;
	uint64_t w;
};
_Static_assert(offsetof(struct vq_ifl_packed, used_idx) == 16 &&
	       offsetof(struct vq_ifl_packed, old_used_idx) == 18 &&
	       offsetof(struct vq_ifl_packed, used_wrap_counter) == 20 &&
	       offsetof(struct vq_ifl_packed, old_used_wrap_counter) == 21,
	       "used word");

static inline ifl_word *ifl_used_word(struct vq_ifl_packed *r)
{
	return (ifl_word *)(void *)&r->used_idx;
}

/* One release store of both positions: pairs with the acquire load of the
 * word in vq_ifl_attach_packed (all stores before it, the free list and
 * the clears, are visible once it is). */
static inline void ifl_used_store(struct vq_ifl_packed *r, uint16_t idx, uint8_t wrap,
				  uint16_t old_idx, uint8_t old_wrap)
{
	union ifl_used u = { .f = { idx, old_idx, wrap, old_wrap, { 0, 0 } } };

	__atomic_store_n(ifl_used_word(r), u.w, __ATOMIC_RELEASE);
}

static void ifl_record_packed(struct vq *vq, const struct vq_pdesc *rec,
			      uint16_t nd, uint16_t id)
{
	struct vq_ifl *f = vq->ifl;
	struct vq_ifl_packed *r = f->packed;
	uint16_t head = f->old_free_head, fh = f->free_head;
	struct vq_ifl_desc_packed *h = &r->desc[head];

	/* d is the head descriptor: num 0, counter, inflight. */
	WRITE_ONCE(h->num, 0);
	WRITE_ONCE(h->counter, f->counter++);
	/* Release: counter before inflight; pairs with the acquire load of
	 * inflight in vq_ifl_attach_packed. */
	__atomic_store_n(&h->inflight, 1, __ATOMIC_RELEASE);
	for (uint16_t k = 0; k < nd; k++) {
		struct vq_ifl_desc_packed *e = &r->desc[fh];
		if (k == nd - 1) {
			WRITE_ONCE(h->last, fh);
			f->last[head] = fh;
		}
		WRITE_ONCE(h->num, (uint16_t)(k + 1));
		WRITE_ONCE(e->addr, rec[k].addr);
		WRITE_ONCE(e->len, rec[k].len);
		WRITE_ONCE(e->flags, rec[k].flags);
		WRITE_ONCE(e->id, rec[k].id);
		fh = f->next[fh];
		WRITE_ONCE(r->free_head, fh);
	}
	f->free_head = fh;
	f->old_free_head = fh;
	f->entry[id] = head;
	/* Release: the whole chain is recorded before old_free_head takes it
	 * off the free list for good (a stop before: the recovery rolls
	 * free_head back and the chain is popped again from the ring); pairs
	 * with the acquire load of old_free_head in vq_ifl_attach_packed. */
	__atomic_store_n(&r->old_free_head, fh, __ATOMIC_RELEASE);
}

/* "When supplying used buffers", steps 1-5, before the burst's first
 * used descriptor is published: the chains' entries back on the free
 * list, used_idx and its wrap counter moved to `ctr`. The release store of
 * that descriptor's flags in vq_push_packed orders these before it. */
static void ifl_used_begin_packed(struct vq *vq, const struct vq_done *done,
				  unsigned n, uint16_t ctr)
{
	struct vq_ifl *f = vq->ifl;
	struct vq_ifl_packed *r = f->packed;

	for (unsigned i = 0; i < n; i++) {
		uint16_t e = f->entry[done[i].id], l = f->last[e];
		WRITE_ONCE(r->desc[l].next, f->free_head);
		f->next[l] = f->free_head;
		f->free_head = e;
		WRITE_ONCE(r->free_head, e);
	}
	/* old_* stay at the position before this burst (vq->used_idx). */
	ifl_used_store(r, vq_ctr_pos(ctr, vq->size), (uint8_t)vq_ctr_wrap(ctr, vq->size),
		       vq_ctr_pos(vq->used_idx, vq->size),
		       (uint8_t)vq_ctr_wrap(vq->used_idx, vq->size));
}

/* Steps 7-8, after the first used descriptor's flags (step 6). */
static void ifl_used_end_packed(struct vq *vq, const struct vq_done *done,
				unsigned n)
{
	struct vq_ifl *f = vq->ifl;
	struct vq_ifl_packed *r = f->packed;

	/* Release fence: the used flags, stored just before, precede the
	 * clears; pairs with vq_ifl_attach_packed reading those flags when
	 * used_idx and old_used_idx differ. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (unsigned i = 0; i < n; i++)
		WRITE_ONCE(r->desc[f->entry[done[i].id]].inflight, 0);
	f->old_free_head = f->free_head;
	WRITE_ONCE(r->old_free_head, f->free_head);
	/* Release: the old position last, after the clears and
	 * old_free_head, in one store with the new one (equal: the last
	 * update is complete). */
	uint16_t pos = vq_ctr_pos(vq->used_idx, vq->size);
	uint8_t wrap = (uint8_t)vq_ctr_wrap(vq->used_idx, vq->size);
	ifl_used_store(r, pos, wrap, pos, wrap);
}

/* Walk a chain recovered from the in-flight region: its ring descriptors
 * as recorded (vq_ifl_attach_packed checked the shape: a NEXT list of
 * ndesc entries, or one INDIRECT), every buffer checked as in a ring walk. */
static enum walk_result_p walk_saved(struct vq *vq, uint16_t id,
				     struct vq_chain *c, struct vq_seg *seg,
				     unsigned cap)
{
	const struct vq_ifl *f = vq->ifl;
	struct walk w = { .t = vq->tbl, .seg = seg, .cap = cap };
	uint16_t e = f->entry[id];
	enum vq_error err;

	for (uint16_t j = 0; j < vq->inflight[id].ndesc; j++) {
		const struct vq_pdesc *d = &f->saved[e];
		if (d->flags & VQ_DESC_F_INDIRECT)
			err = walk_table_packed(vq, &w, d->addr, d->len);
		else
			err = walk_seg(vq, &w, d->addr, d->len,
				       d->flags & VQ_DESC_F_WRITE);
		if (err)
			return pwalk_result(vq, err);
		e = f->next[e]; /* in the queue while j + 1 < ndesc (checked) */
	}
	walk_finish(&w, c, id);
	return PW_OK;
}

unsigned vq_pop_packed(struct vq *vq, struct vq_chain *chains, unsigned n,
		       struct vq_seg *segs, unsigned nsegs)
{
	unsigned got = 0, used = 0;
	uint16_t ctr = vq->last_avail, size = vq->size;
	struct vq_pdesc *rec = NULL;

	/* The one test of the in-flight recording on this path (a packed
	 * queue resubmits only what its region kept). */
	if (unlikely(vq->ifl != NULL)) {
		rec = vq->ifl->rec;
		/* Chains in flight at the back end before this one come first,
		 * from the descriptors the region kept (the ring's may be
		 * overwritten by used ones). */
		while (vq->resubmit_pos < vq->n_resubmit && got < n) {
			uint16_t id = vq->resubmit[vq->resubmit_pos];
			if (walk_saved(vq, id, &chains[got], segs + used,
				       nsegs - used) != PW_OK)
				return got;
			vq->inflight[id].busy = 1; /* in n_inflight since recovery */
			vq->inflight[id].wlen = chains[got].wlen;
			vq->resubmit_pos++;
			used += chains[got++].nseg;
		}
	}

	while (got < n) {
		struct vq_pdesc *dp = &vq->pdesc[vq_ctr_pos(ctr, size)];
		/* Acquire pairs with the driver's write barrier before it sets
		 * the first descriptor's flags: the list is visible after. */
		uint16_t flags = vle16_to_cpu(__atomic_load_n(&dp->flags,
							      __ATOMIC_ACQUIRE));
		if (!pdesc_avail(flags, vq_ctr_wrap(ctr, size)))
			break;
		struct vq_chain *c = &chains[got];
		uint16_t id, nd = 1;
		/* Fast path: one direct descriptor inside one region, nothing
		 * to record (what vq_walk_packed would find, without it). */
		if (likely(!(flags & (VQ_DESC_F_NEXT | VQ_DESC_F_INDIRECT)) &&
			   rec == NULL && used < nsegs) &&
		    likely(pop_direct(vq, vq->tbl, c, &segs[used],
				      vle64_to_cpu(READ_ONCE(dp->addr)),
				      vle32_to_cpu(READ_ONCE(dp->len)),
				      flags & VQ_DESC_F_WRITE))) {
			id = vle16_to_cpu(READ_ONCE(dp->id));
			goto walked;
		}
		if (vq_walk_packed(vq, ctr, flags, c, segs + used, nsegs - used,
				   &id, &nd, rec) != PW_OK)
			break;
walked:
		if (unlikely(vq->pk_slots + nd > size)) {
			/* More descriptors available than the ring holds: the
			 * driver re-offered slots of chains still in flight. */
			vq_fail(vq, VQ_ERR_AVAIL_IDX);
			break;
		}
		if (unlikely(id >= size)) {
			vq_fail(vq, VQ_ERR_HEAD_RANGE);
			break;
		}
		if (unlikely(vq->inflight[id].busy)) {
			vq_fail(vq, VQ_ERR_HEAD_BUSY);
			break;
		}
		c->head = id;
		vq->inflight[id] = (struct vq_inflight){
			.avail_idx = vq->pk_popped++, .busy = 1, .ndesc = nd,
			.wlen = c->wlen,
		};
		if (unlikely(rec != NULL))
			ifl_record_packed(vq, rec, nd, id);
		vq->pk_slots += nd;
		vq->n_inflight++;
		ctr = vq_ctr_add(ctr, nd, size);
		used += c->nseg;
		got++;
	}
	/* Release: recorded before the caller acts on the chains (a frame
	 * sent, a buffer filled); pairs with the acquire load of inflight in
	 * vq_ifl_attach_packed. */
	if (unlikely(rec != NULL))
		__atomic_thread_fence(__ATOMIC_RELEASE);
	vq->last_avail = ctr;
	return got;
}

/* Write the used descriptor for one buffer (or an in-order batch) at
 * counter `ctr`; the flags go in last, and are returned instead of written
 * when `defer` (the burst's first descriptor is published last). */
static uint16_t put_used(struct vq *vq, uint16_t ctr, uint32_t id,
			 uint32_t len, bool defer)
{
	struct vq_pdesc *d = &vq->pdesc[vq_ctr_pos(ctr, vq->size)];
	uint16_t flags = (vq_ctr_wrap(ctr, vq->size) ?
			  VQ_PDESC_F_AVAIL | VQ_PDESC_F_USED : 0) |
			 (len ? VQ_DESC_F_WRITE : 0);

	d->id = cpu_to_vle16((uint16_t)id);
	d->len = cpu_to_vle32(len);
	if (!defer) {
		WRITE_ONCE(d->flags, cpu_to_vle16(flags));
		dma_mark_dirty(vq->tbl, vq->desc_addr + 16u * vq_ctr_pos(ctr, vq->size), 16);
	}
	return flags;
}

void vq_push_packed(struct vq *vq, const struct vq_done *done, unsigned n,
		    bool batch)
{
	uint16_t size = vq->size, first = vq->used_idx, ctr = first;
	uint16_t first_flags;
	uint32_t slots = 0;

	if (batch) {
		/* 2.8.9: one used descriptor, where the batch's first buffer
		 * was, naming its last; skip all the batch's descriptors. */
		for (unsigned i = 0; i < n; i++)
			slots += vq->inflight[done[i].id].ndesc;
		first_flags = put_used(vq, ctr, done[n - 1].id, done[n - 1].len, true);
		ctr = vq_ctr_add(ctr, slots, size);
	} else {
		first_flags = put_used(vq, ctr, done[0].id, done[0].len, true);
		for (unsigned i = 0; i < n; i++) {
			uint16_t nd = vq->inflight[done[i].id].ndesc;
			if (i)
				put_used(vq, ctr, done[i].id, done[i].len, false);
			ctr = vq_ctr_add(ctr, nd, size);
			slots += nd;
		}
	}
	for (unsigned i = 0; i < n; i++)
		vq->inflight[done[i].id].busy = 0;
	if (unlikely(vq->ifl != NULL))
		ifl_used_begin_packed(vq, done, n, ctr);
	/* Release pairs with the driver's acquire read of the flags at its
	 * next used position: every descriptor of this burst, and the data
	 * written into the buffers, are visible before the first one is. */
	__atomic_store_n(&vq->pdesc[vq_ctr_pos(first, size)].flags,
			 cpu_to_vle16(first_flags), __ATOMIC_RELEASE);
	/* Marked after its flags are written, so a report in between cannot
	 * clear the mark of a descriptor whose flags are not there yet. */
	dma_mark_dirty(vq->tbl, vq->desc_addr + 16u * vq_ctr_pos(first, size), 16);
	/* A step of 2 * size or more makes the event window ambiguous. */
	uint32_t since = (first + 2u * size - vq->signalled_used) % (2u * size);
	if (since + slots >= 2u * size)
		vq->signalled_valid = false;
	vq->used_idx = ctr;
	vq->pk_slots -= (uint16_t)slots;
	vq->pk_done += (uint16_t)n;
	if (unlikely(vq->ifl != NULL))
		ifl_used_end_packed(vq, done, n);
}

/* The short ways on a packed ring: nothing is in flight, so the used
 * position is the avail one, and each buffer's used descriptor goes where
 * its available one was, with its id. Each is built twice, with `write`
 * a constant, and reads the queue's fields into locals once (a byte store
 * into inflight[] may alias anything). */
static inline __attribute__((always_inline)) unsigned
short_find_packed(struct vq *vq, struct vq_buf *b, unsigned n, const bool write,
		  const uint32_t *lim, bool *rest)
{
	const struct dma_table *t = vq->tbl;
	const struct vq_pdesc *ring = vq->pdesc;
	struct vq_inflight *ifl = vq->inflight;
	uint16_t size = vq->size, first = vq->last_avail;
	uint16_t pos = vq_ctr_pos(first, size);
	const uint16_t mask = VQ_PDESC_F_AVAIL | VQ_PDESC_F_USED | VQ_DESC_F_NEXT |
			      VQ_DESC_F_INDIRECT | VQ_DESC_F_WRITE;
	/* Available in this lap, one direct descriptor, the right way. */
	uint16_t want = (write ? VQ_DESC_F_WRITE : 0) |
			(vq_ctr_wrap(first, size) ? VQ_PDESC_F_AVAIL : VQ_PDESC_F_USED);
	struct vq_rgn g;
	unsigned i;

	*rest = true;
	if (vq->used_idx != first || vq->pk_slots)
		return 0;
	if (n > size)
		n = size; /* (then *rest may say true with nothing left) */
	vq_rgn_load(vq, t, write ? DMA_PROT_WRITE : DMA_PROT_READ, &g);
	for (i = 0; i < n; i++) {
		const struct vq_pdesc *d = &ring[pos];
		/* Acquire, as in vq_pop_packed: the descriptor is whole after. */
		uint16_t flags = vle16_to_cpu(__atomic_load_n(&d->flags, __ATOMIC_ACQUIRE));
		if ((flags & mask) != want) {
			*rest = pdesc_avail(flags, want & VQ_PDESC_F_AVAIL);
			break;
		}
		uint16_t id = vle16_to_cpu(READ_ONCE(d->id));
		if (id >= size)
			break;
		/* In flight until completed: an id offered twice fails the
		 * queue as a pop would. */
		if (unlikely(ifl[id].busy))
			return vq_short_busy(vq, b, i, rest);
		if (!vq_buf_find(vq, t, &g, vle64_to_cpu(READ_ONCE(d->addr)),
				 vle32_to_cpu(READ_ONCE(d->len)), write,
				 lim[write ? i : 0], id, pos, &b[i]))
			break;
		ifl[id].busy = 1;
		if (++pos == size) {
			pos = 0;
			want ^= VQ_PDESC_F_AVAIL | VQ_PDESC_F_USED; /* the next lap */
		}
	}
	return i;
}

unsigned vq_short_find_packed(struct vq *vq, struct vq_buf *b, unsigned n, bool write,
			      const uint32_t *lim, bool *rest)
{
	return write ? short_find_packed(vq, b, n, true, lim, rest) :
		       short_find_packed(vq, b, n, false, lim, rest);
}

static inline __attribute__((always_inline)) void
short_done_packed(struct vq *vq, const struct vq_buf *b, unsigned n, const bool write)
{
	const struct dma_table *t = vq->tbl;
	struct vq_pdesc *ring = vq->pdesc;
	struct vq_inflight *ifl = vq->inflight;
	uint16_t size = vq->size, first = vq->last_avail, p0 = vq_ctr_pos(first, size);
	/* Used in this lap: both bits as the wrap counter (and WRITE when
	 * something was written). */
	uint16_t uf = (vq_ctr_wrap(first, size) ? VQ_PDESC_F_AVAIL | VQ_PDESC_F_USED : 0) |
		      (write ? VQ_DESC_F_WRITE : 0), first_flags = uf;
	bool logging = t->log_shift != 0;

	/* The used descriptors, where the buffers were (the id written again:
	 * a buffer may lie over its own descriptor); the first one's flags go
	 * in last, below. */
	for (unsigned k = 0; k < n; k++) {
		struct vq_pdesc *d = &ring[b[k].pos];
		d->id = cpu_to_vle16(b[k].id);
		d->len = cpu_to_vle32(write ? b[k].len : 0);
		ifl[b[k].id].busy = 0;
		if (k)
			WRITE_ONCE(d->flags, cpu_to_vle16(uf));
		if (unlikely(logging) && k)
			dma_mark_dirty(t, vq->desc_addr + 16u * b[k].pos, 16);
		if (b[k].pos == size - 1)
			uf ^= VQ_PDESC_F_AVAIL | VQ_PDESC_F_USED; /* the next lap */
	}
	/* Release, as in vq_push_packed: every descriptor (and a fill's
	 * data) before the first one's flags. */
	__atomic_store_n(&ring[p0].flags, cpu_to_vle16(first_flags), __ATOMIC_RELEASE);
	dma_mark_dirty(t, vq->desc_addr + 16u * p0, 16);
	uint32_t since = (first + 2u * size - vq->signalled_used) % (2u * size);
	if (since + n >= 2u * size)
		vq->signalled_valid = false;
	vq->last_avail = vq->used_idx = vq_ctr_add(first, (uint16_t)n, size);
	vq->pk_popped += (uint16_t)n;
	vq->pk_done += (uint16_t)n;
}

void vq_short_done_packed(struct vq *vq, const struct vq_buf *b, unsigned n, bool write)
{
	if (write)
		short_done_packed(vq, b, n, true);
	else
		short_done_packed(vq, b, n, false);
}

bool vq_should_notify_packed(struct vq *vq)
{
	/* Full fence: the used descriptors must be visible before we read
	 * the driver's event suppression; pairs with the driver's full
	 * barrier between re-enabling events and re-checking the ring. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t flags = vle16_to_cpu(READ_ONCE(vq->driver_event->flags)) & 3;

	if (flags == VQ_EVENT_DISABLE)
		return false;
	/* DESC without EVENT_IDX, and the reserved value, notify. */
	if (flags != VQ_EVENT_DESC || !(vq->flags & VQ_F_EVENT_IDX) ||
	    !vq->signalled_valid)
		return true;
	uint16_t ev = vq_event_ctr(vle16_to_cpu(READ_ONCE(vq->driver_event->off_wrap)),
				   vq->size);
	return vq_need_event_packed(ev, vq->used_idx, vq->signalled_used, vq->size);
}

void vq_notify_disable_packed(struct vq *vq)
{
	WRITE_ONCE(vq->device_event->flags, cpu_to_vle16(VQ_EVENT_DISABLE));
	dma_mark_dirty(vq->tbl, vq->used_addr, sizeof(struct vq_event));
}

bool vq_notify_enable_packed(struct vq *vq)
{
	if (vq->flags & VQ_F_EVENT_IDX) {
		/* Kick me when the descriptor at my position is made available. */
		uint16_t ow = vq_ctr_pos(vq->last_avail, vq->size) |
			      (vq_ctr_wrap(vq->last_avail, vq->size) ? 0x8000 : 0);
		WRITE_ONCE(vq->device_event->off_wrap, cpu_to_vle16(ow));
		WRITE_ONCE(vq->device_event->flags, cpu_to_vle16(VQ_EVENT_DESC));
	} else {
		WRITE_ONCE(vq->device_event->flags, cpu_to_vle16(VQ_EVENT_ENABLE));
	}
	dma_mark_dirty(vq->tbl, vq->used_addr, sizeof(struct vq_event));
	/* Full fence: re-armed before we look at the ring again; pairs with
	 * the driver's full barrier between making a descriptor available
	 * and reading the device event suppression. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t f = vle16_to_cpu(READ_ONCE(
		vq->pdesc[vq_ctr_pos(vq->last_avail, vq->size)].flags));
	return pdesc_avail(f, vq_ctr_wrap(vq->last_avail, vq->size));
}

/* ---- in-flight recording, packed: attaching and recovery ---------------- */

/* A fresh area at the queue's used position: every entry free, in order. */
void vq_ifl_init_packed(struct vq *vq)
{
	struct vq_ifl *f = vq->ifl;
	struct vq_ifl_packed *r = f->packed;
	uint16_t size = vq->size, pos = vq_ctr_pos(vq->used_idx, size);
	uint8_t wrap = vq_ctr_wrap(vq->used_idx, size);

	/* Version 0 first, and a release fence: a stop halfway leaves an
	 * area that reads as fresh, never a half-built one as valid. */
	WRITE_ONCE(r->version, 0);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (uint32_t i = 0; i < size; i++) {
		struct vq_ifl_desc_packed *e = &r->desc[i];
		WRITE_ONCE(e->inflight, 0);
		WRITE_ONCE(e->next, (uint16_t)(i + 1)); /* the last: size, the end */
		WRITE_ONCE(e->last, 0);
		WRITE_ONCE(e->num, 0);
		WRITE_ONCE(e->counter, 0);
		WRITE_ONCE(e->id, 0);
		WRITE_ONCE(e->flags, 0);
		WRITE_ONCE(e->len, 0);
		WRITE_ONCE(e->addr, 0);
		f->next[i] = (uint16_t)(i + 1);
	}
	WRITE_ONCE(r->features, 0);
	WRITE_ONCE(r->desc_num, size);
	WRITE_ONCE(r->free_head, 0);
	WRITE_ONCE(r->old_free_head, 0);
	ifl_used_store(r, pos, (uint8_t)wrap, pos, (uint8_t)wrap);
	/* Release: the area is whole before its version says so; pairs with
	 * the acquire load of version in vq_ifl_attach_packed. */
	__atomic_store_n(&r->version, VQ_IFL_VERSION, __ATOMIC_RELEASE);
	f->counter = 0;
	f->free_head = f->old_free_head = 0;
}

/* One entry's bookkeeping, read once (its descriptor goes to f->saved). */
struct ifl_packed_snap {
	uint64_t counter;
	uint16_t next, last, num;
	uint8_t inflight;
	uint8_t seen;  /* on the free list or in a chain already */
	uint8_t clear; /* on the free list and read in flight: cleared */
};

/*
 * "When reconnecting" (packed). Every field is read once into a snapshot
 * and checked there: the header's indexes, the free list (no loop), each
 * chain a head in flight names (num entries linked by next, ending at
 * last, NEXT on all but the last, INDIRECT only alone, a buffer id in the
 * queue and not used twice), and that the free list and the chains cover
 * every entry exactly once (each entry is one or the other in every state
 * the spec's steps leave). Then:
 *
 * 1. used_idx/used_wrap_counter differ from old_used_idx/
 *    old_used_wrap_counter: an update was interrupted. The ring
 *    descriptor at old_used_idx tells how far it got: flags still those
 *    of an available descriptor for old_used_wrap_counter (AVAIL = wrap,
 *    USED = !wrap) -> the used descriptors were not published: roll back;
 *    anything else -> they were: commit (old_* = current).
 *    Underspecified in the rst, decided here: it compares only used_idx,
 *    but a batch of exactly the queue size brings used_idx back to the
 *    same position with the other wrap counter; we compare the pairs.
 * 2. current = old_* (rolls back what step 1 did not commit).
 * 3. Entries on the free list are not in flight (clears the heads of an
 *    interrupted pop, and of a committed batch whose clears were cut).
 * 4. The heads still in flight are resubmitted in counter order.
 *
 * Also underspecified, decided here: where the device resumes. The
 * front end cannot know after a crash (it never got GET_VRING_BASE), so
 * the area's used position replaces the loaded one, and the avail
 * position is that plus the ring descriptors the chains in flight took
 * (the ring slots between the two are exactly theirs): restarting the
 * avail position at the used one, as some back ends do, would pop again
 * descriptors of chains completed out of order and complete them twice.
 */
int vq_ifl_attach_packed(struct vq *vq, struct vq_ifl *f)
{
	struct vq_ifl_packed *r = f->packed;
	uint16_t size = vq->size, n = 0;
	uint32_t nfree = 0, slots = 0;
	struct ifl_packed_snap *s = NULL;
	struct vq_ifl_key *k = NULL;
	uint8_t *id_seen = NULL;
	bool commit = false, rollback = false;
	const char *why = NULL;
	/* Acquire pairs with the release stores of old_used_idx in
	 * ifl_used_end_packed and old_free_head in ifl_record_packed. */
	union ifl_used u = { .w = __atomic_load_n(ifl_used_word(r), __ATOMIC_ACQUIRE) };
	uint16_t oui = u.f.old_idx, ui = u.f.idx;
	uint8_t ouw = u.f.old_wrap, uw = u.f.wrap;
	uint16_t ofh = __atomic_load_n(&r->old_free_head, __ATOMIC_ACQUIRE);
	uint16_t fh = READ_ONCE(r->free_head);

	if (ui >= size || oui >= size || uw > 1 || ouw > 1) {
		why = "a used index or wrap counter out of range";
		goto bad;
	}
	/* Step 1. free_head may be past the queue: the list's end (empty). */
	if (ui != oui || uw != ouw) {
		const vle16 *p = dma_ptr(dma_space_table(vq->dma),
					 vq->desc_addr + 16u * oui + offsetof(struct vq_pdesc, flags),
					 2, DMA_PROT_READ);
		if (!p) {
			why = "descriptor ring not mapped";
			goto bad;
		}
		uint16_t fl = vle16_to_cpu(READ_ONCE(*p)) & (VQ_PDESC_F_AVAIL | VQ_PDESC_F_USED);
		if (fl != (ouw ? VQ_PDESC_F_AVAIL : VQ_PDESC_F_USED)) {
			commit = true;
			ofh = fh;
			oui = ui;
			ouw = uw;
		} else {
			rollback = true;
		}
	}
	/* Step 2: from here on, (ofh, oui, ouw) is the state. */
	s = calloc(size, sizeof(*s));
	k = malloc(size * sizeof(*k));
	id_seen = calloc(size, 1);
	if (!s || !k || !id_seen) {
		free(s);
		free(k);
		free(id_seen);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < size; i++) {
		const struct vq_ifl_desc_packed *e = &r->desc[i];
		/* Acquire pairs with the release store of inflight in
		 * ifl_record_packed: the counter read next is the one
		 * recorded with it. */
		s[i].inflight = __atomic_load_n(&e->inflight, __ATOMIC_ACQUIRE);
		s[i].counter = READ_ONCE(e->counter);
		s[i].next = READ_ONCE(e->next);
		s[i].last = READ_ONCE(e->last);
		s[i].num = READ_ONCE(e->num);
		f->saved[i] = (struct vq_pdesc){
			.addr = READ_ONCE(e->addr), .len = READ_ONCE(e->len),
			.id = READ_ONCE(e->id), .flags = READ_ONCE(e->flags),
		};
		if (s[i].inflight > 1) {
			why = "an inflight flag neither 0 nor 1";
			goto bad;
		}
	}
	/* Step 3: the free list (its end: an index past the queue). */
	for (uint16_t h = ofh; h < size; h = s[h].next) {
		if (s[h].seen) {
			why = "the free list loops";
			goto bad;
		}
		s[h].seen = 1;
		if (s[h].inflight) {
			s[h].inflight = 0;
			s[h].clear = 1;
		}
		nfree++;
	}
	/* The chains of the heads still in flight. */
	for (uint32_t i = 0; i < size; i++) {
		if (!s[i].inflight)
			continue;
		uint16_t num = s[i].num, e = (uint16_t)i;
		if (s[i].counter > VQ_IFL_COUNTER_MAX) {
			why = "a counter beyond 2^63";
			goto bad;
		}
		if (num == 0 || num > size || s[i].last >= size) {
			why = "a chain's num or last out of range";
			goto bad;
		}
		for (uint16_t j = 0; j < num; j++) {
			if (e >= size || s[e].seen) {
				why = "chains overlap, or leave the queue";
				goto bad;
			}
			s[e].seen = 1;
			uint16_t fl = f->saved[e].flags;
			bool lastd = j + 1 == num;
			if (!!(fl & VQ_DESC_F_NEXT) == lastd ||
			    ((fl & VQ_DESC_F_INDIRECT) && num != 1)) {
				why = "a chain's descriptor flags do not fit its length";
				goto bad;
			}
			if (!lastd)
				e = s[e].next;
		}
		uint16_t id = f->saved[e].id;
		if (e != s[i].last) {
			why = "a chain does not end at its last entry";
			goto bad;
		}
		if (id >= size || id_seen[id]) {
			why = "a buffer id out of range or in flight twice";
			goto bad;
		}
		id_seen[id] = 1;
		f->entry[id] = (uint16_t)i;
		f->last[i] = e;
		slots += num;
		k[n++] = (struct vq_ifl_key){ s[i].counter, (uint16_t)i };
	}
	if (nfree + slots != size) {
		why = "entries neither free nor in a chain";
		goto bad;
	}

	/* Write back what steps 1-3 decided, in an order the next recovery
	 * can redo after a stop anywhere: the free head, then both used
	 * positions in one word (released), then the clears. */
	if (commit) {
		WRITE_ONCE(r->old_free_head, ofh);
		/* Release, one word: pairs with the acquire load above. */
		ifl_used_store(r, oui, ouw, oui, ouw);
	} else if (rollback) {
		WRITE_ONCE(r->free_head, ofh);
		/* Release, one word: the roll-back is whole before the used
		 * position equals the old one again. */
		ifl_used_store(r, oui, ouw, oui, ouw);
	}
	for (uint32_t i = 0; i < size; i++) {
		f->next[i] = s[i].next;
		if (s[i].clear)
			WRITE_ONCE(r->desc[i].inflight, 0);
	}
	f->free_head = f->old_free_head = ofh;
	f->counter = vq_ifl_sort(k, n);

	/* Step 4, and the position: used from the area, avail behind the
	 * chains in flight. */
	for (uint16_t i = 0; i < n; i++) {
		uint16_t id = f->saved[f->last[k[i].idx]].id;
		vq->resubmit[i] = id;
		vq->inflight[id].ndesc = s[k[i].idx].num;
	}
	vq->used_idx = ouw ? oui : (uint16_t)(oui + size);
	vq->last_avail = vq_ctr_add(vq->used_idx, slots, size);
	vq->signalled_used = vq->used_idx;
	vq->signalled_valid = false;
	vq->pk_slots = (uint16_t)slots;
	vq->pk_popped = n;
	vq->pk_done = 0;
	vq_restore(vq, vq->resubmit, n, 0);
	free(s);
	free(k);
	free(id_seen);
	return n;
bad:
	free(s);
	free(k);
	free(id_seen);
	vq_ifl_bad(vq, why);
	vq_ifl_init_packed(vq);
	return 0;
}
