/*
 * bt/image.h: container images with content-defined chunks, deduplication,
 * zstd and verified reads, stored in an OCI image layout (image/).
 *
 * An image layout is a folder (oci-layout, index.json, blobs/sha256/) that
 * holds any number of tags. A tag names an OCI manifest whose first layer
 * is one metadata blob (docs/image-format.md) and whose other layers are
 * the chunk blobs that the metadata refers to. Chunks are named by the
 * SHA-256 of their stored bytes, so a chunk is stored once however many
 * files, tags or images use it.
 *
 * Trust runs one way: a manifest digest (given by the user, or read from
 * index.json) -> the manifest -> the metadata blob's digest -> every chunk
 * digest. Every blob is checked against its digest before a byte of it is
 * used; a damaged blob is an error naming it, never wrong bytes.
 *
 * This header is the whole supported surface of image/. Anything not
 * declared here is not API.
 */
#ifndef BT_IMAGE_H
#define BT_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bt/core.h"

/* FastCDC parameters (docs/image-format.md, "Chunking"). */
#define BT_IMAGE_CHUNK_MIN (16u * 1024)
#define BT_IMAGE_CHUNK_AVG (64u * 1024)
#define BT_IMAGE_CHUNK_MAX (256u * 1024)

#define BT_IMAGE_MT_METADATA   "application/vnd.blocktree.image.metadata.v1"
#define BT_IMAGE_MT_METADATA_ZSTD                                              \
	"application/vnd.blocktree.image.metadata.v1+zstd"
#define BT_IMAGE_MT_CHUNK      "application/vnd.blocktree.image.chunk.v1"
#define BT_IMAGE_MT_CHUNK_ZSTD "application/vnd.blocktree.image.chunk.v1+zstd"

/* "sha256:" and 64 hex digits, plus the NUL. */
#define BT_IMAGE_DIGEST_STRLEN 72

/* The inode number of the root folder of every image. */
#define BT_IMAGE_ROOT_INO 1

/*
 * Building.
 *
 * struct bt_image_progress is what a build has done so far: regular files
 * read, their bytes, and the bytes that were already stored (in this
 * build, or by another tag of the layout).
 */
struct bt_image_progress {
	uint64_t files;
	uint64_t bytes;
	uint64_t dedup_bytes;
};

typedef void bt_image_progress_cb(void *arg,
    const struct bt_image_progress *p);

struct bt_image_build_opts {
	int	 version;	 /* 1 */
	int	 compress_level; /* zstd level 1..19; 0 stores raw chunks */
	unsigned threads;	 /* hashing/compression workers; 0 = 2 */
	/*
	 * base_tag: a tag of the same layout whose metadata lets the build
	 * skip reading files whose path, size and mtime (to the ns) are
	 * unchanged (rsync's quick check); NULL reads everything. Chunks are
	 * shared with every tag of the layout either way.
	 */
	const char	     *base_tag;
	bt_image_progress_cb *progress; /* optional, called ~10x a second */
	void		     *progress_arg;
};

struct bt_image_build_result {
	char	 digest[BT_IMAGE_DIGEST_STRLEN]; /* the manifest digest */
	uint64_t inodes;
	uint64_t files;
	uint64_t bytes;		/* logical bytes of regular files */
	uint64_t chunks;	/* distinct chunks the image uses */
	uint64_t new_chunks;	/* chunks this build had to store */
	uint64_t new_bytes;	/* stored bytes of those, and metadata */
	uint64_t dedup_bytes;	/* logical bytes found already stored */
	uint64_t reused_files;	/* files taken from base_tag unread */
};

/*
 * bt_image_build walks rootfs (never following symlinks, staying on its
 * file system) and stores it as tag in the OCI layout at layout, which is
 * created if missing; an existing tag of that name is replaced. The
 * layout is locked against other builds, rm and gc for the duration.
 *
 * Blobs are written to temporary names and renamed, then made durable
 * (syncfs) before the manifest is written, and index.json is replaced
 * atomically last: a crash at any point leaves every previous tag intact.
 *
 * Returns 0 and fills *out (if not NULL); -ENOENT/-EACCES/... naming the
 * path at fault in diag; BT_ELIMIT past a format limit (4 GiB of names,
 * 2^32 inodes); -EINVAL for a malformed tag or options. May take minutes;
 * blocks; calls progress from the calling thread.
 */
BT_API int bt_image_build(const char *rootfs, const char *layout,
    const char *tag, const struct bt_image_build_opts *opts,
    struct bt_image_build_result *out, struct bt_diag *diag);

/*
 * Opening a tag for reading (mount, extract, verify).
 */
typedef struct bt_image bt_image;

struct bt_image_open_opts {
	int	    version;	 /* 1 */
	const char *digest;	 /* pin the manifest: "sha256:HEX" or HEX */
	size_t	    cache_bytes; /* decompressed-chunk cache; 0 = 64 MiB */
};

