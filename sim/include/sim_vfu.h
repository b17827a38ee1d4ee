/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sim_vfu — the simulated host's vfio-user client (QEMU
 * docs/interop/vfio-user.rst): one connection drives one emulated PCI
 * function. Synchronous: one request in flight, every call waits for its
 * reply or the connection's timeout, so a dead or silent server never
 * hangs the host.
 *
 * Errors are negative errnos. A reply with the Error bit gives -error (EIO
 * when the server left it 0); a reply that is malformed but whole (too
 * short, too long, fields that do not echo the request) gives -EPROTO and
 * the connection stays usable. Anything that loses the message boundary —
 * a timeout (-ETIMEDOUT), the server closing (-ECONNRESET), a reply with
 * another id or command, a header that cannot be — breaks the connection:
 * every later call returns -ENOTCONN and the caller closes it (the spec's
 * "Server Disconnection": reset the device and start again). Each refusal
 * is logged through hal_log (component "vfu") saying what was wrong.
 *
 * Not thread-safe: one thread owns a connection.
 */
#ifndef VIRTNET_SIM_VFU_H
#define VIRTNET_SIM_VFU_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hal_vfio_user_proto.h"
#include "sim_hostmem.h"

#define SIM_VFU_TIMEOUT_MS 5000 /* per request, when the caller gives 0 */

struct sim_vfu;

/* What the server stated in its VERSION reply, spec defaults filled in. */
struct sim_vfu_caps {
	uint16_t major, minor;
	uint32_t max_msg_fds;        /* fds it takes in one message */
	uint32_t max_data_xfer_size; /* largest REGION_READ/WRITE count */
	uint64_t pgsizes;            /* DMA_MAP page sizes, or'ed */
	uint32_t max_dma_maps;       /* windows valid at once */
};

/* A mappable part of a region (VFIO_REGION_INFO_CAP_SPARSE_MMAP), relative
 * to the region: mmap at region info offset + offset. */
struct sim_vfu_sparse {
	uint64_t offset;
	uint64_t size;
};

/*
 * Connect to the server's UNIX socket at path and negotiate the version.
 * A socket that is not there yet (ENOENT, ECONNREFUSED) or whose backlog
 * is full is tried again every 10 ms until timeout_ms has passed, so the
 * host may start with the server; then the last error is returned.
 * timeout_ms (0: SIM_VFU_TIMEOUT_MS) also bounds every later request.
 */
int sim_vfu_connect(const char *path, int timeout_ms, struct sim_vfu **out);
/* The same over a connected stream socket; fd is ours even on failure. */
int sim_vfu_attach(int fd, int timeout_ms, struct sim_vfu **out);
void sim_vfu_close(struct sim_vfu *c);
const struct sim_vfu_caps *sim_vfu_caps(const struct sim_vfu *c);

/*
 * DMA_MAP [iova, iova+len) of fd at offset (fd < 0: no fd, offset 0),
 * flags VFU_DMA_READ | VFU_DMA_WRITE. iova, len and offset must be
 * aligned to the server's smallest page size, and at most max_dma_maps
 * windows are mapped at once (-ENOSPC). The fd stays the caller's.
 */
int sim_vfu_dma_map(struct sim_vfu *c, uint64_t iova, uint64_t len, int fd,
		    uint64_t offset, uint32_t flags);
/* DMA_UNMAP of exactly a window mapped before. */
int sim_vfu_dma_unmap(struct sim_vfu *c, uint64_t iova, uint64_t len);
/* Map every region of m with flags; on failure the ones mapped are
 * unmapped again. */
int sim_vfu_map_hostmem(struct sim_vfu *c, const struct sim_hostmem *m,
			uint32_t flags);

int sim_vfu_device_info(struct sim_vfu *c, struct vfu_device_info *info);

/*
 * Region `index`. With VFIO_REGION_INFO_FLAG_MMAP the server passes an fd:
 * stored in *fd (the caller closes it), or closed when fd is NULL; *fd is
 * -1 otherwise. Sparse areas go to areas[0..*n_areas) (*n_areas in: room,
 * out: how many the server listed, also those that did not fit); both may
 * be NULL. Every area lies inside the region.
 */
int sim_vfu_region_info(struct sim_vfu *c, uint32_t index,
			struct vfu_region_info *info, struct sim_vfu_sparse *areas,
			unsigned *n_areas, int *fd);

