/* The supervisor of a detached container: one small vce process that
 * outlives the command that started the container and holds what must
 * live as long as it does — the log, the exit status, later the port
 * forwarders.
 *
 *   vce run -d / start            (returns once the command runs)
 *   `- (forks twice) supervisor   setsid, stdio on /dev/null, no terminal
 *      `- init (pid 1)            the container, as in the foreground
 *
 * The supervisor starts the container with all of vce in memory, then
 * execs itself as `vce __supervise ...`: a fresh image holds only the
 * pages the loop touches (its children are kept across exec). init dies
 * with it (parent-death signal), so a kill -9 leaves no orphans. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "container.h"

#include "../common/banned.h"

#define DEFAULT_LOG_MAX (10ull << 20)

/* ---- starting it (in vce, before the exec) ---- */

static void report(int fd, int code, vce_err *err)
{
	cleanup_free char *msg =
	    xasprintf("E%d %d %s", code, (*err)->status, (*err)->msg ? (*err)->msg : "");
	ssize_t ignored = write(fd, msg, strlen(msg));
	(void)ignored;
}

/* The container's stdio: pipes the supervisor reads (a pty with -t,
 * whose master comes back from init), stdin /dev/null, or with -i a pipe
 * nobody writes to (open, as docker keeps it). */
typedef struct stdio_pipes {
	int out[2], err[2], in[2];
} stdio_pipes;

static int make_stdio(const rt_plan *plan, stdio_pipes *p, vce_err *err)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	*p = (stdio_pipes){ { -1, -1 }, { -1, -1 }, { -1, -1 } };
	if (null < 0)
		return vce_error_make(err, errno, "open /dev/null");
	if (!plan->tty && (pipe2(p->out, O_CLOEXEC) < 0 || pipe2(p->err, O_CLOEXEC) < 0))
		return vce_error_make(err, errno, "pipe");
	if (plan->interactive && !plan->tty && pipe2(p->in, O_CLOEXEC) < 0)
		return vce_error_make(err, errno, "pipe");
	/* dup2 clears close-on-exec: these three are what init inherits. */
	if (dup2(p->in[0] >= 0 ? p->in[0] : null, 0) < 0 ||
	    dup2(p->out[1] >= 0 ? p->out[1] : null, 1) < 0 ||
	    dup2(p->err[1] >= 0 ? p->err[1] : null, 2) < 0)
		return vce_error_make(err, errno, "dup2");
	close(null);
	return 0;
}

/* Once init has them: the supervisor keeps only its ends. */
static void drop_container_ends(stdio_pipes *p)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int i = 0; i < 3; i++)
		dup2(null, i);
	close(null);
	if (p->out[1] >= 0)
		close(p->out[1]);
	if (p->err[1] >= 0)
		close(p->err[1]);
	if (p->in[0] >= 0)
		close(p->in[0]);
}

static void keep_across_exec(int fd)
{
	if (fd >= 0)
		fcntl(fd, F_SETFD, 0);
}

static void __attribute__((noreturn))
exec_supervisor(const rt_plan *plan, const rt_session *s, const stdio_pipes *p)
{
	char pid[16], out[16], errfd[16], in[16], log_max[32], netns[16], userns[16];
	char outbound[16];
	int output = s->master >= 0 ? s->master : p->out[0];
	cleanup_free char *ports = rt_net_encode(plan->listeners, plan->n_listeners);

	snprintf(pid, sizeof(pid), "%d", (int)s->child);
	snprintf(out, sizeof(out), "%d", output);
	snprintf(errfd, sizeof(errfd), "%d", p->err[0]);
	snprintf(in, sizeof(in), "%d", p->in[1]);
	snprintf(log_max, sizeof(log_max), "%llu",
		 (unsigned long long)(plan->log_max ? plan->log_max : DEFAULT_LOG_MAX));
	keep_across_exec(output);
	keep_across_exec(p->err[0]);
	keep_across_exec(p->in[1]);
	/* The forwarder's listeners and namespaces; slirp4netns leaves when
	 * the supervisor does, with its exit fd. */
	for (size_t i = 0; i < plan->n_listeners; i++)
		keep_across_exec(plan->listeners[i].fd);
	keep_across_exec(s->netns_fd);
	keep_across_exec(s->userns_fd);
	keep_across_exec(s->outbound.exit_fd);
	keep_across_exec(s->outbound.pidfd);
	snprintf(outbound, sizeof(outbound), "%d", s->outbound.pidfd);
	snprintf(netns, sizeof(netns), "%d", s->netns_fd);
	snprintf(userns, sizeof(userns), "%d", s->userns_fd);
	execl("/proc/self/exe", "vce", "__supervise", plan->dir, pid, out, errfd, in, log_max,
	      plan->remove ? "rm" : "keep", netns, userns, ports, outbound, (char *)NULL);
	_exit(125);
}

