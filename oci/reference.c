/* Image references as docker and the distribution spec write them:
 *   reference := name [":" tag] ["@" digest]
 *   name      := [domain "/"] path-component ["/" path-component]*
 * with docker's normalisation: no domain means docker.io, and a one-part
 * docker.io path means library/<name>. */
#define _GNU_SOURCE
#include "oci.h"

#include <ctype.h>
#include <string.h>

#include "../common/banned.h"

#define DEFAULT_DOMAIN "docker.io"
#define NAME_MAX_LEN   255
#define TAG_MAX_LEN    128

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*
 * separator      := "_" | "." | "__" | "-"+ */
static bool valid_path_component(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	while (i < len) {
		if (is_lower_alnum(s[i])) {
			i++;
			continue;
		}
		size_t start = i;
		if (s[i] == '-') {
			while (i < len && s[i] == '-')
				i++;
		} else if (s[i] == '_' && i + 1 < len && s[i + 1] == '_') {
			i += 2;
		} else if (s[i] == '_' || s[i] == '.') {
			i++;
		} else {
			return false;
		}
		if (i == start || i >= len || !is_lower_alnum(s[i]))
			return false;
	}
	return true;
}

static bool valid_domain(const char *s, size_t len)
{
	size_t i = 0, host_end = len;
	const char *colon = memrchr(s, ':', len);

	if (len == 0)
		return false;
	if (s[0] == '[') { /* [IPv6]:port */
		const char *close = memchr(s, ']', len);
		if (close == NULL)
			return false;
		for (const char *p = s + 1; p < close; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':')
				return false;
		host_end = (size_t)(close - s) + 1;
		colon = host_end < len ? s + host_end : NULL;
	} else {
		if (colon)
			host_end = (size_t)(colon - s);
		/* domain-component ("." domain-component)* */
		while (i < host_end) {
			size_t start = i;
			while (i < host_end && s[i] != '.') {
				if (!isalnum((unsigned char)s[i]) && s[i] != '-')
					return false;
				i++;
			}
			if (i == start || s[start] == '-' || s[i - 1] == '-')
				return false;
			if (i < host_end)
				i++; /* the dot */
			if (i == host_end && s[i - 1] == '.')
				return false;
		}
	}
	if (colon) {
		const char *port = colon + 1, *end = s + len;
		if (*colon != ':' || port == end)
			return false;
		for (const char *p = port; p < end; p++)
			if (!isdigit((unsigned char)*p))
				return false;
	}
	return host_end > 0;
}

