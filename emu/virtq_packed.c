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

/*
 * Walk the list that starts at ring counter `ctr` (its first descriptor's
 * flags already read as `flags0`). On success *id is the buffer id (from
 * the list's last descriptor) and *ndesc the ring descriptors it took.
 */
static enum walk_result_p vq_walk_packed(struct vq *vq, uint16_t ctr,
					 uint16_t flags0, struct vq_chain *c,
					 struct vq_seg *seg, unsigned cap,
					 uint16_t *id, uint16_t *ndesc)
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
		if (flags & VQ_DESC_F_INDIRECT) {
			/* 2.8.13: never in a NEXT list, and one table only. */
			if (nd > 1 || (flags & VQ_DESC_F_NEXT))
				return pwalk_result(vq, VQ_ERR_INDIRECT_NEXT);
			const void *tp;
			uint32_t n;
			err = walk_indirect(vq, &w, addr, len, &tp, &n);
			if (err)
				return pwalk_result(vq, err);
			const struct vq_pdesc *tab = tp;
			for (uint32_t i = 0; i < n; i++) {
				/* Only WRITE is valid in a table (2.8.8) and the
				 * spec has the device ignore the rest; we ignore
				 * all but INDIRECT, which we refuse as the split
				 * ring does: a driver that nests tables is broken. */
				uint16_t f = vle16_to_cpu(READ_ONCE(tab[i].flags));
				if (f & VQ_DESC_F_INDIRECT)
					return pwalk_result(vq, VQ_ERR_INDIRECT_NESTED);
				err = walk_seg(vq, &w, vle64_to_cpu(READ_ONCE(tab[i].addr)),
					       vle32_to_cpu(READ_ONCE(tab[i].len)),
					       f & VQ_DESC_F_WRITE);
				if (err)
					return pwalk_result(vq, err);
			}
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

unsigned vq_pop_packed(struct vq *vq, struct vq_chain *chains, unsigned n,
		       struct vq_seg *segs, unsigned nsegs)
{
	unsigned got = 0, used = 0;
	uint16_t ctr = vq->last_avail, size = vq->size;

	while (got < n) {
		struct vq_pdesc *dp = &vq->pdesc[vq_ctr_pos(ctr, size)];
		/* Acquire pairs with the driver's write barrier before it sets
		 * the first descriptor's flags: the list is visible after. */
		uint16_t flags = vle16_to_cpu(__atomic_load_n(&dp->flags,
							      __ATOMIC_ACQUIRE));
		if (!pdesc_avail(flags, vq_ctr_wrap(ctr, size)))
			break;
		struct vq_chain *c = &chains[got];
		uint16_t id, nd;
		enum walk_result_p r = vq_walk_packed(vq, ctr, flags, c, segs + used,
						      nsegs - used, &id, &nd);
		if (r != PW_OK)
			break;
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
		vq->pk_slots += nd;
		vq->n_inflight++;
		ctr = vq_ctr_add(ctr, nd, size);
		used += c->nseg;
		got++;
	}
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
