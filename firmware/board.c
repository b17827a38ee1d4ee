/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * board — load and validate boards/<name>.json.
 *
 * Every field is checked against the limit that makes it meaningful: the
 * virtio spec for queue pairs and queue sizes, SR-IOV for VFs per PF,
 * IFNAMSIZ for interface names. Unknown keys are rejected. Every error
 * names the file, the field and the reason; the loader never logs.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "board.h"
#include "hal_eswitch.h"
#include "jsonfile.h"

/* A board file is a few hundred bytes; refuse anything absurd up front. */
#define BOARD_FILE_MAX		(64 * 1024)
/* Longest expansion of a 31-character pattern: every placeholder ("{pf}",
 * 4 characters) becomes at most 10 digits. */
#define REP_EXPAND_MAX		128
#define SF_BASE_MAX		0x7fffffffu


struct field {
	const char *key;
	bool required;
};

static const struct field fields[] = {
	{ "name", true },
	{ "description", false },
	{ "arch", true },
	{ "datapath_lcores", true },
	{ "static_pfs", true },
	{ "max_hotplug_pfs", true },
	{ "max_vfs_per_pf", true },
	{ "max_queue_pairs", true },
	{ "max_queue_size", true },
	{ "max_devices", true },
	{ "transports", true },
	{ "eswitch", true },
	{ "mac_base", true },
	{ "representor_name_pf", true },
	{ "representor_name_vf", true },
	{ "uplinks", true },
	{ "sf_base", false },
	{ "max_mtu", false },
};

static const struct {
	const char *name;
	unsigned bit;
} transports[] = {
	{ "vfio-user", BOARD_TRANSPORT_VFIO_USER },
	{ "vhost-user", BOARD_TRANSPORT_VHOST_USER },
	{ "hw", BOARD_TRANSPORT_HW },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))



static const json_t *get_field(struct jf_ctx *c, const json_t *root,
			       const char *key)
{
	const json_t *v = json_object_get(root, key);

	if (!v)
		jf_fail(c, key, "missing (required)");
	return v;
}

static int get_uint(struct jf_ctx *c, const json_t *root, const char *key,
		    unsigned min, unsigned max, unsigned *out)
{
	const json_t *v = get_field(c, root, key);
	json_int_t i;

	if (!v)
		return -1;
	if (!json_is_integer(v))
		return jf_fail(c, key, "must be an integer in %u..%u (got %s)",
			    min, max, jf_type_name(v));
	i = json_integer_value(v);
	if (i < (json_int_t)min || i > (json_int_t)max)
		return jf_fail(c, key, "must be an integer in %u..%u (got %lld)",
			    min, max, (long long)i);
	*out = (unsigned)i;
	return 0;
}

/* A string of min_len..cap-1 bytes, copied into buf. */
static int get_string(struct jf_ctx *c, const json_t *root, const char *key,
		      size_t min_len, char *buf, size_t cap)
{
	const json_t *v = get_field(c, root, key);
	size_t len;

	if (!v)
		return -1;
	if (!json_is_string(v))
		return jf_fail(c, key, "must be a string (got %s)",
			    jf_type_name(v));
	len = json_string_length(v);
	if (len < min_len || len >= cap)
		return jf_fail(c, key,
			    "must be a string of %zu..%zu characters (got %zu)",
			    min_len, cap - 1, len);
	memcpy(buf, json_string_value(v), len + 1);
	return 0;
}

/*
 * Linux's dev_valid_name(): 1..15 bytes, not "." or "..", no '/', ':' or
 * whitespace. We also insist on printable ASCII. Returns NULL or a reason.
 */
static const char *ifname_problem(const char *s)
{
	size_t len = strlen(s);

	if (len == 0)
		return "is empty";
	if (len >= BOARD_IFNAMSIZ)
		return "is longer than 15 characters (IFNAMSIZ - 1)";
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return "may not be \".\" or \"..\"";
	for (; *s; s++) {
		if (*s == '/' || *s == ':' || isspace((unsigned char)*s))
			return "may not contain '/', ':' or whitespace";
		if (!isgraph((unsigned char)*s))
			return "must be printable ASCII";
	}
	return NULL;
}


