/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for emu/dma: regions, range checks, copies, dirty log, RCU. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_rcu_qsbr.h>

#include "dma.h"

#define KB 1024ull

static uint8_t *buf_a, *buf_b, *buf_c;

static int setup(void **state)
{
	struct dma_space *s = dma_space_create(NULL);

	buf_a = calloc(1, 16 * KB);
	buf_b = calloc(1, 16 * KB);
	buf_c = calloc(1, 16 * KB);
	/* a and b adjacent in IOVA (not in VA); c after a gap, read-only. */
	assert_int_equal(dma_map(s, 0x100000, 16 * KB, buf_a, DMA_PROT_READ | DMA_PROT_WRITE), 0);
	assert_int_equal(dma_map(s, 0x104000, 16 * KB, buf_b, DMA_PROT_READ | DMA_PROT_WRITE), 0);
	assert_int_equal(dma_map(s, 0x200000, 16 * KB, buf_c, DMA_PROT_READ), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	dma_space_destroy(*state);
	free(buf_a);
	free(buf_b);
	free(buf_c);
	return 0;
}

/* dma_release drops cached copies and nothing else: on memory the device
 * may only read, for ranges of any alignment, up to the last byte before
 * an unmapped page (a line past the range would fault), and none for an
 * empty range. */
static void test_release(void **state)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *m = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *want = malloc((size_t)pg);

	(void)state;
	assert_true(m != MAP_FAILED);
	assert_non_null(want);
	for (long i = 0; i < pg; i++)
		m[i] = want[i] = (uint8_t)(i * 13 + 7);
	assert_int_equal(munmap(m + pg, (size_t)pg), 0);
	assert_int_equal(mprotect(m, (size_t)pg, PROT_READ), 0);
	if (!dma_release_supported())
		goto out; /* never called there */
	dma_release(m + pg - 1, 1);
	dma_release(m + 5, (size_t)pg - 5);
	dma_release(m + 63, 2);
	dma_release(m, (size_t)pg);
	dma_release(m + pg, 0); /* the unmapped page: not touched */
	assert_memory_equal(m, want, (size_t)pg);
out:
	munmap(m, (size_t)pg);
	free(want);
}

static void test_ptr_bounds(void **state)
{
	const struct dma_table *t = dma_space_table(*state);

	assert_ptr_equal(dma_ptr(t, 0x100000, 1, DMA_PROT_READ), buf_a);
	assert_ptr_equal(dma_ptr(t, 0x100010, 16 * KB - 16, DMA_PROT_WRITE), buf_a + 16);
	/* Last byte of a region, and one past it. */
	assert_ptr_equal(dma_ptr(t, 0x103fff, 1, DMA_PROT_READ), buf_a + 16 * KB - 1);
	assert_null(dma_ptr(t, 0x103fff, 2, DMA_PROT_READ)); /* spans a|b */
	assert_null(dma_ptr(t, 0xfffff, 2, DMA_PROT_READ));  /* starts below */
	assert_null(dma_ptr(t, 0x108000, 1, DMA_PROT_READ)); /* in the gap */
	assert_null(dma_ptr(t, 0x100000, 0, DMA_PROT_READ)); /* empty */
	/* A length that would wrap the address space. */
	assert_null(dma_ptr(t, 0x100000, UINT64_MAX, DMA_PROT_READ));
	/* Permissions: c is read-only. */
	assert_non_null(dma_ptr(t, 0x200000, 8, DMA_PROT_READ));
	assert_null(dma_ptr(t, 0x200000, 8, DMA_PROT_WRITE));
}

