/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio_pci through vpci_access alone, as a host drives the function:
 * enumeration (IDs, the capability and extended capability lists, every
 * virtio structure where the layout says), BAR sizing, the driver
 * initialization sequence through the common configuration and its
 * rules (feature windows, NO_VECTOR, selectors, odd widths, read-only
 * fields, queue reset), ISR, notifications, the device configuration
 * window, MSI-X (table and external masking, pending and fire-once,
 * PBA, function mask, disable), the PCI_CFG window, SR-IOV, FLR, and
 * hostile accesses of every width at every offset.
 *
 * Offsets and bits come from Linux's <linux/pci_regs.h> and
 * <linux/virtio_pci.h>, a second reading of the specs beside the one the
 * implementation makes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>
#include <linux/virtio_pci.h>

#include "hal_log.h"
#include "sim_hostmem.h"
#include "sim_vq.h"
#include "virtio_dev.h"
#include "virtio_pci.h"

#define F(b) VDEV_BIT(b)
#define OFFER (F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_RESET) | \
	       F(VIRTIO_F_NOTIFICATION_DATA) | F(VIRTIO_F_INDIRECT_DESC) | \
	       F(3) /* a device-type bit */)
#define S_ACK VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRV VIRTIO_STATUS_DRIVER
#define S_FOK VIRTIO_STATUS_FEATURES_OK
#define S_DOK VIRTIO_STATUS_DRIVER_OK

#define NQ   3
#define NV   4
#define TVFS 8

#define CFG  VPCI_REGION_CONFIG
#define BAR0 VPCI_REGION_BAR0
#define BAR2 VPCI_REGION_BAR2

/* Common configuration fields Linux's header does not name (virtio 1.3). */
#define CC_ADMIN_INDEX 0x3c
#define CC_ADMIN_NUM   0x3e
#define CC_LEN         0x40

struct env {
	struct sim_hostmem mem;
	struct dma_space *dma;
	struct vdev d;
	struct vpci *p;
	struct sim_vq drv[NQ];
	bool drv_init[NQ];
	/* the device type */
	uint8_t cfg[8];
	bool defer;
	unsigned quiesces;
	/* vpci ops */
	unsigned sriov_calls;
	uint16_t sriov_n;
	bool sriov_en;
	unsigned changed[NV];
	int published[NV];
	unsigned notifies;
	uint16_t notify_q;
	uint32_t notify_val;
	int efd[NV];
};

/* ---- the device type and the owner ------------------------------------------ */
static void cfg_read(struct vdev *d, uint32_t off, void *buf, uint32_t len)
{
	struct env *e = d->priv;

	if (off < sizeof(e->cfg) && len <= sizeof(e->cfg) - off)
		memcpy(buf, e->cfg + off, len);
}

static void cfg_write(struct vdev *d, uint32_t off, const void *buf, uint32_t len)
{
	struct env *e = d->priv;

	if (off < sizeof(e->cfg) && len <= sizeof(e->cfg) - off)
		memcpy(e->cfg + off, buf, len);
}

static void quiesce(struct vdev *d)
{
	struct env *e = d->priv;

	e->quiesces++;
	if (!e->defer)
		vdev_quiesced(d);
}

static void quiesce_queue(struct vdev *d, uint16_t q)
{
	struct env *e = d->priv;

	if (!e->defer)
		vdev_queue_quiesced(d, q);
}

static void config_irq(struct vdev *d)
{
	struct env *e = d->priv;

	vpci_config_irq(e->p);
}

static const struct vdev_ops vops = {
	.config_read = cfg_read,
	.config_write = cfg_write,
	.quiesce = quiesce,
	.quiesce_queue = quiesce_queue,
	.config_irq = config_irq,
};

static void op_sriov(struct vpci *p, uint16_t n, bool en)
{
	struct env *e = vpci_priv(p);

	e->sriov_calls++;
	e->sriov_n = n;
	e->sriov_en = en;
}

static void op_vector_changed(struct vpci *p, uint16_t v)
{
	struct env *e = vpci_priv(p);

	assert_true(v < NV);
	e->changed[v]++;
	e->published[v] = vpci_vector_fd(p, v); /* the owner republishes */
}

static void op_notify(struct vpci *p, uint16_t q, uint32_t val)
{
	struct env *e = vpci_priv(p);

	e->notifies++;
	e->notify_q = q;
	e->notify_val = val;
}

static const struct vpci_ops pops = {
	.sriov = op_sriov,
	.vector_changed = op_vector_changed,
	.notify = op_notify,
};

