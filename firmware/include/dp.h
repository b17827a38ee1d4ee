/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp — virtnetd's datapath lcores (DESIGN.md, "Threads and ownership").
 *
 * Each device's datapath (struct dp_dev: its data virtqueues, already set
 * up as vnet_dp_queues by the transport, and its representor port) is
 * owned by exactly one lcore. An lcore moves packets both ways in bursts:
 * transmit queues -> (software segmentation and checksums the port cannot
 * do) -> representor TX queue of that lcore; representor RX -> RX filter
 * and steering -> receive queues. A port or ring that is full is counted
 * and dropped, never spun on (VNET_DROP_PORT, VNET_DROP_NO_BUFFER).
 *
 * The control thread hands devices and queues to lcores by posting
 * commands to the lcore's command ring and waiting (bounded) for the
 * acknowledgement: after dp_dev_detach / dp_queue_run(false) returns, the
 * lcore no longer touches the device / queue. What lcores read and the
 * control thread changes — a device's vnet_dp_conf — is published RCU
 * style: dp_dev_publish() returns after every lcore has passed a
 * quiescent state, and frees the old conf then.
 *
 * Adaptive polling: an lcore with nothing to do for a while re-arms the
 * driver's kicks (vq_notify_enable) and the ports' RX interrupts and
 * sleeps in epoll on the kick eventfds, the RX interrupt fds and its
 * command eventfd, reported offline to RCU while asleep; ports without RX
 * interrupts bound the sleep to a millisecond. `poll` in dp_start forces
 * pure polling.
 *
 * Interrupts to the driver go to the queue's call eventfd (dp_dev.call_fd,
 * -1: none).
 */
#ifndef VIRTNET_DP_H
#define VIRTNET_DP_H

#include <stdbool.h>
#include <stdint.h>

#include "vnet_dp.h"

struct rte_mempool;
struct rte_rcu_qsbr;

#define DP_MAX_LCORES 64
#define DP_MAX_QUEUES 64 /* data virtqueues per device (32 pairs) */

struct dp_dev {
	char name[32];
	uint16_t rep_port;     /* representor ethdev port, configured and started */
	uint16_t rep_nrxq;     /* its RX queues, all read by the owning lcore */
	uint64_t rep_tx_offloads; /* RTE_ETH_TX_OFFLOAD_* enabled on the port:
				   * what it lacks is done in software */
	bool rep_rx_intr;      /* the port was configured with RX interrupts
				* (intr_conf.rxq): an idle lcore sleeps on them */
	uint16_t nq;           /* data virtqueues: 2 * pairs */
	struct vnet_dp_queue *q;    /* [nq], set up by the transport */
	struct vnet_steer *steer;
	int kick_fd[DP_MAX_QUEUES]; /* per queue; -1: none (polled) */
	int call_fd[DP_MAX_QUEUES]; /* per queue; -1: none */
	/* owned by the lcore */
	struct vnet_dp_conf *conf;  /* published; read with dp_dev_conf() */
	bool run[DP_MAX_QUEUES];    /* the lcore processes the queue */
	unsigned lcore;             /* owner (a dp lcore index) */
	uint64_t rep_rx, rep_tx;    /* packets from / to the representor */
	uint64_t sw_gso, sw_csum;   /* packets the lcore segmented / checksummed */
};

struct dp_cfg {
	unsigned n_lcores;          /* worker lcores to use (1..DP_MAX_LCORES) */
	bool poll;                  /* never sleep */
	struct rte_mempool *mp;     /* mbufs for transmit and for GSO segments */
	struct rte_rcu_qsbr *qsbr;  /* registered lcores report quiescent states */
	unsigned cmd_wait_us;       /* bound of a command's handshake (0: 2 s) */
};

/* Launch the datapath on the first n_lcores worker lcores. The qsbr must
 * have room for them (thread ids 0..n_lcores-1). 0 or -errno. */
int dp_start(const struct dp_cfg *cfg);
/* Stop every lcore and wait for them. Devices must be detached. */
void dp_stop(void);

/* Hand d (its queues set up, conf published with dp_dev_publish or set
 * beforehand, no queue running) to lcore `lcore`. 0, -EINVAL, -ETIMEDOUT. */
int dp_dev_attach(struct dp_dev *d, unsigned lcore);
/* Take d back: when this returns its lcore no longer touches it. */
int dp_dev_detach(struct dp_dev *d);
/* Start or stop processing queue q of an attached device; returns once
 * the lcore acted on it (stopped: no longer touches the ring). */
int dp_queue_run(struct dp_dev *d, uint16_t q, bool run);
/* Publish a new conf for d; returns after every lcore passed a quiescent
 * state, having freed the previous one. */
void dp_dev_publish(struct dp_dev *d, struct vnet_dp_conf *c);

/* The irq callback to give vnet_dp_queue_setup (ctx: the dp_dev): signals
 * the queue's call eventfd. */
void dp_irq(void *ctx, uint16_t index);
/* Point queue q's interrupts at fd (-1: none); returns once no lcore can
 * still write the old one (the caller may close it then). */
void dp_set_call_fd(struct dp_dev *d, uint16_t q, int fd);

/* An lcore's counters (read from any thread). */
struct dp_lcore_stats {
	uint64_t loops;        /* passes over its devices */
	uint64_t sleeps;       /* times it went to sleep */
	uint64_t busy_cycles;  /* TSC cycles of the passes that found work */
	uint64_t work;         /* packets (and commands) those passes handled */
};
unsigned dp_lcores(void);
void dp_lcore_stats(unsigned idx, struct dp_lcore_stats *st);

static inline const struct vnet_dp_conf *dp_dev_conf(const struct dp_dev *d)
{
	return __atomic_load_n(&d->conf, __ATOMIC_ACQUIRE);
}

#endif /* VIRTNET_DP_H */
