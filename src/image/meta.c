/*
 * meta.c: the metadata blob of an image (image/, used by build.c to write
 * it and by image.c to read it). docs/image-format.md is the specification.
 *
 * Design. The blob is a serde header (magic, version, the count of each
 * table) followed by fixed-width tables back to back, then a string area:
 *
 *   header | inodes | dirents | extents | xattrs | chunks | strings
 *
 * Every record is a serde struct of fixed32/fixed64 fields, so the i-th
 * record sits at a computed offset: an inode is found in O(1), a name in a
 * folder and an offset in a file by binary search, and nothing is decoded
 * until it is asked for. The blob may come from anyone (its digest only
 * proves who built it), so:
 *
 *  1. bt__image_meta_parse checks in O(1) that the counts times the record
 *     sizes add up exactly to the blob's length (with overflow checks).
 *  2. Every accessor checks the index it is given and every offset, length
 *     and count in the record it returns against the tables it points into.
 *     A caller never indexes the blob with an unchecked number.
 *  3. bt__image_meta_check_all additionally checks orders (names strictly
 *     ascending, extents ascending and disjoint) and cross-references; it
 *     is O(n) and run by verify and the fuzz target, not by every open.
 *     Readers that rely on an order (binary search) stay memory-safe on
 *     unsorted input: they may only miss a name, never read out of bounds.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "bt/serde.h"
#include "image_int.h"

static int
put_inode(struct bt_dbuf *b, const struct bt__img_inode *r)
{
	int rc = 0;

	rc |= bt_serde_put_fixed32(b, r->mode);
	rc |= bt_serde_put_fixed32(b, r->uid);
	rc |= bt_serde_put_fixed32(b, r->gid);
	rc |= bt_serde_put_fixed32(b, r->nlink);
	rc |= bt_serde_put_fixed64(b, r->size);
	rc |= bt_serde_put_fixed64(b, (uint64_t)r->mtime_ns);
	rc |= bt_serde_put_fixed64(b, (uint64_t)r->ctime_ns);
	rc |= bt_serde_put_fixed32(b, r->rdev_major);
	rc |= bt_serde_put_fixed32(b, r->rdev_minor);
	rc |= bt_serde_put_fixed64(b, r->data_first);
	rc |= bt_serde_put_fixed32(b, r->data_n);
	rc |= bt_serde_put_fixed32(b, r->xattr_first);
	rc |= bt_serde_put_fixed32(b, r->xattr_n);
	rc |= bt_serde_put_fixed32(b, r->parent);
	return rc;
}

int
bt__image_meta_encode(struct bt_dbuf *out, const struct bt__img_meta_src *s)
{
	size_t total;
	int rc = 0;

	if (s->n_inodes > UINT32_MAX || s->n_chunks > UINT32_MAX ||
	    s->strings_len > UINT32_MAX || s->n_dirents > UINT32_MAX ||
	    s->n_xattrs > UINT32_MAX)
		return BT_ELIMIT;
	total = 64 + s->n_inodes * BT__IMG_INODE_SIZE +
	    s->n_dirents * BT__IMG_DIRENT_SIZE +
	    s->n_extents * BT__IMG_EXTENT_SIZE +
	    s->n_xattrs * BT__IMG_XATTR_SIZE +
	    s->n_chunks * BT__IMG_CHUNK_SIZE + s->strings_len;
	rc = bt_dbuf_reserve(out, total);
	if (rc != 0)
		return rc;
	rc |= bt_serde_put_raw(out, BT__IMG_META_MAGIC, 8);
	rc |= bt_serde_put_uvarint(out, BT__IMG_META_VERSION);
	rc |= bt_serde_put_uvarint(out, s->n_inodes);
	rc |= bt_serde_put_uvarint(out, s->n_dirents);
	rc |= bt_serde_put_uvarint(out, s->n_extents);
	rc |= bt_serde_put_uvarint(out, s->n_xattrs);
	rc |= bt_serde_put_uvarint(out, s->n_chunks);
	rc |= bt_serde_put_uvarint(out, s->strings_len);
	for (uint64_t i = 0; i < s->n_inodes && rc == 0; i++)
		rc |= put_inode(out, &s->inodes[i]);
	for (uint64_t i = 0; i < s->n_dirents && rc == 0; i++) {
		rc |= bt_serde_put_fixed32(out, s->dirents[i].ino);
		rc |= bt_serde_put_fixed32(out, s->dirents[i].name_off);
		rc |= bt_serde_put_fixed32(out, s->dirents[i].name_len);
	}
	for (uint64_t i = 0; i < s->n_extents && rc == 0; i++) {
		rc |= bt_serde_put_fixed64(out, s->extents[i].file_off);
		rc |= bt_serde_put_fixed32(out, s->extents[i].chunk);
		rc |= bt_serde_put_fixed32(out, s->extents[i].chunk_off);
		rc |= bt_serde_put_fixed32(out, s->extents[i].len);
	}
	for (uint64_t i = 0; i < s->n_xattrs && rc == 0; i++) {
		rc |= bt_serde_put_fixed32(out, s->xattrs[i].name_off);
		rc |= bt_serde_put_fixed32(out, s->xattrs[i].name_len);
		rc |= bt_serde_put_fixed32(out, s->xattrs[i].val_off);
		rc |= bt_serde_put_fixed32(out, s->xattrs[i].val_len);
	}
	for (uint64_t i = 0; i < s->n_chunks && rc == 0; i++) {
		rc |= bt_serde_put_raw(out, s->chunks[i].digest, 32);
		rc |= bt_serde_put_raw(out, s->chunks[i].raw_digest, 32);
		rc |= bt_serde_put_fixed32(out, s->chunks[i].stored_len);
		rc |= bt_serde_put_fixed32(out, s->chunks[i].raw_len);
		rc |= bt_serde_put_fixed32(out, s->chunks[i].flags);
	}
	if (rc == 0 && s->strings_len > 0)
		rc = bt_serde_put_raw(out, s->strings, s->strings_len);
	/* The puts OR their codes together; any failure is out of memory or
	 * over the buffer's cap, and the buffer is discarded by the caller. */
	return rc == 0 ? 0 : -ENOMEM;
}

