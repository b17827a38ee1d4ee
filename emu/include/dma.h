/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dma — the device's access to host memory.
 *
 * A dma_space is one function's view of host memory: a table of regions
 * (IOVA, length, local mapping, permissions) kept sorted and
 * non-overlapping. The table is immutable once published; map and unmap
 * build a new table, publish it with one release store and, when the space
 * has an RCU variable, wait for every registered reader (datapath lcore) to
 * pass a quiescent state before the old table is freed and before
 * dma_unmap returns: after that no lcore can still touch the unmapped
 * memory, so the caller may munmap it.
 *
 * Readers (lcores) load the table once per burst with dma_space_table()
 * and use it until their next quiescent state. Every access checks the
 * whole range: a range may span adjacent regions (read/write/copy split it)
 * but nothing outside a region, and nothing without the permission, is
 * ever touched. dma_ptr() is the fast path: a pointer when the range lies
 * inside one mapped region.
 *
 * Dirty logging: while on, every device write through this API marks the
 * pages it touched (page size chosen at start, 4 KiB by default); a report
 * reads and clears the bits of a range atomically with respect to lcores
 * marking them. Code that writes through a dma_ptr() pointer marks with
 * dma_mark_dirty().
 *
 * Shared log mode (dma_log_start_shared): instead of private per-region
 * bitmaps, marks go into one bitmap the caller owns — typically memory a
 * vhost-user front end shares with SET_LOG_BASE — indexed by IOVA / 4096
 * from IOVA 0: page p is bit p % 8 of byte p / 8, set with an atomic OR
 * (the front end reads and clears bits concurrently). Pages beyond the
 * bitmap are not marked. dma_log_report is not available in this mode
 * (the owner of the bitmap reads it).
 */
#ifndef VIRTNET_DMA_H
#define VIRTNET_DMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rte_rcu_qsbr;

/* Permissions, from the device's side. */
#define DMA_PROT_READ  1u /* the device may read the region */
#define DMA_PROT_WRITE 2u /* the device may write the region */

#define DMA_MAX_REGIONS     512
#define DMA_LOG_PAGE_DEFAULT 4096u

struct dma_region {
	uint64_t iova;
	uint64_t len;
	uint8_t *va;      /* local mapping of iova */
	uint32_t prot;
	uint64_t *dirty;  /* one bit per log page while logging, else NULL */
	uint64_t dirty_first; /* page number (iova >> log_shift) of bit 0 */
};

struct dma_table {
	uint64_t gen;       /* bumps on every publish; never reused */
	uint32_t n;
	uint32_t log_shift; /* log2 of the dirty page size; 0 = not logging */
	uint8_t *log_shared;   /* shared log mode: the bitmap, else NULL */
	uint64_t log_shared_pages; /* shared log mode: pages the bitmap covers */
	struct dma_region r[];
};

struct dma_space;

struct dma_space *dma_space_create(struct rte_rcu_qsbr *qsbr);
void dma_space_destroy(struct dma_space *s);

/* Control thread only (serialised inside). dma_map refuses (-EINVAL) a
 * zero or wrapping range, a va not congruent to iova modulo 16, and bad
 * permissions; -EEXIST when it overlaps a mapped region. */
int dma_map(struct dma_space *s, uint64_t iova, uint64_t len, void *va,
	    uint32_t prot);
int dma_unmap(struct dma_space *s, uint64_t iova, uint64_t len);
int dma_log_start(struct dma_space *s, uint64_t page_size);
/* Shared log mode (see above): 4 KiB pages, marks into `bitmap` of
 * `bitmap_bytes` bytes. -EINVAL for a NULL or empty bitmap, -EBUSY while
 * private logging is on. Called again while in shared mode it switches to
 * the new bitmap; like dma_log_stop, it returns once no reader can still
 * mark the previous one, so the caller may then unmap that. */
int dma_log_start_shared(struct dma_space *s, void *bitmap,
			 uint64_t bitmap_bytes);
/* Stop logging (either mode). Returns once no reader can still mark. */
int dma_log_stop(struct dma_space *s);
/* Report and clear dirty pages of [iova, iova+len): bit i of `bitmap`
 * (little-endian uint64 words) stands for page i of the range. The range
 * must be page aligned. Pages outside every region read as clean.
 * -EINVAL when not logging or in shared log mode. */
int dma_log_report(struct dma_space *s, uint64_t iova, uint64_t len,
		   uint64_t *bitmap);
bool dma_logging(const struct dma_space *s);

