/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtio-net device model's control plane (virtio 1.3, device-types/net):
 * provisioning checks, feature-bit requirements, the configuration layout,
 * the control virtqueue and the RX filter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hal_log.h"
#include "virtio_net.h"

#define COMP "vnet"

#define F(b) VNET_F(b)

/* ---- little-endian fields in device memory (commands, config) --------- */
static inline uint16_t rd_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t rd_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t rd_le64(const uint8_t *p)
{
	return (uint64_t)rd_le32(p) | (uint64_t)rd_le32(p + 4) << 32;
}

static inline void wr_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void wr_le32(uint8_t *p, uint32_t v)
{
	wr_le16(p, (uint16_t)v);
	wr_le16(p + 2, (uint16_t)(v >> 16));
}

static inline bool mac_is_group(const uint8_t *m) { return m[0] & 1; }

static inline bool mac_is_zero(const uint8_t *m)
{
	return !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]);
}

static inline bool mac_is_bcast(const uint8_t *m)
{
	return (m[0] & m[1] & m[2] & m[3] & m[4] & m[5]) == 0xff;
}

/* ---- feature bit requirements (5.1.3.1) ---------------------------------- */
static const struct feature_req {
	uint8_t bit;
	uint64_t all; /* every one of these */
	uint64_t any; /* and, when non-zero, at least one of these */
	const char *why;
} feature_reqs[] = {
	{ VIRTIO_NET_F_GUEST_TSO4, F(VIRTIO_NET_F_GUEST_CSUM), 0, "GUEST_TSO4 requires GUEST_CSUM" },
	{ VIRTIO_NET_F_GUEST_TSO6, F(VIRTIO_NET_F_GUEST_CSUM), 0, "GUEST_TSO6 requires GUEST_CSUM" },
	{ VIRTIO_NET_F_GUEST_ECN, 0, F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6),
	  "GUEST_ECN requires GUEST_TSO4 or GUEST_TSO6" },
	{ VIRTIO_NET_F_GUEST_UFO, F(VIRTIO_NET_F_GUEST_CSUM), 0, "GUEST_UFO requires GUEST_CSUM" },
	{ VIRTIO_NET_F_GUEST_USO4, F(VIRTIO_NET_F_GUEST_CSUM), 0, "GUEST_USO4 requires GUEST_CSUM" },
	{ VIRTIO_NET_F_GUEST_USO6, F(VIRTIO_NET_F_GUEST_CSUM), 0, "GUEST_USO6 requires GUEST_CSUM" },
	{ VIRTIO_NET_F_HOST_TSO4, F(VIRTIO_NET_F_CSUM), 0, "HOST_TSO4 requires CSUM" },
	{ VIRTIO_NET_F_HOST_TSO6, F(VIRTIO_NET_F_CSUM), 0, "HOST_TSO6 requires CSUM" },
	{ VIRTIO_NET_F_HOST_ECN, 0, F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6),
	  "HOST_ECN requires HOST_TSO4 or HOST_TSO6" },
	{ VIRTIO_NET_F_HOST_UFO, F(VIRTIO_NET_F_CSUM), 0, "HOST_UFO requires CSUM" },
	{ VIRTIO_NET_F_HOST_USO, F(VIRTIO_NET_F_CSUM), 0, "HOST_USO requires CSUM" },
	{ VIRTIO_NET_F_CTRL_RX, F(VIRTIO_NET_F_CTRL_VQ), 0, "CTRL_RX requires CTRL_VQ" },
	{ VIRTIO_NET_F_CTRL_VLAN, F(VIRTIO_NET_F_CTRL_VQ), 0, "CTRL_VLAN requires CTRL_VQ" },
	{ VIRTIO_NET_F_GUEST_ANNOUNCE, F(VIRTIO_NET_F_CTRL_VQ), 0, "GUEST_ANNOUNCE requires CTRL_VQ" },
	{ VIRTIO_NET_F_MQ, F(VIRTIO_NET_F_CTRL_VQ), 0, "MQ requires CTRL_VQ" },
	{ VIRTIO_NET_F_CTRL_MAC_ADDR, F(VIRTIO_NET_F_CTRL_VQ), 0, "CTRL_MAC_ADDR requires CTRL_VQ" },
	{ VIRTIO_NET_F_NOTF_COAL, F(VIRTIO_NET_F_CTRL_VQ), 0, "NOTF_COAL requires CTRL_VQ" },
	/* As the requirement table has it; the receive-processing text says
	 * RSC_EXT implies GUEST_TSO4 or GUEST_TSO6. Never offered here. */
	{ VIRTIO_NET_F_RSC_EXT, 0, F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6),
	  "RSC_EXT requires HOST_TSO4 or HOST_TSO6" },
	{ VIRTIO_NET_F_RSS, F(VIRTIO_NET_F_CTRL_VQ), 0, "RSS requires CTRL_VQ" },
	{ VIRTIO_NET_F_VQ_NOTF_COAL, F(VIRTIO_NET_F_CTRL_VQ), 0, "VQ_NOTF_COAL requires CTRL_VQ" },
	{ VIRTIO_NET_F_HASH_TUNNEL, F(VIRTIO_NET_F_CTRL_VQ),
	  F(VIRTIO_NET_F_RSS) | F(VIRTIO_NET_F_HASH_REPORT),
	  "HASH_TUNNEL requires CTRL_VQ and RSS or HASH_REPORT" },
	/* RSS_CONTEXT (64) requires CTRL_VQ and RSS: beyond 64 feature bits. */
};

