/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sim_net, the driver side of virtio-net's data queues, with the test
 * acting as the device by hand on a device-side struct vq over the same
 * rings: every transmit layout arrives as header + frame byte for byte
 * (split and packed, with and without indirect tables), receive buffers
 * come back as whole packets (one buffer, or several with MRG_RXBUF), and
 * each rule the driver checks on what the device returns is enforced.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dma.h"
#include "sim_hostmem.h"
#include "sim_net.h"
#include "virtq.h"

#define IOVA0   0x100000ull
#define LEN0    (4ull << 20)
#define NSEGS   1024
#define F_MRG   (1ull << VIRTIO_NET_F_MRG_RXBUF)
#define F_HASH  (1ull << VIRTIO_NET_F_HASH_REPORT)
#define ETH_MAX 1514u

/* Host memory, a DMA space over it, and the device's view of one queue
 * (the driver's sim_vq lives in the sim_net queue under test). */
struct nenv {
	struct sim_hostmem mem;
	struct dma_space *dma;
	struct vq vq;
	struct vq_seg segs[NSEGS];
};

static void mem_init(struct nenv *e)
{
	memset(e, 0, sizeof(*e));
	sim_hostmem_init(&e->mem);
	assert_int_equal(sim_hostmem_add(&e->mem, IOVA0, LEN0), 0);
	e->dma = dma_space_create(NULL);
	assert_non_null(e->dma);
	assert_int_equal(sim_hostmem_map(&e->mem, e->dma,
					 DMA_PROT_READ | DMA_PROT_WRITE), 0);
}

static void dev_init(struct nenv *e, const struct sim_vq *drv)
{
	assert_int_equal(vq_setup(&e->vq, e->dma, drv->size, drv->desc_iova,
				  drv->avail_iova, drv->used_iova, drv->flags,
				  "net"), 0);
}

static void env_fini(struct nenv *e)
{
	vq_teardown(&e->vq);
	dma_space_destroy(e->dma);
	sim_hostmem_free(&e->mem);
}

static unsigned dev_pop(struct nenv *e, struct vq_chain *c, unsigned n)
{
	unsigned got = vq_pop_burst(&e->vq, c, n, e->segs, NSEGS);

	assert_false(vq_broken(&e->vq));
	return got;
}

