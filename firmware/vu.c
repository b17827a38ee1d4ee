/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One vhost-user function: back end + representor + datapath. See vu.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "board.h"
#include "config.h"
#include "dp.h"
#include "hal_eswitch.h"
#include "hal_log.h"
#include "hal_vhost_user.h"
#include "vnet_dp.h"
#include "vu.h"

#define COMP "vu"
#define F(b) VNET_F(b)

/* What the front end keeps and the back end cannot do over vhost-user:
 * RSS and hash reports need the control queue's configuration, which
 * vhost-user does not carry. */
#define VU_NOT_OFFERED (F(VIRTIO_NET_F_RSS) | F(VIRTIO_NET_F_HASH_REPORT))

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
	ev_timer retry;
};

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

static void drop_conn(struct vu_fn *f, const char *why)
{
	if (f->cfd < 0)
		return;
	ev_io_stop(f->env.loop, &f->cw);
	close(f->cfd);
	f->cfd = -1;
	hal_vhu_disconnect(f->vhu);
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: front end gone (%s); the function stays", f->name, why);
	if (f->client)
		ev_timer_start(f->env.loop, &f->retry);
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
	int fd = hal_vhu_connect(f->sock);

	if (fd < 0) {
		ev_timer_start(f->env.loop, &f->retry);
		return;
	}
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: connected to %s", f->name, f->sock);
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
	struct hal_rep_cfg rc = { .n_txq = env->n_lcores + 1, .mp = env->mp };
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

	/* The socket. */
	ev_timer_init(&f->retry, on_retry, 1.0, 0.0);
	f->retry.data = f;
	if (f->client) {
		connect_now(f);
	} else {
		f->lfd = hal_vhu_listen(f->sock);
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
	if (f->env.loop)
		ev_timer_stop(f->env.loop, &f->retry);
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
