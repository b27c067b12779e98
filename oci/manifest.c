/* Manifests, indexes and image configs: parsed with jansson into plain
 * structs, and checked as they are parsed, so the rest of vce can trust
 * every digest and media type it is handed. */
#include "oci.h"

#include <string.h>

#include "../common/banned.h"
#include "../common/json.h"

bool oci_is_manifest_type(const char *mt)
{
	return mt && (strcmp(mt, OCI_MT_MANIFEST) == 0 || strcmp(mt, DOCKER_MT_MANIFEST) == 0);
}

bool oci_is_index_type(const char *mt)
{
	return mt && (strcmp(mt, OCI_MT_INDEX) == 0 || strcmp(mt, DOCKER_MT_LIST) == 0);
}

int oci_layer_compression(const char *mt, oci_compression *out, vce_err *err)
{
	static const struct {
		const char *media_type;
		oci_compression compression;
	} known[] = {
		{ OCI_MT_LAYER, OCI_LAYER_TAR },
		{ OCI_MT_LAYER_GZIP, OCI_LAYER_GZIP },
		{ OCI_MT_LAYER_ZSTD, OCI_LAYER_ZSTD },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar", OCI_LAYER_TAR },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", OCI_LAYER_GZIP },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", OCI_LAYER_ZSTD },
		{ DOCKER_MT_LAYER_GZIP, OCI_LAYER_GZIP },
		{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", OCI_LAYER_GZIP },
		{ "application/vnd.docker.image.rootfs.diff.tar", OCI_LAYER_TAR },
	};

	for (size_t i = 0; mt && i < sizeof(known) / sizeof(known[0]); i++) {
		if (strcmp(mt, known[i].media_type) == 0) {
			*out = known[i].compression;
			return 0;
		}
	}
	return vce_error_make(err, 0, "unknown layer media type \"%s\"", mt ? mt : "(none)");
}

