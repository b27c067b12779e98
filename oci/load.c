/* vce load: docker-archive (docker/podman save, several images per file,
 * Docker 25+'s OCI-flavoured variant), OCI archive, OCI layout directory;
 * the archive itself plain, gzip- or zstd-compressed.
 *
 * A tar is read once, front to back: docker save writes manifest.json
 * last, so every regular member is staged (and hashed while staged) as it
 * streams past. A layout directory is staged lazily, member by member.
 * Nothing reaches blobs/ or images.json until the whole input has been
 * read and checked; then the commit happens under the store lock.
 *
 * An uncompressed archive in a file (what `docker save -o` writes) is
 * not staged as it streams past: its members are indexed (offset, size),
 * the JSON documents read from it, and each layer is read once, from its
 * place in the archive, by its unpack, which also writes the store's copy
 * and checks the digest. So the layers' unpack starts at once, not after
 * a copy of the whole archive. */
#define _GNU_SOURCE
#include "oci.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/banned.h"
#include "../rootfs-cache/cache.h"
#include "internal.h"
#include "../common/json.h"

#define MAX_JSON       (16u << 20)
#define MAX_LINK_DEPTH 16

struct member {
	char *path;
	char digest[OCI_DIGEST_LEN + 1]; /* regular files: the staged blob */
	int64_t size;
	int64_t offset; /* indexed: where its bytes are in the archive; else -1 */
	char *link;	/* symlink or hardlink: the path it stands for */
};

struct source {
	const char *name; /* the user's path, for messages */
	oci_stage *stage;
	int layout_fd;	/* an OCI layout directory, else -1 */
	int archive_fd; /* an indexed archive, else -1 */
	int64_t archive_size;
	struct member *members;
	size_t n;
};

struct pending_layer {
	char digest[OCI_DIGEST_LEN + 1];
	char diff_id[OCI_DIGEST_LEN + 1];
	oci_compression compression;
	/* Not staged: the unpack reads it from the indexed archive. */
	ssize_t member;
};

struct pending_image {
	char id[OCI_DIGEST_LEN + 1];
	char manifest[OCI_DIGEST_LEN + 1];
	char **blobs; /* manifest, config, layers: what commit moves */
	size_t n_blobs;
	char **names;
	size_t n_names;
	struct pending_layer *layers; /* bottom first, for the unpack */
	size_t n_layers;
	cache_hold *hold;
};

struct pending {
	struct pending_image *items;
	size_t n;
};

/* "./a//b/" -> "a/b"; ".." is resolved lexically and may not climb above
 * the top (NULL then). */
char *oci_normalize_path(const char *path)
{
	char *out;
	size_t len = 0;
	const char *p = path;

	if (path == NULL)
		return NULL;
	out = xmalloc(strlen(path) + 1);

	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* skip */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (len == 0) {
				free(out);
				return NULL;
			}
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
		} else {
			if (len > 0)
				out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p = *end ? end + 1 : end;
	}
	out[len] = '\0';
	return out;
}

static struct member *add_member(struct source *src, char *normalized)
{
	for (size_t i = 0; i < src->n; i++) {
		if (strcmp(src->members[i].path, normalized) == 0) {
			/* A later entry of the same name replaces the earlier one, as tar does. */
			free(normalized);
			free(src->members[i].link);
			src->members[i].link = NULL;
			src->members[i].digest[0] = '\0';
			src->members[i].offset = -1;
			return &src->members[i];
		}
	}
	src->members = xrealloc(src->members, (src->n + 1) * sizeof(*src->members));
	src->members[src->n] = (struct member){ .path = normalized, .offset = -1 };
	return &src->members[src->n++];
}

static void free_source(struct source *src)
{
	for (size_t i = 0; i < src->n; i++) {
		free(src->members[i].path);
		free(src->members[i].link);
	}
	free(src->members);
	vce_closep(&src->layout_fd);
	vce_closep(&src->archive_fd);
}

