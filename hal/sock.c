/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * UNIX sockets with fd passing, and peer memory mapping (hal_sock.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hal_log.h"
#include "hal_sock.h"

#define COMP "sock"
#define SEND_FDS_MAX 64

void hal_close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

int hal_eventfd_take(int fd)
{
	char path[64], target[64];
	ssize_t n;
	int fl;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return -EINVAL;
	target[n] = '\0';
	if (strcmp(target, "anon_inode:[eventfd]") != 0)
		return -EINVAL;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -EINVAL;
	return 0;
}

static int sock_addr(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return -ENAMETOOLONG;
	strcpy(a->sun_path, path);
	return 0;
}

int hal_sock_listen(const char *path)
{
	struct sockaddr_un a;
	struct stat st;
	int fd, rc;

	if ((rc = sock_addr(path, &a)) < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A stale socket from an earlier run; never anything else. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int hal_sock_connect(const char *path)
{
	struct sockaddr_un a;
	int fd, rc;

	if ((rc = sock_addr(path, &a)) < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
		rc = -errno; /* ENOENT, ECONNREFUSED, EAGAIN: retry later */
		close(fd);
		return rc;
	}
	return fd;
}

long hal_sock_send_some(int sock, const void *buf, size_t len, const int *fds,
			unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(SEND_FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > SEND_FDS_MAX)
		return -EINVAL;
	if (nfds) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return (long)n;
}

int hal_sock_send(int sock, const void *buf, size_t len, const int *fds,
		  unsigned nfds)
{
	long n = hal_sock_send_some(sock, buf, len, fds, nfds);

	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO; /* a torn message breaks the stream */
}

long hal_sock_recv(int sock, void *buf, size_t len, int *fds, unsigned *nfds,
		   unsigned max)
{
	union {
		char buf[CMSG_SPACE(SEND_FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cm.buf, .msg_controllen = sizeof(cm.buf),
	};
	ssize_t n;

	do
		n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (*nfds < max)
				fds[(*nfds)++] = fd;
			else
				close(fd); /* more than a message may carry */
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "fds beyond %u in one message dropped",
			   SEND_FDS_MAX);
	return (long)n;
}

int hal_sock_rx_fill(int sock, struct hal_sock_rx *rx, uint8_t *buf, size_t want)
{
	while (rx->len < want) {
		long n = hal_sock_recv(sock, buf + rx->len, want - rx->len, rx->fds,
				       &rx->nfds, rx->max_fds);
		if (n == -EAGAIN)
			return -EAGAIN;
		if (n <= 0) {
			hal_sock_rx_drop(rx);
			return n == 0 ? -ECONNRESET : (int)n;
		}
		rx->len += (size_t)n;
	}
	return 0;
}

void hal_sock_rx_drop(struct hal_sock_rx *rx)
{
	for (unsigned i = 0; i < rx->nfds; i++)
		hal_close_fd(&rx->fds[i]);
	rx->nfds = 0;
	rx->len = 0;
}

/*
 * Seals are read first (they can only be added, never removed), then the
 * size: once F_SEAL_SHRINK is seen, the size checked cannot shrink under
 * the mapping. A sealable file without F_SEAL_SHRINK is sealed by us (the
 * peer loses nothing it needs: it is sharing the file). Without
 * require_sealed, files without seal support and unsealed ones are
 * accepted (the operator's choice: --allow-unsealed).
 */
int hal_map_fd(const char *who, const char *what, int fd, uint64_t offset,
	       uint64_t len, bool writable, bool require_sealed, void **base,
	       size_t *base_len, void **va)
{
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t start = offset & ~(pg - 1), maplen;
	struct stat st;
	int seals;
	void *p;

	if (len == 0 || len > (uint64_t)INT64_MAX || offset > (uint64_t)INT64_MAX - len) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: %s refused: bad range %" PRIu64 "+%" PRIu64,
			   who, what, offset, len);
		return EINVAL;
	}
	maplen = offset - start + len;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 && (errno != EINVAL || require_sealed)) {
		/* EINVAL: a file that cannot be sealed at all (a disk file
		 * system's): the peer could truncate it under the mapping. */
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: %s refused: %s", who, what,
			   errno == EINVAL ? "the file cannot be sealed against shrinking"
					   : strerror(errno));
		return errno == EINVAL ? EPERM : EINVAL;
	}
	if (seals >= 0 && !(seals & F_SEAL_SHRINK) && !(seals & F_SEAL_SEAL) &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0)
		seals |= F_SEAL_SHRINK;
	if (seals >= 0 && !(seals & F_SEAL_SHRINK) && require_sealed) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP,
			   "%s: %s refused: fd not sealed against shrinking (F_SEAL_SHRINK) and not sealable",
			   who, what);
		return EPERM;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: %s refused: fd is not a regular file",
			   who, what);
		return EINVAL;
	}
	if ((uint64_t)st.st_size < offset + len) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP,
			   "%s: %s refused: file has %lld bytes, mapping needs %" PRIu64,
			   who, what, (long long)st.st_size, offset + len);
		return EINVAL;
	}
	p = mmap(NULL, (size_t)maplen, PROT_READ | (writable ? PROT_WRITE : 0),
		 MAP_SHARED, fd, (off_t)start);
	if (p == MAP_FAILED) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: %s refused: mmap: %s",
			   who, what, strerror(errno));
		return ENOMEM;
	}
	*base = p;
	*base_len = (size_t)maplen;
	*va = (uint8_t *)p + (offset - start);
	return 0;
}