static const struct vpci_params pf_params = {
	.device_id = VPCI_DEVICE_NET,
	.subsys_vendor_id = VPCI_VENDOR_VIRTIO,
	.subsys_id = 0x1100,
	.num_vectors = NV,
	.total_vfs = TVFS,
	.vf_offset = 1,
	.vf_stride = 1,
	.vf_device_id = VPCI_DEVICE_NET,
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
	assert_int_equal(vdev_init(&e->d, &vops, e, e->dma, OFFER, NQ, 256, "t"), 0);
	for (unsigned i = 0; i < sizeof(e->cfg); i++)
		e->cfg[i] = (uint8_t)(i + 1);
	e->p = vpci_create(&e->d, &pf_params, &pops, e);
	assert_non_null(e->p);
	for (unsigned v = 0; v < NV; v++) {
		e->efd[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(e->efd[v] >= 0);
		e->published[v] = -1;
	}
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	vpci_destroy(e->p);
	vdev_fini(&e->d);
	for (unsigned q = 0; q < NQ; q++)
		if (e->drv_init[q])
			sim_vq_fini(&e->drv[q]);
	for (unsigned v = 0; v < NV; v++)
		close(e->efd[v]);
	dma_space_destroy(e->dma);
	sim_hostmem_free(&e->mem);
	free(e);
	hal_log_set_sink(NULL);
	return 0;
}

/* ---- access helpers ------------------------------------------------------------- */
static uint64_t rd(struct env *e, unsigned region, uint32_t off, uint32_t len)
{
	uint8_t b[8] = { 0 };
	uint64_t v = 0;

	assert_true(len <= sizeof(b));
	assert_int_equal(vpci_access(e->p, region, off, b, len, false), 0);
	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void wr(struct env *e, unsigned region, uint32_t off, uint32_t len, uint64_t v)
{
	uint8_t b[8];

	assert_true(len <= sizeof(b));
	for (uint32_t i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	assert_int_equal(vpci_access(e->p, region, off, b, len, true), 0);
}

static uint64_t cc_rd(struct env *e, uint32_t off, uint32_t len)
{
	return rd(e, BAR0, VPCI_COMMON_OFF + off, len);
}

static void cc_wr(struct env *e, uint32_t off, uint32_t len, uint64_t v)
{
	wr(e, BAR0, VPCI_COMMON_OFF + off, len, v);
}

static uint64_t count(int fd)
{
	eventfd_t n;

	return eventfd_read(fd, &n) == 0 ? n : 0;
}

/* ---- enumeration ------------------------------------------------------------------ */
struct caps {
	uint8_t exp, msix;
	uint8_t vcap[6]; /* by cfg_type 1..5 */
	uint16_t sriov, ari;
	unsigned n, next;
};

static void walk(struct env *e, struct caps *c)
{
	memset(c, 0, sizeof(*c));
	assert_true(rd(e, CFG, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	uint8_t at = (uint8_t)rd(e, CFG, PCI_CAPABILITY_LIST, 1);
	while (at) {
		assert_true(at >= 0x40 && at % 4 == 0);
		assert_true(++c->n < 48);
		uint8_t id = (uint8_t)rd(e, CFG, at, 1);
		if (id == PCI_CAP_ID_EXP) {
			c->exp = at;
		} else if (id == PCI_CAP_ID_MSIX) {
			c->msix = at;
		} else {
			assert_int_equal(id, PCI_CAP_ID_VNDR);
			uint8_t type = (uint8_t)rd(e, CFG, at + VIRTIO_PCI_CAP_CFG_TYPE, 1);
			assert_true(type >= 1 && type <= 5);
			assert_int_equal(c->vcap[type], 0);
			c->vcap[type] = at;
		}
		at = (uint8_t)rd(e, CFG, at + PCI_CAP_LIST_NEXT, 1);
	}
	uint16_t x = PCI_CFG_SPACE_SIZE;
	while (x) {
		uint32_t h = (uint32_t)rd(e, CFG, x, 4);
		assert_true(++c->next < 8);
		assert_int_equal(PCI_EXT_CAP_VER(h), 1);
		if (PCI_EXT_CAP_ID(h) == PCI_EXT_CAP_ID_SRIOV)
			c->sriov = x;
		else if (PCI_EXT_CAP_ID(h) == PCI_EXT_CAP_ID_ARI)
			c->ari = x;
		else
			fail_msg("unexpected extended capability %#x", PCI_EXT_CAP_ID(h));
		x = (uint16_t)PCI_EXT_CAP_NEXT(h);
		assert_true(x == 0 || x >= PCI_CFG_SPACE_SIZE);
	}
}

static uint16_t msix_ctl_off(struct env *e)
{
	struct caps c;

	walk(e, &c);
	return c.msix + PCI_MSIX_FLAGS;
}

static void check_vcap(struct env *e, uint8_t at, uint32_t off, uint32_t len)
{
	assert_int_equal(rd(e, CFG, at + VIRTIO_PCI_CAP_BAR, 1), 0);
	assert_int_equal(rd(e, CFG, at + VIRTIO_PCI_CAP_OFFSET, 4), off);
	assert_int_equal(rd(e, CFG, at + VIRTIO_PCI_CAP_LENGTH, 4), len);
}

static void test_identity_registers_read_as_a_modern_virtio_net_function(void **state)
{
	struct env *e = *state;

	assert_int_equal(rd(e, CFG, PCI_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(rd(e, CFG, PCI_DEVICE_ID, 2), 0x1041);
	assert_int_equal(rd(e, CFG, PCI_VENDOR_ID, 4), 0x10411af4);
	assert_int_equal(rd(e, CFG, PCI_REVISION_ID, 1), 1);
	assert_int_equal(rd(e, CFG, PCI_CLASS_REVISION, 4) >> 8, 0x020000);
	assert_int_equal(rd(e, CFG, PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_NORMAL);
	assert_int_equal(rd(e, CFG, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(rd(e, CFG, PCI_SUBSYSTEM_ID, 2), 0x1100);
	assert_int_equal(rd(e, CFG, PCI_INTERRUPT_PIN, 1), 0);
	assert_int_equal(rd(e, CFG, PCI_COMMAND, 2), 0);
	assert_int_equal(rd(e, CFG, PCI_STATUS, 2), PCI_STATUS_CAP_LIST);
	assert_int_equal(rd(e, CFG, PCI_CAPABILITY_LIST, 1), 0x40);
	assert_int_equal(vpci_region_size(e->p, CFG), 4096);
	assert_int_equal(vpci_region_size(e->p, BAR0), VPCI_BAR0_SIZE);
	assert_int_equal(vpci_region_size(e->p, BAR2), VPCI_BAR2_SIZE);
	assert_ptr_equal(vpci_vdev(e->p), &e->d);
	assert_ptr_equal(vpci_priv(e->p), e);
	assert_int_equal(vpci_num_vectors(e->p), NV);
	/* The IDs do not change. */
	wr(e, CFG, 0, 4, 0);
	wr(e, CFG, PCI_CLASS_REVISION, 4, 0);
	wr(e, CFG, PCI_SUBSYSTEM_VENDOR_ID, 4, 0);
	wr(e, CFG, PCI_INTERRUPT_PIN, 1, 1);
	assert_int_equal(rd(e, CFG, PCI_VENDOR_ID, 4), 0x10411af4);
	assert_int_equal(rd(e, CFG, PCI_CLASS_REVISION, 4), 0x02000001);
	assert_int_equal(rd(e, CFG, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4);
	assert_int_equal(rd(e, CFG, PCI_INTERRUPT_PIN, 1), 0);
	/* Interrupt Line and Cache Line Size are plain storage. */
	wr(e, CFG, PCI_INTERRUPT_LINE, 1, 11);
	assert_int_equal(rd(e, CFG, PCI_INTERRUPT_LINE, 1), 11);
}

static void test_command_register_keeps_only_its_writable_bits(void **state)
{
	struct env *e = *state;

	wr(e, CFG, PCI_COMMAND, 2, 0xffff);
	assert_int_equal(rd(e, CFG, PCI_COMMAND, 2),
			 PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	/* Status is RO / RW1C: writing ones leaves the capabilities bit. */
	wr(e, CFG, PCI_STATUS, 2, 0xffff);
	assert_int_equal(rd(e, CFG, PCI_STATUS, 2), PCI_STATUS_CAP_LIST);
	/* One 32-bit access for both, as some hosts do. */
	wr(e, CFG, PCI_COMMAND, 4, 0xffff0000 | PCI_COMMAND_MEMORY);
	assert_int_equal(rd(e, CFG, PCI_COMMAND, 4),
			 (uint32_t)PCI_STATUS_CAP_LIST << 16 | PCI_COMMAND_MEMORY);
}

static void test_bars_answer_the_sizing_probe_and_others_read_zero(void **state)
{
	struct env *e = *state;

	for (unsigned b = 0; b < 6; b++)
		wr(e, CFG, PCI_BASE_ADDRESS_0 + 4 * b, 4, 0xffffffff);
	assert_int_equal(rd(e, CFG, PCI_BASE_ADDRESS_0, 4),
			 ~(VPCI_BAR0_SIZE - 1) | PCI_BASE_ADDRESS_MEM_TYPE_32);
	assert_int_equal(rd(e, CFG, PCI_BASE_ADDRESS_2, 4),
			 ~(VPCI_BAR2_SIZE - 1) | PCI_BASE_ADDRESS_MEM_TYPE_32);
	assert_int_equal(rd(e, CFG, PCI_BASE_ADDRESS_1, 4), 0);
	assert_int_equal(rd(e, CFG, PCI_BASE_ADDRESS_3, 4), 0);
	assert_int_equal(rd(e, CFG, PCI_BASE_ADDRESS_4, 4), 0);
	assert_int_equal(rd(e, CFG, PCI_BASE_ADDRESS_5, 4), 0);
	/* Memory BARs: bit 0 clear, 32-bit, not prefetchable. */
	assert_int_equal(rd(e, CFG, PCI_BASE_ADDRESS_0, 1) & 0xf, 0);
	wr(e, CFG, PCI_ROM_ADDRESS, 4, 0xffffffff);
	assert_int_equal(rd(e, CFG, PCI_ROM_ADDRESS, 4), 0);
	assert_int_equal(vpci_region_size(e->p, VPCI_REGION_ROM), 0);
	/* The host places them. */
	wr(e, CFG, PCI_BASE_ADDRESS_0, 4, 0xfe000000);
	wr(e, CFG, PCI_BASE_ADDRESS_2, 4, 0xfe00e123);
	assert_int_equal(rd(e, CFG, PCI_BASE_ADDRESS_0, 4), 0xfe000000);
	assert_int_equal(rd(e, CFG, PCI_BASE_ADDRESS_2, 4), 0xfe00e000);
	/* A byte-wide probe of the top byte works the same. */
	wr(e, CFG, PCI_BASE_ADDRESS_0 + 3, 1, 0xff);
	assert_int_equal(rd(e, CFG, PCI_BASE_ADDRESS_0, 4), 0xff000000);
	for (unsigned r = 0; r < VPCI_NUM_REGIONS; r++)
		if (r != BAR0 && r != BAR2 && r != CFG)
			assert_int_equal(vpci_region_size(e->p, r), 0);
}

static void test_capability_list_holds_express_msix_and_every_virtio_structure(void **state)
{
	struct env *e = *state;
	struct caps c;

	walk(e, &c);
	/* PCI Express v2, endpoint, FLR capable. */
	assert_int_not_equal(c.exp, 0);
	uint16_t fl = (uint16_t)rd(e, CFG, c.exp + PCI_EXP_FLAGS, 2);
	assert_int_equal(fl & PCI_EXP_FLAGS_VERS, 2);
	assert_int_equal((fl & PCI_EXP_FLAGS_TYPE) >> 4, PCI_EXP_TYPE_ENDPOINT);
	assert_true(rd(e, CFG, c.exp + PCI_EXP_DEVCAP, 4) & PCI_EXP_DEVCAP_FLR);
	/* MSI-X: table size num_vectors, table in BAR2 at 0, PBA after. */
	assert_int_not_equal(c.msix, 0);
	assert_int_equal(rd(e, CFG, c.msix + PCI_MSIX_FLAGS, 2), NV - 1);
	uint32_t t = (uint32_t)rd(e, CFG, c.msix + PCI_MSIX_TABLE, 4);
	uint32_t pba = (uint32_t)rd(e, CFG, c.msix + PCI_MSIX_PBA, 4);
	assert_int_equal(t & PCI_MSIX_TABLE_BIR, 2);
	assert_int_equal(t & PCI_MSIX_TABLE_OFFSET, 0);
	assert_int_equal(pba & PCI_MSIX_PBA_BIR, 2);
	assert_int_equal(pba & PCI_MSIX_PBA_OFFSET, VPCI_PBA_OFF);
	/* The virtio structures, each once, in BAR0 where the layout says. */
	check_vcap(e, c.vcap[VIRTIO_PCI_CAP_COMMON_CFG], VPCI_COMMON_OFF, CC_LEN);
	check_vcap(e, c.vcap[VIRTIO_PCI_CAP_NOTIFY_CFG], VPCI_NOTIFY_OFF,
		   NQ * VPCI_NOTIFY_MULT);
	check_vcap(e, c.vcap[VIRTIO_PCI_CAP_ISR_CFG], VPCI_ISR_OFF, 1);
	check_vcap(e, c.vcap[VIRTIO_PCI_CAP_DEVICE_CFG], VPCI_DEVICE_OFF, VPCI_DEVICE_MAX);
	assert_int_not_equal(c.vcap[VIRTIO_PCI_CAP_PCI_CFG], 0);
	assert_int_equal(rd(e, CFG, c.vcap[VIRTIO_PCI_CAP_NOTIFY_CFG] + 2, 1),
			 sizeof(struct virtio_pci_notify_cap));
	assert_int_equal(rd(e, CFG, c.vcap[VIRTIO_PCI_CAP_NOTIFY_CFG] +
			    offsetof(struct virtio_pci_notify_cap, notify_off_multiplier), 4),
			 VPCI_NOTIFY_MULT);
	assert_int_equal(rd(e, CFG, c.vcap[VIRTIO_PCI_CAP_PCI_CFG] + 2, 1),
			 sizeof(struct virtio_pci_cfg_cap));
	assert_int_equal(rd(e, CFG, c.vcap[VIRTIO_PCI_CAP_COMMON_CFG] + 2, 1),
			 sizeof(struct virtio_pci_cap));
	/* Alignment rules of 4.1.4.3-4.1.4.6. */
	assert_int_equal(VPCI_COMMON_OFF % 4, 0);
	assert_int_equal(VPCI_NOTIFY_OFF % 4, 0);
	assert_int_equal(VPCI_DEVICE_OFF % 4, 0);
	/* Every structure fits its BAR. */
	assert_true(VPCI_NOTIFY_OFF + NQ * VPCI_NOTIFY_MULT <= VPCI_BAR0_SIZE);
	assert_true(VPCI_DEVICE_OFF + VPCI_DEVICE_MAX <= VPCI_BAR0_SIZE);
	/* The capability fields are read-only to the driver. */
	uint8_t zero[16] = { 0 };
	assert_int_equal(vpci_access(e->p, CFG, c.vcap[VIRTIO_PCI_CAP_COMMON_CFG],
				     zero, sizeof(zero), true), 0);
	wr(e, CFG, c.vcap[VIRTIO_PCI_CAP_COMMON_CFG] + 8, 8, ~0ull);
	check_vcap(e, c.vcap[VIRTIO_PCI_CAP_COMMON_CFG], VPCI_COMMON_OFF, CC_LEN);
}

static void test_extended_list_holds_sriov_then_ari_on_a_pf(void **state)
{
	struct env *e = *state;
	struct caps c;

	walk(e, &c);
	assert_int_equal(c.sriov, PCI_CFG_SPACE_SIZE);
	assert_int_not_equal(c.ari, 0);
	assert_int_equal(c.next, 2);
	/* No function groups; no next function in the device. */
	assert_int_equal(rd(e, CFG, c.ari + PCI_ARI_CAP, 2), 0);
	assert_int_equal(rd(e, CFG, c.ari + PCI_ARI_CTRL, 2), 0);
	wr(e, CFG, c.ari + PCI_ARI_CTRL, 2, 0xffff);
	assert_int_equal(rd(e, CFG, c.ari + PCI_ARI_CTRL, 2), 0);
	/* A PF with the SR-IOV capability offers VIRTIO_F_SR_IOV (bit 37). */
	cc_wr(e, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	assert_true(cc_rd(e, VIRTIO_PCI_COMMON_DF, 4) & (1u << (VIRTIO_F_SR_IOV - 32)));
}

static void test_vf_shows_its_ids_and_has_ari_but_no_sriov(void **state)
{
	struct env *e = *state;
	struct vpci_params prm = pf_params;
	struct vpci *pf = e->p;
	struct caps c;

	prm.is_vf = true;
	assert_null(vpci_create(&e->d, &prm, &pops, e)); /* a VF has no VFs */
	prm.total_vfs = 0;
	e->p = vpci_create(&e->d, &prm, &pops, e);
	assert_non_null(e->p);
	assert_int_equal(rd(e, CFG, PCI_VENDOR_ID, 4), 0x10411af4);
	walk(e, &c);
	assert_int_equal(c.sriov, 0);
	assert_int_equal(c.ari, PCI_CFG_SPACE_SIZE);
	assert_int_equal(c.next, 1);
	assert_int_not_equal(c.vcap[VIRTIO_PCI_CAP_COMMON_CFG], 0);
	/* Without the SR-IOV capability, no VIRTIO_F_SR_IOV (MUST NOT). */
	cc_wr(e, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	assert_false(cc_rd(e, VIRTIO_PCI_COMMON_DF, 4) & (1u << (VIRTIO_F_SR_IOV - 32)));
	/* It has its own BARs and its own FLR. */
	wr(e, CFG, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	assert_int_equal(rd(e, CFG, PCI_BASE_ADDRESS_0, 4), ~(VPCI_BAR0_SIZE - 1));
	vpci_destroy(e->p);
	/* A PF without VFs: only ARI. */
	prm.is_vf = false;
	e->p = vpci_create(&e->d, &prm, &pops, e);
	walk(e, &c);
	assert_int_equal(c.sriov, 0);
	assert_int_equal(c.ari, PCI_CFG_SPACE_SIZE);
	vpci_destroy(e->p);
	/* Parameters out of range. */
	prm.num_vectors = 0;
	assert_null(vpci_create(&e->d, &prm, &pops, e));
	prm.num_vectors = VPCI_MSIX_MAX + 1;
	assert_null(vpci_create(&e->d, &prm, &pops, e));
	prm.num_vectors = VPCI_MSIX_MAX;
	e->p = vpci_create(&e->d, &prm, NULL, NULL); /* no ops at all */
	assert_non_null(e->p);
	assert_int_equal(rd(e, CFG, msix_ctl_off(e), 2), VPCI_MSIX_MAX - 1);
	wr(e, BAR0, VPCI_NOTIFY_OFF, 2, 0);
	vpci_destroy(e->p);
	e->p = pf;
}

/* ---- the driver through common configuration ---------------------------------- */

/* Reset, ACKNOWLEDGE, DRIVER, features in two windows, FEATURES_OK. */
static void negotiate(struct env *e, uint64_t want)
{
	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_STATUS, 1), 0);
	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, S_ACK);
	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRV);
	uint64_t f = 0;
	for (uint32_t sel = 0; sel < 2; sel++) {
		cc_wr(e, VIRTIO_PCI_COMMON_DFSELECT, 4, sel);
		f |= cc_rd(e, VIRTIO_PCI_COMMON_DF, 4) << (32 * sel);
	}
	/* The offer, plus SR_IOV: this PF has the SR-IOV capability. */
	assert_int_equal(f, OFFER | VDEV_BIT(VIRTIO_F_SR_IOV));
	for (uint32_t sel = 0; sel < 2; sel++) {
		cc_wr(e, VIRTIO_PCI_COMMON_GFSELECT, 4, sel);
		cc_wr(e, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)(want >> (32 * sel)));
		assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_GF, 4), (uint32_t)(want >> (32 * sel)));
	}
	assert_int_equal(e->d.driver_features, want);
	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_STATUS, 1), S_ACK | S_DRV | S_FOK);
}

/* Queue q set up as Linux does: descriptor/driver/device addresses as two
 * 32-bit halves, a vector read back, then enable. */
static void setup_queue(struct env *e, uint16_t q, uint16_t size, uint16_t vec)
{
	struct sim_vq *v = &e->drv[q];

	if (e->drv_init[q])
		sim_vq_fini(v);
	assert_int_equal(sim_vq_init(v, &e->mem, size, 0, 0), 0);
	e->drv_init[q] = true;
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_SELECT, 2), q);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_SIZE, 2), 256);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SIZE, 2, size);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_SIZE, 2), size);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)v->desc_iova);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_DESCHI, 4, (uint32_t)(v->desc_iova >> 32));
	cc_wr(e, VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)v->avail_iova);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_AVAILHI, 4, (uint32_t)(v->avail_iova >> 32));
	cc_wr(e, VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)v->used_iova);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_USEDHI, 4, (uint32_t)(v->used_iova >> 32));
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_DESCLO, 8), v->desc_iova);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_AVAILLO, 8), v->avail_iova);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_USEDLO, 8), v->used_iova);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_MSIX, 2, vec);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_MSIX, 2), vec);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_NOFF, 2), q);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
}

