#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#include "../../common/banned.h"
#include "../runtime.h"

static const char help[] =
    "Usage: vce run [OPTIONS] IMAGE [COMMAND [ARG...]]\n\n"
    "Run a command in a new container, in the foreground. Options as docker run:\n\n"
    "  --rm                     remove the container when it exits\n"
    "  --name NAME              name the container\n"
    "  -e, --env KEY=VALUE      set an environment variable (KEY alone: vce's value)\n"
    "      --env-file FILE      read KEY=VALUE lines from a file\n"
    "  -v, --volume HOST:CTR[:ro]  bind-mount a host folder (created if missing)\n"
    "      --mount type=bind,source=HOST,target=CTR[,readonly]\n"
    "      --mount type=tmpfs,target=CTR[,tmpfs-size=N]\n"
    "      --tmpfs CTR[:size=N]  mount a tmpfs\n"
    "  -w, --workdir DIR        working directory in the container\n"
    "  -u, --user USER[:GROUP]  user to run as (name or number)\n"
    "      --entrypoint CMD     replace the image's entrypoint (\"\" clears it)\n"
    "  -h, --hostname NAME      the container's hostname\n"
    "      --read-only          mount the container's root read-only\n"
    "  -i, --interactive        keep standard input open\n"
    "  -t, --tty                give the command a terminal\n"
    "      --cap-add CAP, --cap-drop CAP   change the capabilities (or ALL)\n"
    "      --security-opt seccomp=unconfined|FILE.json, no-new-privileges\n"
    "      --privileged         every capability, no seccomp, no masked paths\n"
    "      --init, --no-init    vce's init as pid 1 (the default), or the command\n"
    "      --userns keep-id|host   the student mapping as root too, or none\n";

enum {
	OPT_RM = 256,
	OPT_NAME,
	OPT_ENV_FILE,
	OPT_MOUNT,
	OPT_TMPFS,
	OPT_ENTRYPOINT,
	OPT_READ_ONLY,
	OPT_CAP_ADD,
	OPT_CAP_DROP,
	OPT_SECURITY_OPT,
	OPT_PRIVILEGED,
	OPT_INIT,
	OPT_NO_INIT,
	OPT_USERNS,
	OPT_HELP,
};

static int read_env_file(rt_options *o, const char *path, vce_err *err)
{
	cleanup_free char *text = NULL;
	char *save = NULL;
	size_t len;

	if (vce_read_host_file(path, 1 << 20, &text, &len, err) < 0)
		return vce_error_wrap(err, "--env-file");
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		line += strspn(line, " \t");
		line[strcspn(line, "\r")] = '\0';
		if (*line == '#' || *line == '\0')
			continue;
		vce_strv_push(&o->env, &o->n_env, xstrdup(line));
	}
	return 0;
}

static int add_mount(rt_options *o, int kind, const char *spec, vce_err *err)
{
	rt_mount m;
	int ret = kind == 'v'	      ? rt_parse_volume(spec, &m, err)
		  : kind == OPT_MOUNT ? rt_parse_mount(spec, &m, err)
				      : rt_parse_tmpfs(spec, &m, err);
	if (ret < 0)
		return -1;
	o->mounts = xrealloc(o->mounts, (o->n_mounts + 1) * sizeof(rt_mount));
	o->mounts[o->n_mounts++] = m;
	return 0;
}

static int security_opt(rt_options *o, const char *v, vce_err *err)
{
	if (strncmp(v, "seccomp=", 8) == 0 || strncmp(v, "seccomp:", 8) == 0) {
		o->seccomp = v + 8;
		return 0;
	}
	if (!strcmp(v, "no-new-privileges") || !strcmp(v, "no-new-privileges=true") ||
	    !strcmp(v, "no-new-privileges:true")) {
		o->no_new_privs = true;
		return 0;
	}
	if (!strcmp(v, "no-new-privileges=false") || !strcmp(v, "no-new-privileges:false")) {
		o->no_new_privs = false;
		return 0;
	}
	return cli_usage_error(err, "run",
			       "unsupported --security-opt \"%s\": vce knows seccomp=... and "
			       "no-new-privileges",
			       v);
}

static int parse_userns(rt_options *o, const char *v, vce_err *err)
{
	if (strcmp(v, "keep-id") == 0)
		o->userns = RT_USERNS_KEEP_ID;
	else if (strcmp(v, "host") == 0 || *v == '\0')
		o->userns = RT_USERNS_HOST;
	else
		return cli_usage_error(err, "run", "--userns must be keep-id or host, not \"%s\"",
				       v);
	return 0;
}

