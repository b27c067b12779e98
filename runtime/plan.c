/* The plan of a container: everything decided on the host before any of
 * its processes exists — the command, its environment and uid, the id
 * maps, the capabilities, the layers. Errors the user can cause are found
 * here, before anything is created. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "internal.h"
#include "../common/json.h"

#include "../common/banned.h"
#include "../rootfs-cache/cache.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

void rt_plan_free(rt_plan *plan)
{
	free(plan->id);
	free(plan->name);
	free(plan->image_id);
	free(plan->image_name);
	free(plan->dir);
	free(plan->cache_dir);
	vce_strv_free(plan->lowers, plan->n_lowers);
	vce_strv_free(plan->diff_ids, plan->n_lowers);
	vce_strv_free(plan->argv, plan->n_argv);
	vce_strv_free(plan->envp, plan->n_envp);
	free(plan->cwd);
	free(plan->hostname);
	free(plan->groups);
	free(plan->seccomp);
	free(plan->seccomp_json);
	free(plan->seccomp_bpf);
	free(plan->stop_signal);
	free(plan->net_container);
	free(plan->ports);
	free(plan->publish_ip);
	rt_net_close(plan);
	for (size_t i = 0; i < plan->n_mounts; i++)
		rt_mount_free(&plan->mounts[i]);
	free(plan->mounts);
	memset(plan, 0, sizeof(*plan));
}

/* The address a lab sets for -p without one: "publish_default_ip" in
 * $VCE_CONFIG or /etc/vce/config.json. */
static int configured_publish_ip(char **out, vce_err *err)
{
	cleanup_json json_t *conf = vce_config_load();
	const char *ip = vce_json_string(conf, "publish_default_ip");

	*out = NULL;
	if (ip && !net_is_address(ip))
		return vce_error_make(err, 0,
				      "publish_default_ip \"%s\" in %s is not an IP address: "
				      "correct it, or leave it out",
				      ip, vce_config_path());
	*out = ip ? xstrdup(ip) : NULL;
	return 0;
}

/* -p as given, then with -P every port the image exposes that -p did not
 * publish already, on a free host port. */
static int build_network(rt_plan *plan, const rt_options *opts, const rt_image_config *conf,
			 vce_err *err)
{
	plan->network = opts->network;
	plan->net_share_fd = -1;
	plan->net_share_userns_fd = -1;
	plan->net_container = opts->net_container ? xstrdup(opts->net_container) : NULL;
	plan->ports = xcalloc(opts->n_ports + conf->n_exposed + 1, sizeof(net_publish));
	for (size_t i = 0; i < opts->n_ports; i++)
		plan->ports[plan->n_ports++] = opts->ports[i];
	for (size_t i = 0; opts->publish_all && i < conf->n_exposed; i++) {
		net_publish p;
		bool published = false;
		if (net_parse_exposed(conf->exposed[i], &p, err) < 0)
			return -1;
		for (size_t k = 0; k < opts->n_ports; k++)
			published |=
			    opts->ports[k].ctr_port == p.ctr_port && opts->ports[k].udp == p.udp;
		if (!published)
			plan->ports[plan->n_ports++] = p;
	}
	if (opts->publish_ip) {
		plan->publish_ip = xstrdup(opts->publish_ip);
		return 0;
	}
	return configured_publish_ip(&plan->publish_ip, err);
}

static int build_argv(rt_plan *plan, const rt_options *opts, const rt_image_config *conf,
		      vce_err *err)
{
	if (opts->entrypoint_set) {
		if (opts->entrypoint && *opts->entrypoint)
			vce_strv_push(&plan->argv, &plan->n_argv, xstrdup(opts->entrypoint));
	} else {
		for (size_t i = 0; i < conf->n_entrypoint; i++)
			vce_strv_push(&plan->argv, &plan->n_argv, xstrdup(conf->entrypoint[i]));
	}
	if (opts->n_args > 0) {
		for (size_t i = 0; i < opts->n_args; i++)
			vce_strv_push(&plan->argv, &plan->n_argv, xstrdup(opts->args[i]));
	} else if (!opts->entrypoint_set) {
		/* Docker drops the image's Cmd when --entrypoint is given. */
		for (size_t i = 0; i < conf->n_cmd; i++)
			vce_strv_push(&plan->argv, &plan->n_argv, xstrdup(conf->cmd[i]));
	}
	if (plan->n_argv == 0)
		return vce_error_make(
		    err, 0, "%s has no command to run: give one after the image name", opts->image);
	return 0;
}