static void test_driver_initialization_through_common_config(void **state)
{
	struct env *e = *state;
	const uint64_t want = F(VIRTIO_F_VERSION_1) | F(3);

	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_NUMQ, 2), NQ);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	negotiate(e, want);
	cc_wr(e, VIRTIO_PCI_COMMON_MSIX, 2, 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_MSIX, 2), 0);
	assert_int_equal(e->d.msix_config, 0);
	setup_queue(e, 0, 64, 1);
	setup_queue(e, 1, 32, 2);
	/* Queue 2 through whole 64-bit accesses. */
	assert_int_equal(sim_vq_init(&e->drv[2], &e->mem, 16, 0, 0), 0);
	e->drv_init[2] = true;
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT, 2, 2);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SIZE, 2, 16);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_DESCLO, 8, e->drv[2].desc_iova);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_AVAILLO, 8, e->drv[2].avail_iova);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_USEDLO, 8, e->drv[2].used_iova);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_STATUS, 1), S_ACK | S_DRV | S_FOK | S_DOK);
	/* What the device got. */
	assert_int_equal(vdev_features(&e->d), want);
	for (uint16_t q = 0; q < NQ; q++) {
		assert_true(e->d.q[q].enabled);
		assert_int_equal(e->d.q[q].desc, e->drv[q].desc_iova);
		assert_int_equal(e->d.q[q].driver, e->drv[q].avail_iova);
		assert_int_equal(e->d.q[q].device, e->drv[q].used_iova);
	}
	assert_int_equal(e->d.q[0].size, 64);
	assert_int_equal(e->d.q[1].vq.vector, 2);
	/* Writing 0 to queue_enable is ignored (the driver MUST NOT). */
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	/* Configured: no changes after DRIVER_OK. */
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SIZE, 2, 8);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_SIZE, 2), 64);
	/* Feature writes after FEATURES_OK change nothing. */
	cc_wr(e, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	cc_wr(e, VIRTIO_PCI_COMMON_GF, 4, 0);
	assert_int_equal(vdev_features(&e->d), want);
}

