/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_vq.h"

#define READ_ONCE(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

static int alloc_zeroed(struct sim_hostmem *m, uint64_t len, uint64_t align,
			uint64_t *iova, void **va)
{
	int rc = sim_hostmem_alloc(m, len, align, iova);

	if (rc)
		return rc;
	*va = sim_hostmem_va(m, *iova, len);
	memset(*va, 0, len);
	return 0;
}

int sim_vq_init(struct sim_vq *q, struct sim_hostmem *mem, uint16_t size,
		uint32_t flags, uint16_t max_indirect)
{
	void *va;
	int rc;

	memset(q, 0, sizeof(*q));
	bool packed = flags & VQ_F_PACKED;
	if (!size || size > VQ_MAX_SIZE || (!packed && (size & (size - 1))))
		return -EINVAL;
	q->mem = mem;
	q->size = size;
	q->mask = size - 1;
	q->flags = flags;
	q->max_indirect = max_indirect;
	/* Packed: descriptor ring, driver area, device area. */
	if ((rc = alloc_zeroed(mem, vq_desc_bytes(size), 4096, &q->desc_iova, &va)))
		return rc;
	q->desc = va;
	if ((rc = alloc_zeroed(mem, packed ? sizeof(struct vq_event) : vq_avail_bytes(size),
			       64, &q->avail_iova, &va)))
		return rc;
	q->avail = va;
	if ((rc = alloc_zeroed(mem, packed ? sizeof(struct vq_event) : vq_used_bytes(size),
			       packed ? 64 : 4096, &q->used_iova, &va)))
		return rc;
	q->used = va;
	if (max_indirect) {
		rc = alloc_zeroed(mem, (uint64_t)size * max_indirect * 16, 64,
				  &q->indir_iova, &va);
		if (rc)
			return rc;
		q->indir = va;
	}
	q->next_free = calloc(size, sizeof(*q->next_free));
	q->slot = calloc(size, sizeof(*q->slot));
	q->order = packed ? calloc(size, sizeof(*q->order)) : NULL;
	if (!q->next_free || !q->slot || (packed && !q->order)) {
		sim_vq_fini(q);
		return -ENOMEM;
	}
	for (uint16_t i = 0; i < size; i++)
		q->next_free[i] = (uint16_t)((i + 1u) % size);
	q->num_free = size;
	return 0;
}

void sim_vq_fini(struct sim_vq *q)
{
	free(q->next_free);
	free(q->slot);
	free(q->order);
	q->next_free = NULL;
	q->slot = NULL;
	q->order = NULL;
}

static void fill(struct vq_desc *d, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	d->addr = cpu_to_vle64(addr);
	d->len = cpu_to_vle32(len);
	d->flags = cpu_to_vle16(flags);
	d->next = cpu_to_vle16(next);
}

/* The descriptor after d in the free list; in order, simply the next one
 * in ring order (virtio 1.3, 2.7.5). */
static inline uint16_t next_free(const struct sim_vq *q, uint16_t d)
{
	return (q->flags & VQ_F_IN_ORDER) ? (uint16_t)((d + 1) & q->mask)
					  : q->next_free[d];
}

/* ---- packed ring ------------------------------------------------------ */

static uint16_t pflags(const struct sim_vq *q, uint16_t ctr, uint16_t f)
{
	/* 2.8.1: AVAIL = the wrap counter, USED = its inverse. */
	return f | (vq_ctr_wrap(ctr, q->size) ? VQ_PDESC_F_AVAIL : VQ_PDESC_F_USED);
}

static void pfill(struct vq_pdesc *d, uint64_t addr, uint32_t len, uint16_t id)
{
	d->addr = cpu_to_vle64(addr);
	d->len = cpu_to_vle32(len);
	d->id = cpu_to_vle16(id);
}

