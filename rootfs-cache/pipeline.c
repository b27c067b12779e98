/* One layer's stream: blob -> decompressor -> ring of chunks -> (hasher,
 * tar writer). The reader thread decompresses into the ring; the hasher
 * thread computes the diffID from the same chunks while the caller's
 * thread parses and writes, so on two cores decompression, hashing and
 * the writes overlap. A chunk is reused once both consumers are past it.
 * The blob may be a member of an archive, read in place by offset; the
 * reader can copy it, as it reads it, into the store's file for it (the
 * tee) and check its digest, so a load reads each layer once.
 *
 * gzip is inflated with ISA-L's igzip where the build has it (2.1x zlib
 * on this project's jupyter image: 740 against 350 MB/s), zlib otherwise. */
#define _GNU_SOURCE
#include "pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>
#ifdef VCE_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#else
#include <zlib.h>
#endif

#include "../common/banned.h"

#define CHUNK	   (1u << 20)
#define SLOTS	   8
#define IN_BUF	   (1u << 20)
#define READ_AHEAD (64 << 20)

struct ring {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned char *slot[SLOTS];
	size_t len[SLOTS];
	uint64_t produced, written, hashed; /* chunk counts */
	bool hashing, eof, stop;
	vce_err err;   /* the first failure, from any thread */
	int64_t total; /* uncompressed bytes */
};

static void ring_fail(struct ring *r, vce_err *e)
{
	pthread_mutex_lock(&r->mu);
	if (r->err == NULL) {
		r->err = *e;
		*e = NULL;
	}
	r->stop = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	vce_error_release(e);
}

static uint64_t slowest(const struct ring *r)
{
	return r->hashing && r->hashed < r->written ? r->hashed : r->written;
}

/* The next free slot for the producer, or NULL when asked to stop. */
static unsigned char *ring_claim(struct ring *r)
{
	unsigned char *s = NULL;

	pthread_mutex_lock(&r->mu);
	while (!r->stop && r->produced - slowest(r) >= SLOTS)
		pthread_cond_wait(&r->cv, &r->mu);
	if (!r->stop)
		s = r->slot[r->produced % SLOTS];
	pthread_mutex_unlock(&r->mu);
	return s;
}

