/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_ctrl — libFuzzer target for the virtio-net control queue
 * (emu/virtio_net.c, vnet_ctrl_process): hostile command bytes from a
 * driver that otherwise runs its ring correctly (sim_vq, split or packed),
 * through the real init sequence up to DRIVER_OK.
 *
 * Input layout (all little-endian):
 *
 *   off len
 *    0   1  bit 0 packed ring; bits 1-2 max_queue_pairs - 1 (1..4); bit 3
 *           the data queues are enabled (else none is); bit 4 EVENT_IDX;
 *           bit 5 INDIRECT_DESC, every command posted as an indirect
 *           table; bit 6 IN_ORDER; bit 7 VIRTIO_NET_F_MAC not offered
 *    1   2  the control features the driver takes, besides CTRL_VQ (all
 *           of them are offered): bit 0 CTRL_RX, 1 CTRL_RX_EXTRA,
 *           2 CTRL_VLAN, 3 CTRL_MAC_ADDR, 4 GUEST_ANNOUNCE, 5 STATUS, 6 MQ,
 *           7 RSS, 8 HASH_REPORT, 9 NOTF_COAL, 10 VQ_NOTF_COAL,
 *           11 CTRL_GUEST_OFFLOADS, 12 GUEST_CSUM, 13 GUEST_TSO4,
 *           14 GUEST_TSO6, 15 GUEST_ECN (dropped where the feature-bit
 *           requirements would refuse FEATURES_OK)
 *    3   1  bits 0-1: readable descriptors per command, 1 + v % 3; bits
 *           2-3: control queue size 8, 16, 32, 64; bit 4 lengths are
 *           not clamped to the input: data past its end repeat the input
 *           left cyclically (commands longer than VNET_CTRL_DATA_MAX from
 *           short inputs; the input then ends with that command)
 *    4   2  where the readable part is cut: byte 4 the first cut (mod
 *           len + 1), byte 5 the second (mod what is left + 1); empty
 *           pieces are left out
 *    6      the commands (at most MAX_CMDS), each:
 *             0  1  class
 *             1  1  command
 *             2  1  flags: bits 0-1 writable bytes 0, 1, 9, 16; bit 2 a
 *                   16-bit length; bit 3 batch: posted with the next
 *                   command, one vnet_ctrl_process for the batch; bit 4
 *                   no class/command header (the data is the whole
 *                   readable part); bit 5 placed across the boundary of
 *                   two host memory regions (never batched); bit 6
 *                   vnet_announce() before; bit 7 the writable part in
 *                   two descriptors (1 + the rest)
 *             3  1-2 len (clamped to the input left)
 *             .  len the command-specific data
 *
 * Checks: every posted command comes back exactly once (its token, the
 * bad flag never set) and vnet_ctrl_process counts exactly the commands
 * posted; the queue never breaks and DEVICE_NEEDS_RESET is never set; the
 * used length is 0 without a writable byte, else 1 (9 for an answered
 * NOTF_COAL_VQ_GET); the ack is the one the harness computes from the
 * command table and each command's rules (RSS and hash configuration
 * through vnet_rss_parse_config on a copy of the pre-command state); a
 * command processed alone leaves struct vnet_dev's control state (filter,
 * curr_pairs, status, rss including its lookup tables, guest offloads,
 * coalescing, config generation) exactly as the harness's model of that
 * command says: untouched when answered ERR, when not executed (no ack
 * byte) or when its feature was not negotiated and it is accepted as a
 * no-op; the apply hook never runs for an ERR and runs before the ack is
 * written; the invariants hold after every batch (curr_pairs in
 * 1..max, MAC table counts within VNET_MAC_TABLE_MAX and 0 on overflow,
 * RSS table entries and queues below max pairs, offloads within the
 * negotiated ones, status bits, the control counters add up); without
 * EVENT_IDX every batch raises the control queue's interrupt; and
 * vnet_rx_accept on a few fixed frames agrees with the simple rules the
 * filter state implies.
 *
 * Host memory and the DMA space are made once; the device is made and
 * brought up once per input and reused for every command. Command data
 * are written into host memory from heap copies of exactly their sizes.
 *
 * FUZZ_CTRL_VERBOSE=1 in the environment keeps the library's log lines
 * and traces each command.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal_log.h"
