/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_split — throughput of the ring engine (emu/virtq + emu/dma), split
 * and packed rings, against the simulated driver (sim/drv_vq), one on each
 * core. Every case runs on both rings, one right after the other, so the
 * two rows of a pair usually see the same core-to-core round trip.
 *
 * The driver runs on a plain pthread pinned to CPU 0; the device runs on
 * DPDK lcore 1 (CPU 1) through rte_eal_remote_launch, so its mempool has a
 * per-lcore cache as a datapath lcore's would. Queue size 256, bursts of
 * 32, polling only: the device disables kicks and never sleeps, the driver
 * disables interrupts and ignores kicks (both are still decided, so their
 * cost is in the figures).
 *
 *   device receive ("driver TX"): the driver posts virtio-net header +
 *     packet chains (one descriptor, as Linux does with ANY_LAYOUT, or two:
 *     header, packet), publishes, reaps and re-posts. The device pops 32,
 *     copies each packet past the 12-byte header into an mbuf from
 *     rte_pktmbuf_alloc_bulk, completes the burst (len 0) in one push and
 *     frees the mbufs with rte_pktmbuf_free_bulk (standing in for a
 *     representor's tx_burst).
 *   device transmit ("driver RX"): the driver keeps the ring full of
 *     writable 2048-byte buffers; the device pops 32, writes a zeroed
 *     12-byte header and the data of the next pre-filled mbuf into each
 *     (through the segment's va with dma_mark_dirty, or vq_chain_write)
 *     and completes the burst with the lengths in one push.
 *
 * Each case runs BENCH_SECONDS (default 2) after a warm-up; Mchains/s is
 * the device's count over the measured window, with the median and best
 * 100 ms windows beside it, the CPU-to-CPU cache-line round trip measured
 * before and after, and the share of CPU time each thread really got (a
 * figure taken while something else ran on those CPUs says so).
 * BENCH_ONLY=<substring> runs only the cases whose tag contains it (=<tag>:
 * that case alone); tags
 * look like "split-rx-1desc-64-ev0", "packed-tx-va-1500-ev1" (so "packed"
 * picks one ring, "rx-1desc-64" both). Correctness is checked
 * cheaply: the k-th packet carries k (device receive: written by the
 * driver, checked by the device; device transmit: the index of the source
 * mbuf, checked by the driver together with the used length). Exit status
 * 1 on EAL failure, mismatches, a broken queue or a bad used entry.
 *
 * Figures, never pass/fail thresholds (DESIGN.md, "Tests and checks").
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_version.h>

#include "bench_common.h"
#include "dma.h"
#include "sim_hostmem.h"
#include "sim_vq.h"
#include "virtq.h"

#define QSIZE       256
#define BURST       32
#define HDR_LEN     12      /* struct virtio_net_hdr_v1 without mergeable */
#define BUF_STRIDE  2048    /* one host buffer per head */
#define RX_BUF_LEN  2048    /* writable buffer the driver posts */
#define N_SRC       509     /* pre-filled source mbufs (prime: no alignment
			     * with the ring size) */
#define DRV_CPU     0
#define DEV_CPU     1
#define DEV_LCORE   1
#define WARMUP_NS   300000000ull
#define WINDOW_NS   100000000ull  /* 100 ms sampling windows */
#define MAX_WINDOWS 36000

#define RING_IOVA   0x100000ull     /* rings: a small "low memory" region */
#define RING_LEN    (64u << 10)
#define BUF_IOVA    0x100000000ull  /* buffers: a "high memory" region */
#define BUF_LEN     (1u << 20)

enum dir { DEV_RX, DEV_TX };

enum variant {
	V_1DESC,   /* device receive: hdr+packet in one descriptor */
	V_2DESC,   /* device receive: hdr, packet */
	V_INORDER, /* device receive: one descriptor, IN_ORDER batch used */
	V_VA,      /* device transmit: write through seg.va + dma_mark_dirty */
	V_CHAINW,  /* device transmit: vq_chain_write */
};

static const char *const variant_name[] = {
	[V_1DESC] = "1desc", [V_2DESC] = "2desc", [V_INORDER] = "inorder",
	[V_VA] = "va", [V_CHAINW] = "chain_write",
};

struct counter {
	uint64_t n;
} __attribute__((aligned(64)));

struct bench {
	/* the case */
	enum dir dir;
	enum variant var;
	uint32_t pkt;
	uint32_t vq_flags;
	/* host memory and the two ends of the queue */
	struct sim_hostmem mem;
	struct dma_space *dma;
	/* each side's hot state on lines of its own */
	struct sim_vq drv __attribute__((aligned(64)));
	struct vq dev;
	uint64_t buf_iova __attribute__((aligned(64)));
	uint8_t *buf_va;
	struct rte_mempool *pool;
	struct rte_mbuf *src[N_SRC];
	/* control, each on its own line */
	struct counter stop;
	struct counter drv_ready, dev_ready;
	struct counter drv_count, dev_count;
	/* results, written once by their thread as it returns */
	uint64_t dev_mism, drv_mism;
	uint64_t dev_err, drv_err;
	uint64_t notifies;
	uint64_t dev_chains, dev_bursts; /* non-empty pops */
	uint64_t drv_chains, drv_rounds; /* rounds that reaped something */
	int drv_cpu, dev_cpu;
	double drv_share, dev_share; /* % of wall time the thread ran */
	const char *drv_what, *dev_what;
};

static double bench_seconds = 2.0;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* Share of the wall time since (wall0, cpu0) that this thread ran: below
 * 100% means something else was scheduled on its CPU. */
struct cpu_share {
	uint64_t wall0, cpu0;
};

static void share_start(struct cpu_share *c)
{
	c->wall0 = now_ns();
	c->cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static double share_end(const struct cpu_share *c)
{
	uint64_t wall = now_ns() - c->wall0;
	uint64_t cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c->cpu0;

	return wall ? 100.0 * (double)cpu / (double)wall : 0;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000ull),
		.tv_nsec = (long)(ns % 1000000000ull),
	};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static bool stopping(const struct bench *b)
{
	return __atomic_load_n(&b->stop.n, __ATOMIC_RELAXED) != 0;
}

static void publish_count(struct counter *c, uint64_t v)
{
	/* Single writer; the main thread only samples it. */
	__atomic_store_n(&c->n, v, __ATOMIC_RELAXED);
}

static uint64_t sample(const struct counter *c)
{
	return __atomic_load_n(&c->n, __ATOMIC_RELAXED);
}

/* ---- driver (CPU 0) ---------------------------------------------------- */

static uint8_t *buf_of(const struct bench *b, unsigned idx)
{
	return b->buf_va + (size_t)idx * BUF_STRIDE;
}

/* Post buffer idx: a TX chain carrying seq (device receive) or a writable
 * buffer (device transmit). */
static int drv_post(struct bench *b, unsigned idx, uint64_t seq)
{
	uint64_t iova = b->buf_iova + (uint64_t)idx * BUF_STRIDE;
	void *token = (void *)(uintptr_t)(idx + 1);
	struct sim_buf sb[2];

	if (b->dir == DEV_TX) {
		sb[0] = (struct sim_buf){ iova, RX_BUF_LEN };
		return sim_vq_add(&b->drv, NULL, 0, sb, 1, token, false);
	}
	/* The packet body was written once at setup; a fresh sequence number
	 * is all that changes. */
	memcpy(buf_of(b, idx) + HDR_LEN, &seq, sizeof(seq));
	if (b->var == V_2DESC) {
		sb[0] = (struct sim_buf){ iova, HDR_LEN };
		sb[1] = (struct sim_buf){ iova + HDR_LEN, b->pkt };
		return sim_vq_add(&b->drv, sb, 2, NULL, 0, token, false);
	}
	sb[0] = (struct sim_buf){ iova, HDR_LEN + b->pkt };
	return sim_vq_add(&b->drv, sb, 1, NULL, 0, token, false);
}

static void *driver_main(void *arg)
{
	struct bench *b = arg;
	struct sim_vq *q = &b->drv;
	uint16_t freed[QSIZE];
	uint64_t seq = 0, expect = 0, done = 0, mism = 0, rounds = 0;
	struct cpu_share share;
	const char *err = NULL;
	unsigned idx;
	cpu_set_t cs;

	CPU_ZERO(&cs);
	CPU_SET(DRV_CPU, &cs);
	if (pthread_setaffinity_np(pthread_self(), sizeof(cs), &cs))
		err = "cannot pin the driver";
	b->drv_cpu = sched_getcpu();
	sim_vq_disable_cb(q); /* polling: no interrupts wanted */
	for (idx = 0; !err && idx < QSIZE; idx++) {
		int rc = drv_post(b, idx, seq);
		if (rc == -ENOSPC)
			break;
		if (rc)
			err = "sim_vq_add failed";
		seq++;
	}
	(void)sim_vq_publish(q); /* polling device: a kick is not needed */
	share_start(&share);
	__atomic_store_n(&b->drv_ready.n, 1, __ATOMIC_RELEASE);

	while (!err && !stopping(b)) {
		unsigned n = 0;
		uint32_t len;
		bool bad;
		void *tok;

		while ((tok = sim_vq_get_used(q, &len, &bad)) != NULL) {
			idx = (unsigned)((uintptr_t)tok - 1);
			if (b->dir == DEV_TX) {
				uint64_t v;

				memcpy(&v, buf_of(b, idx) + HDR_LEN, sizeof(v));
				if (len != HDR_LEN + b->pkt || v != expect)
					mism++;
				if (++expect == N_SRC)
					expect = 0;
			}
			freed[n++] = (uint16_t)idx;
		}
		if (bad) {
			err = "driver saw a bad used entry";
			break;
		}
		if (n == 0) {
			rte_pause();
			continue;
		}
		for (unsigned i = 0; i < n && !err; i++, seq++)
			if (drv_post(b, freed[i], seq))
				err = "re-post failed";
		(void)sim_vq_publish(q);
		done += n;
		rounds++;
		publish_count(&b->drv_count, done);
	}
	b->drv_share = share_end(&share);
	b->drv_mism = mism;
	b->drv_chains = done;
	b->drv_rounds = rounds;
	b->drv_err = err != NULL;
	b->drv_what = err;
	return NULL;
}

/* ---- device (lcore 1, CPU 1) ------------------------------------------- */

/* Device receive: chains -> mbufs; returns mismatches found. */
static unsigned dev_rx_burst(struct bench *b, struct vq_chain *chains,
			     unsigned n, struct vq_done *done,
			     struct rte_mbuf **m, uint64_t *seq)
{
	struct vq *vq = &b->dev;
	unsigned mism = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct vq_chain *c = &chains[i];
		uint8_t *dst = rte_pktmbuf_mtod(m[i], uint8_t *);
		uint32_t len;
		uint64_t v;

		done[i] = (struct vq_done){ .id = c->head, .len = 0 };
		if (c->rlen != HDR_LEN + b->pkt) {
			mism++;
			m[i]->data_len = 0;
			m[i]->pkt_len = 0;
			(*seq)++;
			continue;
		}
		len = c->rlen - HDR_LEN;
		if (c->nseg == 1 && c->seg[0].va)
			memcpy(dst, (const uint8_t *)c->seg[0].va + HDR_LEN, len);
		else if (vq_chain_read(vq, c, HDR_LEN, dst, len) != len)
			mism++;
		m[i]->data_len = (uint16_t)len;
		m[i]->pkt_len = len;
		memcpy(&v, dst, sizeof(v));
		if (v != *seq)
			mism++;
		(*seq)++;
	}
	return mism;
}

