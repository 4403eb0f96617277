/*
 * meta_test.c: the metadata blob: encode, O(log n) lookups through the
 * public API, and refusal of every malformed variant (truncation at each
 * length, a flipped bit at each byte, and targeted lies: unsorted names,
 * names with '/', entries and extents pointing outside their tables).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "image_int.h"
#include "testing.h"

struct fixture {
	struct bt__img_inode  inodes[4];
	struct bt__img_dirent dirents[3];
	struct bt__img_extent extents[2];
	struct bt__img_xattr  xattrs[2];
	struct bt__img_chunk  chunks[1];
	char		      strings[64];
	size_t		      strings_len;
};

static uint32_t
str(struct fixture *f, const char *s)
{
	uint32_t off = (uint32_t)f->strings_len;

	memcpy(f->strings + off, s, strlen(s));
	f->strings_len += strlen(s);
	return off;
}

static void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	/* 1: root folder {a: file 2, b: symlink 3, d: folder 4} */
	f->inodes[0] = (struct bt__img_inode){ .mode = S_IFDIR | 0755,
		.nlink = 3, .data_first = 0, .data_n = 3, .parent = 1,
		.mtime_ns = 1000000001 };
	f->dirents[0] = (struct bt__img_dirent){ 2, str(f, "a"), 1 };
	f->dirents[1] = (struct bt__img_dirent){ 3, str(f, "b"), 1 };
	f->dirents[2] = (struct bt__img_dirent){ 4, str(f, "d"), 1 };
	/* 2: a file of 300000 bytes: data, a hole, data */
	f->inodes[1] = (struct bt__img_inode){ .mode = S_IFREG | 04755,
		.uid = 7, .gid = 8, .nlink = 1, .size = 300000,
		.mtime_ns = -5, .data_first = 0, .data_n = 2,
		.xattr_first = 0, .xattr_n = 2 };
	f->extents[0] = (struct bt__img_extent){ 0, 0, 0, 1000 };
	f->extents[1] = (struct bt__img_extent){ 200000, 0, 1000, 1000 };
	f->chunks[0] = (struct bt__img_chunk){ .stored_len = 2000,
		.raw_len = 2000 };
	/* 3: a symlink to "a" */
	f->inodes[2] = (struct bt__img_inode){ .mode = S_IFLNK | 0777,
		.nlink = 1, .size = 1, .data_first = str(f, "a"), .data_n = 1 };
	/* 4: an empty folder */
	f->inodes[3] = (struct bt__img_inode){ .mode = S_IFDIR | 01777,
		.nlink = 2, .parent = 1 };
	f->xattrs[0] = (struct bt__img_xattr){ str(f, "user.x"), 6,
		str(f, "1"), 1 };
	f->xattrs[1] = (struct bt__img_xattr){ str(f, "user.y"), 6,
		str(f, "22"), 2 };
}

static uint8_t *
encode(const struct fixture *f, size_t *len)
{
	struct bt__img_meta_src src = { .inodes = f->inodes, .n_inodes = 4,
		.dirents = f->dirents, .n_dirents = 3, .extents = f->extents,
		.n_extents = 2, .xattrs = f->xattrs, .n_xattrs = 2,
		.chunks = f->chunks, .n_chunks = 1,
		.strings = (const uint8_t *)f->strings,
		.strings_len = f->strings_len };
	struct bt_dbuf b;

	bt_dbuf_init(&b, 1 << 20);
	assert_int_equal(bt__image_meta_encode(&b, &src), 0);
	return bt_dbuf_take(&b, len);
}

