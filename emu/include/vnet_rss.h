/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vnet_rss — receive-side scaling and per-packet hash calculation of the
 * virtio-net device (virtio 1.3, device-types/net: "Hash calculation for
 * incoming packets", "Supported/enabled hash types", "Hash reporting for
 * incoming packets", "Automatic receive steering in multiqueue mode / Hash
 * calculation" (VIRTIO_NET_CTRL_MQ_HASH_CONFIG) and "Receive-side scaling
 * (RSS)" (VIRTIO_NET_CTRL_MQ_RSS_CONFIG)).
 *
 * What the driver configured lives in a struct vnet_rss:
 *  - vnet_rss_parse_config() decodes the command-specific data of an
 *    RSS_CONFIG or HASH_CONFIG command. The payload is hostile: every
 *    length and value is checked, and a rejected command changes nothing
 *    (the control queue answers VIRTIO_NET_ERR and the previous
 *    configuration stays in force). Accepted, it replaces the whole
 *    configuration: "the last command sent by the driver" defines the
 *    multiqueue mode.
 *  - vnet_rss_classify() parses a received Ethernet frame (hostile too:
 *    every read is checked against its length, every walk is bounded),
 *    computes the Toeplitz hash the enabled hash types call for, and
 *    picks the receive queue through the indirection table.
 *
 * Queue numbers here are receive queue indexes: 0 is receiveq1 (virtqueue
 * 0), n is receiveq(n+1) (virtqueue 2n). That is exactly the spec's
 * rss_rq_id (vq_index_1_16, bits 1-16 of the virtqueue index).
 *
 * Threads: init/reset/disable/parse run on the control thread. classify and
 * hash only read the structure, so datapath lcores may call them on a copy
 * the control thread published (RCU-style, see DESIGN.md) — never on the
 * object parse is writing, because an accepted command is applied field by
 * field.
 *
 * The structure is large (about 38 KiB: the per-key Toeplitz lookup table
 * is 36 KiB): allocate it, do not put it on a stack.
 */
#ifndef VIRTNET_VNET_RSS_H
#define VIRTNET_VNET_RSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hash types (spec: VIRTIO_NET_HASH_TYPE_*; these are the Linux uapi
 * names, with the same values and spelling so the two headers coexist). */
#define VIRTIO_NET_RSS_HASH_TYPE_IPv4   (1 << 0)
#define VIRTIO_NET_RSS_HASH_TYPE_TCPv4  (1 << 1)
#define VIRTIO_NET_RSS_HASH_TYPE_UDPv4  (1 << 2)
#define VIRTIO_NET_RSS_HASH_TYPE_IPv6   (1 << 3)
#define VIRTIO_NET_RSS_HASH_TYPE_TCPv6  (1 << 4)
#define VIRTIO_NET_RSS_HASH_TYPE_UDPv6  (1 << 5)
#define VIRTIO_NET_RSS_HASH_TYPE_IP_EX  (1 << 6)
#define VIRTIO_NET_RSS_HASH_TYPE_TCP_EX (1 << 7)
#define VIRTIO_NET_RSS_HASH_TYPE_UDP_EX (1 << 8)

/* Every hash type this module implements. */
#define VNET_RSS_HASH_TYPES_ALL 0x1ffu

/* hash_report values of struct virtio_net_hdr_v1_hash.
 * VIRTIO_NET_RSS_HASH_TYPE_X == 1 << (VIRTIO_NET_HASH_REPORT_X - 1). */
#define VIRTIO_NET_HASH_REPORT_NONE      0
#define VIRTIO_NET_HASH_REPORT_IPv4      1
#define VIRTIO_NET_HASH_REPORT_TCPv4     2
#define VIRTIO_NET_HASH_REPORT_UDPv4     3
#define VIRTIO_NET_HASH_REPORT_IPv6      4
#define VIRTIO_NET_HASH_REPORT_TCPv6     5
#define VIRTIO_NET_HASH_REPORT_UDPv6     6
#define VIRTIO_NET_HASH_REPORT_IPv6_EX   7
#define VIRTIO_NET_HASH_REPORT_TCPv6_EX  8
#define VIRTIO_NET_HASH_REPORT_UDPv6_EX  9

