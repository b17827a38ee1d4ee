/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A virtio device as a PCI Express function (see virtio_pci.h).
 *
 * virtio 1.3, 4.1 "Virtio Over PCI Bus": 4.1.2 discovery (IDs, revision
 * 1), 4.1.3 layout (little-endian fields, 64-bit fields as two 32-bit
 * halves), 4.1.4 the virtio structure capabilities: 4.1.4.3 common
 * configuration, 4.1.4.4 notifications, 4.1.4.5 ISR status, 4.1.4.6 device
 * configuration, 4.1.4.9 the PCI configuration access capability;
 * 4.1.5.1.2 MSI-X vector configuration (NO_VECTOR on a failed mapping).
 * PCI Express Base (5.0/6.0 numbering): 7.5.1 the type 0 header, 7.5.3 the
 * PCI Express capability, 7.7.2 MSI-X (table, PBA, per-vector and function
 * masking), 7.8.7 ARI, 9.3.3 the SR-IOV extended capability, 6.6.2 Function
 * Level Reset. Register offsets and bits are Linux's <linux/pci_regs.h>.
 *
 * Config space is bytes plus per-byte write and write-1-to-clear masks, so
 * an access of any width at any offset behaves as the same bytes written
 * one by one; afterwards the side effects of every register the access
 * touched run (PCI_CFG window, MSI-X control, SR-IOV control, and FLR
 * last, since it resets the rest). The MSI-X table is handled the same
 * way (the spec leaves accesses other than aligned DWORD/QWORD undefined;
 * bytes with masks make them harmless).
 *
 * BAR0 holds one virtio structure per 4 KiB page; a read may span pages
 * (each part reads as its structure does), a write that crosses from one
 * structure into another is ignored. The common configuration is served
 * from a snapshot of its layout, so a read of any width returns the
 * field bytes; a write must be exactly one field, or one 32-bit half of a
 * 64-bit field (4.1.3.1), else it is ignored.
 *
 * Register accesses are served whatever the Command register's Memory
 * Space Enable says: the transport (the vfio-user client, the PCIe
 * fabric) decodes addresses, and a function reached through its region
 * file is being accessed on purpose.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "hal_log.h"
#include "virtio_pci.h"

#define COMP "vpci"

/* ---- layout ---------------------------------------------------------------- */

/* Capabilities in config space, in list order. */
#define CAP_EXP    0x40 /* PCI Express v2 endpoint, 0x3c bytes */
#define CAP_MSIX   0x80 /* 12 bytes */
#define CAP_COMMON 0x8c /* struct virtio_pci_cap, 16 bytes */
#define CAP_NOTIFY 0x9c /* struct virtio_pci_notify_cap, 20 bytes */
#define CAP_ISR    0xb0
#define CAP_DEVICE 0xc0
#define CAP_PCICFG 0xd0 /* struct virtio_pci_cfg_cap, 20 bytes */
#define ECAP_FIRST 0x100

/* struct virtio_pci_cap (4.1.4) */
#define VCAP_BAR       4
#define VCAP_OFFSET    8
#define VCAP_LENGTH    12
#define VCAP_SIZE      16
#define VCAP_MULT      16 /* notify_off_multiplier */
#define VCAP_CFG_DATA  16 /* pci_cfg_data[4] */
#define VCAP_EXT_SIZE  20

#define VIRTIO_CAP_COMMON 1
#define VIRTIO_CAP_NOTIFY 2
#define VIRTIO_CAP_ISR    3
#define VIRTIO_CAP_DEVICE 4
#define VIRTIO_CAP_PCI    5

/* struct virtio_pci_common_cfg (4.1.4.3) */
#define CC_DFSELECT    0x00 /* le32 device_feature_select */
#define CC_DF          0x04 /* le32 device_feature, RO */
#define CC_GFSELECT    0x08 /* le32 driver_feature_select */
#define CC_GF          0x0c /* le32 driver_feature */
#define CC_MSIX        0x10 /* le16 config_msix_vector */
#define CC_NUMQ        0x12 /* le16 num_queues, RO */
#define CC_STATUS      0x14 /* u8 device_status */
#define CC_CFGGEN      0x15 /* u8 config_generation, RO */
#define CC_Q_SELECT    0x16 /* le16 queue_select */
#define CC_Q_SIZE      0x18 /* le16 queue_size */
#define CC_Q_MSIX      0x1a /* le16 queue_msix_vector */
#define CC_Q_ENABLE    0x1c /* le16 queue_enable */
#define CC_Q_NOFF      0x1e /* le16 queue_notify_off, RO */
#define CC_Q_DESC      0x20 /* le64 queue_desc */
#define CC_Q_DRIVER    0x28 /* le64 queue_driver */
#define CC_Q_DEVICE    0x30 /* le64 queue_device */
#define CC_Q_NDATA     0x38 /* le16 queue_notif_config_data, RO */
#define CC_Q_RESET     0x3a /* le16 queue_reset */
#define CC_ADMIN_INDEX 0x3c /* le16 admin_queue_index, RO (no ADMIN_VQ) */
#define CC_ADMIN_NUM   0x3e /* le16 admin_queue_num, RO */
#define CC_LEN         0x40

#define SPAN 0x1000u /* BAR0: one structure per page */