static bool valid_tag(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > TAG_MAX_LEN)
		return false;
	if (!isalnum((unsigned char)s[0]) && s[0] != '_')
		return false;
	for (size_t i = 1; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

bool oci_digest_valid(const char *digest)
{
	static const char prefix[] = "sha256:";

	if (digest == NULL || strncmp(digest, prefix, sizeof(prefix) - 1) != 0)
		return false;
	digest += sizeof(prefix) - 1;
	for (int i = 0; i < 64; i++)
		if (!((digest[i] >= '0' && digest[i] <= '9') ||
		      (digest[i] >= 'a' && digest[i] <= 'f')))
			return false;
	return digest[64] == '\0';
}

/* Docker's rule: the first component names a registry when it has a dot
 * or a colon, or is "localhost", or has an upper-case letter. */
static bool first_component_is_domain(const char *name, size_t len)
{
	if (memchr(name, '.', len) || memchr(name, ':', len))
		return true;
	if (len == 9 && strncmp(name, "localhost", 9) == 0)
		return true;
	for (size_t i = 0; i < len; i++)
		if (isupper((unsigned char)name[i]))
			return true;
	return false;
}

static int parse_name(const char *name, oci_ref *out, const char *text, vce_err *err)
{
	const char *slash = strchr(name, '/');
	const char *path = name;

	if (slash && first_component_is_domain(name, (size_t)(slash - name))) {
		if (!valid_domain(name, (size_t)(slash - name)))
			return vce_error_make(
			    err, 0, "\"%s\" is not a valid image name: bad registry \"%.*s\"", text,
			    (int)(slash - name), name);
		out->domain = xstrndup(name, (size_t)(slash - name));
		path = slash + 1;
	} else {
		out->domain = xstrdup(DEFAULT_DOMAIN);
	}
	if (strcmp(out->domain, "index.docker.io") == 0) {
		free(out->domain);
		out->domain = xstrdup(DEFAULT_DOMAIN);
	}
	for (const char *p = path;;) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (!valid_path_component(p, len)) {
			for (size_t i = 0; i < len; i++)
				if (isupper((unsigned char)p[i]))
					return vce_error_make(
					    err, 0,
					    "\"%s\" is not a valid image name: repository names must be lowercase",
					    text);
			return vce_error_make(
			    err, 0,
			    "\"%s\" is not a valid image name: use letters, digits and . _ - separated by /, e.g. busybox:latest",
			    text);
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	if (strcmp(out->domain, DEFAULT_DOMAIN) == 0 && strchr(path, '/') == NULL)
		out->path = xasprintf("library/%s", path);
	else
		out->path = xstrdup(path);
	if (strlen(out->domain) + 1 + strlen(out->path) > NAME_MAX_LEN)
		return vce_error_make(err, 0,
				      "\"%s\" is not a valid image name: longer than %d characters",
				      text, NAME_MAX_LEN);
	return 0;
}

int oci_ref_parse(const char *text, oci_ref *out, vce_err *err)
{
	cleanup_free char *copy = NULL;
	char *at, *colon, *slash;
	oci_ref ref = { 0 };

	memset(out, 0, sizeof(*out));
	if (text == NULL || *text == '\0')
		return vce_error_make(err, 0, "an image name is needed, e.g. busybox:latest");
	copy = xstrdup(text);
	at = strchr(copy, '@');
	if (at) {
		*at = '\0';
		if (!oci_digest_valid(at + 1))
			return vce_error_make(
			    err, 0,
			    "\"%s\" is not a valid image name: the part after @ must be sha256: and 64 hex digits",
			    text);
		ref.digest = xstrdup(at + 1);
	}
	slash = strrchr(copy, '/');
	colon = strrchr(copy, ':');
	if (colon && (slash == NULL || colon > slash)) {
		*colon = '\0';
		if (!valid_tag(colon + 1)) {
			free(ref.digest);
			return vce_error_make(
			    err, 0,
			    "\"%s\" is not a valid image name: bad tag \"%s\" (letters, digits, _ . - up to 128)",
			    text, colon + 1);
		}
		ref.tag = xstrdup(colon + 1);
	}
	if (parse_name(copy, &ref, text, err) < 0) {
		oci_ref_free(&ref);
		return -1;
	}
	if (ref.tag == NULL && ref.digest == NULL)
		ref.tag = xstrdup("latest");
	*out = ref;
	return 0;
}

void oci_ref_free(oci_ref *ref)
{
	free(ref->domain);
	free(ref->path);
	free(ref->tag);
	free(ref->digest);
	memset(ref, 0, sizeof(*ref));
}

char *oci_ref_canonical(const oci_ref *ref)
{
	return xasprintf("%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag ? ":" : "",
			 ref->tag ? ref->tag : "", ref->digest ? "@" : "",
			 ref->digest ? ref->digest : "");
}

char *oci_ref_familiar_repo(const oci_ref *ref)
{
	if (strcmp(ref->domain, DEFAULT_DOMAIN) != 0)
		return xasprintf("%s/%s", ref->domain, ref->path);
	if (strncmp(ref->path, "library/", 8) == 0 && strchr(ref->path + 8, '/') == NULL)
		return xstrdup(ref->path + 8);
	return xstrdup(ref->path);
}
