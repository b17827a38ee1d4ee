/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The simulated host's vfio-user client (QEMU docs/interop/vfio-user.rst):
 *   "Header"                    16 bytes; replies echo id and command; the
 *                               Error bit carries an errno
 *   "Command Concurrency"       server commands may come between a request
 *                               and its reply: refused, then we wait on
 *   "Message sizes"             argsz in a request is the room for the reply;
 *                               in a reply, the room it needs
 *   "VFIO_USER_VERSION"         capabilities JSON, defaults when absent
 *   "VFIO_USER_DMA_MAP/UNMAP", "..._DEVICE_GET_INFO", "..._GET_REGION_INFO"
 *   (sparse mmap capability), "..._GET_REGION_IO_FDS", "..._GET_IRQ_INFO",
 *   "..._SET_IRQS", "Read and Write Operations" (count <= the peer's
 *   max_data_xfer_size), "VFIO_USER_DEVICE_RESET".
 *
 * One request is in flight at a time. The socket is non-blocking and every
 * wait is a poll() against the request's deadline, so the whole exchange —
 * send, reply, fds, draining — is bounded by the connection's timeout. The
 * server is not trusted: every reply is checked against its request before
 * a byte of it is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "hal_log.h"
#include "sim_vfu.h"

/* Log why and return rc. */
#define FAIL(rc, ...) hal_log_fail((rc), COMP, __VA_ARGS__)
#define COMP "vfu"

#define HDR              sizeof(struct vfu_hdr)
#define SEND_FDS_MAX     64          /* fds we put in one message */
#define VERSION_JSON_MAX 4096        /* a longer VERSION reply is refused */
#define DRAIN_MAX        (1u << 20)  /* reply excess we read past to keep the
				      * stream; beyond it we give up */
#define INFO_FIRST       128         /* first argsz for REGION_INFO: the
				      * struct and a few capabilities */
#define INFO_MAX         65536       /* a larger argsz is refused */
#define MIN(a, b)        ((a) < (b) ? (a) : (b))

struct sim_vfu {
	int fd;
	int timeout_ms;
	int dead;            /* 0, or why the stream was lost */
	uint16_t msg_id;
	uint32_t nmaps;      /* DMA windows mapped */
	struct sim_vfu_caps caps;
};

/* One request and where its reply goes. */
struct call {
	uint16_t cmd;
	struct iovec req[2]; /* payload: fixed part, then data */
	const int *fds;      /* sent with SCM_RIGHTS */
	unsigned nfds;
	struct iovec rep[2]; /* the reply payload fills these in order */
	size_t rep_min;      /* a shorter reply is refused */
	int *rfds;           /* fds received; the rest are closed */
	unsigned rfds_max;
	size_t rep_len;      /* out */
	unsigned nrfds;      /* out */
};

/* fds that came with the message being read. */
struct rx {
	int fds[VFU_MAX_FDS];
	unsigned n;
	bool lost;           /* more than we take: the kernel dropped some */
};

static const char *const cmd_names[VFU_CMD__MAX] = {
	[VFU_CMD_VERSION] = "VERSION",
	[VFU_CMD_DMA_MAP] = "DMA_MAP",
	[VFU_CMD_DMA_UNMAP] = "DMA_UNMAP",
	[VFU_CMD_DEVICE_GET_INFO] = "DEVICE_GET_INFO",
	[VFU_CMD_DEVICE_GET_REGION_INFO] = "GET_REGION_INFO",
	[VFU_CMD_DEVICE_GET_REGION_IO_FDS] = "GET_REGION_IO_FDS",
	[VFU_CMD_DEVICE_GET_IRQ_INFO] = "GET_IRQ_INFO",
	[VFU_CMD_DEVICE_SET_IRQS] = "SET_IRQS",
	[VFU_CMD_REGION_READ] = "REGION_READ",
	[VFU_CMD_REGION_WRITE] = "REGION_WRITE",
	[VFU_CMD_DMA_READ] = "DMA_READ",
	[VFU_CMD_DMA_WRITE] = "DMA_WRITE",
	[VFU_CMD_DEVICE_RESET] = "DEVICE_RESET",
};

static const char *cmd_name(unsigned cmd)
{
	return cmd < VFU_CMD__MAX && cmd_names[cmd] ? cmd_names[cmd] : "?";
}

