/*
 * blk/dev_test.c: unit tests of the device: sector crypto, nonce
 * uniqueness across reopen, authenticated never-written sectors, tamper
 * detection, journal replay, syscall faults (sticky ERROR state) and crash
 * simulation (writes after the last sync discarded, SQLite crash-VFS style).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "blk_int.h"
#include "testing.h"

#define SECTORS 64u
#define SIZE    ((uint64_t)SECTORS * BT_BLK_SECTOR_SIZE)

struct fx {
	char   *dir;
	char   *data;
	uint8_t key[BT_BLK_KEY_LEN];
};

static int
setup(void **state)
{
	struct fx *f = bt_zalloc(sizeof(*f));

	f->dir = bt_test_tmpdir();
	f->data = bt_test_path(f->dir, "d.img");
	for (unsigned i = 0; i < sizeof(f->key); i++)
		f->key[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(bt_blk_dev_create(
	                     f->data, SIZE, f->key, BT_BLK_ROLE_PRIMARY, NULL),
	    0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	bt_test_os_reset();
	bt_free(f->data);
	bt_test_tmpdir_remove(f->dir);
	bt_free(f);
	return 0;
}

static void
fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static bt_blk_dev *
open_dev(struct fx *f)
{
	bt_blk_dev *dev = NULL;

	assert_int_equal(bt_blk_dev_open(&dev, f->data, f->key, NULL), 0);
	return dev;
}

/* abandon frees dev as a killed process would: no flush, no checkpoint. */
static void
abandon(bt_blk_dev *dev)
{
	atomic_store(&dev->state, BT_BLK_STATE_ERROR);
	bt_blk_dev_close(dev);
}

