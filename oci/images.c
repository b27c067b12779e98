/* images.json: which images the store holds (by image id, the config
 * digest, as docker keys them), the manifest each was stored with, and
 * their names. Every change is read-modify-write under the store lock,
 * and the file is replaced atomically. */
#define _GNU_SOURCE
#include "oci.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "../common/banned.h"
#include "../rootfs-cache/cache.h"
#include "../common/json.h"

#define IMAGES_FILE   "images.json"
#define MAX_JSON_BLOB (16u << 20)

static void image_free(oci_image *img)
{
	free(img->id);
	free(img->manifest);
	for (size_t i = 0; i < img->n_names; i++)
		free(img->names[i]);
	free(img->names);
}

void oci_images_free(oci_images *images)
{
	for (size_t i = 0; i < images->n; i++)
		image_free(&images->items[i]);
	free(images->items);
	memset(images, 0, sizeof(*images));
}

static int parse_images(json_t *root, oci_images *out, vce_err *err)
{
	json_t *list = json_object_get(root, "images");
	size_t i;
	json_t *entry;

	if (!json_is_array(list))
		return vce_error_make(err, 0, "\"images\" is not a list");
	json_array_foreach (list, i, entry) {
		const char *id = vce_json_string(entry, "id");
		const char *manifest = vce_json_string(entry, "manifest");
		json_t *names = json_object_get(entry, "names");
		size_t k;
		json_t *name;

		if (!oci_digest_valid(id) || !oci_digest_valid(manifest) || !json_is_array(names))
			return vce_error_make(err, 0, "entry %zu is malformed", i);
		size_t at = oci_images_add(out, id, manifest);
		json_array_foreach (names, k, name) {
			if (json_is_string(name))
				oci_images_add_name(out, at, json_string_value(name));
		}
	}
	return 0;
}

int oci_images_load(oci_store *store, oci_images *out, vce_err *err)
{
	cleanup_free char *text = NULL;
	cleanup_json json_t *root = NULL;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (vce_read_file_at(oci_store_dirfd(store), IMAGES_FILE, 256u << 20, &text, &len, err) <
	    0) {
		if ((*err)->status == ENOENT) {
			vce_error_release(err);
			return 0;
		}
		return vce_error_wrap(err, "%s/%s", oci_store_path(store), IMAGES_FILE);
	}
	if (vce_json_parse(text, len, &root, err) < 0 || parse_images(root, out, err) < 0) {
		oci_images_free(out);
		return vce_error_wrap(err, "%s/%s is damaged (move it away to start afresh)",
				      oci_store_path(store), IMAGES_FILE);
	}
	return 0;
}

int oci_images_save(oci_store *store, const oci_images *images, vce_err *err)
{
	cleanup_json json_t *root = json_object();
	json_t *list = json_array();
	cleanup_free char *text = NULL;
	int blobs_fd;

	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "images", list);
	for (size_t i = 0; i < images->n; i++) {
		const oci_image *img = &images->items[i];
		json_t *entry = json_object();
		json_t *names = json_array();
		for (size_t k = 0; k < img->n_names; k++)
			json_array_append_new(names, json_string(img->names[k]));
		json_object_set_new(entry, "id", json_string(img->id));
		json_object_set_new(entry, "manifest", json_string(img->manifest));
		json_object_set_new(entry, "names", names);
		json_array_append_new(list, entry);
	}
	text = json_dumps(root, JSON_INDENT(1));
	if (text == NULL)
		abort();
	/* Blobs renamed into place must be durable before an index names them. */
	blobs_fd =
	    openat(oci_store_dirfd(store), "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (blobs_fd >= 0) {
		fsync(blobs_fd);
		close(blobs_fd);
	}
	if (vce_write_file_atomic_at(oci_store_dirfd(store), IMAGES_FILE, text, strlen(text), 0644,
				     err) < 0)
		return vce_error_wrap(err, "%s", oci_store_path(store));
	return 0;
}

size_t oci_images_add(oci_images *images, const char *id, const char *manifest)
{
	for (size_t i = 0; i < images->n; i++)
		if (strcmp(images->items[i].id, id) == 0)
			return i;
	images->items = xrealloc(images->items, (images->n + 1) * sizeof(oci_image));
	images->items[images->n] = (oci_image){
		.id = xstrdup(id),
		.manifest = xstrdup(manifest),
	};
	return images->n++;
}

static void remove_name_at(oci_image *img, size_t k)
{
	free(img->names[k]);
	memmove(&img->names[k], &img->names[k + 1], (img->n_names - k - 1) * sizeof(char *));
	img->n_names--;
}

