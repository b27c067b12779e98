/* net: a container's network. Host ports forwarded into its network
 * namespace, and the helpers that give it a way out.
 *
 * The forwarder runs in the container's supervisor (or in vce itself for
 * a foreground run):
 *   host client -> listener (host) -> accept
 *   helper (in the container's netns) -> a fresh socket, over SCM_RIGHTS
 *   connect it to 127.0.0.1:PORT there; splice both ways through pipes
 * in one epoll loop. Nothing here knows about containers. */
#ifndef VCE_NET_H
#define VCE_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "../common/common.h"

/* One -p: [IP:][HOSTPORT:]CTRPORT[/tcp|/udp]. host_ip "" is the default
 * address; host_port 0 is any free port. */
typedef struct net_publish {
	char host_ip[INET6_ADDRSTRLEN];
	uint16_t host_port, ctr_port;
	bool udp;
} net_publish;

/* Appends what SPEC asks for to *ports (a range "8000-8002:8000-8002"
 * is one entry per port). */
int net_parse_publish(const char *spec, net_publish **ports, size_t *n, vce_err *err);
/* An IPv4 or IPv6 address (no brackets). */
bool net_is_address(const char *ip);
/* "8888/tcp" (an image's ExposedPorts key) as -p 8888/tcp. */
int net_parse_exposed(const char *key, net_publish *out, vce_err *err);

/* A bound host socket: its address as bound, the port it forwards to. */
typedef struct net_listener {
	int fd;
	net_publish port; /* host_ip as bound ("0.0.0.0", "::", "127.0.0.1") */
	bool dual;	  /* bound to [::], taking IPv4 as well: host_ip "0.0.0.0" */
} net_listener;

/* Binds every port before the container starts. default_ip replaces an
 * empty host_ip: NULL or "0.0.0.0" is every address, IPv4 and IPv6;
 * "127.0.0.1" is loopback, IPv4 and IPv6. Ports in use, and low ports
 * rootless, fail with what to do. */
int net_listen(const net_publish *ports, size_t n, const char *default_ip, net_listener **out,
	       size_t *n_out, vce_err *err);
void net_listeners_close(net_listener *l, size_t n);
/* [{"host_ip","host_port","container_port","proto"}] and back. */
json_t *net_listeners_to_json(const net_listener *l, size_t n);

/* The helper: a process in the container's network namespace (joined
 * through userns_fd first when that is not -1) that makes sockets there
 * on request. Dies with its parent. */
typedef struct net_helper {
	pid_t pid;
	int sock;
} net_helper;
int net_helper_start(int netns_fd, int userns_fd, net_helper *out, vce_err *err);
void net_helper_stop(net_helper *h);

/* The forwarder: its epoll fd goes into the caller's poll; call
 * net_forwarder_dispatch when it is readable. Takes the listeners' fds. */
typedef struct net_forwarder net_forwarder;
net_forwarder *net_forwarder_new(const net_listener *l, size_t n, int helper_sock);
/* How long a UDP client's session lives without a datagram (default a
 * minute). */
void net_forwarder_set_session_idle(net_forwarder *f, unsigned ms);
int net_forwarder_fd(const net_forwarder *f);
void net_forwarder_dispatch(net_forwarder *f);
/* Closes the listeners (the ports are free at once) and every connection. */
void net_forwarder_free(net_forwarder *f);

/* ---- outbound access: pasta, else slirp4netns ---- */
typedef struct net_outbound {
	const char *tool; /* "pasta", "slirp4netns", or NULL: none */
	int ready_fd;	  /* readable once the tool is set up or failed; -1 after */
	pid_t pid;	  /* slirp4netns, our child; 0 if none */
	int exit_fd;	  /* slirp4netns: closed to make it exit */
	pid_t starter;	  /* pasta's first process, until it has said how it went */
	char *pid_file;	  /* where pasta writes the pid of the one that stays */
	char *handle;	  /* pasta's way into the namespace; it leaves when it goes */
	int pidfd;	  /* pasta (not our child): signalled to make it exit */
} net_outbound;
#define NET_OUTBOUND_INIT                                                                          \
	{                                                                                          \
		.ready_fd = -1, .exit_fd = -1, .pidfd = -1                                         \
	}
/* Which tool there is: "pasta", "slirp4netns" or NULL. */
const char *net_outbound_tool(void);
/* The address at which the container reaches the host's loopback
 * through that tool ("" if none). */
void net_outbound_alias(const char *tool, char *out, size_t size);
/* The address of that tool's DNS forwarder ("" if none). */
const char *net_outbound_dns(const char *tool);
/* Starts giving the namespace of process pid (through its user namespace
 * when rootless) a way out, and returns at once: the setting up takes
 * the tool tens of ms, which the container spends on its own. handle: a
 * path for pasta's handle on the namespace (its pid file goes beside it,
 * HANDLE.pid), in a folder that root without capabilities can enter. */
int net_outbound_start(pid_t pid, bool rootless, const char *handle, net_outbound *out,
		       vce_err *err);
/* A pasta started by another process (the supervisor's, across its exec),
 * to stop: its pidfd (or -1: none) and the handle it was started with. */
void net_outbound_adopt(net_outbound *o, const char *handle, int pidfd);
/* Removes a handle and its pid file, if there: its pasta leaves. For a
 * container whose supervisor was killed. */
void net_outbound_forget(const char *handle);
/* Once ready_fd is readable (or waiting up to timeout_ms for it): 0 if
 * the way out is up; -1 with err if not, the tool stopped. */
int net_outbound_settle(net_outbound *o, int timeout_ms, vce_err *err);
/* Inside the container's network namespace: a netlink socket (or -1)
 * that turns readable as routes come and go; net_route_watch_default
 * reads it and says whether a default route has been seen, the sign that
 * the tool has configured the interface. */
int net_route_watch_open(void);
bool net_route_watch_default(int fd);
/* Makes the tool leave, without waiting: slirp4netns takes ~35 ms to go
 * (the kernel retires its tap device), and every caller is about to exit,
 * which gives it to init to reap. */
void net_outbound_stop(net_outbound *o);

#endif
