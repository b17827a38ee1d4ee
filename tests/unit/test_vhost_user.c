/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for hal/vhost_user: a fake front end builds messages and
 * sends them over a socketpair (or hands them to hal_vhu_handle), with
 * guest memory in real memfds (sim_hostmem: sealed) and the driver side of
 * the rings in sim_vq over that same memory. Owner callbacks are recorded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "dma.h"
#include "hal_log.h"
#include "hal_sock.h"
#include "hal_vhost_user.h"
#include "sim_hostmem.h"
#include "sim_vq.h"
#include "virtio_dev.h"
#include "virtio_net.h"
#include "virtq.h"

#define BIT(b) (1ull << (b))
#define GPA0 0x100000ull
#define LEN0 (1ull << 20)
#define GPA1 0x400000ull
#define LEN1 (256ull << 10)
#define QSIZE 256

/* ---- recorded owner callbacks ------------------------------------------- */
struct owner {
	unsigned starts, stops, calls;
	struct vq *vq[4];
	int kick[4];
	int call[4];
	bool running[4];
	unsigned stop_order[8]; /* ring of each stop, in order */
	uint8_t rarp_mac[6];
	unsigned rarps;
	uint64_t net_features;
	int start_rc;
	uint16_t mtu;
	uint8_t status;
};

static int o_ring_start(void *ctx, uint16_t idx, struct vq *vq, int kick_fd)
{
	struct owner *o = ctx;

	assert_true(idx < 4);
	assert_false(o->running[idx]);
	if (o->start_rc)
		return o->start_rc;
	o->starts++;
	o->vq[idx] = vq;
	o->kick[idx] = kick_fd;
	o->running[idx] = true;
	return 0;
}

static void o_ring_stop(void *ctx, uint16_t idx, struct vq *vq)
{
	struct owner *o = ctx;

	assert_true(o->running[idx]);
	assert_ptr_equal(o->vq[idx], vq);
	if (o->stops < 8)
		o->stop_order[o->stops] = idx;
	o->stops++;
	o->running[idx] = false;
}

static void o_ring_call(void *ctx, uint16_t idx, int fd)
{
	struct owner *o = ctx;

	o->calls++;
	o->call[idx] = fd;
}

static void o_rarp(void *ctx, const uint8_t mac[6])
{
	struct owner *o = ctx;

	memcpy(o->rarp_mac, mac, 6);
	o->rarps++;
}

static void o_features(void *ctx, uint64_t f)
{
	((struct owner *)ctx)->net_features = f;
}

static int o_set_mtu(void *ctx, uint16_t mtu)
{
	((struct owner *)ctx)->mtu = mtu;
	return 0;
}

static void o_status(void *ctx, uint8_t s)
{
	((struct owner *)ctx)->status = s;
}

static const struct hal_vhu_ops ops = {
	.ring_start = o_ring_start, .ring_stop = o_ring_stop,
	.ring_call = o_ring_call, .rarp = o_rarp, .features = o_features,
	.set_mtu = o_set_mtu, .status = o_status,
};

/* ---- the fake front end -------------------------------------------------- */
struct fe {
	struct hal_vhu_dev *d;
	struct owner o;
	int sock[2]; /* [0] front end, [1] device */
	struct sim_hostmem mem;
	struct sim_vq drv[2];
	int kick[2], call[2];
	uint64_t offered, pf;
};

static const uint64_t NET_FEATURES =
	BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) |
	BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_NET_F_MAC) |
	BIT(VIRTIO_NET_F_MTU) | BIT(VIRTIO_F_RING_PACKED);

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(dir);
	while (readdir(dir))
		n++;
	closedir(dir);
	return n;
}

/* Mappings of memfds whose name contains `name`. */
static int count_maps(const char *name)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, name))
			n++;
	fclose(f);
	return n;
}

static bool fd_closed(int fd)
{
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

static void fe_params(struct hal_vhu_params *p)
{
	hal_vhu_params_default(p);
	p->name = "vf0";
	p->features = NET_FEATURES | BIT(VIRTIO_F_ACCESS_PLATFORM);
	p->max_queue_pairs = 1;
	p->max_queue_size = QSIZE;
	p->mtu = 9000;
	memcpy(p->mac, "\x02\x00\x00\x00\x00\x01", 6);
}

static void fe_init_params(struct fe *t, const struct hal_vhu_params *p)
{
	memset(t, 0, sizeof(*t));
	t->d = hal_vhu_create(p, &ops, &t->o);
	assert_non_null(t->d);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t->sock), 0);
	sim_hostmem_init(&t->mem);
	assert_int_equal(sim_hostmem_add(&t->mem, GPA0, LEN0), 0);
	assert_int_equal(sim_hostmem_add(&t->mem, GPA1, LEN1), 0);
	for (int i = 0; i < 2; i++) {
		t->kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		t->call[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
}

static void fe_init(struct fe *t)
{
	struct hal_vhu_params p;

	fe_params(&p);
	fe_init_params(t, &p);
}

static void fe_fini(struct fe *t)
{
	hal_vhu_destroy(t->d);
	for (int i = 0; i < 2; i++) {
		if (t->drv[i].size)
			sim_vq_fini(&t->drv[i]);
		close(t->kick[i]);
		close(t->call[i]);
	}
	sim_hostmem_free(&t->mem);
	close(t->sock[0]);
	close(t->sock[1]);
}

static uint64_t ua(const struct fe *t, uint64_t gpa)
{
	return (uint64_t)(uintptr_t)sim_hostmem_va(&t->mem, gpa, 1);
}

/* Send one message from the front end (fds dup'ed: the caller keeps its). */
static void fe_send(struct fe *t, uint32_t req, uint32_t flags, const void *pl,
		    uint32_t size, const int *fds, unsigned nfds)
{
	uint8_t buf[HAL_VHU_HDR_SIZE + 512];
	union {
		char b[CMSG_SPACE(16 * sizeof(int))];
		struct cmsghdr a;
	} cm;
	uint32_t hdr[3] = { req, HAL_VHU_VERSION | flags, size };
	struct iovec iov = { buf, HAL_VHU_HDR_SIZE + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	assert_true(size <= 512);
	memcpy(buf, hdr, sizeof(hdr));
	if (size)
		memcpy(buf + HAL_VHU_HDR_SIZE, pl, size);
	if (nfds) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.b;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	assert_int_equal(sendmsg(t->sock[0], &mh, 0), (ssize_t)iov.iov_len);
}

/* Read the device's reply if there is one: payload size or -1. */
static int fe_reply(struct fe *t, uint32_t req, void *pl, int *fd)
{
	uint8_t buf[HAL_VHU_MSG_MAX];
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr a;
	} cm;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cm.b, .msg_controllen = sizeof(cm.b) };
	uint32_t hdr[3];
	ssize_t n = recvmsg(t->sock[0], &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (fd)
		*fd = -1;
	if (n < 0)
		return -1;
	assert_true(n >= HAL_VHU_HDR_SIZE);
	memcpy(hdr, buf, sizeof(hdr));
	assert_int_equal(hdr[0], req);
	assert_int_equal(hdr[1], HAL_VHU_VERSION | HAL_VHU_FLAG_REPLY);
	assert_int_equal(n, HAL_VHU_HDR_SIZE + hdr[2]);
	if (pl)
		memcpy(pl, buf + HAL_VHU_HDR_SIZE, hdr[2]);
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_type == SCM_RIGHTS) {
		int f;
		memcpy(&f, CMSG_DATA(c), sizeof(f));
		if (fd)
			*fd = f;
		else
			close(f);
	}
	return (int)hdr[2];
}

/* One round trip: send, serve, return the serve result. */
static int rt(struct fe *t, uint32_t req, uint32_t flags, const void *pl,
	      uint32_t size, const int *fds, unsigned nfds)
{
	fe_send(t, req, flags, pl, size, fds, nfds);
	return hal_vhu_serve(t->d, t->sock[1]);
}

