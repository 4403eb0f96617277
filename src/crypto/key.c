/*
 * crypto/key.c: signing keys, principals and key files.
 *
 * Keys are OpenSSL EVP_PKEYs wrapped with their algorithm tag, raw public
 * key and principal. The only algorithm today is Ed25519 (RFC 8032): the
 * private key is a 32-byte seed, the public key 32 bytes, a signature 64.
 * Adding ECDSA P-256 means a new tag, lengths here, and a branch in
 * make_private/make_public; every encoding already carries the tag.
 *
 * Key files are text (bt/crypto.h, docs/crypto.md). The seed is read into
 * and written from stack buffers that are zeroized on every path; it never
 * enters a growable buffer (which could leave copies behind on realloc).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "bt/os.h"
#include "crypto_int.h"

#define KEY_FILE_MAX    4096
#define KEY_FILE_HEADER "bt-key 1"

int
bt__crypto_ossl_err(void)
{
	unsigned long e = ERR_peek_last_error();
	int           rc = -EIO;

	if (e != 0 && ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
		rc = -ENOMEM;
	ERR_clear_error();
	return rc;
}

const char *
bt_key_alg_name(int alg)
{
	switch (alg) {
	case BT_KEY_ED25519:
		return "ed25519";
	default:
		return NULL;
	}
}

int
bt_key_alg_from_name(const char *name)
{
	if (name != NULL && strcmp(name, "ed25519") == 0)
		return BT_KEY_ED25519;
	return BT_EALG;
}

size_t
bt_key_sig_len(int alg)
{
	return alg == BT_KEY_ED25519 ? BT_ED25519_SIG_LEN : 0;
}

size_t
bt__crypto_pub_len(int alg)
{
	return alg == BT_KEY_ED25519 ? BT_ED25519_PUB_LEN : 0;
}

int
bt_principal_of(struct bt_principal *out, int alg, const void *raw, size_t len)
{
	uint8_t        tag[10], digest[BT_SHA256_LEN];
	size_t         n = 0;
	uint64_t       v = (uint64_t)(uint32_t)alg;
	bt_sha256_ctx *ctx;
	int            rc;

	// The tag is hashed as a LEB128 uvarint, as the serde format writes
	// it; for every tag below 128 that is one byte.
	do {
		tag[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v != 0)
			tag[n] |= 0x80;
		n++;
	} while (v != 0);
	rc = bt_sha256_new(&ctx);
	if (rc != 0)
		return rc;
	rc = bt_sha256_update(ctx, tag, n);
	if (rc == 0)
		rc = bt_sha256_update(ctx, raw, len);
	if (rc == 0)
		rc = bt_sha256_final(ctx, digest);
	bt_sha256_free(ctx);
	if (rc == 0)
		memcpy(out->b, digest, sizeof(out->b));
	return rc;
}

/* finish fills the cached public key and principal of a new key. */
static int
finish(struct bt_key *k)
{
	size_t len = sizeof(k->pub);

	if (EVP_PKEY_get_raw_public_key(k->pkey, k->pub, &len) != 1)
		return bt__crypto_ossl_err();
	if (len != bt__crypto_pub_len(k->alg))
		return -EIO;
	k->publen = len;
	return bt_principal_of(&k->principal, k->alg, k->pub, k->publen);
}

