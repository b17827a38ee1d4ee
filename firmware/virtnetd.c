/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtnetd — the virtnet service (DPU side).
 *
 * Today it loads and validates the board and the optional configuration
 * file, brings up DPDK's EAL with arguments derived from the board (the
 * user's pass-through arguments after "--" win), prints one line per
 * configured device, and waits for SIGTERM or SIGINT; then it shuts EAL
 * down and removes its runtime directory. Transports, the datapath and the
 * management channel are not there yet and it says so.
 *
 * Everything that can be checked without EAL (command line, board,
 * configuration, run directory) is checked before rte_eal_init(), so a
 * mistake costs nothing and leaves nothing behind.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "board.h"
#include "config.h"
#include "dp.h"
#include "hal_eswitch.h"
#include "hal_log.h"
#include "fn.h"
#include "vfu.h"
#include "vu.h"

#define COMP		"virtnetd"
#define DEFAULT_BOARD	"sim"
#define DEFAULT_DIR	"boards"
#define DEFAULT_RUN_DIR	"/run/virtnet"
/* EAL memory on a sim board (--no-huge -m): room for the mbuf pools of a
 * few devices; anonymous memory, touched only when used. */
#define SIM_EAL_MEM_MB	"256"
#define MAX_EAL_ARGS	64

struct settings {
	const char *board_name;
	const char *boards_dir;
	const char *config;		/* NULL: no devices at start */
	const char *run_dir;
	bool check;
	bool poll;			/* pure polling (benchmarks) */
	bool allow_unsealed;		/* accept front-end memory not sealed */
	int null_reps;			/* benchmarks: HAL_REP_NULL_*, 0: taps */
	enum hal_log_level log_level;
	int n_user_eal;			/* arguments after "--" */
	char **user_eal;
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [OPTIONS] [-- EAL-ARGS...]\n"
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
		"  -f, --config FILE      devices to create at start (JSON, see the README\n"
		"                         section \"virtnetd\"); default: none\n"
		"  -r, --run-dir DIR      where sockets and state go (default: the\n"
		"                         VIRTNET_RUN_DIR environment variable, else\n"
		"                         \"" DEFAULT_RUN_DIR "\"); created if missing; relative\n"
		"                         socket names in the config are files in it\n"
		"  -p, --poll             pure polling: datapath lcores never sleep\n"
		"                         (for benchmarks; default: adaptive polling)\n"
		"  -N, --null-representors=sink|source\n"
		"                         benchmarks: representors are net_null ports,\n"
		"                         not taps; they discard what they are sent and\n"
		"                         receive nothing (sink) or 64-byte frames as\n"
		"                         fast as they are read (source)\n"
		"  -U, --allow-unsealed   accept a front end's memory that is not sealed\n"
		"                         against shrinking and cannot be sealed (a front\n"
		"                         end truncating it would crash the service; only\n"
		"                         for front ends that cannot seal their memory)\n"
		"  -c, --check            validate the board (and the config, if given),\n"
		"                         print their summary and exit, without EAL (EAL\n"
		"                         arguments are accepted and not checked)\n"
		"  -l, --log-level LEVEL  err, warn, info (default) or debug; also sets\n"
		"                         EAL's global log level (error, warning, notice,\n"
		"                         info)\n"
		"  -h, --help             show this help and exit\n"
		"\n"
		"EAL arguments: everything after \"--\" goes to DPDK's rte_eal_init(), as\n"
		"with DPDK's own applications. virtnetd adds its defaults first, in groups;\n"
		"when your arguments contain any option of a group, virtnetd adds nothing\n"
		"from that group, so your arguments always win:\n"
		"  lcores       --lcores with lcore 0 (main) + the board's datapath_lcores,\n"
		"               one CPU each from the CPUs this process may run on\n"
		"               (0@c0,1@c1,...); with too few CPUs every lcore may run on\n"
		"               any of them ((0-N)@(cpus)).   [group: -l -c --lcores]\n"
		"  file prefix  --file-prefix=virtnetd-<pid>   [group: --file-prefix]\n"
		"  memory       sim boards only: --no-huge -m " SIM_EAL_MEM_MB "\n"
		"                               [group: -m --socket-mem --no-huge --huge-dir]\n"
		"  PCI          sim boards only: --no-pci\n"
		"                               [group: --no-pci -a -b --allow --block]\n"
		"  log level    --log-level=<from -l>; always added first, so a later\n"
		"               --log-level of yours overrides it\n"
		"Telemetry stays on (dpdk-telemetry.py -f virtnetd-<pid>). The EAL runtime\n"
		"directory (/var/run/dpdk/<prefix> for root) is removed at exit.\n"
		"\n"
		"virtnetd runs until SIGTERM or SIGINT and then shuts down cleanly.\n"
		"\n"
		"Exit status: 0 on a clean exit (or a valid --check), 1 if the board,\n"
		"the config or the run directory is bad or EAL fails, 2 on a usage error.\n"
		"\n"
		"Examples:\n"
		"  %s --check --config /etc/virtnet/virtnetd.json\n"
		"  %s --board sim --config cfg.json -- --file-prefix vn0 -l 0-1\n",
		prog, prog, prog);
}