/* Adds count * size to *off, failing on overflow or past len. */
static int
table(size_t *off, size_t *at, uint64_t count, size_t size, size_t len)
{
	if (count > (len - *off) / size)
		return BT_ECORRUPT;
	*at = *off;
	*off += count * size;
	return 0;
}

int
bt__image_meta_parse(struct bt__img_meta *m, const uint8_t *p, size_t len,
    struct bt_diag *diag)
{
	struct bt__img_meta v = { .p = p, .len = len };
	struct bt_serde_dec d;
	uint8_t magic[8];
	uint64_t version;
	size_t off;
	int rc;

	bt_serde_dec_init(&d, p, len, NULL, diag);
	d.scope = "image metadata";
	rc = bt_serde_get_raw(&d, magic, sizeof(magic));
	if (rc != 0)
		return BT_ECORRUPT;
	if (memcmp(magic, BT__IMG_META_MAGIC, 8) != 0) {
		bt_diag_set(diag, 0, "image metadata: bad magic (not a "
				     "Blocktree image metadata blob)");
		return BT_ECORRUPT;
	}
	d.what = "header";
	rc = bt_serde_get_uvarint(&d, &version);
	if (rc == 0 && version != BT__IMG_META_VERSION) {
		bt_diag_set(diag, 8, "image metadata: version %llu is not "
		    "supported (this build reads %d)",
		    (unsigned long long)version, BT__IMG_META_VERSION);
		return BT_EUNSUPPORTED;
	}
	if (rc == 0)
		rc = bt_serde_get_uvarint(&d, &v.n_inodes);
	if (rc == 0)
		rc = bt_serde_get_uvarint(&d, &v.n_dirents);
	if (rc == 0)
		rc = bt_serde_get_uvarint(&d, &v.n_extents);
	if (rc == 0)
		rc = bt_serde_get_uvarint(&d, &v.n_xattrs);
	if (rc == 0)
		rc = bt_serde_get_uvarint(&d, &v.n_chunks);
	if (rc == 0)
		rc = bt_serde_get_uvarint(&d, &v.strings_len);
	if (rc != 0)
		return BT_ECORRUPT;
	if (v.n_inodes == 0 || v.n_inodes > UINT32_MAX ||
	    v.n_chunks > UINT32_MAX || v.n_dirents > UINT32_MAX ||
	    v.n_xattrs > UINT32_MAX || v.strings_len > UINT32_MAX) {
		bt_diag_set(diag, (int64_t)d.off, "image metadata: a table "
		    "count is zero inodes or past 2^32");
		return BT_ECORRUPT;
	}
	off = d.off;
	if (table(&off, &v.off_inodes, v.n_inodes, BT__IMG_INODE_SIZE, len) ||
	    table(&off, &v.off_dirents, v.n_dirents, BT__IMG_DIRENT_SIZE,
		len) ||
	    table(&off, &v.off_extents, v.n_extents, BT__IMG_EXTENT_SIZE,
		len) ||
	    table(&off, &v.off_xattrs, v.n_xattrs, BT__IMG_XATTR_SIZE, len) ||
	    table(&off, &v.off_chunks, v.n_chunks, BT__IMG_CHUNK_SIZE, len) ||
	    table(&off, &v.off_strings, v.strings_len, 1, len)) {
		bt_diag_set(diag, (int64_t)off, "image metadata: tables run "
		    "past the end of the blob (%zu bytes)", len);
		return BT_ECORRUPT;
	}
	if (off != len) {
		bt_diag_set(diag, (int64_t)off, "image metadata: %zu bytes "
		    "after the string area", len - off);
		return BT_ECORRUPT;
	}
	*m = v;
	return 0;
}

