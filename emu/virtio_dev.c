/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The generic virtio device (virtio 1.3, 2.1 status, 2.2 feature bits, 2.4
 * reset, 2.6.1 queue reset, 3.1 initialization).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hal_log.h"
#include "virtio_dev.h"

#define COMP "vdev"

static void queue_defaults(struct vdev_queue *q)
{
	vq_teardown(&q->vq);
	q->desc = q->driver = q->device = 0;
	q->size = q->max_size;
	q->vector = VQ_NO_VECTOR;
	q->enabled = false;
	q->resetting = false;
}

int vdev_init(struct vdev *d, const struct vdev_ops *ops, void *priv,
	      struct dma_space *dma, uint64_t device_features,
	      uint16_t num_queues, uint16_t max_queue_size, const char *name)
{
	memset(d, 0, sizeof(*d));
	if (!ops || !dma || num_queues == 0 || max_queue_size == 0 ||
	    max_queue_size > VQ_MAX_SIZE ||
	    !(device_features & VDEV_BIT(VIRTIO_F_VERSION_1)))
		return -EINVAL;
	d->q = calloc(num_queues, sizeof(*d->q));
	if (!d->q)
		return -ENOMEM;
	d->ops = ops;
	d->priv = priv;
	d->dma = dma;
	d->device_features = device_features;
	d->num_queues = num_queues;
	d->msix_config = VQ_NO_VECTOR;
	d->name = name ? name : "vdev";
	for (uint16_t i = 0; i < num_queues; i++) {
		d->q[i].max_size = max_queue_size;
		queue_defaults(&d->q[i]);
	}
	return 0;
}

void vdev_fini(struct vdev *d)
{
	if (d->q)
		for (uint16_t i = 0; i < d->num_queues; i++)
			vq_teardown(&d->q[i].vq);
	free(d->q);
	memset(d, 0, sizeof(*d));
}

uint8_t vdev_get_status(const struct vdev *d)
{
	/* While a reset is in progress the old (non-zero) status stays
	 * visible: the driver waits for 0 (4.1.4.3.2). */
	return d->status;
}

uint64_t vdev_features(const struct vdev *d)
{
	return (d->status & VIRTIO_STATUS_FEATURES_OK) ? d->driver_features : 0;
}

uint32_t vdev_ring_flags(const struct vdev *d)
{
	uint64_t f = vdev_features(d);

	return ((f & VDEV_BIT(VIRTIO_F_EVENT_IDX)) ? VQ_F_EVENT_IDX : 0) |
	       ((f & VDEV_BIT(VIRTIO_F_INDIRECT_DESC)) ? VQ_F_INDIRECT : 0) |
	       ((f & VDEV_BIT(VIRTIO_F_IN_ORDER)) ? VQ_F_IN_ORDER : 0) |
	       ((f & VDEV_BIT(VIRTIO_F_RING_PACKED)) ? VQ_F_PACKED : 0);
}

void vdev_quiesced(struct vdev *d)
{
	if (!d->resetting)
		return;
	for (uint16_t i = 0; i < d->num_queues; i++)
		queue_defaults(&d->q[i]);
	d->driver_features = 0;
	d->msix_config = VQ_NO_VECTOR;
	d->config_generation++;
	d->status = 0;
	d->resetting = false;
}

static void device_reset(struct vdev *d)
{
	if (d->resetting)
		return;
	d->resetting = true;
	if (d->ops->quiesce)
		d->ops->quiesce(d); /* answers with vdev_quiesced() */
	else
		vdev_quiesced(d);
}

static bool features_ok(struct vdev *d)
{
	uint64_t f = d->driver_features;

	if (f & ~d->device_features) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: driver accepted features %#llx not offered",
			   d->name, (unsigned long long)(f & ~d->device_features));
		return false;
	}
	if (!(f & VDEV_BIT(VIRTIO_F_VERSION_1))) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: legacy driver (no VERSION_1) refused",
			   d->name);
		return false;
	}
	if (d->ops->validate_features && d->ops->validate_features(d, f)) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: features %#llx break a dependency",
			   d->name, (unsigned long long)f);
		return false;
	}
	return true;
}

int vdev_set_status(struct vdev *d, uint8_t s)
{
	if (s == 0) {
		device_reset(d);
		return 0;
	}
	if (d->resetting)
		return -EBUSY; /* the driver must wait for 0 first */

	/* NEEDS_RESET is the device's bit; the driver can't set or clear it. */
	uint8_t keep = d->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	uint8_t old = d->status & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	uint8_t want = s & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	uint8_t add = want & ~old;

	if ((want & old) != old)
		return -EINVAL; /* bits are cleared only by a reset */
	if ((add & VIRTIO_STATUS_DRIVER) && !(want & VIRTIO_STATUS_ACKNOWLEDGE))
		return -EINVAL;
	if ((add & VIRTIO_STATUS_FEATURES_OK) && !(want & VIRTIO_STATUS_DRIVER))
		return -EINVAL;
	if ((add & VIRTIO_STATUS_DRIVER_OK) && !(want & VIRTIO_STATUS_FEATURES_OK))
		return -EINVAL;
	if ((add & VIRTIO_STATUS_FEATURES_OK) && !features_ok(d)) {
		/* 2.2.2: refuse by not setting FEATURES_OK; the driver reads
		 * the status back and gives up. DRIVER_OK can't follow. */
		d->status = (uint8_t)(keep | (want & ~(VIRTIO_STATUS_FEATURES_OK |
						       VIRTIO_STATUS_DRIVER_OK)));
		return -EINVAL;
	}
	d->status = (uint8_t)(keep | want);
	if ((add & VIRTIO_STATUS_DRIVER_OK) && d->ops->start)
		d->ops->start(d);
	return 0;
}