int vnet_features_check(uint64_t f, const char **why)
{
	for (size_t i = 0; i < sizeof(feature_reqs) / sizeof(feature_reqs[0]); i++) {
		const struct feature_req *r = &feature_reqs[i];

		if (!(f & F(r->bit)))
			continue;
		if ((f & r->all) != r->all || (r->any && !(f & r->any))) {
			if (why)
				*why = r->why;
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- provisioning ---------------------------------------------------------- */
void vnet_params_default(struct vnet_params *p)
{
	static const uint8_t mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

	memset(p, 0, sizeof(*p));
	p->features = VDEV_BIT(VIRTIO_F_VERSION_1) | VDEV_BIT(VIRTIO_F_EVENT_IDX) |
		      VDEV_BIT(VIRTIO_F_INDIRECT_DESC) | VDEV_BIT(VIRTIO_F_RING_PACKED) |
		      F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MTU) |
		      F(VIRTIO_NET_F_SPEED_DUPLEX) | F(VIRTIO_NET_F_CTRL_VQ) |
		      F(VIRTIO_NET_F_CTRL_RX) | F(VIRTIO_NET_F_CTRL_RX_EXTRA) |
		      F(VIRTIO_NET_F_CTRL_VLAN) | F(VIRTIO_NET_F_CTRL_MAC_ADDR) |
		      F(VIRTIO_NET_F_GUEST_ANNOUNCE);
	memcpy(p->mac, mac, 6);
	p->mtu = 1500;
	p->max_queue_pairs = 1;
	p->max_queue_size = 256;
	p->speed = VNET_SPEED_UNKNOWN;
	p->duplex = VNET_DUPLEX_UNKNOWN;
	p->link_up = true;
	p->rss_max_table_len = 128;
	p->hash_types = VNET_RSS_HASH_TYPES_ALL;
}

int vnet_params_validate(const struct vnet_params *p, const char **why)
{
	const char *w = NULL;
	uint64_t f = p->features;

	if (f & ~VNET_SUPPORTED_FEATURES)
		w = "a feature that is not supported is offered";
	else if (!(f & VDEV_BIT(VIRTIO_F_VERSION_1)))
		w = "VERSION_1 is not offered";
	else if (vnet_features_check(f, &w))
		; /* w says which */
	else if ((f & F(VIRTIO_NET_F_HASH_REPORT)) && !(f & F(VIRTIO_NET_F_CTRL_VQ)))
		w = "HASH_REPORT without CTRL_VQ (a device SHOULD NOT offer it)";
	else if ((f & F(VIRTIO_NET_F_CTRL_RX_EXTRA)) && !(f & F(VIRTIO_NET_F_CTRL_VQ)))
		w = "CTRL_RX_EXTRA without CTRL_VQ (a device SHOULD NOT offer it)";
	else if ((f & F(VIRTIO_NET_F_STANDBY)) && !(f & F(VIRTIO_NET_F_MAC)))
		w = "STANDBY without MAC (a standby shares the primary's MAC)";
	else if ((f & F(VIRTIO_NET_F_GUEST_ANNOUNCE)) && !(f & F(VIRTIO_NET_F_STATUS)))
		w = "GUEST_ANNOUNCE without STATUS (the ANNOUNCE bit lives in status)";
	else if (p->max_queue_pairs == 0 || p->max_queue_pairs > VNET_MAX_QUEUE_PAIRS)
		w = "max_queue_pairs out of range";
	else if (p->max_queue_pairs > 1 &&
		 !(f & (F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_RSS))))
		w = "more than one queue pair without MQ or RSS";
	else if (p->max_queue_size == 0 || p->max_queue_size > VQ_MAX_SIZE ||
		 (p->max_queue_size & (p->max_queue_size - 1)))
		w = "max_queue_size not a power of two in 1..32768";
	else if ((f & F(VIRTIO_NET_F_MAC)) && (mac_is_group(p->mac) || mac_is_zero(p->mac)))
		w = "mac is not a unicast address";
	else if ((f & F(VIRTIO_NET_F_MTU)) && p->mtu < 68)
		w = "mtu below 68";
	else if ((f & F(VIRTIO_NET_F_SPEED_DUPLEX)) && p->speed > 0x7fffffffu &&
		 p->speed != VNET_SPEED_UNKNOWN)
		w = "speed out of range";
	else if ((f & F(VIRTIO_NET_F_SPEED_DUPLEX)) && p->duplex != VNET_DUPLEX_HALF &&
		 p->duplex != VNET_DUPLEX_FULL && p->duplex != VNET_DUPLEX_UNKNOWN)
		w = "duplex not half, full or unknown";
	else if ((f & F(VIRTIO_NET_F_RSS)) &&
		 (p->rss_max_table_len < 128 || p->rss_max_table_len > VNET_RSS_TABLE_MAX))
		w = "rss_max_table_len out of 128..VNET_RSS_TABLE_MAX";
	else if ((f & (F(VIRTIO_NET_F_RSS) | F(VIRTIO_NET_F_HASH_REPORT))) &&
		 (p->hash_types & ~(uint32_t)VNET_RSS_HASH_TYPES_ALL))
		w = "hash_types has a type that is not implemented";
	if (why)
		*why = w;
	return w ? -EINVAL : 0;
}

/* ---- state ------------------------------------------------------------------ */
static uint16_t data_pairs(const struct vnet_dev *n)
{
	/* "Virtqueues": N = max_virtqueue_pairs with MQ or RSS, else 1. */
	return vdev_has(&n->vdev, VIRTIO_NET_F_MQ) || vdev_has(&n->vdev, VIRTIO_NET_F_RSS)
		       ? n->p.max_queue_pairs : 1;
}

static void apply(struct vnet_dev *n, unsigned what)
{
	if (what && n->hooks && n->hooks->apply)
		n->hooks->apply(n, what);
}

/* Device reset: everything the driver configured goes. The link state is
 * the device's and stays. */
static void reset_state(struct vnet_dev *n)
{
	memset(&n->filter, 0, sizeof(n->filter));
	memcpy(n->filter.mac, n->p.mac, 6);
	/* Promiscuous until the driver says otherwise, as QEMU does "for
	 * compatibility": Linux, DPDK and NetKVM send PROMISC explicitly when
	 * they bring the interface up; a driver that never does still gets
	 * its traffic (it may use a MAC the device does not know). */
	n->filter.promisc = true;
	n->status &= VIRTIO_NET_S_LINK_UP;
	n->curr_pairs = 1;
	if (n->rss)
		vnet_rss_reset(n->rss);
	n->guest_offloads = 0;
	memset(&n->tx_coal, 0, sizeof(n->tx_coal));
	memset(&n->rx_coal, 0, sizeof(n->rx_coal));
	if (n->vq_coal)
		memset(n->vq_coal, 0, 2u * n->p.max_queue_pairs * sizeof(*n->vq_coal));
}

/* ---- vdev_ops --------------------------------------------------------------- */
static int op_validate_features(struct vdev *d, uint64_t f)
{
	struct vnet_dev *n = d->priv;
	const char *why = NULL;

	if (vnet_features_check(f, &why)) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: FEATURES_OK refused: %s", d->name, why);
		return -EINVAL;
	}
	/* Accepted (virtio_dev sets FEATURES_OK next): the state that
	 * follows from the negotiated set. */
	n->filter.mac_filter = f & F(VIRTIO_NET_F_CTRL_RX);
	n->filter.vlan_filter = f & F(VIRTIO_NET_F_CTRL_VLAN);
	/* "Upon feature negotiation corresponding offload gets enabled." */
	n->guest_offloads = f & VNET_GUEST_OFFLOADS;
	return 0;
}

