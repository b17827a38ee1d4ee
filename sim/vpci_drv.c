/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The simulated host's PCI core and virtio-pci modern driver for one
 * function over vfio-user (see sim_vpci.h).
 *
 * virtio 1.3: 2.1 device status (DEVICE_NEEDS_RESET, 2.1.1), 2.5.1 reading
 * device configuration under config_generation, 3.1.1 the driver's
 * initialization sequence, 4.1.2 discovery (IDs, revision), 4.1.3.1 field
 * widths (64-bit fields as two 32-bit halves), 4.1.4 the virtio structure
 * capabilities (first of each type, reserved types and BARs ignored),
 * 4.1.4.3 common configuration (reset handshake), 4.1.4.4 notification
 * addresses, 4.1.5.1.2 MSI-X vector configuration (NO_VECTOR read back on
 * a refused mapping), 4.1.5.1.3 virtqueue configuration, 4.1.5.2 available
 * buffer notifications, 4.1.5.4 configuration change notifications.
 * PCI Express Base: 7.5.1 the type 0 header and BAR sizing, the capability
 * and extended capability lists, 7.7.2 MSI-X, 9.3.3 SR-IOV. Register
 * offsets and bits are the kernel's <linux/pci_regs.h>.
 *
 * Every register access is one vfio-user REGION_READ/WRITE of the
 * register's own width. Sequences of accesses go through get()/put(),
 * which carry the first error along and do nothing after it, so a
 * sequence reads as the spec's steps and is checked once at its end.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "hal_log.h"
#include "sim_vpci.h"
#include "virtio_dev.h"

/* Log why and return rc. */
#define FAIL(rc, ...) hal_log_fail((rc), COMP, __VA_ARGS__)
#define COMP "sim-vpci"
#define CFG  VFIO_PCI_CONFIG_REGION_INDEX

#define VIRTIO_VENDOR     0x1af4
#define VIRTIO_DEV_FIRST  0x1040 /* 0x1040 + device type (4.1.2) */
#define VIRTIO_DEV_LAST   0x107f

/* struct virtio_pci_cap and virtio_pci_notify_cap (4.1.4) */
#define VCAP_LEN     2
#define VCAP_TYPE    3
#define VCAP_BAR     4
#define VCAP_OFFSET  8
#define VCAP_LENGTH  12
#define VCAP_MULT    16
#define VCAP_SIZE    16
#define VCAP_EXT_SIZE 20 /* notify and PCI_CFG capabilities */

#define VIRTIO_CAP_COMMON 1
#define VIRTIO_CAP_NOTIFY 2
#define VIRTIO_CAP_ISR    3
#define VIRTIO_CAP_DEVICE 4
#define VIRTIO_CAP_PCI    5

/* struct virtio_pci_common_cfg (4.1.4.3) */
#define CC_DFSELECT 0x00
#define CC_DF       0x04
#define CC_GFSELECT 0x08
#define CC_GF       0x0c
#define CC_MSIX     0x10
#define CC_NUMQ     0x12
#define CC_STATUS   0x14
#define CC_CFGGEN   0x15
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE   0x18
#define CC_Q_MSIX   0x1a
#define CC_Q_ENABLE 0x1c
#define CC_Q_NOFF   0x1e
#define CC_Q_DESC   0x20
#define CC_Q_DRIVER 0x28
#define CC_Q_DEVICE 0x30
#define CC_MIN_LEN  0x38 /* through queue_device: every field we use */

/* Any MSI address and data do: the server turns a vector into a write to
 * the eventfd we give it. These are what an x86 host would write. */
#define MSI_ADDR 0xfee00000u

#define STATUS_SETUP (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | \
		      VIRTIO_STATUS_FEATURES_OK)

struct queue {
	bool live;       /* configured by sim_vpci_setup_queues */
	uint16_t vector; /* VQ_NO_VECTOR: none */
	uint64_t notify; /* Queue Notify address in the notify BAR */
	int kick_fd;     /* one of io_fd[], -1: REGION_WRITE */
};

struct sim_vpci {
	struct sim_vfu *c;
	struct sim_vpci_info info;
	uint64_t features;         /* accepted at FEATURES_OK */
	uint8_t status;            /* as we last wrote it */
	int *irq_fd;               /* per vector in use */
	uint16_t nvec;
	int io_fd[VFU_MAX_FDS];    /* doorbell eventfds from the server */
	unsigned n_io_fds;
	struct queue *q;           /* info.num_queues of them */
};

/* ---- register access ------------------------------------------------------ */

/* A little-endian register of width w in region; 0 once *rc is set. */
static uint32_t get(struct sim_vpci *d, int *rc, uint32_t region, uint64_t off,
		    unsigned w)
{
	uint64_t v = 0;

	if (!*rc)
		*rc = sim_vfu_read_le(d->c, region, off, w, &v);
	return *rc ? 0 : (uint32_t)v;
}

static void put(struct sim_vpci *d, int *rc, uint32_t region, uint64_t off,
		unsigned w, uint32_t v)
{
	if (!*rc)
		*rc = sim_vfu_write_le(d->c, region, off, w, v);
}

static uint32_t cfg_get(struct sim_vpci *d, int *rc, uint32_t off, unsigned w)
{
	return get(d, rc, CFG, off, w);
}

static void cfg_put(struct sim_vpci *d, int *rc, uint32_t off, unsigned w,
		    uint32_t v)
{
	put(d, rc, CFG, off, w, v);
}

/* The common configuration structure. */
static uint32_t cc_get(struct sim_vpci *d, int *rc, uint32_t off, unsigned w)
{
	return get(d, rc, d->info.common.bar, d->info.common.offset + off, w);
}

