/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vfio-user server over a real socket pair, driven the way a client
 * drives it, byte for byte: version negotiation, device/region/IRQ
 * information, region reads and writes into the PCI function, DMA windows
 * (sealed memfds; refusals), doorbell eventfds, MSI-X eventfds with
 * masking, reset, and a hostile client: split messages, oversized ones,
 * sizes that break the stream, stray fds, disconnection.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
#include "hal_vfio_user.h"
#include "virtio_net.h"
#include "virtio_pci.h"

#define HDR sizeof(struct vfu_hdr)
#define NVEC 4

struct env {
	int cli, srv;          /* client end, server end */
	struct dma_space *dma;
	struct vnet_dev net;
	struct vpci *pci;
	struct hal_vfu_dev *vfu;
	uint16_t id;
	unsigned disconnects;
	/* the last reply */
	struct vfu_hdr rh;
	uint8_t rp[HAL_VFU_REPLY_MAX];
	int rfds[64];
	unsigned nrfds;
};

static void quiet(enum hal_log_level l, const char *line)
{
	(void)l;
	(void)line;
}

static void on_disconnect(void *ctx)
{
	((struct env *)ctx)->disconnects++;
}

static const struct hal_vfu_ops vfu_ops = { .disconnect = on_disconnect };

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct vnet_params np;
	struct vpci_params pp = {
		.device_id = VPCI_DEVICE_NET, .subsys_vendor_id = VPCI_VENDOR_VIRTIO,
		.subsys_id = 1, .num_vectors = NVEC,
	};
	struct hal_vfu_params vp;
	int sv[2];

	hal_log_set_sink(quiet);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	e->cli = sv[0];
	e->srv = sv[1];
	fcntl(e->srv, F_SETFL, O_NONBLOCK);
	e->dma = dma_space_create(NULL);
	vnet_params_default(&np);
	np.features |= VNET_F(VIRTIO_NET_F_MQ);
	np.max_queue_pairs = 2;
	assert_int_equal(vnet_init(&e->net, &np, e->dma, "t0"), 0);
	e->pci = vpci_create(&e->net.vdev, &pp, NULL, NULL);
	assert_non_null(e->pci);
	hal_vfu_params_default(&vp);
	vp.name = "t0";
	vp.dma = e->dma;
	e->vfu = hal_vfu_create(&vp, e->pci, &vfu_ops, e);
	assert_non_null(e->vfu);
	*state = e;
	return 0;
}

static void drop_rfds(struct env *e)
{
	for (unsigned i = 0; i < e->nrfds; i++)
		close(e->rfds[i]);
	e->nrfds = 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	drop_rfds(e);
	hal_vfu_destroy(e->vfu);
	vpci_destroy(e->pci);
	vnet_fini(&e->net);
	dma_space_destroy(e->dma);
	close(e->cli);
	close(e->srv);
	free(e);
	hal_log_set_sink(NULL);
	return 0;
}

/* Let the server take one message (sent whole, so it is all there). */
static int serve(struct env *e)
{
	return hal_vfu_serve(e->vfu, e->srv);
}

/* Read one whole reply (header + payload + fds) from the client end;
 * false when nothing is there. */
static bool read_reply(struct env *e)
{
	unsigned got = 0;
	long n;

	drop_rfds(e);
	fcntl(e->cli, F_SETFL, O_NONBLOCK);
	n = hal_sock_recv(e->cli, &e->rh, HDR, e->rfds, &e->nrfds, 64);
	if (n == -EAGAIN)
		return false;
	assert_int_equal(n, HDR);
	assert_true(e->rh.size >= HDR && e->rh.size <= HDR + sizeof(e->rp));
	while (got < e->rh.size - HDR) {
		n = hal_sock_recv(e->cli, e->rp + got, e->rh.size - HDR - got, e->rfds,
				  &e->nrfds, 64);
		assert_true(n > 0);
		got += (unsigned)n;
	}
	return true;
}

static void send_raw(struct env *e, const void *buf, size_t len, const int *fds,
		     unsigned nfds)
{
	assert_int_equal(hal_sock_send(e->cli, buf, len, fds, nfds), 0);
}

/* Send a command, let the server handle it, read its reply. Returns the
 * server's return value; the reply is in e->rh / e->rp / e->rfds. */
static int call_flags(struct env *e, uint16_t cmd, uint32_t flags, const void *payload,
		      uint32_t len, const int *fds, unsigned nfds)
{
	uint8_t buf[HDR + 20000];
	struct vfu_hdr h = { .msg_id = ++e->id, .cmd = cmd, .size = (uint32_t)HDR + len,
			     .flags = flags };
	int rc;

	assert_true(len <= sizeof(buf) - HDR);
	memcpy(buf, &h, HDR);
	if (len)
		memcpy(buf + HDR, payload, len);
	send_raw(e, buf, HDR + len, fds, nfds);
	rc = serve(e);
	if (!(flags & VFU_F_NO_REPLY)) {
		assert_true(read_reply(e));
		assert_int_equal(e->rh.msg_id, e->id);
		assert_int_equal(e->rh.cmd, cmd);
		assert_int_equal(e->rh.flags & VFU_F_TYPE_MASK, VFU_F_REPLY);
		if (rc) {
			assert_true(e->rh.flags & VFU_F_ERROR);
			assert_int_equal(e->rh.error, rc);
			assert_int_equal(e->rh.size, HDR); /* header only */
		} else {
			assert_false(e->rh.flags & VFU_F_ERROR);
		}
	}
	return rc;
}

static int call(struct env *e, uint16_t cmd, const void *payload, uint32_t len,
		const int *fds, unsigned nfds)
{
	return call_flags(e, cmd, 0, payload, len, fds, nfds);
}

static int version(struct env *e, const char *json)
{
	uint8_t buf[1024];
	struct vfu_version v = { .major = 0, .minor = 0 };
	size_t jl = json ? strlen(json) + 1 : 0;

	memcpy(buf, &v, sizeof(v));
	if (json)
		memcpy(buf + sizeof(v), json, jl);
	return call(e, VFU_CMD_VERSION, buf, (uint32_t)(sizeof(v) + jl), NULL, 0);
}

