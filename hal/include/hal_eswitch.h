/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hal_eswitch — representor ports: the eSwitch side of each emulated
 * function, where its packets leave and arrive (DESIGN.md, hal/eswitch).
 *
 * The sim backend makes each representor a DPDK net_tap port whose Linux
 * interface carries the board's representor name (pf0, pf0vf3, ...) in the
 * network namespace virtnetd runs in; the sim topology bridges those
 * interfaces to the wire. DPDK 22.11's net_tap carries no frame above
 * 1522 bytes, so a representor with a larger MTU is a net_af_packet port
 * on a veth pair instead: the interface with the representor's name (and
 * MTU, and no segmentation or checksum offload) is one end, the port reads and writes
 * the other ("vnrepN"); its receive buffers must hold a whole frame
 * (hal_rep_buf_size). What net_af_packet (22.11) brings with it: no RX
 * interrupts; its sockets join a fanout group that reassembles IPv4
 * fragments, so a datagram that arrives fragmented is read whole (and cut
 * at 10,174 bytes, a ring slot); an 802.1ad outer tag is read back as
 * 802.1Q; its transmit may wait in poll() for a ring slot the kernel has
 * not sent yet (a veth sends as it is asked). A veth pair outlives a
 * process that dies: the next one to create that representor removes it
 * if nobody reads its other end. On BlueField the backend is
 * the mlx5 SF representor (not built here). For benchmarks a representor
 * may be a net_null port: no kernel in the way, so the figures are the
 * datapath's.
 *
 * A port is configured with one TX queue per datapath lcore (each lcore
 * sends on its own) and as many RX queues (a tap port pairs them; the
 * kernel spreads frames over them by flow, so the lcore that owns the
 * device reads them all), every TX offload the port has among IPv4/TCP/UDP
 * checksum and TCP TSO enabled (what it lacks the datapath does in
 * software), RX interrupts when the port supports them (an idle lcore
 * sleeps on them), then started with its link up.
 *
 * Control thread only; EAL must be initialised.
 */
#ifndef VIRTNET_HAL_ESWITCH_H
#define VIRTNET_HAL_ESWITCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rte_mempool;

#define HAL_REP_IFNAMSIZ 16

struct hal_rep {
	uint16_t port;                  /* DPDK port id */
	char ifname[HAL_REP_IFNAMSIZ];  /* the Linux interface */
	char vdev[32];                  /* the DPDK device name */
	uint16_t nq;                    /* RX queues = TX queues */
	uint64_t tx_offloads;           /* RTE_ETH_TX_OFFLOAD_* enabled */
	bool rx_intr;                   /* RX interrupts configured */
	char peer[HAL_REP_IFNAMSIZ];    /* a veth pair's other end, or "" */
};

/* The largest representor MTU (a jumbo frame of 9216 bytes of payload). */
#define HAL_REP_MAX_MTU 9216

#define HAL_REP_NULL_SINK   1
#define HAL_REP_NULL_SOURCE 2

struct hal_rep_cfg {
	unsigned n_txq;            /* datapath lcores: TX (and RX) queues */
	int null_port;             /* benchmarks: a net_null port instead of a
				    * tap, which discards what it is sent and
				    * receives nothing (HAL_REP_NULL_SINK) or
				    * 64-byte frames as fast as it is read
				    * (HAL_REP_NULL_SOURCE); 0: a tap */
	struct rte_mempool *mp;    /* RX buffers, of hal_rep_buf_size(mtu) */
	uint16_t rx_desc, tx_desc; /* 0: 1024 */
	uint16_t mtu;              /* 68..HAL_REP_MAX_MTU; 0: 1500 */
};

/* The data room (rte_pktmbuf_pool_create's data_room_size) a
 * representor of this MTU needs of its receive buffers. */
uint16_t hal_rep_buf_size(uint16_t mtu);

/* Create and start the representor `ifname` (1..15 characters of
 * [A-Za-z0-9_.-]). 0, or -errno with a reason in err. */
int hal_rep_create(const char *ifname, const struct hal_rep_cfg *c,
		   struct hal_rep *out, char *err, size_t errlen);
/* Stop, close and remove it (its interface disappears). */
void hal_rep_destroy(struct hal_rep *r);

#endif /* VIRTNET_HAL_ESWITCH_H */
