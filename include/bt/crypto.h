/*
 * bt/crypto.h: keys, principals, signatures, hashes, AEAD, paths and
 * credentials (writecaps). OpenSSL 3 sits behind this header; no OpenSSL
 * type appears in it.
 *
 * This header is the whole supported surface of crypto/. Anything not
 * declared here is not API and may change without notice.
 *
 * The identity model (DESIGN.md, "Identity, paths and credentials"):
 *  - a key is an Ed25519 key pair; every key and signature encoding carries
 *    an algorithm tag (BT_KEY_ED25519 = 1), so ECDSA P-256 can be added;
 *  - a principal is SHA-256(uvarint(alg tag) || raw public key), written as
 *    43 characters of unpadded base64url;
 *  - a path is /<root principal>/<component>/...;
 *  - a credential binds a principal to a path and is signed by an issuer
 *    whose own credential (absent for the root) is carried along.
 * docs/crypto.md gives the file formats and encodings byte by byte.
 *
 * Thread safety: every function here is safe to call from several threads
 * on different objects. One object (a bt_key, bt_aead, bt_sha256_ctx,
 * bt_cred) is not to be used by two threads at once, except that the const
 * functions on a bt_key and a bt_cred (sign, verify, accessors) may run
 * concurrently with each other.
 */
#ifndef BT_CRYPTO_H
#define BT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt/core.h"

/* --------------------------------------------------------------------- */
/* Keys                                                                  */
/* --------------------------------------------------------------------- */

/* Algorithm tags. 0 is never valid; unknown tags are BT_EALG. */
enum bt_key_alg {
	BT_KEY_ED25519 = 1,
};

#define BT_KEY_SEED_LEN    32 /* bt_key_from_seed input */
#define BT_KEY_PUBLIC_MAX  64 /* largest raw public key of any alg */
#define BT_KEY_SIG_MAX     128 /* largest signature of any alg */
#define BT_ED25519_PUB_LEN 32
#define BT_ED25519_SIG_LEN 64

typedef struct bt_key bt_key;

/*
 * bt_key_alg_name returns "ed25519" for BT_KEY_ED25519, NULL for an unknown
 * tag. bt_key_alg_from_name is the inverse: the tag, or BT_EALG.
 * bt_key_sig_len returns the signature length of alg, 0 if unknown.
 */
BT_API const char *bt_key_alg_name(int alg);
BT_API int         bt_key_alg_from_name(const char *name);
BT_API size_t      bt_key_sig_len(int alg);

/*
 * bt_key_generate makes a new key pair of algorithm alg from the system's
 * random source. Returns 0 and *out (free with bt_key_free); BT_EALG for an
 * unknown alg; -ENOMEM; -EIO if OpenSSL fails.
 */
BT_API int bt_key_generate(bt_key **out, int alg);

/*
 * bt_key_from_seed makes the key pair that the 32-byte seed determines: the
 * same seed always gives the same key (for Ed25519 the seed is the RFC 8032
 * private key). Use it for keys derived with bt_hkdf_sha256 (blk derives a
 * root key from a device key this way). seed is borrowed and not kept; the
 * caller should zeroize it. Returns as bt_key_generate.
 */
BT_API int bt_key_from_seed(
    bt_key **out, int alg, const uint8_t seed[BT_KEY_SEED_LEN]);

/*
 * bt_key_from_public makes a public-only key (it can verify, not sign) from
 * the raw public key of alg (32 bytes for Ed25519). Returns 0 and *out;
 * BT_EALG; -EINVAL for a wrong length or a key OpenSSL rejects; -ENOMEM.
 */
BT_API int bt_key_from_public(
    bt_key **out, int alg, const void *raw, size_t len);

/*
 * bt_key_dup makes an independent copy of k (with its private half, if
 * any). Returns 0 and *out, or -ENOMEM / -EIO.
 */
BT_API int bt_key_dup(bt_key **out, const bt_key *k);

/*
 * bt_key_free zeroizes the private key material (OPENSSL_cleanse) and frees
 * k. NULL is a no-op.
 */
BT_API void bt_key_free(bt_key *k);

