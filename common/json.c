/* jansson helpers shared by oci/ and runtime/. */
#include "json.h"

#include <stdlib.h>
#include <unistd.h>

#include "banned.h"

int vce_json_parse(const char *text, size_t len, json_t **out, vce_err *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);

	if (root == NULL)
		return vce_error_make(err, 0, "malformed JSON (line %d: %s)", jerr.line, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return vce_error_make(err, 0, "malformed JSON: expected an object");
	}
	*out = root;
	return 0;
}

const char *vce_json_string(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

void vce_json_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}

json_t *vce_json_strv(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

char **vce_json_to_strv(json_t *array, size_t *n)
{
	char **v = NULL;
	size_t i;
	json_t *s;

	*n = 0;
	json_array_foreach (array, i, s) {
		if (json_is_string(s))
			vce_strv_push(&v, n, xstrdup(json_string_value(s)));
	}
	return v;
}

const char *vce_config_path(void)
{
	const char *env = getenv("VCE_CONFIG");

	return env && *env ? env : "/etc/vce/config.json";
}

/* A broken file is warned about and left out rather than fatal: a lab's
 * typo should not stop every container; the setting it held says more. */
json_t *vce_config_load(void)
{
	const char *path = vce_config_path();
	cleanup_err vce_err bad = NULL;
	cleanup_free char *text = NULL;
	json_t *conf = NULL;
	size_t len;

	if (access(path, F_OK) < 0)
		return NULL;
	if (vce_read_host_file(path, 1 << 20, &text, &len, &bad) < 0 ||
	    vce_json_parse(text, len, &conf, &bad) < 0) {
		vce_warn("%s is unreadable, its settings are left out: %s", path, bad->msg);
		return NULL;
	}
	return conf;
}
