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
	/* The directory of the last entry, open component by component, so
	 * that the next entry's directory opens only what differs. It holds
	 * only ancestors of the entry being written, and an entry can only
	 * replace its own parent's children: nothing here is ever removed. */
	char **level_name;
	int *level_fd;
	size_t depth, cap_depth;
	char *cur_dir;
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

static void pop_levels(struct unpacker *u, size_t keep)
{
	while (u->depth > keep) {
		u->depth--;
		free(u->level_name[u->depth]);
		close(u->level_fd[u->depth]);
	}
}

static int open_component(int parent, const char *c, bool create)
{
	int fd = openat(parent, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	/* A parent the archive left out: made as tar and docker make it. */
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(parent, c, 0755) < 0 && errno != EEXIST)
			return -1;
		fd = openat(parent, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd;
}

static int dir_error(const char *dir, vce_err *err)
{
	if (errno == ENOTDIR || errno == ELOOP)
		return vce_error_make(
		    err, 0,
		    "%s is not a directory in the layer (a symlink the archive made is never followed)",
		    dir);
	return vce_error_make(err, errno, "open directory %s", dir);
}

/* Opens dir (relative to the root) with O_PATH, component by component
 * with O_NOFOLLOW, apart from the cached levels: the hardlink lookup. */
static int walk_dir(struct unpacker *u, const char *dir, vce_err *err)
{
	cleanup_free char *copy = xstrdup(dir);
	char *save = NULL;
	int fd = openat(u->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);

	for (char *c = strtok_r(copy, "/", &save); fd >= 0 && c; c = strtok_r(NULL, "/", &save)) {
		int next = open_component(fd, c, false);
		int saved = errno;
		close(fd);
		fd = next;
		errno = saved;
	}
	return fd >= 0 ? fd : dir_error(dir, err);
}

/* The directory an entry goes in, through the stack of open levels. */
static int parent_fd(struct unpacker *u, const char *dir, vce_err *err)
{
	cleanup_free char *copy = NULL;
	char *save = NULL;
	size_t level = 0;

	if (u->cur_dir && strcmp(u->cur_dir, dir) == 0)
		return u->depth ? u->level_fd[u->depth - 1] : u->root_fd;
	copy = xstrdup(dir);
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save), level++) {
		if (level < u->depth && strcmp(u->level_name[level], c) == 0)
			continue;
		pop_levels(u, level);
		int fd = open_component(level ? u->level_fd[level - 1] : u->root_fd, c, true);
		if (fd < 0) {
			free(u->cur_dir);
			u->cur_dir = NULL;
			return dir_error(dir, err);
		}
		if (u->depth == u->cap_depth) {
			u->cap_depth = u->cap_depth ? 2 * u->cap_depth : 16;
			u->level_name = xrealloc(u->level_name, u->cap_depth * sizeof(char *));
			u->level_fd = xrealloc(u->level_fd, u->cap_depth * sizeof(int));
		}
		u->level_name[u->depth] = xstrdup(c);
		u->level_fd[u->depth++] = fd;
	}
	pop_levels(u, level);
	free(u->cur_dir);
	u->cur_dir = xstrdup(dir);
	return u->depth ? u->level_fd[u->depth - 1] : u->root_fd;
}

/* Clears `name` (base in dfd), which already exists, for a new entry.
 * A directory stays when a directory comes again (returns 1); anything
 * else is removed, as tar replaces. */
static int make_room(int dfd, const char *base, const char *name, bool want_dir, vce_err *err)
{
	struct stat st;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : vce_error_make(err, errno, "stat %s", name);
	if (S_ISDIR(st.st_mode)) {
		if (want_dir)
			return 1;
		return vce_remove_tree_at(dfd, base, err);
	}
	if (unlinkat(dfd, base, 0) < 0)
		return vce_error_make(err, errno, "replace %s", name);
	return 0;
}

/* The create calls below try first and clear the name only when it is
 * taken (EEXIST): most names are new, so most entries cost no stat. */

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

/* An id of the image as the host id the translation gives it; one it
 * leaves out becomes the overflow id, as in a user namespace. */
static unsigned long translate(const vce_idrange_line *r, size_t n, unsigned long id)
{
	for (size_t i = 0; i < n; i++)
		if (id >= r[i].inside && id - r[i].inside < r[i].count)
			return r[i].outside + (id - r[i].inside);
	return 65534;
}

static int set_owner(struct unpacker *u, int fd, const char *base, int flags,
		     struct archive_entry *e, const char *name, vce_err *err)
{
	uid_t uid = (uid_t)archive_entry_uid(e);
	gid_t gid = (gid_t)archive_entry_gid(e);
	const vce_idmap *map = u->opts->translate;