static void test_feature_windows_beyond_64_bits_read_zero_and_ignore_writes(void **state)
{
	struct env *e = *state;

	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRV);
	for (uint32_t sel = 2; sel < 6; sel++) {
		cc_wr(e, VIRTIO_PCI_COMMON_DFSELECT, 4, sel);
		assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_DFSELECT, 4), sel);
		assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_DF, 4), 0);
	}
	cc_wr(e, VIRTIO_PCI_COMMON_DFSELECT, 4, 0xffffffff);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_DF, 4), 0);
	cc_wr(e, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	cc_wr(e, VIRTIO_PCI_COMMON_GF, 4, 1); /* VERSION_1 */
	cc_wr(e, VIRTIO_PCI_COMMON_GFSELECT, 4, 2);
	cc_wr(e, VIRTIO_PCI_COMMON_GF, 4, 0xffffffff);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_GF, 4), 0);
	assert_int_equal(e->d.driver_features, F(VIRTIO_F_VERSION_1));
	/* The low window keeps the high half. */
	cc_wr(e, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	cc_wr(e, VIRTIO_PCI_COMMON_GF, 4, 1u << 3);
	assert_int_equal(e->d.driver_features, F(VIRTIO_F_VERSION_1) | F(3));
}

static void test_vectors_beyond_the_table_read_back_no_vector(void **state)
{
	struct env *e = *state;
	static const uint16_t bad[] = { NV, NV + 1, 0x7ff, 0x800, 0xfffe };

	cc_wr(e, VIRTIO_PCI_COMMON_MSIX, 2, NV - 1);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_MSIX, 2), NV - 1);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cc_wr(e, VIRTIO_PCI_COMMON_MSIX, 2, 0);
		cc_wr(e, VIRTIO_PCI_COMMON_MSIX, 2, bad[i]);
		assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
		cc_wr(e, VIRTIO_PCI_COMMON_Q_MSIX, 2, 0);
		cc_wr(e, VIRTIO_PCI_COMMON_Q_MSIX, 2, bad[i]);
		assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	}
	/* Unmapping is always possible. */
	cc_wr(e, VIRTIO_PCI_COMMON_Q_MSIX, 2, 2);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_MSIX, 2), 2);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_MSIX, 2, VIRTIO_MSI_NO_VECTOR);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	assert_int_equal(e->d.q[1].vector, VQ_NO_VECTOR);
	/* Reset unmaps every event (4.1.5.1.2). */
	cc_wr(e, VIRTIO_PCI_COMMON_MSIX, 2, 1);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
}

static void test_missing_queue_reads_size_zero_and_ignores_writes(void **state)
{
	struct env *e = *state;
	static const uint16_t qs[] = { NQ, NQ + 1, 0x7fff, 0xffff };

	for (unsigned i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT, 2, qs[i]);
		assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_SELECT, 2), qs[i]);
		assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
		cc_wr(e, VIRTIO_PCI_COMMON_Q_SIZE, 2, 16);
		cc_wr(e, VIRTIO_PCI_COMMON_Q_DESCLO, 8, 0x100000);
		cc_wr(e, VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
		cc_wr(e, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
		cc_wr(e, VIRTIO_PCI_COMMON_Q_RESET, 2, 1);
		assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
		assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
		assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0);
		assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
		assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_RESET, 2), 0);
	}
}

static void test_status_zero_resets_device_and_selectors(void **state)
{
	struct env *e = *state;

	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRV);
	cc_wr(e, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	cc_wr(e, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT, 2, 2);
	vpci_config_irq(e->p);
	/* The datapath lets go later: status reads the old value until then. */
	e->defer = true;
	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	assert_int_equal(e->quiesces, 1);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_STATUS, 1), S_ACK | S_DRV);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_DFSELECT, 4), 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_GFSELECT, 4), 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_SELECT, 2), 0);
	assert_int_equal(rd(e, BAR0, VPCI_ISR_OFF, 1), 0);
	/* New status writes wait for the reset to finish. */
	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, S_ACK);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_STATUS, 1), S_ACK | S_DRV);
	vdev_quiesced(&e->d);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_STATUS, 1), 0);
	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, S_ACK);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_STATUS, 1), S_ACK);
}

static void test_common_config_odd_widths_read_layout_and_writes_need_one_field(void **state)
{
	struct env *e = *state;
	uint8_t all[CC_LEN + 8], one[8];

	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, S_ACK);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_DESCLO, 8, 0x1122334455667788ull);
	/* Reads of any width return the field bytes. */
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_NUMQ, 4),
			 NQ | S_ACK << 16 | (uint32_t)e->d.config_generation << 24);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_NUMQ + 1, 1), 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_DESCLO + 3, 3), 0x334455);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_DFSELECT, 8), (uint64_t)(uint32_t)OFFER << 32);
	assert_int_equal(vpci_access(e->p, BAR0, VPCI_COMMON_OFF, all, sizeof(all), false), 0);
	for (uint32_t off = 0; off < sizeof(all); off++) {
		assert_int_equal(vpci_access(e->p, BAR0, VPCI_COMMON_OFF + off, one, 1, false), 0);
		assert_int_equal(one[0], all[off]);
	}
	for (uint32_t off = CC_LEN; off < sizeof(all); off++)
		assert_int_equal(all[off], 0);
	/* Writes not matching exactly one field are ignored. */
	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 2, S_ACK | S_DRV);      /* status + generation */
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_STATUS, 1), S_ACK);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT, 1, 2);                /* half a field */
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT + 1, 1, 2);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT, 4, 2);                /* two fields */
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_SELECT, 2), 1);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_DESCLO, 3, 0);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_DESCLO + 2, 4, 0);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_DESCHI, 8, 0);                /* hi + next lo */
	cc_wr(e, VIRTIO_PCI_COMMON_Q_DESCLO, 2, 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0x1122334455667788ull);
	cc_wr(e, VIRTIO_PCI_COMMON_DFSELECT, 2, 1);
	cc_wr(e, VIRTIO_PCI_COMMON_DFSELECT, 8, 1);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_DFSELECT, 4), 0);
	/* Halves of a 64-bit field, each alone. */
	cc_wr(e, VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0xaabbccdd);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0xaabbccdd55667788ull);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0x01020304);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0xaabbccdd01020304ull);
	/* Past the structure: zeros, writes dropped; one across two
	 * structures is refused as a whole. */
	assert_int_equal(cc_rd(e, CC_LEN, 8), 0);
	cc_wr(e, CC_LEN, 4, 0xffffffff);
	assert_int_equal(cc_rd(e, CC_LEN, 4), 0);
	e->cfg[0] = 0x5a;
	wr(e, BAR0, VPCI_DEVICE_OFF - 2, 4, 0);
	assert_int_equal(e->cfg[0], 0x5a);
	assert_int_equal(rd(e, BAR0, VPCI_DEVICE_OFF - 4, 8), 0x0403025aull << 32);
}

static void test_read_only_common_fields_ignore_writes(void **state)
{
	struct env *e = *state;
	uint8_t before[CC_LEN], after[CC_LEN];

	cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT, 2, 2);
	assert_int_equal(vpci_access(e->p, BAR0, VPCI_COMMON_OFF, before, CC_LEN, false), 0);
	cc_wr(e, VIRTIO_PCI_COMMON_DF, 4, 0);
	cc_wr(e, VIRTIO_PCI_COMMON_NUMQ, 2, 99);
	cc_wr(e, VIRTIO_PCI_COMMON_CFGGENERATION, 1, 0x77);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_NOFF, 2, 7);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_NDATA, 2, 7);
	cc_wr(e, CC_ADMIN_INDEX, 2, 7);
	cc_wr(e, CC_ADMIN_NUM, 2, 7);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_RESET, 2, 1); /* no RING_RESET negotiated */
	assert_int_equal(vpci_access(e->p, BAR0, VPCI_COMMON_OFF, after, CC_LEN, false), 0);
	assert_memory_equal(before, after, CC_LEN);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_NOFF, 2), 2);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_NDATA, 2), 2);
	assert_int_equal(cc_rd(e, CC_ADMIN_NUM, 2), 0);
	/* ISR and the notify area hold nothing a write could change. */
	wr(e, BAR0, VPCI_ISR_OFF, 1, 0xff);
	assert_int_equal(rd(e, BAR0, VPCI_ISR_OFF, 1), 0);
}

static void test_queue_reset_reads_one_until_the_datapath_lets_go(void **state)
{
	struct env *e = *state;

	negotiate(e, F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_RESET));
	setup_queue(e, 0, 64, 0);
	setup_queue(e, 1, 64, 1);
	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK | S_DOK);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_RESET, 2), 0);
	e->defer = true;
	cc_wr(e, VIRTIO_PCI_COMMON_Q_RESET, 2, 1);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_RESET, 2), 1);
	/* Other values than 1 do nothing; the other queue is untouched. */
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_RESET, 2, 2);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_RESET, 2), 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	vdev_queue_quiesced(&e->d, 0);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_RESET, 2), 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	/* Reconfigured and enabled again while the device runs. */
	e->defer = false;
	setup_queue(e, 0, 32, 3);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_RESET, 2), 0);
	assert_int_equal(e->d.q[0].size, 32);
}