#define MSIX_ENTRY   16u
#define PBA_BYTES(n) (((uint32_t)(n) + 63u) / 64u * 8u)

/* SR-IOV page sizes: 4K, 8K, 64K, 256K, 1M, 4M (bit n: 2^(n+12)), so a
 * host with 64K pages can enable VFs too. The VFs have no BARs here. */
#define SRIOV_PGSIZES 0x553u

_Static_assert(VPCI_COMMON_OFF % SPAN == 0 && VPCI_ISR_OFF % SPAN == 0 &&
	       VPCI_DEVICE_OFF % SPAN == 0 && VPCI_NOTIFY_OFF % SPAN == 0,
	       "one BAR0 structure per page");
_Static_assert(VPCI_NOTIFY_OFF + SPAN <= VPCI_BAR0_SIZE &&
	       VPCI_DEVICE_MAX <= SPAN && CC_LEN <= SPAN, "BAR0 layout");
_Static_assert(VPCI_MAX_QUEUES * VPCI_NOTIFY_MULT <= SPAN, "notify area");
_Static_assert(VPCI_MSIX_MAX * MSIX_ENTRY <= VPCI_PBA_OFF &&
	       VPCI_PBA_OFF + PBA_BYTES(VPCI_MSIX_MAX) <= VPCI_BAR2_SIZE,
	       "BAR2 layout");
_Static_assert((VPCI_BAR0_SIZE & (VPCI_BAR0_SIZE - 1)) == 0 &&
	       (VPCI_BAR2_SIZE & (VPCI_BAR2_SIZE - 1)) == 0, "BAR sizes");

struct vpci_vec {
	int fd;          /* the host's eventfd (borrowed), -1: none */
	int pend_fd;     /* ours, signalled while undeliverable; -1 until asked */
	int live_fd;     /* fd last reported deliverable, -1 */
	bool ext_masked; /* vpci_msix_mask() */
	bool pending;
	bool live;       /* deliverable, as last reported (vector_changed) */
};

struct vpci {
	struct vdev *d;
	struct vpci_params prm;
	struct vpci_ops ops;
	void *priv;
	uint16_t sriov;      /* SR-IOV capability offset, 0 for none */
	bool vfs_on;         /* ops->sriov(.., true) was called */
	/* common configuration selectors */
	uint32_t dfselect, gfselect;
	uint16_t queue_select;
	uint8_t isr;
	uint8_t cfg[VPCI_CONFIG_SIZE];
	uint8_t wmask[VPCI_CONFIG_SIZE];
	uint8_t w1c[VPCI_CONFIG_SIZE];
	uint8_t table[VPCI_MSIX_MAX * MSIX_ENTRY];
	struct vpci_vec vec[];
};

/* ---- little-endian fields in byte arrays --------------------------------- */
static uint16_t get16(const uint8_t *b)
{
	vle16 v;

	memcpy(&v, b, sizeof(v));
	return vle16_to_cpu(v);
}

static uint32_t get32(const uint8_t *b)
{
	vle32 v;

	memcpy(&v, b, sizeof(v));
	return vle32_to_cpu(v);
}

static uint64_t get64(const uint8_t *b)
{
	vle64 v;

	memcpy(&v, b, sizeof(v));
	return vle64_to_cpu(v);
}

static void put16(uint8_t *b, uint16_t v)
{
	vle16 le = cpu_to_vle16(v);

	memcpy(b, &le, sizeof(le));
}

static void put32(uint8_t *b, uint32_t v)
{
	vle32 le = cpu_to_vle32(v);

	memcpy(b, &le, sizeof(le));
}

static void put64(uint8_t *b, uint64_t v)
{
	vle64 le = cpu_to_vle64(v);

	memcpy(b, &le, sizeof(le));
}

/* Does [off, off+len) touch [reg, reg+rlen)? */
static bool touches(uint32_t off, uint32_t len, uint32_t reg, uint32_t rlen)
{
	return off < reg + rlen && reg < off + len;
}

/* ---- MSI-X delivery -------------------------------------------------------- */
static uint16_t msix_ctl(const struct vpci *p)
{
	return get16(p->cfg + CAP_MSIX + PCI_MSIX_FLAGS);
}

static bool vec_deliverable(const struct vpci *p, uint16_t v)
{
	const struct vpci_vec *e = &p->vec[v];
	uint16_t ctl = msix_ctl(p);

	return (ctl & PCI_MSIX_FLAGS_ENABLE) && !(ctl & PCI_MSIX_FLAGS_MASKALL) &&
	       !(p->table[v * MSIX_ENTRY + PCI_MSIX_ENTRY_VECTOR_CTRL] &
		 PCI_MSIX_ENTRY_CTRL_MASKBIT) &&
	       !e->ext_masked && e->fd >= 0;
}

/* What the datapath signalled on the pending eventfd becomes pending. */
static void vec_collect(struct vpci_vec *e)
{
	eventfd_t n;

	if (e->pend_fd >= 0 && eventfd_read(e->pend_fd, &n) == 0 && n)
		e->pending = true;
}

static void vec_signal(struct vpci *p, uint16_t v, int fd)
{
	if (eventfd_write(fd, 1))
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: vector %u: eventfd write failed: %s",
			   p->d->name, v, strerror(errno));
}