static uint64_t rt_u64(struct fe *t, uint32_t req)
{
	uint64_t v = 0;

	assert_int_equal(rt(t, req, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(fe_reply(t, req, &v, NULL), 8);
	return v;
}

/* A message with need_reply: the ack (0 ok), after REPLY_ACK. */
static uint64_t rt_ack(struct fe *t, uint32_t req, const void *pl, uint32_t size,
		       const int *fds, unsigned nfds)
{
	uint64_t v = 0xdead;

	assert_true(rt(t, req, HAL_VHU_FLAG_NEED_REPLY, pl, size, fds, nfds) >= 0);
	assert_int_equal(fe_reply(t, req, &v, NULL), 8);
	return v;
}

static void set_u64(struct fe *t, uint32_t req, uint64_t v)
{
	assert_int_equal(rt_ack(t, req, &v, 8, NULL, 0), 0);
}

struct region {
	uint64_t gpa, size, uaddr, off;
};

static struct region region_of(const struct fe *t, unsigned i)
{
	return (struct region){ t->mem.r[i].iova, t->mem.r[i].len,
				(uint64_t)(uintptr_t)t->mem.r[i].va, 0 };
}

static uint64_t mem_table(struct fe *t, const struct region *r, const int *fds,
			  unsigned n)
{
	uint8_t pl[8 + 8 * 32] = { 0 };

	memcpy(pl, &n, 4);
	memcpy(pl + 8, r, n * sizeof(*r));
	return rt_ack(t, HAL_VHU_SET_MEM_TABLE, pl, 8 + n * 32, fds, n);
}

static uint64_t vring_state(struct fe *t, uint32_t req, uint32_t idx, uint32_t num)
{
	uint32_t s[2] = { idx, num };

	return rt_ack(t, req, s, 8, NULL, 0);
}

static uint64_t vring_addr(struct fe *t, uint32_t idx, uint64_t desc,
			   uint64_t avail, uint64_t used)
{
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} a = { idx, 0, desc, used, avail, 0 };

	return rt_ack(t, HAL_VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

/* GET_FEATURES, SET_OWNER, protocol features (all offered). */
static void fe_hello(struct fe *t)
{
	t->offered = rt_u64(t, HAL_VHU_GET_FEATURES);
	assert_int_equal(rt(t, HAL_VHU_SET_OWNER, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(fe_reply(t, HAL_VHU_SET_OWNER, NULL, NULL), -1);
	t->pf = rt_u64(t, HAL_VHU_GET_PROTOCOL_FEATURES);
	assert_int_equal(rt(t, HAL_VHU_SET_PROTOCOL_FEATURES, 0, &t->pf, 8, NULL, 0), 0);
}

static void fe_mem(struct fe *t)
{
	struct region r[2] = { region_of(t, 0), region_of(t, 1) };
	int fds[2] = { t->mem.r[0].fd, t->mem.r[1].fd };

	assert_int_equal(mem_table(t, r, fds, 2), 0);
}

/* Per ring NUM/ADDR/BASE/KICK/CALL for rings 0 and 1 over the driver
 * rings t->drv (set up), at bases base[0..1], then SET_FEATURES and
 * SET_VRING_ENABLE. */
static void fe_ring_msgs(struct fe *t, uint64_t features, const uint32_t base[2])
{
	for (uint32_t i = 0; i < 2; i++) {
		struct sim_vq *q = &t->drv[i];
		assert_int_equal(vring_state(t, HAL_VHU_SET_VRING_NUM, i, q->size), 0);
		assert_int_equal(vring_addr(t, i, ua(t, q->desc_iova), ua(t, q->avail_iova),
					    ua(t, q->used_iova)), 0);
		assert_int_equal(vring_state(t, HAL_VHU_SET_VRING_BASE, i, base[i]), 0);
		uint64_t v = i;
		assert_int_equal(rt_ack(t, HAL_VHU_SET_VRING_KICK, &v, 8, &t->kick[i], 1), 0);
		assert_int_equal(rt_ack(t, HAL_VHU_SET_VRING_CALL, &v, 8, &t->call[i], 1), 0);
	}
	assert_int_equal(t->o.starts, 0); /* not enabled yet */
	set_u64(t, HAL_VHU_SET_FEATURES, features);
	assert_int_equal(t->o.starts, 0);
	for (uint32_t i = 0; i < 2; i++)
		assert_int_equal(vring_state(t, HAL_VHU_SET_VRING_ENABLE, i, 1), 0);
	assert_int_equal(t->o.starts, 2);
}

/* Driver rings 0 and 1 (in region 0) and fe_ring_msgs at the start. */
static void fe_rings(struct fe *t, uint64_t features, uint32_t vqf)
{
	uint32_t b = (vqf & VQ_F_PACKED) ? 0x80008000u : 0, base[2] = { b, b };

	for (uint32_t i = 0; i < 2; i++)
		assert_int_equal(sim_vq_init(&t->drv[i], &t->mem, QSIZE, vqf, 0), 0);
	fe_ring_msgs(t, features, base);
}

static uint64_t base_features(const struct fe *t)
{
	return BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) |
	       BIT(VIRTIO_NET_F_MAC) | (t->offered & BIT(HAL_VHU_F_PROTOCOL_FEATURES));
}

/* Everything up to two running rings. */
static void fe_up(struct fe *t)
{
	fe_hello(t);
	assert_int_equal(rt_u64(t, HAL_VHU_GET_QUEUE_NUM), 1);
	fe_mem(t);
	fe_rings(t, base_features(t), VQ_F_EVENT_IDX);
}

/* Post a readable buffer on driver ring i and pop it through the vq the
 * owner got. */
static void traffic(struct fe *t, unsigned i, uint8_t fill)
{
	struct sim_vq *q = &t->drv[i];
	struct vq *vq = t->o.vq[i];
	struct vq_chain c;
	struct vq_seg segs[QSIZE];
	struct sim_buf b;
	uint8_t data[64], got[64];
	uint32_t len;
	bool bad = false;

	assert_true(t->o.running[i]);
	assert_int_equal(sim_hostmem_alloc(&t->mem, sizeof(data), 16, &b.iova), 0);
	b.len = sizeof(data);
	memset(data, fill, sizeof(data));
	assert_int_equal(sim_hostmem_write(&t->mem, b.iova, data, sizeof(data)), 0);
	assert_int_equal(sim_vq_add(q, &b, 1, NULL, 0, (void *)(uintptr_t)(fill + 1), false), 0);
	sim_vq_publish(q);
	assert_int_equal(vq_pop_burst(vq, &c, 1, segs, QSIZE), 1);
	assert_false(vq_broken(vq));
	assert_int_equal(c.nseg, 1);
	assert_int_equal(segs[0].iova, b.iova);
	assert_int_equal(vq_chain_read(vq, &c, 0, got, sizeof(got)), sizeof(got));
	assert_memory_equal(got, data, sizeof(data));
	struct vq_done done = { c.head, 0 };
	assert_int_equal(vq_push_burst(vq, &done, 1, false), 0);
	assert_ptr_equal(sim_vq_get_used(q, &len, &bad), (void *)(uintptr_t)(fill + 1));
	assert_false(bad);
}

/* ---- tests --------------------------------------------------------------- */

static void test_qemu_sequence(void **state)
{
	struct fe t;
	int fds0 = count_fds();

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	/* Offered: the vhost-user bits, not ACCESS_PLATFORM, not IOTLB or
	 * BACKEND_REQ. */
	assert_true(t.offered & BIT(HAL_VHU_F_PROTOCOL_FEATURES));
	assert_true(t.offered & BIT(HAL_VHU_F_LOG_ALL));
	assert_false(t.offered & BIT(VIRTIO_F_ACCESS_PLATFORM));
	assert_true(t.offered & BIT(VIRTIO_NET_F_MTU));
	assert_false(t.pf & BIT(HAL_VHU_PF_BACKEND_REQ));
	assert_true(t.pf & BIT(HAL_VHU_PF_REPLY_ACK));
	assert_true(t.pf & BIT(HAL_VHU_PF_MTU));
	assert_int_equal(rt_u64(&t, HAL_VHU_GET_QUEUE_NUM), 1);
	assert_int_equal(rt_u64(&t, HAL_VHU_GET_MAX_MEM_SLOTS), HAL_VHU_MAX_MEM_SLOTS);
	fe_mem(&t);
	fe_rings(&t, base_features(&t), VQ_F_EVENT_IDX);
	/* The owner gets the net features only. */
	assert_int_equal(t.o.net_features, base_features(&t) & ~BIT(HAL_VHU_F_PROTOCOL_FEATURES));
	assert_int_equal(hal_vhu_features(t.d), t.o.net_features);
	assert_ptr_equal(hal_vhu_ring_vq(t.d, 1), t.o.vq[1]);
	assert_int_equal(t.o.calls, 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_true(t.o.kick[i] >= 0);
		assert_int_equal(hal_vhu_ring_kick_fd(t.d, i), t.o.kick[i]);
		assert_int_equal(t.o.call[i], hal_vhu_ring_call_fd(t.d, i));
		assert_int_equal(t.o.vq[i]->flags, VQ_F_EVENT_IDX);
	}
	traffic(&t, 1, 0xa1);
	traffic(&t, 1, 0xa2);
	traffic(&t, 0, 0xa3);

	/* GET_VRING_BASE stops the ring first, then reads the index. */
	uint32_t s[2] = { 1, 0 };
	assert_int_equal(rt(&t, HAL_VHU_GET_VRING_BASE, 0, s, 8, NULL, 0), 0);
	assert_int_equal(t.o.stops, 1);
	assert_int_equal(t.o.stop_order[0], 1);
	assert_int_equal(fe_reply(&t, HAL_VHU_GET_VRING_BASE, s, NULL), 8);
	assert_int_equal(s[0], 1);
	assert_int_equal(s[1], 2);
	assert_null(hal_vhu_ring_vq(t.d, 1));

	/* Restart at that base: the next buffer pops. */
	assert_int_equal(vring_state(&t, HAL_VHU_SET_VRING_BASE, 1, 2), 0);
	uint64_t v = 1;
	assert_int_equal(rt_ack(&t, HAL_VHU_SET_VRING_KICK, &v, 8, &t.kick[1], 1), 0);
	assert_int_equal(t.o.starts, 3);
	traffic(&t, 1, 0xa4);

	hal_vhu_disconnect(t.d);
	assert_int_equal(t.o.stops, 3);
	fe_fini(&t);
	assert_int_equal(count_fds(), fds0);
}

static void test_packed_base(void **state)
{
	struct fe t;

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	fe_mem(&t);
	fe_rings(&t, base_features(&t) | BIT(VIRTIO_F_RING_PACKED),
		 VQ_F_EVENT_IDX | VQ_F_PACKED);
	assert_true(t.o.vq[0]->flags & VQ_F_PACKED);
	traffic(&t, 0, 1);
	traffic(&t, 0, 2);
	traffic(&t, 0, 3);
	uint32_t s[2] = { 0, 0 };
	assert_int_equal(rt(&t, HAL_VHU_GET_VRING_BASE, 0, s, 8, NULL, 0), 0);
	assert_int_equal(fe_reply(&t, HAL_VHU_GET_VRING_BASE, s, NULL), 8);
	/* avail 3 with wrap counter 1, used 3 with wrap counter 1 */
	assert_int_equal(s[1], 0x80038003u);
	/* A base beyond the ring size does not start it. */
	assert_int_equal(vring_state(&t, HAL_VHU_SET_VRING_BASE, 0, 0x8000u | QSIZE), 0);
	uint64_t v = 0;
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_VRING_KICK, &v, 8, &t.kick[0], 1), 0);
	assert_null(hal_vhu_ring_vq(t.d, 0));
	fe_fini(&t);
}

static void test_split_across_writes(void **state)
{
	struct fe t;
	uint8_t msg[HAL_VHU_HDR_SIZE + 8 + 32];
	uint32_t hdr[3] = { HAL_VHU_ADD_MEM_REG, HAL_VHU_VERSION | HAL_VHU_FLAG_NEED_REPLY, 40 };
	struct region r;
	uint64_t ack = 1;

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	r = region_of(&t, 1);
	memcpy(msg, hdr, sizeof(hdr));
	memset(msg + HAL_VHU_HDR_SIZE, 0, 8);
	memcpy(msg + HAL_VHU_HDR_SIZE + 8, &r, sizeof(r));
	for (size_t i = 0; i < sizeof(msg); i++) {
		if (i == 0) {
			/* the fd comes with the first byte */
			union {
				char b[CMSG_SPACE(sizeof(int))];
				struct cmsghdr a;
			} cm = { 0 };
			struct iovec iov = { msg, 1 };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
					     .msg_control = cm.b, .msg_controllen = sizeof(cm.b) };
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &t.mem.r[1].fd, sizeof(int));
			assert_int_equal(sendmsg(t.sock[0], &mh, 0), 1);
		} else {
			assert_int_equal(write(t.sock[0], msg + i, 1), 1);
		}
		int rc = hal_vhu_serve(t.d, t.sock[1]);
		assert_int_equal(rc, i + 1 == sizeof(msg) ? 0 : -EAGAIN);
	}
	assert_int_equal(fe_reply(&t, HAL_VHU_ADD_MEM_REG, &ack, NULL), 8);
	assert_int_equal(ack, 0);
	assert_non_null(dma_ptr(dma_space_table(hal_vhu_dma(t.d)), GPA1, LEN1, DMA_PROT_WRITE));
	/* Nothing to read: -EAGAIN, and the peer closing: -ECONNRESET. */
	assert_int_equal(hal_vhu_serve(t.d, t.sock[1]), -EAGAIN);
	assert_int_equal(write(t.sock[0], msg, 5), 5);
	assert_int_equal(hal_vhu_serve(t.d, t.sock[1]), -EAGAIN);
	shutdown(t.sock[0], SHUT_WR);
	assert_int_equal(hal_vhu_serve(t.d, t.sock[1]), -ECONNRESET);
	fe_fini(&t);
}

static void test_oversized(void **state)
{
	struct fe t;
	uint8_t big[HAL_VHU_MAX_PAYLOAD + 1] = { 0 };
	uint64_t pf = BIT(HAL_VHU_PF_REPLY_ACK);
	int efd = eventfd(0, EFD_CLOEXEC);
	int fds0 = count_fds();

	(void)state;
	fe_init(&t);
	memcpy(big, &pf, 8);
	/* A size above any message: stream error, nothing acted on, the fd
	 * that came with it closed. */
	assert_int_equal(rt(&t, HAL_VHU_SET_PROTOCOL_FEATURES, 0, big, sizeof(big), &efd, 1),
			 -EMSGSIZE);
	assert_int_equal(hal_vhu_protocol_features(t.d), 0);
	assert_int_equal(fe_reply(&t, HAL_VHU_SET_PROTOCOL_FEATURES, NULL, NULL), -1);
	/* The same through hal_vhu_handle. */
	uint8_t msg[HAL_VHU_HDR_SIZE + sizeof(big)], reply[HAL_VHU_MSG_MAX];
	uint32_t hdr[3] = { HAL_VHU_SET_PROTOCOL_FEATURES, 1, sizeof(big) };
	size_t rl = sizeof(reply);
	int rfd, fd = dup(efd);
	memcpy(msg, hdr, sizeof(hdr));
	memcpy(msg + HAL_VHU_HDR_SIZE, big, sizeof(big));
	assert_int_equal(hal_vhu_handle(t.d, msg, sizeof(msg), &fd, 1, reply, &rl, &rfd),
			 -EMSGSIZE);
	assert_int_equal(rl, 0);
	assert_true(fd_closed(fd) || fd == -1);
	assert_int_equal(hal_vhu_protocol_features(t.d), 0);
	/* A length that disagrees with the header. */
	rl = sizeof(reply);
	hdr[2] = 8;
	memcpy(msg, hdr, sizeof(hdr));
	assert_int_equal(hal_vhu_handle(t.d, msg, HAL_VHU_HDR_SIZE + 4, NULL, 0, reply,
					&rl, &rfd), -EMSGSIZE);
	fe_fini(&t);
	close(efd);
	assert_int_equal(count_fds(), fds0 - 1);
}

static void test_size_too_small(void **state)
{
	struct fe t;
	uint64_t v = BIT(VIRTIO_F_VERSION_1);

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	/* 4 bytes of a u64: refused, a non-zero ack, nothing changed. */
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_FEATURES, &v, 4, NULL, 0), 0);
	assert_false(hal_vhu_features_ok(t.d));
	uint32_t s[1] = { 0 };
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_VRING_NUM, s, 4, NULL, 0), 0);
	/* A memory table shorter than its region count says. */
	uint8_t pl[8 + 32] = { 2 };
	int fd = t.mem.r[0].fd;
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_MEM_TABLE, pl, sizeof(pl), &fd, 1), 0);
	/* GET_VRING_BASE without its payload: an empty reply (it always
	 * replies). */
	assert_int_equal(rt(&t, HAL_VHU_GET_VRING_BASE, 0, NULL, 0, NULL, 0), EINVAL);
	assert_int_equal(fe_reply(&t, HAL_VHU_GET_VRING_BASE, NULL, NULL), 0);
	fe_fini(&t);
}

static void test_unknown_request(void **state)
{
	struct fe t;
	uint8_t junk[16] = { 1, 2, 3 };

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	/* Without need_reply: refused silently; the stream stays in sync. */
	assert_int_equal(rt(&t, 99, 0, junk, sizeof(junk), NULL, 0), EOPNOTSUPP);
	assert_int_equal(fe_reply(&t, 99, NULL, NULL), -1);
	assert_int_equal(rt_u64(&t, HAL_VHU_GET_QUEUE_NUM), 1);
	/* With need_reply: a non-zero ack. */
	assert_int_not_equal(rt_ack(&t, 99, junk, sizeof(junk), NULL, 0), 0);
	assert_int_not_equal(rt_ack(&t, HAL_VHU_IOTLB_MSG, junk, sizeof(junk), NULL, 0), 0);
	int efd = eventfd(0, EFD_CLOEXEC);
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_BACKEND_REQ_FD, NULL, 0, &efd, 1), 0);
	assert_int_not_equal(rt_ack(&t, 0, NULL, 0, NULL, 0), 0);
	assert_int_not_equal(rt_ack(&t, 0xffffffffu, NULL, 0, NULL, 0), 0);
	close(efd);
	assert_int_equal(rt_u64(&t, HAL_VHU_GET_FEATURES), t.offered);
	/* Bad version bits or the reply flag in a request: refused. */
	assert_int_equal(rt(&t, HAL_VHU_SET_OWNER, HAL_VHU_FLAG_REPLY, NULL, 0, NULL, 0), EINVAL);
	fe_fini(&t);
}

