/* oci: image references, manifests and configs, the content store of
 * blobs by digest, and archive import/export (docker-archive, OCI archive,
 * OCI layout). Data flows one way: reference -> manifest -> layers. */
#ifndef VCE_OCI_H
#define VCE_OCI_H

#include <jansson.h>
#include <stdio.h>

#include "../common/common.h"

/* ---- media types ---- */
#define OCI_MT_MANIFEST	     "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_INDEX	     "application/vnd.oci.image.index.v1+json"
#define OCI_MT_CONFIG	     "application/vnd.oci.image.config.v1+json"
#define OCI_MT_LAYER	     "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_LAYER_GZIP    "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_LAYER_ZSTD    "application/vnd.oci.image.layer.v1.tar+zstd"
#define DOCKER_MT_MANIFEST   "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MT_LIST	     "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_CONFIG     "application/vnd.docker.container.image.v1+json"
#define DOCKER_MT_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* ---- references: [domain[:port]/]path[:tag][@digest] ---- */
typedef struct oci_ref {
	char *domain; /* "docker.io" when none is given */
	char *path;   /* "library/busybox" for "busybox" */
	char *tag;    /* "latest" when neither tag nor digest is given */
	char *digest; /* "sha256:..." or NULL */
} oci_ref;

int oci_ref_parse(const char *text, oci_ref *out, vce_err *err);
void oci_ref_free(oci_ref *ref);
/* "docker.io/library/busybox:latest" (tag and/or @digest). */
char *oci_ref_canonical(const oci_ref *ref);
/* The short form docker prints: "busybox:latest", "quay.io/x/y:1". */
char *oci_ref_familiar_repo(const oci_ref *ref);

/* ---- digests (the hasher itself is common's vce_hasher) ---- */
#define OCI_DIGEST_LEN VCE_DIGEST_LEN
bool oci_digest_valid(const char *digest);

/* ---- manifests, indexes and configs ---- */
typedef struct oci_descriptor {
	char *media_type;
	char *digest;
	int64_t size;
	char *platform_os, *platform_arch, *platform_variant; /* index entries */
	char *ref_name;	  /* annotation org.opencontainers.image.ref.name */
	char *image_name; /* annotation io.containerd.image.name */
} oci_descriptor;

typedef struct oci_manifest {
	char *media_type;
	oci_descriptor config;
	oci_descriptor *layers;
	size_t n_layers;
} oci_manifest;

typedef struct oci_index {
	oci_descriptor *manifests;
	size_t n_manifests;
} oci_index;

typedef struct oci_config {
	char *created, *architecture, *os, *variant;
	char **diff_ids;
	size_t n_diff_ids;
} oci_config;

typedef enum {
	OCI_LAYER_TAR,
	OCI_LAYER_GZIP,
	OCI_LAYER_ZSTD,
} oci_compression;

bool oci_is_manifest_type(const char *media_type);
bool oci_is_index_type(const char *media_type);
/* Classifies a layer media type; -1 with an error for an unknown one. */
int oci_layer_compression(const char *media_type, oci_compression *out, vce_err *err);
/* The compression a blob starts with, from its magic bytes. */
oci_compression oci_sniff_compression(const unsigned char *head, size_t len);

int oci_manifest_parse(const char *json, size_t len, oci_manifest *out, vce_err *err);
void oci_manifest_free(oci_manifest *m);
int oci_index_parse(const char *json, size_t len, oci_index *out, vce_err *err);
void oci_index_free(oci_index *idx);
int oci_config_parse(const char *json, size_t len, oci_config *out, vce_err *err);
void oci_config_free(oci_config *c);
void oci_descriptor_free(oci_descriptor *d);

/* The platform this binary runs on, in OCI terms ("amd64", "arm64", "arm"). */
const char *oci_host_arch(void);
const char *oci_host_variant(void);

typedef struct oci_platform {
	char os[32], arch[32], variant[32]; /* normalised: "linux", "arm64", "" */
} oci_platform;
/* "linux/arm64", "linux/arm/v7", "linux/amd64"; aliases (aarch64) too. */
int oci_platform_parse(const char *text, oci_platform *out, vce_err *err);
void oci_platform_host(oci_platform *out);
char *oci_platform_string(const char *os, const char *arch, const char *variant);
/* 0: an image for (os, arch, variant) does not run on `want`; else higher
 * is a better fit. */
