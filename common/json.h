/* jansson helpers shared by oci/ and runtime/. */
#ifndef VCE_COMMON_JSON_H
#define VCE_COMMON_JSON_H

#include <jansson.h>

#include "common.h"

void vce_json_decrefp(json_t **j);
#define cleanup_json __attribute__((cleanup(vce_json_decrefp)))

/* Parses a JSON object; anything else is an error. */
int vce_json_parse(const char *text, size_t len, json_t **out, vce_err *err);
const char *vce_json_string(json_t *obj, const char *key);
/* An array of the n strings; and back (strings only, allocated). */
json_t *vce_json_strv(char *const *v, size_t n);
char **vce_json_to_strv(json_t *array, size_t *n);

/* vce's settings: $VCE_CONFIG or /etc/vce/config.json. */
const char *vce_config_path(void);
/* The settings object, or NULL when there is no (readable) file. */
json_t *vce_config_load(void);

#endif
