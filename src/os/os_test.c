/*
 * Tests for os/: the real table, full reads/writes under short transfers,
 * and injected EIO/ENOSPC through the replaceable table.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testing.h"

static int
setup(void **state)
{
	*state = bt_test_tmpdir();
	return 0;
}

static int
teardown(void **state)
{
	bt_test_os_reset();
	bt_test_tmpdir_remove(*state);
	return 0;
}

static void
test_write_file_atomic_then_read_back_with_mode(void **state)
{
	char *path = bt_test_path(*state, "state.json");
	struct stat st;
	uint8_t *data;
	size_t len;

	assert_int_equal(bt_os_write_file_atomic(path, "{\"a\":1}", 7, 0600), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(bt_os_read_file(path, 100, &data, &len), 0);
	assert_int_equal(len, 7);
	assert_string_equal((char *)data, "{\"a\":1}");
	bt_free(data);
	assert_int_equal(bt_os_read_file(path, 3, &data, &len), BT_ELIMIT);
	bt_free(path);
}

static void
test_read_file_missing_is_enoent(void **state)
{
	char *path = bt_test_path(*state, "nope");
	uint8_t *data;
	size_t len;

	assert_int_equal(bt_os_read_file(path, 100, &data, &len), -ENOENT);
	bt_free(path);
}

static void
test_injected_eio_on_fsync_keeps_old_file(void **state)
{
	char *path = bt_test_path(*state, "key");
	uint8_t *data;
	size_t len;

	assert_int_equal(bt_os_write_file_atomic(path, "old", 3, 0600), 0);
	bt_test_os_fault(BT_TEST_OS_FSYNC, 1, EIO);
	assert_int_equal(bt_os_write_file_atomic(path, "new!", 4, 0600), -EIO);
	bt_test_os_reset();
	assert_int_equal(bt_os_read_file(path, 100, &data, &len), 0);
	assert_string_equal((char *)data, "old");
	bt_free(data);
	bt_free(path);
}

static void
test_injected_enospc_on_write_and_eio_on_rename(void **state)
{
	char *path = bt_test_path(*state, "f");
	char *tmpname;
	struct stat st;

	bt_test_os_fault(BT_TEST_OS_PWRITE, 1, ENOSPC);
	assert_int_equal(bt_os_write_file_atomic(path, "x", 1, 0600), -ENOSPC);
	assert_int_equal(bt_test_os_calls(BT_TEST_OS_PWRITE), 1);
	bt_test_os_fault(BT_TEST_OS_RENAME, 1, EIO);
	assert_int_equal(bt_os_write_file_atomic(path, "x", 1, 0600), -EIO);
	bt_test_os_reset();
	assert_int_not_equal(stat(path, &st), 0);
	// No temporary file is left behind either.
	tmpname = bt_test_path(*state, "f.tmp");
	assert_int_not_equal(access(tmpname, F_OK), 0);
	bt_free(tmpname);
	bt_free(path);
}

static void
test_short_reads_and_writes_are_completed(void **state)
{
	char *path = bt_test_path(*state, "data");
	uint8_t buf[8192], back[8192];
	int fd;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	fd = bt_os_open(path, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	bt_test_os_fault(BT_TEST_OS_PWRITE, 1, 0); // first write is short
	assert_int_equal(bt_os_pwrite_full(fd, buf, sizeof(buf), 0), 0);
	assert_true(bt_test_os_calls(BT_TEST_OS_PWRITE) >= 2);
	bt_test_os_fault(BT_TEST_OS_PREAD, 1, 0); // first read is short
	assert_int_equal(bt_os_pread_full(fd, back, sizeof(back), 0), 0);
	assert_true(bt_test_os_calls(BT_TEST_OS_PREAD) >= 2);
	assert_memory_equal(buf, back, sizeof(buf));
	bt_test_os_reset();
	// Reading past the end is a truncation, not a success.
	assert_int_equal(bt_os_pread_full(fd, back, 16, sizeof(buf) - 8),
	    BT_ETRUNC);
	bt_test_os_fault(BT_TEST_OS_PREAD, 1, EIO);
	assert_int_equal(bt_os_pread_full(fd, back, 16, 0), -EIO);
	bt_test_os_reset();
	bt_os_close(fd);
	bt_free(path);
}

static void
test_mkdir_p_makes_parents_and_tolerates_existing(void **state)
{
	char *path = bt_test_path(*state, "a/b/c");
	struct stat st;

	assert_int_equal(bt_os_mkdir_p(path, 0700), 0);
	assert_int_equal(bt_os_mkdir_p(path, 0700), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(bt_os_fsync_dir(path), 0);
	bt_free(path);
}

/* count_entries counts the names in dir other than "." and "..". */
static int
count_entries(const char *dir)
{
	struct dirent *e;
	DIR	      *d = opendir(dir);
	int	       n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

/*
 * A table whose first pwrite replaces the same file again from inside the
 * outer call: what a second thread doing bt_os_write_file_atomic on the
 * same path at the same moment looks like to the first.
 */
static struct {
	const char *path;
	int	    inner_rc;
	bool	    busy;
} nested;

static ssize_t
nested_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	if (!nested.busy) {
		nested.busy = true;
		nested.inner_rc = bt_os_write_file_atomic(nested.path, "inner",
		    5, 0600);
	}
	return bt_os_default_ops()->pwrite(fd, buf, len, off);
}