static const uint8_t zero_hdr[HDR_LEN];

/* Device transmit: source mbufs -> chains. */
static unsigned dev_tx_burst(struct bench *b, struct vq_chain *chains,
			     unsigned n, struct vq_done *done, unsigned *k)
{
	const struct dma_table *t = dma_space_table(b->dma);
	struct vq *vq = &b->dev;
	unsigned mism = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct vq_chain *c = &chains[i];
		const struct rte_mbuf *m = b->src[*k];
		const uint8_t *data = rte_pktmbuf_mtod(m, const uint8_t *);
		uint32_t len = m->data_len, tot = HDR_LEN + len;

		if (++*k == N_SRC)
			*k = 0;
		done[i] = (struct vq_done){ .id = c->head, .len = tot };
		if (c->wlen < tot) {
			mism++;
			done[i].len = 0;
			continue;
		}
		const struct vq_seg *s = &c->seg[c->nread];
		if (b->var == V_VA && s->va && s->len >= tot) {
			memset(s->va, 0, HDR_LEN);
			memcpy((uint8_t *)s->va + HDR_LEN, data, len);
			dma_mark_dirty(t, s->iova, tot);
		} else if (vq_chain_write(vq, c, 0, zero_hdr, HDR_LEN) != HDR_LEN ||
			   vq_chain_write(vq, c, HDR_LEN, data, len) != len) {
			mism++;
		}
	}
	return mism;
}