/* Longest key kept (the device advertises rss_max_key_size; the spec asks
 * for at least 40 and Toeplitz over IPv6 + ports needs 36 + 4 bytes). */
#define VNET_RSS_KEY_MAX 40
/* Most indirection table entries storable; the device's advertised
 * rss_max_indirection_table_length (spec: at least 128 when offering
 * VIRTIO_NET_F_RSS) is given to vnet_rss_init and must not exceed it. */
#define VNET_RSS_TABLE_MAX 512
/* Longest hash input: IPv6 source + destination + two ports. */
#define VNET_RSS_INPUT_MAX 36
/* IPv6 extension headers walked before the packet counts as malformed. */
#define VNET_RSS_MAX_EXT_HDRS 8
/* VLAN tags (802.1Q 0x8100 / 802.1ad 0x88a8) skipped: S-tag + C-tag. */
#define VNET_RSS_MAX_VLAN_TAGS 2

/* Minimum sizes of the two command payloads (no table entry, no key). */
#define VNET_HASH_CONFIG_MIN_LEN 13 /* virtio_net_hash_config */

struct vnet_rss {
	/* true: RSS steering (VIRTIO_NET_CTRL_MQ_RSS_CONFIG accepted) — the
	 * queue comes from the indirection table. false: no steering; the
	 * hash (HASH_CONFIG, for VIRTIO_NET_F_HASH_REPORT) is only reported. */
	bool enabled;
	uint32_t hash_types;         /* enabled VIRTIO_NET_RSS_HASH_TYPE_*; 0: none */
	uint16_t table_len;          /* power of two, 1..table_max */
	uint16_t table_mask;         /* table_len - 1 */
	uint16_t unclassified_queue; /* receive queue index */
	uint16_t max_tx_vq;          /* transmit queues the driver may use */
	uint16_t table_max;          /* capacity given to vnet_rss_init */
	uint8_t key_len;             /* bytes of key in use; the rest read as 0 */
	uint8_t key[VNET_RSS_KEY_MAX];
	uint16_t table[VNET_RSS_TABLE_MAX]; /* receive queue indexes */
	/* lut[i][v]: Toeplitz contribution of byte value v at input offset i
	 * under key, rebuilt whenever the key changes (hot path). */
	uint32_t lut[VNET_RSS_INPUT_MAX][256];
};

/* The Toeplitz hash of in[0..len) under key (Microsoft RSS, virtio
 * VIRTIO_NET_F_RSS): for each input bit, most significant first, set bits
 * XOR in the 32 key bits that start at the same bit offset. Key bits past
 * key_len read as zero, so any key_len and len are accepted. This is the
 * reference bit loop (a 64-bit key window, no per-key state);
 * vnet_rss_hash() is the table-driven fast path. */
uint32_t vnet_toeplitz(const uint8_t *key, size_t key_len, const uint8_t *in,
		       size_t len);

/* Defaults as after a device reset: steering off, no hash type, empty key,
 * a one-entry table pointing at receiveq1, unclassified queue 0,
 * max_tx_vq 1. table_max is the advertised rss_max_indirection_table_length
 * (1..VNET_RSS_TABLE_MAX); -EINVAL otherwise. */
int vnet_rss_init(struct vnet_rss *r, uint16_t table_max);

/* Device reset: back to the defaults of vnet_rss_init (same table_max);
 * the key is wiped. */
void vnet_rss_reset(struct vnet_rss *r);

/* VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET after RSS_CONFIG: the last command
 * defines the mode, so steering stops (enabled = false); the hash types and
 * key stay for hash reporting. */
void vnet_rss_disable(struct vnet_rss *r);

