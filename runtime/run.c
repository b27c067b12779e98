/* `vce run` in the foreground: clone the container's first process into
 * fresh namespaces, write its id maps, relay the terminal and signals,
 * wait, and record or remove the container.
 *
 * vce and the container talk over one SOCK_SEQPACKET pair:
 *   vce -> init   "G" once the id maps are written (user namespace only)
 *   init -> vce   "M" with the pty master (SCM_RIGHTS), for -t
 *   init/cmd -> vce  "E<code> <errno> <message>" when something fails;
 *                 end of file when the command was exec'd (close on exec). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "container.h"

#include "../common/json.h"

#include "../common/banned.h"

/* ---- the container's first process ---- */

/* Empties upper/ and work/ from inside the namespace, where the files the
 * container's ids own can be removed (vce outside may not own them). */
static void empty_writable_layer(int dir_fd)
{
	cleanup_err vce_err err = NULL;
	vce_remove_tree_at(dir_fd, "upper", &err);
	vce_error_release(&err);
	vce_remove_tree_at(dir_fd, "work", &err);
}

static bool own_network(const rt_plan *plan)
{
	return plan->network == RT_NET_PRIVATE || plan->network == RT_NET_NONE;
}

/* Rootless --network container:NAME: in NAME's user namespace. */
static bool joins_userns(const rt_plan *plan)
{
	return plan->net_share_userns_fd > 0;
}

static bool root_mapped(const rt_plan *plan)
{
	return plan->map.uid[0].inside == 0 && plan->map.gid[0].inside == 0;
}

/* pasta takes ~45 ms, slirp4netns ~5; a tool that hangs is an error. */
#define OUTBOUND_TIMEOUT_MS 10000

/* What vce tells the child: "G", its ids are mapped (rootless) and it
 * is in its cgroup (given once, and again after the id maps when root
 * makes the user namespace late);
 * "N", the tool that gives a private network its way out is done
 * starting. "N" may come before the second "G". */
static bool outbound_up;

static void wait_for(int sync_fd, char word)
{
	char c;

	while (!(word == 'N' && outbound_up)) {
		if (read(sync_fd, &c, 1) != 1)
			_exit(125);
		if (c == 'N')
			outbound_up = true;
		else if (c != word)
			_exit(125);
		else
			return;
	}
}

/* A first pip install must not race the way out: the command runs once
 * the tool has configured the interface (its default route is there),
 * or has said it is done (without a default route to add: a host that
 * has none). */
static void wait_for_way_out(int sync_fd)
{
	int routes = net_route_watch_open();

	while (!outbound_up) {
		struct pollfd p[2] = { { sync_fd, POLLIN, 0 }, { routes, POLLIN, 0 } };
		if (poll(p, routes >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			_exit(125);
		if (p[1].revents && net_route_watch_default(routes))
			break;
		if (p[0].revents)
			wait_for(sync_fd, 'N');
	}
	if (routes >= 0)
		close(routes);
}

/* Waits for vce to write the maps (after asking, when the namespace is
 * made here rather than by clone), then becomes the namespace's root. */
static int enter_user_namespace(int sync_fd, bool unshare_here, bool root_mapped, vce_err *err)
{
	if (unshare_here) {
		if (unshare(CLONE_NEWUSER) < 0)
			return vce_error_make(err, errno, "create the user namespace");
		if (send(sync_fd, "U", 1, MSG_NOSIGNAL) != 1)
			return vce_error_make(err, errno, "ask for the id maps");
	}
	wait_for(sync_fd, 'G');
	/* Without a range, root is not mapped: the student's uid, with every
	 * capability of the namespace, does the setting up. */
	if (!root_mapped)
		return 0;
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		return vce_error_make(err, errno, "become root in the container's user namespace");
	/* New ids made it undumpable, and so its /proc/PID/ns closed to
	 * pasta, which joins them next: undumpable again just before the
	 * command runs. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	return 0;
}

/* The parent-death signal is cleared when the credentials change (as
 * becoming the namespace's root does): set it again, and leave if the
 * parent died in between. getppid() cannot tell (it is 0 for a pid
 * namespace's init); the parent's end of the sync socket can. */
static void rearm_parent_death(int sync_fd)
{
	struct pollfd p = { sync_fd, POLLRDHUP, 0 };

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP)))
		_exit(137);
}

