/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_split — libFuzzer target for the device side of the split ring
 * (emu/virtq.c) over host memory (emu/dma.c).
 *
 * The input is a hostile host: its memory (rings, descriptors, indirect
 * tables, buffers), the ring configuration, and a script of what it does
 * between device bursts (writes into its memory) and of what the device
 * does (complete in or out of order, batch, notification suppression,
 * migration save/load, DMA table changes, dirty logging).
 *
 * Input layout (all little-endian):
 *
 *   off len
 *    0   1  queue size: 1 << (b % 9)             (1..256)
 *    1   1  bits 0-2 VQ_F_EVENT_IDX/INDIRECT/IN_ORDER; bit 3 dirty log on
 *           from the start; bit 4 start it before the maps (else after);
 *           bit 5 mutate the saved state before vq_load; bit 6 map a
 *           64 MiB read-only region of zeros at 1 << 32; bit 7 op bit 5
 *           resets the queue (vq_reset) instead of migrating it
 *    2   1  burst size (0: the queue size)
 *    3   1  regions (b % 5): 0 one RW; 1 two RW; 2 RW + read-only;
 *           3 read-only + RW; 4 RW + write-only
 *    4   1  gap in IOVA between the two regions, in 64-byte units
 *    5   2  split: where host memory is cut into the two regions
 *           (a multiple of 16: dma_map wants va = iova modulo 16)
 *    7   2  host memory size (0: the rest of the input), at most 32 KiB
 *    9   2  desc ring, IOVA offset from 0x10000
 *   11   2  avail ring, IOVA offset from 0x10000
 *   13   2  used ring, IOVA offset from 0x10000
 *   15   1  extra segment capacity: nsegs = size + b % (size + 1)
 *   16   4  seed of the generator for the device's minor choices
 *   20   1  script length S
 *   21   S  script: rounds of [op, arg, patches...]
 *           op  bits 0-2 patches (4 bytes each: u16 offset into host
 *                memory, u16 value) the host applies before the burst;
 *                bit 3 complete out of order; bit 4 batch (in-order);
 *                bit 5 save the queue and load it into a fresh one;
 *                bit 6 toggle kick suppression; bit 7 map or unmap an
 *                extra 256-byte region at 0x40000 (and try DMA requests
 *                that must be refused)
 *           arg bits 0-5 chains to complete (63: all); bit 6 complete
 *                with a bad id or length; bit 7 start dirty logging now
 *           no script: three rounds that complete everything.
 *           In half the rounds (the generator's choice) the device also
 *           takes a short way, before the pop or after the push: "fill"
 *           writes receive buffers (vq_fill_burst: a header and up to
 *           80 packets), "take" reads transmit buffers in place and
 *           gives them back (vq_take_burst with up to 80 asked for and
 *           a size limit, then vq_take_done).
 *   21+S    host memory bytes (zero-filled up to the size)
 *
 * Host memory lives in heap buffers of exactly the region sizes, so ASan
 * sees any access outside a region; the extra region's buffer is freed
 * while unmapped, so a stale pointer into it is a use-after-free; the big
 * region is mmap'd PROT_READ, so a device write there faults. Chains the
 * device holds across rounds are read and written again before they are
 * completed, after whatever table changes happened meanwhile.
 * Every loop is bounded (16 rounds, chains by the queue size, bytes
 * copied per chain and per run). The harness keeps its own model —
 * a shadow copy of host memory and a reference walk of the split ring
 * (virtio 1.3, 2.7, plus the error rules in virtq.h) — and traps when the
 * device disagrees with it: which chains it pops, the segments and their
 * permissions, when it breaks the queue, the bytes it reads, every byte
 * it writes (host memory must equal the shadow after every call), the
 * push, fill and notification decisions, the buffers a take finds (each
 * where its descriptor says, of its length) and what it completes,
 * save/load, and the dirty log.
 *
 * FUZZ_SPLIT_VERBOSE=1 in the environment keeps the library's log lines
 * and prints what each input did.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dma.h"
#include "hal_log.h"
#include "virtq.h"

#define FUZZ_NAME "fuzz_split"
#include "fuzz_hostmem.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ROUNDS  16u
#define HDR_LEN     21u

static bool g_verbose; /* FUZZ_SPLIT_VERBOSE: library log lines, a summary */

/* ---- host memory (fuzz_hostmem.h) ------------------------------------- */
static uint16_t m_read16(struct world *w, uint64_t iova)
{
	uint8_t b[2];

	m_read(w, iova, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

/* ---- the queue model --------------------------------------------------- */
struct mq {
	uint16_t size;
	uint16_t last_avail;
	uint16_t used_idx;
	uint16_t sig_used;
	bool sig_valid;
	bool broken;
	bool enabled;
	enum vq_error err;
	uint32_t flags;
	uint64_t desc, avail, used;
	uint8_t busy[MAX_Q];  /* 0 free, 1 popped, 3 restored by a load */
	uint16_t apos[MAX_Q]; /* avail index it was offered at */
	uint32_t wlen[MAX_Q]; /* writable bytes of the chain popped there */
	uint16_t resub[MAX_Q];
	unsigned nres, rpos;
	unsigned n_inflight;
};

static bool ring_ok(struct world *w, const struct mq *q)
{
	return m_one_region(w, q->desc, vq_desc_bytes(q->size), DMA_PROT_READ) &&
	       m_one_region(w, q->avail, vq_avail_bytes(q->size), DMA_PROT_READ) &&
	       m_one_region(w, q->used, vq_used_bytes(q->size), DMA_PROT_WRITE);
}

static void m_fail(struct mq *q, enum vq_error e)
{
	if (!q->broken) {
		q->broken = true;
		q->err = e;
	}
}

static bool m_begin(struct world *w, struct mq *q)
{
	if (q->broken || !q->enabled)
		return false;
	if (!ring_ok(w, q)) {
		m_fail(q, VQ_ERR_RING_ADDR);
		return false;
	}
	return true;
}

enum { RW_OK, RW_FULL, RW_BAD };

/* Reference walk of the chain at head (virtio 1.3, 2.7.5 and 2.7.5.3). */
static int ref_walk(struct world *w, struct mq *q, uint16_t head,
		    struct vq_chain *c, struct vq_seg *seg, unsigned cap)
{
	static uint8_t itab[MAX_Q * 16];
	uint32_t tab_n = q->size, count = 0, nseg = 0, nread = 0;
	uint64_t rlen = 0, wlen = 0;
	bool indirect = false, seen_write = false;
	uint16_t idx = head;
	enum vq_error e;

	for (;;) {
		uint8_t d[16];

		if (indirect)
			memcpy(d, itab + 16u * idx, 16);
		else
			m_read(w, q->desc + 16u * idx, d, 16);
		uint64_t addr = get64(d);
		uint32_t len = get32(d + 8);
		uint16_t flags = get16(d + 12), next = get16(d + 14);

		if (flags & VQ_DESC_F_INDIRECT) {
			if (indirect) {
				e = VQ_ERR_INDIRECT_NESTED;
				goto bad;
			}
			if (!(q->flags & VQ_F_INDIRECT)) {
				e = VQ_ERR_INDIRECT_FEAT;
				goto bad;
			}
			if (flags & VQ_DESC_F_NEXT) {
				e = VQ_ERR_INDIRECT_NEXT;
				goto bad;
			}
			if (len == 0 || len % 16 || len / 16 > q->size) {
				e = VQ_ERR_INDIRECT_LEN;
				goto bad;
			}
			if (!m_range_ok(w, addr, len, DMA_PROT_READ)) {
				e = VQ_ERR_ADDR;
				goto bad;
			}
			m_read(w, addr, itab, len);
			tab_n = len / 16;
			indirect = true;
			idx = 0;
			continue;
		}
		if (++count > q->size) {
			e = VQ_ERR_CHAIN_LEN;
			goto bad;
		}
		bool wr = flags & VQ_DESC_F_WRITE;
		if (wr) {
			seen_write = true;
		} else if (seen_write) {
			e = VQ_ERR_ORDER;
			goto bad;
		}
		if (len) {
			if (addr + len - 1 < addr) {
				e = VQ_ERR_LEN_OVERFLOW;
				goto bad;
			}
			uint32_t prot = wr ? DMA_PROT_WRITE : DMA_PROT_READ;
			if (!m_range_ok(w, addr, len, prot)) {
				e = VQ_ERR_ADDR;
				goto bad;
			}
			if (nseg == cap)
				return RW_FULL;
			const struct mreg *r = m_one_region(w, addr, len, prot);
			seg[nseg++] = (struct vq_seg){
				.iova = addr,
				.va = r ? r->buf + (addr - r->iova) : NULL,
				.len = len,
				.write = wr,
			};
			if (wr) {
				wlen += len;
			} else {
				rlen += len;
				nread++;
			}
			if (rlen + wlen > UINT32_MAX) {
				e = VQ_ERR_LEN_OVERFLOW;
				goto bad;
			}
		}
		if (!(flags & VQ_DESC_F_NEXT))
			break;
		if (next >= tab_n) {
			e = VQ_ERR_NEXT_RANGE;
			goto bad;
		}
		idx = next;
	}
	c->head = head;
	c->nseg = (uint16_t)nseg;
	c->nread = (uint16_t)nread;
	c->rlen = (uint32_t)rlen;
	c->wlen = (uint32_t)wlen;
	c->seg = seg;
	return RW_OK;
bad:
	m_fail(q, e);
	return RW_BAD;
}

/* Reference vq_pop_burst. */
static unsigned ref_pop(struct world *w, struct mq *q, struct vq_chain *chains,
			unsigned n, struct vq_seg *segs, unsigned nsegs)
{
	unsigned got = 0, used = 0;

	if (!m_begin(w, q))
		return 0;
	while (q->rpos < q->nres && got < n) {
		uint16_t head = q->resub[q->rpos];
		if (ref_walk(w, q, head, &chains[got], segs + used,
			     nsegs - used) != RW_OK)
			return got;
		q->busy[head] = 1;
		q->wlen[head] = chains[got].wlen;
		q->rpos++;
		used += chains[got++].nseg;
	}
	if (got == n)
		return got;
	uint16_t count = (uint16_t)(m_read16(w, q->avail + 2) - q->last_avail);
	if (count > q->size) {
		m_fail(q, VQ_ERR_AVAIL_IDX);
		return got;
	}
	if (count > n - got)
		count = (uint16_t)(n - got);
	while (count--) {
		uint16_t slot = q->last_avail & (q->size - 1);
		uint16_t head = m_read16(w, q->avail + 4 + 2u * slot);
		if (head >= q->size) {
			m_fail(q, VQ_ERR_HEAD_RANGE);
			break;
		}
		if (q->busy[head]) {
			m_fail(q, VQ_ERR_HEAD_BUSY);
			break;
		}
		if (ref_walk(w, q, head, &chains[got], segs + used,
			     nsegs - used) != RW_OK)
			break;
		q->busy[head] = 1;
		q->wlen[head] = chains[got].wlen;
		q->apos[head] = q->last_avail;
		q->n_inflight++;
		q->last_avail++;
		used += chains[got++].nseg;
	}
	return got;
}

/* The library's queue agrees with the model. */
static void check_queue(const struct vq *vq, const struct mq *q)
{
	CHECK(vq_broken(vq) == q->broken);
	if (q->broken)
		CHECK(vq->error == q->err);
	CHECK(vq->last_avail == q->last_avail);
	CHECK(vq->used_idx == q->used_idx);
	CHECK(vq->n_inflight == q->n_inflight);
}

/* Chain data (m_chain_copy, check_chain, chain_io, held_io) and the held
 * chains (g_held, pop_check_hold): fuzz_hostmem.h. */

/* ---- pops ------------------------------------------------------------- */
static struct vq_chain g_chains[MAX_Q], g_ref_chains[MAX_Q];
static struct vq_seg g_segs[MAX_SEGS], g_ref_segs[MAX_SEGS];

static void do_pop(struct world *w, struct vq *vq, struct mq *q,
		   unsigned burst, unsigned nsegs)
{
	bool was_broken = q->broken;

	if ((rnd() & 7) == 0 && q->size > 1) {
		/* A segment array smaller than the queue pops nothing. */
		m_begin(w, q);
		CHECK(vq_pop_burst(vq, g_chains, burst, g_segs, q->size - 1u) == 0);
		check_queue(vq, q);
		was_broken = q->broken;
	}
	unsigned ref = ref_pop(w, q, g_ref_chains, burst, g_ref_segs, nsegs);
	unsigned got = vq_pop_burst(vq, g_chains, burst, g_segs, nsegs);

	if (g_verbose)
		fprintf(stderr, "fuzz_split: pop burst %u: %u, model %u\n", burst,
			got, ref);
	CHECK(got <= burst);
	if (was_broken)
		CHECK(got == 0); /* pops stop once the queue is broken */
	CHECK(got == ref);
	check_queue(vq, q);
	check_memory(w); /* a pop writes nothing */
	pop_check_hold(w, vq, q->size, g_chains, g_ref_chains, g_segs, got, nsegs);
}

/* ---- completions ------------------------------------------------------ */
static void do_push(struct world *w, struct vq *vq, struct mq *q,
		    uint8_t op, uint8_t arg)
{
	struct vq_done done[MAX_Q + 1];
	unsigned pick[MAX_Q];
	unsigned k = arg & 0x3f, n;
	bool batch = op & 0x10, ooo = op & 0x08, bad = arg & 0x40;

	if (k == 0x3f || k > g_nheld)
		k = g_nheld;
	for (unsigned i = 0; i < g_nheld; i++)
		pick[i] = i;
	if (ooo) /* k distinct chains, in random order */
		for (unsigned i = 0; i < k; i++) {
			unsigned j = i + rnd() % (g_nheld - i);
			unsigned t = pick[i];
			pick[i] = pick[j];
			pick[j] = t;
		}
	for (n = 0; n < k; n++) {
		const struct held *h = &g_held[pick[n]];
		if (rnd() & 1)
			held_io(w, vq, &h->c);
		done[n].id = h->c.head;
		/* A batch reports its skipped chains as fully written. */
		done[n].len = batch ? h->c.wlen : h->written;
	}
	if (bad) {
		if (n == 0)
			done[n++].len = 0;
		if (rnd() & 1)
			done[rnd() % n].id = rnd() % (q->size + 2u);
		else /* more than the chain can hold, or a short batch */
			done[rnd() % n].len += (rnd() & 1) ? 1 : -1u;
	}

	/* What must happen. */
	int want;
	if (!m_begin(w, q)) {
		want = -EIO;
	} else if (n == 0) {
		want = 0;
	} else if (n > q->n_inflight ||
		   (batch && !(q->flags & VQ_F_IN_ORDER))) {
		want = -EINVAL;
	} else {
		bool seen[MAX_Q + 2] = { false };
		want = 0;
		for (unsigned i = 0; i < n && !want; i++) {
			uint32_t id = done[i].id;
			if (id >= q->size || q->busy[id] != 1 || seen[id] ||
			    done[i].len > q->wlen[id] ||
			    (batch && i + 1 < n && done[i].len != q->wlen[id]))
				want = -EINVAL;
			else if ((q->flags & VQ_F_IN_ORDER) &&
				 q->apos[id] != (uint16_t)(q->used_idx + i))
				want = -EINVAL;
			else
				seen[id] = true;
		}
	}
	int rc = vq_push_burst(vq, done, n, batch);
	if (g_verbose)
		fprintf(stderr, "fuzz_split: push %u (batch %d, out of order %d, "
			"bad %d): %d, model %d\n", n, batch, ooo, bad, rc, want);
	CHECK(rc == want);
	if (rc == 0 && n) {
		uint16_t old = q->used_idx;
		uint8_t e[8];
		if (batch) {
			put32(e, done[n - 1].id);
			put32(e + 4, done[n - 1].len);
			m_write(w, q->used + 4 + 8u * (old & (q->size - 1)), e, 8);
		} else {
			for (unsigned i = 0; i < n; i++) {
				put32(e, done[i].id);
				put32(e + 4, done[i].len);
				m_write(w, q->used + 4 +
					8u * ((uint16_t)(old + i) & (q->size - 1)), e, 8);
			}
		}
		for (unsigned i = 0; i < n; i++) {
			q->busy[done[i].id] = 0;
			for (unsigned j = 0; j < g_nheld; j++)
				if (g_held[j].c.head == done[i].id) {
					free(g_held[j].c.seg);
					memmove(&g_held[j], &g_held[j + 1],
						(g_nheld - j - 1) * sizeof(g_held[0]));
					g_nheld--;
					break;
				}
		}
		q->n_inflight -= n;
		uint16_t new_idx = (uint16_t)(old + n);
		q->used_idx = new_idx;
		m_write16(w, q->used + 2, new_idx);
		if ((int16_t)(new_idx - q->sig_used) < (uint16_t)(new_idx - old))
			q->sig_valid = false;
	}
	check_queue(vq, q);
	check_memory(w);
}

/* ---- the short ways (vq_fill_burst, vq_take_burst) -------------------- */
static struct fill_in g_fill;
static struct fill_ref g_fill_ref;
static struct vq_buf g_bufs[FILL_MAX];

/*
 * Reference vq_fill_burst and vq_take_burst (virtq.h): only while nothing
 * is in flight (no chain popped and not completed, no restored head
 * waiting to be popped again; the harness attaches no in-flight
 * recording) and the queue can begin; then, for i in [0, n), at most 64,
 * the buffer at avail index last_avail + i, while the driver made one
 * available there (an avail->idx more than a queue ahead is left to the
 * next pop to judge), if its head is in range and it is one direct
 * descriptor, flags exactly WRITE for a fill and exactly 0 for a take (no
 * NEXT, no INDIRECT, no unknown bits), that fits (fill_fits: a fill's of
 * at least hdr_len + len[i] bytes, all writable, a take's of 1..max
 * bytes, all readable, in one region). The first that is not so ends it.
 * Fills *m.
 */
static void ref_fill(struct world *w, struct mq *q, const struct fill_in *f,
		     struct fill_ref *m)
{
	m->n = 0;
	m->rest = -1;
	if (!m_begin(w, q))
		return;
	uint16_t count = (uint16_t)(m_read16(w, q->avail + 2) - q->last_avail);
	if (count > q->size || q->rpos < q->nres) {
		m->rest = 1;
		return;
	}
	if (q->n_inflight || f->n == 0) {
		m->rest = count ? 1 : -1;
		return;
	}
	unsigned lim = f->n < FILL_LIMIT ? f->n : FILL_LIMIT, i;
	for (i = 0; i < lim && i < count; i++) {
		uint16_t slot = (uint16_t)(q->last_avail + i) & (q->size - 1);
		uint16_t head = m_read16(w, q->avail + 4 + 2u * slot);
		if (head >= q->size)
			break;
		if (fill_dup(m, i, head)) {
			m_fail(q, VQ_ERR_HEAD_BUSY); /* as a pop: nothing found */
			return;
		}
		uint8_t d[16];
		m_read(w, q->desc + 16u * head, d, 16);
		uint64_t addr = get64(d);
		uint32_t len = get32(d + 8);
		uint16_t flags = get16(d + 12);
		if (flags != (f->take ? 0 : VQ_DESC_F_WRITE) ||
		    !fill_fits(w, f, i, addr, len))
			break;
		m->id[i] = head;
		m->addr[i] = addr;
		m->len[i] = len;
	}
	m->n = i;
	m->rest = i < count ? 1 : i < lim ? 0 : -1;
}

/* A fill, or a take (read, then given back). */
static void do_fill(struct world *w, struct vq *vq, struct mq *q, bool take)
{
	const struct fill_ref *m = &g_fill_ref;
	uint64_t popped = vq->n_popped, pushed = vq->n_pushed;

	/* The pages dirtied so far reported first: the call's own marks
	 * are then checked on their own below. */
	check_dirty(w);
	fill_gen(&g_fill, take);
	ref_fill(w, q, &g_fill, &g_fill_ref);
	unsigned got = fill_run(w, vq, &g_fill, g_bufs, m, g_verbose);

	if (got) {
		/* The copies (a fill's), in order, then the used entries (a
		 * take's with length 0), then the index (a buffer over a ring
		 * part is overwritten in that order). */
		for (unsigned i = 0; i < got; i++)
			m_fill_write(w, &g_fill, i, m->addr[i]);
		uint16_t old = q->used_idx;
		for (unsigned i = 0; i < got; i++) {
			uint8_t e[8];
			put32(e, m->id[i]);
			put32(e + 4, fill_used_len(&g_fill, i));
			m_write(w, q->used + 4 +
				8u * ((uint16_t)(old + i) & (q->size - 1)), e, 8);
		}
		uint16_t new_idx = (uint16_t)(old + got);
		m_write16(w, q->used + 2, new_idx);
		q->used_idx = new_idx;
		q->last_avail = (uint16_t)(q->last_avail + got);
		/* As after a push of as many. */
		if ((int16_t)(new_idx - q->sig_used) < (uint16_t)got)
			q->sig_valid = false;
	}
	CHECK(vq->n_popped == popped + got && vq->n_pushed == pushed + got);
	check_queue(vq, q);
	check_memory(w);
	check_dirty(w);
}

static void do_notify(struct world *w, struct vq *vq, struct mq *q)
{
	bool want = false;

	if (m_begin(w, q) && !(q->sig_valid && q->sig_used == q->used_idx)) {
		if (q->flags & VQ_F_EVENT_IDX) {
			uint16_t ev = m_read16(w, q->avail + 4 + 2u * q->size);
			want = !q->sig_valid ||
			       vq_need_event(ev, q->used_idx, q->sig_used);
		} else {
			want = !(m_read16(w, q->avail) & VQ_AVAIL_F_NO_INTERRUPT);
		}
		q->sig_used = q->used_idx;
		q->sig_valid = true;
	}
	bool got = vq_should_notify(vq);
	if (got != want && g_verbose)
		fprintf(stderr, "fuzz_split: notify %d, model %d: used %u sig %u/%d "
			"used_event %u\n", got, want, q->used_idx, q->sig_used,
			q->sig_valid, m_read16(w, q->avail + 4 + 2u * q->size));
	CHECK(got == want);
	/* Asked again with nothing new: no interrupt. */
	CHECK(!vq_should_notify(vq));
	check_queue(vq, q);
}

static void do_kicks(struct world *w, struct vq *vq, struct mq *q, bool enable)
{
	if (!enable) {
		if (m_begin(w, q) && !(q->flags & VQ_F_EVENT_IDX))
			m_write16(w, q->used, VQ_USED_F_NO_NOTIFY);
		vq_notify_disable(vq);
	} else {
		bool want = false;
		if (m_begin(w, q)) {
			if (q->flags & VQ_F_EVENT_IDX)
				m_write16(w, q->used + vq_used_bytes(q->size) - 2,
					  q->last_avail);
			else
				m_write16(w, q->used, 0);
			want = m_read16(w, q->avail + 2) != q->last_avail ||
			       q->rpos < q->nres;
		}
		CHECK(vq_notify_enable(vq) == want);
	}
	check_queue(vq, q);
	check_memory(w);
}

static void do_avail_count(struct world *w, struct vq *vq, struct mq *q)
{
	unsigned want = 0;

	if (m_begin(w, q)) {
		uint16_t count = (uint16_t)(m_read16(w, q->avail + 2) - q->last_avail);
		if (count > q->size)
			m_fail(q, VQ_ERR_AVAIL_IDX);
		else
			want = count + (q->nres - q->rpos);
	}
	CHECK(vq_avail_count(vq) == want);
	check_queue(vq, q);
}

/* ---- migration ---------------------------------------------------------- */
static bool m_size_ok(uint16_t s)
{
	return s && s <= VQ_MAX_SIZE && (s & (s - 1)) == 0;
}

/* vq_save, check the state against the model, optionally damage it, and
 * vq_load it into a fresh queue. Returns true when the fresh queue took
 * over (then *q describes it). */
static bool do_migrate(struct world *w, struct vq *from, struct vq *to,
		       struct mq *q, bool mutate)
{
	struct vq_state *st = calloc(1, vq_state_bytes(MAX_Q));
	unsigned n = 0;

	CHECK(st != NULL);
	CHECK(vq_save(from, st) == 0);
	CHECK(st->size == q->size && st->flags == q->flags);
	CHECK(st->last_avail_idx == q->last_avail && st->last_used_idx == q->used_idx);
	CHECK(st->desc_addr == q->desc && st->avail_addr == q->avail &&
	      st->used_addr == q->used);
	CHECK(st->enabled == q->enabled);
	CHECK(st->n_inflight == q->n_inflight);
	/* Every head in flight (popped, or restored and not popped again),
	 * oldest first: by the avail index it was offered at. */
	uint16_t prev_age = 0;
	for (unsigned i = 0; i < st->n_inflight; i++) {
		uint16_t hd = st->inflight[i];
		CHECK(hd < q->size && q->busy[hd]);
		uint16_t age = (uint16_t)(q->last_avail - q->apos[hd]);
		CHECK(i == 0 || age < prev_age);
		prev_age = age;
		n++;
	}
	CHECK(n == q->n_inflight);

	if (mutate) {
		uint32_t r = rnd();
		switch (r % 9) {
		case 0: st->last_avail_idx ^= (uint16_t)(r >> 8); break;
		case 1: st->last_used_idx ^= (uint16_t)(r >> 8); break;
		case 2: st->n_inflight ^= (uint16_t)((r >> 8) & 0x1ff); break;
		case 3: st->inflight[(r >> 8) % MAX_Q] ^= (uint16_t)(r >> 16); break;
		case 4: st->size = (uint16_t)(1u << ((r >> 8) % 9)); break;
		case 5: st->flags ^= (r >> 8) & 0xf; break;
		case 6:
			if (st->n_inflight > 1) /* a head listed twice */
				st->inflight[(r >> 8) % st->n_inflight] =
					st->inflight[(r >> 16) % st->n_inflight];
			else
				st->enabled ^= 1;
			break;
		case 7: st->enabled ^= (r >> 8) & 3; break;
		default: /* a consistent shift of both indexes */
			st->last_avail_idx += (uint16_t)((r >> 8) & 3);
			st->last_used_idx += (uint16_t)((r >> 8) & 3);
			break;
		}
	}

	bool ok = m_size_ok(st->size) && st->n_inflight <= st->size &&
		  st->enabled <= 1 &&
		  (uint16_t)(st->last_avail_idx - st->last_used_idx) == st->n_inflight &&
		  !(st->flags & ~(VQ_F_EVENT_IDX | VQ_F_INDIRECT | VQ_F_IN_ORDER)) &&
		  !(st->desc_addr & 15) && !(st->avail_addr & 1) && !(st->used_addr & 3);
	/* A mutated flags word may name a packed queue: its own rules (any
	 * size, nothing in flight, one counter in [0, 2 * size)). */
	if (st->flags & VQ_F_PACKED)
		ok = st->size >= 1 && st->size <= VQ_MAX_SIZE && st->enabled <= 1 &&
		     st->n_inflight == 0 &&
		     st->last_avail_idx == st->last_used_idx &&
		     st->last_avail_idx < 2u * st->size &&
		     !(st->flags & ~(VQ_F_EVENT_IDX | VQ_F_INDIRECT | VQ_F_IN_ORDER | VQ_F_PACKED)) &&
		     !(st->desc_addr & 15) && !(st->avail_addr & 3) && !(st->used_addr & 3);
	for (unsigned i = 0; ok && i < st->n_inflight; i++) {
		if (st->inflight[i] >= st->size)
			ok = false;
		for (unsigned j = 0; ok && j < i; j++)
			if (st->inflight[j] == st->inflight[i])
				ok = false;
	}
	memset(to, 0, sizeof(*to));
	int rc = vq_load(to, w->dma, st, "fuzz-dst");
	CHECK((rc == 0) == ok);
	if (!mutate)
		CHECK(rc == 0); /* a saved state always loads */
	if (rc) {
		/* Refused: the queue is untouched (still zero). */
		static const struct vq zero;
		CHECK(memcmp(to, &zero, sizeof(zero)) == 0);
		free(st);
		return false;
	}
	if (st->flags & VQ_F_PACKED) {
		/* Loaded as a packed queue: not this target's ring; drop it. */
		vq_teardown(to);
		free(st);
		return false;
	}

	/* The destination queue: restored heads are popped again first. */
	held_drop_all();
	memset(q, 0, sizeof(*q));
	q->size = st->size;
	q->flags = st->flags;
	q->enabled = st->enabled;
	q->desc = st->desc_addr;
	q->avail = st->avail_addr;
	q->used = st->used_addr;
	q->last_avail = st->last_avail_idx;
	q->used_idx = q->sig_used = st->last_used_idx;
	q->nres = q->n_inflight = st->n_inflight;
	for (unsigned i = 0; i < st->n_inflight; i++) {
		q->resub[i] = st->inflight[i];
		q->busy[st->inflight[i]] = 3;
		q->apos[st->inflight[i]] = (uint16_t)(st->last_used_idx + i);
	}
	free(st);
	return true;
}

/* ---- the run ------------------------------------------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	g_verbose = getenv("FUZZ_SPLIT_VERBOSE") != NULL;
	if (!g_verbose)
		hal_log_set_sink(discard_log);
	return 0;
}

static struct vq g_vq[2];
static struct mq g_mq;
static struct world g_w;

/* The host's DMA requests are hostile too: maps that overlap, wrap or
 * carry no permission, unmaps that do not match a map, bad log page
 * sizes. Every one is refused and the table does not change. */
static void dma_hostile(struct world *w)
{
	const struct mreg *a = &w->reg[REG_A];
	uint64_t gen = dma_space_table(w->dma)->gen;
	uint64_t at = a->iova + rnd() % a->len, len = 1 + rnd() % 8192;
	uint64_t bm[2];

	CHECK(dma_map(w->dma, at, len, a->buf + (at & 15), DMA_PROT_READ) == -EEXIST);
	CHECK(dma_map(w->dma, at - len, len + 1, a->buf + ((at - len) & 15),
		      DMA_PROT_READ) == -EEXIST);
	CHECK(dma_map(w->dma, 0x80000, 16, a->buf + 1 + (rnd() % 15),
		      DMA_PROT_READ) == -EINVAL); /* va not congruent to iova */
	CHECK(dma_map(w->dma, UINT64_MAX - 15, 32, a->buf, DMA_PROT_READ) == -EINVAL);
	CHECK(dma_map(w->dma, 0x80000, 0, a->buf, DMA_PROT_READ) == -EINVAL);
	CHECK(dma_map(w->dma, 0x80000, 16, a->buf, 0) == -EINVAL);
	CHECK(dma_map(w->dma, 0x80000, 16, a->buf, 8) == -EINVAL);
	CHECK(dma_unmap(w->dma, a->iova, a->len + 1) == -ENOENT);
	CHECK(dma_unmap(w->dma, at, 1) == -ENOENT); /* A is at least 8 bytes */
	CHECK(dma_unmap(w->dma, 0x80000, 16) == -ENOENT);
	CHECK(dma_log_start(w->dma, 4096 + 512) == -EINVAL);
	CHECK(dma_log_start(w->dma, 2048) == -EINVAL);
	if (w->log_on) {
		CHECK(dma_log_start(w->dma, 8192) == -EBUSY);
		CHECK(dma_log_start(w->dma, 4096) == 0);
		CHECK(dma_log_report(w->dma, 0x10800, 4096, bm) == -EINVAL);
		CHECK(dma_log_report(w->dma, 0x10000, 0, bm) == -EINVAL);
	} else {
		CHECK(dma_log_report(w->dma, 0x10000, 4096, bm) == -EINVAL);
	}
	CHECK(dma_space_table(w->dma)->gen == gen);
}

/* vq_reset: back to the state vq_setup left. */
static void do_reset(struct vq *vq, struct mq *q)
{
	vq_reset(vq);
	held_drop_all();
	memset(q->busy, 0, sizeof(q->busy));
	q->n_inflight = q->nres = q->rpos = 0;
	q->last_avail = q->used_idx = q->sig_used = 0;
	q->sig_valid = true;
	q->broken = false;
	q->err = VQ_OK;
	check_queue(vq, q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world *w = &g_w;
	struct mq *q = &g_mq;
	int cur = 0;

	if (size < HDR_LEN)
		return 0;
	const uint8_t *h = data;
	size_t script_len = h[20];
	if (size < HDR_LEN + script_len)
		return 0;
	const uint8_t *script = data + HDR_LEN;
	const uint8_t *memsrc = script + script_len;
	size_t memsrc_len = size - HDR_LEN - script_len;

	uint16_t qsize = (uint16_t)(1u << (h[0] % 9));
	uint32_t flags = h[1] & (VQ_F_EVENT_IDX | VQ_F_INDIRECT | VQ_F_IN_ORDER);
	bool log_early = h[1] & 0x08, log_before_map = h[1] & 0x10;
	bool mutate = h[1] & 0x20, zero_region = h[1] & 0x40;
	bool reset_not_migrate = h[1] & 0x80;
	unsigned burst = h[2] ? h[2] : qsize;
	uint64_t desc = BASE_IOVA + get16(h + 9);
	uint64_t avail = BASE_IOVA + get16(h + 11);
	uint64_t used = BASE_IOVA + get16(h + 13);
	unsigned extra_segs = h[15];
	rng_state = (uint32_t)h[16] | (uint32_t)h[17] << 8 |
		    (uint32_t)h[18] << 16 | (uint32_t)h[19] << 24;

	/* Host memory. */
	world_setup(w, h, memsrc, memsrc_len, zero_region);
	world_map(w, log_early, log_before_map);

	/* The queue. */
	memset(g_vq, 0, sizeof(g_vq));
	memset(q, 0, sizeof(*q));
	q->size = qsize;
	q->flags = flags;
	q->enabled = true;
	q->sig_valid = true; /* vq_setup: used idx 0 counts as signalled */
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	int rc = vq_setup(&g_vq[cur], w->dma, qsize, desc, avail, used, flags,
			  "fuzz");
	bool setup_ok = !(desc & 15) && !(avail & 1) && !(used & 3);
	CHECK((rc == 0) == setup_ok);
	if (rc)
		goto out;

	/* The rounds. */
	memset(g_short, 0, sizeof(g_short));
	static const uint8_t default_script[] = { 0, 0x3f, 0, 0x3f, 0, 0x3f };
	const uint8_t *sp = script_len ? script : default_script;
	size_t sleft = script_len ? script_len : sizeof(default_script);
	bool kicks_on = true;

	for (unsigned round = 0; round < MAX_ROUNDS && sleft >= 2; round++) {
		struct vq *vq = &g_vq[cur];
		uint8_t op = sp[0], arg = sp[1];
		sp += 2;
		sleft -= 2;

		/* The host writes its memory between bursts. */
		host_patches(w, &sp, &sleft, op & 7u);

		/* DMA table changes: the queue re-translates its rings. */
		if (op & 0x80) {
			dma_hostile(w);
			world_toggle_extra(w);
		}
		if ((arg & 0x80) && !w->log_on)
			world_log_start(w);
		do_avail_count(w, vq, q);

		if ((op & 0x20) && reset_not_migrate) {
			do_reset(vq, q);
		} else if (op & 0x20) {
			if (do_migrate(w, vq, &g_vq[!cur], q, mutate)) {
				vq_teardown(vq);
				cur = !cur;
				vq = &g_vq[cur];
			}
			check_queue(vq, q);
			do_avail_count(w, vq, q);
		}

		/* A short way in half the rounds (no script bit is free: the
		 * generator chooses), a fill (vq_fill_burst) or a take
		 * (vq_take_burst) alike: before the pop, which then takes the
		 * buffer it stopped at, or after the push, at what the pop
		 * left. */
		uint32_t r = rnd(), fill_at = r % 4;
		bool take = r & 0x10;
		if (fill_at == 0)
			do_fill(w, vq, q, take);
		unsigned nsegs = q->size + extra_segs % (q->size + 1u);
		do_pop(w, vq, q, burst, nsegs);
		do_push(w, vq, q, op, arg);
		if (fill_at == 1)
			do_fill(w, vq, q, take);
		do_notify(w, vq, q);
		if (op & 0x40) {
			kicks_on = !kicks_on;
			do_kicks(w, vq, q, kicks_on);
		}
		check_memory(w);
	}
	/* Once more: anything still offered is popped and completed. */
	do_pop(w, &g_vq[cur], q, MAX_Q, MAX_SEGS);
	do_push(w, &g_vq[cur], q, 0, 0x3f);
	do_notify(w, &g_vq[cur], q);
	check_memory(w);
	if (w->log_on) {
		check_dirty(w);
		CHECK(dma_log_stop(w->dma) == 0);
		CHECK(!dma_logging(w->dma));
		w->log_on = false;
		uint64_t bm[1];
		CHECK(dma_log_report(w->dma, 0, 4096, bm) == -EINVAL);
	}
	if (g_verbose)
		fprintf(stderr, "fuzz_split: size %u flags %#x regions %u: popped %lu "
			"pushed %lu notified %lu, filled %lu in %lu of %lu fills, "
			"took %lu in %lu of %lu takes, %s\n", q->size, q->flags,
			w->nreg, (unsigned long)(g_vq[0].n_popped + g_vq[1].n_popped),
			(unsigned long)(g_vq[0].n_pushed + g_vq[1].n_pushed),
			(unsigned long)(g_vq[0].n_notify + g_vq[1].n_notify),
			g_short[0][2], g_short[0][1], g_short[0][0],
			g_short[1][2], g_short[1][1], g_short[1][0],
			q->broken ? vq_error_str(q->err) : "not broken");

out:
	held_drop_all();
	vq_teardown(&g_vq[0]);
	vq_teardown(&g_vq[1]);
	world_free(w);
	return 0;
}
