/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio_dev — the generic virtio device: status, feature negotiation,
 * queue configuration, reset, configuration generation and the
 * configuration-change interrupt. This is the transport-neutral device
 * API of DESIGN.md: a transport (PCI common configuration over vfio-user,
 * hardware) calls only these functions; a device type (virtio-net) plugs
 * in through vdev_ops.
 *
 * Control thread only. The datapath is told to let go of the queues
 * through ops->quiesce / ops->quiesce_queue and answers with
 * vdev_quiesced / vdev_queue_quiesced, possibly later: until then a
 * device reset reads back a non-zero status and a queue reset reads back
 * queue_reset = 1, as the spec allows.
 */
#ifndef VIRTNET_VIRTIO_DEV_H
#define VIRTNET_VIRTIO_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "dma.h"
#include "virtq.h"

/* Device status (virtio 1.3, 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE       1
#define VIRTIO_STATUS_DRIVER            2
#define VIRTIO_STATUS_DRIVER_OK         4
#define VIRTIO_STATUS_FEATURES_OK       8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED            128

/* Generic feature bits (virtio 1.3, 6). */
#define VIRTIO_F_INDIRECT_DESC    28
#define VIRTIO_F_EVENT_IDX        29
#define VIRTIO_F_VERSION_1        32
#define VIRTIO_F_ACCESS_PLATFORM  33
#define VIRTIO_F_RING_PACKED      34
#define VIRTIO_F_IN_ORDER         35
#define VIRTIO_F_ORDER_PLATFORM   36
#define VIRTIO_F_SR_IOV           37
#define VIRTIO_F_NOTIFICATION_DATA 38
#define VIRTIO_F_RING_RESET       40

#define VDEV_BIT(b) (1ull << (b))

/* The generic features this implementation supports. */
#define VDEV_GENERIC_FEATURES \
	(VDEV_BIT(VIRTIO_F_INDIRECT_DESC) | VDEV_BIT(VIRTIO_F_EVENT_IDX) | \
	 VDEV_BIT(VIRTIO_F_VERSION_1) | VDEV_BIT(VIRTIO_F_ACCESS_PLATFORM) | \
	 VDEV_BIT(VIRTIO_F_RING_PACKED) | VDEV_BIT(VIRTIO_F_IN_ORDER) | \
	 VDEV_BIT(VIRTIO_F_ORDER_PLATFORM) | VDEV_BIT(VIRTIO_F_SR_IOV) | \
	 VDEV_BIT(VIRTIO_F_NOTIFICATION_DATA) | VDEV_BIT(VIRTIO_F_RING_RESET))

struct vdev;

struct vdev_ops {
	/* The accepted set breaks a device-type dependency: non-zero. */
	int (*validate_features)(struct vdev *d, uint64_t features);
	/* Device-specific configuration space. */
	void (*config_read)(struct vdev *d, uint32_t off, void *buf, uint32_t len);
	void (*config_write)(struct vdev *d, uint32_t off, const void *buf,
			     uint32_t len);
	/* DRIVER_OK: start the datapath on the enabled queues. */
	void (*start)(struct vdev *d);
	/* Stop touching every queue; call vdev_quiesced() when done. */
	void (*quiesce)(struct vdev *d);
	/* Stop touching queue q; call vdev_queue_quiesced() when done. */
	void (*quiesce_queue)(struct vdev *d, uint16_t q);
	/* Raise the configuration-change interrupt (vector msix_config). */
	void (*config_irq)(struct vdev *d);
};

struct vdev_queue {
	struct vq vq;        /* the ring engine once enabled */
	uint64_t desc, driver, device; /* ring addresses */
	uint16_t size;       /* current (driver may lower it) */
	uint16_t max_size;
	uint16_t vector;     /* MSI-X vector or VQ_NO_VECTOR */
	bool enabled;
	bool resetting;      /* queue_reset in progress */
};

struct vdev {
	const struct vdev_ops *ops;
	void *priv;               /* the device type's */
	struct dma_space *dma;
	uint64_t device_features; /* offered */
	uint64_t driver_features; /* written by the driver */
	uint8_t status;
	bool resetting;           /* device reset in progress */
	uint8_t config_generation;
	uint16_t msix_config;
	uint16_t num_queues;
	struct vdev_queue *q;
	const char *name;
};

int vdev_init(struct vdev *d, const struct vdev_ops *ops, void *priv,
	      struct dma_space *dma, uint64_t device_features,
	      uint16_t num_queues, uint16_t max_queue_size, const char *name);
void vdev_fini(struct vdev *d);

/* Status: reads the current status (the old one while a reset is in
 * progress). A write of 0 resets; other writes may only add bits, in the
 * order the spec gives; FEATURES_OK is refused (not kept) when the
 * driver's features are not a subset of the offer, lack VERSION_1, or
 * break a dependency. Returns 0, or -EINVAL for a write that was ignored. */
uint8_t vdev_get_status(const struct vdev *d);
int vdev_set_status(struct vdev *d, uint8_t status);

/* Driver features may be written between DRIVER and FEATURES_OK. */
int vdev_set_driver_features(struct vdev *d, uint64_t features);
/* The negotiated set (0 until FEATURES_OK). */
uint64_t vdev_features(const struct vdev *d);
static inline bool vdev_has(const struct vdev *d, unsigned bit)
{
	return (vdev_features(d) >> bit) & 1;
}

/* Queue configuration: before DRIVER_OK, or on a queue that was reset
 * under VIRTIO_F_RING_RESET. -EINVAL for a bad value or a queue that
 * cannot be changed now; -ERANGE for a queue index beyond num_queues. */
int vdev_queue_set_size(struct vdev *d, uint16_t q, uint16_t size);
int vdev_queue_set_addr(struct vdev *d, uint16_t q, uint64_t desc,
			uint64_t driver, uint64_t device);
int vdev_queue_set_vector(struct vdev *d, uint16_t q, uint16_t vector);
int vdev_queue_enable(struct vdev *d, uint16_t q);
/* VIRTIO_F_RING_RESET: reset one queue; queue_reset reads 1 until the
 * datapath let go (vdev_queue_resetting). */
int vdev_queue_reset(struct vdev *d, uint16_t q);
bool vdev_queue_resetting(const struct vdev *d, uint16_t q);

/* The datapath let go of every queue / of queue q. */
void vdev_quiesced(struct vdev *d);
void vdev_queue_quiesced(struct vdev *d, uint16_t q);

/* A queue broke (hostile ring): DEVICE_NEEDS_RESET, a new configuration
 * generation and, after DRIVER_OK, the configuration-change interrupt. */
void vdev_needs_reset(struct vdev *d);
/* The device-specific configuration changed (link, MAC, ...). */
void vdev_config_changed(struct vdev *d);
/* It changed at the driver's own request (no notification due): only a new
 * generation, so a driver's torn read of several fields is retried. */
void vdev_config_touched(struct vdev *d);

/* Device-specific configuration access (bounds are the device type's). */
void vdev_config_read(struct vdev *d, uint32_t off, void *buf, uint32_t len);
void vdev_config_write(struct vdev *d, uint32_t off, const void *buf,
		       uint32_t len);

/* The VQ_F_* ring flags the negotiated features give. */
uint32_t vdev_ring_flags(const struct vdev *d);

#endif