#define QEMU_CAPS "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576," \
		  "\"pgsizes\":4096,\"max_dma_maps\":65535,\"migration\":{\"pgsize\":4096}}}"

static void hello(struct env *e)
{
	assert_int_equal(version(e, QEMU_CAPS), 0);
}

static int rd(struct env *e, uint32_t region, uint64_t off, void *buf, uint32_t n)
{
	struct vfu_region_access a = { .offset = off, .region = region, .count = n };
	int rc = call(e, VFU_CMD_REGION_READ, &a, sizeof(a), NULL, 0);

	if (!rc) {
		assert_int_equal(e->rh.size, HDR + sizeof(a) + n);
		memcpy(buf, e->rp + sizeof(a), n);
	}
	return rc;
}

static int wr(struct env *e, uint32_t region, uint64_t off, const void *buf, uint32_t n)
{
	uint8_t b[sizeof(struct vfu_region_access) + 64];
	struct vfu_region_access a = { .offset = off, .region = region, .count = n };

	assert_true(n <= 64);
	memcpy(b, &a, sizeof(a));
	memcpy(b + sizeof(a), buf, n);
	return call(e, VFU_CMD_REGION_WRITE, b, (uint32_t)(sizeof(a) + n), NULL, 0);
}

static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* A memfd of len bytes, sealed against shrinking when `seal`; with
 * `seal` false it also gets F_SEAL_SEAL, so it cannot be sealed later. */
static int memfd(size_t len, bool seal)
{
	int fd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, seal ? F_SEAL_SHRINK : F_SEAL_SEAL), 0);
	return fd;
}

static int dma_map_fd(struct env *e, uint64_t iova, uint64_t len, uint64_t off, int fd)
{
	struct vfu_dma_map m = {
		.argsz = sizeof(m), .flags = VFU_DMA_READ | VFU_DMA_WRITE,
		.offset = off, .addr = iova, .size = len,
	};
	return call(e, VFU_CMD_DMA_MAP, &m, sizeof(m), fd >= 0 ? &fd : NULL, fd >= 0);
}

/* ---- version -------------------------------------------------------------- */

static void test_version_answers_a_subset_of_the_clients_capabilities(void **state)
{
	struct env *e = *state;

	assert_int_equal(version(e, "{\"capabilities\":{\"max_msg_fds\":16,"
				    "\"max_data_xfer_size\":1048576,\"pgsizes\":12288,"
				    "\"unknown_key\":[1,2],\"write_multiple\":true}}"), 0);
	struct vfu_version v;
	memcpy(&v, e->rp, sizeof(v));
	assert_int_equal(v.major, 0);
	assert_int_equal(v.minor, 0);
	const char *json = (const char *)e->rp + sizeof(v);
	assert_int_equal(json[e->rh.size - HDR - sizeof(v) - 1], '\0');
	/* Our limits, only keys the client proposed, page sizes >= 4 KiB. */
	assert_non_null(strstr(json, "\"max_data_xfer_size\":16384"));
	assert_non_null(strstr(json, "\"max_msg_fds\":16"));
	assert_non_null(strstr(json, "\"pgsizes\":12288"));
	assert_non_null(strstr(json, "\"write_multiple\":true"));
	assert_null(strstr(json, "unknown_key"));
	assert_null(strstr(json, "max_dma_maps"));
	assert_null(strstr(json, "migration"));
	assert_true(hal_vfu_connected(e->vfu));
}

static void test_version_without_capabilities_uses_the_defaults(void **state)
{
	struct env *e = *state;

	assert_int_equal(version(e, NULL), 0);
	assert_int_equal(e->rh.size, HDR + sizeof(struct vfu_version) +
				     strlen("{\"capabilities\":{}}") + 1);
	/* max_msg_fds defaults to 1: one doorbell fd per answer. */
	struct vfu_io_fds q = { .argsz = 4096, .index = VFIO_PCI_BAR0_REGION_INDEX };
	assert_int_equal(call(e, VFU_CMD_DEVICE_GET_REGION_IO_FDS, &q, sizeof(q), NULL, 0), 0);
	memcpy(&q, e->rp, sizeof(q));
	assert_int_equal(q.count, 1);
	assert_int_equal(e->nrfds, 1);
}

static void test_version_refusals(void **state)
{
	struct env *e = *state;
	struct vfu_version v = { .major = 1 };
	char nonul[sizeof(v) + 4];

	assert_int_equal(call(e, VFU_CMD_VERSION, &v, sizeof(v), NULL, 0), ENOTSUP);
	assert_int_equal(version(e, "{\"capabilities\":"), EINVAL);          /* bad JSON */
	assert_int_equal(version(e, "[1]"), EINVAL);                         /* not an object */
	assert_int_equal(version(e, "{\"capabilities\":7}"), EINVAL);
	assert_int_equal(version(e, "{\"capabilities\":{\"max_msg_fds\":0}}"), EINVAL);
	assert_int_equal(version(e, "{\"capabilities\":{\"pgsizes\":2048}}"), EINVAL);
	v.major = 0;
	memcpy(nonul, &v, sizeof(v));
	memcpy(nonul + sizeof(v), "{}xx", 4);                               /* no NUL */
	assert_int_equal(call(e, VFU_CMD_VERSION, nonul, sizeof(nonul), NULL, 0), EINVAL);
	assert_int_equal(call(e, VFU_CMD_VERSION, &v, 2, NULL, 0), EINVAL);  /* short */
	assert_false(hal_vfu_connected(e->vfu));
	hello(e);
	assert_int_equal(version(e, NULL), EINVAL);                          /* twice */
}

static void test_commands_before_version_are_refused(void **state)
{
	struct env *e = *state;
	struct vfu_device_info i = { .argsz = sizeof(i) };
	uint8_t buf[4];

	assert_int_equal(call(e, VFU_CMD_DEVICE_GET_INFO, &i, sizeof(i), NULL, 0), EINVAL);
	assert_int_equal(rd(e, VFIO_PCI_CONFIG_REGION_INDEX, 0, buf, 4), EINVAL);
	hello(e);
	assert_int_equal(call(e, VFU_CMD_DEVICE_GET_INFO, &i, sizeof(i), NULL, 0), 0);
}

/* ---- information ------------------------------------------------------------ */

