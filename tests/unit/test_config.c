/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for firmware/config.c: a good configuration loads into the
 * expected vnet_params, and every kind of bad file is rejected with one
 * message naming the file, the field path and the reason. Files are
 * written to a mkdtemp() directory that each test's teardown removes. Run
 * from the repository root (boards/sim.json is read relative to it).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "board.h"
#include "config.h"
#include "virtio_dev.h"
#include "virtio_net.h"

#define F(b) (1ull << (b))

struct tmp {
	char dir[64];
	char path[PATH_MAX];	/* the last file written */
	char err[512];
	struct board b;		/* boards/sim.json; tests may change it */
	struct vcfg cfg;
};

static int setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));
	char err[512];

	if (!t)
		return -1;
	if (board_load("boards", "sim", &t->b, err, sizeof(err))) {
		fprintf(stderr, "cannot load the sim board: %s\n", err);
		free(t);
		return -1;
	}
	snprintf(t->dir, sizeof(t->dir), "/tmp/virtnet-test-config-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tmp *t = *state;
	struct dirent *de;
	char p[PATH_MAX + 300];
	DIR *d = opendir(t->dir);

	if (d) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", t->dir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(t->dir);
	vcfg_free(&t->cfg);
	free(t);
	return 0;
}

static const char *write_text(struct tmp *t, const char *text)
{
	FILE *f;

	snprintf(t->path, sizeof(t->path), "%s/cfg.json", t->dir);
	f = fopen(t->path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return t->path;
}

/* Fail, showing the whole message, unless msg contains want. */
static void assert_contains(const char *msg, const char *want)
{
	if (!strstr(msg, want)) {
		print_error("message \"%s\"\n  does not contain \"%s\"\n", msg,
			    want);
		fail();
	}
}

static void load_ok(struct tmp *t, const char *text)
{
	const char *path = write_text(t, text);

	if (vcfg_load(path, &t->b, &t->cfg, t->err, sizeof(t->err))) {
		print_error("unexpected failure: %s\n", t->err);
		fail();
	}
	assert_string_equal(t->err, "");
}

/* Expect a load failure whose message names the file, the field (NULL:
 * none) and the reason; the output is left untouched. */
static void expect_fail(struct tmp *t, const char *text, const char *field,
			const char *reason)
{
	const char *path = write_text(t, text);
	char quoted[160];
	struct vcfg out = { 12345, (struct vcfg_dev *)&out };

	assert_int_equal(vcfg_load(path, &t->b, &out, t->err, sizeof(t->err)),
			 -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(out.n, 12345);
	assert_ptr_equal(out.dev, &out);
	assert_contains(t->err, path);
	if (field) {
		snprintf(quoted, sizeof(quoted), "field '%s'", field);
		assert_contains(t->err, quoted);
	}
	assert_contains(t->err, reason);
	assert_null(strchr(t->err, '\n'));
}

/* One device: {"name": "d0", "transport": "vhost-user", <extra>}. */
static void expect_dev_fail(struct tmp *t, const char *extra,
			    const char *field, const char *reason)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "{\"devices\": [{\"name\": \"d0\", \"transport\": \"vhost-user\"%s%s}]}",
		 extra[0] ? ", " : "", extra);
	expect_fail(t, text, field, reason);
}

/* --- good files ------------------------------------------------------------- */

static const char good[] =
	"{\n"
	"  \"devices\": [\n"
	"    {\n"
	"      \"name\": \"vu0\",\n"
	"      \"transport\": \"vhost-user\",\n"
	"      \"socket\": \"/run/virtnet/vu0.sock\",\n"
	"      \"mode\": \"client\",\n"
	"      \"mac\": \"02:76:6E:00:00:10\",\n"
	"      \"mtu\": 9000,\n"
	"      \"queue_pairs\": 4,\n"
	"      \"queue_size\": 1024,\n"
	"      \"features\": {\n"
	"        \"mrg_rxbuf\": true, \"packed\": false, \"in_order\": true,\n"
	"        \"event_idx\": true, \"indirect\": false, \"csum\": true,\n"
	"        \"guest_csum\": true, \"tso\": true, \"mq\": true,\n"
	"        \"rss\": false, \"hash_report\": false, \"ctrl_vq\": true\n"
	"      }\n"
	"    },\n"
	"    { \"name\": \"pf0\", \"transport\": \"vfio-user\" },\n"
	"    { \"name\": \"pf_1\", \"transport\": \"vhost-user\", \"socket\": \"x.sock\",\n"
	"      \"mode\": \"server\", \"features\": {} }\n"
	"  ]\n"
	"}\n";

