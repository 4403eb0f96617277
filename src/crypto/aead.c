/*
 * crypto/aead.c: AES-256-GCM through two OpenSSL cipher contexts keyed
 * once at bt_aead_new (one encrypting, one decrypting). Each seal or open
 * only sets the nonce, so per-sector use (blk calls this for every 4 KiB)
 * allocates nothing and expands no key. The tag goes in and out as an
 * OSSL_PARAM handed straight to the provider (EVP_CIPHER_CTX_get_params /
 * set_params): the EVP_CTRL_GCM_GET_TAG / SET_TAG controls build the same
 * parameter and look the control up first, about 30 ns more per call.
 *
 * The nonce goes in the same way: a TLS1_IV_FIXED parameter whose length
 * is (size_t)-1 makes OpenSSL's GCM provider copy the whole IV and use it
 * for the next message (OpenSSH sets its IVs so, through the
 * EVP_CTRL_GCM_SET_IV_FIXED control with length -1). EVP_EncryptInit_ex
 * with only an IV asks the provider for the IV length through another
 * OSSL_PARAM lookup first: about 150 ns of a 4 KiB seal's 1.9 us here.
 * The parameter either sets the whole IV or fails (a fixed field longer
 * than the IV is refused), and a message whose IV was not set cannot be
 * encrypted (the provider refuses an IV used once already), so no nonce
 * can repeat. bt_aead_new checks the parameter is accepted and otherwise
 * (or with BT_CRYPTO_GENERIC=1 in the environment, for tests) sets
 * nonces with EVP_EncryptInit_ex/EVP_DecryptInit_ex.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "crypto_int.h"

struct bt_aead {
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
	bool            ivparam; /* nonces set with set_iv_param */
};

/* set_iv_param hands ctx the whole 12-byte nonce for its next message. */
static int
set_iv_param(EVP_CIPHER_CTX *ctx, const uint8_t nonce[BT_AEAD_NONCE_LEN])
{
	OSSL_PARAM p[2];

	// OSSL_PARAM takes a non-const pointer; setting only reads it.
	p[0] = OSSL_PARAM_construct_octet_string(
	    OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, (void *)nonce, (size_t)-1);
	p[1] = OSSL_PARAM_construct_end();
	return EVP_CIPHER_CTX_set_params(ctx, p) == 1 ? 0 : -EIO;
}

int
bt_aead_new(bt_aead **out, const uint8_t key[BT_AEAD_KEY_LEN])
{
	struct bt_aead *a;
	int             rc;

	a = bt_zalloc(sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	a->enc = EVP_CIPHER_CTX_new();
	a->dec = EVP_CIPHER_CTX_new();
	if (a->enc == NULL || a->dec == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	// The default GCM IV length is 12 bytes, BT_AEAD_NONCE_LEN.
	if (EVP_EncryptInit_ex(a->enc, EVP_aes_256_gcm(), NULL, key, NULL) != 1
	    || EVP_DecryptInit_ex(a->dec, EVP_aes_256_gcm(), NULL, key, NULL)
	        != 1) {
		rc = bt__crypto_ossl_err();
		goto err;
	}
	{
		static const uint8_t zero[BT_AEAD_NONCE_LEN];
		const char          *env = getenv("BT_CRYPTO_GENERIC");

		a->ivparam = (env == NULL || strcmp(env, "1") != 0)
		    && set_iv_param(a->enc, zero) == 0
		    && set_iv_param(a->dec, zero) == 0;
		ERR_clear_error();
	}
	*out = a;
	return 0;
err:
	bt_aead_free(a);
	return rc;
}

/* nonce_set starts a message under nonce on ctx (the encrypting one when
 * enc). */
static int
nonce_set(const struct bt_aead *a, EVP_CIPHER_CTX *ctx, bool enc,
    const uint8_t nonce[BT_AEAD_NONCE_LEN])
{
	int ok;

	if (a->ivparam)
		return set_iv_param(ctx, nonce);
	ok = enc ? EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce)
	         : EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce);
	return ok == 1 ? 0 : -EIO;
}

