/*
 * image_int.h: what the files of image/ share. Not API.
 *
 *   cdc.c      FastCDC chunker (gear table, normalized cut points)
 *   meta.c     the metadata blob: encoder and bounds-checked reader
 *   oci.c      OCI layout: oci-layout, index.json, manifests, blobs, lock
 *   chunk.c    chunk blobs: verified load, decompression, LRU cache
 *   build.c    walking a tree, the hashing/compression pool, commit
 *   image.c    opening a tag, lookups and reads, inspect, verify, rm, gc
 *   extract.c  recreating a tree on disk
 */
#ifndef BT_IMAGE_IMAGE_INT_H
#define BT_IMAGE_IMAGE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "bt/core.h"
#include "bt/image.h"

#define BT__IMG_DIGEST_LEN 32

/* ------------------------------------------------------------------ cdc */

/*
 * bt__image_cdc_cut returns the length of the first chunk of the len bytes
 * at p: a FastCDC cut point between BT_IMAGE_CHUNK_MIN and
 * BT_IMAGE_CHUNK_MAX, or len itself when len <= BT_IMAGE_CHUNK_MIN, or
 * BT_IMAGE_CHUNK_MAX when no cut point is found. The caller must pass at
 * least BT_IMAGE_CHUNK_MAX bytes unless p holds the end of the stream.
 */
size_t bt__image_cdc_cut(const uint8_t *p, size_t len);

/* The gear table (exposed for the unit test of its determinism). */
extern const uint64_t *bt__image_gear(void);

/* ----------------------------------------------------------------- meta */

/*
 * The metadata blob (docs/image-format.md). A serde header (magic, version,
 * table counts) then fixed-width little-endian tables back to back:
 * inodes, dirents, extents, xattrs, chunks, then the string area.
 */
#define BT__IMG_META_MAGIC   "btimgmd1"
#define BT__IMG_META_VERSION 1
#define BT__IMG_INODE_SIZE   72
#define BT__IMG_DIRENT_SIZE  12
#define BT__IMG_EXTENT_SIZE  20
#define BT__IMG_XATTR_SIZE   16
#define BT__IMG_CHUNK_SIZE   76
#define BT__IMG_CHUNK_ZSTD   0x1u
#define BT__IMG_NAME_MAX     255u
#define BT__IMG_LINK_MAX     4095u
#define BT__IMG_XNAME_MAX    255u
#define BT__IMG_XVAL_MAX     65536u

_Static_assert(BT__IMG_INODE_SIZE == 4 * 4 + 8 * 3 + 4 * 2 + 8 + 4 * 4,
    "inode record layout");
_Static_assert(BT__IMG_CHUNK_SIZE == 32 + 32 + 3 * 4, "chunk record layout");
_Static_assert(BT__IMG_EXTENT_SIZE == 8 + 3 * 4, "extent record layout");

struct bt__img_inode {
	uint32_t mode, uid, gid, nlink;
	uint64_t size;
	int64_t	 mtime_ns, ctime_ns;
	uint32_t rdev_major, rdev_minor;
	uint64_t data_first; /* dir: dirent; reg: extent; lnk: string off */
	uint32_t data_n;     /* dir: entries; reg: extents; lnk: length */
	uint32_t xattr_first, xattr_n;
	uint32_t parent; /* dirs: the ino of the folder holding it */
};

struct bt__img_dirent {
	uint32_t ino, name_off, name_len;
};

struct bt__img_extent {
	uint64_t file_off;
	uint32_t chunk, chunk_off, len;
};

struct bt__img_xattr {
	uint32_t name_off, name_len, val_off, val_len;
};

struct bt__img_chunk {
	uint8_t	 digest[BT__IMG_DIGEST_LEN];	 /* of the stored bytes */
	uint8_t	 raw_digest[BT__IMG_DIGEST_LEN]; /* of the content */
	uint32_t stored_len, raw_len, flags;
};

