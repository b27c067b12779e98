/* What the files of runtime/ share and nothing outside it. */
#ifndef VCE_RUNTIME_INTERNAL_H
#define VCE_RUNTIME_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>
#include <signal.h>
#include <termios.h>

#include <jansson.h>

#include "../net/net.h"
#include "runtime.h"

/* The image's config fields a container uses. */
typedef struct rt_image_config {
	char **entrypoint, **cmd, **env;
	size_t n_entrypoint, n_cmd, n_env;
	char *workdir, *user, *stop_signal;
	char **exposed; /* ExposedPorts: "8888/tcp" */
	size_t n_exposed;
	char **diff_ids; /* the layers, bottom first */
	size_t n_diff_ids;
} rt_image_config;

/* Everything decided on the host before the container's processes start. */
typedef struct rt_plan {
	char *id, *name, *image_id, *image_name;
	char **diff_ids; /* n_lowers of them, top first */
	char *dir;	 /* <store>/containers/<id> */
	char *cache_dir; /* <store>/rootfs-cache: lowerdirs are relative to it */
	char **lowers;	 /* "<hex>/rootfs", top layer first */
	size_t n_lowers;
	char **argv, **envp;
	size_t n_argv, n_envp;
	char *cwd, *hostname;
	uid_t uid; /* the command's */
	gid_t gid;
	unsigned long student_uid, student_gid; /* the host user inside */
	/* Who the student is on the host: a -v folder vce creates is theirs. */
	uid_t student_host_uid;
	gid_t student_host_gid;
	gid_t *groups;
	size_t n_groups;
	bool userns, rootless;
	vce_idmap map;
	uint64_t caps; /* bit per capability kept for a root process */
	bool privileged, no_new_privs, read_only, tty, interactive, init, remove;
	char *stop_signal;
	char *seccomp;	    /* NULL: default; "unconfined"; a file */
	char *seccomp_json; /* the file's text, read on the host */
	char *seccomp_bpf;  /* the filter to load, or NULL */
	size_t seccomp_len;
	rt_mount *mounts;
	size_t n_mounts;
	rt_limits limits;
	uint64_t log_max;
	rt_net_mode network;
	char *net_container; /* RT_NET_CONTAINER: as given */
	net_publish *ports;  /* -p, and -P's ExposedPorts */
	size_t n_ports;
	char *publish_ip; /* the host address of a port without one */
	/* Opened before the start (network.c), owned by the plan. */
	net_listener *listeners;
	size_t n_listeners;
	int net_share_fd; /* RT_NET_CONTAINER: the namespace to join; else -1 */
	/* Rootless RT_NET_CONTAINER: the user namespace that owns it, which
	 * the container joins rather than making its own; else -1. */
	int net_share_userns_fd;
} rt_plan;

void rt_plan_free(rt_plan *plan);
/* Who ran `sudo vce`: false (and root's ids) without sudo. */
bool rt_sudo_ids(unsigned long *uid, unsigned long *gid);
/* Fills the plan from the image and the options; id, name, dir and
 * hostname are set by the caller first. */
int rt_plan_build(oci_store *store, const rt_options *opts, const char *manifest, rt_plan *plan,
		  vce_err *err);
void rt_image_config_free(rt_image_config *c);
int rt_image_config_read(oci_store *store, const char *manifest_digest, rt_image_config *out,
			 vce_err *err);

/* ---- users: /etc/passwd and /etc/group of the rootfs, read through
 * the layers (upper first) before anything is mounted ---- */
typedef struct rt_layer_view {
	int *fds; /* layer roots, top first */
	size_t n;
} rt_layer_view;
/* Resolves "user[:group]" (names or numbers) as Docker does. home gets
 * the passwd entry's home (or NULL). */
int rt_resolve_user(const rt_layer_view *view, const char *spec, uid_t *uid, gid_t *gid,
		    gid_t **groups, size_t *n_groups, char **home, vce_err *err);

