/* Where a domain's images are fetched from, and with which credentials:
 * the settings docker and podman users already have.
 *
 *   vce's config file     "registry_mirrors": {"docker.io": ["http://mirror:5000"]}
 *                         "insecure_registries": ["lab-registry:5000"]
 *                         "certs_dirs": [...]  (default below)
 *   certs.d/HOST[:PORT]/  ca.crt, client.cert, client.key (docker's layout)
 *   auth files            {"auths": {"HOST": {"auth": base64("user:password")}}} */
#define _GNU_SOURCE
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/json.h"
#include "../common/banned.h"

#define DOCKER_HUB_KEY "https://index.docker.io/v1/"

static bool is_docker_hub(const char *domain)
{
	return strcmp(domain, "docker.io") == 0 || strcmp(domain, "index.docker.io") == 0 ||
	       strcmp(domain, "registry-1.docker.io") == 0;
}

static const char *host_of_url(const char *url)
{
	const char *p = strstr(url, "://");
	return p ? p + 3 : url;
}

/* A registry on this machine may speak plain HTTP (docker lets any on
 * 127.0.0.0/8 do so without being told). */
static bool is_loopback(const char *hostport)
{
	size_t host_len = strcspn(hostport, hostport[0] == '[' ? "]" : ":/");

	if (hostport[0] == '[')
		return strncmp(hostport, "[::1]", 5) == 0;
	return (host_len == 9 && strncmp(hostport, "localhost", 9) == 0) ||
	       strncmp(hostport, "127.", 4) == 0;
}

static bool listed(json_t *array, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach (array, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home && *home == '/')
		return home;
	pw = getpwuid(geteuid());
	return pw ? pw->pw_dir : "/";
}

static char *file_in_certs_dirs(json_t *conf, const char *host, const char *file)
{
	json_t *dirs = json_object_get(conf, "certs_dirs");
	cleanup_free char *user_dir = xasprintf("%s/.config/containers/certs.d", home_dir());
	const char *defaults[] = { "/etc/vce/certs.d", "/etc/containers/certs.d",
				   "/etc/docker/certs.d", user_dir };
	size_t i;
	json_t *d;

	json_array_foreach (dirs, i, d) {
		char *path = xasprintf("%s/%s/%s", json_string_value(d), host, file);
		if (json_is_string(d) && access(path, R_OK) == 0)
			return path;
		free(path);
	}
	for (i = 0; dirs == NULL && i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		char *path = xasprintf("%s/%s/%s", defaults[i], host, file);
		if (access(path, R_OK) == 0)
			return path;
		free(path);
	}
	return NULL;
}

static void add_endpoint(registry_endpoint **v, size_t *n, json_t *conf, const char *url,
			 bool insecure, bool mirror)
{
	const char *host = host_of_url(url);
	size_t host_len = strcspn(host, "/");
	cleanup_free char *hostport = xstrndup(host, host_len);
	registry_endpoint *e;

	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	e = &(*v)[(*n)++];
	memset(e, 0, sizeof(*e));
	e->url = xstrdup(url);
	while (strlen(e->url) > 0 && e->url[strlen(e->url) - 1] == '/')
		e->url[strlen(e->url) - 1] = '\0';
	e->insecure = insecure;
	e->mirror = mirror;
	e->ca_file = file_in_certs_dirs(conf, hostport, "ca.crt");
	e->cert_file = file_in_certs_dirs(conf, hostport, "client.cert");
	e->key_file = file_in_certs_dirs(conf, hostport, "client.key");
}

int registry_endpoints(const char *domain, registry_endpoint **out, size_t *n, vce_err *err)
{
	cleanup_json json_t *conf = vce_config_load();
	json_t *mirrors = json_object_get(json_object_get(conf, "registry_mirrors"), domain);
	json_t *insecure_list = json_object_get(conf, "insecure_registries");
	bool insecure = listed(insecure_list, domain);
	size_t i;
	json_t *m;

	*out = NULL;
	*n = 0;
	json_array_foreach (mirrors, i, m) {
		const char *url = json_string_value(m);
		if (url == NULL ||
		    (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)) {
			registry_endpoints_free(*out, *n);
			return vce_error_make(
			    err, 0,
			    "registry_mirrors in %s: a mirror of %s is not an http:// or https:// address",
			    vce_config_path(), domain);
		}
		add_endpoint(out, n, conf, url,
			     strncmp(url, "http://", 7) == 0 ||
				 listed(insecure_list, host_of_url(url)),
			     true);
	}
	if (is_docker_hub(domain)) {
		add_endpoint(out, n, conf, "https://registry-1.docker.io", false, false);
		return 0;
	}
	{
		cleanup_free char *https = xasprintf("https://%s", domain);
		add_endpoint(out, n, conf, https, insecure, false);
	}
	/* As docker, an insecure registry is tried over TLS first, and one
	 * on this machine may speak plain HTTP; unlike docker, a certificate
	 * is checked unless the registry is listed as insecure. */
	if (insecure || is_loopback(domain)) {
		cleanup_free char *http = xasprintf("http://%s", domain);
		add_endpoint(out, n, conf, http, true, false);
	}
	return 0;
}

