/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * config — load and validate virtnetd's configuration file (see config.h
 * for the format).
 *
 * The checks run in the order a person reads the file: the shape of the
 * top level, then each device field by field against the board, then the
 * device as a whole (vnet_params_validate), then uniqueness across
 * devices. The first problem found is reported; every message names the
 * file, the field path and the reason. The loader never logs.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "board.h"
#include "config.h"
#include "jsonfile.h"
#include "virtio_dev.h"
#include "virtio_net.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Longest field path we build: "devices[65535].features." + a key; keys
 * longer than that are cut in the message, which still names the device. */
#define FIELD_MAX	128


/* --- messages ------------------------------------------------------------- */


/* The field path of key in device i: "devices[i].key" ("devices[i]" for
 * a NULL key). */
static const char *dev_field(char buf[FIELD_MAX], unsigned i, const char *key)
{
	if (key)
		snprintf(buf, FIELD_MAX, "devices[%u].%.40s", i, key);
	else
		snprintf(buf, FIELD_MAX, "devices[%u]", i);
	return buf;
}


/* --- tables --------------------------------------------------------------- */

static const struct {
	const char *name;
	unsigned bit;
} transports[] = {
	{ "vfio-user", BOARD_TRANSPORT_VFIO_USER },
	{ "vhost-user", BOARD_TRANSPORT_VHOST_USER },
	{ "hw", BOARD_TRANSPORT_HW },
};

static const char *const dev_keys[] = {
	"name", "transport", "socket", "mode", "mac", "mtu", "queue_pairs",
	"queue_size", "features",
};
#define DEV_KEYS_LIST "name, transport, socket, mode, mac, mtu, queue_pairs, queue_size, features"

#define FB(b)	(1ull << (b))

struct feature {
	const char *key;
	uint64_t bits;
};

/* One feature bit each; also the names vcfg_features_str() prints. */
static const struct feature singles[] = {
	{ "indirect", FB(VIRTIO_F_INDIRECT_DESC) },
	{ "event_idx", FB(VIRTIO_F_EVENT_IDX) },
	{ "packed", FB(VIRTIO_F_RING_PACKED) },
	{ "in_order", FB(VIRTIO_F_IN_ORDER) },
	{ "notification_data", FB(VIRTIO_F_NOTIFICATION_DATA) },
	{ "ring_reset", FB(VIRTIO_F_RING_RESET) },
	{ "access_platform", FB(VIRTIO_F_ACCESS_PLATFORM) },
	{ "order_platform", FB(VIRTIO_F_ORDER_PLATFORM) },
	{ "csum", FB(VIRTIO_NET_F_CSUM) },
	{ "guest_csum", FB(VIRTIO_NET_F_GUEST_CSUM) },
	{ "host_tso4", FB(VIRTIO_NET_F_HOST_TSO4) },
	{ "host_tso6", FB(VIRTIO_NET_F_HOST_TSO6) },
	{ "host_ecn", FB(VIRTIO_NET_F_HOST_ECN) },
	{ "host_ufo", FB(VIRTIO_NET_F_HOST_UFO) },
	{ "host_uso", FB(VIRTIO_NET_F_HOST_USO) },
	{ "guest_tso4", FB(VIRTIO_NET_F_GUEST_TSO4) },
	{ "guest_tso6", FB(VIRTIO_NET_F_GUEST_TSO6) },
	{ "guest_ecn", FB(VIRTIO_NET_F_GUEST_ECN) },
	{ "guest_uso4", FB(VIRTIO_NET_F_GUEST_USO4) },
	{ "guest_uso6", FB(VIRTIO_NET_F_GUEST_USO6) },
	{ "mrg_rxbuf", FB(VIRTIO_NET_F_MRG_RXBUF) },
	{ "ctrl_guest_offloads", FB(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) },
	{ "mac", FB(VIRTIO_NET_F_MAC) },
	{ "mtu", FB(VIRTIO_NET_F_MTU) },
	{ "status", FB(VIRTIO_NET_F_STATUS) },
	{ "speed_duplex", FB(VIRTIO_NET_F_SPEED_DUPLEX) },
	{ "standby", FB(VIRTIO_NET_F_STANDBY) },
	{ "ctrl_vq", FB(VIRTIO_NET_F_CTRL_VQ) },
	{ "ctrl_rx", FB(VIRTIO_NET_F_CTRL_RX) },
	{ "ctrl_rx_extra", FB(VIRTIO_NET_F_CTRL_RX_EXTRA) },
	{ "ctrl_vlan", FB(VIRTIO_NET_F_CTRL_VLAN) },
	{ "ctrl_mac_addr", FB(VIRTIO_NET_F_CTRL_MAC_ADDR) },
	{ "guest_announce", FB(VIRTIO_NET_F_GUEST_ANNOUNCE) },
	{ "mq", FB(VIRTIO_NET_F_MQ) },
	{ "rss", FB(VIRTIO_NET_F_RSS) },
	{ "hash_report", FB(VIRTIO_NET_F_HASH_REPORT) },
	{ "notf_coal", FB(VIRTIO_NET_F_NOTF_COAL) },
	{ "vq_notf_coal", FB(VIRTIO_NET_F_VQ_NOTF_COAL) },
};

