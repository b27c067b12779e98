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

/* Starts newuidmap or newgidmap for pid's namespace; returns its pid. */
static pid_t start_map_helper(const char *tool, pid_t pid, const vce_idrange_line *r, size_t n,
			      vce_err *err)
{
	char args[1 + 3 * 3][24];
	char *argv[1 + 1 + 3 * 3 + 1];
	size_t k = 0;
	pid_t child;

	argv[k++] = (char *)tool;
	snprintf(args[0], sizeof(args[0]), "%d", (int)pid);
	argv[k++] = args[0];
	for (size_t i = 0; i < n && i < 3; i++) {
		snprintf(args[1 + 3 * i], 24, "%lu", r[i].inside);
		snprintf(args[2 + 3 * i], 24, "%lu", r[i].outside);
		snprintf(args[3 + 3 * i], 24, "%lu", r[i].count);
		argv[k++] = args[1 + 3 * i];
		argv[k++] = args[2 + 3 * i];
		argv[k++] = args[3 + 3 * i];
	}
	argv[k] = NULL;
	child = fork();
	if (child < 0)
		return vce_error_make(err, errno, "fork %s", tool);
	if (child == 0) {
		execv(tool, argv);
		_exit(127);
	}
	return child;
}

static bool helper_succeeded(pid_t child)
{
	int status;
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			return false;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Both helpers at once: each is a setuid program's start, the larger part
 * of a rootless container's start. */
static int run_map_helpers(pid_t pid, const vce_idmap *map, vce_err *err)
{
	pid_t u = start_map_helper("/usr/bin/newuidmap", pid, map->uid, map->n_uid, err);
	pid_t g =
	    u < 0 ? -1 : start_map_helper("/usr/bin/newgidmap", pid, map->gid, map->n_gid, err);
	bool ok_u = u > 0 && helper_succeeded(u);
	bool ok_g = g > 0 && helper_succeeded(g);

	if (u < 0 || g < 0)
		return -1;
	if (!ok_u || !ok_g)
		return vce_error_make(err, 0,
				      "%s could not map the ids of a user namespace: check this "
				      "user's ranges in /etc/subuid and /etc/subgid",
				      ok_u ? "newgidmap" : "newuidmap");
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

static int write_map_file(pid_t pid, const char *file, const vce_idrange_line *r, size_t n,
			  vce_err *err)
{
	char text[256];
	size_t used = 0;

	for (size_t i = 0; i < n && i < 3; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used, "%lu %lu %lu\n",
					 r[i].inside, r[i].outside, r[i].count);
	return write_proc(pid, file, text, err);
}

int vce_write_id_maps(pid_t pid, const vce_idmap *map, vce_err *err)
{
	if (map->helpers)
		return run_map_helpers(pid, map, err);
	if (write_map_file(pid, "uid_map", map->uid, map->n_uid, err) < 0)
		return -1;
	/* Without privilege, a gid map may be written only once setgroups
	 * is denied. */
	if (geteuid() != 0 && write_proc(pid, "setgroups", "deny", err) < 0)
		return -1;
	return write_map_file(pid, "gid_map", map->gid, map->n_gid, err);
}

/* This user as root, and the subordinate range as 1.. when there is one. */
static void default_map(const vce_idrange *range, vce_idmap *map)
{
	memset(map, 0, sizeof(*map));
	map->uid[0] = (vce_idrange_line){ 0, getuid(), 1 };
	map->gid[0] = (vce_idrange_line){ 0, getgid(), 1 };
	map->n_uid = map->n_gid = 1;
	if (range) {
		map->uid[1] = (vce_idrange_line){ 1, range->uid_start, range->uid_count };
		map->gid[1] = (vce_idrange_line){ 1, range->gid_start, range->gid_count };
		map->n_uid = map->n_gid = 2;
		map->helpers = true;
	}
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
	vce_idmap map;

	default_map(vce_subid_range(&range) ? &range : NULL, &map);
	return vce_userns_run_mapped(fn, arg, &map, err);
}

int vce_userns_run_mapped(int (*fn)(void *arg, bool full_range, vce_err *err), void *arg,
			  const vce_idmap *map, vce_err *err)
{
	bool full = map->helpers || geteuid() == 0;
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
	} else if (vce_write_id_maps(pid, map, err) < 0) {
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