static int
make_key(bt_key **out, int alg, EVP_PKEY *pkey, bool has_private)
{
	struct bt_key *k;
	int            rc;

	k = bt_zalloc(sizeof(*k));
	if (k == NULL) {
		EVP_PKEY_free(pkey);
		return -ENOMEM;
	}
	k->alg = alg;
	k->pkey = pkey;
	k->has_private = has_private;
	rc = finish(k);
	if (rc != 0) {
		bt_key_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

int
bt_key_from_seed(bt_key **out, int alg, const uint8_t seed[BT_KEY_SEED_LEN])
{
	EVP_PKEY *pkey;

	if (alg != BT_KEY_ED25519)
		return BT_EALG;
	pkey = EVP_PKEY_new_raw_private_key(
	    EVP_PKEY_ED25519, NULL, seed, BT_KEY_SEED_LEN);
	if (pkey == NULL)
		return bt__crypto_ossl_err();
	return make_key(out, alg, pkey, true);
}

int
bt_key_generate(bt_key **out, int alg)
{
	uint8_t seed[BT_KEY_SEED_LEN];
	int     rc;

	if (alg != BT_KEY_ED25519)
		return BT_EALG;
	// A random seed is exactly what OpenSSL's keygen draws for Ed25519,
	// and going through the seed keeps one construction path.
	rc = bt_random(seed, sizeof(seed));
	if (rc == 0)
		rc = bt_key_from_seed(out, alg, seed);
	OPENSSL_cleanse(seed, sizeof(seed));
	return rc;
}

int
bt_key_from_public(bt_key **out, int alg, const void *raw, size_t len)
{
	EVP_PKEY *pkey;

	if (alg != BT_KEY_ED25519)
		return BT_EALG;
	if (len != BT_ED25519_PUB_LEN)
		return -EINVAL;
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, len);
	if (pkey == NULL) {
		ERR_clear_error();
		return -EINVAL;
	}
	return make_key(out, alg, pkey, false);
}

/* get_seed copies k's private seed to seed; the caller cleanses it. */
static int
get_seed(const bt_key *k, uint8_t seed[BT_KEY_SEED_LEN])
{
	size_t len = BT_KEY_SEED_LEN;

	if (!k->has_private)
		return -EINVAL;
	if (EVP_PKEY_get_raw_private_key(k->pkey, seed, &len) != 1)
		return bt__crypto_ossl_err();
	if (len != BT_KEY_SEED_LEN)
		return -EIO;
	return 0;
}

int
bt_key_dup(bt_key **out, const bt_key *k)
{
	uint8_t seed[BT_KEY_SEED_LEN];
	int     rc;

	if (!k->has_private)
		return bt_key_from_public(out, k->alg, k->pub, k->publen);
	rc = get_seed(k, seed);
	if (rc == 0)
		rc = bt_key_from_seed(out, k->alg, seed);
	OPENSSL_cleanse(seed, sizeof(seed));
	return rc;
}

void
bt_key_free(bt_key *k)
{
	if (k == NULL)
		return;
	// EVP_PKEY_free cleanses the private key (ossl_ecx_key_free).
	EVP_PKEY_free(k->pkey);
	OPENSSL_cleanse(k, sizeof(*k));
	bt_free(k);
}

int
bt_key_alg(const bt_key *k)
{
	return k->alg;
}

struct bt_buf
bt_key_public_raw(const bt_key *k)
{
	return (struct bt_buf) { .ptr = k->pub, .len = k->publen };
}

bool
bt_key_has_private(const bt_key *k)
{
	return k->has_private;
}

void *
bt_key_evp(const bt_key *k)
{
	return k->pkey;
}

void
bt_key_principal(const bt_key *k, struct bt_principal *out)
{
	*out = k->principal;
}

int
bt_key_sign(const bt_key *k, const void *msg, size_t len,
    uint8_t sig[BT_KEY_SIG_MAX], size_t *siglen_out)
{
	EVP_MD_CTX *md;
	size_t      siglen = BT_KEY_SIG_MAX;
	int         rc = 0;

	if (!k->has_private)
		return -EINVAL;
	md = EVP_MD_CTX_new();
	if (md == NULL)
		return -ENOMEM;
	// Ed25519 takes no digest (it hashes internally): md type NULL.
	if (EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) != 1
	    || EVP_DigestSign(md, sig, &siglen, msg, len) != 1) {
		rc = bt__crypto_ossl_err();
		goto out;
	}
	*siglen_out = siglen;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

static int
verify_pkey(EVP_PKEY *pkey, const void *msg, size_t len, const uint8_t *sig,
    size_t siglen)
{
	EVP_MD_CTX *md;
	int         rc, r;

	md = EVP_MD_CTX_new();
	if (md == NULL)
		return -ENOMEM;
	if (EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) != 1) {
		rc = bt__crypto_ossl_err();
		goto out;
	}
	r = EVP_DigestVerify(md, sig, siglen, msg, len);
	if (r == 1) {
		rc = 0;
	} else {
		// 0 is a bad signature; a negative value is a malformed one
		// (for Ed25519, only a wrong length). Both are BT_EBADSIG.
		ERR_clear_error();
		rc = BT_EBADSIG;
	}
out:
	EVP_MD_CTX_free(md);
	return rc;
}

