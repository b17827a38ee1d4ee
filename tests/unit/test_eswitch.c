/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sim eSwitch backend (hal/eswitch_sim): representors as net_tap
 * ports, with a real EAL, in a network namespace of the test's own
 * (unshare: needs root, as `make test` runs). The kernel side of each
 * representor is read and written with an AF_PACKET socket: what the port
 * transmits arrives there byte for byte, what is sent there arrives at the
 * port. Only frames of the test's own EtherType (0x88b5) count: the kernel
 * sends its own (IPv6 neighbour discovery) on a fresh interface.
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
#include <linux/if_packet.h>

#include <cmocka.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "hal_eswitch.h"
#include "hal_log.h"

#define ETYPE 0x88b5

static struct rte_mempool *g_mp;

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
	if (!g_mp)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rep_both_ways),
		cmocka_unit_test(test_reps_side_by_side),
		cmocka_unit_test(test_rep_refused),
	};
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rte_mempool_free(g_mp);
	rte_eal_cleanup();
	rmdir(rundir);
	return rc;
}