static void
flip_byte(const char *path, off_t off)
{
	int     fd = open(path, O_RDWR);
	uint8_t b;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void
test_unwritten_sectors_read_zero_and_writes_round_trip(void **state)
{
	struct fx  *f = *state;
	bt_blk_dev *dev = open_dev(f);
	uint8_t    *a = bt_alloc(3 * BT_BLK_SECTOR_SIZE);
	uint8_t    *b = bt_alloc(3 * BT_BLK_SECTOR_SIZE);

	assert_int_equal(bt_blk_dev_read(dev, b, BT_BLK_SECTOR_SIZE, 0), 0);
	for (unsigned i = 0; i < BT_BLK_SECTOR_SIZE; i++)
		assert_int_equal(b[i], 0);
	fill(a, 3 * BT_BLK_SECTOR_SIZE, 1);
	assert_int_equal(bt_blk_dev_write(dev, a, 3 * BT_BLK_SECTOR_SIZE,
	                     4 * BT_BLK_SECTOR_SIZE, 0),
	    0);
	assert_int_equal(bt_blk_dev_read(dev, b, 3 * BT_BLK_SECTOR_SIZE,
	                     4 * BT_BLK_SECTOR_SIZE),
	    0);
	assert_memory_equal(a, b, 3 * BT_BLK_SECTOR_SIZE);
	// The data file holds ciphertext, not the plaintext.
	{
		uint8_t c[64];
		int     fd = open(f->data, O_RDONLY);

		assert_int_equal(
		    pread(fd, c, sizeof(c), 4 * BT_BLK_SECTOR_SIZE),
		    (ssize_t)sizeof(c));
		close(fd);
		assert_memory_not_equal(c, a, sizeof(c));
	}
	// Unaligned write: read-modify-write of partial sectors.
	assert_int_equal(bt_blk_dev_write(dev, "hello", 5,
	                     4 * BT_BLK_SECTOR_SIZE + 4094, 0),
	    0);
	memcpy(a + 4094, "hello", 5);
	assert_int_equal(bt_blk_dev_read(dev, b, 3 * BT_BLK_SECTOR_SIZE,
	                     4 * BT_BLK_SECTOR_SIZE),
	    0);
	assert_memory_equal(a, b, 3 * BT_BLK_SECTOR_SIZE);
	// Zero: whole sectors become "zero" entries, partial ones rewritten.
	assert_int_equal(bt_blk_dev_zero(dev, 4 * BT_BLK_SECTOR_SIZE + 100,
	                     BT_BLK_SECTOR_SIZE * 2, 0),
	    0);
	memset(a + 100, 0, BT_BLK_SECTOR_SIZE * 2);
	assert_int_equal(bt_blk_dev_read(dev, b, 3 * BT_BLK_SECTOR_SIZE,
	                     4 * BT_BLK_SECTOR_SIZE),
	    0);
	assert_memory_equal(a, b, 3 * BT_BLK_SECTOR_SIZE);
	// Out of range.
	assert_int_equal(bt_blk_dev_read(dev, b, 1, SIZE), -EINVAL);
	assert_int_equal(
	    bt_blk_dev_write(dev, a, BT_BLK_SECTOR_SIZE, SIZE - 1, 0),
	    -EINVAL);
	bt_blk_dev_close(dev);
	// Everything survives a clean reopen.
	dev = open_dev(f);
	assert_int_equal(bt_blk_dev_read(dev, b, 3 * BT_BLK_SECTOR_SIZE,
	                     4 * BT_BLK_SECTOR_SIZE),
	    0);
	assert_memory_equal(a, b, 3 * BT_BLK_SECTOR_SIZE);
	bt_blk_dev_close(dev);
	bt_free(a);
	bt_free(b);
}

static int
nonce_cmp(const void *x, const void *y)
{
	return memcmp(x, y, BLK_NONCE_LEN);
}

static void
test_nonces_never_repeat_across_reopen_and_crash(void **state)
{
	struct fx *f = *state;
	uint8_t    buf[BT_BLK_SECTOR_SIZE];
	uint8_t   *nonces = bt_alloc(64 * BLK_NONCE_LEN);
	size_t     n = 0;
	uint64_t   last_epoch = 0;

	for (int round = 0; round < 8; round++) {
		bt_blk_dev *dev = open_dev(f);

		assert_true(bt_blk_dev_epoch(dev) > last_epoch);
		last_epoch = bt_blk_dev_epoch(dev);
		for (int w = 0; w < 8; w++) {
			fill(buf, sizeof(buf), (unsigned)(round * 8 + w));
			// The same sector every time: the nonce must differ.
			assert_int_equal(
			    bt_blk_dev_write(dev, buf, sizeof(buf), 0, 0), 0);
			memcpy(nonces + n * BLK_NONCE_LEN, dev->table[0].nonce,
			    BLK_NONCE_LEN);
			n++;
		}
		if (round % 2 == 0)
			abandon(
			    dev); /* a crash must not reuse nonces either */
		else
			bt_blk_dev_close(dev);
	}
	qsort(nonces, n, BLK_NONCE_LEN, nonce_cmp);
	for (size_t i = 1; i < n; i++)
		assert_memory_not_equal(nonces + (i - 1) * BLK_NONCE_LEN,
		    nonces + i * BLK_NONCE_LEN, BLK_NONCE_LEN);
	bt_free(nonces);
}

static void
test_tampered_sector_is_eio_and_others_read(void **state)
{
	struct fx  *f = *state;
	bt_blk_dev *dev = open_dev(f);
	uint8_t     a[4 * BT_BLK_SECTOR_SIZE], b[BT_BLK_SECTOR_SIZE];

	fill(a, sizeof(a), 3);
	assert_int_equal(
	    bt_blk_dev_write(dev, a, sizeof(a), 0, BT_BLK_FUA), 0);
	bt_blk_dev_close(dev);
	flip_byte(f->data, 2 * BT_BLK_SECTOR_SIZE + 17);
	dev = open_dev(f);
	assert_int_equal(
	    bt_blk_dev_read(dev, b, sizeof(b), 2 * BT_BLK_SECTOR_SIZE), -EIO);
	assert_int_equal(bt_blk_dev_read(dev, a, sizeof(a), 0), -EIO);
	assert_int_equal(bt_blk_dev_read(dev, b, sizeof(b), 0), 0);
	assert_int_equal(
	    bt_blk_dev_read(dev, b, sizeof(b), 3 * BT_BLK_SECTOR_SIZE), 0);
	assert_int_equal(bt_blk_dev_state(dev), BT_BLK_STATE_OPEN);
	assert_int_equal(bt_blk_dev_verify(dev), 1);
	bt_blk_dev_close(dev);
}

static void
test_data_in_never_written_sector_is_ignored(void **state)
{
	struct fx  *f = *state;
	bt_blk_dev *dev;
	uint8_t     b[BT_BLK_SECTOR_SIZE];
	int         fd = open(f->data, O_RDWR);

	// A host writing into a never-written sector changes nothing a
	// reader sees: the authenticated table says "never written".
	memset(b, 0xAA, sizeof(b));
	assert_int_equal(pwrite(fd, b, sizeof(b), 9 * BT_BLK_SECTOR_SIZE),
	    (ssize_t)sizeof(b));
	close(fd);
	dev = open_dev(f);
	assert_int_equal(
	    bt_blk_dev_read(dev, b, sizeof(b), 9 * BT_BLK_SECTOR_SIZE), 0);
	for (unsigned i = 0; i < sizeof(b); i++)
		assert_int_equal(b[i], 0);
	bt_blk_dev_close(dev);
}

static void
test_tampered_metadata_is_refused(void **state)
{
	struct fx     *f = *state;
	char          *meta = bt_test_path(f->dir, "d.img.meta");
	bt_blk_dev    *dev = NULL;
	struct bt_diag diag;

	flip_byte(meta, 4096 + 36 * 5 + 3); /* an entry of the table */
	bt_diag_clear(&diag);
	assert_int_equal(
	    bt_blk_dev_open(&dev, f->data, f->key, &diag), BT_ECORRUPT);
	assert_non_null(strstr(diag.msg, "digest"));
	flip_byte(meta, 4096 + 36 * 5 + 3);
	flip_byte(meta, 60); /* the header */
	assert_int_equal(
	    bt_blk_dev_open(&dev, f->data, f->key, &diag), BT_ECORRUPT);
	flip_byte(meta, 60);
	// A wrong key fails the MAC too.
	f->key[0] ^= 1;
	assert_int_equal(
	    bt_blk_dev_open(&dev, f->data, f->key, &diag), BT_ECORRUPT);
	f->key[0] ^= 1;
	dev = open_dev(f);
	bt_blk_dev_close(dev);
	bt_free(meta);
}

static void
test_journal_replay_keeps_every_write_after_kill(void **state)
{
	struct fx  *f = *state;
	bt_blk_dev *dev = open_dev(f);
	uint8_t     a[BT_BLK_SECTOR_SIZE], b[BT_BLK_SECTOR_SIZE];
	uint64_t    widx;

	for (unsigned s = 0; s < 10; s++) {
		fill(a, sizeof(a), s);
		assert_int_equal(bt_blk_dev_write(dev, a, sizeof(a),
		                     s * BT_BLK_SECTOR_SIZE, 0),
		    0);
		if (s == 4)
			assert_int_equal(bt_blk_dev_flush(dev), 0);
	}
	assert_int_equal(bt_blk_dev_zero(dev, 20 * BT_BLK_SECTOR_SIZE,
	                     BT_BLK_SECTOR_SIZE, 0),
	    0);
	widx = bt_blk_dev_write_index(dev);
	abandon(dev); /* kill -9: page cache survives, nothing else */
	dev = open_dev(f);
	assert_int_equal(bt_blk_dev_write_index(dev), widx);
	for (unsigned s = 0; s < 10; s++) {
		fill(a, sizeof(a), s);
		assert_int_equal(
		    bt_blk_dev_read(dev, b, sizeof(b), s * BT_BLK_SECTOR_SIZE),
		    0);
		assert_memory_equal(a, b, sizeof(a));
	}
	bt_blk_dev_close(dev);
}

/*
 * A batch committed together (whole sectors, disjoint) gives each write its
 * own index and survives a kill like single writes; overlapping or partial
 * batches run one by one, in order (the later write wins).
 */
static void
test_write_many_commits_in_order_and_replays(void **state)
{
	struct fx          *f = *state;
	bt_blk_dev         *dev = open_dev(f);
	static uint8_t      buf[6][2 * BT_BLK_SECTOR_SIZE];
	uint8_t             b[2 * BT_BLK_SECTOR_SIZE];
	struct bt__blk_wreq w[6];
	uint64_t            widx0 = bt_blk_dev_write_index(dev);
	const uint64_t      at[6] = { 3, 9, 0, 30, 12, 40 };

	for (unsigned i = 0; i < 6; i++) {
		fill(buf[i], sizeof(buf[i]), 100 + i);
		w[i].buf = buf[i];
		w[i].len = i % 2 ? 2 * BT_BLK_SECTOR_SIZE : BT_BLK_SECTOR_SIZE;
		w[i].off = at[i] * BT_BLK_SECTOR_SIZE;
		w[i].rc = 1;
	}
	bt__blk_dev_write_many(dev, w, 6);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(w[i].rc, 0);
	assert_int_equal(bt_blk_dev_write_index(dev), widx0 + 6);
	// Each sector's write index is its own write's, in order.
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(dev->table[at[i]].widx, widx0 + 1 + i);
	// Overlapping (sector 31 twice) and unaligned: one by one, in order.
	w[0].off = 31 * BT_BLK_SECTOR_SIZE;
	w[0].len = BT_BLK_SECTOR_SIZE;
	w[1].off = 30 * BT_BLK_SECTOR_SIZE;
	w[1].len = 2 * BT_BLK_SECTOR_SIZE;
	w[2].off = 50 * BT_BLK_SECTOR_SIZE + 100;
	w[2].len = 10;
	bt__blk_dev_write_many(dev, w, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(w[i].rc, 0);
	assert_int_equal(bt_blk_dev_write_index(dev), widx0 + 9);
	// Past the end: that write fails, the others do not.
	w[0].off = SIZE;
	w[0].len = BT_BLK_SECTOR_SIZE;
	w[1].off = 20 * BT_BLK_SECTOR_SIZE;
	bt__blk_dev_write_many(dev, w, 2);
	assert_int_equal(w[0].rc, -EINVAL);
	assert_int_equal(w[1].rc, 0);
	abandon(dev); /* kill -9: only the journal tells the new tags */
	dev = open_dev(f);
	assert_int_equal(bt_blk_dev_write_index(dev), widx0 + 10);
	const uint64_t chk[4][3] = {
		{ 3, 0, 1 }, { 9, 1, 2 }, { 0, 2, 1 }, { 12, 4, 1 },
	};
	for (unsigned i = 0; i < 4; i++) {
		size_t len = chk[i][2] * BT_BLK_SECTOR_SIZE;

		assert_int_equal(bt_blk_dev_read(dev, b, len,
		                     chk[i][0] * BT_BLK_SECTOR_SIZE),
		    0);
		assert_memory_equal(b, buf[chk[i][1]], len);
	}
	// 30..31 hold buf[1] (the later write), 20..21 too.
	assert_int_equal(bt_blk_dev_read(dev, b, sizeof(b),
	                     30 * BT_BLK_SECTOR_SIZE),
	    0);
	assert_memory_equal(b, buf[1], sizeof(b));
	assert_int_equal(bt_blk_dev_read(dev, b, sizeof(b),
	                     20 * BT_BLK_SECTOR_SIZE),
	    0);
	assert_memory_equal(b, buf[1], sizeof(b));
	assert_int_equal(bt_blk_dev_read(dev, b, 10,
	                     50 * BT_BLK_SECTOR_SIZE + 100),
	    0);
	assert_memory_equal(b, buf[2], 10);
	assert_int_equal(bt_blk_dev_verify(dev), 0);
	bt_blk_dev_close(dev);
}

/*
 * A flush that a finished flush already covered syncs nothing; a client in
 * a write+flush rhythm gets its flush run ahead (once per write), and its
 * own flush then needs no fdatasync.
 */
static void
test_flush_ahead_and_covered_flushes_skip_fdatasync(void **state)
{
	struct fx  *f = *state;
	bt_blk_dev *dev = open_dev(f);
	uint8_t     a[BT_BLK_SECTOR_SIZE], b[BT_BLK_SECTOR_SIZE];

	fill(a, sizeof(a), 5);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(bt_blk_dev_write(dev, a, sizeof(a), 0, 0), 0);
		assert_false(bt__blk_dev_flush_ahead_due(dev));
		assert_int_equal(bt_blk_dev_flush(dev), 0);
	}
	bt_test_os_fault(BT_TEST_OS_FSYNC, 1 << 30, EIO); /* count only */
	assert_int_equal(bt_blk_dev_flush(dev), 0); /* nothing new */
	assert_int_equal(bt_test_os_calls(BT_TEST_OS_FSYNC), 0);
	// Rhythm (1 write, flush) twice, then a write: a flush is due once.
	// (The empty flush above broke the rhythm.)
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
		    bt_blk_dev_write(dev, a, sizeof(a), 4096, 0), 0);
		assert_false(bt__blk_dev_flush_ahead_due(dev));
		assert_int_equal(bt_blk_dev_flush(dev), 0);
	}
	assert_int_equal(bt_test_os_calls(BT_TEST_OS_FSYNC), 2);
	assert_int_equal(bt_blk_dev_write(dev, a, sizeof(a), 8192, 0), 0);
	assert_true(bt__blk_dev_flush_ahead_due(dev));
	assert_false(bt__blk_dev_flush_ahead_due(dev));
	bt__blk_dev_flush_ahead(dev);
	assert_int_equal(bt_test_os_calls(BT_TEST_OS_FSYNC), 3);
	assert_int_equal(bt_blk_dev_flush(dev), 0);
	assert_int_equal(bt_test_os_calls(BT_TEST_OS_FSYNC), 3);
	// A second write breaks the rhythm: nothing is due, the flush syncs.
	assert_int_equal(bt_blk_dev_write(dev, a, sizeof(a), 0, 0), 0);
	assert_true(bt__blk_dev_flush_ahead_due(dev));
	assert_int_equal(bt_blk_dev_write(dev, a, sizeof(a), 4096, 0), 0);
	assert_false(bt__blk_dev_flush_ahead_due(dev));
	assert_int_equal(bt_blk_dev_flush(dev), 0);
	assert_int_equal(bt_test_os_calls(BT_TEST_OS_FSYNC), 4);
	bt_test_os_reset();
	// What the flushes covered survives a kill.
	abandon(dev);
	dev = open_dev(f);
	for (unsigned s = 0; s < 3; s++) {
		assert_int_equal(bt_blk_dev_read(dev, b, sizeof(b), s * 4096), 0);
		assert_memory_equal(a, b, sizeof(a));
	}
	bt_blk_dev_close(dev);
}