static void test_good(void **state)
{
	struct tmp *t = *state;
	const struct vcfg_dev *d;
	struct vnet_params def;
	uint64_t want;

	load_ok(t, good);
	assert_int_equal(t->cfg.n, 3);
	vnet_params_default(&def);

	d = &t->cfg.dev[0];
	assert_string_equal(d->name, "vu0");
	assert_int_equal(d->transport, BOARD_TRANSPORT_VHOST_USER);
	assert_string_equal(d->socket, "/run/virtnet/vu0.sock");
	assert_true(d->client);
	assert_false(d->mac_generated);
	assert_memory_equal(d->params.mac,
			    ((const uint8_t[]){ 0x02, 0x76, 0x6e, 0, 0, 0x10 }), 6);
	assert_int_equal(d->params.mtu, 9000);
	assert_int_equal(d->params.max_queue_pairs, 4);
	assert_int_equal(d->params.max_queue_size, 1024);
	want = (def.features & ~(F(VIRTIO_F_RING_PACKED) |
				 F(VIRTIO_F_INDIRECT_DESC))) |
	       F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_F_IN_ORDER) |
	       F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |
	       F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |
	       F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) |
	       F(VIRTIO_NET_F_MQ);
	assert_int_equal(d->params.features, want);
	assert_int_equal(vnet_params_validate(&d->params, NULL), 0);

	/* Defaults: generated MAC (mac_base + index 1), "<name>.sock",
	 * server, MTU 1500, 1 pair of 256, vnet_params_default features. */
	d = &t->cfg.dev[1];
	assert_string_equal(d->name, "pf0");
	assert_int_equal(d->transport, BOARD_TRANSPORT_VFIO_USER);
	assert_string_equal(d->socket, "pf0.sock");
	assert_false(d->client);
	assert_true(d->mac_generated);
	assert_memory_equal(d->params.mac,
			    ((const uint8_t[]){ 0x02, 0x76, 0x6e, 0, 0, 0x01 }), 6);
	assert_int_equal(d->params.mtu, 1500);
	assert_int_equal(d->params.max_queue_pairs, 1);
	assert_int_equal(d->params.max_queue_size, 256);
	assert_int_equal(d->params.features, def.features);

	d = &t->cfg.dev[2];
	assert_string_equal(d->name, "pf_1");
	assert_string_equal(d->socket, "x.sock");
	assert_false(d->client);
	assert_memory_equal(d->params.mac,
			    ((const uint8_t[]){ 0x02, 0x76, 0x6e, 0, 0, 0x02 }), 6);
	assert_int_equal(d->params.features, def.features);

	vcfg_free(&t->cfg);
	assert_int_equal(t->cfg.n, 0);
	assert_null(t->cfg.dev);
	vcfg_free(&t->cfg);	/* twice is harmless */
}

static void test_no_devices(void **state)
{
	struct tmp *t = *state;

	load_ok(t, "{\"devices\": []}");
	assert_int_equal(t->cfg.n, 0);
	assert_null(t->cfg.dev);
}

/* Groups apply before single features whatever the order in the file. */
static void test_group_then_single(void **state)
{
	struct tmp *t = *state;
	uint64_t f;

	load_ok(t, "{\"devices\": [{\"name\": \"a\", \"transport\": \"vfio-user\","
		   " \"features\": {\"guest_tso6\": false, \"csum\": true,"
		   " \"guest_csum\": true, \"tso\": true, \"uso\": true}}]}");
	f = t->cfg.dev[0].params.features;
	assert_true(f & F(VIRTIO_NET_F_HOST_TSO4));
	assert_true(f & F(VIRTIO_NET_F_HOST_TSO6));
	assert_true(f & F(VIRTIO_NET_F_GUEST_TSO4));
	assert_false(f & F(VIRTIO_NET_F_GUEST_TSO6));
	assert_true(f & F(VIRTIO_NET_F_HOST_USO));
	assert_true(f & F(VIRTIO_NET_F_GUEST_USO4));
	assert_true(f & F(VIRTIO_NET_F_GUEST_USO6));
	assert_true(f & F(VIRTIO_F_VERSION_1));
}