oci_compression oci_sniff_compression(const unsigned char *head, size_t len)
{
	if (len >= 2 && head[0] == 0x1f && head[1] == 0x8b)
		return OCI_LAYER_GZIP;
	if (len >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd)
		return OCI_LAYER_ZSTD;
	return OCI_LAYER_TAR;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void oci_descriptor_free(oci_descriptor *d)
{
	free(d->media_type);
	free(d->digest);
	free(d->platform_os);
	free(d->platform_arch);
	free(d->platform_variant);
	free(d->ref_name);
	free(d->image_name);
	memset(d, 0, sizeof(*d));
}

static int parse_descriptor(json_t *j, const char *what, oci_descriptor *d, vce_err *err)
{
	json_t *size = json_object_get(j, "size");
	json_t *platform = json_object_get(j, "platform");
	json_t *annotations = json_object_get(j, "annotations");
	const char *digest = vce_json_string(j, "digest");

	memset(d, 0, sizeof(*d));
	if (!json_is_object(j))
		return vce_error_make(err, 0, "%s is not a JSON object", what);
	if (!oci_digest_valid(digest))
		return vce_error_make(err, 0, "%s has no valid sha256 digest", what);
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return vce_error_make(err, 0, "%s has no valid size", what);
	d->digest = xstrdup(digest);
	d->size = json_integer_value(size);
	d->media_type = dup_or_null(vce_json_string(j, "mediaType"));
	if (json_is_object(platform)) {
		d->platform_os = dup_or_null(vce_json_string(platform, "os"));
		d->platform_arch = dup_or_null(vce_json_string(platform, "architecture"));
		d->platform_variant = dup_or_null(vce_json_string(platform, "variant"));
	}
	if (json_is_object(annotations)) {
		d->ref_name =
		    dup_or_null(vce_json_string(annotations, "org.opencontainers.image.ref.name"));
		d->image_name =
		    dup_or_null(vce_json_string(annotations, "io.containerd.image.name"));
	}
	return 0;
}

/* A manifest or index: a JSON object with schemaVersion 2 and, if it
 * names one, a media type of the kind expected. */
static int parse_document(const char *text, size_t len, const char *what,
			  bool (*is_kind)(const char *), json_t **root, const char **mt,
			  vce_err *err)
{
	if (vce_json_parse(text, len, root, err) < 0)
		return vce_error_wrap(err, "%s", what);
	if (json_integer_value(json_object_get(*root, "schemaVersion")) != 2)
		return vce_error_make(err, 0, "%s: schemaVersion is not 2", what);
	*mt = vce_json_string(*root, "mediaType");
	if (*mt && !is_kind(*mt))
		return vce_error_make(err, 0, "%s: unknown media type \"%s\"", what, *mt);
	return 0;
}

int oci_manifest_parse(const char *text, size_t len, oci_manifest *out, vce_err *err)
{
	cleanup_json json_t *root = NULL;
	json_t *layers;
	const char *mt;
	oci_manifest m = { 0 };

	memset(out, 0, sizeof(*out));
	if (parse_document(text, len, "manifest", oci_is_manifest_type, &root, &mt, err) < 0)
		return -1;
	m.media_type = xstrdup(mt ? mt : OCI_MT_MANIFEST);
	if (parse_descriptor(json_object_get(root, "config"), "manifest config", &m.config, err) <
	    0)
		goto fail;
	layers = json_object_get(root, "layers");
	if (!json_is_array(layers)) {
		vce_error_make(err, 0, "manifest: \"layers\" is not a list");
		goto fail;
	}
	m.n_layers = json_array_size(layers);
	m.layers = xcalloc(m.n_layers, sizeof(*m.layers));
	for (size_t i = 0; i < m.n_layers; i++) {
		oci_compression c;
		if (parse_descriptor(json_array_get(layers, i), "manifest layer", &m.layers[i],
				     err) < 0)
			goto fail;
		if (oci_layer_compression(m.layers[i].media_type, &c, err) < 0)
			goto fail;
	}
	*out = m;
	return 0;
fail:
	oci_manifest_free(&m);
	return vce_error_wrap(err, "manifest");
}

void oci_manifest_free(oci_manifest *m)
{
	free(m->media_type);
	oci_descriptor_free(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		oci_descriptor_free(&m->layers[i]);
	free(m->layers);
	memset(m, 0, sizeof(*m));
}

int oci_index_parse(const char *text, size_t len, oci_index *out, vce_err *err)
{
	cleanup_json json_t *root = NULL;
	json_t *manifests;
	const char *mt;
	oci_index idx = { 0 };

	memset(out, 0, sizeof(*out));
	if (parse_document(text, len, "index", oci_is_index_type, &root, &mt, err) < 0)
		return -1;
	manifests = json_object_get(root, "manifests");
	if (!json_is_array(manifests))
		return vce_error_make(err, 0, "index: \"manifests\" is not a list");
	idx.n_manifests = json_array_size(manifests);
	idx.manifests = xcalloc(idx.n_manifests, sizeof(*idx.manifests));
	for (size_t i = 0; i < idx.n_manifests; i++) {
		oci_descriptor *d = &idx.manifests[i];
		if (parse_descriptor(json_array_get(manifests, i), "index entry", d, err) < 0)
			goto fail;
		if (!oci_is_manifest_type(d->media_type) && !oci_is_index_type(d->media_type)) {
			vce_error_make(err, 0, "unknown media type \"%s\"",
				       d->media_type ? d->media_type : "(none)");
			goto fail;
		}
	}
	*out = idx;
	return 0;
fail:
	oci_index_free(&idx);
	return vce_error_wrap(err, "index");
}

void oci_index_free(oci_index *idx)
{
	for (size_t i = 0; i < idx->n_manifests; i++)
		oci_descriptor_free(&idx->manifests[i]);
	free(idx->manifests);
	memset(idx, 0, sizeof(*idx));
}

int oci_config_parse(const char *text, size_t len, oci_config *out, vce_err *err)
{
	cleanup_json json_t *root = NULL;
	json_t *rootfs, *diff_ids;
	oci_config c = { 0 };

	memset(out, 0, sizeof(*out));
	if (vce_json_parse(text, len, &root, err) < 0)
		return vce_error_wrap(err, "image config");
	rootfs = json_object_get(root, "rootfs");
	diff_ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_array(diff_ids))
		return vce_error_make(err, 0, "image config: rootfs.diff_ids is missing");
	c.created = dup_or_null(vce_json_string(root, "created"));
	c.architecture = dup_or_null(vce_json_string(root, "architecture"));
	c.os = dup_or_null(vce_json_string(root, "os"));
	c.variant = dup_or_null(vce_json_string(root, "variant"));
	c.n_diff_ids = json_array_size(diff_ids);
	c.diff_ids = xcalloc(c.n_diff_ids, sizeof(char *));
	for (size_t i = 0; i < c.n_diff_ids; i++) {
		const char *d = json_string_value(json_array_get(diff_ids, i));
		if (!oci_digest_valid(d)) {
			oci_config_free(&c);
			return vce_error_make(
			    err, 0, "image config: diff_ids[%zu] is not a sha256 digest", i);
		}
		c.diff_ids[i] = xstrdup(d);
	}
	*out = c;
	return 0;
}

void oci_config_free(oci_config *c)
{
	free(c->created);
	free(c->architecture);
	free(c->os);
	free(c->variant);
	for (size_t i = 0; i < c->n_diff_ids; i++)
		free(c->diff_ids[i]);
	free(c->diff_ids);
	memset(c, 0, sizeof(*c));
}