static void test_device_region_and_irq_info(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di = { .argsz = sizeof(di) };
	static const uint64_t sizes[VFIO_PCI_NUM_REGIONS] = {
		[VFIO_PCI_BAR0_REGION_INDEX] = VPCI_BAR0_SIZE,
		[VFIO_PCI_BAR2_REGION_INDEX] = VPCI_BAR2_SIZE,
		[VFIO_PCI_CONFIG_REGION_INDEX] = VPCI_CONFIG_SIZE,
	};

	hello(e);
	assert_int_equal(call(e, VFU_CMD_DEVICE_GET_INFO, &di, sizeof(di), NULL, 0), 0);
	memcpy(&di, e->rp, sizeof(di));
	assert_int_equal(di.flags, VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI);
	assert_int_equal(di.num_regions, VFIO_PCI_NUM_REGIONS);
	assert_int_equal(di.num_irqs, VFIO_PCI_NUM_IRQS);
	for (uint32_t i = 0; i < VFIO_PCI_NUM_REGIONS; i++) {
		struct vfu_region_info ri = { .argsz = sizeof(ri), .index = i };
		assert_int_equal(call(e, VFU_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0), 0);
		memcpy(&ri, e->rp, sizeof(ri));
		assert_int_equal(ri.index, i);
		assert_int_equal(ri.size, sizes[i]);
		assert_int_equal(ri.flags, sizes[i] ? VFIO_REGION_INFO_FLAG_READ |
						      VFIO_REGION_INFO_FLAG_WRITE : 0);
	}
	struct vfu_region_info bad = { .argsz = sizeof(bad), .index = VFIO_PCI_NUM_REGIONS };
	assert_int_equal(call(e, VFU_CMD_DEVICE_GET_REGION_INFO, &bad, sizeof(bad), NULL, 0),
			 EINVAL);
	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		struct vfu_irq_info ii = { .argsz = sizeof(ii), .index = i };
		assert_int_equal(call(e, VFU_CMD_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii), NULL, 0), 0);
		memcpy(&ii, e->rp, sizeof(ii));
		assert_int_equal(ii.count, i == VFIO_PCI_MSIX_IRQ_INDEX ? NVEC : 0);
	}
	struct vfu_device_info small = { .argsz = 8 };
	assert_int_equal(call(e, VFU_CMD_DEVICE_GET_INFO, &small, sizeof(small), NULL, 0), EINVAL);
}

/* ---- region access ------------------------------------------------------------ */

