/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rttmon — which latency regime two CPUs are in, while something runs on
 * them (scripts/bench-race.sh).
 *
 *   PROGRAM | rttmon PERIOD_MS CPU_A CPU_B LOG > OUT
 *
 * On a VM the host decides where the two vCPUs really run and changes its
 * mind every few seconds, in the middle of a run as well as between runs;
 * the race's front end makes twice the frames in one placement as in the
 * other, whichever back end runs. A probe before and after a run does not
 * say what the run had (the placement also changes while the CPUs idle),
 * so this one runs during it: every PERIOD_MS, one thread on each CPU, at
 * SCHED_FIFO so that both get their CPU at once, bounces a cache line
 * between them (16 rounds of 32 trips, about 0.25 ms on a slow
 * interconnect, the same pause for whatever else runs there) and logs the
 * median time of one round trip, CPU_A -> CPU_B -> CPU_A:
 *   "RTT <ms since start> <ns>"     (-1: CPU_B's thread did not come)
 * The lines read from stdin go to stdout unchanged, and to LOG stamped with
 * the time they arrived: "@<ms since start> <line>"; so the program's
 * per-second figures can be put beside the samples of the same second
 * (run it with its output line-buffered: stdbuf -oL). rttmon ends at the
 * end of its input.
 *
 * A tool for the benchmarks, not a benchmark: it prints no table. Without
 * the right to SCHED_FIFO it says so and samples at normal priority (the
 * samples then also measure who got the CPU).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS  16
#define TRIPS   32
#define WAIT_NS 5000000ull /* how long one side waits for the other */

static struct {
	uint64_t ping __attribute__((aligned(128))); /* written by CPU_A */
	uint64_t pong __attribute__((aligned(128))); /* its echo, by CPU_B */
	uint64_t ready __attribute__((aligned(128))); /* CPU_B's thread is in sample k */
	uint64_t done __attribute__((aligned(128)));  /* sample k is over */
	uint64_t stop __attribute__((aligned(128)));
} line;

static struct timespec t_start;
static long period_ns;
static FILE *log_f;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t since_ms(void)
{
	return (now_ns() - ((uint64_t)t_start.tv_sec * 1000000000ull +
			    (uint64_t)t_start.tv_nsec)) / 1000000ull;
}

/* The k-th sampling time (k from 1). */
static struct timespec when(uint64_t k)
{
	struct timespec t = t_start;
	uint64_t ns = (uint64_t)t.tv_nsec + k * (uint64_t)period_ns;

	t.tv_sec += (time_t)(ns / 1000000000ull);
	t.tv_nsec = (long)(ns % 1000000000ull);
	return t;
}

/* On `cpu`, at SCHED_FIFO if allowed: false if it cannot run there;
 * *fifo_err 0 or why SCHED_FIFO was refused. */
static bool pin(int cpu, int *fifo_err)
{
	struct sched_param sp = { .sched_priority = 1 };
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (pthread_setaffinity_np(pthread_self(), sizeof(s), &s))
		return false;
	*fifo_err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	return true;
}

static int cpu_b;

static void *pong_main(void *arg)
{
	int fifo_err;

	(void)arg;
	if (!pin(cpu_b, &fifo_err))
		return NULL;
	for (uint64_t k = 1; !__atomic_load_n(&line.stop, __ATOMIC_ACQUIRE); k++) {
		struct timespec t = when(k);
		uint64_t seen = __atomic_load_n(&line.ping, __ATOMIC_ACQUIRE), end;

		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
		__atomic_store_n(&line.ready, k, __ATOMIC_RELEASE);
		end = now_ns() + WAIT_NS;
		while (__atomic_load_n(&line.done, __ATOMIC_ACQUIRE) < k && now_ns() < end) {
			uint64_t p = __atomic_load_n(&line.ping, __ATOMIC_ACQUIRE);
			if (p != seen) {
				seen = p;
				__atomic_store_n(&line.pong, p, __ATOMIC_RELEASE);
			}
		}
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One sample: the median round trip in ns, or -1 when CPU_B's thread did
 * not answer in time. */
static int64_t sample(uint64_t k, uint64_t *v)
{
	uint64_t r[ROUNDS], end = now_ns() + WAIT_NS;

	while (__atomic_load_n(&line.ready, __ATOMIC_ACQUIRE) < k)
		if (now_ns() > end)
			return -1;
	for (unsigned i = 0; i < ROUNDS; i++) {
		uint64_t t0 = now_ns();

		for (unsigned j = 0; j < TRIPS; j++) {
			__atomic_store_n(&line.ping, ++*v, __ATOMIC_RELEASE);
			while (__atomic_load_n(&line.pong, __ATOMIC_ACQUIRE) != *v)
				if (now_ns() > t0 + WAIT_NS)
					return -1;
		}
		r[i] = (now_ns() - t0) / TRIPS;
	}
	qsort(r, ROUNDS, sizeof(r[0]), cmp_u64);
	return (int64_t)r[ROUNDS / 2];
}

static void *stamp_main(void *arg)
{
	char buf[4096];

	(void)arg;
	while (fgets(buf, sizeof(buf), stdin)) {
		fputs(buf, stdout);
		pthread_mutex_lock(&log_mu);
		fprintf(log_f, "@%" PRIu64 " %s%s", since_ms(), buf,
			strchr(buf, '\n') ? "" : "\n");
		pthread_mutex_unlock(&log_mu);
	}
	fflush(stdout);
	__atomic_store_n(&line.stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* A CPU number, or -1. */
static int cpu_arg(const char *s)
{
	char *end;
	long c = strtol(s, &end, 10);

	return end == s || *end || c < 0 || c >= CPU_SETSIZE ? -1 : (int)c;
}

int main(int argc, char **argv)
{
	pthread_t pong, stamp;
	cpu_set_t allowed;
	uint64_t v = 0;
	int fifo_err;
	char *end;
	long ms;
	int cpu_a;

	if (argc != 5 || (ms = strtol(argv[1], &end, 10)) < 10 || *end || ms > 10000 ||
	    (cpu_a = cpu_arg(argv[2])) < 0 || (cpu_b = cpu_arg(argv[3])) < 0) {
		fprintf(stderr, "usage: PROGRAM | rttmon PERIOD_MS(10-10000) CPU_A CPU_B LOG\n");
		return 2;
	}
	period_ns = ms * 1000000L;
	clock_gettime(CLOCK_MONOTONIC, &t_start);
	if (sched_getaffinity(0, sizeof(allowed), &allowed) || !CPU_ISSET(cpu_b, &allowed) ||
	    !pin(cpu_a, &fifo_err)) {
		fprintf(stderr, "rttmon: cannot run on CPUs %d and %d\n", cpu_a, cpu_b);
		return 2;
	}
	if (!(log_f = fopen(argv[4], "w"))) {
		fprintf(stderr, "rttmon: %s: %s\n", argv[4], strerror(errno));
		return 2;
	}
	setvbuf(log_f, NULL, _IOLBF, 0);
	if (fifo_err)
		fprintf(stderr, "rttmon: no SCHED_FIFO (%s): sampling at normal priority\n",
			strerror(fifo_err));
	if (pthread_create(&pong, NULL, pong_main, NULL) ||
	    pthread_create(&stamp, NULL, stamp_main, NULL)) {
		fprintf(stderr, "rttmon: cannot start its threads\n");
		return 2;
	}
	for (uint64_t k = 1; !__atomic_load_n(&line.stop, __ATOMIC_ACQUIRE); k++) {
		struct timespec t = when(k);
		int64_t ns;

		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
		ns = sample(k, &v);
		__atomic_store_n(&line.done, k, __ATOMIC_RELEASE);
		if (__atomic_load_n(&line.stop, __ATOMIC_ACQUIRE))
			break; /* the input ended meanwhile */
		pthread_mutex_lock(&log_mu);
		fprintf(log_f, "RTT %" PRIu64 " %" PRId64 "\n", since_ms(), ns);
		pthread_mutex_unlock(&log_mu);
	}
	pthread_join(stamp, NULL);
	pthread_join(pong, NULL);
	fclose(log_f);
	return 0;
}
