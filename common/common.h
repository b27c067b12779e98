/* common: what every folder of vce shares and nothing more.
 *
 * The error contract (after crun's): a function that can fail takes
 * `vce_err *err` as its last argument and returns a negative number (or
 * NULL). On failure *err points to an allocated vce_error holding an errno
 * value (0 if none applies) and a message; on success *err is untouched.
 * Library code never prints or exits: only the CLI's main does. */
#ifndef VCE_COMMON_H
#define VCE_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <sys/types.h>

#define VCE_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

typedef struct vce_error {
	int status; /* errno-style value, 0 when none applies */
	char *msg;
} vce_error;
typedef vce_error *vce_err;

/* Sets *err and returns -1. `status` is an errno value or 0. */
int vce_error_make(vce_err *err, int status, const char *fmt, ...) VCE_PRINTF(3, 4);
/* Prefixes the message of an error already set with context; returns -1. */
int vce_error_wrap(vce_err *err, const char *fmt, ...) VCE_PRINTF(2, 3);
/* Frees the error and sets *err to NULL; safe on NULL. */
void vce_error_release(vce_err *err);
/* The message with strerror(status) appended when status != 0.
 * Returns an allocated string the caller frees. */
char *vce_error_text(const vce_error *err);

/* Cleanup attributes: a variable declared with one of these is released
 * when it goes out of scope. Hand ownership on with an explicit steal
 * (`ret = fd; fd = -1;`). */
void vce_freep(void *p);
void vce_closep(int *fd);
void vce_fclosep(FILE **f);
void vce_errp(vce_err *err);
#define cleanup_free   __attribute__((cleanup(vce_freep)))
#define cleanup_close  __attribute__((cleanup(vce_closep)))
#define cleanup_fclose __attribute__((cleanup(vce_fclosep)))
#define cleanup_err    __attribute__((cleanup(vce_errp)))

/* Allocation that cannot fail short of an out-of-memory abort: vce, like
 * git, treats OOM as fatal rather than threading it through every path. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) VCE_PRINTF(1, 2);

/* Arrays of strings: n of them, NULL after the last. */
void vce_strv_push(char ***v, size_t *n, char *owned);
void vce_strv_free(char **v, size_t n);
/* The value of KEY in a "KEY=VALUE" array, or NULL. */
const char *vce_env_lookup(char *const *env, size_t n, const char *key);

/* Logging: to stderr, only when the verbosity allows. */
extern int vce_verbosity;
void vce_verbose(const char *fmt, ...) VCE_PRINTF(1, 2);
void vce_warn(const char *fmt, ...) VCE_PRINTF(1, 2);

/* ---- sha256 digests, written "sha256:<64 hex>" ---- */
#define VCE_DIGEST_LEN 71
typedef struct vce_hasher vce_hasher;
vce_hasher *vce_hasher_new(void);
void vce_hasher_update(vce_hasher *h, const void *data, size_t len);
/* Writes "sha256:<hex>" into out (VCE_DIGEST_LEN + 1 bytes). */
void vce_hasher_final(vce_hasher *h, char *out);
void vce_hasher_free(vce_hasher *h);
void vce_digest_of(const void *data, size_t len, char *out);

/* ---- user namespaces, for a user without privilege ---- */
typedef struct vce_idrange {
	unsigned long uid_start, uid_count, gid_start, gid_count;
} vce_idrange;
/* This user's subordinate ids, when /etc/subuid, /etc/subgid and
 * newuidmap/newgidmap give them. */
bool vce_subid_range(vce_idrange *out);
/* The id maps of a user namespace: namespace ids [inside, inside+count)
 * are host ids [outside, ...). */
typedef struct vce_idmap_line {
	unsigned long inside, outside, count;
} vce_idrange_line;
typedef struct vce_idmap {
	vce_idrange_line uid[3], gid[3];
	size_t n_uid, n_gid;
	bool helpers; /* written by newuidmap/newgidmap (a user with a range) */
} vce_idmap;
/* Writes the maps of process pid's user namespace: with newuidmap and
 * newgidmap, or directly (root; or a user mapping only themself, which
 * also denies setgroups). */