/* init is a copy of vce, not an exec: of vce's fds (store and container
 * locks, a supervisor's pipe to the command that started it) it keeps
 * only stdio, the sync socket and the container's directory. */
static void close_other_fds(int sync_fd, int dir_fd)
{
	int lo = sync_fd < dir_fd ? sync_fd : dir_fd, hi = sync_fd < dir_fd ? dir_fd : sync_fd;

	if (lo > 3)
		syscall(SYS_close_range, 3, lo - 1, 0);
	if (hi > lo + 1)
		syscall(SYS_close_range, lo + 1, hi - 1, 0);
	syscall(SYS_close_range, hi + 1, ~0U, 0);
}

struct cgroup_wait {
	const rt_plan *plan;
	int sync_fd;
};

/* As root, vce moves the child into its cgroup while the child mounts
 * (the move waits out an RCU grace period, 5 to 30 ms here) and says
 * "G" when done; rootless, the "G" came before (with the id maps). In
 * its cgroup, the child makes its cgroup namespace: the container sees
 * its cgroup as the root. */
static int enter_cgroup(void *arg, vce_err *err)
{
	const struct cgroup_wait *w = arg;

	if (!(w->plan->userns && w->plan->rootless))
		wait_for(w->sync_fd, 'G');
	if (unshare(CLONE_NEWCGROUP) < 0)
		return vce_error_make(err, errno, "create the cgroup namespace");
	return 0;
}

static void __attribute__((noreturn)) container_main(const rt_plan *plan, int sync_fd, int dir_fd)
{
	cleanup_err vce_err err = NULL;
	int master = -1, slave = -1, code;

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (plan->net_share_fd > 0 && !joins_userns(plan) &&
	    setns(plan->net_share_fd, CLONE_NEWNET) < 0) {
		vce_error_make(&err, errno, "join the network of container %s",
			       plan->net_container);
		rt_child_fail(sync_fd, 125, &err);
	}
	close_other_fds(sync_fd, dir_fd);
	if (plan->userns && plan->rootless) {
		if (enter_user_namespace(sync_fd, false, root_mapped(plan), &err) < 0)
			rt_child_fail(sync_fd, 125, &err);
		rearm_parent_death(sync_fd);
		/* The writable layer belongs to the container's root, as / does. */
		if (root_mapped(plan) && (fchownat(dir_fd, "upper", 0, 0, 0) < 0 ||
					  fchownat(dir_fd, "work", 0, 0, 0) < 0)) {
			vce_error_make(&err, errno, "hand the writable layer to the container");
			rt_child_fail(sync_fd, 125, &err);
		}
	}
	/* Rootless, its ids are final now: the tool may join its namespaces,
	 * while it sets up. (As root they are from the start: vce starts the
	 * tool at once.) */
	if (plan->network == RT_NET_PRIVATE && plan->userns && plan->rootless &&
	    send(sync_fd, "R", 1, MSG_NOSIGNAL) != 1)
		_exit(125);
	/* As Docker: in its own network namespace any user may bind any port
	 * (a course image's server runs as the student). /proc is still the
	 * host's, and a net sysctl is the writer's namespace's. */
	if (own_network(plan)) {
		int fd =
		    open("/proc/sys/net/ipv4/ip_unprivileged_port_start", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t ignored = write(fd, "0", 1);
			(void)ignored;
			close(fd);
		}
	}
	if (rt_setup_rootfs(plan, enter_cgroup, &(struct cgroup_wait){ plan, sync_fd }, &master,
			    &slave, &err) < 0) {
		if (plan->remove)
			empty_writable_layer(dir_fd);
		rt_child_fail(sync_fd, 125, &err);
	}
	if (master >= 0) {
		vce_send_fd(sync_fd, 'M', master);
		close(master);
	}
	/* Root's store is not the namespace's to walk: root mounts first,
	 * then enters it. */
	if (plan->userns && !plan->rootless) {
		if (enter_user_namespace(sync_fd, true, root_mapped(plan), &err) < 0)
			rt_child_fail(sync_fd, 125, &err);
		rearm_parent_death(sync_fd);
	}
	if (plan->network == RT_NET_PRIVATE)
		wait_for_way_out(sync_fd);
	/* vce's memory and /proc/1/exe are nobody's business in there (and
	 * not before: vce writes this process's id maps, pasta joins its
	 * namespaces through /proc while it may). */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (!plan->init) {
		close(dir_fd);
		rt_exec_command(plan, slave, &code, &err);
		rt_child_fail(sync_fd, code, &err);
	}
	code = rt_init_main(plan, sync_fd, slave);
	if (plan->remove) {
		/* Whatever else is left in the namespace goes first. */
		kill(-1, SIGKILL);
		while (waitpid(-1, NULL, 0) > 0)
			;
		empty_writable_layer(dir_fd);
	}
	_exit(code);
}

