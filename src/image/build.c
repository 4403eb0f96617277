/*
 * build.c: turning a directory tree into a tag of an image layout
 * (image/; called by `bt image build`).
 *
 * Design.
 *
 *   walk (main thread)            pool (opts->threads workers)
 *   ------------------            ----------------------------
 *   list + sort + lstat a folder  SHA-256 of the raw chunk
 *   read each file once into  --> known content? -> share it
 *     the chunk stream            else zstd (kept if smaller),
 *   FastCDC cut points             SHA-256 of stored bytes,
 *   all-zero chunks -> holes       write blob (tmp + rename)
 *
 * then (main thread): number the chunks in order of first use, sort the
 * extents by (inode, offset), encode the metadata, write config and
 * manifest, syncfs once, and replace index.json atomically.
 *
 * The chunk stream: regular files smaller than BT_IMAGE_CHUNK_AVG are
 * concatenated, in walk order, into one stream that FastCDC cuts, so small
 * files share chunks (and zstd sees their context). A larger file is cut
 * on its own: the stream is cut before its first byte and after its last,
 * so an identical large file dedups whole wherever it appears. Data
 * regions are found with SEEK_DATA/SEEK_HOLE; holes, and chunks that are
 * entirely zero, are not stored (they are the gaps between extents).
 *
 * Invariants:
 *  1. A chunk blob is renamed to its digest only once its bytes are
 *     written; nothing is fsynced one by one: a single syncfs() of the
 *     layout's file system precedes the write of index.json, so a tag is
 *     published only when every blob it needs is durable (crash safety).
 *  2. The dedup map holds every chunk of every committed tag (from their
 *     verified metadata) and every chunk this build stored. Chunks are
 *     keyed by the SHA-256 of their content, so a chunk is compressed and
 *     written at most once per layout, whatever the compression level.
 *  3. A blob present on disk but not named by a committed tag is never
 *     trusted: it is rewritten (a crashed build may have left it torn).
 *
 * Locking theory. pool.mu protects the job queue, the jobs[] result array
 * (which the main thread grows), the dedup map, the counters and the
 * sticky error. Workers hold it only to look up and insert in the map and
 * to post results; hashing, compressing and writing run outside it. The
 * layout lock (flock on oci-layout) is held for the whole build.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <zstd.h>

#include "bt/crypto.h"
#include "bt/os.h"
#include "image_int.h"

#define QUEUE_CAP  32
#define STREAM_CAP ((size_t)8 << 20)
#define DEPTH_MAX  512

/* A chunk's content known to this build: committed, or stored by it. */
struct centry {
	uint8_t	 raw[32];
	uint8_t	 stored[32];
	uint32_t stored_len, raw_len, flags;
	uint32_t index; /* in the new image's chunk table, or UINT32_MAX */
	bool	 done;	/* stored[] valid (blob written or committed) */
	bool	 committed;
	bool	 checked; /* committed blob seen on disk by this build */
};

struct job {
	uint8_t *data;
	uint32_t len;
	uint64_t id;
};

struct xent {
	uint32_t name_off, name_len, val_off, val_len;
};

/* One inode of the new image, indexed by ino - 1. */
struct bnode {
	struct bt__img_inode r;
	uint32_t	     ext_first, ext_n; /* filled at the end */
};

/* An extent before chunk numbering: job is an index into jobs[]. */
struct bext {
	uint32_t ino;
	uint32_t chunk_off, len;
	uint64_t file_off;
	uint64_t job;
};

/* A run of stream bytes that belongs to one file. */
struct seg {
	uint32_t ino;
	uint64_t file_off;
	uint64_t pos; /* stream position */
	uint64_t len;
};

struct hlink {
	dev_t	 dev;
	ino_t	 ino;
	uint32_t img_ino;
};

struct builder {
	/* options */
	int	    level;
	int	    blobs_dirfd;
	const char *layout;
	dev_t	    root_dev;
	struct bt_diag *diag;

	/* pool, under mu */
	pthread_mutex_t mu;
	pthread_cond_t	cv_work, cv_space, cv_idle;
	struct job     *queue[QUEUE_CAP];
	size_t		q_head, q_len;
	unsigned	busy;
	bool		stop;
	int		err;
	char		errmsg[200];
	struct centry **jobs; /* result per job id */
	size_t		n_jobs, cap_jobs;
	struct centry **map;  /* open addressing by raw digest */
	size_t		map_cap, map_n;
	uint64_t	new_chunks, new_bytes, dedup_bytes;
	pthread_t      *threads;
	unsigned	n_threads;

	/* walk, main thread only */
	struct bnode   *nodes;
	size_t		n_nodes, cap_nodes;
	struct bt__img_dirent *dirents;
	size_t		n_dirents, cap_dirents;
	struct xent    *xattrs;
	size_t		n_xattrs, cap_xattrs;
	struct bext    *exts;
	size_t		n_exts, cap_exts;
	struct hlink   *links;
	size_t		n_links, cap_links;
	struct bt_dbuf	strings;
	struct bt_dbuf	path; /* relative path being visited, for errors */

	/* the stream */
	uint8_t	  *sbuf;
	size_t	   s_start, s_end;
	uint64_t   s_pos; /* stream position of sbuf[s_start] */
	struct seg *segs;
	size_t	   n_segs, cap_segs, seg_head;

	/* base tag for the quick check */
	bt_image *base;

	/* progress */
	struct bt_image_progress prog;
	bt_image_progress_cb	*progress;
	void			*progress_arg;
	uint64_t		 next_report;
	uint64_t		 reused_files;
};

/* ------------------------------------------------------------ arrays */

static int
grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = bt_realloc(*p, n * size);
	if (q == NULL)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static const char *
cur_path(struct builder *b)
{
	if (b->path.len == 0)
		return ".";
	return (const char *)b->path.ptr;
}

static int
fail(struct builder *b, int rc, const char *what)
{
	/* One place names the path at fault: "<path>: <what>: <error>". */
	bt_diag_set(b->diag, -1, "%s: %s: %s", cur_path(b), what,
	    bt_strerror(rc));
	return rc;
}

/* --------------------------------------------------------- dedup map */

static uint64_t
dhash(const uint8_t *d)
{
	return bt_get_le64(d);
}

static struct centry *
map_find(struct builder *b, const uint8_t *raw)
{
	size_t i;

	if (b->map_cap == 0)
		return NULL;
	for (i = dhash(raw) & (b->map_cap - 1); b->map[i] != NULL;
	     i = (i + 1) & (b->map_cap - 1)) {
		if (memcmp(b->map[i]->raw, raw, 32) == 0)
			return b->map[i];
	}
	return NULL;
}

