/* -p as Docker reads it: [IP:][HOSTPORT:]CTRPORT[/PROTO], each port a
 * number or a range "LOW-HIGH"; an IPv6 address in brackets. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

#include "../common/banned.h"

#define MAX_RANGE 1024

typedef struct range {
	unsigned low, high; /* 0, 0: none given */
} range;

static int parse_number(const char *s, size_t len, unsigned *out)
{
	unsigned v = 0;

	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = v;
	return 0;
}

static int parse_range(const char *s, size_t len, range *out)
{
	const char *dash = memchr(s, '-', len);

	if (dash == NULL) {
		if (parse_number(s, len, &out->low) < 0)
			return -1;
		out->high = out->low;
		return 0;
	}
	if (parse_number(s, (size_t)(dash - s), &out->low) < 0 ||
	    parse_number(dash + 1, len - (size_t)(dash - s) - 1, &out->high) < 0 ||
	    out->high < out->low || out->low == 0)
		return -1;
	return 0;
}

static int bad(const char *spec, const char *why, vce_err *err)
{
	return vce_error_make(
	    err, 0, "invalid port \"%s\": %s (as -p [IP:][HOSTPORT:]PORT[/tcp|/udp])", spec, why);
}

/* Takes "/tcp" or "/udp" off the end. */
static int parse_proto(const char *spec, size_t *len, bool *udp, vce_err *err)
{
	const char *slash = strrchr(spec, '/');

	*udp = false;
	*len = strlen(spec);
	if (slash == NULL)
		return 0;
	*len = (size_t)(slash - spec);
	if (strcmp(slash + 1, "udp") == 0)
		*udp = true;
	else if (strcmp(slash + 1, "tcp") != 0)
		return bad(spec, "the protocol must be tcp or udp", err);
	return 0;
}

/* Splits "IP:HOST:CTR" from the right: the address may hold colons. */
static int parse_address(const char *spec, const char *s, size_t len, char *ip, vce_err *err)
{
	char buf[INET6_ADDRSTRLEN + 2];

	ip[0] = '\0';
	if (len == 0)
		return 0;
	if (len >= sizeof(buf))
		return bad(spec, "the address is not an IP address", err);
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[0] == '[' && buf[len - 1] == ']') {
		buf[len - 1] = '\0';
		memmove(buf, buf + 1, len - 1);
	}
	if (!net_is_address(buf))
		return bad(spec, "the address is not an IP address", err);
	memcpy(ip, buf, strlen(buf) + 1);
	return 0;
}

bool net_is_address(const char *ip)
{
	unsigned char addr[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, ip, addr) == 1 || inet_pton(AF_INET6, ip, addr) == 1;
}

int net_parse_publish(const char *spec, net_publish **ports, size_t *n, vce_err *err)
{
	size_t len;
	bool udp;
	const char *ctr, *host = NULL, *last, *before = NULL;
	char ip[INET6_ADDRSTRLEN];
	range h = { 0, 0 }, c;

	if (parse_proto(spec, &len, &udp, err) < 0)
		return -1;
	last = memrchr(spec, ':', len);
	if (last)
		before = memrchr(spec, ':', (size_t)(last - spec));
	ctr = last ? last + 1 : spec;
	if (parse_range(ctr, len - (size_t)(ctr - spec), &c) < 0 || c.low == 0)
		return bad(spec, "the container port must be a number from 1 to 65535", err);
	if (last) {
		host = before ? before + 1 : spec;
		if (last > host && (parse_range(host, (size_t)(last - host), &h) < 0))
			return bad(spec, "the host port must be a number from 0 to 65535", err);
	}
	if (parse_address(spec, spec, before ? (size_t)(before - spec) : 0, ip, err) < 0)
		return -1;
	if (h.high != h.low && h.high - h.low != c.high - c.low)
		return bad(spec, "the host and container port ranges differ in length", err);
	if (c.high - c.low >= MAX_RANGE)
		return bad(spec, "the range is too long", err);
	for (unsigned p = c.low; p <= c.high; p++) {
		net_publish *e;
		*ports = xrealloc(*ports, (*n + 1) * sizeof(**ports));
		e = &(*ports)[(*n)++];
		memset(e, 0, sizeof(*e));
		memcpy(e->host_ip, ip, sizeof(ip));
		e->ctr_port = (uint16_t)p;
		e->host_port = (uint16_t)(h.low ? h.low + (p - c.low) : 0);
		e->udp = udp;
	}
	return 0;
}

int net_parse_exposed(const char *key, net_publish *out, vce_err *err)
{
	net_publish *one = NULL;
	size_t n = 0;

	if (strchr(key, ':') || net_parse_publish(key, &one, &n, err) < 0 || n != 1) {
		free(one);
		if (*err == NULL)
			vce_error_make(err, 0, "the image exposes \"%s\", which is not a port",
				       key);
		return -1;
	}
	*out = one[0];
	free(one);
	return 0;
}
