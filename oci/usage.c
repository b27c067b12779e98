/* What the store holds and what could go: `vce system df` and
 * `vce image prune`. Bytes are counted once, however many images share
 * a blob or an unpacked layer. */
#define _GNU_SOURCE
#include "oci.h"

#include <string.h>

#include "../common/banned.h"
#include "../rootfs-cache/cache.h"
#include "../common/json.h"

#define MAX_JSON (16u << 20)

/* The diffIDs of an image, from its config. */
static int image_layers(oci_store *store, const oci_image *img, oci_config *c, vce_err *err)
{
	cleanup_free char *text = NULL;
	size_t len;

	if (oci_store_read_blob(store, img->id, MAX_JSON, &text, &len, err) < 0)
		return -1;
	return oci_config_parse(text, len, c, err);
}

/* Distinct layers (or blobs), with how many images use each. */
struct layer_count {
	char *diff_id;
	int users;
};

static void count_layer(struct layer_count **list, size_t *n, const char *diff_id)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*list)[i].diff_id, diff_id) == 0) {
			(*list)[i].users++;
			return;
		}
	}
	*list = xrealloc(*list, (*n + 1) * sizeof(**list));
	(*list)[(*n)++] = (struct layer_count){ xstrdup(diff_id), 1 };
}

static int users_of(const struct layer_count *list, size_t n, const char *diff_id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i].diff_id, diff_id) == 0)
			return list[i].users;
	return 0;
}

/* Counts each blob an image uses into the list of distinct ones. */
static int count_blobs(oci_store *store, const oci_image *img, struct layer_count **blobs,
		       size_t *n, vce_err *err)
{
	cleanup_free char *text = NULL;
	oci_manifest m;
	size_t len;

	if (oci_store_read_blob(store, img->manifest, MAX_JSON, &text, &len, err) < 0 ||
	    oci_manifest_parse(text, len, &m, err) < 0)
		return -1;
	count_layer(blobs, n, img->manifest);
	count_layer(blobs, n, m.config.digest);
	for (size_t i = 0; i < m.n_layers; i++)
		count_layer(blobs, n, m.layers[i].digest);
	oci_manifest_free(&m);
	return 0;
}

int oci_disk_usage(oci_store *store, oci_usage *out, vce_err *err)
{
	oci_images images;
	struct layer_count *layers = NULL, *blobs = NULL;
	size_t n_layers = 0, n_blobs = 0;
	cache *c;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (oci_images_load(store, &images, err) < 0 || oci_store_cache(store, &c, err) < 0)
		return -1;
	out->images = xcalloc(images.n, sizeof(*out->images));
	out->n_images = images.n;
	for (size_t i = 0; i < images.n; i++) {
		oci_config conf;
		if (image_layers(store, &images.items[i], &conf, err) < 0)
			goto out;
		for (size_t l = 0; l < conf.n_diff_ids; l++)
			count_layer(&layers, &n_layers, conf.diff_ids[l]);
		oci_config_free(&conf);
	}
	for (size_t i = 0; i < images.n; i++) {
		oci_image_usage *u = &out->images[i];
		oci_config conf;
		u->id = xstrdup(images.items[i].id);
		u->name = images.items[i].n_names ? xstrdup(images.items[i].names[0]) : NULL;
		u->in_use = oci_image_in_use(store, u->id, NULL);
		out->images_in_use += u->in_use;
		if (image_layers(store, &images.items[i], &conf, err) < 0)
			goto out;
		for (size_t l = 0; l < conf.n_diff_ids; l++) {
			int64_t bytes = cache_layer_bytes(c, conf.diff_ids[l]);
			if (bytes < 0)
				continue;
			u->size += bytes;
			if (users_of(layers, n_layers, conf.diff_ids[l]) > 1)
				u->shared += bytes;
		}
		oci_config_free(&conf);
	}
	/* Distinct blobs and layers, each counted once. */
	for (size_t i = 0; i < images.n; i++)
		if (count_blobs(store, &images.items[i], &blobs, &n_blobs, err) < 0)
			goto out;
	for (size_t b = 0; b < n_blobs; b++) {
		int64_t size = oci_store_blob_size(store, blobs[b].diff_id);
		out->blob_bytes += size > 0 ? size : 0;
	}
	for (size_t l = 0; l < n_layers; l++) {
		int64_t bytes = cache_layer_bytes(c, layers[l].diff_id);
		if (bytes < 0)
			continue;
		out->layers++;
		out->layer_bytes += bytes;
		if (layers[l].users > 1)
			out->shared_layer_bytes += bytes;
	}
	ret = 0;
out:
	for (size_t l = 0; l < n_layers; l++)
		free(layers[l].diff_id);
	free(layers);
	for (size_t b = 0; b < n_blobs; b++)
		free(blobs[b].diff_id);
	free(blobs);
	oci_images_free(&images);
	if (ret < 0)
		oci_usage_free(out);
	return ret;
}

void oci_usage_free(oci_usage *u)
{
	for (size_t i = 0; i < u->n_images; i++) {
		free(u->images[i].id);
		free(u->images[i].name);
	}
	free(u->images);
	memset(u, 0, sizeof(*u));
}