static void test_region_access_reaches_the_pci_function(void **state)
{
	struct env *e = *state;
	uint16_t id[2];
	uint8_t status = VIRTIO_STATUS_ACKNOWLEDGE, got;

	hello(e);
	assert_int_equal(rd(e, VFIO_PCI_CONFIG_REGION_INDEX, 0, id, 4), 0);
	assert_int_equal(id[0], VPCI_VENDOR_VIRTIO);
	assert_int_equal(id[1], VPCI_DEVICE_NET);
	/* device_status is at 20 in the common configuration. */
	assert_int_equal(wr(e, VFIO_PCI_BAR0_REGION_INDEX, VPCI_COMMON_OFF + 20, &status, 1), 0);
	assert_int_equal(rd(e, VFIO_PCI_BAR0_REGION_INDEX, VPCI_COMMON_OFF + 20, &got, 1), 0);
	assert_int_equal(got, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(vdev_get_status(&e->net.vdev), VIRTIO_STATUS_ACKNOWLEDGE);
}

static void test_region_access_refusals(void **state)
{
	struct env *e = *state;
	uint8_t buf[8] = { 0 };
	struct vfu_region_access a = { .region = VFIO_PCI_BAR0_REGION_INDEX, .count = 8 };

	hello(e);
	assert_int_equal(rd(e, VFIO_PCI_BAR0_REGION_INDEX, VPCI_BAR0_SIZE - 4, buf, 8), EINVAL);
	assert_int_equal(rd(e, VFIO_PCI_ROM_REGION_INDEX, 0, buf, 4), EINVAL);
	assert_int_equal(rd(e, 77, 0, buf, 4), EINVAL);
	assert_int_equal(rd(e, VFIO_PCI_CONFIG_REGION_INDEX, UINT64_MAX - 1, buf, 4), EINVAL);
	assert_int_equal(wr(e, VFIO_PCI_CONFIG_REGION_INDEX, 4094, buf, 4), EINVAL);
	assert_int_equal(rd(e, VFIO_PCI_CONFIG_REGION_INDEX, 0, buf, 0), EINVAL);
	/* A read larger than we said we take. */
	a.count = VFU_MAX_XFER + 1;
	assert_int_equal(call(e, VFU_CMD_REGION_READ, &a, sizeof(a), NULL, 0), EINVAL);
	/* A write whose count disagrees with its payload. */
	uint8_t b[sizeof(a) + 4];
	a.count = 8;
	memcpy(b, &a, sizeof(a));
	assert_int_equal(call(e, VFU_CMD_REGION_WRITE, b, sizeof(b), NULL, 0), EINVAL);
	/* Still served afterwards. */
	assert_int_equal(rd(e, VFIO_PCI_CONFIG_REGION_INDEX, 0, buf, 2), 0);
}

static void test_write_multi_is_all_or_nothing(void **state)
{
	struct env *e = *state;
	uint8_t buf[sizeof(struct vfu_write_multi) + 2 * sizeof(struct vfu_write_one)];
	struct vfu_write_multi wm = { .wr_cnt = 2 };
	struct vfu_write_one w[2] = {
		{ .offset = VPCI_COMMON_OFF + 20, .region = VFIO_PCI_BAR0_REGION_INDEX,
		  .count = 1, .data = { VIRTIO_STATUS_ACKNOWLEDGE } },
		{ .offset = VPCI_BAR0_SIZE, .region = VFIO_PCI_BAR0_REGION_INDEX,
		  .count = 1, .data = { 0 } },
	};

	hello(e);
	memcpy(buf, &wm, sizeof(wm));
	memcpy(buf + sizeof(wm), w, sizeof(w));
	assert_int_equal(call(e, VFU_CMD_REGION_WRITE_MULTI, buf, sizeof(buf), NULL, 0), EINVAL);
	assert_int_equal(vdev_get_status(&e->net.vdev), 0);
	w[1] = w[0];
	w[1].data[0] = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	memcpy(buf + sizeof(wm), w, sizeof(w));
	assert_int_equal(call(e, VFU_CMD_REGION_WRITE_MULTI, buf, sizeof(buf), NULL, 0), 0);
	memcpy(&wm, e->rp, sizeof(wm));
	assert_int_equal(wm.wr_cnt, 2);
	assert_int_equal(vdev_get_status(&e->net.vdev),
			 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	/* A count that does not match the payload. */
	wm.wr_cnt = 3;
	memcpy(buf, &wm, sizeof(wm));
	assert_int_equal(call(e, VFU_CMD_REGION_WRITE_MULTI, buf, sizeof(buf), NULL, 0), EINVAL);
}

static void test_no_reply_flag_sends_nothing(void **state)
{
	struct env *e = *state;
	uint8_t b[sizeof(struct vfu_region_access) + 1];
	struct vfu_region_access a = { .offset = VPCI_COMMON_OFF + 20,
				       .region = VFIO_PCI_BAR0_REGION_INDEX, .count = 1 };

	hello(e);
	memcpy(b, &a, sizeof(a));
	b[sizeof(a)] = VIRTIO_STATUS_ACKNOWLEDGE;
	assert_int_equal(call_flags(e, VFU_CMD_REGION_WRITE, VFU_F_NO_REPLY, b, sizeof(b),
				    NULL, 0), 0);
	assert_false(read_reply(e));
	assert_int_equal(vdev_get_status(&e->net.vdev), VIRTIO_STATUS_ACKNOWLEDGE);
	/* Refused, still silent. */
	a.count = 9;
	memcpy(b, &a, sizeof(a));
	assert_int_equal(call_flags(e, VFU_CMD_REGION_WRITE, VFU_F_NO_REPLY, b, sizeof(b),
				    NULL, 0), EINVAL);
	assert_false(read_reply(e));
}

/* ---- DMA ---------------------------------------------------------------------- */

static void test_dma_map_reaches_client_memory(void **state)
{
	struct env *e = *state;
	int fd = memfd(3 << 20, true);
	uint8_t *va = mmap(NULL, 3 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	uint8_t got[4];

	hello(e);
	/* The window is the file's second MiB (an offset that mmap needs
	 * page-aligned is handled). */
	assert_int_equal(dma_map_fd(e, 0x40000000, 1 << 20, 1 << 20, fd), 0);
	memcpy(va + (1 << 20) + 0x100, "abcd", 4);
	assert_int_equal(dma_read(dma_space_table(e->dma), 0x40000100, got, 4), 0);
	assert_memory_equal(got, "abcd", 4);
	assert_int_equal(dma_write(dma_space_table(e->dma), 0x40000200, "wxyz", 4), 0);
	assert_memory_equal(va + (1 << 20) + 0x200, "wxyz", 4);
	assert_int_not_equal(dma_read(dma_space_table(e->dma), 0x40100000, got, 1), 0);
	assert_int_equal(hal_vfu_dma_windows(e->vfu), 1);

	struct vfu_dma_unmap u = { .argsz = sizeof(u), .addr = 0x40000000, .size = 1 << 20 };
	assert_int_equal(call(e, VFU_CMD_DMA_UNMAP, &u, sizeof(u), NULL, 0), 0);
	assert_int_equal(e->rh.size, HDR + sizeof(u));
	assert_memory_equal(e->rp, &u, sizeof(u)); /* the entry, echoed */
	assert_int_not_equal(dma_read(dma_space_table(e->dma), 0x40000100, got, 4), 0);
	assert_int_equal(hal_vfu_dma_windows(e->vfu), 0);
	munmap(va, 3 << 20);
	close(fd);
}

static void test_dma_map_refusals(void **state)
{
	struct env *e = *state;
	int sealed = memfd(1 << 20, true), loose = memfd(1 << 20, false);
	struct vfu_dma_map m = { .argsz = sizeof(m), .flags = VFU_DMA_READ | 4,
				 .addr = 0x1000, .size = 0x1000 };

	hello(e);
	/* Not sealed against shrinking and cannot be sealed: a truncate
	 * would SIGBUS the service. */
	assert_int_equal(dma_map_fd(e, 0, 1 << 20, 0, loose), EPERM);
	/* Beyond the end of the file. */
	assert_int_equal(dma_map_fd(e, 0, 2 << 20, 0, sealed), EINVAL);
	assert_int_equal(dma_map_fd(e, 0, 1 << 20, 4096, sealed), EINVAL);
	/* Wraps, empty. */
	assert_int_equal(dma_map_fd(e, UINT64_MAX - 0xfff, 0x2000, 0, sealed), EINVAL);
	assert_int_equal(dma_map_fd(e, 0, 0, 0, sealed), EINVAL);
	/* Unknown flags; two fds. */
	assert_int_equal(call(e, VFU_CMD_DMA_MAP, &m, sizeof(m), &sealed, 1), EINVAL);
	int two[2] = { sealed, sealed };
	m.flags = VFU_DMA_READ;
	assert_int_equal(call(e, VFU_CMD_DMA_MAP, &m, sizeof(m), two, 2), EINVAL);
	/* Overlap. */
	assert_int_equal(dma_map_fd(e, 0x100000, 1 << 20, 0, sealed), 0);
	assert_int_equal(dma_map_fd(e, 0x1ff000, 0x2000, 0, sealed), EEXIST);
	assert_int_equal(dma_map_fd(e, 0x0ff000, 0x2000, 0, sealed), EEXIST);
	/* Unmap of something never mapped, or of part of a window. */
	struct vfu_dma_unmap u = { .argsz = sizeof(u), .addr = 0x100000, .size = 0x1000 };
	assert_int_equal(call(e, VFU_CMD_DMA_UNMAP, &u, sizeof(u), NULL, 0), ENOENT);
	u.size = 1 << 20;
	u.flags = 1; /* VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP */
	assert_int_equal(call(e, VFU_CMD_DMA_UNMAP, &u, sizeof(u), NULL, 0), ENOTSUP);
	assert_int_equal(hal_vfu_dma_windows(e->vfu), 1);
	close(sealed);
	close(loose);
}

static void test_dma_map_without_fd_is_recorded_not_reachable(void **state)
{
	struct env *e = *state;
	uint8_t b;

	hello(e);
	assert_int_equal(dma_map_fd(e, 0x80000000, 0x10000, 0, -1), 0);
	assert_int_equal(hal_vfu_dma_windows(e->vfu), 1);
	assert_int_not_equal(dma_read(dma_space_table(e->dma), 0x80000000, &b, 1), 0);
	assert_int_equal(dma_map_fd(e, 0x80008000, 0x1000, 0, -1), EEXIST);
}

static void test_dma_window_limit(void **state)
{
	struct env *e = *state;
	unsigned i;

	hello(e);
	for (i = 0; i < VFU_MAX_DMA_MAPS; i++)
		assert_int_equal(dma_map_fd(e, (uint64_t)i << 20, 4096, 0, -1), 0);
	assert_int_equal(dma_map_fd(e, (uint64_t)i << 20, 4096, 0, -1), ENOSPC);
}

/* ---- doorbells and interrupts -------------------------------------------------- */

static void test_io_fds_are_the_queues_doorbells(void **state)
{
	struct env *e = *state;
	struct vfu_io_fds q = { .argsz = 16, .index = VFIO_PCI_BAR0_REGION_INDEX };
	uint16_t nq = e->net.vdev.num_queues;
	uint64_t one = 1, v;

	hello(e);
	/* Too little room: the size needed, no sub-regions, no fds. */
	assert_int_equal(call(e, VFU_CMD_DEVICE_GET_REGION_IO_FDS, &q, sizeof(q), NULL, 0), 0);
	memcpy(&q, e->rp, sizeof(q));
	assert_int_equal(q.count, nq);
	assert_int_equal(q.argsz, sizeof(q) + nq * sizeof(struct vfu_io_fd));
	assert_int_equal(e->rh.size, HDR + sizeof(q));
	assert_int_equal(e->nrfds, 0);

	q.argsz = 4096;
	q.count = 0;
	assert_int_equal(call(e, VFU_CMD_DEVICE_GET_REGION_IO_FDS, &q, sizeof(q), NULL, 0), 0);
	assert_int_equal(e->nrfds, nq);
	for (uint16_t i = 0; i < nq; i++) {
		struct vfu_io_fd s;
		memcpy(&s, e->rp + sizeof(q) + i * sizeof(s), sizeof(s));
		assert_int_equal(s.offset, VPCI_NOTIFY_OFF + i * VPCI_NOTIFY_MULT);
		assert_int_equal(s.type, VFU_IO_FD_TYPE_IOEVENTFD);
		assert_int_equal(s.fd_index, i);
		/* A kick on the client's copy is seen on the device's. */
		assert_int_equal(write(e->rfds[s.fd_index], &one, 8), 8);
		assert_int_equal(read(hal_vfu_kick_fd(e->vfu, i), &v, 8), 8);
		assert_int_equal(v, 1);
	}
	assert_int_equal(hal_vfu_kick_fd(e->vfu, nq), -1);
	/* Other regions have none. */
	q.index = VFIO_PCI_CONFIG_REGION_INDEX;
	assert_int_equal(call(e, VFU_CMD_DEVICE_GET_REGION_IO_FDS, &q, sizeof(q), NULL, 0), 0);
	memcpy(&q, e->rp, sizeof(q));
	assert_int_equal(q.count, 0);
}

/* Enable MSI-X in config space, as QEMU does: it keeps the guest's table
 * to itself and never writes ours (SET_IRQS enables a vector). */
static void msix_enable(struct env *e)
{
	uint8_t ptr;
	uint16_t ctl;

	assert_int_equal(rd(e, VFIO_PCI_CONFIG_REGION_INDEX, 0x34, &ptr, 1), 0);
	for (int guard = 0; ptr && guard < 48; guard++) {
		uint8_t cap[2];
		assert_int_equal(rd(e, VFIO_PCI_CONFIG_REGION_INDEX, ptr, cap, 2), 0);
		if (cap[0] == 0x11) { /* MSI-X */
			assert_int_equal(rd(e, VFIO_PCI_CONFIG_REGION_INDEX, ptr + 2u, &ctl, 2), 0);
			ctl |= 0x8000;
			assert_int_equal(wr(e, VFIO_PCI_CONFIG_REGION_INDEX, ptr + 2u, &ctl, 2), 0);
			return;
		}
		ptr = cap[1];
	}
	fail_msg("no MSI-X capability");
}

static uint64_t count(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, 8) != 8)
		return 0;
	return v;
}

static int set_irqs(struct env *e, uint32_t flags, uint32_t start, uint32_t n,
		    const int *fds, unsigned nfds, const uint8_t *bools)
{
	uint8_t b[sizeof(struct vfu_irq_set) + NVEC];
	struct vfu_irq_set s = { .argsz = sizeof(s), .flags = flags,
				 .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = start, .count = n };
	uint32_t len = sizeof(s);

	memcpy(b, &s, sizeof(s));
	if (bools) {
		memcpy(b + sizeof(s), bools, n);
		len += n;
	}
	return call(e, VFU_CMD_DEVICE_SET_IRQS, b, len, fds, nfds);
}

static void test_set_irqs_eventfds_trigger_and_mask(void **state)
{
	struct env *e = *state;
	int efd[NVEC];

	hello(e);
	msix_enable(e);
	for (unsigned i = 0; i < NVEC; i++)
		efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  0, NVEC, efd, NVEC, NULL), 0);
	/* vpci signals the client's fds (the server holds its own copies). */
	vpci_raise(e->pci, 2);
	assert_int_equal(count(efd[2]), 1);
	assert_int_equal(count(efd[1]), 0);
	/* DATA_NONE | TRIGGER: the client asks for an interrupt. */
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				  1, 1, NULL, 0, NULL), 0);
	assert_int_equal(count(efd[1]), 1);
	/* Masked: pending, then one interrupt on unmask. */
	static const uint8_t only3[2] = { 0, 1 };
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_MASK,
				  2, 2, NULL, 0, only3), 0);
	vpci_raise(e->pci, 3);
	vpci_raise(e->pci, 3);
	vpci_raise(e->pci, 2);
	assert_int_equal(count(efd[3]), 0);
	assert_int_equal(count(efd[2]), 1); /* not masked: BOOL was 0 for it */
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
				  3, 1, NULL, 0, NULL), 0);
	assert_int_equal(count(efd[3]), 1);
	/* De-assign vector 0 (no fds), then disable the index. */
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  0, 1, NULL, 0, NULL), 0);
	vpci_raise(e->pci, 0);
	assert_int_equal(count(efd[0]), 0);
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				  0, 0, NULL, 0, NULL), 0);
	vpci_raise(e->pci, 1);
	assert_int_equal(count(efd[1]), 0);
	for (unsigned i = 0; i < NVEC; i++)
		close(efd[i]);
}

