/* The content store: blobs/sha256/<hex>, written only by renaming a
 * complete, verified, fsynced file into place. Incoming data goes to a
 * staging directory under tmp/ that its process holds an flock on; a
 * staging directory nobody holds belonged to a process that died, and is
 * swept away when the store is next opened. */
#define _GNU_SOURCE
#include "oci.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/banned.h"
#include "../rootfs-cache/cache.h"

struct oci_store {
	char *path;
	int dirfd;
	int blobs_fd; /* blobs/sha256 */
	int tmp_fd;
	int lock_fd;
	int lock_depth;
	cache *cache;
};

struct oci_stage {
	oci_store *store;
	char *name; /* below tmp/ */
	int dirfd;  /* holds the flock that marks the stage alive */
};

char *oci_store_default_root(void)
{
	const char *env = getenv("VCE_ROOT");
	const char *xdg, *home;

	if (env && *env)
		return xstrdup(env);
	if (geteuid() == 0)
		return xstrdup("/var/lib/vce");
	xdg = getenv("XDG_DATA_HOME");
	if (xdg && *xdg == '/')
		return xasprintf("%s/vce", xdg);
	home = getenv("HOME");
	if (home == NULL || *home != '/') {
		struct passwd *pw = getpwuid(geteuid());
		home = pw ? pw->pw_dir : "/";
	}
	return xasprintf("%s/.local/share/vce", home);
}

/* Removes staging directories whose owner is gone, and temporary files
 * an interrupted atomic write left in the root. */
static void sweep_leftovers(oci_store *store)
{
	DIR *dir = vce_opendir_at(store->tmp_fd);
	struct dirent *de;

	if (dir == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		cleanup_close int sfd = -1;
		cleanup_err vce_err err = NULL;

		if (de->d_name[0] == '.')
			continue;
		sfd = openat(store->tmp_fd, de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0 || flock(sfd, LOCK_EX | LOCK_NB) < 0)
			continue;
		vce_verbose("removing %s/tmp/%s left by an interrupted run", store->path,
			    de->d_name);
		vce_remove_tree_at(store->tmp_fd, de->d_name, &err);
	}
	closedir(dir);
}

static int open_subdir(oci_store *store, const char *name, vce_err *err)
{
	int fd = vce_mkdirs_at(store->dirfd, name, 0700, err);
	if (fd < 0)
		return vce_error_wrap(err, "store %s", store->path);
	return fd;
}

