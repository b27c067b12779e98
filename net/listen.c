/* The host's side of -p: every port bound before the container starts,
 * so that a port in use is said before anything else happens. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

#include "../common/banned.h"

/* The inode of the socket bound to port in /proc/net/<table>. */
static unsigned long socket_inode(const char *table, unsigned port, bool listening)
{
	cleanup_free char *path = xasprintf("/proc/net/%s", table);
	FILE *f = fopen(path, "re");
	char line[512];
	unsigned long found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned local_port, state;
		unsigned long inode;
		/* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line,
			   " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*s %*s %*s %*u %*u %lu",
			   &local_port, &state, &inode) == 3 &&
		    local_port == port && (!listening || state == 0x0A))
			found = inode;
	}
	fclose(f);
	return found;
}

static bool process_has_socket(const char *pid, const char *want)
{
	cleanup_free char *path = xasprintf("/proc/%s/fd", pid);
	DIR *dir = opendir(path);
	struct dirent *de;
	bool found = false;

	while (dir && !found && (de = readdir(dir)) != NULL) {
		char link[64];
		cleanup_free char *fd = xasprintf("%s/%s", path, de->d_name);
		ssize_t n = readlink(fd, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			found = strcmp(link, want) == 0;
		}
	}
	if (dir)
		closedir(dir);
	return found;
}

/* A vce supervisor's command line: vce __supervise <store>/containers/<id> ... */
static char *supervised_container(const char *pid)
{
	cleanup_free char *path = xasprintf("/proc/%s/cmdline", pid);
	char args[4096];
	FILE *f = fopen(path, "re");
	size_t n = f ? fread(args, 1, sizeof(args) - 1, f) : 0;
	const char *second, *dir, *id;

	if (f)
		fclose(f);
	args[n] = '\0';
	second = args + strlen(args) + 1;
	if (second >= args + n || strcmp(second, "__supervise") != 0)
		return NULL;
	dir = second + strlen(second) + 1;
	if (dir >= args + n)
		return NULL;
	id = strrchr(dir, '/');
	return xasprintf("vce container %.12s", id ? id + 1 : dir);
}

/* "process 1234 (python3)" holding port, or NULL when it cannot be told
 * (it belongs to another user, or to another network namespace). */
static char *port_holder(unsigned port, bool udp)
{
	unsigned long inode = socket_inode(udp ? "udp" : "tcp", port, !udp);
	DIR *proc;
	struct dirent *de;
	char want[64];
	char *holder = NULL;

	if (inode == 0)
		inode = socket_inode(udp ? "udp6" : "tcp6", port, !udp);
	if (inode == 0 || (proc = opendir("/proc")) == NULL)
		return NULL;
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	while (holder == NULL && (de = readdir(proc)) != NULL) {
		char comm[64] = "";
		if (!isdigit((unsigned char)de->d_name[0]) || !process_has_socket(de->d_name, want))
			continue;
		cleanup_free char *path = xasprintf("/proc/%s/comm", de->d_name);
		FILE *f = fopen(path, "re");
		if (f) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
		holder = supervised_container(de->d_name);
		if (holder == NULL)
			holder = xasprintf("process %s (%s)", de->d_name, comm);
	}
	closedir(proc);
	return holder;
}

static int unprivileged_port_start(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");
	int v = 1024;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 1024;
		fclose(f);
	}
	return v;
}

static int bind_failed(const net_publish *p, const char *ip, int e, vce_err *err)
{
	const char *proto = p->udp ? "udp" : "tcp";

	if (e == EADDRINUSE) {
		cleanup_free char *holder = port_holder(p->host_port, p->udp);
		return vce_error_make(err, 0,
				      "host port %u/%s is already in use%s%s: stop it, or publish "
				      "another host port (-p OTHER:%u)",
				      p->host_port, proto, holder ? " by " : "",
				      holder ? holder : "", p->ctr_port);
	}
	if (e == EACCES && p->host_port < unprivileged_port_start())
		return vce_error_make(
		    err, 0,
		    "host port %u is below %d, which net.ipv4.ip_unprivileged_port_start keeps for "
		    "root: publish a port from %d up (-p %d:%u), or lower that sysctl",
		    p->host_port, unprivileged_port_start(), unprivileged_port_start(),
		    p->host_port < 1000 ? 8000 + p->host_port : unprivileged_port_start(),
		    p->ctr_port);
	if (e == EADDRNOTAVAIL)
		return vce_error_make(err, 0,
				      "%s is not an address of this machine: publish on one of its "
				      "addresses, or leave the address out",
				      ip);
	return vce_error_make(err, e, "bind %s port %u/%s", ip, p->host_port, proto);
}

typedef union address {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
} address;