static void test_map_rules(void **state)
{
	struct dma_space *s = *state;
	uint8_t x[64] __attribute__((aligned(64)));
	uint64_t gen = dma_space_table(s)->gen;

	assert_int_equal(dma_map(s, 0x100800, 64, x, DMA_PROT_READ), -EEXIST);
	assert_int_equal(dma_map(s, 0xfffc0, 0x80, x, DMA_PROT_READ), -EEXIST);
	assert_int_equal(dma_map(s, 0x1, 0, x, DMA_PROT_READ), -EINVAL);
	assert_int_equal(dma_map(s, UINT64_MAX - 10, 64, x, DMA_PROT_READ), -EINVAL);
	assert_int_equal(dma_map(s, 0x300000, 64, x, 0), -EINVAL);
	assert_int_equal(dma_map(s, 0x300000, 64, x, 8), -EINVAL);
	/* A mapping whose va is not congruent to its iova mod 16 would give
	 * misaligned ring pointers for aligned ring addresses. */
	assert_int_equal(dma_map(s, 0x300000, 32, x + 1, DMA_PROT_READ), -EINVAL);
	assert_int_equal(dma_map(s, 0x300008, 32, x, DMA_PROT_READ), -EINVAL);
	assert_int_equal(dma_space_table(s)->gen, gen); /* nothing published */
	assert_int_equal(dma_map(s, 0x300001, 32, x + 1, DMA_PROT_READ), 0);
	assert_int_equal(dma_unmap(s, 0x300001, 32), 0);
	gen = dma_space_table(s)->gen;
	/* Adjacent below and above is fine, and each map publishes. */
	assert_int_equal(dma_map(s, 0x1fffc0, 64, x, DMA_PROT_READ), 0);
	assert_true(dma_space_table(s)->gen > gen);
	assert_int_equal(dma_space_table(s)->n, 4);
	/* Unmap must match exactly. */
	assert_int_equal(dma_unmap(s, 0x1fffc0, 32), -ENOENT);
	assert_int_equal(dma_unmap(s, 0x1fffe0, 32), -ENOENT);
	assert_int_equal(dma_unmap(s, 0x1fffc0, 64), 0);
	assert_int_equal(dma_unmap(s, 0x1fffc0, 64), -ENOENT);
	assert_null(dma_ptr(dma_space_table(s), 0x1fffc0, 1, DMA_PROT_READ));
	assert_int_equal(dma_space_table(s)->n, 3);
}

static void test_table_sorted(void **state)
{
	struct dma_space *s = dma_space_create(NULL);
	static uint8_t mem[8][64] __attribute__((aligned(64)));
	const uint64_t order[8] = { 5, 1, 7, 0, 3, 6, 2, 4 };

	(void)state;
	for (int i = 0; i < 8; i++)
		assert_int_equal(dma_map(s, 0x1000 * order[i], 64, mem[i], DMA_PROT_READ), 0);
	const struct dma_table *t = dma_space_table(s);
	for (uint32_t i = 0; i < t->n; i++) {
		assert_int_equal(t->r[i].iova, 0x1000 * i);
		assert_int_equal(dma_find(t, 0x1000 * i + 63), (int)i);
		assert_int_equal(dma_find(t, 0x1000 * i + 64), -1);
	}
	dma_space_destroy(s);
}

static void test_read_write_span(void **state)
{
	const struct dma_table *t = dma_space_table(*state);
	uint8_t in[256], out[256];

	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)(i * 7 + 1);
	/* 100 bytes in a, 156 in b. */
	assert_int_equal(dma_write(t, 0x104000 - 100, in, sizeof(in)), 0);
	assert_memory_equal(buf_a + 16 * KB - 100, in, 100);
	assert_memory_equal(buf_b, in + 100, 156);
	memset(out, 0, sizeof(out));
	assert_int_equal(dma_read(t, 0x104000 - 100, out, sizeof(out)), 0);
	assert_memory_equal(out, in, sizeof(in));
	/* Running off the end of b into the gap: refused, nothing copied. */
	memset(out, 0xee, sizeof(out));
	assert_int_equal(dma_read(t, 0x108000 - 16, out, 32), -EFAULT);
	assert_int_equal(out[0], 0xee);
	memset(buf_b + 16 * KB - 16, 0x11, 16);
	assert_int_equal(dma_write(t, 0x108000 - 16, in, 32), -EFAULT);
	assert_int_equal(buf_b[16 * KB - 16], 0x11);
	/* Read-only region. */
	assert_int_equal(dma_write(t, 0x200000, in, 1), -EFAULT);
	assert_int_equal(dma_read(t, 0x200000, out, 16), 0);
	/* Wrapping range. */
	assert_int_equal(dma_read(t, UINT64_MAX - 4, out, 16), -EFAULT);
	assert_true(dma_range_ok(t, 0x100000, 32 * KB, DMA_PROT_WRITE));
	assert_false(dma_range_ok(t, 0x100000, 32 * KB + 1, DMA_PROT_READ));
	assert_false(dma_range_ok(t, 0x100000, 0, DMA_PROT_READ));
}