/* A member named blobs/sha256/<hex> must hash to <hex>. */
static int check_blob_name(struct source *src, const struct member *m, vce_err *err)
{
	static const char prefix[] = "blobs/sha256/";
	cleanup_free char *expected = NULL;

	if (strncmp(m->path, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	expected = xasprintf("sha256:%s", m->path + sizeof(prefix) - 1);
	if (oci_digest_valid(expected) && strcmp(expected, m->digest) != 0)
		return vce_error_make(
		    err, 0,
		    "%s: blob %s does not match its content (%s): the archive is corrupt or was changed; make it again",
		    src->name, expected, m->digest);
	return 0;
}

ssize_t oci_read_archive_data(void *ctx, void *buf, size_t len, vce_err *err)
{
	struct archive *a = ctx;
	la_ssize_t n = archive_read_data(a, buf, len);

	if (n < 0)
		return vce_error_make(err, 0, "%s", archive_error_string(a));
	return n;
}

static ssize_t read_fd(void *ctx, void *buf, size_t len, vce_err *err)
{
	ssize_t n;

	do
		n = read(*(int *)ctx, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return vce_error_make(err, errno, "read");
	return n;
}

/* Where an indexed member's bytes are; they are skipped (seeked over),
 * after a look at the first few to be sure the offset is right. */
static int index_member(struct source *src, struct archive *a, struct archive_entry *e,
			struct member *m, vce_err *err)
{
	unsigned char head[16], at[16];
	la_int64_t offset = archive_filter_bytes(a, 0);
	la_int64_t size = archive_entry_size(e);
	size_t want = size < (la_int64_t)sizeof(head) ? (size_t)size : sizeof(head);

	if (offset < 0 || size < 0 || offset + size > src->archive_size)
		return vce_error_make(err, 0, "%s: the archive is truncated in %s", src->name,
				      m->path);
	if (want > 0 && (archive_read_data(a, head, want) != (la_ssize_t)want ||
			 pread(src->archive_fd, at, want, offset) != (ssize_t)want ||
			 memcmp(head, at, want) != 0))
		return vce_error_make(
		    err, 0, "%s: %s is not where its tar header says: the archive is corrupt",
		    src->name, m->path);
	m->offset = offset;
	m->size = size;
	return 0;
}

static int stage_tar_entry(struct source *src, struct archive *a, struct archive_entry *e,
			   vce_err *err)
{
	const char *hardlink = archive_entry_hardlink(e);
	const char *name = archive_entry_pathname(e);
	char *path = oci_normalize_path(name);
	struct member *m;

	if (name == NULL)
		return vce_error_make(err, 0, "%s: an entry has no name: the archive is corrupt",
				      src->name);
	if (path == NULL || *path == '\0') {
		free(path);
		return 0; /* the root, or a name above it: nothing an image refers to */
	}
	if (hardlink) {
		m = add_member(src, path);
		m->link = oci_normalize_path(hardlink);
		return 0;
	}
	switch (archive_entry_filetype(e)) {
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);
		m = add_member(src, path);
		if (target && target[0] != '/') {
			cleanup_free char *dir = xstrdup(m->path);
			char *slash = strrchr(dir, '/');
			cleanup_free char *joined = NULL;
			if (slash)
				*slash = '\0';
			joined = slash ? xasprintf("%s/%s", dir, target) : xstrdup(target);
			m->link = oci_normalize_path(joined);
		}
		return 0;
	}
	case AE_IFREG:
		m = add_member(src, path);
		/* A sparse member's bytes are not in one piece: staged. */
		if (src->archive_fd >= 0 && archive_entry_sparse_count(e) == 0)
			return index_member(src, a, e, m, err);
		if (oci_stage_write(src->stage, oci_read_archive_data, a, m->digest, &m->size,
				    err) < 0)
			return vce_error_wrap(
			    err, "%s: cannot read %s (the archive is truncated or corrupt)",
			    src->name, m->path);
		return check_blob_name(src, m, err);
	default:
		free(path);
		return 0;
	}
}

static int open_input(const char *path, vce_err *err)
{
	struct stat st;
	int fd;

	if (strcmp(path, "-") == 0)
		return dup(STDIN_FILENO);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vce_error_make(err, errno, "cannot open %s", path);
	/* A pipe is fine: `vce load -i <(curl ...)`. */
	if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))) {
		close(fd);
		return vce_error_make(
		    err, 0,
		    "%s is not a file: give a docker-archive or OCI archive (.tar), or an OCI layout folder",
		    path);
	}
	if (S_ISREG(st.st_mode) && st.st_size == 0) {
		close(fd);
		return vce_error_make(
		    err, 0,
		    "%s is empty: expected an image archive as `docker save` or `vce save` writes",
		    path);
	}
	return fd;
}

static int read_tar(struct source *src, const char *path, vce_err *err)
{
	cleanup_close int fd = open_input(path, err);
	struct archive *a;
	struct archive_entry *e;
	struct stat st;
	size_t entries = 0;
	int ret = 0, r;

	if (fd < 0)
		return -1;
	a = archive_read_new();
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, 1 << 20) != ARCHIVE_OK) {
		ret = vce_error_make(
		    err, 0,
		    "%s is not an image archive (%s): expected a tar as `docker save` or `vce save` writes",
		    src->name, archive_error_string(a));
		goto out;
	}
	/* Only the pass-through filter: a plain tar, its members readable in place. */
	if (archive_filter_count(a) == 1 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		src->archive_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		src->archive_size = st.st_size;
	}
	while ((r = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		/* No tool that writes image archives leaves anything for a
		 * warning ("Skipping to next header" is damage): refuse it. */
		if (r != ARCHIVE_OK) {
			ret = vce_error_make(err, 0, "%s: %s %s (%s)", src->name,
					     entries ? "the archive is truncated or corrupt after"
						     : "is not an image archive:",
					     entries ? archive_entry_pathname(e) ?: "an entry"
						     : "expected a tar",
					     archive_error_string(a));
			goto out;
		}
		entries++;
		if (stage_tar_entry(src, a, e, err) < 0) {
			ret = -1;
			goto out;
		}
	}
out:
	archive_read_free(a);
	return ret;
}

