#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#include "../../common/banned.h"
#include "../../net/net.h"
#include "../runtime.h"

static const char help[] =
    "Usage: vce run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
    "       vce create [OPTIONS] IMAGE [COMMAND [ARG...]]\n\n"
    "Run a command in a new container (create: make it, start it later with\n"
    "vce start). Options as docker run:\n\n"
    "  -d, --detach             run in the background and print the id\n"
    "  --rm                     remove the container when it exits\n"
    "  --pull missing|always|never  pull the image first (default: when missing)\n"
    "  --platform OS/ARCH       the platform to pull (default: this machine's)\n"
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
    "      --userns keep-id|host   the student mapping as root too, or none\n"
    "  -m, --memory SIZE        memory limit (512m, 2g)\n"
    "      --memory-swap SIZE   memory and swap together (-1: unlimited swap)\n"
    "      --cpus N             CPU limit in cores (1.5)\n"
    "  -c, --cpu-shares N       relative CPU weight (1024 is normal)\n"
    "      --pids-limit N       most processes at once (-1: unlimited)\n"
    "      --log-opt max-size=SIZE  size of the log before it is rotated (10m)\n"
    "  -p, --publish [IP:][HOSTPORT:]PORT[/udp]  forward a host port to PORT inside\n"
    "                           (no HOSTPORT: a free one; see vce port NAME)\n"
    "  -P, --publish-all        publish every port the image exposes\n"
    "      --publish-default-ip IP  the host address of -p without one (0.0.0.0)\n"
    "      --network private|host|none|container:NAME  (private: own namespace,\n"
    "                           with a way out through pasta or slirp4netns)\n";

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
	OPT_MEMORY_SWAP,
	OPT_CPUS,
	OPT_PIDS_LIMIT,
	OPT_LOG_OPT,
	OPT_PUBLISH_IP,
	OPT_NETWORK,
	OPT_HELP,
	OPT_PULL,
	OPT_PLATFORM,
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

static int parse_limit(rt_options *o, int c, const char *v, vce_err *err)
{
	char *end;
	int64_t bytes;

	switch (c) {
	case 'm':
		if (rt_parse_bytes(v, &o->limits.memory, err) < 0)
			return vce_error_wrap(err, "--memory");
		if (o->limits.memory < 6 << 20)
			return cli_usage_error(err, "run", "--memory must be at least 6m");
		return 0;
	case OPT_MEMORY_SWAP:
		if (strcmp(v, "-1") == 0) {
			o->limits.memory_swap = -1;
			return 0;
		}
		if (rt_parse_bytes(v, &bytes, err) < 0)
			return vce_error_wrap(err, "--memory-swap");
		o->limits.memory_swap = bytes;
		return 0;
	case OPT_CPUS:
		o->limits.cpus = strtod(v, &end);
		if (*end || end == v || o->limits.cpus <= 0 || o->limits.cpus > 1024)
			return cli_usage_error(err, "run",
					       "--cpus must be a number of cores, as 1.5");
		return 0;
	case 'c':
		o->limits.cpu_shares = strtoull(v, &end, 10);
		if (*end || end == v || o->limits.cpu_shares < 2 || o->limits.cpu_shares > 262144)
			return cli_usage_error(err, "run", "--cpu-shares must be from 2 to 262144");
		return 0;
	case OPT_PIDS_LIMIT:
		o->limits.pids = strtoll(v, &end, 10);
		if (*end || end == v || o->limits.pids < -1)
			return cli_usage_error(err, "run", "--pids-limit must be a number, or -1");
		if (o->limits.pids == 0)
			o->limits.pids = -1; /* docker: 0 is unlimited too */
		return 0;
	default: /* --log-opt */
		if (strncmp(v, "max-size=", 9) != 0)
			return cli_usage_error(
			    err, "run", "unsupported --log-opt \"%s\": vce knows max-size=SIZE", v);
		if (rt_parse_bytes(v + 9, &bytes, err) < 0)
			return vce_error_wrap(err, "--log-opt");
		if (bytes < 4096)
			return cli_usage_error(err, "run",
					       "--log-opt max-size must be at least 4k");
		o->log_max = (uint64_t)bytes;
		return 0;
	}
}

static int parse_publish_ip(rt_options *o, const char *v, vce_err *err)
{
	if (!net_is_address(v))
		return cli_usage_error(err, "run",
				       "--publish-default-ip must be an IP address, not \"%s\"", v);
	o->publish_ip = xstrdup(v);
	return 0;
}

static int parse_network(rt_options *o, const char *v, vce_err *err)
{
	if (!strcmp(v, "private") || !strcmp(v, "bridge") || !strcmp(v, "default"))
		o->network = RT_NET_PRIVATE;
	else if (!strcmp(v, "host"))
		o->network = RT_NET_HOST;
	else if (!strcmp(v, "none"))
		o->network = RT_NET_NONE;
	else if (!strncmp(v, "container:", 10) && v[10])
		o->network = RT_NET_CONTAINER, o->net_container = v + 10;
	else
		return cli_usage_error(
		    err, "run",
		    "--network must be private, host, none or container:NAME, not \"%s\"", v);
	return 0;
}

/* As docker: ports of a shared or absent network are refused; of the
 * host's, they are there already. */
