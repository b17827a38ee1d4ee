/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A hostile driver against the split ring: every malformed ring the issue
 * names, each detected, the queue marked broken with the right reason,
 * nothing popped past it, and the queue inert until reset.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "hal_log.h"
#include "vq_harness.h"

#define QSIZE 8

static void quiet_sink(enum hal_log_level l, const char *line)
{
	(void)l;
	(void)line;
}

static int setup(void **state)
{
	struct env *e = malloc(sizeof(*e));

	hal_log_set_sink(quiet_sink);
	env_init(e, QSIZE, VQ_F_INDIRECT, 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	env_fini(*state);
	free(*state);
	hal_log_set_sink(NULL);
	return 0;
}

static void desc(struct env *e, uint16_t i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	e->drv.desc[i] = (struct vq_desc){ cpu_to_vle64(addr), cpu_to_vle32(len),
					   cpu_to_vle16(flags), cpu_to_vle16(next) };
}

/* Write an indirect table into host memory; returns its IOVA. */
static uint64_t table(struct env *e, const struct vq_desc *t, unsigned n)
{
	uint64_t iova = env_alloc(e, 16ull * n + 16);

	iova = (iova + 15) & ~15ull;
	sim_hostmem_write(&e->mem, iova, t, 16ull * n);
	return iova;
}

static void offer(struct env *e, uint16_t head)
{
	e->drv.avail->ring[e->drv.avail_idx & (QSIZE - 1)] = cpu_to_vle16(head);
	e->drv.avail_idx++;
	sim_vq_publish(&e->drv);
}

static uint64_t buf(struct env *e)
{
	return env_alloc(e, 256);
}

/* The queue is broken for `why`, pops nothing more, and is inert. */
static void expect_broken(struct env *e, enum vq_error why)
{
	struct vq_chain c[QSIZE];
	struct vq_done d = { 0, 0 };

	assert_int_equal(env_pop(e, c, QSIZE), 0);
	assert_true(vq_broken(&e->vq));
	assert_int_equal(e->vq.error, why);
	assert_int_equal(env_pop(e, c, QSIZE), 0);
	assert_int_equal(vq_push_burst(&e->vq, &d, 1, false), -EIO);
	assert_false(vq_should_notify(&e->vq));
	assert_false(vq_notify_enable(&e->vq));
	assert_int_equal(vq_avail_count(&e->vq), 0);
	assert_int_equal(e->drv.used->idx, 0); /* nothing written to the host */
}

static void test_loop_in_chain(void **state)
{
	struct env *e = *state;
	uint64_t b = buf(e);

	desc(e, 0, b, 16, VQ_DESC_F_NEXT, 1);
	desc(e, 1, b, 16, VQ_DESC_F_NEXT, 0);
	offer(e, 0);
	expect_broken(e, VQ_ERR_CHAIN_LEN);
}

static void test_self_loop(void **state)
{
	struct env *e = *state;

	desc(e, 3, buf(e), 16, VQ_DESC_F_NEXT, 3);
	offer(e, 3);
	expect_broken(e, VQ_ERR_CHAIN_LEN);
}

static void test_chain_longer_than_queue(void **state)
{
	struct env *e = *state;
	struct vq_desc t[7];
	uint64_t b = buf(e);

	/* Two direct descriptors and an indirect table of seven: 9 > 8. */
	for (int i = 0; i < 7; i++)
		t[i] = (struct vq_desc){ b, 1, i < 6 ? VQ_DESC_F_NEXT : 0, (uint16_t)(i + 1) };
	desc(e, 0, b, 4, VQ_DESC_F_NEXT, 1);
	desc(e, 1, b, 4, VQ_DESC_F_NEXT, 2);
	desc(e, 2, table(e, t, 7), 7 * 16, VQ_DESC_F_INDIRECT, 0);
	offer(e, 0);
	expect_broken(e, VQ_ERR_CHAIN_LEN);
}

/* The limits themselves are legal: a direct chain of exactly the queue
 * size, an indirect table of exactly the queue size, and k direct plus
 * (size - k) indirect descriptors. */
static void test_chain_at_limits_ok(void **state)
{
	struct env *e = *state;
	struct vq_desc t[QSIZE];
	struct vq_chain c[1];
	struct vq_done d;
	uint64_t b = buf(e);

	for (int i = 0; i < QSIZE; i++)
		desc(e, (uint16_t)i, b + i, 1, i < QSIZE - 1 ? VQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	offer(e, 0);
	assert_int_equal(env_pop(e, c, 1), 1);
	assert_int_equal(c[0].nseg, QSIZE);
	d = (struct vq_done){ c[0].head, 0 };
	assert_int_equal(vq_push_burst(&e->vq, &d, 1, false), 0);

	for (int i = 0; i < QSIZE; i++)
		t[i] = (struct vq_desc){ b + i, 1, i < QSIZE - 1 ? VQ_DESC_F_NEXT : 0, (uint16_t)(i + 1) };
	desc(e, 1, table(e, t, QSIZE), QSIZE * 16, VQ_DESC_F_INDIRECT, 0);
	offer(e, 1);
	assert_int_equal(env_pop(e, c, 1), 1);
	assert_int_equal(c[0].nseg, QSIZE);
	d = (struct vq_done){ c[0].head, 0 };
	assert_int_equal(vq_push_burst(&e->vq, &d, 1, false), 0);

	/* 3 direct + 5 indirect = 8. */
	desc(e, 2, b, 1, VQ_DESC_F_NEXT, 3);
	desc(e, 3, b, 1, VQ_DESC_F_NEXT, 4);
	desc(e, 4, b, 1, VQ_DESC_F_NEXT, 5);
	for (int i = 0; i < 5; i++)
		t[i] = (struct vq_desc){ b + i, 1, i < 4 ? VQ_DESC_F_NEXT : 0, (uint16_t)(i + 1) };
	desc(e, 5, table(e, t, 5), 5 * 16, VQ_DESC_F_INDIRECT, 0);
	offer(e, 2);
	assert_int_equal(env_pop(e, c, 1), 1);
	assert_int_equal(c[0].nseg, QSIZE);
	assert_false(vq_broken(&e->vq));
}

/* The spec's "zero or more direct descriptors, then one indirect" is legal. */
static void test_direct_then_indirect_ok(void **state)
{
	struct env *e = *state;
	struct vq_desc t[3];
	struct vq_chain c[2];
	uint64_t b = buf(e);

	for (int i = 0; i < 3; i++)
		t[i] = (struct vq_desc){ b + 10 * i, 10, (i < 2 ? VQ_DESC_F_NEXT : 0) | (i ? VQ_DESC_F_WRITE : 0), (uint16_t)(i + 1) };
	desc(e, 5, b + 100, 4, VQ_DESC_F_NEXT, 6);
	desc(e, 6, table(e, t, 3), 3 * 16, VQ_DESC_F_INDIRECT | VQ_DESC_F_WRITE, 0);
	offer(e, 5);
	assert_int_equal(env_pop(e, c, 2), 1);
	assert_false(vq_broken(&e->vq));
	assert_int_equal(c[0].nseg, 4);
	assert_int_equal(c[0].nread, 2);
	assert_int_equal(c[0].rlen, 14);
	assert_int_equal(c[0].wlen, 20);
}

static void test_indirect_in_indirect(void **state)
{
	struct env *e = *state;
	struct vq_desc inner[1], outer[2];
	uint64_t b = buf(e);

	inner[0] = (struct vq_desc){ b, 8, 0, 0 };
	outer[0] = (struct vq_desc){ b, 8, VQ_DESC_F_NEXT, 1 };
	outer[1] = (struct vq_desc){ table(e, inner, 1), 16, VQ_DESC_F_INDIRECT, 0 };
	desc(e, 0, table(e, outer, 2), 32, VQ_DESC_F_INDIRECT, 0);
	offer(e, 0);
	expect_broken(e, VQ_ERR_INDIRECT_NESTED);
}

static void test_indirect_len_not_multiple(void **state)
{
	struct env *e = *state;
	struct vq_desc t[2] = { { buf(e), 8, 0, 0 } };

	desc(e, 0, table(e, t, 2), 24, VQ_DESC_F_INDIRECT, 0);
	offer(e, 0);
	expect_broken(e, VQ_ERR_INDIRECT_LEN);
}

static void test_indirect_len_zero(void **state)
{
	struct env *e = *state;

	desc(e, 0, buf(e), 0, VQ_DESC_F_INDIRECT, 0);
	offer(e, 0);
	expect_broken(e, VQ_ERR_INDIRECT_LEN);
}

static void test_indirect_too_large(void **state)
{
	struct env *e = *state;
	struct vq_desc t[QSIZE + 1];
	uint64_t b = buf(e);

	for (int i = 0; i < QSIZE + 1; i++)
		t[i] = (struct vq_desc){ b, 1, i < QSIZE ? VQ_DESC_F_NEXT : 0, (uint16_t)(i + 1) };
	desc(e, 0, table(e, t, QSIZE + 1), (QSIZE + 1) * 16, VQ_DESC_F_INDIRECT, 0);
	offer(e, 0);
	expect_broken(e, VQ_ERR_INDIRECT_LEN);
}

static void test_indirect_with_next(void **state)
{
	struct env *e = *state;
	struct vq_desc t[1] = { { buf(e), 8, 0, 0 } };

	desc(e, 0, table(e, t, 1), 16, VQ_DESC_F_INDIRECT | VQ_DESC_F_NEXT, 1);
	desc(e, 1, buf(e), 8, 0, 0);
	offer(e, 0);
	expect_broken(e, VQ_ERR_INDIRECT_NEXT);
}

static void test_indirect_not_negotiated(void **state)
{
	struct env e;
	struct vq_desc t[1];
	struct vq_chain c[1];

	(void)state;
	hal_log_set_sink(quiet_sink);
	env_init(&e, QSIZE, 0, 0);
	t[0] = (struct vq_desc){ env_alloc(&e, 8), 8, 0, 0 };
	e.drv.desc[0] = (struct vq_desc){ table(&e, t, 1), 16, VQ_DESC_F_INDIRECT, 0 };
	e.drv.avail->ring[0] = 0;
	e.drv.avail_idx = 1;
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 1), 0);
	assert_int_equal(e.vq.error, VQ_ERR_INDIRECT_FEAT);
	env_fini(&e);
	hal_log_set_sink(NULL);
}