/* The configuration as the driver sees it now; returns its length. */
static uint32_t build_config(const struct vnet_dev *n, uint8_t cfg[VNET_CFG_SIZE])
{
	uint64_t f = n->vdev.device_features;
	uint32_t end = VNET_CFG_STATUS; /* mac always exists */

	memset(cfg, 0, VNET_CFG_SIZE);
	/* "only valid if VIRTIO_NET_F_MAC is set": zeros otherwise. */
	if (f & F(VIRTIO_NET_F_MAC))
		memcpy(cfg + VNET_CFG_MAC, n->filter.mac, 6);
	if (f & F(VIRTIO_NET_F_STATUS)) {
		wr_le16(cfg + VNET_CFG_STATUS, n->status);
		end = VNET_CFG_MAX_VQ_PAIRS;
	}
	if (f & (F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_RSS))) {
		wr_le16(cfg + VNET_CFG_MAX_VQ_PAIRS, n->p.max_queue_pairs);
		end = VNET_CFG_MTU;
	}
	if (f & F(VIRTIO_NET_F_MTU)) {
		wr_le16(cfg + VNET_CFG_MTU, n->p.mtu);
		end = VNET_CFG_SPEED;
	}
	if (f & F(VIRTIO_NET_F_SPEED_DUPLEX)) {
		wr_le32(cfg + VNET_CFG_SPEED, n->p.speed);
		cfg[VNET_CFG_DUPLEX] = n->p.duplex;
		end = VNET_CFG_RSS_MAX_KEY;
	}
	if (f & (F(VIRTIO_NET_F_RSS) | F(VIRTIO_NET_F_HASH_REPORT))) {
		cfg[VNET_CFG_RSS_MAX_KEY] = VNET_RSS_KEY_MAX;
		end = VNET_CFG_RSS_MAX_TABLE;
	}
	if (f & F(VIRTIO_NET_F_RSS)) {
		wr_le16(cfg + VNET_CFG_RSS_MAX_TABLE, n->p.rss_max_table_len);
		end = VNET_CFG_HASH_TYPES;
	}
	if (f & (F(VIRTIO_NET_F_RSS) | F(VIRTIO_NET_F_HASH_REPORT))) {
		wr_le32(cfg + VNET_CFG_HASH_TYPES, n->p.hash_types);
		end = VNET_CFG_TUNNEL_TYPES;
	}
	/* supported_tunnel_types: HASH_TUNNEL is never offered. */
	return end;
}

uint32_t vnet_config_len(const struct vnet_dev *n)
{
	uint8_t cfg[VNET_CFG_SIZE];

	return build_config(n, cfg);
}

/* Any offset and width: the bytes inside the layout, zeros past it
 * (virtio_dev zeroed buf). */
static void op_config_read(struct vdev *d, uint32_t off, void *buf, uint32_t len)
{
	struct vnet_dev *n = d->priv;
	uint8_t cfg[VNET_CFG_SIZE];
	uint32_t end = build_config(n, cfg);

	if (!buf || off >= end)
		return;
	uint32_t cnt = end - off;
	if (cnt > len)
		cnt = len;
	memcpy(buf, cfg + off, cnt);
}

static void op_config_write(struct vdev *d, uint32_t off, const void *buf, uint32_t len)
{
	(void)buf;
	/* 5.1.4: read-only for the driver ("MUST NOT write"). Legacy mac
	 * writes are not supported (no legacy interface). */
	HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: driver wrote %u bytes of device configuration at %u: ignored",
		   d->name, len, off);
}

static void op_start(struct vdev *d)
{
	struct vnet_dev *n = d->priv;

	if (n->hooks && n->hooks->start)
		n->hooks->start(n);
}

static void op_quiesce(struct vdev *d)
{
	struct vnet_dev *n = d->priv;

	/* Nothing processes the control queue while the reset is pending
	 * (vdev resetting), so the state can go back to defaults now. */
	reset_state(n);
	if (n->hooks && n->hooks->quiesce)
		n->hooks->quiesce(n); /* answers with vdev_quiesced() */
	else
		vdev_quiesced(d);
}

static void op_quiesce_queue(struct vdev *d, uint16_t q)
{
	struct vnet_dev *n = d->priv;

	/* "Upon disabling and re-enabling a transmit (receive) virtqueue, the
	 * device MUST set the coalescing parameters of the virtqueue to
	 * those configured through TX_SET (RX_SET), or 0." */
	if (q < 2u * n->p.max_queue_pairs)
		n->vq_coal[q] = (q & 1) ? n->tx_coal : n->rx_coal;
	if (n->hooks && n->hooks->quiesce_queue)
		n->hooks->quiesce_queue(n, q);
	else
		vdev_queue_quiesced(d, q);
}

static void op_config_irq(struct vdev *d)
{
	struct vnet_dev *n = d->priv;

	if (n->hooks && n->hooks->config_irq)
		n->hooks->config_irq(n);
}

