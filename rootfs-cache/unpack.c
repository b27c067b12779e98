/* The writer: one layer's tar, read by libarchive, written below the
 * layer's root directory fd in overlay format.
 *
 * Safety rests on three rules. Every name is checked (no "..", nothing
 * absolute). Every write is relative to a directory fd reached from the
 * root by an O_NOFOLLOW walk, so a symlink the archive created is never
 * followed, whatever later entries try. Modes and times of directories
 * are applied last, deepest first, through O_PATH|O_NOFOLLOW fds, so a
 * read-only directory can still be filled and a directory replaced by a
 * symlink cannot redirect a chmod. */
#define _GNU_SOURCE
#include "cache.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../common/banned.h"

#define WHITEOUT_PREFIX	    ".wh."
#define OPAQUE_MARKER	    ".wh..wh..opq"
#define DEFAULT_MAX_ENTRIES 500000

struct dir_fixup {
	char *path;
	mode_t mode;
	struct timespec mtime;
	int depth;
};

struct unpacker {
	int root_fd;
	const cache_unpack_opts *opts;
	struct archive *a;
	char *cur_dir; /* the directory cur_fd is open on, or NULL */
	int cur_fd;
	struct dir_fixup *dirs;
	size_t n_dirs, cap_dirs;
	int64_t bytes, entries, max_entries;
	uint64_t space_left; /* bytes the filesystem had free at the start */
	bool warned_owner, warned_xattr, warned_device;
};

/* An entry's name as a relative path: "./" and "/" runs folded, "."
 * dropped; NULL for an absolute name or one with "..". "" is the root. */
static char *clean_name(const char *name)
{
	size_t len = 0;
	char *out;

	if (name == NULL || name[0] == '/')
		return NULL;
	out = xmalloc(strlen(name) + 1);
	for (const char *p = name; *p;) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			free(out);
			return NULL;
		}
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (len)
				out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p = *end ? end + 1 : end;
	}
	out[len] = '\0';
	return out;
}

static void forget_cur_dir(struct unpacker *u)
{
	free(u->cur_dir);
	u->cur_dir = NULL;
	vce_closep(&u->cur_fd);
	u->cur_fd = -1;
}

/* Opens dir (relative to the root) with O_PATH, component by component
 * with O_NOFOLLOW. Missing components are made (0755, as tar and docker
 * do for parents an archive leaves out) when `create`. */
static int walk_dir(struct unpacker *u, const char *dir, bool create, vce_err *err)
{
	cleanup_free char *copy = xstrdup(dir);
	char *save = NULL;
	int fd = openat(u->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);

	for (char *c = strtok_r(copy, "/", &save); fd >= 0 && c; c = strtok_r(NULL, "/", &save)) {
		int next = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST) {
				int saved = errno;
				close(fd);
				return vce_error_make(err, saved, "create directory %s", dir);
			}
			next = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		int saved = errno;
		close(fd);
		fd = next;
		errno = saved;
	}
	if (fd < 0) {
		if (errno == ENOTDIR || errno == ELOOP)
			return vce_error_make(
			    err, 0,
			    "%s is not a directory in the layer (a symlink the archive made is never followed)",
			    dir);
		return vce_error_make(err, errno, "open directory %s", dir);
	}
	return fd;
}

/* The directory an entry goes in; the last one is kept open, since an
 * archive lists a directory's entries together. */
static int parent_fd(struct unpacker *u, const char *dir, vce_err *err)
{
	int fd;

	if (u->cur_dir && strcmp(u->cur_dir, dir) == 0)
		return u->cur_fd;
	fd = walk_dir(u, dir, true, err);
	if (fd < 0)
		return -1;
	forget_cur_dir(u);
	u->cur_dir = xstrdup(dir);
	u->cur_fd = fd;
	return fd;
}

/* Clears `name` (base in dfd) for a new entry. A directory stays when a
 * directory comes again (returns 1); anything else is removed, as tar
 * replaces. */
