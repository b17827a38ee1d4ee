/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtnetd's datapath lcores: devices' virtqueues <-> representor ports.
 * See dp.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_gso.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "dp.h"
#include "hal_ab.h"
#include "hal_log.h"

#define COMP "dp"

#define BURST        32
#define MAX_DEVS     64            /* per lcore */
#define IDLE_LOOPS   2048          /* empty loops before an lcore sleeps */
#define SLEEP_MS_MAX 100           /* a sleep's bound (ports with RX interrupts) */
#define SLEEP_MS_NOINTR 1          /* ... and when a port has none */
#define CMD_WAIT_NS  (2ull * 1000 * 1000 * 1000) /* the bounded handshake */
#define GSO_MAX_OUT  (VNET_GSO_MAX_SEGS + 1)

enum cmd_op { CMD_ATTACH, CMD_DETACH, CMD_QRUN, CMD_STOP };

struct cmd {
	enum cmd_op op;
	struct dp_dev *d;
	uint16_t q;
	bool run;
	int state; /* CMD_POSTED, then CMD_DONE (the lcore) or CMD_ABANDONED (post) */
};

/* Who frees a command: the poster once the lcore has acted on it, the
 * lcore when the poster stopped waiting first (whichever of the two
 * exchanges comes second). */
enum { CMD_POSTED, CMD_DONE, CMD_ABANDONED };

struct lcore {
	unsigned idx;         /* dp lcore index: RCU thread id, representor TX queue */
	unsigned lcore_id;
	struct rte_ring *cmds;
	int cmd_efd;
	int epfd;
	struct dp_dev *dev[MAX_DEVS];
	unsigned ndev;
	bool stop;
	struct rte_gso_ctx gso;
	struct rte_mbuf *gso_out[GSO_MAX_OUT];
	/* counters */
	uint64_t loops, sleeps;
	uint64_t busy_cycles, work; /* TSC cycles of loops that found work; packets */
} __rte_cache_aligned;

static struct {
	struct dp_cfg cfg;
	struct lcore lc[DP_MAX_LCORES];
	unsigned n;
	bool running;
} g;

/* ---- interrupts to the driver -------------------------------------------- */
void dp_irq(void *ctx, uint16_t index)
{
	struct dp_dev *d = ctx;
	int fd = index < DP_MAX_QUEUES ? __atomic_load_n(&d->call_fd[index], __ATOMIC_ACQUIRE) : -1;
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: queue %u: call fd: %s", d->name,
			   index, strerror(errno));
}

void dp_set_call_fd(struct dp_dev *d, uint16_t q, int fd)
{
	if (q >= DP_MAX_QUEUES)
		return;
	__atomic_store_n(&d->call_fd[q], fd, __ATOMIC_RELEASE);
	/* The old fd may be closed once no lcore can still be writing it. */
	if (g.running && g.cfg.qsbr)
		rte_rcu_qsbr_synchronize(g.cfg.qsbr, RTE_QSBR_THRID_INVALID);
}

/* ---- transmit: what the port cannot do, in software ------------------------ */

