/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device side of the split virtqueue (virtio 1.3, 2.7).
 *
 * Every field read from the rings is read exactly once (READ_ONCE) into a
 * local and validated there, so a host changing a descriptor under our
 * feet can only change what we see, never what we check.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hal_log.h"
#include "virtq_priv.h"

#define COMP "vq"

static const char *const vq_err_names[VQ_ERR__COUNT] = {
	[VQ_OK] = "ok",
	[VQ_ERR_RING_ADDR] = "ring not inside one mapped region",
	[VQ_ERR_NOT_AVAIL] = "list runs into a descriptor not made available",
	[VQ_ERR_AVAIL_IDX] = "more buffers available than the queue holds",
	[VQ_ERR_HEAD_RANGE] = "head index beyond the queue",
	[VQ_ERR_HEAD_BUSY] = "head offered again while in flight",
	[VQ_ERR_NEXT_RANGE] = "next index beyond the descriptor table",
	[VQ_ERR_CHAIN_LEN] = "descriptor loop or chain longer than the queue",
	[VQ_ERR_INDIRECT_NESTED] = "indirect table inside an indirect table",
	[VQ_ERR_INDIRECT_LEN] = "bad indirect table length",
	[VQ_ERR_INDIRECT_NEXT] = "indirect descriptor with NEXT or inside a list",
	[VQ_ERR_INDIRECT_FEAT] = "indirect descriptor not negotiated",
	[VQ_ERR_ADDR] = "buffer outside the DMA regions",
	[VQ_ERR_LEN_OVERFLOW] = "buffer length overflows",
	[VQ_ERR_ORDER] = "device-readable descriptor after a writable one",
};

const char *vq_error_str(enum vq_error e)
{
	return (unsigned)e < VQ_ERR__COUNT ? vq_err_names[e] : "unknown";
}

void vq_fail(struct vq *vq, enum vq_error e)
{
	if (vq->broken)
		return;
	vq->broken = true;
	vq->error = e;
	HAL_LOG_RL(HAL_LOG_ERR, COMP, "%s: queue broken: %s",
		   vq->name ? vq->name : "?", vq_error_str(e));
}

static vle16 *used_event(const struct vq *vq)
{
	return vq_used_event_ptr(vq->avail, vq->size);
}

static vle16 *avail_event(const struct vq *vq)
{
	return vq_avail_event_ptr(vq->used, vq->size);
}

/* Translate the three rings through table t; each must lie in one region. */
static bool vq_map_rings(struct vq *vq, const struct dma_table *t)
{
	if (vq->flags & VQ_F_PACKED) {
		/* The device writes used descriptors into the ring itself. */
		vq->pdesc = dma_ptr(t, vq->desc_addr, 16u * vq->size,
				    DMA_PROT_READ | DMA_PROT_WRITE);
		vq->driver_event = dma_ptr(t, vq->avail_addr, sizeof(struct vq_event),
					   DMA_PROT_READ);
		vq->device_event = dma_ptr(t, vq->used_addr, sizeof(struct vq_event),
					   DMA_PROT_WRITE);
	} else {
		vq->desc = dma_ptr(t, vq->desc_addr, vq_desc_bytes(vq->size),
				   DMA_PROT_READ);
		vq->avail = dma_ptr(t, vq->avail_addr, vq_avail_bytes(vq->size),
				    DMA_PROT_READ);
		vq->used = dma_ptr(t, vq->used_addr, vq_used_bytes(vq->size),
				   DMA_PROT_WRITE);
	}
	vq->tbl = t;
	vq->tbl_gen = t->gen;
	vq->hint = 0;
	/* dma_map keeps va congruent to iova mod 16, so aligned IOVAs give
	 * aligned pointers; checked again here because the atomics need it
	 * (split: 16/2/4, packed: 16/4/4). */
	if (!vq->desc || !vq->avail || !vq->used ||
	    ((uintptr_t)vq->desc & 15) ||
	    ((uintptr_t)vq->avail & ((vq->flags & VQ_F_PACKED) ? 3 : 1)) ||
	    ((uintptr_t)vq->used & 3)) {
		vq_fail(vq, VQ_ERR_RING_ADDR);
		return false;
	}
	return true;
}

/* Start of every burst: load the DMA table once; re-translate the rings
 * when it changed since the last burst. */
bool vq_begin(struct vq *vq)
{
	if (unlikely(vq->broken || !vq->enabled))
		return false;
	const struct dma_table *t = dma_space_table(vq->dma);
	if (unlikely(t->gen != vq->tbl_gen))
		return vq_map_rings(vq, t);
	vq->tbl = t;
	return true;
}

static bool aligned(uint64_t a, uint64_t n)
{
	return (a & (n - 1)) == 0;
}

static bool size_ok(uint16_t size, uint32_t flags)
{
	if (size == 0 || size > VQ_MAX_SIZE)
		return false;
	/* 2.8.10.1: a packed queue need not be a power of two. */
	return (flags & VQ_F_PACKED) || (size & (size - 1)) == 0;
}

int vq_setup(struct vq *vq, struct dma_space *dma, uint16_t size,
	     uint64_t desc_addr, uint64_t avail_addr, uint64_t used_addr,
	     uint32_t flags, const char *name)
{
	memset(vq, 0, sizeof(*vq));
	bool packed = flags & VQ_F_PACKED;
	if (!dma || !size_ok(size, flags) ||
	    (flags & ~(VQ_F_EVENT_IDX | VQ_F_INDIRECT | VQ_F_IN_ORDER | VQ_F_PACKED)) ||
	    !aligned(desc_addr, 16) || !aligned(avail_addr, packed ? 4 : 2) ||
	    !aligned(used_addr, 4))
		return -EINVAL;
	vq->resubmit = calloc(size, sizeof(*vq->resubmit));
	if (flags & VQ_F_INDIRECT)
		vq->bounce = aligned_alloc(64, (vq_desc_bytes(size) + 63) & ~(size_t)63);
	/* Cache-line aligned: the datapath reads it every chain. */
	vq->inflight = aligned_alloc(64, (size * sizeof(*vq->inflight) + 63) & ~(size_t)63);
	if (vq->inflight)
		memset(vq->inflight, 0, size * sizeof(*vq->inflight));
	if (!vq->inflight || !vq->resubmit || ((flags & VQ_F_INDIRECT) && !vq->bounce)) {
		vq_teardown(vq);
		return -ENOMEM;
	}
	vq->dma = dma;
	vq->size = size;
	vq->mask = size - 1;
	vq->flags = (uint8_t)flags;
	vq->desc_addr = desc_addr;
	vq->avail_addr = avail_addr;
	vq->used_addr = used_addr;
	vq->vector = VQ_NO_VECTOR;
	vq->enabled = 1;
	vq->name = name;
	vq->tbl_gen = 0; /* no table has gen 0: first burst translates */
	vq->signalled_valid = true; /* used idx 0, nothing signalled yet */
	return 0;
}