static void cc_put(struct sim_vpci *d, int *rc, uint32_t off, unsigned w,
		   uint32_t v)
{
	put(d, rc, d->info.common.bar, d->info.common.offset + off, w, v);
}

/* A 64-bit field as two 32-bit halves, low first (4.1.3.1). */
static void cc_put64(struct sim_vpci *d, int *rc, uint32_t off, uint64_t v)
{
	cc_put(d, rc, off, 4, (uint32_t)v);
	cc_put(d, rc, off + 4, 4, (uint32_t)(v >> 32));
}

static void put_status(struct sim_vpci *d, int *rc, uint8_t s)
{
	cc_put(d, rc, CC_STATUS, 1, s);
	if (!*rc)
		d->status = s;
}

/* FEATURES_OK accepted, DRIVER_OK not yet set, nothing failed since. */
static bool setting_up(const struct sim_vpci *d)
{
	return (d->status & (STATUS_SETUP | VIRTIO_STATUS_DRIVER_OK |
			     VIRTIO_STATUS_FAILED)) == STATUS_SETUP;
}

/* 3.1.1: a step went irrecoverably wrong. Best effort. */
static void set_failed(struct sim_vpci *d)
{
	int rc = 0;

	put_status(d, &rc, d->status | VIRTIO_STATUS_FAILED);
}

/* ---- enumeration ------------------------------------------------------------ */

static int read_header(struct sim_vpci *d)
{
	struct sim_vpci_info *in = &d->info;
	uint32_t cr, status;
	int rc = 0;

	in->vendor_id = (uint16_t)cfg_get(d, &rc, PCI_VENDOR_ID, 2);
	in->device_id = (uint16_t)cfg_get(d, &rc, PCI_DEVICE_ID, 2);
	status = cfg_get(d, &rc, PCI_STATUS, 2);
	cr = cfg_get(d, &rc, PCI_CLASS_REVISION, 4);
	in->header_type = (uint8_t)cfg_get(d, &rc, PCI_HEADER_TYPE, 1);
	in->subsys_vendor_id = (uint16_t)cfg_get(d, &rc, PCI_SUBSYSTEM_VENDOR_ID, 2);
	in->subsys_id = (uint16_t)cfg_get(d, &rc, PCI_SUBSYSTEM_ID, 2);
	if (rc)
		return rc;
	in->revision = (uint8_t)cr;
	in->class_code = cr >> 8;
	/* 4.1.2.2: a non-transitional driver matches 0x1040..0x107f. A
	 * revision 0 device is transitional (4.1.2.3) and wants the legacy
	 * interface, which this driver does not speak. */
	if (in->vendor_id != VIRTIO_VENDOR || in->device_id < VIRTIO_DEV_FIRST ||
	    in->device_id > VIRTIO_DEV_LAST || in->revision < 1)
		return FAIL(-ENODEV, "%04x:%04x revision %u is not a modern virtio "
			       "device", in->vendor_id, in->device_id, in->revision);
	if ((in->header_type & 0x7f) != PCI_HEADER_TYPE_NORMAL)
		return FAIL(-ENODEV, "header type %#x is not an endpoint's",
			       in->header_type);
	/* 4.1.5.1.1: no capabilities, no virtio structures. */
	if (!(status & PCI_STATUS_CAP_LIST))
		return FAIL(-ENODEV, "no capability list");
	in->virtio_id = (uint16_t)(in->device_id - VIRTIO_DEV_FIRST);
	return 0;
}

/* Save, write all-ones, read back, restore: the bits that stayed 0 below
 * the type bits give the size. */
static void probe_bar(struct sim_vpci *d, int *rc, unsigned i, uint32_t *orig,
		      uint32_t *mask)
{
	uint32_t off = PCI_BASE_ADDRESS_0 + 4 * i;

	*orig = cfg_get(d, rc, off, 4);
	cfg_put(d, rc, off, 4, 0xffffffffu);
	*mask = cfg_get(d, rc, off, 4);
	cfg_put(d, rc, off, 4, *orig);
}

static int size_bars(struct sim_vpci *d)
{
	uint32_t cmd;
	int rc = 0, rc2 = 0;

	/* Decoding off while a BAR holds all-ones, as a host sizes them. */
	cmd = cfg_get(d, &rc, PCI_COMMAND, 2);
	cfg_put(d, &rc, PCI_COMMAND, 2,
		cmd & ~(uint32_t)(PCI_COMMAND_MEMORY | PCI_COMMAND_IO));
	for (unsigned i = 0; i < 6 && !rc; i++) {
		struct sim_vpci_bar *b = &d->info.bar[i];
		unsigned first = i;
		uint32_t orig, mask, orig_hi, mask_hi;
		uint64_t m;

		probe_bar(d, &rc, i, &orig, &mask);
		if (rc)
			break;
		if (orig & PCI_BASE_ADDRESS_SPACE_IO) {
			b->io = true;
			m = mask & PCI_BASE_ADDRESS_IO_MASK;
			/* The upper 16 bits of an I/O BAR may be hardwired 0. */
			if (m && !(m >> 16))
				m |= 0xffff0000u;
		} else {
			b->prefetch = orig & PCI_BASE_ADDRESS_MEM_PREFETCH;
			m = mask & PCI_BASE_ADDRESS_MEM_MASK;
			if ((orig & PCI_BASE_ADDRESS_MEM_TYPE_MASK) ==
			    PCI_BASE_ADDRESS_MEM_TYPE_64) {
				if (i == 5) {
					rc = FAIL(-EPROTO, "BAR5 claims to be "
						     "64-bit: there is no BAR6");
					break;
				}
				b->mem64 = true;
				probe_bar(d, &rc, ++i, &orig_hi, &mask_hi);
				m |= (uint64_t)mask_hi << 32;
			}
		}
		if (!m)
			continue; /* not implemented */
		/* A 32-bit BAR decodes nothing above 4 GiB. */
		if (!b->mem64)
			m |= 0xffffffff00000000ull;
		/* The writable address bits must run from the top down to the
		 * size: anything else is no BAR a host could place. */
		b->size = ~m + 1;
		if (b->size & (b->size - 1))
			rc = FAIL(-EPROTO, "BAR%u reads back %#llx after all-ones: "
				     "not a size", first, (unsigned long long)m);
	}
	cfg_put(d, &rc2, PCI_COMMAND, 2, cmd);
	return rc ? rc : rc2;
}

