/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_vfio_user — libFuzzer target for the vfio-user server
 * (hal/vfio_user.c) over the PCI function (emu/virtio_pci.c) of a
 * virtio-net device (emu/virtio_net.c).
 *
 * The input is a hostile client: a sequence of raw messages handed to
 * hal_vfu_handle, each with a few fds chosen from real objects created
 * once (a sealed memfd, an unsealed and unsealable one, an eventfd, a
 * socket) and dup'ed per message, as SCM_RIGHTS would deliver them.
 *
 * Input layout, records until the input ends:
 *   1  fd selection: bits 0-1 how many fds (0-3), then 2 bits per fd:
 *      0 sealed memfd, 1 unsealed memfd, 2 eventfd, 3 socket
 *   2  message length L (little-endian), clipped to what is left
 *   L  the message (header + payload), passed as is
 *
 * A negative result (stream error) is what the owner answers with a
 * disconnect: the target calls hal_vfu_disconnect and goes on. Invariants,
 * trapped: no crash or sanitizer report; a reply fits HAL_VFU_REPLY_MAX,
 * says REPLY, names the message's id and command and its size is its
 * length; an error reply is a bare header; reply fds only with a reply;
 * every fd given is taken or closed (the end count); after destroy the process holds
 * exactly the fds it held when the input began and no mapping of a client
 * memfd is left. Odd-length inputs run with notify_mmap.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dma.h"
#include "hal_log.h"
#include "hal_vfio_user.h"
#include "virtio_net.h"
#include "virtio_pci.h"

#define CHECK(c) \
	do { \
		if (!(c)) { \
			fprintf(stderr, "fuzz_vfio_user: %s:%d: %s\n", __FILE__, \
				__LINE__, #c); \
			abort(); \
		} \
	} while (0)

#include "fuzz_fds.h"

static const char *const map_names[] = { "vfu-fuzz-mem", NULL };

#define MEM_SIZE (64u << 10)

static int g_obj[4];

static int make_memfd(bool seal)
{
	int fd = memfd_create("vfu-fuzz-mem", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	CHECK(fd >= 0);
	CHECK(ftruncate(fd, MEM_SIZE) == 0);
	CHECK(fcntl(fd, F_ADD_SEALS, seal ? F_SEAL_SHRINK | F_SEAL_GROW : F_SEAL_SEAL) == 0);
	return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int sv[2];

	(void)argc;
	(void)argv;
	hal_log_set_level(HAL_LOG_ERR); /* refusals are the normal case here */
	g_obj[0] = make_memfd(true);
	g_obj[1] = make_memfd(false);
	g_obj[2] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(g_obj[2] >= 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	g_obj[3] = sv[0];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t reply[HAL_VFU_REPLY_MAX];
	struct vnet_params np;
	struct vnet_dev net;
	struct vpci_params pp = {
		.device_id = VPCI_DEVICE_NET, .subsys_vendor_id = VPCI_VENDOR_VIRTIO,
		.subsys_id = 1, .num_vectors = 5,
	};
	struct hal_vfu_params vp;
	struct dma_space *dma;
	struct vpci *pci;
	struct hal_vfu_dev *d;
	size_t off = 0;
	unsigned msgs = 0;
	int base = count_fds(); /* libFuzzer opens fds between inputs */

	dma = dma_space_create(NULL);
	CHECK(dma);
	vnet_params_default(&np);
	np.features |= VNET_F(VIRTIO_NET_F_MQ);
	np.max_queue_pairs = 2;
	CHECK(vnet_init(&net, &np, dma, "fuzz") == 0);
	pci = vpci_create(&net.vdev, &pp, NULL, NULL);
	CHECK(pci);
	hal_vfu_params_default(&vp);
	vp.name = "fuzz";
	vp.dma = dma;
	vp.notify_mmap = size & 1; /* both ways of answering REGION_INFO */
	d = hal_vfu_create(&vp, pci, NULL, NULL);
	CHECK(d);

	while (off + 3 <= size && msgs++ < 256) {
		uint8_t sel = data[off];
		size_t len = data[off + 1] | (size_t)data[off + 2] << 8;
		int fds[3], rfds[HAL_VFU_REPLY_FDS];
		unsigned nfds = sel & 3, nr;
		size_t rl;

		off += 3;
		if (len > size - off)
			len = size - off;
		for (unsigned i = 0; i < nfds; i++) {
			fds[i] = dup(g_obj[(sel >> (2 + 2 * i)) & 3]);
			CHECK(fds[i] >= 0);
		}
		int rc = hal_vfu_handle(d, data + off, len, fds, nfds, reply, &rl, rfds, &nr);
		/* Every fd given is kept or closed (the count at the end of
		 * the input catches one that is neither). */
		for (unsigned i = 0; i < nfds; i++)
			CHECK(fds[i] == -1);
		CHECK(rl <= HAL_VFU_REPLY_MAX);
		CHECK(nr <= HAL_VFU_REPLY_FDS && (nr == 0 || rl));
		for (unsigned i = 0; i < nr; i++)
			CHECK(fcntl(rfds[i], F_GETFD) != -1);
		if (rl) {
			struct vfu_hdr h, q;
			CHECK(rl >= sizeof(h) && len >= sizeof(q) && rc >= 0);
			memcpy(&h, reply, sizeof(h));
			memcpy(&q, data + off, sizeof(q));
			CHECK(h.msg_id == q.msg_id && h.cmd == q.cmd);
			CHECK((h.flags & VFU_F_TYPE_MASK) == VFU_F_REPLY);
			CHECK(h.size == rl);
			CHECK(!(h.flags & VFU_F_ERROR) == !rc);
			CHECK(!rc || (rl == sizeof(h) && h.error == (uint32_t)rc && nr == 0));
		}
		if (rc < 0) {
			CHECK(rl == 0);
			hal_vfu_disconnect(d); /* the owner drops the connection */
		}
		off += len;
	}
	hal_vfu_destroy(d);
	vpci_destroy(pci);
	vnet_fini(&net);
	dma_space_destroy(dma);
	if (count_fds() != base) {
		fprintf(stderr, "fuzz_vfio_user: %d fds, expected %d\n", count_fds(), base);
		list_fds();
		abort();
	}
	CHECK(count_maps(map_names) == 0);
	return 0;
}
