/*
 * image.c: opening a tag and reading it (lookups, reads, xattrs), and the
 * layout-wide operations: list, inspect, verify, rm, gc (image/; called by
 * cmd/bt/cmd_image.c and the FUSE adapter in fuse/).
 *
 * Inodes are served straight from the metadata tables held in memory: an
 * inode is an O(1) fixed-width record (the "inode cache" is the table
 * itself; there is nothing to decode or search), a name is a binary
 * search of its folder's sorted entries, an offset a binary search of the
 * file's extents. File data comes through the chunk cache (chunk.c).
 *
 * The metadata blob is read into memory once and checked against its
 * digest there, rather than mmapped: a map of a file can change under the
 * reader after the check, a private copy cannot. The format is still laid
 * out for mmap (fixed-width records at computed offsets).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <zstd.h>

#include "bt/crypto.h"
#include "bt/os.h"
#include "image_int.h"

#define CACHE_DEFAULT ((size_t)64 << 20)

static char *
path_join(const char *a, const char *b)
{
	struct bt_dbuf d;

	bt_dbuf_init(&d, 8192);
	if (bt_dbuf_printf(&d, "%s/%s", a, b) != 0) {
		bt_dbuf_fini(&d);
		return NULL;
	}
	return (char *)bt_dbuf_take(&d, NULL);
}

void
bt_image_close(bt_image *img)
{
	if (img == NULL)
		return;
	bt__image_cache_free(img->cache);
	if (img->blobs_dirfd >= 0)
		close(img->blobs_dirfd);
	bt__image_manifest_fini(&img->manifest);
	bt_free(img->meta_buf);
	bt_free(img->layout);
	bt_free(img);
}

static int
meta_adopt(bt_image *img, uint8_t *buf, size_t len, struct bt_diag *diag)
{
	struct bt__img_inode root;
	int rc;

	rc = bt__image_meta_parse(&img->meta, buf, len, diag);
	if (rc != 0)
		return rc;
	rc = bt__image_meta_inode(&img->meta, BT_IMAGE_ROOT_INO, &root);
	if (rc != 0 || !S_ISDIR(root.mode)) {
		bt_diag_set(diag, -1, "image metadata: inode 1 is not a "
				      "well-formed folder");
		return BT_ECORRUPT;
	}
	img->meta_buf = buf;
	img->meta_len = len;
	return 0;
}

int
bt_image_open_meta(bt_image **out, const void *meta, size_t len,
    struct bt_diag *diag)
{
	bt_image *img;
	uint8_t *buf;
	int rc;

	img = bt_zalloc(sizeof(*img));
	buf = bt_memdup(meta, len);
	if (img == NULL || buf == NULL) {
		bt_free(img);
		bt_free(buf);
		return -ENOMEM;
	}
	img->blobs_dirfd = -1;
	rc = meta_adopt(img, buf, len, diag);
	if (rc != 0) {
		bt_free(buf);
		bt_image_close(img);
		return rc;
	}
	*out = img;
	return 0;
}

bool
bt__image_is_meta_mt(const char *mt)
{
	return strcmp(mt, BT_IMAGE_MT_METADATA) == 0 ||
	    strcmp(mt, BT_IMAGE_MT_METADATA_ZSTD) == 0;
}

/* Replaces *buf (the verified blob) by the metadata it holds. */
static int
meta_inflate(const struct bt__img_desc *d, uint8_t **buf, size_t *len,
    struct bt_diag *diag)
{
	unsigned long long n;
	uint8_t *raw;
	size_t got;

