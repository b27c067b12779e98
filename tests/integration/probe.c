/* A static probe the run tests mount into containers: each subcommand
 * tries one thing a contained process must not be able to do, and prints
 * "denied <errno name>" (exit 0) or "ALLOWED" (exit 1).
 *
 *   probe mount | unshare-user | keyctl | add-key | init-module | ptrace-1
 *         | write-proc-sys | read-kcore | exe-write | exe-reopen | clone-newns
 *   probe fds      lists the fds above 2 and where they lead (exit 0)
 *   probe zombies  makes 20 zombie grandchildren for init to reap */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int verdict(long ret)
{
	if (ret < 0) {
		printf("denied %s\n", strerrorname_np(errno));
		return 0;
	}
	printf("ALLOWED\n");
	return 1;
}

static int list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		char path[300], target[4096];
		ssize_t n;
		if (de->d_name[0] == '.' || atoi(de->d_name) <= 2 || atoi(de->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		printf("fd %s -> %s\n", de->d_name, target);
	}
	return 0;
}

static int zombies(void)
{
	/* The children exit at once; their parent (this process's child)
	 * exits without waiting, so they are reparented to pid 1. */
	if (fork() == 0) {
		for (int i = 0; i < 20; i++)
			if (fork() == 0)
				_exit(0);
		_exit(0);
	}
	wait(NULL);
	sleep(1);
	return 0;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";

	if (!strcmp(what, "mount"))
		return verdict(mount("none", "/tmp", "tmpfs", 0, NULL));
	if (!strcmp(what, "unshare-user"))
		return verdict(unshare(CLONE_NEWUSER));
	if (!strcmp(what, "clone-newns"))
		return verdict(unshare(CLONE_NEWNS));
	if (!strcmp(what, "keyctl"))
		return verdict(syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "probe"));
	if (!strcmp(what, "add-key"))
		return verdict(syscall(SYS_add_key, "user", "probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
	if (!strcmp(what, "init-module"))
		return verdict(syscall(SYS_finit_module, 0, "", 0));
	if (!strcmp(what, "ptrace-1"))
		return verdict(ptrace(PTRACE_ATTACH, 1, 0, 0));
	if (!strcmp(what, "write-proc-sys")) {
		int fd = open("/proc/sys/kernel/hostname", O_WRONLY);
		return verdict(fd < 0 ? -1 : write(fd, "x\n", 2));
	}
	if (!strcmp(what, "read-kcore")) {
		char buf[16];
		int fd = open("/proc/kcore", O_RDONLY);
		long n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
		if (n == 0) /* the masked file: /dev/null reads empty */
			errno = ENODATA, n = -1;
		return verdict(n);
	}
	if (!strcmp(what, "exe-write"))
		return verdict(open("/proc/1/exe", O_WRONLY));
	if (!strcmp(what, "exe-reopen")) {
		char path[64];
		int fd = open("/proc/1/exe", O_PATH);
		if (fd < 0)
			return verdict(-1);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		return verdict(open(path, O_WRONLY));
	}
	if (!strcmp(what, "fds"))
		return list_fds();
	if (!strcmp(what, "zombies"))
		return zombies();
	fprintf(stderr, "probe: unknown test %s\n", what);
	return 2;
}