static void test_isr_read_clears_and_config_irq_raises_config_vector(void **state)
{
	struct env *e = *state;

	assert_int_equal(rd(e, BAR0, VPCI_ISR_OFF, 1), 0);
	vpci_config_irq(e->p);
	/* Other bytes of the ISR page read 0 and do not clear it. */
	assert_int_equal(rd(e, BAR0, VPCI_ISR_OFF + 1, 1), 0);
	assert_int_equal(rd(e, BAR0, VPCI_ISR_OFF + 4, 4), 0);
	assert_int_equal(rd(e, BAR0, VPCI_ISR_OFF, 4), VIRTIO_PCI_ISR_CONFIG);
	assert_int_equal(rd(e, BAR0, VPCI_ISR_OFF, 1), 0);
	/* The device type's configuration change, through vdev. */
	negotiate(e, F(VIRTIO_F_VERSION_1));
	cc_wr(e, VIRTIO_PCI_COMMON_MSIX, 2, 2);
	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK | S_DOK);
	wr(e, CFG, msix_ctl_off(e), 2, PCI_MSIX_FLAGS_ENABLE);
	wr(e, BAR2, 2 * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 0);
	assert_int_equal(vpci_msix_set_fd(e->p, 2, e->efd[2]), 0);
	uint8_t gen = (uint8_t)cc_rd(e, VIRTIO_PCI_COMMON_CFGGENERATION, 1);
	vdev_config_changed(&e->d);
	assert_int_equal(count(e->efd[2]), 1);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_CFGGENERATION, 1), (uint8_t)(gen + 1));
	assert_int_equal(rd(e, BAR0, VPCI_ISR_OFF, 1), VIRTIO_PCI_ISR_CONFIG);
	/* NO_VECTOR: no interrupt at all, not even a pending one. */
	cc_wr(e, VIRTIO_PCI_COMMON_MSIX, 2, VIRTIO_MSI_NO_VECTOR);
	vdev_config_changed(&e->d);
	assert_int_equal(count(e->efd[2]), 0);
	assert_int_equal(rd(e, BAR2, VPCI_PBA_OFF, 8), 0);
	assert_int_equal(rd(e, BAR0, VPCI_ISR_OFF, 1), VIRTIO_PCI_ISR_CONFIG);
}

static void test_notify_write_calls_ops_with_queue_and_value(void **state)
{
	struct env *e = *state;

	for (uint16_t q = 0; q < NQ; q++) {
		wr(e, BAR0, VPCI_NOTIFY_OFF + q * VPCI_NOTIFY_MULT, 2, q);
		assert_int_equal(e->notifies, q + 1u);
		assert_int_equal(e->notify_q, q);
		assert_int_equal(e->notify_val, q);
	}
	/* NOTIFICATION_DATA: 32 bits (vqn, next offset / wrap). */
	wr(e, BAR0, VPCI_NOTIFY_OFF + 1 * VPCI_NOTIFY_MULT, 4, 0x80050001);
	assert_int_equal(e->notify_q, 1);
	assert_int_equal(e->notify_val, 0x80050001);
	/* Beyond the queues, misaligned, or of another width: nothing. */
	unsigned n = e->notifies;
	wr(e, BAR0, VPCI_NOTIFY_OFF + NQ * VPCI_NOTIFY_MULT, 2, NQ);
	wr(e, BAR0, VPCI_NOTIFY_OFF + 0xffc, 4, 0);
	wr(e, BAR0, VPCI_NOTIFY_OFF + 2, 2, 0);
	wr(e, BAR0, VPCI_NOTIFY_OFF + 1, 2, 0);
	wr(e, BAR0, VPCI_NOTIFY_OFF, 1, 0);
	wr(e, BAR0, VPCI_NOTIFY_OFF, 3, 0);
	wr(e, BAR0, VPCI_NOTIFY_OFF, 8, 0);
	assert_int_equal(e->notifies, n);
	/* Write-only: reads 0. */
	assert_int_equal(rd(e, BAR0, VPCI_NOTIFY_OFF, 4), 0);
	assert_int_equal(rd(e, BAR0, VPCI_NOTIFY_OFF + 4, 2), 0);
}

static void test_device_config_window_goes_to_the_device_type(void **state)
{
	struct env *e = *state;

	assert_int_equal(rd(e, BAR0, VPCI_DEVICE_OFF, 4), 0x04030201);
	assert_int_equal(rd(e, BAR0, VPCI_DEVICE_OFF + 4, 4), 0x08070605);
	assert_int_equal(rd(e, BAR0, VPCI_DEVICE_OFF, 8), 0x0807060504030201ull);
	/* Beyond the device type's bounds: zeros. */
	assert_int_equal(rd(e, BAR0, VPCI_DEVICE_OFF + 8, 4), 0);
	assert_int_equal(rd(e, BAR0, VPCI_DEVICE_OFF + VPCI_DEVICE_MAX - 4, 4), 0);
	wr(e, BAR0, VPCI_DEVICE_OFF + 2, 2, 0xbeef);
	assert_int_equal(e->cfg[2], 0xef);
	assert_int_equal(e->cfg[3], 0xbe);
	wr(e, BAR0, VPCI_DEVICE_OFF + 7, 4, 0); /* the device type refuses */
	assert_int_equal(e->cfg[7], 8);
}

/* ---- MSI-X -------------------------------------------------------------------------- */
static void msix_enable(struct env *e, uint16_t flags)
{
	wr(e, CFG, msix_ctl_off(e), 2, flags);
	assert_int_equal(rd(e, CFG, msix_ctl_off(e), 2), flags | (NV - 1));
}

static void entry_mask(struct env *e, uint16_t v, bool masked)
{
	wr(e, BAR2, v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, masked);
}

static uint64_t pba(struct env *e)
{
	return rd(e, BAR2, VPCI_PBA_OFF, 8);
}

