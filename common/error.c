#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	return s;
}

int vce_error_make(vce_err *err, int status, const char *fmt, ...)
{
	va_list ap;
	vce_error *e = xcalloc(1, sizeof(*e));

	va_start(ap, fmt);
	e->msg = vformat(fmt, ap);
	va_end(ap);
	e->status = status;
	if (*err)
		vce_error_release(err);
	*err = e;
	return -1;
}

int vce_error_wrap(vce_err *err, const char *fmt, ...)
{
	va_list ap;
	cleanup_free char *prefix = NULL;
	char *joined;

	if (*err == NULL)
		return -1;
	va_start(ap, fmt);
	prefix = vformat(fmt, ap);
	va_end(ap);
	joined = xasprintf("%s: %s", prefix, (*err)->msg);
	free((*err)->msg);
	(*err)->msg = joined;
	return -1;
}

void vce_error_release(vce_err *err)
{
	if (err == NULL || *err == NULL)
		return;
	free((*err)->msg);
	free(*err);
	*err = NULL;
}

char *vce_error_text(const vce_error *err)
{
	if (err->status == 0)
		return xstrdup(err->msg);
	return xasprintf("%s: %s", err->msg, strerror(err->status));
}

void vce_freep(void *p)
{
	free(*(void **)p);
}

void vce_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

void vce_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

void vce_errp(vce_err *err)
{
	vce_error_release(err);
}

static void out_of_memory(void)
{
	static const char msg[] = "vce: out of memory\n";
	ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)ignored;
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		out_of_memory();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		out_of_memory();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		out_of_memory();
	return q;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		out_of_memory();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (p == NULL)
		out_of_memory();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vformat(fmt, ap);
	va_end(ap);
	return s;
}

int vce_verbosity;

/* One write per message: threads (the unpack's workers) and processes
 * sharing stderr never interleave within a line. */
static void say(const char *prefix, const char *fmt, va_list ap)
{
	char *msg = vformat(fmt, ap);
	char *line = xasprintf("%s%s\n", prefix, msg);
	ssize_t ignored = write(STDERR_FILENO, line, strlen(line));

	(void)ignored;
	free(line);
	free(msg);
}

void vce_verbose(const char *fmt, ...)
{
	va_list ap;

	if (vce_verbosity <= 0)
		return;
	va_start(ap, fmt);
	say("vce: ", fmt, ap);
	va_end(ap);
}

void vce_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("vce: warning: ", fmt, ap);
	va_end(ap);
}

/* What the link points libarchive's unused xar writer at (see the
 * Makefile): reaching it is a bug. */
void vce_unreachable(void);
void vce_unreachable(void)
{
	abort();
}

void vce_strv_push(char ***v, size_t *n, char *owned)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(char *));
	(*v)[(*n)++] = owned;
	(*v)[*n] = NULL;
}

void vce_strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

const char *vce_env_lookup(char *const *env, size_t n, const char *key)
{
	size_t len = strlen(key);
	for (size_t i = 0; env && i < n; i++)
		if (strncmp(env[i], key, len) == 0 && env[i][len] == '=')
			return env[i] + len + 1;
	return NULL;
}
