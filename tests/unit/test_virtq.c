/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Virtqueues (split and packed), device side, driven through the driver
 * side (sim_vq):
 * basic exchange, notification suppression both ways, in-order batches,
 * completion validation, save/load, DMA table changes and the dirty log,
 * tens of thousands of random chains checked byte for byte, and driver
 * and device on two threads sleeping on eventfds (no lost wake-ups).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cmocka.h>

#include "hal_log.h"
#include "vq_harness.h"

static void drv_add1(struct env *e, uint64_t iova, uint32_t len, bool writable,
		     void *token)
{
	struct sim_buf b = { iova, len };

	if (writable)
		assert_int_equal(sim_vq_add(&e->drv, NULL, 0, &b, 1, token, false), 0);
	else
		assert_int_equal(sim_vq_add(&e->drv, &b, 1, NULL, 0, token, false), 0);
}

static void test_basic_exchange(void **state)
{
	struct env e;
	struct vq_chain c[4];
	char msg[] = "hello, device";
	char back[64] = { 0 };
	uint32_t len;
	bool bad;

	(void)state;
	env_init(&e, 8, 0, 0);
	uint64_t out = env_alloc(&e, 64), in = env_alloc(&e, 64);
	sim_hostmem_write(&e.mem, out, msg, sizeof(msg));
	struct sim_buf o = { out, sizeof(msg) }, i = { in, 64 };
	assert_int_equal(sim_vq_add(&e.drv, &o, 1, &i, 1, (void *)0x1234, false), 0);
	assert_int_equal(env_pop(&e, c, 4), 0); /* not published yet */
	assert_true(sim_vq_publish(&e.drv));
	assert_int_equal(vq_avail_count(&e.vq), 1);
	assert_int_equal(env_pop(&e, c, 4), 1);
	assert_int_equal(c[0].nseg, 2);
	assert_int_equal(c[0].nread, 1);
	assert_int_equal(c[0].rlen, sizeof(msg));
	assert_int_equal(c[0].wlen, 64);
	assert_non_null(c[0].seg[0].va);
	assert_int_equal(vq_chain_read(&e.vq, &c[0], 0, back, sizeof(back)), sizeof(msg));
	assert_string_equal(back, msg);
	assert_int_equal(vq_chain_write(&e.vq, &c[0], 0, "reply", 5), 5);
	struct vq_done d = { c[0].head, 5 };
	assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
	assert_true(vq_should_notify(&e.vq));
	assert_false(vq_should_notify(&e.vq)); /* nothing new since */
	assert_ptr_equal(sim_vq_get_used(&e.drv, &len, &bad), (void *)0x1234);
	assert_false(bad);
	assert_int_equal(len, 5);
	sim_hostmem_read(&e.mem, in, back, 5);
	assert_memory_equal(back, "reply", 5);
	assert_null(sim_vq_get_used(&e.drv, &len, &bad));
	assert_int_equal(e.drv.num_free, 8);
	env_fini(&e);
}

static void test_setup_validation(void **state)
{
	struct env e;
	struct vq q;

	(void)state;
	env_init(&e, 8, 0, 0);
	assert_int_equal(vq_setup(&q, e.dma, 6, 0x100000, 0x100100, 0x100200, 0, "x"), -EINVAL);
	assert_int_equal(vq_setup(&q, e.dma, 0, 0x100000, 0x100100, 0x100200, 0, "x"), -EINVAL);
	assert_int_equal(vq_setup(&q, e.dma, 8, 0x100008, 0x100100, 0x100200, 0, "x"), -EINVAL);
	assert_int_equal(vq_setup(&q, e.dma, 8, 0x100000, 0x100101, 0x100200, 0, "x"), -EINVAL);
	assert_int_equal(vq_setup(&q, e.dma, 8, 0x100000, 0x100100, 0x100202, 0, "x"), -EINVAL);
	assert_int_equal(vq_setup(&q, e.dma, 8, 0x100000, 0x100100, 0x100200, 0x80, "x"), -EINVAL);
	assert_int_equal(vq_setup(&q, e.dma, 32768, 0x100000, 0x100100, 0x100200, 0, "x"), 0);
	vq_teardown(&q);
	env_fini(&e);
}

/* Without EVENT_IDX: the flags fields, both ways. */
static void test_suppression_flags(void **state)
{
	struct env e;
	struct vq_chain c[8];
	struct vq_done d;
	uint32_t len;
	bool bad;

	(void)state;
	env_init(&e, 8, 0, 0);
	uint64_t b = env_alloc(&e, 64);

	drv_add1(&e, b, 64, false, (void *)1);
	assert_true(sim_vq_publish(&e.drv));       /* kicks wanted by default */
	vq_notify_disable(&e.vq);
	drv_add1(&e, b, 64, false, (void *)2);
	assert_false(sim_vq_publish(&e.drv));      /* NO_NOTIFY honoured */
	assert_true(vq_notify_enable(&e.vq));      /* work already there */
	drv_add1(&e, b, 64, false, (void *)3);
	assert_true(sim_vq_publish(&e.drv));
	assert_int_equal(env_pop(&e, c, 8), 3);
	assert_false(vq_notify_enable(&e.vq));     /* nothing new: may sleep */

	sim_vq_disable_cb(&e.drv);
	d = (struct vq_done){ c[0].head, 0 };
	assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
	assert_false(vq_should_notify(&e.vq));     /* NO_INTERRUPT honoured */
	assert_true(sim_vq_enable_cb(&e.drv));     /* and the driver sees it */
	d = (struct vq_done){ c[1].head, 0 };
	assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
	assert_true(vq_should_notify(&e.vq));
	assert_ptr_equal(sim_vq_get_used(&e.drv, &len, &bad), (void *)1);
	assert_ptr_equal(sim_vq_get_used(&e.drv, &len, &bad), (void *)2);
	assert_false(sim_vq_enable_cb(&e.drv));
	assert_int_equal(e.vq.n_notify, 1);
	assert_int_equal(e.vq.n_notify_suppressed, 1);
	env_fini(&e);
}

/* With EVENT_IDX: used_event and avail_event. */
static void test_suppression_event_idx(void **state)
{
	struct env e;
	struct vq_chain c[16];
	struct vq_done d[16];
	uint32_t len;
	bool bad;

	(void)state;
	env_init(&e, 16, VQ_F_EVENT_IDX, 0);
	uint64_t b = env_alloc(&e, 64);

	/* avail_event starts at 0: the first buffer is kicked. */
	drv_add1(&e, b, 64, false, (void *)1);
	assert_true(sim_vq_publish(&e.drv));
	/* The device does not re-arm: later publishes are not kicked. */
	drv_add1(&e, b, 64, false, (void *)2);
	assert_false(sim_vq_publish(&e.drv));
	/* The device re-arms at its position: the next one is kicked. */
	assert_int_equal(env_pop(&e, c, 16), 2);
	assert_false(vq_notify_enable(&e.vq));
	assert_int_equal(vle16_to_cpu(*vq_avail_event_ptr(e.drv.used, 16)), 2);
	drv_add1(&e, b, 64, false, (void *)3);
	drv_add1(&e, b, 64, false, (void *)4);
	assert_true(sim_vq_publish(&e.drv));
	assert_int_equal(env_pop(&e, &c[2], 14), 2);

	/* used_event: the driver asks for an interrupt when entry 2 (the
	 * third completion) is used. */
	*vq_used_event_ptr(e.drv.avail, 16) = cpu_to_vle16(2);
	for (int i = 0; i < 4; i++)
		d[i] = (struct vq_done){ c[i].head, 0 };
	assert_int_equal(vq_push_burst(&e.vq, &d[0], 1, false), 0);
	assert_false(vq_should_notify(&e.vq));     /* used idx 1 */
	assert_int_equal(vq_push_burst(&e.vq, &d[1], 1, false), 0);
	assert_false(vq_should_notify(&e.vq));     /* used idx 2 */
	assert_int_equal(vq_push_burst(&e.vq, &d[2], 2, false), 0);
	assert_true(vq_should_notify(&e.vq));      /* crossed entry 2 */
	for (int i = 1; i <= 4; i++)
		assert_ptr_equal(sim_vq_get_used(&e.drv, &len, &bad), (void *)(uintptr_t)i);
	/* The driver re-armed used_event at its position while reaping. */
	assert_int_equal(vle16_to_cpu(*vq_used_event_ptr(e.drv.avail, 16)), 4);
	/* The flags field is ignored under EVENT_IDX. */
	e.drv.avail->flags = cpu_to_vle16(VQ_AVAIL_F_NO_INTERRUPT);
	drv_add1(&e, b, 64, false, (void *)5);
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 16), 1);
	d[0] = (struct vq_done){ c[0].head, 0 };
	assert_int_equal(vq_push_burst(&e.vq, d, 1, false), 0);
	assert_true(vq_should_notify(&e.vq));
	env_fini(&e);
}

static void test_in_order_batch(void **state)
{
	struct env e;
	struct vq_chain c[8];
	struct vq_done d[8];
	uint64_t b[5];
	uint32_t len;
	bool bad;

	(void)state;
	env_init(&e, 8, VQ_F_IN_ORDER | VQ_F_INDIRECT, 4);
	for (int i = 0; i < 5; i++) {
		b[i] = env_alloc(&e, 100);
		struct sim_buf w[2] = { { b[i], 40 }, { b[i] + 40, 60 } };
		/* Mix direct 2-descriptor chains and indirect ones. */
		assert_int_equal(sim_vq_add(&e.drv, NULL, 0, w, 2,
					    (void *)(uintptr_t)(i + 1), i % 2), 0);
	}
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 8), 5);
	/* Descriptors were used in ring order: heads 0, 2, 3, 5, 6. */
	assert_int_equal(c[0].head, 0);
	assert_int_equal(c[1].head, 2);
	assert_int_equal(c[2].head, 3);
	assert_int_equal(c[3].head, 5);
	assert_int_equal(c[4].head, 6);
	for (int i = 0; i < 5; i++)
		d[i] = (struct vq_done){ c[i].head, 100 };
	d[3].len = 7;
	/* Out of order under IN_ORDER is refused, and writes nothing. */
	struct vq_done swapped[2] = { d[1], d[0] };
	assert_int_equal(vq_push_burst(&e.vq, swapped, 2, false), -EINVAL);
	assert_int_equal(e.drv.used->idx, 0);
	/* A batch whose skipped chains are not fully written is refused. */
	d[1].len = 99;
	assert_int_equal(vq_push_burst(&e.vq, d, 4, true), -EINVAL);
	d[1].len = 100;
	/* One entry for four chains, at the first chain's offset, naming
	 * the last; then one plain entry. */
	assert_int_equal(vq_push_burst(&e.vq, d, 4, true), 0);
	assert_int_equal(vle16_to_cpu(e.drv.used->idx), 4);
	assert_int_equal(vle32_to_cpu(e.drv.used->ring[0].id), c[3].head);
	assert_int_equal(vle32_to_cpu(e.drv.used->ring[0].len), 7);
	assert_int_equal(vq_push_burst(&e.vq, &d[4], 1, false), 0);
	assert_int_equal(vle32_to_cpu(e.drv.used->ring[4].id), c[4].head);
	for (int i = 0; i < 5; i++) {
		assert_ptr_equal(sim_vq_get_used(&e.drv, &len, &bad), (void *)(uintptr_t)(i + 1));
		assert_false(bad);
		/* Skipped chains count as fully written. */
		assert_int_equal(len, i == 3 ? 7 : 100);
	}
	assert_null(sim_vq_get_used(&e.drv, &len, &bad));
	assert_int_equal(e.drv.num_free, 8);
	env_fini(&e);
}

