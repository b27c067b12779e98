/* The registry client: the distribution spec's pull side (GET manifests and
 * blobs) over libcurl, with the token dance of Docker Hub and GHCR.
 *
 * A request that is answered 401 is answered again once with credentials:
 * a Bearer challenge sends us to its realm for a token (with Basic
 * credentials when the user logged in), a Basic challenge takes the
 * credentials themselves. Each thread keeps one libcurl handle, and with
 * it its connections, for all its requests; threads share DNS answers
 * and TLS sessions (libcurl does not support sharing connections between
 * concurrent threads). */
#define _GNU_SOURCE
#include "curl.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "../common/json.h"
#include "../common/banned.h"

#ifndef VCE_VERSION
#define VCE_VERSION "dev"
#endif

#define ERROR_BODY_MAX (64u << 10)
#define TOKEN_MAX      (1u << 20)

struct registry {
	char *domain, *repo;
	registry_endpoint *endpoints;
	size_t n_endpoints, current;
	char *credentials; /* "user:password" or NULL */
	pthread_mutex_t mu;
	char *authorization; /* "Authorization: ..." once a challenge was answered */
	CURLSH *share;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
	const bool *cancel;
};

struct response {
	long status;
	char *content_type, *docker_digest, *challenge;
	char *body; /* kept up to max bytes unless a sink takes them */
	size_t len, max;
	bool too_large;
	registry_sink sink;
	void *sink_ctx;
	int64_t offset; /* asked for */
	bool started;
	int64_t at;
	vce_err sink_err;
	CURL *h;
};

static void response_reset_headers(struct response *resp)
{
	free(resp->content_type);
	free(resp->docker_digest);
	free(resp->challenge);
	resp->content_type = resp->docker_digest = resp->challenge = NULL;
}

static void response_free(struct response *resp)
{
	response_reset_headers(resp);
	free(resp->body);
	vce_error_release(&resp->sink_err);
}

static char *header_value(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	line += n + 1;
	len -= n + 1;
	while (len > 0 && (*line == ' ' || *line == '\t'))
		line++, len--;
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	return xstrndup(line, len);
}

static size_t on_header(char *line, size_t size, size_t nitems, void *arg)
{
	struct response *resp = arg;
	size_t len = size * nitems;
	char *v;

	/* A new status line: the headers before belonged to a redirect. */
	if (len > 5 && strncmp(line, "HTTP/", 5) == 0)
		response_reset_headers(resp);
	else if ((v = header_value(line, len, "content-type")) != NULL) {
		free(resp->content_type);
		resp->content_type = v;
	} else if ((v = header_value(line, len, "docker-content-digest")) != NULL) {
		free(resp->docker_digest);
		resp->docker_digest = v;
	} else if ((v = header_value(line, len, "www-authenticate")) != NULL) {
		if (resp->challenge == NULL)
			resp->challenge = v;
		else
			free(v);
	}
	return len;
}

static bool success(long status)
{
	return status == 200 || status == 206;
}

static size_t keep_body(struct response *resp, const char *data, size_t len)
{
	size_t max = success(resp->status) ? resp->max : ERROR_BODY_MAX;

	if (resp->len + len > max) {
		if (success(resp->status)) {
			resp->too_large = true;
			return 0; /* stops the transfer */
		}
		return len; /* the start of an error page is enough */
	}
	resp->body = xrealloc(resp->body, resp->len + len + 1);
	memcpy(resp->body + resp->len, data, len);
	resp->len += len;
	resp->body[resp->len] = '\0';
	return len;
}