static void
test_write_file_atomic_concurrent_writers_do_not_collide(void **state)
{
	struct bt_os_ops ops = *bt_os_default_ops();
	char		*path = bt_test_path(*state, "shared");
	uint8_t		*data;
	size_t		 len;

	ops.pwrite = nested_pwrite;
	nested.path = path;
	nested.inner_rc = 1;
	nested.busy = false;
	bt_os_set_ops(&ops);
	assert_int_equal(bt_os_write_file_atomic(path, "outer!", 6, 0600), 0);
	bt_os_set_ops(NULL);
	assert_int_equal(nested.inner_rc, 0);
	// The outer writer renamed last, so its bytes are the file's.
	assert_int_equal(bt_os_read_file(path, 100, &data, &len), 0);
	assert_string_equal((char *)data, "outer!");
	bt_free(data);
	assert_int_equal(count_entries(*state), 1);
	bt_free(path);
}

static void
test_write_file_atomic_failure_leaves_no_temporary(void **state)
{
	char *path = bt_test_path(*state, "f");

	bt_test_os_fault(BT_TEST_OS_FSYNC, 1, EIO);
	assert_int_equal(bt_os_write_file_atomic(path, "x", 1, 0600), -EIO);
	bt_test_os_fault(BT_TEST_OS_RENAME, 1, EIO);
	assert_int_equal(bt_os_write_file_atomic(path, "x", 1, 0600), -EIO);
	bt_test_os_reset();
	assert_int_equal(count_entries(*state), 0);
	bt_free(path);
}

static void
test_mkdir_p_refuses_an_existing_file(void **state)
{
	char *path = bt_test_path(*state, "plain");
	char *under = bt_test_path(*state, "plain/sub");

	assert_int_equal(bt_os_write_file_atomic(path, "x", 1, 0600), 0);
	assert_int_equal(bt_os_mkdir_p(path, 0700), -ENOTDIR);
	assert_int_equal(bt_os_mkdir_p(under, 0700), -ENOTDIR);
	bt_free(under);
	bt_free(path);
}

/* A table whose pread/pwrite claim one byte more than they were asked for
 * once, then report end of file. */
static int overlong_calls;

static ssize_t
overlong_pread(int fd, void *buf, size_t len, off_t off)
{
	(void)fd;
	(void)buf;
	(void)off;
	return overlong_calls++ == 0 ? (ssize_t)len + 1 : 0;
}

static ssize_t
overlong_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	(void)fd;
	(void)buf;
	(void)off;
	return overlong_calls++ == 0 ? (ssize_t)len + 1 : 0;
}

static void
test_full_io_refuses_a_transfer_longer_than_asked(void **state)
{
	struct bt_os_ops ops = *bt_os_default_ops();
	uint8_t		 buf[16];

	(void)state;
	ops.pread = overlong_pread;
	ops.pwrite = overlong_pwrite;
	bt_os_set_ops(&ops);
	overlong_calls = 0;
	assert_int_equal(bt_os_pread_full(-1, buf, sizeof(buf), 0), -EIO);
	overlong_calls = 0;
	assert_int_equal(bt_os_pwrite_full(-1, buf, sizeof(buf), 0), -EIO);
	bt_os_set_ops(NULL);
}

static void
test_read_file_reports_eio_and_completes_short_reads(void **state)
{
	char	*path = bt_test_path(*state, "r");
	uint8_t	 big[40000], *data;
	size_t	 len;
	long	 live = bt_alloc_live();

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(bt_os_write_file_atomic(path, big, sizeof(big), 0600),
	    0);
	// The second read fails: an error, nothing handed out, nothing leaked.
	bt_test_os_fault(BT_TEST_OS_READ, 2, EIO);
	data = NULL;
	assert_int_equal(bt_os_read_file(path, 1 << 20, &data, &len), -EIO);
	assert_null(data);
	assert_int_equal(bt_alloc_live(), live);
	// A short read is just a smaller chunk.
	bt_test_os_fault(BT_TEST_OS_READ, 1, 0);
	assert_int_equal(bt_os_read_file(path, 1 << 20, &data, &len), 0);
	assert_true(bt_test_os_calls(BT_TEST_OS_READ) >= 4);
	bt_test_os_reset();
	assert_int_equal(len, sizeof(big));
	assert_memory_equal(data, big, sizeof(big));
	bt_free(data);
	// Over the cap after several chunks: BT_ELIMIT, nothing leaked.
	assert_int_equal(bt_os_read_file(path, 20000, &data, &len), BT_ELIMIT);
	assert_int_equal(bt_alloc_live(), live);
	bt_free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_write_file_atomic_then_read_back_with_mode, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_file_missing_is_enoent, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_injected_eio_on_fsync_keeps_old_file, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_injected_enospc_on_write_and_eio_on_rename, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_short_reads_and_writes_are_completed, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_mkdir_p_makes_parents_and_tolerates_existing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_write_file_atomic_concurrent_writers_do_not_collide,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_write_file_atomic_failure_leaves_no_temporary, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_mkdir_p_refuses_an_existing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_full_io_refuses_a_transfer_longer_than_asked, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_file_reports_eio_and_completes_short_reads, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("os.file", tests, NULL, NULL);
}
