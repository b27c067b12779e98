/* The image's config as a container uses it: Entrypoint, Cmd, Env,
 * WorkingDir, User, StopSignal, and the layers (diffIDs) under it. */
#define _GNU_SOURCE
#include <string.h>

#include "internal.h"

#include "../common/json.h"

#include "../common/banned.h"

static char **string_array(json_t *arr, size_t *n)
{
	char **out;

	*n = 0;
	if (!json_is_array(arr))
		return NULL;
	out = xcalloc(json_array_size(arr) + 1, sizeof(char *));
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		if (s)
			out[(*n)++] = xstrdup(s);
	}
	return out;
}

static char *string_or_null(json_t *obj, const char *key)
{
	const char *s = vce_json_string(obj, key);
	return s && *s ? xstrdup(s) : NULL;
}

void rt_image_config_free(rt_image_config *c)
{
	vce_strv_free(c->entrypoint, c->n_entrypoint);
	vce_strv_free(c->cmd, c->n_cmd);
	vce_strv_free(c->env, c->n_env);
	free(c->workdir);
	free(c->user);
	free(c->stop_signal);
	vce_strv_free(c->exposed, c->n_exposed);
	vce_strv_free(c->diff_ids, c->n_diff_ids);
	memset(c, 0, sizeof(*c));
}

/* Reads the manifest, then the config blob it names. */
int rt_image_config_read(oci_store *store, const char *manifest_digest, rt_image_config *out,
			 vce_err *err)
{
	cleanup_free char *mtext = NULL, *ctext = NULL;
	cleanup_json json_t *root = NULL;
	oci_manifest m = { 0 };
	size_t len;
	json_t *conf;
	int ret;

	memset(out, 0, sizeof(*out));
	if (oci_store_read_blob(store, manifest_digest, 4 << 20, &mtext, &len, err) < 0 ||
	    oci_manifest_parse(mtext, len, &m, err) < 0)
		return vce_error_wrap(err, "image manifest %s", manifest_digest);
	ret = oci_store_read_blob(store, m.config.digest, 16 << 20, &ctext, &len, err);
	oci_manifest_free(&m);
	if (ret < 0 || vce_json_parse(ctext, len, &root, err) < 0)
		return vce_error_wrap(err, "image config");
	{
		oci_config parsed;
		if (oci_config_parse(ctext, len, &parsed, err) < 0)
			return -1;
		out->diff_ids = parsed.diff_ids;
		out->n_diff_ids = parsed.n_diff_ids;
		parsed.diff_ids = NULL;
		parsed.n_diff_ids = 0;
		oci_config_free(&parsed);
	}
	conf = json_object_get(root, "config");
	out->entrypoint = string_array(json_object_get(conf, "Entrypoint"), &out->n_entrypoint);
	out->cmd = string_array(json_object_get(conf, "Cmd"), &out->n_cmd);
	out->env = string_array(json_object_get(conf, "Env"), &out->n_env);
	out->workdir = string_or_null(conf, "WorkingDir");
	out->user = string_or_null(conf, "User");
	out->stop_signal = string_or_null(conf, "StopSignal");
	{
		json_t *exposed = json_object_get(conf, "ExposedPorts");
		const char *key;
		json_t *v;
		json_object_foreach (exposed, key, v) {
			vce_strv_push(&out->exposed, &out->n_exposed, xstrdup(key));
		}
	}
	return 0;
}
