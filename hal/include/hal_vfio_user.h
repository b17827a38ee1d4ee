/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hal_vfio_user — the vfio-user server (QEMU docs/interop/vfio-user.rst)
 * of one emulated PCI function: version and capability negotiation, the
 * client's memory (DMA_MAP of sealed fds into the function's dma_space),
 * device, region and IRQ information, region reads and writes (handed to
 * emu/virtio_pci), doorbell eventfds (GET_REGION_IO_FDS), MSI-X eventfds
 * and masking (SET_IRQS), and reset.
 *
 * Threads: no threads and no event loop of its own; everything runs on the
 * owner's control thread, which calls hal_vfu_serve() when the connected
 * socket is readable. Lcores see only the dma_space (RCU: DMA_UNMAP
 * answers after the grace period, then unmaps) and the fds the owner hands
 * them (kick eventfds; MSI-X fds through vpci_vector_fd).
 *
 * The client is untrusted. A message's size is checked against its
 * command's table entry before a payload byte is read; a message larger
 * than any command takes is read and discarded (the stream stays in sync)
 * and refused; a header that cannot be a message (size below 16) breaks
 * the stream. A refused message gets a header-only error reply with an
 * errno and changes nothing; fds a message does not take are closed. DMA
 * windows that wrap, overlap or exceed their file are refused.
 */
#ifndef HAL_VFIO_USER_H
#define HAL_VFIO_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal_vfio_user_proto.h"

struct dma_space;
struct vpci;

struct hal_vfu_params {
	const char *name;        /* function name for log lines (copied) */
	struct dma_space *dma;   /* the function's; windows are mapped here */
	bool require_sealed;     /* memory fds that support seals must carry
				  * F_SEAL_SHRINK (default true) */
	bool notify_mmap;        /* offer BAR0's notify page as a sparse-mmap
				  * area: doorbell writes then land in shared
				  * memory and wake nobody, so only for a
				  * datapath that polls (default false) */
};

void hal_vfu_params_default(struct hal_vfu_params *p);

struct hal_vfu_ops {
	/* The client went away (or reset the connection): called before
	 * its memory is unmapped and its interrupt fds closed, so the owner
	 * can stop the rings first. Optional. */
	void (*disconnect)(void *ctx);
};

struct hal_vfu_dev;

/* NULL with errno set. The function's regions and interrupts are pci's. */
struct hal_vfu_dev *hal_vfu_create(const struct hal_vfu_params *p,
				   struct vpci *pci,
				   const struct hal_vfu_ops *ops, void *ctx);
void hal_vfu_destroy(struct hal_vfu_dev *d);

/* Read what is available of one message and, once it is complete, handle
 * it and send its reply. 0 (accepted), a positive errno (refused, the
 * stream is fine), -EAGAIN (incomplete: kept for the next call),
 * -ECONNRESET (end of file) or another negative errno (the stream is
 * broken): on a negative value other than -EAGAIN the owner closes the
 * socket and calls hal_vfu_disconnect. A reply the socket does not take
 * at once is kept, and nothing more is read until it is out: while
 * hal_vfu_tx_pending(), the owner calls hal_vfu_serve again when the
 * socket is writable too. */
int hal_vfu_serve(struct hal_vfu_dev *d, int sock);
bool hal_vfu_tx_pending(const struct hal_vfu_dev *d);

/* Handle one complete message (header + payload) without a socket; fds
 * pass to the device in every case. reply has room for HAL_VFU_REPLY_MAX
 * bytes; *reply_len is what to send (0: nothing), with reply_fds[0..
 * *nreply_fds) attached (owned by the device: do not close). Returns as
 * hal_vfu_serve. */
#define HAL_VFU_REPLY_MAX (2u * sizeof(struct vfu_hdr) + VFU_MAX_XFER)
#define HAL_VFU_REPLY_FDS VFU_MAX_SEND_FDS
int hal_vfu_handle(struct hal_vfu_dev *d, const void *msg, size_t len,
		   int *fds, unsigned nfds, void *reply, size_t *reply_len,
		   int *reply_fds, unsigned *nreply_fds);

/* The client is gone: ops->disconnect, every DMA window unmapped, every
 * interrupt fd detached and closed, the negotiated version forgotten.
 * The function keeps its configuration. */
void hal_vfu_disconnect(struct hal_vfu_dev *d);

/* The eventfd the client signals (GET_REGION_IO_FDS) or the owner
 * signals (a REGION_WRITE into the notify area) for queue q: -1 beyond
 * the queues. Owned by the device. */
int hal_vfu_kick_fd(const struct hal_vfu_dev *d, uint16_t q);
bool hal_vfu_connected(const struct hal_vfu_dev *d);
unsigned hal_vfu_dma_windows(const struct hal_vfu_dev *d);

#endif