static int
map_insert(struct builder *b, struct centry *e)
{
	size_t i;

	if ((b->map_n + 1) * 2 > b->map_cap) {
		size_t ncap = b->map_cap ? b->map_cap * 2 : 4096;
		struct centry **nm = bt_calloc(ncap, sizeof(*nm));

		if (nm == NULL)
			return -ENOMEM;
		for (size_t j = 0; j < b->map_cap; j++) {
			if (b->map[j] == NULL)
				continue;
			for (i = dhash(b->map[j]->raw) & (ncap - 1);
			     nm[i] != NULL; i = (i + 1) & (ncap - 1))
				;
			nm[i] = b->map[j];
		}
		bt_free(b->map);
		b->map = nm;
		b->map_cap = ncap;
	}
	for (i = dhash(e->raw) & (b->map_cap - 1); b->map[i] != NULL;
	     i = (i + 1) & (b->map_cap - 1))
		;
	b->map[i] = e;
	b->map_n++;
	return 0;
}

/* Loads every chunk of every committed tag into the map. */
static int
map_preload(struct builder *b, const struct bt__img_index *ix)
{
	struct bt__img_chunk ch;
	struct centry *e;
	bt_image *img;
	int rc;

	for (size_t t = 0; t < ix->n_tags; t++) {
		if (bt__image_open_tag(&img, b->layout, &ix->tags[t].desc,
			NULL, 1, NULL) != 0) {
			bt_log_debug("image", "build: tag %zu is not an image "
			    "of ours or is damaged; not sharing its chunks", t);
			continue;
		}
		for (uint64_t i = 0; i < img->meta.n_chunks; i++) {
			if (bt__image_meta_chunk(&img->meta, i, &ch) != 0 ||
			    map_find(b, ch.raw_digest) != NULL)
				continue;
			e = bt_zalloc(sizeof(*e));
			if (e == NULL) {
				bt_image_close(img);
				return -ENOMEM;
			}
			memcpy(e->raw, ch.raw_digest, 32);
			memcpy(e->stored, ch.digest, 32);
			e->stored_len = ch.stored_len;
			e->raw_len = ch.raw_len;
			e->flags = ch.flags;
			e->index = UINT32_MAX;
			e->done = e->committed = true;
			rc = map_insert(b, e);
			if (rc != 0) {
				bt_free(e);
				bt_image_close(img);
				return rc;
			}
		}
		bt_image_close(img);
	}
	return 0;
}

/* -------------------------------------------------------------- pool */

static void
set_err(struct builder *b, int rc, const char *msg)
{
	/* Under b->mu. The first error wins; the walk stops at its next
	 * submission and the build fails with it. */
	if (b->err == 0) {
		b->err = rc;
		snprintf(b->errmsg, sizeof(b->errmsg), "%s", msg);
	}
}

static void
store_chunk(struct builder *b, ZSTD_CCtx *cctx, uint8_t *zbuf, size_t zcap,
    struct job *j)
{
	uint8_t raw[32], stored[32];
	struct centry *e, *mine = NULL;
	const uint8_t *out = j->data;
	uint32_t out_len = j->len, flags = 0;
	char msg[200], hex[65];
	struct stat st;
	int rc;

	rc = bt_sha256(j->data, j->len, raw);
	pthread_mutex_lock(&b->mu);
	if (rc != 0) {
		set_err(b, rc, "SHA-256 failed");
		goto out_locked;
	}
	e = map_find(b, raw);
	if (e != NULL) {
		b->jobs[j->id] = e;
		b->dedup_bytes += j->len;
		if (e->committed && !e->checked) {
			/* A committed chunk must still be on disk; a cheap
			 * size check here, the full check is `verify`. */
			e->checked = true;
			bt_hex_encode(hex, e->stored, 32);
			if (fstatat(b->blobs_dirfd, hex, &st, 0) != 0 ||
			    (uint64_t)st.st_size != e->stored_len) {
				e->committed = false;
				e->done = false;
				mine = e;
			}
		}
		if (mine == NULL)
			goto out_locked;
	} else {
		mine = bt_zalloc(sizeof(*mine));
		if (mine != NULL) {
			/* The key before the insert: the map hashes it. */
			memcpy(mine->raw, raw, 32);
			mine->raw_len = j->len;
			mine->index = UINT32_MAX;
		}
		if (mine == NULL || map_insert(b, mine) != 0) {
			bt_free(mine);
			set_err(b, -ENOMEM, "out of memory");
			goto out_locked;
		}
		b->jobs[j->id] = mine;
	}
	pthread_mutex_unlock(&b->mu);

	if (b->level > 0) {
		size_t n = ZSTD_compressCCtx(cctx, zbuf, zcap, j->data, j->len,
		    b->level);

		if (!ZSTD_isError(n) && n < j->len) {
			out = zbuf;
			out_len = (uint32_t)n;
			flags = BT__IMG_CHUNK_ZSTD;
		}
	}
	if (out == j->data)
		memcpy(stored, raw, 32); /* stored raw: the same digest */
	else
		rc = bt_sha256(out, out_len, stored);
	if (rc == 0)
		rc = bt__image_blob_put_named(b->blobs_dirfd, out, out_len,
		    stored);
	pthread_mutex_lock(&b->mu);
	if (rc != 0) {
		bt_hex_encode(hex, stored, 32);
		snprintf(msg, sizeof(msg), "writing chunk blob sha256:%s "
		    "failed", hex);
		set_err(b, rc, msg);
		goto out_locked;
	}
	memcpy(mine->stored, stored, 32);
	mine->stored_len = out_len;
	mine->flags = flags;
	mine->done = true;
	b->new_chunks++;
	b->new_bytes += out_len;
out_locked:
	pthread_mutex_unlock(&b->mu);
}

static void *
worker(void *arg)
{
	struct builder *b = arg;
	size_t zcap = ZSTD_compressBound(BT_IMAGE_CHUNK_MAX);
	uint8_t *zbuf = bt_alloc(zcap);
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	struct job *j;

	pthread_mutex_lock(&b->mu);
	if (zbuf == NULL || cctx == NULL)
		set_err(b, -ENOMEM, "out of memory");
	for (;;) {
		while (b->q_len == 0 && !b->stop)
			pthread_cond_wait(&b->cv_work, &b->mu);
		if (b->q_len == 0)
			break;
		j = b->queue[b->q_head];
		b->q_head = (b->q_head + 1) % QUEUE_CAP;
		b->q_len--;
		b->busy++;
		pthread_cond_signal(&b->cv_space);
		if (b->err == 0) {
			pthread_mutex_unlock(&b->mu);
			store_chunk(b, cctx, zbuf, zcap, j);
			pthread_mutex_lock(&b->mu);
		}
		bt_free(j->data);
		bt_free(j);
		b->busy--;
		if (b->q_len == 0 && b->busy == 0)
			pthread_cond_broadcast(&b->cv_idle);
	}
	pthread_mutex_unlock(&b->mu);
	ZSTD_freeCCtx(cctx);
	bt_free(zbuf);
	return NULL;
}