static const struct vdev_ops vnet_vdev_ops = {
	.validate_features = op_validate_features,
	.config_read = op_config_read,
	.config_write = op_config_write,
	.start = op_start,
	.quiesce = op_quiesce,
	.quiesce_queue = op_quiesce_queue,
	.config_irq = op_config_irq,
};

/* ---- life cycle -------------------------------------------------------------- */
void vnet_fini(struct vnet_dev *n)
{
	vdev_fini(&n->vdev);
	free(n->rss);
	free(n->vq_coal);
	free(n->qstats);
	free(n->ctrl_segs);
	memset(n, 0, sizeof(*n));
}

int vnet_init(struct vnet_dev *n, const struct vnet_params *p,
	      struct dma_space *dma, const char *name)
{
	const char *why = NULL;
	uint16_t nq;
	int rc;

	memset(n, 0, sizeof(*n));
	if (!p || vnet_params_validate(p, &why)) {
		HAL_LOG(HAL_LOG_ERR, COMP, "%s: provisioning refused: %s",
			name ? name : "vnet", why ? why : "no parameters");
		return -EINVAL;
	}
	n->p = *p;
	nq = (uint16_t)(2u * p->max_queue_pairs +
			((p->features & F(VIRTIO_NET_F_CTRL_VQ)) ? 1 : 0));
	rc = vdev_init(&n->vdev, &vnet_vdev_ops, n, dma, p->features, nq,
		       p->max_queue_size, name);
	if (rc)
		goto fail;
	rc = -ENOMEM;
	n->vq_coal = calloc(2u * p->max_queue_pairs, sizeof(*n->vq_coal));
	size_t qs = ((size_t)nq * sizeof(*n->qstats) + 63) & ~(size_t)63;
	n->qstats = aligned_alloc(64, qs);
	if (!n->vq_coal || !n->qstats)
		goto fail;
	memset(n->qstats, 0, qs);
	if (p->features & F(VIRTIO_NET_F_CTRL_VQ)) {
		/* vq_pop_burst wants room for any legal chain. */
		n->ctrl_nsegs = p->max_queue_size;
		n->ctrl_segs = calloc(n->ctrl_nsegs, sizeof(*n->ctrl_segs));
		if (!n->ctrl_segs)
			goto fail;
	}
	if (p->features & (F(VIRTIO_NET_F_RSS) | F(VIRTIO_NET_F_HASH_REPORT))) {
		n->rss = calloc(1, sizeof(*n->rss));
		if (!n->rss)
			goto fail;
		rc = vnet_rss_init(n->rss, (p->features & F(VIRTIO_NET_F_RSS))
					   ? p->rss_max_table_len : 1);
		if (rc)
			goto fail;
	}
	n->status = p->link_up ? VIRTIO_NET_S_LINK_UP : 0;
	reset_state(n);
	return 0;
fail:
	vnet_fini(n);
	return rc;
}

void vnet_set_hooks(struct vnet_dev *n, const struct vnet_hooks *h, void *ctx)
{
	n->hooks = h;
	n->hooks_ctx = ctx;
}

int vnet_ctrl_queue_index(const struct vnet_dev *n)
{
	if (!vdev_has(&n->vdev, VIRTIO_NET_F_CTRL_VQ))
		return -1;
	return 2 * data_pairs(n);
}

/* ---- RX filter ----------------------------------------------------------------- */
static bool in_table(const uint8_t (*t)[6], uint16_t cnt, const uint8_t *mac)
{
	if (cnt > VNET_MAC_TABLE_MAX)
		cnt = VNET_MAC_TABLE_MAX; /* a published copy is still bounded */
	for (uint16_t i = 0; i < cnt; i++)
		if (!memcmp(t[i], mac, 6))
			return true;
	return false;
}

bool vnet_rx_filter_accept(const struct vnet_rx_filter *f, const uint8_t *fr,
			   size_t len)
{
	if (!f || !fr || len < 14)
		return false; /* not even an Ethernet header */
	/* "If promiscuous mode is on, the device SHOULD receive all incoming
	 * packets", whatever the other modes and the VLAN table say. */
	if (f->mac_filter && f->promisc)
		return true;
	/* VLAN table: only for tagged frames (outermost 802.1Q tag). VID 0
	 * is a priority tag (802.1Q: the frame belongs to the port's VLAN),
	 * treated as untagged. */
	if (f->vlan_filter && fr[12] == 0x81 && fr[13] == 0x00) {
		if (len < 18)
			return false;
		uint16_t vid = (uint16_t)((fr[14] << 8 | fr[15]) & 0xfff);
		if (vid && !((f->vlans[vid >> 6] >> (vid & 63)) & 1))
			return false;
	}
	if (!f->mac_filter)
		return true; /* no CTRL_RX: the driver cannot tell us its addresses */
	if (mac_is_bcast(fr))
		return !f->nobcast; /* NOMULTI does not apply to broadcast */
	if (mac_is_group(fr)) {
		if (f->nomulti)
			return false; /* even with ALLMULTI */
		return f->allmulti || f->mc_overflow || in_table(f->mc, f->n_mc, fr);
	}
	if (f->nouni)
		return false; /* even with ALLUNI */
	return f->alluni || f->uc_overflow || !memcmp(fr, f->mac, 6) ||
	       in_table(f->uc, f->n_uc, fr);
}

/* ---- link and announce ----------------------------------------------------- */
void vnet_set_link(struct vnet_dev *n, bool up)
{
	uint16_t old = n->status;

	if (up)
		n->status |= VIRTIO_NET_S_LINK_UP;
	else
		n->status &= (uint16_t)~VIRTIO_NET_S_LINK_UP;
	if (n->status == old)
		return;
	if (n->vdev.device_features & F(VIRTIO_NET_F_STATUS))
		vdev_config_changed(&n->vdev);
	apply(n, VNET_APPLY_LINK);
}

void vnet_announce(struct vnet_dev *n)
{
	if (!vdev_has(&n->vdev, VIRTIO_NET_F_GUEST_ANNOUNCE) ||
	    !vdev_has(&n->vdev, VIRTIO_NET_F_STATUS))
		return;
	n->status |= VIRTIO_NET_S_ANNOUNCE;
	vdev_config_changed(&n->vdev);
}

