/* `vce logs`: the records the supervisor wrote (log.1, then log), as the
 * container printed them, stdout to stdout and stderr to stderr. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container.h"

#include "../common/json.h"

#include "../common/banned.h"

typedef struct record {
	const char *time, *text;
	size_t time_len, text_len;
	bool stderr_stream, whole; /* whole: the end of a line */
} record;

/* "<time> <stdout|stderr> <F|P> <text>" */
static bool parse_record(const char *line, size_t len, record *r)
{
	const char *sp1 = memchr(line, ' ', len), *sp2, *end = line + len;

	if (sp1 == NULL || (sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1))) == NULL ||
	    sp2 + 3 > end)
		return false;
	r->time = line;
	r->time_len = (size_t)(sp1 - line);
	r->stderr_stream = strncmp(sp1 + 1, "stderr", 6) == 0;
	r->whole = sp2[1] == 'F';
	r->text = sp2 + 3;
	r->text_len = (size_t)(end - r->text);
	return true;
}

typedef struct printer {
	bool timestamps, at_line_start;
} printer;

static void print_record(printer *p, const record *r)
{
	FILE *out = r->stderr_stream ? stderr : stdout;

	if (p->timestamps && p->at_line_start)
		fprintf(out, "%.*s ", (int)r->time_len, r->time);
	fwrite(r->text, 1, r->text_len, out);
	if (r->whole)
		fputc('\n', out);
	p->at_line_start = r->whole;
}

/* Prints the whole records in buf[0..len); returns how much was used. */
static size_t print_records(printer *p, const char *buf, size_t len, size_t skip_lines)
{
	size_t used = 0;

	while (used < len) {
		const char *nl = memchr(buf + used, '\n', len - used);
		record r;
		if (nl == NULL)
			break;
		if (parse_record(buf + used, (size_t)(nl - buf - used), &r)) {
			if (skip_lines == 0)
				print_record(p, &r);
			else if (r.whole)
				skip_lines--;
		}
		used = (size_t)(nl - buf) + 1;
	}
	fflush(stdout);
	fflush(stderr);
	return used;
}

static size_t count_lines(const char *buf, size_t len)
{
	size_t n = 0, used = 0;

	while (used < len) {
		const char *nl = memchr(buf + used, '\n', len - used);
		record r;
		if (nl == NULL)
			break;
		if (parse_record(buf + used, (size_t)(nl - buf) - used, &r) && r.whole)
			n++;
		used = (size_t)(nl - buf) + 1;
	}
	return n;
}

static void read_all(int dir_fd, const char *name, char **buf, size_t *len)
{
	cleanup_err vce_err err = NULL;
	cleanup_free char *text = NULL;
	size_t n;

	if (vce_read_file_at(dir_fd, name, (size_t)1 << 34, &text, &n, &err) < 0)
		return;
	*buf = xrealloc(*buf, *len + n + 1);
	memcpy(*buf + *len, text, n);
	*len += n;
}

/* Follows "log" from offset until the supervisor is gone. */
static void follow(printer *p, int dir_fd, int supervisor, off_t offset)
{
	int fd = openat(dir_fd, "log", O_RDONLY | O_CLOEXEC);
	char *pending = NULL;
	size_t n_pending = 0;
	bool last_round = false;

	for (;;) {
		char buf[65536];
		ssize_t n;
		struct stat a, b;
		while (fd >= 0 && (n = pread(fd, buf, sizeof(buf), offset)) > 0) {
			size_t used;
			offset += n;
			pending = xrealloc(pending, n_pending + (size_t)n);
			memcpy(pending + n_pending, buf, (size_t)n);
			n_pending += (size_t)n;
			used = print_records(p, pending, n_pending, 0);
			memmove(pending, pending + used, n_pending - used);
			n_pending -= used;
		}
		/* Rotated: go on with the new file from its start. */
		if (fd < 0 || (fstatat(dir_fd, "log", &b, 0) == 0 && fstat(fd, &a) == 0 &&
			       a.st_ino != b.st_ino)) {
			if (fd >= 0)
				close(fd);
			fd = openat(dir_fd, "log", O_RDONLY | O_CLOEXEC);
			offset = 0;
			continue;
		}
		if (last_round)
			break;
		struct pollfd pf = { supervisor, POLLIN, 0 };
		if (supervisor < 0 || poll(&pf, 1, 100) > 0)
			last_round = true;
	}
	if (fd >= 0)
		close(fd);
	free(pending);
}

static void say_why_log_stopped(int dir_fd)
{
	cleanup_free char *text = NULL;
	cleanup_err vce_err err = NULL;
	size_t len;

	if (vce_read_file_at(dir_fd, "log.status", 4096, &text, &len, &err) == 0 && len > 0) {
		text[strcspn(text, "\n")] = '\0';
		fprintf(stderr, "vce: %s (free some space; the container went on)\n", text);
	}
}

int rt_logs(oci_store *store, const char *ref, const rt_logs_options *opts, vce_err *err)
{
	rt_container c;
	cleanup_close int dir_fd = -1;
	cleanup_free char *buf = NULL;
	size_t len = 0, rotated_len, lines, skip = 0;
	int supervisor = -1;
	printer p = { opts->timestamps, true };

	if (rt_container_open(store, ref, &c, err) < 0)
		return -1;
	dir_fd = dup(c.dir_fd);
	if (opts->follow && strcmp(rt_state_status(c.state), "running") == 0) {
		json_int_t pid = json_integer_value(json_object_get(c.state, "supervisor_pid"));
		json_int_t start = json_integer_value(json_object_get(c.state, "supervisor_start"));
		supervisor = vce_pidfd_open((pid_t)pid, (unsigned long long)start);
	}
	/* A rotation between the two reads could show a piece twice; the
	 * follow below starts where the read of "log" ended. */
	read_all(c.dir_fd, "log.1", &buf, &len);
	rotated_len = len;
	read_all(c.dir_fd, "log", &buf, &len);
	rt_container_close(&c);
	if (dir_fd < 0)
		return vce_error_make(err, errno, "dup");
	lines = count_lines(buf ? buf : "", len);
	if (opts->tail >= 0 && (size_t)opts->tail < lines)
		skip = lines - (size_t)opts->tail;
	print_records(&p, buf ? buf : "", len, skip);
	if (opts->follow && supervisor >= 0) {
		follow(&p, dir_fd, supervisor, (off_t)(len - rotated_len));
		close(supervisor);
	}
	say_why_log_stopped(dir_fd);
	return 0;
}