static int device_main(void *arg)
{
	struct bench *b = arg;
	struct vq *vq = &b->dev;
	struct vq_chain chains[BURST];
	struct vq_seg segs[QSIZE];
	struct vq_done done[BURST];
	struct rte_mbuf *m[BURST];
	bool batch = b->var == V_INORDER;
	uint64_t count = 0, seq = 0, mism = 0, notifies = 0, bursts = 0;
	struct cpu_share share;
	const char *err = NULL;
	unsigned k = 0;

	b->dev_cpu = sched_getcpu();
	vq_notify_disable(vq); /* polling: no kicks wanted */
	share_start(&share);
	__atomic_store_n(&b->dev_ready.n, 1, __ATOMIC_RELEASE);

	while (!stopping(b)) {
		unsigned n = vq_pop_burst(vq, chains, BURST, segs, QSIZE);

		if (n == 0) {
			if (vq_broken(vq)) {
				err = vq_error_str(vq->error);
				break;
			}
			rte_pause();
			continue;
		}
		if (b->dir == DEV_RX) {
			if (rte_pktmbuf_alloc_bulk(b->pool, m, n)) {
				err = "mbuf allocation failed";
				break;
			}
			mism += dev_rx_burst(b, chains, n, done, m, &seq);
		} else {
			mism += dev_tx_burst(b, chains, n, done, &k);
		}
		if (vq_push_burst(vq, done, n, batch)) {
			err = "vq_push_burst refused the burst";
			break;
		}
		if (vq_should_notify(vq))
			notifies++; /* polling: no interrupt fd to write */
		if (b->dir == DEV_RX)
			rte_pktmbuf_free_bulk(m, n);
		count += n;
		bursts++;
		publish_count(&b->dev_count, count);
		if (vq_broken(vq)) {
			err = vq_error_str(vq->error);
			break;
		}
	}
	b->dev_share = share_end(&share);
	b->dev_mism = mism;
	b->dev_err = err != NULL;
	b->dev_what = err;
	b->notifies = notifies;
	b->dev_chains = count;
	b->dev_bursts = bursts;
	return 0;
}