	if (strcmp(d->media_type, BT_IMAGE_MT_METADATA) == 0) {
		*len = d->size;
		return 0;
	}
	n = ZSTD_getFrameContentSize(*buf, d->size);
	if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN ||
	    n == 0 || n > BT__IMG_META_MAX) {
		bt_diag_set(diag, -1, "image metadata: the zstd frame has no "
				      "valid size (at most 2 GiB)");
		return BT_ECORRUPT;
	}
	raw = bt_alloc(n);
	if (raw == NULL)
		return -ENOMEM;
	got = ZSTD_decompress(raw, n, *buf, d->size);
	if (ZSTD_isError(got) || got != n) {
		bt_diag_set(diag, -1, "image metadata: does not decompress "
		    "(%s)", ZSTD_isError(got) ? ZSTD_getErrorName(got) :
						"short");
		bt_free(raw);
		return BT_ECORRUPT;
	}
	bt_free(*buf);
	*buf = raw;
	*len = n;
	return 0;
}

int
bt__image_open_tag(bt_image **out, const char *layout,
    const struct bt__img_desc *mdesc, const uint8_t *pin, size_t cache_bytes,
    struct bt_diag *diag)
{
	char dg[BT_IMAGE_DIGEST_STRLEN], pg[BT_IMAGE_DIGEST_STRLEN];
	uint8_t *mbuf = NULL, *meta = NULL;
	bt_image *img;
	char *bdir = NULL;
	size_t mlen;
	int rc;