/* Checksums the port was asked for and cannot do. false: drop m. */
static bool sw_csum(struct dp_dev *d, struct rte_mbuf *m)
{
	uint64_t ol = m->ol_flags;
	unsigned todo = 0;

	if ((ol & RTE_MBUF_F_TX_IP_CKSUM) &&
	    !(d->rep_tx_offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM))
		todo |= VNET_RX_IP_CSUM;
	if (((ol & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_TCP_CKSUM &&
	     !(d->rep_tx_offloads & RTE_ETH_TX_OFFLOAD_TCP_CKSUM)) ||
	    ((ol & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_UDP_CKSUM &&
	     !(d->rep_tx_offloads & RTE_ETH_TX_OFFLOAD_UDP_CKSUM)))
		todo |= VNET_RX_CSUM;
	if (!todo)
		return true;
	d->sw_csum++;
	/* vnet_rx_fixup completes a checksum from the packet's own headers
	 * (the pseudo-header recomputed, so a GSO segment's is right). */
	if (vnet_rx_fixup(m, todo))
		return false;
	m->ol_flags &= ~(RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_L4_MASK |
			 RTE_MBUF_F_RX_L4_CKSUM_MASK);
	return true;
}

/* Segment what the port cannot, then fix checksums; returns packets in
 * out[] (cap entries), drops (counted on queue q) what cannot be sent. */
static unsigned tx_prepare(struct lcore *lc, struct dp_dev *d, uint16_t q,
			   struct rte_mbuf **pkts, unsigned n,
			   struct rte_mbuf **out, unsigned cap)
{
	struct vnet_queue_stats *st = d->q[q].stats;
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		/* Nothing asked of the port: as it is. */
		if (!(m->ol_flags & RTE_MBUF_F_TX_OFFLOAD_MASK) && k < cap) {
			out[k++] = m;
			continue;
		}
		uint64_t seg = m->ol_flags & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG);
		bool can = seg == RTE_MBUF_F_TX_TCP_SEG
				   ? d->rep_tx_offloads & RTE_ETH_TX_OFFLOAD_TCP_TSO
				   : d->rep_tx_offloads & RTE_ETH_TX_OFFLOAD_UDP_TSO;

		if (seg && !can) {
			int got;

			lc->gso.gso_size = (uint16_t)(m->tso_segsz + m->l2_len +
						      m->l3_len + m->l4_len);
			got = rte_gso_segment(m, &lc->gso, lc->gso_out, GSO_MAX_OUT);
			if (got == 0) {
				/* One segment's worth: a plain packet. */
				m->ol_flags &= ~(RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG);
				goto plain;
			}
			if (got < 0 || (unsigned)got > cap - k) {
				for (int j = 0; j < got; j++)
					rte_pktmbuf_free(lc->gso_out[j]);
				rte_pktmbuf_free(m);
				st->drops[got == -EINVAL ? VNET_DROP_MALFORMED :
					  got < 0 ? VNET_DROP_NO_BUFFER : VNET_DROP_PORT]++;
				continue;
			}
			/* The segments hold references to m's data. */
			rte_pktmbuf_free(m);
			d->sw_gso++;
			for (int j = 0; j < got; j++) {
				if (sw_csum(d, lc->gso_out[j])) {
					out[k++] = lc->gso_out[j];
				} else {
					rte_pktmbuf_free(lc->gso_out[j]);
					st->drops[VNET_DROP_MALFORMED]++;
				}
			}
			continue;
		}
plain:
		if (k == cap || !sw_csum(d, m)) {
			rte_pktmbuf_free(m);
			st->drops[k == cap ? VNET_DROP_PORT : VNET_DROP_MALFORMED]++;
			continue;
		}
		out[k++] = m;
	}
	return k;
}

/* ---- one device, one pass ----------------------------------------------------- */
/* One burst from representor RX queue rq into the device's receive
 * queues; returns the packets taken from the port. */