/* ---- cache-line round trip between the two CPUs ------------------------ */

/*
 * On a VM the host decides where the two vCPUs really run (SMT siblings,
 * one CCX, two dies) and may change its mind while we run; the figures
 * swing with it (on the machine this was written on: ~50, ~115 or ~520 ns,
 * and 3-4x in throughput). Each case is preceded and followed by this
 * probe so the table says what the interconnect looked like: the median
 * time for one cache line to go CPU 0 -> CPU 1 -> CPU 0.
 */
static struct {
	uint64_t ping __attribute__((aligned(128)));
	uint64_t pong __attribute__((aligned(128)));
	uint64_t stop __attribute__((aligned(128)));
} probe;

#define PROBE_ROUNDS 64
#define PROBE_TRIPS  256

static int probe_pong(void *arg)
{
	uint64_t v = 0;

	(void)arg;
	while (!__atomic_load_n(&probe.stop, __ATOMIC_RELAXED)) {
		uint64_t p = __atomic_load_n(&probe.ping, __ATOMIC_ACQUIRE);
		if (p != v) {
			v = p;
			__atomic_store_n(&probe.pong, v, __ATOMIC_RELEASE);
		}
	}
	return 0;
}

static double probe_rtt_ns(void)
{
	double r[PROBE_ROUNDS];
	uint64_t v = 0;

	memset(&probe, 0, sizeof(probe));
	if (rte_eal_remote_launch(probe_pong, NULL, DEV_LCORE))
		return -1;
	for (unsigned i = 0; i < PROBE_ROUNDS; i++) {
		uint64_t t0 = now_ns();
		for (unsigned j = 0; j < PROBE_TRIPS; j++) {
			__atomic_store_n(&probe.ping, ++v, __ATOMIC_RELEASE);
			while (__atomic_load_n(&probe.pong, __ATOMIC_ACQUIRE) != v)
				;
		}
		r[i] = (double)(now_ns() - t0) / PROBE_TRIPS;
	}
	__atomic_store_n(&probe.stop, 1, __ATOMIC_RELAXED);
	rte_eal_wait_lcore(DEV_LCORE);
	qsort(r, PROBE_ROUNDS, sizeof(r[0]), cmp_double);
	return r[PROBE_ROUNDS / 2];
}