/* --- settings ------------------------------------------------------------- */

/* 0 ok, 1 exit 0 (help), 2 usage error. */
static int parse_args(int argc, char **argv, struct settings *s)
{
	static const struct option opts[] = {
		{ "board", required_argument, NULL, 'b' },
		{ "boards-dir", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'f' },
		{ "run-dir", required_argument, NULL, 'r' },
		{ "poll", no_argument, NULL, 'p' },
		{ "allow-unsealed", no_argument, NULL, 'U' },
		{ "null-representors", required_argument, NULL, 'N' },
		{ "check", no_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool dashdash = false;
	int opt, level;

	memset(s, 0, sizeof(*s));
	s->board_name = DEFAULT_BOARD;
	s->log_level = HAL_LOG_INFO;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			dashdash = true;
	while ((opt = getopt_long(argc, argv, "b:d:f:r:pUN:cl:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			s->board_name = optarg;
			break;
		case 'd':
			s->boards_dir = optarg;
			break;
		case 'f':
			s->config = optarg;
			break;
		case 'r':
			if (!optarg[0]) {
				fprintf(stderr, "%s: --run-dir: empty directory name\n",
					argv[0]);
				return 2;
			}
			s->run_dir = optarg;
			break;
		case 'U':
			s->allow_unsealed = true;
			break;
		case 'N':
			if (!strcmp(optarg, "sink")) {
				s->null_reps = HAL_REP_NULL_SINK;
			} else if (!strcmp(optarg, "source")) {
				s->null_reps = HAL_REP_NULL_SOURCE;
			} else {
				fprintf(stderr, "%s: --null-representors: \"%s\" is not sink or source\n",
					argv[0], optarg);
				return 2;
			}
			break;
		case 'p':
			s->poll = true;
			break;
		case 'c':
			s->check = true;
			break;
		case 'l':
			level = hal_log_level_parse(optarg);
			if (level < 0) {
				fprintf(stderr,
					"%s: --log-level: unknown level \"%s\" (err, warn, info, debug)\n",
					argv[0], optarg);
				return 2;
			}
			s->log_level = (enum hal_log_level)level;
			hal_log_set_level(s->log_level);
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 1;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	/* getopt stops at "--" (and moves non-options before it, which we
	 * refuse): what follows is EAL's. */
	if (optind < argc && (!dashdash || strcmp(argv[optind - 1], "--") != 0)) {
		fprintf(stderr, "%s: unexpected argument \"%s\" (EAL arguments go after \"--\")\n",
			argv[0], argv[optind]);
		usage(stderr, argv[0]);
		return 2;
	}
	s->user_eal = argv + optind;
	s->n_user_eal = argc - optind;

	if (!s->boards_dir) {
		s->boards_dir = getenv("VIRTNET_BOARDS_DIR");
		if (!s->boards_dir || !s->boards_dir[0])
			s->boards_dir = DEFAULT_DIR;
	}
	if (!s->run_dir) {
		s->run_dir = getenv("VIRTNET_RUN_DIR");
		if (!s->run_dir || !s->run_dir[0])
			s->run_dir = DEFAULT_RUN_DIR;
	}
	return 0;
}

/* The run directory exists (we create its last component) and is a
 * directory we can write. */
static int prepare_run_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		HAL_ERR(COMP, "run directory %s: cannot create: %s", dir,
			strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0) {
		HAL_ERR(COMP, "run directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		HAL_ERR(COMP, "run directory %s: not a directory", dir);
		return -1;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		HAL_ERR(COMP, "run directory %s: not writable: %s", dir,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* --- EAL arguments ---------------------------------------------------------- */

struct eal_args {
	int argc;
	char *argv[MAX_EAL_ARGS + 1];
	char prefix[64];		/* the --file-prefix we chose, or "" */
	char lcores[512];
	char loglevel[32];
	char *owned[8];			/* strings to free */
	int n_owned;
};

/* Does the user's list contain option `name` ("-l", "--lcores"), as
 * "-l X", "-lX", "--lcores X" or "--lcores=X"? */
static bool user_has(const struct settings *s, const char *name)
{
	size_t n = strlen(name);
	bool is_long = name[1] == '-';

	for (int i = 0; i < s->n_user_eal; i++) {
		const char *a = s->user_eal[i];

		if (strncmp(a, name, n) != 0)
			continue;
		if (a[n] == '\0' || (is_long && a[n] == '=') ||
		    (!is_long && n == 2))
			return true;
	}
	return false;
}

static bool user_has_any(const struct settings *s, const char *const *names)
{
	for (; *names; names++)
		if (user_has(s, *names))
			return true;
	return false;
}

static int add_arg(struct eal_args *e, const char *a)
{
	if (e->argc >= MAX_EAL_ARGS) {
		HAL_ERR(COMP, "too many EAL arguments (at most %d with virtnetd's own)",
			MAX_EAL_ARGS);
		return -1;
	}
	e->argv[e->argc++] = (char *)a;
	e->argv[e->argc] = NULL;
	return 0;
}

/* "0-1,4" for a CPU set. */
static void cpus_str(const cpu_set_t *set, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE && o < len; c++) {
		int e = c;

		if (!CPU_ISSET(c, set))
			continue;
		while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, set))
			e++;
		if (e == c)
			o += (size_t)snprintf(buf + o, len - o, "%s%d",
					      o ? "," : "", c);
		else
			o += (size_t)snprintf(buf + o, len - o, "%s%d-%d",
					      o ? "," : "", c, e);
		c = e;
	}
}

/*
 * lcore 0 is the main lcore (the control thread for now), lcores 1..N the
 * datapath. With at least N+1 usable CPUs each lcore gets its own CPU;
 * with fewer (the sim's 2-CPU machine and a bigger board) every lcore may
 * run on every usable CPU and the kernel shares them out, which is what
 * adaptive polling is for.
 */
static int lcores_arg(const struct board *b, char *buf, size_t len,
		      bool *shared)
{
	unsigned nl = 1 + b->datapath_lcores;
	cpu_set_t set;
	int cpus[CPU_SETSIZE], ncpu = 0;
	size_t o;

	if (nl > RTE_MAX_LCORE) {
		HAL_ERR(COMP, "board \"%s\" wants %u lcores; this DPDK has at most %d",
			b->name, nl, RTE_MAX_LCORE);
		return -1;
	}
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) < 0) {
		HAL_ERR(COMP, "sched_getaffinity: %s", strerror(errno));
		return -1;
	}
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			cpus[ncpu++] = c;
	if (ncpu == 0) {
		HAL_ERR(COMP, "no CPU to run on");
		return -1;
	}
	*shared = (unsigned)ncpu < nl;
	o = (size_t)snprintf(buf, len, "--lcores=");
	if (*shared) {
		char list[256];

		cpus_str(&set, list, sizeof(list));
		snprintf(buf + o, len - o, "(0-%u)@(%s)", nl - 1, list);
		return 0;
	}
	for (unsigned i = 0; i < nl && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%u@%d",
				      i ? "," : "", i, cpus[i]);
	if (o >= len) {
		HAL_ERR(COMP, "lcore list too long");
		return -1;
	}
	return 0;
}

static const char *eal_log_level(enum hal_log_level l)
{
	switch (l) {
	case HAL_LOG_ERR:
		return "error";
	case HAL_LOG_WARN:
		return "warning";
	case HAL_LOG_INFO:
		return "notice";	/* EAL's info is a page of detail */
	case HAL_LOG_DEBUG:
		return "info";
	}
	return "notice";
}

static int build_eal_args(const struct settings *s, const struct board *b,
			  const char *prog, struct eal_args *e, bool *shared)
{
	static const char *const g_lcores[] = { "-l", "-c", "--lcores", NULL };
	static const char *const g_prefix[] = { "--file-prefix", NULL };
	static const char *const g_mem[] = { "-m", "--socket-mem", "--no-huge",
					     "--huge-dir", NULL };
	static const char *const g_pci[] = { "--no-pci", "-a", "-b", "--allow",
					     "--block", NULL };
	bool sim = b->eswitch == BOARD_ESWITCH_SIM;

	memset(e, 0, sizeof(*e));
	*shared = false;
	if (add_arg(e, prog))
		return -1;

	snprintf(e->loglevel, sizeof(e->loglevel), "--log-level=%s",
		 eal_log_level(s->log_level));
	if (add_arg(e, e->loglevel))
		return -1;
	if (!user_has_any(s, g_lcores)) {
		if (lcores_arg(b, e->lcores, sizeof(e->lcores), shared) ||
		    add_arg(e, e->lcores))
			return -1;
	}
	if (!user_has_any(s, g_prefix)) {
		snprintf(e->prefix, sizeof(e->prefix), "virtnetd-%ld",
			 (long)getpid());
		if (add_arg(e, "--file-prefix") || add_arg(e, e->prefix))
			return -1;
	}
	if (sim && !user_has_any(s, g_mem)) {
		if (add_arg(e, "--no-huge") || add_arg(e, "-m") ||
		    add_arg(e, SIM_EAL_MEM_MB))
			return -1;
	}
	if (sim && !user_has_any(s, g_pci) && add_arg(e, "--no-pci"))
		return -1;
	for (int i = 0; i < s->n_user_eal; i++)
		if (add_arg(e, s->user_eal[i]))
			return -1;
	return 0;
}

/* --- the EAL runtime directory ------------------------------------------------ */

/*
 * After rte_eal_cleanup() the primary's runtime directory still holds the
 * shared config, fbarray and socket files (kept for secondary processes):
 * remove the files and the directory. Called only for the runtime
 * directory of a primary process (or one with our own unique prefix), and
 * it removes only the files directly in it.
 */
static void remove_runtime_dir(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (!dir[0])
		return;
	d = opendir(dir);
	if (!d) {
		if (errno != ENOENT)
			HAL_WARN(COMP, "runtime directory %s: %s", dir,
				 strerror(errno));
		return;
	}
	fd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, de->d_name, 0) < 0)
			HAL_WARN(COMP, "cannot remove %s/%s: %s", dir, de->d_name,
				 strerror(errno));
	}
	closedir(d);
	if (rmdir(dir) < 0)
		HAL_WARN(COMP, "cannot remove runtime directory %s: %s", dir,
			 strerror(errno));
}

