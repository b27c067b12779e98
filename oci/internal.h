/* Helpers shared by the files of oci/ and by nothing outside it. */
#ifndef VCE_OCI_INTERNAL_H
#define VCE_OCI_INTERNAL_H

#include <archive.h>

#include "oci.h"

/* An oci_read_fn over the current entry of a libarchive reader (ctx). */
ssize_t oci_read_archive_data(void *ctx, void *buf, size_t len, vce_err *err);

/* An archive member's name made canonical: "./a//b/" -> "a/b", "."
 * dropped, ".." resolved lexically; NULL if it climbs above the top. */
char *oci_normalize_path(const char *path);

#endif