static void ifl_free(struct vq_ifl *f)
{
	if (!f)
		return;
	free(f->next);
	free(f->last);
	free(f->entry);
	free(f->rec);
	free(f->saved);
	free(f);
}

static void ifl_init(struct vq *vq);

void vq_teardown(struct vq *vq)
{
	ifl_free(vq->ifl);
	free(vq->inflight);
	free(vq->resubmit);
	free(vq->bounce);
	memset(vq, 0, sizeof(*vq));
}

void vq_reset(struct vq *vq)
{
	if (vq->inflight)
		memset(vq->inflight, 0, vq->size * sizeof(*vq->inflight));
	vq->n_inflight = 0;
	vq->n_resubmit = vq->resubmit_pos = 0;
	vq->last_avail = vq->used_idx = vq->signalled_used = 0;
	vq->pk_popped = vq->pk_done = vq->pk_slots = 0;
	vq->signalled_valid = true;
	vq->broken = false;
	vq->error = VQ_OK;
	vq->tbl_gen = 0;
	/* The in-flight area follows: nothing in flight, used index 0. */
	if (vq->ifl)
		ifl_init(vq);
}

enum walk_result { WALK_OK, WALK_FULL, WALK_BAD };

static enum walk_result walk_result(struct vq *vq, enum vq_error err)
{
	if (err == WALK_FULL_ERR)
		return WALK_FULL;
	vq_fail(vq, err);
	return WALK_BAD;
}

/* Walk the split chain at `head` into seg[0..cap). */
static enum walk_result vq_walk(struct vq *vq, uint16_t head,
				struct vq_chain *c, struct vq_seg *seg,
				unsigned cap)
{
	struct walk w = { .t = vq->tbl, .seg = seg, .cap = cap };
	const struct vq_desc *tab = vq->desc;
	uint32_t tab_n = vq->size;
	bool indirect = false;
	uint16_t idx = head;
	enum vq_error err;

	for (;;) {
		const struct vq_desc *dp = &tab[idx];
		uint64_t addr = vle64_to_cpu(READ_ONCE(dp->addr));
		uint32_t len = vle32_to_cpu(READ_ONCE(dp->len));
		uint16_t flags = vle16_to_cpu(READ_ONCE(dp->flags));
		uint16_t next = vle16_to_cpu(READ_ONCE(dp->next));

		if (flags & VQ_DESC_F_INDIRECT) {
			/* 2.7.5.3: one table per chain, at its end. */
			if (indirect)
				return walk_result(vq, VQ_ERR_INDIRECT_NESTED);
			if (!(vq->flags & VQ_F_INDIRECT))
				return walk_result(vq, VQ_ERR_INDIRECT_FEAT);
			if (flags & VQ_DESC_F_NEXT)
				return walk_result(vq, VQ_ERR_INDIRECT_NEXT);
			const void *t;
			err = walk_indirect(vq, &w, addr, len, &t, &tab_n);
			if (err)
				return walk_result(vq, err);
			tab = t;
			indirect = true;
			idx = 0;
			continue;
		}
		err = walk_seg(vq, &w, addr, len, flags & VQ_DESC_F_WRITE);
		if (err)
			return walk_result(vq, err);
		if (!(flags & VQ_DESC_F_NEXT))
			break;
		if (next >= tab_n)
			return walk_result(vq, VQ_ERR_NEXT_RANGE);
		idx = next;
	}
	walk_finish(&w, c, head);
	return WALK_OK;
}

/* ---- in-flight recording, split (vhost-user.rst, Inflight I/O tracking) --
 * Nothing reads the region while this back end runs: its reader is a back
 * end started after this one stopped or died, which sees the stores that
 * were made, in program order up to where this one stopped. The release
 * stores and fences below keep that order the spec's (the compiler and a
 * weakly ordered CPU may not move a later store before an earlier one);
 * each names the recovery load it pairs with (ifl_attach_split). */

