/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfu — one vfio-user function of virtnetd (a PF, and the VFs its driver
 * enables): the virtio-net device (emu/virtio_net) behind its PCI function
 * (emu/virtio_pci), served by the vfio-user server (hal/vfio_user) on
 * `<run dir>/<name>.sock`, joined to its representor by the datapath.
 *
 * Unlike vhost-user, the device is whole here: config space, MSI-X and
 * the control queue are ours. DRIVER_OK starts every enabled data queue
 * on the datapath (doorbells: the server's eventfds; interrupts: the
 * vector's fd vpci gives, republished when masking changes it); the
 * control queue is processed on the control thread when kicked; a device
 * or queue reset stops the queues before the device lets go of them.
 *
 * SR-IOV: VF Enable with NumVFs on a PF creates that many VFs (up to the
 * board's max_vfs_per_pf), each a full function named `<pf>vf<k>` with
 * its own socket `<pf>vf<k>.sock` next to the PF's, its own representor
 * (the board's VF naming rule) and a MAC derived from the PF's (byte 4
 * + k + 1). Clearing VF Enable closes their sockets at once and removes
 * each VF when its client is gone.
 *
 * One client per function at a time; a client that goes away has the
 * device reset (its queues stop before its memory is unmapped), its DMA
 * windows unmapped and its interrupt fds closed. The function stays
 * provisioned and the next client starts fresh.
 *
 * Control thread only (libev loop); ring data moves on the lcores.
 */
#ifndef VIRTNET_VFU_H
#define VIRTNET_VFU_H

#include <stddef.h>

struct board;
struct fn_env;
struct vcfg_dev;
struct vfu_fn;

/* PF number `index` from its configuration. NULL with a reason in err. */
struct vfu_fn *vfu_create(const struct fn_env *env, const struct board *b,
			  const struct vcfg_dev *cd, unsigned index, char *err,
			  size_t errlen);
/* Its VFs, the client, the datapath, the representor and the socket go. */
void vfu_destroy(struct vfu_fn *f);

#endif /* VIRTNET_VFU_H */