/* Re-evaluate vector v after anything its delivery depends on changed. */
static void vec_update(struct vpci *p, uint16_t v)
{
	struct vpci_vec *e = &p->vec[v];
	bool live = vec_deliverable(p, v);

	if (live == e->live && (!live || e->fd == e->live_fd))
		return;
	e->live = live;
	e->live_fd = live ? e->fd : -1;
	if (p->ops.vector_changed)
		p->ops.vector_changed(p, v);
	if (!live)
		return;
	/* The owner has republished the host fd: what the pending eventfd
	 * holds now fired while the vector was masked. PCIe 7.7.2: a
	 * pending message is sent once the vector is unmasked. */
	vec_collect(e);
	if (e->pending) {
		e->pending = false;
		vec_signal(p, v, e->fd);
	}
}

static void vec_update_all(struct vpci *p)
{
	for (uint16_t v = 0; v < p->prm.num_vectors; v++)
		vec_update(p, v);
}

/* ---- power-on state ---------------------------------------------------------- */
static void vcap(uint8_t *c, uint8_t at, uint8_t next, uint8_t len,
		 uint8_t type, uint32_t off, uint32_t length)
{
	c[at] = PCI_CAP_ID_VNDR;
	c[at + PCI_CAP_LIST_NEXT] = next;
	c[at + 2] = len;
	c[at + 3] = type;
	c[at + VCAP_BAR] = VPCI_REGION_BAR0;
	put32(c + at + VCAP_OFFSET, off);
	put32(c + at + VCAP_LENGTH, length);
}

static void ecap(uint8_t *c, uint16_t at, uint16_t id, uint16_t next)
{
	put32(c + at, id | 1u << 16 | (uint32_t)next << 20); /* version 1 */
}

