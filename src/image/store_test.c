/*
 * store_test.c: building, reading and verifying through the library, with
 * failure machinery (STYLE.md, "Tests"):
 *  - a damaged chunk: verify names it, a read returns -EIO naming it and
 *    never other bytes;
 *  - syscall faults at every point of a build (open, write, rename, the
 *    reads of the source, the fsync of index.json): the build fails
 *    cleanly, leaks nothing, and the previous tag stays whole and
 *    verifiable; the same build then succeeds (crash simulation);
 *  - allocation torture on opening an image;
 *  - rm + gc keep what the remaining tags need.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_int.h"
#include "testing.h"

struct fx {
	char *dir, *src, *layout;
};

static void
write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char *path = bt_test_path(dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
	bt_free(path);
}

static uint8_t *
pattern(size_t n, uint32_t seed)
{
	uint8_t *p = bt_alloc(n);
	uint32_t x = seed | 1;

	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		/* Half random, half text: some chunks compress, some not. */
		p[i] = (i / 65536) % 2 ? (uint8_t)(x >> 16) :
					 (uint8_t)('a' + i % 23);
	}
	return p;
}

static int
setup(void **state)
{
	struct fx *f = bt_zalloc(sizeof(*f));
	uint8_t *p;

	f->dir = bt_test_tmpdir();
	f->src = bt_test_path(f->dir, "src");
	f->layout = bt_test_path(f->dir, "oci");
	assert_int_equal(mkdir(f->src, 0755), 0);
	p = pattern(700000, 1);
	write_file(f->src, "big", p, 700000);
	bt_free(p);
	write_file(f->src, "small", "hello\n", 6);
	write_file(f->src, "empty", "", 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	bt_test_os_reset();
	bt_test_tmpdir_remove(f->dir);
	bt_free(f->src);
	bt_free(f->layout);
	bt_free(f);
	return 0;
}

static int
build(struct fx *f, const char *tag, char digest[BT_IMAGE_DIGEST_STRLEN])
{
	struct bt_image_build_opts o = { .version = 1, .compress_level = 3,
		.threads = 1 };
	struct bt_image_build_result r;
	struct bt_diag d;
	int rc;

	bt_diag_clear(&d);
	rc = bt_image_build(f->src, f->layout, tag, &o, &r, &d);
	if (rc == 0 && digest != NULL)
		memcpy(digest, r.digest, BT_IMAGE_DIGEST_STRLEN);
	return rc;
}

static void
expect_same(bt_image *img, const char *src, const char *name)
{
	struct bt_image_attr a;
	uint8_t *want, *got;
	size_t wlen;
	uint64_t ino;
	char *path = bt_test_path(src, name);

	assert_int_equal(bt_os_read_file(path, 1 << 24, &want, &wlen), 0);
	assert_int_equal(bt_image_lookup(img, BT_IMAGE_ROOT_INO, name,
			     strlen(name), &ino), 0);
	assert_int_equal(bt_image_getattr(img, ino, &a), 0);
	assert_int_equal(a.size, wlen);
	got = bt_alloc(wlen + 1);
	assert_int_equal(bt_image_read(img, ino, got, wlen + 1, 0, NULL),
	    (ssize_t)wlen);
	assert_memory_equal(got, want, wlen);
	bt_free(got);
	bt_free(want);
	bt_free(path);
}

static void
test_store_build_then_read_back(void **state)
{
	struct fx *f = *state;
	char digest[BT_IMAGE_DIGEST_STRLEN];
	struct bt_image_open_opts o = { .version = 1, .digest = digest };
	bt_image *img;
	uint64_t nbad = 9;

	assert_int_equal(build(f, "v1", digest), 0);
	assert_int_equal(bt_image_open(&img, f->layout, "v1", &o, NULL), 0);
	expect_same(img, f->src, "big");
	expect_same(img, f->src, "small");
	expect_same(img, f->src, "empty");
	assert_int_equal(bt_image_verify(img, NULL, NULL, &nbad, NULL), 0);
	assert_int_equal(nbad, 0);
	bt_image_close(img);
	/* A wrong pin is refused before anything is served. */
	digest[10] = digest[10] == 'a' ? 'b' : 'a';
	assert_int_equal(bt_image_open(&img, f->layout, "v1", &o, NULL),
	    BT_ECORRUPT);
}

struct bad {
	int  n;
	char what[300];
};

static void
bad_cb(void *arg, const char *what)
{
	struct bad *b = arg;

	b->n++;
	snprintf(b->what, sizeof(b->what), "%s", what);
}

static void
test_store_damaged_chunk_is_named_and_never_served(void **state)
{
	struct fx *f = *state;
	struct bt__img_chunk ch;
	struct bad bad = { 0 };
	struct bt_diag d;
	char dg[BT_IMAGE_DIGEST_STRLEN], *path;
	uint8_t buf[4096];
	uint64_t ino, nbad = 0;
	bt_image *img;
	int fd;

	assert_int_equal(build(f, "v1", NULL), 0);
	assert_int_equal(bt_image_open(&img, f->layout, "v1", NULL, NULL), 0);
	/* Damage the chunk that holds the start of "big". */
	assert_int_equal(bt__image_meta_chunk(&img->meta, 0, &ch), 0);
	bt__image_digest_str(dg, ch.digest);
	path = bt__image_blob_path(f->layout, ch.digest);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\x5a", 1, ch.stored_len / 2), 1);
	close(fd);

	assert_int_equal(bt_image_verify(img, bad_cb, &bad, &nbad, NULL),
	    BT_ECORRUPT);
	assert_int_equal(nbad, 1);
	assert_non_null(strstr(bad.what, dg));
	assert_int_equal(bt_image_lookup(img, 1, "big", 3, &ino), 0);
	bt_diag_clear(&d);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(bt_image_read(img, ino, buf, sizeof(buf), 0, &d),
	    -EIO);
	assert_non_null(strstr(d.msg, dg));
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0); /* nothing was copied out */
	/* The rest of the image is still served. */
	expect_same(img, f->src, "small");
	bt_image_close(img);
	bt_free(path);
}

