/* A container's cgroup: its limits, its OOM kills, its usage.
 *
 * Three layouts exist in the field, and this machine has the third:
 *   v2 only   /sys/fs/cgroup is cgroup2, controllers enabled top down;
 *   v1 only   one hierarchy per controller (/sys/fs/cgroup/memory, ...),
 *             as older Raspberry Pi OS mounts them;
 *   hybrid    v1 controllers beside a cgroup2 tree at /sys/fs/cgroup/unified
 *             that has few or none of them.
 * Each controller is taken where it is: its own v1 hierarchy if mounted,
 * else the v2 tree if that lists it. As root the container's directory is
 * vce/<id> in each; rootless, vce/<id> under the highest cgroup of the
 * user's own that they may write (systemd's delegated user@UID.service),
 * or none. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "internal.h"

#include "../common/json.h"

#include "../common/banned.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

#define CGROUP_ROOT "/sys/fs/cgroup"

enum { CTRL_MEMORY, CTRL_CPU, CTRL_CPUACCT, CTRL_PIDS, N_CTRL };
static const char *const ctrl_names[N_CTRL] = { "memory", "cpu", "cpuacct", "pids" };

static bool is_fs(const char *path, long magic)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && (long)sf.f_type == magic;
}

/* The cgroup2 tree, if there is one. */
static const char *v2_root(void)
{
	if (is_fs(CGROUP_ROOT, CGROUP2_SUPER_MAGIC))
		return CGROUP_ROOT;
	if (is_fs(CGROUP_ROOT "/unified", CGROUP2_SUPER_MAGIC))
		return CGROUP_ROOT "/unified";
	return NULL;
}

static int write_file(const char *dir, const char *file, const char *value, vce_err *err)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, file);
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, value, strlen(value)) < 0)
		return vce_error_make(err, errno, "write %s to %s", value, path);
	return 0;
}

static bool read_file(const char *dir, const char *file, char *buf, size_t len)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, file);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;

	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

