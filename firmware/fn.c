/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The transport-independent half of a function: representor, datapath
 * device, counters, telemetry. See fn.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_telemetry.h>

#include "fn.h"
#include "hal_log.h"
#include "hal_sock.h"

#define COMP "fn"

/* ---- telemetry: snapshots the control thread publishes --------------------
 * DPDK's telemetry thread never reads a live function: every 200 ms (and
 * at every change of state) the control thread copies what it reports into
 * the function's snapshot under the registry lock, and the telemetry
 * callbacks read only snapshots, under the same lock. */
#define FN_MAX 64

struct fn_snap {
	char name[VCFG_NAME_LEN];
	char rep[HAL_REP_IFNAMSIZ];
	char sock[VCFG_SOCKET_LEN];
	char transport[16];
	bool client, connected;
	uint64_t features, rep_rx, rep_tx, sw_gso, sw_csum;
	uint16_t nq;
	bool running[DP_MAX_QUEUES];
	struct vnet_queue_stats q[DP_MAX_QUEUES];
};

static struct {
	pthread_mutex_t lock;
	struct fn_snap *snap[FN_MAX];
	unsigned n_lcores;
	struct dp_lcore_stats lcore[DP_MAX_LCORES];
	bool registered;
} reg = { .lock = PTHREAD_MUTEX_INITIALIZER };

static const char *const drop_name[VNET_DROP__COUNT] = {
	[VNET_DROP_FILTER] = "drop_filter", [VNET_DROP_NO_BUFFER] = "drop_no_buffer",
	[VNET_DROP_TOO_BIG] = "drop_too_big", [VNET_DROP_MALFORMED] = "drop_malformed",
	[VNET_DROP_LINK_DOWN] = "drop_link_down", [VNET_DROP_QUEUE_OFF] = "drop_queue_off",
	[VNET_DROP_PORT] = "drop_port",
};

static uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* ---- mbufs for transmit: the service's mempool ------------------------------ */
static int mp_alloc(void *ctx, struct rte_mbuf **m, unsigned n)
{
	return rte_pktmbuf_alloc_bulk(ctx, m, n) ? -ENOMEM : 0;
}

static void mp_free(void *ctx, struct rte_mbuf *m)
{
	(void)ctx;
	rte_pktmbuf_free(m);
}

void fn_snapshot(struct fn *f)
{
	struct fn_snap *sn = f->snap;

	if (!sn)
		return;
	pthread_mutex_lock(&reg.lock);
	reg.n_lcores = dp_lcores();
	for (unsigned i = 0; i < reg.n_lcores && i < DP_MAX_LCORES; i++)
		dp_lcore_stats(i, &reg.lcore[i]);
	sn->connected = f->connected;
	sn->features = f->features;
	sn->rep_rx = ld(&f->dd.rep_rx);
	sn->rep_tx = ld(&f->dd.rep_tx);
	sn->sw_gso = ld(&f->dd.sw_gso);
	sn->sw_csum = ld(&f->dd.sw_csum);
	for (uint16_t q = 0; q < f->nq; q++) {
		const struct vnet_queue_stats *st = &f->stats[q];
		struct vnet_queue_stats *o = &sn->q[q];

		sn->running[q] = f->running[q];
		o->packets = ld(&st->packets);
		o->bytes = ld(&st->bytes);
		o->kicks = ld(&st->kicks);
		o->interrupts = ld(&st->interrupts);
		o->released = ld(&st->released);
		for (unsigned k = 0; k < VNET_DROP__COUNT; k++)
			o->drops[k] = ld(&st->drops[k]);
	}
	pthread_mutex_unlock(&reg.lock);
}

static void on_snap(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	fn_snapshot(w->data);
}

/* The named function's snapshot with reg.lock held, or NULL (not held). */
static const struct fn_snap *snap_lock(const char *name)
{
	pthread_mutex_lock(&reg.lock);
	for (unsigned i = 0; name && i < FN_MAX; i++)
		if (reg.snap[i] && !strcmp(reg.snap[i]->name, name))
			return reg.snap[i];
	pthread_mutex_unlock(&reg.lock);
	return NULL;
}

