#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>

#include "cli.h"

#include "../../common/banned.h"

static const char help[] =
    "Usage: vce system df [-v]\n\n"
    "Show the disk space images use. A layer two images share is counted once.\n\n"
    "  -v, --verbose   one line an image: its size, and how much it shares\n";

static void size_text(int64_t bytes, char *out, size_t len)
{
	vce_format_size((uint64_t)(bytes > 0 ? bytes : 0), out, len);
}

static void print_summary(const oci_usage *u)
{
	char blobs[32], layers[32], shared[32];

	size_text(u->blob_bytes, blobs, sizeof(blobs));
	size_text(u->layer_bytes, layers, sizeof(layers));
	size_text(u->shared_layer_bytes, shared, sizeof(shared));
	printf("%-17s %-7s %-7s %-10s %s\n", "TYPE", "TOTAL", "ACTIVE", "SIZE", "SHARED");
	printf("%-17s %-7zu %-7zu %-10s %s\n", "Images (blobs)", u->n_images, u->images_in_use,
	       blobs, "");
	printf("%-17s %-7zu %-7zu %-10s %s\n", "Unpacked layers", u->layers, u->layers, layers,
	       shared);
}

static void print_images(const oci_usage *u)
{
	printf("\n%-40s %-14s %-10s %-12s %s\n", "IMAGE", "IMAGE ID", "SIZE", "SHARED SIZE",
	       "UNIQUE SIZE");
	for (size_t i = 0; i < u->n_images; i++) {
		const oci_image_usage *img = &u->images[i];
		char size[32], shared[32], unique[32];
		size_text(img->size, size, sizeof(size));
		size_text(img->shared, shared, sizeof(shared));
		size_text(img->size - img->shared, unique, sizeof(unique));
		printf("%-40s %-14.12s %-10s %-12s %s\n", img->name ? img->name : "<none>",
		       img->id + 7, size, shared, unique);
	}
}

int cmd_system(struct cli *cli, int argc, char **argv, vce_err *err)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool verbose = false;
	oci_store *store;
	oci_usage usage;
	int c;

	if (argc < 2 || strcmp(argv[1], "df") != 0) {
		if (cli_wants_help(argc, argv)) {
			fputs(help, stdout);
			return 0;
		}
		return cli_usage_error(err, "system", "the subcommand is df: vce system df");
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			verbose = true;
			break;
		case 'h':
			fputs(help, stdout);
			return 0;
		default:
			return cli_usage_error(err, "system", "bad option");
		}
	}
	if (cli_store(cli, &store, err) < 0 || oci_disk_usage(store, &usage, err) < 0)
		return -1;
	print_summary(&usage);
	if (verbose)
		print_images(&usage);
	oci_usage_free(&usage);
	return 0;
}