/* The runtime directory EAL made, if it is ours to remove. */
static void eal_runtime_dir(char *buf, size_t len)
{
	const char *dir = rte_eal_get_runtime_dir();

	buf[0] = '\0';
	if (dir && dir[0] && strstr(dir, "/dpdk/"))
		snprintf(buf, len, "%s", dir);
}

/* --- main ----------------------------------------------------------------------- */

static int load_config(const struct settings *s, const struct board *b,
		       struct vcfg *cfg)
{
	char err[512];

	memset(cfg, 0, sizeof(*cfg));
	if (!s->config)
		return 0;
	if (vcfg_load(s->config, b, cfg, err, sizeof(err)) ||
	    vcfg_resolve_sockets(cfg, s->config, s->run_dir, err, sizeof(err))) {
		vcfg_free(cfg);
		HAL_ERR(COMP, "bad config: %s", err);
		return -1;
	}
	return 0;
}

static void print_devices(const struct vcfg *cfg, FILE *f)
{
	char line[1024];

	for (unsigned i = 0; i < cfg->n; i++) {
		vcfg_dev_summary(&cfg->dev[i], line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
	fflush(f);
}

/* ---- the service ------------------------------------------------------------- */

/* SIGTERM / SIGINT (blocked in every thread, read from a signalfd). */
static void on_signal(struct ev_loop *loop, ev_io *w, int revents)
{
	struct signalfd_siginfo si;

	(void)revents;
	if (read(w->fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	HAL_INFO(COMP, "%s from pid %u: shutting down", strsignal((int)si.ssi_signo),
		 si.ssi_pid);
	ev_break(loop, EVBREAK_ALL);
}

/*
 * Run the service until a stop signal: the mbuf pool, the RCU variable of
 * the datapath lcores, the lcores themselves, every configured function,
 * the control thread's event loop. Tears it all down again. 0, or -1 when
 * something could not be set up (said in the log).
 */
static int serve(const struct settings *s, const struct board *b,
		 const struct vcfg *cfg, const sigset_t *stop)
{
	unsigned n_lcores = rte_lcore_count() - 1;
	struct rte_mempool *mp = NULL, *mp_jumbo = NULL;
	struct rte_rcu_qsbr *qsbr = NULL;
	uint16_t max_mtu = 0;
	struct vu_fn **fns = calloc(cfg->n ? cfg->n : 1, sizeof(*fns));
	struct vfu_fn **vfns = calloc(cfg->n ? cfg->n : 1, sizeof(*vfns));
	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
	bool dp_up = false;
	int sfd = -1, rc = -1;
	ev_io sw;
	char err[512];

	if (!fns || !vfns || !loop) {
		HAL_ERR(COMP, "no memory for the service");
		goto out;
	}
	if (n_lcores == 0) {
		HAL_ERR(COMP, "no datapath lcore: give EAL at least two lcores");
		goto out;
	}
	mp = rte_pktmbuf_pool_create("virtnetd_mbuf", 8191 + 4096 * cfg->n, 256, 0,
				     RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	/* Representors with an MTU above 1500 receive a frame per buffer:
	 * a pool of big ones, only when a device needs them (VFs have their
	 * PF's MTU). */
	for (unsigned i = 0; i < cfg->n; i++)
		if (cfg->dev[i].params.mtu > max_mtu)
			max_mtu = cfg->dev[i].params.mtu;
	if (max_mtu > RTE_ETHER_MTU && !s->null_reps) {
		mp_jumbo = rte_pktmbuf_pool_create("virtnetd_jumbo", 2047, 64, 0,
						   hal_rep_buf_size(max_mtu),
						   (int)rte_socket_id());
		if (!mp_jumbo) {
			HAL_ERR(COMP, "cannot allocate the jumbo mbuf pool (MTU %u): %s",
				max_mtu, rte_strerror(rte_errno));
			goto out;
		}
	}
	size_t qsz = rte_rcu_qsbr_get_memsize(n_lcores);
	qsbr = rte_zmalloc("virtnetd_qsbr", qsz, RTE_CACHE_LINE_SIZE);
	if (!mp || !qsbr || rte_rcu_qsbr_init(qsbr, n_lcores)) {
		HAL_ERR(COMP, "cannot allocate the mbuf pool / RCU variable: %s",
			rte_strerror(rte_errno));
		goto out;
	}
	struct dp_cfg dc = { .n_lcores = n_lcores, .poll = s->poll, .mp = mp, .qsbr = qsbr };
	if (dp_start(&dc)) {
		HAL_ERR(COMP, "cannot start the datapath lcores");
		goto out;
	}
	dp_up = true;

	struct fn_env env = {
		.loop = loop, .mp = mp, .mp_jumbo = mp_jumbo, .qsbr = qsbr,
		.n_lcores = n_lcores,
		.require_sealed = !s->allow_unsealed, .poll = s->poll,
		.null_representors = s->null_reps,
	};
	for (unsigned i = 0; i < cfg->n; i++) {
		const struct vcfg_dev *cd = &cfg->dev[i];

		if (cd->transport == BOARD_TRANSPORT_VFIO_USER) {
			vfns[i] = vfu_create(&env, b, cd, i, err, sizeof(err));
			if (!vfns[i]) {
				HAL_ERR(COMP, "%s", err);
				goto out;
			}
			continue;
		}
		if (cd->transport != BOARD_TRANSPORT_VHOST_USER) {
			HAL_WARN(COMP, "%s: transport %s is not implemented yet: not created",
				 cd->name, board_transport_name(cd->transport));
			continue;
		}
		fns[i] = vu_create(&env, b, cd, i, err, sizeof(err));
		if (!fns[i]) {
			HAL_ERR(COMP, "%s", err);
			goto out;
		}
	}

	sfd = signalfd(-1, stop, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		HAL_ERR(COMP, "signalfd: %s", strerror(errno));
		goto out;
	}
	ev_io_init(&sw, on_signal, sfd, EV_READ);
	ev_io_start(loop, &sw);
	HAL_INFO(COMP, "serving: %u datapath lcore%s, %s polling", n_lcores,
		 n_lcores == 1 ? "" : "s", s->poll ? "pure" : "adaptive");
	ev_run(loop, 0);
	ev_io_stop(loop, &sw);
	rc = 0;
out:
	for (unsigned i = 0; fns && i < cfg->n; i++)
		vu_destroy(fns[i]);
	for (unsigned i = 0; vfns && i < cfg->n; i++)
		vfu_destroy(vfns[i]);
	free(fns);
	free(vfns);
	if (dp_up)
		dp_stop();
	if (sfd >= 0)
		close(sfd);
	rte_mempool_free(mp);
	rte_mempool_free(mp_jumbo);
	rte_free(qsbr);
	return rc;
}

int main(int argc, char **argv)
{
	struct settings s;
	struct board board;
	struct vcfg cfg;
	struct eal_args eal;
	char err[512], rundir[PATH_MAX];
	sigset_t stop;
	bool shared;
	int rc, status = 0;

	rc = parse_args(argc, argv, &s);
	if (rc)
		return rc == 1 ? 0 : 2;

	if (board_load(s.boards_dir, s.board_name, &board, err, sizeof(err))) {
		HAL_ERR(COMP, "bad board: %s", err);
		return 1;
	}
	if (load_config(&s, &board, &cfg))
		return 1;
	board_print(&board, stdout);
	print_devices(&cfg, stdout);

	if (s.check) {
		if (s.config)
			HAL_INFO(COMP, "board \"%s\" and config %s (%u device%s) are valid",
				 board.name, s.config, cfg.n, cfg.n == 1 ? "" : "s");
		else
			HAL_INFO(COMP, "board \"%s\" is valid", board.name);
		if (s.n_user_eal)
			HAL_INFO(COMP, "--check: the %d EAL argument%s not checked",
				 s.n_user_eal, s.n_user_eal == 1 ? " is" : "s are");
		vcfg_free(&cfg);
		return 0;
	}

	if (prepare_run_dir(s.run_dir) ||
	    build_eal_args(&s, &board, argv[0], &eal, &shared)) {
		vcfg_free(&cfg);
		return 1;
	}
	if (shared)
		HAL_WARN(COMP, "fewer CPUs than lcores (1 main + %u datapath): the lcores share the CPUs",
			 board.datapath_lcores);

	/* Block the stop signals before EAL starts its threads, so that
	 * every thread inherits the mask and only signalfd sees them. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &stop, NULL)) {
		HAL_ERR(COMP, "cannot block SIGTERM/SIGINT");
		vcfg_free(&cfg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);

	if (hal_log_get_level() >= HAL_LOG_DEBUG) {
		char line[1024];
		size_t o = 0;

		for (int i = 1; i < eal.argc && o < sizeof(line); i++)
			o += (size_t)snprintf(line + o, sizeof(line) - o, " %s",
					      eal.argv[i]);
		HAL_DEBUG(COMP, "EAL arguments:%s", line);
	}
	rc = rte_eal_init(eal.argc, eal.argv);
	if (rc < 0) {
		int e = rte_errno;

		HAL_ERR(COMP, "EAL initialisation failed: %s", rte_strerror(e));
		/* A failure after EAL made its runtime directory leaves it. */
		eal_runtime_dir(rundir, sizeof(rundir));
		if (eal.prefix[0] && strstr(rundir, eal.prefix))
			remove_runtime_dir(rundir);
		vcfg_free(&cfg);
		return 1;
	}
	/* A secondary process (--proc-type, passed through) shares the
	 * primary's directory: never remove that one. */
	if (rte_eal_process_type() == RTE_PROC_PRIMARY)
		eal_runtime_dir(rundir, sizeof(rundir));
	else
		rundir[0] = '\0';
	if (rc + 1 < eal.argc) {
		HAL_ERR(COMP, "not an EAL argument: \"%s\"", eal.argv[rc + 1]);
		status = 2;
		goto out;
	}

	HAL_INFO(COMP,
		 "up: board %s, %u lcores (main %u + %u datapath), %s polling, EAL runtime dir %s, run dir %s, %u device%s",
		 board.name, rte_lcore_count(), rte_get_main_lcore(),
		 rte_lcore_count() - 1, s.poll ? "pure" : "adaptive",
		 rundir[0] ? rundir : "(none)", s.run_dir, cfg.n,
		 cfg.n == 1 ? "" : "s");
	if (serve(&s, &board, &cfg, &stop))
		status = 1;
out:
	if (rte_eal_cleanup() < 0) {
		HAL_ERR(COMP, "EAL cleanup failed: %s", rte_strerror(rte_errno));
		status = status ? status : 1;
	}
	remove_runtime_dir(rundir);
	vcfg_free(&cfg);
	if (status == 0)
		HAL_INFO(COMP, "stopped");
	return status;
}
