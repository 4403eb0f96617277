/*
 * crypto/crypto_int.h: what the files of crypto/ share. Not API.
 */
#ifndef BT_CRYPTO_INT_H
#define BT_CRYPTO_INT_H

#include <openssl/evp.h>

#include "bt/crypto.h"

/*
 * struct bt_key: one key pair or public key. The private half lives only
 * inside pkey (OpenSSL cleanses it on free); pub and principal are cached
 * at construction so the const accessors cannot fail.
 */
struct bt_key {
	int                 alg;
	bool                has_private;
	EVP_PKEY           *pkey;
	uint8_t             pub[BT_KEY_PUBLIC_MAX];
	size_t              publen;
	struct bt_principal principal;
};

/* bt__crypto_pub_len returns the raw public key length of alg, 0 if
 * unknown. */
size_t bt__crypto_pub_len(int alg);

/*
 * bt__crypto_verify_raw verifies sig over msg with a raw public key of alg
 * without making a bt_key. Returns 0, BT_EBADSIG, BT_EALG, -ENOMEM, -EIO.
 */
int bt__crypto_verify_raw(int alg, const uint8_t *pub, size_t publen,
    const void *msg, size_t len, const uint8_t *sig, size_t siglen);

/*
 * bt__crypto_key_parse parses key file text (len bytes, not necessarily
 * NUL-terminated). With public_only, a private line is checked for form
 * but not used. *had_private tells whether the text held one. Returns as
 * bt_key_load, without the file errors. Used by bt_key_load and the fuzz
 * target.
 */
int bt__crypto_key_parse(bt_key **out, const char *text, size_t len,
    bool public_only, bool *had_private, struct bt_diag *diag);

/* bt__crypto_ossl_err clears OpenSSL's error queue and maps it to an rc. */
int bt__crypto_ossl_err(void);

#endif /* BT_CRYPTO_INT_H */
