/*
 * crypto/hash_test.c: SHA-256, HMAC-SHA256 and HKDF against published
 * vectors (tests/data/crypto/hash.txt), the incremental context, random.
 */
#include "bt/crypto.h"
#include "testvec.h"

static void
check_line(void *arg, int nf, char **f)
{
	uint8_t  out[64];
	size_t   n1, n2, n3, n4;
	uint8_t *a, *b, *c, *d;
	int     *count = arg;

	if (strcmp(f[0], "sha256") == 0) {
		assert_int_equal(nf, 4);
		a = tv_hex(f[2], &n1);
		b = tv_hex(f[3], &n2);
		assert_int_equal(bt_sha256(a, n1, out), 0);
		assert_memory_equal(out, b, 32);
		bt_free(a);
		bt_free(b);
	} else if (strcmp(f[0], "hmac") == 0) {
		assert_int_equal(nf, 5);
		a = tv_hex(f[2], &n1);
		b = tv_hex(f[3], &n2);
		c = tv_hex(f[4], &n3);
		assert_int_equal(bt_hmac_sha256(out, a, n1, b, n2), 0);
		assert_memory_equal(out, c, 32);
		bt_free(a);
		bt_free(b);
		bt_free(c);
	} else if (strcmp(f[0], "hkdf") == 0) {
		assert_int_equal(nf, 6);
		a = tv_hex(f[2], &n1);
		b = tv_hex(f[3], &n2);
		c = tv_hex(f[4], &n3);
		d = tv_hex(f[5], &n4);
		assert_true(n4 <= sizeof(out));
		assert_int_equal(bt_hkdf_sha256(out, n4, a, n1, n2 ? b : NULL,
		                     n2, n3 ? c : NULL, n3),
		    0);
		assert_memory_equal(out, d, n4);
		bt_free(a);
		bt_free(b);
		bt_free(c);
		bt_free(d);
	} else {
		fail_msg("unknown vector kind %s", f[0]);
	}
	(*count)++;
}

static void
test_hash_known_answers_match(void **state)
{
	int count = 0;

	assert_int_equal(tv_each("hash.txt", check_line, &count), 7);
	assert_int_equal(count, 7);
}

static void
test_sha256_incremental_equals_one_shot_at_every_split(void **state)
{
	uint8_t        msg[300], one[32], inc[32];
	bt_sha256_ctx *ctx;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(bt_sha256(msg, sizeof(msg), one), 0);
	assert_int_equal(bt_sha256_new(&ctx), 0);
	for (size_t cut = 0; cut <= sizeof(msg); cut += 13) {
		// The same context each time: final must reset it.
		assert_int_equal(bt_sha256_update(ctx, msg, cut), 0);
		assert_int_equal(
		    bt_sha256_update(ctx, msg + cut, sizeof(msg) - cut), 0);
		assert_int_equal(bt_sha256_final(ctx, inc), 0);
		assert_memory_equal(one, inc, 32);
	}
	bt_sha256_free(ctx);
	bt_sha256_free(NULL);
}

static void
test_hkdf_rejects_bad_lengths(void **state)
{
	uint8_t  out[16];
	uint8_t *big;

	assert_int_equal(
	    bt_hkdf_sha256(out, 0, "k", 1, NULL, 0, NULL, 0), -EINVAL);
	big = bt_alloc(255 * 32 + 1);
	assert_non_null(big);
	assert_int_equal(
	    bt_hkdf_sha256(big, 255 * 32 + 1, "k", 1, NULL, 0, NULL, 0),
	    -EINVAL);
	assert_int_equal(
	    bt_hkdf_sha256(big, 255 * 32, "k", 1, NULL, 0, NULL, 0), 0);
	bt_free(big);
}

static void
test_hkdf_outputs_differ_by_info(void **state)
{
	uint8_t a[32], b[32];

	assert_int_equal(bt_hkdf_sha256(a, 32, "ikm", 3, "s", 1, "one", 3), 0);
	assert_int_equal(bt_hkdf_sha256(b, 32, "ikm", 3, "s", 1, "two", 3), 0);
	assert_memory_not_equal(a, b, 32);
}

static void
test_random_fills_and_differs(void **state)
{
	uint8_t a[64] = { 0 }, b[64] = { 0 }, zero[64] = { 0 };

	assert_int_equal(bt_random(a, sizeof(a)), 0);
	assert_int_equal(bt_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(bt_random(a, 0), 0);
}

static int
sha_new_body(void *arg)
{
	bt_sha256_ctx *ctx;
	int            rc;

	rc = bt_sha256_new(&ctx);
	if (rc != 0)
		return rc;
	bt_sha256_free(ctx);
	return 0;
}

static void
test_sha256_new_survives_allocation_failure(void **state)
{
	assert_true(bt_test_alloc_torture(sha_new_body, NULL, 10) >= 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_known_answers_match),
		cmocka_unit_test(
		    test_sha256_incremental_equals_one_shot_at_every_split),
		cmocka_unit_test(test_hkdf_rejects_bad_lengths),
		cmocka_unit_test(test_hkdf_outputs_differ_by_info),
		cmocka_unit_test(test_random_fills_and_differs),
		cmocka_unit_test(test_sha256_new_survives_allocation_failure),
	};

	return cmocka_run_group_tests_name("crypto.hash", tests, NULL, NULL);
}
