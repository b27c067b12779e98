/* Private to oci/: the registry client (distribution spec v2 over libcurl),
 * registry settings and credentials. pull.c is its user. */
#ifndef VCE_OCI_REGISTRY_H
#define VCE_OCI_REGISTRY_H

#include <pthread.h>

#include "oci.h"

/* libcurl is loaded when the first request is made, not linked: linked,
 * it and the two dozen libraries it needs cost every `vce run` several
 * milliseconds of dynamic loading. */
int oci_curl_load(vce_err *err);

/* ---- settings: "registry_mirrors", "insecure_registries" in vce's
 * config file, CAs in certs.d/<host[:port]>/ca.crt ---- */
typedef struct registry_endpoint {
	char *url;	 /* "https://registry-1.docker.io", no trailing slash */
	bool insecure;	 /* plain HTTP allowed, certificates not checked */
	bool mirror;	 /* a mirror: on failure, try the next endpoint */
	char *ca_file;	 /* certs.d/<host>/ca.crt, or NULL for the system CAs */
	char *cert_file; /* certs.d/<host>/client.cert and client.key */
	char *key_file;
} registry_endpoint;

/* The endpoints to ask for domain's images, mirrors first. */
int registry_endpoints(const char *domain, registry_endpoint **out, size_t *n, vce_err *err);
void registry_endpoints_free(registry_endpoint *e, size_t n);

/* ---- credentials: the docker/podman auth file format ---- */
/* "user:password" for domain from the auth files, or NULL. */
char *registry_credentials(const char *domain);
/* Writes (user != NULL) or removes (user == NULL) domain's entry; out:
 * the file written. Removing an entry no file has fails. */
int registry_store_credentials(const char *domain, const char *user, const char *password,
			       char **file_out, vce_err *err);

/* Base64 of text, as Basic auth and the auth files want it. */
char *registry_base64(const char *text);

/* A WWW-Authenticate challenge: scheme and the parameters vce uses. */
typedef struct registry_challenge {
	char *scheme; /* "bearer", "basic" (lowercase) */
	char *realm, *service, *scope;
} registry_challenge;
int registry_parse_challenge(const char *header, registry_challenge *out);
void registry_challenge_free(registry_challenge *c);

/* ---- the client ---- */
typedef struct registry registry;

/* A client for one repository; `credentials` is "user:password" or NULL. */
int registry_open(const oci_ref *ref, const char *credentials, registry **out, vce_err *err);
void registry_close(registry *r);
const char *registry_domain(const registry *r);
/* Transfers under way stop soon after *flag becomes true. */
void registry_set_cancel(registry *r, const bool *flag);
/* A thread that made requests lets go of its connections. */
void registry_thread_done(void);

/* The manifest or index `reference` (tag or digest) names, at most
 * max bytes; its media type and digest (checked when reference is one). */
int registry_get_manifest(registry *r, const char *reference, size_t max, char **body, size_t *len,
			  char **media_type, char *digest, vce_err *err);
/* A small blob (a config, a manifest), checked against its digest. */
int registry_get_blob(registry *r, const char *digest, size_t max, char **body, size_t *len,
		      vce_err *err);

/* Receives a blob's bytes as they arrive, `at` their offset in the blob;
 * -1 (with err set) stops the transfer. */
typedef int (*registry_sink)(void *ctx, const void *data, size_t len, int64_t at, vce_err *err);
/* Streams a blob from byte `offset` on. A registry that ignores the
 * range sends from byte 0: the first `at` tells the sink which. */
int registry_fetch_blob(registry *r, const char *digest, int64_t offset, registry_sink sink,
			void *ctx, vce_err *err);

/* Checks credentials the way `docker login` does: GET /v2/ and answer
 * its challenge. */
int registry_login(const char *domain, const char *credentials, vce_err *err);

#endif
