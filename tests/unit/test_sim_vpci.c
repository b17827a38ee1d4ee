/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sim_vpci, the simulated host's PCI core and virtio-pci driver, end to
 * end against the real vfio-user server (hal_vfu) of a virtio-net
 * function (vnet_dev behind vpci): enumeration, BAR sizes, MSI-X, the
 * initialization sequence up to DRIVER_OK, device configuration, both
 * kinds of doorbell, the configuration interrupt, DEVICE_NEEDS_RESET,
 * reset and teardown. The server runs in a thread that polls its socket
 * and calls hal_vfu_serve; the device, vpci and server are touched only
 * by that thread while it runs, and the test inspects them after joining
 * it (server_stop), then lets it run again.
 *
 * Hostile devices are a scripted responder instead: a thread answering
 * REGION_READ/WRITE from a config-space byte array — the real function's,
 * with a capability list made to loop, to point outside config space, a
 * structure moved outside its BAR, and so on — or from a real function
 * that refuses some MSI-X vectors.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/pci_regs.h>

#include "dma.h"
#include "hal_log.h"
#include "hal_vfio_user.h"
#include "sim_hostmem.h"
#include "sim_vfu.h"
#include "sim_vpci.h"
#include "sim_vq.h"
#include "virtio_dev.h"
#include "virtio_net.h"
#include "virtio_pci.h"

#define TMO       2000 /* ms: client requests; nothing here waits one out */
#define MEM_IOVA  0x100000ull
#define MEM_LEN   (2ull << 20)
#define QSIZE     64
#define MAXQ      32
#define NVEC      8
#define RW        (VFU_DMA_READ | VFU_DMA_WRITE)
#define F(b)      (1ull << (b))
#define S_ALL     (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | \
		   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

static const uint8_t MAC[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };

/* What the driver asks for: GUEST_CSUM and NOTIFICATION_DATA are not
 * accepted (the first is not offered, the second the driver refuses). */
#define WANT (F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX) | \
	      F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MQ) | \
	      F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_GUEST_CSUM) | \
	      F(VIRTIO_F_NOTIFICATION_DATA))
#define GOT  (WANT & ~(F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_F_NOTIFICATION_DATA)))

static void quiet(enum hal_log_level l, const char *line)
{
	(void)l;
	(void)line;
}

static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* ---- the real function, served from a thread -------------------------------- */

struct opts {
	uint16_t pairs;
	uint16_t num_vectors;
	uint16_t total_vfs;
};

struct env {
	struct opts o;
	struct sim_hostmem mem;
	struct dma_space *dma;
	struct vnet_dev net;
	struct vpci *pci;
	struct hal_vfu_dev *vfu;
	int srv;
	int cmd[2];          /* test thread -> server thread */
	pthread_t th;
	bool running;
	int srv_rc;
	/* vpci ops->notify, on the server thread */
	unsigned notifies;
	uint16_t notify_q;
	uint32_t notify_val;
	/* the host */
	struct sim_vfu *c;
	struct sim_vpci *d;
	struct sim_vq vq[MAXQ];
};

static void *server_main(void *arg)
{
	struct env *e = arg;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = e->srv, .events = POLLIN },
			{ .fd = e->cmd[0], .events = POLLIN },
		};
		char c;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			e->srv_rc = -errno;
			break;
		}
		if (p[1].revents) {
			if (read(e->cmd[0], &c, 1) != 1 || c == 'q')
				break;
			if (c == 'c')
				vpci_config_irq(e->pci);
			else if (c == 'r')
				vdev_needs_reset(&e->net.vdev);
			continue;
		}
		if (p[0].revents) {
			int rc = hal_vfu_serve(e->vfu, e->srv);

			if (rc < 0 && rc != -EAGAIN) {
				e->srv_rc = rc;
				hal_vfu_disconnect(e->vfu);
				break;
			}
		}
	}
	return NULL;
}

static void server_start(struct env *e)
{
	assert_false(e->running);
	assert_int_equal(pthread_create(&e->th, NULL, server_main, e), 0);
	e->running = true;
}

static void server_cmd(struct env *e, char c)
{
	assert_int_equal(write(e->cmd[1], &c, 1), 1);
}

/* Between two requests of the (synchronous) client nothing is in flight:
 * the server can stop there and the device be looked at. */
static void server_stop(struct env *e)
{
	if (!e->running)
		return;
	server_cmd(e, 'q');
	pthread_join(e->th, NULL);
	e->running = false;
}

static void h_config_irq(struct vnet_dev *n)
{
	struct env *e = n->hooks_ctx;

	vpci_config_irq(e->pci);
}

static const struct vnet_hooks hooks = { .config_irq = h_config_irq };

static void on_notify(struct vpci *p, uint16_t q, uint32_t v)
{
	struct env *e = vpci_priv(p);

	e->notifies++;
	e->notify_q = q;
	e->notify_val = v;
}

static const struct vpci_ops pci_ops = { .notify = on_notify };

