/* runtime: the container. An image's cached layers become an overlay
 * rootfs in fresh namespaces; vce's own init is pid 1 and starts the
 * command as the student's uid under Docker's security defaults.
 *
 * Process tree of `vce run` in the foreground:
 *   vce (host)            holds the terminal, forwards signals, waits
 *   `- init (pid 1)       mounts the rootfs, reaps, forwards, exits with
 *      `- the command     the command's code (128+N for signal N) */
#ifndef VCE_RUNTIME_H
#define VCE_RUNTIME_H

#include "../common/common.h"
#include "../oci/oci.h"

typedef enum {
	RT_MOUNT_BIND,
	RT_MOUNT_TMPFS,
} rt_mount_kind;

typedef struct rt_mount {
	rt_mount_kind kind;
	char *source; /* host path (bind) */
	char *target; /* absolute path in the container */
	bool readonly;
	char *options; /* tmpfs: "size=64m,mode=1777" */
} rt_mount;

typedef enum {
	RT_USERNS_DEFAULT, /* root: none (as Docker); rootless: the student mapping */
	RT_USERNS_KEEP_ID, /* the student mapping, as root too */
	RT_USERNS_HOST,	   /* root only: no user namespace */
} rt_userns_mode;

/* What the command line asks for. NULL / 0 fields take the image's. */
typedef struct rt_options {
	const char *image;
	char **args; /* CMD... after the image; replaces the image's Cmd */
	size_t n_args;
	bool entrypoint_set; /* --entrypoint given ("" clears it) */
	const char *entrypoint;
	char **env; /* "K=V" or "K" (taken from vce's environment) */
	size_t n_env;
	const char *name, *workdir, *user, *hostname;
	rt_mount *mounts;
	size_t n_mounts;
	char **cap_add, **cap_drop;
	size_t n_cap_add, n_cap_drop;
	const char *seccomp; /* NULL: Docker's default; "unconfined"; a JSON file */
	bool remove, interactive, tty, read_only, privileged, no_new_privs;
	bool no_init;
	rt_userns_mode userns;
} rt_options;

/* Runs a container in the foreground; *exit_code gets the command's exit
 * code (126/127 when it cannot be run, as Docker's). */
int rt_run(oci_store *store, const rt_options *opts, int *exit_code, vce_err *err);

/* Parsers of the command line's specs, fuzzed. */
int rt_parse_volume(const char *spec, rt_mount *out, vce_err *err);
int rt_parse_mount(const char *spec, rt_mount *out, vce_err *err);
int rt_parse_tmpfs(const char *spec, rt_mount *out, vce_err *err);
void rt_mount_free(rt_mount *m);
/* A capability name ("NET_ADMIN", "CAP_NET_ADMIN", "ALL") to its number;
 * -1 for unknown, -2 for ALL. */
int rt_cap_from_name(const char *name);

#endif
