/* sha256, the one digest OCI uses, with OpenSSL's libcrypto. */
#include "common.h"

#include <openssl/evp.h>
#include <string.h>

#include "banned.h"

struct vce_hasher {
	EVP_MD_CTX *ctx;
};

vce_hasher *vce_hasher_new(void)
{
	vce_hasher *h = xcalloc(1, sizeof(*h));

	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		abort();
	return h;
}

void vce_hasher_update(vce_hasher *h, const void *data, size_t len)
{
	if (EVP_DigestUpdate(h->ctx, data, len) != 1)
		abort();
}

void vce_hasher_final(vce_hasher *h, char *out)
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

void vce_hasher_free(vce_hasher *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void vce_digest_of(const void *data, size_t len, char *out)
{
	vce_hasher *h = vce_hasher_new();

	vce_hasher_update(h, data, len);
	vce_hasher_final(h, out);
	vce_hasher_free(h);
}