/* ---- control queue ----------------------------------------------------------- */

/*
 * Commands of a feature the driver did not negotiate. The spec forbids the
 * driver to send them and says nothing of the device. Linux, DPDK and
 * NetKVM gate every command on its negotiated feature (NetKVM:
 * bCtrlRXFiltersSupported etc. come from AckFeature) and only log an ERR,
 * so this matters for old or odd drivers; the rule is: OK (changing
 * nothing) where the device's behaviour without the feature already is at
 * least what the command asks for, ERR where the answer would be a lie or
 * the command asks for something the device was not provisioned to do.
 * Malformed commands are answered ERR either way.
 *
 *  command                  feature          not negotiated
 *  RX PROMISC, ALLMULTI     CTRL_RX          OK, no effect: without CTRL_RX
 *                                            nothing is filtered, so every
 *                                            mode is satisfied ("these
 *                                            commands are best-effort")
 *  RX ALLUNI, NOMULTI,      CTRL_RX_EXTRA    with CTRL_RX: OK and applied (the
 *     NOUNI, NOBCAST                         device implements them; QEMU
 *                                            applies them too); without
 *                                            CTRL_RX: OK, no effect
 *  MAC TABLE_SET            CTRL_RX          OK, no effect (every address
 *                                            passes without CTRL_RX)
 *  MAC ADDR_SET             CTRL_MAC_ADDR    ERR: changing the address is a
 *                                            right provisioning withheld, and
 *                                            OK would leave frames to the new
 *                                            address filtered. (CTRL_RX is not
 *                                            needed: Linux sends ADDR_SET with
 *                                            CTRL_MAC_ADDR alone.)
 *  VLAN ADD, DEL            CTRL_VLAN        OK, no effect: without CTRL_VLAN
 *                                            the device MUST accept every tag
 *  ANNOUNCE ACK             GUEST_ANNOUNCE   OK, no effect (the bit is never set)
 *  MQ VQ_PAIRS_SET          MQ               ERR (Linux sends it only with MQ)
 *  MQ RSS_CONFIG            RSS              ERR (driver MUST NOT)
 *  MQ HASH_CONFIG           HASH_REPORT      ERR
 *  GUEST_OFFLOADS_SET       CTRL_GUEST_OFFL. ERR
 *  NOTF_COAL TX/RX_SET      NOTF_COAL        ERR (driver MUST have negotiated)
 *  NOTF_COAL VQ_SET/VQ_GET  VQ_NOTF_COAL     ERR (driver MUST have negotiated)
 *  anything else            —                ERR (STATS, HASH_TUNNEL, RSS
 *                                            contexts: never offered)
 */
enum unneg {
	UNNEG_ERR,      /* answer ERR */
	UNNEG_OK,       /* validate, answer OK, change nothing */
	UNNEG_RX_EXTRA, /* applied when CTRL_RX is negotiated, else as UNNEG_OK */
};

struct cmd_ctx {
	struct vnet_dev *n;
	const struct vq *vq;
	const struct vq_chain *c;
	uint8_t cls, cmd;
	uint32_t len;          /* command-specific-data bytes */
	const uint8_t *data;   /* its copy, or NULL when longer than VNET_CTRL_DATA_MAX */
	bool dry;              /* validate only */
	uint8_t res[8];        /* command-specific-result */
	uint32_t res_len;
	unsigned what;         /* VNET_APPLY_* changed */
	const char *why;       /* why ERR, for the log */
};

/* Read data bytes [off, off + cnt) once: from the copy, or from the chain
 * when the command was too long to copy whole. */
static bool data_read(struct cmd_ctx *x, uint32_t off, void *dst, uint32_t cnt)
{
	if (off > x->len || cnt > x->len - off)
		return false;
	if (x->data) {
		memcpy(dst, x->data + off, cnt);
		return true;
	}
	return vq_chain_read(x->vq, x->c, 2 + off, dst, cnt) == cnt;
}

static uint8_t fail(struct cmd_ctx *x, const char *why)
{
	x->why = why;
	return VIRTIO_NET_ERR;
}

static uint8_t h_rx_mode(struct cmd_ctx *x)
{
	struct vnet_rx_filter *f = &x->n->filter;
	bool *mode;

	switch (x->cmd) {
	case VIRTIO_NET_CTRL_RX_PROMISC:  mode = &f->promisc; break;
	case VIRTIO_NET_CTRL_RX_ALLMULTI: mode = &f->allmulti; break;
	case VIRTIO_NET_CTRL_RX_ALLUNI:   mode = &f->alluni; break;
	case VIRTIO_NET_CTRL_RX_NOMULTI:  mode = &f->nomulti; break;
	case VIRTIO_NET_CTRL_RX_NOUNI:    mode = &f->nouni; break;
	case VIRTIO_NET_CTRL_RX_NOBCAST:  mode = &f->nobcast; break;
	default: return fail(x, "unknown RX command");
	}
	/* "0 (off) or 1 (on)"; the Linux uapi: "zero = disable, non-zero =
	 * enable". */
	bool on = x->data[0] != 0;
	if (x->dry)
		return VIRTIO_NET_OK;
	if (*mode != on) {
		*mode = on;
		x->what |= VNET_APPLY_RX_MODE;
	}
	return VIRTIO_NET_OK;
}

/* One virtio_net_ctrl_mac table at data offset *off: entries read into t
 * (when they fit) and checked for the right kind (group or individual). */
