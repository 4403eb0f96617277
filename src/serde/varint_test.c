/*
 * varint_test.c: the primitive encoders and the decoding cursor (CTest
 * serde.varint): round trips at every varint length boundary, exact bytes,
 * and each error kind with the offset it reports.
 */
#include <errno.h>
#include <string.h>

#include "bt/serde.h"
#include "testing.h"

/* dec_of sets d up over the n bytes in p with default limits. */
static void
dec_of(struct bt_serde_dec *d, struct bt_diag *diag, const void *p, size_t n)
{
	bt_diag_clear(diag);
	bt_serde_dec_init(d, p, n, NULL, diag);
}

static void
test_uvarint_round_trips_at_every_length_boundary(void **state)
{
	struct bt_dbuf      b;
	struct bt_serde_dec d;
	struct bt_diag      diag;

	(void)state;
	bt_dbuf_init(&b, 1 << 20);
	for (unsigned bits = 0; bits <= 64; bits++) {
		uint64_t base = bits == 64 ? UINT64_MAX
		    : bits == 0            ? 0
		                           : ((uint64_t)1 << bits);
		uint64_t vals[3] = { base - 1, base, base + 1 };

		for (int k = 0; k < 3; k++) {
			uint64_t v = vals[k], got;
			size_t   want_len = 1;

			for (uint64_t t = v; t >= 0x80; t >>= 7)
				want_len++;
			bt_dbuf_reset(&b);
			assert_int_equal(bt_serde_put_uvarint(&b, v), 0);
			assert_int_equal(b.len, want_len);
			dec_of(&d, &diag, b.ptr, b.len);
			assert_int_equal(bt_serde_get_uvarint(&d, &got), 0);
			assert_true(got == v);
			assert_int_equal(bt_serde_dec_end(&d), 0);
		}
	}
	bt_dbuf_fini(&b);
}

static void
test_svarint_zigzag_maps_small_magnitudes_to_small_codes(void **state)
{
	static const struct {
		int64_t  v;
		uint64_t code;
	} cases[] = {
		{ 0, 0 },
		{ -1, 1 },
		{ 1, 2 },
		{ -2, 3 },
		{ 2, 4 },
		{ -64, 127 },
		{ 64, 128 },
		{ INT64_MAX, UINT64_MAX - 1 },
		{ INT64_MIN, UINT64_MAX },
	};
	struct bt_dbuf      b, u;
	struct bt_serde_dec d;
	struct bt_diag      diag;

	(void)state;
	bt_dbuf_init(&b, 64);
	bt_dbuf_init(&u, 64);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got;

		bt_dbuf_reset(&b);
		bt_dbuf_reset(&u);
		assert_int_equal(bt_serde_put_svarint(&b, cases[i].v), 0);
		assert_int_equal(bt_serde_put_uvarint(&u, cases[i].code), 0);
		assert_int_equal(b.len, u.len);
		assert_memory_equal(b.ptr, u.ptr, b.len);
		dec_of(&d, &diag, b.ptr, b.len);
		assert_int_equal(bt_serde_get_svarint(&d, &got), 0);
		assert_true(got == cases[i].v);
	}
	bt_dbuf_fini(&b);
	bt_dbuf_fini(&u);
}

static void
test_fixed_width_values_are_little_endian(void **state)
{
	static const uint8_t want[] = { 0x78, 0x56, 0x34, 0x12, 0x08, 0x07,
		0x06, 0x05, 0x04, 0x03, 0x02, 0x01 };
	struct bt_dbuf       b;
	struct bt_serde_dec  d;
	struct bt_diag       diag;
	uint32_t             v32;
	uint64_t             v64;

	(void)state;
	bt_dbuf_init(&b, 64);
	assert_int_equal(bt_serde_put_fixed32(&b, 0x12345678), 0);
	assert_int_equal(bt_serde_put_fixed64(&b, 0x0102030405060708ULL), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.ptr, want, sizeof(want));
	dec_of(&d, &diag, b.ptr, b.len);
	assert_int_equal(bt_serde_get_fixed32(&d, &v32), 0);
	assert_int_equal(bt_serde_get_fixed64(&d, &v64), 0);
	assert_int_equal(v32, 0x12345678);
	assert_true(v64 == 0x0102030405060708ULL);
	assert_int_equal(bt_serde_dec_end(&d), 0);
	bt_dbuf_fini(&b);
}