/* Handle one message directly; returns the handler's result. */
static int hmsg(struct fe *t, uint32_t req, uint32_t flags, const void *pl,
		uint32_t size, int *fds, unsigned nfds)
{
	uint8_t msg[HAL_VHU_MSG_MAX], reply[HAL_VHU_MSG_MAX];
	uint32_t hdr[3] = { req, HAL_VHU_VERSION | flags, size };
	size_t rl = sizeof(reply);
	int rfd;

	memcpy(msg, hdr, sizeof(hdr));
	if (size)
		memcpy(msg + HAL_VHU_HDR_SIZE, pl, size);
	return hal_vhu_handle(t->d, msg, HAL_VHU_HDR_SIZE + size, fds, nfds, reply, &rl, &rfd);
}

static void test_missing_fd(void **state)
{
	struct fe t;
	uint64_t v = 0;
	struct region r;
	uint8_t pl[40] = { 0 };
	uint64_t log[2] = { 4096, 0 };

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	assert_int_equal(hmsg(&t, HAL_VHU_SET_VRING_KICK, 0, &v, 8, NULL, 0), EINVAL);
	assert_int_equal(hmsg(&t, HAL_VHU_SET_VRING_CALL, 0, &v, 8, NULL, 0), EINVAL);
	/* ... unless the no-fd (polling) bit says so */
	v = HAL_VHU_VRING_NOFD;
	assert_int_equal(hmsg(&t, HAL_VHU_SET_VRING_KICK, 0, &v, 8, NULL, 0), 0);
	r = region_of(&t, 0);
	uint32_t n = 1;
	memcpy(pl, &n, 4);
	memcpy(pl + 8, &r, sizeof(r));
	assert_int_equal(hmsg(&t, HAL_VHU_SET_MEM_TABLE, 0, pl, 40, NULL, 0), EINVAL);
	memset(pl, 0, 8);
	assert_int_equal(hmsg(&t, HAL_VHU_ADD_MEM_REG, 0, pl, 40, NULL, 0), EINVAL);
	assert_int_equal(hmsg(&t, HAL_VHU_SET_LOG_BASE, 0, log, 16, NULL, 0), EINVAL);
	assert_int_equal(hmsg(&t, HAL_VHU_SET_LOG_FD, 0, NULL, 0, NULL, 0), EINVAL);
	assert_int_equal(dma_space_table(hal_vhu_dma(t.d))->n, 0);
	fe_fini(&t);
}

static void test_extra_fds_closed(void **state)
{
	struct fe t;
	int fds[3], copy[3];
	uint64_t v;

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	/* A request that takes no fd. */
	for (int i = 0; i < 3; i++)
		copy[i] = fds[i] = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(hmsg(&t, HAL_VHU_GET_FEATURES, 0, NULL, 0, fds, 3), 0);
	for (int i = 0; i < 3; i++)
		assert_true(fd_closed(copy[i]));
	/* CALL with the no-fd bit and an fd anyway; KICK with two. */
	copy[0] = fds[0] = eventfd(0, EFD_CLOEXEC);
	v = HAL_VHU_VRING_NOFD;
	assert_int_equal(hmsg(&t, HAL_VHU_SET_VRING_CALL, 0, &v, 8, fds, 1), 0);
	assert_true(fd_closed(copy[0]));
	copy[0] = fds[0] = eventfd(0, EFD_CLOEXEC);
	copy[1] = fds[1] = eventfd(0, EFD_CLOEXEC);
	v = 0;
	assert_int_equal(hmsg(&t, HAL_VHU_SET_VRING_KICK, 0, &v, 8, fds, 2), 0);
	assert_false(fd_closed(copy[0])); /* kept as the kick fd */
	assert_int_equal(hal_vhu_ring_kick_fd(t.d, 0), copy[0]);
	assert_true(fd_closed(copy[1]));
	/* A call fd must be an eventfd (a pipe would block whoever signals
	 * it) and is made non-blocking. */
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	copy[0] = fds[0] = p[1];
	v = 0;
	assert_int_equal(hmsg(&t, HAL_VHU_SET_VRING_CALL, 0, &v, 8, fds, 1), EINVAL);
	assert_true(fd_closed(copy[0]));
	close(p[0]);
	copy[0] = fds[0] = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(hmsg(&t, HAL_VHU_SET_VRING_CALL, 0, &v, 8, fds, 1), 0);
	assert_true(fcntl(copy[0], F_GETFL) & O_NONBLOCK);
	/* A refused request closes the fd it would have taken. */
	copy[0] = fds[0] = eventfd(0, EFD_CLOEXEC);
	v = 7;
	assert_int_equal(hmsg(&t, HAL_VHU_SET_VRING_CALL, 0, &v, 8, fds, 1), EINVAL);
	assert_true(fd_closed(copy[0]));
	/* REM_MEM_REG may carry one fd: closed unused. */
	copy[0] = fds[0] = eventfd(0, EFD_CLOEXEC);
	uint8_t pl[40] = { 0 };
	assert_int_equal(hmsg(&t, HAL_VHU_REM_MEM_REG, 0, pl, 40, fds, 1), ENOENT);
	assert_true(fd_closed(copy[0]));
	/* Over the socket: more fds than any message carries. */
	int many[10];
	for (int i = 0; i < 10; i++)
		many[i] = eventfd(0, EFD_CLOEXEC);
	int before = count_fds();
	assert_int_equal(rt(&t, HAL_VHU_SET_OWNER, 0, NULL, 0, many, 10), 0);
	assert_int_equal(fe_reply(&t, HAL_VHU_SET_OWNER, NULL, NULL), -1);
	assert_int_equal(count_fds(), before);
	for (int i = 0; i < 10; i++)
		close(many[i]);
	fe_fini(&t);
}

static void test_bad_ring_index(void **state)
{
	struct fe t;
	int efd = eventfd(0, EFD_CLOEXEC), copy = efd;
	uint64_t v = 2;

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	assert_int_not_equal(vring_state(&t, HAL_VHU_SET_VRING_NUM, 2, 64), 0);
	assert_int_not_equal(vring_state(&t, HAL_VHU_SET_VRING_BASE, 1000, 0), 0);
	assert_int_not_equal(vring_state(&t, HAL_VHU_SET_VRING_ENABLE, 2, 1), 0);
	assert_int_not_equal(vring_addr(&t, 0xffffffffu, 0, 0, 0), 0);
	assert_int_equal(hmsg(&t, HAL_VHU_SET_VRING_KICK, 0, &v, 8, &efd, 1), EINVAL);
	assert_true(fd_closed(copy));
	/* GET_VRING_BASE of a bad ring: an empty reply. */
	uint32_t s[2] = { 9, 0 };
	assert_int_equal(rt(&t, HAL_VHU_GET_VRING_BASE, 0, s, 8, NULL, 0), EINVAL);
	assert_int_equal(fe_reply(&t, HAL_VHU_GET_VRING_BASE, NULL, NULL), 0);
	/* Bits above the index and the no-fd flag. */
	v = 1ull << 9;
	assert_int_equal(hmsg(&t, HAL_VHU_SET_VRING_CALL, 0, &v, 8, NULL, 0), EINVAL);
	fe_fini(&t);
}

static void test_ring_num(void **state)
{
	struct fe t;

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	assert_int_not_equal(vring_state(&t, HAL_VHU_SET_VRING_NUM, 0, 0), 0);
	assert_int_not_equal(vring_state(&t, HAL_VHU_SET_VRING_NUM, 0, 2 * QSIZE), 0);
	assert_int_not_equal(vring_state(&t, HAL_VHU_SET_VRING_NUM, 0, 70000), 0);
	/* Packed is offered but not yet negotiated: 100 may still be fine. */
	assert_int_equal(vring_state(&t, HAL_VHU_SET_VRING_NUM, 0, 100), 0);
	set_u64(&t, HAL_VHU_SET_FEATURES, base_features(&t));
	/* Split now: a power of two. */
	assert_int_not_equal(vring_state(&t, HAL_VHU_SET_VRING_NUM, 1, 100), 0);
	assert_int_equal(vring_state(&t, HAL_VHU_SET_VRING_NUM, 1, 128), 0);
	/* Ring 0 kept 100: it will not start as a split ring. */
	fe_mem(&t);
	assert_int_equal(sim_vq_init(&t.drv[0], &t.mem, 128, 0, 0), 0);
	assert_int_equal(vring_addr(&t, 0, ua(&t, t.drv[0].desc_iova),
				    ua(&t, t.drv[0].avail_iova), ua(&t, t.drv[0].used_iova)), 0);
	uint64_t v = HAL_VHU_VRING_NOFD;
	assert_int_equal(vring_state(&t, HAL_VHU_SET_VRING_ENABLE, 0, 1), 0);
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_VRING_KICK, &v, 8, NULL, 0), 0);
	assert_int_equal(t.o.starts, 0);
	/* Packed negotiated on a fresh device: 100 is fine. */
	hal_vhu_disconnect(t.d);
	fe_hello(&t);
	set_u64(&t, HAL_VHU_SET_FEATURES, base_features(&t) | BIT(VIRTIO_F_RING_PACKED));
	assert_int_equal(vring_state(&t, HAL_VHU_SET_VRING_NUM, 1, 100), 0);
	fe_fini(&t);
}

static void test_ring_addr_outside(void **state)
{
	struct fe t;

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	fe_mem(&t);
	assert_int_equal(vring_state(&t, HAL_VHU_SET_VRING_NUM, 0, QSIZE), 0);
	uint64_t in = ua(&t, GPA0);
	/* Not in any region. */
	assert_int_not_equal(vring_addr(&t, 0, 0x1000, in + 8192, in + 16384), 0);
	/* Starting inside, running off the end of the region. */
	uint64_t end = ua(&t, GPA1) + LEN1 - 64;
	assert_int_not_equal(vring_addr(&t, 0, in, in + 8192, end), 0);
	/* The guest physical address instead of the user address. */
	assert_int_not_equal(vring_addr(&t, 0, GPA0 + 0x10000000000ull, in + 8192, in + 16384), 0);
	assert_int_equal(vring_addr(&t, 0, in, in + 8192, in + 16384), 0);
	/* Bad flags. */
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} a = { 0, 2, in, in + 16384, in + 8192, 0 };
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	fe_fini(&t);
}

static void test_overlapping_regions(void **state)
{
	struct fe t;
	int fds0;

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	fds0 = count_fds();
	struct region r[2] = { region_of(&t, 0), region_of(&t, 1) };
	int fds[2] = { t.mem.r[0].fd, t.mem.r[1].fd };
	/* In guest physical addresses. */
	r[1].gpa = GPA0 + LEN0 - 4096;
	assert_int_not_equal(mem_table(&t, r, fds, 2), 0);
	/* In user addresses. */
	r[1] = region_of(&t, 1);
	r[1].uaddr = r[0].uaddr + 4096;
	assert_int_not_equal(mem_table(&t, r, fds, 2), 0);
	assert_int_equal(dma_space_table(hal_vhu_dma(t.d))->n, 0);
	assert_int_equal(count_fds(), fds0);
	/* ADD_MEM_REG over an existing region. */
	assert_int_equal(mem_table(&t, r, fds, 1), 0);
	uint8_t pl[40] = { 0 };
	struct region o = region_of(&t, 1);
	o.gpa = GPA0 + 8192;
	memcpy(pl + 8, &o, sizeof(o));
	assert_int_not_equal(rt_ack(&t, HAL_VHU_ADD_MEM_REG, pl, 40, &fds[1], 1), 0);
	o = region_of(&t, 1);
	o.uaddr = r[0].uaddr;
	memcpy(pl + 8, &o, sizeof(o));
	assert_int_not_equal(rt_ack(&t, HAL_VHU_ADD_MEM_REG, pl, 40, &fds[1], 1), 0);
	assert_int_equal(dma_space_table(hal_vhu_dma(t.d))->n, 1);
	/* Offset not congruent to the gpa mod 16, empty, wrapping. */
	o = region_of(&t, 1);
	o.off = 8;
	memcpy(pl + 8, &o, sizeof(o));
	assert_int_not_equal(rt_ack(&t, HAL_VHU_ADD_MEM_REG, pl, 40, &fds[1], 1), 0);
	o = region_of(&t, 1);
	o.size = 0;
	memcpy(pl + 8, &o, sizeof(o));
	assert_int_not_equal(rt_ack(&t, HAL_VHU_ADD_MEM_REG, pl, 40, &fds[1], 1), 0);
	o = region_of(&t, 1);
	o.gpa = UINT64_MAX - 4095;
	memcpy(pl + 8, &o, sizeof(o));
	assert_int_not_equal(rt_ack(&t, HAL_VHU_ADD_MEM_REG, pl, 40, &fds[1], 1), 0);
	hal_vhu_disconnect(t.d);
	assert_int_equal(count_fds(), fds0);
	fe_fini(&t);
}