/* ------------------------------------------------------------------ */
/* Crash simulation: an os table that can undo every unsynced write    */
/* ------------------------------------------------------------------ */

struct undo {
	char    *path;
	off_t    off;
	off_t    old_size;
	uint8_t *old;
	size_t   len;
};

static struct undo crash_log[65536];
static size_t      crash_n;
static char       *fd_path[1024];

static void
undo_record(int fd, off_t off, size_t len)
{
	const struct bt_os_ops *real = bt_os_default_ops();
	struct stat             st;
	struct undo            *u;

	assert_true(fd >= 0 && fd < 1024 && fd_path[fd] != NULL);
	assert_true(crash_n < sizeof(crash_log) / sizeof(crash_log[0]));
	assert_int_equal(real->fstat(fd, &st), 0);
	u = &crash_log[crash_n++];
	u->path = bt_strdup(fd_path[fd]);
	u->off = off;
	u->old_size = st.st_size;
	u->len = off < st.st_size ? (size_t)(st.st_size - off) : 0;
	if (u->len > len)
		u->len = len;
	u->old = bt_alloc(u->len + 1);
	if (u->len > 0)
		assert_int_equal(
		    real->pread(fd, u->old, u->len, off), (ssize_t)u->len);
}

static void
undo_drop(int fd)
{
	size_t j = 0;

	for (size_t i = 0; i < crash_n; i++) {
		if (strcmp(crash_log[i].path, fd_path[fd]) == 0) {
			bt_free(crash_log[i].path);
			bt_free(crash_log[i].old);
		} else {
			crash_log[j++] = crash_log[i];
		}
	}
	crash_n = j;
}

