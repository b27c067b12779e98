/* The lifecycle verbs: ps, start, stop, restart, kill, rm, wait, rename,
 * container prune, stats. Each one a thin layer on runtime/. */
#define _GNU_SOURCE
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#include "../../common/banned.h"
#include "../../common/json.h"
#include "../runtime.h"

/* Runs fn on each name given; every name is tried, the first error is
 * returned (as docker does for stop a b c). */
static int each_name(struct cli *cli, int first, int argc, char **argv, bool print,
		     int (*fn)(oci_store *store, const char *ref, void *ctx, vce_err *err),
		     void *ctx, vce_err *err)
{
	oci_store *store;
	int ret = 0;

	if (cli_store(cli, &store, err) < 0)
		return -1;
	for (int i = first; i < argc; i++) {
		vce_err one = NULL;
		if (fn(store, argv[i], ctx, &one) < 0) {
			if (ret == 0) {
				*err = one;
				ret = -1;
			} else {
				cleanup_free char *text = vce_error_text(one);
				fprintf(stderr, "vce: %s\n", text);
				vce_error_release(&one);
			}
			continue;
		}
		if (print)
			printf("%s\n", argv[i]);
	}
	return ret;
}

static int need_names(int argc, const char *verb, vce_err *err)
{
	if (optind >= argc)
		return cli_usage_error(err, verb, "name at least one container");
	return 0;
}

/* ---- start, stop, restart, kill ---- */

static int start_one(oci_store *store, const char *ref, void *ctx, vce_err *err)
{
	(void)ctx;
	return rt_start(store, ref, err);
}

static int attach_one(struct cli *cli, oci_store *store, const char *ref, vce_err *err)
{
	rt_logs_options lo = { .follow = true, .tail = -1 };
	int code;

	/* Attached: the output as it comes, then the exit code. */
	if (rt_start(store, ref, err) < 0 || rt_logs(store, ref, &lo, err) < 0 ||
	    rt_wait(store, ref, &code, err) < 0)
		return -1;
	cli->exit_code = code;
	return 0;
}