static size_t on_body(char *data, size_t size, size_t nitems, void *arg)
{
	struct response *resp = arg;
	size_t len = size * nitems;

	if (!resp->started) {
		resp->started = true;
		oci_curl.easy_getinfo(resp->h, CURLINFO_RESPONSE_CODE, &resp->status);
		resp->at = resp->status == 206 ? resp->offset : 0;
	}
	if (resp->sink == NULL || !success(resp->status))
		return keep_body(resp, data, len);
	if (resp->sink(resp->sink_ctx, data, len, resp->at, &resp->sink_err) < 0)
		return 0;
	resp->at += (int64_t)len;
	return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	const registry *r = arg;
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return r->cancel && __atomic_load_n(r->cancel, __ATOMIC_RELAXED) ? 1 : 0;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct registry *r = arg;
	(void)h;
	(void)access;
	pthread_mutex_lock(&r->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct registry *r = arg;
	(void)h;
	pthread_mutex_unlock(&r->locks[data]);
}

static CURLSH *new_share(registry *r)
{
	CURLSH *sh = oci_curl.share_init();

	oci_curl.share_setopt(sh, CURLSHOPT_LOCKFUNC, share_lock);
	oci_curl.share_setopt(sh, CURLSHOPT_UNLOCKFUNC, share_unlock);
	oci_curl.share_setopt(sh, CURLSHOPT_USERDATA, r);
	oci_curl.share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	oci_curl.share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	return sh;
}

static const registry_endpoint *endpoint(const registry *r)
{
	return &r->endpoints[r->current];
}

static __thread CURL *thread_handle;
static __thread CURLcode last_rc; /* of this thread's last request */

/* This thread's handle, reset: its live connections stay for reuse. */
static CURL *handle(void)
{
	if (thread_handle == NULL)
		thread_handle = oci_curl.easy_init();
	else
		oci_curl.easy_reset(thread_handle);
	return thread_handle;
}

void registry_thread_done(void)
{
	if (thread_handle)
		oci_curl.easy_cleanup(thread_handle);
	thread_handle = NULL;
}

/* One HTTP GET; `userpwd` for a token request. Fails only when no
 * answer came (or a sink or the size cap stopped it). */
static int perform(registry *r, const registry_endpoint *e, const char *url,
		   struct curl_slist *headers, const char *userpwd, struct response *resp,
		   vce_err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	char range[32];
	CURL *h = handle();
	CURLcode rc;

	if (h == NULL)
		return vce_error_make(err, ENOMEM, "libcurl");
	resp->h = h;
	oci_curl.easy_setopt(h, CURLOPT_URL, url);
	oci_curl.easy_setopt(h, CURLOPT_SHARE, r->share);
	oci_curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	oci_curl.easy_setopt(h, CURLOPT_USERAGENT, "vce/" VCE_VERSION);
	oci_curl.easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	oci_curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	oci_curl.easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* Blobs are often redirected to a CDN; libcurl sends our
	 * Authorization header only to the host it was meant for. */
	oci_curl.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	oci_curl.easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
	oci_curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 20L);
	/* A registry that stops sending: give up after a minute of silence. */
	oci_curl.easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	oci_curl.easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	oci_curl.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	oci_curl.easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	oci_curl.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	oci_curl.easy_setopt(h, CURLOPT_HEADERDATA, resp);
	oci_curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	oci_curl.easy_setopt(h, CURLOPT_WRITEDATA, resp);
	if (r->cancel) {
		oci_curl.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		oci_curl.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		oci_curl.easy_setopt(h, CURLOPT_XFERINFODATA, r);
	}
	if (userpwd) {
		oci_curl.easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		oci_curl.easy_setopt(h, CURLOPT_USERPWD, userpwd);
	}
	if (resp->offset > 0) {
		snprintf(range, sizeof(range), "%lld-", (long long)resp->offset);
		oci_curl.easy_setopt(h, CURLOPT_RANGE, range);
	}
	if (e->ca_file)
		oci_curl.easy_setopt(h, CURLOPT_CAINFO, e->ca_file);
	if (e->cert_file && e->key_file) {
		oci_curl.easy_setopt(h, CURLOPT_SSLCERT, e->cert_file);
		oci_curl.easy_setopt(h, CURLOPT_SSLKEY, e->key_file);
	}
	if (e->insecure) {
		oci_curl.easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		oci_curl.easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	rc = oci_curl.easy_perform(h);
	last_rc = rc;
	if (!resp->started)
		oci_curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	resp->h = NULL;
	if (rc == CURLE_OK)
		return 0;
	if (resp->sink_err) {
		*err = resp->sink_err;
		resp->sink_err = NULL;
		return -1;
	}
	if (resp->too_large)
		return vce_error_make(err, 0, "%s sent more than %zu bytes for %s; refusing it",
				      r->domain, resp->max, url);
	if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
		return vce_error_make(
		    err, 0,
		    "cannot reach %s: %s (give vce the registry's CA as /etc/vce/certs.d/%s/ca.crt, or list %s in \"insecure_registries\" in %s)",
		    url, *errbuf ? errbuf : oci_curl.easy_strerror(rc), r->domain, r->domain,
		    vce_config_path());
	return vce_error_make(err, 0, "cannot reach %s: %s", url,
			      *errbuf ? errbuf : oci_curl.easy_strerror(rc));
}

static char *escape(const char *s)
{
	char *e = oci_curl.easy_escape(NULL, s, 0);
	char *copy = xstrdup(e ? e : "");

	oci_curl.free(e);
	return copy;
}

static int login_needed(const registry *r, vce_err *err)
{
	if (r->credentials)
		return vce_error_make(
		    err, 0,
		    "%s refused the username or password: check them, then `vce login %s` again",
		    r->domain, r->domain);
	return vce_error_make(
	    err, 0, "%s wants a login for %s: run `vce login %s` first (or check the name)",
	    r->domain, r->repo ? r->repo : "this", r->domain);
}

static int fetch_token(registry *r, const registry_challenge *c, char **token, vce_err *err)
{
	cleanup_free char *service = escape(c->service ? c->service : "");
	cleanup_free char *scope = NULL, *url = NULL;
	cleanup_json json_t *answer = NULL;
	struct response resp = { .max = TOKEN_MAX };
	const char *t;
	int ret;

	if (c->realm == NULL ||
	    (strncmp(c->realm, "https://", 8) != 0 && strncmp(c->realm, "http://", 7) != 0))
		return vce_error_make(err, 0,
				      "%s asked for a token from a realm that is not a web address",
				      r->domain);
	if (c->scope)
		scope = escape(c->scope);
	else if (r->repo) {
		cleanup_free char *s = xasprintf("repository:%s:pull", r->repo);
		scope = escape(s);
	}
	url = xasprintf("%s%sservice=%s%s%s", c->realm, strchr(c->realm, '?') ? "&" : "?", service,
			scope ? "&scope=" : "", scope ? scope : "");
	ret = perform(r, endpoint(r), url, NULL, r->credentials, &resp, err);
	if (ret == 0 && (resp.status == 401 || resp.status == 403))
		ret = login_needed(r, err);
	else if (ret == 0 && resp.status != 200)
		ret = vce_error_make(err, 0, "the token service of %s (%s) answered HTTP %ld",
				     r->domain, c->realm, resp.status);
	else if (ret == 0 &&
		 (vce_json_parse(resp.body ? resp.body : "", resp.len, &answer, err) < 0 ||
		  ((t = vce_json_string(answer, "token")) == NULL &&
		   (t = vce_json_string(answer, "access_token")) == NULL)))
		ret = vce_error_make(err, 0, "the token service of %s answered without a token",
				     r->domain);
	else if (ret == 0)
		*token = xstrdup(t);
	response_free(&resp);
	return ret;
}

/* Answers a challenge: r->authorization is what the retry sends. */
static int authenticate(registry *r, const char *header, vce_err *err)
{
	registry_challenge c;
	cleanup_free char *token = NULL, *b64 = NULL;
	char *auth = NULL;
	int ret = 0;

	if (header == NULL || registry_parse_challenge(header, &c) < 0)
		return login_needed(r, err);
	if (strcmp(c.scheme, "bearer") == 0) {
		ret = fetch_token(r, &c, &token, err);
		if (ret == 0)
			auth = xasprintf("Authorization: Bearer %s", token);
	} else if (strcmp(c.scheme, "basic") == 0 && r->credentials) {
		b64 = registry_base64(r->credentials);
		auth = xasprintf("Authorization: Basic %s", b64);
	} else {
		ret = login_needed(r, err);
	}
	registry_challenge_free(&c);
	if (ret == 0) {
		pthread_mutex_lock(&r->mu);
		free(r->authorization);
		r->authorization = auth;
		pthread_mutex_unlock(&r->mu);
	}
	return ret;
}

/* GET path on the current endpoint, answering one challenge. Returns 0
 * with resp->status set, whatever it is. */
static int request(registry *r, const char *path, const char *accept, struct response *resp,
		   vce_err *err)
{
	cleanup_free char *url = xasprintf("%s%s", endpoint(r)->url, path);

	for (int attempt = 0;; attempt++) {
		struct curl_slist *headers = NULL;
		int ret;

		if (accept)
			headers = oci_curl.slist_append(headers, accept);
		pthread_mutex_lock(&r->mu);
		if (r->authorization)
			headers = oci_curl.slist_append(headers, r->authorization);
		pthread_mutex_unlock(&r->mu);
		resp->started = false;
		resp->status = 0;
		ret = perform(r, endpoint(r), url, headers, NULL, resp, err);
		oci_curl.slist_free_all(headers);
		if (ret < 0 || resp->status != 401)
			return ret;
		if (attempt > 0)
			return login_needed(r, err);
		if (authenticate(r, resp->challenge, err) < 0)
			return -1;
		free(resp->body);
		resp->body = NULL;
		resp->len = 0;
	}
}

/* The registry's own words for a failure: errors[0].code and message. */
static int http_failure(registry *r, const struct response *resp, const char *what, vce_err *err)
{
	cleanup_json json_t *root = NULL;
	cleanup_err vce_err ignored = NULL;
	cleanup_free char *detail = NULL;
	json_t *first = NULL;
	const char *code, *message;

	if (resp->body && vce_json_parse(resp->body, resp->len, &root, &ignored) == 0)
		first = json_array_get(json_object_get(root, "errors"), 0);
	code = vce_json_string(first, "code");
	message = vce_json_string(first, "message");
	detail = message ? xasprintf(": %s", message) : xstrdup("");
	if (resp->status == 404 && code && strcmp(code, "NAME_UNKNOWN") == 0)
		return vce_error_make(err, 0, "repository %s not found on %s", r->repo, r->domain);
	if (resp->status == 404 && strncmp(what, "sha256:", 7) != 0)
		return vce_error_make(
		    err, 0, "%s/%s:%s not found: %s has no such tag (or no such repository)",
		    r->domain, r->repo, what, r->domain);
	if (resp->status == 404)
		return vce_error_make(err, 0, "%s not found in %s/%s", what, r->domain, r->repo);
	if (resp->status == 403)
		return vce_error_make(err, 0, "%s refused access to %s/%s%s", r->domain, r->domain,
				      r->repo, detail);
	return vce_error_make(err, 0, "%s answered HTTP %ld for %s of %s%s", r->domain,
			      resp->status, what, r->repo, detail);
}

int registry_open(const oci_ref *ref, const char *credentials, registry **out, vce_err *err)
{
	registry *r;

	if (oci_curl_load(err) < 0)
		return -1;
	r = xcalloc(1, sizeof(*r));
	if (registry_endpoints(ref->domain, &r->endpoints, &r->n_endpoints, err) < 0) {
		free(r);
		return -1;
	}
	r->domain = xstrdup(ref->domain);
	r->repo = ref->path ? xstrdup(ref->path) : NULL;
	r->credentials = credentials ? xstrdup(credentials) : NULL;
	pthread_mutex_init(&r->mu, NULL);
	for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&r->locks[i], NULL);
	r->share = new_share(r);
	*out = r;
	return 0;
}