/* "When receiving available buffers": counter, then inflight, per head. */
static void ifl_record_split(struct vq *vq, const struct vq_chain *c,
			     unsigned n)
{
	struct vq_ifl *f = vq->ifl;
	struct vq_ifl_split *r = f->split;

	for (unsigned i = 0; i < n; i++) {
		struct vq_ifl_desc_split *e = &r->desc[c[i].head];
		WRITE_ONCE(e->counter, f->counter++);
		/* Release: the counter is stored before the entry reads in
		 * flight; pairs with the acquire load of inflight in
		 * ifl_attach_split. */
		__atomic_store_n(&e->inflight, 1, __ATOMIC_RELEASE);
	}
	/* Release: recorded before the caller acts on the chains (a frame
	 * sent, a buffer filled); pairs with the same acquire load. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

/* "When supplying used buffers", steps 1-3, before used->idx moves: the
 * batch's heads linked from last_batch_head. The release store of
 * used->idx that follows in vq_push_burst orders them before it. */
static void ifl_used_begin_split(struct vq *vq, const struct vq_done *done,
				 unsigned n)
{
	struct vq_ifl *f = vq->ifl;
	struct vq_ifl_split *r = f->split;
	uint16_t head = f->last_batch_head;

	for (unsigned i = 0; i < n; i++) {
		WRITE_ONCE(r->desc[done[i].id].next, head);
		head = (uint16_t)done[i].id;
	}
	/* One store for the batch's step 3: nothing can read the list
	 * before used->idx moves. */
	WRITE_ONCE(r->last_batch_head, head);
	f->last_batch_head = head;
}

/* Steps 5-6, after used->idx moved to used_idx: inflight 0, then used_idx. */
static void ifl_used_end_split(struct vq *vq, const struct vq_done *done,
			       unsigned n, uint16_t used_idx)
{
	struct vq_ifl_split *r = vq->ifl->split;

	/* Release fence: used->idx, stored just before, precedes the clears;
	 * pairs with ifl_attach_split comparing used_idx with used->idx (a
	 * head cleared here was seen used by the driver). */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (unsigned i = 0; i < n; i++)
		WRITE_ONCE(r->desc[done[i].id].inflight, 0);
	/* Release: the clears precede used_idx catching up; pairs with the
	 * acquire load of used_idx in ifl_attach_split. */
	__atomic_store_n(&r->used_idx, used_idx, __ATOMIC_RELEASE);
}

unsigned vq_avail_count(struct vq *vq)
{
	if (!vq_begin(vq))
		return 0;
	if (vq->flags & VQ_F_PACKED)
		return vq_avail_packed(vq) + (vq->n_resubmit - vq->resubmit_pos);
	uint16_t idx = vle16_to_cpu(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));
	uint16_t count = (uint16_t)(idx - vq->last_avail);
	if (count > vq->size) {
		vq_fail(vq, VQ_ERR_AVAIL_IDX);
		return 0;
	}
	return count + (vq->n_resubmit - vq->resubmit_pos);
}

unsigned vq_pop_burst(struct vq *vq, struct vq_chain *chains, unsigned n,
		      struct vq_seg *segs, unsigned nsegs)
{
	unsigned got = 0, used = 0;

	if (unlikely(!vq_begin(vq) || nsegs < vq->size))
		return 0;
	if (vq->flags & VQ_F_PACKED) {
		got = vq_pop_packed(vq, chains, n, segs, nsegs);
		goto out;
	}

	/* Chains in flight at a migration source come first. */
	while (unlikely(vq->resubmit_pos < vq->n_resubmit) && got < n) {
		uint16_t head = vq->resubmit[vq->resubmit_pos];
		if (vq_walk(vq, head, &chains[got], segs + used, nsegs - used) != WALK_OK)
			goto out;
		vq->inflight[head].busy = 1; /* counted in n_inflight at load */
		vq->inflight[head].wlen = chains[got].wlen;
		vq->resubmit_pos++;
		used += chains[got++].nseg;
	}
	if (got == n)
		goto out;

	/* Acquire pairs with the driver's write barrier before it publishes
	 * avail->idx: the ring entries and descriptors it covers are visible
	 * to the reads below. */
	uint16_t avail_idx = vle16_to_cpu(__atomic_load_n(&vq->avail->idx,
							  __ATOMIC_ACQUIRE));
	uint16_t count = (uint16_t)(avail_idx - vq->last_avail);
	if (unlikely(count > vq->size)) {
		vq_fail(vq, VQ_ERR_AVAIL_IDX);
		goto out;
	}
	if (count > n - got)
		count = (uint16_t)(n - got);

	/* Locals: stores into chains[] and segs[] cannot alias them. */
	const struct dma_table *t = vq->tbl;
	const struct vq_desc *desc = vq->desc;
	struct vq_inflight *infl = vq->inflight;
	const vle16 *ring = vq->avail->ring;
	uint16_t last = vq->last_avail, mask = vq->mask, size = vq->size;
	unsigned popped = 0;

	/* The burst's descriptors were written on the driver's core: start
	 * all their misses before walking them one by one (a hint only: the
	 * walk below reads and checks every entry again). */
	for (uint16_t k = 0; k < count; k++) {
		uint16_t h = vle16_to_cpu(READ_ONCE(ring[(uint16_t)(last + k) & mask]));
		if (h < size)
			__builtin_prefetch(&desc[h]);
	}
	while (count--) {
		uint16_t head = vle16_to_cpu(READ_ONCE(ring[last & mask]));

		if (unlikely(head >= size)) {
			vq_fail(vq, VQ_ERR_HEAD_RANGE);
			break;
		}
		if (unlikely(infl[head].busy)) {
			vq_fail(vq, VQ_ERR_HEAD_BUSY);
			break;
		}
		struct vq_chain *c = &chains[got];
		const struct vq_desc *dp = &desc[head];
		uint16_t flags = vle16_to_cpu(READ_ONCE(dp->flags));
		/* Fast path: one direct descriptor inside one region. */
		if (likely((flags & ~VQ_DESC_F_WRITE) == 0 && used < nsegs) &&
		    likely(pop_direct(vq, t, c, &segs[used],
				      vle64_to_cpu(READ_ONCE(dp->addr)),
				      vle32_to_cpu(READ_ONCE(dp->len)),
				      flags & VQ_DESC_F_WRITE))) {
			c->head = head;
		} else if (vq_walk(vq, head, c, segs + used, nsegs - used) != WALK_OK) {
			break;
		}
		infl[head] = (struct vq_inflight){
			.avail_idx = last, .busy = 1, .wlen = c->wlen,
		};
		last++;
		popped++;
		used += c->nseg;
		got++;
	}
	vq->last_avail = last;
	vq->n_inflight += (uint16_t)popped;
	/* The chains popped from the avail ring are the burst's last ones
	 * (restored chains are in the region already). */
	if (unlikely(vq->ifl != NULL) && popped)
		ifl_record_split(vq, chains + got - popped, popped);
out:
	vq->n_popped += got;
	return got;
}

