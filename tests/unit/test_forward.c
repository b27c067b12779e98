/* The forwarder's UDP relay: a session per client, kept while datagrams
 * flow and dropped once idle. The helper is the real one, in this
 * process's own network namespace (which takes root), and the
 * container's server is an echo socket on this loopback. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../net/net.h"

#define IDLE_MS 200

typedef struct relay {
	net_helper helper;
	net_forwarder *f;
	int echo;		  /* the container's server */
	uint16_t echo_from;	  /* the port its last datagram came from */
	struct sockaddr_in entry; /* the host port */
} relay;

static int bound_udp(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	*a = (struct sockaddr_in){ .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)a, sizeof(*a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)a, &len), 0);
	return fd;
}

static int setup(void **state)
{
	relay *r = calloc(1, sizeof(*r));
	struct sockaddr_in server;
	net_listener l = { 0 };
	vce_err err = NULL;
	int netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

	assert_true(netns >= 0);
	assert_int_equal(net_helper_start(netns, -1, &r->helper, &err), 0);
	close(netns);
	r->echo = bound_udp(&server);
	l.fd = bound_udp(&r->entry);
	l.port = (net_publish){ .host_ip = "127.0.0.1",
				.host_port = ntohs(r->entry.sin_port),
				.ctr_port = ntohs(server.sin_port),
				.udp = true };
	r->f = net_forwarder_new(&l, 1, r->helper.sock);
	net_forwarder_set_session_idle(r->f, IDLE_MS);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	relay *r = *state;

	if (r == NULL)
		return 0;
	net_forwarder_free(r->f);
	net_helper_stop(&r->helper);
	close(r->echo);
	free(r);
	return 0;
}

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Runs the forwarder and the echo server for ms milliseconds, or until
 * client (if not -1) has its answer. Returns whether it has. */
static bool run_for(relay *r, int client, int ms)
{
	long long end = now_ms() + ms;

	for (long long left = ms; left > 0; left = end - now_ms()) {
		struct pollfd p[3] = { { net_forwarder_fd(r->f), POLLIN, 0 },
				       { r->echo, POLLIN, 0 },
				       { client, POLLIN, 0 } };
		char buf[64];
		struct sockaddr_in from;
		socklen_t len = sizeof(from);
		ssize_t n;

		poll(p, 3, (int)left);
		if (p[0].revents)
			net_forwarder_dispatch(r->f);
		if (p[1].revents) {
			n = recvfrom(r->echo, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
			if (n > 0) {
				r->echo_from = ntohs(from.sin_port);
				sendto(r->echo, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
			}
		}
		if (client >= 0 && p[2].revents)
			return recv(client, buf, sizeof(buf), 0) > 0;
	}
	return false;
}

static int client_of(relay *r)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&r->entry, sizeof(r->entry)), 0);
	return fd;
}

/* Sends a datagram through the relay and returns the port it reached
 * the server from: the client's session. */
static uint16_t session_of(relay *r, int client)
{
	assert_int_equal(send(client, "ping", 4, 0), 4);
	assert_true(run_for(r, client, 2000));
	return r->echo_from;
}

static size_t open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	size_t n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void test_session_per_client(void **state)
{
	relay *r = *state;
	int a = client_of(r), b = client_of(r);
	uint16_t first = session_of(r, a);

	assert_int_equal(session_of(r, a), first);
	assert_int_not_equal(session_of(r, b), first);
	close(a);
	close(b);
}

static void test_idle_session_dropped(void **state)
{
	relay *r = *state;
	int a = client_of(r), b = client_of(r);
	size_t before = open_fds();
	uint16_t kept;

	session_of(r, b);
	kept = session_of(r, a);
	assert_int_equal(open_fds(), before + 2);
	/* a keeps talking for four idle times, b is silent: b's session goes,
	 * a's stays the same. */
	for (int i = 0; i < 8; i++) {
		run_for(r, -1, IDLE_MS / 2);
		assert_int_equal(session_of(r, a), kept);
	}
	assert_int_equal(open_fds(), before + 1);
	/* Silent too: gone within one and a half idle times. */
	run_for(r, -1, IDLE_MS * 3 / 2 + 50);
	assert_int_equal(open_fds(), before);
	/* and it comes back on the next datagram. */
	session_of(r, a);
	assert_int_equal(open_fds(), before + 1);
	close(a);
	close(b);
}

int main(void)
{
	/* The helper enters a network namespace: this one will do, as root. */
	if (geteuid() != 0) {
		printf("1..0 # SKIP test_forward: needs root\n");
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_session_per_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_session_dropped, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