static int add_packed(struct sim_vq *q, const struct sim_buf *out,
		      unsigned nout, const struct sim_buf *in, unsigned nin,
		      void *token, bool indirect)
{
	unsigned n = nout + nin, nring = indirect ? 1 : n;
	uint16_t ctr = q->avail_idx, id = q->free_head, head_flags;
	uint32_t wlen = 0;

	if (indirect && n > q->max_indirect)
		return -EINVAL;
	if (q->num_free < nring)
		return -ENOSPC;
	for (unsigned i = 0; i < nin; i++)
		wlen += in[i].len;
	if (indirect) {
		struct vq_pdesc *tab = &q->pindir[(size_t)id * q->max_indirect];
		for (unsigned i = 0; i < n; i++) {
			const struct sim_buf *b = i < nout ? &out[i] : &in[i - nout];
			pfill(&tab[i], b->iova, b->len, 0);
			/* 2.8.8: WRITE is the only flag valid in a table. */
			tab[i].flags = cpu_to_vle16(i < nout ? 0 : VQ_DESC_F_WRITE);
		}
		pfill(&q->pdesc[vq_ctr_pos(ctr, q->size)],
		      q->indir_iova + (uint64_t)id * q->max_indirect * 16, n * 16, id);
		head_flags = pflags(q, ctr, VQ_DESC_F_INDIRECT);
	} else {
		head_flags = 0;
		for (unsigned i = 0; i < n; i++) {
			const struct sim_buf *b = i < nout ? &out[i] : &in[i - nout];
			uint16_t c = vq_ctr_add(ctr, i, q->size);
			uint16_t f = pflags(q, c, (i < nout ? 0 : VQ_DESC_F_WRITE) |
					       (i + 1 < n ? VQ_DESC_F_NEXT : 0));
			struct vq_pdesc *d = &q->pdesc[vq_ctr_pos(c, q->size)];
			pfill(d, b->iova, b->len, id); /* id matters in the last */
			if (i == 0)
				head_flags = f;
			else
				WRITE_ONCE(d->flags, cpu_to_vle16(f));
		}
	}
	/* The list's first descriptor goes last (2.8.6); the batch's first
	 * list waits for sim_vq_publish, the others are covered by it. */
	if (!q->pend) {
		q->pend = true;
		q->pend_ctr = ctr;
		q->pend_flags = head_flags;
	} else {
		WRITE_ONCE(q->pdesc[vq_ctr_pos(ctr, q->size)].flags,
			   cpu_to_vle16(head_flags));
	}
	q->free_head = q->next_free[id];
	q->slot[id] = (struct sim_vq_slot){ token, (uint16_t)nring, 0, wlen };
	if (q->flags & VQ_F_IN_ORDER) {
		q->order[q->ord_tail] = id;
		q->ord_tail = (uint16_t)((q->ord_tail + 1u) % q->size);
		q->ord_n++;
	}
	q->num_free -= (uint16_t)nring;
	q->avail_idx = vq_ctr_add(ctr, nring, q->size);
	return 0;
}