/* Mark used-ring entries [from, from+n) dirty (they may wrap). */
static void mark_used_entries(const struct vq *vq, uint16_t from, unsigned n)
{
	if (likely(vq->tbl->log_shift == 0) || n == 0)
		return;
	unsigned slot = from & vq->mask;
	unsigned first = vq->size - slot < n ? vq->size - slot : n;
	uint64_t base = vq->used_addr + offsetof(struct vq_used, ring);

	dma_mark_dirty(vq->tbl, base + slot * 8u, first * 8u);
	if (n > first)
		dma_mark_dirty(vq->tbl, base, (n - first) * 8u);
}

int vq_push_burst(struct vq *vq, const struct vq_done *done, unsigned n,
		  bool batch)
{
	unsigned i;

	if (unlikely(!vq_begin(vq)))
		return -EIO;
	if (n == 0)
		return 0;
	if (n > vq->n_inflight || (batch && !(vq->flags & VQ_F_IN_ORDER)))
		return -EINVAL;

	/* Validate every id first (busy 1 -> 2) so a bad burst writes
	 * nothing; undo the marks on failure. In order, the i-th completion
	 * must be the chain popped (done_seq + i)-th. */
	uint16_t done_seq = (vq->flags & VQ_F_PACKED) ? vq->pk_done : vq->used_idx;
	for (i = 0; i < n; i++) {
		uint32_t id = done[i].id;
		if (id >= vq->size || vq->inflight[id].busy != 1 ||
		    done[i].len > vq->inflight[id].wlen)
			break;
		/* 2.7.9: a batch's skipped chains count as fully written. */
		if (batch && i + 1 < n && done[i].len != vq->inflight[id].wlen)
			break;
		if ((vq->flags & VQ_F_IN_ORDER) &&
		    vq->inflight[id].avail_idx != (uint16_t)(done_seq + i))
			break;
		vq->inflight[id].busy = 2;
	}
	if (i < n) {
		while (i--)
			vq->inflight[done[i].id].busy = 1;
		return -EINVAL;
	}

	if (vq->flags & VQ_F_PACKED) {
		vq_push_packed(vq, done, n, batch);
		vq->n_inflight -= (uint16_t)n;
		vq->n_pushed += n;
		return 0;
	}
	uint16_t old = vq->used_idx;
	struct vq_used_elem *ring = vq->used->ring;
	if (unlikely(vq->ifl != NULL))
		ifl_used_begin_split(vq, done, n);
	if (batch) {
		const struct vq_done *d = &done[n - 1];
		/* virtio 1.3, 2.7.9: one entry, at the offset of the batch's
		 * first buffer, naming its last; the skipped buffers count as
		 * completely used. */
		struct vq_used_elem *e = &ring[old & vq->mask];
		e->id = cpu_to_vle32(d->id);
		e->len = cpu_to_vle32(d->len);
		mark_used_entries(vq, old, 1);
		for (i = 0; i < n; i++)
			vq->inflight[done[i].id].busy = 0;
	} else {
		for (i = 0; i < n; i++) {
			struct vq_used_elem *e = &ring[(old + i) & vq->mask];
			e->id = cpu_to_vle32(done[i].id);
			e->len = cpu_to_vle32(done[i].len);
			vq->inflight[done[i].id].busy = 0;
		}
		mark_used_entries(vq, old, n);
	}
	vq->n_inflight -= (uint16_t)n;

	uint16_t new_idx = (uint16_t)(old + n);
	vq->used_idx = new_idx;
	/* Release pairs with the driver's read barrier after it loads
	 * used->idx: the entries above, and the data written into the
	 * buffers before this call, are visible before the new index. */
	__atomic_store_n(&vq->used->idx, cpu_to_vle16(new_idx), __ATOMIC_RELEASE);
	dma_mark_dirty(vq->tbl, vq->used_addr + offsetof(struct vq_used, idx), 2);
	if (unlikely(vq->ifl != NULL))
		ifl_used_end_split(vq, done, n, new_idx);
	/* More than 2^15 completions since the last decision: the event
	 * window is ambiguous, so the next decision notifies. */
	if ((int16_t)(new_idx - vq->signalled_used) < (uint16_t)(new_idx - old))
		vq->signalled_valid = false;
	vq->n_pushed += n;
	return 0;
}

/* The copies of a vq_fill_burst, once its buffers are found: header and
 * data into each, dirty-marked. */
static void fill_copy(const struct dma_table *t, const struct vq_buf *b, unsigned n,
		      const void *hdr, uint32_t hdr_len, const void *const *data,
		      const uint32_t *len)
{
	for (unsigned i = 0; i < n; i++) {
		memcpy(b[i].va, hdr, hdr_len);
		memcpy(b[i].va + hdr_len, data[i], len[i]);
		dma_mark_dirty(t, b[i].iova, hdr_len + len[i]);
	}
}

/* A fill's used entries (packed: used descriptors but their flags),
 * written before its copies: the misses on their lines (the driver read
 * them a lap ago) then overlap the copies'. The driver reads none of them
 * before the index (packed: the flags) goes out after the copies, and the
 * completion writes them again, so a buffer lying over them cannot leave
 * them wrong. In-process A/B, device transmit, 256: split 1.011-1.027
 * times the frames in fast phases, 0.969-1.061 in slow ones; packed
 * 1.035-1.150 and 1.102 (README, the race). */
static void fill_entries(struct vq *vq, const struct vq_buf *b, unsigned n)
{
	if (vq->flags & VQ_F_PACKED) {
		for (unsigned k = 0; k < n; k++) {
			struct vq_pdesc *d = &vq->pdesc[b[k].pos];
			d->id = cpu_to_vle16(b[k].id);
			d->len = cpu_to_vle32(b[k].len);
		}
		return;
	}
	struct vq_used_elem *used = vq->used->ring;
	uint16_t old = vq->used_idx, mask = vq->mask;

	for (unsigned k = 0; k < n; k++) {
		struct vq_used_elem *e = &used[(uint16_t)(old + k) & mask];
		e->id = cpu_to_vle32(b[k].id);
		e->len = cpu_to_vle32(b[k].len);
	}
}

/* May a short way run: nothing in flight (so completions go in pop
 * order, where the buffers were), nothing recorded or to resubmit? */