static void test_rss_many_pairs(void **state)
{
	struct tmp *t = *state;

	load_ok(t, "{\"devices\": [{\"name\": \"a\", \"transport\": \"vfio-user\","
		   " \"queue_pairs\": 4, \"features\": {\"rss\": true,"
		   " \"hash_report\": true}}]}");
	assert_int_equal(t->cfg.dev[0].params.max_queue_pairs, 4);
	assert_true(t->cfg.dev[0].params.features & F(VIRTIO_NET_F_RSS));
	assert_false(t->cfg.dev[0].params.features & F(VIRTIO_NET_F_MQ));
}

/* A board whose max_queue_size is below 256 lowers the default. */
static void test_default_queue_size_small_board(void **state)
{
	struct tmp *t = *state;

	t->b.max_queue_size = 64;
	load_ok(t, "{\"devices\": [{\"name\": \"a\", \"transport\": \"vfio-user\"}]}");
	assert_int_equal(t->cfg.dev[0].params.max_queue_size, 64);
}

static void test_hw_device(void **state)
{
	struct tmp *t = *state;

	t->b.transports = BOARD_TRANSPORT_HW;
	load_ok(t, "{\"devices\": [{\"name\": \"a\", \"transport\": \"hw\"},"
		   " {\"name\": \"b\", \"transport\": \"hw\"}]}");
	assert_int_equal(t->cfg.dev[0].transport, BOARD_TRANSPORT_HW);
	assert_string_equal(t->cfg.dev[0].socket, "");
	assert_string_equal(t->cfg.dev[1].socket, "");
}

/* --- the file and the top level ---------------------------------------- */

static void test_missing_file(void **state)
{
	struct tmp *t = *state;
	char path[PATH_MAX];
	struct vcfg out = { 7, NULL };

	snprintf(path, sizeof(path), "%s/nope.json", t->dir);
	assert_int_equal(vcfg_load(path, &t->b, &out, t->err, sizeof(t->err)),
			 -1);
	assert_contains(t->err, path);
	assert_contains(t->err, "cannot open: No such file or directory");
	assert_int_equal(out.n, 7);
}

static void test_directory(void **state)
{
	struct tmp *t = *state;

	assert_int_equal(vcfg_load(t->dir, &t->b, &t->cfg, t->err,
				   sizeof(t->err)), -1);
	assert_contains(t->err, "not a regular file");
}

static void test_bad_json(void **state)
{
	struct tmp *t = *state;

	expect_fail(t, "{\n  \"devices\": [\n    {\"name\": \"a\",,}\n  ]\n}\n",
		    NULL, "invalid JSON at line 3, column");
}

static void test_empty_file(void **state)
{
	expect_fail(*state, "", NULL, "invalid JSON");
}

static void test_top_not_object(void **state)
{
	expect_fail(*state, "[1, 2]", NULL,
		    "top level must be a JSON object (got array)");
}

static void test_unknown_top_key(void **state)
{
	expect_fail(*state, "{\"devices\": [], \"devcies\": []}", "devcies",
		    "unknown key (known: devices)");
}

static void test_missing_devices(void **state)
{
	expect_fail(*state, "{}", "devices", "missing (required)");
}

static void test_devices_not_array(void **state)
{
	expect_fail(*state, "{\"devices\": {}}", "devices",
		    "must be an array of devices (got object)");
}

static void test_duplicate_key(void **state)
{
	expect_fail(*state,
		    "{\"devices\": [{\"name\": \"a\", \"name\": \"b\","
		    " \"transport\": \"vfio-user\"}]}",
		    NULL, "duplicate object key");
}

static void test_too_many_devices(void **state)
{
	struct tmp *t = *state;
	char text[4096];
	size_t o;

	o = (size_t)snprintf(text, sizeof(text), "{\"devices\": [");
	for (unsigned i = 0; i <= t->b.max_devices; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
				      "%s{\"name\": \"d%u\", \"transport\": \"vfio-user\"}",
				      i ? ", " : "", i);
	snprintf(text + o, sizeof(text) - o, "]}");
	expect_fail(t, text, "devices",
		    "has 17 entries; board \"sim\" allows at most 16 devices (max_devices)");
	/* exactly max_devices is fine */
	o = (size_t)snprintf(text, sizeof(text), "{\"devices\": [");
	for (unsigned i = 0; i < t->b.max_devices; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
				      "%s{\"name\": \"d%u\", \"transport\": \"vfio-user\"}",
				      i ? ", " : "", i);
	snprintf(text + o, sizeof(text) - o, "]}");
	load_ok(t, text);
	assert_int_equal(t->cfg.n, 16);
}

