/* The cache of unpacked layers: locks, the temporary-name-then-rename
 * commit, parallel unpack of an image's layers, holds, and garbage
 * collection. See cache.h for the layout on disk. */
#define _GNU_SOURCE
#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/banned.h"
#include "pipeline.h"

#define HEX_LEN	    64
#define MAX_WORKERS 8

struct cache {
	char *path;
	int dirfd;
	bool rootless;
	/* Owners other than the default (see cache_set_owners). */
	bool has_owners;
	vce_idmap owners;
	char suffix[48];
};

/* A layer's directory name: its diffID's hex, and the owner variant. */
typedef struct layer_key {
	char s[HEX_LEN + 48];
} layer_key;

struct cache_hold {
	int *lock_fds;
	size_t n_locks;
	char **created; /* hex of the layers this unpack made */
	size_t n_created;
};

const char *cache_path(const cache *c)
{
	return c->path;
}

static const char *hex_of(const char *diff_id)
{
	return strncmp(diff_id, "sha256:", 7) == 0 ? diff_id + 7 : diff_id;
}

static bool valid_hex(const char *s)
{
	return strspn(s, "0123456789abcdef") == HEX_LEN && s[HEX_LEN] == '\0';
}

static layer_key key_of(const cache *c, const char *diff_id)
{
	layer_key k;
	snprintf(k.s, sizeof(k.s), "%s%s", hex_of(diff_id), c->suffix);
	return k;
}

/* "<hex>" or "<hex>-u<uid>-g<gid>". */
static bool valid_key(const char *s)
{
	unsigned long u, g;
	char end;

	if (strspn(s, "0123456789abcdef") != HEX_LEN)
		return false;
	return s[HEX_LEN] == '\0' || sscanf(s + HEX_LEN, "-u%lu-g%lu%c", &u, &g, &end) == 2;
}

void cache_set_owners(cache *c, const vce_idmap *map, unsigned long uid, unsigned long gid)
{
	c->has_owners = map != NULL;
	c->suffix[0] = '\0';
	if (map) {
		c->owners = *map;
		snprintf(c->suffix, sizeof(c->suffix), "-u%lu-g%lu", uid, gid);
	}
}

/* Opens and flocks .lock-<hex>. A lock file garbage collection removed
 * between our open and our flock is not the lock any more: try again. */
