/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sim eSwitch backend (hal/eswitch_sim): representors as net_tap
 * ports, with a real EAL, in a network namespace of the test's own
 * (unshare: needs root, as `make test` runs). The kernel side of each
 * representor is read and written with an AF_PACKET socket: what the port
 * transmits arrives there byte for byte, what is sent there arrives at the
 * port. Only frames of the test's own EtherType (0x88b5) count: the kernel
 * sends its own (IPv6 neighbour discovery) on a fresh interface.
 *
 * A representor with an MTU above 1500 is a veth pair read by
 * net_af_packet: the same checks with 9000-byte frames, its offloads off,
 * a frame too big for the port dropped without stopping it, and what an
 * earlier run left behind.
 */
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>

#include <cmocka.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "hal_eswitch.h"
#include "hal_log.h"

#define ETYPE 0x88b5

static struct rte_mempool *g_mp, *g_jumbo;

static void quiet(enum hal_log_level l, const char *line)
{
	(void)l;
	(void)line;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int packet_socket(const char *ifname)
{
	struct sockaddr_ll a = { 0 };
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETYPE));

	assert_true(s >= 0);
	a.sll_family = AF_PACKET;
	a.sll_protocol = htons(ETYPE);
	a.sll_ifindex = (int)if_nametoindex(ifname);
	assert_true(a.sll_ifindex > 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	return s;
}

/* The next frame of ours on s (the kernel's own skipped): its length. */
static ssize_t recv_ours(int s, uint8_t *buf, size_t cap)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	ssize_t n;

	do {
		if (poll(&p, 1, 2000) != 1)
			return -1;
		n = recv(s, buf, cap, 0);
	} while (n >= 14 && (buf[12] << 8 | buf[13]) != ETYPE);
	return n;
}

/* A frame of ours from any RX queue of the port, within 2 s; NULL if none. */
static struct rte_mbuf *rx_ours(const struct hal_rep *r)
{
	struct rte_mbuf *m = NULL;
	uint64_t t0 = now_ns();

	while (!m && now_ns() - t0 < 2000000000ull) {
		for (uint16_t q = 0; q < r->nq && !m; q++) {
			if (rte_eth_rx_burst(r->port, q, &m, 1) != 1)
				continue;
			const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
			if ((d[12] << 8 | d[13]) != ETYPE) {
				rte_pktmbuf_free(m); /* the kernel's own */
				m = NULL;
			}
		}
	}
	return m;
}

/* An mbuf chain (from g_mp, 2 KiB segments) holding f[0..len). */
static struct rte_mbuf *chain_of(const uint8_t *f, uint32_t len)
{
	struct rte_mbuf *head = NULL;

	for (uint32_t off = 0; off < len;) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(g_mp);
		uint32_t n = len - off < 2048 ? len - off : 2048;
		assert_non_null(m);
		memcpy(rte_pktmbuf_append(m, (uint16_t)n), f + off, n);
		if (!head)
			head = m;
		else
			assert_int_equal(rte_pktmbuf_chain(head, m), 0);
		off += n;
	}
	return head;
}

static unsigned if_mtu(const char *ifname)
{
	struct ifreq r;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unsigned mtu = 0;

	memset(&r, 0, sizeof(r));
	snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", ifname);
	if (ioctl(s, SIOCGIFMTU, &r) == 0)
		mtu = (unsigned)r.ifr_mtu;
	close(s);
	return mtu;
}

/* An ethtool value (ETHTOOL_GTSO, ETHTOOL_GTXCSUM, ...) of ifname. */
static unsigned ethtool_value(const char *ifname, uint32_t cmd)
{
	struct ethtool_value v = { .cmd = cmd };
	struct ifreq r;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&r, 0, sizeof(r));
	snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", ifname);
	r.ifr_data = (void *)&v;
	assert_int_equal(ioctl(s, SIOCETHTOOL, &r), 0);
	close(s);
	return v.data;
}

