/* A container's record in the store:
 *
 *   containers/<id>/state.json    id, name, image, layers, status, pids (atomic)
 *   containers/<id>/options.json  what create was asked (start rebuilds from it)
 *   containers/<id>/log, log.1    the output of a detached container
 *   containers/<id>/upper, work   the overlay's writable layer
 *   containers/<id>/rootfs        where the overlay is mounted (inside the
 *                                 container's mount namespace only)
 *   containers/<id>/hostname, hosts, resolv.conf   bind-mounted into /etc
 *
 * Created under the store's lock, so a name is never taken twice and an
 * image is never removed between being chosen and being recorded as used. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "container.h"

#include "../common/json.h"

#include "../common/banned.h"

static const char *const adjectives[] = { "brave", "calm",  "clever", "eager", "gentle", "happy",
					  "jolly", "keen",  "lucid",  "merry", "nimble", "quiet",
					  "sharp", "sunny", "tidy",   "vivid", "wise",	 "zesty" };
static const char *const nouns[] = { "babbage", "curie",   "darwin",  "euler",	  "faraday",
				     "gauss",	"hopper",  "kepler",  "lovelace", "noether",
				     "pascal",	"ritchie", "shannon", "turing",	  "wilkes" };

static bool name_valid(const char *name)
{
	if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') ||
	      (name[0] >= '0' && name[0] <= '9')))
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
	       strlen(name);
}

static bool has_name(const char *id, json_t *state, void *ctx)
{
	const char *name = vce_json_string(state, "name");
	(void)id;
	return name && strcmp(name, ctx) == 0;
}

static bool name_taken(oci_store *store, const char *name)
{
	return oci_each_container(store, has_name, (void *)name);
}

static char *pick_name(oci_store *store)
{
	for (int tries = 0;; tries++) {
		unsigned char r[3];
		char hex[8];
		char *name;
		vce_random_hex(hex, 3);
		r[0] = (unsigned char)strtoul((char[]){ hex[0], hex[1], 0 }, NULL, 16);
		r[1] = (unsigned char)strtoul((char[]){ hex[2], hex[3], 0 }, NULL, 16);
		name = xasprintf("%s_%s",
				 adjectives[r[0] % (sizeof(adjectives) / sizeof(*adjectives))],
				 nouns[r[1] % (sizeof(nouns) / sizeof(*nouns))]);
		if (tries > 5) {
			char *numbered = xasprintf("%s_%.4s", name, hex);
			free(name);
			name = numbered;
		}
		if (!name_taken(store, name))
			return name;
		free(name);
	}
}

/* resolv.conf for the container: the host's, without loopback servers
 * (they would be the container's own loopback). A host with none left (a
 * local resolver such as dnsmasq): the way out's DNS forwarder, which
 * asks the host's resolver from the host's side; without one, Docker's
 * public fallback. */
static char *resolv_conf(const char *forwarder)
{
	const char *paths[] = { "/run/systemd/resolve/resolv.conf", "/etc/resolv.conf" };
	char *out = xstrdup("");
	bool any = false;

	for (size_t i = 0; i < 2 && !any; i++) {
		cleanup_fclose FILE *f = fopen(paths[i], "re");
		char line[512];
		while (f && fgets(line, sizeof(line), f)) {
			char *next;
			if (strncmp(line, "nameserver", 10) == 0 &&
			    (strstr(line, " 127.") || strstr(line, " ::1")))
				continue;
			any |= strncmp(line, "nameserver", 10) == 0;
			next = xasprintf("%s%s", out, line);
			free(out);
			out = next;
		}
		if (!any) {
			free(out);
			out = xstrdup("");
		}
	}
	if (!any && forwarder[0]) {
		char *next = xasprintf("%snameserver %s\n", out, forwarder);
		free(out);
		out = next;
	} else if (!any) {
		char *next = xasprintf("%snameserver 8.8.8.8\nnameserver 8.8.4.4\n", out);
		free(out);
		out = next;
	}
	return out;
}

static int write_etc_files(int dfd, const rt_plan *plan, vce_err *err)
{
	cleanup_free char *hostname = xasprintf("%s\n", plan->hostname);
	cleanup_free char *hosts = xasprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
					     "ip6-loopback\n127.0.1.1\t%s\n",
					     plan->hostname);
	const char *tool = plan->network == RT_NET_PRIVATE ? net_outbound_tool() : NULL;
	cleanup_free char *resolv = resolv_conf(net_outbound_dns(tool));
	char alias[64];

	/* As podman's: the host's loopback, reached through the way out. */
	net_outbound_alias(tool, alias, sizeof(alias));
	if (alias[0]) {
		char *more = xasprintf("%s%s\thost.containers.internal host.docker.internal\n",
				       hosts, alias);
		free(hosts);
		hosts = more;
	}

	if (vce_replace_file_at(dfd, "hostname", hostname, strlen(hostname), 0644, err) < 0 ||
	    vce_replace_file_at(dfd, "hosts", hosts, strlen(hosts), 0644, err) < 0 ||
	    vce_replace_file_at(dfd, "resolv.conf", resolv, strlen(resolv), 0644, err) < 0)
		return -1;
	return 0;
}

