/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtnet-host — the simulated x86 host. For each function socket of
 * virtnetd it does what a host with a virtio-net driver does, in user
 * space: enumerate the function over vfio-user (sim_vpci_open), give the
 * device its RAM (one sealed memfd, DMA_MAP), run the virtio
 * initialisation with the features chosen on the command line, and bind
 * the result to a TAP interface, so the kernel's stack (ping, iperf3, a
 * container's namespace) runs over the emulated device.
 *
 *   TAP queue k --read--> txq k (clear DATA_VALID, kick) --> device
 *   device --> rxq k (interrupt or poll) --write--> TAP queue k
 *
 * Threads: the main thread owns every vfio-user connection (attach,
 * configuration interrupts, a 1 s watchdog, reset and teardown); one
 * worker per queue pair owns its two rings and one queue fd of the
 * multi-queue TAP. Workers notify through the server's doorbell eventfds;
 * a queue without one is notified by REGION_WRITE under the function's
 * lock, the only thing workers share with the main thread.
 *
 * The TAP is the driver's side: what the kernel hands us (TAP reads) goes
 * to the device's transmit queue, so TUNSETOFFLOAD follows what the device
 * takes (CSUM, HOST_TSO4/6); what the device hands us (GUEST_CSUM,
 * GUEST_TSO4/6) the kernel always accepts on a TAP write.
 *
 * For benchmarks (--bench) a generator and a sink take the TAP's place:
 * txonly posts a fixed 64-byte UDP frame per pair as fast as the transmit
 * ring takes it, rxonly counts and checks what arrives; the rings are
 * handled by the same worker code either way. The main thread measures
 * after a warm-up and prints one line per function.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/pci_regs.h>
#include <linux/rtnetlink.h>

#include "hal_log.h"
#include "sim_hostmem.h"
#include "sim_net.h"
#include "sim_vfu.h"
#include "sim_vpci.h"
#include "sim_vq.h"
#include "virtio_dev.h"
#include "virtio_net.h"
#include "vnet_hdr.h"

#define COMP "host"
#define F(b) (1ull << (b))

#define MEM_IOVA     (1ull << 32) /* where host RAM starts, as on a big x86 */
#define MAX_PAIRS    64
#define MAX_FNS      (1 + 64)     /* a PF and its VFs, or sockets given */
#define CTRL_QSIZE   64
#define BUDGET       64           /* packets per direction per round */
#define MRG_BUF_LEN  4096         /* a page per mergeable receive buffer */
#define TSO_FRAME    65550        /* 64 KiB of IP plus Ethernet and a VLAN tag */
#define RX_TSO_LEN   65589        /* the spec's 65601-byte buffer less the header */
#define CTRL_WAIT_MS 2000
#define SIG_KEY      UINT32_MAX
#define BENCH_FRAME  64           /* --bench: Ethernet frame bytes, no FCS */
#define WARMUP_MS    1000         /* --bench: before the measurement starts */

static const char *prog = "virtnet-host";

enum bench { BENCH_OFF, BENCH_TXONLY, BENCH_RXONLY };

static const char *const bench_name[] = { "off", "txonly", "rxonly" };

struct opts {
	const char *ifname, *netns, *vf_netns;
	unsigned vfs, pairs, qsize;
	unsigned vf_attach;       /* VFs attached of the vfs enabled (UINT_MAX: all) */
	bool packed, offloads, mrg, poll, hash;
	int timeout_s;
	enum bench bench;
	unsigned seconds;         /* --bench: 0 runs until a signal */
};

struct fn;

/* One queue pair: its worker thread, rings and TAP queue (-1 with --bench). */
struct pair {
	struct fn *f;
	uint16_t k;
	int tap;
	struct sim_net_txq tx;
	struct sim_net_rxq rx;
	uint8_t *tbuf, *rbuf;     /* a TAP read or the generated frame; a received frame */
	uint32_t tcap, rcap;
	uint32_t tlen;            /* --bench txonly: the frame in tbuf, header included */
	pthread_t th;
	bool running;
	uint64_t tx_pkts, tx_drop, rx_pkts, rx_drop;
	/* Also read by the main thread (--bench): written with ctr_add. */
	uint64_t tx_done, rx_bytes, rx_bad;
	uint64_t m_pkts, m_bytes, m_bad; /* --bench: at the start of the measurement */
};

/* One PCI function: a PF, a VF, or any function socket given. */
struct fn {
	const struct opts *o;
	char name[64];            /* the socket's base name */
	char sock[PATH_MAX];
	char ifname[IFNAMSIZ];
	char netns[64];           /* "" for the current namespace */
	bool is_pf_with_vfs;
	struct sim_vfu *c;
	struct sim_vpci *d;
	struct sim_hostmem mem;
	bool mapped;
	uint64_t features;
	uint32_t hdr_len;
	uint16_t pairs, max_pairs, qsize, nq, ctrl_q;
	uint16_t mtu, status;
	uint8_t mac[6];
	struct sim_vq ctrl;
	uint64_t ctrl_iova;
	bool has_ctrl;
	struct pair p[MAX_PAIRS];
	int tap[MAX_PAIRS];
	pthread_mutex_t lock;     /* the vfio-user connection, once workers run */
	int stop_fd;              /* eventfd: stays readable to stop the workers */
	int bad_fd;               /* eventfd: a worker found the device broken */
	bool stop;
};

static struct fn *fns[MAX_FNS];
static unsigned n_fns;

/* ---- small helpers ---------------------------------------------------------- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static bool has(const struct fn *f, unsigned bit)
{
	return f->features & F(bit);
}

/* Notify queue q. The doorbell eventfd needs no lock; a REGION_WRITE goes
 * over the connection the main thread also uses. */
static void kick(struct fn *f, uint16_t q)
{
	int rc;

	if (sim_vpci_kick_fd(f->d, q) >= 0) {
		rc = sim_vpci_kick(f->d, q);
	} else {
		pthread_mutex_lock(&f->lock);
		rc = sim_vpci_kick(f->d, q);
		pthread_mutex_unlock(&f->lock);
	}
	if (rc)
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: kick of queue %u: %s", f->name, q,
			   strerror(-rc));
}

static const struct {
	unsigned bit;
	const char *name;
} feat_names[] = {
	{ VIRTIO_NET_F_CSUM, "csum" }, { VIRTIO_NET_F_GUEST_CSUM, "guest_csum" },
	{ VIRTIO_NET_F_MTU, "mtu" }, { VIRTIO_NET_F_MAC, "mac" },
	{ VIRTIO_NET_F_GUEST_TSO4, "guest_tso4" }, { VIRTIO_NET_F_GUEST_TSO6, "guest_tso6" },
	{ VIRTIO_NET_F_HOST_TSO4, "host_tso4" }, { VIRTIO_NET_F_HOST_TSO6, "host_tso6" },
	{ VIRTIO_NET_F_MRG_RXBUF, "mrg_rxbuf" }, { VIRTIO_NET_F_STATUS, "status" },
	{ VIRTIO_NET_F_CTRL_VQ, "ctrl_vq" }, { VIRTIO_NET_F_MQ, "mq" },
	{ VIRTIO_NET_F_HASH_REPORT, "hash_report" },
	{ VIRTIO_F_EVENT_IDX, "event_idx" }, { VIRTIO_F_RING_PACKED, "packed" },
};

static void feat_str(uint64_t f, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(feat_names) / sizeof(feat_names[0]); i++) {
		if (!(f & F(feat_names[i].bit)))
			continue;
		int n = snprintf(buf + at, len - at, "%s%s", at ? "," : "",
				 feat_names[i].name);
		if (n < 0 || (size_t)n >= len - at)
			break;
		at += (size_t)n;
	}
}

