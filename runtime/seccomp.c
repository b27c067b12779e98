/* seccomp (libseccomp): Docker's default policy, or a profile file in
 * Docker's JSON format, compiled for this machine's architectures and
 * for the capabilities the process keeps (a rule may depend on them). */
#define _GNU_SOURCE
#include <errno.h>
#include <seccomp.h>
#include <string.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#include "../common/json.h"

#include "../common/banned.h"

#define MAX_ARGS 6

typedef struct rule {
	const char *names; /* space-separated */
	uint32_t action;
	struct scmp_arg_cmp args[MAX_ARGS];
	unsigned n_args;
	uint64_t caps_in, caps_out; /* applies only with all of in, none of out */
	const char *arches;	    /* space-separated Go names; NULL: every one */
} rule;

#define CAP(x) (UINT64_C(1) << (x))
#define ALLOW  SCMP_ACT_ALLOW

/* Docker's default policy (moby profiles/seccomp), in our own table: an
 * allow-list, EPERM for everything else. */
static const char docker_allowed[] =
    "accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 "
    "clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime "
    "clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect "
    "copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old "
    "epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit "
    "exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir "
    "fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr "
    "flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 "
    "fsync ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd "
    "getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups "
    "getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom "
    "getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid "
    "getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr "
    "inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy "
    "io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit "
    "io_uring_enter io_uring_register io_uring_setup ipc kill landlock_add_rule "
    "landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat "
    "listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise "
    "membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 "
    "mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive "
    "mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget "
    "msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat "
    "_newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc "
    "pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 "
    "process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead "
    "readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages "
    "removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction "
    "rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait "
    "rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam "
    "sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval "
    "sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam "
    "sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop "
    "semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 "
    "setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority "
    "setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 "
    "setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid "
    "setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 "
    "sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx "
    "symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create "
    "timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime "
    "timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime "
    "timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat "
    "utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev "
    "process_vm_readv process_vm_writev ptrace";

/* Namespace flags clone may not be given without CAP_SYS_ADMIN. */
#define CLONE_NS_FLAGS 0x7E020000ULL

static const rule docker_rules[] = {
	{ docker_allowed, ALLOW, { { 0 } }, 0, 0, 0, NULL },
	{ "socket", ALLOW, { SCMP_A0(SCMP_CMP_NE, 40 /* AF_VSOCK */) }, 1, 0, 0, NULL },
	{ "personality", ALLOW, { SCMP_A0(SCMP_CMP_EQ, 0x0) }, 1, 0, 0, NULL },
	{ "personality", ALLOW, { SCMP_A0(SCMP_CMP_EQ, 0x8) }, 1, 0, 0, NULL },
	{ "personality", ALLOW, { SCMP_A0(SCMP_CMP_EQ, 0x20000) }, 1, 0, 0, NULL },
	{ "personality", ALLOW, { SCMP_A0(SCMP_CMP_EQ, 0x20008) }, 1, 0, 0, NULL },
	{ "personality", ALLOW, { SCMP_A0(SCMP_CMP_EQ, 0xffffffff) }, 1, 0, 0, NULL },
	{ "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
	  ALLOW,
	  { { 0 } },
	  0,
	  0,
	  0,
	  "arm arm64" },
	{ "arch_prctl", ALLOW, { { 0 } }, 0, 0, 0, "amd64 x32" },
	{ "modify_ldt", ALLOW, { { 0 } }, 0, 0, 0, "amd64 x32 x86" },
	{ "open_by_handle_at", ALLOW, { { 0 } }, 0, CAP(CAP_DAC_READ_SEARCH), 0, NULL },
	{ "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount "
	  "mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname "
	  "sethostname setns syslog umount umount2 unshare",
	  ALLOW,
	  { { 0 } },
	  0,
	  CAP(CAP_SYS_ADMIN),
	  0,
	  NULL },
	{ "clone",
	  ALLOW,
	  { SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NS_FLAGS, 0) },
	  1,
	  0,
	  CAP(CAP_SYS_ADMIN),
	  NULL },
	/* ENOSYS, not EPERM: glibc then falls back to clone, which is checked. */
	{ "clone3", SCMP_ACT_ERRNO(ENOSYS), { { 0 } }, 0, 0, CAP(CAP_SYS_ADMIN), NULL },
	{ "reboot", ALLOW, { { 0 } }, 0, CAP(CAP_SYS_BOOT), 0, NULL },
	{ "chroot", ALLOW, { { 0 } }, 0, CAP(CAP_SYS_CHROOT), 0, NULL },
	{ "delete_module init_module finit_module",
	  ALLOW,
	  { { 0 } },
	  0,
	  CAP(CAP_SYS_MODULE),
	  0,
	  NULL },
	{ "acct", ALLOW, { { 0 } }, 0, CAP(CAP_SYS_PACCT), 0, NULL },
	{ "kcmp pidfd_getfd process_madvise", ALLOW, { { 0 } }, 0, CAP(CAP_SYS_PTRACE), 0, NULL },
	{ "iopl ioperm", ALLOW, { { 0 } }, 0, CAP(CAP_SYS_RAWIO), 0, NULL },
	{ "settimeofday stime clock_settime clock_settime64",
	  ALLOW,
	  { { 0 } },
	  0,
	  CAP(CAP_SYS_TIME),
	  0,
	  NULL },
	{ "vhangup", ALLOW, { { 0 } }, 0, CAP(CAP_SYS_TTY_CONFIG), 0, NULL },
	{ "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
	  ALLOW,
	  { { 0 } },
	  0,
	  CAP(CAP_SYS_NICE),
	  0,
	  NULL },
	{ "syslog", ALLOW, { { 0 } }, 0, CAP(CAP_SYSLOG), 0, NULL },
	{ "bpf", ALLOW, { { 0 } }, 0, CAP(CAP_BPF), 0, NULL },
	{ "perf_event_open", ALLOW, { { 0 } }, 0, CAP(CAP_PERFMON), 0, NULL },
};