int
bt_key_verify(const bt_key *k, const void *msg, size_t len, const uint8_t *sig,
    size_t siglen)
{
	if (siglen != bt_key_sig_len(k->alg))
		return BT_EBADSIG;
	return verify_pkey(k->pkey, msg, len, sig, siglen);
}

int
bt__crypto_verify_raw(int alg, const uint8_t *pub, size_t publen,
    const void *msg, size_t len, const uint8_t *sig, size_t siglen)
{
	EVP_PKEY *pkey;
	int       rc;

	if (alg != BT_KEY_ED25519)
		return BT_EALG;
	if (publen != BT_ED25519_PUB_LEN || siglen != BT_ED25519_SIG_LEN)
		return BT_EBADSIG;
	pkey
	    = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, publen);
	if (pkey == NULL)
		return bt__crypto_ossl_err();
	rc = verify_pkey(pkey, msg, len, sig, siglen);
	EVP_PKEY_free(pkey);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Principals                                                          */
/* ------------------------------------------------------------------ */

void
bt_principal_to_str(
    const struct bt_principal *p, char out[BT_PRINCIPAL_STR_LEN + 1])
{
	bt_b64url_encode(out, p->b, sizeof(p->b));
}

int
bt_principal_from_strn(struct bt_principal *out, const char *s, size_t len)
{
	struct bt_principal p;

	if (len != BT_PRINCIPAL_STR_LEN)
		return -EINVAL;
	if (bt_b64url_decode(p.b, sizeof(p.b), s, len) != (ssize_t)sizeof(p.b))
		return -EINVAL;
	*out = p;
	return 0;
}

int
bt_principal_from_str(struct bt_principal *out, const char *s)
{
	return bt_principal_from_strn(
	    out, s, strnlen(s, BT_PRINCIPAL_STR_LEN + 1));
}

bool
bt_principal_equal(const struct bt_principal *a, const struct bt_principal *b)
{
	// Principals are public, so a plain comparison is fine.
	return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

/* ------------------------------------------------------------------ */
/* Key files                                                           */
/* ------------------------------------------------------------------ */

/*
 * format_key writes the key file text into buf (cap bytes) and returns its
 * length, or a negative rc. With with_private, buf holds the seed in text:
 * the caller cleanses it.
 */
static ssize_t
format_key(const bt_key *k, bool with_private, char *buf, size_t cap)
{
	uint8_t seed[BT_KEY_SEED_LEN];
	char    pub[BT_KEY_PUBLIC_MAX * 2];
	char    priv[BT_KEY_SEED_LEN * 2];
	int     n, rc;

	bt_b64url_encode(pub, k->pub, k->publen);
	if (!with_private) {
		n = snprintf(buf, cap, "%s\nalg %s\npublic %s\n",
		    KEY_FILE_HEADER, bt_key_alg_name(k->alg), pub);
		return n < 0 || (size_t)n >= cap ? -EIO : n;
	}
	rc = get_seed(k, seed);
	if (rc != 0)
		return rc;
	bt_b64url_encode(priv, seed, sizeof(seed));
	OPENSSL_cleanse(seed, sizeof(seed));
	n = snprintf(buf, cap, "%s\nalg %s\npublic %s\nprivate %s\n",
	    KEY_FILE_HEADER, bt_key_alg_name(k->alg), pub, priv);
	OPENSSL_cleanse(priv, sizeof(priv));
	return n < 0 || (size_t)n >= cap ? -EIO : n;
}

static int
save(const bt_key *k, const char *path, bool with_private)
{
	char    buf[512];
	ssize_t n;
	int     rc;

	n = format_key(k, with_private, buf, sizeof(buf));
	if (n < 0) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return (int)n;
	}
	rc = bt_os_write_file_atomic(
	    path, buf, (size_t)n, with_private ? 0600 : 0644);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

int
bt_key_save(const bt_key *k, const char *path)
{
	return save(k, path, k->has_private);
}

/*
 * install_new puts a fully written, fsynced temporary file tmp in place at
 * path only if nothing is there: link() fails with EEXIST rather than
 * replace, so a file created after any earlier check is never clobbered
 * (unlike a check followed by rename). Filesystems without hard links
 * (EPERM, EOPNOTSUPP) get renameat2(RENAME_NOREPLACE), which has the same
 * guarantee. tmp is removed in every case.
 */
static int
install_new(const char *tmp, const char *path)
{
	int rc = 0;

	if (link(tmp, path) != 0) {
		rc = -errno;
		if (rc == -EPERM || rc == -EOPNOTSUPP) {
			if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path,
			        RENAME_NOREPLACE)
			    == 0)
				return bt_os_fsync_dir(path);
			rc = -errno;
		}
	}
	bt_os_unlink(tmp);
	if (rc == 0)
		rc = bt_os_fsync_dir(path);
	return rc;
}