static int parse_options(rt_options *o, int argc, char **argv, vce_err *err)
{
	static const struct option opts[] = {
		{ "rm", no_argument, NULL, OPT_RM },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "env", required_argument, NULL, 'e' },
		{ "env-file", required_argument, NULL, OPT_ENV_FILE },
		{ "volume", required_argument, NULL, 'v' },
		{ "mount", required_argument, NULL, OPT_MOUNT },
		{ "tmpfs", required_argument, NULL, OPT_TMPFS },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
		{ "hostname", required_argument, NULL, 'h' },
		{ "read-only", no_argument, NULL, OPT_READ_ONLY },
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "cap-add", required_argument, NULL, OPT_CAP_ADD },
		{ "cap-drop", required_argument, NULL, OPT_CAP_DROP },
		{ "security-opt", required_argument, NULL, OPT_SECURITY_OPT },
		{ "privileged", no_argument, NULL, OPT_PRIVILEGED },
		{ "init", no_argument, NULL, OPT_INIT },
		{ "no-init", no_argument, NULL, OPT_NO_INIT },
		{ "userns", required_argument, NULL, OPT_USERNS },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret = 0;

	while (ret == 0 && (c = getopt_long(argc, argv, "+e:v:w:u:h:it", opts, NULL)) != -1) {
		switch (c) {
		case OPT_RM:
			o->remove = true;
			break;
		case OPT_NAME:
			o->name = optarg;
			break;
		case 'e':
			vce_strv_push(&o->env, &o->n_env, xstrdup(optarg));
			break;
		case OPT_ENV_FILE:
			ret = read_env_file(o, optarg, err);
			break;
		case 'v':
		case OPT_MOUNT:
		case OPT_TMPFS:
			ret = add_mount(o, c, optarg, err);
			break;
		case 'w':
			o->workdir = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case OPT_ENTRYPOINT:
			o->entrypoint_set = true;
			o->entrypoint = optarg;
			break;
		case 'h':
			o->hostname = optarg;
			break;
		case OPT_READ_ONLY:
			o->read_only = true;
			break;
		case 'i':
			o->interactive = true;
			break;
		case 't':
			o->tty = true;
			break;
		case OPT_CAP_ADD:
			vce_strv_push(&o->cap_add, &o->n_cap_add, xstrdup(optarg));
			break;
		case OPT_CAP_DROP:
			vce_strv_push(&o->cap_drop, &o->n_cap_drop, xstrdup(optarg));
			break;
		case OPT_SECURITY_OPT:
			ret = security_opt(o, optarg, err);
			break;
		case OPT_PRIVILEGED:
			o->privileged = true;
			break;
		case OPT_INIT:
			o->no_init = false;
			break;
		case OPT_NO_INIT:
			o->no_init = true;
			break;
		case OPT_USERNS:
			ret = parse_userns(o, optarg, err);
			break;
		case OPT_HELP:
			fputs(help, stdout);
			return 1;
		default:
			return cli_usage_error(err, "run", "bad option");
		}
	}
	if (ret < 0)
		return -1;
	if (optind >= argc)
		return cli_usage_error(err, "run", "no image given: vce run IMAGE [COMMAND...]");
	o->image = argv[optind];
	o->args = argv + optind + 1;
	o->n_args = (size_t)(argc - optind - 1);
	if (o->tty && !isatty(STDIN_FILENO) && o->interactive)
		return vce_error_make(err, 0,
				      "the input device is not a TTY: leave out -t, or run vce "
				      "from a terminal");
	return 0;
}

static void free_options(rt_options *o)
{
	vce_strv_free(o->env, o->n_env);
	vce_strv_free(o->cap_add, o->n_cap_add);
	vce_strv_free(o->cap_drop, o->n_cap_drop);
	for (size_t i = 0; i < o->n_mounts; i++)
		rt_mount_free(&o->mounts[i]);
	free(o->mounts);
}

int cmd_run(struct cli *cli, int argc, char **argv, vce_err *err)
{
	rt_options o = { 0 };
	oci_store *store;
	int ret, code = 125;

	ret = parse_options(&o, argc, argv, err);
	if (ret == 0 && (ret = cli_store(cli, &store, err)) == 0)
		ret = rt_run(store, &o, &code, err);
	free_options(&o);
	if (ret > 0) /* --help */
		return 0;
	/* Docker's codes: 125 for vce's own failure, else the command's. */
	cli->exit_code = ret < 0 && *err && cli_is_usage_error(*err) ? 0 : code;
	return ret;
}