static int tel_devices(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
	pthread_mutex_lock(&reg.lock);
	for (unsigned i = 0; i < FN_MAX; i++)
		if (reg.snap[i])
			rte_tel_data_add_array_string(d, reg.snap[i]->name);
	pthread_mutex_unlock(&reg.lock);
	return 0;
}

static void add_counters(struct rte_tel_data *d, const struct vnet_queue_stats *q)
{
	rte_tel_data_add_dict_u64(d, "packets", q->packets);
	rte_tel_data_add_dict_u64(d, "bytes", q->bytes);
	rte_tel_data_add_dict_u64(d, "kicks", q->kicks);
	rte_tel_data_add_dict_u64(d, "interrupts", q->interrupts);
	rte_tel_data_add_dict_u64(d, "released", q->released);
	for (unsigned k = 0; k < VNET_DROP__COUNT; k++)
		rte_tel_data_add_dict_u64(d, drop_name[k], q->drops[k]);
}

/* /virtnet/device,NAME: state and totals (rx_* of the receive queues,
 * tx_* of the transmit queues). */
static int tel_device(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct vnet_queue_stats rx = { 0 }, tx = { 0 };
	const struct fn_snap *sn;
	unsigned running = 0;
	char buf[32];

	(void)cmd;
	if (!(sn = snap_lock(params)))
		return -EINVAL;
	for (uint16_t q = 0; q < sn->nq; q++) {
		struct vnet_queue_stats *t = (q & 1) ? &tx : &rx;

		running += sn->running[q];
		t->packets += sn->q[q].packets;
		t->bytes += sn->q[q].bytes;
		t->kicks += sn->q[q].kicks;
		t->interrupts += sn->q[q].interrupts;
		t->released += sn->q[q].released;
		for (unsigned k = 0; k < VNET_DROP__COUNT; k++)
			t->drops[k] += sn->q[q].drops[k];
	}
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "name", sn->name);
	rte_tel_data_add_dict_string(d, "transport", sn->transport);
	rte_tel_data_add_dict_string(d, "socket", sn->sock);
	rte_tel_data_add_dict_string(d, "mode", sn->client ? "client" : "server");
	rte_tel_data_add_dict_string(d, "representor", sn->rep);
	rte_tel_data_add_dict_int(d, "connected", sn->connected);
	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)sn->features);
	rte_tel_data_add_dict_string(d, "features", buf);
	rte_tel_data_add_dict_int(d, "queues", sn->nq);
	rte_tel_data_add_dict_int(d, "queues_running", (int)running);
	rte_tel_data_add_dict_u64(d, "representor_rx", sn->rep_rx);
	rte_tel_data_add_dict_u64(d, "representor_tx", sn->rep_tx);
	rte_tel_data_add_dict_u64(d, "sw_gso", sn->sw_gso);
	rte_tel_data_add_dict_u64(d, "sw_csum", sn->sw_csum);
	struct rte_tel_data *c[2] = { rte_tel_data_alloc(), rte_tel_data_alloc() };
	for (int i = 0; i < 2; i++) {
		if (!c[i])
			continue;
		rte_tel_data_start_dict(c[i]);
		add_counters(c[i], i ? &tx : &rx);
		rte_tel_data_add_dict_container(d, i ? "tx" : "rx", c[i], 0);
	}
	pthread_mutex_unlock(&reg.lock);
	return 0;
}

/* /virtnet/queues,NAME: every data queue's counters. */
static int tel_queues(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct fn_snap *sn;
	char key[16];

	(void)cmd;
	if (!(sn = snap_lock(params)))
		return -EINVAL;
	rte_tel_data_start_dict(d);
	for (uint16_t q = 0; q < sn->nq; q++) {
		struct rte_tel_data *c = rte_tel_data_alloc();

		if (!c)
			break;
		rte_tel_data_start_dict(c);
		rte_tel_data_add_dict_int(c, "running", sn->running[q]);
		add_counters(c, &sn->q[q]);
		snprintf(key, sizeof(key), "%s%u", (q & 1) ? "tx" : "rx", q / 2);
		rte_tel_data_add_dict_container(d, key, c, 0);
	}
	pthread_mutex_unlock(&reg.lock);
	return 0;
}