void registry_close(registry *r)
{
	if (r == NULL)
		return;
	registry_thread_done();
	if (r->share)
		oci_curl.share_cleanup(r->share);
	for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&r->locks[i]);
	pthread_mutex_destroy(&r->mu);
	registry_endpoints_free(r->endpoints, r->n_endpoints);
	free(r->authorization);
	if (r->credentials)
		explicit_bzero(r->credentials, strlen(r->credentials));
	free(r->credentials);
	free(r->domain);
	free(r->repo);
	free(r);
}

void registry_set_cancel(registry *r, const bool *flag)
{
	r->cancel = flag;
}

const char *registry_domain(const registry *r)
{
	return r->domain;
}

static const char manifest_accept[] =
    "Accept: " OCI_MT_INDEX ", " OCI_MT_MANIFEST ", " DOCKER_MT_LIST ", " DOCKER_MT_MANIFEST;

static char *sniff_media_type(const char *body, size_t len)
{
	cleanup_json json_t *root = NULL;
	cleanup_err vce_err ignored = NULL;
	const char *mt;

	if (vce_json_parse(body, len, &root, &ignored) < 0)
		return NULL;
	mt = vce_json_string(root, "mediaType");
	if (mt)
		return xstrdup(mt);
	/* An OCI document may leave mediaType out. */
	return xstrdup(json_object_get(root, "manifests") ? OCI_MT_INDEX : OCI_MT_MANIFEST);
}