/* Every vector programmed, unmasked and given its host fd. */
static void msix_all_live(struct env *e)
{
	msix_enable(e, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	for (uint16_t v = 0; v < NV; v++) {
		wr(e, BAR2, v * PCI_MSIX_ENTRY_SIZE, 8, 0xfee00000ull + v * 0x1000);
		wr(e, BAR2, v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_DATA, 4, 0x4020 + v);
		entry_mask(e, v, false);
		assert_int_equal(vpci_msix_set_fd(e->p, v, e->efd[v]), 0);
		assert_int_not_equal(vpci_vector_fd(e->p, v), e->efd[v]);
	}
	msix_enable(e, PCI_MSIX_FLAGS_ENABLE);
	for (uint16_t v = 0; v < NV; v++) {
		assert_int_equal(vpci_vector_fd(e->p, v), e->efd[v]);
		assert_int_equal(e->published[v], e->efd[v]);
	}
}

static void test_msix_table_mask_pending_fires_once_on_unmask(void **state)
{
	struct env *e = *state;

	/* Power-on: every vector masked, nothing pending. */
	for (uint16_t v = 0; v < NV; v++) {
		assert_int_equal(rd(e, BAR2, v * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 4), 1);
		assert_int_equal(rd(e, BAR2, v * 16, 8), 0);
	}
	assert_int_equal(pba(e), 0);
	msix_enable(e, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(vpci_msix_set_fd(e->p, 0, e->efd[0]), 0);
	int pend = vpci_vector_fd(e->p, 0);
	assert_true(pend >= 0 && pend != e->efd[0]);
	assert_int_equal(vpci_vector_fd(e->p, 0), pend); /* stable */
	assert_int_equal(e->changed[0], 0);
	/* The datapath signals the fd it was given, twice. */
	assert_int_equal(eventfd_write(pend, 1), 0);
	assert_int_equal(eventfd_write(pend, 1), 0);
	assert_int_equal(pba(e), 1);
	assert_int_equal(pba(e), 1); /* reading the PBA does not deliver */
	assert_int_equal(count(e->efd[0]), 0);
	/* Unmask: the owner is told, and the vector fires once. */
	entry_mask(e, 0, false);
	assert_int_equal(e->changed[0], 1);
	assert_int_equal(e->published[0], e->efd[0]);
	assert_int_equal(count(e->efd[0]), 1);
	assert_int_equal(pba(e), 0);
	/* Mask and unmask with nothing pending: no interrupt. */
	entry_mask(e, 0, true);
	assert_int_equal(e->changed[0], 2);
	assert_int_equal(e->published[0], pend);
	entry_mask(e, 0, false);
	assert_int_equal(e->changed[0], 3);
	assert_int_equal(count(e->efd[0]), 0);
	/* Writes that leave deliverability alone do not bother the owner. */
	entry_mask(e, 0, false);
	wr(e, BAR2, 0, 8, 0xfee01000);
	assert_int_equal(e->changed[0], 3);
	/* Table entries: 64-bit address, data; only the mask bit of vector
	 * control is writable. */
	wr(e, BAR2, 16, 8, 0x00000001fee02004ull);
	wr(e, BAR2, 16 + PCI_MSIX_ENTRY_DATA, 4, 0x4041);
	wr(e, BAR2, 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 0xfffffffe);
	assert_int_equal(rd(e, BAR2, 16, 8), 0x00000001fee02004ull);
	assert_int_equal(rd(e, BAR2, 16 + PCI_MSIX_ENTRY_DATA, 4), 0x4041);
	assert_int_equal(rd(e, BAR2, 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 4), 0);
	wr(e, BAR2, 16 + 8, 8, 0xffffffff00004042ull); /* data + control */
	assert_int_equal(rd(e, BAR2, 16 + 8, 8), 0x0000000100004042ull);
	/* Beyond the table: a hole. */
	wr(e, BAR2, NV * 16, 4, 0xffffffff);
	assert_int_equal(rd(e, BAR2, NV * 16, 4), 0);
}

static void test_msix_external_mask_and_raise_while_masked(void **state)
{
	struct env *e = *state;

	msix_all_live(e);
	vpci_raise(e->p, 1);
	assert_int_equal(count(e->efd[1]), 1);
	/* Masked by the transport (SET_IRQS): raise goes pending. */
	assert_int_equal(vpci_msix_mask(e->p, 1, true), 0);
	int pend = vpci_vector_fd(e->p, 1);
	assert_int_not_equal(pend, e->efd[1]);
	assert_int_equal(e->published[1], pend);
	vpci_raise(e->p, 1);
	vpci_raise(e->p, 1);
	assert_int_equal(count(e->efd[1]), 0);
	assert_int_equal(pba(e), 1u << 1);
	/* Unmasked from outside, while the table also masks it: still held. */
	entry_mask(e, 1, true);
	assert_int_equal(vpci_msix_mask(e->p, 1, false), 0);
	assert_int_equal(count(e->efd[1]), 0);
	assert_int_equal(pba(e), 1u << 1);
	/* Both unmasked: once. */
	entry_mask(e, 1, false);
	assert_int_equal(count(e->efd[1]), 1);
	assert_int_equal(pba(e), 0);
	assert_int_equal(vpci_vector_fd(e->p, 1), e->efd[1]);
	/* Vectors outside the table. */
	assert_int_equal(vpci_msix_mask(e->p, NV, true), -EINVAL);
	assert_int_equal(vpci_msix_mask(e->p, VQ_NO_VECTOR, true), -EINVAL);
	vpci_raise(e->p, NV);
	vpci_raise(e->p, VQ_NO_VECTOR);
	for (uint16_t v = 0; v < NV; v++)
		assert_int_equal(count(e->efd[v]), 0);
}

static void test_msix_function_mask_and_disable_hold_every_vector(void **state)
{
	struct env *e = *state;
	unsigned before[NV];

	msix_all_live(e);
	memcpy(before, e->changed, sizeof(before));
	msix_enable(e, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	for (uint16_t v = 0; v < NV; v++) {
		assert_int_equal(e->changed[v], before[v] + 1);
		assert_int_not_equal(vpci_vector_fd(e->p, v), e->efd[v]);
	}
	vpci_raise(e->p, 0);
	assert_int_equal(eventfd_write(vpci_vector_fd(e->p, 2), 1), 0); /* datapath */
	entry_mask(e, 3, true);
	vpci_raise(e->p, 3);
	assert_int_equal(pba(e), 1u << 0 | 1u << 2 | 1u << 3);
	msix_enable(e, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(count(e->efd[0]), 1);
	assert_int_equal(count(e->efd[1]), 0);
	assert_int_equal(count(e->efd[2]), 1);
	assert_int_equal(count(e->efd[3]), 0); /* still masked in its entry */
	assert_int_equal(pba(e), 1u << 3);
	/* MSI-X disabled: nothing is delivered; enabled again: pending fires. */
	msix_enable(e, 0);
	for (uint16_t v = 0; v < NV; v++)
		assert_int_not_equal(vpci_vector_fd(e->p, v), e->efd[v]);
	vpci_raise(e->p, 1);
	entry_mask(e, 3, false);
	assert_int_equal(count(e->efd[3]), 0);
	msix_enable(e, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(count(e->efd[1]), 1);
	assert_int_equal(count(e->efd[3]), 1);
	assert_int_equal(pba(e), 0);
	/* Only Enable and Function Mask are writable in Message Control. */
	wr(e, CFG, msix_ctl_off(e), 2, 0x3fff);
	assert_int_equal(rd(e, CFG, msix_ctl_off(e), 2), NV - 1);
}

static void test_pba_shows_pending_and_is_read_only(void **state)
{
	struct env *e = *state;

	msix_enable(e, PCI_MSIX_FLAGS_ENABLE);
	vpci_raise(e->p, 2);
	assert_int_equal(pba(e), 1u << 2);
	assert_int_equal(rd(e, BAR2, VPCI_PBA_OFF, 1), 1u << 2);
	assert_int_equal(rd(e, BAR2, VPCI_PBA_OFF, 4), 1u << 2);
	wr(e, BAR2, VPCI_PBA_OFF, 8, 0);
	wr(e, BAR2, VPCI_PBA_OFF, 8, ~0ull);
	assert_int_equal(pba(e), 1u << 2);
	/* Past the PBA: a hole. */
	assert_int_equal(rd(e, BAR2, VPCI_PBA_OFF + 8, 8), 0);
	assert_int_equal(rd(e, BAR2, VPCI_BAR2_SIZE - 8, 8), 0);
	/* Unmasking with a host fd delivers and clears it. */
	entry_mask(e, 2, false);
	assert_int_equal(pba(e), 1u << 2); /* no host fd yet */
	assert_int_equal(vpci_msix_set_fd(e->p, 2, e->efd[2]), 0);
	assert_int_equal(count(e->efd[2]), 1);
	assert_int_equal(pba(e), 0);
}

static void test_vector_fd_follows_host_fd_and_rejects_bad_vectors(void **state)
{
	struct env *e = *state;
	int other = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	assert_int_equal(vpci_vector_fd(e->p, VQ_NO_VECTOR), -1);
	assert_int_equal(vpci_vector_fd(e->p, NV), -1);
	assert_int_equal(vpci_msix_set_fd(e->p, NV, e->efd[0]), -EINVAL);
	assert_int_equal(vpci_msix_set_fd(e->p, 0, -2), -EINVAL);
	msix_all_live(e);
	unsigned c = e->changed[0];
	/* A new host fd while deliverable: republished. */
	assert_int_equal(vpci_msix_set_fd(e->p, 0, other), 0);
	assert_int_equal(e->changed[0], c + 1);
	assert_int_equal(e->published[0], other);
	/* The same fd again: nothing to tell. */
	assert_int_equal(vpci_msix_set_fd(e->p, 0, other), 0);
	assert_int_equal(e->changed[0], c + 1);
	/* No host fd: the pending fd takes over and what it collects goes
	 * to the next host fd. */
	assert_int_equal(vpci_msix_set_fd(e->p, 0, -1), 0);
	int pend = vpci_vector_fd(e->p, 0);
	assert_true(pend >= 0 && pend != other);
	assert_int_equal(e->published[0], pend);
	assert_int_equal(eventfd_write(pend, 1), 0);
	assert_int_equal(vpci_msix_set_fd(e->p, 0, e->efd[0]), 0);
	assert_int_equal(count(e->efd[0]), 1);
	assert_int_equal(count(other), 0);
	close(other);
}

/* ---- PCI_CFG window ------------------------------------------------------------------ */
static void window(struct env *e, uint8_t at, uint8_t bar, uint32_t off, uint32_t len)
{
	wr(e, CFG, at + VIRTIO_PCI_CAP_BAR, 1, bar);
	wr(e, CFG, at + VIRTIO_PCI_CAP_OFFSET, 4, off);
	wr(e, CFG, at + VIRTIO_PCI_CAP_LENGTH, 4, len);
	assert_int_equal(rd(e, CFG, at + VIRTIO_PCI_CAP_BAR, 1), bar);
	assert_int_equal(rd(e, CFG, at + VIRTIO_PCI_CAP_OFFSET, 4), off);
	assert_int_equal(rd(e, CFG, at + VIRTIO_PCI_CAP_LENGTH, 4), len);
}

#define DATA(at) ((at) + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data))

static void test_pci_cfg_window_reaches_bar0_like_a_direct_access(void **state)
{
	struct env *e = *state;
	struct caps c;

	walk(e, &c);
	uint8_t at = c.vcap[VIRTIO_PCI_CAP_PCI_CFG];
	window(e, at, 0, VPCI_COMMON_OFF + VIRTIO_PCI_COMMON_NUMQ, 2);
	assert_int_equal(rd(e, CFG, DATA(at), 2), NQ);
	assert_int_equal(rd(e, CFG, DATA(at), 4) & 0xffff, NQ);
	/* A device_status write through the window. */
	window(e, at, 0, VPCI_COMMON_OFF + VIRTIO_PCI_COMMON_STATUS, 1);
	wr(e, CFG, DATA(at), 1, S_ACK);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_STATUS, 1), S_ACK);
	assert_int_equal(rd(e, CFG, DATA(at), 1), S_ACK);
	/* A 32-bit field: the feature windows. */
	window(e, at, 0, VPCI_COMMON_OFF + VIRTIO_PCI_COMMON_DFSELECT, 4);
	wr(e, CFG, DATA(at), 4, 1);
	window(e, at, 0, VPCI_COMMON_OFF + VIRTIO_PCI_COMMON_DF, 4);
	assert_int_equal(rd(e, CFG, DATA(at), 4), (uint32_t)((OFFER | VDEV_BIT(VIRTIO_F_SR_IOV)) >> 32));
	/* ISR read-to-clear works through it too. */
	vpci_config_irq(e->p);
	window(e, at, 0, VPCI_ISR_OFF, 1);
	assert_int_equal(rd(e, CFG, DATA(at), 1), VIRTIO_PCI_ISR_CONFIG);
	assert_int_equal(rd(e, CFG, DATA(at), 1), 0);
	/* A notification. */
	window(e, at, 0, VPCI_NOTIFY_OFF + 2 * VPCI_NOTIFY_MULT, 2);
	wr(e, CFG, DATA(at), 2, 2);
	assert_int_equal(e->notifies, 1);
	assert_int_equal(e->notify_q, 2);
	/* Device configuration. */
	window(e, at, 0, VPCI_DEVICE_OFF + 4, 4);
	assert_int_equal(rd(e, CFG, DATA(at), 4), 0x08070605);
	/* One wide config write that selects and writes at once. */
	uint8_t b[20] = { 0 };
	memcpy(b, (uint8_t[]){ PCI_CAP_ID_VNDR, 0, 20, VIRTIO_PCI_CAP_PCI_CFG, 0 }, 5);
	uint32_t o = VPCI_COMMON_OFF + VIRTIO_PCI_COMMON_Q_SELECT;
	for (unsigned i = 0; i < 4; i++)
		b[8 + i] = (uint8_t)(o >> (8 * i)); /* offset */
	b[12] = 2;                                  /* length */
	b[16] = 2;                                  /* data */
	assert_int_equal(vpci_access(e->p, CFG, at, b, sizeof(b), true), 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_SELECT, 2), 2);
}

static void test_pci_cfg_window_invalid_selection_reads_zero_drops_write(void **state)
{
	struct env *e = *state;
	struct caps c;
	static const struct { uint8_t bar; uint32_t off, len; } bad[] = {
		{ 0, VPCI_COMMON_OFF + VIRTIO_PCI_COMMON_NUMQ, 3 },  /* length */
		{ 0, VPCI_COMMON_OFF + VIRTIO_PCI_COMMON_NUMQ, 0 },
		{ 0, VPCI_COMMON_OFF + VIRTIO_PCI_COMMON_NUMQ, 8 },
		{ 0, VPCI_COMMON_OFF + VIRTIO_PCI_COMMON_NUMQ, 4 },  /* misaligned */
		{ 0, VPCI_COMMON_OFF + CC_LEN, 4 },                   /* past common */
		{ 0, VPCI_ISR_OFF + 4, 4 },                           /* past ISR */
		{ 0, VPCI_NOTIFY_OFF + NQ * VPCI_NOTIFY_MULT, 2 },    /* past notify */
		{ 0, 0xfffffffc, 4 },
		{ 2, 0, 4 },                                          /* MSI-X, not virtio */
		{ 1, VPCI_COMMON_OFF, 4 },
		{ 0xff, VPCI_COMMON_OFF, 4 },
	};

	walk(e, &c);
	uint8_t at = c.vcap[VIRTIO_PCI_CAP_PCI_CFG];
	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, S_ACK);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		window(e, at, 0, VPCI_COMMON_OFF + VIRTIO_PCI_COMMON_NUMQ, 2);
		assert_int_equal(rd(e, CFG, DATA(at), 2), NQ);
		window(e, at, bad[i].bar, bad[i].off, bad[i].len);
		assert_int_equal(rd(e, CFG, DATA(at), 4), 0);
		wr(e, CFG, DATA(at), 4, 0);
	}
	/* A write through an invalid selection is dropped. */
	window(e, at, 1, VPCI_COMMON_OFF + VIRTIO_PCI_COMMON_STATUS, 1);
	wr(e, CFG, DATA(at), 1, 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_STATUS, 1), S_ACK);
	window(e, at, 0, VPCI_COMMON_OFF + VIRTIO_PCI_COMMON_STATUS, 2);
	wr(e, CFG, DATA(at), 2, 0); /* valid window, but 2 bytes: not a field */
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_STATUS, 1), S_ACK);
	/* The MSI-X table is not reachable through the window. */
	window(e, at, 2, PCI_MSIX_ENTRY_VECTOR_CTRL, 4);
	wr(e, CFG, DATA(at), 4, 0);
	assert_int_equal(rd(e, BAR2, PCI_MSIX_ENTRY_VECTOR_CTRL, 4), 1);
}

