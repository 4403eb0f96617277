/* Tests for core/err.c: messages for both ranges, errno mapping, diags. */
#include <errno.h>
#include <string.h>

#include "testing.h"

static void
test_strerror_covers_errno_and_bt_ranges(void **state)
{
	(void)state;
	assert_string_equal(bt_strerror(0), "success");
	assert_string_equal(bt_strerror(-ENOENT), strerror(ENOENT));
	for (int rc = BT_ECORRUPT; rc >= BT_E_LAST; rc--) {
		const char *s = bt_strerror(rc);

		assert_non_null(s);
		assert_string_not_equal(s, "unknown error");
	}
	assert_string_equal(bt_strerror(BT_E_LAST - 1), "unknown error");
	assert_string_equal(bt_strerror(BT_EBADSIG), "bad signature");
}

/*
 * bt_strerror's results are static: one for an errno number libc does not
 * know stays valid after the next call (glibc's strerror freed it).
 */
static void
test_strerror_results_stay_valid(void **state)
{
	const char *a, *b;

	(void)state;
	a = bt_strerror(-9999);
	b = bt_strerror(-9998);
	assert_string_equal(a, "unknown error");
	assert_string_equal(b, "unknown error");
	assert_ptr_equal(bt_strerror(-EIO), bt_strerror(-EIO));
	assert_string_equal(bt_strerror(-EIO), "Input/output error");
}

static void
test_to_errno_maps_bt_codes_to_kernel_errnos(void **state)
{
	(void)state;
	assert_int_equal(bt_to_errno(0), 0);
	assert_int_equal(bt_to_errno(-ENOSPC), ENOSPC);
	assert_int_equal(bt_to_errno(BT_ECORRUPT), EIO);
	assert_int_equal(bt_to_errno(BT_EEXPIRED), EACCES);
	assert_int_equal(bt_to_errno(BT_EUNSUPPORTED), ENOTSUP);
}

static void
test_diag_records_offset_and_message(void **state)
{
	struct bt_diag d;

	(void)state;
	bt_diag_clear(&d);
	assert_int_equal(d.off, -1);
	assert_string_equal(d.msg, "");
	bt_diag_set(&d, 42, "bad byte 0x%02x", 0xff);
	assert_int_equal(d.off, 42);
	assert_string_equal(d.msg, "bad byte 0xff");
	bt_diag_set(NULL, 1, "ignored"); // NULL diag is allowed
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror_covers_errno_and_bt_ranges),
		cmocka_unit_test(test_strerror_results_stay_valid),
		cmocka_unit_test(test_to_errno_maps_bt_codes_to_kernel_errnos),
		cmocka_unit_test(test_diag_records_offset_and_message),
	};

	return cmocka_run_group_tests_name("core.err", tests, NULL, NULL);
}
