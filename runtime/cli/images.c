#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>

#include "cli.h"

#include "../../common/banned.h"

static const char help[] = "Usage: vce images [-q] [--format table|json] [REPOSITORY[:TAG]]\n\n"
			   "List the images in the store.\n\n"
			   "  -q, --quiet        only image ids\n"
			   "      --format FMT   table (default) or json\n";

struct row {
	char repo[256], tag[130], id[13], created[64], size[32];
};

/* "repo:tag" split at the colon after the last slash. */
static void split_name(const char *name, struct row *r)
{
	const char *slash = strrchr(name, '/');
	const char *colon = strrchr(name, ':');

	if (colon == NULL || (slash && colon < slash)) {
		snprintf(r->repo, sizeof(r->repo), "%s", name);
		snprintf(r->tag, sizeof(r->tag), "<none>");
		return;
	}
	snprintf(r->repo, sizeof(r->repo), "%.*s", (int)(colon - name), name);
	snprintf(r->tag, sizeof(r->tag), "%s", colon + 1);
}

/* A filter "busybox" matches every tag of busybox; "busybox:1" one tag. */
static bool matches(const char *name, const char *filter)
{
	struct row want, have;

	if (filter == NULL)
		return true;
	split_name(name, &have);
	if (strchr(filter, ':') && strrchr(filter, ':') > strrchr(filter, '/')) {
		split_name(filter, &want);
		return strcmp(want.repo, have.repo) == 0 && strcmp(want.tag, have.tag) == 0;
	}
	return strcmp(filter, have.repo) == 0;
}

static void print_json(const oci_image_info *infos, size_t n, const char *filter)
{
	json_t *list = json_array();
	char *text;

	for (size_t i = 0; i < n; i++) {
		json_t *names = json_array();
		bool any = filter == NULL;
		for (size_t k = 0; k < infos[i].n_names; k++) {
			json_array_append_new(names, json_string(infos[i].names[k]));
			any = any || matches(infos[i].names[k], filter);
		}
		if (!any) {
			json_decref(names);
			continue;
		}
		json_array_append_new(list, json_pack("{s:s, s:o, s:s, s:I}", "Id", infos[i].id,
						      "Names", names, "Created", infos[i].created,
						      "Size", (json_int_t)infos[i].size));
	}
	text = json_dumps(list, JSON_INDENT(4));
	printf("%s\n", text);
	free(text);
	json_decref(list);
}

static void add_row(struct row **rows, size_t *n, const oci_image_info *info, const char *name)
{
	struct row *r;

	*rows = xrealloc(*rows, (*n + 1) * sizeof(**rows));
	r = &(*rows)[(*n)++];
	if (name) {
		split_name(name, r);
	} else {
		snprintf(r->repo, sizeof(r->repo), "<none>");
		snprintf(r->tag, sizeof(r->tag), "<none>");
	}
	snprintf(r->id, sizeof(r->id), "%.12s", info->id + 7);
	vce_format_age(info->created, r->created, sizeof(r->created));
	vce_format_size((uint64_t)info->size, r->size, sizeof(r->size));
}

static void print_table(const oci_image_info *infos, size_t n, const char *filter, bool quiet)
{
	struct row *rows = NULL;
	size_t n_rows = 0;
	int w_repo = 10, w_tag = 3, w_created = 7;

	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < infos[i].n_names; k++)
			if (matches(infos[i].names[k], filter))
				add_row(&rows, &n_rows, &infos[i], infos[i].names[k]);
		if (infos[i].n_names == 0 && filter == NULL)
			add_row(&rows, &n_rows, &infos[i], NULL);
	}
	for (size_t i = 0; i < n_rows; i++) {
		if (quiet) {
			/* An id once, however many names it has. */
			bool seen = false;
			for (size_t k = 0; k < i; k++)
				seen = seen || strcmp(rows[k].id, rows[i].id) == 0;
			if (!seen)
				printf("%s\n", rows[i].id);
			continue;
		}
		w_repo = (int)strlen(rows[i].repo) > w_repo ? (int)strlen(rows[i].repo) : w_repo;
		w_tag = (int)strlen(rows[i].tag) > w_tag ? (int)strlen(rows[i].tag) : w_tag;
		w_created = (int)strlen(rows[i].created) > w_created ? (int)strlen(rows[i].created)
								     : w_created;
	}
	if (!quiet) {
		printf("%-*s   %-*s   %-12s   %-*s   %s\n", w_repo, "REPOSITORY", w_tag, "TAG",
		       "IMAGE ID", w_created, "CREATED", "SIZE");
		for (size_t i = 0; i < n_rows; i++)
			printf("%-*s   %-*s   %-12s   %-*s   %s\n", w_repo, rows[i].repo, w_tag,
			       rows[i].tag, rows[i].id, w_created, rows[i].created, rows[i].size);
	}
	free(rows);
}

int cmd_images(struct cli *cli, int argc, char **argv, vce_err *err)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool quiet = false, json = false;
	const char *filter = NULL;
	oci_image_info *infos;
	oci_store *store;
	size_t n;
	int c;

	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			quiet = true;
			break;
		case 'f':
			if (strcmp(optarg, "json") == 0)
				json = true;
			else if (strcmp(optarg, "table") != 0)
				return cli_usage_error(err, "images",
						       "unknown format \"%s\": use table or json",
						       optarg);
			break;
		case 'h':
			fputs(help, stdout);
			return 0;
		default:
			return cli_usage_error(err, "images", "bad option");
		}
	}
	if (optind + 1 < argc)
		return cli_usage_error(err, "images", "give at most one REPOSITORY[:TAG]");
	if (optind < argc)
		filter = argv[optind];
	if (cli_store(cli, &store, err) < 0 || oci_list(store, &infos, &n, err) < 0)
		return -1;
	if (json)
		print_json(infos, n, filter);
	else
		print_table(infos, n, filter, quiet);
	oci_image_info_free(infos, n);
	return 0;
}