/* /virtnet/lcores: each datapath lcore's loops, sleeps, and the cycles
 * and packets of its busy passes (cycles per packet for benchmarks). */
static int tel_lcores(const char *cmd, const char *params, struct rte_tel_data *d)
{
	char key[16];

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	pthread_mutex_lock(&reg.lock);
	for (unsigned i = 0; i < reg.n_lcores && i < DP_MAX_LCORES; i++) {
		struct rte_tel_data *c = rte_tel_data_alloc();

		if (!c)
			break;
		rte_tel_data_start_dict(c);
		rte_tel_data_add_dict_u64(c, "loops", reg.lcore[i].loops);
		rte_tel_data_add_dict_u64(c, "sleeps", reg.lcore[i].sleeps);
		rte_tel_data_add_dict_u64(c, "busy_cycles", reg.lcore[i].busy_cycles);
		rte_tel_data_add_dict_u64(c, "packets", reg.lcore[i].work);
		snprintf(key, sizeof(key), "dp%u", i);
		rte_tel_data_add_dict_container(d, key, c, 0);
	}
	pthread_mutex_unlock(&reg.lock);
	return 0;
}

/* Register f's snapshot (and, once, the commands). */
static int snap_register(struct fn *f)
{
	unsigned i;

	f->snap = calloc(1, sizeof(*f->snap));
	if (!f->snap)
		return -ENOMEM;
	snprintf(f->snap->name, sizeof(f->snap->name), "%s", f->name);
	snprintf(f->snap->rep, sizeof(f->snap->rep), "%s", f->rep.ifname);
	snprintf(f->snap->sock, sizeof(f->snap->sock), "%s", f->sock);
	snprintf(f->snap->transport, sizeof(f->snap->transport), "%s", f->transport);
	f->snap->client = f->client;
	f->snap->nq = f->nq;
	pthread_mutex_lock(&reg.lock);
	for (i = 0; i < FN_MAX && reg.snap[i]; i++)
		;
	if (i < FN_MAX)
		reg.snap[i] = f->snap;
	if (!reg.registered) {
		rte_telemetry_register_cmd("/virtnet/devices", tel_devices,
					   "The virtnet functions. No parameters");
		rte_telemetry_register_cmd("/virtnet/device", tel_device,
					   "A function's state and counter totals. Parameter: name");
		rte_telemetry_register_cmd("/virtnet/queues", tel_queues,
					   "A function's per-queue counters. Parameter: name");
		rte_telemetry_register_cmd("/virtnet/lcores", tel_lcores,
					   "The datapath lcores' loops, sleeps, busy cycles and packets");
		reg.registered = true;
	}
	pthread_mutex_unlock(&reg.lock);
	if (i == FN_MAX) {
		free(f->snap);
		f->snap = NULL;
		return -ENOSPC;
	}
	return 0;
}

static void snap_unregister(struct fn *f)
{
	if (!f->snap)
		return;
	pthread_mutex_lock(&reg.lock);
	for (unsigned i = 0; i < FN_MAX; i++)
		if (reg.snap[i] == f->snap)
			reg.snap[i] = NULL;
	pthread_mutex_unlock(&reg.lock);
	free(f->snap);
	f->snap = NULL;
}


