/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtio-net control plane through the real virtio_dev API and a real
 * control queue driven from the driver side (sim_vq), split and packed:
 * provisioning checks, the init sequence, the configuration layout at
 * every offset and width, each feature-bit requirement at FEATURES_OK,
 * every control command and its effect on the state and on the RX filter,
 * malformed commands (each its own test) answered ERR with nothing
 * changed, the unnegotiated-command policy, the all-or-nothing property,
 * and the apply hook running before the answer is written.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hal_log.h"
#include "sim_hostmem.h"
#include "sim_vq.h"
#include "virtio_dev.h"
#include "virtio_net.h"

#define NF(b) VNET_F(b)
#define V1 VDEV_BIT(VIRTIO_F_VERSION_1)
#define S_ACK VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRV VIRTIO_STATUS_DRIVER
#define S_FOK VIRTIO_STATUS_FEATURES_OK
#define S_DOK VIRTIO_STATUS_DRIVER_OK

/* Host memory: a large region and a small one right after it (adjacent in
 * IOVA, separate mappings: a command placed across the boundary spans). */
#define R0_IOVA 0x100000ull
#define R0_LEN  (4ull << 20)
#define R1_IOVA (R0_IOVA + R0_LEN)
#define R1_LEN  (64ull << 10)

#define OUT_MAX 65536u
#define MAX_DQ  8

static const uint8_t OWN[6]   = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t OTHER[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };
static const uint8_t UC2[6]   = { 0x52, 0x54, 0x00, 0x01, 0x02, 0x03 };
static const uint8_t MC1[6]   = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
static const uint8_t MC2[6]   = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t BC[6]    = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

struct req_case {
	const char *name;
	uint8_t bit;
	uint64_t all, any;
	bool offerable;
};

struct tcase {
	uint32_t ring;               /* 0 (split) or VQ_F_PACKED */
	const struct req_case *req;
};

struct env {
	struct sim_hostmem mem;
	struct dma_space *dma;
	struct vnet_dev n;
	struct vnet_params p;
	bool have_dev;
	struct sim_vq ctl;
	bool have_ctl;
	struct sim_vq dq[MAX_DQ];
	unsigned ndq;
	const struct tcase *tc;
	uint32_t ring;
	uint64_t out_iova, in_iova, span_iova;
	uint8_t *out, *in;
	/* hooks */
	unsigned applies, what_all, last_what;
	int ack_at_apply;
	bool other_at_apply;  /* vnet_rx_accept(OTHER) when apply ran */
	unsigned config_irqs, queue_irqs, starts, quiesces, qquiesces;
};

/* ---- hooks -------------------------------------------------------------- */
static bool rx(const struct vnet_dev *n, const uint8_t *dst, int vid);

static void h_apply(struct vnet_dev *n, unsigned what)
{
	struct env *e = n->hooks_ctx;

	e->applies++;
	e->last_what = what;
	e->what_all |= what;
	e->ack_at_apply = e->in[0]; /* still the 0xaa the driver left there? */
	e->other_at_apply = rx(n, OTHER, -1);
}

static void h_start(struct vnet_dev *n) { ((struct env *)n->hooks_ctx)->starts++; }

static void h_quiesce(struct vnet_dev *n)
{
	((struct env *)n->hooks_ctx)->quiesces++;
	vdev_quiesced(&n->vdev);
}

static void h_quiesce_queue(struct vnet_dev *n, uint16_t q)
{
	((struct env *)n->hooks_ctx)->qquiesces++;
	vdev_queue_quiesced(&n->vdev, q);
}

static void h_config_irq(struct vnet_dev *n) { ((struct env *)n->hooks_ctx)->config_irqs++; }

static void h_queue_irq(struct vnet_dev *n, uint16_t q)
{
	(void)q;
	((struct env *)n->hooks_ctx)->queue_irqs++;
}

static const struct vnet_hooks hooks = {
	.apply = h_apply,
	.start = h_start,
	.quiesce = h_quiesce,
	.quiesce_queue = h_quiesce_queue,
	.config_irq = h_config_irq,
	.queue_irq = h_queue_irq,
};

/* ---- fixture ---------------------------------------------------------------- */
static void quiet(enum hal_log_level l, const char *line)
{
	(void)l;
	(void)line;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	e->tc = *state;
	e->ring = e->tc ? e->tc->ring : 0;
	hal_log_set_sink(quiet);
	sim_hostmem_init(&e->mem);
	assert_int_equal(sim_hostmem_add(&e->mem, R0_IOVA, R0_LEN), 0);
	assert_int_equal(sim_hostmem_add(&e->mem, R1_IOVA, R1_LEN), 0);
	e->dma = dma_space_create(NULL);
	assert_non_null(e->dma);
	assert_int_equal(sim_hostmem_map(&e->mem, e->dma, DMA_PROT_READ | DMA_PROT_WRITE), 0);
	assert_int_equal(sim_hostmem_alloc(&e->mem, OUT_MAX, 8, &e->out_iova), 0);
	assert_int_equal(sim_hostmem_alloc(&e->mem, 256, 8, &e->in_iova), 0);
	e->out = sim_hostmem_va(&e->mem, e->out_iova, OUT_MAX);
	e->in = sim_hostmem_va(&e->mem, e->in_iova, 256);
	e->span_iova = R1_IOVA - 16; /* 16 bytes in R0, the rest in R1 */
	vnet_params_default(&e->p);
	memcpy(e->p.mac, OWN, 6);
	*state = e;
	return 0;
}

static void dev_destroy(struct env *e)
{
	if (e->have_ctl)
		sim_vq_fini(&e->ctl);
	for (unsigned i = 0; i < e->ndq; i++)
		sim_vq_fini(&e->dq[i]);
	e->have_ctl = false;
	e->ndq = 0;
	if (e->have_dev)
		vnet_fini(&e->n);
	e->have_dev = false;
}

static int teardown(void **state)
{
	struct env *e = *state;

	dev_destroy(e);
	dma_space_destroy(e->dma);
	sim_hostmem_free(&e->mem);
	free(e);
	hal_log_set_sink(NULL);
	return 0;
}

/* Create the device from e->p with `add` features added and `del` removed. */
static void dev_create(struct env *e, uint64_t add, uint64_t del, uint16_t pairs)
{
	e->p.features = (e->p.features | add) & ~del;
	e->p.max_queue_pairs = pairs;
	e->applies = e->what_all = e->last_what = 0;
	e->config_irqs = e->queue_irqs = e->starts = e->quiesces = e->qquiesces = 0;
	assert_int_equal(vnet_init(&e->n, &e->p, e->dma, "t"), 0);
	e->have_dev = true;
	vnet_set_hooks(&e->n, &hooks, e);
}

/* ACKNOWLEDGE, DRIVER, features, FEATURES_OK read back. */
static void negotiate(struct env *e, uint64_t f)
{
	struct vdev *d = &e->n.vdev;

	if (e->ring)
		f |= VDEV_BIT(VIRTIO_F_RING_PACKED);
	else
		f &= ~VDEV_BIT(VIRTIO_F_RING_PACKED);
	assert_int_equal(vdev_set_status(d, S_ACK), 0);
	assert_int_equal(vdev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vdev_set_driver_features(d, f), 0);
	assert_int_equal(vdev_set_status(d, S_ACK | S_DRV | S_FOK), 0);
	assert_int_equal(vdev_get_status(d), S_ACK | S_DRV | S_FOK);
}

static void queue_up(struct env *e, struct sim_vq *q, uint16_t qi, uint16_t size)
{
	struct vdev *d = &e->n.vdev;

	assert_int_equal(sim_vq_init(q, &e->mem, size, vdev_ring_flags(d), 0), 0);
	assert_int_equal(vdev_queue_set_size(d, qi, size), 0);
	assert_int_equal(vdev_queue_set_addr(d, qi, q->desc_iova, q->avail_iova,
					     q->used_iova), 0);
	assert_int_equal(vdev_queue_set_vector(d, qi, (uint16_t)(qi + 1)), 0);
	assert_int_equal(vdev_queue_enable(d, qi), 0);
}

/* Negotiate f, enable the data queues (but those in skip) and the control
 * queue; DRIVER_OK when `ok`. */
static void bring_up_ex(struct env *e, uint64_t f, uint32_t skip, bool ok)
{
	negotiate(e, f);
	int ci = vnet_ctrl_queue_index(&e->n);
	unsigned ndata = ci >= 0 ? (unsigned)ci : 2;
	assert_true(ndata <= MAX_DQ);
	for (unsigned i = 0; i < ndata; i++) {
		if (skip & (1u << i))
			continue;
		queue_up(e, &e->dq[e->ndq++], (uint16_t)i, 8);
	}
	if (ci >= 0) {
		queue_up(e, &e->ctl, (uint16_t)ci, 64);
		e->have_ctl = true;
	}
	if (ok)
		assert_int_equal(vdev_set_status(&e->n.vdev, S_ACK | S_DRV | S_FOK | S_DOK), 0);
}

/* The driver takes everything offered. */
static void bring_up(struct env *e)
{
	bring_up_ex(e, e->p.features, 0, true);
}

/* ---- frames ---------------------------------------------------------------- */
/* A 64-byte frame to dst, tagged with vid when vid >= 0. */
static bool rx(const struct vnet_dev *n, const uint8_t *dst, int vid)
{
	uint8_t f[64];

	memset(f, 0, sizeof(f));
	memcpy(f, dst, 6);
	memcpy(f + 6, OTHER, 6);
	if (vid >= 0) {
		f[12] = 0x81;
		f[13] = 0x00;
		f[14] = (uint8_t)(0x20 | (vid >> 8)); /* PCP 1 */
		f[15] = (uint8_t)vid;
		f[16] = 0x08;
	} else {
		f[12] = 0x08;
	}
	return vnet_rx_accept(n, f, sizeof(f));
}

/* ---- commands ---------------------------------------------------------------- */
enum split { SPLIT_HDR, SPLIT_ONE, SPLIT_BYTES, SPLIT_SPAN };

/* Post bytes[0..nbytes) as the readable part (cut as `how` says) and wlen
 * writable bytes (0xaa), process the control queue, and return the ack byte
 * (-1 when wlen is 0). *used gets the used length; res the bytes after the
 * ack. */
static int send_raw(struct env *e, const uint8_t *bytes, uint32_t nbytes,
		    enum split how, uint32_t wlen, uint32_t *used, uint8_t *res)
{
	struct sim_buf out[64], in[1];
	unsigned nout = 0;
	uint64_t base = how == SPLIT_SPAN ? e->span_iova : e->out_iova;
	uint32_t len;
	bool bad;

	assert_true(nbytes <= OUT_MAX && wlen <= 256);
	assert_int_equal(sim_hostmem_write(&e->mem, base, bytes, nbytes), 0);
	if (nbytes) {
		switch (how) {
		case SPLIT_HDR: /* as Linux: header, then data */
			out[nout++] = (struct sim_buf){ base, nbytes < 2 ? nbytes : 2 };
			if (nbytes > 2)
				out[nout++] = (struct sim_buf){ base + 2, nbytes - 2 };
			break;
		case SPLIT_ONE:
		case SPLIT_SPAN:
			out[nout++] = (struct sim_buf){ base, nbytes };
			break;
		case SPLIT_BYTES:
			assert_true(nbytes <= 48);
			for (uint32_t i = 0; i < nbytes; i++)
				out[nout++] = (struct sim_buf){ base + i, 1 };
			break;
		}
	}
	memset(e->in, 0xaa, 256);
	in[0] = (struct sim_buf){ e->in_iova, wlen };
	assert_int_equal(sim_vq_add(&e->ctl, out, nout, in, wlen ? 1 : 0, (void *)e, false), 0);
	sim_vq_publish(&e->ctl);
	assert_int_equal(vnet_ctrl_process(&e->n), 1);
	assert_ptr_equal(sim_vq_get_used(&e->ctl, &len, &bad), (void *)e);
	assert_false(bad);
	if (used)
		*used = len;
	if (res && wlen > 1)
		memcpy(res, e->in + 1, wlen - 1);
	return wlen ? e->in[0] : -1;
}