static uint32_t frame(uint8_t *f, unsigned k, uint32_t len)
{
	static const uint8_t dst[6] = { 0x02, 0x76, 0x6e, 0, 0, 1 };
	static const uint8_t src[6] = { 0x02, 0x76, 0x6e, 0, 0, 2 };

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = ETYPE >> 8;
	f[13] = ETYPE & 0xff;
	for (uint32_t i = 14; i < len; i++)
		f[i] = (uint8_t)(i * 3 + k);
	return len;
}

static bool if_up(const char *ifname)
{
	struct ifreq r;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool up;

	memset(&r, 0, sizeof(r));
	snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", ifname);
	up = ioctl(s, SIOCGIFFLAGS, &r) == 0 && (r.ifr_flags & IFF_UP);
	close(s);
	return up;
}

/* A representor appears as an interface that is up, with the offloads
 * the port has enabled; frames go both ways byte for byte. */
static void test_rep_both_ways(void **state)
{
	struct hal_rep r;
	struct hal_rep_cfg c = { .n_txq = 2, .mp = g_mp };
	char err[256];
	uint8_t f[1500], got[1600];
	int s;

	(void)state;
	if (hal_rep_create("pf0", &c, &r, err, sizeof(err)))
		fail_msg("%s", err);
	assert_string_equal(r.ifname, "pf0");
	assert_int_equal(r.nq, 2);
	assert_true(if_nametoindex("pf0") > 0);
	assert_true(if_up("pf0"));
	/* Only offloads a tap port has, and the checksums it does have. */
	assert_int_equal(r.tx_offloads & ~(RTE_ETH_TX_OFFLOAD_IPV4_CKSUM |
		RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM |
		RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_MULTI_SEGS), 0);
	assert_true(r.tx_offloads & RTE_ETH_TX_OFFLOAD_TCP_CKSUM);
	s = packet_socket("pf0");

	/* Port -> interface, on both TX queues. */
	for (unsigned k = 0; k < 8; k++) {
		uint32_t len = frame(f, k, 60 + 100 * k);
		struct rte_mbuf *m = rte_pktmbuf_alloc(g_mp);
		assert_non_null(m);
		memcpy(rte_pktmbuf_append(m, (uint16_t)len), f, len);
		assert_int_equal(rte_eth_tx_burst(r.port, (uint16_t)(k % 2), &m, 1), 1);
		struct pollfd p = { .fd = s, .events = POLLIN };
		ssize_t n;
		do {
			assert_int_equal(poll(&p, 1, 2000), 1);
			n = recv(s, got, sizeof(got), 0);
		} while (n >= 14 && (got[12] << 8 | got[13]) != ETYPE);
		assert_int_equal(n, len);
		assert_memory_equal(got, f, len);
	}

	/* Interface -> port. */
	for (unsigned k = 0; k < 8; k++) {
		uint32_t len = frame(f, 50 + k, 64 + 90 * k);
		struct rte_mbuf *m = NULL;
		uint64_t t0 = now_ns();

		assert_int_equal(send(s, f, len, 0), (ssize_t)len);
		/* The kernel picks the RX queue by flow: read them all. */
		while (!m && now_ns() - t0 < 2000000000ull) {
			for (uint16_t q = 0; q < r.nq && !m; q++) {
				if (rte_eth_rx_burst(r.port, q, &m, 1) != 1)
					continue;
				const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
				if ((d[12] << 8 | d[13]) != ETYPE) {
					rte_pktmbuf_free(m); /* the kernel's own */
					m = NULL;
				}
			}
		}
		assert_non_null(m);
		assert_int_equal(rte_pktmbuf_pkt_len(m), len);
		assert_memory_equal(rte_pktmbuf_read(m, 0, len, got), f, len);
		rte_pktmbuf_free(m);
	}
	close(s);
	hal_rep_destroy(&r);
	assert_int_equal(if_nametoindex("pf0"), 0);
}