static bool short_ok(struct vq *vq)
{
	return likely(vq_begin(vq)) && !vq->n_inflight && !vq->ifl &&
	       vq->resubmit_pos >= vq->n_resubmit;
}

/* The short ways on a split ring: up to n one-descriptor buffers at the
 * front, writable ones each taking lim[i] bytes (`write`) or readable
 * ones of at most lim[0] bytes. *rest: whether anything is left for the
 * general way (buffers not found, or an index it must judge). Inlined
 * where `write` is a constant, with the queue's fields in locals, as the
 * packed one (virtq_packed.c). */
static inline __attribute__((always_inline)) unsigned
short_find(struct vq *vq, struct vq_buf *b, unsigned n, const bool write,
	   const uint32_t *lim, bool *rest)
{
	/* Acquire pairs with the driver's write barrier before it publishes
	 * avail->idx, as in vq_pop_burst. */
	uint16_t avail_idx = vle16_to_cpu(__atomic_load_n(&vq->avail->idx,
							  __ATOMIC_ACQUIRE));
	uint16_t count = (uint16_t)(avail_idx - vq->last_avail), avail = count;
	*rest = true;
	if (count > vq->size)
		return 0; /* vq_pop_burst judges it */
	if (count > n)
		count = (uint16_t)n;
	if (count > VQ_SHORT_MAX)
		count = VQ_SHORT_MAX;

	const struct dma_table *t = vq->tbl;
	const struct vq_desc *desc = vq->desc;
	const vle16 *ring = vq->avail->ring;
	struct vq_inflight *ifl = vq->inflight;
	uint16_t last = vq->last_avail, mask = vq->mask, size = vq->size;
	uint16_t want = write ? VQ_DESC_F_WRITE : 0;
	struct vq_rgn g;
	unsigned i;

	vq_rgn_load(vq, t, write ? DMA_PROT_WRITE : DMA_PROT_READ, &g);
	/* The descriptors were written on the driver's core: start their
	 * misses first (a hint: each is read and checked below). */
	for (i = 0; i < count; i++) {
		uint16_t h = vle16_to_cpu(READ_ONCE(ring[(uint16_t)(last + i) & mask]));
		if (h < size)
			__builtin_prefetch(&desc[h]);
	}
	/* Find the buffers, asking for their lines as we go; each is marked
	 * in flight until its completion, so that one offered twice fails
	 * the queue as a pop would. */
	for (i = 0; i < count; i++) {
		uint16_t head = vle16_to_cpu(READ_ONCE(ring[(uint16_t)(last + i) & mask]));
		if (head >= size)
			break;
		if (unlikely(ifl[head].busy))
			return vq_short_busy(vq, b, i, rest);
		const struct vq_desc *dp = &desc[head];
		if (vle16_to_cpu(READ_ONCE(dp->flags)) != want ||
		    !vq_buf_find(vq, t, &g, vle64_to_cpu(READ_ONCE(dp->addr)),
				 vle32_to_cpu(READ_ONCE(dp->len)), write,
				 lim[write ? i : 0], head, 0, &b[i]))
			break;
		ifl[head].busy = 1;
	}
	*rest = i < avail;
	return i;
}

unsigned vq_short_busy(struct vq *vq, const struct vq_buf *b, unsigned n, bool *rest)
{
	for (unsigned k = 0; k < n; k++)
		vq->inflight[b[k].id].busy = 0;
	vq_fail(vq, VQ_ERR_HEAD_BUSY);
	*rest = false;
	return 0;
}

/* ... and their completion, in one go: the used entries (the bytes
 * written, or none), then the index. */
static inline __attribute__((always_inline)) void
short_done(struct vq *vq, const struct vq_buf *b, unsigned n, const bool write)
{
	struct vq_used_elem *used = vq->used->ring;
	struct vq_inflight *ifl = vq->inflight;
	uint16_t old = vq->used_idx, mask = vq->mask;

	for (unsigned k = 0; k < n; k++) {
		struct vq_used_elem *e = &used[(uint16_t)(old + k) & mask];
		e->id = cpu_to_vle32(b[k].id);
		e->len = cpu_to_vle32(write ? b[k].len : 0);
		ifl[b[k].id].busy = 0;
	}
	mark_used_entries(vq, old, n);
	vq->last_avail = (uint16_t)(vq->last_avail + n);
	uint16_t new_idx = (uint16_t)(old + n);
	vq->used_idx = new_idx;
	/* Release, as in vq_push_burst: the entries (and a fill's data)
	 * before the index. */
	__atomic_store_n(&vq->used->idx, cpu_to_vle16(new_idx), __ATOMIC_RELEASE);
	dma_mark_dirty(vq->tbl, vq->used_addr + offsetof(struct vq_used, idx), 2);
	if ((int16_t)(new_idx - vq->signalled_used) < (uint16_t)n)
		vq->signalled_valid = false;
}

/* Complete the n buffers a short way found (written into: `write`). */
static inline __attribute__((always_inline)) void
short_complete(struct vq *vq, const struct vq_buf *b, unsigned n, const bool write)
{
	if (vq->flags & VQ_F_PACKED)
		vq_short_done_packed(vq, b, n, write);
	else
		short_done(vq, b, n, write);
	vq->n_popped += n;
	vq->n_pushed += n;
	vq->n_short += n;
}

unsigned vq_fill_burst(struct vq *vq, const void *hdr, uint32_t hdr_len,
		       const void *const *data, const uint32_t *len, unsigned n)
{
	struct vq_buf b[VQ_SHORT_MAX];
	uint32_t need[VQ_SHORT_MAX];
	unsigned i;
	bool rest;

	if (!short_ok(vq) || n == 0)
		return 0;
	if (n > VQ_SHORT_MAX)
		n = VQ_SHORT_MAX;
	for (i = 0; i < n; i++)
		need[i] = hdr_len + len[i];
	i = vq->flags & VQ_F_PACKED ? vq_short_find_packed(vq, b, n, true, need, &rest) :
				      short_find(vq, b, n, true, need, &rest);
	if (!i)
		return 0;
	fill_entries(vq, b, i);
	fill_copy(vq->tbl, b, i, hdr, hdr_len, data, len);
	short_complete(vq, b, i, true);
	return i;
}

