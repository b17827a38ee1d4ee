/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sim eSwitch backend: representors as DPDK net_tap ports. See
 * hal_eswitch.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_bus_vdev.h>
#include <rte_ethdev.h>

#include "hal_eswitch.h"
#include "hal_log.h"

#define COMP "eswitch"

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

/* Configure with RX interrupts when the port takes them, else without. */
static int configure(struct hal_rep *r, const struct hal_rep_cfg *c,
		     const struct rte_eth_dev_info *di)
{
	struct rte_eth_conf pc;
	int rc;

	memset(&pc, 0, sizeof(pc));
	pc.txmode.offloads = di->tx_offload_capa & REP_TX_OFFLOADS;
	pc.intr_conf.rxq = 1;
	rc = rte_eth_dev_configure(r->port, (uint16_t)c->n_txq, (uint16_t)c->n_txq, &pc);
	if (rc) {
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

int hal_rep_create(const char *ifname, const struct hal_rep_cfg *c,
		   struct hal_rep *out, char *err, size_t errlen)
{
	struct hal_rep r;
	struct rte_eth_dev_info di;
	char args[64];
	uint16_t rxd, txd;
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
	snprintf(r.ifname, sizeof(r.ifname), "%s", ifname);
	if (c->null_port) {
		snprintf(r.vdev, sizeof(r.vdev), "net_null_%s", ifname);
		/* (net_null takes copy or no-rx, not both) */
		snprintf(args, sizeof(args), "size=64,%s",
			 c->null_port == HAL_REP_NULL_SINK ? "no-rx=1" : "copy=1");
	} else {
		snprintf(r.vdev, sizeof(r.vdev), "net_tap_%s", ifname);
		snprintf(args, sizeof(args), "iface=%s", ifname);
	}
	rc = rte_vdev_init(r.vdev, args);
	if (rc) {
		snprintf(err, errlen, "%s: cannot create the tap port: %s", ifname,
			 strerror(rc < 0 ? -rc : rc));
		return rc < 0 ? rc : -rc;
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
	rc = configure(&r, c, &di);
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
		snprintf(err, errlen, "%s: cannot configure the tap port: %s", ifname,
			 strerror(-rc));
		goto fail_port;
	}
	/* The interface up, so the bridge forwards to it. */
	rc = rte_eth_dev_set_link_up(r.port);
	if (rc && rc != -ENOTSUP) {
		snprintf(err, errlen, "%s: cannot set the link up: %s", ifname, strerror(-rc));
		rte_eth_dev_stop(r.port);
		goto fail_port;
	}
	HAL_LOG(HAL_LOG_INFO, COMP, "representor %s: port %u, TX offloads %#llx, RX interrupts %s",
		r.ifname, r.port, (unsigned long long)r.tx_offloads, r.rx_intr ? "on" : "off");
	*out = r;
	return 0;
fail_port:
	rte_eth_dev_close(r.port);
fail_vdev:
	rte_vdev_uninit(r.vdev);
	return rc;
}

void hal_rep_destroy(struct hal_rep *r)
{
	if (!r || !r->vdev[0])
		return;
	rte_eth_dev_stop(r->port);
	rte_eth_dev_close(r->port);
	rte_vdev_uninit(r->vdev);
	memset(r, 0, sizeof(*r));
}