static int lock_layer(cache *c, const char *hex, int op, vce_err *err)
{
	cleanup_free char *name = xasprintf(".lock-%s", hex);

	for (;;) {
		struct stat by_fd, by_name;
		/* Readable by all: the namespace of another mapping may have made it. */
		int fd = openat(c->dirfd, name, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return vce_error_make(err, errno, "open %s/%s", c->path, name);
		while (flock(fd, op) < 0) {
			if (errno != EINTR) {
				int saved = errno;
				close(fd);
				if (saved == EWOULDBLOCK)
					return 0;
				return vce_error_make(err, saved, "lock %s/%s", c->path, name);
			}
		}
		if (fstat(fd, &by_fd) == 0 && fstatat(c->dirfd, name, &by_name, 0) == 0 &&
		    by_fd.st_ino == by_name.st_ino)
			return fd;
		close(fd);
	}
}

static bool layer_dir_exists(cache *c, const char *hex)
{
	struct stat st;
	cleanup_free char *path = xasprintf("%s/rootfs", hex);

	return fstatat(c->dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

bool cache_has_layer(cache *c, const char *diff_id)
{
	return valid_hex(hex_of(diff_id)) && layer_dir_exists(c, key_of(c, diff_id).s);
}

char *cache_layer_path(const cache *c, const char *diff_id)
{
	return xasprintf("%s/%s/rootfs", c->path, key_of(c, diff_id).s);
}

int64_t cache_layer_bytes(cache *c, const char *diff_id)
{
	cleanup_free char *path = xasprintf("%s/info.json", key_of(c, diff_id).s);
	cleanup_free char *text = NULL;
	cleanup_err vce_err err = NULL;
	json_t *info;
	int64_t bytes = -1;
	size_t len;

	if (!valid_hex(hex_of(diff_id)) ||
	    vce_read_file_at(c->dirfd, path, 1 << 16, &text, &len, &err) < 0)
		return -1;
	info = json_loadb(text, len, 0, NULL);
	if (json_is_integer(json_object_get(info, "bytes")))
		bytes = json_integer_value(json_object_get(info, "bytes"));
	json_decref(info);
	return bytes;
}

/* ---- removal: rootless, the files belong to subordinate ids, so it
 * happens inside the user namespace the unpack used ---- */

struct removal {
	cache *c;
	char **names;
	size_t n;
};

static int remove_names(void *arg, bool full_range, vce_err *err)
{
	struct removal *r = arg;

	(void)full_range;
	for (size_t i = 0; i < r->n; i++)
		if (vce_remove_tree_at(r->c->dirfd, r->names[i], err) < 0)
			return vce_error_wrap(err, "%s", r->c->path);
	return 0;
}

static int remove_dirs(cache *c, char **names, size_t n, vce_err *err)
{
	struct removal r = { c, names, n };

	if (n == 0)
		return 0;
	if (c->rootless)
		return vce_userns_run(remove_names, &r, err);
	return remove_names(&r, false, err);
}

static void add_name(char ***names, size_t *n, const char *name)
{
	*names = xrealloc(*names, (*n + 1) * sizeof(char *));
	(*names)[(*n)++] = xstrdup(name);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Unpacks that died leave .tmp-<hex>-*: nobody holds <hex>'s lock then. */
static void sweep(cache *c)
{
	DIR *dir = vce_opendir_at(c->dirfd);
	struct dirent *de;
	char **dead = NULL;
	int *locks = NULL;
	size_t n = 0;
	cleanup_err vce_err err = NULL;

	while (dir && (de = readdir(dir)) != NULL) {
		layer_key key;
		char *rand;
		int lock;
		if (strncmp(de->d_name, ".tmp-", 5) != 0 || strlen(de->d_name) < 5 + HEX_LEN)
			continue;
		/* .tmp-<key>-<random>: the key's lock guards it. */
		snprintf(key.s, sizeof(key.s), "%s", de->d_name + 5);
		rand = strrchr(key.s, '-');
		if (rand)
			*rand = '\0';
		if (!valid_key(key.s))
			continue;
		lock = lock_layer(c, key.s, LOCK_EX | LOCK_NB, &err);
		if (lock <= 0) {
			vce_error_release(&err);
			continue;
		}
		vce_verbose("removing %s/%s, left by an interrupted unpack", c->path, de->d_name);
		add_name(&dead, &n, de->d_name);
		locks = xrealloc(locks, n * sizeof(int));
		locks[n - 1] = lock;
	}
	if (dir)
		closedir(dir);
	if (remove_dirs(c, dead, n, &err) < 0)
		vce_warn("%s", err->msg);
	for (size_t i = 0; i < n; i++)
		close(locks[i]);
	free(locks);
	free_names(dead, n);
}

int cache_open(const char *store_root, cache **out, vce_err *err)
{
	cache *c = xcalloc(1, sizeof(*c));

	c->path = xasprintf("%s/rootfs-cache", store_root);
	c->rootless = geteuid() != 0;
	c->dirfd = vce_mkdirs_at(AT_FDCWD, c->path, 0700, err);
	if (c->dirfd < 0) {
		free(c->path);
		free(c);
		return -1;
	}
	sweep(c);
	*out = c;
	return 0;
}

void cache_close(cache *c)
{
	if (c == NULL)
		return;
	vce_closep(&c->dirfd);
	free(c->path);
	free(c);
}

/* ---- one image's unpack: a pool of workers, bottom layer first ---- */

enum layer_state { PENDING, RUNNING, DONE, FAILED };

struct job {
	cache *c;
	const cache_layer *layers;
	size_t n;
	bool keep_owners;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum layer_state *state;
	size_t next;
	vce_err err;
};

struct lower_ctx {
	struct job *job;
	size_t index;
	int *fds;
	size_t n;
};

/* The roots of the layers below `index`, top first, once they are done.
 * Workers take layers bottom first, so what this waits for is running
 * or done: no wait can close a cycle. */
static int lower_layers(void *arg, const int **fds, size_t *n, vce_err *err)
{
	struct lower_ctx *l = arg;
	struct job *job = l->job;

	if (l->fds == NULL) {
		pthread_mutex_lock(&job->mu);
		for (size_t i = 0; i < l->index; i++)
			while (job->state[i] == PENDING || job->state[i] == RUNNING)
				pthread_cond_wait(&job->cv, &job->mu);
		pthread_mutex_unlock(&job->mu);
		l->fds = xcalloc(l->index, sizeof(int));
		for (size_t i = l->index; i-- > 0;) {
			cleanup_free char *path =
			    xasprintf("%s/rootfs", key_of(job->c, job->layers[i].diff_id).s);
			int fd = openat(job->c->dirfd, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0)
				return vce_error_make(err, errno,
						      "a lower layer (%s) is not unpacked",
						      job->layers[i].diff_id);
			l->fds[l->n++] = fd;
		}
	}
	*fds = l->fds;
	*n = l->n;
	return 0;
}

static int write_info(int dirfd, const char *diff_id, int64_t bytes, int64_t entries,
		      bool keep_owners, vce_err *err)
{
	json_t *info =
	    json_pack("{s:s, s:I, s:I, s:s}", "diff_id", diff_id, "bytes", (json_int_t)bytes,
		      "entries", (json_int_t)entries, "owners", keep_owners ? "kept" : "user");
	char *text = json_dumps(info, JSON_COMPACT);
	int ret = vce_write_file_atomic_at(dirfd, "info.json", text, strlen(text), 0644, err);

	free(text);
	json_decref(info);
	return ret;
}

/* Unpacks into .tmp-<hex>-<rand>, verifies, syncs, renames to <hex>. */
static double seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int unpack_to_tmp(struct job *job, size_t i, const char *tmp, vce_err *err)
{
	double start = seconds_now();
	const cache_layer *l = &job->layers[i];
	cache *c = job->c;
	struct lower_ctx lower = { job, i, NULL, 0 };
	cache_unpack_opts opts = { .keep_owners = job->keep_owners,
				   .rootless = c->rootless,
				   .translate = c->has_owners && !c->rootless ? &c->owners : NULL,
				   .lower_layers = lower_layers,
				   .lower_ctx = &lower };
	cleanup_close int tmp_fd = -1, root_fd = -1;
	int64_t bytes = 0, entries = 0;
	int ret = -1;

	if (mkdirat(c->dirfd, tmp, 0755) < 0)
		return vce_error_make(err, errno, "create %s/%s", c->path, tmp);
	tmp_fd = openat(c->dirfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmp_fd < 0 || mkdirat(tmp_fd, "rootfs", 0755) < 0)
		return vce_error_make(err, errno, "create %s/%s/rootfs", c->path, tmp);
	root_fd = openat(tmp_fd, "rootfs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return vce_error_make(err, errno, "open %s/%s/rootfs", c->path, tmp);
	/* A pipe (a pull streams layers) cannot rewind and need not; an
	 * archive member is read by offset. */
	if (l->length == 0 && lseek(l->fd, 0, SEEK_SET) < 0 && errno != ESPIPE)
		return vce_error_make(err, errno, "rewind layer %s", l->diff_id);
	if (cache_pipeline_unpack(root_fd, l, &opts, &bytes, &entries, err) < 0)
		goto out;
	if (write_info(tmp_fd, l->diff_id, bytes, entries, job->keep_owners, err) < 0)
		goto out;
	/* Durable before it is visible: one syncfs, not an fsync a file. */
	if (syncfs(root_fd) < 0) {
		vce_error_make(err, errno, "sync %s", c->path);
		goto out;
	}
	vce_verbose("unpacked layer %s: %lld entries, %lld bytes in %.2f s", l->diff_id,
		    (long long)entries, (long long)bytes, seconds_now() - start);
	ret = 0;
out:
	for (size_t k = 0; k < lower.n; k++)
		close(lower.fds[k]);
	free(lower.fds);
	return ret;
}

static int unpack_layer(struct job *job, size_t i, vce_err *err)
{
	cache *c = job->c;
	layer_key key = key_of(c, job->layers[i].diff_id);
	const char *hex = key.s;
	cleanup_close int lock = lock_layer(c, hex, LOCK_EX, err);
	cleanup_free char *tmp = NULL;
	char suffix[17];

	if (lock < 0)
		return -1;
	if (layer_dir_exists(c, hex))
		return 0; /* another vce did it while we waited for the lock */
	vce_random_hex(suffix, 8);
	tmp = xasprintf(".tmp-%s-%s", hex, suffix);
	if (unpack_to_tmp(job, i, tmp, err) < 0 || renameat(c->dirfd, tmp, c->dirfd, hex) < 0) {
		cleanup_err vce_err ignored = NULL;
		if (*err == NULL)
			vce_error_make(err, errno, "rename %s/%s", c->path, tmp);
		vce_remove_tree_at(c->dirfd, tmp, &ignored);
		return vce_error_wrap(err, "layer %s", job->layers[i].diff_id);
	}
	fsync(c->dirfd);
	return 0;
}

static void *worker_main(void *arg)
{
	struct job *job = arg;

	for (;;) {
		vce_err err = NULL;
		size_t i;
		int ret;

		pthread_mutex_lock(&job->mu);
		while (job->next < job->n && job->state[job->next] != PENDING)
			job->next++;
		if (job->next >= job->n || job->err) {
			pthread_mutex_unlock(&job->mu);
			return NULL;
		}
		i = job->next++;
		job->state[i] = RUNNING;
		pthread_mutex_unlock(&job->mu);

		ret = unpack_layer(job, i, &err);

		pthread_mutex_lock(&job->mu);
		job->state[i] = ret < 0 ? FAILED : DONE;
		if (ret < 0 && job->err == NULL) {
			job->err = err;
			err = NULL;
		}
		pthread_cond_broadcast(&job->cv);
		pthread_mutex_unlock(&job->mu);
		vce_error_release(&err);
	}
}

static int run_job(void *arg, bool full_range, vce_err *err)
{
	struct job *job = arg;
	pthread_t workers[MAX_WORKERS];
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t pending = 0, n_workers;

	job->keep_owners = !job->c->rootless || full_range;
	if (job->c->rootless && !full_range)
		vce_verbose(
		    "no subordinate id range for this user (/etc/subuid): image files will all belong to you");
	for (size_t i = 0; i < job->n; i++)
		pending += job->state[i] == PENDING;
	n_workers = pending < (size_t)(cores > 0 ? cores : 1) ? pending : (size_t)cores;
	if (n_workers > MAX_WORKERS)
		n_workers = MAX_WORKERS;
	/* Files are created with their modes from the archive, unmasked. */
	mode_t old_umask = umask(0);
	for (size_t w = 0; w < n_workers; w++)
		pthread_create(&workers[w], NULL, worker_main, job);
	for (size_t w = 0; w < n_workers; w++)
		pthread_join(workers[w], NULL);
	umask(old_umask);
	if (job->err) {
		*err = job->err;
		job->err = NULL;
		return -1;
	}
	return 0;
}

/* Removes layer directories whose locks we hold exclusively, and their
 * lock files (lock_layer's inode check makes that safe), then lets go. */
static int remove_locked(cache *c, char **victims, int *locks, size_t n, vce_err *err)
{
	int ret = remove_dirs(c, victims, n, err);

	for (size_t i = 0; i < n; i++) {
		cleanup_free char *lock_name = xasprintf(".lock-%s", victims[i]);
		if (ret == 0)
			unlinkat(c->dirfd, lock_name, 0);
		close(locks[i]);
	}
	free(locks);
	free_names(victims, n);
	return ret;
}

static void free_hold(cache_hold *h)
{
	for (size_t i = 0; i < h->n_locks; i++)
		close(h->lock_fds[i]);
	free(h->lock_fds);
	free_names(h->created, h->n_created);
	free(h);
}

/* Shared locks on every layer of the image, each checked to be there. */
static int take_hold(cache *c, const cache_layer *layers, size_t n, cache_hold *h, bool *missing,
		     vce_err *err)
{
	*missing = false;
	for (size_t i = 0; i < n; i++) {
		int fd = lock_layer(c, key_of(c, layers[i].diff_id).s, LOCK_SH, err);
		if (fd < 0)
			return -1;
		h->lock_fds = xrealloc(h->lock_fds, (h->n_locks + 1) * sizeof(int));
		h->lock_fds[h->n_locks++] = fd;
		if (!layer_dir_exists(c, key_of(c, layers[i].diff_id).s))
			*missing = true;
	}
	return 0;
}

int cache_unpack_image(cache *c, const cache_layer *layers, size_t n, cache_hold **hold,
		       vce_err *err)
{
	cache_hold *h = xcalloc(1, sizeof(*h));
	struct job job = { .c = c, .layers = layers, .n = n };
	int ret = -1;

	for (size_t i = 0; i < n; i++)
		if (!valid_hex(hex_of(layers[i].diff_id))) {
			free(h);
			return vce_error_make(err, 0, "\"%s\" is not a sha256 diff_id",
					      layers[i].diff_id);
		}
	pthread_mutex_init(&job.mu, NULL);
	pthread_cond_init(&job.cv, NULL);
	job.state = xcalloc(n, sizeof(*job.state));
	/* A layer can vanish between the unpack and the hold (a concurrent
	 * rmi): then unpack again. */
	for (int attempt = 0; attempt < 3; attempt++) {
		bool missing;
		for (size_t i = 0; i < n; i++) {
			bool cached = layer_dir_exists(c, key_of(c, layers[i].diff_id).s);
			job.state[i] = cached ? DONE : PENDING;
			if (!cached)
				add_name(&h->created, &h->n_created,
					 key_of(c, layers[i].diff_id).s);
		}
		job.next = 0;
		/* Rootless, files are made in a user namespace with the
		 * mapping; root chowns them to the mapped ids itself. */
		if (!c->rootless    ? run_job(&job, false, err) < 0
		    : c->has_owners ? vce_userns_run_mapped(run_job, &job, &c->owners, err) < 0
				    : vce_userns_run(run_job, &job, err) < 0)
			break;
		if (take_hold(c, layers, n, h, &missing, err) < 0)
			break;
		if (!missing) {
			ret = 0;
			break;
		}
		for (size_t i = 0; i < h->n_locks; i++)
			close(h->lock_fds[i]);
		h->n_locks = 0;
	}
	if (ret < 0 && *err == NULL)
		vce_error_make(err, 0, "the unpacked layers keep disappearing from %s", c->path);
	free(job.state);
	pthread_cond_destroy(&job.cv);
	pthread_mutex_destroy(&job.mu);
	if (ret < 0) {
		cache_release(c, h, true);
		return -1;
	}
	*hold = h;
	return 0;
}

void cache_release(cache *c, cache_hold *h, bool discard)
{
	char **victims = NULL;
	int *locks = NULL;
	size_t n = 0;
	cleanup_err vce_err err = NULL;

	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n_locks; i++)
		close(h->lock_fds[i]);
	h->n_locks = 0;
	/* Only what this unpack made, and only if no other load holds it. */
	for (size_t i = 0; discard && i < h->n_created; i++) {
		int lock = lock_layer(c, h->created[i], LOCK_EX | LOCK_NB, &err);
		if (lock <= 0) {
			vce_error_release(&err);
			continue;
		}
		add_name(&victims, &n, h->created[i]);
		locks = xrealloc(locks, n * sizeof(int));
		locks[n - 1] = lock;
	}
	if (remove_locked(c, victims, locks, n, &err) < 0)
		vce_warn("%s", err->msg);
	free_hold(h);
}

static bool kept(char *const *keep, size_t n, const char *hex)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(hex_of(keep[i]), hex, HEX_LEN) == 0)
			return true;
	return false;
}

int cache_collect_garbage(cache *c, char *const *keep, size_t n_keep, vce_err *err)
{
	DIR *dir = vce_opendir_at(c->dirfd);
	struct dirent *de;
	char **victims = NULL;
	int *locks = NULL;
	size_t n = 0;

	while (dir && (de = readdir(dir)) != NULL) {
		int lock;
		if (!valid_key(de->d_name) || kept(keep, n_keep, de->d_name))
			continue;
		lock = lock_layer(c, de->d_name, LOCK_EX | LOCK_NB, err);
		if (lock < 0) {
			closedir(dir);
			for (size_t i = 0; i < n; i++)
				close(locks[i]);
			free(locks);
			free_names(victims, n);
			return -1;
		}
		if (lock == 0)
			continue; /* a load holds it */
		vce_verbose("removing unused layer sha256:%s", de->d_name);
		add_name(&victims, &n, de->d_name);
		locks = xrealloc(locks, n * sizeof(int));
		locks[n - 1] = lock;
	}
	if (dir)
		closedir(dir);
	return remove_locked(c, victims, locks, n, err);
}