/*
 * Decode the command-specific data of VIRTIO_NET_CTRL_MQ_RSS_CONFIG
 * (rss_command: struct virtio_net_rss_config) or
 * VIRTIO_NET_CTRL_MQ_HASH_CONFIG (!rss_command: struct
 * virtio_net_hash_config), little-endian, len bytes exactly. buf should
 * be the device's own copy of the command; even so every field is read
 * once, and what is checked is what gets applied.
 *
 * Device limits: max_pairs = max_virtqueue_pairs (1..0x8000),
 * max_table_len = rss_max_indirection_table_length (1..r->table_max),
 * max_key_len = rss_max_key_size (<= VNET_RSS_KEY_MAX), supported_types =
 * supported_hash_types. Limits out of range are a caller bug: -EINVAL.
 *
 * Returns 0, or, changing nothing in *r:
 *   -EMSGSIZE   len is not exactly the structure its own counts describe
 *               (too short for the fixed part, the table or the key, or
 *               trailing bytes);
 *   -EINVAL     table length (indirection_table_mask + 1) not a power of
 *               two or above max_table_len; key longer than max_key_len;
 *               hash types enabled with an empty key;
 *   -EOPNOTSUPP a hash type not in supported_types (or not defined);
 *   -ERANGE     a queue (unclassified_queue or a table entry, whose
 *               reserved bit 15 counts as part of the value) >= max_pairs;
 *               max_tx_vq 0 or > max_pairs.
 * HASH_CONFIG's reserved words are ignored, not checked: Linux before
 * commit 2c507ce90e02 ("virtio-net: Zero max_tx_vq field for
 * VIRTIO_NET_CTRL_MQ_HASH_CONFIG case") sent max_tx_vq there. An accepted
 * HASH_CONFIG turns steering off and leaves max_tx_vq as it was.
 */
int vnet_rss_parse_config(struct vnet_rss *r, const void *buf, size_t len,
			  uint16_t max_pairs, uint16_t max_table_len,
			  uint8_t max_key_len, uint32_t supported_types,
			  bool rss_command);

/* Table-driven Toeplitz under r's key; equals vnet_toeplitz(r->key,
 * r->key_len, in, len) for every input. */
uint32_t vnet_rss_hash(const struct vnet_rss *r, const uint8_t *in,
		       size_t len);

/*
 * Classify one received Ethernet frame (frame[0..len), destination MAC
 * first, no virtio header). *hash and *report (either may be NULL) get the
 * hash and its VIRTIO_NET_HASH_REPORT_* type, or 0 and
 * VIRTIO_NET_HASH_REPORT_NONE when no enabled type applies.
 *
 * Returns the receive queue index: with steering on, table[hash & mask], or
 * unclassified_queue when no hash was calculated; with steering off, 0
 * (receiveq1 — the caller's own automatic steering may override it).
 *
 * Parsing: up to VNET_RSS_MAX_VLAN_TAGS tags; IPv4 with options (IHL < 5,
 * a header past the frame or a version other than 4: no hash); IPv6 with
 * up to VNET_RSS_MAX_EXT_HDRS extension headers. TCP/UDP count as present
 * only when their whole fixed header (20/8 bytes) is in the frame and the
 * packet is not a fragment: every fragment, the first one included, hashes
 * as IP only, so all fragments of a datagram stay on one queue. Bounds come
 * from the frame length, not from the IP length fields.
 *
 * Selection, in the spec's order:
 *   IPv4:  TCPv4 (TCP) > UDPv4 (UDP) > IPv4 > none.
 *   IPv6 with extension headers: TCP_EX (TCP) > UDP_EX (UDP) > IP_EX,
 *          over the home address (destination options, option 0xC9) in
 *          place of the source and the type 2 routing header's address in
 *          place of the destination, each when present; else as without.
 *   IPv6 without: TCPv6 (TCP) > UDPv6 (UDP) > IPv6 > none. The _EX types
 *          do not apply to a packet without extension headers (the spec
 *          lists them only for packets with; QEMU applies them to both).
 *   An IPv6 extension header chain that runs off the frame or is longer
 *   than the bound: IPv6 over the fixed header's addresses, or none.
 */
int vnet_rss_classify(const struct vnet_rss *r, const uint8_t *frame,
		      size_t len, uint32_t *hash, uint8_t *report);

/* The flow key automatic receive steering uses (vnet_dp): a hash of the
 * IPv4/IPv6 addresses and, when the whole header is there and the packet is
 * not a fragment, the TCP/UDP ports, parsed as vnet_rss_classify does
 * (IPv6 extension headers skipped); equal for both directions of a flow.
 * false (no key) for anything else. */
bool vnet_flow_key(const uint8_t *frame, uint32_t len, uint32_t *key);

#endif /* VIRTNET_VNET_RSS_H */