/*
 * bt_image_open reads index.json, the tag's manifest and its metadata
 * blob, checking each against its digest (and the manifest against
 * opts->digest when given). Returns 0 and *out; -ENOENT for a missing
 * layout or tag; BT_ECORRUPT for a malformed or mismatched index,
 * manifest or metadata blob (diag names which and where); -EINVAL for a
 * malformed pin. opts may be NULL. The image is thread-safe: every read
 * function below may be called from several threads at once.
 */
BT_API int bt_image_open(bt_image **out, const char *layout,
    const char *tag, const struct bt_image_open_opts *opts,
    struct bt_diag *diag);

/*
 * bt_image_open_meta opens a metadata blob given as bytes (copied), with
 * no chunk store: reads of file data fail with -ENXIO. For tools and
 * fuzzing. Returns as bt_image_open.
 */
BT_API int bt_image_open_meta(bt_image **out, const void *meta, size_t len,
    struct bt_diag *diag);

/* bt_image_close frees img; NULL-safe. No other call may be running. */
BT_API void bt_image_close(bt_image *img);

/* bt_image_digest is the manifest digest img was opened by (borrowed,
 * valid until bt_image_close; "" for bt_image_open_meta). */
BT_API const char *bt_image_digest(const bt_image *img);

/* bt_image_ninodes is the number of inodes; they are 1..ninodes. */
BT_API uint64_t bt_image_ninodes(const bt_image *img);

struct bt_image_attr {
	uint64_t ino;
	uint32_t mode; /* st_mode: type and permission bits */
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;
	uint64_t size;
	uint64_t blocks; /* 512-byte units actually stored (holes excluded) */
	int64_t	 mtime_ns;
	int64_t	 ctime_ns;
	uint32_t rdev_major;
	uint32_t rdev_minor;
};

/*
 * Lookups. Each is O(1) (inodes) or O(log n) (names, file offsets) over the
 * metadata in memory, and checks every offset it follows: hostile metadata
 * gives BT_ECORRUPT, never a crash. Borrowed views (names, link targets,
 * xattr values) live until bt_image_close.
 *
 * bt_image_getattr: 0, -ENOENT for an inode out of range.
 * bt_image_lookup: 0 and *ino_out; -ENOENT; -ENOTDIR if dir is not one.
 * bt_image_readdir: 0 and the index-th entry (sorted by name bytes; "."
 *   and ".." are not stored); 1 past the end; -ENOTDIR.
 * bt_image_parent: the folder that holds dir (the root for the root).
 * bt_image_readlink: 0 and the target; -EINVAL if not a symlink.
 * bt_image_xattr_get: 0 and the value; -ENODATA if absent.
 * bt_image_xattr_at: 0 and the index-th (name, value), sorted by name;
 *   1 past the end.
 */
BT_API int bt_image_getattr(bt_image *img, uint64_t ino,
    struct bt_image_attr *out);
BT_API int bt_image_lookup(bt_image *img, uint64_t dir, const void *name,
    size_t len, uint64_t *ino_out);

struct bt_image_dirent {
	uint64_t      ino;
	struct bt_buf name;
};

BT_API int bt_image_readdir(bt_image *img, uint64_t dir, uint64_t index,
    struct bt_image_dirent *out);
BT_API int bt_image_parent(bt_image *img, uint64_t dir, uint64_t *out);
BT_API int bt_image_readlink(bt_image *img, uint64_t ino,
    struct bt_buf *out);
BT_API int bt_image_xattr_get(bt_image *img, uint64_t ino, const void *name,
    size_t len, struct bt_buf *out);
BT_API int bt_image_xattr_at(bt_image *img, uint64_t ino, uint64_t index,
    struct bt_buf *name, struct bt_buf *value);

/*
 * bt_image_read reads up to len bytes of regular file ino at off into buf
 * (holes read as zeros) and returns the count (0 at or past the end).
 * Every chunk is checked against its digest when it is loaded into the
 * cache. Errors: -EISDIR/-EINVAL for a non-file; -EIO when a chunk blob is
 * missing, damaged or does not decompress to its recorded size (diag, if
 * not NULL, and the error log name the blob); BT_ECORRUPT for metadata
 * that points outside itself. Thread-safe; blocks on disk reads.
 */
BT_API ssize_t bt_image_read(bt_image *img, uint64_t ino, void *buf,
    size_t len, uint64_t off, struct bt_diag *diag);

/*
 * bt_image_extract recreates the image under dest (which must not exist,
 * or be an empty folder): contents with holes kept sparse, modes, owners
 * (when run as root), mtimes to the nanosecond, symlinks, hard links,
 * xattrs, device nodes, fifos and sockets. Every chunk is verified.
 * Returns 0; the first error (diag names the path or blob) otherwise.
 */
BT_API int bt_image_extract(bt_image *img, const char *dest,
    struct bt_diag *diag);

/*
 * bt_image_verify checks the whole image: every metadata record (as
 * bt_image_meta_check), that the manifest lists every chunk, and every
 * chunk blob against its stored digest, decompressed length and content
 * digest. bad_cb (optional) is called for each damaged blob with a
 * sentence naming it. Returns 0 when all is well, BT_ECORRUPT when
 * anything failed (*nbad_out counts the bad blobs), another error when
 * the check itself could not run.
 */
