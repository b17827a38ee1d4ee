/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_vhost_user — libFuzzer target for the vhost-user back end
 * (hal/vhost_user.c) over emu/dma and emu/virtq.
 *
 * The input is a hostile front end: a sequence of raw messages handed to
 * hal_vhu_handle, each with a few fds chosen from real objects created
 * once (two sealed memfds, an unsealed one, an eventfd) and dup'ed per
 * message, as SCM_RIGHTS would deliver them.
 *
 * Input layout:
 *   0      1  config: bit 0 require_sealed off; bit 1 two queue pairs;
 *             bit 2 pass ACCESS_PLATFORM in the provisioned features;
 *             bit 3 an image for memfd B follows
 *   (bit 3) 2  image length L (little-endian), clipped to what is left
 *          L  written at the start of memfd B: the front end's own bytes,
 *             so SET_INFLIGHT_FD with B hands the back end a hostile
 *             in-flight region (version, desc_num, heads, counters, free
 *             list, recorded descriptors) for the rings to recover from
 *   then records until the input ends:
 *          1  fd selection: bits 0-1 how many fds (0-3), then 2 bits per
 *             fd: 0 sealed memfd A, 1 sealed memfd B, 2 unsealed memfd,
 *             3 eventfd
 *          2  message length L (little-endian), clipped to what is left
 *          L  the message (header + payload), passed as is
 *
 * A negative result (stream error) is what the owner answers with a
 * disconnect: the target calls hal_vhu_disconnect and goes on, as a new
 * connection would. The owner's ring_start pops a burst from the vq it is
 * handed (descriptors in the memfds' zeroes, or in whatever the input made
 * the rings point at). Invariants, trapped: no crash or sanitizer report;
 * a reply fits HAL_VHU_MSG_MAX, says REPLY and names the request; a reply
 * fd only with a reply; ring_start/ring_stop pair up; after destroy the
 * process holds exactly the fds it held when the input began (no leak)
 * and no mapping of a front-end memfd is left.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hal_log.h"
#include "hal_vhost_user.h"
#include "virtio_dev.h"
#include "virtio_net.h"
#include "virtq.h"