/* Reserves a job id (a slot in jobs[]); under no lock held. */
static int
job_reserve(struct builder *b, uint64_t *id)
{
	int rc;

	pthread_mutex_lock(&b->mu);
	rc = grow((void **)&b->jobs, &b->cap_jobs, b->n_jobs + 1,
	    sizeof(*b->jobs));
	if (rc == 0) {
		b->jobs[b->n_jobs] = NULL;
		*id = b->n_jobs++;
	}
	pthread_mutex_unlock(&b->mu);
	return rc;
}

static int
submit(struct builder *b, const uint8_t *p, size_t len, uint64_t *id_out)
{
	struct job *j;
	int rc;

	rc = job_reserve(b, id_out);
	if (rc != 0)
		return rc;
	j = bt_alloc(sizeof(*j));
	if (j == NULL)
		return -ENOMEM;
	j->data = bt_memdup(p, len);
	if (j->data == NULL) {
		bt_free(j);
		return -ENOMEM;
	}
	j->len = (uint32_t)len;
	j->id = *id_out;
	pthread_mutex_lock(&b->mu);
	while (b->q_len == QUEUE_CAP && b->err == 0)
		pthread_cond_wait(&b->cv_space, &b->mu);
	rc = b->err;
	if (rc == 0) {
		b->queue[(b->q_head + b->q_len) % QUEUE_CAP] = j;
		b->q_len++;
		pthread_cond_signal(&b->cv_work);
		j = NULL;
	}
	pthread_mutex_unlock(&b->mu);
	if (j != NULL) {
		bt_free(j->data);
		bt_free(j);
	}
	return rc;
}

static int
pool_start(struct builder *b, unsigned n)
{
	b->threads = bt_calloc(n, sizeof(*b->threads));
	if (b->threads == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&b->threads[i], NULL, worker, b) != 0)
			return -EAGAIN;
		b->n_threads++;
	}
	return 0;
}

static int
pool_drain(struct builder *b)
{
	int rc;

	pthread_mutex_lock(&b->mu);
	while (b->q_len > 0 || b->busy > 0)
		pthread_cond_wait(&b->cv_idle, &b->mu);
	rc = b->err;
	pthread_mutex_unlock(&b->mu);
	return rc;
}

static void
pool_stop(struct builder *b)
{
	pthread_mutex_lock(&b->mu);
	b->stop = true;
	pthread_cond_broadcast(&b->cv_work);
	pthread_mutex_unlock(&b->mu);
	for (unsigned i = 0; i < b->n_threads; i++)
		pthread_join(b->threads[i], NULL);
	bt_free(b->threads);
	b->threads = NULL;
	b->n_threads = 0;
	/* Jobs left in the queue after a failure. */
	while (b->q_len > 0) {
		struct job *j = b->queue[b->q_head];

		b->q_head = (b->q_head + 1) % QUEUE_CAP;
		b->q_len--;
		bt_free(j->data);
		bt_free(j);
	}
}

/* ------------------------------------------------------------ stream */

static int
ext_add(struct builder *b, uint32_t ino, uint64_t file_off, uint64_t job,
    uint32_t chunk_off, uint32_t len)
{
	int rc = grow((void **)&b->exts, &b->cap_exts, b->n_exts + 1,
	    sizeof(*b->exts));

	if (rc != 0)
		return rc;
	b->exts[b->n_exts++] = (struct bext){ .ino = ino,
		.file_off = file_off, .job = job, .chunk_off = chunk_off,
		.len = len };
	return 0;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	static const uint8_t zero[4096];

	while (n >= sizeof(zero)) {
		if (memcmp(p, zero, sizeof(zero)) != 0)
			return false;
		p += sizeof(zero);
		n -= sizeof(zero);
	}
	return memcmp(p, zero, n) == 0;
}

/* Cuts one chunk of len bytes off the front of the stream. */
static int
cut(struct builder *b, size_t len)
{
	const uint8_t *p = b->sbuf + b->s_start;
	uint64_t cs = b->s_pos, ce = b->s_pos + len, job = 0;
	bool zero = all_zero(p, len);
	int rc;

	if (!zero) {
		rc = submit(b, p, len, &job);
		if (rc != 0)
			return rc;
	}
	while (b->seg_head < b->n_segs) {
		struct seg *s = &b->segs[b->seg_head];
		uint64_t a = s->pos > cs ? s->pos : cs;
		uint64_t e = s->pos + s->len < ce ? s->pos + s->len : ce;

		if (a >= ce)
			break;
		if (!zero && e > a) {
			rc = ext_add(b, s->ino, s->file_off + (a - s->pos),
			    job, (uint32_t)(a - cs), (uint32_t)(e - a));
			if (rc != 0)
				return rc;
		}
		if (s->pos + s->len > ce)
			break;
		b->seg_head++;
	}
	if (b->seg_head == b->n_segs)
		b->seg_head = b->n_segs = 0;
	b->s_start += len;
	b->s_pos += len;
	return 0;
}

/* Cuts every complete chunk; with final, everything buffered. */
static int
stream_cut(struct builder *b, bool final)
{
	int rc;

	while (b->s_end - b->s_start >= BT_IMAGE_CHUNK_MAX ||
	    (final && b->s_end > b->s_start)) {
		size_t n = bt__image_cdc_cut(b->sbuf + b->s_start,
		    b->s_end - b->s_start);

		rc = cut(b, n);
		if (rc != 0)
			return rc;
	}
	if (b->s_start == b->s_end)
		b->s_start = b->s_end = 0;
	return 0;
}

static int
seg_add(struct builder *b, uint32_t ino, uint64_t file_off, uint64_t len)
{
	struct seg *last;
	int rc;

	if (b->n_segs > b->seg_head) {
		last = &b->segs[b->n_segs - 1];
		if (last->ino == ino && last->file_off + last->len == file_off &&
		    last->pos + last->len == b->s_pos + (b->s_end - b->s_start)) {
			last->len += len;
			return 0;
		}
	}
	rc = grow((void **)&b->segs, &b->cap_segs, b->n_segs + 1,
	    sizeof(*b->segs));
	if (rc != 0)
		return rc;
	b->segs[b->n_segs++] = (struct seg){ .ino = ino, .file_off = file_off,
		.pos = b->s_pos + (b->s_end - b->s_start), .len = len };
	return 0;
}