/* ---- the datapath half ------------------------------------------------------ */
int fn_init(struct fn *f, const struct fn_env *env, const char *name,
	    const char *transport, const char *rep_name, uint16_t max_pairs,
	    uint16_t max_queue_size, uint16_t mtu, unsigned lcore, char *err,
	    size_t errlen)
{
	/* The representor's MTU is the device's. */
	struct hal_rep_cfg rc = { .n_txq = env->n_lcores + 1, .mtu = mtu,
				  .mp = mtu > RTE_ETHER_MTU && env->mp_jumbo ? env->mp_jumbo : env->mp,
				  .null_port = env->null_representors };
	struct vnet_mbuf_ops mops = { mp_alloc, mp_free, env->mp };

	snprintf(f->name, sizeof(f->name), "%s", name);
	f->env = *env;
	f->lfd = f->cfd = -1;
	f->transport = transport;
	f->max_pairs = max_pairs;
	f->nq = (uint16_t)(2u * max_pairs);
	for (unsigned i = 0; i < DP_MAX_QUEUES; i++)
		f->dd.kick_fd[i] = f->dd.call_fd[i] = -1;
	if (f->nq > DP_MAX_QUEUES) {
		snprintf(err, errlen, "%s: %u queue pairs: at most %u here", name,
			 max_pairs, DP_MAX_QUEUES / 2);
		goto fail;
	}
	/* The representor. An extra TX queue is the control thread's (RARP). */
	if (hal_rep_create(rep_name, &rc, &f->rep, err, errlen))
		goto fail;
	f->have_rep = true;

	/* Queues set up now, rings given to them as they start. */
	size_t sbytes = ((size_t)f->nq * sizeof(*f->stats) + 63) & ~(size_t)63;
	f->stats = aligned_alloc(64, sbytes);
	if (!f->stats) {
		snprintf(err, errlen, "%s: no memory", name);
		goto fail;
	}
	memset(f->stats, 0, sbytes);
	for (uint16_t i = 0; i < f->nq; i++) {
		if (vnet_dp_queue_setup(&f->q[i], NULL, &f->stats[i], i, max_queue_size,
					&f->steer, &mops, dp_irq, &f->dd)) {
			snprintf(err, errlen, "%s: queue %u: no memory", name, i);
			goto fail;
		}
	}
	snprintf(f->dd.name, sizeof(f->dd.name), "%s", name);
	f->dd.rep_port = f->rep.port;
	f->dd.rep_nrxq = f->rep.nq;
	f->dd.rep_tx_offloads = f->rep.tx_offloads;
	f->dd.rep_rx_intr = f->rep.rx_intr;
	f->dd.nq = f->nq;
	f->dd.q = f->q;
	f->dd.steer = &f->steer;
	fn_publish(f, vnet_dp_conf_alloc(max_pairs));
	if (dp_dev_attach(&f->dd, lcore)) {
		snprintf(err, errlen, "%s: the datapath refused it", name);
		goto fail;
	}
	f->attached = true;
	if (snap_register(f)) {
		snprintf(err, errlen, "%s: more than %d functions", name, FN_MAX);
		goto fail;
	}
	ev_timer_init(&f->snap_timer, on_snap, 0.2, 0.2);
	f->snap_timer.data = f;
	ev_timer_start(env->loop, &f->snap_timer);
	return 0;
fail:
	fn_fini(f);
	return -1;
}

void fn_fini(struct fn *f)
{
	if (f->env.loop)
		ev_timer_stop(f->env.loop, &f->snap_timer);
	fn_unlisten(f);
	if (f->cfd >= 0) {
		ev_io_stop(f->env.loop, &f->cw);
		close(f->cfd);
		f->cfd = -1;
	}
	snap_unregister(f);
	if (f->attached)
		dp_dev_detach(&f->dd);
	f->attached = false;
	dp_dev_publish(&f->dd, NULL);
	for (uint16_t i = 0; i < f->nq && i < DP_MAX_QUEUES; i++)
		vnet_dp_queue_fini(&f->q[i]);
	free(f->stats);
	f->stats = NULL;
	if (f->have_rep)
		hal_rep_destroy(&f->rep);
	f->have_rep = false;
}

int fn_queue_start(struct fn *f, uint16_t idx, struct vq *vq, int kick_fd)
{
	if (idx >= f->nq)
		return -EINVAL;
	f->q[idx].vq = vq;
	vnet_dp_queue_reset(&f->q[idx]);
	f->dd.kick_fd[idx] = kick_fd;
	if (dp_queue_run(&f->dd, idx, true)) {
		f->dd.kick_fd[idx] = -1;
		return -EIO;
	}
	f->running[idx] = true;
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: ring %u running (size %u)", f->name, idx, vq->size);
	return 0;
}