/* Sets KEY=VALUE, replacing an earlier KEY. */
static void env_set(rt_plan *plan, const char *kv)
{
	size_t klen = strcspn(kv, "=");
	for (size_t i = 0; i < plan->n_envp; i++) {
		if (strncmp(plan->envp[i], kv, klen) == 0 && plan->envp[i][klen] == '=') {
			free(plan->envp[i]);
			plan->envp[i] = xstrdup(kv);
			return;
		}
	}
	vce_strv_push(&plan->envp, &plan->n_envp, xstrdup(kv));
}

static int build_env(rt_plan *plan, const rt_options *opts, const rt_image_config *conf,
		     vce_err *err)
{
	for (size_t i = 0; i < conf->n_env; i++)
		if (strchr(conf->env[i], '='))
			env_set(plan, conf->env[i]);
	for (size_t i = 0; i < opts->n_env; i++) {
		const char *e = opts->env[i];
		if (*e == '=' || *e == '\0')
			return vce_error_make(
			    err, 0, "invalid environment variable \"%s\": use -e KEY=VALUE", e);
		if (strchr(e, '=')) {
			env_set(plan, e);
		} else if (getenv(e)) {
			/* -e KEY passes vce's own value on, as Docker does. */
			cleanup_free char *kv = xasprintf("%s=%s", e, getenv(e));
			env_set(plan, kv);
		}
	}
	if (!vce_env_lookup(plan->envp, plan->n_envp, "PATH"))
		env_set(plan, "PATH=" DEFAULT_PATH);
	{
		cleanup_free char *h = xasprintf("HOSTNAME=%s", plan->hostname);
		env_set(plan, h);
	}
	if (opts->tty && !vce_env_lookup(plan->envp, plan->n_envp, "TERM"))
		env_set(plan, "TERM=xterm");
	return 0;
}

static int build_caps(rt_plan *plan, const rt_options *opts, vce_err *err)
{
	uint64_t all = 0;
	int last = (int)cap_max_bits() - 1;

	/* "All" is what vce itself may pass on: its bounding set. */
	for (int c = 0; c <= last && c < 64; c++)
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			all |= UINT64_C(1) << c;
	/* Docker's order: drops (ALL: start from none), then adds. */
	plan->caps = opts->privileged ? all : rt_default_caps();
	for (size_t i = 0; i < opts->n_cap_drop; i++) {
		int c = rt_cap_from_name(opts->cap_drop[i]);
		if (c == -1)
			return vce_error_make(err, 0, "unknown capability \"%s\" in --cap-drop",
					      opts->cap_drop[i]);
		plan->caps &= c == -2 ? 0 : ~(UINT64_C(1) << c);
	}
	for (size_t i = 0; i < opts->n_cap_add; i++) {
		int c = rt_cap_from_name(opts->cap_add[i]);
		if (c == -1)
			return vce_error_make(err, 0, "unknown capability \"%s\" in --cap-add",
					      opts->cap_add[i]);
		plan->caps |= c == -2 ? all : UINT64_C(1) << c;
	}
	plan->caps &= all;
	return 0;
}

/* Numeric value of an environment variable of the container, or -1. */
static long env_id(const rt_plan *plan, const char *key)
{
	const char *v = vce_env_lookup(plan->envp, plan->n_envp, key);
	char *end;
	long id;

	if (v == NULL || *v < '0' || *v > '9')
		return -1;
	id = strtol(v, &end, 10);
	return *end == '\0' && id < 0x7fffffff ? id : -1;
}

/* The student mapping: container id `student` is the host id `host`;
 * with a subordinate range, every other id goes into it in order, so
 * container root and the image's other owners exist too. */
static size_t student_map(vce_idrange_line *out, unsigned long student, unsigned long host,
			  unsigned long start, unsigned long count)
{
	size_t n = 0;

	if (count == 0) {
		out[n++] = (vce_idrange_line){ student, host, 1 };
		return n;
	}
	if (student > 0)
		out[n++] = (vce_idrange_line){ 0, start, student < count ? student : count };
	out[n++] = (vce_idrange_line){ student, host, 1 };
	if (count > student)
		out[n++] = (vce_idrange_line){ student + 1, start + student, count - student };
	return n;
}