static void test_copy(void **state)
{
	const struct dma_table *t = dma_space_table(*state);
	uint8_t pat[1000], out[1000];

	for (int i = 0; i < 1000; i++)
		pat[i] = (uint8_t)(i ^ 0x5a);
	memcpy(buf_c + 100, pat, sizeof(pat));
	/* From the read-only region into a span of a|b. */
	assert_int_equal(dma_copy(t, 0x104000 - 500, 0x200000 + 100, 1000), 0);
	assert_int_equal(dma_read(t, 0x104000 - 500, out, 1000), 0);
	assert_memory_equal(out, pat, 1000);
	assert_int_equal(dma_copy(t, 0x200000, 0x100000, 10), -EFAULT);
	assert_int_equal(dma_copy(t, 0x100010, 0x100000, 32), -EINVAL);
}

static void test_dirty_log(void **state)
{
	struct dma_space *s = *state;
	uint64_t bm[4];
	uint8_t x[8] = { 0 };

	assert_false(dma_logging(s));
	assert_int_equal(dma_log_report(s, 0x100000, 32 * KB, bm), -EINVAL);
	assert_int_equal(dma_log_start(s, 1000), -EINVAL);
	assert_int_equal(dma_log_start(s, 0), 0); /* 4 KiB default */
	assert_true(dma_logging(s));
	assert_int_equal(dma_log_start(s, 8192), -EBUSY);
	assert_int_equal(dma_log_start(s, 4096), 0);

	const struct dma_table *t = dma_space_table(s);
	/* A write spanning the a|b boundary and pages 3 and 4 of the range. */
	assert_int_equal(dma_write(t, 0x104000 - 2, x, 4), 0);
	/* A fast-path write marked by hand, page 6. */
	dma_mark_dirty(t, 0x106000 + 17, 1);
	/* Reads mark nothing. */
	assert_int_equal(dma_read(t, 0x100000, x, 8), 0);

	assert_int_equal(dma_log_report(s, 0x100001, 32 * KB, bm), -EINVAL);
	assert_int_equal(dma_log_report(s, 0x100000, 32 * KB, bm), 0);
	assert_int_equal(bm[0], (1u << 3) | (1u << 4) | (1u << 6));
	/* Read and cleared: a second report is clean. */
	assert_int_equal(dma_log_report(s, 0x100000, 32 * KB, bm), 0);
	assert_int_equal(bm[0], 0);

	/* A sub-range report clears only its own pages. */
	dma_mark_dirty(t, 0x100000, 32 * KB);
	assert_int_equal(dma_log_report(s, 0x102000, 8 * KB, bm), 0);
	assert_int_equal(bm[0], 0x3);
	assert_int_equal(dma_log_report(s, 0x100000, 32 * KB, bm), 0);
	assert_int_equal(bm[0], 0xf3);

	/* A range reaching past the regions reports the gap as clean. */
	dma_mark_dirty(t, 0x107000, 1);
	assert_int_equal(dma_log_report(s, 0x106000, 64 * KB, bm), 0);
	assert_int_equal(bm[0], 0x2);

	/* A region mapped while logging gets a log too. */
	static uint8_t late[8192] __attribute__((aligned(64)));
	assert_int_equal(dma_map(s, 0x400000, sizeof(late), late, DMA_PROT_WRITE), 0);
	assert_int_equal(dma_write(dma_space_table(s), 0x401000, x, 1), 0);
	assert_int_equal(dma_log_report(s, 0x400000, 8192, bm), 0);
	assert_int_equal(bm[0], 0x2);
	assert_int_equal(dma_unmap(s, 0x400000, sizeof(late)), 0);

	assert_int_equal(dma_log_stop(s), 0);
	assert_false(dma_logging(s));
	assert_int_equal(dma_write(dma_space_table(s), 0x100000, x, 1), 0);
	assert_int_equal(dma_log_report(s, 0x100000, 4096, bm), -EINVAL);

	/* 2 MiB pages: a region smaller than a page still has one bit. */
	assert_int_equal(dma_log_start(s, 2 << 20), 0);
	assert_int_equal(dma_write(dma_space_table(s), 0x104000, x, 1), 0);
	assert_int_equal(dma_log_report(s, 0, 4 << 20, bm), 0);
	assert_int_equal(bm[0], 0x1);
	assert_int_equal(dma_log_stop(s), 0);
}