static int memfd(uint64_t size, unsigned seals, bool allow_sealing)
{
	int fd = memfd_create("virtnet-test", MFD_CLOEXEC |
			      (allow_sealing ? MFD_ALLOW_SEALING : 0));

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if (seals)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

static void test_file_too_small(void **state)
{
	struct fe t;
	int fd = memfd(64 << 10, F_SEAL_SHRINK | F_SEAL_GROW, true);
	struct region r = { 0x800000, 128 << 10, 0x7f0000000000ull, 0 };

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	assert_int_not_equal(mem_table(&t, &r, &fd, 1), 0);
	/* size fits, offset + size does not */
	r.size = 64 << 10;
	r.off = 4096;
	assert_int_not_equal(mem_table(&t, &r, &fd, 1), 0);
	r.off = 0;
	assert_int_equal(mem_table(&t, &r, &fd, 1), 0);
	/* Not a regular file. */
	int efd = eventfd(0, EFD_CLOEXEC);
	r.gpa = 0x900000;
	r.size = 4096;
	assert_int_not_equal(mem_table(&t, &r, &efd, 1), 0);
	close(efd);
	close(fd);
	fe_fini(&t);
}

static void test_unsealed_sealed_or_refused(void **state)
{
	struct fe t;
	struct hal_vhu_params p;
	int fd = memfd(64 << 10, 0, true);     /* could be sealed, is not yet */
	int fd2 = memfd(64 << 10, 0, false);   /* F_SEAL_SEAL only */
	int sealed = memfd(64 << 10, F_SEAL_SHRINK, true);
	struct region r = { 0x800000, 64 << 10, 0x7f0000000000ull, 0 };

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	/* Sealable: the back end seals it against shrinking itself. */
	assert_int_equal(mem_table(&t, &r, &fd, 1), 0);
	assert_true(fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK);
	assert_int_not_equal(ftruncate(fd, 4096), 0);
	/* Not sealable (F_SEAL_SEAL from birth): refused. */
	assert_int_not_equal(mem_table(&t, &r, &fd2, 1), 0);
	assert_int_equal(mem_table(&t, &r, &sealed, 1), 0);
	fe_fini(&t);
	/* The parameter off: the unsealable one accepted. */
	fe_params(&p);
	p.require_sealed = false;
	fe_init_params(&t, &p);
	fe_hello(&t);
	assert_int_equal(mem_table(&t, &r, &fd2, 1), 0);
	fe_fini(&t);
	close(fd);
	close(fd2);
	close(sealed);
}

static void test_rem_mem_reg_in_use(void **state)
{
	struct fe t;
	uint8_t pl[40] = { 0 };
	struct region r;

	(void)state;
	fe_init(&t);
	fe_up(&t);
	int maps = count_maps("virtnet-hostmem");
	/* Region 1 holds no ring: the rings stop (a ring may have buffers
	 * anywhere) and start again once it is unmapped. */
	r = region_of(&t, 1);
	memcpy(pl + 8, &r, sizeof(r));
	assert_int_equal(rt_ack(&t, HAL_VHU_REM_MEM_REG, pl, 40, NULL, 0), 0);
	assert_int_equal(t.o.stops, 2);
	assert_int_equal(t.o.starts, 4);
	assert_int_equal(count_maps("virtnet-hostmem"), maps - 1);
	assert_null(dma_ptr(dma_space_table(hal_vhu_dma(t.d)), GPA1, 1, DMA_PROT_READ));
	traffic(&t, 1, 7);
	/* Region 0 holds the rings: stopped, unmapped, not started again. */
	r = region_of(&t, 0);
	memcpy(pl + 8, &r, sizeof(r));
	assert_int_equal(rt_ack(&t, HAL_VHU_REM_MEM_REG, pl, 40, NULL, 0), 0);
	assert_int_equal(t.o.stops, 4);
	assert_int_equal(t.o.starts, 4);
	assert_null(hal_vhu_ring_vq(t.d, 0));
	assert_int_equal(dma_space_table(hal_vhu_dma(t.d))->n, 0);
	/* Unknown now. */
	assert_int_not_equal(rt_ack(&t, HAL_VHU_REM_MEM_REG, pl, 40, NULL, 0), 0);
	/* Put back: the rings go on where they were. */
	memcpy(pl + 8, &r, sizeof(r));
	assert_int_equal(rt_ack(&t, HAL_VHU_ADD_MEM_REG, pl, 40, &t.mem.r[0].fd, 1), 0);
	assert_int_equal(t.o.starts, 6);
	traffic(&t, 1, 8);
	uint32_t s[2] = { 1, 0 };
	assert_int_equal(rt(&t, HAL_VHU_GET_VRING_BASE, 0, s, 8, NULL, 0), 0);
	assert_int_equal(fe_reply(&t, HAL_VHU_GET_VRING_BASE, s, NULL), 8);
	assert_int_equal(s[1], 2);
	fe_fini(&t);
}

/* QEMU 7.2 sends a multiqueue device's regions once per queue pair: the
 * very region added again is counted, not refused and not mapped twice;
 * each REM_MEM_REG takes one count, the last one unmaps. The same
 * addresses in another file are an overlap. */
static void test_add_mem_reg_twice(void **state)
{
	struct fe t;
	uint8_t pl[40] = { 0 };
	struct region r;

	(void)state;
	fe_init(&t);
	fe_up(&t);
	int maps = count_maps("virtnet-hostmem");
	int fds0 = count_fds();
	r = region_of(&t, 1);
	memcpy(pl + 8, &r, sizeof(r));
	assert_int_equal(rt_ack(&t, HAL_VHU_ADD_MEM_REG, pl, 40, &t.mem.r[1].fd, 1), 0);
	assert_int_equal(count_maps("virtnet-hostmem"), maps);
	assert_int_equal(count_fds(), fds0);
	assert_int_equal(dma_space_table(hal_vhu_dma(t.d))->n, 2);
	int other = memfd(r.size + r.off, F_SEAL_SHRINK, true);
	assert_int_not_equal(rt_ack(&t, HAL_VHU_ADD_MEM_REG, pl, 40, &other, 1), 0);
	close(other);
	assert_int_equal(count_fds(), fds0);
	/* The first removal leaves it mapped and the rings running. */
	assert_int_equal(rt_ack(&t, HAL_VHU_REM_MEM_REG, pl, 40, NULL, 0), 0);
	assert_int_equal(t.o.stops, 0);
	assert_non_null(dma_ptr(dma_space_table(hal_vhu_dma(t.d)), GPA1, 1, DMA_PROT_READ));
	traffic(&t, 1, 7);
	/* The second unmaps it. */
	assert_int_equal(rt_ack(&t, HAL_VHU_REM_MEM_REG, pl, 40, NULL, 0), 0);
	assert_int_equal(count_maps("virtnet-hostmem"), maps - 1);
	assert_null(dma_ptr(dma_space_table(hal_vhu_dma(t.d)), GPA1, 1, DMA_PROT_READ));
	assert_int_not_equal(rt_ack(&t, HAL_VHU_REM_MEM_REG, pl, 40, NULL, 0), 0);
	fe_fini(&t);
}

static void test_new_mem_table_stops_rings(void **state)
{
	struct fe t;

	(void)state;
	fe_init(&t);
	fe_up(&t);
	traffic(&t, 0, 1);
	fe_mem(&t); /* the same table again */
	assert_int_equal(t.o.stops, 2);
	assert_int_equal(t.o.starts, 4);
	traffic(&t, 0, 2);
	fe_fini(&t);
}

static void test_log(void **state)
{
	struct fe t;
	uint64_t log[2] = { 16, 0 }, ack;
	int lfd = memfd(8192, F_SEAL_SHRINK | F_SEAL_GROW, true);

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	fe_mem(&t);
	/* 16 bytes cover 128 pages: not up to GPA1 + LEN1. */
	assert_int_equal(rt(&t, HAL_VHU_SET_LOG_BASE, 0, log, 16, &lfd, 1), EINVAL);
	assert_int_equal(fe_reply(&t, HAL_VHU_SET_LOG_BASE, &ack, NULL), 8);
	assert_int_not_equal(ack, 0);
	/* Larger than the file. */
	log[0] = 8192;
	log[1] = 4096;
	assert_int_equal(rt(&t, HAL_VHU_SET_LOG_BASE, 0, log, 16, &lfd, 1), EINVAL);
	assert_int_equal(fe_reply(&t, HAL_VHU_SET_LOG_BASE, &ack, NULL), 8);
	assert_int_not_equal(ack, 0);
	/* Good: 4096 bytes at offset 4096 (SET_LOG_BASE always replies). */
	log[0] = 4096;
	assert_int_equal(rt(&t, HAL_VHU_SET_LOG_BASE, 0, log, 16, &lfd, 1), 0);
	assert_int_equal(fe_reply(&t, HAL_VHU_SET_LOG_BASE, &ack, NULL), 8);
	assert_int_equal(ack, 0);
	assert_false(hal_vhu_logging(t.d));
	set_u64(&t, HAL_VHU_SET_FEATURES, base_features(&t) | BIT(HAL_VHU_F_LOG_ALL));
	assert_true(hal_vhu_logging(t.d));
	assert_int_equal(hal_vhu_features(t.d) & BIT(HAL_VHU_F_LOG_ALL), 0);
	/* A device write marks the front end's bitmap. */
	uint8_t *bm = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, lfd, 0);
	assert_true(bm != MAP_FAILED);
	uint8_t x = 1;
	assert_int_equal(dma_write(dma_space_table(hal_vhu_dma(t.d)), GPA1 + 5 * 4096, &x, 1), 0);
	uint64_t page = (GPA1 >> 12) + 5;
	assert_int_equal(bm[4096 + page / 8], 1u << (page % 8));
	bm[4096 + page / 8] = 0;
	/* LOG_ALL cleared: off. */
	set_u64(&t, HAL_VHU_SET_FEATURES, base_features(&t));
	assert_false(hal_vhu_logging(t.d));
	assert_int_equal(dma_write(dma_space_table(hal_vhu_dma(t.d)), GPA1, &x, 1), 0);
	for (int i = 0; i < 8192; i++)
		assert_int_equal(bm[i], 0);
	munmap(bm, 8192);
	close(lfd);
	fe_fini(&t);
}

static void test_before_owner(void **state)
{
	struct fe t;
	int fds0 = count_fds();

	(void)state;
	fe_init(&t);
	t.offered = rt_u64(&t, HAL_VHU_GET_FEATURES);
	uint64_t pf = BIT(HAL_VHU_PF_REPLY_ACK);
	assert_int_equal(rt(&t, HAL_VHU_SET_PROTOCOL_FEATURES, 0, &pf, 8, NULL, 0), 0);
	struct region r = region_of(&t, 0);
	assert_int_equal(mem_table(&t, &r, &t.mem.r[0].fd, 1), EPERM);
	assert_int_equal(dma_space_table(hal_vhu_dma(t.d))->n, 0);
	uint64_t f = BIT(VIRTIO_F_VERSION_1);
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_FEATURES, &f, 8, NULL, 0), 0);
	assert_int_not_equal(vring_state(&t, HAL_VHU_SET_VRING_NUM, 0, 64), 0);
	uint64_t v = 0;
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_VRING_KICK, &v, 8, &t.kick[0], 1), 0);
	assert_int_equal(hal_vhu_ring_kick_fd(t.d, 0), -1);
	/* Queries are fine before SET_OWNER (QEMU asks them first). */
	assert_int_equal(rt_u64(&t, HAL_VHU_GET_QUEUE_NUM), 1);
	fe_fini(&t);
	assert_int_equal(count_fds(), fds0);
}

static void test_features_not_offered(void **state)
{
	struct fe t;

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	uint64_t f = base_features(&t) | BIT(VIRTIO_F_ACCESS_PLATFORM);
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_FEATURES, &f, 8, NULL, 0), 0);
	f = base_features(&t) | BIT(VIRTIO_NET_F_MQ);
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_FEATURES, &f, 8, NULL, 0), 0);
	assert_false(hal_vhu_features_ok(t.d));
	uint64_t pf = BIT(HAL_VHU_PF_BACKEND_REQ);
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0), 0);
	/* Only LOG_ALL may change while rings are set up. */
	fe_mem(&t);
	fe_rings(&t, base_features(&t), VQ_F_EVENT_IDX);
	f = base_features(&t) | BIT(VIRTIO_F_INDIRECT_DESC);
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_FEATURES, &f, 8, NULL, 0), 0);
	set_u64(&t, HAL_VHU_SET_FEATURES, base_features(&t) | BIT(HAL_VHU_F_LOG_ALL));
	fe_fini(&t);
}

