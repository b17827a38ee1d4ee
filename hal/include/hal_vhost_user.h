/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hal_vhost_user — the vhost-user back end (QEMU docs/interop/vhost-user.rst)
 * of one virtio-net function: protocol and feature negotiation, the
 * front end's memory (mapped into the function's dma_space at guest
 * physical addresses), ring configuration and start/stop, kick/call fds,
 * the shared dirty log, the device config space and the in-flight region.
 *
 * The front end keeps PCI, MSI-X and the control queue; this layer sees
 * only data rings. When a ring may be processed (started by a kick fd,
 * enabled, memory and features known) it is set up as a struct vq kept in
 * the device object and handed to ops->ring_start; the packet path
 * (vnet_dp) runs on it. ops->ring_stop takes it back.
 *
 * Threads: the library owns no threads and no event loop. Every function
 * runs on the owner's control thread (one device object is never used
 * from two threads); the owner calls hal_vhu_serve() when the connected
 * socket is readable. Lcores only see the vq (between ring_start and
 * ring_stop) and the dma_space (RCU-published: unmapping waits for the
 * grace period of params.qsbr before memory is unmapped).
 *
 * The front end is untrusted. Every message's size is checked against the
 * request's table entry before a payload byte is read; payload sizes
 * above HAL_VHU_MAX_PAYLOAD break the stream (the owner disconnects) and
 * nothing of that message is acted on; fds a request does not take are
 * closed; memory is mapped only after fstat/seal checks; ring addresses
 * are translated through the memory table and every ring access is
 * checked by emu/dma. A bad message is refused (non-zero REPLY_ACK when
 * the front end asked) with a rate-limited log line naming the function,
 * and never affects another device.
 */
#ifndef HAL_VHOST_USER_H
#define HAL_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rte_rcu_qsbr;
struct dma_space;
struct vq;

/* ---- protocol numbers (vhost-user.rst) -------------------------------- */
#define HAL_VHU_HDR_SIZE        12
#define HAL_VHU_VERSION         0x1u
#define HAL_VHU_FLAG_REPLY      (1u << 2)
#define HAL_VHU_FLAG_NEED_REPLY (1u << 3)

/* Largest payload any request we know defines: SET_CONFIG / GET_CONFIG
 * with 256 bytes of config space (12 + 256); SET_MEM_TABLE with 8 regions
 * is 264. A larger size field is a stream error. */
#define HAL_VHU_MAX_PAYLOAD     268u
#define HAL_VHU_MSG_MAX         (HAL_VHU_HDR_SIZE + HAL_VHU_MAX_PAYLOAD)
#define HAL_VHU_MAX_FDS         8
#define HAL_VHU_MAX_MEM_SLOTS   32 /* GET_MAX_MEM_SLOTS */
#define HAL_VHU_MEM_TABLE_MAX   8  /* regions in one SET_MEM_TABLE */
#define HAL_VHU_MAX_QUEUE_PAIRS 128 /* ring index is 8 bits in KICK/CALL */
#define HAL_VHU_CONFIG_MAX      256

enum hal_vhu_request {
	HAL_VHU_GET_FEATURES = 1,
	HAL_VHU_SET_FEATURES = 2,
	HAL_VHU_SET_OWNER = 3,
	HAL_VHU_RESET_OWNER = 4,
	HAL_VHU_SET_MEM_TABLE = 5,
	HAL_VHU_SET_LOG_BASE = 6,
	HAL_VHU_SET_LOG_FD = 7,
	HAL_VHU_SET_VRING_NUM = 8,
	HAL_VHU_SET_VRING_ADDR = 9,
	HAL_VHU_SET_VRING_BASE = 10,
	HAL_VHU_GET_VRING_BASE = 11,
	HAL_VHU_SET_VRING_KICK = 12,
	HAL_VHU_SET_VRING_CALL = 13,
	HAL_VHU_SET_VRING_ERR = 14,
	HAL_VHU_GET_PROTOCOL_FEATURES = 15,
	HAL_VHU_SET_PROTOCOL_FEATURES = 16,
	HAL_VHU_GET_QUEUE_NUM = 17,
	HAL_VHU_SET_VRING_ENABLE = 18,
	HAL_VHU_SEND_RARP = 19,
	HAL_VHU_NET_SET_MTU = 20,
	HAL_VHU_SET_BACKEND_REQ_FD = 21,
	HAL_VHU_IOTLB_MSG = 22,
	HAL_VHU_GET_CONFIG = 24,
	HAL_VHU_SET_CONFIG = 25,
	HAL_VHU_GET_INFLIGHT_FD = 31,
	HAL_VHU_SET_INFLIGHT_FD = 32,
	HAL_VHU_RESET_DEVICE = 34,
	HAL_VHU_GET_MAX_MEM_SLOTS = 36,
	HAL_VHU_ADD_MEM_REG = 37,
	HAL_VHU_REM_MEM_REG = 38,
	HAL_VHU_SET_STATUS = 39,
	HAL_VHU_GET_STATUS = 40,
	HAL_VHU_REQUEST_MAX = 41
};