static void ring_publish(struct ring *r, size_t len)
{
	pthread_mutex_lock(&r->mu);
	r->len[r->produced % SLOTS] = len;
	r->produced++;
	r->total += (int64_t)len;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void ring_finish(struct ring *r)
{
	pthread_mutex_lock(&r->mu);
	r->eof = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* Consumer side: waits for chunk `index`; 0 at the end, -1 on failure. */
static ssize_t ring_get(struct ring *r, uint64_t index, const void **buf)
{
	ssize_t n;

	pthread_mutex_lock(&r->mu);
	while (!r->stop && index >= r->produced && !r->eof)
		pthread_cond_wait(&r->cv, &r->mu);
	if (r->stop)
		n = -1;
	else if (index >= r->produced)
		n = 0;
	else {
		*buf = r->slot[index % SLOTS];
		n = (ssize_t)r->len[index % SLOTS];
	}
	pthread_mutex_unlock(&r->mu);
	return n;
}

static bool ring_stopped(struct ring *r)
{
	bool stop;

	pthread_mutex_lock(&r->mu);
	stop = r->stop;
	pthread_mutex_unlock(&r->mu);
	return stop;
}

static void ring_done(struct ring *r, uint64_t *counter)
{
	pthread_mutex_lock(&r->mu);
	(*counter)++;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* ---- the producer: read and decompress ---- */

struct producer {
	struct ring *ring;
	const cache_layer *layer;
	int64_t pos, end;     /* in an archive member; end < 0: read to EOF */
	vce_hasher *tee_hash; /* NULL: no tee, or the diffID checks it */
	int64_t teed;	      /* bytes written to the tee */
	int64_t advised;      /* read ahead (an archive member) up to here */
	unsigned char *in;
	size_t in_len, in_pos;
	bool in_eof;
};

/* By offset, not appended: an unpack tried again (its layer vanished
 * under a concurrent rmi) writes the same copy over the first. */
static int tee_bytes(struct producer *p, const void *buf, size_t len, vce_err *err)
{
	const char *at = buf;

	while (len > 0) {
		ssize_t n = pwrite(p->layer->tee_fd, at, len, p->teed);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vce_error_make(err, errno, "store the layer's blob");
		at += n;
		len -= (size_t)n;
		p->teed += n;
	}
	return 0;
}

/* The next bytes of the blob, also written to the tee. */
static ssize_t read_blob(struct producer *p, void *buf, size_t len, vce_err *err)
{
	const cache_layer *l = p->layer;
	ssize_t n;

	if (p->end >= 0 && (int64_t)len > p->end - p->pos)
		len = (size_t)(p->end - p->pos);
	if (len == 0)
		return 0;
	/* An archive member is read ahead well before it is needed, so that
	 * the unpack never waits for the disk; not all at once, which a
	 * small machine's page cache could not hold. */
	if (p->end >= 0 && p->pos >= p->advised) {
		posix_fadvise(l->fd, p->pos, READ_AHEAD, POSIX_FADV_WILLNEED);
		p->advised = p->pos + READ_AHEAD / 2;
	}
	do
		n = p->end >= 0 ? pread(l->fd, buf, len, p->pos) : read(l->fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return vce_error_make(err, errno, "read the layer");
	if (n == 0 && p->end >= 0)
		return vce_error_make(err, 0, "the layer is cut short: the archive is truncated");
	p->pos += n;
	if (l->tee_digest) {
		if (p->tee_hash)
			vce_hasher_update(p->tee_hash, buf, (size_t)n);
		if (tee_bytes(p, buf, (size_t)n, err) < 0)
			return -1;
	}
	return n;
}

static int fill_input(struct producer *p, vce_err *err)
{
	ssize_t n;

	if (p->in_pos < p->in_len || p->in_eof)
		return 0;
	n = read_blob(p, p->in, IN_BUF, err);
	if (n < 0)
		return -1;
	p->in_len = (size_t)n;
	p->in_pos = 0;
	p->in_eof = n == 0;
	return 0;
}

static int produce_plain(struct producer *p, vce_err *err)
{
	for (;;) {
		unsigned char *s = ring_claim(p->ring);
		size_t len = 0;
		if (s == NULL)
			return 0;
		while (len < CHUNK) {
			ssize_t n = read_blob(p, s + len, CHUNK - len, err);
			if (n < 0)
				return -1;
			if (n == 0)
				break;
			len += (size_t)n;
		}
		if (len)
			ring_publish(p->ring, len);
		if (len < CHUNK)
			return 0;
	}
}

static int produce_zstd(struct producer *p, vce_err *err)
{
	ZSTD_DStream *ds = ZSTD_createDStream();
	size_t last = 0;
	int ret = 0;

	ZSTD_initDStream(ds);
	for (;;) {
		unsigned char *s = ring_claim(p->ring);
		ZSTD_outBuffer out = { s, CHUNK, 0 };
		if (s == NULL)
			break;
		while (out.pos < out.size) {
			if (fill_input(p, err) < 0) {
				ret = -1;
				break;
			}
			if (p->in_eof)
				break;
			ZSTD_inBuffer in = { p->in, p->in_len, p->in_pos };
			last = ZSTD_decompressStream(ds, &out, &in);
			p->in_pos = in.pos;
			if (ZSTD_isError(last)) {
				ret = vce_error_make(err, 0, "the zstd stream is corrupt (%s)",
						     ZSTD_getErrorName(last));
				break;
			}
		}
		if (ret == 0 && out.pos)
			ring_publish(p->ring, out.pos);
		if (ret < 0 || p->in_eof)
			break;
	}
	/* A frame not finished when the input ends: truncated. */
	if (ret == 0 && p->in_eof && last != 0)
		ret = vce_error_make(err, 0, "the zstd stream is truncated");
	ZSTD_freeDStream(ds);
	return ret;
}

/* One gzip member at a time, by igzip or zlib: the loop below is the same. */
#ifdef VCE_HAVE_ISAL
typedef struct inflate_state inflater;

static inflater *inflater_new(void)
{
	inflater *st = xmalloc(sizeof(*st));

	isal_inflate_init(st);
	st->crc_flag = ISAL_GZIP;
	return st;
}

static void inflater_reset(inflater *st)
{
	isal_inflate_reset(st);
	st->crc_flag = ISAL_GZIP;
}

/* Inflates what it can; 1 at the end of a member, 0 to go on, -1 on error. */
static int inflater_step(inflater *st, struct producer *p, unsigned char *out, size_t *out_pos,
			 vce_err *err)
{
	int r;

	st->next_in = p->in + p->in_pos;
	st->avail_in = (uint32_t)(p->in_len - p->in_pos);
	st->next_out = out + *out_pos;
	st->avail_out = (uint32_t)(CHUNK - *out_pos);
	r = isal_inflate(st);
	p->in_pos = p->in_len - st->avail_in;
	*out_pos = CHUNK - st->avail_out;
	if (r != ISAL_DECOMP_OK)
		return vce_error_make(err, 0, "the gzip stream is corrupt (igzip error %d)", r);
	return st->block_state == ISAL_BLOCK_FINISH;
}

static void inflater_free(inflater *st)
{
	free(st);
}
#else
typedef z_stream inflater;

static inflater *inflater_new(void)
{
	inflater *z = xcalloc(1, sizeof(*z));

	if (inflateInit2(z, 16 + MAX_WBITS) != Z_OK)
		abort(); /* only fails without memory */
	return z;
}

static void inflater_reset(inflater *z)
{
	inflateReset(z);
}

static int inflater_step(inflater *z, struct producer *p, unsigned char *out, size_t *out_pos,
			 vce_err *err)
{
	int r;

	z->next_in = p->in + p->in_pos;
	z->avail_in = (uInt)(p->in_len - p->in_pos);
	z->next_out = out + *out_pos;
	z->avail_out = (uInt)(CHUNK - *out_pos);
	r = inflate(z, Z_NO_FLUSH);
	p->in_pos = p->in_len - z->avail_in;
	*out_pos = CHUNK - z->avail_out;
	if (r != Z_OK && r != Z_STREAM_END)
		return vce_error_make(err, 0, "the gzip stream is corrupt (%s)",
				      z->msg ? z->msg : "zlib error");
	return r == Z_STREAM_END;
}

static void inflater_free(inflater *z)
{
	inflateEnd(z);
	free(z);
}
#endif

static int produce_gzip(struct producer *p, vce_err *err)
{
	inflater *inf = inflater_new();
	bool finished = false;
	int ret = 0;

	for (;;) {
		unsigned char *s = ring_claim(p->ring);
		size_t len = 0;
		if (s == NULL)
			break;
		while (len < CHUNK) {
			if (fill_input(p, err) < 0) {
				ret = -1;
				break;
			}
			if (p->in_eof)
				break;
			if (finished) {
				/* Another gzip member, or trailing bytes gzip ignores too. */
				if (p->in[p->in_pos] != 0x1f) {
					p->in_eof = true;
					break;
				}
				inflater_reset(inf);
				finished = false;
			}
			int r = inflater_step(inf, p, s, &len, err);
			if (r < 0) {
				ret = -1;
				break;
			}
			finished = r == 1;
		}
		if (ret == 0 && len)
			ring_publish(p->ring, len);
		if (ret < 0 || p->in_eof)
			break;
	}
	if (ret == 0 && p->in_eof && !finished)
		ret = vce_error_make(err, 0, "the gzip stream is truncated");
	inflater_free(inf);
	return ret;
}

/* The store's copy is the whole blob: bytes after the end of the stream
 * (gzip's trailing garbage) too. */
static int finish_tee(struct producer *p, vce_err *err)
{
	ssize_t n;

	if (p->layer->tee_digest == NULL)
		return 0;
	while ((n = read_blob(p, p->in, IN_BUF, err)) > 0)
		;
	return n < 0 ? -1 : 0;
}

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	vce_err err = NULL;
	int ret;

	switch (p->layer->compression) {
	case CACHE_GZIP:
		ret = produce_gzip(p, &err);
		break;
	case CACHE_ZSTD:
		ret = produce_zstd(p, &err);
		break;
	default:
		ret = produce_plain(p, &err);
		break;
	}
	if (ret == 0 && !ring_stopped(p->ring))
		ret = finish_tee(p, &err);
	if (ret < 0)
		ring_fail(p->ring, &err);
	else
		ring_finish(p->ring);
	return NULL;
}

/* ---- the hasher ---- */

struct hasher {
	struct ring *ring;
	char digest[VCE_DIGEST_LEN + 1];
};

static void *hasher_main(void *arg)
{
	struct hasher *h = arg;
	vce_hasher *sha = vce_hasher_new();
	const void *buf;
	ssize_t n;

	while ((n = ring_get(h->ring, h->ring->hashed, &buf)) > 0) {
		vce_hasher_update(sha, buf, (size_t)n);
		ring_done(h->ring, &h->ring->hashed);
	}
	vce_hasher_final(sha, h->digest);
	vce_hasher_free(sha);
	return NULL;
}

/* ---- the writer's side ---- */

struct writer_ctx {
	struct ring *ring;
	bool holding; /* the writer has not yet released chunk `written` */
};

static ssize_t writer_read(void *ctx, const void **buf, vce_err *err)
{
	struct writer_ctx *w = ctx;
	ssize_t n;

	if (w->holding)
		ring_done(w->ring, &w->ring->written);
	n = ring_get(w->ring, w->ring->written, buf);
	w->holding = n > 0;
	if (n < 0) {
		pthread_mutex_lock(&w->ring->mu);
		vce_error_make(err, w->ring->err ? w->ring->err->status : 0, "%s",
			       w->ring->err ? w->ring->err->msg : "stopped");
		pthread_mutex_unlock(&w->ring->mu);
	}
	return n;
}

/* A plain blob that is to hash to the diffID is checked by the hasher. */
static bool tee_needs_hash(const cache_layer *l)
{
	return l->tee_digest && !(l->compression == CACHE_PLAIN && !l->diff_id_verified &&
				  strcmp(l->tee_digest, l->diff_id) == 0);
}

int cache_pipeline_unpack(int root_fd, const cache_layer *layer, const cache_unpack_opts *opts,
			  int64_t *bytes, int64_t *entries, vce_err *err)
{
	const char *diff_id = layer->diff_id;
	struct ring ring = { .hashing = !layer->diff_id_verified };
	struct producer prod = { .ring = &ring,
				 .layer = layer,
				 .pos = layer->offset,
				 .end = layer->length > 0 ? layer->offset + layer->length : -1,
				 .tee_hash = tee_needs_hash(layer) ? vce_hasher_new() : NULL };
	struct hasher hash = { .ring = &ring };
	struct writer_ctx w = { .ring = &ring };
	pthread_t producer_thread, hasher_thread;
	const void *rest;
	int ret;

	pthread_mutex_init(&ring.mu, NULL);
	pthread_cond_init(&ring.cv, NULL);
	for (int i = 0; i < SLOTS; i++)
		ring.slot[i] = xmalloc(CHUNK);
	prod.in = xmalloc(IN_BUF);
	pthread_create(&producer_thread, NULL, producer_main, &prod);
	if (ring.hashing)
		pthread_create(&hasher_thread, NULL, hasher_main, &hash);

	ret = cache_unpack_tar(root_fd, writer_read, &w, opts, bytes, entries, err);
	if (ret == 0) {
		/* The diffID covers the whole stream, padding after the tar's
		 * end included: read it to the end. */
		while (writer_read(&w, &rest, err) > 0)
			;
	} else {
		pthread_mutex_lock(&ring.mu);
		ring.stop = true;
		pthread_cond_broadcast(&ring.cv);
		pthread_mutex_unlock(&ring.mu);
	}
	pthread_join(producer_thread, NULL);
	if (ring.hashing)
		pthread_join(hasher_thread, NULL);
	if (ret == 0 && ring.err) {
		ret = vce_error_make(err, ring.err->status, "%s", ring.err->msg);
	} else if (ret == 0 && ring.hashing && strcmp(hash.digest, diff_id) != 0) {
		ret = vce_error_make(
		    err, 0,
		    "the layer unpacks to %s, but the image config says %s: the image is corrupt; make or pull it again",
		    hash.digest, diff_id);
	}
	if (prod.tee_hash) {
		char digest[VCE_DIGEST_LEN + 1];
		vce_hasher_final(prod.tee_hash, digest);
		vce_hasher_free(prod.tee_hash);
		if (ret == 0 && strcmp(digest, layer->tee_digest) != 0)
			ret = vce_error_make(
			    err, 0,
			    "blob %s does not match its digest (content is %s): the image is corrupt; make or pull it again",
			    layer->tee_digest, digest);
	}
	vce_error_release(&ring.err);
	for (int i = 0; i < SLOTS; i++)
		free(ring.slot[i]);
	free(prod.in);
	pthread_cond_destroy(&ring.cv);
	pthread_mutex_destroy(&ring.mu);
	return ret;
}