int
bt_key_save_new(const bt_key *k, const char *path)
{
	uint8_t rnd[8];
	char    buf[512], *tmp;
	size_t  cap = strlen(path) + 64;
	ssize_t n;
	mode_t  mode = k->has_private ? 0600 : 0644;
	int     fd, rc;

	tmp = bt_alloc(cap);
	if (tmp == NULL)
		return -ENOMEM;
	rc = bt_random(rnd, sizeof(rnd));
	if (rc != 0)
		goto out_free;
	// A name nobody can predict, created with O_EXCL and O_NOFOLLOW:
	// nothing planted at it in advance can be written through.
	snprintf(tmp, cap, "%s.tmp.%ld.%02x%02x%02x%02x%02x%02x%02x%02x", path,
	    (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
	    rnd[6], rnd[7]);
	fd = bt_os_open(
	    tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = fd;
		goto out_free;
	}
	n = format_key(k, k->has_private, buf, sizeof(buf));
	rc = n < 0 ? (int)n : bt_os_write_full(fd, buf, (size_t)n);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rc == 0)
		rc = bt_os_fsync(fd);
	bt_os_close(fd);
	if (rc != 0) {
		bt_os_unlink(tmp);
		goto out_free;
	}
	rc = install_new(tmp, path);
out_free:
	bt_free(tmp);
	return rc;
}

int
bt_key_save_public(const bt_key *k, const char *path)
{
	return save(k, path, false);
}

/*
 * next_line finds the line starting at *off in text (len bytes). It must end
 * in "\n". Returns its length (without the newline) and advances *off, or -1
 * at the end of the text, or -2 for a last line without a newline.
 */
static ssize_t
next_line(const char *text, size_t len, size_t *off, const char **line)
{
	const char *nl;

	if (*off >= len)
		return -1;
	nl = memchr(text + *off, '\n', len - *off);
	if (nl == NULL)
		return -2;
	*line = text + *off;
	*off = (size_t)(nl - text) + 1;
	return nl - *line;
}

/* field matches "NAME VALUE" and points *val at VALUE (vlen bytes). */
static bool
field(const char *line, size_t n, const char *name, const char **val,
    size_t *vlen)
{
	size_t nl = strlen(name);

	if (n <= nl + 1 || memcmp(line, name, nl) != 0 || line[nl] != ' ')
		return false;
	*val = line + nl + 1;
	*vlen = n - nl - 1;
	return true;
}