/* Config space and MSI-X table as after a conventional reset or FLR. */
static void power_on(struct vpci *p)
{
	const struct vpci_params *prm = &p->prm;
	uint8_t *c = p->cfg, *w = p->wmask, *w1c = p->w1c;
	uint8_t *x;

	memset(c, 0, VPCI_CONFIG_SIZE);
	memset(w, 0, VPCI_CONFIG_SIZE);
	memset(w1c, 0, VPCI_CONFIG_SIZE);

	/* Type 0 header. A VF shows its IDs itself: it is presented to its
	 * client as a standalone function, as VFIO presents one. */
	put16(c + PCI_VENDOR_ID, VPCI_VENDOR_VIRTIO);
	put16(c + PCI_DEVICE_ID, prm->device_id);
	put16(w + PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			       PCI_COMMAND_INTX_DISABLE);
	put16(c + PCI_STATUS, PCI_STATUS_CAP_LIST);
	put16(w1c + PCI_STATUS, PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT |
				PCI_STATUS_REC_TARGET_ABORT |
				PCI_STATUS_REC_MASTER_ABORT |
				PCI_STATUS_SIG_SYSTEM_ERROR |
				PCI_STATUS_DETECTED_PARITY);
	c[PCI_REVISION_ID] = 1; /* 4.1.2.1: non-transitional */
	/* Ethernet controller for virtio-net; "other" for the rest. */
	put16(c + PCI_CLASS_DEVICE, prm->device_id == VPCI_DEVICE_NET ? 0x0200 : 0xff00);
	w[PCI_CACHE_LINE_SIZE] = 0xff; /* RW, no effect on PCIe */
	c[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	/* 32-bit non-prefetchable memory BARs: the address bits above the
	 * size are writable, so all-ones reads back the size mask. */
	put32(w + PCI_BASE_ADDRESS_0, ~(VPCI_BAR0_SIZE - 1));
	put32(w + PCI_BASE_ADDRESS_2, ~(VPCI_BAR2_SIZE - 1));
	put16(c + PCI_SUBSYSTEM_VENDOR_ID, prm->subsys_vendor_id);
	put16(c + PCI_SUBSYSTEM_ID, prm->subsys_id);
	c[PCI_CAPABILITY_LIST] = CAP_EXP;
	w[PCI_INTERRUPT_LINE] = 0xff; /* Interrupt Pin stays 0: no INTx */

	/* PCI Express capability, version 2, endpoint, FLR capable. */
	x = c + CAP_EXP;
	x[0] = PCI_CAP_ID_EXP;
	x[PCI_CAP_LIST_NEXT] = CAP_MSIX;
	put16(x + PCI_EXP_FLAGS, PCI_EXP_TYPE_ENDPOINT << 4 | 2);
	put32(x + PCI_EXP_DEVCAP, PCI_EXP_DEVCAP_RBER | PCI_EXP_DEVCAP_FLR);
	put16(x + PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_NOSNOOP_EN |
				  PCI_EXP_DEVCTL_READRQ_512B);
	/* Max_Payload_Size stays 128 bytes (the only size offered); Initiate
	 * FLR always reads 0 and acts in cfg_write(). */
	put16(w + CAP_EXP + PCI_EXP_DEVCTL,
	      PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_NFERE | PCI_EXP_DEVCTL_FERE |
	      PCI_EXP_DEVCTL_URRE | PCI_EXP_DEVCTL_RELAX_EN |
	      PCI_EXP_DEVCTL_NOSNOOP_EN | PCI_EXP_DEVCTL_READRQ);
	put16(w1c + CAP_EXP + PCI_EXP_DEVSTA, PCI_EXP_DEVSTA_CED | PCI_EXP_DEVSTA_NFED |
					      PCI_EXP_DEVSTA_FED | PCI_EXP_DEVSTA_URD);
	put32(x + PCI_EXP_LNKCAP, PCI_EXP_LNKCAP_SLS_2_5GB | 1u << 4 /* x1 */);
	put16(w + CAP_EXP + PCI_EXP_LNKCTL, PCI_EXP_LNKCTL_CCC | PCI_EXP_LNKCTL_ES);
	put16(x + PCI_EXP_LNKSTA, PCI_EXP_LNKSTA_CLS_2_5GB | PCI_EXP_LNKSTA_NLW_X1);
	put32(x + PCI_EXP_LNKCAP2, PCI_EXP_LNKCAP2_SLS_2_5GB);
	put16(x + PCI_EXP_LNKCTL2, PCI_EXP_LNKCTL2_TLS_2_5GT);

	/* MSI-X: table at BAR2 + 0, PBA at BAR2 + VPCI_PBA_OFF. */
	x = c + CAP_MSIX;
	x[0] = PCI_CAP_ID_MSIX;
	x[PCI_CAP_LIST_NEXT] = CAP_COMMON;
	put16(x + PCI_MSIX_FLAGS, (uint16_t)(prm->num_vectors - 1));
	put16(w + CAP_MSIX + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	put32(x + PCI_MSIX_TABLE, 0 | VPCI_REGION_BAR2);
	put32(x + PCI_MSIX_PBA, VPCI_PBA_OFF | VPCI_REGION_BAR2);

	/* The virtio structures (4.1.4), all in BAR0. The notify area is
	 * as long as the queues need (4.1.4.4: queue_notify_off *
	 * multiplier + 4, with NOTIFICATION_DATA). */
	vcap(c, CAP_COMMON, CAP_NOTIFY, VCAP_SIZE, VIRTIO_CAP_COMMON,
	     VPCI_COMMON_OFF, CC_LEN);
	vcap(c, CAP_NOTIFY, CAP_ISR, VCAP_EXT_SIZE, VIRTIO_CAP_NOTIFY,
	     VPCI_NOTIFY_OFF, (uint32_t)p->d->num_queues * VPCI_NOTIFY_MULT);
	put32(c + CAP_NOTIFY + VCAP_MULT, VPCI_NOTIFY_MULT);
	vcap(c, CAP_ISR, CAP_DEVICE, VCAP_SIZE, VIRTIO_CAP_ISR, VPCI_ISR_OFF, 1);
	vcap(c, CAP_DEVICE, CAP_PCICFG, VCAP_SIZE, VIRTIO_CAP_DEVICE,
	     VPCI_DEVICE_OFF, VPCI_DEVICE_MAX);
	/* 4.1.4.9: bar, offset, length and pci_cfg_data are RW. */
	vcap(c, CAP_PCICFG, 0, VCAP_EXT_SIZE, VIRTIO_CAP_PCI, 0, 0);
	w[CAP_PCICFG + VCAP_BAR] = 0xff;
	put32(w + CAP_PCICFG + VCAP_OFFSET, ~0u);
	put32(w + CAP_PCICFG + VCAP_LENGTH, ~0u);
	put32(w + CAP_PCICFG + VCAP_CFG_DATA, ~0u);

	/* Extended capabilities: SR-IOV on a PF with VFs, then ARI. */
	uint16_t ari = ECAP_FIRST;
	if (p->sriov) {
		uint16_t s = p->sriov;

		ari = s + PCI_EXT_CAP_SRIOV_SIZEOF;
		ecap(c, s, PCI_EXT_CAP_ID_SRIOV, ari);
		/* No VF Migration, no 10-bit tags: capabilities 0. */
		put16(w + s + PCI_SRIOV_CTRL, PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE |
					      PCI_SRIOV_CTRL_ARI);
		put16(c + s + PCI_SRIOV_INITIAL_VF, prm->total_vfs);
		put16(c + s + PCI_SRIOV_TOTAL_VF, prm->total_vfs);
		put16(w + s + PCI_SRIOV_NUM_VF, 0xffff); /* while VF Enable is clear */
		put16(c + s + PCI_SRIOV_VF_OFFSET, prm->vf_offset);
		put16(c + s + PCI_SRIOV_VF_STRIDE, prm->vf_stride);
		put16(c + s + PCI_SRIOV_VF_DID, prm->vf_device_id);
		put32(c + s + PCI_SRIOV_SUP_PGSIZE, SRIOV_PGSIZES);
		put32(c + s + PCI_SRIOV_SYS_PGSIZE, 1); /* 4K */
		put32(w + s + PCI_SRIOV_SYS_PGSIZE, SRIOV_PGSIZES);
		/* VF BARs and the migration state offset stay 0 (RO). */
	}
	/* ARI: no function groups; Next Function Number 0. */
	ecap(c, ari, PCI_EXT_CAP_ID_ARI, 0);

	/* MSI-X table: every vector masked (PCIe 7.7.2.4: Mask Bit set
	 * after reset). */
	memset(p->table, 0, sizeof(p->table));
	for (uint16_t v = 0; v < prm->num_vectors; v++)
		p->table[v * MSIX_ENTRY + PCI_MSIX_ENTRY_VECTOR_CTRL] =
			PCI_MSIX_ENTRY_CTRL_MASKBIT;
}

/* ---- BAR0: common configuration (4.1.4.3) --------------------------------- */
static uint32_t feature_word(uint64_t f, uint32_t sel)
{
	return sel < 2 ? (uint32_t)(f >> (32 * sel)) : 0;
}

/* 4.1.5.1.2: a vector the device cannot map reads back NO_VECTOR. */
static uint16_t vector_or_none(const struct vpci *p, uint16_t v)
{
	return v < p->prm.num_vectors ? v : VQ_NO_VECTOR;
}

static void common_layout(const struct vpci *p, uint8_t *c)
{
	const struct vdev *d = p->d;
	uint16_t qs = p->queue_select;
	const struct vdev_queue *q = qs < d->num_queues ? &d->q[qs] : NULL;

	memset(c, 0, CC_LEN);
	put32(c + CC_DFSELECT, p->dfselect);
	put32(c + CC_DF, feature_word(d->device_features, p->dfselect));
	put32(c + CC_GFSELECT, p->gfselect);
	put32(c + CC_GF, feature_word(d->driver_features, p->gfselect));
	put16(c + CC_MSIX, d->msix_config);
	put16(c + CC_NUMQ, d->num_queues);
	c[CC_STATUS] = vdev_get_status(d);
	c[CC_CFGGEN] = d->config_generation;
	put16(c + CC_Q_SELECT, qs);
	/* A queue that does not exist reads queue_size 0 (unavailable). */
	put16(c + CC_Q_MSIX, q ? q->vector : VQ_NO_VECTOR);
	if (!q)
		return;
	put16(c + CC_Q_SIZE, q->size);
	put16(c + CC_Q_ENABLE, q->enabled);
	put16(c + CC_Q_NOFF, qs);
	put64(c + CC_Q_DESC, q->desc);
	put64(c + CC_Q_DRIVER, q->driver);
	put64(c + CC_Q_DEVICE, q->device);
	put16(c + CC_Q_NDATA, qs); /* the trivial choice the spec names */
	put16(c + CC_Q_RESET, vdev_queue_resetting(d, qs));
}

static void common_read(const struct vpci *p, uint32_t off, uint8_t *b, uint32_t len)
{
	uint8_t c[CC_LEN];

	if (off >= CC_LEN)
		return;
	common_layout(p, c);
	memcpy(b, c + off, len < CC_LEN - off ? len : CC_LEN - off);
}

/* Is a write of len at off exactly one field, or one 32-bit half of a
 * 64-bit field? */
static bool common_write_ok(uint32_t off, uint32_t len)
{
	if (off >= CC_LEN)
		return false;
	if (off < CC_MSIX || (off >= CC_Q_DESC && off < CC_Q_NDATA))
		return (len == 4 && off % 4 == 0) ||
		       (len == 8 && off >= CC_Q_DESC && off % 8 == 0);
	if (off == CC_STATUS || off == CC_CFGGEN)
		return len == 1;
	return len == 2 && off % 2 == 0;
}

static void driver_feature_write(struct vpci *p, uint32_t v)
{
	struct vdev *d = p->d;
	uint32_t sel = p->gfselect;

	if (sel >= 2) {
		if (v)
			HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: driver features %#x in window %u ignored",
				   d->name, v, sel);
		return;
	}
	uint64_t mask = 0xffffffffull << (32 * sel);
	uint64_t f = (d->driver_features & ~mask) | ((uint64_t)v << (32 * sel));
	/* Refused outside DRIVER..FEATURES_OK; the driver reads it back. */
	vdev_set_driver_features(d, f);
}

static void status_write(struct vpci *p, uint8_t v)
{
	vdev_set_status(p->d, v);
	if (v == 0) {
		/* The selectors and ISR belong to the device being reset. */
		p->dfselect = p->gfselect = 0;
		p->queue_select = 0;
		p->isr = 0;
	}
}

static void queue_addr_write(struct vpci *p, uint16_t qs, uint32_t off,
			     const uint8_t *b, uint32_t len)
{
	struct vdev *d = p->d;
	const struct vdev_queue *q = &d->q[qs];
	uint64_t a[3] = { q->desc, q->driver, q->device };
	unsigned i = (off - CC_Q_DESC) / 8;

	if (len == 8)
		a[i] = get64(b);
	else if (off % 8)
		a[i] = (a[i] & 0xffffffffull) | (uint64_t)get32(b) << 32;
	else
		a[i] = (a[i] & ~0xffffffffull) | get32(b);
	vdev_queue_set_addr(d, qs, a[0], a[1], a[2]);
}

static void common_write(struct vpci *p, uint32_t off, const uint8_t *b, uint32_t len)
{
	struct vdev *d = p->d;
	uint16_t qs = p->queue_select;
	bool q = qs < d->num_queues;

	if (!common_write_ok(off, len)) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: common config write of %u bytes at %#x ignored",
			   d->name, len, off);
		return;
	}
	/* vdev refuses what the device state does not allow; the driver
	 * sees it on reading the field back. */
	switch (off) {
	case CC_DFSELECT:
		p->dfselect = get32(b);
		break;
	case CC_GFSELECT:
		p->gfselect = get32(b);
		break;
	case CC_GF:
		driver_feature_write(p, get32(b));
		break;
	case CC_MSIX:
		d->msix_config = vector_or_none(p, get16(b));
		break;
	case CC_STATUS:
		status_write(p, b[0]);
		break;
	case CC_Q_SELECT:
		p->queue_select = get16(b);
		break;
	case CC_Q_SIZE:
		if (q)
			vdev_queue_set_size(d, qs, get16(b));
		break;
	case CC_Q_MSIX:
		if (q)
			vdev_queue_set_vector(d, qs, vector_or_none(p, get16(b)));
		break;
	case CC_Q_ENABLE:
		/* The driver MUST NOT write 0; only 1 means anything. */
		if (q && get16(b) == 1)
			vdev_queue_enable(d, qs);
		break;
	case CC_Q_DESC ... CC_Q_NDATA - 1:
		if (q)
			queue_addr_write(p, qs, off, b, len);
		break;
	case CC_Q_RESET:
		if (q && get16(b) == 1 && vdev_has(d, VIRTIO_F_RING_RESET))
			vdev_queue_reset(d, qs);
		break;
	default: /* read-only for the driver */
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: write to read-only common config field %#x ignored",
			   d->name, off);
		break;
	}
}