static int make_room(struct unpacker *u, int dfd, const char *base, const char *name, bool want_dir,
		     vce_err *err)
{
	size_t len = strlen(name);
	struct stat st;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : vce_error_make(err, errno, "stat %s", name);
	if (S_ISDIR(st.st_mode)) {
		if (want_dir)
			return 1;
		/* The directory kept open may be the one going away or below
		 * it (never dfd, its parent). */
		if (u->cur_dir && strncmp(u->cur_dir, name, len) == 0 &&
		    (u->cur_dir[len] == '\0' || u->cur_dir[len] == '/'))
			forget_cur_dir(u);
		return vce_remove_tree_at(dfd, base, err);
	}
	if (unlinkat(dfd, base, 0) < 0)
		return vce_error_make(err, errno, "replace %s", name);
	return 0;
}

static bool is_overlay_xattr(const char *name)
{
	return strncmp(name, "trusted.overlay.", 16) == 0 ||
	       strncmp(name, "user.overlay.", 13) == 0;
}

/* xattrs from the archive, on an fd. Overlay's own are never taken from
 * an image: they would steer the overlay mount. */
static int set_xattrs(struct unpacker *u, struct archive_entry *e, int fd, const char *name,
		      vce_err *err)
{
	const char *key;
	const void *value;
	size_t size;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
		if (is_overlay_xattr(key))
			continue;
		if (fsetxattr(fd, key, value, size, 0) == 0)
			continue;
		/* trusted.* rootless, security.* without privilege, or a
		 * filesystem without xattrs: as docker does, go on. */
		if (errno == EPERM || errno == ENOTSUP || errno == EACCES) {
			if (!u->warned_xattr)
				vce_verbose("%s: xattr %s not kept (%s); further ones not reported",
					    name, key, strerror(errno));
			u->warned_xattr = true;
			continue;
		}
		return vce_error_make(err, errno, "set xattr %s on %s", key, name);
	}
	return 0;
}

static int set_owner(struct unpacker *u, int fd, const char *base, int flags,
		     struct archive_entry *e, const char *name, vce_err *err)
{
	if (!u->opts->keep_owners)
		return 0;
	if (fchownat(fd, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e), flags) ==
	    0)
		return 0;
	/* An id beyond the mapped range in a user namespace. */
	if (errno == EINVAL) {
		if (!u->warned_owner)
			vce_verbose(
			    "%s: owner %lld:%lld is outside the mapped ids; kept as the user", name,
			    (long long)archive_entry_uid(e), (long long)archive_entry_gid(e));
		u->warned_owner = true;
		return 0;
	}
	return vce_error_make(err, errno, "chown %s", name);
}

static struct timespec entry_mtime(struct archive_entry *e)
{
	return (struct timespec){ .tv_sec = archive_entry_mtime(e),
				  .tv_nsec = archive_entry_mtime_nsec(e) };
}

static int write_data(struct unpacker *u, int fd, const char *name, vce_err *err)
{
	const void *block;
	size_t size;
	la_int64_t offset;
	int r;

	while ((r = archive_read_data_block(u->a, &block, &size, &offset)) == ARCHIVE_OK) {
		const char *p = block;
		/* Sparse files arrive as blocks at offsets: the holes stay holes. */
		while (size > 0) {
			ssize_t n = pwrite(fd, p, size, offset);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return vce_error_make(err, errno, "write %s", name);
			p += n;
			offset += n;
			size -= (size_t)n;
		}
	}
	if (r != ARCHIVE_EOF)
		return vce_error_make(err, 0, "%s: %s", name, archive_error_string(u->a));
	return 0;
}

static int check_space(struct unpacker *u, int64_t size, const char *name, vce_err *err)
{
	if (size < 0 || (uint64_t)(u->bytes + size) > u->space_left)
		return vce_error_make(err, ENOSPC,
				      "%s would take the layer past the %llu MB free on the disk",
				      name, (unsigned long long)(u->space_left >> 20));
	return 0;
}