static uint8_t read_mac_table(struct cmd_ctx *x, uint32_t *off, bool group,
			      uint8_t (*t)[6], uint16_t *cnt, bool *overflow)
{
	uint8_t b[4];
	uint32_t entries;

	if (!data_read(x, *off, b, 4))
		return fail(x, group ? "no multicast entry count"
				     : "no unicast entry count");
	*off += 4;
	entries = rd_le32(b);
	/* Compare in entries, not bytes: no overflow for any count. */
	if (entries > (x->len - *off) / 6)
		return fail(x, group ? "multicast entries run past the data"
				     : "unicast entries run past the data");
	if (entries > VNET_MAC_TABLE_MAX) {
		/* Too many to keep: the all-fallback; not read (bounded work
		 * whatever the count). */
		*cnt = 0;
		*overflow = true;
	} else {
		if (entries && !data_read(x, *off, t, entries * 6))
			return fail(x, "table unreadable");
		for (uint32_t i = 0; i < entries; i++)
			if (mac_is_group(t[i]) != group)
				return fail(x, group ? "individual address in the multicast table"
						     : "group address in the unicast table");
		*cnt = (uint16_t)entries;
		*overflow = false;
	}
	*off += entries * 6;
	return VIRTIO_NET_OK;
}

static uint8_t h_mac_table(struct cmd_ctx *x)
{
	struct vnet_rx_filter *f = &x->n->filter;
	uint8_t uc[VNET_MAC_TABLE_MAX][6], mc[VNET_MAC_TABLE_MAX][6];
	uint16_t n_uc, n_mc;
	bool uo, mo;
	uint32_t off = 0;

	if (read_mac_table(x, &off, false, uc, &n_uc, &uo) != VIRTIO_NET_OK ||
	    read_mac_table(x, &off, true, mc, &n_mc, &mo) != VIRTIO_NET_OK)
		return VIRTIO_NET_ERR;
	if (off != x->len)
		return fail(x, "trailing bytes after the multicast table");
	if (x->dry)
		return VIRTIO_NET_OK;
	/* All checked: replace both tables at once. */
	memcpy(f->uc, uc, (size_t)n_uc * 6);
	memcpy(f->mc, mc, (size_t)n_mc * 6);
	f->n_uc = n_uc;
	f->n_mc = n_mc;
	f->uc_overflow = uo;
	f->mc_overflow = mo;
	x->what |= VNET_APPLY_MAC_TABLE;
	return VIRTIO_NET_OK;
}

static uint8_t h_mac_addr(struct cmd_ctx *x)
{
	struct vnet_dev *n = x->n;
	const uint8_t *mac = x->data;

	if (mac_is_group(mac) || mac_is_zero(mac))
		return fail(x, "not a unicast address");
	if (x->dry)
		return VIRTIO_NET_OK;
	memcpy(n->filter.mac, mac, 6);
	/* "MUST update mac in config space before it consumes the command"
	 * (shown when MAC is offered). */
	if (n->vdev.device_features & F(VIRTIO_NET_F_MAC))
		vdev_config_touched(&n->vdev);
	x->what |= VNET_APPLY_MAC_ADDR;
	return VIRTIO_NET_OK;
}

static uint8_t h_vlan(struct cmd_ctx *x)
{
	struct vnet_rx_filter *f = &x->n->filter;
	uint16_t vid = rd_le16(x->data);

	/* NetKVM adds and deletes every id from 0 to 4095. */
	if (vid >= VNET_VLAN_MAX)
		return fail(x, "VLAN id above 4095");
	if (x->dry)
		return VIRTIO_NET_OK;
	uint64_t bit = 1ull << (vid & 63), old = f->vlans[vid >> 6];
	if (x->cmd == VIRTIO_NET_CTRL_VLAN_ADD)
		f->vlans[vid >> 6] |= bit;
	else
		f->vlans[vid >> 6] &= ~bit;
	if (f->vlans[vid >> 6] != old)
		x->what |= VNET_APPLY_VLAN;
	return VIRTIO_NET_OK;
}

static uint8_t h_announce_ack(struct cmd_ctx *x)
{
	struct vnet_dev *n = x->n;

	if (x->dry)
		return VIRTIO_NET_OK;
	/* "MUST clear VIRTIO_NET_S_ANNOUNCE ... before marking the buffer as
	 * used". An ack with the bit clear is answered OK too (QEMU: ERR):
	 * clearing a clear bit is done. */
	if (n->status & VIRTIO_NET_S_ANNOUNCE) {
		n->status &= (uint16_t)~VIRTIO_NET_S_ANNOUNCE;
		vdev_config_touched(&n->vdev);
	}
	return VIRTIO_NET_OK;
}

static uint8_t h_mq_pairs(struct cmd_ctx *x)
{
	struct vnet_dev *n = x->n;
	uint16_t pairs = rd_le16(x->data);

	if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > n->p.max_queue_pairs)
		return fail(x, "virtqueue_pairs outside 1..max_virtqueue_pairs");
	if (x->dry)
		return VIRTIO_NET_OK;
	n->curr_pairs = pairs;
	x->what |= VNET_APPLY_MQ;
	/* "the resulting device configuration is defined by the last
	 * command": automatic steering replaces RSS. */
	if (n->rss && n->rss->enabled) {
		vnet_rss_disable(n->rss);
		x->what |= VNET_APPLY_RSS;
	}
	return VIRTIO_NET_OK;
}

static uint8_t h_rss(struct cmd_ctx *x)
{
	struct vnet_dev *n = x->n;
	bool rss_cmd = x->cmd == VIRTIO_NET_CTRL_MQ_RSS_CONFIG;
	int rc;

	/* Only negotiated (UNNEG_ERR): never a dry run. */
	if (!x->data)
		return fail(x, "longer than any RSS/hash configuration");
	rc = vnet_rss_parse_config(n->rss, x->data, x->len, n->p.max_queue_pairs,
				   n->rss->table_max, VNET_RSS_KEY_MAX,
				   n->p.hash_types, rss_cmd);
	switch (rc) {
	case 0:
		break;
	case -EMSGSIZE:
		return fail(x, "length does not match the configuration's own counts");
	case -EOPNOTSUPP:
		return fail(x, "hash type not supported");
	case -ERANGE:
		return fail(x, "queue out of range");
	default:
		return fail(x, "table length or key length invalid");
	}
	x->what |= VNET_APPLY_RSS;
	return VIRTIO_NET_OK;
}