static void test_disconnect_midway(void **state)
{
	struct fe t;
	int fds0 = count_fds(), maps0 = count_maps("virtnet-");

	(void)state;
	fe_init(&t);
	int fds1 = count_fds();
	fe_up(&t);
	traffic(&t, 1, 3);
	/* A log, a log eventfd, an error fd, an in-flight region. */
	int lfd = memfd(8192, F_SEAL_SHRINK, true);
	uint64_t log[2] = { 4096, 0 }, ack;
	assert_int_equal(rt(&t, HAL_VHU_SET_LOG_BASE, 0, log, 16, &lfd, 1), 0);
	assert_int_equal(fe_reply(&t, HAL_VHU_SET_LOG_BASE, &ack, NULL), 8);
	set_u64(&t, HAL_VHU_SET_FEATURES, base_features(&t) | BIT(HAL_VHU_F_LOG_ALL));
	assert_int_equal(rt_ack(&t, HAL_VHU_SET_LOG_FD, NULL, 0, &t.kick[0], 1), 0);
	uint64_t v = 1;
	assert_int_equal(rt_ack(&t, HAL_VHU_SET_VRING_ERR, &v, 8, &t.call[0], 1), 0);
	uint16_t in[12] = { 0 };
	in[8] = 2;
	in[9] = QSIZE;
	assert_int_equal(rt(&t, HAL_VHU_GET_INFLIGHT_FD, 0, in, 24, NULL, 0), 0);
	int ifd;
	assert_int_equal(fe_reply(&t, HAL_VHU_GET_INFLIGHT_FD, in, &ifd), 24);
	close(ifd);
	/* Half a message with an fd pending. */
	uint32_t hdr[3] = { HAL_VHU_SET_VRING_CALL, 1, 8 };
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr a;
	} cm = { 0 };
	struct iovec iov = { hdr, sizeof(hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cm.b, .msg_controllen = sizeof(cm.b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &t.call[1], sizeof(int));
	assert_int_equal(sendmsg(t.sock[0], &mh, 0), (ssize_t)sizeof(hdr));
	assert_int_equal(hal_vhu_serve(t.d, t.sock[1]), -EAGAIN);
	assert_true(count_maps("virtnet-") > maps0 + 2);

	hal_vhu_disconnect(t.d);
	assert_int_equal(t.o.stops, 2);
	assert_false(hal_vhu_logging(t.d));
	assert_null(hal_vhu_inflight(t.d, NULL, NULL, NULL));
	assert_false(hal_vhu_features_ok(t.d));
	close(lfd);
	/* Only the test's own memory is mapped; the device holds no fd. */
	assert_int_equal(count_maps("virtnet-inflight"), 0);
	assert_int_equal(count_maps("virtnet-test"), 0);
	assert_int_equal(count_maps("virtnet-hostmem"), 2);
	assert_int_equal(count_fds(), fds1);

	/* A new connection starts fresh on the same device. */
	close(t.sock[0]);
	close(t.sock[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t.sock), 0);
	for (int i = 0; i < 2; i++)
		sim_vq_fini(&t.drv[i]);
	memset(&t.o, 0, sizeof(t.o));
	fe_up(&t);
	traffic(&t, 0, 4);
	fe_fini(&t);
	assert_int_equal(count_fds(), fds0);
	assert_int_equal(count_maps("virtnet-"), maps0);
}

static void test_inflight(void **state)
{
	struct fe t;
	struct {
		uint64_t size, off;
		uint16_t nq, qs;
		uint32_t pad;
	} in = { 0, 0, 2, QSIZE, 0 };
	int fd;

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	assert_int_equal(rt(&t, HAL_VHU_GET_INFLIGHT_FD, 0, &in, sizeof(in), NULL, 0), 0);
	assert_int_equal(fe_reply(&t, HAL_VHU_GET_INFLIGHT_FD, &in, &fd), 24);
	assert_true(fd >= 0);
	/* split: 16 + 16 * 256 rounded up to 64, per queue */
	assert_int_equal(in.size, 2 * 4160);
	assert_int_equal(in.off, 0);
	assert_true(fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK);
	uint64_t size;
	uint16_t nq, qs;
	uint8_t *p = hal_vhu_inflight(t.d, &size, &nq, &qs);
	assert_non_null(p);
	assert_int_equal(size, 2 * 4160);
	assert_int_equal(nq, 2);
	/* The front end sees the same memory. */
	uint8_t *fp = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(fp != MAP_FAILED);
	p[100] = 0x5a;
	assert_int_equal(fp[100], 0x5a);
	munmap(fp, size);
	/* Too many queues, too large a queue. */
	in.nq = 3;
	assert_int_equal(rt(&t, HAL_VHU_GET_INFLIGHT_FD, 0, &in, sizeof(in), NULL, 0), EINVAL);
	assert_int_equal(fe_reply(&t, HAL_VHU_GET_INFLIGHT_FD, NULL, NULL), 0);
	/* SET_INFLIGHT_FD with the fd back (after a reconnect). */
	in.nq = 2;
	in.size = 2 * 4160;
	assert_int_equal(rt_ack(&t, HAL_VHU_SET_INFLIGHT_FD, &in, sizeof(in), &fd, 1), 0);
	assert_int_equal(((uint8_t *)hal_vhu_inflight(t.d, NULL, NULL, NULL))[100], 0x5a);
	in.size = 100;
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_INFLIGHT_FD, &in, sizeof(in), &fd, 1), 0);
	close(fd);
	fe_fini(&t);
}

static void test_config_rarp_mtu_status(void **state)
{
	struct fe t;
	uint8_t cfg[12 + VNET_CFG_SIZE] = { 0 };
	uint32_t c[3] = { 0, VNET_CFG_SIZE, 0 };

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	memcpy(cfg, c, sizeof(c));
	assert_int_equal(rt(&t, HAL_VHU_GET_CONFIG, 0, cfg, sizeof(cfg), NULL, 0), 0);
	assert_int_equal(fe_reply(&t, HAL_VHU_GET_CONFIG, cfg, NULL), sizeof(cfg));
	assert_memory_equal(cfg + 12 + VNET_CFG_MAC, "\x02\x00\x00\x00\x00\x01", 6);
	assert_int_equal(cfg[12 + VNET_CFG_MTU] | cfg[12 + VNET_CFG_MTU + 1] << 8, 9000);
	assert_int_equal(cfg[12 + VNET_CFG_MAX_VQ_PAIRS], 1);
	/* Size disagreeing with the payload, beyond 256: an empty reply. */
	c[1] = 4;
	memcpy(cfg, c, sizeof(c));
	assert_int_equal(rt(&t, HAL_VHU_GET_CONFIG, 0, cfg, sizeof(cfg), NULL, 0), EINVAL);
	assert_int_equal(fe_reply(&t, HAL_VHU_GET_CONFIG, NULL, NULL), 0);
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_CONFIG, cfg, sizeof(cfg), NULL, 0), 0);
	uint64_t mac = 0x0605040302ull << 8 | 0x01;
	assert_int_equal(rt_ack(&t, HAL_VHU_SEND_RARP, &mac, 8, NULL, 0), 0);
	assert_int_equal(t.o.rarps, 1);
	assert_memory_equal(t.o.rarp_mac, "\x01\x02\x03\x04\x05\x06", 6);
	/* MTU: only with VIRTIO_NET_F_MTU negotiated, 68..65535. */
	uint64_t mtu = 1500;
	assert_int_not_equal(rt_ack(&t, HAL_VHU_NET_SET_MTU, &mtu, 8, NULL, 0), 0);
	set_u64(&t, HAL_VHU_SET_FEATURES, base_features(&t) | BIT(VIRTIO_NET_F_MTU));
	assert_int_equal(rt_ack(&t, HAL_VHU_NET_SET_MTU, &mtu, 8, NULL, 0), 0);
	assert_int_equal(t.o.mtu, 1500);
	assert_int_equal(hal_vhu_mtu(t.d), 1500);
	mtu = 67;
	assert_int_not_equal(rt_ack(&t, HAL_VHU_NET_SET_MTU, &mtu, 8, NULL, 0), 0);
	/* Status. */
	set_u64(&t, HAL_VHU_SET_STATUS, 0xf);
	assert_int_equal(rt_u64(&t, HAL_VHU_GET_STATUS), 0xf);
	assert_int_equal(t.o.status, 0xf);
	uint64_t bad = 0x100;
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_STATUS, &bad, 8, NULL, 0), 0);
	fe_fini(&t);
}

static void test_protocol_gates(void **state)
{
	struct fe t;

	(void)state;
	fe_init(&t);
	t.offered = rt_u64(&t, HAL_VHU_GET_FEATURES);
	assert_int_equal(rt(&t, HAL_VHU_SET_OWNER, 0, NULL, 0, NULL, 0), 0);
	uint64_t pf = BIT(HAL_VHU_PF_REPLY_ACK);
	assert_int_equal(rt(&t, HAL_VHU_SET_PROTOCOL_FEATURES, 0, &pf, 8, NULL, 0), 0);
	uint64_t mac = 1;
	assert_int_equal(rt_ack(&t, HAL_VHU_SEND_RARP, &mac, 8, NULL, 0), EOPNOTSUPP);
	assert_int_equal(t.o.rarps, 0);
	assert_int_not_equal(rt_ack(&t, HAL_VHU_RESET_DEVICE, NULL, 0, NULL, 0), 0);
	/* An always-reply request that is not negotiated: an empty reply. */
	assert_int_equal(rt(&t, HAL_VHU_GET_STATUS, 0, NULL, 0, NULL, 0), EOPNOTSUPP);
	assert_int_equal(fe_reply(&t, HAL_VHU_GET_STATUS, NULL, NULL), 0);
	fe_fini(&t);
}

static void test_reset_device(void **state)
{
	struct fe t;

	(void)state;
	fe_init(&t);
	fe_up(&t);
	assert_int_equal(rt_ack(&t, HAL_VHU_RESET_DEVICE, NULL, 0, NULL, 0), 0);
	assert_int_equal(t.o.stops, 2);
	assert_false(hal_vhu_features_ok(t.d));
	assert_int_equal(hal_vhu_ring_kick_fd(t.d, 0), -1);
	assert_int_equal(t.o.call[0], -1);
	/* Memory and ownership stay: set the rings up again. */
	for (int i = 0; i < 2; i++)
		sim_vq_fini(&t.drv[i]);
	memset(&t.o, 0, sizeof(t.o));
	fe_rings(&t, base_features(&t), VQ_F_EVENT_IDX);
	traffic(&t, 0, 9);
	fe_fini(&t);
}

static void test_no_protocol_features(void **state)
{
	struct fe t;

	(void)state;
	fe_init(&t);
	t.offered = rt_u64(&t, HAL_VHU_GET_FEATURES);
	assert_int_equal(rt(&t, HAL_VHU_SET_OWNER, 0, NULL, 0, NULL, 0), 0);
	uint8_t pl[8 + 32] = { 1 };
	struct region r = region_of(&t, 0);
	memcpy(pl + 8, &r, sizeof(r));
	assert_int_equal(rt(&t, HAL_VHU_SET_MEM_TABLE, 0, pl, sizeof(pl), &t.mem.r[0].fd, 1), 0);
	for (uint32_t i = 0; i < 2; i++) {
		struct sim_vq *q = &t.drv[i];
		uint32_t s[2] = { i, QSIZE };
		assert_int_equal(sim_vq_init(q, &t.mem, QSIZE, 0, 0), 0);
		assert_int_equal(rt(&t, HAL_VHU_SET_VRING_NUM, 0, s, 8, NULL, 0), 0);
		struct {
			uint32_t index, flags;
			uint64_t desc, used, avail, log;
		} a = { i, 0, ua(&t, q->desc_iova), ua(&t, q->used_iova),
			ua(&t, q->avail_iova), 0 };
		assert_int_equal(rt(&t, HAL_VHU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0), 0);
	}
	/* Without PROTOCOL_FEATURES, SET_FEATURES enables every ring; the
	 * kick starts it. */
	uint64_t f = BIT(VIRTIO_F_VERSION_1);
	assert_int_equal(rt(&t, HAL_VHU_SET_FEATURES, 0, &f, 8, NULL, 0), 0);
	assert_true(hal_vhu_ring_enabled(t.d, 1));
	assert_int_equal(t.o.starts, 0);
	uint64_t v = 1;
	assert_int_equal(rt(&t, HAL_VHU_SET_VRING_KICK, 0, &v, 8, &t.kick[1], 1), 0);
	assert_int_equal(t.o.starts, 1);
	traffic(&t, 1, 5);
	/* need_reply without REPLY_ACK negotiated: no reply. */
	assert_int_equal(rt(&t, HAL_VHU_SET_VRING_CALL, HAL_VHU_FLAG_NEED_REPLY, &v, 8,
			    &t.call[1], 1), 0);
	assert_int_equal(fe_reply(&t, HAL_VHU_SET_VRING_CALL, NULL, NULL), -1);
	fe_fini(&t);
}