static int write_regular(struct unpacker *u, int dfd, const char *base, struct archive_entry *e,
			 const char *name, vce_err *err)
{
	cleanup_close int fd = -1;
	int64_t size = archive_entry_size(e);
	struct timespec times[2];

	if (check_space(u, size, name, err) < 0 || make_room(u, dfd, base, name, false, err) < 0)
		return -1;
	fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return vce_error_make(err, errno, "create %s", name);
	if (write_data(u, fd, name, err) < 0)
		return -1;
	/* A sparse file may end in a hole. */
	if (archive_entry_sparse_count(e) > 0 && ftruncate(fd, size) < 0)
		return vce_error_make(err, errno, "size %s", name);
	if (set_owner(u, fd, "", AT_EMPTY_PATH, e, name, err) < 0 ||
	    set_xattrs(u, e, fd, name, err) < 0)
		return -1;
	/* After chown, which clears setuid and setgid. */
	if (fchmod(fd, archive_entry_perm(e)) < 0)
		return vce_error_make(err, errno, "chmod %s", name);
	times[0] = times[1] = entry_mtime(e);
	if (futimens(fd, times) < 0)
		return vce_error_make(err, errno, "set times of %s", name);
	u->bytes += size;
	return 0;
}

static void add_fixup(struct unpacker *u, const char *path, mode_t mode, struct timespec mtime)
{
	int depth = 0;

	for (const char *p = path; *p; p++)
		depth += *p == '/';
	if (u->n_dirs == u->cap_dirs) {
		u->cap_dirs = u->cap_dirs ? 2 * u->cap_dirs : 256;
		u->dirs = xrealloc(u->dirs, u->cap_dirs * sizeof(*u->dirs));
	}
	u->dirs[u->n_dirs++] =
	    (struct dir_fixup){ xstrdup(path), mode, mtime, *path ? depth + 1 : 0 };
}

