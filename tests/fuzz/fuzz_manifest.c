/* libFuzzer: manifests, indexes and image configs from untrusted JSON. */
#include <stdint.h>

#include "../../oci/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	vce_err err = NULL;
	oci_manifest m;
	oci_index idx;
	oci_config c;

	if (oci_manifest_parse(text, size, &m, &err) == 0) {
		for (size_t i = 0; i < m.n_layers; i++)
			if (!oci_digest_valid(m.layers[i].digest))
				__builtin_trap();
		oci_manifest_free(&m);
	}
	vce_error_release(&err);
	if (oci_index_parse(text, size, &idx, &err) == 0)
		oci_index_free(&idx);
	vce_error_release(&err);
	if (oci_config_parse(text, size, &c, &err) == 0)
		oci_config_free(&c);
	vce_error_release(&err);
	return 0;
}