/*
 * Crash simulation by syscall faults: fail the nth call of op during a
 * build of v2, for n = 1, 2, ... until a build no longer hits the fault.
 * Every failed build must leave v1 exactly as it was (same digest,
 * verifies) and v2 absent; the layout must stay usable.
 */
static void
fault_loop(struct fx *f, enum bt_test_os_op op, int err)
{
	char d1[BT_IMAGE_DIGEST_STRLEN], d2[BT_IMAGE_DIGEST_STRLEN];
	struct bt_image_open_opts o = { .version = 1, .digest = d1 };
	uint8_t *p;
	bt_image *img;
	long live;
	int n, rc, failures = 0;

	assert_int_equal(build(f, "v1", d1), 0);
	/* v2 has new content, so it must write new blobs. */
	p = pattern(300000, 99);
	write_file(f->src, "new", p, 300000);
	bt_free(p);
	for (n = 1; n < 200; n++) {
		live = bt_alloc_live();
		bt_test_os_fault(op, n, err);
		rc = build(f, "v2", d2);
		bt_test_os_reset();
		assert_int_equal(bt_alloc_live(), live);
		assert_int_equal(bt_image_open(&img, f->layout, "v1", &o,
				     NULL), 0);
		assert_int_equal(bt_image_verify(img, NULL, NULL, NULL, NULL),
		    0);
		bt_image_close(img);
		if (rc == 0)
			break;
		failures++;
		/* A failure after index.json was renamed into place (its
		 * folder's fsync) may leave v2 published: then it must be
		 * whole. Before that point v2 must not exist. */
		rc = bt_image_open(&img, f->layout, "v2", NULL, NULL);
		if (rc == 0) {
			assert_int_equal(bt_image_verify(img, NULL, NULL, NULL,
					     NULL), 0);
			bt_image_close(img);
			assert_int_equal(bt_image_rm(f->layout, "v2", NULL), 0);
		} else {
			assert_int_equal(rc, -ENOENT);
		}
	}
	assert_true(failures >= 1);
	assert_true(n < 200);
	/* The build that got through is whole. */
	assert_int_equal(bt_image_open(&img, f->layout, "v2", NULL, NULL), 0);
	assert_int_equal(bt_image_verify(img, NULL, NULL, NULL, NULL), 0);
	expect_same(img, f->src, "new");
	bt_image_close(img);
}

