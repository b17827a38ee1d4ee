/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user back end of a virtio-net function (hal_vhost_user.h).
 *
 * One table, indexed by request, states each message's policy: payload
 * size bounds, fds accepted and required, whether an owner and which
 * protocol feature it needs, whether it always replies. hal_vhu_handle
 * checks all of that before a handler reads a payload byte; handlers copy
 * the payload into local structs (sizes already checked) and either apply
 * a message completely or refuse it. fds a handler does not take are
 * closed on the way out.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dma.h"
#include "hal_log.h"
#include "hal_sock.h"
#include "hal_vhost_user.h"
#include "virtio_dev.h"
#include "virtio_net.h"
#include "virtq.h"

#define COMP "vhost-user"
#define BIT(b) (1ull << (b))

#define LOG_PAGE_SHIFT 12 /* VHOST_LOG_PAGE 0x1000 */
#define STATUS_FEATURES_OK 8

/* The protocol features offered (plus MTU when VIRTIO_NET_F_MTU is). Not
 * BACKEND_REQ, not IOTLB-related ones. */
#define PF_OFFERED \
	(BIT(HAL_VHU_PF_MQ) | BIT(HAL_VHU_PF_LOG_SHMFD) | BIT(HAL_VHU_PF_RARP) | \
	 BIT(HAL_VHU_PF_REPLY_ACK) | BIT(HAL_VHU_PF_CONFIG) | \
	 BIT(HAL_VHU_PF_INFLIGHT_SHMFD) | BIT(HAL_VHU_PF_RESET_DEVICE) | \
	 BIT(HAL_VHU_PF_CONFIGURE_MEM_SLOTS) | BIT(HAL_VHU_PF_STATUS))

#define VHU_BITS (BIT(HAL_VHU_F_LOG_ALL) | BIT(HAL_VHU_F_PROTOCOL_FEATURES))

/* ---- wire formats (native byte order, vhost-user.rst) ------------------ */
struct vhu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

struct vhu_state {
	uint32_t index;
	uint32_t num;
};

struct vhu_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc; /* front-end virtual addresses */
	uint64_t used;
	uint64_t avail;
	uint64_t log;  /* guest physical address of the used ring, for the log */
};

struct vhu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t mmap_offset;
};

struct vhu_log {
	uint64_t size;
	uint64_t offset;
};

struct vhu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
}; /* 24 bytes with the tail padding front ends send */

struct vhu_config_hdr {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
};

_Static_assert(sizeof(struct vhu_hdr) == HAL_VHU_HDR_SIZE, "header");
_Static_assert(sizeof(struct vhu_addr) == 40, "vring address");
_Static_assert(sizeof(struct vhu_region) == 32, "region");
_Static_assert(sizeof(struct vhu_inflight) == 24, "inflight");
_Static_assert(8 + HAL_VHU_MEM_TABLE_MAX * 32 <= HAL_VHU_MAX_PAYLOAD, "mem table");
_Static_assert(12 + HAL_VHU_CONFIG_MAX == HAL_VHU_MAX_PAYLOAD, "config");

/* ---- device state ------------------------------------------------------- */
struct mem_region {
	uint64_t gpa, size, uaddr, mmap_offset;
	void *map;       /* mmap of [0, mmap_offset + size) of fd */
	size_t map_len;
	int fd;
	unsigned refs;   /* ADD_MEM_REG of this very region, not yet removed */
};

struct ring {
	struct vq vq;            /* valid while vq_valid */
	uint64_t desc_ua, avail_ua, used_ua, log_gpa;
	uint64_t desc_gpa, avail_gpa, used_gpa; /* translated at setup */
	uint32_t base;           /* SET_VRING_BASE, raw */
	uint32_t addr_flags;
	uint16_t num;
	bool addr_set;
	bool started;            /* kick fd received; cleared by GET_VRING_BASE */
	bool enabled;            /* SET_VRING_ENABLE (or no PROTOCOL_FEATURES) */
	bool vq_valid;           /* vq set up, holds the ring's position */
	bool running;            /* handed to ops->ring_start */
	int kick_fd, call_fd, err_fd;
	char name[48];
} __attribute__((aligned(64)));

/* A mapped fd (log, in-flight region). */
struct fd_map {
	void *map;
	size_t len;
	int fd;
};

struct hal_vhu_dev {
	char name[32];
	struct hal_vhu_params p;
	struct hal_vhu_ops ops;
	void *ctx;
	struct dma_space *dma;
	uint16_t nrings;
	struct ring *rings;

	/* negotiated (forgotten at disconnect) */
	bool owner;
	bool features_set;
	uint64_t offered, acked;
	uint64_t pf_offered, pf_acked;
	uint8_t status;
	uint16_t mtu;

	struct mem_region mem[HAL_VHU_MAX_MEM_SLOTS];
	unsigned nmem;

	struct fd_map log;        /* SET_LOG_BASE */
	uint8_t *log_bitmap;      /* log.map + offset */
	uint64_t log_size;
	bool logging;             /* dma_space in shared log mode */
	int log_event_fd;         /* SET_LOG_FD */

	struct fd_map infl;       /* GET/SET_INFLIGHT_FD */
	uint64_t infl_offset, infl_size;
	uint16_t infl_nq, infl_qs;

	/* the message being received by hal_vhu_serve */
	uint8_t rx[HAL_VHU_MSG_MAX];
	struct hal_sock_rx in;
};

/* One message while it is handled. */
struct msg {
	const struct handler *h;
	uint32_t request, flags, size;
	const uint8_t *payload;
	int *fds;           /* a handler takes fds[i] by setting it to -1 */
	unsigned nfds;
	uint8_t *reply;     /* reply payload (after the header) */
	uint32_t reply_size;
	bool reply_set;     /* the handler wrote the reply (also on failure) */
	int reply_fd;
};

#define H_REPLY 1u /* always replies */
#define H_OWNER 2u /* needs SET_OWNER first */

struct handler {
	const char *name;
	int (*fn)(struct hal_vhu_dev *d, struct msg *m);
	uint16_t min, max; /* payload size bounds */
	uint8_t max_fds;   /* fds it may take (others are closed) */
	uint8_t need_fds;  /* fds it requires (variable ones: checked inside) */
	uint8_t flags;     /* H_* */
	int8_t pf;         /* protocol feature it needs, or -1 */
};

#define REFUSE HAL_SOCK_REFUSE

static void reply_u64(struct msg *m, uint64_t v)
{
	memcpy(m->reply, &v, sizeof(v));
	m->reply_size = sizeof(v);
	m->reply_set = true;
}

static uint64_t payload_u64(const struct msg *m)
{
	uint64_t v;

	memcpy(&v, m->payload, sizeof(v));
	return v;
}

static void fd_map_release(struct fd_map *f)
{
	if (f->map)
		munmap(f->map, f->len);
	f->map = NULL;
	f->len = 0;
	hal_close_fd(&f->fd);
}

/* Map [0, len) of a front-end fd read/write, shared (hal_map_fd's
 * checks: sealed against shrinking, regular, long enough). */
static int map_fd(struct hal_vhu_dev *d, const char *what, int fd,
		  uint64_t len, void **map)
{
	size_t base_len;
	void *base;

	return hal_map_fd(d->name, what, fd, 0, len, true, d->p.require_sealed,
			  &base, &base_len, map);
}

/* ---- memory table ------------------------------------------------------- */

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a <= b + (blen - 1) && b <= a + (alen - 1);
}

/* Sanity of one region description (not yet against the table). */
static int region_check(struct hal_vhu_dev *d, const struct vhu_region *r,
			unsigned i)
{
	if (r->size == 0 || r->gpa + r->size - 1 < r->gpa ||
	    r->uaddr + r->size - 1 < r->uaddr ||
	    r->mmap_offset + r->size < r->mmap_offset) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP,
			   "%s: memory region %u (gpa 0x%" PRIx64 " size 0x%" PRIx64
			   ") refused: empty or wrapping", d->name, i, r->gpa, r->size);
		return EINVAL;
	}
	/* dma_map wants the local address congruent to the IOVA modulo 16;
	 * the mapping starts page aligned. */
	if ((r->mmap_offset ^ r->gpa) & 15) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP,
			   "%s: memory region %u (gpa 0x%" PRIx64
			   ") refused: mmap offset 0x%" PRIx64 " not congruent to it mod 16",
			   d->name, i, r->gpa, r->mmap_offset);
		return EINVAL;
	}
	return 0;
}

