/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-user server of one emulated PCI function (hal_vfio_user.h).
 *
 * One table, indexed by command, states each message's policy: payload
 * size bounds, fds it takes, whether VERSION must come first.
 * hal_vfu_handle checks that before a handler reads a payload byte;
 * handlers copy the payload into local structs and either apply a message
 * completely or refuse it with an errno (a header-only error reply).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "dma.h"
#include "hal_log.h"
#include "hal_sock.h"
#include "hal_vfio_user.h"
#include "virtio_pci.h"

#define COMP "vfio-user"
#define HDR sizeof(struct vfu_hdr)
/* The largest message any command takes: a REGION_WRITE of VFU_MAX_XFER
 * bytes. Anything larger is drained and refused. */
#define MSG_MAX (HDR + sizeof(struct vfu_region_access) + VFU_MAX_XFER)
#define VERSION_JSON_MAX 4096u

struct window {
	uint64_t iova, len;
	void *base;       /* munmap(base, base_len); NULL: not mappable */
	size_t base_len;
	bool in_dma;      /* mapped into the dma_space */
};

struct hal_vfu_dev {
	char name[32];
	struct hal_vfu_params p;
	const struct hal_vfu_ops *ops;
	void *ctx;
	struct vpci *pci;
	uint16_t nq;
	uint16_t nvec;
	int *kick;        /* per queue, ours */
	int notify_fd;    /* notify_mmap: BAR0's backing file (only the
			   * notify page is ever mapped), sealed; else -1 */
	int *irq;         /* per MSI-X vector: the client's eventfd, or -1 */
	bool versioned;
	uint32_t client_max_fds;
	struct window win[VFU_MAX_DMA_MAPS];
	unsigned nwin;
	/* the message being received */
	uint8_t rx[MSG_MAX];
	struct hal_sock_rx in;
	uint64_t drain;   /* bytes of an oversized message still to discard */
	struct vfu_hdr drain_hdr;
	bool attached;    /* a client sent something since the last disconnect */
	/* the reply being sent: nothing else is read until it is out */
	uint8_t reply[HAL_VFU_REPLY_MAX];
	size_t tx_len, tx_off;
	int tx_fds[HAL_VFU_REPLY_FDS];
	unsigned tx_nfds;
};

struct msg {
	const struct handler *h;
	struct vfu_hdr hdr;
	const uint8_t *payload;
	uint32_t size;              /* payload bytes */
	int *fds;
	unsigned nfds;
	uint8_t *reply;             /* payload of the reply */
	uint32_t reply_size;
	int *reply_fds;
	unsigned nreply_fds;
};

struct handler {
	const char *name;
	int (*fn)(struct hal_vfu_dev *d, struct msg *m);
	uint32_t min, max;          /* payload bytes */
	unsigned max_fds;
	bool before_version;        /* allowed before VERSION */
};

#define REFUSE HAL_SOCK_REFUSE

/* ---- VERSION ------------------------------------------------------------ */