static int env_setup(void **state, const struct opts *o)
{
	struct env *e = calloc(1, sizeof(*e));
	struct vpci_params pp = {
		.device_id = VPCI_DEVICE_NET, .subsys_vendor_id = VPCI_VENDOR_VIRTIO,
		.subsys_id = 0x40, .num_vectors = o->num_vectors,
		.total_vfs = o->total_vfs, .vf_offset = 2, .vf_stride = 1,
		.vf_device_id = VPCI_DEVICE_NET,
	};
	struct vnet_params np;
	struct hal_vfu_params vp;
	int sv[2];

	hal_log_set_sink(quiet);
	assert_non_null(e);
	e->o = *o;
	sim_hostmem_init(&e->mem);
	assert_int_equal(sim_hostmem_add(&e->mem, MEM_IOVA, MEM_LEN), 0);
	e->dma = dma_space_create(NULL);
	assert_non_null(e->dma);
	vnet_params_default(&np);
	np.features |= VNET_F(VIRTIO_NET_F_MQ) | F(VIRTIO_F_NOTIFICATION_DATA);
	np.max_queue_pairs = o->pairs;
	memcpy(np.mac, MAC, 6);
	assert_int_equal(vnet_init(&e->net, &np, e->dma, "t0"), 0);
	vnet_set_hooks(&e->net, &hooks, e);
	e->pci = vpci_create(&e->net.vdev, &pp, &pci_ops, e);
	assert_non_null(e->pci);
	hal_vfu_params_default(&vp);
	vp.name = "t0";
	vp.dma = e->dma;
	e->vfu = hal_vfu_create(&vp, e->pci, NULL, NULL);
	assert_non_null(e->vfu);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	e->srv = sv[1];
	assert_int_equal(fcntl(e->srv, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(pipe2(e->cmd, O_CLOEXEC), 0);
	server_start(e);
	assert_int_equal(sim_vfu_attach(sv[0], TMO, &e->c), 0);
	assert_int_equal(sim_vfu_map_hostmem(e->c, &e->mem, RW), 0);
	*state = e;
	return 0;
}

static int setup(void **state)
{
	const struct opts o = { .pairs = 2, .num_vectors = NVEC };

	return env_setup(state, &o);
}

static int setup_sriov(void **state)
{
	const struct opts o = { .pairs = 2, .num_vectors = NVEC, .total_vfs = 4 };

	return env_setup(state, &o);
}

/* More queues (9 pairs + control) than fds the server passes in one
 * answer (16), and a table too small for a vector per queue. */
static int setup_many_queues(void **state)
{
	const struct opts o = { .pairs = 9, .num_vectors = 4 };

	return env_setup(state, &o);
}

static int setup_one_vector(void **state)
{
	const struct opts o = { .pairs = 1, .num_vectors = 1 };

	return env_setup(state, &o);
}

static int teardown(void **state)
{
	struct env *e = *state;

	if (!e->running)
		server_start(e);
	sim_vpci_close(e->d);
	sim_vfu_close(e->c);
	server_stop(e); /* it stops on its own when the client goes */
	for (unsigned i = 0; i < MAXQ; i++)
		sim_vq_fini(&e->vq[i]);
	hal_vfu_destroy(e->vfu);
	vpci_destroy(e->pci);
	vnet_fini(&e->net);
	dma_space_destroy(e->dma);
	sim_hostmem_free(&e->mem);
	close(e->srv);
	close(e->cmd[0]);
	close(e->cmd[1]);
	free(e);
	hal_log_set_sink(NULL);
	return 0;
}

static void drv_open(struct env *e)
{
	if (!e->d)
		assert_int_equal(sim_vpci_open(e->c, &e->d), 0);
}

/* What a driver does from probe to DRIVER_OK, every queue with rings of
 * QSIZE in host memory. Returns the negotiated features. */
static uint64_t drv_up(struct env *e)
{
	struct sim_vq *vqs[MAXQ];
	uint16_t nq, max;
	uint64_t f;

	drv_open(e);
	assert_int_equal(sim_vpci_negotiate(e->d, WANT, &f), 0);
	nq = sim_vpci_info(e->d)->num_queues;
	assert_true(nq <= MAXQ);
	/* The driver owns host memory again: lay the rings out afresh. */
	e->mem.cur = 0;
	e->mem.cursor = 0;
	for (uint16_t i = 0; i < nq; i++) {
		sim_vq_fini(&e->vq[i]);
		assert_int_equal(sim_vpci_queue_max(e->d, i, &max), 0);
		assert_int_equal(max, 256);
		assert_int_equal(sim_vq_init(&e->vq[i], &e->mem, QSIZE,
					     sim_vpci_ring_flags(f), 0), 0);
		vqs[i] = &e->vq[i];
	}
	assert_int_equal(sim_vpci_setup_queues(e->d, nq, vqs), 0);
	assert_int_equal(sim_vpci_driver_ok(e->d), 0);
	return f;
}

static uint16_t cfg16(struct env *e, uint32_t off)
{
	uint8_t b[2];

	assert_int_equal(vpci_access(e->pci, VPCI_REGION_CONFIG, off, b, 2, false), 0);
	return (uint16_t)(b[0] | b[1] << 8);
}

static uint32_t bar2_32(struct env *e, uint32_t off)
{
	uint8_t b[4];

	assert_int_equal(vpci_access(e->pci, VPCI_REGION_BAR2, off, b, 4, false), 0);
	return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

/* ---- enumeration --------------------------------------------------------------- */

static void test_enumeration_finds_the_layout(void **state)
{
	struct env *e = *state;
	const struct sim_vpci_info *in;

	drv_open(e);
	in = sim_vpci_info(e->d);
	assert_int_equal(in->vendor_id, VPCI_VENDOR_VIRTIO);
	assert_int_equal(in->device_id, VPCI_DEVICE_NET);
	assert_int_equal(in->virtio_id, 1);
	assert_int_equal(in->revision, 1);
	assert_int_equal(in->class_code, 0x020000);
	assert_int_equal(in->header_type, 0);
	assert_int_equal(in->subsys_vendor_id, VPCI_VENDOR_VIRTIO);
	assert_int_equal(in->subsys_id, 0x40);
	/* The sizing probe: BAR0 and BAR2, 32-bit memory, nothing else. */
	for (unsigned i = 0; i < 6; i++) {
		uint64_t want = i == 0 ? VPCI_BAR0_SIZE : i == 2 ? VPCI_BAR2_SIZE : 0;

		assert_int_equal(in->bar[i].size, want);
		assert_false(in->bar[i].io);
		assert_false(in->bar[i].mem64);
	}
	/* The virtio structures, all in BAR0. */
	assert_int_not_equal(in->common.cap, 0);
	assert_int_equal(in->common.bar, 0);
	assert_int_equal(in->common.offset, VPCI_COMMON_OFF);
	assert_true(in->common.length >= 0x38);
	assert_int_equal(in->notify.bar, 0);
	assert_int_equal(in->notify.offset, VPCI_NOTIFY_OFF);
	assert_int_equal(in->notify.length, 5 * VPCI_NOTIFY_MULT);
	assert_int_equal(in->notify_mult, VPCI_NOTIFY_MULT);
	assert_int_equal(in->isr.offset, VPCI_ISR_OFF);
	assert_int_equal(in->isr.length, 1);
	assert_int_equal(in->device.offset, VPCI_DEVICE_OFF);
	assert_int_equal(in->device.length, VPCI_DEVICE_MAX);
	assert_int_not_equal(in->pci_cfg.cap, 0);
	/* MSI-X in BAR2, PCI Express, ARI; no SR-IOV without VFs. */
	assert_int_not_equal(in->msix_cap, 0);
	assert_int_equal(in->msix_size, NVEC);
	assert_int_equal(in->irq_count, NVEC);
	assert_int_equal(in->msix_table_bar, 2);
	assert_int_equal(in->msix_table_off, 0);
	assert_int_equal(in->msix_pba_bar, 2);
	assert_int_equal(in->msix_pba_off, VPCI_PBA_OFF);
	assert_int_not_equal(in->pcie_cap, 0);
	assert_int_not_equal(in->ari_cap, 0);
	assert_int_equal(in->sriov_cap, 0);
	assert_int_equal(in->num_queues, 5); /* 2 pairs + control */

	server_stop(e);
	/* Memory space and bus mastering on; the BARs hold what they held. */
	assert_int_equal(cfg16(e, PCI_COMMAND) & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER),
			 PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	assert_int_equal(cfg16(e, PCI_BASE_ADDRESS_0), 0);
	assert_int_equal(cfg16(e, PCI_BASE_ADDRESS_2), 0);
	/* Nothing else was touched: the device is still in reset. */
	assert_int_equal(vdev_get_status(&e->net.vdev), 0);
	assert_int_equal(cfg16(e, in->msix_cap + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_ENABLE, 0);
}

static void test_enumeration_of_a_pf_with_vfs(void **state)
{
	struct env *e = *state;
	const struct sim_vpci_info *in;

	drv_open(e);
	in = sim_vpci_info(e->d);
	assert_int_equal(in->sriov_cap, 0x100);
	assert_int_equal(in->total_vfs, 4);
	assert_int_equal(in->initial_vfs, 4);
	assert_int_equal(in->vf_offset, 2);
	assert_int_equal(in->vf_stride, 1);
	assert_int_equal(in->vf_device_id, VPCI_DEVICE_NET);
	assert_true(in->ari_cap > in->sriov_cap);
}

/* ---- initialization ----------------------------------------------------------- */

static void test_init_reaches_driver_ok(void **state)
{
	struct env *e = *state;
	struct vdev *v = &e->net.vdev;
	const struct sim_vpci_info *in;
	uint64_t f = drv_up(e);
	uint8_t st;

	in = sim_vpci_info(e->d);
	assert_int_equal(f, GOT);
	assert_int_equal(sim_vpci_features(e->d), GOT);
	assert_int_equal(sim_vpci_get_status(e->d, &st), 0);
	assert_int_equal(st, S_ALL);
	/* A vector per queue after the configuration's, each its own fd. */
	assert_int_not_equal(sim_vpci_config_fd(e->d), -1);
	for (uint16_t i = 0; i < 5; i++) {
		assert_int_equal(sim_vpci_queue_vector(e->d, i), i + 1);
		assert_true(sim_vpci_queue_fd(e->d, i) >= 0);
		assert_int_not_equal(sim_vpci_queue_fd(e->d, i), sim_vpci_config_fd(e->d));
		if (i)
			assert_int_not_equal(sim_vpci_queue_fd(e->d, i),
					     sim_vpci_queue_fd(e->d, i - 1));
	}

	server_stop(e);
	assert_int_equal(vdev_features(v), GOT);
	assert_int_equal(vdev_get_status(v), S_ALL);
	assert_int_equal(v->msix_config, 0);
	for (uint16_t i = 0; i < 5; i++) {
		const struct vdev_queue *q = &v->q[i];

		assert_true(q->enabled);
		assert_int_equal(q->size, QSIZE);
		assert_int_equal(q->desc, e->vq[i].desc_iova);
		assert_int_equal(q->driver, e->vq[i].avail_iova);
		assert_int_equal(q->device, e->vq[i].used_iova);
		assert_int_equal(q->vector, i + 1);
	}
	/* MSI-X on, the function unmasked, the vectors in use programmed
	 * and unmasked, the others still masked. */
	assert_int_equal(cfg16(e, in->msix_cap + PCI_MSIX_FLAGS) &
			 (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL),
			 PCI_MSIX_FLAGS_ENABLE);
	for (uint32_t i = 0; i < NVEC; i++) {
		uint32_t ent = i * PCI_MSIX_ENTRY_SIZE;

		assert_int_equal(bar2_32(e, ent + PCI_MSIX_ENTRY_VECTOR_CTRL), i > 5);
		if (i <= 5) {
			assert_int_equal(bar2_32(e, ent + PCI_MSIX_ENTRY_DATA), i);
			assert_int_not_equal(bar2_32(e, ent + PCI_MSIX_ENTRY_LOWER_ADDR), 0);
		}
	}
	assert_true(cfg16(e, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
}

static void test_out_of_sequence_calls_are_refused(void **state)
{
	struct env *e = *state;
	struct sim_vq *vqs[1] = { &e->vq[0] };
	uint64_t f;

	drv_open(e);
	/* No queues before FEATURES_OK, no DRIVER_OK before that either. */
	assert_int_equal(sim_vpci_setup_queues(e->d, 1, vqs), -EINVAL);
	assert_int_equal(sim_vpci_driver_ok(e->d), -EINVAL);
	assert_int_equal(sim_vpci_kick(e->d, 0), -EINVAL);
	assert_int_equal(sim_vpci_negotiate(e->d, WANT, &f), 0);
	assert_int_equal(sim_vq_init(&e->vq[0], &e->mem, QSIZE, sim_vpci_ring_flags(f), 0), 0);
	/* More queues than the device has, a ring larger than it takes. */
	assert_int_equal(sim_vpci_setup_queues(e->d, 6, vqs), -EINVAL);
	sim_vq_fini(&e->vq[0]);
	assert_int_equal(sim_vq_init(&e->vq[0], &e->mem, 512, sim_vpci_ring_flags(f), 0), 0);
	assert_int_equal(sim_vpci_setup_queues(e->d, 1, vqs), -EINVAL);
	/* That set FAILED (3.1.1): nothing more until a reset starts again. */
	assert_int_equal(sim_vpci_driver_ok(e->d), -EINVAL);
	server_stop(e);
	assert_true(vdev_get_status(&e->net.vdev) & VIRTIO_STATUS_FAILED);
	server_start(e);
	drv_up(e);
}

/* ---- device configuration ----------------------------------------------------- */

static void test_device_config_reads(void **state)
{
	struct env *e = *state;
	uint8_t mac[6], b[2];

	drv_up(e);
	assert_int_equal(sim_vpci_config_read(e->d, VNET_CFG_MAC, mac, 6), 0);
	assert_memory_equal(mac, MAC, 6);
	assert_int_equal(sim_vpci_config_read(e->d, VNET_CFG_STATUS, b, 2), 0);
	assert_int_equal(b[0] | b[1] << 8, VIRTIO_NET_S_LINK_UP);
	assert_int_equal(sim_vpci_config_read(e->d, VNET_CFG_MAX_VQ_PAIRS, b, 2), 0);
	assert_int_equal(b[0] | b[1] << 8, 2);
	assert_int_equal(sim_vpci_config_read(e->d, VNET_CFG_MTU, b, 2), 0);
	assert_int_equal(b[0] | b[1] << 8, 1500);
	/* Outside the device structure. */
	assert_int_equal(sim_vpci_config_read(e->d, VPCI_DEVICE_MAX - 1, b, 2), -EINVAL);
	assert_int_equal(sim_vpci_config_read(e->d, UINT32_MAX, b, 2), -EINVAL);
}

/* ---- doorbells --------------------------------------------------------------------- */

static void test_kick_through_an_ioeventfd(void **state)
{
	struct env *e = *state;
	eventfd_t n;

	drv_up(e);
	for (uint16_t i = 0; i < 5; i++)
		assert_true(sim_vpci_kick_fd(e->d, i) >= 0);
	assert_int_equal(sim_vpci_kick(e->d, 0), 0);
	assert_int_equal(sim_vpci_kick(e->d, 3), 0);
	assert_int_equal(sim_vpci_kick(e->d, 3), 0);
	assert_int_equal(sim_vpci_kick(e->d, 5), -EINVAL);

	server_stop(e);
	assert_true(readable(hal_vfu_kick_fd(e->vfu, 0), 0));
	assert_int_equal(eventfd_read(hal_vfu_kick_fd(e->vfu, 0), &n), 0);
	assert_int_equal(n, 1);
	assert_false(readable(hal_vfu_kick_fd(e->vfu, 1), 0));
	assert_int_equal(eventfd_read(hal_vfu_kick_fd(e->vfu, 3), &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(e->notifies, 0); /* no REGION_WRITE */
}

static void test_kick_through_region_write(void **state)
{
	struct env *e = *state;
	const struct sim_vpci_info *in;

	drv_up(e);
	in = sim_vpci_info(e->d);
	assert_int_equal(in->num_queues, 19);
	/* The server passed fds for the first 16 queues only. */
	assert_true(sim_vpci_kick_fd(e->d, 15) >= 0);
	for (uint16_t i = 16; i < 19; i++)
		assert_int_equal(sim_vpci_kick_fd(e->d, i), -1);
	assert_int_equal(sim_vpci_kick(e->d, 18), 0);

	server_stop(e);
	assert_int_equal(e->notifies, 1);
	assert_int_equal(e->notify_q, 18);
	assert_int_equal(e->notify_val, 18);
	assert_false(readable(hal_vfu_kick_fd(e->vfu, 18), 0));
}

/* ---- MSI-X layouts ----------------------------------------------------------------- */

static void test_small_table_shares_one_queue_vector(void **state)
{
	struct env *e = *state;

	drv_up(e);
	/* 4 vectors for 19 queues: configuration on 0, the queues on 1. */
	for (uint16_t i = 0; i < 19; i++) {
		assert_int_equal(sim_vpci_queue_vector(e->d, i), 1);
		assert_int_equal(sim_vpci_queue_fd(e->d, i), sim_vpci_queue_fd(e->d, 0));
	}
	assert_int_not_equal(sim_vpci_queue_fd(e->d, 0), sim_vpci_config_fd(e->d));

	server_stop(e);
	assert_int_equal(e->net.vdev.msix_config, 0);
	for (uint16_t i = 0; i < 19; i++)
		assert_int_equal(e->net.vdev.q[i].vector, 1);
	/* The unused vectors stay masked. */
	assert_int_equal(bar2_32(e, 2 * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL), 1);
}

static void test_one_vector_carries_everything(void **state)
{
	struct env *e = *state;

	drv_up(e);
	for (uint16_t i = 0; i < 3; i++) {
		assert_int_equal(sim_vpci_queue_vector(e->d, i), 0);
		assert_int_equal(sim_vpci_queue_fd(e->d, i), sim_vpci_config_fd(e->d));
	}
	server_stop(e);
	for (uint16_t i = 0; i < 3; i++)
		assert_int_equal(e->net.vdev.q[i].vector, 0);
	assert_int_equal(vdev_get_status(&e->net.vdev), S_ALL);
}

/* ---- interrupts, reset ----------------------------------------------------------- */

static void test_config_interrupt_arrives_on_the_config_eventfd(void **state)
{
	struct env *e = *state;
	bool needs_reset = true;

	drv_up(e);
	assert_false(readable(sim_vpci_config_fd(e->d), 0));
	server_cmd(e, 'c');
	assert_true(readable(sim_vpci_config_fd(e->d), TMO));
	for (uint16_t i = 0; i < 5; i++)
		assert_false(readable(sim_vpci_queue_fd(e->d, i), 0));
	assert_int_equal(sim_vpci_config_event(e->d, &needs_reset), 0);
	assert_false(needs_reset);
	assert_false(readable(sim_vpci_config_fd(e->d), 0)); /* drained */
}

static void test_needs_reset_is_seen_and_the_device_set_up_again(void **state)
{
	struct env *e = *state;
	bool needs_reset = false;
	uint8_t st;

	drv_up(e);
	server_cmd(e, 'r'); /* a queue broke: vdev_needs_reset */
	assert_true(readable(sim_vpci_config_fd(e->d), TMO));
	assert_int_equal(sim_vpci_config_event(e->d, &needs_reset), 0);
	assert_true(needs_reset);
	assert_int_equal(sim_vpci_get_status(e->d, &st), 0);
	assert_true(st & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal(sim_vpci_reset(e->d), 0);
	assert_int_equal(sim_vpci_get_status(e->d, &st), 0);
	assert_int_equal(st, 0);
	drv_up(e);
	assert_int_equal(sim_vpci_config_event(e->d, &needs_reset), 0);
	assert_false(needs_reset);

	server_stop(e);
	assert_int_equal(vdev_get_status(&e->net.vdev), S_ALL);
	for (uint16_t i = 0; i < 5; i++)
		assert_true(e->net.vdev.q[i].enabled);
}

static void test_reset_returns_status_to_zero(void **state)
{
	struct env *e = *state;
	uint8_t st;

	drv_up(e);
	assert_int_equal(sim_vpci_reset(e->d), 0);
	assert_int_equal(sim_vpci_get_status(e->d, &st), 0);
	assert_int_equal(st, 0);
	/* The queues are gone with it. */
	assert_int_equal(sim_vpci_kick(e->d, 0), -EINVAL);
	assert_int_equal(sim_vpci_kick_fd(e->d, 0), -1);
	assert_int_equal(sim_vpci_queue_vector(e->d, 0), VQ_NO_VECTOR);

	server_stop(e);
	assert_int_equal(vdev_get_status(&e->net.vdev), 0);
	for (uint16_t i = 0; i < 5; i++) {
		assert_false(e->net.vdev.q[i].enabled);
		assert_int_equal(e->net.vdev.q[i].vector, VQ_NO_VECTOR);
	}
}

static void test_close_lets_go_of_everything(void **state)
{
	struct env *e = *state;
	const struct sim_vpci_info *in;
	uint8_t msix_cap;
	int before = open_fds();

	drv_up(e);
	in = sim_vpci_info(e->d);
	msix_cap = in->msix_cap;
	assert_true(open_fds() > before);
	sim_vpci_close(e->d);
	e->d = NULL;

	server_stop(e);
	/* Our eventfds closed, and the server's copies of the interrupt
	 * ones (SET_IRQS de-assigned them). */
	assert_int_equal(open_fds(), before);
	assert_int_equal(vdev_get_status(&e->net.vdev), 0);
	assert_int_equal(cfg16(e, msix_cap + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_ENABLE, 0);
	assert_int_equal(cfg16(e, PCI_COMMAND) & PCI_COMMAND_MASTER, 0);
	for (uint16_t v = 0; v < NVEC; v++)
		assert_int_equal(bar2_32(e, v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL), 1);
}

/* ---- hostile devices: a scripted responder --------------------------------------- */

struct fake {
	int fd;
	pthread_t th;
	uint8_t cfg[VPCI_CONFIG_SIZE];
	uint8_t wm[VPCI_CONFIG_SIZE];  /* writable bits */
	uint8_t bar0[VPCI_BAR0_SIZE];
	bool gen_spins;                /* config_generation changes on each read */
	uint8_t gen;
	unsigned reads;                /* REGION_READs answered */
	/* live: regions served by a real function (over host memory mapped
	 * directly), whose queue_msix_vector reads back NO_VECTOR above
	 * max_vector — a device short of interrupt resources (4.1.5.1.2) */
	struct dma_space *dma;
	struct vnet_dev net;
	struct vpci *pci;
	uint16_t max_vector;
	unsigned set_irqs;             /* SET_IRQS messages */
};

static bool fk_read(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool fk_reply(struct fake *f, const struct vfu_hdr *rq, uint32_t err,
		     const void *a, size_t alen, const void *b, size_t blen)
{
	uint8_t m[sizeof(struct vfu_hdr) + 256];
	struct vfu_hdr h = {
		.msg_id = rq->msg_id, .cmd = rq->cmd,
		.size = (uint32_t)(sizeof(h) + (err ? 0 : alen + blen)),
		.flags = VFU_F_REPLY | (err ? VFU_F_ERROR : 0), .error = err,
	};

	if (h.size > sizeof(m))
		return false;
	memcpy(m, &h, sizeof(h));
	if (!err && alen)
		memcpy(m + sizeof(h), a, alen);
	if (!err && blen)
		memcpy(m + sizeof(h) + alen, b, blen);
	return send(f->fd, m, h.size, MSG_NOSIGNAL) == (ssize_t)h.size;
}

/* The bytes of region r at [off, off+n), or NULL outside it. */
static uint8_t *fk_region(struct fake *f, uint32_t r, uint64_t off, uint32_t n)
{
	if (r == VFIO_PCI_CONFIG_REGION_INDEX && off < sizeof(f->cfg) &&
	    n <= sizeof(f->cfg) - off)
		return f->cfg + off;
	if (r == VFIO_PCI_BAR0_REGION_INDEX && off < sizeof(f->bar0) &&
	    n <= sizeof(f->bar0) - off)
		return f->bar0 + off;
	return NULL;
}

/* A REGION_READ (data NULL) or WRITE served by the live function. */
static bool fk_live(struct fake *f, const struct vfu_hdr *h,
		    const struct vfu_region_access *a, const uint8_t *data)
{
	const uint64_t qvec = VPCI_COMMON_OFF + 0x1a; /* queue_msix_vector */
	uint8_t b[64];

	if (a->count > sizeof(b))
		return fk_reply(f, h, EINVAL, NULL, 0, NULL, 0);
	if (data)
		memcpy(b, data, a->count);
	if (vpci_access(f->pci, a->region, a->offset, b, a->count, data != NULL))
		return fk_reply(f, h, EINVAL, NULL, 0, NULL, 0);
	if (data)
		return fk_reply(f, h, 0, a, sizeof(*a), NULL, 0);
	if (a->region == VPCI_REGION_BAR0 && a->offset == qvec && a->count == 2 &&
	    (b[0] | b[1] << 8) > f->max_vector)
		b[0] = b[1] = 0xff;
	return fk_reply(f, h, 0, a, sizeof(*a), b, a->count);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct vfu_hdr h;
	uint8_t pl[4096];

	while (fk_read(f->fd, &h, sizeof(h))) {
		struct vfu_region_access a;
		size_t n = h.size - sizeof(h);
		uint8_t *p;
		bool ok = true;

		if (h.size < sizeof(h) || n > sizeof(pl) || !fk_read(f->fd, pl, n))
			break;
		switch (h.cmd) {
		case VFU_CMD_VERSION: {
			struct vfu_version v = { 0, 0 };

			ok = fk_reply(f, &h, 0, &v, sizeof(v), NULL, 0);
			break;
		}
		case VFU_CMD_REGION_READ:
			memcpy(&a, pl, sizeof(a));
			if (f->pci) {
				ok = fk_live(f, &h, &a, NULL);
				break;
			}
			p = a.count <= 64 ? fk_region(f, a.region, a.offset, a.count) : NULL;
			if (p && a.region == VFIO_PCI_BAR0_REGION_INDEX && f->gen_spins &&
			    a.offset <= VPCI_COMMON_OFF + 0x15 &&
			    a.offset + a.count > VPCI_COMMON_OFF + 0x15)
				f->bar0[VPCI_COMMON_OFF + 0x15] = f->gen++;
			f->reads++;
			ok = fk_reply(f, &h, p ? 0 : EINVAL, &a, sizeof(a), p, a.count);
			break;
		case VFU_CMD_REGION_WRITE:
			memcpy(&a, pl, sizeof(a));
			if (f->pci) {
				ok = n == sizeof(a) + a.count &&
				     fk_live(f, &h, &a, pl + sizeof(a));
				break;
			}
			p = a.count <= 8 && n == sizeof(a) + a.count ?
			    fk_region(f, a.region, a.offset, a.count) : NULL;
			for (uint32_t i = 0; p && i < a.count; i++) {
				uint8_t v = pl[sizeof(a) + i];

				if (a.region == VFIO_PCI_CONFIG_REGION_INDEX) {
					uint8_t m = f->wm[a.offset + i];

					v = (uint8_t)((p[i] & ~m) | (v & m));
				}
				p[i] = v;
			}
			ok = fk_reply(f, &h, p ? 0 : EINVAL, &a, sizeof(a), NULL, 0);
			break;
		case VFU_CMD_DEVICE_GET_IRQ_INFO: {
			struct vfu_irq_info r;

			memcpy(&r, pl, sizeof(r));
			r = (struct vfu_irq_info){
				.argsz = sizeof(r), .index = r.index,
				.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE,
				.count = r.index == VFIO_PCI_MSIX_IRQ_INDEX ? NVEC : 0,
			};
			ok = fk_reply(f, &h, 0, &r, sizeof(r), NULL, 0);
			break;
		}
		case VFU_CMD_DEVICE_SET_IRQS: /* the eventfds were dropped by recv */
			f->set_irqs++;
			ok = fk_reply(f, &h, 0, NULL, 0, NULL, 0);
			break;
		default:
			ok = fk_reply(f, &h, ENOTSUP, NULL, 0, NULL, 0);
			break;
		}
		if (!ok)
			break;
	}
	return NULL;
}

static void wm32(uint8_t *wm, uint32_t off, uint32_t m)
{
	for (unsigned i = 0; i < 4; i++)
		wm[off + i] = (uint8_t)(m >> (8 * i));
}

/* The real function's config space and BAR0 structures (what a vpci of
 * the default env shows), with the writable bits of the registers a
 * driver writes during enumeration. */
static void fake_init(struct fake *f)
{
	struct dma_space *dma = dma_space_create(NULL);
	struct vpci_params pp = {
		.device_id = VPCI_DEVICE_NET, .subsys_vendor_id = VPCI_VENDOR_VIRTIO,
		.subsys_id = 0x40, .num_vectors = NVEC,
	};
	struct vnet_params np;
	struct vnet_dev net;
	struct vpci *pci;

	memset(f, 0, sizeof(*f));
	vnet_params_default(&np);
	memcpy(np.mac, MAC, 6);
	assert_int_equal(vnet_init(&net, &np, dma, "fake"), 0);
	pci = vpci_create(&net.vdev, &pp, NULL, NULL);
	assert_non_null(pci);
	assert_int_equal(vpci_access(pci, VPCI_REGION_CONFIG, 0, f->cfg, sizeof(f->cfg), false), 0);
	assert_int_equal(vpci_access(pci, VPCI_REGION_BAR0, VPCI_COMMON_OFF,
				     f->bar0 + VPCI_COMMON_OFF, 0x1000, false), 0);
	assert_int_equal(vpci_access(pci, VPCI_REGION_BAR0, VPCI_DEVICE_OFF,
				     f->bar0 + VPCI_DEVICE_OFF, VPCI_DEVICE_MAX, false), 0);
	vpci_destroy(pci);
	vnet_fini(&net);
	dma_space_destroy(dma);
	wm32(f->wm, PCI_COMMAND, 0x0407);
	wm32(f->wm, PCI_BASE_ADDRESS_0, ~(VPCI_BAR0_SIZE - 1));
	wm32(f->wm, PCI_BASE_ADDRESS_2, ~(VPCI_BAR2_SIZE - 1));
}

/* A live function of `pairs` queue pairs over mem. */
static void fake_init_live(struct fake *f, struct sim_hostmem *mem, uint16_t pairs)
{
	struct vpci_params pp = {
		.device_id = VPCI_DEVICE_NET, .subsys_vendor_id = VPCI_VENDOR_VIRTIO,
		.subsys_id = 0x40, .num_vectors = NVEC,
	};
	struct vnet_params np;

	memset(f, 0, sizeof(*f));
	f->dma = dma_space_create(NULL);
	assert_non_null(f->dma);
	assert_int_equal(sim_hostmem_map(mem, f->dma, DMA_PROT_READ | DMA_PROT_WRITE), 0);
	vnet_params_default(&np);
	np.features |= VNET_F(VIRTIO_NET_F_MQ);
	np.max_queue_pairs = pairs;
	assert_int_equal(vnet_init(&f->net, &np, f->dma, "live"), 0);
	f->pci = vpci_create(&f->net.vdev, &pp, NULL, NULL);
	assert_non_null(f->pci);
}

static void fake_fini_live(struct fake *f)
{
	vpci_destroy(f->pci);
	vnet_fini(&f->net);
	dma_space_destroy(f->dma);
}

/* Connect a client to f, served by a thread. */
static struct sim_vfu *fake_start(struct fake *f)
{
	struct sim_vfu *c;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->fd = sv[1];
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
	assert_int_equal(sim_vfu_attach(sv[0], TMO, &c), 0);
	return c;
}

static void fake_stop(struct fake *f, struct sim_vfu *c)
{
	sim_vfu_close(c);
	pthread_join(f->th, NULL);
	close(f->fd);
}

/* Offset of the first capability with id (and virtio cfg_type, for a
 * vendor one); the last one in the list with id 0. */
static uint8_t find_cap(const uint8_t *cfg, uint8_t id, uint8_t type)
{
	uint8_t p = cfg[PCI_CAPABILITY_LIST], last = 0;

	for (int n = 0; p && n < 48; n++) {
		if (id && cfg[p] == id && (id != PCI_CAP_ID_VNDR || cfg[p + 3] == type))
			return p;
		last = p;
		p = cfg[p + 1];
	}
	assert_int_equal(id, 0);
	return last;
}

static void put32(uint8_t *b, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static void m_loop(struct fake *f)
{
	f->cfg[find_cap(f->cfg, 0, 0) + 1] = f->cfg[PCI_CAPABILITY_LIST];
}

static void m_self_loop(struct fake *f)
{
	uint8_t msix = find_cap(f->cfg, PCI_CAP_ID_MSIX, 0);

	f->cfg[msix + 1] = msix;
}

static void m_into_header(struct fake *f)
{
	f->cfg[find_cap(f->cfg, 0, 0) + 1] = 0x20;
}

static void m_ecap_loop(struct fake *f)
{
	/* The first extended capability (ARI) names itself as the next. */
	put32(f->cfg + 0x100, PCI_EXT_CAP_ID_ARI | 1u << 16 | 0x100u << 20);
}

static void m_ecap_backwards(struct fake *f)
{
	put32(f->cfg + 0x100, PCI_EXT_CAP_ID_ARI | 1u << 16 | 0x40u << 20);
}

static void m_common_outside_bar(struct fake *f)
{
	uint8_t c = find_cap(f->cfg, PCI_CAP_ID_VNDR, 1);

	put32(f->cfg + c + 8, VPCI_BAR0_SIZE - 8);
}

static void m_cap_past_config_space(struct fake *f)
{
	/* The last virtio capability claims more bytes than are left. */
	f->cfg[find_cap(f->cfg, PCI_CAP_ID_VNDR, 5) + 2] = 0x80;
}

static void m_msix_table_outside_bar(struct fake *f)
{
	uint8_t x = find_cap(f->cfg, PCI_CAP_ID_MSIX, 0);

	f->cfg[x + PCI_MSIX_FLAGS] = 0xff; /* 2048 vectors in 8 KiB */
	f->cfg[x + PCI_MSIX_FLAGS + 1] |= 0x07;
}

static void m_bar_not_a_size(struct fake *f)
{
	wm32(f->wm, PCI_BASE_ADDRESS_0, 0xf0f0c000u);
}

static void m_not_virtio(struct fake *f)
{
	f->cfg[PCI_VENDOR_ID] = 0x86;
	f->cfg[PCI_VENDOR_ID + 1] = 0x80;
}

static void m_transitional(struct fake *f)
{
	f->cfg[PCI_REVISION_ID] = 0;
}

static void m_no_caps(struct fake *f)
{
	f->cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_CAP_LIST;
}

static void test_hostile_devices_are_refused_without_hanging(void **state)
{
	static const struct {
		const char *what;
		void (*mutate)(struct fake *f);
		int rc;
	} cases[] = {
		{ "capability list loops", m_loop, -ELOOP },
		{ "capability names itself", m_self_loop, -ELOOP },
		{ "capability pointer into the header", m_into_header, -EPROTO },
		{ "extended list loops", m_ecap_loop, -ELOOP },
		{ "extended pointer below 0x100", m_ecap_backwards, -EPROTO },
		{ "common configuration outside BAR0", m_common_outside_bar, -EPROTO },
		{ "capability past config space", m_cap_past_config_space, -EPROTO },
		{ "MSI-X table outside BAR2", m_msix_table_outside_bar, -EPROTO },
		{ "BAR that is no size", m_bar_not_a_size, -EPROTO },
		{ "another vendor", m_not_virtio, -ENODEV },
		{ "revision 0", m_transitional, -ENODEV },
		{ "no capability list", m_no_caps, -ENODEV },
	};
	struct fake *f = malloc(sizeof(*f));

	(void)state;
	hal_log_set_sink(quiet);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sim_vpci *d = (struct sim_vpci *)1;
		struct sim_vfu *c;
		int64_t t0;
		int rc;

		fake_init(f);
		cases[i].mutate(f);
		c = fake_start(f);
		t0 = sim_now_ms();
		rc = sim_vpci_open(c, &d);
		if (rc != cases[i].rc)
			fail_msg("%s: %d, expected %d", cases[i].what, rc, cases[i].rc);
		assert_null(d);
		/* Refused at once: a few dozen register reads. */
		assert_true(sim_now_ms() - t0 < 1000);
		fake_stop(f, c);
		assert_true(f->reads < 200);
	}
	/* The same function, unmutated, is taken. */
	fake_init(f);
	struct sim_vfu *c = fake_start(f);
	struct sim_vpci *d;
	assert_int_equal(sim_vpci_open(c, &d), 0);
	assert_int_equal(sim_vpci_info(d)->num_queues, 3);
	sim_vpci_close(d);
	fake_stop(f, c);
	free(f);
	hal_log_set_sink(NULL);
}

static void test_config_generation_is_retried_a_bounded_number_of_times(void **state)
{
	struct fake *f = malloc(sizeof(*f));
	struct sim_vpci *d;
	struct sim_vfu *c;
	uint8_t mac[6];
	unsigned reads;

	(void)state;
	hal_log_set_sink(quiet);
	/* A device whose generation holds still. */
	fake_init(f);
	c = fake_start(f);
	assert_int_equal(sim_vpci_open(c, &d), 0);
	assert_int_equal(sim_vpci_config_read(d, VNET_CFG_MAC, mac, 6), 0);
	assert_memory_equal(mac, MAC, 6);
	sim_vpci_close(d);
	fake_stop(f, c);

	/* One whose generation changes on every read: a torn read each
	 * time, given up after SIM_VPCI_GEN_TRIES. */
	fake_init(f);
	f->gen_spins = true;
	c = fake_start(f);
	assert_int_equal(sim_vpci_open(c, &d), 0);
	reads = f->reads; /* the fake is idle between requests */
	assert_int_equal(sim_vpci_config_read(d, VNET_CFG_MAC, mac, 6), -EAGAIN);
	assert_int_equal(f->reads - reads, SIM_VPCI_GEN_TRIES * (2 + 6));
	sim_vpci_close(d);
	fake_stop(f, c);
	free(f);
	hal_log_set_sink(NULL);
}

static void test_refused_queue_vectors_fall_back_to_a_shared_one(void **state)
{
	struct fake *f = malloc(sizeof(*f));
	struct sim_vq vq[5] = { 0 }, *vqs[5];
	struct sim_hostmem mem;
	struct sim_vpci *d;
	struct sim_vfu *c;
	uint64_t feat;
	uint16_t v;
	uint8_t st;

	(void)state;
	hal_log_set_sink(quiet);
	sim_hostmem_init(&mem);
	assert_int_equal(sim_hostmem_add(&mem, MEM_IOVA, MEM_LEN), 0);
	fake_init_live(f, &mem, 2);
	f->max_vector = 1; /* vectors 0 and 1 map, 2.. read back NO_VECTOR */
	c = fake_start(f);
	assert_int_equal(sim_vpci_open(c, &d), 0);
	assert_int_equal(sim_vpci_negotiate(d, WANT, &feat), 0);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(sim_vq_init(&vq[i], &mem, QSIZE, sim_vpci_ring_flags(feat), 0), 0);
		vqs[i] = &vq[i];
	}
	assert_int_equal(sim_vpci_setup_queues(d, 5, vqs), 0);
	assert_int_equal(sim_vpci_driver_ok(d), 0);
	/* A vector per queue (6 eventfds), refused at queue 1; de-assigned;
	 * then the shared layout (2). The fake stated no max_msg_fds, so
	 * each eventfd went in a message of its own: 6 + 1 + 2. */
	assert_int_equal(f->set_irqs, 9);
	for (uint16_t i = 0; i < 5; i++) {
		assert_int_equal(sim_vpci_queue_vector(d, i), 1);
		/* and the device holds it: every queue on vector 1 */
		assert_int_equal(sim_vfu_write16(c, 0, VPCI_COMMON_OFF + 0x16, i), 0);
		assert_int_equal(sim_vfu_read16(c, 0, VPCI_COMMON_OFF + 0x1a, &v), 0);
		assert_int_equal(v, 1);
	}
	assert_int_equal(sim_vpci_get_status(d, &st), 0);
	assert_int_equal(st, S_ALL);
	sim_vpci_close(d);
	fake_stop(f, c);
	fake_fini_live(f);
	for (unsigned i = 0; i < 5; i++)
		sim_vq_fini(&vq[i]);
	sim_hostmem_free(&mem);
	free(f);
	hal_log_set_sink(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enumeration_finds_the_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enumeration_of_a_pf_with_vfs, setup_sriov, teardown),
		cmocka_unit_test_setup_teardown(test_init_reaches_driver_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_sequence_calls_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_config_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_through_an_ioeventfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_through_region_write, setup_many_queues, teardown),
		cmocka_unit_test_setup_teardown(test_small_table_shares_one_queue_vector, setup_many_queues, teardown),
		cmocka_unit_test_setup_teardown(test_one_vector_carries_everything, setup_one_vector, teardown),
		cmocka_unit_test_setup_teardown(test_config_interrupt_arrives_on_the_config_eventfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_needs_reset_is_seen_and_the_device_set_up_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_returns_status_to_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_lets_go_of_everything, setup, teardown),
		cmocka_unit_test(test_hostile_devices_are_refused_without_hanging),
		cmocka_unit_test(test_config_generation_is_retried_a_bounded_number_of_times),
		cmocka_unit_test(test_refused_queue_vectors_fall_back_to_a_shared_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