/* ---- vce's side ---- */

/* Whether the child is saying it failed (within a second): then its
 * namespaces and process went as vce joined them, and vce's error is
 * only an echo. Until "G" or its way out, the child says nothing but
 * that (or, with -t, sends its terminal). */
static bool child_failed(rt_session *s)
{
	struct pollfd p = { s->sync_fd, POLLIN, 0 };
	char c;

	return poll(&p, 1, 1000) == 1 && recv(s->sync_fd, &c, 1, MSG_PEEK) == 1 && c == 'E';
}

/* The child's ids are final: its way out starts, and comes up while the
 * child sets up. */
static int start_way_out(rt_session *s, const rt_plan *plan, vce_err *err)
{
	cleanup_free char *handle = rt_net_outbound_handle(plan->dir, true);

	if (net_outbound_start(s->child, plan->userns && plan->rootless, handle, &s->outbound,
			       err) < 0)
		return -1;
	/* No tool: nothing to wait for (run said so). */
	if (s->outbound.ready_fd < 0 && write(s->sync_fd, "N", 1) != 1)
		return vce_error_make(err, errno, "start the container");
	return 0;
}

/* The tool is done starting (or failed): the child may run its command,
 * if it has not already (on seeing the default route: then the "N" has
 * no reader, and the socket's end says so). */
static int outbound_settled(rt_session *s, int timeout_ms, vce_err *err)
{
	if (net_outbound_settle(&s->outbound, timeout_ms, err) < 0)
		return -1;
	if (send(s->sync_fd, "N", 1, MSG_NOSIGNAL) != 1 && errno != EPIPE && errno != ECONNRESET)
		return vce_error_make(err, errno, "start the container");
	return 0;
}

/* Reads what the container says until the command is running (EOF) or
 * has failed, and meanwhile tells it when its way out is up. Returns 0,
 * or -1 with err and *exit_code. */