#include "sim_hostmem.h"
#include "sim_vq.h"
#include "virtio_dev.h"
#include "virtio_net.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                          \
	do {                                                              \
		if (!(c)) {                                               \
			fprintf(stderr, "fuzz_ctrl: check failed at line %d: %s\n", \
				__LINE__, #c);                            \
			__builtin_trap();                                 \
		}                                                         \
	} while (0)

#define NF(b) VNET_F(b)

#define HDR_LEN   6u
#define MAX_CMDS  96u
#define MAX_PAIRS 4u
#define MAX_DQ    (2u * MAX_PAIRS)

/* Host memory: rings from the start of R0, command data in a fixed area
 * of R0, acks in another; R1 adjacent to R0 (separate mappings), for the
 * commands placed across the boundary. */
#define R0_IOVA   0x100000ull
#define R0_LEN    (1ull << 20)
#define R1_IOVA   (R0_IOVA + R0_LEN)
#define R1_LEN    (128ull << 10)
#define DATA_IOVA (R0_IOVA + (512ull << 10))
#define DATA_LEN  (384ull << 10)
#define ACK_IOVA  (R0_IOVA + (960ull << 10))
#define ACK_SLOT  16u
#define SPAN_IOVA (R1_IOVA - 16)

#define SENTINEL  0xaa

#define CF_WLEN    3u
#define CF_LONG    (1u << 2)
#define CF_BATCH   (1u << 3)
#define CF_NOHDR   (1u << 4)
#define CF_SPAN    (1u << 5)
#define CF_ANNOUNCE (1u << 6)
#define CF_WSPLIT  (1u << 7)

static const uint32_t wlens[4] = { 0, 1, 9, 16 };
static const uint16_t qsizes[4] = { 8, 16, 32, 64 };

/* Header feature bits, in order. */
static const uint8_t hdr_features[16] = {
	VIRTIO_NET_F_CTRL_RX, VIRTIO_NET_F_CTRL_RX_EXTRA, VIRTIO_NET_F_CTRL_VLAN,
	VIRTIO_NET_F_CTRL_MAC_ADDR, VIRTIO_NET_F_GUEST_ANNOUNCE, VIRTIO_NET_F_STATUS,
	VIRTIO_NET_F_MQ, VIRTIO_NET_F_RSS, VIRTIO_NET_F_HASH_REPORT,
	VIRTIO_NET_F_NOTF_COAL, VIRTIO_NET_F_VQ_NOTF_COAL,
	VIRTIO_NET_F_CTRL_GUEST_OFFLOADS, VIRTIO_NET_F_GUEST_CSUM,
	VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_ECN,
};

static const uint8_t OWN[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static bool g_verbose;

/* ---- the harness's own command table (virtio_net.c's, re-stated) -------- */
enum unneg { U_ERR, U_OK, U_EXTRA };

struct cmd_rule {
	uint8_t cls, cmd, feature, unneg;
	int32_t len; /* -1: variable */
};

static const struct cmd_rule rules[] = {
	{ 0, 0, VIRTIO_NET_F_CTRL_RX, U_OK, 1 },
	{ 0, 1, VIRTIO_NET_F_CTRL_RX, U_OK, 1 },
	{ 0, 2, VIRTIO_NET_F_CTRL_RX_EXTRA, U_EXTRA, 1 },
	{ 0, 3, VIRTIO_NET_F_CTRL_RX_EXTRA, U_EXTRA, 1 },
	{ 0, 4, VIRTIO_NET_F_CTRL_RX_EXTRA, U_EXTRA, 1 },
	{ 0, 5, VIRTIO_NET_F_CTRL_RX_EXTRA, U_EXTRA, 1 },
	{ 1, 0, VIRTIO_NET_F_CTRL_RX, U_OK, -1 },
	{ 1, 1, VIRTIO_NET_F_CTRL_MAC_ADDR, U_ERR, 6 },
	{ 2, 0, VIRTIO_NET_F_CTRL_VLAN, U_OK, 2 },
	{ 2, 1, VIRTIO_NET_F_CTRL_VLAN, U_OK, 2 },
	{ 3, 0, VIRTIO_NET_F_GUEST_ANNOUNCE, U_OK, 0 },
	{ 4, 0, VIRTIO_NET_F_MQ, U_ERR, 2 },
	{ 4, 1, VIRTIO_NET_F_RSS, U_ERR, -1 },
	{ 4, 2, VIRTIO_NET_F_HASH_REPORT, U_ERR, -1 },
	{ 5, 0, VIRTIO_NET_F_CTRL_GUEST_OFFLOADS, U_ERR, 8 },
	{ 6, 0, VIRTIO_NET_F_NOTF_COAL, U_ERR, 8 },
	{ 6, 1, VIRTIO_NET_F_NOTF_COAL, U_ERR, 8 },
	{ 6, 2, VIRTIO_NET_F_VQ_NOTF_COAL, U_ERR, 12 },
	{ 6, 3, VIRTIO_NET_F_VQ_NOTF_COAL, U_ERR, 4 },
};

static const struct cmd_rule *rule_of(uint8_t cls, uint8_t cmd)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].cls == cls && rules[i].cmd == cmd)
			return &rules[i];
	return NULL;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* ---- the control state snapshot ------------------------------------------ */
struct snap {
	struct vnet_rx_filter f;
	uint16_t pairs, status;
	uint64_t offl;
	struct vnet_coal tx, rx, vq[MAX_DQ];
	uint8_t gen;
	struct vnet_rss *rss; /* heap, when the device has one */
};

static void snap_take(const struct vnet_dev *n, struct snap *s, struct vnet_rss *rss_buf)
{
	memset(s, 0, sizeof(*s));
	memcpy(&s->f, &n->filter, sizeof(s->f));
	s->pairs = n->curr_pairs;
	s->status = n->status;
	s->offl = n->guest_offloads;
	memcpy(&s->tx, &n->tx_coal, sizeof(s->tx));
	memcpy(&s->rx, &n->rx_coal, sizeof(s->rx));
	memcpy(s->vq, n->vq_coal, 2u * n->p.max_queue_pairs * sizeof(s->vq[0]));
	s->gen = n->vdev.config_generation;
	if (n->rss) {
		s->rss = rss_buf;
		memcpy(s->rss, n->rss, sizeof(*s->rss));
	}
}