/* --- representor patterns ------------------------------------------------ */

enum rep_ph { PH_PF, PH_VF, PH_SF, PH_BAD };

/* Placeholder at p (just after '{'), n bytes before the '}'. */
static enum rep_ph placeholder(const char *p, size_t n)
{
	if (n == 2 && memcmp(p, "pf", 2) == 0)
		return PH_PF;
	if (n == 2 && memcmp(p, "vf", 2) == 0)
		return PH_VF;
	if (n == 2 && memcmp(p, "sf", 2) == 0)
		return PH_SF;
	return PH_BAD;
}

/*
 * Expand a pattern already checked by check_pattern(). Returns the length,
 * or -1 when the result (with its NUL) does not fit in len bytes.
 */
static int rep_expand(const char *pat, unsigned pf, unsigned vf, unsigned sf,
		      char *out, size_t len)
{
	size_t o = 0;

	while (*pat) {
		char num[16];
		const char *close;
		size_t n;

		if (*pat != '{') {
			if (o + 1 >= len)
				return -1;
			out[o++] = *pat++;
			continue;
		}
		close = strchr(pat, '}');
		if (!close)
			return -1;
		switch (placeholder(pat + 1, (size_t)(close - pat - 1))) {
		case PH_PF:
			snprintf(num, sizeof(num), "%u", pf);
			break;
		case PH_VF:
			snprintf(num, sizeof(num), "%u", vf);
			break;
		case PH_SF:
			snprintf(num, sizeof(num), "%u", sf);
			break;
		default:
			return -1;
		}
		n = strlen(num);
		if (o + n >= len)
			return -1;
		memcpy(out + o, num, n);
		o += n;
		pat = close + 1;
	}
	if (o >= len)
		return -1;
	out[o] = '\0';
	return (int)o;
}

/* Syntax, allowed placeholders and uniqueness of one pattern. */
static int check_pattern(struct jf_ctx *c, const char *key, const char *pat,
			 bool is_vf)
{
	bool has[PH_BAD] = { false };

	for (const char *p = pat; *p; p++) {
		const char *close;
		enum rep_ph ph;

		if (*p == '}')
			return jf_fail(c, key, "unmatched '}' in \"%s\"", pat);
		if (*p != '{') {
			if (*p == '/' || *p == ':' ||
			    isspace((unsigned char)*p) ||
			    !isgraph((unsigned char)*p))
				return jf_fail(c, key,
					    "character '%c' (0x%02x) is not allowed in an interface name (\"%s\")",
					    isgraph((unsigned char)*p) ? *p : '?',
					    (unsigned char)*p, pat);
			continue;
		}
		close = strchr(p, '}');
		if (!close)
			return jf_fail(c, key, "unmatched '{' in \"%s\"", pat);
		ph = placeholder(p + 1, (size_t)(close - p - 1));
		if (ph == PH_BAD)
			return jf_fail(c, key,
				    "unknown placeholder '%.*s' in \"%s\" (known: {pf}, {vf}, {sf})",
				    (int)(close - p + 1), p, pat);
		if (ph == PH_VF && !is_vf)
			return jf_fail(c, key,
				    "placeholder {vf} has no value for a PF (\"%s\")",
				    pat);
		has[ph] = true;
		p = close;
	}
	if (!is_vf && !has[PH_PF] && !has[PH_SF])
		return jf_fail(c, key,
			    "must contain {pf} or {sf} so that every PF gets its own name (\"%s\")",
			    pat);
	if (is_vf && !has[PH_SF] && !(has[PH_PF] && has[PH_VF]))
		return jf_fail(c, key,
			    "must contain {sf}, or both {pf} and {vf}, so that every VF gets its own name (\"%s\")",
			    pat);
	return 0;
}

static unsigned sf_of(const struct board *b, unsigned pf, int vf)
{
	return b->sf_base + pf * (1 + b->max_vfs_per_pf) +
	       (vf < 0 ? 0 : (unsigned)vf + 1);
}

/*
 * The longest name a pattern can produce: the digit count of each number
 * grows with the number, so expanding the largest PF, VF and SF numbers
 * the board allows gives the longest name.
 */
