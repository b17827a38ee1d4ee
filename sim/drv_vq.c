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
	if (!size || size > VQ_MAX_SIZE || (size & (size - 1)))
		return -EINVAL;
	q->mem = mem;
	q->size = size;
	q->mask = size - 1;
	q->flags = flags;
	q->max_indirect = max_indirect;
	if ((rc = alloc_zeroed(mem, vq_desc_bytes(size), 4096, &q->desc_iova, &va)))
		return rc;
	q->desc = va;
	if ((rc = alloc_zeroed(mem, vq_avail_bytes(size), 64, &q->avail_iova, &va)))
		return rc;
	q->avail = va;
	if ((rc = alloc_zeroed(mem, vq_used_bytes(size), 4096, &q->used_iova, &va)))
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
	if (!q->next_free || !q->slot) {
		sim_vq_fini(q);
		return -ENOMEM;
	}
	for (uint16_t i = 0; i < size; i++)
		q->next_free[i] = (uint16_t)((i + 1) & q->mask);
	q->num_free = size;
	return 0;
}

void sim_vq_fini(struct sim_vq *q)
{
	free(q->next_free);
	free(q->slot);
	q->next_free = NULL;
	q->slot = NULL;
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

int sim_vq_add(struct sim_vq *q, const struct sim_buf *out, unsigned nout,
	       const struct sim_buf *in, unsigned nin, void *token,
	       bool indirect)
{
	unsigned n = nout + nin;
	uint16_t head = q->free_head, d = head, last = head;
	uint32_t wlen = 0;

	if (n == 0 || !token || n > q->size)
		return -EINVAL;
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
	if (!(q->flags & VQ_F_EVENT_IDX))
		WRITE_ONCE(q->avail->flags, cpu_to_vle16(VQ_AVAIL_F_NO_INTERRUPT));
	/* With EVENT_IDX used_event is simply left behind. */
}

bool sim_vq_enable_cb(struct sim_vq *q)
{
	q->cb_disabled = false;
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
