/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The generic virtio device through its transport-neutral API alone: the
 * driver initialization sequence, status rules, feature negotiation and
 * its refusals, queue configuration rules, device and queue reset (with a
 * datapath that lets go later), DEVICE_NEEDS_RESET and the configuration
 * generation and interrupt.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hal_log.h"
#include "sim_hostmem.h"
#include "sim_vq.h"
#include "virtio_dev.h"

#define F(b) VDEV_BIT(b)
#define OFFER (F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX) | \
	       F(VIRTIO_F_RING_PACKED) | F(VIRTIO_F_RING_RESET) | \
	       F(VIRTIO_F_INDIRECT_DESC) | F(3) /* a device-type bit */)
#define S_ACK VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRV VIRTIO_STATUS_DRIVER
#define S_FOK VIRTIO_STATUS_FEATURES_OK
#define S_DOK VIRTIO_STATUS_DRIVER_OK

struct fake {
	unsigned starts, quiesces, queue_quiesces, irqs;
	bool defer;          /* the datapath lets go later */
	bool refuse_bit3;    /* a device-type dependency */
	uint8_t cfg[8];
};

static int validate(struct vdev *d, uint64_t f)
{
	struct fake *fk = d->priv;

	return fk->refuse_bit3 && (f & F(3)) && !(f & F(VIRTIO_F_EVENT_IDX));
}

static void cfg_read(struct vdev *d, uint32_t off, void *buf, uint32_t len)
{
	struct fake *fk = d->priv;

	if (off < sizeof(fk->cfg) && len <= sizeof(fk->cfg) - off)
		memcpy(buf, fk->cfg + off, len);
}

static void cfg_write(struct vdev *d, uint32_t off, const void *buf, uint32_t len)
{
	struct fake *fk = d->priv;

	if (off < sizeof(fk->cfg) && len <= sizeof(fk->cfg) - off)
		memcpy(fk->cfg + off, buf, len);
}

static void start(struct vdev *d) { ((struct fake *)d->priv)->starts++; }
static void config_irq(struct vdev *d) { ((struct fake *)d->priv)->irqs++; }

static void quiesce(struct vdev *d)
{
	struct fake *fk = d->priv;

	fk->quiesces++;
	if (!fk->defer)
		vdev_quiesced(d);
}

static void quiesce_queue(struct vdev *d, uint16_t q)
{
	struct fake *fk = d->priv;

	fk->queue_quiesces++;
	if (!fk->defer)
		vdev_queue_quiesced(d, q);
}

static const struct vdev_ops ops = {
	.validate_features = validate,
	.config_read = cfg_read,
	.config_write = cfg_write,
	.start = start,
	.quiesce = quiesce,
	.quiesce_queue = quiesce_queue,
	.config_irq = config_irq,
};

struct env {
	struct sim_hostmem mem;
	struct dma_space *dma;
	struct vdev d;
	struct fake fk;
	struct sim_vq drv;
};