static int check_pattern_length(struct jf_ctx *c, const char *key,
				const struct board *b, const char *pat,
				bool is_vf)
{
	unsigned max_pfs = board_max_pfs(b);
	unsigned pf = max_pfs ? max_pfs - 1 : 0;
	unsigned vf = b->max_vfs_per_pf ? b->max_vfs_per_pf - 1 : 0;
	char name[REP_EXPAND_MAX];
	int n;

	n = rep_expand(pat, pf, vf, sf_of(b, pf, is_vf ? (int)vf : -1), name,
		       sizeof(name));
	if (n < 0)
		return jf_fail(c, key, "cannot expand \"%s\"", pat);
	if (n >= BOARD_IFNAMSIZ)
		return jf_fail(c, key,
			    "longest name \"%s\" is %d characters; interface names are at most %d (IFNAMSIZ - 1)",
			    name, n, BOARD_IFNAMSIZ - 1);
	return 0;
}

/* --- the fields ----------------------------------------------------------- */

static int check_keys(struct jf_ctx *c, const json_t *root)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)root, key, v) {
		size_t i;

		for (i = 0; i < ARRAY_SIZE(fields); i++)
			if (strcmp(key, fields[i].key) == 0)
				break;
		if (i == ARRAY_SIZE(fields))
			return jf_fail(c, key, "unknown key");
	}
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (fields[i].required && !json_object_get(root, fields[i].key))
			return jf_fail(c, fields[i].key, "missing (required)");
	return 0;
}