/* r is the region m describes, and fd the same file m maps. */
static bool region_same(const struct vhu_region *r, int fd, const struct mem_region *m)
{
	struct stat a, b;

	return r->gpa == m->gpa && r->size == m->size && r->uaddr == m->uaddr &&
	       r->mmap_offset == m->mmap_offset && fd >= 0 &&
	       fstat(fd, &a) == 0 && fstat(m->fd, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static bool region_overlaps(const struct vhu_region *r, const struct mem_region *m)
{
	return ranges_overlap(r->gpa, r->size, m->gpa, m->size) ||
	       ranges_overlap(r->uaddr, r->size, m->uaddr, m->size);
}

/* mmap a checked region's fd (taken: closed on failure). */
static int region_map(struct hal_vhu_dev *d, const struct vhu_region *r,
		      int fd, unsigned i, struct mem_region *out)
{
	char what[96];
	void *map;
	int rc;

	snprintf(what, sizeof(what), "memory region %u (gpa 0x%" PRIx64 " size 0x%" PRIx64 ")",
		 i, r->gpa, r->size);
	rc = map_fd(d, what, fd, r->mmap_offset + r->size, &map);
	if (rc) {
		close(fd);
		return rc;
	}
	*out = (struct mem_region){
		.gpa = r->gpa, .size = r->size, .uaddr = r->uaddr,
		.mmap_offset = r->mmap_offset, .map = map,
		.map_len = (size_t)(r->mmap_offset + r->size), .fd = fd, .refs = 1,
	};
	return 0;
}

static void region_release(struct mem_region *m)
{
	if (m->map)
		munmap(m->map, m->map_len);
	m->map = NULL;
	hal_close_fd(&m->fd);
}

/* Put a mapped region into the table and the dma_space (taken either way). */
static int region_install(struct hal_vhu_dev *d, struct mem_region *m)
{
	int rc = dma_map(d->dma, m->gpa, m->size, (uint8_t *)m->map + m->mmap_offset,
			 DMA_PROT_READ | DMA_PROT_WRITE);

	if (rc || d->nmem == HAL_VHU_MAX_MEM_SLOTS) {
		if (!rc)
			dma_unmap(d->dma, m->gpa, m->size);
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: memory region gpa 0x%" PRIx64
			   " refused: dma_map: %s", d->name, m->gpa,
			   strerror(rc ? -rc : ENOSPC));
		region_release(m);
		return rc ? -rc : ENOSPC;
	}
	d->mem[d->nmem++] = *m;
	return 0;
}

/* Remove table entry i: unmap from the dma_space (waits for the grace
 * period), then munmap and close. Rings must be stopped. */
static void region_remove(struct hal_vhu_dev *d, unsigned i)
{
	struct mem_region *m = &d->mem[i];

	dma_unmap(d->dma, m->gpa, m->size);
	region_release(m);
	d->mem[i] = d->mem[--d->nmem];
}

/* Front-end virtual address -> guest physical, for [ua, ua+len) inside
 * one region. */
static bool ua_to_gpa(const struct hal_vhu_dev *d, uint64_t ua, uint64_t len,
		      uint64_t *gpa)
{
	for (unsigned i = 0; i < d->nmem; i++) {
		const struct mem_region *m = &d->mem[i];
		if (ua >= m->uaddr && ua - m->uaddr < m->size &&
		    len <= m->size - (ua - m->uaddr)) {
			*gpa = m->gpa + (ua - m->uaddr);
			return true;
		}
	}
	return false;
}

/* ---- rings -------------------------------------------------------------- */

static bool packed(const struct hal_vhu_dev *d)
{
	return d->acked & BIT(VIRTIO_F_RING_PACKED);
}

static uint32_t vq_flags(const struct hal_vhu_dev *d)
{
	uint32_t f = 0;

	if (d->acked & BIT(VIRTIO_F_EVENT_IDX))
		f |= VQ_F_EVENT_IDX;
	if (d->acked & BIT(VIRTIO_F_INDIRECT_DESC))
		f |= VQ_F_INDIRECT;
	if (d->acked & BIT(VIRTIO_F_IN_ORDER))
		f |= VQ_F_IN_ORDER;
	if (packed(d))
		f |= VQ_F_PACKED;
	return f;
}

/* Translate the ring's three areas; each must lie in one region. */
static bool ring_translate(const struct hal_vhu_dev *d, const struct ring *r,
			   uint16_t num, uint64_t gpa[3])
{
	uint64_t len[3];

	if (packed(d)) {
		len[0] = 16ull * num;
		len[1] = len[2] = sizeof(struct vq_event);
	} else {
		len[0] = vq_desc_bytes(num);
		len[1] = vq_avail_bytes(num);
		len[2] = vq_used_bytes(num);
	}
	return ua_to_gpa(d, r->desc_ua, len[0], &gpa[0]) &&
	       ua_to_gpa(d, r->avail_ua, len[1], &gpa[1]) &&
	       ua_to_gpa(d, r->used_ua, len[2], &gpa[2]);
}

static bool ring_want(const struct hal_vhu_dev *d, const struct ring *r)
{
	return r->started && r->enabled && d->features_set && r->num &&
	       r->addr_set;
}

/* Take a running ring back from the owner (the vq keeps its position). */
static void ring_halt(struct hal_vhu_dev *d, uint16_t i)
{
	struct ring *r = &d->rings[i];

	if (r->running) {
		d->ops.ring_stop(d->ctx, i, &r->vq);
		r->running = false;
	}
}

static void halt_all(struct hal_vhu_dev *d)
{
	for (uint16_t i = 0; i < d->nrings; i++)
		ring_halt(d, i);
}

/*
 * Set the vq up at the SET_VRING_BASE position. Split: the next avail
 * index is the base, the next used index is read from the used ring in
 * memory (vhost-user.rst, SET_VRING_BASE). Packed: both come in the base
 * (bits 0-14 avail index, 15 its wrap counter, 16-30 used index, 31 its
 * wrap counter). Without an in-flight region, chains in flight at the
 * previous owner (avail != used) cannot be named, so the ring restarts at
 * the used index: they are popped again (a net device may resend a frame
 * or reuse a receive buffer; losing them would leak ring slots forever).
 * With one (GET/SET_INFLIGHT_FD before the ring starts), the ring records
 * into its area, and the chains a previous back end left in flight there
 * are popped again first, in pop order, with the ring resuming behind
 * them (vq_inflight_attach; packed: at the area's position, which a front
 * end that lost its back end cannot know). A ring whose area is refused
 * runs unrecorded, its area marked fresh.
 */
static void *ring_inflight_area(struct hal_vhu_dev *d, uint16_t i, size_t *len)
{
	uint64_t stride;

	if (!d->infl.map)
		return NULL;
	/* Laid out for the queue size the front end named; the ring may be
	 * smaller (a larger one's area is refused in ring_setup). Packed
	 * or not is known now (checked at SET_INFLIGHT_FD with what was
	 * negotiated then). */
	stride = vq_inflight_bytes(d->infl_qs, packed(d));
	if (i >= d->infl_nq || (uint64_t)(i + 1) * stride > d->infl_size) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP,
			   "%s: ring %u (size %u) not in the in-flight region (%u queues of %u, %"
			   PRIu64 " bytes): not recorded", d->name, i, d->rings[i].num,
			   d->infl_nq, d->infl_qs, d->infl_size);
		return NULL;
	}
	*len = (size_t)stride;
	return (uint8_t *)d->infl.map + d->infl_offset + i * stride;
}

/*
 * Ring i has an area but does not record into it (the engine refused it:
 * too small, misaligned, -ENOMEM). What a previous back end recorded
 * there (version 1) must not survive: a later back end would trust it
 * although this ring ran on unrecorded. Version 0 (at the same offset in
 * both layouts) says fresh; stored before the ring starts.
 */
static void ring_inflight_void(struct hal_vhu_dev *d, uint16_t i, void *area, int err)
{
	uint8_t *v = (uint8_t *)area + offsetof(struct vq_ifl_split, version);

	if (!((uintptr_t)v & 1)) {
		/* Release: pairs with the acquire load of version in
		 * vq_inflight_attach. */
		__atomic_store_n((uint16_t *)(void *)v, 0, __ATOMIC_RELEASE);
	} else { /* an odd mmap_offset: byte by byte */
		__atomic_thread_fence(__ATOMIC_RELEASE);
		__atomic_store_n(&v[0], 0, __ATOMIC_RELAXED);
		__atomic_store_n(&v[1], 0, __ATOMIC_RELAXED);
	}
	HAL_LOG_RL(HAL_LOG_WARN, COMP,
		   "%s: ring %u (size %u): in-flight area (queues of %u, at offset %" PRIu64
		   ") not used: %s; marked fresh, the ring is not recorded",
		   d->name, i, d->rings[i].num, d->infl_qs,
		   (uint64_t)((uint8_t *)area - (uint8_t *)d->infl.map), strerror(-err));
}

