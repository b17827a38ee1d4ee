/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtnetd — the virtnet service (DPU side).
 *
 * For now it loads and validates the board and prints its summary; the
 * service itself (transports, devices, datapath, management) is not
 * implemented yet and the program says so rather than pretend.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "hal_log.h"

#define DEFAULT_BOARD	"sim"
#define DEFAULT_DIR	"boards"

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [--board NAME|PATH] [--boards-dir DIR] [--check]\n"
		"       %*s [--log-level LEVEL] [--help]\n"
		"\n"
		"The virtnet service: emulates virtio-net PCI functions for a host and\n"
		"moves their packets to eSwitch representors.\n"
		"\n"
		"  -b, --board NAME|PATH  board to run on (default \"" DEFAULT_BOARD "\"); a NAME\n"
		"                         is read from DIR/NAME.json, anything containing\n"
		"                         '/' or ending in .json is a path to a board file\n"
		"  -d, --boards-dir DIR   where board NAMEs are looked up (default: the\n"
		"                         VIRTNET_BOARDS_DIR environment variable, else\n"
		"                         \"" DEFAULT_DIR "\" relative to the current directory)\n"
		"  -c, --check            load and validate the board, print its summary\n"
		"                         and exit 0 (1 if the board is invalid)\n"
		"  -l, --log-level LEVEL  err, warn, info (default) or debug\n"
		"  -h, --help             show this help and exit\n"
		"\n"
		"Exit status: 0 on success, 1 if the board is invalid, 2 on a usage error.\n",
		prog, (int)strlen(prog), "");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "board", required_argument, NULL, 'b' },
		{ "boards-dir", required_argument, NULL, 'd' },
		{ "check", no_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *board_name = DEFAULT_BOARD;
	const char *boards_dir = NULL;
	bool check = false;
	struct board board;
	char err[512];
	int opt, level;

	while ((opt = getopt_long(argc, argv, "b:d:cl:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			board_name = optarg;
			break;
		case 'd':
			boards_dir = optarg;
			break;
		case 'c':
			check = true;
			break;
		case 'l':
			level = hal_log_level_parse(optarg);
			if (level < 0) {
				fprintf(stderr,
					"%s: --log-level: unknown level \"%s\" (err, warn, info, debug)\n",
					argv[0], optarg);
				return 2;
			}
			hal_log_set_level((enum hal_log_level)level);
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\"\n", argv[0],
			argv[optind]);
		usage(stderr, argv[0]);
		return 2;
	}

	if (!boards_dir) {
		boards_dir = getenv("VIRTNET_BOARDS_DIR");
		if (!boards_dir || !boards_dir[0])
			boards_dir = DEFAULT_DIR;
	}

	if (board_load(boards_dir, board_name, &board, err, sizeof(err))) {
		HAL_ERR("virtnetd", "bad board: %s", err);
		return 1;
	}
	board_print(&board, stdout);
	fflush(stdout);

	if (check) {
		HAL_INFO("virtnetd", "board \"%s\" is valid", board.name);
		return 0;
	}

	HAL_WARN("virtnetd",
		 "the service (transports, devices, datapath) is not implemented yet; exiting after loading board \"%s\"",
		 board.name);
	return 0;
}
