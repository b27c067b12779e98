/* `vce pull`: reference -> manifest (an index: the platform's manifest)
 * -> config -> layers, each unpacked while it downloads.
 *
 * Downloads run in a child process (the downloader), so that the unpack,
 * which rootless runs in yet another child inside a user namespace, reads
 * each layer from a pipe whose writer is nobody else: when the downloader
 * closes a pipe the unpacker sees the end. In the downloader a few threads
 * fetch blobs into <store>/downloads/<hex> (never waiting for an unpack:
 * the file is the buffer), and per layer a feeder thread follows its file
 * as it grows, hashes it (the digest is checked on what is on disk) and
 * writes it into the layer's pipe at the pace of its unpack.
 *
 * A download stopped half-way stays in downloads/ and the next pull asks
 * only for the rest (HTTP Range). Blobs move into blobs/ only when the
 * whole image is unpacked and verified. */
#define _GNU_SOURCE
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/json.h"
#include "../rootfs-cache/cache.h"
#include "../common/banned.h"

#define MANIFEST_MAX   (4u << 20)
#define CONFIG_MAX     (32u << 20)
#define DOWNLOAD_SLOTS 3
#define FEED_CHUNK     (1u << 20)

/* ---- one layer's download, in the downloader process ---- */

struct transfer {
	const oci_descriptor *desc;
	char short_id[13];
	int pipe_w; /* to the unpack; -1: the layer is cached, only store it */
	/* Guarded by the shared mutex: */
	int fd;	      /* downloads/<hex>, or the store's blob; -1 until open */
	int64_t have; /* bytes on disk, from 0 */
	int64_t fed;  /* bytes hashed (and piped) */
	bool downloaded, verified, failed;
	double started;
	vce_err err;
};

struct downloader {
	registry *reg;
	oci_store *store;
	int downloads_fd;
	struct transfer *t;
	size_t n, next;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	FILE *out; /* progress bars, or NULL */
	size_t lines_drawn;
	bool stop;  /* a transfer failed: the others stop too */
	int err_fd; /* the first failure goes to the parent at once */
};

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *hex_of(const char *digest)
{
	const char *colon = strchr(digest, ':');
	return colon ? colon + 1 : digest;
}

static void transfer_fail(struct downloader *d, struct transfer *t, vce_err *err)
{
	pthread_mutex_lock(&d->mu);
	if (!d->stop && *err) {
		cleanup_free char *text = vce_error_text(*err);
		cleanup_err vce_err ignored = NULL;
		vce_write_all(d->err_fd, text, strlen(text), &ignored);
		vce_closep(&d->err_fd);
		d->err_fd = -1;
	}
	__atomic_store_n(&d->stop, true, __ATOMIC_RELAXED);
	if (!t->failed) {
		t->failed = true;
		t->err = *err;
		*err = NULL;
	}
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	vce_error_release(err);
}

struct sink_ctx {
	struct downloader *d;
	struct transfer *t;
	int fd;
};