static void quiet(enum hal_log_level l, const char *line)
{
	(void)l;
	(void)line;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	hal_log_set_sink(quiet);
	sim_hostmem_init(&e->mem);
	assert_int_equal(sim_hostmem_add(&e->mem, 0x100000, 1 << 20), 0);
	e->dma = dma_space_create(NULL);
	assert_int_equal(sim_hostmem_map(&e->mem, e->dma, DMA_PROT_READ | DMA_PROT_WRITE), 0);
	assert_int_equal(vdev_init(&e->d, &ops, &e->fk, e->dma, OFFER, 3, 256, "t"), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	vdev_fini(&e->d);
	sim_vq_fini(&e->drv);
	dma_space_destroy(e->dma);
	sim_hostmem_free(&e->mem);
	free(e);
	hal_log_set_sink(NULL);
	return 0;
}

/* ACKNOWLEDGE, DRIVER, features, FEATURES_OK (read back). */
static void negotiate(struct vdev *d, uint64_t f)
{
	assert_int_equal(vdev_set_status(d, S_ACK), 0);
	assert_int_equal(vdev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vdev_set_driver_features(d, f), 0);
	assert_int_equal(vdev_set_status(d, S_ACK | S_DRV | S_FOK), 0);
	assert_int_equal(vdev_get_status(d), S_ACK | S_DRV | S_FOK);
}

/* Set up queue q from a sim_vq the way a driver does, and enable it. */
static void setup_queue(struct env *e, uint16_t q, uint16_t size, uint32_t ring)
{
	assert_int_equal(sim_vq_init(&e->drv, &e->mem, size, ring, 0), 0);
	assert_int_equal(vdev_queue_set_size(&e->d, q, size), 0);
	assert_int_equal(vdev_queue_set_addr(&e->d, q, e->drv.desc_iova,
					     e->drv.avail_iova, e->drv.used_iova), 0);
	assert_int_equal(vdev_queue_set_vector(&e->d, q, 1), 0);
	assert_int_equal(vdev_queue_enable(&e->d, q), 0);
}

static void test_init_sequence_and_traffic(void **state)
{
	struct env *e = *state;
	struct vq_chain c[1];
	struct vq_seg segs[256];
	uint64_t b;
	uint32_t len;
	bool bad;

	assert_int_equal(vdev_get_status(&e->d), 0);
	assert_int_equal(vdev_features(&e->d), 0);
	negotiate(&e->d, F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX));
	assert_int_equal(vdev_features(&e->d), F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX));
	assert_int_equal(vdev_ring_flags(&e->d), VQ_F_EVENT_IDX);
	setup_queue(e, 0, 64, VQ_F_EVENT_IDX);
	assert_int_equal(e->fk.starts, 0);
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV | S_FOK | S_DOK), 0);
	assert_int_equal(e->fk.starts, 1);
	/* The enabled queue carries traffic. */
	assert_int_equal(sim_hostmem_alloc(&e->mem, 64, 8, &b), 0);
	struct sim_buf o = { b, 64 };
	assert_int_equal(sim_vq_add(&e->drv, &o, 1, NULL, 0, (void *)1, false), 0);
	sim_vq_publish(&e->drv);
	assert_int_equal(vq_pop_burst(&e->d.q[0].vq, c, 1, segs, 256), 1);
	struct vq_done d = { c[0].head, 0 };
	assert_int_equal(vq_push_burst(&e->d.q[0].vq, &d, 1, false), 0);
	assert_ptr_equal(sim_vq_get_used(&e->drv, &len, &bad), (void *)1);
	assert_int_equal(e->d.q[0].vq.vector, 1);
	/* Configured now: no more changes without a reset. */
	assert_int_equal(vdev_queue_set_size(&e->d, 1, 32), -EINVAL);
	assert_int_equal(vdev_queue_set_size(&e->d, 0, 32), -EINVAL);
}

static void test_status_rules(void **state)
{
	struct env *e = *state;

	assert_int_equal(vdev_set_status(&e->d, S_DRV), -EINVAL);         /* no ACK */
	assert_int_equal(vdev_set_status(&e->d, S_ACK), 0);
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_FOK), -EINVAL); /* no DRIVER */
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV), 0);
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV | S_DOK), -EINVAL); /* no FEATURES_OK */
	assert_int_equal(vdev_set_status(&e->d, S_ACK), -EINVAL);         /* clears DRIVER */
	assert_int_equal(vdev_get_status(&e->d), S_ACK | S_DRV);
	/* The driver cannot set the device's NEEDS_RESET bit. */
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV | VIRTIO_STATUS_DEVICE_NEEDS_RESET), 0);
	assert_int_equal(vdev_get_status(&e->d), S_ACK | S_DRV);
	/* FAILED is the driver's to set at any point. */
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV | VIRTIO_STATUS_FAILED), 0);
	assert_int_equal(vdev_get_status(&e->d), S_ACK | S_DRV | VIRTIO_STATUS_FAILED);
	/* Features can only be written between DRIVER and FEATURES_OK. */
	assert_int_equal(vdev_set_status(&e->d, 0), 0);
	assert_int_equal(vdev_set_driver_features(&e->d, F(VIRTIO_F_VERSION_1)), -EINVAL);
}

static void test_features_refused(void **state)
{
	struct env *e = *state;
	const uint64_t v1 = F(VIRTIO_F_VERSION_1);

	/* Not offered. */
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV), 0);
	assert_int_equal(vdev_set_driver_features(&e->d, v1 | F(VIRTIO_F_IN_ORDER)), 0);
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV | S_FOK), -EINVAL);
	assert_int_equal(vdev_get_status(&e->d), S_ACK | S_DRV); /* read back: refused */
	assert_int_equal(vdev_features(&e->d), 0);
	/* Legacy (no VERSION_1). */
	assert_int_equal(vdev_set_driver_features(&e->d, F(VIRTIO_F_EVENT_IDX)), 0);
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV | S_FOK), -EINVAL);
	/* A device-type dependency. */
	e->fk.refuse_bit3 = true;
	assert_int_equal(vdev_set_driver_features(&e->d, v1 | F(3)), 0);
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV | S_FOK), -EINVAL);
	assert_int_equal(vdev_set_driver_features(&e->d, v1 | F(3) | F(VIRTIO_F_EVENT_IDX)), 0);
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV | S_FOK), 0);
	/* Once accepted, the features are fixed until reset. */
	assert_int_equal(vdev_set_driver_features(&e->d, v1), -EINVAL);
	assert_int_equal(vdev_features(&e->d), v1 | F(3) | F(VIRTIO_F_EVENT_IDX));
	/* DRIVER_OK cannot follow a refused FEATURES_OK in the same write. */
	assert_int_equal(vdev_set_status(&e->d, 0), 0);
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV), 0);
	assert_int_equal(vdev_set_driver_features(&e->d, 0), 0);
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV | S_FOK | S_DOK), -EINVAL);
	assert_int_equal(vdev_get_status(&e->d), S_ACK | S_DRV);
	assert_int_equal(e->fk.starts, 0);
}