/* ---- shared log mode (a vhost-user front end's bitmap) ----------------- */

static void test_dirty_log_shared(void **state)
{
	struct dma_space *s = *state;
	uint8_t bm[64] = { 0 }; /* pages 0..511: IOVA up to 2 MiB */
	uint8_t bm2[8] = { 0 };
	uint8_t x[8] = { 0 };
	uint64_t rep[1];

	assert_int_equal(dma_log_start_shared(s, NULL, 8), -EINVAL);
	assert_int_equal(dma_log_start_shared(s, bm, 0), -EINVAL);
	assert_int_equal(dma_log_start_shared(s, bm, sizeof(bm)), 0);
	assert_true(dma_logging(s));
	/* One bit per 4 KiB page from IOVA 0, byte-wise. */
	assert_int_equal(dma_write(dma_space_table(s), 0x101000, x, 1), 0);
	assert_int_equal(bm[0x101 / 8], 1u << (0x101 % 8));
	/* A write across a|b marks both pages (0x103, 0x104). */
	assert_int_equal(dma_write(dma_space_table(s), 0x103ffc, x, 8), 0);
	/* (pages 0x100..0x107 share byte 0x20) */
	assert_int_equal(bm[0x20], (1u << 1) | (1u << 3) | (1u << 4));
	/* The front end clears what it read; later writes set it again. */
	bm[0x101 / 8] = 0;
	dma_mark_dirty(dma_space_table(s), 0x100000, 1);
	assert_int_equal(bm[0x100 / 8], 1);
	/* Not reportable here, not combinable with private logging. */
	assert_int_equal(dma_log_report(s, 0x100000, 4096, rep), -EINVAL);
	assert_int_equal(dma_log_start(s, 4096), -EBUSY);
	/* A region mapped while logging is marked too. */
	static uint8_t late[8192] __attribute__((aligned(64)));
	assert_int_equal(dma_map(s, 0x180000, sizeof(late), late, DMA_PROT_WRITE), 0);
	assert_int_equal(dma_write(dma_space_table(s), 0x181000, x, 1), 0);
	assert_int_equal(bm[0x181 / 8], 1u << (0x181 % 8));
	assert_int_equal(dma_unmap(s, 0x180000, sizeof(late)), 0);
	/* Pages beyond the bitmap are not marked (c is at 0x200000: page
	 * 512, the bitmap covers 0..511). */
	memset(bm, 0, sizeof(bm));
	assert_int_equal(dma_log_start_shared(s, bm2, sizeof(bm2)), 0); /* switch */
	assert_int_equal(dma_write(dma_space_table(s), 0x100000, x, 1), 0);
	for (size_t i = 0; i < sizeof(bm); i++)
		assert_int_equal(bm[i], 0); /* the old bitmap is left alone */
	for (size_t i = 0; i < sizeof(bm2); i++)
		assert_int_equal(bm2[i], 0); /* page 0x100 is past bm2 (64 pages) */
	assert_int_equal(dma_log_start_shared(s, bm, sizeof(bm)), 0);
	dma_mark_dirty(dma_space_table(s), 0x1ff000, 0x2000); /* pages 511, 512 */
	assert_int_equal(bm[63], 0x80);
	/* Stop: nothing is marked any more. */
	assert_int_equal(dma_log_stop(s), 0);
	assert_false(dma_logging(s));
	memset(bm, 0, sizeof(bm));
	assert_int_equal(dma_write(dma_space_table(s), 0x101000, x, 1), 0);
	for (size_t i = 0; i < sizeof(bm); i++)
		assert_int_equal(bm[i], 0);
	/* Private logging works again afterwards. */
	assert_int_equal(dma_log_start(s, 4096), 0);
	assert_int_equal(dma_log_start_shared(s, bm, sizeof(bm)), -EBUSY);
	assert_int_equal(dma_log_stop(s), 0);
}

