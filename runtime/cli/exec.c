/* vce exec and vce logs. */
#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#include "../../common/banned.h"
#include "../runtime.h"

static const char exec_help[] =
    "Usage: vce exec [OPTIONS] CONTAINER COMMAND [ARG...]\n\n"
    "Run a command in a running container, as docker exec does:\n\n"
    "  -i, --interactive      keep standard input open\n"
    "  -t, --tty              give the command a terminal\n"
    "  -u, --user USER[:GROUP]  user to run as (default: the container's)\n"
    "  -w, --workdir DIR      working directory\n"
    "  -e, --env KEY=VALUE    set an environment variable\n"
    "      --privileged       every capability, no seccomp\n"
    "  -d, --detach           not supported: vce exec waits for the command\n";

int cmd_exec(struct cli *cli, int argc, char **argv, vce_err *err)
{
	static const struct option opts[] = {
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "user", required_argument, NULL, 'u' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "env", required_argument, NULL, 'e' },
		{ "privileged", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	rt_exec_options e = { 0 };
	oci_store *store;
	int c, ret, code = 125;

	while ((c = getopt_long(argc, argv, "+itu:w:e:", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			e.interactive = true;
			break;
		case 't':
			e.tty = true;
			break;
		case 'u':
			e.user = optarg;
			break;
		case 'w':
			e.workdir = optarg;
			break;
		case 'e':
			vce_strv_push(&e.env, &e.n_env, xstrdup(optarg));
			break;
		case 'P':
			e.privileged = true;
			break;
		case 'h':
			fputs(exec_help, stdout);
			vce_strv_free(e.env, e.n_env);
			return 0;
		default:
			vce_strv_free(e.env, e.n_env);
			return cli_usage_error(err, "exec", "bad option");
		}
	}
	if (argc - optind < 2) {
		vce_strv_free(e.env, e.n_env);
		return cli_usage_error(err, "exec", "give a container and a command");
	}
	if (e.tty && e.interactive && !isatty(STDIN_FILENO)) {
		vce_strv_free(e.env, e.n_env);
		return vce_error_make(err, 0,
				      "the input device is not a TTY: leave out -t, or run vce "
				      "from a terminal");
	}
	e.argv = argv + optind + 1;
	e.n_argv = (size_t)(argc - optind - 1);
	ret = cli_store(cli, &store, err);
	if (ret == 0)
		ret = rt_exec(store, argv[optind], &e, &code, err);
	vce_strv_free(e.env, e.n_env);
	cli->exit_code = ret < 0 && *err && cli_is_usage_error(*err) ? 0 : code;
	return ret;
}

int cmd_logs(struct cli *cli, int argc, char **argv, vce_err *err)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "tail", required_argument, NULL, 'n' },
		{ "timestamps", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	rt_logs_options lo = { .tail = -1 };
	oci_store *store;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "+fn:t", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			lo.follow = true;
			break;
		case 't':
			lo.timestamps = true;
			break;
		case 'n':
			if (strcmp(optarg, "all") == 0) {
				lo.tail = -1;
				break;
			}
			lo.tail = strtol(optarg, &end, 10);
			if (*end || end == optarg || lo.tail < 0)
				return cli_usage_error(err, "logs",
						       "--tail takes a number of lines, or all");
			break;
		case 'h':
			fputs("Usage: vce logs [-f] [--tail N] [-t] CONTAINER\n\nShow what a "
			      "detached container printed.\n"
			      "  -f, --follow       go on printing until the container stops\n"
			      "  -n, --tail N       only the last N lines\n"
			      "  -t, --timestamps   the time of each line\n",
			      stdout);
			return 0;
		default:
			return cli_usage_error(err, "logs", "bad option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(err, "logs", "name one container");
	if (cli_store(cli, &store, err) < 0)
		return -1;
	return rt_logs(store, argv[optind], &lo, err);
}