void oci_images_add_name(oci_images *images, size_t at, const char *canonical)
{
	oci_image *target = &images->items[at];

	for (size_t i = 0; i < images->n; i++) {
		oci_image *img = &images->items[i];
		for (size_t k = 0; k < img->n_names; k++) {
			if (strcmp(img->names[k], canonical) != 0)
				continue;
			if (img == target)
				return;
			remove_name_at(img, k);
			break;
		}
	}
	target->names = xrealloc(target->names, (target->n_names + 1) * sizeof(char *));
	target->names[target->n_names++] = xstrdup(canonical);
}

static void remove_image_at(oci_images *images, size_t i)
{
	image_free(&images->items[i]);
	memmove(&images->items[i], &images->items[i + 1], (images->n - i - 1) * sizeof(oci_image));
	images->n--;
}

/* A hex string of at least 3 characters that may be an id or its start. */
static bool looks_like_id_prefix(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n >= 3 && n <= 64 && s[n] == '\0';
}

ssize_t oci_images_find(const oci_images *images, const char *what, vce_err *err)
{
	ssize_t found = -1;
	oci_ref ref;

	if (oci_digest_valid(what)) {
		for (size_t i = 0; i < images->n; i++)
			if (strcmp(images->items[i].id, what) == 0 ||
			    strcmp(images->items[i].manifest, what) == 0)
				return (ssize_t)i;
	}
	if (oci_ref_parse(what, &ref, err) == 0) {
		cleanup_free char *canonical = oci_ref_canonical(&ref);
		oci_ref_free(&ref);
		for (size_t i = 0; i < images->n; i++)
			for (size_t k = 0; k < images->items[i].n_names; k++)
				if (strcmp(images->items[i].names[k], canonical) == 0)
					return (ssize_t)i;
	}
	vce_error_release(err);
	if (looks_like_id_prefix(what)) {
		for (size_t i = 0; i < images->n; i++) {
			if (strncmp(images->items[i].id + 7, what, strlen(what)) != 0)
				continue;
			if (found >= 0)
				return vce_error_make(
				    err, 0,
				    "\"%s\" matches more than one image id: give more of it", what);
			found = (ssize_t)i;
		}
		if (found >= 0)
			return found;
	}
	return vce_error_make(
	    err, 0,
	    "no image \"%s\" in the store: see `vce images`, or get it with `vce load -i FILE` or `vce pull %s`",
	    what, what);
}

/* ---- whole-image operations, each under the store lock ---- */

static int load_locked(oci_store *store, oci_images *images, vce_err *err)
{
	if (oci_store_lock(store, err) < 0)
		return -1;
	if (oci_images_load(store, images, err) < 0) {
		oci_store_unlock(store);
		return -1;
	}
	return 0;
}

int oci_tag(oci_store *store, const char *source, const char *target, vce_err *err)
{
	oci_images images;
	oci_ref ref;
	ssize_t i;
	int ret = -1;

	if (oci_ref_parse(target, &ref, err) < 0)
		return -1;
	if (ref.digest) {
		oci_ref_free(&ref);
		return vce_error_make(err, 0, "cannot tag with a digest (\"%s\"): use name:tag",
				      target);
	}
	if (load_locked(store, &images, err) < 0) {
		oci_ref_free(&ref);
		return -1;
	}
	i = oci_images_find(&images, source, err);
	if (i >= 0) {
		cleanup_free char *canonical = oci_ref_canonical(&ref);
		oci_images_add_name(&images, (size_t)i, canonical);
		ret = oci_images_save(store, &images, err);
	}
	oci_ref_free(&ref);
	oci_images_free(&images);
	oci_store_unlock(store);
	return ret;
}

static void mark(char ***set, size_t *n, const char *digest)
{
	*set = xrealloc(*set, (*n + 1) * sizeof(char *));
	(*set)[(*n)++] = xstrdup(digest);
}

static bool marked(char **set, size_t n, const char *hex)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(set[i] + 7, hex) == 0)
			return true;
	return false;
}

static void free_marks(char **set, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(set[k]);
	free(set);
}