static int cmd_ex(struct env *e, uint8_t cls, uint8_t c, const void *data,
		  uint32_t len, enum split how)
{
	static uint8_t b[OUT_MAX];
	uint32_t used;

	assert_true(len + 2 <= OUT_MAX);
	b[0] = cls;
	b[1] = c;
	if (len)
		memcpy(b + 2, data, len);
	int ack = send_raw(e, b, len + 2, how, 1, &used, NULL);
	assert_int_equal(used, 1);
	return ack;
}

static int cmd(struct env *e, uint8_t cls, uint8_t c, const void *data, uint32_t len)
{
	return cmd_ex(e, cls, c, data, len, SPLIT_HDR);
}

static int cmd_u8(struct env *e, uint8_t cls, uint8_t c, uint8_t v)
{
	return cmd(e, cls, c, &v, 1);
}

static int cmd_u16(struct env *e, uint8_t cls, uint8_t c, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	return cmd(e, cls, c, b, 2);
}

static int cmd_u64(struct env *e, uint8_t cls, uint8_t c, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return cmd(e, cls, c, b, 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* A MAC_TABLE_SET payload; returns its length. */
static uint32_t mac_tables(uint8_t *b, const uint8_t (*uc)[6], uint32_t nuc,
			   const uint8_t (*mc)[6], uint32_t nmc)
{
	uint32_t o = 0;

	put_le32(b + o, nuc);
	o += 4;
	for (uint32_t i = 0; i < nuc; i++, o += 6)
		memcpy(b + o, uc[i], 6);
	put_le32(b + o, nmc);
	o += 4;
	for (uint32_t i = 0; i < nmc; i++, o += 6)
		memcpy(b + o, mc[i], 6);
	return o;
}

#define OK  VIRTIO_NET_OK
#define ERR VIRTIO_NET_ERR
#define RX(c, v) cmd_u8(e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_##c, v)

/* ---- state snapshots: "nothing changed" ------------------------------------- */
struct snap {
	struct vnet_rx_filter f;
	uint16_t pairs, status;
	uint64_t offl;
	struct vnet_coal tx, rx, vq[MAX_DQ];
	uint8_t gen;
	struct vnet_rss *rss;
};

static void snap_take(const struct env *e, struct snap *s)
{
	const struct vnet_dev *n = &e->n;

	memset(s, 0, sizeof(*s));
	s->f = n->filter;
	s->pairs = n->curr_pairs;
	s->status = n->status;
	s->offl = n->guest_offloads;
	s->tx = n->tx_coal;
	s->rx = n->rx_coal;
	for (unsigned i = 0; i < 2u * n->p.max_queue_pairs && i < MAX_DQ; i++)
		s->vq[i] = n->vq_coal[i];
	s->gen = n->vdev.config_generation;
	if (n->rss) {
		s->rss = malloc(sizeof(*s->rss));
		memcpy(s->rss, n->rss, sizeof(*s->rss));
	}
}

static void snap_check(const struct env *e, struct snap *s)
{
	struct snap now;

	snap_take(e, &now);
	assert_memory_equal(&now.f, &s->f, sizeof(s->f));
	assert_int_equal(now.pairs, s->pairs);
	assert_int_equal(now.status, s->status);
	assert_int_equal(now.offl, s->offl);
	assert_memory_equal(&now.tx, &s->tx, sizeof(s->tx));
	assert_memory_equal(&now.rx, &s->rx, sizeof(s->rx));
	assert_memory_equal(now.vq, s->vq, sizeof(s->vq));
	assert_int_equal(now.gen, s->gen);
	if (s->rss)
		assert_memory_equal(now.rss, s->rss, sizeof(*s->rss));
	free(now.rss);
	free(s->rss);
	s->rss = NULL;
}

/* The whole control-plane feature set. */
#define CTRL_ALL (NF(VIRTIO_NET_F_CTRL_VQ) | NF(VIRTIO_NET_F_CTRL_RX) | \
		  NF(VIRTIO_NET_F_CTRL_RX_EXTRA) | NF(VIRTIO_NET_F_CTRL_VLAN) | \
		  NF(VIRTIO_NET_F_CTRL_MAC_ADDR) | NF(VIRTIO_NET_F_GUEST_ANNOUNCE) | \
		  NF(VIRTIO_NET_F_STATUS) | NF(VIRTIO_NET_F_MQ) | NF(VIRTIO_NET_F_RSS) | \
		  NF(VIRTIO_NET_F_HASH_REPORT) | NF(VIRTIO_NET_F_NOTF_COAL) | \
		  NF(VIRTIO_NET_F_VQ_NOTF_COAL) | NF(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | \
		  NF(VIRTIO_NET_F_GUEST_CSUM) | NF(VIRTIO_NET_F_GUEST_TSO4))

/* A device with everything, 2 queue pairs, up. */
static void full_up(struct env *e)
{
	dev_create(e, CTRL_ALL, 0, 2);
	bring_up(e);
}

/* ======================= provisioning ======================================= */

static void test_params_default_valid(void **state)
{
	struct env *e = *state;
	const char *why = "x";

	assert_int_equal(vnet_params_validate(&e->p, &why), 0);
	assert_null(why);
	e->p.features |= CTRL_ALL | VNET_NET_FEATURES;
	e->p.max_queue_pairs = VNET_MAX_QUEUE_PAIRS;
	assert_int_equal(vnet_params_validate(&e->p, NULL), 0);
}

#define CTRL_DEPS (NF(VIRTIO_NET_F_CTRL_VQ) | NF(VIRTIO_NET_F_CTRL_RX) | \
		   NF(VIRTIO_NET_F_CTRL_RX_EXTRA) | NF(VIRTIO_NET_F_CTRL_VLAN) | \
		   NF(VIRTIO_NET_F_CTRL_MAC_ADDR) | NF(VIRTIO_NET_F_GUEST_ANNOUNCE))

static const char *const bad_params[] = {
	"MQ without CTRL_VQ", "RSS without CTRL_VQ", "CTRL_RX without CTRL_VQ",
	"HASH_REPORT without CTRL_VQ", "CTRL_RX_EXTRA without CTRL_VQ",
	"GUEST_ANNOUNCE without STATUS", "HOST_TSO4 without CSUM",
	"GUEST_TSO6 without GUEST_CSUM", "GUEST_UFO (not supported)",
	"DEVICE_STATS (not supported)", "STANDBY without MAC", "no VERSION_1",
	"0 queue pairs", "too many queue pairs", "2 pairs without MQ or RSS",
	"queue size 0", "queue size not a power of two", "queue size too big",
	"multicast mac", "zero mac", "mtu 67", "speed 0x80000000", "duplex 2",
	"RSS table 64", "RSS table 1024", "unknown hash type",
};

static void bad_param(unsigned i, struct vnet_params *p)
{
	switch (i) {
	case 0: p->features = (p->features & ~CTRL_DEPS) | NF(VIRTIO_NET_F_MQ); break;
	case 1: p->features = (p->features & ~CTRL_DEPS) | NF(VIRTIO_NET_F_RSS); break;
	case 2: p->features &= ~NF(VIRTIO_NET_F_CTRL_VQ); break;
	case 3: p->features = V1 | NF(VIRTIO_NET_F_HASH_REPORT); break;
	case 4: p->features = V1 | NF(VIRTIO_NET_F_CTRL_RX_EXTRA); break;
	case 5: p->features &= ~NF(VIRTIO_NET_F_STATUS); break;
	case 6: p->features |= NF(VIRTIO_NET_F_HOST_TSO4); break;
	case 7: p->features |= NF(VIRTIO_NET_F_GUEST_TSO6); break;
	case 8: p->features |= NF(VIRTIO_NET_F_GUEST_UFO) | NF(VIRTIO_NET_F_GUEST_CSUM); break;
	case 9: p->features |= NF(VIRTIO_NET_F_DEVICE_STATS); break;
	case 10: p->features = (p->features | NF(VIRTIO_NET_F_STANDBY)) & ~NF(VIRTIO_NET_F_MAC); break;
	case 11: p->features &= ~V1; break;
	case 12: p->max_queue_pairs = 0; break;
	case 13: p->features |= NF(VIRTIO_NET_F_MQ); p->max_queue_pairs = VNET_MAX_QUEUE_PAIRS + 1; break;
	case 14: p->max_queue_pairs = 2; break;
	case 15: p->max_queue_size = 0; break;
	case 16: p->max_queue_size = 100; break;
	case 17: p->max_queue_size = 65535; break;
	case 18: p->mac[0] = 0x01; break;
	case 19: memset(p->mac, 0, 6); break;
	case 20: p->mtu = 67; break;
	case 21: p->speed = 0x80000000u; break;
	case 22: p->duplex = 2; break;
	case 23: p->features |= NF(VIRTIO_NET_F_RSS); p->rss_max_table_len = 64; break;
	case 24: p->features |= NF(VIRTIO_NET_F_RSS); p->rss_max_table_len = 1024; break;
	case 25: p->features |= NF(VIRTIO_NET_F_HASH_REPORT); p->hash_types = 1u << 9; break;
	default: fail();
	}
}

static void test_params_refused(void **state)
{
	struct env *e = *state;

	for (unsigned i = 0; i < sizeof(bad_params) / sizeof(bad_params[0]); i++) {
		struct vnet_params p = e->p;
		const char *why = NULL;
		struct vnet_dev n;

		bad_param(i, &p);
		if (vnet_params_validate(&p, &why) != -EINVAL)
			fail_msg("accepted: %s", bad_params[i]);
		assert_non_null(why);
		assert_int_equal(vnet_init(&n, &p, e->dma, "x"), -EINVAL);
	}
	/* Fields of features not offered are not checked. */
	struct vnet_params p = e->p;
	p.features &= ~(NF(VIRTIO_NET_F_MAC) | NF(VIRTIO_NET_F_MTU) | NF(VIRTIO_NET_F_SPEED_DUPLEX));
	memset(p.mac, 0, 6);
	p.mtu = 0;
	p.speed = 0x80000000u;
	p.duplex = 7;
	assert_int_equal(vnet_params_validate(&p, NULL), 0);
}

static void test_queue_count_and_ctrl_index(void **state)
{
	struct env *e = *state;

	/* CTRL_VQ offered: 2 * pairs + 1 queues. */
	dev_create(e, NF(VIRTIO_NET_F_MQ) | NF(VIRTIO_NET_F_RSS), 0, 4);
	assert_int_equal(e->n.vdev.num_queues, 9);
	assert_int_equal(vnet_ctrl_queue_index(&e->n), -1); /* before FEATURES_OK */
	/* Neither MQ nor RSS negotiated: N = 1, controlq is queue 2. */
	negotiate(e, e->p.features & ~(NF(VIRTIO_NET_F_MQ) | NF(VIRTIO_NET_F_RSS)));
	assert_int_equal(vnet_ctrl_queue_index(&e->n), 2);
	assert_int_equal(vdev_set_status(&e->n.vdev, 0), 0);
	negotiate(e, e->p.features & ~NF(VIRTIO_NET_F_RSS));
	assert_int_equal(vnet_ctrl_queue_index(&e->n), 8);
	assert_int_equal(vdev_set_status(&e->n.vdev, 0), 0);
	negotiate(e, e->p.features & ~NF(VIRTIO_NET_F_MQ)); /* RSS alone */
	assert_int_equal(vnet_ctrl_queue_index(&e->n), 8);
	assert_int_equal(vdev_set_status(&e->n.vdev, 0), 0);
	/* CTRL_VQ offered but not taken: no control queue. */
	negotiate(e, V1);
	assert_int_equal(vnet_ctrl_queue_index(&e->n), -1);
	assert_int_equal(vnet_ctrl_process(&e->n), 0);
	dev_destroy(e);

	/* No CTRL_VQ offered: 2 * pairs queues. */
	e->p.features = V1 | NF(VIRTIO_NET_F_MAC);
	dev_create(e, 0, 0, 1);
	assert_int_equal(e->n.vdev.num_queues, 2);
	assert_null(e->n.ctrl_segs);
	assert_null(e->n.rss);
}

/* ======================= init sequence ====================================== */

static void test_init_sequence(void **state)
{
	struct env *e = *state;
	struct vdev *d = &e->n.vdev;
	uint8_t mac[6], b[2];

	dev_create(e, 0, 0, 1);
	/* 3.1.1: reset, ACKNOWLEDGE, DRIVER, read features and config. */
	assert_int_equal(vdev_get_status(d), 0);
	assert_int_equal(vdev_set_status(d, S_ACK), 0);
	assert_int_equal(vdev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(d->device_features, e->p.features);
	vdev_config_read(d, VNET_CFG_MAC, mac, 6);
	assert_memory_equal(mac, OWN, 6);
	vdev_config_read(d, VNET_CFG_STATUS, b, 2);
	assert_int_equal(b[0], VIRTIO_NET_S_LINK_UP);
	vdev_config_read(d, VNET_CFG_MTU, b, 2);
	assert_int_equal(b[0] | b[1] << 8, 1500);
	/* Features, FEATURES_OK, read back. */
	uint64_t f = e->p.features;
	if (!e->ring)
		f &= ~VDEV_BIT(VIRTIO_F_RING_PACKED);
	assert_int_equal(vdev_set_driver_features(d, f), 0);
	assert_int_equal(vdev_set_status(d, S_ACK | S_DRV | S_FOK), 0);
	assert_int_equal(vdev_get_status(d), S_ACK | S_DRV | S_FOK);
	assert_int_equal(vdev_features(d), f);
	/* receiveq1, transmitq1, controlq. */
	queue_up(e, &e->dq[e->ndq++], 0, 8);
	queue_up(e, &e->dq[e->ndq++], 1, 8);
	assert_int_equal(vnet_ctrl_queue_index(&e->n), 2);
	queue_up(e, &e->ctl, 2, 64);
	e->have_ctl = true;
	assert_int_equal(e->starts, 0);
	assert_int_equal(vdev_set_status(d, S_ACK | S_DRV | S_FOK | S_DOK), 0);
	assert_int_equal(e->starts, 1);
	/* What Linux sends when the interface comes up. */
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_int_equal(RX(ALLMULTI, 0), OK);
	uint8_t t[64];
	const uint8_t mcs[1][6] = { { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 } };
	uint32_t len = mac_tables(t, NULL, 0, mcs, 1);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t, len), OK);
	assert_true(rx(&e->n, OWN, -1));
	assert_true(rx(&e->n, MC2, -1));
	assert_true(rx(&e->n, BC, -1));
	assert_false(rx(&e->n, OTHER, -1));
	assert_false(rx(&e->n, MC1, -1));
	assert_int_equal(e->n.ctrl.commands, 3);
	assert_int_equal(e->n.ctrl.ok, 3);
}