static void test_push_validation(void **state)
{
	struct env e;
	struct vq_chain c[4];
	uint64_t b;

	(void)state;
	env_init(&e, 4, 0, 0);
	b = env_alloc(&e, 64);
	drv_add1(&e, b, 64, true, (void *)1);
	drv_add1(&e, b, 64, true, (void *)2);
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 4), 2);
	struct vq_done bad_id[1] = { { 9, 0 } };
	assert_int_equal(vq_push_burst(&e.vq, bad_id, 1, false), -EINVAL);
	struct vq_done not_popped[1] = { { 3, 0 } };
	assert_int_equal(vq_push_burst(&e.vq, not_popped, 1, false), -EINVAL);
	struct vq_done dup[2] = { { c[0].head, 0 }, { c[0].head, 0 } };
	assert_int_equal(vq_push_burst(&e.vq, dup, 2, false), -EINVAL);
	struct vq_done one[1] = { { c[1].head, 0 } };
	assert_int_equal(vq_push_burst(&e.vq, one, 1, true), -EINVAL); /* batch needs IN_ORDER */
	assert_int_equal(e.drv.used->idx, 0); /* nothing written by any of these */
	assert_int_equal(e.vq.n_inflight, 2);
	struct vq_done too_long[1] = { { c[1].head, 65 } }; /* buffer is 64 */
	assert_int_equal(vq_push_burst(&e.vq, too_long, 1, false), -EINVAL);
	struct vq_done first[1] = { { c[1].head, 64 } };
	assert_int_equal(vq_push_burst(&e.vq, first, 1, false), 0);
	/* Completing it again while another chain is still in flight. */
	assert_int_equal(vq_push_burst(&e.vq, first, 1, false), -EINVAL);
	assert_int_equal(vle16_to_cpu(e.drv.used->idx), 1);
	struct vq_done second[1] = { { c[0].head, 2 } };
	assert_int_equal(vq_push_burst(&e.vq, second, 1, false), 0);
	assert_int_equal(e.vq.n_inflight, 0);
	assert_false(vq_broken(&e.vq));
	env_fini(&e);
}

/* Save with chains in flight, load into a fresh queue: the in-flight
 * chains come back first, oldest first, and complete exactly once. */
static void test_save_load(void **state)
{
	struct env e;
	struct vq_chain c[8];
	struct vq q2;
	struct vq_state *st = malloc(vq_state_bytes(8));
	uint32_t len;
	bool bad;
	uint64_t b;

	(void)state;
	env_init(&e, 8, VQ_F_EVENT_IDX, 0);
	b = env_alloc(&e, 512);
	for (int i = 0; i < 5; i++)
		drv_add1(&e, b + 64 * i, 64, true, (void *)(uintptr_t)(i + 1));
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 8), 5);
	struct vq_done d[2] = { { c[3].head, 3 }, { c[1].head, 1 } };
	assert_int_equal(vq_push_burst(&e.vq, d, 2, false), 0);
	assert_int_equal(vq_save(&e.vq, st), 0);
	assert_int_equal(st->n_inflight, 3);
	assert_int_equal(st->inflight[0], c[0].head);
	assert_int_equal(st->inflight[1], c[2].head);
	assert_int_equal(st->inflight[2], c[4].head);
	assert_int_equal(st->last_avail_idx, 5);
	assert_int_equal(st->last_used_idx, 2);

	/* Broken states are refused. */
	struct vq_state *badst = malloc(vq_state_bytes(8));
	memcpy(badst, st, vq_state_bytes(8));
	badst->inflight[1] = badst->inflight[0];
	assert_int_equal(vq_load(&q2, e.dma, badst, "q2"), -EINVAL);
	memcpy(badst, st, vq_state_bytes(8));
	badst->inflight[2] = 8;
	assert_int_equal(vq_load(&q2, e.dma, badst, "q2"), -EINVAL);
	memcpy(badst, st, vq_state_bytes(8));
	badst->last_used_idx = 1;
	assert_int_equal(vq_load(&q2, e.dma, badst, "q2"), -EINVAL);
	memcpy(badst, st, vq_state_bytes(8));
	badst->size = 12;
	assert_int_equal(vq_load(&q2, e.dma, badst, "q2"), -EINVAL);
	free(badst);

	/* The source goes away; the destination takes over. */
	vq_teardown(&e.vq);
	assert_int_equal(vq_load(&e.vq, e.dma, st, "q2"), 0);
	/* Can't complete a restored chain before popping it again. */
	struct vq_done early = { st->inflight[0], 0 };
	assert_int_equal(vq_push_burst(&e.vq, &early, 1, false), -EINVAL);
	drv_add1(&e, b + 64 * 5, 64, true, (void *)6);
	sim_vq_publish(&e.drv);
	assert_int_equal(vq_avail_count(&e.vq), 4);
	assert_int_equal(env_pop(&e, c, 2), 2);
	assert_int_equal(c[0].head, st->inflight[0]);
	assert_int_equal(c[1].head, st->inflight[1]);
	assert_int_equal(env_pop(&e, &c[2], 6), 2);
	assert_int_equal(c[2].head, st->inflight[2]);
	for (int i = 0; i < 4; i++) {
		struct vq_done x = { c[i].head, 9 };
		assert_int_equal(vq_push_burst(&e.vq, &x, 1, false), 0);
	}
	int seen[7] = { 0 };
	void *t;
	while ((t = sim_vq_get_used(&e.drv, &len, &bad)))
		seen[(uintptr_t)t]++;
	assert_false(bad);
	for (int i = 1; i <= 6; i++)
		assert_int_equal(seen[i], 1);
	free(st);
	env_fini(&e);
}

/* Mapping more memory re-translates the rings; unmapping the rings'
 * region breaks the queue instead of touching freed memory. */
static void test_dma_table_changes(void **state)
{
	struct env e;
	struct vq_chain c[4];
	static uint8_t extra[4096] __attribute__((aligned(64)));
	uint64_t b;

	(void)state;
	env_init(&e, 4, 0, 0);
	b = env_alloc(&e, 64);
	drv_add1(&e, b, 64, false, (void *)1);
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 4), 1);
	uint64_t gen = e.vq.tbl_gen;
	assert_int_equal(dma_map(e.dma, 0x9000000, sizeof(extra), extra, DMA_PROT_READ), 0);
	drv_add1(&e, 0x9000000, 64, false, (void *)2);
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 4), 1);
	assert_true(e.vq.tbl_gen > gen);
	assert_ptr_equal(c[0].seg[0].va, extra);
	assert_int_equal(dma_unmap(e.dma, H_IOVA0, H_LEN0), 0);
	assert_int_equal(env_pop(&e, c, 4), 0);
	assert_true(vq_broken(&e.vq));
	assert_int_equal(e.vq.error, VQ_ERR_RING_ADDR);
	env_fini(&e);
}

/* With logging on, every page the device writes is reported: the buffer,
 * the used entry, the used index and avail_event, each on its own page
 * (queue of 1024, used idx moved past the first page of entries). */
static void test_dirty_log_marks(void **state)
{
	struct env e;
	struct vq_chain c[4];
	uint64_t bm[(H_LEN0 / 4096) / 64];
	uint8_t data[200];

	(void)state;
	env_init(&e, 1024, VQ_F_EVENT_IDX, 0);
	uint64_t in = env_alloc(&e, 3 * 4096);
	in = (in + 4095) & ~4095ull;
	struct sim_buf w = { in + 4000, 200 }; /* crosses a page */
	for (int i = 0; i < 600; i++) {
		uint32_t len;
		bool bad;
		assert_int_equal(sim_vq_add(&e.drv, NULL, 0, &w, 1, (void *)1, false), 0);
		sim_vq_publish(&e.drv);
		assert_int_equal(env_pop(&e, c, 4), 1);
		struct vq_done d = { c[0].head, 0 };
		assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
		assert_non_null(sim_vq_get_used(&e.drv, &len, &bad));
	}
	assert_int_equal(sim_vq_add(&e.drv, NULL, 0, &w, 1, (void *)1, false), 0);
	sim_vq_publish(&e.drv);
	assert_int_equal(dma_log_start(e.dma, 4096), 0);
	assert_int_equal(env_pop(&e, c, 4), 1);
	assert_int_equal(dma_log_report(e.dma, H_IOVA0, H_LEN0, bm), 0);
	for (size_t i = 0; i < sizeof(bm) / 8; i++)
		assert_int_equal(bm[i], 0); /* popping writes nothing */
	memset(data, 7, sizeof(data));
	assert_int_equal(vq_chain_write(&e.vq, &c[0], 0, data, 200), 200);
	struct vq_done d = { c[0].head, 200 };
	assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
	assert_false(vq_notify_enable(&e.vq)); /* writes avail_event */
	assert_int_equal(dma_log_report(e.dma, H_IOVA0, H_LEN0, bm), 0);
	uint64_t used0 = (e.drv.used_iova - H_IOVA0) / 4096;
	uint64_t want[5] = {
		(in - H_IOVA0) / 4096, (in - H_IOVA0) / 4096 + 1, /* data */
		used0,     /* used->idx */
		used0 + 1, /* entry 600 at byte 4 + 8 * 600 */
		used0 + 2, /* avail_event at byte 4 + 8 * 1024 */
	};
	unsigned set = 0;
	for (size_t p = 0; p < H_LEN0 / 4096; p++) {
		bool dirty = bm[p / 64] & (1ull << (p % 64));
		bool expected = false;
		for (int k = 0; k < 5; k++)
			expected |= p == want[k];
		assert_int_equal(dirty, expected);
		set += dirty;
	}
	assert_int_equal(set, 5);
	env_fini(&e);
}

/* ---- vq_fill_burst: receive buffers filled and completed in one go ---- */

static const uint8_t fill_hdr[12] = "HDR-0123456";

/* Post n one-piece buffers of `cap` bytes, write-only or (`readable`)
 * read-only and full of bytes tok + i; tokens from tok. */
static void post_pieces(struct env *e, unsigned n, uint32_t cap, uintptr_t tok,
			uint64_t *iova, bool readable)
{
	for (unsigned i = 0; i < n; i++) {
		iova[i] = env_alloc(e, cap);
		struct sim_buf b = { iova[i], cap };
		if (readable) {
			uint8_t fill[256];
			memset(fill, (int)(tok + i), sizeof(fill));
			sim_hostmem_write(&e->mem, iova[i], fill, cap);
		}
		assert_int_equal(sim_vq_add(&e->drv, readable ? &b : NULL, readable,
					    readable ? NULL : &b, !readable,
					    (void *)(tok + i), false), 0);
	}
	sim_vq_publish(&e->drv);
}

static void fill_post(struct env *e, unsigned n, uint32_t cap, uintptr_t tok,
		      uint64_t *iova)
{
	post_pieces(e, n, cap, tok, iova, false);
}

/* Buffers (read-only or write-only) the general way: popped, then
 * completed with their 64 bytes written (none if read-only); the driver
 * gets them back. One, or under IN_ORDER two completed as one batch
 * (one used entry: the short way's counts and the batch's must agree). */
static void general_one(struct env *e, bool readable)
{
	struct vq_chain c[4];
	struct vq_done d[2];
	uint64_t iova[2];
	uint32_t got, w = readable ? 0 : 64;
	bool bad, batch = e->vq.flags & VQ_F_IN_ORDER;
	unsigned n = batch ? 2 : 1;

	post_pieces(e, n, 64, 0x99, iova, readable);
	assert_int_equal(env_pop(e, c, 4), n);
	for (unsigned i = 0; i < n; i++)
		d[i] = (struct vq_done){ c[i].head, w };
	assert_int_equal(vq_push_burst(&e->vq, d, n, batch), 0);
	for (unsigned i = 0; i < n; i++) {
		assert_ptr_equal(sim_vq_get_used(&e->drv, &got, &bad), (void *)(uintptr_t)(0x99 + i));
		assert_false(bad);
	}
}

/* Make the second of two buffers just offered the first one again (split:
 * its avail entry; packed: its id). */
static void offer_first_twice(struct env *e)
{
	bool packed = e->vq.flags & VQ_F_PACKED;
	uint64_t at = packed ? e->drv.desc_iova + 12 : e->drv.avail_iova + 4;
	uint16_t first;

	sim_hostmem_read(&e->mem, at, &first, 2);
	sim_hostmem_write(&e->mem, at + (packed ? 16 : 2), &first, 2);
}

/* The driver sees buffer `tok` completed with the header and data[k]. */
static void fill_check(struct env *e, uintptr_t tok, uint64_t iova, const uint8_t *data,
		       uint32_t len)
{
	uint32_t got;
	bool bad;
	uint8_t back[128];

	assert_ptr_equal(sim_vq_get_used(&e->drv, &got, &bad), (void *)tok);
	assert_false(bad);
	assert_int_equal(got, 12 + len);
	sim_hostmem_read(&e->mem, iova, back, 12 + len);
	assert_memory_equal(back, fill_hdr, 12);
	assert_memory_equal(back + 12, data, len);
}

/* Buffers filled in order across several turns of the ring (the packed
 * wrap counter flips), completions the driver takes one by one, the
 * general path (pop/push) in between, and the interrupt decision after. */