/* Marks what an image uses: its blobs, and its layers' diffIDs. */
static int mark_image(oci_store *store, const oci_image *img, char ***blobs, size_t *n_blobs,
		      char ***diff_ids, size_t *n_diff_ids, vce_err *err)
{
	cleanup_free char *text = NULL, *ctext = NULL;
	oci_manifest m;
	oci_config c;
	size_t len;

	mark(blobs, n_blobs, img->manifest);
	mark(blobs, n_blobs, img->id);
	if (oci_store_read_blob(store, img->manifest, MAX_JSON_BLOB, &text, &len, err) < 0 ||
	    oci_manifest_parse(text, len, &m, err) < 0)
		return -1;
	for (size_t l = 0; l < m.n_layers; l++)
		mark(blobs, n_blobs, m.layers[l].digest);
	oci_manifest_free(&m);
	if (oci_store_read_blob(store, img->id, MAX_JSON_BLOB, &ctext, &len, err) < 0 ||
	    oci_config_parse(ctext, len, &c, err) < 0)
		return -1;
	for (size_t l = 0; l < c.n_diff_ids; l++)
		mark(diff_ids, n_diff_ids, c.diff_ids[l]);
	oci_config_free(&c);
	return 0;
}

/* Removes every blob and cached layer no remaining image refers to. */
/* The layers containers are made of stay while the containers do, even
 * when their image is gone (rmi -f). */
struct layer_marks {
	char ***layers;
	size_t *n;
};

static bool mark_layers_of(const char *id, json_t *state, void *ctx)
{
	struct layer_marks *m = ctx;
	json_t *layer;
	size_t i;

	(void)id;
	json_array_foreach (json_object_get(state, "layers"), i, layer)
		if (oci_digest_valid(json_string_value(layer)))
			mark(m->layers, m->n, json_string_value(layer));
	return false;
}

static void mark_container_layers(oci_store *store, char ***layers, size_t *n)
{
	struct layer_marks m = { layers, n };
	oci_each_container(store, mark_layers_of, &m);
}

