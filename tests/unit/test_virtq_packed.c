/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The packed virtqueue (virtio 1.3, 2.8 "Packed Virtqueues"), device side.
 *
 * Functional tests drive the device through the driver side (sim_vq) and
 * check what the spec says the device writes into the ring: used
 * descriptors (id, len, WRITE, AVAIL == USED == the device's ring wrap
 * counter) at the right positions, the skips over multi-descriptor lists
 * and in-order batches, both event suppression structures, completion
 * validation, save/load and the dirty log. Queue sizes that are not powers
 * of two run through many wraps of the ring.
 *
 * Hostile tests write the ring by hand, one bad input each: the queue is
 * broken with the right reason, nothing is popped past it, nothing is
 * written to the host, and it stays inert. The inputs at the limits that
 * are legal must be accepted.
 *
 * Everything runs on one thread: the order of raw ring writes does not
 * matter here (the two-thread tests in test_virtq.c cover the barriers).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hal_log.h"
#include "vq_harness.h"

#define F_NEXT  VQ_DESC_F_NEXT
#define F_WRITE VQ_DESC_F_WRITE
#define F_IND   VQ_DESC_F_INDIRECT
#define F_AVAIL VQ_PDESC_F_AVAIL
#define F_USED  VQ_PDESC_F_USED

static void quiet_sink(enum hal_log_level l, const char *line)
{
	(void)l;
	(void)line;
}

/* ---- ring positions as the spec counts them ---------------------------
 * "Driver and Device Ring Wrap Counters": each side keeps a wrap counter
 * that starts at 1 and flips each time it passes the last descriptor of
 * the ring. Kept here independently of the library's counter encoding. */
struct rpos {
	uint16_t size, pos;
	bool wrap;
	unsigned flips;
};

static struct rpos rpos_at(uint16_t size, uint16_t pos, bool wrap)
{
	return (struct rpos){ size, pos, wrap, 0 };
}

static void rpos_adv(struct rpos *p, unsigned n)
{
	while (n--) {
		if (++p->pos == p->size) {
			p->pos = 0;
			p->wrap = !p->wrap;
			p->flips++;
		}
	}
}

/* The used descriptor the device must have written at `at` ("Driver and
 * Device Ring Wrap Counters": AVAIL and USED both equal to the Device Ring
 * Wrap Counter; "Write Flag": WRITE says whether anything was written;
 * "Element Address and Length": len is what was written, reserved without
 * WRITE). */
static void check_used(const struct env *e, struct rpos at, uint16_t id,
		       uint32_t len)
{
	const struct vq_pdesc *d = &e->drv.pdesc[at.pos];
	uint16_t f = vle16_to_cpu(d->flags);

	if (!!(f & F_AVAIL) != at.wrap || !!(f & F_USED) != at.wrap)
		fail_msg("descriptor %u: flags %#x, want AVAIL = USED = %d",
			 at.pos, f, at.wrap);
	if (!!(f & F_WRITE) != (len != 0))
		fail_msg("descriptor %u: flags %#x, WRITE must be %d (len %u)",
			 at.pos, f, len != 0, len);
	assert_int_equal(vle16_to_cpu(d->id), id);
	if (len)
		assert_int_equal(vle32_to_cpu(d->len), len);
}

static void set_driver_event(struct env *e, uint16_t flags, uint16_t off, bool wrap)
{
	e->drv.driver_event->off_wrap = cpu_to_vle16((uint16_t)(off | (wrap ? 0x8000 : 0)));
	e->drv.driver_event->flags = cpu_to_vle16(flags);
}

static void set_device_event(struct env *e, uint16_t flags, uint16_t off, bool wrap)
{
	e->drv.device_event->off_wrap = cpu_to_vle16((uint16_t)(off | (wrap ? 0x8000 : 0)));
	e->drv.device_event->flags = cpu_to_vle16(flags);
}

static void check_device_event(const struct env *e, uint16_t flags, uint16_t off,
			       bool wrap)
{
	assert_int_equal(vle16_to_cpu(e->drv.device_event->flags) & 3, flags);
	if (flags == VQ_EVENT_DESC) {
		uint16_t ow = vle16_to_cpu(e->drv.device_event->off_wrap);
		assert_int_equal(ow & 0x7fff, off);
		assert_int_equal(ow >> 15, wrap);
	}
}

static void add_one(struct env *e, uint64_t iova, uint32_t len, bool writable,
		    void *token)
{
	struct sim_buf b = { iova, len };

	if (writable)
		assert_int_equal(sim_vq_add(&e->drv, NULL, 0, &b, 1, token, false), 0);
	else
		assert_int_equal(sim_vq_add(&e->drv, &b, 1, NULL, 0, token, false), 0);
}

static unsigned reap_all(struct env *e)
{
	uint32_t len;
	bool bad = false;
	unsigned n = 0;

	while (sim_vq_get_used(&e->drv, &len, &bad))
		n++;
	assert_false(bad);
	return n;
}

/* Driver: post n buffers of k writable descriptors each and publish.
 * Device: pop them and complete them in one burst with len 0; then, when
 * `decide`, its interrupt decision. Driver: reap them. */
static bool round_trip(struct env *e, uint64_t buf, unsigned n, unsigned k,
		       bool decide)
{
	struct vq_chain c[8];
	struct vq_done d[8];
	struct sim_buf in[4];
	bool notify = false;

	for (unsigned j = 0; j < k; j++)
		in[j] = (struct sim_buf){ buf + 16 * j, 16 };
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(sim_vq_add(&e->drv, NULL, 0, in, k, (void *)1, false), 0);
	sim_vq_publish(&e->drv);
	assert_int_equal(env_pop(e, c, 8), n);
	for (unsigned i = 0; i < n; i++)
		d[i] = (struct vq_done){ c[i].head, 0 };
	assert_int_equal(vq_push_burst(&e->vq, d, n, false), 0);
	if (decide)
		notify = vq_should_notify(&e->vq);
	assert_int_equal(reap_all(e), n);
	return notify;
}

/* ==== functional ======================================================== */

static void test_basic_exchange(void **state)
{
	struct env e;
	struct vq_chain c[4];
	char msg[] = "hello, packed device";
	char back[64] = { 0 };
	uint32_t len;
	bool bad;

	(void)state;
	env_init(&e, 8, VQ_F_PACKED, 0);
	uint64_t out = env_alloc(&e, 64), in = env_alloc(&e, 64);
	sim_hostmem_write(&e.mem, out, msg, sizeof(msg));
	struct sim_buf o = { out, sizeof(msg) }, i = { in, 64 };
	assert_int_equal(sim_vq_add(&e.drv, &o, 1, &i, 1, (void *)0x1234, false), 0);
	/* The list's first descriptor is not available yet. */
	assert_int_equal(vq_avail_count(&e.vq), 0);
	assert_int_equal(env_pop(&e, c, 4), 0);
	assert_true(sim_vq_publish(&e.drv)); /* zeroed device area: ENABLE */
	assert_int_equal(vq_avail_count(&e.vq), 1);
	assert_int_equal(env_pop(&e, c, 4), 1);
	assert_int_equal(c[0].nseg, 2);
	assert_int_equal(c[0].nread, 1);
	assert_int_equal(c[0].rlen, sizeof(msg));
	assert_int_equal(c[0].wlen, 64);
	/* The buffer id is the one in the list's last descriptor. */
	assert_int_equal(c[0].head, vle16_to_cpu(e.drv.pdesc[1].id));
	assert_int_equal(vq_chain_read(&e.vq, &c[0], 0, back, sizeof(back)), sizeof(msg));
	assert_string_equal(back, msg);
	assert_int_equal(vq_chain_write(&e.vq, &c[0], 0, "reply", 5), 5);
	struct vq_done d = { c[0].head, 5 };
	assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
	check_used(&e, rpos_at(8, 0, true), c[0].head, 5);
	assert_true(vq_should_notify(&e.vq));
	assert_false(vq_should_notify(&e.vq)); /* nothing new since */
	assert_ptr_equal(sim_vq_get_used(&e.drv, &len, &bad), (void *)0x1234);
	assert_false(bad);
	assert_int_equal(len, 5);
	sim_hostmem_read(&e.mem, in, back, 5);
	assert_memory_equal(back, "reply", 5);
	assert_null(sim_vq_get_used(&e.drv, &len, &bad));
	assert_int_equal(e.drv.num_free, 8);
	assert_int_equal(e.vq.n_inflight, 0);
	assert_false(vq_broken(&e.vq));
	env_fini(&e);
}

/* Sizes that are not powers of two, lists of 1..3 descriptors (and
 * indirect ones), completed in order and in reverse, for many wraps of the
 * ring: every used descriptor is where the spec puts it, with the wrap
 * counter of its lap. */