/* ---- BAR0: notifications, ISR, device configuration ------------------------- */
static void notify_write(struct vpci *p, uint32_t off, const uint8_t *b, uint32_t len)
{
	uint32_t q = off / VPCI_NOTIFY_MULT;

	/* 4.1.5.2: the 16-bit queue index, or the 32-bit NOTIFICATION_DATA
	 * value, at the queue's own address. */
	if (off % VPCI_NOTIFY_MULT || (len != 2 && len != 4) ||
	    q >= p->d->num_queues) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: notify write of %u bytes at %#x ignored",
			   p->d->name, len, off);
		return;
	}
	if (p->ops.notify)
		p->ops.notify(p, (uint16_t)q, len == 2 ? get16(b) : get32(b));
}

static void bar0_read(struct vpci *p, uint32_t off, uint8_t *b, uint32_t len)
{
	memset(b, 0, len);
	while (len) {
		uint32_t page = off & ~(SPAN - 1), o = off - page;
		uint32_t n = SPAN - o < len ? SPAN - o : len;

		switch (page) {
		case VPCI_COMMON_OFF:
			common_read(p, o, b, n);
			break;
		case VPCI_ISR_OFF:
			/* 4.1.4.5: reading ISR status clears it. */
			if (o == 0) {
				b[0] = p->isr;
				p->isr = 0;
			}
			break;
		case VPCI_DEVICE_OFF:
			vdev_config_read(p->d, o, b, n);
			break;
		default: /* the notify area is write-only */
			break;
		}
		off += n;
		b += n;
		len -= n;
	}
}