/* Virtio feature bits that belong to vhost-user, not to the device. */
#define HAL_VHU_F_LOG_ALL            26 /* VHOST_F_LOG_ALL */
#define HAL_VHU_F_PROTOCOL_FEATURES  30 /* VHOST_USER_F_PROTOCOL_FEATURES */

/* Protocol feature bits. */
#define HAL_VHU_PF_MQ                  0
#define HAL_VHU_PF_LOG_SHMFD           1
#define HAL_VHU_PF_RARP                2
#define HAL_VHU_PF_REPLY_ACK           3
#define HAL_VHU_PF_MTU                 4
#define HAL_VHU_PF_BACKEND_REQ         5 /* never offered */
#define HAL_VHU_PF_CONFIG              9
#define HAL_VHU_PF_INFLIGHT_SHMFD      12
#define HAL_VHU_PF_RESET_DEVICE        13
#define HAL_VHU_PF_CONFIGURE_MEM_SLOTS 15
#define HAL_VHU_PF_STATUS              16

#define HAL_VHU_VRING_IDX_MASK 0xffu   /* KICK/CALL/ERR u64: ring index */
#define HAL_VHU_VRING_NOFD     (1u << 8) /* ... no fd: polling */
#define HAL_VHU_VRING_F_LOG    1u      /* SET_VRING_ADDR flags */

/* ---- provisioning ----------------------------------------------------- */
struct hal_vhu_params {
	const char *name;         /* function name for log lines (copied) */
	uint64_t features;        /* virtio features to offer (VIRTIO_F_*,
				   * VIRTIO_NET_F_*); ACCESS_PLATFORM and the
				   * two vhost-user bits are stripped */
	uint16_t max_queue_pairs; /* 1..HAL_VHU_MAX_QUEUE_PAIRS */
	uint16_t max_queue_size;  /* power of two, 1..32768 */
	uint16_t mtu;             /* config space mtu (with VIRTIO_NET_F_MTU) */
	uint8_t mac[6];           /* config space mac */
	bool require_sealed;      /* memory fds that support seals must carry
				   * F_SEAL_SHRINK (default true) */
	struct rte_rcu_qsbr *qsbr; /* the lcores' RCU variable, or NULL */
	bool resume_sessions;     /* a front end may go on with its session
				   * on a new connection without SET_OWNER
				   * and SET_PROTOCOL_FEATURES, as DPDK's
				   * virtio_user server does when a client
				   * back end reconnects (default false) */
};

/* Defaults: one queue pair of 256, mtu 1500, require_sealed. */
void hal_vhu_params_default(struct hal_vhu_params *p);

/*
 * What the owner does for the device. Every callback runs on the control
 * thread, inside hal_vhu_serve/handle/disconnect/destroy.
 */
struct hal_vhu_ops {
	/* Ring idx may be processed: `vq` is set up (it lives in the device
	 * object and stays valid until ring_stop) over hal_vhu_dma(); kick_fd
	 * is the doorbell eventfd, -1 when the front end polls (the fd stays
	 * owned by the device). 0, or a negative errno: the ring stays
	 * stopped. */
	int (*ring_start)(void *ctx, uint16_t idx, struct vq *vq, int kick_fd);
	/* Stop processing ring idx: on return no lcore touches vq and the
	 * kick fd it was given is no longer polled (the owner's bounded
	 * handshake). The indexes are read afterwards; the fd may be
	 * closed. */
	void (*ring_stop)(void *ctx, uint16_t idx, struct vq *vq);
	/* Interrupts of ring idx go to call_fd from now on (-1: none). On
	 * return nothing may write the previous fd any more: the device
	 * closes it next. Optional. */
	void (*ring_call)(void *ctx, uint16_t idx, int call_fd);
	/* SEND_RARP: announce mac. Optional. */
	void (*rarp)(void *ctx, const uint8_t mac[6]);
	/* SET_FEATURES accepted: the negotiated device features (without
	 * the vhost-user bits LOG_ALL and PROTOCOL_FEATURES). Optional. */
	void (*features)(void *ctx, uint64_t net_features);
	/* NET_SET_MTU: 0 to accept, or a negative errno. Optional. */
	int (*set_mtu)(void *ctx, uint16_t mtu);
	/* SET_STATUS: the virtio device status the front end reports. */
	void (*status)(void *ctx, uint8_t status);
};

