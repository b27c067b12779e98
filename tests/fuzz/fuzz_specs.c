/* libFuzzer: what `vce run` parses from its command line and files: -v,
 * --mount and --tmpfs specs, capability names, and seccomp profiles in
 * Docker's JSON format, sizes (--memory), signal names (kill -s) and
 * published ports (-p, and an image's ExposedPorts keys).
 * The first byte picks the parser. A mount spec
 * that parses must name an absolute container path with no ".." in it
 * and not "/" itself, and a bind mount an absolute host path. */
#include <stdint.h>
#include <string.h>

#include "../../runtime/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_mount(const rt_mount *m)
{
	const char *t = m->target;
	if (t == NULL || t[0] != '/' || strspn(t, "/") == strlen(t))
		__builtin_trap();
	for (const char *p = t; (p = strstr(p, "..")) != NULL; p += 2)
		if ((p == t || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
			__builtin_trap();
	if (m->kind == RT_MOUNT_BIND && (m->source == NULL || m->source[0] != '/'))
		__builtin_trap();
	if (m->kind == RT_MOUNT_TMPFS && m->options == NULL)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	vce_err err = NULL;
	rt_mount m;
	int ret = -1;

	if (size < 1)
		return 0;
	text = xstrndup((const char *)data + 1, size - 1);
	switch (data[0] % 9) {
	case 0:
		ret = rt_parse_volume(text, &m, &err);
		break;
	case 1:
		ret = rt_parse_mount(text, &m, &err);
		break;
	case 2:
		ret = rt_parse_tmpfs(text, &m, &err);
		break;
	case 3:
		rt_cap_from_name(text);
		break;
	case 4:
		rt_seccomp_check((const char *)data + 1, size - 1, &err);
		break;
	case 5: {
		int64_t bytes = -1;
		if (rt_parse_bytes(text, &bytes, &err) == 0 && bytes < 0)
			__builtin_trap();
		break;
	}
	case 6: {
		int sig = rt_signal_number(text);
		if (sig == 0 || sig > 64)
			__builtin_trap();
		break;
	}
	case 7: {
		net_publish *ports = NULL;
		size_t n = 0;
		/* What parses names container ports 1..65535, at most a
		 * range's worth, with an address inet_pton takes. */
		if (net_parse_publish(text, &ports, &n, &err) == 0) {
			if (n == 0 || n > 1024)
				__builtin_trap();
			for (size_t i = 0; i < n; i++)
				if (ports[i].ctr_port == 0 ||
				    memchr(ports[i].host_ip, '\0', sizeof(ports[i].host_ip)) ==
					NULL)
					__builtin_trap();
		}
		free(ports);
		break;
	}
	case 8: {
		net_publish p;
		if (net_parse_exposed(text, &p, &err) == 0 && p.ctr_port == 0)
			__builtin_trap();
		break;
	}
	}
	if (ret == 0) {
		check_mount(&m);
		rt_mount_free(&m);
	}
	vce_error_release(&err);
	free(text);
	return 0;
}
