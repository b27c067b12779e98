/* The container's rootfs, built in its own mount namespace: the overlay
 * of the cached layers, then /proc, /dev, /sys, the generated /etc files
 * and the user's mounts, then pivot_root.
 *
 * Every mount target is opened once inside the rootfs (openat2: never
 * out of it) and mounted on through that fd, so a symlink swapped in
 * afterwards cannot redirect the mount (CVE-2021-30465). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <termios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#include "../common/banned.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

static const char *const masked_paths[] = {
	"/proc/acpi",	     "/proc/asound",  "/proc/interrupts",
	"/proc/kcore",	     "/proc/keys",    "/proc/latency_stats",
	"/proc/sched_debug", "/proc/scsi",    "/proc/timer_list",
	"/proc/timer_stats", "/sys/firmware", "/sys/devices/virtual/powercap",
};
static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};
static const struct {
	const char *name;
	unsigned major, minor;
} devices[] = {
	{ "null", 1, 3 },   { "zero", 1, 5 },	 { "full", 1, 7 },
	{ "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
};

/* Symlinks are resolved as if the rootfs were / (as Docker resolves a
 * volume's path): a symlink cannot lead out of the container. */
static int open_at_root(int rootfd, const char *rel, int flags)
{
	struct open_how how = { .flags = (uint64_t)flags | O_CLOEXEC };

	if (!vce_have_openat2()) {
		/* The fallback follows no symlink at all: safe, if stricter. */
		cleanup_err vce_err err = NULL;
		return vce_open_beneath(rootfd, rel, flags, 0, &err);
	}
	how.resolve = RESOLVE_NO_MAGICLINKS | RESOLVE_IN_ROOT;
	return (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* mkdir -p of rel's parents inside the rootfs, then rel itself as a
 * directory or an empty file; returns an O_PATH fd on it. */
static int make_path(int rootfd, const char *path, bool dir, vce_err *err);

/* The mount point: a symlink to / or above it (CVE-2021-30465's way to
 * mount over the container's root) is refused. */
static int make_target(int rootfd, const char *path, bool dir, vce_err *err)
{
	int fd = make_path(rootfd, path, dir, err);

	if (fd >= 0 && same_file(fd, rootfd)) {
		close(fd);
		return vce_error_make(err, 0,
				      "%s is a symlink that leads to the container's root: mount "
				      "on a real folder in the container",
				      path);
	}
	return fd;
}

static int make_path(int rootfd, const char *path, bool dir, vce_err *err)
{
	cleanup_free char *rel = xstrdup(path + strspn(path, "/"));
	char *slash;
	int fd;

	if (*rel == '\0')
		return vce_error_make(err, 0, "cannot mount over the container's root");
	fd = open_at_root(rootfd, rel, O_PATH);
	if (fd >= 0 || errno != ENOENT)
		goto done;
	slash = strrchr(rel, '/');
	{
		cleanup_close int parent = -1;
		if (slash) {
			*slash = '\0';
			parent = make_path(rootfd, rel, true, err);
			*slash = '/';
			if (parent < 0)
				return -1;
		} else {
			parent = dup(rootfd);
		}
		const char *last = slash ? slash + 1 : rel;
		cleanup_close int reopened = open_at_root(parent, ".", O_DIRECTORY);
		if (reopened < 0)
			return vce_error_make(err, errno, "open %s", path);
		if (dir ? mkdirat(reopened, last, 0755) < 0
			: mknodat(reopened, last, S_IFREG | 0644, 0) < 0) {
			if (errno != EEXIST)
				return vce_error_make(err, errno, "create mount point %s", path);
		}
	}
	fd = open_at_root(rootfd, rel, O_PATH);
done:
	if (fd < 0 && errno == ELOOP && !vce_have_openat2())
		return vce_error_make(err, 0,
				      "%s goes through a symlink, and without openat2 (Linux 5.6) "
				      "vce follows none in the container: mount on a real folder",
				      path);
	if (fd < 0)
		return vce_error_make(err, errno, "mount point %s in the container", path);
	return fd;
}

static char *fd_path(int fd)
{
	return xasprintf("/proc/self/fd/%d", fd);
}

static int mount_on(const char *src, int target_fd, const char *type, unsigned long flags,
		    const char *data, const char *what, vce_err *err)
{
	cleanup_free char *target = fd_path(target_fd);
	if (mount(src, target, type, flags, data) < 0)
		return vce_error_make(err, errno, "mount %s", what);
	return 0;
}

/* Read-only through mount_setattr where the kernel has it: a remount in
 * a user namespace must otherwise repeat every locked flag. */
static int make_readonly(int fd, bool recursive, const char *what, vce_err *err)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
	unsigned flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
	cleanup_free char *path = NULL;

	if (syscall(SYS_mount_setattr, fd, "", flags, &attr, sizeof(attr)) == 0)
		return 0;
	path = fd_path(fd);
	if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) <
	    0)
		return vce_error_make(err, errno, "make %s read-only", what);
	return 0;
}