/* The reply's capabilities: a subset of the client's, with our limits. */
static int version_caps(struct hal_vfu_dev *d, struct msg *m, json_t *caps,
			json_t *out)
{
	json_t *v;

	d->client_max_fds = VFU_DEF_MAX_FDS;
	if (!caps)
		return 0;
	if (!json_is_object(caps))
		REFUSE(d, m, EINVAL, "capabilities is not an object");
	if ((v = json_object_get(caps, "max_msg_fds"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1)
			REFUSE(d, m, EINVAL, "max_msg_fds is not a positive number");
		json_int_t n = json_integer_value(v);
		d->client_max_fds = n > VFU_MAX_SEND_FDS ? VFU_MAX_SEND_FDS : (uint32_t)n;
		json_object_set_new(out, "max_msg_fds", json_integer(VFU_MAX_FDS));
	}
	if ((v = json_object_get(caps, "max_data_xfer_size"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1)
			REFUSE(d, m, EINVAL, "max_data_xfer_size is not a positive number");
		json_object_set_new(out, "max_data_xfer_size", json_integer(VFU_MAX_XFER));
	}
	if ((v = json_object_get(caps, "max_dma_maps"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1)
			REFUSE(d, m, EINVAL, "max_dma_maps is not a positive number");
		json_object_set_new(out, "max_dma_maps", json_integer(VFU_MAX_DMA_MAPS));
	}
	if ((v = json_object_get(caps, "pgsizes"))) {
		if (!json_is_integer(v))
			REFUSE(d, m, EINVAL, "pgsizes is not a number");
		/* Any page size from 4 KiB up maps (mmap needs 4 KiB). */
		uint64_t ps = (uint64_t)json_integer_value(v) & ~(uint64_t)(VFU_PGSIZES - 1);
		if (!ps)
			REFUSE(d, m, EINVAL, "no page size of 4 KiB or more in pgsizes");
		json_object_set_new(out, "pgsizes", json_integer((json_int_t)ps));
	}
	v = json_object_get(caps, "write_multiple");
	if (v && json_is_true(v))
		json_object_set_new(out, "write_multiple", json_true());
	/* twin_socket, migration: not offered (we send the client no
	 * commands; migration is not served over vfio-user yet). */
	return 0;
}

static int h_version(struct hal_vfu_dev *d, struct msg *m)
{
	struct vfu_version v;
	json_t *root = NULL, *caps = NULL, *out = NULL, *wrap = NULL;
	char *text = NULL;
	int rc;

	if (d->versioned)
		REFUSE(d, m, EINVAL, "the version is already negotiated");
	memcpy(&v, m->payload, sizeof(v));
	if (v.major != VFU_MAJOR)
		REFUSE(d, m, ENOTSUP, "major version %u (we speak %u)", v.major, VFU_MAJOR);
	if (m->size > sizeof(v)) {
		const char *json = (const char *)m->payload + sizeof(v);
		size_t jlen = m->size - sizeof(v);
		json_error_t err;

		if (json[jlen - 1] != '\0')
			REFUSE(d, m, EINVAL, "version data is not NUL-terminated");
		root = json_loadb(json, strnlen(json, jlen), JSON_REJECT_DUPLICATES, &err);
		if (!root || !json_is_object(root)) {
			HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: VERSION refused: bad JSON: %s",
				   d->name, root ? "not an object" : err.text);
			rc = EINVAL;
			goto out;
		}
		caps = json_object_get(root, "capabilities");
	}
	out = json_object();
	wrap = json_pack("{s:o}", "capabilities", out);
	if (!out || !wrap) {
		rc = ENOMEM;
		goto out;
	}
	if ((rc = version_caps(d, m, caps, out)))
		goto out;
	text = json_dumps(wrap, JSON_COMPACT);
	if (!text || strlen(text) + 1 + sizeof(v) > HAL_VFU_REPLY_MAX - HDR) {
		rc = ENOMEM;
		goto out;
	}
	v.major = VFU_MAJOR;
	/* The minor is at most the client's; we speak 0 only. */
	v.minor = VFU_MINOR;
	memcpy(m->reply, &v, sizeof(v));
	memcpy(m->reply + sizeof(v), text, strlen(text) + 1);
	m->reply_size = (uint32_t)(sizeof(v) + strlen(text) + 1);
	d->versioned = true;
	rc = 0;
out:
	free(text);
	json_decref(wrap);
	if (!wrap)
		json_decref(out);
	json_decref(root);
	return rc;
}

/* ---- DMA ---------------------------------------------------------------- */

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static void window_release(struct hal_vfu_dev *d, struct window *w)
{
	/* dma_unmap returns after every lcore passed a quiescent state:
	 * only then may the memory go. */
	if (w->in_dma)
		dma_unmap(d->p.dma, w->iova, w->len);
	if (w->base)
		munmap(w->base, w->base_len);
	memset(w, 0, sizeof(*w));
}

static void windows_release(struct hal_vfu_dev *d)
{
	for (unsigned i = 0; i < d->nwin; i++)
		window_release(d, &d->win[i]);
	d->nwin = 0;
}

static int h_dma_map(struct hal_vfu_dev *d, struct msg *m)
{
	struct vfu_dma_map r;
	struct window w = { 0 };
	void *va = NULL;
	int fd, rc;

	memcpy(&r, m->payload, sizeof(r));
	if (r.argsz < sizeof(r) || (r.flags & ~(VFU_DMA_READ | VFU_DMA_WRITE)))
		REFUSE(d, m, EINVAL, "argsz %u, flags 0x%x", r.argsz, r.flags);
	if (r.size == 0 || r.addr + r.size < r.addr)
		REFUSE(d, m, EINVAL, "window 0x%" PRIx64 "+0x%" PRIx64 " is empty or wraps",
		       r.addr, r.size);
	for (unsigned i = 0; i < d->nwin; i++)
		if (overlap(r.addr, r.size, d->win[i].iova, d->win[i].len))
			REFUSE(d, m, EEXIST, "window 0x%" PRIx64 "+0x%" PRIx64
			       " overlaps 0x%" PRIx64 "+0x%" PRIx64, r.addr, r.size,
			       d->win[i].iova, d->win[i].len);
	if (d->nwin == VFU_MAX_DMA_MAPS)
		REFUSE(d, m, ENOSPC, "%u windows already", d->nwin);
	w.iova = r.addr;
	w.len = r.size;
	if (m->nfds == 1) {
		fd = hal_fd_take(&m->fds[0]);
		rc = hal_map_fd(d->name, "DMA_MAP", fd, r.offset, r.size,
				r.flags & VFU_DMA_WRITE, d->p.require_sealed,
				&w.base, &w.base_len, &va);
		close(fd); /* the mapping keeps the file */
		if (rc)
			return rc;
		uint32_t prot = ((r.flags & VFU_DMA_READ) ? DMA_PROT_READ : 0) |
				((r.flags & VFU_DMA_WRITE) ? DMA_PROT_WRITE : 0);
		rc = prot ? dma_map(d->p.dma, r.addr, r.size, va, prot) : 0;
		if (rc) {
			munmap(w.base, w.base_len);
			REFUSE(d, m, -rc, "window 0x%" PRIx64 "+0x%" PRIx64 ": %s",
			       r.addr, r.size, strerror(-rc));
		}
		w.in_dma = prot != 0;
	}
	/* Without an fd the window is recorded but not reachable: the
	 * device never asks the client for DMA_READ/WRITE, so a ring or
	 * buffer there fails its access and breaks its queue. */
	d->win[d->nwin++] = w;
	return 0;
}

static int h_dma_unmap(struct hal_vfu_dev *d, struct msg *m)
{
	struct vfu_dma_unmap r;

	memcpy(&r, m->payload, sizeof(r));
	if (r.argsz < sizeof(r) || (r.flags & ~VFU_DMA_UNMAP_ALL))
		REFUSE(d, m, r.argsz < sizeof(r) ? EINVAL : ENOTSUP, "argsz %u, flags 0x%x",
		       r.argsz, r.flags);
	if (r.flags & VFU_DMA_UNMAP_ALL) {
		if (r.addr || r.size)
			REFUSE(d, m, EINVAL, "UNMAP_ALL with a range");
		windows_release(d);
		memcpy(m->reply, &r, sizeof(r));
		m->reply_size = sizeof(r);
		return 0;
	}
	for (unsigned i = 0; i < d->nwin; i++) {
		if (d->win[i].iova != r.addr || d->win[i].len != r.size)
			continue;
		window_release(d, &d->win[i]);
		d->win[i] = d->win[--d->nwin];
		memcpy(m->reply, &r, sizeof(r));
		m->reply_size = sizeof(r);
		return 0;
	}
	REFUSE(d, m, ENOENT, "no window 0x%" PRIx64 "+0x%" PRIx64, r.addr, r.size);
}

/* ---- information -------------------------------------------------------- */

static int h_device_info(struct hal_vfu_dev *d, struct msg *m)
{
	struct vfu_device_info r;

	memcpy(&r, m->payload, sizeof(r));
	if (r.argsz < sizeof(r))
		REFUSE(d, m, EINVAL, "argsz %u", r.argsz);
	r = (struct vfu_device_info){
		.argsz = sizeof(r),
		.flags = VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI,
		.num_regions = VFIO_PCI_NUM_REGIONS,
		.num_irqs = VFIO_PCI_NUM_IRQS,
	};
	memcpy(m->reply, &r, sizeof(r));
	m->reply_size = sizeof(r);
	return 0;
}

/* BAR0's notify page as one sparse-mmap area (vfio-user.rst, "VFIO
 * region info cap sparse mmap"), the capability right after the info. */
struct notify_cap {
	struct vfio_info_cap_header header; /* struct vfio_region_info_cap_sparse_mmap */
	uint32_t nr_areas;
	uint32_t reserved;
	struct vfio_region_sparse_mmap_area area;
};

static int h_region_info(struct hal_vfu_dev *d, struct msg *m)
{
	struct vfu_region_info r;
	uint32_t room;

	memcpy(&r, m->payload, sizeof(r));
	if (r.argsz < sizeof(r) || r.index >= VFIO_PCI_NUM_REGIONS)
		REFUSE(d, m, EINVAL, "argsz %u, index %u", r.argsz, r.index);
	room = r.argsz;
	uint64_t size = vpci_region_size(d->pci, r.index);
	r = (struct vfu_region_info){
		.argsz = sizeof(r),
		.flags = size ? VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE : 0,
		.index = r.index,
		.size = size,
	};
	m->reply_size = sizeof(r);
	if (r.index == VFIO_PCI_BAR0_REGION_INDEX && d->notify_fd >= 0) {
		r.flags |= VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
		r.argsz = sizeof(r) + sizeof(struct notify_cap);
		/* Too little room: argsz says how much the answer needs; no
		 * capability, no fd. */
		if (room >= r.argsz) {
			struct notify_cap c = {
				.header = { .id = VFIO_REGION_INFO_CAP_SPARSE_MMAP, .version = 1 },
				.nr_areas = 1,
				.area = { .offset = VPCI_NOTIFY_OFF, .size = 0x1000 },
			};
			r.cap_offset = sizeof(r);
			memcpy(m->reply + sizeof(r), &c, sizeof(c));
			m->reply_size += sizeof(c);
			m->reply_fds[0] = d->notify_fd;
			m->nreply_fds = 1;
		}
	}
	memcpy(m->reply, &r, sizeof(r));
	return 0;
}

/* Doorbells: queue q's notify address in BAR0 signals kick[q]. Size 0:
 * any width written there (16-bit queue index, 32-bit notification data)
 * counts. As many queues as the client can take fds in one message. */
static int h_io_fds(struct hal_vfu_dev *d, struct msg *m)
{
	struct vfu_io_fds r;
	uint32_t count = 0;

	memcpy(&r, m->payload, sizeof(r));
	if (r.argsz < sizeof(r) || r.flags || r.index >= VFIO_PCI_NUM_REGIONS)
		REFUSE(d, m, EINVAL, "argsz %u, flags 0x%x, index %u", r.argsz, r.flags, r.index);
	if (r.index == VFIO_PCI_BAR0_REGION_INDEX)
		count = d->nq < d->client_max_fds ? d->nq : d->client_max_fds;
	uint32_t need = (uint32_t)(sizeof(r) + count * sizeof(struct vfu_io_fd));
	bool fits = r.argsz >= need;

	r = (struct vfu_io_fds){ .argsz = need, .index = r.index, .count = count };
	memcpy(m->reply, &r, sizeof(r));
	m->reply_size = sizeof(r);
	if (!fits)
		return 0; /* argsz says how much room the full answer needs */
	for (uint32_t q = 0; q < count; q++) {
		struct vfu_io_fd s = {
			.offset = VPCI_NOTIFY_OFF + q * VPCI_NOTIFY_MULT,
			.size = 0,
			.fd_index = q,
			.type = VFU_IO_FD_TYPE_IOEVENTFD,
		};
		memcpy(m->reply + m->reply_size, &s, sizeof(s));
		m->reply_size += sizeof(s);
		m->reply_fds[q] = d->kick[q];
	}
	m->nreply_fds = count;
	return 0;
}

static int h_irq_info(struct hal_vfu_dev *d, struct msg *m)
{
	struct vfu_irq_info r;

	memcpy(&r, m->payload, sizeof(r));
	if (r.argsz < sizeof(r) || r.index >= VFIO_PCI_NUM_IRQS)
		REFUSE(d, m, EINVAL, "argsz %u, index %u", r.argsz, r.index);
	bool msix = r.index == VFIO_PCI_MSIX_IRQ_INDEX;
	r = (struct vfu_irq_info){
		.argsz = sizeof(r),
		.flags = msix ? VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE : 0,
		.index = r.index,
		.count = msix ? d->nvec : 0, /* no INTx, MSI, error or request IRQs */
	};
	memcpy(m->reply, &r, sizeof(r));
	m->reply_size = sizeof(r);
	return 0;
}

/* ---- interrupts --------------------------------------------------------- */

/* Vector v goes to fd (ours now; -1: none). vpci stops using the old fd
 * (its owner republishes to the lcores and waits) before it is closed. */
static void irq_set(struct hal_vfu_dev *d, uint32_t v, int fd)
{
	int old = d->irq[v];

	d->irq[v] = fd;
	vpci_msix_set_fd(d->pci, (uint16_t)v, fd);
	if (fd >= 0) {
		/* VFIO semantics: a vector given an eventfd is enabled, as
		 * the host kernel unmasks a real device's table entry when
		 * vfio-pci requests the IRQ. QEMU keeps the guest's table
		 * (and its masking) to itself and never writes ours. */
		uint32_t ctl = 0;
		vpci_access(d->pci, VFIO_PCI_BAR2_REGION_INDEX, v * 16u + 12u, &ctl,
			    sizeof(ctl), true);
	}
	if (old >= 0)
		close(old);
}

/* Every vector of the index without an fd and without a SET_IRQS mask
 * (disabling the index, or a client gone: the next starts clean). */
static void irqs_off(struct hal_vfu_dev *d, uint32_t n)
{
	for (uint32_t v = 0; v < n; v++) {
		vpci_msix_mask(d->pci, (uint16_t)v, false);
		if (d->irq[v] >= 0)
			irq_set(d, v, -1);
	}
}

#define IRQ_DATA (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_DATA_EVENTFD)
#define IRQ_ACTION (VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK | \
		    VFIO_IRQ_SET_ACTION_TRIGGER)

static int h_set_irqs(struct hal_vfu_dev *d, struct msg *m)
{
	struct vfu_irq_set r;
	uint32_t data, action;

	memcpy(&r, m->payload, sizeof(r));
	data = r.flags & IRQ_DATA;
	action = r.flags & IRQ_ACTION;
	if (r.argsz < sizeof(r) || (r.flags & ~(IRQ_DATA | IRQ_ACTION)) ||
	    __builtin_popcount(data) != 1 || __builtin_popcount(action) != 1)
		REFUSE(d, m, EINVAL, "argsz %u, flags 0x%x", r.argsz, r.flags);
	if (r.index >= VFIO_PCI_NUM_IRQS)
		REFUSE(d, m, EINVAL, "index %u", r.index);
	uint32_t avail = r.index == VFIO_PCI_MSIX_IRQ_INDEX ? d->nvec : 0;
	if ((uint64_t)r.start + r.count > avail)
		REFUSE(d, m, EINVAL, "vectors %u+%u of %u", r.start, r.count, avail);
	uint32_t want = data == VFIO_IRQ_SET_DATA_BOOL ? r.count : 0;
	if (m->size != sizeof(r) + want)
		REFUSE(d, m, EINVAL, "%u bytes of data for %u vectors",
		       m->size - (uint32_t)sizeof(r), r.count);
	if (data == VFIO_IRQ_SET_DATA_EVENTFD) {
		if (action != VFIO_IRQ_SET_ACTION_TRIGGER)
			REFUSE(d, m, ENOTSUP, "mask/unmask notification fds");
		if (m->nfds != 0 && m->nfds != r.count)
			REFUSE(d, m, EINVAL, "%u fds for %u vectors", m->nfds, r.count);
		for (unsigned i = 0; i < m->nfds; i++)
			if (hal_eventfd_take(m->fds[i]))
				REFUSE(d, m, EINVAL, "fd %u is not an eventfd", i);
		for (uint32_t i = 0; i < r.count; i++)
			irq_set(d, r.start + i, m->nfds ? hal_fd_take(&m->fds[i]) : -1);
		return 0;
	}
	if (m->nfds)
		REFUSE(d, m, EINVAL, "%u fds without DATA_EVENTFD", m->nfds);
	/* VFIO: DATA_NONE | TRIGGER with count 0 disables the index. */
	if (data == VFIO_IRQ_SET_DATA_NONE && action == VFIO_IRQ_SET_ACTION_TRIGGER &&
	    r.count == 0) {
		irqs_off(d, avail);
		return 0;
	}
	const uint8_t *on = m->payload + sizeof(r);
	for (uint32_t i = 0; i < r.count; i++) {
		uint16_t v = (uint16_t)(r.start + i);
		if (data == VFIO_IRQ_SET_DATA_BOOL && !on[i])
			continue;
		if (action == VFIO_IRQ_SET_ACTION_TRIGGER)
			vpci_raise(d->pci, v);
		else
			vpci_msix_mask(d->pci, v, action == VFIO_IRQ_SET_ACTION_MASK);
	}
	return 0;
}

/* ---- region access ------------------------------------------------------ */

static int h_region_read(struct hal_vfu_dev *d, struct msg *m)
{
	struct vfu_region_access r;

	memcpy(&r, m->payload, sizeof(r));
	if (r.count == 0 || r.count > VFU_MAX_XFER)
		REFUSE(d, m, EINVAL, "%u bytes (1..%u)", r.count, VFU_MAX_XFER);
	if (vpci_access(d->pci, r.region, r.offset, m->reply + sizeof(r), r.count, false))
		REFUSE(d, m, EINVAL, "region %u: 0x%" PRIx64 "+%u is outside it",
		       r.region, r.offset, r.count);
	memcpy(m->reply, &r, sizeof(r));
	m->reply_size = (uint32_t)sizeof(r) + r.count;
	return 0;
}

static int h_region_write(struct hal_vfu_dev *d, struct msg *m)
{
	struct vfu_region_access r;

	memcpy(&r, m->payload, sizeof(r));
	if (r.count == 0 || m->size != sizeof(r) + r.count)
		REFUSE(d, m, EINVAL, "count %u in a payload of %u bytes", r.count, m->size);
	if (vpci_access(d->pci, r.region, r.offset, (void *)(m->payload + sizeof(r)),
			r.count, true))
		REFUSE(d, m, EINVAL, "region %u: 0x%" PRIx64 "+%u is outside it",
		       r.region, r.offset, r.count);
	memcpy(m->reply, &r, sizeof(r));
	m->reply_size = sizeof(r);
	return 0;
}

static int h_write_multi(struct hal_vfu_dev *d, struct msg *m)
{
	struct vfu_write_multi r;
	struct vfu_write_one w;

	memcpy(&r, m->payload, sizeof(r));
	if (r.wr_cnt == 0 || r.wr_cnt > VFU_WRITE_MULTI_MAX ||
	    m->size != sizeof(r) + r.wr_cnt * sizeof(w))
		REFUSE(d, m, EINVAL, "%" PRIu64 " writes in a payload of %u bytes",
		       r.wr_cnt, m->size);
	/* All or nothing: every write is checked before the first is done. */
	for (uint64_t i = 0; i < r.wr_cnt; i++) {
		memcpy(&w, m->payload + sizeof(r) + i * sizeof(w), sizeof(w));
		uint64_t size = vpci_region_size(d->pci, w.region);
		if (w.count == 0 || w.count > sizeof(w.data) || w.offset >= size ||
		    w.count > size - w.offset)
			REFUSE(d, m, EINVAL, "write %" PRIu64 ": region %u 0x%" PRIx64 "+%u",
			       i, w.region, w.offset, w.count);
	}
	for (uint64_t i = 0; i < r.wr_cnt; i++) {
		memcpy(&w, m->payload + sizeof(r) + i * sizeof(w), sizeof(w));
		vpci_access(d->pci, w.region, w.offset, w.data, w.count, true);
	}
	memcpy(m->reply, &r, sizeof(r));
	m->reply_size = sizeof(r);
	return 0;
}

static int h_reset(struct hal_vfu_dev *d, struct msg *m)
{
	(void)m;
	vpci_flr(d->pci);
	return 0;
}

static int h_unsupported(struct hal_vfu_dev *d, struct msg *m)
{
	REFUSE(d, m, ENOTSUP, "not supported");
}

#define RA sizeof(struct vfu_region_access)
static const struct handler handlers[VFU_CMD__MAX] = {
	[VFU_CMD_VERSION] = { "VERSION", h_version, sizeof(struct vfu_version),
		sizeof(struct vfu_version) + VERSION_JSON_MAX, 0, true },
	[VFU_CMD_DMA_MAP] = { "DMA_MAP", h_dma_map, sizeof(struct vfu_dma_map),
		sizeof(struct vfu_dma_map), 1, false },
	[VFU_CMD_DMA_UNMAP] = { "DMA_UNMAP", h_dma_unmap, sizeof(struct vfu_dma_unmap),
		sizeof(struct vfu_dma_unmap), 0, false },
	[VFU_CMD_DEVICE_GET_INFO] = { "DEVICE_GET_INFO", h_device_info,
		sizeof(struct vfu_device_info), sizeof(struct vfu_device_info), 0, false },
	[VFU_CMD_DEVICE_GET_REGION_INFO] = { "DEVICE_GET_REGION_INFO", h_region_info,
		sizeof(struct vfu_region_info), sizeof(struct vfu_region_info), 0, false },
	[VFU_CMD_DEVICE_GET_REGION_IO_FDS] = { "DEVICE_GET_REGION_IO_FDS", h_io_fds,
		sizeof(struct vfu_io_fds), sizeof(struct vfu_io_fds), 0, false },
	[VFU_CMD_DEVICE_GET_IRQ_INFO] = { "DEVICE_GET_IRQ_INFO", h_irq_info,
		sizeof(struct vfu_irq_info), sizeof(struct vfu_irq_info), 0, false },
	[VFU_CMD_DEVICE_SET_IRQS] = { "DEVICE_SET_IRQS", h_set_irqs,
		sizeof(struct vfu_irq_set), sizeof(struct vfu_irq_set) + VPCI_MSIX_MAX,
		VFU_MAX_FDS, false },
	[VFU_CMD_REGION_READ] = { "REGION_READ", h_region_read, RA, RA, 0, false },
	[VFU_CMD_REGION_WRITE] = { "REGION_WRITE", h_region_write, RA, RA + VFU_MAX_XFER,
		0, false },
	[VFU_CMD_DEVICE_RESET] = { "DEVICE_RESET", h_reset, 0, 0, 0, false },
	[VFU_CMD_REGION_WRITE_MULTI] = { "REGION_WRITE_MULTI", h_write_multi,
		sizeof(struct vfu_write_multi),
		sizeof(struct vfu_write_multi) + VFU_WRITE_MULTI_MAX * sizeof(struct vfu_write_one),
		0, false },
	[VFU_CMD_DEVICE_FEATURE] = { "DEVICE_FEATURE", h_unsupported, 0, VFU_MAX_XFER, 0, false },
	[VFU_CMD_MIG_DATA_READ] = { "MIG_DATA_READ", h_unsupported, 0, VFU_MAX_XFER, 0, false },
	[VFU_CMD_MIG_DATA_WRITE] = { "MIG_DATA_WRITE", h_unsupported, 0, VFU_MAX_XFER, 0, false },
};

static const struct handler unknown = { "unknown command", NULL, 0, 0, 0, true };

/* A header-only error reply (or none under NO_REPLY). */
static size_t error_reply(const struct vfu_hdr *h, void *reply, int err)
{
	if (h->flags & VFU_F_NO_REPLY)
		return 0;
	struct vfu_hdr rh = {
		.msg_id = h->msg_id, .cmd = h->cmd, .size = HDR,
		.flags = VFU_F_REPLY | VFU_F_ERROR, .error = (uint32_t)err,
	};
	memcpy(reply, &rh, sizeof(rh));
	return sizeof(rh);
}

int hal_vfu_handle(struct hal_vfu_dev *d, const void *buf, size_t len,
		   int *fds, unsigned nfds, void *reply, size_t *reply_len,
		   int *reply_fds, unsigned *nreply_fds)
{
	struct msg m = { .fds = fds, .nfds = nfds, .reply_fds = reply_fds };
	const struct handler *h;
	int rc;

	*reply_len = 0;
	*nreply_fds = 0;
	d->attached = true;
	if (len < HDR) {
		rc = -EINVAL;
		goto out_fds;
	}
	memcpy(&m.hdr, buf, HDR);
	if (m.hdr.size != len || len > MSG_MAX) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: message size %u in %zu bytes: stream error",
			   d->name, m.hdr.size, len);
		rc = -EMSGSIZE;
		goto out_fds;
	}
	if ((m.hdr.flags & VFU_F_TYPE_MASK) != VFU_F_COMMAND) {
		/* We send no commands, so a reply answers nothing: dropped,
		 * never answered. */
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: message type %u dropped",
			   d->name, m.hdr.flags & VFU_F_TYPE_MASK);
		rc = EINVAL;
		goto out_fds;
	}
	h = m.hdr.cmd < VFU_CMD__MAX && handlers[m.hdr.cmd].fn ? &handlers[m.hdr.cmd] : &unknown;
	m.h = h;
	m.size = m.hdr.size - (uint32_t)HDR;
	m.payload = (const uint8_t *)buf + HDR;
	m.reply = (uint8_t *)reply + HDR;

	if (!h->fn) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: command %u refused: unknown",
			   d->name, m.hdr.cmd);
		rc = ENOSYS;
	} else if (!d->versioned && !h->before_version) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: %s refused: before VERSION",
			   d->name, h->name);
		rc = EINVAL;
	} else if (m.size < h->min || m.size > h->max) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: %s refused: payload of %u bytes (%u..%u)",
			   d->name, h->name, m.size, h->min, h->max);
		rc = EINVAL;
	} else if (nfds > h->max_fds) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: %s refused: %u fds, takes %u",
			   d->name, h->name, nfds, h->max_fds);
		rc = EINVAL;
	} else {
		rc = h->fn(d, &m);
	}
	if (rc) {
		*reply_len = error_reply(&m.hdr, reply, rc);
		goto out_fds;
	}
	if (m.hdr.flags & VFU_F_NO_REPLY)
		goto out_fds;
	struct vfu_hdr rh = {
		.msg_id = m.hdr.msg_id, .cmd = m.hdr.cmd,
		.size = (uint32_t)HDR + m.reply_size, .flags = VFU_F_REPLY,
	};
	memcpy(reply, &rh, sizeof(rh));
	*reply_len = rh.size;
	*nreply_fds = m.nreply_fds;