/* Applied before the singles. */
static const struct feature groups[] = {
	{ "tso", FB(VIRTIO_NET_F_HOST_TSO4) | FB(VIRTIO_NET_F_HOST_TSO6) |
		 FB(VIRTIO_NET_F_GUEST_TSO4) | FB(VIRTIO_NET_F_GUEST_TSO6) },
	{ "ecn", FB(VIRTIO_NET_F_HOST_ECN) | FB(VIRTIO_NET_F_GUEST_ECN) },
	{ "uso", FB(VIRTIO_NET_F_HOST_USO) | FB(VIRTIO_NET_F_GUEST_USO4) |
		 FB(VIRTIO_NET_F_GUEST_USO6) },
};

static const struct feature *find_feature(const struct feature *t, size_t n,
					  const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].key, key) == 0)
			return &t[i];
	return NULL;
}

/* --- small parsers -------------------------------------------------------- */


static void fmt_mac(const uint8_t m[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		 m[3], m[4], m[5]);
}

/* base + idx as a 48-bit number; -1 if that leaves the 48 bits. */
static int mac_add(const uint8_t base[6], unsigned idx, uint8_t out[6])
{
	uint64_t v = 0;

	for (int i = 0; i < 6; i++)
		v = (v << 8) | base[i];
	v += idx;
	if (v >> 48)
		return -1;
	for (int i = 5; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
	return 0;
}

/* A string value without embedded NULs, 1..cap-1 bytes; NULL on error. */
static const char *get_str(struct jf_ctx *c, const char *field, const json_t *v,
			   size_t cap)
{
	const char *s;
	size_t len;

	if (!json_is_string(v)) {
		jf_fail(c, field, "must be a string (got %s)", jf_type_name(v));
		return NULL;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (strlen(s) != len) {
		jf_fail(c, field, "must not contain a NUL character");
		return NULL;
	}
	if (len == 0 || len >= cap) {
		jf_fail(c, field, "must be a string of 1..%zu characters (got %zu)",
		     cap - 1, len);
		return NULL;
	}
	return s;
}

/* An integer in min..max; `limit` (may be NULL) says where max comes from. */
static int get_uint(struct jf_ctx *c, const char *field, const json_t *v,
		    unsigned min, unsigned max, const char *limit,
		    unsigned *out)
{
	json_int_t i;

	if (!json_is_integer(v))
		return jf_fail(c, field, "must be an integer in %u..%u (got %s)",
			    min, max, jf_type_name(v));
	i = json_integer_value(v);
	if (i < (json_int_t)min)
		return jf_fail(c, field, "must be at least %u (got %lld)", min,
			    (long long)i);
	if (i > (json_int_t)max)
		return jf_fail(c, field, "must be at most %u%s%s (got %lld)", max,
			    limit ? ", " : "", limit ? limit : "",
			    (long long)i);
	*out = (unsigned)i;
	return 0;
}

/* --- one device ----------------------------------------------------------- */

static int check_dev_keys(struct jf_ctx *c, unsigned idx, const json_t *o)
{
	char f[FIELD_MAX];
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)o, key, v) {
		size_t k;

		for (k = 0; k < ARRAY_SIZE(dev_keys); k++)
			if (strcmp(key, dev_keys[k]) == 0)
				break;
		if (k == ARRAY_SIZE(dev_keys))
			return jf_fail(c, dev_field(f, idx, key),
				    "unknown key (known: " DEV_KEYS_LIST ")");
	}
	if (!json_object_get(o, "name"))
		return jf_fail(c, dev_field(f, idx, "name"), "missing (required)");
	if (!json_object_get(o, "transport"))
		return jf_fail(c, dev_field(f, idx, "transport"),
			    "missing (required)");
	return 0;
}

