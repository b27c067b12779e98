/* vce: run course containers (OCI / Docker images) without Docker. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../runtime.h"

#include "../../common/banned.h"

#ifndef VCE_VERSION
#define VCE_VERSION "0.1.0-dev"
#endif

#define USAGE_MARK "\x01usage\x01"

struct verb {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv, vce_err *err);
	const char *summary;
};

static const struct verb verbs[] = {
	{ "run", cmd_run, "Run a command in a new container (-d: in the background)" },
	{ "create", cmd_create, "Create a container without starting it" },
	{ "start", cmd_start, "Start stopped containers" },
	{ "stop", cmd_stop, "Stop running containers" },
	{ "restart", cmd_restart, "Stop and start containers" },
	{ "kill", cmd_kill, "Send a signal to running containers" },
	{ "rm", cmd_rm, "Remove containers" },
	{ "ps", cmd_ps, "List containers" },
	{ "logs", cmd_logs, "Show what a container printed" },
	{ "exec", cmd_exec, "Run a command in a running container" },
	{ "wait", cmd_wait, "Wait for containers to stop; print their exit codes" },
	{ "rename", cmd_rename, "Rename a container" },
	{ "stats", cmd_stats, "Memory, CPU and processes of running containers" },
	{ "container prune", cmd_container_prune, "Remove every stopped container" },
	{ "container inspect", cmd_container_inspect, "Show containers as JSON" },
	{ "image inspect", cmd_image_inspect, "Show images as JSON" },
	{ "pull", cmd_pull, "Download an image from a registry" },
	{ "login", cmd_login, "Log in to a registry" },
	{ "logout", cmd_logout, "Log out of a registry" },
	{ "load", cmd_load, "Load images from a docker-archive, OCI archive or OCI layout" },
	{ "save", cmd_save, "Save images to a docker-archive or OCI archive" },
	{ "images", cmd_images, "List images" },
	{ "tag", cmd_tag, "Give an image another name" },
	{ "rmi", cmd_rmi, "Remove images" },
	{ "inspect", cmd_inspect, "Show containers or images as JSON" },
	{ "port", cmd_port, "Show the host ports a container is published on" },
	{ "system", cmd_system, "Show disk usage (vce system df)" },
	{ "image prune", cmd_image_prune, "Remove unnamed or unused images and their layers" },
};

/* `vce image ls|rm|inspect|load|save|tag` as docker spells them too. */
struct alias {
	const char *sub, *verb;
};

static const struct alias image_aliases[] = {
	{ "ls", "images" }, { "list", "images" }, { "rm", "rmi" },  { "inspect", "image inspect" },
	{ "load", "load" }, { "save", "save" },	  { "tag", "tag" }, { "prune", "image prune" },
	{ "pull", "pull" },
};

/* `vce container ls|ps|rm|start|...` as docker spells them too. */
static const struct alias container_aliases[] = {
	{ "ls", "ps" },
	{ "list", "ps" },
	{ "ps", "ps" },
	{ "run", "run" },
	{ "create", "create" },
	{ "start", "start" },
	{ "stop", "stop" },
	{ "restart", "restart" },
	{ "kill", "kill" },
	{ "rm", "rm" },
	{ "logs", "logs" },
	{ "exec", "exec" },
	{ "wait", "wait" },
	{ "rename", "rename" },
	{ "stats", "stats" },
	{ "prune", "container prune" },
	{ "inspect", "container inspect" },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vce [--root DIR] [--verbose] COMMAND [ARGS...]\n\n"
		"Run course containers (OCI and Docker images) without Docker.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(out, "  %-12s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(out, "\nGlobal options:\n"
		     "  --root DIR   the image store (default /var/lib/vce as root,\n"
		     "               ~/.local/share/vce otherwise; also VCE_ROOT)\n"
		     "  --verbose    say more about what is done\n"
		     "  --version    print the version\n\n"
		     "Run 'vce COMMAND --help' for a command's options.\n");
}

int cli_store(struct cli *cli, oci_store **out, vce_err *err)
{
	if (cli->store == NULL) {
		cleanup_free char *root = cli->root ? xstrdup(cli->root) : oci_store_default_root();
		if (root[0] != '/') {
			cleanup_free char *cwd = get_current_dir_name();
			char *abs = xasprintf("%s/%s", cwd ? cwd : ".", root);
			free(root);
			root = abs;
		}
		if (oci_store_open(root, &cli->store, err) < 0)
			return -1;
	}
	*out = cli->store;
	return 0;
}

int cli_usage_error(vce_err *err, const char *verb, const char *fmt, ...)
{
	va_list ap;
	cleanup_free char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	return vce_error_make(err, 0, "%s%s (see 'vce %s --help')", USAGE_MARK, msg, verb);
}

bool cli_is_usage_error(const vce_error *err)
{
	return strncmp(err->msg, USAGE_MARK, strlen(USAGE_MARK)) == 0;
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

/* `vce image SUB` / `vce container SUB`: the verb SUB stands for. */
static const char *alias(const char *name, const struct alias *table, size_t n, int *argc,
			 char ***argv)
{
	for (size_t i = 0; *argc > 1 && i < n; i++) {
		if (strcmp((*argv)[1], table[i].sub) == 0) {
			(*argc)--;
			(*argv)++;
			return table[i].verb;
		}
	}
	return name;
}

static const struct verb *find_verb(int *argc, char ***argv)
{
	const char *name = (*argv)[0];

	if (strcmp(name, "image") == 0)
		name = alias(name, image_aliases, sizeof(image_aliases) / sizeof(*image_aliases),
			     argc, argv);
	else if (strcmp(name, "container") == 0)
		name = alias(name, container_aliases,
			     sizeof(container_aliases) / sizeof(*container_aliases), argc, argv);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(name, verbs[i].name) == 0)
			return &verbs[i];
	return NULL;
}

static int report(vce_err err)
{
	cleanup_free char *text = vce_error_text(err);
	const char *msg = text;
	bool usage_error = cli_is_usage_error(err);

	if (usage_error)
		msg += strlen(USAGE_MARK);
	fprintf(stderr, "vce: %s\n", msg);
	vce_error_release(&err);
	return usage_error ? CLI_USAGE : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'V' },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = { 0 };
	const struct verb *verb;
	vce_err err = NULL;
	int c, ret;

	/* A detached container's supervisor: nothing of the CLI, so that it
	 * stays small (see runtime/supervisor.c). */
	if (argc > 1 && strcmp(argv[1], "__supervise") == 0)
		return rt_supervise_main(argc, argv);
	/* Image file names are UTF-8 bytes: libarchive must not try to turn
	 * them into another charset. */
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
		setlocale(LC_CTYPE, "");
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			cli.root = optarg;
			break;
		case 'V':
			vce_verbosity++;
			break;
		case 'v':
			printf("vce version %s\n", VCE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return CLI_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[0], "version") == 0) {
		printf("vce version %s\n", VCE_VERSION);
		return 0;
	}
	if (strcmp(argv[0], "help") == 0) {
		usage(stdout);
		return 0;
	}
	verb = find_verb(&argc, &argv);
	if (verb == NULL) {
		fprintf(stderr, "vce: unknown command \"%s\": run 'vce --help' for the list\n",
			argv[0]);
		return CLI_USAGE;
	}
	optind = 0; /* each verb parses its own options afresh */
	ret = verb->run(&cli, argc, argv, &err);
	oci_store_close(cli.store);
	if (ret < 0) {
		int code = report(err);
		return cli.exit_code ? cli.exit_code : code;
	}
	return cli.exit_code;
}