static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline - sim_now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* Send the whole message; fds go with its first bytes. */
static int send_msg(int fd, struct iovec *iov, int iovcnt, const int *fds,
		    unsigned nfds, int64_t deadline)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * SEND_FDS_MAX)];
	} u;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
	int rc = 0;

	if (nfds > SEND_FDS_MAX)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	while (mh.msg_iovlen) {
		ssize_t n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			rc = wait_fd(fd, POLLOUT, deadline);
			if (rc)
				return rc;
			continue;
		}
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (mh.msg_iovlen && (size_t)n >= mh.msg_iov->iov_len) {
			n -= (ssize_t)mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen) {
			mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + n;
			mh.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static void take_fds(struct msghdr *mh, struct rx *rx)
{
	struct cmsghdr *cm;

	if (mh->msg_flags & MSG_CTRUNC)
		rx->lost = true;
	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (rx->n < VFU_MAX_FDS) {
				rx->fds[rx->n++] = fd;
			} else {
				close(fd);
				rx->lost = true;
			}
		}
	}
}

static void rx_close(struct rx *rx)
{
	for (unsigned i = 0; i < rx->n; i++)
		close(rx->fds[i]);
	rx->n = 0;
}

/* Exactly len bytes: a stream socket may hand a message over in pieces. */
static int recv_exact(int fd, void *buf, size_t len, struct rx *rx,
		      int64_t deadline)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * VFU_MAX_FDS)];
	} u;
	uint8_t *p = buf;

	while (len) {
		struct iovec iov = { .iov_base = p, .iov_len = len };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
		};
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0) {
			int rc;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			rc = wait_fd(fd, POLLIN, deadline);
			if (rc)
				return rc;
			continue;
		}
		take_fds(&mh, rx);
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int drain(int fd, size_t len, struct rx *rx, int64_t deadline)
{
	uint8_t sink[512];
	int rc = 0;

	while (len && !rc) {
		size_t n = MIN(len, sizeof(sink));

		rc = recv_exact(fd, sink, n, rx, deadline);
		len -= n;
	}
	return rc;
}

/*
 * A command from the server while we wait ("Command Concurrency"): only
 * DMA_READ/WRITE exist, and we never offer memory without an fd, so each
 * is read whole and answered ENOTSUP; then the wait goes on.
 */
static int refuse_command(struct sim_vfu *c, const struct vfu_hdr *h,
			  struct rx *rx, int64_t deadline)
{
	struct vfu_hdr r = {
		.msg_id = h->msg_id, .cmd = h->cmd, .size = HDR,
		.flags = VFU_F_REPLY | VFU_F_ERROR, .error = ENOTSUP,
	};
	struct iovec iov = { .iov_base = &r, .iov_len = HDR };
	int rc;

	if (h->size - HDR > DRAIN_MAX)
		return -EPROTO;
	rc = drain(c->fd, h->size - HDR, rx, deadline);
	rx_close(rx);
	if (rc)
		return rc;
	HAL_WARN(COMP, "server command %u (%s) refused: our memory is shared "
		 "by fd only", h->cmd, cmd_name(h->cmd));
	if (h->flags & VFU_F_NO_REPLY)
		return 0;
	return send_msg(c->fd, &iov, 1, NULL, 0, deadline);
}

/* The stream is lost: nothing later on this connection can be trusted. */
static int lose(struct sim_vfu *c, const char *cmd, int rc, const char *why)
{
	c->dead = rc;
	if (rc == -ETIMEDOUT)
		return FAIL(rc, "%s: no reply within %d ms: connection dropped",
			       cmd, c->timeout_ms);
	if (rc == -ECONNRESET)
		return FAIL(rc, "%s: the server closed the connection", cmd);
	return FAIL(rc, "%s: %s: connection dropped", cmd,
		       why ? why : strerror(-rc));
}

