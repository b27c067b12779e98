/* The forwarder: host connections spliced to sockets in the container's
 * network namespace, in one epoll loop, no thread per connection.
 *
 * TCP: each direction of a connection moves bytes source -> pipe ->
 * destination with splice(2), so they are never copied into this
 * process. A direction holds a pipe only while bytes wait in it (a
 * destination that stops reading): pipes come from a small pool, so a
 * thousand idle connections hold no pipe at all, and a stalled one holds
 * at most one pipe's worth. End of file becomes shutdown(SHUT_WR) on the
 * other side (half-close); a reset or error on either side resets both.
 *
 * UDP: a datagram relay; each client address gets a session socket in
 * the container, dropped after a minute without traffic (as conntrack's
 * UDP timeout; tests shorten it). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "net.h"

#include "../common/banned.h"

#define PIPE_SIZE	(1 << 20)
#define POOL_MAX	16
#define ACCEPT_BURST	64
#define MOVE_ROUNDS	16
#define SESSION_IDLE_MS 60000
#define SESSIONS_MAX	1024

enum kind { K_LISTENER = 1, K_CONN, K_SESSION, K_TIMER };

typedef struct pipe_pair {
	int r, w;
} pipe_pair;

/* The bytes from one side of a connection to the other. */
typedef struct half {
	pipe_pair pipe; /* -1: none held */
	size_t queued;	/* in the pipe */
	bool eof;	/* the source has said end of file */
	bool done;	/* passed on: the destination was shut for writing */
} half;

struct conn;
typedef struct endpoint {
	uint8_t kind;
	struct conn *c;
	int side; /* 0: the host's client, 1: the container's server */
} endpoint;

typedef struct conn {
	endpoint ep[2];
	int fd[2];
	half h[2]; /* h[0]: host -> container; h[1]: container -> host */
	uint32_t events[2];
	bool connecting, dead;
	bool hup[2]; /* taken out of the epoll set: see on_conn */
	struct conn *prev, *next;
} conn;

struct listener;
typedef struct session {
	uint8_t kind;
	int fd;
	struct listener *l;
	struct sockaddr_storage client;
	socklen_t client_len;
	uint64_t used; /* ms, monotonic */
	struct session *next;
} session;

typedef struct listener {
	uint8_t kind;
	int fd;
	uint16_t ctr_port;
	bool udp, paused;
	session *sessions;
	size_t n_sessions;
	struct net_forwarder *f;
} listener;

struct net_forwarder {
	int epfd, helper;
	unsigned session_idle_ms;
	struct {
		uint8_t kind;
		int fd;
		bool armed;
	} timer;
	listener *listeners;
	size_t n_listeners;
	conn *conns;
	/* Freed after the batch of events, which may still name them. */
	conn *dead_conns;
	session *dead_sessions;
	pipe_pair pool[POOL_MAX];
	size_t n_pool;
};

static void watch(net_forwarder *f, int op, int fd, uint32_t events, void *tag)
{
	struct epoll_event ev = { .events = events, .data.ptr = tag };
	epoll_ctl(f->epfd, op, fd, &ev);
}

/* ---- pipes ---- */

static bool take_pipe(net_forwarder *f, half *h)
{
	int p[2];

	if (h->pipe.r >= 0)
		return true;
	if (f->n_pool > 0) {
		h->pipe = f->pool[--f->n_pool];
		return true;
	}
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return false;
	/* Fewer, larger moves; refused past the user's pipe quota, when the
	 * default size still works. */
	fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE);
	h->pipe = (pipe_pair){ p[0], p[1] };
	return true;
}

static void give_pipe(net_forwarder *f, half *h)
{
	if (h->pipe.r < 0)
		return;
	if (h->queued == 0 && f->n_pool < POOL_MAX) {
		f->pool[f->n_pool++] = h->pipe;
	} else {
		close(h->pipe.r);
		close(h->pipe.w);
	}
	h->pipe = (pipe_pair){ -1, -1 };
}

/* ---- TCP connections ---- */

static void resume_listeners(net_forwarder *f)
{
	for (size_t i = 0; i < f->n_listeners; i++) {
		listener *l = &f->listeners[i];
		if (l->paused) {
			l->paused = false;
			watch(f, EPOLL_CTL_MOD, l->fd, EPOLLIN, l);
		}
	}
}

