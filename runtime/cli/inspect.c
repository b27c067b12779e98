#include <getopt.h>

#include "cli.h"

#include "../../common/banned.h"

static const char help[] =
    "Usage: vce image inspect IMAGE...\n\n"
    "Show images' configuration as a JSON list, as docker image inspect does.\n";

int cmd_inspect(struct cli *cli, int argc, char **argv, vce_err *err)
{
	oci_store *store;
	json_t *all;
	char *text;

	if (cli_wants_help(argc, argv)) {
		fputs(help, stdout);
		return 0;
	}
	if (argc < 2)
		return cli_usage_error(err, "inspect", "name at least one image");
	if (cli_store(cli, &store, err) < 0)
		return -1;
	all = json_array();
	for (int i = 1; i < argc; i++) {
		json_t *one;
		if (oci_inspect(store, argv[i], &one, err) < 0) {
			json_decref(all);
			return -1;
		}
		json_array_append_new(all, one);
	}
	text = json_dumps(all, JSON_INDENT(4));
	json_decref(all);
	if (text == NULL)
		abort();
	printf("%s\n", text);
	free(text);
	return 0;
}
