/* The platform this binary runs on, as OCI names it. */
#include "oci.h"

#include <string.h>
#include <sys/utsname.h>

#include "../common/banned.h"

static const char *machine(void)
{
	static struct utsname u;
	static bool done;

	if (!done) {
		uname(&u);
		done = true;
	}
	return u.machine;
}

const char *oci_host_arch(void)
{
	const char *m = machine();

	if (strcmp(m, "x86_64") == 0)
		return "amd64";
	if (strcmp(m, "aarch64") == 0 || strcmp(m, "arm64") == 0)
		return "arm64";
	if (strncmp(m, "armv", 4) == 0)
		return "arm";
	if (strcmp(m, "i686") == 0 || strcmp(m, "i386") == 0)
		return "386";
	return m;
}

const char *oci_host_variant(void)
{
	const char *m = machine();

	if (strcmp(m, "aarch64") == 0)
		return "v8";
	if (strncmp(m, "armv7", 5) == 0)
		return "v7";
	if (strncmp(m, "armv6", 5) == 0)
		return "v6";
	return "";
}