unsigned vq_take_burst(struct vq *vq, struct vq_buf *b, unsigned n, uint32_t max,
		       bool *rest)
{
	*rest = true;
	if (!short_ok(vq) || n == 0)
		return 0;
	if (n > VQ_SHORT_MAX)
		n = VQ_SHORT_MAX;
	return vq->flags & VQ_F_PACKED ? vq_short_find_packed(vq, b, n, false, &max, rest) :
					 short_find(vq, b, n, false, &max, rest);
}

void vq_take_done(struct vq *vq, const struct vq_buf *b, unsigned n)
{
	if (n)
		short_complete(vq, b, n, false);
}

bool vq_should_notify(struct vq *vq)
{
	bool notify;

	if (unlikely(!vq_begin(vq)))
		return false;
	if (vq->signalled_valid && vq->signalled_used == vq->used_idx)
		return false; /* nothing completed since the last decision */
	if (vq->flags & VQ_F_PACKED) {
		notify = vq_should_notify_packed(vq);
		goto out;
	}

	/* Full fence: our used->idx store must be visible before we read the
	 * driver's suppression state. Pairs with the driver's full barrier
	 * between re-enabling interrupts (flags / used_event) and re-reading
	 * used->idx; without it both sides could miss each other. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->flags & VQ_F_EVENT_IDX) {
		uint16_t ev = vle16_to_cpu(READ_ONCE(*used_event(vq)));
		notify = !vq->signalled_valid ||
			 vq_need_event(ev, vq->used_idx, vq->signalled_used);
	} else {
		notify = !(vle16_to_cpu(READ_ONCE(vq->avail->flags)) &
			   VQ_AVAIL_F_NO_INTERRUPT);
	}
out:
	vq->signalled_used = vq->used_idx;
	vq->signalled_valid = true;
	if (notify)
		vq->n_notify++;
	else
		vq->n_notify_suppressed++;
	return notify;
}

void vq_notify_disable(struct vq *vq)
{
	if (!vq_begin(vq))
		return;
	if (vq->flags & VQ_F_PACKED) {
		vq_notify_disable_packed(vq);
		return;
	}
	/* With EVENT_IDX, leaving avail_event behind suppresses kicks. */
	if (vq->flags & VQ_F_EVENT_IDX)
		return;
	WRITE_ONCE(vq->used->flags, cpu_to_vle16(VQ_USED_F_NO_NOTIFY));
	dma_mark_dirty(vq->tbl, vq->used_addr, 2);
}

