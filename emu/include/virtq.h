/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtq — the device side of virtqueues, split and packed.
 *
 * A queue is owned by one datapath lcore: every vq_* call on a queue comes
 * from that thread, except vq_setup/vq_save/vq_load/vq_reset which the
 * control thread makes while the queue is not being polled.
 *
 * Everything in the rings is host-controlled and hostile: a bad index,
 * descriptor, address or length marks the queue broken (vq_broken() tells
 * why), the burst returns what it had already popped, and every later call
 * does nothing until the queue is reset. The transport then sets
 * DEVICE_NEEDS_RESET. Nothing outside the DMA regions is read or written,
 * and every walk is bounded by the queue size.
 */
#ifndef VIRTNET_VIRTQ_H
#define VIRTNET_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dma.h"

/* ---- little-endian ring fields (all virtio fields are LE) ------------- */
typedef uint16_t vle16;
typedef uint32_t vle32;
typedef uint64_t vle64;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline uint16_t vle16_to_cpu(vle16 v) { return v; }
static inline uint32_t vle32_to_cpu(vle32 v) { return v; }
static inline uint64_t vle64_to_cpu(vle64 v) { return v; }
#else
static inline uint16_t vle16_to_cpu(vle16 v) { return __builtin_bswap16(v); }
static inline uint32_t vle32_to_cpu(vle32 v) { return __builtin_bswap32(v); }
static inline uint64_t vle64_to_cpu(vle64 v) { return __builtin_bswap64(v); }
#endif
static inline vle16 cpu_to_vle16(uint16_t v) { return vle16_to_cpu(v); }
static inline vle32 cpu_to_vle32(uint32_t v) { return vle32_to_cpu(v); }
static inline vle64 cpu_to_vle64(uint64_t v) { return vle64_to_cpu(v); }

/* ---- split ring layout (virtio 1.3, 2.7) ------------------------------ */
#define VQ_DESC_F_NEXT     1
#define VQ_DESC_F_WRITE    2
#define VQ_DESC_F_INDIRECT 4
#define VQ_AVAIL_F_NO_INTERRUPT 1
#define VQ_USED_F_NO_NOTIFY     1

#define VQ_MAX_SIZE 32768

struct vq_desc {
	vle64 addr;
	vle32 len;
	vle16 flags;
	vle16 next;
};

struct vq_avail {
	vle16 flags;
	vle16 idx;
	vle16 ring[]; /* size entries, then used_event */
};

struct vq_used_elem {
	vle32 id;
	vle32 len;
};

struct vq_used {
	vle16 flags;
	vle16 idx;
	struct vq_used_elem ring[]; /* size entries, then avail_event */
};

static inline size_t vq_desc_bytes(uint16_t size) { return 16u * size; }
static inline size_t vq_avail_bytes(uint16_t size) { return 6u + 2u * size; }
static inline size_t vq_used_bytes(uint16_t size) { return 6u + 8u * size; }

/* The event-index fields that follow each ring (only with EVENT_IDX). */
static inline vle16 *vq_used_event_ptr(struct vq_avail *a, uint16_t size)
{
	return (vle16 *)((uint8_t *)a + 4 + 2u * size);
}

static inline vle16 *vq_avail_event_ptr(struct vq_used *u, uint16_t size)
{
	return (vle16 *)((uint8_t *)u + 4 + 8u * size);
}

