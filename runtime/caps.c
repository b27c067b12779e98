/* Capabilities (libcap): Docker's default set of 14 for a root process in
 * the container, everything else out of the bounding set, so a setuid
 * binary cannot win them back either. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "internal.h"

#include "../common/banned.h"

static const cap_value_t docker_defaults[] = {
	CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,	     CAP_FOWNER,
	CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,	     CAP_SETUID,
	CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
	CAP_KILL,    CAP_AUDIT_WRITE,
};

uint64_t rt_default_caps(void)
{
	uint64_t caps = 0;
	for (size_t i = 0; i < sizeof(docker_defaults) / sizeof(docker_defaults[0]); i++)
		caps |= UINT64_C(1) << docker_defaults[i];
	return caps;
}

int rt_cap_from_name(const char *name)
{
	cleanup_free char *full = NULL;
	cap_value_t v;

	if (strcasecmp(name, "ALL") == 0)
		return -2;
	full = strncasecmp(name, "CAP_", 4) == 0 ? xstrdup(name) : xasprintf("CAP_%s", name);
	for (char *p = full; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	if (cap_from_name(full, &v) < 0 || v < 0 || v > 63)
		return -1;
	return v;
}

/* Before the uid changes: what is not kept leaves the bounding set (a
 * setuid binary cannot win it back) and the ambient set is cleared. */
int rt_drop_bounding_caps(uint64_t keep, vce_err *err)
{
	int last = (int)cap_max_bits() - 1;

	for (int c = 0; c <= last && c < 64; c++) {
		if ((keep >> c & 1) == 0 && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return vce_error_make(err, errno, "drop capability %d", c);
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return 0;
}

/* After it: a root process keeps exactly `keep` as effective, permitted
 * and inheritable; any other uid has none, as setuid left it. */
int rt_set_root_caps(uint64_t keep, vce_err *err)
{
	int last = (int)cap_max_bits() - 1;
	cap_t caps = cap_init();
	int ret = 0;

	for (int c = 0; c <= last && c < 64; c++) {
		cap_value_t v = c;
		if ((keep >> c & 1) == 0)
			continue;
		cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET);
		cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET);
		cap_set_flag(caps, CAP_INHERITABLE, 1, &v, CAP_SET);
	}
	if (cap_set_proc(caps) < 0)
		ret = vce_error_make(err, errno, "set capabilities");
	cap_free(caps);
	return ret;
}
