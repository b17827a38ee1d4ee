/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio_pci — a virtio device as a PCI Express function (virtio 1.3,
 * 4.1 "Virtio Over PCI Bus"; PCI Express Base for the header, the PCI
 * Express, MSI-X, SR-IOV and ARI capabilities).
 *
 * The function is a set of regions numbered as VFIO numbers them (BAR0..5,
 * ROM, config space). A transport (the vfio-user server, hardware) turns
 * the host's region reads and writes into vpci_access(), its interrupt
 * fds into vpci_msix_set_fd()/vpci_msix_mask(), and its reset into
 * vpci_flr(); everything else — common configuration, ISR, the device
 * configuration window, notifications, MSI-X table and PBA, SR-IOV — is
 * decided here and reaches the device only through the transport-neutral
 * virtio_dev API. Host input is hostile: any offset, any width, any
 * value; an access outside a region is refused, one inside it never
 * crashes, and read-only fields ignore writes.
 *
 * Layout (fixed, so a driver and a test can rely on it):
 *   BAR0 (32-bit memory, VPCI_BAR0_SIZE): common configuration at
 *        VPCI_COMMON_OFF, ISR at VPCI_ISR_OFF, device configuration at
 *        VPCI_DEVICE_OFF, notifications at VPCI_NOTIFY_OFF (queue q at
 *        VPCI_NOTIFY_OFF + q * VPCI_NOTIFY_MULT; the notify area has a
 *        page of its own, so a transport can offer it as a sparse-mmap
 *        area or per-queue ioeventfds). Each structure starts a 4 KiB
 *        page; a write crossing from one into the next is ignored.
 *   BAR2 (32-bit memory, VPCI_BAR2_SIZE): MSI-X table at 0, PBA at
 *        VPCI_PBA_OFF.
 *
 * Interrupts: one state per MSI-X vector {fd, masked, pending}. The
 * datapath never sees the masking: vpci_vector_fd() is the fd to signal for
 * a vector — the host's eventfd while the vector can be delivered, else a
 * pending eventfd of this function's own — and ops->vector_changed says
 * when that changes so the owner republishes it (RCU) to its lcores. On
 * unmask (table write, MSI-X enable, function unmask, vpci_msix_mask or
 * vpci_msix_set_fd) a pending vector fires once: pending set by
 * vpci_raise, or a count on the pending eventfd, which is read after
 * vector_changed returns — an owner that waits there for its lcores to
 * switch fds loses nothing; a signal sent to the pending eventfd after
 * that read is delivered at the next unmask. The PBA shows both kinds of
 * pending. There is no INTx (Interrupt Pin 0).
 *
 * Control thread only.
 */
#ifndef VIRTNET_VIRTIO_PCI_H
#define VIRTNET_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_dev.h"

/* Region indexes (VFIO_PCI_*_REGION_INDEX). */
#define VPCI_REGION_BAR0   0
#define VPCI_REGION_BAR2   2
#define VPCI_REGION_BAR5   5
#define VPCI_REGION_ROM    6
#define VPCI_REGION_CONFIG 7
#define VPCI_NUM_REGIONS   9 /* with VGA (8), absent like ROM */

#define VPCI_CONFIG_SIZE   4096 /* PCI Express extended config space */

#define VPCI_BAR0_SIZE     0x4000u
#define VPCI_COMMON_OFF    0x0000u
#define VPCI_ISR_OFF       0x1000u
#define VPCI_DEVICE_OFF    0x2000u
#define VPCI_DEVICE_MAX    0x1000u
#define VPCI_NOTIFY_OFF    0x3000u
#define VPCI_NOTIFY_MULT   4u
#define VPCI_MAX_QUEUES    (0x1000u / VPCI_NOTIFY_MULT)

#define VPCI_BAR2_SIZE     0x2000u
#define VPCI_PBA_OFF       0x1000u
#define VPCI_MSIX_MAX      256u /* vectors: table 16 B each, fits below PBA */