/* update feeds len bytes in chunks that fit OpenSSL's int lengths. */
static int
update(
    EVP_CIPHER_CTX *ctx, bool enc, uint8_t *out, const uint8_t *in, size_t len)
{
	while (len > 0) {
		int chunk = len > (INT_MAX / 2) ? INT_MAX / 2 : (int)len;
		int n = 0;
		int ok = enc ? EVP_EncryptUpdate(ctx, out, &n, in, chunk)
		             : EVP_DecryptUpdate(ctx, out, &n, in, chunk);

		if (ok != 1 || (out != NULL && n != chunk))
			return -EIO;
		in += chunk;
		if (out != NULL)
			out += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

int
bt_aead_seal(bt_aead *a, const uint8_t nonce[BT_AEAD_NONCE_LEN],
    const void *ad, size_t adlen, const void *pt, size_t len, void *ct_out,
    uint8_t tag_out[BT_AEAD_TAG_LEN])
{
	uint8_t    fin[16];
	int        n = 0;
	OSSL_PARAM p[2];

	p[0] = OSSL_PARAM_construct_octet_string(
	    OSSL_CIPHER_PARAM_AEAD_TAG, tag_out, BT_AEAD_TAG_LEN);
	p[1] = OSSL_PARAM_construct_end();
	if (nonce_set(a, a->enc, true, nonce) != 0)
		return bt__crypto_ossl_err();
	if (update(a->enc, true, NULL, ad, adlen) != 0
	    || update(a->enc, true, ct_out, pt, len) != 0
	    || EVP_EncryptFinal_ex(a->enc, fin, &n) != 1
	    || EVP_CIPHER_CTX_get_params(a->enc, p) != 1
	    || p[0].return_size != BT_AEAD_TAG_LEN)
		return bt__crypto_ossl_err();
	return 0;
}

int
bt_aead_open(bt_aead *a, const uint8_t nonce[BT_AEAD_NONCE_LEN],
    const void *ad, size_t adlen, const void *ct, size_t len,
    const uint8_t tag[BT_AEAD_TAG_LEN], void *pt_out)
{
	uint8_t    fin[16];
	int        n = 0, rc, k = 0;
	OSSL_PARAM p[3];

	// OSSL_PARAM takes a non-const pointer; setting only reads it. With
	// the IV parameter, nonce and tag go in one call.
	if (a->ivparam)
		p[k++] = OSSL_PARAM_construct_octet_string(
		    OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, (void *)nonce,
		    (size_t)-1);
	p[k++] = OSSL_PARAM_construct_octet_string(
	    OSSL_CIPHER_PARAM_AEAD_TAG, (void *)tag, BT_AEAD_TAG_LEN);
	p[k] = OSSL_PARAM_construct_end();
	if ((!a->ivparam && nonce_set(a, a->dec, false, nonce) != 0)
	    || EVP_CIPHER_CTX_set_params(a->dec, p) != 1)
		return bt__crypto_ossl_err();
	rc = update(a->dec, false, NULL, ad, adlen);
	if (rc == 0)
		rc = update(a->dec, false, pt_out, ct, len);
	if (rc != 0) {
		rc = bt__crypto_ossl_err();
		goto fail;
	}
	if (EVP_DecryptFinal_ex(a->dec, fin, &n) != 1) {
		// A tag mismatch leaves nothing useful in OpenSSL's queue.
		(void)bt__crypto_ossl_err();
		rc = BT_ECORRUPT;
		goto fail;
	}
	return 0;
fail:
	// Never hand out unauthenticated plaintext.
	if (len > 0)
		OPENSSL_cleanse(pt_out, len);
	return rc;
}

void
bt_aead_free(bt_aead *a)
{
	if (a == NULL)
		return;
	// EVP_CIPHER_CTX_free cleanses the expanded key schedule.
	EVP_CIPHER_CTX_free(a->enc);
	EVP_CIPHER_CTX_free(a->dec);
	bt_free(a);
}
