/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vfio-user wire format (QEMU docs/interop/vfio-user.rst), shared by
 * the server (hal/vfio_user.c) and the simulated host's client
 * (sim/vfu_client.c). Host byte order throughout, as the protocol says.
 * The VFIO constants (region and IRQ indexes, region/IRQ flags, sparse
 * mmap capability) are the kernel's, from <linux/vfio.h>.
 *
 * Every structure is the payload after the 16-byte header; sizes are
 * asserted below so a layout mistake fails the build.
 */
#ifndef HAL_VFIO_USER_PROTO_H
#define HAL_VFIO_USER_PROTO_H

#include <stdint.h>

#include <linux/vfio.h>

/* Protocol version: QEMU's client proposes 0.0; we implement 0.0. */
#define VFU_MAJOR 0
#define VFU_MINOR 0

enum vfu_cmd {
	VFU_CMD_VERSION = 1,
	VFU_CMD_DMA_MAP = 2,
	VFU_CMD_DMA_UNMAP = 3,
	VFU_CMD_DEVICE_GET_INFO = 4,
	VFU_CMD_DEVICE_GET_REGION_INFO = 5,
	VFU_CMD_DEVICE_GET_REGION_IO_FDS = 6,
	VFU_CMD_DEVICE_GET_IRQ_INFO = 7,
	VFU_CMD_DEVICE_SET_IRQS = 8,
	VFU_CMD_REGION_READ = 9,
	VFU_CMD_REGION_WRITE = 10,
	VFU_CMD_DMA_READ = 11,  /* server -> client: never sent by us */
	VFU_CMD_DMA_WRITE = 12, /* server -> client: never sent by us */
	VFU_CMD_DEVICE_RESET = 13,
	VFU_CMD_REGION_WRITE_MULTI = 15,
	VFU_CMD_DEVICE_FEATURE = 16,
	VFU_CMD_MIG_DATA_READ = 17,
	VFU_CMD_MIG_DATA_WRITE = 18,
	VFU_CMD__MAX = 19,
};

/* Header flags. */
#define VFU_F_TYPE_MASK 0xfu
#define VFU_F_COMMAND   0x0u
#define VFU_F_REPLY     0x1u
#define VFU_F_NO_REPLY  0x10u
#define VFU_F_ERROR     0x20u

struct vfu_hdr {
	uint16_t msg_id;
	uint16_t cmd;
	uint32_t size;  /* whole message, header included */
	uint32_t flags;
	uint32_t error; /* errno, in a reply with VFU_F_ERROR */
};

struct vfu_version {
	uint16_t major;
	uint16_t minor;
	/* then optional NUL-terminated JSON: {"capabilities": {...}} */
};

/* Capability defaults and our limits. */
#define VFU_DEF_MAX_FDS       1
#define VFU_DEF_MAX_XFER      (1u << 20)
#define VFU_MAX_FDS           16      /* fds we accept in one message */
#define VFU_MAX_SEND_FDS      64      /* fds we send in one (the client's
				       * max_msg_fds permitting) */
#define VFU_MAX_XFER          16384u  /* max_data_xfer_size we state: the
				       * largest region (BAR0) */
#define VFU_MAX_DMA_MAPS      512     /* windows valid at once (DMA_MAX_REGIONS) */
#define VFU_PGSIZES           4096u
#define VFU_DEF_MAX_DMA_MAPS  65535u /* when a VERSION does not say */
#define VFU_DEF_PGSIZES       4096u

/* DMA_MAP flags */
#define VFU_DMA_READ  1u
#define VFU_DMA_WRITE 2u

struct vfu_dma_map {
	uint32_t argsz;
	uint32_t flags;
	uint64_t offset;  /* in the fd */
	uint64_t addr;    /* IOVA */
	uint64_t size;
};

#define VFU_DMA_UNMAP_ALL 2u /* VFIO_DMA_UNMAP_FLAG_ALL: every window; addr
			      * and size 0 */

/* The reply echoes the request's entry. */
struct vfu_dma_unmap {
	uint32_t argsz;
	uint32_t flags;
	uint64_t addr;
	uint64_t size;
};

struct vfu_device_info {
	uint32_t argsz;
	uint32_t flags;   /* VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI */
	uint32_t num_regions;
	uint32_t num_irqs;
};

struct vfu_region_info {
	uint32_t argsz;
	uint32_t flags;   /* VFIO_REGION_INFO_FLAG_* */
	uint32_t index;
	uint32_t cap_offset;
	uint64_t size;
	uint64_t offset;
};

struct vfu_io_fds {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
	/* then count struct vfu_io_fd */
};

#define VFU_IO_FD_TYPE_IOEVENTFD 0
#define VFU_IO_FD_TYPE_IOREGIONFD 1
#define VFU_IOEVENTFD_FLAG_DATAMATCH 1u /* KVM_IOEVENTFD_FLAG_DATAMATCH */

struct vfu_io_fd {
	uint64_t offset;
	uint64_t size;
	uint32_t fd_index;
	uint32_t type;
	uint32_t flags;
	uint32_t padding;
	uint64_t datamatch;
};

struct vfu_irq_info {
	uint32_t argsz;
	uint32_t flags;   /* VFIO_IRQ_INFO_* */
	uint32_t index;
	uint32_t count;
};

struct vfu_irq_set {
	uint32_t argsz;
	uint32_t flags;   /* VFIO_IRQ_SET_DATA_* | VFIO_IRQ_SET_ACTION_* */
	uint32_t index;
	uint32_t start;
	uint32_t count;
	/* then count bytes of bool with DATA_BOOL */
};

struct vfu_region_access {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	/* then count bytes of data (write request, read reply) */
};

struct vfu_write_one {
	uint64_t offset;
	uint32_t region;
	uint32_t count;   /* <= 8 */
	uint8_t data[8];
};

struct vfu_write_multi {
	uint64_t wr_cnt;
	/* then wr_cnt struct vfu_write_one */
};

#define VFU_WRITE_MULTI_MAX 200 /* what QEMU's client coalesces at most */

_Static_assert(sizeof(struct vfu_hdr) == 16, "vfio-user header");
_Static_assert(sizeof(struct vfu_version) == 4, "VERSION");
_Static_assert(sizeof(struct vfu_dma_map) == 32, "DMA_MAP");
_Static_assert(sizeof(struct vfu_dma_unmap) == 24, "DMA_UNMAP");
_Static_assert(sizeof(struct vfu_device_info) == 16, "DEVICE_GET_INFO");
_Static_assert(sizeof(struct vfu_region_info) == 32, "GET_REGION_INFO");
_Static_assert(sizeof(struct vfu_io_fds) == 16, "GET_REGION_IO_FDS");
_Static_assert(sizeof(struct vfu_io_fd) == 40, "io fd sub-region");
_Static_assert(sizeof(struct vfu_irq_info) == 16, "GET_IRQ_INFO");
_Static_assert(sizeof(struct vfu_irq_set) == 20, "SET_IRQS");
_Static_assert(sizeof(struct vfu_region_access) == 16, "REGION_READ/WRITE");
_Static_assert(sizeof(struct vfu_write_one) == 24, "one of WRITE_MULTI");

#endif
