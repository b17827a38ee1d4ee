/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hal_log.h"

static enum hal_log_level g_level = HAL_LOG_INFO;
static hal_log_sink_fn g_sink;
static hal_log_clock_fn g_clock;
static uint32_t g_rl_burst = 10;
static uint64_t g_rl_interval_ns = 1000ull * 1000 * 1000;

static const char *const level_names[] = { "ERR", "WARN", "INFO", "DEBUG" };

void hal_log_set_level(enum hal_log_level level)
{
	if (level > HAL_LOG_DEBUG)
		level = HAL_LOG_DEBUG;
	__atomic_store_n(&g_level, level, __ATOMIC_RELAXED);
}

enum hal_log_level hal_log_get_level(void)
{
	return __atomic_load_n(&g_level, __ATOMIC_RELAXED);
}

int hal_log_level_parse(const char *name)
{
	static const char *const names[] = { "err", "warn", "info", "debug" };

	for (int i = 0; i < 4; i++)
		if (name && strcasecmp(name, names[i]) == 0)
			return i;
	return -1;
}

void hal_log_set_sink(hal_log_sink_fn sink) { g_sink = sink; }
void hal_log_set_clock(hal_log_clock_fn clock) { g_clock = clock; }

void hal_log_set_ratelimit(uint32_t burst, uint32_t interval_ms)
{
	g_rl_burst = burst;
	g_rl_interval_ns = (uint64_t)interval_ms * 1000 * 1000;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	if (g_clock)
		return g_clock();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void emit(enum hal_log_level level, const char *comp, const char *fmt,
		 va_list ap)
{
	char line[512];
	int n;

	n = snprintf(line, sizeof(line), "%s %s: ", level_names[level], comp);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (g_sink) {
		g_sink(level, line);
		return;
	}
	/* One fputs per line so lines from threads do not interleave. */
	size_t len = strlen(line);
	if (len < sizeof(line) - 1) {
		line[len] = '\n';
		line[len + 1] = '\0';
	}
	fputs(line, stderr);
}

void hal_log(enum hal_log_level level, const char *comp, const char *fmt, ...)
{
	va_list ap;

	if (level > hal_log_get_level())
		return;
	va_start(ap, fmt);
	emit(level, comp, fmt, ap);
	va_end(ap);
}

int hal_log_fail(int rc, const char *comp, const char *fmt, ...)
{
	va_list ap;

	if (HAL_LOG_ERR <= hal_log_get_level()) {
		va_start(ap, fmt);
		emit(HAL_LOG_ERR, comp, fmt, ap);
		va_end(ap);
	}
	return rc;
}

bool hal_log_rl_allow(struct hal_log_rl *rl, const char *comp)
{
	uint64_t now = now_ns();
	uint64_t start = __atomic_load_n(&rl->window_start, __ATOMIC_ACQUIRE);

	if (start == 0 || now - start >= g_rl_interval_ns) {
		/* Open a new interval; one thread wins and reports the count. */
		if (__atomic_compare_exchange_n(&rl->window_start, &start,
						now ? now : 1, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			uint32_t lost = __atomic_exchange_n(&rl->suppressed, 0,
							    __ATOMIC_RELAXED);
			__atomic_store_n(&rl->count, 0, __ATOMIC_RELAXED);
			if (lost)
				hal_log(HAL_LOG_WARN, comp,
					"%u similar messages suppressed", lost);
		}
	}
	if (__atomic_fetch_add(&rl->count, 1, __ATOMIC_RELAXED) < g_rl_burst)
		return true;
	__atomic_fetch_add(&rl->suppressed, 1, __ATOMIC_RELAXED);
	return false;
}