static struct member *find_member(struct source *src, const char *path, int depth)
{
	cleanup_free char *norm = oci_normalize_path(path);

	if (norm == NULL || depth > MAX_LINK_DEPTH)
		return NULL;
	for (size_t i = 0; i < src->n; i++) {
		struct member *m = &src->members[i];
		if (strcmp(m->path, norm) != 0)
			continue;
		if (m->link)
			return find_member(src, m->link, depth + 1);
		return m->digest[0] || m->offset >= 0 ? m : NULL;
	}
	return NULL;
}

struct window {
	int fd;
	int64_t pos, end;
};

static ssize_t read_window(void *ctx, void *buf, size_t len, vce_err *err)
{
	struct window *w = ctx;
	ssize_t n;

	if ((int64_t)len > w->end - w->pos)
		len = (size_t)(w->end - w->pos);
	if (len == 0)
		return 0;
	do
		n = pread(w->fd, buf, len, w->pos);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return vce_error_make(err, errno, "read");
	if (n == 0)
		return vce_error_make(err, 0, "the archive is truncated");
	w->pos += n;
	return n;
}

/* An indexed member, copied into the stage from its place in the archive. */
static int stage_indexed(struct source *src, struct member *m, vce_err *err)
{
	struct window w = { src->archive_fd, m->offset, m->offset + m->size };

	if (oci_stage_write(src->stage, read_window, &w, m->digest, NULL, err) < 0)
		return vce_error_wrap(err, "%s: cannot read %s", src->name, m->path);
	return check_blob_name(src, m, err);
}

/* The member at path, staged; in a layout directory or an indexed archive
 * it is staged now. Returns 1, with no error, when there is no such member. */
static int source_find(struct source *src, const char *path, struct member **out, vce_err *err)
{
	struct member *m = find_member(src, path, 0);
	cleanup_close int fd = -1;
	char *norm;

	if (m && m->digest[0] == '\0' && stage_indexed(src, m, err) < 0)
		return -1;
	if (m == NULL && src->layout_fd >= 0 && (norm = oci_normalize_path(path)) != NULL) {
		fd = vce_open_beneath(src->layout_fd, norm, O_RDONLY, 0, err);
		if (fd < 0) {
			free(norm);
			if ((*err)->status == ENOENT)
				vce_error_release(err);
			else
				return vce_error_wrap(err, "%s", src->name);
		} else {
			m = add_member(src, norm);
			if (oci_stage_write(src->stage, read_fd, &fd, m->digest, &m->size, err) < 0)
				return vce_error_wrap(err, "%s/%s", src->name, m->path);
			if (check_blob_name(src, m, err) < 0)
				return -1;
		}
	}
	*out = m;
	return m ? 0 : 1;
}

static int source_get(struct source *src, const char *path, struct member **out, vce_err *err)
{
	int ret = source_find(src, path, out, err);

	if (ret > 0)
		return vce_error_make(err, 0,
				      "%s has no %s: the archive is incomplete; make it again",
				      src->name, path);
	return ret;
}

static int source_read(struct source *src, struct member *m, char **text, size_t *len, vce_err *err)
{
	cleanup_close int fd = oci_stage_open(src->stage, m->digest, err);
	cleanup_free char *buf = NULL;
	ssize_t n;

	if (fd < 0)
		return -1;
	if (m->size > (int64_t)MAX_JSON)
		return vce_error_make(err, 0, "%s: %s is too large for a JSON document", src->name,
				      m->path);
	buf = xmalloc((size_t)m->size + 1);
	n = pread(fd, buf, (size_t)m->size, 0);
	if (n != m->size)
		return vce_error_make(err, errno, "read %s from %s", m->path, src->name);
	buf[n] = '\0';
	*text = buf;
	*len = (size_t)n;
	buf = NULL;
	return 0;
}

static int source_read_path(struct source *src, const char *path, char **text, size_t *len,
			    vce_err *err)
{
	struct member *m;

	if (source_get(src, path, &m, err) < 0)
		return -1;
	return source_read(src, m, text, len, err);
}