static bool
range_ok(uint64_t first, uint64_t n, uint64_t limit)
{
	return first <= limit && n <= limit - first;
}

int
bt__image_meta_inode(const struct bt__img_meta *m, uint64_t ino,
    struct bt__img_inode *out)
{
	struct bt__img_inode r;
	const uint8_t *p;

	if (ino < 1 || ino > m->n_inodes)
		return -ENOENT;
	p = m->p + m->off_inodes + (ino - 1) * BT__IMG_INODE_SIZE;
	r.mode = bt_get_le32(p);
	r.uid = bt_get_le32(p + 4);
	r.gid = bt_get_le32(p + 8);
	r.nlink = bt_get_le32(p + 12);
	r.size = bt_get_le64(p + 16);
	r.mtime_ns = (int64_t)bt_get_le64(p + 24);
	r.ctime_ns = (int64_t)bt_get_le64(p + 32);
	r.rdev_major = bt_get_le32(p + 40);
	r.rdev_minor = bt_get_le32(p + 44);
	r.data_first = bt_get_le64(p + 48);
	r.data_n = bt_get_le32(p + 56);
	r.xattr_first = bt_get_le32(p + 60);
	r.xattr_n = bt_get_le32(p + 64);
	r.parent = bt_get_le32(p + 68);
	if (r.nlink == 0 || (r.mode & ~(uint32_t)(S_IFMT | 07777)) != 0 ||
	    r.parent > m->n_inodes ||
	    !range_ok(r.xattr_first, r.xattr_n, m->n_xattrs))
		return BT_ECORRUPT;
	switch (r.mode & S_IFMT) {
	case S_IFDIR:
		if (!range_ok(r.data_first, r.data_n, m->n_dirents) ||
		    r.parent == 0)
			return BT_ECORRUPT;
		break;
	case S_IFREG:
		if (!range_ok(r.data_first, r.data_n, m->n_extents) ||
		    r.size > INT64_MAX)
			return BT_ECORRUPT;
		break;
	case S_IFLNK:
		if (!range_ok(r.data_first, r.data_n, m->strings_len) ||
		    r.data_n == 0 || r.data_n > BT__IMG_LINK_MAX ||
		    r.size != r.data_n)
			return BT_ECORRUPT;
		break;
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		if (r.data_first != 0 || r.data_n != 0 || r.size != 0)
			return BT_ECORRUPT;
		break;
	default:
		return BT_ECORRUPT;
	}
	*out = r;
	return 0;
}

static bool
name_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || n > BT__IMG_NAME_MAX)
		return false;
	if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
		return false;
	return memchr(p, '/', n) == NULL && memchr(p, 0, n) == NULL;
}

int
bt__image_meta_dirent(const struct bt__img_meta *m,
    const struct bt__img_inode *dir, uint64_t i, struct bt__img_dirent *out,
    struct bt_buf *name)
{
	struct bt__img_dirent r;
	const uint8_t *p;