static bool mem_bar(const struct sim_vpci_info *in, unsigned bar)
{
	return bar < 6 && in->bar[bar].size && !in->bar[bar].io;
}

static int vendor_cap(struct sim_vpci *d, uint32_t pos)
{
	struct sim_vpci_info *in = &d->info;
	struct sim_vpci_vcap *s, v = { .cap = (uint8_t)pos };
	uint32_t len, type, mult = 0;
	int rc = 0;

	len = cfg_get(d, &rc, pos + VCAP_LEN, 1);
	type = cfg_get(d, &rc, pos + VCAP_TYPE, 1);
	if (rc)
		return rc;
	switch (type) {
	case VIRTIO_CAP_COMMON: s = &in->common; break;
	case VIRTIO_CAP_NOTIFY: s = &in->notify; break;
	case VIRTIO_CAP_ISR:    s = &in->isr; break;
	case VIRTIO_CAP_DEVICE: s = &in->device; break;
	case VIRTIO_CAP_PCI:    s = &in->pci_cfg; break;
	default: /* 4.1.4: reserved types (and other vendors' uses) */
		return 0;
	}
	/* 4.1.4: the first one of a type we can use is the one to use. */
	if (s->cap)
		return 0;
	if (len < (type == VIRTIO_CAP_NOTIFY || type == VIRTIO_CAP_PCI ?
		   VCAP_EXT_SIZE : VCAP_SIZE) || pos + len > PCI_CFG_SPACE_SIZE)
		return FAIL(-EPROTO, "virtio capability at %#x: cap_len %u",
			       pos, len);
	v.bar = (uint8_t)cfg_get(d, &rc, pos + VCAP_BAR, 1);
	v.offset = cfg_get(d, &rc, pos + VCAP_OFFSET, 4);
	v.length = cfg_get(d, &rc, pos + VCAP_LENGTH, 4);
	if (type == VIRTIO_CAP_NOTIFY)
		mult = cfg_get(d, &rc, pos + VCAP_MULT, 4);
	if (rc)
		return rc;
	/* 4.1.4: a reserved BAR number is ignored; like Linux we also pass
	 * over one whose BAR maps no memory. PCI_CFG's bar is a window the
	 * driver writes, not a location. */
	if (type != VIRTIO_CAP_PCI && !mem_bar(in, v.bar)) {
		HAL_WARN(COMP, "virtio capability at %#x (type %u) names BAR%u, "
			 "which maps no memory: ignored", pos, type, v.bar);
		return 0;
	}
	*s = v;
	if (type == VIRTIO_CAP_NOTIFY)
		in->notify_mult = mult;
	return 0;
}

static int msix_cap(struct sim_vpci *d, uint32_t pos)
{
	struct sim_vpci_info *in = &d->info;
	uint32_t ctl, table, pba;
	int rc = 0;

	if (in->msix_cap)
		return 0;
	if (pos + PCI_CAP_MSIX_SIZEOF > PCI_CFG_SPACE_SIZE)
		return FAIL(-EPROTO, "MSI-X capability at %#x runs past config "
			       "space", pos);
	ctl = cfg_get(d, &rc, pos + PCI_MSIX_FLAGS, 2);
	table = cfg_get(d, &rc, pos + PCI_MSIX_TABLE, 4);
	pba = cfg_get(d, &rc, pos + PCI_MSIX_PBA, 4);
	if (rc)
		return rc;
	in->msix_cap = (uint8_t)pos;
	in->msix_size = (uint16_t)((ctl & PCI_MSIX_FLAGS_QSIZE) + 1);
	in->msix_table_bar = table & PCI_MSIX_TABLE_BIR;
	in->msix_table_off = table & PCI_MSIX_TABLE_OFFSET;
	in->msix_pba_bar = pba & PCI_MSIX_PBA_BIR;
	in->msix_pba_off = pba & PCI_MSIX_PBA_OFFSET;
	return 0;
}

/* The capability list: each entry visited once, every pointer inside the
 * device-specific part of config space; a list that comes back to an
 * entry is refused (it would never end). */
static int walk_caps(struct sim_vpci *d)
{
	uint8_t seen[PCI_CFG_SPACE_SIZE / 4 / 8] = { 0 };
	uint32_t pos, hdr;
	int rc = 0;

	pos = cfg_get(d, &rc, PCI_CAPABILITY_LIST, 1) & ~3u;
	while (!rc && pos) {
		if (pos < PCI_STD_HEADER_SIZEOF)
			return FAIL(-EPROTO, "capability pointer %#x points into "
				       "the header", pos);
		if (seen[pos / 32] & (1u << (pos / 4 % 8)))
			return FAIL(-ELOOP, "capability list loops back to %#x",
				       pos);
		seen[pos / 32] |= (uint8_t)(1u << (pos / 4 % 8));
		hdr = cfg_get(d, &rc, pos, 2);
		if (rc)
			break;
		switch (hdr & 0xff) {
		case PCI_CAP_ID_VNDR:
			rc = vendor_cap(d, pos);
			break;
		case PCI_CAP_ID_MSIX:
			rc = msix_cap(d, pos);
			break;
		case PCI_CAP_ID_EXP:
			if (!d->info.pcie_cap)
				d->info.pcie_cap = (uint8_t)pos;
			break;
		}
		pos = (hdr >> 8) & ~3u;
	}
	return rc;
}