/* --- one device ------------------------------------------------------------ */

static void test_device_not_object(void **state)
{
	expect_fail(*state,
		    "{\"devices\": [{\"name\": \"a\", \"transport\": \"vfio-user\"}, \"b\"]}",
		    "devices[1]", "must be an object (got string)");
}

static void test_unknown_device_key(void **state)
{
	expect_dev_fail(*state, "\"queue_szie\": 256", "devices[0].queue_szie",
			"unknown key (known: name, transport");
}

static void test_missing_name(void **state)
{
	expect_fail(*state, "{\"devices\": [{\"transport\": \"vfio-user\"}]}",
		    "devices[0].name", "missing (required)");
}

static void test_missing_transport(void **state)
{
	expect_fail(*state, "{\"devices\": [{\"name\": \"a\"}]}",
		    "devices[0].transport", "missing (required)");
}

static void test_name_wrong_type(void **state)
{
	expect_fail(*state,
		    "{\"devices\": [{\"name\": 5, \"transport\": \"vfio-user\"}]}",
		    "devices[0].name", "must be a string (got integer)");
}

static void test_name_bad(void **state)
{
	expect_fail(*state,
		    "{\"devices\": [{\"name\": \"a b\", \"transport\": \"vfio-user\"}]}",
		    "devices[0].name",
		    "may contain only letters, digits, '-' and '_' (got \"a b\")");
}

static void test_name_too_long(void **state)
{
	expect_fail(*state,
		    "{\"devices\": [{\"name\": \"abcdefghijklmnop\", \"transport\": \"vfio-user\"}]}",
		    "devices[0].name",
		    "must be a string of 1..15 characters (got 16)");
}

static void test_name_empty(void **state)
{
	expect_fail(*state,
		    "{\"devices\": [{\"name\": \"\", \"transport\": \"vfio-user\"}]}",
		    "devices[0].name", "must be a string of 1..15 characters (got 0)");
}

static void test_name_nul(void **state)
{
	expect_fail(*state,
		    "{\"devices\": [{\"name\": \"a\\u0000b\", \"transport\": \"vfio-user\"}]}",
		    NULL, "\\u0000 is not allowed");	/* jansson refuses it */
}

static void test_unknown_transport(void **state)
{
	expect_fail(*state,
		    "{\"devices\": [{\"name\": \"a\", \"transport\": \"virtio-mmio\"}]}",
		    "devices[0].transport",
		    "unknown transport \"virtio-mmio\" (known: vfio-user, vhost-user, hw)");
}

static void test_transport_not_on_board(void **state)
{
	expect_fail(*state,
		    "{\"devices\": [{\"name\": \"a\", \"transport\": \"hw\"}]}",
		    "devices[0].transport",
		    "transport \"hw\" is not available on board \"sim\" (it has: vfio-user, vhost-user)");
}

static void test_transport_wrong_type(void **state)
{
	expect_fail(*state,
		    "{\"devices\": [{\"name\": \"a\", \"transport\": [\"hw\"]}]}",
		    "devices[0].transport", "must be a string (got array)");
}

static void test_socket_with_hw(void **state)
{
	struct tmp *t = *state;

	t->b.transports = BOARD_TRANSPORT_HW;
	expect_fail(t,
		    "{\"devices\": [{\"name\": \"a\", \"transport\": \"hw\", \"socket\": \"a.sock\"}]}",
		    "devices[0].socket", "not allowed with transport \"hw\"");
	expect_fail(t,
		    "{\"devices\": [{\"name\": \"a\", \"transport\": \"hw\", \"mode\": \"server\"}]}",
		    "devices[0].mode", "not allowed with transport \"hw\"");
}

static void test_socket_relative_dir(void **state)
{
	expect_dev_fail(*state, "\"socket\": \"sub/x.sock\"", "devices[0].socket",
			"must be an absolute path or a file name in the run directory (got \"sub/x.sock\")");
}

static void test_socket_dotdot(void **state)
{
	expect_dev_fail(*state, "\"socket\": \"..\"", "devices[0].socket",
			"must name a file (got \"..\")");
}

static void test_socket_too_long(void **state)
{
	char extra[256];

	snprintf(extra, sizeof(extra), "\"socket\": \"/%0107d\"", 0);
	expect_dev_fail(*state, extra, "devices[0].socket",
			"must be a string of 1..107 characters (got 108)");
}