/* Standard event-index test: has new_idx passed event since old_idx? */
static inline bool vq_need_event(uint16_t event, uint16_t new_idx,
				 uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/* ---- packed ring layout (virtio 1.3, 2.8) ------------------------------
 * Queue sizes need not be powers of two. Both sides count positions with a
 * wrap counter that starts at 1; we keep each as one number in [0, 2 *
 * size): position = ctr % size, wrap counter = ctr < size. */
#define VQ_PDESC_F_AVAIL (1u << 7)
#define VQ_PDESC_F_USED  (1u << 15)

struct vq_pdesc {
	vle64 addr;
	vle32 len;
	vle16 id;
	vle16 flags;
};

/* The driver area (driver event suppression, read by the device) and the
 * device area (device event suppression, written by the device). */
struct vq_event {
	vle16 off_wrap; /* bits 0-14 ring offset, bit 15 wrap counter */
	vle16 flags;    /* VQ_EVENT_* in bits 0-1 */
};

#define VQ_EVENT_ENABLE  0
#define VQ_EVENT_DISABLE 1
#define VQ_EVENT_DESC    2 /* only with EVENT_IDX */

static inline uint16_t vq_ctr_pos(uint16_t ctr, uint16_t size)
{
	return ctr < size ? ctr : (uint16_t)(ctr - size);
}

static inline bool vq_ctr_wrap(uint16_t ctr, uint16_t size)
{
	return ctr < size;
}

static inline uint16_t vq_ctr_add(uint16_t ctr, uint32_t n, uint16_t size)
{
	uint32_t c = (uint32_t)ctr + n;

	return (uint16_t)(c >= 2u * size ? c - 2u * size : c);
}

/* The counter an event suppression off_wrap names. */
static inline uint16_t vq_event_ctr(uint16_t off_wrap, uint16_t size)
{
	uint32_t off = off_wrap & 0x7fffu;

	return (uint16_t)(((off_wrap >> 15) ? off : off + size) % (2u * size));
}

/* Event-index test on counters modulo 2 * size: did the step old -> new
 * pass `event`? */
static inline bool vq_need_event_packed(uint16_t event, uint16_t new_ctr,
					uint16_t old_ctr, uint16_t size)
{
	uint32_t m = 2u * size;

	return (new_ctr + m - event - 1) % m < (new_ctr + m - old_ctr) % m;
}

/* ---- the in-flight region (vhost-user "Inflight I/O tracking") ----------
 * One queue's area of the region a vhost-user front end shares with its
 * back end (GET/SET_INFLIGHT_FD), laid out as QEMU's
 * docs/interop/vhost-user.rst defines it: QueueRegionSplit /
 * DescStateSplit and QueueRegionPacked / DescStatePacked. Native byte
 * order (it never leaves the host); the packed entries' addr, len, id and
 * flags are the ring descriptor's fields in CPU order. The engine records
 * into it (vq_inflight_attach) and reads it back once, validating every
 * field, when a ring starts on a region a previous back end left. */
#define VQ_IFL_VERSION 1

struct vq_ifl_desc_split {  /* DescStateSplit */
	uint8_t inflight;   /* head popped and not yet used */
	uint8_t padding[5];
	uint16_t next;      /* list of the last batch of used heads */
	uint64_t counter;   /* pop order */
};

struct vq_ifl_split {       /* QueueRegionSplit */
	uint64_t features;  /* 0 */
	uint16_t version;   /* VQ_IFL_VERSION; 0: not initialized */
	uint16_t desc_num;  /* the queue size */
	uint16_t last_batch_head;
	uint16_t used_idx;  /* used->idx once a batch's entries are clear */
	struct vq_ifl_desc_split desc[]; /* per head */
};

struct vq_ifl_desc_packed { /* DescStatePacked */
	uint8_t inflight;   /* head entry of a chain popped and not used */
	uint8_t padding;
	uint16_t next;      /* free list, and the links of a chain's entries */
	uint16_t last;      /* head entry: the chain's last entry */
	uint16_t num;       /* head entry: ring descriptors of the chain */
	uint64_t counter;   /* head entry: pop order */
	uint16_t id;        /* a ring descriptor of the chain, as popped */
	uint16_t flags;
	uint32_t len;
	uint64_t addr;
};

struct vq_ifl_packed {      /* QueueRegionPacked */
	uint64_t features;  /* 0 */
	uint16_t version;   /* VQ_IFL_VERSION; 0: not initialized */
	uint16_t desc_num;  /* the queue size */
	uint16_t free_head, old_free_head;
	uint16_t used_idx, old_used_idx;           /* ring positions */
	uint8_t used_wrap_counter, old_used_wrap_counter;
	uint8_t padding[7];
	struct vq_ifl_desc_packed desc[]; /* entries, in chains or free */
};

_Static_assert(sizeof(struct vq_ifl_desc_split) == 16, "DescStateSplit");
_Static_assert(sizeof(struct vq_ifl_split) == 16, "QueueRegionSplit");
_Static_assert(sizeof(struct vq_ifl_desc_packed) == 32, "DescStatePacked");
_Static_assert(sizeof(struct vq_ifl_packed) == 32, "QueueRegionPacked");
_Static_assert(offsetof(struct vq_ifl_split, version) ==
	       offsetof(struct vq_ifl_packed, version) &&
	       offsetof(struct vq_ifl_split, desc_num) ==
	       offsetof(struct vq_ifl_packed, desc_num), "shared header");

/* Bytes of one queue's area for `size` descriptors, 64-byte aligned. */
static inline size_t vq_inflight_bytes(uint16_t size, bool packed)
{
	size_t n = packed ? sizeof(struct vq_ifl_packed) + 32u * size
			  : sizeof(struct vq_ifl_split) + 16u * size;

	return (n + 63) & ~(size_t)63;
}

/* ---- what the device sees of a chain ----------------------------------
 * A segment's `va` is valid only until the owning lcore's next RCU
 * quiescent state: a chain kept longer (an RX chain waiting for a packet)
 * must be accessed through vq_chain_read/vq_chain_write, which notice a
 * DMA table change and fall back to checked copies by IOVA. */
struct vq_seg {
	uint64_t iova;
	void *va;      /* NULL when the segment spans two regions */
	uint32_t len;
	uint32_t write; /* device-writable */
};

struct vq_chain {
	uint16_t head;   /* id to complete with */
	uint16_t nseg;   /* readable segments first, then writable */
	uint16_t nread;  /* how many of seg[] are readable */
	uint32_t rlen;   /* total readable bytes */
	uint32_t wlen;   /* total writable bytes */
	uint64_t gen;    /* DMA table generation the va pointers belong to */
	struct vq_seg *seg;
};

struct vq_done {
	uint32_t id;  /* vq_chain.head */
	uint32_t len; /* bytes written into the chain */
};

/* ---- the queue -------------------------------------------------------- */
#define VQ_F_EVENT_IDX 1u /* VIRTIO_F_EVENT_IDX negotiated */
#define VQ_F_INDIRECT  2u /* VIRTIO_F_INDIRECT_DESC negotiated */
#define VQ_F_IN_ORDER  4u /* VIRTIO_F_IN_ORDER negotiated */
#define VQ_F_PACKED    8u /* VIRTIO_F_RING_PACKED negotiated */

#define VQ_NO_VECTOR 0xffff

/*
 * Everything migration saves and restores for one queue. Plain data: no
 * pointers. `inflight` lists the heads handed to the device and not yet
 * completed, oldest first (avail order). For a packed queue the two
 * indexes are the wrap-counted positions (see vq_ctr_pos) and, for now, a
 * queue with chains in flight cannot be saved (-EBUSY): the descriptors
 * of an in-flight packed chain may already be overwritten by used ones.
 */
struct vq_state {
	uint16_t size;
	uint16_t enabled;
	uint16_t vector;
	uint16_t last_avail_idx;
	uint16_t last_used_idx;
	uint16_t n_inflight;
	uint32_t flags; /* VQ_F_* */
	uint64_t desc_addr;
	uint64_t avail_addr;
	uint64_t used_addr;
	uint16_t inflight[]; /* n_inflight heads */
};

static inline size_t vq_state_bytes(uint16_t size)
{
	return sizeof(struct vq_state) + (size_t)size * sizeof(uint16_t);
}

enum vq_error {
	VQ_OK = 0,
	VQ_ERR_RING_ADDR,      /* a ring is not inside one mapped region */
	VQ_ERR_NOT_AVAIL,      /* packed: a list runs into a descriptor not available */
	VQ_ERR_AVAIL_IDX,      /* more buffers available than the queue holds */
	VQ_ERR_HEAD_RANGE,     /* head index (packed: buffer id) beyond the queue */
	VQ_ERR_HEAD_BUSY,      /* head (buffer id) offered again while in flight */
	VQ_ERR_NEXT_RANGE,     /* next index beyond the table */
	VQ_ERR_CHAIN_LEN,      /* loop, or chain longer than the queue */
	VQ_ERR_INDIRECT_NESTED,
	VQ_ERR_INDIRECT_LEN,   /* zero, not a multiple of 16, or too large */
	VQ_ERR_INDIRECT_NEXT,  /* INDIRECT with NEXT (packed: or in a list) */
	VQ_ERR_INDIRECT_FEAT,  /* INDIRECT without VIRTIO_F_INDIRECT_DESC */
	VQ_ERR_ADDR,           /* buffer outside the DMA regions */
	VQ_ERR_LEN_OVERFLOW,   /* buffer wraps or chain exceeds 4 GiB */
	VQ_ERR_ORDER,          /* readable descriptor after a writable one */
	VQ_ERR__COUNT
};

const char *vq_error_str(enum vq_error e);

struct vq_ifl; /* private to emu/virtq*.c */

struct vq_inflight {
	uint16_t avail_idx; /* pop order: last_avail (split), chains popped (packed) */
	uint8_t busy;       /* 0 free, 1 popped, 3 restored (vq_load, in-flight region) */
	uint16_t ndesc;     /* packed: ring descriptors the chain took */
	uint32_t wlen;      /* writable bytes: the most a completion may claim */
};

struct vq {
	/* first cache line: everything a burst touches */
	union {
		struct vq_desc *desc;   /* split: descriptor table */
		struct vq_pdesc *pdesc; /* packed: descriptor ring */
	};
	union {
		struct vq_avail *avail;        /* split: available ring */
		struct vq_event *driver_event; /* packed: driver area */
	};
	union {
		struct vq_used *used;          /* split: used ring */
		struct vq_event *device_event; /* packed: device area */
	};
	struct dma_space *dma;
	struct vq_inflight *inflight; /* per head */
	uint64_t tbl_gen;        /* generation the ring pointers belong to */
	uint16_t size;
	uint16_t mask;
	uint16_t last_avail;     /* split: free-running; packed: wrap-counted */
	uint16_t used_idx;       /* next used idx (packed: position) to write */
	uint16_t n_inflight;
	uint16_t signalled_used; /* used idx at the last interrupt decision */
	uint8_t flags;           /* VQ_F_* */
	bool enabled;
	bool broken;
	bool signalled_valid;
	/* second line */
	const struct dma_table *tbl; /* table of the current burst */
	uint32_t hint;           /* region of the last buffer lookup */
	uint16_t vector;
	uint16_t n_resubmit, resubmit_pos;
	uint16_t pk_popped;      /* packed: chains popped, for in-order checks */
	uint16_t pk_done;        /* packed: chains completed */
	uint16_t pk_slots;       /* packed: ring descriptors in flight */
	enum vq_error error;
	struct vq_desc *bounce;  /* an indirect table that spans regions */
	uint16_t *resubmit;      /* in-flight heads (packed: ids) to pop again */
	struct vq_ifl *ifl;      /* in-flight recording, or NULL (the hot
				  * path tests only this) */
	uint64_t desc_addr, avail_addr, used_addr;
	const char *name;        /* for log lines */
	/* counters */
	uint64_t n_popped, n_pushed, n_notify, n_notify_suppressed;
	uint64_t n_short;        /* of n_popped: buffers a short way took */
} __attribute__((aligned(64)));

/* Control thread: configure a queue: split (size a power of two, <= 32768;
 * rings at desc/avail/used) or, with VQ_F_PACKED, packed (size 1..32768;
 * descriptor ring, driver area, device area). */
int vq_setup(struct vq *vq, struct dma_space *dma, uint16_t size,
	     uint64_t desc_addr, uint64_t avail_addr, uint64_t used_addr,
	     uint32_t flags, const char *name);
/* Free what vq_setup allocated; the queue is zeroed. */
void vq_teardown(struct vq *vq);
/* Back to the state vq_setup left (indexes 0, nothing in flight). */
void vq_reset(struct vq *vq);

static inline bool vq_broken(const struct vq *vq) { return vq->broken; }

/*
 * Pop up to n chains. Segments go into segs[] (capacity nsegs, at least
 * the queue size so any legal chain fits: smaller arrays pop nothing); a
 * chain that does not fit in what is left ends the burst and is popped
 * next time. Returns the number of chains popped; check vq_broken().
 */
unsigned vq_pop_burst(struct vq *vq, struct vq_chain *chains, unsigned n,
		      struct vq_seg *segs, unsigned nsegs);

/* Number of chains the driver has made available and not yet popped
 * (packed: counted by walking the list heads, bounded by the free slots). */
unsigned vq_avail_count(struct vq *vq);

/*
 * Complete n chains: write their used entries and publish the used index
 * once. With `batch` (only under VIRTIO_F_IN_ORDER, chains completed in
 * the order they were popped) one entry naming the last chain is written
 * at the first chain's offset and the index moves by n (virtio 1.3,
 * 2.7.9); the driver takes the skipped chains as completely used.
 * Returns 0, or -EINVAL (nothing written) when an id is not in flight,
 * a len exceeds the chain's writable bytes, or, in order, an id is not the
 * next one or a skipped chain of a batch is not reported fully written.
 */
int vq_push_burst(struct vq *vq, const struct vq_done *done, unsigned n,
		  bool batch);

/*
 * The short way for a burst of receive buffers that are each one direct,
 * writable descriptor (what drivers post for received packets): for i in
 * [0, n), the next available buffer gets `hdr` (hdr_len bytes) and then
 * data[i] (len[i] bytes) and is completed with that many bytes written,
 * as a pop, copies and vq_push_burst would (in order; the dirty log
 * marked), without a chain or an in-flight entry in between; at most 64
 * a call. It stops at the first buffer that is not so (chained,
 * indirect, read-only, too short, not all of it mapped, an id out of
 * range, or none): the caller goes on
 * the general way (vq_pop_burst), which takes that buffer and judges it.
 * Only while nothing is in flight (every chain popped has been
 * completed, no in-flight recording, nothing to resubmit); else 0.
 * Returns the buffers filled; vq_should_notify follows, as after
 * vq_push_burst. A buffer the driver offers twice in one call fails the
 * queue (HEAD_BUSY) as vq_pop_burst would, and nothing is filled.
 */
unsigned vq_fill_burst(struct vq *vq, const void *hdr, uint32_t hdr_len,
		       const void *const *data, const uint32_t *len, unsigned n);

/*
 * The same short way for transmit buffers that are each one direct,
 * readable descriptor of at most `max` bytes, all of them mapped (what
 * drivers post for small and medium packets): vq_take_burst finds up to
 * n (at most 64) at the front of the ring and describes them in b[]; the
 * caller reads b[i].len bytes at b[i].va and then completes them all with
 * vq_take_done (nothing written: used length 0), before any other call on
 * the queue. It stops where vq_fill_burst does (and at a buffer that is
 * writable, empty or longer than max): the caller goes on the general
 * way, if *rest says there is anything left for it (false: the ring had
 * no other buffer available). Only while nothing is in flight; else 0.
 * vq_should_notify follows vq_take_done, as after vq_push_burst. A
 * buffer offered twice in one call fails the queue as with
 * vq_fill_burst.
 */
struct vq_buf {
	uint8_t *va;     /* the buffer, mapped */
	uint64_t iova;
	uint32_t len;    /* take: the buffer's bytes; fill: the bytes written */
	uint16_t id;     /* split: the head; packed: the buffer id */
	uint16_t pos;    /* packed: the descriptor's position */
};
unsigned vq_take_burst(struct vq *vq, struct vq_buf *b, unsigned n, uint32_t max,
		       bool *rest);
void vq_take_done(struct vq *vq, const struct vq_buf *b, unsigned n);

/* Once per burst after vq_push_burst: must the driver be interrupted? */
bool vq_should_notify(struct vq *vq);

/* Kick (available buffer notification) suppression. */
void vq_notify_disable(struct vq *vq);
/* Re-arm kicks; true when buffers arrived meanwhile (do not sleep). */
bool vq_notify_enable(struct vq *vq);

/* Copy from the readable / into the writable part of a chain, starting at
 * byte `off` of that part. Returns bytes copied. Writes mark the dirty log.
 * The common case (the bytes lie in the part's first segment, which is
 * mapped, and the DMA table is the one the chain was walked in) is inline. */
uint32_t vq_chain_copy(const struct vq *vq, const struct vq_chain *c,
		       bool to_chain, uint32_t off, void *buf, uint32_t len);

static inline uint32_t vq_chain_read(const struct vq *vq,
				     const struct vq_chain *c, uint32_t off,
				     void *dst, uint32_t len)
{
	if (__builtin_expect(c->nread != 0, 1)) {
		const struct vq_seg *s = &c->seg[0];
		if (s->va && len <= s->len && off <= s->len - len &&
		    c->gen == dma_space_table(vq->dma)->gen) {
			__builtin_memcpy(dst, (uint8_t *)s->va + off, len);
			return len;
		}
	}
	return vq_chain_copy(vq, c, false, off, dst, len);
}

static inline uint32_t vq_chain_write(const struct vq *vq,
				      const struct vq_chain *c, uint32_t off,
				      const void *src, uint32_t len)
{
	if (__builtin_expect(c->nseg > c->nread, 1)) {
		const struct vq_seg *s = &c->seg[c->nread];
		const struct dma_table *t = dma_space_table(vq->dma);
		if (s->va && len <= s->len && off <= s->len - len &&
		    c->gen == t->gen) {
			__builtin_memcpy((uint8_t *)s->va + off, src, len);
			dma_mark_dirty(t, s->iova + off, len);
			return len;
		}
	}
	return vq_chain_copy(vq, c, true, off, (void *)src, len);
}

/* Migration. vq_save fills `st` (vq_state_bytes(size) bytes). vq_load
 * sets up a torn-down (or zeroed) queue from a saved state; it checks the
 * state (size, flags, enable, head ids, duplicates, the avail/used/in-flight
 * invariant, ring alignment) and returns -EINVAL, leaving the queue
 * untouched, when it does not fit. Ring addresses are checked against the
 * DMA table at the first burst, as after vq_setup (memory may be mapped
 * after the state is loaded). Chains in flight at the source are popped
 * again, oldest first, before anything new in the avail ring. */
int vq_save(const struct vq *vq, struct vq_state *st);
int vq_load(struct vq *vq, struct dma_space *dma, const struct vq_state *st,
	    const char *name);

/*
 * In-flight recording (vhost-user INFLIGHT_SHMFD): control thread, on a
 * queue just set up (vq_setup/vq_load, nothing in flight, no burst yet),
 * with `area` one queue's area of the region (len >= vq_inflight_bytes,
 * 8-byte aligned; it must stay mapped until vq_teardown).
 *
 * A fresh area (version 0) is initialized at the queue's position. An
 * area a previous back end left (version 1) is read once, every field
 * checked, and recovered as vhost-user.rst says: the last batch of used
 * heads fixed up (split) or the interrupted update committed or rolled
 * back (packed); the chains it shows in flight are popped again first, in
 * the order they were popped, and the queue resumes behind them (split:
 * its used index is the one vq_load was given, read from the used ring;
 * packed: the position recorded in the area replaces the loaded one). An
 * area that does not check out is logged (rate-limited), initialized
 * afresh, and the queue starts where it was loaded, resubmitting nothing.
 *
 * From then on every chain popped is recorded before vq_pop_burst
 * returns it and cleared as vq_push_burst completes it, in the spec's
 * order; the area is only written, never read, while the queue runs.
 * vq_reset starts the area afresh; vq_teardown lets go of it.
 *
 * Returns the number of chains to resubmit, or -EINVAL (area too small or
 * misaligned), -EBUSY (chains already in flight), -ENOMEM: not attached.
 */
int vq_inflight_attach(struct vq *vq, void *area, size_t len);

static inline bool vq_inflight_on(const struct vq *vq) { return vq->ifl != NULL; }

#endif /* VIRTNET_VIRTQ_H */