static void fill_rounds(uint32_t flags)
{
	struct env e;
	uint8_t data[8][64];
	const void *dp[8];
	uint32_t len[8];
	uint64_t iova[8];

	env_init(&e, 8, flags, 0);
	for (unsigned k = 0; k < 8; k++) {
		len[k] = 10 + 7 * k;
		memset(data[k], 0x40 + (int)k, sizeof(data[k]));
		dp[k] = data[k];
	}
	for (unsigned round = 0; round < 7; round++) {
		uintptr_t tok = 0x100 * (round + 1);
		unsigned posted = 3 + round % 4; /* 3..6 buffers a round */
		fill_post(&e, posted, 64, tok, iova);
		/* More packets than buffers: as many as there are. */
		assert_int_equal(vq_fill_burst(&e.vq, fill_hdr, 12, dp, len, 8), posted);
		assert_int_equal(vq_fill_burst(&e.vq, fill_hdr, 12, dp, len, 8), 0);
		assert_true(vq_should_notify(&e.vq));
		for (unsigned k = 0; k < posted; k++)
			fill_check(&e, tok + k, iova[k], data[k], len[k]);
		/* The general path goes on where the short one stopped. */
		general_one(&e, false);
	}
	assert_int_equal(e.vq.n_inflight, 0);
	assert_false(vq_broken(&e.vq));
	env_fini(&e);
}

static void test_fill_burst_split(void **state)
{
	(void)state;
	fill_rounds(0);
	fill_rounds(VQ_F_EVENT_IDX);
}

static void test_fill_burst_packed(void **state)
{
	(void)state;
	fill_rounds(VQ_F_PACKED);
	fill_rounds(VQ_F_PACKED | VQ_F_EVENT_IDX);
	fill_rounds(VQ_F_PACKED | VQ_F_IN_ORDER);
}

/* It stops at every buffer that is not one writable descriptor big
 * enough, which the general path then takes (and judges); and it does
 * nothing while a chain popped the general way is not completed. */
static void fill_stops(uint32_t flags)
{
	struct env e;
	struct vq_chain c[4];
	uint8_t data[32];
	const void *dp[4] = { data, data, data, data };
	uint32_t len[4] = { 32, 32, 32, 32 };
	uint64_t iova[4];
	uint32_t got;
	bool bad;

	memset(data, 0x5a, sizeof(data));
	/* A buffer offered twice in one go: the queue fails, nothing is
	 * written. */
	env_init(&e, 16, flags, 0);
	fill_post(&e, 2, 64, 0x30, iova);
	offer_first_twice(&e);
	assert_int_equal(vq_fill_burst(&e.vq, fill_hdr, 12, dp, len, 4), 0);
	assert_true(vq_broken(&e.vq));
	uint8_t back[64], zero[64] = { 0 };
	sim_hostmem_read(&e.mem, iova[0], back, sizeof(back));
	assert_memory_equal(back, zero, sizeof(back));
	env_fini(&e);

	env_init(&e, 16, flags, 0);
	/* One good buffer, then a chain of two pieces. */
	fill_post(&e, 1, 64, 0x10, iova);
	uint64_t a = env_alloc(&e, 64), b = env_alloc(&e, 64);
	struct sim_buf two[2] = { { a, 20 }, { b, 44 } };
	assert_int_equal(sim_vq_add(&e.drv, NULL, 0, two, 2, (void *)0x11, false), 0);
	sim_vq_publish(&e.drv);
	assert_int_equal(vq_fill_burst(&e.vq, fill_hdr, 12, dp, len, 4), 1);
	fill_check(&e, 0x10, iova[0], data, 32);
	assert_int_equal(env_pop(&e, c, 4), 1);
	assert_int_equal(c[0].nseg, 2);
	/* While that chain is in flight, nothing. */
	fill_post(&e, 1, 64, 0x12, iova);
	assert_int_equal(vq_fill_burst(&e.vq, fill_hdr, 12, dp, len, 4), 0);
	struct vq_done d = { c[0].head, 0 };
	assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
	assert_ptr_equal(sim_vq_get_used(&e.drv, &got, &bad), (void *)0x11);
	assert_int_equal(vq_fill_burst(&e.vq, fill_hdr, 12, dp, len, 4), 1);
	fill_check(&e, 0x12, iova[0], data, 32);

	/* Too short for header and data (43 < 44): left to the general path. */
	fill_post(&e, 1, 43, 0x13, iova);
	assert_int_equal(vq_fill_burst(&e.vq, fill_hdr, 12, dp, len, 4), 0);
	assert_int_equal(env_pop(&e, c, 4), 1);
	assert_int_equal(c[0].wlen, 43);
	d.id = c[0].head;
	assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
	assert_ptr_equal(sim_vq_get_used(&e.drv, &got, &bad), (void *)0x13);

	/* Device-readable (a transmit buffer in a receive queue). */
	uint64_t r = env_alloc(&e, 64);
	struct sim_buf ro = { r, 64 };
	assert_int_equal(sim_vq_add(&e.drv, &ro, 1, NULL, 0, (void *)0x14, false), 0);
	sim_vq_publish(&e.drv);
	assert_int_equal(vq_fill_burst(&e.vq, fill_hdr, 12, dp, len, 4), 0);
	assert_int_equal(env_pop(&e, c, 4), 1);
	assert_int_equal(c[0].nread, 1);
	d.id = c[0].head;
	assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
	assert_ptr_equal(sim_vq_get_used(&e.drv, &got, &bad), (void *)0x14);

	/* Outside every mapping: the general path fails the queue. */
	struct sim_buf gone = { 0x7000000, 64 };
	assert_int_equal(sim_vq_add(&e.drv, NULL, 0, &gone, 1, (void *)0x15, false), 0);
	sim_vq_publish(&e.drv);
	assert_int_equal(vq_fill_burst(&e.vq, fill_hdr, 12, dp, len, 4), 0);
	assert_int_equal(env_pop(&e, c, 4), 0);
	assert_true(vq_broken(&e.vq));
	assert_int_equal(vq_fill_burst(&e.vq, fill_hdr, 12, dp, len, 4), 0);
	env_fini(&e);
}

static void short_not_recorded(uint32_t flags, bool take); /* (below) */

/* A buffer lying over its own used entry (split) or descriptor (packed):
 * the copy overwrites it, and the completion, written after the copies,
 * still gives the driver the right id and length. */
static void fill_over_entry(uint32_t flags)
{
	struct env e;
	uint8_t data[4] = { 0xee, 0xee, 0xee, 0xee };
	const void *dp[1] = { data };
	uint32_t len[1] = { 4 }, got;
	bool bad;

	env_init(&e, 8, flags, 0);
	/* Split: ring[0] and ring[1] of the used ring (after flags and idx);
	 * packed: descriptor 0 itself. 12 + 4 bytes. */
	uint64_t at = flags & VQ_F_PACKED ? e.drv.desc_iova : e.drv.used_iova + 4;
	drv_add1(&e, at, 16, true, (void *)0x77);
	sim_vq_publish(&e.drv);
	assert_int_equal(vq_fill_burst(&e.vq, fill_hdr, 12, dp, len, 1), 1);
	assert_ptr_equal(sim_vq_get_used(&e.drv, &got, &bad), (void *)0x77);
	assert_false(bad);
	assert_int_equal(got, 16);
	assert_false(vq_broken(&e.vq));
	env_fini(&e);
}

static void test_fill_over_own_entry(void **state)
{
	(void)state;
	fill_over_entry(0);
	fill_over_entry(VQ_F_PACKED);
}

static void test_fill_burst_stops(void **state)
{
	(void)state;
	fill_stops(0);
	fill_stops(VQ_F_PACKED);
	short_not_recorded(0, false);
	short_not_recorded(VQ_F_PACKED, false);
}

/* With the dirty log on, what a short way writes is marked and nothing
 * else: a fill's data pages (a buffer across a page boundary), a take's
 * none (the buffers are only read), and the used entries of a burst of
 * two (split: used->idx on the used ring's first page, entries 767 and
 * 768 on its second; packed: descriptors 767 and 768, on the ring's
 * third and fourth pages). */
static void short_one(struct env *e, bool take, unsigned n)
{
	static uint8_t data[200];
	const void *dp[2] = { data, data };
	uint32_t len[2] = { 200, 200 };
	struct vq_buf b[2];
	bool rest;

	if (take) {
		assert_int_equal(vq_take_burst(&e->vq, b, n, 300, &rest), n);
		vq_take_done(&e->vq, b, n);
	} else {
		assert_int_equal(vq_fill_burst(&e->vq, fill_hdr, 12, dp, len, n), n);
	}
}