int vce_write_id_maps(pid_t pid, const vce_idmap *map, vce_err *err);
/* Runs fn in a child process that is root of a new user namespace (full
 * range mapped if the user has one: fn is told) and waits for it. fn may
 * start threads; its error comes back through err. */
int vce_userns_run(int (*fn)(void *arg, bool full_range, vce_err *err), void *arg, vce_err *err);
/* The same with the given maps (fn's full_range: map->helpers or root). */
int vce_userns_run_mapped(int (*fn)(void *arg, bool full_range, vce_err *err), void *arg,
			  const vce_idmap *map, vce_err *err);

/* ---- files: everything relative to a directory fd ---- */

/* Opens `path` below `dirfd`, never leaving it: no "..", no absolute
 * path, no symlink (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or a
 * component-by-component walk with O_NOFOLLOW where openat2 is missing
 * or VCE_NO_OPENAT2 is set, which is how the tests cover the fallback). */
int vce_open_beneath(int dirfd, const char *path, int flags, mode_t mode, vce_err *err);
bool vce_have_openat2(void);
/* Forces the component walk (false) or a fresh probe (true): for tests. */
void vce_use_openat2(bool use);

/* Writes `len` bytes to dirfd/name atomically: a temporary file in the
 * same directory, fsync, rename. */
int vce_write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			     vce_err *err);
/* The same without fsync: atomic against a reader and a kill, not
 * against a power cut (for state that is checked when read). */
int vce_replace_file_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			vce_err *err);
/* Reads a whole regular file below dirfd (at most `max` bytes, else an
 * error). The result is NUL-terminated; *len gets its length. */
int vce_read_file_at(int dirfd, const char *path, size_t max, char **out, size_t *len,
		     vce_err *err);
/* The same for a path on the host that the user gave (symlinks followed). */
int vce_read_host_file(const char *path, size_t max, char **out, size_t *len, vce_err *err);
/* mkdir -p below dirfd; returns an O_DIRECTORY fd of the last one. */
int vce_mkdirs_at(int dirfd, const char *path, mode_t mode, vce_err *err);
/* The same; the directories it makes are given to uid:gid. */
int vce_mkdirs_owned_at(int dirfd, const char *path, mode_t mode, uid_t uid, gid_t gid,
			vce_err *err);
/* A fresh directory stream on dirfd's directory. Not fdopendir(dup()):
 * a dup shares the read position, so a second listing would see nothing. */
DIR *vce_opendir_at(int dirfd);
/* rm -rf below dirfd, never following symlinks; ENOENT is not an error. */
int vce_remove_tree_at(int dirfd, const char *name, vce_err *err);
/* Writes all of buf to fd, retrying on EINTR and short writes. */
int vce_write_all(int fd, const void *buf, size_t len, vce_err *err);
/* A random hex suffix for temporary names. */
void vce_random_hex(char *out, size_t nbytes);

/* Human-readable size ("1.48GB", as docker prints sizes). */
void vce_format_size(uint64_t bytes, char *out, size_t outlen);
/* "3 minutes ago" for an RFC 3339 time; copies the input if unparsable. */
void vce_format_age(const char *rfc3339, char *out, size_t outlen);
/* "2026-11-22T10:00:00.123456789Z" for now. */
void vce_now_rfc3339(char *out, size_t len);

/* ---- processes, named by pid and start time (a pid may be reused) ---- */
/* The start time of pid in clock ticks since boot; 0 if there is none. */
unsigned long long vce_process_start(pid_t pid);
bool vce_process_alive(pid_t pid, unsigned long long start);
/* This boot's id: a state file from before a reboot names no process. */
void vce_boot_id(char *out, size_t len);
/* A pidfd of pid if it is still the process that started at `start`;
 * -1 with errno otherwise. */
int vce_pidfd_open(pid_t pid, unsigned long long start);
int vce_pidfd_signal(int pidfd, int sig);
/* One byte, tag, with fd (SCM_RIGHTS) over a unix socket. */
void vce_send_fd(int sock, char tag, int fd);
/* For a process that lives long and does little (a supervisor): gives
 * back the pages of code and read-only data read in at start. */
void vce_shed_clean_pages(void);

#endif
