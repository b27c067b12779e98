/* `-u user[:group]` as Docker reads it, against the image's own
 * /etc/passwd and /etc/group (never the host's). The files are read
 * through the layers, top first, before anything is mounted: the uid must
 * be known to write the user namespace's maps. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>

#include "internal.h"

#include "../common/banned.h"

#define MAX_ID 0x7fffffffUL

/* The file from the topmost layer that has it; NULL when none does. */
static FILE *open_in_layers(const rt_layer_view *view, const char *path, char **buf)
{
	for (size_t i = 0; i < view->n; i++) {
		cleanup_err vce_err err = NULL;
		size_t len;
		if (vce_read_file_at(view->fds[i], path, 16 << 20, buf, &len, &err) == 0)
			return fmemopen(*buf, len, "r");
	}
	return NULL;
}

static bool parse_id(const char *s, unsigned long *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' && *out <= MAX_ID;
}

static bool find_passwd(const rt_layer_view *view, const char *name, unsigned long id, bool by_id,
			struct passwd *out, char **strings)
{
	cleanup_free char *buf = NULL;
	cleanup_fclose FILE *f = open_in_layers(view, "etc/passwd", &buf);
	struct passwd pw, *res;
	char line[4096];

	while (f && fgetpwent_r(f, &pw, line, sizeof(line), &res) == 0) {
		if (by_id ? pw.pw_uid != id : strcmp(pw.pw_name, name) != 0)
			continue;
		*out = pw;
		/* Keep the strings the caller needs past this function. */
		*strings = xasprintf("%s%c%s", pw.pw_name, '\0', pw.pw_dir);
		out->pw_name = *strings;
		out->pw_dir = *strings + strlen(*strings) + 1;
		return true;
	}
	return false;
}

static bool find_group(const rt_layer_view *view, const char *name, unsigned long *gid)
{
	cleanup_free char *buf = NULL;
	cleanup_fclose FILE *f = open_in_layers(view, "etc/group", &buf);
	struct group gr, *res;
	char line[8192];

	while (f && fgetgrent_r(f, &gr, line, sizeof(line), &res) == 0) {
		if (strcmp(gr.gr_name, name) == 0) {
			*gid = gr.gr_gid;
			return true;
		}
	}
	return false;
}

/* The groups whose member list names the user, as initgroups does. */
static void supplementary_groups(const rt_layer_view *view, const char *user, gid_t primary,
				 gid_t **groups, size_t *n)
{
	cleanup_free char *buf = NULL;
	cleanup_fclose FILE *f = open_in_layers(view, "etc/group", &buf);
	struct group gr, *res;
	char line[8192];

	*groups = xcalloc(1, sizeof(gid_t));
	(*groups)[0] = primary;
	*n = 1;
	while (f && user && fgetgrent_r(f, &gr, line, sizeof(line), &res) == 0) {
		for (char **m = gr.gr_mem; m && *m; m++) {
			if (strcmp(*m, user) == 0 && gr.gr_gid != primary) {
				*groups = xrealloc(*groups, (*n + 1) * sizeof(gid_t));
				(*groups)[(*n)++] = gr.gr_gid;
				break;
			}
		}
	}
}

int rt_resolve_user(const rt_layer_view *view, const char *spec, uid_t *uid, gid_t *gid,
		    gid_t **groups, size_t *n_groups, char **home, vce_err *err)
{
	cleanup_free char *copy = xstrdup(spec && *spec ? spec : "0");
	cleanup_free char *strings = NULL;
	char *group = strchr(copy, ':');
	unsigned long u = 0, g = 0;
	struct passwd pw;
	bool found;

	if (group)
		*group++ = '\0';
	if (*copy == '\0' || (group && (*group == '\0' || strchr(group, ':'))))
		return vce_error_make(
		    err, 0, "invalid user \"%s\": use -u USER, -u UID, or -u USER:GROUP", spec);
	if (parse_id(copy, &u)) {
		found = find_passwd(view, "", u, true, &pw, &strings);
	} else {
		found = find_passwd(view, copy, 0, false, &pw, &strings);
		if (!found)
			return vce_error_make(err, 0,
					      "user \"%s\" is not in the image's /etc/passwd: "
					      "use a numeric uid, or a user the image has",
					      copy);
		u = pw.pw_uid;
	}
	g = found ? pw.pw_gid : 0;
	if (group && !parse_id(group, &g) && !find_group(view, group, &g))
		return vce_error_make(err, 0,
				      "group \"%s\" is not in the image's /etc/group: "
				      "use a numeric gid, or a group the image has",
				      group);
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	if (group) {
		/* An explicit group replaces the supplementary ones, as in Docker. */
		*groups = xcalloc(1, sizeof(gid_t));
		(*groups)[0] = *gid;
		*n_groups = 1;
	} else {
		supplementary_groups(view, found ? pw.pw_name : NULL, *gid, groups, n_groups);
	}
	*home = found && pw.pw_dir[0] ? xstrdup(pw.pw_dir) : NULL;
	return 0;
}