static void run_wraps(uint16_t size, uint32_t flags, unsigned rounds)
{
	struct env e;
	struct vq_chain c[8];
	struct vq_done d[8];
	unsigned nd[8], ord[8];
	uint32_t wl[8], rl[8];
	struct rpos used = rpos_at(size, 0, true);
	unsigned tok = 0;

	env_init(&e, size, VQ_F_PACKED | flags, 3);
	uint64_t buf = env_alloc(&e, 8 * 64);
	for (unsigned r = 0; r < rounds; r++) {
		unsigned n = 0, first_tok = tok;
		while (n < 8) {
			unsigned k = 1 + tok % 3;
			bool ind = (flags & VQ_F_INDIRECT) && tok % 4 == 1;
			unsigned ring = ind ? 1 : k;
			unsigned nout = k == 1 ? tok % 2 : 1, nin = k - nout;
			struct sim_buf out[1] = { { buf + 64 * n, 16 } };
			struct sim_buf in[2] = { { buf + 64 * n + 16, 24 },
						 { buf + 64 * n + 40, 20 } };
			if (e.drv.num_free < ring)
				break;
			assert_int_equal(sim_vq_add(&e.drv, out, nout, in, nin,
						    (void *)(uintptr_t)(tok + 1), ind), 0);
			nd[n] = ring;
			rl[n] = nout ? 16 : 0;
			wl[n] = nin == 0 ? 0 : nin == 1 ? 24 : 44;
			n++;
			tok++;
		}
		assert_true(n > 0);
		sim_vq_publish(&e.drv);
		assert_int_equal(env_pop(&e, c, 8), n);
		assert_false(vq_broken(&e.vq));
		for (unsigned i = 0; i < n; i++) {
			assert_int_equal(c[i].rlen, rl[i]);
			assert_int_equal(c[i].wlen, wl[i]);
		}
		/* Odd rounds complete in reverse: out of order. */
		for (unsigned i = 0; i < n; i++) {
			unsigned j = (r % 2) ? n - 1 - i : i;
			ord[i] = j;
			d[i] = (struct vq_done){ c[j].head, (r + j) % 3 ? wl[j] : wl[j] / 2 };
		}
		assert_int_equal(vq_push_burst(&e.vq, d, n, false), 0);
		/* "Used device descriptors are written in the order in which
		 * their processing is complete", each list skipping forward by
		 * its number of descriptors. */
		for (unsigned i = 0; i < n; i++) {
			check_used(&e, used, d[i].id, d[i].len);
			rpos_adv(&used, nd[ord[i]]);
		}
		for (unsigned i = 0; i < n; i++) {
			uint32_t len;
			bool bad;
			void *t = sim_vq_get_used(&e.drv, &len, &bad);
			assert_false(bad);
			assert_ptr_equal(t, (void *)(uintptr_t)(first_tok + ord[i] + 1));
			assert_int_equal(len, d[i].len);
		}
		assert_int_equal(reap_all(&e), 0);
	}
	assert_true(used.flips >= 6);
	assert_int_equal(e.drv.num_free, size);
	assert_int_equal(e.vq.n_inflight, 0);
	assert_false(vq_broken(&e.vq));
	env_fini(&e);
}

static void test_wraps_size5(void **state)
{
	(void)state;
	run_wraps(5, 0, 24);
}

static void test_wraps_size7_indirect(void **state)
{
	(void)state;
	run_wraps(7, VQ_F_INDIRECT, 30);
}

static void test_wraps_size1(void **state)
{
	struct env e;
	uint64_t b;

	(void)state;
	env_init(&e, 1, VQ_F_PACKED, 0);
	b = env_alloc(&e, 64);
	for (int i = 0; i < 6; i++) {
		struct vq_chain c[1];
		add_one(&e, b, 64, true, (void *)1);
		sim_vq_publish(&e.drv);
		assert_int_equal(env_pop(&e, c, 1), 1);
		struct vq_done d = { c[0].head, 1 };
		assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
		check_used(&e, rpos_at(1, 0, i % 2 == 0), 0, 1);
		assert_int_equal(reap_all(&e), 1);
	}
	env_fini(&e);
}

/* Used descriptor contents and positions with lists of several
 * descriptors, an indirect one, and out-of-order completion: each used
 * descriptor goes at the device's next used position, the skipped
 * descriptors are left alone. */
static void test_used_out_of_order(void **state)
{
	struct env e;
	struct vq_chain c[8];
	struct vq_pdesc snap[8];
	uint32_t len;
	bool bad;

	(void)state;
	env_init(&e, 8, VQ_F_PACKED | VQ_F_INDIRECT, 4);
	uint64_t b = env_alloc(&e, 1024);
	struct sim_buf a_out = { b, 16 }, a_in = { b + 16, 32 };
	struct sim_buf b_out = { b + 64, 8 }, b_in[2] = { { b + 72, 8 }, { b + 80, 8 } };
	struct sim_buf c_in[3] = { { b + 128, 16 }, { b + 144, 16 }, { b + 160, 16 } };
	struct sim_buf d_out = { b + 192, 16 };
	assert_int_equal(sim_vq_add(&e.drv, &a_out, 1, &a_in, 1, (void *)(uintptr_t)'A', false), 0);
	assert_int_equal(sim_vq_add(&e.drv, &b_out, 1, b_in, 2, (void *)(uintptr_t)'B', true), 0);
	assert_int_equal(sim_vq_add(&e.drv, NULL, 0, c_in, 3, (void *)(uintptr_t)'C', false), 0);
	assert_int_equal(sim_vq_add(&e.drv, &d_out, 1, NULL, 0, (void *)(uintptr_t)'D', false), 0);
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 8), 4);
	/* A at 0-1, B (indirect) at 2, C at 3-5, D at 6; ids from the
	 * lists' last descriptors. */
	assert_int_equal(c[0].head, vle16_to_cpu(e.drv.pdesc[1].id));
	assert_int_equal(c[1].head, vle16_to_cpu(e.drv.pdesc[2].id));
	assert_int_equal(c[2].head, vle16_to_cpu(e.drv.pdesc[5].id));
	assert_int_equal(c[3].head, vle16_to_cpu(e.drv.pdesc[6].id));
	assert_int_equal(c[1].nseg, 3);
	assert_int_equal(c[1].nread, 1);
	assert_int_equal(c[1].wlen, 16);
	assert_int_equal(c[2].nseg, 3);
	assert_int_equal(c[2].wlen, 48);
	memcpy(snap, e.drv.pdesc, sizeof(snap));

	/* C first: its used descriptor overwrites A's first descriptor. */
	struct vq_done dc = { c[2].head, 10 };
	assert_int_equal(vq_push_burst(&e.vq, &dc, 1, false), 0);
	check_used(&e, rpos_at(8, 0, true), c[2].head, 10);
	assert_memory_equal(&e.drv.pdesc[1], &snap[1], 7 * sizeof(snap[0]));
	/* A, nothing written: at 0 + 3. */
	struct vq_done da = { c[0].head, 0 };
	assert_int_equal(vq_push_burst(&e.vq, &da, 1, false), 0);
	check_used(&e, rpos_at(8, 3, true), c[0].head, 0);
	/* D and B in one burst: at 3 + 2 and 5 + 1. */
	struct vq_done ddb[2] = { { c[3].head, 0 }, { c[1].head, 7 } };
	assert_int_equal(vq_push_burst(&e.vq, ddb, 2, false), 0);
	check_used(&e, rpos_at(8, 5, true), c[3].head, 0);
	check_used(&e, rpos_at(8, 6, true), c[1].head, 7);
	/* 1, 2, 4 and 7 were never written by the device. */
	assert_memory_equal(&e.drv.pdesc[1], &snap[1], 2 * sizeof(snap[0]));
	assert_memory_equal(&e.drv.pdesc[4], &snap[4], sizeof(snap[0]));
	assert_memory_equal(&e.drv.pdesc[7], &snap[7], sizeof(snap[0]));
	static const struct { char tok; uint32_t len; } want[4] = {
		{ 'C', 10 }, { 'A', 0 }, { 'D', 0 }, { 'B', 7 },
	};
	for (int i = 0; i < 4; i++) {
		assert_ptr_equal(sim_vq_get_used(&e.drv, &len, &bad), (void *)(uintptr_t)want[i].tok);
		assert_false(bad);
		assert_int_equal(len, want[i].len);
	}
	assert_null(sim_vq_get_used(&e.drv, &len, &bad));

	/* Across the wrap: E at 7 (wrap 1), F at 0-1 (wrap 0); F completes
	 * first at 7 with wrap 1, E at 7 + 2 = 1 with wrap 0. */
	struct sim_buf e_in = { b + 256, 8 }, f_in[2] = { { b + 272, 8 }, { b + 280, 8 } };
	assert_int_equal(sim_vq_add(&e.drv, NULL, 0, &e_in, 1, (void *)(uintptr_t)'E', false), 0);
	assert_int_equal(sim_vq_add(&e.drv, NULL, 0, f_in, 2, (void *)(uintptr_t)'F', false), 0);
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 8), 2);
	struct vq_done dfe[2] = { { c[1].head, 16 }, { c[0].head, 8 } };
	assert_int_equal(vq_push_burst(&e.vq, dfe, 2, false), 0);
	check_used(&e, rpos_at(8, 7, true), c[1].head, 16);
	check_used(&e, rpos_at(8, 1, false), c[0].head, 8);
	assert_ptr_equal(sim_vq_get_used(&e.drv, &len, &bad), (void *)(uintptr_t)'F');
	assert_int_equal(len, 16);
	assert_ptr_equal(sim_vq_get_used(&e.drv, &len, &bad), (void *)(uintptr_t)'E');
	assert_int_equal(len, 8);
	assert_false(bad);
	assert_int_equal(e.drv.num_free, 8);
	env_fini(&e);
}

/* "In-order use of descriptors": one used descriptor for a batch, naming
 * the batch's last buffer, where its first buffer was; the device skips
 * the whole batch; the skipped buffers count as completely used. */
