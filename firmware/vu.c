/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One vhost-user function: back end + representor + datapath. See vu.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_telemetry.h>

#include "board.h"
#include "config.h"
#include "dp.h"
#include "hal_eswitch.h"
#include "hal_log.h"
#include "hal_sock.h"
#include "hal_vhost_user.h"
#include "vnet_dp.h"
#include "vu.h"

#define COMP "vu"
#define F(b) VNET_F(b)

/* What the front end keeps and the back end cannot do over vhost-user:
 * RSS and hash reports need the control queue's configuration, which
 * vhost-user does not carry. */
#define VU_NOT_OFFERED (F(VIRTIO_NET_F_RSS) | F(VIRTIO_NET_F_HASH_REPORT))

/* Client mode: reconnection attempts back off from VU_RETRY_MIN, doubling,
 * to at most one every VU_RETRY_MAX seconds; a connection that lived at
 * least VU_RETRY_MAX starts the next outage at VU_RETRY_MIN again (a front
 * end that accepts and drops at once stays backed off). */
#define VU_RETRY_MIN 0.1
#define VU_RETRY_MAX 1.0

struct vu_fn {
	char name[VCFG_NAME_LEN];
	struct vu_env env;
	struct hal_vhu_dev *vhu;
	struct hal_rep rep;
	bool have_rep, attached;
	struct dp_dev dd;
	struct vnet_dp_queue q[DP_MAX_QUEUES];
	struct vnet_queue_stats *stats;
	struct vnet_steer steer;
	uint16_t max_pairs, nq;
	uint64_t features;
	bool running[DP_MAX_QUEUES];
	char sock[VCFG_SOCKET_LEN];
	bool client;
	int lfd, cfd;
	ev_io lw, cw;
	ev_timer retry, snap_timer;
	ev_tstamp retry_delay;  /* client: the next attempt's delay */
	ev_tstamp conn_since;   /* client: when the connection came up */
	struct vu_snap *snap;   /* registered; written here under reg.lock */
};

/* ---- telemetry: snapshots the control thread publishes --------------------
 * DPDK's telemetry thread never reads a live function: every 200 ms (and
 * at every change of state) the control thread copies what it reports into
 * the function's snapshot under the registry lock, and the telemetry
 * callbacks read only snapshots, under the same lock. */
#define VU_MAX_FNS 64

struct vu_snap {
	char name[VCFG_NAME_LEN];
	char rep[HAL_REP_IFNAMSIZ];
	char sock[VCFG_SOCKET_LEN];
	bool client, connected;
	uint64_t features, rep_rx, rep_tx, sw_gso, sw_csum;
	uint16_t nq;
	bool running[DP_MAX_QUEUES];
	struct vnet_queue_stats q[DP_MAX_QUEUES];
};

static struct {
	pthread_mutex_t lock;
	struct vu_snap *snap[VU_MAX_FNS];
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

static void snapshot(struct vu_fn *f);

/* ---- the lcores' view ----------------------------------------------------- */

/* Rebuild and publish the conf: negotiated features, the receive rings
 * running, automatic steering over them with MQ, no filtering. */
static void publish(struct vu_fn *f)
{
	struct vnet_dp_conf *c = vnet_dp_conf_alloc(f->max_pairs);
	uint16_t pairs = 0;

	if (!c) {
		HAL_LOG_RL(HAL_LOG_ERR, COMP, "%s: no memory for the datapath's conf", f->name);
		return;
	}
	c->features = c->rx_features = f->features;
	c->hdr_len = (uint32_t)vnet_hdr_len(f->features);
	c->link_up = true;
	for (uint16_t p = 0; p < f->max_pairs; p++) {
		if (!f->running[2u * p])
			continue;
		c->rxq_ok[p / 64] |= 1ull << (p % 64);
		pairs = (uint16_t)(p + 1);
	}
	c->pairs = pairs ? pairs : 1;
	c->steer_auto = (f->features & F(VIRTIO_NET_F_MQ)) && c->pairs > 1;
	dp_dev_publish(&f->dd, c);
	snapshot(f);
}

/* ---- telemetry ------------------------------------------------------------- */
static void snapshot(struct vu_fn *f)
{
	struct vu_snap *sn = f->snap;

	if (!sn)
		return;
	pthread_mutex_lock(&reg.lock);
	reg.n_lcores = dp_lcores();
	for (unsigned i = 0; i < reg.n_lcores && i < DP_MAX_LCORES; i++)
		dp_lcore_stats(i, &reg.lcore[i]);
	sn->connected = f->cfd >= 0;
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
		for (unsigned k = 0; k < VNET_DROP__COUNT; k++)
			o->drops[k] = ld(&st->drops[k]);
	}
	pthread_mutex_unlock(&reg.lock);
}