static int parse_dev_name(struct jf_ctx *c, unsigned idx, const json_t *v,
			  struct vcfg_dev *d)
{
	char f[FIELD_MAX];
	const char *s;

	dev_field(f, idx, "name");
	s = get_str(c, f, v, sizeof(d->name));
	if (!s)
		return -1;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return jf_fail(c, f,
				    "may contain only letters, digits, '-' and '_' (got \"%s\")",
				    s);
	memcpy(d->name, s, strlen(s) + 1);
	return 0;
}

static int parse_transport(struct jf_ctx *c, unsigned idx, const json_t *v,
			   const struct board *b, struct vcfg_dev *d)
{
	char f[FIELD_MAX], have[64] = "";
	const char *s;
	size_t t;

	dev_field(f, idx, "transport");
	if (!json_is_string(v))
		return jf_fail(c, f, "must be a string (got %s)",
			    jf_type_name(v));
	s = json_string_value(v);
	for (t = 0; t < ARRAY_SIZE(transports); t++)
		if (strcmp(s, transports[t].name) == 0)
			break;
	if (t == ARRAY_SIZE(transports))
		return jf_fail(c, f,
			    "unknown transport \"%.32s\" (known: vfio-user, vhost-user, hw)",
			    s);
	if (!(b->transports & transports[t].bit)) {
		for (size_t i = 0; i < ARRAY_SIZE(transports); i++) {
			if (!(b->transports & transports[i].bit))
				continue;
			if (have[0])
				strcat(have, ", ");
			strcat(have, transports[i].name);
		}
		return jf_fail(c, f,
			    "transport \"%s\" is not available on board \"%s\" (it has: %s)",
			    s, b->name, have);
	}
	d->transport = transports[t].bit;
	return 0;
}

/* "socket" and "mode"; needs d->transport and d->name. */
static int parse_socket(struct jf_ctx *c, unsigned idx, const json_t *o,
			struct vcfg_dev *d)
{
	const json_t *sock = json_object_get(o, "socket");
	const json_t *mode = json_object_get(o, "mode");
	char f[FIELD_MAX];
	const char *s;

	if (d->transport == BOARD_TRANSPORT_HW) {
		if (sock)
			return jf_fail(c, dev_field(f, idx, "socket"),
				    "not allowed with transport \"hw\" (it has no socket)");
		if (mode)
			return jf_fail(c, dev_field(f, idx, "mode"),
				    "not allowed with transport \"hw\" (it has no socket)");
		d->socket[0] = '\0';
		return 0;
	}

	if (sock) {
		dev_field(f, idx, "socket");
		s = get_str(c, f, sock, sizeof(d->socket));
		if (!s)
			return -1;
		if (s[0] != '/' && strchr(s, '/'))
			return jf_fail(c, f,
				    "must be an absolute path or a file name in the run directory (got \"%s\")",
				    s);
		if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0 ||
		    s[strlen(s) - 1] == '/')
			return jf_fail(c, f, "must name a file (got \"%s\")", s);
		memcpy(d->socket, s, strlen(s) + 1);
	} else {
		snprintf(d->socket, sizeof(d->socket), "%s.sock", d->name);
	}

	d->client = false;
	if (mode) {
		dev_field(f, idx, "mode");
		if (!json_is_string(mode))
			return jf_fail(c, f,
				    "must be \"server\" or \"client\" (got %s)",
				    jf_type_name(mode));
		s = json_string_value(mode);
		if (strcmp(s, "client") == 0)
			d->client = true;
		else if (strcmp(s, "server") != 0)
			return jf_fail(c, f,
				    "must be \"server\" or \"client\" (got \"%.32s\")",
				    s);
		if (d->client && d->transport != BOARD_TRANSPORT_VHOST_USER)
			return jf_fail(c, f,
				    "\"client\" is only possible with transport \"vhost-user\" (a vfio-user device is always the server)");
	}
	return 0;
}