int oci_store_open(const char *root, oci_store **out, vce_err *err)
{
	oci_store *store = xcalloc(1, sizeof(*store));
	int fd;

	store->dirfd = store->blobs_fd = store->tmp_fd = store->lock_fd = -1;
	store->path = xstrdup(root);
	if (root[0] != '/') {
		vce_error_make(err, 0, "store root \"%s\" must be an absolute path", root);
		goto fail;
	}
	fd = vce_mkdirs_at(AT_FDCWD, root, 0700, err);
	if (fd < 0) {
		vce_error_wrap(
		    err, "cannot use %s as the store (set --root or VCE_ROOT to a writable folder)",
		    root);
		goto fail;
	}
	store->dirfd = fd;
	if ((store->blobs_fd = open_subdir(store, "blobs/sha256", err)) < 0 ||
	    (store->tmp_fd = open_subdir(store, "tmp", err)) < 0)
		goto fail;
	{
		/* Made now, so that a run that fails leaves the store's tree as
		 * it found it. */
		int cfd = open_subdir(store, "containers", err);
		int dfd = cfd < 0 ? -1 : open_subdir(store, "downloads", err);
		if (cfd >= 0)
			close(cfd);
		if (dfd < 0)
			goto fail;
		close(dfd);
	}
	store->lock_fd = openat(store->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (store->lock_fd < 0) {
		vce_error_make(err, errno, "open %s/lock", root);
		goto fail;
	}
	/* Under the lock: a stage is made and locked under it too, so the
	 * sweep never sees one between its mkdir and its flock. */
	if (oci_store_lock(store, err) < 0)
		goto fail;
	sweep_leftovers(store);
	oci_store_unlock(store);
	/* Opened now, whatever the command, so that what an interrupted
	 * unpack left is swept on the next run of vce. */
	if (cache_open(store->path, &store->cache, err) < 0)
		goto fail;
	*out = store;
	return 0;
fail:
	oci_store_close(store);
	return -1;
}

int oci_store_cache(oci_store *store, cache **out, vce_err *err)
{
	if (store->cache == NULL && cache_open(store->path, &store->cache, err) < 0)
		return -1;
	*out = store->cache;
	return 0;
}

void oci_store_close(oci_store *store)
{
	if (store == NULL)
		return;
	cache_close(store->cache);
	vce_closep(&store->dirfd);
	vce_closep(&store->blobs_fd);
	vce_closep(&store->tmp_fd);
	vce_closep(&store->lock_fd);
	free(store->path);
	free(store);
}

const char *oci_store_path(const oci_store *store)
{
	return store->path;
}

int oci_store_dirfd(const oci_store *store)
{
	return store->dirfd;
}

int oci_store_lock(oci_store *store, vce_err *err)
{
	if (store->lock_depth++ > 0)
		return 0;
	while (flock(store->lock_fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			store->lock_depth--;
			return vce_error_make(err, errno, "lock %s/lock", store->path);
		}
	}
	/* Temporary files of atomic writes are only made under the lock, so
	 * any still here belong to a process that died mid-write. */
	DIR *dir = vce_opendir_at(store->dirfd);
	if (dir) {
		struct dirent *de;
		while ((de = readdir(dir)) != NULL)
			if (strncmp(de->d_name, ".tmp-", 5) == 0)
				unlinkat(store->dirfd, de->d_name, 0);
		closedir(dir);
	}
	return 0;
}

void oci_store_unlock(oci_store *store)
{
	if (store->lock_depth > 0 && --store->lock_depth == 0)
		flock(store->lock_fd, LOCK_UN);
}

static const char *hex_of(const char *digest)
{
	return digest + 7; /* after "sha256:" */
}

bool oci_store_has_blob(oci_store *store, const char *digest)
{
	struct stat st;

	return oci_digest_valid(digest) &&
	       fstatat(store->blobs_fd, hex_of(digest), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode);
}

int64_t oci_store_blob_size(oci_store *store, const char *digest)
{
	struct stat st;

	if (!oci_digest_valid(digest) ||
	    fstatat(store->blobs_fd, hex_of(digest), &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	return st.st_size;
}

int oci_store_open_blob(oci_store *store, const char *digest, vce_err *err)
{
	int fd;

	if (!oci_digest_valid(digest))
		return vce_error_make(err, 0, "\"%s\" is not a sha256 digest", digest);
	fd = openat(store->blobs_fd, hex_of(digest), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return vce_error_make(err, errno, "blob %s is missing from the store %s", digest,
				      store->path);
	return fd;
}

int oci_store_read_blob(oci_store *store, const char *digest, size_t max, char **out, size_t *len,
			vce_err *err)
{
	if (!oci_digest_valid(digest))
		return vce_error_make(err, 0, "\"%s\" is not a sha256 digest", digest);
	if (vce_read_file_at(store->blobs_fd, hex_of(digest), max, out, len, err) < 0)
		return vce_error_wrap(err, "blob %s in the store %s", digest, store->path);
	return 0;
}

int oci_stage_new(oci_store *store, oci_stage **out, vce_err *err)
{
	oci_stage *stage = xcalloc(1, sizeof(*stage));
	char suffix[17];

	vce_random_hex(suffix, 8);
	stage->store = store;
	stage->dirfd = -1;
	stage->name = xasprintf("stage-%d-%s", (int)getpid(), suffix);
	if (oci_store_lock(store, err) < 0) {
		free(stage->name);
		free(stage);
		return -1;
	}
	if (mkdirat(store->tmp_fd, stage->name, 0700) < 0) {
		vce_error_make(err, errno, "create %s/tmp/%s", store->path, stage->name);
		oci_store_unlock(store);
		free(stage->name);
		free(stage);
		return -1;
	}
	stage->dirfd = openat(store->tmp_fd, stage->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (stage->dirfd < 0 || flock(stage->dirfd, LOCK_EX) < 0) {
		vce_error_make(err, errno, "open %s/tmp/%s", store->path, stage->name);
		oci_store_unlock(store);
		oci_stage_free(stage);
		return -1;
	}
	oci_store_unlock(store);
	*out = stage;
	return 0;
}

void oci_stage_free(oci_stage *stage)
{
	cleanup_err vce_err err = NULL;

	if (stage == NULL)
		return;
	if (vce_remove_tree_at(stage->store->tmp_fd, stage->name, &err) < 0)
		vce_warn("could not remove %s/tmp/%s: %s", stage->store->path, stage->name,
			 err->msg);
	vce_closep(&stage->dirfd);
	free(stage->name);
	free(stage);
}

static int write_staged(oci_stage *stage, int fd, const char *tmpname, oci_read_fn read, void *ctx,
			vce_hasher *h, int64_t *size, vce_err *err)
{
	char *buf = xmalloc(1 << 20);
	int ret = 0;

	*size = 0;
	for (;;) {
		ssize_t n = read(ctx, buf, 1 << 20, err);
		if (n < 0) {
			ret = -1;
			break;
		}
		if (n == 0)
			break;
		vce_hasher_update(h, buf, (size_t)n);
		if (vce_write_all(fd, buf, (size_t)n, err) < 0) {
			ret = vce_error_wrap(err, "%s/tmp/%s/%s", stage->store->path, stage->name,
					     tmpname);
			break;
		}
		*size += n;
	}
	free(buf);
	return ret;
}

int oci_stage_write(oci_stage *stage, oci_read_fn read, void *ctx, char *digest_out,
		    int64_t *size_out, vce_err *err)
{
	char tmpname[17];
	cleanup_close int fd = oci_stage_create_tmp(stage, tmpname, err);
	vce_hasher *h;
	int64_t size;
	int ret;

	if (fd < 0)
		return -1;
	h = vce_hasher_new();
	ret = write_staged(stage, fd, tmpname, read, ctx, h, &size, err);
	vce_hasher_final(h, digest_out);
	vce_hasher_free(h);
	if (ret < 0) {
		unlinkat(stage->dirfd, tmpname, 0);
		return -1;
	}
	/* Named by content: a second copy of the same blob replaces the
	 * first harmlessly. */
	if (oci_stage_adopt(stage, tmpname, digest_out, err) < 0)
		return -1;
	if (size_out)
		*size_out = size;
	return 0;
}

int oci_stage_create_tmp(oci_stage *stage, char tmpname[17], vce_err *err)
{
	int fd;

	vce_random_hex(tmpname, 8);
	fd = openat(stage->dirfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return vce_error_make(err, errno, "create a file in %s/tmp", stage->store->path);
	return fd;
}

int oci_stage_adopt(oci_stage *stage, const char *tmpname, const char *digest, vce_err *err)
{
	if (renameat(stage->dirfd, tmpname, stage->dirfd, hex_of(digest)) < 0) {
		int saved = errno;
		unlinkat(stage->dirfd, tmpname, 0);
		return vce_error_make(err, saved, "rename in %s/tmp", stage->store->path);
	}
	return 0;
}

void oci_stage_drop_tmp(oci_stage *stage, const char *tmpname)
{
	unlinkat(stage->dirfd, tmpname, 0);
}

struct bytes_reader {
	const char *data;
	size_t left;
};

static ssize_t read_bytes(void *ctx, void *buf, size_t len, vce_err *err)
{
	struct bytes_reader *r = ctx;
	size_t n = len < r->left ? len : r->left;

	(void)err;
	memcpy(buf, r->data, n);
	r->data += n;
	r->left -= n;
	return (ssize_t)n;
}

int oci_stage_write_bytes(oci_stage *stage, const void *data, size_t len, char *digest_out,
			  vce_err *err)
{
	struct bytes_reader r = { data, len };

	return oci_stage_write(stage, read_bytes, &r, digest_out, NULL, err);
}

int oci_stage_open(oci_stage *stage, const char *digest, vce_err *err)
{
	int fd = openat(stage->dirfd, hex_of(digest), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return vce_error_make(err, errno, "staged blob %s", digest);
	return fd;
}

bool oci_stage_has(oci_stage *stage, const char *digest)
{
	struct stat st;

	return oci_digest_valid(digest) &&
	       fstatat(stage->dirfd, hex_of(digest), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

void oci_stage_discard(oci_stage *stage, const char *digest)
{
	if (oci_digest_valid(digest))
		unlinkat(stage->dirfd, hex_of(digest), 0);
}

int oci_stage_commit(oci_stage *stage, const char *digest, vce_err *err)
{
	cleanup_close int fd = -1;

	if (oci_store_has_blob(stage->store, digest))
		return 0;
	fd = oci_stage_open(stage, digest, err);
	if (fd < 0)
		return -1;
	if (fsync(fd) < 0)
		return vce_error_make(err, errno, "fsync staged blob %s", digest);
	if (renameat(stage->dirfd, hex_of(digest), stage->store->blobs_fd, hex_of(digest)) < 0)
		return vce_error_make(err, errno, "move blob %s into %s/blobs", digest,
				      stage->store->path);
	return 0;
}