/* ---- the TAP ---------------------------------------------------------------- */

static int if_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (s < 0)
		return -errno;
	if (ioctl(s, req, ifr) < 0)
		rc = -errno;
	close(s);
	return rc;
}

/* This thread into namespace /run/netns/<ns>; *back is where it was (to
 * return with ns_leave). */
static int ns_enter(const char *ns, int *back)
{
	char path[PATH_MAX];
	int fd, rc = 0;

	*back = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*back < 0)
		return -errno;
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		rc = -errno;
		close(*back);
		*back = -1;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static void ns_leave(int back)
{
	if (back < 0)
		return;
	if (setns(back, CLONE_NEWNET) < 0)
		HAL_ERR(COMP, "back to our network namespace: %s", strerror(errno));
	close(back);
}

static int tap_up_here(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int rc;

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	rc = if_ioctl(SIOCGIFFLAGS, &ifr);
	if (rc)
		return rc;
	ifr.ifr_flags |= IFF_UP;
	return if_ioctl(SIOCSIFFLAGS, &ifr);
}

/* What the kernel may hand us, i.e. what the device's transmit side
 * takes; the kernel segments and checksums the rest itself. */
static unsigned tap_offloads(const struct fn *f)
{
	unsigned o = 0;

	if (has(f, VIRTIO_NET_F_CSUM)) {
		o |= TUN_F_CSUM;
		/* TSO only with CSUM: the TAP refuses it otherwise. */
		if (has(f, VIRTIO_NET_F_HOST_TSO4))
			o |= TUN_F_TSO4;
		if (has(f, VIRTIO_NET_F_HOST_TSO6))
			o |= TUN_F_TSO6;
	}
	return o;
}

/* Header size and offloads: after every negotiation (they may change
 * when the device is set up again). */
static int tap_configure(struct fn *f)
{
	int hdr = (int)f->hdr_len;
	unsigned off = tap_offloads(f);

	for (unsigned k = 0; k < f->pairs; k++)
		if (ioctl(f->tap[k], TUNSETVNETHDRSZ, &hdr) < 0 ||
		    ioctl(f->tap[k], TUNSETOFFLOAD, off) < 0)
			return -errno;
	return 0;
}

static void tap_carrier(struct fn *f, bool up)
{
	int on = up;

	if (f->tap[0] >= 0 && ioctl(f->tap[0], TUNSETCARRIER, &on) < 0)
		HAL_WARN(COMP, "%s: carrier %s: %s", f->ifname, up ? "on" : "off",
			 strerror(errno));
}

/*
 * A multi-queue TAP with one queue fd per pair, made inside its namespace
 * (this thread enters it for the time it takes). The MAC is the device's
 * (its RX filter passes only that unicast address), the MTU the device's.
 */
static int tap_make(struct fn *f);

static int tap_create(struct fn *f)
{
	int rc, back = -1;

	/* Made where it lives: its name never shows in our namespace (where
	 * an interface of that name may already be), and it never moves. */
	if (f->netns[0] && (rc = ns_enter(f->netns, &back))) {
		HAL_ERR(COMP, "%s: namespace %s: %s", f->name, f->netns, strerror(-rc));
		return rc;
	}
	rc = tap_make(f);
	ns_leave(back);
	return rc;
}

/* The TAP, in the current namespace: queues, header and offloads, MAC,
 * MTU, carrier, up. */