/* A blob the manifest names: present, of the right size and digest. */
static int source_blob(struct source *src, const oci_descriptor *d, struct member **out,
		       vce_err *err)
{
	cleanup_free char *path = xasprintf("blobs/sha256/%s", d->digest + 7);
	struct member *m;

	int found = source_find(src, path, &m, err);

	if (found < 0)
		return -1;
	if (found > 0)
		return vce_error_make(
		    err, 0,
		    "%s: the manifest names blob %s, which the archive does not contain; make the archive again",
		    src->name, d->digest);
	if (strcmp(m->digest, d->digest) != 0)
		return vce_error_make(
		    err, 0,
		    "%s: blob %s does not match its digest (content is %s); the archive is corrupt",
		    src->name, d->digest, m->digest);
	if (m->size != d->size)
		return vce_error_make(
		    err, 0,
		    "%s: blob %s is %lld bytes, the manifest says %lld; the archive is corrupt",
		    src->name, d->digest, (long long)m->size, (long long)d->size);
	*out = m;
	return 0;
}

/* A layer the manifest names. An indexed one of the right size is left
 * where it is, for its unpack to read, store and check; any other is
 * staged and checked now, as any blob. */
static int source_layer(struct source *src, const oci_descriptor *d, struct member **out,
			vce_err *err)
{
	cleanup_free char *path = xasprintf("blobs/sha256/%s", d->digest + 7);
	struct member *m = find_member(src, path, 0);

	if (m && m->digest[0] == '\0' && m->offset >= 0 && m->size == d->size && m->size > 0) {
		*out = m;
		return 0;
	}
	return source_blob(src, d, out, err);
}

static void add_string(char ***list, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*list)[i], s) == 0)
			return;
	*list = xrealloc(*list, (*n + 1) * sizeof(char *));
	(*list)[(*n)++] = xstrdup(s);
}

static struct pending_image *new_pending(struct pending *p)
{
	p->items = xrealloc(p->items, (p->n + 1) * sizeof(*p->items));
	memset(&p->items[p->n], 0, sizeof(p->items[0]));
	return &p->items[p->n++];
}

static void free_pending(struct pending *p)
{
	for (size_t i = 0; i < p->n; i++) {
		for (size_t k = 0; k < p->items[i].n_blobs; k++)
			free(p->items[i].blobs[k]);
		free(p->items[i].blobs);
		for (size_t k = 0; k < p->items[i].n_names; k++)
			free(p->items[i].names[k]);
		free(p->items[i].names);
		free(p->items[i].layers);
	}
	free(p->items);
}

static int add_name(struct source *src, struct pending_image *img, const char *text, vce_err *err)
{
	oci_ref ref;
	cleanup_free char *canonical = NULL;

	if (oci_ref_parse(text, &ref, err) < 0)
		return vce_error_wrap(err, "%s names an image", src->name);
	canonical = oci_ref_canonical(&ref);
	oci_ref_free(&ref);
	add_string(&img->names, &img->n_names, canonical);
	return 0;
}

/* ---- OCI: index.json -> (index ->)* manifest -> config + layers ---- */

static int read_config(struct source *src, struct member *config, oci_config *c, vce_err *err)
{
	cleanup_free char *text = NULL;
	size_t len;

	if (source_read(src, config, &text, &len, err) < 0 ||
	    oci_config_parse(text, len, c, err) < 0)
		return vce_error_wrap(err, "%s", src->name);
	return 0;
}

/* m: the layer's member, when it is not staged (-1 is recorded then). */
static void add_layer(struct source *src, struct pending_image *img, const char *digest,
		      const char *diff_id, oci_compression compression, const struct member *m)
{
	struct pending_layer *l;

	img->layers = xrealloc(img->layers, (img->n_layers + 1) * sizeof(*img->layers));
	l = &img->layers[img->n_layers++];
	memcpy(l->digest, digest, sizeof(l->digest));
	memcpy(l->diff_id, diff_id, sizeof(l->diff_id));
	l->compression = compression;
	l->member = m && m->digest[0] == '\0' ? m - src->members : -1;
}

static int stage_oci_manifest(struct source *src, const oci_descriptor *d,
			      struct pending_image *img, vce_err *err)
{
	cleanup_free char *text = NULL;
	struct member *m, *config;
	oci_manifest man;
	oci_config c = { 0 };
	size_t len;
	int ret = -1;

	if (source_blob(src, d, &m, err) < 0 || source_read(src, m, &text, &len, err) < 0)
		return -1;
	if (oci_manifest_parse(text, len, &man, err) < 0)
		return vce_error_wrap(err, "%s: %s", src->name, d->digest);
	if (source_blob(src, &man.config, &config, err) < 0 ||
	    read_config(src, config, &c, err) < 0)
		goto out;
	if (c.n_diff_ids != man.n_layers) {
		vce_error_make(
		    err, 0,
		    "%s: the image config lists %zu layers, the manifest %zu; the archive is corrupt",
		    src->name, c.n_diff_ids, man.n_layers);
		goto out;
	}
	add_string(&img->blobs, &img->n_blobs, d->digest);
	add_string(&img->blobs, &img->n_blobs, man.config.digest);
	for (size_t i = 0; i < man.n_layers; i++) {
		struct member *layer;
		oci_compression compression;
		if (source_layer(src, &man.layers[i], &layer, err) < 0 ||
		    oci_layer_compression(man.layers[i].media_type, &compression, err) < 0)
			goto out;
		add_string(&img->blobs, &img->n_blobs, man.layers[i].digest);
		add_layer(src, img, man.layers[i].digest, c.diff_ids[i], compression, layer);
	}
	memcpy(img->id, man.config.digest, sizeof(img->id));
	memcpy(img->manifest, d->digest, sizeof(img->manifest));
	ret = 0;
out:
	oci_config_free(&c);
	oci_manifest_free(&man);
	return ret;
}

