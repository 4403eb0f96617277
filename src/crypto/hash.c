/*
 * crypto/hash.c: SHA-256, HMAC-SHA256, HKDF-SHA256 (RFC 5869) and random
 * bytes, over OpenSSL 3. The algorithm objects are fetched once per
 * process (OpenSSL caches them) and used by every context.
 */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "crypto_int.h"

struct bt_sha256_ctx {
	EVP_MD_CTX *md;
};

int
bt_sha256(const void *p, size_t len, uint8_t out[BT_SHA256_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(p, len, out, &n, EVP_sha256(), NULL) != 1)
		return bt__crypto_ossl_err();
	return n == BT_SHA256_LEN ? 0 : -EIO;
}

int
bt_sha256_new(bt_sha256_ctx **out)
{
	struct bt_sha256_ctx *ctx;

	ctx = bt_zalloc(sizeof(*ctx));
	if (ctx == NULL)
		return -ENOMEM;
	ctx->md = EVP_MD_CTX_new();
	if (ctx->md == NULL) {
		bt_free(ctx);
		return -ENOMEM;
	}
	if (EVP_DigestInit_ex(ctx->md, EVP_sha256(), NULL) != 1) {
		int rc = bt__crypto_ossl_err();

		bt_sha256_free(ctx);
		return rc;
	}
	*out = ctx;
	return 0;
}

int
bt_sha256_update(bt_sha256_ctx *ctx, const void *p, size_t len)
{
	if (len == 0)
		return 0;
	if (EVP_DigestUpdate(ctx->md, p, len) != 1)
		return bt__crypto_ossl_err();
	return 0;
}

int
bt_sha256_final(bt_sha256_ctx *ctx, uint8_t out[BT_SHA256_LEN])
{
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(ctx->md, out, &n) != 1)
		return bt__crypto_ossl_err();
	// Re-initialising with a NULL type keeps the fetched SHA-256, so
	// the context can hash again without another fetch.
	if (EVP_DigestInit_ex(ctx->md, NULL, NULL) != 1)
		return bt__crypto_ossl_err();
	return n == BT_SHA256_LEN ? 0 : -EIO;
}

void
bt_sha256_free(bt_sha256_ctx *ctx)
{
	if (ctx == NULL)
		return;
	EVP_MD_CTX_free(ctx->md);
	bt_free(ctx);
}

int
bt_hmac_sha256(uint8_t out[BT_SHA256_LEN], const void *key, size_t keylen,
    const void *msg, size_t len)
{
	static const uint8_t empty[1];
	unsigned int         n = 0;

	if (keylen > INT32_MAX)
		return -EINVAL;
	if (HMAC(EVP_sha256(), keylen ? key : empty, (int)keylen,
	        len ? msg : empty, len, out, &n)
	    == NULL)
		return bt__crypto_ossl_err();
	return n == BT_SHA256_LEN ? 0 : -EIO;
}

int
bt_hkdf_sha256(uint8_t *out, size_t outlen, const void *ikm, size_t ikmlen,
    const void *salt, size_t saltlen, const void *info, size_t infolen)
{
	static const uint8_t empty[1];
	OSSL_PARAM           params[5], *p = params;
	EVP_KDF             *kdf;
	EVP_KDF_CTX         *kctx;
	int                  rc = 0;

	if (outlen == 0 || outlen > 255 * BT_SHA256_LEN)
		return -EINVAL;
	kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	if (kdf == NULL)
		return bt__crypto_ossl_err();
	kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (kctx == NULL)
		return bt__crypto_ossl_err();
	// OSSL_PARAM takes non-const pointers but only reads them here.
	*p++ = OSSL_PARAM_construct_utf8_string(
	    OSSL_KDF_PARAM_DIGEST, (char *)SN_sha256, 0);
	*p++ = OSSL_PARAM_construct_octet_string(
	    OSSL_KDF_PARAM_KEY, (void *)(ikmlen ? ikm : empty), ikmlen);
	// RFC 5869: an absent salt is HashLen zero bytes; OpenSSL does the
	// same when the parameter is left out.
	if (saltlen > 0) {
		*p++ = OSSL_PARAM_construct_octet_string(
		    OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	}
	if (infolen > 0) {
		*p++ = OSSL_PARAM_construct_octet_string(
		    OSSL_KDF_PARAM_INFO, (void *)info, infolen);
	}
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, outlen, params) != 1)
		rc = bt__crypto_ossl_err();
	EVP_KDF_CTX_free(kctx);
	return rc;
}

int
bt_random(void *buf, size_t n)
{
	uint8_t *p = buf;

	// RAND_bytes takes an int; split huge requests.
	while (n > 0) {
		int chunk = n > (1u << 30) ? (1 << 30) : (int)n;

		if (RAND_bytes(p, chunk) != 1)
			return bt__crypto_ossl_err();
		p += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}