static void test_in_order_batch(void **state)
{
	struct env e;
	struct vq_chain c[8];
	struct vq_pdesc snap[8];
	uint32_t len;
	bool bad;

	(void)state;
	env_init(&e, 8, VQ_F_PACKED | VQ_F_IN_ORDER | VQ_F_INDIRECT, 4);
	uint64_t b = env_alloc(&e, 2048);
	struct sim_buf p0[2] = { { b, 40 }, { b + 40, 60 } };
	struct sim_buf p1 = { b + 128, 100 }, p2 = { b + 256, 100 };
	struct sim_buf p3o = { b + 384, 10 }, p3i[2] = { { b + 400, 50 }, { b + 450, 50 } };
	assert_int_equal(sim_vq_add(&e.drv, NULL, 0, p0, 2, (void *)1, false), 0);  /* 0-1 */
	assert_int_equal(sim_vq_add(&e.drv, NULL, 0, &p1, 1, (void *)2, true), 0);  /* 2 */
	assert_int_equal(sim_vq_add(&e.drv, NULL, 0, &p2, 1, (void *)3, false), 0); /* 3 */
	assert_int_equal(sim_vq_add(&e.drv, &p3o, 1, p3i, 2, (void *)4, false), 0); /* 4-6 */
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 8), 4);
	memcpy(snap, e.drv.pdesc, sizeof(snap));

	/* Out of order under IN_ORDER is refused, and writes nothing. */
	struct vq_done swapped[2] = { { c[1].head, 100 }, { c[0].head, 100 } };
	assert_int_equal(vq_push_burst(&e.vq, swapped, 2, false), -EINVAL);
	assert_int_equal(vq_push_burst(&e.vq, &swapped[0], 1, false), -EINVAL);
	assert_int_equal(vq_push_burst(&e.vq, &swapped[0], 1, true), -EINVAL);
	/* A batch whose skipped buffers are not fully written is refused. */
	struct vq_done d[4] = { { c[0].head, 100 }, { c[1].head, 99 },
				{ c[2].head, 5 }, { c[3].head, 0 } };
	assert_int_equal(vq_push_burst(&e.vq, d, 3, true), -EINVAL);
	assert_memory_equal(e.drv.pdesc, snap, sizeof(snap));
	assert_int_equal(e.vq.n_inflight, 4);
	/* The batch of the first three: one descriptor at 0 naming P2. */
	d[1].len = 100;
	assert_int_equal(vq_push_burst(&e.vq, d, 3, true), 0);
	check_used(&e, rpos_at(8, 0, true), c[2].head, 5);
	assert_memory_equal(&e.drv.pdesc[1], &snap[1], 7 * sizeof(snap[0]));
	/* The next one at 0 + 2 + 1 + 1. */
	assert_int_equal(vq_push_burst(&e.vq, &d[3], 1, false), 0);
	check_used(&e, rpos_at(8, 4, true), c[3].head, 0);
	static const uint32_t want[4] = { 100, 100, 5, 0 };
	for (int i = 0; i < 4; i++) {
		assert_ptr_equal(sim_vq_get_used(&e.drv, &len, &bad), (void *)(uintptr_t)(i + 1));
		assert_false(bad);
		assert_int_equal(len, want[i]);
	}
	assert_null(sim_vq_get_used(&e.drv, &len, &bad));

	/* A batch across the wrap: Q0 at 7 (wrap 1), Q1 at 0-1 and Q2 at 2
	 * (wrap 0). Its descriptor goes at 7 with wrap 1; the next one at
	 * 3 with wrap 0. */
	struct sim_buf q0 = { b + 512, 30 }, q1[2] = { { b + 544, 30 }, { b + 576, 30 } };
	struct sim_buf q2 = { b + 608, 30 }, r0 = { b + 640, 30 };
	assert_int_equal(sim_vq_add(&e.drv, NULL, 0, &q0, 1, (void *)5, false), 0);
	assert_int_equal(sim_vq_add(&e.drv, NULL, 0, q1, 2, (void *)6, false), 0);
	assert_int_equal(sim_vq_add(&e.drv, NULL, 0, &q2, 1, (void *)7, false), 0);
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 8), 3);
	memcpy(snap, e.drv.pdesc, sizeof(snap));
	struct vq_done q[3] = { { c[0].head, 30 }, { c[1].head, 60 }, { c[2].head, 3 } };
	assert_int_equal(vq_push_burst(&e.vq, q, 3, true), 0);
	check_used(&e, rpos_at(8, 7, true), c[2].head, 3);
	assert_memory_equal(e.drv.pdesc, snap, 7 * sizeof(snap[0]));
	assert_int_equal(sim_vq_add(&e.drv, NULL, 0, &r0, 1, (void *)8, false), 0);
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 8), 1);
	struct vq_done dr = { c[0].head, 30 };
	assert_int_equal(vq_push_burst(&e.vq, &dr, 1, false), 0);
	check_used(&e, rpos_at(8, 3, false), c[0].head, 30);
	static const uint32_t want2[4] = { 30, 60, 3, 30 };
	for (int i = 0; i < 4; i++) {
		assert_ptr_equal(sim_vq_get_used(&e.drv, &len, &bad), (void *)(uintptr_t)(i + 5));
		assert_false(bad);
		assert_int_equal(len, want2[i]);
	}
	assert_int_equal(e.drv.num_free, 8);
	env_fini(&e);
}

static void test_push_validation(void **state)
{
	struct env e;
	struct vq_chain c[4];
	struct vq_pdesc snap[4];
	uint32_t len;
	bool bad;

	(void)state;
	env_init(&e, 4, VQ_F_PACKED, 0);
	uint64_t b = env_alloc(&e, 128);
	add_one(&e, b, 64, true, (void *)1);
	add_one(&e, b + 64, 64, true, (void *)2);
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 4), 2);
	memcpy(snap, e.drv.pdesc, sizeof(snap));
	uint16_t idle = 0;
	while (idle == c[0].head || idle == c[1].head)
		idle++;

	struct vq_done beyond[1] = { { 9, 0 } };
	assert_int_equal(vq_push_burst(&e.vq, beyond, 1, false), -EINVAL);
	struct vq_done not_popped[1] = { { idle, 0 } };
	assert_int_equal(vq_push_burst(&e.vq, not_popped, 1, false), -EINVAL);
	struct vq_done twice[2] = { { c[0].head, 0 }, { c[0].head, 0 } };
	assert_int_equal(vq_push_burst(&e.vq, twice, 2, false), -EINVAL);
	struct vq_done too_long[1] = { { c[1].head, 65 } };
	assert_int_equal(vq_push_burst(&e.vq, too_long, 1, false), -EINVAL);
	struct vq_done good_then_bad[2] = { { c[0].head, 64 }, { c[1].head, 65 } };
	assert_int_equal(vq_push_burst(&e.vq, good_then_bad, 2, false), -EINVAL);
	struct vq_done batch[1] = { { c[1].head, 0 } };
	assert_int_equal(vq_push_burst(&e.vq, batch, 1, true), -EINVAL); /* needs IN_ORDER */
	assert_memory_equal(e.drv.pdesc, snap, sizeof(snap));
	assert_int_equal(e.vq.n_inflight, 2);
	assert_false(vq_should_notify(&e.vq)); /* nothing was completed */

	struct vq_done first[1] = { { c[1].head, 64 } };
	assert_int_equal(vq_push_burst(&e.vq, first, 1, false), 0);
	check_used(&e, rpos_at(4, 0, true), c[1].head, 64);
	memcpy(snap, e.drv.pdesc, sizeof(snap));
	assert_int_equal(vq_push_burst(&e.vq, first, 1, false), -EINVAL); /* again */
	assert_memory_equal(e.drv.pdesc, snap, sizeof(snap));
	struct vq_done second[1] = { { c[0].head, 2 } };
	assert_int_equal(vq_push_burst(&e.vq, second, 1, false), 0);
	check_used(&e, rpos_at(4, 1, true), c[0].head, 2);
	assert_int_equal(e.vq.n_inflight, 0);
	assert_ptr_equal(sim_vq_get_used(&e.drv, &len, &bad), (void *)2);
	assert_int_equal(len, 64);
	assert_ptr_equal(sim_vq_get_used(&e.drv, &len, &bad), (void *)1);
	assert_int_equal(len, 2);
	assert_false(bad);
	assert_false(vq_broken(&e.vq));
	env_fini(&e);
}