/*
 * Key files (docs/crypto.md, "Key files") are small text files:
 *
 *   bt-key 1
 *   alg ed25519
 *   public <43 characters base64url of the raw public key>
 *   private <43 characters base64url of the 32-byte seed>
 *
 * The "private" line is absent in a public key file. Lines end with "\n";
 * nothing else is allowed (no blank lines, no comments, no trailing space).
 *
 * bt_key_save writes k to path atomically (bt_os_write_file_atomic) with
 * mode 0600 when k has a private half; bt_key_save_public writes only the
 * public half with mode 0644. Returns 0 or a negative errno (-EACCES,
 * -ENOENT for a missing folder, -ENOSPC, ...). The temporary copy of the
 * seed is zeroized.
 */
BT_API int bt_key_save(const bt_key *k, const char *path);
BT_API int bt_key_save_public(const bt_key *k, const char *path);

/*
 * bt_key_save_new writes k (with its private half, if any, mode 0600; else
 * mode 0644) to path only if nothing exists there, not even a dangling
 * symbolic link: it writes and fsyncs a temporary file beside path and
 * hard-links it into place (renameat2 with RENAME_NOREPLACE where the
 * filesystem has no hard links), so a file created at path at any moment
 * before is never replaced. Returns 0; -EEXIST when path exists; other
 * negative errnos as bt_key_save. The temporary file is always removed.
 */
BT_API int bt_key_save_new(const bt_key *k, const char *path);

/*
 * bt_key_load reads a key file, private or public. A file that holds a
 * private key is refused with BT_EPERM, as ssh refuses one, when it is
 * readable, writable or executable by group or others (diag says
 * "permissions 0644 for 'FILE' are too open") or owned by a user other
 * than the caller (effective uid) and root (diag names both uids). Returns
 * 0 and *out; -ENOENT and other negative errnos from reading; BT_ECORRUPT
 * for a malformed file (diag names the line and what is wrong), including
 * any NUL byte (diag's offset is the NUL's); BT_EALG for an unknown
 * algorithm; BT_ELIMIT for a file larger than 4 KiB; -EINVAL for something
 * other than a regular file (a FIFO is refused without blocking); -ENOMEM.
 * The file's bytes are zeroized after parsing. diag always names the file
 * or the line at fault.
 */
BT_API int bt_key_load(bt_key **out, const char *path, struct bt_diag *diag);

/*
 * bt_key_load_public reads a key file, private or public, and returns only
 * its public half (so it does not check the file's mode). Errors as
 * bt_key_load, without BT_EPERM.
 */
BT_API int bt_key_load_public(
    bt_key **out, const char *path, struct bt_diag *diag);

/*
 * bt_key_load_public_trusted is bt_key_load_public for a key about to be
 * trusted, such as the holder a credential is issued to: whoever can
 * rewrite the file chooses that key. So it also refuses, with BT_EPERM and
 * diag saying why, a file writable by group or others, or owned by a user
 * other than the caller (effective uid) and root. It does not check the
 * folders above the file. Otherwise as bt_key_load_public.
 */
BT_API int bt_key_load_public_trusted(
    bt_key **out, const char *path, struct bt_diag *diag);

/* bt_key_alg returns k's algorithm tag. */
BT_API int bt_key_alg(const bt_key *k);

/*
 * bt_key_public_raw returns a view of k's raw public key (32 bytes for
 * Ed25519), valid as long as k.
 */
BT_API struct bt_buf bt_key_public_raw(const bt_key *k);

/* bt_key_has_private says whether k can sign. */
BT_API bool bt_key_has_private(const bt_key *k);

/*
 * bt_key_sign signs len bytes at msg (Ed25519 signs the message itself, no
 * pre-hash). Writes the signature to sig (room for BT_KEY_SIG_MAX bytes)
 * and its length to *siglen_out (64 for Ed25519). Returns 0; -EINVAL if k
 * has no private half; -ENOMEM / -EIO from OpenSSL. Callers that store a
 * signature store bt_key_alg(k) with it.
 */
BT_API int bt_key_sign(const bt_key *k, const void *msg, size_t len,
    uint8_t sig[BT_KEY_SIG_MAX], size_t *siglen_out);

/*
 * bt_key_verify checks sig over msg with k's public half. Returns 0 when it
 * verifies; BT_EBADSIG when it does not (including a wrong length); -ENOMEM
 * / -EIO when OpenSSL could not run.
 */