static void snap_compare(const struct snap *a, const struct snap *b, bool with_rss)
{
	CHECK(memcmp(&a->f, &b->f, sizeof(a->f)) == 0);
	CHECK(a->pairs == b->pairs);
	CHECK(a->status == b->status);
	CHECK(a->offl == b->offl);
	CHECK(memcmp(&a->tx, &b->tx, sizeof(a->tx)) == 0);
	CHECK(memcmp(&a->rx, &b->rx, sizeof(a->rx)) == 0);
	CHECK(memcmp(a->vq, b->vq, sizeof(a->vq)) == 0);
	CHECK(a->gen == b->gen);
	if (with_rss && a->rss)
		CHECK(memcmp(a->rss, b->rss, sizeof(*a->rss)) == 0);
}

/* ---- the environment, made once --------------------------------------------- */
struct cmd_slot {
	uint8_t cls, cmd;          /* as the device will see them (when hdr) */
	bool hdr;                  /* readable part at least 2 bytes */
	uint32_t wlen;
	uint8_t *dat;              /* heap copy of the command data, exact size */
	uint32_t len;              /* its length */
	int expect;                /* 0 OK, 1 ERR, -1 not computed, -2 no ack */
	uint32_t ack_iova;
	bool done;
	uint32_t used;
};

static struct {
	struct sim_hostmem mem;
	struct dma_space *dma;
	uint8_t *ack_va;
	/* per input */
	struct vnet_dev n;
	struct vnet_params p;
	struct sim_vq ctl;
	struct sim_vq dq[MAX_DQ];
	unsigned ndq;
	uint64_t f;             /* negotiated */
	bool indirect;
	unsigned nrd;           /* readable descriptors per command */
	uint8_t cut_a, cut_b;
	/* the batch */
	struct cmd_slot slot[MAX_CMDS];
	unsigned nslot;
	uint64_t data_cursor;
	/* hooks */
	unsigned applies;
	const struct cmd_slot *single; /* the command processed alone */
	bool apply_saw_ack;            /* apply ran after the ack was written */
	uint64_t done_total;
	unsigned irqs;
	bool event_idx, cyclic;
	struct vnet_rss *rss_a, *rss_b, *rss_m;
} E;

static void h_apply(struct vnet_dev *n, unsigned what)
{
	(void)n;
	CHECK(what != 0);
	E.applies++;
	if (E.single && E.single->wlen &&
	    E.ack_va[E.single->ack_iova - ACK_IOVA] != SENTINEL)
		E.apply_saw_ack = true;
}

static void h_quiesce(struct vnet_dev *n) { vdev_quiesced(&n->vdev); }

static void h_quiesce_queue(struct vnet_dev *n, uint16_t q)
{
	vdev_queue_quiesced(&n->vdev, q);
}

static void h_queue_irq(struct vnet_dev *n, uint16_t q)
{
	CHECK((int)q == vnet_ctrl_queue_index(n));
	E.irqs++;
}

static const struct vnet_hooks hooks = {
	.apply = h_apply,
	.queue_irq = h_queue_irq,
	.quiesce = h_quiesce,
	.quiesce_queue = h_quiesce_queue,
};

static void discard_log(enum hal_log_level level, const char *line)
{
	(void)level;
	(void)line;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	g_verbose = getenv("FUZZ_CTRL_VERBOSE") != NULL;
	if (!g_verbose)
		hal_log_set_sink(discard_log);
	sim_hostmem_init(&E.mem);
	CHECK(sim_hostmem_add(&E.mem, R0_IOVA, R0_LEN) == 0);
	CHECK(sim_hostmem_add(&E.mem, R1_IOVA, R1_LEN) == 0);
	E.dma = dma_space_create(NULL);
	CHECK(E.dma != NULL);
	CHECK(sim_hostmem_map(&E.mem, E.dma, DMA_PROT_READ | DMA_PROT_WRITE) == 0);
	E.ack_va = sim_hostmem_va(&E.mem, ACK_IOVA, (uint64_t)MAX_CMDS * ACK_SLOT);
	CHECK(E.ack_va != NULL);
	E.rss_a = malloc(sizeof(struct vnet_rss));
	E.rss_b = malloc(sizeof(struct vnet_rss));
	E.rss_m = malloc(sizeof(struct vnet_rss));
	CHECK(E.rss_a && E.rss_b && E.rss_m);
	return 0;
}

/* ---- the expected answer ------------------------------------------------------- */

/* A MAC_TABLE_SET payload: 0 valid (uc/mc counts and overflow out), 1 not. */
static int mac_table_parse(const uint8_t *d, uint32_t len, uint16_t *n_uc,
			   uint16_t *n_mc, bool *uo, bool *mo)
{
	uint32_t off = 0;

	for (int t = 0; t < 2; t++) {
		bool group = t == 1;
		uint32_t cnt;

		if (len - off < 4)
			return 1;
		cnt = le32(d + off);
		off += 4;
		if ((uint64_t)cnt * 6 > len - off)
			return 1;
		if (cnt <= VNET_MAC_TABLE_MAX)
			for (uint32_t i = 0; i < cnt; i++)
				if (((d[off + 6 * i] & 1) != 0) != group)
					return 1;
		*(group ? n_mc : n_uc) = cnt > VNET_MAC_TABLE_MAX ? 0 : (uint16_t)cnt;
		*(group ? mo : uo) = cnt > VNET_MAC_TABLE_MAX;
		off += cnt * 6;
	}
	return off == len ? 0 : 1;
}

