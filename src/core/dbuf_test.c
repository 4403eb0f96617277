/* Tests for core/dbuf.c: growth, the cap, take, printf. */
#include <errno.h>
#include <string.h>

#include "testing.h"

static void
test_dbuf_grows_and_keeps_bytes(void **state)
{
	struct bt_dbuf b;
	uint8_t big[1000];

	(void)state;
	memset(big, 7, sizeof(big));
	bt_dbuf_init(&b, 1 << 20);
	for (int i = 0; i < 100; i++)
		assert_int_equal(bt_dbuf_append(&b, big, sizeof(big)), 0);
	assert_int_equal(b.len, 100000);
	assert_int_equal(b.ptr[99999], 7);
	bt_dbuf_fini(&b);
	bt_dbuf_fini(&b); // twice is fine
}

static void
test_dbuf_refuses_past_cap_and_stays_intact(void **state)
{
	struct bt_dbuf b;

	(void)state;
	bt_dbuf_init(&b, 10);
	assert_int_equal(bt_dbuf_append(&b, "0123456789", 10), 0);
	assert_int_equal(bt_dbuf_append(&b, "x", 1), BT_ELIMIT);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.ptr, "0123456789", 10);
	assert_int_equal(bt_dbuf_printf(&b, "%d", 5), BT_ELIMIT);
	bt_dbuf_fini(&b);
}

static void
test_dbuf_take_is_nul_terminated(void **state)
{
	struct bt_dbuf b;
	size_t len;
	uint8_t *p;

	(void)state;
	bt_dbuf_init(&b, 100);
	assert_int_equal(bt_dbuf_printf(&b, "%s-%d", "ab", 12), 0);
	p = bt_dbuf_take(&b, &len);
	assert_int_equal(len, 5);
	assert_string_equal((char *)p, "ab-12");
	assert_null(b.ptr);
	bt_free(p);
	p = bt_dbuf_take(&b, &len); // empty buffer gives ""
	assert_int_equal(len, 0);
	assert_string_equal((char *)p, "");
	bt_free(p);
}

static void
test_dbuf_append_reports_enomem(void **state)
{
	struct bt_dbuf b;

	(void)state;
	bt_dbuf_init(&b, 100);
	bt_alloc_fail_at(1);
	assert_int_equal(bt_dbuf_append(&b, "x", 1), -ENOMEM);
	bt_alloc_fail_at(0);
	assert_int_equal(b.len, 0);
	bt_dbuf_fini(&b);
}

/*
 * A buffer with no practical bound (max = SIZE_MAX, as net/ uses for its
 * output queues) must still size its storage to what it holds: max + 1
 * used to wrap to 0, so every append copied into a 1-byte allocation.
 */
static void
test_dbuf_unbounded_max_still_grows_to_fit(void **state)
{
	struct bt_dbuf b;
	uint8_t	       big[300];
	size_t	       len;
	uint8_t	      *p;

	(void)state;
	memset(big, 0x5a, sizeof(big));
	bt_dbuf_init(&b, SIZE_MAX);
	assert_int_equal(bt_dbuf_append(&b, big, sizeof(big)), 0);
	assert_true(b.cap > b.len);
	assert_int_equal(bt_dbuf_append(&b, big, sizeof(big)), 0);
	assert_true(b.cap > b.len);
	assert_int_equal(b.len, 2 * sizeof(big));
	assert_int_equal(bt_dbuf_printf(&b, "%s", "tail"), 0);
	assert_true(b.cap > b.len);
	p = bt_dbuf_take(&b, &len);
	assert_int_equal(len, 2 * sizeof(big) + 4);
	assert_memory_equal(p + sizeof(big), big, sizeof(big));
	assert_string_equal((char *)p + 2 * sizeof(big), "tail");
	bt_free(p);
	// A request no allocation could satisfy is refused, not wrapped.
	bt_dbuf_init(&b, SIZE_MAX);
	assert_int_equal(bt_dbuf_append(&b, "ab", 2), 0);
	assert_int_equal(bt_dbuf_reserve(&b, SIZE_MAX - 2), BT_ELIMIT);
	assert_int_equal(bt_dbuf_reserve(&b, SIZE_MAX), BT_ELIMIT);
	assert_int_equal(b.len, 2);
	bt_dbuf_fini(&b);
}

static void
test_byte_order_helpers_round_trip(void **state)
{
	uint8_t p[8];

	(void)state;
	bt_put_le32(p, 0x01020304);
	assert_int_equal(p[0], 4);
	assert_int_equal(bt_get_le32(p), 0x01020304);
	bt_put_be64(p, 0x0102030405060708ull);
	assert_int_equal(p[0], 1);
	assert_true(bt_get_be64(p) == 0x0102030405060708ull);
	bt_put_le64(p, 0x0102030405060708ull);
	assert_true(bt_get_le64(p) == 0x0102030405060708ull);
	bt_put_be16(p, 0xabcd);
	assert_int_equal(bt_get_be16(p), 0xabcd);
	bt_put_le16(p, 0xabcd);
	assert_int_equal(bt_get_le16(p), 0xabcd);
	bt_put_be32(p, 0xdeadbeef);
	assert_true(bt_get_be32(p) == 0xdeadbeef);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dbuf_grows_and_keeps_bytes),
		cmocka_unit_test(test_dbuf_refuses_past_cap_and_stays_intact),
		cmocka_unit_test(test_dbuf_take_is_nul_terminated),
		cmocka_unit_test(test_dbuf_append_reports_enomem),
		cmocka_unit_test(test_dbuf_unbounded_max_still_grows_to_fit),
		cmocka_unit_test(test_byte_order_helpers_round_trip),
	};

	return cmocka_run_group_tests_name("core.dbuf", tests, NULL, NULL);
}
