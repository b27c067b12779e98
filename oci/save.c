/* vce save: a docker-archive (what docker/podman load and skopeo read) or
 * an OCI archive. libarchive writes the tar stream; the output is a
 * temporary file renamed over the target only when complete. */
#define _GNU_SOURCE
#include "oci.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/banned.h"
#include "internal.h"
#include "../common/json.h"

#define MAX_JSON (16u << 20)
#define COPY_BUF (1u << 20)

struct saved_image {
	char *manifest_digest;
	int64_t manifest_size;
	oci_manifest manifest;
	char **names; /* canonical */
	size_t n_names;
};

struct writer {
	struct archive *a;
	oci_store *store;
	const char *path;
	char **written; /* entry names already in the archive */
	size_t n_written;
};

/* True if the entry is in the archive already; records it otherwise. */
static bool already_written(struct writer *w, const char *name)
{
	for (size_t i = 0; i < w->n_written; i++)
		if (strcmp(w->written[i], name) == 0)
			return true;
	w->written = xrealloc(w->written, (w->n_written + 1) * sizeof(char *));
	w->written[w->n_written++] = xstrdup(name);
	return false;
}

static int archive_fail(struct writer *w, vce_err *err)
{
	int e = archive_errno(w->a);
	const char *msg = archive_error_string(w->a);

	return vce_error_make(err, e > 0 ? e : 0, "write %s%s%s", w->path, msg ? ": " : "",
			      msg ? msg : "");
}

static int write_header(struct writer *w, const char *name, int64_t size, vce_err *err)
{
	struct archive_entry *e = archive_entry_new();
	int r;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, time(NULL), 0);
	r = archive_write_header(w->a, e);
	archive_entry_free(e);
	return r == ARCHIVE_OK ? 0 : archive_fail(w, err);
}

static int write_bytes(struct writer *w, const char *name, const void *data, size_t len,
		       vce_err *err)
{
	if (write_header(w, name, (int64_t)len, err) < 0)
		return -1;
	if (len && archive_write_data(w->a, data, len) != (la_ssize_t)len)
		return archive_fail(w, err);
	return 0;
}

/* Copies `size` bytes of fd into the current entry. */
static int write_fd(struct writer *w, int fd, int64_t size, vce_err *err)
{
	cleanup_free char *buf = xmalloc(COPY_BUF);

	while (size > 0) {
		ssize_t n = read(fd, buf, COPY_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vce_error_make(err, errno, "read a blob for %s", w->path);
		if (n == 0)
			return vce_error_make(
			    err, 0, "a blob is shorter than recorded while writing %s", w->path);
		if (n > size)
			n = (ssize_t)size;
		if (archive_write_data(w->a, buf, (size_t)n) != n)
			return archive_fail(w, err);
		size -= n;
	}
	return 0;
}

static int write_file_entry(struct writer *w, const char *name, int fd, vce_err *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return vce_error_make(err, errno, "stat the source of %s", name);
	if (write_header(w, name, st.st_size, err) < 0)
		return -1;
	return write_fd(w, fd, st.st_size, err);
}

static int write_blob(struct writer *w, const char *name, const char *digest, vce_err *err)
{
	cleanup_close int fd = -1;

	if (already_written(w, name))
		return 0;
	fd = oci_store_open_blob(w->store, digest, err);
	if (fd < 0)
		return -1;
	return write_file_entry(w, name, fd, err);
}

/* Decompresses a layer blob into the stage, checking its diff_id on the
 * way: docker-archive layers are plain tars. */
static int decompress_layer(oci_store *store, oci_stage *stage, const char *digest,
			    const char *diff_id, vce_err *err)
{
	cleanup_close int fd = oci_store_open_blob(store, digest, err);
	struct archive *a;
	struct archive_entry *e;
	char got[OCI_DIGEST_LEN + 1];
	int ret;

	if (fd < 0)
		return -1;
	a = archive_read_new();
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_fd(a, fd, COPY_BUF) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		ret = vce_error_make(err, 0, "layer %s: %s", digest, archive_error_string(a));
		goto out;
	}
	ret = oci_stage_write(stage, oci_read_archive_data, a, got, NULL, err);
	if (ret == 0 && strcmp(got, diff_id) != 0)
		ret = vce_error_make(
		    err, 0,
		    "layer %s in the store is damaged: it unpacks to %s, the image config says %s; remove the image and load it again",
		    digest, got, diff_id);
	if (ret < 0)
		vce_error_wrap(err, "layer %s", digest);
out:
	archive_read_free(a);
	return ret;
}

