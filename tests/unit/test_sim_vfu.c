/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sim_vfu, the simulated host's vfio-user client, against a scripted
 * server: a thread on the other end of a socketpair that checks the exact
 * bytes of each request (header, payload layout, fds passed with
 * SCM_RIGHTS) and answers with canned replies, well-formed or hostile.
 *
 * The server thread never calls cmocka (its asserts longjmp): it records
 * the first failed check, shuts its socket so the client stops waiting,
 * and the test fails after joining it. Scripts end with p_eof() where the
 * client must send nothing more.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "hal_log.h"
#include "sim_hostmem.h"
#include "sim_vfu.h"

#define TMO       2000 /* ms; only the timeout tests wait one out */
#define PMAX_FDS  16
#define PMAX_DATA 8192
#define RW        (VFU_DMA_READ | VFU_DMA_WRITE)
#define CFG       VFIO_PCI_CONFIG_REGION_INDEX
#define MSIX      VFIO_PCI_MSIX_IRQ_INDEX

/* ---- log capture ------------------------------------------------------ */

static char logbuf[8192];

static void log_sink(enum hal_log_level level, const char *line)
{
	size_t n = strlen(logbuf);

	(void)level;
	snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", line);
}

static void assert_logged(const char *what)
{
	if (!strstr(logbuf, what))
		fail_msg("log lacks \"%s\":\n%s", what, logbuf);
}

/* ---- the scripted server ---------------------------------------------- */

struct pmsg {
	struct vfu_hdr h;
	uint8_t d[PMAX_DATA];
	size_t len;
	int fds[PMAX_FDS];
	unsigned nfds;
};

struct peer {
	int fd;
	void (*script)(struct peer *p);
	void *arg;
	pthread_t th;
	bool joined;
	uint16_t last_id;
	int line;          /* first failed check */
	char what[256];
};

static bool pcheck(struct peer *p, bool ok, const char *what, int line)
{
	if (!ok && !p->line) {
		p->line = line;
		snprintf(p->what, sizeof(p->what), "%s", what);
		shutdown(p->fd, SHUT_RDWR);
	}
	return ok;
}

#define PCHECK(cond) \
	do { \
		if (!pcheck(p, (cond), #cond, __LINE__)) \
			return; \
	} while (0)

static bool p_read(struct peer *p, void *buf, size_t len, struct pmsg *m)
{
	uint8_t *b = buf;

	while (len) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int) * PMAX_FDS)];
		} u;
		struct iovec iov = { .iov_base = b, .iov_len = len };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = u.b, .msg_controllen = sizeof(u.b),
		};
		ssize_t n = recvmsg(p->fd, &mh, MSG_CMSG_CLOEXEC);
		struct cmsghdr *cm;

		if (n <= 0)
			return false;
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k && m->nfds < PMAX_FDS; i++)
				memcpy(&m->fds[m->nfds++],
				       CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
		}
		b += n;
		len -= (size_t)n;
	}
	return true;
}

static bool p_recv(struct peer *p, struct pmsg *m)
{
	m->len = 0;
	m->nfds = 0;
	if (!p_read(p, &m->h, sizeof(m->h), m) || m->h.size < sizeof(m->h) ||
	    m->h.size - sizeof(m->h) > sizeof(m->d))
		return false;
	m->len = m->h.size - sizeof(m->h);
	return p_read(p, m->d, m->len, m);
}

static void p_close_fds(struct pmsg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
}

/* True when the client closed without sending anything more (ECONNRESET:
 * it closed with our bytes still unread, as on a connection it dropped). */
static bool p_eof(struct peer *p)
{
	char b;
	ssize_t n = recv(p->fd, &b, 1, 0);

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static bool p_send(struct peer *p, const void *buf, size_t len,
		   const int *fds, unsigned nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * PMAX_FDS)];
	} u;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	return sendmsg(p->fd, &mh, MSG_NOSIGNAL) == (ssize_t)len;
}

static bool p_msg(struct peer *p, uint16_t id, uint16_t cmd, uint32_t flags,
		  uint32_t error, const void *pl, size_t len, const int *fds,
		  unsigned nfds)
{
	uint8_t b[sizeof(struct vfu_hdr) + PMAX_DATA];
	struct vfu_hdr h = {
		.msg_id = id, .cmd = cmd, .size = (uint32_t)(sizeof(h) + len),
		.flags = flags, .error = error,
	};

	memcpy(b, &h, sizeof(h));
	if (len)
		memcpy(b + sizeof(h), pl, len);
	return p_send(p, b, sizeof(h) + len, fds, nfds);
}

static bool p_reply_fds(struct peer *p, const struct pmsg *m, const void *pl,
			size_t len, const int *fds, unsigned nfds)
{
	return p_msg(p, m->h.msg_id, m->h.cmd, VFU_F_REPLY, 0, pl, len, fds, nfds);
}

static bool p_reply(struct peer *p, const struct pmsg *m, const void *pl,
		    size_t len)
{
	return p_reply_fds(p, m, pl, len, NULL, 0);
}

static bool p_error(struct peer *p, const struct pmsg *m, uint32_t err)
{
	return p_msg(p, m->h.msg_id, m->h.cmd, VFU_F_REPLY | VFU_F_ERROR, err,
		     NULL, 0, NULL, 0);
}

/* A request: the next id, a command header, exactly len payload bytes. */
#define EXPECT(m, cmd_, len_) \
	do { \
		PCHECK(p_recv(p, (m))); \
		PCHECK((m)->h.cmd == (cmd_)); \
		PCHECK((m)->h.msg_id == (uint16_t)(p->last_id + 1)); \
		PCHECK((m)->h.flags == VFU_F_COMMAND && (m)->h.error == 0); \
		PCHECK((m)->len == (len_)); \
		p->last_id = (m)->h.msg_id; \
	} while (0)

/* Answer VERSION with major.minor and json (with its NUL; NULL: none). */
static bool p_hello_v(struct peer *p, uint16_t major, uint16_t minor,
		      const void *json, size_t len)
{
	struct vfu_version v = { .major = major, .minor = minor };
	uint8_t b[sizeof(v) + 1024];
	struct pmsg m;

	if (!p_recv(p, &m) || m.h.cmd != VFU_CMD_VERSION || len > 1024)
		return false;
	p->last_id = m.h.msg_id;
	memcpy(b, &v, sizeof(v));
	if (len)
		memcpy(b + sizeof(v), json, len);
	return p_reply(p, &m, b, sizeof(v) + len);
}

static bool p_hello(struct peer *p, const char *json)
{
	return p_hello_v(p, 0, 0, json, json ? strlen(json) + 1 : 0);
}

#define HELLO(json) PCHECK(p_hello(p, (json)))

static void *peer_main(void *arg)
{
	struct peer *p = arg;

	p->script(p);
	return NULL;
}

static void peer_run(struct peer *p, int fd, void (*fn)(struct peer *),
		     void *arg)
{
	/* A client that sends nothing must not hang the test either. */
	struct timeval tv = { .tv_sec = 5 };

	memset(p, 0, sizeof(*p));
	p->fd = fd;
	p->script = fn;
	p->arg = arg;
	if (fd >= 0)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
					    sizeof(tv)), 0);
	assert_int_equal(pthread_create(&p->th, NULL, peer_main, p), 0);
}

static int attach(struct peer *p, void (*fn)(struct peer *), void *arg,
		  int tmo, struct sim_vfu **c)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	peer_run(p, sv[1], fn, arg);
	return sim_vfu_attach(sv[0], tmo, c);
}

static struct sim_vfu *client(struct peer *p, void (*fn)(struct peer *),
			      void *arg)
{
	struct sim_vfu *c = NULL;

	assert_int_equal(attach(p, fn, arg, TMO, &c), 0);
	assert_non_null(c);
	return c;
}

/* Wait for the script to finish. */
static void peer_join(struct peer *p)
{
	if (!p->joined)
		pthread_join(p->th, NULL);
	p->joined = true;
}

static void peer_end(struct peer *p, struct sim_vfu *c)
{
	sim_vfu_close(c);
	peer_join(p);
	if (p->fd >= 0)
		close(p->fd);
	if (p->line)
		fail_msg("scripted server, line %d: %s", p->line, p->what);
}

/* ---- helpers ---------------------------------------------------------- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return !fstat(a, &sa) && !fstat(b, &sb) && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static int64_t ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int memfd(size_t len)
{
	int fd = memfd_create("vfu-test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	return fd;
}

static uint64_t efd_read(int fd)
{
	uint64_t v = 0;

	assert_int_equal(read(fd, &v, sizeof(v)), sizeof(v));
	return v;
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + 3);
}

static const struct vfu_device_info dev_info = {
	.argsz = sizeof(struct vfu_device_info),
	.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
	.num_regions = VFIO_PCI_NUM_REGIONS, .num_irqs = VFIO_PCI_NUM_IRQS,
};

/* Answer one DEVICE_GET_INFO well. */
#define DEVICE_INFO_OK(m) \
	do { \
		EXPECT((m), VFU_CMD_DEVICE_GET_INFO, sizeof(struct vfu_device_info)); \
		PCHECK(p_reply(p, (m), &dev_info, sizeof(dev_info))); \
	} while (0)

/* ---- VERSION ---------------------------------------------------------- */

