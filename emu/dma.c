/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <rte_rcu_qsbr.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "dma.h"

struct dma_space {
	const struct dma_table *tbl; /* published; read with acquire; first */
	struct rte_rcu_qsbr *qsbr;   /* NULL: no concurrent readers */
	pthread_mutex_t lock;        /* serialises writers */
	uint64_t next_gen;
};

static size_t table_bytes(uint32_t n)
{
	return sizeof(struct dma_table) + (size_t)n * sizeof(struct dma_region);
}

static struct dma_table *table_alloc(uint32_t n)
{
	return calloc(1, table_bytes(n));
}

static uint64_t bitmap_words(uint64_t pages)
{
	return (pages + 63) / 64;
}

/* Pages of `r` at log page size 1 << shift. */
static uint64_t region_pages(const struct dma_region *r, uint32_t shift)
{
	return ((r->iova + r->len - 1) >> shift) - (r->iova >> shift) + 1;
}

static int region_log_alloc(struct dma_region *r, uint32_t shift)
{
	r->dirty_first = r->iova >> shift;
	r->dirty = calloc(bitmap_words(region_pages(r, shift)), sizeof(uint64_t));
	return r->dirty ? 0 : -ENOMEM;
}

/*
 * Publish `t` and retire `old`: after the store, wait until every reader
 * has passed a quiescent state (it can no longer hold `old`), then free it.
 * Bitmaps listed in `drop` (n_drop of them) are freed at the same time.
 */
static void publish(struct dma_space *s, struct dma_table *t,
		    uint64_t **drop, uint32_t n_drop)
{
	const struct dma_table *old = s->tbl;

	t->gen = ++s->next_gen;
	/* Pairs with the acquire load in dma_space_table(): the table's
	 * contents are visible before its pointer. */
	__atomic_store_n(&s->tbl, t, __ATOMIC_RELEASE);
	if (s->qsbr)
		rte_rcu_qsbr_synchronize(s->qsbr, RTE_QSBR_THRID_INVALID);
	for (uint32_t i = 0; i < n_drop; i++)
		free(drop[i]);
	free((void *)old);
}

struct dma_space *dma_space_create(struct rte_rcu_qsbr *qsbr)
{
	struct dma_space *s = calloc(1, sizeof(*s));
	struct dma_table *t = table_alloc(0);