/* The driver event suppression structure, as the device reads it. */
static void test_driver_event_suppression(void **state)
{
	struct env e;
	uint64_t b;

	(void)state;
	env_init(&e, 5, VQ_F_PACKED | VQ_F_EVENT_IDX, 0);
	b = env_alloc(&e, 64);
	sim_vq_disable_cb(&e.drv); /* the test writes the driver area itself */

	set_driver_event(&e, VQ_EVENT_ENABLE, 0, false);
	assert_true(round_trip(&e, b, 1, 1, true));   /* used 0 (lap 1) */
	set_driver_event(&e, VQ_EVENT_DISABLE, 2, true);
	assert_false(round_trip(&e, b, 1, 1, true));  /* used 1 */

	/* Descriptor 1 of lap 0 (the second lap): notify exactly when the
	 * used descriptor there is written. */
	set_driver_event(&e, VQ_EVENT_DESC, 1, false);
	static const bool at1w0[6] = { false, false, false, false, true, false };
	for (int i = 0; i < 6; i++) /* used 2, 3, 4 (lap 1), 0, 1, 2 (lap 0) */
		assert_int_equal(round_trip(&e, b, 1, 1, true), at1w0[i]);
	/* Descriptor 1 of lap 1: not at 1 of this lap (0), only the next. */
	set_driver_event(&e, VQ_EVENT_DESC, 1, true);
	static const bool at1w1[4] = { false, false, false, true };
	for (int i = 0; i < 4; i++) /* used 3, 4 (lap 0), 0, 1 (lap 1) */
		assert_int_equal(round_trip(&e, b, 1, 1, true), at1w1[i]);

	/* A list of three at 2-4 uses descriptor 3 too. */
	set_driver_event(&e, VQ_EVENT_DESC, 3, true);
	assert_true(round_trip(&e, b, 1, 3, true));   /* 2-4, lap 1 */
	/* A list of two at 0-1 (lap 0) does not reach descriptor 2. */
	set_driver_event(&e, VQ_EVENT_DESC, 2, false);
	assert_false(round_trip(&e, b, 1, 2, true));  /* 0-1, lap 0 */
	assert_true(round_trip(&e, b, 1, 1, true));   /* 2, lap 0 */
	/* A burst of three passing over the event. */
	set_driver_event(&e, VQ_EVENT_DESC, 4, false);
	assert_true(round_trip(&e, b, 3, 1, true));   /* 3, 4 (lap 0), 0 (lap 1) */
	/* An event just behind the used position is 2 * size - 1
	 * descriptors away: position and wrap counter repeat every 2 * size. */
	set_driver_event(&e, VQ_EVENT_DESC, 0, true);
	for (int i = 0; i < 9; i++) /* used 1..4 (lap 1), 0..4 (lap 0) */
		assert_false(round_trip(&e, b, 1, 1, true));
	assert_true(round_trip(&e, b, 1, 1, true));   /* 0, lap 1 */
	/* The reserved value notifies. */
	set_driver_event(&e, 3, 0, true);
	assert_true(round_trip(&e, b, 1, 1, true));   /* 1, lap 1 */
	/* DISABLE wins over an off/wrap that would match. */
	set_driver_event(&e, VQ_EVENT_DISABLE, 2, true);
	assert_false(round_trip(&e, b, 1, 1, true));  /* 2, lap 1 */

	/* Without a decision for 2 * size - 1 descriptors, the one event
	 * position not covered is the one just behind the start... */
	set_driver_event(&e, VQ_EVENT_DESC, 2, true); /* just behind 3, lap 1 */
	for (int i = 0; i < 9; i++)
		round_trip(&e, b, 1, 1, false);       /* 3 (lap 1) .. 1 (lap 1) */
	assert_false(vq_should_notify(&e.vq));
	/* ...and after 2 * size descriptors every position has been used. */
	set_driver_event(&e, VQ_EVENT_DESC, 1, true); /* just behind 2, lap 1 */
	for (int i = 0; i < 10; i++)
		round_trip(&e, b, 1, 1, false);       /* 2 (lap 1) .. 1 (lap 1) */
	assert_true(vq_should_notify(&e.vq));
	assert_false(vq_broken(&e.vq));
	env_fini(&e);
}

/* DESC is only valid with EVENT_IDX: without it the device notifies. */
static void test_driver_event_desc_without_event_idx(void **state)
{
	struct env e;
	uint64_t b;

	(void)state;
	env_init(&e, 5, VQ_F_PACKED, 0);
	b = env_alloc(&e, 64);
	sim_vq_disable_cb(&e.drv);
	set_driver_event(&e, VQ_EVENT_DESC, 4, false); /* far away */
	assert_true(round_trip(&e, b, 1, 1, true));
	set_driver_event(&e, VQ_EVENT_DISABLE, 0, true);
	assert_false(round_trip(&e, b, 1, 1, true));
	set_driver_event(&e, VQ_EVENT_ENABLE, 0, false);
	assert_true(round_trip(&e, b, 1, 1, true));
	set_driver_event(&e, 3, 4, false);
	assert_true(round_trip(&e, b, 1, 1, true));
	env_fini(&e);
}

/* The device event suppression structure, as the device writes it, and
 * the driver's kick decision reading it (without EVENT_IDX). */
static void test_device_event_flags(void **state)
{
	struct env e;
	struct vq_chain c[8];
	uint64_t b;

	(void)state;
	env_init(&e, 5, VQ_F_PACKED, 0);
	b = env_alloc(&e, 64);
	add_one(&e, b, 64, false, (void *)1);
	assert_true(sim_vq_publish(&e.drv));          /* zeroed area: ENABLE */
	vq_notify_disable(&e.vq);
	check_device_event(&e, VQ_EVENT_DISABLE, 0, 0);
	add_one(&e, b, 64, false, (void *)2);
	assert_false(sim_vq_publish(&e.drv));         /* DISABLE honoured */
	assert_true(vq_notify_enable(&e.vq));         /* work already there */
	check_device_event(&e, VQ_EVENT_ENABLE, 0, 0);
	assert_int_equal(env_pop(&e, c, 8), 2);
	assert_false(vq_notify_enable(&e.vq));        /* nothing new: may sleep */
	check_device_event(&e, VQ_EVENT_ENABLE, 0, 0);
	add_one(&e, b, 64, false, (void *)3);
	assert_true(sim_vq_publish(&e.drv));
	/* Without EVENT_IDX a DESC request is not valid: the driver kicks. */
	set_device_event(&e, VQ_EVENT_DESC, 3, false);
	add_one(&e, b, 64, false, (void *)4);
	assert_true(sim_vq_publish(&e.drv));
	env_fini(&e);
}

/* With EVENT_IDX: DESC at the device's next available position and wrap
 * counter; the driver kicks exactly when it makes that descriptor
 * available. */
static void test_device_event_idx(void **state)
{
	struct env e;
	struct vq_chain c[8];
	struct vq_done d[8];
	uint64_t b;

	(void)state;
	env_init(&e, 5, VQ_F_PACKED | VQ_F_EVENT_IDX, 0);
	b = env_alloc(&e, 64);
#define POP_DONE(n) do { \
		assert_int_equal(env_pop(&e, c, 8), (n)); \
		for (unsigned i_ = 0; i_ < (n); i_++) \
			d[i_] = (struct vq_done){ c[i_].head, 0 }; \
		assert_int_equal(vq_push_burst(&e.vq, d, (n), false), 0); \
		assert_int_equal(reap_all(&e), (n)); \
	} while (0)

	add_one(&e, b, 64, false, (void *)1);
	assert_true(sim_vq_publish(&e.drv));          /* zeroed area: ENABLE */
	assert_true(vq_notify_enable(&e.vq));         /* one is waiting at 0 */
	check_device_event(&e, VQ_EVENT_DESC, 0, 1);
	POP_DONE(1);
	assert_false(vq_notify_enable(&e.vq));
	check_device_event(&e, VQ_EVENT_DESC, 1, 1);
	add_one(&e, b, 64, false, (void *)2);
	assert_true(sim_vq_publish(&e.drv));          /* makes 1 available */
	add_one(&e, b, 64, false, (void *)3);
	assert_false(sim_vq_publish(&e.drv));         /* not re-armed */
	POP_DONE(2);
	assert_false(vq_notify_enable(&e.vq));
	check_device_event(&e, VQ_EVENT_DESC, 3, 1);
	add_one(&e, b, 64, false, (void *)4);
	add_one(&e, b, 64, false, (void *)5);
	assert_true(sim_vq_publish(&e.drv));          /* 3 and 4 */
	POP_DONE(2);
	/* Across the wrap: position 0 of lap 0. */
	assert_false(vq_notify_enable(&e.vq));
	check_device_event(&e, VQ_EVENT_DESC, 0, 0);
	add_one(&e, b, 64, false, (void *)6);
	assert_true(sim_vq_publish(&e.drv));
	POP_DONE(1);
	assert_false(vq_notify_enable(&e.vq));
	check_device_event(&e, VQ_EVENT_DESC, 1, 0);
	/* A list of three whose second descriptor is the event: kicked. */
	struct sim_buf three[3] = { { b, 8 }, { b + 8, 8 }, { b + 16, 8 } };
	add_one(&e, b, 64, false, (void *)7);
	assert_true(sim_vq_publish(&e.drv));          /* 1 */
	POP_DONE(1);
	check_device_event(&e, VQ_EVENT_DESC, 1, 0);  /* not re-armed */
	set_device_event(&e, VQ_EVENT_DESC, 3, 0);
	assert_int_equal(sim_vq_add(&e.drv, three, 3, NULL, 0, (void *)8, false), 0);
	assert_true(sim_vq_publish(&e.drv));          /* 2-4, lap 0 */
	POP_DONE(1);
	/* The event's wrap counter matters: position 1 of lap 0 is not
	 * position 1 of lap 1. */
	set_device_event(&e, VQ_EVENT_DESC, 1, 0);
	add_one(&e, b, 64, false, (void *)9);
	add_one(&e, b, 64, false, (void *)10);
	assert_false(sim_vq_publish(&e.drv));         /* 0, 1 of lap 1 */
	POP_DONE(2);
	/* DISABLE. */
	vq_notify_disable(&e.vq);
	check_device_event(&e, VQ_EVENT_DISABLE, 0, 0);
	add_one(&e, b, 64, false, (void *)11);
	assert_false(sim_vq_publish(&e.drv));
	assert_true(vq_notify_enable(&e.vq));         /* 2 of lap 1 is waiting */
	check_device_event(&e, VQ_EVENT_DESC, 2, 1);
	POP_DONE(1);
	/* The reserved value: the driver kicks. */
	set_device_event(&e, 3, 0, 0);
	add_one(&e, b, 64, false, (void *)12);
	assert_true(sim_vq_publish(&e.drv));
	POP_DONE(1);
