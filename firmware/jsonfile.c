/* SPDX-License-Identifier: BSD-3-Clause */
/* What the board and config loaders share. See jsonfile.h. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonfile.h"

int jf_fail(struct jf_ctx *c, const char *field, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->err || c->errlen == 0)
		return -1;
	if (field)
		n = snprintf(c->err, c->errlen, "%s: field '%s': ", c->path, field);
	else
		n = snprintf(c->err, c->errlen, "%s: ", c->path);
	if (n < 0 || (size_t)n >= c->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

const char *jf_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "real";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

json_t *jf_load_object(struct jf_ctx *c, size_t max_bytes)
{
	json_error_t jerr;
	json_t *root = NULL;
	struct stat st;
	FILE *f = NULL;
	int fd = open(c->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		jf_fail(c, NULL, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		jf_fail(c, NULL, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		jf_fail(c, NULL, "not a regular file");
		goto out;
	}
	if ((uint64_t)st.st_size > max_bytes) {
		jf_fail(c, NULL, "too large (%lld bytes, limit %zu)",
			(long long)st.st_size, max_bytes);
		goto out;
	}
	f = fdopen(fd, "r");
	if (!f) {
		jf_fail(c, NULL, "cannot read: %s", strerror(errno));
		goto out;
	}
	fd = -1; /* owned by f now */
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (jerr.line > 0)
			jf_fail(c, NULL, "invalid JSON at line %d, column %d: %s",
				jerr.line, jerr.column, jerr.text);
		else
			jf_fail(c, NULL, "invalid JSON: %s", jerr.text);
	} else if (!json_is_object(root)) {
		jf_fail(c, NULL, "top level must be a JSON object (got %s)",
			jf_type_name(root));
		json_decref(root);
		root = NULL;
	}
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	return root;
}

int jf_parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		const char *p = s + i * 3;
		unsigned v = 0;

		for (int j = 0; j < 2; j++) {
			if (!isxdigit((unsigned char)p[j]))
				return -1;
			v = v * 16 + (unsigned)(isdigit((unsigned char)p[j]) ?
				p[j] - '0' : tolower((unsigned char)p[j]) - 'a' + 10);
		}
		if (p[2] != (i == 5 ? '\0' : ':'))
			return -1;
		mac[i] = (uint8_t)v;
	}
	return 0;
}