static int mount_at(int rootfd, const char *src, const char *path, bool dir, const char *type,
		    unsigned long flags, const char *data, vce_err *err)
{
	cleanup_close int fd = make_target(rootfd, path, dir, err);
	if (fd < 0)
		return -1;
	return mount_on(src, fd, type, flags, data, path, err);
}

static int bind_at(int rootfd, const char *src, const char *path, bool dir, bool readonly,
		   vce_err *err)
{
	cleanup_close int fd = make_target(rootfd, path, dir, err);
	cleanup_close int mounted = -1;

	if (fd < 0 || mount_on(src, fd, NULL, MS_BIND | MS_REC, NULL, path, err) < 0)
		return -1;
	if (!readonly)
		return 0;
	mounted = open_at_root(rootfd, path + strspn(path, "/"), O_PATH);
	if (mounted < 0)
		return vce_error_make(err, errno, "open %s", path);
	return make_readonly(mounted, true, path, err);
}

/* fuse-overlayfs, for kernels without overlayfs in a user namespace:
 * slower, a fallback only. It runs after an exec, so by path. */
static int fuse_overlay(const rt_plan *plan, const char *target, vce_err *err)
{
	cleanup_free char *lower = xstrdup(""), *opts = NULL;
	int status = 0;
	pid_t pid;

	for (size_t i = 0; i < plan->n_lowers; i++) {
		char *next =
		    xasprintf("%s%s%s/%s", lower, i ? ":" : "", plan->cache_dir, plan->lowers[i]);
		free(lower);
		lower = next;
	}
	opts =
	    xasprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work", lower, plan->dir, plan->dir);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		/* It chatters about options it ignores. */
		if (null >= 0 && vce_verbosity == 0)
			dup2(null, STDERR_FILENO);
		execl("/usr/bin/fuse-overlayfs", "fuse-overlayfs", "-o", opts, target,
		      (char *)NULL);
		_exit(127);
	}
	if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0)
		return 0;
	return vce_error_make(err, 0, "fuse-overlayfs could not mount the container's rootfs");
}

static int setup_overlay(const rt_plan *plan, const char *target, vce_err *err)
{
	cleanup_free char *lower = xstrdup(""), *opts = NULL;

	for (size_t i = 0; i < plan->n_lowers; i++) {
		char *next = xasprintf("%s%s%s", lower, i ? ":" : "", plan->lowers[i]);
		free(lower);
		lower = next;
	}
	opts = xasprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work%s", lower, plan->dir,
			 plan->dir, plan->rootless ? ",userxattr" : "");
	/* Lowerdirs relative to the cache keep the options short. */
	if (chdir(plan->cache_dir) < 0)
		return vce_error_make(err, errno, "open %s", plan->cache_dir);
	if (getenv("VCE_FORCE_FUSE_OVERLAYFS") == NULL) {
		if (mount("overlay", target, "overlay", 0, opts) == 0)
			return 0;
		if (errno == EINVAL && strlen(opts) >= 4000)
			return vce_error_make(
			    err, 0, "the image has too many layers to mount (%zu)", plan->n_lowers);
		if (errno != EPERM && errno != ENODEV && errno != EINVAL)
			return vce_error_make(err, errno, "mount the container's overlay");
		vce_verbose("the kernel's overlayfs refused (%s)", strerror(errno));
	}
	if (access("/usr/bin/fuse-overlayfs", X_OK) == 0)
		return fuse_overlay(plan, target, err);
	{
		struct utsname u;
		uname(&u);
		return vce_error_make(err, 0,
				      "cannot mount overlayfs for the container (kernel %s): "
				      "rootless containers need Linux 5.11 or later, "
				      "or fuse-overlayfs installed",
				      u.release);
	}
}

/* The terminal of -t comes from the container's own devpts instance, so
 * the command sees its /dev/pts/0; the master goes to vce outside. */
