/* SPDX-License-Identifier: BSD-3-Clause */
/* hal_log: levels, the component prefix, rate limiting, compiled-out
 * data-path debug lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hal_log.h"

static char last[512];
static unsigned nlines;
static uint64_t now_ns;

static void sink(enum hal_log_level l, const char *line)
{
	(void)l;
	snprintf(last, sizeof(last), "%s", line);
	nlines++;
}

static uint64_t clock_fn(void)
{
	return now_ns;
}

static int setup(void **state)
{
	(void)state;
	hal_log_set_sink(sink);
	hal_log_set_clock(clock_fn);
	hal_log_set_level(HAL_LOG_INFO);
	hal_log_set_ratelimit(10, 1000);
	nlines = 0;
	last[0] = 0;
	now_ns = 5ull * 1000 * 1000 * 1000;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	hal_log_set_sink(NULL);
	hal_log_set_clock(NULL);
	return 0;
}

static void test_levels_and_prefix(void **state)
{
	(void)state;
	HAL_ERR("vq", "queue %d broken", 3);
	assert_string_equal(last, "ERR vq: queue 3 broken");
	HAL_INFO("dma", "mapped");
	assert_string_equal(last, "INFO dma: mapped");
	HAL_DEBUG("dma", "not shown");
	assert_int_equal(nlines, 2);
	hal_log_set_level(HAL_LOG_DEBUG);
	HAL_DEBUG("dma", "shown");
	assert_string_equal(last, "DEBUG dma: shown");
	hal_log_set_level(HAL_LOG_ERR);
	HAL_WARN("x", "hidden");
	assert_int_equal(nlines, 3);
	assert_int_equal(hal_log_level_parse("warn"), HAL_LOG_WARN);
	assert_int_equal(hal_log_level_parse("DEBUG"), HAL_LOG_DEBUG);
	assert_int_equal(hal_log_level_parse("loud"), -1);
	assert_int_equal(hal_log_level_parse(NULL), -1);
}

static void test_long_line_truncated(void **state)
{
	char big[2000];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	HAL_ERR("c", "%s", big);
	assert_int_equal(strlen(last), 511);
	assert_memory_equal(last, "ERR c: aaa", 10);
}

static void flood(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		HAL_LOG_RL(HAL_LOG_ERR, "host", "bad thing %u", i);
}

static void test_rate_limit(void **state)
{
	(void)state;
	flood(1000);
	assert_int_equal(nlines, 10);
	assert_string_equal(last, "ERR host: bad thing 9");
	now_ns += 500ull * 1000 * 1000; /* same interval */
	flood(5);
	assert_int_equal(nlines, 10);
	now_ns += 600ull * 1000 * 1000; /* next interval: count, then lines */
	flood(1);
	assert_int_equal(nlines, 12);
	assert_string_equal(last, "ERR host: bad thing 0");
	/* A different call site has its own budget. */
	HAL_LOG_RL(HAL_LOG_ERR, "other", "x");
	assert_int_equal(nlines, 13);
}

static char first_of_interval[512];

static void sink_first(enum hal_log_level l, const char *line)
{
	if (nlines++ == 0)
		snprintf(first_of_interval, sizeof(first_of_interval), "%s", line);
	(void)l;
}

static void one_site(void)
{
	HAL_LOG_RL(HAL_LOG_WARN, "c", "m");
}

static void test_suppressed_count_reported(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 25; i++)
		one_site();
	assert_int_equal(nlines, 10);
	now_ns += 2ull * 1000 * 1000 * 1000;
	hal_log_set_sink(sink_first);
	nlines = 0;
	one_site();
	assert_int_equal(nlines, 2);
	assert_string_equal(first_of_interval, "WARN c: 15 similar messages suppressed");
}

static int side_effects;
static int touch(void)
{
	return ++side_effects;
}

static void test_dp_debug_compiled_out(void **state)
{
	(void)state;
	hal_log_set_level(HAL_LOG_DEBUG);
	HAL_DP_DEBUG("dp", "%d", touch());
#ifdef VIRTNET_DP_DEBUG
	assert_int_equal(side_effects, 1);
#else
	assert_int_equal(side_effects, 0);
	assert_int_equal(nlines, 0);
#endif
}

static void test_fail_logs_and_returns_its_code(void **state)
{
	(void)state;
	assert_int_equal(hal_log_fail(-71, "vfu", "reply of %u bytes", 3u), -71);
	assert_string_equal(last, "ERR vfu: reply of 3 bytes");
	assert_int_equal(hal_log_fail(0, "vfu", "x"), 0);
	assert_int_equal(nlines, 2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_levels_and_prefix),
		T(test_long_line_truncated),
		T(test_rate_limit),
		T(test_suppressed_count_reported),
		T(test_dp_debug_compiled_out),
		T(test_fail_logs_and_returns_its_code),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
