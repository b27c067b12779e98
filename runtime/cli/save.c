#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>

#include "cli.h"

#include "../../common/banned.h"

static const char help[] =
    "Usage: vce save [-o FILE] [--format docker-archive|oci-archive] IMAGE...\n\n"
    "Save images to an archive that `vce load`, `docker load` and `podman load`\n"
    "read. Without -o the archive goes to standard output.\n\n"
    "  -o, --output FILE   where to write (replaced only when complete)\n"
    "      --format FMT    docker-archive (default) or oci-archive\n";

int cmd_save(struct cli *cli, int argc, char **argv, vce_err *err)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *output = "-";
	oci_save_format format = OCI_SAVE_DOCKER_ARCHIVE;
	oci_store *store;
	int c;

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "docker-archive") == 0)
				format = OCI_SAVE_DOCKER_ARCHIVE;
			else if (strcmp(optarg, "oci-archive") == 0)
				format = OCI_SAVE_OCI_ARCHIVE;
			else
				return cli_usage_error(
				    err, "save",
				    "unknown format \"%s\": use docker-archive or oci-archive",
				    optarg);
			break;
		case 'h':
			fputs(help, stdout);
			return 0;
		default:
			return cli_usage_error(err, "save", "bad option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(err, "save", "name at least one image to save");
	if (cli_store(cli, &store, err) < 0)
		return -1;
	return oci_save(store, (const char *const *)argv + optind, (size_t)(argc - optind), output,
			format, err);
}