static bool publish_packed(struct sim_vq *q)
{
	uint16_t old = q->kick_old, new_ctr = q->avail_idx;
	bool kick;

	if (!q->pend)
		return false;
	/* Release pairs with the device's acquire read of these flags: the
	 * whole batch is written before its first descriptor is available. */
	__atomic_store_n(&q->pdesc[vq_ctr_pos(q->pend_ctr, q->size)].flags,
			 cpu_to_vle16(q->pend_flags), __ATOMIC_RELEASE);
	q->pend = false;
	/* Full fence: available before we read the device event suppression;
	 * pairs with the fence in vq_notify_enable_packed(). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t f = vle16_to_cpu(READ_ONCE(q->device_event->flags)) & 3;
	if (f == VQ_EVENT_DISABLE)
		kick = false;
	else if (f == VQ_EVENT_DESC && (q->flags & VQ_F_EVENT_IDX))
		kick = vq_need_event_packed(
			vq_event_ctr(vle16_to_cpu(READ_ONCE(q->device_event->off_wrap)), q->size),
			new_ctr, old, q->size);
	else
		kick = true;
	q->kick_old = new_ctr;
	if (kick)
		q->n_kicks++;
	else
		q->n_kicks_suppressed++;
	return kick;
}

static void rearm_packed(struct sim_vq *q)
{
	if (q->cb_disabled || !(q->flags & VQ_F_EVENT_IDX))
		return;
	uint16_t ow = vq_ctr_pos(q->last_used, q->size) |
		      (vq_ctr_wrap(q->last_used, q->size) ? 0x8000 : 0);
	WRITE_ONCE(q->driver_event->off_wrap, cpu_to_vle16(ow));
	/* Full fence: pairs with the fence in vq_should_notify_packed(). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void *take_packed(struct sim_vq *q, uint16_t id, uint32_t *len, uint32_t l)
{
	struct sim_vq_slot *s = &q->slot[id];
	void *token = s->token;

	*len = l;
	s->token = NULL;
	q->num_free += s->ndesc;
	q->next_free[id] = q->free_head;
	q->free_head = id;
	return token;
}

static void *get_used_packed(struct sim_vq *q, uint32_t *len, bool *bad)
{
	if (q->batch_left == 0) {
		uint16_t ctr = q->last_used, pos = vq_ctr_pos(ctr, q->size);
		bool wrap = vq_ctr_wrap(ctr, q->size);
		/* Acquire pairs with the device's release of these flags. */
		uint16_t f = vle16_to_cpu(__atomic_load_n(&q->pdesc[pos].flags,
							  __ATOMIC_ACQUIRE));
		if (!!(f & VQ_PDESC_F_USED) != wrap || !!(f & VQ_PDESC_F_AVAIL) != wrap)
			return NULL;
		uint16_t id = vle16_to_cpu(READ_ONCE(q->pdesc[pos].id));
		/* 2.8.4: len counts only when the device set WRITE. */
		uint32_t l = (f & VQ_DESC_F_WRITE) ?
			     vle32_to_cpu(READ_ONCE(q->pdesc[pos].len)) : 0;
		if (id >= q->size || !q->slot[id].token || l > q->slot[id].wlen)
			goto bad;
		if (!(q->flags & VQ_F_IN_ORDER)) {
			q->last_used = vq_ctr_add(ctr, q->slot[id].ndesc, q->size);
			void *t = take_packed(q, id, len, l);
			rearm_packed(q);
			return t;
		}
		/* In order: the batch runs from our oldest buffer to `id`. */
		uint32_t slots = 0;
		uint16_t n = 0, k = q->ord_head;
		for (;;) {
			if (n == q->ord_n)
				goto bad; /* id is not outstanding */
			slots += q->slot[q->order[k]].ndesc;
			n++;
			if (q->order[k] == id)
				break;
			k = (uint16_t)((k + 1u) % q->size);
		}
		q->batch_left = n;
		q->batch_len = l;
		q->last_used = vq_ctr_add(ctr, slots, q->size);
	}
	uint16_t id = q->order[q->ord_head];
	q->ord_head = (uint16_t)((q->ord_head + 1u) % q->size);
	q->ord_n--;
	void *t = take_packed(q, id, len, q->batch_left == 1 ? q->batch_len : q->slot[id].wlen);
	if (--q->batch_left == 0)
		rearm_packed(q);
	return t;
bad:
	*bad = true;
	return NULL;
}

