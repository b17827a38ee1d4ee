/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_hostmem.h — the hostile host's memory and its model, shared by the
 * two ring fuzzers (fuzz_split.c and fuzz_packed.c).
 *
 * It models what the device sees of host memory through emu/dma.c: one or
 * two regions (A, B) cut out of the input's bytes with the permissions the
 * input chooses, an extra 256-byte region that rounds map and unmap, and a
 * big read-only region of zeros. The regions live in heap buffers of
 * exactly their sizes, so ASan sees any access outside a region; the extra
 * region's buffer is freed while unmapped, so a stale pointer into it is a
 * use-after-free; the big region is mmap'd PROT_READ, so a device write
 * there faults. Beside them the model keeps a shadow, what host memory must
 * hold, and the pages the device must have dirtied while logging; the
 * device's reads and writes go through the model (m_read, m_write), the
 * host's own writes through host_poke, and check_memory / check_dirty trap
 * when the library disagrees.
 *
 * Also here: the data of popped chains (m_chain_copy copies through the
 * model; check_chain, chain_io and held_io check what vq_chain_read /
 * vq_chain_write do against it) and the chains the device holds (g_held,
 * filled by pop_check_hold), the short ways' input and the checks the
 * two rings share for them (fill_in, fill_gen, fill_fits, fill_run: one
 * for vq_fill_burst and vq_take_burst, with a direction), the CHECK macro,
 * the generator for minor choices and little-endian helpers. The
 * including target defines FUZZ_NAME (the prefix of its messages) first;
 * all functions are static.
 *
 * Input header bytes it reads (the same in both targets): 3 region mode,
 * 4 gap between the regions, 5-6 where they are cut, 7-8 host memory size.
 */
#ifndef FUZZ_HOSTMEM_H
#define FUZZ_HOSTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dma.h"
#include "hal_log.h"
#include "virtq.h"

#ifndef FUZZ_NAME
#error "define FUZZ_NAME before including fuzz_hostmem.h"
#endif