	if (!s || !t) {
		free(s);
		free(t);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->qsbr = qsbr;
	t->gen = ++s->next_gen;
	s->tbl = t;
	return s;
}

void dma_space_destroy(struct dma_space *s)
{
	if (!s)
		return;
	const struct dma_table *t = s->tbl;
	for (uint32_t i = 0; i < t->n; i++)
		free(t->r[i].dirty);
	free((void *)t);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

_Static_assert(offsetof(struct dma_space, tbl) == 0,
	       "dma_space_table() in dma.h reads the first member");

bool dma_logging(const struct dma_space *s)
{
	return dma_space_table(s)->log_shift != 0;
}

int dma_map(struct dma_space *s, uint64_t iova, uint64_t len, void *va,
	    uint32_t prot)
{
	struct dma_table *t = NULL;
	const struct dma_table *cur;
	uint32_t pos;
	int rc = 0;

	/* va must be congruent to iova mod 16: aligned ring and descriptor
	 * IOVAs then give aligned pointers for the atomics on them. */
	if (len == 0 || va == NULL || iova + len - 1 < iova ||
	    (((uintptr_t)va ^ iova) & 15) ||
	    (uintptr_t)va + len - 1 < (uintptr_t)va ||
	    (prot & ~(DMA_PROT_READ | DMA_PROT_WRITE)) || prot == 0)
		return -EINVAL;

	pthread_mutex_lock(&s->lock);
	cur = s->tbl;
	if (cur->n >= DMA_MAX_REGIONS) {
		rc = -ENOSPC;
		goto out;
	}
	for (pos = 0; pos < cur->n && cur->r[pos].iova < iova; pos++)
		;
	/* Overlap with the neighbour below or above? */
	if ((pos > 0 && cur->r[pos - 1].iova + cur->r[pos - 1].len - 1 >= iova) ||
	    (pos < cur->n && iova + len - 1 >= cur->r[pos].iova)) {
		rc = -EEXIST;
		goto out;
	}
	t = table_alloc(cur->n + 1);
	if (!t) {
		rc = -ENOMEM;
		goto out;
	}
	t->n = cur->n + 1;
	t->log_shift = cur->log_shift;
	memcpy(t->r, cur->r, pos * sizeof(t->r[0]));
	memcpy(&t->r[pos + 1], &cur->r[pos], (cur->n - pos) * sizeof(t->r[0]));
	t->r[pos] = (struct dma_region){
		.iova = iova, .len = len, .va = va, .prot = prot,
	};
	t->log_shared = cur->log_shared;
	t->log_shared_pages = cur->log_shared_pages;
	if (t->log_shift && !t->log_shared &&
	    region_log_alloc(&t->r[pos], t->log_shift)) {
		free(t);
		rc = -ENOMEM;
		goto out;
	}
	publish(s, t, NULL, 0);
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int dma_unmap(struct dma_space *s, uint64_t iova, uint64_t len)
{
	const struct dma_table *cur;
	struct dma_table *t;
	uint64_t *drop;
	int i, rc = 0;

	pthread_mutex_lock(&s->lock);
	cur = s->tbl;
	i = dma_find(cur, iova);
	if (i < 0 || cur->r[i].iova != iova || cur->r[i].len != len) {
		rc = -ENOENT; /* must match an earlier map exactly */
		goto out;
	}
	t = table_alloc(cur->n - 1);
	if (!t) {
		rc = -ENOMEM;
		goto out;
	}
	t->n = cur->n - 1;
	t->log_shift = cur->log_shift;
	t->log_shared = cur->log_shared;
	t->log_shared_pages = cur->log_shared_pages;
	memcpy(t->r, cur->r, (size_t)i * sizeof(t->r[0]));
	memcpy(&t->r[i], &cur->r[i + 1], (cur->n - (uint32_t)i - 1) * sizeof(t->r[0]));
	drop = cur->r[i].dirty;
	publish(s, t, &drop, 1);
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int dma_log_start(struct dma_space *s, uint64_t page_size)
{
	const struct dma_table *cur;
	struct dma_table *t;
	uint32_t shift;
	int rc = 0;

	if (page_size == 0)
		page_size = DMA_LOG_PAGE_DEFAULT;
	/* A power of two from 4 KiB to 1 GiB. */
	if (page_size & (page_size - 1) || page_size < 4096 ||
	    page_size > (1ull << 30))
		return -EINVAL;
	shift = (uint32_t)__builtin_ctzll(page_size);

	pthread_mutex_lock(&s->lock);
	cur = s->tbl;
	if (cur->log_shift) {
		rc = cur->log_shift == shift && !cur->log_shared ? 0 : -EBUSY;
		goto out;
	}
	t = table_alloc(cur->n);
	if (!t) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(t, cur, table_bytes(cur->n));
	t->log_shift = shift;
	for (uint32_t i = 0; i < t->n; i++) {
		if (region_log_alloc(&t->r[i], shift)) {
			for (uint32_t j = 0; j < i; j++)
				free(t->r[j].dirty);
			free(t);
			rc = -ENOMEM;
			goto out;
		}
	}
	publish(s, t, NULL, 0);
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int dma_log_start_shared(struct dma_space *s, void *bitmap,
			 uint64_t bitmap_bytes)
{
	const struct dma_table *cur;
	struct dma_table *t;
	int rc = 0;

	/* Pages are counted in 64 bits: at most 2^61 bytes of bitmap. */
	if (!bitmap || bitmap_bytes == 0 || bitmap_bytes > (UINT64_MAX >> 3))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	cur = s->tbl;
	if (cur->log_shift && !cur->log_shared) {
		rc = -EBUSY;
		goto out;
	}
	t = table_alloc(cur->n);
	if (!t) {
		rc = -ENOMEM;
		goto out;
	}
	/* The regions keep dirty == NULL: in shared mode nothing is
	 * per region. */
	memcpy(t, cur, table_bytes(cur->n));
	t->log_shift = 12;
	t->log_shared = bitmap;
	t->log_shared_pages = bitmap_bytes * 8;
	/* Returns after the grace period: no reader marks the previous
	 * bitmap any more. */
	publish(s, t, NULL, 0);
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int dma_log_stop(struct dma_space *s)
{
	const struct dma_table *cur;
	struct dma_table *t;
	uint64_t *drop[DMA_MAX_REGIONS];
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	cur = s->tbl;
	if (!cur->log_shift)
		goto out;
	t = table_alloc(cur->n);
	if (!t) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(t, cur, table_bytes(cur->n));
	t->log_shift = 0;
	t->log_shared = NULL;
	t->log_shared_pages = 0;
	for (uint32_t i = 0; i < t->n; i++) {
		drop[i] = t->r[i].dirty;
		t->r[i].dirty = NULL;
		t->r[i].dirty_first = 0;
	}
	publish(s, t, drop, t->n);
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

bool dma_release_supported(void)
{
#if defined(__x86_64__)
	static int known = -1;
	int v = __atomic_load_n(&known, __ATOMIC_RELAXED);

	if (v < 0) {
		unsigned a, b, c, d;

		/* CPUID.(EAX=7, ECX=0):EBX bit 23 is CLFLUSHOPT. */
		v = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 23));
		__atomic_store_n(&known, v, __ATOMIC_RELAXED);
	}
	return v;
#else
	return false;
#endif
}

void dma_mark_dirty_slow(const struct dma_table *t, uint64_t iova,
			 uint64_t len)
{
	uint32_t shift = t->log_shift;

	if (len == 0)
		return;
	/* Release: the write this mark stands for is visible before the mark,
	 * so a report that sees the bit sees the data (pairs with the
	 * acquire-release read-and-clear in take_bit). */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	uint64_t last = iova + len - 1;
	if (last < iova)
		last = UINT64_MAX;
	if (t->log_shared) {
		/* One bit per 4 KiB page from IOVA 0, byte-wise as the
		 * vhost-user log is defined; pages past the bitmap are not
		 * marked. Relaxed: the fence above orders the data. */
		uint64_t end = last >> shift;
		if (end >= t->log_shared_pages)
			end = t->log_shared_pages - 1;
		for (uint64_t p = iova >> shift; p <= end; p++)
			__atomic_fetch_or(&t->log_shared[p / 8],
					  (uint8_t)(1u << (p % 8)),
					  __ATOMIC_RELAXED);
		return;
	}
	for (uint64_t p = iova >> shift; p <= last >> shift; p++) {
		int i = dma_find(t, p << shift > iova ? p << shift : iova);
		if (i < 0)
			continue;
		const struct dma_region *r = &t->r[i];
		uint64_t bit = p - r->dirty_first;
		__atomic_fetch_or(&r->dirty[bit / 64], 1ull << (bit % 64),
				  __ATOMIC_RELAXED);
		if (p == (UINT64_MAX >> shift))
			break;
	}
}

/* Read and clear bit `page` of region r's log; false when outside r. */
static bool take_bit(const struct dma_region *r, uint32_t shift, uint64_t page)
{
	if (page < r->dirty_first ||
	    page - r->dirty_first >= region_pages(r, shift))
		return false;
	uint64_t bit = page - r->dirty_first;
	uint64_t mask = 1ull << (bit % 64);
	return __atomic_fetch_and(&r->dirty[bit / 64], ~mask,
				  __ATOMIC_ACQ_REL) & mask;
}

int dma_log_report(struct dma_space *s, uint64_t iova, uint64_t len,
		   uint64_t *bitmap)
{
	const struct dma_table *t;
	uint64_t pages, psize;
	uint32_t shift;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	t = s->tbl;
	shift = t->log_shift;
	if (!shift || t->log_shared) {
		rc = -EINVAL;
		goto out;
	}
	psize = 1ull << shift;
	if ((iova | len) & (psize - 1) || len == 0 || iova + len - 1 < iova) {
		rc = -EINVAL;
		goto out;
	}
	pages = len >> shift;
	memset(bitmap, 0, bitmap_words(pages) * sizeof(uint64_t));
	for (uint32_t i = 0; i < t->n; i++) {
		const struct dma_region *r = &t->r[i];
		uint64_t first = r->iova >> shift, n = region_pages(r, shift);
		uint64_t want = iova >> shift;

		/* Intersect [first, first+n) with [want, want+pages). */
		uint64_t lo = first > want ? first : want;
		uint64_t hi_r = first + n, hi_w = want + pages;
		uint64_t hi = hi_r < hi_w ? hi_r : hi_w;
		for (uint64_t p = lo; p < hi; p++)
			if (take_bit(r, shift, p))
				bitmap[(p - want) / 64] |= 1ull << ((p - want) % 64);
	}
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/*
 * Walk [iova, iova+len) region by region; `fn` gets each piece. Fails
 * without calling `fn` at all unless the whole range is mapped with `prot`.
 */
typedef void (*piece_fn)(const struct dma_region *r, uint64_t off,
			 uint64_t n, void *arg);

static int walk_range(const struct dma_table *t, uint64_t iova, uint64_t len,
		      uint32_t prot, piece_fn fn, void *arg)
{
	if (len == 0)
		return 0;
	if (iova + len - 1 < iova)
		return -EFAULT;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t at = iova, left = len;

		while (left) {
			int i = dma_find(t, at);
			if (i < 0)
				return -EFAULT;
			const struct dma_region *r = &t->r[i];
			if ((r->prot & prot) != prot)
				return -EFAULT;
			uint64_t off = at - r->iova;
			uint64_t n = r->len - off < left ? r->len - off : left;
			if (pass == 1)
				fn(r, off, n, arg);
			at += n;
			left -= n;
		}
		if (!fn)
			break;
	}
	return 0;
}

bool dma_range_ok(const struct dma_table *t, uint64_t iova, uint64_t len,
		  uint32_t prot)
{
	return len != 0 && walk_range(t, iova, len, prot, NULL, NULL) == 0;
}

static void read_piece(const struct dma_region *r, uint64_t off, uint64_t n,
		       void *arg)
{
	uint8_t **dst = arg;

	memcpy(*dst, r->va + off, n);
	*dst += n;
}

int dma_read(const struct dma_table *t, uint64_t iova, void *dst, size_t len)
{
	uint8_t *p = dst;

	return walk_range(t, iova, len, DMA_PROT_READ, read_piece, &p);
}

static void write_piece(const struct dma_region *r, uint64_t off, uint64_t n,
			void *arg)
{
	const uint8_t **src = arg;

	memcpy(r->va + off, *src, n);
	*src += n;
}

int dma_write(const struct dma_table *t, uint64_t iova, const void *src,
	      size_t len)
{
	const uint8_t *p = src;
	int rc = walk_range(t, iova, len, DMA_PROT_WRITE, write_piece, &p);

	if (rc == 0)
		dma_mark_dirty(t, iova, len);
	return rc;
}

int dma_copy(const struct dma_table *t, uint64_t dst_iova, uint64_t src_iova,
	     size_t len)
{
	uint8_t buf[256];

	if (!dma_range_ok(t, src_iova, len, DMA_PROT_READ) ||
	    !dma_range_ok(t, dst_iova, len, DMA_PROT_WRITE))
		return len ? -EFAULT : 0;
	if ((src_iova < dst_iova && src_iova + len > dst_iova) ||
	    (dst_iova < src_iova && dst_iova + len > src_iova))
		return -EINVAL;
	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);
		dma_read(t, src_iova + done, buf, n);
		dma_write(t, dst_iova + done, buf, n);
		done += n;
	}
	return 0;
}