int
bt__crypto_key_parse(bt_key **out, const char *text, size_t len,
    bool public_only, bool *had_private, struct bt_diag *diag)
{
	uint8_t     pub[BT_KEY_PUBLIC_MAX], seed[BT_KEY_SEED_LEN];
	char        algname[32];
	const char *line, *val, *nul;
	size_t      off = 0, vlen;
	ssize_t     n, publen;
	bt_key     *k = NULL;
	int         alg, lineno = 0, rc;
	bool        have_seed = false;

	// Every field is compared and copied as a C string somewhere (the
	// algorithm name through strcmp), so a NUL would let text after it,
	// "alg ed25519\0junk", pass unseen. A key file is text: no NUL at all.
	nul = memchr(text, '\0', len);
	if (nul != NULL) {
		off = (size_t)(nul - text);
		bt_diag_set(diag, (int64_t)off,
		    "byte %zu: a NUL byte in a key file (key files are text)",
		    off);
		return BT_ECORRUPT;
	}

	n = next_line(text, len, &off, &line);
	lineno++;
	if (n < 0 || (size_t)n != strlen(KEY_FILE_HEADER)
	    || memcmp(line, KEY_FILE_HEADER, (size_t)n) != 0) {
		bt_diag_set(diag, 0,
		    "line 1: not a Blocktree key file "
		    "(expected \"%s\")",
		    KEY_FILE_HEADER);
		return BT_ECORRUPT;
	}

	n = next_line(text, len, &off, &line);
	lineno++;
	if (n < 0 || !field(line, (size_t)n, "alg", &val, &vlen)) {
		bt_diag_set(diag, -1, "line 2: expected \"alg NAME\"");
		return BT_ECORRUPT;
	}
	if (vlen >= sizeof(algname))
		vlen = sizeof(algname) - 1;
	memcpy(algname, val, vlen);
	algname[vlen] = '\0';
	alg = bt_key_alg_from_name(algname);
	if (alg < 0) {
		bt_diag_set(
		    diag, -1, "line 2: unknown key algorithm \"%s\"", algname);
		return BT_EALG;
	}

	n = next_line(text, len, &off, &line);
	lineno++;
	if (n < 0 || !field(line, (size_t)n, "public", &val, &vlen)) {
		bt_diag_set(diag, -1, "line 3: expected \"public KEY\"");
		return BT_ECORRUPT;
	}
	publen = bt_b64url_decode(pub, sizeof(pub), val, vlen);
	if (publen < 0 || (size_t)publen != bt__crypto_pub_len(alg)) {
		bt_diag_set(diag, -1,
		    "line 3: the public key is not %zu bytes "
		    "of base64url",
		    bt__crypto_pub_len(alg));
		return BT_ECORRUPT;
	}

	n = next_line(text, len, &off, &line);
	lineno++;
	if (n >= 0) {
		if (!field(line, (size_t)n, "private", &val, &vlen)
		    || bt_b64url_decode(seed, sizeof(seed), val, vlen)
		        != (ssize_t)sizeof(seed)) {
			bt_diag_set(diag, -1,
			    "line 4: expected \"private "
			    "KEY\" with %d bytes of base64url",
			    BT_KEY_SEED_LEN);
			rc = BT_ECORRUPT;
			goto out;
		}
		have_seed = true;
		n = next_line(text, len, &off, &line);
		lineno++;
	}
	if (n != -1) {
		bt_diag_set(diag, (int64_t)off, "line %d: %s", lineno,
		    n == -2 ? "the file does not end with a newline"
		            : "unexpected text after the key");
		rc = BT_ECORRUPT;
		goto out;
	}

	if (have_seed && !public_only) {
		rc = bt_key_from_seed(&k, alg, seed);
		if (rc != 0)
			goto out;
		if (k->publen != (size_t)publen
		    || memcmp(k->pub, pub, k->publen) != 0) {
			bt_diag_set(diag, -1,
			    "the public key does not belong "
			    "to the private key");
			rc = BT_ECORRUPT;
			goto out;
		}
	} else {
		rc = bt_key_from_public(&k, alg, pub, (size_t)publen);
		if (rc == -EINVAL) {
			bt_diag_set(diag, -1,
			    "line 3: the public key is not a "
			    "valid %s point",
			    algname);
			rc = BT_ECORRUPT;
		}
		if (rc != 0)
			goto out;
	}
	*had_private = have_seed;
	*out = k;
	k = NULL;
	rc = 0;
out:
	OPENSSL_cleanse(seed, sizeof(seed));
	bt_key_free(k);
	return rc;
}

/* What load is for: the checks on the file differ (see bt/crypto.h). */
enum load_use {
	LOAD_KEY, /* bt_key_load: private or public */
	LOAD_PUBLIC, /* bt_key_load_public: no file checks */
	LOAD_TRUSTED_PUBLIC, /* bt_key_load_public_trusted */
};

/*
 * owned_by_other says whether the file st describes belongs to someone
 * other than us and root, who could then replace what it holds (ssh's
 * rule for keys and authorized_keys).
 */
static bool
owned_by_other(const struct stat *st)
{
	return st->st_uid != geteuid() && st->st_uid != 0;
}

