/* A way out of the container's network namespace: pasta (package passt)
 * or slirp4netns give it an interface whose traffic they make into the
 * host's own sockets; neither needs privilege. pasta is preferred: three
 * times slirp4netns's throughput, and it leaves by itself when its handle
 * on the namespace is deleted. Inbound forwarding is the forwarder's,
 * never theirs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net.h"

#include "../common/banned.h"

static char *find_in_path(const char *name)
{
	const char *path = getenv("PATH") ? getenv("PATH") : "/usr/sbin:/usr/bin:/sbin:/bin";
	cleanup_free char *copy = xstrdup(path);
	char *save = NULL;

	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *file = xasprintf("%s/%s", dir, name);
		if (access(file, X_OK) == 0)
			return file;
		free(file);
	}
	return NULL;
}

const char *net_outbound_tool(void)
{
	static const char *const order[] = { "pasta", "slirp4netns" };

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		cleanup_free char *file = find_in_path(order[i]);
		if (file)
			return order[i];
	}
	return NULL;
}

/* The host's default gateway, which pasta makes the host itself. */
static void default_gateway(char *out, size_t size)
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[256];

	out[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		unsigned dest, gw;
		if (sscanf(line, "%*s %x %x", &dest, &gw) == 2 && dest == 0 && gw != 0) {
			struct in_addr a = { .s_addr = gw };
			inet_ntop(AF_INET, &a, out, (socklen_t)size);
			break;
		}
	}
	if (f)
		fclose(f);
}

/* pasta forwards what is sent to this address's port 53 to the host's
 * first resolver; slirp4netns's own is at 10.0.2.3. */
#define PASTA_DNS "169.254.1.1"

const char *net_outbound_dns(const char *tool)
{
	if (tool == NULL)
		return "";
	return strcmp(tool, "slirp4netns") == 0 ? "10.0.2.3" : PASTA_DNS;
}

void net_outbound_alias(const char *tool, char *out, size_t size)
{
	if (tool && strcmp(tool, "slirp4netns") == 0)
		snprintf(out, size, "10.0.2.2");
	else if (tool)
		default_gateway(out, size);
	else
		out[0] = '\0';
}

/* In the tool's process, before its exec: /dev/null for stdio, and no
 * signal blocked (vce blocks those it forwards to the container; pasta,
 * which stays in the background, kept SIGTERM blocked and never left). */