static int write_docker_layer(struct writer *w, oci_stage *stage, const oci_descriptor *layer,
			      const char *diff_id, vce_err *err)
{
	cleanup_free char *name = xasprintf("%s/layer.tar", diff_id + 7);
	cleanup_close int fd = -1;
	oci_compression c;

	if (oci_layer_compression(layer->media_type, &c, err) < 0)
		return -1;
	if (c == OCI_LAYER_TAR)
		return write_blob(w, name, layer->digest, err);
	if (already_written(w, name))
		return 0;
	if (decompress_layer(w->store, stage, layer->digest, diff_id, err) < 0)
		return -1;
	fd = oci_stage_open(stage, diff_id, err);
	if (fd < 0 || write_file_entry(w, name, fd, err) < 0)
		return -1;
	/* Written: a layer can be gigabytes, so its staged copy goes now. */
	oci_stage_discard(stage, diff_id);
	return 0;
}

static int read_config(oci_store *store, const char *digest, oci_config *c, vce_err *err)
{
	cleanup_free char *text = NULL;
	size_t len;

	if (oci_store_read_blob(store, digest, MAX_JSON, &text, &len, err) < 0)
		return -1;
	return oci_config_parse(text, len, c, err);
}

static int write_docker_image(struct writer *w, oci_stage *stage, const struct saved_image *img,
			      json_t *manifest_json, vce_err *err)
{
	const oci_manifest *m = &img->manifest;
	cleanup_free char *config_name = xasprintf("%s.json", m->config.digest + 7);
	json_t *layers = json_array(), *tags = json_array();
	oci_config c;
	int ret = 0;

	json_array_append_new(manifest_json, json_pack("{s:s, s:o, s:o}", "Config", config_name,
						       "RepoTags", tags, "Layers", layers));
	/* Full names: docker reads them as it reads its own short ones, and
	 * podman would otherwise put a short name under localhost/. */
	for (size_t i = 0; i < img->n_names; i++)
		json_array_append_new(tags, json_string(img->names[i]));
	if (write_blob(w, config_name, m->config.digest, err) < 0 ||
	    read_config(w->store, m->config.digest, &c, err) < 0)
		return -1;
	if (c.n_diff_ids != m->n_layers)
		ret = vce_error_make(err, 0, "image %s: config and manifest disagree on the layers",
				     m->config.digest);
	for (size_t i = 0; ret == 0 && i < m->n_layers; i++) {
		json_array_append_new(layers, json_sprintf("%s/layer.tar", c.diff_ids[i] + 7));
		ret = write_docker_layer(w, stage, &m->layers[i], c.diff_ids[i], err);
	}
	oci_config_free(&c);
	return ret;
}

static int write_docker_archive(struct writer *w, struct saved_image *imgs, size_t n, vce_err *err)
{
	cleanup_json json_t *manifest = json_array();
	cleanup_free char *text = NULL;
	oci_stage *stage;
	int ret = 0;

	if (oci_stage_new(w->store, &stage, err) < 0)
		return -1;
	for (size_t i = 0; ret == 0 && i < n; i++)
		ret = write_docker_image(w, stage, &imgs[i], manifest, err);
	oci_stage_free(stage);
	if (ret < 0)
		return -1;
	text = json_dumps(manifest, JSON_COMPACT);
	return write_bytes(w, "manifest.json", text, strlen(text), err);
}

static json_t *index_entry(const struct saved_image *img, const char *canonical)
{
	json_t *entry =
	    json_pack("{s:s, s:s, s:I}", "mediaType", img->manifest.media_type, "digest",
		      img->manifest_digest, "size", (json_int_t)img->manifest_size);

	if (canonical)
		json_object_set_new(entry, "annotations",
				    json_pack("{s:s, s:s}", "io.containerd.image.name", canonical,
					      "org.opencontainers.image.ref.name", canonical));
	return entry;
}

static int write_oci_image(struct writer *w, const struct saved_image *img, vce_err *err)
{
	const oci_manifest *m = &img->manifest;
	cleanup_free char *name = xasprintf("blobs/sha256/%s", img->manifest_digest + 7);

	if (write_blob(w, name, img->manifest_digest, err) < 0)
		return -1;
	free(name);
	name = xasprintf("blobs/sha256/%s", m->config.digest + 7);
	if (write_blob(w, name, m->config.digest, err) < 0)
		return -1;
	for (size_t i = 0; i < m->n_layers; i++) {
		free(name);
		name = xasprintf("blobs/sha256/%s", m->layers[i].digest + 7);
		if (write_blob(w, name, m->layers[i].digest, err) < 0)
			return -1;
	}
	return 0;
}

static int write_oci_archive(struct writer *w, struct saved_image *imgs, size_t n, vce_err *err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	cleanup_json json_t *index = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType",
					       OCI_MT_INDEX, "manifests");
	json_t *manifests = json_object_get(index, "manifests");
	cleanup_free char *text = NULL;

	if (write_bytes(w, "oci-layout", layout, sizeof(layout) - 1, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (write_oci_image(w, &imgs[i], err) < 0)
			return -1;
		for (size_t k = 0; k < imgs[i].n_names; k++)
			json_array_append_new(manifests, index_entry(&imgs[i], imgs[i].names[k]));
		if (imgs[i].n_names == 0)
			json_array_append_new(manifests, index_entry(&imgs[i], NULL));
	}
	text = json_dumps(index, JSON_COMPACT);
	return write_bytes(w, "index.json", text, strlen(text), err);
}