static int tap_make(struct fn *f)
{
	struct ifreq ifr;
	int rc;

	for (unsigned k = 0; k < f->pairs; k++) {
		f->tap[k] = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (f->tap[k] < 0) {
			rc = -errno;
			HAL_ERR(COMP, "%s: /dev/net/tun: %s", f->name, strerror(-rc));
			return rc;
		}
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", f->ifname);
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
		if (ioctl(f->tap[k], TUNSETIFF, &ifr) < 0) {
			rc = -errno;
			HAL_ERR(COMP, "%s: TAP %s queue %u: %s", f->name, f->ifname, k,
				strerror(-rc));
			return rc;
		}
	}
	rc = tap_configure(f);
	if (rc) {
		HAL_ERR(COMP, "%s: TAP %s header size or offloads: %s", f->name,
			f->ifname, strerror(-rc));
		return rc;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", f->ifname);
	if (has(f, VIRTIO_NET_F_MAC)) {
		ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
		memcpy(ifr.ifr_hwaddr.sa_data, f->mac, 6);
		if ((rc = if_ioctl(SIOCSIFHWADDR, &ifr)))
			HAL_WARN(COMP, "%s: MAC of %s: %s", f->name, f->ifname, strerror(-rc));
	}
	ifr.ifr_mtu = f->mtu;
	if ((rc = if_ioctl(SIOCSIFMTU, &ifr)))
		HAL_WARN(COMP, "%s: MTU %u on %s: %s", f->name, f->mtu, f->ifname,
			 strerror(-rc));
	tap_carrier(f, !has(f, VIRTIO_NET_F_STATUS) || (f->status & VIRTIO_NET_S_LINK_UP));
	rc = tap_up_here(f->ifname);
	if (rc)
		HAL_ERR(COMP, "%s: TAP %s up: %s", f->name, f->ifname, strerror(-rc));
	return rc;
}

/* ---- the datapath: one worker per queue pair ---------------------------------- */

/* A counter the main thread reads while the worker, its only writer,
 * counts (the --bench figures). */
static void ctr_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

static void put_be16(uint8_t *b, unsigned v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

/*
 * --bench txonly: pair k's frame, header first, in tbuf: a zero virtio-net
 * header (no offload asked) and 64 bytes of Ethernet, IPv4 and UDP from
 * 10.77.0.1 to 10.77.0.254, source port 1024 + k, so that each pair is a
 * flow of its own to whatever hashes flows behind the device.
 */
static void bench_frame(struct pair *p)
{
	static const uint8_t dst[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
	static const uint8_t addrs[8] = { 10, 77, 0, 1, 10, 77, 0, 254 };
	struct fn *f = p->f;
	uint8_t *eth = p->tbuf + f->hdr_len, *ip = eth + 14, *udp = ip + 20;
	uint32_t sum = 0;

	memset(p->tbuf, 0, f->hdr_len + BENCH_FRAME);
	memcpy(eth, dst, 6);
	memcpy(eth + 6, f->mac, 6);
	put_be16(eth + 12, 0x0800);
	ip[0] = 0x45;
	put_be16(ip + 2, BENCH_FRAME - 14);
	ip[8] = 64;
	ip[9] = 17; /* UDP */
	memcpy(ip + 12, addrs, 8);
	for (unsigned i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put_be16(ip + 10, ~sum & 0xffff);
	put_be16(udp, 1024u + p->k);
	put_be16(udp + 2, 9); /* discard */
	put_be16(udp + 4, BENCH_FRAME - 14 - 20);
	/* The UDP checksum stays 0: none, which IPv4 allows. */
	p->tlen = f->hdr_len + BENCH_FRAME;
}

/* A frame from the device: to the TAP, or (--bench) counted and checked:
 * the null source sends whole 64-byte frames, anything else is bad. */
static void rx_deliver(struct pair *p, const struct vnet_hdr_hash *h, uint32_t len)
{
	struct fn *f = p->f;

	if (f->o->bench) {
		ctr_add(&p->rx_bytes, len);
		if (len != BENCH_FRAME)
			ctr_add(&p->rx_bad, 1);
		ctr_add(&p->rx_pkts, 1);
		return;
	}
	struct iovec iov[2] = { { (void *)h, f->hdr_len }, { p->rbuf, len } };
	/* A TAP write does not block; what the kernel refuses (a header it
	 * finds malformed) is dropped, as a NIC would. */
	if (writev(p->tap, iov, 2) < 0) {
		HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: TAP write of %u bytes: %s", f->name, len,
			   strerror(errno));
		p->rx_drop++;
	} else {
		ctr_add(&p->rx_pkts, 1);
	}
}

/* The next frame for the device, header first, in tbuf: its length, 0
 * when there is none for now, -1 for one to drop. A TAP read, or (--bench
 * txonly) the generated frame again: the ring is the limit. */
static ssize_t tx_next(struct pair *p)
{
	struct fn *f = p->f;
	struct vnet_hdr *h = (struct vnet_hdr *)p->tbuf;
	ssize_t r;

	if (f->o->bench)
		return f->o->bench == BENCH_TXONLY ? (ssize_t)p->tlen : 0;
	r = read(p->tap, p->tbuf, p->tcap);
	if (r < 0) {
		if (errno != EAGAIN && errno != EINTR)
			HAL_LOG_RL(HAL_LOG_WARN, COMP, "%s: TAP read: %s", f->name,
				   strerror(errno));
		return 0;
	}
	if ((size_t)r < f->hdr_len + 14)
		return -1;
	/* The TAP skips, not clears, the header bytes past its own 10
	 * (num_buffers, the hash fields). A driver must not send DATA_VALID
	 * or RSC_INFO (5.1.6.2.1); the kernel sets the first on frames it
	 * has checked. */
	memset(p->tbuf + 10, 0, f->hdr_len - 10);
	h->flags &= (uint8_t)~(VIRTIO_NET_HDR_F_DATA_VALID | VIRTIO_NET_HDR_F_RSC_INFO);
	return r;
}

/* Device -> TAP or sink: what arrived, then the buffers posted again. */
static int rx_work(struct pair *p)
{
	struct fn *f = p->f;
	struct vnet_hdr_hash h;
	int n = 0;

	while (n < BUDGET) {
		uint32_t len;
		int rc = sim_net_recv(&p->rx, &h, p->rbuf, p->rcap, &len);

		if (rc == 0)
			break;
		if (rc == -EMSGSIZE) {
			p->rx_drop++;
			continue;
		}
		if (rc < 0) {
			HAL_ERR(COMP, "%s: rxq %u: the device broke a rule: %s", f->name,
				p->k, p->rx.why ? p->rx.why : strerror(-rc));
			return rc;
		}
		rx_deliver(p, &h, len);
		n++;
	}
	if (p->rx.n_free && sim_net_rx_fill(&p->rx))
		kick(f, (uint16_t)(2 * p->k));
	return n;
}

/* TAP or generator -> device, while the ring has room. */
static int tx_work(struct pair *p)
{
	struct fn *f = p->f;
	int n = 0, done = sim_net_tx_reclaim(&p->tx);

	if (done < 0) {
		HAL_ERR(COMP, "%s: txq %u: the device broke a rule: %s", f->name, p->k,
			p->tx.why ? p->tx.why : strerror(-done));
		return done;
	}
	if (done)
		ctr_add(&p->tx_done, (uint64_t)done);
	while (n < BUDGET && p->tx.n_free) {
		ssize_t r = tx_next(p);

		if (r == 0)
			break;
		n++;
		if (r < 0 || sim_net_send(&p->tx, p->tbuf, p->tbuf + f->hdr_len,
					  (uint32_t)(r - f->hdr_len), SIM_NET_HDR_INLINE)) {
			p->tx_drop++;
			continue;
		}
		p->tx_pkts++;
	}
	if (n && sim_net_tx_flush(&p->tx))
		kick(f, (uint16_t)(2 * p->k + 1));
	return n + done;
}

static void drain(int fd)
{
	eventfd_t v;

	(void)eventfd_read(fd, &v);
}

static int ep_add(int ep, int fd, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.fd = fd };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

static void *pair_main(void *arg)
{
	struct pair *p = arg;
	struct fn *f = p->f;
	int rx_irq = sim_vpci_queue_fd(f->d, (uint16_t)(2 * p->k));
	int tx_irq = sim_vpci_queue_fd(f->d, (uint16_t)(2 * p->k + 1));
	/* A vector shared by several queues is drained by whichever thread
	 * wakes first: the others then rely on a short timeout. */
	bool shared = sim_vpci_queue_vector(f->d, 0) == sim_vpci_queue_vector(f->d, 1);
	bool tap_on = p->tap >= 0;
	int ep = -1;

	if (!f->o->poll) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0 || (p->tap >= 0 && ep_add(ep, p->tap, EPOLLIN)) ||
		    ep_add(ep, f->stop_fd, EPOLLIN) ||
		    (rx_irq >= 0 && ep_add(ep, rx_irq, EPOLLIN)) ||
		    (tx_irq >= 0 && tx_irq != rx_irq && ep_add(ep, tx_irq, EPOLLIN))) {
			HAL_ERR(COMP, "%s: pair %u: epoll: %s", f->name, p->k, strerror(errno));
			goto broken;
		}
	}
	/* Transmit completions are reclaimed before each TAP read; their
	 * interrupt is wanted only while the ring is full. Receive
	 * interrupts are on while we sleep, off while we work (NAPI). */
	sim_vq_disable_cb(&p->tx.vq);
	sim_vq_disable_cb(&p->rx.vq);
	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		struct epoll_event ev[4];
		int rx = rx_work(p), tx = rx < 0 ? 0 : tx_work(p), n;
		bool full;

		if (rx < 0 || tx < 0)
			goto broken;
		if (rx || tx || f->o->poll)
			continue;
		/* Re-armed, then looked at once more: a completion that
		 * slipped in before the re-arm raised no interrupt. */
		full = !p->tx.n_free;
		if (sim_vq_enable_cb(&p->rx.vq) || (full && sim_vq_enable_cb(&p->tx.vq))) {
			sim_vq_disable_cb(&p->rx.vq);
			sim_vq_disable_cb(&p->tx.vq);
			continue;
		}
		/* Readable TAP with no room to send: wait for the ring. */
		if (p->tap >= 0 && full == tap_on) {
			struct epoll_event e = { .events = full ? 0 : EPOLLIN, .data.fd = p->tap };

			epoll_ctl(ep, EPOLL_CTL_MOD, p->tap, &e);
			tap_on = !full;
		}
		n = epoll_wait(ep, ev, 4, shared ? 1 : 1000);
		for (int i = 0; i < n; i++)
			if (ev[i].data.fd == rx_irq || ev[i].data.fd == tx_irq)
				drain(ev[i].data.fd);
		sim_vq_disable_cb(&p->rx.vq);
		sim_vq_disable_cb(&p->tx.vq);
	}
	if (ep >= 0)
		close(ep);
	return NULL;
broken:
	/* The main thread resets the device and sets it up again. */
	eventfd_write(f->bad_fd, 1);
	if (ep >= 0)
		close(ep);
	return NULL;
}

static void workers_stop(struct fn *f)
{
	__atomic_store_n(&f->stop, true, __ATOMIC_RELEASE);
	eventfd_write(f->stop_fd, 1);
	for (unsigned k = 0; k < f->pairs; k++) {
		if (f->p[k].running)
			pthread_join(f->p[k].th, NULL);
		f->p[k].running = false;
	}
	drain(f->stop_fd);
	__atomic_store_n(&f->stop, false, __ATOMIC_RELEASE);
}