/* A parsed view of a metadata blob (borrowed bytes). */
struct bt__img_meta {
	const uint8_t *p;
	size_t	       len;
	uint64_t       n_inodes, n_dirents, n_extents, n_xattrs, n_chunks;
	uint64_t       strings_len;
	size_t	       off_inodes, off_dirents, off_extents, off_xattrs;
	size_t	       off_chunks, off_strings;
};

/* What the builder hands the encoder: arrays of records and strings. */
struct bt__img_meta_src {
	const struct bt__img_inode  *inodes;
	uint64_t		     n_inodes;
	const struct bt__img_dirent *dirents;
	uint64_t		     n_dirents;
	const struct bt__img_extent *extents;
	uint64_t		     n_extents;
	const struct bt__img_xattr  *xattrs;
	uint64_t		     n_xattrs;
	const struct bt__img_chunk  *chunks;
	uint64_t		     n_chunks;
	const uint8_t		    *strings;
	uint64_t		     strings_len;
};

int bt__image_meta_encode(struct bt_dbuf *out,
    const struct bt__img_meta_src *src);
/* Parses the header and checks that the tables fit exactly: O(1). */
int bt__image_meta_parse(struct bt__img_meta *m, const uint8_t *p, size_t len,
    struct bt_diag *diag);
/* Each accessor bounds-checks the index and the record's own fields. */
int bt__image_meta_inode(const struct bt__img_meta *m, uint64_t ino,
    struct bt__img_inode *out);
int bt__image_meta_dirent(const struct bt__img_meta *m,
    const struct bt__img_inode *dir, uint64_t i, struct bt__img_dirent *out,
    struct bt_buf *name);
int bt__image_meta_extent(const struct bt__img_meta *m,
    const struct bt__img_inode *file, uint64_t i, struct bt__img_extent *out);
int bt__image_meta_xattr(const struct bt__img_meta *m,
    const struct bt__img_inode *ino, uint64_t i, struct bt_buf *name,
    struct bt_buf *value);
int bt__image_meta_chunk(const struct bt__img_meta *m, uint64_t i,
    struct bt__img_chunk *out);
int bt__image_meta_link(const struct bt__img_meta *m,
    const struct bt__img_inode *lnk, struct bt_buf *out);
/* Name order: bytes, then length (a prefix sorts first). */
int bt__image_name_cmp(const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen);
/* Every record, every offset, every sort order: O(n). */
int bt__image_meta_check_all(const struct bt__img_meta *m,
    struct bt_diag *diag);

/* ------------------------------------------------------------------ oci */

/* A descriptor as manifests and index.json hold it. */
struct bt__img_desc {
	char	 media_type[128];
	uint8_t	 digest[BT__IMG_DIGEST_LEN];
	uint64_t size;
};

struct bt__img_manifest {
	struct bt__img_desc  config;
	struct bt__img_desc *layers; /* bt_alloc'd */
	size_t		     n_layers;
	char		     created[40];
};

void bt__image_manifest_fini(struct bt__img_manifest *m);
int  bt__image_manifest_parse(struct bt__img_manifest *out, const void *p,
     size_t len, struct bt_diag *diag);

/* An index entry: a tag and its manifest descriptor. */
struct bt__img_tag {
	char		   *name; /* NULL for an untagged manifest */
	struct bt__img_desc desc;
};

struct bt__img_index {
	json_t		   *root; /* kept to rewrite unknown members as read */
	struct bt__img_tag *tags;
	size_t		    n_tags;
};

void bt__image_index_fini(struct bt__img_index *ix);
int  bt__image_index_parse(struct bt__img_index *out, const void *p,
     size_t len, struct bt_diag *diag);
/* Reads LAYOUT/index.json (-ENOENT if the layout does not exist). */
int bt__image_index_load(struct bt__img_index *out, const char *layout,
    struct bt_diag *diag);
/* Returns the tag's index, or -ENOENT. */
int bt__image_index_find(const struct bt__img_index *ix, const char *tag);
/* Sets (adds or replaces) or removes a tag, then writes index.json
 * atomically. desc NULL removes. */
int bt__image_index_set(const char *layout, struct bt__img_index *ix,
    const char *tag, const struct bt__img_desc *desc, struct bt_diag *diag);

