#include "oci.h"

#include <openssl/evp.h>
#include <string.h>
#include <sys/utsname.h>

#include "../common/banned.h"

struct oci_hasher {
	EVP_MD_CTX *ctx;
};

oci_hasher *oci_hasher_new(void)
{
	oci_hasher *h = xcalloc(1, sizeof(*h));

	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		abort();
	return h;
}

void oci_hasher_update(oci_hasher *h, const void *data, size_t len)
{
	if (EVP_DigestUpdate(h->ctx, data, len) != 1)
		abort();
}

void oci_hasher_final(oci_hasher *h, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char *p;

	if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1 || len != 32)
		abort();
	memcpy(out, "sha256:", 7);
	p = out + 7;
	for (unsigned int i = 0; i < len; i++) {
		*p++ = hex[md[i] >> 4];
		*p++ = hex[md[i] & 15];
	}
	*p = '\0';
}

void oci_hasher_free(oci_hasher *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void oci_digest_of(const void *data, size_t len, char *out)
{
	oci_hasher *h = oci_hasher_new();

	oci_hasher_update(h, data, len);
	oci_hasher_final(h, out);
	oci_hasher_free(h);
}

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