static void bar0_write(struct vpci *p, uint32_t off, const uint8_t *b, uint32_t len)
{
	uint32_t page = off & ~(SPAN - 1), o = off - page;

	if (len > SPAN - o) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: BAR0 write of %u bytes at %#x crosses structures: ignored",
			   p->d->name, len, off);
		return;
	}
	switch (page) {
	case VPCI_COMMON_OFF:
		common_write(p, o, b, len);
		break;
	case VPCI_DEVICE_OFF:
		vdev_config_write(p->d, o, b, len);
		break;
	case VPCI_NOTIFY_OFF:
		notify_write(p, o, b, len);
		break;
	default: /* ISR status is read-only */
		break;
	}
}

/* ---- BAR2: MSI-X table and PBA ----------------------------------------------- */
static uint8_t table_wmask(uint32_t off)
{
	uint32_t f = off % MSIX_ENTRY;

	if (f < PCI_MSIX_ENTRY_VECTOR_CTRL)
		return 0xff; /* address lo/hi, data */
	return f == PCI_MSIX_ENTRY_VECTOR_CTRL ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0;
}

static uint8_t pba_byte(struct vpci *p, uint32_t i)
{
	uint8_t r = 0;

	for (uint32_t k = 0; k < 8; k++) {
		uint32_t v = i * 8 + k;
		if (v >= p->prm.num_vectors)
			break;
		struct vpci_vec *e = &p->vec[v];
		if (!e->live)
			vec_collect(e);
		if (e->pending)
			r |= (uint8_t)(1u << k);
	}
	return r;
}

static void bar2_access(struct vpci *p, uint32_t off, uint8_t *b, uint32_t len,
			bool write)
{
	uint32_t tlen = p->prm.num_vectors * MSIX_ENTRY;
	uint32_t pba = PBA_BYTES(p->prm.num_vectors);

	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = off + i;

		if (o < tlen) {
			uint8_t m = table_wmask(o);
			if (write)
				p->table[o] = (uint8_t)((p->table[o] & ~m) | (b[i] & m));
			else
				b[i] = p->table[o];
		} else if (!write) {
			/* The PBA is read-only; the rest is a hole. */
			b[i] = o >= VPCI_PBA_OFF && o - VPCI_PBA_OFF < pba ?
			       pba_byte(p, o - VPCI_PBA_OFF) : 0;
		}
	}
	if (write && off < tlen) {
		uint32_t end = off + len < tlen ? off + len : tlen;
		for (uint32_t v = off / MSIX_ENTRY; v <= (end - 1) / MSIX_ENTRY; v++)
			vec_update(p, (uint16_t)v);
	}
}