static void
test_meta_lookups_follow_the_tables(void **state)
{
	struct fixture f;
	struct bt_image_attr a;
	struct bt_image_dirent de;
	struct bt_buf v;
	uint8_t buf[100], zero[100] = { 0 };
	uint64_t ino;
	bt_image *img;
	uint8_t *p;
	size_t len;

	(void)state;
	fixture_init(&f);
	p = encode(&f, &len);
	assert_int_equal(bt_image_meta_check(p, len, NULL), 0);
	assert_int_equal(bt_image_open_meta(&img, p, len, NULL), 0);
	assert_int_equal(bt_image_ninodes(img), 4);
	assert_int_equal(bt_image_lookup(img, 1, "a", 1, &ino), 0);
	assert_int_equal(ino, 2);
	assert_int_equal(bt_image_lookup(img, 1, "d", 1, &ino), 0);
	assert_int_equal(ino, 4);
	assert_int_equal(bt_image_lookup(img, 1, "c", 1, &ino), -ENOENT);
	assert_int_equal(bt_image_lookup(img, 1, "aa", 2, &ino), -ENOENT);
	assert_int_equal(bt_image_lookup(img, 2, "x", 1, &ino), -ENOTDIR);
	assert_int_equal(bt_image_readdir(img, 1, 1, &de), 0);
	assert_int_equal(de.ino, 3);
	assert_memory_equal(de.name.ptr, "b", 1);
	assert_int_equal(bt_image_readdir(img, 1, 3, &de), 1);
	assert_int_equal(bt_image_getattr(img, 2, &a), 0);
	assert_int_equal(a.mode, S_IFREG | 04755);
	assert_int_equal(a.uid, 7);
	assert_int_equal(a.size, 300000);
	assert_true(a.mtime_ns == -5);
	assert_int_equal(a.blocks, 4); /* 2000 stored bytes, holes free */
	assert_int_equal(bt_image_getattr(img, 5, &a), -ENOENT);
	assert_int_equal(bt_image_getattr(img, 0, &a), -ENOENT);
	assert_int_equal(bt_image_readlink(img, 3, &v), 0);
	assert_int_equal(v.len, 1);
	assert_int_equal(bt_image_readlink(img, 2, &v), -EINVAL);
	assert_int_equal(bt_image_xattr_get(img, 2, "user.y", 6, &v), 0);
	assert_memory_equal(v.ptr, "22", 2);
	assert_int_equal(bt_image_xattr_get(img, 2, "user.z", 6, &v),
	    -ENODATA);
	assert_int_equal(bt_image_parent(img, 4, &ino), 0);
	assert_int_equal(ino, 1);
	/* A hole reads as zeros without touching a chunk; data needs the
	 * chunk store, which a metadata-only image does not have. */
	memset(buf, 1, sizeof(buf));
	assert_int_equal(bt_image_read(img, 2, buf, 100, 5000, NULL), 100);
	assert_memory_equal(buf, zero, 100);
	assert_int_equal(bt_image_read(img, 2, buf, 100, 0, NULL), -ENXIO);
	assert_int_equal(bt_image_read(img, 2, buf, 100, 300000, NULL), 0);
	assert_int_equal(bt_image_read(img, 1, buf, 100, 0, NULL), -EISDIR);
	bt_image_close(img);
	bt_free(p);
}

/* Touches everything an adapter might touch; must never crash. */
static void
walk(bt_image *img)
{
	struct bt_image_attr a;
	struct bt_image_dirent de;
	struct bt_buf n, v;
	uint8_t buf[64];
	uint64_t ino;

	for (uint64_t i = 0; i <= bt_image_ninodes(img) + 1; i++) {
		(void)bt_image_getattr(img, i, &a);
		(void)bt_image_readlink(img, i, &v);
		(void)bt_image_read(img, i, buf, sizeof(buf), 150000, NULL);
		(void)bt_image_lookup(img, i, "b", 1, &ino);
		(void)bt_image_parent(img, i, &ino);
		for (uint64_t k = 0; k < 4; k++) {
			(void)bt_image_readdir(img, i, k, &de);
			(void)bt_image_xattr_at(img, i, k, &n, &v);
		}
		(void)bt_image_xattr_get(img, i, "user.x", 6, &v);
	}
}