static void short_log(uint32_t flags, bool take)
{
	struct env e;
	uint64_t bm[(H_LEN0 / 4096) / 64];
	uint32_t got;
	bool bad;

	env_init(&e, 1024, flags, 0);
	uint64_t buf = env_alloc(&e, 3 * 4096);
	buf = (buf + 4095) & ~4095ull;
	struct sim_buf w = { buf + 4000, 300 }; /* crosses a page */
	for (int i = 0; i < 767; i++) {
		assert_int_equal(sim_vq_add(&e.drv, take ? &w : NULL, take, take ? NULL : &w,
					    !take, (void *)1, false), 0);
		sim_vq_publish(&e.drv);
		short_one(&e, take, 1);
		assert_non_null(sim_vq_get_used(&e.drv, &got, &bad));
	}
	assert_int_equal(dma_log_start(e.dma, 4096), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(sim_vq_add(&e.drv, take ? &w : NULL, take, take ? NULL : &w,
					    !take, (void *)1, false), 0);
	sim_vq_publish(&e.drv);
	short_one(&e, take, 2);
	assert_int_equal(dma_log_report(e.dma, H_IOVA0, H_LEN0, bm), 0);
	uint64_t p0 = (buf - H_IOVA0) / 4096, want[4];
	unsigned nwant = 0;
	if (flags & VQ_F_PACKED) {
		want[nwant++] = (e.drv.desc_iova + 16 * 767 - H_IOVA0) / 4096;
		want[nwant++] = (e.drv.desc_iova + 16 * 768 - H_IOVA0) / 4096;
		assert_int_equal(want[1], want[0] + 1);
	} else {
		want[nwant++] = (e.drv.used_iova - H_IOVA0) / 4096; /* used->idx */
		want[nwant++] = want[0] + 1;                        /* entries 767, 768 */
	}
	if (!take) {
		want[nwant++] = p0;
		want[nwant++] = p0 + 1;
	}
	unsigned set = 0;
	for (size_t p = 0; p < H_LEN0 / 4096; p++) {
		bool dirty = bm[p / 64] & (1ull << (p % 64)), expected = false;
		for (unsigned k = 0; k < nwant; k++)
			expected |= p == want[k];
		assert_int_equal(dirty, expected);
		set += dirty;
	}
	assert_int_equal(set, nwant);
	env_fini(&e);
}

static void test_fill_burst_dirty_log(void **state)
{
	(void)state;
	short_log(0, false);
	short_log(VQ_F_PACKED, false);
}

/* ---- vq_take_burst: transmit buffers read in place, completed in one go ---- */

/* The driver gets tokens tok.. tok + k - 1 back, in order, with nothing
 * written. */
static void take_used(struct env *e, uintptr_t tok, unsigned k)
{
	uint32_t got;
	bool bad;

	for (unsigned i = 0; i < k; i++) {
		assert_ptr_equal(sim_vq_get_used(&e->drv, &got, &bad), (void *)(tok + i));
		assert_false(bad);
		assert_int_equal(got, 0);
	}
}

/* Take what is there (at most n, of at most max bytes): each buffer is
 * where the driver put it, full of its token's byte; then complete them.
 * Returns how many were taken; with `used`, checks the driver's side. */
static unsigned take_check(struct env *e, unsigned n, uint32_t max, uintptr_t tok,
			   const uint64_t *iova, uint32_t cap, bool used)
{
	struct vq_buf b[8];
	uint8_t want[256];
	bool rest;
	unsigned there = vq_avail_count(&e->vq);
	uint64_t short0 = e->vq.n_short;
	unsigned k = vq_take_burst(&e->vq, b, n, max, &rest);

	/* Something left for the general way whenever there is more; and
	 * not after taking all there was. */
	if (there > k)
		assert_true(rest);
	else if (k)
		assert_false(rest);

	for (unsigned i = 0; i < k; i++) {
		memset(want, (int)(tok + i), sizeof(want));
		assert_int_equal(b[i].len, cap);
		assert_ptr_equal(b[i].va, sim_hostmem_va(&e->mem, iova[i], cap));
		assert_memory_equal(b[i].va, want, cap);
	}
	vq_take_done(&e->vq, b, k);
	assert_int_equal(e->vq.n_short, short0 + k);
	if (used)
		take_used(e, tok, k);
	return k;
}

/* Across several turns of the ring (the packed wrap counter flips), the
 * general path in between, the interrupt decision after. */
static void take_rounds(uint32_t flags)
{
	struct env e;
	uint64_t iova[8], iova_many[100];

	env_init(&e, 8, flags, 0);
	for (unsigned round = 0; round < 7; round++) {
		uintptr_t tok = 0x10 * (round + 1);
		unsigned posted = 3 + round % 4; /* 3..6 buffers a round */
		post_pieces(&e, posted, 40 + round, tok, iova, true);
		/* Asked for more than there are: as many as there are. */
		assert_int_equal(take_check(&e, 8, 64, tok, iova, 40 + round, false), posted);
		assert_true(vq_should_notify(&e.vq));
		take_used(&e, tok, posted);
		assert_int_equal(take_check(&e, 8, 64, tok, iova, 40 + round, true), 0);
		/* The general path goes on where the short one stopped. */
		general_one(&e, true);
	}
	/* Fewer than there are: the rest stay for the next call. */
	post_pieces(&e, 5, 32, 0x70, iova, true);
	assert_int_equal(take_check(&e, 2, 64, 0x70, iova, 32, true), 2);
	assert_int_equal(take_check(&e, 8, 64, 0x72, iova + 2, 32, true), 3);
	assert_int_equal(e.vq.n_inflight, 0);
	assert_false(vq_broken(&e.vq));
	env_fini(&e);

	/* Never more than 64 a call, however many are asked for and there. */
	struct vq_buf many[100];
	bool rest;
	env_init(&e, 128, flags, 0);
	post_pieces(&e, 100, 32, 0x200, iova_many, true);
	assert_int_equal(vq_take_burst(&e.vq, many, 100, 64, &rest), 64);
	assert_true(rest);
	vq_take_done(&e.vq, many, 64);
	assert_int_equal(vq_take_burst(&e.vq, many, 100, 64, &rest), 36);
	assert_false(rest);
	vq_take_done(&e.vq, many, 36);
	env_fini(&e);
}

static void test_take_burst_split(void **state)
{
	(void)state;
	take_rounds(0);
	take_rounds(VQ_F_EVENT_IDX);
	take_rounds(VQ_F_IN_ORDER);
}

static void test_take_burst_packed(void **state)
{
	(void)state;
	take_rounds(VQ_F_PACKED);
	take_rounds(VQ_F_PACKED | VQ_F_EVENT_IDX);
	take_rounds(VQ_F_PACKED | VQ_F_IN_ORDER);
}

/* It stops at every buffer that is not one readable descriptor of at
 * most max bytes, all mapped, which the general path then takes (and
 * judges); and it does nothing while a chain popped the general way is
 * not completed, or while in-flight buffers are recorded. */
static void *ifl_area_new(uint16_t size, bool pk); /* (below) */

/* With in-flight recording (a vhost-user front end's region), neither
 * short way runs: each buffer must be recorded as it is popped, which
 * only the general way does. */
static void short_not_recorded(uint32_t flags, bool take)
{
	struct env e;
	struct vq_chain c[4];
	uint8_t data[32] = { 0 };
	const void *dp[1] = { data };
	uint32_t len[1] = { 32 };
	uint64_t iova[1];
	bool packed = flags & VQ_F_PACKED;
	void *a = ifl_area_new(16, packed);

	env_init(&e, 16, flags, 0);
	assert_int_equal(vq_inflight_attach(&e.vq, a, vq_inflight_bytes(16, packed)), 0);
	if (take) {
		post_pieces(&e, 1, 64, 0x20, iova, true);
		assert_int_equal(take_check(&e, 4, 64, 0x20, iova, 64, true), 0);
	} else {
		fill_post(&e, 1, 64, 0x20, iova);
		assert_int_equal(vq_fill_burst(&e.vq, fill_hdr, 12, dp, len, 1), 0);
	}
	assert_int_equal(env_pop(&e, c, 4), 1);
	assert_int_equal(e.vq.n_inflight, 1);
	env_fini(&e);
	free(a);
}

static void take_stops(uint32_t flags)
{
	struct env e;
	struct vq_chain c[4];
	uint64_t iova[4];
	uint32_t got;
	bool bad;

	/* A buffer offered twice in one go (a driver's bug): the queue
	 * fails, as a pop would have it, and nothing is taken. */
	env_init(&e, 16, flags, 0);
	post_pieces(&e, 2, 64, 0x30, iova, true);
	offer_first_twice(&e);
	bool rest;
	struct vq_buf twice[4];
	assert_int_equal(vq_take_burst(&e.vq, twice, 4, 64, &rest), 0);
	assert_false(rest);
	assert_true(vq_broken(&e.vq));
	assert_int_equal(e.vq.n_short, 0);
	env_fini(&e);

	env_init(&e, 16, flags, 0);
	/* One good buffer, then a chain of two pieces. */
	post_pieces(&e, 1, 64, 0x10, iova, true);
	uint64_t a = env_alloc(&e, 64), b = env_alloc(&e, 64);
	struct sim_buf two[2] = { { a, 20 }, { b, 44 } };
	assert_int_equal(sim_vq_add(&e.drv, two, 2, NULL, 0, (void *)0x11, false), 0);
	sim_vq_publish(&e.drv);
	assert_int_equal(take_check(&e, 4, 64, 0x10, iova, 64, true), 1);
	assert_int_equal(env_pop(&e, c, 4), 1);
	assert_int_equal(c[0].nseg, 2);
	/* While that chain is in flight, nothing. */
	post_pieces(&e, 1, 64, 0x12, iova, true);
	assert_int_equal(take_check(&e, 4, 64, 0x12, iova, 64, true), 0);
	struct vq_done d = { c[0].head, 0 };
	assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
	assert_ptr_equal(sim_vq_get_used(&e.drv, &got, &bad), (void *)0x11);
	assert_int_equal(take_check(&e, 4, 64, 0x12, iova, 64, true), 1);

	/* Longer than max (64 > 63): left to the general path. */
	post_pieces(&e, 1, 64, 0x13, iova, true);
	assert_int_equal(take_check(&e, 4, 63, 0x13, iova, 64, true), 0);
	assert_int_equal(env_pop(&e, c, 4), 1);
	assert_int_equal(c[0].rlen, 64);
	d.id = c[0].head;
	assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
	assert_ptr_equal(sim_vq_get_used(&e.drv, &got, &bad), (void *)0x13);

	/* Empty: left to the general path. */
	struct sim_buf empty = { iova[0], 0 };
	assert_int_equal(sim_vq_add(&e.drv, &empty, 1, NULL, 0, (void *)0x16, false), 0);
	sim_vq_publish(&e.drv);
	assert_int_equal(take_check(&e, 4, 64, 0x16, iova, 0, true), 0);
	assert_int_equal(env_pop(&e, c, 4), 1);
	assert_int_equal(c[0].rlen, 0);
	d.id = c[0].head;
	assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
	assert_ptr_equal(sim_vq_get_used(&e.drv, &got, &bad), (void *)0x16);

	/* Device-writable (a receive buffer in a transmit queue). */
	post_pieces(&e, 1, 64, 0x14, iova, false);
	assert_int_equal(take_check(&e, 4, 64, 0x14, iova, 64, true), 0);
	assert_int_equal(env_pop(&e, c, 4), 1);
	assert_int_equal(c[0].nread, 0);
	d.id = c[0].head;
	assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
	assert_ptr_equal(sim_vq_get_used(&e.drv, &got, &bad), (void *)0x14);

	/* Mapped only in part: the general path fails the queue. */
	struct sim_buf edge = { H_IOVA1 + H_NSMALL * H_SMALL - 32, 64 };
	assert_int_equal(sim_vq_add(&e.drv, &edge, 1, NULL, 0, (void *)0x15, false), 0);
	sim_vq_publish(&e.drv);
	assert_int_equal(take_check(&e, 4, 64, 0x15, iova, 64, true), 0);
	assert_int_equal(env_pop(&e, c, 4), 0);
	assert_true(vq_broken(&e.vq));
	assert_int_equal(take_check(&e, 4, 64, 0x15, iova, 64, true), 0);
	env_fini(&e);
}

static void test_take_burst_stops(void **state)
{
	(void)state;
	take_stops(0);
	take_stops(VQ_F_PACKED);
	short_not_recorded(0, true);
	short_not_recorded(VQ_F_PACKED, true);
}

static void test_take_burst_dirty_log(void **state)
{
	(void)state;
	short_log(0, true);
	short_log(VQ_F_PACKED, true);
}

/* A chain kept across a DMA table change (an RX chain waiting for a
 * packet while memory is remapped) is written through the new table, not
 * through pointers into the old one. */
static void test_chain_held_across_table_change(void **state)
{
	struct env e;
	struct vq_chain c[1];
	static uint8_t extra[4096] __attribute__((aligned(64)));
	char out[16] = { 0 };

	(void)state;
	env_init(&e, 4, 0, 0);
	uint64_t b = env_alloc(&e, 64);
	drv_add1(&e, b, 64, true, (void *)1);
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 1), 1);
	/* The old table is freed by this map (no RCU readers here). */
	assert_int_equal(dma_map(e.dma, 0x9000000, sizeof(extra), extra, DMA_PROT_READ), 0);
	assert_int_equal(vq_chain_write(&e.vq, &c[0], 0, "still good", 10), 10);
	sim_hostmem_read(&e.mem, b, out, 10);
	assert_string_equal(out, "still good");
	/* And when its memory went away, nothing is written. */
	assert_int_equal(dma_unmap(e.dma, H_IOVA0, H_LEN0), 0);
	assert_int_equal(vq_chain_write(&e.vq, &c[0], 0, "gone", 4), 0);
	env_fini(&e);
}

/* A burst ends at the chain that does not fit in what is left of the
 * segment array; that chain comes first in the next burst. Arrays smaller
 * than the queue size are refused. */
static void test_segment_array_full(void **state)
{
	struct env e;
	struct vq_chain c[4];
	struct vq_seg segs[4];
	uint64_t b;

	(void)state;
	env_init(&e, 4, 0, 0);
	b = env_alloc(&e, 64);
	struct sim_buf two[2] = { { b, 8 }, { b + 8, 8 } }, three[3] = { { b, 8 }, { b + 8, 8 }, { b + 16, 8 } };
	assert_int_equal(sim_vq_add(&e.drv, two, 2, NULL, 0, (void *)1, false), 0);
	assert_int_equal(sim_vq_add(&e.drv, NULL, 0, two, 2, (void *)2, false), 0);
	sim_vq_publish(&e.drv);
	assert_int_equal(vq_pop_burst(&e.vq, c, 4, segs, 3), 0);
	assert_false(vq_broken(&e.vq));
	assert_int_equal(vq_pop_burst(&e.vq, c, 4, segs, 4), 2);
	struct vq_done d[2] = { { c[0].head, 0 }, { c[1].head, 0 } };
	assert_int_equal(vq_push_burst(&e.vq, d, 2, false), 0);
	uint32_t len;
	bool bad;
	while (sim_vq_get_used(&e.drv, &len, &bad))
		;
	assert_int_equal(sim_vq_add(&e.drv, two, 2, NULL, 0, (void *)3, false), 0);
	sim_vq_publish(&e.drv);
	assert_int_equal(vq_pop_burst(&e.vq, c, 4, segs, 4), 1);
	struct vq_done d3 = { c[0].head, 0 };
	assert_int_equal(vq_push_burst(&e.vq, &d3, 1, false), 0);
	while (sim_vq_get_used(&e.drv, &len, &bad))
		;
	/* 2 + 3 segments: the second chain waits for the next burst. */
	assert_int_equal(sim_vq_add(&e.drv, two, 2, NULL, 0, (void *)4, false), 0);
	sim_vq_publish(&e.drv);
	assert_int_equal(vq_pop_burst(&e.vq, c, 4, segs, 4), 1);
	assert_int_equal(sim_vq_add(&e.drv, three, 3, NULL, 0, (void *)5, false), -ENOSPC);
	env_fini(&e);
}