/* STANDBY: offered only when provisioned (and only with MAC), negotiated
 * like any other bit; the MAC a failover driver pairs on is the config's. */
static void test_standby(void **state)
{
	struct env *e = *state;
	struct vdev *d = &e->n.vdev;
	uint8_t mac[6];

	dev_create(e, 0, 0, 1);
	assert_false(d->device_features & NF(VIRTIO_NET_F_STANDBY));
	dev_destroy(e);
	dev_create(e, NF(VIRTIO_NET_F_STANDBY), 0, 1);
	assert_true(d->device_features & NF(VIRTIO_NET_F_STANDBY));
	bring_up(e);
	assert_true(vdev_has(d, VIRTIO_NET_F_STANDBY));
	vdev_config_read(d, VNET_CFG_MAC, mac, 6);
	assert_memory_equal(mac, OWN, 6);
}

static void test_ctrl_not_before_driver_ok(void **state)
{
	struct env *e = *state;
	uint32_t len;
	bool bad;

	dev_create(e, 0, 0, 1);
	bring_up_ex(e, e->p.features, 0, false);
	uint8_t b[3] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0 };
	assert_int_equal(sim_hostmem_write(&e->mem, e->out_iova, b, 3), 0);
	struct sim_buf out = { e->out_iova, 3 }, in = { e->in_iova, 1 };
	assert_int_equal(sim_vq_add(&e->ctl, &out, 1, &in, 1, (void *)e, false), 0);
	sim_vq_publish(&e->ctl);
	assert_int_equal(vnet_ctrl_process(&e->n), 0);
	assert_null(sim_vq_get_used(&e->ctl, &len, &bad));
	assert_true(e->n.filter.promisc);
	assert_int_equal(vdev_set_status(&e->n.vdev, S_ACK | S_DRV | S_FOK | S_DOK), 0);
	assert_int_equal(vnet_ctrl_process(&e->n), 1);
	assert_ptr_equal(sim_vq_get_used(&e->ctl, &len, &bad), (void *)e);
	assert_false(e->n.filter.promisc);
}

/* ======================= configuration layout =============================== */