static void on_snap(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	snapshot(w->data);
}

/* The named function's snapshot with reg.lock held, or NULL (not held). */
static const struct vu_snap *snap_lock(const char *name)
{
	pthread_mutex_lock(&reg.lock);
	for (unsigned i = 0; name && i < VU_MAX_FNS; i++)
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
	for (unsigned i = 0; i < VU_MAX_FNS; i++)
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
	for (unsigned k = 0; k < VNET_DROP__COUNT; k++)
		rte_tel_data_add_dict_u64(d, drop_name[k], q->drops[k]);
}

/* /virtnet/device,NAME: state and totals (rx_* of the receive queues,
 * tx_* of the transmit queues). */
static int tel_device(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct vnet_queue_stats rx = { 0 }, tx = { 0 };
	const struct vu_snap *sn;
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
		for (unsigned k = 0; k < VNET_DROP__COUNT; k++)
			t->drops[k] += sn->q[q].drops[k];
	}
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "name", sn->name);
	rte_tel_data_add_dict_string(d, "transport", "vhost-user");
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
	const struct vu_snap *sn;
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
static int snap_register(struct vu_fn *f)
{
	unsigned i;

	f->snap = calloc(1, sizeof(*f->snap));
	if (!f->snap)
		return -ENOMEM;
	snprintf(f->snap->name, sizeof(f->snap->name), "%s", f->name);
	snprintf(f->snap->rep, sizeof(f->snap->rep), "%s", f->rep.ifname);
	snprintf(f->snap->sock, sizeof(f->snap->sock), "%s", f->sock);
	f->snap->client = f->client;
	f->snap->nq = f->nq;
	pthread_mutex_lock(&reg.lock);
	for (i = 0; i < VU_MAX_FNS && reg.snap[i]; i++)
		;
	if (i < VU_MAX_FNS)
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
	if (i == VU_MAX_FNS) {
		free(f->snap);
		f->snap = NULL;
		return -ENOSPC;
	}
	return 0;
}

static void snap_unregister(struct vu_fn *f)
{
	if (!f->snap)
		return;
	pthread_mutex_lock(&reg.lock);
	for (unsigned i = 0; i < VU_MAX_FNS; i++)
		if (reg.snap[i] == f->snap)
			reg.snap[i] = NULL;
	pthread_mutex_unlock(&reg.lock);
	free(f->snap);
	f->snap = NULL;
}

/* ---- what the back end asks of us ----------------------------------------- */
static int op_ring_start(void *ctx, uint16_t idx, struct vq *vq, int kick_fd)
{
	struct vu_fn *f = ctx;

	if (idx >= f->nq)
		return -EINVAL;
	if (!(f->features & VDEV_BIT(VIRTIO_F_VERSION_1))) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: ring %u: the front end did not accept VERSION_1",
			   f->name, idx);
		return -EPROTONOSUPPORT;
	}
	f->q[idx].vq = vq;
	vnet_dp_queue_reset(&f->q[idx]);
	f->dd.kick_fd[idx] = kick_fd;
	f->running[idx] = true;
	publish(f);
	if (dp_queue_run(&f->dd, idx, true)) {
		f->running[idx] = false;
		f->dd.kick_fd[idx] = -1;
		publish(f);
		return -EIO;
	}
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: ring %u running (size %u)", f->name, idx, vq->size);
	return 0;
}

