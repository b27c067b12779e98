/* `vce exec`: a command in a running container. It joins the cgroup and
 * every namespace of the container's init and runs under the same
 * security defaults as the container's command (capabilities, seccomp,
 * no_new_privs, user), as `docker exec` does.
 *
 * A child of vce joins them (the user namespace first when rootless: a
 * pid namespace can only be entered with privilege there), then forks
 * the command into the pid namespace and, as init does, forwards signals
 * to it and exits with its code. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container.h"

#include "../common/json.h"

#include "../common/banned.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

static const struct {
	const char *name;
	int flag;
} namespaces[] = { { "user", CLONE_NEWUSER }, { "mnt", CLONE_NEWNS },
		   { "uts", CLONE_NEWUTS },   { "ipc", CLONE_NEWIPC },
		   { "net", CLONE_NEWNET },   { "cgroup", CLONE_NEWCGROUP },
		   { "pid", CLONE_NEWPID } };
#define N_NS (sizeof(namespaces) / sizeof(*namespaces))

typedef struct target {
	int ns[N_NS]; /* -1: the same as vce's (no user namespace as root) */
	int root;
	rt_cgroup cg;
} target;

static bool same_namespace(pid_t pid, const char *name)
{
	char a[64], b[64], path[64];
	ssize_t n, m;

	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, name);
	n = readlink(path, a, sizeof(a));
	snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
	m = readlink(path, b, sizeof(b));
	return n > 0 && n == m && memcmp(a, b, (size_t)n) == 0;
}

/* The init's namespaces and root, opened while it is known to be the
 * process the state names (its pidfd is checked after the opens). */
static int open_target(rt_container *c, target *t, vce_err *err)
{
	json_int_t pid = json_integer_value(json_object_get(c->state, "pid"));
	json_int_t start = json_integer_value(json_object_get(c->state, "pid_start"));
	char path[64];
	cleanup_close int pidfd = vce_pidfd_open((pid_t)pid, (unsigned long long)start);

	for (size_t i = 0; i < N_NS; i++)
		t->ns[i] = -1;
	t->root = -1;
	if (pidfd < 0)
		return vce_error_make(err, 0, "the container's init is gone: see 'vce ps -a'");
	pid = rt_container_member((pid_t)pid);
	for (size_t i = 0; i < N_NS; i++) {
		if (same_namespace((pid_t)pid, namespaces[i].name))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, namespaces[i].name);
		t->ns[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (t->ns[i] < 0)
			return vce_error_make(err, errno, "open %s", path);
	}
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	t->root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->root < 0)
		return vce_error_make(err, errno, "open %s", path);
	if (vce_process_start((pid_t)json_integer_value(json_object_get(c->state, "pid"))) !=
	    (unsigned long long)start)
		return vce_error_make(err, 0, "the container stopped while vce joined it");
	rt_cgroup_from_json(json_object_get(c->state, "cgroups"), &t->cg);
	return 0;
}

static void close_target(target *t)
{
	for (size_t i = 0; i < N_NS; i++)
		if (t->ns[i] >= 0)
			close(t->ns[i]);
	if (t->root >= 0)
		close(t->root);
	rt_cgroup_free(&t->cg);
}

static int join(const target *t, int flag, vce_err *err)
{
	for (size_t i = 0; i < N_NS; i++)
		if (namespaces[i].flag == flag && t->ns[i] >= 0 && setns(t->ns[i], flag) < 0)
			return vce_error_make(err, errno, "join the container's %s namespace",
					      namespaces[i].name);
	return 0;
}

/* Rootless, every namespace belongs to the container's user namespace:
 * that goes first. As root, the user namespace (keep-id) was made after
 * the others, which belong to the host's: it goes last. */