/* Makes the layout if missing (oci-layout, index.json, blobs/sha256). */
int bt__image_layout_init(const char *layout, struct bt_diag *diag);
/* An exclusive flock on LAYOUT/oci-layout; returns the fd to close. */
int bt__image_layout_lock(const char *layout, struct bt_diag *diag);

void bt__image_digest_str(char out[BT_IMAGE_DIGEST_STRLEN],
    const uint8_t d[BT__IMG_DIGEST_LEN]);
/* Accepts "sha256:HEX" (and bare HEX if bare_ok). */
int bt__image_digest_parse(uint8_t out[BT__IMG_DIGEST_LEN], const char *s,
    bool bare_ok);
/* "LAYOUT/blobs/sha256/HEX", new string. */
char *bt__image_blob_path(const char *layout,
    const uint8_t d[BT__IMG_DIGEST_LEN]);
/* Reads a whole blob (at most max bytes) and checks size and digest. */
int bt__image_blob_load(const char *layout, const struct bt__img_desc *desc,
    size_t max, uint8_t **out, struct bt_diag *diag);
/*
 * Writes a blob named by its digest: to a temporary name, then renamed.
 * No fsync (the caller syncs the file system once, see build.c).
 * Computes the digest into digest_out.
 */
int bt__image_blob_put(int blobs_dirfd, const void *p, size_t len,
    uint8_t digest_out[BT__IMG_DIGEST_LEN]);
int bt__image_blob_put_named(int blobs_dirfd, const void *p, size_t len,
    const uint8_t digest[BT__IMG_DIGEST_LEN]);

/* The largest index.json / manifest we read. */
#define BT__IMG_JSON_MAX ((size_t)64 << 20)
#define BT__IMG_META_MAX ((size_t)2 << 30)
/* The cap of the builder's and gc's buffers (bt_dbuf_init must not be
 * given SIZE_MAX: core's dbuf adds one to it). */
#define BT__IMG_DBUF_MAX ((size_t)1 << 40)

/* ---------------------------------------------------------------- chunk */

struct bt__img_cent; /* a cached, verified, decompressed chunk */

struct bt__img_cache;

int  bt__image_cache_new(struct bt__img_cache **out, size_t max_bytes,
     size_t n_chunks);
void bt__image_cache_free(struct bt__img_cache *c);

/*
 * bt__image_chunk_get returns a held reference to chunk idx of m, loading
 * it from blobs_dirfd (verified, decompressed) on a miss. *data and *len
 * are valid until bt__image_chunk_rele. -EIO naming the blob in diag.
 */
int  bt__image_chunk_get(struct bt__img_cache *c, int blobs_dirfd,
     const struct bt__img_meta *m, uint32_t idx, struct bt__img_cent **out,
     const uint8_t **data, struct bt_diag *diag);
void bt__image_chunk_rele(struct bt__img_cache *c, struct bt__img_cent *e);
/* Loads and checks one chunk without the cache (verify). */
int bt__image_chunk_load(int blobs_dirfd, const struct bt__img_chunk *ch,
    uint8_t **out, bool check_raw, struct bt_diag *diag);

/* ---------------------------------------------------------------- image */

struct bt_image {
	struct bt__img_meta   meta;
	uint8_t		     *meta_buf;
	size_t		      meta_len;
	int		      blobs_dirfd; /* -1 for bt_image_open_meta */
	struct bt__img_cache *cache;
	struct bt__img_manifest manifest;
	size_t		      manifest_len;
	char		      digest[BT_IMAGE_DIGEST_STRLEN];
	char		     *layout;
};

/* Whether a layer media type is our metadata (raw or +zstd). */
bool bt__image_is_meta_mt(const char *mt);

/* Opens the tag's manifest and metadata (no cache). */
int bt__image_open_tag(bt_image **out, const char *layout,
    const struct bt__img_desc *mdesc, const uint8_t *pin, size_t cache_bytes,
    struct bt_diag *diag);

#endif /* BT_IMAGE_IMAGE_INT_H */
