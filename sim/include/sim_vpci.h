/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sim_vpci — the simulated host's PCI core and virtio-pci driver for one
 * function reached through a vfio-user connection (struct sim_vfu): what
 * a host's enumeration, its MSI-X setup and Linux's virtio_pci_modern do
 * with a modern virtio device (virtio 1.3, 4.1 "Virtio Over PCI Bus").
 * virtnet-host is built on it.
 *
 * The sequence (3.1.1):
 *   sim_vpci_open()          enumerate: IDs, BAR sizes, the capability
 *                            lists, the virtio structures, MSI-X, SR-IOV;
 *                            enable memory space and bus mastering
 *   sim_vpci_negotiate()     reset, ACKNOWLEDGE, DRIVER, features,
 *                            FEATURES_OK (read back)
 *   ...                      the caller reads the device configuration
 *                            (e.g. max_virtqueue_pairs) and lays its rings
 *                            out for the negotiated format (sim_vq,
 *                            sim_net; sim_vpci_ring_flags)
 *   sim_vpci_setup_queues()  MSI-X vectors and eventfds, every queue
 *                            (size, vector, rings, enable), the
 *                            configuration vector, doorbell eventfds
 *   sim_vpci_driver_ok()     DRIVER_OK
 * then sim_vpci_kick() to notify a queue, epoll on sim_vpci_queue_fd() /
 * sim_vpci_config_fd() for interrupts, sim_vpci_config_event() when the
 * configuration vector fires (DEVICE_NEEDS_RESET), sim_vpci_reset() to
 * start again, sim_vpci_close() to let go.
 *
 * The device is not trusted: every capability pointer, length, offset and
 * read-back value is checked before it is used, every walk and every wait
 * is bounded. Errors are negative errnos: -ENODEV (not a modern virtio
 * function, or a capability it must have is missing), -EPROTO (it
 * describes itself inconsistently: a capability outside config space, a
 * structure outside its BAR, a register reading back what cannot be),
 * -ELOOP (a capability list that loops), -ENOTSUP (feature negotiation
 * failed), -EBUSY (no MSI-X vector layout the device accepts),
 * -ETIMEDOUT (a reset that does not complete), -EAGAIN (a configuration
 * generation that never settles), -EINVAL (a call out of sequence or out
 * of range), and what sim_vfu returns (-ENOTCONN once the connection is
 * lost). Each is logged through hal_log (component "sim-vpci").
 *
 * One thread owns a sim_vpci and its sim_vfu.
 */
#ifndef VIRTNET_SIM_VPCI_H
#define VIRTNET_SIM_VPCI_H

#include <stdbool.h>
#include <stdint.h>

#include "sim_vfu.h"
#include "sim_vq.h"

#define SIM_VPCI_RESET_MS   2000 /* a reset that takes longer fails */
#define SIM_VPCI_GEN_TRIES  64   /* configuration reads torn this often fail */

/* Transport features this driver never accepts, whatever the caller
 * wants: they change how a queue is notified (4.1.5.2). */
#define SIM_VPCI_F_REFUSED \
	((1ull << 38) /* NOTIFICATION_DATA */ | (1ull << 39) /* NOTIF_CONFIG_DATA */ | \
	 (1ull << 41) /* ADMIN_VQ */)

struct sim_vpci;

struct sim_vpci_bar {
	uint64_t size;   /* from the sizing probe; 0: not implemented */
	bool io;         /* I/O space (never used by this driver) */
	bool mem64;      /* 64-bit: the next BAR register is its upper half */
	bool prefetch;
};

/* A virtio structure capability (4.1.4): where it is in config space and
 * the part of a BAR it describes. */
struct sim_vpci_vcap {
	uint8_t cap;     /* config-space offset of the capability, 0: absent */
	uint8_t bar;
	uint32_t offset;
	uint32_t length;
};

/* What enumeration found. */
struct sim_vpci_info {
	uint16_t vendor_id, device_id;
	uint16_t subsys_vendor_id, subsys_id;
	uint8_t revision;
	uint8_t header_type;
	uint32_t class_code;       /* base class << 16 | sub-class << 8 | prog-if */
	uint16_t virtio_id;        /* device type: device_id - 0x1040 */
	struct sim_vpci_bar bar[6];
	uint8_t pcie_cap;          /* PCI Express capability, 0: none */
	/* the first of each virtio structure type whose BAR is memory */
	struct sim_vpci_vcap common, notify, isr, device;
	struct sim_vpci_vcap pci_cfg; /* optional; its bar/offset are a window */
	uint32_t notify_mult;      /* notify_off_multiplier */
	/* MSI-X */
	uint8_t msix_cap;
	uint16_t msix_size;        /* table entries */
	uint8_t msix_table_bar, msix_pba_bar;
	uint32_t msix_table_off, msix_pba_off;
	uint32_t irq_count;        /* vectors the server takes eventfds for
				    * (GET_IRQ_INFO), at most msix_size */
	/* extended capabilities, 0: none */
	uint16_t sriov_cap, ari_cap;
	uint16_t initial_vfs, total_vfs, vf_offset, vf_stride, vf_device_id;
	/* common configuration */
	uint16_t num_queues;
};