/* The current table: readers load it once per burst. The published
 * pointer is the first member of struct dma_space (checked in dma.c), so
 * this inlines into the datapath. Acquire pairs with the release store
 * that publishes a table. */
static inline const struct dma_table *dma_space_table(const struct dma_space *s)
{
	return __atomic_load_n((const struct dma_table *const *)(const void *)s,
			       __ATOMIC_ACQUIRE);
}

/* Index of the region holding iova, or -1. */
static inline int dma_find(const struct dma_table *t, uint64_t iova)
{
	uint32_t lo = 0, hi = t->n;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		const struct dma_region *r = &t->r[mid];

		if (iova < r->iova)
			hi = mid;
		else if (iova - r->iova >= r->len)
			lo = mid + 1;
		else
			return (int)mid;
	}
	return -1;
}

/* Pointer to [iova, iova+len) when it lies inside one region that allows
 * `prot`; NULL otherwise (unmapped, wraps, spans regions, no permission).
 * len 0 is refused. */
static inline void *dma_ptr(const struct dma_table *t, uint64_t iova,
			    uint64_t len, uint32_t prot)
{
	int i = dma_find(t, iova);

	if (i < 0 || len == 0)
		return NULL;
	const struct dma_region *r = &t->r[i];
	if ((r->prot & prot) != prot || len > r->len - (iova - r->iova))
		return NULL;
	return r->va + (iova - r->iova);
}

/* dma_ptr trying first the region that served the caller's last lookup
 * (`*hint`, any value is safe): a queue's buffers mostly come from one
 * region, so this skips the search. */
static inline void *dma_ptr_hint(const struct dma_table *t, uint32_t *hint,
				 uint64_t iova, uint64_t len, uint32_t prot)
{
	uint32_t h = *hint;

	if (__builtin_expect(h < t->n, 1)) {
		const struct dma_region *r = &t->r[h];
		uint64_t off = iova - r->iova;
		if (iova >= r->iova && off < r->len && len != 0 &&
		    len <= r->len - off && (r->prot & prot) == prot)
			return r->va + off;
	}
	int i = dma_find(t, iova);
	if (i < 0)
		return NULL;
	*hint = (uint32_t)i;
	return dma_ptr(t, iova, len, prot);
}

void dma_mark_dirty_slow(const struct dma_table *t, uint64_t iova,
			 uint64_t len);

/* Mark [iova, iova+len) dirty if logging is on. */
static inline void dma_mark_dirty(const struct dma_table *t, uint64_t iova,
				  uint64_t len)
{
	if (__builtin_expect(t->log_shift != 0, 0))
		dma_mark_dirty_slow(t, iova, len);
}

/*
 * The device has read [p, p + len) through a dma_ptr() pointer and is done
 * with it: drop every cached copy of its lines (x86 CLFLUSHOPT; they go
 * back to memory). Where the driver runs on a CPU of this machine
 * (vhost-user, the sim) and writes those bytes again, its write then finds
 * no copy of ours to invalidate: across L3 domains (another CCD, another
 * socket) that invalidation is the driver's largest cost per frame; within
 * one L3 the flush costs it a memory read instead, so whether to release
 * is measured, not assumed (vnet_dp_release_tick). A hint: what memory
 * holds never changes. dma_release_supported() false (not x86, or no
 * CLFLUSHOPT): never call it.
 */
bool dma_release_supported(void);

static inline void dma_release(const void *p, size_t len)
{
#if defined(__x86_64__)
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, end = (uintptr_t)p + len;

	/* After the reads of the range, as the program has them. */
	__asm__ volatile("" ::: "memory");
	for (; a < end; a += 64)
		__asm__ volatile("clflushopt %0" : : "m"(*(const volatile char *)a));
#else
	(void)p;
	(void)len;
#endif
}

/* True when every byte of the range is mapped with `prot`. */
bool dma_range_ok(const struct dma_table *t, uint64_t iova, uint64_t len,
		  uint32_t prot);

/* Copy between host memory and a local buffer, splitting across adjacent
 * regions. 0 on success, -EFAULT (nothing copied) when any byte of the
 * range is unmapped or lacks the permission. */
int dma_read(const struct dma_table *t, uint64_t iova, void *dst, size_t len);
int dma_write(const struct dma_table *t, uint64_t iova, const void *src,
	      size_t len);
/* Host-to-host copy; the ranges must not overlap. */
int dma_copy(const struct dma_table *t, uint64_t dst_iova, uint64_t src_iova,
	     size_t len);

#endif /* VIRTNET_DMA_H */
