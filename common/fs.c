#define _GNU_SOURCE
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

static int openat2_state = -1; /* -1 unknown, 0 missing, 1 present */

bool vce_have_openat2(void)
{
	if (openat2_state < 0) {
		const char *off = getenv("VCE_NO_OPENAT2");
		if (off && *off && strcmp(off, "0") != 0) {
			openat2_state = 0;
		} else {
			struct open_how how = { .flags = O_PATH | O_CLOEXEC };
			int fd = (int)syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how));
			openat2_state = fd >= 0;
			if (fd >= 0)
				close(fd);
		}
	}
	return openat2_state == 1;
}

void vce_use_openat2(bool use)
{
	openat2_state = use ? -1 : 0;
}

/* The fallback for kernels before 5.6: every component opened with
 * O_NOFOLLOW relative to its parent, so neither "..", a symlink nor an
 * absolute name can take the walk outside dirfd. */
static int open_beneath_walk(int dirfd, const char *path, int flags, mode_t mode)
{
	cleanup_free char *copy = xstrdup(path);
	cleanup_close int cur = -1;
	char *save = NULL;
	char *comp = strtok_r(copy, "/", &save);
	int parent = dirfd;

	if (path[0] == '/') {
		errno = EXDEV;
		return -1;
	}
	while (comp) {
		char *next = strtok_r(NULL, "/", &save);
		int fd;

		if (strcmp(comp, "..") == 0) {
			errno = EXDEV;
			return -1;
		}
		if (next == NULL) {
			fd = openat(parent, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
			/* O_NOFOLLOW on the last component gives ELOOP for a
			 * symlink; a symlink opened with O_PATH is refused here
			 * so both branches agree. */
			if (fd >= 0 && (flags & O_PATH)) {
				struct stat st;
				if (fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
					close(fd);
					errno = ELOOP;
					return -1;
				}
			}
			return fd;
		}
		if (strcmp(comp, ".") != 0) {
			fd = openat(parent, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				return -1;
			if (cur >= 0)
				close(cur);
			cur = fd;
			parent = cur;
		}
		comp = next;
	}
	/* "" or only "." components: the directory itself. */
	return openat(parent, ".", flags | O_CLOEXEC, mode);
}

int vce_open_beneath(int dirfd, const char *path, int flags, mode_t mode, vce_err *err)
{
	int fd;

	if (vce_have_openat2()) {
		struct open_how how = {
			.flags = (uint64_t)(flags | O_CLOEXEC),
			.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		do
			fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		while (fd < 0 && errno == EAGAIN);
	} else {
		fd = open_beneath_walk(dirfd, path, flags, mode);
	}
	if (fd < 0) {
		if (errno == EXDEV || errno == ELOOP)
			return vce_error_make(
			    err, 0, "%s: path leaves its directory or is a symlink", path);
		return vce_error_make(err, errno, "%s", path);
	}
	return fd;
}

int vce_write_all(int fd, const void *buf, size_t len, vce_err *err)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return vce_error_make(err, errno, "write");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void vce_random_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[32];
	size_t i;

	if (nbytes > sizeof(raw))
		nbytes = sizeof(raw);
	if (getentropy(raw, nbytes) < 0) {
		/* getentropy only fails on a kernel without getrandom; a
		 * collision here costs an EEXIST retry, not safety. */
		uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
		for (i = 0; i < nbytes; i++, x = x * 6364136223846793005ULL + 1)
			raw[i] = (unsigned char)(x >> 56);
	}
	for (i = 0; i < nbytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

static int write_file_replacing(int dirfd, const char *name, const void *data, size_t len,
				mode_t mode, bool durable, vce_err *err);

int vce_write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			     vce_err *err)
{
	return write_file_replacing(dirfd, name, data, len, mode, true, err);
}

int vce_replace_file_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			vce_err *err)
{
	return write_file_replacing(dirfd, name, data, len, mode, false, err);
}

static int write_file_replacing(int dirfd, const char *name, const void *data, size_t len,
				mode_t mode, bool durable, vce_err *err)
{
	char suffix[17];
	cleanup_free char *tmp = NULL;
	cleanup_close int fd = -1;

	vce_random_hex(suffix, 8);
	tmp = xasprintf(".tmp-%s-%s", name, suffix);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return vce_error_make(err, errno, "create %s", tmp);
	if (vce_write_all(fd, data, len, err) < 0 ||
	    (durable && fsync(fd) < 0 && vce_error_make(err, errno, "fsync") < 0)) {
		unlinkat(dirfd, tmp, 0);
		return vce_error_wrap(err, "write %s", name);
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		int saved = errno;
		unlinkat(dirfd, tmp, 0);
		return vce_error_make(err, saved, "rename %s", name);
	}
	return 0;
}

static int read_whole_fd(int fd, const char *path, size_t max, char **out, size_t *len,
			 vce_err *err);

int vce_read_file_at(int dirfd, const char *path, size_t max, char **out, size_t *len, vce_err *err)
{
	cleanup_close int fd = vce_open_beneath(dirfd, path, O_RDONLY, 0, err);

	if (fd < 0)
		return -1;
	return read_whole_fd(fd, path, max, out, len, err);
}

int vce_read_host_file(const char *path, size_t max, char **out, size_t *len, vce_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return vce_error_make(err, errno, "open %s", path);
	return read_whole_fd(fd, path, max, out, len, err);
}

static int read_whole_fd(int fd, const char *path, size_t max, char **out, size_t *len,
			 vce_err *err)
{
	cleanup_free char *buf = NULL;
	struct stat st;
	size_t cap, used = 0;

	if (fstat(fd, &st) < 0)
		return vce_error_make(err, errno, "stat %s", path);
	if (!S_ISREG(st.st_mode))
		return vce_error_make(err, 0, "%s is not a regular file", path);
	if ((uint64_t)st.st_size > max)
		return vce_error_make(err, EFBIG, "%s is larger than %zu bytes", path, max);
	cap = (size_t)st.st_size + 1;
	buf = xmalloc(cap);
	for (;;) {
		ssize_t n;
		if (used + 1 >= cap) {
			if (cap > max + 1)
				return vce_error_make(err, EFBIG, "%s is too large", path);
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + used, cap - used - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vce_error_make(err, errno, "read %s", path);
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	if (len)
		*len = used;
	*out = buf;
	buf = NULL;
	return 0;
}

int vce_mkdirs_at(int dirfd, const char *path, mode_t mode, vce_err *err)
{
	return vce_mkdirs_owned_at(dirfd, path, mode, (uid_t)-1, (gid_t)-1, err);
}

int vce_mkdirs_owned_at(int dirfd, const char *path, mode_t mode, uid_t uid, gid_t gid,
			vce_err *err)
{
	cleanup_free char *copy = xstrdup(path);
	cleanup_close int cur = -1;
	char *save = NULL;
	int parent = dirfd;

	if (path[0] == '/') {
		/* An absolute path starts at the root, whatever dirfd is. */
		cur = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cur < 0)
			return vce_error_make(err, errno, "open /");
		parent = cur;
	}
	for (char *comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		bool made;
		int fd;
		if (strcmp(comp, "..") == 0)
			return vce_error_make(err, 0, "%s: \"..\" is not allowed here", path);
		made = mkdirat(parent, comp, mode) == 0;
		if (!made && errno != EEXIST)
			return vce_error_make(err, errno, "create directory %s", path);
		fd = openat(parent, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return vce_error_make(err, errno, "open directory %s", path);
		if (made && uid != (uid_t)-1 && fchown(fd, uid, gid) < 0) {
			close(fd);
			return vce_error_make(err, errno, "give directory %s to uid %lu", path,
					      (unsigned long)uid);
		}
		if (cur >= 0)
			close(cur);
		cur = parent = fd;
	}
	if (cur < 0) {
		cur = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cur < 0)
			return vce_error_make(err, errno, "open directory %s", path);
	}
	int ret = cur;
	cur = -1;
	return ret;
}

DIR *vce_opendir_at(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;

	if (dir == NULL && fd >= 0)
		close(fd);
	return dir;
}

static int remove_children(int dfd, vce_err *err)
{
	DIR *dir = fdopendir(dfd);
	struct dirent *de;
	int ret = 0;

	if (dir == NULL) {
		close(dfd);
		return vce_error_make(err, errno, "opendir");
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (vce_remove_tree_at(dirfd(dir), de->d_name, err) < 0) {
			ret = -1;
			break;
		}
	}
	closedir(dir);
	return ret;
}

int vce_remove_tree_at(int dirfd, const char *name, vce_err *err)
{
	int dfd;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return vce_error_make(err, errno, "remove %s", name);
	dfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ENOENT)
			return 0;
		return vce_error_make(err, errno, "open %s", name);
	}
	/* A directory without write or execute permission (images have
	 * them) cannot be emptied until it is made writable. */
	fchmod(dfd, 0700);
	if (remove_children(dfd, err) < 0)
		return vce_error_wrap(err, "remove %s", name);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return vce_error_make(err, errno, "remove directory %s", name);
	return 0;
}

void vce_format_size(uint64_t bytes, char *out, size_t outlen)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1000.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1000.0;
		u++;
	}
	if (u == 0)
		snprintf(out, outlen, "%" PRIu64 "B", bytes);
	else
		snprintf(out, outlen, "%.3g%s", v, units[u]);
}

void vce_format_age(const char *rfc3339, char *out, size_t outlen)
{
	struct tm tm = { 0 };
	const char *rest = rfc3339 ? strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	time_t then, now = time(NULL);
	double secs;

	if (rest == NULL) {
		snprintf(out, outlen, "%s", rfc3339 && *rfc3339 ? rfc3339 : "unknown");
		return;
	}
	then = timegm(&tm);
	secs = difftime(now, then);
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		snprintf(out, outlen, "Less than a minute ago");
	else if (secs < 3600)
		snprintf(out, outlen, "%d minutes ago", (int)(secs / 60));
	else if (secs < 172800)
		snprintf(out, outlen, "%d hours ago", (int)(secs / 3600));
	else if (secs < 86400.0 * 14)
		snprintf(out, outlen, "%d days ago", (int)(secs / 86400));
	else if (secs < 86400.0 * 60)
		snprintf(out, outlen, "%d weeks ago", (int)(secs / (86400 * 7)));
	else if (secs < 86400.0 * 730)
		snprintf(out, outlen, "%d months ago", (int)(secs / (86400 * 30)));
	else
		snprintf(out, outlen, "%d years ago", (int)(secs / (86400 * 365)));
}
