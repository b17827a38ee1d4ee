/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * jsonfile — what the board loader and the config loader share: reading a
 * JSON object from a file with a size bound, one-line errors that name the
 * file, the field and the reason, and the small value parsers both use.
 */
#ifndef VIRTNET_JSONFILE_H
#define VIRTNET_JSONFILE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Where a loader's error goes. */
struct jf_ctx {
	const char *path;
	char *err;      /* may be NULL */
	size_t errlen;
};

/* "<path>: field '<field>': <reason>" (field NULL: "<path>: <reason>")
 * into c->err; always returns -1. */
__attribute__((format(printf, 3, 4)))
int jf_fail(struct jf_ctx *c, const char *field, const char *fmt, ...);

/* "object", "array", "string", "integer", "real", "boolean", "null". */
const char *jf_type_name(const json_t *v);

/* The JSON object in c->path (a regular file of at most max_bytes,
 * duplicate keys refused), or NULL with the reason in c->err. */
json_t *jf_load_object(struct jf_ctx *c, size_t max_bytes);

/* Strict "xx:xx:xx:xx:xx:xx" (either case): 0, or -1. */
int jf_parse_mac(const char *s, uint8_t mac[6]);

#endif /* VIRTNET_JSONFILE_H */
