/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sim_hostmem — the simulated host's RAM: memfd-backed regions at chosen
 * IOVAs (sealed against shrinking, as a vfio-user or vhost-user peer
 * requires), a bump allocator for rings and buffers, and copies that span
 * regions. Regions adjacent in IOVA are separate mappings, so a buffer that
 * crosses the boundary is not contiguous in the device's address space.
 */
#ifndef VIRTNET_SIM_HOSTMEM_H
#define VIRTNET_SIM_HOSTMEM_H

#include <stddef.h>
#include <stdint.h>

#include "dma.h"

#define SIM_HOSTMEM_MAX 8

struct sim_hostmem_region {
	uint64_t iova;
	uint64_t len;
	uint8_t *va;
	int fd;
};

struct sim_hostmem {
	unsigned n;
	struct sim_hostmem_region r[SIM_HOSTMEM_MAX];
	unsigned cur;    /* region the allocator is in */
	uint64_t cursor; /* next free offset in that region */
};

void sim_hostmem_init(struct sim_hostmem *m);
/* Add a region of len bytes (a multiple of 4096) at iova. */
int sim_hostmem_add(struct sim_hostmem *m, uint64_t iova, uint64_t len);
void sim_hostmem_free(struct sim_hostmem *m);
/* Map every region into a DMA space with `prot`. */
int sim_hostmem_map(const struct sim_hostmem *m, struct dma_space *dma,
		    uint32_t prot);
/* Local pointer for [iova, iova+len) inside one region, or NULL. */
void *sim_hostmem_va(const struct sim_hostmem *m, uint64_t iova, uint64_t len);
/* Allocate len bytes aligned to `align` inside one region; -ENOMEM. */
int sim_hostmem_alloc(struct sim_hostmem *m, uint64_t len, uint64_t align,
		      uint64_t *iova);
/* Copies that may span adjacent regions; -EFAULT when unmapped. */
int sim_hostmem_write(const struct sim_hostmem *m, uint64_t iova,
		      const void *src, size_t len);
int sim_hostmem_read(const struct sim_hostmem *m, uint64_t iova, void *dst,
		     size_t len);

#endif