static void test_queue_rules(void **state)
{
	struct env *e = *state;

	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV), 0);
	/* Enabling before the ring format is known. */
	assert_int_equal(vdev_queue_enable(&e->d, 0), -EINVAL);
	assert_int_equal(vdev_set_driver_features(&e->d, F(VIRTIO_F_VERSION_1)), 0);
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV | S_FOK), 0);
	assert_int_equal(vdev_queue_set_size(&e->d, 3, 64), -ERANGE);
	assert_int_equal(vdev_queue_set_size(&e->d, 0, 0), -EINVAL);
	assert_int_equal(vdev_queue_set_size(&e->d, 0, 512), -EINVAL); /* > max 256 */
	assert_int_equal(vdev_queue_set_size(&e->d, 0, 48), -EINVAL);  /* split: power of 2 */
	assert_int_equal(vdev_queue_set_size(&e->d, 0, 64), 0);
	/* Misaligned rings are refused at enable. */
	assert_int_equal(vdev_queue_set_addr(&e->d, 0, 0x100008, 0x101000, 0x102000), 0);
	assert_int_equal(vdev_queue_enable(&e->d, 0), -EINVAL);
	assert_false(e->d.q[0].enabled);
}

static void test_packed_sizes(void **state)
{
	struct env *e = *state;

	negotiate(&e->d, F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_PACKED));
	assert_int_equal(vdev_ring_flags(&e->d), VQ_F_PACKED);
	assert_int_equal(vdev_queue_set_size(&e->d, 0, 48), 0); /* 2.8.10.1 */
	setup_queue(e, 1, 100, VQ_F_PACKED);
	assert_true(e->d.q[1].vq.flags & VQ_F_PACKED);
}

static void test_reset_waits_for_datapath(void **state)
{
	struct env *e = *state;

	negotiate(&e->d, F(VIRTIO_F_VERSION_1));
	setup_queue(e, 0, 64, 0);
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV | S_FOK | S_DOK), 0);
	e->fk.defer = true;
	assert_int_equal(vdev_set_status(&e->d, 0), 0);
	assert_int_equal(e->fk.quiesces, 1);
	/* Reads non-zero until the datapath let go; writes wait. */
	assert_int_not_equal(vdev_get_status(&e->d), 0);
	assert_int_equal(vdev_set_status(&e->d, S_ACK), -EBUSY);
	assert_true(e->d.q[0].enabled);
	uint8_t gen = e->d.config_generation;
	vdev_quiesced(&e->d);
	assert_int_equal(vdev_get_status(&e->d), 0);
	assert_int_equal(vdev_features(&e->d), 0);
	assert_false(e->d.q[0].enabled);
	assert_int_equal(e->d.q[0].size, 256);
	assert_int_equal(e->d.q[0].vector, VQ_NO_VECTOR);
	assert_int_equal(e->d.q[0].desc, 0);
	assert_true((uint8_t)(e->d.config_generation - gen) >= 1);
	/* And the device can be brought up again. */
	e->fk.defer = false;
	sim_vq_fini(&e->drv);
	negotiate(&e->d, F(VIRTIO_F_VERSION_1));
	setup_queue(e, 0, 64, 0);
}