static bool platform_matches(const oci_descriptor *d)
{
	const char *variant = oci_host_variant();

	if (d->platform_os && strcmp(d->platform_os, "linux") != 0)
		return false;
	if (d->platform_arch == NULL || strcmp(d->platform_arch, oci_host_arch()) != 0)
		return false;
	return d->platform_variant == NULL || *variant == '\0' ||
	       strcmp(d->platform_variant, variant) == 0;
}

static int resolve_descriptor(struct source *src, const oci_descriptor *d,
			      struct pending_image *img, int depth, vce_err *err);

/* A multi-platform image: the entry for this machine. */
static int resolve_nested_index(struct source *src, const oci_descriptor *d,
				struct pending_image *img, int depth, vce_err *err)
{
	cleanup_free char *text = NULL;
	struct member *m;
	oci_index idx;
	size_t len;
	int ret;

	if (source_blob(src, d, &m, err) < 0 || source_read(src, m, &text, &len, err) < 0)
		return -1;
	if (oci_index_parse(text, len, &idx, err) < 0)
		return vce_error_wrap(err, "%s: %s", src->name, d->digest);
	for (size_t i = 0; i < idx.n_manifests; i++) {
		if (platform_matches(&idx.manifests[i])) {
			ret = resolve_descriptor(src, &idx.manifests[i], img, depth + 1, err);
			oci_index_free(&idx);
			if (ret == 0)
				add_string(&img->blobs, &img->n_blobs, d->digest);
			return ret;
		}
	}
	oci_index_free(&idx);
	return vce_error_make(err, 0,
			      "%s holds no image for linux/%s: get one built for this machine",
			      src->name, oci_host_arch());
}

static int resolve_descriptor(struct source *src, const oci_descriptor *d,
			      struct pending_image *img, int depth, vce_err *err)
{
	if (depth > 4)
		return vce_error_make(err, 0, "%s: indexes nest too deeply", src->name);
	if (oci_is_index_type(d->media_type))
		return resolve_nested_index(src, d, img, depth, err);
	return stage_oci_manifest(src, d, img, err);
}

/* io.containerd.image.name is a full name; ref.name is one when it has a
 * ':' or '/' (skopeo, podman), a bare tag otherwise, which names nothing. */
static const char *oci_entry_name(const oci_descriptor *d)
{
	if (d->image_name)
		return d->image_name;
	if (d->ref_name && strpbrk(d->ref_name, ":/"))
		return d->ref_name;
	return NULL;
}

static int load_oci(struct source *src, struct pending *out, vce_err *err)
{
	cleanup_free char *text = NULL;
	oci_index idx;
	size_t len;
	int ret = 0;

	if (source_read_path(src, "index.json", &text, &len, err) < 0)
		return -1;
	if (oci_index_parse(text, len, &idx, err) < 0)
		return vce_error_wrap(err, "%s: index.json", src->name);
	if (idx.n_manifests == 0)
		ret = vce_error_make(err, 0, "%s: index.json lists no images", src->name);
	for (size_t i = 0; ret == 0 && i < idx.n_manifests; i++) {
		const oci_descriptor *d = &idx.manifests[i];
		const char *name = oci_entry_name(d);
		struct pending_image *img = new_pending(out);

		ret = resolve_descriptor(src, d, img, 0, err);
		if (ret == 0 && name)
			ret = add_name(src, img, name, err);
	}
	oci_index_free(&idx);
	return ret;
}

/* ---- docker-archive: manifest.json -> config + layer tars ---- */

static const char *layer_media_type(struct source *src, struct member *m)
{
	unsigned char head[4] = { 0 };
	cleanup_err vce_err err = NULL;
	cleanup_close int fd = m->digest[0] ? oci_stage_open(src->stage, m->digest, &err) : -1;
	int at = m->digest[0] ? fd : src->archive_fd;

	if (at >= 0 && pread(at, head, sizeof(head), m->digest[0] ? 0 : m->offset) > 0) {
		switch (oci_sniff_compression(head, sizeof(head))) {
		case OCI_LAYER_GZIP:
			return OCI_MT_LAYER_GZIP;
		case OCI_LAYER_ZSTD:
			return OCI_MT_LAYER_ZSTD;
		case OCI_LAYER_TAR:
			break;
		}
	}
	return OCI_MT_LAYER;
}