static int ring_setup(struct hal_vhu_dev *d, uint16_t i, const uint64_t gpa[3])
{
	struct ring *r = &d->rings[i];
	struct vq_state st = {
		.size = r->num, .enabled = 1, .vector = VQ_NO_VECTOR,
		.flags = vq_flags(d), .desc_addr = gpa[0], .avail_addr = gpa[1],
		.used_addr = gpa[2],
	};
	uint16_t avail, used;
	int rc;

	if (packed(d)) {
		uint16_t apos = r->base & 0x7fff, upos = (r->base >> 16) & 0x7fff;
		bool awrap = r->base & 0x8000, uwrap = r->base >> 31;

		if ((r->base >> 16) == 0) { /* front end without the used half */
			upos = apos;
			uwrap = awrap;
		}
		if (apos >= r->num || upos >= r->num) {
			HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: ring %u: base 0x%x beyond size %u",
				   d->name, i, r->base, r->num);
			return EINVAL;
		}
		avail = awrap ? apos : (uint16_t)(apos + r->num);
		used = uwrap ? upos : (uint16_t)(upos + r->num);
	} else {
		const struct dma_table *t = dma_space_table(d->dma);
		const vle16 *p;

		if (gpa[2] & 3) {
			HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: ring %u: used ring misaligned",
				   d->name, i);
			return EINVAL;
		}
		p = dma_ptr(t, gpa[2] + offsetof(struct vq_used, idx), 2, DMA_PROT_READ);
		if (!p)
			return EFAULT;
		avail = (uint16_t)r->base;
		/* Relaxed: the ring is stopped on the driver's side as far as
		 * this index goes (only the device writes it). */
		used = vle16_to_cpu(__atomic_load_n(p, __ATOMIC_RELAXED));
	}
	st.last_avail_idx = st.last_used_idx = used;
	rc = vq_load(&r->vq, d->dma, &st, r->name);
	if (rc) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: ring %u: cannot set up (size %u, %s)",
			   d->name, i, r->num, strerror(-rc));
		return -rc;
	}
	size_t alen = 0;
	void *area = ring_inflight_area(d, i, &alen);
	/* A ring larger than the queue size the region was laid out for is
	 * refused as the engine refuses an area too small. */
	int n = !area ? -ENOENT : r->num > d->infl_qs ? -EINVAL
		: vq_inflight_attach(&r->vq, area, alen);
	if (n < 0 && area)
		ring_inflight_void(d, i, area, n);
	if (n > 0)
		HAL_LOG_RL(HAL_LOG_INFO, COMP,
			   "%s: ring %u: %d chains in flight at the previous back end go first",
			   d->name, i, n);
	if (n >= 0 && avail != r->vq.last_avail)
		HAL_LOG_RL(HAL_LOG_INFO, COMP,
			   "%s: ring %u: base %u, in-flight region %u: resuming at the region's",
			   d->name, i, avail, r->vq.last_avail);
	else if (n < 0 && avail != used)
		HAL_LOG_RL(HAL_LOG_WARN, COMP,
			   "%s: ring %u: avail index %u != used index %u: restarting at %u",
			   d->name, i, avail, used, used);
	r->desc_gpa = gpa[0];
	r->avail_gpa = gpa[1];
	r->used_gpa = gpa[2];
	r->vq_valid = true;
	return 0;
}

/* Start or stop ring i as its state says. 0 or a positive errno. */
static int ring_update(struct hal_vhu_dev *d, uint16_t i)
{
	struct ring *r = &d->rings[i];
	uint64_t gpa[3];
	int rc;

	if (!ring_want(d, r)) {
		ring_halt(d, i);
		return 0;
	}
	if (r->running)
		return 0;
	if (!ring_translate(d, r, r->num, gpa)) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP,
			   "%s: ring %u not started: ring addresses outside the memory table",
			   d->name, i);
		return EFAULT;
	}
	if (r->vq_valid && (gpa[0] != r->desc_gpa || gpa[1] != r->avail_gpa ||
			    gpa[2] != r->used_gpa)) {
		/* The memory table moved the ring under a live position. */
		HAL_LOG_RL(HAL_LOG_WARN, COMP,
			   "%s: ring %u not restarted: the memory table moved it",
			   d->name, i);
		return EFAULT;
	}
	if (!r->vq_valid && (rc = ring_setup(d, i, gpa)))
		return rc;
	rc = d->ops.ring_start(d->ctx, i, &r->vq, r->kick_fd);
	if (rc) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: ring %u: owner refused to start it (%d)",
			   d->name, i, rc);
		return rc < 0 ? -rc : EIO;
	}
	r->running = true;
	return 0;
}

static int update_all(struct hal_vhu_dev *d)
{
	int rc = 0;

	for (uint16_t i = 0; i < d->nrings; i++) {
		int e = ring_update(d, i);
		if (e && !rc && ring_want(d, &d->rings[i]))
			rc = e;
	}
	return rc;
}

static void set_call_fd(struct hal_vhu_dev *d, uint16_t i, int fd)
{
	struct ring *r = &d->rings[i];

	if (fd == r->call_fd)
		return;
	if (d->ops.ring_call)
		d->ops.ring_call(d->ctx, i, fd);
	hal_close_fd(&r->call_fd);
	r->call_fd = fd;
}

/* Back to the state of a fresh connection: stopped, no fds, no config. */
static void ring_reset(struct hal_vhu_dev *d, uint16_t i)
{
	struct ring *r = &d->rings[i];

	ring_halt(d, i);
	if (r->vq_valid)
		vq_teardown(&r->vq);
	set_call_fd(d, i, -1);
	hal_close_fd(&r->kick_fd);
	hal_close_fd(&r->err_fd);
	r->desc_ua = r->avail_ua = r->used_ua = r->log_gpa = 0;
	r->desc_gpa = r->avail_gpa = r->used_gpa = 0;
	r->base = r->addr_flags = 0;
	r->num = 0;
	r->addr_set = r->started = r->enabled = r->vq_valid = r->running = false;
}

static struct ring *ring_of(struct hal_vhu_dev *d, struct msg *m, uint32_t idx)
{
	if (idx >= d->nrings) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: %s refused: ring %u (the device has %u)",
			   d->name, m->h->name, idx, d->nrings);
		return NULL;
	}
	return &d->rings[idx];
}

/* ---- dirty log ---------------------------------------------------------- */

/* Logging is on while LOG_ALL is acked and a log base is set. */
static int log_update(struct hal_vhu_dev *d)
{
	bool want = (d->acked & BIT(HAL_VHU_F_LOG_ALL)) && d->log_bitmap;
	int rc;

	if (want) {
		rc = dma_log_start_shared(d->dma, d->log_bitmap, d->log_size);
		if (rc) {
			HAL_LOG_RL(HAL_LOG_ERR, COMP, "%s: dirty log not started: %s",
				   d->name, strerror(-rc));
			return -rc;
		}
		d->logging = true;
	} else if (d->logging) {
		dma_log_stop(d->dma);
		d->logging = false;
	}
	return 0;
}

/* ---- handlers ----------------------------------------------------------- */

static int h_get_features(struct hal_vhu_dev *d, struct msg *m)
{
	reply_u64(m, d->offered);
	return 0;
}

static int h_set_features(struct hal_vhu_dev *d, struct msg *m)
{
	uint64_t f = payload_u64(m);

	if (f & ~d->offered)
		REFUSE(d, m, EINVAL, "bits 0x%" PRIx64 " not offered", f & ~d->offered);
	for (uint16_t i = 0; i < d->nrings; i++)
		if (d->rings[i].vq_valid && ((f ^ d->acked) & ~BIT(HAL_VHU_F_LOG_ALL)))
			REFUSE(d, m, EBUSY, "features change while ring %u is set up", i);
	d->acked = f;
	d->features_set = true;
	/* Without PROTOCOL_FEATURES every ring is enabled at once
	 * (vhost-user.rst, Ring states). */
	if (!(f & BIT(HAL_VHU_F_PROTOCOL_FEATURES)))
		for (uint16_t i = 0; i < d->nrings; i++)
			d->rings[i].enabled = true;
	if (d->ops.features)
		d->ops.features(d->ctx, f & ~VHU_BITS);
	int rc = log_update(d);
	int rc2 = update_all(d);
	return rc ? rc : rc2;
}

static int h_set_owner(struct hal_vhu_dev *d, struct msg *m)
{
	(void)m;
	d->owner = true;
	return 0;
}

