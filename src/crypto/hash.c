/*
 * crypto/hash.c: SHA-256, HMAC-SHA256, HKDF-SHA256 (RFC 5869) and random
 * bytes, over OpenSSL 3. The algorithm objects are fetched once per
 * process (OpenSSL caches them) and used by every context.
 *
 * The keyed HMAC context (bt_hmac) is for many short MACs under one key
 * (blk MACs every 80-byte journal record): each EVP call costs more than
 * the bytes it hashes (about 0.25 us per digest here, against 0.06 us for
 * one SHA-256 block). Where OpenSSL still exports its SHA-256 block
 * function (SHA256_Transform, deprecated in 3.0 but present unless
 * OpenSSL was built without deprecated APIs), bt_hmac keeps the two
 * chaining values after the key's inner and outer pad blocks and runs
 * only the message's blocks through the block function (OpenSSL's own
 * assembly, with the SHA extensions where the CPU has them): a MAC of 96
 * bytes is three block calls and no allocation. Otherwise, or with
 * BT_CRYPTO_GENERIC=1 in the environment when the context is made (tests
 * check both paths give the same MACs), it uses EVP_MAC re-initialised
 * without re-keying.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

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

#ifndef OPENSSL_NO_DEPRECATED_3_0
#define BT_HMAC_BLOCKS 1
#else
#define BT_HMAC_BLOCKS 0
#endif

struct bt_hmac {
	bool fast; /* the block-function path */
#if BT_HMAC_BLOCKS
	SHA256_CTX sha;  /* only .h is used: the running chaining value */
	uint32_t   inner[8]; /* chaining value after the key ^ ipad block */
	uint32_t   outer[8]; /* after the key ^ opad block */
	uint8_t    buf[64];  /* the message's partial block */
	size_t     n;        /* bytes in buf */
	uint64_t   total;    /* message bytes so far */
#endif
	EVP_MAC_CTX *mac; /* the EVP path */
};

#if BT_HMAC_BLOCKS
static void
hmac_pad_block(SHA256_CTX *sha, const uint8_t *key, size_t keylen,
    uint8_t pad, uint32_t state_out[8])
{
	uint8_t b[64];

	SHA256_Init(sha);
	for (size_t i = 0; i < 64; i++)
		b[i] = (uint8_t)((i < keylen ? key[i] : 0) ^ pad);
	SHA256_Transform(sha, b);
	memcpy(state_out, sha->h, 32);
	OPENSSL_cleanse(b, sizeof(b));
}

static void
hmac_state_out(const SHA256_CTX *sha, uint8_t out[32])
{
	for (int i = 0; i < 8; i++)
		bt_put_be32(out + 4 * i, sha->h[i]);
}

/* hmac_finish pads the message whose total length (with the 64-byte key
 * block) is bits, in buf[0..n), and runs the last one or two blocks. */
static void
hmac_finish(SHA256_CTX *sha, uint8_t buf[64], size_t n, uint64_t bits)
{
	buf[n++] = 0x80;
	if (n > 56) {
		memset(buf + n, 0, 64 - n);
		SHA256_Transform(sha, buf);
		n = 0;
	}
	memset(buf + n, 0, 56 - n);
	bt_put_be64(buf + 56, bits);
	SHA256_Transform(sha, buf);
}
#endif

int
bt_hmac_new(bt_hmac **out, const void *key, size_t keylen)
{
	static const uint8_t empty[1];
	struct bt_hmac      *h;
	const char          *env = getenv("BT_CRYPTO_GENERIC");
	int                  rc = 0;

	h = bt_zalloc(sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	if (keylen == 0)
		key = empty;
#if BT_HMAC_BLOCKS
	h->fast = env == NULL || strcmp(env, "1") != 0;
	if (h->fast) {
		uint8_t k[BT_SHA256_LEN];

		// RFC 2104: a key longer than the block is hashed first.
		if (keylen > 64) {
			rc = bt_sha256(key, keylen, k);
			if (rc != 0)
				goto err;
			key = k;
			keylen = sizeof(k);
		}
		hmac_pad_block(&h->sha, key, keylen, 0x36, h->inner);
		hmac_pad_block(&h->sha, key, keylen, 0x5c, h->outer);
		memcpy(h->sha.h, h->inner, 32);
		OPENSSL_cleanse(k, sizeof(k));
		*out = h;
		return 0;
	}
#else
	(void)env;
#endif
	{
		OSSL_PARAM params[2];
		EVP_MAC   *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);

		if (mac == NULL) {
			rc = bt__crypto_ossl_err();
			goto err;
		}
		h->mac = EVP_MAC_CTX_new(mac);
		EVP_MAC_free(mac);
		if (h->mac == NULL) {
			rc = -ENOMEM;
			goto err;
		}
		params[0] = OSSL_PARAM_construct_utf8_string(
		    OSSL_MAC_PARAM_DIGEST, (char *)SN_sha256, 0);
		params[1] = OSSL_PARAM_construct_end();
		if (EVP_MAC_init(h->mac, key, keylen, params) != 1) {
			rc = bt__crypto_ossl_err();
			goto err;
		}
	}
	*out = h;
	return 0;
err:
	bt_hmac_free(h);
	return rc;
}

int
bt_hmac_update(bt_hmac *h, const void *p, size_t len)
{
	const uint8_t *m = p;

	if (len == 0)
		return 0;
#if BT_HMAC_BLOCKS
	if (h->fast) {
		h->total += len;
		if (h->n > 0) {
			size_t k = 64 - h->n < len ? 64 - h->n : len;

			memcpy(h->buf + h->n, m, k);
			h->n += k;
			m += k;
			len -= k;
			if (h->n < 64)
				return 0;
			SHA256_Transform(&h->sha, h->buf);
			h->n = 0;
		}
		for (; len >= 64; m += 64, len -= 64)
			SHA256_Transform(&h->sha, m);
		memcpy(h->buf, m, len);
		h->n = len;
		return 0;
	}
#endif
	if (EVP_MAC_update(h->mac, m, len) != 1)
		return bt__crypto_ossl_err();
	return 0;
}

int
bt_hmac_final(bt_hmac *h, uint8_t out[BT_SHA256_LEN])
{
	size_t n = 0;

#if BT_HMAC_BLOCKS
	if (h->fast) {
		uint8_t *b = h->buf;

		// Inner: H((K ^ ipad) || m), its first block already in.
		hmac_finish(&h->sha, b, h->n, (64 + h->total) * 8);
		hmac_state_out(&h->sha, b);
		// Outer: H((K ^ opad) || inner), one block after the pad.
		memcpy(h->sha.h, h->outer, 32);
		hmac_finish(&h->sha, b, BT_SHA256_LEN, (64 + 32) * 8);
		hmac_state_out(&h->sha, out);
		// Ready for the next message under the same key.
		memcpy(h->sha.h, h->inner, 32);
		OPENSSL_cleanse(b, sizeof(h->buf));
		h->n = 0;
		h->total = 0;
		return 0;
	}
#endif
	if (EVP_MAC_final(h->mac, out, &n, BT_SHA256_LEN) != 1)
		return bt__crypto_ossl_err();
	// A NULL key re-initialises the context under the key it has.
	if (EVP_MAC_init(h->mac, NULL, 0, NULL) != 1)
		return bt__crypto_ossl_err();
	return n == BT_SHA256_LEN ? 0 : -EIO;
}

void
bt_hmac_free(bt_hmac *h)
{
	if (h == NULL)
		return;
	EVP_MAC_CTX_free(h->mac);
	OPENSSL_cleanse(h, sizeof(*h));
	bt_free(h);
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
