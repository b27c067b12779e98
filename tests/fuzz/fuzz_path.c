/* libFuzzer: archive member names. A normalised name never climbs out,
 * is never absolute, and normalising it again changes nothing. */
#include <stdint.h>
#include <string.h>

#include "../../oci/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);
	char *norm = oci_normalize_path(text);

	if (norm) {
		char *again = oci_normalize_path(norm);
		if (norm[0] == '/' || strcmp(norm, "..") == 0 || strncmp(norm, "../", 3) == 0 ||
		    strstr(norm, "/../") || strstr(norm, "//") || again == NULL ||
		    strcmp(again, norm) != 0)
			__builtin_trap();
		free(again);
		free(norm);
	}
	free(text);
	return 0;
}