static bool neg(uint8_t bit) { return E.f & NF(bit); }

static uint16_t data_pairs(void)
{
	return neg(VIRTIO_NET_F_MQ) || neg(VIRTIO_NET_F_RSS) ? E.p.max_queue_pairs : 1;
}

static bool dq_enabled(uint16_t q)
{
	return q < 2u * data_pairs() && q < E.ndq;
}

/*
 * The answer a command must get, and (when want is non-NULL: processed
 * alone, *want holds the state before) the state it must leave. Returns
 * 0 OK, 1 ERR, -2 not executed (no writable byte), -1 not modelled.
 * *rss_done tells the caller that want->rss is the model's too.
 */
static int model(const struct cmd_slot *s, struct snap *want, bool *rss_model)
{
	const uint8_t *d = s->dat;
	uint32_t len = s->len;
	uint8_t cls = s->cls, cmd = s->cmd;

	*rss_model = true;
	if (s->wlen == 0)
		return -2;
	if (!s->hdr)
		return 1;
	const struct cmd_rule *r = rule_of(cls, cmd);
	if (!r)
		return 1;
	bool dry = false;
	if (!neg(r->feature)) {
		if (r->unneg == U_ERR)
			return 1;
		dry = !(r->unneg == U_EXTRA && neg(VIRTIO_NET_F_CTRL_RX));
	}
	if (r->len >= 0 && len != (uint32_t)r->len)
		return 1;
	struct vnet_rx_filter *f = want ? &want->f : NULL;
	switch (cls) {
	case VIRTIO_NET_CTRL_RX:
		if (want && !dry) {
			bool on = d[0] != 0;
			bool *m[6] = { &f->promisc, &f->allmulti, &f->alluni,
				       &f->nomulti, &f->nouni, &f->nobcast };
			*m[cmd] = on;
		}
		return 0;
	case VIRTIO_NET_CTRL_MAC:
		if (cmd == VIRTIO_NET_CTRL_MAC_TABLE_SET) {
			uint16_t nu = 0, nm = 0;
			bool uo = false, mo = false;

			if (mac_table_parse(d, len, &nu, &nm, &uo, &mo))
				return 1;
			if (want && !dry) {
				const uint8_t *mc = d + 4 + 6 * (size_t)le32(d) + 4;

				if (nu)
					memcpy(f->uc, d + 4, (size_t)nu * 6);
				if (nm)
					memcpy(f->mc, mc, (size_t)nm * 6);
				f->n_uc = nu;
				f->n_mc = nm;
				f->uc_overflow = uo;
				f->mc_overflow = mo;
			}
			return 0;
		}
		if (d[0] & 1 || !(d[0] | d[1] | d[2] | d[3] | d[4] | d[5]))
			return 1;
		if (want) {
			memcpy(f->mac, d, 6);
			if (E.p.features & NF(VIRTIO_NET_F_MAC))
				want->gen++;
		}
		return 0;
	case VIRTIO_NET_CTRL_VLAN: {
		uint16_t vid = le16(d);

		if (vid >= VNET_VLAN_MAX)
			return 1;
		if (want && !dry) {
			if (cmd == VIRTIO_NET_CTRL_VLAN_ADD)
				f->vlans[vid >> 6] |= 1ull << (vid & 63);
			else
				f->vlans[vid >> 6] &= ~(1ull << (vid & 63));
		}
		return 0;
	}
	case VIRTIO_NET_CTRL_ANNOUNCE:
		if (want && !dry && (want->status & VIRTIO_NET_S_ANNOUNCE)) {
			want->status &= (uint16_t)~VIRTIO_NET_S_ANNOUNCE;
			want->gen++;
		}
		return 0;
	case VIRTIO_NET_CTRL_MQ:
		if (cmd == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
			uint16_t v = le16(d);

			if (v < 1 || v > E.p.max_queue_pairs)
				return 1;
			if (want) {
				want->pairs = v;
				if (want->rss)
					want->rss->enabled = false;
			}
			return 0;
		}
		if (len > VNET_CTRL_DATA_MAX)
			return 1;
		if (!want) {
			*rss_model = false;
			return -1;
		}
		/* The library's own parser on a copy of the state before: the
		 * device must answer and end up as it does. */
		int rc = vnet_rss_parse_config(want->rss, len ? d : NULL, len,
					       E.p.max_queue_pairs,
					       want->rss->table_max, VNET_RSS_KEY_MAX,
					       E.p.hash_types,
					       cmd == VIRTIO_NET_CTRL_MQ_RSS_CONFIG);
		return rc == 0 ? 0 : 1;
	case VIRTIO_NET_CTRL_GUEST_OFFLOADS: {
		uint64_t v = le64(d);

		if (v & ~(E.f & VNET_GUEST_OFFLOADS))
			return 1;
		if (want)
			want->offl = v;
		return 0;
	}
	case VIRTIO_NET_CTRL_NOTF_COAL:
		if (cmd <= VIRTIO_NET_CTRL_NOTF_COAL_RX_SET) {
			bool tx = cmd == VIRTIO_NET_CTRL_NOTF_COAL_TX_SET;
			struct vnet_coal c = { le32(d), le32(d + 4) };

			if (want) {
				if (tx)
					want->tx = c;
				else
					want->rx = c;
				for (unsigned q = tx ? 1 : 0; q < 2u * E.p.max_queue_pairs; q += 2)
					want->vq[q] = c;
			}
			return 0;
		}
		if (!dq_enabled(le16(d)))
			return 1;
		if (cmd == VIRTIO_NET_CTRL_NOTF_COAL_VQ_GET)
			return s->wlen < 9 ? 1 : 0;
		if (want) {
			want->vq[le16(d)].max_packets = le32(d + 4);
			want->vq[le16(d)].max_usecs = le32(d + 8);
		}
		return 0;
	}
	return 1;
}