#define CHECK(c) \
	do { \
		if (!(c)) { \
			fprintf(stderr, "fuzz_vhost_user: %s:%d: %s\n", __FILE__, \
				__LINE__, #c); \
			abort(); \
		} \
	} while (0)

#include "fuzz_fds.h"

static const char *const map_names[] = { "vhu-fuzz-mem", "virtnet-inflight", NULL };

#define MEM_SIZE (64u << 10)

static int g_obj[4]; /* memfd A, memfd B, unsealed memfd, eventfd */
static int g_fds_base;

static int make_memfd(bool seal)
{
	int fd = memfd_create("vhu-fuzz-mem", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	CHECK(fd >= 0);
	CHECK(ftruncate(fd, MEM_SIZE) == 0);
	if (seal)
		CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
	return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	hal_log_set_level(HAL_LOG_ERR); /* refusals are the normal case here */
	g_obj[0] = make_memfd(true);
	g_obj[1] = make_memfd(true);
	g_obj[2] = make_memfd(false);
	g_obj[3] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(g_obj[3] >= 0);
	g_fds_base = count_fds();
	return 0;
}

struct owner {
	int running[256];
	unsigned starts, stops;
};

static int o_start(void *ctx, uint16_t idx, struct vq *vq, int kick_fd)
{
	struct owner *o = ctx;
	struct vq_chain c[4];
	struct vq_seg *segs = calloc(vq->size ? vq->size : 1, sizeof(*segs));

	(void)kick_fd;
	CHECK(!o->running[idx]);
	o->running[idx] = 1;
	o->starts++;
	CHECK(segs);
	unsigned n = vq_pop_burst(vq, c, 4, segs, vq->size);
	CHECK(n <= 4);
	for (unsigned i = 0; i < n; i++) {
		struct vq_done dn = { c[i].head, 0 };
		vq_push_burst(vq, &dn, 1, false);
	}
	free(segs);
	return 0;
}

static void o_stop(void *ctx, uint16_t idx, struct vq *vq)
{
	struct owner *o = ctx;

	(void)vq;
	CHECK(o->running[idx]);
	o->running[idx] = 0;
	o->stops++;
}

static void o_call(void *ctx, uint16_t idx, int fd)
{
	(void)ctx;
	(void)idx;
	CHECK(fd == -1 || fcntl(fd, F_GETFD) != -1);
}

static const struct hal_vhu_ops ops = {
	.ring_start = o_start, .ring_stop = o_stop, .ring_call = o_call,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hal_vhu_params p;
	struct owner o = { 0 };
	struct hal_vhu_dev *d;
	size_t off = 1;
	unsigned msgs = 0;

	if (size < 1)
		return 0;
	/* Every input starts from the same memory (devices write used rings
	 * into it): zeroes, and in A avail index 1 at offset 0x1002 (the
	 * seeds' first avail ring), so a started ring has a chain to walk. */
	static uint8_t zero[MEM_SIZE];
	for (int i = 0; i < 3; i++)
		CHECK(pwrite(g_obj[i], zero, MEM_SIZE, 0) == MEM_SIZE);
	CHECK(pwrite(g_obj[0], "\1", 1, 0x1002) == 1);
	if ((data[0] & 8) && size >= 3) {
		size_t l = data[1] | (size_t)data[2] << 8;
		off = 3;
		if (l > size - off)
			l = size - off;
		if (l > MEM_SIZE)
			l = MEM_SIZE;
		CHECK(pwrite(g_obj[1], data + off, l, 0) == (ssize_t)l);
		off += l;
	}
	/* Per input: libFuzzer itself opens fds between inputs (the
	 * symbolizer's pipes). */
	g_fds_base = count_fds();
	hal_vhu_params_default(&p);
	p.name = "fuzz";
	p.features = VDEV_BIT(VIRTIO_F_VERSION_1) | VDEV_BIT(VIRTIO_F_EVENT_IDX) |
		     VDEV_BIT(VIRTIO_F_INDIRECT_DESC) | VDEV_BIT(VIRTIO_F_RING_PACKED) |
		     VDEV_BIT(VIRTIO_F_IN_ORDER) | VDEV_BIT(VIRTIO_NET_F_MTU) |
		     VDEV_BIT(VIRTIO_NET_F_MAC);
	if (data[0] & 4)
		p.features |= VDEV_BIT(VIRTIO_F_ACCESS_PLATFORM);
	p.require_sealed = !(data[0] & 1);
	p.max_queue_pairs = (data[0] & 2) ? 2 : 1;
	p.max_queue_size = 256;
	d = hal_vhu_create(&p, &ops, &o);
	CHECK(d);

	while (off + 3 <= size && msgs++ < 256) {
		uint8_t sel = data[off];
		size_t len = data[off + 1] | (size_t)data[off + 2] << 8;
		int fds[3];
		unsigned nfds = sel & 3;
		uint8_t reply[HAL_VHU_MSG_MAX];
		size_t rl = sizeof(reply);
		int rfd;

		off += 3;
		if (len > size - off)
			len = size - off;
		for (unsigned i = 0; i < nfds; i++) {
			fds[i] = dup(g_obj[(sel >> (2 + 2 * i)) & 3]);
			CHECK(fds[i] >= 0);
		}
		int rc = hal_vhu_handle(d, data + off, len, fds, nfds, reply, &rl, &rfd);
		for (unsigned i = 0; i < nfds; i++)
			CHECK(fds[i] == -1 || fcntl(fds[i], F_GETFD) == -1);
		CHECK(rl <= HAL_VHU_MSG_MAX);
		if (rl) {
			uint32_t h[3], req;
			CHECK(rl >= HAL_VHU_HDR_SIZE && len >= 4);
			memcpy(h, reply, sizeof(h));
			memcpy(&req, data + off, 4);
			CHECK(h[0] == req);
			CHECK(h[1] == (HAL_VHU_VERSION | HAL_VHU_FLAG_REPLY));
			CHECK(rl == HAL_VHU_HDR_SIZE + (size_t)h[2]);
			CHECK(rc >= 0);
		}
		CHECK(rfd == -1 || (rl && fcntl(rfd, F_GETFD) != -1));
		if (rc < 0) {
			CHECK(rl == 0);
			hal_vhu_disconnect(d); /* the owner drops the connection */
		}
		off += len;
	}
	hal_vhu_destroy(d);
	CHECK(o.starts == o.stops);
	if (count_fds() != g_fds_base) {
		fprintf(stderr, "fuzz_vhost_user: %d fds, expected %d\n", count_fds(),
			g_fds_base);
		list_fds();
		abort();
	}
	CHECK(count_maps(map_names) == 0);
	return 0;
}
