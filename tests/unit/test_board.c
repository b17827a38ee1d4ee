/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for firmware/board.c: the shipped boards load, and every kind
 * of bad board file is rejected with a message naming the file, the field
 * and the reason. Bad files are written to a mkdtemp() directory that each
 * test's teardown removes. Run from the repository root (boards/ is read
 * relative to it).
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
#include <jansson.h>

#include "board.h"

struct tmp {
	char dir[64];
	char path[PATH_MAX];	/* the last file written */
	char err[512];
	struct board b;
};

static int setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/virtnet-test-board-XXXXXX");
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
	char p[PATH_MAX];
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
	free(t);
	return 0;
}

/* A valid sim-like board named `name`; tests break one thing in it. */
static json_t *base_board(const char *name)
{
	json_t *o = json_pack(
		"{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i,"
		" s:[s, s], s:s, s:s, s:s, s:s, s:[s]}",
		"name", name,
		"description", "test board",
		"arch", "x86_64",
		"datapath_lcores", 1,
		"static_pfs", 1,
		"max_hotplug_pfs", 4,
		"max_vfs_per_pf", 8,
		"max_queue_pairs", 4,
		"max_queue_size", 1024,
		"max_devices", 16,
		"transports", "vfio-user", "vhost-user",
		"eswitch", "sim",
		"mac_base", "02:76:6e:00:00:00",
		"representor_name_pf", "pf{pf}",
		"representor_name_vf", "pf{pf}vf{vf}",
		"uplinks", "veth0");

	assert_non_null(o);
	return o;
}

/* Write o (stolen) to <dir>/<file>; returns the path. */
static const char *write_json(struct tmp *t, const char *file, json_t *o)
{
	snprintf(t->path, sizeof(t->path), "%s/%s", t->dir, file);
	assert_int_equal(json_dump_file(o, t->path, JSON_INDENT(1)), 0);
	json_decref(o);
	return t->path;
}

