/* Private to oci/: libcurl's entry points, resolved by oci_curl_load(). */
#ifndef VCE_OCI_CURL_H
#define VCE_OCI_CURL_H

#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "registry.h"

struct oci_curl {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *h);
	void (*easy_reset)(CURL *h);
	const char *(*easy_strerror)(CURLcode code);
	char *(*easy_escape)(CURL *h, const char *s, int len);
	void (*free)(void *p);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
	CURLSH *(*share_init)(void);
	CURLSHcode (*share_setopt)(CURLSH *sh, CURLSHoption opt, ...);
	void (*share_cleanup)(CURLSH *sh);
};

extern struct oci_curl oci_curl;

#endif