static int sink(void *arg, const void *data, size_t len, int64_t at, vce_err *err)
{
	struct sink_ctx *s = arg;
	const char *p = data;
	size_t left = len;
	int64_t off = at;

	if (at + (int64_t)len > s->t->desc->size)
		return vce_error_make(err, 0, "%s sent more than the %lld bytes of layer %s",
				      registry_domain(s->d->reg), (long long)s->t->desc->size,
				      s->t->desc->digest);
	while (left > 0) {
		ssize_t n = pwrite(s->fd, p, left, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vce_error_make(err, errno, "write %s/downloads/%s",
					      oci_store_path(s->d->store),
					      hex_of(s->t->desc->digest));
		p += n;
		off += n;
		left -= (size_t)n;
	}
	pthread_mutex_lock(&s->d->mu);
	/* A registry that ignored the range starts again at 0: the same
	 * bytes, rewritten; what is on disk up to `have` stays valid. */
	if (off > s->t->have)
		s->t->have = off;
	pthread_cond_broadcast(&s->d->cv);
	pthread_mutex_unlock(&s->d->mu);
	return 0;
}

/* downloads/<hex>, locked; or the store's blob if another pull committed
 * it meanwhile. The inode check: a pull that finished renamed the file
 * we waited for into blobs/. */
static int open_download(struct downloader *d, struct transfer *t, bool *complete, vce_err *err)
{
	const char *hex = hex_of(t->desc->digest);

	for (;;) {
		struct stat held, now;
		int fd;

		*complete = false;
		if (oci_store_has_blob(d->store, t->desc->digest)) {
			*complete = true;
			return oci_store_open_blob(d->store, t->desc->digest, err);
		}
		fd = openat(d->downloads_fd, hex, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0)
			return vce_error_make(err, errno, "create %s/downloads/%s",
					      oci_store_path(d->store), hex);
		if (flock(fd, LOCK_EX) < 0) {
			close(fd);
			return vce_error_make(err, errno, "lock %s/downloads/%s",
					      oci_store_path(d->store), hex);
		}
		if (fstat(fd, &held) == 0 &&
		    fstatat(d->downloads_fd, hex, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    held.st_ino == now.st_ino && held.st_dev == now.st_dev)
			return fd;
		close(fd);
	}
}

static int download_one(struct downloader *d, struct transfer *t, vce_err *err)
{
	struct sink_ctx s = { d, t, -1 };
	bool complete;
	struct stat st;
	int fd = open_download(d, t, &complete, err);
	int ret = 0;

	if (fd < 0)
		return -1;
	if (!complete && fstat(fd, &st) == 0 && st.st_size > t->desc->size &&
	    ftruncate(fd, 0) < 0) {
		close(fd);
		return vce_error_make(err, errno, "truncate %s", t->desc->digest);
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return vce_error_make(err, errno, "stat %s", t->desc->digest);
	}
	pthread_mutex_lock(&d->mu);
	t->fd = fd;
	t->have = st.st_size;
	t->started = now_seconds();
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	if (st.st_size > 0 && st.st_size < t->desc->size)
		vce_verbose("layer %s: resuming at byte %lld of %lld", t->desc->digest,
			    (long long)st.st_size, (long long)t->desc->size);
	if (st.st_size < t->desc->size) {
		s.fd = fd;
		ret = registry_fetch_blob(d->reg, t->desc->digest, st.st_size, sink, &s, err);
	}
	if (ret == 0 && t->have != t->desc->size)
		ret = vce_error_make(
		    err, 0,
		    "%s sent %lld of the %lld bytes of layer %s; run the pull again to fetch the rest",
		    registry_domain(d->reg), (long long)t->have, (long long)t->desc->size,
		    t->desc->digest);
	if (ret < 0 && (*err)->status == ENOSPC)
		vce_error_wrap(
		    err,
		    "the disk is full: free some space (vce image prune, vce system df), then pull again, which resumes; download of layer %s",
		    t->desc->digest);
	else if (ret < 0)
		vce_error_wrap(err, "download of layer %s stopped (run the pull again to resume)",
			       t->desc->digest);
	/* The lock goes with the download: what is on disk is whole now. */
	if (ret == 0)
		flock(fd, LOCK_UN);
	pthread_mutex_lock(&d->mu);
	t->downloaded = ret == 0;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return ret;
}

static void *download_main(void *arg)
{
	struct downloader *d = arg;

	for (;;) {
		struct transfer *t;
		vce_err err = NULL;

		pthread_mutex_lock(&d->mu);
		t = d->next < d->n ? &d->t[d->next++] : NULL;
		bool stop = d->stop;
		pthread_mutex_unlock(&d->mu);
		if (t == NULL) {
			registry_thread_done();
			return NULL;
		}
		if (stop)
			vce_error_make(&err, 0, "stopped");
		if (stop || download_one(d, t, &err) < 0)
			transfer_fail(d, t, &err);
	}
}

/* Waits until bytes past t->fed are on disk: their count, 0 at the end,
 * -1 when the download failed. */
static int64_t wait_for_bytes(struct downloader *d, struct transfer *t)
{
	int64_t ready;

	pthread_mutex_lock(&d->mu);
	while (!t->failed && (t->fd < 0 || (t->have <= t->fed && !t->downloaded)))
		pthread_cond_wait(&d->cv, &d->mu);
	ready = t->failed ? -1 : t->have - t->fed;
	pthread_mutex_unlock(&d->mu);
	return ready;
}

static void feed_pipe(struct transfer *t, const char *buf, size_t len)
{
	while (t->pipe_w >= 0 && len > 0) {
		ssize_t n = write(t->pipe_w, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* EPIPE: the layer was unpacked by someone else. */
			vce_closep(&t->pipe_w);
			t->pipe_w = -1;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

static int feed(struct downloader *d, struct transfer *t, vce_err *err)
{
	cleanup_free char *buf = xmalloc(FEED_CHUNK);
	vce_hasher *h = vce_hasher_new();
	char got[OCI_DIGEST_LEN + 1];
	int64_t ready;
	int ret = 0;

	while ((ready = wait_for_bytes(d, t)) > 0) {
		size_t want = ready < (int64_t)FEED_CHUNK ? (size_t)ready : FEED_CHUNK;
		ssize_t n = pread(t->fd, buf, want, t->fed);
		if (n <= 0) {
			ret = vce_error_make(err, n < 0 ? errno : 0, "read back layer %s",
					     t->desc->digest);
			break;
		}
		vce_hasher_update(h, buf, (size_t)n);
		feed_pipe(t, buf, (size_t)n);
		pthread_mutex_lock(&d->mu);
		t->fed += n;
		pthread_cond_broadcast(&d->cv);
		pthread_mutex_unlock(&d->mu);
	}
	vce_hasher_final(h, got);
	vce_hasher_free(h);
	if (ret == 0 && ready < 0)
		ret = -1; /* the download's error says why */
	if (ret == 0 && strcmp(got, t->desc->digest) != 0) {
		ret = vce_error_make(
		    err, 0,
		    "layer %s from %s does not match its digest (its content hashes to %s): the registry's copy is damaged; it was not stored",
		    t->desc->digest, registry_domain(d->reg), got);
		unlinkat(d->downloads_fd, hex_of(t->desc->digest), 0);
	}
	/* A stream cut short fails its unpack's diffID check, if nothing
	 * before; a whole one whose digest is wrong fails the pull. */
	vce_closep(&t->pipe_w);
	t->pipe_w = -1;
	pthread_mutex_lock(&d->mu);
	t->verified = ret == 0;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return ret;
}

struct feeder_arg {
	struct downloader *d;
	struct transfer *t;
};

static void *feeder_main(void *arg)
{
	struct feeder_arg *f = arg;
	vce_err err = NULL;

	if (feed(f->d, f->t, &err) < 0 && err)
		transfer_fail(f->d, f->t, &err);
	return NULL;
}

/* ---- progress: one line per layer, redrawn in place on a terminal ---- */

static void bar_line(const struct transfer *t, double now, char *out, size_t len)
{
	char have[16], total[16], rate[16];
	double secs = now - t->started;
	double speed = secs > 0.2 ? (double)t->have / secs : 0;
	int width = 30, filled;

	if (t->failed) {
		snprintf(out, len, "%s: Failed", t->short_id);
		return;
	}
	if (t->verified) {
		snprintf(out, len, "%s: Download complete", t->short_id);
		return;
	}
	if (t->fd < 0) {
		snprintf(out, len, "%s: Waiting", t->short_id);
		return;
	}
	filled =
	    t->desc->size > 0 ? (int)((double)width * (double)t->have / (double)t->desc->size) : 0;
	vce_format_size((uint64_t)t->have, have, sizeof(have));
	vce_format_size((uint64_t)t->desc->size, total, sizeof(total));
	vce_format_size((uint64_t)speed, rate, sizeof(rate));
	snprintf(out, len, "%s: Downloading [%.*s>%*s] %8s/%-8s %8s/s ETA %.0fs", t->short_id,
		 filled, "==============================", width - filled, "", have, total, rate,
		 speed > 0 ? (double)(t->desc->size - t->have) / speed : 0.0);
}

static void draw(struct downloader *d)
{
	double now = now_seconds();
	char line[160];

	if (d->out == NULL)
		return;
	if (d->lines_drawn)
		fprintf(d->out, "\033[%zuA", d->lines_drawn);
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->n; i++) {
		bar_line(&d->t[i], now, line, sizeof(line));
		fprintf(d->out, "\r%s\033[K\n", line);
	}
	pthread_mutex_unlock(&d->mu);
	d->lines_drawn = d->n;
	fflush(d->out);
}

static bool all_finished(struct downloader *d)
{
	bool done = true;

	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->n; i++)
		done = done && (d->t[i].failed || d->t[i].verified);
	pthread_mutex_unlock(&d->mu);
	return done;
}

/* The downloader's body: exit status 0, or 1 (its first error went to
 * the parent as it happened). */
static int run_downloader(struct downloader *d)
{
	pthread_t slots[DOWNLOAD_SLOTS];
	pthread_t *feeders = xcalloc(d->n, sizeof(pthread_t));
	struct feeder_arg *args = xcalloc(d->n, sizeof(*args));
	size_t n_slots = d->n < DOWNLOAD_SLOTS ? d->n : DOWNLOAD_SLOTS;
	int status = 0;

	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < d->n; i++) {
		args[i] = (struct feeder_arg){ d, &d->t[i] };
		pthread_create(&feeders[i], NULL, feeder_main, &args[i]);
	}
	for (size_t i = 0; i < n_slots; i++)
		pthread_create(&slots[i], NULL, download_main, d);
	while (!all_finished(d)) {
		draw(d);
		poll(NULL, 0, d->out ? 100 : 50);
	}
	draw(d);
	for (size_t i = 0; i < n_slots; i++)
		pthread_join(slots[i], NULL);
	for (size_t i = 0; i < d->n; i++)
		pthread_join(feeders[i], NULL);
	for (size_t i = 0; i < d->n; i++)
		status = status || d->t[i].failed;
	return status;
}

/* ---- the pull ---- */

struct layer_plan {
	const oci_descriptor *desc;
	const char *diff_id;
	bool in_store, cached;
	int pipe_r, pipe_w;
};

struct pull {
	oci_store *store;
	registry *reg;
	oci_ref ref;
	char *name;
	oci_stage *stage;
	char top_digest[OCI_DIGEST_LEN + 1];	  /* what the tag names */
	char manifest_digest[OCI_DIGEST_LEN + 1]; /* the platform's manifest */
	oci_manifest manifest;
	oci_config config;
	bool have_manifest, have_config;
	FILE *out; /* progress, or NULL */
	struct layer_plan *layers;
	pid_t downloader;
	int err_r;
};

static int choose_from_index(struct pull *p, const char *text, size_t len, const oci_platform *want,
			     const char **digest, oci_index *idx, vce_err *err)
{
	int best = 0;
	cleanup_free char *list = xstrdup("");
	cleanup_free char *wanted = oci_platform_string(want->os, want->arch, want->variant);

	if (oci_index_parse(text, len, idx, err) < 0)
		return vce_error_wrap(err, "the index of %s", p->name);
	*digest = NULL;
	for (size_t i = 0; i < idx->n_manifests; i++) {
		const oci_descriptor *m = &idx->manifests[i];
		int score =
		    oci_platform_score(want, m->platform_os, m->platform_arch, m->platform_variant);
		if (m->platform_os && strcmp(m->platform_os, "unknown") != 0) {
			cleanup_free char *one = oci_platform_string(
			    m->platform_os, m->platform_arch, m->platform_variant);
			char *joined = xasprintf("%s%s%s", list, *list ? ", " : "", one);
			free(list);
			list = joined;
		}
		if (score > best && oci_is_manifest_type(m->media_type)) {
			best = score;
			*digest = m->digest;
		}
	}
	if (*digest == NULL)
		return vce_error_make(
		    err, 0, "%s has no image for %s; it has %s (choose one with --platform)",
		    p->name, wanted, *list ? list : "none that vce can run");
	return 0;
}

static int fetch_manifest(struct pull *p, const oci_platform *want, vce_err *err)
{
	cleanup_free char *text = NULL, *mt = NULL;
	const char *reference = p->ref.digest ? p->ref.digest : p->ref.tag;
	size_t len;

	if (registry_get_manifest(p->reg, reference, MANIFEST_MAX, &text, &len, &mt, p->top_digest,
				  err) < 0)
		return -1;
	if (oci_is_index_type(mt)) {
		oci_index idx;
		const char *digest;
		int ret = choose_from_index(p, text, len, want, &digest, &idx, err);
		free(text);
		free(mt);
		text = mt = NULL;
		if (ret == 0)
			ret = registry_get_manifest(p->reg, digest, MANIFEST_MAX, &text, &len, &mt,
						    p->manifest_digest, err);
		oci_index_free(&idx);
		if (ret < 0)
			return -1;
		if (!oci_is_manifest_type(mt))
			return vce_error_make(
			    err, 0, "%s: the index points at a %s, not a manifest", p->name, mt);
	} else if (oci_is_manifest_type(mt)) {
		memcpy(p->manifest_digest, p->top_digest, sizeof(p->manifest_digest));
	} else {
		return vce_error_make(
		    err, 0, "%s is a %s, which vce cannot pull (it pulls Docker v2 and OCI images)",
		    p->name, mt);
	}
	if (oci_manifest_parse(text, len, &p->manifest, err) < 0)
		return vce_error_wrap(err, "the manifest of %s", p->name);
	p->have_manifest = true;
	return oci_stage_write_bytes(p->stage, text, len, p->manifest_digest, err);
}

static int fetch_config(struct pull *p, const oci_platform *want, bool explicit_platform,
			vce_err *err)
{
	const char *digest = p->manifest.config.digest;
	cleanup_free char *text = NULL;
	char got[OCI_DIGEST_LEN + 1];
	size_t len;

	if (!oci_digest_valid(digest))
		return vce_error_make(err, 0, "the manifest of %s names no valid config", p->name);
	if (oci_store_has_blob(p->store, digest)) {
		if (oci_store_read_blob(p->store, digest, CONFIG_MAX, &text, &len, err) < 0)
			return -1;
	} else if (registry_get_blob(p->reg, digest, CONFIG_MAX, &text, &len, err) < 0) {
		return -1;
	}
	if (oci_config_parse(text, len, &p->config, err) < 0)
		return vce_error_wrap(err, "the config of %s", p->name);
	p->have_config = true;
	if (p->config.n_diff_ids != p->manifest.n_layers)
		return vce_error_make(
		    err, 0, "%s is inconsistent: its manifest lists %zu layers, its config %zu",
		    p->name, p->manifest.n_layers, p->config.n_diff_ids);
	if (oci_platform_score(want, p->config.os ? p->config.os : "linux", p->config.architecture,
			       p->config.variant) == 0) {
		cleanup_free char *has =
		    oci_platform_string(p->config.os, p->config.architecture, p->config.variant);
		cleanup_free char *wanted =
		    oci_platform_string(want->os, want->arch, want->variant);
		if (explicit_platform)
			return vce_error_make(err, 0, "%s is an image for %s, not %s", p->name, has,
					      wanted);
		vce_warn("%s is an image for %s; this machine is %s: it may not run", p->name, has,
			 wanted);
	}
	return oci_stage_write_bytes(p->stage, text, len, got, err);
}

static cache_compression to_cache(oci_compression c)
{
	return c == OCI_LAYER_GZIP ? CACHE_GZIP : c == OCI_LAYER_ZSTD ? CACHE_ZSTD : CACHE_PLAIN;
}

/* What each layer needs: nothing (stored and unpacked), an unpack from
 * the store, a download (to store; and to unpack unless cached). */
static int plan_layers(struct pull *p, cache *c, cache_layer *out, size_t *n_transfers,
		       vce_err *err)
{
	*n_transfers = 0;
	for (size_t i = 0; i < p->manifest.n_layers; i++) {
		struct layer_plan *l = &p->layers[i];
		oci_compression comp;

		l->desc = &p->manifest.layers[i];
		l->diff_id = p->config.diff_ids[i];
		if (oci_layer_compression(l->desc->media_type, &comp, err) < 0)
			return vce_error_wrap(err, "%s, layer %zu", p->name, i + 1);
		if (!oci_digest_valid(l->desc->digest) || l->desc->size < 0)
			return vce_error_make(err, 0, "%s: layer %zu has no valid digest and size",
					      p->name, i + 1);
		out[i].diff_id = l->diff_id;
		out[i].compression = to_cache(comp);
		out[i].diff_id_verified = false;
		l->in_store = oci_store_has_blob(p->store, l->desc->digest);
		l->cached = cache_has_layer(c, l->diff_id);
		if (l->in_store) {
			out[i].fd = oci_store_open_blob(p->store, l->desc->digest, err);
			if (out[i].fd < 0)
				return -1;
			continue;
		}
		++*n_transfers;
		if (l->cached)
			continue;
		{
			int fds[2];
			if (pipe2(fds, O_CLOEXEC) < 0)
				return vce_error_make(err, errno, "pipe");
			/* A deeper pipe: fewer wake-ups between feeder and unpack. */
			fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
			l->pipe_r = out[i].fd = fds[0];
			l->pipe_w = fds[1];
		}
	}
	return 0;
}

static void print_layer_states(struct pull *p)
{
	for (size_t i = 0; p->out && i < p->manifest.n_layers; i++)
		if (p->layers[i].in_store)
			fprintf(p->out, "%.12s: Already exists\n",
				hex_of(p->layers[i].desc->digest));
	if (p->out)
		fflush(p->out);
}

static int start_downloader(struct pull *p, size_t n_transfers, vce_err *err)
{
	int errpipe[2];
	pid_t pid;

	if (pipe2(errpipe, O_CLOEXEC) < 0)
		return vce_error_make(err, errno, "pipe");
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(errpipe[0]);
		close(errpipe[1]);
		return vce_error_make(err, errno, "fork");
	}
	if (pid == 0) {
		struct downloader d = { .reg = p->reg, .store = p->store, .out = p->out };
		vce_err e = NULL;
		close(errpipe[0]);
		for (size_t i = 0; i < p->manifest.n_layers; i++)
			if (p->layers[i].pipe_r >= 0)
				close(p->layers[i].pipe_r);
		pthread_mutex_init(&d.mu, NULL);
		pthread_cond_init(&d.cv, NULL);
		d.downloads_fd = openat(oci_store_dirfd(p->store), "downloads",
					O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d.downloads_fd < 0)
			vce_error_make(&e, errno, "open %s/downloads", oci_store_path(p->store));
		if (d.downloads_fd < 0) {
			cleanup_free char *text = vce_error_text(e);
			vce_write_all(errpipe[1], text, strlen(text), &e);
			_exit(1);
		}
		d.t = xcalloc(n_transfers, sizeof(*d.t));
		for (size_t i = 0; i < p->manifest.n_layers; i++) {
			struct layer_plan *l = &p->layers[i];
			if (l->in_store)
				continue;
			struct transfer *t = &d.t[d.n++];
			t->desc = l->desc;
			t->pipe_w = l->pipe_w;
			t->fd = -1;
			snprintf(t->short_id, sizeof(t->short_id), "%.12s",
				 hex_of(l->desc->digest));
		}
		d.err_fd = errpipe[1];
		registry_set_cancel(p->reg, &d.stop);
		_exit(run_downloader(&d));
	}
	close(errpipe[1]);
	p->err_r = errpipe[0];
	p->downloader = pid;
	for (size_t i = 0; i < p->manifest.n_layers; i++)
		vce_closep(&p->layers[i].pipe_w), p->layers[i].pipe_w = -1;
	return 0;
}

/* Waits for the downloader: its error, if it had one, is the reason to
 * give (an unpack whose stream ended early only echoes it). After a
 * failed unpack it gets a moment to report, then it is stopped: what it
 * fetched stays in downloads/ for the next pull. */
static int finish_downloader(struct pull *p, bool unpack_failed, vce_err *err)
{
	struct pollfd pfd = { .fd = p->err_r, .events = POLLIN };
	char buf[4096];
	ssize_t n = 0, got;
	int status = 0;

	if (p->downloader <= 0)
		return 0;
	if (unpack_failed && poll(&pfd, 1, 2000) <= 0)
		kill(p->downloader, SIGTERM);
	while ((got = read(p->err_r, buf + n, sizeof(buf) - 1 - (size_t)n)) > 0 ||
	       (got < 0 && errno == EINTR))
		n += got > 0 ? got : 0;
	buf[n] = '\0';
	vce_closep(&p->err_r);
	p->err_r = -1;
	while (waitpid(p->downloader, &status, 0) < 0 && errno == EINTR)
		;
	p->downloader = 0;
	if (n > 0)
		return vce_error_make(err, 0, "%s", buf);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (unpack_failed)
		return 0; /* stopped by us: the unpack's error stands */
	return vce_error_make(err, 0, "the download of %s was killed", p->name);
}

/* Moves the verified downloads into blobs/, under the store lock. */
static int commit_downloads(struct pull *p, vce_err *err)
{
	cleanup_close int dfd =
	    openat(oci_store_dirfd(p->store), "downloads", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int bfd = -1;

	for (size_t i = 0; i < p->manifest.n_layers; i++) {
		const char *hex = hex_of(p->layers[i].desc->digest);
		cleanup_close int fd = -1;
		if (oci_store_has_blob(p->store, p->layers[i].desc->digest))
			continue;
		if (dfd < 0)
			return vce_error_make(err, errno, "open %s/downloads",
					      oci_store_path(p->store));
		if (bfd < 0)
			bfd = openat(oci_store_dirfd(p->store), "blobs/sha256",
				     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		fd = openat(dfd, hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || fsync(fd) < 0 || renameat(dfd, hex, bfd, hex) < 0)
			return vce_error_make(err, errno, "move layer %s into %s/blobs",
					      p->layers[i].desc->digest, oci_store_path(p->store));
	}
	if (bfd >= 0)
		fsync(bfd);
	return 0;
}

static int record_image(struct pull *p, vce_err *err)
{
	oci_images images;
	int ret = -1;

	if (oci_store_lock(p->store, err) < 0)
		return -1;
	if (commit_downloads(p, err) < 0 ||
	    oci_stage_commit(p->stage, p->manifest.config.digest, err) < 0 ||
	    oci_stage_commit(p->stage, p->manifest_digest, err) < 0 ||
	    oci_images_load(p->store, &images, err) < 0)
		goto unlock;
	oci_images_add_name(&images,
			    oci_images_add(&images, p->manifest.config.digest, p->manifest_digest),
			    p->name);
	ret = oci_images_save(p->store, &images, err);
	oci_images_free(&images);
unlock:
	oci_store_unlock(p->store);
	return ret;
}

static int pull_layers(struct pull *p, vce_err *err)
{
	cache *c;
	cache_layer *layers = xcalloc(p->manifest.n_layers + 1, sizeof(*layers));
	cache_hold *hold = NULL;
	size_t n_transfers;
	int ret, dl;

	p->layers = xcalloc(p->manifest.n_layers + 1, sizeof(*p->layers));
	for (size_t i = 0; i < p->manifest.n_layers; i++)
		layers[i].fd = p->layers[i].pipe_r = p->layers[i].pipe_w = -1;
	ret = oci_store_cache(p->store, &c, err);
	if (ret == 0)
		ret = plan_layers(p, c, layers, &n_transfers, err);
	if (ret == 0) {
		print_layer_states(p);
		if (n_transfers > 0)
			ret = start_downloader(p, n_transfers, err);
	}
	if (ret == 0)
		ret = cache_unpack_image(c, layers, p->manifest.n_layers, &hold, err);
	for (size_t i = 0; i < p->manifest.n_layers; i++) {
		vce_closep(&layers[i].fd);
		vce_closep(&p->layers[i].pipe_w);
	}
	free(layers);
	/* The downloader's error says why an unpack saw its stream end. */
	vce_err dl_err = NULL;
	dl = finish_downloader(p, ret < 0, &dl_err);
	if (dl < 0) {
		vce_error_release(err);
		*err = dl_err;
		ret = -1;
	}
	if (ret == 0)
		ret = record_image(p, err);
	if (hold)
		cache_release(c, hold, ret < 0);
	return ret;
}

static bool up_to_date(struct pull *p)
{
	oci_images images;
	cleanup_err vce_err ignored = NULL;
	bool same = false;

	if (oci_images_load(p->store, &images, &ignored) < 0)
		return false;
	for (size_t i = 0; i < images.n && !same; i++) {
		if (strcmp(images.items[i].manifest, p->manifest_digest) != 0)
			continue;
		for (size_t k = 0; k < images.items[i].n_names; k++)
			same = same || strcmp(images.items[i].names[k], p->name) == 0;
	}
	oci_images_free(&images);
	return same;
}

static void free_pull(struct pull *p)
{
	if (p->downloader > 0) {
		cleanup_err vce_err ignored = NULL;
		kill(p->downloader, SIGTERM);
		finish_downloader(p, true, &ignored);
	}
	if (p->have_manifest)
		oci_manifest_free(&p->manifest);
	if (p->have_config)
		oci_config_free(&p->config);
	free(p->layers);
	free(p->name);
	registry_close(p->reg);
	oci_ref_free(&p->ref);
	oci_stage_free(p->stage);
}

int oci_pull(oci_store *store, const char *reference, const oci_pull_opts *opts, oci_pulled *out,
	     vce_err *err)
{
	struct pull p = { .store = store, .err_r = -1, .out = opts->progress };
	cleanup_free char *credentials = NULL;
	oci_platform want;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (opts->platform ? oci_platform_parse(opts->platform, &want, err) < 0
			   : (oci_platform_host(&want), false))
		return -1;
	if (oci_ref_parse(reference, &p.ref, err) < 0)
		return -1;
	p.name = oci_ref_canonical(&p.ref);
	credentials = registry_credentials(p.ref.domain);
	if (registry_open(&p.ref, credentials, &p.reg, err) < 0 ||
	    oci_stage_new(store, &p.stage, err) < 0)
		goto out;
	if (p.out) {
		fprintf(p.out, "%s: Pulling from %s\n", p.ref.digest ? p.ref.digest : p.ref.tag,
			p.ref.path);
		fflush(p.out);
	}
	if (fetch_manifest(&p, &want, err) < 0)
		goto out;
	out->up_to_date = up_to_date(&p);
	if (fetch_config(&p, &want, opts->platform != NULL, err) < 0 || pull_layers(&p, err) < 0)
		goto out;
	out->name = xstrdup(p.name);
	out->digest = xstrdup(p.top_digest);
	out->id = xstrdup(p.manifest.config.digest);
	ret = 0;
out:
	if (ret < 0)
		vce_error_wrap(err, "pull %s", reference);
	free_pull(&p);
	return ret;
}

void oci_pulled_free(oci_pulled *p)
{
	free(p->name);
	free(p->digest);
	free(p->id);
	memset(p, 0, sizeof(*p));
}

int oci_login(const char *domain, const char *user, const char *password, char **file, vce_err *err)
{
	cleanup_free char *credentials = xasprintf("%s:%s", user, password);
	int ret = registry_login(domain, credentials, err);

	explicit_bzero(credentials, strlen(credentials));
	if (ret < 0)
		return -1;
	return registry_store_credentials(domain, user, password, file, err);
}

int oci_logout(const char *domain, char **file, vce_err *err)
{
	return registry_store_credentials(domain, NULL, NULL, file, err);
}