static oci_compression mt_compression(const char *mt)
{
	oci_compression c = OCI_LAYER_TAR;
	cleanup_err vce_err ignored = NULL;

	oci_layer_compression(mt, &c, &ignored);
	return c;
}

static json_t *descriptor_json(const char *media_type, const char *digest, int64_t size)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size",
			 (json_int_t)size);
}

/* docker-archive layers are uncompressed tars, so their digest is the
 * diff_id the config lists: checked here, while nothing is stored yet. */
static int docker_layers(struct source *src, json_t *entry, const oci_config *c, json_t *layers,
			 struct pending_image *img, vce_err *err)
{
	json_t *paths = json_object_get(entry, "Layers");
	size_t i;
	json_t *p;

	if (!json_is_array(paths) || json_array_size(paths) != c->n_diff_ids)
		return vce_error_make(
		    err, 0,
		    "%s: manifest.json lists %zu layers, the image config %zu; the archive is corrupt",
		    src->name, json_array_size(paths), c->n_diff_ids);
	json_array_foreach (paths, i, p) {
		struct member *m;
		const char *mt;
		if (!json_is_string(p))
			return vce_error_make(err, 0, "%s: manifest.json: a layer is not a path",
					      src->name);
		m = find_member(src, json_string_value(p), 0);
		if (m && m->digest[0] == '\0' && m->offset >= 0 && m->size > 0 &&
		    strcmp(layer_media_type(src, m), OCI_MT_LAYER) == 0) {
			/* Plain: its digest is the diff_id, which its unpack
			 * checks as it reads it from the archive. */
			json_array_append_new(
			    layers, descriptor_json(OCI_MT_LAYER, c->diff_ids[i], m->size));
			add_string(&img->blobs, &img->n_blobs, c->diff_ids[i]);
			add_layer(src, img, c->diff_ids[i], c->diff_ids[i], OCI_LAYER_TAR, m);
			continue;
		}
		if (source_get(src, json_string_value(p), &m, err) < 0)
			return -1;
		mt = layer_media_type(src, m);
		if (strcmp(mt, OCI_MT_LAYER) == 0 && strcmp(m->digest, c->diff_ids[i]) != 0)
			return vce_error_make(
			    err, 0,
			    "%s: layer %s does not match the image config (%s, expected %s); the archive is corrupt",
			    src->name, m->path, m->digest, c->diff_ids[i]);
		json_array_append_new(layers, descriptor_json(mt, m->digest, m->size));
		add_string(&img->blobs, &img->n_blobs, m->digest);
		add_layer(src, img, m->digest, c->diff_ids[i], mt_compression(mt), m);
	}
	return 0;
}

static int docker_image(struct source *src, json_t *entry, struct pending_image *img, vce_err *err)
{
	const char *config_path = vce_json_string(entry, "Config");
	cleanup_free char *text = NULL, *manifest_text = NULL;
	cleanup_json json_t *manifest = NULL;
	json_t *tags = json_object_get(entry, "RepoTags");
	struct member *config;
	oci_config c;
	size_t len, i;
	json_t *tag;
	int ret;

	if (config_path == NULL)
		return vce_error_make(err, 0, "%s: manifest.json has an entry without \"Config\"",
				      src->name);
	if (source_get(src, config_path, &config, err) < 0 ||
	    source_read(src, config, &text, &len, err) < 0)
		return -1;
	if (oci_config_parse(text, len, &c, err) < 0)
		return vce_error_wrap(err, "%s: %s", src->name, config_path);
	manifest = json_pack(
	    "{s:i, s:s, s:o, s:[]}", "schemaVersion", 2, "mediaType", OCI_MT_MANIFEST, "config",
	    descriptor_json(OCI_MT_CONFIG, config->digest, config->size), "layers");
	ret = docker_layers(src, entry, &c, json_object_get(manifest, "layers"), img, err);
	oci_config_free(&c);
	if (ret < 0)
		return -1;
	manifest_text = json_dumps(manifest, JSON_COMPACT);
	if (oci_stage_write_bytes(src->stage, manifest_text, strlen(manifest_text), img->manifest,
				  err) < 0)
		return -1;
	memcpy(img->id, config->digest, sizeof(img->id));
	add_string(&img->blobs, &img->n_blobs, img->manifest);
	add_string(&img->blobs, &img->n_blobs, config->digest);
	json_array_foreach (tags, i, tag) {
		if (json_is_string(tag) && add_name(src, img, json_string_value(tag), err) < 0)
			return -1;
	}
	return 0;
}

