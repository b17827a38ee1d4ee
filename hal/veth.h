/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hal/veth — private to hal: the Linux interfaces behind a sim
 * representor that is not a tap (a veth pair, over rtnetlink), and the
 * interface features that matter to it (over the ethtool ioctl).
 * Control thread only. A netlink answer is waited for at most 2 s (the
 * kernel's own locks are not bounded).
 */
#ifndef VIRTNET_HAL_VETH_H
#define VIRTNET_HAL_VETH_H

#include <stddef.h>
#include <stdint.h>

/* Create the veth pair `name` <-> a peer the kernel names from
 * `peer_tmpl` (e.g. "vnrep%d"), MTUs `mtu` and `peer_mtu`, the peer with
 * IPv6 off (it sends nothing of its own); both down.
 * The peer's name in peer[16]. 0 or -errno (-EEXIST: `name` exists). */
int veth_create(const char *name, uint16_t mtu, const char *peer_tmpl,
		uint16_t peer_mtu, char peer[16]);
/* Delete the interface `name` (a veth takes its peer with it). 0 or -errno. */
int veth_delete(const char *name);
/* The link kind of `name` ("veth", "tun", "" for none) in kind[16], and
 * its peer's name (a veth's) in peer[16] ("" when none). 0 or -errno
 * (-ENODEV: no such interface). */
int if_describe(const char *name, char kind[16], char peer[16]);
/* Set `name` administratively up. 0 or -errno. */
int if_set_up(const char *name);
/* Turn off every transmit offload of `name` that lets a packet leave it
 * unfinished: segmentation (TSO, GSO, tunnels...) and checksums. What it
 * transmits is then segmented and checksummed before it leaves (a raw
 * socket on the other end of a veth sees the bytes as they are). 0, or
 * -errno (-EOPNOTSUPP: one stayed on). */
int if_tx_offloads_off(const char *name);
/* Turn off every receive offload of `name` that merges packets (GRO, LRO):
 * what arrives is read as it came. 0 or -errno, as if_tx_offloads_off. */
int if_rx_aggregation_off(const char *name);
/* The AF_PACKET sockets of this namespace bound to `name` (someone
 * reads it), from /proc/net/packet; -errno (-ENODEV: no such interface). */
int if_packet_sockets(const char *name);

#endif /* VIRTNET_HAL_VETH_H */