static void test_socket_wrong_type(void **state)
{
	expect_dev_fail(*state, "\"socket\": null", "devices[0].socket",
			"must be a string (got null)");
}

static void test_mode_bad(void **state)
{
	expect_dev_fail(*state, "\"mode\": \"listen\"", "devices[0].mode",
			"must be \"server\" or \"client\" (got \"listen\")");
	expect_dev_fail(*state, "\"mode\": true", "devices[0].mode",
			"must be \"server\" or \"client\" (got boolean)");
}

static void test_client_vfio_user(void **state)
{
	expect_fail(*state,
		    "{\"devices\": [{\"name\": \"a\", \"transport\": \"vfio-user\", \"mode\": \"client\"}]}",
		    "devices[0].mode",
		    "\"client\" is only possible with transport \"vhost-user\"");
}

static void test_mac_malformed(void **state)
{
	expect_dev_fail(*state, "\"mac\": \"02:76:6e:00:00\"", "devices[0].mac",
			"must be a MAC address \"xx:xx:xx:xx:xx:xx\" (got \"02:76:6e:00:00\")");
	expect_dev_fail(*state, "\"mac\": \"02-76-6e-00-00-01\"", "devices[0].mac",
			"must be a MAC address");
	expect_dev_fail(*state, "\"mac\": \"02:76:6e:00:00:0g\"", "devices[0].mac",
			"must be a MAC address");
	expect_dev_fail(*state, "\"mac\": \"02:76:6e:00:00:011\"", "devices[0].mac",
			"must be a MAC address");
}

static void test_mac_wrong_type(void **state)
{
	expect_dev_fail(*state, "\"mac\": 12", "devices[0].mac",
			"must be a MAC address \"xx:xx:xx:xx:xx:xx\" (got integer)");
}

static void test_mac_multicast(void **state)
{
	expect_dev_fail(*state, "\"mac\": \"03:76:6e:00:00:01\"", "devices[0].mac",
			"must be a unicast address, bit 0 of the first octet clear (got multicast \"03:76:6e:00:00:01\")");
	expect_dev_fail(*state, "\"mac\": \"ff:ff:ff:ff:ff:ff\"", "devices[0].mac",
			"must be a unicast address");
}

static void test_mac_zero(void **state)
{
	expect_dev_fail(*state, "\"mac\": \"00:00:00:00:00:00\"", "devices[0].mac",
			"must not be all zeros");
}

/* mac_base + index leaving the unicast space: say so, ask for a mac. */
static void test_mac_base_overflow(void **state)
{
	struct tmp *t = *state;
	static const uint8_t base[6] = { 0x02, 0xff, 0xff, 0xff, 0xff, 0xff };

	memcpy(t->b.mac_base, base, 6);
	expect_fail(t,
		    "{\"devices\": [{\"name\": \"a\", \"transport\": \"vfio-user\"},"
		    " {\"name\": \"b\", \"transport\": \"vfio-user\"}]}",
		    "devices[1].mac",
		    "missing, and the board's mac_base 02:ff:ff:ff:ff:ff + 1 is not a unicast address");
}

static void test_mtu_range(void **state)
{
	expect_dev_fail(*state, "\"mtu\": 67", "devices[0].mtu",
			"must be at least 68 (got 67)");
	/* The sim board's representors carry up to 9216. */
	expect_dev_fail(*state, "\"mtu\": 9217", "devices[0].mtu",
			"must be at most 9216, board \"sim\" max_mtu (got 9217)");
	expect_dev_fail(*state, "\"mtu\": 65536", "devices[0].mtu",
			"must be at most 9216, board \"sim\" max_mtu (got 65536)");
	expect_dev_fail(*state, "\"mtu\": -1", "devices[0].mtu",
			"must be at least 68 (got -1)");
}

static void test_mtu_wrong_type(void **state)
{
	expect_dev_fail(*state, "\"mtu\": 1500.0", "devices[0].mtu",
			"must be an integer in 68..9216 (got real)");
	expect_dev_fail(*state, "\"mtu\": \"1500\"", "devices[0].mtu",
			"must be an integer in 68..9216 (got string)");
}

static void test_queue_pairs_zero(void **state)
{
	expect_dev_fail(*state, "\"queue_pairs\": 0", "devices[0].queue_pairs",
			"must be at least 1 (got 0)");
}