/* The same path for direct BAR accesses and the PCI_CFG window. */
static void bar_access(struct vpci *p, unsigned bar, uint32_t off, uint8_t *b,
		       uint32_t len, bool write)
{
	if (bar == VPCI_REGION_BAR0) {
		if (write)
			bar0_write(p, off, b, len);
		else
			bar0_read(p, off, b, len);
	} else if (bar == VPCI_REGION_BAR2) {
		bar2_access(p, off, b, len, write);
	}
}

/* ---- config space -------------------------------------------------------------- */

/* 4.1.4.9: the window must be 1, 2 or 4 bytes, aligned to its length, and
 * inside a structure another virtio capability describes. */
static bool window_ok(const struct vpci *p, uint8_t bar, uint32_t off, uint32_t len)
{
	static const uint8_t caps[] = { CAP_COMMON, CAP_NOTIFY, CAP_ISR, CAP_DEVICE };

	if ((len != 1 && len != 2 && len != 4) || off % len)
		return false;
	for (unsigned i = 0; i < sizeof(caps); i++) {
		const uint8_t *c = p->cfg + caps[i];
		uint64_t s = get32(c + VCAP_OFFSET), l = get32(c + VCAP_LENGTH);

		if (c[VCAP_BAR] == bar && off >= s && off + (uint64_t)len <= s + l)
			return true;
	}
	return false;
}

static void pcicfg_window(struct vpci *p, bool write)
{
	uint8_t *c = p->cfg + CAP_PCICFG;
	uint8_t bar = c[VCAP_BAR];
	uint32_t off = get32(c + VCAP_OFFSET), len = get32(c + VCAP_LENGTH);

	if (!window_ok(p, bar, off, len)) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: PCI_CFG window bar %u offset %#x length %u is invalid",
			   p->d->name, bar, off, len);
		if (!write)
			memset(c + VCAP_CFG_DATA, 0, 4);
		return;
	}
	bar_access(p, bar, off, c + VCAP_CFG_DATA, len, write);
}

/* SR-IOV Control was written (old: its value before). */
static void sriov_ctrl(struct vpci *p, uint16_t old)
{
	uint8_t *s = p->cfg + p->sriov;
	bool on = get16(s + PCI_SRIOV_CTRL) & PCI_SRIOV_CTRL_VFE;
	bool was = old & PCI_SRIOV_CTRL_VFE;
	uint16_t n = get16(s + PCI_SRIOV_NUM_VF);

	/* NumVFs may change only while VF Enable is clear. */
	put16(p->wmask + p->sriov + PCI_SRIOV_NUM_VF, on ? 0 : 0xffff);
	if (on && !was) {
		if (n == 0 || n > p->prm.total_vfs) {
			HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: VF Enable with NumVFs %u (TotalVFs %u): no VFs",
				   p->d->name, n, p->prm.total_vfs);
			return;
		}
		p->vfs_on = true;
		if (p->ops.sriov)
			p->ops.sriov(p, n, true);
	} else if (!on && was && p->vfs_on) {
		p->vfs_on = false;
		if (p->ops.sriov)
			p->ops.sriov(p, 0, false);
	}
}

static void cfg_read(struct vpci *p, uint32_t off, uint8_t *b, uint32_t len)
{
	if (touches(off, len, CAP_PCICFG + VCAP_CFG_DATA, 4))
		pcicfg_window(p, false);
	memcpy(b, p->cfg + off, len);
}

static void cfg_write(struct vpci *p, uint32_t off, const uint8_t *b, uint32_t len)
{
	const uint32_t flr = CAP_EXP + PCI_EXP_DEVCTL + 1; /* the byte holding FLR */
	uint16_t msix_old = msix_ctl(p);
	uint16_t sctl_old = p->sriov ? get16(p->cfg + p->sriov + PCI_SRIOV_CTRL) : 0;

	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = off + i;
		uint8_t v = (uint8_t)((p->cfg[o] & ~p->wmask[o]) | (b[i] & p->wmask[o]));

		p->cfg[o] = (uint8_t)(v & ~(b[i] & p->w1c[o]));
	}
	if (touches(off, len, CAP_PCICFG + VCAP_CFG_DATA, 4))
		pcicfg_window(p, true);
	if (msix_ctl(p) != msix_old)
		vec_update_all(p);
	if (p->sriov && touches(off, len, p->sriov + PCI_SRIOV_CTRL, 2))
		sriov_ctrl(p, sctl_old);
	/* Last: the reset undoes everything above. */
	if (touches(off, len, flr, 1) && (b[flr - off] & (PCI_EXP_DEVCTL_BCR_FLR >> 8)))
		vpci_flr(p);
}

