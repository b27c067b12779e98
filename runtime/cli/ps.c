/* vce ps, container prune, stats: what containers there are. */
#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#include "../../common/banned.h"
#include "../../common/json.h"
#include "../runtime.h"

/* "5 seconds", "About a minute", "3 hours": docker's units. */
static void format_duration(double secs, char *out, size_t len)
{
	if (secs < 1)
		snprintf(out, len, "Less than a second");
	else if (secs < 60)
		snprintf(out, len, "%d seconds", (int)secs);
	else if (secs < 120)
		snprintf(out, len, "About a minute");
	else if (secs < 3600)
		snprintf(out, len, "%d minutes", (int)(secs / 60));
	else if (secs < 7200)
		snprintf(out, len, "About an hour");
	else if (secs < 172800)
		snprintf(out, len, "%d hours", (int)(secs / 3600));
	else
		snprintf(out, len, "%d days", (int)(secs / 86400));
}

static double seconds_since(const char *rfc3339)
{
	struct tm tm = { 0 };
	if (rfc3339 == NULL || strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return 0;
	return difftime(time(NULL), timegm(&tm));
}

static char *status_text(json_t *c)
{
	json_t *st = json_object_get(c, "State");
	const char *status = vce_json_string(st, "Status");
	char d[64];

	if (status && strcmp(status, "running") == 0) {
		format_duration(seconds_since(vce_json_string(st, "StartedAt")), d, sizeof(d));
		return xasprintf("Up %s", d);
	}
	if (status && strcmp(status, "exited") == 0) {
		format_duration(seconds_since(vce_json_string(st, "FinishedAt")), d, sizeof(d));
		return xasprintf("Exited (%lld) %s ago",
				 (long long)json_integer_value(json_object_get(st, "ExitCode")), d);
	}
	return xstrdup("Created");
}

static char *command_text(json_t *c, bool no_trunc)
{
	json_t *args = json_object_get(c, "Args");
	const char *path = vce_json_string(c, "Path");
	char *cmd = xstrdup(path ? path : "");
	size_t i;
	json_t *a;

	json_array_foreach (args, i, a) {
		char *next = xasprintf("%s %s", cmd, json_string_value(a));
		free(cmd);
		cmd = next;
	}
	if (!no_trunc && strlen(cmd) > 20) {
		char *short_cmd = xasprintf("%.19s…", cmd);
		free(cmd);
		cmd = short_cmd;
	}
	{
		char *quoted = xasprintf("\"%s\"", cmd);
		free(cmd);
		return quoted;
	}
}

typedef struct ps_options {
	bool all, quiet, json, no_trunc;
	char **filters;
	size_t n_filters;
} ps_options;

static bool passes(json_t *c, const ps_options *o)
{
	const char *status = vce_json_string(json_object_get(c, "State"), "Status");
	const char *name = vce_json_string(c, "Name");
	const char *id = vce_json_string(c, "Id");
	bool status_filtered = false;

	for (size_t i = 0; i < o->n_filters; i++) {
		const char *f = o->filters[i];
		if (strncmp(f, "name=", 5) == 0 && !(name && strstr(name + 1, f + 5)))
			return false;
		if (strncmp(f, "id=", 3) == 0 && !(id && strncmp(id, f + 3, strlen(f + 3)) == 0))
			return false;
		if (strncmp(f, "status=", 7) == 0) {
			status_filtered = true;
			if (!(status && strcmp(status, f + 7) == 0))
				return false;
		}
	}
	/* Without -a only running ones, unless a status is asked for. */
	return o->all || status_filtered || (status && strcmp(status, "running") == 0);
}

/* As docker ps: "0.0.0.0:8351->8888/tcp, :::8351->8888/tcp". */
static char *ports_text(json_t *c)
{
	json_t *ports = json_object_get(json_object_get(c, "NetworkSettings"), "Ports");
	const char *key;
	json_t *list, *b;
	char *out = xstrdup("");
	size_t i;

	json_object_foreach (ports, key, list) {
		json_array_foreach (list, i, b) {
			const char *ip = vce_json_string(b, "HostIp") ?: "";
			char *next = xasprintf("%s%s%s:%s->%s", out, *out ? ", " : "", ip,
					       vce_json_string(b, "HostPort") ?: "", key);
			free(out);
			out = next;
		}
	}
	return out;
}

static void print_json_line(json_t *c, const ps_options *o)
{
	cleanup_free char *status = status_text(c), *cmd = command_text(c, true);
	cleanup_free char *ports = ports_text(c);
	const char *name = vce_json_string(c, "Name");
	json_t *line =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "ID", vce_json_string(c, "Id"),
		      "Image", vce_json_string(json_object_get(c, "Config"), "Image") ?: "",
		      "Command", cmd, "CreatedAt", vce_json_string(c, "Created") ?: "", "Status",
		      status, "State", vce_json_string(json_object_get(c, "State"), "Status") ?: "",
		      "Names", name ? name + 1 : "", "Ports", ports);
	char *text = json_dumps(line, JSON_COMPACT);
	(void)o;
	printf("%s\n", text);
	free(text);
	json_decref(line);
}