static void
test_store_fault_in_blob_open_keeps_old_tag(void **state)
{
	fault_loop(*state, BT_TEST_OS_OPEN, EMFILE);
}

static void
test_store_fault_in_blob_write_keeps_old_tag(void **state)
{
	fault_loop(*state, BT_TEST_OS_WRITE, ENOSPC);
}

static void
test_store_short_write_is_retried(void **state)
{
	struct fx *f = *state;
	bt_image *img;

	/* A short write is not an error: the writer continues it. */
	bt_test_os_fault(BT_TEST_OS_WRITE, 1, 0);
	assert_int_equal(build(f, "v1", NULL), 0);
	assert_true(bt_test_os_calls(BT_TEST_OS_WRITE) > 1);
	bt_test_os_reset();
	assert_int_equal(bt_image_open(&img, f->layout, "v1", NULL, NULL), 0);
	assert_int_equal(bt_image_verify(img, NULL, NULL, NULL, NULL), 0);
	expect_same(img, f->src, "big");
	bt_image_close(img);
}

static void
test_store_fault_in_rename_keeps_old_tag(void **state)
{
	fault_loop(*state, BT_TEST_OS_RENAME, EIO);
}

static void
test_store_fault_in_source_read_keeps_old_tag(void **state)
{
	fault_loop(*state, BT_TEST_OS_PREAD, EIO);
}

static void
test_store_fault_in_index_fsync_keeps_old_tag(void **state)
{
	fault_loop(*state, BT_TEST_OS_FSYNC, EIO);
}

struct open_arg {
	const char *layout;
};

static int
open_body(void *arg)
{
	struct open_arg *a = arg;
	bt_image *img;
	int rc;

	rc = bt_image_open(&img, a->layout, "v1", NULL, NULL);
	if (rc == 0)
		bt_image_close(img);
	return rc;
}

static void
test_store_open_survives_allocation_failures(void **state)
{
	struct fx *f = *state;
	struct open_arg a = { f->layout };

	assert_int_equal(build(f, "v1", NULL), 0);
	assert_true(bt_test_alloc_torture(open_body, &a, 500) > 1);
}

static void
test_store_gc_keeps_what_tags_need(void **state)
{
	struct fx *f = *state;
	struct bt_image_gc_result r;
	bt_image *img;
	uint8_t *p;

	assert_int_equal(build(f, "v1", NULL), 0);
	p = pattern(200000, 5);
	write_file(f->src, "big", p, 200000);
	bt_free(p);
	assert_int_equal(build(f, "v2", NULL), 0);
	assert_int_equal(bt_image_gc(f->layout, &r, NULL), 0);
	assert_int_equal(r.removed, 0);
	assert_int_equal(bt_image_rm(f->layout, "v1", NULL), 0);
	assert_int_equal(bt_image_rm(f->layout, "v1", NULL), -ENOENT);
	assert_int_equal(bt_image_gc(f->layout, &r, NULL), 0);
	assert_true(r.removed >= 3); /* v1's manifest, metadata, chunks */
	assert_int_equal(bt_image_open(&img, f->layout, "v2", NULL, NULL), 0);
	assert_int_equal(bt_image_verify(img, NULL, NULL, NULL, NULL), 0);
	expect_same(img, f->src, "big");
	bt_image_close(img);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_store_build_then_read_back),
		T(test_store_damaged_chunk_is_named_and_never_served),
		T(test_store_fault_in_blob_open_keeps_old_tag),
		T(test_store_fault_in_blob_write_keeps_old_tag),
		T(test_store_short_write_is_retried),
		T(test_store_fault_in_rename_keeps_old_tag),
		T(test_store_fault_in_source_read_keeps_old_tag),
		T(test_store_fault_in_index_fsync_keeps_old_tag),
		T(test_store_open_survives_allocation_failures),
		T(test_store_gc_keeps_what_tags_need),
	};
#undef T

	return cmocka_run_group_tests_name("image.store", tests, NULL, NULL);
}