static bool lists_word(const char *text, const char *word)
{
	size_t len = strlen(word);
	for (const char *p = text; (p = strstr(p, word)) != NULL; p += len)
		if ((p == text || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\n' || !p[len]))
			return true;
	return false;
}

/* Rootless: the highest cgroup above ours (ours included) that this user
 * owns and may write, where systemd delegated a subtree. */
static char *delegated_parent(const char *v2)
{
	char buf[4096];
	cleanup_free char *own = NULL;
	char *line, *best = NULL;

	if (!read_file("/proc/self", "cgroup", buf, sizeof(buf)))
		return NULL;
	line = strstr(buf, "0::");
	if (line == NULL)
		return NULL;
	line += 3;
	line[strcspn(line, "\n")] = '\0';
	own = xasprintf("%s%s", v2, line);
	for (;;) {
		struct stat st;
		char *slash;
		if (stat(own, &st) < 0 || st.st_uid != geteuid() || access(own, W_OK) < 0)
			break;
		free(best);
		best = xstrdup(own);
		slash = strrchr(own, '/');
		if (slash == NULL || slash - own <= (long)strlen(v2))
			break;
		*slash = '\0';
	}
	return best;
}

/* mkdir -p, enabling the controllers in each parent's subtree_control
 * (v2: a controller reaches a cgroup only through its parents). */
static int make_v2_dir(const char *base, const char *id, const char *wanted, vce_err *err)
{
	cleanup_free char *vce = xasprintf("%s/vce", base);
	cleanup_free char *dir = xasprintf("%s/%s", vce, id);
	cleanup_err vce_err ignored = NULL;

	write_file(base, "cgroup.subtree_control", wanted, &ignored);
	vce_error_release(&ignored);
	if (mkdir(vce, 0755) < 0 && errno != EEXIST)
		return vce_error_make(err, errno, "create %s", vce);
	write_file(vce, "cgroup.subtree_control", wanted, &ignored);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return vce_error_make(err, errno, "create %s", dir);
	return 0;
}

typedef struct layout {
	char *dir[N_CTRL]; /* where each controller's files are; NULL: nowhere */
} layout;

static void add_dir(rt_cgroup *cg, const char *dir)
{
	for (size_t i = 0; i < cg->n; i++)
		if (strcmp(cg->dirs[i], dir) == 0)
			return;
	vce_strv_push(&cg->dirs, &cg->n, xstrdup(dir));
}

static int find_layout(const char *id, layout *l, rt_cgroup *cg, vce_err *err)
{
	const char *v2 = v2_root();
	cleanup_free char *base = NULL;
	char controllers[512] = "";
	bool root = geteuid() == 0;

	if (v2) {
		base = root ? xstrdup(v2) : delegated_parent(v2);
		if (base == NULL ||
		    !read_file(base, "cgroup.controllers", controllers, sizeof(controllers)))
			controllers[0] = '\0';
	}
	for (int c = 0; c < N_CTRL; c++) {
		cleanup_free char *v1 = xasprintf(CGROUP_ROOT "/%s", ctrl_names[c]);
		const char *v2name = c == CTRL_CPUACCT ? "cpu" : ctrl_names[c];
		if (root && is_fs(v1, CGROUP_SUPER_MAGIC)) {
			l->dir[c] = xasprintf("%s/vce/%s", v1, id);
			if (mkdir(l->dir[c], 0755) < 0 && errno == ENOENT) {
				cleanup_free char *parent = xasprintf("%s/vce", v1);
				mkdir(parent, 0755);
				mkdir(l->dir[c], 0755);
			}
			if (access(l->dir[c], F_OK) < 0)
				return vce_error_make(err, errno, "create the cgroup %s",
						      l->dir[c]);
		} else if (base && lists_word(controllers, v2name)) {
			cleanup_free char *wanted = xasprintf("+%s", v2name);
			if (make_v2_dir(base, id, wanted, err) < 0)
				return -1;
			l->dir[c] = xasprintf("%s/vce/%s", base, id);
		} else {
			continue;
		}
		add_dir(cg, l->dir[c]);
	}
	/* Even with no controller, a v2 cgroup holds the processes together. */
	if (cg->n == 0 && base) {
		if (make_v2_dir(base, id, "", err) < 0)
			return -1;
		cleanup_free char *dir = xasprintf("%s/vce/%s", base, id);
		add_dir(cg, dir);
	}
	return 0;
}

static bool is_v2_dir(const char *dir)
{
	cleanup_free char *probe = xasprintf("%s/cgroup.controllers", dir);
	return access(probe, F_OK) == 0;
}

static const char *missing_hint(void)
{
	return geteuid() == 0
		   ? "enable it in the kernel command line (on Raspberry Pi OS add "
		     "cgroup_enable=memory cgroup_memory=1 to /boot/firmware/cmdline.txt) and reboot"
		   : "run vce as root, or from a systemd user session that delegates cgroups "
		     "(loginctl enable-linger $USER)";
}

static int set_memory(const char *dir, const rt_limits *lim, vce_err *err)
{
	char value[64];
	int64_t swap = lim->memory_swap;

	if (lim->memory <= 0)
		return 0;
	/* Docker: without --memory-swap, as much swap as memory. */
	if (swap == 0)
		swap = 2 * lim->memory;
	if (is_v2_dir(dir)) {
		snprintf(value, sizeof(value), "%lld", (long long)lim->memory);
		if (write_file(dir, "memory.max", value, err) < 0)
			return -1;
		if (swap < 0)
			snprintf(value, sizeof(value), "max");
		else
			snprintf(value, sizeof(value), "%lld", (long long)(swap - lim->memory));
		cleanup_err vce_err ignored = NULL; /* no swap accounting: fine */
		write_file(dir, "memory.swap.max", value, &ignored);
		return 0;
	}
	snprintf(value, sizeof(value), "%lld", (long long)lim->memory);
	if (write_file(dir, "memory.limit_in_bytes", value, err) < 0)
		return -1;
	snprintf(value, sizeof(value), "%lld", (long long)swap);
	cleanup_err vce_err ignored = NULL;
	write_file(dir, "memory.memsw.limit_in_bytes", swap < 0 ? "-1" : value, &ignored);
	return 0;
}

static int set_cpu(const char *dir, const rt_limits *lim, vce_err *err)
{
	char value[64];
	bool v2 = is_v2_dir(dir);

	if (lim->cpus > 0) {
		long quota = (long)(lim->cpus * 100000);
		if (v2) {
			snprintf(value, sizeof(value), "%ld 100000", quota);
			if (write_file(dir, "cpu.max", value, err) < 0)
				return -1;
		} else {
			snprintf(value, sizeof(value), "%ld", quota);
			if (write_file(dir, "cpu.cfs_period_us", "100000", err) < 0 ||
			    write_file(dir, "cpu.cfs_quota_us", value, err) < 0)
				return -1;
		}
	}
	if (lim->cpu_shares > 0) {
		/* Docker's conversion of shares (2..262144) to v2's weight. */
		uint64_t weight = 1 + ((lim->cpu_shares - 2) * 9999) / 262142;
		snprintf(value, sizeof(value), "%llu",
			 (unsigned long long)(v2 ? weight : lim->cpu_shares));
		if (write_file(dir, v2 ? "cpu.weight" : "cpu.shares", value, err) < 0)
			return -1;
	}
	return 0;
}

static int set_pids(const char *dir, const rt_limits *lim, vce_err *err)
{
	char value[32];

	if (lim->pids == 0)
		return 0;
	if (lim->pids < 0)
		snprintf(value, sizeof(value), "max");
	else
		snprintf(value, sizeof(value), "%lld", (long long)lim->pids);
	return write_file(dir, "pids.max", value, err);
}

static void warn_missing(const layout *l, const rt_limits *lim)
{
	if (lim->memory > 0 && !l->dir[CTRL_MEMORY])
		vce_warn("--memory is not enforced: this machine gives vce no memory cgroup "
			 "controller; %s",
			 missing_hint());
	if ((lim->cpus > 0 || lim->cpu_shares > 0) && !l->dir[CTRL_CPU])
		vce_warn("--cpus/--cpu-shares are not enforced: this machine gives vce no cpu "
			 "cgroup controller; %s",
			 missing_hint());
	if (lim->pids != 0 && !l->dir[CTRL_PIDS])
		vce_warn("--pids-limit is not enforced: this machine gives vce no pids cgroup "
			 "controller; %s",
			 missing_hint());
}

int rt_cgroup_create(const char *id, const rt_limits *lim, rt_cgroup *cg, vce_err *err)
{
	layout l = { 0 };
	int ret = -1;

	*cg = (rt_cgroup){ 0 };
	if (find_layout(id, &l, cg, err) < 0)
		goto out;
	warn_missing(&l, lim);
	if ((l.dir[CTRL_MEMORY] && set_memory(l.dir[CTRL_MEMORY], lim, err) < 0) ||
	    (l.dir[CTRL_CPU] && set_cpu(l.dir[CTRL_CPU], lim, err) < 0) ||
	    (l.dir[CTRL_PIDS] && set_pids(l.dir[CTRL_PIDS], lim, err) < 0)) {
		vce_error_wrap(err, "set the container's limits");
		goto out;
	}
	ret = 0;
out:
	for (int c = 0; c < N_CTRL; c++)
		free(l.dir[c]);
	if (ret < 0) {
		rt_cgroup_remove(cg);
		rt_cgroup_free(cg);
	}
	return ret;
}

int rt_cgroup_join(const rt_cgroup *cg, pid_t pid, vce_err *err)
{
	char value[32];

	snprintf(value, sizeof(value), "%d", (int)pid);
	for (size_t i = 0; i < cg->n; i++)
		if (write_file(cg->dirs[i], "cgroup.procs", value, err) < 0)
			return vce_error_wrap(err, "put the container in its cgroup");
	return 0;
}

void rt_cgroup_free(rt_cgroup *cg)
{
	vce_strv_free(cg->dirs, cg->n);
	*cg = (rt_cgroup){ 0 };
}

json_t *rt_cgroup_to_json(const rt_cgroup *cg)
{
	json_t *a = json_array();
	for (size_t i = 0; cg && i < cg->n; i++)
		json_array_append_new(a, json_string(cg->dirs[i]));
	return a;
}

void rt_cgroup_from_json(json_t *dirs, rt_cgroup *cg)
{
	json_t *d;
	size_t i;

	*cg = (rt_cgroup){ 0 };
	json_array_foreach (dirs, i, d) {
		const char *path = json_string_value(d);
		/* Only vce's own directories: state.json is not to be trusted
		 * with any path of the host. */
		if (path && strncmp(path, CGROUP_ROOT "/", strlen(CGROUP_ROOT) + 1) == 0 &&
		    strstr(path, "/vce/") && !strstr(path, ".."))
			vce_strv_push(&cg->dirs, &cg->n, xstrdup(path));
	}
}

void rt_cgroup_remove(const rt_cgroup *cg)
{
	for (size_t i = 0; cg && i < cg->n; i++)
		rmdir(cg->dirs[i]);
}

static unsigned long long field_of(const char *text, const char *key)
{
	size_t len = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, len) == 0 && p[len] == ' ')
			return strtoull(p + len + 1, NULL, 10);
	return 0;
}