/* ---- one case ---------------------------------------------------------- */

struct result {
	double mcps;
	uint64_t kicks, notifies, mism, err;
	double dev_burst, drv_batch;
	double w_med, w_max; /* over WINDOW_NS windows */
	double rtt_ns, rtt_after; /* probe_rtt_ns() just before and after */
	double share;        /* lower of the two threads' CPU shares, % */
};


static int setup(struct bench *b)
{
	int rc;

	sim_hostmem_init(&b->mem);
	if ((rc = sim_hostmem_add(&b->mem, RING_IOVA, RING_LEN)) ||
	    (rc = sim_hostmem_add(&b->mem, BUF_IOVA, BUF_LEN)))
		return rc;
	b->dma = dma_space_create(NULL); /* nothing remaps while we run */
	if (!b->dma)
		return -ENOMEM;
	if ((rc = sim_hostmem_map(&b->mem, b->dma, DMA_PROT_READ | DMA_PROT_WRITE)))
		return rc;
	if ((rc = sim_vq_init(&b->drv, &b->mem, QSIZE, b->vq_flags, 0)))
		return rc;
	/* The rings fill part of the first region; this goes to the second. */
	if ((rc = sim_hostmem_alloc(&b->mem, (uint64_t)QSIZE * BUF_STRIDE, 4096,
				    &b->buf_iova)))
		return rc;
	b->buf_va = sim_hostmem_va(&b->mem, b->buf_iova, (uint64_t)QSIZE * BUF_STRIDE);
	if (!b->buf_va)
		return -EFAULT;
	for (unsigned i = 0; i < QSIZE; i++) {
		uint8_t *p = buf_of(b, i);

		memset(p, 0, HDR_LEN);
		for (uint32_t j = HDR_LEN; j < BUF_STRIDE; j++)
			p[j] = (uint8_t)(i + j);
	}
	if ((rc = vq_setup(&b->dev, b->dma, QSIZE, b->drv.desc_iova,
			   b->drv.avail_iova, b->drv.used_iova, b->vq_flags,
			   "bench")))
		return rc;
	if (b->dir == DEV_TX) {
		for (unsigned i = 0; i < N_SRC; i++) {
			struct rte_mbuf *m = rte_pktmbuf_alloc(b->pool);
			uint64_t v = i;

			if (!m)
				return -ENOMEM;
			b->src[i] = m;
			uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)b->pkt);
			if (!p)
				return -ENOSPC;
			for (uint32_t j = 0; j < b->pkt; j++)
				p[j] = (uint8_t)(i * 7 + j);
			memcpy(p, &v, sizeof(v));
		}
	}
	return 0;
}

static void teardown(struct bench *b)
{
	for (unsigned i = 0; i < N_SRC; i++)
		if (b->src[i])
			rte_pktmbuf_free(b->src[i]);
	if (b->dev.inflight)
		vq_teardown(&b->dev);
	sim_vq_fini(&b->drv);
	if (b->dma)
		dma_space_destroy(b->dma);
	sim_hostmem_free(&b->mem);
}

static void wait_flag(const struct counter *c)
{
	while (!__atomic_load_n(&c->n, __ATOMIC_ACQUIRE))
		sleep_ns(1000000);
}