static void test_queue_reset(void **state)
{
	struct env *e = *state;

	/* Without RING_RESET: refused. */
	negotiate(&e->d, F(VIRTIO_F_VERSION_1));
	assert_int_equal(vdev_queue_reset(&e->d, 0), -EINVAL);
	assert_int_equal(vdev_set_status(&e->d, 0), 0);

	negotiate(&e->d, F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_RESET));
	setup_queue(e, 0, 64, 0);
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV | S_FOK | S_DOK), 0);
	assert_int_equal(vdev_queue_set_size(&e->d, 0, 32), -EINVAL); /* enabled */
	e->fk.defer = true;
	assert_int_equal(vdev_queue_reset(&e->d, 0), 0);
	assert_int_equal(e->fk.queue_quiesces, 1);
	assert_true(vdev_queue_resetting(&e->d, 0));
	assert_int_equal(vdev_queue_set_size(&e->d, 0, 32), -EINVAL); /* still resetting */
	vdev_queue_quiesced(&e->d, 0);
	assert_false(vdev_queue_resetting(&e->d, 0));
	assert_false(e->d.q[0].enabled);
	/* Reconfigured and re-enabled while the device runs. */
	sim_vq_fini(&e->drv);
	unsigned starts = e->fk.starts;
	setup_queue(e, 0, 32, 0);
	assert_int_equal(e->fk.starts, starts + 1);
	assert_int_equal(e->d.q[0].vq.size, 32);
	assert_int_equal(vdev_queue_reset(&e->d, 7), -ERANGE);
}

static void test_needs_reset_and_config_changes(void **state)
{
	struct env *e = *state;
	uint8_t gen = e->d.config_generation;

	/* Before DRIVER_OK: generation moves, no interrupt. */
	vdev_config_changed(&e->d);
	assert_int_equal((uint8_t)(e->d.config_generation - gen), 1);
	assert_int_equal(e->fk.irqs, 0);
	negotiate(&e->d, F(VIRTIO_F_VERSION_1));
	setup_queue(e, 0, 8, 0);
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV | S_FOK | S_DOK), 0);
	vdev_config_changed(&e->d);
	assert_int_equal(e->fk.irqs, 1);
	/* At the driver's own request: a new generation, no interrupt. */
	gen = e->d.config_generation;
	vdev_config_touched(&e->d);
	assert_int_equal((uint8_t)(e->d.config_generation - gen), 1);
	assert_int_equal(e->fk.irqs, 1);

	/* A hostile ring breaks the queue; the device asks for a reset. */
	e->drv.avail->ring[0] = cpu_to_vle16(99);
	e->drv.avail_idx = 1;
	sim_vq_publish(&e->drv);
	struct vq_chain c[1];
	struct vq_seg segs[8];
	assert_int_equal(vq_pop_burst(&e->d.q[0].vq, c, 1, segs, 8), 0);
	assert_true(vq_broken(&e->d.q[0].vq));
	gen = e->d.config_generation;
	vdev_needs_reset(&e->d);
	assert_true(vdev_get_status(&e->d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal((uint8_t)(e->d.config_generation - gen), 1);
	assert_int_equal(e->fk.irqs, 2);
	vdev_needs_reset(&e->d); /* once */
	assert_int_equal(e->fk.irqs, 2);
	/* Driver writes keep the bit; only a reset clears it. */
	assert_int_equal(vdev_set_status(&e->d, S_ACK | S_DRV | S_FOK | S_DOK), 0);
	assert_true(vdev_get_status(&e->d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal(vdev_set_status(&e->d, 0), 0);
	assert_int_equal(vdev_get_status(&e->d), 0);
}

static void test_config_space(void **state)
{
	struct env *e = *state;
	uint8_t b[4];

	memcpy(e->fk.cfg, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	vdev_config_read(&e->d, 2, b, 4);
	assert_memory_equal(b, "\x03\x04\x05\x06", 4);
	/* Out of the device's range: zeros, not a crash. */
	memset(b, 0xee, 4);
	vdev_config_read(&e->d, 6, b, 4);
	assert_memory_equal(b, "\0\0\0\0", 4);
	vdev_config_write(&e->d, 0, "\xaa", 1);
	assert_int_equal(e->fk.cfg[0], 0xaa);
}

static void test_init_validation(void **state)
{
	struct env *e = *state;
	struct vdev d;

	assert_int_equal(vdev_init(&d, &ops, NULL, e->dma, F(VIRTIO_F_EVENT_IDX), 2, 64, "x"), -EINVAL);
	assert_int_equal(vdev_init(&d, &ops, NULL, e->dma, OFFER, 0, 64, "x"), -EINVAL);
	assert_int_equal(vdev_init(&d, &ops, NULL, e->dma, OFFER, 2, 0, "x"), -EINVAL);
	assert_int_equal(vdev_init(&d, NULL, NULL, e->dma, OFFER, 2, 64, "x"), -EINVAL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_init_sequence_and_traffic),
		T(test_status_rules),
		T(test_features_refused),
		T(test_queue_rules),
		T(test_packed_sizes),
		T(test_reset_waits_for_datapath),
		T(test_queue_reset),
		T(test_needs_reset_and_config_changes),
		T(test_config_space),
		T(test_init_validation),
	};
	return cmocka_run_group_tests_name("virtio_dev", tests, NULL, NULL);
}