static int parse_name(struct jf_ctx *c, const json_t *root, struct board *b)
{
	const char *base = strrchr(c->path, '/');
	size_t len;

	if (get_string(c, root, "name", 1, b->name, sizeof(b->name)))
		return -1;
	for (const char *p = b->name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return jf_fail(c, "name",
				    "may contain only letters, digits, '-' and '_' (got \"%s\")",
				    b->name);
	base = base ? base + 1 : c->path;
	len = strlen(base);
	if (len > 5 && strcmp(base + len - 5, ".json") == 0)
		len -= 5;
	if (len != strlen(b->name) || memcmp(base, b->name, len) != 0)
		return jf_fail(c, "name",
			    "must equal the file's base name \"%.*s\" (got \"%s\")",
			    (int)len, base, b->name);
	return 0;
}

static int parse_transports(struct jf_ctx *c, const json_t *root,
			    struct board *b)
{
	const json_t *arr = get_field(c, root, "transports");
	size_t i;
	json_t *v;

	if (!arr)
		return -1;
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return jf_fail(c, "transports",
			    "must be a non-empty array of \"vfio-user\", \"vhost-user\", \"hw\" (got %s%s)",
			    json_is_array(arr) ? "an empty " : "",
			    jf_type_name(arr));
	b->transports = 0;
	json_array_foreach(arr, i, v) {
		const char *s;
		size_t t;

		if (!json_is_string(v))
			return jf_fail(c, "transports",
				    "element %zu must be a string (got %s)", i,
				    jf_type_name(v));
		s = json_string_value(v);
		for (t = 0; t < ARRAY_SIZE(transports); t++)
			if (strcmp(s, transports[t].name) == 0)
				break;
		if (t == ARRAY_SIZE(transports))
			return jf_fail(c, "transports",
				    "unknown transport \"%.32s\" (known: vfio-user, vhost-user, hw)",
				    s);
		if (b->transports & transports[t].bit)
			return jf_fail(c, "transports",
				    "duplicate transport \"%s\"", s);
		b->transports |= transports[t].bit;
	}
	return 0;
}

static int parse_mac_base(struct jf_ctx *c, const json_t *root,
			  struct board *b)
{
	char s[32];
	static const uint8_t zero[6];

	if (get_string(c, root, "mac_base", 0, s, sizeof(s)))
		return -1;
	if (jf_parse_mac(s, b->mac_base))
		return jf_fail(c, "mac_base",
			    "must be a MAC address \"xx:xx:xx:xx:xx:xx\" (got \"%s\")",
			    s);
	if (b->mac_base[0] & 0x01)
		return jf_fail(c, "mac_base",
			    "must be a unicast address, bit 0 of the first octet clear (got multicast \"%s\")",
			    s);
	if (memcmp(b->mac_base, zero, sizeof(zero)) == 0)
		return jf_fail(c, "mac_base", "must not be all zeros");
	if (b->eswitch == BOARD_ESWITCH_SIM && !(b->mac_base[0] & 0x02))
		return jf_fail(c, "mac_base",
			    "must be locally administered on a sim board, bit 1 of the first octet set (got \"%s\")",
			    s);
	return 0;
}

static int parse_uplinks(struct jf_ctx *c, const json_t *root, struct board *b)
{
	const json_t *arr = get_field(c, root, "uplinks");
	size_t i;
	json_t *v;

	if (!arr)
		return -1;
	if (!json_is_array(arr))
		return jf_fail(c, "uplinks",
			    "must be an array of interface names (got %s)",
			    jf_type_name(arr));
	if (json_array_size(arr) > BOARD_MAX_UPLINKS)
		return jf_fail(c, "uplinks",
			    "must have at most %d entries (got %zu)",
			    BOARD_MAX_UPLINKS, json_array_size(arr));
	b->n_uplinks = 0;
	json_array_foreach(arr, i, v) {
		const char *s, *why;

		if (!json_is_string(v))
			return jf_fail(c, "uplinks",
				    "element %zu must be a string (got %s)", i,
				    jf_type_name(v));
		s = json_string_value(v);
		why = ifname_problem(s);
		if (why)
			return jf_fail(c, "uplinks",
				    "element %zu \"%.32s\" is not a valid interface name: it %s",
				    i, s, why);
		for (unsigned j = 0; j < b->n_uplinks; j++)
			if (strcmp(b->uplinks[j], s) == 0)
				return jf_fail(c, "uplinks",
					    "element %zu \"%s\" is listed twice",
					    i, s);
		snprintf(b->uplinks[b->n_uplinks++], BOARD_IFNAMSIZ, "%s", s);
	}
	return 0;
}

static int parse_board(struct jf_ctx *c, const json_t *root, struct board *b)
{
	char s[32];

	if (check_keys(c, root) || parse_name(c, root, b))
		return -1;
	if (json_object_get(root, "description") &&
	    get_string(c, root, "description", 0, b->description,
		       sizeof(b->description)))
		return -1;

	if (get_string(c, root, "arch", 0, b->arch, sizeof(b->arch)))
		return -1;
	if (strcmp(b->arch, "x86_64") != 0 && strcmp(b->arch, "aarch64") != 0)
		return jf_fail(c, "arch",
			    "must be \"x86_64\" or \"aarch64\" (got \"%s\")",
			    b->arch);

	if (get_uint(c, root, "datapath_lcores", 1, BOARD_MAX_LCORES,
		     &b->datapath_lcores) ||
	    get_uint(c, root, "static_pfs", 0, BOARD_MAX_PFS,
		     &b->static_pfs) ||
	    get_uint(c, root, "max_hotplug_pfs", 0, BOARD_MAX_PFS,
		     &b->max_hotplug_pfs) ||
	    get_uint(c, root, "max_vfs_per_pf", 0, BOARD_MAX_VFS_PER_PF,
		     &b->max_vfs_per_pf) ||
	    get_uint(c, root, "max_queue_pairs", 1, BOARD_MAX_QUEUE_PAIRS,
		     &b->max_queue_pairs))
		return -1;

	/* Split rings: a power of two, at most 32768 (virtio 1.2 §2.7). */
	if (get_uint(c, root, "max_queue_size", 0, UINT_MAX,
		     &b->max_queue_size) ||
	    b->max_queue_size < 2 || b->max_queue_size > BOARD_MAX_QUEUE_SIZE ||
	    (b->max_queue_size & (b->max_queue_size - 1)) != 0) {
		const json_t *v = json_object_get(root, "max_queue_size");

		if (v && json_is_integer(v))
			return jf_fail(c, "max_queue_size",
				    "must be a power of two in 2..%d (got %lld)",
				    BOARD_MAX_QUEUE_SIZE,
				    (long long)json_integer_value(v));
		return jf_fail(c, "max_queue_size",
			    "must be a power of two in 2..%d (got %s)",
			    BOARD_MAX_QUEUE_SIZE,
			    v ? jf_type_name(v) : "nothing");
	}

	if (get_uint(c, root, "max_devices", 1, BOARD_MAX_DEVICES,
		     &b->max_devices))
		return -1;
	if (b->max_devices < b->static_pfs)
		return jf_fail(c, "max_devices",
			    "must be at least static_pfs (%u) (got %u)",
			    b->static_pfs, b->max_devices);

	if (parse_transports(c, root, b))
		return -1;

	if (get_string(c, root, "eswitch", 0, s, sizeof(s)))
		return -1;
	if (strcmp(s, "sim") == 0)
		b->eswitch = BOARD_ESWITCH_SIM;
	else if (strcmp(s, "mlx5") == 0)
		b->eswitch = BOARD_ESWITCH_MLX5;
	else
		return jf_fail(c, "eswitch",
			    "must be \"sim\" or \"mlx5\" (got \"%s\")", s);

	if (parse_mac_base(c, root, b))
		return -1;

	/* The largest device MTU its representors carry; 1500 if unsaid. */
	b->max_mtu = 1500;
	if (json_object_get(root, "max_mtu") &&
	    get_uint(c, root, "max_mtu", 68, 65535, &b->max_mtu))
		return -1;
	if (b->eswitch == BOARD_ESWITCH_SIM && b->max_mtu > HAL_REP_MAX_MTU)
		return jf_fail(c, "max_mtu", "at most %u with eswitch \"sim\" (got %u)",
			    HAL_REP_MAX_MTU, b->max_mtu);

	b->sf_base = 0;
	if (json_object_get(root, "sf_base")) {
		if (get_uint(c, root, "sf_base", 0, SF_BASE_MAX, &b->sf_base))
			return -1;
		if (b->eswitch != BOARD_ESWITCH_MLX5)
			return jf_fail(c, "sf_base",
				    "only meaningful with eswitch \"mlx5\"");
	}

	if (get_string(c, root, "representor_name_pf", 1, b->rep_name_pf,
		       sizeof(b->rep_name_pf)) ||
	    check_pattern(c, "representor_name_pf", b->rep_name_pf, false) ||
	    check_pattern_length(c, "representor_name_pf", b,
				 b->rep_name_pf, false))
		return -1;
	if (get_string(c, root, "representor_name_vf", 1, b->rep_name_vf,
		       sizeof(b->rep_name_vf)) ||
	    check_pattern(c, "representor_name_vf", b->rep_name_vf, true) ||
	    check_pattern_length(c, "representor_name_vf", b,
				 b->rep_name_vf, true))
		return -1;

	return parse_uplinks(c, root, b);
}

/* --- public API ----------------------------------------------------------- */

int board_load_file(const char *path, struct board *out, char *err,
		    size_t errlen)
{
	struct jf_ctx c = { .path = path, .err = err, .errlen = errlen };
	struct board b;
	json_t *root;
	int ret = -1;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !out) {
		c.path = path ? path : "(null)";
		jf_fail(&c, NULL, "no path or no output given");
		errno = EINVAL;
		return -1;
	}
	memset(&b, 0, sizeof(b));
	root = jf_load_object(&c, BOARD_FILE_MAX);
	if (root && parse_board(&c, root, &b) == 0) {
		*out = b;
		ret = 0;
	}
	json_decref(root);
	if (ret)
		errno = EINVAL;
	return ret;
}

