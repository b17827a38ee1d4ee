/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One vfio-user function: device + PCI function + server + representor +
 * datapath. See vfu.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <ev.h>

#include "board.h"
#include "config.h"
#include "dma.h"
#include "fn.h"
#include "hal_log.h"
#include "hal_sock.h"
#include "hal_vfio_user.h"
#include "vfu.h"
#include "virtio_net.h"
#include "virtio_pci.h"
#include "vnet_dp.h"

#define COMP "vfu"
#define VFU_MAX_VFS 64

struct vfu_fn {
	struct fn fn;               /* first: representor, datapath, telemetry */
	const struct board *b;
	struct vcfg_dev cd;         /* as provisioned (a VF: derived from its PF's) */
	unsigned pf;
	int vf;                     /* -1: the PF */
	struct vfu_fn *parent;      /* a VF's PF */
	struct dma_space *dma;
	struct vnet_dev net;
	bool net_ok;
	struct vpci *pci;
	struct hal_vfu_dev *vfu;
	ev_io ctrl_w;               /* the control queue's doorbell */
	bool removing;              /* a VF whose VF Enable was cleared */
	struct vfu_fn *vfs[VFU_MAX_VFS];
	uint16_t n_vfs;
};

static struct vfu_fn *fn_create(const struct fn_env *env, const struct board *b,
				const struct vcfg_dev *cd, unsigned pf, int vf,
				struct vfu_fn *parent, char *err, size_t errlen);
static void fn_destroy(struct vfu_fn *f);

/* ---- the datapath's view --------------------------------------------------- */
static void publish(struct vfu_fn *f)
{
	f->fn.features = vdev_features(&f->net.vdev);
	fn_publish(&f->fn, vnet_dp_conf_new(&f->net));
}

static bool data_queue(const struct vfu_fn *f, uint16_t q)
{
	return q < f->fn.nq;
}

/* ---- the control queue: processed here, when kicked ------------------------ */
static void on_ctrl_kick(struct ev_loop *loop, ev_io *w, int revents)
{
	struct vfu_fn *f = w->data;
	uint64_t n;

	(void)loop;
	(void)revents;
	if (read(w->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	if (vnet_ctrl_process(&f->net) == -EIO)
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: control queue broken: device needs reset",
			   f->fn.name);
}

static void ctrl_watch(struct vfu_fn *f, bool on)
{
	int q;

	if (ev_is_active(&f->ctrl_w))
		ev_io_stop(f->fn.env.loop, &f->ctrl_w);
	if (!on || (q = vnet_ctrl_queue_index(&f->net)) < 0 || !f->net.vdev.q[q].enabled)
		return;
	ev_io_init(&f->ctrl_w, on_ctrl_kick, hal_vfu_kick_fd(f->vfu, (uint16_t)q), EV_READ);
	f->ctrl_w.data = f;
	ev_io_start(f->fn.env.loop, &f->ctrl_w);
	/* Commands made available before DRIVER_OK, without a kick since. */
	vnet_ctrl_process(&f->net);
}

/* ---- what the device asks of us (vnet_hooks) -------------------------------- */
static void h_apply(struct vnet_dev *n, unsigned what)
{
	(void)what;
	publish(n->hooks_ctx);
}

/* DRIVER_OK, or a queue enabled again after its reset: run every enabled
 * data queue that is not running, interrupts first. */
static void h_start(struct vnet_dev *n)
{
	struct vfu_fn *f = n->hooks_ctx;

	for (uint16_t q = 0; q < f->fn.nq && q < n->vdev.num_queues; q++) {
		struct vdev_queue *vq = &n->vdev.q[q];

		if (!vq->enabled || vq->resetting || f->fn.running[q])
			continue;
		dp_set_call_fd(&f->fn.dd, q, vpci_vector_fd(f->pci, vq->vector));
		if (fn_queue_start(&f->fn, q, &vq->vq, hal_vfu_kick_fd(f->vfu, q)))
			HAL_LOG(HAL_LOG_ERR, COMP, "%s: queue %u: the datapath refused it",
				f->fn.name, q);
	}
	ctrl_watch(f, true);
	publish(f);
}

static void stop_queue(struct vfu_fn *f, uint16_t q)
{
	fn_queue_stop(&f->fn, q);
	dp_set_call_fd(&f->fn.dd, q, -1);
}

static void h_quiesce(struct vnet_dev *n)
{
	struct vfu_fn *f = n->hooks_ctx;

	for (uint16_t q = 0; q < f->fn.nq; q++)
		stop_queue(f, q);
	ctrl_watch(f, false);
	publish(f);
	vdev_quiesced(&n->vdev);
}

static void h_quiesce_queue(struct vnet_dev *n, uint16_t q)
{
	struct vfu_fn *f = n->hooks_ctx;

	if (data_queue(f, q))
		stop_queue(f, q);
	else
		ctrl_watch(f, false);
	publish(f);
	vdev_queue_quiesced(&n->vdev, q);
}

static void h_config_irq(struct vnet_dev *n)
{
	struct vfu_fn *f = n->hooks_ctx;

	vpci_config_irq(f->pci);
}

static void h_queue_irq(struct vnet_dev *n, uint16_t q)
{
	struct vfu_fn *f = n->hooks_ctx;

	if (q < n->vdev.num_queues)
		vpci_raise(f->pci, n->vdev.q[q].vector);
}

static const struct vnet_hooks hooks = {
	.apply = h_apply, .start = h_start, .quiesce = h_quiesce,
	.quiesce_queue = h_quiesce_queue, .config_irq = h_config_irq,
	.queue_irq = h_queue_irq,
};

/* ---- what the PCI function asks of us (vpci_ops) ---------------------------- */

/* A notify-area write that did not come through an ioeventfd: the same
 * doorbell. */
static void p_notify(struct vpci *p, uint16_t q, uint32_t value)
{
	struct vfu_fn *f = vpci_priv(p);
	int fd = hal_vfu_kick_fd(f->vfu, q);

	(void)value;
	if (fd >= 0 && eventfd_write(fd, 1) < 0)
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: doorbell %u: %s", f->fn.name, q,
			   strerror(errno));
}