static void conn_free(net_forwarder *f, conn *c, bool reset)
{
	for (int s = 0; s < 2; s++) {
		if (reset) {
			/* Close with RST: the other side learns what this one did. */
			struct linger lg = { 1, 0 };
			setsockopt(c->fd[s], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		/* Out of the set first: close() takes it out only with the last
		 * reference to the socket, and the helper that made it may not
		 * have dropped its own yet (its event would name a freed conn). */
		if (!c->hup[s])
			watch(f, EPOLL_CTL_DEL, c->fd[s], 0, NULL);
		close(c->fd[s]);
		give_pipe(f, &c->h[s]); /* closed if bytes are left in it */
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		f->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->dead = true;
	c->next = f->dead_conns;
	f->dead_conns = c;
	resume_listeners(f);
}

static void bury(net_forwarder *f)
{
	while (f->dead_conns) {
		conn *c = f->dead_conns;
		f->dead_conns = c->next;
		free(c);
	}
	while (f->dead_sessions) {
		session *s = f->dead_sessions;
		f->dead_sessions = s->next;
		free(s);
	}
}

/* Moves what can be moved from side d to the other. false: the
 * connection is broken (reset, or an error on either side). */
static bool move(net_forwarder *f, conn *c, int d)
{
	half *h = &c->h[d];
	int src = c->fd[d], dst = c->fd[1 - d];

	for (int round = 0; round < MOVE_ROUNDS; round++) {
		ssize_t n;
		if (h->queued == 0) {
			if (h->eof)
				break;
			if (!take_pipe(f, h))
				return false;
			n = splice(src, NULL, h->pipe.w, NULL, PIPE_SIZE,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n == 0) {
				h->eof = true;
				break;
			}
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				return false;
			}
			h->queued = (size_t)n;
		}
		n = splice(h->pipe.r, NULL, dst, NULL, h->queued,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return false;
		}
		h->queued -= (size_t)n;
		if (h->queued > 0)
			break; /* the destination is full: wait until it is not */
	}
	if (h->queued == 0)
		give_pipe(f, h);
	if (h->eof && h->queued == 0 && !h->done) {
		shutdown(dst, SHUT_WR);
		h->done = true;
	}
	return true;
}

static void update_interest(net_forwarder *f, conn *c)
{
	for (int s = 0; s < 2; s++) {
		uint32_t want = 0;
		if (c->connecting) {
			want = s == 1 ? EPOLLOUT : 0;
		} else {
			if (!c->h[s].eof && c->h[s].queued == 0)
				want |= EPOLLIN;
			/* A hung-up source is out of the set: its reader's
			 * room drives what it still holds. */
			if (c->h[1 - s].queued > 0 || (c->hup[1 - s] && !c->h[1 - s].done))
				want |= EPOLLOUT;
		}
		if (!c->hup[s] && want != c->events[s]) {
			c->events[s] = want;
			watch(f, EPOLL_CTL_MOD, c->fd[s], want, &c->ep[s]);
		}
	}
}

static void on_conn(net_forwarder *f, endpoint *ep, uint32_t ev)
{
	conn *c = ep->c;
	int s = ep->side, e = 0;
	socklen_t len = sizeof(e);
	bool ok = true;

	if (c->connecting && s == 0) {
		conn_free(f, c, true); /* the client gave up first */
		return;
	}
	if (c->connecting) {
		/* The container's server answered, or refused: then the
		 * client's connection is refused too. */
		if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &e, &len) < 0 || e != 0) {
			conn_free(f, c, true);
			return;
		}
		c->connecting = false;
		ev = EPOLLIN | EPOLLOUT;
		s = 0;
		ok = move(f, c, 0) && move(f, c, 1);
	} else if (ev & EPOLLERR) {
		ok = false; /* reset: what it still held is gone with it */
	} else {
		/* Hung up: the peer is done sending and this side has been shut
		 * for writing (the other direction is done). What it holds is
		 * still to be read, as fast as the other side takes it: reads
		 * return data or end of file from now on, so the other side's
		 * EPOLLOUT drives the rest. Out of the set, it cannot spin. */
		if ((ev & EPOLLHUP) && !c->hup[s]) {
			c->hup[s] = true;
			watch(f, EPOLL_CTL_DEL, c->fd[s], 0, NULL);
		}
		if (ev & (EPOLLIN | EPOLLHUP))
			ok = move(f, c, s);
		if (ok && (ev & EPOLLOUT))
			ok = move(f, c, 1 - s);
	}
	if (ok && c->h[0].done && c->h[1].done) {
		conn_free(f, c, false);
		return;
	}
	if (!ok) {
		conn_free(f, c, true);
		return;
	}
	update_interest(f, c);
}