/* Send x's request and wait for its reply. */
static int call(struct sim_vfu *c, struct call *x)
{
	const char *name = cmd_name(x->cmd);
	size_t plen = x->req[0].iov_len + x->req[1].iov_len;
	size_t room = x->rep[0].iov_len + x->rep[1].iov_len;
	size_t left, take, got = 0;
	struct rx rx = { .n = 0 };
	struct vfu_hdr h;
	struct iovec iov[3];
	int64_t deadline;
	uint16_t id;
	int rc;

	x->rep_len = 0;
	x->nrfds = 0;
	if (c->dead)
		return -ENOTCONN;
	if (plen > UINT32_MAX - HDR)
		return -EMSGSIZE;
	id = ++c->msg_id;
	h = (struct vfu_hdr){
		.msg_id = id, .cmd = x->cmd, .size = (uint32_t)(HDR + plen),
		.flags = VFU_F_COMMAND,
	};
	iov[0] = (struct iovec){ .iov_base = &h, .iov_len = HDR };
	iov[1] = x->req[0];
	iov[2] = x->req[1];
	deadline = sim_now_ms() + c->timeout_ms;
	rc = send_msg(c->fd, iov, 3, x->fds, x->nfds, deadline);
	if (rc) {
		rc = lose(c, name, rc, NULL);
		goto out;
	}

	for (;;) {
		rc = recv_exact(c->fd, &h, HDR, &rx, deadline);
		if (rc) {
			rc = lose(c, name, rc, NULL);
			goto out;
		}
		if (h.size < HDR) {
			rc = lose(c, name, -EPROTO, "reply size below the header's");
			goto out;
		}
		if ((h.flags & VFU_F_TYPE_MASK) != VFU_F_COMMAND)
			break;
		rc = refuse_command(c, &h, &rx, deadline);
		if (rc) {
			rc = lose(c, name, rc, NULL);
			goto out;
		}
	}
	/* One request in flight: a reply to anything else means the server
	 * lost track, and ours may still come to be taken for the next. */
	if ((h.flags & VFU_F_TYPE_MASK) != VFU_F_REPLY || h.msg_id != id ||
	    h.cmd != x->cmd) {
		char why[96];

		snprintf(why, sizeof(why), "reply type %u id %u command %u to "
			 "request id %u", h.flags & VFU_F_TYPE_MASK, h.msg_id,
			 h.cmd, id);
		rc = lose(c, name, -EPROTO, why);
		goto out;
	}

	/* An error reply has no payload; a reply longer than the room is
	 * read past (up to a limit) so the stream stays in step. */
	left = h.size - HDR;
	if (h.flags & VFU_F_ERROR)
		room = 0;
	take = MIN(left, room);
	if (left - take > DRAIN_MAX) {
		rc = lose(c, name, -EPROTO, "reply far longer than expected");
		goto out;
	}
	for (int i = 0; i < 2 && take; i++) {
		size_t n = MIN(take, x->rep[i].iov_len);

		rc = recv_exact(c->fd, x->rep[i].iov_base, n, &rx, deadline);
		if (rc) {
			rc = lose(c, name, rc, NULL);
			goto out;
		}
		take -= n;
		got += n;
	}
	rc = drain(c->fd, left - got, &rx, deadline);
	if (rc) {
		rc = lose(c, name, rc, NULL);
		goto out;
	}

	if (h.flags & VFU_F_ERROR) {
		/* "It may be zero even if the Error bit is set." */
		rc = h.error && h.error < 4096 ? -(int)h.error : -EIO;
		HAL_DEBUG(COMP, "%s: server error %u", name, h.error);
	} else if (left > room) {
		rc = FAIL(-EPROTO, "%s: reply of %zu bytes, at most %zu expected",
			     name, left, room);
	} else if (got < x->rep_min) {
		rc = FAIL(-EPROTO, "%s: reply of %zu bytes, %zu expected",
			     name, got, x->rep_min);
	} else if (rx.lost) {
		rc = FAIL(-EPROTO, "%s: more fds than the %u we take",
			     name, VFU_MAX_FDS);
	} else {
		x->rep_len = got;
		for (unsigned i = 0; i < rx.n; i++) {
			if (x->rfds && x->nrfds < x->rfds_max) {
				x->rfds[x->nrfds++] = rx.fds[i];
			} else {
				HAL_WARN(COMP, "%s: unexpected fd closed", name);
				close(rx.fds[i]);
			}
		}
		rx.n = 0;
	}
out:
	rx_close(&rx);
	return rc;
}

/* ---- VERSION ---------------------------------------------------------- */

static int cap_num(const char *key, json_t *val, uint64_t min, uint64_t max,
		   uint64_t *out)
{
	json_int_t v = json_is_integer(val) ? json_integer_value(val) : -1;

	if (v < 0 || (uint64_t)v < min || (uint64_t)v > max)
		return FAIL(-EPROTO, "VERSION: capability %s is not an integer "
			       "in [%llu, %llu]", key, (unsigned long long)min,
			       (unsigned long long)max);
	*out = (uint64_t)v;
	return 0;
}

/* The reply must stay within what we proposed: the same major, no newer
 * minor, capabilities a subset of ours. Keys beside "capabilities" are
 * ignored: they are not capabilities. */