static void test_queue_pairs_above_board(void **state)
{
	expect_dev_fail(*state, "\"queue_pairs\": 5, \"features\": {\"mq\": true}",
			"devices[0].queue_pairs",
			"must be at most 4, board \"sim\" max_queue_pairs (got 5)");
}

static void test_queue_pairs_wrong_type(void **state)
{
	expect_dev_fail(*state, "\"queue_pairs\": \"2\"", "devices[0].queue_pairs",
			"must be an integer in 1..4 (got string)");
}

static void test_queue_size_not_pow2(void **state)
{
	struct tmp *t = *state;

	expect_fail(t,
		    "{\"devices\": [{\"name\": \"a\", \"transport\": \"vfio-user\"},"
		    " {\"name\": \"b\", \"transport\": \"vfio-user\"},"
		    " {\"name\": \"c\", \"transport\": \"vfio-user\", \"queue_size\": 300}]}",
		    "devices[2].queue_size", "must be a power of two (got 300)");
}

static void test_queue_size_above_board(void **state)
{
	expect_dev_fail(*state, "\"queue_size\": 2048", "devices[0].queue_size",
			"must be at most 1024, board \"sim\" max_queue_size (got 2048)");
}

static void test_queue_size_too_small(void **state)
{
	expect_dev_fail(*state, "\"queue_size\": 1", "devices[0].queue_size",
			"must be at least 2 (got 1)");
	expect_dev_fail(*state, "\"queue_size\": 0", "devices[0].queue_size",
			"must be at least 2 (got 0)");
}

/* --- features ----------------------------------------------------------- */

static void test_unknown_feature(void **state)
{
	struct tmp *t = *state;

	expect_dev_fail(t, "\"features\": {\"mq\": true, \"tso4\": true}",
			"devices[0].features.tso4",
			"unknown feature (known: tso, ecn, uso, indirect,");
	/* every known single name is listed */
	assert_contains(t->err, "mrg_rxbuf");
}

static void test_feature_not_boolean(void **state)
{
	expect_dev_fail(*state, "\"features\": {\"mq\": 1}",
			"devices[0].features.mq", "must be true or false (got integer)");
	expect_dev_fail(*state, "\"features\": {\"packed\": \"yes\"}",
			"devices[0].features.packed",
			"must be true or false (got string)");
}

static void test_features_not_object(void **state)
{
	expect_dev_fail(*state, "\"features\": [\"mq\"]", "devices[0].features",
			"must be an object of feature names to true or false (got array)");
}

/* Dependencies are checked by vnet_params_validate, named by device. */
static void test_mq_without_ctrl_vq(void **state)
{
	struct tmp *t = *state;

	expect_fail(t,
		    "{\"devices\": [{\"name\": \"a\", \"transport\": \"vfio-user\"},"
		    " {\"name\": \"vu1\", \"transport\": \"vhost-user\","
		    " \"features\": {\"mq\": true, \"ctrl_vq\": false,"
		    " \"ctrl_rx\": false, \"ctrl_rx_extra\": false, \"ctrl_vlan\": false,"
		    " \"ctrl_mac_addr\": false, \"guest_announce\": false}}]}",
		    "devices[1]",
		    "device \"vu1\" is not valid: MQ requires CTRL_VQ");
}

static void test_ctrl_vq_off_alone(void **state)
{
	/* the defaults' CTRL_RX depends on CTRL_VQ */
	expect_dev_fail(*state, "\"features\": {\"ctrl_vq\": false}", "devices[0]",
			"device \"d0\" is not valid: CTRL_RX requires CTRL_VQ");
}

static void test_tso_without_csum(void **state)
{
	expect_dev_fail(*state, "\"features\": {\"tso\": true}", "devices[0]",
			"device \"d0\" is not valid: GUEST_TSO4 requires GUEST_CSUM");
}

static void test_pairs_without_mq(void **state)
{
	expect_dev_fail(*state, "\"queue_pairs\": 2", "devices[0]",
			"device \"d0\" is not valid: more than one queue pair without MQ or RSS");
}

static void test_announce_without_status(void **state)
{
	expect_dev_fail(*state, "\"features\": {\"status\": false}", "devices[0]",
			"GUEST_ANNOUNCE without STATUS");
}

/* --- uniqueness ----------------------------------------------------------- */