/* Docker's profiles name architectures as Go does, as oci_host_arch()
 * does. */
static bool word_in(const char *words, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = words; (p = strstr(p, word)) != NULL; p += n) {
		if ((p == words || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	}
	return false;
}

static bool rule_applies(const rule *r, uint64_t caps)
{
	if ((caps & r->caps_in) != r->caps_in || (caps & r->caps_out) != 0)
		return false;
	return r->arches == NULL || word_in(r->arches, oci_host_arch());
}

/* Docker's rule: conditions on distinct arguments are and-ed in one rule;
 * several on the same argument become separate rules (or-ed). */
static bool repeated_index(const rule *r)
{
	for (unsigned i = 0; i < r->n_args; i++)
		for (unsigned j = i + 1; j < r->n_args; j++)
			if (r->args[i].arg == r->args[j].arg)
				return true;
	return false;
}

static int add_one(scmp_filter_ctx ctx, const rule *r, int nr, vce_err *err)
{
	int ret;

	if (repeated_index(r)) {
		for (unsigned i = 0; i < r->n_args; i++) {
			ret = seccomp_rule_add_exact_array(ctx, r->action, nr, 1, &r->args[i]);
			if (ret < 0 && ret != -EEXIST)
				break;
		}
	} else {
		ret = seccomp_rule_add_array(ctx, r->action, nr, r->n_args, r->args);
	}
	/* The default action again, or a rule already there: nothing to add. */
	if (ret < 0 && ret != -EACCES && ret != -EEXIST)
		return vce_error_make(err, -ret, "seccomp rule for syscall %d", nr);
	return 0;
}

static int add_rule(scmp_filter_ctx ctx, const rule *r, vce_err *err)
{
	cleanup_free char *names = xstrdup(r->names);
	char *save = NULL;

	for (char *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save)) {
		int nr = seccomp_syscall_resolve_name(n);
		/* A syscall this architecture does not have. */
		if (nr == __NR_SCMP_ERROR)
			continue;
		if (add_one(ctx, r, nr, err) < 0)
			return vce_error_wrap(err, "%s", n);
	}
	return 0;
}