static int
load(bt_key **out, const char *path, enum load_use use, struct bt_diag *diag)
{
	char        buf[KEY_FILE_MAX];
	struct stat st;
	bt_key     *k = NULL;
	bool        had_private = false;
	bool        public_only = use != LOAD_KEY;
	int         fd, rc;

	// O_NONBLOCK so that a FIFO given by mistake is refused below
	// instead of blocking the open; it changes nothing for a file.
	fd = bt_os_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
	if (fd < 0) {
		bt_diag_set(
		    diag, -1, "cannot open '%s': %s", path, bt_strerror(fd));
		return fd;
	}
	rc = bt_os_fstat(fd, &st);
	if (rc != 0) {
		bt_diag_set(
		    diag, -1, "cannot stat '%s': %s", path, bt_strerror(rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		bt_diag_set(diag, -1, "'%s' is not a regular file", path);
		rc = -EINVAL;
		goto out;
	}
	if (st.st_size > KEY_FILE_MAX) {
		bt_diag_set(diag, -1,
		    "'%s' is %lld bytes, too large for a key "
		    "file (at most %d)",
		    path, (long long)st.st_size, KEY_FILE_MAX);
		rc = BT_ELIMIT;
		goto out;
	}
	rc = bt_os_pread_full(fd, buf, (size_t)st.st_size, 0);
	if (rc != 0) {
		bt_diag_set(
		    diag, -1, "cannot read '%s': %s", path, bt_strerror(rc));
		goto out;
	}
	rc = bt__crypto_key_parse(
	    &k, buf, (size_t)st.st_size, public_only, &had_private, diag);
	if (rc != 0)
		goto out;
	// The checks below run on the descriptor we read, so the file cannot
	// be swapped in between.
	if (use == LOAD_KEY && had_private) {
		// As ssh does: a private key others can read is no longer
		// private, and using it silently would hide that; one that
		// another user owns may be theirs to read or replace.
		if (owned_by_other(&st)) {
			bt_diag_set(diag, -1,
			    "'%s' is owned by uid %lu, not by you (uid %lu) "
			    "or root: a private key file must be yours "
			    "(chown it, or copy it with mode 600)",
			    path, (unsigned long)st.st_uid,
			    (unsigned long)geteuid());
			rc = BT_EPERM;
			goto out;
		}
		if ((st.st_mode & 077) != 0) {
			bt_diag_set(diag, -1,
			    "permissions %04o for '%s' are too open: a "
			    "private key file must not be accessible by "
			    "others (chmod 600)",
			    (unsigned)(st.st_mode & 07777), path);
			rc = BT_EPERM;
			goto out;
		}
	}
	if (use == LOAD_TRUSTED_PUBLIC) {
		// Whoever can rewrite the file chooses the key we are about
		// to trust (issue a credential to, or accept as holder).
		if (owned_by_other(&st)) {
			bt_diag_set(diag, -1,
			    "'%s' is owned by uid %lu, not by you (uid %lu) "
			    "or root, who could replace the key in it; a key "
			    "file to trust must be yours",
			    path, (unsigned long)st.st_uid,
			    (unsigned long)geteuid());
			rc = BT_EPERM;
			goto out;
		}
		if ((st.st_mode & 022) != 0) {
			bt_diag_set(diag, -1,
			    "permissions %04o for '%s' are too open: a key "
			    "file to trust must not be writable by group or "
			    "others, who could replace the key in it "
			    "(chmod go-w)",
			    (unsigned)(st.st_mode & 07777), path);
			rc = BT_EPERM;
			goto out;
		}
	}
	*out = k;
	k = NULL;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	bt_key_free(k);
	bt_os_close(fd);
	return rc;
}

int
bt_key_load(bt_key **out, const char *path, struct bt_diag *diag)
{
	return load(out, path, LOAD_KEY, diag);
}

int
bt_key_load_public(bt_key **out, const char *path, struct bt_diag *diag)
{
	return load(out, path, LOAD_PUBLIC, diag);
}

int
bt_key_load_public_trusted(
    bt_key **out, const char *path, struct bt_diag *diag)
{
	return load(out, path, LOAD_TRUSTED_PUBLIC, diag);
}
