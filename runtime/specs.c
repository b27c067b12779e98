/* The mount specs of the command line, as Docker spells them:
 *   -v HOST:CTR[:ro|rw[,...]]
 *   --mount type=bind,source=HOST,target=CTR[,readonly]
 *   --mount type=tmpfs,target=CTR[,tmpfs-size=N][,tmpfs-mode=M]
 *   --tmpfs CTR[:size=64m,mode=1777,...] */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

#include "../common/banned.h"

void rt_mount_free(rt_mount *m)
{
	free(m->source);
	free(m->target);
	free(m->options);
	memset(m, 0, sizeof(*m));
}

static int check_target(const char *target, const char *spec, vce_err *err)
{
	if (target == NULL || target[0] != '/')
		return vce_error_make(err, 0,
				      "invalid mount \"%s\": the path in the container must be "
				      "absolute",
				      spec);
	for (const char *p = target; (p = strstr(p, "..")) != NULL; p += 2)
		if ((p == target || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
			return vce_error_make(err, 0,
					      "invalid mount \"%s\": \"..\" is not allowed in the "
					      "path in the container",
					      spec);
	if (strcmp(target, "/") == 0 || strspn(target, "/") == strlen(target))
		return vce_error_make(err, 0, "invalid mount \"%s\": cannot mount over /", spec);
	return 0;
}

static char *absolute_source(const char *src)
{
	cleanup_free char *cwd = NULL;
	if (src[0] == '/')
		return xstrdup(src);
	cwd = get_current_dir_name();
	return xasprintf("%s/%s", cwd ? cwd : ".", src);
}

static int set_source(rt_mount *m, const char *src, const char *spec, vce_err *err)
{
	if (src == NULL || *src == '\0')
		return vce_error_make(err, 0, "invalid mount \"%s\": the host folder is missing",
				      spec);
	if (src[0] != '/' && src[0] != '.')
		return vce_error_make(err, 0,
				      "\"%s\": named volumes are not supported: give a host folder "
				      "(an absolute path, or one starting with ./)",
				      spec);
	m->source = absolute_source(src);
	return 0;
}

static int volume_options(rt_mount *m, const char *opts, const char *spec, vce_err *err)
{
	cleanup_free char *copy = xstrdup(opts);
	char *save = NULL;

	for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		if (strcmp(o, "ro") == 0 || strcmp(o, "readonly") == 0)
			m->readonly = true;
		else if (strcmp(o, "rw") == 0)
			m->readonly = false;
		/* SELinux relabelling and propagation: nothing to do here. */
		else if (strcmp(o, "z") && strcmp(o, "Z") && strcmp(o, "rprivate") &&
			 strcmp(o, "private") && strcmp(o, "rslave") && strcmp(o, "slave") &&
			 strcmp(o, "delegated") && strcmp(o, "cached") && strcmp(o, "consistent"))
			return vce_error_make(err, 0, "invalid mount \"%s\": unknown option \"%s\"",
					      spec, o);
	}
	return 0;
}

int rt_parse_volume(const char *spec, rt_mount *out, vce_err *err)
{
	cleanup_free char *copy = xstrdup(spec);
	char *target = strchr(copy, ':'), *opts = NULL;
	rt_mount m = { .kind = RT_MOUNT_BIND };

	memset(out, 0, sizeof(*out));
	if (target == NULL)
		return vce_error_make(err, 0,
				      "\"%s\": anonymous volumes are not supported: use -v "
				      "HOST_FOLDER:%s",
				      spec, spec);
	*target++ = '\0';
	opts = strchr(target, ':');
	if (opts)
		*opts++ = '\0';
	if (set_source(&m, copy, spec, err) < 0)
		return -1;
	if (check_target(target, spec, err) < 0 ||
	    (opts && volume_options(&m, opts, spec, err) < 0)) {
		rt_mount_free(&m);
		return -1;
	}
	m.target = xstrdup(target);
	*out = m;
	return 0;
}

static bool truthy(const char *v)
{
	return v == NULL || strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

int rt_parse_mount(const char *spec, rt_mount *out, vce_err *err)
{
	cleanup_free char *copy = xstrdup(spec);
	cleanup_free char *size = NULL, *mode = NULL;
	char *save = NULL;
	const char *type = NULL, *src = NULL, *dst = NULL;
	rt_mount m = { 0 };

	memset(out, 0, sizeof(*out));
	for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');
		if (v)
			*v++ = '\0';
		if (strcmp(kv, "type") == 0)
			type = v;
		else if (!strcmp(kv, "source") || !strcmp(kv, "src"))
			src = v;
		else if (!strcmp(kv, "target") || !strcmp(kv, "destination") || !strcmp(kv, "dst"))
			dst = v;
		else if (!strcmp(kv, "readonly") || !strcmp(kv, "ro"))
			m.readonly = truthy(v);
		else if (!strcmp(kv, "tmpfs-size") && v)
			free(size), size = xstrdup(v); /* the last one wins */
		else if (!strcmp(kv, "tmpfs-mode") && v)
			free(mode), mode = xstrdup(v);
		else if (strcmp(kv, "bind-propagation") && strcmp(kv, "consistency"))
			return vce_error_make(err, 0, "invalid --mount \"%s\": unknown key \"%s\"",
					      spec, kv);
	}
	if (type == NULL || (strcmp(type, "bind") && strcmp(type, "tmpfs")))
		return vce_error_make(err, 0, "invalid --mount \"%s\": type must be bind or tmpfs",
				      spec);
	if (check_target(dst, spec, err) < 0)
		return -1;
	if (strcmp(type, "bind") == 0) {
		m.kind = RT_MOUNT_BIND;
		if (set_source(&m, src, spec, err) < 0)
			return -1;
	} else {
		m.kind = RT_MOUNT_TMPFS;
		m.options = xasprintf("mode=%s%s%s", mode ? mode : "1777", size ? ",size=" : "",
				      size ? size : "");
	}
	m.target = xstrdup(dst);
	*out = m;
	return 0;
}

int rt_parse_tmpfs(const char *spec, rt_mount *out, vce_err *err)
{
	cleanup_free char *copy = xstrdup(spec);
	char *opts = strchr(copy, ':'), *save = NULL;
	rt_mount m = { .kind = RT_MOUNT_TMPFS };
	char *kept = xstrdup("");

	memset(out, 0, sizeof(*out));
	if (opts)
		*opts++ = '\0';
	if (check_target(copy, spec, err) < 0) {
		free(kept);
		return -1;
	}
	for (char *o = opts ? strtok_r(opts, ",", &save) : NULL; o;
	     o = strtok_r(NULL, ",", &save)) {
		char *next;
		if (strcmp(o, "ro") == 0) {
			m.readonly = true;
			continue;
		}
		/* tmpfs's own options; flags such as noexec are vce's defaults. */
		if (strncmp(o, "size=", 5) && strncmp(o, "mode=", 5) && strncmp(o, "uid=", 4) &&
		    strncmp(o, "gid=", 4) && strncmp(o, "nr_inodes=", 10))
			continue;
		next = xasprintf("%s%s%s", kept, *kept ? "," : "", o);
		free(kept);
		kept = next;
	}
	if (strstr(kept, "mode=") == NULL) {
		char *next = xasprintf("mode=1777%s%s", *kept ? "," : "", kept);
		free(kept);
		kept = next;
	}
	m.options = kept;
	m.target = xstrdup(copy);
	*out = m;
	return 0;
}

int rt_parse_bytes(const char *spec, int64_t *out, vce_err *err)
{
	static const char units[] = "bkmgt";
	char *end;
	double value;
	const char *unit;
	int shift;

	errno = 0;
	value = strtod(spec, &end);
	if (end == spec || errno || value < 0 || !(*spec >= '0' && *spec <= '9'))
		goto bad;
	shift = 0;
	if (*end) {
		unit = strchr(units, end[0] | 0x20);
		if (unit == NULL)
			goto bad;
		shift = (int)(unit - units) * 10;
		end++;
		if (shift > 0 && (*end | 0x20) == 'b') /* "512mb" */
			end++;
		if (*end)
			goto bad;
	}
	value *= (double)(1ull << shift);
	if (value >= 9.2e18)
		goto bad;
	*out = (int64_t)value;
	return 0;
bad:
	return vce_error_make(err, 0,
			      "invalid size \"%s\": give a number with an optional unit b, k, m "
			      "or g (as 512m or 2g)",
			      spec);
}