static void test_duplicate_name(void **state)
{
	expect_fail(*state,
		    "{\"devices\": [{\"name\": \"a\", \"transport\": \"vfio-user\"},"
		    " {\"name\": \"b\", \"transport\": \"vfio-user\"},"
		    " {\"name\": \"a\", \"transport\": \"vhost-user\", \"socket\": \"z.sock\"}]}",
		    "devices[2].name", "\"a\" is already used by devices[0]");
}

static void test_duplicate_socket(void **state)
{
	expect_fail(*state,
		    "{\"devices\": [{\"name\": \"a\", \"transport\": \"vfio-user\", \"socket\": \"/tmp/s\"},"
		    " {\"name\": \"b\", \"transport\": \"vhost-user\", \"socket\": \"/tmp/s\"}]}",
		    "devices[1].socket",
		    "\"/tmp/s\" is already used by devices[0] (\"a\")");
	/* a default socket name counts too */
	expect_fail(*state,
		    "{\"devices\": [{\"name\": \"a\", \"transport\": \"vfio-user\"},"
		    " {\"name\": \"b\", \"transport\": \"vhost-user\", \"socket\": \"a.sock\"}]}",
		    "devices[1].socket",
		    "\"a.sock\" is already used by devices[0] (\"a\")");
}

static void test_duplicate_mac(void **state)
{
	expect_fail(*state,
		    "{\"devices\": [{\"name\": \"a\", \"transport\": \"vfio-user\", \"mac\": \"02:00:00:00:00:05\"},"
		    " {\"name\": \"b\", \"transport\": \"vfio-user\", \"mac\": \"02:00:00:00:00:05\"}]}",
		    "devices[1].mac",
		    "02:00:00:00:00:05 is already used by devices[0] (\"a\")");
}

/* A given MAC that equals another device's generated one. */
static void test_duplicate_mac_generated(void **state)
{
	expect_fail(*state,
		    "{\"devices\": [{\"name\": \"a\", \"transport\": \"vfio-user\"},"
		    " {\"name\": \"b\", \"transport\": \"vfio-user\", \"mac\": \"02:76:6e:00:00:00\"}]}",
		    "devices[1].mac",
		    "02:76:6e:00:00:00 is already used by devices[0] (\"a\"), generated from the board's mac_base");
}

/* --- sockets in the run directory -------------------------------------- */

static void test_resolve_sockets(void **state)
{
	struct tmp *t = *state;

	load_ok(t, "{\"devices\": [{\"name\": \"a\", \"transport\": \"vfio-user\"},"
		   " {\"name\": \"b\", \"transport\": \"vhost-user\", \"socket\": \"/abs/b.sock\"}]}");
	assert_int_equal(vcfg_resolve_sockets(&t->cfg, t->path, "/run/vn/",
					      t->err, sizeof(t->err)), 0);
	assert_string_equal(t->cfg.dev[0].socket, "/run/vn/a.sock");
	assert_string_equal(t->cfg.dev[1].socket, "/abs/b.sock");
}

static void test_resolve_sockets_collision(void **state)
{
	struct tmp *t = *state;

	load_ok(t, "{\"devices\": [{\"name\": \"a\", \"transport\": \"vfio-user\"},"
		   " {\"name\": \"b\", \"transport\": \"vhost-user\", \"socket\": \"/r/a.sock\"}]}");
	assert_int_equal(vcfg_resolve_sockets(&t->cfg, t->path, "/r", t->err,
					      sizeof(t->err)), -1);
	assert_contains(t->err, t->path);
	assert_contains(t->err,
			"field 'devices[1].socket': \"/r/a.sock\" is already used by devices[0] (\"a\")");
	/* unchanged */
	assert_string_equal(t->cfg.dev[0].socket, "a.sock");
}

static void test_resolve_sockets_too_long(void **state)
{
	struct tmp *t = *state;
	char dir[128];

	memset(dir, 'd', sizeof(dir) - 1);
	dir[0] = '/';
	dir[100] = '\0';
	load_ok(t, "{\"devices\": [{\"name\": \"abc\", \"transport\": \"vfio-user\"}]}");
	assert_int_equal(vcfg_resolve_sockets(&t->cfg, t->path, dir, t->err,
					      sizeof(t->err)), -1);
	assert_contains(t->err, "field 'devices[0].socket': \"abc.sock\" in run directory");
	assert_contains(t->err, "is 109 bytes; a socket path is at most 107");
	assert_string_equal(t->cfg.dev[0].socket, "abc.sock");
}

