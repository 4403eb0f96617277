/* Tests for core/parse.c and core/encode.c. */
#include <errno.h>
#include <string.h>

#include "testing.h"

static void
test_parse_u64_accepts_decimal_and_hex_only(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(bt_parse_u64("0", &v), 0);
	assert_true(v == 0);
	assert_int_equal(bt_parse_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(bt_parse_u64("0x1F", &v), 0);
	assert_true(v == 31);
	v = 7;
	assert_int_equal(bt_parse_u64("18446744073709551616", &v), -EINVAL);
	assert_int_equal(bt_parse_u64("", &v), -EINVAL);
	assert_int_equal(bt_parse_u64("-1", &v), -EINVAL);
	assert_int_equal(bt_parse_u64("12x", &v), -EINVAL);
	assert_int_equal(bt_parse_u64(" 1", &v), -EINVAL);
	assert_true(v == 7); // untouched on failure
}

static void
test_parse_duration_units(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(bt_parse_duration("250ms", &v), 0);
	assert_true(v == 250000000ull);
	assert_int_equal(bt_parse_duration("30", &v), 0);
	assert_true(v == 30000000000ull);
	assert_int_equal(bt_parse_duration("2h", &v), 0);
	assert_true(v == 7200000000000ull);
	assert_int_equal(bt_parse_duration("1y", &v), 0);
	assert_int_equal(bt_parse_duration("5x", &v), -EINVAL);
	assert_int_equal(bt_parse_duration("s", &v), -EINVAL);
	assert_int_equal(bt_parse_duration("99999999999999y", &v), -EINVAL);
}

static void
test_parse_size_binary_units(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(bt_parse_size("4096", &v), 0);
	assert_true(v == 4096);
	assert_int_equal(bt_parse_size("4k", &v), 0);
	assert_true(v == 4096);
	assert_int_equal(bt_parse_size("16M", &v), 0);
	assert_true(v == 16ull << 20);
	assert_int_equal(bt_parse_size("2GiB", &v), 0);
	assert_true(v == 2ull << 30);
	assert_int_equal(bt_parse_size("1T", &v), 0);
	assert_true(v == 1ull << 40);
	assert_int_equal(bt_parse_size("1Q", &v), -EINVAL);
	assert_int_equal(bt_parse_size("1Kx", &v), -EINVAL);
	assert_int_equal(bt_parse_size("99999999999P", &v), -EINVAL);
}

static void
test_b64url_round_trips_and_is_strict(void **state)
{
	uint8_t in[32], out[40];
	char text[64];
	ssize_t n;

	(void)state;
	for (int i = 0; i < 32; i++)
		in[i] = (uint8_t)(i * 37 + 1);
	for (size_t len = 0; len <= 32; len++) {
		bt_b64url_encode(text, in, len);
		assert_int_equal(strlen(text), bt_b64url_len(len));
		n = bt_b64url_decode(out, sizeof(out), text, strlen(text));
		assert_int_equal(n, (ssize_t)len);
		assert_memory_equal(in, out, len);
	}
	assert_int_equal(bt_b64url_len(32), 43);
	// RFC 4648 vectors, in the url alphabet and without padding.
	bt_b64url_encode(text, "foobar", 6);
	assert_string_equal(text, "Zm9vYmFy");
	bt_b64url_encode(text, "fo", 2);
	assert_string_equal(text, "Zm8");
	bt_b64url_encode(text, "\xfb\xff", 2);
	assert_string_equal(text, "-_8");
	// Not in the alphabet, impossible length, non-zero trailing bits.
	assert_int_equal(bt_b64url_decode(out, 40, "Zm9v+mFy", 8), BT_ECORRUPT);
	assert_int_equal(bt_b64url_decode(out, 40, "Zm9vY", 5), BT_ECORRUPT);
	assert_int_equal(bt_b64url_decode(out, 40, "Zm9", 3), BT_ECORRUPT);
	assert_int_equal(bt_b64url_decode(out, 2, "Zm9vYmFy", 8), BT_ELIMIT);
}

static void
test_hex_round_trips_and_rejects_garbage(void **state)
{
	uint8_t out[4];
	char text[16];

	(void)state;
	bt_hex_encode(text, "\x01\xab\xff", 3);
	assert_string_equal(text, "01abff");
	assert_int_equal(bt_hex_decode(out, 4, "01ABff", 6), 3);
	assert_memory_equal(out, "\x01\xab\xff", 3);
	assert_int_equal(bt_hex_decode(out, 4, "0g", 2), BT_ECORRUPT);
	assert_int_equal(bt_hex_decode(out, 4, "012", 3), BT_ECORRUPT);
	assert_int_equal(bt_hex_decode(out, 1, "0102", 4), BT_ELIMIT);
}

/* A decode that fails leaves the output buffer exactly as it was. */
static void
test_decoders_write_nothing_on_failure(void **state)
{
	uint8_t out[16], before[16];

	(void)state;
	memset(out, 0xee, sizeof(out));
	memcpy(before, out, sizeof(out));
	// Bad character at the end, after six good bytes' worth.
	assert_int_equal(bt_b64url_decode(out, sizeof(out), "Zm9vYmFy!A", 10),
	    BT_ECORRUPT);
	assert_memory_equal(out, before, sizeof(out));
	// Non-zero trailing bits in the last character.
	assert_int_equal(bt_b64url_decode(out, sizeof(out), "Zm9vYmFyZn", 10),
	    BT_ECORRUPT);
	assert_memory_equal(out, before, sizeof(out));
	assert_int_equal(bt_b64url_decode(out, sizeof(out), "Zm9vYmFyZm9", 11),
	    BT_ECORRUPT);
	assert_memory_equal(out, before, sizeof(out));
	assert_int_equal(bt_hex_decode(out, sizeof(out), "0102030g", 8),
	    BT_ECORRUPT);
	assert_memory_equal(out, before, sizeof(out));
	// And the canonical forms of the same lengths still decode.
	assert_int_equal(bt_b64url_decode(out, sizeof(out), "Zm9vYmFyZg", 10),
	    7);
	assert_memory_equal(out, "foobarf", 7);
	assert_int_equal(bt_b64url_decode(out, sizeof(out), "Zm9vYmFyZm8", 11),
	    8);
	assert_memory_equal(out, "foobarfo", 8);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64_accepts_decimal_and_hex_only),
		cmocka_unit_test(test_parse_duration_units),
		cmocka_unit_test(test_parse_size_binary_units),
		cmocka_unit_test(test_b64url_round_trips_and_is_strict),
		cmocka_unit_test(test_hex_round_trips_and_rejects_garbage),
		cmocka_unit_test(test_decoders_write_nothing_on_failure),
	};

	return cmocka_run_group_tests_name("core.parse", tests, NULL, NULL);
}
