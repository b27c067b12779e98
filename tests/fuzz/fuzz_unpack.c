/* libFuzzer: the layer writer, fed arbitrary tar bytes. Each input is
 * unpacked into a fresh directory inside a private parent; afterwards the
 * parent must hold nothing but that directory (no "..", absolute name or
 * symlink walk got out), and the writer must not crash or leak. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../rootfs-cache/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct once {
	const uint8_t *data;
	size_t size;
};

static ssize_t read_once(void *ctx, const void **buf, vce_err *err)
{
	struct once *o = ctx;
	size_t n = o->size;

	(void)err;
	*buf = o->data;
	o->size = 0;
	return (ssize_t)n;
}

static int parent_fd(void)
{
	static int fd = -1;
	static char path[] = "/tmp/vce-fuzz-unpack-XXXXXX";

	if (fd < 0) {
		if (mkdtemp(path) == NULL)
			abort();
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	return fd;
}

static void check_parent_holds_only_layer(int parent)
{
	DIR *dir = vce_opendir_at(parent);
	struct dirent *de;

	while ((de = readdir(dir)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "layer"))
			__builtin_trap();
	closedir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int parent = parent_fd();
	struct once input = { data, size };
	/* Rootless options: no device nodes made from fuzz input. */
	cache_unpack_opts opts = { .keep_owners = false, .rootless = true };
	int64_t bytes, entries;
	vce_err err = NULL;
	int root;

	umask(0);
	if (mkdirat(parent, "layer", 0700) < 0)
		abort();
	root = openat(parent, "layer", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cache_unpack_tar(root, read_once, &input, &opts, &bytes, &entries, &err);
	vce_error_release(&err);
	close(root);
	check_parent_holds_only_layer(parent);
	if (vce_remove_tree_at(parent, "layer", &err) < 0)
		abort();
	return 0;
}