static void s_version_caps(struct peer *p)
{
	static const char rep[] =
		"{\"capabilities\":{\"max_msg_fds\":3,\"max_data_xfer_size\":4096,"
		"\"pgsizes\":2101248,\"max_dma_maps\":7,\"write_multiple\":false},"
		"\"vendor\":{\"x\":1}}";
	struct vfu_version v;
	struct pmsg m;
	json_t *root, *caps;
	bool ok;

	PCHECK(p_recv(p, &m));
	PCHECK(m.h.cmd == VFU_CMD_VERSION && m.h.flags == 0 && m.h.error == 0);
	PCHECK(m.len > sizeof(v) + 1);
	memcpy(&v, m.d, sizeof(v));
	PCHECK(v.major == 0 && v.minor == 0);
	/* NUL-terminated, and nothing after the NUL */
	PCHECK(m.d[m.len - 1] == '\0');
	PCHECK(strlen((char *)m.d + sizeof(v)) == m.len - sizeof(v) - 1);
	root = json_loads((char *)m.d + sizeof(v), JSON_REJECT_DUPLICATES, NULL);
	caps = json_object_get(root, "capabilities");
	ok = json_object_size(root) == 1 && json_object_size(caps) == 5 &&
	     json_integer_value(json_object_get(caps, "max_msg_fds")) == VFU_MAX_FDS &&
	     json_integer_value(json_object_get(caps, "max_data_xfer_size")) ==
		     VFU_DEF_MAX_XFER &&
	     json_integer_value(json_object_get(caps, "pgsizes")) == 4096 &&
	     json_integer_value(json_object_get(caps, "max_dma_maps")) ==
		     VFU_MAX_DMA_MAPS &&
	     json_is_false(json_object_get(caps, "write_multiple"));
	json_decref(root);
	PCHECK(ok);
	p->last_id = m.h.msg_id;
	memcpy(m.d + sizeof(v), rep, sizeof(rep));
	PCHECK(p_reply(p, &m, m.d, sizeof(v) + sizeof(rep)));
	/* the next request has the next id */
	EXPECT(&m, VFU_CMD_DEVICE_RESET, 0);
	PCHECK(p_reply(p, &m, NULL, 0));
	PCHECK(p_eof(p));
}

static void test_version_proposes_our_caps_and_keeps_the_servers(void **state)
{
	struct peer p;
	struct sim_vfu *c = client(&p, s_version_caps, NULL);
	const struct sim_vfu_caps *caps = sim_vfu_caps(c);

	(void)state;
	assert_int_equal(caps->major, 0);
	assert_int_equal(caps->minor, 0);
	assert_int_equal(caps->max_msg_fds, 3);
	assert_int_equal(caps->max_data_xfer_size, 4096);
	assert_int_equal(caps->pgsizes, 4096 | (2 << 20));
	assert_int_equal(caps->max_dma_maps, 7);
	assert_int_equal(sim_vfu_reset(c), 0);
	peer_end(&p, c);
}

static void s_hello_arg(struct peer *p)
{
	HELLO(p->arg);
}

static void test_version_without_caps_takes_the_spec_defaults(void **state)
{
	static const char *const replies[] = {
		NULL, "{}", "{\"capabilities\":{}}", "{\"other\":[1,2]}",
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		struct peer p;
		struct sim_vfu *c = client(&p, s_hello_arg, (void *)replies[i]);
		const struct sim_vfu_caps *caps = sim_vfu_caps(c);

		assert_int_equal(caps->max_msg_fds, 1);
		assert_int_equal(caps->max_data_xfer_size, 1 << 20);
		assert_int_equal(caps->pgsizes, 4096);
		assert_int_equal(caps->max_dma_maps, 65535);
		peer_end(&p, c);
	}
}

struct vreply {
	uint16_t major, minor;
	const char *json;
	size_t len; /* bytes of json sent, NUL included or not */
};

static void s_version_reply(struct peer *p)
{
	const struct vreply *r = p->arg;

	PCHECK(p_hello_v(p, r->major, r->minor, r->json, r->len));
	PCHECK(p_eof(p));
}

static void version_refused(const struct vreply *r, const char *log)
{
	struct peer p;
	struct sim_vfu *c = (void *)1;

	logbuf[0] = '\0';
	assert_int_equal(attach(&p, s_version_reply, (void *)r, TMO, &c), -EPROTO);
	assert_null(c);
	peer_end(&p, NULL);
	assert_logged(log);
}

#define J(s) s, sizeof(s) /* with its NUL */

static void test_version_refuses_another_major(void **state)
{
	const struct vreply r = { 1, 0, J("{}") };

	(void)state;
	version_refused(&r, "we speak major 0");
}

static void test_version_refuses_a_higher_minor(void **state)
{
	const struct vreply r = { 0, 1, NULL, 0 };

	(void)state;
	version_refused(&r, "above our 0.0");
}

static void test_version_refuses_a_capability_not_proposed(void **state)
{
	const struct vreply r = {
		0, 0, J("{\"capabilities\":{\"twin_socket\":{\"supported\":true}}}")
	};

	(void)state;
	version_refused(&r, "\"twin_socket\" was not proposed");
}

