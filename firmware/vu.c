/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One vhost-user function: back end + representor + datapath. See vu.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "board.h"
#include "config.h"
#include "dp.h"
#include "fn.h"
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
	struct fn fn;           /* first: representor, datapath, telemetry */
	struct hal_vhu_dev *vhu;
	ev_timer retry;
	ev_tstamp retry_delay;  /* client: the next attempt's delay */
	ev_tstamp conn_since;   /* client: when the connection came up */
};

/* ---- the lcores' view ----------------------------------------------------- */

/* Rebuild and publish the conf: negotiated features, the receive rings
 * running, automatic steering over them with MQ, no filtering. */
static void publish(struct vu_fn *f)
{
	struct vnet_dp_conf *c = vnet_dp_conf_alloc(f->fn.max_pairs);
	uint16_t pairs = 0;

	if (!c) {
		fn_publish(&f->fn, NULL); /* says so */
		return;
	}
	c->features = c->rx_features = f->fn.features;
	c->hdr_len = (uint32_t)vnet_hdr_len(f->fn.features);
	c->link_up = true;
	for (uint16_t p = 0; p < f->fn.max_pairs; p++) {
		if (!f->fn.running[2u * p])
			continue;
		c->rxq_ok[p / 64] |= 1ull << (p % 64);
		pairs = (uint16_t)(p + 1);
	}
	c->pairs = pairs ? pairs : 1;
	c->steer_auto = (f->fn.features & F(VIRTIO_NET_F_MQ)) && c->pairs > 1;
	fn_publish(&f->fn, c);
}

/* ---- what the back end asks of us ----------------------------------------- */
static int op_ring_start(void *ctx, uint16_t idx, struct vq *vq, int kick_fd)
{
	struct vu_fn *f = ctx;

	if (idx >= f->fn.nq)
		return -EINVAL;
	if (!(f->fn.features & VDEV_BIT(VIRTIO_F_VERSION_1))) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: ring %u: the front end did not accept VERSION_1",
			   f->fn.name, idx);
		return -EPROTONOSUPPORT;
	}
	int rc = fn_queue_start(&f->fn, idx, vq, kick_fd);

	publish(f);
	return rc;
}

static void op_ring_stop(void *ctx, uint16_t idx, struct vq *vq)
{
	struct vu_fn *f = ctx;

	(void)vq;
	fn_queue_stop(&f->fn, idx);
	publish(f);
}

static void op_ring_call(void *ctx, uint16_t idx, int call_fd)
{
	struct vu_fn *f = ctx;

	if (idx < f->fn.nq)
		dp_set_call_fd(&f->fn.dd, idx, call_fd);
}

static void op_features(void *ctx, uint64_t features)
{
	struct vu_fn *f = ctx;

	f->fn.features = features;
	publish(f);
}

/* SEND_RARP: tell the network where the MAC now is (after a migration): a
 * RARP request from it, out of the representor on the control thread's
 * own TX queue (the last one). */
static void op_rarp(void *ctx, const uint8_t mac[6])
{
	struct vu_fn *f = ctx;
	struct rte_mbuf *m = rte_pktmbuf_alloc(f->fn.env.mp);
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
	if (rte_eth_tx_burst(f->fn.rep.port, (uint16_t)(f->fn.rep.nq - 1), &m, 1) != 1)
		rte_pktmbuf_free(m);
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: RARP sent for %02x:%02x:%02x:%02x:%02x:%02x",
		f->fn.name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
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
	ev_timer_stop(f->fn.env.loop, &f->retry);
	ev_timer_set(&f->retry, f->retry_delay, 0.0);
	ev_timer_start(f->fn.env.loop, &f->retry);
	f->retry_delay = f->retry_delay * 2 < VU_RETRY_MAX ? f->retry_delay * 2 : VU_RETRY_MAX;
}

static int c_serve(void *ctx, int fd)
{
	return hal_vhu_serve(((struct vu_fn *)ctx)->vhu, fd);
}

static void c_gone(void *ctx, const char *why)
{
	struct vu_fn *f = ctx;

	hal_vhu_disconnect(f->vhu);
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: front end gone (%s); the function stays", f->fn.name, why);
	if (f->fn.client) {
		if (ev_now(f->fn.env.loop) - f->conn_since >= VU_RETRY_MAX)
			f->retry_delay = VU_RETRY_MIN;
		retry_later(f);
	}
}

static const struct fn_conn_ops conn_ops = { .serve = c_serve, .gone = c_gone };