/* A mirror that fails makes way for the next endpoint; the registry's
 * TLS endpoint only when what answers speaks plain HTTP. */
static bool should_try_next(const registry *r, const struct response *resp, int ret)
{
	if (r->current + 1 >= r->n_endpoints)
		return false;
	if (endpoint(r)->mirror)
		return ret < 0 || !success(resp->status);
	return ret < 0 && last_rc == CURLE_SSL_CONNECT_ERROR;
}

int registry_get_manifest(registry *r, const char *reference, size_t max, char **body, size_t *len,
			  char **media_type, char *digest, vce_err *err)
{
	cleanup_free char *path = xasprintf("/v2/%s/manifests/%s", r->repo, reference);
	struct response resp = { .max = max };
	int ret;

	for (;;) {
		ret = request(r, path, manifest_accept, &resp, err);
		if (!should_try_next(r, &resp, ret))
			break;
		vce_verbose("%s: %s; trying the next endpoint", endpoint(r)->url,
			    ret < 0 ? (*err)->msg : "no such manifest");
		vce_error_release(err);
		response_free(&resp);
		memset(&resp, 0, sizeof(resp));
		resp.max = max;
		r->current++;
	}
	if (ret == 0 && resp.status != 200)
		ret = http_failure(r, &resp, reference, err);
	if (ret == 0) {
		char *mt = resp.content_type;
		vce_digest_of(resp.body ? resp.body : "", resp.len, digest);
		if (oci_digest_valid(reference) && strcmp(reference, digest) != 0)
			ret = vce_error_make(
			    err, 0, "%s sent a manifest for %s whose digest is %s: refusing it",
			    r->domain, reference, digest);
		else if (mt && (oci_is_manifest_type(mt) || oci_is_index_type(mt)))
			*media_type = xstrdup(mt);
		else
			*media_type = sniff_media_type(resp.body ? resp.body : "", resp.len);
	}
	if (ret == 0) {
		*body = resp.body ? resp.body : xstrdup("");
		*len = resp.len;
		resp.body = NULL;
	}
	response_free(&resp);
	return ret;
}