static void test_config_every_offset_and_width(void **state)
{
	struct env *e = *state;
	const uint8_t exp[VNET_CFG_SIZE] = {
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56, /* mac */
		0x01, 0x00,                         /* status: LINK_UP */
		0x04, 0x00,                         /* max_virtqueue_pairs 4 */
		0x28, 0x23,                         /* mtu 9000 */
		0xa8, 0x61, 0x00, 0x00,             /* speed 25000 */
		0x01,                               /* duplex full */
		40,                                 /* rss_max_key_size */
		0x00, 0x01,                         /* rss_max_indirection_table_length 256 */
		0x3f, 0x00, 0x00, 0x00,             /* supported_hash_types */
		0, 0, 0, 0,                         /* tunnel types: not offered */
	};
	const uint32_t layout = 24;
	uint8_t buf[16];

	e->p.mtu = 9000;
	e->p.speed = 25000;
	e->p.duplex = VNET_DUPLEX_FULL;
	e->p.rss_max_table_len = 256;
	e->p.hash_types = 0x3f;
	dev_create(e, NF(VIRTIO_NET_F_MQ) | NF(VIRTIO_NET_F_RSS) | NF(VIRTIO_NET_F_HASH_REPORT), 0, 4);
	assert_int_equal(vnet_config_len(&e->n), layout);
	for (uint32_t off = 0; off < 48; off++) {
		for (uint32_t w = 0; w <= 8; w++) {
			memset(buf, 0xee, sizeof(buf));
			vdev_config_read(&e->n.vdev, off, buf, w);
			for (uint32_t i = 0; i < w; i++) {
				uint8_t want = off + i < layout ? exp[off + i] : 0;
				if (buf[i] != want)
					fail_msg("offset %u width %u byte %u: %#x, want %#x",
						 off, w, i, buf[i], want);
			}
			for (uint32_t i = w; i < sizeof(buf); i++)
				assert_int_equal(buf[i], 0xee);
		}
	}
	/* Far away and wrapping. */
	memset(buf, 0xee, sizeof(buf));
	vdev_config_read(&e->n.vdev, UINT32_MAX, buf, 4);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	vdev_config_read(&e->n.vdev, UINT32_MAX - 3, buf, 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(buf[i], 0);
	/* The status follows the link. */
	vnet_set_link(&e->n, false);
	vdev_config_read(&e->n.vdev, VNET_CFG_STATUS, buf, 2);
	assert_int_equal(buf[0] | buf[1], 0);
}

static void test_config_fields_absent(void **state)
{
	struct env *e = *state;
	uint8_t buf[VNET_CFG_SIZE];

	/* Only VERSION_1: the mac field exists (zeros without MAC). */
	e->p.features = V1;
	dev_create(e, 0, 0, 1);
	assert_int_equal(vnet_config_len(&e->n), 6);
	memset(buf, 0xee, sizeof(buf));
	vdev_config_read(&e->n.vdev, 0, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	dev_destroy(e);

	/* MTU without STATUS or MQ: fields keep their offsets, the absent
	 * ones read 0. */
	e->p.features = V1 | NF(VIRTIO_NET_F_MTU) | NF(VIRTIO_NET_F_MAC);
	e->p.mtu = 1280;
	dev_create(e, 0, 0, 1);
	assert_int_equal(vnet_config_len(&e->n), 12);
	vdev_config_read(&e->n.vdev, 0, buf, sizeof(buf));
	assert_memory_equal(buf, OWN, 6);
	assert_memory_equal(buf + 6, "\0\0\0\0", 4);
	assert_int_equal(buf[10] | buf[11] << 8, 1280);
	for (size_t i = 12; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	dev_destroy(e);

	/* HASH_REPORT without RSS: key size and hash types, no table length,
	 * no max_virtqueue_pairs. */
	e->p.features = V1 | NF(VIRTIO_NET_F_CTRL_VQ) | NF(VIRTIO_NET_F_HASH_REPORT);
	e->p.hash_types = 0x7;
	dev_create(e, 0, 0, 1);
	assert_int_equal(vnet_config_len(&e->n), 24);
	vdev_config_read(&e->n.vdev, 0, buf, sizeof(buf));
	assert_int_equal(buf[8] | buf[9], 0);
	assert_int_equal(buf[VNET_CFG_RSS_MAX_KEY], 40);
	assert_int_equal(buf[18] | buf[19], 0);
	assert_int_equal(buf[20], 7);
}

static void test_config_write_ignored(void **state)
{
	struct env *e = *state;
	uint8_t buf[VNET_CFG_SIZE], before[VNET_CFG_SIZE];

	dev_create(e, 0, 0, 1);
	vdev_config_read(&e->n.vdev, 0, before, sizeof(before));
	uint8_t junk[32];
	memset(junk, 0x77, sizeof(junk));
	for (uint32_t off = 0; off < 30; off++)
		vdev_config_write(&e->n.vdev, off, junk, (off % 5) + 1);
	vdev_config_write(&e->n.vdev, UINT32_MAX, junk, 32);
	vdev_config_read(&e->n.vdev, 0, buf, sizeof(buf));
	assert_memory_equal(buf, before, sizeof(buf));
	assert_memory_equal(e->n.filter.mac, OWN, 6);
}

/* ======================= feature bit requirements =========================== */

#define REQ_BASE (V1 | NF(VIRTIO_NET_F_CSUM) | NF(VIRTIO_NET_F_GUEST_CSUM) | \
		  NF(VIRTIO_NET_F_CTRL_VQ) | NF(VIRTIO_NET_F_STATUS))

/* Try FEATURES_OK with f; returns whether it was accepted, then resets. */
static bool try_features(struct env *e, uint64_t f)
{
	struct vdev *d = &e->n.vdev;
	bool ok;

	assert_int_equal(vdev_set_status(d, S_ACK), 0);
	assert_int_equal(vdev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vdev_set_driver_features(d, f), 0);
	int rc = vdev_set_status(d, S_ACK | S_DRV | S_FOK);
	ok = vdev_get_status(d) & S_FOK; /* the driver reads it back */
	assert_int_equal(rc, ok ? 0 : -EINVAL);
	assert_int_equal(vdev_set_status(d, 0), 0);
	return ok;
}

static void test_feature_requirement(void **state)
{
	struct env *e = *state;
	const struct req_case *r = e->tc->req;
	uint64_t bit = NF(r->bit);

	if (r->offerable) {
		uint64_t offer = REQ_BASE | bit | r->all | r->any;

		e->p.features = offer;
		dev_create(e, 0, 0, 1);
		/* Without what it requires: refused. */
		uint64_t bad = offer & ~r->all & ~r->any;
		assert_int_equal(vnet_features_check(bad, NULL), -EINVAL);
		assert_false(try_features(e, bad));
		/* Without the bit itself, fine. */
		assert_true(try_features(e, bad & ~bit));
		/* With it: accepted (each alternative of an "or"). */
		if (r->any) {
			for (unsigned b = 0; b < 64; b++) {
				if (!(r->any & (1ull << b)))
					continue;
				uint64_t good = offer & ~(r->any & ~(1ull << b));
				assert_int_equal(vnet_features_check(good, NULL), 0);
				assert_true(try_features(e, good));
			}
		} else {
			assert_true(try_features(e, offer));
		}
	} else {
		/* Never offered: the check itself, and the vdev_ops hook. */
		e->p.features = REQ_BASE;
		dev_create(e, 0, 0, 1);
		uint64_t full = REQ_BASE | bit | r->all | r->any;
		uint64_t bad = full & ~r->all & ~r->any;
		const char *why = NULL;
		assert_int_equal(vnet_features_check(bad, &why), -EINVAL);
		assert_non_null(why);
		assert_int_not_equal(e->n.vdev.ops->validate_features(&e->n.vdev, bad), 0);
		for (unsigned b = 0; b < 64; b++) {
			if (r->any && !(r->any & (1ull << b)))
				continue;
			uint64_t good = r->any ? full & ~(r->any & ~(1ull << b)) : full;
			assert_int_equal(vnet_features_check(good, NULL), 0);
			assert_int_equal(e->n.vdev.ops->validate_features(&e->n.vdev, good), 0);
			if (!r->any)
				break;
		}
		/* And provisioning refuses to offer it. */
		struct vnet_params p = e->p;
		p.features = full;
		assert_int_equal(vnet_params_validate(&p, NULL), -EINVAL);
	}
}

/* Requirements the spec calls SHOULD NOT for the driver are not refused. */
static void test_features_should_not_accepted(void **state)
{
	struct env *e = *state;

	e->p.features = REQ_BASE | NF(VIRTIO_NET_F_HASH_REPORT) |
			NF(VIRTIO_NET_F_CTRL_RX_EXTRA) | NF(VIRTIO_NET_F_GUEST_ANNOUNCE);
	dev_create(e, 0, 0, 1);
	assert_true(try_features(e, V1 | NF(VIRTIO_NET_F_HASH_REPORT)));
	assert_true(try_features(e, V1 | NF(VIRTIO_NET_F_CTRL_RX_EXTRA)));
	/* GUEST_ANNOUNCE without STATUS: allowed, but nothing to announce. */
	assert_true(try_features(e, V1 | NF(VIRTIO_NET_F_CTRL_VQ) |
				    NF(VIRTIO_NET_F_GUEST_ANNOUNCE)));
}

/* ======================= control commands =================================== */

static void test_rx_promisc(void **state)
{
	struct env *e = *state;

	full_up(e);
	/* After reset: promiscuous (compatibility), everything passes. */
	assert_true(e->n.filter.promisc);
	assert_true(rx(&e->n, OTHER, -1));
	assert_true(rx(&e->n, MC1, -1));
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_false(e->n.filter.promisc);
	assert_false(rx(&e->n, OTHER, -1));
	assert_false(rx(&e->n, MC1, -1));
	assert_true(rx(&e->n, OWN, -1));
	assert_true(rx(&e->n, BC, -1));
	assert_int_equal(e->last_what, VNET_APPLY_RX_MODE);
	/* Promiscuous wins over every other mode and the VLAN table. */
	assert_int_equal(RX(NOUNI, 1), OK);
	assert_int_equal(RX(NOBCAST, 1), OK);
	assert_int_equal(RX(NOMULTI, 1), OK);
	assert_int_equal(RX(PROMISC, 1), OK);
	assert_true(rx(&e->n, OTHER, -1));
	assert_true(rx(&e->n, OWN, 7));
	assert_true(rx(&e->n, BC, -1));
	assert_true(rx(&e->n, MC1, -1));
	/* Non-zero means on (Linux uapi). */
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_int_equal(RX(PROMISC, 2), OK);
	assert_true(e->n.filter.promisc);
}

static void test_rx_allmulti(void **state)
{
	struct env *e = *state;

	full_up(e);
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_false(rx(&e->n, MC1, -1));
	assert_int_equal(RX(ALLMULTI, 1), OK);
	assert_true(e->n.filter.allmulti);
	assert_true(rx(&e->n, MC1, -1));
	assert_true(rx(&e->n, MC2, -1));
	assert_false(rx(&e->n, OTHER, -1)); /* unicast unaffected */
	assert_int_equal(RX(ALLMULTI, 0), OK);
	assert_false(rx(&e->n, MC1, -1));
}

static void test_rx_alluni(void **state)
{
	struct env *e = *state;

	full_up(e);
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_false(rx(&e->n, OTHER, -1));
	assert_int_equal(RX(ALLUNI, 1), OK);
	assert_true(rx(&e->n, OTHER, -1));
	assert_true(rx(&e->n, UC2, -1));
	assert_false(rx(&e->n, MC1, -1)); /* multicast unaffected */
	assert_int_equal(RX(ALLUNI, 0), OK);
	assert_false(rx(&e->n, OTHER, -1));
}

static void test_rx_nomulti(void **state)
{
	struct env *e = *state;

	full_up(e);
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_int_equal(RX(ALLMULTI, 1), OK);
	assert_int_equal(RX(NOMULTI, 1), OK);
	assert_false(rx(&e->n, MC1, -1)); /* even with ALLMULTI */
	assert_true(rx(&e->n, BC, -1));   /* not broadcast */
	assert_true(rx(&e->n, OWN, -1));
	assert_int_equal(RX(NOMULTI, 0), OK);
	assert_true(rx(&e->n, MC1, -1));
}

static void test_rx_nouni(void **state)
{
	struct env *e = *state;

	full_up(e);
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_int_equal(RX(ALLUNI, 1), OK);
	assert_int_equal(RX(NOUNI, 1), OK);
	assert_false(rx(&e->n, OWN, -1));   /* even the primary address */
	assert_false(rx(&e->n, OTHER, -1)); /* even with ALLUNI */
	assert_true(rx(&e->n, BC, -1));
	assert_int_equal(RX(NOUNI, 0), OK);
	assert_true(rx(&e->n, OWN, -1));
}

static void test_rx_nobcast(void **state)
{
	struct env *e = *state;

	full_up(e);
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_int_equal(RX(ALLMULTI, 1), OK);
	assert_int_equal(RX(NOBCAST, 1), OK);
	assert_false(rx(&e->n, BC, -1)); /* even with ALLMULTI */
	assert_true(rx(&e->n, MC1, -1));
	assert_true(rx(&e->n, OWN, -1));
	assert_int_equal(RX(NOBCAST, 0), OK);
	assert_true(rx(&e->n, BC, -1));
}

static void test_mac_table_set(void **state)
{
	struct env *e = *state;
	uint8_t t[1024];
	const uint8_t ucs[2][6] = { { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc }, { 0x52, 0x54, 0x00, 0x01, 0x02, 0x03 } };
	const uint8_t mcs[1][6] = { { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 } };

	full_up(e);
	assert_int_equal(e->n.filter.n_uc, 0); /* empty after reset */
	assert_int_equal(RX(PROMISC, 0), OK);
	uint32_t len = mac_tables(t, ucs, 2, mcs, 1);
	e->applies = 0;
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t, len), OK);
	assert_int_equal(e->applies, 1);
	assert_int_equal(e->last_what, VNET_APPLY_MAC_TABLE);
	assert_int_equal(e->n.filter.n_uc, 2);
	assert_int_equal(e->n.filter.n_mc, 1);
	assert_true(rx(&e->n, OTHER, -1));
	assert_true(rx(&e->n, UC2, -1));
	assert_true(rx(&e->n, OWN, -1));
	assert_true(rx(&e->n, MC1, -1));
	assert_false(rx(&e->n, MC2, -1));
	/* Replaced whole, and both may be empty. */
	len = mac_tables(t, NULL, 0, NULL, 0);
	assert_int_equal(len, 8);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t, len), OK);
	assert_false(rx(&e->n, OTHER, -1));
	assert_false(rx(&e->n, MC1, -1));
	assert_true(rx(&e->n, OWN, -1));
}

static void test_mac_table_overflow_fallback(void **state)
{
	struct env *e = *state;
	static uint8_t t[8 + 6 * 200];
	static uint8_t many[100][6];

	full_up(e);
	assert_int_equal(RX(PROMISC, 0), OK);
	for (int i = 0; i < 100; i++) {
		uint8_t m[6] = { 0x01, 0x00, 0x5e, 0x7f, 0x00, (uint8_t)i };
		memcpy(many[i], m, 6);
	}
	/* 65 multicast addresses: more than kept, all multicast instead. */
	uint32_t len = mac_tables(t, NULL, 0, (const uint8_t (*)[6])many, VNET_MAC_TABLE_MAX + 1);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t, len), OK);
	assert_true(e->n.filter.mc_overflow);
	assert_false(e->n.filter.uc_overflow);
	assert_int_equal(e->n.filter.n_mc, 0);
	assert_true(rx(&e->n, MC2, -1));
	assert_false(rx(&e->n, OTHER, -1));
	/* NOMULTI still wins. */
	assert_int_equal(RX(NOMULTI, 1), OK);
	assert_false(rx(&e->n, MC2, -1));
	assert_int_equal(RX(NOMULTI, 0), OK);
	/* 65 unicast: all unicast. */
	for (int i = 0; i < 100; i++)
		many[i][0] = 0x02;
	len = mac_tables(t, (const uint8_t (*)[6])many, VNET_MAC_TABLE_MAX + 1, NULL, 0);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t, len), OK);
	assert_true(e->n.filter.uc_overflow);
	assert_false(e->n.filter.mc_overflow);
	assert_true(rx(&e->n, OTHER, -1));
	assert_false(rx(&e->n, MC2, -1));
	/* Exactly the bound is kept. */
	len = mac_tables(t, (const uint8_t (*)[6])many, VNET_MAC_TABLE_MAX, NULL, 0);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t, len), OK);
	assert_false(e->n.filter.uc_overflow);
	assert_int_equal(e->n.filter.n_uc, VNET_MAC_TABLE_MAX);
	assert_true(rx(&e->n, many[63], -1));
	assert_false(rx(&e->n, OTHER, -1));
}