static int parse_version(struct sim_vfu *c, const uint8_t *p, size_t len)
{
	struct sim_vfu_caps *caps = &c->caps;
	struct vfu_version v;
	json_t *root = NULL, *obj, *val;
	json_error_t jerr;
	const char *key;
	uint64_t n;
	int rc = -EPROTO;

	memcpy(&v, p, sizeof(v));
	p += sizeof(v);
	len -= sizeof(v);
	if (v.major != VFU_MAJOR) {
		FAIL(rc, "VERSION: server answered %u.%u, we speak major %u",
			v.major, v.minor, VFU_MAJOR);
		goto out;
	}
	if (v.minor > VFU_MINOR) {
		FAIL(rc, "VERSION: server answered %u.%u, above our %u.%u",
			v.major, v.minor, VFU_MAJOR, VFU_MINOR);
		goto out;
	}
	*caps = (struct sim_vfu_caps){
		.major = v.major, .minor = v.minor,
		.max_msg_fds = VFU_DEF_MAX_FDS,
		.max_data_xfer_size = VFU_DEF_MAX_XFER,
		.pgsizes = 4096,
		.max_dma_maps = 65535,
	};
	rc = 0;
	if (!len)
		goto out;
	rc = -EPROTO;
	if (p[len - 1] != '\0') {
		FAIL(rc, "VERSION: capabilities JSON is not NUL-terminated");
		goto out;
	}
	root = json_loadb((const char *)p, len - 1, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		FAIL(rc, "VERSION: capabilities JSON: %s", jerr.text);
		goto out;
	}
	obj = json_object_get(root, "capabilities");
	if (!json_is_object(root) || (obj && !json_is_object(obj))) {
		FAIL(rc, "VERSION: the JSON is not {\"capabilities\": {...}}");
		goto out;
	}
	rc = 0;
	json_object_foreach(obj, key, val) {
		if (!strcmp(key, "max_msg_fds")) {
			rc = cap_num(key, val, 0, UINT32_MAX, &n);
			caps->max_msg_fds = (uint32_t)n;
		} else if (!strcmp(key, "max_data_xfer_size")) {
			rc = cap_num(key, val, 1, UINT32_MAX, &n);
			caps->max_data_xfer_size = (uint32_t)n;
		} else if (!strcmp(key, "pgsizes")) {
			rc = cap_num(key, val, 1, INT64_MAX, &n);
			caps->pgsizes = n;
		} else if (!strcmp(key, "max_dma_maps")) {
			rc = cap_num(key, val, 0, UINT32_MAX, &n);
			caps->max_dma_maps = (uint32_t)n;
		} else if (!strcmp(key, "write_multiple")) {
			/* Whatever it says, we never send WRITE_MULTI. */
			if (!json_is_boolean(val))
				rc = FAIL(-EPROTO, "VERSION: write_multiple "
					     "is not a boolean");
		} else {
			rc = FAIL(-EPROTO, "VERSION: capability \"%s\" was "
				     "not proposed", key);
		}
		if (rc)
			break;
	}
out:
	json_decref(root);
	return rc;
}

static int negotiate(struct sim_vfu *c)
{
	struct vfu_version v = { .major = VFU_MAJOR, .minor = VFU_MINOR };
	uint8_t rep[sizeof(struct vfu_version) + VERSION_JSON_MAX];
	char *ours = NULL;
	json_t *caps;
	int rc = -ENOMEM;

	/* What we take: fds per reply (REGION_IO_FDS), and DMA_READ/WRITE
	 * sizes, moot as our memory always goes by fd. */
	caps = json_pack("{s:{s:i, s:I, s:I, s:i, s:b}}", "capabilities",
			 "max_msg_fds", VFU_MAX_FDS,
			 "max_data_xfer_size", (json_int_t)VFU_DEF_MAX_XFER,
			 "pgsizes", (json_int_t)VFU_PGSIZES,
			 "max_dma_maps", VFU_MAX_DMA_MAPS,
			 "write_multiple", 0);
	if (caps)
		ours = json_dumps(caps, JSON_COMPACT);
	if (ours) {
		struct call x = {
			.cmd = VFU_CMD_VERSION,
			.req = { { &v, sizeof(v) }, { ours, strlen(ours) + 1 } },
			.rep = { { rep, sizeof(rep) } },
			.rep_min = sizeof(v),
		};

		rc = call(c, &x);
		if (rc && !c->dead)
			FAIL(rc, "VERSION: refused by the server: %s",
				strerror(-rc));
		if (!rc)
			rc = parse_version(c, rep, x.rep_len);
	}
	free(ours);
	json_decref(caps);
	return rc;
}

/* ---- connection ------------------------------------------------------- */

int sim_vfu_attach(int fd, int timeout_ms, struct sim_vfu **out)
{
	struct sim_vfu *c;
	int fl, rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : SIM_VFU_TIMEOUT_MS;
	/* Non-blocking: every wait is a poll() bounded by the deadline. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = negotiate(c);
	if (rc)
		goto fail;
	*out = c;
	return 0;
fail:
	sim_vfu_close(c);
	return rc;
}

int sim_vfu_connect(const char *path, int timeout_ms, struct sim_vfu **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	int64_t deadline;
	int fd, rc;

	*out = NULL;
	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len + 1);
	if (timeout_ms <= 0)
		timeout_ms = SIM_VFU_TIMEOUT_MS;
	deadline = sim_now_ms() + timeout_ms;
	for (;;) {
		const struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };

		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (!connect(fd, (const struct sockaddr *)&sa, sizeof(sa)))
			break;
		rc = -errno;
		close(fd);
		/* Not there yet, or its backlog is full: the server may be
		 * starting with us. */
		if ((rc != -ENOENT && rc != -ECONNREFUSED && rc != -EAGAIN) ||
		    sim_now_ms() >= deadline)
			return FAIL(rc, "connect %s: %s", path, strerror(-rc));
		nanosleep(&tick, NULL);
	}
	return sim_vfu_attach(fd, timeout_ms, out);
}