typedef void bt_image_bad_cb(void *arg, const char *what);

BT_API int bt_image_verify(bt_image *img, bt_image_bad_cb *bad_cb,
    void *arg, uint64_t *nbad_out, struct bt_diag *diag);

/* What bt_image_inspect reports about one tag. */
struct bt_image_stats {
	uint64_t inodes;
	uint64_t entries; /* names, counting every hard link */
	uint64_t files, dirs, symlinks, others;
	uint64_t chunks;
	uint64_t logical_bytes; /* sum of regular file sizes */
	uint64_t stored_bytes;	/* chunks + metadata + manifest + config */
	uint64_t chunk_bytes;	/* stored bytes of the chunks alone */
	uint64_t meta_bytes;
	uint64_t shared_bytes;	/* stored chunk bytes other tags use too */
	uint64_t zstd_chunks;	/* chunks stored compressed */
};

/*
 * bt_image_inspect fills *out for tag, reading the metadata of every other
 * tag of the layout to count shared bytes (their digests are checked).
 */
BT_API int bt_image_inspect(const char *layout, const char *tag,
    struct bt_image_stats *out, struct bt_diag *diag);

/* One tag, as bt_image_list reports it; strings borrowed for the call. */
struct bt_image_tag {
	const char *name;
	const char *digest;
	uint64_t    manifest_size;
	const char *created; /* RFC 3339, or "" if the manifest has none */
};

typedef int bt_image_tag_cb(void *arg, const struct bt_image_tag *t);

/*
 * bt_image_list calls cb for every tag of the layout in index order; a
 * non-zero return from cb stops the walk and is returned.
 */
BT_API int bt_image_list(const char *layout, bt_image_tag_cb *cb, void *arg,
    struct bt_diag *diag);

/*
 * bt_image_rm removes tag from index.json (atomically replaced); its blobs
 * stay until bt_image_gc. -ENOENT if there is no such tag.
 */
BT_API int bt_image_rm(const char *layout, const char *tag,
    struct bt_diag *diag);

struct bt_image_gc_result {
	uint64_t kept;
	uint64_t removed;
	uint64_t removed_bytes;
};

/*
 * bt_image_gc removes every blob that no tag of index.json needs (for our
 * images: manifest, config, metadata and every chunk the metadata names;
 * for other OCI images: everything their manifests and indexes name) and
 * leftover temporary files. It reads index.json under the layout lock, so
 * it never races a build; a manifest it cannot parse makes it refuse
 * (BT_ECORRUPT) rather than guess.
 */
BT_API int bt_image_gc(const char *layout, struct bt_image_gc_result *out,
    struct bt_diag *diag);

/*
 * Mounting (the thin FUSE adapter in image/fuse/, library bt_image_fuse).
 *
 * bt_image_mount serves img read-only at mountpoint through the libfuse3
 * low-level API, multi-threaded, and blocks until the file system is
 * unmounted (bt image umount, fusermount3 -u, umount) or the process gets
 * SIGINT, SIGTERM or SIGHUP, then unmounts. Entries and attributes are
 * cached by the kernel without expiry (the image never changes), file
 * pages are kept across opens, and chunks are cached decompressed (see
 * bt_image_open_opts.cache_bytes). A damaged chunk gives EIO to the reader
 * and one error line naming the blob. img is borrowed for the call.
 * Returns 0 after a clean unmount; -ENODEV when FUSE is not available
 * (no /dev/fuse); another negative errno when mounting failed (diag says
 * why).
 */
struct bt_image_mount_opts {
	int	 version;     /* 1 */
	bool	 allow_other; /* let other users in (root, or fuse.conf) */
	unsigned max_threads; /* 0 = 4 */
	bool	 debug;	      /* libfuse's request trace on stderr */
};

BT_API int bt_image_mount(bt_image *img, const char *mountpoint,
    const struct bt_image_mount_opts *opts, struct bt_diag *diag);

/*
 * Validators of untrusted bytes (the fuzz targets call these). Each
 * returns 0 if the bytes are a well-formed index.json, manifest or
 * metadata blob, BT_ECORRUPT (diag names where) otherwise.
 */
BT_API int bt_image_index_check(const void *p, size_t len,
    struct bt_diag *diag);
BT_API int bt_image_manifest_check(const void *p, size_t len,
    struct bt_diag *diag);
BT_API int bt_image_meta_check(const void *p, size_t len,
    struct bt_diag *diag);

/*
 * bt_image_ref_parse splits "OCI_DIR:TAG" at its last ':' into new strings
 * (free with bt_free). -EINVAL if there is no ':' or either side is empty
 * or the tag is not a valid OCI reference name ([A-Za-z0-9._:-]+, 1..128).
 */
BT_API int bt_image_ref_parse(const char *ref, char **layout_out,
    char **tag_out);

#endif /* BT_IMAGE_H */
