/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hal_sock — what the socket transports (vhost-user, vfio-user) share:
 * UNIX stream sockets with fds passed as SCM_RIGHTS, and mapping a file a
 * peer passed (memory it shares) only once it cannot shrink under us.
 */
#ifndef HAL_SOCK_H
#define HAL_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal_log.h"

/* A message handler's refusal: a rate-limited warning naming the device
 * (d->name) and the message (m->h->name, its entry in the handler table),
 * then return rc from the handler. The caller's COMP names the log
 * component. */
#define HAL_SOCK_REFUSE(d, m, rc, fmt, ...) \
	do { \
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: %s refused: " fmt, \
			   (d)->name, (m)->h->name, ##__VA_ARGS__); \
		return (rc); \
	} while (0)

/* Take over the fd in a message's slot: its value, the slot left -1 (the
 * message's cleanup closes only what nobody took). */
static inline int hal_fd_take(int *slot)
{
	int fd = *slot;

	*slot = -1;
	return fd;
}

/* A listening, non-blocking UNIX stream socket at path (a stale socket
 * file there is unlinked first; anything else is not). fd or -errno. */
int hal_sock_listen(const char *path);
/* A non-blocking connect to path: fd (connected or connecting: wait for
 * writability), or -errno. */
int hal_sock_connect(const char *path);

/* Send one whole buffer with fds[0..nfds) attached (nfds <= 64), without
 * waiting. 0, or -errno; a partial send is -EIO (the stream is broken). */
int hal_sock_send(int sock, const void *buf, size_t len, const int *fds,
		  unsigned nfds);
/* As much of it as the socket takes now (the fds go with the first byte):
 * bytes sent, or -errno (-EAGAIN: none). */
long hal_sock_send_some(int sock, const void *buf, size_t len, const int *fds,
			unsigned nfds);

/* One recvmsg (MSG_DONTWAIT, close-on-exec fds) of at most len bytes; the
 * fds that came with it are appended to fds[*nfds..max), those beyond max
 * closed. Bytes received (0 at end of file) or -errno (-EAGAIN: none). */
long hal_sock_recv(int sock, void *buf, size_t len, int *fds, unsigned *nfds,
		   unsigned max);

/* One message being received: its bytes so far (in the caller's buffer)
 * and the fds that came with them, at most max_fds (set by the owner;
 * <= HAL_SOCK_RX_FDS), the rest closed. */
#define HAL_SOCK_RX_FDS 16
struct hal_sock_rx {
	size_t len;
	unsigned nfds, max_fds;
	int fds[HAL_SOCK_RX_FDS];
};

/* Receive into buf until rx->len == want, never past it (the next
 * message's fds stay with it). 0 once there, -EAGAIN when the socket has
 * nothing more now (what came is kept), -ECONNRESET at end of file or
 * another -errno (what came is dropped: the stream is over). */
int hal_sock_rx_fill(int sock, struct hal_sock_rx *rx, uint8_t *buf, size_t want);
/* Forget what was received: its fds closed. */
void hal_sock_rx_drop(struct hal_sock_rx *rx);

/* Map [offset, offset + len) of a peer's fd shared, read-only or
 * read-write. Refused (a positive errno, with a rate-limited log line
 * naming `who` and `what`): an empty or wrapping range; a file that is
 * not sealed against shrinking (F_SEAL_SHRINK) and cannot be sealed by us
 * (no seal support, or F_SEAL_SEAL), when require_sealed; a file that is not regular
 * or is shorter than the range. *base and *base_len are what to
 * munmap, *va the address of offset. */
int hal_map_fd(const char *who, const char *what, int fd, uint64_t offset,
	       uint64_t len, bool writable, bool require_sealed, void **base,
	       size_t *base_len, void **va);

/* An interrupt fd a peer gave (vhost-user call, vfio-user MSI-X): it
 * must be an eventfd, and is made non-blocking, since lcores and the
 * control thread signal it and must never wait (a pipe, or an eventfd
 * whose counter the peer filled, would block them). 0 or -EINVAL. */
int hal_eventfd_take(int fd);

void hal_close_fd(int *fd);

#endif