static void
test_bytes_str_raw_opt_bool_round_trip(void **state)
{
	static const uint8_t want[] = { 0x03, 'a', 'b', 'c', 0x00, 0x02, 'h',
		'i', 0xde, 0xad, 0x01, 0x00, 0x01, 0x00, 0x07, 0x02, 0x05 };
	struct bt_dbuf       b;
	struct bt_serde_dec  d;
	struct bt_diag       diag;
	struct bt_buf        v;
	char                *s;
	uint8_t              raw[2], u8;
	bool                 f;
	size_t               n;
	uint32_t             tag;

	(void)state;
	bt_dbuf_init(&b, 64);
	assert_int_equal(bt_serde_put_bytes(&b, "abc", 3), 0);
	assert_int_equal(bt_serde_put_bytes(&b, NULL, 0), 0);
	assert_int_equal(bt_serde_put_str(&b, "hi"), 0);
	assert_int_equal(bt_serde_put_raw(&b, "\xde\xad", 2), 0);
	assert_int_equal(bt_serde_put_opt(&b, true), 0);
	assert_int_equal(bt_serde_put_opt(&b, false), 0);
	assert_int_equal(bt_serde_put_bool(&b, true), 0);
	assert_int_equal(bt_serde_put_bool(&b, false), 0);
	assert_int_equal(bt_serde_put_u8(&b, 7), 0);
	assert_int_equal(bt_serde_put_count(&b, 2), 0);
	assert_int_equal(bt_serde_put_enum(&b, 5), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.ptr, want, sizeof(want));

	dec_of(&d, &diag, b.ptr, b.len);
	assert_int_equal(bt_serde_get_bytes(&d, &v), 0);
	assert_int_equal(v.len, 3);
	assert_ptr_equal(v.ptr, b.ptr + 1); // a view, not a copy
	assert_int_equal(bt_serde_get_bytes(&d, &v), 0);
	assert_int_equal(v.len, 0);
	assert_int_equal(bt_serde_get_str(&d, &s), 0);
	assert_string_equal(s, "hi");
	bt_free(s);
	assert_int_equal(bt_serde_get_raw(&d, raw, 2), 0);
	assert_memory_equal(raw, "\xde\xad", 2);
	assert_int_equal(bt_serde_get_opt(&d, &f), 0);
	assert_true(f);
	assert_int_equal(bt_serde_get_opt(&d, &f), 0);
	assert_false(f);
	assert_int_equal(bt_serde_get_bool(&d, &f), 0);
	assert_true(f);
	assert_int_equal(bt_serde_get_bool(&d, &f), 0);
	assert_false(f);
	assert_int_equal(bt_serde_get_u8(&d, &u8), 0);
	assert_int_equal(u8, 7);
	// Two elements of at least one byte cannot fit in the one left.
	assert_int_equal(bt_serde_get_count(&d, 1, &n), BT_ETRUNC);
	assert_int_equal(bt_serde_get_count(&d, 0, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(bt_serde_get_enum(&d, 5, &tag), 0);
	assert_int_equal(tag, 5);
	assert_int_equal(bt_serde_dec_end(&d), 0);
	bt_dbuf_fini(&b);
}

/*
 * expect_uvarint_error decodes p as a uvarint after skip bytes of padding
 * and checks rc, that nothing moved, and the reported offset.
 */
static void
expect_uvarint_error(
    const uint8_t *p, size_t n, int want_rc, const char *want_msg)
{
	uint8_t             buf[32] = { 0x05 };
	struct bt_serde_dec d;
	struct bt_diag      diag;
	uint64_t            v = 12345, first;

	// One valid byte first, so the error offset must be 1, not 0.
	memcpy(buf + 1, p, n);
	dec_of(&d, &diag, buf, n + 1);
	assert_int_equal(bt_serde_get_uvarint(&d, &first), 0);
	assert_int_equal(bt_serde_get_uvarint(&d, &v), want_rc);
	assert_true(v == 12345);
	assert_int_equal(d.off, 1);
	assert_int_equal(diag.off, 1);
	assert_non_null(strstr(diag.msg, want_msg));
	assert_non_null(strstr(diag.msg, "offset 1"));
}

static void
test_uvarint_rejects_non_minimal_encodings(void **state)
{
	(void)state;
	expect_uvarint_error(
	    (const uint8_t *)"\x80\x00", 2, BT_ENONCANON, "non-minimal");
	expect_uvarint_error(
	    (const uint8_t *)"\xff\x80\x00", 3, BT_ENONCANON, "non-minimal");
	expect_uvarint_error((const uint8_t *)"\x80\x80\x80\x80\x80\x80\x80"
	                                      "\x80\x80\x00",
	    10, BT_ENONCANON, "non-minimal");
}

static void
test_uvarint_rejects_overflow_and_overlong(void **state)
{
	(void)state;
	// 2^64: the 10th byte may only be 0 or 1.
	expect_uvarint_error((const uint8_t *)"\x80\x80\x80\x80\x80\x80\x80"
	                                      "\x80\x80\x02",
	    10, BT_ECORRUPT, "overflows 64 bits");
	expect_uvarint_error((const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff"
	                                      "\xff\xff\x7f",
	    10, BT_ECORRUPT, "overflows 64 bits");
	expect_uvarint_error((const uint8_t *)"\x80\x80\x80\x80\x80\x80\x80"
	                                      "\x80\x80\x80\x01",
	    11, BT_ECORRUPT, "longer than 10 bytes");
}

static void
test_uvarint_rejects_truncation(void **state)
{
	(void)state;
	expect_uvarint_error((const uint8_t *)"", 0, BT_ETRUNC, "truncated");
	expect_uvarint_error(
	    (const uint8_t *)"\x80", 1, BT_ETRUNC, "truncated");
	expect_uvarint_error(
	    (const uint8_t *)"\xff\xff\xff", 3, BT_ETRUNC, "truncated");
}

static void
test_u32_rejects_values_over_32_bits(void **state)
{
	static const uint8_t max[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
	static const uint8_t over[] = { 0x80, 0x80, 0x80, 0x80, 0x10 };
	struct bt_serde_dec  d;
	struct bt_diag       diag;
	uint32_t             v = 9;

	(void)state;
	dec_of(&d, &diag, max, sizeof(max));
	assert_int_equal(bt_serde_get_u32(&d, &v), 0);
	assert_int_equal(v, UINT32_MAX);
	dec_of(&d, &diag, over, sizeof(over));
	v = 9;
	assert_int_equal(bt_serde_get_u32(&d, &v), BT_ECORRUPT);
	assert_int_equal(v, 9);
	assert_int_equal(d.off, 0);
	assert_non_null(strstr(diag.msg, "does not fit 32 bits"));
}

static void
test_bool_and_presence_bytes_must_be_0_or_1(void **state)
{
	struct bt_serde_dec d;
	struct bt_diag      diag;
	bool                f = true;

	(void)state;
	dec_of(&d, &diag, "\x02", 1);
	assert_int_equal(bt_serde_get_bool(&d, &f), BT_ECORRUPT);
	assert_true(f);
	assert_non_null(strstr(diag.msg, "bool byte is 0x02"));
	dec_of(&d, &diag, "\xff", 1);
	assert_int_equal(bt_serde_get_opt(&d, &f), BT_ECORRUPT);
	assert_non_null(strstr(diag.msg, "presence byte is 0xff"));
	dec_of(&d, &diag, "", 0);
	assert_int_equal(bt_serde_get_bool(&d, &f), BT_ETRUNC);
}

static void
test_enum_tags_out_of_range_are_corrupt(void **state)
{
	struct bt_serde_dec d;
	struct bt_diag      diag;
	uint32_t            tag = 77;

	(void)state;
	dec_of(&d, &diag, "\x03", 1);
	assert_int_equal(bt_serde_get_enum(&d, 2, &tag), BT_ECORRUPT);
	assert_int_equal(tag, 77);
	assert_non_null(strstr(diag.msg, "enum tag 3 out of range (max 2)"));
	dec_of(&d, &diag, "\x02", 1);
	assert_int_equal(bt_serde_get_enum(&d, 2, &tag), 0);
	assert_int_equal(tag, 2);
}

static void
test_bytes_over_max_len_are_a_limit_and_past_input_truncated(void **state)
{
	struct bt_serde_limits lim = BT_SERDE_LIMITS_DEFAULT;
	struct bt_serde_dec    d;
	struct bt_diag         diag;
	struct bt_buf          v = { NULL, 0 };

	(void)state;
	lim.max_len = 2;
	bt_serde_dec_init(&d,
	    "\x03"
	    "abc",
	    4, &lim, &diag);
	assert_int_equal(bt_serde_get_bytes(&d, &v), BT_ELIMIT);
	assert_null(v.ptr);
	assert_int_equal(d.off, 0);
	assert_non_null(strstr(diag.msg, "length 3 exceeds max_len 2"));

	dec_of(&d, &diag,
	    "\x04"
	    "abc",
	    4);
	assert_int_equal(bt_serde_get_bytes(&d, &v), BT_ETRUNC);
	assert_non_null(strstr(diag.msg, "length 4 but 3 bytes remain"));

	// A huge length must not wrap any arithmetic.
	dec_of(&d, &diag, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
	assert_int_equal(bt_serde_get_bytes(&d, &v), BT_ELIMIT);
}

static void
test_str_rejects_embedded_nul(void **state)
{
	struct bt_serde_dec d;
	struct bt_diag      diag;
	char               *s = NULL;

	(void)state;
	dec_of(&d, &diag,
	    "\x03"
	    "a\0b",
	    4);
	assert_int_equal(bt_serde_get_str(&d, &s), BT_ECORRUPT);
	assert_null(s);
	assert_int_equal(d.off, 0);
	assert_int_equal(diag.off, 2); // the NUL itself
	assert_non_null(strstr(diag.msg, "NUL byte inside a string"));
}

static void
test_str_returns_enomem_cleanly(void **state)
{
	struct bt_serde_dec d;
	struct bt_diag      diag;
	char               *s = NULL;
	long                live = bt_alloc_live();

	(void)state;
	dec_of(&d, &diag,
	    "\x02"
	    "ok",
	    3);
	bt_alloc_fail_at(1);
	assert_int_equal(bt_serde_get_str(&d, &s), -ENOMEM);
	bt_alloc_fail_at(0);
	assert_null(s);
	assert_int_equal(d.off, 0);
	assert_int_equal(bt_alloc_live(), live);
}

static void
test_count_is_bounded_by_limit_and_by_input(void **state)
{
	struct bt_serde_limits lim = BT_SERDE_LIMITS_DEFAULT;
	struct bt_serde_dec    d;
	struct bt_diag         diag;
	size_t                 n = 5;

	(void)state;
	lim.max_count = 3;
	bt_serde_dec_init(&d, "\x04\x00\x00\x00\x00", 5, &lim, &diag);
	assert_int_equal(bt_serde_get_count(&d, 1, &n), BT_ELIMIT);
	assert_int_equal(n, 5);
	assert_non_null(strstr(diag.msg, "count 4 exceeds max_count 3"));

	// 3 elements of at least 2 bytes cannot fit in 4 bytes.
	bt_serde_dec_init(&d, "\x03\x00\x00\x00\x00", 5, &lim, &diag);
	assert_int_equal(bt_serde_get_count(&d, 2, &n), BT_ETRUNC);
	assert_int_equal(d.off, 0);
	// ... but elements that may be empty are only limited by max_count.
	assert_int_equal(bt_serde_get_count(&d, 0, &n), 0);
	assert_int_equal(n, 3);
}

static void
test_enter_stops_at_max_depth(void **state)
{
	struct bt_serde_limits lim = BT_SERDE_LIMITS_DEFAULT;
	struct bt_serde_dec    d;
	struct bt_diag         diag;

	(void)state;
	lim.max_depth = 2;
	bt_serde_dec_init(&d, NULL, 0, &lim, &diag);
	assert_int_equal(bt_serde_dec_enter(&d), 0);
	assert_int_equal(bt_serde_dec_enter(&d), 0);
	assert_int_equal(bt_serde_dec_enter(&d), BT_ELIMIT);
	assert_int_equal(d.depth, 2);
	assert_non_null(strstr(diag.msg, "deeper than max_depth 2"));
	bt_serde_dec_leave(&d);
	assert_int_equal(bt_serde_dec_enter(&d), 0);

	// A huge max_depth is clamped so recursion stays bounded.
	lim.max_depth = 1000000;
	bt_serde_dec_init(&d, NULL, 0, &lim, &diag);
	assert_int_equal(d.lim.max_depth, BT_SERDE_DEPTH_CAP);
}

static void
test_dec_end_rejects_trailing_bytes(void **state)
{
	struct bt_serde_dec d;
	struct bt_diag      diag;
	uint64_t            v;

	(void)state;
	dec_of(&d, &diag, "\x01\x02\x03", 3);
	assert_int_equal(bt_serde_get_uvarint(&d, &v), 0);
	assert_int_equal(bt_serde_dec_end(&d), BT_ECORRUPT);
	assert_int_equal(diag.off, 1);
	assert_non_null(strstr(diag.msg, "2 trailing bytes"));
}

static void
test_fixed_and_raw_report_truncation(void **state)
{
	struct bt_serde_dec d;
	struct bt_diag      diag;
	uint32_t            v32;
	uint64_t            v64;
	uint8_t             raw[4];

	(void)state;
	dec_of(&d, &diag, "\x01\x02\x03", 3);
	assert_int_equal(bt_serde_get_fixed32(&d, &v32), BT_ETRUNC);
	assert_int_equal(bt_serde_get_fixed64(&d, &v64), BT_ETRUNC);
	assert_int_equal(bt_serde_get_raw(&d, raw, 4), BT_ETRUNC);
	assert_non_null(strstr(diag.msg, "needs 4 bytes, 3 remain"));
	assert_int_equal(d.off, 0);
}

static void
test_diag_names_scope_and_value(void **state)
{
	struct bt_serde_dec d;
	struct bt_diag      diag;
	bool                f;

	(void)state;
	dec_of(&d, &diag, "\x09", 1);
	d.scope = "struct cred";
	d.what = "revoked";
	assert_int_equal(bt_serde_get_bool(&d, &f), BT_ECORRUPT);
	assert_non_null(strstr(diag.msg, "cred.revoked: bool byte"));
	// A NULL diag is allowed everywhere.
	bt_serde_dec_init(&d, "\x09", 1, NULL, NULL);
	assert_int_equal(bt_serde_get_bool(&d, &f), BT_ECORRUPT);
}

static void
test_put_leaves_buffer_unchanged_when_full(void **state)
{
	struct bt_dbuf b;

	(void)state;
	bt_dbuf_init(&b, 4);
	assert_int_equal(bt_serde_put_u8(&b, 1), 0);
	// 1 length byte fits, 4 bytes of content do not: nothing is kept.
	assert_int_equal(bt_serde_put_bytes(&b, "abcd", 4), BT_ELIMIT);
	assert_int_equal(b.len, 1);
	assert_int_equal(bt_serde_put_fixed64(&b, 1), BT_ELIMIT);
	assert_int_equal(b.len, 1);
	assert_int_equal(bt_serde_put_bytes(&b, NULL, 3), -EINVAL);
	assert_int_equal(b.len, 1);
	bt_dbuf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_uvarint_round_trips_at_every_length_boundary),
		cmocka_unit_test(
		    test_svarint_zigzag_maps_small_magnitudes_to_small_codes),
		cmocka_unit_test(test_fixed_width_values_are_little_endian),
		cmocka_unit_test(test_bytes_str_raw_opt_bool_round_trip),
		cmocka_unit_test(test_uvarint_rejects_non_minimal_encodings),
		cmocka_unit_test(test_uvarint_rejects_overflow_and_overlong),
		cmocka_unit_test(test_uvarint_rejects_truncation),
		cmocka_unit_test(test_u32_rejects_values_over_32_bits),
		cmocka_unit_test(test_bool_and_presence_bytes_must_be_0_or_1),
		cmocka_unit_test(test_enum_tags_out_of_range_are_corrupt),
		cmocka_unit_test(
		    test_bytes_over_max_len_are_a_limit_and_past_input_truncated),
		cmocka_unit_test(test_str_rejects_embedded_nul),
		cmocka_unit_test(test_str_returns_enomem_cleanly),
		cmocka_unit_test(test_count_is_bounded_by_limit_and_by_input),
		cmocka_unit_test(test_enter_stops_at_max_depth),
		cmocka_unit_test(test_dec_end_rejects_trailing_bytes),
		cmocka_unit_test(test_fixed_and_raw_report_truncation),
		cmocka_unit_test(test_diag_names_scope_and_value),
		cmocka_unit_test(test_put_leaves_buffer_unchanged_when_full),
	};

	return cmocka_run_group_tests_name("serde.varint", tests, NULL, NULL);
}