static void print_row(json_t *c, const ps_options *o)
{
	cleanup_free char *status = status_text(c), *cmd = command_text(c, o->no_trunc);
	cleanup_free char *ports = ports_text(c);
	const char *name = vce_json_string(c, "Name");
	char created[64];

	vce_format_age(vce_json_string(c, "Created"), created, sizeof(created));
	printf("%-12.12s   %-20s %-22s %-16s %-25s %-10s %s\n", vce_json_string(c, "Id"),
	       vce_json_string(json_object_get(c, "Config"), "Image") ?: "", cmd, created, status,
	       ports, name ? name + 1 : "");
}

int cmd_ps(struct cli *cli, int argc, char **argv, vce_err *err)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "filter", required_argument, NULL, 'f' },
		{ "format", required_argument, NULL, 'F' },
		{ "no-trunc", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	ps_options o = { 0 };
	oci_store *store;
	json_t *list = NULL, *c;
	size_t i;
	int opt, ret = -1;

	while ((opt = getopt_long(argc, argv, "+aqf:", opts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			o.all = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'n':
			o.no_trunc = true;
			break;
		case 'f':
			if (strncmp(optarg, "name=", 5) && strncmp(optarg, "status=", 7) &&
			    strncmp(optarg, "id=", 3)) {
				ret = cli_usage_error(err, "ps",
						      "unknown filter \"%s\": vce knows name=, "
						      "status= and id=",
						      optarg);
				goto out;
			}
			vce_strv_push(&o.filters, &o.n_filters, xstrdup(optarg));
			break;
		case 'F':
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0) {
				ret = cli_usage_error(err, "ps", "--format takes table or json");
				goto out;
			}
			o.json = strcmp(optarg, "json") == 0;
			break;
		case 'h':
			fputs("Usage: vce ps [-a] [-q] [--filter name=|status=|id=] [--format "
			      "table|json] [--no-trunc]\n\nList containers (-a: also those not "
			      "running).\n",
			      stdout);
			ret = 0;
			goto out;
		default:
			ret = cli_usage_error(err, "ps", "bad option");
			goto out;
		}
	}
	if (cli_store(cli, &store, err) < 0 || rt_list(store, &list, err) < 0)
		goto out;
	if (!o.quiet && !o.json)
		printf("%-12s   %-20s %-22s %-16s %-25s %-10s %s\n", "CONTAINER ID", "IMAGE",
		       "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES");
	json_array_foreach (list, i, c) {
		if (!passes(c, &o))
			continue;
		if (o.quiet)
			printf("%.*s\n", o.no_trunc ? 64 : 12, vce_json_string(c, "Id"));
		else if (o.json)
			print_json_line(c, &o);
		else
			print_row(c, &o);
	}
	ret = 0;
out:
	json_decref(list);
	vce_strv_free(o.filters, o.n_filters);
	return ret;
}

/* ---- container prune ---- */