static int sriov_cap(struct sim_vpci *d, uint32_t pos)
{
	struct sim_vpci_info *in = &d->info;
	int rc = 0;

	if (in->sriov_cap)
		return 0;
	if (pos + PCI_EXT_CAP_SRIOV_SIZEOF > PCI_CFG_SPACE_EXP_SIZE)
		return FAIL(-EPROTO, "SR-IOV capability at %#x runs past config "
			       "space", pos);
	in->initial_vfs = (uint16_t)cfg_get(d, &rc, pos + PCI_SRIOV_INITIAL_VF, 2);
	in->total_vfs = (uint16_t)cfg_get(d, &rc, pos + PCI_SRIOV_TOTAL_VF, 2);
	in->vf_offset = (uint16_t)cfg_get(d, &rc, pos + PCI_SRIOV_VF_OFFSET, 2);
	in->vf_stride = (uint16_t)cfg_get(d, &rc, pos + PCI_SRIOV_VF_STRIDE, 2);
	in->vf_device_id = (uint16_t)cfg_get(d, &rc, pos + PCI_SRIOV_VF_DID, 2);
	if (!rc)
		in->sriov_cap = (uint16_t)pos;
	return rc;
}

/* The extended list of a PCI Express function, from 0x100, bounded the
 * same way. */
static int walk_ecaps(struct sim_vpci *d)
{
	uint8_t seen[(PCI_CFG_SPACE_EXP_SIZE - PCI_CFG_SPACE_SIZE) / 4 / 8] = { 0 };
	uint32_t pos = PCI_CFG_SPACE_SIZE, hdr, i;
	int rc;

	/* Conventional PCI: 256 bytes of config space, no extended list. */
	if (!d->info.pcie_cap)
		return 0;
	while (pos) {
		if (pos < PCI_CFG_SPACE_SIZE || pos > PCI_CFG_SPACE_EXP_SIZE - 4)
			return FAIL(-EPROTO, "extended capability pointer %#x "
				       "outside extended config space", pos);
		i = (pos - PCI_CFG_SPACE_SIZE) / 4;
		if (seen[i / 8] & (1u << (i % 8)))
			return FAIL(-ELOOP, "extended capability list loops "
				       "back to %#x", pos);
		seen[i / 8] |= (uint8_t)(1u << (i % 8));
		rc = sim_vfu_cfg_read32(d->c, pos, &hdr);
		/* A server whose config region ends at 256 bytes refuses
		 * the read: no extended space, as a header of 0 or ~0 says. */
		if (pos == PCI_CFG_SPACE_SIZE &&
		    (rc == -EINVAL || (!rc && (hdr == 0 || hdr == 0xffffffffu))))
			return 0;
		if (rc)
			return rc;
		switch (PCI_EXT_CAP_ID(hdr)) {
		case PCI_EXT_CAP_ID_SRIOV:
			rc = sriov_cap(d, pos);
			break;
		case PCI_EXT_CAP_ID_ARI:
			if (!d->info.ari_cap)
				d->info.ari_cap = (uint16_t)pos;
			break;
		}
		if (rc)
			return rc;
		pos = PCI_EXT_CAP_NEXT(hdr);
	}
	return 0;
}

/* A virtio structure must lie inside its BAR and be long enough to hold
 * what we use of it. */
static int check_vcap(const struct sim_vpci *d, const struct sim_vpci_vcap *s,
		      const char *name, uint32_t min)
{
	uint64_t bar_size;

	if (!s->cap)
		return FAIL(-ENODEV, "no %s capability", name);
	bar_size = d->info.bar[s->bar].size;
	if (s->length < min || (uint64_t)s->offset + s->length > bar_size)
		return FAIL(-EPROTO, "%s structure BAR%u %#x+%#x: outside the "
			       "BAR of %#llx bytes or shorter than %u", name,
			       s->bar, s->offset, s->length,
			       (unsigned long long)bar_size, min);
	return 0;
}

static bool in_bar(const struct sim_vpci_info *in, unsigned bar, uint64_t off,
		   uint64_t len)
{
	return mem_bar(in, bar) && off + len <= in->bar[bar].size;
}

static int check_layout(struct sim_vpci *d)
{
	const struct sim_vpci_info *in = &d->info;
	uint64_t n = in->msix_size;
	int rc;

	if ((rc = check_vcap(d, &in->common, "common configuration", CC_MIN_LEN)) ||
	    (rc = check_vcap(d, &in->notify, "notification", 2)) ||
	    (rc = check_vcap(d, &in->isr, "ISR", 1)))
		return rc;
	/* Device-specific configuration is optional (4.1.4.6). */
	if (in->device.cap && (rc = check_vcap(d, &in->device, "device", 0)))
		return rc;
	/* This host has no INTx: MSI-X or nothing. */
	if (!in->msix_cap)
		return FAIL(-ENODEV, "no MSI-X capability");
	if (!in_bar(in, in->msix_table_bar, in->msix_table_off, n * PCI_MSIX_ENTRY_SIZE) ||
	    !in_bar(in, in->msix_pba_bar, in->msix_pba_off, (n + 63) / 64 * 8))
		return FAIL(-EPROTO, "MSI-X table (BAR%u %#x) or PBA (BAR%u %#x) "
			       "of %llu vectors outside its BAR",
			       in->msix_table_bar, in->msix_table_off,
			       in->msix_pba_bar, in->msix_pba_off,
			       (unsigned long long)n);
	return 0;
}