static unsigned rep_rx(struct dp_dev *d, const struct vnet_dp_conf *c, uint16_t rq)
{
	struct rte_mbuf *pkts[BURST], *sel[BURST], **run = sel;
	struct vnet_rx_meta meta[BURST], sm[BURST], *rm = sm;
	uint16_t n = rte_eth_rx_burst(d->rep_port, rq, pkts, BURST);
	uint16_t pairs = d->nq / 2;
	unsigned start[DP_MAX_QUEUES / 2 + 1], at[DP_MAX_QUEUES / 2];

	if (!n)
		return 0;
	d->rep_rx += n;
	vnet_dp_rx_classify(c, d->steer, pkts, n, meta);
	if (pairs == 1) {
		/* Every packet is queue 0's (or marked dropped): as it is. */
		run = pkts;
		rm = meta;
		start[0] = 0;
		start[1] = n;
	} else {
		/* Group by receive queue in two passes over the burst (not
		 * one per queue): count, then place each packet in its
		 * queue's run, in order. A queue index beyond the device (a
		 * conf bug) is left out. Only the pairs in use are counted:
		 * this runs on every poll. */
		memset(start, 0, (pairs + 1u) * sizeof(start[0]));
		for (unsigned i = 0; i < n; i++)
			if (meta[i].queue < pairs)
				start[meta[i].queue + 1]++;
		for (uint16_t p = 0; p < pairs; p++)
			start[p + 1] += start[p];
		memcpy(at, start, pairs * sizeof(at[0]));
		for (unsigned i = 0; i < n; i++) {
			uint16_t p = meta[i].queue;

			if (p >= pairs)
				continue;
			sel[at[p]] = pkts[i];
			sm[at[p]++] = meta[i];
		}
	}
	for (uint16_t p = 0; p < pairs; p++) {
		unsigned k = start[p + 1] - start[p];
		uint16_t q = (uint16_t)(2u * p);

		if (!k)
			continue;
		if (d->run[q])
			vnet_dp_rx_burst(&d->q[q], c, run + start[p], rm + start[p], k);
		else
			d->q[q].stats->drops[VNET_DROP_QUEUE_OFF] += k;
	}
	/* Delivered or not, the mbufs are ours to free. */
	rte_pktmbuf_free_bulk(pkts, n);
	return n;
}

static unsigned dev_poll(struct lcore *lc, struct dp_dev *d, uint64_t now_us)
{
	const struct vnet_dp_conf *c = dp_dev_conf(d);
	struct rte_mbuf *pkts[BURST], *out[GSO_MAX_OUT];
	unsigned work = 0;

	if (!c)
		return 0;
	/* Transmit queues -> representor. */
	for (uint16_t q = 1; q < d->nq; q += 2) {
		if (!d->run[q])
			continue;
		unsigned n = vnet_dp_tx_burst(&d->q[q], c, pkts, BURST);
		if (!n)
			continue;
		work += n;
		/* Nothing asked of the port by any packet (the common case):
		 * sent as they are, without tx_prepare's look at each. */
		struct rte_mbuf **send = pkts;
		uint64_t ol = 0;
		for (unsigned i = 0; i < n; i++)
			ol |= pkts[i]->ol_flags;
		if (unlikely(ol & RTE_MBUF_F_TX_OFFLOAD_MASK)) {
			n = tx_prepare(lc, d, q, pkts, n, out, GSO_MAX_OUT);
			send = out;
		}
		unsigned sent = 0;
		/* A full port: count and drop, never spin. */
		while (sent < n) {
			uint16_t s = rte_eth_tx_burst(d->rep_port, (uint16_t)lc->idx,
						      send + sent, (uint16_t)(n - sent));
			if (!s)
				break;
			sent += s;
		}
		d->rep_tx += sent;
		if (sent < n) {
			d->q[q].stats->drops[VNET_DROP_PORT] += n - sent;
			rte_pktmbuf_free_bulk(send + sent, n - sent);
		}
	}

	/* Representor -> receive queues. */
	for (uint16_t rq = 0; rq < d->rep_nrxq; rq++)
		work += rep_rx(d, c, rq);

	for (uint16_t q = 0; q < d->nq; q++) {
		if (!d->run[q])
			continue;
		vnet_dp_coal_tick(&d->q[q], c, now_us);
		if (q & 1)
			vnet_dp_release_tick(&d->q[q], now_us);
	}
	return work;
}

/* ---- commands ------------------------------------------------------------------ */
static void cmd_done(struct cmd *c)
{
	/* A command its poster gave up on is ours to free (rare: after a
	 * timed-out handshake, never on the packet path). */
	if (__atomic_exchange_n(&c->state, CMD_DONE, __ATOMIC_ACQ_REL) == CMD_ABANDONED)
		free(c);
}

