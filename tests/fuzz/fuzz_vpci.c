/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_vpci — libFuzzer target for the virtio PCI function
 * (emu/virtio_pci.c): hostile region accesses of any region, offset,
 * length and content, mixed with what the rest of the service does to
 * the function (interrupts raised, vectors masked from outside, host fds
 * set, the datapath signalling the fd it was given or letting go of the
 * rings, FLR, configuration changes).
 *
 * Input layout (all little-endian):
 *
 *   off len
 *    0   1  bits 0-2 num_vectors - 1 (1..8); bit 3 a VF (no SR-IOV); bit 4
 *           the datapath lets go of the rings only on a 'let go' op (else
 *           at once); bits 5-6 num_queues - 1 (1..4); bit 7 a PF without
 *           VFs (total_vfs 0, else 6)
 *    1      the ops (at most MAX_OPS), each one byte k, then arguments:
 *             k & 15:
 *             0-5  an access to CONFIG, BAR0, BAR2 ((k & 15) / 2), a
 *                  write when odd
 *             6-7  an access to the region named by one more byte (any
 *                  value), a write when 7
 *                  arguments: u16 offset (bit 5 of k: UINT64_MAX - it),
 *                  the length (u8; bit 4 of k: u16), then for a write that
 *                  many data bytes (zeros past the end of the input)
 *             8    vpci_raise(vector byte)
 *             9    vpci_msix_mask(vector byte, bit 4 of k)
 *             10   vpci_msix_set_fd(vector byte, bits 4-5 of k: -1, the
 *                  vector's host fd A, its host fd B, -7)
 *             11   vpci_flr
 *             12   the datapath lets go (vdev_quiesced, and of every queue)
 *             13   vdev_config_changed (bit 4 of k: vpci_config_irq)
 *             14   the datapath signals vpci_vector_fd(vector byte)
 *             15   a common configuration field (index byte) written with
 *                  its natural width, u32 value: a short way through the
 *                  driver's initialization sequence
 *
 * Checks, after every op: vpci_access answered 0 exactly for accesses
 * inside the region; the identity (IDs, class, header type, subsystem,
 * Interrupt Pin, capability pointer, every capability header, the
 * virtio structure capabilities, the MSI-X capability's table and PBA
 * locations, the extended capability headers and SR-IOV's read-only
 * registers) never changes, and the absent BARs and ROM read 0; every
 * vector's fd is the host fd exactly when the harness's model says the
 * vector is deliverable (MSI-X enabled, function and vector unmasked in
 * config space and the table, not masked from outside, a host fd), and
 * the owner was told (vector_changed) of every change of that fd; the
 * PBA shows exactly the vectors the model holds pending; every host
 * eventfd got exactly the interrupts the model delivers (raised or
 * signalled while deliverable, or pending and then made deliverable:
 * once) — except across an FLR started by a config write, where the
 * model resynchronizes; SR-IOV calls alternate (enable with 1..TotalVFs
 * VFs while off, disable while on, never on a VF) and agree with VF
 * Enable and NumVFs; notifications name existing queues only.
 *
 * The host memory and the eventfds are made once; the device and the
 * function are made per input.
 *
 * FUZZ_VPCI_VERBOSE=1 in the environment keeps the library's log lines.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include <linux/pci_regs.h>

#include "hal_log.h"
#include "sim_hostmem.h"
#include "virtio_dev.h"
#include "virtio_pci.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                          \
	do {                                                              \
		if (!(c)) {                                               \
			fprintf(stderr, "fuzz_vpci: check failed at line %d: %s\n", \
				__LINE__, #c);                            \
			__builtin_trap();                                 \
		}                                                         \
	} while (0)

#define MAX_OPS  256u
#define MAX_NV   8u
#define MAX_NQ   4u
#define TOTAL_VFS 6u
#define MEM_IOVA 0x100000ull
#define MEM_LEN  (1ull << 20)
#define OFFER (VDEV_BIT(VIRTIO_F_VERSION_1) | VDEV_BIT(VIRTIO_F_RING_RESET) | \
	       VDEV_BIT(VIRTIO_F_RING_PACKED) | VDEV_BIT(VIRTIO_F_EVENT_IDX) | \
	       VDEV_BIT(VIRTIO_F_NOTIFICATION_DATA) | VDEV_BIT(5))

/* virtio_pci_common_cfg fields (virtio 1.3, 4.1.4.3): offset, width. */
static const struct { uint8_t off, len; } fields[] = {
	{ 0x00, 4 }, { 0x04, 4 }, { 0x08, 4 }, { 0x0c, 4 }, { 0x10, 2 },
	{ 0x12, 2 }, { 0x14, 1 }, { 0x15, 1 }, { 0x16, 2 }, { 0x18, 2 },
	{ 0x1a, 2 }, { 0x1c, 2 }, { 0x1e, 2 }, { 0x20, 4 }, { 0x24, 4 },
	{ 0x28, 4 }, { 0x2c, 4 }, { 0x30, 4 }, { 0x34, 4 }, { 0x38, 2 },
	{ 0x3a, 2 }, { 0x3c, 2 }, { 0x3e, 2 }, { 0x20, 8 }, { 0x28, 8 },
	{ 0x30, 8 },
};

/* A read-only range of config space and what it held at creation. */
struct ro {
	uint16_t off, len;
	uint8_t v[20];
};

static struct {
	bool verbose;
	struct sim_hostmem mem;
	struct dma_space *dma;
	int efd[MAX_NV][2];
	/* per input */
	struct vdev d;
	struct vpci *p;
	struct vpci_params prm;
	bool defer;
	uint16_t nv, nq;
	uint16_t msix, exp, sriov; /* capability offsets */
	struct ro ro[64];
	unsigned nro;
	/* the owner's view */
	int published[MAX_NV];
	bool vfs_on;
	uint16_t vfs_n;
	/* the model */
	int fd[MAX_NV];      /* host fd set, -1 */
	bool ext[MAX_NV];    /* masked from outside */
	bool pending[MAX_NV];
	uint64_t expect[MAX_NV][2]; /* interrupts owed to each host eventfd */
	bool resync;
} W;

static uint8_t g_buf[0x10000];

/* ---- the device type and the owner ----------------------------------------- */
static void h_quiesce(struct vdev *d)
{
	if (!W.defer)
		vdev_quiesced(d);
}

static void h_quiesce_queue(struct vdev *d, uint16_t q)
{
	if (!W.defer)
		vdev_queue_quiesced(d, q);
}

static void model_raise(uint16_t v);

static void h_config_irq(struct vdev *d)
{
	model_raise(d->msix_config);
	vpci_config_irq(W.p);
}

static void h_cfg_read(struct vdev *d, uint32_t off, void *buf, uint32_t len)
{
	static const uint8_t cfg[10] = { 0x52, 0x54, 0, 1, 2, 3, 1, 0, 1, 0 };

	(void)d;
	if (off < sizeof(cfg))
		memcpy(buf, cfg + off, len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
}

static const struct vdev_ops vops = {
	.config_read = h_cfg_read,
	.quiesce = h_quiesce,
	.quiesce_queue = h_quiesce_queue,
	.config_irq = h_config_irq,
};

static void h_sriov(struct vpci *p, uint16_t n, bool en)
{
	CHECK(p == W.p);
	CHECK(!W.prm.is_vf && W.prm.total_vfs);
	if (en) {
		CHECK(!W.vfs_on);
		CHECK(n >= 1 && n <= W.prm.total_vfs);
		W.vfs_on = true;
		W.vfs_n = n;
	} else {
		CHECK(W.vfs_on && n == 0);
		W.vfs_on = false;
	}
}

static void h_vector_changed(struct vpci *p, uint16_t v)
{
	CHECK(v < W.nv);
	W.published[v] = vpci_vector_fd(p, v);
}

static void h_notify(struct vpci *p, uint16_t q, uint32_t val)
{
	(void)p;
	(void)val;
	CHECK(q < W.nq);
}

static const struct vpci_ops pops = {
	.sriov = h_sriov,
	.vector_changed = h_vector_changed,
	.notify = h_notify,
};

/* ---- reading the function as the host does -------------------------------- */
static uint64_t rd(unsigned region, uint32_t off, uint32_t len)
{
	uint8_t b[8] = { 0 };
	uint64_t v = 0;

	CHECK(vpci_access(W.p, region, off, b, len, false) == 0);
	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void ro_add(uint16_t off, uint16_t len)
{
	CHECK(W.nro < sizeof(W.ro) / sizeof(W.ro[0]) && len <= sizeof(W.ro[0].v));
	struct ro *r = &W.ro[W.nro++];
	r->off = off;
	r->len = len;
	CHECK(vpci_access(W.p, VPCI_REGION_CONFIG, off, r->v, len, false) == 0);
}

/* Walk both capability lists and note what must never change. */
static void snapshot(void)
{
	W.nro = 0;
	ro_add(PCI_VENDOR_ID, 4);
	ro_add(PCI_CLASS_REVISION, 4);
	ro_add(PCI_HEADER_TYPE, 1);
	ro_add(PCI_BASE_ADDRESS_1, 4);
	ro_add(PCI_BASE_ADDRESS_3, 12);
	ro_add(PCI_CARDBUS_CIS, 12); /* CIS, subsystem, ROM */
	ro_add(PCI_CAPABILITY_LIST, 1);
	ro_add(PCI_INTERRUPT_PIN, 1);
	CHECK(rd(VPCI_REGION_CONFIG, PCI_CAPABILITY_LIST, 1) == 0x40);
	uint8_t at = 0x40;
	unsigned n = 0;
	W.msix = W.exp = 0;
	while (at) {
		CHECK(++n < 32);
		uint8_t id = (uint8_t)rd(VPCI_REGION_CONFIG, at, 1);
		ro_add(at, 2);
		if (id == PCI_CAP_ID_EXP) {
			W.exp = at;
			ro_add(at + PCI_EXP_FLAGS, 6); /* flags, Device Capabilities */
		} else if (id == PCI_CAP_ID_MSIX) {
			W.msix = at;
			ro_add(at + PCI_MSIX_TABLE, 8);
		} else {
			CHECK(id == PCI_CAP_ID_VNDR);
			uint8_t t = (uint8_t)rd(VPCI_REGION_CONFIG, at + 3, 1);
			if (t != 5) /* the PCI_CFG window's fields are RW */
				ro_add(at, t == 2 ? 20 : 16);
		}
		at = (uint8_t)rd(VPCI_REGION_CONFIG, at + 1, 1);
	}
	CHECK(W.msix && W.exp);
	uint16_t x = 0x100;
	W.sriov = 0;
	while (x) {
		uint32_t h = (uint32_t)rd(VPCI_REGION_CONFIG, x, 4);
		CHECK(++n < 40);
		ro_add(x, 4);
		if (PCI_EXT_CAP_ID(h) == PCI_EXT_CAP_ID_SRIOV) {
			W.sriov = x;
			ro_add(x + PCI_SRIOV_CAP, 4);
			ro_add(x + PCI_SRIOV_INITIAL_VF, 4);
			ro_add(x + PCI_SRIOV_VF_OFFSET, 12); /* offset .. page sizes */
			ro_add(x + PCI_SRIOV_BAR, 16);
			ro_add(x + PCI_SRIOV_BAR + 16, 12);
		}
		x = (uint16_t)PCI_EXT_CAP_NEXT(h);
	}
	CHECK((W.sriov != 0) == (!W.prm.is_vf && W.prm.total_vfs));
}

static void check_identity(void)
{
	uint8_t b[20];

	for (unsigned i = 0; i < W.nro; i++) {
		const struct ro *r = &W.ro[i];
		CHECK(vpci_access(W.p, VPCI_REGION_CONFIG, r->off, b, r->len, false) == 0);
		if (memcmp(b, r->v, r->len)) {
			fprintf(stderr, "fuzz_vpci: config %#x+%u changed\n", r->off, r->len);
			CHECK(0);
		}
	}
	CHECK(rd(VPCI_REGION_CONFIG, W.msix + PCI_MSIX_FLAGS, 2) % 0x800 == W.nv - 1u);
}

/* ---- the interrupt model ---------------------------------------------------- */
static bool deliverable(uint16_t v)
{
	uint16_t ctl = (uint16_t)rd(VPCI_REGION_CONFIG, W.msix + PCI_MSIX_FLAGS, 2);
	uint32_t vc = (uint32_t)rd(VPCI_REGION_BAR2, v * 16u + PCI_MSIX_ENTRY_VECTOR_CTRL, 4);

	return (ctl & PCI_MSIX_FLAGS_ENABLE) && !(ctl & PCI_MSIX_FLAGS_MASKALL) &&
	       !(vc & PCI_MSIX_ENTRY_CTRL_MASKBIT) && !W.ext[v] && W.fd[v] >= 0;
}

static int fd_slot(uint16_t v, int fd)
{
	return fd == W.efd[v][0] ? 0 : fd == W.efd[v][1] ? 1 : -1;
}

/* An interrupt for v, from the control thread or the datapath. */
static void model_raise(uint16_t v)
{
	if (v >= W.nv)
		return;
	if (deliverable(v))
		W.expect[v][fd_slot(v, W.fd[v])]++;
	else
		W.pending[v] = true;
}

static void check_vectors(void)
{
	uint64_t pba = rd(VPCI_REGION_BAR2, VPCI_PBA_OFF, 8);

	for (uint16_t v = 0; v < W.nv; v++) {
		bool live = deliverable(v);
		int fd = vpci_vector_fd(W.p, v);

		if (W.resync)
			W.pending[v] = false;
		/* Made deliverable with something pending: delivered once. */
		if (live && W.pending[v]) {
			W.expect[v][fd_slot(v, W.fd[v])]++;
			W.pending[v] = false;
		}
		if (live)
			CHECK(fd == W.fd[v]);
		else
			CHECK(fd >= 0 && fd_slot(v, fd) < 0);
		CHECK(W.published[v] == fd);
		if (!W.resync)
			CHECK(((pba >> v) & 1) == W.pending[v]);
		for (int s = 0; s < 2; s++) {
			eventfd_t n = 0;
			if (eventfd_read(W.efd[v][s], &n))
				n = 0;
			if (!W.resync && n != W.expect[v][s]) {
				fprintf(stderr, "fuzz_vpci: vector %u fd %c: %llu interrupts, %llu owed\n",
					v, 'A' + s, (unsigned long long)n,
					(unsigned long long)W.expect[v][s]);
				CHECK(0);
			}
			W.expect[v][s] = 0;
		}
	}
	if (W.resync)
		CHECK(pba == 0);
	CHECK((pba >> W.nv) == 0);
	W.resync = false;
}

static void check_sriov(void)
{
	if (!W.sriov) {
		CHECK(!W.vfs_on);
		return;
	}
	uint16_t ctl = (uint16_t)rd(VPCI_REGION_CONFIG, W.sriov + PCI_SRIOV_CTRL, 2);
	uint16_t n = (uint16_t)rd(VPCI_REGION_CONFIG, W.sriov + PCI_SRIOV_NUM_VF, 2);

	if (W.vfs_on)
		CHECK((ctl & PCI_SRIOV_CTRL_VFE) && n == W.vfs_n);
	if (!(ctl & PCI_SRIOV_CTRL_VFE))
		CHECK(!W.vfs_on);
}

/* ---- setting up ---------------------------------------------------------------- */
static void discard_log(enum hal_log_level level, const char *line)
{
	(void)level;
	(void)line;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	W.verbose = getenv("FUZZ_VPCI_VERBOSE") != NULL;
	if (!W.verbose)
		hal_log_set_sink(discard_log);
	sim_hostmem_init(&W.mem);
	CHECK(sim_hostmem_add(&W.mem, MEM_IOVA, MEM_LEN) == 0);
	W.dma = dma_space_create(NULL);
	CHECK(W.dma != NULL);
	CHECK(sim_hostmem_map(&W.mem, W.dma, DMA_PROT_READ | DMA_PROT_WRITE) == 0);
	for (unsigned v = 0; v < MAX_NV; v++)
		for (unsigned s = 0; s < 2; s++) {
			W.efd[v][s] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			CHECK(W.efd[v][s] >= 0);
		}
	return 0;
}

static void bring_up(uint8_t h)
{
	eventfd_t n;

	W.nv = (uint16_t)(1 + (h & 7));
	W.nq = (uint16_t)(1 + ((h >> 5) & 3));
	W.defer = h & 0x10;
	W.prm = (struct vpci_params){
		.device_id = VPCI_DEVICE_NET,
		.subsys_vendor_id = VPCI_VENDOR_VIRTIO,
		.subsys_id = 0x1100,
		.num_vectors = W.nv,
		.total_vfs = (h & 0x88) ? 0 : TOTAL_VFS,
		.vf_offset = 1,
		.vf_stride = 1,
		.vf_device_id = VPCI_DEVICE_NET,
		.is_vf = h & 8,
	};
	W.vfs_on = false;
	W.resync = false;
	for (unsigned v = 0; v < MAX_NV; v++) {
		W.fd[v] = -1;
		W.ext[v] = false;
		W.pending[v] = false;
		for (unsigned s = 0; s < 2; s++) {
			W.expect[v][s] = 0;
			eventfd_read(W.efd[v][s], &n); /* left over from a trapped run */
		}
	}
	CHECK(vdev_init(&W.d, &vops, NULL, W.dma, OFFER, W.nq, 64, "fz") == 0);
	W.p = vpci_create(&W.d, &W.prm, &pops, NULL);
	CHECK(W.p != NULL);
	for (uint16_t v = 0; v < W.nv; v++)
		W.published[v] = vpci_vector_fd(W.p, v);
	snapshot();
}

/* ---- the ops --------------------------------------------------------------------- */
struct in {
	const uint8_t *p;
	size_t left;
};

static uint8_t get8(struct in *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static uint16_t get16(struct in *in)
{
	uint16_t lo = get8(in);

	return (uint16_t)(lo | get8(in) << 8);
}

static uint32_t get32(struct in *in)
{
	uint32_t lo = get16(in);

	return lo | (uint32_t)get16(in) << 16;
}

static void op_access(struct in *in, uint8_t k)
{
	static const unsigned regions[3] = {
		VPCI_REGION_CONFIG, VPCI_REGION_BAR0, VPCI_REGION_BAR2,
	};
	unsigned kind = k & 15;
	bool write = kind & 1;
	unsigned region = kind < 6 ? regions[kind / 2] : get8(in);
	uint64_t off = get16(in);
	uint32_t len = (k & 0x10) ? get16(in) : get8(in);

	if (k & 0x20)
		off = UINT64_MAX - off;
	memset(g_buf, 0, len);
	if (write)
		for (uint32_t i = 0; i < len; i++)
			g_buf[i] = get8(in);
	uint64_t size = vpci_region_size(W.p, region);
	bool inside = len && off < size && len <= size - off;
	int rc = vpci_access(W.p, region, off, g_buf, len, write);
	CHECK(rc == (inside ? 0 : -EINVAL));
	/* An FLR started by a config write: the interrupts the same write
	 * delivered before it cannot be told apart; start afresh. */
	uint32_t flr = W.exp + PCI_EXP_DEVCTL + 1u;
	if (inside && write && region == VPCI_REGION_CONFIG && off <= flr &&
	    flr < off + len && (g_buf[flr - off] & (PCI_EXP_DEVCTL_BCR_FLR >> 8)))
		W.resync = true;
}

static void op_field(struct in *in)
{
	uint8_t i = get8(in) % (sizeof(fields) / sizeof(fields[0]));
	uint32_t v = get32(in);
	uint8_t b[8] = { 0 };

	for (unsigned k = 0; k < 4; k++)
		b[k] = (uint8_t)(v >> (8 * k));
	CHECK(vpci_access(W.p, VPCI_REGION_BAR0, VPCI_COMMON_OFF + fields[i].off, b,
			  fields[i].len, true) == 0);
}

static void op_let_go(void)
{
	vdev_quiesced(&W.d);
	for (uint16_t q = 0; q < W.nq; q++)
		vdev_queue_quiesced(&W.d, q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bring_up(data[0]);
	check_vectors();
	struct in in = { data + 1, size - 1 };

	for (unsigned n = 0; n < MAX_OPS && in.left; n++) {
		uint8_t k = get8(&in);
		uint16_t v;
		int rc;

		switch (k & 15) {
		case 0 ... 7:
			op_access(&in, k);
			break;
		case 8:
			v = get8(&in);
			model_raise(v);
			vpci_raise(W.p, v);
			break;
		case 9:
			v = get8(&in);
			rc = vpci_msix_mask(W.p, v, k & 0x10);
			CHECK(rc == (v < W.nv ? 0 : -EINVAL));
			if (!rc)
				W.ext[v] = k & 0x10;
			break;
		case 10: {
			v = get8(&in);
			unsigned c = (k >> 4) & 3;
			int fd = c == 0 ? -1 : c == 3 ? -7 : v < W.nv ? W.efd[v][c - 1] : 3;
			rc = vpci_msix_set_fd(W.p, v, fd);
			CHECK(rc == (v < W.nv && fd >= -1 ? 0 : -EINVAL));
			if (!rc)
				W.fd[v] = fd;
			break;
		}
		case 11:
			vpci_flr(W.p);
			for (v = 0; v < W.nv; v++)
				W.pending[v] = false;
			break;
		case 12:
			op_let_go();
			break;
		case 13:
			if (k & 0x10) {
				model_raise(W.d.msix_config);
				vpci_config_irq(W.p);
			} else {
				vdev_config_changed(&W.d);
			}
			break;
		case 14: {
			v = get8(&in);
			int fd = vpci_vector_fd(W.p, v);
			if (v >= W.nv) {
				CHECK(fd == -1);
				break;
			}
			CHECK(fd >= 0);
			/* The datapath signals what it was given. */
			if (fd_slot(v, fd) >= 0)
				W.expect[v][fd_slot(v, fd)]++;
			else
				W.pending[v] = true;
			CHECK(eventfd_write(fd, 1) == 0);
			break;
		}
		default:
			op_field(&in);
			break;
		}
		if (W.verbose)
			fprintf(stderr, "op %u: %#x, status %#x\n", n, k, vdev_get_status(&W.d));
		check_identity();
		check_vectors();
		check_sriov();
	}
	vpci_destroy(W.p);
	vdev_fini(&W.d);
	return 0;
}