struct hal_vhu_dev;

/* NULL with errno set (EINVAL: bad params; ENOMEM). */
struct hal_vhu_dev *hal_vhu_create(const struct hal_vhu_params *p,
				   const struct hal_vhu_ops *ops, void *ctx);
/* Disconnects (see below) and frees. */
void hal_vhu_destroy(struct hal_vhu_dev *d);

/*
 * Read (MSG_DONTWAIT) what is available of ONE message from the connected
 * socket, and when it is complete handle it and write the reply it needs.
 * Returns what hal_vhu_handle returned for a complete message: 0
 * (accepted) or a positive errno (refused, the stream is fine), -EAGAIN
 * when it is incomplete (bytes and fds are kept for the next call),
 * -ECONNRESET on end of file, another negative errno when the stream is
 * broken (oversized payload, unreadable, reply not written): the owner
 * then closes the socket and calls hal_vhu_disconnect.
 */
int hal_vhu_serve(struct hal_vhu_dev *d, int sock_fd);

/*
 * Handle one complete message (header + payload, len bytes) without a
 * socket. Ownership of fds[0..nfds) passes to the device in every case:
 * the ones the request takes are kept, the others closed. `reply` has room
 * for *reply_len bytes (at least HAL_VHU_MSG_MAX); on return *reply_len is
 * the reply to send (0: none) and *reply_fd an fd to attach to it (-1:
 * none; owned by the device, do not close). Returns 0 (accepted), a
 * positive errno (refused; the front end got a non-zero ack if it asked),
 * or a negative errno: stream error, nothing acted on, disconnect.
 */
int hal_vhu_handle(struct hal_vhu_dev *d, const void *msg, size_t len,
		   int *fds, unsigned nfds, void *reply, size_t *reply_len,
		   int *reply_fd);

/* The front end went away: stop every ring, unmap memory, the log and the
 * in-flight region, close every fd, forget what was negotiated and any
 * partial message. Provisioning stays: a new connection starts fresh. */
void hal_vhu_disconnect(struct hal_vhu_dev *d);

/* ---- accessors (control thread) -------------------------------------- */
struct dma_space *hal_vhu_dma(const struct hal_vhu_dev *d);
/* Negotiated device features (vhost-user bits stripped), and whether
 * SET_FEATURES has been accepted yet. */
uint64_t hal_vhu_features(const struct hal_vhu_dev *d);
bool hal_vhu_features_ok(const struct hal_vhu_dev *d);
uint64_t hal_vhu_protocol_features(const struct hal_vhu_dev *d);
uint16_t hal_vhu_num_rings(const struct hal_vhu_dev *d);
/* The ring's vq while it runs (between ring_start and ring_stop), else
 * NULL. */
struct vq *hal_vhu_ring_vq(struct hal_vhu_dev *d, uint16_t idx);
int hal_vhu_ring_kick_fd(const struct hal_vhu_dev *d, uint16_t idx);
int hal_vhu_ring_call_fd(const struct hal_vhu_dev *d, uint16_t idx);
bool hal_vhu_ring_enabled(const struct hal_vhu_dev *d, uint16_t idx);
/* The in-flight tracking region (GET_INFLIGHT_FD / SET_INFLIGHT_FD): its
 * mapping and layout, or NULL. Ring i records into area i (struct
 * vq_ifl_split / vq_ifl_packed of vq_inflight_bytes(queue_size) bytes) from
 * when it is set up until GET_VRING_BASE; a ring set up on an area a
 * previous back end left pops that one's chains in flight again first
 * (vq_inflight_attach). While a ring records, GET/SET_INFLIGHT_FD are
 * refused (EBUSY): front ends send them before starting rings. */
void *hal_vhu_inflight(const struct hal_vhu_dev *d, uint64_t *size,
		       uint16_t *num_queues, uint16_t *queue_size);
/* Whether the shared dirty log is on (LOG_ALL acked with a log base). */
bool hal_vhu_logging(const struct hal_vhu_dev *d);
uint8_t hal_vhu_status(const struct hal_vhu_dev *d);
uint16_t hal_vhu_mtu(const struct hal_vhu_dev *d);

#endif /* HAL_VHOST_USER_H */