static void test_indirect_table_outside(void **state)
{
	struct env *e = *state;

	desc(e, 0, 0x50000000, 32, VQ_DESC_F_INDIRECT, 0);
	offer(e, 0);
	expect_broken(e, VQ_ERR_ADDR);
}

/* An indirect table across a region boundary, or unaligned, is legal. */
static void test_indirect_table_spanning_ok(void **state)
{
	struct env *e = *state;
	struct vq_desc t[4];
	struct vq_chain c[1];
	uint64_t b = buf(e), at = H_IOVA1 + H_SMALL - 24; /* 3 bytes unaligned too */

	for (int i = 0; i < 4; i++)
		t[i] = (struct vq_desc){ b + i, 1, i < 3 ? VQ_DESC_F_NEXT : 0, (uint16_t)(i + 1) };
	at += 3;
	sim_hostmem_write(&e->mem, at, t, sizeof(t));
	desc(e, 0, at, sizeof(t), VQ_DESC_F_INDIRECT, 0);
	offer(e, 0);
	assert_int_equal(env_pop(e, c, 1), 1);
	assert_int_equal(c[0].nseg, 4);
	assert_int_equal(c[0].seg[3].iova, b + 3);
}

static void test_len_wraps(void **state)
{
	struct env *e = *state;

	desc(e, 0, UINT64_MAX - 10, 100, 0, 0);
	offer(e, 0);
	expect_broken(e, VQ_ERR_LEN_OVERFLOW);
}