static void nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static struct sockaddr_in container_loopback(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* A client came: a socket in the container, connected to the port. */
static void start_conn(net_forwarder *f, listener *l, int client)
{
	struct sockaddr_in a = container_loopback(l->ctr_port);
	int server = net_helper_socket(f->helper, false);
	conn *c;

	if (server < 0) {
		close(client);
		return;
	}
	nodelay(client);
	nodelay(server);
	if (connect(server, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
		struct linger lg = { 1, 0 };
		setsockopt(client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(client);
		close(server);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd[0] = client;
	c->fd[1] = server;
	c->connecting = true;
	for (int s = 0; s < 2; s++) {
		c->ep[s] = (endpoint){ K_CONN, c, s };
		c->h[s].pipe = (pipe_pair){ -1, -1 };
	}
	c->events[1] = EPOLLOUT;
	watch(f, EPOLL_CTL_ADD, client, 0, &c->ep[0]);
	watch(f, EPOLL_CTL_ADD, server, EPOLLOUT, &c->ep[1]);
	c->next = f->conns;
	if (f->conns)
		f->conns->prev = c;
	f->conns = c;
}

static void on_accept(net_forwarder *f, listener *l)
{
	for (int i = 0; i < ACCEPT_BURST; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			start_conn(f, l, fd);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Out of fds: the clients wait in the backlog until a
			 * connection closes. */
			l->paused = true;
			watch(f, EPOLL_CTL_MOD, l->fd, 0, l);
		}
		if (errno != EINTR && errno != ECONNABORTED)
			return;
	}
}

/* ---- UDP ---- */

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Sessions are looked at every half idle time: one lives between one and
 * one and a half idle times after its last datagram. */
static void arm_timer(net_forwarder *f)
{
	unsigned every_ms = f->session_idle_ms / 2;
	struct timespec every = { every_ms / 1000, (long)(every_ms % 1000) * 1000000 };
	struct itimerspec t = { every, every };

	if (!f->timer.armed && timerfd_settime(f->timer.fd, 0, &t, NULL) == 0)
		f->timer.armed = true;
}

static void session_free(listener *l, session **link)
{
	session *s = *link;

	*link = s->next;
	watch(l->f, EPOLL_CTL_DEL, s->fd, 0, NULL); /* as conn_free */
	close(s->fd);
	s->fd = -1;
	s->next = l->f->dead_sessions;
	l->f->dead_sessions = s;
	l->n_sessions--;
}

static session *session_for(net_forwarder *f, listener *l, const struct sockaddr_storage *from,
			    socklen_t len)
{
	struct sockaddr_in a = container_loopback(l->ctr_port);
	session *s, **oldest = NULL;

	for (session **p = &l->sessions; *p; p = &(*p)->next) {
		if ((*p)->client_len == len && memcmp(&(*p)->client, from, len) == 0)
			return *p;
		if (oldest == NULL || (*p)->used < (*oldest)->used)
			oldest = p;
	}
	if (l->n_sessions >= SESSIONS_MAX && oldest)
		session_free(l, oldest);
	s = xcalloc(1, sizeof(*s));
	s->kind = K_SESSION;
	s->l = l;
	s->fd = net_helper_socket(f->helper, true);
	if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (s->fd >= 0)
			close(s->fd);
		free(s);
		return NULL;
	}
	memcpy(&s->client, from, len);
	s->client_len = len;
	s->next = l->sessions;
	l->sessions = s;
	l->n_sessions++;
	watch(f, EPOLL_CTL_ADD, s->fd, EPOLLIN, s);
	arm_timer(f);
	return s;
}

static void on_datagram(net_forwarder *f, listener *l)
{
	char buf[65536];

	for (int i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_storage from;
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(l->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
		session *s;
		if (n < 0)
			return;
		s = session_for(f, l, &from, len);
		if (s == NULL)
			continue;
		s->used = now_ms();
		send(s->fd, buf, (size_t)n, MSG_DONTWAIT);
	}
}

static void on_reply(session *s)
{
	char buf[65536];

	for (int i = 0; i < ACCEPT_BURST; i++) {
		ssize_t n = recv(s->fd, buf, sizeof(buf), 0);
		if (n < 0)
			return;
		s->used = now_ms();
		sendto(s->l->fd, buf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&s->client,
		       s->client_len);
	}
}

static void expire_sessions(net_forwarder *f)
{
	uint64_t now = now_ms(), ticks;
	bool any = false;

	if (read(f->timer.fd, &ticks, sizeof(ticks)) < 0)
		return;
	for (size_t i = 0; i < f->n_listeners; i++) {
		listener *l = &f->listeners[i];
		session **p = &l->sessions;
		while (*p) {
			if (now - (*p)->used >= f->session_idle_ms) {
				session_free(l, p);
				continue;
			}
			any = true;
			p = &(*p)->next;
		}
	}
	if (!any) {
		struct itimerspec off = { { 0, 0 }, { 0, 0 } };
		timerfd_settime(f->timer.fd, 0, &off, NULL);
		f->timer.armed = false;
	}
}

/* ---- the loop ---- */

/* Each connection takes two fds: as many as the hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

net_forwarder *net_forwarder_new(const net_listener *l, size_t n, int helper_sock)
{
	net_forwarder *f = xcalloc(1, sizeof(*f));

	raise_fd_limit();
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	f->helper = helper_sock;
	f->session_idle_ms = SESSION_IDLE_MS;
	f->timer.kind = K_TIMER;
	f->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	watch(f, EPOLL_CTL_ADD, f->timer.fd, EPOLLIN, &f->timer);
	f->listeners = xcalloc(n ? n : 1, sizeof(*f->listeners));
	f->n_listeners = n;
	for (size_t i = 0; i < n; i++) {
		listener *ls = &f->listeners[i];
		*ls = (listener){ .kind = K_LISTENER,
				  .fd = l[i].fd,
				  .ctr_port = l[i].port.ctr_port,
				  .udp = l[i].port.udp,
				  .f = f };
		watch(f, EPOLL_CTL_ADD, ls->fd, EPOLLIN, ls);
	}
	return f;
}

void net_forwarder_set_session_idle(net_forwarder *f, unsigned ms)
{
	f->session_idle_ms = ms < 2 ? 2 : ms;
}

int net_forwarder_fd(const net_forwarder *f)
{
	return f ? f->epfd : -1;
}

void net_forwarder_dispatch(net_forwarder *f)
{
	struct epoll_event ev[64];
	int n = epoll_wait(f->epfd, ev, 64, 0);

	for (int i = 0; i < n; i++) {
		uint8_t kind = *(uint8_t *)ev[i].data.ptr;
		if (kind == K_LISTENER) {
			listener *l = ev[i].data.ptr;
			if (l->udp)
				on_datagram(f, l);
			else
				on_accept(f, l);
		} else if (kind == K_CONN) {
			endpoint *ep = ev[i].data.ptr;
			if (!ep->c->dead)
				on_conn(f, ep, ev[i].events);
		} else if (kind == K_SESSION) {
			session *s = ev[i].data.ptr;
			if (s->fd >= 0)
				on_reply(s);
		} else if (kind == K_TIMER) {
			expire_sessions(f);
		}
	}
	bury(f);
}

void net_forwarder_free(net_forwarder *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n_listeners; i++) {
		listener *l = &f->listeners[i];
		close(l->fd);
		while (l->sessions)
			session_free(l, &l->sessions);
	}
	while (f->conns)
		conn_free(f, f->conns, true);
	for (size_t i = 0; i < f->n_pool; i++) {
		close(f->pool[i].r);
		close(f->pool[i].w);
	}
	bury(f);
	close(f->timer.fd);
	close(f->epfd);
	free(f->listeners);
	free(f);
}