static int load_docker(struct source *src, struct pending *out, vce_err *err)
{
	cleanup_free char *text = NULL;
	cleanup_json json_t *root = NULL;
	json_error_t jerr;
	size_t len, i;
	json_t *entry;

	if (source_read_path(src, "manifest.json", &text, &len, err) < 0)
		return -1;
	root = json_loadb(text, len, 0, &jerr);
	if (!json_is_array(root))
		return vce_error_make(
		    err, 0, "%s: manifest.json is malformed (%s); expected a list of images",
		    src->name, root ? "not a list" : jerr.text);
	if (json_array_size(root) == 0)
		return vce_error_make(err, 0, "%s: manifest.json lists no images", src->name);
	json_array_foreach (root, i, entry) {
		if (docker_image(src, entry, new_pending(out), err) < 0)
			return -1;
	}
	return 0;
}

/* ---- commit ---- */

/* ---- unpack: into the cache, before the images are recorded ---- */

static cache_compression to_cache(oci_compression c)
{
	return c == OCI_LAYER_GZIP ? CACHE_GZIP : c == OCI_LAYER_ZSTD ? CACHE_ZSTD : CACHE_PLAIN;
}

/* The first layer of the image before i with this digest, or i. */
static size_t first_with_digest(const struct pending_image *img, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (strcmp(img->layers[k].digest, img->layers[i].digest) == 0)
			return k;
	return i;
}

/* A layer still in the indexed archive: its unpack reads it there and,
 * given a tmpname, writes the store's copy into that file of the stage. */
static int read_in_place(struct source *src, const struct pending_layer *l, cache_layer *out,
			 char tmpname[17], vce_err *err)
{
	const struct member *m = &src->members[l->member];

	out->fd = fcntl(src->archive_fd, F_DUPFD_CLOEXEC, 0);
	if (out->fd < 0)
		return vce_error_make(err, errno, "dup");
	out->offset = m->offset;
	out->length = m->size;
	out->diff_id_verified = false;
	if (tmpname == NULL)
		return 0;
	out->tee_fd = oci_stage_create_tmp(src->stage, tmpname, err);
	if (out->tee_fd < 0)
		return -1;
	out->tee_digest = l->digest;
	return 0;
}

/* After the unpack: a copy its unpack wrote and checked becomes the
 * staged blob; a layer that was cached already (not read) is staged now,
 * from the archive, and checked. */
static int keep_copy(struct source *src, const struct pending_layer *l, const cache_layer *cl,
		     const char *tmpname, vce_err *err)
{
	struct member *m = &src->members[l->member];
	struct stat st;

	if (fstat(cl->tee_fd, &st) == 0 && st.st_size == m->size)
		return oci_stage_adopt(src->stage, tmpname, l->digest, err);
	oci_stage_drop_tmp(src->stage, tmpname);
	if (oci_stage_has(src->stage, l->digest))
		return 0;
	if (stage_indexed(src, m, err) < 0)
		return -1;
	if (strcmp(m->digest, l->digest) != 0)
		return vce_error_make(
		    err, 0,
		    "%s: layer %s does not match the image (its content is %s): the archive is corrupt; make it again",
		    src->name, l->digest, m->digest);
	return 0;
}

static int unpack_image(oci_store *store, cache *c, struct source *src, struct pending_image *img,
			vce_err *err)
{
	cache_layer *layers = xcalloc(img->n_layers, sizeof(*layers));
	char(*tmpnames)[17] = xcalloc(img->n_layers, sizeof(*tmpnames));
	int ret = 0;

	for (size_t i = 0; i < img->n_layers; i++)
		layers[i].fd = layers[i].tee_fd = -1;
	for (size_t i = 0; ret == 0 && i < img->n_layers; i++) {
		struct pending_layer *l = &img->layers[i];
		layers[i].diff_id = l->diff_id;
		layers[i].compression = to_cache(l->compression);
		if (l->member >= 0 && !oci_stage_has(src->stage, l->digest)) {
			/* A layer twice in the image is stored once. */
			bool first = first_with_digest(img, i) == i;
			ret = read_in_place(src, l, &layers[i], first ? tmpnames[i] : NULL, err);
			continue;
		}
		/* A plain layer was hashed when staged: that digest is the diff_id. */
		layers[i].diff_id_verified =
		    l->compression == OCI_LAYER_TAR && strcmp(l->digest, l->diff_id) == 0;
		layers[i].fd = oci_stage_has(src->stage, l->digest)
				   ? oci_stage_open(src->stage, l->digest, err)
				   : oci_store_open_blob(store, l->digest, err);
		if (layers[i].fd < 0)
			ret = -1;
	}
	if (ret == 0)
		ret = cache_unpack_image(c, layers, img->n_layers, &img->hold, err);
	if (ret < 0)
		vce_error_wrap(err, "%s", src->name);
	/* keep_copy's errors name the archive themselves. */
	for (size_t i = 0; i < img->n_layers; i++) {
		if (layers[i].tee_digest) {
			if (ret == 0)
				ret = keep_copy(src, &img->layers[i], &layers[i], tmpnames[i], err);
			else
				oci_stage_drop_tmp(src->stage, tmpnames[i]);
		}
		vce_closep(&layers[i].fd);
		vce_closep(&layers[i].tee_fd);
	}
	free(tmpnames);
	free(layers);
	return ret;
}