static int
c_open(const char *path, int flags, mode_t mode)
{
	int fd = bt_os_default_ops()->open(path, flags, mode);

	if (fd >= 0 && fd < 1024) {
		bt_free(fd_path[fd]);
		fd_path[fd] = bt_strdup(path);
	}
	return fd;
}

static ssize_t
c_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	undo_record(fd, off, len);
	return bt_os_default_ops()->pwrite(fd, buf, len, off);
}

static int
c_ftruncate(int fd, off_t len)
{
	struct stat st;

	assert_int_equal(bt_os_default_ops()->fstat(fd, &st), 0);
	undo_record(fd, len < st.st_size ? len : st.st_size,
	    len < st.st_size ? (size_t)(st.st_size - len) : 0);
	return bt_os_default_ops()->ftruncate(fd, len);
}

static int
c_fsync(int fd)
{
	int rc = bt_os_default_ops()->fsync(fd);

	if (rc == 0)
		undo_drop(fd);
	return rc;
}

static int
c_fdatasync(int fd)
{
	int rc = bt_os_default_ops()->fdatasync(fd);

	if (rc == 0)
		undo_drop(fd);
	return rc;
}

static int
c_rename(const char *from, const char *to)
{
	// bt_os_write_file_atomic fsyncs before renaming and the folder
	// after: the rename is durable at once in this model.
	int rc = bt_os_default_ops()->rename(from, to);

	for (size_t i = 0; rc == 0 && i < crash_n; i++) {
		if (strcmp(crash_log[i].path, to) == 0) {
			bt_free(crash_log[i].path);
			bt_free(crash_log[i].old);
			crash_log[i] = crash_log[--crash_n];
			i--;
		}
	}
	return rc;
}