void registry_endpoints_free(registry_endpoint *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].url);
		free(e[i].ca_file);
		free(e[i].cert_file);
		free(e[i].key_file);
	}
	free(e);
}

/* ---- WWW-Authenticate: scheme 1*SP param *("," param),
 *      param = token "=" (token | quoted-string) ---- */

static const char *skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	return p;
}

static char *parse_value(const char **pp)
{
	const char *p = *pp;
	char *out, *o;

	if (*p != '"') {
		size_t len = strcspn(p, ", \t");
		*pp = p + len;
		return xstrndup(p, len);
	}
	out = o = xmalloc(strlen(p) + 1);
	for (p++; *p && *p != '"'; p++) {
		if (*p == '\\' && p[1])
			p++;
		*o++ = *p;
	}
	*o = '\0';
	*pp = *p == '"' ? p + 1 : p;
	return out;
}

int registry_parse_challenge(const char *header, registry_challenge *out)
{
	const char *p = skip_space(header);
	size_t len = strcspn(p, " \t");

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return -1;
	out->scheme = xstrndup(p, len);
	for (char *s = out->scheme; *s; s++)
		*s = (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
	p = skip_space(p + len);
	while (*p) {
		size_t key_len = strcspn(p, "= \t,");
		const char *key = p;
		char *value;
		if (p[key_len] != '=') {
			p = skip_space(p + key_len + (p[key_len] != '\0'));
			continue;
		}
		p += key_len + 1;
		value = parse_value(&p);
		if (key_len == 5 && strncasecmp(key, "realm", 5) == 0 && out->realm == NULL)
			out->realm = value;
		else if (key_len == 7 && strncasecmp(key, "service", 7) == 0 &&
			 out->service == NULL)
			out->service = value;
		else if (key_len == 5 && strncasecmp(key, "scope", 5) == 0 && out->scope == NULL)
			out->scope = value;
		else
			free(value);
		p = skip_space(p);
	}
	return 0;
}

void registry_challenge_free(registry_challenge *c)
{
	free(c->scheme);
	free(c->realm);
	free(c->service);
	free(c->scope);
	memset(c, 0, sizeof(*c));
}

/* ---- auth files ---- */

static char *docker_config_file(void)
{
	const char *dir = getenv("DOCKER_CONFIG");

	if (dir && *dir)
		return xasprintf("%s/config.json", dir);
	return xasprintf("%s/.docker/config.json", home_dir());
}

/* Read in this order; written: the first. */
static size_t auth_files(char *files[3])
{
	const char *env = getenv("REGISTRY_AUTH_FILE");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	size_t n = 0;

	if (env && *env)
		files[n++] = xstrdup(env);
	files[n++] = docker_config_file();
	files[n++] = xdg && *xdg ? xasprintf("%s/containers/auth.json", xdg)
				 : xasprintf("/run/containers/%u/auth.json", (unsigned)geteuid());
	return n;
}

static json_t *read_json_file(const char *path)
{
	cleanup_err vce_err err = NULL;
	cleanup_free char *text = NULL;
	json_t *root = NULL;
	size_t len;

	if (vce_read_host_file(path, 4 << 20, &text, &len, &err) < 0 ||
	    vce_json_parse(text, len, &root, &err) < 0)
		return NULL;
	return root;
}

/* The key of domain's entry: "HOST", "https://HOST/v1/" and, for Docker
 * Hub, any of its names. */
static const char *entry_key(json_t *auths, const char *domain)
{
	const char *key;
	json_t *v;

	json_object_foreach (auths, key, v) {
		const char *k = host_of_url(key);
		cleanup_free char *host = xstrndup(k, strcspn(k, "/"));
		if (strcmp(host, domain) == 0 || (is_docker_hub(domain) && is_docker_hub(host)))
			return key;
	}
	return NULL;
}

static char *decode_auth(const char *b64)
{
	size_t len = strlen(b64);
	unsigned char *out = xmalloc(len + 1);
	int n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);

	if (n < 0) {
		free(out);
		return NULL;
	}
	while (len > 0 && b64[len - 1] == '=' && n > 0) {
		len--;
		n--;
	}
	out[n] = '\0';
	if (strchr((char *)out, ':') == NULL || strlen((char *)out) != (size_t)n) {
		free(out);
		return NULL;
	}
	return (char *)out;
}

