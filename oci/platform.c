/* The platform this binary runs on, as OCI names it. */
#include "oci.h"

#include <stdio.h>
#include <stdlib.h>
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

/* The names people write for an architecture, as OCI spells them. */
static void normalize_platform(char *arch, size_t arch_len, char *variant, size_t variant_len)
{
	static const struct {
		const char *alias, *arch, *variant;
	} aliases[] = {
		{ "x86_64", "amd64", "" }, { "x86-64", "amd64", "" }, { "aarch64", "arm64", "" },
		{ "armhf", "arm", "v7" },  { "armel", "arm", "v6" },  { "i386", "386", "" },
		{ "i686", "386", "" },
	};

	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		if (strcmp(arch, aliases[i].alias) == 0) {
			snprintf(arch, arch_len, "%s", aliases[i].arch);
			if (*variant == '\0')
				snprintf(variant, variant_len, "%s", aliases[i].variant);
		}
	}
	/* arm64 has one variant in practice: v8 and none are the same. */
	if (strcmp(arch, "arm64") == 0 && strcmp(variant, "v8") == 0)
		*variant = '\0';
}

int oci_platform_parse(const char *text, oci_platform *out, vce_err *err)
{
	const char *slash = strchr(text, '/');
	const char *second = slash ? strchr(slash + 1, '/') : NULL;
	size_t os_len = slash ? (size_t)(slash - text) : 0;
	size_t arch_len = second ? (size_t)(second - slash - 1) : slash ? strlen(slash + 1) : 0;

	memset(out, 0, sizeof(*out));
	if (slash == NULL || os_len == 0 || os_len >= sizeof(out->os) || arch_len == 0 ||
	    arch_len >= sizeof(out->arch) ||
	    (second && (strlen(second + 1) == 0 || strlen(second + 1) >= sizeof(out->variant) ||
			strchr(second + 1, '/'))))
		return vce_error_make(
		    err, 0,
		    "platform \"%s\" is not OS/ARCH[/VARIANT], e.g. linux/arm64 or linux/arm/v7",
		    text);
	memcpy(out->os, text, os_len);
	memcpy(out->arch, slash + 1, arch_len);
	if (second)
		snprintf(out->variant, sizeof(out->variant), "%s", second + 1);
	normalize_platform(out->arch, sizeof(out->arch), out->variant, sizeof(out->variant));
	return 0;
}

void oci_platform_host(oci_platform *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->os, sizeof(out->os), "linux");
	snprintf(out->arch, sizeof(out->arch), "%s", oci_host_arch());
	snprintf(out->variant, sizeof(out->variant), "%s", oci_host_variant());
	normalize_platform(out->arch, sizeof(out->arch), out->variant, sizeof(out->variant));
}

char *oci_platform_string(const char *os, const char *arch, const char *variant)
{
	return variant && *variant
		   ? xasprintf("%s/%s/%s", os ? os : "?", arch ? arch : "?", variant)
		   : xasprintf("%s/%s", os ? os : "?", arch ? arch : "?");
}

/* How well an image for (os, arch, variant) fits `want`: 0 not at all,
 * higher is better. An arm/v7 machine runs v6 and v5 code too. */
int oci_platform_score(const oci_platform *want, const char *os, const char *arch,
		       const char *variant)
{
	char a[32], v[32];

	if (os == NULL || arch == NULL || strcmp(os, want->os) != 0)
		return 0;
	snprintf(a, sizeof(a), "%s", arch);
	snprintf(v, sizeof(v), "%s", variant ? variant : "");
	normalize_platform(a, sizeof(a), v, sizeof(v));
	if (strcmp(a, want->arch) != 0)
		return 0;
	if (strcmp(v, want->variant) == 0)
		return 10;
	if (*v == '\0')
		return 5;
	if (strcmp(a, "arm") == 0 && v[0] == 'v' && want->variant[0] == 'v' &&
	    strtol(v + 1, NULL, 10) < strtol(want->variant + 1, NULL, 10))
		return 1 + (int)strtol(v + 1, NULL, 10) / 2;
	if (*want->variant == '\0')
		return 2;
	return 0;
}