static int check_network(rt_options *o, vce_err *err)
{
	bool ports = o->n_ports > 0 || o->publish_all;

	if (ports && o->network == RT_NET_NONE)
		return cli_usage_error(
		    err, "run",
		    "--network none has no network to publish ports on: leave out "
		    "-p and -P, or the --network none");
	if (ports && o->network == RT_NET_CONTAINER)
		return cli_usage_error(
		    err, "run",
		    "-p and -P need the container's own network: publish the ports "
		    "on %s, whose network this container shares",
		    o->net_container);
	if (ports && o->network == RT_NET_HOST) {
		vce_warn("published ports are discarded with --network host: the container "
			 "uses the host's ports directly");
		free(o->ports);
		o->ports = NULL;
		o->n_ports = 0;
		o->publish_all = false;
	}
	return 0;
}

static int check_limits(const rt_options *o, vce_err *err)
{
	const rt_limits *l = &o->limits;
	if (l->memory_swap > 0 && l->memory == 0)
		return cli_usage_error(err, "run", "--memory-swap needs --memory as well");
	if (l->memory_swap > 0 && l->memory_swap < l->memory)
		return cli_usage_error(err, "run",
				       "--memory-swap must be at least --memory (it counts both)");
	return 0;
}

struct run_flags {
	bool detach;
	const char *pull, *platform;
};

static int parse_options(rt_options *o, struct run_flags *f, int argc, char **argv, vce_err *err)
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
		{ "detach", no_argument, NULL, 'd' },
		{ "memory", required_argument, NULL, 'm' },
		{ "memory-swap", required_argument, NULL, OPT_MEMORY_SWAP },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "cpu-shares", required_argument, NULL, 'c' },
		{ "pids-limit", required_argument, NULL, OPT_PIDS_LIMIT },
		{ "log-opt", required_argument, NULL, OPT_LOG_OPT },
		{ "publish", required_argument, NULL, 'p' },
		{ "publish-all", no_argument, NULL, 'P' },
		{ "publish-default-ip", required_argument, NULL, OPT_PUBLISH_IP },
		{ "network", required_argument, NULL, OPT_NETWORK },
		{ "net", required_argument, NULL, OPT_NETWORK },
		{ "pull", required_argument, NULL, OPT_PULL },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret = 0;

	while (ret == 0 &&
	       (c = getopt_long(argc, argv, "+e:v:w:u:h:itdm:c:p:P", opts, NULL)) != -1) {
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
		case 'd':
			f->detach = true;
			break;
		case OPT_PULL:
			f->pull = optarg;
			break;
		case OPT_PLATFORM:
			f->platform = optarg;
			break;
		case 'm':
		case 'c':
		case OPT_MEMORY_SWAP:
		case OPT_CPUS:
		case OPT_PIDS_LIMIT:
		case OPT_LOG_OPT:
			ret = parse_limit(o, c, optarg, err);
			break;
		case 'p':
			ret = net_parse_publish(optarg, &o->ports, &o->n_ports, err);
			break;
		case 'P':
			o->publish_all = true;
			break;
		case OPT_PUBLISH_IP:
			ret = parse_publish_ip(o, optarg, err);
			break;
		case OPT_NETWORK:
			ret = parse_network(o, optarg, err);
			break;
		case OPT_HELP:
			fputs(help, stdout);
			return 1;
		default:
			return cli_usage_error(err, "run", "bad option");
		}
	}
	if (ret < 0 || check_limits(o, err) < 0 || check_network(o, err) < 0)
		return -1;
	if (optind >= argc)
		return cli_usage_error(err, "run", "no image given: vce run IMAGE [COMMAND...]");
	o->image = argv[optind];
	o->args = argv + optind + 1;
	o->n_args = (size_t)(argc - optind - 1);
	if (o->tty && !isatty(STDIN_FILENO) && o->interactive && !f->detach)
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
	free(o->ports);
	free(o->publish_ip);
	for (size_t i = 0; i < o->n_mounts; i++)
		rt_mount_free(&o->mounts[i]);
	free(o->mounts);
}

int cmd_run(struct cli *cli, int argc, char **argv, vce_err *err)
{
	rt_options o = { 0 };
	oci_store *store;
	cleanup_free char *id = NULL;
	struct run_flags f = { 0 };
	int ret, code = 125;

	ret = parse_options(&o, &f, argc, argv, err);
	if (ret == 0)
		ret = cli_ensure_image(cli, o.image, f.pull, f.platform, err);
	if (ret == 0 && (ret = cli_store(cli, &store, err)) == 0) {
		if (f.detach) {
			ret = rt_run_detached(store, &o, &id, err);
			if (ret == 0) {
				printf("%s\n", id);
				code = 0;
			}
		} else {
			ret = rt_run(store, &o, &code, err);
		}
	}
	free_options(&o);
	if (ret > 0) /* --help */
		return 0;
	/* Docker's codes: 125 for vce's own failure, else the command's. */
	cli->exit_code = ret < 0 && *err && cli_is_usage_error(*err) ? 0 : code;
	return ret;
}

int cmd_create(struct cli *cli, int argc, char **argv, vce_err *err)
{
	rt_options o = { 0 };
	oci_store *store;
	cleanup_free char *id = NULL;
	struct run_flags f = { 0 };
	int ret;

	ret = parse_options(&o, &f, argc, argv, err);
	if (ret == 0)
		ret = cli_ensure_image(cli, o.image, f.pull, f.platform, err);
	if (ret == 0 && (ret = cli_store(cli, &store, err)) == 0 &&
	    (ret = rt_create(store, &o, &id, err)) == 0)
		printf("%s\n", id);
	free_options(&o);
	if (ret > 0)
		return 0;
	cli->exit_code = ret < 0 && *err && !cli_is_usage_error(*err) ? 125 : 0;
	return ret < 0 ? -1 : 0;
}