int oci_platform_score(const oci_platform *want, const char *os, const char *arch,
		       const char *variant);

/* ---- the store ---- */
typedef struct oci_store oci_store;

/* The default root: $VCE_ROOT, /var/lib/vce as root, else
 * $XDG_DATA_HOME/vce or ~/.local/share/vce. Allocated. */
char *oci_store_default_root(void);
int oci_store_open(const char *root, oci_store **out, vce_err *err);
void oci_store_close(oci_store *store);
const char *oci_store_path(const oci_store *store);
int oci_store_dirfd(const oci_store *store);
/* The store's exclusive lock, held for every change to an index or to
 * the set of blobs. Blocks until another vce process lets go. */
int oci_store_lock(oci_store *store, vce_err *err);
void oci_store_unlock(oci_store *store);

/* The store's cache of unpacked layers, opened on first use. */
struct cache;
int oci_store_cache(oci_store *store, struct cache **out, vce_err *err);

bool oci_store_has_blob(oci_store *store, const char *digest);
int oci_store_open_blob(oci_store *store, const char *digest, vce_err *err);
int oci_store_read_blob(oci_store *store, const char *digest, size_t max, char **out, size_t *len,
			vce_err *err);
int64_t oci_store_blob_size(oci_store *store, const char *digest);

/* A staging area: a private temporary directory in the store where
 * incoming blobs are written (and hashed while written) before they are
 * committed. Freed without commit, it leaves the store as it was. */
typedef struct oci_stage oci_stage;
int oci_stage_new(oci_store *store, oci_stage **out, vce_err *err);
void oci_stage_free(oci_stage *stage);
typedef ssize_t (*oci_read_fn)(void *ctx, void *buf, size_t len, vce_err *err);
/* Copies a stream into the stage; digest_out gets its sha256 digest. */
int oci_stage_write(oci_stage *stage, oci_read_fn read, void *ctx, char *digest_out,
		    int64_t *size_out, vce_err *err);
int oci_stage_write_bytes(oci_stage *stage, const void *data, size_t len, char *digest_out,
			  vce_err *err);
/* A blob written by someone else (an unpack that stores the layer it
 * reads): oci_stage_create_tmp makes an empty file, named into tmpname;
 * oci_stage_adopt names it by digest (the writer checked the digest);
 * oci_stage_drop_tmp removes it. */
int oci_stage_create_tmp(oci_stage *stage, char tmpname[17], vce_err *err);
int oci_stage_adopt(oci_stage *stage, const char *tmpname, const char *digest, vce_err *err);
void oci_stage_drop_tmp(oci_stage *stage, const char *tmpname);
/* An fd on a staged blob, for reading. */
int oci_stage_open(oci_stage *stage, const char *digest, vce_err *err);
bool oci_stage_has(oci_stage *stage, const char *digest);
void oci_stage_discard(oci_stage *stage, const char *digest);
/* Moves a staged blob into blobs/ (a no-op if the store has it).
 * Call with the store lock held. */
int oci_stage_commit(oci_stage *stage, const char *digest, vce_err *err);

/* ---- images.json: the images the store holds and their names ---- */
typedef struct oci_image {
	char *id;	/* config digest: the image id docker shows */
	char *manifest; /* manifest digest */
	char **names;	/* canonical references */
	size_t n_names;
} oci_image;

typedef struct oci_images {
	oci_image *items;
	size_t n;
} oci_images;

int oci_images_load(oci_store *store, oci_images *out, vce_err *err);
int oci_images_save(oci_store *store, const oci_images *images, vce_err *err);
void oci_images_free(oci_images *images);
/* Finds an image by name (normalised), full or short id, or manifest
 * digest. Returns its index, or -1 with an error that says what to do. */
ssize_t oci_images_find(const oci_images *images, const char *what, vce_err *err);
/* Adds a name to image i, taking it from whichever image had it. */
void oci_images_add_name(oci_images *images, size_t i, const char *canonical);
/* Adds the image if its id is new; returns its index either way. */
size_t oci_images_add(oci_images *images, const char *id, const char *manifest);