static const char *write_text(struct tmp *t, const char *file,
			      const char *text)
{
	FILE *f;

	snprintf(t->path, sizeof(t->path), "%s/%s", t->dir, file);
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

/* Expect a load failure whose message names path, field and reason. */
static void expect_fail(struct tmp *t, const char *path, const char *field,
			const char *reason)
{
	char quoted[128];

	memset(&t->b, 0xa5, sizeof(t->b));
	assert_int_equal(board_load_file(path, &t->b, t->err, sizeof(t->err)),
			 -1);
	assert_contains(t->err, path);
	if (field) {
		snprintf(quoted, sizeof(quoted), "field '%s'", field);
		assert_contains(t->err, quoted);
	}
	assert_contains(t->err, reason);
}

/* Break one field of the base board and expect the given complaint. */
static void expect_field_fail(struct tmp *t, const char *key, json_t *value,
			      const char *reason)
{
	json_t *o = base_board("x");
	const char *path;

	if (value)
		json_object_set_new(o, key, value);
	else
		json_object_del(o, key);
	path = write_json(t, "x.json", o);
	expect_fail(t, path, key, reason);
}

/* --- good boards ---------------------------------------------------------- */

static void test_shipped_sim(void **state)
{
	struct tmp *t = *state;
	struct board *b = &t->b;

	assert_int_equal(board_load("boards", "sim", b, t->err,
				    sizeof(t->err)), 0);
	assert_string_equal(b->name, "sim");
	assert_string_equal(b->arch, "x86_64");
	assert_int_equal(b->datapath_lcores, 1);
	assert_int_equal(b->static_pfs, 1);
	assert_int_equal(b->max_hotplug_pfs, 4);
	assert_int_equal(b->max_vfs_per_pf, 8);
	assert_int_equal(b->max_queue_pairs, 4);
	assert_int_equal(b->max_queue_size, 1024);
	assert_int_equal(b->transports,
			 BOARD_TRANSPORT_VFIO_USER | BOARD_TRANSPORT_VHOST_USER);
	assert_int_equal(b->eswitch, BOARD_ESWITCH_SIM);
	assert_int_equal(b->mac_base[0], 0x02);
	assert_int_equal(b->mac_base[1], 0x76);
	assert_int_equal(b->mac_base[2], 0x6e);
	assert_int_equal(b->sf_base, 0);
	assert_int_equal(b->max_mtu, 9216);
	assert_int_equal(b->n_uplinks, 0);
	assert_string_equal(t->err, "");
}

static void test_shipped_bluefield2(void **state)
{
	struct tmp *t = *state;
	struct board *b = &t->b;

	assert_int_equal(board_load("boards", "bluefield2", b, t->err,
				    sizeof(t->err)), 0);
	assert_string_equal(b->name, "bluefield2");
	assert_string_equal(b->arch, "aarch64");
	assert_int_equal(b->max_hotplug_pfs, 16);
	assert_int_equal(b->transports, BOARD_TRANSPORT_HW);
	assert_int_equal(b->eswitch, BOARD_ESWITCH_MLX5);
	assert_int_equal(b->sf_base, 1000);
	assert_int_equal(b->n_uplinks, 2);
	assert_string_equal(b->uplinks[0], "p0");
}

static void test_shipped_bluefield3(void **state)
{
	struct tmp *t = *state;
	struct board *b = &t->b;

	/* By path this time. */
	assert_int_equal(board_load(NULL, "boards/bluefield3.json", b, t->err,
				    sizeof(t->err)), 0);
	assert_string_equal(b->name, "bluefield3");
	assert_int_equal(b->max_hotplug_pfs, 31);
	assert_int_equal(b->eswitch, BOARD_ESWITCH_MLX5);
}

static void test_base_board_is_valid(void **state)
{
	struct tmp *t = *state;
	const char *path = write_json(t, "x.json", base_board("x"));

	assert_int_equal(board_load_file(path, &t->b, t->err,
					 sizeof(t->err)), 0);
	assert_string_equal(t->b.description, "test board");
	/* And by name from the temporary directory. */
	assert_int_equal(board_load(t->dir, "x", &t->b, t->err,
				    sizeof(t->err)), 0);
}

static void test_optional_fields_absent(void **state)
{
	struct tmp *t = *state;
	json_t *o = base_board("x");
	const char *path;

	json_object_del(o, "description");
	json_object_set_new(o, "uplinks", json_array());
	path = write_json(t, "x.json", o);
	assert_int_equal(board_load_file(path, &t->b, t->err,
					 sizeof(t->err)), 0);
	assert_string_equal(t->b.description, "");
	assert_int_equal(t->b.n_uplinks, 0);
	assert_int_equal(t->b.max_mtu, 1500); /* unsaid: no jumbo frames */
}

/* --- bad files ------------------------------------------------------------ */

static void test_missing_file(void **state)
{
	struct tmp *t = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/nosuch.json", t->dir);
	expect_fail(t, path, NULL, "No such file or directory");
}

static void test_missing_board_by_name(void **state)
{
	struct tmp *t = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/nosuch.json", t->dir);
	assert_int_equal(board_load(t->dir, "nosuch", &t->b, t->err,
				    sizeof(t->err)), -1);
	assert_contains(t->err, path);
	assert_contains(t->err, "No such file or directory");
}

static void test_invalid_json(void **state)
{
	struct tmp *t = *state;
	const char *path = write_text(t, "x.json",
				      "{\n"
				      "\t\"name\": \"x\",\n"
				      "\t\"arch\": \"x86_64\" \"oops\"\n"
				      "}\n");

	expect_fail(t, path, NULL, "invalid JSON at line 3");
}

static void test_duplicate_key(void **state)
{
	struct tmp *t = *state;
	const char *path = write_text(t, "x.json",
				      "{ \"name\": \"x\", \"name\": \"x\" }\n");

	expect_fail(t, path, NULL, "duplicate");
}

static void test_not_a_regular_file(void **state)
{
	struct tmp *t = *state;

	expect_fail(t, t->dir, NULL, "not a regular file");
}

static void test_empty_file(void **state)
{
	struct tmp *t = *state;
	const char *path = write_text(t, "x.json", "");

	expect_fail(t, path, NULL, "invalid JSON");
}

static void test_top_level_not_object(void **state)
{
	struct tmp *t = *state;
	const char *path = write_text(t, "x.json", "[1, 2]\n");

	expect_fail(t, path, NULL, "top level must be a JSON object");
}

static void test_missing_required_field(void **state)
{
	expect_field_fail(*state, "max_queue_pairs", NULL, "missing");
}

static void test_wrong_type(void **state)
{
	expect_field_fail(*state, "datapath_lcores", json_string("1"),
			  "must be an integer in 1..128 (got string)");
}

static void test_bool_is_not_integer(void **state)
{
	expect_field_fail(*state, "static_pfs", json_true(),
			  "must be an integer in 0..64 (got boolean)");
}

static void test_unknown_key(void **state)
{
	struct tmp *t = *state;
	json_t *o = base_board("x");
	const char *path;

	/* A typo of max_queue_size is reported as the unknown key it is. */
	json_object_del(o, "max_queue_size");
	json_object_set_new(o, "max_queue_szie", json_integer(1024));
	path = write_json(t, "x.json", o);
	expect_fail(t, path, "max_queue_szie", "unknown key");
}

static void test_name_mismatch(void **state)
{
	struct tmp *t = *state;
	const char *path = write_json(t, "y.json", base_board("x"));

	expect_fail(t, path, "name", "must equal the file's base name \"y\"");
}

static void test_arch_unknown(void **state)
{
	expect_field_fail(*state, "arch", json_string("riscv64"),
			  "must be \"x86_64\" or \"aarch64\"");
}

static void test_queue_size_not_power_of_two(void **state)
{
	expect_field_fail(*state, "max_queue_size", json_integer(1000),
			  "must be a power of two in 2..32768 (got 1000)");
}

static void test_queue_size_too_large(void **state)
{
	expect_field_fail(*state, "max_queue_size", json_integer(65536),
			  "must be a power of two in 2..32768 (got 65536)");
}

static void test_queue_size_one(void **state)
{
	expect_field_fail(*state, "max_queue_size", json_integer(1),
			  "must be a power of two in 2..32768 (got 1)");
}

static void test_queue_pairs_zero(void **state)
{
	expect_field_fail(*state, "max_queue_pairs", json_integer(0),
			  "must be an integer in 1..32768 (got 0)");
}

static void test_vfs_per_pf_too_many(void **state)
{
	expect_field_fail(*state, "max_vfs_per_pf", json_integer(65536),
			  "must be an integer in 0..65535 (got 65536)");
}

static void test_negative_integer(void **state)
{
	expect_field_fail(*state, "max_hotplug_pfs", json_integer(-1),
			  "must be an integer in 0..64 (got -1)");
}

static void test_max_devices_below_static_pfs(void **state)
{
	struct tmp *t = *state;
	json_t *o = base_board("x");
	const char *path;

	json_object_set_new(o, "static_pfs", json_integer(4));
	json_object_set_new(o, "max_devices", json_integer(3));
	path = write_json(t, "x.json", o);
	expect_fail(t, path, "max_devices",
		    "must be at least static_pfs (4) (got 3)");
}

static void test_unknown_transport(void **state)
{
	expect_field_fail(*state, "transports",
			  json_pack("[s, s]", "vfio-user", "virtio-mmio"),
			  "unknown transport \"virtio-mmio\"");
}

static void test_duplicate_transport(void **state)
{
	expect_field_fail(*state, "transports",
			  json_pack("[s, s]", "vhost-user", "vhost-user"),
			  "duplicate transport \"vhost-user\"");
}

static void test_empty_transports(void **state)
{
	expect_field_fail(*state, "transports", json_array(),
			  "must be a non-empty array");
}

static void test_transport_not_string(void **state)
{
	expect_field_fail(*state, "transports", json_pack("[i]", 1),
			  "element 0 must be a string (got integer)");
}

static void test_unknown_eswitch(void **state)
{
	expect_field_fail(*state, "eswitch", json_string("ovs"),
			  "must be \"sim\" or \"mlx5\"");
}

static void test_bad_mac(void **state)
{
	struct tmp *t = *state;
	static const char *const bad[] = {
		"02:76:6e:00:00", "02:76:6e:00:00:00:00", "02-76-6e-00-00-00",
		"02:76:6e:00:00:0g", "2:76:6e:00:00:00", "", "02:76:6e:00:00:00 ",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_field_fail(t, "mac_base", json_string(bad[i]),
				  "must be a MAC address \"xx:xx:xx:xx:xx:xx\"");
}

static void test_multicast_mac(void **state)
{
	expect_field_fail(*state, "mac_base", json_string("03:76:6e:00:00:00"),
			  "must be a unicast address");
}

static void test_sim_mac_not_local(void **state)
{
	expect_field_fail(*state, "mac_base", json_string("00:76:6e:00:00:00"),
			  "must be locally administered");
}

static void test_max_mtu_range(void **state)
{
	expect_field_fail(*state, "max_mtu", json_integer(67),
			  "must be an integer in 68..65535 (got 67)");
	expect_field_fail(*state, "max_mtu", json_integer(65536),
			  "must be an integer in 68..65535 (got 65536)");
	expect_field_fail(*state, "max_mtu", json_string("9000"),
			  "must be an integer in 68..65535 (got string)");
	/* The sim eSwitch's representors carry up to 9216. */
	expect_field_fail(*state, "max_mtu", json_integer(9217),
			  "at most 9216 with eswitch \"sim\" (got 9217)");
}

static void test_sf_base_on_sim(void **state)
{
	expect_field_fail(*state, "sf_base", json_integer(1000),
			  "only meaningful with eswitch \"mlx5\"");
}

static void test_rep_unknown_placeholder(void **state)
{
	expect_field_fail(*state, "representor_name_vf",
			  json_string("pf{pf}vf{port}"),
			  "unknown placeholder '{port}'");
}

static void test_rep_unmatched_brace(void **state)
{
	expect_field_fail(*state, "representor_name_pf", json_string("pf{pf"),
			  "unmatched '{'");
}

static void test_rep_vf_in_pf_pattern(void **state)
{
	expect_field_fail(*state, "representor_name_pf",
			  json_string("pf{pf}vf{vf}"),
			  "placeholder {vf} has no value for a PF");
}

static void test_rep_not_unique(void **state)
{
	expect_field_fail(*state, "representor_name_vf",
			  json_string("pf{pf}vf"),
			  "so that every VF gets its own name");
}

static void test_rep_bad_character(void **state)
{
	expect_field_fail(*state, "representor_name_pf",
			  json_string("pf/{pf}"), "is not allowed");
}

static void test_rep_name_too_long(void **state)
{
	struct tmp *t = *state;
	json_t *o = base_board("x");
	const char *path;

	/* 68 PFs with 1000 VFs each: "pf67vf999" fits, but with a longer
	 * literal the VF name "virtio-pf67vf999" is 16 characters. */
	json_object_set_new(o, "static_pfs", json_integer(4));
	json_object_set_new(o, "max_hotplug_pfs", json_integer(64));
	json_object_set_new(o, "max_vfs_per_pf", json_integer(1000));
	json_object_set_new(o, "representor_name_vf",
			    json_string("virtio-pf{pf}vf{vf}"));
	path = write_json(t, "x.json", o);
	expect_fail(t, path, "representor_name_vf",
		    "longest name \"virtio-pf67vf999\" is 16 characters");
}

static void test_rep_name_bluefield_pattern_too_long(void **state)
{
	struct tmp *t = *state;
	json_t *o;
	const char *path;

	/* The udev-style name with the PF number in both places overflows
	 * IFNAMSIZ once PF numbers reach two digits (35 PFs on bluefield3:
	 * "en3f34pf34sf5318" is 16 characters). */
	o = json_load_file("boards/bluefield3.json", 0, NULL);
	assert_non_null(o);
	json_object_set_new(o, "name", json_string("x"));
	json_object_set_new(o, "representor_name_pf",
			    json_string("en3f{pf}pf{pf}sf{sf}"));
	path = write_json(t, "x.json", o);
	expect_fail(t, path, "representor_name_pf", "longest name");
	assert_contains(t->err, "at most 15 (IFNAMSIZ - 1)");
}

static void test_uplink_name_too_long(void **state)
{
	expect_field_fail(*state, "uplinks",
			  json_pack("[s, s]", "p0", "uplink-name-16ch"),
			  "is longer than 15 characters");
}

static void test_uplink_name_bad(void **state)
{
	struct tmp *t = *state;

	expect_field_fail(t, "uplinks", json_pack("[s]", "p 0"),
			  "may not contain '/', ':' or whitespace");
	expect_field_fail(t, "uplinks", json_pack("[s]", "a/b"),
			  "may not contain '/', ':' or whitespace");
	expect_field_fail(t, "uplinks", json_pack("[s]", ""), "is empty");
	expect_field_fail(t, "uplinks", json_pack("[s, s]", "p0", "p0"),
			  "listed twice");
}

static void test_too_many_uplinks(void **state)
{
	expect_field_fail(*state, "uplinks",
			  json_pack("[s,s,s,s,s,s,s,s,s]", "a", "b", "c", "d",
				    "e", "f", "g", "h", "i"),
			  "at most 8 entries (got 9)");
}

static void test_failed_load_leaves_output(void **state)
{
	struct tmp *t = *state;
	struct board before;
	const char *path = write_text(t, "x.json", "{}");

	memset(&t->b, 0x5a, sizeof(t->b));
	before = t->b;
	assert_int_equal(board_load_file(path, &t->b, t->err,
					 sizeof(t->err)), -1);
	assert_memory_equal(&before, &t->b, sizeof(before));
}

static void test_tiny_error_buffer(void **state)
{
	struct tmp *t = *state;
	char small[8];

	assert_int_equal(board_load_file("/nonexistent/x.json", &t->b, small,
					 sizeof(small)), -1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(board_load_file("/nonexistent/x.json", &t->b, NULL,
					 0), -1);
}

/* --- representor names and SF numbers ------------------------------------- */

static void test_rep_name_sim(void **state)
{
	struct tmp *t = *state;
	char name[BOARD_IFNAMSIZ];

	assert_int_equal(board_load("boards", "sim", &t->b, t->err,
				    sizeof(t->err)), 0);
	assert_int_equal(board_rep_name(&t->b, 0, -1, name, sizeof(name)), 0);
	assert_string_equal(name, "pf0");
	assert_int_equal(board_rep_name(&t->b, 2, 5, name, sizeof(name)), 0);
	assert_string_equal(name, "pf2vf5");

	/* Out of range: 5 PFs (0..4), 8 VFs (0..7). */
	errno = 0;
	assert_int_equal(board_rep_name(&t->b, 5, -1, name, sizeof(name)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(board_rep_name(&t->b, 0, 8, name, sizeof(name)), -1);
	assert_int_equal(board_rep_name(&t->b, 0, -2, name, sizeof(name)), -1);
	/* Buffer too small. */
	errno = 0;
	assert_int_equal(board_rep_name(&t->b, 4, 7, name, 6), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(board_rep_name(&t->b, 4, 7, name, 7), 0);
	assert_string_equal(name, "pf4vf7");
}

static void test_rep_name_bluefield(void **state)
{
	struct tmp *t = *state;
	char name[BOARD_IFNAMSIZ];
	unsigned sf;

	assert_int_equal(board_load("boards", "bluefield2", &t->b, t->err,
				    sizeof(t->err)), 0);
	assert_int_equal(board_rep_name(&t->b, 0, -1, name, sizeof(name)), 0);
	assert_string_equal(name, "en3f0pf0sf1000");
	assert_int_equal(board_rep_name(&t->b, 0, 0, name, sizeof(name)), 0);
	assert_string_equal(name, "en3f0pf0sf1001");
	/* PF 1 follows PF 0's 126 VFs. */
	assert_int_equal(board_sf_num(&t->b, 1, -1, &sf), 0);
	assert_int_equal(sf, 1127);
	/* The last function of the board. */
	assert_int_equal(board_sf_num(&t->b, 19, 125, &sf), 0);
	assert_int_equal(sf, 1000 + 20 * 127 - 1);
	assert_int_equal(board_rep_name(&t->b, 19, 125, name, sizeof(name)),
			 0);
	assert_string_equal(name, "en3f0pf0sf3539");
}

static void test_print(void **state)
{
	struct tmp *t = *state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	assert_int_equal(board_load("boards", "sim", &t->b, t->err,
				    sizeof(t->err)), 0);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	board_print(&t->b, f);
	assert_int_equal(fclose(f), 0);
	assert_contains(buf, "board         sim");
	assert_contains(buf, "vfio-user, vhost-user");
	assert_contains(buf, "02:76:6e:00:00:00");
	assert_contains(buf, "pf0vf0");
	free(buf);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_shipped_sim),
		T(test_shipped_bluefield2),
		T(test_shipped_bluefield3),
		T(test_base_board_is_valid),
		T(test_optional_fields_absent),
		T(test_missing_file),
		T(test_missing_board_by_name),
		T(test_invalid_json),
		T(test_duplicate_key),
		T(test_not_a_regular_file),
		T(test_empty_file),
		T(test_top_level_not_object),
		T(test_missing_required_field),
		T(test_wrong_type),
		T(test_bool_is_not_integer),
		T(test_unknown_key),
		T(test_name_mismatch),
		T(test_arch_unknown),
		T(test_queue_size_not_power_of_two),
		T(test_queue_size_too_large),
		T(test_queue_size_one),
		T(test_queue_pairs_zero),
		T(test_vfs_per_pf_too_many),
		T(test_negative_integer),
		T(test_max_devices_below_static_pfs),
		T(test_unknown_transport),
		T(test_duplicate_transport),
		T(test_empty_transports),
		T(test_transport_not_string),
		T(test_unknown_eswitch),
		T(test_bad_mac),
		T(test_multicast_mac),
		T(test_sim_mac_not_local),
		T(test_max_mtu_range),
		T(test_sf_base_on_sim),
		T(test_rep_unknown_placeholder),
		T(test_rep_unmatched_brace),
		T(test_rep_vf_in_pf_pattern),
		T(test_rep_not_unique),
		T(test_rep_bad_character),
		T(test_rep_name_too_long),
		T(test_rep_name_bluefield_pattern_too_long),
		T(test_uplink_name_too_long),
		T(test_uplink_name_bad),
		T(test_too_many_uplinks),
		T(test_failed_load_leaves_output),
		T(test_tiny_error_buffer),
		T(test_rep_name_sim),
		T(test_rep_name_bluefield),
		T(test_print),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