static void op_ring_stop(void *ctx, uint16_t idx, struct vq *vq)
{
	struct vu_fn *f = ctx;

	(void)vq;
	if (idx >= f->nq || !f->running[idx])
		return;
	/* Returns once the lcore no longer touches the ring or its kick fd. */
	if (dp_queue_run(&f->dd, idx, false))
		HAL_LOG(HAL_LOG_ERR, COMP, "%s: ring %u: the datapath did not let go", f->name, idx);
	f->running[idx] = false;
	f->dd.kick_fd[idx] = -1;
	publish(f);
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: ring %u stopped", f->name, idx);
}

static void op_ring_call(void *ctx, uint16_t idx, int call_fd)
{
	struct vu_fn *f = ctx;

	if (idx < f->nq)
		dp_set_call_fd(&f->dd, idx, call_fd);
}

static void op_features(void *ctx, uint64_t features)
{
	struct vu_fn *f = ctx;

	f->features = features;
	publish(f);
}

/* SEND_RARP: tell the network where the MAC now is (after a migration): a
 * RARP request from it, out of the representor on the control thread's
 * own TX queue (the last one). */
static void op_rarp(void *ctx, const uint8_t mac[6])
{
	struct vu_fn *f = ctx;
	struct rte_mbuf *m = rte_pktmbuf_alloc(f->env.mp);
	uint8_t *p;

	if (!m || !(p = (uint8_t *)rte_pktmbuf_append(m, 60))) {
		rte_pktmbuf_free(m);
		return;
	}
	memset(p, 0, 60);
	memset(p, 0xff, 6);            /* broadcast */
	memcpy(p + 6, mac, 6);
	p[12] = 0x80; p[13] = 0x35;    /* RARP */
	p[14] = 0; p[15] = 1;          /* Ethernet */
	p[16] = 0x08; p[17] = 0x00;    /* IPv4 */
	p[18] = 6; p[19] = 4;
	p[20] = 0; p[21] = 3;          /* request reverse */
	memcpy(p + 22, mac, 6);
	memcpy(p + 32, mac, 6);
	if (rte_eth_tx_burst(f->rep.port, (uint16_t)(f->rep.nq - 1), &m, 1) != 1)
		rte_pktmbuf_free(m);
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: RARP sent for %02x:%02x:%02x:%02x:%02x:%02x",
		f->name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

static const struct hal_vhu_ops vu_ops = {
	.ring_start = op_ring_start,
	.ring_stop = op_ring_stop,
	.ring_call = op_ring_call,
	.features = op_features,
	.rarp = op_rarp,
};

/* ---- the socket ------------------------------------------------------------- */
static void connect_now(struct vu_fn *f);

/* Client: the next attempt after the current delay, then back off. The
 * timer is set before every start: a one-shot ev_timer that has fired
 * keeps a remaining time of zero or less, and restarting it as it is
 * fires at once (a failing connect() would spin the control thread). */
static void retry_later(struct vu_fn *f)
{
	ev_timer_stop(f->env.loop, &f->retry);
	ev_timer_set(&f->retry, f->retry_delay, 0.0);
	ev_timer_start(f->env.loop, &f->retry);
	f->retry_delay = f->retry_delay * 2 < VU_RETRY_MAX ? f->retry_delay * 2 : VU_RETRY_MAX;
}

static void drop_conn(struct vu_fn *f, const char *why)
{
	if (f->cfd < 0)
		return;
	ev_io_stop(f->env.loop, &f->cw);
	close(f->cfd);
	f->cfd = -1;
	hal_vhu_disconnect(f->vhu);
	snapshot(f);
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: front end gone (%s); the function stays", f->name, why);
	if (f->client) {
		if (ev_now(f->env.loop) - f->conn_since >= VU_RETRY_MAX)
			f->retry_delay = VU_RETRY_MIN;
		retry_later(f);
	}
}

static void on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
	struct vu_fn *f = w->data;

	(void)loop;
	(void)revents;
	for (;;) {
		int rc = hal_vhu_serve(f->vhu, f->cfd);

		if (rc == -EAGAIN)
			return;
		if (rc < 0) {
			drop_conn(f, rc == -ECONNRESET ? "closed" : strerror(-rc));
			return;
		}
	}
}