/* A table longer than the copy buffer is read piecewise from the ring. */
static void test_mac_table_longer_than_buffer(void **state)
{
	struct env *e = *state;
	static uint8_t t[8 + 6 * 1000];
	static uint8_t ucs[64][6], mcs[900][6];

	full_up(e);
	assert_int_equal(RX(PROMISC, 0), OK);
	for (int i = 0; i < 64; i++) {
		uint8_t m[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, (uint8_t)i };
		memcpy(ucs[i], m, 6);
	}
	for (int i = 0; i < 900; i++) {
		uint8_t m[6] = { 0x01, 0x00, 0x5e, 0x01, (uint8_t)(i >> 8), (uint8_t)i };
		memcpy(mcs[i], m, 6);
	}
	uint32_t len = mac_tables(t, (const uint8_t (*)[6])ucs, 64, (const uint8_t (*)[6])mcs, 900);
	assert_true(len > VNET_CTRL_DATA_MAX);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t, len), OK);
	assert_int_equal(e->n.filter.n_uc, 64);
	assert_memory_equal(e->n.filter.uc[63], ucs[63], 6);
	assert_true(e->n.filter.mc_overflow);
	assert_true(rx(&e->n, ucs[17], -1));
	assert_false(rx(&e->n, OTHER, -1));
	/* The same, one byte short: ERR, nothing changed. */
	struct snap s;
	uint32_t len2 = mac_tables(t, (const uint8_t (*)[6])ucs, 3, (const uint8_t (*)[6])mcs, 900);
	snap_take(e, &s);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t, len2 - 1), ERR);
	snap_check(e, &s);
}

static void test_mac_addr_set(void **state)
{
	struct env *e = *state;
	uint8_t mac[6];

	full_up(e);
	assert_int_equal(RX(PROMISC, 0), OK);
	uint8_t gen = e->n.vdev.config_generation;
	e->applies = 0;
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, UC2, 6), OK);
	assert_int_equal(e->applies, 1);
	assert_int_equal(e->last_what, VNET_APPLY_MAC_ADDR);
	vdev_config_read(&e->n.vdev, VNET_CFG_MAC, mac, 6);
	assert_memory_equal(mac, UC2, 6); /* config updated before the answer */
	assert_int_not_equal(e->n.vdev.config_generation, gen);
	assert_int_equal(e->config_irqs, 0); /* the driver asked: no interrupt */
	assert_true(rx(&e->n, UC2, -1));
	assert_false(rx(&e->n, OWN, -1));
	/* A reset brings the provisioned address back. */
	assert_int_equal(vdev_set_status(&e->n.vdev, 0), 0);
	vdev_config_read(&e->n.vdev, VNET_CFG_MAC, mac, 6);
	assert_memory_equal(mac, OWN, 6);
}

static void test_vlan_filter(void **state)
{
	struct env *e = *state;

	full_up(e);
	assert_int_equal(RX(PROMISC, 0), OK);
	/* Empty table: tagged frames dropped, untagged and priority-tagged pass. */
	assert_false(rx(&e->n, OWN, 10));
	assert_true(rx(&e->n, OWN, -1));
	assert_true(rx(&e->n, OWN, 0));
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 10), OK);
	assert_int_equal(e->last_what, VNET_APPLY_VLAN);
	assert_true(rx(&e->n, OWN, 10));
	assert_false(rx(&e->n, OWN, 11));
	assert_false(rx(&e->n, OTHER, 10)); /* and the MAC rules still apply */
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL, 10), OK);
	assert_false(rx(&e->n, OWN, 10));
	/* NetKVM sends every id, 0 and 4095 included. */
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 0), OK);
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 4095), OK);
	assert_true(rx(&e->n, OWN, 4095));
	/* Deleting an absent id: OK, nothing to apply. */
	e->applies = 0;
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL, 99), OK);
	assert_int_equal(e->applies, 0);
	/* A truncated tag. */
	uint8_t f[16];
	memcpy(f, OWN, 6);
	memcpy(f + 6, OTHER, 6);
	f[12] = 0x81;
	f[13] = 0x00;
	f[14] = 0x0f;
	f[15] = 0xff;
	assert_false(vnet_rx_accept(&e->n, f, 16));
	/* Promiscuous: every VLAN. */
	assert_int_equal(RX(PROMISC, 1), OK);
	assert_true(rx(&e->n, OWN, 12));
}

static void test_vlan_not_negotiated_accepts_all_tags(void **state)
{
	struct env *e = *state;

	dev_create(e, CTRL_ALL, 0, 2);
	bring_up_ex(e, e->p.features & ~NF(VIRTIO_NET_F_CTRL_VLAN), 0, true);
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_true(rx(&e->n, OWN, 10));
	assert_false(rx(&e->n, OTHER, 10));
	struct snap s;
	snap_take(e, &s);
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL, 10), OK);
	snap_check(e, &s);
	assert_true(rx(&e->n, OWN, 10)); /* MUST accept all tagged packets */
	assert_int_equal(e->n.ctrl.unnegotiated, 1);
}

static void test_announce(void **state)
{
	struct env *e = *state;
	uint8_t b[2];

	full_up(e);
	uint8_t gen = e->n.vdev.config_generation;
	vnet_announce(&e->n);
	assert_int_equal(e->config_irqs, 1);
	assert_int_not_equal(e->n.vdev.config_generation, gen);
	vdev_config_read(&e->n.vdev, VNET_CFG_STATUS, b, 2);
	assert_int_equal(b[0], VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
	gen = e->n.vdev.config_generation;
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0), OK);
	vdev_config_read(&e->n.vdev, VNET_CFG_STATUS, b, 2);
	assert_int_equal(b[0], VIRTIO_NET_S_LINK_UP);
	assert_int_not_equal(e->n.vdev.config_generation, gen);
	assert_int_equal(e->config_irqs, 1);
	/* A second ack: nothing to clear, still OK. */
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0), OK);
	/* Reset clears a pending announce. */
	vnet_announce(&e->n);
	assert_int_equal(vdev_set_status(&e->n.vdev, 0), 0);
	assert_int_equal(e->n.status, VIRTIO_NET_S_LINK_UP);
}

static void test_announce_needs_feature(void **state)
{
	struct env *e = *state;

	dev_create(e, 0, 0, 1);
	bring_up_ex(e, e->p.features & ~NF(VIRTIO_NET_F_GUEST_ANNOUNCE), 0, true);
	vnet_announce(&e->n);
	assert_int_equal(e->n.status, VIRTIO_NET_S_LINK_UP);
	assert_int_equal(e->config_irqs, 0);
	/* An ack anyway: OK, nothing happens. */
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0), OK);
}

static void test_link(void **state)
{
	struct env *e = *state;

	dev_create(e, 0, 0, 1);
	uint8_t gen = e->n.vdev.config_generation;
	vnet_set_link(&e->n, false); /* before DRIVER_OK: no interrupt */
	assert_int_equal(e->n.status, 0);
	assert_int_not_equal(e->n.vdev.config_generation, gen);
	assert_int_equal(e->config_irqs, 0);
	assert_int_equal(e->last_what, VNET_APPLY_LINK);
	bring_up(e);
	vnet_set_link(&e->n, true);
	assert_int_equal(e->config_irqs, 1);
	vnet_set_link(&e->n, true); /* no change, no interrupt */
	assert_int_equal(e->config_irqs, 1);
	/* The link survives a reset. */
	assert_int_equal(vdev_set_status(&e->n.vdev, 0), 0);
	assert_int_equal(e->n.status, VIRTIO_NET_S_LINK_UP);
	dev_destroy(e);
	/* Without STATUS offered: no field, no notification. */
	e->p.features &= ~(NF(VIRTIO_NET_F_STATUS) | NF(VIRTIO_NET_F_GUEST_ANNOUNCE));
	dev_create(e, 0, 0, 1);
	bring_up(e);
	gen = e->n.vdev.config_generation;
	vnet_set_link(&e->n, false);
	assert_int_equal(e->config_irqs, 0);
	assert_int_equal(e->n.vdev.config_generation, gen);
}

static void test_mq_pairs(void **state)
{
	struct env *e = *state;

	dev_create(e, NF(VIRTIO_NET_F_MQ), 0, 4);
	bring_up(e);
	assert_int_equal(vnet_ctrl_queue_index(&e->n), 8);
	assert_int_equal(e->n.curr_pairs, 1);
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 4), OK);
	assert_int_equal(e->n.curr_pairs, 4);
	assert_int_equal(e->last_what, VNET_APPLY_MQ);
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 1), OK);
	assert_int_equal(e->n.curr_pairs, 1);
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 3), OK);
	/* Device reset: back to one pair. */
	assert_int_equal(vdev_set_status(&e->n.vdev, 0), 0);
	assert_int_equal(e->n.curr_pairs, 1);
}

/* struct virtio_net_rss_config with n entries (all `q`), unclassified u,
 * max_tx_vq m and a 40-byte key; returns its length. */
static uint32_t rss_cfg(uint8_t *b, uint32_t types, uint16_t n, uint16_t q,
			uint16_t u, uint16_t m)
{
	uint32_t o = 0;

	put_le32(b, types);
	put_le16(b + 4, (uint16_t)(n - 1));
	put_le16(b + 6, u);
	o = 8;
	for (uint16_t i = 0; i < n; i++, o += 2)
		put_le16(b + o, (uint16_t)(q == 0xffff ? i % 2 : q));
	put_le16(b + o, m);
	b[o + 2] = 40;
	o += 3;
	for (int i = 0; i < 40; i++)
		b[o++] = (uint8_t)(0x6d + i);
	return o;
}

static void test_rss_config(void **state)
{
	struct env *e = *state;
	uint8_t b[2048];

	full_up(e);
	uint32_t len = rss_cfg(b, VIRTIO_NET_RSS_HASH_TYPE_TCPv4 | VIRTIO_NET_RSS_HASH_TYPE_IPv4,
			       128, 0xffff, 1, 2);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, b, len), OK);
	assert_int_equal(e->last_what, VNET_APPLY_RSS);
	assert_true(e->n.rss->enabled);
	assert_int_equal(e->n.rss->table_len, 128);
	assert_int_equal(e->n.rss->table[1], 1);
	assert_int_equal(e->n.rss->unclassified_queue, 1);
	assert_int_equal(e->n.rss->max_tx_vq, 2);
	/* A bad one changes nothing: entry beyond the pairs, hash type not
	 * supported, table longer than advertised. */
	struct snap s;
	snap_take(e, &s);
	len = rss_cfg(b, VIRTIO_NET_RSS_HASH_TYPE_IPv4, 64, 2, 0, 1);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, b, len), ERR);
	len = rss_cfg(b, 1u << 9, 64, 0, 0, 1);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, b, len), ERR);
	len = rss_cfg(b, VIRTIO_NET_RSS_HASH_TYPE_IPv4, 256, 0, 0, 1);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, b, len), ERR);
	snap_check(e, &s);
	/* VQ_PAIRS_SET after it: automatic steering, RSS off. */
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2), OK);
	assert_false(e->n.rss->enabled);
	assert_int_equal(e->last_what, VNET_APPLY_MQ | VNET_APPLY_RSS);
	/* Reset: RSS back to its defaults. */
	assert_int_equal(vdev_set_status(&e->n.vdev, 0), 0);
	assert_int_equal(e->n.rss->hash_types, 0);
	assert_int_equal(e->n.rss->key_len, 0);
}

static void test_hash_config(void **state)
{
	struct env *e = *state;
	uint8_t b[64];

	full_up(e);
	memset(b, 0, sizeof(b));
	put_le32(b, VIRTIO_NET_RSS_HASH_TYPE_UDPv6);
	b[12] = 40;
	for (int i = 0; i < 40; i++)
		b[13 + i] = (uint8_t)i;
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_HASH_CONFIG, b, 53), OK);
	assert_int_equal(e->n.rss->hash_types, VIRTIO_NET_RSS_HASH_TYPE_UDPv6);
	assert_false(e->n.rss->enabled);
	assert_int_equal(e->n.rss->key_len, 40);
	/* Trailing byte: ERR. */
	struct snap s;
	snap_take(e, &s);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_HASH_CONFIG, b, 54), ERR);
	snap_check(e, &s);
}