static void test_owner_refuses_start(void **state)
{
	struct fe t;

	(void)state;
	fe_init(&t);
	fe_hello(&t);
	fe_mem(&t);
	t.o.start_rc = -ENOMEM;
	assert_int_equal(sim_vq_init(&t.drv[0], &t.mem, QSIZE, 0, 0), 0);
	assert_int_equal(vring_state(&t, HAL_VHU_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(vring_addr(&t, 0, ua(&t, t.drv[0].desc_iova), ua(&t, t.drv[0].avail_iova),
				    ua(&t, t.drv[0].used_iova)), 0);
	set_u64(&t, HAL_VHU_SET_FEATURES, base_features(&t));
	uint64_t v = 0;
	assert_int_equal(rt_ack(&t, HAL_VHU_SET_VRING_KICK, &v, 8, &t.kick[0], 1), 0);
	assert_int_not_equal(vring_state(&t, HAL_VHU_SET_VRING_ENABLE, 0, 1), 0);
	assert_null(hal_vhu_ring_vq(t.d, 0));
	t.o.start_rc = 0;
	assert_int_equal(vring_state(&t, HAL_VHU_SET_VRING_ENABLE, 0, 1), 0);
	assert_non_null(hal_vhu_ring_vq(t.d, 0));
	/* Disable keeps the position; enable goes on. */
	traffic(&t, 0, 1);
	assert_int_equal(vring_state(&t, HAL_VHU_SET_VRING_ENABLE, 0, 0), 0);
	assert_int_equal(t.o.stops, 1);
	assert_int_equal(vring_state(&t, HAL_VHU_SET_VRING_ENABLE, 0, 1), 0);
	traffic(&t, 0, 2);
	fe_fini(&t);
}

/* /proc/self/fd entries that are links to `target`. */
static int count_links(const char *target)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	char link[128];
	int n = 0;

	assert_non_null(dir);
	while ((e = readdir(dir))) {
		ssize_t l = readlinkat(dirfd(dir), e->d_name, link, sizeof(link) - 1);
		if (l < 0)
			continue;
		link[l] = 0;
		n += !strcmp(link, target);
	}
	closedir(dir);
	return n;
}

/* SET_LOG_FD (see h_set_log_fd): the fd is held, a second one replaces it
 * and the first is closed, a message without an fd changes nothing,
 * disconnect closes it; it is never written, not even while device writes
 * mark the log. */
static void test_log_fd(void **state)
{
	struct fe t;
	uint64_t log[2] = { 4096, 0 }, ack, cnt;
	int lfd = memfd(8192, F_SEAL_SHRINK, true);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), p[2];
	char pipe_name[128], path[64];
	const char *ev = "anon_inode:[eventfd]";

	(void)state;
	assert_true(efd >= 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p[1]);
	ssize_t l = readlink(path, pipe_name, sizeof(pipe_name) - 1);
	assert_true(l > 0);
	pipe_name[l] = 0;
	fe_init(&t);
	fe_hello(&t);
	int fds_conn = count_fds();
	fe_mem(&t);
	assert_int_equal(rt(&t, HAL_VHU_SET_LOG_BASE, 0, log, 16, &lfd, 1), 0);
	assert_int_equal(fe_reply(&t, HAL_VHU_SET_LOG_BASE, &ack, NULL), 8);
	set_u64(&t, HAL_VHU_SET_FEATURES, base_features(&t) | BIT(HAL_VHU_F_LOG_ALL));
	assert_true(hal_vhu_logging(t.d));
	int fds0 = count_fds(), ev0 = count_links(ev), pipe0 = count_links(pipe_name);

	/* Held: one more eventfd in the process. */
	assert_int_equal(rt_ack(&t, HAL_VHU_SET_LOG_FD, NULL, 0, &efd, 1), 0);
	assert_int_equal(count_fds(), fds0 + 1);
	assert_int_equal(count_links(ev), ev0 + 1);
	/* A device write marks the log; the fd is not written. */
	uint8_t x = 1;
	assert_int_equal(dma_write(dma_space_table(hal_vhu_dma(t.d)), GPA0, &x, 1), 0);
	assert_int_equal(read(efd, &cnt, sizeof(cnt)), -1);
	assert_int_equal(errno, EAGAIN);
	/* Replaced (any fd will do; a pipe tells the two apart): the held
	 * eventfd is closed. */
	assert_int_equal(rt_ack(&t, HAL_VHU_SET_LOG_FD, NULL, 0, &p[1], 1), 0);
	assert_int_equal(count_fds(), fds0 + 1);
	assert_int_equal(count_links(ev), ev0);
	assert_int_equal(count_links(pipe_name), pipe0 + 1);
	/* Without an fd: refused, the held one stays. */
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_LOG_FD, NULL, 0, NULL, 0), 0);
	assert_int_equal(count_links(pipe_name), pipe0 + 1);
	/* Disconnect closes it (and the memory and the log). */
	hal_vhu_disconnect(t.d);
	assert_int_equal(count_links(pipe_name), pipe0);
	assert_int_equal(count_links(ev), ev0);
	assert_int_equal(count_fds(), fds_conn);
	fe_fini(&t);
	close(efd);
	close(p[0]);
	close(p[1]);
	close(lfd);
}

/* resume_sessions (virtnetd's client mode): DPDK's virtio_user server
 * goes on with its session when its back end reconnects, without
 * SET_OWNER or GET/SET_PROTOCOL_FEATURES, acking with need_reply as
 * before. Without the parameter that is refused (and, REPLY_ACK not being
 * negotiated on this connection, not answered). */
static void test_resume_session(void **state)
{
	struct hal_vhu_params p;
	struct fe t;

	(void)state;
	for (int resume = 0; resume < 2; resume++) {
		fe_params(&p);
		p.resume_sessions = resume;
		fe_init_params(&t, &p);
		fe_up(&t);
		traffic(&t, 0, 1);
		/* A new connection; the front end's session goes on. */
		hal_vhu_disconnect(t.d);
		close(t.sock[0]);
		close(t.sock[1]);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t.sock), 0);
		for (int i = 0; i < 2; i++)
			sim_vq_fini(&t.drv[i]);
		memset(&t.o, 0, sizeof(t.o));
		assert_int_equal(rt_u64(&t, HAL_VHU_GET_FEATURES), t.offered);
		uint64_t f = base_features(&t);
		if (!resume) {
			assert_int_equal(rt(&t, HAL_VHU_SET_FEATURES, HAL_VHU_FLAG_NEED_REPLY,
					    &f, 8, NULL, 0), EPERM);
			assert_int_equal(fe_reply(&t, HAL_VHU_SET_FEATURES, NULL, NULL), -1);
			assert_false(hal_vhu_features_ok(t.d));
			assert_int_equal(hal_vhu_protocol_features(t.d), 0);
			fe_fini(&t);
			continue;
		}
		set_u64(&t, HAL_VHU_SET_FEATURES, f);
		assert_int_equal(hal_vhu_protocol_features(t.d), t.pf);
		set_u64(&t, HAL_VHU_SET_STATUS, 0xb);
		fe_mem(&t);
		fe_rings(&t, f, VQ_F_EVENT_IDX);
		set_u64(&t, HAL_VHU_SET_STATUS, 0xf);
		traffic(&t, 0, 2);
		traffic(&t, 1, 3);
		fe_fini(&t);
	}
}

static void test_listen_connect(void **state)
{
	char path[64];
	struct fe t;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/vhu-test-%d.sock", (int)getpid());
	int l = hal_sock_listen(path);
	assert_true(l >= 0);
	/* A stale socket file is replaced. */
	close(l);
	l = hal_sock_listen(path);
	assert_true(l >= 0);
	int c = hal_sock_connect(path);
	assert_true(c >= 0);
	int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(s >= 0);
	fe_init(&t);
	close(t.sock[0]);
	close(t.sock[1]);
	t.sock[0] = c;
	t.sock[1] = s;
	assert_int_equal(rt_u64(&t, HAL_VHU_GET_FEATURES) & BIT(HAL_VHU_F_PROTOCOL_FEATURES),
			 BIT(HAL_VHU_F_PROTOCOL_FEATURES));
	fe_fini(&t);
	close(l);
	unlink(path);
	assert_true(hal_sock_connect(path) < 0);
	char lp[200];
	memset(lp, 'x', sizeof(lp) - 1);
	lp[0] = '/';
	lp[sizeof(lp) - 1] = 0;
	assert_int_equal(hal_sock_listen(lp), -ENAMETOOLONG);
	assert_int_equal(hal_sock_connect(lp), -ENAMETOOLONG);
}

static void test_create_params(void **state)
{
	struct hal_vhu_params p;

	(void)state;
	fe_params(&p);
	p.max_queue_pairs = 0;
	assert_null(hal_vhu_create(&p, &ops, NULL));
	p.max_queue_pairs = HAL_VHU_MAX_QUEUE_PAIRS + 1;
	assert_null(hal_vhu_create(&p, &ops, NULL));
	p.max_queue_pairs = 1;
	p.max_queue_size = 100;
	assert_null(hal_vhu_create(&p, &ops, NULL));
	hal_vhu_params_default(&p);
	assert_true(p.require_sealed);
	struct hal_vhu_dev *d = hal_vhu_create(&p, &ops, NULL);
	assert_non_null(d);
	assert_int_equal(hal_vhu_num_rings(d), 2);
	hal_vhu_destroy(d);
}

/* ---- in-flight recording across back-end restarts ------------------------
 * The front end (this test) keeps its memory, its driver rings and the
 * in-flight region's memfd; the back end dies with chains in flight and a
 * new one is set up the way QEMU does after a back-end restart: features,
 * SET_INFLIGHT_FD with the same memfd, memory, rings (split: base = the
 * used ring's idx, QEMU's fallback when GET_VRING_BASE went unanswered;
 * packed: the stale base it had). */

struct ifl_region {
	struct {
		uint64_t size, off;
		uint16_t nq, qs;
		uint32_t pad;
	} in;
	int fd;       /* the front end's: it outlives back ends */
	uint8_t *map; /* its own mapping, to look at and to damage */
};

static void ifl_set(struct fe *t, struct ifl_region *r)
{
	assert_int_equal(rt_ack(t, HAL_VHU_SET_INFLIGHT_FD, &r->in, sizeof(r->in),
				&r->fd, 1), 0);
}

/* GET_INFLIGHT_FD for two queues of QSIZE, then SET_INFLIGHT_FD with it. */
static void ifl_get(struct fe *t, struct ifl_region *r)
{
	memset(r, 0, sizeof(*r));
	r->in.nq = 2;
	r->in.qs = QSIZE;
	assert_int_equal(rt(t, HAL_VHU_GET_INFLIGHT_FD, 0, &r->in, sizeof(r->in), NULL, 0), 0);
	assert_int_equal(fe_reply(t, HAL_VHU_GET_INFLIGHT_FD, &r->in, &r->fd), 24);
	assert_true(r->fd >= 0);
	r->map = mmap(NULL, r->in.size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	assert_true(r->map != MAP_FAILED);
	ifl_set(t, r);
}

static void ifl_release(struct ifl_region *r)
{
	munmap(r->map, r->in.size);
	close(r->fd);
}

/* Queue q's area, as the front end sees it. */
static void *ifl_area(const struct ifl_region *r, unsigned q, bool pk)
{
	return r->map + q * vq_inflight_bytes(QSIZE, pk);
}

/* The back end dies: nothing completes its chains; destroying the device
 * object writes nothing a crash would have skipped (the vqs are torn down,
 * the region is the front end's). A new back end takes a new socket. */
static void fe_backend_restart(struct fe *t)
{
	struct hal_vhu_params p;

	hal_vhu_destroy(t->d);
	close(t->sock[0]);
	close(t->sock[1]);
	memset(&t->o, 0, sizeof(t->o));
	fe_params(&p);
	t->d = hal_vhu_create(&p, &ops, &t->o);
	assert_non_null(t->d);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t->sock), 0);
}

static uint64_t ifl_features(const struct fe *t, bool pk)
{
	return base_features(t) | BIT(VIRTIO_F_INDIRECT_DESC) |
	       (pk ? BIT(VIRTIO_F_RING_PACKED) : 0);
}

/* A back end with a region and two running rings (indirect tables on). */
static void ifl_up(struct fe *t, struct ifl_region *r, bool pk)
{
	uint32_t vqf = VQ_F_EVENT_IDX | VQ_F_INDIRECT | (pk ? VQ_F_PACKED : 0);
	uint32_t b = pk ? 0x80008000u : 0, base[2] = { b, b };

	fe_init(t);
	fe_hello(t);
	/* The layout depends on the ring format: features first, as QEMU
	 * does before GET_INFLIGHT_FD. */
	set_u64(t, HAL_VHU_SET_FEATURES, ifl_features(t, pk));
	ifl_get(t, r);
	fe_mem(t);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(sim_vq_init(&t->drv[i], &t->mem, QSIZE, vqf, 4), 0);
	fe_ring_msgs(t, ifl_features(t, pk), base);
	assert_true(vq_inflight_on(t->o.vq[0]));
}