static bool enable_cb_packed(struct sim_vq *q)
{
	if (q->flags & VQ_F_EVENT_IDX) {
		uint16_t ow = vq_ctr_pos(q->last_used, q->size) |
			      (vq_ctr_wrap(q->last_used, q->size) ? 0x8000 : 0);
		WRITE_ONCE(q->driver_event->off_wrap, cpu_to_vle16(ow));
		WRITE_ONCE(q->driver_event->flags, cpu_to_vle16(VQ_EVENT_DESC));
	} else {
		WRITE_ONCE(q->driver_event->flags, cpu_to_vle16(VQ_EVENT_ENABLE));
	}
	/* Full fence: pairs with the fence in vq_should_notify_packed(). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->batch_left)
		return true;
	uint16_t pos = vq_ctr_pos(q->last_used, q->size);
	uint16_t f = vle16_to_cpu(READ_ONCE(q->pdesc[pos].flags));
	bool wrap = vq_ctr_wrap(q->last_used, q->size);
	return !!(f & VQ_PDESC_F_USED) == wrap && !!(f & VQ_PDESC_F_AVAIL) == wrap;
}

/* ---- both ------------------------------------------------------------- */

int sim_vq_add(struct sim_vq *q, const struct sim_buf *out, unsigned nout,
	       const struct sim_buf *in, unsigned nin, void *token,
	       bool indirect)
{
	unsigned n = nout + nin;
	uint16_t head = q->free_head, d = head, last = head;
	uint32_t wlen = 0;

	if (n == 0 || !token || n > q->size)
		return -EINVAL;
	if (q->flags & VQ_F_PACKED)
		return add_packed(q, out, nout, in, nin, token, indirect);
	for (unsigned i = 0; i < nin; i++)
		wlen += in[i].len;
	if (indirect) {
		if (n > q->max_indirect)
			return -EINVAL;
		if (q->num_free < 1)
			return -ENOSPC;
		struct vq_desc *tab = &q->indir[(size_t)head * q->max_indirect];
		for (unsigned i = 0; i < n; i++) {
			const struct sim_buf *b = i < nout ? &out[i] : &in[i - nout];
			uint16_t f = (i < nout ? 0 : VQ_DESC_F_WRITE) |
				     (i + 1 < n ? VQ_DESC_F_NEXT : 0);
			fill(&tab[i], b->iova, b->len, f, (uint16_t)(i + 1 < n ? i + 1 : 0));
		}
		fill(&q->desc[head],
		     q->indir_iova + (uint64_t)head * q->max_indirect * 16,
		     n * 16, VQ_DESC_F_INDIRECT, 0);
		q->free_head = next_free(q, head);
		q->num_free--;
		q->slot[head] = (struct sim_vq_slot){ token, 1, head, wlen };
	} else {
		if (q->num_free < n)
			return -ENOSPC;
		for (unsigned i = 0; i < n; i++) {
			const struct sim_buf *b = i < nout ? &out[i] : &in[i - nout];
			uint16_t nx = next_free(q, d);
			uint16_t f = (i < nout ? 0 : VQ_DESC_F_WRITE) |
				     (i + 1 < n ? VQ_DESC_F_NEXT : 0);
			fill(&q->desc[d], b->iova, b->len, f, i + 1 < n ? nx : 0);
			last = d;
			d = nx;
		}
		q->free_head = d;
		q->num_free -= (uint16_t)n;
		q->slot[head] = (struct sim_vq_slot){ token, (uint16_t)n, last, wlen };
	}
	q->avail->ring[q->avail_idx & q->mask] = cpu_to_vle16(head);
	q->avail_idx++;
	return 0;
}

bool sim_vq_publish(struct sim_vq *q)
{
	if (q->flags & VQ_F_PACKED)
		return publish_packed(q);
	uint16_t old = q->kick_old, new_idx = q->avail_idx;
	bool kick;

	if (old == new_idx)
		return false;
	/* Release pairs with the device's acquire load of avail->idx: the
	 * descriptors and ring entries are visible before the index. */
	__atomic_store_n(&q->avail->idx, cpu_to_vle16(new_idx), __ATOMIC_RELEASE);
	/* Full fence: the index must be visible before we read the device's
	 * suppression state; pairs with the fence in vq_notify_enable(). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->flags & VQ_F_EVENT_IDX) {
		uint16_t ev = vle16_to_cpu(READ_ONCE(*vq_avail_event_ptr(q->used, q->size)));
		kick = vq_need_event(ev, new_idx, old);
	} else {
		kick = !(vle16_to_cpu(READ_ONCE(q->used->flags)) & VQ_USED_F_NO_NOTIFY);
	}
	q->kick_old = new_idx;
	if (kick)
		q->n_kicks++;
	else
		q->n_kicks_suppressed++;
	return kick;
}

static void rearm_used_event(struct sim_vq *q)
{
	if (q->cb_disabled || !(q->flags & VQ_F_EVENT_IDX))
		return;
	WRITE_ONCE(*vq_used_event_ptr(q->avail, q->size), cpu_to_vle16(q->last_used));
	/* Full fence: used_event visible before we look at used->idx again;
	 * pairs with the fence in vq_should_notify(). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void *sim_vq_get_used(struct sim_vq *q, uint32_t *len, bool *bad)
{
	void *token;

	*bad = false;
	if (q->flags & VQ_F_PACKED)
		return get_used_packed(q, len, bad);
	if (q->batch_left == 0) {
		/* Acquire pairs with the device's release store of used->idx. */
		uint16_t used_idx = vle16_to_cpu(__atomic_load_n(&q->used->idx,
								 __ATOMIC_ACQUIRE));
		uint16_t ready = (uint16_t)(used_idx - q->last_used);
		if (ready == 0)
			return NULL;
		if (ready > q->size)
			goto bad;
		struct vq_used_elem *e = &q->used->ring[q->last_used & q->mask];
		uint32_t id = vle32_to_cpu(READ_ONCE(e->id));
		uint32_t elen = vle32_to_cpu(READ_ONCE(e->len));
		if (id >= q->size || !q->slot[id].token || elen > q->slot[id].wlen)
			goto bad;
		if (!(q->flags & VQ_F_IN_ORDER)) {
			struct sim_vq_slot *s = &q->slot[id];
			q->next_free[s->last] = q->free_head;
			q->free_head = (uint16_t)id;
			q->num_free += s->ndesc;
			token = s->token;
			s->token = NULL;
			*len = elen;
			q->last_used++;
			rearm_used_event(q);
			return token;
		}
		/* In order: the entry names the last chain of a batch that
		 * starts at our oldest outstanding chain. */
		uint16_t h = q->oldest, n = 1;
		while (h != id) {
			if (!q->slot[h].token || n >= ready)
				goto bad;
			h = (uint16_t)((h + q->slot[h].ndesc) & q->mask);
			n++;
		}
		q->batch_left = n;
		q->batch_len = elen;
		q->last_used += n;
	}
	struct sim_vq_slot *s = &q->slot[q->oldest];
	token = s->token;
	*len = q->batch_left == 1 ? q->batch_len : s->wlen;
	s->token = NULL;
	q->num_free += s->ndesc;
	q->oldest = (uint16_t)((q->oldest + s->ndesc) & q->mask);
	if (--q->batch_left == 0)
		rearm_used_event(q);
	return token;
bad:
	*bad = true;
	return NULL;
}

void sim_vq_disable_cb(struct sim_vq *q)
{
	q->cb_disabled = true;
	if (q->flags & VQ_F_PACKED) {
		WRITE_ONCE(q->driver_event->flags, cpu_to_vle16(VQ_EVENT_DISABLE));
		return;
	}
	if (!(q->flags & VQ_F_EVENT_IDX))
		WRITE_ONCE(q->avail->flags, cpu_to_vle16(VQ_AVAIL_F_NO_INTERRUPT));
	/* With EVENT_IDX used_event is simply left behind. */
}

bool sim_vq_enable_cb(struct sim_vq *q)
{
	q->cb_disabled = false;
	if (q->flags & VQ_F_PACKED)
		return enable_cb_packed(q);
	if (q->flags & VQ_F_EVENT_IDX)
		WRITE_ONCE(*vq_used_event_ptr(q->avail, q->size), cpu_to_vle16(q->last_used));
	else
		WRITE_ONCE(q->avail->flags, 0);
	/* Full fence: re-armed before re-reading used->idx; pairs with the
	 * fence in vq_should_notify(). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return q->batch_left ||
	       vle16_to_cpu(READ_ONCE(q->used->idx)) != q->last_used;
}