int vdev_set_driver_features(struct vdev *d, uint64_t features)
{
	if (d->resetting || !(d->status & VIRTIO_STATUS_DRIVER) ||
	    (d->status & VIRTIO_STATUS_FEATURES_OK))
		return -EINVAL;
	d->driver_features = features;
	return 0;
}

/* May queue q be (re)configured now? */
static struct vdev_queue *cfg_queue(struct vdev *d, uint16_t q, int *rc)
{
	if (q >= d->num_queues) {
		*rc = -ERANGE;
		return NULL;
	}
	struct vdev_queue *vq = &d->q[q];
	*rc = -EINVAL;
	if (d->resetting || vq->enabled || vq->resetting)
		return NULL;
	/* After DRIVER_OK only a queue reset under RING_RESET reopens it. */
	if ((d->status & VIRTIO_STATUS_DRIVER_OK) &&
	    !vdev_has(d, VIRTIO_F_RING_RESET))
		return NULL;
	*rc = 0;
	return vq;
}

int vdev_queue_set_size(struct vdev *d, uint16_t q, uint16_t size)
{
	int rc;
	struct vdev_queue *vq = cfg_queue(d, q, &rc);

	if (!vq)
		return rc;
	/* Split rings need a power of two; packed ones do not (2.8.10.1). */
	if (size == 0 || size > vq->max_size ||
	    (!vdev_has(d, VIRTIO_F_RING_PACKED) && (size & (size - 1))))
		return -EINVAL;
	vq->size = size;
	return 0;
}

int vdev_queue_set_addr(struct vdev *d, uint16_t q, uint64_t desc,
			uint64_t driver, uint64_t device)
{
	int rc;
	struct vdev_queue *vq = cfg_queue(d, q, &rc);

	if (!vq)
		return rc;
	vq->desc = desc;
	vq->driver = driver;
	vq->device = device;
	return 0;
}

int vdev_queue_set_vector(struct vdev *d, uint16_t q, uint16_t vector)
{
	int rc;
	struct vdev_queue *vq = cfg_queue(d, q, &rc);

	if (!vq)
		return rc;
	vq->vector = vector;
	return 0;
}

int vdev_queue_enable(struct vdev *d, uint16_t q)
{
	int rc;
	struct vdev_queue *vq = cfg_queue(d, q, &rc);

	if (!vq)
		return rc;
	if (!(d->status & VIRTIO_STATUS_FEATURES_OK))
		return -EINVAL; /* the ring format is not known yet */
	rc = vq_setup(&vq->vq, d->dma, vq->size, vq->desc, vq->driver,
		      vq->device, vdev_ring_flags(d), d->name);
	if (rc) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: queue %u refused: size %u, rings %#llx/%#llx/%#llx",
			   d->name, q, vq->size, (unsigned long long)vq->desc,
			   (unsigned long long)vq->driver,
			   (unsigned long long)vq->device);
		return rc;
	}
	vq->vq.vector = vq->vector;
	vq->enabled = true;
	/* A queue re-enabled after a queue reset joins the running device. */
	if ((d->status & VIRTIO_STATUS_DRIVER_OK) && d->ops->start)
		d->ops->start(d);
	return 0;
}

int vdev_queue_reset(struct vdev *d, uint16_t q)
{
	if (q >= d->num_queues)
		return -ERANGE;
	if (!vdev_has(d, VIRTIO_F_RING_RESET) || d->resetting)
		return -EINVAL;
	struct vdev_queue *vq = &d->q[q];
	if (vq->resetting)
		return 0;
	vq->resetting = true;
	if (vq->enabled && d->ops->quiesce_queue)
		d->ops->quiesce_queue(d, q); /* answers vdev_queue_quiesced() */
	else
		vdev_queue_quiesced(d, q);
	return 0;
}

bool vdev_queue_resetting(const struct vdev *d, uint16_t q)
{
	return q < d->num_queues && d->q[q].resetting;
}

void vdev_queue_quiesced(struct vdev *d, uint16_t q)
{
	if (q < d->num_queues && d->q[q].resetting)
		queue_defaults(&d->q[q]);
}

static void raise_config(struct vdev *d)
{
	vdev_config_touched(d);
	if ((d->status & VIRTIO_STATUS_DRIVER_OK) && d->ops->config_irq)
		d->ops->config_irq(d);
}

void vdev_needs_reset(struct vdev *d)
{
	if (d->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	HAL_LOG_RL(HAL_LOG_ERR, COMP, "%s: device needs reset", d->name);
	d->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	/* 2.1.2: after DRIVER_OK, tell the driver. */
	raise_config(d);
}

void vdev_config_changed(struct vdev *d)
{
	raise_config(d);
}

void vdev_config_touched(struct vdev *d)
{
	d->config_generation++;
}

void vdev_config_read(struct vdev *d, uint32_t off, void *buf, uint32_t len)
{
	memset(buf, 0, len);
	if (d->ops->config_read)
		d->ops->config_read(d, off, buf, len);
}

void vdev_config_write(struct vdev *d, uint32_t off, const void *buf,
		       uint32_t len)
{
	if (d->ops->config_write)
		d->ops->config_write(d, off, buf, len);
}