static void test_set_irqs_refusals_close_the_fds(void **state)
{
	struct env *e = *state;
	int efd[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
	int before;

	hello(e);
	before = open_fds();
	/* fds and vectors disagree. */
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  0, 3, efd, 2, NULL), EINVAL);
	/* Beyond the table; start + count overflowing. */
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  NVEC - 1, 2, efd, 2, NULL), EINVAL);
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				  UINT32_MAX, 2, NULL, 0, NULL), EINVAL);
	/* Two data types; no action; mask notification fds. */
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL |
				  VFIO_IRQ_SET_ACTION_MASK, 0, 1, NULL, 0, NULL), EINVAL);
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_NONE, 0, 1, NULL, 0, NULL), EINVAL);
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_MASK,
				  0, 1, efd, 1, NULL), ENOTSUP);
	/* fds with DATA_NONE. */
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				  0, 1, efd, 1, NULL), EINVAL);
	/* BOOL without its data. */
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
				  0, 2, NULL, 0, NULL), EINVAL);
	/* Every fd the server received with a refused message is closed. */
	assert_int_equal(open_fds(), before);
	/* An fd on a command that takes none. */
	struct vfu_device_info di = { .argsz = sizeof(di) };
	assert_int_equal(call(e, VFU_CMD_DEVICE_GET_INFO, &di, sizeof(di), efd, 1), EINVAL);
	assert_int_equal(open_fds(), before);
	close(efd[0]);
	close(efd[1]);
}

