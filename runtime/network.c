/* The container's network, as the runtime uses net/: host ports bound
 * before the start, another container's namespace to share, and the
 * forwarder that whoever supervises the container runs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container.h"

#include "../common/json.h"

#include "../common/banned.h"

#define RT_NETNS_DIR "/run/vce/netns"

int rt_net_listen(rt_plan *plan, vce_err *err)
{
	if (plan->network != RT_NET_PRIVATE || plan->n_ports == 0)
		return 0;
	return net_listen(plan->ports, plan->n_ports, plan->publish_ip, &plan->listeners,
			  &plan->n_listeners, err);
}

void rt_net_close(rt_plan *plan)
{
	net_listeners_close(plan->listeners, plan->n_listeners);
	plan->listeners = NULL;
	plan->n_listeners = 0;
	/* 0 is a plan never built (and stdin, never this fd). */
	if (plan->net_share_fd > 0)
		close(plan->net_share_fd);
	if (plan->net_share_userns_fd > 0)
		close(plan->net_share_userns_fd);
	plan->net_share_fd = -1;
	plan->net_share_userns_fd = -1;
}

/* Whether pid's user namespace maps ids as `lines` says (uid_map or
 * gid_map): in any order, nothing more. */
static bool maps_alike(pid_t pid, const char *which, const vce_idrange_line *lines, size_t n)
{
	cleanup_free char *path = xasprintf("/proc/%d/%s", (int)pid, which);
	cleanup_fclose FILE *f = fopen(path, "re");
	unsigned long in, out, count;
	size_t seen = 0;

	if (f == NULL)
		return false;
	while (fscanf(f, "%lu %lu %lu", &in, &out, &count) == 3) {
		bool found = false;
		for (size_t i = 0; i < n && !found; i++)
			found = lines[i].inside == in && lines[i].outside == out &&
				lines[i].count == count;
		if (!found)
			return false;
		seen++;
	}
	return seen == n;
}

/* Rootless, NAME's network belongs to NAME's user namespace, which only
 * its members may use: this container joins it too. That is only the
 * same container-world if the ids map alike (the same student). */
static int open_shared_userns(rt_plan *plan, pid_t member, vce_err *err)
{
	cleanup_free char *path = xasprintf("/proc/%d/ns/user", (int)member);

	if (!maps_alike(member, "uid_map", plan->map.uid, plan->map.n_uid) ||
	    !maps_alike(member, "gid_map", plan->map.gid, plan->map.n_gid))
		return vce_error_make(err, 0,
				      "--network container:%s: that container maps its ids for "
				      "another user (its -u, or NB_UID): start this one with the "
				      "same user",
				      plan->net_container);
	plan->net_share_userns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (plan->net_share_userns_fd < 0)
		return vce_error_make(err, errno, "open %s", path);
	return 0;
}

/* --network container:NAME: its namespace, opened while it runs (and
 * rootless, NAME's user namespace). */
int rt_net_open_shared(oci_store *store, rt_plan *plan, vce_err *err)
{
	rt_container c;
	cleanup_free char *path = NULL;
	json_int_t pid, start;
	cleanup_close int pidfd = -1;
	pid_t member;

	if (plan->network != RT_NET_CONTAINER)
		return 0;
	if (rt_container_open(store, plan->net_container, &c, err) < 0)
		return vce_error_wrap(err, "--network container:%s", plan->net_container);
	pid = json_integer_value(json_object_get(c.state, "pid"));
	start = json_integer_value(json_object_get(c.state, "pid_start"));
	pidfd = vce_pidfd_open((pid_t)pid, (unsigned long long)start);
	if (strcmp(vce_json_string(c.state, "status") ? vce_json_string(c.state, "status") : "",
		   "running") != 0 ||
	    pidfd < 0) {
		vce_error_make(err, 0, "container %s is not running: start it first (vce start %s)",
			       plan->net_container, plan->net_container);
		rt_container_close(&c);
		return -1;
	}
	member = rt_container_member((pid_t)pid);
	path = xasprintf("/proc/%d/ns/net", (int)member);
	rt_container_close(&c);
	plan->net_share_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (plan->net_share_fd < 0)
		return vce_error_make(err, errno, "open %s", path);
	if (plan->rootless && open_shared_userns(plan, member, err) < 0)
		return -1;
	return 0;
}

json_t *rt_net_ports_json(const rt_plan *plan)
{
	return net_listeners_to_json(plan->listeners, plan->n_listeners);
}

char *rt_net_outbound_handle(const char *dir, bool make_folder)
{
	const char *id = strrchr(dir, '/');

	if (geteuid() != 0)
		return xasprintf("%s/outbound.netns", dir);
	if (make_folder) {
		/* If it cannot be made, pasta's start says so. */
		cleanup_err vce_err ignored = NULL;
		int fd = vce_mkdirs_at(AT_FDCWD, RT_NETNS_DIR, 0700, &ignored);
		if (fd >= 0)
			close(fd);
	}
	return xasprintf("%s/%s", RT_NETNS_DIR, id ? id + 1 : dir);
}

/* For the supervisor's command line: "FD/PORT/t,FD/PORT/u". */
char *rt_net_encode(const net_listener *l, size_t n)
{
	char *out = xstrdup("");

	for (size_t i = 0; i < n; i++) {
		char *next = xasprintf("%s%s%d/%u/%c", out, i ? "," : "", l[i].fd,
				       (unsigned)l[i].port.ctr_port, l[i].port.udp ? 'u' : 't');
		free(out);
		out = next;
	}
	return out;
}

void rt_net_decode(const char *s, net_listener **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	while (s && *s) {
		int fd;
		unsigned port;
		char proto;
		if (sscanf(s, "%d/%u/%c", &fd, &port, &proto) != 3)
			break;
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[*n] = (net_listener){ .fd = fd };
		(*out)[*n].port.ctr_port = (uint16_t)port;
		(*out)[*n].port.udp = proto == 'u';
		(*n)++;
		s = strchr(s, ',');
		if (s)
			s++;
	}
}

int rt_net_forward_start(net_listener *l, size_t n, int netns_fd, int userns_fd, rt_forward *out,
			 vce_err *err)
{
	out->helper = (net_helper){ -1, -1 };
	out->f = NULL;
	if (n == 0)
		return 0;
	if (net_helper_start(netns_fd, userns_fd, &out->helper, err) < 0)
		return -1;
	out->f = net_forwarder_new(l, n, out->helper.sock);
	for (size_t i = 0; i < n; i++)
		l[i].fd = -1; /* the forwarder's now */
	return 0;
}

void rt_net_forward_stop(rt_forward *fw)
{
	net_forwarder_free(fw->f);
	fw->f = NULL;
	net_helper_stop(&fw->helper);
}