#undef POP_DONE
	assert_false(vq_broken(&e.vq));
	env_fini(&e);
}

/* vq_avail_count: "Number of chains the driver has made available and not
 * yet popped" (virtq.h). */
static int setup_avail_count(void **state)
{
	struct env *e = malloc(sizeof(*e));

	env_init(e, 8, VQ_F_PACKED | VQ_F_INDIRECT, 4);
	*state = e;
	return 0;
}

static int teardown_env(void **state)
{
	env_fini(*state);
	free(*state);
	return 0;
}

static void test_avail_count(void **state)
{
	struct env *e = *state;
	struct vq_chain c[8];
	uint64_t b = env_alloc(e, 256);
	struct sim_buf two[2] = { { b, 16 }, { b + 16, 16 } };

	assert_int_equal(vq_avail_count(&e->vq), 0);
	assert_int_equal(sim_vq_add(&e->drv, two, 1, &two[1], 1, (void *)1, false), 0);
	assert_int_equal(sim_vq_add(&e->drv, two, 2, NULL, 0, (void *)2, true), 0);
	add_one(e, b + 64, 16, true, (void *)3);
	sim_vq_publish(&e->drv);
	assert_int_equal(vq_avail_count(&e->vq), 3);
	assert_int_equal(env_pop(e, c, 1), 1);
	assert_int_equal(vq_avail_count(&e->vq), 2);
	assert_int_equal(env_pop(e, c, 8), 2);
	assert_int_equal(vq_avail_count(&e->vq), 0);
}

/* Save/load of a packed queue: only with nothing in flight; the wrap
 * counters survive, and bad states are refused. */
static void test_save_load(void **state)
{
	struct env e;
	struct vq_chain c[8];
	struct vq q2, ref;
	struct vq_state *st = malloc(vq_state_bytes(5));
	struct vq_state *badst = malloc(vq_state_bytes(5));
	struct rpos used = rpos_at(5, 0, true);
	uint64_t b;

	(void)state;
	env_init(&e, 5, VQ_F_PACKED | VQ_F_EVENT_IDX, 0);
	b = env_alloc(&e, 256);
	for (int i = 0; i < 7; i++)
		round_trip(&e, b, 1, 1, false);
	rpos_adv(&used, 7);                           /* 2, lap 0 */
	add_one(&e, b, 64, true, (void *)1);
	add_one(&e, b + 64, 64, true, (void *)2);
	sim_vq_publish(&e.drv);
	assert_int_equal(env_pop(&e, c, 8), 2);
	assert_int_equal(vq_save(&e.vq, st), -EBUSY); /* chains in flight */
	struct vq_done d[2] = { { c[0].head, 1 }, { c[1].head, 2 } };
	assert_int_equal(vq_push_burst(&e.vq, d, 2, false), 0);
	check_used(&e, used, c[0].head, 1);
	rpos_adv(&used, 1);
	check_used(&e, used, c[1].head, 2);
	rpos_adv(&used, 1);                           /* 4, lap 0 */
	assert_int_equal(reap_all(&e), 2);
	assert_int_equal(vq_save(&e.vq, st), 0);
	assert_int_equal(st->size, 5);
	assert_int_equal(st->n_inflight, 0);
	assert_true(st->flags & VQ_F_PACKED);
	assert_int_equal(st->desc_addr, e.drv.desc_iova);
	assert_int_equal(st->avail_addr, e.drv.avail_iova);
	assert_int_equal(st->used_addr, e.drv.used_iova);
	/* virtq.h: position = index % size, wrap counter = index < size. */
	assert_int_equal(st->last_avail_idx, st->last_used_idx);
	assert_int_equal(st->last_avail_idx % 5, 4);
	assert_false(st->last_avail_idx < 5);

	/* Bad states are refused and leave the queue untouched. */
	memset(&q2, 0xa5, sizeof(q2));
	memcpy(&ref, &q2, sizeof(q2));
	memcpy(badst, st, vq_state_bytes(5));
	badst->n_inflight = 1;
	badst->inflight[0] = 0;
	assert_int_equal(vq_load(&q2, e.dma, badst, "q2"), -EINVAL);
	memcpy(badst, st, vq_state_bytes(5));
	badst->last_used_idx = (uint16_t)(st->last_avail_idx - 1);
	assert_int_equal(vq_load(&q2, e.dma, badst, "q2"), -EINVAL);
	memcpy(badst, st, vq_state_bytes(5));
	badst->last_avail_idx = badst->last_used_idx = 10;
	assert_int_equal(vq_load(&q2, e.dma, badst, "q2"), -EINVAL);
	badst->last_avail_idx = badst->last_used_idx = 0xffff;
	assert_int_equal(vq_load(&q2, e.dma, badst, "q2"), -EINVAL);
	assert_memory_equal(&q2, &ref, sizeof(q2));
	/* The largest legal index loads. */
	badst->last_avail_idx = badst->last_used_idx = 9;
	assert_int_equal(vq_load(&q2, e.dma, badst, "q2"), 0);
	vq_teardown(&q2);

	/* The source goes away; a fresh queue takes over. */
	vq_teardown(&e.vq);
	assert_int_equal(vq_load(&e.vq, e.dma, st, "dst"), 0);
	for (unsigned r = 0; r < 12; r++) {
		unsigned n = 1 + r % 3;
		struct vq_done dd[3];
		for (unsigned i = 0; i < n; i++)
			add_one(&e, b + 64 * i, 64, true, (void *)(uintptr_t)(i + 1));
		sim_vq_publish(&e.drv);
		assert_int_equal(env_pop(&e, c, 8), n);
		for (unsigned i = 0; i < n; i++)
			dd[i] = (struct vq_done){ c[i].head, 10 + i };
		assert_int_equal(vq_push_burst(&e.vq, dd, n, false), 0);
		for (unsigned i = 0; i < n; i++) {
			check_used(&e, used, dd[i].id, dd[i].len);
			rpos_adv(&used, 1);
		}
		for (unsigned i = 0; i < n; i++) {
			uint32_t len;
			bool bad;
			assert_ptr_equal(sim_vq_get_used(&e.drv, &len, &bad), (void *)(uintptr_t)(i + 1));
			assert_false(bad);
			assert_int_equal(len, 10 + i);
		}
	}
	assert_true(used.flips >= 4);
	assert_false(vq_broken(&e.vq));
	free(st);
	free(badst);
	env_fini(&e);
}

/* With logging on, the used descriptors and the device event area are
 * marked dirty (queue of 1024: used descriptors 255 and 256 are on the
 * first two pages of the ring, the device area on the fifth). */
static void test_dirty_log(void **state)
{
	struct env e;
	struct vq_chain c[4];
	uint64_t bm[(H_LEN0 / 4096) / 64];
	uint8_t data[200];

	(void)state;
	env_init(&e, 1024, VQ_F_PACKED | VQ_F_EVENT_IDX, 0);
	uint64_t in = env_alloc(&e, 3 * 4096);
	in = (in + 4095) & ~4095ull;
	uint64_t b = env_alloc(&e, 64);
	for (int i = 0; i < 255; i++)
		round_trip(&e, b, 1, 1, false);
	struct sim_buf w = { in + 4000, 200 }; /* crosses a page */
	assert_int_equal(sim_vq_add(&e.drv, NULL, 0, &w, 1, (void *)1, false), 0);
	add_one(&e, b, 64, true, (void *)2);
	sim_vq_publish(&e.drv);
	assert_int_equal(dma_log_start(e.dma, 4096), 0);
	assert_int_equal(env_pop(&e, c, 4), 2);
	assert_int_equal(dma_log_report(e.dma, H_IOVA0, H_LEN0, bm), 0);
	for (size_t i = 0; i < sizeof(bm) / 8; i++)
		assert_int_equal(bm[i], 0); /* popping writes nothing */
	memset(data, 7, sizeof(data));
	assert_int_equal(vq_chain_write(&e.vq, &c[0], 0, data, 200), 200);
	struct vq_done d[2] = { { c[0].head, 200 }, { c[1].head, 0 } };
	assert_int_equal(vq_push_burst(&e.vq, d, 2, false), 0);
	check_used(&e, rpos_at(1024, 255, true), c[0].head, 200);
	check_used(&e, rpos_at(1024, 256, true), c[1].head, 0);
	assert_false(vq_notify_enable(&e.vq)); /* writes the device area */
	assert_int_equal(dma_log_report(e.dma, H_IOVA0, H_LEN0, bm), 0);
	uint64_t p_desc255 = (e.drv.desc_iova + 16 * 255 - H_IOVA0) / 4096;
	uint64_t p_desc256 = (e.drv.desc_iova + 16 * 256 - H_IOVA0) / 4096;
	uint64_t p_dev = (e.drv.used_iova - H_IOVA0) / 4096;
	assert_int_not_equal(p_desc255, p_desc256);
	assert_int_not_equal(p_dev, p_desc255);
	assert_int_not_equal(p_dev, p_desc256);
	uint64_t want[5] = {
		(in - H_IOVA0) / 4096, (in - H_IOVA0) / 4096 + 1, /* data */
		p_desc255, p_desc256, p_dev,
	};
	unsigned set = 0;
	for (size_t p = 0; p < H_LEN0 / 4096; p++) {
		bool dirty = bm[p / 64] & (1ull << (p % 64));
		bool expected = false;
		for (int k = 0; k < 5; k++)
			expected |= p == want[k];
		if (dirty != expected)
			fail_msg("page %zu: dirty %d, expected %d", p, dirty, expected);
		set += dirty;
	}
	assert_int_equal(set, 5);
	/* Deciding reads only; disabling writes the device area. */
	assert_true(vq_should_notify(&e.vq));
	assert_int_equal(dma_log_report(e.dma, H_IOVA0, H_LEN0, bm), 0);
	for (size_t i = 0; i < sizeof(bm) / 8; i++)
		assert_int_equal(bm[i], 0);
	vq_notify_disable(&e.vq);
	assert_int_equal(dma_log_report(e.dma, H_IOVA0, H_LEN0, bm), 0);
	for (size_t p = 0; p < H_LEN0 / 4096; p++)
		assert_int_equal(!!(bm[p / 64] & (1ull << (p % 64))), p == p_dev);
	assert_int_equal(dma_log_stop(e.dma), 0);
	env_fini(&e);
}