	if (i >= dir->data_n)
		return -ENOENT;
	/* range_ok(dir) was checked by bt__image_meta_inode. */
	p = m->p + m->off_dirents + (dir->data_first + i) * BT__IMG_DIRENT_SIZE;
	r.ino = bt_get_le32(p);
	r.name_off = bt_get_le32(p + 4);
	r.name_len = bt_get_le32(p + 8);
	if (r.ino < 1 || r.ino > m->n_inodes ||
	    !range_ok(r.name_off, r.name_len, m->strings_len) ||
	    !name_ok(m->p + m->off_strings + r.name_off, r.name_len))
		return BT_ECORRUPT;
	*out = r;
	name->ptr = m->p + m->off_strings + r.name_off;
	name->len = r.name_len;
	return 0;
}

int
bt__image_meta_extent(const struct bt__img_meta *m,
    const struct bt__img_inode *file, uint64_t i, struct bt__img_extent *out)
{
	struct bt__img_extent r;
	const uint8_t *p;

	if (i >= file->data_n)
		return -ENOENT;
	p = m->p + m->off_extents + (file->data_first + i) * BT__IMG_EXTENT_SIZE;
	r.file_off = bt_get_le64(p);
	r.chunk = bt_get_le32(p + 8);
	r.chunk_off = bt_get_le32(p + 12);
	r.len = bt_get_le32(p + 16);
	if (r.chunk >= m->n_chunks || r.len == 0 ||
	    r.len > BT_IMAGE_CHUNK_MAX ||
	    r.chunk_off > BT_IMAGE_CHUNK_MAX - r.len ||
	    !range_ok(r.file_off, r.len, file->size))
		return BT_ECORRUPT;
	*out = r;
	return 0;
}

int
bt__image_meta_xattr(const struct bt__img_meta *m,
    const struct bt__img_inode *ino, uint64_t i, struct bt_buf *name,
    struct bt_buf *value)
{
	struct bt__img_xattr r;
	const uint8_t *p;

	if (i >= ino->xattr_n)
		return -ENOENT;
	p = m->p + m->off_xattrs + (ino->xattr_first + i) * BT__IMG_XATTR_SIZE;
	r.name_off = bt_get_le32(p);
	r.name_len = bt_get_le32(p + 4);
	r.val_off = bt_get_le32(p + 8);
	r.val_len = bt_get_le32(p + 12);
	if (r.name_len == 0 || r.name_len > BT__IMG_XNAME_MAX ||
	    r.val_len > BT__IMG_XVAL_MAX ||
	    !range_ok(r.name_off, r.name_len, m->strings_len) ||
	    !range_ok(r.val_off, r.val_len, m->strings_len) ||
	    memchr(m->p + m->off_strings + r.name_off, 0, r.name_len) != NULL)
		return BT_ECORRUPT;
	name->ptr = m->p + m->off_strings + r.name_off;
	name->len = r.name_len;
	value->ptr = m->p + m->off_strings + r.val_off;
	value->len = r.val_len;
	return 0;
}

int
bt__image_meta_chunk(const struct bt__img_meta *m, uint64_t i,
    struct bt__img_chunk *out)
{
	struct bt__img_chunk r;
	const uint8_t *p;

	if (i >= m->n_chunks)
		return -ENOENT;
	p = m->p + m->off_chunks + i * BT__IMG_CHUNK_SIZE;
	memcpy(r.digest, p, 32);
	memcpy(r.raw_digest, p + 32, 32);
	r.stored_len = bt_get_le32(p + 64);
	r.raw_len = bt_get_le32(p + 68);
	r.flags = bt_get_le32(p + 72);
	if (r.raw_len == 0 || r.raw_len > BT_IMAGE_CHUNK_MAX ||
	    r.stored_len == 0 || r.stored_len > r.raw_len ||
	    (r.flags & ~BT__IMG_CHUNK_ZSTD) != 0 ||
	    (!(r.flags & BT__IMG_CHUNK_ZSTD) && r.stored_len != r.raw_len))
		return BT_ECORRUPT;
	*out = r;
	return 0;
}

int
bt__image_meta_link(const struct bt__img_meta *m,
    const struct bt__img_inode *lnk, struct bt_buf *out)
{
	if ((lnk->mode & S_IFMT) != S_IFLNK)
		return -EINVAL;
	out->ptr = m->p + m->off_strings + lnk->data_first;
	out->len = lnk->data_n;
	if (memchr(out->ptr, 0, out->len) != NULL)
		return BT_ECORRUPT;
	return 0;
}