bool rt_sudo_ids(unsigned long *uid, unsigned long *gid)
{
	const char *su = getenv("SUDO_UID"), *sg = getenv("SUDO_GID");

	*uid = su ? strtoul(su, NULL, 10) : 0;
	*gid = sg ? strtoul(sg, NULL, 10) : 0;
	return su && sg;
}

static int build_userns(rt_plan *plan, const rt_options *opts, vce_err *err)
{
	bool root = geteuid() == 0;
	unsigned long student_uid = plan->uid, student_gid = plan->gid;
	unsigned long host_uid = getuid(), host_gid = getgid();
	vce_idrange range = { 0 };

	plan->rootless = !root;
	/* A docker-stacks image started as root becomes NB_UID later. */
	if (plan->uid == 0 && env_id(plan, "NB_UID") >= 0)
		student_uid = (unsigned long)env_id(plan, "NB_UID");
	if (plan->uid == 0 && env_id(plan, "NB_GID") >= 0)
		student_gid = (unsigned long)env_id(plan, "NB_GID");
	plan->student_host_uid = (uid_t)student_uid;
	plan->student_host_gid = (gid_t)student_gid;
	if (root && opts->userns != RT_USERNS_KEEP_ID) {
		/* Root in there may write anywhere: a folder made for it is
		 * better the sudo user's, in whose home it likely is. */
		if (student_uid == 0 && rt_sudo_ids(&host_uid, &host_gid)) {
			plan->student_host_uid = (uid_t)host_uid;
			plan->student_host_gid = (gid_t)host_gid;
		}
		return 0;
	}
	if (!root && opts->userns == RT_USERNS_HOST)
		return vce_error_make(err, 0,
				      "--userns=host needs root: run vce as root, or leave it out");
	plan->userns = true;
	if (root && opts->host_ids_set) {
		host_uid = opts->host_uid;
		host_gid = opts->host_gid;
		range = (vce_idrange){ 100000, 65536, 100000, 65536 };
	} else if (root) {
		rt_sudo_ids(&host_uid, &host_gid);
		range = (vce_idrange){ 100000, 65536, 100000, 65536 };
	} else if (vce_subid_range(&range)) {
		plan->map.helpers = true;
	} else {
		vce_verbose(
		    "no subordinate ids for this user (/etc/subuid): only uid %lu is mapped, "
		    "and every file of the image belongs to it",
		    student_uid);
	}
	plan->student_uid = student_uid;
	plan->student_gid = student_gid;
	plan->student_host_uid = (uid_t)host_uid;
	plan->student_host_gid = (gid_t)host_gid;
	plan->map.n_uid =
	    student_map(plan->map.uid, student_uid, host_uid, range.uid_start, range.uid_count);
	plan->map.n_gid =
	    student_map(plan->map.gid, student_gid, host_gid, range.gid_start, range.gid_count);
	if (!plan->map.helpers && !root && (plan->uid != student_uid || plan->gid != student_gid)) {
		/* Only the student's ids exist: the process must be them. */
		plan->uid = (uid_t)student_uid;
		plan->gid = (gid_t)student_gid;
	}
	return 0;
}

static int open_layers(const rt_plan *plan, rt_layer_view *view, vce_err *err)
{
	view->fds = xcalloc(plan->n_lowers + 1, sizeof(int));
	view->n = 0;
	for (size_t i = 0; i < plan->n_lowers; i++) {
		cleanup_free char *p = xasprintf("%s/%s", plan->cache_dir, plan->lowers[i]);
		int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return vce_error_make(err, errno, "open layer %s", p);
		view->fds[view->n++] = fd;
	}
	return 0;
}

static void close_layers(rt_layer_view *view)
{
	for (size_t i = 0; i < view->n; i++)
		close(view->fds[i]);
	free(view->fds);
}

static int build_user(rt_plan *plan, const rt_options *opts, const rt_image_config *conf,
		      vce_err *err)
{
	rt_layer_view view = { 0 };
	cleanup_free char *home = NULL;
	int ret = open_layers(plan, &view, err);

	if (ret == 0)
		ret = rt_resolve_user(&view, opts->user ? opts->user : conf->user, &plan->uid,
				      &plan->gid, &plan->groups, &plan->n_groups, &home, err);
	close_layers(&view);
	if (ret < 0)
		return -1;
	if (!vce_env_lookup(plan->envp, plan->n_envp, "HOME")) {
		cleanup_free char *kv = xasprintf("HOME=%s", home ? home : "/");
		env_set(plan, kv);
	}
	return 0;
}

