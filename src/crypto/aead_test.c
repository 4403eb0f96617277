/*
 * crypto/aead_test.c: AES-256-GCM against McGrew-Viega vectors
 * (tests/data/crypto/aes256gcm.txt), tamper detection, in-place use.
 */
#include <stdlib.h>

#include <openssl/evp.h>

#include "bt/crypto.h"
#include "testvec.h"

static void
check_line(void *arg, int nf, char **f)
{
	size_t   kl, nl, al, pl, cl, tl;
	uint8_t *key, *nonce, *ad, *pt, *ct, *tag, *buf, t[16];
	bt_aead *a;
	int     *count = arg;

	assert_int_equal(nf, 7);
	key = tv_hex(f[1], &kl);
	nonce = tv_hex(f[2], &nl);
	ad = tv_hex(f[3], &al);
	pt = tv_hex(f[4], &pl);
	ct = tv_hex(f[5], &cl);
	tag = tv_hex(f[6], &tl);
	assert_int_equal(kl, 32);
	assert_int_equal(nl, 12);
	assert_int_equal(pl, cl);
	assert_int_equal(tl, 16);
	buf = bt_alloc(pl + 1);
	assert_non_null(buf);

	assert_int_equal(bt_aead_new(&a, key), 0);
	assert_int_equal(bt_aead_seal(a, nonce, ad, al, pt, pl, buf, t), 0);
	assert_memory_equal(buf, ct, cl);
	assert_memory_equal(t, tag, 16);
	memset(buf, 0xaa, pl);
	assert_int_equal(bt_aead_open(a, nonce, ad, al, ct, cl, tag, buf), 0);
	assert_memory_equal(buf, pt, pl);
	// A changed tag is refused.
	tag[15] ^= 1;
	assert_int_equal(
	    bt_aead_open(a, nonce, ad, al, ct, cl, tag, buf), BT_ECORRUPT);
	bt_aead_free(a);

	bt_free(buf);
	bt_free(key);
	bt_free(nonce);
	bt_free(ad);
	bt_free(pt);
	bt_free(ct);
	bt_free(tag);
	(*count)++;
}

static void
test_aead_known_answers_match(void **state)
{
	int count = 0;

	assert_int_equal(tv_each("aes256gcm.txt", check_line, &count), 4);
	assert_int_equal(count, 4);
}

struct fixture {
	bt_aead *a;
	uint8_t  nonce[12];
	uint8_t  ad[13];
	uint8_t  pt[4096];
	uint8_t  ct[4096];
	uint8_t  tag[16];
};

static int
setup(void **state)
{
	struct fixture *f = bt_zalloc(sizeof(*f));
	uint8_t         key[32];

	assert_non_null(f);
	assert_int_equal(bt_random(key, sizeof(key)), 0);
	assert_int_equal(bt_aead_new(&f->a, key), 0);
	assert_int_equal(bt_random(f->nonce, sizeof(f->nonce)), 0);
	memcpy(f->ad, "inode 7 sec 3", 13);
	for (size_t i = 0; i < sizeof(f->pt); i++)
		f->pt[i] = (uint8_t)i;
	assert_int_equal(bt_aead_seal(f->a, f->nonce, f->ad, sizeof(f->ad),
	                     f->pt, sizeof(f->pt), f->ct, f->tag),
	    0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	bt_aead_free(f->a);
	bt_free(f);
	return 0;
}

static void
test_aead_open_refuses_any_flipped_bit_and_zeroes_output(void **state)
{
	struct fixture      *f = *state;
	static const uint8_t zero[4096];
	uint8_t              out[4096];

	// Ciphertext, tag, associated data and nonce each matter.
	for (size_t i = 0; i < 4; i++) {
		uint8_t ct[4096], tag[16], ad[13], nonce[12];

		memcpy(ct, f->ct, sizeof(ct));
		memcpy(tag, f->tag, sizeof(tag));
		memcpy(ad, f->ad, sizeof(ad));
		memcpy(nonce, f->nonce, sizeof(nonce));
		switch (i) {
		case 0:
			ct[1000] ^= 0x10;
			break;
		case 1:
			tag[0] ^= 0x80;
			break;
		case 2:
			ad[12] ^= 1;
			break;
		default:
			nonce[11] ^= 1;
			break;
		}
		memset(out, 0x5a, sizeof(out));
		assert_int_equal(bt_aead_open(f->a, nonce, ad, sizeof(ad), ct,
		                     sizeof(ct), tag, out),
		    BT_ECORRUPT);
		assert_memory_equal(out, zero, sizeof(out));
	}
	// And the context still works after failures.
	assert_int_equal(bt_aead_open(f->a, f->nonce, f->ad, sizeof(f->ad),
	                     f->ct, sizeof(f->ct), f->tag, out),
	    0);
	assert_memory_equal(out, f->pt, sizeof(out));
}

static void
test_aead_works_in_place(void **state)
{
	struct fixture *f = *state;
	uint8_t         buf[4096], tag[16];

	memcpy(buf, f->pt, sizeof(buf));
	assert_int_equal(bt_aead_seal(f->a, f->nonce, f->ad, sizeof(f->ad),
	                     buf, sizeof(buf), buf, tag),
	    0);
	assert_memory_equal(buf, f->ct, sizeof(buf));
	assert_memory_equal(tag, f->tag, sizeof(tag));
	assert_int_equal(bt_aead_open(f->a, f->nonce, f->ad, sizeof(f->ad),
	                     buf, sizeof(buf), tag, buf),
	    0);
	assert_memory_equal(buf, f->pt, sizeof(buf));
}

static void
test_aead_handles_empty_message_and_no_ad(void **state)
{
	struct fixture *f = *state;
	uint8_t         tag[16];

	assert_int_equal(
	    bt_aead_seal(f->a, f->nonce, NULL, 0, NULL, 0, NULL, tag), 0);
	assert_int_equal(
	    bt_aead_open(f->a, f->nonce, NULL, 0, NULL, 0, tag, NULL), 0);
	tag[3] ^= 4;
	assert_int_equal(
	    bt_aead_open(f->a, f->nonce, NULL, 0, NULL, 0, tag, NULL),
	    BT_ECORRUPT);
}

static void
test_aead_distinct_nonces_give_distinct_ciphertexts(void **state)
{
	struct fixture *f = *state;
	uint8_t         ct[4096], tag[16], nonce[12];

	memcpy(nonce, f->nonce, sizeof(nonce));
	nonce[0] ^= 1;
	assert_int_equal(bt_aead_seal(f->a, nonce, f->ad, sizeof(f->ad), f->pt,
	                     sizeof(f->pt), ct, tag),
	    0);
	assert_memory_not_equal(ct, f->ct, sizeof(ct));
}

/* ref_seal: AES-256-GCM through a fresh OpenSSL context and the
 * EVP_CTRL_GCM_GET_TAG control, the way bt_aead_seal first did it. */
static void
ref_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *ad,
    size_t adlen, const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t         fin[16];
	int             n = 0;

	assert_non_null(c);
	assert_int_equal(
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce), 1);
	assert_int_equal(EVP_EncryptUpdate(c, NULL, &n, ad, (int)adlen), 1);
	if (len > 0)
		assert_int_equal(EVP_EncryptUpdate(c, ct, &n, pt, (int)len), 1);
	assert_int_equal(EVP_EncryptFinal_ex(c, fin, &n), 1);
	assert_int_equal(
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
	EVP_CIPHER_CTX_free(c);
}

