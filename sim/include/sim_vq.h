/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sim_vq — the driver side of a split virtqueue, as a guest's virtio
 * driver runs it: rings and indirect tables in host memory, a private free
 * list (never trusting what the device can write), buffers posted and
 * published in batches, kicks and interrupts suppressed as the device and
 * the driver ask (flags or EVENT_IDX), in-order batches understood.
 *
 * With VQ_F_PACKED the same calls run a packed ring: buffer ids from a
 * private free list, wrap-counted positions, a batch published by writing
 * its first descriptor's flags last, and the event suppression structures
 * (enable, disable, descriptor-specific with EVENT_IDX).
 *
 * One thread owns a sim_vq. The simulated host's virtio-net driver is
 * built on it; the unit tests and benchmarks drive the device with it.
 */
#ifndef VIRTNET_SIM_VQ_H
#define VIRTNET_SIM_VQ_H

#include <stdbool.h>
#include <stdint.h>

#include "sim_hostmem.h"
#include "virtq.h"

struct sim_buf {
	uint64_t iova;
	uint32_t len;
};

struct sim_vq_slot {
	void *token;      /* NULL when the head is free */
	uint16_t ndesc;   /* ring descriptors the chain took */
	uint16_t last;    /* its last ring descriptor */
	uint32_t wlen;    /* writable bytes (a skipped in-order buffer's len) */
};

struct sim_vq {
	struct sim_hostmem *mem;
	uint16_t size, mask;
	uint32_t flags; /* VQ_F_* negotiated */
	union {
		struct vq_desc *desc;   /* split */
		struct vq_pdesc *pdesc; /* packed */
	};
	union {
		struct vq_avail *avail;        /* split */
		struct vq_event *driver_event; /* packed: driver area */
	};
	union {
		struct vq_used *used;          /* split */
		struct vq_event *device_event; /* packed: device area */
	};
	uint64_t desc_iova, avail_iova, used_iova; /* what vq_setup takes */
	uint16_t *next_free;      /* private free list (packed: of buffer ids) */
	struct sim_vq_slot *slot; /* per head (packed: per buffer id) */
	uint16_t free_head, num_free; /* num_free: free ring descriptors */
	uint16_t avail_idx;   /* split: next avail idx; packed: avail counter */
	uint16_t kick_old;    /* avail idx at the last kick decision */
	uint16_t last_used;   /* split: used idx seen; packed: used counter */
	/* packed */
	uint16_t *order;      /* in order: ids in the order made available */
	uint16_t ord_head, ord_tail, ord_n;
	uint16_t pend_ctr, pend_flags; /* batch's first descriptor, unpublished */
	bool pend;
	bool cb_disabled;
	/* in order */
	uint16_t oldest;      /* head of the oldest outstanding chain */
	uint16_t batch_left;  /* chains of the current batch not yet returned */
	uint32_t batch_len;   /* len of the batch's last chain */
	/* indirect tables: max_indirect entries per head */
	uint16_t max_indirect;
	uint64_t indir_iova;
	union {
		struct vq_desc *indir;
		struct vq_pdesc *pindir;
	};
	/* counters */
	uint64_t n_kicks, n_kicks_suppressed;
};

/* Allocate rings (and indirect tables when max_indirect > 0) in `mem`. */
int sim_vq_init(struct sim_vq *q, struct sim_hostmem *mem, uint16_t size,
		uint32_t flags, uint16_t max_indirect);
void sim_vq_fini(struct sim_vq *q);

/*
 * Post a buffer: nout device-readable then nin device-writable pieces, as
 * one chain or, with `indirect`, one indirect table. Not visible to the
 * device until sim_vq_publish(). -ENOSPC when the ring is full, -EINVAL
 * for a chain that cannot be built.
 */
int sim_vq_add(struct sim_vq *q, const struct sim_buf *out, unsigned nout,
	       const struct sim_buf *in, unsigned nin, void *token,
	       bool indirect);

/* Publish what sim_vq_add queued; true when the device wants a kick. */
bool sim_vq_publish(struct sim_vq *q);

/* Next completed buffer's token (and bytes written), or NULL. -1 in *len
 * is never returned; a device that names a buffer not outstanding makes
 * this return NULL with *bad set. */
void *sim_vq_get_used(struct sim_vq *q, uint32_t *len, bool *bad);

/* Interrupt suppression. enable returns true when completions arrived
 * meanwhile (poll again before sleeping). */
void sim_vq_disable_cb(struct sim_vq *q);
bool sim_vq_enable_cb(struct sim_vq *q);

#endif