BT_API int bt_key_verify(const bt_key *k, const void *msg, size_t len,
    const uint8_t *sig, size_t siglen);

/*
 * bt_key_evp returns k's OpenSSL EVP_PKEY * (as void *, so this header needs
 * no OpenSSL), for the TLS layer to build a certificate and context. The
 * pointer is borrowed: valid as long as k; the caller may EVP_PKEY_up_ref
 * it to keep it longer. Internal to Blocktree, but exported.
 */
BT_API void *bt_key_evp(const bt_key *k);

/* --------------------------------------------------------------------- */
/* Principals                                                            */
/* --------------------------------------------------------------------- */

/* A principal: SHA-256(uvarint(alg tag) || raw public key). A value type. */
struct bt_principal {
	uint8_t b[32];
};

#define BT_PRINCIPAL_STR_LEN 43 /* base64url characters, no padding */

/* bt_key_principal writes k's principal to *out (computed once, cached). */
BT_API void bt_key_principal(const bt_key *k, struct bt_principal *out);

/*
 * bt_principal_of computes the principal of a raw public key of alg,
 * whether or not crypto/ knows alg (the rule does not depend on it).
 * Returns 0, or -EIO if hashing failed.
 */
BT_API int bt_principal_of(
    struct bt_principal *out, int alg, const void *raw, size_t len);

/*
 * bt_principal_to_str writes the 43 characters and a NUL to out.
 * bt_principal_from_str parses exactly 43 base64url characters followed by
 * a NUL (bt_principal_from_strn: exactly len = 43 characters); anything
 * else, including non-zero trailing bits, is -EINVAL. *out is written only
 * on success.
 */
BT_API void bt_principal_to_str(
    const struct bt_principal *p, char out[BT_PRINCIPAL_STR_LEN + 1]);
BT_API int bt_principal_from_str(struct bt_principal *out, const char *s);
BT_API int bt_principal_from_strn(
    struct bt_principal *out, const char *s, size_t len);
BT_API bool bt_principal_equal(
    const struct bt_principal *a, const struct bt_principal *b);

/* --------------------------------------------------------------------- */
/* Hashes, key derivation, randomness                                    */
/* --------------------------------------------------------------------- */

#define BT_SHA256_LEN 32

/* bt_sha256 hashes len bytes at p into out. Returns 0, or -EIO/-ENOMEM. */
BT_API int bt_sha256(const void *p, size_t len, uint8_t out[BT_SHA256_LEN]);

/*
 * An incremental SHA-256 context. bt_sha256_new returns 0 and *out, or
 * -ENOMEM. bt_sha256_update adds bytes; bt_sha256_final writes the digest
 * and resets ctx to empty so it can hash again (cheaper than a new one).
 * Both return 0 or -EIO. bt_sha256_free is NULL-safe. Not thread-safe.
 */
typedef struct bt_sha256_ctx bt_sha256_ctx;

BT_API int  bt_sha256_new(bt_sha256_ctx **out);
BT_API int  bt_sha256_update(bt_sha256_ctx *ctx, const void *p, size_t len);
BT_API int  bt_sha256_final(bt_sha256_ctx *ctx, uint8_t out[BT_SHA256_LEN]);
BT_API void bt_sha256_free(bt_sha256_ctx *ctx);

/*
 * bt_hmac_sha256 computes HMAC-SHA256(key, msg) into out. Returns 0 or
 * -EIO.
 */
BT_API int bt_hmac_sha256(uint8_t out[BT_SHA256_LEN], const void *key,
    size_t keylen, const void *msg, size_t len);

/*
 * A keyed HMAC-SHA256 context, for many MACs under one key: the key is
 * absorbed once, at bt_hmac_new, so each MAC costs only its message's
 * SHA-256 blocks and no allocation (a 96-byte message: three block
 * computations instead of the four digests and their EVP overhead of
 * bt_hmac_sha256). The MACs are exactly bt_hmac_sha256's.
 *
 * bt_hmac_new keys a context with keylen bytes (any length; key may be
 * NULL when keylen is 0). The key is not kept, only the two hash states it
 * determines; the caller should zeroize its own copy. Returns 0 and *out;
 * -ENOMEM; -EIO.
 * bt_hmac_update adds len bytes of message (p may be NULL when len is 0);
 * bt_hmac_final writes HMAC-SHA256(key, message so far) into out and
 * starts an empty message under the same key. Both return 0 or -EIO; after
 * -EIO the context holds no meaningful message (free it).
 * bt_hmac_free zeroizes the keyed state and frees h; NULL is a no-op.
 * One context is not thread-safe: give each thread its own.
 */