/*
 * The nonce and tag paths through OSSL_PARAMs give the reference's
 * ciphertext and tag for sector-like messages (24 bytes of associated
 * data, as blk's) under many nonces on one reused context, and open
 * accepts exactly those tags.
 */
static void
matches_reference(bool generic)
{
	static const size_t lens[] = { 0, 1, 16, 100, 4095, 4096, 5000 };
	uint8_t             key[32], nonce[12], ad[24], tag[16], rtag[16];
	uint8_t            *pt, *ct, *rct, *out;
	bt_aead            *a;

	assert_int_equal(
	    setenv("BT_CRYPTO_GENERIC", generic ? "1" : "0", 1), 0);
	pt = bt_alloc(5000);
	ct = bt_alloc(5000);
	rct = bt_alloc(5000);
	out = bt_alloc(5000);
	assert_true(pt && ct && rct && out);
	assert_int_equal(bt_random(key, sizeof(key)), 0);
	assert_int_equal(bt_random(pt, 5000), 0);
	assert_int_equal(bt_aead_new(&a, key), 0);
	for (unsigned i = 0; i < 32; i++) {
		size_t len = lens[i % (sizeof(lens) / sizeof(lens[0]))];

		assert_int_equal(bt_random(nonce, sizeof(nonce)), 0);
		assert_int_equal(bt_random(ad, sizeof(ad)), 0);
		ref_seal(key, nonce, ad, sizeof(ad), pt, len, rct, rtag);
		assert_int_equal(
		    bt_aead_seal(a, nonce, ad, sizeof(ad), pt, len, ct, tag), 0);
		assert_memory_equal(tag, rtag, 16);
		if (len > 0)
			assert_memory_equal(ct, rct, len);
		assert_int_equal(
		    bt_aead_open(a, nonce, ad, sizeof(ad), rct, len, rtag, out),
		    0);
		if (len > 0)
			assert_memory_equal(out, pt, len);
		rtag[i % 16] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(
		    bt_aead_open(a, nonce, ad, sizeof(ad), rct, len, rtag, out),
		    BT_ECORRUPT);
	}
	bt_aead_free(a);
	bt_free(pt);
	bt_free(ct);
	bt_free(rct);
	bt_free(out);
	unsetenv("BT_CRYPTO_GENERIC");
}

/* The nonce set through the IV parameter (the default here), and through
 * EVP_EncryptInit_ex/DecryptInit_ex (BT_CRYPTO_GENERIC=1). */
static void
test_aead_matches_reference_on_a_reused_context(void **state)
{
	matches_reference(false);
}

static void
test_aead_generic_path_matches_reference(void **state)
{
	matches_reference(true);
}

static int
new_body(void *arg)
{
	uint8_t  key[32] = { 1 };
	bt_aead *a;
	int      rc;

	rc = bt_aead_new(&a, key);
	if (rc != 0)
		return rc;
	bt_aead_free(a);
	return 0;
}

static void
test_aead_new_survives_allocation_failure(void **state)
{
	assert_true(bt_test_alloc_torture(new_body, NULL, 10) >= 2);
	bt_aead_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aead_known_answers_match),
		cmocka_unit_test(
		    test_aead_matches_reference_on_a_reused_context),
		cmocka_unit_test(test_aead_generic_path_matches_reference),
		cmocka_unit_test_setup_teardown(
		    test_aead_open_refuses_any_flipped_bit_and_zeroes_output,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_aead_works_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_aead_handles_empty_message_and_no_ad, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_aead_distinct_nonces_give_distinct_ciphertexts, setup,
		    teardown),
		cmocka_unit_test(test_aead_new_survives_allocation_failure),
	};

	return cmocka_run_group_tests_name("crypto.aead", tests, NULL, NULL);
}