/* Several side by side; each goes away alone. */
static void test_reps_side_by_side(void **state)
{
	struct hal_rep r[3];
	struct hal_rep_cfg c = { .n_txq = 1, .mp = g_mp };
	const char *names[3] = { "pf0", "pf0vf0", "pf0vf1" };
	char err[256];

	(void)state;
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(hal_rep_create(names[i], &c, &r[i], err, sizeof(err)), 0);
		assert_true(if_nametoindex(names[i]) > 0);
	}
	assert_true(r[0].port != r[1].port && r[1].port != r[2].port);
	hal_rep_destroy(&r[1]);
	assert_int_equal(if_nametoindex("pf0vf0"), 0);
	assert_true(if_nametoindex("pf0") > 0);
	assert_true(if_nametoindex("pf0vf1") > 0);
	hal_rep_destroy(&r[0]);
	hal_rep_destroy(&r[2]);
	assert_int_equal(if_nametoindex("pf0"), 0);
}

/* MTU 9000: a veth pair, 9000-byte frames both ways, no offload that
 * would hand the port an unfinished frame; a frame too big for the port
 * is dropped and the port goes on; destroyed, both ends go. */
static void test_rep_jumbo(void **state)
{
	struct hal_rep r;
	struct hal_rep_cfg c = { .n_txq = 2, .mp = g_jumbo, .mtu = 9000 };
	static uint8_t f[10400], got[10400];
	char err[256], peer[HAL_REP_IFNAMSIZ];
	int s;

	(void)state;
	if (hal_rep_create("pf0", &c, &r, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(strncmp(r.peer, "vnrep", 5), 0);
	snprintf(peer, sizeof(peer), "%s", r.peer);
	assert_true(if_nametoindex(peer) > 0);
	assert_int_equal(if_mtu("pf0"), 9000);
	assert_true(if_up("pf0"));
	assert_true(if_up(peer));
	assert_int_equal(ethtool_value("pf0", ETHTOOL_GTSO), 0);
	assert_int_equal(ethtool_value("pf0", ETHTOOL_GGSO), 0);
	assert_int_equal(ethtool_value("pf0", ETHTOOL_GTXCSUM), 0);
	assert_int_equal(ethtool_value(peer, ETHTOOL_GGRO), 0);
	char v6[96], one[4] = "";
	snprintf(v6, sizeof(v6), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", peer);
	FILE *fv6 = fopen(v6, "r");
	if (fv6) { /* (a kernel without IPv6 has nothing to turn off) */
		assert_non_null(fgets(one, sizeof(one), fv6));
		fclose(fv6);
		assert_int_equal(one[0], '1');
	}
	assert_false(r.rx_intr);
	s = packet_socket("pf0");

	/* Port -> interface: up to an MTU-sized frame (9014 bytes), in one
	 * mbuf chain each, on both TX queues; more frames than a ring has
	 * slots, so every slot of every block is used. */
	const uint32_t sizes[] = { 60, 1515, 4000, 9014 };
	for (unsigned k = 0; k < 300; k++) {
		uint32_t len = frame(f, k, sizes[k % 4]);
		struct rte_mbuf *m = chain_of(f, len);
		assert_int_equal(rte_eth_tx_burst(r.port, (uint16_t)(k % 2), &m, 1), 1);
		assert_int_equal(recv_ours(s, got, sizeof(got)), len);
		assert_memory_equal(got, f, len);
	}
	/* Larger than a ring slot holds: dropped by the port (counted as
	 * taken), and the port still sends. */
	struct rte_mbuf *big = chain_of(f, frame(f, 7, 10300));
	assert_int_equal(rte_eth_tx_burst(r.port, 0, &big, 1), 1);
	uint32_t len = frame(f, 8, 9014);
	struct rte_mbuf *m = chain_of(f, len);
	assert_int_equal(rte_eth_tx_burst(r.port, 0, &m, 1), 1);
	assert_int_equal(recv_ours(s, got, sizeof(got)), len);
	assert_memory_equal(got, f, len);

	/* Interface -> port: a 9014-byte frame arrives whole, in one mbuf;
	 * again more frames than the ring has slots. */
	for (unsigned k = 0; k < 300; k++) {
		len = frame(f, 50 + k, k % 3 == 2 ? 9014 : 1000 + 3000 * (k % 3));
		assert_int_equal(send(s, f, len, 0), (ssize_t)len);
		m = rx_ours(&r);
		assert_non_null(m);
		assert_int_equal(m->nb_segs, 1);
		assert_int_equal(rte_pktmbuf_pkt_len(m), len);
		assert_memory_equal(rte_pktmbuf_mtod(m, const uint8_t *), f, len);
		rte_pktmbuf_free(m);
	}
	close(s);
	hal_rep_destroy(&r);
	assert_int_equal(if_nametoindex("pf0"), 0);
	assert_int_equal(if_nametoindex(peer), 0);
}

/* A tap representor takes an MTU below 1500 as well. */
static void test_rep_small_mtu(void **state)
{
	struct hal_rep r;
	struct hal_rep_cfg c = { .n_txq = 1, .mp = g_mp, .mtu = 1280 };
	char err[256];

	(void)state;
	if (hal_rep_create("pf0", &c, &r, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(if_mtu("pf0"), 1280);
	assert_string_equal(r.peer, "");
	hal_rep_destroy(&r);
}

/* What an earlier run left: its veth pair is replaced; anything else of
 * that name (or a pair this process uses) is not touched, and the
 * creation is refused. */
static void test_rep_leftovers(void **state)
{
	struct hal_rep r, r2;
	struct hal_rep_cfg jumbo = { .n_txq = 1, .mp = g_jumbo, .mtu = 9000 };
	struct hal_rep_cfg tap = { .n_txq = 1, .mp = g_mp };
	char err[256];

	(void)state;
	/* A pair left by a run that died: replaced, by either kind. */
	assert_int_equal(system("ip link add pf7 mtu 9000 type veth peer name vnrep77"), 0);
	if (hal_rep_create("pf7", &jumbo, &r, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(if_nametoindex("vnrep77"), 0);
	hal_rep_destroy(&r);
	assert_int_equal(system("ip link add pf7 mtu 9000 type veth peer name vnrep77"), 0);
	if (hal_rep_create("pf7", &tap, &r, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(if_nametoindex("vnrep77"), 0);
	hal_rep_destroy(&r);
	assert_int_equal(if_nametoindex("pf7"), 0);

	/* A pair whose other end somebody reads (another virtnetd): left
	 * alone, refused; once nobody does, replaced. */
	assert_int_equal(system("ip link add pf4 mtu 9000 type veth peer name vnrep44"), 0);
	assert_int_equal(system("ip link set vnrep44 up"), 0);
	int reader = packet_socket("vnrep44");
	assert_true(hal_rep_create("pf4", &jumbo, &r, err, sizeof(err)) < 0);
	assert_true(if_nametoindex("vnrep44") > 0);
	close(reader);
	if (hal_rep_create("pf4", &jumbo, &r, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(if_nametoindex("vnrep44"), 0);
	hal_rep_destroy(&r);

	/* Not ours: left alone, refused. */
	assert_int_equal(system("ip link add pf6 type bridge"), 0);
	assert_true(hal_rep_create("pf6", &jumbo, &r, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "pf6"));
	assert_true(if_nametoindex("pf6") > 0);
	assert_int_equal(system("ip link del pf6"), 0);

	/* In use here: the second refused, the first intact. */
	if (hal_rep_create("pf5", &jumbo, &r, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(hal_rep_create("pf5", &jumbo, &r2, err, sizeof(err)) < 0);
	assert_true(if_nametoindex("pf5") > 0);
	assert_true(if_nametoindex(r.peer) > 0);
	hal_rep_destroy(&r);
	assert_int_equal(if_nametoindex("pf5"), 0);
}

/* Bad names and configurations: refused with a reason, nothing created. */
static void test_rep_refused(void **state)
{
	struct hal_rep r;
	struct hal_rep_cfg c = { .n_txq = 1, .mp = g_mp };
	struct hal_rep_cfg many = { .n_txq = 1000, .mp = g_mp };
	struct hal_rep_cfg nomp = { .n_txq = 1 };
	char err[256];

	(void)state;
	assert_int_equal(hal_rep_create("", &c, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "representor name"));
	assert_int_equal(hal_rep_create("a-name-much-too-long", &c, &r, err, sizeof(err)), -EINVAL);
	assert_int_equal(hal_rep_create("bad/name", &c, &r, err, sizeof(err)), -EINVAL);
	assert_int_equal(hal_rep_create("pf9", &nomp, &r, err, sizeof(err)), -EINVAL);
	assert_int_equal(hal_rep_create("pf9", &many, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "TX queues"));
	/* An MTU out of range; a jumbo MTU with buffers too small for it. */
	struct hal_rep_cfg huge = { .n_txq = 1, .mp = g_jumbo, .mtu = HAL_REP_MAX_MTU + 1 };
	struct hal_rep_cfg tiny = { .n_txq = 1, .mp = g_mp, .mtu = 67 };
	struct hal_rep_cfg small_bufs = { .n_txq = 1, .mp = g_mp, .mtu = 9000 };
	assert_int_equal(hal_rep_create("pf9", &huge, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "MTU 9217"));
	assert_int_equal(hal_rep_create("pf9", &tiny, &r, err, sizeof(err)), -EINVAL);
	assert_int_equal(hal_rep_create("pf9", &small_bufs, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "receive buffers"));
	assert_int_equal(if_nametoindex("pf9"), 0);
	/* The same name twice: the second refused, the first intact. */
	assert_int_equal(hal_rep_create("pf8", &c, &r, err, sizeof(err)), 0);
	struct hal_rep r2;
	assert_true(hal_rep_create("pf8", &c, &r2, err, sizeof(err)) < 0);
	assert_true(if_nametoindex("pf8") > 0);
	hal_rep_destroy(&r);
	assert_int_equal(if_nametoindex("pf8"), 0);
}

int main(void)
{
	char prefix[64], rundir[256];
	int rc;

	/* A network namespace of our own: the interfaces are created there
	 * and vanish with the process. */
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "test_eswitch: unshare(CLONE_NEWNET): %s (run as root)\n",
			strerror(errno));
		return 1;
	}
	hal_log_set_sink(quiet);
	snprintf(prefix, sizeof(prefix), "virtnet-test-esw-%d", (int)getpid());
	char *eal_argv[] = {
		"test_eswitch", "-l", "0", "--no-huge", "--no-pci", "--no-shconf",
		"--file-prefix", prefix, "--log-level=*:critical", "-m", "128",
		"--no-telemetry", NULL,
	};
	if (rte_eal_init((int)(sizeof(eal_argv) / sizeof(eal_argv[0])) - 1, eal_argv) < 0) {
		fprintf(stderr, "test_eswitch: EAL init failed\n");
		return 1;
	}
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	g_mp = rte_pktmbuf_pool_create("test_esw", 4095, 256, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	g_jumbo = rte_pktmbuf_pool_create("test_esw_jumbo", 511, 32, 0,
					  hal_rep_buf_size(9000), SOCKET_ID_ANY);
	if (!g_mp || !g_jumbo)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rep_both_ways),
		cmocka_unit_test(test_reps_side_by_side),
		cmocka_unit_test(test_rep_refused),
		cmocka_unit_test(test_rep_jumbo),
		cmocka_unit_test(test_rep_small_mtu),
		cmocka_unit_test(test_rep_leftovers),
	};
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rte_mempool_free(g_mp);
	rte_mempool_free(g_jumbo);
	rte_eal_cleanup();
	rmdir(rundir);
	return rc;
}