static int write_dir(struct unpacker *u, int dfd, const char *base, struct archive_entry *e,
		     const char *name, vce_err *err)
{
	cleanup_close int fd = -1;
	int exists = *base ? make_room(u, dfd, base, name, true, err) : 1;

	if (exists < 0)
		return -1;
	/* 0700 until the end, so that it can be filled whatever its mode. */
	if (!exists && mkdirat(dfd, base, 0700) < 0)
		return vce_error_make(err, errno, "create directory %s", name);
	fd = openat(dfd, *base ? base : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return vce_error_make(err, errno, "open directory %s", name);
	if (set_owner(u, fd, "", AT_EMPTY_PATH, e, name, err) < 0 ||
	    set_xattrs(u, e, fd, name, err) < 0)
		return -1;
	add_fixup(u, name, archive_entry_perm(e), entry_mtime(e));
	return 0;
}

static int write_symlink(struct unpacker *u, int dfd, const char *base, struct archive_entry *e,
			 const char *name, vce_err *err)
{
	const char *target = archive_entry_symlink(e);
	struct timespec times[2];

	if (target == NULL || *target == '\0')
		return vce_error_make(err, 0, "symlink %s has no target", name);
	if (make_room(u, dfd, base, name, false, err) < 0)
		return -1;
	if (symlinkat(target, dfd, base) < 0)
		return vce_error_make(err, errno, "create symlink %s", name);
	if (set_owner(u, dfd, base, AT_SYMLINK_NOFOLLOW, e, name, err) < 0)
		return -1;
	times[0] = times[1] = entry_mtime(e);
	if (utimensat(dfd, base, times, AT_SYMLINK_NOFOLLOW) < 0)
		return vce_error_make(err, errno, "set times of %s", name);
	return 0;
}

/* A node we just made at dfd/base in our private directory: nothing else
 * can have put a symlink there, so the *at calls may follow. */
static int finish_node(struct unpacker *u, int dfd, const char *base, struct archive_entry *e,
		       const char *name, vce_err *err)
{
	struct timespec times[2];

	if (set_owner(u, dfd, base, AT_SYMLINK_NOFOLLOW, e, name, err) < 0)
		return -1;
	if (fchmodat(dfd, base, archive_entry_perm(e), 0) < 0)
		return vce_error_make(err, errno, "chmod %s", name);
	times[0] = times[1] = entry_mtime(e);
	if (utimensat(dfd, base, times, AT_SYMLINK_NOFOLLOW) < 0)
		return vce_error_make(err, errno, "set times of %s", name);
	return 0;
}

static int write_special(struct unpacker *u, int dfd, const char *base, struct archive_entry *e,
			 const char *name, vce_err *err)
{
	mode_t type = archive_entry_filetype(e);
	dev_t dev = 0;

	if (type == AE_IFCHR || type == AE_IFBLK) {
		if (u->opts->rootless) {
			if (!u->warned_device)
				vce_verbose(
				    "%s: device nodes are not made rootless; skipped (and any more)",
				    name);
			u->warned_device = true;
			return 0;
		}
		dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
	}
	if (make_room(u, dfd, base, name, false, err) < 0)
		return -1;
	if (mknodat(dfd, base,
		    (type == AE_IFIFO	? S_IFIFO
		     : type == AE_IFCHR ? S_IFCHR
					: S_IFBLK) |
			0600,
		    dev) < 0)
		return vce_error_make(err, errno, "create %s", name);
	return finish_node(u, dfd, base, e, name, err);
}

/* A hardlink to a file of a lower layer (the OCI spec allows it): the
 * layers are separate directories, so the file is copied up. */
static int copy_from_lower(struct unpacker *u, int dfd, const char *base, const char *target,
			   const char *name, vce_err *err)
{
	const int *lower = NULL;
	size_t n_lower = 0;

	if (u->opts->lower_layers &&
	    u->opts->lower_layers(u->opts->lower_ctx, &lower, &n_lower, err) < 0)
		return vce_error_wrap(err, "hardlink %s", name);
	for (size_t i = 0; i < n_lower; i++) {
		cleanup_err vce_err ignored = NULL;
		cleanup_close int src = vce_open_beneath(lower[i], target, O_RDONLY, 0, &ignored);
		cleanup_close int dst = -1;
		struct stat st;
		struct timespec times[2];

		if (src < 0)
			continue;
		if (fstat(src, &st) < 0 || !S_ISREG(st.st_mode))
			return vce_error_make(
			    err, 0, "hardlink %s: %s in a lower layer is not a file", name, target);
		if (check_space(u, st.st_size, name, err) < 0 ||
		    make_room(u, dfd, base, name, false, err) < 0)
			return -1;
		dst = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (dst < 0)
			return vce_error_make(err, errno, "create %s", name);
		for (off_t left = st.st_size; left > 0;) {
			ssize_t n = copy_file_range(src, NULL, dst, NULL, (size_t)left, 0);
			if (n <= 0)
				return vce_error_make(err, n < 0 ? errno : EIO, "copy %s to %s",
						      target, name);
			left -= n;
		}
		if (u->opts->keep_owners && fchown(dst, st.st_uid, st.st_gid) < 0 &&
		    errno != EINVAL)
			return vce_error_make(err, errno, "chown %s", name);
		times[0] = st.st_atim;
		times[1] = st.st_mtim;
		if (fchmod(dst, st.st_mode & 07777) < 0 || futimens(dst, times) < 0)
			return vce_error_make(err, errno, "set metadata of %s", name);
		u->bytes += st.st_size;
		return 0;
	}
	return vce_error_make(
	    err, 0, "hardlink %s points to %s, which is in neither this layer nor a lower one",
	    name, target);
}

static int write_hardlink(struct unpacker *u, int dfd, const char *base, const char *target_raw,
			  const char *name, vce_err *err)
{
	cleanup_free char *target = clean_name(target_raw);
	cleanup_close int tdir = -1;
	char *slash;
	const char *tbase;
	struct stat st;

	if (target == NULL || *target == '\0')
		return vce_error_make(err, 0, "hardlink %s points outside the layer (%s)", name,
				      target_raw);
	if (strcmp(target, name) == 0)
		return 0; /* a link to itself: nothing to do */
	slash = strrchr(target, '/');
	tbase = slash ? slash + 1 : target;
	if (slash)
		*slash = '\0';
	tdir = walk_dir(u, slash ? target : "", false, err);
	if (tdir < 0 || fstatat(tdir, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		vce_error_release(err);
		if (slash)
			*slash = '/';
		return copy_from_lower(u, dfd, base, target, name, err);
	}
	if (S_ISDIR(st.st_mode))
		return vce_error_make(err, 0, "hardlink %s points to a directory", name);
	if (make_room(u, dfd, base, name, false, err) < 0)
		return -1;
	if (linkat(tdir, tbase, dfd, base, 0) < 0)
		return vce_error_make(err, errno, "hardlink %s", name);
	return 0;
}

/* .wh.NAME: an overlay whiteout (char 0:0); .wh..wh..opq: the parent is
 * opaque, hiding what lower layers have in it. */
static int write_whiteout(struct unpacker *u, int dfd, const char *base, const char *name,
			  vce_err *err)
{
	const char *hidden = base + strlen(WHITEOUT_PREFIX);

	if (strcmp(base, OPAQUE_MARKER) == 0) {
		const char *key =
		    u->opts->rootless ? "user.overlay.opaque" : "trusted.overlay.opaque";
		cleanup_close int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fsetxattr(fd, key, "y", 1, 0) < 0)
			return vce_error_make(err, errno, "mark %s opaque", name);
		return 0;
	}
	if (*hidden == '\0' || strcmp(hidden, ".") == 0 || strcmp(hidden, "..") == 0)
		return vce_error_make(err, 0, "bad whiteout %s", name);
	size_t dir_len = (size_t)(base - name);
	cleanup_free char *hidden_path = xasprintf("%.*s%s", (int)dir_len, name, hidden);

	if (make_room(u, dfd, hidden, hidden_path, false, err) < 0)
		return -1;
	if (mknodat(dfd, hidden, S_IFCHR | 0, makedev(0, 0)) < 0)
		return vce_error_make(err, errno, "create whiteout for %s", name);
	return 0;
}

static int write_entry(struct unpacker *u, struct archive_entry *e, vce_err *err)
{
	const char *raw = archive_entry_pathname(e);
	cleanup_free char *name = clean_name(raw);
	char *slash;
	const char *base;
	int dfd;

	if (name == NULL)
		return vce_error_make(err, 0,
				      "entry \"%s\" is absolute or leaves the layer with \"..\"",
				      raw ? raw : "(no name)");
	if (++u->entries > u->max_entries)
		return vce_error_make(
		    err, 0,
		    "the layer has more than %lld entries (a tar bomb?); set VCE_MAX_LAYER_ENTRIES to allow more",
		    (long long)u->max_entries);
	slash = strrchr(name, '/');
	base = slash ? slash + 1 : name;
	if (slash)
		*slash = '\0';
	dfd = parent_fd(u, slash ? name : "", err);
	if (slash)
		*slash = '/';
	if (dfd < 0)
		return vce_error_wrap(err, "entry %s", name);
	if (strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
		return write_whiteout(u, dfd, base, name, err);
	if (archive_entry_hardlink(e))
		return write_hardlink(u, dfd, base, archive_entry_hardlink(e), name, err);
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		return write_regular(u, dfd, base, e, name, err);
	case AE_IFDIR:
		return write_dir(u, dfd, base, e, name, err);
	case AE_IFLNK:
		return write_symlink(u, dfd, base, e, name, err);
	case AE_IFIFO:
	case AE_IFCHR:
	case AE_IFBLK:
		return write_special(u, dfd, base, e, name, err);
	default:
		return vce_error_make(err, 0, "entry %s has an unknown type", name);
	}
}

static int by_depth_desc(const void *a, const void *b)
{
	const struct dir_fixup *x = a, *y = b;

	return y->depth - x->depth;
}

/* Modes and times of directories, deepest first, each reached without
 * following symlinks: a directory since replaced by a symlink is skipped. */
static int apply_fixups(struct unpacker *u, vce_err *err)
{
	qsort(u->dirs, u->n_dirs, sizeof(*u->dirs), by_depth_desc);
	for (size_t i = 0; i < u->n_dirs; i++) {
		struct dir_fixup *d = &u->dirs[i];
		cleanup_close int fd = -1;
		char proc[64];
		struct timespec times[2] = { d->mtime, d->mtime };

		if (*d->path) {
			cleanup_err vce_err ignored = NULL;
			fd = vce_open_beneath(u->root_fd, d->path, O_PATH | O_DIRECTORY, 0,
					      &ignored);
			if (fd < 0)
				continue;
		} else {
			fd = openat(u->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		}
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (chmod(proc, d->mode) < 0 || utimensat(AT_FDCWD, proc, times, 0) < 0)
			return vce_error_make(err, errno, "set mode of directory %s", d->path);
	}
	return 0;
}

static void free_unpacker(struct unpacker *u)
{
	forget_cur_dir(u);
	for (size_t i = 0; i < u->n_dirs; i++)
		free(u->dirs[i].path);
	free(u->dirs);
}

struct read_ctx {
	cache_read_fn read;
	void *ctx;
	vce_err err;
};

static la_ssize_t archive_reader(struct archive *a, void *client, const void **buf)
{
	struct read_ctx *rc = client;
	ssize_t n = rc->read(rc->ctx, buf, &rc->err);

	if (n < 0)
		archive_set_error(a, EIO, "%s", rc->err ? rc->err->msg : "read error");
	return n;
}

static int64_t max_entries(void)
{
	const char *env = getenv("VCE_MAX_LAYER_ENTRIES");
	char *end;
	long long v = env ? strtoll(env, &end, 10) : 0;

	return env && *end == '\0' && v > 0 ? v : DEFAULT_MAX_ENTRIES;
}

int cache_unpack_tar(int root_fd, cache_read_fn read, void *ctx, const cache_unpack_opts *opts,
		     int64_t *bytes_out, int64_t *entries_out, vce_err *err)
{
	struct unpacker u = {
		.root_fd = root_fd, .opts = opts, .cur_fd = -1, .max_entries = max_entries()
	};
	struct read_ctx rc = { read, ctx, NULL };
	struct archive_entry *e;
	struct statvfs sv;
	int ret = 0, r;

	u.space_left =
	    fstatvfs(root_fd, &sv) == 0 ? (uint64_t)sv.f_bavail * sv.f_frsize : UINT64_MAX;
	u.a = archive_read_new();
	archive_read_support_format_tar(u.a);
	if (archive_read_open(u.a, &rc, NULL, archive_reader, NULL) != ARCHIVE_OK) {
		ret = vce_error_make(err, 0, "not a tar archive: %s", archive_error_string(u.a));
		goto out;
	}
	while ((r = archive_read_next_header(u.a, &e)) != ARCHIVE_EOF) {
		/* A warning (a name in another charset, say) is not fatal: the
		 * diffID check covers the layer's bytes whatever happens here. */
		if (r < ARCHIVE_WARN || (r == ARCHIVE_WARN && archive_entry_pathname(e) == NULL)) {
			ret = rc.err
				  ? (vce_error_make(err, rc.err->status, "%s", rc.err->msg))
				  : vce_error_make(err, 0, "the layer is truncated or damaged (%s)",
						   archive_error_string(u.a));
			goto out;
		}
		if (write_entry(&u, e, err) < 0) {
			ret = rc.err ? vce_error_make(err, rc.err->status, "%s", rc.err->msg) : -1;
			goto out;
		}
	}
	ret = apply_fixups(&u, err);
	*bytes_out = u.bytes;
	*entries_out = u.entries;
out:
	vce_error_release(&rc.err);
	archive_read_free(u.a);
	free_unpacker(&u);
	return ret;
}