/* ---- capabilities and seccomp (in the command's process) ---- */
uint64_t rt_default_caps(void);
int rt_drop_bounding_caps(uint64_t keep, vce_err *err);
int rt_set_root_caps(uint64_t keep, vce_err *err);
/* The seccomp filter as BPF: none for mode "unconfined", else Docker's
 * default policy or the profile text (Docker's JSON format), for the
 * capabilities the process keeps; compiled once and kept in the store. */
int rt_seccomp_program(int store_fd, const char *mode, const char *text, uint64_t caps, char **bpf,
		       size_t *len, vce_err *err);
/* Loads it in the calling process (NULL: nothing to load). */
int rt_seccomp_load(const char *bpf, size_t len, vce_err *err);
/* Checks a profile in Docker's JSON format (the fuzzer's way in). */
int rt_seccomp_check(const char *text, size_t len, vce_err *err);
/* Reads and checks a profile file on the host, before anything starts. */
int rt_read_seccomp_file(const char *path, char **text, vce_err *err);

/* ---- the rootfs (in the container's mount namespace) ---- */
/* Mounts the overlay and everything in it, then pivot_root. With -t,
 * *master and *slave get a terminal of the container's devpts.
 * in_cgroup(arg) runs before the cgroup file system is mounted, which
 * shows the caller's cgroup namespace: it returns once the process is in
 * its cgroup and has made that namespace (0), or fails (-1, err). */
typedef int rt_cgroup_step(void *arg, vce_err *err);
int rt_setup_rootfs(const rt_plan *plan, rt_cgroup_step *in_cgroup, void *arg, int *master,
		    int *slave, vce_err *err);

/* ---- the processes ---- */
/* The command's process: user, capabilities, seccomp, exec. Returns only
 * on failure (err set; *exit_code 126 or 127 when it is the command's
 * fault). */
int rt_exec_command(const rt_plan *plan, int slave, int *exit_code, vce_err *err);
extern const int rt_forwarded_signals[]; /* 0-terminated */
/* Those and SIGCHLD: what every waiting process of vce blocks. */
void rt_forwarded_signal_set(sigset_t *set);
/* pid 1: starts the command, reaps, forwards signals; returns its exit code. */
int rt_init_main(const rt_plan *plan, int sync_fd, int console_slave);

/* ---- cgroups (cgroups.c): v2, v1, or the hybrid of both ---- */
typedef struct rt_cgroup {
	char **dirs; /* the container's directory in each hierarchy used */
	size_t n;
} rt_cgroup;
/* Creates the container's cgroup and sets its limits; a limit this
 * machine cannot enforce is one warning, not an error, and no cgroup at
 * all (rootless without delegation) is not an error either. */
int rt_cgroup_create(const char *id, const rt_limits *limits, rt_cgroup *cg, vce_err *err);
int rt_cgroup_join(const rt_cgroup *cg, pid_t pid, vce_err *err);
void rt_cgroup_free(rt_cgroup *cg);
/* From and to state.json's "cgroups" array. */
json_t *rt_cgroup_to_json(const rt_cgroup *cg);
void rt_cgroup_from_json(json_t *dirs, rt_cgroup *cg);
/* Removes the directories (they are empty once the container is gone). */
void rt_cgroup_remove(const rt_cgroup *cg);
bool rt_cgroup_oom_killed(const rt_cgroup *cg);
void rt_cgroup_stats(const rt_cgroup *cg, rt_stats *out);

/* ---- starting the container's first process (run.c) ---- */
typedef struct rt_session {
	pid_t child;
	int sync_fd, master, sigfd;
	bool raw;
	struct termios saved;
	/* The child's network and user namespaces, for the forwarder's
	 * helper (-1: none to forward to); its way out. */
	int netns_fd, userns_fd;
	net_outbound outbound;
	/* Foreground: the command need not wait for its way out to finish
	 * starting (pasta takes ~40 ms, the command may be done sooner);
	 * rt_session_relay sees it finish, and a failure ends the container
	 * with late_error. */
	bool settle_in_relay;
	vce_err late_error;
} rt_session;
#define RT_SESSION_INIT                                                                            \
	{                                                                                          \
		.child = -1, .sync_fd = -1, .master = -1, .sigfd = -1, .netns_fd = -1,             \
		.userns_fd = -1, .outbound = NET_OUTBOUND_INIT                                     \
	}
