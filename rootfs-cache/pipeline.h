/* Private to rootfs-cache/: one layer's decompress-hash-write pipeline. */
#ifndef VCE_CACHE_PIPELINE_H
#define VCE_CACHE_PIPELINE_H

#include "cache.h"

/* Unpacks the layer's blob below root_fd; unless diff_id_verified,
 * checks that the uncompressed stream hashes to diff_id. */
int cache_pipeline_unpack(int root_fd, const cache_layer *layer, const cache_unpack_opts *opts,
			  int64_t *bytes, int64_t *entries, vce_err *err);

#endif
