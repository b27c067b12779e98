#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>

#include "cli.h"

#include "../../common/banned.h"

static const char help[] =
    "Usage: vce rmi [-f] IMAGE...\n\n"
    "Remove names, and images with no name left together with the layers no\n"
    "other image uses.\n\n"
    "  -f, --force   remove an image given by id with all its names, or one a\n"
    "                container uses\n";

int cmd_rmi(struct cli *cli, int argc, char **argv, vce_err *err)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool force = false;
	oci_store *store;
	int c, ret = 0;

	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'h':
			fputs(help, stdout);
			return 0;
		default:
			return cli_usage_error(err, "rmi", "bad option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(err, "rmi", "name at least one image to remove");
	if (cli_store(cli, &store, err) < 0)
		return -1;
	/* Like docker: go on with the other images, fail at the end. */
	for (int i = optind; i < argc; i++) {
		char **done = NULL;
		size_t n = 0;
		vce_err one = NULL;
		if (oci_rmi(store, argv[i], force, &done, &n, &one) < 0) {
			if (*err)
				vce_error_release(err);
			*err = one;
			ret = -1;
			if (i + 1 < argc) {
				cleanup_free char *text = vce_error_text(one);
				fprintf(stderr, "vce: %s\n", text);
			}
		}
		for (size_t k = 0; k < n; k++) {
			printf("%s: %s\n",
			       strncmp(done[k], "sha256:", 7) == 0 ? "Deleted" : "Untagged",
			       done[k]);
			free(done[k]);
		}
		free(done);
	}
	return ret;
}