/* ---- choosing the images ---- */

static void free_saved(struct saved_image *imgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(imgs[i].manifest_digest);
		oci_manifest_free(&imgs[i].manifest);
		for (size_t k = 0; k < imgs[i].n_names; k++)
			free(imgs[i].names[k]);
		free(imgs[i].names);
	}
	free(imgs);
}

/* Given by name, an image is saved under that name; given by id, under
 * all of its names. */
static int choose_image(oci_store *store, const oci_images *images, const char *what,
			struct saved_image *out, vce_err *err)
{
	ssize_t i = oci_images_find(images, what, err);
	cleanup_free char *text = NULL, *canonical = NULL;
	const oci_image *img;
	size_t len;
	oci_ref ref;

	if (i < 0)
		return -1;
	img = &images->items[i];
	if (oci_store_read_blob(store, img->manifest, MAX_JSON, &text, &len, err) < 0 ||
	    oci_manifest_parse(text, len, &out->manifest, err) < 0)
		return -1;
	out->manifest_digest = xstrdup(img->manifest);
	out->manifest_size = (int64_t)len;
	if (!oci_digest_valid(what) && oci_ref_parse(what, &ref, err) == 0) {
		canonical = oci_ref_canonical(&ref);
		oci_ref_free(&ref);
		for (size_t k = 0; k < img->n_names; k++) {
			if (strcmp(img->names[k], canonical) == 0) {
				out->names = xcalloc(1, sizeof(char *));
				out->names[out->n_names++] = xstrdup(canonical);
				return 0;
			}
		}
	}
	vce_error_release(err);
	out->names = xcalloc(img->n_names, sizeof(char *));
	for (size_t k = 0; k < img->n_names; k++)
		out->names[out->n_names++] = xstrdup(img->names[k]);
	return 0;
}

/* The output: a temporary file beside the target, renamed at the end. */
static int open_output(const char *path, char **tmp_out, vce_err *err)
{
	cleanup_free char *copy = xstrdup(path), *copy2 = xstrdup(path);
	char suffix[17];
	int fd;

	if (strcmp(path, "-") == 0) {
		if (isatty(STDOUT_FILENO))
			return vce_error_make(
			    err, 0,
			    "refusing to write an archive to a terminal: use -o FILE or redirect the output");
		*tmp_out = NULL;
		return dup(STDOUT_FILENO);
	}
	vce_random_hex(suffix, 8);
	*tmp_out = xasprintf("%s/.%s.vce-%s", dirname(copy), basename(copy2), suffix);
	fd = open(*tmp_out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		int saved = errno;
		free(*tmp_out);
		*tmp_out = NULL;
		return vce_error_make(err, saved, "cannot write %s", path);
	}
	return fd;
}

static int write_archive(oci_store *store, struct saved_image *imgs, size_t n, int fd,
			 const char *path, oci_save_format format, vce_err *err)
{
	struct writer w = { .store = store, .path = path };
	int ret;

	w.a = archive_write_new();
	archive_write_set_format_pax_restricted(w.a);
	archive_write_set_bytes_in_last_block(w.a, 1);
	if (archive_write_open_fd(w.a, fd) != ARCHIVE_OK) {
		ret = archive_fail(&w, err);
	} else {
		ret = format == OCI_SAVE_OCI_ARCHIVE ? write_oci_archive(&w, imgs, n, err)
						     : write_docker_archive(&w, imgs, n, err);
		if (archive_write_close(w.a) != ARCHIVE_OK && ret == 0)
			ret = archive_fail(&w, err);
	}
	archive_write_free(w.a);
	for (size_t i = 0; i < w.n_written; i++)
		free(w.written[i]);
	free(w.written);
	return ret;
}

int oci_save(oci_store *store, const char *const *names, size_t n, const char *path,
	     oci_save_format format, vce_err *err)
{
	struct saved_image *imgs = xcalloc(n, sizeof(*imgs));
	cleanup_free char *tmp = NULL;
	cleanup_close int fd = -1;
	oci_images images;
	int ret = -1;

	if (oci_images_load(store, &images, err) < 0) {
		free(imgs);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (choose_image(store, &images, names[i], &imgs[i], err) < 0)
			goto out;
	fd = open_output(path, &tmp, err);
	if (fd < 0)
		goto out;
	ret = write_archive(store, imgs, n, fd, path, format, err);
	if (ret == 0 && tmp && fsync(fd) < 0)
		ret = vce_error_make(err, errno, "write %s", path);
	if (ret == 0 && tmp && rename(tmp, path) < 0)
		ret = vce_error_make(err, errno, "cannot write %s", path);
	if (ret < 0 && tmp)
		unlink(tmp);
out:
	oci_images_free(&images);
	free_saved(imgs, n);
	return ret;
}