/* After fe_backend_restart: the front end's replay. */
static void ifl_replay(struct fe *t, struct ifl_region *r, bool pk, uint32_t base0)
{
	uint32_t base[2] = { base0, pk ? 0x80008000u : 0 };

	fe_hello(t);
	set_u64(t, HAL_VHU_SET_FEATURES, ifl_features(t, pk));
	ifl_set(t, r);
	fe_mem(t);
	fe_ring_msgs(t, ifl_features(t, pk), base);
}

#define IFL_MAX 16

/* Chains of token k + 1: 64 readable bytes then 64 writable ones; every
 * third one an indirect table. rd[k] names the readable buffer. */
static void ifl_post(struct fe *t, unsigned from, unsigned n, uint64_t *rd)
{
	struct sim_vq *q = &t->drv[0];

	for (unsigned k = from; k < from + n; k++) {
		struct sim_buf out = { 0, 64 }, in = { 0, 64 };
		assert_true(k < IFL_MAX);
		assert_int_equal(sim_hostmem_alloc(&t->mem, 64, 16, &out.iova), 0);
		assert_int_equal(sim_hostmem_alloc(&t->mem, 64, 16, &in.iova), 0);
		rd[k] = out.iova;
		assert_int_equal(sim_vq_add(q, &out, 1, &in, 1, (void *)(uintptr_t)(k + 1),
					    k % 3 == 2), 0);
	}
	sim_vq_publish(q);
}

/* Pop everything ring 0 offers; the tokens of the chains, in pop order
 * (known by their readable buffer), and their heads (ids). */
static unsigned ifl_pop(struct fe *t, const uint64_t *rd, unsigned nrd,
			unsigned *tok, uint16_t *id)
{
	struct vq *vq = t->o.vq[0];
	struct vq_chain c[IFL_MAX];
	struct vq_seg segs[4 * QSIZE];
	unsigned n = vq_pop_burst(vq, c, IFL_MAX, segs, 4 * QSIZE);

	assert_false(vq_broken(vq));
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(c[i].nseg, 2);
		assert_int_equal(c[i].nread, 1);
		assert_int_equal(c[i].wlen, 64);
		tok[i] = 0;
		for (unsigned k = 0; k < nrd; k++)
			if (c[i].seg[0].iova == rd[k])
				tok[i] = k + 1;
		assert_int_not_equal(tok[i], 0);
		id[i] = c[i].head;
	}
	return n;
}

static void ifl_complete(struct fe *t, uint16_t id)
{
	struct vq_done d = { id, 64 };

	assert_int_equal(vq_push_burst(t->o.vq[0], &d, 1, false), 0);
}

/* Reap what the driver got: each token at most once overall. */
static void ifl_reap(struct fe *t, unsigned *seen)
{
	uint32_t len;
	bool bad = false;
	void *tok;

	while ((tok = sim_vq_get_used(&t->drv[0], &len, &bad))) {
		unsigned k = (unsigned)(uintptr_t)tok;
		assert_true(k >= 1 && k <= IFL_MAX);
		assert_int_equal(seen[k - 1], 0);
		seen[k - 1] = 1;
		assert_int_equal(len, 64);
	}
	assert_false(bad); /* never a buffer that is not outstanding */
}

/* Pop 8 chains, complete tokens 5 and 2, crash; the new back end pops 1,
 * 3, 4, 6, 7, 8 again first, in that order, then 9 and 10 posted after
 * the restart; each of the ten is completed exactly once. */
static void ifl_restart(bool pk)
{
	struct fe t;
	struct ifl_region r;
	uint64_t rd[IFL_MAX];
	unsigned tok[IFL_MAX], seen[IFL_MAX] = { 0 };
	uint16_t id[IFL_MAX];
	int fds0 = count_fds();

	ifl_up(&t, &r, pk);
	ifl_post(&t, 0, 8, rd);
	assert_int_equal(ifl_pop(&t, rd, 8, tok, id), 8);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(tok[i], i + 1);
	ifl_complete(&t, id[4]);
	ifl_complete(&t, id[1]);
	ifl_reap(&t, seen);
	assert_true(seen[1] && seen[4]);
	/* The region shows six chains in flight. */
	unsigned n = 0;
	if (pk) {
		struct vq_ifl_packed *a = ifl_area(&r, 0, true);
		for (unsigned i = 0; i < QSIZE; i++)
			n += a->desc[i].inflight;
		assert_int_equal(a->used_idx, a->old_used_idx);
	} else {
		struct vq_ifl_split *a = ifl_area(&r, 0, false);
		for (unsigned i = 0; i < QSIZE; i++)
			n += a->desc[i].inflight;
		assert_int_equal(a->used_idx, 2);
		assert_true(a->desc[id[0]].counter < a->desc[id[7]].counter);
	}
	assert_int_equal(n, 6);

	fe_backend_restart(&t);
	ifl_replay(&t, &r, pk, pk ? 0x80008000u : 2);
	ifl_post(&t, 8, 2, rd);
	assert_int_equal(ifl_pop(&t, rd, 10, tok, id), 8);
	const unsigned want[8] = { 1, 3, 4, 6, 7, 8, 9, 10 };
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(tok[i], want[i]);
	/* Completed out of order, each once. */
	for (unsigned i = 8; i-- > 0;)
		ifl_complete(&t, id[i]);
	ifl_reap(&t, seen);
	for (unsigned k = 0; k < 10; k++)
		assert_int_equal(seen[k], 1);
	/* Ten used entries in all (packed: the driver's used counter went
	 * round the descriptors the ten took, 2 or 1 each). */
	if (pk)
		assert_int_equal(t.drv[0].last_used, 7 * 2 + 3 * 1);
	else
		assert_int_equal(vle16_to_cpu(t.drv[0].used->idx), 10);

	/* Nothing in flight: a second restart resubmits nothing, and the
	 * ring goes on. */
	fe_backend_restart(&t);
	ifl_replay(&t, &r, pk, pk ? 0x80008000u : 10);
	assert_int_equal(ifl_pop(&t, rd, 10, tok, id), 0);
	traffic(&t, 0, 0x61);
	fe_fini(&t);
	ifl_release(&r);
	assert_int_equal(count_fds(), fds0);
}

static void test_inflight_restart_split(void **state)
{
	(void)state;
	ifl_restart(false);
}

static void test_inflight_restart_packed(void **state)
{
	(void)state;
	ifl_restart(true);
}

/*
 * A crash inside a completion, rebuilt from the region before (s0) and
 * after (s1) it: tokens 1 and 3 of 1-4 complete in one burst. `published`:
 * the driver saw it (split: used->idx moved, packed: the first used
 * descriptor's flags); the region's last steps did not happen (split:
 * heads still in flight, used_idx behind: the last_batch_head fix-up;
 * packed: old_* behind: commit). Not published: the ring is put back too
 * (split: used->idx; packed: the first used slot) and the region's
 * earlier steps stay (packed: roll back). Either way each token completes
 * exactly once.
 */
static void ifl_torn(bool pk, bool published)
{
	struct fe t;
	struct ifl_region r;
	uint64_t rd[IFL_MAX];
	unsigned tok[IFL_MAX], seen[IFL_MAX] = { 0 };
	uint16_t id[IFL_MAX];
	size_t alen = vq_inflight_bytes(QSIZE, pk);
	uint8_t *s0 = malloc(alen), *s1 = malloc(alen);
	struct vq_pdesc slot0;

	ifl_up(&t, &r, pk);
	ifl_post(&t, 0, 4, rd);
	assert_int_equal(ifl_pop(&t, rd, 4, tok, id), 4);
	uint8_t *a = ifl_area(&r, 0, pk);
	memcpy(s0, a, alen);
	memcpy(&slot0, &t.drv[0].pdesc[0], sizeof(slot0));
	struct vq_done d[2] = { { id[0], 64 }, { id[2], 64 } };
	assert_int_equal(vq_push_burst(t.o.vq[0], d, 2, false), 0);
	memcpy(s1, a, alen);

	/* The torn state. */
	if (pk) {
		struct vq_ifl_packed *p0 = (void *)s0, *p = (void *)a;
		p->old_free_head = p0->old_free_head;
		p->old_used_idx = p0->old_used_idx;
		p->old_used_wrap_counter = p0->old_used_wrap_counter;
		for (unsigned i = 0; i < QSIZE; i++)
			p->desc[i].inflight = p0->desc[i].inflight;
		assert_int_not_equal(p->used_idx, p->old_used_idx);
		if (!published) /* the burst's first used descriptor unwritten */
			memcpy(&t.drv[0].pdesc[0], &slot0, sizeof(slot0));
	} else {
		struct vq_ifl_split *p0 = (void *)s0, *p = (void *)a;
		p->used_idx = p0->used_idx;
		for (unsigned i = 0; i < QSIZE; i++)
			p->desc[i].inflight = p0->desc[i].inflight;
		if (!published) {
			/* used->idx not moved; last_batch_head and the list
			 * (steps 1-3) are in place. */
			t.drv[0].used->idx = 0;
		} else {
			assert_int_equal(t.drv[0].used->idx, 2);
		}
	}

	fe_backend_restart(&t);
	ifl_replay(&t, &r, pk, pk ? 0x80008000u : (published ? 2 : 0));
	unsigned n = ifl_pop(&t, rd, 4, tok, id);
	if (published) {
		assert_int_equal(n, 2);
		assert_int_equal(tok[0], 2);
		assert_int_equal(tok[1], 4);
	} else {
		assert_int_equal(n, 4);
		for (unsigned i = 0; i < 4; i++)
			assert_int_equal(tok[i], i + 1);
	}
	for (unsigned i = 0; i < n; i++)
		ifl_complete(&t, id[i]);
	ifl_reap(&t, seen);
	for (unsigned k = 0; k < 4; k++)
		assert_int_equal(seen[k], 1);
	/* The region is whole again: used_idx caught up, nothing in flight. */
	if (pk) {
		struct vq_ifl_packed *p = (void *)a;
		assert_int_equal(p->used_idx, p->old_used_idx);
		assert_int_equal(p->free_head, p->old_free_head);
	} else {
		assert_int_equal(((struct vq_ifl_split *)a)->used_idx, 4);
	}
	for (unsigned i = 0; i < QSIZE; i++)
		assert_int_equal(pk ? ((struct vq_ifl_packed *)a)->desc[i].inflight
				    : ((struct vq_ifl_split *)a)->desc[i].inflight, 0);
	traffic(&t, 0, 0x62);
	fe_fini(&t);
	ifl_release(&r);
	free(s0);
	free(s1);
}

static void test_inflight_split_used_behind(void **state)
{
	(void)state;
	ifl_torn(false, true);
}

static void test_inflight_split_used_not_published(void **state)
{
	(void)state;
	ifl_torn(false, false);
}

static void test_inflight_packed_commit(void **state)
{
	(void)state;
	ifl_torn(true, true);
}

static void test_inflight_packed_rollback(void **state)
{
	(void)state;
	ifl_torn(true, false);
}

/* A region the front end damaged: the ring starts without resubmitting
 * (one rate-limited line), records afresh, and works; never a bad access. */