/* In order: restore, pop part of the restored chains again, save again,
 * restore again: the order stays oldest first and in-order completion of
 * the true order succeeds. */
static void test_save_load_in_order_partial(void **state)
{
	struct env e;
	struct vq_chain c[8];
	struct vq_state *st = malloc(vq_state_bytes(8));
	uint32_t len;
	bool bad;
	uint64_t b;

	(void)state;
	env_init(&e, 8, VQ_F_IN_ORDER, 0);
	b = env_alloc(&e, 512);
	for (int i = 0; i < 3; i++)
		drv_add1(&e, b + 64 * i, 64, true, (void *)(uintptr_t)(i + 1));
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 8), 3);
	assert_int_equal(vq_save(&e.vq, st), 0);
	vq_teardown(&e.vq);
	assert_int_equal(vq_load(&e.vq, e.dma, st, "dst1"), 0);
	assert_int_equal(env_pop(&e, c, 1), 1); /* re-pop the oldest only */
	assert_int_equal(c[0].head, 0);
	assert_int_equal(vq_save(&e.vq, st), 0);
	assert_int_equal(st->n_inflight, 3);
	assert_int_equal(st->inflight[0], 0);
	assert_int_equal(st->inflight[1], 1);
	assert_int_equal(st->inflight[2], 2);
	vq_teardown(&e.vq);
	assert_int_equal(vq_load(&e.vq, e.dma, st, "dst2"), 0);
	assert_int_equal(env_pop(&e, c, 8), 3);
	struct vq_done d[3] = { { c[0].head, 64 }, { c[1].head, 64 }, { c[2].head, 5 } };
	assert_int_equal(vq_push_burst(&e.vq, d, 3, true), 0);
	for (int i = 1; i <= 3; i++) {
		assert_ptr_equal(sim_vq_get_used(&e.drv, &len, &bad), (void *)(uintptr_t)i);
		assert_false(bad);
	}
	free(st);
	env_fini(&e);
}

/* ---- random chains, byte for byte ------------------------------------- */

#define R_MAX_PIECES 6
#define R_SLOT_BYTES (8u << 10)

struct rtok {
	uint32_t seq;
	unsigned nout, nin;
	struct sim_buf out[R_MAX_PIECES], in[R_MAX_PIECES];
	uint32_t wlen;
	bool busy;
};

static uint8_t pat(uint32_t seed, uint32_t i)
{
	return (uint8_t)(seed * 2654435761u + i * 40503u + (i >> 8));
}

static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

struct rstats {
	uint64_t chains, spanning, indirect, batches;
};

static void run_random(uint32_t flags, unsigned nchains, uint64_t seed,
		       struct rstats *st)
{
	/* Packed queues need not be powers of two: use one that is not. */
	const uint16_t size = (flags & VQ_F_PACKED) ? 61 : 64;
	struct env e;
	struct rtok *tok = calloc(size, sizeof(*tok));
	struct vq_chain ch[32];
	struct vq_done pend[64];
	unsigned npend = 0;
	uint32_t seq = 0, done_count = 0, nonce = 1;
	uint8_t buf[R_MAX_PIECES * 512];
	/* Slot areas run from the large region across the small ones; every
	 * eighth has a region boundary 1 KiB in, so its chains often span. */
	const uint64_t base = H_IOVA1 - 16 * R_SLOT_BYTES - 1024;

	env_init(&e, size, flags, R_MAX_PIECES * 2);
	memset(st, 0, sizeof(*st));
	while (done_count < nchains) {
		/* Driver: post random chains while there is room. */
		for (unsigned k = 0; k < size && seq < nchains; k++) {
			unsigned slot = rnd(&seed) % size;
			if (tok[slot].busy)
				continue;
			struct rtok *t = &tok[slot];
			bool ind = (flags & VQ_F_INDIRECT) && rnd(&seed) % 2;
			t->nout = rnd(&seed) % (R_MAX_PIECES + 1);
			t->nin = rnd(&seed) % (R_MAX_PIECES + 1);
			if (t->nout + t->nin == 0)
				t->nout = 1;
			if (!ind && e.drv.num_free < t->nout + t->nin)
				break;
			uint64_t at = base + (uint64_t)slot * R_SLOT_BYTES + rnd(&seed) % 256;
			t->seq = seq;
			t->wlen = 0;
			uint32_t roff = 0;
			for (unsigned i = 0; i < t->nout + t->nin; i++) {
				struct sim_buf *b = i < t->nout ? &t->out[i] : &t->in[i - t->nout];
				b->len = 1 + rnd(&seed) % 512; /* 12 x (512 + 32) + 256 fits a slot */
				if (i < t->nout && i == 0 && b->len < 4)
					b->len = 4; /* room for the sequence number */
				b->iova = at;
				at += b->len + rnd(&seed) % 32;
				if (i < t->nout) {
					for (uint32_t j = 0; j < b->len; j++)
						buf[j] = pat(t->seq, roff + j);
					if (i == 0)
						memcpy(buf, &t->seq, 4);
					sim_hostmem_write(&e.mem, b->iova, buf, b->len);
					roff += b->len;
				} else {
					memset(buf, 0xee, b->len);
					sim_hostmem_write(&e.mem, b->iova, buf, b->len);
					t->wlen += b->len;
				}
			}
			int rc = sim_vq_add(&e.drv, t->out, t->nout, t->in, t->nin, t, ind);
			if (rc == -ENOSPC)
				break;
			assert_int_equal(rc, 0);
			t->busy = true;
			seq++;
			st->indirect += ind;
		}
		sim_vq_publish(&e.drv);

		/* Device: pop a random burst, check and fill every chain. */
		unsigned n = vq_pop_burst(&e.vq, ch, 1 + rnd(&seed) % 32, e.segs, size);
		assert_false(vq_broken(&e.vq));
		for (unsigned i = 0; i < n; i++) {
			struct vq_chain *c = &ch[i];
			bool span = false;
			for (unsigned s = 0; s < c->nseg; s++)
				span |= c->seg[s].va == NULL;
			st->spanning += span;
			if (c->rlen) {
				assert_int_equal(vq_chain_read(&e.vq, c, 0, buf, c->rlen), c->rlen);
				uint32_t s;
				memcpy(&s, buf, 4);
				for (uint32_t j = 4; j < c->rlen; j++)
					if (buf[j] != pat(s, j))
						fail_msg("chain seq %u byte %u differs", s, j);
			}
			uint32_t len = c->wlen;
			/* In order with batching, only the last chain of a batch
			 * may report less than everything. */
			if (!(flags & VQ_F_IN_ORDER) && c->wlen >= 4)
				len = 4 + rnd(&seed) % (c->wlen - 3);
			if (len >= 4) {
				for (uint32_t j = 0; j < len; j++)
					buf[j] = pat(nonce, j);
				memcpy(buf, &nonce, 4);
				nonce++;
			} else {
				memset(buf, 0xab, len);
			}
			assert_int_equal(vq_chain_write(&e.vq, c, 0, buf, len), len);
			pend[npend++] = (struct vq_done){ c->head, len };
		}
		/* Complete a random number of the pending chains. */
		unsigned k = npend ? rnd(&seed) % (npend + 1) : 0;
		if (done_count + npend >= nchains)
			k = npend;
		if (!(flags & VQ_F_IN_ORDER)) {
			for (unsigned i = 0; i < npend; i++) { /* shuffle */
				unsigned j = i + rnd(&seed) % (npend - i);
				struct vq_done x = pend[i];
				pend[i] = pend[j];
				pend[j] = x;
			}
		}
		bool batch = (flags & VQ_F_IN_ORDER) && rnd(&seed) % 2;
		if (k) {
			assert_int_equal(vq_push_burst(&e.vq, pend, k, batch), 0);
			st->batches += batch;
			memmove(pend, pend + k, (npend - k) * sizeof(pend[0]));
			npend -= k;
		}
		vq_should_notify(&e.vq);

		/* Driver: reap and check what the device wrote. */
		uint32_t len;
		bool bad;
		struct rtok *t;
		while ((t = sim_vq_get_used(&e.drv, &len, &bad))) {
			assert_true(t->busy);
			assert_true(len <= t->wlen);
			uint32_t off = 0, nn = 0;
			for (unsigned i = 0; i < t->nin; i++) {
				sim_hostmem_read(&e.mem, t->in[i].iova, buf + off, t->in[i].len);
				off += t->in[i].len;
			}
			if (len >= 4) {
				memcpy(&nn, buf, 4);
				for (uint32_t j = 4; j < len; j++)
					if (buf[j] != pat(nn, j))
						fail_msg("written byte %u differs", j);
			}
			for (uint32_t j = len; j < t->wlen; j++)
				if (buf[j] != 0xee)
					fail_msg("byte %u past len was written", j);
			t->busy = false;
			done_count++;
			st->chains++;
		}
		assert_false(bad);
	}
	assert_int_equal(e.vq.n_inflight, 0);
	assert_int_equal(e.drv.num_free, size);
	free(tok);
	env_fini(&e);
}

static void test_random(void **state)
{
	static const uint32_t cfg[] = {
		0,
		VQ_F_EVENT_IDX,
		VQ_F_INDIRECT,
		VQ_F_INDIRECT | VQ_F_EVENT_IDX,
		VQ_F_IN_ORDER,
		VQ_F_IN_ORDER | VQ_F_INDIRECT | VQ_F_EVENT_IDX,
		VQ_F_PACKED,
		VQ_F_PACKED | VQ_F_EVENT_IDX | VQ_F_INDIRECT,
		VQ_F_PACKED | VQ_F_IN_ORDER,
		VQ_F_PACKED | VQ_F_IN_ORDER | VQ_F_INDIRECT | VQ_F_EVENT_IDX,
	};
	(void)state;
	for (unsigned i = 0; i < sizeof(cfg) / sizeof(cfg[0]); i++) {
		struct rstats st;
		run_random(cfg[i], 12000, 0x1234567ull + i, &st);
		print_message("    flags %#x: %lu chains, %lu spanning regions, %lu indirect, %lu batches\n",
			      cfg[i], (unsigned long)st.chains, (unsigned long)st.spanning,
			      (unsigned long)st.indirect, (unsigned long)st.batches);
		assert_int_equal(st.chains, 12000);
		assert_true(st.spanning > st.chains / 50);
		if (cfg[i] & VQ_F_INDIRECT)
			assert_true(st.indirect > 0);
		if (cfg[i] & VQ_F_IN_ORDER)
			assert_true(st.batches > 0);
	}
}

/* ---- two threads, sleeping on eventfds -------------------------------- */

struct tt {
	struct env e;
	int kick_fd, call_fd;
	unsigned total;
	uint32_t flags;
	uint64_t dev_sleeps, drv_sleeps, bad;
};

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % (int)sysconf(_SC_NPROCESSORS_ONLN), &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Wait on fd; false when two seconds pass (a lost wake-up). */
static bool wait_fd(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, 2000) != 1)
		return false;
	return read(fd, &v, sizeof(v)) == sizeof(v);
}

static void *device_thread(void *arg)
{
	struct tt *t = arg;
	struct vq_chain ch[32];
	struct vq_done d[32];
	unsigned done = 0, expect = 0;

	pin(1);
	while (done < t->total) {
		unsigned n = vq_pop_burst(&t->e.vq, ch, 32, t->e.segs, t->e.vq.size);
		if (n == 0) {
			/* Idle: re-arm kicks, re-check, then sleep. */
			if (vq_notify_enable(&t->e.vq))
				continue;
			t->dev_sleeps++;
			if (!wait_fd(t->kick_fd)) {
				t->bad++;
				break;
			}
			vq_notify_disable(&t->e.vq);
			continue;
		}
		for (unsigned i = 0; i < n; i++) {
			uint32_t s = 0;
			vq_chain_read(&t->e.vq, &ch[i], 0, &s, 4);
			if (s != expect++)
				t->bad++;
			d[i] = (struct vq_done){ ch[i].head, 0 };
		}
		if (vq_push_burst(&t->e.vq, d, n, false))
			t->bad++;
		if (vq_should_notify(&t->e.vq)) {
			uint64_t one = 1;
			if (write(t->call_fd, &one, 8) != 8)
				t->bad++;
		}
		done += n;
	}
	return NULL;
}