#define CHECK(c)                                                          \
	do {                                                              \
		if (!(c)) {                                               \
			fprintf(stderr, FUZZ_NAME ": check failed at line %d: %s\n", \
				__LINE__, #c);                            \
			__builtin_trap();                                 \
		}                                                         \
	} while (0)

#define BASE_IOVA   0x10000ull
#define EXTRA_IOVA  0x40000ull
#define EXTRA_LEN   256u
#define ZERO_IOVA   0x100000000ull
#define ZERO_LEN    (64ull << 20)  /* 65 of these pass 4 GiB */
#define MAX_MEM     32768u
#define RUN_IO      (256u << 10)  /* bytes read + written per run */
#define LOG_SHIFT   12u
#define MAX_PAGES   128u          /* iova >> 12 stays below this */

/* ---- the generator for minor choices --------------------------------- */
static uint32_t rng_state;

static uint32_t rnd(void)
{
	uint32_t x = rng_state ? rng_state : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	rng_state = x;
	return x;
}

/* ---- little-endian fields in byte arrays ------------------------------ */
static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- host memory and its model --------------------------------------- */
struct mreg {
	uint64_t iova;
	uint64_t len;
	size_t off;     /* of its bytes in the shadow */
	uint32_t prot;
	uint8_t *buf;   /* exactly len bytes */
	bool present;   /* part of this run (the extra region's buf exists
			 * only while it is mapped: stale pointers into it
			 * are use-after-free) */
	bool mapped;
	bool zero;      /* the big region: read-only zeros, not shadowed */
};

enum { REG_A, REG_B, REG_EXTRA, REG_ZERO, NREG };

struct world {
	struct dma_space *dma;
	/* Host memory: one or two regions (A, B), the extra region that
	 * rounds map and unmap, and a big read-only region of zeros (mmap'd
	 * PROT_READ: a device write there faults). */
	struct mreg reg[NREG];
	unsigned nreg;      /* host memory regions: 1 (A) or 2 (A, B) */
	uint8_t *shadow;    /* what host memory must hold */
	size_t shadow_len;
	bool log_on;
	bool dirty[MAX_PAGES]; /* pages the device wrote while logging */
	uint32_t io_left;
};

static struct mreg *regs_at(struct world *w, unsigned i)
{
	return w->reg[i].present ? &w->reg[i] : NULL;
}

/* Mapped region holding iova, or NULL. */
static const struct mreg *find_reg(struct world *w, uint64_t iova)
{
	for (unsigned i = 0; i < NREG; i++) {
		const struct mreg *r = regs_at(w, i);
		if (r && r->mapped && iova >= r->iova && iova - r->iova < r->len)
			return r;
	}
	return NULL;
}

/* Every byte of [iova, iova+len) mapped with prot (may span regions). */
static bool m_range_ok(struct world *w, uint64_t iova, uint64_t len,
		       uint32_t prot)
{
	if (len == 0 || iova + len - 1 < iova)
		return false;
	while (len) {
		const struct mreg *r = find_reg(w, iova);
		if (!r || (r->prot & prot) != prot)
			return false;
		uint64_t n = r->len - (iova - r->iova);
		if (n > len)
			n = len;
		iova += n;
		len -= n;
	}
	return true;
}

/* The region holding all of [iova, iova+len) with prot, or NULL. */
static const struct mreg *m_one_region(struct world *w, uint64_t iova,
				       uint64_t len, uint32_t prot)
{
	const struct mreg *r = find_reg(w, iova);

	if (!r || len == 0 || (r->prot & prot) != prot ||
	    len > r->len - (iova - r->iova))
		return NULL;
	return r;
}

/* The device reads / writes host memory (the model's view; the range
 * must be mapped). Writes mark the model's dirty pages. */
static void m_read(struct world *w, uint64_t iova, void *dst, size_t len)
{
	uint8_t *p = dst;

	while (len) {
		const struct mreg *r = find_reg(w, iova);
		CHECK(r != NULL);
		uint64_t off = iova - r->iova;
		size_t n = r->len - off < len ? (size_t)(r->len - off) : len;
		if (r->zero)
			memset(p, 0, n);
		else
			memcpy(p, w->shadow + r->off + off, n);
		p += n;
		iova += n;
		len -= n;
	}
}

static void m_write(struct world *w, uint64_t iova, const void *src, size_t len)
{
	const uint8_t *p = src;

	while (len) {
		const struct mreg *r = find_reg(w, iova);
		CHECK(r != NULL && (r->prot & DMA_PROT_WRITE) && !r->zero);
		uint64_t off = iova - r->iova;
		size_t n = r->len - off < len ? (size_t)(r->len - off) : len;
		memcpy(w->shadow + r->off + off, p, n);
		if (w->log_on)
			for (uint64_t pg = iova >> LOG_SHIFT;
			     pg <= (iova + n - 1) >> LOG_SHIFT; pg++) {
				CHECK(pg < MAX_PAGES);
				w->dirty[pg] = true;
			}
		p += n;
		iova += n;
		len -= n;
	}
}

static void m_write16(struct world *w, uint64_t iova, uint16_t v)
{
	uint8_t b[2];

	put16(b, v);
	m_write(w, iova, b, 2);
}

/* The host writes a byte of its memory (mapped or not). */
static void host_poke(struct world *w, size_t off, uint8_t v)
{
	for (unsigned i = 0; i < REG_ZERO; i++) {
		struct mreg *r = regs_at(w, i);
		if (r && off >= r->off && off - r->off < r->len) {
			if (r->buf)
				r->buf[off - r->off] = v;
			w->shadow[off] = v;
			return;
		}
	}
}

/* The host applies up to n script patches (4 bytes each: u16 offset into
 * host memory, two bytes) at *sp; returns how many it applied. */
static unsigned host_patches(struct world *w, const uint8_t **sp,
			     size_t *sleft, unsigned n)
{
	unsigned i;

	for (i = 0; i < n && *sleft >= 4; i++) {
		const uint8_t *p = *sp;
		size_t off = get16(p) % w->shadow_len;
		host_poke(w, off, p[2]);
		host_poke(w, (off + 1) % w->shadow_len, p[3]);
		*sp += 4;
		*sleft -= 4;
	}
	return i;
}

/* Host memory must hold exactly what the model says. */
static void check_memory(struct world *w)
{
	for (unsigned i = 0; i < REG_ZERO; i++) {
		const struct mreg *r = regs_at(w, i);
		if (r && r->buf && memcmp(r->buf, w->shadow + r->off, r->len)) {
			for (size_t k = 0; k < r->len; k++)
				if (r->buf[k] != w->shadow[r->off + k]) {
					fprintf(stderr, FUZZ_NAME ": iova %#llx holds "
						"%#x, model %#x\n",
						(unsigned long long)(r->iova + k),
						r->buf[k], w->shadow[r->off + k]);
					break;
				}
			CHECK(0);
		}
	}
}

/* ---- dirty logging ----------------------------------------------------- */
static void world_log_start(struct world *w)
{
	CHECK(dma_log_start(w->dma, 0) == 0);
	CHECK(dma_logging(w->dma));
	w->log_on = true;
}

/* Every page the device wrote while logging must read dirty. The report
 * clears the bits, so the model starts afresh too: a missing mark cannot
 * hide behind another write to the same page before an earlier report. */
static void check_dirty(struct world *w)
{
	uint64_t bm[(MAX_PAGES + 63) / 64];

	if (!w->log_on)
		return;
	CHECK(dma_log_report(w->dma, 0, (uint64_t)MAX_PAGES << LOG_SHIFT, bm) == 0);
	for (unsigned p = 0; p < MAX_PAGES; p++) {
		if (w->dirty[p] && !(bm[p / 64] >> (p % 64) & 1))
			fprintf(stderr, FUZZ_NAME ": page %#x written, not dirty\n", p);
		if (w->dirty[p])
			CHECK(bm[p / 64] >> (p % 64) & 1);
	}
	memset(w->dirty, 0, sizeof(w->dirty));
}

/* ---- setting up and taking down --------------------------------------- */

/* Host memory from the input header h and the memory bytes after the
 * script: size, regions and their permissions, the extra region (not
 * mapped yet) and, when asked, the region of zeros. */
static void world_setup(struct world *w, const uint8_t *h,
			const uint8_t *memsrc, size_t memsrc_len,
			bool zero_region)
{
	unsigned mode = h[3] % 5;
	uint64_t gap = (uint64_t)h[4] * 64;
	size_t mem_size = get16(h + 7) ? get16(h + 7) : memsrc_len;
	if (mem_size > MAX_MEM)
		mem_size = MAX_MEM;
	if (mem_size < 16)
		mem_size = 16;
	/* Two regions cut at a multiple of 16: dma_map wants va congruent to
	 * iova modulo 16 (heap buffers are 16-aligned). */
	size_t split = mem_size;
	if (mode != 0 && mem_size >= 32) {
		split = (1 + get16(h + 5) % (mem_size - 1)) & ~(size_t)15;
		if (split == 0)
			split = 16;
	}

	memset(w, 0, sizeof(*w));
	w->io_left = RUN_IO;
	w->shadow_len = mem_size + EXTRA_LEN;
	w->shadow = calloc(1, w->shadow_len);
	CHECK(w->shadow != NULL);
	memcpy(w->shadow, memsrc, memsrc_len < mem_size ? memsrc_len : mem_size);
	for (size_t i = 0; i < EXTRA_LEN; i++)
		w->shadow[mem_size + i] = (uint8_t)(i * 13);
	static const uint32_t prots[5][2] = {
		{ DMA_PROT_READ | DMA_PROT_WRITE, 0 },
		{ DMA_PROT_READ | DMA_PROT_WRITE, DMA_PROT_READ | DMA_PROT_WRITE },
		{ DMA_PROT_READ | DMA_PROT_WRITE, DMA_PROT_READ },
		{ DMA_PROT_READ, DMA_PROT_READ | DMA_PROT_WRITE },
		{ DMA_PROT_READ | DMA_PROT_WRITE, DMA_PROT_WRITE },
	};
	w->nreg = split < mem_size ? 2 : 1;
	w->reg[REG_A] = (struct mreg){ .iova = BASE_IOVA, .len = split, .off = 0,
				       .prot = prots[mode][0] };
	if (w->nreg == 2)
		w->reg[REG_B] = (struct mreg){ .iova = BASE_IOVA + split + gap,
					       .len = mem_size - split, .off = split,
					       .prot = prots[mode][1] };
	w->reg[REG_EXTRA] = (struct mreg){ .iova = EXTRA_IOVA, .len = EXTRA_LEN,
					   .off = mem_size,
					   .prot = DMA_PROT_READ | DMA_PROT_WRITE,
					   .present = true };
	for (unsigned i = 0; i < w->nreg; i++) {
		struct mreg *r = &w->reg[i];
		r->present = true;
		r->buf = malloc(r->len);
		CHECK(r->buf != NULL);
		memcpy(r->buf, w->shadow + r->off, r->len);
	}
	if (zero_region) {
		static uint8_t *zero;
		if (!zero) {
			zero = mmap(NULL, ZERO_LEN, PROT_READ,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				    -1, 0);
			CHECK(zero != MAP_FAILED);
		}
		w->reg[REG_ZERO] = (struct mreg){
			.iova = ZERO_IOVA, .len = ZERO_LEN, .prot = DMA_PROT_READ,
			.buf = zero, .present = true, .zero = true,
		};
	}
}

/* The DMA space: every present region but the extra one mapped, dirty
 * logging started before or after the maps when log_early. */
static void world_map(struct world *w, bool log_early, bool log_before_map)
{
	w->dma = dma_space_create(NULL);
	CHECK(w->dma != NULL);
	if (log_early && log_before_map)
		world_log_start(w);
	for (unsigned i = 0; i < NREG; i++) {
		struct mreg *r = &w->reg[i];
		if (!r->present || i == REG_EXTRA)
			continue;
		CHECK(dma_map(w->dma, r->iova, r->len, r->buf, r->prot) == 0);
		r->mapped = true;
	}
	if (log_early && !log_before_map)
		world_log_start(w);
}

/* Map the extra region, or unmap it. */
static void world_toggle_extra(struct world *w)
{
	struct mreg *r = &w->reg[REG_EXTRA];

	if (!r->mapped) {
		r->buf = malloc(r->len);
		CHECK(r->buf != NULL);
		memcpy(r->buf, w->shadow + r->off, r->len);
		CHECK(dma_map(w->dma, r->iova, r->len, r->buf, r->prot) == 0);
		r->mapped = true;
	} else {
		/* Unmapping drops the region's dirty bits (dma.h): a
		 * migration takes them first. Chains may still point into
		 * it: its memory is freed, so a stale pointer is a
		 * use-after-free ASan reports. */
		check_dirty(w);
		CHECK(dma_unmap(w->dma, r->iova, r->len) == 0);
		r->mapped = false;
		free(r->buf);
		r->buf = NULL;
	}
}

static void world_free(struct world *w)
{
	dma_space_destroy(w->dma);
	for (unsigned i = 0; i < REG_ZERO; i++)
		free(w->reg[i].buf);
	free(w->shadow);
}

/* ---- chain data -------------------------------------------------------- */
#define MAX_Q       256u          /* the largest queue */
#define MAX_SEGS    (2u * MAX_Q)
#define IO_CHUNK    4096u
#define CHAIN_IO    8192u         /* bytes read / written per chain */

/* Copy from / into a chain through the model: readable segments in order,
 * then writable ones. A piece no longer mapped with the permission (the
 * table changed since the pop) ends the copy. */
static uint32_t m_chain_copy(struct world *w, const struct vq_chain *c,
			     bool to_chain, uint32_t off, uint8_t *buf,
			     uint32_t len)
{
	unsigned i = to_chain ? c->nread : 0, end = to_chain ? c->nseg : c->nread;
	uint32_t prot = to_chain ? DMA_PROT_WRITE : DMA_PROT_READ;
	uint32_t done = 0;

	for (; i < end && done < len; i++) {
		const struct vq_seg *s = &c->seg[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		uint32_t n = s->len - off;
		if (n > len - done)
			n = len - done;
		if (!m_range_ok(w, s->iova + off, n, prot))
			break;
		if (to_chain)
			m_write(w, s->iova + off, buf + done, n);
		else
			m_read(w, s->iova + off, buf + done, n);
		done += n;
		off = 0;
	}
	return done;
}

/* Every invariant of a popped chain that does not need the queue model
 * (qsize: the queue's size). */
static void check_chain(struct world *w, uint16_t qsize,
			const struct vq_chain *c)
{
	uint64_t r = 0, wsum = 0;

	CHECK(c->head < qsize);
	CHECK(c->nseg <= qsize);
	CHECK(c->nread <= c->nseg);
	for (unsigned i = 0; i < c->nseg; i++) {
		const struct vq_seg *s = &c->seg[i];
		uint32_t prot = s->write ? DMA_PROT_WRITE : DMA_PROT_READ;

		CHECK(s->len != 0);
		CHECK((s->write != 0) == (i >= c->nread));
		CHECK(m_range_ok(w, s->iova, s->len, prot));
		const struct mreg *reg = m_one_region(w, s->iova, s->len, prot);
		if (s->va) {
			CHECK(reg != NULL);
			CHECK((uint8_t *)s->va == reg->buf + (s->iova - reg->iova));
		}
		if (s->write)
			wsum += s->len;
		else
			r += s->len;
	}
	CHECK(r == c->rlen && wsum == c->wlen);
}

static uint8_t g_io[IO_CHUNK];
static uint8_t g_ref[IO_CHUNK];

static uint8_t pattern(const struct vq_chain *c, uint32_t at)
{
	return (uint8_t)(c->head * 31u + at * 7u + 0x5a);
}

/* Read the readable part and fill the writable part of a new chain;
 * returns how far into the writable part it wrote. */
static uint32_t chain_io(struct world *w, struct vq *vq, const struct vq_chain *c)
{
	uint32_t want, off, n, got;

	/* Readable: from the start in chunks, then a random window. */
	want = c->rlen < CHAIN_IO ? c->rlen : CHAIN_IO;
	if (want > w->io_left)
		want = w->io_left;
	w->io_left -= want;
	for (off = 0; off < want; off += n) {
		n = want - off < IO_CHUNK ? want - off : IO_CHUNK;
		got = vq_chain_read(vq, c, off, g_io, n);
		CHECK(got == n);
		CHECK(m_chain_copy(w, c, false, off, g_ref, n) == n);
		CHECK(memcmp(g_io, g_ref, n) == 0);
	}
	off = (uint32_t)(rnd() % ((uint64_t)c->rlen + 16));
	n = 1 + rnd() % 64;
	got = vq_chain_read(vq, c, off, g_io, n);
	CHECK(got == (off >= c->rlen ? 0 : (c->rlen - off < n ? c->rlen - off : n)));
	CHECK(m_chain_copy(w, c, false, off, g_ref, n) == got);
	CHECK(memcmp(g_io, g_ref, got) == 0);

	/* Writable: from a small offset (usually 0), in chunks. */
	uint64_t start = (rnd() & 3) == 0 ? rnd() % ((uint64_t)c->wlen + 8) : 0;
	if (start > c->wlen)
		start = c->wlen;
	want = c->wlen - start < CHAIN_IO ? (uint32_t)(c->wlen - start) : CHAIN_IO;
	if (want > w->io_left)
		want = w->io_left;
	w->io_left -= want;
	for (off = (uint32_t)start; off < start + want; off += n) {
		n = start + want - off < IO_CHUNK ? (uint32_t)(start + want - off) : IO_CHUNK;
		for (uint32_t i = 0; i < n; i++)
			g_io[i] = pattern(c, off + i);
		got = vq_chain_write(vq, c, off, g_io, n);
		CHECK(got == n);
		CHECK(m_chain_copy(w, c, true, off, g_io, n) == n);
	}
	CHECK(vq_chain_write(vq, c, c->wlen, g_io, 16) == 0); /* past the end */
	return (uint32_t)start + want;
}

/* A chain held across bursts (an RX buffer waiting for a packet) is
 * accessed again, maybe after the DMA table changed under it (then only
 * what is still mapped is copied). */
static void held_io(struct world *w, struct vq *vq, const struct vq_chain *c)
{
	uint32_t n = c->rlen < 256 ? c->rlen : 256, got;

	got = vq_chain_read(vq, c, 0, g_io, n);
	CHECK(m_chain_copy(w, c, false, 0, g_ref, n) == got);
	CHECK(memcmp(g_io, g_ref, got) == 0);
	n = c->wlen < 256 ? c->wlen : 256;
	for (uint32_t i = 0; i < n; i++)
		g_io[i] = (uint8_t)~pattern(c, i);
	got = vq_chain_write(vq, c, 0, g_io, n);
	CHECK(m_chain_copy(w, c, true, 0, g_io, n) == got);
	check_memory(w);
}

/* A chain the device holds: a copy of what vq_pop_burst returned. */
struct held {
	struct vq_chain c;
	uint32_t written;
};

static struct held g_held[MAX_Q];
static unsigned g_nheld;

static void held_drop_all(void)
{
	for (unsigned i = 0; i < g_nheld; i++)
		free(g_held[i].c.seg);
	g_nheld = 0;
}

/* A burst vq_pop_burst returned (got chains in chains, their segments
 * from segs, at most nsegs) against the model's (ref): the same chains
 * and segments, each one sound (check_chain) and not already held; the
 * device then holds them (g_held) and reads and fills each. */
static void pop_check_hold(struct world *w, struct vq *vq, uint16_t qsize,
			   const struct vq_chain *chains,
			   const struct vq_chain *ref,
			   const struct vq_seg *segs, unsigned got,
			   unsigned nsegs)
{
	unsigned used = 0;

	for (unsigned i = 0; i < got; i++) {
		const struct vq_chain *c = &chains[i], *rc = &ref[i];

		CHECK(c->seg == segs + used);
		CHECK(c->gen == dma_space_table(w->dma)->gen);
		CHECK(c->head == rc->head && c->nseg == rc->nseg &&
		      c->nread == rc->nread && c->rlen == rc->rlen &&
		      c->wlen == rc->wlen);
		for (unsigned j = 0; j < c->nseg; j++) {
			const struct vq_seg *s = &c->seg[j], *rs = &rc->seg[j];
			CHECK(s->iova == rs->iova && s->len == rs->len &&
			      s->write == rs->write && s->va == rs->va);
		}
		check_chain(w, qsize, c);
		used += c->nseg;
		CHECK(used <= nsegs);
		/* Not already held by the device. */
		for (unsigned k = 0; k < g_nheld; k++)
			CHECK(g_held[k].c.head != c->head);
		CHECK(g_nheld < MAX_Q);
		struct held *h = &g_held[g_nheld++];
		h->c = *c;
		h->c.seg = malloc((c->nseg ? c->nseg : 1) * sizeof(*c->seg));
		CHECK(h->c.seg != NULL);
		memcpy(h->c.seg, c->seg, c->nseg * sizeof(*c->seg));
	}
	/* Data after the whole burst: the segments stay valid until used. */
	for (unsigned i = 0; i < got; i++) {
		struct held *h = &g_held[g_nheld - got + i];
		h->written = chain_io(w, vq, &h->c);
		check_memory(w);
	}
}

/* ---- the short ways' input (both targets) ------------------------------
 * One call of vq_fill_burst (received packets written into writable
 * buffers) or of vq_take_burst (readable buffers found, read in place and
 * given back with vq_take_done): the same walk of the ring, in one
 * direction or the other, so one input, one generator and one fit rule. */
#define FILL_MAX    80u  /* buffers asked for in one call */
#define FILL_DATA   200u /* data bytes of one, at most */
/* Buffers one call finds at most (virtq.h; VQ_SHORT_MAX): the caller goes
 * on with vq_pop_burst for the rest, as after any other stop. */
#define FILL_LIMIT  64u

struct fill_in {
	bool take;          /* vq_take_burst: n buffers of 1..max bytes each */
	uint32_t max;
	uint8_t hdr[20];    /* vq_fill_burst: the header and n packets */
	uint32_t hdr_len;
	unsigned n;
	uint32_t len[FILL_MAX];
	const void *ptr[FILL_MAX];
	uint8_t data[FILL_MAX][FILL_DATA];
};

/* A burst of received packets: the header the product uses (12 bytes),
 * a longer one (20, with the hash report), or none; mostly short data.
 * Or (take) a burst of transmit buffers: as many asked for, and a limit
 * on their size near what drivers post (1..64 bytes mostly, up to 2 KiB
 * now and then; 0 takes nothing) or none at all. */
static void fill_gen(struct fill_in *f, bool take)
{
	uint32_t r = rnd();

	f->take = take;
	f->hdr_len = take || (r & 15) == 0 ? 0 : (r & 3) ? 12 : 20;
	for (unsigned i = 0; i < sizeof(f->hdr) && !take; i++)
		f->hdr[i] = (uint8_t)rnd();
	f->n = (rnd() & 7) ? rnd() % 41 : rnd() % (FILL_MAX + 1);
	if (take) {
		f->max = (r & 0x30) == 0 ? UINT32_MAX :
			 (r & 0x30) == 0x10 ? rnd() % 2100 : rnd() % 72;
		return;
	}
	for (unsigned i = 0; i < f->n; i++) {
		uint32_t l = (rnd() & 3) ? rnd() % 49 : rnd() % (FILL_DATA + 1);
		if (f->hdr_len == 0 && l == 0)
			l = 1; /* a buffer with nothing to write is not asked for */
		f->len[i] = l;
		f->ptr[i] = f->data[i];
		for (uint32_t k = 0; k < l; k += 4) {
			uint32_t v = rnd();
			memcpy(&f->data[i][k], &v, l - k < 4 ? l - k : 4);
		}
	}
}

/* Is the one-descriptor buffer [addr, addr + blen) (its flags already
 * judged) one the call takes as its i-th: a fill's holds the header and
 * the i-th packet, a take's is 1..max bytes; either way the whole of it
 * lies in one region with the permission the call needs (mapped whole,
 * as a pop wants it). */
static bool fill_fits(struct world *w, const struct fill_in *f, unsigned i,
		      uint64_t addr, uint32_t blen)
{
	if (f->take ? blen == 0 || blen > f->max : blen < f->hdr_len + f->len[i])
		return false;
	return m_one_region(w, addr, blen, f->take ? DMA_PROT_READ : DMA_PROT_WRITE);
}

/* What the i-th buffer found gets, through the model: on a fill the
 * header, then the i-th packet's data; on a take nothing. */
static void m_fill_write(struct world *w, const struct fill_in *f, unsigned i,
			 uint64_t iova)
{
	if (f->take)
		return;
	m_write(w, iova, f->hdr, f->hdr_len);
	m_write(w, iova + f->hdr_len, f->data[i], f->len[i]);
}

/* The length the i-th buffer's completion reports: the bytes written. */
static uint32_t fill_used_len(const struct fill_in *f, unsigned i)
{
	return f->take ? 0 : f->hdr_len + f->len[i];
}

/* What the model says a short way's call finds: n buffers, their
 * descriptors' addresses, lengths and ids (split: the heads); and what a
 * take must say in *rest of what is left for the general way: 1 true
 * (buffers past those found, heads to resubmit, an index to judge), 0
 * false (it stopped at the end of what the driver made available, short
 * of every limit), -1 either (nothing left, but a limit was reached, or
 * the queue cannot begin). */
struct fill_ref {
	unsigned n;
	uint64_t addr[FILL_MAX];
	uint32_t len[FILL_MAX];
	uint16_t id[FILL_MAX];
	int rest;
};

/* Is id among the first n the model found? Offered again while those
 * are in flight, it fails the queue (HEAD_BUSY) with nothing found, as a
 * pop would. Sets m->n and m->rest for that outcome. */
static bool fill_dup(struct fill_ref *m, unsigned n, uint16_t id)
{
	for (unsigned k = 0; k < n; k++) {
		if (m->id[k] == id) {
			m->n = 0;
			m->rest = 0;
			return true;
		}
	}
	return false;
}

/* Per input, for the summary: [fill, take] calls, calls that found some,
 * buffers found. */
static unsigned long g_short[2][3];

/*
 * One call of the short way f asks for, against the model's m: the same
 * count; on a take, *rest as m says, nothing written yet and every b[i]
 * the buffer the model found, at the host memory of its address (ASan
 * sees a pointer or a length past its region when the caller reads it,
 * as here), then all given back (vq_take_done). Returns the count.
 */
static unsigned fill_run(struct world *w, struct vq *vq, const struct fill_in *f,
			 struct vq_buf *b, const struct fill_ref *m, bool verbose)
{
	bool rest = false;
	unsigned got = f->take ? vq_take_burst(vq, b, f->n, f->max, &rest) :
				 vq_fill_burst(vq, f->hdr, f->hdr_len, f->ptr, f->len, f->n);

	if (verbose && f->take)
		fprintf(stderr, FUZZ_NAME ": take %u (max %u): %u, model %u; rest %d, "
			"model %d\n", f->n, f->max, got, m->n, rest, m->rest);
	else if (verbose)
		fprintf(stderr, FUZZ_NAME ": fill %u (hdr %u): %u, model %u\n", f->n,
			f->hdr_len, got, m->n);
	CHECK(got == m->n);
	g_short[f->take][0]++;
	g_short[f->take][1] += got != 0;
	g_short[f->take][2] += got;
	if (!f->take)
		return got;
	CHECK(m->rest < 0 || rest == m->rest);
	check_memory(w);
	for (unsigned i = 0; i < got; i++) {
		const struct mreg *r = m_one_region(w, m->addr[i], m->len[i], DMA_PROT_READ);
		uint32_t k = m->len[i] < IO_CHUNK ? m->len[i] : IO_CHUNK;

		CHECK(r != NULL);
		CHECK(b[i].va == r->buf + (m->addr[i] - r->iova));
		CHECK(b[i].iova == m->addr[i] && b[i].len == m->len[i] &&
		      b[i].id == m->id[i]);
		if (k > w->io_left)
			k = w->io_left;
		w->io_left -= k;
		m_read(w, m->addr[i], g_ref, k);
		CHECK(memcmp(b[i].va, g_ref, k) == 0);
		m_read(w, m->addr[i] + m->len[i] - 1, g_ref, 1);
		CHECK(b[i].va[m->len[i] - 1] == g_ref[0]);
	}
	vq_take_done(vq, b, got);
	return got;
}

/* ---- the library's log ------------------------------------------------- */
static void discard_log(enum hal_log_level level, const char *line)
{
	(void)level;
	(void)line;
}

#endif /* FUZZ_HOSTMEM_H */