static int parse_dev_mac(struct jf_ctx *c, unsigned idx, const json_t *v,
			 const struct board *b, struct vcfg_dev *d)
{
	static const uint8_t zero[6];
	char f[FIELD_MAX], s[18];

	if (!v) {
		if (mac_add(b->mac_base, idx, d->params.mac) ||
		    (d->params.mac[0] & 0x01)) {
			fmt_mac(b->mac_base, s);
			return jf_fail(c, dev_field(f, idx, "mac"),
				    "missing, and the board's mac_base %s + %u is not a unicast address: give one",
				    s, idx);
		}
		d->mac_generated = true;
		return 0;
	}
	dev_field(f, idx, "mac");
	if (!json_is_string(v))
		return jf_fail(c, f,
			    "must be a MAC address \"xx:xx:xx:xx:xx:xx\" (got %s)",
			    jf_type_name(v));
	if (jf_parse_mac(json_string_value(v), d->params.mac))
		return jf_fail(c, f,
			    "must be a MAC address \"xx:xx:xx:xx:xx:xx\" (got \"%.32s\")",
			    json_string_value(v));
	if (d->params.mac[0] & 0x01)
		return jf_fail(c, f,
			    "must be a unicast address, bit 0 of the first octet clear (got multicast \"%s\")",
			    json_string_value(v));
	if (memcmp(d->params.mac, zero, sizeof(zero)) == 0)
		return jf_fail(c, f, "must not be all zeros");
	d->mac_generated = false;
	return 0;
}

static int parse_queues(struct jf_ctx *c, unsigned idx, const json_t *o,
			const struct board *b, struct vcfg_dev *d)
{
	const json_t *v;
	char f[FIELD_MAX], limit[96];
	unsigned u;

	if ((v = json_object_get(o, "mtu")) != NULL) {
		snprintf(limit, sizeof(limit), "board \"%s\" max_mtu", b->name);
		if (get_uint(c, dev_field(f, idx, "mtu"), v, 68, b->max_mtu, limit,
			     &u))
			return -1;
		d->params.mtu = (uint16_t)u;
	}

	d->params.max_queue_pairs = 1;
	if ((v = json_object_get(o, "queue_pairs")) != NULL) {
		snprintf(limit, sizeof(limit), "board \"%s\" max_queue_pairs",
			 b->name);
		if (get_uint(c, dev_field(f, idx, "queue_pairs"), v, 1,
			     b->max_queue_pairs, limit, &u))
			return -1;
		/* board.h caps max_queue_pairs at 32768; vnet at 0x7fff:
		 * vnet_params_validate() catches the one value between. */
		d->params.max_queue_pairs = (uint16_t)(u > 0xffff ? 0xffff : u);
	}

	d->params.max_queue_size = (uint16_t)(b->max_queue_size < 256 ?
					      b->max_queue_size : 256);
	if ((v = json_object_get(o, "queue_size")) != NULL) {
		dev_field(f, idx, "queue_size");
		snprintf(limit, sizeof(limit), "board \"%s\" max_queue_size",
			 b->name);
		if (get_uint(c, f, v, 2, b->max_queue_size, limit, &u))
			return -1;
		if (u & (u - 1))
			return jf_fail(c, f, "must be a power of two (got %u)", u);
		d->params.max_queue_size = (uint16_t)u;
	}
	return 0;
}

static int apply_features(struct jf_ctx *c, unsigned idx, const json_t *o,
			  uint64_t *features)
{
	char f[FIELD_MAX], fk[FIELD_MAX];
	const char *key;
	json_t *v;

	dev_field(f, idx, "features");
	if (!json_is_object(o))
		return jf_fail(c, f, "must be an object of feature names to true or false (got %s)",
			    jf_type_name(o));

	/* Check every key and value first, then groups, then singles. */
	json_object_foreach((json_t *)o, key, v) {
		snprintf(fk, sizeof(fk), "devices[%u].features.%.40s", idx,
			 key);
		if (!find_feature(groups, ARRAY_SIZE(groups), key) &&
		    !find_feature(singles, ARRAY_SIZE(singles), key)) {
			char known[640];

			vcfg_features_str(~0ull, known, sizeof(known));
			return jf_fail(c, fk, "unknown feature (known: tso, ecn, uso, %s)",
				    known);
		}
		if (!json_is_boolean(v))
			return jf_fail(c, fk, "must be true or false (got %s)",
				    jf_type_name(v));
	}
	for (int pass = 0; pass < 2; pass++) {
		json_object_foreach((json_t *)o, key, v) {
			const struct feature *ft = pass == 0 ?
				find_feature(groups, ARRAY_SIZE(groups), key) :
				find_feature(singles, ARRAY_SIZE(singles), key);

			if (!ft)
				continue;
			if (json_is_true(v))
				*features |= ft->bits;
			else
				*features &= ~ft->bits;
		}
	}
	return 0;
}

