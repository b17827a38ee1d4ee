/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_fds.h — what the socket-transport fuzzers (fuzz_vhost_user.c,
 * fuzz_vfio_user.c) check after each input: the process holds the fds it
 * held before it, and no mapping of the fuzzer's own memfds is left. The
 * including target defines CHECK first; all functions are static.
 */
#ifndef FUZZ_FDS_H
#define FUZZ_FDS_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Open fds (entries of /proc/self/fd, "." and ".." and the listing's own
 * fd included: compare counts, not values). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	CHECK(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Every open fd and what it is, for a leak report. */
static void list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[300], target[300];

	while (d && (e = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
	}
	if (d)
		closedir(d);
}

/* Mappings whose line in /proc/self/maps names one of `names` (NULL-ended). */
static int count_maps(const char *const *names)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	CHECK(f);
	while (fgets(line, sizeof(line), f))
		for (const char *const *s = names; *s; s++)
			if (strstr(line, *s)) {
				n++;
				break;
			}
	fclose(f);
	return n;
}

#endif
