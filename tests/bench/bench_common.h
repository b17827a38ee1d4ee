/* SPDX-License-Identifier: BSD-3-Clause */
/* What every benchmark prints and reads the same way: the command and
 * machine lines that head its table, and BENCH_SECONDS. */
#ifndef VIRTNET_BENCH_COMMON_H
#define VIRTNET_BENCH_COMMON_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_version.h>

/* "# command: ..." (with the BENCH_* settings) and "# machine: ..." */
static inline void bench_print_header(int argc, char **argv)
{
	char line[4096], model[256] = "unknown", load[128] = "?";
	bool vm = false, have_model = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			char *p = strchr(line, ':');
			if (!have_model && !strncmp(line, "model name", 10) && p) {
				p += 1 + (p[1] == ' ');
				p[strcspn(p, "\n")] = 0;
				snprintf(model, sizeof(model), "%s", p);
				have_model = true;
			} else if (!strncmp(line, "flags", 5)) {
				vm = strstr(line, " hypervisor") != NULL;
				break;
			}
		}
		fclose(f);
	}
	f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fgets(load, sizeof(load), f))
			load[strcspn(load, "\n")] = 0;
		fclose(f);
	}
	printf("# command:");
	for (const char *const *e = (const char *const[]){ "BENCH_SECONDS",
			"BENCH_ONLY", NULL }; *e; e++)
		if (getenv(*e))
			printf(" %s=%s", *e, getenv(*e));
	for (int i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n# machine: %s%s, nproc %ld, %s, loadavg %s\n", model,
	       vm ? " (virtual machine)" : "", sysconf(_SC_NPROCESSORS_ONLN),
	       rte_version(), load);
}

/* BENCH_ONLY: whether the case `tag` runs (unset: all; "=<tag>": that
 * one case; anything else: the cases whose tag contains it). */
static inline bool bench_only(const char *tag)
{
	const char *only = getenv("BENCH_ONLY");

	if (!only)
		return true;
	return only[0] == '=' ? !strcmp(tag, only + 1) : strstr(tag, only) != NULL;
}

/* BENCH_SECONDS into *seconds (left alone when unset); -1 with a message
 * naming `prog` when it is not a number in (0, 3600]. */
static inline int bench_seconds_env(const char *prog, double *seconds)
{
	const char *env = getenv("BENCH_SECONDS");
	char *end;
	double s;

	if (!env)
		return 0;
	s = strtod(env, &end);
	if (end == env || *end || s <= 0 || s > 3600) {
		fprintf(stderr, "%s: bad BENCH_SECONDS '%s'\n", prog, env);
		return -1;
	}
	*seconds = s;
	return 0;
}

#endif /* VIRTNET_BENCH_COMMON_H */