static void watch_conn(struct vu_fn *f, int fd)
{
	f->cfd = fd;
	ev_io_init(&f->cw, on_conn, fd, EV_READ);
	f->cw.data = f;
	ev_io_start(f->env.loop, &f->cw);
	snapshot(f);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct vu_fn *f = w->data;
	int fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)loop;
	(void)revents;
	if (fd < 0)
		return;
	if (f->cfd >= 0) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: a second front end refused: one at a time",
			   f->name);
		close(fd);
		return;
	}
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: front end connected", f->name);
	watch_conn(f, fd);
}

static void connect_now(struct vu_fn *f)
{
	int fd = hal_sock_connect(f->sock);

	if (fd < 0) {
		if (f->retry_delay <= VU_RETRY_MIN)
			HAL_LOG(HAL_LOG_INFO, COMP, "%s: cannot connect to %s (%s): retrying, backing off to every %.0f s",
				f->name, f->sock, strerror(-fd), VU_RETRY_MAX);
		retry_later(f);
		return;
	}
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: connected to %s", f->name, f->sock);
	f->conn_since = ev_now(f->env.loop);
	watch_conn(f, fd);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct vu_fn *f = w->data;

	(void)revents;
	ev_timer_stop(loop, w);
	if (f->cfd < 0)
		connect_now(f);
}