/* ---- the API -------------------------------------------------------------------- */
struct vpci *vpci_create(struct vdev *d, const struct vpci_params *prm,
			 const struct vpci_ops *ops, void *priv)
{
	struct vpci *p;

	if (!d || !prm || prm->num_vectors == 0 || prm->num_vectors > VPCI_MSIX_MAX ||
	    d->num_queues == 0 || d->num_queues > VPCI_MAX_QUEUES ||
	    (prm->is_vf && prm->total_vfs)) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p) + prm->num_vectors * sizeof(p->vec[0]));
	if (!p)
		return NULL;
	/* "A device SHOULD offer VIRTIO_F_SR_IOV if it is a PCI device and
	 * presents a PCI SR-IOV capability structure, otherwise it MUST NOT
	 * offer VIRTIO_F_SR_IOV." */
	if (!prm->is_vf && prm->total_vfs)
		d->device_features |= VDEV_BIT(VIRTIO_F_SR_IOV);
	else
		d->device_features &= ~VDEV_BIT(VIRTIO_F_SR_IOV);
	p->d = d;
	p->prm = *prm;
	if (ops)
		p->ops = *ops;
	p->priv = priv;
	p->sriov = !prm->is_vf && prm->total_vfs ? ECAP_FIRST : 0;
	for (uint16_t v = 0; v < prm->num_vectors; v++)
		p->vec[v].fd = p->vec[v].pend_fd = p->vec[v].live_fd = -1;
	power_on(p);
	return p;
}

void vpci_destroy(struct vpci *p)
{
	if (!p)
		return;
	for (uint16_t v = 0; v < p->prm.num_vectors; v++)
		if (p->vec[v].pend_fd >= 0)
			close(p->vec[v].pend_fd);
	free(p);
}

void *vpci_priv(const struct vpci *p)
{
	return p->priv;
}

struct vdev *vpci_vdev(const struct vpci *p)
{
	return p->d;
}

uint16_t vpci_num_vectors(const struct vpci *p)
{
	return p->prm.num_vectors;
}

uint64_t vpci_region_size(const struct vpci *p, unsigned region)
{
	(void)p;
	switch (region) {
	case VPCI_REGION_BAR0:
		return VPCI_BAR0_SIZE;
	case VPCI_REGION_BAR2:
		return VPCI_BAR2_SIZE;
	case VPCI_REGION_CONFIG:
		return VPCI_CONFIG_SIZE;
	default:
		return 0;
	}
}

int vpci_access(struct vpci *p, unsigned region, uint64_t off, void *buf,
		uint32_t len, bool write)
{
	uint64_t size = vpci_region_size(p, region);

	if (!buf || len == 0 || off >= size || len > size - off)
		return -EINVAL;
	if (region == VPCI_REGION_CONFIG) {
		if (write)
			cfg_write(p, (uint32_t)off, buf, len);
		else
			cfg_read(p, (uint32_t)off, buf, len);
	} else {
		bar_access(p, region, (uint32_t)off, buf, len, write);
	}
	return 0;
}

int vpci_msix_set_fd(struct vpci *p, uint16_t vector, int fd)
{
	if (vector >= p->prm.num_vectors || fd < -1)
		return -EINVAL;
	p->vec[vector].fd = fd;
	vec_update(p, vector);
	return 0;
}

int vpci_msix_mask(struct vpci *p, uint16_t vector, bool masked)
{
	if (vector >= p->prm.num_vectors)
		return -EINVAL;
	p->vec[vector].ext_masked = masked;
	vec_update(p, vector);
	return 0;
}

int vpci_vector_fd(struct vpci *p, uint16_t vector)
{
	if (vector >= p->prm.num_vectors)
		return -1;
	struct vpci_vec *e = &p->vec[vector];
	if (e->live)
		return e->fd;
	if (e->pend_fd < 0) {
		e->pend_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (e->pend_fd < 0)
			HAL_LOG_RL(HAL_LOG_ERR, COMP, "%s: vector %u: eventfd: %s",
				   p->d->name, vector, strerror(errno));
	}
	return e->pend_fd;
}

void vpci_raise(struct vpci *p, uint16_t vector)
{
	if (vector >= p->prm.num_vectors)
		return;
	struct vpci_vec *e = &p->vec[vector];
	if (e->live)
		vec_signal(p, vector, e->fd);
	else
		e->pending = true;
}

void vpci_flr(struct vpci *p)
{
	bool vfs = p->vfs_on;
	/* PCIe 6.6.2: FLR leaves what controls the link alone (Common Clock
	 * Configuration, Extended Synch), and SR-IOV's ARI Capable Hierarchy
	 * survives an FLR of any PF or VF. */
	uint16_t lnkctl = get16(p->cfg + CAP_EXP + PCI_EXP_LNKCTL);
	uint16_t ari = p->sriov ? get16(p->cfg + p->sriov + PCI_SRIOV_CTRL) &
				  PCI_SRIOV_CTRL_ARI : 0;

	vdev_set_status(p->d, 0); /* may complete later (vdev_quiesced) */
	p->vfs_on = false;
	power_on(p);
	put16(p->cfg + CAP_EXP + PCI_EXP_LNKCTL, lnkctl);
	if (p->sriov)
		put16(p->cfg + p->sriov + PCI_SRIOV_CTRL, ari);
	p->dfselect = p->gfselect = 0;
	p->queue_select = 0;
	p->isr = 0;
	/* Nothing raised before the reset is delivered after it. */
	for (uint16_t v = 0; v < p->prm.num_vectors; v++) {
		vec_collect(&p->vec[v]);
		p->vec[v].pending = false;
	}
	vec_update_all(p); /* MSI-X is disabled now */
	if (vfs && p->ops.sriov)
		p->ops.sriov(p, 0, false);
}

void vpci_config_irq(struct vpci *p)
{
	p->isr |= VPCI_ISR_CONFIG;
	vpci_raise(p, p->d->msix_config);
}