static void fill_bytes(uint8_t *p, uint32_t n, uint32_t seed)
{
	for (uint32_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

/* Ring kinds every data-path test runs on. */
static const struct {
	uint16_t size;
	uint32_t flags;
} rings[] = {
	{ 8, 0 },
	{ 8, VQ_F_INDIRECT },
	{ 8, VQ_F_IN_ORDER },
	{ 7, VQ_F_PACKED },
	{ 7, VQ_F_PACKED | VQ_F_INDIRECT },
	{ 7, VQ_F_PACKED | VQ_F_IN_ORDER },
};
#define NRINGS (sizeof(rings) / sizeof(rings[0]))

/* ---- transmit --------------------------------------------------------- */

static void test_tx_layouts(void **state)
{
	static const uint32_t lens[] = { 0, 1, 2, 5, 60, 333, ETH_MAX };
	uint8_t hdr[20], frame[ETH_MAX], got[20 + ETH_MAX];
	unsigned seen_nread[8] = { 0 };

	(void)state;
	for (unsigned r = 0; r < NRINGS; r++) {
		for (unsigned hash = 0; hash < 2; hash++) {
			struct nenv e;
			struct sim_net_txq q;
			bool ind = rings[r].flags & VQ_F_INDIRECT;
			uint64_t feat = hash ? F_HASH : 0;

			mem_init(&e);
			assert_int_equal(sim_net_txq_init(&q, &e.mem, rings[r].size,
							  rings[r].flags, feat, ETH_MAX,
							  ind, 42 + r), 0);
			dev_init(&e, &q.vq);
			assert_int_equal(q.hdr_len, hash ? 20 : 12);
			for (unsigned l = 0; l <= SIM_NET_LAYOUT__COUNT; l++) {
				for (unsigned k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
					uint32_t len = lens[k];
					struct vq_chain c;

					fill_bytes(hdr, sizeof(hdr), l * 100 + k);
					fill_bytes(frame, len, k + 7);
					assert_int_equal(sim_net_send(&q, hdr, frame, len,
								      (enum sim_net_layout)l), 0);
					sim_net_tx_flush(&q);
					assert_int_equal(dev_pop(&e, &c, 1), 1);
					assert_int_equal(c.rlen, q.hdr_len + len);
					assert_int_equal(c.wlen, 0);
					assert_int_equal(c.nseg, c.nread);
					switch (l) {
					case SIM_NET_HDR_INLINE:
						assert_int_equal(c.nread, 1);
						break;
					case SIM_NET_HDR_SEPARATE:
						assert_int_equal(c.nread, len ? 2 : 1);
						assert_int_equal(c.seg[0].len, q.hdr_len);
						break;
					case SIM_NET_PIECES:
						assert_int_equal(c.seg[0].len, q.hdr_len);
						assert_true(c.nread >= (len ? 2 : 1));
						assert_true(c.nread <= 1 + (len < 4 ? len : 4));
						break;
					case SIM_NET_HDR_SPLIT:
						assert_int_equal(c.nread, len ? 3 : 2);
						assert_true(c.seg[0].len >= 1);
						assert_int_equal(c.seg[0].len + c.seg[1].len, q.hdr_len);
						break;
					}
					seen_nread[c.nread]++;
					assert_int_equal(vq_chain_read(&e.vq, &c, 0, got, c.rlen),
							 c.rlen);
					assert_memory_equal(got, hdr, q.hdr_len);
					if (len)
						assert_memory_equal(got + q.hdr_len, frame, len);
					struct vq_done d = { c.head, 0 };
					assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
					assert_int_equal(sim_net_tx_reclaim(&q), 1);
				}
			}
			assert_int_equal(q.n_free, rings[r].size);
			assert_int_equal(q.sent, q.reclaimed);
			sim_net_txq_fini(&q);
			env_fini(&e);
		}
	}
	/* Pieces made chains of every length from 1 to 5. */
	for (unsigned n = 1; n <= 5; n++)
		assert_true(seen_nread[n] > 0);
}

/* Several packets in flight, completed out of order, through many laps of
 * the ring, in random layouts. */
static void test_tx_burst_random(void **state)
{
	uint8_t hdr[12] = { 0 }, frame[256], got[12 + 256];

	(void)state;
	for (unsigned r = 0; r < NRINGS; r++) {
		struct nenv e;
		struct sim_net_txq q;
		struct vq_chain c[8];
		struct vq_done d[8];
		bool ind = rings[r].flags & VQ_F_INDIRECT;
		bool in_order = rings[r].flags & VQ_F_IN_ORDER;

		mem_init(&e);
		assert_int_equal(sim_net_txq_init(&q, &e.mem, rings[r].size,
						  rings[r].flags, 0, 256, ind, r), 0);
		dev_init(&e, &q.vq);
		for (unsigned round = 0; round < 40; round++) {
			unsigned sent = 0, n, seed[3];
			for (unsigned i = 0; i < 3; i++) {
				/* Without indirect tables the ring may be full. */
				fill_bytes(frame, 256, round * 3 + i);
				int rc = sim_net_send(&q, hdr, frame, 17 + 40 * i,
						      SIM_NET_LAYOUT__COUNT);
				assert_true(rc == 0 || (rc == -ENOSPC && !ind && sent));
				if (rc == 0)
					seed[sent++] = i;
			}
			sim_net_tx_flush(&q);
			n = dev_pop(&e, c, 8);
			assert_int_equal(n, sent);
			for (unsigned i = 0; i < n; i++) {
				fill_bytes(frame, 256, round * 3 + seed[i]);
				assert_int_equal(c[i].rlen, 12 + 17 + 40 * seed[i]);
				vq_chain_read(&e.vq, &c[i], 0, got, c[i].rlen);
				assert_memory_equal(got + 12, frame, c[i].rlen - 12);
				/* Out of order unless the ring is in order. */
				d[in_order ? i : n - 1 - i] = (struct vq_done){ c[i].head, 0 };
			}
			assert_int_equal(vq_push_burst(&e.vq, d, n, false), 0);
			assert_int_equal(sim_net_tx_reclaim(&q), (int)n);
		}
		assert_int_equal(q.n_free, rings[r].size);
		sim_net_txq_fini(&q);
		env_fini(&e);
	}
}

static void test_tx_limits(void **state)
{
	struct nenv e;
	struct sim_net_txq q;
	uint8_t hdr[12] = { 0 }, frame[101] = { 0 };

	(void)state;
	mem_init(&e);
	assert_int_equal(sim_net_txq_init(&q, &e.mem, 8, 0, 0, 100, true, 1), -EINVAL);
	assert_int_equal(sim_net_txq_init(&q, &e.mem, 8, 0, 0, 100, false, 1), 0);
	dev_init(&e, &q.vq);
	assert_int_equal(sim_net_send(&q, hdr, frame, 101, SIM_NET_HDR_INLINE), -EINVAL);
	/* Two chains of 3 descriptors fit in 8; a third does not. */
	assert_int_equal(sim_net_send(&q, hdr, frame, 100, SIM_NET_HDR_SPLIT), 0);
	assert_int_equal(sim_net_send(&q, hdr, frame, 100, SIM_NET_HDR_SPLIT), 0);
	assert_int_equal(sim_net_send(&q, hdr, frame, 100, SIM_NET_HDR_SPLIT), -ENOSPC);
	assert_int_equal(q.n_free, 6);
	/* The last two descriptors: a header-only packet each. */
	assert_int_equal(sim_net_send(&q, hdr, NULL, 0, SIM_NET_HDR_SEPARATE), 0);
	assert_int_equal(sim_net_send(&q, hdr, NULL, 0, SIM_NET_PIECES), 0);
	assert_int_equal(sim_net_send(&q, hdr, frame, 1, SIM_NET_HDR_INLINE), -ENOSPC);
	sim_net_tx_flush(&q);
	/* Completing frees both descriptors and slots. */
	struct vq_chain c[4];
	struct vq_done d[4];
	assert_int_equal(dev_pop(&e, c, 4), 4);
	for (unsigned i = 0; i < 4; i++)
		d[i] = (struct vq_done){ c[i].head, 0 };
	assert_int_equal(vq_push_burst(&e.vq, d, 4, false), 0);
	assert_int_equal(sim_net_tx_reclaim(&q), 4);
	assert_int_equal(q.n_free, 8);
	assert_int_equal(q.vq.num_free, 8);
	sim_net_txq_fini(&q);
	env_fini(&e);
}

/* A transmit completion that claims written bytes, and one naming an id
 * not in flight. */
static void test_tx_bad_used(void **state)
{
	uint8_t hdr[12] = { 0 }, frame[64] = { 0 };

	(void)state;
	for (unsigned packed = 0; packed < 2; packed++) {
		for (unsigned bad_id = 0; bad_id < 2; bad_id++) {
			struct nenv e;
			struct sim_net_txq q;
			struct vq_chain c;
			uint32_t flags = packed ? VQ_F_PACKED : 0;

			mem_init(&e);
			assert_int_equal(sim_net_txq_init(&q, &e.mem, 8, flags, 0, 64,
							  false, 3), 0);
			dev_init(&e, &q.vq);
			assert_int_equal(sim_net_send(&q, hdr, frame, 64, SIM_NET_HDR_INLINE), 0);
			sim_net_tx_flush(&q);
			assert_int_equal(dev_pop(&e, &c, 1), 1);
			struct vq_done d = { c.head, 0 };
			assert_int_equal(vq_push_burst(&e.vq, &d, 1, false), 0);
			/* Rewrite the used entry the device just wrote. */
			if (packed) {
				struct vq_pdesc *p = &q.vq.pdesc[0];
				if (bad_id) {
					p->id = cpu_to_vle16(5);
				} else {
					p->len = cpu_to_vle32(10);
					p->flags |= cpu_to_vle16(VQ_DESC_F_WRITE);
				}
			} else if (bad_id) {
				q.vq.used->ring[0].id = cpu_to_vle32(5);
			} else {
				q.vq.used->ring[0].len = cpu_to_vle32(10);
			}
			assert_int_equal(sim_net_tx_reclaim(&q), -EPROTO);
			assert_string_equal(q.why, bad_id ? "used id not in flight" :
							    "used len on a transmit buffer");
			sim_net_txq_fini(&q);
			env_fini(&e);
		}
	}
}

/* ---- receive ---------------------------------------------------------- */

/*
 * Act as the device: pop n posted buffers, write hdr (hlen bytes) then
 * the frame across them (continuations carry no header), and complete
 * them in one burst with the bytes written, or with lens[] when given.
 */
static void dev_rx(struct nenv *e, const struct vnet_hdr_hash *h, uint32_t hlen,
		   const uint8_t *frame, uint32_t flen, unsigned n,
		   const uint32_t *lens)
{
	struct vq_chain c[8];
	struct vq_done d[8];
	uint8_t img[20 + 4096];
	uint32_t off = 0, total = hlen + flen;

	assert_true(n <= 8 && total <= sizeof(img));
	memcpy(img, h, hlen);
	memcpy(img + hlen, frame, flen);
	assert_int_equal(dev_pop(e, c, n), n);
	for (unsigned i = 0; i < n; i++) {
		uint32_t w = total - off < c[i].wlen ? total - off : c[i].wlen;
		assert_int_equal(c[i].nread, 0);
		assert_int_equal(vq_chain_write(&e->vq, &c[i], 0, img + off, w), w);
		off += w;
		d[i] = (struct vq_done){ c[i].head, lens ? lens[i] : w };
	}
	assert_int_equal(vq_push_burst(&e->vq, d, n, false), 0);
}

static void rx_setup(struct nenv *e, struct sim_net_rxq *q, uint16_t size,
		     uint32_t flags, uint64_t feat, uint32_t buf_len, uint32_t split)
{
	mem_init(e);
	assert_int_equal(sim_net_rxq_init(q, &e->mem, size, flags, feat, buf_len,
					  split, flags & VQ_F_INDIRECT), 0);
	dev_init(e, &q->vq);
	sim_net_rx_fill(q);
	/* Without indirect tables each buffer takes its pieces' worth of
	 * descriptors. */
	uint32_t pieces = split ? (buf_len + split - 1) / split : 1;
	uint32_t posted = (flags & VQ_F_INDIRECT) ? size : size / pieces;
	assert_int_equal(q->n_free, size - posted);
}

static struct vnet_hdr_hash mkhdr(uint16_t nb)
{
	struct vnet_hdr_hash h;

	memset(&h, 0, sizeof(h));
	h.hdr.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	h.hdr.csum_start = cpu_to_vle16(0x1234);
	h.hdr.num_buffers = cpu_to_vle16(nb);
	h.hash_value = cpu_to_vle32(0xdeadbeef);
	h.hash_report = cpu_to_vle16(1);
	return h;
}

static void test_rx_single(void **state)
{
	uint8_t frame[ETH_MAX], got[ETH_MAX];

	(void)state;
	for (unsigned r = 0; r < NRINGS; r++) {
		for (unsigned v = 0; v < 4; v++) {
			struct nenv e;
			struct sim_net_rxq q;
			struct vnet_hdr_hash h = mkhdr(1), out;
			uint64_t feat = (v & 1) ? F_HASH : 0;
			uint32_t hl = (v & 1) ? 20 : 12, len;

			rx_setup(&e, &q, rings[r].size, rings[r].flags, feat,
				 hl + ETH_MAX, (v & 2) ? 500 : 0);
			for (unsigned i = 0; i < 20; i++) {
				uint32_t flen = i == 0 ? 0 : 60 + i * 70;
				fill_bytes(frame, flen, i);
				dev_rx(&e, &h, hl, frame, flen, 1, NULL);
				memset(&out, 0xff, sizeof(out));
				assert_int_equal(sim_net_recv(&q, &out, got, sizeof(got), &len), 1);
				assert_int_equal(len, flen);
				assert_memory_equal(got, frame, flen);
				assert_memory_equal(&out.hdr, &h.hdr, sizeof(h.hdr));
				/* Hash fields only with HASH_REPORT. */
				assert_int_equal(vle32_to_cpu(out.hash_value),
						 (v & 1) ? 0xdeadbeef : 0);
				assert_int_equal(vle16_to_cpu(out.hash_report), (v & 1) ? 1 : 0);
				assert_int_equal(sim_net_recv(&q, &out, got, sizeof(got), &len), 0);
				sim_net_rx_fill(&q);
			}
			assert_int_equal(q.packets, 20);
			assert_int_equal(q.buffers, 20);
			sim_net_rxq_fini(&q);
			env_fini(&e);
		}
	}
}

static void test_rx_mergeable(void **state)
{
	uint8_t frame[2048], got[2048];
	const uint32_t buf_len = 256;

	(void)state;
	for (unsigned r = 0; r < NRINGS; r++) {
		struct nenv e;
		struct sim_net_rxq q;
		struct vnet_hdr_hash out;
		uint32_t len;

		/* Up to 4 buffers a packet: pieces only through indirect tables. */
		rx_setup(&e, &q, rings[r].size, rings[r].flags, F_MRG, buf_len,
			 (rings[r].flags & VQ_F_INDIRECT) ? 100 : 0);
		for (unsigned i = 0; i < 30; i++) {
			/* 0..1000 bytes: one to four buffers, the last one full
			 * when 12 + flen is a multiple of 256. */
			uint32_t flen = i == 29 ? 4 * buf_len - 12 : (i * 97) % 1001;
			unsigned nb = (12 + flen + buf_len - 1) / buf_len;
			struct vnet_hdr_hash h = mkhdr((uint16_t)nb);
			fill_bytes(frame, flen, i);
			dev_rx(&e, &h, 12, frame, flen, nb, NULL);
			assert_int_equal(sim_net_recv(&q, &out, got, sizeof(got), &len), 1);
			assert_int_equal(len, flen);
			assert_memory_equal(got, frame, flen);
			assert_int_equal(vle16_to_cpu(out.hdr.num_buffers), nb);
			assert_int_equal(q.n_free, nb);
			sim_net_rx_fill(&q);
		}
		/* Too long for the caller: consumed, reported, not copied past cap. */
		struct vnet_hdr_hash h = mkhdr(3);
		fill_bytes(frame, 600, 99);
		memset(got, 0, sizeof(got));
		dev_rx(&e, &h, 12, frame, 600, 3, NULL);
		assert_int_equal(sim_net_recv(&q, &out, got, 100, &len), -EMSGSIZE);
		assert_int_equal(len, 600);
		assert_memory_equal(got, frame, 100);
		assert_int_equal(got[100], 0);
		assert_int_equal(q.n_free, 3);
		assert_int_equal(sim_net_recv(&q, &out, got, sizeof(got), &len), 0);
		sim_net_rxq_fini(&q);
		env_fini(&e);
	}
}

static void test_rx_init_limits(void **state)
{
	struct nenv e;
	struct sim_net_rxq q;

	(void)state;
	mem_init(&e);
	assert_int_equal(sim_net_rxq_init(&q, &e.mem, 8, 0, F_MRG, 11, 0, false), -EINVAL);
	assert_int_equal(sim_net_rxq_init(&q, &e.mem, 8, 0, 0, 12 + 13, 0, false), -EINVAL);
	assert_int_equal(sim_net_rxq_init(&q, &e.mem, 8, 0, F_HASH | F_MRG, 19, 0, false), -EINVAL);
	assert_int_equal(sim_net_rxq_init(&q, &e.mem, 8, 0, 0, 1526, 0, true), -EINVAL);
	/* 1526 / 100: 16 descriptors, more than a ring of 8 can chain. */
	assert_int_equal(sim_net_rxq_init(&q, &e.mem, 8, 0, 0, 1526, 100, false), -EINVAL);
	assert_int_equal(sim_net_rxq_init(&q, &e.mem, 8, 0, F_MRG, 12, 0, false), 0);
	sim_net_rxq_fini(&q);
	sim_hostmem_free(&e.mem);
	dma_space_destroy(e.dma);
}

/* One device violation per case, on a fresh queue. */
static void test_rx_violations(void **state)
{
	static const struct {
		const char *why;
		uint64_t feat;
		uint16_t nb;       /* num_buffers written */
		unsigned n;        /* buffers completed */
		uint32_t flen;
		uint32_t lens[3];  /* used lens (0: the bytes written) */
		int hand;          /* 1: used len rewritten past the buffer */
	} cases[] = {
		{ "num_buffers 0", F_MRG, 0, 1, 50, { 0 }, 0 },
		{ "num_buffers above 1 without MRG_RXBUF", 0, 2, 2, 50, { 0 }, 0 },
		{ "buffer before the packet's last not filled", F_MRG, 2, 2, 300,
		  { 200, 112, 0 }, 0 },
		{ "buffer before the packet's last not filled", F_MRG, 3, 3, 600,
		  { 256, 200, 100 }, 0 },
		{ "num_buffers beyond completed buffers", F_MRG, 3, 2, 500, { 0 }, 0 },
		{ "used len shorter than the header", F_MRG, 1, 1, 0, { 11 }, 0 },
		{ "used len shorter than the header", 0, 1, 1, 0, { 5 }, 0 },
		{ "used len longer than the buffer", F_MRG, 1, 1, 50, { 0 }, 1 },
	};
	uint8_t frame[1024], got[1024];

	(void)state;
	fill_bytes(frame, sizeof(frame), 5);
	for (unsigned packed = 0; packed < 2; packed++) {
		for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct nenv e;
			struct sim_net_rxq q;
			struct vnet_hdr_hash h = mkhdr(cases[i].nb), out;
			bool mrg = cases[i].feat & F_MRG;
			uint32_t len;

			rx_setup(&e, &q, 8, packed ? VQ_F_PACKED : 0, cases[i].feat,
				 mrg ? 256 : 1526, 0);
			dev_rx(&e, &h, 12, frame, cases[i].flen, cases[i].n,
			       cases[i].lens[0] ? cases[i].lens : NULL);
			if (cases[i].hand) {
				/* The device checks lens on push: lie afterwards. */
				if (packed)
					q.vq.pdesc[0].len = cpu_to_vle32(257);
				else
					q.vq.used->ring[0].len = cpu_to_vle32(257);
			}
			assert_int_equal(sim_net_recv(&q, &out, got, sizeof(got), &len),
					 -EPROTO);
			assert_string_equal(q.why, cases[i].why);
			assert_int_equal(q.packets, 0);
			sim_net_rxq_fini(&q);
			env_fini(&e);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx_layouts),
		cmocka_unit_test(test_tx_burst_random),
		cmocka_unit_test(test_tx_limits),
		cmocka_unit_test(test_tx_bad_used),
		cmocka_unit_test(test_rx_single),
		cmocka_unit_test(test_rx_mergeable),
		cmocka_unit_test(test_rx_init_limits),
		cmocka_unit_test(test_rx_violations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