/* Masking changed where vector v's interrupts go: every running queue on
 * it follows; dp_set_call_fd returns once no lcore writes the old fd. */
static void p_vector_changed(struct vpci *p, uint16_t v)
{
	struct vfu_fn *f = vpci_priv(p);

	for (uint16_t q = 0; q < f->fn.nq; q++)
		if (f->fn.running[q] && f->net.vdev.q[q].vector == v)
			dp_set_call_fd(&f->fn.dd, q, vpci_vector_fd(p, v));
}

static void vf_remove(struct vfu_fn *pf, unsigned k);

static void p_sriov(struct vpci *p, uint16_t num_vfs, bool enable)
{
	struct vfu_fn *f = vpci_priv(p);
	char err[256];

	if (!enable) {
		for (unsigned k = f->n_vfs; k-- > 0;)
			vf_remove(f, k);
		f->n_vfs = 0;
		return;
	}
	for (unsigned k = f->n_vfs; k < num_vfs && k < VFU_MAX_VFS; k++) {
		f->vfs[k] = fn_create(&f->fn.env, f->b, &f->cd, f->pf, (int)k, f, err,
				      sizeof(err));
		if (!f->vfs[k]) {
			HAL_LOG(HAL_LOG_ERR, COMP, "%s: VF %u: %s", f->fn.name, k, err);
			break;
		}
		f->n_vfs = (uint16_t)(k + 1);
	}
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: %u VF%s enabled", f->fn.name, f->n_vfs,
		f->n_vfs == 1 ? "" : "s");
}

static const struct vpci_ops pci_ops = {
	.sriov = p_sriov, .vector_changed = p_vector_changed, .notify = p_notify,
};

/* ---- the client ------------------------------------------------------------- */

/* Before its memory goes: the device resets, so every queue stops. */
static void s_disconnect(void *ctx)
{
	struct vfu_fn *f = ctx;

	if (vdev_get_status(&f->net.vdev))
		vdev_set_status(&f->net.vdev, 0);
}

static const struct hal_vfu_ops vfu_ops = { .disconnect = s_disconnect };

static int c_serve(void *ctx, int fd)
{
	return hal_vfu_serve(((struct vfu_fn *)ctx)->vfu, fd);
}