int registry_get_blob(registry *r, const char *digest, size_t max, char **body, size_t *len,
		      vce_err *err)
{
	cleanup_free char *path = xasprintf("/v2/%s/blobs/%s", r->repo, digest);
	struct response resp = { .max = max };
	char got[OCI_DIGEST_LEN + 1];
	int ret = request(r, path, NULL, &resp, err);

	if (ret == 0 && resp.status != 200)
		ret = http_failure(r, &resp, digest, err);
	if (ret == 0) {
		vce_digest_of(resp.body ? resp.body : "", resp.len, got);
		if (strcmp(got, digest) != 0)
			ret = vce_error_make(err, 0,
					     "%s sent blob %s with the digest %s: refusing it",
					     r->domain, digest, got);
	}
	if (ret == 0) {
		*body = resp.body ? resp.body : xstrdup("");
		*len = resp.len;
		resp.body = NULL;
	}
	response_free(&resp);
	return ret;
}

int registry_fetch_blob(registry *r, const char *digest, int64_t offset, registry_sink sink,
			void *ctx, vce_err *err)
{
	cleanup_free char *path = xasprintf("/v2/%s/blobs/%s", r->repo, digest);
	struct response resp = { .sink = sink, .sink_ctx = ctx, .offset = offset };
	int ret = request(r, path, NULL, &resp, err);

	if (ret == 0 && !success(resp.status))
		ret = http_failure(r, &resp, digest, err);
	response_free(&resp);
	return ret;
}

int registry_login(const char *domain, const char *credentials, vce_err *err)
{
	oci_ref ref = { .domain = (char *)domain };
	registry *r;
	int ret;

	if (registry_open(&ref, credentials, &r, err) < 0)
		return -1;
	while (r->endpoints[r->current].mirror)
		r->current++;
	for (;;) {
		struct response resp = { .max = ERROR_BODY_MAX };
		bool next;
		ret = request(r, "/v2/", NULL, &resp, err);
		next = should_try_next(r, &resp, ret);
		if (ret == 0 && resp.status != 200)
			ret = vce_error_make(err, 0, "%s answered HTTP %ld to a login", domain,
					     resp.status);
		response_free(&resp);
		if (ret == 0 || !next)
			break;
		vce_error_release(err);
		r->current++;
	}
	registry_close(r);
	return ret;
}