static int workers_start(struct fn *f)
{
	for (unsigned k = 0; k < f->pairs; k++) {
		struct pair *p = &f->p[k];
		int rc;

		/* Here, not once: the header length follows each negotiation. */
		if (f->o->bench == BENCH_TXONLY)
			bench_frame(p);
		rc = pthread_create(&p->th, NULL, pair_main, p);

		if (rc) {
			HAL_ERR(COMP, "%s: worker %u: %s", f->name, k, strerror(rc));
			workers_stop(f);
			return -rc;
		}
		p->running = true;
	}
	return 0;
}

/* ---- device bring-up ----------------------------------------------------------- */

static uint64_t wanted(const struct opts *o)
{
	uint64_t w = F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX) |
		     F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_MTU) | F(VIRTIO_NET_F_STATUS) |
		     F(VIRTIO_NET_F_CTRL_VQ);

	if (o->packed)
		w |= F(VIRTIO_F_RING_PACKED);
	if (o->pairs > 1)
		w |= F(VIRTIO_NET_F_MQ);
	if (o->mrg)
		w |= F(VIRTIO_NET_F_MRG_RXBUF);
	if (o->hash)
		w |= F(VIRTIO_NET_F_HASH_REPORT);
	if (o->offloads)
		w |= F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |
		     F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |
		     F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6);
	return w;
}

/* The device configuration fields the features give (little-endian). */
static int read_config(struct fn *f)
{
	uint8_t b[2];
	int rc = 0;

	f->max_pairs = 1;
	f->mtu = 1500;
	f->status = VIRTIO_NET_S_LINK_UP;
	if (has(f, VIRTIO_NET_F_MAC))
		rc = sim_vpci_config_read(f->d, VNET_CFG_MAC, f->mac, 6);
	if (!rc && has(f, VIRTIO_NET_F_STATUS) &&
	    !(rc = sim_vpci_config_read(f->d, VNET_CFG_STATUS, b, 2)))
		f->status = (uint16_t)(b[0] | b[1] << 8);
	if (!rc && has(f, VIRTIO_NET_F_MQ) &&
	    !(rc = sim_vpci_config_read(f->d, VNET_CFG_MAX_VQ_PAIRS, b, 2)))
		f->max_pairs = (uint16_t)(b[0] | b[1] << 8);
	if (!rc && has(f, VIRTIO_NET_F_MTU) &&
	    !(rc = sim_vpci_config_read(f->d, VNET_CFG_MTU, b, 2)))
		f->mtu = (uint16_t)(b[0] | b[1] << 8);
	if (rc)
		return rc;
	if (!f->max_pairs || f->max_pairs > VNET_MAX_QUEUE_PAIRS || f->mtu < 68) {
		HAL_ERR(COMP, "%s: device configuration: %u queue pairs, MTU %u", f->name,
			f->max_pairs, f->mtu);
		return -EPROTO;
	}
	return 0;
}

static uint32_t tx_frame_max(const struct fn *f)
{
	if (has(f, VIRTIO_NET_F_HOST_TSO4) || has(f, VIRTIO_NET_F_HOST_TSO6))
		return TSO_FRAME;
	return f->mtu + 14u + 8u; /* Ethernet and up to two VLAN tags */
}

static uint32_t rx_buf_len(const struct fn *f)
{
	if (has(f, VIRTIO_NET_F_MRG_RXBUF))
		return MRG_BUF_LEN;
	if (has(f, VIRTIO_NET_F_GUEST_TSO4) || has(f, VIRTIO_NET_F_GUEST_TSO6))
		return f->hdr_len + RX_TSO_LEN;
	return f->hdr_len + f->mtu + 14u + 8u;
}

/* Host RAM for every ring and buffer: generous, the allocator aligns. */
static uint64_t mem_needed(const struct fn *f)
{
	uint64_t ring = 32ull * f->qsize + 3 * 4096;
	uint64_t per_pair = 2 * ring + (uint64_t)f->qsize *
			    (f->hdr_len + tx_frame_max(f) + 256 + rx_buf_len(f) + 64);
	uint64_t total = f->pairs * per_pair + 32ull * CTRL_QSIZE + 4 * 4096 + (1 << 20);

	return (total + (2u << 20) - 1) & ~((2ull << 20) - 1);
}

static void queues_fini(struct fn *f)
{
	for (unsigned k = 0; k < MAX_PAIRS; k++) {
		sim_net_txq_fini(&f->p[k].tx);
		sim_net_rxq_fini(&f->p[k].rx);
	}
	sim_vq_fini(&f->ctrl);
	f->has_ctrl = false;
}

/* One control command, waited for (the device answers from its control
 * thread when kicked): 0 when it acked VIRTIO_NET_OK. */
static int ctrl_cmd(struct fn *f, uint8_t cls, uint8_t cmd, const void *data,
		    uint32_t len)
{
	uint8_t *va = sim_hostmem_va(&f->mem, f->ctrl_iova, 64);
	struct sim_buf out = { f->ctrl_iova, 2 + len }, in = { f->ctrl_iova + 32, 1 };
	int64_t deadline = sim_now_ms() + CTRL_WAIT_MS;
	uint32_t ulen;
	bool bad;
	int rc;

	if (!f->has_ctrl || !va || len > 30)
		return -EINVAL;
	va[0] = cls;
	va[1] = cmd;
	memcpy(va + 2, data, len);
	va[32] = VIRTIO_NET_ERR;
	rc = sim_vq_add(&f->ctrl, &out, 1, &in, 1, (void *)1, false);
	if (rc)
		return rc;
	if (sim_vq_publish(&f->ctrl))
		kick(f, f->ctrl_q);
	while (!sim_vq_get_used(&f->ctrl, &ulen, &bad)) {
		if (bad || sim_now_ms() > deadline)
			return bad ? -EPROTO : -ETIMEDOUT;
		sleep_ms(1);
	}
	return __atomic_load_n(&va[32], __ATOMIC_ACQUIRE) == VIRTIO_NET_OK ? 0 : -EIO;
}

/*
 * 3.1.1 from reset to DRIVER_OK (and the MQ command after it): features,
 * configuration, rings laid out in host RAM, queues and MSI-X, receive
 * buffers posted. Used at attach and again after DEVICE_NEEDS_RESET; the
 * host RAM region and its DMA mapping survive a reset, so the second time
 * only the allocator starts over.
 */