static void dev_remove(struct lcore *lc, struct dp_dev *d)
{
	for (unsigned i = 0; i < lc->ndev; i++) {
		if (lc->dev[i] != d)
			continue;
		lc->dev[i] = lc->dev[--lc->ndev];
		return;
	}
}

static unsigned do_cmds(struct lcore *lc)
{
	void *p;
	unsigned n = 0;

	while (rte_ring_sc_dequeue(lc->cmds, &p) == 0) {
		struct cmd *c = p;

		n++;
		switch (c->op) {
		case CMD_ATTACH:
			if (lc->ndev < MAX_DEVS)
				lc->dev[lc->ndev++] = c->d;
			break;
		case CMD_DETACH:
			dev_remove(lc, c->d);
			break;
		case CMD_QRUN:
			c->d->run[c->q] = c->run;
			if (!c->run)
				vnet_dp_queue_reset(&c->d->q[c->q]);
			else if (c->d->q[c->q].vq)
				/* Polled from now on: the driver need not kick
				 * (a kick is a system call on its side). An idle
				 * lcore re-arms transmit kicks before it sleeps;
				 * receive kicks (new buffers) are never waited
				 * for. */
				vq_notify_disable(c->d->q[c->q].vq);
			break;
		case CMD_STOP:
			lc->stop = true;
			break;
		}
		cmd_done(c);
	}
	return n;
}

/* Post c to lc and wait for it (bounded). On a timeout the command is
 * abandoned to the lcore, which frees it once it has acted on it. */