static int read_until_exec(rt_session *s, const rt_plan *plan, int *exit_code, vce_err *err)
{
	for (;;) {
		char buf[4096], cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
		struct msghdr msg = { .msg_iov = &iov,
				      .msg_iovlen = 1,
				      .msg_control = cbuf,
				      .msg_controllen = sizeof(cbuf) };
		struct pollfd fds[2] = { { s->sync_fd, POLLIN, 0 },
					 { s->outbound.ready_fd, POLLIN, 0 } };
		bool settling = s->outbound.ready_fd >= 0;
		int n_ready = poll(fds, settling ? 2 : 1, settling ? OUTBOUND_TIMEOUT_MS : -1);

		if (n_ready < 0 && errno == EINTR)
			continue;
		/* What the child says first: a child that failed takes its
		 * network with it, and the tool's failure is only an echo. */
		if (settling && (n_ready == 0 || (fds[1].revents && !fds[0].revents))) {
			if (outbound_settled(s, 0, err) < 0)
				return -1;
			continue;
		}
		ssize_t n = recvmsg(s->sync_fd, &msg, MSG_CMSG_CLOEXEC);
		/* ECONNRESET: the child went on at its default route and left
		 * an "N" unread; what it said before is still to be read. */
		if (n < 0 && (errno == EINTR || errno == ECONNRESET))
			continue;
		/* Running: the tool may still be finishing its start; if it
		 * fails, the command goes (it would run without its way out). */
		if (n <= 0 && s->settle_in_relay)
			return 0;
		if (n <= 0) {
			if (net_outbound_settle(&s->outbound, OUTBOUND_TIMEOUT_MS, err) == 0)
				return 0;
			kill(s->child, SIGKILL);
			return -1;
		}
		buf[n] = '\0';
		if (buf[0] == 'M') {
			struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
			if (c && c->cmsg_type == SCM_RIGHTS)
				memcpy(&s->master, CMSG_DATA(c), sizeof(int));
			continue;
		}
		if (buf[0] == 'R' && start_way_out(s, plan, err) < 0) {
			if (!child_failed(s))
				return -1;
			vce_error_release(err);
		}
		if (buf[0] == 'U') {
			if (vce_write_id_maps(s->child, &plan->map, err) < 0)
				return -1;
			if (write(s->sync_fd, "G", 1) != 1)
				return vce_error_make(err, errno, "start the container");
			continue;
		}
		if (buf[0] == 'E') {
			char *p = buf + 1, *end;
			*exit_code = (int)strtol(p, &end, 10);
			int status = (int)strtol(end, &p, 10);
			return vce_error_make(err, status, "%s", *p == ' ' ? p + 1 : p);
		}
	}
}

int rt_session_await_exec(rt_session *s, const rt_plan *plan, int *exit_code, vce_err *err)
{
	if (read_until_exec(s, plan, exit_code, err) == 0)
		return 0;
	/* The child is on its way out (or waits for a "G" that will not come:
	 * the closed socket ends that); its status is not the answer. */
	close(s->sync_fd);
	s->sync_fd = -1;
	waitpid(s->child, NULL, 0);
	s->child = -1;
	return -1;
}

void rt_size_like_stdin(int master)
{
	struct winsize ws;
	if (master >= 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(master, TIOCSWINSZ, &ws);
}

static void copy_window_size(const rt_session *s)
{
	rt_size_like_stdin(s->master);
}

static void terminal_raw(rt_session *s)
{
	struct termios raw;
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &s->saved) < 0)
		return;
	raw = s->saved;
	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
		s->raw = true;
}

static void terminal_restore(rt_session *s)
{
	if (s->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &s->saved);
	s->raw = false;
}

static bool pump(int from, int to)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf));
	cleanup_err vce_err err = NULL;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	return vce_write_all(to, buf, (size_t)n, &err) == 0;
}

static long long monotonic_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The way out finished starting, or took too long: a failed one takes
 * the command down, as it would have before the command ran. */
static void way_out_settled(rt_session *s)
{
	if (net_outbound_settle(&s->outbound, 0, &s->late_error) < 0)
		kill(s->child, SIGKILL);
}

/* Waits for the container's init, passing signals on and, with -t, the
 * terminal both ways, and sees its way out finish starting. Returns
 * init's exit code. */
static int supervise(rt_session *s, bool interactive, net_forwarder *fw)
{
	bool in_open = interactive && s->master >= 0, out_open = s->master >= 0;
	long long way_out_deadline = monotonic_ms() + OUTBOUND_TIMEOUT_MS;
	int status;

	for (;;) {
		struct pollfd p[5] = { { s->sigfd, POLLIN, 0 },
				       { out_open ? s->master : -1, POLLIN, 0 },
				       { in_open ? STDIN_FILENO : -1, POLLIN, 0 },
				       { net_forwarder_fd(fw), POLLIN, 0 },
				       { s->outbound.ready_fd, POLLIN, 0 } };
		bool settling = s->outbound.ready_fd >= 0;
		long long left = way_out_deadline - monotonic_ms();
		int n = poll(p, 5, settling ? (int)(left > 0 ? left : 0) : -1);
		if (n < 0 && errno != EINTR)
			break;
		if (settling && (p[4].revents || (n == 0 && left <= 0)))
			way_out_settled(s);
		if (p[3].revents & POLLIN)
			net_forwarder_dispatch(fw);
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
			out_open = pump(s->master, STDOUT_FILENO);
		if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			in_open = pump(STDIN_FILENO, s->master);
			/* End of input: the terminal's end-of-file, as docker does. */
			if (!in_open)
				vce_write_all(s->master, "\x04", 1, &(vce_err){ NULL });
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(s->sigfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGWINCH)
				copy_window_size(s);
			else if (si.ssi_signo != SIGCHLD)
				kill(s->child, (int)si.ssi_signo);
		}
		if (waitpid(s->child, &status, WNOHANG) == s->child) {
			/* Drain what the command wrote last. */
			while (out_open && (out_open = pump(s->master, STDOUT_FILENO)))
				;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
	}
	waitpid(s->child, &status, 0);
	return 125;
}