int
bt__image_name_cmp(const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int
check_inode(const struct bt__img_meta *m, uint64_t ino,
    struct bt_diag *diag)
{
	struct bt__img_inode r, child;
	struct bt__img_dirent de;
	struct bt__img_extent ex;
	struct bt__img_chunk ch;
	struct bt_buf name, prev = { 0 }, val, l;
	uint64_t end = 0;
	int rc;

	rc = bt__image_meta_inode(m, ino, &r);
	if (rc != 0) {
		bt_diag_set(diag, (int64_t)(m->off_inodes +
		    (ino - 1) * BT__IMG_INODE_SIZE),
		    "image metadata: inode %llu is malformed",
		    (unsigned long long)ino);
		return BT_ECORRUPT;
	}
	for (uint64_t i = 0; i < r.xattr_n; i++) {
		if (bt__image_meta_xattr(m, &r, i, &name, &val) != 0 ||
		    (i > 0 && bt__image_name_cmp(prev.ptr, prev.len, name.ptr,
				  name.len) >= 0)) {
			bt_diag_set(diag, -1, "image metadata: xattr %llu of "
			    "inode %llu is malformed or out of order",
			    (unsigned long long)i, (unsigned long long)ino);
			return BT_ECORRUPT;
		}
		prev = name;
	}
	switch (r.mode & S_IFMT) {
	case S_IFDIR:
		for (uint64_t i = 0; i < r.data_n; i++) {
			if (bt__image_meta_dirent(m, &r, i, &de, &name) != 0 ||
			    (i > 0 && bt__image_name_cmp(prev.ptr, prev.len,
					  name.ptr, name.len) >= 0) ||
			    bt__image_meta_inode(m, de.ino, &child) != 0 ||
			    de.ino == 1 ||
			    (S_ISDIR(child.mode) && child.parent != ino)) {
				bt_diag_set(diag, -1, "image metadata: entry "
				    "%llu of folder inode %llu is malformed, "
				    "out of order or a second link to a folder",
				    (unsigned long long)i,
				    (unsigned long long)ino);
				return BT_ECORRUPT;
			}
			prev = name;
		}
		break;
	case S_IFREG:
		for (uint64_t i = 0; i < r.data_n; i++) {
			if (bt__image_meta_extent(m, &r, i, &ex) != 0 ||
			    ex.file_off < end ||
			    bt__image_meta_chunk(m, ex.chunk, &ch) != 0 ||
			    ex.chunk_off + ex.len > ch.raw_len) {
				bt_diag_set(diag, -1, "image metadata: extent "
				    "%llu of file inode %llu is malformed or "
				    "overlaps the one before",
				    (unsigned long long)i,
				    (unsigned long long)ino);
				return BT_ECORRUPT;
			}
			end = ex.file_off + ex.len;
		}
		break;
	case S_IFLNK:
		if (bt__image_meta_link(m, &r, &l) != 0) {
			bt_diag_set(diag, -1, "image metadata: symlink inode "
			    "%llu has a NUL in its target",
			    (unsigned long long)ino);
			return BT_ECORRUPT;
		}
		break;
	default:
		break;
	}
	return 0;
}

int
bt__image_meta_check_all(const struct bt__img_meta *m, struct bt_diag *diag)
{
	struct bt__img_inode root;
	struct bt__img_chunk ch;
	int rc;

	if (bt__image_meta_inode(m, 1, &root) != 0 || !S_ISDIR(root.mode) ||
	    root.parent != 1) {
		bt_diag_set(diag, (int64_t)m->off_inodes,
		    "image metadata: inode 1 is not a well-formed root folder");
		return BT_ECORRUPT;
	}
	for (uint64_t i = 0; i < m->n_chunks; i++) {
		if (bt__image_meta_chunk(m, i, &ch) != 0) {
			bt_diag_set(diag, (int64_t)(m->off_chunks +
			    i * BT__IMG_CHUNK_SIZE),
			    "image metadata: chunk record %llu is malformed",
			    (unsigned long long)i);
			return BT_ECORRUPT;
		}
	}
	for (uint64_t ino = 1; ino <= m->n_inodes; ino++) {
		rc = check_inode(m, ino, diag);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
bt_image_meta_check(const void *p, size_t len, struct bt_diag *diag)
{
	struct bt__img_meta m;
	int rc;

	rc = bt__image_meta_parse(&m, p, len, diag);
	if (rc != 0)
		return rc;
	return bt__image_meta_check_all(&m, diag);
}