/* ---- stream ---------------------------------------------------------------------- */

static void test_message_split_across_reads_is_reassembled(void **state)
{
	struct env *e = *state;
	uint8_t buf[HDR + sizeof(struct vfu_region_access)];
	struct vfu_hdr h = { .msg_id = 77, .cmd = VFU_CMD_REGION_READ, .size = sizeof(buf) };
	struct vfu_region_access a = { .offset = 0, .region = VFIO_PCI_CONFIG_REGION_INDEX,
				       .count = 2 };

	hello(e);
	memcpy(buf, &h, HDR);
	memcpy(buf + HDR, &a, sizeof(a));
	for (size_t i = 0; i < sizeof(buf); i++) {
		send_raw(e, buf + i, 1, NULL, 0);
		int rc = hal_vfu_serve(e->vfu, e->srv);
		assert_int_equal(rc, i + 1 < sizeof(buf) ? -EAGAIN : 0);
	}
	assert_true(read_reply(e));
	assert_int_equal(e->rh.msg_id, 77);
	uint16_t vendor;
	memcpy(&vendor, e->rp + sizeof(a), 2);
	assert_int_equal(vendor, VPCI_VENDOR_VIRTIO);
}

static void test_oversized_message_is_drained_and_refused(void **state)
{
	struct env *e = *state;
	size_t big = 1 << 20;
	uint8_t *buf = calloc(1, big);
	struct vfu_hdr h = { .msg_id = 5, .cmd = VFU_CMD_REGION_WRITE, .size = (uint32_t)big };
	int rc = -EAGAIN;
	size_t sent = 0;

	hello(e);
	memcpy(buf, &h, HDR);
	fcntl(e->cli, F_SETFL, O_NONBLOCK);
	while (sent < big || rc == -EAGAIN) {
		if (sent < big) {
			ssize_t n = send(e->cli, buf + sent, big - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
		}
		rc = hal_vfu_serve(e->vfu, e->srv);
		assert_true(rc == -EAGAIN || rc == EMSGSIZE);
		if (rc == EMSGSIZE)
			break;
	}
	assert_int_equal(sent, big);
	assert_int_equal(rc, EMSGSIZE);
	assert_true(read_reply(e));
	assert_int_equal(e->rh.msg_id, 5);
	assert_true(e->rh.flags & VFU_F_ERROR);
	assert_int_equal(e->rh.error, EMSGSIZE);
	/* In sync: the next message is understood. */
	uint8_t b[2];
	assert_int_equal(rd(e, VFIO_PCI_CONFIG_REGION_INDEX, 0, b, 2), 0);
	free(buf);
}

static void test_size_below_header_breaks_the_stream(void **state)
{
	struct env *e = *state;
	struct vfu_hdr h = { .msg_id = 1, .cmd = VFU_CMD_VERSION, .size = 8 };

	send_raw(e, &h, HDR, NULL, 0);
	assert_int_equal(hal_vfu_serve(e->vfu, e->srv), -EMSGSIZE);
}

static void test_unknown_command_and_client_replies(void **state)
{
	struct env *e = *state;
	struct vfu_hdr h = { .msg_id = 9, .cmd = VFU_CMD_VERSION, .size = HDR,
			     .flags = VFU_F_REPLY };

	hello(e);
	assert_int_equal(call(e, 14, NULL, 0, NULL, 0), ENOSYS);
	assert_int_equal(call(e, 999, NULL, 0, NULL, 0), ENOSYS);
	assert_int_equal(call(e, VFU_CMD_DMA_READ, NULL, 0, NULL, 0), ENOSYS);
	assert_int_equal(call(e, VFU_CMD_DEVICE_FEATURE, NULL, 0, NULL, 0), ENOTSUP);
	/* A reply from the client answers nothing: dropped, not answered. */
	send_raw(e, &h, HDR, NULL, 0);
	assert_int_equal(hal_vfu_serve(e->vfu, e->srv), EINVAL);
	assert_false(read_reply(e));
}

static void test_disconnect_unmaps_and_closes_but_keeps_the_function(void **state)
{
	struct env *e = *state;
	int fd = memfd(1 << 20, true);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint8_t status = VIRTIO_STATUS_ACKNOWLEDGE, b;
	int before;

	before = open_fds();
	hello(e);
	msix_enable(e);
	assert_int_equal(dma_map_fd(e, 0x100000, 1 << 20, 0, fd), 0);
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  1, 1, &efd, 1, NULL), 0);
	assert_int_equal(wr(e, VFIO_PCI_BAR0_REGION_INDEX, VPCI_COMMON_OFF + 20, &status, 1), 0);
	assert_true(open_fds() > before);
	/* The client goes: the socket reads end of file. */
	close(e->cli);
	assert_int_equal(hal_vfu_serve(e->vfu, e->srv), -ECONNRESET);
	hal_vfu_disconnect(e->vfu);
	assert_int_equal(e->disconnects, 1);
	assert_int_equal(hal_vfu_dma_windows(e->vfu), 0);
	assert_int_not_equal(dma_read(dma_space_table(e->dma), 0x100000, &b, 1), 0);
	assert_false(hal_vfu_connected(e->vfu));
	vpci_raise(e->pci, 1);
	assert_int_equal(count(efd), 0);
	/* Only our own fds remain: the memfd mapping and eventfd copies
	 * the server held are gone. */
	assert_int_equal(open_fds(), before - 1 /* e->cli */);
	assert_int_equal(vdev_get_status(&e->net.vdev), VIRTIO_STATUS_ACKNOWLEDGE);
	/* A new client starts with VERSION again. */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	close(e->srv);
	e->cli = sv[0];
	e->srv = sv[1];
	fcntl(e->srv, F_SETFL, O_NONBLOCK);
	assert_int_equal(rd(e, VFIO_PCI_CONFIG_REGION_INDEX, 0, &b, 1), EINVAL);
	hello(e);
	close(fd);
	close(efd);
}