int rt_session_relay(rt_session *s, bool interactive, net_forwarder *fw)
{
	int code;

	if (s->master >= 0) {
		copy_window_size(s);
		terminal_raw(s);
	}
	code = supervise(s, interactive, fw);
	s->child = -1;
	terminal_restore(s);
	return code;
}

static int clone_flags(const rt_plan *plan)
{
	return CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC |
	       (own_network(plan) ? CLONE_NEWNET : 0) |
	       (plan->userns && plan->rootless && !joins_userns(plan) ? CLONE_NEWUSER : 0);
}

/* The container's namespaces are made inside NAME's user namespace, or
 * the new mount and pid namespaces would belong to the host's, where a
 * user may not mount /proc. A clone from vce cannot start inside another
 * user namespace: a short-lived child joins NAME's, clones the container
 * as vce's own child (CLONE_PARENT) and says its pid. */
static pid_t clone_in_shared_userns(const rt_plan *plan, int sync_fd, int dir_fd, vce_err *err)
{
	int report[2], status;
	struct {
		pid_t pid;
		int error;
	} said = { -1, 0 };
	pid_t helper;

	if (pipe2(report, O_CLOEXEC) < 0)
		return vce_error_make(err, errno, "pipe");
	helper = fork();
	if (helper < 0) {
		close(report[0]);
		close(report[1]);
		return vce_error_make(err, errno, "fork");
	}
	if (helper == 0) {
		close(report[0]);
		if (setns(plan->net_share_userns_fd, CLONE_NEWUSER) < 0 ||
		    setns(plan->net_share_fd, CLONE_NEWNET) < 0)
			said.error = errno;
		else
			said.pid = (pid_t)syscall(SYS_clone,
						  (unsigned long)clone_flags(plan) | CLONE_PARENT,
						  NULL, NULL, NULL, NULL);
		if (said.pid == 0) {
			close(report[1]);
			container_main(plan, sync_fd, dir_fd);
		}
		if (said.pid < 0 && said.error == 0)
			said.error = errno;
		_exit(write(report[1], &said, sizeof(said)) == sizeof(said) ? 0 : 1);
	}
	close(report[1]);
	if (read(report[0], &said, sizeof(said)) != sizeof(said))
		said = (typeof(said)){ -1, EIO };
	close(report[0]);
	waitpid(helper, &status, 0);
	if (said.pid < 0)
		return vce_error_make(err, said.error, "join the network of container %s",
				      plan->net_container);
	return said.pid;
}

/* The namespaces the forwarder's helper will join, opened while the
 * child is still vce's to open (it makes itself undumpable after "G"). */
static int open_namespaces(const rt_plan *plan, rt_session *s, vce_err *err)
{
	char path[64];

	if (plan->network != RT_NET_PRIVATE || plan->n_listeners == 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)s->child);
	s->netns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->netns_fd < 0)
		return vce_error_make(err, errno, "open %s", path);
	if (!(plan->userns && plan->rootless))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)s->child);
	s->userns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->userns_fd < 0)
		return vce_error_make(err, errno, "open %s", path);
	return 0;
}

void rt_forwarded_signal_set(sigset_t *set)
{
	sigemptyset(set);
	for (const int *sig = rt_forwarded_signals; *sig; sig++)
		sigaddset(set, *sig);
	sigaddset(set, SIGCHLD);
}

