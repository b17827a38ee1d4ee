/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * board — the description of the machine virtnetd runs on.
 *
 * A board is data, not code: boards/<name>.json gives the limits (PFs, VFs,
 * queues, devices), the datapath lcores, the transports and eSwitch backend
 * to use, the MAC base, how representor netdevs are named and the uplinks.
 * The loader validates every field and rejects unknown keys, so a typo in a
 * board file is an error naming the file and the field, never a silently
 * ignored setting. See the README section "Boards" for the format.
 *
 * The loader does not log: it fills the caller's error buffer.
 */
#ifndef BOARD_H
#define BOARD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BOARD_NAME_LEN		64	/* including the NUL */
#define BOARD_DESC_LEN		256
#define BOARD_ARCH_LEN		16
#define BOARD_REP_PATTERN_LEN	32
#define BOARD_MAX_UPLINKS	8
#define BOARD_IFNAMSIZ		16	/* IFNAMSIZ: 15 characters + NUL */

/* Upper bounds the loader enforces (see board.c for where each comes from). */
#define BOARD_MAX_LCORES	128
#define BOARD_MAX_PFS		64	/* static_pfs and max_hotplug_pfs each */
#define BOARD_MAX_VFS_PER_PF	65535	/* SR-IOV TotalVFs is 16 bits */
#define BOARD_MAX_QUEUE_PAIRS	32768	/* virtio-net max_virtqueue_pairs */
#define BOARD_MAX_QUEUE_SIZE	32768	/* virtio split ring */
#define BOARD_MAX_DEVICES	65535

/* Bits of struct board.transports. */
#define BOARD_TRANSPORT_VFIO_USER	(1u << 0)
#define BOARD_TRANSPORT_VHOST_USER	(1u << 1)
#define BOARD_TRANSPORT_HW		(1u << 2)

enum board_eswitch {
	BOARD_ESWITCH_SIM = 0,	/* DPDK vdevs in the sim */
	BOARD_ESWITCH_MLX5 = 1,	/* mlx5 SF representors on BlueField */
};

struct board {
	char name[BOARD_NAME_LEN];
	char description[BOARD_DESC_LEN];	/* "" when absent */
	char arch[BOARD_ARCH_LEN];		/* "x86_64" or "aarch64" */
	unsigned datapath_lcores;
	unsigned static_pfs;
	unsigned max_hotplug_pfs;
	unsigned max_vfs_per_pf;
	unsigned max_queue_pairs;
	unsigned max_queue_size;		/* a power of two */
	unsigned max_mtu;			/* device MTU, 68..65535 (1500) */
	unsigned max_devices;			/* PFs + VFs, >= static_pfs */
	unsigned transports;			/* BOARD_TRANSPORT_* bits */
	enum board_eswitch eswitch;
	uint8_t mac_base[6];
	char rep_name_pf[BOARD_REP_PATTERN_LEN];	/* e.g. "pf{pf}" */
	char rep_name_vf[BOARD_REP_PATTERN_LEN];	/* e.g. "pf{pf}vf{vf}" */
	unsigned sf_base;			/* first SF number (mlx5) */
	unsigned n_uplinks;
	char uplinks[BOARD_MAX_UPLINKS][BOARD_IFNAMSIZ];
};

/*
 * Load and validate one board file. Returns 0 and fills *out, or -1 with a
 * message in err ("<path>: field '<field>': <reason>", or "<path>: <reason>"
 * for a file that cannot be read or parsed) and *out untouched. The board's
 * "name" must equal the file's base name without ".json".
 */
int board_load_file(const char *path, struct board *out, char *err,
		    size_t errlen);

/*
 * Load a board by name or path. name_or_path is a path when it contains a
 * '/' or ends in ".json"; otherwise it is a name and the file read is
 * <boards_dir>/<name>.json (boards_dir NULL means "boards").
 */
int board_load(const char *boards_dir, const char *name_or_path,
	       struct board *out, char *err, size_t errlen);

/* Number of PFs the board can ever have: static_pfs + max_hotplug_pfs. */
unsigned board_max_pfs(const struct board *b);

/*
 * The scalable-function number that backs a function: PF pf (vf == -1) or
 * VF vf of PF pf. Functions are numbered densely from sf_base, each PF
 * followed by its VFs: sf = sf_base + pf * (1 + max_vfs_per_pf) + vf + 1.
 * Returns 0, or -1 (errno EINVAL) when pf or vf is beyond the board.
 */
int board_sf_num(const struct board *b, unsigned pf, int vf, unsigned *sf);

/*
 * The representor netdev name of a function (vf == -1 for the PF itself),
 * from rep_name_pf or rep_name_vf. Returns 0, or -1 with errno EINVAL (pf
 * or vf beyond the board) or ENOSPC (buf too small).
 */
int board_rep_name(const struct board *b, unsigned pf, int vf, char *buf,
		   size_t len);

/* Name of one BOARD_TRANSPORT_* bit ("vfio-user", ...), NULL if unknown. */
const char *board_transport_name(unsigned bit);
/* "sim" or "mlx5". */
const char *board_eswitch_name(enum board_eswitch e);

/* A summary for people, several lines. */
void board_print(const struct board *b, FILE *f);

#endif /* BOARD_H */