static void test_guest_offloads(void **state)
{
	struct env *e = *state;
	const uint64_t csum = NF(VIRTIO_NET_F_GUEST_CSUM), tso4 = NF(VIRTIO_NET_F_GUEST_TSO4);

	full_up(e);
	/* Negotiated offloads start enabled. */
	assert_int_equal(e->n.guest_offloads, csum | tso4);
	assert_int_equal(cmd_u64(e, VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, 0), OK);
	assert_int_equal(e->n.guest_offloads, 0);
	assert_int_equal(e->last_what, VNET_APPLY_OFFLOADS);
	/* TSO without CSUM (Linux "ethtool -K rx off" sends that). */
	assert_int_equal(cmd_u64(e, VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, tso4), OK);
	assert_int_equal(e->n.guest_offloads, tso4);
	assert_int_equal(cmd_u64(e, VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, csum | tso4), OK);
	assert_int_equal(e->n.guest_offloads, csum | tso4);
}

static void test_coalescing(void **state)
{
	struct env *e = *state;
	uint8_t b[12], res[8];
	uint32_t used;

	full_up(e);
	/* The spec's example, two pairs. */
	put_le32(b, 15);
	put_le32(b + 4, 10);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_RX_SET, b, 8), OK);
	assert_int_equal(e->last_what, VNET_APPLY_COAL);
	assert_int_equal(e->n.vq_coal[0].max_packets, 15);
	assert_int_equal(e->n.vq_coal[2].max_usecs, 10);
	assert_int_equal(e->n.vq_coal[1].max_packets, 0);
	assert_int_equal(e->n.vq_coal[3].max_packets, 0);
	put_le16(b, 0);
	put_le16(b + 2, 0xbeef); /* reserved: ignored */
	put_le32(b + 4, 30);
	put_le32(b + 8, 20);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET, b, 12), OK);
	assert_int_equal(e->n.vq_coal[0].max_packets, 30);
	assert_int_equal(e->n.vq_coal[2].max_packets, 15);
	/* VQ_GET 0: what command 2 set. */
	uint8_t g[6] = { VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_GET, 0, 0, 0, 0 };
	assert_int_equal(send_raw(e, g, 6, SPLIT_HDR, 9, &used, res), OK);
	assert_int_equal(used, 9);
	assert_memory_equal(res, "\x1e\0\0\0\x14\0\0\0", 8);
	put_le16(b, 1);
	put_le32(b + 4, 5);
	put_le32(b + 8, 6);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET, b, 12), OK);
	put_le32(b, 7);
	put_le32(b + 4, 8);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_TX_SET, b, 8), OK);
	g[2] = 1;
	assert_int_equal(send_raw(e, g, 6, SPLIT_HDR, 9, &used, res), OK);
	assert_memory_equal(res, "\x07\0\0\0\x08\0\0\0", 8); /* command 5 overrode 4 */
	assert_int_equal(e->n.vq_coal[3].max_usecs, 8);
	/* VQ_GET of the control queue, or beyond: ERR, no result. */
	g[2] = 4;
	assert_int_equal(send_raw(e, g, 6, SPLIT_HDR, 9, &used, res), ERR);
	assert_int_equal(used, 1);
	g[2] = 9;
	assert_int_equal(send_raw(e, g, 6, SPLIT_HDR, 9, &used, res), ERR);
	/* Device reset: all 0. */
	assert_int_equal(vdev_set_status(&e->n.vdev, 0), 0);
	assert_int_equal(e->n.tx_coal.max_packets, 0);
	assert_int_equal(e->n.vq_coal[0].max_packets, 0);
	assert_int_equal(e->n.vq_coal[3].max_usecs, 0);
}

static void test_coalescing_queue_reset(void **state)
{
	struct env *e = *state;
	uint8_t b[12];

	dev_create(e, CTRL_ALL | VDEV_BIT(VIRTIO_F_RING_RESET), 0, 2);
	bring_up(e);
	put_le32(b, 3);
	put_le32(b + 4, 4);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_RX_SET, b, 8), OK);
	put_le16(b, 2);
	put_le32(b + 4, 50);
	put_le32(b + 8, 60);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET, b, 12), OK);
	put_le16(b, 1);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET, b, 12), OK);
	/* Disabling and re-enabling: back to RX_SET's, and TX's (never set) 0. */
	assert_int_equal(vdev_queue_reset(&e->n.vdev, 2), 0);
	assert_int_equal(vdev_queue_reset(&e->n.vdev, 1), 0);
	assert_int_equal(e->qquiesces, 2);
	assert_int_equal(e->n.vq_coal[2].max_packets, 3);
	assert_int_equal(e->n.vq_coal[2].max_usecs, 4);
	assert_int_equal(e->n.vq_coal[1].max_packets, 0);
	/* A queue being reset is not an enabled queue. */
	put_le16(b, 2);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET, b, 12), ERR);
}

static void test_coalescing_disabled_queue(void **state)
{
	struct env *e = *state;
	uint8_t b[12];

	dev_create(e, CTRL_ALL, 0, 2);
	bring_up_ex(e, e->p.features & ~VDEV_BIT(VIRTIO_F_RING_PACKED), 1u << 3, true);
	memset(b, 0, sizeof(b));
	put_le16(b, 3); /* transmitq2 was never enabled */
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET, b, 12), ERR);
	put_le16(b, 2);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET, b, 12), OK);
	/* Without MQ/RSS negotiated only queues 0 and 1 are data queues. */
	dev_destroy(e);
	dev_create(e, CTRL_ALL, 0, 2);
	bring_up_ex(e, e->p.features & ~(NF(VIRTIO_NET_F_MQ) | NF(VIRTIO_NET_F_RSS)), 0, true);
	put_le16(b, 2); /* the control queue */
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET, b, 12), ERR);
	put_le16(b, 1);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET, b, 12), OK);
}

static void test_device_reset_restores_defaults(void **state)
{
	struct env *e = *state;
	uint8_t t[64], b[8];
	const uint8_t mcs[1][6] = { { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 } };

	full_up(e);
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_int_equal(RX(NOBCAST, 1), OK);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t,
			     mac_tables(t, NULL, 0, mcs, 1)), OK);
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 5), OK);
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2), OK);
	put_le32(b, 1);
	put_le32(b + 4, 1);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_TX_SET, b, 8), OK);
	vnet_announce(&e->n);
	assert_int_equal(vdev_set_status(&e->n.vdev, 0), 0);
	assert_int_equal(e->quiesces, 1);
	assert_true(e->n.filter.promisc);
	assert_false(e->n.filter.nobcast);
	assert_false(e->n.filter.mac_filter);
	assert_int_equal(e->n.filter.n_mc, 0);
	assert_int_equal(e->n.filter.vlans[0], 0);
	assert_int_equal(e->n.curr_pairs, 1);
	assert_int_equal(e->n.tx_coal.max_packets, 0);
	assert_int_equal(e->n.vq_coal[1].max_packets, 0);
	assert_int_equal(e->n.status, VIRTIO_NET_S_LINK_UP);
	assert_int_equal(e->n.guest_offloads, 0);
	/* Without CTRL_RX after renegotiation nothing is filtered. */
	sim_vq_fini(&e->ctl);
	for (unsigned i = 0; i < e->ndq; i++)
		sim_vq_fini(&e->dq[i]);
	e->ndq = 0;
	e->have_ctl = false;
	bring_up_ex(e, V1 | NF(VIRTIO_NET_F_CTRL_VQ), 0, true);
	assert_true(rx(&e->n, OTHER, 7));
}

/* The datapath applies the change before the answer is written. */
static void test_apply_before_ack(void **state)
{
	struct env *e = *state;

	full_up(e);
	e->applies = 0;
	e->ack_at_apply = -1;
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_int_equal(e->applies, 1);
	assert_int_equal(e->ack_at_apply, 0xaa); /* the ack byte not yet written */
	assert_false(e->other_at_apply);         /* but the state already new */
	/* ERR: no apply. */
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 0), ERR);
	assert_int_equal(e->applies, 1);
	/* No change: no apply. */
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_int_equal(e->applies, 1);
	/* VQ_GET changes nothing. */
	uint8_t g[6] = { VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_GET, 0, 0, 0, 0 };
	uint32_t used;
	assert_int_equal(send_raw(e, g, 6, SPLIT_HDR, 9, &used, NULL), OK);
	assert_int_equal(e->applies, 1);
	/* Each kind of change names itself. */
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2), OK);
	assert_int_equal(e->applies, 2);
	assert_int_equal(e->ack_at_apply, 0xaa);
	assert_int_equal(e->last_what, VNET_APPLY_MQ);
}

static void test_queue_interrupt(void **state)
{
	struct env *e = *state;

	full_up(e);
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_int_equal(e->queue_irqs, 1);
	int ci = vnet_ctrl_queue_index(&e->n);
	assert_int_equal(e->n.qstats[ci].interrupts, 1);
	assert_int_equal(e->n.qstats[ci].kicks, 1);
	/* The driver polls (Linux spins on the control queue): none (with
	 * EVENT_IDX used_event is left behind, so at most one more). */
	sim_vq_disable_cb(&e->ctl);
	assert_int_equal(RX(PROMISC, 1), OK);
	unsigned irqs = e->queue_irqs;
	assert_true(irqs <= 2);
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_int_equal(RX(PROMISC, 1), OK);
	assert_int_equal(e->queue_irqs, irqs);
}

static void test_several_commands_one_kick(void **state)
{
	struct env *e = *state;
	uint8_t cmds[3][3] = {
		{ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0 },
		{ VIRTIO_NET_CTRL_RX, 77, 0 },
		{ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, 1 },
	};
	struct sim_buf out[3], in[3];
	uint32_t len;
	bool bad;

	full_up(e);
	for (int i = 0; i < 3; i++) {
		out[i] = (struct sim_buf){ e->out_iova + 16u * i, 3 };
		in[i] = (struct sim_buf){ e->in_iova + 16u * i, 1 };
		assert_int_equal(sim_hostmem_write(&e->mem, out[i].iova, cmds[i], 3), 0);
		e->in[16 * i] = 0xaa;
		assert_int_equal(sim_vq_add(&e->ctl, &out[i], 1, &in[i], 1,
					    (void *)(uintptr_t)(i + 1), false), 0);
	}
	sim_vq_publish(&e->ctl);
	assert_int_equal(vnet_ctrl_process(&e->n), 3);
	for (int i = 0; i < 3; i++)
		assert_ptr_equal(sim_vq_get_used(&e->ctl, &len, &bad), (void *)(uintptr_t)(i + 1));
	assert_int_equal(e->in[0], OK);
	assert_int_equal(e->in[16], ERR);
	assert_int_equal(e->in[32], OK);
	assert_int_equal(e->queue_irqs, 1); /* one decision per kick */
	assert_false(e->n.filter.promisc);
	assert_true(e->n.filter.allmulti);
}

/* Descriptors cut anywhere: a byte per descriptor, one descriptor, and
 * data across two host memory regions. */
static void test_command_layouts(void **state)
{
	struct env *e = *state;
	uint8_t t[64];
	const uint8_t ucs[2][6] = { { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc }, { 0x52, 0x54, 0x00, 0x01, 0x02, 0x03 } };
	const uint8_t mcs[1][6] = { { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 } };

	full_up(e);
	assert_int_equal(cmd_ex(e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, "\0", 1, SPLIT_BYTES), OK);
	assert_false(e->n.filter.promisc);
	uint32_t len = mac_tables(t, ucs, 2, mcs, 1);
	assert_int_equal(cmd_ex(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t, len, SPLIT_BYTES), OK);
	assert_int_equal(e->n.filter.n_uc, 2);
	len = mac_tables(t, ucs, 1, NULL, 0);
	assert_int_equal(cmd_ex(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t, len, SPLIT_ONE), OK);
	assert_int_equal(e->n.filter.n_uc, 1);
	len = mac_tables(t, ucs, 2, mcs, 1);
	assert_int_equal(cmd_ex(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t, len, SPLIT_SPAN), OK);
	assert_int_equal(e->n.filter.n_uc, 2);
	assert_int_equal(e->n.filter.n_mc, 1);
	assert_memory_equal(e->n.filter.uc[1], UC2, 6);
	/* The ack in a writable part longer than needed: used length 1. */
	uint8_t c[3] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1 };
	uint32_t used;
	assert_int_equal(send_raw(e, c, 3, SPLIT_ONE, 64, &used, NULL), OK);
	assert_int_equal(used, 1);
	assert_int_equal(e->in[1], 0xaa);
}