int cmd_start(struct cli *cli, int argc, char **argv, vce_err *err)
{
	static const struct option opts[] = { { "attach", no_argument, NULL, 'a' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	bool attach = false;
	int c;

	while ((c = getopt_long(argc, argv, "+a", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs("Usage: vce start [-a] CONTAINER...\n\nStart stopped containers in "
			      "the background (-a: show the output and wait for the exit).\n",
			      stdout);
			return 0;
		}
		if (c != 'a')
			return cli_usage_error(err, "start", "bad option");
		attach = true;
	}
	if (need_names(argc, "start", err) < 0)
		return -1;
	if (attach) {
		oci_store *store;
		if (optind + 1 != argc)
			return cli_usage_error(err, "start", "-a takes one container");
		if (cli_store(cli, &store, err) < 0)
			return -1;
		return attach_one(cli, store, argv[optind], err);
	}
	return each_name(cli, optind, argc, argv, true, start_one, NULL, err);
}

static int stop_one(oci_store *store, const char *ref, void *ctx, vce_err *err)
{
	return rt_stop(store, ref, *(int *)ctx, err);
}

static int restart_one(oci_store *store, const char *ref, void *ctx, vce_err *err)
{
	if (rt_stop(store, ref, *(int *)ctx, err) < 0)
		return -1;
	return rt_start(store, ref, err);
}

static int stop_or_restart(struct cli *cli, int argc, char **argv, bool restart, vce_err *err)
{
	static const struct option opts[] = { { "time", required_argument, NULL, 't' },
					      { "timeout", required_argument, NULL, 't' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	const char *verb = restart ? "restart" : "stop";
	int timeout = 10, c;
	char *end;

	while ((c = getopt_long(argc, argv, "+t:", opts, NULL)) != -1) {
		if (c == 'h') {
			printf("Usage: vce %s [-t SECONDS] CONTAINER...\n\n%s: the image's "
			       "StopSignal (else SIGTERM), then SIGKILL after -t seconds (10).\n",
			       verb, restart ? "Stop and start again" : "Stop running containers");
			return 0;
		}
		if (c != 't')
			return cli_usage_error(err, verb, "bad option");
		timeout = (int)strtol(optarg, &end, 10);
		if (*end || end == optarg || timeout < -1)
			return cli_usage_error(err, verb, "-t takes a number of seconds");
	}
	if (need_names(argc, verb, err) < 0)
		return -1;
	return each_name(cli, optind, argc, argv, true, restart ? restart_one : stop_one, &timeout,
			 err);
}

int cmd_stop(struct cli *cli, int argc, char **argv, vce_err *err)
{
	return stop_or_restart(cli, argc, argv, false, err);
}

int cmd_restart(struct cli *cli, int argc, char **argv, vce_err *err)
{
	return stop_or_restart(cli, argc, argv, true, err);
}

static int kill_one(oci_store *store, const char *ref, void *ctx, vce_err *err)
{
	return rt_kill(store, ref, *(int *)ctx, err);
}

int cmd_kill(struct cli *cli, int argc, char **argv, vce_err *err)
{
	static const struct option opts[] = { { "signal", required_argument, NULL, 's' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int sig = SIGKILL, c;

	while ((c = getopt_long(argc, argv, "+s:", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs("Usage: vce kill [-s SIGNAL] CONTAINER...\n\nSend a signal (default "
			      "KILL) to running containers.\n",
			      stdout);
			return 0;
		}
		if (c != 's')
			return cli_usage_error(err, "kill", "bad option");
		sig = rt_signal_number(optarg);
		if (sig < 0)
			return cli_usage_error(err, "kill", "unknown signal \"%s\"", optarg);
	}
	if (need_names(argc, "kill", err) < 0)
		return -1;
	return each_name(cli, optind, argc, argv, true, kill_one, &sig, err);
}

/* ---- rm, wait, rename ---- */

static int rm_one(oci_store *store, const char *ref, void *ctx, vce_err *err)
{
	return rt_remove(store, ref, *(bool *)ctx, err);
}

int cmd_rm(struct cli *cli, int argc, char **argv, vce_err *err)
{
	static const struct option opts[] = { { "force", no_argument, NULL, 'f' },
					      { "volumes", no_argument, NULL, 'v' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	bool force = false;
	int c;

	while ((c = getopt_long(argc, argv, "+fv", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs("Usage: vce rm [-f] [-v] CONTAINER...\n\nRemove containers and "
			      "everything written inside them; bind-mounted host folders stay.\n"
			      "  -f, --force     kill a running container first\n"
			      "  -v, --volumes   docker's flag, accepted: vce keeps no volumes "
			      "apart from a container\n",
			      stdout);
			return 0;
		}
		if (c == 'f')
			force = true;
		else if (c != 'v')
			return cli_usage_error(err, "rm", "bad option");
	}
	if (need_names(argc, "rm", err) < 0)
		return -1;
	return each_name(cli, optind, argc, argv, true, rm_one, &force, err);
}

static int wait_one(oci_store *store, const char *ref, void *ctx, vce_err *err)
{
	int code;
	(void)ctx;
	if (rt_wait(store, ref, &code, err) < 0)
		return -1;
	printf("%d\n", code);
	return 0;
}

int cmd_wait(struct cli *cli, int argc, char **argv, vce_err *err)
{
	if (cli_wants_help(argc, argv)) {
		fputs("Usage: vce wait CONTAINER...\n\nWait for containers to stop and print "
		      "their exit codes.\n",
		      stdout);
		return 0;
	}
	optind = 1;
	if (need_names(argc, "wait", err) < 0)
		return -1;
	return each_name(cli, 1, argc, argv, false, wait_one, NULL, err);
}

int cmd_rename(struct cli *cli, int argc, char **argv, vce_err *err)
{
	oci_store *store;

	if (cli_wants_help(argc, argv)) {
		fputs("Usage: vce rename CONTAINER NEW_NAME\n", stdout);
		return 0;
	}
	if (argc != 3)
		return cli_usage_error(err, "rename", "give the container and its new name");
	if (cli_store(cli, &store, err) < 0)
		return -1;
	return rt_rename(store, argv[1], argv[2], err);
}