int board_load(const char *boards_dir, const char *name_or_path,
	       struct board *out, char *err, size_t errlen)
{
	char path[PATH_MAX];
	size_t len;
	int n;

	if (!name_or_path || !name_or_path[0]) {
		if (err && errlen)
			snprintf(err, errlen, "no board name given");
		errno = EINVAL;
		return -1;
	}
	len = strlen(name_or_path);
	if (strchr(name_or_path, '/') ||
	    (len > 5 && strcmp(name_or_path + len - 5, ".json") == 0))
		return board_load_file(name_or_path, out, err, errlen);

	if (!boards_dir || !boards_dir[0])
		boards_dir = "boards";
	n = snprintf(path, sizeof(path), "%s/%s.json", boards_dir,
		     name_or_path);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		if (err && errlen)
			snprintf(err, errlen, "%s/%s.json: path too long",
				 boards_dir, name_or_path);
		errno = ENAMETOOLONG;
		return -1;
	}
	return board_load_file(path, out, err, errlen);
}

unsigned board_max_pfs(const struct board *b)
{
	return b->static_pfs + b->max_hotplug_pfs;
}

int board_sf_num(const struct board *b, unsigned pf, int vf, unsigned *sf)
{
	if (pf >= board_max_pfs(b) ||
	    (vf >= 0 && (unsigned)vf >= b->max_vfs_per_pf) || vf < -1) {
		errno = EINVAL;
		return -1;
	}
	*sf = sf_of(b, pf, vf);
	return 0;
}