static int collect_garbage(oci_store *store, const oci_images *images, vce_err *err)
{
	char **keep = NULL, **layers = NULL;
	size_t n_keep = 0, n_layers = 0;
	DIR *dir;
	struct dirent *de;
	int blobs_fd, ret = 0;
	cache *c;

	for (size_t i = 0; i < images->n; i++) {
		if (mark_image(store, &images->items[i], &keep, &n_keep, &layers, &n_layers, err) <
		    0) {
			/* Keep everything rather than guess. */
			free_marks(keep, n_keep);
			free_marks(layers, n_layers);
			return vce_error_wrap(err, "collecting unused blobs");
		}
	}
	mark_container_layers(store, &layers, &n_layers);
	blobs_fd =
	    openat(oci_store_dirfd(store), "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = blobs_fd >= 0 ? fdopendir(blobs_fd) : NULL;
	while (dir && (de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' || marked(keep, n_keep, de->d_name))
			continue;
		vce_verbose("removing unused blob sha256:%s", de->d_name);
		unlinkat(dirfd(dir), de->d_name, 0);
	}
	if (dir)
		closedir(dir);
	if (oci_store_cache(store, &c, err) < 0 ||
	    cache_collect_garbage(c, layers, n_layers, err) < 0)
		ret = vce_error_wrap(err, "collecting unused layers");
	free_marks(keep, n_keep);
	free_marks(layers, n_layers);
	return ret;
}

bool oci_each_container(oci_store *store, oci_container_fn fn, void *ctx)
{
	int cfd = openat(oci_store_dirfd(store), "containers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = cfd >= 0 ? fdopendir(cfd) : NULL;
	struct dirent *de;
	bool stop = false;

	while (dir && !stop && (de = readdir(dir)) != NULL) {
		cleanup_free char *path = NULL, *text = NULL;
		cleanup_json json_t *state = NULL;
		cleanup_err vce_err err = NULL;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		path = xasprintf("%s/state.json", de->d_name);
		if (vce_read_file_at(dirfd(dir), path, 1 << 20, &text, &len, &err) < 0 ||
		    vce_json_parse(text, len, &state, &err) < 0)
			continue;
		stop = fn(de->d_name, state, ctx);
	}
	if (dir)
		closedir(dir);
	return stop;
}

struct image_user {
	const char *image_id;
	char *container;
};

static bool uses_image(const char *id, json_t *state, void *ctx)
{
	struct image_user *u = ctx;
	const char *image = vce_json_string(state, "image");
	const char *name = vce_json_string(state, "name");

	if (image == NULL || strcmp(image, u->image_id) != 0)
		return false;
	u->container = xstrdup(name ? name : id);
	return true;
}

bool oci_image_in_use(oci_store *store, const char *image_id, char **container_out)
{
	struct image_user u = { image_id, NULL };

	oci_each_container(store, uses_image, &u);
	if (u.container && container_out)
		*container_out = u.container;
	else
		free(u.container);
	return u.container != NULL;
}

static int rmi_locked(oci_store *store, oci_images *images, const char *what, bool force,
		      char ***untagged, size_t *n_untagged, vce_err *err)
{
	ssize_t i = oci_images_find(images, what, err);
	oci_image *img;
	bool by_name = false;
	cleanup_free char *container = NULL;

	if (i < 0)
		return -1;
	img = &images->items[i];
	oci_ref ref;
	if (!oci_digest_valid(what) && oci_ref_parse(what, &ref, err) == 0) {
		cleanup_free char *canonical = oci_ref_canonical(&ref);
		oci_ref_free(&ref);
		for (size_t k = 0; k < img->n_names; k++) {
			if (strcmp(img->names[k], canonical) == 0) {
				by_name = true;
				if (img->n_names > 1) {
					mark(untagged, n_untagged, canonical);
					remove_name_at(img, k);
					return oci_images_save(store, images, err);
				}
				break;
			}
		}
	}
	vce_error_release(err);
	if (!by_name && img->n_names > 1 && !force)
		return vce_error_make(
		    err, 0, "image %.19s has %zu names (%s, ...): remove them one by one or use -f",
		    img->id, img->n_names, img->names[0]);
	if (!force && oci_image_in_use(store, img->id, &container))
		return vce_error_make(
		    err, 0,
		    "image %s is used by container %s: remove the container first (vce rm), or use -f",
		    what, container);
	for (size_t k = 0; k < img->n_names; k++)
		mark(untagged, n_untagged, img->names[k]);
	mark(untagged, n_untagged, img->id);
	remove_image_at(images, (size_t)i);
	if (oci_images_save(store, images, err) < 0)
		return -1;
	return collect_garbage(store, images, err);
}

int oci_rmi(oci_store *store, const char *what, bool force, char ***untagged, size_t *n_untagged,
	    vce_err *err)
{
	oci_images images;
	int ret;

	*untagged = NULL;
	*n_untagged = 0;
	if (load_locked(store, &images, err) < 0)
		return -1;
	ret = rmi_locked(store, &images, what, force, untagged, n_untagged, err);
	oci_images_free(&images);
	oci_store_unlock(store);
	return ret;
}

/* Downloads an interrupted pull left for the next one to resume, except
 * those a pull is writing (it holds their flock). */
static void remove_downloads(oci_store *store)
{
	cleanup_close int dfd =
	    openat(oci_store_dirfd(store), "downloads", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = dfd < 0 ? NULL : vce_opendir_at(dfd);
	struct dirent *de;

	while (dir && (de = readdir(dir)) != NULL) {
		cleanup_close int fd = -1;
		if (de->d_name[0] == '.')
			continue;
		fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
			vce_verbose("removing the unfinished download %s", de->d_name);
			unlinkat(dfd, de->d_name, 0);
		}
	}
	if (dir)
		closedir(dir);
}

int oci_prune(oci_store *store, bool all, char ***removed, size_t *n_removed, vce_err *err)
{
	oci_images images;
	int ret;

	*removed = NULL;
	*n_removed = 0;
	if (load_locked(store, &images, err) < 0)
		return -1;
	for (size_t i = images.n; i-- > 0;) {
		oci_image *img = &images.items[i];
		if ((img->n_names > 0 && !all) || oci_image_in_use(store, img->id, NULL))
			continue;
		mark(removed, n_removed, img->id);
		remove_image_at(&images, i);
	}
	ret = oci_images_save(store, &images, err);
	if (ret == 0)
		ret = collect_garbage(store, &images, err);
	if (ret == 0)
		remove_downloads(store);
	oci_images_free(&images);
	oci_store_unlock(store);
	return ret;
}

/* Reads and parses an image's manifest and config. */
static int read_image(oci_store *store, const oci_image *img, oci_manifest *m, json_t **config,
		      vce_err *err)
{
	cleanup_free char *mtext = NULL, *ctext = NULL;
	size_t mlen, clen;

	if (oci_store_read_blob(store, img->manifest, MAX_JSON_BLOB, &mtext, &mlen, err) < 0 ||
	    oci_manifest_parse(mtext, mlen, m, err) < 0)
		return -1;
	if (oci_store_read_blob(store, img->id, MAX_JSON_BLOB, &ctext, &clen, err) < 0 ||
	    vce_json_parse(ctext, clen, config, err) < 0) {
		oci_manifest_free(m);
		return -1;
	}
	return 0;
}

/* As docker shows it: the unpacked layers, from the cache; a layer not
 * (yet) unpacked counts with its blob. */
static int64_t image_size(oci_store *store, const oci_manifest *m, json_t *config)
{
	json_t *diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	int64_t size = m->config.size;
	cache *c = NULL;
	cleanup_err vce_err ignored = NULL;

	oci_store_cache(store, &c, &ignored);
	for (size_t i = 0; i < m->n_layers; i++) {
		const char *diff_id = json_string_value(json_array_get(diff_ids, i));
		int64_t unpacked = c && diff_id ? cache_layer_bytes(c, diff_id) : -1;
		size += unpacked >= 0 ? unpacked : m->layers[i].size;
	}
	return size;
}

static char *familiar_name(const char *canonical)
{
	oci_ref ref;
	cleanup_err vce_err err = NULL;
	char *out;

	if (oci_ref_parse(canonical, &ref, &err) < 0)
		return xstrdup(canonical);
	cleanup_free char *repo = oci_ref_familiar_repo(&ref);
	out = xasprintf("%s:%s", repo, ref.tag ? ref.tag : "<none>");
	oci_ref_free(&ref);
	return out;
}

int oci_list(oci_store *store, oci_image_info **out, size_t *n, vce_err *err)
{
	oci_images images;
	oci_image_info *infos;

	if (oci_images_load(store, &images, err) < 0)
		return -1;
	infos = xcalloc(images.n, sizeof(*infos));
	for (size_t i = 0; i < images.n; i++) {
		oci_image *img = &images.items[i];
		oci_manifest m;
		cleanup_json json_t *config = NULL;

		infos[i].id = xstrdup(img->id);
		infos[i].names = xcalloc(img->n_names, sizeof(char *));
		infos[i].n_names = img->n_names;
		for (size_t k = 0; k < img->n_names; k++)
			infos[i].names[k] = familiar_name(img->names[k]);
		if (read_image(store, img, &m, &config, err) < 0) {
			oci_image_info_free(infos, i + 1);
			oci_images_free(&images);
			return -1;
		}
		infos[i].created = xstrdup(vce_json_string(config, "created") ?: "");
		infos[i].size = image_size(store, &m, config);
		oci_manifest_free(&m);
	}
	*out = infos;
	*n = images.n;
	oci_images_free(&images);
	return 0;
}

void oci_image_info_free(oci_image_info *infos, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(infos[i].id);
		for (size_t k = 0; k < infos[i].n_names; k++)
			free(infos[i].names[k]);
		free(infos[i].names);
		free(infos[i].created);
	}
	free(infos);
}

static json_t *string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* obj[key] = from[from_key], or the fallback (which this takes over). */
static void copy_member(json_t *obj, const char *key, json_t *from, const char *from_key,
			json_t *fallback)
{
	json_t *value = json_object_get(from, from_key);

	if (value) {
		json_object_set(obj, key, value);
		json_decref(fallback);
	} else {
		json_object_set_new(obj, key, fallback);
	}
}

int oci_inspect(oci_store *store, const char *what, json_t **out, vce_err *err)
{
	oci_images images;
	oci_manifest m;
	cleanup_json json_t *config = NULL;
	json_t *obj, *tags, *digests;
	ssize_t i;

	if (oci_images_load(store, &images, err) < 0)
		return -1;
	i = oci_images_find(&images, what, err);
	if (i < 0 || read_image(store, &images.items[i], &m, &config, err) < 0) {
		oci_images_free(&images);
		return -1;
	}
	const oci_image *img = &images.items[i];
	obj = json_object();
	tags = json_array();
	digests = json_array();
	for (size_t k = 0; k < img->n_names; k++)
		json_array_append_new(tags, json_string(img->names[k]));
	json_object_set_new(obj, "Id", json_string(img->id));
	json_object_set_new(obj, "RepoTags", tags);
	json_object_set_new(obj, "RepoDigests", digests);
	json_object_set_new(obj, "Manifest", json_string(img->manifest));
	json_object_set_new(obj, "ManifestMediaType", json_string(m.media_type));
	json_object_set_new(obj, "Created", string_or_null(vce_json_string(config, "created")));
	json_object_set_new(obj, "Author", string_or_null(vce_json_string(config, "author")));
	json_object_set_new(obj, "Architecture",
			    string_or_null(vce_json_string(config, "architecture")));
	json_object_set_new(obj, "Os", string_or_null(vce_json_string(config, "os")));
	json_object_set_new(obj, "Size", json_integer(image_size(store, &m, config)));
	copy_member(obj, "Config", config, "config", json_object());
	/* As docker shows it: {"Type": "layers", "Layers": [diff_ids]}. */
	{
		json_t *ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
		json_object_set_new(
		    obj, "RootFS",
		    json_pack("{s:s, s:o}", "Type", "layers", "Layers",
			      json_is_array(ids) ? json_incref(ids) : json_array()));
	}
	copy_member(obj, "History", config, "history", json_array());
	oci_manifest_free(&m);
	oci_images_free(&images);
	*out = obj;
	return 0;
}