void sim_vfu_close(struct sim_vfu *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

const struct sim_vfu_caps *sim_vfu_caps(const struct sim_vfu *c)
{
	return &c->caps;
}

/* ---- DMA -------------------------------------------------------------- */

int sim_vfu_dma_map(struct sim_vfu *c, uint64_t iova, uint64_t len, int fd,
		    uint64_t offset, uint32_t flags)
{
	struct vfu_dma_map m = {
		.argsz = sizeof(m), .flags = flags, .offset = offset,
		.addr = iova, .size = len,
	};
	struct call x = {
		.cmd = VFU_CMD_DMA_MAP,
		.req = { { &m, sizeof(m) } },
		.fds = &fd, .nfds = fd >= 0,
	};
	/* The smallest page size the server takes. */
	uint64_t mask = (c->caps.pgsizes & -c->caps.pgsizes) - 1;
	int rc;

	if (!len || iova + len - 1 < iova || ((iova | len | offset) & mask) ||
	    (flags & ~(VFU_DMA_READ | VFU_DMA_WRITE)) || (fd < 0 && offset))
		return -EINVAL;
	if (c->nmaps >= c->caps.max_dma_maps)
		return -ENOSPC;
	if (fd >= 0 && !c->caps.max_msg_fds)
		return -EOPNOTSUPP;
	rc = call(c, &x);
	if (!rc)
		c->nmaps++;
	return rc;
}

int sim_vfu_dma_unmap(struct sim_vfu *c, uint64_t iova, uint64_t len)
{
	struct vfu_dma_unmap u = { .argsz = sizeof(u), .addr = iova, .size = len };
	struct vfu_dma_unmap r;
	struct call x = {
		.cmd = VFU_CMD_DMA_UNMAP,
		.req = { { &u, sizeof(u) } },
		.rep = { { &r, sizeof(r) } },
		.rep_min = sizeof(r),
	};
	int rc;

	/* "The server responds with the original DMA entry." */
	rc = call(c, &x);
	if (!rc && (r.addr != iova || r.size != len))
		rc = FAIL(-EPROTO, "DMA_UNMAP: reply names %#llx+%#llx, not "
			     "%#llx+%#llx", (unsigned long long)r.addr,
			     (unsigned long long)r.size,
			     (unsigned long long)iova, (unsigned long long)len);
	if (!rc && c->nmaps)
		c->nmaps--;
	return rc;
}

int sim_vfu_map_hostmem(struct sim_vfu *c, const struct sim_hostmem *m,
			uint32_t flags)
{
	unsigned i;
	int rc = 0;

	for (i = 0; i < m->n && !rc; i++)
		rc = sim_vfu_dma_map(c, m->r[i].iova, m->r[i].len, m->r[i].fd, 0,
				     flags);
	/* Leave nothing half-mapped: i is one past the region that failed. */
	if (rc)
		for (i--; i-- > 0;)
			(void)sim_vfu_dma_unmap(c, m->r[i].iova, m->r[i].len);
	return rc;
}

/* ---- device, region and IRQ information -------------------------------- */

int sim_vfu_device_info(struct sim_vfu *c, struct vfu_device_info *info)
{
	struct vfu_device_info q = { .argsz = sizeof(q) };
	struct call x = {
		.cmd = VFU_CMD_DEVICE_GET_INFO,
		.req = { { &q, sizeof(q) } },
		.rep = { { info, sizeof(*info) } },
		.rep_min = sizeof(*info),
	};
	int rc;

	memset(info, 0, sizeof(*info));
	rc = call(c, &x);
	if (!rc && info->argsz < sizeof(*info))
		rc = FAIL(-EPROTO, "DEVICE_GET_INFO: argsz %u", info->argsz);
	return rc;
}

/* Walk the capability chain of a REGION_INFO reply of len bytes. */
static int parse_caps(const struct vfu_region_info *info, const uint8_t *buf,
		      uint32_t len, struct sim_vfu_sparse *areas, unsigned room,
		      unsigned *n_areas)
{
	const size_t area_sz = sizeof(struct vfio_region_sparse_mmap_area);
	struct vfio_region_info_cap_sparse_mmap sm;
	struct vfio_region_sparse_mmap_area a;
	struct vfio_info_cap_header h;
	uint32_t off = info->cap_offset;
	bool seen = false;

	while (off) {
		if (off < sizeof(*info) || off > len || len - off < sizeof(h))
			return FAIL(-EPROTO, "GET_REGION_INFO %u: capability at "
				       "%u outside the reply", info->index, off);
		memcpy(&h, buf + off, sizeof(h));
		if (h.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP && !seen) {
			if (h.version != 1 || len - off < sizeof(sm))
				return FAIL(-EPROTO, "GET_REGION_INFO %u: bad "
					       "sparse mmap capability", info->index);
			memcpy(&sm, buf + off, sizeof(sm));
			if (sm.nr_areas > (len - off - sizeof(sm)) / area_sz)
				return FAIL(-EPROTO, "GET_REGION_INFO %u: %u "
					       "sparse areas overrun the reply",
					       info->index, sm.nr_areas);
			for (uint32_t i = 0; i < sm.nr_areas; i++) {
				memcpy(&a, buf + off + sizeof(sm) + i * area_sz,
				       sizeof(a));
				if (a.offset > info->size ||
				    a.size > info->size - a.offset)
					return FAIL(-EPROTO, "GET_REGION_INFO %u: "
						       "sparse area %u outside the "
						       "region", info->index, i);
				if (i < room)
					areas[i] = (struct sim_vfu_sparse){
						.offset = a.offset, .size = a.size };
			}
			*n_areas = sm.nr_areas;
			seen = true;
		}
		/* Only forward: a chain that loops back is refused. */
		if (h.next && h.next <= off)
			return FAIL(-EPROTO, "GET_REGION_INFO %u: capability "
				       "chain goes back", info->index);
		off = h.next;
	}
	return 0;
}

int sim_vfu_region_info(struct sim_vfu *c, uint32_t index,
			struct vfu_region_info *info, struct sim_vfu_sparse *areas,
			unsigned *n_areas, int *fd)
{
	uint8_t first[INFO_FIRST];
	uint8_t *buf = first, *big = NULL;
	uint32_t size = sizeof(first);
	unsigned room = n_areas && areas ? *n_areas : 0, n = 0;
	int rfd = -1, rc;

	memset(info, 0, sizeof(*info));
	for (int tries = 0;; tries++) {
		struct vfu_region_info q = { .argsz = size, .index = index };
		struct call x = {
			.cmd = VFU_CMD_DEVICE_GET_REGION_INFO,
			.req = { { &q, sizeof(q) } },
			.rep = { { buf, size } },
			.rep_min = sizeof(*info),
			.rfds = &rfd, .rfds_max = 1,
		};

		rc = call(c, &x);
		if (rc)
			goto out;
		memcpy(info, buf, sizeof(*info));
		rc = -EPROTO;
		if (info->index != index || info->argsz < sizeof(*info)) {
			FAIL(rc, "GET_REGION_INFO %u: reply for region %u, "
				"argsz %u", index, info->index, info->argsz);
			goto out;
		}
		if (info->argsz <= size) {
			if (x.rep_len != info->argsz) {
				FAIL(rc, "GET_REGION_INFO %u: %zu bytes for "
					"argsz %u", index, x.rep_len, info->argsz);
				goto out;
			}
			break;
		}
		/* The capabilities did not fit: ask again with the room the
		 * server said it needs ("Message sizes"), once. */
		if (tries || info->argsz > INFO_MAX) {
			FAIL(rc, "GET_REGION_INFO %u: argsz %u after we "
				"offered %u", index, info->argsz, size);
			goto out;
		}
		if (rfd >= 0)
			close(rfd);
		rfd = -1;
		size = info->argsz;
		buf = big = malloc(size);
		if (!buf) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if ((info->flags & VFIO_REGION_INFO_FLAG_MMAP) && rfd < 0) {
		rc = FAIL(-EPROTO, "GET_REGION_INFO %u: mappable without an fd",
			     index);
		goto out;
	}
	if (!(info->flags & VFIO_REGION_INFO_FLAG_MMAP) && rfd >= 0) {
		HAL_WARN(COMP, "GET_REGION_INFO %u: unexpected fd closed", index);
		close(rfd);
		rfd = -1;
	}
	rc = 0;
	if (info->flags & VFIO_REGION_INFO_FLAG_CAPS)
		rc = parse_caps(info, buf, info->argsz, areas, room, &n);
out:
	if (rc || !fd) {
		if (rfd >= 0)
			close(rfd);
		rfd = -1;
	}
	if (fd)
		*fd = rfd;
	if (n_areas)
		*n_areas = rc ? 0 : n;
	free(big);
	return rc;
}

int sim_vfu_region_io_fds(struct sim_vfu *c, uint32_t index,
			  struct vfu_io_fd *subs, unsigned *n_subs,
			  int *fds, unsigned *n_fds)
{
	const size_t sub_sz = sizeof(struct vfu_io_fd);
	size_t size = sizeof(struct vfu_io_fds) + (size_t)*n_subs * sub_sz;
	struct vfu_io_fds q = { .argsz = (uint32_t)size, .index = index }, r;
	struct call x = {
		.cmd = VFU_CMD_DEVICE_GET_REGION_IO_FDS,
		.req = { { &q, sizeof(q) } },
		.rep_min = sizeof(r),
		.rfds = fds, .rfds_max = *n_fds,
	};
	uint8_t *buf = NULL;
	size_t stride = 0;
	int rc = -EINVAL;

	*n_subs = *n_fds = 0;
	if (size > INFO_MAX)
		goto out;
	rc = -ENOMEM;
	buf = malloc(size);
	if (!buf)
		goto out;
	x.rep[0] = (struct iovec){ .iov_base = buf, .iov_len = size };
	rc = call(c, &x);
	if (rc)
		goto out;
	memcpy(&r, buf, sizeof(r));
	rc = -EPROTO;
	if (r.index != index || r.flags || r.argsz < sizeof(r)) {
		FAIL(rc, "GET_REGION_IO_FDS %u: reply for region %u, flags %#x, "
			"argsz %u", index, r.index, r.flags, r.argsz);
		goto out;
	}
	/* Entries are (argsz - header) / count apart: 40 bytes today, maybe
	 * more later (the spec says not to rely on it). */
	if (r.count)
		stride = (r.argsz - sizeof(r)) / r.count;
	if (r.count && ((r.argsz - sizeof(r)) % r.count || stride < sub_sz)) {
		FAIL(rc, "GET_REGION_IO_FDS %u: argsz %u for %u sub-regions",
			index, r.argsz, r.count);
		goto out;
	}
	if (r.argsz > size) {
		*n_subs = r.count;
		rc = -E2BIG;
		goto out;
	}
	if (x.rep_len != r.argsz || (r.count && !x.nrfds)) {
		FAIL(rc, "GET_REGION_IO_FDS %u: %zu bytes for argsz %u, %u fds",
			index, x.rep_len, r.argsz, x.nrfds);
		goto out;
	}
	for (uint32_t i = 0; i < r.count; i++) {
		struct vfu_io_fd *s = &subs[i];

		memcpy(s, buf + sizeof(r) + i * stride, sub_sz);
		if (s->fd_index >= x.nrfds || s->type > VFU_IO_FD_TYPE_IOREGIONFD ||
		    s->offset + s->size < s->offset) {
			FAIL(rc, "GET_REGION_IO_FDS %u: sub-region %u: fd_index "
				"%u of %u, type %u", index, i, s->fd_index,
				x.nrfds, s->type);
			goto out;
		}
	}
	*n_subs = r.count;
	*n_fds = x.nrfds;
	rc = 0;
out:
	if (rc)
		for (unsigned i = 0; i < x.nrfds; i++)
			close(fds[i]);
	free(buf);
	return rc;
}

int sim_vfu_irq_info(struct sim_vfu *c, uint32_t index,
		     struct vfu_irq_info *info)
{
	struct vfu_irq_info q = { .argsz = sizeof(q), .index = index };
	struct call x = {
		.cmd = VFU_CMD_DEVICE_GET_IRQ_INFO,
		.req = { { &q, sizeof(q) } },
		.rep = { { info, sizeof(*info) } },
		.rep_min = sizeof(*info),
	};
	int rc;

	memset(info, 0, sizeof(*info));
	rc = call(c, &x);
	if (!rc && (info->index != index || info->argsz < sizeof(*info)))
		rc = FAIL(-EPROTO, "GET_IRQ_INFO %u: reply for index %u, "
			     "argsz %u", index, info->index, info->argsz);
	return rc;
}

/* ---- interrupts ------------------------------------------------------- */

static int set_irqs_msg(struct sim_vfu *c, uint32_t index, uint32_t start,
			uint32_t count, uint32_t flags, const int *fds,
			unsigned nfds, const uint8_t *bools, uint32_t nbools)
{
	/* argsz: the request payload, bools included; eventfds travel
	 * beside it. There is no reply payload. */
	struct vfu_irq_set s = {
		.argsz = (uint32_t)(sizeof(s) + nbools), .flags = flags,
		.index = index, .start = start, .count = count,
	};
	struct call x = {
		.cmd = VFU_CMD_DEVICE_SET_IRQS,
		.req = { { &s, sizeof(s) }, { (void *)bools, nbools } },
		.fds = fds, .nfds = nfds,
	};

	return call(c, &x);
}

int sim_vfu_set_irqs(struct sim_vfu *c, uint32_t index, uint32_t start,
		     uint32_t count, uint32_t flags, const int *fds,
		     const uint8_t *bools)
{
	uint32_t data = flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	uint32_t action = flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	unsigned per = MIN(c->caps.max_msg_fds, SEND_FDS_MAX);
	uint32_t i, n;
	int rc = 0;

	if ((flags & ~(data | action)) || __builtin_popcount(data) != 1 ||
	    __builtin_popcount(action) != 1 || start + count < start ||
	    (data == VFIO_IRQ_SET_DATA_BOOL && count && !bools) ||
	    count > UINT32_MAX - sizeof(struct vfu_irq_set) - HDR)
		return -EINVAL;
	if (data == VFIO_IRQ_SET_DATA_BOOL)
		return set_irqs_msg(c, index, start, count, flags, NULL, 0,
				    bools, count);
	if (data == VFIO_IRQ_SET_DATA_NONE || !fds || !count)
		return set_irqs_msg(c, index, start, count, flags, NULL, 0,
				    NULL, 0);
	for (i = 0; i < count; i++)
		if (fds[i] >= 0 && !per)
			return -EOPNOTSUPP;
	/* Runs of eventfds, at most `per` to a message, and runs of -1:
	 * a message without fds de-assigns its range. */
	for (i = 0; i < count && !rc; i += n) {
		bool set = fds[i] >= 0;

		for (n = 1; i + n < count && (fds[i + n] >= 0) == set &&
			    (!set || n < per); n++)
			;
		rc = set_irqs_msg(c, index, start + i, n, flags,
				  set ? fds + i : NULL, set ? n : 0, NULL, 0);
	}
	return rc;
}

/* ---- region access ---------------------------------------------------- */

/* One REGION_READ/WRITE of n <= max_data_xfer_size bytes. */
static int access1(struct sim_vfu *c, uint16_t cmd, uint32_t region,
		   uint64_t offset, void *buf, uint32_t n)
{
	bool rd = cmd == VFU_CMD_REGION_READ;
	struct vfu_region_access q = { .offset = offset, .region = region,
				       .count = n }, r;
	struct call x = {
		.cmd = cmd,
		.req = { { &q, sizeof(q) }, { rd ? NULL : buf, rd ? 0 : n } },
		.rep = { { &r, sizeof(r) }, { rd ? buf : NULL, rd ? n : 0 } },
		.rep_min = sizeof(r) + (rd ? n : 0),
	};
	int rc;

	rc = call(c, &x);
	if (!rc && (r.offset != offset || r.region != region || r.count != n))
		rc = FAIL(-EPROTO, "%s: reply for region %u %#llx+%u, asked "
			     "region %u %#llx+%u", cmd_name(cmd), r.region,
			     (unsigned long long)r.offset, r.count, region,
			     (unsigned long long)offset, n);
	return rc;
}

static int region_rw(struct sim_vfu *c, uint16_t cmd, uint32_t region,
		     uint64_t offset, uint8_t *buf, size_t len)
{
	size_t chunk = MIN(c->caps.max_data_xfer_size,
			   UINT32_MAX - HDR - sizeof(struct vfu_region_access));
	int rc = 0;

	if (len && offset + len - 1 < offset)
		return -EINVAL;
	while (len && !rc) {
		size_t n = MIN(len, chunk);

		rc = access1(c, cmd, region, offset, buf, (uint32_t)n);
		offset += n;
		buf += n;
		len -= n;
	}
	return rc;
}

int sim_vfu_region_read(struct sim_vfu *c, uint32_t region, uint64_t offset,
			void *buf, size_t len)
{
	return region_rw(c, VFU_CMD_REGION_READ, region, offset, buf, len);
}

int sim_vfu_region_write(struct sim_vfu *c, uint32_t region, uint64_t offset,
			 const void *buf, size_t len)
{
	return region_rw(c, VFU_CMD_REGION_WRITE, region, offset, (void *)buf,
			 len);
}

static int check_width(const struct sim_vfu *c, uint64_t offset, unsigned width)
{
	if ((width != 1 && width != 2 && width != 4 && width != 8) ||
	    offset + width - 1 < offset)
		return -EINVAL;
	/* Never cut a register access in two. */
	if (width > c->caps.max_data_xfer_size)
		return -EOPNOTSUPP;
	return 0;
}

int sim_vfu_read_le(struct sim_vfu *c, uint32_t region, uint64_t offset,
		    unsigned width, uint64_t *val)
{
	uint8_t b[8];
	uint64_t v = 0;
	int rc = check_width(c, offset, width);

	if (!rc)
		rc = access1(c, VFU_CMD_REGION_READ, region, offset, b, width);
	if (!rc) {
		for (unsigned i = width; i-- > 0;)
			v = v << 8 | b[i];
		*val = v;
	}
	return rc;
}

int sim_vfu_write_le(struct sim_vfu *c, uint32_t region, uint64_t offset,
		     unsigned width, uint64_t val)
{
	uint8_t b[8];
	int rc = check_width(c, offset, width);

	if (rc)
		return rc;
	for (unsigned i = 0; i < width; i++)
		b[i] = (uint8_t)(val >> (8 * i));
	return access1(c, VFU_CMD_REGION_WRITE, region, offset, b, width);
}

int sim_vfu_reset(struct sim_vfu *c)
{
	struct call x = { .cmd = VFU_CMD_DEVICE_RESET };

	return call(c, &x);
}