static void test_device_reset_resets_the_function(void **state)
{
	struct env *e = *state;
	uint8_t status = VIRTIO_STATUS_ACKNOWLEDGE, got = 0xff;

	hello(e);
	assert_int_equal(wr(e, VFIO_PCI_BAR0_REGION_INDEX, VPCI_COMMON_OFF + 20, &status, 1), 0);
	assert_int_equal(call(e, VFU_CMD_DEVICE_RESET, NULL, 0, NULL, 0), 0);
	assert_int_equal(rd(e, VFIO_PCI_BAR0_REGION_INDEX, VPCI_COMMON_OFF + 20, &got, 1), 0);
	assert_int_equal(got, 0);
	assert_int_equal(call(e, VFU_CMD_DEVICE_RESET, &got, 1, NULL, 0), EINVAL);
}

static void test_table_mask_written_by_the_host_still_holds_interrupts(void **state)
{
	struct env *e = *state;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint32_t masked = 1, unmasked = 0;

	hello(e);
	msix_enable(e);
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  2, 1, &efd, 1, NULL), 0);
	/* A driver that programs the table itself (ours) masks a vector. */
	assert_int_equal(wr(e, VFIO_PCI_BAR2_REGION_INDEX, 2 * 16 + 12, &masked, 4), 0);
	vpci_raise(e->pci, 2);
	assert_int_equal(count(efd), 0);
	assert_int_equal(wr(e, VFIO_PCI_BAR2_REGION_INDEX, 2 * 16 + 12, &unmasked, 4), 0);
	assert_int_equal(count(efd), 1);
	close(efd);
}

static void test_irq_fd_must_be_an_eventfd(void **state)
{
	struct env *e = *state;
	int p[2], efd = eventfd(0, EFD_CLOEXEC);

	hello(e);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	/* A pipe would block whoever signals it. */
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  0, 1, &p[1], 1, NULL), EINVAL);
	/* A blocking eventfd is accepted and made non-blocking: a client
	 * that fills its counter cannot stall the service. */
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  0, 1, &efd, 1, NULL), 0);
	assert_true(fcntl(efd, F_GETFL) & O_NONBLOCK);
	uint64_t full = UINT64_MAX - 1;
	assert_int_equal(write(efd, &full, 8), 8);
	msix_enable(e);
	vpci_raise(e->pci, 0); /* returns: the write fails with EAGAIN */
	close(p[0]);
	close(p[1]);
	close(efd);
}

static void test_mask_does_not_outlive_the_client(void **state)
{
	struct env *e = *state;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int sv[2];

	hello(e);
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK,
				  0, 1, NULL, 0, NULL), 0);
	hal_vfu_disconnect(e->vfu);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	close(e->cli);
	close(e->srv);
	e->cli = sv[0];
	e->srv = sv[1];
	fcntl(e->srv, F_SETFL, O_NONBLOCK);
	hello(e);
	msix_enable(e);
	assert_int_equal(set_irqs(e, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  0, 1, &efd, 1, NULL), 0);
	vpci_raise(e->pci, 0);
	assert_int_equal(count(efd), 1);
	close(efd);
}

static void test_pipelined_requests_get_every_reply_in_order(void **state)
{
	struct env *e = *state;
	enum { N = 64, LEN = 4096 };
	uint8_t buf[HDR + sizeof(struct vfu_region_access)];
	unsigned sent = 0, got = 0;
	int guard = 0;

	hello(e);
	/* 64 reads of 4 KiB sent at once: 256 KiB of replies, more than the
	 * socket holds while the client is not reading. */
	for (unsigned i = 0; i < N; i++) {
		struct vfu_hdr h = { .msg_id = (uint16_t)(1000 + i), .cmd = VFU_CMD_REGION_READ,
				     .size = sizeof(buf) };
		struct vfu_region_access a = { .offset = 0, .region = VFIO_PCI_BAR0_REGION_INDEX,
					       .count = LEN };
		memcpy(buf, &h, HDR);
		memcpy(buf + HDR, &a, sizeof(a));
		send_raw(e, buf, sizeof(buf), NULL, 0);
		sent++;
	}
	while (got < N && guard++ < 100000) {
		int rc = hal_vfu_serve(e->vfu, e->srv);
		assert_true(rc == 0 || rc == -EAGAIN);
		if (rc == -EAGAIN) {
			/* The server waits for us: read one reply. */
			assert_true(hal_vfu_tx_pending(e->vfu) || got + 0 < sent);
			fcntl(e->cli, F_SETFL, 0);
			if (read_reply(e)) {
				assert_int_equal(e->rh.msg_id, 1000 + got);
				assert_int_equal(e->rh.size, HDR + sizeof(struct vfu_region_access) + LEN);
				got++;
			}
		}
	}
	assert_int_equal(got, N);
	assert_false(hal_vfu_tx_pending(e->vfu));
}