void fn_queue_stop(struct fn *f, uint16_t idx)
{
	if (idx >= f->nq || !f->running[idx])
		return;
	/* Returns once the lcore no longer touches the ring or its kick fd. */
	if (dp_queue_run(&f->dd, idx, false))
		HAL_LOG(HAL_LOG_ERR, COMP, "%s: ring %u: the datapath did not let go", f->name, idx);
	f->running[idx] = false;
	f->dd.kick_fd[idx] = -1;
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: ring %u stopped", f->name, idx);
}

void fn_publish(struct fn *f, struct vnet_dp_conf *c)
{
	if (!c) {
		HAL_LOG_RL(HAL_LOG_ERR, COMP, "%s: no memory for the datapath's conf", f->name);
		return;
	}
	dp_dev_publish(&f->dd, c);
	fn_snapshot(f);
}

/* ---- the transport's socket ------------------------------------------------- */
static void on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fn *f = w->data;

	(void)revents;
	for (;;) {
		int rc = f->conn_ops->serve(f->conn_ctx, f->cfd);

		if (rc == -EAGAIN) {
			/* A reply the socket did not take: wait until it can,
			 * reading nothing more meanwhile. */
			int want = f->conn_ops->tx_pending &&
				   f->conn_ops->tx_pending(f->conn_ctx) ? EV_WRITE : EV_READ;
			if ((w->events & (EV_READ | EV_WRITE)) != want) {
				ev_io_stop(loop, w);
				ev_io_set(w, f->cfd, want);
				ev_io_start(loop, w);
			}
			return;
		}
		if (rc < 0) {
			fn_conn_drop(f, rc == -ECONNRESET ? "closed" : strerror(-rc));
			return; /* f may be gone */
		}
	}
}

void fn_conn_attach(struct fn *f, const struct fn_conn_ops *ops, void *ctx, int fd)
{
	f->conn_ops = ops;
	f->conn_ctx = ctx;
	f->cfd = fd;
	f->connected = true;
	ev_io_init(&f->cw, on_conn, fd, EV_READ);
	f->cw.data = f;
	ev_io_start(f->env.loop, &f->cw);
	fn_snapshot(f);
}

void fn_conn_drop(struct fn *f, const char *why)
{
	if (f->cfd < 0)
		return;
	ev_io_stop(f->env.loop, &f->cw);
	close(f->cfd);
	f->cfd = -1;
	f->connected = false;
	fn_snapshot(f);
	f->conn_ops->gone(f->conn_ctx, why);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fn *f = w->data;
	int fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)loop;
	(void)revents;
	if (fd < 0)
		return;
	if (f->cfd >= 0) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: a second peer refused: one at a time",
			   f->name);
		close(fd);
		return;
	}
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: %s peer connected", f->name, f->transport);
	fn_conn_attach(f, f->conn_ops, f->conn_ctx, fd);
}

int fn_listen(struct fn *f, const struct fn_conn_ops *ops, void *ctx,
	      char *err, size_t errlen)
{
	f->conn_ops = ops;
	f->conn_ctx = ctx;
	f->lfd = hal_sock_listen(f->sock);
	if (f->lfd < 0) {
		snprintf(err, errlen, "%s: cannot listen on %s: %s", f->name, f->sock,
			 strerror(-f->lfd));
		return -1;
	}
	ev_io_init(&f->lw, on_accept, f->lfd, EV_READ);
	f->lw.data = f;
	ev_io_start(f->env.loop, &f->lw);
	return 0;
}

void fn_unlisten(struct fn *f)
{
	if (f->lfd < 0)
		return;
	ev_io_stop(f->env.loop, &f->lw);
	close(f->lfd);
	f->lfd = -1;
	unlink(f->sock);
}
