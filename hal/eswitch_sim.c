/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sim eSwitch backend: representors as DPDK net_tap ports, or for an
 * MTU above 1500 net_af_packet ports on a veth pair. See hal_eswitch.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_ethdev.h>

#include "hal_eswitch.h"
#include "hal_log.h"
#include "veth.h"

#define COMP "eswitch"

/* net_af_packet's rings (TPACKET_V2): a frame slot holds the kernel's
 * header (up to the frame's start at 66 bytes in) and a frame of
 * HAL_REP_MAX_MTU with Ethernet and two VLAN headers; 128 slots a ring,
 * one receive and one transmit ring a queue. The port takes the slots as
 * contiguous and the kernel a block as pages: a block is the fewest
 * slots that make whole pages (two, 20 KiB, with 4 KiB pages). */
#define AFP_FRAMESZ  10240u
#define AFP_FRAMECNT 128u
/* What net_af_packet copies into one receive mbuf: the slot less its
 * header's fixed part (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)). */
#define AFP_RX_DATA  (AFP_FRAMESZ - 32u)
/* The veth end the port reads and writes; the kernel numbers it. */
#define AFP_PEER     "vnrep%d"
/* Its MTU: anything a slot holds, so that the one limit is the
 * representor's own MTU, where a longer frame is dropped and counted
 * (net_af_packet sets PACKET_LOSS: a slot the kernel refuses would be
 * dropped unseen). */
#define AFP_PEER_MTU 65535u

/* The offloads a representor may take over from the datapath. */
/* Not TCP_TSO, though net_tap offers it: its segmentation of our chained
 * 64 KiB mbufs (DPDK 22.11) let only the last segment reach the kernel, so
 * the datapath segments with DPDK's GSO library instead (firmware/dp). */
#define REP_TX_OFFLOADS \
	(RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM | \
	 RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_MULTI_SEGS)

static bool ifname_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= HAL_REP_IFNAMSIZ)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			return false;
	}
	return true;
}

uint16_t hal_rep_buf_size(uint16_t mtu)
{
	return mtu > RTE_ETHER_MTU ? (uint16_t)(AFP_RX_DATA + RTE_PKTMBUF_HEADROOM)
				   : (uint16_t)RTE_MBUF_DEFAULT_BUF_SIZE;
}

/* Configure, with RX interrupts when asked for and the port takes them. */
static int configure(struct hal_rep *r, const struct hal_rep_cfg *c,
		     const struct rte_eth_dev_info *di, bool intr)
{
	struct rte_eth_conf pc;
	int rc;

	memset(&pc, 0, sizeof(pc));
	pc.txmode.offloads = di->tx_offload_capa & REP_TX_OFFLOADS;
	pc.intr_conf.rxq = intr;
	rc = rte_eth_dev_configure(r->port, (uint16_t)c->n_txq, (uint16_t)c->n_txq, &pc);
	if (rc && intr) {
		pc.intr_conf.rxq = 0;
		rc = rte_eth_dev_configure(r->port, (uint16_t)c->n_txq, (uint16_t)c->n_txq, &pc);
	}
	if (rc)
		return rc;
	r->nq = (uint16_t)c->n_txq;
	r->tx_offloads = pc.txmode.offloads;
	r->rx_intr = pc.intr_conf.rxq;
	return 0;
}

/* An interface `ifname` left by an earlier virtnetd (a veth pair of ours
 * outlives the process, a tap does not) is removed: a veth whose peer is
 * a "vnrep" nobody reads. One in use (by this process or another), or
 * anything else of that name, is left alone, and the creation that
 * follows fails on it. */
static void clear_leftover(const char *ifname)
{
	char kind[16], peer[16];

	if (if_describe(ifname, kind, peer) || strcmp(kind, "veth") ||
	    strncmp(peer, AFP_PEER, 5) || if_packet_sockets(peer) != 0)
		return;
	HAL_LOG(HAL_LOG_WARN, COMP, "representor %s: removing the veth pair %s/%s an earlier run left",
		ifname, ifname, peer);
	veth_delete(ifname);
}

