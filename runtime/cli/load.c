#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#include "../../common/banned.h"

static const char help[] =
    "Usage: vce load [-i FILE|DIR] [-q]\n\n"
    "Load images from a docker-archive (docker save, podman save), an OCI archive\n"
    "or an OCI layout folder; the archive may be gzip- or zstd-compressed.\n"
    "Without -i the archive is read from standard input.\n\n"
    "  -i, --input FILE   the archive (or OCI layout folder) to read\n"
    "  -q, --quiet        print nothing on success\n";

int cmd_load(struct cli *cli, int argc, char **argv, vce_err *err)
{
	static const struct option opts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *input = "-";
	bool quiet = false;
	oci_store *store;
	oci_loaded loaded;
	int c;

	while ((c = getopt_long(argc, argv, "i:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			input = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(help, stdout);
			return 0;
		default:
			return cli_usage_error(err, "load", "bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error(
		    err, "load", "unexpected argument \"%s\": give the file with -i", argv[optind]);
	if (strcmp(input, "-") == 0 && isatty(STDIN_FILENO))
		return cli_usage_error(err, "load",
				       "no archive given: use -i FILE, or pipe one in");
	if (cli_store(cli, &store, err) < 0 || oci_load(store, input, &loaded, err) < 0)
		return -1;
	for (size_t i = 0; !quiet && i < loaded.n; i++)
		printf("%s\n", loaded.lines[i]);
	oci_loaded_free(&loaded);
	return 0;
}