static uint8_t h_offloads(struct cmd_ctx *x)
{
	struct vnet_dev *n = x->n;
	uint64_t v = rd_le64(x->data);
	uint64_t allowed = vdev_features(&n->vdev) & VNET_GUEST_OFFLOADS;

	/* "A driver MUST NOT enable an offload for which the appropriate
	 * feature has not been negotiated." Dependencies between the bits
	 * (TSO without CSUM) are not checked: Linux turns GUEST_CSUM off
	 * alone for "ethtool -K rx off", and vnet_hdr copes. */
	if (v & ~allowed)
		return fail(x, "offload not negotiated");
	n->guest_offloads = v;
	x->what |= VNET_APPLY_OFFLOADS;
	return VIRTIO_NET_OK;
}

/* An enabled transmit or receive virtqueue. */
static bool data_queue_enabled(const struct vnet_dev *n, uint32_t q)
{
	const struct vdev *d = &n->vdev;

	return q < 2u * data_pairs(n) && q < d->num_queues && d->q[q].enabled &&
	       !d->q[q].resetting;
}

static void coal_read(struct vnet_coal *c, const uint8_t *p)
{
	c->max_packets = rd_le32(p);
	c->max_usecs = rd_le32(p + 4);
}

static uint8_t h_coal_set(struct cmd_ctx *x)
{
	struct vnet_dev *n = x->n;
	bool tx = x->cmd == VIRTIO_NET_CTRL_NOTF_COAL_TX_SET;
	struct vnet_coal c;

	coal_read(&c, x->data);
	if (tx)
		n->tx_coal = c;
	else
		n->rx_coal = c;
	/* Every transmit (odd) or receive (even) queue. */
	for (uint32_t q = tx ? 1 : 0; q < 2u * n->p.max_queue_pairs; q += 2)
		n->vq_coal[q] = c;
	x->what |= VNET_APPLY_COAL;
	return VIRTIO_NET_OK;
}

static uint8_t h_coal_vq_set(struct cmd_ctx *x)
{
	struct vnet_dev *n = x->n;
	uint16_t q = rd_le16(x->data); /* reserved (data + 2) is ignored */

	if (!data_queue_enabled(n, q))
		return fail(x, "not an enabled transmit or receive queue");
	coal_read(&n->vq_coal[q], x->data + 4);
	x->what |= VNET_APPLY_COAL;
	return VIRTIO_NET_OK;
}

static uint8_t h_coal_vq_get(struct cmd_ctx *x)
{
	struct vnet_dev *n = x->n;
	uint16_t q = rd_le16(x->data);

	if (!data_queue_enabled(n, q))
		return fail(x, "not an enabled transmit or receive queue");
	if (x->c->wlen < 1 + 8)
		return fail(x, "no room for the result");
	wr_le32(x->res, n->vq_coal[q].max_packets);
	wr_le32(x->res + 4, n->vq_coal[q].max_usecs);
	x->res_len = 8;
	return VIRTIO_NET_OK;
}

/* The command table: each entry states its feature, its policy when that
 * feature was not negotiated, and its data length (-1: variable, the
 * handler checks). */
static const struct ctrl_cmd {
	uint8_t cls, cmd;
	const char *name;
	uint8_t feature;
	uint8_t unneg;        /* enum unneg */
	int32_t len;
	uint8_t (*fn)(struct cmd_ctx *x);
} ctrl_cmds[] = {
	{ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, "RX_PROMISC",
	  VIRTIO_NET_F_CTRL_RX, UNNEG_OK, 1, h_rx_mode },
	{ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, "RX_ALLMULTI",
	  VIRTIO_NET_F_CTRL_RX, UNNEG_OK, 1, h_rx_mode },
	{ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLUNI, "RX_ALLUNI",
	  VIRTIO_NET_F_CTRL_RX_EXTRA, UNNEG_RX_EXTRA, 1, h_rx_mode },
	{ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOMULTI, "RX_NOMULTI",
	  VIRTIO_NET_F_CTRL_RX_EXTRA, UNNEG_RX_EXTRA, 1, h_rx_mode },
	{ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOUNI, "RX_NOUNI",
	  VIRTIO_NET_F_CTRL_RX_EXTRA, UNNEG_RX_EXTRA, 1, h_rx_mode },
	{ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, "RX_NOBCAST",
	  VIRTIO_NET_F_CTRL_RX_EXTRA, UNNEG_RX_EXTRA, 1, h_rx_mode },
	{ VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, "MAC_TABLE_SET",
	  VIRTIO_NET_F_CTRL_RX, UNNEG_OK, -1, h_mac_table },
	{ VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, "MAC_ADDR_SET",
	  VIRTIO_NET_F_CTRL_MAC_ADDR, UNNEG_ERR, 6, h_mac_addr },
	{ VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, "VLAN_ADD",
	  VIRTIO_NET_F_CTRL_VLAN, UNNEG_OK, 2, h_vlan },
	{ VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL, "VLAN_DEL",
	  VIRTIO_NET_F_CTRL_VLAN, UNNEG_OK, 2, h_vlan },
	{ VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, "ANNOUNCE_ACK",
	  VIRTIO_NET_F_GUEST_ANNOUNCE, UNNEG_OK, 0, h_announce_ack },
	{ VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "MQ_VQ_PAIRS_SET",
	  VIRTIO_NET_F_MQ, UNNEG_ERR, 2, h_mq_pairs },
	{ VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, "MQ_RSS_CONFIG",
	  VIRTIO_NET_F_RSS, UNNEG_ERR, -1, h_rss },
	{ VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_HASH_CONFIG, "MQ_HASH_CONFIG",
	  VIRTIO_NET_F_HASH_REPORT, UNNEG_ERR, -1, h_rss },
	{ VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET,
	  "GUEST_OFFLOADS_SET", VIRTIO_NET_F_CTRL_GUEST_OFFLOADS, UNNEG_ERR, 8, h_offloads },
	{ VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_TX_SET, "NOTF_COAL_TX_SET",
	  VIRTIO_NET_F_NOTF_COAL, UNNEG_ERR, 8, h_coal_set },
	{ VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_RX_SET, "NOTF_COAL_RX_SET",
	  VIRTIO_NET_F_NOTF_COAL, UNNEG_ERR, 8, h_coal_set },
	{ VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET, "NOTF_COAL_VQ_SET",
	  VIRTIO_NET_F_VQ_NOTF_COAL, UNNEG_ERR, 12, h_coal_vq_set },
	{ VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_GET, "NOTF_COAL_VQ_GET",
	  VIRTIO_NET_F_VQ_NOTF_COAL, UNNEG_ERR, 4, h_coal_vq_get },
};