/* ISR status bits (4.1.4.5). Without INTx queue interrupts are MSI-X
 * only, so only the configuration bit is ever set. */
#define VPCI_ISR_QUEUE     0x1
#define VPCI_ISR_CONFIG    0x2

#define VPCI_VENDOR_VIRTIO 0x1af4
#define VPCI_DEVICE_NET    0x1041 /* 0x1040 + device type 1 */

struct vpci;

struct vpci_params {
	uint16_t device_id;        /* VPCI_DEVICE_NET */
	uint16_t subsys_vendor_id;
	uint16_t subsys_id;
	uint16_t num_vectors;      /* MSI-X table size, 1..VPCI_MSIX_MAX */
	/* SR-IOV (a PF with total_vfs > 0 gets the SR-IOV and ARI
	 * capabilities; a VF or a PF without VFs only ARI). */
	uint16_t total_vfs;
	uint16_t vf_offset;        /* First VF Offset (routing IDs) */
	uint16_t vf_stride;
	uint16_t vf_device_id;
	bool is_vf;
};

struct vpci_ops {
	/* PF: NumVFs / VF Enable were written. enable false: remove them
	 * (the owner does it once their clients are gone). */
	void (*sriov)(struct vpci *p, uint16_t num_vfs, bool enable);
	/* The fd vpci_vector_fd(vector) returns changed. */
	void (*vector_changed)(struct vpci *p, uint16_t vector);
	/* A write into the notify area (not through an ioeventfd): queue
	 * index, and the value written (NOTIFICATION_DATA's data or the
	 * queue index). */
	void (*notify)(struct vpci *p, uint16_t queue, uint32_t value);
};

/* d must outlive p; ops may leave any member NULL. The offer's
 * VIRTIO_F_SR_IOV follows the SR-IOV capability (virtio 1.3, 4.1.5.6: set
 * on a PF with total_vfs, cleared otherwise). */
struct vpci *vpci_create(struct vdev *d, const struct vpci_params *prm,
			 const struct vpci_ops *ops, void *priv);
void vpci_destroy(struct vpci *p);
void *vpci_priv(const struct vpci *p);
struct vdev *vpci_vdev(const struct vpci *p);
/* The MSI-X table size (params.num_vectors). */
uint16_t vpci_num_vectors(const struct vpci *p);

/* Region size (0 for an absent region). */
uint64_t vpci_region_size(const struct vpci *p, unsigned region);
/* A host read (write) of len bytes at off in region. 0, or -EINVAL when
 * the access is not inside the region (nothing is read or written). Reads
 * of holes and write-only registers return zeros. */
int vpci_access(struct vpci *p, unsigned region, uint64_t off, void *buf,
		uint32_t len, bool write);

/* MSI-X delivery: the host's eventfd for a vector (-1: none), and masking
 * from outside the table (vfio-user SET_IRQS MASK/UNMASK). fds are
 * borrowed: the caller closes them after setting -1. */
int vpci_msix_set_fd(struct vpci *p, uint16_t vector, int fd);
int vpci_msix_mask(struct vpci *p, uint16_t vector, bool masked);
/* The fd the datapath signals for vector (see above), -1 for NO_VECTOR or
 * a vector beyond the table. */
int vpci_vector_fd(struct vpci *p, uint16_t vector);
/* Raise a vector from the control thread (the configuration change). */
void vpci_raise(struct vpci *p, uint16_t vector);

/* Function Level Reset (PCIe Device Control bit, or the transport's own
 * reset): resets the virtio device (asynchronously, as virtio_dev does),
 * and everything in config space a conventional reset clears: command
 * register, BAR addresses, MSI-X control and table, SR-IOV control and
 * NumVFs (the VFs go, through ops->sriov) — but not what the PCIe spec
 * exempts from FLR: Link Control and ARI Capable Hierarchy. */
void vpci_flr(struct vpci *p);

/* The configuration-change interrupt: vdev_ops.config_irq of a device
 * behind PCI calls this. Sets ISR bit 1 and raises msix_config. */
void vpci_config_irq(struct vpci *p);

#endif