/* Deprecated; the rst recommends ignoring it or disabling every ring. */
static int h_reset_owner(struct hal_vhu_dev *d, struct msg *m)
{
	(void)m;
	for (uint16_t i = 0; i < d->nrings; i++) {
		d->rings[i].enabled = false;
		ring_update(d, i);
	}
	return 0;
}

static int h_get_protocol_features(struct hal_vhu_dev *d, struct msg *m)
{
	reply_u64(m, d->pf_offered);
	return 0;
}

static int h_set_protocol_features(struct hal_vhu_dev *d, struct msg *m)
{
	uint64_t f = payload_u64(m);

	if (f & ~d->pf_offered)
		REFUSE(d, m, EINVAL, "bits 0x%" PRIx64 " not offered", f & ~d->pf_offered);
	d->pf_acked = f;
	return 0;
}

/* For a net device front ends read this as queue pairs (QEMU compares it
 * with its queues= pairs; DPDK answers its max queue pairs). */
static int h_get_queue_num(struct hal_vhu_dev *d, struct msg *m)
{
	reply_u64(m, d->p.max_queue_pairs);
	return 0;
}

static int h_get_max_mem_slots(struct hal_vhu_dev *d, struct msg *m)
{
	(void)d;
	reply_u64(m, HAL_VHU_MAX_MEM_SLOTS);
	return 0;
}

static int h_set_mem_table(struct hal_vhu_dev *d, struct msg *m)
{
	struct vhu_region r[HAL_VHU_MEM_TABLE_MAX];
	struct mem_region nm[HAL_VHU_MEM_TABLE_MAX];
	uint32_t n;
	unsigned i, j;
	int rc = 0;

	memcpy(&n, m->payload, sizeof(n));
	if (n > HAL_VHU_MEM_TABLE_MAX)
		REFUSE(d, m, EINVAL, "%u regions (at most %u)", n, HAL_VHU_MEM_TABLE_MAX);
	if (m->size < 8 + n * sizeof(struct vhu_region))
		REFUSE(d, m, EINVAL, "%u bytes for %u regions", m->size, n);
	if (m->nfds != n)
		REFUSE(d, m, EINVAL, "%u regions but %u fds", n, m->nfds);
	memcpy(r, m->payload + 8, n * sizeof(struct vhu_region));
	for (i = 0; i < n; i++) {
		if ((rc = region_check(d, &r[i], i)))
			return rc;
		for (j = 0; j < i; j++)
			if (ranges_overlap(r[i].gpa, r[i].size, r[j].gpa, r[j].size) ||
			    ranges_overlap(r[i].uaddr, r[i].size, r[j].uaddr, r[j].size))
				REFUSE(d, m, EINVAL, "regions %u and %u overlap", j, i);
	}
	/* Map the new table before touching the old one: a refusal leaves
	 * the old table in force. */
	for (i = 0; i < n; i++) {
		if ((rc = region_map(d, &r[i], hal_fd_take(&m->fds[i]), i, &nm[i]))) {
			while (i--)
				region_release(&nm[i]);
			return rc;
		}
	}
	/* Rings may hold pointers into the old table: stop them, unmap
	 * (dma_unmap waits for the grace period), munmap, close. */
	halt_all(d);
	while (d->nmem)
		region_remove(d, d->nmem - 1);
	for (i = 0; i < n; i++) {
		int e = region_install(d, &nm[i]);
		if (e && !rc)
			rc = e;
	}
	int e = update_all(d);
	return rc ? rc : e;
}

static int h_add_mem_reg(struct hal_vhu_dev *d, struct msg *m)
{
	struct vhu_region r;
	struct mem_region nm;
	int rc;

	memcpy(&r, m->payload + 8, sizeof(r));
	if ((rc = region_check(d, &r, d->nmem)))
		return rc;
	/* QEMU (7.2) sends a multiqueue net device's regions once per queue
	 * pair: adding the very region again (same addresses, same file) is
	 * counted, and each REM_MEM_REG takes one count. */
	for (unsigned i = 0; i < d->nmem; i++)
		if (region_same(&r, m->fds[0], &d->mem[i]) && d->mem[i].refs < UINT_MAX) {
			d->mem[i].refs++;
			hal_close_fd(&m->fds[0]);
			return 0;
		}
	if (d->nmem == HAL_VHU_MAX_MEM_SLOTS)
		REFUSE(d, m, ENOSPC, "all %u memory slots in use", HAL_VHU_MAX_MEM_SLOTS);
	for (unsigned i = 0; i < d->nmem; i++)
		if (region_overlaps(&r, &d->mem[i]))
			REFUSE(d, m, EEXIST, "region gpa 0x%" PRIx64 " overlaps gpa 0x%" PRIx64,
			       r.gpa, d->mem[i].gpa);
	if ((rc = region_map(d, &r, hal_fd_take(&m->fds[0]), d->nmem, &nm)))
		return rc;
	/* Adding memory unmaps nothing: running rings go on. */
	if ((rc = region_install(d, &nm)))
		return rc;
	if (d->logging && ((r.gpa + r.size - 1) >> LOG_PAGE_SHIFT) >= d->log_size * 8)
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: region gpa 0x%" PRIx64
			   " reaches beyond the dirty log", d->name, r.gpa);
	update_all(d);
	return 0;
}

/* The region is named by gpa, user address and size; an fd, if any, is
 * closed unused (the rst allows one for compatibility). */
static int h_rem_mem_reg(struct hal_vhu_dev *d, struct msg *m)
{
	struct vhu_region r;
	unsigned i;

	memcpy(&r, m->payload + 8, sizeof(r));
	for (i = 0; i < d->nmem; i++)
		if (d->mem[i].gpa == r.gpa && d->mem[i].uaddr == r.uaddr &&
		    d->mem[i].size == r.size)
			break;
	if (i == d->nmem)
		REFUSE(d, m, ENOENT, "no region gpa 0x%" PRIx64 " size 0x%" PRIx64,
		       r.gpa, r.size);
	if (d->mem[i].refs > 1) {	/* added more than once: still in use */
		d->mem[i].refs--;
		return 0;
	}
	/* Any running ring may have buffers in it. */
	halt_all(d);
	region_remove(d, i);
	update_all(d); /* rings with a ring in the region stay stopped */
	return 0;
}

static int h_set_log_base(struct hal_vhu_dev *d, struct msg *m)
{
	struct vhu_log l;
	struct fd_map old = d->log, nl = { .fd = -1 };
	int rc;

	reply_u64(m, 1); /* until it succeeds */
	memcpy(&l, m->payload, sizeof(l));
	if (l.size == 0 || l.offset + l.size < l.offset)
		REFUSE(d, m, EINVAL, "log size 0x%" PRIx64 " offset 0x%" PRIx64,
		       l.size, l.offset);
	if (l.size > (UINT64_MAX >> 3))
		REFUSE(d, m, EINVAL, "log size 0x%" PRIx64, l.size);
	for (unsigned i = 0; i < d->nmem; i++) {
		uint64_t last = (d->mem[i].gpa + d->mem[i].size - 1) >> LOG_PAGE_SHIFT;
		if (last >= l.size * 8)
			REFUSE(d, m, EINVAL, "log of 0x%" PRIx64 " bytes does not cover gpa 0x%"
			       PRIx64, l.size, d->mem[i].gpa + d->mem[i].size - 1);
	}
	nl.fd = hal_fd_take(&m->fds[0]);
	if ((rc = map_fd(d, "dirty log", nl.fd, l.offset + l.size, &nl.map))) {
		hal_close_fd(&nl.fd);
		return rc;
	}
	nl.len = (size_t)(l.offset + l.size);
	d->log = nl;
	d->log_bitmap = (uint8_t *)nl.map + l.offset;
	d->log_size = l.size;
	/* Switches a running log to the new bitmap and waits for the grace
	 * period: only then is the old one unmapped. */
	rc = log_update(d);
	fd_map_release(&old);
	if (!rc)
		reply_u64(m, 0);
	return rc;
}

/*
 * SET_LOG_FD: kept, never signalled. vhost-user.rst only says the
 * (optional) eventfd "may be used to inform the front-end that the log has
 * been modified"; Linux vhost (VHOST_SET_LOG_FD) and libvhost-user write it
 * after every log update. No front end asks for that: QEMU has no op that
 * sends SET_LOG_FD and reads the dirty log by polling it at each migration
 * iteration (vhost_log_sync), DPDK's virtio_user never sends it, and DPDK's
 * lib/vhost closes the fd ("not implemented"). Signalling it here would
 * mean an eventfd write per burst on every lcore that marks the log (the
 * marks happen in emu/dma on the datapath), or a flag there that the
 * control thread polls: cost for no reader. Should a front end ever need
 * it, the control thread is the place: on the vu snapshot timer, write the
 * fd when emu/dma reports pages marked since the last look. Until then the
 * fd is held (a replaced one closed), closed at disconnect.
 */
