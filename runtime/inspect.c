/* What `vce inspect` and `vce ps` show of a container, in the shape of
 * Docker's inspect output, from its state.json and options.json. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "container.h"

#include "../common/json.h"

#include "../common/banned.h"

static json_t *string_or_empty(json_t *state, const char *key)
{
	const char *s = vce_json_string(state, key);
	return json_string(s ? s : "");
}

static json_t *state_object(json_t *state)
{
	const char *status = rt_state_status(state);
	bool running = strcmp(status, "running") == 0;

	return json_pack("{s:s, s:b, s:b, s:b, s:b, s:b, s:I, s:I, s:o, s:o, s:o}", "Status",
			 status, "Running", running, "Paused", 0, "Restarting", 0, "OOMKilled",
			 json_is_true(json_object_get(state, "oom_killed")), "Dead", 0, "Pid",
			 running ? json_integer_value(json_object_get(state, "pid")) : 0,
			 "ExitCode", json_integer_value(json_object_get(state, "exit_code")),
			 "Error", string_or_empty(state, "error"), "StartedAt",
			 string_or_empty(state, "started"), "FinishedAt",
			 string_or_empty(state, "finished"));
}

static json_t *mounts_of(json_t *opts)
{
	json_t *out = json_array(), *m;
	size_t i;

	json_array_foreach (json_object_get(opts, "mounts"), i, m) {
		json_t *o = json_pack("{s:O?, s:O?, s:O?, s:b}", "Type", json_object_get(m, "type"),
				      "Source", json_object_get(m, "source"), "Destination",
				      json_object_get(m, "target"), "RW",
				      !json_is_true(json_object_get(m, "readonly")));
		if (o)
			json_array_append_new(out, o);
	}
	return out;
}

static json_t *host_config(json_t *opts)
{
	json_t *l = json_object_get(opts, "limits"), *flags = json_object_get(opts, "flags");
	double cpus = json_number_value(json_object_get(l, "cpus"));

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:b, s:O?, s:O?}", "Memory",
			 json_integer_value(json_object_get(l, "memory")), "MemorySwap",
			 json_integer_value(json_object_get(l, "memory_swap")), "NanoCpus",
			 (json_int_t)(cpus * 1e9), "CpuShares",
			 json_integer_value(json_object_get(l, "cpu_shares")), "PidsLimit",
			 json_integer_value(json_object_get(l, "pids")), "AutoRemove",
			 json_is_true(json_object_get(flags, "remove")), "Privileged",
			 json_is_true(json_object_get(flags, "privileged")), "ReadonlyRootfs",
			 json_is_true(json_object_get(flags, "read_only")), "CapAdd",
			 json_object_get(opts, "cap_add"), "CapDrop",
			 json_object_get(opts, "cap_drop"));
}

static void add_binding(json_t *ports, const char *key, const char *ip, json_int_t port)
{
	json_t *list = json_object_get(ports, key);

	if (list == NULL) {
		list = json_array();
		json_object_set_new(ports, key, list);
	}
	json_array_append_new(list, json_pack("{s:s, s:o}", "HostIp", ip, "HostPort",
					      json_sprintf("%lld", (long long)port)));
}

/* Docker's NetworkSettings.Ports: {"8888/tcp": [{"HostIp", "HostPort"}]};
 * a port bound to [::] for IPv4 as well shows as both, as Docker's does. */
static json_t *ports_of(json_t *bound)
{
	json_t *ports = json_object(), *p;
	size_t i;

	json_array_foreach (bound, i, p) {
		cleanup_free char *key =
		    xasprintf("%lld/%s", json_integer_value(json_object_get(p, "container_port")),
			      vce_json_string(p, "proto") ? vce_json_string(p, "proto") : "tcp");
		json_int_t host_port = json_integer_value(json_object_get(p, "host_port"));
		const char *ip = vce_json_string(p, "host_ip") ? vce_json_string(p, "host_ip") : "";
		add_binding(ports, key, ip, host_port);
		if (json_is_true(json_object_get(p, "dual")))
			add_binding(ports, key, "::", host_port);
	}
	return ports;
}

static const char *network_mode(json_t *opts)
{
	static const char *const names[] = { "private", "host", "none", "container" };
	json_int_t mode = json_integer_value(json_object_get(opts, "network"));
	return mode >= 0 && mode < 4 ? names[mode] : "private";
}