/* ---- life cycle ---------------------------------------------------------------- */
struct vu_fn *vu_create(const struct vu_env *env, const struct board *b,
			const struct vcfg_dev *cd, unsigned index, char *err,
			size_t errlen)
{
	struct vu_fn *f = calloc(1, sizeof(*f));
	struct hal_vhu_params hp;
	struct hal_rep_cfg rc = { .n_txq = env->n_lcores + 1, .mp = env->mp,
				  .null_port = env->null_representors };
	struct vnet_mbuf_ops mops;
	char rep_name[HAL_REP_IFNAMSIZ];

	if (!f) {
		snprintf(err, errlen, "%s: no memory", cd->name);
		return NULL;
	}
	snprintf(f->name, sizeof(f->name), "%s", cd->name);
	f->env = *env;
	f->lfd = f->cfd = -1;
	f->client = cd->client;
	snprintf(f->sock, sizeof(f->sock), "%s", cd->socket);
	f->max_pairs = cd->params.max_queue_pairs;
	f->nq = (uint16_t)(2u * f->max_pairs);
	if (f->nq > DP_MAX_QUEUES || f->max_pairs > HAL_VHU_MAX_QUEUE_PAIRS) {
		snprintf(err, errlen, "%s: %u queue pairs: at most %u here", cd->name,
			 f->max_pairs, DP_MAX_QUEUES / 2);
		goto fail;
	}
	if (cd->params.features & VU_NOT_OFFERED)
		HAL_LOG(HAL_LOG_WARN, COMP,
			"%s: RSS and HASH_REPORT are not offered over vhost-user (the front end keeps the control queue)",
			cd->name);

	/* The representor, named by the board's rule. An extra TX queue is
	 * the control thread's (RARP). */
	if (board_rep_name(b, index, -1, rep_name, sizeof(rep_name))) {
		snprintf(err, errlen, "%s: no representor name for PF %u", cd->name, index);
		goto fail;
	}
	if (hal_rep_create(rep_name, &rc, &f->rep, err, errlen))
		goto fail;
	f->have_rep = true;

	/* The back end. */
	hal_vhu_params_default(&hp);
	hp.name = cd->name;
	hp.features = cd->params.features & ~VU_NOT_OFFERED;
	hp.max_queue_pairs = f->max_pairs;
	hp.max_queue_size = cd->params.max_queue_size;
	hp.mtu = cd->params.mtu;
	memcpy(hp.mac, cd->params.mac, 6);
	hp.require_sealed = env->require_sealed;
	hp.qsbr = env->qsbr;
	/* Our connections to a server front end come and go; its session
	 * may outlive them (hal_vhost_user's resume). */
	hp.resume_sessions = f->client;
	f->vhu = hal_vhu_create(&hp, &vu_ops, f);
	if (!f->vhu) {
		snprintf(err, errlen, "%s: vhost-user back end: %s", cd->name, strerror(errno));
		goto fail;
	}

	/* The datapath: queues set up now, rings given to them as they
	 * start. */
	size_t sbytes = ((size_t)f->nq * sizeof(*f->stats) + 63) & ~(size_t)63;
	f->stats = aligned_alloc(64, sbytes);
	if (!f->stats) {
		snprintf(err, errlen, "%s: no memory", cd->name);
		goto fail;
	}
	memset(f->stats, 0, sbytes);
	mops = (struct vnet_mbuf_ops){ mp_alloc, mp_free, env->mp };
	for (uint16_t i = 0; i < f->nq; i++) {
		if (vnet_dp_queue_setup(&f->q[i], NULL, &f->stats[i], i,
					cd->params.max_queue_size, &f->steer,
					&mops, dp_irq, &f->dd)) {
			snprintf(err, errlen, "%s: queue %u: no memory", cd->name, i);
			goto fail;
		}
	}
	snprintf(f->dd.name, sizeof(f->dd.name), "%s", cd->name);
	f->dd.rep_port = f->rep.port;
	f->dd.rep_nrxq = f->rep.nq;
	f->dd.rep_tx_offloads = f->rep.tx_offloads;
	f->dd.rep_rx_intr = f->rep.rx_intr;
	f->dd.nq = f->nq;
	f->dd.q = f->q;
	f->dd.steer = &f->steer;
	for (unsigned i = 0; i < DP_MAX_QUEUES; i++)
		f->dd.kick_fd[i] = f->dd.call_fd[i] = -1;
	publish(f);
	if (dp_dev_attach(&f->dd, index % env->n_lcores)) {
		snprintf(err, errlen, "%s: the datapath refused it", cd->name);
		goto fail;
	}
	f->attached = true;

	if (snap_register(f)) {
		snprintf(err, errlen, "%s: more than %d functions", cd->name, VU_MAX_FNS);
		goto fail;
	}
	ev_timer_init(&f->snap_timer, on_snap, 0.2, 0.2);
	f->snap_timer.data = f;
	ev_timer_start(env->loop, &f->snap_timer);

	/* The socket. */
	ev_timer_init(&f->retry, on_retry, VU_RETRY_MIN, 0.0);
	f->retry.data = f;
	f->retry_delay = VU_RETRY_MIN;
	if (f->client) {
		connect_now(f);
	} else {
		f->lfd = hal_sock_listen(f->sock);
		if (f->lfd < 0) {
			snprintf(err, errlen, "%s: cannot listen on %s: %s", cd->name, f->sock,
				 strerror(-f->lfd));
			goto fail;
		}
		ev_io_init(&f->lw, on_accept, f->lfd, EV_READ);
		f->lw.data = f;
		ev_io_start(env->loop, &f->lw);
	}
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: vhost-user %s on %s, representor %s (port %u), %u queue pair%s",
		f->name, f->client ? "client" : "server", f->sock, f->rep.ifname, f->rep.port,
		f->max_pairs, f->max_pairs == 1 ? "" : "s");
	return f;
fail:
	vu_destroy(f);
	return NULL;
}

void vu_destroy(struct vu_fn *f)
{
	if (!f)
		return;
	if (f->env.loop) {
		ev_timer_stop(f->env.loop, &f->retry);
		ev_timer_stop(f->env.loop, &f->snap_timer);
	}
	snap_unregister(f);
	if (f->cfd >= 0) {
		ev_io_stop(f->env.loop, &f->cw);
		close(f->cfd);
		f->cfd = -1;
	}
	if (f->lfd >= 0) {
		ev_io_stop(f->env.loop, &f->lw);
		close(f->lfd);
		unlink(f->sock);
	}
	/* Stops every running ring through op_ring_stop. */
	if (f->vhu)
		hal_vhu_destroy(f->vhu);
	if (f->attached)
		dp_dev_detach(&f->dd);
	dp_dev_publish(&f->dd, NULL);
	for (uint16_t i = 0; i < f->nq; i++)
		vnet_dp_queue_fini(&f->q[i]);
	free(f->stats);
	if (f->have_rep)
		hal_rep_destroy(&f->rep);
	free(f);
}