out_fds:
	for (unsigned i = 0; i < nfds; i++)
		hal_close_fd(&fds[i]);
	return rc;
}

/* ---- socket ------------------------------------------------------------- */

/* Send what is left of the reply; 0 once it is all out, -EAGAIN while the
 * socket is full (the owner waits for it to be writable), another
 * -errno when the stream is broken. */
static int flush(struct hal_vfu_dev *d, int sock)
{
	while (d->tx_off < d->tx_len) {
		long n = hal_sock_send_some(sock, d->reply + d->tx_off, d->tx_len - d->tx_off,
					    d->tx_off ? NULL : d->tx_fds,
					    d->tx_off ? 0 : d->tx_nfds);
		if (n < 0)
			return (int)n;
		d->tx_off += (size_t)n;
	}
	d->tx_len = d->tx_off = 0;
	d->tx_nfds = 0;
	return 0;
}

/* Discard the rest of an oversized message, then refuse it. */
static int serve_drain(struct hal_vfu_dev *d, int sock)
{
	while (d->drain) {
		size_t want = d->drain < sizeof(d->rx) ? (size_t)d->drain : sizeof(d->rx);
		int rc;

		d->in.len = 0;
		rc = hal_sock_rx_fill(sock, &d->in, d->rx, want);
		d->drain -= d->in.len;
		if (rc) {
			if (rc != -EAGAIN)
				d->drain = 0;
			return rc;
		}
	}
	hal_sock_rx_drop(&d->in);
	d->tx_len = error_reply(&d->drain_hdr, d->reply, EMSGSIZE);
	int rc = flush(d, sock);
	return rc && rc != -EAGAIN ? rc : EMSGSIZE;
}