static void add_arches(scmp_filter_ctx ctx)
{
	uint32_t native = seccomp_arch_native();

	/* The 32-bit ABIs the kernel also runs, or they would slip past. */
	if (native == SCMP_ARCH_X86_64) {
		seccomp_arch_add(ctx, SCMP_ARCH_X86);
		seccomp_arch_add(ctx, SCMP_ARCH_X32);
	} else if (native == SCMP_ARCH_AARCH64) {
		seccomp_arch_add(ctx, SCMP_ARCH_ARM);
	}
}

/* Compiles the rules to BPF (libseccomp), into *bpf. */
static int compile_rules(uint32_t default_action, const rule *rules, size_t n, uint64_t caps,
			 char **bpf, size_t *len, vce_err *err)
{
	scmp_filter_ctx ctx = seccomp_init(default_action);
	cleanup_close int fd = -1;
	int ret = 0;

	if (ctx == NULL)
		return vce_error_make(err, 0, "seccomp: cannot start a filter");
	add_arches(ctx);
	/* A binary tree of syscall numbers rather than a list: a shorter
	 * program for the kernel to check and to run on every syscall. */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (size_t i = 0; i < n && ret == 0; i++)
		if (rule_applies(&rules[i], caps))
			ret = add_rule(ctx, &rules[i], err);
	fd = ret == 0 ? memfd_create("seccomp", MFD_CLOEXEC) : -1;
	if (ret == 0 && (fd < 0 || (ret = seccomp_export_bpf(ctx, fd)) < 0))
		ret = vce_error_make(err, fd < 0 ? errno : -ret, "compile the seccomp filter");
	seccomp_release(ctx);
	if (ret < 0)
		return -1;
	{
		off_t size = lseek(fd, 0, SEEK_END);
		if (size <= 0 || pread(fd, *bpf = xmalloc((size_t)size), (size_t)size, 0) != size)
			return vce_error_make(err, errno, "read the compiled seccomp filter");
		*len = (size_t)size;
	}
	return 0;
}

/* ---- profiles in Docker's JSON format ---- */

typedef struct profile {
	uint32_t default_action;
	rule *rules;
	size_t n;
	char **strings; /* owned by the profile */
	size_t n_strings;
} profile;

static void profile_free(profile *p)
{
	for (size_t i = 0; i < p->n_strings; i++)
		free(p->strings[i]);
	free(p->strings);
	free(p->rules);
}

static const char *keep_string(profile *p, char *s)
{
	p->strings = xrealloc(p->strings, (p->n_strings + 1) * sizeof(char *));
	p->strings[p->n_strings++] = s;
	return s;
}

static int parse_action(json_t *obj, const char *key, json_t *errno_ret, uint32_t *out,
			vce_err *err)
{
	const char *a = vce_json_string(obj, key);
	int e = json_is_integer(errno_ret) ? (int)json_integer_value(errno_ret) : EPERM;

	if (a == NULL)
		return vce_error_make(err, 0, "\"%s\" is missing", key);
	if (strcmp(a, "SCMP_ACT_ALLOW") == 0)
		*out = SCMP_ACT_ALLOW;
	else if (strcmp(a, "SCMP_ACT_ERRNO") == 0)
		*out = SCMP_ACT_ERRNO((uint32_t)e);
	else if (strcmp(a, "SCMP_ACT_KILL") == 0 || strcmp(a, "SCMP_ACT_KILL_THREAD") == 0)
		*out = SCMP_ACT_KILL;
	else if (strcmp(a, "SCMP_ACT_KILL_PROCESS") == 0)
		*out = SCMP_ACT_KILL_PROCESS;
	else if (strcmp(a, "SCMP_ACT_TRAP") == 0)
		*out = SCMP_ACT_TRAP;
	else if (strcmp(a, "SCMP_ACT_LOG") == 0)
		*out = SCMP_ACT_LOG;
	else if (strcmp(a, "SCMP_ACT_TRACE") == 0)
		*out = SCMP_ACT_TRACE((uint32_t)e);
	else
		return vce_error_make(err, 0, "unknown action \"%s\"", a);
	return 0;
}