static int parse_dev(struct jf_ctx *c, unsigned idx, const json_t *o,
		     const struct board *b, struct vcfg_dev *d)
{
	const json_t *v;
	const char *why = NULL;
	char f[FIELD_MAX];

	memset(d, 0, sizeof(*d));
	dev_field(f, idx, NULL);
	if (!json_is_object(o))
		return jf_fail(c, f, "must be an object (got %s)",
			    jf_type_name(o));
	if (check_dev_keys(c, idx, o) ||
	    parse_dev_name(c, idx, json_object_get(o, "name"), d) ||
	    parse_transport(c, idx, json_object_get(o, "transport"), b, d) ||
	    parse_socket(c, idx, o, d))
		return -1;

	vnet_params_default(&d->params);
	if (parse_dev_mac(c, idx, json_object_get(o, "mac"), b, d) ||
	    parse_queues(c, idx, o, b, d))
		return -1;
	if ((v = json_object_get(o, "features")) != NULL &&
	    apply_features(c, idx, v, &d->params.features))
		return -1;
	d->params.features |= FB(VIRTIO_F_VERSION_1);

	if (vnet_params_validate(&d->params, &why))
		return jf_fail(c, f, "device \"%s\" is not valid: %s", d->name,
			    why ? why : "rejected by vnet_params_validate");
	return 0;
}

/* Names, sockets and MACs unique across devices. */
static int check_unique(struct jf_ctx *c, const struct vcfg_dev *dev, unsigned n)
{
	char f[FIELD_MAX], m[18];

	for (unsigned j = 1; j < n; j++) {
		for (unsigned i = 0; i < j; i++) {
			if (strcmp(dev[i].name, dev[j].name) == 0)
				return jf_fail(c, dev_field(f, j, "name"),
					    "\"%s\" is already used by devices[%u]",
					    dev[j].name, i);
			if (dev[j].socket[0] &&
			    strcmp(dev[i].socket, dev[j].socket) == 0)
				return jf_fail(c, dev_field(f, j, "socket"),
					    "\"%s\" is already used by devices[%u] (\"%s\")",
					    dev[j].socket, i, dev[i].name);
			if (memcmp(dev[i].params.mac, dev[j].params.mac, 6) == 0) {
				fmt_mac(dev[j].params.mac, m);
				return jf_fail(c, dev_field(f, j, "mac"),
					    "%s%s is already used by devices[%u] (\"%s\")%s",
					    m, dev[j].mac_generated ?
					    " (generated from the board's mac_base)" : "",
					    i, dev[i].name,
					    dev[i].mac_generated ?
					    ", generated from the board's mac_base" : "");
			}
		}
	}
	return 0;
}

static int parse_config(struct jf_ctx *c, const json_t *root,
			const struct board *b, struct vcfg *cfg)
{
	const json_t *arr;
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)root, key, v)
		if (strcmp(key, "devices") != 0)
			return jf_fail(c, key, "unknown key (known: devices)");
	arr = json_object_get(root, "devices");
	if (!arr)
		return jf_fail(c, "devices", "missing (required)");
	if (!json_is_array(arr))
		return jf_fail(c, "devices", "must be an array of devices (got %s)",
			    jf_type_name(arr));
	if (json_array_size(arr) > b->max_devices)
		return jf_fail(c, "devices",
			    "has %zu entries; board \"%s\" allows at most %u devices (max_devices)",
			    json_array_size(arr), b->name, b->max_devices);

	cfg->n = (unsigned)json_array_size(arr);
	cfg->dev = NULL;
	if (cfg->n == 0)
		return 0;
	cfg->dev = calloc(cfg->n, sizeof(*cfg->dev));
	if (!cfg->dev)
		return jf_fail(c, NULL, "out of memory for %u devices", cfg->n);
	json_array_foreach(arr, i, v)
		if (parse_dev(c, (unsigned)i, v, b, &cfg->dev[i]))
			return -1;
	return check_unique(c, cfg->dev, cfg->n);
}

/* --- public API ----------------------------------------------------------- */

