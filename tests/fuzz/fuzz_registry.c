/* libFuzzer: what a registry or a user hands the registry client: the
 * WWW-Authenticate challenge of a 401 (first byte even) and --platform
 * (odd). A challenge that parses has a lowercase scheme without spaces;
 * a platform that parses has an OS and an architecture. */
#include <stdint.h>
#include <string.h>

#include "../../oci/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	vce_err err = NULL;

	if (size < 1)
		return 0;
	text = xstrndup((const char *)data + 1, size - 1);
	if (data[0] % 2 == 0) {
		registry_challenge c;
		if (registry_parse_challenge(text, &c) == 0) {
			if (c.scheme == NULL || *c.scheme == '\0' ||
			    strpbrk(c.scheme, " \tABCDEFGHIJKLMNOPQRSTUVWXYZ"))
				__builtin_trap();
			registry_challenge_free(&c);
		}
	} else {
		oci_platform p;
		if (oci_platform_parse(text, &p, &err) == 0 &&
		    (p.os[0] == '\0' || p.arch[0] == '\0'))
			__builtin_trap();
	}
	vce_error_release(&err);
	free(text);
	return 0;
}
