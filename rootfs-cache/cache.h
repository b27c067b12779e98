/* rootfs-cache: every layer unpacked once, in overlay format, keyed by its
 * diffID, shared by every image that has it.
 *
 *   rootfs-cache/<hex>/rootfs/     the layer: an overlayfs lowerdir
 *   rootfs-cache/<hex>/info.json   what the unpack found (bytes, entries)
 *   rootfs-cache/.lock-<hex>       flock: held exclusively while unpacking,
 *                                  shared while a load is committing it
 *   rootfs-cache/.tmp-<hex>-<rand> an unpack under way (or interrupted)
 *
 * A layer directory appears under its final name only by rename, once it
 * is complete and its diffID verified: a kill at any moment leaves no
 * layer that looks complete, and the leftovers are swept on the next open.
 * The pipeline per layer: a reader thread (read, decompress), a hasher
 * thread (the diffID), and the writer (libarchive's tar reader, our own
 * dirfd-relative writer), so decompression, hashing and writing overlap. */
#ifndef VCE_CACHE_H
#define VCE_CACHE_H

#include "../common/common.h"

typedef enum {
	CACHE_PLAIN,
	CACHE_GZIP,
	CACHE_ZSTD,
} cache_compression;

typedef struct cache cache;

typedef struct cache_layer {
	const char *diff_id; /* sha256 of the uncompressed tar: the key */
	int fd;		     /* the layer blob, read from its start */
	cache_compression compression;
	/* The blob is the uncompressed tar and its digest was verified
	 * against diff_id when stored: no need to hash it again. */
	bool diff_id_verified;
	/* length > 0: the blob is bytes [offset, offset + length) of fd, a
	 * member of an archive, read with pread. */
	int64_t offset, length;
	/* Set: every byte of the blob is also written to tee_fd as it is
	 * read (the store's copy, made by the same pass), and the blob must
	 * hash to tee_digest. The unpack fails otherwise. */
	const char *tee_digest;
	int tee_fd;
} cache_layer;

/* Locks that keep freshly unpacked layers from a concurrent garbage
 * collection until the image that uses them is recorded. */
typedef struct cache_hold cache_hold;

/* Opens (creating) <store_root>/rootfs-cache and sweeps leftovers. */
int cache_open(const char *store_root, cache **out, vce_err *err);
void cache_close(cache *c);
const char *cache_path(const cache *c);

/* Unpacks the layers of one image (bottom first) that are not cached,
 * in parallel bounded by the cores. On success *hold keeps them safe
 * until cache_release(). On failure, layers this call unpacked are
 * removed again. Rootless, the unpack runs in a user namespace: with a
 * subordinate id range owners are kept, without one they are the user. */
int cache_unpack_image(cache *c, const cache_layer *layers, size_t n, cache_hold **hold,
		       vce_err *err);
/* Lets go of the hold; with `discard`, also removes the layers the
 * unpack created (the caller could not record the image). */
void cache_release(cache *c, cache_hold *hold, bool discard);

/* Layers unpacked from now on (and looked up) with owners mapped by map:
 * a container whose user namespace maps the student's uid/gid to the
 * host user needs its layers' owners shifted the same way. They are kept
 * apart as "<hex>-u<uid>-g<gid>". NULL: the default owners again. */
void cache_set_owners(cache *c, const vce_idmap *map, unsigned long uid, unsigned long gid);

bool cache_has_layer(cache *c, const char *diff_id);
/* ".../rootfs-cache/<hex>/rootfs", allocated. */
char *cache_layer_path(const cache *c, const char *diff_id);
/* Bytes the layer's files hold, from info.json; -1 if not cached. */
int64_t cache_layer_bytes(cache *c, const char *diff_id);

/* Removes every cached layer whose diffID is not in keep (and that no
 * load holds). Call with the store lock held. */
int cache_collect_garbage(cache *c, char *const *keep, size_t n_keep, vce_err *err);

/* ---- the unpacker of one layer, for tests and the fuzzer ---- */

typedef struct cache_unpack_opts {
	bool keep_owners; /* chown to the archive's ids (root, or a mapped range) */
	bool rootless;	  /* user.overlay.* xattrs; device nodes skipped */
	/* As root: the image's ids become these host ids (NULL: as they are). */
	const vce_idmap *translate;
	/* The roots of the layers below, top first, for a hardlink to a file
	 * of a lower layer; asked for only when one comes (it may wait for
	 * those layers to finish unpacking). NULL: there are none. */
	int (*lower_layers)(void *ctx, const int **fds, size_t *n, vce_err *err);
	void *lower_ctx;
} cache_unpack_opts;

typedef ssize_t (*cache_read_fn)(void *ctx, const void **buf, vce_err *err);

/* Reads an uncompressed tar through `read` and writes it below root_fd. */
int cache_unpack_tar(int root_fd, cache_read_fn read, void *ctx, const cache_unpack_opts *opts,
		     int64_t *bytes_out, int64_t *entries_out, vce_err *err);

#endif
