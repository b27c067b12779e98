#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>

#include "cli.h"

#include "../../common/banned.h"

static const char help[] =
    "Usage: vce image prune [-a] [-f]\n\n"
    "Remove images without a name (with -a: every image no container uses),\n"
    "and the blobs and unpacked layers nothing needs any more.\n\n"
    "  -a, --all     remove all images that no container uses, not only unnamed ones\n"
    "  -f, --force   do not ask\n";

static int64_t store_bytes(oci_store *store, vce_err *err)
{
	oci_usage u;
	int64_t total;

	if (oci_disk_usage(store, &u, err) < 0)
		return -1;
	total = u.blob_bytes + u.layer_bytes;
	oci_usage_free(&u);
	return total;
}

static bool confirmed(bool all)
{
	char answer[16] = "";

	/* As docker: asked whether or not stdin is a terminal; no answer is no. */
	printf("WARNING! This will remove all %s.\nAre you sure you want to continue? [y/N] ",
	       all ? "images without at least one container associated to them"
		   : "images without a name");
	fflush(stdout);
	if (fgets(answer, sizeof(answer), stdin) == NULL)
		return false;
	return answer[0] == 'y' || answer[0] == 'Y';
}

int cmd_image_prune(struct cli *cli, int argc, char **argv, vce_err *err)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool all = false, force = false;
	char **removed;
	size_t n;
	int64_t before, after;
	oci_store *store;
	char freed[32];
	int c;

	while ((c = getopt_long(argc, argv, "afh", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			fputs(help, stdout);
			return 0;
		default:
			return cli_usage_error(err, "image prune", "bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error(err, "image prune", "unexpected argument \"%s\"",
				       argv[optind]);
	if (!force && !confirmed(all))
		return 0;
	if (cli_store(cli, &store, err) < 0 || (before = store_bytes(store, err)) < 0 ||
	    oci_prune(store, all, &removed, &n, err) < 0 || (after = store_bytes(store, err)) < 0)
		return -1;
	if (n)
		printf("Deleted Images:\n");
	for (size_t i = 0; i < n; i++) {
		printf("deleted: %s\n", removed[i]);
		free(removed[i]);
	}
	free(removed);
	vce_format_size((uint64_t)(before > after ? before - after : 0), freed, sizeof(freed));
	printf("\nTotal reclaimed space: %s\n", freed);
	return 0;
}