bool vq_notify_enable(struct vq *vq)
{
	if (!vq_begin(vq))
		return false;
	if (vq->flags & VQ_F_PACKED)
		return vq_notify_enable_packed(vq) ||
		       vq->resubmit_pos < vq->n_resubmit;
	if (vq->flags & VQ_F_EVENT_IDX) {
		WRITE_ONCE(*avail_event(vq), cpu_to_vle16(vq->last_avail));
		dma_mark_dirty(vq->tbl, vq->used_addr + vq_used_bytes(vq->size) - 2, 2);
	} else {
		WRITE_ONCE(vq->used->flags, 0);
		dma_mark_dirty(vq->tbl, vq->used_addr, 2);
	}
	/* Full fence: the re-armed state must be visible before we re-read
	 * avail->idx. Pairs with the driver's full barrier between publishing
	 * avail->idx and reading used->flags / avail_event. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vle16_to_cpu(READ_ONCE(vq->avail->idx)) != vq->last_avail ||
	       vq->resubmit_pos < vq->n_resubmit;
}

uint32_t vq_chain_copy(const struct vq *vq, const struct vq_chain *c,
		       bool to_chain, uint32_t off, void *buf, uint32_t len)
{
	unsigned i = to_chain ? c->nread : 0;
	unsigned end = to_chain ? c->nseg : c->nread;
	/* The chain may be older than the lcore's last quiescent state: its
	 * pointers are only good while the table it was walked in is live. */
	const struct dma_table *t = dma_space_table(vq->dma);
	bool fast = t->gen == c->gen;
	uint8_t *p = buf;
	uint32_t done = 0;

	for (; i < end && done < len; i++) {
		const struct vq_seg *s = &c->seg[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		uint32_t n = s->len - off;
		if (n > len - done)
			n = len - done;
		if (to_chain) {
			if (likely(fast && s->va != NULL)) {
				memcpy((uint8_t *)s->va + off, p + done, n);
				dma_mark_dirty(t, s->iova + off, n);
			} else if (dma_write(t, s->iova + off, p + done, n)) {
				break;
			}
		} else {
			if (likely(fast && s->va != NULL))
				memcpy(p + done, (uint8_t *)s->va + off, n);
			else if (dma_read(t, s->iova + off, p + done, n))
				break;
		}
		done += n;
		off = 0;
	}
	return done;
}

static int by_age_desc(const void *a, const void *b, void *arg)
{
	const struct vq *vq = arg;
	uint16_t age_a = (uint16_t)(vq->last_avail - vq->inflight[*(const uint16_t *)a].avail_idx);
	uint16_t age_b = (uint16_t)(vq->last_avail - vq->inflight[*(const uint16_t *)b].avail_idx);

	return (int)age_b - (int)age_a;
}

int vq_save(const struct vq *vq, struct vq_state *st)
{
	uint16_t n = 0;

	/* A packed chain's descriptors may be overwritten by used ones while
	 * it is in flight, so it could not be walked again at the
	 * destination: drain before saving (migration will carry them). */
	if ((vq->flags & VQ_F_PACKED) && vq->n_inflight)
		return -EBUSY;

	st->size = vq->size;
	st->enabled = vq->enabled;
	st->vector = vq->vector;
	st->last_avail_idx = vq->last_avail;
	st->last_used_idx = vq->used_idx;
	st->flags = vq->flags;
	st->desc_addr = vq->desc_addr;
	st->avail_addr = vq->avail_addr;
	st->used_addr = vq->used_addr;
	/* Every head in flight, popped or restored-not-yet-popped, oldest
	 * first (restored heads carry their ages from vq_load). */
	for (uint32_t h = 0; h < vq->size; h++)
		if (vq->inflight[h].busy)
			st->inflight[n++] = (uint16_t)h;
	qsort_r(st->inflight, n, sizeof(uint16_t), by_age_desc, (void *)vq);
	st->n_inflight = n;
	return 0;
}

int vq_load(struct vq *vq, struct dma_space *dma, const struct vq_state *st,
	    const char *name)
{
	uint8_t *seen;
	int rc;

	if (!size_ok(st->size, st->flags) || st->n_inflight > st->size || st->enabled > 1)
		return -EINVAL;
	if (st->flags & VQ_F_PACKED) {
		/* Nothing in flight: every descriptor popped has been used. */
		if (st->n_inflight || st->last_avail_idx != st->last_used_idx ||
		    st->last_avail_idx >= 2u * st->size)
			return -EINVAL;
	} else if ((uint16_t)(st->last_avail_idx - st->last_used_idx) != st->n_inflight) {
		return -EINVAL;
	}
	seen = calloc(st->size / 8 + 1, 1);
	if (!seen)
		return -ENOMEM;
	for (uint16_t i = 0; i < st->n_inflight; i++) {
		uint16_t h = st->inflight[i];
		if (h >= st->size || (seen[h / 8] & (1u << (h % 8)))) {
			free(seen);
			return -EINVAL;
		}
		seen[h / 8] |= (uint8_t)(1u << (h % 8));
	}
	free(seen);
	rc = vq_setup(vq, dma, st->size, st->desc_addr, st->avail_addr,
		      st->used_addr, st->flags, name);
	if (rc)
		return rc;
	vq->enabled = st->enabled != 0;
	vq->vector = st->vector;
	vq->last_avail = st->last_avail_idx;
	vq->used_idx = st->last_used_idx;
	/* The source may owe the driver an interrupt: decide afresh. */
	vq->signalled_used = st->last_used_idx;
	vq->signalled_valid = false;
	vq_restore(vq, st->inflight, st->n_inflight, st->last_used_idx);
	return 0;
}

void vq_restore(struct vq *vq, const uint16_t *ids, uint16_t n, uint16_t seq)
{
	memmove(vq->resubmit, ids, n * sizeof(uint16_t));
	vq->n_resubmit = n;
	vq->resubmit_pos = 0;
	vq->n_inflight = n;
	for (uint16_t i = 0; i < n; i++) {
		/* Busy (restored): only a re-pop makes it completable. */
		vq->inflight[vq->resubmit[i]].busy = 3;
		vq->inflight[vq->resubmit[i]].avail_idx = (uint16_t)(seq + i);
	}
}

/* ---- in-flight recording: attaching and recovery ------------------------ */

void vq_ifl_bad(const struct vq *vq, const char *why)
{
	HAL_LOG_RL(HAL_LOG_WARN, COMP,
		   "%s: in-flight region: %s: started afresh, nothing resubmitted",
		   vq->name ? vq->name : "?", why);
}

static int by_counter(const void *a, const void *b)
{
	const struct vq_ifl_key *x = a, *y = b;

	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	return (int)x->idx - (int)y->idx; /* equal counters: a garbage region */
}

uint64_t vq_ifl_sort(struct vq_ifl_key *k, uint16_t n)
{
	qsort(k, n, sizeof(*k), by_counter);
	return n ? k[n - 1].counter + 1 : 0;
}

/* A fresh area at the queue's position: nothing in flight. */
static void ifl_init_split(struct vq *vq)
{
	struct vq_ifl *f = vq->ifl;
	struct vq_ifl_split *r = f->split;

	/* Version 0 first, and a release fence: a stop halfway leaves an
	 * area that reads as fresh, never a half-cleared one as valid. */
	WRITE_ONCE(r->version, 0);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (uint32_t i = 0; i < vq->size; i++) {
		WRITE_ONCE(r->desc[i].inflight, 0);
		WRITE_ONCE(r->desc[i].next, 0);
		WRITE_ONCE(r->desc[i].counter, 0);
	}
	WRITE_ONCE(r->features, 0);
	WRITE_ONCE(r->desc_num, vq->size);
	WRITE_ONCE(r->last_batch_head, 0);
	WRITE_ONCE(r->used_idx, vq->used_idx);
	/* Release: the area is whole before its version says so; pairs with
	 * the acquire load of version in ifl_attach_split. */
	__atomic_store_n(&r->version, VQ_IFL_VERSION, __ATOMIC_RELEASE);
	f->counter = 0;
	f->last_batch_head = 0;
}

/* One head's state, read once. */
struct ifl_split_snap {
	uint64_t counter;
	uint16_t next;
	uint8_t inflight;
	uint8_t clear; /* in the last batch: cleared by the recovery */
};

/*
 * "When reconnecting" (split). The queue was loaded at the used ring's
 * idx. Every field is read once into a snapshot and checked there; the
 * front end may change the area meanwhile, which changes only what the
 * snapshot holds. Returns the chains to resubmit, or -ENOMEM.
 *
 * Left open by the rst, decided here: the device resumes popping the
 * avail ring at used->idx plus the number of heads in flight (every
 * completion took one used index, every head in flight one avail entry,
 * so that is where the previous back end stopped; a head popped but not
 * yet recorded when it died is the last one popped, and is popped again
 * from the ring). Garbage is refused rather than guessed at: an inflight
 * flag other than 0 or 1, a counter beyond 2^63, a batch longer than the
 * queue or a list leaving it, more heads in flight than the avail ring
 * offered.
 */
static int ifl_attach_split(struct vq *vq, struct vq_ifl *f)
{
	struct vq_ifl_split *r = f->split;
	uint16_t size = vq->size, used = vq->used_idx, n = 0;
	struct ifl_split_snap *s = NULL;
	struct vq_ifl_key *k = NULL;
	const char *why = NULL;
	uint16_t lbh = READ_ONCE(r->last_batch_head);
	/* Acquire pairs with the release store of used_idx in
	 * ifl_used_end_split: every batch before it is clear. */
	uint16_t ru = __atomic_load_n(&r->used_idx, __ATOMIC_ACQUIRE);
	uint16_t batch = (uint16_t)(used - ru);

	if (batch > size) {
		why = "used_idx more than a queue away from the used ring's idx";
		goto bad;
	}
	s = malloc(size * sizeof(*s));
	k = malloc(size * sizeof(*k));
	if (!s || !k) {
		free(s);
		free(k);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < size; i++) {
		/* Acquire pairs with the release store of inflight in
		 * ifl_record_split: the counter read next is the one recorded
		 * with it. */
		s[i].inflight = __atomic_load_n(&r->desc[i].inflight, __ATOMIC_ACQUIRE);
		s[i].next = READ_ONCE(r->desc[i].next);
		s[i].counter = READ_ONCE(r->desc[i].counter);
		s[i].clear = 0;
		if (s[i].inflight > 1) {
			why = "an inflight flag neither 0 nor 1";
			goto bad;
		}
		if (s[i].inflight && s[i].counter > VQ_IFL_COUNTER_MAX) {
			why = "a counter beyond 2^63";
			goto bad;
		}
	}
	/* Step 1: used->idx is past used_idx: the last batch reached the
	 * driver, its heads may still read in flight. The list from
	 * last_batch_head has one entry per used index in between. */
	for (uint16_t j = 0, h = lbh; j < batch; j++) {
		if (h >= size) {
			why = "last batch list leaves the queue";
			goto bad;
		}
		s[h].inflight = 0;
		s[h].clear = 1;
		h = s[h].next;
	}
	/* Step 2: the rest, oldest first. */
	for (uint32_t i = 0; i < size; i++)
		if (s[i].inflight)
			k[n++] = (struct vq_ifl_key){ s[i].counter, (uint16_t)i };
	if (n) {
		/* Each was made available after used->idx: the avail ring
		 * must hold them (else the pop would find the ring broken). */
		const vle16 *ai = dma_ptr(dma_space_table(vq->dma),
					  vq->avail_addr + offsetof(struct vq_avail, idx),
					  2, DMA_PROT_READ);
		if (ai && (uint16_t)(vle16_to_cpu(__atomic_load_n(ai, __ATOMIC_ACQUIRE)) -
				     used) < n) {
			why = "more heads in flight than the avail ring offered";
			goto bad;
		}
	}
	f->counter = vq_ifl_sort(k, n);
	f->last_batch_head = lbh < size ? lbh : 0;
	/* Write back what step 1 changed: the batch's heads, then used_idx
	 * (a stop in between: the next recovery redoes it). */
	for (uint32_t i = 0; i < size; i++)
		if (s[i].clear)
			WRITE_ONCE(r->desc[i].inflight, 0);
	/* Release: as in ifl_used_end_split, pairs with the acquire load of
	 * used_idx above in the next recovery. */
	__atomic_store_n(&r->used_idx, used, __ATOMIC_RELEASE);
	for (uint16_t i = 0; i < n; i++)
		vq->resubmit[i] = k[i].idx;
	vq_restore(vq, vq->resubmit, n, used);
	vq->last_avail = (uint16_t)(used + n);
	free(s);
	free(k);
	return n;
bad:
	free(s);
	free(k);
	vq_ifl_bad(vq, why);
	ifl_init_split(vq);
	return 0;
}

static void ifl_init(struct vq *vq)
{
	if (vq->flags & VQ_F_PACKED)
		vq_ifl_init_packed(vq);
	else
		ifl_init_split(vq);
}

int vq_inflight_attach(struct vq *vq, void *area, size_t len)
{
	bool pk = vq->flags & VQ_F_PACKED;
	struct vq_ifl *f;
	int rc;

	if (!vq->inflight || vq->ifl || !area || ((uintptr_t)area & 7) ||
	    len < vq_inflight_bytes(vq->size, pk))
		return -EINVAL;
	if (vq->n_inflight || vq->n_resubmit)
		return -EBUSY;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->split = area;
	if (pk) {
		f->next = calloc(vq->size, sizeof(*f->next));
		f->last = calloc(vq->size, sizeof(*f->last));
		f->entry = calloc(vq->size, sizeof(*f->entry));
		f->rec = calloc(vq->size, sizeof(*f->rec));
		f->saved = calloc(vq->size, sizeof(*f->saved));
		if (!f->next || !f->last || !f->entry || !f->rec || !f->saved) {
			ifl_free(f);
			return -ENOMEM;
		}
	}
	vq->ifl = f;
	/* The header fields both layouts share, at the same offsets. Acquire
	 * pairs with the release store of version in ifl_init_split /
	 * vq_ifl_init_packed. */
	uint16_t version = __atomic_load_n(&f->split->version, __ATOMIC_ACQUIRE);
	uint16_t desc_num = READ_ONCE(f->split->desc_num);
	if (version == 0) { /* fresh */
		ifl_init(vq);
		return 0;
	}
	if (version != VQ_IFL_VERSION) {
		vq_ifl_bad(vq, "unknown version");
		ifl_init(vq);
		return 0;
	}
	if (desc_num != vq->size) {
		/* Not garbage, as a rule: DPDK and libvhost-user write the
		 * INFLIGHT_FD message's queue size, larger than the ring when
		 * the driver chose a smaller one. Its chains are not ours to
		 * read either way. */
		HAL_LOG_RL(HAL_LOG_WARN, COMP,
			   "%s: in-flight region: desc_num %u != ring size %u: written by a back end "
			   "for another ring size; starting without resubmitting",
			   vq->name ? vq->name : "?", desc_num, vq->size);
		ifl_init(vq);
		return 0;
	}
	rc = pk ? vq_ifl_attach_packed(vq, f) : ifl_attach_split(vq, f);
	if (rc < 0) {
		vq->ifl = NULL;
		ifl_free(f);
	}
	return rc;
}