static void
test_meta_refuses_every_truncation(void **state)
{
	struct fixture f;
	bt_image *img;
	uint8_t *p;
	size_t len;

	(void)state;
	fixture_init(&f);
	p = encode(&f, &len);
	for (size_t n = 0; n < len; n++) {
		struct bt_diag d;

		bt_diag_clear(&d);
		assert_int_not_equal(bt_image_meta_check(p, n, &d), 0);
		assert_true(d.msg[0] != '\0');
		assert_int_not_equal(bt_image_open_meta(&img, p, n, NULL), 0);
	}
	bt_free(p);
}

static void
test_meta_survives_every_flipped_bit(void **state)
{
	struct fixture f;
	bt_image *img;
	uint8_t *p;
	size_t len;

	(void)state;
	fixture_init(&f);
	p = encode(&f, &len);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			p[i] ^= (uint8_t)(1u << bit);
			(void)bt_image_meta_check(p, len, NULL);
			if (bt_image_open_meta(&img, p, len, NULL) == 0) {
				walk(img);
				bt_image_close(img);
			}
			p[i] ^= (uint8_t)(1u << bit);
		}
	}
	bt_free(p);
}

static void
expect_refused(struct fixture *f, const char *what)
{
	struct bt_diag d;
	uint8_t *p;
	size_t len;

	p = encode(f, &len);
	bt_diag_clear(&d);
	if (bt_image_meta_check(p, len, &d) != BT_ECORRUPT)
		fail_msg("%s was accepted", what);
	assert_true(d.msg[0] != '\0');
	bt_free(p);
}

static void
test_meta_refuses_targeted_lies(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.dirents[0].name_off = f.dirents[1].name_off; /* "b", "b", "d" */
	expect_refused(&f, "a duplicate name");
	fixture_init(&f);
	f.dirents[2].ino = 9;
	expect_refused(&f, "an entry past the inode table");
	fixture_init(&f);
	f.dirents[2].ino = 1;
	expect_refused(&f, "a link to the root");
	fixture_init(&f);
	f.dirents[0].name_len = 60;
	expect_refused(&f, "a name past the string area");
	fixture_init(&f);
	f.strings[f.dirents[2].name_off] = '/';
	f.strings[f.dirents[2].name_off] = '/';
	expect_refused(&f, "a name with '/'");
	fixture_init(&f);
	f.extents[1].file_off = 500;
	expect_refused(&f, "overlapping extents");
	fixture_init(&f);
	f.extents[1].chunk_off = 1500;
	expect_refused(&f, "an extent past its chunk");
	fixture_init(&f);
	f.extents[1].chunk = 1;
	expect_refused(&f, "an extent naming a missing chunk");
	fixture_init(&f);
	f.inodes[1].size = 100;
	expect_refused(&f, "an extent past the file's size");
	fixture_init(&f);
	f.inodes[0].data_n = 4;
	expect_refused(&f, "a folder past the dirent table");
	fixture_init(&f);
	f.inodes[3].parent = 3;
	expect_refused(&f, "a folder with the wrong parent");
	fixture_init(&f);
	f.chunks[0].stored_len = 1000; /* raw, yet shorter than raw_len */
	expect_refused(&f, "an uncompressed chunk of the wrong size");
	fixture_init(&f);
	f.inodes[2].mode = 0170000 | 0644;
	expect_refused(&f, "an unknown file type");
	fixture_init(&f);
	f.xattrs[1].name_off = f.xattrs[0].name_off;
	expect_refused(&f, "unsorted xattrs");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meta_lookups_follow_the_tables),
		cmocka_unit_test(test_meta_refuses_every_truncation),
		cmocka_unit_test(test_meta_survives_every_flipped_bit),
		cmocka_unit_test(test_meta_refuses_targeted_lies),
	};

	return cmocka_run_group_tests_name("image.meta", tests, NULL, NULL);
}