static void ifl_garbage(bool pk)
{
	struct fe t;
	struct ifl_region r;
	uint64_t rd[IFL_MAX];
	unsigned tok[IFL_MAX];
	uint16_t id[IFL_MAX];
	size_t alen = vq_inflight_bytes(QSIZE, pk);
	uint8_t *good = malloc(alen);

	ifl_up(&t, &r, pk);
	uint8_t *a = ifl_area(&r, 0, pk);
	srandom(7);
	for (unsigned it = 0; it < 24; it++) {
		/* Three chains in flight, then the damage. */
		ifl_post(&t, 0, 3, rd);
		assert_int_equal(ifl_pop(&t, rd, 3, tok, id), 3);
		memcpy(good, a, alen);
		switch (it % 8) {
		case 0: /* random bytes */
			for (size_t i = 0; i < alen; i++)
				a[i] = (uint8_t)random();
			break;
		case 1: /* random bytes in a well-formed header */
			for (size_t i = 16; i < alen; i++)
				a[i] = (uint8_t)random();
			break;
		case 2:
			((uint16_t *)a)[4] = 2; /* version */
			break;
		case 3:
			((uint16_t *)a)[5] = QSIZE / 2; /* desc_num */
			break;
		case 4: /* huge counters */
			for (unsigned i = 0; i < QSIZE; i++)
				if (pk)
					((struct vq_ifl_packed *)a)->desc[i].counter = UINT64_MAX - i;
				else
					((struct vq_ifl_split *)a)->desc[i].counter = UINT64_MAX - i;
			break;
		case 5: /* an inflight flag that is neither */
			a[(pk ? 32 : 16) * (1 + random() % QSIZE)] = 0x80;
			break;
		case 6:
			if (pk) { /* the free list loops */
				struct vq_ifl_packed *p = (void *)a;
				p->desc[QSIZE - 1].next = p->free_head;
			} else { /* used_idx far off, last batch out of range */
				struct vq_ifl_split *p = (void *)a;
				p->used_idx = (uint16_t)random();
				p->last_batch_head = 0xffff;
			}
			break;
		case 7:
			if (pk) { /* a chain out of the queue, an id twice */
				struct vq_ifl_packed *p = (void *)a;
				for (unsigned i = 0; i < QSIZE; i++) {
					if (p->desc[i].inflight && (random() & 1))
						p->desc[i].num = 0x7fff;
					p->desc[i].id = 1;
				}
			} else { /* used_idx ahead of the ring */
				((struct vq_ifl_split *)a)->used_idx = 5;
			}
			break;
		}
		/* The base GET_VRING_BASE would have given, so that without
		 * resubmission the three chains pop again from the ring
		 * (split: it is the used ring's idx anyway). */
		uint16_t u = t.o.vq[0]->used_idx;
		uint32_t b = pk ? (vq_ctr_pos(u, QSIZE) | (vq_ctr_wrap(u, QSIZE) ? 0x8000u : 0))
				: u;
		fe_backend_restart(&t);
		ifl_replay(&t, &r, pk, pk ? b | b << 16 : b);
		assert_true(vq_inflight_on(t.o.vq[0]));
		/* Resubmitted when the damage left the region valid, else
		 * popped again from the ring: the same three either way. */
		assert_int_equal(ifl_pop(&t, rd, 3, tok, id), 3);
		for (unsigned i = 0; i < 3; i++)
			ifl_complete(&t, id[i]);
		traffic(&t, 1, (uint8_t)it);
		/* Whatever the damage, the region records again. */
		for (unsigned i = 0; i < QSIZE; i++)
			assert_int_equal(pk ? ((struct vq_ifl_packed *)a)->desc[i].inflight
					    : ((struct vq_ifl_split *)a)->desc[i].inflight, 0);
	}
	fe_fini(&t);
	ifl_release(&r);
	free(good);
}

static void test_inflight_garbage_split(void **state)
{
	(void)state;
	ifl_garbage(false);
}

static void test_inflight_garbage_packed(void **state)
{
	(void)state;
	ifl_garbage(true);
}

/* While a ring records, the region cannot be replaced; once it is torn
 * down (GET_VRING_BASE) it can. RESET_DEVICE voids what is in flight. */
static void test_inflight_busy_and_reset(void **state)
{
	struct fe t;
	struct ifl_region r;
	uint64_t rd[IFL_MAX];
	unsigned tok[IFL_MAX];
	uint16_t id[IFL_MAX];

	(void)state;
	ifl_up(&t, &r, false);
	assert_int_not_equal(rt_ack(&t, HAL_VHU_SET_INFLIGHT_FD, &r.in, sizeof(r.in),
				    &r.fd, 1), 0);
	ifl_post(&t, 0, 2, rd);
	assert_int_equal(ifl_pop(&t, rd, 2, tok, id), 2);
	for (uint32_t i = 0; i < 2; i++) {
		uint32_t s[2] = { i, 0 };
		assert_int_equal(rt(&t, HAL_VHU_GET_VRING_BASE, 0, s, 8, NULL, 0), 0);
		assert_int_equal(fe_reply(&t, HAL_VHU_GET_VRING_BASE, s, NULL), 8);
	}
	ifl_set(&t, &r);
	/* A clean restart of ring 0 at the base it answered: the two chains
	 * go first again. */
	assert_int_equal(vring_state(&t, HAL_VHU_SET_VRING_BASE, 0, 2), 0);
	uint64_t v = 0;
	assert_int_equal(rt_ack(&t, HAL_VHU_SET_VRING_KICK, &v, 8, &t.kick[0], 1), 0);
	assert_true(vq_inflight_on(t.o.vq[0]));
	assert_int_equal(ifl_pop(&t, rd, 2, tok, id), 2);
	assert_int_equal(tok[0], 1);
	assert_int_equal(tok[1], 2);
	/* After RESET_DEVICE the area reads as fresh. */
	assert_int_equal(rt_ack(&t, HAL_VHU_RESET_DEVICE, NULL, 0, NULL, 0), 0);
	assert_int_equal(((struct vq_ifl_split *)ifl_area(&r, 0, false))->version, 0);
	fe_fini(&t);
	ifl_release(&r);
}

/* ---- areas the engine refuses or cannot read ------------------------------
 * Every line logged meanwhile is kept (a clock that opens a new
 * rate-limit interval at each line). */
static char ifl_log[8192];

static void ifl_log_keep(enum hal_log_level l, const char *line)
{
	size_t n = strlen(ifl_log);

	(void)l;
	snprintf(ifl_log + n, sizeof(ifl_log) - n, "%s\n", line);
}

static uint64_t ifl_log_clock(void)
{
	static uint64_t t;

	return t += 10ull * 1000 * 1000 * 1000;
}

/*
 * A front end's region (split) of two queues of qs at offset off of its
 * memfd, each area as a back end left it: version 1, desc_num, head 0 in
 * flight. Then a back end with rings of `size`, at base 0, capturing the
 * log. The areas' headers are read with memcpy (off may be odd).
 */
struct ifl_odd {
	struct ifl_region r;
	size_t maplen, stride;
};

static void ifl_odd_up(struct fe *t, struct ifl_odd *o, uint16_t size, uint16_t qs,
		       uint64_t off, uint16_t desc_num)
{
	const uint16_t one = 1;

	memset(o, 0, sizeof(*o));
	o->stride = vq_inflight_bytes(qs, false);
	o->r.in.nq = 2;
	o->r.in.qs = qs;
	o->r.in.off = off;
	o->r.in.size = 2 * o->stride;
	o->maplen = off + 2 * o->stride;
	o->r.fd = memfd(o->maplen, 0, true);
	o->r.map = mmap(NULL, o->maplen, PROT_READ | PROT_WRITE, MAP_SHARED, o->r.fd, 0);
	assert_true(o->r.map != MAP_FAILED);
	for (unsigned q = 0; q < 2; q++) {
		uint8_t *a = o->r.map + off + q * o->stride;
		memcpy(a + offsetof(struct vq_ifl_split, version), &one, 2);
		memcpy(a + offsetof(struct vq_ifl_split, desc_num), &desc_num, 2);
		a[offsetof(struct vq_ifl_split, desc)] = 1; /* desc[0].inflight */
	}
	ifl_log[0] = 0;
	hal_log_set_sink(ifl_log_keep);
	hal_log_set_clock(ifl_log_clock);
	fe_init(t);
	fe_hello(t);
	set_u64(t, HAL_VHU_SET_FEATURES, ifl_features(t, false));
	ifl_set(t, &o->r);
	fe_mem(t);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(sim_vq_init(&t->drv[i], &t->mem, size, VQ_F_EVENT_IDX, 0), 0);
	const uint32_t base[2] = { 0, 0 };
	fe_ring_msgs(t, ifl_features(t, false), base);
	hal_log_set_sink(NULL);
	hal_log_set_clock(NULL);
}

static uint16_t ifl_odd_u16(const struct ifl_odd *o, unsigned q, size_t field)
{
	uint16_t v;

	memcpy(&v, o->r.map + o->r.in.off + q * o->stride + field, 2);
	return v;
}

static void ifl_odd_down(struct fe *t, struct ifl_odd *o)
{
	fe_fini(t);
	munmap(o->r.map, o->maplen);
	close(o->r.fd);
}

/*
 * An area the engine refuses (a ring larger than the region's queue size;
 * an area misaligned by the front end's mmap_offset, odd or not): the ring
 * runs unrecorded, and its area no longer says version 1 (a later back
 * end would resubmit what it names although this ring ran past it), with
 * a line saying why.
 */
static void test_inflight_area_refused(void **state)
{
	static const struct { uint16_t size, qs; uint64_t off; } c[] = {
		{ QSIZE, 64, 0 },    /* ring larger than the area */
		{ QSIZE, QSIZE, 1 }, /* misaligned; version at an odd address */
		{ 64, QSIZE, 2 },    /* misaligned; version 2-byte aligned */
	};
	int fds0 = count_fds();

	(void)state;
	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct fe t;
		struct ifl_odd o;
		char want[128];

		ifl_odd_up(&t, &o, c[i].size, c[i].qs, c[i].off, c[i].qs);
		for (unsigned q = 0; q < 2; q++) {
			assert_false(vq_inflight_on(t.o.vq[q]));
			assert_int_equal(ifl_odd_u16(&o, q, offsetof(struct vq_ifl_split, version)), 0);
			snprintf(want, sizeof(want), "ring %u (size %u): in-flight area (queues of %u, "
				 "at offset %zu) not used: ", q, c[i].size, c[i].qs,
				 (size_t)c[i].off + q * o.stride);
			assert_non_null(strstr(ifl_log, want));
		}
		assert_non_null(strstr(ifl_log, "marked fresh, the ring is not recorded"));
		traffic(&t, 0, 0x63);
		traffic(&t, 1, 0x64);
		ifl_odd_down(&t, &o);
	}
	assert_int_equal(count_fds(), fds0);
}

/*
 * An area whose desc_num is the region's queue size, not the ring's: what
 * DPDK and libvhost-user write when the driver chose a smaller ring. Said
 * as such, not as garbage; the ring starts afresh and records.
 */
static void test_inflight_desc_num_other_ring(void **state)
{
	struct fe t;
	struct ifl_odd o;

	(void)state;
	ifl_odd_up(&t, &o, QSIZE / 2, QSIZE, 0, QSIZE);
	assert_non_null(strstr(ifl_log, "in-flight region: desc_num 256 != ring size 128: "
				       "written by a back end for another ring size; "
				       "starting without resubmitting"));
	assert_null(strstr(ifl_log, "started afresh")); /* not the garbage line */
	for (unsigned q = 0; q < 2; q++) {
		assert_true(vq_inflight_on(t.o.vq[q]));
		assert_int_equal(ifl_odd_u16(&o, q, offsetof(struct vq_ifl_split, version)),
				 VQ_IFL_VERSION);
		assert_int_equal(ifl_odd_u16(&o, q, offsetof(struct vq_ifl_split, desc_num)),
				 QSIZE / 2);
	}
	/* Head 0 was not resubmitted: the ring's first chain is new. */
	traffic(&t, 0, 0x65);
	ifl_odd_down(&t, &o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_sequence),
		cmocka_unit_test(test_packed_base),
		cmocka_unit_test(test_split_across_writes),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_size_too_small),
		cmocka_unit_test(test_unknown_request),
		cmocka_unit_test(test_missing_fd),
		cmocka_unit_test(test_extra_fds_closed),
		cmocka_unit_test(test_bad_ring_index),
		cmocka_unit_test(test_ring_num),
		cmocka_unit_test(test_ring_addr_outside),
		cmocka_unit_test(test_overlapping_regions),
		cmocka_unit_test(test_file_too_small),
		cmocka_unit_test(test_unsealed_sealed_or_refused),
		cmocka_unit_test(test_rem_mem_reg_in_use),
		cmocka_unit_test(test_add_mem_reg_twice),
		cmocka_unit_test(test_new_mem_table_stops_rings),
		cmocka_unit_test(test_log),
		cmocka_unit_test(test_before_owner),
		cmocka_unit_test(test_features_not_offered),
		cmocka_unit_test(test_disconnect_midway),
		cmocka_unit_test(test_inflight),
		cmocka_unit_test(test_inflight_restart_split),
		cmocka_unit_test(test_inflight_restart_packed),
		cmocka_unit_test(test_inflight_split_used_behind),
		cmocka_unit_test(test_inflight_split_used_not_published),
		cmocka_unit_test(test_inflight_packed_commit),
		cmocka_unit_test(test_inflight_packed_rollback),
		cmocka_unit_test(test_inflight_garbage_split),
		cmocka_unit_test(test_inflight_garbage_packed),
		cmocka_unit_test(test_inflight_busy_and_reset),
		cmocka_unit_test(test_inflight_area_refused),
		cmocka_unit_test(test_inflight_desc_num_other_ring),
		cmocka_unit_test(test_config_rarp_mtu_status),
		cmocka_unit_test(test_protocol_gates),
		cmocka_unit_test(test_reset_device),
		cmocka_unit_test(test_no_protocol_features),
		cmocka_unit_test(test_owner_refuses_start),
		cmocka_unit_test(test_listen_connect),
		cmocka_unit_test(test_create_params),
		cmocka_unit_test(test_log_fd),
		cmocka_unit_test(test_resume_session),
	};
	return cmocka_run_group_tests_name("vhost_user", tests, NULL, NULL);
}
