/* Processes named by pid and start time: a pid alone may have been reused
 * by the time it is read back from a state file (a kill -9, a reboot). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#include "banned.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

unsigned long long vce_process_start(pid_t pid)
{
	char path[64], buf[1024];
	cleanup_close int fd = -1;
	ssize_t n;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields count
	 * from the last ')'. starttime is field 22, the 20th after it. */
	p = strrchr(buf, ')');
	/* A zombie has ended: it only waits for its parent to notice. */
	if (p == NULL || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0;
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

void vce_boot_id(char *out, size_t len)
{
	cleanup_close int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, out, len - 1) : -1;

	if (n < 0)
		n = 0;
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

bool vce_process_alive(pid_t pid, unsigned long long start)
{
	return pid > 0 && start != 0 && vce_process_start(pid) == start;
}

int vce_pidfd_open(pid_t pid, unsigned long long start)
{
	int fd;

	if (pid <= 0)
		return -1;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return -1;
	/* Checked after opening: from here on the fd names that process. */
	if (vce_process_start(pid) != start) {
		close(fd);
		errno = ESRCH;
		return -1;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

int vce_pidfd_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

void vce_now_rfc3339(char *out, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

/* Whether a mapping of /proc/self/smaps holds only a file's pages that
 * were never written to (code, read-only data; not the relocated copies):
 * those can be read in again when needed. */
static bool clean_file_pages(const char *perms, bool file, unsigned long anon_kb)
{
	return file && anon_kb == 0 && perms[1] != 'w' && perms[0] == 'r';
}

void vce_shed_clean_pages(void)
{
	/* All found first, then all shed with nothing in between: reading
	 * smaps with stdio would fault libc's code back in (the kernel maps
	 * 64 KiB around each fault) as fast as it goes. */
	struct {
		unsigned long start, end;
	} shed[64];
	size_t n = 0;
	cleanup_fclose FILE *f = fopen("/proc/self/smaps", "re");
	char line[512], perms[8] = "", p[8];
	unsigned long start = 0, end = 0, inode = 0, kb, s, e, i;
	bool have = false;

	while (f && fgets(line, sizeof(line), f) && n < sizeof(shed) / sizeof(shed[0])) {
		/* A field line ("AnonHugePages:") may start like hex: only a
		 * whole header counts. */
		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &s, &e, p, &i) == 4) {
			start = s, end = e, inode = i;
			memcpy(perms, p, sizeof(perms));
			have = true;
			continue;
		}
		if (have && sscanf(line, "Anonymous: %lu kB", &kb) == 1) {
			if (clean_file_pages(perms, inode != 0, kb))
				shed[n].start = start, shed[n++].end = end;
			have = false;
		}
	}
	/* What malloc holds free goes too. */
	malloc_trim(0);
	for (size_t k = 0; k < n; k++) {
		/* Page by page from now on where the kernel honours it. */
		madvise((void *)shed[k].start, shed[k].end - shed[k].start, MADV_RANDOM);
		madvise((void *)shed[k].start, shed[k].end - shed[k].start, MADV_DONTNEED);
	}
}

void vce_send_fd(int sock, char tag, int fd)
{
	char buf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &tag, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof(buf)
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	sendmsg(sock, &msg, MSG_NOSIGNAL);
}