bool rt_cgroup_oom_killed(const rt_cgroup *cg)
{
	char buf[1024];

	for (size_t i = 0; cg && i < cg->n; i++) {
		if (read_file(cg->dirs[i], "memory.events", buf, sizeof(buf)) &&
		    field_of(buf, "oom_kill") > 0)
			return true;
		if (read_file(cg->dirs[i], "memory.oom_control", buf, sizeof(buf)) &&
		    field_of(buf, "oom_kill") > 0)
			return true;
	}
	return false;
}

static bool read_number(const char *dir, const char *file, uint64_t *out)
{
	char buf[64];
	if (!read_file(dir, file, buf, sizeof(buf)))
		return false;
	*out = strncmp(buf, "max", 3) == 0 ? 0 : strtoull(buf, NULL, 10);
	return true;
}

void rt_cgroup_stats(const rt_cgroup *cg, rt_stats *out)
{
	char buf[4096];

	for (size_t i = 0; cg && i < cg->n; i++) {
		const char *d = cg->dirs[i];
		uint64_t v;
		if (read_number(d, "memory.current", &out->memory) ||
		    read_number(d, "memory.usage_in_bytes", &out->memory)) {
			/* As docker: without the page cache that can be dropped. */
			if (read_file(d, "memory.stat", buf, sizeof(buf))) {
				v = field_of(buf, "inactive_file");
				if (v == 0)
					v = field_of(buf, "total_inactive_file");
				out->memory -= v < out->memory ? v : 0;
			}
			out->have_memory = true;
			if (!read_number(d, "memory.max", &out->memory_limit))
				read_number(d, "memory.limit_in_bytes", &out->memory_limit);
		}
		if (read_file(d, "cpu.stat", buf, sizeof(buf)) && strstr(buf, "usage_usec")) {
			out->cpu_ns = field_of(buf, "usage_usec") * 1000;
			out->have_cpu = true;
		} else if (read_number(d, "cpuacct.usage", &out->cpu_ns)) {
			out->have_cpu = true;
		}
		if (read_number(d, "pids.current", &out->pids))
			out->have_pids = true;
	}
}
