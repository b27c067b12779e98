/* Running a function as root of a new user namespace, for what a user
 * without privilege needs root's powers over their own files for:
 * unpacking layers with their owners, removing them again.
 *
 * With a subordinate range (/etc/subuid and /etc/subgid, newuidmap and
 * newgidmap from Debian's uidmap), namespace ids 0 is the user and 1.. the
 * range, so ownership in an image is kept. Without one, only the user is
 * mapped, to 0. */
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "banned.h"

/* The first range for this user (by name or uid) in /etc/subuid or
 * /etc/subgid. */
static bool find_subid(const char *file, const char *name, unsigned long id, unsigned long *start,
		       unsigned long *count)
{
	cleanup_fclose FILE *f = fopen(file, "re");
	char line[512];

	while (f && fgets(line, sizeof(line), f)) {
		char *save = NULL;
		char *who = strtok_r(line, ":\n", &save);
		char *s = strtok_r(NULL, ":\n", &save);
		char *c = strtok_r(NULL, ":\n", &save);
		char *end;
		if (who == NULL || s == NULL || c == NULL)
			continue;
		if (strcmp(who, name) != 0 && !(strtoul(who, &end, 10) == id && *end == '\0'))
			continue;
		*start = strtoul(s, &end, 10);
		*count = strtoul(c, &end, 10);
		if (*count > 0)
			return true;
	}
	return false;
}

bool vce_subid_range(vce_idrange *out)
{
	struct passwd *pw = getpwuid(getuid());
	const char *name = pw ? pw->pw_name : "";

	memset(out, 0, sizeof(*out));
	if (access("/usr/bin/newuidmap", X_OK) < 0 || access("/usr/bin/newgidmap", X_OK) < 0)
		return false;
	return find_subid("/etc/subuid", name, getuid(), &out->uid_start, &out->uid_count) &&
	       find_subid("/etc/subgid", name, getuid(), &out->gid_start, &out->gid_count);
}

static int run_helper(const char *tool, pid_t pid, unsigned long id, unsigned long start,
		      unsigned long count, vce_err *err)
{
	char a[5][32];
	pid_t child;
	int status;

	snprintf(a[0], sizeof(a[0]), "%d", (int)pid);
	snprintf(a[1], sizeof(a[1]), "%lu", id);
	snprintf(a[2], sizeof(a[2]), "%lu", start);
	snprintf(a[3], sizeof(a[3]), "%lu", count);
	child = fork();
	if (child < 0)
		return vce_error_make(err, errno, "fork %s", tool);
	if (child == 0) {
		execl(tool, tool, a[0], "0", a[1], "1", "1", a[2], a[3], (char *)NULL);
		_exit(127);
	}
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return vce_error_make(
		    err, 0,
		    "%s failed to map the subordinate ids of this user (check /etc/subuid and /etc/subgid)",
		    tool);
	return 0;
}

static int write_proc(pid_t pid, const char *file, const char *text, vce_err *err)
{
	cleanup_free char *path = xasprintf("/proc/%d/%s", (int)pid, file);
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return vce_error_make(err, errno, "write %s", path);
	return 0;
}

static int write_maps(pid_t pid, const vce_idrange *range, vce_err *err)
{
	char line[64];

	if (range) {
		if (run_helper("/usr/bin/newuidmap", pid, getuid(), range->uid_start,
			       range->uid_count, err) < 0 ||
		    run_helper("/usr/bin/newgidmap", pid, getgid(), range->gid_start,
			       range->gid_count, err) < 0)
			return -1;
		return 0;
	}
	snprintf(line, sizeof(line), "0 %d 1\n", (int)getuid());
	if (write_proc(pid, "uid_map", line, err) < 0 ||
	    write_proc(pid, "setgroups", "deny", err) < 0)
		return -1;
	snprintf(line, sizeof(line), "0 %d 1\n", (int)getgid());
	return write_proc(pid, "gid_map", line, err);
}

/* The child's side: wait for the maps, become root of the namespace, run
 * fn, report a failure as "status message" and exit. */
static void child_main(int sock, int (*fn)(void *, bool, vce_err *), void *arg, bool full)
{
	vce_err err = NULL;
	char go = 0;
	int ret;

	if (unshare(CLONE_NEWUSER) < 0) {
		vce_error_make(
		    &err, errno,
		    "cannot create a user namespace (is kernel.unprivileged_userns_clone on?)");
	} else if (write(sock, "R", 1) != 1 || read(sock, &go, 1) != 1 || go != 'G') {
		vce_error_make(&err, 0, "the user namespace was not set up");
	} else if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
		vce_error_make(&err, errno, "become root in the user namespace");
	}
	ret = err ? -1 : fn(arg, full, &err);
	if (ret < 0) {
		cleanup_free char *msg = xasprintf("%d %s", err->status, err->msg);
		ssize_t ignored = write(sock, msg, strlen(msg));
		(void)ignored;
		_exit(1);
	}
	_exit(0);
}

static int read_child_error(int sock, vce_err *err)
{
	char buf[4096];
	ssize_t n = read(sock, buf, sizeof(buf) - 1);
	char *msg;
	long status;

	if (n <= 0)
		return vce_error_make(err, 0, "a helper process in the user namespace died");
	buf[n] = '\0';
	status = strtol(buf, &msg, 10);
	return vce_error_make(err, (int)status, "%s", *msg == ' ' ? msg + 1 : msg);
}

int vce_userns_run(int (*fn)(void *arg, bool full_range, vce_err *err), void *arg, vce_err *err)
{
	vce_idrange range;
	bool full = vce_subid_range(&range);
	int sv[2];
	pid_t pid;
	char ready = 0;
	int status, ret = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return vce_error_make(err, errno, "socketpair");
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return vce_error_make(err, errno, "fork");
	}
	if (pid == 0) {
		close(sv[0]);
		child_main(sv[1], fn, arg, full);
	}
	close(sv[1]);
	if (read(sv[0], &ready, 1) != 1 || ready != 'R') {
		ret = read_child_error(sv[0], err);
	} else if (write_maps(pid, full ? &range : NULL, err) < 0) {
		ret = -1;
		kill(pid, SIGKILL);
	} else if (write(sv[0], "G", 1) != 1) {
		ret = vce_error_make(err, errno, "start the user namespace helper");
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (ret == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		ret = read_child_error(sv[0], err);
	close(sv[0]);
	return ret;
}