/* ---- SR-IOV ------------------------------------------------------------------------------ */
static void test_sriov_vf_enable_calls_owner_and_locks_numvfs(void **state)
{
	struct env *e = *state;
	const uint16_t s = PCI_CFG_SPACE_SIZE;
	const uint16_t en = PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE;

	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_NUM_VF, 2), 0);
	wr(e, CFG, s + PCI_SRIOV_NUM_VF, 2, 4);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_NUM_VF, 2), 4);
	wr(e, CFG, s + PCI_SRIOV_CTRL, 2, en);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_CTRL, 2), en);
	assert_int_equal(e->sriov_calls, 1);
	assert_int_equal(e->sriov_n, 4);
	assert_true(e->sriov_en);
	/* NumVFs is read-only while VFs are enabled. */
	wr(e, CFG, s + PCI_SRIOV_NUM_VF, 2, 2);
	wr(e, CFG, s + PCI_SRIOV_NUM_VF, 1, 7);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_NUM_VF, 2), 4);
	/* Rewriting the control register with VF Enable still set: no call. */
	wr(e, CFG, s + PCI_SRIOV_CTRL, 2, en | PCI_SRIOV_CTRL_ARI);
	assert_int_equal(e->sriov_calls, 1);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_CTRL, 2), en | PCI_SRIOV_CTRL_ARI);
	/* Clear VF Enable: the VFs go; NumVFs writable again. */
	wr(e, CFG, s + PCI_SRIOV_CTRL, 2, 0);
	assert_int_equal(e->sriov_calls, 2);
	assert_int_equal(e->sriov_n, 0);
	assert_false(e->sriov_en);
	wr(e, CFG, s + PCI_SRIOV_NUM_VF, 2, TVFS);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_NUM_VF, 2), TVFS);
	/* One wide write that sets NumVFs and VF Enable: NumVFs was
	 * writable before it, so the VFs are the new number. */
	uint8_t b[10] = { 0 };
	b[0] = PCI_SRIOV_CTRL_VFE;
	b[8] = 3;
	assert_int_equal(vpci_access(e->p, CFG, s + PCI_SRIOV_CTRL, b, sizeof(b), true), 0);
	assert_int_equal(e->sriov_calls, 3);
	assert_int_equal(e->sriov_n, 3);
	assert_true(e->sriov_en);
	wr(e, CFG, s + PCI_SRIOV_CTRL, 2, 0);
	assert_int_equal(e->sriov_calls, 4);
	/* VF Enable with NumVFs 0 or above TotalVFs: no VFs, nothing to remove. */
	wr(e, CFG, s + PCI_SRIOV_NUM_VF, 2, 0);
	wr(e, CFG, s + PCI_SRIOV_CTRL, 2, PCI_SRIOV_CTRL_VFE);
	wr(e, CFG, s + PCI_SRIOV_CTRL, 2, 0);
	wr(e, CFG, s + PCI_SRIOV_NUM_VF, 2, TVFS + 1);
	wr(e, CFG, s + PCI_SRIOV_CTRL, 2, PCI_SRIOV_CTRL_VFE);
	wr(e, CFG, s + PCI_SRIOV_CTRL, 2, 0);
	assert_int_equal(e->sriov_calls, 4);
}

static void test_sriov_registers_and_page_sizes(void **state)
{
	struct env *e = *state;
	const uint16_t s = PCI_CFG_SPACE_SIZE;

	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_CAP, 4), 0);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_INITIAL_VF, 2), TVFS);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_TOTAL_VF, 2), TVFS);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_VF_OFFSET, 2), 1);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_VF_STRIDE, 2), 1);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_VF_DID, 2), VPCI_DEVICE_NET);
	uint32_t sup = (uint32_t)rd(e, CFG, s + PCI_SRIOV_SUP_PGSIZE, 4);
	assert_true(sup & 1);        /* 4K */
	assert_true(sup & (1 << 4)); /* 64K */
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_SYS_PGSIZE, 4), 1);
	wr(e, CFG, s + PCI_SRIOV_SYS_PGSIZE, 4, 1 << 4);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_SYS_PGSIZE, 4), 1 << 4);
	/* Read-only: the counts, offsets, IDs, page sizes, VF BARs. */
	for (uint32_t off = PCI_SRIOV_CAP; off < PCI_EXT_CAP_SRIOV_SIZEOF; off += 4)
		if (off != PCI_SRIOV_CTRL && off != PCI_SRIOV_NUM_VF &&
		    off != PCI_SRIOV_SYS_PGSIZE)
			wr(e, CFG, s + off, 4, 0xffffffff);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_TOTAL_VF, 2), TVFS);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_VF_DID, 2), VPCI_DEVICE_NET);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_SUP_PGSIZE, 4), sup);
	for (unsigned b = 0; b < PCI_SRIOV_NUM_BARS; b++)
		assert_int_equal(rd(e, CFG, s + PCI_SRIOV_BAR + 4 * b, 4), 0);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_STATUS, 2), 0);
	/* Only VF Enable, VF MSE and ARI Capable Hierarchy are writable. */
	wr(e, CFG, s + PCI_SRIOV_NUM_VF, 2, 1);
	wr(e, CFG, s + PCI_SRIOV_CTRL, 2, 0xffff);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_CTRL, 2),
			 PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE | PCI_SRIOV_CTRL_ARI);
	assert_int_equal(e->sriov_calls, 1);
}