static void release_holds(cache *c, struct pending *p, bool discard)
{
	for (size_t i = 0; i < p->n; i++) {
		cache_release(c, p->items[i].hold, discard);
		p->items[i].hold = NULL;
	}
}

static int unpack_all(oci_store *store, struct source *src, struct pending *p, vce_err *err)
{
	cache *c;

	if (oci_store_cache(store, &c, err) < 0)
		return -1;
	for (size_t i = 0; i < p->n; i++) {
		if (unpack_image(store, c, src, &p->items[i], err) < 0) {
			release_holds(c, p, true);
			return -1;
		}
	}
	return 0;
}

static int commit(oci_store *store, struct source *src, struct pending *p, vce_err *err)
{
	oci_images images;
	int ret = -1;

	if (oci_store_lock(store, err) < 0)
		return -1;
	if (oci_images_load(store, &images, err) < 0)
		goto unlock;
	for (size_t i = 0; i < p->n; i++) {
		struct pending_image *img = &p->items[i];
		size_t before = images.n;
		size_t at = oci_images_add(&images, img->id, img->manifest);
		/* An image the store has (the same config, perhaps in another
		 * compression) keeps what it had; it only gains names. */
		for (size_t k = 0; at == before && k < img->n_blobs; k++)
			if (oci_stage_commit(src->stage, img->blobs[k], err) < 0)
				goto out;
		for (size_t k = 0; k < img->n_names; k++)
			oci_images_add_name(&images, at, img->names[k]);
	}
	ret = oci_images_save(store, &images, err);
out:
	oci_images_free(&images);
unlock:
	oci_store_unlock(store);
	return ret;
}

static void report(const struct pending *p, oci_loaded *out)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct pending_image *img = &p->items[i];
		for (size_t k = 0; k < img->n_names; k++) {
			oci_ref ref;
			cleanup_err vce_err err = NULL;
			if (oci_ref_parse(img->names[k], &ref, &err) < 0)
				continue;
			cleanup_free char *repo = oci_ref_familiar_repo(&ref);
			cleanup_free char *line = xasprintf("Loaded image: %s:%s", repo, ref.tag);
			add_string(&out->lines, &out->n, line);
			oci_ref_free(&ref);
		}
		if (img->n_names == 0) {
			cleanup_free char *line = xasprintf("Loaded image ID: %s", img->id);
			add_string(&out->lines, &out->n, line);
		}
	}
}

void oci_loaded_free(oci_loaded *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->lines[i]);
	free(l->lines);
	memset(l, 0, sizeof(*l));
}

static int read_input(struct source *src, const char *path, vce_err *err)
{
	struct stat st;

	if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		src->layout_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (src->layout_fd < 0)
			return vce_error_make(err, errno, "cannot open %s", path);
		if (faccessat(src->layout_fd, "index.json", F_OK, 0) < 0)
			return vce_error_make(
			    err, 0,
			    "%s is a folder without index.json: expected an OCI image layout",
			    path);
		return 0;
	}
	return read_tar(src, path, err);
}

int oci_load(oci_store *store, const char *path, oci_loaded *out, vce_err *err)
{
	struct source src = { .name = strcmp(path, "-") == 0 ? "standard input" : path,
			      .layout_fd = -1,
			      .archive_fd = -1 };
	struct pending pending = { 0 };
	struct member *m;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (oci_stage_new(store, &src.stage, err) < 0)
		return -1;
	if (read_input(&src, path, err) < 0)
		goto out;
	/* Docker 25+ writes an OCI layout and manifest.json; the latter
	 * carries the names, so it wins. */
	ret = source_find(&src, "manifest.json", &m, err);
	if (ret == 0) {
		ret = load_docker(&src, &pending, err);
	} else if (ret > 0) {
		if (src.layout_fd < 0 && find_member(&src, "index.json", 0) == NULL) {
			ret = vce_error_make(
			    err, 0,
			    "%s has neither manifest.json (docker-archive) nor index.json (OCI archive): it is not an image archive; make one with `docker save` or `vce save`",
			    src.name);
			goto out;
		}
		ret = load_oci(&src, &pending, err);
	}
	if (ret == 0)
		ret = unpack_all(store, &src, &pending, err);
	if (ret == 0) {
		cache *c = NULL;
		ret = commit(store, &src, &pending, err);
		/* Opened by unpack_all: this cannot fail. */
		oci_store_cache(store, &c, err);
		release_holds(c, &pending, ret < 0);
	}
	if (ret == 0)
		report(&pending, out);
out:
	free_pending(&pending);
	free_source(&src);
	oci_stage_free(src.stage);
	return ret;
}