json_t *rt_state_new(const rt_plan *plan)
{
	json_t *state = json_object(), *layers = json_array();
	char now[64];

	vce_now_rfc3339(now, sizeof(now));
	for (size_t i = 0; i < plan->n_lowers; i++)
		json_array_append_new(layers, json_string(plan->diff_ids[i]));
	json_object_set_new(state, "id", json_string(plan->id));
	json_object_set_new(state, "name", json_string(plan->name));
	json_object_set_new(state, "image", json_string(plan->image_id));
	json_object_set_new(state, "image_name", json_string(plan->image_name));
	json_object_set_new(state, "layers", layers);
	json_object_set_new(state, "created", json_string(now));
	json_object_set_new(state, "status", json_string("created"));
	json_object_set_new(state, "argv", vce_json_strv(plan->argv, plan->n_argv));
	json_object_set_new(state, "env", vce_json_strv(plan->envp, plan->n_envp));
	json_object_set_new(state, "workdir", json_string(plan->cwd));
	json_object_set_new(state, "uid", json_integer(plan->uid));
	json_object_set_new(state, "gid", json_integer(plan->gid));
	json_object_set_new(state, "hostname", json_string(plan->hostname));
	if (plan->stop_signal)
		json_object_set_new(state, "stop_signal", json_string(plan->stop_signal));
	return state;
}

int rt_state_save(int dfd, json_t *state, vce_err *err)
{
	cleanup_free char *text = json_dumps(state, JSON_COMPACT);
	/* Atomic by rename; not fsynced: a crash loses a status, which the
	 * next look at the container's processes puts right. */
	return vce_replace_file_at(dfd, "state.json", text, strlen(text), 0600, err);
}

json_t *rt_state_load(int dir_fd, vce_err *err)
{
	cleanup_free char *text = NULL;
	json_t *state = NULL;
	size_t len;

	if (vce_read_file_at(dir_fd, "state.json", 1 << 20, &text, &len, err) < 0 ||
	    vce_json_parse(text, len, &state, err) < 0)
		return NULL;
	return state;
}

static const char *const process_fields[] = { "pid", "pid_start", "supervisor_pid",
					      "supervisor_start", "boot_id" };

void rt_state_set_running(json_t *state, pid_t init, pid_t supervisor)
{
	char now[64], boot[64];

	vce_now_rfc3339(now, sizeof(now));
	vce_boot_id(boot, sizeof(boot));
	json_object_set_new(state, "status", json_string("running"));
	json_object_set_new(state, "started", json_string(now));
	json_object_set_new(state, "pid", json_integer(init));
	json_object_set_new(state, "pid_start", json_integer((json_int_t)vce_process_start(init)));
	json_object_set_new(state, "supervisor_pid", json_integer(supervisor));
	json_object_set_new(state, "supervisor_start",
			    json_integer((json_int_t)vce_process_start(supervisor)));
	json_object_set_new(state, "boot_id", json_string(boot));
	json_object_del(state, "exit_code");
	json_object_del(state, "finished");
	json_object_del(state, "error");
	json_object_del(state, "oom_killed");
	json_object_del(state, "log_error");
}

void rt_state_set_exit(json_t *state, int code)
{
	char now[64];
	vce_now_rfc3339(now, sizeof(now));
	json_object_set_new(state, "status", json_string("exited"));
	json_object_set_new(state, "exit_code", json_integer(code));
	json_object_set_new(state, "finished", json_string(now));
	for (size_t i = 0; i < sizeof(process_fields) / sizeof(*process_fields); i++)
		json_object_del(state, process_fields[i]);
}

const char *rt_state_status(json_t *state)
{
	const char *status = vce_json_string(state, "status");
	return status ? status : "created";
}