static int h_set_log_fd(struct hal_vhu_dev *d, struct msg *m)
{
	hal_close_fd(&d->log_event_fd);
	d->log_event_fd = hal_fd_take(&m->fds[0]);
	return 0;
}

static int h_set_vring_num(struct hal_vhu_dev *d, struct msg *m)
{
	struct vhu_state s;
	struct ring *r;

	memcpy(&s, m->payload, sizeof(s));
	if (!(r = ring_of(d, m, s.index)))
		return EINVAL;
	if (r->vq_valid)
		REFUSE(d, m, EBUSY, "ring %u is set up (GET_VRING_BASE first)", s.index);
	if (s.num == 0 || s.num > d->p.max_queue_size)
		REFUSE(d, m, EINVAL, "ring %u size %u (max %u)", s.index, s.num,
		       d->p.max_queue_size);
	/* A split ring's size is a power of two. Before SET_FEATURES the
	 * ring may still become packed if that is offered: checked again
	 * when the ring is set up. */
	bool may_pack = d->features_set ? packed(d)
					: (d->offered & BIT(VIRTIO_F_RING_PACKED));
	if ((s.num & (s.num - 1)) && !may_pack)
		REFUSE(d, m, EINVAL, "split ring %u size %u not a power of two",
		       s.index, s.num);
	r->num = (uint16_t)s.num;
	return 0;
}

static int h_set_vring_addr(struct hal_vhu_dev *d, struct msg *m)
{
	struct vhu_addr a;
	struct ring *r;
	uint64_t gpa[3];

	memcpy(&a, m->payload, sizeof(a));
	if (!(r = ring_of(d, m, a.index)))
		return EINVAL;
	if (a.flags & ~HAL_VHU_VRING_F_LOG)
		REFUSE(d, m, EINVAL, "ring %u flags 0x%x", a.index, a.flags);
	if (r->vq_valid) {
		/* Only the log flag may change under a set-up ring (front ends
		 * toggle it around migration). */
		if (a.desc != r->desc_ua || a.avail != r->avail_ua || a.used != r->used_ua)
			REFUSE(d, m, EBUSY, "ring %u moved while set up", a.index);
		r->addr_flags = a.flags;
		r->log_gpa = a.log;
		return 0;
	}
	struct ring tmp = { .desc_ua = a.desc, .avail_ua = a.avail, .used_ua = a.used };
	if (d->nmem && r->num && !ring_translate(d, &tmp, r->num, gpa))
		REFUSE(d, m, EFAULT, "ring %u addresses outside the memory table", a.index);
	r->desc_ua = a.desc;
	r->avail_ua = a.avail;
	r->used_ua = a.used;
	r->log_gpa = a.log;
	r->addr_flags = a.flags;
	r->addr_set = true;
	return ring_update(d, (uint16_t)a.index);
}

static int h_set_vring_base(struct hal_vhu_dev *d, struct msg *m)
{
	struct vhu_state s;
	struct ring *r;

	memcpy(&s, m->payload, sizeof(s));
	if (!(r = ring_of(d, m, s.index)))
		return EINVAL;
	if (r->vq_valid)
		REFUSE(d, m, EBUSY, "ring %u is set up (GET_VRING_BASE first)", s.index);
	r->base = s.num;
	return 0;
}

/* Stops the ring, then reads its position (vhost-user.rst). */
static int h_get_vring_base(struct hal_vhu_dev *d, struct msg *m)
{
	struct vhu_state s;
	struct ring *r;

	memcpy(&s, m->payload, sizeof(s));
	if (!(r = ring_of(d, m, s.index)))
		return EINVAL;
	ring_halt(d, (uint16_t)s.index);
	r->started = false;
	if (r->vq_valid) {
		const struct vq *q = &r->vq;
		if (q->flags & VQ_F_PACKED) {
			uint32_t a = vq_ctr_pos(q->last_avail, q->size) |
				     (vq_ctr_wrap(q->last_avail, q->size) ? 0x8000u : 0);
			uint32_t u = vq_ctr_pos(q->used_idx, q->size) |
				     (vq_ctr_wrap(q->used_idx, q->size) ? 0x8000u : 0);
			r->base = a | u << 16;
		} else {
			r->base = q->last_avail;
		}
		vq_teardown(&r->vq);
		r->vq_valid = false;
	}
	/* The kick fd belongs to the stopped ring: a restart sends a new one. */
	hal_close_fd(&r->kick_fd);
	s.num = r->base;
	memcpy(m->reply, &s, sizeof(s));
	m->reply_size = sizeof(s);
	m->reply_set = true;
	return 0;
}

/* KICK / CALL / ERR payload: ring index in bits 0-7, bit 8 no fd. */
static int vring_fd(struct hal_vhu_dev *d, struct msg *m, uint16_t *idx, int *fd)
{
	uint64_t v = payload_u64(m);

	if (v & ~(uint64_t)(HAL_VHU_VRING_IDX_MASK | HAL_VHU_VRING_NOFD))
		REFUSE(d, m, EINVAL, "payload 0x%" PRIx64, v);
	if (!ring_of(d, m, v & HAL_VHU_VRING_IDX_MASK))
		return EINVAL;
	*idx = v & HAL_VHU_VRING_IDX_MASK;
	if (v & HAL_VHU_VRING_NOFD) {
		*fd = -1; /* an fd sent anyway is closed */
		return 0;
	}
	if (m->nfds < 1)
		REFUSE(d, m, EINVAL, "ring %u: no fd", *idx);
	*fd = hal_fd_take(&m->fds[0]);
	return 0;
}

static int h_set_vring_kick(struct hal_vhu_dev *d, struct msg *m)
{
	uint16_t i;
	int fd, rc;

	if ((rc = vring_fd(d, m, &i, &fd)))
		return rc;
	struct ring *r = &d->rings[i];
	ring_halt(d, i); /* the owner lets go of the old fd */
	hal_close_fd(&r->kick_fd);
	r->kick_fd = fd;
	/* Started from here: the fd goes to the owner, who processes the
	 * ring once it is kicked (or polls). */
	r->started = true;
	return ring_update(d, i);
}

static int h_set_vring_call(struct hal_vhu_dev *d, struct msg *m)
{
	uint16_t i;
	int fd, rc;

	if ((rc = vring_fd(d, m, &i, &fd)))
		return rc;
	if (fd >= 0 && hal_eventfd_take(fd)) {
		close(fd);
		REFUSE(d, m, EINVAL, "ring %u: the call fd is not an eventfd", i);
	}
	set_call_fd(d, i, fd);
	return 0;
}

static int h_set_vring_err(struct hal_vhu_dev *d, struct msg *m)
{
	uint16_t i;
	int fd, rc;

	if ((rc = vring_fd(d, m, &i, &fd)))
		return rc;
	hal_close_fd(&d->rings[i].err_fd);
	d->rings[i].err_fd = fd;
	return 0;
}

static int h_set_vring_enable(struct hal_vhu_dev *d, struct msg *m)
{
	struct vhu_state s;
	struct ring *r;

	memcpy(&s, m->payload, sizeof(s));
	if (!(r = ring_of(d, m, s.index)))
		return EINVAL;
	if (s.num > 1)
		REFUSE(d, m, EINVAL, "ring %u enable %u", s.index, s.num);
	r->enabled = s.num;
	return ring_update(d, (uint16_t)s.index);
}

static int h_send_rarp(struct hal_vhu_dev *d, struct msg *m)
{
	uint8_t mac[6];

	memcpy(mac, m->payload, sizeof(mac));
	if (d->ops.rarp)
		d->ops.rarp(d->ctx, mac);
	return 0;
}