/* The sync socket pair and a signalfd of the forwarded signals. */
int rt_session_open(rt_session *s, int sv[2], vce_err *err);
/* Clones init into the namespaces, puts it in the cgroup, writes its id
 * maps; the caller then awaits the exec. */
int rt_session_start(const rt_plan *plan, int dir_fd, const rt_cgroup *cg, rt_session *s,
		     vce_err *err);
/* Until the command runs (0), or fails (-1, err and *exit_code; the
 * child is reaped). */
int rt_session_await_exec(rt_session *s, const rt_plan *plan, int *exit_code, vce_err *err);
void rt_session_close(rt_session *s);
/* Passes signals on to the child, and the terminal both ways with -t,
 * until the child exits; returns its exit code. */
int rt_session_relay(rt_session *s, bool interactive, net_forwarder *fw);
/* Root with a user namespace: the container's directory belongs to the
 * namespace's root, which must write its upper layer and read its files. */
int rt_hand_over(const rt_plan *plan, int dir_fd, vce_err *err);
/* state.json: running (init's pid, this process as its supervisor), and
 * the exit (OOM kill read from the cgroup, which goes with it). locked:
 * the caller holds the container's lock for us. */
int rt_record_running(int dir_fd, bool locked, pid_t init, const rt_cgroup *cg, bool detached,
		      const rt_plan *plan, vce_err *err);
void rt_record_exit(int dir_fd, int code, const char *error);

/* ---- the network (network.c) ---- */
/* Binds the host ports of -p/-P (plan->listeners), before the start. */
int rt_net_listen(rt_plan *plan, vce_err *err);
/* --network container:NAME: opens NAME's namespace (plan->net_share_fd). */
int rt_net_open_shared(oci_store *store, rt_plan *plan, vce_err *err);
/* Closes what the two above opened. */
void rt_net_close(rt_plan *plan);
json_t *rt_net_ports_json(const rt_plan *plan);
/* Where pasta's handle on the network namespace of the container in dir
 * goes: rootless, the container's folder; as root /run/vce/netns/ID
 * (the folder made if make_folder), as the container's folder may belong
 * to its user namespace, which pasta, root without capabilities, may not
 * enter. */
char *rt_net_outbound_handle(const char *dir, bool make_folder);
/* Listeners on the supervisor's command line, and back. */
char *rt_net_encode(const net_listener *l, size_t n);
void rt_net_decode(const char *s, net_listener **out, size_t *n);
typedef struct rt_forward {
	net_helper helper;
	net_forwarder *f;
} rt_forward;
/* The helper in the namespace and the forwarder, which takes the
 * listeners' fds (set to -1 in l). */
int rt_net_forward_start(net_listener *l, size_t n, int netns_fd, int userns_fd, rt_forward *out,
			 vce_err *err);
void rt_net_forward_stop(rt_forward *fw);

/* ---- the supervisor of a detached container (supervisor.c) ---- */
/* Starts the supervisor, which starts the container, records it running
 * and stays; returns once the command runs. The caller holds the
 * container's lock (lock_fd), which the supervisor's state write relies on. */
int rt_launch_detached(const rt_plan *plan, int dir_fd, int lock_fd, const rt_cgroup *cg,
		       int *exit_code, vce_err *err);

/* ---- state.json under the container's lock ---- */
/* A fresh open file description of the directory, flock'ed: closing it
 * lets go (a dup shared with a child would keep the lock alive). */
int rt_state_lock(int dir_fd, vce_err *err);

/* Gives a terminal the size of vce's own (stdin), if that is one. The
 * container's first process does it before the command starts (it still
 * has vce's stdin), so the command never sees another size. */
void rt_size_like_stdin(int master);

/* Reports an error to the parent over the sync socket ("E<code> <status>
 * <message>") and leaves; for children between fork and exec. */
void rt_child_fail(int sync_fd, int exit_code, vce_err *err) __attribute__((noreturn));

#endif