static int bring_up(struct fn *f)
{
	const struct opts *o = f->o;
	struct sim_vq *vqs[2 * MAX_PAIRS + 1] = { 0 };
	uint32_t vqf;
	uint16_t max;
	int rc;

	queues_fini(f);
	rc = sim_vpci_negotiate(f->d, wanted(o), &f->features);
	if (rc)
		goto fail;
	if (!has(f, VIRTIO_F_EVENT_IDX))
		HAL_INFO(COMP, "%s: no EVENT_IDX: notifications by flags", f->name);
	rc = read_config(f);
	if (rc)
		goto fail;
	f->hdr_len = (uint32_t)vnet_hdr_len(f->features);
	f->pairs = (uint16_t)(o->pairs < f->max_pairs ? o->pairs : f->max_pairs);
	if (f->pairs > MAX_PAIRS)
		f->pairs = MAX_PAIRS;
	if (f->pairs < o->pairs)
		HAL_WARN(COMP, "%s: %u queue pairs asked, the device has %u", f->name,
			 o->pairs, f->pairs);
	f->ctrl_q = (uint16_t)(2 * f->max_pairs);
	f->nq = (uint16_t)(f->ctrl_q + (has(f, VIRTIO_NET_F_CTRL_VQ) ? 1 : 0));
	if (f->nq > sim_vpci_info(f->d)->num_queues) {
		HAL_ERR(COMP, "%s: %u queues needed, the device has %u", f->name, f->nq,
			sim_vpci_info(f->d)->num_queues);
		rc = -EPROTO;
		goto fail;
	}
	f->qsize = (uint16_t)o->qsize;
	for (uint16_t q = 0; q < 2 * f->pairs; q++) {
		rc = sim_vpci_queue_max(f->d, q, &max);
		if (rc)
			goto fail;
		if (max < f->qsize)
			f->qsize = max;
	}
	/* Packed rings take any size; split ones a power of two. */
	if (!has(f, VIRTIO_F_RING_PACKED))
		while (f->qsize & (f->qsize - 1))
			f->qsize &= (uint16_t)(f->qsize - 1);
	if (f->qsize < 2) {
		HAL_ERR(COMP, "%s: queue size %u", f->name, f->qsize);
		rc = -EPROTO;
		goto fail;
	}

	/* Host RAM, once: a sealed memfd the device maps (DMA_MAP). */
	if (!f->mapped) {
		rc = sim_hostmem_add(&f->mem, MEM_IOVA, mem_needed(f));
		if (!rc)
			rc = sim_vfu_map_hostmem(f->c, &f->mem, VFU_DMA_READ | VFU_DMA_WRITE);
		if (rc) {
			HAL_ERR(COMP, "%s: host memory of %llu MiB: %s", f->name,
				(unsigned long long)(mem_needed(f) >> 20), strerror(-rc));
			goto fail;
		}
		f->mapped = true;
	}
	f->mem.cur = 0;
	f->mem.cursor = 0;

	vqf = sim_vpci_ring_flags(f->features);
	for (unsigned k = 0; k < f->pairs; k++) {
		struct pair *p = &f->p[k];

		rc = sim_net_rxq_init(&p->rx, &f->mem, f->qsize, vqf, f->features,
				      rx_buf_len(f), 0, false);
		if (!rc)
			rc = sim_net_txq_init(&p->tx, &f->mem, f->qsize, vqf, f->features,
					      tx_frame_max(f), false, k);
		if (rc) {
			HAL_ERR(COMP, "%s: pair %u rings: %s", f->name, k, strerror(-rc));
			goto fail;
		}
		vqs[2 * k] = &p->rx.vq;
		vqs[2 * k + 1] = &p->tx.vq;
	}
	if (has(f, VIRTIO_NET_F_CTRL_VQ)) {
		rc = sim_vpci_queue_max(f->d, f->ctrl_q, &max);
		if (!rc && !max)
			rc = -EPROTO;
		if (!rc)
			rc = sim_vq_init(&f->ctrl, &f->mem, max < CTRL_QSIZE ? max : CTRL_QSIZE,
					 vqf, 0);
		if (!rc)
			rc = sim_hostmem_alloc(&f->mem, 64, 64, &f->ctrl_iova);
		if (rc)
			goto fail;
		f->has_ctrl = true;
		vqs[f->ctrl_q] = &f->ctrl;
	}
	rc = sim_vpci_setup_queues(f->d, f->nq, vqs);
	if (rc)
		goto fail;
	/* Buffers posted before DRIVER_OK (3.1.1 allows it), kicked after. */
	for (unsigned k = 0; k < f->pairs; k++)
		sim_net_rx_fill(&f->p[k].rx);
	rc = sim_vpci_driver_ok(f->d);
	if (rc)
		goto fail;
	for (unsigned k = 0; k < f->pairs; k++)
		kick(f, (uint16_t)(2 * k));
	if (has(f, VIRTIO_NET_F_MQ)) {
		uint8_t n[2] = { (uint8_t)f->pairs, (uint8_t)(f->pairs >> 8) };

		rc = ctrl_cmd(f, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, n, 2);
		if (rc) {
			HAL_ERR(COMP, "%s: VQ_PAIRS_SET %u: %s", f->name, f->pairs,
				strerror(-rc));
			goto fail;
		}
	}
	return 0;
fail:
	HAL_ERR(COMP, "%s: initialisation failed: %s", f->name, strerror(-rc));
	return rc;
}

static void fn_print(const struct fn *f)
{
	char feats[512];

	feat_str(f->features, feats, sizeof(feats));
	printf("%s: tap %s netns %s features %#llx (%s) pairs %u/%u %s ring size %u "
	       "hdr %u %s%s%s\n", f->name, f->o->bench ? "-" : f->ifname,
	       f->netns[0] ? f->netns : "-", (unsigned long long)f->features, feats,
	       f->pairs, f->max_pairs, has(f, VIRTIO_F_RING_PACKED) ? "packed" : "split",
	       f->qsize, f->hdr_len, f->o->poll ? "polling" : "interrupts",
	       f->o->bench ? " bench " : "", f->o->bench ? bench_name[f->o->bench] : "");
	fflush(stdout);
}

/* ---- functions: attach, reset, detach -------------------------------------------- */

