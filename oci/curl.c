/* libcurl, loaded on first use (see registry.h for why). The table holds
 * the few entry points the registry client calls. */
#define _GNU_SOURCE
#include "curl.h"

#include <dlfcn.h>
#include <pthread.h>

#include "../common/banned.h"

struct oci_curl oci_curl;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *load_failure;

#define RESOLVE(field, symbol)                                                                     \
	do {                                                                                       \
		*(void **)&oci_curl.field = dlsym(lib, symbol);                                    \
		if (oci_curl.field == NULL)                                                        \
			return symbol;                                                             \
	} while (0)

static const char *resolve_all(void *lib)
{
	RESOLVE(global_init, "curl_global_init");
	RESOLVE(easy_init, "curl_easy_init");
	RESOLVE(easy_setopt, "curl_easy_setopt");
	RESOLVE(easy_perform, "curl_easy_perform");
	RESOLVE(easy_getinfo, "curl_easy_getinfo");
	RESOLVE(easy_cleanup, "curl_easy_cleanup");
	RESOLVE(easy_reset, "curl_easy_reset");
	RESOLVE(easy_strerror, "curl_easy_strerror");
	RESOLVE(easy_escape, "curl_easy_escape");
	RESOLVE(free, "curl_free");
	RESOLVE(slist_append, "curl_slist_append");
	RESOLVE(slist_free_all, "curl_slist_free_all");
	RESOLVE(share_init, "curl_share_init");
	RESOLVE(share_setopt, "curl_share_setopt");
	RESOLVE(share_cleanup, "curl_share_cleanup");
	return NULL;
}

static void load_once(void)
{
	void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	const char *missing;

	if (lib == NULL) {
		load_failure =
		    "libcurl is not installed (on Debian or Raspberry Pi OS: apt install libcurl4)";
		return;
	}
	missing = resolve_all(lib);
	if (missing) {
		load_failure = "the installed libcurl is too old (it lacks curl_share_init)";
		return;
	}
	if (oci_curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		load_failure = "libcurl could not be initialised";
}

int oci_curl_load(vce_err *err)
{
	pthread_once(&once, load_once);
	if (load_failure)
		return vce_error_make(err, 0, "cannot reach registries: %s", load_failure);
	return 0;
}