	if (map) {
		uid = (uid_t)translate(map->uid, map->n_uid, uid);
		gid = (gid_t)translate(map->gid, map->n_gid, gid);
	} else if (uid == 0 && gid == 0) {
		return 0; /* we create as (namespace) root: 0:0 needs no call */
	}
	if (!u->opts->keep_owners)
		return 0;
	if (fchownat(fd, base, uid, gid, flags) == 0)
		return 0;
	/* An id beyond the mapped range in a user namespace. */
	if (errno == EINVAL) {
		if (!u->warned_owner)
			vce_verbose("%s: owner %lu:%lu is outside the mapped ids; kept as the user",
				    name, (unsigned long)uid, (unsigned long)gid);
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

static int create_file(int dfd, const char *base, mode_t mode)
{
	return openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
}

static int write_regular(struct unpacker *u, int dfd, const char *base, struct archive_entry *e,
			 const char *name, vce_err *err)
{
	cleanup_close int fd = -1;
	int64_t size = archive_entry_size(e);
	mode_t perm = archive_entry_perm(e);
	struct timespec times[2];

	if (check_space(u, size, name, err) < 0)
		return -1;
	/* Made with its permissions (the unpack runs with umask 0); the
	 * creating open may write whatever they say. */
	fd = create_file(dfd, base, perm & 0777);
	if (fd < 0 && errno == EEXIST) {
		if (make_room(dfd, base, name, false, err) < 0)
			return -1;
		fd = create_file(dfd, base, perm & 0777);
	}
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
	/* setuid, setgid, sticky: after chown, which clears the first two. */
	if ((perm & 07000) && fchmod(fd, perm) < 0)
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
	/* 0700 until the end, so that it can be filled whatever its mode. */
	if (*base && mkdirat(dfd, base, 0700) < 0) {
		int exists = errno == EEXIST ? make_room(dfd, base, name, true, err) : -1;
		if (exists < 0)
			return *err ? -1 : vce_error_make(err, errno, "create directory %s", name);
		if (!exists && mkdirat(dfd, base, 0700) < 0)
			return vce_error_make(err, errno, "create directory %s", name);
	}
	if (archive_entry_xattr_count(e) > 0) {
		cleanup_close int fd = openat(dfd, *base ? base : ".",
					      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return vce_error_make(err, errno, "open directory %s", name);
		if (set_xattrs(u, e, fd, name, err) < 0)
			return -1;
	}
	/* Just made by us in our private tree: not a symlink. */
	if (set_owner(u, dfd, *base ? base : "", *base ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH, e,
		      name, err) < 0)
		return -1;
	add_fixup(u, name, archive_entry_perm(e), entry_mtime(e));
	return 0;
}

static int write_symlink(struct unpacker *u, int dfd, const char *base, struct archive_entry *e,
			 const char *name, vce_err *err)
{
	const char *target = archive_entry_symlink(e);
	struct timespec times[2];
	int r;

	if (target == NULL || *target == '\0')
		return vce_error_make(err, 0, "symlink %s has no target", name);
	r = symlinkat(target, dfd, base);
	if (r < 0 && errno == EEXIST) {
		if (make_room(dfd, base, name, false, err) < 0)
			return -1;
		r = symlinkat(target, dfd, base);
	}
	if (r < 0)
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
	mode_t kind = type == AE_IFIFO ? S_IFIFO : type == AE_IFCHR ? S_IFCHR : S_IFBLK;
	dev_t dev = 0;
	int r;

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
	r = mknodat(dfd, base, kind | 0600, dev);
	if (r < 0 && errno == EEXIST) {
		if (make_room(dfd, base, name, false, err) < 0)
			return -1;
		r = mknodat(dfd, base, kind | 0600, dev);
	}
	if (r < 0)
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
		if (check_space(u, st.st_size, name, err) < 0)
			return -1;
		dst = create_file(dfd, base, 0600);
		if (dst < 0 && errno == EEXIST) {
			if (make_room(dfd, base, name, false, err) < 0)
				return -1;
			dst = create_file(dfd, base, 0600);
		}
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
	tdir = walk_dir(u, slash ? target : "", err);
	if (tdir < 0 || fstatat(tdir, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		vce_error_release(err);
		if (slash)
			*slash = '/';
		return copy_from_lower(u, dfd, base, target, name, err);
	}
	if (S_ISDIR(st.st_mode))
		return vce_error_make(err, 0, "hardlink %s points to a directory", name);
	int r = linkat(tdir, tbase, dfd, base, 0);
	if (r < 0 && errno == EEXIST) {
		if (make_room(dfd, base, name, false, err) < 0)
			return -1;
		r = linkat(tdir, tbase, dfd, base, 0);
	}
	if (r < 0)
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
	int r = mknodat(dfd, hidden, S_IFCHR | 0, makedev(0, 0));
	if (r < 0 && errno == EEXIST) {
		if (make_room(dfd, hidden, name, false, err) < 0)
			return -1;
		r = mknodat(dfd, hidden, S_IFCHR | 0, makedev(0, 0));
	}
	if (r < 0)
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

	if (raw == NULL)
		return vce_error_make(err, 0, "the layer is damaged: an entry has no name");
	if (name == NULL)
		return vce_error_make(
		    err, 0, "entry \"%s\" is absolute or leaves the layer with \"..\"", raw);
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
	/* qsort's base may not be NULL, even for no elements. */
	if (u->n_dirs > 1)
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
	pop_levels(u, 0);
	free(u->level_name);
	free(u->level_fd);
	free(u->cur_dir);
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
	struct unpacker u = { .root_fd = root_fd, .opts = opts, .max_entries = max_entries() };
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
