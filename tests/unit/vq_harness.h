/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared by the virtqueue unit tests: a host with memory, a driver-side
 * queue (sim_vq) and the device-side queue under test, on one DMA space. */
#ifndef VQ_HARNESS_H
#define VQ_HARNESS_H

#include <stdlib.h>
#include <string.h>

#include "dma.h"
#include "sim_hostmem.h"
#include "sim_vq.h"
#include "virtq.h"

/* A large region (rings, most buffers), six small ones right after it
 * (adjacent in IOVA, separate mappings: buffers there span boundaries), and
 * a read-only region after a gap. */
#define H_IOVA0   0x100000ull
#define H_LEN0    (1ull << 20)
#define H_IOVA1   (H_IOVA0 + H_LEN0)
#define H_NSMALL  6
#define H_SMALL   (64ull << 10)
#define H_IOVA_RO 0x4000000ull /* read-only to the device */
#define H_LEN_RO  (64ull << 10)

struct env {
	struct sim_hostmem mem;
	struct dma_space *dma;
	struct sim_vq drv;
	struct vq vq;
	struct vq_seg *segs;
	uint8_t *ro; /* the read-only region's memory */
};

static inline void env_init(struct env *e, uint16_t size, uint32_t flags,
			    uint16_t max_indirect)
{
	memset(e, 0, sizeof(*e));
	sim_hostmem_init(&e->mem);
	if (sim_hostmem_add(&e->mem, H_IOVA0, H_LEN0))
		abort();
	for (unsigned i = 0; i < H_NSMALL; i++)
		if (sim_hostmem_add(&e->mem, H_IOVA1 + i * H_SMALL, H_SMALL))
			abort();
	e->dma = dma_space_create(NULL);
	if (!e->dma || sim_hostmem_map(&e->mem, e->dma, DMA_PROT_READ | DMA_PROT_WRITE))
		abort();
	e->ro = aligned_alloc(4096, H_LEN_RO);
	memset(e->ro, 0x5c, H_LEN_RO);
	if (dma_map(e->dma, H_IOVA_RO, H_LEN_RO, e->ro, DMA_PROT_READ))
		abort();
	if (sim_vq_init(&e->drv, &e->mem, size, flags, max_indirect))
		abort();
	if (vq_setup(&e->vq, e->dma, size, e->drv.desc_iova, e->drv.avail_iova,
		     e->drv.used_iova, flags, "test"))
		abort();
	e->segs = calloc(4u * size, sizeof(*e->segs));
}

static inline void env_fini(struct env *e)
{
	vq_teardown(&e->vq);
	sim_vq_fini(&e->drv);
	dma_space_destroy(e->dma);
	sim_hostmem_free(&e->mem);
	free(e->ro);
	free(e->segs);
}

/* Allocate a host buffer (never spanning regions). */
static inline uint64_t env_alloc(struct env *e, uint64_t len)
{
	uint64_t iova;

	if (sim_hostmem_alloc(&e->mem, len, 8, &iova))
		abort();
	return iova;
}

/* Pop a single chain (asserting exactly one). */
static inline unsigned env_pop(struct env *e, struct vq_chain *c, unsigned n)
{
	return vq_pop_burst(&e->vq, c, n, e->segs, 4u * e->vq.size);
}

#endif