int hal_vfu_serve(struct hal_vfu_dev *d, int sock)
{
	struct vfu_hdr h;
	unsigned nrfds;
	int rc;

	/* A client that pipelines faster than it reads its replies waits:
	 * nothing more is read until the last reply is out. */
	if (d->tx_len && (rc = flush(d, sock)))
		return rc;
	if (d->drain)
		return serve_drain(d, sock);
	if ((rc = hal_sock_rx_fill(sock, &d->in, d->rx, HDR)))
		return rc;
	memcpy(&h, d->rx, sizeof(h));
	/* Checked before a payload byte is read. */
	if (h.size < HDR) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: message size %u: stream error",
			   d->name, h.size);
		hal_sock_rx_drop(&d->in);
		return -EMSGSIZE;
	}
	if (h.size > MSG_MAX) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP,
			   "%s: command %u of %u bytes refused: more than any command takes (%zu)",
			   d->name, h.cmd, h.size, (size_t)MSG_MAX);
		d->drain_hdr = h;
		d->drain = h.size - HDR;
		return serve_drain(d, sock);
	}
	if ((rc = hal_sock_rx_fill(sock, &d->in, d->rx, h.size)))
		return rc;
	rc = hal_vfu_handle(d, d->rx, d->in.len, d->in.fds, d->in.nfds, d->reply,
			    &d->tx_len, d->tx_fds, &nrfds);
	d->tx_nfds = nrfds;
	d->in.nfds = 0; /* handle owns them now */
	d->in.len = 0;
	if (rc < 0)
		return rc;
	int e = flush(d, sock);
	return e && e != -EAGAIN ? e : rc;
}