static bool c_tx_pending(void *ctx)
{
	return hal_vfu_tx_pending(((struct vfu_fn *)ctx)->vfu);
}

static void c_gone(void *ctx, const char *why)
{
	struct vfu_fn *f = ctx;

	hal_vfu_disconnect(f->vfu);
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: client gone (%s); the function stays", f->fn.name, why);
	/* A VF whose VF Enable went while it had a client. */
	if (f->removing)
		fn_destroy(f);
}

static const struct fn_conn_ops conn_ops = {
	.serve = c_serve, .tx_pending = c_tx_pending, .gone = c_gone,
};

/* VF Enable cleared: no new client; gone now, or when its client is. The
 * PF forgets it either way (the VF frees itself later). */
static void vf_remove(struct vfu_fn *pf, unsigned k)
{
	struct vfu_fn *vf = pf->vfs[k];

	pf->vfs[k] = NULL;
	if (!vf)
		return;
	fn_unlisten(&vf->fn);
	vf->parent = NULL;
	if (vf->fn.cfd < 0) {
		fn_destroy(vf);
		return;
	}
	vf->removing = true;
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: VF Enable cleared: removed when its client goes",
		vf->fn.name);
}

/* ---- life cycle ---------------------------------------------------------------- */

/* mac + n, as a 48-bit number. */
static void mac_add(const uint8_t base[6], uint32_t n, uint8_t out[6])
{
	uint64_t v = 0;

	for (int i = 0; i < 6; i++)
		v = v << 8 | base[i];
	v += n;
	for (int i = 5; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

/* "<dir>/<name>.sock" next to the PF's socket. */
static int vf_socket(const char *pf_sock, const char *name, char *out, size_t len)
{
	const char *slash = strrchr(pf_sock, '/');
	int dirlen = slash ? (int)(slash - pf_sock + 1) : 0;
	int n = snprintf(out, len, "%.*s%s.sock", dirlen, pf_sock, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static struct vfu_fn *fn_create(const struct fn_env *env, const struct board *b,
				const struct vcfg_dev *cd, unsigned pf, int vf,
				struct vfu_fn *parent, char *err, size_t errlen)
{
	struct vfu_fn *f = calloc(1, sizeof(*f));
	struct hal_vfu_params hp;
	char rep_name[HAL_REP_IFNAMSIZ];
	const char *why = NULL;

	if (!f) {
		snprintf(err, errlen, "%s: no memory", cd->name);
		return NULL;
	}
	f->fn.lfd = f->fn.cfd = -1;
	f->b = b;
	f->pf = pf;
	f->vf = vf;
	f->parent = parent;
	f->cd = *cd;
	if (vf >= 0) {
		int n = snprintf(f->cd.name, sizeof(f->cd.name), "%svf%d", cd->name, vf);
		if (n < 0 || (size_t)n >= sizeof(f->cd.name)) {
			snprintf(err, errlen, "%s: VF %d: name too long", cd->name, vf);
			goto fail;
		}
		if (vf_socket(cd->socket, f->cd.name, f->cd.socket, sizeof(f->cd.socket))) {
			snprintf(err, errlen, "%s: socket path too long", f->cd.name);
			goto fail;
		}
		mac_add(cd->params.mac, (uint32_t)(vf + 1) << 8, f->cd.params.mac);
	}
	snprintf(f->fn.sock, sizeof(f->fn.sock), "%s", f->cd.socket);

	/* The device and its PCI function. */
	f->dma = dma_space_create(env->qsbr);
	if (!f->dma) {
		snprintf(err, errlen, "%s: no memory", f->cd.name);
		goto fail;
	}
	if (vnet_params_validate(&f->cd.params, &why) ||
	    vnet_init(&f->net, &f->cd.params, f->dma, f->cd.name)) {
		snprintf(err, errlen, "%s: device: %s", f->cd.name, why ? why : "no memory");
		goto fail;
	}
	f->net_ok = true;
	vnet_set_hooks(&f->net, &hooks, f);
	uint32_t vectors = f->net.vdev.num_queues + 1u;
	struct vpci_params pp = {
		.device_id = VPCI_DEVICE_NET,
		.subsys_vendor_id = VPCI_VENDOR_VIRTIO,
		.subsys_id = 1, /* virtio-net */
		.num_vectors = (uint16_t)(vectors < VPCI_MSIX_MAX ? vectors : VPCI_MSIX_MAX),
		.total_vfs = vf < 0 ? (uint16_t)(b->max_vfs_per_pf < VFU_MAX_VFS ?
						 b->max_vfs_per_pf : VFU_MAX_VFS) : 0,
		.vf_offset = 1, .vf_stride = 1, .vf_device_id = VPCI_DEVICE_NET,
		.is_vf = vf >= 0,
	};
	f->pci = vpci_create(&f->net.vdev, &pp, &pci_ops, f);
	if (!f->pci) {
		snprintf(err, errlen, "%s: PCI function: %s", f->cd.name, strerror(errno));
		goto fail;
	}
	hal_vfu_params_default(&hp);
	hp.name = f->cd.name;
	hp.dma = f->dma;
	hp.require_sealed = env->require_sealed;
	/* Doorbells written into shared memory wake nobody: only when the
	 * lcores poll anyway. */
	hp.notify_mmap = env->poll;
	f->vfu = hal_vfu_create(&hp, f->pci, &vfu_ops, f);
	if (!f->vfu) {
		snprintf(err, errlen, "%s: vfio-user server: %s", f->cd.name, strerror(errno));
		goto fail;
	}

	/* Representor and datapath. */
	if (board_rep_name(b, pf, vf, rep_name, sizeof(rep_name))) {
		snprintf(err, errlen, "%s: no representor name for PF %u VF %d", f->cd.name, pf, vf);
		goto fail;
	}
	if (fn_init(&f->fn, env, f->cd.name, "vfio-user", rep_name,
		    f->cd.params.max_queue_pairs, f->cd.params.max_queue_size,
		    f->cd.params.mtu, (pf + (unsigned)(vf + 1)) % env->n_lcores, err, errlen))
		goto fail;
	publish(f);

	if (fn_listen(&f->fn, &conn_ops, f, err, errlen))
		goto fail;
	HAL_LOG(HAL_LOG_INFO, COMP, "%s: vfio-user on %s, representor %s (port %u), %u queue pair%s%s",
		f->fn.name, f->fn.sock, f->fn.rep.ifname, f->fn.rep.port, f->fn.max_pairs,
		f->fn.max_pairs == 1 ? "" : "s", vf < 0 && pp.total_vfs ? ", SR-IOV" : "");
	return f;
fail:
	fn_destroy(f);
	return NULL;
}

static void fn_destroy(struct vfu_fn *f)
{
	if (!f)
		return;
	/* The PF going (shutdown, or its creation failed) takes its VFs
	 * with it, clients or not. */
	for (unsigned k = f->n_vfs; k-- > 0;) {
		struct vfu_fn *vf = f->vfs[k];

		f->vfs[k] = NULL;
		if (vf)
			vf->parent = NULL;
		fn_destroy(vf);
	}
	if (f->parent) /* a VF going on its own (creation failed) */
		for (unsigned k = 0; k < f->parent->n_vfs; k++)
			if (f->parent->vfs[k] == f)
				f->parent->vfs[k] = NULL;
	/* The device resets (queues stop) before memory and fds go. */
	if (f->vfu)
		hal_vfu_destroy(f->vfu);
	if (f->net_ok && vdev_get_status(&f->net.vdev))
		vdev_set_status(&f->net.vdev, 0);
	if (ev_is_active(&f->ctrl_w))
		ev_io_stop(f->fn.env.loop, &f->ctrl_w);
	fn_fini(&f->fn);
	vpci_destroy(f->pci);
	if (f->net_ok)
		vnet_fini(&f->net);
	dma_space_destroy(f->dma);
	free(f);
}

struct vfu_fn *vfu_create(const struct fn_env *env, const struct board *b,
			  const struct vcfg_dev *cd, unsigned index, char *err,
			  size_t errlen)
{
	return fn_create(env, b, cd, index, -1, NULL, err, errlen);
}

void vfu_destroy(struct vfu_fn *f)
{
	fn_destroy(f);
}