/* ---- FLR ----------------------------------------------------------------------------------- */
static void test_flr_through_device_control_resets_function(void **state)
{
	struct env *e = *state;
	const uint16_t s = PCI_CFG_SPACE_SIZE;
	struct caps c;

	walk(e, &c);
	const uint16_t dc = c.exp + PCI_EXP_DEVCTL;

	/* Everything a driver and its host set up. */
	wr(e, CFG, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	wr(e, CFG, PCI_BASE_ADDRESS_0, 4, 0xfe000000);
	wr(e, CFG, PCI_BASE_ADDRESS_2, 4, 0xfe004000);
	uint16_t dc0 = (uint16_t)rd(e, CFG, dc, 2);
	wr(e, CFG, dc, 2, PCI_EXP_DEVCTL_CERE);
	msix_all_live(e);
	entry_mask(e, 1, true);
	vpci_raise(e->p, 1);
	wr(e, CFG, c.exp + PCI_EXP_LNKCTL, 2, PCI_EXP_LNKCTL_CCC);
	wr(e, CFG, s + PCI_SRIOV_NUM_VF, 2, 2);
	wr(e, CFG, s + PCI_SRIOV_CTRL, 2, PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE |
					  PCI_SRIOV_CTRL_ARI);
	assert_int_equal(e->sriov_calls, 1);
	wr(e, CFG, s + PCI_SRIOV_SYS_PGSIZE, 4, 1 << 4);
	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRV);
	cc_wr(e, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	cc_wr(e, VIRTIO_PCI_COMMON_Q_SELECT, 2, 2);
	cc_wr(e, VIRTIO_PCI_COMMON_MSIX, 2, 1);
	vpci_config_irq(e->p);
	unsigned c0 = e->changed[0];

	/* Initiate FLR; the device's reset completes later. */
	e->defer = true;
	wr(e, CFG, dc, 2, PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_BCR_FLR);
	assert_int_equal(rd(e, CFG, dc, 2), dc0);
	assert_int_equal(rd(e, CFG, PCI_COMMAND, 2), 0);
	assert_int_equal(rd(e, CFG, PCI_BASE_ADDRESS_0, 4), 0);
	assert_int_equal(rd(e, CFG, PCI_BASE_ADDRESS_2, 4), 0);
	assert_int_equal(rd(e, CFG, msix_ctl_off(e), 2), NV - 1);
	for (uint16_t v = 0; v < NV; v++) {
		assert_int_equal(rd(e, BAR2, v * 16, 8), 0);
		assert_int_equal(rd(e, BAR2, v * 16 + PCI_MSIX_ENTRY_DATA, 4), 0);
		assert_int_equal(rd(e, BAR2, v * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 4), 1);
		assert_int_not_equal(vpci_vector_fd(e->p, v), e->efd[v]);
	}
	assert_int_equal(e->changed[0], c0 + 1);
	assert_int_equal(pba(e), 0);
	assert_int_equal(e->sriov_calls, 2);
	assert_false(e->sriov_en);
	/* ARI Capable Hierarchy and the link controls survive an FLR. */
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_CTRL, 2), PCI_SRIOV_CTRL_ARI);
	assert_int_equal(rd(e, CFG, c.exp + PCI_EXP_LNKCTL, 2), PCI_EXP_LNKCTL_CCC);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_NUM_VF, 2), 0);
	assert_int_equal(rd(e, CFG, s + PCI_SRIOV_SYS_PGSIZE, 4), 1);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_DFSELECT, 4), 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_Q_SELECT, 2), 0);
	assert_int_equal(rd(e, BAR0, VPCI_ISR_OFF, 1), 0);
	assert_int_equal(e->quiesces, 1);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_STATUS, 1), S_ACK | S_DRV);
	vdev_quiesced(&e->d);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_STATUS, 1), 0);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	/* What was pending before the reset never fires after it. */
	msix_enable(e, PCI_MSIX_FLAGS_ENABLE);
	for (uint16_t v = 0; v < NV; v++)
		entry_mask(e, v, false);
	for (uint16_t v = 0; v < NV; v++) {
		assert_int_equal(vpci_vector_fd(e->p, v), e->efd[v]);
		assert_int_equal(count(e->efd[v]), 0);
	}
	/* An FLR without VFs enabled does not call the owner. */
	e->defer = false;
	vpci_flr(e->p);
	assert_int_equal(e->sriov_calls, 2);
}

/* ---- hostile accesses -------------------------------------------------------------------- */
static void test_accesses_outside_a_region_are_refused(void **state)
{
	struct env *e = *state;
	static uint8_t buf[0x10000];

	for (unsigned r = 0; r < VPCI_NUM_REGIONS + 3; r++) {
		uint64_t size = vpci_region_size(e->p, r);
		for (int w = 0; w < 2; w++) {
			assert_int_equal(vpci_access(e->p, r, size, buf, 1, w), -EINVAL);
			assert_int_equal(vpci_access(e->p, r, size + 0x1000, buf, 4, w), -EINVAL);
			assert_int_equal(vpci_access(e->p, r, UINT64_MAX, buf, 1, w), -EINVAL);
			assert_int_equal(vpci_access(e->p, r, UINT64_MAX - 2, buf, 4, w), -EINVAL);
			assert_int_equal(vpci_access(e->p, r, 1ull << 32, buf, 4, w), -EINVAL);
			assert_int_equal(vpci_access(e->p, r, 0, buf, 0, w), -EINVAL);
			assert_int_equal(vpci_access(e->p, r, 0, NULL, 4, w), -EINVAL);
			assert_int_equal(vpci_access(e->p, r, 0, buf, UINT32_MAX, w), -EINVAL);
			assert_int_equal(vpci_access(e->p, r, 0, buf, (uint32_t)size + 1, w), -EINVAL);
			if (size) {
				assert_int_equal(vpci_access(e->p, r, size - 1, buf, 2, w), -EINVAL);
				assert_int_equal(vpci_access(e->p, r, size - 1, buf, 1, false), 0);
			}
		}
		/* The whole region in one read. */
		if (size)
			assert_int_equal(vpci_access(e->p, r, 0, buf, (uint32_t)size, false), 0);
	}
	/* Identity still there (the whole config space was just read). */
	assert_int_equal(buf[0], 0xf4);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* What must survive anything the host writes. */
struct identity {
	uint8_t hdr[0x10];   /* IDs, class, revision, header type */
	uint8_t subsys[4];
	uint8_t caps[0x100 - 0x40];
	uint16_t numq;
	struct caps c;
};

static void identity(struct env *e, struct identity *id)
{
	memset(id, 0, sizeof(*id));
	assert_int_equal(vpci_access(e->p, CFG, 0, id->hdr, 4, false), 0);
	assert_int_equal(vpci_access(e->p, CFG, PCI_CLASS_REVISION, id->hdr + 8, 4, false), 0);
	id->hdr[14] = (uint8_t)rd(e, CFG, PCI_HEADER_TYPE, 1);
	assert_int_equal(vpci_access(e->p, CFG, PCI_SUBSYSTEM_VENDOR_ID, id->subsys, 4, false), 0);
	id->numq = (uint16_t)cc_rd(e, VIRTIO_PCI_COMMON_NUMQ, 2);
	walk(e, &id->c);
	/* The virtio capabilities but the PCI_CFG one (its fields are RW). */
	for (unsigned t = 1; t <= 4; t++)
		assert_int_equal(vpci_access(e->p, CFG, id->c.vcap[t],
					     id->caps + (id->c.vcap[t] - 0x40), 16, false), 0);
}

static void sweep(struct env *e, unsigned region)
{
	uint32_t size = (uint32_t)vpci_region_size(e->p, region);
	static const uint32_t widths[] = { 1, 2, 3, 4, 8 };
	uint8_t b[8];

	for (uint32_t off = 0; off <= size; off++) {
		for (unsigned i = 0; i < 5; i++) {
			uint32_t w = widths[i];
			int want = off + w <= size ? 0 : -EINVAL;
			assert_int_equal(vpci_access(e->p, region, off, b, w, false), want);
			uint64_t r = rnd();
			memcpy(b, &r, sizeof(b));
			assert_int_equal(vpci_access(e->p, region, off, b, w, true), want);
		}
	}
}

static void test_hostile_sweep_of_every_offset_and_width_keeps_identity(void **state)
{
	struct env *e = *state;
	struct identity before, after;
	static const unsigned regions[] = { CFG, BAR0, BAR2 };

	identity(e, &before);
	msix_all_live(e);
	for (unsigned i = 0; i < 3; i++) {
		sweep(e, regions[i]);
		identity(e, &after);
		assert_memory_equal(&before, &after, sizeof(before));
	}
	/* Still a working function: reset it and run the driver again. */
	vpci_flr(e->p);
	vdev_quiesced(&e->d);
	negotiate(e, F(VIRTIO_F_VERSION_1));
	setup_queue(e, 0, 16, 0);
	cc_wr(e, VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(cc_rd(e, VIRTIO_PCI_COMMON_STATUS, 1), S_ACK | S_DRV | S_FOK | S_DOK);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity_registers_read_as_a_modern_virtio_net_function),
		T(test_command_register_keeps_only_its_writable_bits),
		T(test_bars_answer_the_sizing_probe_and_others_read_zero),
		T(test_capability_list_holds_express_msix_and_every_virtio_structure),
		T(test_extended_list_holds_sriov_then_ari_on_a_pf),
		T(test_vf_shows_its_ids_and_has_ari_but_no_sriov),
		T(test_driver_initialization_through_common_config),
		T(test_feature_windows_beyond_64_bits_read_zero_and_ignore_writes),
		T(test_vectors_beyond_the_table_read_back_no_vector),
		T(test_missing_queue_reads_size_zero_and_ignores_writes),
		T(test_status_zero_resets_device_and_selectors),
		T(test_common_config_odd_widths_read_layout_and_writes_need_one_field),
		T(test_read_only_common_fields_ignore_writes),
		T(test_queue_reset_reads_one_until_the_datapath_lets_go),
		T(test_isr_read_clears_and_config_irq_raises_config_vector),
		T(test_notify_write_calls_ops_with_queue_and_value),
		T(test_device_config_window_goes_to_the_device_type),
		T(test_msix_table_mask_pending_fires_once_on_unmask),
		T(test_msix_external_mask_and_raise_while_masked),
		T(test_msix_function_mask_and_disable_hold_every_vector),
		T(test_pba_shows_pending_and_is_read_only),
		T(test_vector_fd_follows_host_fd_and_rejects_bad_vectors),
		T(test_pci_cfg_window_reaches_bar0_like_a_direct_access),
		T(test_pci_cfg_window_invalid_selection_reads_zero_drops_write),
		T(test_sriov_vf_enable_calls_owner_and_locks_numvfs),
		T(test_sriov_registers_and_page_sizes),
		T(test_flr_through_device_control_resets_function),
		T(test_accesses_outside_a_region_are_refused),
		T(test_hostile_sweep_of_every_offset_and_width_keeps_identity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