static int build_layers(rt_plan *plan, oci_store *store, const rt_image_config *conf, vce_err *err)
{
	cache *c;

	if (oci_store_cache(store, &c, err) < 0)
		return -1;
	plan->cache_dir = xstrdup(cache_path(c));
	plan->lowers = xcalloc(conf->n_diff_ids + 1, sizeof(char *));
	plan->diff_ids = xcalloc(conf->n_diff_ids + 1, sizeof(char *));
	for (size_t i = 0; i < conf->n_diff_ids; i++) {
		const char *d = conf->diff_ids[conf->n_diff_ids - 1 - i];
		if (!cache_has_layer(c, d))
			return vce_error_make(err, 0,
					      "layer %.19s of %s is not unpacked: load the image "
					      "again (vce load)",
					      d, plan->image_name);
		plan->lowers[i] = xasprintf("%s/rootfs", d + strlen("sha256:"));
		plan->diff_ids[i] = xstrdup(d);
		plan->n_lowers++;
	}
	if (plan->n_lowers == 0)
		return vce_error_make(err, 0, "%s has no layers: there is nothing to run",
				      plan->image_name);
	return 0;
}

static size_t depth(const char *path)
{
	size_t n = 0;
	for (const char *p = path; *p; p++)
		n += *p == '/' && p[1] != '/' && p[1] != '\0';
	return n;
}

static int by_depth(const void *a, const void *b)
{
	size_t da = depth(((const rt_mount *)a)->target), db = depth(((const rt_mount *)b)->target);
	return da < db ? -1 : da > db;
}

/* The user's mounts, parents before children (as Docker sorts them). A
 * missing host folder is created for the student: as root without a user
 * namespace that is the uid the image's user has on the host (Docker
 * leaves it root's, and the notebook cannot save into it); otherwise the
 * student is the user who ran vce. */
static int build_mounts(rt_plan *plan, const rt_options *opts, vce_err *err)
{
	plan->mounts = xcalloc(opts->n_mounts + 1, sizeof(rt_mount));
	for (size_t i = 0; i < opts->n_mounts; i++) {
		const rt_mount *m = &opts->mounts[i];
		rt_mount *c = &plan->mounts[plan->n_mounts++];
		c->kind = m->kind;
		c->readonly = m->readonly;
		c->source = m->source ? xstrdup(m->source) : NULL;
		c->target = xstrdup(m->target);
		c->options = m->options ? xstrdup(m->options) : NULL;
		if (c->kind == RT_MOUNT_BIND && access(c->source, F_OK) < 0) {
			uid_t uid = plan->rootless ? (uid_t)-1 : plan->student_host_uid;
			cleanup_close int fd = vce_mkdirs_owned_at(AT_FDCWD, c->source, 0755, uid,
								   plan->student_host_gid, err);
			if (fd < 0)
				return vce_error_wrap(err, "create the host folder of -v %s",
						      c->target);
		}
	}
	qsort(plan->mounts, plan->n_mounts, sizeof(rt_mount), by_depth);
	return 0;
}

static int compression_of(const char *media_type, cache_compression *out, vce_err *err)
{
	oci_compression oc;
	if (oci_layer_compression(media_type, &oc, err) < 0)
		return -1;
	*out = oc == OCI_LAYER_GZIP ? CACHE_GZIP : oc == OCI_LAYER_ZSTD ? CACHE_ZSTD : CACHE_PLAIN;
	return 0;
}

/* Unpacks the image's layers with the plan's owners, where not yet done. */
static int unpack_owned_layers(oci_store *store, cache *c, const char *manifest,
			       const rt_image_config *conf, vce_err *err)
{
	cleanup_free char *text = NULL;
	oci_manifest m = { 0 };
	cache_layer *layers = NULL;
	cache_hold *hold = NULL;
	size_t len, n = 0;
	int ret = -1;

	if (oci_store_read_blob(store, manifest, 4 << 20, &text, &len, err) < 0 ||
	    oci_manifest_parse(text, len, &m, err) < 0)
		return -1;
	if (m.n_layers != conf->n_diff_ids) {
		vce_error_make(err, 0, "the image's manifest and config disagree on its layers");
		goto out;
	}
	layers = xcalloc(m.n_layers + 1, sizeof(cache_layer));
	for (; n < m.n_layers; n++) {
		layers[n].diff_id = conf->diff_ids[n];
		if (compression_of(m.layers[n].media_type, &layers[n].compression, err) < 0)
			goto out;
		layers[n].fd = oci_store_open_blob(store, m.layers[n].digest, err);
		if (layers[n].fd < 0)
			goto out;
	}
	vce_verbose("unpacking the layers once more, owned by the ids of this mapping");
	if (cache_unpack_image(c, layers, n, &hold, err) == 0) {
		cache_release(c, hold, false);
		ret = 0;
	}
out:
	for (size_t i = 0; i < n; i++)
		close(layers[i].fd);
	free(layers);
	oci_manifest_free(&m);
	return ret;
}