/* The veth pair of a jumbo representor: `ifname` with the representor's
 * MTU and no segmentation or checksum offload (what the kernel sends
 * through it arrives segmented, a ring slot holds one frame, and
 * checksummed, net_af_packet passes on no "checksum not ready" status),
 * the peer merging nothing it receives (GRO off),
 * both up (as a tap port's link up). The net_af_packet arguments in args. */
static int veth_rep(struct hal_rep *r, const struct hal_rep_cfg *c, char *args,
		    size_t argslen, char *err, size_t errlen)
{
	int rc = veth_create(r->ifname, c->mtu, AFP_PEER, AFP_PEER_MTU, r->peer);

	if (rc) {
		snprintf(err, errlen, "%s: cannot create the veth pair: %s", r->ifname,
			 strerror(-rc));
		return rc;
	}
	if ((rc = if_tx_offloads_off(r->ifname)) || (rc = if_rx_aggregation_off(r->peer)) ||
	    (rc = if_set_up(r->peer)) || (rc = if_set_up(r->ifname))) {
		snprintf(err, errlen, "%s: cannot set up the veth pair: %s", r->ifname,
			 strerror(-rc));
		veth_delete(r->ifname);
		return rc;
	}
	unsigned page = (unsigned)sysconf(_SC_PAGESIZE), block = AFP_FRAMESZ;

	while (block % page)
		block += AFP_FRAMESZ; /* at most page / gcd(page, 10240) slots */
	snprintf(args, argslen, "iface=%s,qpairs=%u,blocksz=%u,framesz=%u,framecnt=%u",
		 r->peer, c->n_txq, block, AFP_FRAMESZ, AFP_FRAMECNT);
	return 0;
}

int hal_rep_create(const char *ifname, const struct hal_rep_cfg *c,
		   struct hal_rep *out, char *err, size_t errlen)
{
	struct hal_rep r;
	struct rte_eth_dev_info di;
	char args[128];
	uint16_t rxd, txd, mtu = c && c->mtu ? c->mtu : RTE_ETHER_MTU;
	bool jumbo = c && !c->null_port && mtu > RTE_ETHER_MTU;
	int rc;