int vcfg_load(const char *path, const struct board *b, struct vcfg *out,
	      char *err, size_t errlen)
{
	struct jf_ctx c = { .path = path, .err = err, .errlen = errlen };
	struct vcfg cfg = { 0, NULL };
	json_t *root;
	int ret = -1;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !b || !out) {
		c.path = path ? path : "(null)";
		jf_fail(&c, NULL, "no path, board or output given");
		errno = EINVAL;
		return -1;
	}
	root = jf_load_object(&c, VCFG_FILE_MAX);
	if (root) {
		if (parse_config(&c, root, b, &cfg) == 0) {
			*out = cfg;
			ret = 0;
		} else {
			free(cfg.dev);
		}
	}
	json_decref(root);
	if (ret)
		errno = EINVAL;
	return ret;
}

void vcfg_free(struct vcfg *c)
{
	if (!c)
		return;
	free(c->dev);
	c->dev = NULL;
	c->n = 0;
}

int vcfg_resolve_sockets(struct vcfg *c, const char *path,
			 const char *run_dir, char *err, size_t errlen)
{
	struct jf_ctx x = { .path = path ? path : "(config)", .err = err,
			 .errlen = errlen };
	char (*res)[VCFG_SOCKET_LEN];
	char f[FIELD_MAX];
	int ret = -1;

	if (err && errlen)
		err[0] = '\0';
	if (!c || c->n == 0)
		return 0;
	if (!run_dir || !run_dir[0])
		run_dir = ".";
	res = calloc(c->n, sizeof(*res));
	if (!res)
		return jf_fail(&x, NULL, "out of memory");

	for (unsigned i = 0; i < c->n; i++) {
		const char *s = c->dev[i].socket;
		int n;

		if (!s[0] || s[0] == '/') {
			memcpy(res[i], s, strlen(s) + 1);
			continue;
		}
		n = snprintf(res[i], VCFG_SOCKET_LEN, "%s%s%s", run_dir,
			     run_dir[strlen(run_dir) - 1] == '/' ? "" : "/", s);
		if (n < 0 || n >= VCFG_SOCKET_LEN) {
			jf_fail(&x, dev_field(f, i, "socket"),
			     "\"%s\" in run directory \"%s\" is %d bytes; a socket path is at most %d",
			     s, run_dir, n, VCFG_SOCKET_LEN - 1);
			goto out;
		}
	}
	for (unsigned j = 1; j < c->n; j++) {
		for (unsigned i = 0; i < j; i++) {
			if (res[j][0] && strcmp(res[i], res[j]) == 0) {
				jf_fail(&x, dev_field(f, j, "socket"),
				     "\"%s\" is already used by devices[%u] (\"%s\")",
				     res[j], i, c->dev[i].name);
				goto out;
			}
		}
	}
	for (unsigned i = 0; i < c->n; i++)
		memcpy(c->dev[i].socket, res[i], VCFG_SOCKET_LEN);
	ret = 0;
out:
	free(res);
	return ret;
}

int vcfg_features_str(unsigned long long features, char *buf, size_t len)
{
	size_t o = 0;
	int total = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(singles); i++) {
		int n;

		if (!(features & singles[i].bits))
			continue;
		n = snprintf(o < len ? buf + o : NULL, o < len ? len - o : 0,
			     "%s%s", total ? "," : "", singles[i].key);
		if (n < 0)
			return n;
		total += n;
		o += (size_t)n;
	}
	return total;
}

int vcfg_dev_summary(const struct vcfg_dev *d, char *buf, size_t len)
{
	const char *tname = board_transport_name(d->transport);
	char mac[18], feats[640], where[VCFG_SOCKET_LEN + 16] = "";

	fmt_mac(d->params.mac, mac);
	vcfg_features_str(d->params.features, feats, sizeof(feats));
	if (d->socket[0])
		snprintf(where, sizeof(where), " %s %s",
			 d->client ? "client" : "server", d->socket);
	return snprintf(buf, len,
			"device %s: %s%s mac %s%s mtu %u, %u queue pair%s of %u, features %s",
			d->name, tname ? tname : "?", where, mac,
			d->mac_generated ? " (mac_base)" : "",
			(unsigned)d->params.mtu,
			(unsigned)d->params.max_queue_pairs,
			d->params.max_queue_pairs == 1 ? "" : "s",
			(unsigned)d->params.max_queue_size, feats);
}