static struct bt_os_ops crash_ops;

static void
crash_install(void)
{
	crash_ops = *bt_os_default_ops();
	crash_ops.open = c_open;
	crash_ops.pwrite = c_pwrite;
	crash_ops.ftruncate = c_ftruncate;
	crash_ops.fsync = c_fsync;
	crash_ops.fdatasync = c_fdatasync;
	crash_ops.rename = c_rename;
	crash_n = 0;
	bt_os_set_ops(&crash_ops);
}

/* crash_now undoes every write not followed by a sync, newest first. */
static void
crash_now(void)
{
	bt_os_set_ops(NULL);
	while (crash_n > 0) {
		struct undo *u = &crash_log[--crash_n];
		int          fd = open(u->path, O_RDWR);

		if (fd >= 0) {
			if (u->len > 0)
				assert_int_equal(
				    pwrite(fd, u->old, u->len, u->off),
				    (ssize_t)u->len);
			assert_int_equal(ftruncate(fd, u->old_size), 0);
			close(fd);
		}
		bt_free(u->path);
		bt_free(u->old);
	}
	for (int i = 0; i < 1024; i++) {
		bt_free(fd_path[i]);
		fd_path[i] = NULL;
	}
}

static void
test_crash_keeps_flushed_writes_and_every_sector_readable(void **state)
{
	struct fx *f = *state;
	int        durable[32];

	for (unsigned s = 0; s < 32; s++)
		durable[s] = -1; /* never written: zeros */
	for (int point = 1; point <= 12; point++) {
		bt_blk_dev *dev;
		uint8_t     a[BT_BLK_SECTOR_SIZE], b[BT_BLK_SECTOR_SIZE];
		int         pending[32];

		memcpy(pending, durable, sizeof(pending));
		crash_install();
		dev = open_dev(f);
		// Writes to sectors (i * 7) % 32, a flush every 5, then a
		// crash that throws away everything not synced.
		for (int i = 0; i < point * 3; i++) {
			unsigned sec = (unsigned)(i * 7 + point) % 32;
			int      seed = point * 1000 + i;

			fill(a, sizeof(a), (unsigned)seed);
			assert_int_equal(bt_blk_dev_write(dev, a, sizeof(a),
			                     sec * BT_BLK_SECTOR_SIZE, 0),
			    0);
			pending[sec] = seed;
			if (i % 5 == 4) {
				assert_int_equal(bt_blk_dev_flush(dev), 0);
				memcpy(durable, pending, sizeof(durable));
			}
		}
		abandon(dev);
		crash_now();
		dev = open_dev(f);
		// Exactly the flushed state survives, and every sector reads.
		for (unsigned sec = 0; sec < 32; sec++) {
			if (durable[sec] < 0)
				memset(a, 0, sizeof(a));
			else
				fill(a, sizeof(a), (unsigned)durable[sec]);
			assert_int_equal(bt_blk_dev_read(dev, b, sizeof(b),
			                     sec * BT_BLK_SECTOR_SIZE),
			    0);
			assert_memory_equal(a, b, sizeof(a));
		}
		assert_int_equal(bt_blk_dev_verify(dev), 0);
		bt_blk_dev_close(dev);
	}
}