	memset(&r, 0, sizeof(r));
	if (!ifname_ok(ifname)) {
		snprintf(err, errlen, "representor name \"%s\": 1 to %d characters of [A-Za-z0-9_.-]",
			 ifname ? ifname : "", HAL_REP_IFNAMSIZ - 1);
		return -EINVAL;
	}
	if (!c || !c->mp || c->n_txq == 0 || c->n_txq > RTE_MAX_QUEUES_PER_PORT) {
		snprintf(err, errlen, "%s: bad configuration (mempool, TX queues)", ifname);
		return -EINVAL;
	}
	if (mtu < RTE_ETHER_MIN_MTU || mtu > HAL_REP_MAX_MTU) {
		snprintf(err, errlen, "%s: MTU %u: a representor carries %u to %u",
			 ifname, mtu, RTE_ETHER_MIN_MTU, HAL_REP_MAX_MTU);
		return -EINVAL;
	}
	if (jumbo && rte_pktmbuf_data_room_size(c->mp) < hal_rep_buf_size(mtu)) {
		snprintf(err, errlen, "%s: MTU %u needs receive buffers of %u bytes, the pool's have %u",
			 ifname, mtu, hal_rep_buf_size(mtu), rte_pktmbuf_data_room_size(c->mp));
		return -EINVAL;
	}
	snprintf(r.ifname, sizeof(r.ifname), "%s", ifname);
	if (!c->null_port)
		clear_leftover(ifname);
	if (c->null_port) {
		snprintf(r.vdev, sizeof(r.vdev), "net_null_%s", ifname);
		/* (net_null takes copy or no-rx, not both) */
		snprintf(args, sizeof(args), "size=64,%s",
			 c->null_port == HAL_REP_NULL_SINK ? "no-rx=1" : "copy=1");
	} else if (jumbo) {
		snprintf(r.vdev, sizeof(r.vdev), "net_af_packet_%s", ifname);
		if ((rc = veth_rep(&r, c, args, sizeof(args), err, errlen)))
			return rc;
	} else {
		snprintf(r.vdev, sizeof(r.vdev), "net_tap_%s", ifname);
		snprintf(args, sizeof(args), "iface=%s", ifname);
	}
	rc = rte_vdev_init(r.vdev, args);
	if (rc) {
		snprintf(err, errlen, "%s: cannot create the %s port: %s", ifname,
			 jumbo ? "af_packet" : "tap", strerror(rc < 0 ? -rc : rc));
		rc = rc < 0 ? rc : -rc;
		goto fail_veth;
	}
	if (rte_eth_dev_get_port_by_name(r.vdev, &r.port) ||
	    rte_eth_dev_info_get(r.port, &di)) {
		snprintf(err, errlen, "%s: the port was not created (%s %s)", ifname,
			 r.vdev, args);
		rc = -ENODEV;
		goto fail_vdev;
	}
	if (c->n_txq > di.max_tx_queues) {
		snprintf(err, errlen, "%s: %u TX queues asked for, the port has %u",
			 ifname, c->n_txq, di.max_tx_queues);
		rc = -EINVAL;
		goto fail_vdev;
	}
	/* (net_af_packet has no RX interrupts: an idle lcore naps instead.) */
	rc = configure(&r, c, &di, !jumbo);
	rxd = c->rx_desc ? c->rx_desc : 1024;
	txd = c->tx_desc ? c->tx_desc : 1024;
	for (unsigned q = 0; !rc && q < c->n_txq; q++) {
		rc = rte_eth_rx_queue_setup(r.port, (uint16_t)q, rxd, SOCKET_ID_ANY, NULL, c->mp);
		if (!rc)
			rc = rte_eth_tx_queue_setup(r.port, (uint16_t)q, txd, SOCKET_ID_ANY, NULL);
	}
	if (!rc)
		rc = rte_eth_dev_start(r.port);
	if (rc) {
		snprintf(err, errlen, "%s: cannot configure the port: %s", ifname,
			 strerror(-rc));
		goto fail_port;
	}
	/* A tap's interface takes the MTU from the port; a veth's has it. */
	if (!jumbo && !c->null_port && mtu != RTE_ETHER_MTU &&
	    (rc = rte_eth_dev_set_mtu(r.port, mtu))) {
		snprintf(err, errlen, "%s: cannot set MTU %u: %s", ifname, mtu, strerror(-rc));
		rte_eth_dev_stop(r.port);
		goto fail_port;
	}
	/* The interface up, so the bridge forwards to it. */
	rc = rte_eth_dev_set_link_up(r.port);
	if (rc && rc != -ENOTSUP) {
		snprintf(err, errlen, "%s: cannot set the link up: %s", ifname, strerror(-rc));
		rte_eth_dev_stop(r.port);
		goto fail_port;
	}
	HAL_LOG(HAL_LOG_INFO, COMP, "representor %s: port %u (%s%s%s), MTU %u, TX offloads %#llx, RX interrupts %s",
		r.ifname, r.port, r.vdev, r.peer[0] ? " on " : "", r.peer, mtu,
		(unsigned long long)r.tx_offloads, r.rx_intr ? "on" : "off");
	*out = r;
	return 0;
fail_port:
	rte_eth_dev_close(r.port);
fail_vdev:
	rte_vdev_uninit(r.vdev);
fail_veth:
	if (r.peer[0])
		veth_delete(r.ifname);
	return rc;
}

void hal_rep_destroy(struct hal_rep *r)
{
	if (!r || !r->vdev[0])
		return;
	rte_eth_dev_stop(r->port);
	rte_eth_dev_close(r->port);
	rte_vdev_uninit(r->vdev);
	if (r->peer[0])
		veth_delete(r->ifname);
	memset(r, 0, sizeof(*r));
}
