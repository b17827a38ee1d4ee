/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * config — virtnetd's optional configuration file: the devices to create
 * when the service starts (virtnetd --config FILE).
 *
 * The file is one JSON object with one key, "devices", an array (possibly
 * empty) of device objects:
 *
 *   {
 *     "devices": [
 *       {
 *         "name": "vu0",                  required, 1..15 of [A-Za-z0-9_-]
 *         "transport": "vhost-user",      required: "vfio-user", "vhost-user"
 *                                         or "hw", one the board supports
 *         "socket": "vu0.sock",           optional (socket transports only):
 *                                         an absolute path, or a file name in
 *                                         virtnetd's run directory; default
 *                                         "<name>.sock"; at most 107 bytes
 *         "mode": "server",               optional (socket transports only):
 *                                         "server" (default) or "client";
 *                                         "client" only with vhost-user
 *         "mac": "02:76:6e:00:00:10",     optional: unicast, not all zeros;
 *                                         default the board's mac_base + the
 *                                         device's index in "devices"
 *         "mtu": 1500,                    optional: 68..board max_mtu (default 1500)
 *         "queue_pairs": 1,               optional: 1..board max_queue_pairs
 *                                         (default 1)
 *         "queue_size": 256,              optional: a power of two in
 *                                         2..board max_queue_size (default
 *                                         256, or the board's maximum if that
 *                                         is smaller)
 *         "features": { "mq": true, ... } optional: see below
 *       }
 *     ]
 *   }
 *
 * Features start from vnet_params_default() (VERSION_1, EVENT_IDX,
 * INDIRECT_DESC, RING_PACKED, MAC, STATUS, MTU, SPEED_DUPLEX, CTRL_VQ,
 * CTRL_RX, CTRL_RX_EXTRA, CTRL_VLAN, CTRL_MAC_ADDR, GUEST_ANNOUNCE). Each
 * key of "features" is a boolean that turns one feature bit on or off, or a
 * group of bits:
 *
 *   generic   indirect, event_idx, packed, in_order, notification_data,
 *             ring_reset, access_platform, order_platform  (VIRTIO_F_*)
 *   offloads  csum, guest_csum, host_tso4, host_tso6, host_ecn, host_ufo,
 *             host_uso, guest_tso4, guest_tso6, guest_ecn, guest_uso4,
 *             guest_uso6, mrg_rxbuf, ctrl_guest_offloads  (VIRTIO_NET_F_*)
 *   device    mac, mtu, status, speed_duplex, standby, ctrl_vq, ctrl_rx,
 *             ctrl_rx_extra, ctrl_vlan, ctrl_mac_addr, guest_announce, mq,
 *             rss, hash_report, notf_coal, vq_notf_coal  (VIRTIO_NET_F_*)
 *   groups    tso = host_tso4 + host_tso6 + guest_tso4 + guest_tso6
 *             ecn = host_ecn + guest_ecn
 *             uso = host_uso + guest_uso4 + guest_uso6
 *
 * Groups are applied before single features whatever the order in the
 * file, so {"tso": true, "guest_tso6": false} offers the other three.
 * VERSION_1 is always offered. The resulting set must pass
 * vnet_params_validate() (feature dependencies such as MQ requires CTRL_VQ,
 * TSO requires the matching checksum feature, more than one queue pair
 * requires MQ or RSS).
 *
 * Unknown keys anywhere, duplicate keys, wrong types and out-of-range
 * values are errors. Names, sockets and MACs (given or generated) must be
 * unique; there may be at most the board's max_devices devices. Every
 * error is one line naming the file, the field path and the reason, in the
 * board loader's style:
 *
 *   cfg.json: field 'devices[2].queue_size': must be a power of two (got 300)
 *   cfg.json: field 'devices[0].features.tso4': unknown feature (known: ...)
 *   cfg.json: invalid JSON at line 3, column 5: ...
 *
 * The loader does not log and does not touch the file system beyond
 * reading the file.
 */
#ifndef VIRTNET_CONFIG_H
#define VIRTNET_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "board.h"
#include "virtio_net.h"

#define VCFG_NAME_LEN	16	/* 15 characters + NUL: fits an ifname */
#define VCFG_SOCKET_LEN	108	/* sizeof(sockaddr_un.sun_path) */
#define VCFG_FILE_MAX	(1024 * 1024)

struct vcfg_dev {
	char name[VCFG_NAME_LEN];
	unsigned transport;		/* one BOARD_TRANSPORT_* bit */
	char socket[VCFG_SOCKET_LEN];	/* "" for hw; else as written until
					 * vcfg_resolve_sockets() */
	bool client;			/* vhost-user client mode */
	bool mac_generated;		/* mac came from the board's mac_base */
	struct vnet_params params;	/* passes vnet_params_validate() */
};

struct vcfg {
	unsigned n;
	struct vcfg_dev *dev;		/* n entries; NULL when n == 0 */
};

/*
 * Load and validate a configuration file against board b. Returns 0 and
 * fills *out (release with vcfg_free()), or -1 with a one-line message in
 * err and *out untouched.
 */
int vcfg_load(const char *path, const struct board *b, struct vcfg *out,
	      char *err, size_t errlen);

void vcfg_free(struct vcfg *c);

/*
 * Make every relative socket path absolute under run_dir ("<run_dir>/<f>")
 * and check that the results fit sun_path and are still unique (an
 * absolute socket may name the same file as a relative one). path is the
 * configuration file's name, for the messages. 0, or -1 with err set and
 * *c unchanged.
 */
int vcfg_resolve_sockets(struct vcfg *c, const char *path,
			 const char *run_dir, char *err, size_t errlen);

/*
 * One line for people about a device: name, transport, socket and mode,
 * MAC, MTU, queues and the offered features by their configuration names.
 * Returns what snprintf() returns.
 */
int vcfg_dev_summary(const struct vcfg_dev *d, char *buf, size_t len);

/*
 * The configuration names of the single features in `features`, joined by
 * ','. Returns what snprintf() returns (the full length wanted).
 */
int vcfg_features_str(unsigned long long features, char *buf, size_t len);

#endif /* VIRTNET_CONFIG_H */