static int post(struct lcore *lc, struct cmd *proto)
{
	struct cmd *c = malloc(sizeof(*c));
	uint64_t one = 1, wait_ns = g.cfg.cmd_wait_us ? g.cfg.cmd_wait_us * 1000ull : CMD_WAIT_NS;
	struct timespec t0, now, nap = { 0, 20000 };

	if (!c)
		return -ENOMEM;
	*c = *proto;
	c->state = CMD_POSTED;
	if (rte_ring_mp_enqueue(lc->cmds, c)) {
		free(c);
		return -ENOSPC;
	}
	if (write(lc->cmd_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "lcore %u: wake: %s", lc->idx, strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) != CMD_DONE) {
		nanosleep(&nap, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((uint64_t)(now.tv_sec - t0.tv_sec) * 1000000000ull + now.tv_nsec -
		    t0.tv_nsec > wait_ns) {
			if (__atomic_exchange_n(&c->state, CMD_ABANDONED, __ATOMIC_ACQ_REL) ==
			    CMD_DONE)
				break; /* answered meanwhile */
			HAL_LOG_RL(HAL_LOG_ERR, COMP,
				   "lcore %u did not answer a command in %" PRIu64 " us",
				   lc->idx, wait_ns / 1000);
			return -ETIMEDOUT;
		}
	}
	free(c);
	return 0;
}

/* ---- adaptive polling ------------------------------------------------------ */

/* Re-arm what wakes us; false when work arrived meanwhile (do not sleep). */
static bool arm(struct lcore *lc, bool *bounded)
{
	bool quiet = true;

	*bounded = false;
	for (unsigned i = 0; i < lc->ndev; i++) {
		struct dp_dev *d = lc->dev[i];

		for (uint16_t q = 1; q < d->nq; q += 2)
			if (d->run[q] && vq_notify_enable(d->q[q].vq))
				quiet = false;
		for (uint16_t rq = 0; rq < d->rep_nrxq; rq++)
			if (!d->rep_rx_intr ||
			    rte_eth_dev_rx_intr_enable(d->rep_port, rq) < 0)
				*bounded = true; /* no RX interrupt: wake up to poll */
		for (uint16_t q = 0; q < d->nq; q++)
			if (d->run[q] && d->q[q].irq_owed)
				*bounded = true; /* a coalesced interrupt's clock runs */
	}
	return quiet;
}

static void disarm(struct lcore *lc)
{
	for (unsigned i = 0; i < lc->ndev; i++) {
		struct dp_dev *d = lc->dev[i];

		for (uint16_t q = 1; q < d->nq; q += 2)
			if (d->run[q])
				vq_notify_disable(d->q[q].vq);
		for (uint16_t rq = 0; d->rep_rx_intr && rq < d->rep_nrxq; rq++)
			rte_eth_dev_rx_intr_disable(d->rep_port, rq);
	}
}

/* Register every fd that can wake us (rebuilt per sleep: cheap, and the
 * set changes with the devices and queues). */
static void sleep_once(struct lcore *lc)
{
	struct epoll_event ev = { .events = EPOLLIN }, out[16];
	bool bounded;
	int efd = epoll_create1(EPOLL_CLOEXEC), rc;
	uint64_t v;

	if (efd < 0)
		return;
	ev.data.fd = lc->cmd_efd;
	epoll_ctl(efd, EPOLL_CTL_ADD, lc->cmd_efd, &ev);
	for (unsigned i = 0; i < lc->ndev; i++) {
		struct dp_dev *d = lc->dev[i];

		for (uint16_t q = 1; q < d->nq; q += 2) {
			if (!d->run[q] || d->kick_fd[q] < 0)
				continue;
			ev.data.fd = d->kick_fd[q];
			epoll_ctl(efd, EPOLL_CTL_ADD, d->kick_fd[q], &ev);
		}
		for (uint16_t rq = 0; d->rep_rx_intr && rq < d->rep_nrxq; rq++) {
			int ifd = rte_eth_dev_rx_intr_ctl_q_get_fd(d->rep_port, rq);
			if (ifd < 0)
				continue;
			ev.data.fd = ifd;
			epoll_ctl(efd, EPOLL_CTL_ADD, ifd, &ev);
		}
	}
	if (arm(lc, &bounded)) {
		__atomic_store_n(&lc->sleeps, lc->sleeps + 1, __ATOMIC_RELAXED);
		/* Asleep, this lcore holds no reference: control-thread
		 * grace periods need not wait for it. */
		rte_rcu_qsbr_thread_offline(g.cfg.qsbr, lc->idx);
		rc = epoll_wait(efd, out, 16, bounded ? SLEEP_MS_NOINTR : SLEEP_MS_MAX);
		rte_rcu_qsbr_thread_online(g.cfg.qsbr, lc->idx);
		/* Consume what woke us among our own eventfds: the command
		 * eventfd and the kicks. A port's RX interrupt fd is left
		 * alone: it is the PMD's (a tap's is its packet fd itself,
		 * where a read would eat a frame); disarm() re-arms it. */
		for (int k = 0; k < rc; k++) {
			int fd = out[k].data.fd;
			bool ours = fd == lc->cmd_efd;

			for (unsigned i = 0; i < lc->ndev && !ours; i++) {
				struct dp_dev *d = lc->dev[i];
				for (uint16_t q = 1; q < d->nq; q += 2) {
					if (d->run[q] && fd == d->kick_fd[q]) {
						vnet_dp_kicked(&d->q[q]);
						ours = true;
						break;
					}
				}
			}
			if (ours && read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				HAL_LOG_RL(HAL_LOG_WARN, COMP, "lcore %u: read fd %d: %s",
					   lc->idx, fd, strerror(errno));
		}
	}
	disarm(lc);
	close(efd);
}

static uint64_t cycles_per_us(void)
{
	static __thread uint64_t per_us;

	if (!per_us)
		per_us = rte_get_timer_hz() / 1000000 ? rte_get_timer_hz() / 1000000 : 1;
	return per_us;
}

#ifdef VNET_AB
__thread unsigned hal_ab;

/* The A/B's phases (hal_ab.h): at each new phase of 2^30 TSC cycles, the
 * last one's frames (every queue's delivered packets) go to stderr and
 * the way flips. Frames the ring had no buffer for are not counted. */
static void ab_tick(struct lcore *lc, uint64_t tsc)
{
	static __thread uint64_t phase, frames0, busy0;
	uint64_t p = tsc >> 30, frames = 0;

	if (p == phase)
		return;
	for (unsigned i = 0; i < lc->ndev; i++)
		for (uint16_t q = 0; q < lc->dev[i]->nq; q++)
			frames += lc->dev[i]->q[q].stats ? lc->dev[i]->q[q].stats->packets : 0;
	if (phase)
		fprintf(stderr, "AB phase=%" PRIu64 " way=%u frames=%" PRIu64
			" mpps=%.3f busy=%" PRIu64 "\n", phase, hal_ab, frames - frames0,
			(double)(frames - frames0) * rte_get_tsc_hz() / (1ull << 30) / 1e6,
			lc->busy_cycles - busy0);
	phase = p;
	frames0 = frames;
	busy0 = lc->busy_cycles;
	hal_ab = (unsigned)(p & 1);
}
#else
static inline void ab_tick(struct lcore *lc, uint64_t tsc) { (void)lc; (void)tsc; }
#endif

static int lcore_main(void *arg)
{
	struct lcore *lc = arg;
	unsigned idle = 0;

	rte_rcu_qsbr_thread_register(g.cfg.qsbr, lc->idx);
	rte_rcu_qsbr_thread_online(g.cfg.qsbr, lc->idx);
	while (!lc->stop) {
		unsigned work;
		uint64_t t0 = rte_get_timer_cycles(), t = t0 / cycles_per_us();

		rte_rcu_qsbr_quiescent(g.cfg.qsbr, lc->idx);
		ab_tick(lc, t0);
		work = do_cmds(lc);
		for (unsigned i = 0; i < lc->ndev; i++)
			work += dev_poll(lc, lc->dev[i], t);
		__atomic_store_n(&lc->loops, lc->loops + 1, __ATOMIC_RELAXED);
		if (work) {
			/* What the packets cost (benchmarks' cycles per packet). */
			__atomic_store_n(&lc->busy_cycles,
					 lc->busy_cycles + rte_get_timer_cycles() - t0,
					 __ATOMIC_RELAXED);
			__atomic_store_n(&lc->work, lc->work + work, __ATOMIC_RELAXED);
			idle = 0;
		} else if (!g.cfg.poll && ++idle >= IDLE_LOOPS) {
			sleep_once(lc);
			idle = 0;
		}
	}
	rte_rcu_qsbr_thread_offline(g.cfg.qsbr, lc->idx);
	rte_rcu_qsbr_thread_unregister(g.cfg.qsbr, lc->idx);
	return 0;
}

/* ---- control thread ------------------------------------------------------------- */
int dp_start(const struct dp_cfg *cfg)
{
	unsigned lcore_id, i = 0;
	char name[32];

	if (g.running || !cfg || !cfg->n_lcores || cfg->n_lcores > DP_MAX_LCORES ||
	    !cfg->mp || !cfg->qsbr)
		return -EINVAL;
	memset(&g, 0, sizeof(g));
	g.cfg = *cfg;
	RTE_LCORE_FOREACH_WORKER(lcore_id) {
		struct lcore *lc = &g.lc[i];

		if (i == cfg->n_lcores)
			break;
		lc->idx = i;
		lc->lcore_id = lcore_id;
		snprintf(name, sizeof(name), "dp_cmd_%u", i);
		lc->cmds = rte_ring_create(name, 64, SOCKET_ID_ANY, RING_F_SC_DEQ);
		lc->cmd_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		lc->gso.direct_pool = cfg->mp;
		lc->gso.indirect_pool = cfg->mp;
		lc->gso.gso_types = RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_UDP_TSO;
		lc->gso.flag = 0;
		if (!lc->cmds || lc->cmd_efd < 0)
			goto fail;
		i++;
	}
	if (i < cfg->n_lcores) {
		HAL_LOG(HAL_LOG_ERR, COMP, "%u datapath lcores asked for, EAL has %u workers",
			cfg->n_lcores, i);
		goto fail;
	}
	g.n = i;
	g.running = true;
	for (i = 0; i < g.n; i++)
		if (rte_eal_remote_launch(lcore_main, &g.lc[i], g.lc[i].lcore_id)) {
			HAL_LOG(HAL_LOG_ERR, COMP, "cannot launch lcore %u", g.lc[i].lcore_id);
			g.n = i;
			dp_stop();
			return -EBUSY;
		}
	return 0;
fail:
	for (unsigned k = 0; k <= i && k < DP_MAX_LCORES; k++) {
		rte_ring_free(g.lc[k].cmds);
		if (g.lc[k].cmd_efd > 0)
			close(g.lc[k].cmd_efd);
	}
	memset(&g, 0, sizeof(g));
	return -ENOMEM;
}

void dp_stop(void)
{
	struct cmd c = { .op = CMD_STOP };

	if (!g.running)
		return;
	for (unsigned i = 0; i < g.n; i++)
		post(&g.lc[i], &c);
	for (unsigned i = 0; i < g.n; i++) {
		rte_eal_wait_lcore(g.lc[i].lcore_id);
		rte_ring_free(g.lc[i].cmds);
		close(g.lc[i].cmd_efd);
	}
	memset(&g, 0, sizeof(g));
}

int dp_dev_attach(struct dp_dev *d, unsigned lcore)
{
	struct cmd c = { .op = CMD_ATTACH, .d = d };

	if (!g.running || lcore >= g.n || d->nq > DP_MAX_QUEUES || d->nq % 2 ||
	    !d->rep_nrxq)
		return -EINVAL;
	for (uint16_t q = 0; q < d->nq; q++)
		d->run[q] = false;
	d->lcore = lcore;
	return post(&g.lc[lcore], &c);
}

int dp_dev_detach(struct dp_dev *d)
{
	struct cmd c = { .op = CMD_DETACH, .d = d };

	if (!g.running || d->lcore >= g.n)
		return -EINVAL;
	return post(&g.lc[d->lcore], &c);
}

int dp_queue_run(struct dp_dev *d, uint16_t q, bool run)
{
	struct cmd c = { .op = CMD_QRUN, .d = d, .q = q, .run = run };

	if (!g.running || d->lcore >= g.n || q >= d->nq)
		return -EINVAL;
	return post(&g.lc[d->lcore], &c);
}

void dp_dev_publish(struct dp_dev *d, struct vnet_dp_conf *c)
{
	struct vnet_dp_conf *old = __atomic_exchange_n(&d->conf, c, __ATOMIC_ACQ_REL);

	if (old) {
		if (g.running)
			rte_rcu_qsbr_synchronize(g.cfg.qsbr, RTE_QSBR_THRID_INVALID);
		vnet_dp_conf_free(old);
	}
}

unsigned dp_lcores(void)
{
	return g.n;
}

void dp_lcore_stats(unsigned idx, struct dp_lcore_stats *st)
{
	const struct lcore *lc = idx < g.n ? &g.lc[idx] : NULL;

	memset(st, 0, sizeof(*st));
	if (!lc)
		return;
	st->loops = __atomic_load_n(&lc->loops, __ATOMIC_RELAXED);
	st->sleeps = __atomic_load_n(&lc->sleeps, __ATOMIC_RELAXED);
	st->busy_cycles = __atomic_load_n(&lc->busy_cycles, __ATOMIC_RELAXED);
	st->work = __atomic_load_n(&lc->work, __ATOMIC_RELAXED);
}