static void two_threads(uint32_t flags)
{
	struct tt *t = calloc(1, sizeof(*t));
	pthread_t dev;
	uint32_t sent = 0, reaped = 0;
	uint64_t bufs;

	env_init(&t->e, 256, flags, 0);
	t->total = 100000;
	t->flags = flags;
	t->kick_fd = eventfd(0, EFD_CLOEXEC);
	t->call_fd = eventfd(0, EFD_CLOEXEC);
	bufs = env_alloc(&t->e, 256 * 64);
	vq_notify_disable(&t->e.vq);
	assert_int_equal(pthread_create(&dev, NULL, device_thread, t), 0);
	pin(0);
	sim_vq_disable_cb(&t->e.drv);
	while (reaped < t->total) {
		unsigned added = 0;
		while (sent < t->total && t->e.drv.num_free) {
			uint64_t b = bufs + (uint64_t)(sent % 256) * 64;
			struct sim_buf o = { b, 64 };
			sim_hostmem_write(&t->e.mem, b, &sent, 4);
			assert_int_equal(sim_vq_add(&t->e.drv, &o, 1, NULL, 0, (void *)1, false), 0);
			sent++;
			added++;
		}
		if (added && sim_vq_publish(&t->e.drv)) {
			uint64_t one = 1;
			assert_int_equal(write(t->kick_fd, &one, 8), 8);
		}
		uint32_t len;
		bool bad;
		unsigned got = 0;
		while (sim_vq_get_used(&t->e.drv, &len, &bad))
			got++;
		assert_false(bad);
		reaped += got;
		if (!got && reaped < t->total && (sent == t->total || !t->e.drv.num_free)) {
			/* Nothing to do: re-arm interrupts, re-check, sleep. */
			if (sim_vq_enable_cb(&t->e.drv)) {
				sim_vq_disable_cb(&t->e.drv);
				continue;
			}
			t->drv_sleeps++;
			if (!wait_fd(t->call_fd)) {
				t->bad++;
				break;
			}
			sim_vq_disable_cb(&t->e.drv);
		}
	}
	if (t->bad) {
		/* Unblock the device if it sleeps, then report. */
		uint64_t one = 1;
		ssize_t w = write(t->kick_fd, &one, 8);
		(void)w;
	}
	pthread_join(dev, NULL);
	print_message("    flags %#x: %u chains, device slept %lu times, driver %lu, kicks %lu (suppressed %lu), interrupts %lu (suppressed %lu)\n",
		      flags, reaped, (unsigned long)t->dev_sleeps, (unsigned long)t->drv_sleeps,
		      (unsigned long)t->e.drv.n_kicks, (unsigned long)t->e.drv.n_kicks_suppressed,
		      (unsigned long)t->e.vq.n_notify, (unsigned long)t->e.vq.n_notify_suppressed);
	assert_int_equal(t->bad, 0);
	assert_int_equal(reaped, t->total);
	close(t->kick_fd);
	close(t->call_fd);
	env_fini(&t->e);
	free(t);
}

static void test_two_threads_flags(void **state)
{
	(void)state;
	two_threads(0);
}

static void test_two_threads_event_idx(void **state)
{
	(void)state;
	two_threads(VQ_F_EVENT_IDX);
}

static void test_two_threads_packed(void **state)
{
	(void)state;
	two_threads(VQ_F_PACKED);
}

static void test_two_threads_packed_event_idx(void **state)
{
	(void)state;
	two_threads(VQ_F_PACKED | VQ_F_EVENT_IDX);
}

/* ---- in-flight recording (vq_inflight_attach) ---------------------------- */

static void *ifl_area_new(uint16_t size, bool pk)
{
	size_t len = vq_inflight_bytes(size, pk);
	void *a = aligned_alloc(64, len);

	assert_non_null(a);
	memset(a, 0, len);
	return a;
}

/*
 * A back-end restart at the engine's level: the queue is torn down with
 * whatever it has in flight and a new one is loaded where a front end
 * would start it (split: the used ring's idx; packed: a stale position,
 * the area knows better), then attached to the same area.
 */
static int ifl_vq_restart(struct env *e, void *area)
{
	bool pk = e->vq.flags & VQ_F_PACKED;
	uint16_t used = pk ? 0 : vle16_to_cpu(e->drv.used->idx);
	struct vq_state st = {
		.size = e->vq.size, .enabled = 1, .vector = VQ_NO_VECTOR,
		.flags = e->vq.flags, .desc_addr = e->drv.desc_iova,
		.avail_addr = e->drv.avail_iova, .used_addr = e->drv.used_iova,
		.last_avail_idx = used, .last_used_idx = used,
	};

	vq_teardown(&e->vq);
	assert_int_equal(vq_load(&e->vq, e->dma, &st, "test"), 0);
	return vq_inflight_attach(&e->vq, area, vq_inflight_bytes(e->vq.size, pk));
}

/* What the area says while the queue runs, step by step (split). */
static void test_inflight_records_split(void **state)
{
	struct env e;
	struct vq_chain c[8];
	struct vq_ifl_split *a = ifl_area_new(8, false);

	(void)state;
	env_init(&e, 8, VQ_F_INDIRECT, 4);
	/* Misaligned or short: not attached. */
	assert_int_equal(vq_inflight_attach(&e.vq, (uint8_t *)a + 4, 1024), -EINVAL);
	assert_int_equal(vq_inflight_attach(&e.vq, a, vq_inflight_bytes(8, false) - 1), -EINVAL);
	assert_false(vq_inflight_on(&e.vq));
	/* A fresh area is initialized at the queue's position. */
	a->desc[3].inflight = 1; /* stale bytes under version 0 */
	assert_int_equal(vq_inflight_attach(&e.vq, a, vq_inflight_bytes(8, false)), 0);
	assert_true(vq_inflight_on(&e.vq));
	assert_int_equal(a->version, VQ_IFL_VERSION);
	assert_int_equal(a->desc_num, 8);
	assert_int_equal(a->desc[3].inflight, 0);
	for (int i = 0; i < 5; i++)
		drv_add1(&e, env_alloc(&e, 64), 64, i % 2, (void *)(uintptr_t)(i + 1));
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 8), 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(a->desc[c[i].head].inflight, 1);
		assert_int_equal(a->desc[c[i].head].counter, i);
	}
	/* One burst of two: linked from last_batch_head, cleared, used_idx. */
	struct vq_done d[2] = { { c[3].head, 0 }, { c[1].head, 64 } };
	assert_int_equal(vq_push_burst(&e.vq, d, 2, false), 0);
	assert_int_equal(a->last_batch_head, c[1].head);
	assert_int_equal(a->desc[c[1].head].next, c[3].head);
	assert_int_equal(a->used_idx, 2);
	assert_int_equal(a->desc[c[1].head].inflight, 0);
	assert_int_equal(a->desc[c[3].head].inflight, 0);
	assert_int_equal(a->desc[c[0].head].inflight, 1);
	/* vq_reset starts it afresh. */
	vq_reset(&e.vq);
	assert_int_equal(a->used_idx, 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(a->desc[i].inflight, 0);
	env_fini(&e);
	free(a);
}

/* The same for the packed layout: the chain's ring descriptors copied,
 * entries off the free list and back, old_* catching up. */
static void test_inflight_records_packed(void **state)
{
	struct env e;
	struct vq_chain c[8];
	struct vq_ifl_packed *a = ifl_area_new(8, true);
	uint64_t b[3];

	(void)state;
	env_init(&e, 8, VQ_F_PACKED | VQ_F_INDIRECT, 4);
	assert_int_equal(vq_inflight_attach(&e.vq, a, vq_inflight_bytes(8, true)), 0);
	assert_int_equal(a->used_wrap_counter, 1);
	assert_int_equal(a->free_head, 0);
	for (int i = 0; i < 3; i++) {
		b[i] = env_alloc(&e, 64);
		struct sim_buf w[2] = { { b[i], 16 }, { b[i] + 16, 48 } };
		/* 2 ring descriptors, then an indirect one, then 2. */
		assert_int_equal(sim_vq_add(&e.drv, NULL, 0, w, 2, (void *)(uintptr_t)(i + 1),
					    i == 1), 0);
	}
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 8), 3);
	/* Entries 0-1, 2, 3-4. */
	const uint16_t head[3] = { 0, 2, 3 }, num[3] = { 2, 1, 2 };
	for (int i = 0; i < 3; i++) {
		const struct vq_ifl_desc_packed *h = &a->desc[head[i]];
		assert_int_equal(h->inflight, 1);
		assert_int_equal(h->num, num[i]);
		assert_int_equal(h->counter, i);
		assert_int_equal(h->last, head[i] + num[i] - 1);
		assert_int_equal(a->desc[h->last].id, c[i].head);
	}
	assert_int_equal(a->desc[0].addr, b[0]);
	assert_int_equal(a->desc[0].len, 16);
	assert_true(a->desc[0].flags & VQ_DESC_F_NEXT);
	assert_false(a->desc[1].flags & VQ_DESC_F_NEXT);
	assert_true(a->desc[2].flags & VQ_DESC_F_INDIRECT);
	assert_int_equal(a->free_head, 5);
	assert_int_equal(a->old_free_head, 5);
	/* Complete the middle one: its entry heads the free list. */
	struct vq_done d = { c[1].head, 0 };
	assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
	assert_int_equal(a->free_head, 2);
	assert_int_equal(a->desc[2].next, 5);
	assert_int_equal(a->desc[2].inflight, 0);
	assert_int_equal(a->used_idx, 1);
	assert_int_equal(a->old_used_idx, 1);
	assert_int_equal(a->old_free_head, 2);
	/* A restart resubmits the other two, from the recorded descriptors. */
	assert_int_equal(ifl_vq_restart(&e, a), 2);
	assert_int_equal(env_pop(&e, c, 8), 2);
	assert_int_equal(c[0].seg[0].iova, b[0]);
	assert_int_equal(c[1].seg[0].iova, b[2]);
	env_fini(&e);
	free(a);
}

/* Packed: the area's used word (offset 16: used_idx, old_used_idx, their
 * wrap counters), read as one load once a completion is over: both
 * positions are the same real one, the device's used counter. */
static void ifl_word_check(const struct vq *vq, const void *area)
{
	struct { uint16_t idx, old_idx; uint8_t wrap, old_wrap, pad[2]; } u;
	uint64_t w = __atomic_load_n((const uint64_t *)(const void *)
				     ((const uint8_t *)area + 16), __ATOMIC_ACQUIRE);

	memcpy(&u, &w, sizeof(u));
	assert_true(u.idx < vq->size);
	assert_true(u.wrap <= 1);
	assert_int_equal(u.old_idx, u.idx);
	assert_int_equal(u.old_wrap, u.wrap);
	assert_int_equal(u.wrap ? u.idx : u.idx + vq->size, vq->used_idx);
}

/*
 * A completion batch that crosses the ring's end, cut by a stop (size 4,
 * the case found in review). Tokens 1-4 fill the ring, 1-3 complete, the
 * driver offers 5-7 in slots 0-2 (its second lap), all are popped; then 4
 * and 5 complete in one burst: used slots 3 (wrap 1) and 0 (wrap 0), the
 * used counter 3 -> 5. The area and slot 3 are put back to what a stop
 * leaves at `stop`, in vq_push_packed's order:
 *   0  the entries back on the free list, the begin word not stored
 *   1  the begin word stored (used 5, old 3), slot 3's flags not
 *   2  slot 3's flags published, the end not begun
 *   3, 4  one, both of the batch's inflight flags cleared
 *   5  old_free_head too, the end word not stored
 *   6  the end word: complete
 * Published (2-6): the driver reaps 4 and 5 and offers 8 and 9 in slots 3
 * (wrap 0) and 0 (wrap 1) before the restart; the back end commits: 6 and
 * 7 resubmitted, used counter 5, avail 7, then 8 and 9 from the ring. Not
 * published (0-1): the ring is full; it rolls back: 4-7 resubmitted, used
 * counter 3, avail 7. Either way each token reaches the driver once.
 */
struct wrapt {
	struct env e;
	struct vq_ifl_packed *a;
	uint64_t buf[10]; /* token k's buffer */
	uint8_t seen[10];
};

static void wrapt_post(struct wrapt *w, unsigned from, unsigned to)
{
	for (unsigned k = from; k <= to; k++) {
		w->buf[k] = env_alloc(&w->e, 64);
		drv_add1(&w->e, w->buf[k], 64, true, (void *)(uintptr_t)k);
	}
	sim_vq_publish(&w->e.drv);
}

