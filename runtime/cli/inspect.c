/* vce inspect: containers and images as JSON, as docker inspect. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

#include "../../common/json.h"

#include "../../common/banned.h"
#include "../runtime.h"

enum kind { ANY, CONTAINER, IMAGE };

static int inspect_one(oci_store *store, const char *name, enum kind kind, json_t **out,
		       vce_err *err)
{
	cleanup_free char *id = NULL;

	if (kind == IMAGE)
		return oci_inspect(store, name, out, err);
	if (kind == CONTAINER || rt_resolve(store, name, &id, err) == 0)
		return rt_inspect(store, id ? id : name, out, err);
	vce_error_release(err);
	if (oci_inspect(store, name, out, err) == 0)
		return 0;
	vce_error_release(err);
	return vce_error_make(err, 0, "no such container or image: %s", name);
}

static int inspect(struct cli *cli, int argc, char **argv, enum kind kind, vce_err *err)
{
	static const char *const what[] = { "containers or images", "containers", "images" };
	oci_store *store;
	json_t *all;
	char *text;

	if (cli_wants_help(argc, argv)) {
		printf("Usage: vce %sinspect NAME...\n\nShow %s as a JSON list, as docker "
		       "inspect does.\n",
		       kind == IMAGE	   ? "image "
		       : kind == CONTAINER ? "container "
					   : "",
		       what[kind]);
		return 0;
	}
	if (argc < 2)
		return cli_usage_error(err, "inspect", "name at least one of the %s", what[kind]);
	if (cli_store(cli, &store, err) < 0)
		return -1;
	all = json_array();
	for (int i = 1; i < argc; i++) {
		json_t *one;
		if (inspect_one(store, argv[i], kind, &one, err) < 0) {
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

int cmd_inspect(struct cli *cli, int argc, char **argv, vce_err *err)
{
	return inspect(cli, argc, argv, ANY, err);
}

int cmd_container_inspect(struct cli *cli, int argc, char **argv, vce_err *err)
{
	return inspect(cli, argc, argv, CONTAINER, err);
}

int cmd_image_inspect(struct cli *cli, int argc, char **argv, vce_err *err)
{
	return inspect(cli, argc, argv, IMAGE, err);
}

/* vce port NAME [PORT[/PROTO]]: the host addresses of its published ports. */
int cmd_port(struct cli *cli, int argc, char **argv, vce_err *err)
{
	oci_store *store;
	cleanup_json json_t *c = NULL;
	cleanup_free char *want = NULL;
	json_t *ports, *list, *b;
	const char *key;
	size_t i;
	bool found = false;

	if (cli_wants_help(argc, argv)) {
		printf("Usage: vce port NAME [PORT[/tcp|/udp]]\n\nShow the host addresses the "
		       "container's ports are published on, as docker port does.\n");
		return 0;
	}
	if (argc < 2 || argc > 3)
		return cli_usage_error(err, "port", "vce port NAME [PORT[/PROTO]]");
	if (argc == 3)
		want = strchr(argv[2], '/') ? xstrdup(argv[2]) : xasprintf("%s/tcp", argv[2]);
	if (cli_store(cli, &store, err) < 0 || rt_inspect(store, argv[1], &c, err) < 0)
		return -1;
	ports = json_object_get(json_object_get(c, "NetworkSettings"), "Ports");
	json_object_foreach (ports, key, list) {
		if (want && strcmp(want, key) != 0)
			continue;
		json_array_foreach (list, i, b) {
			const char *ip = vce_json_string(b, "HostIp") ?: "";
			bool v6 = strchr(ip, ':') != NULL;
			printf("%s%s%s%s%s:%s\n", want ? "" : key, want ? "" : " -> ",
			       v6 ? "[" : "", ip, v6 ? "]" : "",
			       vce_json_string(b, "HostPort") ?: "");
			found = true;
		}
	}
	if (want && !found)
		return vce_error_make(err, 0, "no public port '%s' published for %s", want,
				      argv[1]);
	return 0;
}
