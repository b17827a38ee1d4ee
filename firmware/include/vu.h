/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vu — one vhost-user function of virtnetd: the vhost-user back end
 * (hal/vhost_user) on its socket, the representor (hal/eswitch) and the
 * datapath (dp) that joins them.
 *
 * The front end (QEMU, DPDK's virtio_user) keeps the control queue and
 * the config space; the function sees data rings only: every ring the
 * back end starts becomes a running datapath queue, every stop (before
 * GET_VRING_BASE answers, before memory is unmapped) a handshake with the
 * owning lcore. The datapath's conf follows the negotiated features and
 * the running rings (automatic steering over the receive rings in use
 * with MQ; no RX filter: the front end filters).
 *
 * Server mode: one listening socket, one front end at a time (a second
 * connection is refused while one is attached). Client mode: connects,
 * and reconnects after the front end went away (or was not there yet),
 * backing off from 0.1 s to one attempt a second. Either way a
 * front end that goes away leaves the function provisioned: its
 * representor and datapath stay, and the next connection starts fresh.
 *
 * Control thread only (libev loop); ring data moves on the lcores.
 */
#ifndef VIRTNET_VU_H
#define VIRTNET_VU_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct rte_mempool;
struct rte_rcu_qsbr;
struct board;
struct vcfg_dev;
struct vu_fn;
struct fn_env;


/* Create function number `index` from its configuration: representor
 * named by the board's rule for PF `index`, back end, datapath queues,
 * socket. NULL with a reason in err. */
struct vu_fn *vu_create(const struct fn_env *env, const struct board *b,
			const struct vcfg_dev *cd, unsigned index, char *err,
			size_t errlen);
/* Disconnect the front end, stop the datapath, remove the representor
 * and the socket. */
void vu_destroy(struct vu_fn *f);

#endif /* VIRTNET_VU_H */
