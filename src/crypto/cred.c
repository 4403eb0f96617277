/*
 * crypto/cred.c: credentials (writecaps): issue, encode, decode, verify.
 *
 * A credential is one signed link with its issuer's credential nested
 * inside it, so a chain is a singly linked list from the leaf (the
 * principal that acts) to the link issued by the root of the path. The
 * encoding is the serde schema below (docs/crypto.md, "Credentials"):
 *
 *	to           RAW 32     principal the link is issued to
 *	path         STR        a valid path (bt_path_check)
 *	not_before   I64        seconds since the epoch
 *	expires      I64        seconds since the epoch, exclusive
 *	issuer_alg   U32        alg tag of issuer_key
 *	issuer_key   BYTES      raw public key of the issuer
 *	sig_alg      U32        alg tag of sig
 *	sig          BYTES      signature by issuer_key (see below)
 *	parent       OPT_STRUCT the issuer's credential; absent for the root
 *
 * The signature covers SIG_CONTEXT followed by the encoding of the first
 * six fields (body_schema). The context string keeps a credential
 * signature from ever being valid as any other signature made with the
 * same key, and the version in it lets the body change later.
 *
 * Invariants of a bt_cred in memory (decode and issue establish them):
 *  1. The chain has 1..BT_CRED_CHAIN_MAX links; chain_len of each link is
 *     the number of links from it to the top, inclusive.
 *  2. Every path is valid; a known alg's key and signature have its exact
 *     lengths; unknown algs are kept as opaque bytes for show and verify.
 *  3. issuer is the principal of (issuer_alg, issuer_key).
 *  4. Encoding gives back exactly the bytes decoded (serde is canonical).
 * Nothing about signatures, time or path nesting is assumed: only
 * bt_cred_verify decides validity.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "bt/os.h"
#include "bt/serde.h"
#include "crypto_int.h"

#define SIG_CONTEXT      "blocktree credential v1"
#define SIG_CONTEXT_LEN  (sizeof(SIG_CONTEXT)) /* with its NUL */
#define CRED_TEXT_HEADER "bt-cred 1"
#define BODY_MAX         (BT_PATH_MAX + 256)
/* Opaque keys and signatures of unknown algs are kept up to this size. */
#define OPAQUE_MAX 1024

struct bt_cred {
	/* Encoded, in this order (cred_fields). */
	uint8_t               to[32];
	char                 *path;
	int64_t               not_before;
	int64_t               expires;
	uint32_t              issuer_alg;
	struct bt_serde_bytes issuer_key;
	uint32_t              sig_alg;
	struct bt_serde_bytes sig;
	struct bt_cred       *parent;
	/* Derived after decode or issue (invariants 1 and 3). */
	struct bt_principal issuer;
	int                 chain_len;
};

extern const struct bt_serde_schema bt__cred_schema;

// clang-format off
#define CRED_BODY_FIELDS                                                      \
	BT_SERDE_RAW(struct bt_cred, to),                                     \
	BT_SERDE_STR(struct bt_cred, path),                                   \
	BT_SERDE_I64(struct bt_cred, not_before),                             \
	BT_SERDE_I64(struct bt_cred, expires),                                \
	BT_SERDE_U32(struct bt_cred, issuer_alg),                             \
	BT_SERDE_BYTES(struct bt_cred, issuer_key)
// clang-format on

static const struct bt_serde_field cred_fields[] = {
	CRED_BODY_FIELDS,
	BT_SERDE_U32(struct bt_cred, sig_alg),
	BT_SERDE_BYTES(struct bt_cred, sig),
	BT_SERDE_OPT_STRUCT(struct bt_cred, parent, &bt__cred_schema),
};

static const struct bt_serde_field body_fields[] = {
	CRED_BODY_FIELDS,
};

const struct bt_serde_schema bt__cred_schema
    = BT_SERDE_SCHEMA(struct bt_cred, cred_fields);
static const struct bt_serde_schema body_schema
    = BT_SERDE_SCHEMA(struct bt_cred, body_fields);

_Static_assert(sizeof(((struct bt_cred *)0)->to) == 32,
    "a principal is 32 bytes on the wire");