/* Pop all: the tokens in pop order must be want[0..n-1]; their ids. */
static void wrapt_pop(struct wrapt *w, const unsigned *want, unsigned n, uint16_t *id)
{
	struct vq_chain c[8];

	assert_int_equal(env_pop(&w->e, c, 8), n);
	assert_false(vq_broken(&w->e.vq));
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(c[i].seg[0].iova, w->buf[want[i]]);
		id[i] = c[i].head;
	}
}

static void wrapt_reap(struct wrapt *w)
{
	uint32_t len;
	bool bad = false;
	void *t;

	while ((t = sim_vq_get_used(&w->e.drv, &len, &bad))) {
		unsigned k = (unsigned)(uintptr_t)t;
		assert_true(k >= 1 && k < 10);
		assert_int_equal(w->seen[k], 0);
		w->seen[k] = 1;
	}
	assert_false(bad);
}

static void wrapt_complete(struct wrapt *w, const uint16_t *id, unsigned n)
{
	struct vq_done d[8];

	for (unsigned i = 0; i < n; i++)
		d[i] = (struct vq_done){ id[i], 64 };
	assert_int_equal(vq_push_burst(&w->e.vq, d, n, false), 0);
}

/* Up to the burst: the ring and the area (`area`, fresh) as they are just
 * before 4 and 5 complete; their ids in batch[]. */
static void wrapt_begin(struct wrapt *w, void *area, uint16_t *batch)
{
	const unsigned t1234[4] = { 1, 2, 3, 4 }, t567[3] = { 5, 6, 7 };
	uint16_t id[4];

	memset(w, 0, sizeof(*w));
	env_init(&w->e, 4, VQ_F_PACKED, 0);
	w->a = area;
	memset(area, 0, vq_inflight_bytes(4, true));
	assert_int_equal(vq_inflight_attach(&w->e.vq, area, vq_inflight_bytes(4, true)), 0);
	wrapt_post(w, 1, 4);
	wrapt_pop(w, t1234, 4, id);
	batch[0] = id[3];
	wrapt_complete(w, id, 3);
	wrapt_reap(w);
	wrapt_post(w, 5, 7);
	wrapt_pop(w, t567, 3, id);
	batch[1] = id[0];
}

/* After the stop: the driver, the restart, the rest (see above). */
static void wrapt_after_stop(struct wrapt *w, bool published)
{
	const uint16_t size = 4;
	const unsigned t6789[4] = { 6, 7, 8, 9 }, t4567[4] = { 4, 5, 6, 7 };
	uint16_t id[4];

	/* The driver, before the restart. */
	wrapt_reap(w);
	assert_int_equal(w->seen[4], published);
	assert_int_equal(w->seen[5], published);
	if (published) {
		assert_int_equal(w->e.drv.last_used, 5);
		wrapt_post(w, 8, 9); /* slots 3 (wrap 0) and 0 (wrap 1) */
		assert_int_equal(w->e.drv.avail_idx, 9 % (2 * size));
	} else {
		assert_int_equal(w->e.drv.last_used, 3);
		struct sim_buf b = { env_alloc(&w->e, 64), 64 };
		assert_int_equal(sim_vq_add(&w->e.drv, NULL, 0, &b, 1, (void *)1, false),
				 -ENOSPC);
	}

	/* The restart: where it resumes, what it resubmits, in order. */
	assert_int_equal(ifl_vq_restart(&w->e, w->a), published ? 2 : 4);
	assert_int_equal(w->e.vq.used_idx, published ? 5 : 3);
	assert_int_equal(w->e.vq.last_avail, 7);
	ifl_word_check(&w->e.vq, w->a);
	wrapt_pop(w, published ? t6789 : t4567, 4, id);
	/* All four in one burst, across the ring's end again. */
	wrapt_complete(w, id, 4);
	ifl_word_check(&w->e.vq, w->a);
	wrapt_reap(w);
	for (unsigned k = 1; k <= (published ? 9u : 7u); k++)
		assert_int_equal(w->seen[k], 1);
	/* Counters run modulo twice the size: 9 is slot 1, wrap 1. */
	const uint16_t end = published ? 9 % (2 * size) : 7;
	assert_int_equal(w->e.drv.last_used, end);
	assert_int_equal(w->e.vq.used_idx, end);
	for (unsigned e = 0; e < size; e++)
		assert_int_equal(w->a->desc[e].inflight, 0);
	/* Nothing in flight: a second restart resumes there, resubmitting
	 * nothing. */
	assert_int_equal(ifl_vq_restart(&w->e, w->a), 0);
	assert_int_equal(w->e.vq.used_idx, end);
	assert_int_equal(w->e.vq.last_avail, end);
	env_fini(&w->e);
}

static void ifl_wrap_torn(unsigned stop)
{
	const uint16_t size = 4;
	bool published = stop >= 2;
	struct wrapt w;
	uint16_t batch[2];
	size_t alen = vq_inflight_bytes(size, true);
	struct vq_ifl_packed *s0 = malloc(alen), *a = ifl_area_new(size, true);

	wrapt_begin(&w, a, batch);
	memcpy(s0, a, alen);
	uint16_t flags3 = w.e.drv.pdesc[3].flags;
	wrapt_complete(&w, batch, 2);
	assert_int_equal(w.e.vq.used_idx, 5);
	ifl_word_check(&w.e.vq, a);

	/* The torn state. */
	if (stop == 0) {
		a->used_idx = s0->used_idx;
		a->used_wrap_counter = s0->used_wrap_counter;
	}
	if (stop < 6) {
		a->old_used_idx = s0->old_used_idx;
		a->old_used_wrap_counter = s0->old_used_wrap_counter;
	}
	for (unsigned i = 0; i < 2; i++) /* cleared in the burst's order */
		for (unsigned e = 0; e < size; e++)
			if (stop < 3 + i && s0->desc[e].inflight && s0->desc[e].id == batch[i])
				a->desc[e].inflight = 1;
	if (stop < 5)
		a->old_free_head = s0->old_free_head;
	if (!published) /* id and len written, the flags not */
		w.e.drv.pdesc[3].flags = flags3;
	if (stop >= 1 && stop <= 5) { /* an update in the middle of the wrap */
		assert_int_equal(a->used_idx, 1);
		assert_int_equal(a->used_wrap_counter, 0);
		assert_int_equal(a->old_used_idx, 3);
		assert_int_equal(a->old_used_wrap_counter, 1);
	}
	wrapt_after_stop(&w, published);
	free(a);
	free(s0);
}

static void test_inflight_packed_wrap_commit(void **state)
{
	(void)state;
	for (unsigned stop = 2; stop <= 6; stop++)
		ifl_wrap_torn(stop);
}

static void test_inflight_packed_wrap_rollback(void **state)
{
	(void)state;
	for (unsigned stop = 0; stop <= 1; stop++)
		ifl_wrap_torn(stop);
}

/*
 * The same burst stopped before each of its stores into the area, as the
 * code makes them, whatever their order or width: the area is read-only
 * while the burst runs; each store faults, the area and the ring as they
 * are then are kept, and the store goes ahead alone (the trap flag, one
 * instruction). Every kept state is then a restart's starting point: it
 * commits where slot 3's flags were published, rolls back where not.
 * (This is what a stop between two stores of one position's index and
 * wrap counter would fail.) x86-64 Linux only.
 */
#if defined(__x86_64__) && defined(__linux__)
#define TR_MAX 64

static struct {
	uint8_t *area;  /* a page of its own */
	const struct vq_pdesc *ring;
	unsigned n;
	struct { uint8_t area[256]; struct vq_pdesc ring[4]; } s[TR_MAX];
} tr;

static void tr_keep(void)
{
	volatile uint8_t *d = tr.s[tr.n].area;

	for (size_t i = 0; i < sizeof(tr.s[0].area); i++) /* no intercepted memcpy */
		d[i] = tr.area[i];
	for (unsigned i = 0; i < 4; i++)
		tr.s[tr.n].ring[i] = tr.ring[i];
	tr.n++;
}

static void tr_segv(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	(void)sig;
	if ((uint8_t *)si->si_addr < tr.area || (uint8_t *)si->si_addr >= tr.area + 4096 ||
	    tr.n == TR_MAX) {
		signal(SIGSEGV, SIG_DFL); /* a real fault: fault again */
		return;
	}
	tr_keep();
	mprotect(tr.area, 4096, PROT_READ | PROT_WRITE);
	uc->uc_mcontext.gregs[REG_EFL] |= 0x100; /* TF */
}

static void tr_trap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	(void)sig;
	(void)si;
	uc->uc_mcontext.gregs[REG_EFL] &= ~0x100;
	mprotect(tr.area, 4096, PROT_READ);
}

static void test_inflight_packed_wrap_every_stop(void **state)
{
	struct sigaction sa = { .sa_flags = SA_SIGINFO }, old_segv, old_trap;
	size_t alen = vq_inflight_bytes(4, true);
	uint16_t batch[2];
	struct wrapt w;
	unsigned published = 0;

	(void)state;
	assert_true(alen <= sizeof(tr.s[0].area));
	tr.area = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(tr.area != MAP_FAILED);
	tr.n = 0;
	wrapt_begin(&w, tr.area, batch);
	tr.ring = w.e.drv.pdesc;
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = tr_segv;
	assert_int_equal(sigaction(SIGSEGV, &sa, &old_segv), 0);
	sa.sa_sigaction = tr_trap;
	assert_int_equal(sigaction(SIGTRAP, &sa, &old_trap), 0);
	assert_int_equal(mprotect(tr.area, 4096, PROT_READ), 0);
	struct vq_done d[2] = { { batch[0], 64 }, { batch[1], 64 } };
	int rc = vq_push_burst(&w.e.vq, d, 2, false);
	mprotect(tr.area, 4096, PROT_READ | PROT_WRITE);
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGTRAP, &old_trap, NULL);
	assert_int_equal(rc, 0);
	assert_true(tr.n >= 4 && tr.n < TR_MAX);
	tr_keep(); /* and the state after the last store */
	env_fini(&w.e);

	for (unsigned j = 0; j < tr.n; j++) {
		wrapt_begin(&w, tr.area, batch);
		memcpy(tr.area, tr.s[j].area, alen);
		memcpy(w.e.drv.pdesc, tr.s[j].ring, sizeof(tr.s[j].ring));
		uint16_t f = vle16_to_cpu(tr.s[j].ring[3].flags);
		bool pub = (f & (VQ_PDESC_F_AVAIL | VQ_PDESC_F_USED)) ==
			   (VQ_PDESC_F_AVAIL | VQ_PDESC_F_USED);
		published += pub;
		wrapt_after_stop(&w, pub);
	}
	print_message("    %u stores into the area, %u stops after the publication\n",
		      tr.n - 1, published);
	assert_true(published > 0 && published < tr.n);
	munmap(tr.area, 4096);
}
#endif

/*
 * Random traffic with back-end restarts at random points: completions
 * out of order (or in order, in batches, under IN_ORDER), chains of 1-3
 * buffers, some indirect. After each restart exactly the chains in
 * flight pop first, in pop order, then the ring goes on; at the end every
 * chain was completed exactly once (the driver checks every used id).
 */
#define IFLR_TOK 4096

struct iflr {
	struct env e;
	void *area;
	uint32_t flags;
	uint16_t out[IFLR_TOK];   /* tokens popped and not completed, pop order */
	uint16_t id[IFLR_TOK];    /* ... their ids */
	uint32_t wlen[IFLR_TOK];
	unsigned nout;
	uint16_t resub[IFLR_TOK]; /* tokens to pop again first, in order */
	unsigned nresub, rpos;
	unsigned next_post, next_pop; /* tokens: next to post, next from the ring */
	uint8_t done[IFLR_TOK];
};

static bool iflr_post(struct iflr *r)
{
	unsigned tok = r->next_post;
	uint64_t iova;

	if (tok + 1 >= IFLR_TOK || sim_hostmem_alloc(&r->e.mem, 8 + 128, 8, &iova))
		return false;
	assert_int_equal(sim_hostmem_write(&r->e.mem, iova, &tok, sizeof(tok)), 0);
	struct sim_buf out = { iova, 8 }, in[2] = { { iova + 8, 64 }, { iova + 72, 64 } };
	int rc = sim_vq_add(&r->e.drv, &out, 1, in, random() % 3,
			    (void *)(uintptr_t)(tok + 1),
			    (r->flags & VQ_F_INDIRECT) && random() % 3 == 0);
	if (rc == -ENOSPC)
		return false;
	assert_int_equal(rc, 0);
	r->next_post++;
	return true;
}