int rt_session_open(rt_session *s, int sv[2], vce_err *err)
{
	sigset_t set;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return vce_error_make(err, errno, "socketpair");
	rt_forwarded_signal_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	s->sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	return 0;
}

static int start_child(const rt_plan *plan, const rt_cgroup *cg, rt_session *s, int sync_fd,
		       vce_err *err);

int rt_session_start(const rt_plan *plan, int dir_fd, const rt_cgroup *cg, rt_session *s,
		     vce_err *err)
{
	int sv[2];

	if (rt_session_open(s, sv, err) < 0)
		return -1;
	if (joins_userns(plan)) {
		s->child = clone_in_shared_userns(plan, sv[1], dir_fd, err);
		close(sv[1]);
		if (s->child < 0) {
			close(sv[0]);
			return -1;
		}
		return start_child(plan, cg, s, sv[0], err);
	}
	/* fork with namespaces: a raw clone without a new stack. */
	s->child = (pid_t)syscall(SYS_clone, (unsigned long)clone_flags(plan) | SIGCHLD, NULL, NULL,
				  NULL, NULL);
	if (s->child < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		if (e == EPERM || e == EINVAL || e == ENOSPC)
			return vce_error_make(
			    err, e,
			    "cannot create the container's namespaces: the kernel "
			    "must allow user namespaces (sysctl "
			    "kernel.unprivileged_userns_clone=1, "
			    "user.max_user_namespaces > 0)");
		return vce_error_make(err, e, "clone");
	}
	if (s->child == 0) {
		close(sv[0]);
		container_main(plan, sv[1], dir_fd);
	}
	close(sv[1]);
	return start_child(plan, cg, s, sv[0], err);
}

/* The child is there: rootless it waits for its ids, as root it mounts;
 * its cgroup; "G". */
static int start_child(const rt_plan *plan, const rt_cgroup *cg, rt_session *s, int sync_fd,
		       vce_err *err)
{
	s->sync_fd = sync_fd;
	if (plan->userns && plan->rootless && !joins_userns(plan) &&
	    vce_write_id_maps(s->child, &plan->map, err) < 0)
		return -1;
	if (plan->network == RT_NET_PRIVATE && !(plan->userns && plan->rootless) &&
	    start_way_out(s, plan, err) < 0) {
		if (!child_failed(s))
			return -1;
		vce_error_release(err);
	}
	if ((cg && rt_cgroup_join(cg, s->child, err) < 0) || open_namespaces(plan, s, err) < 0) {
		/* As root the child mounts meanwhile: one that failed there
		 * has said why, which is the error to report. */
		if (!child_failed(s))
			return -1;
		vce_error_release(err);
	}
	if (send(s->sync_fd, "G", 1, MSG_NOSIGNAL) != 1 && errno != EPIPE && errno != ECONNRESET)
		return vce_error_make(err, errno, "start the container");
	return 0;
}

int rt_hand_over(const rt_plan *plan, int dir_fd, vce_err *err)
{
	uid_t u;
	gid_t g;

	if (!plan->userns || plan->rootless)
		return 0;
	u = (uid_t)(plan->map.uid[0].inside == 0 ? plan->map.uid[0].outside : 65534);
	g = (gid_t)(plan->map.gid[0].inside == 0 ? plan->map.gid[0].outside : 65534);
	if (fchown(dir_fd, u, g) < 0 || fchownat(dir_fd, "upper", u, g, 0) < 0 ||
	    fchownat(dir_fd, "work", u, g, 0) < 0)
		return vce_error_make(err, errno, "hand the container to its user namespace");
	return 0;
}

void rt_session_close(rt_session *s)
{
	if (s->child > 0) {
		kill(s->child, SIGKILL);
		waitpid(s->child, NULL, 0);
		s->child = -1;
	}
	if (s->master >= 0)
		close(s->master);
	if (s->sync_fd >= 0)
		close(s->sync_fd);
	if (s->sigfd >= 0)
		close(s->sigfd);
	vce_error_release(&s->late_error);
	if (s->netns_fd >= 0)
		close(s->netns_fd);
	if (s->userns_fd >= 0)
		close(s->userns_fd);
	net_outbound_stop(&s->outbound);
	s->master = s->sync_fd = s->sigfd = s->netns_fd = s->userns_fd = -1;
}