	bt__image_digest_str(dg, mdesc->digest);
	if (pin != NULL && memcmp(pin, mdesc->digest, BT__IMG_DIGEST_LEN)) {
		bt__image_digest_str(pg, pin);
		bt_diag_set(diag, -1, "the tag's manifest is %s, not the "
		    "pinned %s", dg, pg);
		return BT_ECORRUPT;
	}
	img = bt_zalloc(sizeof(*img));
	if (img == NULL)
		return -ENOMEM;
	img->blobs_dirfd = -1;
	memcpy(img->digest, dg, sizeof(dg));
	img->layout = bt_strdup(layout);
	bdir = path_join(layout, "blobs/sha256");
	if (img->layout == NULL || bdir == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	rc = bt__image_blob_load(layout, mdesc, BT__IMG_JSON_MAX, &mbuf, diag);
	if (rc != 0)
		goto err;
	img->manifest_len = mdesc->size;
	rc = bt__image_manifest_parse(&img->manifest, mbuf, mdesc->size,
	    diag);
	if (rc != 0)
		goto err;
	if (img->manifest.n_layers == 0 ||
	    !bt__image_is_meta_mt(img->manifest.layers[0].media_type)) {
		bt_diag_set(diag, -1, "manifest %s: its first layer is not "
		    "%s (not a Blocktree image)", dg, BT_IMAGE_MT_METADATA);
		rc = BT_EUNSUPPORTED;
		goto err;
	}
	rc = bt__image_blob_load(layout, &img->manifest.layers[0],
	    BT__IMG_META_MAX, &meta, diag);
	if (rc != 0)
		goto err;
	rc = meta_inflate(&img->manifest.layers[0], &meta, &mlen, diag);
	if (rc != 0)
		goto err;
	rc = meta_adopt(img, meta, mlen, diag);
	if (rc != 0)
		goto err;
	meta = NULL;
	img->blobs_dirfd = open(bdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (img->blobs_dirfd < 0) {
		rc = -errno;
		bt_diag_set(diag, -1, "%s: %s", bdir, bt_strerror(rc));
		goto err;
	}
	rc = bt__image_cache_new(&img->cache,
	    cache_bytes ? cache_bytes : CACHE_DEFAULT, img->meta.n_chunks);
	if (rc != 0)
		goto err;
	bt_free(mbuf);
	bt_free(bdir);
	*out = img;
	return 0;
err:
	bt_free(meta);
	bt_free(mbuf);
	bt_free(bdir);
	bt_image_close(img);
	return rc;
}

int
bt_image_open(bt_image **out, const char *layout, const char *tag,
    const struct bt_image_open_opts *opts, struct bt_diag *diag)
{
	uint8_t pin[BT__IMG_DIGEST_LEN];
	struct bt__img_index ix;
	int rc, i;

	if (opts != NULL && opts->digest != NULL &&
	    bt__image_digest_parse(pin, opts->digest, true) != 0) {
		bt_diag_set(diag, -1, "--digest '%s' is not sha256:<64 hex "
		    "digits>", opts->digest);
		return -EINVAL;
	}
	rc = bt__image_index_load(&ix, layout, diag);
	if (rc != 0)
		return rc;
	i = bt__image_index_find(&ix, tag);
	if (i < 0) {
		bt_diag_set(diag, -1, "%s has no tag '%s'", layout, tag);
		bt__image_index_fini(&ix);
		return -ENOENT;
	}
	rc = bt__image_open_tag(out, layout, &ix.tags[i].desc,
	    opts != NULL && opts->digest != NULL ? pin : NULL,
	    opts != NULL ? opts->cache_bytes : 0, diag);
	bt__image_index_fini(&ix);
	return rc;
}

const char *
bt_image_digest(const bt_image *img)
{
	return img->digest;
}

uint64_t
bt_image_ninodes(const bt_image *img)
{
	return img->meta.n_inodes;
}

/* ----------------------------------------------------------- lookups */

int
bt_image_getattr(bt_image *img, uint64_t ino, struct bt_image_attr *out)
{
	struct bt__img_inode r;
	struct bt__img_extent ex;
	uint64_t stored = 0;
	int rc;

	rc = bt__image_meta_inode(&img->meta, ino, &r);
	if (rc != 0)
		return rc;
	if (S_ISREG(r.mode)) {
		/* Allocated size = what extents cover; holes are free. */
		for (uint64_t i = 0; i < r.data_n; i++) {
			if (bt__image_meta_extent(&img->meta, &r, i, &ex) == 0)
				stored += ex.len;
		}
	} else {
		stored = r.size;
	}
	memset(out, 0, sizeof(*out));
	out->ino = ino;
	out->mode = r.mode;
	out->uid = r.uid;
	out->gid = r.gid;
	out->nlink = r.nlink;
	out->size = r.size;
	out->blocks = (stored + 511) / 512;
	out->mtime_ns = r.mtime_ns;
	out->ctime_ns = r.ctime_ns;
	out->rdev_major = r.rdev_major;
	out->rdev_minor = r.rdev_minor;
	return 0;
}

static int
dir_inode(bt_image *img, uint64_t dir, struct bt__img_inode *r)
{
	int rc = bt__image_meta_inode(&img->meta, dir, r);

	if (rc != 0)
		return rc;
	return S_ISDIR(r->mode) ? 0 : -ENOTDIR;
}

int
bt_image_lookup(bt_image *img, uint64_t dir, const void *name, size_t len,
    uint64_t *ino_out)
{
	struct bt__img_inode r;
	struct bt__img_dirent de;
	struct bt_buf n;
	uint64_t lo = 0, hi;
	int rc, c;

	rc = dir_inode(img, dir, &r);
	if (rc != 0)
		return rc;
	hi = r.data_n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		rc = bt__image_meta_dirent(&img->meta, &r, mid, &de, &n);
		if (rc != 0)
			return rc;
		c = bt__image_name_cmp(n.ptr, n.len, name, len);
		if (c == 0) {
			*ino_out = de.ino;
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

int
bt_image_readdir(bt_image *img, uint64_t dir, uint64_t index,
    struct bt_image_dirent *out)
{
	struct bt__img_inode r;
	struct bt__img_dirent de;
	struct bt_buf n;
	int rc;

	rc = dir_inode(img, dir, &r);
	if (rc != 0)
		return rc;
	if (index >= r.data_n)
		return 1;
	rc = bt__image_meta_dirent(&img->meta, &r, index, &de, &n);
	if (rc != 0)
		return rc;
	out->ino = de.ino;
	out->name = n;
	return 0;
}

int
bt_image_parent(bt_image *img, uint64_t dir, uint64_t *out)
{
	struct bt__img_inode r;
	int rc = dir_inode(img, dir, &r);

	if (rc != 0)
		return rc;
	*out = r.parent;
	return 0;
}

int
bt_image_readlink(bt_image *img, uint64_t ino, struct bt_buf *out)
{
	struct bt__img_inode r;
	int rc = bt__image_meta_inode(&img->meta, ino, &r);

	if (rc != 0)
		return rc;
	return bt__image_meta_link(&img->meta, &r, out);
}

int
bt_image_xattr_at(bt_image *img, uint64_t ino, uint64_t index,
    struct bt_buf *name, struct bt_buf *value)
{
	struct bt__img_inode r;
	int rc = bt__image_meta_inode(&img->meta, ino, &r);

	if (rc != 0)
		return rc;
	if (index >= r.xattr_n)
		return 1;
	return bt__image_meta_xattr(&img->meta, &r, index, name, value);
}

int
bt_image_xattr_get(bt_image *img, uint64_t ino, const void *name, size_t len,
    struct bt_buf *out)
{
	struct bt__img_inode r;
	struct bt_buf n, v;
	uint64_t lo = 0, hi;
	int rc, c;

	rc = bt__image_meta_inode(&img->meta, ino, &r);
	if (rc != 0)
		return rc;
	hi = r.xattr_n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		rc = bt__image_meta_xattr(&img->meta, &r, mid, &n, &v);
		if (rc != 0)
			return rc;
		c = bt__image_name_cmp(n.ptr, n.len, name, len);
		if (c == 0) {
			*out = v;
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENODATA;
}

/* -------------------------------------------------------------- read */

ssize_t
bt_image_read(bt_image *img, uint64_t ino, void *buf, size_t len,
    uint64_t off, struct bt_diag *diag)
{
	const struct bt__img_meta *m = &img->meta;
	struct bt__img_inode r;
	struct bt__img_extent ex;
	struct bt__img_cent *e;
	const uint8_t *data;
	uint8_t *dst = buf;
	uint64_t pos, end, lo, hi, i;
	int rc;

	rc = bt__image_meta_inode(m, ino, &r);
	if (rc != 0)
		return rc;
	if (S_ISDIR(r.mode))
		return -EISDIR;
	if (!S_ISREG(r.mode))
		return -EINVAL;
	if (off >= r.size || len == 0)
		return 0;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	end = r.size - off < len ? r.size : off + len;
	/* The last extent that starts at or before off. */
	lo = 0;
	hi = r.data_n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		rc = bt__image_meta_extent(m, &r, mid, &ex);
		if (rc != 0)
			return rc;
		if (ex.file_off <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	i = lo > 0 ? lo - 1 : 0;
	pos = off;
	while (pos < end) {
		uint64_t n;

		if (i >= r.data_n) {
			memset(dst + (pos - off), 0, end - pos);
			break;
		}
		rc = bt__image_meta_extent(m, &r, i, &ex);
		if (rc != 0)
			return rc;
		if (ex.file_off + ex.len <= pos) {
			i++;
			continue;
		}
		if (ex.file_off > pos) {
			/* A hole up to the next extent. */
			n = (ex.file_off < end ? ex.file_off : end) - pos;
			memset(dst + (pos - off), 0, n);
			pos += n;
			continue;
		}
		if (img->cache == NULL)
			return -ENXIO;
		rc = bt__image_chunk_get(img->cache, img->blobs_dirfd, m,
		    ex.chunk, &e, &data, diag);
		if (rc != 0)
			return rc;
		n = ex.file_off + ex.len - pos;
		if (n > end - pos)
			n = end - pos;
		{
			struct bt__img_chunk ch;

			/* The extent must lie inside the chunk as loaded. */
			if (bt__image_meta_chunk(m, ex.chunk, &ch) != 0 ||
			    (uint64_t)ex.chunk_off + ex.len > ch.raw_len) {
				bt__image_chunk_rele(img->cache, e);
				bt_diag_set(diag, -1, "image metadata: an "
				    "extent of inode %llu runs past its chunk",
				    (unsigned long long)ino);
				return BT_ECORRUPT;
			}
		}
		memcpy(dst + (pos - off),
		    data + ex.chunk_off + (pos - ex.file_off), n);
		bt__image_chunk_rele(img->cache, e);
		pos += n;
		i++;
	}
	return (ssize_t)(end - off);
}

/* ------------------------------------------------------------ verify */

static int
digest_cmp(const void *a, const void *b)
{
	return memcmp(a, b, BT__IMG_DIGEST_LEN);
}

static bool
digest_in(const uint8_t *set, size_t n, const uint8_t *d)
{
	return n > 0 && bsearch(d, set, n, BT__IMG_DIGEST_LEN, digest_cmp);
}

int
bt_image_verify(bt_image *img, bt_image_bad_cb *bad_cb, void *arg,
    uint64_t *nbad_out, struct bt_diag *diag)
{
	struct bt__img_manifest *mf = &img->manifest;
	struct bt__img_chunk ch;
	struct bt_diag d;
	uint8_t *layers = NULL, *buf = NULL;
	char dg[BT_IMAGE_DIGEST_STRLEN], msg[300];
	uint64_t nbad = 0;
	int rc;

	if (img->blobs_dirfd < 0)
		return -ENXIO;
	rc = bt__image_meta_check_all(&img->meta, diag);
	if (rc != 0)
		return rc;
	rc = bt__image_blob_load(img->layout, &mf->config, 1 << 20, &buf, &d);
	if (rc != 0) {
		if (bad_cb != NULL)
			bad_cb(arg, d.msg);
		nbad++;
	}
	bt_free(buf);
	buf = NULL;
	layers = bt_calloc(mf->n_layers + 1, BT__IMG_DIGEST_LEN);
	if (layers == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < mf->n_layers; i++)
		memcpy(layers + i * BT__IMG_DIGEST_LEN, mf->layers[i].digest,
		    BT__IMG_DIGEST_LEN);
	qsort(layers, mf->n_layers, BT__IMG_DIGEST_LEN, digest_cmp);
	for (uint64_t i = 0; i < img->meta.n_chunks; i++) {
		rc = bt__image_meta_chunk(&img->meta, i, &ch);
		if (rc != 0)
			goto out;
		bt__image_digest_str(dg, ch.digest);
		if (!digest_in(layers, mf->n_layers, ch.digest)) {
			snprintf(msg, sizeof(msg), "chunk blob %s is not "
			    "listed in the manifest (OCI tools would not copy "
			    "it)", dg);
			if (bad_cb != NULL)
				bad_cb(arg, msg);
			nbad++;
		}
		bt_diag_clear(&d);
		rc = bt__image_chunk_load(img->blobs_dirfd, &ch, &buf, true,
		    &d);
		if (rc == -ENOMEM)
			goto out;
		if (rc != 0) {
			if (bad_cb != NULL)
				bad_cb(arg, d.msg);
			nbad++;
		}
		bt_free(buf);
		buf = NULL;
	}
	rc = nbad > 0 ? BT_ECORRUPT : 0;
	if (rc != 0)
		bt_diag_set(diag, -1, "%llu damaged or missing blob(s)",
		    (unsigned long long)nbad);
	if (nbad_out != NULL)
		*nbad_out = nbad;
out:
	bt_free(layers);
	return rc;
}

/* ------------------------------------------------------------- inspect */

/* Collects every chunk digest of every tag but skip (sorted). */
static int
other_digests(const char *layout, const struct bt__img_index *ix,
    const char *skip, uint8_t **out, size_t *n_out)
{
	struct bt__img_chunk ch;
	struct bt_dbuf set;
	bt_image *o;
	int rc;

	bt_dbuf_init(&set, BT__IMG_DBUF_MAX);
	for (size_t t = 0; t < ix->n_tags; t++) {
		if (ix->tags[t].name != NULL &&
		    strcmp(ix->tags[t].name, skip) == 0)
			continue;
		/* Tags that are not ours, or damaged, share nothing we can
		 * count; inspect is a report, not a check. */
		if (bt__image_open_tag(&o, layout, &ix->tags[t].desc, NULL, 1,
			NULL) != 0)
			continue;
		for (uint64_t i = 0; i < o->meta.n_chunks; i++) {
			if (bt__image_meta_chunk(&o->meta, i, &ch) != 0)
				continue;
			rc = bt_dbuf_append(&set, ch.digest, BT__IMG_DIGEST_LEN);
			if (rc != 0) {
				bt_image_close(o);
				bt_dbuf_fini(&set);
				return rc;
			}
		}
		bt_image_close(o);
	}
	*n_out = set.len / BT__IMG_DIGEST_LEN;
	if (*n_out > 0)
		qsort(set.ptr, *n_out, BT__IMG_DIGEST_LEN, digest_cmp);
	*out = set.ptr;
	return 0;
}

int
bt_image_inspect(const char *layout, const char *tag,
    struct bt_image_stats *out, struct bt_diag *diag)
{
	struct bt_image_stats s = { 0 };
	struct bt__img_index ix;
	struct bt__img_inode r;
	struct bt__img_chunk ch;
	uint8_t *others = NULL;
	size_t n_others = 0;
	bt_image *img = NULL;
	int rc, t;

	rc = bt__image_index_load(&ix, layout, diag);
	if (rc != 0)
		return rc;
	t = bt__image_index_find(&ix, tag);
	if (t < 0) {
		bt_diag_set(diag, -1, "%s has no tag '%s'", layout, tag);
		rc = -ENOENT;
		goto out;
	}
	rc = bt__image_open_tag(&img, layout, &ix.tags[t].desc, NULL, 1, diag);
	if (rc != 0)
		goto out;
	rc = other_digests(layout, &ix, tag, &others, &n_others);
	if (rc != 0)
		goto out;
	s.inodes = img->meta.n_inodes;
	s.entries = img->meta.n_dirents + 1;
	for (uint64_t i = 1; i <= img->meta.n_inodes; i++) {
		if (bt__image_meta_inode(&img->meta, i, &r) != 0) {
			bt_diag_set(diag, -1, "image metadata: inode %llu is "
			    "malformed", (unsigned long long)i);
			rc = BT_ECORRUPT;
			goto out;
		}
		if (S_ISREG(r.mode)) {
			s.files++;
			s.logical_bytes += r.size;
		} else if (S_ISDIR(r.mode)) {
			s.dirs++;
		} else if (S_ISLNK(r.mode)) {
			s.symlinks++;
		} else {
			s.others++;
		}
	}
	for (uint64_t i = 0; i < img->meta.n_chunks; i++) {
		if (bt__image_meta_chunk(&img->meta, i, &ch) != 0) {
			rc = BT_ECORRUPT;
			goto out;
		}
		s.chunks++;
		s.chunk_bytes += ch.stored_len;
		if (ch.flags & BT__IMG_CHUNK_ZSTD)
			s.zstd_chunks++;
		if (digest_in(others, n_others, ch.digest))
			s.shared_bytes += ch.stored_len;
	}
	s.meta_bytes = img->manifest.layers[0].size; /* as stored */
	s.stored_bytes = s.chunk_bytes + s.meta_bytes + img->manifest_len +
	    img->manifest.config.size;
	*out = s;
	rc = 0;
out:
	bt_free(others);
	bt_image_close(img);
	bt__image_index_fini(&ix);
	return rc;
}

/* ---------------------------------------------------------------- ls */

int
bt_image_list(const char *layout, bt_image_tag_cb *cb, void *arg,
    struct bt_diag *diag)
{
	struct bt__img_manifest mf;
	struct bt__img_index ix;
	struct bt_image_tag t;
	char dg[BT_IMAGE_DIGEST_STRLEN];
	uint8_t *buf;
	int rc = 0;

	rc = bt__image_index_load(&ix, layout, diag);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < ix.n_tags && rc == 0; i++) {
		if (ix.tags[i].name == NULL)
			continue;
		bt__image_digest_str(dg, ix.tags[i].desc.digest);
		memset(&mf, 0, sizeof(mf));
		if (bt__image_blob_load(layout, &ix.tags[i].desc,
			BT__IMG_JSON_MAX, &buf, NULL) == 0) {
			if (bt__image_manifest_parse(&mf, buf,
				ix.tags[i].desc.size, NULL) != 0)
				memset(&mf, 0, sizeof(mf));
			bt_free(buf);
		}
		t.name = ix.tags[i].name;
		t.digest = dg;
		t.manifest_size = ix.tags[i].desc.size;
		t.created = mf.created;
		rc = cb(arg, &t);
		bt__image_manifest_fini(&mf);
	}
	bt__image_index_fini(&ix);
	return rc;
}

/* ---------------------------------------------------------------- rm */

int
bt_image_rm(const char *layout, const char *tag, struct bt_diag *diag)
{
	struct bt__img_index ix;
	int lock, rc;

	lock = bt__image_layout_lock(layout, diag);
	if (lock < 0)
		return lock;
	rc = bt__image_index_load(&ix, layout, diag);
	if (rc == 0) {
		rc = bt__image_index_set(layout, &ix, tag, NULL, diag);
		if (rc == -ENOENT)
			bt_diag_set(diag, -1, "%s has no tag '%s'", layout,
			    tag);
		bt__image_index_fini(&ix);
	}
	close(lock);
	return rc;
}

/* ---------------------------------------------------------------- gc */

#define MT_INDEX    "application/vnd.oci.image.index.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_M "application/vnd.docker.distribution.manifest.v2+json"

static int mark_desc(const char *layout, const struct bt__img_desc *d,
    struct bt_dbuf *live, int depth, struct bt_diag *diag);

static int
mark_index(const char *layout, const struct bt__img_index *ix,
    struct bt_dbuf *live, int depth, struct bt_diag *diag)
{
	int rc;

	for (size_t i = 0; i < ix->n_tags; i++) {
		rc = mark_desc(layout, &ix->tags[i].desc, live, depth + 1,
		    diag);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
mark_desc(const char *layout, const struct bt__img_desc *d,
    struct bt_dbuf *live, int depth, struct bt_diag *diag)
{
	struct bt__img_manifest mf = { 0 };
	struct bt__img_index sub;
	struct bt__img_chunk ch;
	bt_image *img;
	uint8_t *buf = NULL;
	int rc;

	if (depth > 8) {
		bt_diag_set(diag, -1, "gc: image indexes nest too deep");
		return BT_ELIMIT;
	}
	rc = bt_dbuf_append(live, d->digest, BT__IMG_DIGEST_LEN);
	if (rc != 0)
		return rc;
	if (strcmp(d->media_type, MT_INDEX) == 0) {
		rc = bt__image_blob_load(layout, d, BT__IMG_JSON_MAX, &buf,
		    diag);
		if (rc == 0)
			rc = bt__image_index_parse(&sub, buf, d->size, diag);
		bt_free(buf);
		if (rc != 0)
			goto refuse;
		rc = mark_index(layout, &sub, live, depth, diag);
		bt__image_index_fini(&sub);
		return rc;
	}
	if (d->media_type[0] != '\0' && strcmp(d->media_type, MT_MANIFEST) &&
	    strcmp(d->media_type, MT_DOCKER_M)) {
		bt_diag_set(diag, -1, "gc: index names a %s; not knowing "
		    "what it needs, gc refuses to delete anything",
		    d->media_type);
		return BT_EUNSUPPORTED;
	}
	rc = bt__image_blob_load(layout, d, BT__IMG_JSON_MAX, &buf, diag);
	if (rc == 0)
		rc = bt__image_manifest_parse(&mf, buf, d->size, diag);
	bt_free(buf);
	if (rc != 0)
		goto refuse;
	rc = bt_dbuf_append(live, mf.config.digest, BT__IMG_DIGEST_LEN);
	for (size_t i = 0; i < mf.n_layers && rc == 0; i++)
		rc = bt_dbuf_append(live, mf.layers[i].digest,
		    BT__IMG_DIGEST_LEN);
	if (rc != 0)
		goto out;
	if (mf.n_layers > 0 && bt__image_is_meta_mt(mf.layers[0].media_type)) {
		/* Ours: the metadata, not the layer list, is what reads
		 * need, so its chunks are the ones to keep. */
		rc = bt__image_open_tag(&img, layout, d, NULL, 1, diag);
		if (rc != 0)
			goto refuse;
		for (uint64_t i = 0; i < img->meta.n_chunks && rc == 0; i++) {
			rc = bt__image_meta_chunk(&img->meta, i, &ch);
			if (rc == 0)
				rc = bt_dbuf_append(live, ch.digest,
				    BT__IMG_DIGEST_LEN);
		}
		bt_image_close(img);
		if (rc != 0)
			goto out;
	}
	rc = 0;
	goto out;
refuse:
	if (diag != NULL) {
		char msg[sizeof(diag->msg)];

		snprintf(msg, sizeof(msg), "%s", diag->msg);
		bt_diag_set(diag, -1, "gc refuses to run: %s", msg);
	}
	rc = rc == 0 ? BT_ECORRUPT : rc;
out:
	bt__image_manifest_fini(&mf);
	return rc;
}

int
bt_image_gc(const char *layout, struct bt_image_gc_result *out,
    struct bt_diag *diag)
{
	struct bt_image_gc_result res = { 0 };
	struct bt__img_index ix = { 0 };
	struct bt_dbuf live;
	struct dirent *de;
	uint8_t d[BT__IMG_DIGEST_LEN];
	char *bdir = NULL;
	DIR *dir = NULL;
	size_t n_live;
	int lock, rc;

	bt_dbuf_init(&live, BT__IMG_DBUF_MAX);
	lock = bt__image_layout_lock(layout, diag);
	if (lock < 0)
		return lock;
	/* index.json as it is on disk now is the whole truth: rm replaced
	 * it atomically (and durably) before gc could run, and builds take
	 * the same lock, so no blob a tag needs can be missing from it. */
	rc = bt__image_index_load(&ix, layout, diag);
	if (rc != 0)
		goto out;
	rc = mark_index(layout, &ix, &live, 0, diag);
	if (rc != 0)
		goto out;
	n_live = live.len / BT__IMG_DIGEST_LEN;
	if (n_live > 0)
		qsort(live.ptr, n_live, BT__IMG_DIGEST_LEN, digest_cmp);
	bdir = path_join(layout, "blobs/sha256");
	if (bdir == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	dir = opendir(bdir);
	if (dir == NULL) {
		rc = -errno;
		bt_diag_set(diag, -1, "%s: %s", bdir, bt_strerror(rc));
		goto out;
	}
	while ((de = readdir(dir)) != NULL) {
		struct stat st;
		bool tmp = strncmp(de->d_name, ".bt-tmp-", 8) == 0;

		if (!tmp && bt__image_digest_parse(d, de->d_name, true) != 0)
			continue; /* not ours to judge */
		if (!tmp && digest_in(live.ptr, n_live, d)) {
			res.kept++;
			continue;
		}
		if (fstatat(dirfd(dir), de->d_name, &st,
			AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (unlinkat(dirfd(dir), de->d_name, 0) != 0) {
			rc = -errno;
			bt_diag_set(diag, -1, "%s/%s: cannot remove: %s", bdir,
			    de->d_name, bt_strerror(rc));
			goto out;
		}
		res.removed++;
		res.removed_bytes += (uint64_t)st.st_size;
	}
	rc = bt_os_fsync_dir(bdir);
	if (rc != 0)
		goto out;
	if (out != NULL)
		*out = res;
out:
	if (dir != NULL)
		closedir(dir);
	bt_free(bdir);
	bt__image_index_fini(&ix);
	bt_dbuf_fini(&live);
	close(lock);
	return rc;
}