static void fn_free(struct fn *f)
{
	if (!f)
		return;
	if (f->d)
		workers_stop(f);
	for (unsigned k = 0; k < f->pairs; k++) {
		const struct pair *p = &f->p[k];

		if (p->tbuf)
			HAL_INFO(COMP, "%s: pair %u: to the device %llu packets (%llu "
				 "dropped), from it %llu (%llu dropped)", f->name, k,
				 (unsigned long long)p->tx_pkts,
				 (unsigned long long)p->tx_drop,
				 (unsigned long long)p->rx_pkts,
				 (unsigned long long)p->rx_drop);
		free(p->tbuf);
		free(p->rbuf);
	}
	/* Reset first: the device lets go of our rings before they go. */
	if (f->d)
		sim_vpci_close(f->d);
	if (f->c)
		sim_vfu_close(f->c);
	for (unsigned k = 0; k < MAX_PAIRS; k++)
		if (f->tap[k] >= 0)
			close(f->tap[k]);
	queues_fini(f);
	sim_hostmem_free(&f->mem);
	if (f->stop_fd >= 0)
		close(f->stop_fd);
	if (f->bad_fd >= 0)
		close(f->bad_fd);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* "<dir>/pf0.sock" -> "pf0". */
static void base_name(const char *sock, char *out, size_t len)
{
	const char *b = strrchr(sock, '/');
	size_t n;

	b = b ? b + 1 : sock;
	n = strlen(b);
	if (n > 5 && !strcmp(b + n - 5, ".sock"))
		n -= 5;
	snprintf(out, len, "%.*s", (int)n, b);
}

static struct fn *fn_attach(const struct opts *o, const char *sock, const char *ifname,
			    const char *netns)
{
	struct fn *f = calloc(1, sizeof(*f));
	const struct sim_vpci_info *in;
	int rc;

	if (!f)
		return NULL;
	f->o = o;
	for (unsigned k = 0; k < MAX_PAIRS; k++)
		f->tap[k] = -1;
	pthread_mutex_init(&f->lock, NULL);
	sim_hostmem_init(&f->mem);
	f->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	f->bad_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	snprintf(f->sock, sizeof(f->sock), "%s", sock);
	base_name(sock, f->name, sizeof(f->name));
	if (!ifname)
		ifname = f->name;
	if (strlen(ifname) >= sizeof(f->ifname)) {
		HAL_ERR(COMP, "%s: interface name \"%s\" too long (--ifname)", sock, ifname);
		goto fail;
	}
	memcpy(f->ifname, ifname, strlen(ifname) + 1);
	snprintf(f->netns, sizeof(f->netns), "%s", netns ? netns : "");
	if (f->stop_fd < 0 || f->bad_fd < 0)
		goto fail;

	rc = sim_vfu_connect(sock, o->timeout_s * 1000, &f->c);
	if (rc) {
		HAL_ERR(COMP, "%s: cannot connect: %s", sock, strerror(-rc));
		goto fail;
	}
	rc = sim_vpci_open(f->c, &f->d);
	if (rc) {
		HAL_ERR(COMP, "%s: enumeration failed: %s", f->name, strerror(-rc));
		goto fail;
	}
	in = sim_vpci_info(f->d);
	HAL_INFO(COMP, "%s: %04x:%04x rev %u class %06x, BAR0 %llu KiB, BAR2 %llu KiB, "
		 "%u queues, %u MSI-X vectors%s", f->name, in->vendor_id, in->device_id,
		 in->revision, in->class_code, (unsigned long long)(in->bar[0].size >> 10),
		 (unsigned long long)(in->bar[2].size >> 10), in->num_queues, in->irq_count,
		 in->sriov_cap ? ", SR-IOV" : "");
	if (in->virtio_id != 1) {
		HAL_ERR(COMP, "%s: virtio device type %u is not a network device", f->name,
			in->virtio_id);
		goto fail;
	}
	if (bring_up(f))
		goto fail;
	for (unsigned k = 0; k < f->pairs; k++) {
		struct pair *p = &f->p[k];

		p->f = f;
		p->k = (uint16_t)k;
		/* A TAP read may be a 64 KiB GSO frame whatever we take:
		 * anything shorter than the buffer would be cut. */
		p->tcap = f->hdr_len + TSO_FRAME + 64;
		p->rcap = 65536 + 64;
		p->tbuf = malloc(p->tcap);
		p->rbuf = malloc(p->rcap);
		if (!p->tbuf || !p->rbuf)
			goto fail;
	}
	if (!o->bench && tap_create(f))
		goto fail;
	for (unsigned k = 0; k < f->pairs; k++)
		f->p[k].tap = f->tap[k];
	if (workers_start(f))
		goto fail;
	fn_print(f);
	return f;
fail:
	fn_free(f);
	return NULL;
}

/* DEVICE_NEEDS_RESET, or a worker found the device breaking a rule: the
 * driver resets it and sets it up again (2.1.1); the TAP stays. */
static int fn_restart(struct fn *f, const char *why)
{
	int rc;

	HAL_WARN(COMP, "%s: %s: resetting the device", f->name, why);
	workers_stop(f);
	drain(f->bad_fd);
	uint16_t pairs = f->pairs;
	rc = bring_up(f);
	if (!rc && f->pairs != pairs) {
		HAL_ERR(COMP, "%s: %u queue pairs after the reset, %u before", f->name,
			f->pairs, pairs);
		rc = -EPROTO;
	}
	if (!rc && !f->o->bench)
		rc = tap_configure(f);
	if (!rc)
		rc = workers_start(f);
	if (rc)
		return rc;
	fn_print(f);
	return 0;
}

/* The configuration vector fired: link status and DEVICE_NEEDS_RESET. */
static int fn_config_event(struct fn *f)
{
	bool needs_reset;
	uint16_t old = f->status;
	uint8_t b[2];
	int rc;

	pthread_mutex_lock(&f->lock);
	rc = sim_vpci_config_event(f->d, &needs_reset);
	if (!rc && has(f, VIRTIO_NET_F_STATUS) &&
	    !(rc = sim_vpci_config_read(f->d, VNET_CFG_STATUS, b, 2)))
		f->status = (uint16_t)(b[0] | b[1] << 8);
	pthread_mutex_unlock(&f->lock);
	if (rc) {
		HAL_ERR(COMP, "%s: configuration change: %s", f->name, strerror(-rc));
		return rc;
	}
	if (needs_reset)
		return fn_restart(f, "DEVICE_NEEDS_RESET");
	if ((old ^ f->status) & VIRTIO_NET_S_LINK_UP) {
		bool up = f->status & VIRTIO_NET_S_LINK_UP;

		HAL_INFO(COMP, "%s: link %s", f->name, up ? "up" : "down");
		tap_carrier(f, up);
	}
	return 0;
}

/* Once a second: a device gone (virtnetd stopped) or one that wants a
 * reset without having said so by interrupt. */
static int fn_watchdog(struct fn *f)
{
	uint8_t st;
	int rc;

	pthread_mutex_lock(&f->lock);
	rc = sim_vpci_get_status(f->d, &st);
	pthread_mutex_unlock(&f->lock);
	if (rc) {
		HAL_ERR(COMP, "%s: the device is gone: %s", f->name, strerror(-rc));
		return rc;
	}
	if (st & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return fn_restart(f, "DEVICE_NEEDS_RESET (seen by polling)");
	return 0;
}

/* SIGUSR1: where every ring stands, to tell a stalled device from a
 * stalled driver. Read without the workers' consent: a snapshot. */
static void vq_dump(const char *fname, unsigned k, const char *dir, const struct sim_vq *q,
		    unsigned n_free)
{
	if (q->flags & VQ_F_PACKED) {
		HAL_INFO(COMP, "%s: %sq %u: packed avail %u used %u free %u cb %s kicks %llu "
			 "(suppressed %llu)", fname, dir, k, q->avail_idx, q->last_used,
			 n_free, q->cb_disabled ? "off" : "on",
			 (unsigned long long)q->n_kicks,
			 (unsigned long long)q->n_kicks_suppressed);
		return;
	}
	HAL_INFO(COMP, "%s: %sq %u: avail %u (flags %u, used_event %u) used %u seen %u "
		 "(avail_event %u) free %u cb %s kicks %llu (suppressed %llu)", fname, dir, k,
		 q->avail_idx, vle16_to_cpu(q->avail->flags),
		 vle16_to_cpu(*vq_used_event_ptr(q->avail, q->size)),
		 vle16_to_cpu(__atomic_load_n(&q->used->idx, __ATOMIC_RELAXED)), q->last_used,
		 vle16_to_cpu(*vq_avail_event_ptr(q->used, q->size)), n_free,
		 q->cb_disabled ? "off" : "on", (unsigned long long)q->n_kicks,
		 (unsigned long long)q->n_kicks_suppressed);
}

static void fn_dump(const struct fn *f)
{
	for (unsigned k = 0; k < f->pairs; k++) {
		const struct pair *p = &f->p[k];

		HAL_INFO(COMP, "%s: pair %u: to the device %llu (%llu dropped), from it "
			 "%llu (%llu dropped)", f->name, k, (unsigned long long)p->tx_pkts,
			 (unsigned long long)p->tx_drop, (unsigned long long)p->rx_pkts,
			 (unsigned long long)p->rx_drop);
		vq_dump(f->name, k, "rx", &p->rx.vq, p->rx.n_free);
		vq_dump(f->name, k, "tx", &p->tx.vq, p->tx.n_free);
	}
}

/* ---- SR-IOV ------------------------------------------------------------------------ */

static int sriov_set(struct fn *pf, unsigned n)
{
	const struct sim_vpci_info *in = sim_vpci_info(pf->d);
	uint16_t ctrl = n ? PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE : 0;
	int rc;

	pthread_mutex_lock(&pf->lock);
	/* PCIe 9.3.3.7: NumVFs is written while VF Enable is clear. */
	rc = n ? sim_vfu_cfg_write16(pf->c, in->sriov_cap + PCI_SRIOV_NUM_VF, (uint16_t)n) : 0;
	if (!rc)
		rc = sim_vfu_cfg_write16(pf->c, in->sriov_cap + PCI_SRIOV_CTRL, ctrl);
	pthread_mutex_unlock(&pf->lock);
	return rc;
}

static int attach_vfs(const struct opts *o, struct fn *pf)
{
	const struct sim_vpci_info *in = sim_vpci_info(pf->d);
	char dir[PATH_MAX], sock[PATH_MAX + 80], ns[64];
	const char *slash = strrchr(pf->sock, '/');
	int rc;

	if (!in->sriov_cap || o->vfs > in->total_vfs) {
		HAL_ERR(COMP, "%s: %u VFs asked, the function has %u", pf->name, o->vfs,
			in->sriov_cap ? in->total_vfs : 0);
		return -EINVAL;
	}
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - pf->sock + 1) : 0, pf->sock);
	rc = sriov_set(pf, o->vfs);
	if (rc) {
		HAL_ERR(COMP, "%s: VF Enable: %s", pf->name, strerror(-rc));
		return rc;
	}
	pf->is_pf_with_vfs = true;
	HAL_INFO(COMP, "%s: %u VFs enabled", pf->name, o->vfs);
	for (unsigned k = 0; k < o->vfs && k < o->vf_attach; k++) {
		struct fn *vf;

		snprintf(sock, sizeof(sock), "%s%svf%u.sock", dir, pf->name, k);
		snprintf(ns, sizeof(ns), "%s%u", o->vf_netns ? o->vf_netns : "", k);
		/* sim_vfu_connect waits for the socket to appear. */
		vf = fn_attach(o, sock, NULL, o->vf_netns ? ns : NULL);
		if (!vf)
			return -EIO;
		fns[n_fns++] = vf;
	}
	return 0;
}