static void test_dma_unmap_all_releases_every_window(void **state)
{
	struct env *e = *state;
	struct vfu_dma_unmap u = { .argsz = sizeof(u), .flags = VFU_DMA_UNMAP_ALL };

	hello(e);
	assert_int_equal(dma_map_fd(e, 0x100000, 0x1000, 0, -1), 0);
	assert_int_equal(dma_map_fd(e, 0x200000, 0x1000, 0, -1), 0);
	u.size = 1;
	assert_int_equal(call(e, VFU_CMD_DMA_UNMAP, &u, sizeof(u), NULL, 0), EINVAL);
	u.size = 0;
	assert_int_equal(call(e, VFU_CMD_DMA_UNMAP, &u, sizeof(u), NULL, 0), 0);
	assert_int_equal(hal_vfu_dma_windows(e->vfu), 0);
}

static void test_unsealable_regular_file_is_refused(void **state)
{
	struct env *e = *state;
	char path[] = "vfu-test-XXXXXX";
	int fd = mkstemp(path);

	hello(e);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	/* A file on a disk file system has no seals: the client could
	 * truncate it under our mapping and SIGBUS the service. */
	assert_int_equal(dma_map_fd(e, 0, 1 << 20, 0, fd), EPERM);
	close(fd);
}

static void test_notify_area_offered_as_sparse_mmap_when_asked(void **state)
{
	struct env *e = *state;
	struct hal_vfu_params vp;
	struct vfu_region_info ri = { .argsz = sizeof(ri), .index = VFIO_PCI_BAR0_REGION_INDEX };
	struct vfio_region_info_cap_sparse_mmap cap;
	struct vfio_region_sparse_mmap_area area;

	/* Without notify_mmap (the default): a plain region, no fd. */
	hello(e);
	assert_int_equal(call(e, VFU_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0), 0);
	memcpy(&ri, e->rp, sizeof(ri));
	assert_false(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_int_equal(e->nrfds, 0);

	hal_vfu_destroy(e->vfu);
	hal_vfu_params_default(&vp);
	vp.name = "t0";
	vp.dma = e->dma;
	vp.notify_mmap = true;
	e->vfu = hal_vfu_create(&vp, e->pci, &vfu_ops, e);
	assert_non_null(e->vfu);
	hello(e);
	/* Room for the info only: argsz says what the whole answer needs. */
	ri = (struct vfu_region_info){ .argsz = sizeof(ri), .index = VFIO_PCI_BAR0_REGION_INDEX };
	assert_int_equal(call(e, VFU_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0), 0);
	memcpy(&ri, e->rp, sizeof(ri));
	assert_int_equal(ri.argsz, sizeof(ri) + sizeof(cap) + sizeof(area));
	assert_int_equal(e->rh.size, HDR + sizeof(ri));
	assert_int_equal(e->nrfds, 0);
	/* With room: the capability and the fd. */
	ri.argsz = 256;
	assert_int_equal(call(e, VFU_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0), 0);
	memcpy(&ri, e->rp, sizeof(ri));
	assert_true(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_true(ri.flags & VFIO_REGION_INFO_FLAG_CAPS);
	assert_int_equal(ri.size, VPCI_BAR0_SIZE);
	memcpy(&cap, e->rp + ri.cap_offset, sizeof(cap));
	memcpy(&area, e->rp + ri.cap_offset + sizeof(cap), sizeof(area));
	assert_int_equal(cap.header.id, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	assert_int_equal(cap.header.next, 0);
	assert_int_equal(cap.nr_areas, 1);
	assert_int_equal(area.offset, VPCI_NOTIFY_OFF);
	assert_int_equal(area.size, 0x1000);
	assert_int_equal(e->nrfds, 1);
	/* The client maps the notify page and writes a doorbell there. */
	uint16_t *db = mmap(NULL, area.size, PROT_READ | PROT_WRITE, MAP_SHARED, e->rfds[0],
			    (off_t)(ri.offset + area.offset));
	assert_true(db != MAP_FAILED);
	db[2] = 2;
	munmap(db, area.size);
	/* It cannot shrink the file under the server. */
	assert_int_not_equal(ftruncate(e->rfds[0], 0), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_version_answers_a_subset_of_the_clients_capabilities),
		T(test_version_without_capabilities_uses_the_defaults),
		T(test_version_refusals),
		T(test_commands_before_version_are_refused),
		T(test_device_region_and_irq_info),
		T(test_region_access_reaches_the_pci_function),
		T(test_region_access_refusals),
		T(test_write_multi_is_all_or_nothing),
		T(test_no_reply_flag_sends_nothing),
		T(test_dma_map_reaches_client_memory),
		T(test_dma_map_refusals),
		T(test_dma_map_without_fd_is_recorded_not_reachable),
		T(test_dma_window_limit),
		T(test_io_fds_are_the_queues_doorbells),
		T(test_set_irqs_eventfds_trigger_and_mask),
		T(test_set_irqs_refusals_close_the_fds),
		T(test_message_split_across_reads_is_reassembled),
		T(test_oversized_message_is_drained_and_refused),
		T(test_size_below_header_breaks_the_stream),
		T(test_unknown_command_and_client_replies),
		T(test_disconnect_unmaps_and_closes_but_keeps_the_function),
		T(test_device_reset_resets_the_function),
		T(test_table_mask_written_by_the_host_still_holds_interrupts),
		T(test_irq_fd_must_be_an_eventfd),
		T(test_mask_does_not_outlive_the_client),
		T(test_pipelined_requests_get_every_reply_in_order),
		T(test_dma_unmap_all_releases_every_window),
		T(test_unsealable_regular_file_is_refused),
		T(test_notify_area_offered_as_sparse_mmap_when_asked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