/*
 * The ioeventfd/ioregionfd sub-regions of region `index`: subs[0..*n_subs)
 * (in: room) and the fds they name by fd_index, fds[0..*n_fds) (in: room;
 * the caller closes them). -E2BIG, with *n_subs set to the count the
 * server has, when subs is too small. Each fd_index is checked against
 * *n_fds; the caller checks offset and size against the region's size.
 */
int sim_vfu_region_io_fds(struct sim_vfu *c, uint32_t index,
			  struct vfu_io_fd *subs, unsigned *n_subs,
			  int *fds, unsigned *n_fds);

int sim_vfu_irq_info(struct sim_vfu *c, uint32_t index,
		     struct vfu_irq_info *info);

/*
 * SET_IRQS on [start, start+count) of IRQ `index`; flags: one
 * VFIO_IRQ_SET_DATA_* and one VFIO_IRQ_SET_ACTION_*.
 *  DATA_NONE:    data ignored (count 0, start 0: disable the whole index).
 *  DATA_BOOL:    bools[0..count).
 *  DATA_EVENTFD: fds[0..count); -1 de-assigns that sub-index; fds NULL
 *                de-assigns the whole range.
 * Eventfds go with SCM_RIGHTS, at most the server's max_msg_fds in one
 * message: longer ranges (and runs of -1) are sent as consecutive
 * messages, stopping at the first error (the earlier ones stay applied).
 */
int sim_vfu_set_irqs(struct sim_vfu *c, uint32_t index, uint32_t start,
		     uint32_t count, uint32_t flags, const int *fds,
		     const uint8_t *bools);

/* REGION_READ/WRITE of len bytes, cut in pieces of the server's
 * max_data_xfer_size. */
int sim_vfu_region_read(struct sim_vfu *c, uint32_t region, uint64_t offset,
			void *buf, size_t len);
int sim_vfu_region_write(struct sim_vfu *c, uint32_t region, uint64_t offset,
			 const void *buf, size_t len);

/* One access of width 1, 2, 4 or 8 bytes to a little-endian register (PCI
 * config space and virtio structures are little-endian), in one message. */
int sim_vfu_read_le(struct sim_vfu *c, uint32_t region, uint64_t offset,
		    unsigned width, uint64_t *val);
int sim_vfu_write_le(struct sim_vfu *c, uint32_t region, uint64_t offset,
		     unsigned width, uint64_t val);

#define SIM_VFU_TYPED(bits)                                                   \
static inline int sim_vfu_read##bits(struct sim_vfu *c, uint32_t region,      \
				     uint64_t offset, uint##bits##_t *val)    \
{                                                                             \
	uint64_t v;                                                           \
	int rc = sim_vfu_read_le(c, region, offset, (bits) / 8, &v);          \
									      \
	if (!rc)                                                              \
		*val = (uint##bits##_t)v;                                     \
	return rc;                                                            \
}                                                                             \
static inline int sim_vfu_write##bits(struct sim_vfu *c, uint32_t region,     \
				      uint64_t offset, uint##bits##_t val)    \
{                                                                             \
	return sim_vfu_write_le(c, region, offset, (bits) / 8, val);          \
}                                                                             \
static inline int sim_vfu_cfg_read##bits(struct sim_vfu *c, uint64_t offset,  \
					 uint##bits##_t *val)                 \
{                                                                             \
	return sim_vfu_read##bits(c, VFIO_PCI_CONFIG_REGION_INDEX, offset,    \
				  val);                                       \
}                                                                             \
static inline int sim_vfu_cfg_write##bits(struct sim_vfu *c, uint64_t offset, \
					  uint##bits##_t val)                 \
{                                                                             \
	return sim_vfu_write##bits(c, VFIO_PCI_CONFIG_REGION_INDEX, offset,   \
				   val);                                      \
}
SIM_VFU_TYPED(8)
SIM_VFU_TYPED(16)
SIM_VFU_TYPED(32)
SIM_VFU_TYPED(64)
#undef SIM_VFU_TYPED

/* DEVICE_RESET; the server may take long: it gets the same timeout. */
int sim_vfu_reset(struct sim_vfu *c);

/* Milliseconds of CLOCK_MONOTONIC: the simulated host's deadlines. */
static inline int64_t sim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