/* ---- --bench: the measurement -------------------------------------------------------- */

/* What pair p has moved in the measured direction so far: frames the
 * device completed (txonly, all of BENCH_FRAME bytes) or received. */
static void bench_read(const struct pair *p, uint64_t *pkts, uint64_t *bytes, uint64_t *bad)
{
	if (p->f->o->bench == BENCH_TXONLY) {
		*pkts = __atomic_load_n(&p->tx_done, __ATOMIC_RELAXED);
		*bytes = *pkts * BENCH_FRAME;
		*bad = 0;
		return;
	}
	*pkts = __atomic_load_n(&p->rx_pkts, __ATOMIC_RELAXED);
	*bytes = __atomic_load_n(&p->rx_bytes, __ATOMIC_RELAXED);
	*bad = __atomic_load_n(&p->rx_bad, __ATOMIC_RELAXED);
}

static void bench_mark(void)
{
	for (unsigned i = 0; i < n_fns; i++)
		for (unsigned k = 0; k < fns[i]->pairs; k++) {
			struct pair *p = &fns[i]->p[k];

			bench_read(p, &p->m_pkts, &p->m_bytes, &p->m_bad);
		}
}

/* One line per function for the ms since bench_mark(). */
static void bench_report(int64_t ms)
{
	double s = ms > 0 ? ms / 1000.0 : 1e-3;

	for (unsigned i = 0; i < n_fns; i++) {
		struct fn *f = fns[i];
		uint64_t pkts = 0, bytes = 0, bad = 0;
		char per[MAX_PAIRS * 12] = "";
		size_t at = 0;

		for (unsigned k = 0; k < f->pairs; k++) {
			const struct pair *p = &f->p[k];
			uint64_t n, b, e;

			bench_read(p, &n, &b, &e);
			pkts += n - p->m_pkts;
			bytes += b - p->m_bytes;
			bad += e - p->m_bad;
			int w = snprintf(per + at, sizeof(per) - at, "%s%.3f", k ? "," : "",
					 (double)(n - p->m_pkts) / s / 1e6);
			if (w > 0 && (size_t)w < sizeof(per) - at)
				at += (size_t)w;
		}
		printf("bench %s %s pairs %u packets %llu bytes %llu bad %llu seconds %.3f "
		       "mpps %.3f pair_mpps %s\n", f->name, bench_name[f->o->bench], f->pairs,
		       (unsigned long long)pkts, (unsigned long long)bytes,
		       (unsigned long long)bad, s, (double)pkts / s / 1e6, per);
	}
	fflush(stdout);
}

