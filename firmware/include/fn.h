/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fn — what every function of virtnetd has, whatever its transport: the
 * representor (hal/eswitch) named by the board's rule, the datapath
 * device (dp) with one vnet_dp_queue per data virtqueue, its counters,
 * and the telemetry snapshots DPDK's telemetry thread reads
 * (/virtnet/devices, /virtnet/device,NAME, /virtnet/queues,NAME,
 * /virtnet/lcores).
 *
 * A transport (vu.c: vhost-user; vfu.c: vfio-user) embeds a struct fn,
 * hands it rings as they start (fn_queue_start) and takes them back
 * (fn_queue_stop), and publishes the datapath's view of the device
 * (fn_publish) whenever it changes.
 *
 * Control thread only; telemetry callbacks read snapshots under a lock.
 */
#ifndef VIRTNET_FN_H
#define VIRTNET_FN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "config.h"
#include "dp.h"
#include "hal_eswitch.h"
#include "vnet_dp.h"

struct rte_mempool;
struct rte_rcu_qsbr;
struct fn_snap;

struct fn_env {
	struct ev_loop *loop;
	struct rte_mempool *mp;
	struct rte_mempool *mp_jumbo; /* receive buffers of representors with
				       * an MTU above 1500; NULL: none */
	struct rte_rcu_qsbr *qsbr;
	unsigned n_lcores;       /* datapath lcores (dp_start's) */
	bool require_sealed;     /* memory fds must be sealed */
	bool poll;               /* the lcores never sleep (--poll) */
	int null_representors;   /* benchmarks: HAL_REP_NULL_* representors, 0: taps */
	const char *run_dir;     /* where vfio-user sockets go */
};

struct fn {
	char name[VCFG_NAME_LEN];
	struct fn_env env;
	const char *transport;   /* "vhost-user", "vfio-user" */
	struct hal_rep rep;
	bool have_rep, attached;
	struct dp_dev dd;
	struct vnet_dp_queue q[DP_MAX_QUEUES];
	struct vnet_queue_stats *stats;
	struct vnet_steer steer;
	uint16_t max_pairs, nq;
	bool running[DP_MAX_QUEUES];
	/* what the snapshot shows */
	char sock[VCFG_SOCKET_LEN];
	bool client, connected;
	uint64_t features;
	struct fn_snap *snap;
	ev_timer snap_timer;
	/* the transport's socket: listening (server) and one connection */
	const struct fn_conn_ops *conn_ops;
	void *conn_ctx;
	int lfd, cfd;
	ev_io lw, cw;
};

/* What a socket transport does with its one connection. */
struct fn_conn_ops {
	/* Serve what the socket has (hal_vhu_serve, hal_vfu_serve): -EAGAIN
	 * when it needs more, another negative errno to drop it. */
	int (*serve)(void *ctx, int fd);
	/* A reply waits for the socket to be writable (optional). */
	bool (*tx_pending)(void *ctx);
	/* The connection was closed (fd gone): the transport forgets the
	 * peer. It may free the function (f must not be used after). */
	void (*gone)(void *ctx, const char *why);
};

/* Set up f (zeroed, with sock and client set by the caller): the
 * representor rep_name (with the device's MTU: above 1500 its receive
 * buffers come from env->mp_jumbo), counters, queues (no ring yet), the
 * datapath device attached to lcore `lcore`, the snapshot. 0, or -1 with a reason in err (f is then cleaned up: fn_fini
 * is not needed). */
int fn_init(struct fn *f, const struct fn_env *env, const char *name,
	    const char *transport, const char *rep_name, uint16_t max_pairs,
	    uint16_t max_queue_size, uint16_t mtu, unsigned lcore, char *err,
	    size_t errlen);
void fn_fini(struct fn *f);

/* Data virtqueue idx runs on vq with kick fd kick_fd (-1: polled); the
 * caller publishes a conf that includes it next. 0 or -errno. */
int fn_queue_start(struct fn *f, uint16_t idx, struct vq *vq, int kick_fd);
/* Returns once the lcore no longer touches the ring or its kick fd; the
 * caller publishes a conf without it next. */
void fn_queue_stop(struct fn *f, uint16_t idx);
/* Listen on f->sock, one connection at a time (a second one is refused
 * while one is attached). 0, or -1 with a reason in err. */
int fn_listen(struct fn *f, const struct fn_conn_ops *ops, void *ctx,
	      char *err, size_t errlen);
/* Stop listening (the socket file goes); the connection stays. */
void fn_unlisten(struct fn *f);
/* Serve fd as f's connection (accepted, or connected in client mode). */
void fn_conn_attach(struct fn *f, const struct fn_conn_ops *ops, void *ctx, int fd);
/* Close the connection and tell the transport (ops->gone). */
void fn_conn_drop(struct fn *f, const char *why);

/* Publish c (built by the transport) to the lcores, then snapshot. */
void fn_publish(struct fn *f, struct vnet_dp_conf *c);
/* Refresh f's snapshot now (also done every 200 ms). */
void fn_snapshot(struct fn *f);

#endif /* VIRTNET_FN_H */
