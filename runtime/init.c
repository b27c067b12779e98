/* Inside the container: pid 1 (vce's own init, no file from the image)
 * and the command's process between fork and exec. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#include "../common/banned.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* The signals init passes on to the command (and vce to init). */
const int rt_forwarded_signals[] = { SIGTERM, SIGINT,	SIGHUP,	 SIGQUIT, SIGUSR1,
				     SIGUSR2, SIGWINCH, SIGCONT, 0 };

void rt_child_fail(int sync_fd, int exit_code, vce_err *err)
{
	cleanup_free char *msg =
	    xasprintf("E%d %d %s", exit_code, (*err)->status, (*err)->msg ? (*err)->msg : "");
	ssize_t ignored = send(sync_fd, msg, strlen(msg), MSG_NOSIGNAL);
	(void)ignored;
	_exit(exit_code);
}

/* execvpe with the container's PATH (glibc's would search vce's). */
static int exec_in_path(const rt_plan *plan, int *exit_code, vce_err *err)
{
	const char *file = plan->argv[0];
	const char *path = vce_env_lookup(plan->envp, plan->n_envp, "PATH");
	bool denied = false;

	if (strchr(file, '/') == NULL && *file) {
		cleanup_free char *dirs = xstrdup(path ? path
						       : "/usr/local/sbin:/usr/local/bin:"
							 "/usr/sbin:/usr/bin:/sbin:/bin");
		char *save = NULL;
		for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			cleanup_free char *full = xasprintf("%s/%s", *d ? d : ".", file);
			execve(full, plan->argv, plan->envp);
			if (errno == EACCES)
				denied = true;
			else if (errno != ENOENT && errno != ENOTDIR)
				break;
		}
		*exit_code = denied ? 126 : 127;
		return vce_error_make(err, 0,
				      denied ? "exec: \"%s\": permission denied"
					     : "exec: \"%s\": executable file not found in $PATH",
				      file);
	}
	execve(file, plan->argv, plan->envp);
	*exit_code = errno == ENOENT || errno == ENOTDIR ? 127 : 126;
	return vce_error_make(err, errno, "exec: \"%s\"", file);
}

static int enter_workdir(const char *cwd, vce_err *err)
{
	if (chdir(cwd) == 0)
		return 0;
	if (errno == ENOENT) {
		/* Docker creates a WorkingDir the image lacks. */
		cleanup_close int fd = vce_mkdirs_at(AT_FDCWD, cwd, 0755, err);
		if (fd >= 0 && fchdir(fd) == 0)
			return 0;
		vce_error_release(err);
	}
	return vce_error_make(err, errno, "cannot use %s as the working directory", cwd);
}

static int set_ids(const rt_plan *plan, vce_err *err)
{
	/* setgroups is denied in a namespace whose gid map vce wrote itself. */
	bool may_setgroups = !plan->userns || plan->map.helpers || !plan->rootless;

	if (may_setgroups && setgroups(plan->n_groups, plan->groups) < 0)
		return vce_error_make(err, errno, "setgroups");
	if (setresgid(plan->gid, plan->gid, plan->gid) < 0)
		return vce_error_make(err, errno, "set gid %u", (unsigned)plan->gid);
	if (setresuid(plan->uid, plan->uid, plan->uid) < 0)
		return vce_error_make(err, errno, "set uid %u", (unsigned)plan->uid);
	return 0;
}

static int setup_stdio(const rt_plan *plan, int slave, vce_err *err)
{
	if (slave >= 0) {
		if (ioctl(slave, TIOCSCTTY, 0) < 0)
			return vce_error_make(err, errno, "take the terminal");
		for (int i = 0; i < 3; i++)
			if (dup2(slave, i) < 0)
				return vce_error_make(err, errno, "dup2");
		return 0;
	}
	if (!plan->interactive) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null < 0 || dup2(null, 0) < 0)
			return vce_error_make(err, errno, "open /dev/null");
		close(null);
	}
	return 0;
}

int rt_exec_command(const rt_plan *plan, int slave, int *exit_code, vce_err *err)
{
	sigset_t none;

	*exit_code = 125;
	sigemptyset(&none);
	for (const int *s = rt_forwarded_signals; *s; s++)
		signal(*s, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0 && errno != EPERM)
		return vce_error_make(err, errno, "setsid");
	if (setup_stdio(plan, slave, err) < 0 || enter_workdir(plan->cwd, err) < 0)
		return -1;
	/* While every capability is still held (no no_new_privs needed). */
	if (rt_seccomp_load(plan->seccomp_bpf, plan->seccomp_len, err) < 0)
		return -1;
	if (rt_drop_bounding_caps(plan->caps, err) < 0 || set_ids(plan, err) < 0)
		return -1;
	/* Root keeps its set; any other uid none (setuid has cleared them,
	 * unless the uid did not change, as when only it is mapped). */
	if (rt_set_root_caps(plan->uid == 0 ? plan->caps : 0, err) < 0)
		return -1;
	if (plan->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return vce_error_make(err, errno, "set no_new_privs");
	/* No fd of vce's may reach the command (CVE-2024-21626). */
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return vce_error_make(err, errno, "close_range");
	return exec_in_path(plan, exit_code, err);
}

static int status_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int rt_init_main(const rt_plan *plan, int sync_fd, int slave)
{
	sigset_t set;
	pid_t child;

	rt_forwarded_signal_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	child = fork();
	if (child < 0) {
		cleanup_err vce_err err = NULL;
		vce_error_make(&err, errno, "fork the command");
		rt_child_fail(sync_fd, 125, &err);
	}
	if (child == 0) {
		cleanup_err vce_err err = NULL;
		int code;
		rt_exec_command(plan, slave, &code, &err);
		rt_child_fail(sync_fd, code, &err);
	}
	close(sync_fd);
	if (slave >= 0)
		close(slave);
	for (;;) {
		siginfo_t info;
		int sig = sigwaitinfo(&set, &info);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		for (;;) {
			int status;
			pid_t pid = waitpid(-1, &status, WNOHANG);
			if (pid <= 0)
				break;
			if (pid == child)
				return status_code(status);
		}
	}
}