typedef struct bt_hmac bt_hmac;

BT_API int  bt_hmac_new(bt_hmac **out, const void *key, size_t keylen);
BT_API int  bt_hmac_update(bt_hmac *h, const void *p, size_t len);
BT_API int  bt_hmac_final(bt_hmac *h, uint8_t out[BT_SHA256_LEN]);
BT_API void bt_hmac_free(bt_hmac *h);

/*
 * bt_hkdf_sha256 is HKDF (RFC 5869) with SHA-256, extract then expand:
 * outlen bytes of output keying material from ikm, salt and info (salt and
 * info may be NULL when their length is 0). Returns 0; -EINVAL if outlen
 * is 0 or above 255 * 32; -EIO if OpenSSL fails.
 */
BT_API int bt_hkdf_sha256(uint8_t *out, size_t outlen, const void *ikm,
    size_t ikmlen, const void *salt, size_t saltlen, const void *info,
    size_t infolen);

/*
 * bt_random fills n bytes at buf from the OpenSSL CSPRNG (seeded by the
 * kernel). Returns 0 or -EIO. May block only before the kernel's pool is
 * first initialized, at boot.
 */
BT_API int bt_random(void *buf, size_t n);

/* --------------------------------------------------------------------- */
/* AEAD: AES-256-GCM                                                     */
/* --------------------------------------------------------------------- */

#define BT_AEAD_KEY_LEN   32
#define BT_AEAD_NONCE_LEN 12
#define BT_AEAD_TAG_LEN   16

/*
 * A bt_aead holds one AES-256-GCM key, expanded once, and an OpenSSL cipher
 * context reused by every call, so sealing a 4 KiB sector costs no
 * allocation. One bt_aead is NOT thread-safe: give each thread its own (or
 * lock). The caller must never seal two messages under one key with one
 * nonce (GCM loses both confidentiality and integrity then): use a counter,
 * or random nonces for fewer than 2^32 messages per key.
 *
 * bt_aead_new returns 0 and *out; -ENOMEM; -EIO. key is copied (and the
 * copy zeroized by bt_aead_free); the caller should zeroize its own.
 */
typedef struct bt_aead bt_aead;

BT_API int bt_aead_new(bt_aead **out, const uint8_t key[BT_AEAD_KEY_LEN]);

/*
 * bt_aead_seal encrypts len bytes at pt into ct_out (len bytes; may equal pt
 * for in-place) and writes the 16-byte tag, authenticating ad (adlen bytes,
 * may be NULL when 0) as well. Returns 0, or -EIO (then ct_out and tag_out
 * hold nothing meaningful). len and adlen may be 0.
 */
BT_API int bt_aead_seal(bt_aead *a, const uint8_t nonce[BT_AEAD_NONCE_LEN],
    const void *ad, size_t adlen, const void *pt, size_t len, void *ct_out,
    uint8_t tag_out[BT_AEAD_TAG_LEN]);

/*
 * bt_aead_open checks tag over nonce, ad and ct and decrypts len bytes into
 * pt_out (may equal ct for in-place). Returns 0; BT_ECORRUPT when anything
 * was altered (pt_out is then zero-filled: unauthenticated plaintext is
 * never released, and in-place the ciphertext is gone); -EIO.
 */
BT_API int bt_aead_open(bt_aead *a, const uint8_t nonce[BT_AEAD_NONCE_LEN],
    const void *ad, size_t adlen, const void *ct, size_t len,
    const uint8_t tag[BT_AEAD_TAG_LEN], void *pt_out);

/* bt_aead_free zeroizes the key and frees a. NULL is a no-op. */
BT_API void bt_aead_free(bt_aead *a);

/* --------------------------------------------------------------------- */
/* Paths                                                                 */
/* --------------------------------------------------------------------- */

