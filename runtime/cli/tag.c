#include <getopt.h>

#include "cli.h"

#include "../../common/banned.h"

static const char help[] = "Usage: vce tag SOURCE_IMAGE TARGET_IMAGE[:TAG]\n\n"
			   "Give an image another name.\n";

int cmd_tag(struct cli *cli, int argc, char **argv, vce_err *err)
{
	oci_store *store;

	if (cli_wants_help(argc, argv)) {
		fputs(help, stdout);
		return 0;
	}
	if (argc != 3)
		return cli_usage_error(err, "tag",
				       "give exactly two names: SOURCE_IMAGE TARGET_IMAGE");
	if (cli_store(cli, &store, err) < 0)
		return -1;
	return oci_tag(store, argv[1], argv[2], err);
}