static void test_chain_over_4g(void **state)
{
	struct env *e = *state;
	/* 6 GiB of IOVA backed by an inaccessible reservation: the walk must
	 * refuse it on lengths alone, without touching a byte. */
	const uint64_t big = 6ull << 30, at = 0x1000000000ull;
	void *res = mmap(NULL, big, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	assert_true(res != MAP_FAILED);
	assert_int_equal(dma_map(e->dma, at, big, res, DMA_PROT_READ | DMA_PROT_WRITE), 0);
	desc(e, 0, at, 0xc0000000u, VQ_DESC_F_NEXT, 1);
	desc(e, 1, at + 0xc0000000u, 0xc0000000u, 0, 0);
	offer(e, 0);
	expect_broken(e, VQ_ERR_LEN_OVERFLOW);
	assert_int_equal(dma_unmap(e->dma, at, big), 0);
	munmap(res, big);
}

static void test_addr_outside(void **state)
{
	struct env *e = *state;

	desc(e, 0, 0x3000000, 64, 0, 0); /* in the gap */
	offer(e, 0);
	expect_broken(e, VQ_ERR_ADDR);
}

static void test_addr_runs_off_region(void **state)
{
	struct env *e = *state;
	const uint64_t end = H_IOVA1 + H_NSMALL * H_SMALL;

	desc(e, 0, end - 10, 20, 0, 0);
	offer(e, 0);
	expect_broken(e, VQ_ERR_ADDR);
}

static void test_write_to_readonly(void **state)
{
	struct env *e = *state;
	struct vq_chain c[1];

	desc(e, 0, H_IOVA_RO, 64, 0, 0); /* reading it is fine */
	offer(e, 0);
	assert_int_equal(env_pop(e, c, 1), 1);
	desc(e, 1, H_IOVA_RO, 64, VQ_DESC_F_WRITE, 0);
	offer(e, 1);
	expect_broken(e, VQ_ERR_ADDR);
	assert_int_equal(e->ro[0], 0x5c);
}

static void test_avail_idx_jump(void **state)
{
	struct env *e = *state;
	struct vq_chain c[QSIZE];

	for (int i = 0; i < QSIZE; i++)
		desc(e, (uint16_t)i, buf(e), 8, 0, 0);
	/* Exactly a full ring is fine... */
	for (int i = 0; i < QSIZE; i++)
		e->drv.avail->ring[i] = cpu_to_vle16((uint16_t)i);
	e->drv.avail->idx = cpu_to_vle16(QSIZE);
	assert_int_equal(env_pop(e, c, QSIZE), QSIZE);
	assert_false(vq_broken(&e->vq));
	/* ...more than the queue size beyond last_avail is not. */
	e->drv.avail->idx = cpu_to_vle16(2 * QSIZE + 1);
	assert_int_equal(env_pop(e, c, QSIZE), 0);
	assert_true(vq_broken(&e->vq));
	assert_int_equal(e->vq.error, VQ_ERR_AVAIL_IDX);
}

static void test_head_beyond_queue(void **state)
{
	struct env *e = *state;

	offer(e, QSIZE);
	expect_broken(e, VQ_ERR_HEAD_RANGE);
}

static void test_next_beyond_queue(void **state)
{
	struct env *e = *state;

	desc(e, 0, buf(e), 8, VQ_DESC_F_NEXT, QSIZE);
	offer(e, 0);
	expect_broken(e, VQ_ERR_NEXT_RANGE);
}

static void test_next_beyond_indirect_table(void **state)
{
	struct env *e = *state;
	struct vq_desc t[2];
	uint64_t b = buf(e);

	t[0] = (struct vq_desc){ b, 8, VQ_DESC_F_NEXT, 1 };
	t[1] = (struct vq_desc){ b, 8, VQ_DESC_F_NEXT, 2 }; /* table has 2 */
	desc(e, 0, table(e, t, 2), 32, VQ_DESC_F_INDIRECT, 0);
	offer(e, 0);
	expect_broken(e, VQ_ERR_NEXT_RANGE);
}

static void test_head_offered_twice(void **state)
{
	struct env *e = *state;
	struct vq_chain c[2];

	desc(e, 2, buf(e), 8, 0, 0);
	offer(e, 2);
	offer(e, 2);
	/* The first is handed out; the second stops the burst. */
	assert_int_equal(env_pop(e, c, 2), 1);
	assert_true(vq_broken(&e->vq));
	assert_int_equal(e->vq.error, VQ_ERR_HEAD_BUSY);
}

static void test_readable_after_writable(void **state)
{
	struct env *e = *state;
	uint64_t b = buf(e);

	desc(e, 0, b, 8, VQ_DESC_F_WRITE | VQ_DESC_F_NEXT, 1);
	desc(e, 1, b + 8, 8, 0, 0);
	offer(e, 0);
	expect_broken(e, VQ_ERR_ORDER);
}

static void test_ring_outside(void **state)
{
	struct env *e = *state;
	struct vq q;
	struct vq_chain c[1];

	assert_int_equal(vq_setup(&q, e->dma, QSIZE, 0x3000000, e->drv.avail_iova,
				  e->drv.used_iova, 0, "bad"), 0);
	assert_int_equal(vq_pop_burst(&q, c, 1, e->segs, QSIZE), 0);
	assert_true(vq_broken(&q));
	assert_int_equal(q.error, VQ_ERR_RING_ADDR);
	vq_teardown(&q);
	/* A used ring in read-only memory is refused too. */
	assert_int_equal(vq_setup(&q, e->dma, QSIZE, e->drv.desc_iova, e->drv.avail_iova,
				  H_IOVA_RO, 0, "ro"), 0);
	assert_int_equal(vq_pop_burst(&q, c, 1, e->segs, QSIZE), 0);
	assert_int_equal(q.error, VQ_ERR_RING_ADDR);
	vq_teardown(&q);
}

/* Good chains before the bad one are delivered; after reset all works. */
static void test_good_then_bad_then_reset(void **state)
{
	struct env *e = *state;
	struct vq_chain c[4];
	uint64_t b = buf(e);

	desc(e, 0, b, 8, 0, 0);
	desc(e, 1, b, 8, VQ_DESC_F_NEXT, 1);
	offer(e, 0);
	offer(e, 1);
	assert_int_equal(env_pop(e, c, 4), 1);
	assert_int_equal(c[0].head, 0);
	assert_true(vq_broken(&e->vq));
	assert_int_equal(env_pop(e, c, 4), 0);

	/* The driver resets the device and starts again. */
	vq_reset(&e->vq);
	memset(e->drv.avail, 0, vq_avail_bytes(QSIZE));
	memset(e->drv.used, 0, vq_used_bytes(QSIZE));
	e->drv.avail_idx = e->drv.kick_old = 0;
	assert_false(vq_broken(&e->vq));
	desc(e, 1, b, 8, 0, 0);
	offer(e, 1);
	assert_int_equal(env_pop(e, c, 4), 1);
	assert_int_equal(c[0].head, 1);
}

/* A flood of broken queues produces a bounded number of log lines. */
static unsigned lines, suppressed_lines;
static uint64_t fake_now = 1000ull * 1000 * 1000 * 1000;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static void count_sink(enum hal_log_level l, const char *line)
{
	(void)l;
	lines++;
	if (strstr(line, "similar messages suppressed"))
		suppressed_lines++;
}

static void test_errors_rate_limited(void **state)
{
	struct env *e = *state;
	struct vq_chain c[1];

	hal_log_set_clock(fake_clock);
	hal_log_set_sink(count_sink);
	lines = 0;
	desc(e, 0, 0x3000000, 8, 0, 0);
	for (int i = 0; i < 1000; i++) {
		e->drv.avail_idx = e->drv.kick_old = 0;
		vq_reset(&e->vq);
		offer(e, 0);
		assert_int_equal(env_pop(e, c, 1), 0);
		assert_true(vq_broken(&e->vq));
	}
	/* The default burst per interval (earlier tests' drops may be
	 * reported once as the interval opens). */
	assert_int_equal(lines - suppressed_lines, 10);
	unsigned before = suppressed_lines;
	/* The next interval opens with the count of what was dropped. */
	fake_now += 2ull * 1000 * 1000 * 1000;
	e->drv.avail_idx = e->drv.kick_old = 0;
	vq_reset(&e->vq);
	offer(e, 0);
	assert_int_equal(env_pop(e, c, 1), 0);
	assert_int_equal(suppressed_lines, before + 1);
	assert_int_equal(lines - suppressed_lines, 11);
	hal_log_set_clock(NULL);
	hal_log_set_sink(quiet_sink);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_loop_in_chain),
		T(test_self_loop),
		T(test_chain_longer_than_queue),
		T(test_direct_then_indirect_ok),
		T(test_chain_at_limits_ok),
		T(test_indirect_in_indirect),
		T(test_indirect_len_not_multiple),
		T(test_indirect_len_zero),
		T(test_indirect_too_large),
		T(test_indirect_with_next),
		cmocka_unit_test(test_indirect_not_negotiated),
		T(test_indirect_table_outside),
		T(test_indirect_table_spanning_ok),
		T(test_len_wraps),
		T(test_chain_over_4g),
		T(test_addr_outside),
		T(test_addr_runs_off_region),
		T(test_write_to_readonly),
		T(test_avail_idx_jump),
		T(test_head_beyond_queue),
		T(test_next_beyond_queue),
		T(test_next_beyond_indirect_table),
		T(test_head_offered_twice),
		T(test_readable_after_writable),
		T(test_ring_outside),
		T(test_good_then_bad_then_reset),
		T(test_errors_rate_limited),
	};
	return cmocka_run_group_tests_name("virtq_hostile", tests, NULL, NULL);
}