static void test_broken_ctrl_queue(void **state)
{
	struct env *e = *state;

	full_up(e);
	if (e->ring)
		skip(); /* the split ring's head index is the easy lie */
	e->ctl.avail->ring[e->ctl.avail_idx & e->ctl.mask] = cpu_to_vle16(99);
	e->ctl.avail_idx++;
	sim_vq_publish(&e->ctl);
	assert_int_equal(vnet_ctrl_process(&e->n), -EIO);
	assert_true(vdev_get_status(&e->n.vdev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal(e->config_irqs, 1);
	assert_int_equal(vnet_ctrl_process(&e->n), -EIO); /* inert */
}

/* ======================= unnegotiated commands =============================== */

static void test_unnegotiated_commands(void **state)
{
	struct env *e = *state;
	uint8_t b[64];
	struct snap s;

	/* Only CTRL_VQ among the control features. */
	dev_create(e, CTRL_ALL, 0, 2);
	bring_up_ex(e, V1 | NF(VIRTIO_NET_F_CTRL_VQ) | NF(VIRTIO_NET_F_STATUS), 0, true);
	snap_take(e, &s);
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_int_equal(RX(ALLMULTI, 1), OK);
	assert_int_equal(RX(NOUNI, 1), OK);
	assert_int_equal(RX(NOBCAST, 1), OK);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, b,
			     mac_tables(b, NULL, 0, NULL, 0)), OK);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, UC2, 6), ERR);
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 3), OK);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0), OK);
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 1), ERR);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, b,
			     rss_cfg(b, 0, 1, 0, 0, 1)), ERR);
	memset(b, 0, 13);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_HASH_CONFIG, b, 13), ERR);
	assert_int_equal(cmd_u64(e, VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, 0), ERR);
	memset(b, 0, 12);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_TX_SET, b, 8), ERR);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_RX_SET, b, 8), ERR);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET, b, 12), ERR);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_GET, b, 4), ERR);
	snap_check(e, &s);
	assert_int_equal(e->applies, 0);
	assert_int_equal(e->n.ctrl.unnegotiated, 16);
	/* Malformed is ERR whether negotiated or not. */
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, b, 2), ERR);
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 4096), ERR);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, b, 7), ERR);
	/* Nothing is filtered without CTRL_RX. */
	assert_true(rx(&e->n, OTHER, 3));
	assert_true(rx(&e->n, BC, -1));
}

/* CTRL_RX without CTRL_RX_EXTRA: the extra modes are applied anyway. */
static void test_rx_extra_without_feature(void **state)
{
	struct env *e = *state;

	dev_create(e, 0, 0, 1);
	bring_up_ex(e, e->p.features & ~NF(VIRTIO_NET_F_CTRL_RX_EXTRA), 0, true);
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_int_equal(RX(NOUNI, 1), OK);
	assert_true(e->n.filter.nouni);
	assert_false(rx(&e->n, OWN, -1));
	assert_int_equal(e->n.ctrl.unnegotiated, 1);
}

/* ======================= malformed commands ================================== */

/* A malformed command: ERR with one byte used, nothing changed, no apply. */
static void expect_refused(struct env *e, const uint8_t *bytes, uint32_t n)
{
	struct snap s;
	uint32_t used;
	unsigned applies = e->applies;
	uint64_t errs = e->n.ctrl.err;

	snap_take(e, &s);
	assert_int_equal(send_raw(e, bytes, n, SPLIT_HDR, 1, &used, NULL), ERR);
	assert_int_equal(used, 1);
	snap_check(e, &s);
	assert_int_equal(e->applies, applies);
	assert_int_equal(e->n.ctrl.err, errs + 1);
}

#define REFUSED(...) do { \
		const uint8_t b_[] = { __VA_ARGS__ }; \
		expect_refused(e, b_, sizeof(b_)); \
	} while (0)

static void malformed_up(struct env *e)
{
	full_up(e);
	assert_int_equal(RX(PROMISC, 0), OK);
	e->applies = 0;
}

static void test_bad_no_readable_part(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	expect_refused(e, NULL, 0);
}

static void test_bad_header_one_byte(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_RX);
}

static void test_bad_no_ack_byte(void **state)
{
	struct env *e = *state;
	uint8_t c[3] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1 };
	uint32_t used = 99;
	struct snap s;

	malformed_up(e);
	snap_take(e, &s);
	assert_int_equal(send_raw(e, c, 3, SPLIT_HDR, 0, &used, NULL), -1);
	assert_int_equal(used, 0);
	snap_check(e, &s); /* not executed */
	assert_int_equal(e->n.ctrl.no_ack, 1);
	assert_int_equal(e->applies, 0);
	/* The queue goes on. */
	assert_int_equal(RX(PROMISC, 1), OK);
}

static void test_bad_unknown_class(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(7, 0);
	REFUSED(8, 0); /* STATS: never offered */
	REFUSED(9, 0); /* RSS contexts */
	REFUSED(0xff, 0xff, 1, 2, 3);
}

static void test_bad_unknown_command(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_RX, 6, 1);
	REFUSED(VIRTIO_NET_CTRL_MAC, 2, 0, 0, 0, 0);
	REFUSED(VIRTIO_NET_CTRL_VLAN, 2, 1, 0);
	REFUSED(VIRTIO_NET_CTRL_ANNOUNCE, 1);
	REFUSED(VIRTIO_NET_CTRL_MQ, 3, 1, 0);
	REFUSED(VIRTIO_NET_CTRL_GUEST_OFFLOADS, 1, 0, 0, 0, 0, 0, 0, 0, 0);
	REFUSED(VIRTIO_NET_CTRL_NOTF_COAL, 4, 0, 0, 0, 0);
}

static void test_bad_rx_no_data(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC);
}

static void test_bad_rx_two_bytes(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, 1, 0);
}

static void test_bad_mac_table_no_data(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET);
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 0, 0, 0);
}

static void test_bad_mac_table_uc_past_data(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	/* 1 unicast entry declared, 5 bytes of it. */
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 1, 0, 0, 0,
		0x52, 0x54, 0, 0, 0);
}

static void test_bad_mac_table_no_mc_count(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 1, 0, 0, 0,
		0x52, 0x54, 0, 0, 0, 1);
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 0, 0, 0, 0, 0, 0, 0);
}

static void test_bad_mac_table_mc_past_data(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 0, 0, 0, 0,
		2, 0, 0, 0, 0x01, 0, 0x5e, 0, 0, 1);
}

static void test_bad_mac_table_trailing(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 0, 0, 0, 0,
		0, 0, 0, 0, 0xee);
}

static void test_bad_mac_table_huge_counts(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 0xff, 0xff, 0xff, 0xff,
		0, 0, 0, 0);
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 0, 0, 0, 0,
		0xff, 0xff, 0xff, 0xff);
	/* 0x2aaaaaab * 6 wraps 32 bits to 2. */
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 0xab, 0xaa, 0xaa, 0x2a,
		0, 0, 0, 0, 0, 0);
}

static void test_bad_mac_table_group_in_unicast(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 1, 0, 0, 0,
		0x01, 0, 0x5e, 0, 0, 1, 0, 0, 0, 0);
}

static void test_bad_mac_table_individual_in_multicast(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 0, 0, 0, 0,
		1, 0, 0, 0, 0x52, 0x54, 0, 1, 2, 3);
}

/* A good unicast table and a bad multicast table: neither is taken. */
static void test_mac_table_all_or_nothing(void **state)
{
	struct env *e = *state;
	uint8_t t[64];
	const uint8_t ucs[1][6] = { { 0x52, 0x54, 0x00, 0x01, 0x02, 0x03 } };
	const uint8_t mcs[2][6] = { { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 }, { 0x52, 0x54, 0, 0, 0, 9 } };

	malformed_up(e);
	uint32_t len = mac_tables(t, ucs, 1, mcs, 1);
	assert_int_equal(cmd(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t, len), OK);
	uint8_t b[80] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET };
	const uint8_t ucs2[2][6] = { { 0x52, 0x54, 0x00, 0x0a, 0x0b, 0x0c }, { 0x52, 0x54, 0x00, 0x0d, 0x0e, 0x0f } };
	len = mac_tables(b + 2, ucs2, 2, mcs, 2); /* second multicast entry is unicast */
	expect_refused(e, b, len + 2);
	assert_true(rx(&e->n, UC2, -1));
	assert_false(rx(&e->n, ucs2[0], -1));
	assert_true(rx(&e->n, MC1, -1));
}

static void test_bad_mac_addr_short(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 0x52, 0x54, 0, 1, 2);
}

static void test_bad_mac_addr_long(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 0x52, 0x54, 0, 1, 2, 3, 4);
}

static void test_bad_mac_addr_multicast(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 0x01, 0, 0x5e, 0, 0, 1);
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
}

static void test_bad_mac_addr_zero(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 0, 0, 0, 0, 0, 0);
}

static void test_bad_vlan_short(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 5);
}

static void test_bad_vlan_long(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL, 5, 0, 0);
}

static void test_bad_vlan_id(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 0x00, 0x10); /* 4096 */
	REFUSED(VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 0xff, 0xff);
}

static void test_bad_announce_with_data(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	vnet_announce(&e->n);
	REFUSED(VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, 0);
	assert_true(e->n.status & VIRTIO_NET_S_ANNOUNCE);
}

static void test_bad_mq_short(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2);
}

static void test_bad_mq_long(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2, 0, 0);
}

static void test_bad_mq_zero(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 0, 0);
}

static void test_bad_mq_above_max(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 3, 0);
	REFUSED(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 0x00, 0x80); /* 0x8000 */
	REFUSED(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 0xff, 0xff);
}

static void test_bad_rss_truncated(void **state)
{
	struct env *e = *state;
	uint8_t b[2 + 512];

	malformed_up(e);
	b[0] = VIRTIO_NET_CTRL_MQ;
	b[1] = VIRTIO_NET_CTRL_MQ_RSS_CONFIG;
	uint32_t len = rss_cfg(b + 2, VIRTIO_NET_RSS_HASH_TYPE_IPv4, 128, 0, 0, 1);
	expect_refused(e, b, len + 1);     /* key cut short */
	expect_refused(e, b, 2 + 8 + 100); /* ends in the table */
	expect_refused(e, b, 2 + 5);       /* shorter than the fixed part */
}

static void test_bad_rss_entry(void **state)
{
	struct env *e = *state;
	uint8_t b[2 + 512];

	malformed_up(e);
	b[0] = VIRTIO_NET_CTRL_MQ;
	b[1] = VIRTIO_NET_CTRL_MQ_RSS_CONFIG;
	uint32_t len = rss_cfg(b + 2, VIRTIO_NET_RSS_HASH_TYPE_IPv4, 128, 0, 0, 1);
	put_le16(b + 2 + 8 + 2 * 127, 2); /* last entry: a third pair */
	expect_refused(e, b, len + 2);
	len = rss_cfg(b + 2, VIRTIO_NET_RSS_HASH_TYPE_IPv4, 128, 0, 0, 0); /* max_tx_vq 0 */
	expect_refused(e, b, len + 2);
	len = rss_cfg(b + 2, VIRTIO_NET_RSS_HASH_TYPE_IPv4, 100, 0, 0, 1); /* not a power of 2 */
	expect_refused(e, b, len + 2);
}