static void iflr_pop(struct iflr *r, unsigned max)
{
	struct vq_chain c[16];
	unsigned n = env_pop(&r->e, c, max);

	assert_false(vq_broken(&r->e.vq));
	for (unsigned i = 0; i < n; i++) {
		unsigned tok;
		assert_int_equal(vq_chain_read(&r->e.vq, &c[i], 0, &tok, sizeof(tok)), sizeof(tok));
		if (r->rpos < r->nresub)
			assert_int_equal(tok, r->resub[r->rpos++]);
		else
			assert_int_equal(tok, r->next_pop++);
		r->out[r->nout] = (uint16_t)tok;
		r->id[r->nout] = c[i].head;
		r->wlen[r->nout++] = c[i].wlen;
	}
}

/* Complete k of the chains in flight: any of them, or the oldest under
 * IN_ORDER (then as one batch, sometimes). */
static void iflr_complete(struct iflr *r, unsigned k)
{
	struct vq_done d[16];
	bool in_order = r->flags & VQ_F_IN_ORDER;

	if (k > r->nout)
		k = r->nout;
	if (k > 16)
		k = 16;
	for (unsigned i = 0; i < k; i++) {
		unsigned j = in_order ? 0 : (unsigned)random() % r->nout;
		d[i] = (struct vq_done){ r->id[j], r->wlen[j] };
		memmove(&r->out[j], &r->out[j + 1], (r->nout - j - 1) * sizeof(r->out[0]));
		memmove(&r->id[j], &r->id[j + 1], (r->nout - j - 1) * sizeof(r->id[0]));
		memmove(&r->wlen[j], &r->wlen[j + 1], (r->nout - j - 1) * sizeof(r->wlen[0]));
		r->nout--;
	}
	if (k)
		assert_int_equal(vq_push_burst(&r->e.vq, d, k, in_order && random() % 2), 0);
	if (k && (r->flags & VQ_F_PACKED))
		ifl_word_check(&r->e.vq, r->area);
}

static void iflr_reap(struct iflr *r)
{
	uint32_t len;
	bool bad = false;
	void *t;

	while ((t = sim_vq_get_used(&r->e.drv, &len, &bad))) {
		unsigned tok = (unsigned)(uintptr_t)t - 1;
		assert_true(tok < r->next_post);
		assert_int_equal(r->done[tok], 0);
		r->done[tok] = 1;
	}
	assert_false(bad);
	/* Packed: the driver is where the area says (ifl_word_check). */
	if (r->flags & VQ_F_PACKED)
		assert_int_equal(r->e.drv.last_used, r->e.vq.used_idx);
}

static int by_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* In flight: the chains popped and not completed, and those of an earlier
 * restart not popped again yet; they come back in the order they were
 * first popped, which is token order. */
static void iflr_restart(struct iflr *r)
{
	int n = ifl_vq_restart(&r->e, r->area);
	unsigned pending = r->nresub - r->rpos;

	assert_int_equal(n, r->nout + pending);
	memmove(r->resub, r->resub + r->rpos, pending * sizeof(r->resub[0]));
	memcpy(r->resub + pending, r->out, r->nout * sizeof(r->out[0]));
	r->nresub = r->nout + pending;
	qsort(r->resub, r->nresub, sizeof(r->resub[0]), by_u16);
	r->rpos = 0;
	r->nout = 0;
}

static void ifl_random(uint32_t flags, uint16_t size, unsigned seed)
{
	struct iflr *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	srandom(seed);
	r->flags = flags;
	env_init(&r->e, size, flags, 4);
	r->area = ifl_area_new(size, flags & VQ_F_PACKED);
	assert_int_equal(vq_inflight_attach(&r->e.vq, r->area,
					    vq_inflight_bytes(size, flags & VQ_F_PACKED)), 0);
	unsigned restarts = 0;
	for (unsigned round = 0; round < 1500; round++) {
		for (unsigned k = random() % 4; k--;)
			if (!iflr_post(r))
				break;
		sim_vq_publish(&r->e.drv);
		iflr_pop(r, 1 + random() % 8);
		iflr_complete(r, random() % 4);
		iflr_reap(r);
		if (random() % 16 == 0) {
			iflr_restart(r);
			restarts++;
		}
	}
	/* Drain: everything posted pops (after a last restart) and completes. */
	iflr_restart(r);
	while (r->next_pop < r->next_post || r->rpos < r->nresub || r->nout) {
		iflr_pop(r, 16);
		iflr_complete(r, 16);
		iflr_reap(r);
	}
	for (unsigned t = 0; t < r->next_post; t++)
		assert_int_equal(r->done[t], 1);
	assert_true(restarts > 50);
	assert_true(r->next_post > 1000);
	env_fini(&r->e);
	free(r->area);
	free(r);
}

static void test_inflight_random_split(void **state)
{
	(void)state;
	ifl_random(VQ_F_INDIRECT | VQ_F_EVENT_IDX, 32, 1);
	ifl_random(VQ_F_INDIRECT | VQ_F_IN_ORDER, 16, 2);
}

static void test_inflight_random_packed(void **state)
{
	(void)state;
	ifl_random(VQ_F_PACKED | VQ_F_INDIRECT | VQ_F_EVENT_IDX, 32, 3);
	ifl_random(VQ_F_PACKED | VQ_F_INDIRECT, 13, 4); /* not a power of two */
	ifl_random(VQ_F_PACKED | VQ_F_INDIRECT | VQ_F_IN_ORDER, 16, 5);
}

/* Tiny packed rings: nearly every burst crosses the ring's end, and after
 * each one the area's used word names the device's position, which the
 * driver reaches (iflr_complete, iflr_reap). */
static void test_inflight_packed_word(void **state)
{
	(void)state;
	ifl_random(VQ_F_PACKED | VQ_F_INDIRECT, 4, 6);
	ifl_random(VQ_F_PACKED | VQ_F_IN_ORDER, 3, 7);
	ifl_random(VQ_F_PACKED | VQ_F_INDIRECT | VQ_F_EVENT_IDX, 5, 8);
}

/*
 * A hostile front end's area: a real one (chains in flight, others used,
 * positions wrapped) damaged at random, then a restart. Never a bad access
 * (ASan), never more resubmitted than the queue holds, a second restart on
 * the same area resubmits the same chains (the recovery writes back what
 * it decided), and the queue then pops and completes within bounds, or is
 * broken when the damage named buffers outside memory.
 */
static void quiet_sink(enum hal_log_level l, const char *line)
{
	(void)l;
	(void)line;
}

static void ifl_garbage(uint32_t flags, unsigned iters, unsigned seed)
{
	const uint16_t size = 16;
	bool pk = flags & VQ_F_PACKED;
	size_t alen = vq_inflight_bytes(size, pk), esz = pk ? 32 : 16;
	unsigned valid = 0;

	srandom(seed);
	for (unsigned it = 0; it < iters; it++) {
		struct env e;
		struct vq_chain c[16];
		uint8_t *a = ifl_area_new(size, pk);

		env_init(&e, size, flags, 4);
		assert_int_equal(vq_inflight_attach(&e.vq, a, alen), 0);
		for (unsigned round = random() % 12; round-- > 0;) {
			for (unsigned k = random() % 5; k--;) {
				struct sim_buf b = { env_alloc(&e, 64), 64 };
				if (sim_vq_add(&e.drv, &b, random() % 2, &b, 1, (void *)1,
					       random() % 2) != 0)
					break;
			}
			sim_vq_publish(&e.drv);
			unsigned n = env_pop(&e, c, 1 + random() % 8);
			for (unsigned i = 0; i < n; i++) {
				struct vq_done d = { c[i].head, 0 };
				if (random() % 3)
					assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
			}
			uint32_t len;
			bool bad;
			while (sim_vq_get_used(&e.drv, &len, &bad))
				;
		}
		for (unsigned m = 1 + random() % 3; m--;) {
			unsigned off;
			uint64_t v;
			switch (random() % 4) {
			case 0: /* any byte */
				a[random() % alen] = (uint8_t)random();
				break;
			case 1: /* a header u16 (version .. old_used_idx) */
			case 2: /* an entry's u16 */
				if (random() % 2)
					off = 8 + 2 * (unsigned)(random() % (pk ? 6 : 4));
				else
					off = (unsigned)(pk ? 32 : 16) +
					      (unsigned)(esz * (random() % size) +
							 2 * (random() % (esz / 2)));
				switch (random() % 5) {
				case 0: v = 0; break;
				case 1: v = 1; break;
				case 2: v = size - 1 + random() % 3; break;
				case 3: v = 0xffff; break;
				default: v = (uint16_t)random(); break;
				}
				memcpy(a + off, &v, 2);
				break;
			default: /* a counter */
				off = (unsigned)(pk ? 32 : 16) + (unsigned)esz * (random() % size) + 8;
				v = random() % 2 ? UINT64_MAX - random() % 4 : (uint64_t)random();
				memcpy(a + off, &v, 8);
				break;
			}
		}
		int n = ifl_vq_restart(&e, a);
		assert_true(n >= 0 && n <= size);
		uint16_t ids[16];
		memcpy(ids, e.vq.resubmit, n * sizeof(ids[0]));
		assert_int_equal(ifl_vq_restart(&e, a), n);
		assert_memory_equal(ids, e.vq.resubmit, n * sizeof(ids[0]));
		valid += n > 0;
		for (unsigned k = 0; k < 4 && !vq_broken(&e.vq); k++) {
			unsigned got = env_pop(&e, c, 16);
			for (unsigned i = 0; i < got; i++) {
				struct vq_done d = { c[i].head, 0 };
				int rc = vq_push_burst(&e.vq, &d, 1, false);
				assert_true(rc == 0 || (rc == -EIO && vq_broken(&e.vq)));
			}
		}
		env_fini(&e);
		free(a);
	}
	/* Some damage leaves a region that still checks out. */
	print_message("    flags %#x: %u damaged areas, %u still resubmitting\n",
		      flags, iters, valid);
	assert_true(valid > 0);
}

static void test_inflight_garbage(void **state)
{
	(void)state;
	hal_log_set_sink(quiet_sink); /* a line per damaged area or queue */
	ifl_garbage(VQ_F_INDIRECT, 600, 11);
	ifl_garbage(VQ_F_INDIRECT | VQ_F_PACKED, 600, 12);
	hal_log_set_sink(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_exchange),
		cmocka_unit_test(test_setup_validation),
		cmocka_unit_test(test_suppression_flags),
		cmocka_unit_test(test_suppression_event_idx),
		cmocka_unit_test(test_in_order_batch),
		cmocka_unit_test(test_push_validation),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_dma_table_changes),
		cmocka_unit_test(test_dirty_log_marks),
		cmocka_unit_test(test_fill_burst_split),
		cmocka_unit_test(test_fill_burst_packed),
		cmocka_unit_test(test_fill_burst_stops),
		cmocka_unit_test(test_fill_over_own_entry),
		cmocka_unit_test(test_fill_burst_dirty_log),
		cmocka_unit_test(test_take_burst_split),
		cmocka_unit_test(test_take_burst_packed),
		cmocka_unit_test(test_take_burst_stops),
		cmocka_unit_test(test_take_burst_dirty_log),
		cmocka_unit_test(test_chain_held_across_table_change),
		cmocka_unit_test(test_segment_array_full),
		cmocka_unit_test(test_save_load_in_order_partial),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_two_threads_flags),
		cmocka_unit_test(test_two_threads_event_idx),
		cmocka_unit_test(test_two_threads_packed),
		cmocka_unit_test(test_two_threads_packed_event_idx),
		cmocka_unit_test(test_inflight_records_split),
		cmocka_unit_test(test_inflight_records_packed),
		cmocka_unit_test(test_inflight_packed_wrap_commit),
		cmocka_unit_test(test_inflight_packed_wrap_rollback),
#if defined(__x86_64__) && defined(__linux__)
		cmocka_unit_test(test_inflight_packed_wrap_every_stop),
#endif
		cmocka_unit_test(test_inflight_random_split),
		cmocka_unit_test(test_inflight_random_packed),
		cmocka_unit_test(test_inflight_packed_word),
		cmocka_unit_test(test_inflight_garbage),
	};
	return cmocka_run_group_tests_name("virtq", tests, NULL, NULL);
}
