/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_packed — libFuzzer target for the device side of the packed ring
 * (emu/virtq_packed.c, through emu/virtq.c) over host memory (emu/dma.c).
 *
 * The input is a hostile host: its memory (descriptor ring, driver and
 * device areas, indirect tables, buffers), the queue configuration, and a
 * script of what it does between device bursts. The host has two hands: a
 * driver that offers well-formed buffers the way virtio 1.3, 2.8 says
 * (buffer ids from a free list, wrap-counted AVAIL/USED bits, lists with
 * NEXT, indirect tables, the first descriptor's flags written last) and
 * that, when the script asks, does one specific wrong thing; and raw
 * writes anywhere in its memory. The script also says what the device does:
 * complete in or out of order, batch (in order), with bad ids or lengths,
 * decide interrupts, toggle kick suppression, migrate (save/load), reset,
 * change the DMA table while chains are held, start dirty logging.
 *
 * Input layout (all little-endian):
 *
 *   off len
 *    0   1  queue size: 1 + b                    (1..256, any value)
 *    1   1  bits 0-2 VQ_F_EVENT_IDX/INDIRECT/IN_ORDER; bit 3 dirty log on
 *           from the start; bit 4 start it before the maps (else after);
 *           bit 5 mutate the saved state before vq_load; bit 6 map a
 *           64 MiB read-only region of zeros at 1 << 32; bit 7 op bit 5
 *           resets the queue (vq_reset) instead of migrating it
 *    2   1  burst size (0: the queue size)
 *    3   1  regions (b % 5): 0 one RW; 1 two RW; 2 RW + read-only;
 *           3 read-only + RW; 4 RW + write-only
 *    4   1  gap in IOVA between the two regions, in 64-byte units
 *    5   2  where host memory is cut into the two regions (a multiple
 *           of 16: dma_map wants va = iova modulo 16)
 *    7   2  host memory size (0: the rest of the input), at most 32 KiB
 *    9   2  descriptor ring, IOVA offset from 0x10000
 *   11   2  driver area (driver event suppression), offset from 0x10000
 *   13   2  device area (device event suppression), offset from 0x10000
 *   15   1  extra segment capacity: nsegs = size + b % (size + 1)
 *   16   4  seed of the generator for minor choices
 *   20   1  driver: bit 0 uses indirect tables (half its buffers, when
 *           negotiated); bit 1 keeps changing the driver area (event
 *           flags and offset); bits 2-3 the most pieces a buffer has,
 *           minus one (1..4); bit 4 zeroes the ring first (else it is
 *           what the input says, and the driver starts at offset 0)
 *   21   1  script length S
 *   22   S  script: rounds of [op, arg, drv, patches...]
 *           op  bits 0-2 patches (4 bytes each: u16 offset into host
 *                memory, two bytes) the host writes before the burst;
 *                bit 3 complete out of order; bit 4 batch (in order);
 *                bit 5 save the queue and load it into a fresh one (or
 *                reset it, header byte 1 bit 7); bit 6 toggle kick
 *                suppression; bit 7 map or unmap an extra 256-byte
 *                region at 0x40000 (and try DMA requests that must be
 *                refused)
 *           arg bits 0-5 chains to complete (63: all); bit 6 complete
 *                with a bad id or length; bit 7 start dirty logging now
 *           drv bits 0-3 buffers the driver offers before the burst;
 *                bits 4-7 one wrong thing it does this round (0: none,
 *                see enum mischief)
 *           no script: three rounds that offer four buffers and
 *           complete everything.
 *           In half the rounds (the generator's choice) the device also
 *           takes a short way, before the pop or after the push: "fill"
 *           writes receive buffers (vq_fill_burst: a header and up to
 *           80 packets), "take" reads transmit buffers in place and
 *           gives them back (vq_take_burst with up to 80 asked for and
 *           a size limit, then vq_take_done).
 *   22+S    host memory bytes (zero-filled up to the size)
 *
 * Host memory lives in heap buffers of exactly the region sizes, so ASan
 * sees any access outside a region; the extra region's buffer is freed
 * while unmapped, so a stale pointer into it is a use-after-free; the big
 * region is mmap'd PROT_READ, so a device write there faults.
 *
 * The harness keeps its own model, derived from the spec (virtio 1.3,
 * 2.8) and the error rules in virtq.h rather than from the code: a shadow
 * of host memory and a reference device that keeps its ring positions as
 * (offset, wrap counter) pairs. It traps when the device disagrees with it:
 * which buffers it takes, their segments and permissions, when and why it
 * breaks the queue, the bytes it reads, every byte it writes (host memory
 * must equal the shadow after every call: the device writes only into
 * writable buffer segments and the buffers it fills, the used descriptors
 * at its used positions in the ring — id, len, flags, never addr — and the
 * device area), the push, fill, interrupt and kick decisions, the
 * buffers a take finds (each where its descriptor says, of its length,
 * at its position) and the used descriptors it writes, the count
 * of available buffers, save/load, and the dirty log (reported after
 * every call that writes). While the driver has done nothing wrong and
 * no raw write happened, the driver also checks, as a driver would,
 * every used descriptor it reaps (a buffer id it has outstanding, in
 * order: one of its oldest ones) and that it got every buffer back at
 * the end; it is not clean when the input laid the driver or device area
 * over the descriptor ring.
 *
 * The interrupt decision follows three rounds in four (so the used
 * position may move two rings' worth between decisions).
 * Every loop is bounded (16 rounds, 15 buffers offered a round, walks by
 * the queue size, bytes copied per chain and per run).
 * FUZZ_PACKED_VERBOSE=1 in the environment keeps the library's log lines
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

#define FUZZ_NAME "fuzz_packed"
#include "fuzz_hostmem.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ROUNDS  16u
#define MAX_OFFER   15u
#define HDR_LEN     22u

/* Packed descriptor flag bits (virtio 1.3, 2.8.1, 2.8.6-2.8.8). */
#define F_NEXT     1u
#define F_WRITE    2u
#define F_INDIRECT 4u
#define F_AVAIL    (1u << 7)
#define F_USED     (1u << 15)

/* Event suppression flags (2.8.10). */
#define EV_ENABLE  0u
#define EV_DISABLE 1u
#define EV_DESC    2u

static bool g_verbose; /* FUZZ_PACKED_VERBOSE: library log lines, a summary */


static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* ---- host memory (fuzz_hostmem.h) by IOVA -------------------------- */
/* The host writes / reads its memory by IOVA (regions A and B, and the
 * extra region while it exists); false when a byte is not host memory. */
static bool host_iova_off(struct world *w, uint64_t iova, size_t *off)
{
	for (unsigned i = 0; i < REG_ZERO; i++) {
		const struct mreg *r = regs_at(w, i);
		if (r && r->buf && iova >= r->iova && iova - r->iova < r->len) {
			*off = r->off + (size_t)(iova - r->iova);
			return true;
		}
	}
	return false;
}

static bool host_write(struct world *w, uint64_t iova, const void *src, size_t len)
{
	const uint8_t *p = src;
	size_t off;

	for (size_t i = 0; i < len; i++) {
		if (!host_iova_off(w, iova + i, &off))
			return false;
		host_poke(w, off, p[i]);
	}
	return true;
}

static bool host_read(struct world *w, uint64_t iova, void *dst, size_t len)
{
	uint8_t *p = dst;
	size_t off;

	for (size_t i = 0; i < len; i++) {
		if (!host_iova_off(w, iova + i, &off))
			return false;
		p[i] = w->shadow[off];
	}
	return true;
}

/* ---- the reference device ---------------------------------------------
 * Positions in the ring as the spec keeps them: an offset and a one-bit
 * wrap counter that starts at 1 and flips each time the offset passes the
 * end of the ring (2.8.2). */
struct mpos {
	uint16_t off;
	uint8_t wrap;
};

static struct mpos mp_start(void)
{
	return (struct mpos){ .off = 0, .wrap = 1 };
}

static void mp_step(struct mpos *p, unsigned n, uint16_t size)
{
	while (n--) {
		if (++p->off == size) {
			p->off = 0;
			p->wrap ^= 1;
		}
	}
}

static bool mp_eq(struct mpos a, struct mpos b)
{
	return a.off == b.off && a.wrap == b.wrap;
}

/* The number virtq.h (and the saved state) uses for a position: the
 * offset on a lap with wrap counter 1, offset + size on one with 0. */
static uint16_t mp_number(struct mpos p, uint16_t size)
{
	return (uint16_t)(p.wrap ? p.off : p.off + size);
}

static struct mpos mp_from_number(uint16_t n, uint16_t size)
{
	return n < size ? (struct mpos){ n, 1 } : (struct mpos){ (uint16_t)(n - size), 0 };
}

struct mq {
	uint16_t size;
	uint32_t flags;
	bool enabled;
	bool broken;
	enum vq_error err;
	uint64_t desc, drv_area, dev_area;
	struct mpos next_avail;  /* where the next buffer must start */
	struct mpos next_used;   /* where the next used descriptor goes */
	unsigned ring_held;      /* ring descriptors of buffers in flight */
	unsigned n_inflight;
	uint32_t n_taken, n_given; /* buffers popped / completed, for in order */
	uint8_t busy[MAX_Q];     /* by buffer id */
	uint16_t ndesc[MAX_Q];   /* ring descriptors the buffer took */
	uint32_t wlen[MAX_Q];    /* its writable bytes */
	uint32_t nth[MAX_Q];     /* n_taken when it was popped */
	/* interrupts: where the used position was at the last decision and
	 * how far it moved since; `undecided` after a load */
	struct mpos sig;
	uint32_t moved;
	bool undecided;
};

/* The three parts of the ring (2.8.10.1 sizes): the device reads and
 * writes the descriptor ring, reads the driver area, writes the device
 * area; each must lie in one region. */
static bool ring_ok(struct world *w, const struct mq *q)
{
	return m_one_region(w, q->desc, 16u * q->size,
			    DMA_PROT_READ | DMA_PROT_WRITE) &&
	       m_one_region(w, q->drv_area, 4, DMA_PROT_READ) &&
	       m_one_region(w, q->dev_area, 4, DMA_PROT_WRITE);
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

struct pdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t id, flags;
};

static struct pdesc m_desc(struct world *w, const struct mq *q, uint16_t off)
{
	uint8_t b[16];

	m_read(w, q->desc + 16u * off, b, 16);
	return (struct pdesc){ get64(b), get32(b + 8), get16(b + 12), get16(b + 14) };
}

/* 2.8.1: available when AVAIL matches the wrap counter and USED does not. */
static bool m_available(struct world *w, const struct mq *q, struct mpos p)
{
	uint16_t f = m_desc(w, q, p.off).flags;

	return !!(f & F_AVAIL) == p.wrap && !!(f & F_USED) != p.wrap;
}

/*
 * What a buffer is made of, in the order the device meets it: a sequence
 * of elements (address, length, writable) that ends normally or with a
 * structural fault. First the descriptors are gathered from the ring
 * (2.8.6 lists, 2.8.8 one indirect table); then the elements are checked
 * one by one (readable before writable, inside the memory the device may
 * touch, 4 GiB at most in all).
 */
struct elem {
	uint64_t addr;
	uint32_t len;
	bool write;
};

struct gathered {
	struct elem e[MAX_Q];
	unsigned n;
	enum vq_error fault;  /* VQ_OK: the buffer ends after e[n-1] */
	unsigned ndesc;       /* ring descriptors it takes */
	uint16_t id;
};

static void gather(struct world *w, const struct mq *q, struct mpos at,
		   struct gathered *g)
{
	static uint8_t tab[MAX_Q * 16];

	g->n = 0;
	g->fault = VQ_OK;
	g->ndesc = 0;
	for (;;) {
		if (g->ndesc > 0) {
			/* A list may not be longer than the queue (2.8.17)... */
			if (g->ndesc == q->size) {
				g->fault = VQ_ERR_CHAIN_LEN;
				return;
			}
			/* ...nor reach descriptors of buffers in flight: the
			 * driver may not offer more than the ring holds... */
			if (q->ring_held + g->ndesc + 1 > q->size) {
				g->fault = VQ_ERR_AVAIL_IDX;
				return;
			}
			/* ...and every descriptor of it must be available, not
			 * only the first (2.8.6, 2.8.14: the device uses none
			 * it has not seen made available). */
			if (!m_available(w, q, at)) {
				g->fault = VQ_ERR_NOT_AVAIL;
				return;
			}
		}
		struct pdesc d = m_desc(w, q, at.off);
		g->ndesc++;
		if (d.flags & F_INDIRECT) {
			/* Alone in its buffer: not in a list (2.8.19). */
			if (g->ndesc != 1 || (d.flags & F_NEXT)) {
				g->fault = VQ_ERR_INDIRECT_NEXT;
				return;
			}
			if (!(q->flags & VQ_F_INDIRECT)) {
				g->fault = VQ_ERR_INDIRECT_FEAT;
				return;
			}
			if (d.len == 0 || d.len % 16 || d.len / 16 > q->size) {
				g->fault = VQ_ERR_INDIRECT_LEN;
				return;
			}
			if (!m_range_ok(w, d.addr, d.len, DMA_PROT_READ)) {
				g->fault = VQ_ERR_ADDR;
				return;
			}
			m_read(w, d.addr, tab, d.len);
			for (unsigned i = 0; i < d.len / 16; i++) {
				const uint8_t *t = tab + 16u * i;
				uint16_t f = get16(t + 14);
				/* Only WRITE means something in a table; id and the
				 * other flags are ignored, except that a table in a
				 * table is refused (virtq.h). */
				if (f & F_INDIRECT) {
					g->fault = VQ_ERR_INDIRECT_NESTED;
					return;
				}
				g->e[g->n++] = (struct elem){ get64(t), get32(t + 8),
							       (f & F_WRITE) != 0 };
			}
			g->id = d.id; /* the indirect descriptor is the last */
			return;
		}
		g->e[g->n++] = (struct elem){ d.addr, d.len, (d.flags & F_WRITE) != 0 };
		if (!(d.flags & F_NEXT)) {
			g->id = d.id; /* 2.8.6: the id is in the last one */
			return;
		}
		mp_step(&at, 1, q->size);
	}
}

enum { RW_OK, RW_FULL, RW_BAD };

/* Turn a gathered buffer into segments: returns RW_OK (chain filled),
 * RW_FULL (more segments than `cap`: taken next time) or RW_BAD with *err. */
static int check_elems(struct world *w, const struct gathered *g,
		       struct vq_chain *c, struct vq_seg *seg, unsigned cap,
		       enum vq_error *err)
{
	static struct vq_seg tmp[MAX_Q];
	unsigned ns = 0, nread = 0;
	uint64_t rlen = 0, wlen = 0;
	bool any_write = false;
	enum vq_error e = VQ_OK;

	for (unsigned i = 0; i < g->n && e == VQ_OK; i++) {
		const struct elem *el = &g->e[i];
		uint32_t prot = el->write ? DMA_PROT_WRITE : DMA_PROT_READ;

		if (!el->write && any_write) { /* 2.8.17: readable first */
			e = VQ_ERR_ORDER;
			break;
		}
		any_write |= el->write;
		if (el->len == 0)
			continue; /* nothing to touch */
		if (el->addr + el->len - 1 < el->addr) {
			e = VQ_ERR_LEN_OVERFLOW;
			break;
		}
		if (!m_range_ok(w, el->addr, el->len, prot)) {
			e = VQ_ERR_ADDR;
			break;
		}
		const struct mreg *r = m_one_region(w, el->addr, el->len, prot);
		tmp[ns++] = (struct vq_seg){
			.iova = el->addr,
			.va = r ? r->buf + (el->addr - r->iova) : NULL,
			.len = el->len,
			.write = el->write,
		};
		if (el->write)
			wlen += el->len;
		else {
			rlen += el->len;
			nread++;
		}
		if (rlen + wlen > UINT32_MAX)
			e = VQ_ERR_LEN_OVERFLOW;
	}
	if (e == VQ_OK)
		e = g->fault;
	/* Segments that had to be stored before the buffer ended (or went
	 * wrong) must fit, else the buffer waits for the next burst. */
	if (ns > cap)
		return RW_FULL;
	if (e != VQ_OK) {
		*err = e;
		return RW_BAD;
	}
	memcpy(seg, tmp, ns * sizeof(*seg));
	c->nseg = (uint16_t)ns;
	c->nread = (uint16_t)nread;
	c->rlen = (uint32_t)rlen;
	c->wlen = (uint32_t)wlen;
	c->seg = seg;
	return RW_OK;
}

/* Reference vq_pop_burst. */
static unsigned ref_pop(struct world *w, struct mq *q, struct vq_chain *chains,
			unsigned n, struct vq_seg *segs, unsigned nsegs)
{
	static struct gathered g;
	unsigned got = 0, used = 0;
	enum vq_error err;

	if (!m_begin(w, q) || nsegs < q->size)
		return 0;
	while (got < n && m_available(w, q, q->next_avail)) {
		struct vq_chain *c = &chains[got];

		gather(w, q, q->next_avail, &g);
		int r = check_elems(w, &g, c, segs + used, nsegs - used, &err);
		if (r == RW_FULL)
			break;
		if (r == RW_BAD) {
			m_fail(q, err);
			break;
		}
		/* The driver may not offer more than the ring holds: the
		 * descriptors of buffers in flight are not its to reuse. */
		if (q->ring_held + g.ndesc > q->size) {
			m_fail(q, VQ_ERR_AVAIL_IDX);
			break;
		}
		if (g.id >= q->size) {
			m_fail(q, VQ_ERR_HEAD_RANGE);
			break;
		}
		if (q->busy[g.id]) {
			m_fail(q, VQ_ERR_HEAD_BUSY);
			break;
		}
		c->head = g.id;
		q->busy[g.id] = 1;
		q->ndesc[g.id] = (uint16_t)g.ndesc;
		q->wlen[g.id] = c->wlen;
		q->nth[g.id] = q->n_taken++;
		q->ring_held += g.ndesc;
		q->n_inflight++;
		mp_step(&q->next_avail, g.ndesc, q->size);
		used += c->nseg;
		got++;
	}
	return got;
}

/* The library's queue agrees with the model. */
static void check_queue(const struct vq *vq, const struct mq *q)
{
	if (vq_broken(vq) != q->broken || (q->broken && vq->error != q->err))
		fprintf(stderr, "fuzz_packed: broken %d (%s), model %d (%s)\n",
			vq_broken(vq), vq_error_str(vq->error), q->broken,
			vq_error_str(q->err));
	CHECK(vq_broken(vq) == q->broken);
	if (q->broken)
		CHECK(vq->error == q->err);
	CHECK(vq->last_avail == mp_number(q->next_avail, q->size));
	CHECK(vq->used_idx == mp_number(q->next_used, q->size));
	CHECK(vq->n_inflight == q->n_inflight);
}

/* Chain data (m_chain_copy, check_chain, chain_io, held_io) and the held
 * chains (g_held, pop_check_hold): fuzz_hostmem.h. */

/* ---- pops ------------------------------------------------------------- */
static struct vq_chain g_chains[MAX_Q], g_ref_chains[MAX_Q];
static struct vq_seg g_segs[MAX_SEGS], g_ref_segs[MAX_SEGS];

static unsigned do_pop(struct world *w, struct vq *vq, struct mq *q,
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
		fprintf(stderr, "fuzz_packed: pop burst %u: %u, model %u%s%s\n",
			burst, got, ref, q->broken ? ", broken: " : "",
			q->broken ? vq_error_str(q->err) : "");
	CHECK(got <= burst);
	if (was_broken)
		CHECK(got == 0); /* pops stop once the queue is broken */
	CHECK(got == ref);
	check_queue(vq, q);
	check_memory(w); /* a pop writes nothing */
	pop_check_hold(w, vq, q->size, g_chains, g_ref_chains, g_segs, got, nsegs);
	check_dirty(w);
	return got;
}

/* ---- completions ------------------------------------------------------ */

/* The device marks a buffer used: one descriptor at `at` with the id, the
 * bytes written, WRITE when there are any, and AVAIL = USED = the wrap
 * counter (2.8.1, 2.8.4). The address is left alone. */
static void m_put_used(struct world *w, const struct mq *q, struct mpos at,
		       uint16_t id, uint32_t len)
{
	uint8_t b[8];

	put32(b, len);
	put16(b + 4, id);
	put16(b + 6, (uint16_t)((at.wrap ? F_AVAIL | F_USED : 0) | (len ? F_WRITE : 0)));
	m_write(w, q->desc + 16u * at.off + 8, b, 8);
}

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
		/* A batch reports its skipped buffers as fully written. */
		done[n].len = batch ? h->c.wlen : h->written;
	}
	if (bad) {
		if (n == 0)
			done[n++] = (struct vq_done){ 0, 0 };
		if (rnd() & 1)
			done[rnd() % n].id = rnd() % (q->size + 2u);
		else /* more than the buffer holds, or a short batch */
			done[rnd() % n].len += (rnd() & 1) ? 1 : -1u;
	}

	/* What must happen. */
	int want;
	if (!m_begin(w, q)) {
		want = -EIO;
	} else if (n == 0) {
		want = 0;
	} else if (n > q->n_inflight || (batch && !(q->flags & VQ_F_IN_ORDER))) {
		want = -EINVAL;
	} else {
		bool seen[MAX_Q + 2] = { false };
		want = 0;
		for (unsigned i = 0; i < n && !want; i++) {
			uint32_t id = done[i].id;
			if (id >= q->size || !q->busy[id] || seen[id] ||
			    done[i].len > q->wlen[id] ||
			    (batch && i + 1 < n && done[i].len != q->wlen[id]))
				want = -EINVAL;
			else if ((q->flags & VQ_F_IN_ORDER) &&
				 q->nth[id] != q->n_given + i)
				want = -EINVAL;
			else
				seen[id] = true;
		}
	}
	int rc = vq_push_burst(vq, done, n, batch);
	if (g_verbose)
		fprintf(stderr, "fuzz_packed: push %u (batch %d, out of order %d, "
			"bad %d): %d, model %d\n", n, batch, ooo, bad, rc, want);
	CHECK(rc == want);
	if (rc == 0 && n) {
		unsigned moved = 0;
		if (batch) {
			/* 2.8.9: one used descriptor where the batch's first
			 * buffer started, naming its last; skip them all. */
			m_put_used(w, q, q->next_used, (uint16_t)done[n - 1].id,
				   done[n - 1].len);
			for (unsigned i = 0; i < n; i++)
				moved += q->ndesc[done[i].id];
			mp_step(&q->next_used, moved, q->size);
		} else {
			/* 2.8.6: one used descriptor per buffer, then skip the
			 * descriptors that buffer took. */
			for (unsigned i = 0; i < n; i++) {
				m_put_used(w, q, q->next_used, (uint16_t)done[i].id,
					   done[i].len);
				mp_step(&q->next_used, q->ndesc[done[i].id], q->size);
				moved += q->ndesc[done[i].id];
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
		q->n_given += n;
		q->ring_held -= moved;
		q->moved += moved;
	}
	check_queue(vq, q);
	check_memory(w);
	check_dirty(w);
}

/* ---- the short ways (vq_fill_burst, vq_take_burst) -------------------- */
static struct fill_in g_fill;
static struct fill_ref g_fill_ref;
static struct vq_buf g_bufs[FILL_MAX];

/*
 * Reference vq_fill_burst and vq_take_burst (virtq.h) on a packed ring:
 * only while nothing is in flight (no buffer taken and not completed, so
 * no ring descriptor held and the used position where the next available
 * one is; the harness attaches no in-flight recording, so nothing waits
 * to be resubmitted) and the queue can begin; then, for i in [0, n), at
 * most 64, the buffer at the next available position, if the driver made
 * one available there (2.8.1) and it is one direct descriptor (no NEXT,
 * no INDIRECT; WRITE for a fill, not for a take; the other flag bits are
 * the wrap bits or ignored) with an id below the queue size, that fits
 * (fill_fits: a fill's of at least hdr_len + len[i] bytes, all writable,
 * a take's of 1..max bytes, all readable, in one region). The first that
 * is not so ends it. Fills *m and at[] (the positions).
 */
static void ref_fill(struct world *w, struct mq *q, const struct fill_in *f,
		     struct fill_ref *m, struct mpos *at)
{
	struct mpos p = q->next_avail;
	unsigned lim = f->n < FILL_LIMIT ? f->n : FILL_LIMIT, i = 0;

	m->n = 0;
	m->rest = -1;
	if (!m_begin(w, q))
		return;
	if (q->n_inflight || f->n == 0 || q->ring_held ||
	    !mp_eq(q->next_used, q->next_avail))
		lim = 0;
	if (lim > q->size)
		lim = q->size; /* back at the start, the wrap counter differs */
	for (; i < lim && m_available(w, q, p); i++) {
		struct pdesc d = m_desc(w, q, p.off);
		if ((d.flags & (F_NEXT | F_INDIRECT | F_WRITE)) != (f->take ? 0 : F_WRITE) ||
		    d.id >= q->size)
			break;
		if (fill_dup(m, i, d.id)) {
			m_fail(q, VQ_ERR_HEAD_BUSY); /* as a pop: nothing found */
			return;
		}
		if (!fill_fits(w, f, i, d.addr, d.len))
			break;
		at[i] = p;
		m->addr[i] = d.addr;
		m->len[i] = d.len;
		m->id[i] = d.id;
		mp_step(&p, 1, q->size);
	}
	m->n = i;
	m->rest = m_available(w, q, p) ? 1 : i < lim ? 0 : -1;
}

/* A fill, or a take (read, then given back). */
static void do_fill(struct world *w, struct vq *vq, struct mq *q, bool take)
{
	const struct fill_ref *m = &g_fill_ref;
	struct mpos at[FILL_MAX];
	uint64_t popped = vq->n_popped, pushed = vq->n_pushed;
	uint16_t pk_popped = vq->pk_popped, pk_done = vq->pk_done;

	/* The pages dirtied so far reported first: the call's own marks
	 * are then checked on their own below. */
	check_dirty(w);
	fill_gen(&g_fill, take);
	ref_fill(w, q, &g_fill, &g_fill_ref, at);
	unsigned got = fill_run(w, vq, &g_fill, g_bufs, m, g_verbose);

	for (unsigned i = 0; i < got && take; i++)
		CHECK(g_bufs[i].pos == at[i].off);
	if (got) {
		/* The copies (a fill's), in order; then each buffer's used
		 * descriptor where it was offered, as a push of a
		 * one-descriptor buffer writes it (m_put_used: the length
		 * written, 0 on a take; AVAIL = USED = the wrap counter,
		 * WRITE when bytes were written), the id the driver's
		 * written again (a buffer may lie over its own descriptor),
		 * the address untouched. */
		for (unsigned i = 0; i < got; i++)
			m_fill_write(w, &g_fill, i, m->addr[i]);
		for (unsigned i = 0; i < got; i++)
			m_put_used(w, q, at[i], m->id[i], fill_used_len(&g_fill, i));
		/* Taken and given back at once: in order, they were next. */
		mp_step(&q->next_avail, got, q->size);
		mp_step(&q->next_used, got, q->size);
		q->n_taken += got;
		q->n_given += got;
		q->moved += got;
	}
	CHECK(vq->n_popped == popped + got && vq->n_pushed == pushed + got);
	CHECK(vq->pk_popped == (uint16_t)(pk_popped + got) &&
	      vq->pk_done == (uint16_t)(pk_done + got));
	check_queue(vq, q);
	check_memory(w);
	check_dirty(w);
}

/* Used buffer notifications (2.8.10, 2.8.21). The driver area says
 * enable, disable, or (with EVENT_IDX) "when the descriptor at this
 * offset and wrap counter is used". */
static void do_notify(struct world *w, struct vq *vq, struct mq *q)
{
	bool want = false, sure = true;

	if (m_begin(w, q) && (q->moved || q->undecided)) {
		uint8_t ev[4];
		m_read(w, q->drv_area, ev, 4);
		uint16_t ow = get16(ev), f = get16(ev + 2) & 3;
		if (f == EV_DISABLE) {
			want = false;
		} else if (f != EV_DESC || !(q->flags & VQ_F_EVENT_IDX)) {
			want = true; /* enable, and what is not valid */
		} else if (q->undecided || q->moved >= 2u * q->size) {
			want = true; /* cannot tell what was passed */
		} else {
			struct mpos e = { (uint16_t)(ow & 0x7fff), (uint8_t)(ow >> 15) };
			struct mpos p = q->sig;
			/* Did the used position pass the event descriptor? */
			for (uint32_t i = 0; i < q->moved && !want; i++) {
				want = mp_eq(p, e);
				mp_step(&p, 1, q->size);
			}
			/* An offset beyond the ring names no descriptor: the
			 * spec leaves it open, either answer is fine. */
			sure = e.off < q->size;
		}
		q->sig = q->next_used;
		q->moved = 0;
		q->undecided = false;
	}
	bool got = vq_should_notify(vq);
	if (g_verbose)
		fprintf(stderr, "fuzz_packed: notify %d, model %d%s\n", got, want,
			sure ? "" : " (either)");
	if (sure)
		CHECK(got == want);
	/* Asked again with nothing new: no interrupt. */
	CHECK(!vq_should_notify(vq));
	check_queue(vq, q);
}

/* Available buffer notifications: the device area (2.8.10). */
static void do_kicks(struct world *w, struct vq *vq, struct mq *q, bool enable)
{
	if (!enable) {
		if (m_begin(w, q))
			m_write16(w, q->dev_area + 2, EV_DISABLE);
		vq_notify_disable(vq);
	} else {
		bool want = false;
		if (m_begin(w, q)) {
			if (q->flags & VQ_F_EVENT_IDX) {
				/* Kick me when the next buffer is offered. */
				m_write16(w, q->dev_area, (uint16_t)(q->next_avail.off |
						      q->next_avail.wrap << 15));
				m_write16(w, q->dev_area + 2, EV_DESC);
			} else {
				m_write16(w, q->dev_area + 2, EV_ENABLE);
			}
			want = m_available(w, q, q->next_avail);
		}
		CHECK(vq_notify_enable(vq) == want);
	}
	check_queue(vq, q);
	check_memory(w);
	check_dirty(w);
}

static void do_avail_count(struct world *w, struct vq *vq, struct mq *q)
{
	unsigned want = 0;

	/* Buffers made available from next_avail on: each starts with an
	 * available descriptor and goes on while NEXT says so; only the ring
	 * descriptors not held by buffers in flight can hold them (virtq.h:
	 * bounded by the free slots). */
	if (m_begin(w, q)) {
		struct mpos p = q->next_avail;
		unsigned left = q->size - q->ring_held;
		while (left && m_available(w, q, p)) {
			want++;
			uint16_t f;
			do {
				f = m_desc(w, q, p.off).flags;
				mp_step(&p, 1, q->size);
				left--;
			} while (left && (f & F_NEXT) && !(f & F_INDIRECT));
		}
	}
	unsigned got = vq_avail_count(vq);
	if (got != want)
		fprintf(stderr, "fuzz_packed: vq_avail_count %u, model %u\n", got, want);
	CHECK(got == want);
	check_queue(vq, q);
}

/* ---- the driver ----------------------------------------------------------- */

/* One wrong thing the driver may do in a round (script drv bits 4-7). */
enum mischief {
	MIS_NONE,
	MIS_ID_RANGE,      /* a buffer id beyond the queue */
	MIS_ID_BUSY,       /* an id it already has outstanding */
	MIS_RUNAWAY,       /* NEXT on the list's last descriptor too */
	MIS_INDIRECT_LIST, /* an indirect descriptor inside a list */
	MIS_TABLE_LEN,     /* an indirect table of a bad length */
	MIS_NESTED,        /* a table entry with INDIRECT */
	MIS_BAD_ADDR,      /* a piece outside the memory, or wrapping */
	MIS_ORDER,         /* writable piece before a readable one */
	MIS_OVERFILL,      /* more descriptors than the ring has free */
	MIS_AVAIL_BITS,    /* the first descriptor's AVAIL/USED bits wrong */
	MIS_INDIRECT_FEAT, /* an indirect table without the feature */
	MIS_HUGE,          /* pieces of 64 MiB (past 4 GiB in all) */
	MIS_NO_ZERO,       /* at its next reset, leaves the ring as it was */
	MIS_OVER_RING,     /* a writable piece over the descriptor ring */
	MIS_SCRIBBLE,      /* random bytes in a ring descriptor */
};

struct drv {
	struct mpos avail;   /* next descriptor it makes available */
	struct mpos used;    /* next descriptor it looks at for a used one */
	bool clean;          /* nothing hostile so far: the driver checks hold */
	bool lost;           /* gave up reading used descriptors */
	bool keep_ring;      /* MIS_NO_ZERO */
	bool indirect;       /* header: uses indirect tables */
	bool events;         /* header: keeps changing the driver area */
	unsigned max_pieces;
	bool out[MAX_Q];     /* id outstanding */
	uint16_t nd[MAX_Q];  /* ring descriptors its buffer took */
	unsigned ring_out;   /* ring descriptors outstanding */
	unsigned n_out;
	uint16_t order[MAX_Q]; /* ids in the order offered (in order) */
	unsigned ord_head, ord_n;
	uint64_t offered, reaped;
};

static struct drv g_drv;

static void drv_reset(struct world *w, struct drv *d, const struct mq *q,
		      bool zero_ring)
{
	if (zero_ring) { /* 2.8.15: the ring starts zeroed */
		static const uint8_t z[16];
		for (unsigned i = 0; i < q->size; i++)
			host_write(w, q->desc + 16u * i, z, 16);
	}
	d->avail = d->used = mp_start();
	memset(d->out, 0, sizeof(d->out));
	d->ring_out = d->n_out = 0;
	d->ord_head = d->ord_n = 0;
	d->lost = false;
}

/* A ring the input laid out: the driver takes the buffers it finds made
 * available from offset 0 on as its own, so it goes on after them. */
static void drv_adopt(struct world *w, struct drv *d, const struct mq *q)
{
	struct mpos p = d->avail;
	unsigned seen = 0;

	while (seen < q->size) {
		uint8_t b[16];
		unsigned nd = 0;
		uint16_t f, id = 0;
		do {
			if (seen + nd == q->size ||
			    !host_read(w, q->desc + 16u * p.off, b, 16))
				return;
			f = get16(b + 14);
			if (!!(f & F_AVAIL) != p.wrap || !!(f & F_USED) == p.wrap)
				return;
			id = get16(b + 12);
			nd++;
			mp_step(&p, 1, q->size);
		} while ((f & F_NEXT) && !(f & F_INDIRECT));
		if (id >= q->size || d->out[id])
			return;
		d->out[id] = true;
		d->nd[id] = (uint16_t)nd;
		d->n_out++;
		d->order[(d->ord_head + d->ord_n++) % MAX_Q] = id;
		d->ring_out += nd;
		d->avail = p;
		seen += nd;
	}
}

/* Reap used descriptors the way a driver does: look at its used position
 * only; a used descriptor names a buffer id, then skip that buffer's
 * descriptors (in order: every buffer up to that id). */
static void drv_reap(struct world *w, struct drv *d, const struct mq *q)
{
	for (unsigned iter = 0; iter < MAX_Q && d->n_out && !d->lost; iter++) {
		uint8_t b[16];
		if (!host_read(w, q->desc + 16u * d->used.off, b, 16))
			return;
		uint16_t f = get16(b + 14), id = get16(b + 12);
		bool av = f & F_AVAIL, us = f & F_USED;
		if (av != d->used.wrap || us != d->used.wrap)
			return; /* not used yet */
		unsigned k = 0, nd = 0;
		if (q->flags & VQ_F_IN_ORDER) {
			for (k = 0; k < d->ord_n; k++)
				if (d->order[(d->ord_head + k) % MAX_Q] == id)
					break;
			if (k == d->ord_n)
				goto bad;
			k++;
		} else {
			if (id >= q->size || !d->out[id])
				goto bad;
		}
		if (q->flags & VQ_F_IN_ORDER) {
			for (unsigned i = 0; i < k; i++) {
				uint16_t x = d->order[d->ord_head];
				d->ord_head = (d->ord_head + 1) % MAX_Q;
				d->ord_n--;
				nd += d->nd[x];
				d->out[x] = false;
				d->n_out--;
				d->reaped++;
			}
		} else {
			nd = d->nd[id];
			d->out[id] = false;
			d->n_out--;
			d->reaped++;
		}
		d->ring_out -= nd;
		mp_step(&d->used, nd, q->size);
	}
	return;
bad:
	if (d->clean)
		fprintf(stderr, "fuzz_packed: driver finds a used descriptor at "
			"offset %u naming a buffer it does not have out\n",
			d->used.off);
	CHECK(!d->clean);
	d->lost = true;
}

/* Somewhere for a piece of len bytes the device may access with prot:
 * inside one region with that permission, never over the ring's parts.
 * False when nothing was found quickly. */
static bool drv_place(struct world *w, const struct mq *q, uint64_t len,
		      uint32_t prot, unsigned align, uint64_t *iova)
{
	for (unsigned attempt = 0; attempt < 8; attempt++) {
		unsigned ri = rnd() % 8 == 0 ? REG_EXTRA : rnd() % w->nreg;
		const struct mreg *r = &w->reg[ri];
		if (!r->present || !r->mapped || (r->prot & prot) != prot || len > r->len)
			continue;
		uint64_t at = r->iova + (rnd() % (r->len - len + 1));
		at &= ~(uint64_t)(align - 1);
		if (at < r->iova)
			continue;
		bool clash = false;
		const uint64_t parts[3][2] = {
			{ q->desc, 16u * q->size }, { q->drv_area, 4 }, { q->dev_area, 4 },
		};
		for (unsigned i = 0; i < 3; i++)
			if (at < parts[i][0] + parts[i][1] && parts[i][0] < at + len)
				clash = true;
		if (clash)
			continue;
		*iova = at;
		return true;
	}
	return false;
}

static void put_pdesc(uint8_t *b, uint64_t addr, uint32_t len, uint16_t id,
		      uint16_t flags)
{
	put64(b, addr);
	put32(b + 8, len);
	put16(b + 12, id);
	put16(b + 14, flags);
}

/* The AVAIL/USED bits that make position p available (2.8.1). */
static uint16_t avail_bits(struct mpos p)
{
	return p.wrap ? F_AVAIL : F_USED;
}

static uint64_t bad_addr(struct world *w)
{
	const struct mreg *last = &w->reg[w->nreg - 1];

	switch (rnd() % 6) {
	case 0: return last->iova + last->len + rnd() % 64;      /* past the end */
	case 1: return BASE_IOVA - 1 - rnd() % 64;              /* before it */
	case 2: return UINT64_MAX - rnd() % 64;                 /* wraps */
	case 3: return EXTRA_IOVA + rnd() % (EXTRA_LEN + 64);   /* maybe unmapped */
	case 4: return ZERO_IOVA + rnd() % 4096;                /* read-only */
	default: return w->reg[REG_A].iova + w->reg[REG_A].len - rnd() % 32; /* across */
	}
}

/*
 * Offer one buffer: pieces (readable first), as a list in the ring or as
 * one indirect descriptor. `mis` is the wrong thing to do with it.
 * Returns false when the driver has no room (ring or ids) for it.
 */
static bool drv_offer_one(struct world *w, struct drv *d, const struct mq *q,
			  enum mischief mis)
{
	struct elem pc[MAX_Q];
	uint8_t b[16];
	unsigned np = 1 + rnd() % d->max_pieces, nr = rnd() % (np + 1);
	bool ind = ((q->flags & VQ_F_INDIRECT) && d->indirect && (rnd() & 1)) ||
		   mis == MIS_TABLE_LEN || mis == MIS_NESTED ||
		   mis == MIS_INDIRECT_FEAT;

	if (mis == MIS_HUGE && w->reg[REG_ZERO].present) {
		np = q->size < 65 ? q->size : 65;
		ind = (q->flags & VQ_F_INDIRECT) || np > q->size - d->ring_out;
	}
	if (mis == MIS_ORDER && np < 2)
		np = 2;
	if (mis == MIS_INDIRECT_LIST)
		ind = false;
	if (!ind && np > q->size)
		np = q->size;
	unsigned need = ind ? 1 : np;

	/* The id: the lowest free one, from a random start. */
	uint16_t id = 0;
	bool have = false;
	for (unsigned i = 0, s = rnd() % q->size; i < q->size && !have; i++) {
		id = (uint16_t)((s + i) % q->size);
		have = !d->out[id];
	}
	if (mis != MIS_OVERFILL && (!have || d->ring_out + need > q->size))
		return false;
	if (mis == MIS_ID_RANGE)
		id = (uint16_t)(q->size + rnd() % 64);
	if (mis == MIS_ID_BUSY || (!have && mis == MIS_OVERFILL)) {
		for (unsigned i = 0, s = rnd() % q->size; i < q->size; i++)
			if (d->out[(s + i) % q->size]) {
				id = (uint16_t)((s + i) % q->size);
				break;
			}
	}

	/* The pieces. */
	for (unsigned i = 0; i < np; i++) {
		bool wr = i >= nr;
		uint32_t len = (rnd() & 7) == 0 ? rnd() % 2049 : 1 + rnd() % 64;
		if ((rnd() & 31) == 0)
			len = 0;
		uint64_t at = 0;
		if (!drv_place(w, q, len ? len : 1, wr ? DMA_PROT_WRITE : DMA_PROT_READ,
			       1, &at) &&
		    !drv_place(w, q, len = 1 + rnd() % 16,
			       wr ? DMA_PROT_WRITE : DMA_PROT_READ, 1, &at))
			return false;
		pc[i] = (struct elem){ at, len, wr };
	}
	unsigned victim = rnd() % np;
	switch (mis) {
	case MIS_BAD_ADDR:
		pc[victim].addr = bad_addr(w);
		if (pc[victim].len == 0)
			pc[victim].len = 1 + rnd() % 64;
		break;
	case MIS_ORDER:
		pc[0].write = true;
		if (np > 1)
			pc[1 + rnd() % (np - 1)].write = false;
		break;
	case MIS_HUGE:
		for (unsigned i = 0; i < np; i++)
			pc[i] = (struct elem){ ZERO_IOVA, (uint32_t)ZERO_LEN, false };
		if (!w->reg[REG_ZERO].present) /* addr + len wraps */
			pc[victim] = (struct elem){ UINT64_MAX - rnd() % 4096,
						    4097 + rnd() % 4096, false };
		break;
	case MIS_OVER_RING:
		pc[victim] = (struct elem){ q->desc + 16u * (rnd() % q->size),
					    16 + rnd() % 64, true };
		for (unsigned i = victim + 1; i < np; i++)
			pc[i].write = true;
		break;
	default:
		break;
	}

	/* Into the ring: the first descriptor's flags go in last. */
	struct mpos at = d->avail;
	uint16_t first_flags = 0;
	if (ind) {
		uint32_t tlen = 16u * np;
		uint64_t tab;
		unsigned align = (rnd() & 7) ? 16 : 8;
		if (!drv_place(w, q, tlen, DMA_PROT_READ, align, &tab))
			return false;
		for (unsigned i = 0; i < np; i++) {
			/* Only WRITE counts in a table; the id and the other
			 * flags are the driver's to leave as they are. */
			uint16_t junk = (rnd() & 3) ? 0 : (uint16_t)(rnd() & ~F_INDIRECT & ~F_WRITE);
			uint16_t f = (pc[i].write ? F_WRITE : 0) | junk;
			if (mis == MIS_NESTED && i == victim)
				f |= F_INDIRECT;
			put_pdesc(b, pc[i].addr, pc[i].len, (uint16_t)rnd(), f);
			host_write(w, tab + 16u * i, b, 16);
		}
		if (mis == MIS_TABLE_LEN) {
			switch (rnd() % 4) {
			case 0: tlen = 0; break;
			case 1: tlen -= 1 + rnd() % 15; break;
			case 2: tlen = 16u * q->size + 16u * (1 + rnd() % 4); break;
			default: tlen += 8; break;
			}
		}
		/* WRITE means nothing on an indirect descriptor (2.8.8). */
		first_flags = F_INDIRECT | (rnd() & 1 ? F_WRITE : 0) | avail_bits(at);
		if (mis == MIS_RUNAWAY)
			first_flags |= F_NEXT;
		put_pdesc(b, tab, tlen, id, 0);
		host_write(w, q->desc + 16u * at.off, b, 14);
	} else {
		struct mpos p = at;
		unsigned bad_ind = rnd() % np;
		for (unsigned i = 0; i < np; i++) {
			uint16_t f = (pc[i].write ? F_WRITE : 0) | avail_bits(p);
			if (i + 1 < np || mis == MIS_RUNAWAY)
				f |= F_NEXT;
			if (mis == MIS_INDIRECT_LIST && i == bad_ind)
				f |= F_INDIRECT | (np == 1 ? F_NEXT : 0);
			/* The id counts only in the last descriptor (2.8.6). */
			put_pdesc(b, pc[i].addr, pc[i].len,
				  i + 1 < np ? (uint16_t)rnd() : id, f);
			if (i == 0) {
				first_flags = f;
				host_write(w, q->desc + 16u * p.off, b, 14);
			} else {
				host_write(w, q->desc + 16u * p.off, b, 16);
			}
			mp_step(&p, 1, q->size);
		}
	}
	if (mis == MIS_AVAIL_BITS)
		first_flags ^= (rnd() & 1) ? F_AVAIL : F_AVAIL | F_USED;
	put16(b, first_flags);
	host_write(w, q->desc + 16u * at.off + 14, b, 2);
	if (mis == MIS_AVAIL_BITS)
		return true; /* not offered: the driver forgets it */

	if (id < q->size && !d->out[id]) {
		d->out[id] = true;
		d->n_out++;
		d->nd[id] = (uint16_t)need;
		if (d->ord_n < MAX_Q) {
			d->order[(d->ord_head + d->ord_n) % MAX_Q] = id;
			d->ord_n++;
		}
	}
	d->ring_out += need;
	mp_step(&d->avail, need, q->size);
	d->offered++;
	return true;
}

static void drv_round(struct world *w, struct drv *d, const struct mq *q,
		      uint8_t cmd)
{
	unsigned n = cmd & 15;
	enum mischief mis = (enum mischief)(cmd >> 4);

	if (!q->enabled || q->size > MAX_Q)
		return;
	if (mis != MIS_NONE)
		d->clean = false;
	if (mis == MIS_NO_ZERO)
		d->keep_ring = true;
	if (mis == MIS_SCRIBBLE) {
		uint8_t b[16];
		for (unsigned i = 0; i < 16; i++)
			b[i] = (uint8_t)rnd();
		struct mpos p = d->avail;
		mp_step(&p, rnd() % q->size, q->size);
		uint16_t f = get16(b + 14);
		if (rnd() & 1) /* often available, to be walked */
			f = (uint16_t)((f & ~(F_AVAIL | F_USED)) | avail_bits(p));
		put16(b + 14, f);
		host_write(w, q->desc + 16u * p.off, b, 16);
	}
	drv_reap(w, d, q);
	if (d->events && (rnd() & 1)) {
		/* Interrupts: enable, disable, or at a descriptor near where
		 * the driver will look next. */
		uint8_t b[4];
		struct mpos p = d->used;
		mp_step(&p, rnd() % 4, q->size);
		uint16_t ow = (uint16_t)(p.off | p.wrap << 15);
		if ((rnd() & 7) == 0)
			ow = (uint16_t)rnd();
		put16(b, ow);
		put16(b + 2, (uint16_t)((rnd() & 15) == 0 ? rnd() : rnd() % 3));
		host_write(w, q->drv_area, b, 4);
	}
	for (unsigned i = 0; i < n; i++)
		if (!drv_offer_one(w, d, q, i == 0 && mis != MIS_NO_ZERO &&
					    mis != MIS_SCRIBBLE ? mis : MIS_NONE))
			break;
}

/* ---- migration and reset ------------------------------------------------ */

/* vq_save (refused while buffers are in flight: their descriptors may
 * already be overwritten by used ones), check the state against the model,
 * optionally damage it, and vq_load it into a fresh queue. Returns true
 * when the fresh queue took over (then *q describes it). */
static bool do_migrate(struct world *w, struct vq *from, struct vq *to,
		       struct mq *q, bool mutate)
{
	struct vq_state *st = calloc(1, vq_state_bytes(MAX_Q));

	CHECK(st != NULL);
	int rc = vq_save(from, st);
	if (q->n_inflight) {
		CHECK(rc == -EBUSY);
		free(st);
		return false;
	}
	CHECK(rc == 0);
	CHECK(st->size == q->size && st->flags == q->flags);
	CHECK(st->last_avail_idx == mp_number(q->next_avail, q->size));
	CHECK(st->last_used_idx == mp_number(q->next_used, q->size));
	CHECK(st->desc_addr == q->desc && st->avail_addr == q->drv_area &&
	      st->used_addr == q->dev_area);
	CHECK(st->enabled == q->enabled);
	CHECK(st->n_inflight == 0);

	if (mutate) {
		uint32_t r = rnd();
		switch (r % 9) {
		case 0: st->last_avail_idx ^= (uint16_t)(r >> 8); break;
		case 1: st->last_used_idx ^= (uint16_t)(r >> 8); break;
		case 2: /* both, consistently, anywhere (maybe past 2 * size) */
			st->last_avail_idx = st->last_used_idx = (uint16_t)(r >> 8) % 600;
			break;
		case 3: st->n_inflight = (uint16_t)(1 + (r >> 8) % 4);
			st->inflight[0] = (uint16_t)(r >> 16) % 8;
			break;
		case 4: st->size = (uint16_t)(1 + (r >> 8) % MAX_Q); break;
		case 5: st->flags ^= (r >> 8) & 0x1f; break;
		case 6: st->flags &= ~VQ_F_PACKED; break; /* now a split queue */
		case 7: st->enabled ^= (r >> 8) & 3; break;
		default: st->avail_addr ^= (r >> 8) & 3; break;
		}
	}

	bool packed = st->flags & VQ_F_PACKED;
	bool size_ok = st->size && st->size <= VQ_MAX_SIZE &&
		       (packed || (st->size & (st->size - 1)) == 0);
	bool ok = size_ok && st->n_inflight <= st->size && st->enabled <= 1 &&
		  !(st->flags & ~(VQ_F_EVENT_IDX | VQ_F_INDIRECT | VQ_F_IN_ORDER |
				  VQ_F_PACKED)) &&
		  !(st->desc_addr & 15) && !(st->avail_addr & (packed ? 3 : 1)) &&
		  !(st->used_addr & 3);
	if (packed)
		ok = ok && st->n_inflight == 0 &&
		     st->last_avail_idx == st->last_used_idx &&
		     st->last_avail_idx < 2u * st->size;
	else
		ok = ok && (uint16_t)(st->last_avail_idx - st->last_used_idx) ==
			   st->n_inflight;
	for (unsigned i = 0; ok && i < st->n_inflight; i++) {
		if (st->inflight[i] >= st->size)
			ok = false;
		for (unsigned j = 0; ok && j < i; j++)
			if (st->inflight[j] == st->inflight[i])
				ok = false;
	}
	memset(to, 0, sizeof(*to));
	rc = vq_load(to, w->dma, st, "fuzz-dst");
	if ((rc == 0) != ok)
		fprintf(stderr, "fuzz_packed: vq_load %d, model %d: size %u flags "
			"%#x avail %u used %u n_inflight %u\n", rc, ok, st->size,
			st->flags, st->last_avail_idx, st->last_used_idx,
			st->n_inflight);
	CHECK((rc == 0) == ok);
	if (!mutate)
		CHECK(rc == 0); /* a saved state always loads */
	if (rc) {
		static const struct vq zero;
		CHECK(memcmp(to, &zero, sizeof(zero)) == 0); /* untouched */
		free(st);
		return false;
	}
	if (!packed) {
		/* A split queue now: not this harness's business. */
		vq_teardown(to);
		free(st);
		return false;
	}

	held_drop_all();
	memset(q, 0, sizeof(*q));
	q->size = st->size;
	q->flags = st->flags;
	q->enabled = st->enabled;
	q->desc = st->desc_addr;
	q->drv_area = st->avail_addr;
	q->dev_area = st->used_addr;
	q->next_avail = mp_from_number(st->last_avail_idx, q->size);
	q->next_used = mp_from_number(st->last_used_idx, q->size);
	q->sig = q->next_used;
	q->undecided = true; /* the source may owe the driver an interrupt */
	free(st);
	return true;
}

static void do_reset(struct world *w, struct vq *vq, struct mq *q, struct drv *d)
{
	vq_reset(vq);
	held_drop_all();
	memset(q->busy, 0, sizeof(q->busy));
	q->n_inflight = q->ring_held = 0;
	q->n_taken = q->n_given = 0;
	q->next_avail = q->next_used = q->sig = mp_start();
	q->moved = 0;
	q->undecided = false;
	q->broken = false;
	q->err = VQ_OK;
	check_queue(vq, q);
	/* The driver starts over with a zeroed ring. */
	drv_reset(w, d, q, !d->keep_ring);
	d->keep_ring = false;
}

/* ---- the run ------------------------------------------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	g_verbose = getenv("FUZZ_PACKED_VERBOSE") != NULL;
	if (!g_verbose)
		hal_log_set_sink(discard_log);
	return 0;
}

static struct vq g_vq[2];
static struct mq g_mq;
static struct world g_w;

/* The host's DMA requests are hostile too; every one is refused and the
 * table does not change. */
static void dma_hostile(struct world *w)
{
	const struct mreg *a = &w->reg[REG_A];
	uint64_t gen = dma_space_table(w->dma)->gen;
	uint64_t at = a->iova + rnd() % a->len, len = 1 + rnd() % 8192;

	CHECK(dma_map(w->dma, at, len, a->buf + (at & 15), DMA_PROT_READ) == -EEXIST);
	CHECK(dma_map(w->dma, 0x80000, 16, a->buf + 1 + (rnd() % 15),
		      DMA_PROT_READ) == -EINVAL);
	CHECK(dma_map(w->dma, UINT64_MAX - 15, 32, a->buf, DMA_PROT_READ) == -EINVAL);
	CHECK(dma_unmap(w->dma, a->iova, a->len + 1) == -ENOENT);
	CHECK(dma_unmap(w->dma, 0x80000, 16) == -ENOENT);
	CHECK(dma_space_table(w->dma)->gen == gen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world *w = &g_w;
	struct mq *q = &g_mq;
	struct drv *d = &g_drv;
	int cur = 0;

	if (size < HDR_LEN)
		return 0;
	const uint8_t *h = data;
	size_t script_len = h[21];
	if (size < HDR_LEN + script_len)
		return 0;
	const uint8_t *script = data + HDR_LEN;
	const uint8_t *memsrc = script + script_len;
	size_t memsrc_len = size - HDR_LEN - script_len;

	uint16_t qsize = (uint16_t)(1u + h[0]);
	uint32_t flags = (h[1] & (VQ_F_EVENT_IDX | VQ_F_INDIRECT | VQ_F_IN_ORDER)) |
			 VQ_F_PACKED;
	bool log_early = h[1] & 0x08, log_before_map = h[1] & 0x10;
	bool mutate = h[1] & 0x20, zero_region = h[1] & 0x40;
	bool reset_not_migrate = h[1] & 0x80;
	unsigned burst = h[2] ? h[2] : qsize;
	uint64_t desc = BASE_IOVA + get16(h + 9);
	uint64_t drv_area = BASE_IOVA + get16(h + 11);
	uint64_t dev_area = BASE_IOVA + get16(h + 13);
	unsigned extra_segs = h[15];
	rng_state = get32(h + 16);

	/* Host memory. */
	world_setup(w, h, memsrc, memsrc_len, zero_region);
	world_map(w, log_early, log_before_map);

	/* The queue. */
	memset(g_vq, 0, sizeof(g_vq));
	memset(q, 0, sizeof(*q));
	q->size = qsize;
	q->flags = flags;
	q->enabled = true;
	q->desc = desc;
	q->drv_area = drv_area;
	q->dev_area = dev_area;
	q->next_avail = q->next_used = q->sig = mp_start();
	int rc = vq_setup(&g_vq[cur], w->dma, qsize, desc, drv_area, dev_area,
			  flags, "fuzz");
	/* 2.8.10.1: descriptor ring 16-aligned, the two areas 4-aligned. */
	bool setup_ok = !(desc & 15) && !(drv_area & 3) && !(dev_area & 3);
	CHECK((rc == 0) == setup_ok);
	if (rc)
		goto out;

	/* The driver. The ring is whatever the input put there (zeroed by a
	 * driver at reset only). */
	memset(d, 0, sizeof(*d));
	drv_reset(w, d, q, h[20] & 0x10);
	/* Its checks hold only if nothing in the ring was there before it. */
	d->clean = true;
	for (unsigned i = 0; i < 16u * qsize && d->clean; i++) {
		uint8_t b;
		d->clean = host_read(w, desc + i, &b, 1) && b == 0;
	}
	if (!d->clean)
		drv_adopt(w, d, q);
	/* Nor if the input laid the driver or device area over the ring
	 * (or the two over each other): the event suppression writes of
	 * either side then rewrite descriptors. */
	{
		const uint64_t part[3][2] = {
			{ desc, 16u * qsize }, { drv_area, 4 }, { dev_area, 4 },
		};
		for (unsigned i = 0; i < 3; i++)
			for (unsigned j = i + 1; j < 3; j++)
				if (part[i][0] < part[j][0] + part[j][1] &&
				    part[j][0] < part[i][0] + part[i][1])
					d->clean = false;
	}
	d->indirect = h[20] & 1;
	d->events = h[20] & 2;
	d->max_pieces = 1 + ((h[20] >> 2) & 3);

	memset(g_short, 0, sizeof(g_short));
	static const uint8_t default_script[] = { 0, 0x3f, 4, 0, 0x3f, 4, 0, 0x3f, 4 };
	const uint8_t *sp = script_len ? script : default_script;
	size_t sleft = script_len ? script_len : sizeof(default_script);
	bool kicks_on = true;

	for (unsigned round = 0; round < MAX_ROUNDS && sleft >= 3; round++) {
		struct vq *vq = &g_vq[cur];
		uint8_t op = sp[0], arg = sp[1], cmd = sp[2];
		sp += 3;
		sleft -= 3;

		/* The host writes its memory between bursts. */
		if (host_patches(w, &sp, &sleft, op & 7u))
			d->clean = false;
		drv_round(w, d, q, cmd);

		/* DMA table changes: the queue re-translates its rings. */
		if (op & 0x80) {
			dma_hostile(w);
			world_toggle_extra(w);
		}
		if ((arg & 0x80) && !w->log_on)
			world_log_start(w);
		do_avail_count(w, vq, q);

		if ((op & 0x20) && reset_not_migrate) {
			do_reset(w, vq, q, d);
		} else if (op & 0x20) {
			if (do_migrate(w, vq, &g_vq[!cur], q, mutate)) {
				vq_teardown(vq);
				cur = !cur;
				vq = &g_vq[cur];
				if (mutate) { /* the driver no longer knows */
					d->clean = false;
					drv_reset(w, d, q, false);
				}
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
		/* Now and then no decision: the used position may then move
		 * a whole ring or more before the next one. */
		if (rnd() & 3)
			do_notify(w, vq, q);
		if (op & 0x40) {
			kicks_on = !kicks_on;
			do_kicks(w, vq, q, kicks_on);
		}
		check_memory(w);
	}
	/* Once more: anything still offered is popped and completed, and the
	 * driver takes back what it can. */
	for (unsigned i = 0; i < 4; i++) {
		unsigned got = do_pop(w, &g_vq[cur], q, MAX_Q, MAX_SEGS);
		do_push(w, &g_vq[cur], q, 0, 0x3f);
		if (got == 0)
			break;
	}
	do_notify(w, &g_vq[cur], q);
	check_memory(w);
	if (q->enabled)
		drv_reap(w, d, q);
	if (d->clean && !q->broken && q->enabled && !m_available(w, q, q->next_avail)) {
		/* A driver that did nothing wrong got everything back. */
		if (d->n_out)
			fprintf(stderr, "fuzz_packed: driver still has %u buffers "
				"out\n", d->n_out);
		CHECK(d->n_out == 0);
		CHECK(mp_eq(d->used, q->next_used));
		CHECK(mp_eq(d->avail, q->next_avail));
	}
	if (w->log_on) {
		check_dirty(w);
		CHECK(dma_log_stop(w->dma) == 0);
		CHECK(!dma_logging(w->dma));
		w->log_on = false;
	}
	if (g_verbose)
		fprintf(stderr, "fuzz_packed: size %u flags %#x regions %u: popped %lu "
			"pushed %lu notified %lu, filled %lu in %lu of %lu fills, "
			"took %lu in %lu of %lu takes, driver offered %lu reaped "
			"%lu (%s), %s\n", q->size, q->flags, w->nreg,
			(unsigned long)(g_vq[0].n_popped + g_vq[1].n_popped),
			(unsigned long)(g_vq[0].n_pushed + g_vq[1].n_pushed),
			(unsigned long)(g_vq[0].n_notify + g_vq[1].n_notify),
			g_short[0][2], g_short[0][1], g_short[0][0],
			g_short[1][2], g_short[1][1], g_short[1][0],
			(unsigned long)d->offered, (unsigned long)d->reaped,
			d->clean ? "clean" : "hostile",
			q->broken ? vq_error_str(q->err) : "not broken");

out:
	held_drop_all();
	vq_teardown(&g_vq[0]);
	vq_teardown(&g_vq[1]);
	world_free(w);
	return 0;
}