/* ---- invariants and the RX filter ------------------------------------------------ */
static void check_invariants(const struct vnet_dev *n)
{
	const struct vnet_rx_filter *f = &n->filter;
	uint16_t maxp = n->p.max_queue_pairs;

	CHECK(!(vdev_get_status(&n->vdev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
	CHECK(n->curr_pairs >= 1 && n->curr_pairs <= maxp);
	CHECK(f->n_uc <= VNET_MAC_TABLE_MAX && f->n_mc <= VNET_MAC_TABLE_MAX);
	CHECK(!f->uc_overflow || f->n_uc == 0);
	CHECK(!f->mc_overflow || f->n_mc == 0);
	for (unsigned i = 0; i < f->n_uc; i++)
		CHECK(!(f->uc[i][0] & 1));
	for (unsigned i = 0; i < f->n_mc; i++)
		CHECK(f->mc[i][0] & 1);
	CHECK(!(f->mac[0] & 1));
	CHECK(f->mac_filter == neg(VIRTIO_NET_F_CTRL_RX));
	CHECK(f->vlan_filter == neg(VIRTIO_NET_F_CTRL_VLAN));
	CHECK(!(n->guest_offloads & ~(E.f & VNET_GUEST_OFFLOADS)));
	CHECK(!(n->status & ~(VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE)));
	if (n->rss) {
		const struct vnet_rss *r = n->rss;

		CHECK(r->table_len >= 1 && r->table_len <= r->table_max &&
		      !(r->table_len & (r->table_len - 1)));
		CHECK(r->table_mask == r->table_len - 1);
		CHECK(r->unclassified_queue < maxp);
		CHECK(r->max_tx_vq >= 1 && r->max_tx_vq <= maxp);
		CHECK(r->key_len <= VNET_RSS_KEY_MAX);
		for (unsigned i = 0; i < r->table_len; i++)
			CHECK(r->table[i] < maxp);
		CHECK(!(r->hash_types & ~E.p.hash_types));
		if (!neg(VIRTIO_NET_F_RSS))
			CHECK(!r->enabled);
	}
	CHECK(n->ctrl.commands == E.done_total);
	CHECK(n->ctrl.ok + n->ctrl.err + n->ctrl.no_ack == n->ctrl.commands);
}

static void check_rx(const struct vnet_dev *n)
{
	const struct vnet_rx_filter *f = &n->filter;
	uint8_t fr[64];

	memset(fr, 0, sizeof(fr));
	memcpy(fr + 6, OWN, 6);
	fr[12] = 0x08;
	/* runt */
	memset(fr, 0xff, 6);
	CHECK(!vnet_rx_accept(n, fr, 13));
	/* broadcast, untagged */
	bool bc = vnet_rx_accept(n, fr, sizeof(fr));
	if (!f->mac_filter)
		CHECK(bc);
	else
		CHECK(bc == (f->promisc || !f->nobcast));
	/* the primary address, untagged */
	memcpy(fr, f->mac, 6);
	bool own = vnet_rx_accept(n, fr, sizeof(fr));
	if (!f->mac_filter || f->promisc)
		CHECK(own);
	else
		CHECK(own == !f->nouni);
	/* a multicast address */
	static const uint8_t mc[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	memcpy(fr, mc, 6);
	bool m = vnet_rx_accept(n, fr, sizeof(fr));
	if (!f->mac_filter || f->promisc)
		CHECK(m);
	else if (f->nomulti)
		CHECK(!m);
	else if (f->allmulti || f->mc_overflow)
		CHECK(m);
	/* another unicast address */
	static const uint8_t uc[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };
	memcpy(fr, uc, 6);
	bool u = vnet_rx_accept(n, fr, sizeof(fr));
	if (!f->mac_filter || f->promisc)
		CHECK(u);
	else if (f->nouni)
		CHECK(!u);
	else if (f->alluni || f->uc_overflow)
		CHECK(u);
	/* the primary address, tagged with VID 5, and a short tagged frame */
	memcpy(fr, f->mac, 6);
	fr[12] = 0x81;
	fr[13] = 0x00;
	fr[14] = 0x20;
	fr[15] = 5;
	fr[16] = 0x08;
	fr[17] = 0x00;
	bool t = vnet_rx_accept(n, fr, sizeof(fr));
	if (f->mac_filter && f->promisc)
		CHECK(t);
	else if (f->vlan_filter && !((f->vlans[0] >> 5) & 1))
		CHECK(!t);
	else
		CHECK(t == own);
	(void)vnet_rx_accept(n, fr, 16);
	/* the first table entries */
	fr[12] = 0x08;
	if (f->n_uc) {
		memcpy(fr, f->uc[0], 6);
		CHECK(vnet_rx_accept(n, fr, sizeof(fr)) == (!f->mac_filter || f->promisc || !f->nouni));
	}
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	if (f->n_mc && memcmp(f->mc[0], bcast, 6) != 0) { /* broadcast: its own rule */
		memcpy(fr, f->mc[0], 6);
		CHECK(vnet_rx_accept(n, fr, sizeof(fr)) == (!f->mac_filter || f->promisc || !f->nomulti));
	}
}

/* ---- posting and processing -------------------------------------------------------- */

/* Process the queue and reap: every posted command back exactly once. */
static void flush(void)
{
	const bool single = E.nslot == 1;
	struct snap before, want, after;
	bool rss_model = true;
	int expect1 = 0;
	unsigned applies0 = E.applies;

	if (!E.nslot)
		return;
	if (single) {
		snap_take(&E.n, &before, E.rss_a);
		snap_take(&E.n, &want, E.rss_m);
		expect1 = model(&E.slot[0], &want, &rss_model);
		E.slot[0].expect = expect1;
		E.single = &E.slot[0];
	} else {
		for (unsigned i = 0; i < E.nslot; i++) {
			bool rm;

			E.slot[i].expect = model(&E.slot[i], NULL, &rm);
		}
		E.single = NULL;
	}
	E.apply_saw_ack = false;
	unsigned irqs0 = E.irqs;
	sim_vq_publish(&E.ctl);
	int rc = vnet_ctrl_process(&E.n);
	if (g_verbose)
		fprintf(stderr, "fuzz_ctrl: %u command(s): process %d\n", E.nslot, rc);
	CHECK(rc == (int)E.nslot);
	CHECK(!vq_broken(&E.n.vdev.q[vnet_ctrl_queue_index(&E.n)].vq));
	CHECK(E.irqs - irqs0 <= 1);
	if (!E.event_idx)
		CHECK(E.irqs == irqs0 + 1);

	unsigned got = 0;
	for (;;) {
		uint32_t len = 0xdeadbeef;
		bool bad = false;
		struct cmd_slot *s = sim_vq_get_used(&E.ctl, &len, &bad);

		CHECK(!bad);
		if (!s)
			break;
		CHECK(s >= E.slot && s < E.slot + E.nslot);
		CHECK(!s->done);
		s->done = true;
		s->used = len;
		got++;
	}
	CHECK(got == E.nslot);
	E.done_total += got;

	for (unsigned i = 0; i < E.nslot; i++) {
		struct cmd_slot *s = &E.slot[i];
		const uint8_t *ack = E.ack_va + (s->ack_iova - ACK_IOVA);

		CHECK(s->done);
		if (g_verbose)
			fprintf(stderr, "fuzz_ctrl:   %u.%u len %u wlen %u%s: used %u ack %d expect %d\n",
				s->cls, s->cmd, s->len, s->wlen, s->hdr ? "" : " (no header)",
				s->used, s->wlen ? ack[0] : -1, s->expect);
		if (s->wlen == 0) {
			CHECK(s->used == 0);
			continue;
		}
		CHECK(ack[0] == VIRTIO_NET_OK || ack[0] == VIRTIO_NET_ERR);
		if (s->expect >= 0)
			CHECK(ack[0] == s->expect);
		bool get = s->hdr && s->cls == VIRTIO_NET_CTRL_NOTF_COAL &&
			   s->cmd == VIRTIO_NET_CTRL_NOTF_COAL_VQ_GET &&
			   ack[0] == VIRTIO_NET_OK;
		CHECK(s->used == (get ? 9u : 1u));
		if (get) {
			uint16_t q = le16(s->dat);

			CHECK(q < 2u * E.p.max_queue_pairs);
			CHECK(le32(ack + 1) == E.n.vq_coal[q].max_packets);
			CHECK(le32(ack + 5) == E.n.vq_coal[q].max_usecs);
		}
		for (uint32_t k = s->used; k < s->wlen; k++)
			CHECK(ack[k] == SENTINEL);
	}

	if (single) {
		const struct cmd_slot *s = &E.slot[0];
		bool err = s->wlen == 0 || E.ack_va[s->ack_iova - ACK_IOVA] != VIRTIO_NET_OK;

		snap_take(&E.n, &after, E.rss_b);
		if (err) {
			/* ERR or not executed: nothing changed, nothing applied. */
			CHECK(E.applies == applies0);
			snap_compare(&after, &before, true);
		} else {
			CHECK(!E.apply_saw_ack);
			snap_compare(&after, &want, rss_model);
		}
	}
	check_invariants(&E.n);
	check_rx(&E.n);

	for (unsigned i = 0; i < E.nslot; i++)
		free(E.slot[i].dat);
	E.nslot = 0;
	E.data_cursor = 0;
	E.single = NULL;
}

/* Post bytes [0, rlen) of `rd` (cut per the header) and the writable part
 * of s. The caller made room; false only for a full ring. */
static bool post(struct cmd_slot *s, const uint8_t *rd, uint32_t rlen, bool span,
		 bool wsplit)
{
	struct sim_buf out[3], in[2];
	unsigned nout = 0, nin = 0;
	uint64_t base;

	if (span) {
		base = SPAN_IOVA;
	} else {
		base = DATA_IOVA + E.data_cursor;
	}
	if (rlen)
		CHECK(sim_hostmem_write(&E.mem, base, rd, rlen) == 0);
	uint32_t c1 = E.cut_a % (rlen + 1), c2 = c1 + E.cut_b % (rlen - c1 + 1);
	uint32_t cuts[4] = { 0, c1, c2, rlen };
	if (E.nrd == 1) {
		cuts[1] = cuts[2] = rlen;
	} else if (E.nrd == 2) {
		cuts[2] = rlen;
	}
	for (unsigned k = 0; k < 3; k++)
		if (cuts[k + 1] > cuts[k])
			out[nout++] = (struct sim_buf){ base + cuts[k], cuts[k + 1] - cuts[k] };
	s->ack_iova = (uint32_t)(ACK_IOVA + (uint64_t)E.nslot * ACK_SLOT);
	memset(E.ack_va + (s->ack_iova - ACK_IOVA), SENTINEL, ACK_SLOT);
	if (s->wlen) {
		if (wsplit && s->wlen > 1) {
			in[nin++] = (struct sim_buf){ s->ack_iova, 1 };
			in[nin++] = (struct sim_buf){ s->ack_iova + 1, s->wlen - 1 };
		} else {
			in[nin++] = (struct sim_buf){ s->ack_iova, s->wlen };
		}
	}
	int rc = sim_vq_add(&E.ctl, out, nout, in, nin, s, E.indirect);
	if (rc == -ENOSPC)
		return false;
	CHECK(rc == 0);
	if (!span)
		E.data_cursor = (E.data_cursor + rlen + 7) & ~7ull;
	return true;
}

/* ---- device bring-up ------------------------------------------------------------------ */
static bool bring_up(const uint8_t *h)
{
	struct vdev *d = &E.n.vdev;
	const uint8_t S_ACK = VIRTIO_STATUS_ACKNOWLEDGE, S_DRV = VIRTIO_STATUS_DRIVER;
	const uint8_t S_FOK = VIRTIO_STATUS_FEATURES_OK, S_DOK = VIRTIO_STATUS_DRIVER_OK;
	uint16_t fb = le16(h + 1);
	uint64_t f = VDEV_BIT(VIRTIO_F_VERSION_1) | NF(VIRTIO_NET_F_CTRL_VQ);

	vnet_params_default(&E.p);
	memcpy(E.p.mac, OWN, 6);
	E.p.features |= NF(VIRTIO_NET_F_CTRL_RX) | NF(VIRTIO_NET_F_CTRL_RX_EXTRA) |
			NF(VIRTIO_NET_F_CTRL_VLAN) | NF(VIRTIO_NET_F_CTRL_MAC_ADDR) |
			NF(VIRTIO_NET_F_GUEST_ANNOUNCE) | NF(VIRTIO_NET_F_STATUS) |
			NF(VIRTIO_NET_F_MQ) | NF(VIRTIO_NET_F_RSS) |
			NF(VIRTIO_NET_F_HASH_REPORT) | NF(VIRTIO_NET_F_NOTF_COAL) |
			NF(VIRTIO_NET_F_VQ_NOTF_COAL) |
			NF(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) |
			NF(VIRTIO_NET_F_GUEST_CSUM) | NF(VIRTIO_NET_F_GUEST_TSO4) |
			NF(VIRTIO_NET_F_GUEST_TSO6) | NF(VIRTIO_NET_F_GUEST_ECN) |
			VDEV_BIT(VIRTIO_F_IN_ORDER);
	if (h[0] & 0x80)
		E.p.features &= ~NF(VIRTIO_NET_F_MAC);
	E.p.max_queue_pairs = (uint16_t)(1 + ((h[0] >> 1) & 3));
	CHECK(vnet_init(&E.n, &E.p, E.dma, "fuzz") == 0);
	vnet_set_hooks(&E.n, &hooks, NULL);

	for (unsigned b = 0; b < 16; b++)
		if (fb & (1u << b))
			f |= NF(hdr_features[b]);
	if (!(f & NF(VIRTIO_NET_F_GUEST_CSUM)))
		f &= ~(NF(VIRTIO_NET_F_GUEST_TSO4) | NF(VIRTIO_NET_F_GUEST_TSO6));
	if (!(f & (NF(VIRTIO_NET_F_GUEST_TSO4) | NF(VIRTIO_NET_F_GUEST_TSO6))))
		f &= ~NF(VIRTIO_NET_F_GUEST_ECN);
	if (h[0] & 1)
		f |= VDEV_BIT(VIRTIO_F_RING_PACKED);
	if (h[0] & 0x10)
		f |= VDEV_BIT(VIRTIO_F_EVENT_IDX);
	if (h[0] & 0x20)
		f |= VDEV_BIT(VIRTIO_F_INDIRECT_DESC);
	if (h[0] & 0x40)
		f |= VDEV_BIT(VIRTIO_F_IN_ORDER);
	E.f = f;
	E.indirect = h[0] & 0x20;
	E.event_idx = h[0] & 0x10;
	E.cyclic = h[3] & 0x10;
	E.nrd = 1 + (h[3] & 3) % 3;
	E.cut_a = h[4];
	E.cut_b = h[5];

	CHECK(vdev_set_status(d, S_ACK) == 0);
	CHECK(vdev_set_status(d, S_ACK | S_DRV) == 0);
	CHECK(vdev_set_driver_features(d, f) == 0);
	CHECK(vdev_set_status(d, S_ACK | S_DRV | S_FOK) == 0);
	CHECK(vdev_get_status(d) == (S_ACK | S_DRV | S_FOK));
	CHECK(vdev_features(d) == f);

	/* Rings from the start of host memory, afresh for every input. */
	E.mem.cur = 0;
	E.mem.cursor = 0;
	int ci = vnet_ctrl_queue_index(&E.n);
	CHECK(ci >= 2 && (unsigned)ci <= MAX_DQ);
	E.ndq = 0;
	if (h[0] & 8) {
		for (unsigned q = 0; q < (unsigned)ci; q++) {
			struct sim_vq *v = &E.dq[E.ndq++];

			CHECK(sim_vq_init(v, &E.mem, 8, vdev_ring_flags(d), 0) == 0);
			CHECK(vdev_queue_set_size(d, (uint16_t)q, 8) == 0);
			CHECK(vdev_queue_set_addr(d, (uint16_t)q, v->desc_iova,
						  v->avail_iova, v->used_iova) == 0);
			CHECK(vdev_queue_enable(d, (uint16_t)q) == 0);
		}
	}
	uint16_t qs = qsizes[(h[3] >> 2) & 3];
	CHECK(sim_vq_init(&E.ctl, &E.mem, qs, vdev_ring_flags(d), E.indirect ? 8 : 0) == 0);
	CHECK(vdev_queue_set_size(d, (uint16_t)ci, qs) == 0);
	CHECK(vdev_queue_set_addr(d, (uint16_t)ci, E.ctl.desc_iova, E.ctl.avail_iova,
				  E.ctl.used_iova) == 0);
	CHECK(vdev_queue_set_vector(d, (uint16_t)ci, 1) == 0);
	CHECK(vdev_queue_enable(d, (uint16_t)ci) == 0);
	CHECK(vdev_set_status(d, S_ACK | S_DRV | S_FOK | S_DOK) == 0);
	CHECK(E.mem.cur == 0 && E.mem.cursor <= DATA_IOVA - R0_IOVA);
	return true;
}

static void tear_down(void)
{
	sim_vq_fini(&E.ctl);
	for (unsigned i = 0; i < E.ndq; i++)
		sim_vq_fini(&E.dq[i]);
	E.ndq = 0;
	vnet_fini(&E.n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HDR_LEN)
		return 0;
	E.nslot = 0;
	E.data_cursor = 0;
	E.applies = 0;
	E.done_total = 0;
	E.irqs = 0;
	E.single = NULL;
	bring_up(data);
	check_invariants(&E.n);
	check_rx(&E.n);

	size_t pos = HDR_LEN;
	for (unsigned nc = 0; nc < MAX_CMDS && size - pos >= 4; nc++) {
		uint8_t cls = data[pos], cmd = data[pos + 1], fl = data[pos + 2];
		size_t len;

		pos += 3;
		if (fl & CF_LONG) {
			if (size - pos < 2)
				break;
			len = le16(data + pos);
			pos += 2;
		} else {
			len = data[pos++];
		}
		size_t avail = size - pos;
		bool wrap = false;
		if (len > avail) {
			if (E.cyclic && avail) {
				wrap = true; /* the input left, repeated; the last command */
			} else {
				len = avail;
			}
		}

		struct cmd_slot *s;
		bool hdr = !(fl & CF_NOHDR), span = fl & CF_SPAN;
		uint32_t rlen = (uint32_t)len + (hdr ? 2 : 0);
		uint32_t wlen = wlens[fl & CF_WLEN];

		if (rlen == 0 && wlen == 0) {
			pos = wrap ? size : pos + len;
			continue; /* no buffer at all: not a chain */
		}
		/* Room for a whole chain (3 readable + 2 writable) or flush. */
		if (span || E.data_cursor + rlen > DATA_LEN || E.ctl.num_free < 5)
			flush();
		if (fl & CF_ANNOUNCE)
			vnet_announce(&E.n);

		uint8_t *rd = malloc(rlen ? rlen : 1);
		CHECK(rd != NULL);
		if (hdr) {
			rd[0] = cls;
			rd[1] = cmd;
		}
		for (size_t k = 0; k < len; k += avail)
			memcpy(rd + (hdr ? 2 : 0) + k, data + pos,
			       len - k < avail ? len - k : avail);
		pos = wrap ? size : pos + len;

		s = &E.slot[E.nslot];
		memset(s, 0, sizeof(*s));
		s->wlen = wlen;
		s->hdr = rlen >= 2;
		if (s->hdr) {
			s->cls = rd[0];
			s->cmd = rd[1];
			s->len = rlen - 2;
			s->dat = malloc(s->len ? s->len : 1);
			CHECK(s->dat != NULL);
			memcpy(s->dat, rd + 2, s->len);
		} else {
			s->dat = malloc(1);
			CHECK(s->dat != NULL);
		}
		CHECK(post(s, rd, rlen, span, fl & CF_WSPLIT));
		free(rd);
		E.nslot++;
		if (!(fl & CF_BATCH) || span || E.nslot == MAX_CMDS)
			flush();
	}
	flush();
	tear_down();
	return 0;
}
