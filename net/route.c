/* Watching a network namespace for its default route, from inside it.
 * pasta and slirp4netns add the route once the container's interface is
 * configured, well before they are done starting (pasta then spends
 * ~25 ms filling its socket pools): from then on a packet the command
 * sends waits in the tap queue until the tool reads it, instead of
 * failing with "network unreachable". */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

#include "../common/banned.h"

int net_route_watch_open(void)
{
	struct sockaddr_nl local = { .nl_family = AF_NETLINK,
				     .nl_groups = RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE };
	struct {
		struct nlmsghdr h;
		struct rtmsg r;
	} dump = { .h = { .nlmsg_len = sizeof(dump),
			  .nlmsg_type = RTM_GETROUTE,
			  .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			  .nlmsg_seq = 1 },
		   .r = { .rtm_family = AF_UNSPEC } };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd < 0)
		return -1;
	/* Subscribed first, then the dump: a route added in between is in
	 * one or the other. */
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0 ||
	    send(fd, &dump, sizeof(dump), 0) != (ssize_t)sizeof(dump)) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool is_default_route(const struct nlmsghdr *h)
{
	const struct rtmsg *r = NLMSG_DATA(h);

	return h->nlmsg_type == RTM_NEWROUTE && h->nlmsg_len >= NLMSG_LENGTH(sizeof(*r)) &&
	       r->rtm_dst_len == 0 && r->rtm_type == RTN_UNICAST && r->rtm_table == RT_TABLE_MAIN;
}

bool net_route_watch_default(int fd)
{
	/* Aligned for the netlink headers it is read as. */
	char buf[8192] __attribute__((aligned(__alignof__(struct nlmsghdr))));
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0 || (n < 0 && errno == EINTR)) {
		int left = (int)(n > 0 ? n : 0);
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, left);
		     h = NLMSG_NEXT(h, left))
			if (is_default_route(h))
				return true;
	}
	return false;
}
