/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hal_log — levelled, component-prefixed logging with rate limiting.
 *
 * Every line is "<LEVEL> <component>: <message>". Anything the host can
 * trigger (a bad descriptor, a malformed message) must be logged through
 * HAL_LOG_RL so a hostile host cannot flood the log: each call site gets a
 * burst of lines per interval, then counts what it suppresses and reports
 * the count when the next interval opens.
 *
 * Data-path debug lines (HAL_DP_DEBUG) are compiled out unless the build
 * defines VIRTNET_DP_DEBUG.
 */
#ifndef HAL_LOG_H
#define HAL_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum hal_log_level {
	HAL_LOG_ERR = 0,
	HAL_LOG_WARN = 1,
	HAL_LOG_INFO = 2,
	HAL_LOG_DEBUG = 3,
};

/* Lines above this level are dropped (default HAL_LOG_INFO). */
void hal_log_set_level(enum hal_log_level level);
enum hal_log_level hal_log_get_level(void);
/* Parse "err", "warn", "info", "debug"; returns -1 on anything else. */
int hal_log_level_parse(const char *name);

/* Where finished lines go (default: stderr). NULL restores stderr. The
 * sink gets one line, without the trailing newline. */
typedef void (*hal_log_sink_fn)(enum hal_log_level level, const char *line);
void hal_log_set_sink(hal_log_sink_fn sink);

/* Monotonic clock in nanoseconds used by rate limiting; tests inject one. */
typedef uint64_t (*hal_log_clock_fn)(void);
void hal_log_set_clock(hal_log_clock_fn clock);

/* Rate limit: at most `burst` lines per `interval_ms` per call site. */
void hal_log_set_ratelimit(uint32_t burst, uint32_t interval_ms);

void hal_log(enum hal_log_level level, const char *comp, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Log an error line and return rc, where refusing something is also the
 * answer: return hal_log_fail(-EPROTO, COMP, "why %u", x); */
int hal_log_fail(int rc, const char *comp, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Per-call-site rate-limit state; zero-initialised. */
struct hal_log_rl {
	uint64_t window_start; /* ns, start of the current interval */
	uint32_t count;        /* lines let through in this interval */
	uint32_t suppressed;   /* lines dropped in this interval */
};

/* True when the call site may log now. Thread-safe; lock-free. */
bool hal_log_rl_allow(struct hal_log_rl *rl, const char *comp);

#define HAL_LOG(level, comp, ...) \
	do { \
		if ((level) <= hal_log_get_level()) \
			hal_log((level), (comp), __VA_ARGS__); \
	} while (0)

#define HAL_ERR(comp, ...)   HAL_LOG(HAL_LOG_ERR, comp, __VA_ARGS__)
#define HAL_WARN(comp, ...)  HAL_LOG(HAL_LOG_WARN, comp, __VA_ARGS__)
#define HAL_INFO(comp, ...)  HAL_LOG(HAL_LOG_INFO, comp, __VA_ARGS__)
#define HAL_DEBUG(comp, ...) HAL_LOG(HAL_LOG_DEBUG, comp, __VA_ARGS__)

/* For anything the host can trigger. */
#define HAL_LOG_RL(level, comp, ...) \
	do { \
		static struct hal_log_rl hal_rl_site_; \
		if ((level) <= hal_log_get_level() && \
		    hal_log_rl_allow(&hal_rl_site_, (comp))) \
			hal_log((level), (comp), __VA_ARGS__); \
	} while (0)

#ifdef VIRTNET_DP_DEBUG
#define HAL_DP_DEBUG(comp, ...) HAL_LOG_RL(HAL_LOG_DEBUG, comp, __VA_ARGS__)
#else
#define HAL_DP_DEBUG(comp, ...) \
	do { \
		if (0) \
			hal_log(HAL_LOG_DEBUG, (comp), __VA_ARGS__); \
	} while (0)
#endif

#endif /* HAL_LOG_H */
