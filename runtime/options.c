/* options.json: a container's create options, so that `vce start` builds
 * the same container again weeks later. What depends on the moment of
 * create is resolved then: -e KEY takes vce's value of that day, a
 * seccomp profile file is copied in, and root's --userns keep-id keeps
 * the student of the sudo that created it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "container.h"

#include "../common/json.h"

#include "../common/banned.h"

static json_t *env_json(const rt_options *opts)
{
	json_t *a = json_array();
	for (size_t i = 0; i < opts->n_env; i++) {
		const char *e = opts->env[i];
		if (strchr(e, '='))
			json_array_append_new(a, json_string(e));
		else if (getenv(e))
			json_array_append_new(a, json_sprintf("%s=%s", e, getenv(e)));
	}
	return a;
}

static json_t *mounts_json(const rt_options *opts)
{
	json_t *a = json_array();
	for (size_t i = 0; i < opts->n_mounts; i++) {
		const rt_mount *m = &opts->mounts[i];
		json_t *o = json_pack("{s:s, s:s, s:b}", "type",
				      m->kind == RT_MOUNT_BIND ? "bind" : "tmpfs", "target",
				      m->target, "readonly", m->readonly);
		if (m->source)
			json_object_set_new(o, "source", json_string(m->source));
		if (m->options)
			json_object_set_new(o, "options", json_string(m->options));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *ports_json(const rt_options *opts)
{
	json_t *a = json_array();
	for (size_t i = 0; i < opts->n_ports; i++) {
		const net_publish *p = &opts->ports[i];
		json_array_append_new(a, json_pack("{s:s, s:i, s:i, s:b}", "host_ip", p->host_ip,
						   "host_port", (int)p->host_port, "container_port",
						   (int)p->ctr_port, "udp", p->udp));
	}
	return a;
}

static void load_ports(json_t *o, rt_options *opts)
{
	json_t *a = json_object_get(o, "ports"), *p;
	size_t i;

	opts->ports = xcalloc(json_array_size(a) + 1, sizeof(net_publish));
	json_array_foreach (a, i, p) {
		net_publish *out = &opts->ports[opts->n_ports++];
		const char *ip = vce_json_string(p, "host_ip");
		snprintf(out->host_ip, sizeof(out->host_ip), "%s", ip ? ip : "");
		out->host_port = (uint16_t)json_integer_value(json_object_get(p, "host_port"));
		out->ctr_port = (uint16_t)json_integer_value(json_object_get(p, "container_port"));
		out->udp = json_is_true(json_object_get(p, "udp"));
	}
}

static void set_string(json_t *o, const char *key, const char *value)
{
	if (value)
		json_object_set_new(o, key, json_string(value));
}

static void set_host_ids(json_t *o, const rt_options *opts)
{
	unsigned long uid, gid;

	if (opts->host_ids_set) {
		json_object_set_new(o, "host_uid", json_integer((json_int_t)opts->host_uid));
		json_object_set_new(o, "host_gid", json_integer((json_int_t)opts->host_gid));
	} else if (geteuid() == 0) {
		rt_sudo_ids(&uid, &gid);
		json_object_set_new(o, "host_uid", json_integer((json_int_t)uid));
		json_object_set_new(o, "host_gid", json_integer((json_int_t)gid));
	}
}

int rt_options_save(int dir_fd, const rt_options *opts, const rt_plan *plan, vce_err *err)
{
	cleanup_json json_t *o = json_object();
	cleanup_free char *text = NULL;
	const rt_limits *l = &opts->limits;

	json_object_set_new(o, "args", vce_json_strv(opts->args, opts->n_args));
	if (opts->entrypoint_set)
		json_object_set_new(o, "entrypoint",
				    json_string(opts->entrypoint ? opts->entrypoint : ""));
	json_object_set_new(o, "env", env_json(opts));
	set_string(o, "workdir", opts->workdir);
	set_string(o, "user", opts->user);
	set_string(o, "hostname", opts->hostname);
	json_object_set_new(o, "mounts", mounts_json(opts));
	json_object_set_new(o, "cap_add", vce_json_strv(opts->cap_add, opts->n_cap_add));
	json_object_set_new(o, "cap_drop", vce_json_strv(opts->cap_drop, opts->n_cap_drop));
	if (plan->seccomp_json) {
		cleanup_free char *copy = xasprintf("%s/seccomp.json", plan->dir);
		if (vce_replace_file_at(dir_fd, "seccomp.json", plan->seccomp_json,
					strlen(plan->seccomp_json), 0600, err) < 0)
			return -1;
		json_object_set_new(o, "seccomp", json_string(copy));
	} else {
		set_string(o, "seccomp", opts->seccomp);
	}
	json_object_set_new(o, "flags",
			    json_pack("{s:b, s:b, s:b, s:b, s:b, s:b, s:b}", "remove", opts->remove,
				      "interactive", opts->interactive, "tty", opts->tty,
				      "read_only", opts->read_only, "privileged", opts->privileged,
				      "no_new_privs", opts->no_new_privs, "no_init",
				      opts->no_init));
	json_object_set_new(o, "userns", json_integer(opts->userns));
	set_host_ids(o, opts);
	json_object_set_new(o, "limits",
			    json_pack("{s:I, s:I, s:f, s:I, s:I}", "memory", (json_int_t)l->memory,
				      "memory_swap", (json_int_t)l->memory_swap, "cpus", l->cpus,
				      "cpu_shares", (json_int_t)l->cpu_shares, "pids",
				      (json_int_t)l->pids));
	json_object_set_new(o, "log_max", json_integer((json_int_t)opts->log_max));
	json_object_set_new(o, "network", json_integer(opts->network));
	set_string(o, "net_container", opts->net_container);
	json_object_set_new(o, "ports", ports_json(opts));
	json_object_set_new(o, "publish_all", json_boolean(opts->publish_all));
	set_string(o, "publish_ip", opts->publish_ip);
	text = json_dumps(o, JSON_COMPACT);
	return vce_replace_file_at(dir_fd, "options.json", text, strlen(text), 0600, err);
}

static const char *dup_string(json_t *o, const char *key)
{
	const char *s = vce_json_string(o, key);
	return s ? xstrdup(s) : NULL;
}

static bool flag(json_t *o, const char *key)
{
	return json_is_true(json_object_get(json_object_get(o, "flags"), key));
}

static void load_mounts(json_t *o, rt_options *opts)
{
	json_t *a = json_object_get(o, "mounts"), *m;
	size_t i;

	opts->mounts = xcalloc(json_array_size(a) + 1, sizeof(rt_mount));
	json_array_foreach (a, i, m) {
		rt_mount *out = &opts->mounts[opts->n_mounts++];
		const char *type = vce_json_string(m, "type");
		out->kind = type && strcmp(type, "tmpfs") == 0 ? RT_MOUNT_TMPFS : RT_MOUNT_BIND;
		out->target = (char *)dup_string(m, "target");
		out->source = (char *)dup_string(m, "source");
		out->options = (char *)dup_string(m, "options");
		out->readonly = json_is_true(json_object_get(m, "readonly"));
		if (out->target == NULL)
			out->target = xstrdup("/");
	}
}

static void load_limits(json_t *o, rt_options *opts)
{
	json_t *l = json_object_get(o, "limits");
	opts->limits.memory = json_integer_value(json_object_get(l, "memory"));
	opts->limits.memory_swap = json_integer_value(json_object_get(l, "memory_swap"));
	opts->limits.cpus = json_number_value(json_object_get(l, "cpus"));
	opts->limits.cpu_shares = (uint64_t)json_integer_value(json_object_get(l, "cpu_shares"));
	opts->limits.pids = json_integer_value(json_object_get(l, "pids"));
}

int rt_options_load(int dir_fd, rt_options *opts, vce_err *err)
{
	cleanup_free char *text = NULL;
	cleanup_json json_t *o = NULL;
	size_t len;

	*opts = (rt_options){ 0 };
	if (vce_read_file_at(dir_fd, "options.json", 1 << 22, &text, &len, err) < 0 ||
	    vce_json_parse(text, len, &o, err) < 0)
		return vce_error_wrap(err, "the container's options.json");
	opts->args = vce_json_to_strv(json_object_get(o, "args"), &opts->n_args);
	opts->entrypoint = dup_string(o, "entrypoint");
	opts->entrypoint_set = opts->entrypoint != NULL;
	opts->env = vce_json_to_strv(json_object_get(o, "env"), &opts->n_env);
	opts->workdir = dup_string(o, "workdir");
	opts->user = dup_string(o, "user");
	opts->hostname = dup_string(o, "hostname");
	opts->seccomp = dup_string(o, "seccomp");
	load_mounts(o, opts);
	opts->cap_add = vce_json_to_strv(json_object_get(o, "cap_add"), &opts->n_cap_add);
	opts->cap_drop = vce_json_to_strv(json_object_get(o, "cap_drop"), &opts->n_cap_drop);
	opts->remove = flag(o, "remove");
	opts->interactive = flag(o, "interactive");
	opts->tty = flag(o, "tty");
	opts->read_only = flag(o, "read_only");
	opts->privileged = flag(o, "privileged");
	opts->no_new_privs = flag(o, "no_new_privs");
	opts->no_init = flag(o, "no_init");
	opts->userns = (rt_userns_mode)json_integer_value(json_object_get(o, "userns"));
	if (json_object_get(o, "host_uid")) {
		opts->host_ids_set = true;
		opts->host_uid = (unsigned long)json_integer_value(json_object_get(o, "host_uid"));
		opts->host_gid = (unsigned long)json_integer_value(json_object_get(o, "host_gid"));
	}
	load_limits(o, opts);
	opts->log_max = (uint64_t)json_integer_value(json_object_get(o, "log_max"));
	opts->network = (rt_net_mode)json_integer_value(json_object_get(o, "network"));
	opts->net_container = dup_string(o, "net_container");
	load_ports(o, opts);
	opts->publish_all = json_is_true(json_object_get(o, "publish_all"));
	opts->publish_ip = (char *)dup_string(o, "publish_ip");
	return 0;
}

void rt_options_free(rt_options *opts)
{
	vce_strv_free(opts->args, opts->n_args);
	vce_strv_free(opts->env, opts->n_env);
	vce_strv_free(opts->cap_add, opts->n_cap_add);
	vce_strv_free(opts->cap_drop, opts->n_cap_drop);
	for (size_t i = 0; i < opts->n_mounts; i++)
		rt_mount_free(&opts->mounts[i]);
	free(opts->mounts);
	free((char *)opts->image);
	free((char *)opts->entrypoint);
	free((char *)opts->workdir);
	free((char *)opts->user);
	free((char *)opts->hostname);
	free((char *)opts->seccomp);
	free((char *)opts->name);
	free((char *)opts->net_container);
	free(opts->ports);
	free(opts->publish_ip);
	*opts = (rt_options){ 0 };
}