static int h_net_set_mtu(struct hal_vhu_dev *d, struct msg *m)
{
	uint64_t mtu = payload_u64(m);

	if (!(d->acked & BIT(VIRTIO_NET_F_MTU)))
		REFUSE(d, m, EINVAL, "VIRTIO_NET_F_MTU not negotiated");
	if (mtu < 68 || mtu > 65535)
		REFUSE(d, m, EINVAL, "mtu %" PRIu64, mtu);
	if (d->ops.set_mtu) {
		int rc = d->ops.set_mtu(d->ctx, (uint16_t)mtu);
		if (rc)
			REFUSE(d, m, rc < 0 ? -rc : EINVAL, "owner refused mtu %" PRIu64, mtu);
	}
	d->mtu = (uint16_t)mtu;
	return 0;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

/* The reply carries the requested bytes; an empty payload is the error
 * answer (vhost-user.rst, GET_CONFIG). */
static int h_get_config(struct hal_vhu_dev *d, struct msg *m)
{
	struct vhu_config_hdr c;
	uint8_t cfg[HAL_VHU_CONFIG_MAX] = { 0 };

	m->reply_size = 0;
	m->reply_set = true;
	memcpy(&c, m->payload, sizeof(c));
	if (c.size != m->size - sizeof(c) || c.offset > HAL_VHU_CONFIG_MAX ||
	    c.size > HAL_VHU_CONFIG_MAX - c.offset)
		REFUSE(d, m, EINVAL, "offset %u size %u in %u bytes", c.offset, c.size,
		       m->size);
	memcpy(cfg + VNET_CFG_MAC, d->p.mac, 6);
	put_le16(cfg + VNET_CFG_STATUS, VIRTIO_NET_S_LINK_UP);
	put_le16(cfg + VNET_CFG_MAX_VQ_PAIRS, d->p.max_queue_pairs);
	put_le16(cfg + VNET_CFG_MTU, d->p.mtu);
	put_le32(cfg + VNET_CFG_SPEED, VNET_SPEED_UNKNOWN);
	cfg[VNET_CFG_DUPLEX] = VNET_DUPLEX_UNKNOWN;
	memcpy(m->reply, &c, sizeof(c));
	memcpy(m->reply + sizeof(c), cfg + c.offset, c.size);
	m->reply_size = (uint32_t)(sizeof(c) + c.size);
	return 0;
}

/* Every virtio-net config field is read-only to the driver; the front end
 * keeps the config space itself. Refused (the rst allows it). */
static int h_set_config(struct hal_vhu_dev *d, struct msg *m)
{
	struct vhu_config_hdr c;

	memcpy(&c, m->payload, sizeof(c));
	REFUSE(d, m, EPERM, "config space is read-only (offset %u size %u flags %u)",
	       c.offset, c.size, c.flags);
}

static int h_set_status(struct hal_vhu_dev *d, struct msg *m)
{
	uint64_t v = payload_u64(m);

	if (v > 0xff)
		REFUSE(d, m, EINVAL, "status 0x%" PRIx64, v);
	d->status = (uint8_t)v;
	/* FEATURES_OK only sticks when features were negotiated. */
	if ((d->status & STATUS_FEATURES_OK) && !d->features_set)
		d->status &= (uint8_t)~STATUS_FEATURES_OK;
	if (d->ops.status)
		d->ops.status(d->ctx, d->status);
	return 0;
}

static int h_get_status(struct hal_vhu_dev *d, struct msg *m)
{
	reply_u64(m, d->status);
	return 0;
}

/* Disable every ring and forget the device state; ownership, protocol
 * features and memory stay (they belong to the connection). */
static int h_reset_device(struct hal_vhu_dev *d, struct msg *m)
{
	(void)m;
	for (uint16_t i = 0; i < d->nrings; i++)
		ring_reset(d, i);
	/* Chains in flight are void after a reset: a ring set up again must
	 * not pop them (the areas read as fresh, version 0). */
	if (d->infl.map)
		memset((uint8_t *)d->infl.map + d->infl_offset, 0, d->infl_size);
	d->acked = 0;
	d->features_set = false;
	d->status = 0;
	d->mtu = d->p.mtu;
	return log_update(d);
}

static int inflight_check(struct hal_vhu_dev *d, struct msg *m,
			  const struct vhu_inflight *in)
{
	/* Rings recording into the current region write it from lcores until
	 * they are torn down (GET_VRING_BASE, RESET_DEVICE): it cannot be
	 * unmapped or replaced under them. Front ends send these before
	 * starting rings. */
	for (uint16_t i = 0; i < d->nrings; i++)
		if (d->rings[i].vq_valid && vq_inflight_on(&d->rings[i].vq))
			REFUSE(d, m, EBUSY, "ring %u records into the current region", i);
	if (in->num_queues == 0 || in->num_queues > d->nrings ||
	    in->queue_size == 0 || in->queue_size > d->p.max_queue_size)
		REFUSE(d, m, EINVAL, "%u queues of %u", in->num_queues, in->queue_size);
	return 0;
}

static void inflight_set(struct hal_vhu_dev *d, struct fd_map *f, uint64_t off,
			 uint64_t size, const struct vhu_inflight *in)
{
	fd_map_release(&d->infl);
	d->infl = *f;
	d->infl_offset = off;
	d->infl_size = size;
	d->infl_nq = in->num_queues;
	d->infl_qs = in->queue_size;
}

static int h_get_inflight_fd(struct hal_vhu_dev *d, struct msg *m)
{
	struct vhu_inflight in = { 0 };
	struct fd_map f = { .fd = -1 };
	uint64_t size;
	int rc;

	m->reply_size = 0;
	m->reply_set = true;
	memcpy(&in, m->payload, m->size < sizeof(in) ? m->size : sizeof(in));
	if ((rc = inflight_check(d, m, &in)))
		return rc;
	size = vq_inflight_bytes(in.queue_size, packed(d)) * in.num_queues;
	f.fd = memfd_create("virtnet-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (f.fd < 0)
		REFUSE(d, m, ENOMEM, "memfd_create: %s", strerror(errno));
	if (ftruncate(f.fd, (off_t)size) < 0 ||
	    fcntl(f.fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		hal_close_fd(&f.fd);
		REFUSE(d, m, ENOMEM, "in-flight region of %" PRIu64 " bytes", size);
	}
	f.map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd, 0);
	if (f.map == MAP_FAILED) {
		hal_close_fd(&f.fd);
		REFUSE(d, m, ENOMEM, "mmap of the in-flight region");
	}
	f.len = size;
	inflight_set(d, &f, 0, size, &in);
	in.mmap_size = size;
	in.mmap_offset = 0;
	memcpy(m->reply, &in, sizeof(in));
	m->reply_size = sizeof(in);
	m->reply_fd = d->infl.fd;
	return 0;
}

static int h_set_inflight_fd(struct hal_vhu_dev *d, struct msg *m)
{
	struct vhu_inflight in = { 0 };
	struct fd_map f = { .fd = -1 };
	uint64_t need;
	int rc;

	memcpy(&in, m->payload, m->size < sizeof(in) ? m->size : sizeof(in));
	if ((rc = inflight_check(d, m, &in)))
		return rc;
	need = vq_inflight_bytes(in.queue_size, packed(d)) * in.num_queues;
	if (in.mmap_size < need || in.mmap_offset + in.mmap_size < in.mmap_offset)
		REFUSE(d, m, EINVAL, "region of %" PRIu64 " bytes, %u queues of %u need %"
		       PRIu64, in.mmap_size, in.num_queues, in.queue_size, need);
	f.fd = hal_fd_take(&m->fds[0]);
	if ((rc = map_fd(d, "in-flight region", f.fd, in.mmap_offset + in.mmap_size,
			 &f.map))) {
		hal_close_fd(&f.fd);
		return rc;
	}
	f.len = (size_t)(in.mmap_offset + in.mmap_size);
	inflight_set(d, &f, in.mmap_offset, in.mmap_size, &in);
	return 0;
}

/* ---- the table ---------------------------------------------------------- */

#define U64 sizeof(uint64_t)
#define STATE sizeof(struct vhu_state)

static const struct handler handlers[HAL_VHU_REQUEST_MAX] = {
	[HAL_VHU_GET_FEATURES] = { "GET_FEATURES", h_get_features, 0, U64, 0, 0, H_REPLY, -1 },
	[HAL_VHU_SET_FEATURES] = { "SET_FEATURES", h_set_features, U64, U64, 0, 0, H_OWNER, -1 },
	[HAL_VHU_SET_OWNER] = { "SET_OWNER", h_set_owner, 0, U64, 0, 0, 0, -1 },
	[HAL_VHU_RESET_OWNER] = { "RESET_OWNER", h_reset_owner, 0, U64, 0, 0, H_OWNER, -1 },
	[HAL_VHU_SET_MEM_TABLE] = { "SET_MEM_TABLE", h_set_mem_table, 8,
		8 + HAL_VHU_MEM_TABLE_MAX * sizeof(struct vhu_region),
		HAL_VHU_MEM_TABLE_MAX, 0, H_OWNER, -1 },
	[HAL_VHU_SET_LOG_BASE] = { "SET_LOG_BASE", h_set_log_base,
		sizeof(struct vhu_log), sizeof(struct vhu_log), 1, 1, H_OWNER | H_REPLY,
		HAL_VHU_PF_LOG_SHMFD },
	[HAL_VHU_SET_LOG_FD] = { "SET_LOG_FD", h_set_log_fd, 0, U64, 1, 1, H_OWNER, -1 },
	[HAL_VHU_SET_VRING_NUM] = { "SET_VRING_NUM", h_set_vring_num, STATE, STATE, 0, 0, H_OWNER, -1 },
	[HAL_VHU_SET_VRING_ADDR] = { "SET_VRING_ADDR", h_set_vring_addr,
		sizeof(struct vhu_addr), sizeof(struct vhu_addr), 0, 0, H_OWNER, -1 },
	[HAL_VHU_SET_VRING_BASE] = { "SET_VRING_BASE", h_set_vring_base, STATE, STATE, 0, 0, H_OWNER, -1 },
	[HAL_VHU_GET_VRING_BASE] = { "GET_VRING_BASE", h_get_vring_base, STATE, STATE, 0, 0,
		H_OWNER | H_REPLY, -1 },
	[HAL_VHU_SET_VRING_KICK] = { "SET_VRING_KICK", h_set_vring_kick, U64, U64, 1, 0, H_OWNER, -1 },
	[HAL_VHU_SET_VRING_CALL] = { "SET_VRING_CALL", h_set_vring_call, U64, U64, 1, 0, H_OWNER, -1 },
	[HAL_VHU_SET_VRING_ERR] = { "SET_VRING_ERR", h_set_vring_err, U64, U64, 1, 0, H_OWNER, -1 },
	[HAL_VHU_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES", h_get_protocol_features,
		0, U64, 0, 0, H_REPLY, -1 },
	[HAL_VHU_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES", h_set_protocol_features,
		U64, U64, 0, 0, 0, -1 },
	[HAL_VHU_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", h_get_queue_num, 0, U64, 0, 0, H_REPLY, -1 },
	[HAL_VHU_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", h_set_vring_enable, STATE, STATE, 0, 0,
		H_OWNER, -1 },
	[HAL_VHU_SEND_RARP] = { "SEND_RARP", h_send_rarp, U64, U64, 0, 0, H_OWNER, HAL_VHU_PF_RARP },
	[HAL_VHU_NET_SET_MTU] = { "NET_SET_MTU", h_net_set_mtu, U64, U64, 0, 0, H_OWNER, HAL_VHU_PF_MTU },
	[HAL_VHU_GET_CONFIG] = { "GET_CONFIG", h_get_config, sizeof(struct vhu_config_hdr),
		HAL_VHU_MAX_PAYLOAD, 0, 0, H_REPLY, HAL_VHU_PF_CONFIG },
	[HAL_VHU_SET_CONFIG] = { "SET_CONFIG", h_set_config, sizeof(struct vhu_config_hdr),
		HAL_VHU_MAX_PAYLOAD, 0, 0, H_OWNER, HAL_VHU_PF_CONFIG },
	[HAL_VHU_GET_INFLIGHT_FD] = { "GET_INFLIGHT_FD", h_get_inflight_fd, 20,
		sizeof(struct vhu_inflight), 0, 0, H_OWNER | H_REPLY, HAL_VHU_PF_INFLIGHT_SHMFD },
	[HAL_VHU_SET_INFLIGHT_FD] = { "SET_INFLIGHT_FD", h_set_inflight_fd, 20,
		sizeof(struct vhu_inflight), 1, 1, H_OWNER, HAL_VHU_PF_INFLIGHT_SHMFD },
	[HAL_VHU_RESET_DEVICE] = { "RESET_DEVICE", h_reset_device, 0, U64, 0, 0, H_OWNER,
		HAL_VHU_PF_RESET_DEVICE },
	[HAL_VHU_GET_MAX_MEM_SLOTS] = { "GET_MAX_MEM_SLOTS", h_get_max_mem_slots, 0, U64, 0, 0,
		H_REPLY, HAL_VHU_PF_CONFIGURE_MEM_SLOTS },
	[HAL_VHU_ADD_MEM_REG] = { "ADD_MEM_REG", h_add_mem_reg, 8 + sizeof(struct vhu_region),
		8 + sizeof(struct vhu_region), 1, 1, H_OWNER, HAL_VHU_PF_CONFIGURE_MEM_SLOTS },
	[HAL_VHU_REM_MEM_REG] = { "REM_MEM_REG", h_rem_mem_reg, 8 + sizeof(struct vhu_region),
		8 + sizeof(struct vhu_region), 1, 0, H_OWNER, HAL_VHU_PF_CONFIGURE_MEM_SLOTS },
	[HAL_VHU_SET_STATUS] = { "SET_STATUS", h_set_status, U64, U64, 0, 0, H_OWNER,
		HAL_VHU_PF_STATUS },
	[HAL_VHU_GET_STATUS] = { "GET_STATUS", h_get_status, 0, U64, 0, 0, H_REPLY,
		HAL_VHU_PF_STATUS },
};

static const struct handler unknown = { "unknown request", NULL, 0, 0, 0, 0, 0, -1 };

/*
 * A request that needs an owner on a connection without SET_OWNER. With
 * resume_sessions (a client back end: the front end is the server and
 * outlives our connections) this is a front end resuming its session:
 * DPDK's virtio_user in server mode (22.11 and later), when its back end
 * reconnects, goes straight to reset, features, memory, rings and status
 * (with NEED_REPLY if it acked REPLY_ACK before) without SET_OWNER or
 * GET/SET_PROTOCOL_FEATURES. The sender becomes the owner and, unless it
 * set protocol features on this connection, is taken to have acked every
 * one offered: it can only have acked a subset of what this function
 * offered before, and those only gate which requests are handled (every
 * handler still checks its payload). Otherwise: false, refused.
 */
static bool resume(struct hal_vhu_dev *d, const struct handler *h)
{
	if (!d->p.resume_sessions)
		return false;
	d->owner = true;
	if (!d->pf_acked)
		d->pf_acked = d->pf_offered;
	HAL_LOG(HAL_LOG_INFO, COMP,
		"%s: %s without SET_OWNER: the front end resumes its session (protocol features 0x%" PRIx64 ")",
		d->name, h->name, d->pf_acked);
	return true;
}

int hal_vhu_handle(struct hal_vhu_dev *d, const void *msg, size_t len,
		   int *fds, unsigned nfds, void *reply, size_t *reply_len,
		   int *reply_fd)
{
	struct vhu_hdr hdr;
	struct msg m = { .fds = fds, .nfds = nfds, .reply_fd = -1 };
	const struct handler *h;
	int rc;

	size_t cap = *reply_len;

	*reply_fd = -1;
	*reply_len = 0;
	if (len < sizeof(hdr) || cap < HAL_VHU_MSG_MAX) {
		rc = -EINVAL;
		goto out_fds;
	}
	memcpy(&hdr, msg, sizeof(hdr));
	if (hdr.size > HAL_VHU_MAX_PAYLOAD || len != sizeof(hdr) + hdr.size) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: request %u: payload size %u: stream error",
			   d->name, hdr.request, hdr.size);
		rc = -EMSGSIZE;
		goto out_fds;
	}
	h = hdr.request < HAL_VHU_REQUEST_MAX && handlers[hdr.request].fn
		    ? &handlers[hdr.request] : &unknown;
	m.h = h;
	m.request = hdr.request;
	m.flags = hdr.flags;
	m.size = hdr.size;
	m.payload = (const uint8_t *)msg + sizeof(hdr);
	m.reply = (uint8_t *)reply + sizeof(hdr);

	/* The policy of the table, before the handler reads the payload. */
	if (!h->fn) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: request %u refused: unknown",
			   d->name, hdr.request);
		rc = EOPNOTSUPP;
	} else if ((hdr.flags & 3) != HAL_VHU_VERSION || (hdr.flags & HAL_VHU_FLAG_REPLY)) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: %s refused: flags 0x%x",
			   d->name, h->name, hdr.flags);
		rc = EINVAL;
	} else if (hdr.size < h->min || hdr.size > h->max) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: %s refused: payload of %u bytes (%u..%u)",
			   d->name, h->name, hdr.size, h->min, h->max);
		rc = EINVAL;
	} else if (nfds < h->need_fds) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: %s refused: %u fds, needs %u",
			   d->name, h->name, nfds, h->need_fds);
		rc = EINVAL;
	} else if ((h->flags & H_OWNER) && !d->owner && !resume(d, h)) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: %s refused: before SET_OWNER",
			   d->name, h->name);
		rc = EPERM;
	} else if (h->pf >= 0 && !(d->pf_acked & BIT(h->pf))) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP,
			   "%s: %s refused: protocol feature %d not negotiated",
			   d->name, h->name, h->pf);
		rc = EOPNOTSUPP;
	} else {
		if (nfds > h->max_fds)
			HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: %s: %u fds, takes %u: closing the rest",
				   d->name, h->name, nfds, h->max_fds);
		/* Only the fds the request may take are visible to it. */
		m.nfds = nfds < h->max_fds ? nfds : h->max_fds;
		rc = h->fn(d, &m);
	}

	if (h->flags & H_REPLY) {
		if (!m.reply_set)
			m.reply_size = 0; /* failed before writing a reply */
	} else if ((hdr.flags & HAL_VHU_FLAG_NEED_REPLY) &&
		   (d->pf_acked & BIT(HAL_VHU_PF_REPLY_ACK))) {
		reply_u64(&m, (uint64_t)rc);
	} else {
		m.reply_set = false;
	}
	if ((h->flags & H_REPLY) || m.reply_set) {
		struct vhu_hdr rh = {
			.request = hdr.request,
			.flags = HAL_VHU_VERSION | HAL_VHU_FLAG_REPLY,
			.size = m.reply_size,
		};
		memcpy(reply, &rh, sizeof(rh));
		*reply_len = sizeof(rh) + m.reply_size;
		*reply_fd = rc ? -1 : m.reply_fd;
	}