/* ---- what the CLI calls ---- */
typedef struct oci_loaded {
	char **lines; /* "Loaded image: tiny:latest" / "Loaded image ID: sha256:..." */
	size_t n;
} oci_loaded;
void oci_loaded_free(oci_loaded *l);
/* Loads a docker-archive or OCI archive (plain, gzip or zstd), or an OCI
 * layout directory; "-" reads standard input. */
int oci_load(oci_store *store, const char *path, oci_loaded *out, vce_err *err);

typedef enum { OCI_SAVE_DOCKER_ARCHIVE, OCI_SAVE_OCI_ARCHIVE } oci_save_format;
/* Writes the named images to path ("-": standard output) atomically. */
int oci_save(oci_store *store, const char *const *names, size_t n, const char *path,
	     oci_save_format format, vce_err *err);

/* ---- registries ---- */
typedef struct oci_pull_opts {
	const char *platform; /* "os/arch[/variant]"; NULL: this machine's */
	FILE *progress;	      /* a terminal to draw a bar per layer on, or NULL */
} oci_pull_opts;

typedef struct oci_pulled {
	char *name;	 /* canonical reference */
	char *digest;	 /* what the registry holds under it (an index, perhaps) */
	char *id;	 /* the image id (config digest) */
	bool up_to_date; /* the store had it already */
} oci_pulled;

/* Pulls an image (docker's reference syntax) into the store; layers are
 * unpacked while they download. A pull that stops half-way resumes. */
int oci_pull(oci_store *store, const char *reference, const oci_pull_opts *opts, oci_pulled *out,
	     vce_err *err);
void oci_pulled_free(oci_pulled *p);
/* Checks the credentials with the registry, then keeps them in the auth
 * file (docker's format); out: its path. */
int oci_login(const char *domain, const char *user, const char *password, char **file,
	      vce_err *err);
int oci_logout(const char *domain, char **file, vce_err *err);

int oci_tag(oci_store *store, const char *source, const char *target, vce_err *err);
/* Removes a name (or, given an id, the image); the image and its unused
 * blobs go when no name is left. `force` removes an image with several
 * names given by id, and one a container uses. Out: what was done. */
int oci_rmi(oci_store *store, const char *what, bool force, char ***untagged, size_t *n_untagged,
	    vce_err *err);
/* Docker's `image inspect` JSON object for one image. */
int oci_inspect(oci_store *store, const char *what, json_t **out, vce_err *err);

typedef struct oci_image_info {
	char *id;
	char **names; /* familiar "repo:tag" forms */
	size_t n_names;
	char *created;
	int64_t size;
} oci_image_info;
int oci_list(oci_store *store, oci_image_info **out, size_t *n, vce_err *err);
void oci_image_info_free(oci_image_info *infos, size_t n);

/* ---- disk usage and pruning ---- */
typedef struct oci_image_usage {
	char *id;
	char *name;	/* the first name, or NULL */
	int64_t size;	/* its unpacked layers */
	int64_t shared; /* the part of size in layers other images use too */
	bool in_use;	/* by a container */
} oci_image_usage;

typedef struct oci_usage {
	oci_image_usage *images;
	size_t n_images, images_in_use;
	int64_t blob_bytes; /* compressed blobs, each once */
	size_t layers;	    /* distinct unpacked layers images use */
	int64_t layer_bytes, shared_layer_bytes;
} oci_usage;

int oci_disk_usage(oci_store *store, oci_usage *out, vce_err *err);
void oci_usage_free(oci_usage *u);

/* Removes images without a name (`all`: every image), except those a
 * container uses, and then every blob and layer no image needs. */
int oci_prune(oci_store *store, bool all, char ***removed, size_t *n_removed, vce_err *err);

/* Calls fn with the id and state.json of each container in the store
 * (containers/<id>/), until fn returns true; returns whether it did. */
typedef bool (*oci_container_fn)(const char *id, json_t *state, void *ctx);
bool oci_each_container(oci_store *store, oci_container_fn fn, void *ctx);

/* The ids of images that containers in the store use (containers/<id>/
 * state.json "image"); rmi refuses to remove those without force. */
bool oci_image_in_use(oci_store *store, const char *image_id, char **container_out);

#endif
