/* Containers that outlive the command that started them: create, start,
 * stop, kill, rm, wait, and what ps and inspect show. Every change to a
 * container happens under its lock; its processes are named by pidfds
 * opened against the start times recorded in state.json, so a reused pid
 * is never signalled. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "container.h"

#include "../common/json.h"

#include "../common/banned.h"

int rt_resolve(oci_store *store, const char *ref, char **id, vce_err *err)
{
	return rt_container_resolve(store, ref, id, err);
}

static bool is_running(json_t *state)
{
	return strcmp(rt_state_status(state), "running") == 0;
}

static int pidfd_of(json_t *state, const char *pid_key, const char *start_key)
{
	json_int_t pid = json_integer_value(json_object_get(state, pid_key));
	json_int_t start = json_integer_value(json_object_get(state, start_key));
	return vce_pidfd_open((pid_t)pid, (unsigned long long)start);
}

/* Waits for a process's end; false after timeout_ms (-1: none). */
static bool await_exit(int pidfd, int timeout_ms)
{
	struct pollfd p = { pidfd, POLLIN, 0 };
	int n;

	if (pidfd < 0)
		return true;
	while ((n = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	return n != 0;
}

/* ---- create and start ---- */

int rt_plan_existing(oci_store *store, rt_container *c, rt_options *opts, rt_plan *plan,
		     vce_err *err)
{
	if (rt_options_load(c->dir_fd, opts, err) < 0)
		return -1;
	return rt_plan_from_options(store, c, opts, plan, err);
}

int rt_plan_from_options(oci_store *store, rt_container *c, rt_options *opts, rt_plan *plan,
			 vce_err *err)
{
	oci_images images = { 0 };
	const char *image = vce_json_string(c->state, "image");
	const char *name = vce_json_string(c->state, "name");
	ssize_t i;
	int ret = -1;

	opts->image = xstrdup(image ? image : "");
	opts->name = xstrdup(name ? name : c->id);
	if (oci_images_load(store, &images, err) < 0)
		return -1;
	if ((i = oci_images_find(&images, opts->image, err)) < 0) {
		vce_error_release(err);
		vce_error_make(err, 0,
			       "the image of container %s (%s) is no longer in the store: load it "
			       "again, or remove the container",
			       opts->name, vce_json_string(c->state, "image_name"));
		goto out;
	}
	plan->id = xstrdup(c->id);
	plan->name = xstrdup(opts->name);
	plan->image_id = xstrdup(images.items[i].id);
	plan->image_name = xstrdup(vce_json_string(c->state, "image_name")
				       ? vce_json_string(c->state, "image_name")
				       : image);
	plan->dir = xasprintf("%s/containers/%s", oci_store_path(store), c->id);
	plan->hostname =
	    xstrndup(opts->hostname ? opts->hostname : c->id, opts->hostname ? 64 : 12);
	ret = rt_plan_build(store, opts, images.items[i].manifest, plan, err);
out:
	oci_images_free(&images);
	return ret;
}

/* Starts the container of plan under a supervisor. The caller holds its
 * lock (*lock_fd); a failure lets go of it and records the failure as the
 * container's exit, with the message (a --rm container goes). */
static int launch(oci_store *store, rt_plan *plan, int dir_fd, int *lock_fd, vce_err *err)
{
	rt_cgroup cg = { 0 };
	cleanup_free char *msg = NULL;
	int code = 125;

	/* The ports first: one in use stops the start before anything runs.
	 * The supervisor has its own copies of them once it is started. */
	if (rt_net_open_shared(store, plan, err) == 0 && rt_net_listen(plan, err) == 0 &&
	    rt_cgroup_create(plan->id, &plan->limits, &cg, err) == 0 &&
	    rt_hand_over(plan, dir_fd, err) == 0 &&
	    rt_launch_detached(plan, dir_fd, *lock_fd, &cg, &code, err) == 0) {
		rt_net_close(plan);
		rt_cgroup_free(&cg);
		return 0;
	}
	rt_net_close(plan);
	rt_cgroup_remove(&cg);
	rt_cgroup_free(&cg);
	close(*lock_fd);
	*lock_fd = -1;
	msg = vce_error_text(*err);
	rt_record_exit(dir_fd, code, msg);
	if (plan->remove) {
		cleanup_err vce_err ignored = NULL;
		rt_container_remove(store, plan->id, &ignored);
	}
	return -1;
}

int rt_create(oci_store *store, const rt_options *opts, char **id, vce_err *err)
{
	rt_plan plan = { 0 };
	cleanup_close int dir_fd = -1;
	int ret = rt_container_create(store, opts, &plan, &dir_fd, err);

	if (ret == 0)
		*id = xstrdup(plan.id);
	rt_plan_free(&plan);
	return ret;
}

int rt_run_detached(oci_store *store, const rt_options *opts, char **id, vce_err *err)
{
	rt_plan plan = { 0 };
	cleanup_close int dir_fd = -1;
	int lock_fd = -1, ret = -1;

	if (rt_container_create(store, opts, &plan, &dir_fd, err) < 0)
		goto out;
	lock_fd = rt_state_lock(dir_fd, err);
	if (lock_fd < 0 || launch(store, &plan, dir_fd, &lock_fd, err) < 0)
		goto out;
	*id = xstrdup(plan.id);
	ret = 0;
out:
	if (lock_fd >= 0)
		close(lock_fd);
	rt_plan_free(&plan);
	return ret;
}

int rt_start(oci_store *store, const char *ref, vce_err *err)
{
	rt_container c;
	rt_options opts;
	rt_plan plan = { 0 };
	int ret = -1;

	if (rt_container_open(store, ref, &c, err) < 0)
		return -1;
	if (is_running(c.state)) {
		ret = 0; /* as docker: starting a running container is no error */
		goto out;
	}
	if (rt_plan_existing(store, &c, &opts, &plan, err) == 0)
		ret = launch(store, &plan, c.dir_fd, &c.lock_fd, err);
	rt_options_free(&opts);
out:
	rt_plan_free(&plan);
	rt_container_close(&c);
	return ret;
}

/* ---- stop, kill, rm, wait ---- */

int rt_signal_number(const char *name)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = { { "HUP", SIGHUP },   { "INT", SIGINT },	  { "QUIT", SIGQUIT },
		      { "KILL", SIGKILL }, { "USR1", SIGUSR1 },	  { "USR2", SIGUSR2 },
		      { "TERM", SIGTERM }, { "ALRM", SIGALRM },	  { "CONT", SIGCONT },
		      { "STOP", SIGSTOP }, { "WINCH", SIGWINCH }, { "PWR", SIGPWR },
		      { "ABRT", SIGABRT }, { "PIPE", SIGPIPE },	  { "TSTP", SIGTSTP } };
	char *end;
	long n;

	if (name == NULL || *name == '\0')
		return -1;
	n = strtol(name, &end, 10);
	if (*end == '\0')
		return n > 0 && n < 65 ? (int)n : -1;
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (strcasecmp(name, names[i].name) == 0)
			return names[i].sig;
	if (strncasecmp(name, "RTMIN+", 6) == 0) {
		n = strtol(name + 6, &end, 10);
		if (*end == '\0' && n >= 0 && SIGRTMIN + n <= SIGRTMAX)
			return SIGRTMIN + (int)n;
	}
	return -1;
}

/* The running container's init and supervisor as pidfds; the lock is
 * let go, so that the supervisor can record the exit. */
typedef struct running {
	int init, supervisor;
	int stop_signal;
} running;

static int open_running(oci_store *store, const char *ref, running *r, bool *is_up, vce_err *err)
{
	rt_container c;

	*r = (running){ -1, -1, SIGTERM };
	if (rt_container_open(store, ref, &c, err) < 0)
		return -1;
	*is_up = is_running(c.state);
	if (*is_up) {
		int sig = rt_signal_number(vce_json_string(c.state, "stop_signal"));
		r->init = pidfd_of(c.state, "pid", "pid_start");
		r->supervisor = pidfd_of(c.state, "supervisor_pid", "supervisor_start");
		if (sig > 0)
			r->stop_signal = sig;
	}
	rt_container_close(&c);
	return 0;
}

static void close_running(running *r)
{
	if (r->init >= 0)
		close(r->init);
	if (r->supervisor >= 0)
		close(r->supervisor);
}

/* The exit is recorded when the supervisor is gone. */
static void kill_and_wait(running *r, int sig, int timeout_ms)
{
	if (r->init >= 0)
		vce_pidfd_signal(r->init, sig);
	if (!await_exit(r->supervisor, timeout_ms) && r->init >= 0) {
		vce_pidfd_signal(r->init, SIGKILL);
		await_exit(r->supervisor, -1);
	}
}

int rt_stop(oci_store *store, const char *ref, int timeout, vce_err *err)
{
	running r;
	bool up;

	if (open_running(store, ref, &r, &up, err) < 0)
		return -1;
	if (up)
		kill_and_wait(&r, r.stop_signal, timeout < 0 ? -1 : timeout * 1000);
	close_running(&r);
	return 0;
}

int rt_kill(oci_store *store, const char *ref, int sig, vce_err *err)
{
	running r;
	bool up;
	int ret = 0;

	if (open_running(store, ref, &r, &up, err) < 0)
		return -1;
	if (!up || r.init < 0)
		ret = vce_error_make(err, 0, "container %s is not running", ref);
	else if (vce_pidfd_signal(r.init, sig) < 0)
		ret = vce_error_make(err, errno, "signal container %s", ref);
	close_running(&r);
	return ret;
}

/* After a failed open of a container rm has just killed: 0 when it is
 * gone (its supervisor removed it), else the error. */
static int gone_or_error(oci_store *store, const char *id, vce_err *err)
{
	cleanup_free char *path = xasprintf("containers/%s", id);

	if (faccessat(oci_store_dirfd(store), path, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno == ENOENT) {
		vce_error_release(err);
		return 0;
	}
	return -1;
}

int rt_remove(oci_store *store, const char *ref, bool force, vce_err *err)
{
	rt_container c;
	rt_cgroup cg;
	int ret;

	if (rt_container_open(store, ref, &c, err) < 0)
		return -1;
	if (is_running(c.state)) {
		cleanup_free char *id = xstrdup(c.id);
		running r;
		bool up;
		rt_container_close(&c);
		if (!force)
			return vce_error_make(err, 0,
					      "container %s is running: stop it first (vce stop "
					      "%s), or remove it anyway with vce rm -f %s",
					      ref, ref, ref);
		/* A --rm container's supervisor removes it as it dies: gone
		 * is what was asked for. */
		if (open_running(store, id, &r, &up, err) < 0)
			return gone_or_error(store, id, err);
		if (up)
			kill_and_wait(&r, SIGKILL, -1);
		close_running(&r);
		if (rt_container_open(store, id, &c, err) < 0)
			return gone_or_error(store, id, err);
	}
	/* What a killed supervisor could not clean up: its cgroup, and its
	 * pasta, which leaves with its handle. */
	rt_cgroup_from_json(json_object_get(c.state, "cgroups"), &cg);
	rt_cgroup_remove(&cg);
	rt_cgroup_free(&cg);
	{
		cleanup_free char *dir = xasprintf("%s/containers/%s", oci_store_path(store), c.id);
		cleanup_free char *handle = rt_net_outbound_handle(dir, false);
		net_outbound_forget(handle);
	}
	ret = rt_container_remove(store, c.id, err);
	rt_container_close(&c);
	return ret;
}

int rt_wait(oci_store *store, const char *ref, int *code, vce_err *err)
{
	rt_container c;
	int supervisor = -1;

	if (rt_container_open(store, ref, &c, err) < 0)
		return -1;
	if (is_running(c.state)) {
		cleanup_free char *id = xstrdup(c.id);
		supervisor = pidfd_of(c.state, "supervisor_pid", "supervisor_start");
		rt_container_close(&c);
		await_exit(supervisor, -1);
		if (supervisor >= 0)
			close(supervisor);
		if (rt_container_open(store, id, &c, err) < 0)
			return -1;
	}
	*code = (int)json_integer_value(json_object_get(c.state, "exit_code"));
	rt_container_close(&c);
	return 0;
}

/* ---- stats ---- */

/* Without a cgroup (rootless, nothing delegated): the processes of the
 * container's pid namespace, from /proc. */
static void stats_from_proc(pid_t init, rt_stats *out)
{
	char path[300], ns[64], other[64];
	DIR *proc;
	struct dirent *de;
	long page = sysconf(_SC_PAGESIZE), hz = sysconf(_SC_CLK_TCK);
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)init);
	if ((n = readlink(path, ns, sizeof(ns) - 1)) < 0)
		return;
	ns[n] = '\0';
	proc = opendir("/proc");
	while (proc && (de = readdir(proc)) != NULL) {
		char buf[1024], *p;
		unsigned long long ticks = 0, rss = 0;
		cleanup_close int fd = -1;
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/pid", de->d_name);
		if ((n = readlink(path, other, sizeof(other) - 1)) < 0)
			continue;
		other[n] = '\0';
		if (strcmp(ns, other) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
			continue;
		buf[n] = '\0';
		p = strrchr(buf, ')');
		/* utime and stime are fields 14 and 15, rss field 24. */
		for (int field = 2; p && field < 24; field++) {
			p = strchr(p + 1, ' ');
			if (p && (field == 13 || field == 14))
				ticks += strtoull(p + 1, NULL, 10);
			if (p && field == 23)
				rss = strtoull(p + 1, NULL, 10);
		}
		out->cpu_ns += ticks * (1000000000ull / (unsigned long long)hz);
		out->memory += rss * (unsigned long long)page;
		out->pids++;
	}
	if (proc)
		closedir(proc);
	out->have_cpu = out->have_memory = out->have_pids = true;
}

int rt_stats_of(oci_store *store, const char *ref, rt_stats *out, vce_err *err)
{
	rt_container c;
	rt_cgroup cg;
	const char *name;

	if (rt_container_open(store, ref, &c, err) < 0)
		return -1;
	*out = (rt_stats){ 0 };
	snprintf(out->id, sizeof(out->id), "%s", c.id);
	name = vce_json_string(c.state, "name");
	snprintf(out->name, sizeof(out->name), "%s", name ? name : c.id);
	if (!is_running(c.state)) {
		rt_container_close(&c);
		return 0;
	}
	rt_cgroup_from_json(json_object_get(c.state, "cgroups"), &cg);
	rt_cgroup_stats(&cg, out);
	if (!out->have_memory || !out->have_pids) {
		rt_stats mine = { 0 };
		stats_from_proc(
		    rt_container_member((pid_t)json_integer_value(json_object_get(c.state, "pid"))),
		    &mine);
		if (!out->have_memory)
			out->memory = mine.memory, out->have_memory = true;
		if (!out->have_cpu)
			out->cpu_ns = mine.cpu_ns, out->have_cpu = true;
		if (!out->have_pids)
			out->pids = mine.pids, out->have_pids = true;
	}
	rt_cgroup_free(&cg);
	rt_container_close(&c);
	return 0;
}