out_fds:
	for (unsigned i = 0; i < nfds; i++)
		hal_close_fd(&fds[i]);
	return rc;
}

/* ---- socket ------------------------------------------------------------- */

int hal_vhu_serve(struct hal_vhu_dev *d, int sock)
{
	uint8_t reply[HAL_VHU_MSG_MAX];
	size_t rlen = sizeof(reply);
	uint32_t size;
	int rfd, rc;

	if ((rc = hal_sock_rx_fill(sock, &d->in, d->rx, HAL_VHU_HDR_SIZE)))
		return rc;
	memcpy(&size, d->rx + 8, sizeof(size));
	/* Checked before a payload byte is read. */
	if (size > HAL_VHU_MAX_PAYLOAD) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: payload size %u: stream error",
			   d->name, size);
		hal_sock_rx_drop(&d->in);
		return -EMSGSIZE;
	}
	if ((rc = hal_sock_rx_fill(sock, &d->in, d->rx, HAL_VHU_HDR_SIZE + size)))
		return rc;
	rc = hal_vhu_handle(d, d->rx, d->in.len, d->in.fds, d->in.nfds, reply,
			    &rlen, &rfd);
	d->in.nfds = 0; /* handle owns them now */
	d->in.len = 0;
	if (rc < 0)
		return rc;
	if (rlen) {
		int e = hal_sock_send(sock, reply, rlen, &rfd, rfd >= 0);
		if (e)
			return e;
	}
	return rc;
}

