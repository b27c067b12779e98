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

typedef enum {
	RT_NET_PRIVATE, /* its own namespace: loopback, -p, a way out */
	RT_NET_HOST,
	RT_NET_NONE,	  /* loopback only */
	RT_NET_CONTAINER, /* another container's */
} rt_net_mode;

/* Resource limits; 0 is none. */
typedef struct rt_limits {
	int64_t memory;	     /* bytes */
	int64_t memory_swap; /* memory + swap, bytes; -1 unlimited swap */
	double cpus;	     /* cores */
	uint64_t cpu_shares; /* relative weight, 2..262144 (1024 is normal) */
	int64_t pids;	     /* most processes; -1 unlimited */
} rt_limits;

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
	/* Root with --userns keep-id: the student's ids on the host (else
	 * those of the sudo that runs vce). */
	bool host_ids_set;
	unsigned long host_uid, host_gid;
	rt_limits limits;
	uint64_t log_max; /* a detached container's log, bytes per file; 0: 10 MiB */
	rt_net_mode network;
	const char *net_container; /* RT_NET_CONTAINER: its name or id */
	struct net_publish *ports; /* -p */
	size_t n_ports;
	bool publish_all; /* -P */
	char *publish_ip; /* --publish-default-ip; NULL: the configured, else 0.0.0.0 */
} rt_options;

/* Runs a container in the foreground; *exit_code gets the command's exit
 * code (126/127 when it cannot be run, as Docker's). */
int rt_run(oci_store *store, const rt_options *opts, int *exit_code, vce_err *err);

/* ---- detached containers and their lifecycle (Docker's verbs) ---- */
/* Creates a container without starting it; *id gets its id. */
int rt_create(oci_store *store, const rt_options *opts, char **id, vce_err *err);
/* Starts a created or exited container in the background under its own
 * supervisor (which outlives vce); returns once its command runs. */
int rt_start(oci_store *store, const char *ref, vce_err *err);
/* Both at once: `vce run -d`. */
int rt_run_detached(oci_store *store, const rt_options *opts, char **id, vce_err *err);
/* The stop signal (the image's StopSignal, or SIGTERM), then SIGKILL
 * after timeout seconds; returns once the exit is recorded. */
int rt_stop(oci_store *store, const char *ref, int timeout, vce_err *err);
int rt_kill(oci_store *store, const char *ref, int sig, vce_err *err);
/* force: a running container is killed first. */
int rt_remove(oci_store *store, const char *ref, bool force, vce_err *err);
/* Blocks until the container is not running; *code gets its exit code. */
int rt_wait(oci_store *store, const char *ref, int *code, vce_err *err);
int rt_rename(oci_store *store, const char *ref, const char *name, vce_err *err);
/* "SIGTERM", "TERM", "15" to a signal number; -1 if none. */
int rt_signal_number(const char *name);
/* The id a name or id prefix stands for (allocated). */
int rt_resolve(oci_store *store, const char *ref, char **id, vce_err *err);

/* What `ps` and `inspect` show: one object per container, in Docker's
 * inspect shape (Id, Name, Created, State{...}, Image, Config, Mounts...). */
int rt_inspect(oci_store *store, const char *ref, json_t **out, vce_err *err);
/* Every container, newest first. */
int rt_list(oci_store *store, json_t **out, vce_err *err);

/* `vce logs`. */
typedef struct rt_logs_options {
	bool follow, timestamps;
	long tail; /* -1: all */
} rt_logs_options;
int rt_logs(oci_store *store, const char *ref, const rt_logs_options *opts, vce_err *err);

/* `vce exec`: a command in every namespace and the cgroup of a running
 * container, with its security defaults. */
typedef struct rt_exec_options {
	char **argv;
	size_t n_argv;
	char **env;
	size_t n_env;
	const char *user, *workdir;
	bool interactive, tty, privileged;
} rt_exec_options;
int rt_exec(oci_store *store, const char *ref, const rt_exec_options *opts, int *exit_code,
	    vce_err *err);

/* `vce stats`: one object per running container (or the one named). */
typedef struct rt_stats {
	char id[65], name[256];
	bool have_memory, have_cpu, have_pids;
	uint64_t memory, memory_limit, cpu_ns, pids;
} rt_stats;
int rt_stats_of(oci_store *store, const char *ref, rt_stats *out, vce_err *err);

/* The supervisor's own entry: `vce __supervise ...` (see supervisor.c). */
int rt_supervise_main(int argc, char **argv);

/* Parsers of the command line's specs, fuzzed. */
int rt_parse_volume(const char *spec, rt_mount *out, vce_err *err);
int rt_parse_mount(const char *spec, rt_mount *out, vce_err *err);
int rt_parse_tmpfs(const char *spec, rt_mount *out, vce_err *err);
void rt_mount_free(rt_mount *m);
/* "512m", "2g", "1024" (bytes; b k m g suffixes, as Docker reads them). */
int rt_parse_bytes(const char *spec, int64_t *out, vce_err *err);
/* A capability name ("NET_ADMIN", "CAP_NET_ADMIN", "ALL") to its number;
 * -1 for unknown, -2 for ALL. */
int rt_cap_from_name(const char *name);

#endif
