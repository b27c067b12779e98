/* The helper: a process in the container's network namespace whose only
 * work is socket(2). A socket belongs for life to the namespace it was
 * made in, so the forwarder, on the host, connects and splices sockets
 * the helper made and passed over with SCM_RIGHTS. Rootless, the
 * supervisor cannot enter that namespace itself (it has no privilege in
 * its own user namespace), the helper can: it joins the container's user
 * namespace first, as its owner. It keeps no capability once in.
 *
 *   forwarder -> helper   't' (TCP) or 'u' (UDP)
 *   helper -> forwarder   "S" with the socket, or "E<errno>" */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net.h"
#include "internal.h"

#include "../common/banned.h"

static void send_errno(int sock, int e)
{
	char msg[16];
	int n = snprintf(msg, sizeof(msg), "E%d", e);
	send(sock, msg, (size_t)n, MSG_NOSIGNAL);
}

static void die_with(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(0);
}

static void __attribute__((noreturn))
helper_main(int sock, int netns_fd, int userns_fd, pid_t parent)
{
	cap_t none = cap_init();
	char req;

	die_with(parent);
	if ((userns_fd >= 0 && setns(userns_fd, CLONE_NEWUSER) < 0) ||
	    setns(netns_fd, CLONE_NEWNET) < 0) {
		send_errno(sock, errno);
		_exit(1);
	}
	/* Joining a user namespace changed the credentials, which clears the
	 * parent-death signal. */
	die_with(parent);
	if (none == NULL || cap_set_proc(none) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		send_errno(sock, errno);
		_exit(1);
	}
	cap_free(none);
	send(sock, "R", 1, MSG_NOSIGNAL);
	while (recv(sock, &req, 1, 0) == 1) {
		int type = req == 'u' ? SOCK_DGRAM : SOCK_STREAM;
		int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			send_errno(sock, errno);
			continue;
		}
		vce_send_fd(sock, 'S', fd);
		close(fd);
	}
	_exit(0);
}

int net_helper_start(int netns_fd, int userns_fd, net_helper *out, vce_err *err)
{
	int sv[2];
	pid_t parent = getpid();
	char reply[16];
	ssize_t n;

	out->pid = -1;
	out->sock = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return vce_error_make(err, errno, "socketpair");
	out->pid = fork();
	if (out->pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return vce_error_make(err, errno, "fork the network helper");
	}
	if (out->pid == 0) {
		/* Of the parent's fds only these three, as 3, 4 and 5 (by way
		 * of high numbers: one of them may be 3 already). */
		int s = fcntl(sv[1], F_DUPFD, 10), ns = fcntl(netns_fd, F_DUPFD, 10);
		int us = userns_fd >= 0 ? fcntl(userns_fd, F_DUPFD, 10) : -1;
		if (s < 0 || ns < 0 || dup2(s, 3) < 0 || dup2(ns, 4) < 0 ||
		    (us >= 0 && dup2(us, 5) < 0))
			_exit(1);
		syscall(SYS_close_range, userns_fd >= 0 ? 6 : 5, ~0U, 0);
		helper_main(3, 4, userns_fd >= 0 ? 5 : -1, parent);
	}
	close(sv[1]);
	out->sock = sv[0];
	do
		n = recv(out->sock, reply, sizeof(reply) - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n == 1 && reply[0] == 'R')
		return 0;
	reply[n > 0 ? n : 0] = '\0';
	int e = reply[0] == 'E' ? (int)strtol(reply + 1, NULL, 10) : 0;
	net_helper_stop(out);
	return vce_error_make(err, e, "enter the container's network namespace");
}

void net_helper_stop(net_helper *h)
{
	if (h->sock >= 0)
		close(h->sock);
	if (h->pid > 0) {
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
	}
	h->sock = h->pid = -1;
}

int net_helper_socket(int sock, bool udp)
{
	char tag[16] = "", cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = tag, .iov_len = sizeof(tag) - 1 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;
	int fd = -1;

	if (send(sock, udp ? "u" : "t", 1, MSG_NOSIGNAL) != 1)
		return -1;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	c = CMSG_FIRSTHDR(&msg);
	if (n == 1 && tag[0] == 'S' && c && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}