static int open_pty(int rootfd, int *master, int *slave, vce_err *err)
{
	*master = open_at_root(rootfd, "dev/pts/ptmx", O_RDWR | O_NOCTTY);
	if (*master < 0 || unlockpt(*master) < 0)
		return vce_error_make(err, errno, "open a terminal in the container");
	*slave = ioctl(*master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0)
		return vce_error_make(err, errno, "open the container's terminal");
	rt_size_like_stdin(*master);
	return 0;
}

/* The standard nodes: made as root (as Docker does), bound from the
 * host's in a user namespace, where mknod is not allowed. */
static int make_devices(const rt_plan *plan, int rootfd, vce_err *err)
{
	cleanup_close int dev = open_at_root(rootfd, "dev", O_DIRECTORY);

	if (dev < 0)
		return vce_error_make(err, errno, "open /dev in the container");
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		cleanup_free char *host = xasprintf("/dev/%s", devices[i].name);
		cleanup_free char *path = xasprintf("/dev/%s", devices[i].name);
		if (!plan->userns &&
		    mknodat(dev, devices[i].name, S_IFCHR | 0666,
			    makedev(devices[i].major, devices[i].minor)) == 0 &&
		    fchmodat(dev, devices[i].name, 0666, 0) == 0)
			continue;
		if (bind_at(rootfd, host, path, false, false, err) < 0)
			return -1;
	}
	return 0;
}

static int setup_dev(const rt_plan *plan, int rootfd, int *master, int *slave, vce_err *err)
{
	cleanup_close int dev = -1;
	cleanup_free char *pts_opts = NULL;
	bool gid5 = !plan->userns;

	if (mount_at(rootfd, "tmpfs", "/dev", true, "tmpfs", MS_NOSUID | MS_STRICTATIME,
		     "mode=755,size=65536k", err) < 0)
		return -1;
	if (make_devices(plan, rootfd, err) < 0)
		return -1;
	for (size_t i = 0; plan->userns && i < plan->map.n_gid; i++)
		if (plan->map.gid[i].inside <= 5 &&
		    5 < plan->map.gid[i].inside + plan->map.gid[i].count)
			gid5 = true;
	pts_opts = xasprintf("newinstance,ptmxmode=0666,mode=0620%s", gid5 ? ",gid=5" : "");
	if (mount_at(rootfd, "devpts", "/dev/pts", true, "devpts", MS_NOSUID | MS_NOEXEC, pts_opts,
		     err) < 0 ||
	    mount_at(rootfd, "shm", "/dev/shm", true, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		     "mode=1777,size=65536k", err) < 0 ||
	    mount_at(rootfd, "mqueue", "/dev/mqueue", true, "mqueue",
		     MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err) < 0)
		return -1;
	if (plan->tty) {
		cleanup_free char *src = NULL;
		if (open_pty(rootfd, master, slave, err) < 0)
			return -1;
		src = fd_path(*slave);
		if (bind_at(rootfd, src, "/dev/console", false, false, err) < 0)
			return -1;
	}
	dev = open_at_root(rootfd, "dev", O_DIRECTORY);
	if (dev < 0)
		return vce_error_make(err, errno, "open /dev in the container");
	symlinkat("pts/ptmx", dev, "ptmx");
	symlinkat("/proc/self/fd", dev, "fd");
	symlinkat("/proc/self/fd/0", dev, "stdin");
	symlinkat("/proc/self/fd/1", dev, "stdout");
	symlinkat("/proc/self/fd/2", dev, "stderr");
	symlinkat("/proc/kcore", dev, "core");
	return 0;
}