int rt_record_running(int dir_fd, bool locked, pid_t init, const rt_cgroup *cg, bool detached,
		      const rt_plan *plan, vce_err *err)
{
	cleanup_close int lock = locked ? -1 : rt_state_lock(dir_fd, err);
	cleanup_json json_t *state = NULL;

	if (!locked && lock < 0)
		return -1;
	state = rt_state_load(dir_fd, err);
	if (state == NULL)
		return -1;
	rt_state_set_running(state, init, getpid());
	json_object_set_new(state, "cgroups", rt_cgroup_to_json(cg));
	json_object_set_new(state, "detached", json_boolean(detached));
	json_object_set_new(state, "ports", rt_net_ports_json(plan));
	return rt_state_save(dir_fd, state, err);
}

void rt_record_exit(int dir_fd, int code, const char *error)
{
	cleanup_err vce_err err = NULL;
	cleanup_close int lock = rt_state_lock(dir_fd, &err);
	cleanup_json json_t *state = lock >= 0 ? rt_state_load(dir_fd, &err) : NULL;
	rt_cgroup cg = { 0 };

	if (state == NULL) {
		vce_warn("could not record the container's exit: %s", err->msg);
		return;
	}
	rt_cgroup_from_json(json_object_get(state, "cgroups"), &cg);
	rt_state_set_exit(state, code);
	json_object_set_new(state, "oom_killed", json_boolean(rt_cgroup_oom_killed(&cg)));
	if (error)
		json_object_set_new(state, "error", json_string(error));
	rt_cgroup_remove(&cg);
	rt_cgroup_free(&cg);
	json_object_del(state, "cgroups");
	json_object_del(state, "ports");
	if (rt_state_save(dir_fd, state, &err) < 0)
		vce_warn("could not record the container's exit: %s", err->msg);
}

int rt_run(oci_store *store, const rt_options *opts, int *exit_code, vce_err *err)
{
	rt_plan plan = { 0 };
	rt_session s = RT_SESSION_INIT;
	rt_cgroup cg = { 0 };
	rt_forward fw = { { -1, -1 }, NULL };
	cleanup_close int dir_fd = -1;
	cleanup_free char *failure = NULL;
	int ret = -1;

	*exit_code = 125;
	if (rt_container_create(store, opts, &plan, &dir_fd, err) < 0) {
		rt_plan_free(&plan);
		return -1;
	}
	if (rt_net_open_shared(store, &plan, err) < 0 || rt_net_listen(&plan, err) < 0 ||
	    rt_cgroup_create(plan.id, &plan.limits, &cg, err) < 0 ||
	    rt_hand_over(&plan, dir_fd, err) < 0 ||
	    rt_session_start(&plan, dir_fd, &cg, &s, err) < 0)
		goto done;
	s.settle_in_relay = true;
	if (rt_session_await_exec(&s, &plan, exit_code, err) < 0)
		goto done;
	if (rt_record_running(dir_fd, false, s.child, &cg, false, &plan, err) < 0 ||
	    rt_net_forward_start(plan.listeners, plan.n_listeners, s.netns_fd, s.userns_fd, &fw,
				 err) < 0)
		goto done;
	*exit_code = rt_session_relay(&s, opts->interactive, fw.f);
	if (s.late_error) {
		*err = s.late_error;
		s.late_error = NULL;
		*exit_code = 125;
		goto done;
	}
	ret = 0;
done:
	rt_net_forward_stop(&fw);
	rt_net_close(&plan);
	if (ret < 0)
		failure = vce_error_text(*err);
	rt_session_close(&s);
	rt_record_exit(dir_fd, *exit_code, failure);
	rt_cgroup_remove(&cg);
	rt_cgroup_free(&cg);
	if (plan.remove) {
		cleanup_err vce_err rm_err = NULL;
		if (rt_container_remove(store, plan.id, &rm_err) < 0)
			vce_warn("could not remove container %s: %s", plan.name, rm_err->msg);
	}
	rt_plan_free(&plan);
	return ret;
}