static int parse_op(const char *op, enum scmp_compare *out)
{
	static const struct {
		const char *name;
		enum scmp_compare op;
	} ops[] = {
		{ "SCMP_CMP_NE", SCMP_CMP_NE },
		{ "SCMP_CMP_LT", SCMP_CMP_LT },
		{ "SCMP_CMP_LE", SCMP_CMP_LE },
		{ "SCMP_CMP_EQ", SCMP_CMP_EQ },
		{ "SCMP_CMP_GE", SCMP_CMP_GE },
		{ "SCMP_CMP_GT", SCMP_CMP_GT },
		{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
	};
	for (size_t i = 0; op && i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(op, ops[i].name) == 0) {
			*out = ops[i].op;
			return 0;
		}
	}
	return -1;
}

static int parse_args(json_t *args, rule *r, vce_err *err)
{
	size_t i;
	json_t *a;

	if (args == NULL || json_is_null(args))
		return 0;
	if (!json_is_array(args) || json_array_size(args) > MAX_ARGS)
		return vce_error_make(err, 0, "\"args\" must be a list of at most 6 conditions");
	json_array_foreach (args, i, a) {
		json_t *index = json_object_get(a, "index"), *value = json_object_get(a, "value");
		enum scmp_compare op;
		if (!json_is_integer(index) || json_integer_value(index) < 0 ||
		    json_integer_value(index) >= MAX_ARGS || !json_is_integer(value) ||
		    parse_op(vce_json_string(a, "op"), &op) < 0)
			return vce_error_make(
			    err, 0, "a condition in \"args\" needs index 0-5, value and op");
		r->args[i].arg = (unsigned)json_integer_value(index);
		r->args[i].op = op;
		r->args[i].datum_a = (scmp_datum_t)json_integer_value(value);
		r->args[i].datum_b =
		    (scmp_datum_t)json_integer_value(json_object_get(a, "valueTwo"));
	}
	r->n_args = (unsigned)json_array_size(args);
	return 0;
}

static uint64_t parse_caps(json_t *cond)
{
	json_t *caps = json_object_get(cond, "caps"), *c;
	uint64_t mask = 0;
	size_t i;

	json_array_foreach (caps, i, c) {
		int v = json_is_string(c) ? rt_cap_from_name(json_string_value(c)) : -1;
		if (v >= 0)
			mask |= CAP(v);
	}
	return mask;
}

static char *join_strings(json_t *arr)
{
	char *out = xstrdup("");
	json_t *s;
	size_t i;

	json_array_foreach (arr, i, s) {
		char *next;
		if (!json_is_string(s))
			continue;
		next = xasprintf("%s%s%s", out, *out ? " " : "", json_string_value(s));
		free(out);
		out = next;
	}
	return out;
}

static int parse_syscall(profile *p, json_t *sc, vce_err *err)
{
	rule r = { 0 };
	json_t *names = json_object_get(sc, "names"), *inc = json_object_get(sc, "includes"),
	       *exc = json_object_get(sc, "excludes");

	if (json_is_array(names))
		r.names = keep_string(p, join_strings(names));
	else if (vce_json_string(sc, "name"))
		r.names = keep_string(p, xstrdup(vce_json_string(sc, "name")));
	else
		return vce_error_make(err, 0, "a syscalls entry without \"names\"");
	if (parse_action(sc, "action", json_object_get(sc, "errnoRet"), &r.action, err) < 0 ||
	    parse_args(json_object_get(sc, "args"), &r, err) < 0)
		return vce_error_wrap(err, "syscalls entry \"%s\"", r.names);
	r.caps_in = parse_caps(inc);
	r.caps_out = parse_caps(exc);
	if (json_is_array(json_object_get(inc, "arches")))
		r.arches = keep_string(p, join_strings(json_object_get(inc, "arches")));
	/* An excluded arch: the rule is dropped here if it is this one. */
	if (json_is_array(json_object_get(exc, "arches"))) {
		cleanup_free char *ex = join_strings(json_object_get(exc, "arches"));
		if (word_in(ex, oci_host_arch()))
			return 0;
	}
	p->rules = xrealloc(p->rules, (p->n + 1) * sizeof(rule));
	p->rules[p->n++] = r;
	return 0;
}