/*
 * Enumerate the function behind c (which stays the caller's) and enable
 * memory space and bus mastering. The device is left as found otherwise:
 * call sim_vpci_negotiate next.
 */
int sim_vpci_open(struct sim_vfu *c, struct sim_vpci **out);
/* Reset the device, release MSI-X (eventfds de-assigned and closed,
 * MSI-X disabled), stop bus mastering, free d. Best effort: on a lost
 * connection only the local part is done. */
void sim_vpci_close(struct sim_vpci *d);
const struct sim_vpci_info *sim_vpci_info(const struct sim_vpci *d);

/*
 * Write 0 to device_status and wait (at most SIM_VPCI_RESET_MS) until it
 * reads 0 (4.1.4.3.2). The queues are forgotten (their doorbell fds
 * closed); MSI-X stays enabled, the vectors unmapped by the device.
 */
int sim_vpci_reset(struct sim_vpci *d);
int sim_vpci_get_status(struct sim_vpci *d, uint8_t *status);

/*
 * Reset, ACKNOWLEDGE, DRIVER, read the 64 offered bits, accept
 * offered & want (VERSION_1 always, SIM_VPCI_F_REFUSED never), FEATURES_OK
 * and read it back. *features: what was accepted. On failure FAILED is
 * set (3.1.1) and the device must be reset before another attempt.
 */
int sim_vpci_negotiate(struct sim_vpci *d, uint64_t want, uint64_t *features);
uint64_t sim_vpci_features(const struct sim_vpci *d);
/* The sim_vq VQ_F_* flags a feature set gives. */
uint32_t sim_vpci_ring_flags(uint64_t features);

/* Queue q's maximum size (0: the queue is unavailable); read it before
 * the queue is set up (afterwards queue_size reads the size set). */
int sim_vpci_queue_max(struct sim_vpci *d, uint16_t q, uint16_t *max);

/*
 * After FEATURES_OK: queues 0..n-1 with the rings of vqs[i] (NULL: the
 * queue is left alone and gets no vector). MSI-X as Linux lays it out: the
 * configuration change on vector 0 and a vector per queue when the table
 * has room, else one vector shared by the queues (vector 1, or 0 with a
 * one-vector table); a device that refuses a vector per queue (reads back
 * NO_VECTOR, 4.1.5.1.2) gets the shared layout. Every queue is then
 * enabled, and the doorbell eventfds the server offers are fetched
 * (GET_REGION_IO_FDS). Calling it again replaces the earlier setup.
 */
int sim_vpci_setup_queues(struct sim_vpci *d, uint16_t n,
			  struct sim_vq *const *vqs);
int sim_vpci_driver_ok(struct sim_vpci *d);

/* Notify queue q (4.1.5.2): its doorbell eventfd when the server gave one,
 * else a REGION_WRITE of the 16-bit queue index at its Queue Notify
 * address. */
int sim_vpci_kick(struct sim_vpci *d, uint16_t q);
/* Queue q's doorbell eventfd, -1: notified by REGION_WRITE. Owned by d. */
int sim_vpci_kick_fd(const struct sim_vpci *d, uint16_t q);

/* Interrupt eventfds to epoll (owned by d, -1 when there is none): the
 * configuration vector's, and queue q's vector's — the same fd for
 * queues sharing a vector, and the configuration's with a one-vector
 * table (4.1.5.4: the driver then services both). */
int sim_vpci_config_fd(const struct sim_vpci *d);
int sim_vpci_queue_fd(const struct sim_vpci *d, uint16_t q);
/* Queue q's MSI-X vector, VQ_NO_VECTOR when it has none. */
uint16_t sim_vpci_queue_vector(const struct sim_vpci *d, uint16_t q);

/* len bytes of device configuration at off, consistent under the
 * configuration generation (2.5.1), in natural widths (4.1.3.1): as the
 * device holds them, little-endian. */
int sim_vpci_config_read(struct sim_vpci *d, uint32_t off, void *buf,
			 uint32_t len);

/* The configuration vector fired: drain its eventfd and read the device
 * status; *needs_reset tells whether DEVICE_NEEDS_RESET is set (2.1.1: the
 * driver resets the device and sets it up again). */
int sim_vpci_config_event(struct sim_vpci *d, bool *needs_reset);

#endif