int board_rep_name(const struct board *b, unsigned pf, int vf, char *buf,
		   size_t len)
{
	unsigned sf;

	if (board_sf_num(b, pf, vf, &sf))
		return -1;
	if (rep_expand(vf < 0 ? b->rep_name_pf : b->rep_name_vf, pf,
		       vf < 0 ? 0 : (unsigned)vf, sf, buf, len) < 0) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

const char *board_transport_name(unsigned bit)
{
	for (size_t i = 0; i < ARRAY_SIZE(transports); i++)
		if (transports[i].bit == bit)
			return transports[i].name;
	return NULL;
}

const char *board_eswitch_name(enum board_eswitch e)
{
	return e == BOARD_ESWITCH_MLX5 ? "mlx5" : "sim";
}

void board_print(const struct board *b, FILE *f)
{
	const uint8_t *m = b->mac_base;
	char pf_ex[BOARD_IFNAMSIZ] = "-", vf_ex[BOARD_IFNAMSIZ] = "-";
	const char *sep = "";

	if (board_max_pfs(b) > 0) {
		board_rep_name(b, 0, -1, pf_ex, sizeof(pf_ex));
		if (b->max_vfs_per_pf > 0)
			board_rep_name(b, 0, 0, vf_ex, sizeof(vf_ex));
	}

	fprintf(f, "board         %s%s%s\n", b->name,
		b->description[0] ? " - " : "", b->description);
	fprintf(f, "arch          %s\n", b->arch);
	fprintf(f, "lcores        %u datapath\n", b->datapath_lcores);
	fprintf(f, "PFs           %u static, up to %u hot-plugged\n",
		b->static_pfs, b->max_hotplug_pfs);
	fprintf(f, "VFs           up to %u per PF\n", b->max_vfs_per_pf);
	fprintf(f, "devices       up to %u (PFs and VFs)\n", b->max_devices);
	fprintf(f, "queues        up to %u pairs of up to %u entries\n",
		b->max_queue_pairs, b->max_queue_size);
	fprintf(f, "MTU           up to %u\n", b->max_mtu);
	fprintf(f, "transports    ");
	for (unsigned bit = 1; bit <= BOARD_TRANSPORT_HW; bit <<= 1) {
		if (!(b->transports & bit))
			continue;
		fprintf(f, "%s%s", sep, board_transport_name(bit));
		sep = ", ";
	}
	fprintf(f, "\n");
	fprintf(f, "eswitch       %s\n", board_eswitch_name(b->eswitch));
	fprintf(f, "MAC base      %02x:%02x:%02x:%02x:%02x:%02x\n",
		m[0], m[1], m[2], m[3], m[4], m[5]);
	if (b->eswitch == BOARD_ESWITCH_MLX5)
		fprintf(f, "SF base       %u\n", b->sf_base);
	fprintf(f, "representors  PF %s (pf0: %s), VF %s (pf0vf0: %s)\n",
		b->rep_name_pf, pf_ex, b->rep_name_vf, vf_ex);
	fprintf(f, "uplinks       ");
	if (b->n_uplinks == 0)
		fprintf(f, "(none)");
	for (unsigned i = 0; i < b->n_uplinks; i++)
		fprintf(f, "%s%s", i ? ", " : "", b->uplinks[i]);
	fprintf(f, "\n");
}