/* ==== hostile =========================================================== */

#define QSIZE 8

static int setup(void **state)
{
	struct env *e = malloc(sizeof(*e));

	hal_log_set_sink(quiet_sink);
	env_init(e, QSIZE, VQ_F_PACKED | VQ_F_INDIRECT, 0);
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

/* Driver: ring descriptor `pos` made available in the lap whose Driver
 * Ring Wrap Counter is `wrap` (AVAIL = wrap, USED = !wrap). */
static void put(struct env *e, uint16_t pos, bool wrap, uint64_t addr,
		uint32_t len, uint16_t id, uint16_t flags)
{
	struct vq_pdesc *d = &e->drv.pdesc[pos];

	d->addr = cpu_to_vle64(addr);
	d->len = cpu_to_vle32(len);
	d->id = cpu_to_vle16(id);
	__atomic_store_n(&d->flags, cpu_to_vle16(flags | (wrap ? F_AVAIL : F_USED)),
			 __ATOMIC_RELEASE);
}

/* The same in the first lap. */
static void put1(struct env *e, uint16_t pos, uint64_t addr, uint32_t len,
		 uint16_t id, uint16_t flags)
{
	put(e, pos, true, addr, len, id, flags);
}

static struct vq_pdesc ent(uint64_t addr, uint32_t len, uint16_t flags)
{
	return (struct vq_pdesc){ cpu_to_vle64(addr), cpu_to_vle32(len), 0,
				  cpu_to_vle16(flags) };
}

/* Write an indirect table into host memory; returns its IOVA. */
static uint64_t table(struct env *e, const struct vq_pdesc *t, unsigned n)
{
	uint64_t iova = env_alloc(e, 16ull * n + 16);

	iova = (iova + 15) & ~15ull;
	sim_hostmem_write(&e->mem, iova, t, 16ull * n);
	return iova;
}

static uint64_t hbuf(struct env *e)
{
	return env_alloc(e, 256);
}

/* The next burst pops `npop` chains and stops broken for `why`; the queue
 * then pops nothing, completes nothing, writes nothing to the host. */
static void expect_broken_after(struct env *e, unsigned npop, enum vq_error why)
{
	struct vq_chain c[QSIZE];
	struct vq_done d = { 0, 0 };
	struct vq_pdesc ring[QSIZE];
	struct vq_event dev;

	memcpy(ring, e->drv.pdesc, sizeof(ring));
	memcpy(&dev, e->drv.device_event, sizeof(dev));
	assert_int_equal(env_pop(e, c, QSIZE), npop);
	assert_true(vq_broken(&e->vq));
	assert_int_equal(e->vq.error, why);
	assert_int_equal(env_pop(e, c, QSIZE), 0);
	if (npop)
		d.id = c[0].head;
	assert_int_equal(vq_push_burst(&e->vq, &d, 1, false), -EIO);
	assert_false(vq_should_notify(&e->vq));
	assert_false(vq_notify_enable(&e->vq));
	vq_notify_disable(&e->vq);
	assert_int_equal(vq_avail_count(&e->vq), 0);
	assert_memory_equal(e->drv.pdesc, ring, sizeof(ring));
	assert_memory_equal(e->drv.device_event, &dev, sizeof(dev));
}

static void expect_broken(struct env *e, enum vq_error why)
{
	expect_broken_after(e, 0, why);
}

/* "A driver MUST NOT create a descriptor list longer than the Queue Size":
 * NEXT on every descriptor makes the list go round the ring. */
static void test_next_on_every_descriptor(void **state)
{
	struct env *e = *state;
	uint64_t b = hbuf(e);

	for (int i = QSIZE - 1; i >= 0; i--)
		put1(e, (uint16_t)i, b + i, 1, (uint16_t)i, F_NEXT);
	expect_broken(e, VQ_ERR_CHAIN_LEN);
}

/* The same starting mid-ring, across the wrap. */
static void test_next_on_every_descriptor_mid_ring(void **state)
{
	struct env *e = *state;
	struct vq_chain c[1];
	uint64_t b = hbuf(e);

	put1(e, 0, b, 8, 0, 0);
	assert_int_equal(env_pop(e, c, 1), 1);
	struct vq_done d = { c[0].head, 0 };
	assert_int_equal(vq_push_burst(&e->vq, &d, 1, false), 0);
	put(e, 0, false, b, 1, 1, F_NEXT);
	for (int i = QSIZE - 1; i >= 1; i--)
		put1(e, (uint16_t)i, b + i, 1, 1, F_NEXT);
	expect_broken(e, VQ_ERR_CHAIN_LEN);
}

/* "A driver MUST NOT write direct descriptors with DESC_F_INDIRECT set in
 * a scatter-gather list linked by VIRTQ_DESC_F_NEXT." */
static void test_indirect_inside_list(void **state)
{
	struct env *e = *state;
	uint64_t b = hbuf(e);
	struct vq_pdesc t[1] = { ent(b, 8, 0) };

	put1(e, 1, table(e, t, 1), 16, 0, F_IND);
	put1(e, 0, b, 8, 0, F_NEXT);
	expect_broken(e, VQ_ERR_INDIRECT_NEXT);
}

static void test_indirect_with_next(void **state)
{
	struct env *e = *state;
	uint64_t b = hbuf(e);
	struct vq_pdesc t[1] = { ent(b, 8, 0) };

	put1(e, 1, b, 8, 0, 0);
	put1(e, 0, table(e, t, 1), 16, 0, F_IND | F_NEXT);
	expect_broken(e, VQ_ERR_INDIRECT_NEXT);
}

static void test_indirect_in_indirect(void **state)
{
	struct env *e = *state;
	uint64_t b = hbuf(e);
	struct vq_pdesc inner[1] = { ent(b, 8, 0) };
	struct vq_pdesc outer[2] = { ent(b, 8, 0), ent(table(e, inner, 1), 16, F_IND) };

	put1(e, 0, table(e, outer, 2), 32, 0, F_IND);
	expect_broken(e, VQ_ERR_INDIRECT_NESTED);
}

static void test_indirect_len_zero(void **state)
{
	struct env *e = *state;

	put1(e, 0, hbuf(e), 0, 0, F_IND);
	expect_broken(e, VQ_ERR_INDIRECT_LEN);
}

static void test_indirect_len_not_multiple(void **state)
{
	struct env *e = *state;
	uint64_t b = hbuf(e);
	struct vq_pdesc t[2] = { ent(b, 8, 0), ent(b, 8, 0) };

	put1(e, 0, table(e, t, 2), 24, 0, F_IND);
	expect_broken(e, VQ_ERR_INDIRECT_LEN);
}

static void test_indirect_too_large(void **state)
{
	struct env *e = *state;
	struct vq_pdesc t[QSIZE + 1];
	uint64_t b = hbuf(e);

	for (int i = 0; i < QSIZE + 1; i++)
		t[i] = ent(b + i, 1, 0);
	put1(e, 0, table(e, t, QSIZE + 1), (QSIZE + 1) * 16, 0, F_IND);
	expect_broken(e, VQ_ERR_INDIRECT_LEN);
}

/* "The driver MUST NOT set the DESC_F_INDIRECT flag unless the
 * VIRTIO_F_INDIRECT_DESC feature was negotiated." */
static void test_indirect_not_negotiated(void **state)
{
	struct env e;

	(void)state;
	hal_log_set_sink(quiet_sink);
	env_init(&e, QSIZE, VQ_F_PACKED, 0);
	uint64_t b = env_alloc(&e, 64);
	struct vq_pdesc t[1] = { ent(b, 8, 0) };
	put1(&e, 0, table(&e, t, 1), 16, 0, F_IND);
	expect_broken(&e, VQ_ERR_INDIRECT_FEAT);
	env_fini(&e);
	hal_log_set_sink(NULL);
}

static void test_indirect_table_outside(void **state)
{
	struct env *e = *state;

	put1(e, 0, 0x3000000, 32, 0, F_IND);
	expect_broken(e, VQ_ERR_ADDR);
}

static void test_indirect_entry_outside(void **state)
{
	struct env *e = *state;
	uint64_t b = hbuf(e);
	struct vq_pdesc t[2] = { ent(b, 8, 0), ent(0x3000000, 8, F_WRITE) };

	put1(e, 0, table(e, t, 2), 32, 0, F_IND);
	expect_broken(e, VQ_ERR_ADDR);
}

static void test_indirect_readable_after_writable(void **state)
{
	struct env *e = *state;
	uint64_t b = hbuf(e);
	struct vq_pdesc t[2] = { ent(b, 8, F_WRITE), ent(b + 8, 8, 0) };

	put1(e, 0, table(e, t, 2), 32, 0, F_IND);
	expect_broken(e, VQ_ERR_ORDER);
}

static void test_id_beyond_queue(void **state)
{
	struct env *e = *state;

	put1(e, 0, hbuf(e), 8, QSIZE, 0);
	expect_broken(e, VQ_ERR_HEAD_RANGE);
}

/* The id that counts is the one in the list's last descriptor. */
static void test_id_beyond_queue_in_last(void **state)
{
	struct env *e = *state;
	uint64_t b = hbuf(e);

	put1(e, 1, b + 8, 8, 0xffff, 0);
	put1(e, 0, b, 8, 0, F_NEXT);
	expect_broken(e, VQ_ERR_HEAD_RANGE);
}

static void test_id_offered_twice(void **state)
{
	struct env *e = *state;
	uint64_t b = hbuf(e);

	put1(e, 0, b, 8, 2, 0);
	put1(e, 1, b, 8, 2, 0);
	/* The first is handed out; the second stops the burst. */
	expect_broken_after(e, 1, VQ_ERR_HEAD_BUSY);
}

static void test_id_offered_again_later(void **state)
{
	struct env *e = *state;
	struct vq_chain c[2];
	uint64_t b = hbuf(e);

	put1(e, 0, b, 8, 5, 0);
	assert_int_equal(env_pop(e, c, 2), 1);
	put1(e, 1, b, 8, 5, 0);
	expect_broken(e, VQ_ERR_HEAD_BUSY);
}

/* A list of 3 and 5 single buffers fill the ring; the driver then makes
 * descriptor 0 available again (lap 0) while its list is still in flight:
 * more descriptors available than the ring holds. */
static void test_avail_slots_in_flight(void **state)
{
	struct env *e = *state;
	struct vq_chain c[QSIZE];
	uint64_t b = hbuf(e);

	for (int i = 3; i < QSIZE; i++)
		put1(e, (uint16_t)i, b, 8, (uint16_t)(i - 2), 0);
	put1(e, 2, b, 8, 0, 0);
	put1(e, 1, b, 8, 0, F_NEXT);
	put1(e, 0, b, 8, 0, F_NEXT);
	assert_int_equal(env_pop(e, c, QSIZE), 6);
	assert_int_equal(e->vq.n_inflight, 6);
	put(e, 0, false, b, 8, 7, 0);
	expect_broken(e, VQ_ERR_AVAIL_IDX);
}

/* The same found in the middle of a burst: the four good buffers before
 * it come out, nothing after. */
static void test_avail_slots_in_flight_mid_burst(void **state)
{
	struct env *e = *state;
	struct vq_chain c[QSIZE];
	uint64_t b = hbuf(e);

	for (int i = 3; i < QSIZE; i++)
		put1(e, (uint16_t)i, b, 8, (uint16_t)(i - 2), 0);
	put1(e, 2, b, 8, 0, 0);
	put1(e, 1, b, 8, 0, F_NEXT);
	put1(e, 0, b, 8, 0, F_NEXT);
	assert_int_equal(env_pop(e, c, 2), 2); /* the list and one more */
	put(e, 0, false, b, 8, 7, 0);
	expect_broken_after(e, 4, VQ_ERR_AVAIL_IDX);
}

/* Legal counterpart: out-of-order completion frees ring slots wherever the
 * used descriptors went; the driver may fill exactly those. */
static void test_ring_full_recycled_ok(void **state)
{
	struct env *e = *state;
	struct vq_chain c[QSIZE];
	uint64_t b = hbuf(e);

	for (int i = 3; i < QSIZE; i++)
		put1(e, (uint16_t)i, b, 8, (uint16_t)(i - 2), 0);
	put1(e, 2, b, 8, 0, 0);
	put1(e, 1, b, 8, 0, F_NEXT);
	put1(e, 0, b, 8, 0, F_NEXT);
	assert_int_equal(env_pop(e, c, QSIZE), 6);
	/* Buffer 4 (one descriptor) completes first: used descriptor at 0. */
	struct vq_done d = { 4, 0 };
	assert_int_equal(vq_push_burst(&e->vq, &d, 1, false), 0);
	check_used(e, rpos_at(QSIZE, 0, true), 4, 0);
	/* One descriptor free: the driver reuses descriptor 0 in lap 0. */
	put(e, 0, false, b, 8, 4, 0);
	assert_int_equal(env_pop(e, c, QSIZE), 1);
	assert_int_equal(c[0].head, 4);
	assert_false(vq_broken(&e->vq));
	assert_int_equal(env_pop(e, c, QSIZE), 0);
}

static void test_addr_outside(void **state)
{
	struct env *e = *state;

	put1(e, 0, 0x3000000, 64, 0, 0); /* in the gap */
	expect_broken(e, VQ_ERR_ADDR);
}

static void test_addr_runs_off_region(void **state)
{
	struct env *e = *state;
	const uint64_t end = H_IOVA1 + H_NSMALL * H_SMALL;

	put1(e, 0, end - 10, 20, 0, 0);
	expect_broken(e, VQ_ERR_ADDR);
}

static void test_write_to_readonly(void **state)
{
	struct env *e = *state;
	struct vq_chain c[1];

	put1(e, 0, H_IOVA_RO, 64, 0, 0); /* reading it is fine */
	assert_int_equal(env_pop(e, c, 1), 1);
	put1(e, 1, H_IOVA_RO, 64, 1, F_WRITE);
	expect_broken(e, VQ_ERR_ADDR);
	assert_int_equal(e->ro[0], 0x5c);
}

static void test_len_wraps(void **state)
{
	struct env *e = *state;

	put1(e, 0, UINT64_MAX - 10, 100, 0, 0);
	expect_broken(e, VQ_ERR_LEN_OVERFLOW);
}

static void test_readable_after_writable(void **state)
{
	struct env *e = *state;
	uint64_t b = hbuf(e);

	put1(e, 1, b + 8, 8, 0, 0);
	put1(e, 0, b, 8, 0, F_WRITE | F_NEXT);
	expect_broken(e, VQ_ERR_ORDER);
}

/* Good buffers before the bad one are delivered; after a reset the queue
 * works again. */
static void test_good_then_bad_then_reset(void **state)
{
	struct env *e = *state;
	struct vq_chain c[4];
	uint64_t b = hbuf(e);

	put1(e, 0, b, 8, 3, 0);
	put1(e, 1, 0x3000000, 8, 4, 0);
	put1(e, 2, b, 8, 5, 0);
	expect_broken_after(e, 1, VQ_ERR_ADDR);

	vq_reset(&e->vq);
	memset(e->drv.pdesc, 0, 16 * QSIZE);
	assert_false(vq_broken(&e->vq));
	put1(e, 0, b, 8, 3, 0);
	assert_int_equal(env_pop(e, c, 4), 1);
	assert_int_equal(c[0].head, 3);
}

/* ---- ring addresses ---- */

static void ring_case(struct env *e, uint64_t desc, uint64_t drv, uint64_t dev,
		      bool ok)
{
	struct vq q;
	struct vq_chain c[1];

	assert_int_equal(vq_setup(&q, e->dma, QSIZE, desc, drv, dev, VQ_F_PACKED, "r"), 0);
	assert_int_equal(vq_pop_burst(&q, c, 1, e->segs, QSIZE), 0);
	assert_int_equal(vq_broken(&q), !ok);
	if (!ok) {
		assert_int_equal(q.error, VQ_ERR_RING_ADDR);
		assert_false(vq_notify_enable(&q));
		assert_false(vq_should_notify(&q));
	}
	vq_teardown(&q);
}

static void test_ring_misaligned(void **state)
{
	struct env *e = *state;
	struct vq q;
	uint64_t d = e->drv.desc_iova, a = e->drv.avail_iova, u = e->drv.used_iova;

	/* "Structure Size and Alignment": 16, 4, 4. */
	assert_int_equal(vq_setup(&q, e->dma, QSIZE, d + 8, a, u, VQ_F_PACKED, "x"), -EINVAL);
	assert_int_equal(vq_setup(&q, e->dma, QSIZE, d, a + 2, u, VQ_F_PACKED, "x"), -EINVAL);
	assert_int_equal(vq_setup(&q, e->dma, QSIZE, d, a, u + 2, VQ_F_PACKED, "x"), -EINVAL);
	assert_int_equal(vq_setup(&q, e->dma, 0, d, a, u, VQ_F_PACKED, "x"), -EINVAL);
	/* "The Queue Size value does not have to be a power of 2." */
	assert_int_equal(vq_setup(&q, e->dma, 5, d, a, u, VQ_F_PACKED, "x"), 0);
	vq_teardown(&q);
	assert_int_equal(vq_setup(&q, e->dma, 32767, d, a, u, VQ_F_PACKED, "x"), 0);
	vq_teardown(&q);
	assert_int_equal(vq_setup(&q, e->dma, 32768, d, a, u, VQ_F_PACKED, "x"), 0);
	vq_teardown(&q);
}

static void test_ring_desc_outside(void **state)
{
	struct env *e = *state;

	ring_case(e, 0x3000000, e->drv.avail_iova, e->drv.used_iova, false);
}

static void test_ring_desc_spans_regions(void **state)
{
	struct env *e = *state;

	ring_case(e, H_IOVA1 - 64, e->drv.avail_iova, e->drv.used_iova, false);
}

/* The device writes used descriptors into the ring. */
static void test_ring_desc_readonly(void **state)
{
	struct env *e = *state;

	ring_case(e, H_IOVA_RO, e->drv.avail_iova, e->drv.used_iova, false);
}

static void test_ring_driver_area_outside(void **state)
{
	struct env *e = *state;

	ring_case(e, e->drv.desc_iova, 0x3000000, e->drv.used_iova, false);
}

static void test_ring_device_area_outside(void **state)
{
	struct env *e = *state;

	ring_case(e, e->drv.desc_iova, e->drv.avail_iova, 0x3000000, false);
}

static void test_ring_device_area_readonly(void **state)
{
	struct env *e = *state;

	ring_case(e, e->drv.desc_iova, e->drv.avail_iova, H_IOVA_RO, false);
}

/* "The Driver Event Suppression structure is read-only by the device." */
static void test_ring_driver_area_readonly_ok(void **state)
{
	struct env *e = *state;

	ring_case(e, e->drv.desc_iova, H_IOVA_RO, e->drv.used_iova, true);
}

/* ---- legal inputs at the limits ---- */

/* A list of exactly the queue size, wrapping round the ring. */
static void test_list_of_queue_size_ok(void **state)
{
	struct env *e = *state;
	struct vq_chain c[2];
	uint64_t b = hbuf(e);

	put1(e, 0, b, 8, 0, 0);
	assert_int_equal(env_pop(e, c, 2), 1);
	struct vq_done d = { c[0].head, 0 };
	assert_int_equal(vq_push_burst(&e->vq, &d, 1, false), 0);
	/* 1..7 in lap 1, 0 in lap 0; the id only in the last one. */
	put(e, 0, false, b + 100, 4, 5, F_WRITE);
	for (int i = QSIZE - 1; i >= 1; i--)
		put1(e, (uint16_t)i, b + 10 * i, 4, 0x7fff,
		     (uint16_t)(F_NEXT | (i >= 6 ? F_WRITE : 0)));
	assert_int_equal(env_pop(e, c, 2), 1);
	assert_false(vq_broken(&e->vq));
	assert_int_equal(c[0].head, 5);
	assert_int_equal(c[0].nseg, QSIZE);
	assert_int_equal(c[0].nread, 5);
	assert_int_equal(c[0].wlen, 12);
	d = (struct vq_done){ 5, 12 };
	assert_int_equal(vq_push_burst(&e->vq, &d, 1, false), 0);
	check_used(e, rpos_at(QSIZE, 1, true), 5, 12);
	/* The next buffer is at 1 of lap 0, and so is its used descriptor. */
	put(e, 1, false, b, 8, 6, F_WRITE);
	assert_int_equal(env_pop(e, c, 2), 1);
	assert_int_equal(c[0].head, 6);
	d = (struct vq_done){ 6, 8 };
	assert_int_equal(vq_push_burst(&e->vq, &d, 1, false), 0);
	check_used(e, rpos_at(QSIZE, 1, false), 6, 8);
	assert_false(vq_broken(&e->vq));
}

/* An indirect table of exactly the queue size; NEXT (reserved in a table)
 * ignored, so it ends nothing; ids in the table and WRITE on the indirect
 * descriptor itself ignored too. */
static void test_indirect_of_queue_size_ok(void **state)
{
	struct env *e = *state;
	struct vq_pdesc t[QSIZE];
	struct vq_chain c[1];
	uint64_t b = hbuf(e);

	for (int i = 0; i < QSIZE; i++) {
		uint16_t f = (uint16_t)((i == 2 || i == 5 ? 0 : F_NEXT) | (i >= 4 ? F_WRITE : 0));
		t[i] = ent(b + 16 * i, 16, f);
		t[i].id = cpu_to_vle16(0xffff);
	}
	put1(e, 0, table(e, t, QSIZE), QSIZE * 16, 3, F_IND | F_WRITE);
	assert_int_equal(env_pop(e, c, 1), 1);
	assert_false(vq_broken(&e->vq));
	assert_int_equal(c[0].head, 3);
	assert_int_equal(c[0].nseg, QSIZE);
	assert_int_equal(c[0].nread, 4);
	assert_int_equal(c[0].rlen, 64);
	assert_int_equal(c[0].wlen, 64);
	struct vq_done d = { 3, 64 };
	assert_int_equal(vq_push_burst(&e->vq, &d, 1, false), 0);
	check_used(e, rpos_at(QSIZE, 0, true), 3, 64);
	/* The indirect buffer took one ring descriptor. */
	put1(e, 1, b, 8, 4, 0);
	assert_int_equal(env_pop(e, c, 1), 1);
	d = (struct vq_done){ 4, 0 };
	assert_int_equal(vq_push_burst(&e->vq, &d, 1, false), 0);
	check_used(e, rpos_at(QSIZE, 1, true), 4, 0);
}

static void test_zero_length_ok(void **state)
{
	struct env *e = *state;
	struct vq_chain c[2];
	uint64_t b = hbuf(e);

	/* A list with zero-length descriptors among the others. */
	put1(e, 3, b + 64, 0, 1, F_WRITE);
	put1(e, 2, b + 32, 16, 1, F_WRITE | F_NEXT);
	put1(e, 1, b + 8, 8, 1, F_NEXT);
	put1(e, 0, b, 0, 1, F_NEXT);
	/* A buffer of one zero-length descriptor. */
	put1(e, 4, b, 0, 2, F_WRITE);
	assert_int_equal(env_pop(e, c, 2), 2);
	assert_false(vq_broken(&e->vq));
	assert_int_equal(c[0].head, 1);
	assert_int_equal(c[0].rlen, 8);
	assert_int_equal(c[0].wlen, 16);
	assert_int_equal(c[1].head, 2);
	assert_int_equal(c[1].rlen, 0);
	assert_int_equal(c[1].wlen, 0);
	struct vq_done d[2] = { { 2, 0 }, { 1, 16 } };
	assert_int_equal(vq_push_burst(&e->vq, d, 2, false), 0);
	check_used(e, rpos_at(QSIZE, 0, true), 2, 0);
	check_used(e, rpos_at(QSIZE, 1, true), 1, 16);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* functional */
		cmocka_unit_test(test_basic_exchange),
		cmocka_unit_test(test_wraps_size5),
		cmocka_unit_test(test_wraps_size7_indirect),
		cmocka_unit_test(test_wraps_size1),
		cmocka_unit_test(test_used_out_of_order),
		cmocka_unit_test(test_in_order_batch),
		cmocka_unit_test(test_push_validation),
		cmocka_unit_test(test_driver_event_suppression),
		cmocka_unit_test(test_driver_event_desc_without_event_idx),
		cmocka_unit_test(test_device_event_flags),
		cmocka_unit_test(test_device_event_idx),
		cmocka_unit_test_setup_teardown(test_avail_count, setup_avail_count, teardown_env),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_dirty_log),
		/* hostile */
		T(test_next_on_every_descriptor),
		T(test_next_on_every_descriptor_mid_ring),
		T(test_indirect_inside_list),
		T(test_indirect_with_next),
		T(test_indirect_in_indirect),
		T(test_indirect_len_zero),
		T(test_indirect_len_not_multiple),
		T(test_indirect_too_large),
		cmocka_unit_test(test_indirect_not_negotiated),
		T(test_indirect_table_outside),
		T(test_indirect_entry_outside),
		T(test_indirect_readable_after_writable),
		T(test_id_beyond_queue),
		T(test_id_beyond_queue_in_last),
		T(test_id_offered_twice),
		T(test_id_offered_again_later),
		T(test_avail_slots_in_flight),
		T(test_avail_slots_in_flight_mid_burst),
		T(test_ring_full_recycled_ok),
		T(test_addr_outside),
		T(test_addr_runs_off_region),
		T(test_write_to_readonly),
		T(test_len_wraps),
		T(test_readable_after_writable),
		T(test_good_then_bad_then_reset),
		T(test_ring_misaligned),
		T(test_ring_desc_outside),
		T(test_ring_desc_spans_regions),
		T(test_ring_desc_readonly),
		T(test_ring_driver_area_outside),
		T(test_ring_device_area_outside),
		T(test_ring_device_area_readonly),
		T(test_ring_driver_area_readonly_ok),
		/* legal at the limits */
		T(test_list_of_queue_size_ok),
		T(test_indirect_of_queue_size_ok),
		T(test_zero_length_ok),
	};
	return cmocka_run_group_tests_name("virtq_packed", tests, NULL, NULL);
}