static json_t *config_of(json_t *state, json_t *opts)
{
	json_t *argv = json_object_get(state, "argv"), *flags = json_object_get(opts, "flags");
	json_t *c = json_object();

	json_object_set_new(c, "Hostname", string_or_empty(state, "hostname"));
	json_object_set_new(c, "User",
			    json_sprintf("%lld:%lld",
					 json_integer_value(json_object_get(state, "uid")),
					 json_integer_value(json_object_get(state, "gid"))));
	json_object_set(c, "Env", json_object_get(state, "env") ?: json_array());
	json_object_set_new(c, "Cmd", argv ? json_deep_copy(argv) : json_array());
	json_object_set_new(c, "Image", string_or_empty(state, "image_name"));
	json_object_set_new(c, "WorkingDir", string_or_empty(state, "workdir"));
	json_object_set_new(c, "StopSignal",
			    json_string(vce_json_string(state, "stop_signal") ?: "SIGTERM"));
	json_object_set_new(c, "Tty", json_boolean(json_is_true(json_object_get(flags, "tty"))));
	json_object_set_new(c, "OpenStdin",
			    json_boolean(json_is_true(json_object_get(flags, "interactive"))));
	return c;
}

/* The log's state: why it stopped, if it did. */
static json_t *log_error_of(int dir_fd)
{
	cleanup_free char *text = NULL;
	cleanup_err vce_err err = NULL;
	size_t len;

	if (vce_read_file_at(dir_fd, "log.status", 4096, &text, &len, &err) < 0 || len == 0)
		return json_null();
	text[strcspn(text, "\n")] = '\0';
	return json_string(text);
}

json_t *rt_container_describe(oci_store *store, const char *id, int dir_fd, json_t *state)
{
	cleanup_free char *text = NULL;
	cleanup_json json_t *opts = NULL;
	cleanup_err vce_err err = NULL;
	json_t *argv = json_object_get(state, "argv"), *out;
	size_t len;

	if (vce_read_file_at(dir_fd, "options.json", 1 << 22, &text, &len, &err) < 0 ||
	    vce_json_parse(text, len, &opts, &err) < 0)
		opts = json_object();
	out = json_object();
	json_object_set_new(out, "Id", json_string(id));
	json_object_set_new(out, "Name", json_sprintf("/%s", vce_json_string(state, "name") ?: id));
	json_object_set_new(out, "Created", string_or_empty(state, "created"));
	json_object_set_new(out, "Path",
			    json_string(json_string_value(json_array_get(argv, 0)) ?: ""));
	json_object_set_new(out, "Args", json_array());
	for (size_t i = 1; i < json_array_size(argv); i++)
		json_array_append(json_object_get(out, "Args"), json_array_get(argv, i));
	json_object_set_new(out, "State", state_object(state));
	json_object_set_new(out, "Image", string_or_empty(state, "image"));
	json_object_set_new(out, "ImageName", string_or_empty(state, "image_name"));
	json_object_set_new(out, "LogPath",
			    json_sprintf("%s/containers/%s/log", oci_store_path(store), id));
	json_object_set_new(out, "LogError", log_error_of(dir_fd));
	json_object_set_new(out, "Mounts", mounts_of(opts));
	json_object_set_new(out, "Config", config_of(state, opts));
	json_object_set_new(out, "HostConfig", host_config(opts));
	{
		json_t *hc = json_object_get(out, "HostConfig");
		const char *shared = vce_json_string(opts, "net_container");
		json_object_set_new(hc, "NetworkMode",
				    shared ? json_sprintf("container:%s", shared)
					   : json_string(network_mode(opts)));
	}
	json_object_set_new(out, "NetworkSettings",
			    json_pack("{s:o}", "Ports", ports_of(json_object_get(state, "ports"))));
	return out;
}

int rt_inspect(oci_store *store, const char *ref, json_t **out, vce_err *err)
{
	rt_container c;

	if (rt_container_open(store, ref, &c, err) < 0)
		return -1;
	*out = rt_container_describe(store, c.id, c.dir_fd, c.state);
	rt_container_close(&c);
	return 0;
}

struct collect {
	oci_store *store;
	json_t *list;
};

static bool collect_one(const char *id, json_t *state, void *ctx)
{
	struct collect *c = ctx;
	cleanup_free char *path = xasprintf("containers/%s", id);
	cleanup_close int dir_fd =
	    openat(oci_store_dirfd(c->store), path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dir_fd < 0)
		return false;
	/* As it is, not as the file last said: a kill -9 or a reboot. */
	rt_state_refresh(state);
	json_array_append_new(c->list, rt_container_describe(c->store, id, dir_fd, state));
	return false;
}

static int newest_first(const void *a, const void *b)
{
	const char *x = vce_json_string(*(json_t *const *)a, "Created");
	const char *y = vce_json_string(*(json_t *const *)b, "Created");
	return strcmp(y ? y : "", x ? x : "");
}

int rt_list(oci_store *store, json_t **out, vce_err *err)
{
	struct collect c = { store, json_array() };
	size_t n;
	json_t **items;

	(void)err;
	oci_each_container(store, collect_one, &c);
	n = json_array_size(c.list);
	items = xcalloc(n + 1, sizeof(json_t *));
	for (size_t i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(c.list, i));
	qsort(items, n, sizeof(json_t *), newest_first);
	json_array_clear(c.list);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(c.list, items[i]);
	free(items);
	*out = c.list;
	return 0;
}
