/*
 * Tests for os/: the real table, full reads/writes under short transfers,
 * and injected EIO/ENOSPC through the replaceable table.
 */
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
	};

	return cmocka_run_group_tests_name("os.file", tests, NULL, NULL);
}