int cmd_container_prune(struct cli *cli, int argc, char **argv, vce_err *err)
{
	oci_store *store;
	json_t *list = NULL, *c;
	size_t i;
	int ret = 0;

	(void)argc;
	(void)argv;
	if (cli_wants_help(argc, argv)) {
		fputs("Usage: vce container prune [-f]\n\nRemove every container that is not "
		      "running.\n",
		      stdout);
		return 0;
	}
	if (cli_store(cli, &store, err) < 0 || rt_list(store, &list, err) < 0)
		return -1;
	printf("Deleted Containers:\n");
	json_array_foreach (list, i, c) {
		const char *status = vce_json_string(json_object_get(c, "State"), "Status");
		const char *id = vce_json_string(c, "Id");
		vce_err one = NULL;
		if (status && strcmp(status, "running") == 0)
			continue;
		if (rt_remove(store, id, false, &one) < 0) {
			cleanup_free char *text = vce_error_text(one);
			fprintf(stderr, "vce: %s\n", text);
			vce_error_release(&one);
			ret = 1;
			continue;
		}
		printf("%s\n", id);
	}
	json_decref(list);
	cli->exit_code = ret;
	return 0;
}

/* ---- stats ---- */

static void print_stats(const rt_stats *a, const rt_stats *b, double interval)
{
	char used[32], limit[32], cpu[16] = "--", mem_pct[16] = "--", pids[16] = "--";
	char mem[80] = "--";
	uint64_t total = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t lim = b->memory_limit && b->memory_limit < total ? b->memory_limit : total;

	vce_format_size(b->memory, used, sizeof(used));
	vce_format_size(lim, limit, sizeof(limit));
	if (b->have_cpu && b->cpu_ns >= a->cpu_ns)
		snprintf(cpu, sizeof(cpu), "%.2f%%",
			 (double)(b->cpu_ns - a->cpu_ns) / (interval * 1e9) * 100.0);
	if (b->have_memory)
		snprintf(mem, sizeof(mem), "%s / %s", used, limit);
	if (b->have_memory)
		snprintf(mem_pct, sizeof(mem_pct), "%.2f%%",
			 (double)b->memory * 100.0 / (double)lim);
	if (b->have_pids)
		snprintf(pids, sizeof(pids), "%llu", (unsigned long long)b->pids);
	printf("%-12.12s   %-20.20s %-9s %-22s %-8s %s\n", b->id, b->name, cpu, mem, mem_pct, pids);
}

static int sample(oci_store *store, char **refs, size_t n, rt_stats *out, vce_err *err)
{
	for (size_t i = 0; i < n; i++)
		if (rt_stats_of(store, refs[i], &out[i], err) < 0)
			return -1;
	return 0;
}

int cmd_stats(struct cli *cli, int argc, char **argv, vce_err *err)
{
	static const struct option opts[] = { { "no-stream", no_argument, NULL, 'n' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	bool stream = true;
	oci_store *store;
	char **refs = NULL;
	size_t n = 0;
	int c, ret = -1;

	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs("Usage: vce stats [--no-stream] [CONTAINER...]\n\nMemory, CPU and "
			      "processes of running containers.\n",
			      stdout);
			return 0;
		}
		if (c != 'n')
			return cli_usage_error(err, "stats", "bad option");
		stream = false;
	}
	if (cli_store(cli, &store, err) < 0)
		return -1;
	if (optind < argc) {
		for (int i = optind; i < argc; i++)
			vce_strv_push(&refs, &n, xstrdup(argv[i]));
	} else {
		json_t *list, *one;
		size_t i;
		if (rt_list(store, &list, err) < 0)
			return -1;
		json_array_foreach (list, i, one) {
			const char *st = vce_json_string(json_object_get(one, "State"), "Status");
			if (st && strcmp(st, "running") == 0)
				vce_strv_push(&refs, &n, xstrdup(vce_json_string(one, "Id")));
		}
		json_decref(list);
	}
	{
		rt_stats *a = xcalloc(n + 1, sizeof(rt_stats)),
			 *b = xcalloc(n + 1, sizeof(rt_stats));
		do {
			struct timespec half = { 0, 500000000 };
			if (sample(store, refs, n, a, err) < 0)
				break;
			nanosleep(&half, NULL);
			if (sample(store, refs, n, b, err) < 0)
				break;
			if (stream)
				printf("\033[H\033[2J");
			printf("%-12s   %-20s %-9s %-22s %-8s %s\n", "CONTAINER ID", "NAME",
			       "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS");
			for (size_t i = 0; i < n; i++)
				print_stats(&a[i], &b[i], 0.5);
			fflush(stdout);
			ret = 0;
		} while (stream);
		free(a);
		free(b);
	}
	vce_strv_free(refs, n);
	return ret;
}