bool rt_state_refresh(json_t *state)
{
	const char *reason = NULL, *recorded = vce_json_string(state, "boot_id");
	json_int_t pid = json_integer_value(json_object_get(state, "supervisor_pid"));
	json_int_t start = json_integer_value(json_object_get(state, "supervisor_start"));
	char boot[64];

	if (strcmp(rt_state_status(state), "running") != 0)
		return false;
	vce_boot_id(boot, sizeof(boot));
	if (recorded == NULL || strcmp(recorded, boot) != 0)
		reason = "the machine restarted while the container ran";
	else if (!vce_process_alive((pid_t)pid, (unsigned long long)start))
		reason = "vce's supervisor of the container was killed, and the container with it";
	else
		return false;
	rt_state_set_exit(state, 137);
	json_object_set_new(state, "error", json_string(reason));
	return true;
}

static int make_dirs(int dfd, vce_err *err)
{
	static const char *const dirs[] = { "upper", "work", "rootfs" };
	for (size_t i = 0; i < 3; i++)
		if (mkdirat(dfd, dirs[i], 0755) < 0)
			return vce_error_make(err, errno, "create the container's %s", dirs[i]);
	return 0;
}

int rt_container_create(oci_store *store, const rt_options *opts, rt_plan *plan, int *dir_fd_out,
			vce_err *err)
{
	oci_images images = { 0 };
	cleanup_close int cfd = -1, dfd = -1;
	cleanup_json json_t *state = NULL;
	char hex[65];
	ssize_t i;
	int ret = -1;

	if (opts->name && !name_valid(opts->name))
		return vce_error_make(
		    err, 0,
		    "invalid container name \"%s\": use letters, digits and _ . - "
		    "(starting with a letter or digit)",
		    opts->name);
	if (oci_store_lock(store, err) < 0)
		return -1;
	if (oci_images_load(store, &images, err) < 0)
		goto out;
	if ((i = oci_images_find(&images, opts->image, err)) < 0) {
		vce_error_release(err);
		vce_error_make(err, 0,
			       "image %s is not in the store: load it with 'vce load -i FILE' "
			       "or pull it with 'vce pull %s'",
			       opts->image, opts->image);
		goto out;
	}
	cfd = vce_mkdirs_at(oci_store_dirfd(store), "containers", 0700, err);
	if (cfd < 0)
		goto out;
	if (opts->name && name_taken(store, opts->name)) {
		vce_error_make(err, 0,
			       "the name \"%s\" is in use by another container: remove it "
			       "(vce rm %s) or choose another --name",
			       opts->name, opts->name);
		goto out;
	}
	vce_random_hex(hex, 32);
	plan->id = xstrdup(hex);
	plan->name = opts->name ? xstrdup(opts->name) : pick_name(store);
	plan->image_id = xstrdup(images.items[i].id);
	plan->image_name = xstrdup(opts->image);
	plan->dir = xasprintf("%s/containers/%s", oci_store_path(store), hex);
	plan->hostname = xstrndup(opts->hostname ? opts->hostname : hex, opts->hostname ? 64 : 12);
	if (rt_plan_build(store, opts, images.items[i].manifest, plan, err) < 0)
		goto out;
	if (mkdirat(cfd, hex, 0700) < 0) {
		vce_error_make(err, errno, "create %s", plan->dir);
		goto out;
	}
	dfd = openat(cfd, hex, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	state = rt_state_new(plan);
	if (dfd < 0 || make_dirs(dfd, err) < 0 || write_etc_files(dfd, plan, err) < 0 ||
	    rt_options_save(dfd, opts, plan, err) < 0 || rt_state_save(dfd, state, err) < 0) {
		if (dfd < 0)
			vce_error_make(err, errno, "open %s", plan->dir);
		cleanup_err vce_err ignored = NULL;
		vce_remove_tree_at(cfd, hex, &ignored);
		goto out;
	}
	*dir_fd_out = dfd;
	dfd = -1;
	ret = 0;
out:
	oci_store_unlock(store);
	oci_images_free(&images);
	return ret;
}

static int remove_as_namespace_root(void *arg, bool full_range, vce_err *err)
{
	(void)full_range;
	return vce_remove_tree_at(AT_FDCWD, arg, err);
}

int rt_container_remove(oci_store *store, const char *id, vce_err *err)
{
	cleanup_close int cfd =
	    openat(oci_store_dirfd(store), "containers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_free char *path = NULL;

	if (cfd < 0)
		return vce_error_make(err, errno, "open the store's containers");
	if (vce_remove_tree_at(cfd, id, err) == 0)
		return 0;
	if (geteuid() == 0)
		return -1;
	/* Files the container's other ids own: removable as root of a user
	 * namespace with this user's range. */
	vce_error_release(err);
	path = xasprintf("%s/containers/%s", oci_store_path(store), id);
	return vce_userns_run(remove_as_namespace_root, path, err);
}

int rt_container_remove_dir(const char *dir, vce_err *err)
{
	if (vce_remove_tree_at(AT_FDCWD, dir, err) == 0)
		return 0;
	if (geteuid() == 0)
		return -1;
	vce_error_release(err);
	return vce_userns_run(remove_as_namespace_root, (void *)dir, err);
}

struct lookup {
	const char *ref;
	char *exact; /* by name or full id */
	char *prefix;
	size_t n_prefix;
};

static bool match_ref(const char *id, json_t *state, void *ctx)
{
	struct lookup *l = ctx;
	const char *name = vce_json_string(state, "name");

	if ((name && strcmp(name, l->ref) == 0) || strcmp(id, l->ref) == 0) {
		l->exact = xstrdup(id);
		return true;
	}
	if (strncmp(id, l->ref, strlen(l->ref)) == 0) {
		if (l->n_prefix++ == 0)
			l->prefix = xstrdup(id);
	}
	return false;
}

int rt_container_resolve(oci_store *store, const char *ref, char **id, vce_err *err)
{
	struct lookup l = { .ref = ref };

	if (*ref == '\0' || strchr(ref, '/'))
		return vce_error_make(err, 0, "no such container: \"%s\"", ref);
	oci_each_container(store, match_ref, &l);
	if (l.exact) {
		free(l.prefix);
		*id = l.exact;
		return 0;
	}
	if (l.n_prefix == 1) {
		*id = l.prefix;
		return 0;
	}
	free(l.prefix);
	if (l.n_prefix > 1)
		return vce_error_make(err, 0,
				      "\"%s\" is the start of %zu container ids: give more of "
				      "the id, or the name",
				      ref, l.n_prefix);
	return vce_error_make(err, 0, "no such container: %s (see 'vce ps -a')", ref);
}

int rt_container_open(oci_store *store, const char *ref, rt_container *c, vce_err *err)
{
	cleanup_free char *path = NULL;

	*c = (rt_container){ .dir_fd = -1, .lock_fd = -1 };
	if (rt_container_resolve(store, ref, &c->id, err) < 0)
		return -1;
	path = xasprintf("containers/%s", c->id);
	c->dir_fd = openat(oci_store_dirfd(store), path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dir_fd < 0 || (c->lock_fd = rt_state_lock(c->dir_fd, err)) < 0) {
		vce_error_release(err);
		vce_error_make(err, 0, "no such container: %s (see 'vce ps -a')", ref);
		rt_container_close(c);
		return -1;
	}
	/* Removed while we waited for the lock? */
	c->state = rt_state_load(c->dir_fd, err);
	if (c->state == NULL) {
		vce_error_release(err);
		vce_error_make(err, 0, "no such container: %s (see 'vce ps -a')", ref);
		rt_container_close(c);
		return -1;
	}
	if (rt_state_refresh(c->state)) {
		cleanup_err vce_err ignored = NULL;
		rt_state_save(c->dir_fd, c->state, &ignored);
	}
	return 0;
}

int rt_container_save(rt_container *c, vce_err *err)
{
	return rt_state_save(c->dir_fd, c->state, err);
}

void rt_container_close(rt_container *c)
{
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	if (c->dir_fd >= 0)
		close(c->dir_fd);
	json_decref(c->state);
	free(c->id);
	*c = (rt_container){ .dir_fd = -1, .lock_fd = -1 };
}

int rt_state_lock(int dir_fd, vce_err *err)
{
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return vce_error_make(err, errno, "open the container's directory");
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			close(fd);
			return vce_error_make(err, errno, "lock the container");
		}
	}
	return fd;
}

int rt_rename(oci_store *store, const char *ref, const char *name, vce_err *err)
{
	rt_container c;
	int ret = -1;

	if (!name_valid(name))
		return vce_error_make(
		    err, 0,
		    "invalid container name \"%s\": use letters, digits and _ . - "
		    "(starting with a letter or digit)",
		    name);
	if (oci_store_lock(store, err) < 0)
		return -1;
	if (rt_container_open(store, ref, &c, err) < 0)
		goto out;
	if (name_taken(store, name)) {
		vce_error_make(err, 0, "the name \"%s\" is in use by another container", name);
	} else {
		json_object_set_new(c.state, "name", json_string(name));
		ret = rt_container_save(&c, err);
	}
	rt_container_close(&c);
out:
	oci_store_unlock(store);
	return ret;
}

pid_t rt_container_member(pid_t init)
{
	char path[64], buf[256];
	cleanup_close int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)init);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return init;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)init, (int)init);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return init;
	buf[n] = '\0';
	return (pid_t)strtol(buf, NULL, 10) > 0 ? (pid_t)strtol(buf, NULL, 10) : init;
}