/* ------------------------------------------------------------------ */
/* Syscall faults                                                     */
/* ------------------------------------------------------------------ */

static void
test_write_fault_enters_sticky_error_state(void **state)
{
	struct fx  *f = *state;
	bt_blk_dev *dev = open_dev(f);
	uint8_t     a[BT_BLK_SECTOR_SIZE];

	fill(a, sizeof(a), 9);
	assert_int_equal(
	    bt_blk_dev_write(dev, a, sizeof(a), 0, BT_BLK_FUA), 0);
	bt_test_os_fault(BT_TEST_OS_PWRITE, 1, EIO);
	assert_int_equal(bt_blk_dev_write(dev, a, sizeof(a), 0, 0), -EIO);
	bt_test_os_reset();
	assert_int_equal(bt_blk_dev_state(dev), BT_BLK_STATE_ERROR);
	assert_int_equal(bt_blk_dev_read(dev, a, sizeof(a), 0), -EIO);
	assert_int_equal(bt_blk_dev_write(dev, a, sizeof(a), 0, 0), -EIO);
	assert_int_equal(bt_blk_dev_flush(dev), -EIO);
	bt_blk_dev_close(dev);
	// Reopening recovers; the flushed write is intact.
	dev = open_dev(f);
	assert_int_equal(bt_blk_dev_read(dev, a, sizeof(a), 0), 0);
	assert_int_equal(bt_blk_dev_verify(dev), 0);
	bt_blk_dev_close(dev);
}