static void __attribute__((noreturn))
supervisor_start(const rt_plan *plan, int dir_fd, int lock_fd, const rt_cgroup *cg, int report_fd)
{
	cleanup_err vce_err err = NULL;
	rt_session s = RT_SESSION_INIT;
	stdio_pipes p;
	int code = 125;

	setsid();
	if (chdir("/") < 0 || make_stdio(plan, &p, &err) < 0 ||
	    rt_session_start(plan, dir_fd, cg, &s, &err) < 0)
		goto fail;
	drop_container_ends(&p);
	if (rt_session_await_exec(&s, plan, &code, &err) < 0)
		goto fail;
	if (rt_record_running(dir_fd, true, s.child, cg, true, plan, &err) < 0)
		goto fail;
	close(lock_fd);
	close(report_fd); /* the caller reads end of file: running */
	exec_supervisor(plan, &s, &p);
fail:
	report(report_fd, code, &err);
	rt_session_close(&s);
	_exit(code);
}

int rt_launch_detached(const rt_plan *plan, int dir_fd, int lock_fd, const rt_cgroup *cg,
		       int *exit_code, vce_err *err)
{
	int fds[2];
	pid_t first;
	char buf[4096];
	ssize_t n, got = 0;

	*exit_code = 125;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return vce_error_make(err, errno, "pipe");
	first = fork();
	if (first < 0) {
		close(fds[0]);
		close(fds[1]);
		return vce_error_make(err, errno, "fork the supervisor");
	}
	if (first == 0) {
		close(fds[0]);
		/* Twice, so that the supervisor is nobody's child to wait for. */
		if (fork() == 0)
			supervisor_start(plan, dir_fd, lock_fd, cg, fds[1]);
		_exit(0);
	}
	close(fds[1]);
	waitpid(first, NULL, 0);
	while ((n = read(fds[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0 ||
	       (n < 0 && errno == EINTR))
		got += n > 0 ? n : 0;
	close(fds[0]);
	buf[got] = '\0';
	if (got == 0)
		return 0;
	if (buf[0] != 'E')
		return vce_error_make(err, 0, "the container's supervisor failed to start");
	{
		char *p = buf + 1, *end;
		int status;
		*exit_code = (int)strtol(p, &end, 10);
		status = (int)strtol(end, &p, 10);
		return vce_error_make(err, status, "%s", *p == ' ' ? p + 1 : p);
	}
}

/* ---- the supervisor itself, after the exec ---- */

typedef struct log_state {
	int dir_fd, fd, status_fd;
	uint64_t size, max;
	bool failed;
} log_state;

static void log_open(log_state *l)
{
	struct stat st;
	l->fd = openat(l->dir_fd, "log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	l->size = l->fd >= 0 && fstat(l->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	if (l->fd < 0)
		l->failed = true;
}

/* The log stops (the container goes on): log.status says why, written
 * into space reserved at start, so a full disk cannot stop that too. */
static void log_fail(log_state *l, int error)
{
	char now[64], msg[256];
	int len;

	if (l->failed)
		return;
	l->failed = true;
	vce_now_rfc3339(now, sizeof(now));
	len = snprintf(msg, sizeof(msg), "the log stopped at %s: %s\n", now, strerror(error));
	if (l->status_fd >= 0 && pwrite(l->status_fd, msg, (size_t)len, 0) != len)
		vce_verbose("could not say why the log stopped");
}

static void log_rotate(log_state *l)
{
	close(l->fd);
	renameat(l->dir_fd, "log", l->dir_fd, "log.1");
	log_open(l);
}

/* One record per line: "<time> <stdout|stderr> <F|P> <text>\n", P for
 * a piece of a line that goes on in the next record (CRI's format, which
 * podman's k8s-file driver writes too). */
static void log_write(log_state *l, const char *stream, const char *data, size_t len)
{
	char now[64];
	size_t head;

	if (l->failed)
		return;
	vce_now_rfc3339(now, sizeof(now));
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t line = nl ? (size_t)(nl - data) : len;
		char prefix[96];
		struct iovec iov[3];
		head = (size_t)snprintf(prefix, sizeof(prefix), "%s %s %c ", now, stream,
					nl ? 'F' : 'P');
		iov[0] = (struct iovec){ prefix, head };
		iov[1] = (struct iovec){ (void *)data, line };
		iov[2] = (struct iovec){ "\n", 1 };
		if (l->size + head + line + 1 > l->max && l->size > 0)
			log_rotate(l);
		if (l->failed)
			return;
		ssize_t n = writev(l->fd, iov, 3);
		if (n < 0 || (size_t)n != head + line + 1) {
			log_fail(l, n < 0 ? errno : ENOSPC);
			return;
		}
		l->size += (size_t)n;
		data += line + (nl ? 1 : 0);
		len -= line + (nl ? 1 : 0);
	}
}

/* Reads what one stream has; false at its end. */
static bool pump_to_log(log_state *l, int fd, const char *stream)
{
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	log_write(l, stream, buf, (size_t)n);
	return true;
}

static int status_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Idle this long after some work, the supervisor gives back the pages
 * that work touched (the kernel maps code in 64 KiB around each fault:
 * a log line's formatting alone holds hundreds of KiB of libc). */
#define SHED_AFTER_MS 500

static int supervise_loop(log_state *l, pid_t init, int out, int err_fd, int sigfd, rt_forward *fw)
{
	int code = -1, status, ready;
	bool touched = true;

	while (out >= 0 || err_fd >= 0 || code < 0) {
		struct pollfd p[4] = { { sigfd, POLLIN, 0 },
				       { out, POLLIN, 0 },
				       { err_fd, POLLIN, 0 },
				       { net_forwarder_fd(fw->f), POLLIN, 0 } };
		/* After init's exit, whatever is still buffered, then done. */
		ready = poll(p, 4, code >= 0 ? 0 : touched ? SHED_AFTER_MS : -1);
		if (ready == 0 && code < 0) {
			vce_shed_clean_pages();
			touched = false;
			continue;
		}
		if (ready <= 0) {
			if (code >= 0)
				break;
			continue;
		}
		touched = true;
		if (p[3].revents & POLLIN)
			net_forwarder_dispatch(fw->f);
		if (p[1].revents && !pump_to_log(l, out, "stdout")) {
			close(out);
			out = -1;
		}
		if (p[2].revents && !pump_to_log(l, err_fd, "stderr")) {
			close(err_fd);
			err_fd = -1;
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGCHLD)
				kill(init, (int)si.ssi_signo);
			if (code < 0 && waitpid(init, &status, WNOHANG) == init) {
				code = status_code(status);
				/* The ports are free as soon as the container is gone. */
				rt_net_forward_stop(fw);
			}
		}
	}
	return code;
}

int rt_supervise_main(int argc, char **argv)
{
	log_state l = { .fd = -1, .status_fd = -1 };
	const char *dir;
	pid_t init;
	int out, err_fd, in, sigfd, code;
	sigset_t set;

	rt_forward fw = { { -1, -1 }, NULL };
	net_listener *listeners;
	size_t n_listeners;

	if (argc != 13)
		return 125;
	dir = argv[2];
	init = (pid_t)strtol(argv[3], NULL, 10);
	out = (int)strtol(argv[4], NULL, 10);
	err_fd = (int)strtol(argv[5], NULL, 10);
	in = (int)strtol(argv[6], NULL, 10);
	l.max = strtoull(argv[7], NULL, 10);
	(void)in; /* held open: the container's stdin stays open, as with docker -d -i */
	rt_forwarded_signal_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	l.dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l.dir_fd >= 0) {
		l.status_fd =
		    openat(l.dir_fd, "log.status", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		/* Blocks for the message, kept past the end: a full disk
		 * cannot refuse it. */
		if (l.status_fd >= 0)
			fallocate(l.status_fd, FALLOC_FL_KEEP_SIZE, 0, 4096);
		log_open(&l);
	}
	rt_net_decode(argv[11], &listeners, &n_listeners);
	if (n_listeners > 0) {
		cleanup_err vce_err err = NULL;
		int netns = (int)strtol(argv[9], NULL, 10),
		    userns = (int)strtol(argv[10], NULL, 10);
		/* Without its helper the container runs on, unreachable: say so
		 * in its log. */
		if (rt_net_forward_start(listeners, n_listeners, netns, userns, &fw, &err) < 0) {
			log_write(&l, "stderr", err->msg, strlen(err->msg));
			for (size_t i = 0; i < n_listeners; i++)
				close(listeners[i].fd);
		}
		close(netns);
		if (userns >= 0)
			close(userns);
	}
	free(listeners);
	code = supervise_loop(&l, init, out >= 0 ? out : -1, err_fd >= 0 ? err_fd : -1, sigfd, &fw);
	rt_net_forward_stop(&fw);
	{
		/* pasta outlives the namespace's processes: it goes now. */
		net_outbound pasta;
		cleanup_free char *handle = rt_net_outbound_handle(dir, false);
		net_outbound_adopt(&pasta, handle, (int)strtol(argv[12], NULL, 10));
		net_outbound_stop(&pasta);
	}
	if (l.dir_fd >= 0)
		rt_record_exit(l.dir_fd, code, NULL);
	if (strcmp(argv[8], "rm") == 0) {
		cleanup_err vce_err err = NULL;
		rt_container_remove_dir(dir, &err);
	}
	return 0;
}