static void detach_from_vce(void)
{
	sigset_t none;
	int null = open("/dev/null", O_RDWR);

	dup2(null, 0);
	dup2(null, 1);
	dup2(null, 2);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* slirp4netns writes "1" to its ready fd once tap0 is configured. */
static int start_slirp4netns(pid_t pid, bool rootless, net_outbound *o, vce_err *err)
{
	int ready[2], quit[2];
	char rfd[16], qfd[16];
	cleanup_free char *userns = xasprintf("--userns-path=/proc/%d/ns/user", (int)pid);
	/* By path: given a pid, slirp4netns would also join the pid's user
	 * namespace, which as root with --userns is made while it starts. */
	cleanup_free char *netns = xasprintf("/proc/%d/ns/net", (int)pid);
	cleanup_free char *file = find_in_path("slirp4netns");

	if (file == NULL)
		return vce_error_make(err, ENOENT, "slirp4netns");
	if (pipe2(ready, O_CLOEXEC) < 0)
		return vce_error_make(err, errno, "pipe");
	if (pipe2(quit, O_CLOEXEC) < 0) {
		close(ready[0]);
		close(ready[1]);
		return vce_error_make(err, errno, "pipe");
	}
	o->pid = fork();
	if (o->pid == 0) {
		/* slirp4netns leaves when the last writer of --exit-fd goes:
		 * ours, kept by whoever supervises the container. */
		/* Of our fds only these two, as 3 and 4 (by way of high
		 * numbers: either may be 3 or 4 already). */
		int r = fcntl(ready[1], F_DUPFD, 10), q = fcntl(quit[0], F_DUPFD, 10);
		if (r < 0 || q < 0 || dup2(r, 3) < 0 || dup2(q, 4) < 0)
			_exit(127);
		syscall(SYS_close_range, 5, ~0U, 0);
		setsid();
		snprintf(rfd, sizeof(rfd), "%d", 3);
		snprintf(qfd, sizeof(qfd), "%d", 4);
		detach_from_vce();
		execl(file, "slirp4netns", "--configure", "--mtu=65520", "--ready-fd", rfd,
		      "--exit-fd", qfd, "--netns-type=path", rootless ? userns : "--", netns,
		      "tap0", (char *)NULL);
		_exit(127);
	}
	close(ready[1]);
	close(quit[0]);
	if (o->pid < 0) {
		o->pid = 0;
		close(ready[0]);
		close(quit[1]);
		return vce_error_make(err, errno, "fork");
	}
	o->ready_fd = ready[0];
	o->exit_fd = quit[1];
	return 0;
}

/* The pid pasta wrote, as a pidfd: pasta outlives the namespace's
 * processes, and whoever supervises the container ends it. */
static int open_pid_file(const char *file)
{
	FILE *f = fopen(file, "re");
	int pid = 0, fd = -1;

	if (f && fscanf(f, "%d", &pid) == 1 && pid > 0)
		fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (f)
		fclose(f);
	unlink(file);
	return fd;
}

/* pasta's handle on the namespace, where it can open it. Rootless: a
 * link to /proc/PID/ns/net (pasta runs as the same user and joins the
 * user namespace first). As root, pasta keeps uid 0 (--runas; by default
 * it drops to nobody, who may not enter the namespace) but not the
 * capabilities that /proc/PID/ns of a root process asks of its opener:
 * the namespace is bind-mounted on a file instead, as `ip netns` does. */
static int make_handle(pid_t pid, bool rootless, const char *handle, vce_err *err)
{
	cleanup_free char *netns = xasprintf("/proc/%d/ns/net", (int)pid);
	int fd;

	/* One left by a start whose supervisor was killed: its pasta leaves
	 * now. */
	net_outbound_forget(handle);
	if (rootless) {
		if (symlink(netns, handle) < 0)
			return vce_error_make(err, errno, "link %s", handle);
		return 0;
	}
	fd = open(handle, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return vce_error_make(err, errno, "create %s", handle);
	close(fd);
	if (mount(netns, handle, NULL, MS_BIND, NULL) < 0) {
		vce_error_make(err, errno, "bind %s on %s", netns, handle);
		unlink(handle);
		return -1;
	}
	return 0;
}

/* pasta forks into the background once the interface is up: the exit of
 * the process started here (readable on its pidfd) is the signal. */
static int start_pasta(pid_t pid, bool rootless, const char *handle, net_outbound *o, vce_err *err)
{
	cleanup_free char *userns = xasprintf("/proc/%d/ns/user", (int)pid);
	/* Found once: a PATH of many folders costs an exec attempt each. */
	cleanup_free char *file = find_in_path("pasta");
	pid_t child;

	if (file == NULL)
		return vce_error_make(err, ENOENT, "pasta");
	if (make_handle(pid, rootless, handle, err) < 0)
		return -1;
	o->handle = xstrdup(handle);
	o->pid_file = xasprintf("%s.pid", handle);
	child = fork();
	if (child < 0)
		return vce_error_make(err, errno, "fork");
	if (child == 0) {
		detach_from_vce();
		/* It stays in the background: with none of ours (a caller's
		 * pipe held open would keep the caller waiting). */
		syscall(SYS_close_range, 3, ~0U, 0);
		execl(file, "pasta", "--config-net", "--quiet", "-t", "none", "-u", "none", "-T",
		      "none", "-U", "none", "--dns-forward", PASTA_DNS, "-P", o->pid_file,
		      rootless ? "--userns" : "--runas", rootless ? userns : "0:0", "--netns",
		      handle, (char *)NULL);
		_exit(127);
	}
	o->starter = child;
	o->ready_fd = (int)syscall(SYS_pidfd_open, child, 0);
	if (o->ready_fd < 0)
		return vce_error_make(err, errno, "pidfd_open");
	return 0;
}

int net_outbound_start(pid_t pid, bool rootless, const char *handle, net_outbound *o, vce_err *err)
{
	*o = (net_outbound)NET_OUTBOUND_INIT;
	o->tool = net_outbound_tool();
	if (o->tool == NULL)
		return 0;
	if (strcmp(o->tool, "pasta") == 0)
		return start_pasta(pid, rootless, handle, o, err);
	return start_slirp4netns(pid, rootless, o, err);
}

static bool pasta_done(net_outbound *o)
{
	int status;

	while (waitpid(o->starter, &status, 0) < 0 && errno == EINTR)
		;
	o->starter = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return false;
	o->pidfd = open_pid_file(o->pid_file);
	return true;
}

static bool slirp4netns_done(net_outbound *o)
{
	char c = 0;
	return read(o->ready_fd, &c, 1) == 1 && c == '1';
}

int net_outbound_settle(net_outbound *o, int timeout_ms, vce_err *err)
{
	struct pollfd p = { o->ready_fd, POLLIN, 0 };
	bool up;

	if (o->ready_fd < 0)
		return 0;
	if (poll(&p, 1, timeout_ms) <= 0)
		up = false;
	else if (o->starter > 0)
		up = pasta_done(o);
	else
		up = slirp4netns_done(o);
	close(o->ready_fd);
	o->ready_fd = -1;
	if (up)
		return 0;
	net_outbound_stop(o);
	return vce_error_make(err, 0,
			      "%s did not set up the container's network: run with "
			      "--network none, or see that %s works",
			      o->tool, o->tool);
}

void net_outbound_stop(net_outbound *o)
{
	/* Not yet up: no reason to let it finish. */
	if (o->pid > 0 && o->ready_fd >= 0)
		kill(o->pid, SIGKILL);
	if (o->ready_fd >= 0)
		close(o->ready_fd);
	if (o->starter > 0) {
		/* Still starting: it has no daemon yet. Not waited for, as it
		 * takes pasta tens of ms to die inside its network setup:
		 * every caller is about to exit, which gives it to init. */
		kill(o->starter, SIGKILL);
		waitpid(o->starter, NULL, WNOHANG);
		o->pidfd = open_pid_file(o->pid_file);
	}
	if (o->exit_fd >= 0)
		close(o->exit_fd);
	if (o->pidfd >= 0) {
		syscall(SYS_pidfd_send_signal, o->pidfd, SIGTERM, NULL, 0);
		close(o->pidfd);
	}
	if (o->handle)
		net_outbound_forget(o->handle);
	free(o->pid_file);
	free(o->handle);
	o->pid_file = o->handle = NULL;
	o->ready_fd = o->exit_fd = o->pidfd = -1;
	o->starter = 0;
}

void net_outbound_adopt(net_outbound *o, const char *handle, int pidfd)
{
	*o = (net_outbound)NET_OUTBOUND_INIT;
	o->pidfd = pidfd;
	o->handle = xstrdup(handle);
}

void net_outbound_forget(const char *handle)
{
	cleanup_free char *pid_file = xasprintf("%s.pid", handle);

	/* Never through a link: a rootless handle is one. */
	umount2(handle, MNT_DETACH | UMOUNT_NOFOLLOW);
	unlink(handle);
	unlink(pid_file);
}
