/* libFuzzer: image references. A parse that succeeds must round-trip:
 * the canonical form parses again to itself. */
#include <stdint.h>
#include <string.h>

#include "../../oci/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);
	vce_err err = NULL;
	oci_ref ref, again;

	if (oci_ref_parse(text, &ref, &err) == 0) {
		char *canonical = oci_ref_canonical(&ref);
		char *familiar = oci_ref_familiar_repo(&ref);
		if (oci_ref_parse(canonical, &again, &err) != 0)
			__builtin_trap();
		char *twice = oci_ref_canonical(&again);
		if (strcmp(twice, canonical) != 0)
			__builtin_trap();
		free(twice);
		free(canonical);
		free(familiar);
		oci_ref_free(&again);
		oci_ref_free(&ref);
	}
	vce_error_release(&err);
	free(text);
	return 0;
}