/* --- output and robustness ------------------------------------------------- */

static void test_summary(void **state)
{
	struct tmp *t = *state;
	char line[1024];

	load_ok(t, good);
	vcfg_dev_summary(&t->cfg.dev[0], line, sizeof(line));
	assert_contains(line, "device vu0: vhost-user client /run/virtnet/vu0.sock mac 02:76:6e:00:00:10 mtu 9000, 4 queue pairs of 1024, features ");
	assert_contains(line, "in_order");
	assert_contains(line, "mq");
	assert_null(strstr(line, "packed"));
	vcfg_dev_summary(&t->cfg.dev[1], line, sizeof(line));
	assert_contains(line, "device pf0: vfio-user server pf0.sock mac 02:76:6e:00:00:01 (mac_base) mtu 1500, 1 queue pair of 256,");
}

static void test_features_str(void **state)
{
	char buf[32];
	int n;

	(void)state;
	n = vcfg_features_str(F(VIRTIO_NET_F_MQ) | F(VIRTIO_F_RING_PACKED), buf,
			      sizeof(buf));
	assert_string_equal(buf, "packed,mq");
	assert_int_equal(n, 9);
	/* truncation: what snprintf would say, NUL-terminated */
	n = vcfg_features_str(~0ull, buf, sizeof(buf));
	assert_true(n > (int)sizeof(buf));
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_int_equal(vcfg_features_str(0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

static void test_tiny_error_buffer(void **state)
{
	struct tmp *t = *state;
	const char *path = write_text(t, "{\"devices\": 1}");
	char err[8];

	assert_int_equal(vcfg_load(path, &t->b, &t->cfg, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_int_equal(vcfg_load(path, &t->b, &t->cfg, NULL, 0), -1);
}

static void test_null_args(void **state)
{
	struct tmp *t = *state;

	assert_int_equal(vcfg_load(NULL, &t->b, &t->cfg, t->err, sizeof(t->err)), -1);
	assert_contains(t->err, "no path");
	assert_int_equal(vcfg_load("x", NULL, &t->cfg, t->err, sizeof(t->err)), -1);
	vcfg_free(NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_good),
		T(test_no_devices),
		T(test_group_then_single),
		T(test_rss_many_pairs),
		T(test_default_queue_size_small_board),
		T(test_hw_device),
		T(test_missing_file),
		T(test_directory),
		T(test_bad_json),
		T(test_empty_file),
		T(test_top_not_object),
		T(test_unknown_top_key),
		T(test_missing_devices),
		T(test_devices_not_array),
		T(test_duplicate_key),
		T(test_too_many_devices),
		T(test_device_not_object),
		T(test_unknown_device_key),
		T(test_missing_name),
		T(test_missing_transport),
		T(test_name_wrong_type),
		T(test_name_bad),
		T(test_name_too_long),
		T(test_name_empty),
		T(test_name_nul),
		T(test_unknown_transport),
		T(test_transport_not_on_board),
		T(test_transport_wrong_type),
		T(test_socket_with_hw),
		T(test_socket_relative_dir),
		T(test_socket_dotdot),
		T(test_socket_too_long),
		T(test_socket_wrong_type),
		T(test_mode_bad),
		T(test_client_vfio_user),
		T(test_mac_malformed),
		T(test_mac_wrong_type),
		T(test_mac_multicast),
		T(test_mac_zero),
		T(test_mac_base_overflow),
		T(test_mtu_range),
		T(test_mtu_wrong_type),
		T(test_queue_pairs_zero),
		T(test_queue_pairs_above_board),
		T(test_queue_pairs_wrong_type),
		T(test_queue_size_not_pow2),
		T(test_queue_size_above_board),
		T(test_queue_size_too_small),
		T(test_unknown_feature),
		T(test_feature_not_boolean),
		T(test_features_not_object),
		T(test_mq_without_ctrl_vq),
		T(test_ctrl_vq_off_alone),
		T(test_tso_without_csum),
		T(test_pairs_without_mq),
		T(test_announce_without_status),
		T(test_duplicate_name),
		T(test_duplicate_socket),
		T(test_duplicate_mac),
		T(test_duplicate_mac_generated),
		T(test_resolve_sockets),
		T(test_resolve_sockets_collision),
		T(test_resolve_sockets_too_long),
		T(test_summary),
		T(test_features_str),
		T(test_tiny_error_buffer),
		T(test_null_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