/* A user namespace that maps the student's ids to the host user needs
 * the layers' owners mapped the same way (else the image's root files
 * would seem to be the student's): a variant of the cache per mapping. */
static int use_owned_layers(rt_plan *plan, oci_store *store, const char *manifest,
			    const rt_image_config *conf, vce_err *err)
{
	cache *c;
	bool missing = false;

	if (!plan->userns || (plan->rootless && !plan->map.helpers) ||
	    (plan->rootless && plan->student_uid == 0 && plan->student_gid == 0))
		return 0;
	if (oci_store_cache(store, &c, err) < 0)
		return -1;
	cache_set_owners(c, &plan->map, plan->student_uid, plan->student_gid);
	for (size_t i = 0; i < conf->n_diff_ids; i++)
		missing |= !cache_has_layer(c, conf->diff_ids[i]);
	if (missing && unpack_owned_layers(store, c, manifest, conf, err) < 0)
		return vce_error_wrap(err, "preparing the layers for uid %lu", plan->student_uid);
	for (size_t i = 0; i < plan->n_lowers; i++) {
		cleanup_free char *abs = cache_layer_path(c, plan->diff_ids[i]);
		free(plan->lowers[i]);
		plan->lowers[i] = xstrdup(abs + strlen(plan->cache_dir) + 1);
	}
	return 0;
}

int rt_plan_build(oci_store *store, const rt_options *opts, const char *manifest, rt_plan *plan,
		  vce_err *err)
{
	rt_image_config conf;
	int ret = -1;

	if (rt_image_config_read(store, manifest, &conf, err) < 0)
		return -1;
	if (build_layers(plan, store, &conf, err) < 0 || build_argv(plan, opts, &conf, err) < 0 ||
	    build_env(plan, opts, &conf, err) < 0 || build_user(plan, opts, &conf, err) < 0 ||
	    build_caps(plan, opts, err) < 0 || build_userns(plan, opts, err) < 0 ||
	    use_owned_layers(plan, store, manifest, &conf, err) < 0)
		goto out;
	plan->cwd = xstrdup(opts->workdir ? opts->workdir : conf.workdir ? conf.workdir : "/");
	if (plan->cwd[0] != '/') {
		vce_error_make(
		    err, 0, "the working directory \"%s\" is invalid: it must be an absolute path",
		    plan->cwd);
		goto out;
	}
	plan->stop_signal = conf.stop_signal ? xstrdup(conf.stop_signal) : NULL;
	if (opts->seccomp && strcmp(opts->seccomp, "unconfined") != 0 &&
	    rt_read_seccomp_file(opts->seccomp, &plan->seccomp_json, err) < 0)
		goto out;
	if (build_mounts(plan, opts, err) < 0)
		goto out;
	plan->seccomp = opts->seccomp ? xstrdup(opts->seccomp) : NULL;
	if (!opts->privileged &&
	    rt_seccomp_program(oci_store_dirfd(store), plan->seccomp, plan->seccomp_json,
			       plan->caps, &plan->seccomp_bpf, &plan->seccomp_len, err) < 0)
		goto out;
	plan->privileged = opts->privileged;
	plan->no_new_privs = opts->no_new_privs;
	plan->read_only = opts->read_only;
	plan->tty = opts->tty;
	plan->interactive = opts->interactive;
	plan->init = !opts->no_init;
	plan->remove = opts->remove;
	plan->limits = opts->limits;
	plan->log_max = opts->log_max;
	if (build_network(plan, opts, &conf, err) < 0)
		goto out;
	ret = 0;
out:
	rt_image_config_free(&conf);
	return ret;
}