static void test_bad_offloads_short(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, 2, 0, 0, 0, 0, 0, 0);
}

static void test_bad_offloads_not_negotiated(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	/* GUEST_TSO6 (8) was not negotiated; MAC (5) is no offload. */
	REFUSED(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, 0x02, 0x01, 0, 0, 0, 0, 0, 0);
	REFUSED(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, 0x22, 0, 0, 0, 0, 0, 0, 0);
	REFUSED(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, 0, 0, 0, 0, 0, 0, 0, 0x80);
}

static void test_bad_coal_short(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_TX_SET, 1, 0, 0, 0, 1, 0, 0);
	REFUSED(VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_RX_SET, 1, 0, 0, 0, 1, 0, 0, 0, 0);
	REFUSED(VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0);
	REFUSED(VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_GET, 0, 0);
}

static void test_bad_coal_vq_index(void **state)
{
	struct env *e = *state;

	malformed_up(e);
	REFUSED(VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET, 4, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0);
	REFUSED(VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET, 0xff, 0xff, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0);
	REFUSED(VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_GET, 5, 0, 0, 0);
}

static void test_bad_coal_get_no_room(void **state)
{
	struct env *e = *state;
	uint8_t g[6] = { VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_VQ_GET, 0, 0, 0, 0 };
	uint32_t used;

	malformed_up(e);
	assert_int_equal(send_raw(e, g, 6, SPLIT_HDR, 8, &used, NULL), ERR);
	assert_int_equal(used, 1);
	assert_int_equal(e->in[1], 0xaa); /* nothing written past the ack */
}

/* ======================= RX filter bounds ==================================== */

static void test_rx_filter_bounds(void **state)
{
	struct env *e = *state;
	uint8_t f[64];

	full_up(e);
	memset(f, 0, sizeof(f));
	memcpy(f, OWN, 6);
	for (size_t len = 0; len < 14; len++)
		assert_false(vnet_rx_accept(&e->n, f, len));
	assert_true(vnet_rx_accept(&e->n, f, 14));
	assert_false(vnet_rx_accept(&e->n, NULL, 64));
	assert_false(vnet_rx_filter_accept(NULL, f, 64));
	/* Tagged, 14..17 bytes: the tag is cut. */
	f[12] = 0x81;
	assert_int_equal(RX(PROMISC, 0), OK);
	assert_int_equal(cmd_u16(e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 0), OK);
	for (size_t len = 14; len < 18; len++)
		assert_false(vnet_rx_accept(&e->n, f, len));
	assert_true(vnet_rx_accept(&e->n, f, 18)); /* VID 0 */
	/* 802.1ad outer tag: the C-VLAN filter does not apply. */
	f[12] = 0x88;
	f[13] = 0xa8;
	f[15] = 9;
	assert_true(vnet_rx_accept(&e->n, f, 18));
	/* A copy with a corrupt count stays inside its tables. */
	struct vnet_rx_filter copy = e->n.filter;
	copy.n_uc = 0xffff;
	copy.n_mc = 0xffff;
	assert_false(vnet_rx_filter_accept(&copy, (const uint8_t[64]){ 0x02, 9, 9, 9, 9, 9, 0x08 }, 64));
}

/* ======================= registration ======================================== */

static const struct tcase SPLIT = { 0, NULL };
static const struct tcase PACKED = { VQ_F_PACKED, NULL };

static const struct req_case reqs[] = {
	{ "GUEST_TSO4", VIRTIO_NET_F_GUEST_TSO4, NF(VIRTIO_NET_F_GUEST_CSUM), 0, true },
	{ "GUEST_TSO6", VIRTIO_NET_F_GUEST_TSO6, NF(VIRTIO_NET_F_GUEST_CSUM), 0, true },
	{ "GUEST_ECN", VIRTIO_NET_F_GUEST_ECN, 0,
	  NF(VIRTIO_NET_F_GUEST_TSO4) | NF(VIRTIO_NET_F_GUEST_TSO6), true },
	{ "GUEST_UFO", VIRTIO_NET_F_GUEST_UFO, NF(VIRTIO_NET_F_GUEST_CSUM), 0, false },
	{ "GUEST_USO4", VIRTIO_NET_F_GUEST_USO4, NF(VIRTIO_NET_F_GUEST_CSUM), 0, true },
	{ "GUEST_USO6", VIRTIO_NET_F_GUEST_USO6, NF(VIRTIO_NET_F_GUEST_CSUM), 0, true },
	{ "HOST_TSO4", VIRTIO_NET_F_HOST_TSO4, NF(VIRTIO_NET_F_CSUM), 0, true },
	{ "HOST_TSO6", VIRTIO_NET_F_HOST_TSO6, NF(VIRTIO_NET_F_CSUM), 0, true },
	{ "HOST_ECN", VIRTIO_NET_F_HOST_ECN, 0,
	  NF(VIRTIO_NET_F_HOST_TSO4) | NF(VIRTIO_NET_F_HOST_TSO6), true },
	{ "HOST_UFO", VIRTIO_NET_F_HOST_UFO, NF(VIRTIO_NET_F_CSUM), 0, true },
	{ "HOST_USO", VIRTIO_NET_F_HOST_USO, NF(VIRTIO_NET_F_CSUM), 0, true },
	{ "CTRL_RX", VIRTIO_NET_F_CTRL_RX, NF(VIRTIO_NET_F_CTRL_VQ), 0, true },
	{ "CTRL_VLAN", VIRTIO_NET_F_CTRL_VLAN, NF(VIRTIO_NET_F_CTRL_VQ), 0, true },
	{ "GUEST_ANNOUNCE", VIRTIO_NET_F_GUEST_ANNOUNCE, NF(VIRTIO_NET_F_CTRL_VQ), 0, true },
	{ "MQ", VIRTIO_NET_F_MQ, NF(VIRTIO_NET_F_CTRL_VQ), 0, true },
	{ "CTRL_MAC_ADDR", VIRTIO_NET_F_CTRL_MAC_ADDR, NF(VIRTIO_NET_F_CTRL_VQ), 0, true },
	{ "NOTF_COAL", VIRTIO_NET_F_NOTF_COAL, NF(VIRTIO_NET_F_CTRL_VQ), 0, true },
	{ "RSC_EXT", VIRTIO_NET_F_RSC_EXT, 0,
	  NF(VIRTIO_NET_F_HOST_TSO4) | NF(VIRTIO_NET_F_HOST_TSO6), false },
	{ "RSS", VIRTIO_NET_F_RSS, NF(VIRTIO_NET_F_CTRL_VQ), 0, true },
	{ "VQ_NOTF_COAL", VIRTIO_NET_F_VQ_NOTF_COAL, NF(VIRTIO_NET_F_CTRL_VQ), 0, true },
	{ "HASH_TUNNEL", VIRTIO_NET_F_HASH_TUNNEL, NF(VIRTIO_NET_F_CTRL_VQ),
	  NF(VIRTIO_NET_F_RSS) | NF(VIRTIO_NET_F_HASH_REPORT), false },
};
#define NREQ (sizeof(reqs) / sizeof(reqs[0]))

static struct tcase req_tc[NREQ];
static char req_names[NREQ][48];

#define T(f) { #f, f, setup, teardown, (void *)&SPLIT }
#define T2(f) { #f "/split", f, setup, teardown, (void *)&SPLIT }, \
	      { #f "/packed", f, setup, teardown, (void *)&PACKED }

int main(void)
{
	static struct CMUnitTest tests[] = {
		T(test_params_default_valid),
		T(test_params_refused),
		T(test_queue_count_and_ctrl_index),
		T2(test_init_sequence),
		T(test_standby),
		T2(test_ctrl_not_before_driver_ok),
		T(test_config_every_offset_and_width),
		T(test_config_fields_absent),
		T(test_config_write_ignored),
		T(test_features_should_not_accepted),
		T2(test_rx_promisc),
		T2(test_rx_allmulti),
		T2(test_rx_alluni),
		T2(test_rx_nomulti),
		T2(test_rx_nouni),
		T2(test_rx_nobcast),
		T2(test_mac_table_set),
		T2(test_mac_table_overflow_fallback),
		T2(test_mac_table_longer_than_buffer),
		T2(test_mac_addr_set),
		T2(test_vlan_filter),
		T2(test_vlan_not_negotiated_accepts_all_tags),
		T2(test_announce),
		T2(test_announce_needs_feature),
		T2(test_link),
		T2(test_mq_pairs),
		T2(test_rss_config),
		T2(test_hash_config),
		T2(test_guest_offloads),
		T2(test_coalescing),
		T2(test_coalescing_queue_reset),
		T2(test_coalescing_disabled_queue),
		T2(test_device_reset_restores_defaults),
		T2(test_apply_before_ack),
		T2(test_queue_interrupt),
		T2(test_several_commands_one_kick),
		T2(test_command_layouts),
		T(test_broken_ctrl_queue),
		T2(test_unnegotiated_commands),
		T2(test_rx_extra_without_feature),
		T2(test_bad_no_readable_part),
		T2(test_bad_header_one_byte),
		T2(test_bad_no_ack_byte),
		T2(test_bad_unknown_class),
		T2(test_bad_unknown_command),
		T2(test_bad_rx_no_data),
		T2(test_bad_rx_two_bytes),
		T2(test_bad_mac_table_no_data),
		T2(test_bad_mac_table_uc_past_data),
		T2(test_bad_mac_table_no_mc_count),
		T2(test_bad_mac_table_mc_past_data),
		T2(test_bad_mac_table_trailing),
		T2(test_bad_mac_table_huge_counts),
		T2(test_bad_mac_table_group_in_unicast),
		T2(test_bad_mac_table_individual_in_multicast),
		T2(test_mac_table_all_or_nothing),
		T2(test_bad_mac_addr_short),
		T2(test_bad_mac_addr_long),
		T2(test_bad_mac_addr_multicast),
		T2(test_bad_mac_addr_zero),
		T2(test_bad_vlan_short),
		T2(test_bad_vlan_long),
		T2(test_bad_vlan_id),
		T2(test_bad_announce_with_data),
		T2(test_bad_mq_short),
		T2(test_bad_mq_long),
		T2(test_bad_mq_zero),
		T2(test_bad_mq_above_max),
		T2(test_bad_rss_truncated),
		T2(test_bad_rss_entry),
		T2(test_bad_offloads_short),
		T2(test_bad_offloads_not_negotiated),
		T2(test_bad_coal_short),
		T2(test_bad_coal_vq_index),
		T2(test_bad_coal_get_no_room),
		T(test_rx_filter_bounds),
	};
	size_t nbase = sizeof(tests) / sizeof(tests[0]);
	struct CMUnitTest *all = calloc(nbase + NREQ, sizeof(*all));

	memcpy(all, tests, sizeof(tests));
	for (size_t i = 0; i < NREQ; i++) {
		req_tc[i] = (struct tcase){ 0, &reqs[i] };
		snprintf(req_names[i], sizeof(req_names[i]), "test_feature_requirement/%s",
			 reqs[i].name);
		all[nbase + i] = (struct CMUnitTest){ req_names[i], test_feature_requirement,
						      setup, teardown, &req_tc[i] };
	}
	int rc = _cmocka_run_group_tests("virtio_net", all, nbase + NREQ, NULL, NULL);
	free(all);
	return rc;
}