/* ---- lifecycle ---------------------------------------------------------- */

void hal_vhu_params_default(struct hal_vhu_params *p)
{
	memset(p, 0, sizeof(*p));
	p->name = "vhost-user";
	p->features = BIT(VIRTIO_F_VERSION_1);
	p->max_queue_pairs = 1;
	p->max_queue_size = 256;
	p->mtu = 1500;
	p->require_sealed = true;
}

struct hal_vhu_dev *hal_vhu_create(const struct hal_vhu_params *p,
				   const struct hal_vhu_ops *ops, void *ctx)
{
	struct hal_vhu_dev *d;

	if (!p || !ops || !ops->ring_start || !ops->ring_stop ||
	    p->max_queue_pairs == 0 || p->max_queue_pairs > HAL_VHU_MAX_QUEUE_PAIRS ||
	    p->max_queue_size == 0 || p->max_queue_size > VQ_MAX_SIZE ||
	    (p->max_queue_size & (p->max_queue_size - 1))) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		goto nomem;
	snprintf(d->name, sizeof(d->name), "%s", p->name ? p->name : "vhost-user");
	d->p = *p;
	d->in.max_fds = HAL_VHU_MAX_FDS;
	d->p.name = d->name;
	d->ops = *ops;
	d->ctx = ctx;
	d->nrings = (uint16_t)(2 * p->max_queue_pairs);
	d->rings = aligned_alloc(64, d->nrings * sizeof(struct ring));
	d->dma = dma_space_create(p->qsbr);
	if (!d->rings || !d->dma)
		goto nomem;
	memset(d->rings, 0, d->nrings * sizeof(struct ring));
	for (uint16_t i = 0; i < d->nrings; i++) {
		struct ring *r = &d->rings[i];
		r->kick_fd = r->call_fd = r->err_fd = -1;
		snprintf(r->name, sizeof(r->name), "%s:q%u", d->name, i);
	}
	d->log.fd = d->infl.fd = d->log_event_fd = -1;
	d->offered = (p->features & ~(BIT(VIRTIO_F_ACCESS_PLATFORM) | VHU_BITS)) | VHU_BITS;
	d->pf_offered = PF_OFFERED;
	if (p->features & BIT(VIRTIO_NET_F_MTU))
		d->pf_offered |= BIT(HAL_VHU_PF_MTU);
	d->mtu = p->mtu;
	return d;
nomem:
	if (d) {
		free(d->rings);
		dma_space_destroy(d->dma);
		free(d);
	}
	errno = ENOMEM;
	return NULL;
}

void hal_vhu_disconnect(struct hal_vhu_dev *d)
{
	for (uint16_t i = 0; i < d->nrings; i++)
		ring_reset(d, i);
	if (d->logging) {
		dma_log_stop(d->dma);
		d->logging = false;
	}
	fd_map_release(&d->log);
	d->log_bitmap = NULL;
	d->log_size = 0;
	hal_close_fd(&d->log_event_fd);
	while (d->nmem)
		region_remove(d, d->nmem - 1);
	fd_map_release(&d->infl);
	d->infl_offset = d->infl_size = 0;
	d->infl_nq = d->infl_qs = 0;
	hal_sock_rx_drop(&d->in);
	d->owner = false;
	d->features_set = false;
	d->acked = 0;
	d->pf_acked = 0;
	d->status = 0;
	d->mtu = d->p.mtu;
}

void hal_vhu_destroy(struct hal_vhu_dev *d)
{
	if (!d)
		return;
	hal_vhu_disconnect(d);
	dma_space_destroy(d->dma);
	free(d->rings);
	free(d);
}

/* ---- accessors ---------------------------------------------------------- */

struct dma_space *hal_vhu_dma(const struct hal_vhu_dev *d) { return d->dma; }
uint64_t hal_vhu_features(const struct hal_vhu_dev *d) { return d->acked & ~VHU_BITS; }
bool hal_vhu_features_ok(const struct hal_vhu_dev *d) { return d->features_set; }
uint64_t hal_vhu_protocol_features(const struct hal_vhu_dev *d) { return d->pf_acked; }
uint16_t hal_vhu_num_rings(const struct hal_vhu_dev *d) { return d->nrings; }
bool hal_vhu_logging(const struct hal_vhu_dev *d) { return d->logging; }
uint8_t hal_vhu_status(const struct hal_vhu_dev *d) { return d->status; }
uint16_t hal_vhu_mtu(const struct hal_vhu_dev *d) { return d->mtu; }

struct vq *hal_vhu_ring_vq(struct hal_vhu_dev *d, uint16_t idx)
{
	return idx < d->nrings && d->rings[idx].running ? &d->rings[idx].vq : NULL;
}

int hal_vhu_ring_kick_fd(const struct hal_vhu_dev *d, uint16_t idx)
{
	return idx < d->nrings ? d->rings[idx].kick_fd : -1;
}

int hal_vhu_ring_call_fd(const struct hal_vhu_dev *d, uint16_t idx)
{
	return idx < d->nrings ? d->rings[idx].call_fd : -1;
}

bool hal_vhu_ring_enabled(const struct hal_vhu_dev *d, uint16_t idx)
{
	return idx < d->nrings && d->rings[idx].enabled;
}

void *hal_vhu_inflight(const struct hal_vhu_dev *d, uint64_t *size,
		       uint16_t *num_queues, uint16_t *queue_size)
{
	if (!d->infl.map)
		return NULL;
	if (size)
		*size = d->infl_size;
	if (num_queues)
		*num_queues = d->infl_nq;
	if (queue_size)
		*queue_size = d->infl_qs;
	return (uint8_t *)d->infl.map + d->infl_offset;
}