static socklen_t make_address(const char *ip, unsigned port, address *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, ip, &a->in.sin_addr) == 1) {
		a->in.sin_family = AF_INET;
		a->in.sin_port = htons((uint16_t)port);
		return sizeof(a->in);
	}
	inet_pton(AF_INET6, ip, &a->in6.sin6_addr);
	a->in6.sin6_family = AF_INET6;
	a->in6.sin6_port = htons((uint16_t)port);
	return sizeof(a->in6);
}

/* Binds one socket to ip (dual: "::" taking IPv4 too). port 0 becomes
 * the port the kernel chose. Returns the fd, -1 with err, or -2 when
 * the address family is missing from this kernel. */
static int bind_one(const net_publish *p, const char *ip, bool dual, unsigned *port, vce_err *err)
{
	address a;
	socklen_t len = make_address(ip, *port, &a);
	int one = 1, v6only = !dual;
	cleanup_close int fd = socket(
	    a.sa.sa_family, (p->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return errno == EAFNOSUPPORT ? -2 : vce_error_make(err, errno, "socket");
	if (!p->udp)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a.sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	if (bind(fd, &a.sa, len) < 0) {
		int e = errno;
		if (e == EADDRNOTAVAIL && a.sa.sa_family == AF_INET6 &&
		    (dual || !strcmp(ip, "::1")))
			return -2; /* IPv6 is off */
		net_publish shown = *p;
		shown.host_port = (uint16_t)*port;
		return bind_failed(&shown, dual ? "0.0.0.0" : ip, e, err);
	}
	if (!p->udp && listen(fd, 4096) < 0)
		return vce_error_make(err, errno, "listen on port %u", *port);
	len = sizeof(a);
	if (getsockname(fd, &a.sa, &len) == 0)
		*port = ntohs(a.sa.sa_family == AF_INET ? a.in.sin_port : a.in6.sin6_port);
	int ret = fd;
	fd = -1;
	return ret;
}

static void add(net_listener **out, size_t *n, int fd, const net_publish *p, const char *ip,
		unsigned port, bool dual)
{
	net_listener *l;

	*out = xrealloc(*out, (*n + 1) * sizeof(**out));
	l = &(*out)[(*n)++];
	l->fd = fd;
	l->port = *p;
	l->port.host_port = (uint16_t)port;
	snprintf(l->port.host_ip, sizeof(l->port.host_ip), "%s", ip);
	l->dual = dual;
}

static int listen_one(const net_publish *p, const char *default_ip, net_listener **out, size_t *n,
		      vce_err *err)
{
	const char *ip = p->host_ip[0] ? p->host_ip : default_ip ? default_ip : "0.0.0.0";
	bool implicit = p->host_ip[0] == '\0';
	unsigned port = p->host_port;
	int fd;

	if (implicit && strcmp(ip, "0.0.0.0") == 0) {
		fd = bind_one(p, "::", true, &port, err);
		if (fd == -2)
			fd = bind_one(p, "0.0.0.0", false, &port, err);
		if (fd < 0)
			return -1;
		add(out, n, fd, p, "0.0.0.0", port, true);
		return 0;
	}
	fd = bind_one(p, ip, false, &port, err);
	if (fd < 0)
		return fd == -2 ? vce_error_make(err, 0,
						 "IPv6 is off on this machine: publish on an "
						 "IPv4 address")
				: -1;
	add(out, n, fd, p, ip, port, false);
	/* "localhost" is both: browsers try ::1 first. */
	if (implicit && strcmp(ip, "127.0.0.1") == 0) {
		fd = bind_one(p, "::1", false, &port, err);
		if (fd == -1)
			return -1;
		if (fd >= 0)
			add(out, n, fd, p, "::1", port, false);
	}
	return 0;
}

int net_listen(const net_publish *ports, size_t n, const char *default_ip, net_listener **out,
	       size_t *n_out, vce_err *err)
{
	*out = NULL;
	*n_out = 0;
	for (size_t i = 0; i < n; i++) {
		if (listen_one(&ports[i], default_ip, out, n_out, err) < 0) {
			net_listeners_close(*out, *n_out);
			*out = NULL;
			*n_out = 0;
			return -1;
		}
	}
	return 0;
}

void net_listeners_close(net_listener *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].fd >= 0)
			close(l[i].fd);
	free(l);
}

json_t *net_listeners_to_json(const net_listener *l, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(
		    a, json_pack("{s:s, s:i, s:i, s:s, s:b}", "host_ip", l[i].port.host_ip,
				 "host_port", (int)l[i].port.host_port, "container_port",
				 (int)l[i].port.ctr_port, "proto", l[i].port.udp ? "udp" : "tcp",
				 "dual", l[i].dual));
	return a;
}