/*
 * A path is "/" <root principal> ("/" <component>)*: the first component is
 * a principal's 43-character string, each further component is 1-255 bytes
 * of [A-Za-z0-9._-] and never "." or "..". No empty components, no trailing
 * "/". At most BT_PATH_MAX bytes in all and BT_PATH_DEPTH_MAX components.
 * "/<root>" alone is a valid path: the whole of root's domain.
 */
#define BT_PATH_COMPONENT_MAX 255
#define BT_PATH_MAX           4096
#define BT_PATH_DEPTH_MAX     64

/*
 * bt_path_check returns 0 for a valid path, else -EINVAL with diag naming
 * the offset and the rule broken. A NULL path is -EINVAL (diag offset -1).
 */
BT_API int bt_path_check(const char *path, struct bt_diag *diag);

/*
 * bt_path_root writes the root principal (first component) of path.
 * Returns 0, or -EINVAL for an invalid or NULL path (*out untouched).
 */
BT_API int bt_path_root(const char *path, struct bt_principal *out);

/*
 * bt_path_within says whether child equals parent or lies beneath it,
 * component by component ("/R/ab" is not within "/R/a"). False when either
 * is not a valid path or is NULL.
 */
BT_API bool bt_path_within(const char *child, const char *parent);

/* --------------------------------------------------------------------- */
/* Credentials (writecaps)                                               */
/* --------------------------------------------------------------------- */

/*
 * A credential (docs/crypto.md, "Credentials") is one link:
 *   issued-to principal, path, not-before, expires (seconds since the
 *   epoch), issuer public key (with alg tag), signature (with alg tag)
 *   over the canonical encoding of the fields before it, and the issuer's
 *   own credential, absent when the issuer is the root of the path.
 * A chain is the leaf plus its issuers' credentials, at most
 * BT_CRED_CHAIN_MAX links. A bt_cred is immutable once made.
 */
#define BT_CRED_CHAIN_MAX   8
#define BT_CRED_ENCODED_MAX 65536 /* bt_cred_decode refuses longer input */

typedef struct bt_cred bt_cred;

/*
 * bt_cred_issue makes a credential for principal to at path, valid from
 * not_before_s until (not including) expires_s, signed by issuer. When
 * issuer_cred is NULL, issuer is the root: path's first component must be
 * issuer's principal (else BT_ENOTROOTED). Otherwise issuer_cred must be
 * issued to issuer's principal (else BT_EPERM), path must lie within its
 * path (else BT_EPATH: delegation only narrows) and the chain must stay
 * within BT_CRED_CHAIN_MAX links (else BT_ECHAINLEN); issuer_cred is
 * copied, not retained. Other errors: -EINVAL for an invalid path, an
 * issuer without a private half, or expires_s <= not_before_s; BT_EALG;
 * -ENOMEM; -EIO. Returns 0 and *out (free with bt_cred_free).
 *
 * Issuing does not check that issuer_cred is currently valid; verify does.
 */
BT_API int bt_cred_issue(bt_cred **out, const bt_key *issuer,
    const bt_cred *issuer_cred, const struct bt_principal *to,
    const char *path, int64_t not_before_s, int64_t expires_s);

/*
 * bt_cred_encode appends the canonical encoding of c (leaf first, then its
 * issuers' credentials nested) to out. Returns 0, BT_ELIMIT if out's bound
 * is reached (out is then as it was), -ENOMEM.
 */
BT_API int bt_cred_encode(const bt_cred *c, struct bt_dbuf *out);

/*
 * bt_cred_decode parses exactly len bytes at ptr. Returns 0 and *out;
 * BT_ETRUNC if the input ends early; BT_ECORRUPT for malformed fields,
 * trailing bytes, an invalid path or a key or signature of the wrong length
 * for a known alg; BT_ENONCANON for a non-minimal varint; BT_ECHAINLEN for
 * more than BT_CRED_CHAIN_MAX links; BT_ELIMIT for input longer than
 * BT_CRED_ENCODED_MAX; -ENOMEM. diag names the offset and the field.
 * Unknown alg tags decode (so they can be shown) and fail bt_cred_verify
 * with BT_EALG. Decoding checks no signature: call bt_cred_verify. A
 * successful decode re-encodes to exactly the same bytes.
 */
BT_API int bt_cred_decode(
    bt_cred **out, const void *ptr, size_t len, struct bt_diag *diag);