static void connect_now(struct vu_fn *f)
{
	int fd = hal_sock_connect(f->fn.sock);

	if (fd < 0) {
		if (f->retry_delay <= VU_RETRY_MIN)
			HAL_LOG(HAL_LOG_INFO, COMP, "%s: cannot connect to %s (%s): retrying, backing off to every %.0f s",
				f->fn.name, f->fn.sock, strerror(-fd), VU_RETRY_MAX);
		retry_later(f);
		return;
	}
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: connected to %s", f->fn.name, f->fn.sock);
	f->conn_since = ev_now(f->fn.env.loop);
	fn_conn_attach(&f->fn, &conn_ops, f, fd);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct vu_fn *f = w->data;

	(void)revents;
	ev_timer_stop(loop, w);
	if (f->fn.cfd < 0)
		connect_now(f);
}

/* ---- life cycle ---------------------------------------------------------------- */
struct vu_fn *vu_create(const struct fn_env *env, const struct board *b,
			const struct vcfg_dev *cd, unsigned index, char *err,
			size_t errlen)
{
	struct vu_fn *f = calloc(1, sizeof(*f));
	struct hal_vhu_params hp;
	char rep_name[HAL_REP_IFNAMSIZ];

	if (!f) {
		snprintf(err, errlen, "%s: no memory", cd->name);
		return NULL;
	}
	f->fn.lfd = f->fn.cfd = -1;
	f->fn.client = cd->client;
	snprintf(f->fn.sock, sizeof(f->fn.sock), "%s", cd->socket);
	if (cd->params.max_queue_pairs > HAL_VHU_MAX_QUEUE_PAIRS) {
		snprintf(err, errlen, "%s: %u queue pairs: at most %u over vhost-user", cd->name,
			 cd->params.max_queue_pairs, HAL_VHU_MAX_QUEUE_PAIRS);
		goto fail;
	}
	if (cd->params.features & VU_NOT_OFFERED)
		HAL_LOG(HAL_LOG_WARN, COMP,
			"%s: RSS and HASH_REPORT are not offered over vhost-user (the front end keeps the control queue)",
			cd->name);

	/* Representor (named by the board's rule) and datapath. */
	if (board_rep_name(b, index, -1, rep_name, sizeof(rep_name))) {
		snprintf(err, errlen, "%s: no representor name for PF %u", cd->name, index);
		goto fail;
	}
	if (fn_init(&f->fn, env, cd->name, "vhost-user", rep_name,
		    cd->params.max_queue_pairs, cd->params.max_queue_size,
		    cd->params.mtu, index % env->n_lcores, err, errlen))
		goto fail;

	/* The back end. */
	hal_vhu_params_default(&hp);
	hp.name = cd->name;
	hp.features = cd->params.features & ~VU_NOT_OFFERED;
	hp.max_queue_pairs = f->fn.max_pairs;
	hp.max_queue_size = cd->params.max_queue_size;
	hp.mtu = cd->params.mtu;
	memcpy(hp.mac, cd->params.mac, 6);
	hp.require_sealed = env->require_sealed;
	hp.qsbr = env->qsbr;
	/* Our connections to a server front end come and go; its session
	 * may outlive them (hal_vhost_user's resume). */
	hp.resume_sessions = f->fn.client;
	f->vhu = hal_vhu_create(&hp, &vu_ops, f);
	if (!f->vhu) {
		snprintf(err, errlen, "%s: vhost-user back end: %s", cd->name, strerror(errno));
		goto fail;
	}
	publish(f);

	/* The socket. */
	ev_timer_init(&f->retry, on_retry, VU_RETRY_MIN, 0.0);
	f->retry.data = f;
	f->retry_delay = VU_RETRY_MIN;
	if (f->fn.client)
		connect_now(f);
	else if (fn_listen(&f->fn, &conn_ops, f, err, errlen))
		goto fail;
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: vhost-user %s on %s, representor %s (port %u), %u queue pair%s",
		f->fn.name, f->fn.client ? "client" : "server", f->fn.sock, f->fn.rep.ifname,
		f->fn.rep.port, f->fn.max_pairs, f->fn.max_pairs == 1 ? "" : "s");
	return f;
fail:
	vu_destroy(f);
	return NULL;
}

void vu_destroy(struct vu_fn *f)
{
	if (!f)
		return;
	if (f->fn.env.loop)
		ev_timer_stop(f->fn.env.loop, &f->retry);
	/* Stops every running ring through op_ring_stop, before the
	 * datapath lets go of the device. */
	if (f->vhu)
		hal_vhu_destroy(f->vhu);
	fn_fini(&f->fn);
	free(f);
}