static int run_case(struct rte_mempool *pool, enum dir d, enum variant v,
		    uint32_t pkt, bool evidx, bool packed, struct result *res)
{
	static double win[MAX_WINDOWS];
	struct bench *b;
	pthread_t drv_thr;
	int rc;

	memset(res, 0, sizeof(*res));
	b = rte_zmalloc("bench", sizeof(*b), 64);
	if (!b)
		return -ENOMEM;
	b->dir = d;
	b->var = v;
	b->pkt = pkt;
	b->pool = pool;
	b->vq_flags = (evidx ? VQ_F_EVENT_IDX : 0) |
		      (v == V_INORDER ? VQ_F_IN_ORDER : 0) |
		      (packed ? VQ_F_PACKED : 0);
	b->drv_cpu = b->dev_cpu = -1;
	res->rtt_ns = probe_rtt_ns();
	if ((rc = setup(b))) {
		fprintf(stderr, "bench_split: setup: %s\n", strerror(-rc));
		goto out;
	}
	if ((rc = rte_eal_remote_launch(device_main, b, DEV_LCORE))) {
		fprintf(stderr, "bench_split: remote launch: %s\n", strerror(-rc));
		goto out;
	}
	wait_flag(&b->dev_ready);
	if ((rc = pthread_create(&drv_thr, NULL, driver_main, b))) {
		fprintf(stderr, "bench_split: pthread_create: %s\n", strerror(rc));
		__atomic_store_n(&b->stop.n, 1, __ATOMIC_RELAXED);
		rte_eal_wait_lcore(DEV_LCORE);
		rc = -rc;
		goto out;
	}
	wait_flag(&b->drv_ready);

	sleep_ns(WARMUP_NS);
	/* Sample every WINDOW_NS as well: on a VM whose vCPUs the host moves
	 * around, the spread of the windows says more than the mean. */
	uint64_t c0 = sample(&b->dev_count), t0 = now_ns();
	uint64_t end = t0 + (uint64_t)(bench_seconds * 1e9);
	uint64_t wc = c0, wt = t0, now;
	unsigned nwin = 0;
	while ((now = now_ns()) < end) {
		uint64_t left = end - now;
		sleep_ns(left < WINDOW_NS ? left : WINDOW_NS);
		uint64_t c = sample(&b->dev_count), t = now_ns();
		if (t - wt >= WINDOW_NS / 2 && nwin < MAX_WINDOWS)
			win[nwin++] = (double)(c - wc) / ((double)(t - wt) / 1e9) / 1e6;
		wc = c;
		wt = t;
	}
	uint64_t c1 = wc, t1 = wt;
	__atomic_store_n(&b->stop.n, 1, __ATOMIC_RELAXED);
	pthread_join(drv_thr, NULL);
	rte_eal_wait_lcore(DEV_LCORE);
	res->rtt_after = probe_rtt_ns();

	res->mcps = (double)(c1 - c0) / ((double)(t1 - t0) / 1e9) / 1e6;
	if (nwin) {
		qsort(win, nwin, sizeof(win[0]), cmp_double);
		res->w_med = win[nwin / 2];
		res->w_max = win[nwin - 1];
	}
	res->kicks = b->drv.n_kicks;
	res->share = b->drv_share < b->dev_share ? b->drv_share : b->dev_share;
	res->notifies = b->notifies;
	res->dev_burst = b->dev_bursts ? (double)b->dev_chains / (double)b->dev_bursts : 0;
	res->drv_batch = b->drv_rounds ? (double)b->drv_chains / (double)b->drv_rounds : 0;
	res->mism = b->dev_mism + b->drv_mism;
	res->err = b->dev_err + b->drv_err;
	if (b->dev_err)
		fprintf(stderr, "bench_split: device: %s\n", b->dev_what);
	if (b->drv_err)
		fprintf(stderr, "bench_split: driver: %s\n", b->drv_what);
	if (b->dev_cpu != DEV_CPU || b->drv_cpu != DRV_CPU) {
		fprintf(stderr, "bench_split: driver on CPU %d, device on CPU %d\n",
			b->drv_cpu, b->dev_cpu);
		res->err++;
	}
	if (c1 == c0) {
		fprintf(stderr, "bench_split: no progress\n");
		res->err++;
	}
out:
	teardown(b);
	rte_free(b);
	return rc;
}

/* ---- main -------------------------------------------------------------- */

static void print_machine(int argc, char **argv)
{
	bench_print_header(argc, argv);
	printf("# driver pthread on CPU %d, device on lcore %d (CPU %d); queue %d,"
	       " burst %d, polling; %.1f s per case after %.1f s warm-up\n",
	       DRV_CPU, DEV_LCORE, DEV_CPU, QSIZE, BURST, bench_seconds,
	       (double)WARMUP_NS / 1e9);
	printf("# ring: split, or packed (VIRTIO_F_RING_PACKED), %d descriptors"
	       " either way; each case runs split then packed\n", QSIZE);
	printf("# Mchains/s: device, whole window; win_p50/win_max: over %u ms"
	       " windows; burst: chains per non-empty pop; batch: chains per"
	       " driver reap;\n# kicks/irqs: notifications decided (polling"
	       " ignores them); rtt_ns: CPU %d<->%d cache-line round trip before/after"
	       " the case;\n# cpu%%: least share of wall time either thread"
	       " got (below ~95: something else ran on its CPU)\n",
	       (unsigned)(WINDOW_NS / 1000000), DRV_CPU, DEV_CPU);
}