_Static_assert(BT_CRED_ENCODED_MAX < 1 << 20, "encoded bound");

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static size_t
uvarint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static size_t
svarint_len(int64_t v)
{
	return uvarint_len(((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* fmt_time writes t as an ISO 8601 UTC time, for diagnostics. */
static void
fmt_time(char *buf, size_t cap, int64_t t)
{
	struct tm tm;
	time_t    tt = (time_t)t;

	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL
	    || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "@%lld", (long long)t);
}

/* collect puts the links of c in links[0..n), leaf first; returns n. */
static int
collect(const bt_cred *c, const bt_cred **links, int max)
{
	int n = 0;

	for (; c != NULL; c = c->parent) {
		if (n == max)
			return max + 1;
		links[n++] = c;
	}
	return n;
}

/*
 * derive fills issuer and chain_len of every link (invariants 1 and 3)
 * and checks the link count.
 */
static int
derive(bt_cred *c)
{
	const bt_cred *links[BT_CRED_CHAIN_MAX];
	int            n;

	n = collect(c, links, BT_CRED_CHAIN_MAX);
	if (n > BT_CRED_CHAIN_MAX)
		return BT_ECHAINLEN;
	for (int i = n - 1; i >= 0; i--) {
		bt_cred *l = (bt_cred *)links[i];
		int      rc;

		l->chain_len = n - i;
		rc = bt_principal_of(&l->issuer, (int)l->issuer_alg,
		    l->issuer_key.ptr, l->issuer_key.len);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* sign_input appends the bytes a link's signature covers to b. */
static int
sign_input(const bt_cred *c, struct bt_dbuf *b)
{
	int rc;

	rc = bt_dbuf_append(b, SIG_CONTEXT, SIG_CONTEXT_LEN);
	if (rc == 0)
		rc = bt_serde_encode(b, &body_schema, c);
	return rc;
}

static void
cred_free(bt_cred *c)
{
	if (c == NULL)
		return;
	bt_serde_free(&bt__cred_schema, c);
	bt_free(c);
}

void
bt_cred_free(bt_cred *c)
{
	cred_free(c);
}

/* ------------------------------------------------------------------ */
/* Encode and decode                                                   */
/* ------------------------------------------------------------------ */

int
bt_cred_encode(const bt_cred *c, struct bt_dbuf *out)
{
	return bt_serde_encode(out, &bt__cred_schema, c);
}

/*
 * check_links validates what serde cannot (invariant 2), link by link,
 * with diag at the offset of the field at fault.
 */
static int
check_links(const bt_cred *c, struct bt_diag *diag)
{
	struct bt_diag pd;
	size_t         off = 0;
	int            i = 1;

	for (; c != NULL; c = c->parent, i++) {
		size_t plen = strlen(c->path);
		size_t poff = off + sizeof(c->to);
		size_t koff = poff + uvarint_len(plen) + plen
		    + svarint_len(c->not_before) + svarint_len(c->expires)
		    + uvarint_len(c->issuer_alg);
		size_t soff = koff + uvarint_len(c->issuer_key.len)
		    + c->issuer_key.len + uvarint_len(c->sig_alg);
		size_t want;

		bt_diag_clear(&pd);
		if (bt_path_check(c->path, &pd) != 0) {
			bt_diag_set(diag, (int64_t)poff, "link %d: path: %s",
			    i, pd.msg);
			return BT_ECORRUPT;
		}
		want = bt__crypto_pub_len((int)c->issuer_alg);
		if ((want != 0 && c->issuer_key.len != want)
		    || (want == 0 && c->issuer_key.len > OPAQUE_MAX)) {
			bt_diag_set(diag, (int64_t)koff,
			    "link %d: issuer key of %zu bytes is the wrong "
			    "length for algorithm %u",
			    i, c->issuer_key.len, c->issuer_alg);
			return BT_ECORRUPT;
		}
		want = bt_key_sig_len((int)c->sig_alg);
		if ((want != 0 && c->sig.len != want)
		    || (want == 0 && c->sig.len > OPAQUE_MAX)) {
			bt_diag_set(diag, (int64_t)soff,
			    "link %d: signature of %zu bytes is the wrong "
			    "length for algorithm %u",
			    i, c->sig.len, c->sig_alg);
			return BT_ECORRUPT;
		}
		// The parent starts after the signature and presence byte.
		off = soff + uvarint_len(c->sig.len) + c->sig.len + 1;
	}
	return 0;
}

int
bt_cred_decode(
    bt_cred **out, const void *ptr, size_t len, struct bt_diag *diag)
{
	// No length limit inside: the input bound caps every length, and
	// leaving max_len unbounded means serde's BT_ELIMIT can only be the
	// depth, which is the chain length here (one level per link).
	const struct bt_serde_limits lim = {
		.max_len = SIZE_MAX,
		.max_count = 0,
		.max_depth = BT_CRED_CHAIN_MAX,
	};
	bt_cred *c;
	int      rc;

	if (len > BT_CRED_ENCODED_MAX) {
		bt_diag_set(diag, BT_CRED_ENCODED_MAX,
		    "credential of %zu bytes is over the limit of %d", len,
		    BT_CRED_ENCODED_MAX);
		return BT_ELIMIT;
	}
	c = bt_zalloc(sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	rc = bt_serde_decode(&bt__cred_schema, c, ptr, len, &lim, diag);
	if (rc == BT_ELIMIT) {
		bt_diag_set(diag, diag != NULL ? diag->off : -1,
		    "credential chain is longer than %d links",
		    BT_CRED_CHAIN_MAX);
		rc = BT_ECHAINLEN;
	}
	if (rc != 0) {
		bt_free(c);
		return rc;
	}
	rc = check_links(c, diag);
	if (rc == 0)
		rc = derive(c);
	if (rc == BT_ECHAINLEN) {
		bt_diag_set(diag, -1,
		    "credential chain is longer than %d "
		    "links",
		    BT_CRED_CHAIN_MAX);
	}
	if (rc != 0) {
		cred_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int
bt_cred_dup(bt_cred **out, const bt_cred *c)
{
	struct bt_dbuf b;
	int            rc;

	bt_dbuf_init(&b, BT_CRED_ENCODED_MAX);
	rc = bt_cred_encode(c, &b);
	if (rc == 0)
		rc = bt_cred_decode(out, b.ptr, b.len, NULL);
	bt_dbuf_fini(&b);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Text form and files                                                 */
/* ------------------------------------------------------------------ */

int
bt_cred_to_text(const bt_cred *c, struct bt_dbuf *out)
{
	struct bt_dbuf b;
	size_t         start = out->len;
	char          *text = NULL;
	int            rc;

	bt_dbuf_init(&b, BT_CRED_ENCODED_MAX);
	rc = bt_cred_encode(c, &b);
	if (rc != 0)
		goto out;
	text = bt_alloc(bt_b64url_len(b.len) + 1);
	if (text == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	bt_b64url_encode(text, b.ptr, b.len);
	rc = bt_dbuf_printf(out, "%s\n%s\n", CRED_TEXT_HEADER, text);
	if (rc != 0)
		out->len = start;
out:
	bt_free(text);
	bt_dbuf_fini(&b);
	return rc;
}

int
bt_cred_from_text(
    bt_cred **out, const void *ptr, size_t len, struct bt_diag *diag)
{
	const char *t = ptr;
	size_t      hlen = strlen(CRED_TEXT_HEADER), blen, cap;
	uint8_t    *bin;
	ssize_t     n;
	int         rc;

	if (len < hlen + 1 || memcmp(t, CRED_TEXT_HEADER, hlen) != 0
	    || t[hlen] != '\n') {
		bt_diag_set(diag, -1,
		    "line 1: not a Blocktree credential (expected "
		    "the line \"%s\")",
		    CRED_TEXT_HEADER);
		return BT_ECORRUPT;
	}
	t += hlen + 1;
	len -= hlen + 1;
	if (len == 0 || t[len - 1] != '\n') {
		bt_diag_set(diag, -1,
		    "line 2: credential text must end with a newline");
		return BT_ECORRUPT;
	}
	blen = len - 1;
	if (memchr(t, '\n', blen) != NULL) {
		bt_diag_set(diag, -1,
		    "line 3: credential text has more than one line after "
		    "the header");
		return BT_ECORRUPT;
	}
	cap = blen / 4 * 3 + 3;
	if (cap > BT_CRED_ENCODED_MAX + 3) {
		bt_diag_set(diag, -1,
		    "line 2: credential text is over the limit of %d bytes",
		    BT_CRED_ENCODED_MAX);
		return BT_ELIMIT;
	}
	bin = bt_alloc(cap);
	if (bin == NULL)
		return -ENOMEM;
	n = bt_b64url_decode(bin, cap, t, blen);
	if (n < 0) {
		bt_diag_set(diag, -1,
		    "line 2: credential text is not valid base64url");
		rc = BT_ECORRUPT;
	} else {
		rc = bt_cred_decode(out, bin, (size_t)n, diag);
	}
	bt_free(bin);
	return rc;
}

int
bt_cred_save(const bt_cred *c, const char *path)
{
	struct bt_dbuf b;
	int            rc;

	bt_dbuf_init(&b, 2 * BT_CRED_ENCODED_MAX);
	rc = bt_cred_to_text(c, &b);
	if (rc == 0)
		rc = bt_os_write_file_atomic(path, b.ptr, b.len, 0644);
	bt_dbuf_fini(&b);
	return rc;
}

int
bt_cred_load(bt_cred **out, const char *path, struct bt_diag *diag)
{
	uint8_t *data = NULL;
	size_t   len = 0;
	int      rc;

	rc = bt_os_read_file(path, 2 * BT_CRED_ENCODED_MAX, &data, &len);
	if (rc != 0) {
		bt_diag_set(
		    diag, -1, "cannot read '%s': %s", path, bt_strerror(rc));
		return rc;
	}
	rc = bt_cred_from_text(out, data, len, diag);
	bt_free(data);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Issue                                                               */
/* ------------------------------------------------------------------ */

int
bt_cred_issue(bt_cred **out, const bt_key *issuer, const bt_cred *issuer_cred,
    const struct bt_principal *to, const char *path, int64_t not_before_s,
    int64_t expires_s)
{
	struct bt_principal root, ip;
	uint8_t             sig[BT_KEY_SIG_MAX];
	size_t              siglen = 0;
	struct bt_buf       pub;
	struct bt_dbuf      b;
	bt_cred            *c;
	int                 rc;

	if (!bt_key_has_private(issuer) || expires_s <= not_before_s)
		return -EINVAL;
	if (bt_key_alg_name(bt_key_alg(issuer)) == NULL)
		return BT_EALG;
	if (bt_path_root(path, &root) != 0)
		return -EINVAL;
	bt_key_principal(issuer, &ip);
	if (issuer_cred == NULL) {
		if (!bt_principal_equal(&root, &ip))
			return BT_ENOTROOTED;
	} else {
		if (memcmp(ip.b, issuer_cred->to, sizeof(ip.b)) != 0)
			return BT_EPERM;
		if (!bt_path_within(path, issuer_cred->path))
			return BT_EPATH;
		if (issuer_cred->chain_len >= BT_CRED_CHAIN_MAX)
			return BT_ECHAINLEN;
	}

	c = bt_zalloc(sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	bt_dbuf_init(&b, BODY_MAX);
	memcpy(c->to, to->b, sizeof(c->to));
	c->not_before = not_before_s;
	c->expires = expires_s;
	c->issuer_alg = (uint32_t)bt_key_alg(issuer);
	c->sig_alg = c->issuer_alg;
	pub = bt_key_public_raw(issuer);
	c->path = bt_strdup(path);
	c->issuer_key.ptr = bt_memdup(pub.ptr, pub.len);
	if (c->path == NULL || c->issuer_key.ptr == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	c->issuer_key.len = pub.len;
	rc = sign_input(c, &b);
	if (rc == 0)
		rc = bt_key_sign(issuer, b.ptr, b.len, sig, &siglen);
	if (rc != 0)
		goto err;
	c->sig.ptr = bt_memdup(sig, siglen);
	if (c->sig.ptr == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	c->sig.len = siglen;
	if (issuer_cred != NULL) {
		rc = bt_cred_dup(&c->parent, issuer_cred);
		if (rc != 0)
			goto err;
	}
	rc = derive(c);
	if (rc != 0)
		goto err;
	bt_dbuf_fini(&b);
	*out = c;
	return 0;
err:
	bt_dbuf_fini(&b);
	cred_free(c);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Verify                                                              */
/* ------------------------------------------------------------------ */

/* verify_sig checks link number i's signature with its issuer key. */
static int
verify_sig(const bt_cred *l, int i, struct bt_dbuf *b, struct bt_diag *diag)
{
	int rc;

	if (bt_key_alg_name((int)l->issuer_alg) == NULL
	    || bt_key_alg_name((int)l->sig_alg) == NULL) {
		bt_diag_set(diag, -1, "link %d: unknown algorithm %u", i,
		    bt_key_alg_name((int)l->issuer_alg) == NULL ? l->issuer_alg
		                                                : l->sig_alg);
		return BT_EALG;
	}
	if (l->sig_alg != l->issuer_alg) {
		bt_diag_set(diag, -1,
		    "link %d: the signature's algorithm is "
		    "not the issuer key's",
		    i);
		return BT_EBADSIG;
	}
	bt_dbuf_reset(b);
	rc = sign_input(l, b);
	if (rc != 0)
		return rc;
	rc = bt__crypto_verify_raw((int)l->issuer_alg, l->issuer_key.ptr,
	    l->issuer_key.len, b->ptr, b->len, l->sig.ptr, l->sig.len);
	if (rc == BT_EBADSIG) {
		bt_diag_set(diag, -1,
		    "link %d (for %s): the signature does "
		    "not verify",
		    i, l->path);
	}
	return rc;
}

int
bt_cred_verify(
    const bt_cred *c, const char *path, int64_t now_s, struct bt_diag *diag)
{
	const bt_cred *links[BT_CRED_CHAIN_MAX];
	char s1[BT_PRINCIPAL_STR_LEN + 1], s2[BT_PRINCIPAL_STR_LEN + 1];
	char t[40];
	struct bt_principal root;
	struct bt_dbuf      b;
	int                 n, rc = 0;

	// Before the chain: there is nothing to authorize, and the
	// messages below print path.
	if (path == NULL) {
		bt_diag_set(diag, -1, "no path to check (NULL)");
		return BT_EPATH;
	}
	n = collect(c, links, BT_CRED_CHAIN_MAX);
	if (n > BT_CRED_CHAIN_MAX) {
		bt_diag_set(diag, -1,
		    "credential chain is longer than %d "
		    "links",
		    BT_CRED_CHAIN_MAX);
		return BT_ECHAINLEN;
	}
	bt_dbuf_init(&b, BODY_MAX);
	// From the root-issued link down: each link is checked only once its
	// issuer's credential is known good, so the first failure reported
	// is the one nearest the root.
	for (int i = n - 1; i >= 0; i--) {
		const bt_cred *l = links[i];
		int            num = i + 1;

		rc = verify_sig(l, num, &b, diag);
		if (rc != 0)
			goto out;
		if (i == n - 1) {
			// Paths in a valid link parse (invariant 2).
			if (bt_path_root(l->path, &root) != 0
			    || !bt_principal_equal(&root, &l->issuer)) {
				bt_principal_to_str(&l->issuer, s1);
				bt_diag_set(diag, -1,
				    "link %d: issued by %s, which is not the "
				    "root of %s",
				    num, s1, l->path);
				rc = BT_ENOTROOTED;
				goto out;
			}
		} else {
			const bt_cred *up = links[i + 1];

			if (memcmp(l->issuer.b, up->to, sizeof(up->to)) != 0) {
				bt_principal_to_str(&l->issuer, s1);
				bt_b64url_encode(s2, up->to, sizeof(up->to));
				bt_diag_set(diag, -1,
				    "link %d: signed by %s, but link %d is "
				    "issued to %s",
				    num, s1, num + 1, s2);
				rc = BT_EBADSIG;
				goto out;
			}
			if (!bt_path_within(l->path, up->path)) {
				bt_diag_set(diag, -1,
				    "link %d: path %s is not within its "
				    "issuer's path %s",
				    num, l->path, up->path);
				rc = BT_EPATH;
				goto out;
			}
		}
		if (now_s < l->not_before) {
			fmt_time(t, sizeof(t), l->not_before);
			bt_diag_set(diag, -1,
			    "link %d (for %s): not valid "
			    "until %s",
			    num, l->path, t);
			rc = BT_ENOTYET;
			goto out;
		}
		if (now_s >= l->expires) {
			fmt_time(t, sizeof(t), l->expires);
			bt_diag_set(diag, -1,
			    "link %d (for %s): expired at %s", num, l->path,
			    t);
			rc = BT_EEXPIRED;
			goto out;
		}
	}
	if (!bt_path_within(path, c->path)) {
		bt_diag_set(diag, -1,
		    "%s is not within the credential's path "
		    "%s",
		    path, c->path);
		rc = BT_EPATH;
	}
out:
	bt_dbuf_fini(&b);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */
/* ------------------------------------------------------------------ */

void
bt_cred_principal(const bt_cred *c, struct bt_principal *out)
{
	memcpy(out->b, c->to, sizeof(out->b));
}

const char *
bt_cred_path(const bt_cred *c)
{
	return c->path;
}

int64_t
bt_cred_not_before(const bt_cred *c)
{
	return c->not_before;
}

int64_t
bt_cred_expires(const bt_cred *c)
{
	return c->expires;
}

void
bt_cred_issuer(const bt_cred *c, struct bt_principal *out)
{
	*out = c->issuer;
}

int
bt_cred_issuer_alg(const bt_cred *c)
{
	return (int)c->issuer_alg;
}

void
bt_cred_root(const bt_cred *c, struct bt_principal *out)
{
	while (c->parent != NULL)
		c = c->parent;
	*out = c->issuer;
}

int
bt_cred_chain_len(const bt_cred *c)
{
	return c->chain_len;
}

int64_t
bt_cred_chain_expires(const bt_cred *c)
{
	int64_t t = c->expires;

	for (c = c->parent; c != NULL; c = c->parent) {
		if (c->expires < t)
			t = c->expires;
	}
	return t;
}

const bt_cred *
bt_cred_parent(const bt_cred *c)
{
	return c->parent;
}