static const struct ctrl_cmd *ctrl_lookup(uint8_t cls, uint8_t cmd)
{
	for (size_t i = 0; i < sizeof(ctrl_cmds) / sizeof(ctrl_cmds[0]); i++)
		if (ctrl_cmds[i].cls == cls && ctrl_cmds[i].cmd == cmd)
			return &ctrl_cmds[i];
	return NULL;
}

/* Decode, check and apply one command; the answer goes in ack / x->res. */
static uint8_t ctrl_exec(struct cmd_ctx *x, uint8_t *buf)
{
	struct vnet_dev *n = x->n;
	const struct vq_chain *c = x->c;
	const struct ctrl_cmd *e;
	uint8_t hdr[2];

	if (c->rlen < 2)
		return fail(x, "shorter than class and command");
	if (vq_chain_read(x->vq, c, 0, hdr, 2) != 2)
		return fail(x, "header unreadable");
	x->cls = hdr[0];
	x->cmd = hdr[1];
	x->len = c->rlen - 2;
	e = ctrl_lookup(x->cls, x->cmd);
	if (!e)
		return fail(x, "unknown class or command");
	bool negotiated = vdev_has(&n->vdev, e->feature);
	if (!negotiated) {
		n->ctrl.unnegotiated++;
		if (e->unneg == UNNEG_ERR)
			return fail(x, "its feature was not negotiated");
		x->dry = !(e->unneg == UNNEG_RX_EXTRA &&
			   vdev_has(&n->vdev, VIRTIO_NET_F_CTRL_RX));
	}
	if (e->len >= 0 && x->len != (uint32_t)e->len)
		return fail(x, x->len < (uint32_t)e->len ? "data shorter than the command's"
							 : "data longer than the command's");
	/* Every byte once, into device memory, before it is looked at. */
	if (x->len <= VNET_CTRL_DATA_MAX) {
		if (x->len && vq_chain_read(x->vq, c, 2, buf, x->len) != x->len)
			return fail(x, "data unreadable");
		x->data = buf;
	}
	return e->fn(x);
}

static void ctrl_one(struct vnet_dev *n, const struct vq *vq,
		     const struct vq_chain *c, struct vq_done *done,
		     uint8_t *buf)
{
	struct cmd_ctx x = { .n = n, .vq = vq, .c = c };
	uint8_t out[1 + sizeof(x.res)];
	uint32_t wrote;

	done->id = c->head;
	done->len = 0;
	n->ctrl.commands++;
	if (c->wlen == 0) {
		/* Nowhere to answer: not executed, completed empty. */
		n->ctrl.no_ack++;
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: control command without a writable ack byte",
			   n->vdev.name);
		return;
	}
	uint8_t ack = ctrl_exec(&x, buf);
	if (ack == VIRTIO_NET_OK) {
		n->ctrl.ok++;
		/* The lcores use the new state before the driver sees OK. */
		apply(n, x.what);
	} else {
		n->ctrl.err++;
		x.res_len = 0;
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: control command %u.%u answered ERR: %s",
			   n->vdev.name, x.cls, x.cmd, x.why ? x.why : "?");
	}
	out[0] = ack;
	memcpy(out + 1, x.res, x.res_len);
	wrote = vq_chain_write(vq, c, 0, out, 1 + x.res_len);
	if (wrote == 0) {
		n->ctrl.no_ack++;
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: control answer unwritable", n->vdev.name);
	}
	done->len = wrote;
}

#define VNET_CTRL_BURST 8

int vnet_ctrl_process(struct vnet_dev *n)
{
	struct vdev *d = &n->vdev;
	struct vq_chain chains[VNET_CTRL_BURST];
	struct vq_done done[VNET_CTRL_BURST];
	uint8_t buf[VNET_CTRL_DATA_MAX];
	int qi = vnet_ctrl_queue_index(n);
	int total = 0;

	if (qi < 0 || qi >= d->num_queues || d->resetting ||
	    !(d->status & VIRTIO_STATUS_DRIVER_OK))
		return 0;
	struct vdev_queue *q = &d->q[qi];
	if (!q->enabled || q->resetting)
		return 0;
	struct vq *vq = &q->vq;
	n->qstats[qi].kicks++;
	/* At most one queue's worth per call: a driver that keeps adding
	 * commands cannot hold the control thread. */
	unsigned budget = vq->size;
	while (budget) {
		unsigned want = budget < VNET_CTRL_BURST ? budget : VNET_CTRL_BURST;
		unsigned got = vq_pop_burst(vq, chains, want, n->ctrl_segs, n->ctrl_nsegs);

		for (unsigned i = 0; i < got; i++)
			ctrl_one(n, vq, &chains[i], &done[i], buf);
		if (got) {
			if (vq_push_burst(vq, done, got, false))
				HAL_LOG_RL(HAL_LOG_ERR, COMP, "%s: control completions refused",
					   d->name);
			total += (int)got;
			budget -= got;
			n->qstats[qi].packets += got;
		}
		if (got == 0 || vq_broken(vq))
			break;
	}
	if (total && vq_should_notify(vq)) {
		n->qstats[qi].interrupts++;
		if (n->hooks && n->hooks->queue_irq)
			n->hooks->queue_irq(n, (uint16_t)qi);
	}
	if (vq_broken(vq)) {
		HAL_LOG_RL(HAL_LOG_ERR, COMP, "%s: control queue broken: %s", d->name,
			   vq_error_str(vq->error));
		vdev_needs_reset(d);
		return -EIO;
	}
	return total;
}