static int join_all(const target *t, bool user_first, vce_err *err)
{
	static const int others[] = { CLONE_NEWNS,  CLONE_NEWUTS,    CLONE_NEWIPC,
				      CLONE_NEWNET, CLONE_NEWCGROUP, CLONE_NEWPID };

	if (user_first && join(t, CLONE_NEWUSER, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(others) / sizeof(*others); i++)
		if (join(t, others[i], err) < 0)
			return -1;
	if (!user_first && join(t, CLONE_NEWUSER, err) < 0)
		return -1;
	if (fchdir(t->root) < 0 || chroot(".") < 0)
		return vce_error_make(err, errno, "enter the container's root");
	return 0;
}

/* A terminal of the container's own devpts. */
static int open_pty(int sync_fd, int *slave, vce_err *err)
{
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	int unlock = 0;

	if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0)
		return vce_error_make(err, errno, "open the container's /dev/ptmx");
	*slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (*slave < 0)
		return vce_error_make(err, errno, "open the terminal's other end");
	rt_size_like_stdin(master);
	vce_send_fd(sync_fd, 'M', master);
	close(master);
	return 0;
}

static void __attribute__((noreturn)) exec_child(const rt_plan *plan, const target *t, int sync_fd)
{
	cleanup_err vce_err err = NULL;
	int slave = -1;

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (rt_cgroup_join(&t->cg, getpid(), &err) < 0 ||
	    join_all(t, plan->userns && plan->rootless, &err) < 0 ||
	    (plan->tty && open_pty(sync_fd, &slave, &err) < 0))
		rt_child_fail(sync_fd, 125, &err);
	_exit(rt_init_main(plan, sync_fd, slave));
}

/* The container's options with exec's on top. */
static void exec_options(rt_options *o, const rt_exec_options *e)
{
	vce_strv_free(o->args, o->n_args);
	o->args = NULL;
	o->n_args = 0;
	for (size_t i = 0; i < e->n_argv; i++)
		vce_strv_push(&o->args, &o->n_args, xstrdup(e->argv[i]));
	free((char *)o->entrypoint);
	o->entrypoint = xstrdup("");
	o->entrypoint_set = true;
	for (size_t i = 0; i < e->n_env; i++)
		vce_strv_push(&o->env, &o->n_env, xstrdup(e->env[i]));
	if (e->user) {
		free((char *)o->user);
		o->user = xstrdup(e->user);
	}
	if (e->workdir) {
		free((char *)o->workdir);
		o->workdir = xstrdup(e->workdir);
	}
	o->tty = e->tty;
	o->interactive = e->interactive;
	o->privileged |= e->privileged;
	o->remove = false;
}

static int start_exec(const rt_plan *plan, const target *t, rt_session *s, vce_err *err)
{
	int sv[2];

	if (rt_session_open(s, sv, err) < 0)
		return -1;
	s->sync_fd = sv[0];
	s->child = fork();
	if (s->child < 0) {
		close(sv[1]);
		return vce_error_make(err, errno, "fork");
	}
	if (s->child == 0) {
		close(sv[0]);
		exec_child(plan, t, sv[1]);
	}
	close(sv[1]);
	return 0;
}

int rt_exec(oci_store *store, const char *ref, const rt_exec_options *e, int *exit_code,
	    vce_err *err)
{
	rt_container c;
	rt_options opts = { 0 };
	rt_plan plan = { 0 };
	rt_session s = RT_SESSION_INIT;
	target t = { 0 };
	int ret = -1;

	*exit_code = 125;
	for (size_t i = 0; i < N_NS; i++)
		t.ns[i] = -1;
	t.root = -1;
	if (e->n_argv == 0)
		return vce_error_make(err, 0, "no command given: vce exec CONTAINER COMMAND...");
	if (rt_container_open(store, ref, &c, err) < 0)
		return -1;
	if (strcmp(rt_state_status(c.state), "running") != 0) {
		vce_error_make(err, 0, "container %s is not running: start it first (vce start %s)",
			       ref, ref);
		goto out;
	}
	if (rt_options_load(c.dir_fd, &opts, err) < 0)
		goto out;
	exec_options(&opts, e);
	if (rt_plan_from_options(store, &c, &opts, &plan, err) < 0 || open_target(&c, &t, err) < 0)
		goto out;
	/* Not held while the command runs: stop and rm must get in. */
	rt_container_close(&c);
	if (start_exec(&plan, &t, &s, err) < 0)
		goto done;
	if (rt_session_await_exec(&s, &plan, exit_code, err) < 0)
		goto done;
	*exit_code = rt_session_relay(&s, e->interactive, NULL);
	ret = 0;
	goto done;
out:
	rt_container_close(&c);
done:
	rt_session_close(&s);
	close_target(&t);
	rt_plan_free(&plan);
	rt_options_free(&opts);
	return ret;
}