char *registry_credentials(const char *domain)
{
	char *files[3];
	size_t n = auth_files(files);
	char *found = NULL;

	for (size_t i = 0; i < n; i++) {
		cleanup_json json_t *root = found ? NULL : read_json_file(files[i]);
		json_t *auths = json_object_get(root, "auths");
		const char *key = entry_key(auths, domain);
		const char *b64 = key ? vce_json_string(json_object_get(auths, key), "auth") : NULL;
		if (b64) {
			found = decode_auth(b64);
			if (found == NULL)
				vce_warn("%s: the entry for %s is not base64 of user:password",
					 files[i], key);
		}
		free(files[i]);
	}
	return found;
}

char *registry_base64(const char *text)
{
	size_t len = strlen(text);
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)text, (int)len);
	return out;
}

static int write_json_file(const char *path, json_t *root, vce_err *err)
{
	cleanup_free char *dir = xstrdup(path);
	cleanup_free char *text = json_dumps(root, JSON_INDENT(8));
	cleanup_close int dirfd = -1;
	char *slash = strrchr(dir, '/');

	if (slash == NULL)
		return vce_error_make(err, 0, "%s: not an absolute path", path);
	*slash = '\0';
	dirfd = vce_mkdirs_at(AT_FDCWD, *dir ? dir : "/", 0700, err);
	if (dirfd < 0)
		return -1;
	return vce_write_file_atomic_at(dirfd, slash + 1, text, strlen(text), 0600, err);
}

static int remove_credentials(const char *domain, char **file_out, vce_err *err)
{
	char *files[3];
	size_t n = auth_files(files);
	int ret = 1;

	for (size_t i = 0; i < n; i++) {
		cleanup_json json_t *root = read_json_file(files[i]);
		json_t *auths = json_object_get(root, "auths");
		const char *key;
		bool removed = false;
		while ((key = entry_key(auths, domain)) != NULL) {
			json_object_del(auths, key);
			removed = true;
		}
		if (removed && ret >= 0) {
			ret = write_json_file(files[i], root, err);
			if (ret == 0 && *file_out == NULL)
				*file_out = xstrdup(files[i]);
		}
		free(files[i]);
	}
	if (ret > 0)
		return vce_error_make(err, 0, "not logged in to %s", domain);
	return ret;
}

int registry_store_credentials(const char *domain, const char *user, const char *password,
			       char **file_out, vce_err *err)
{
	char *files[3];
	size_t n = auth_files(files);
	cleanup_free char *path = xstrdup(files[0]);
	cleanup_json json_t *root = NULL;
	cleanup_free char *b64 = NULL;
	json_t *auths;
	const char *key;

	for (size_t i = 0; i < n; i++)
		free(files[i]);
	*file_out = NULL;
	if (user == NULL)
		return remove_credentials(domain, file_out, err);
	if (access(path, F_OK) == 0) {
		root = read_json_file(path);
		if (root == NULL)
			return vce_error_make(
			    err, 0, "%s is not valid JSON: correct or remove it, then log in again",
			    path);
	} else {
		root = json_object();
	}
	auths = json_object_get(root, "auths");
	if (!json_is_object(auths)) {
		auths = json_object();
		json_object_set_new(root, "auths", auths);
	}
	while ((key = entry_key(auths, domain)) != NULL)
		json_object_del(auths, key);
	{
		cleanup_free char *plain = xasprintf("%s:%s", user, password);
		b64 = registry_base64(plain);
		explicit_bzero(plain, strlen(plain));
	}
	json_object_set_new(auths, is_docker_hub(domain) ? DOCKER_HUB_KEY : domain,
			    json_pack("{s:s}", "auth", b64));
	if (write_json_file(path, root, err) < 0)
		return -1;
	*file_out = xstrdup(path);
	return 0;
}