int main(int argc, char **argv)
{
	static const uint32_t sizes[] = { 64, 1500 };
	static const struct {
		enum dir d;
		enum variant v;
	} kinds[] = {
		{ DEV_RX, V_1DESC }, { DEV_RX, V_2DESC }, { DEV_RX, V_INORDER },
		{ DEV_TX, V_VA }, { DEV_TX, V_CHAINW },
	};
	char prefix[64];
	int status = 0;
	unsigned shared = 0;

	if (bench_seconds_env("bench_split", &bench_seconds))
		return 1;
	snprintf(prefix, sizeof(prefix), "virtnet-bench-%d", (int)getpid());
	char *eal_argv[] = {
		argv[0], "-l", "0-1", "--no-huge", "--no-pci", "--no-shconf",
		"--file-prefix", prefix, "--log-level=error", "-m", "512",
		"--no-telemetry", NULL,
	};
	int eal_argc = (int)(sizeof(eal_argv) / sizeof(eal_argv[0])) - 1;

	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		fprintf(stderr, "bench_split: EAL init failed: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	char rundir[PATH_MAX];
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	struct rte_mempool *pool = rte_pktmbuf_pool_create(
		"bench_mbuf", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!pool) {
		fprintf(stderr, "bench_split: mempool: %s\n", rte_strerror(rte_errno));
		rte_eal_cleanup();
		rmdir(rundir);
		return 1;
	}

	print_machine(argc, argv);
	printf("%-6s %-28s %-12s %5s %9s %10s %8s %8s %8s %6s %6s %8s %8s %9s %5s %10s\n",
	       "ring", "direction", "variant", "pkt", "event_idx", "Mchains/s", "win_p50",
	       "win_max", "Gbit/s", "burst", "batch", "kicks", "irqs",
	       "rtt_ns", "cpu%", "mismatches");
	fflush(stdout);
	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (unsigned k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			for (unsigned e = 0; e < 4; e++) {
				/* Split then packed for each setting: neighbours
				 * in time, so usually at the same rtt. */
				bool ev = e / 2, packed = e % 2;
				struct result r;
				char tag[64];

				snprintf(tag, sizeof(tag), "%s-%s-%s-%u-%s",
					 packed ? "packed" : "split",
					 kinds[k].d == DEV_RX ? "rx" : "tx",
					 variant_name[kinds[k].v], sizes[s],
					 ev ? "ev1" : "ev0");
				if (!bench_only(tag))
					continue;
				int rc = run_case(pool, kinds[k].d, kinds[k].v,
						  sizes[s], ev, packed, &r);
				if (rc) {
					status = 1;
					continue;
				}
				printf("%-6s %-28s %-12s %5u %9s %10.2f %8.2f %8.2f %8.2f %6.1f %6.1f %8" PRIu64
				       " %8" PRIu64 " %4.0f/%-4.0f %5.0f %10" PRIu64 "%s\n",
				       packed ? "packed" : "split",
				       kinds[k].d == DEV_RX
					       ? "device receive (driver TX)"
					       : "device transmit (driver RX)",
				       variant_name[kinds[k].v], sizes[s],
				       ev ? "on" : "off", r.mcps, r.w_med, r.w_max,
				       r.mcps * sizes[s] * 8 / 1e3, r.dev_burst,
				       r.drv_batch, r.kicks,
				       r.notifies, r.rtt_ns, r.rtt_after, r.share, r.mism,
				       r.err ? "  ERROR" : "");
				fflush(stdout);
				if (r.mism || r.err)
					status = 1;
				if (r.share < 95)
					shared++;
			}
		}
	}
	if (shared)
		printf("# warning: in %u case(s) a thread got less than 95%% of"
		       " its CPU: other processes ran there; those figures are"
		       " low\n", shared);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	rmdir(rundir); /* EAL leaves its (empty) runtime directory behind */
	return status;
}