static void test_version_refuses_malformed_json(void **state)
{
	static const struct {
		struct vreply r;
		const char *log;
	} bad[] = {
		{ { 0, 0, "{}", 2 }, "not NUL-terminated" },
		{ { 0, 0, J("{\"capabilities\":") }, "capabilities JSON" },
		{ { 0, 0, J("not json") }, "capabilities JSON" },
		{ { 0, 0, "{}\0{}", 6 }, "capabilities JSON" },
		{ { 0, 0, J("[]") }, "is not {\"capabilities\"" },
		{ { 0, 0, J("{\"capabilities\":[]}") }, "is not {\"capabilities\"" },
		{ { 0, 0, J("{\"capabilities\":{\"max_msg_fds\":\"8\"}}") },
		  "max_msg_fds is not an integer" },
		{ { 0, 0, J("{\"capabilities\":{\"max_msg_fds\":-1}}") },
		  "max_msg_fds is not an integer" },
		{ { 0, 0, J("{\"capabilities\":{\"max_msg_fds\":4294967296}}") },
		  "max_msg_fds is not an integer" },
		{ { 0, 0, J("{\"capabilities\":{\"max_data_xfer_size\":0}}") },
		  "max_data_xfer_size is not an integer" },
		{ { 0, 0, J("{\"capabilities\":{\"max_data_xfer_size\":4096.0}}") },
		  "max_data_xfer_size is not an integer" },
		{ { 0, 0, J("{\"capabilities\":{\"pgsizes\":0}}") },
		  "pgsizes is not an integer" },
		{ { 0, 0, J("{\"capabilities\":{\"max_dma_maps\":null}}") },
		  "max_dma_maps is not an integer" },
		{ { 0, 0, J("{\"capabilities\":{\"write_multiple\":1}}") },
		  "write_multiple is not a boolean" },
		{ { 0, 0, J("{\"capabilities\":{\"pgsizes\":4096,\"pgsizes\":4096}}") },
		  "capabilities JSON" },
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		version_refused(&bad[i].r, bad[i].log);
}

static void s_version_short(struct peer *p)
{
	struct pmsg m;
	uint16_t major = 0;

	PCHECK(p_recv(p, &m));
	PCHECK(p_reply(p, &m, &major, sizeof(major)));
	PCHECK(p_eof(p));
}

static void s_version_error(struct peer *p)
{
	struct pmsg m;

	PCHECK(p_recv(p, &m));
	PCHECK(p_error(p, &m, EPROTONOSUPPORT));
	PCHECK(p_eof(p));
}

static void test_version_short_or_error_reply_fails_the_connection(void **state)
{
	struct peer p;
	struct sim_vfu *c;

	(void)state;
	logbuf[0] = '\0';
	assert_int_equal(attach(&p, s_version_short, NULL, TMO, &c), -EPROTO);
	peer_end(&p, c);
	assert_logged("VERSION: reply of 2 bytes, 4 expected");

	assert_int_equal(attach(&p, s_version_error, NULL, TMO, &c),
			 -EPROTONOSUPPORT);
	peer_end(&p, c);
	assert_logged("refused by the server");
}

/* ---- connecting by path ----------------------------------------------- */

struct listen_arg {
	char path[108];
	int delay_ms;
};

/* Listen only after a while: the client must keep trying. */
static void s_listen_late(struct peer *p)
{
	const struct listen_arg *a = p->arg;
	const struct timespec d = { .tv_nsec = a->delay_ms * 1000000L };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	int lfd;

	nanosleep(&d, NULL);
	memcpy(sa.sun_path, a->path, strlen(a->path) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	PCHECK(lfd >= 0);
	PCHECK(!bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) && !listen(lfd, 1) &&
	       !setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	p->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	close(lfd);
	PCHECK(p->fd >= 0);
	PCHECK(!setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	HELLO(NULL);
	PCHECK(p_eof(p));
}

static void test_connect_waits_for_the_socket_within_the_timeout(void **state)
{
	char dir[] = "/tmp/vfu-test-XXXXXX", longpath[200];
	struct listen_arg a = { .delay_ms = 100 };
	struct sim_vfu *c = NULL;
	struct peer p;
	int64_t t0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(a.path, sizeof(a.path), "%s/sock", dir);
	peer_run(&p, -1, s_listen_late, &a);
	assert_int_equal(sim_vfu_connect(a.path, TMO, &c), 0);
	assert_non_null(c);
	peer_end(&p, c);
	unlink(a.path);

	/* Nobody there: the last error once the timeout has passed. */
	t0 = ms();
	assert_int_equal(sim_vfu_connect(a.path, 150, &c), -ENOENT);
	assert_true(ms() - t0 >= 140 && ms() - t0 < 1500);
	assert_null(c);

	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(sim_vfu_connect(longpath, 100, &c), -ENAMETOOLONG);
	rmdir(dir);
}

/* ---- DMA -------------------------------------------------------------- */

struct dma_arg {
	struct sim_hostmem mem;
	int fail_at;   /* DMA_MAP number answered EEXIST, -1 none */
};

/* One DMA_MAP of region r of mem, checked field by field and by its fd. */
#define EXPECT_MAP(m, r, flags_) \
	do { \
		struct vfu_dma_map d_; \
		EXPECT((m), VFU_CMD_DMA_MAP, sizeof(d_)); \
		memcpy(&d_, (m)->d, sizeof(d_)); \
		PCHECK(d_.argsz == sizeof(d_) && d_.flags == (flags_)); \
		PCHECK(d_.offset == 0 && d_.addr == (r)->iova && d_.size == (r)->len); \
		PCHECK((m)->nfds == 1 && same_file((m)->fds[0], (r)->fd)); \
	} while (0)

#define EXPECT_UNMAP(m, iova_, len_) \
	do { \
		struct vfu_dma_unmap u_; \
		EXPECT((m), VFU_CMD_DMA_UNMAP, sizeof(u_)); \
		memcpy(&u_, (m)->d, sizeof(u_)); \
		PCHECK(u_.argsz == sizeof(u_) && u_.flags == 0); \
		PCHECK(u_.addr == (iova_) && u_.size == (len_)); \
		PCHECK((m)->nfds == 0); \
		PCHECK(p_reply(p, (m), (m)->d, sizeof(u_))); \
	} while (0)

static void s_dma_map(struct peer *p)
{
	struct dma_arg *a = p->arg;
	const struct sim_hostmem_region *r = &a->mem.r[0];
	struct pmsg m;
	uint8_t *va;

	HELLO(NULL);
	EXPECT_MAP(&m, r, RW);
	/* the very memory: what the host wrote is there */
	va = mmap(NULL, r->len, PROT_READ, MAP_SHARED, m.fds[0], 0);
	PCHECK(va != MAP_FAILED);
	PCHECK(va[0] == 0x5a && va[r->len - 1] == 0xa5);
	munmap(va, r->len);
	p_close_fds(&m);
	PCHECK(p_reply(p, &m, NULL, 0));
	EXPECT_UNMAP(&m, r->iova, r->len);
	/* without an fd: no SCM_RIGHTS at all */
	EXPECT(&m, VFU_CMD_DMA_MAP, sizeof(struct vfu_dma_map));
	PCHECK(m.nfds == 0);
	PCHECK(p_reply(p, &m, NULL, 0));
	PCHECK(p_eof(p));
}

static void test_dma_map_passes_the_memfd_and_layout(void **state)
{
	struct dma_arg a;
	struct peer p;
	struct sim_vfu *c;
	const struct sim_hostmem_region *r;

	(void)state;
	sim_hostmem_init(&a.mem);
	assert_int_equal(sim_hostmem_add(&a.mem, 0x100000, 0x2000), 0);
	r = &a.mem.r[0];
	r->va[0] = 0x5a;
	r->va[r->len - 1] = 0xa5;
	c = client(&p, s_dma_map, &a);
	assert_int_equal(sim_vfu_dma_map(c, r->iova, r->len, r->fd, 0, RW), 0);
	assert_int_equal(sim_vfu_dma_unmap(c, r->iova, r->len), 0);
	/* refused before anything is sent */
	assert_int_equal(sim_vfu_dma_map(c, r->iova + 1, r->len, r->fd, 0, RW), -EINVAL);
	assert_int_equal(sim_vfu_dma_map(c, r->iova, 0, r->fd, 0, RW), -EINVAL);
	assert_int_equal(sim_vfu_dma_map(c, r->iova, r->len, r->fd, 0x800, RW), -EINVAL);
	assert_int_equal(sim_vfu_dma_map(c, r->iova, r->len, r->fd, 0, 4), -EINVAL);
	assert_int_equal(sim_vfu_dma_map(c, r->iova, r->len, -1, 0x1000, RW), -EINVAL);
	assert_int_equal(sim_vfu_dma_map(c, ~0ull - 0xfff, 0x2000, r->fd, 0, RW),
			 -EINVAL);
	assert_int_equal(sim_vfu_dma_map(c, r->iova, r->len, -1, 0, VFU_DMA_READ), 0);
	peer_end(&p, c);
	sim_hostmem_free(&a.mem);
}

static void s_dma_limits(struct peer *p)
{
	struct dma_arg *a = p->arg;
	const struct sim_hostmem_region *r = &a->mem.r[0];
	struct vfu_dma_unmap u;
	struct pmsg m;

	HELLO("{\"capabilities\":{\"pgsizes\":65536,\"max_dma_maps\":1}}");
	EXPECT_MAP(&m, r, VFU_DMA_READ);
	p_close_fds(&m);
	PCHECK(p_reply(p, &m, NULL, 0));
	/* an unmap reply naming another window, then one without the echo */
	EXPECT(&m, VFU_CMD_DMA_UNMAP, sizeof(u));
	memcpy(&u, m.d, sizeof(u));
	u.addr += 0x10000;
	PCHECK(p_reply(p, &m, &u, sizeof(u)));
	EXPECT(&m, VFU_CMD_DMA_UNMAP, sizeof(u));
	PCHECK(p_reply(p, &m, NULL, 0));
	EXPECT_UNMAP(&m, r->iova, r->len);
	EXPECT_MAP(&m, r, VFU_DMA_READ);
	p_close_fds(&m);
	PCHECK(p_reply(p, &m, NULL, 0));
	PCHECK(p_eof(p));
}

static void test_dma_map_keeps_to_the_servers_page_size_and_map_count(void **state)
{
	struct dma_arg a;
	struct peer p;
	struct sim_vfu *c;
	const struct sim_hostmem_region *r;

	(void)state;
	sim_hostmem_init(&a.mem);
	assert_int_equal(sim_hostmem_add(&a.mem, 0x100000, 0x10000), 0);
	r = &a.mem.r[0];
	c = client(&p, s_dma_limits, &a);
	assert_int_equal(sim_vfu_dma_map(c, r->iova, 0x1000, r->fd, 0,
					 VFU_DMA_READ), -EINVAL);
	assert_int_equal(sim_vfu_dma_map(c, r->iova, r->len, r->fd, 0,
					 VFU_DMA_READ), 0);
	assert_int_equal(sim_vfu_dma_map(c, 0x200000, r->len, r->fd, 0,
					 VFU_DMA_READ), -ENOSPC);
	logbuf[0] = '\0';
	assert_int_equal(sim_vfu_dma_unmap(c, r->iova, r->len), -EPROTO);
	assert_logged("DMA_UNMAP: reply names 0x110000+0x10000");
	assert_int_equal(sim_vfu_dma_unmap(c, r->iova, r->len), -EPROTO);
	assert_int_equal(sim_vfu_dma_unmap(c, r->iova, r->len), 0);
	assert_int_equal(sim_vfu_dma_map(c, r->iova, r->len, r->fd, 0,
					 VFU_DMA_READ), 0);
	peer_end(&p, c);
	sim_hostmem_free(&a.mem);
}

static void s_map_hostmem(struct peer *p)
{
	struct dma_arg *a = p->arg;
	struct pmsg m;
	int i;

	HELLO(NULL);
	/* first round: the third map fails, the first two are undone */
	for (i = 0; i < 3; i++) {
		EXPECT_MAP(&m, &a->mem.r[i], RW);
		p_close_fds(&m);
		if (i == a->fail_at)
			PCHECK(p_error(p, &m, EEXIST));
		else
			PCHECK(p_reply(p, &m, NULL, 0));
	}
	for (i = 1; i >= 0; i--)
		EXPECT_UNMAP(&m, a->mem.r[i].iova, a->mem.r[i].len);
	for (i = 0; i < 3; i++) {
		EXPECT_MAP(&m, &a->mem.r[i], RW);
		p_close_fds(&m);
		PCHECK(p_reply(p, &m, NULL, 0));
	}
	PCHECK(p_eof(p));
}

static void test_map_hostmem_maps_every_region_or_none(void **state)
{
	struct dma_arg a = { .fail_at = 2 };
	struct peer p;
	struct sim_vfu *c;

	(void)state;
	sim_hostmem_init(&a.mem);
	assert_int_equal(sim_hostmem_add(&a.mem, 0x100000, 0x1000), 0);
	assert_int_equal(sim_hostmem_add(&a.mem, 0x101000, 0x3000), 0);
	assert_int_equal(sim_hostmem_add(&a.mem, 0x800000, 0x2000), 0);
	c = client(&p, s_map_hostmem, &a);
	assert_int_equal(sim_vfu_map_hostmem(c, &a.mem, RW), -EEXIST);
	assert_int_equal(sim_vfu_map_hostmem(c, &a.mem, RW), 0);
	peer_end(&p, c);
	sim_hostmem_free(&a.mem);
}

/* ---- reply plumbing --------------------------------------------------- */

static void s_error_replies(struct peer *p)
{
	struct pmsg m;

	HELLO(NULL);
	EXPECT(&m, VFU_CMD_DEVICE_GET_INFO, sizeof(struct vfu_device_info));
	PCHECK(p_error(p, &m, EBUSY));
	EXPECT(&m, VFU_CMD_DEVICE_GET_INFO, sizeof(struct vfu_device_info));
	PCHECK(p_error(p, &m, 0));
	EXPECT(&m, VFU_CMD_DEVICE_GET_INFO, sizeof(struct vfu_device_info));
	PCHECK(p_error(p, &m, 70000));
	/* an error reply that carries a payload anyway */
	EXPECT(&m, VFU_CMD_DEVICE_GET_INFO, sizeof(struct vfu_device_info));
	PCHECK(p_msg(p, m.h.msg_id, m.h.cmd, VFU_F_REPLY | VFU_F_ERROR, ENODEV,
		     &dev_info, sizeof(dev_info), NULL, 0));
	DEVICE_INFO_OK(&m);
	PCHECK(p_eof(p));
}

static void test_error_reply_gives_negative_errno_and_keeps_the_connection(void **state)
{
	struct vfu_device_info info;
	struct peer p;
	struct sim_vfu *c = client(&p, s_error_replies, NULL);

	(void)state;
	assert_int_equal(sim_vfu_device_info(c, &info), -EBUSY);
	assert_int_equal(sim_vfu_device_info(c, &info), -EIO);
	assert_int_equal(sim_vfu_device_info(c, &info), -EIO);
	assert_int_equal(sim_vfu_device_info(c, &info), -ENODEV);
	assert_int_equal(sim_vfu_device_info(c, &info), 0);
	assert_memory_equal(&info, &dev_info, sizeof(info));
	peer_end(&p, c);
}

/* Answer one DEVICE_GET_INFO with a header off by `what`. */
static void s_mismatch(struct peer *p)
{
	int what = (int)(intptr_t)p->arg;
	struct pmsg m;
	uint16_t id, cmd;
	uint32_t flags = VFU_F_REPLY;

	HELLO(NULL);
	EXPECT(&m, VFU_CMD_DEVICE_GET_INFO, sizeof(struct vfu_device_info));
	id = m.h.msg_id;
	cmd = m.h.cmd;
	if (what == 0)
		id++;
	else if (what == 1)
		cmd = VFU_CMD_DEVICE_GET_IRQ_INFO;
	else
		flags = 2; /* neither command nor reply */
	PCHECK(p_msg(p, id, cmd, flags, 0, &dev_info, sizeof(dev_info), NULL, 0));
	/* nothing is sent on a broken connection */
	PCHECK(p_eof(p));
}

static void mismatch(int what, const char *log)
{
	struct vfu_device_info info;
	struct peer p;
	struct sim_vfu *c = client(&p, s_mismatch, (void *)(intptr_t)what);

	logbuf[0] = '\0';
	assert_int_equal(sim_vfu_device_info(c, &info), -EPROTO);
	assert_logged(log);
	assert_int_equal(sim_vfu_reset(c), -ENOTCONN);
	assert_int_equal(sim_vfu_device_info(c, &info), -ENOTCONN);
	peer_end(&p, c);
}

static void test_reply_with_wrong_id_breaks_the_connection(void **state)
{
	(void)state;
	mismatch(0, "reply type 1 id 3 command 4 to request id 2: connection dropped");
}

static void test_reply_with_wrong_command_breaks_the_connection(void **state)
{
	(void)state;
	mismatch(1, "reply type 1 id 2 command 7 to request id 2");
	mismatch(2, "reply type 2 id 2 command 4 to request id 2");
}

static void s_short(struct peer *p)
{
	struct vfu_irq_info irq = { .argsz = sizeof(irq), .index = MSIX };
	struct pmsg m;

	HELLO(NULL);
	EXPECT(&m, VFU_CMD_DEVICE_GET_INFO, sizeof(struct vfu_device_info));
	PCHECK(p_reply(p, &m, &dev_info, 8));
	EXPECT(&m, VFU_CMD_DEVICE_GET_IRQ_INFO, sizeof(irq));
	PCHECK(p_reply(p, &m, &irq, sizeof(irq)));
	/* then a reply whose header promises more than ever comes */
	EXPECT(&m, VFU_CMD_DEVICE_GET_INFO, sizeof(struct vfu_device_info));
	PCHECK(p_send(p, &(struct vfu_hdr){ .msg_id = m.h.msg_id, .cmd = m.h.cmd,
		      .size = 32, .flags = VFU_F_REPLY }, 16, NULL, 0));
	PCHECK(p_send(p, &dev_info, 8, NULL, 0));
	shutdown(p->fd, SHUT_RDWR);
}

static void test_short_reply_is_refused(void **state)
{
	struct vfu_device_info info;
	struct vfu_irq_info irq;
	struct peer p;
	struct sim_vfu *c = client(&p, s_short, NULL);

	(void)state;
	logbuf[0] = '\0';
	assert_int_equal(sim_vfu_device_info(c, &info), -EPROTO);
	assert_logged("DEVICE_GET_INFO: reply of 8 bytes, 16 expected");
	/* whole but short: the stream is still in step */
	assert_int_equal(sim_vfu_irq_info(c, MSIX, &irq), 0);
	assert_int_equal(irq.index, MSIX);
	/* cut short by the server going away */
	assert_int_equal(sim_vfu_device_info(c, &info), -ECONNRESET);
	assert_logged("server closed the connection");
	assert_int_equal(sim_vfu_reset(c), -ENOTCONN);
	peer_end(&p, c);
}

/* The sparse-mmap REGION_INFO reply of test_region_info_*: n areas of
 * 0x200 bytes every 0x400 in a 0x4000-byte region; returns its length. */
static size_t rinfo(uint8_t *b, uint32_t index, uint32_t flags, unsigned n)
{
	struct vfu_region_info info = {
		.argsz = (uint32_t)(sizeof(info) + (n ? 16 + 16 * n : 0)),
		.flags = flags | (n ? VFIO_REGION_INFO_FLAG_CAPS : 0),
		.index = index, .cap_offset = n ? sizeof(info) : 0,
		.size = 0x4000, .offset = 0x10000,
	};
	struct vfio_region_info_cap_sparse_mmap sm = {
		.header = { .id = VFIO_REGION_INFO_CAP_SPARSE_MMAP, .version = 1 },
		.nr_areas = n,
	};
	size_t off = sizeof(info);

	memcpy(b, &info, sizeof(info));
	if (n) {
		memcpy(b + off, &sm, sizeof(sm));
		off += sizeof(sm);
	}
	for (unsigned i = 0; i < n; i++) {
		struct vfio_region_sparse_mmap_area a = { i * 0x400ull, 0x200 };

		memcpy(b + off, &a, sizeof(a));
		off += sizeof(a);
	}
	return off;
}

static void s_split(struct peer *p)
{
	const int *fd = p->arg;
	const struct timespec gap = { .tv_nsec = 2 * 1000 * 1000 };
	uint8_t b[16 + 512];
	struct pmsg m;
	size_t len, off;

	HELLO(NULL);
	EXPECT(&m, VFU_CMD_DEVICE_GET_REGION_INFO, sizeof(struct vfu_region_info));
	len = rinfo(b + 16, 2, VFIO_REGION_INFO_FLAG_READ |
		    VFIO_REGION_INFO_FLAG_MMAP, 3);
	memcpy(b, &(struct vfu_hdr){ .msg_id = m.h.msg_id, .cmd = m.h.cmd,
	       .size = (uint32_t)(16 + len), .flags = VFU_F_REPLY }, 16);
	/* the header a byte at a time, then 7-byte pieces; the fd rides on
	 * the third piece of the payload */
	for (off = 0; off < 16; off++) {
		PCHECK(p_send(p, b + off, 1, NULL, 0));
		nanosleep(&gap, NULL);
	}
	for (unsigned k = 0; off < 16 + len; k++, off += 7) {
		size_t n = 16 + len - off < 7 ? 16 + len - off : 7;

		PCHECK(p_send(p, b + off, n, fd, k == 2));
		nanosleep(&gap, NULL);
	}
	PCHECK(p_eof(p));
}

static void test_reply_split_across_writes_is_reassembled(void **state)
{
	struct sim_vfu_sparse areas[4];
	struct vfu_region_info info;
	unsigned n = 4;
	int mfd = memfd(0x1000), fd = -1;
	struct peer p;
	struct sim_vfu *c = client(&p, s_split, &mfd);

	(void)state;
	assert_int_equal(sim_vfu_region_info(c, 2, &info, areas, &n, &fd), 0);
	assert_int_equal(info.size, 0x4000);
	assert_int_equal(info.offset, 0x10000);
	assert_int_equal(n, 3);
	assert_int_equal(areas[2].offset, 0x800);
	assert_int_equal(areas[2].size, 0x200);
	assert_true(fd >= 0 && same_file(fd, mfd));
	close(fd);
	close(mfd);
	peer_end(&p, c);
}

static void s_long(struct peer *p)
{
	uint8_t big[sizeof(dev_info) + 100] = { 0 };
	struct pmsg m;

	memcpy(big, &dev_info, sizeof(dev_info));
	HELLO(NULL);
	EXPECT(&m, VFU_CMD_DEVICE_GET_INFO, sizeof(struct vfu_device_info));
	PCHECK(p_reply(p, &m, big, sizeof(big)));
	DEVICE_INFO_OK(&m);
	EXPECT(&m, VFU_CMD_DMA_MAP, sizeof(struct vfu_dma_map));
	PCHECK(p_reply(p, &m, big, 4));
	EXPECT(&m, VFU_CMD_DEVICE_RESET, 0);
	PCHECK(p_reply(p, &m, NULL, 0));
	/* claims 2 MiB: not worth reading through */
	EXPECT(&m, VFU_CMD_DEVICE_GET_INFO, sizeof(struct vfu_device_info));
	PCHECK(p_send(p, &(struct vfu_hdr){ .msg_id = m.h.msg_id, .cmd = m.h.cmd,
		      .size = 16 + (2u << 20), .flags = VFU_F_REPLY }, 16, NULL, 0));
	PCHECK(p_eof(p));
}

static void test_reply_longer_than_expected_is_drained_and_refused(void **state)
{
	struct vfu_device_info info;
	struct peer p;
	struct sim_vfu *c = client(&p, s_long, NULL);

	(void)state;
	logbuf[0] = '\0';
	assert_int_equal(sim_vfu_device_info(c, &info), -EPROTO);
	assert_logged("DEVICE_GET_INFO: reply of 116 bytes, at most 16 expected");
	/* drained: the next reply is read from its first byte */
	assert_int_equal(sim_vfu_device_info(c, &info), 0);
	assert_memory_equal(&info, &dev_info, sizeof(info));
	assert_int_equal(sim_vfu_dma_map(c, 0x1000, 0x1000, -1, 0, RW), -EPROTO);
	assert_int_equal(sim_vfu_reset(c), 0);
	assert_int_equal(sim_vfu_device_info(c, &info), -EPROTO);
	assert_logged("reply far longer than expected: connection dropped");
	assert_int_equal(sim_vfu_reset(c), -ENOTCONN);
	peer_end(&p, c);
}

static void s_stray_fds(struct peer *p)
{
	struct vfu_region_info info = {
		.argsz = sizeof(info), .flags = VFIO_REGION_INFO_FLAG_READ,
		.index = CFG, .size = 256,
	};
	int efd = eventfd(0, EFD_CLOEXEC);
	struct pmsg m;

	PCHECK(efd >= 0);
	HELLO(NULL);
	EXPECT(&m, VFU_CMD_DEVICE_GET_INFO, sizeof(struct vfu_device_info));
	PCHECK(p_reply_fds(p, &m, &dev_info, sizeof(dev_info), &efd, 1));
	EXPECT(&m, VFU_CMD_DEVICE_GET_REGION_INFO, sizeof(info));
	PCHECK(p_reply_fds(p, &m, &info, sizeof(info), &efd, 1));
	EXPECT(&m, VFU_CMD_DEVICE_RESET, 0);
	PCHECK(p_error(p, &m, EBUSY));
	close(efd);
	PCHECK(p_eof(p));
}

static void test_unexpected_fd_is_closed(void **state)
{
	struct vfu_region_info info;
	struct vfu_device_info dinfo;
	struct peer p;
	struct sim_vfu *c;
	int before = count_fds(), fd = 7;

	(void)state;
	c = client(&p, s_stray_fds, NULL);
	logbuf[0] = '\0';
	assert_int_equal(sim_vfu_device_info(c, &dinfo), 0);
	assert_logged("DEVICE_GET_INFO: unexpected fd closed");
	assert_int_equal(sim_vfu_region_info(c, CFG, &info, NULL, NULL, &fd), 0);
	assert_int_equal(fd, -1);
	assert_int_equal(info.size, 256);
	assert_logged("GET_REGION_INFO 7: unexpected fd closed");
	assert_int_equal(sim_vfu_reset(c), -EBUSY);
	peer_end(&p, c);
	assert_int_equal(count_fds(), before);
}

static void s_silent(struct peer *p)
{
	struct pmsg m;

	if (p->arg)
		HELLO(NULL);
	PCHECK(p_recv(p, &m));
	/* never answer; wait for the client to go */
	PCHECK(p_eof(p));
}

static void test_silent_server_times_out(void **state)
{
	struct vfu_device_info info;
	struct sim_vfu *c;
	struct peer p;
	int64_t t0;

	(void)state;
	/* during the handshake */
	t0 = ms();
	assert_int_equal(attach(&p, s_silent, NULL, 150, &c), -ETIMEDOUT);
	assert_true(ms() - t0 >= 140 && ms() - t0 < 1500);
	peer_end(&p, c);

	assert_int_equal(attach(&p, s_silent, (void *)1, 150, &c), 0);
	logbuf[0] = '\0';
	t0 = ms();
	assert_int_equal(sim_vfu_device_info(c, &info), -ETIMEDOUT);
	assert_true(ms() - t0 >= 140 && ms() - t0 < 1500);
	assert_logged("DEVICE_GET_INFO: no reply within 150 ms");
	/* a late reply could be taken for the next one's: no next one */
	assert_int_equal(sim_vfu_reset(c), -ENOTCONN);
	peer_end(&p, c);
}

/* Close after VERSION arrives (arg 0), after answering it (1), or after
 * the first request arrives (2). */
static void s_close(struct peer *p)
{
	int when = (int)(intptr_t)p->arg;
	struct pmsg m;

	if (when == 0) {
		PCHECK(p_recv(p, &m));
	} else {
		HELLO(NULL);
		if (when == 2)
			EXPECT(&m, VFU_CMD_DEVICE_RESET, 0);
	}
	close(p->fd);
	p->fd = -1;
}

static void test_server_closing_gives_connreset(void **state)
{
	struct sim_vfu *c;
	struct peer p;

	(void)state;
	assert_int_equal(attach(&p, s_close, NULL, TMO, &c), -ECONNRESET);
	peer_end(&p, c);

	assert_int_equal(attach(&p, s_close, (void *)2, TMO, &c), 0);
	assert_int_equal(sim_vfu_reset(c), -ECONNRESET);
	assert_int_equal(sim_vfu_reset(c), -ENOTCONN);
	peer_end(&p, c);

	/* gone before the request is sent: EPIPE, and no SIGPIPE */
	assert_int_equal(attach(&p, s_close, (void *)1, TMO, &c), 0);
	peer_join(&p);
	assert_int_equal(sim_vfu_region_write(c, 0, 0, "x", 1), -EPIPE);
	assert_int_equal(sim_vfu_reset(c), -ENOTCONN);
	peer_end(&p, c);
}

static void s_server_command(struct peer *p)
{
	struct { uint64_t addr, count; } rd = { 0x1000, 8 };
	struct vfu_irq_info irq = { .argsz = sizeof(irq), .index = MSIX, .count = 3 };
	int efd = eventfd(0, EFD_CLOEXEC);
	struct pmsg m, r;

	HELLO(NULL);
	EXPECT(&m, VFU_CMD_DEVICE_GET_INFO, sizeof(struct vfu_device_info));
	/* a DMA_READ (with a stray fd) before the reply */
	PCHECK(p_msg(p, 77, VFU_CMD_DMA_READ, VFU_F_COMMAND, 0, &rd, sizeof(rd),
		     &efd, 1));
	PCHECK(p_recv(p, &r));
	PCHECK(r.h.msg_id == 77 && r.h.cmd == VFU_CMD_DMA_READ);
	PCHECK(r.h.flags == (VFU_F_REPLY | VFU_F_ERROR) && r.h.error == ENOTSUP);
	PCHECK(r.len == 0 && r.nfds == 0);
	/* a DMA_WRITE that wants no reply */
	PCHECK(p_msg(p, 78, VFU_CMD_DMA_WRITE, VFU_F_COMMAND | VFU_F_NO_REPLY, 0,
		     &rd, sizeof(rd), NULL, 0));
	PCHECK(p_reply(p, &m, &dev_info, sizeof(dev_info)));
	/* the next message is the next request, not an answer to DMA_WRITE */
	EXPECT(&m, VFU_CMD_DEVICE_GET_IRQ_INFO, sizeof(irq));
	PCHECK(p_reply(p, &m, &irq, sizeof(irq)));
	close(efd);
	PCHECK(p_eof(p));
}

static void test_server_command_is_refused_and_the_reply_still_arrives(void **state)
{
	struct vfu_device_info info;
	struct vfu_irq_info irq;
	int before = count_fds();
	struct peer p;
	struct sim_vfu *c = client(&p, s_server_command, NULL);

	(void)state;
	assert_int_equal(sim_vfu_device_info(c, &info), 0);
	assert_memory_equal(&info, &dev_info, sizeof(info));
	assert_int_equal(sim_vfu_irq_info(c, MSIX, &irq), 0);
	assert_int_equal(irq.count, 3);
	peer_end(&p, c);
	assert_int_equal(count_fds(), before);
}

/* ---- information ------------------------------------------------------ */

static void s_infos(struct peer *p)
{
	struct vfu_irq_info irq;
	struct vfu_device_info d;
	struct pmsg m;

	HELLO(NULL);
	EXPECT(&m, VFU_CMD_DEVICE_GET_INFO, sizeof(d));
	memcpy(&d, m.d, sizeof(d));
	PCHECK(d.argsz == sizeof(d) && !d.flags && !d.num_regions && !d.num_irqs);
	PCHECK(p_reply(p, &m, &dev_info, sizeof(dev_info)));
	EXPECT(&m, VFU_CMD_DEVICE_GET_IRQ_INFO, sizeof(irq));
	memcpy(&irq, m.d, sizeof(irq));
	PCHECK(irq.argsz == sizeof(irq) && !irq.flags && irq.index == MSIX &&
	       !irq.count);
	irq.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
	irq.count = 9;
	PCHECK(p_reply(p, &m, &irq, sizeof(irq)));
	/* the answer for another index, then an argsz below the struct */
	EXPECT(&m, VFU_CMD_DEVICE_GET_IRQ_INFO, sizeof(irq));
	irq.index = VFIO_PCI_INTX_IRQ_INDEX;
	PCHECK(p_reply(p, &m, &irq, sizeof(irq)));
	EXPECT(&m, VFU_CMD_DEVICE_GET_INFO, sizeof(d));
	d = dev_info;
	d.argsz = 8;
	PCHECK(p_reply(p, &m, &d, sizeof(d)));
	PCHECK(p_eof(p));
}

static void test_device_and_irq_info_layout(void **state)
{
	struct vfu_device_info info;
	struct vfu_irq_info irq;
	struct peer p;
	struct sim_vfu *c = client(&p, s_infos, NULL);

	(void)state;
	assert_int_equal(sim_vfu_device_info(c, &info), 0);
	assert_memory_equal(&info, &dev_info, sizeof(info));
	assert_int_equal(sim_vfu_irq_info(c, MSIX, &irq), 0);
	assert_int_equal(irq.count, 9);
	assert_int_equal(irq.flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE);
	assert_int_equal(sim_vfu_irq_info(c, MSIX, &irq), -EPROTO);
	assert_int_equal(sim_vfu_device_info(c, &info), -EPROTO);
	peer_end(&p, c);
}

static void s_region_info(struct peer *p)
{
	const int *fd = p->arg;
	struct vfu_region_info q, info = {
		.argsz = 96,
		.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
			 VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS,
		.index = 2, .cap_offset = 32, .size = 0x4000, .offset = 0x10000,
	};
	/* a capability we skip, then the sparse areas */
	struct vfio_info_cap_header other = { .id = VFIO_REGION_INFO_CAP_TYPE,
					      .version = 1, .next = 48 };
	uint32_t type[2] = { 1, 2 };
	struct vfio_region_info_cap_sparse_mmap sm = {
		.header = { .id = VFIO_REGION_INFO_CAP_SPARSE_MMAP, .version = 1 },
		.nr_areas = 2,
	};
	struct vfio_region_sparse_mmap_area a[2] = { { 0x1000, 0x1000 },
						     { 0x3000, 0x1000 } };
	uint8_t b[96];
	struct pmsg m;

	memcpy(b, &info, 32);
	memcpy(b + 32, &other, 8);
	memcpy(b + 40, type, 8);
	memcpy(b + 48, &sm, 16);
	memcpy(b + 64, a, 32);
	HELLO(NULL);
	EXPECT(&m, VFU_CMD_DEVICE_GET_REGION_INFO, sizeof(q));
	memcpy(&q, m.d, sizeof(q));
	PCHECK(q.argsz >= sizeof(q) + 64 && q.index == 2 && !q.flags &&
	       !q.cap_offset && !q.size && !q.offset);
	PCHECK(p_reply_fds(p, &m, b, sizeof(b), fd, 1));
	PCHECK(p_eof(p));
}

static void test_region_info_parses_sparse_mmap(void **state)
{
	struct sim_vfu_sparse areas[1];
	struct vfu_region_info info;
	unsigned n = 1;
	int mfd = memfd(0x4000), fd = -1;
	struct peer p;
	struct sim_vfu *c = client(&p, s_region_info, &mfd);

	(void)state;
	assert_int_equal(sim_vfu_region_info(c, 2, &info, areas, &n, &fd), 0);
	assert_int_equal(info.argsz, 96);
	assert_int_equal(info.size, 0x4000);
	/* two listed, room for one */
	assert_int_equal(n, 2);
	assert_int_equal(areas[0].offset, 0x1000);
	assert_int_equal(areas[0].size, 0x1000);
	assert_true(same_file(fd, mfd));
	close(fd);
	close(mfd);
	peer_end(&p, c);
}

static void s_region_info_again(struct peer *p)
{
	const int *fd = p->arg;
	struct vfu_region_info q, info;
	uint8_t b[512];
	struct pmsg m;
	size_t len;

	HELLO(NULL);
	for (int round = 0; round < 2; round++) {
		len = rinfo(b, 1, VFIO_REGION_INFO_FLAG_MMAP, 10);
		memcpy(&info, b, sizeof(info));
		EXPECT(&m, VFU_CMD_DEVICE_GET_REGION_INFO, sizeof(q));
		memcpy(&q, m.d, sizeof(q));
		PCHECK(q.argsz < info.argsz);
		/* only the struct, saying how much room it needs (and an fd
		 * that must not leak) */
		PCHECK(p_reply_fds(p, &m, &info, sizeof(info), fd, 1));
		EXPECT(&m, VFU_CMD_DEVICE_GET_REGION_INFO, sizeof(q));
		memcpy(&q, m.d, sizeof(q));
		PCHECK(q.argsz == info.argsz && q.index == 1);
		if (round == 0) {
			PCHECK(p_reply_fds(p, &m, b, len, fd, 1));
		} else {
			/* and then it wants even more */
			info.argsz += 100;
			PCHECK(p_reply_fds(p, &m, &info, sizeof(info), fd, 1));
		}
	}
	PCHECK(p_eof(p));
}

static void test_region_info_asks_again_with_the_size_the_server_needs(void **state)
{
	struct sim_vfu_sparse areas[16];
	struct vfu_region_info info;
	unsigned n = 16;
	int mfd = memfd(0x4000), fd = -1, before;
	struct peer p;
	struct sim_vfu *c;

	(void)state;
	before = count_fds();
	c = client(&p, s_region_info_again, &mfd);
	assert_int_equal(sim_vfu_region_info(c, 1, &info, areas, &n, &fd), 0);
	assert_int_equal(n, 10);
	assert_int_equal(areas[9].offset, 9 * 0x400);
	assert_true(same_file(fd, mfd));
	close(fd);
	logbuf[0] = '\0';
	n = 16;
	assert_int_equal(sim_vfu_region_info(c, 1, &info, areas, &n, &fd), -EPROTO);
	assert_logged("argsz 308 after we offered 208");
	assert_int_equal(fd, -1);
	assert_int_equal(n, 0);
	peer_end(&p, c);
	assert_int_equal(count_fds(), before);
	close(mfd);
}

#define NBAD_CAPS 10

/* Spoil a good two-area reply (80 bytes) in way v. */
static void spoil(uint8_t *b, size_t *len, unsigned v, bool *with_fd)
{
	struct vfu_region_info info;
	struct vfio_region_info_cap_sparse_mmap sm;
	struct vfio_region_sparse_mmap_area a;

	*len = rinfo(b, 2, VFIO_REGION_INFO_FLAG_MMAP, 2);
	*with_fd = true;
	memcpy(&info, b, sizeof(info));
	memcpy(&sm, b + 32, sizeof(sm));
	memcpy(&a, b + 48 + 16, sizeof(a));
	switch (v) {
	case 0: info.cap_offset = 8; break;          /* inside the struct */
	case 1: info.cap_offset = 200; break;        /* past the reply */
	case 2: sm.header.next = 32; break;          /* loops on itself */
	case 3: sm.nr_areas = 5; break;              /* overruns the reply */
	case 4: a.offset = 0x3f00; break;            /* ends past the region */
	case 5: sm.header.version = 2; break;
	case 6: info.index = 3; break;
	case 7: info.argsz = 16; break;
	case 8: info.argsz = 72; break;              /* 80 bytes came */
	case 9: *with_fd = false; break;             /* MMAP without an fd */
	}
	memcpy(b, &info, sizeof(info));
	memcpy(b + 32, &sm, sizeof(sm));
	memcpy(b + 48 + 16, &a, sizeof(a));
}

static void s_bad_caps(struct peer *p)
{
	const int *fd = p->arg;
	uint8_t b[256];
	struct pmsg m;
	size_t len;
	bool with_fd;

	HELLO(NULL);
	for (unsigned v = 0; v < NBAD_CAPS; v++) {
		spoil(b, &len, v, &with_fd);
		EXPECT(&m, VFU_CMD_DEVICE_GET_REGION_INFO,
		       sizeof(struct vfu_region_info));
		PCHECK(p_reply_fds(p, &m, b, len, fd, with_fd));
	}
	PCHECK(p_eof(p));
}

static void test_region_info_refuses_bad_capabilities(void **state)
{
	static const char *const logs[NBAD_CAPS] = {
		"capability at 8 outside", "capability at 200 outside",
		"chain goes back", "5 sparse areas overrun",
		"sparse area 1 outside the region", "bad sparse mmap capability",
		"reply for region 3", "argsz 16", "80 bytes for argsz 72",
		"mappable without an fd",
	};
	int mfd = memfd(0x1000), before = count_fds();
	struct sim_vfu_sparse areas[4];
	struct vfu_region_info info;
	struct peer p;
	struct sim_vfu *c = client(&p, s_bad_caps, &mfd);

	(void)state;
	for (unsigned v = 0; v < NBAD_CAPS; v++) {
		unsigned n = 4;
		int fd = 7;

		logbuf[0] = '\0';
		assert_int_equal(sim_vfu_region_info(c, 2, &info, areas, &n, &fd),
				 -EPROTO);
		assert_logged(logs[v]);
		assert_int_equal(fd, -1);
		assert_int_equal(n, 0);
	}
	peer_end(&p, c);
	assert_int_equal(count_fds(), before);
	close(mfd);
}

struct io_arg {
	int efd[2];
};

static void s_io_fds(struct peer *p)
{
	const struct io_arg *a = p->arg;
	const struct vfu_io_fd subs[3] = {
		{ .offset = 0x100, .size = 4, .fd_index = 0,
		  .type = VFU_IO_FD_TYPE_IOEVENTFD,
		  .flags = VFU_IOEVENTFD_FLAG_DATAMATCH, .datamatch = 1 },
		{ .offset = 0x104, .size = 4, .fd_index = 0,
		  .type = VFU_IO_FD_TYPE_IOEVENTFD },
		{ .offset = 0x200, .size = 0, .fd_index = 1,
		  .type = VFU_IO_FD_TYPE_IOEVENTFD },
	};
	struct vfu_io_fds q, r = { .argsz = 16 + 3 * 40, .index = 2, .count = 3 };
	uint8_t b[16 + 3 * 48] = { 0 };
	struct pmsg m;

	HELLO(NULL);
	memcpy(b, &r, 16);
	memcpy(b + 16, subs, sizeof(subs));
	EXPECT(&m, VFU_CMD_DEVICE_GET_REGION_IO_FDS, sizeof(q));
	memcpy(&q, m.d, sizeof(q));
	PCHECK(q.argsz == 16 + 3 * 40 && !q.flags && q.index == 2 && !q.count);
	PCHECK(p_reply_fds(p, &m, b, 16 + 3 * 40, a->efd, 2));
	/* room for one: the struct and the first entry only */
	EXPECT(&m, VFU_CMD_DEVICE_GET_REGION_IO_FDS, sizeof(q));
	memcpy(&q, m.d, sizeof(q));
	PCHECK(q.argsz == 16 + 40);
	PCHECK(p_reply_fds(p, &m, b, 16 + 40, a->efd, 2));
	/* an fd_index past the fds sent */
	EXPECT(&m, VFU_CMD_DEVICE_GET_REGION_IO_FDS, sizeof(q));
	PCHECK(p_reply_fds(p, &m, b, 16 + 3 * 40, a->efd, 1));
	/* 48-byte entries: read at the stride argsz gives */
	EXPECT(&m, VFU_CMD_DEVICE_GET_REGION_IO_FDS, sizeof(q));
	r.argsz = 16 + 3 * 48;
	memcpy(b, &r, 16);
	for (int i = 0; i < 3; i++)
		memcpy(b + 16 + i * 48, &subs[i], 40);
	PCHECK(p_reply_fds(p, &m, b, sizeof(b), a->efd, 2));
	PCHECK(p_eof(p));
}

static void test_region_io_fds_returns_subregions_and_fds(void **state)
{
	struct io_arg a;
	struct vfu_io_fd subs[4];
	int fds[4], before;
	unsigned ns, nf;
	struct peer p;
	struct sim_vfu *c;

	(void)state;
	a.efd[0] = eventfd(0, EFD_CLOEXEC);
	a.efd[1] = eventfd(0, EFD_CLOEXEC);
	before = count_fds();
	c = client(&p, s_io_fds, &a);
	ns = 3;
	nf = 4;
	assert_int_equal(sim_vfu_region_io_fds(c, 2, subs, &ns, fds, &nf), 0);
	assert_int_equal(ns, 3);
	assert_int_equal(nf, 2);
	assert_int_equal(subs[0].offset, 0x100);
	assert_int_equal(subs[0].flags, VFU_IOEVENTFD_FLAG_DATAMATCH);
	assert_int_equal(subs[0].datamatch, 1);
	assert_int_equal(subs[2].fd_index, 1);
	/* the very eventfds: a kick on ours reaches the server's */
	assert_int_equal(eventfd_write(fds[subs[2].fd_index], 5), 0);
	assert_int_equal(efd_read(a.efd[1]), 5);
	close(fds[0]);
	close(fds[1]);

	ns = 1;
	nf = 4;
	assert_int_equal(sim_vfu_region_io_fds(c, 2, subs, &ns, fds, &nf), -E2BIG);
	assert_int_equal(ns, 3);
	assert_int_equal(nf, 0);
	ns = 3;
	nf = 4;
	logbuf[0] = '\0';
	assert_int_equal(sim_vfu_region_io_fds(c, 2, subs, &ns, fds, &nf), -EPROTO);
	assert_logged("sub-region 2: fd_index 1 of 1");
	ns = 4;
	nf = 4;
	assert_int_equal(sim_vfu_region_io_fds(c, 2, subs, &ns, fds, &nf), 0);
	assert_int_equal(ns, 3);
	assert_int_equal(subs[2].offset, 0x200);
	assert_int_equal(subs[1].offset, 0x104);
	close(fds[0]);
	close(fds[1]);
	peer_end(&p, c);
	assert_int_equal(count_fds(), before);
	close(a.efd[0]);
	close(a.efd[1]);
}

/* ---- interrupts ------------------------------------------------------- */

#define EFD_TRIG (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER)

/* One SET_IRQS of [start, start+count) with nfds eventfds; each gets
 * start + k written, so the test can tell which sub-index it went to. */
#define EXPECT_IRQS(m, flags_, start_, count_, nfds_) \
	do { \
		struct vfu_irq_set s_; \
		EXPECT((m), VFU_CMD_DEVICE_SET_IRQS, sizeof(s_)); \
		memcpy(&s_, (m)->d, sizeof(s_)); \
		PCHECK(s_.argsz == sizeof(s_) && s_.flags == (flags_)); \
		PCHECK(s_.index == MSIX && s_.start == (start_) && \
		       s_.count == (count_)); \
		PCHECK((m)->nfds == (nfds_)); \
		for (unsigned k_ = 0; k_ < (m)->nfds; k_++) \
			PCHECK(!eventfd_write((m)->fds[k_], (start_) + k_)); \
		p_close_fds(m); \
	} while (0)

static void s_irqs(struct peer *p)
{
	struct pmsg m;

	HELLO("{\"capabilities\":{\"max_msg_fds\":2}}");
	EXPECT_IRQS(&m, EFD_TRIG, 1, 2, 2);
	PCHECK(p_reply(p, &m, NULL, 0));
	EXPECT_IRQS(&m, EFD_TRIG, 3, 1, 1);
	PCHECK(p_reply(p, &m, NULL, 0));
	EXPECT_IRQS(&m, EFD_TRIG, 4, 2, 0);  /* the two -1: de-assigned */
	PCHECK(p_reply(p, &m, NULL, 0));
	EXPECT_IRQS(&m, EFD_TRIG, 6, 2, 2);
	PCHECK(p_reply(p, &m, NULL, 0));
	/* no fds at all: the whole range de-assigned in one message */
	EXPECT_IRQS(&m, EFD_TRIG, 0, 4, 0);
	PCHECK(p_reply(p, &m, NULL, 0));
	/* a refusal stops the rest */
	EXPECT_IRQS(&m, EFD_TRIG, 0, 2, 2);
	PCHECK(p_reply(p, &m, NULL, 0));
	EXPECT_IRQS(&m, EFD_TRIG, 2, 1, 1);
	PCHECK(p_error(p, &m, EINVAL));
	PCHECK(p_eof(p));
}

static void test_set_irqs_splits_eventfds_at_max_msg_fds(void **state)
{
	int e[7];
	struct peer p;
	struct sim_vfu *c;

	(void)state;
	for (int i = 0; i < 7; i++)
		e[i] = i == 3 || i == 4 ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c = client(&p, s_irqs, NULL);
	assert_int_equal(sim_vfu_set_irqs(c, MSIX, 1, 7, EFD_TRIG, e, NULL), 0);
	assert_int_equal(sim_vfu_set_irqs(c, MSIX, 0, 4, EFD_TRIG, NULL, NULL), 0);
	assert_int_equal(sim_vfu_set_irqs(c, MSIX, 0, 3, EFD_TRIG, e, NULL), -EINVAL);
	peer_end(&p, c);
	/* each eventfd went to its own sub-index: start 1 + i, then the
	 * third call's start 0 + i */
	for (int i = 0; i < 7; i++) {
		if (e[i] < 0)
			continue;
		assert_int_equal(efd_read(e[i]), (uint64_t)(1 + i) + (i < 3 ? i : 0));
		close(e[i]);
	}
}

static void s_irqs_data(struct peer *p)
{
	struct vfu_irq_set s;
	struct pmsg m;

	HELLO("{\"capabilities\":{\"max_msg_fds\":0}}");
	EXPECT(&m, VFU_CMD_DEVICE_SET_IRQS, sizeof(s) + 3);
	memcpy(&s, m.d, sizeof(s));
	PCHECK(s.argsz == sizeof(s) + 3 && s.index == MSIX && s.start == 4 &&
	       s.count == 3);
	PCHECK(s.flags == (VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_MASK));
	PCHECK(m.d[20] == 1 && m.d[21] == 0 && m.d[22] == 1 && m.nfds == 0);
	PCHECK(p_reply(p, &m, NULL, 0));
	EXPECT(&m, VFU_CMD_DEVICE_SET_IRQS, sizeof(s));
	memcpy(&s, m.d, sizeof(s));
	PCHECK(s.argsz == sizeof(s) && !s.start && !s.count);
	PCHECK(s.flags == (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER));
	PCHECK(p_reply(p, &m, NULL, 0));
	PCHECK(p_eof(p));
}

static void test_set_irqs_sends_bools_and_none_and_checks_flags(void **state)
{
	static const uint8_t bools[3] = { 1, 0, 1 };
	int efd = eventfd(0, EFD_CLOEXEC);
	struct peer p;
	struct sim_vfu *c = client(&p, s_irqs_data, NULL);

	(void)state;
	assert_int_equal(sim_vfu_set_irqs(c, MSIX, 4, 3, VFIO_IRQ_SET_DATA_BOOL |
					  VFIO_IRQ_SET_ACTION_MASK, NULL, bools), 0);
	assert_int_equal(sim_vfu_set_irqs(c, MSIX, 0, 0, VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_ACTION_TRIGGER, NULL, NULL), 0);
	/* refused before anything is sent */
	assert_int_equal(sim_vfu_set_irqs(c, MSIX, 0, 1, VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_DATA_BOOL |
					  VFIO_IRQ_SET_ACTION_MASK, NULL, bools), -EINVAL);
	assert_int_equal(sim_vfu_set_irqs(c, MSIX, 0, 1, VFIO_IRQ_SET_DATA_NONE,
					  NULL, NULL), -EINVAL);
	assert_int_equal(sim_vfu_set_irqs(c, MSIX, 0, 1, VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_ACTION_MASK | (1u << 6),
					  NULL, NULL), -EINVAL);
	assert_int_equal(sim_vfu_set_irqs(c, MSIX, 0, 1, VFIO_IRQ_SET_DATA_BOOL |
					  VFIO_IRQ_SET_ACTION_MASK, NULL, NULL), -EINVAL);
	assert_int_equal(sim_vfu_set_irqs(c, MSIX, 2, UINT32_MAX, VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_ACTION_MASK, NULL, NULL), -EINVAL);
	/* the server takes no fds */
	assert_int_equal(sim_vfu_set_irqs(c, MSIX, 0, 1, EFD_TRIG, &efd, NULL),
			 -EOPNOTSUPP);
	assert_int_equal(sim_vfu_dma_map(c, 0, 0x1000, efd, 0, RW), -EOPNOTSUPP);
	peer_end(&p, c);
	close(efd);
}

/* ---- region access ---------------------------------------------------- */

static void s_rw(struct peer *p)
{
	struct vfu_region_access a;
	struct pmsg m;
	uint64_t off;

	HELLO("{\"capabilities\":{\"max_data_xfer_size\":64}}");
	for (off = 0x1000; off < 0x1000 + 150; off += 64) {
		uint32_t n = 0x1000 + 150 - off < 64 ? (uint32_t)(0x1000 + 150 - off) : 64;

		EXPECT(&m, VFU_CMD_REGION_WRITE, sizeof(a) + n);
		memcpy(&a, m.d, sizeof(a));
		PCHECK(a.offset == off && a.region == 0 && a.count == n);
		for (uint32_t i = 0; i < n; i++)
			PCHECK(m.d[sizeof(a) + i] == pattern(off + i));
		PCHECK(p_reply(p, &m, &a, sizeof(a)));
	}
	for (off = 0x10; off < 0x10 + 150; off += 64) {
		uint32_t n = 0x10 + 150 - off < 64 ? (uint32_t)(0x10 + 150 - off) : 64;

		EXPECT(&m, VFU_CMD_REGION_READ, sizeof(a));
		memcpy(&a, m.d, sizeof(a));
		PCHECK(a.offset == off && a.region == 5 && a.count == n);
		for (uint32_t i = 0; i < n; i++)
			m.d[sizeof(a) + i] = pattern(off + i);
		PCHECK(p_reply(p, &m, m.d, sizeof(a) + n));
	}
	PCHECK(p_eof(p));
}

static void test_region_read_write_split_at_max_xfer(void **state)
{
	uint8_t buf[150], got[150];
	struct peer p;
	struct sim_vfu *c = client(&p, s_rw, NULL);

	(void)state;
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(0x1000 + i);
	assert_int_equal(sim_vfu_region_write(c, 0, 0x1000, buf, sizeof(buf)), 0);
	assert_int_equal(sim_vfu_region_read(c, 5, 0x10, got, sizeof(got)), 0);
	for (unsigned i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], pattern(0x10 + i));
	assert_int_equal(sim_vfu_region_read(c, 5, 0, got, 0), 0);
	assert_int_equal(sim_vfu_region_read(c, 5, ~0ull, got, 2), -EINVAL);
	peer_end(&p, c);
}

/* One access of width w at region/offset; a read is answered with bytes. */
#define EXPECT_ACCESS(m, cmd_, region_, off_, w_, bytes_) \
	do { \
		struct vfu_region_access a_; \
		bool rd_ = (cmd_) == VFU_CMD_REGION_READ; \
		EXPECT((m), (cmd_), sizeof(a_) + (rd_ ? 0 : (w_))); \
		memcpy(&a_, (m)->d, sizeof(a_)); \
		PCHECK(a_.region == (region_) && a_.offset == (off_) && \
		       a_.count == (w_)); \
		if (!rd_) \
			PCHECK(!memcmp((m)->d + sizeof(a_), (bytes_), (w_))); \
		else \
			memcpy((m)->d + sizeof(a_), (bytes_), (w_)); \
		PCHECK(p_reply(p, (m), (m)->d, sizeof(a_) + (rd_ ? (w_) : 0))); \
	} while (0)

static void s_typed(struct peer *p)
{
	struct pmsg m;

	HELLO(NULL);
	EXPECT_ACCESS(&m, VFU_CMD_REGION_READ, CFG, 2, 2, "\x41\x10");
	EXPECT_ACCESS(&m, VFU_CMD_REGION_WRITE, CFG, 4, 4, "\x06\x04\x10\x00");
	EXPECT_ACCESS(&m, VFU_CMD_REGION_READ, 4, 8, 8,
		      "\x01\x02\x03\x04\x05\x06\x07\x08");
	EXPECT_ACCESS(&m, VFU_CMD_REGION_WRITE, 4, 0x14, 1, "\xab");
	EXPECT_ACCESS(&m, VFU_CMD_REGION_WRITE, 4, 0x16, 2, "\xcd\xab");
	EXPECT_ACCESS(&m, VFU_CMD_REGION_READ, CFG, 0x34, 1, "\x40");
	PCHECK(p_eof(p));
}

static void s_typed_small(struct peer *p)
{
	struct pmsg m;

	HELLO("{\"capabilities\":{\"max_data_xfer_size\":4}}");
	EXPECT_ACCESS(&m, VFU_CMD_REGION_READ, 4, 0, 4, "\x01\x02\x03\x04");
	EXPECT_ACCESS(&m, VFU_CMD_REGION_READ, 4, 4, 4, "\x05\x06\x07\x08");
	PCHECK(p_eof(p));
}

static void test_typed_access_is_little_endian_and_whole(void **state)
{
	uint8_t b8, buf[8];
	uint16_t v16;
	uint64_t v64;
	struct peer p;
	struct sim_vfu *c = client(&p, s_typed, NULL);

	(void)state;
	assert_int_equal(sim_vfu_cfg_read16(c, 2, &v16), 0);
	assert_int_equal(v16, 0x1041);
	assert_int_equal(sim_vfu_cfg_write32(c, 4, 0x00100406), 0);
	assert_int_equal(sim_vfu_read64(c, 4, 8, &v64), 0);
	assert_int_equal(v64, 0x0807060504030201ull);
	assert_int_equal(sim_vfu_write8(c, 4, 0x14, 0xab), 0);
	assert_int_equal(sim_vfu_write16(c, 4, 0x16, 0xabcd), 0);
	assert_int_equal(sim_vfu_cfg_read8(c, 0x34, &b8), 0);
	assert_int_equal(b8, 0x40);
	assert_int_equal(sim_vfu_read_le(c, 4, 0, 3, &v64), -EINVAL);
	assert_int_equal(sim_vfu_write_le(c, 4, ~0ull, 2, 0), -EINVAL);
	peer_end(&p, c);

	/* a server taking 4 bytes a message: no 8-byte register access, and
	 * a plain read goes in two */
	c = client(&p, s_typed_small, NULL);
	assert_int_equal(sim_vfu_read64(c, 4, 0, &v64), -EOPNOTSUPP);
	assert_int_equal(sim_vfu_region_read(c, 4, 0, buf, 8), 0);
	assert_memory_equal(buf, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	peer_end(&p, c);
}

static void s_echo(struct peer *p)
{
	struct vfu_region_access a;
	struct pmsg m;

	HELLO(NULL);
	for (int v = 0; v < 5; v++) {
		uint8_t b[16 + 4] = { 0 };
		size_t len = sizeof(b);

		EXPECT(&m, v == 4 ? VFU_CMD_REGION_WRITE : VFU_CMD_REGION_READ,
		       v == 4 ? sizeof(a) + 4 : sizeof(a));
		memcpy(&a, m.d, sizeof(a));
		if (v == 0)
			a.offset += 4;
		else if (v == 1)
			a.region = 1;
		else if (v == 2)
			a.count = 2, len = sizeof(a) + 2;   /* less than asked */
		else if (v == 4)
			a.count = 3, len = sizeof(a);
		memcpy(b, &a, sizeof(a));
		PCHECK(p_reply(p, &m, b, len));
	}
	PCHECK(p_eof(p));
}

static void test_region_access_reply_must_echo_the_request(void **state)
{
	uint8_t buf[4];
	struct peer p;
	struct sim_vfu *c = client(&p, s_echo, NULL);

	(void)state;
	logbuf[0] = '\0';
	assert_int_equal(sim_vfu_region_read(c, 0, 0x20, buf, 4), -EPROTO);
	assert_logged("REGION_READ: reply for region 0 0x24+4, asked region 0 0x20+4");
	assert_int_equal(sim_vfu_region_read(c, 0, 0x20, buf, 4), -EPROTO);
	assert_int_equal(sim_vfu_region_read(c, 0, 0x20, buf, 4), -EPROTO);
	assert_logged("REGION_READ: reply of 18 bytes, 20 expected");
	/* the connection survived all three */
	assert_int_equal(sim_vfu_region_read(c, 0, 0x20, buf, 4), 0);
	assert_int_equal(sim_vfu_region_write(c, 0, 0x20, buf, 4), -EPROTO);
	peer_end(&p, c);
}

static void s_reset(struct peer *p)
{
	struct pmsg m;

	HELLO(NULL);
	EXPECT(&m, VFU_CMD_DEVICE_RESET, 0);
	PCHECK(m.nfds == 0);
	PCHECK(p_reply(p, &m, NULL, 0));
	EXPECT(&m, VFU_CMD_DEVICE_RESET, 0);
	PCHECK(p_error(p, &m, EBUSY));
	PCHECK(p_eof(p));
}

static void test_reset_sends_an_empty_command(void **state)
{
	struct peer p;
	struct sim_vfu *c = client(&p, s_reset, NULL);

	(void)state;
	assert_int_equal(sim_vfu_reset(c), 0);
	assert_int_equal(sim_vfu_reset(c), -EBUSY);
	peer_end(&p, c);
}

static int setup(void **state)
{
	(void)state;
	hal_log_set_sink(log_sink);
	hal_log_set_level(HAL_LOG_WARN);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	hal_log_set_sink(NULL);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_proposes_our_caps_and_keeps_the_servers),
		cmocka_unit_test(test_version_without_caps_takes_the_spec_defaults),
		cmocka_unit_test(test_version_refuses_another_major),
		cmocka_unit_test(test_version_refuses_a_higher_minor),
		cmocka_unit_test(test_version_refuses_a_capability_not_proposed),
		cmocka_unit_test(test_version_refuses_malformed_json),
		cmocka_unit_test(test_version_short_or_error_reply_fails_the_connection),
		cmocka_unit_test(test_connect_waits_for_the_socket_within_the_timeout),
		cmocka_unit_test(test_dma_map_passes_the_memfd_and_layout),
		cmocka_unit_test(test_dma_map_keeps_to_the_servers_page_size_and_map_count),
		cmocka_unit_test(test_map_hostmem_maps_every_region_or_none),
		cmocka_unit_test(test_error_reply_gives_negative_errno_and_keeps_the_connection),
		cmocka_unit_test(test_reply_with_wrong_id_breaks_the_connection),
		cmocka_unit_test(test_reply_with_wrong_command_breaks_the_connection),
		cmocka_unit_test(test_short_reply_is_refused),
		cmocka_unit_test(test_reply_split_across_writes_is_reassembled),
		cmocka_unit_test(test_reply_longer_than_expected_is_drained_and_refused),
		cmocka_unit_test(test_unexpected_fd_is_closed),
		cmocka_unit_test(test_silent_server_times_out),
		cmocka_unit_test(test_server_closing_gives_connreset),
		cmocka_unit_test(test_server_command_is_refused_and_the_reply_still_arrives),
		cmocka_unit_test(test_device_and_irq_info_layout),
		cmocka_unit_test(test_region_info_parses_sparse_mmap),
		cmocka_unit_test(test_region_info_asks_again_with_the_size_the_server_needs),
		cmocka_unit_test(test_region_info_refuses_bad_capabilities),
		cmocka_unit_test(test_region_io_fds_returns_subregions_and_fds),
		cmocka_unit_test(test_set_irqs_splits_eventfds_at_max_msg_fds),
		cmocka_unit_test(test_set_irqs_sends_bools_and_none_and_checks_flags),
		cmocka_unit_test(test_region_read_write_split_at_max_xfer),
		cmocka_unit_test(test_typed_access_is_little_endian_and_whole),
		cmocka_unit_test(test_region_access_reply_must_echo_the_request),
		cmocka_unit_test(test_reset_sends_an_empty_command),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