static int setup_sys(int rootfd, vce_err *err)
{
	cleanup_close int fd = make_target(rootfd, "/sys", true, err);
	cleanup_free char *path = NULL;

	if (fd < 0)
		return -1;
	path = fd_path(fd);
	if (mount("sysfs", path, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		/* Not permitted in some user namespaces: the host's, read-only. */
		if (mount("/sys", path, NULL, MS_BIND | MS_REC, NULL) < 0)
			return vce_error_make(err, errno, "mount /sys");
		if (make_readonly(fd, true, "/sys", err) < 0)
			return -1;
	}
	return 0;
}

/* As the cgroup namespace shows it: the container's cgroup is its root. */
static void mount_cgroup(int rootfd)
{
	cleanup_close int cg = open_at_root(rootfd, "sys/fs/cgroup", O_PATH | O_DIRECTORY);

	if (cg >= 0) {
		cleanup_free char *path = fd_path(cg);
		if (mount("cgroup2", path, "cgroup2", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  NULL) < 0)
			vce_verbose("no cgroup2 file system in the container: %s", strerror(errno));
	}
}

static int mask_paths(int rootfd, vce_err *err)
{
	for (size_t i = 0; i < sizeof(masked_paths) / sizeof(masked_paths[0]); i++) {
		const char *rel = masked_paths[i] + 1;
		cleanup_close int fd = open_at_root(rootfd, rel, O_PATH);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)
			? mount_on("tmpfs", fd, "tmpfs", MS_RDONLY, "size=0", masked_paths[i], err)
			: mount_on("/dev/null", fd, NULL, MS_BIND, NULL, masked_paths[i], err))
			return -1;
	}
	for (size_t i = 0; i < sizeof(readonly_paths) / sizeof(readonly_paths[0]); i++) {
		const char *rel = readonly_paths[i] + 1;
		cleanup_close int fd = open_at_root(rootfd, rel, O_PATH);
		cleanup_close int mounted = -1;
		if (fd < 0)
			continue;
		cleanup_free char *self = fd_path(fd);
		if (mount_on(self, fd, NULL, MS_BIND | MS_REC, NULL, readonly_paths[i], err) < 0)
			return -1;
		mounted = open_at_root(rootfd, rel, O_PATH);
		if (mounted < 0 || make_readonly(mounted, true, readonly_paths[i], err) < 0)
			return mounted < 0 ? vce_error_make(err, errno, "open %s", rel) : -1;
	}
	return 0;
}

static int setup_etc(const rt_plan *plan, int rootfd, vce_err *err)
{
	static const char *const files[] = { "hostname", "hosts", "resolv.conf" };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		cleanup_free char *src = xasprintf("%s/%s", plan->dir, files[i]);
		cleanup_free char *dst = xasprintf("/etc/%s", files[i]);
		if (bind_at(rootfd, src, dst, false, false, err) < 0)
			return -1;
	}
	return 0;
}

static int user_mounts(const rt_plan *plan, int rootfd, vce_err *err)
{
	for (size_t i = 0; i < plan->n_mounts; i++) {
		const rt_mount *m = &plan->mounts[i];
		int ret;
		if (m->kind == RT_MOUNT_TMPFS) {
			ret = mount_at(rootfd, "tmpfs", m->target, true, "tmpfs",
				       MS_NOSUID | MS_NODEV | (m->readonly ? MS_RDONLY : 0),
				       m->options, err);
		} else {
			struct stat st;
			bool dir = stat(m->source, &st) < 0 || S_ISDIR(st.st_mode);
			ret = bind_at(rootfd, m->source, m->target, dir, m->readonly, err);
		}
		if (ret < 0)
			return -1;
	}
	return 0;
}

static void loopback_up(void)
{
	struct ifreq ifr = { 0 };
	cleanup_close int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memcpy(ifr.ifr_name, "lo", 3);
	if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			vce_verbose("cannot bring up lo: %s", strerror(errno));
	}
}

int rt_setup_rootfs(const rt_plan *plan, rt_cgroup_step *in_cgroup, void *arg, int *master,
		    int *slave, vce_err *err)
{
	cleanup_free char *target = xasprintf("%s/rootfs", plan->dir);
	cleanup_close int rootfd = -1;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return vce_error_make(err, errno, "make the mount namespace private");
	if (setup_overlay(plan, target, err) < 0)
		return -1;
	/* By path: an fd opened before the clone sees the mount namespace
	 * of vce, without the overlay. */
	rootfd = open(target, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return vce_error_make(err, errno, "open %s", target);
	if (mount_at(rootfd, "proc", "/proc", true, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
		     err) < 0 ||
	    setup_dev(plan, rootfd, master, slave, err) < 0 || setup_sys(rootfd, err) < 0 ||
	    setup_etc(plan, rootfd, err) < 0)
		return -1;
	/* Late, so that what comes before overlaps the move into the cgroup;
	 * before the user's mounts, which may go under /sys/fs/cgroup. */
	if (in_cgroup(arg, err) < 0)
		return -1;
	mount_cgroup(rootfd);
	if (user_mounts(plan, rootfd, err) < 0)
		return -1;
	if (!plan->privileged && mask_paths(rootfd, err) < 0)
		return -1;
	if (plan->read_only && make_readonly(rootfd, false, "the rootfs", err) < 0)
		return -1;
	if (fchdir(rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return vce_error_make(err, errno, "pivot_root into the container");
	if (sethostname(plan->hostname, strlen(plan->hostname)) < 0)
		return vce_error_make(err, errno, "set the hostname");
	if (plan->network == RT_NET_PRIVATE || plan->network == RT_NET_NONE)
		loopback_up();
	return 0;
}