/*
 * Credential files are text: the line "bt-cred 1", then the encoding as
 * base64url (no padding) on one line, each line ending in "\n".
 * bt_cred_to_text appends that text to out; bt_cred_from_text parses it
 * (errors as bt_cred_decode; BT_ECORRUPT for a bad header or base64url).
 * diag's offset, when not -1, is a byte offset in the DECODED binary
 * credential (as bt_cred_decode gives it), not in the text; errors of the
 * text form itself name their line in the message and set offset -1.
 * bt_cred_save writes a file atomically with mode 0644 (a credential is
 * not secret) and returns 0 or a negative errno; bt_cred_load reads one
 * (at most 2 * BT_CRED_ENCODED_MAX bytes) with the errors of reading and of
 * bt_cred_from_text.
 */
BT_API int bt_cred_to_text(const bt_cred *c, struct bt_dbuf *out);
BT_API int bt_cred_from_text(
    bt_cred **out, const void *ptr, size_t len, struct bt_diag *diag);
BT_API int bt_cred_save(const bt_cred *c, const char *path);
BT_API int bt_cred_load(bt_cred **out, const char *path, struct bt_diag *diag);

/*
 * bt_cred_verify checks that c authorizes its leaf principal to act at path
 * at time now_s (seconds since the epoch). Links are numbered from 1 at the
 * leaf to bt_cred_chain_len(c) at the root-issued one; each check runs on
 * every link, from the root-issued link down, and the first failure is
 * returned with diag naming the link:
 *   BT_ECHAINLEN   more than BT_CRED_CHAIN_MAX links;
 *   BT_EALG        a key or signature alg crypto/ does not know;
 *   BT_EBADSIG     a signature does not verify, or a link is signed by a key
 *                  other than the one its issuer's credential names;
 *   BT_ENOTROOTED  the root-issued link's issuer key is not the principal in
 *                  the first component of its path;
 *   BT_EPATH       a link's path is not within its issuer's, or path is not
 *                  within the leaf's (or path is invalid, or NULL: that
 *                  is checked first, before any signature);
 *   BT_ENOTYET     now_s < a link's not-before;
 *   BT_EEXPIRED    now_s >= a link's expires;
 *   -ENOMEM, -EIO  could not run.
 * Returns 0 when every check passes. Thread-safe on a shared c.
 */
BT_API int bt_cred_verify(
    const bt_cred *c, const char *path, int64_t now_s, struct bt_diag *diag);

/*
 * bt_cred_dup copies c. Returns 0 and *out, or -ENOMEM.
 */
BT_API int bt_cred_dup(bt_cred **out, const bt_cred *c);

/*
 * Accessors of the leaf link. bt_cred_path's string is borrowed, valid as
 * long as c. bt_cred_parent returns the issuer's credential (borrowed, part
 * of c), or NULL when the leaf was issued by the root. bt_cred_issuer
 * writes the principal of the leaf's issuer key and bt_cred_issuer_alg
 * returns its alg tag. bt_cred_root writes the principal of the top
 * issuer's key (the one that should be the path's first component).
 * bt_cred_chain_len counts the links (1 for a root-issued leaf).
 * bt_cred_chain_expires returns the earliest expires of all the links of
 * c's chain: verification fails from then on, whatever the leaf's own
 * expires says, so this is when c stops being usable.
 */
BT_API void bt_cred_principal(const bt_cred *c, struct bt_principal *out);
BT_API const char *bt_cred_path(const bt_cred *c);
BT_API int64_t     bt_cred_not_before(const bt_cred *c);
BT_API int64_t     bt_cred_expires(const bt_cred *c);
BT_API void        bt_cred_issuer(const bt_cred *c, struct bt_principal *out);
BT_API int         bt_cred_issuer_alg(const bt_cred *c);
BT_API void        bt_cred_root(const bt_cred *c, struct bt_principal *out);
BT_API int         bt_cred_chain_len(const bt_cred *c);
BT_API int64_t     bt_cred_chain_expires(const bt_cred *c);
BT_API const bt_cred *bt_cred_parent(const bt_cred *c);

/* bt_cred_free frees c and its issuers' credentials. NULL is a no-op. */
BT_API void bt_cred_free(bt_cred *c);

#endif /* BT_CRYPTO_H */