/* Appends [off, off + len) of fd to the stream. */
static int
stream_read(struct builder *b, int fd, uint32_t ino, uint64_t off,
    uint64_t len)
{
	int rc;

	while (len > 0) {
		size_t room, want;
		ssize_t n;

		if (b->s_end == STREAM_CAP) {
			memmove(b->sbuf, b->sbuf + b->s_start,
			    b->s_end - b->s_start);
			b->s_end -= b->s_start;
			b->s_start = 0;
		}
		room = STREAM_CAP - b->s_end;
		want = len < room ? (size_t)len : room;
		n = bt_os_pread(fd, b->sbuf + b->s_end, want, (off_t)off);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break; /* the file shrank: the rest reads as a hole */
		rc = seg_add(b, ino, off, (uint64_t)n);
		if (rc != 0)
			return rc;
		b->s_end += (size_t)n;
		b->prog.bytes += (uint64_t)n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
		rc = stream_cut(b, false);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void
report(struct builder *b, bool force)
{
	uint64_t now;

	if (b->progress == NULL)
		return;
	now = bt_time_mono_ns();
	if (!force && now < b->next_report)
		return;
	b->next_report = now + 100000000ull;
	pthread_mutex_lock(&b->mu);
	b->prog.dedup_bytes = b->dedup_bytes;
	pthread_mutex_unlock(&b->mu);
	b->progress(b->progress_arg, &b->prog);
}

/* Reads one regular file into the stream (or reuses the base's). */
static int
add_file(struct builder *b, int dirfd, const char *name, uint32_t ino,
    const struct stat *st)
{
	bool alone = (uint64_t)st->st_size >= BT_IMAGE_CHUNK_AVG;
	uint64_t off = 0, size = (uint64_t)st->st_size;
	int fd, rc = 0;

	b->prog.files++;
	report(b, false);
	if (size == 0)
		return 0;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(b, -errno, "cannot open");
	if (alone) {
		rc = stream_cut(b, true);
		if (rc != 0)
			goto out;
	}
	if ((uint64_t)st->st_blocks * 512 < size) {
		/* Perhaps sparse: read only the data regions. */
		while (off < size) {
			off_t d = lseek(fd, (off_t)off, SEEK_DATA), h;

			if (d < 0) {
				if (errno == ENXIO)
					break;
				goto dense; /* no SEEK_DATA here */
			}
			h = lseek(fd, d, SEEK_HOLE);
			if (h < 0 || (uint64_t)h > size)
				h = (off_t)size;
			if ((uint64_t)d >= size)
				break;
			rc = stream_read(b, fd, ino, (uint64_t)d,
			    (uint64_t)(h - d));
			if (rc != 0)
				goto out;
			off = (uint64_t)h;
		}
		goto done;
	}
dense:
	rc = stream_read(b, fd, ino, off, size - off);
	if (rc != 0)
		goto out;
done:
	if (alone)
		rc = stream_cut(b, true);
out:
	if (rc != 0 && rc != BT_ELIMIT && b->diag != NULL &&
	    b->diag->msg[0] == '\0')
		fail(b, rc, "cannot read");
	close(fd);
	return rc;
}

/* Reuses the base image's extents for an unchanged file. */
static int
reuse_file(struct builder *b, uint64_t base_ino, uint32_t ino)
{
	struct bt__img_inode r;
	struct bt__img_extent ex;
	struct bt__img_chunk ch;
	struct centry *e;
	uint64_t job;
	int rc;

	rc = bt__image_meta_inode(&b->base->meta, base_ino, &r);
	if (rc != 0)
		return rc;
	for (uint64_t i = 0; i < r.data_n; i++) {
		if (bt__image_meta_extent(&b->base->meta, &r, i, &ex) != 0 ||
		    bt__image_meta_chunk(&b->base->meta, ex.chunk, &ch) != 0)
			return BT_ECORRUPT;
		pthread_mutex_lock(&b->mu);
		e = map_find(b, ch.raw_digest);
		pthread_mutex_unlock(&b->mu);
		if (e == NULL)
			return BT_ECORRUPT;
		rc = job_reserve(b, &job);
		if (rc != 0)
			return rc;
		pthread_mutex_lock(&b->mu);
		b->jobs[job] = e;
		b->dedup_bytes += ex.len;
		pthread_mutex_unlock(&b->mu);
		rc = ext_add(b, ino, ex.file_off, job, ex.chunk_off, ex.len);
		if (rc != 0)
			return rc;
	}
	b->prog.files++;
	b->prog.bytes += r.size;
	b->reused_files++;
	return 0;
}

/* -------------------------------------------------------------- walk */

struct ent {
	char	   *name;
	size_t	    len;
	struct stat st;
	uint32_t    ino;
	bool	    primary; /* first link of its inode */
};

static int
ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	return bt__image_name_cmp((const uint8_t *)x->name, x->len,
	    (const uint8_t *)y->name, y->len);
}

static int
str_add(struct builder *b, const void *p, size_t n, uint32_t *off)
{
	int rc;

	if (b->strings.len + n > UINT32_MAX)
		return BT_ELIMIT;
	*off = (uint32_t)b->strings.len;
	rc = bt_dbuf_append(&b->strings, p, n);
	return rc;
}

static char *
proc_path(int dirfd, const char *name)
{
	struct bt_dbuf d;

	bt_dbuf_init(&d, 8192);
	if (bt_dbuf_printf(&d, "/proc/self/fd/%d/%s", dirfd, name) != 0) {
		bt_dbuf_fini(&d);
		return NULL;
	}
	return (char *)bt_dbuf_take(&d, NULL);
}

struct xtmp {
	char   *name;
	uint8_t *val;
	size_t	vlen;
};

static int
xtmp_cmp(const void *a, const void *b)
{
	const struct xtmp *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Records the xattrs of dirfd/name into the xattr table. */
static int
add_xattrs(struct builder *b, int dirfd, const char *name,
    struct bt__img_inode *r)
{
	struct xtmp *xs = NULL;
	char *path, *list = NULL;
	size_t nx = 0;
	ssize_t n, v;
	int rc = 0;

	path = proc_path(dirfd, name);
	if (path == NULL)
		return -ENOMEM;
	n = llistxattr(path, NULL, 0);
	if (n <= 0) {
		/* No xattrs, or a file system without them. */
		bt_free(path);
		return 0;
	}
	list = bt_alloc((size_t)n + 1);
	if (list == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	n = llistxattr(path, list, (size_t)n);
	if (n < 0) {
		rc = fail(b, -errno, "cannot list xattrs");
		goto out;
	}
	list[n] = '\0';
	xs = bt_calloc((size_t)n + 1, sizeof(*xs));
	if (xs == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (char *k = list; k < list + n; k += strlen(k) + 1) {
		if (*k == '\0')
			continue;
		v = lgetxattr(path, k, NULL, 0);
		if (v < 0) {
			if (errno == ENODATA)
				continue;
			rc = fail(b, -errno, "cannot read an xattr");
			goto out;
		}
		if ((size_t)v > BT__IMG_XVAL_MAX || strlen(k) >
		    BT__IMG_XNAME_MAX) {
			rc = fail(b, BT_ELIMIT, "an xattr is larger than the "
			    "format allows");
			goto out;
		}
		xs[nx].name = k;
		xs[nx].val = bt_alloc((size_t)v + 1);
		if (xs[nx].val == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		v = lgetxattr(path, k, xs[nx].val, (size_t)v);
		if (v < 0) {
			bt_free(xs[nx].val);
			rc = fail(b, -errno, "cannot read an xattr");
			goto out;
		}
		xs[nx++].vlen = (size_t)v;
	}
	qsort(xs, nx, sizeof(*xs), xtmp_cmp);
	rc = grow((void **)&b->xattrs, &b->cap_xattrs, b->n_xattrs + nx,
	    sizeof(*b->xattrs));
	if (rc != 0)
		goto out;
	r->xattr_first = (uint32_t)b->n_xattrs;
	r->xattr_n = (uint32_t)nx;
	for (size_t i = 0; i < nx; i++) {
		struct xent *x = &b->xattrs[b->n_xattrs++];

		x->name_len = (uint32_t)strlen(xs[i].name);
		x->val_len = (uint32_t)xs[i].vlen;
		rc = str_add(b, xs[i].name, x->name_len, &x->name_off);
		if (rc == 0)
			rc = str_add(b, xs[i].val, xs[i].vlen, &x->val_off);
		if (rc != 0)
			goto out;
	}
out:
	for (size_t i = 0; xs != NULL && i < nx; i++)
		bt_free(xs[i].val);
	bt_free(xs);
	bt_free(list);
	bt_free(path);
	return rc;
}

static void
fill_inode(struct bt__img_inode *r, const struct stat *st)
{
	memset(r, 0, sizeof(*r));
	r->mode = st->st_mode & (S_IFMT | 07777);
	r->uid = st->st_uid;
	r->gid = st->st_gid;
	r->nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	r->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 +
	    st->st_mtim.tv_nsec;
	r->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 +
	    st->st_ctim.tv_nsec;
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		r->rdev_major = major(st->st_rdev);
		r->rdev_minor = minor(st->st_rdev);
	}
	if (S_ISREG(st->st_mode))
		r->size = (uint64_t)st->st_size;
}

static int
node_new(struct builder *b, const struct stat *st, uint32_t parent,
    uint32_t *ino_out)
{
	int rc;

	if (b->n_nodes >= UINT32_MAX - 1)
		return BT_ELIMIT;
	rc = grow((void **)&b->nodes, &b->cap_nodes, b->n_nodes + 1,
	    sizeof(*b->nodes));
	if (rc != 0)
		return rc;
	memset(&b->nodes[b->n_nodes], 0, sizeof(b->nodes[0]));
	fill_inode(&b->nodes[b->n_nodes].r, st);
	b->nodes[b->n_nodes].r.parent = S_ISDIR(st->st_mode) ? parent : 0;
	*ino_out = (uint32_t)++b->n_nodes;
	return 0;
}

static size_t
hlink_slot(const struct hlink *tab, size_t cap, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino * 0x9e3779b97f4a7c15ull) ^ (uint64_t)dev;
	size_t i;

	for (i = (size_t)(h >> 17) & (cap - 1); tab[i].img_ino != 0 &&
	     !(tab[i].dev == dev && tab[i].ino == ino); i = (i + 1) & (cap - 1))
		;
	return i;
}

/*
 * Finds the image inode of a file with several links already met, or
 * records this one as ino. An open-addressing table keyed by (st_dev,
 * st_ino), so trees with millions of hard links stay linear.
 */
static int
hlink_find_or_add(struct builder *b, const struct stat *st, uint32_t ino,
    uint32_t *found)
{
	size_t i;

	if ((b->n_links + 1) * 2 > b->cap_links) {
		size_t ncap = b->cap_links ? b->cap_links * 2 : 1024;
		struct hlink *nt = bt_calloc(ncap, sizeof(*nt));

		if (nt == NULL)
			return -ENOMEM;
		for (size_t j = 0; j < b->cap_links; j++) {
			if (b->links[j].img_ino != 0)
				nt[hlink_slot(nt, ncap, b->links[j].dev,
				    b->links[j].ino)] = b->links[j];
		}
		bt_free(b->links);
		b->links = nt;
		b->cap_links = ncap;
	}
	i = hlink_slot(b->links, b->cap_links, st->st_dev, st->st_ino);
	if (b->links[i].img_ino != 0) {
		*found = b->links[i].img_ino;
		return 0;
	}
	*found = 0;
	b->links[i] = (struct hlink){ .dev = st->st_dev, .ino = st->st_ino,
		.img_ino = ino };
	b->n_links++;
	return 0;
}

static void
ents_free(struct ent *es, size_t n)
{
	for (size_t i = 0; es != NULL && i < n; i++)
		bt_free(es[i].name);
	bt_free(es);
}

static int
path_push(struct builder *b, const char *name, size_t *mark)
{
	*mark = b->path.len;
	if (b->path.len > 0 && bt_dbuf_putc(&b->path, '/') != 0)
		return -ENOMEM;
	if (bt_dbuf_append(&b->path, name, strlen(name) + 1) != 0)
		return -ENOMEM;
	b->path.len--; /* keep the NUL past len */
	return 0;
}

static void
path_pop(struct builder *b, size_t mark)
{
	b->path.len = mark;
	if (b->path.ptr != NULL)
		b->path.ptr[mark] = '\0';
}

static int
visit(struct builder *b, int dirfd, uint32_t dir_ino, uint64_t base_dir,
    int depth)
{
	struct ent *es = NULL;
	size_t n = 0, cap = 0, mark;
	struct dirent *de;
	uint32_t first;
	DIR *d;
	int fd, rc = 0;

	if (depth > DEPTH_MAX)
		return fail(b, BT_ELIMIT, "folders nest too deep");
	fd = dup(dirfd);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = grow((void **)&es, &cap, n + 1, sizeof(*es));
		if (rc != 0)
			goto out;
		memset(&es[n], 0, sizeof(es[n]));
		es[n].len = strlen(de->d_name);
		es[n].name = bt_strndup(de->d_name, es[n].len);
		if (es[n].name == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (errno != 0) {
		rc = fail(b, -errno, "cannot list");
		goto out;
	}
	if (n > 0)
		qsort(es, n, sizeof(*es), ent_cmp);

	/* Number the entries and lay down this folder's dirents. */
	rc = grow((void **)&b->dirents, &b->cap_dirents, b->n_dirents + n,
	    sizeof(*b->dirents));
	if (rc != 0)
		goto out;
	first = (uint32_t)b->n_dirents;
	for (size_t i = 0; i < n; i++) {
		struct ent *e = &es[i];
		struct bt__img_dirent *dd;
		uint32_t other = 0;

		rc = path_push(b, e->name, &mark);
		if (rc != 0)
			goto out;
		if (fstatat(dirfd, e->name, &e->st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = fail(b, -errno, "cannot stat");
			goto out;
		}
		if (!S_ISDIR(e->st.st_mode) && e->st.st_nlink > 1) {
			rc = hlink_find_or_add(b, &e->st,
			    (uint32_t)b->n_nodes + 1, &other);
			if (rc != 0)
				goto out;
		}
		if (other != 0) {
			e->ino = other;
			b->nodes[other - 1].r.nlink++;
		} else {
			rc = node_new(b, &e->st, dir_ino, &e->ino);
			if (rc != 0)
				goto out;
			e->primary = true;
			if (S_ISDIR(e->st.st_mode))
				b->nodes[dir_ino - 1].r.nlink++;
		}
		dd = &b->dirents[b->n_dirents++];
		dd->ino = e->ino;
		dd->name_len = (uint32_t)e->len;
		rc = str_add(b, e->name, e->len, &dd->name_off);
		if (rc != 0)
			goto out;
		path_pop(b, mark);
	}
	b->nodes[dir_ino - 1].r.data_first = first;
	b->nodes[dir_ino - 1].r.data_n = (uint32_t)n;

	/* Then contents, in name order, descending into folders as met. */
	for (size_t i = 0; i < n; i++) {
		struct ent *e = &es[i];
		struct bt__img_inode *r;
		uint64_t base_ino = 0;
		uint32_t soff = 0;

		if (!e->primary)
			continue;
		rc = path_push(b, e->name, &mark);
		if (rc != 0)
			goto out;
		if (base_dir != 0 &&
		    bt_image_lookup(b->base, base_dir, e->name, e->len,
			&base_ino) != 0)
			base_ino = 0;
		rc = add_xattrs(b, dirfd, e->name, &b->nodes[e->ino - 1].r);
		if (rc != 0)
			goto out;
		r = &b->nodes[e->ino - 1].r;
		if (S_ISLNK(e->st.st_mode)) {
			char target[BT__IMG_LINK_MAX + 1];
			ssize_t len = readlinkat(dirfd, e->name, target,
			    sizeof(target));

			if (len < 0 || (size_t)len > BT__IMG_LINK_MAX) {
				rc = fail(b, len < 0 ? -errno : BT_ELIMIT,
				    "cannot read the link");
				goto out;
			}
			r->data_n = (uint32_t)len;
			r->size = (uint64_t)len;
			rc = str_add(b, target, (size_t)len, &soff);
			r->data_first = soff;
		} else if (S_ISREG(e->st.st_mode)) {
			struct bt_image_attr ba;

			if (base_ino != 0 &&
			    bt_image_getattr(b->base, base_ino, &ba) == 0 &&
			    S_ISREG(ba.mode) && ba.size == r->size &&
			    ba.mtime_ns == r->mtime_ns) {
				rc = reuse_file(b, base_ino, e->ino);
			} else {
				rc = add_file(b, dirfd, e->name, e->ino,
				    &e->st);
			}
		} else if (S_ISDIR(e->st.st_mode)) {
			int sub;
			struct bt_image_attr ba;

			if (base_ino != 0 &&
			    (bt_image_getattr(b->base, base_ino, &ba) != 0 ||
				!S_ISDIR(ba.mode)))
				base_ino = 0;
			if (e->st.st_dev != b->root_dev) {
				/* Another file system mounted here: keep
				 * the folder, not what is mounted on it. */
				path_pop(b, mark);
				continue;
			}
			sub = openat(dirfd, e->name, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				rc = fail(b, -errno, "cannot open");
				goto out;
			}
			rc = visit(b, sub, e->ino, base_ino, depth + 1);
			close(sub);
		}
		if (rc != 0)
			goto out;
		path_pop(b, mark);
	}
out:
	closedir(d);
	ents_free(es, n);
	return rc;
}

/* ------------------------------------------------------------ commit */

static int
bext_cmp(const void *a, const void *b)
{
	const struct bext *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->file_off < y->file_off ? -1 : x->file_off > y->file_off;
}

static const char *
host_arch(void)
{
	struct utsname u;

	if (uname(&u) != 0)
		return "amd64";
	if (strcmp(u.machine, "x86_64") == 0)
		return "amd64";
	if (strcmp(u.machine, "aarch64") == 0)
		return "arm64";
	return "amd64";
}

/* Writes a small blob (config, manifest, metadata) and describes it. */
static int
put_small(struct builder *b, const void *p, size_t len, const char *mt,
    struct bt__img_desc *d)
{
	int rc;

	memset(d, 0, sizeof(*d));
	snprintf(d->media_type, sizeof(d->media_type), "%s", mt);
	d->size = len;
	rc = bt__image_blob_put(b->blobs_dirfd, p, len, d->digest);
	if (rc != 0)
		bt_diag_set(b->diag, -1, "%s/blobs/sha256: cannot write a "
		    "%s blob: %s", b->layout, mt, bt_strerror(rc));
	return rc;
}

/*
 * The metadata blob is stored as one zstd frame when that is smaller (as
 * chunks are), which takes about three quarters off it; readers inflate
 * it into memory once at open, where it has exactly the uncompressed
 * layout. With --no-compress it stays raw, and so mmap-able as it is.
 */
static int
put_meta(struct builder *b, const struct bt_dbuf *meta,
    struct bt__img_desc *d)
{
	size_t cap = ZSTD_compressBound(meta->len), n;
	uint8_t *z;
	int rc;

	if (b->level == 0)
		return put_small(b, meta->ptr, meta->len, BT_IMAGE_MT_METADATA,
		    d);
	z = bt_alloc(cap);
	if (z == NULL)
		return -ENOMEM;
	n = ZSTD_compress(z, cap, meta->ptr, meta->len, b->level);
	if (ZSTD_isError(n) || n >= meta->len)
		rc = put_small(b, meta->ptr, meta->len, BT_IMAGE_MT_METADATA,
		    d);
	else
		rc = put_small(b, z, n, BT_IMAGE_MT_METADATA_ZSTD, d);
	bt_free(z);
	return rc;
}

static int
dump_json(json_t *j, char **out, size_t *len)
{
	size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *p;

	if (n == 0)
		return -ENOMEM;
	p = bt_alloc(n);
	if (p == NULL)
		return -ENOMEM;
	if (json_dumpb(j, p, n, JSON_COMPACT | JSON_PRESERVE_ORDER) != n) {
		bt_free(p);
		return -ENOMEM;
	}
	*out = p;
	*len = n;
	return 0;
}

static json_t *
desc_json(const struct bt__img_desc *d)
{
	char dg[BT_IMAGE_DIGEST_STRLEN];

	bt__image_digest_str(dg, d->digest);
	return json_pack("{s:s, s:s, s:I}", "mediaType", d->media_type,
	    "digest", dg, "size", (json_int_t)d->size);
}

static int
commit(struct builder *b, const char *tag, struct bt_image_build_result *res)
{
	struct bt__img_chunk *chunks = NULL;
	struct bt__img_extent *exts = NULL;
	struct bt__img_inode *inodes = NULL;
	struct bt__img_xattr *xattrs = NULL;
	struct bt__img_meta_src src;
	struct bt__img_desc mdesc, cdesc, fdesc;
	struct bt__img_index ix = { 0 };
	struct bt_dbuf meta;
	json_t *mf = NULL, *layers, *cfg = NULL;
	char *text = NULL;
	size_t n_chunks = 0, tlen;
	int rc;

	bt_dbuf_init(&meta, BT__IMG_DBUF_MAX);
	qsort(b->exts, b->n_exts, sizeof(*b->exts), bext_cmp);
	exts = bt_calloc(b->n_exts + 1, sizeof(*exts));
	chunks = bt_calloc(b->map_n + 1, sizeof(*chunks));
	inodes = bt_calloc(b->n_nodes, sizeof(*inodes));
	xattrs = bt_calloc(b->n_xattrs + 1, sizeof(*xattrs));
	if (exts == NULL || chunks == NULL || inodes == NULL ||
	    xattrs == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < b->n_nodes; i++)
		inodes[i] = b->nodes[i].r;
	for (size_t i = 0; i < b->n_exts; i++) {
		struct bext *x = &b->exts[i];
		struct centry *e = b->jobs[x->job];
		struct bt__img_inode *r = &inodes[x->ino - 1];

		if (e == NULL || !e->done) {
			rc = -EIO; /* a worker failed; b->err says why */
			goto out;
		}
		if (e->index == UINT32_MAX) {
			e->index = (uint32_t)n_chunks;
			memcpy(chunks[n_chunks].digest, e->stored, 32);
			memcpy(chunks[n_chunks].raw_digest, e->raw, 32);
			chunks[n_chunks].stored_len = e->stored_len;
			chunks[n_chunks].raw_len = e->raw_len;
			chunks[n_chunks].flags = e->flags;
			n_chunks++;
		}
		if (i == 0 || b->exts[i - 1].ino != x->ino)
			r->data_first = i;
		r->data_n++;
		exts[i] = (struct bt__img_extent){ .file_off = x->file_off,
			.chunk = e->index, .chunk_off = x->chunk_off,
			.len = x->len };
	}
	for (size_t i = 0; i < b->n_xattrs; i++) {
		xattrs[i] = (struct bt__img_xattr){
			.name_off = b->xattrs[i].name_off,
			.name_len = b->xattrs[i].name_len,
			.val_off = b->xattrs[i].val_off,
			.val_len = b->xattrs[i].val_len };
	}
	src = (struct bt__img_meta_src){ .inodes = inodes,
		.n_inodes = b->n_nodes, .dirents = b->dirents,
		.n_dirents = b->n_dirents, .extents = exts,
		.n_extents = b->n_exts, .xattrs = xattrs,
		.n_xattrs = b->n_xattrs, .chunks = chunks,
		.n_chunks = n_chunks, .strings = b->strings.ptr,
		.strings_len = b->strings.len };
	rc = bt__image_meta_encode(&meta, &src);
	if (rc != 0)
		goto out;
	rc = put_meta(b, &meta, &mdesc);
	if (rc != 0)
		goto out;

	/* A real OCI image config, so generic tools (skopeo inspect) can
	 * read the image; it has no diff_ids, since no layer is a tar. */
	cfg = json_pack("{s:s, s:s, s:{s:s, s:[]}, s:{}}", "architecture",
	    host_arch(), "os", "linux", "rootfs", "type", "layers",
	    "diff_ids", "config");
	rc = cfg != NULL ? dump_json(cfg, &text, &tlen) : -ENOMEM;
	if (rc != 0)
		goto out;
	rc = put_small(b, text, tlen, "application/vnd.oci.image.config.v1+json",
	    &cdesc);
	bt_free(text);
	text = NULL;
	if (rc != 0)
		goto out;

	mf = json_pack("{s:i, s:s, s:o, s:[o]}", "schemaVersion", 2,
	    "mediaType", "application/vnd.oci.image.manifest.v1+json",
	    "config", desc_json(&cdesc), "layers", desc_json(&mdesc));
	if (mf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	layers = json_object_get(mf, "layers");
	for (size_t i = 0; i < n_chunks; i++) {
		struct bt__img_desc d = { .size = chunks[i].stored_len };

		snprintf(d.media_type, sizeof(d.media_type), "%s",
		    chunks[i].flags & BT__IMG_CHUNK_ZSTD ?
			BT_IMAGE_MT_CHUNK_ZSTD : BT_IMAGE_MT_CHUNK);
		memcpy(d.digest, chunks[i].digest, 32);
		if (json_array_append_new(layers, desc_json(&d)) != 0) {
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = dump_json(mf, &text, &tlen);
	if (rc != 0)
		goto out;
	rc = put_small(b, text, tlen,
	    "application/vnd.oci.image.manifest.v1+json", &fdesc);
	if (rc != 0)
		goto out;

	/* Invariant 1: every blob durable before the tag points at them. */
	if (syncfs(b->blobs_dirfd) != 0) {
		rc = -errno;
		bt_diag_set(b->diag, -1, "%s: syncfs failed: %s", b->layout,
		    bt_strerror(rc));
		goto out;
	}
	rc = bt__image_index_load(&ix, b->layout, b->diag);
	if (rc != 0)
		goto out;
	rc = bt__image_index_set(b->layout, &ix, tag, &fdesc, b->diag);
	if (rc != 0)
		goto out;
	if (res != NULL) {
		bt__image_digest_str(res->digest, fdesc.digest);
		res->inodes = b->n_nodes;
		res->chunks = n_chunks;
		res->new_bytes = b->new_bytes + meta.len + tlen;
	}
out:
	bt__image_index_fini(&ix);
	json_decref(mf);
	json_decref(cfg);
	bt_free(text);
	bt_dbuf_fini(&meta);
	bt_free(exts);
	bt_free(chunks);
	bt_free(inodes);
	bt_free(xattrs);
	return rc;
}

/* ------------------------------------------------------------- build */

static void
builder_fini(struct builder *b)
{
	for (size_t i = 0; i < b->map_cap; i++)
		bt_free(b->map != NULL ? b->map[i] : NULL);
	bt_free(b->map);
	bt_free(b->jobs);
	bt_free(b->nodes);
	bt_free(b->dirents);
	bt_free(b->xattrs);
	bt_free(b->exts);
	bt_free(b->links);
	bt_free(b->segs);
	bt_free(b->sbuf);
	bt_dbuf_fini(&b->strings);
	bt_dbuf_fini(&b->path);
	bt_image_close(b->base);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv_work);
	pthread_cond_destroy(&b->cv_space);
	pthread_cond_destroy(&b->cv_idle);
}

int
bt_image_build(const char *rootfs, const char *layout, const char *tag,
    const struct bt_image_build_opts *opts, struct bt_image_build_result *out,
    struct bt_diag *diag)
{
	struct bt_image_build_result res = { 0 };
	struct builder b = { 0 };
	struct bt__img_index ix = { 0 };
	struct stat st;
	char *bdir = NULL, *chk_layout = NULL, *chk_tag = NULL;
	struct bt_dbuf ref;
	int rootfd = -1, lock = -1, rc, base_i;
	uint32_t root_ino;

	bt_dbuf_init(&ref, 8192);
	if (bt_dbuf_printf(&ref, "x:%s", tag) != 0 ||
	    bt_image_ref_parse((const char *)ref.ptr, &chk_layout,
		&chk_tag) != 0) {
		bt_dbuf_fini(&ref);
		bt_diag_set(diag, -1, "'%s' is not a valid tag (letters, "
		    "digits, '.', '_', '-'; at most 128)", tag);
		return -EINVAL;
	}
	bt_dbuf_fini(&ref);
	bt_free(chk_layout);
	bt_free(chk_tag);
	if (opts != NULL && (opts->compress_level < 0 ||
				opts->compress_level > ZSTD_maxCLevel())) {
		bt_diag_set(diag, -1, "compression level %d is not in 0..%d",
		    opts->compress_level, ZSTD_maxCLevel());
		return -EINVAL;
	}
	pthread_mutex_init(&b.mu, NULL);
	pthread_cond_init(&b.cv_work, NULL);
	pthread_cond_init(&b.cv_space, NULL);
	pthread_cond_init(&b.cv_idle, NULL);
	bt_dbuf_init(&b.strings, (size_t)UINT32_MAX);
	bt_dbuf_init(&b.path, 1 << 20);
	b.level = opts != NULL ? opts->compress_level : 3;
	b.layout = layout;
	b.diag = diag;
	b.blobs_dirfd = -1;
	if (opts != NULL) {
		b.progress = opts->progress;
		b.progress_arg = opts->progress_arg;
	}

	rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || fstat(rootfd, &st) != 0) {
		rc = -errno;
		bt_diag_set(diag, -1, "%s: %s", rootfs, bt_strerror(rc));
		goto out;
	}
	b.root_dev = st.st_dev;
	rc = bt__image_layout_init(layout, diag);
	if (rc != 0)
		goto out;
	lock = bt__image_layout_lock(layout, diag);
	if (lock < 0) {
		rc = lock;
		goto out;
	}
	bdir = bt_alloc(strlen(layout) + 16);
	if (bdir == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(bdir, strlen(layout) + 16, "%s/blobs/sha256", layout);
	b.blobs_dirfd = open(bdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b.blobs_dirfd < 0) {
		rc = -errno;
		bt_diag_set(diag, -1, "%s: %s", bdir, bt_strerror(rc));
		goto out;
	}
	rc = bt__image_index_load(&ix, layout, diag);
	if (rc != 0)
		goto out;
	if (opts != NULL && opts->base_tag != NULL) {
		base_i = bt__image_index_find(&ix, opts->base_tag);
		if (base_i < 0) {
			bt_diag_set(diag, -1, "%s has no base tag '%s'",
			    layout, opts->base_tag);
			rc = -ENOENT;
			goto out;
		}
		rc = bt__image_open_tag(&b.base, layout, &ix.tags[base_i].desc,
		    NULL, 1, diag);
		if (rc != 0)
			goto out;
	}
	rc = map_preload(&b, &ix);
	if (rc != 0)
		goto out;
	b.sbuf = bt_alloc(STREAM_CAP);
	if (b.sbuf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = pool_start(&b, opts != NULL && opts->threads ? opts->threads : 2);
	if (rc != 0)
		goto out_pool;

	rc = node_new(&b, &st, 1, &root_ino);
	if (rc != 0)
		goto out_pool;
	b.nodes[0].r.parent = 1;
	b.nodes[0].r.nlink = 2;
	rc = add_xattrs(&b, rootfd, ".", &b.nodes[0].r);
	if (rc == 0)
		rc = visit(&b, rootfd, root_ino, b.base != NULL ?
		    BT_IMAGE_ROOT_INO : 0, 0);
	if (rc == 0)
		rc = stream_cut(&b, true);
	if (rc == 0)
		rc = pool_drain(&b);
	if (rc != 0) {
		pthread_mutex_lock(&b.mu);
		if (b.err != 0 && diag != NULL)
			bt_diag_set(diag, -1, "%s: %s", b.errmsg,
			    bt_strerror(b.err));
		if (b.err != 0)
			rc = b.err;
		pthread_mutex_unlock(&b.mu);
		goto out_pool;
	}
	report(&b, true);
	rc = commit(&b, tag, &res);
	if (rc != 0)
		goto out_pool;
	res.files = b.prog.files;
	res.bytes = b.prog.bytes;
	res.new_chunks = b.new_chunks;
	res.dedup_bytes = b.dedup_bytes;
	res.reused_files = b.reused_files;
	if (out != NULL)
		*out = res;
out_pool:
	pool_stop(&b);
out:
	bt__image_index_fini(&ix);
	if (b.blobs_dirfd >= 0)
		close(b.blobs_dirfd);
	if (lock >= 0)
		close(lock);
	if (rootfd >= 0)
		close(rootfd);
	bt_free(bdir);
	builder_fini(&b);
	return rc;
}