/* ---- publication under a concurrent reader ---------------------------- */

struct rcu_ctx {
	struct dma_space *s;
	struct rte_rcu_qsbr *qs;
	volatile int stop;
	uint64_t reads, misses;
};

static void *reader(void *arg)
{
	struct rcu_ctx *c = arg;
	uint8_t tmp[64];

	rte_rcu_qsbr_thread_register(c->qs, 0);
	rte_rcu_qsbr_thread_online(c->qs, 0);
	while (!c->stop) {
		/* One burst: load the table once, use it, then go quiescent. */
		const struct dma_table *t = dma_space_table(c->s);
		for (int i = 0; i < 16; i++) {
			if (dma_read(t, 0x10000, tmp, sizeof(tmp)) == 0) {
				/* Every byte of a live region is 0xab. */
				for (size_t k = 0; k < sizeof(tmp); k++)
					if (tmp[k] != 0xab)
						abort();
				c->reads++;
			} else {
				c->misses++;
			}
		}
		rte_rcu_qsbr_quiescent(c->qs, 0);
	}
	rte_rcu_qsbr_thread_offline(c->qs, 0);
	rte_rcu_qsbr_thread_unregister(c->qs, 0);
	return NULL;
}

static void test_rcu_unmap_waits_for_readers(void **state)
{
	struct rcu_ctx c = { 0 };
	size_t sz = rte_rcu_qsbr_get_memsize(1);
	pthread_t th;

	(void)state;
	c.qs = aligned_alloc(64, (sz + 63) & ~(size_t)63);
	assert_int_equal(rte_rcu_qsbr_init(c.qs, 1), 0);
	c.s = dma_space_create(c.qs);
	assert_non_null(c.s);
	assert_int_equal(pthread_create(&th, NULL, reader, &c), 0);
	for (int i = 0; i < 2000; i++) {
		uint8_t *mem = malloc(4096);
		memset(mem, 0xab, 4096);
		assert_int_equal(dma_map(c.s, 0x10000, 4096, mem, DMA_PROT_READ), 0);
		/* Returns only when no reader can hold the old table: freeing
		 * (and scribbling over) the memory right after is safe; ASan
		 * reports any read that still reaches it. */
		assert_int_equal(dma_unmap(c.s, 0x10000, 4096), 0);
		memset(mem, 0, 4096);
		free(mem);
	}
	c.stop = 1;
	pthread_join(th, NULL);
	dma_space_destroy(c.s);
	free(c.qs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ptr_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_rules, setup, teardown),
		cmocka_unit_test(test_table_sorted),
		cmocka_unit_test_setup_teardown(test_read_write_span, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_log_shared, setup, teardown),
		cmocka_unit_test(test_rcu_unmap_waits_for_readers),
		cmocka_unit_test(test_release),
	};
	return cmocka_run_group_tests_name("dma", tests, NULL, NULL);
}