/* ---- main -------------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
"usage: %s [OPTIONS] SOCKET...\n"
"\n"
"The simulated x86 host: attaches to virtnetd's vfio-user function sockets,\n"
"enumerates each function, drives it with a userspace virtio-net driver and\n"
"turns it into a multi-queue TAP interface (one worker thread per queue pair).\n"
"With --bench a packet generator or sink takes the TAP's place.\n"
"\n"
"  -i, --ifname NAME      TAP name for the first socket (default: the socket's\n"
"                         base name without .sock, e.g. pf0)\n"
"  -n, --netns NS         move the first socket's TAP into the existing\n"
"                         namespace NS and bring it up there (addresses: ip -n)\n"
"  -V, --vfs N            the first socket is a PF: enable N VFs (NumVFs and VF\n"
"                         Enable), wait for <pf>vf<k>.sock and attach each\n"
"                         (TAP <pf>vf<k>)\n"
"  -A, --vf-attach N      attach only the first N of those VFs (default all):\n"
"                         the others are left to other clients\n"
"  -N, --vf-netns PREFIX  VF k's TAP goes into namespace PREFIX<k>\n"
"  -P, --packed           packed rings (default split)\n"
"  -q, --pairs N          queue pairs to use (default 1); more than 1 needs MQ\n"
"                         and sets VQ_PAIRS_SET on the control queue\n"
"  -s, --queue-size N     ring size (default 256, at most the device's)\n"
"  -o, --no-offloads      do not negotiate CSUM, GUEST_CSUM, HOST_TSO4/6,\n"
"                         GUEST_TSO4/6 (negotiated when offered by default)\n"
"  -m, --no-mrg-rxbuf     do not negotiate MRG_RXBUF (default: when offered)\n"
"  -H, --hash-report      negotiate HASH_REPORT (20-byte headers) when offered\n"
"  -p, --poll             busy-poll the rings instead of sleeping on MSI-X\n"
"                         eventfds\n"
"  -b, --bench MODE       benchmark, no TAP: txonly (each pair sends 64-byte\n"
"                         UDP frames, source port 1024 + pair, as fast as its\n"
"                         ring takes them) or rxonly (receive buffers kept\n"
"                         posted, frames counted; one not of 64 bytes is bad)\n"
"  -S, --seconds N        with --bench: measure N seconds after a %u ms\n"
"                         warm-up, then exit (default: until a signal)\n"
"  -t, --timeout S        seconds to wait for a socket to accept (default 10);\n"
"                         also bounds every vfio-user request\n"
"  -l, --log-level LEVEL  err, warn, info (default), debug\n"
"  -h, --help             this text\n"
"\n"
"One line per attached function on stdout: name, TAP, namespace, negotiated\n"
"features, queue pairs, ring format. SIGINT/SIGTERM: the devices are reset,\n"
"VFs disabled, connections closed, TAPs removed; exit 0. SIGUSR1: every\n"
"ring's indexes and the packet counters to the log.\n"
"With --bench, at the end one line per function on stdout:\n"
"  bench NAME MODE pairs P packets N bytes B bad E seconds S mpps M\n"
"  pair_mpps M0,M1,...\n"
"(txonly: frames the device completed; rxonly: frames received).\n"
"Exit status: 0 after a signal or --seconds, 1 when a function cannot be\n"
"attached or fails for good (lost connection, a reset that does not bring\n"
"it back), 2 for a usage error.\n", prog, WARMUP_MS);
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "ifname", required_argument, NULL, 'i' },
		{ "netns", required_argument, NULL, 'n' },
		{ "vfs", required_argument, NULL, 'V' },
		{ "vf-netns", required_argument, NULL, 'N' },
		{ "vf-attach", required_argument, NULL, 'A' },
		{ "packed", no_argument, NULL, 'P' },
		{ "pairs", required_argument, NULL, 'q' },
		{ "queue-size", required_argument, NULL, 's' },
		{ "no-offloads", no_argument, NULL, 'o' },
		{ "no-mrg-rxbuf", no_argument, NULL, 'm' },
		{ "hash-report", no_argument, NULL, 'H' },
		{ "poll", no_argument, NULL, 'p' },
		{ "bench", required_argument, NULL, 'b' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 't' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned v;
	int opt, lvl;

	*o = (struct opts){ .pairs = 1, .qsize = 256, .offloads = true, .mrg = true,
			    .timeout_s = 10, .vf_attach = UINT_MAX };
	while ((opt = getopt_long(argc, argv, "i:n:V:A:N:Pq:s:omHpb:S:t:l:h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (strlen(optarg) >= IFNAMSIZ || !*optarg)
				goto bad;
			o->ifname = optarg;
			break;
		case 'n': o->netns = optarg; break;
		case 'N': o->vf_netns = optarg; break;
		case 'P': o->packed = true; break;
		case 'o': o->offloads = false; break;
		case 'm': o->mrg = false; break;
		case 'H': o->hash = true; break;
		case 'p': o->poll = true; break;
		case 'b':
			if (!strcmp(optarg, "txonly"))
				o->bench = BENCH_TXONLY;
			else if (!strcmp(optarg, "rxonly"))
				o->bench = BENCH_RXONLY;
			else
				goto bad;
			break;
		case 'S':
			if (parse_uint(optarg, 1, 86400, &o->seconds))
				goto bad;
			break;
		case 'V':
			if (parse_uint(optarg, 0, MAX_FNS - 1, &o->vfs))
				goto bad;
			break;
		case 'A':
			if (parse_uint(optarg, 0, MAX_FNS - 1, &o->vf_attach))
				goto bad;
			break;
		case 'q':
			if (parse_uint(optarg, 1, MAX_PAIRS, &o->pairs))
				goto bad;
			break;
		case 's':
			if (parse_uint(optarg, 2, 32768, &o->qsize))
				goto bad;
			break;
		case 't':
			if (parse_uint(optarg, 1, 3600, &v))
				goto bad;
			o->timeout_s = (int)v;
			break;
		case 'l':
			if ((lvl = hal_log_level_parse(optarg)) < 0)
				goto bad;
			hal_log_set_level((enum hal_log_level)lvl);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "%s: no SOCKET given\n", prog);
		return -1;
	}
	if (o->vf_attach != UINT_MAX && !o->vfs) {
		fprintf(stderr, "%s: --vf-attach goes with --vfs\n", prog);
		return -1;
	}
	if (o->seconds && !o->bench) {
		fprintf(stderr, "%s: --seconds goes with --bench\n", prog);
		return -1;
	}
	if (o->bench && (o->ifname || o->netns || o->vf_netns)) {
		fprintf(stderr, "%s: --bench has no TAP: no --ifname, --netns or --vf-netns\n",
			prog);
		return -1;
	}
	if (argc - optind > MAX_FNS - (int)o->vfs) {
		fprintf(stderr, "%s: too many functions\n", prog);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "%s: bad value for -%c: \"%s\"\n", prog, opt, optarg);
	return -1;
}

int main(int argc, char **argv)
{
	struct opts o;
	sigset_t sigs;
	int sfd = -1, ep = -1, rc = 1;
	/* --bench: the warm-up ends at t_mark, the measurement at t_end (0:
	 * at a signal). */
	int64_t t_mark = 0, t_end = 0;
	bool marked = false;

	if (parse_args(argc, argv, &o))
		return 2;
	/* Blocked before any thread starts, so only the signalfd sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	/* data.u32: 2 * i for function i's configuration vector, 2 * i + 1
	 * for its broken-queue eventfd, SIG_KEY for the signals. */
	struct epoll_event se = { .events = EPOLLIN, .data.u32 = SIG_KEY };
	if (sfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &se) < 0) {
		perror(prog);
		goto out;
	}

	for (int i = optind; i < argc; i++) {
		bool first = i == optind;
		struct fn *f = fn_attach(&o, argv[i], first ? o.ifname : NULL,
					 first ? o.netns : NULL);

		if (!f)
			goto out;
		fns[n_fns++] = f;
		if (first && o.vfs && attach_vfs(&o, f))
			goto out;
	}
	for (unsigned i = 0; i < n_fns; i++) {
		struct epoll_event e = { .events = EPOLLIN };
		int cfd = sim_vpci_config_fd(fns[i]->d);

		e.data.u32 = 2 * i;
		if (cfd >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &e) < 0)
			goto out;
		e.data.u32 = 2 * i + 1;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fns[i]->bad_fd, &e) < 0)
			goto out;
	}
	HAL_INFO(COMP, "%u function%s attached", n_fns, n_fns == 1 ? "" : "s");

	int64_t next_watch = sim_now_ms() + 1000;
	t_mark = sim_now_ms() + WARMUP_MS;
	for (;;) {
		struct epoll_event ev[8];
		int64_t wake = !o.bench ? 0 : !marked ? t_mark : t_end;
		int tmo = 1000;

		if (wake && wake - sim_now_ms() < tmo)
			tmo = wake > sim_now_ms() ? (int)(wake - sim_now_ms()) : 0;
		int n = epoll_wait(ep, ev, 8, tmo);

		for (int i = 0; i < n; i++) {
			uint32_t u = ev[i].data.u32;

			if (u == SIG_KEY) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) == sizeof(si) &&
				    si.ssi_signo == SIGUSR1) {
					for (unsigned j = 0; j < n_fns; j++)
						fn_dump(fns[j]);
					continue;
				}
				HAL_INFO(COMP, "signal: shutting down");
				rc = 0;
				goto out;
			}
			struct fn *f = fns[u / 2];
			int err = u % 2 ? fn_restart(f, "a queue broke") : fn_config_event(f);

			if (err)
				goto out;
		}
		if (sim_now_ms() >= next_watch) {
			for (unsigned i = 0; i < n_fns; i++)
				if (fn_watchdog(fns[i]))
					goto out;
			next_watch = sim_now_ms() + 1000;
		}
		if (o.bench && !marked && sim_now_ms() >= t_mark) {
			bench_mark();
			marked = true;
			t_mark = sim_now_ms();
			t_end = o.seconds ? t_mark + 1000ll * o.seconds : 0;
		} else if (marked && t_end && sim_now_ms() >= t_end) {
			rc = 0;
			goto out;
		}
	}
out:
	/* Measured while the workers still run; after a failure, nothing. */
	if (!rc && marked)
		bench_report(sim_now_ms() - t_mark);
	/* VFs first, then VF Enable cleared, then the PF. */
	for (unsigned i = n_fns; i-- > 0;) {
		struct fn *f = fns[i];

		if (f->is_pf_with_vfs) {
			workers_stop(f);
			sriov_set(f, 0);
		}
		fn_free(f);
	}
	if (ep >= 0)
		close(ep);
	if (sfd >= 0)
		close(sfd);
	return rc;
}