static void
test_fsync_fault_fails_flush(void **state)
{
	struct fx  *f = *state;
	bt_blk_dev *dev = open_dev(f);
	uint8_t     a[BT_BLK_SECTOR_SIZE];

	fill(a, sizeof(a), 5);
	assert_int_equal(bt_blk_dev_write(dev, a, sizeof(a), 0, 0), 0);
	bt_test_os_fault(BT_TEST_OS_FSYNC, 1, EIO);
	assert_int_equal(bt_blk_dev_flush(dev), -EIO);
	bt_test_os_reset();
	assert_int_equal(bt_blk_dev_state(dev), BT_BLK_STATE_ERROR);
	bt_blk_dev_close(dev);
	dev = open_dev(f);
	assert_int_equal(bt_blk_dev_verify(dev), 0);
	bt_blk_dev_close(dev);
}

static void
test_open_survives_faults_at_every_metadata_write(void **state)
{
	struct fx  *f = *state;
	uint8_t     a[BT_BLK_SECTOR_SIZE], b[BT_BLK_SECTOR_SIZE];
	bt_blk_dev *dev = open_dev(f);

	fill(a, sizeof(a), 77);
	assert_int_equal(
	    bt_blk_dev_write(dev, a, sizeof(a), 0, BT_BLK_FUA), 0);
	bt_blk_dev_close(dev);
	for (int err = 0; err <= 1; err++) {
		for (int nth = 1; nth <= 8; nth++) {
			dev = NULL;
			// err 0: a short write; err 1: EIO.
			bt_test_os_fault(
			    BT_TEST_OS_PWRITE, nth, err ? EIO : 0);
			int rc = bt_blk_dev_open(&dev, f->data, f->key, NULL);

			bt_test_os_reset();
			if (rc == 0)
				bt_blk_dev_close(dev);
			dev = open_dev(f);
			assert_int_equal(
			    bt_blk_dev_read(dev, b, sizeof(b), 0), 0);
			assert_memory_equal(a, b, sizeof(a));
			bt_blk_dev_close(dev);
		}
	}
}

static void
test_key_file_rules(void **state)
{
	struct fx     *f = *state;
	char          *kp = bt_test_path(f->dir, "k");
	uint8_t        k1[32], k2[32];
	struct bt_diag diag;

	assert_int_equal(bt_blk_key_create(k1, kp), 0);
	assert_int_equal(bt_blk_key_create(k1, kp), -EEXIST);
	assert_int_equal(bt_blk_key_load(k2, kp, NULL), 0);
	assert_memory_equal(k1, k2, 32);
	chmod(kp, 0644);
	bt_diag_clear(&diag);
	assert_int_equal(bt_blk_key_load(k2, kp, &diag), BT_EPERM);
	assert_non_null(strstr(diag.msg, "too open"));
	bt_free(kp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_unwritten_sectors_read_zero_and_writes_round_trip,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_nonces_never_repeat_across_reopen_and_crash, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_tampered_sector_is_eio_and_others_read, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_data_in_never_written_sector_is_ignored, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_tampered_metadata_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_journal_replay_keeps_every_write_after_kill, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_write_many_commits_in_order_and_replays, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_flush_ahead_and_covered_flushes_skip_fdatasync, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_crash_keeps_flushed_writes_and_every_sector_readable,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_write_fault_enters_sticky_error_state, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_fsync_fault_fails_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_open_survives_faults_at_every_metadata_write, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_key_file_rules, setup, teardown),
	};

	return cmocka_run_group_tests_name("blk.dev", tests, NULL, NULL);
}
