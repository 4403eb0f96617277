/*
 * crypto/hash_test.c: SHA-256, HMAC-SHA256 and HKDF against published
 * vectors (tests/data/crypto/hash.txt), the incremental context, the
 * keyed HMAC context (both its paths) against the one-shot HMAC, random.
 */
#include <stdlib.h>

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
		// The keyed context, on both of its paths.
		for (int g = 0; g < 2; g++) {
			bt_hmac *h;

			assert_int_equal(
			    setenv("BT_CRYPTO_GENERIC", g ? "1" : "0", 1), 0);
			assert_int_equal(bt_hmac_new(&h, a, n1), 0);
			memset(out, 0, sizeof(out));
			assert_int_equal(bt_hmac_update(h, b, n2), 0);
			assert_int_equal(bt_hmac_final(h, out), 0);
			assert_memory_equal(out, c, 32);
			bt_hmac_free(h);
		}
		unsetenv("BT_CRYPTO_GENERIC");
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

/*
 * hmac_matches_one_shot: a keyed context (the block path, or with
 * generic the EVP_MAC one) gives bt_hmac_sha256's MAC for keys of every
 * length class (empty, short, one block, longer than a block: hashed
 * first) and messages of 0..300 bytes fed in two pieces split at every
 * 7th byte, reusing one context throughout (final must reset it to the
 * key).
 */
static void
hmac_matches_one_shot(bool generic)
{
	static const size_t keylens[] = { 0, 1, 31, 32, 63, 64, 65, 100, 200 };
	uint8_t             key[200], msg[300], one[32], inc[32];

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 13 + 1);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(
	    setenv("BT_CRYPTO_GENERIC", generic ? "1" : "0", 1), 0);
	for (size_t k = 0; k < sizeof(keylens) / sizeof(keylens[0]); k++) {
		size_t   kl = keylens[k];
		bt_hmac *h;

		assert_int_equal(bt_hmac_new(&h, kl ? key : NULL, kl), 0);
		for (size_t len = 0; len <= sizeof(msg); len++) {
			assert_int_equal(
			    bt_hmac_sha256(one, key, kl, msg, len), 0);
			for (size_t cut = 0; cut <= len; cut += 7) {
				memset(inc, 0, sizeof(inc));
				assert_int_equal(bt_hmac_update(h, msg, cut), 0);
				assert_int_equal(
				    bt_hmac_update(h, msg + cut, len - cut), 0);
				assert_int_equal(bt_hmac_final(h, inc), 0);
				assert_memory_equal(one, inc, 32);
			}
		}
		// A message fed a byte at a time.
		assert_int_equal(bt_hmac_sha256(one, key, kl, msg, 150), 0);
		for (size_t i = 0; i < 150; i++)
			assert_int_equal(bt_hmac_update(h, msg + i, 1), 0);
		assert_int_equal(bt_hmac_final(h, inc), 0);
		assert_memory_equal(one, inc, 32);
		bt_hmac_free(h);
	}
	unsetenv("BT_CRYPTO_GENERIC");
}

static void
test_hmac_context_matches_one_shot(void **state)
{
	hmac_matches_one_shot(false);
}

static void
test_hmac_context_generic_path_matches_one_shot(void **state)
{
	hmac_matches_one_shot(true);
}

static int
hmac_new_body(void *arg)
{
	uint8_t  out[32];
	bt_hmac *h;
	int      rc;

	rc = bt_hmac_new(&h, "key", 3);
	if (rc != 0)
		return rc;
	rc = bt_hmac_update(h, "msg", 3);
	if (rc == 0)
		rc = bt_hmac_final(h, out);
	bt_hmac_free(h);
	return rc;
}

static void
test_hmac_new_survives_allocation_failure(void **state)
{
	assert_true(bt_test_alloc_torture(hmac_new_body, NULL, 10) >= 2);
	assert_int_equal(setenv("BT_CRYPTO_GENERIC", "1", 1), 0);
	assert_true(bt_test_alloc_torture(hmac_new_body, NULL, 10) >= 2);
	unsetenv("BT_CRYPTO_GENERIC");
	bt_hmac_free(NULL);
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
		cmocka_unit_test(test_hmac_context_matches_one_shot),
		cmocka_unit_test(
		    test_hmac_context_generic_path_matches_one_shot),
		cmocka_unit_test(test_hmac_new_survives_allocation_failure),
		cmocka_unit_test(test_hkdf_rejects_bad_lengths),
		cmocka_unit_test(test_hkdf_outputs_differ_by_info),
		cmocka_unit_test(test_random_fills_and_differs),
		cmocka_unit_test(test_sha256_new_survives_allocation_failure),
	};

	return cmocka_run_group_tests_name("crypto.hash", tests, NULL, NULL);
}