bool hal_vfu_tx_pending(const struct hal_vfu_dev *d)
{
	return d->tx_len != 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

/* The file behind BAR0 for notify_mmap: sized and sealed (a client must
 * not be able to shrink it under our mapping, or grow it). */
static int notify_file(void)
{
	int fd = memfd_create("virtnet-notify", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, VPCI_BAR0_SIZE) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void hal_vfu_params_default(struct hal_vfu_params *p)
{
	memset(p, 0, sizeof(*p));
	p->name = "vfu";
	p->require_sealed = true;
}

struct hal_vfu_dev *hal_vfu_create(const struct hal_vfu_params *p,
				   struct vpci *pci,
				   const struct hal_vfu_ops *ops, void *ctx)
{
	static const struct hal_vfu_ops no_ops;
	struct hal_vfu_dev *d;

	if (!p || !p->dma || !pci) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		errno = ENOMEM;
		return NULL;
	}
	snprintf(d->name, sizeof(d->name), "%s", p->name ? p->name : "vfu");
	d->p = *p;
	d->p.name = d->name;
	d->ops = ops ? ops : &no_ops;
	d->ctx = ctx;
	d->pci = pci;
	d->nq = vpci_vdev(pci)->num_queues;
	d->nvec = vpci_num_vectors(pci);
	d->client_max_fds = VFU_DEF_MAX_FDS;
	d->in.max_fds = VFU_MAX_FDS;
	d->notify_fd = -1;
	if (p->notify_mmap && (d->notify_fd = notify_file()) < 0)
		goto fail;
	d->kick = malloc(d->nq * sizeof(int));
	d->irq = malloc(d->nvec * sizeof(int));
	if (!d->kick || !d->irq)
		goto fail;
	for (unsigned v = 0; v < d->nvec; v++)
		d->irq[v] = -1;
	for (unsigned q = 0; q < d->nq; q++)
		d->kick[q] = -1;
	for (unsigned q = 0; q < d->nq; q++)
		if ((d->kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
			goto fail;
	return d;
fail:
	hal_vfu_destroy(d);
	errno = ENOMEM;
	return NULL;
}

void hal_vfu_disconnect(struct hal_vfu_dev *d)
{
	if (d->attached && d->ops->disconnect)
		d->ops->disconnect(d->ctx);
	d->attached = false;
	d->tx_len = d->tx_off = 0;
	d->tx_nfds = 0;
	windows_release(d);
	if (d->irq)
		irqs_off(d, d->nvec);
	hal_sock_rx_drop(&d->in);
	d->drain = 0;
	d->versioned = false;
	d->client_max_fds = VFU_DEF_MAX_FDS;
}

void hal_vfu_destroy(struct hal_vfu_dev *d)
{
	if (!d)
		return;
	hal_vfu_disconnect(d);
	for (unsigned q = 0; d->kick && q < d->nq; q++)
		hal_close_fd(&d->kick[q]);
	hal_close_fd(&d->notify_fd);
	free(d->kick);
	free(d->irq);
	free(d);
}

int hal_vfu_kick_fd(const struct hal_vfu_dev *d, uint16_t q)
{
	return q < d->nq ? d->kick[q] : -1;
}

bool hal_vfu_connected(const struct hal_vfu_dev *d)
{
	return d->versioned;
}

unsigned hal_vfu_dma_windows(const struct hal_vfu_dev *d)
{
	return d->nwin;
}