static int parse_profile(const char *text, size_t len, profile *p, vce_err *err)
{
	cleanup_json json_t *root = NULL;
	json_t *syscalls, *sc;
	size_t i;

	memset(p, 0, sizeof(*p));
	if (vce_json_parse(text, len, &root, err) < 0 ||
	    parse_action(root, "defaultAction", json_object_get(root, "defaultErrnoRet"),
			 &p->default_action, err) < 0)
		return -1;
	syscalls = json_object_get(root, "syscalls");
	if (syscalls && !json_is_array(syscalls))
		return vce_error_make(err, 0, "\"syscalls\" must be a list");
	json_array_foreach (syscalls, i, sc) {
		if (parse_syscall(p, sc, err) < 0) {
			profile_free(p);
			return -1;
		}
	}
	return 0;
}

int rt_seccomp_check(const char *text, size_t len, vce_err *err)
{
	profile p;

	if (parse_profile(text, len, &p, err) < 0)
		return -1;
	profile_free(&p);
	return 0;
}

int rt_read_seccomp_file(const char *path, char **text, vce_err *err)
{
	size_t len;

	if (vce_read_host_file(path, 4 << 20, text, &len, err) < 0)
		return vce_error_wrap(err, "seccomp profile");
	if (rt_seccomp_check(*text, len, err) < 0) {
		free(*text);
		*text = NULL;
		return vce_error_wrap(err, "seccomp profile %s", path);
	}
	return 0;
}

static int compile(const char *text, uint64_t caps, char **bpf, size_t *len, vce_err *err)
{
	profile p;
	int ret;

	if (text == NULL)
		return compile_rules(SCMP_ACT_ERRNO(EPERM), docker_rules,
				     sizeof(docker_rules) / sizeof(docker_rules[0]), caps, bpf, len,
				     err);
	if (parse_profile(text, strlen(text), &p, err) < 0)
		return vce_error_wrap(err, "seccomp profile");
	ret = compile_rules(p.default_action, p.rules, p.n, caps, bpf, len, err);
	profile_free(&p);
	return ret;
}

/* Compiling takes libseccomp ~15 ms, longer than starting a container:
 * the BPF is kept in the store, named by everything it depends on. */
int rt_seccomp_program(int store_fd, const char *mode, const char *text, uint64_t caps, char **bpf,
		       size_t *len, vce_err *err)
{
	const struct scmp_version *v = seccomp_version();
	cleanup_free char *key_text = NULL, *name = NULL;
	cleanup_close int dir = -1;
	cleanup_err vce_err ignored = NULL;
	char digest[VCE_DIGEST_LEN + 1];

	*bpf = NULL;
	*len = 0;
	if (mode && strcmp(mode, "unconfined") == 0)
		return 0;
	key_text = xasprintf("v2 %s %u.%u.%u %" PRIx64 "\n%s", oci_host_arch(), v->major, v->minor,
			     v->micro, caps, text ? text : "docker-default");
	vce_digest_of(key_text, strlen(key_text), digest);
	name = xasprintf("%s.bpf", digest + strlen("sha256:"));
	dir = vce_mkdirs_at(store_fd, "seccomp", 0700, &ignored);
	if (dir >= 0 && vce_read_file_at(dir, name, 1 << 20, bpf, len, &ignored) == 0 && *len > 0 &&
	    *len % sizeof(struct sock_filter) == 0)
		return 0;
	free(*bpf);
	*bpf = NULL;
	if (compile(text, caps, bpf, len, err) < 0)
		return -1;
	if (dir >= 0)
		vce_replace_file_at(dir, name, *bpf, *len, 0600, &ignored);
	return 0;
}

int rt_seccomp_load(const char *bpf, size_t len, vce_err *err)
{
	struct sock_fprog prog = { .len = (unsigned short)(len / sizeof(struct sock_filter)),
				   .filter = (struct sock_filter *)(void *)bpf };

	if (bpf == NULL)
		return 0;
	/* Without no_new_privs: the caller holds CAP_SYS_ADMIN (in its user
	 * namespace), so setuid programs in the container still work. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return vce_error_make(err, errno, "load the seccomp filter");
	return 0;
}