static int enumerate(struct sim_vpci *d)
{
	struct vfu_irq_info irq;
	uint32_t cmd;
	int rc;

	if ((rc = read_header(d)) || (rc = size_bars(d)) || (rc = walk_caps(d)) ||
	    (rc = walk_ecaps(d)) || (rc = check_layout(d)))
		return rc;
	rc = sim_vfu_irq_info(d->c, VFIO_PCI_MSIX_IRQ_INDEX, &irq);
	if (rc)
		return FAIL(rc, "MSI-X interrupt information: %s", strerror(-rc));
	if (!(irq.flags & VFIO_IRQ_INFO_EVENTFD) || !irq.count)
		return FAIL(-ENODEV, "the server delivers no MSI-X by eventfd "
			       "(flags %#x, %u vectors)", irq.flags, irq.count);
	d->info.irq_count = irq.count < d->info.msix_size ? irq.count :
			    d->info.msix_size;
	d->info.num_queues = (uint16_t)cc_get(d, &rc, CC_NUMQ, 2);
	/* pci_enable_device + pci_set_master. */
	cmd = cfg_get(d, &rc, PCI_COMMAND, 2);
	cfg_put(d, &rc, PCI_COMMAND, 2,
		cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	return rc;
}

/* ---- MSI-X --------------------------------------------------------------- */

static void msix_disable(struct sim_vpci *d)
{
	const struct sim_vpci_info *in = &d->info;
	uint32_t ctl;
	int rc = 0;

	if (!d->irq_fd)
		return;
	/* Best effort, stopping at the first error (a lost connection):
	 * the eventfds are de-assigned, the vectors masked, MSI-X off. */
	rc = sim_vfu_set_irqs(d->c, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0,
			      VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
			      NULL, NULL);
	for (uint16_t v = 0; v < d->nvec; v++)
		put(d, &rc, in->msix_table_bar, in->msix_table_off +
		    v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL, 4,
		    PCI_MSIX_ENTRY_CTRL_MASKBIT);
	ctl = cfg_get(d, &rc, in->msix_cap + PCI_MSIX_FLAGS, 2);
	cfg_put(d, &rc, in->msix_cap + PCI_MSIX_FLAGS, 2,
		ctl & ~(uint32_t)(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL));
	for (uint16_t v = 0; v < d->nvec; v++)
		if (d->irq_fd[v] >= 0)
			close(d->irq_fd[v]);
	free(d->irq_fd);
	d->irq_fd = NULL;
	d->nvec = 0;
}

/*
 * Vectors 0..n-1: an eventfd each, given to the server, the table entries
 * written and unmasked, MSI-X enabled. The whole function stays masked
 * (PCIe 7.7.2.2: Function Mask) until the table is complete, so no vector
 * fires half set up.
 */
static int msix_enable(struct sim_vpci *d, uint16_t n)
{
	const struct sim_vpci_info *in = &d->info;
	uint32_t ctl_at = in->msix_cap + PCI_MSIX_FLAGS, ctl, cmd;
	int rc = 0;

	d->irq_fd = malloc(n * sizeof(*d->irq_fd));
	if (!d->irq_fd)
		return -ENOMEM;
	d->nvec = n;
	for (uint16_t v = 0; v < n; v++)
		d->irq_fd[v] = -1;
	for (uint16_t v = 0; v < n && !rc; v++) {
		d->irq_fd[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (d->irq_fd[v] < 0)
			rc = -errno;
	}
	ctl = cfg_get(d, &rc, ctl_at, 2);
	cfg_put(d, &rc, ctl_at, 2,
		ctl | PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	for (uint16_t v = 0; v < n; v++) {
		uint64_t e = in->msix_table_off + (uint64_t)v * PCI_MSIX_ENTRY_SIZE;

		put(d, &rc, in->msix_table_bar, e + PCI_MSIX_ENTRY_LOWER_ADDR, 4,
		    MSI_ADDR);
		put(d, &rc, in->msix_table_bar, e + PCI_MSIX_ENTRY_UPPER_ADDR, 4, 0);
		put(d, &rc, in->msix_table_bar, e + PCI_MSIX_ENTRY_DATA, 4, v);
		put(d, &rc, in->msix_table_bar, e + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 0);
	}
	if (!rc)
		rc = sim_vfu_set_irqs(d->c, VFIO_PCI_MSIX_IRQ_INDEX, 0, n,
				      VFIO_IRQ_SET_DATA_EVENTFD |
				      VFIO_IRQ_SET_ACTION_TRIGGER, d->irq_fd, NULL);
	cfg_put(d, &rc, ctl_at, 2,
		(ctl | PCI_MSIX_FLAGS_ENABLE) & ~(uint32_t)PCI_MSIX_FLAGS_MASKALL);
	/* With MSI-X on, INTx is disabled, as Linux does. */
	cmd = cfg_get(d, &rc, PCI_COMMAND, 2);
	cfg_put(d, &rc, PCI_COMMAND, 2, cmd | PCI_COMMAND_INTX_DISABLE);
	if (rc) {
		FAIL(rc, "MSI-X with %u vectors: %s", n, strerror(-rc));
		msix_disable(d);
	}
	return rc;
}

/* ---- queues ----------------------------------------------------------------- */

static void forget_queues(struct sim_vpci *d)
{
	for (uint16_t i = 0; i < d->info.num_queues; i++)
		d->q[i] = (struct queue){ .vector = VQ_NO_VECTOR, .kick_fd = -1 };
	for (unsigned i = 0; i < d->n_io_fds; i++)
		close(d->io_fd[i]);
	d->n_io_fds = 0;
}

/* 4.1.5.1.3 for queue i, up to (not including) queue_enable. -EBUSY when
 * the device refused vector v (it reads back NO_VECTOR). */
static int queue_config(struct sim_vpci *d, uint16_t i, const struct sim_vq *vq,
			uint16_t v)
{
	const struct sim_vpci_info *in = &d->info;
	struct queue *q = &d->q[i];
	uint32_t max, en, size, vec, noff;
	uint64_t off;
	int rc = 0;

	cc_put(d, &rc, CC_Q_SELECT, 2, i);
	max = cc_get(d, &rc, CC_Q_SIZE, 2);
	en = cc_get(d, &rc, CC_Q_ENABLE, 2);
	if (rc)
		return rc;
	if (!max || en)
		return FAIL(-ENOENT, "queue %u is %s", i,
			       max ? "already enabled" : "not available");
	if (vq->size > max)
		return FAIL(-EINVAL, "queue %u: size %u above the device's %u",
			       i, vq->size, max);
	cc_put(d, &rc, CC_Q_SIZE, 2, vq->size);
	size = cc_get(d, &rc, CC_Q_SIZE, 2);
	cc_put(d, &rc, CC_Q_MSIX, 2, v);
	vec = cc_get(d, &rc, CC_Q_MSIX, 2);
	cc_put64(d, &rc, CC_Q_DESC, vq->desc_iova);
	cc_put64(d, &rc, CC_Q_DRIVER, vq->avail_iova);
	cc_put64(d, &rc, CC_Q_DEVICE, vq->used_iova);
	noff = cc_get(d, &rc, CC_Q_NOFF, 2);
	if (rc)
		return rc;
	/* A size the device did not take would leave it reading a ring
	 * longer than ours. */
	if (size != vq->size)
		return FAIL(-EINVAL, "queue %u: size %u refused (reads %u)", i,
			       vq->size, size);
	if (vec != v) {
		if (vec == VQ_NO_VECTOR)
			return -EBUSY;
		return FAIL(-EPROTO, "queue %u: vector %u reads back %u", i,
			       v, vec);
	}
	/* 4.1.4.4: cap.length >= queue_notify_off * multiplier + 2. */
	off = (uint64_t)noff * in->notify_mult;
	if (off + 2 > in->notify.length)
		return FAIL(-EPROTO, "queue %u: notify offset %u * %u outside "
			       "the notification structure (%u bytes)", i, noff,
			       in->notify_mult, in->notify.length);
	*q = (struct queue){ .live = true, .vector = v,
			     .notify = in->notify.offset + off, .kick_fd = -1 };
	return 0;
}

/* GET_REGION_IO_FDS of the notify BAR: the ioeventfd of a sub-region at a
 * queue's notify address becomes its doorbell — when a 16-bit write of the
 * queue index would have signalled it (any width or 2 bytes; a datamatch
 * on the index). Without them every notification is a REGION_WRITE. */
static void get_kick_fds(struct sim_vpci *d)
{
	unsigned room = d->info.num_queues ? d->info.num_queues : 1;
	unsigned n_subs, n_fds;
	struct vfu_io_fd *subs = NULL;
	int rc = -ENOMEM;

	for (int tries = 0; tries < 2; tries++) {
		free(subs);
		subs = calloc(room, sizeof(*subs));
		if (!subs)
			return;
		n_subs = room;
		n_fds = VFU_MAX_FDS;
		rc = sim_vfu_region_io_fds(d->c, d->info.notify.bar, subs, &n_subs,
					   d->io_fd, &n_fds);
		if (rc != -E2BIG)
			break;
		room = n_subs; /* the count the server has; asked once more */
	}
	if (rc) {
		HAL_INFO(COMP, "no doorbell eventfds (%s): notifying by "
			 "REGION_WRITE", strerror(-rc));
		free(subs);
		return;
	}
	d->n_io_fds = n_fds;
	for (unsigned s = 0; s < n_subs; s++) {
		const struct vfu_io_fd *sub = &subs[s];

		if (sub->type != VFU_IO_FD_TYPE_IOEVENTFD ||
		    (sub->size != 0 && sub->size != 2))
			continue;
		for (uint16_t i = 0; i < d->info.num_queues; i++) {
			struct queue *q = &d->q[i];

			if (q->live && q->notify == sub->offset &&
			    (!(sub->flags & VFU_IOEVENTFD_FLAG_DATAMATCH) ||
			     sub->datamatch == i))
				q->kick_fd = d->io_fd[sub->fd_index];
		}
	}
	free(subs);
}

/* ---- the API ------------------------------------------------------------------ */

int sim_vpci_open(struct sim_vfu *c, struct sim_vpci **out)
{
	struct sim_vpci *d;
	int rc;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->c = c;
	rc = enumerate(d);
	if (rc)
		goto fail;
	rc = -ENOMEM;
	d->q = calloc(d->info.num_queues ? d->info.num_queues : 1, sizeof(*d->q));
	if (!d->q)
		goto fail;
	forget_queues(d);
	*out = d;
	return 0;
fail:
	free(d);
	return rc;
}

void sim_vpci_close(struct sim_vpci *d)
{
	uint32_t cmd;
	int rc = 0;

	if (!d)
		return;
	/* The device lets go of our rings before anything else goes. */
	(void)sim_vpci_reset(d);
	msix_disable(d);
	/* pci_clear_master: no more DMA from this function. */
	cmd = cfg_get(d, &rc, PCI_COMMAND, 2);
	cfg_put(d, &rc, PCI_COMMAND, 2, cmd & ~(uint32_t)PCI_COMMAND_MASTER);
	free(d->q);
	free(d);
}

const struct sim_vpci_info *sim_vpci_info(const struct sim_vpci *d)
{
	return &d->info;
}

int sim_vpci_reset(struct sim_vpci *d)
{
	int64_t deadline = sim_now_ms() + SIM_VPCI_RESET_MS;
	const struct timespec tick = { .tv_nsec = 1000 * 1000 };
	int rc = 0;

	forget_queues(d);
	d->features = 0;
	put_status(d, &rc, 0);
	/* 4.1.4.3.2: reinitialize only once it reads 0. The device may
	 * take its time (it waits for its datapath to let go). */
	for (;;) {
		uint32_t st = cc_get(d, &rc, CC_STATUS, 1);

		if (rc || !st)
			return rc;
		if (sim_now_ms() >= deadline)
			return FAIL(-ETIMEDOUT, "reset: status still %#x after "
				       "%d ms", st, SIM_VPCI_RESET_MS);
		nanosleep(&tick, NULL);
	}
}

int sim_vpci_get_status(struct sim_vpci *d, uint8_t *status)
{
	int rc = 0;

	*status = (uint8_t)cc_get(d, &rc, CC_STATUS, 1);
	return rc;
}

int sim_vpci_negotiate(struct sim_vpci *d, uint64_t want, uint64_t *features)
{
	uint64_t offered, accept;
	uint32_t st;
	int rc;

	*features = 0;
	rc = sim_vpci_reset(d);
	if (rc)
		return rc;
	put_status(d, &rc, VIRTIO_STATUS_ACKNOWLEDGE);
	put_status(d, &rc, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	cc_put(d, &rc, CC_DFSELECT, 4, 0);
	offered = cc_get(d, &rc, CC_DF, 4);
	cc_put(d, &rc, CC_DFSELECT, 4, 1);
	offered |= (uint64_t)cc_get(d, &rc, CC_DF, 4) << 32;
	if (rc)
		goto fail;
	/* A modern driver needs VERSION_1 and always accepts it. */
	if (!(offered & VDEV_BIT(VIRTIO_F_VERSION_1))) {
		rc = FAIL(-ENOTSUP, "VERSION_1 not offered (%#llx): a legacy "
			     "device", (unsigned long long)offered);
		goto fail;
	}
	accept = offered & (want | VDEV_BIT(VIRTIO_F_VERSION_1)) & ~SIM_VPCI_F_REFUSED;
	cc_put(d, &rc, CC_GFSELECT, 4, 0);
	cc_put(d, &rc, CC_GF, 4, (uint32_t)accept);
	cc_put(d, &rc, CC_GFSELECT, 4, 1);
	cc_put(d, &rc, CC_GF, 4, (uint32_t)(accept >> 32));
	put_status(d, &rc, STATUS_SETUP);
	/* 3.1.1 step 6: the device says here whether it takes the set. */
	st = cc_get(d, &rc, CC_STATUS, 1);
	if (rc)
		goto fail;
	if (!(st & VIRTIO_STATUS_FEATURES_OK)) {
		rc = FAIL(-ENOTSUP, "FEATURES_OK refused for %#llx (status %#x)",
			     (unsigned long long)accept, st);
		goto fail;
	}
	d->features = accept;
	*features = accept;
	return 0;
fail:
	set_failed(d);
	return rc;
}

uint64_t sim_vpci_features(const struct sim_vpci *d)
{
	return d->features;
}

uint32_t sim_vpci_ring_flags(uint64_t f)
{
	return ((f & VDEV_BIT(VIRTIO_F_EVENT_IDX)) ? VQ_F_EVENT_IDX : 0) |
	       ((f & VDEV_BIT(VIRTIO_F_INDIRECT_DESC)) ? VQ_F_INDIRECT : 0) |
	       ((f & VDEV_BIT(VIRTIO_F_IN_ORDER)) ? VQ_F_IN_ORDER : 0) |
	       ((f & VDEV_BIT(VIRTIO_F_RING_PACKED)) ? VQ_F_PACKED : 0);
}

int sim_vpci_queue_max(struct sim_vpci *d, uint16_t q, uint16_t *max)
{
	int rc = 0;

	*max = 0;
	if (q >= d->info.num_queues)
		return -EINVAL;
	cc_put(d, &rc, CC_Q_SELECT, 2, q);
	*max = (uint16_t)cc_get(d, &rc, CC_Q_SIZE, 2);
	return rc;
}

int sim_vpci_setup_queues(struct sim_vpci *d, uint16_t n,
			  struct sim_vq *const *vqs)
{
	uint16_t used = 0, nvec, i, k;
	uint32_t v;
	bool shared;
	int rc = 0;

	if (n > d->info.num_queues || !setting_up(d))
		return -EINVAL;
	forget_queues(d);
	msix_disable(d);
	for (i = 0; i < n; i++)
		used += vqs[i] != NULL;
	/*
	 * Linux's order of preference (vp_find_vqs): the configuration
	 * change on vector 0 and a vector per queue; else one vector shared
	 * by the queues (there is no INTx to fall back to after that). A
	 * one-vector table carries everything on vector 0. Queues are
	 * enabled only once every vector is accepted, so the fallback may
	 * still rewrite them.
	 */
	shared = d->info.irq_count < used + 1u;
	for (;;) {
		nvec = shared ? (d->info.irq_count < 2 ? 1 : 2) : (uint16_t)(used + 1);
		rc = msix_enable(d, nvec);
		for (i = 0, k = 0; !rc && i < n; i++)
			if (vqs[i])
				rc = queue_config(d, i, vqs[i],
						  shared ? nvec - 1 : ++k);
		if (rc != -EBUSY || shared)
			break;
		HAL_WARN(COMP, "a vector per queue refused: the queues share one");
		forget_queues(d);
		msix_disable(d);
		shared = true;
	}
	if (rc == -EBUSY)
		rc = FAIL(rc, "the device refuses even a shared queue vector");
	if (rc)
		goto fail;
	cc_put(d, &rc, CC_MSIX, 2, 0);
	v = cc_get(d, &rc, CC_MSIX, 2);
	if (!rc && v != 0)
		rc = FAIL(-EBUSY, "configuration vector 0 reads back %u", v);
	if (rc)
		goto fail;
	get_kick_fds(d);
	for (i = 0; i < n && !rc; i++) {
		if (!vqs[i])
			continue;
		cc_put(d, &rc, CC_Q_SELECT, 2, i);
		cc_put(d, &rc, CC_Q_ENABLE, 2, 1);
		/* A device that cannot use the rings leaves it 0. */
		v = cc_get(d, &rc, CC_Q_ENABLE, 2);
		if (!rc && v != 1)
			rc = FAIL(-EIO, "queue %u: the device did not enable it",
				     i);
	}
	if (rc)
		goto fail;
	return 0;
fail:
	forget_queues(d);
	msix_disable(d);
	set_failed(d);
	return rc;
}

int sim_vpci_driver_ok(struct sim_vpci *d)
{
	uint32_t st;
	int rc = 0;

	if (!setting_up(d))
		return -EINVAL;
	put_status(d, &rc, STATUS_SETUP | VIRTIO_STATUS_DRIVER_OK);
	st = cc_get(d, &rc, CC_STATUS, 1);
	if (rc)
		return rc;
	if (!(st & VIRTIO_STATUS_DRIVER_OK) ||
	    (st & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
		return FAIL(-EIO, "DRIVER_OK: status reads %#x", st);
	return 0;
}

int sim_vpci_kick(struct sim_vpci *d, uint16_t i)
{
	const struct queue *q = i < d->info.num_queues ? &d->q[i] : NULL;

	if (!q || !q->live)
		return -EINVAL;
	if (q->kick_fd >= 0)
		return eventfd_write(q->kick_fd, 1) ? -errno : 0;
	/* 4.1.5.2: without NOTIFICATION_DATA, the 16-bit queue index. */
	return sim_vfu_write16(d->c, d->info.notify.bar, q->notify, i);
}

int sim_vpci_kick_fd(const struct sim_vpci *d, uint16_t q)
{
	return q < d->info.num_queues ? d->q[q].kick_fd : -1;
}

int sim_vpci_config_fd(const struct sim_vpci *d)
{
	return d->nvec ? d->irq_fd[0] : -1;
}

uint16_t sim_vpci_queue_vector(const struct sim_vpci *d, uint16_t q)
{
	return q < d->info.num_queues ? d->q[q].vector : VQ_NO_VECTOR;
}

int sim_vpci_queue_fd(const struct sim_vpci *d, uint16_t q)
{
	uint16_t v = sim_vpci_queue_vector(d, q);

	return v < d->nvec ? d->irq_fd[v] : -1;
}

/* One read in natural widths (4.1.3.1), as Linux's virtio_cread*: a 1, 2
 * or 4-byte field in one access, 8 bytes as two 32-bit halves, anything
 * else (a MAC address) byte by byte. */
static int read_fields(struct sim_vpci *d, uint32_t off, uint8_t *b, uint32_t len)
{
	const struct sim_vpci_vcap *s = &d->info.device;
	uint64_t at = (uint64_t)s->offset + off;
	int rc = 0;

	if ((len == 1 || len == 2 || len == 4) && off % len == 0)
		return sim_vfu_region_read(d->c, s->bar, at, b, len);
	if (len == 8 && off % 4 == 0) {
		rc = sim_vfu_region_read(d->c, s->bar, at, b, 4);
		return rc ? rc : sim_vfu_region_read(d->c, s->bar, at + 4, b + 4, 4);
	}
	for (uint32_t i = 0; i < len && !rc; i++)
		rc = sim_vfu_region_read(d->c, s->bar, at + i, b + i, 1);
	return rc;
}

int sim_vpci_config_read(struct sim_vpci *d, uint32_t off, void *buf,
			 uint32_t len)
{
	const struct sim_vpci_vcap *s = &d->info.device;

	if (!s->cap)
		return -ENODEV;
	if (off > s->length || len > s->length - off)
		return -EINVAL;
	/* 2.5.1: retried until config_generation reads the same on both
	 * sides — a bounded number of times. */
	for (int tries = 0; tries < SIM_VPCI_GEN_TRIES; tries++) {
		uint32_t before, after;
		int rc = 0;

		before = cc_get(d, &rc, CC_CFGGEN, 1);
		if (!rc)
			rc = read_fields(d, off, buf, len);
		after = cc_get(d, &rc, CC_CFGGEN, 1);
		if (rc)
			return rc;
		if (before == after)
			return 0;
	}
	return FAIL(-EAGAIN, "device configuration %#x+%u: generation changed "
		       "on each of %d reads", off, len, SIM_VPCI_GEN_TRIES);
}

int sim_vpci_config_event(struct sim_vpci *d, bool *needs_reset)
{
	eventfd_t n;
	uint32_t st;
	int rc = 0;

	*needs_reset = false;
	/* Non-blocking: nothing to drain is fine. */
	if (d->nvec)
		(void)eventfd_read(d->irq_fd[0], &n);
	st = cc_get(d, &rc, CC_STATUS, 1);
	if (!rc)
		*needs_reset = st & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	return rc;
}
