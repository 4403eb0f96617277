/*
 * crypto/cred_test.c: credentials. Chains built with bt_cred_issue and,
 * for the failures issue refuses to make, built by hand from the format in
 * docs/crypto.md (which also pins the encoding: a hand-built link must equal
 * the issued one byte for byte, as Ed25519 signatures are deterministic).
 * Each verification failure kind, tampering, malformed encodings, text
 * files and allocation torture.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bt/crypto.h"
#include "bt/serde.h"
#include "testvec.h"

#define NOW     ((int64_t)1800000000)
#define HOUR    ((int64_t)3600)
#define CONTEXT "blocktree credential v1"

struct fx {
	bt_key             *root, *node, *user, *other;
	struct bt_principal proot, pnode, puser, pother;
	char                rootstr[BT_PRINCIPAL_STR_LEN + 1];
	char                otherstr[BT_PRINCIPAL_STR_LEN + 1];
	char  p_node[128], p_user[128], p_side[128], p_other[128];
	char *dir;
};

static bt_key *
seeded(uint8_t b)
{
	uint8_t seed[32];
	bt_key *k;

	memset(seed, b, sizeof(seed));
	assert_int_equal(bt_key_from_seed(&k, BT_KEY_ED25519, seed), 0);
	return k;
}

static int
setup(void **state)
{
	struct fx *f = bt_zalloc(sizeof(*f));

	f->root = seeded(1);
	f->node = seeded(2);
	f->user = seeded(3);
	f->other = seeded(4);
	bt_key_principal(f->root, &f->proot);
	bt_key_principal(f->node, &f->pnode);
	bt_key_principal(f->user, &f->puser);
	bt_key_principal(f->other, &f->pother);
	bt_principal_to_str(&f->proot, f->rootstr);
	bt_principal_to_str(&f->pother, f->otherstr);
	snprintf(f->p_node, sizeof(f->p_node), "/%s/node", f->rootstr);
	snprintf(f->p_user, sizeof(f->p_user), "/%s/node/user", f->rootstr);
	snprintf(f->p_side, sizeof(f->p_side), "/%s/side", f->rootstr);
	snprintf(f->p_other, sizeof(f->p_other), "/%s/node", f->otherstr);
	f->dir = bt_test_tmpdir();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	bt_key_free(f->root);
	bt_key_free(f->node);
	bt_key_free(f->user);
	bt_key_free(f->other);
	bt_test_tmpdir_remove(f->dir);
	bt_free(f);
	return 0;
}

/* issue2 makes root -> node (p_node) -> user (p_user). */
static bt_cred *
issue2(struct fx *f, bt_cred **node_out)
{
	bt_cred *n, *u;

	assert_int_equal(bt_cred_issue(&n, f->root, NULL, &f->pnode, f->p_node,
	                     NOW - HOUR, NOW + HOUR),
	    0);
	assert_int_equal(bt_cred_issue(&u, f->node, n, &f->puser, f->p_user,
	                     NOW - HOUR, NOW + HOUR),
	    0);
	if (node_out != NULL)
		*node_out = n;
	else
		bt_cred_free(n);
	return u;
}

/*
 * Hand-built links (docs/crypto.md, "Credentials"). signer signs unless
 * NULL, in which case sig is 64 bytes of 0x55.
 */
struct link {
	const struct bt_principal *to;
	const char                *path;
	int64_t                    nb, exp;
	uint32_t                   key_alg;
	struct bt_buf              key;
	uint32_t                   sig_alg;
	const bt_key              *signer;
	const struct bt_dbuf      *parent;
};

static void
put_link(struct bt_dbuf *out, const struct link *l)
{
	struct bt_dbuf body, msg;
	uint8_t        sig[BT_KEY_SIG_MAX];
	size_t         siglen = 64;

	bt_dbuf_init(&body, 1 << 20);
	bt_dbuf_init(&msg, 1 << 20);
	assert_int_equal(bt_serde_put_raw(&body, l->to->b, 32), 0);
	assert_int_equal(bt_serde_put_str(&body, l->path), 0);
	assert_int_equal(bt_serde_put_svarint(&body, l->nb), 0);
	assert_int_equal(bt_serde_put_svarint(&body, l->exp), 0);
	assert_int_equal(bt_serde_put_uvarint(&body, l->key_alg), 0);
	assert_int_equal(bt_serde_put_bytes(&body, l->key.ptr, l->key.len), 0);
	if (l->signer != NULL) {
		assert_int_equal(
		    bt_dbuf_append(&msg, CONTEXT, sizeof(CONTEXT)), 0);
		assert_int_equal(bt_dbuf_append(&msg, body.ptr, body.len), 0);
		assert_int_equal(
		    bt_key_sign(l->signer, msg.ptr, msg.len, sig, &siglen), 0);
	} else {
		memset(sig, 0x55, sizeof(sig));
	}
	assert_int_equal(bt_dbuf_append(out, body.ptr, body.len), 0);
	assert_int_equal(bt_serde_put_uvarint(out, l->sig_alg), 0);
	assert_int_equal(bt_serde_put_bytes(out, sig, siglen), 0);
	assert_int_equal(bt_serde_put_opt(out, l->parent != NULL), 0);
	if (l->parent != NULL) {
		assert_int_equal(
		    bt_dbuf_append(out, l->parent->ptr, l->parent->len), 0);
	}
	bt_dbuf_fini(&body);
	bt_dbuf_fini(&msg);
}

/* a_link fills a well-formed link signed by signer. */
static struct link
a_link(const bt_key *signer, const struct bt_principal *to, const char *path,
    const struct bt_dbuf *parent)
{
	return (struct link) {
		.to = to,
		.path = path,
		.nb = NOW - HOUR,
		.exp = NOW + HOUR,
		.key_alg = BT_KEY_ED25519,
		.key = bt_key_public_raw(signer),
		.sig_alg = BT_KEY_ED25519,
		.signer = signer,
		.parent = parent,
	};
}

static int
decode_and_verify(const struct bt_dbuf *b, const char *path, struct bt_diag *d)
{
	bt_cred *c;
	int      rc;

	bt_diag_clear(d);
	rc = bt_cred_decode(&c, b->ptr, b->len, d);
	if (rc != 0)
		return rc;
	rc = bt_cred_verify(c, path, NOW, d);
	bt_cred_free(c);
	return rc;
}

/* ---------------------------------------------------------------- */

static void
test_cred_root_issued_verifies_within_its_path_only(void **state)
{
	struct fx          *f = *state;
	struct bt_principal p;
	struct bt_diag      d;
	char                sub[160];
	bt_cred            *c;

	assert_int_equal(bt_cred_issue(&c, f->root, NULL, &f->pnode, f->p_node,
	                     NOW - HOUR, NOW + HOUR),
	    0);
	assert_int_equal(bt_cred_chain_len(c), 1);
	assert_null(bt_cred_parent(c));
	assert_string_equal(bt_cred_path(c), f->p_node);
	assert_int_equal(bt_cred_expires(c), NOW + HOUR);
	assert_int_equal(bt_cred_not_before(c), NOW - HOUR);
	bt_cred_principal(c, &p);
	assert_true(bt_principal_equal(&p, &f->pnode));
	bt_cred_issuer(c, &p);
	assert_true(bt_principal_equal(&p, &f->proot));
	bt_cred_root(c, &p);
	assert_true(bt_principal_equal(&p, &f->proot));
	assert_int_equal(bt_cred_issuer_alg(c), BT_KEY_ED25519);

	assert_int_equal(bt_cred_verify(c, f->p_node, NOW, &d), 0);
	snprintf(sub, sizeof(sub), "%s/x/y", f->p_node);
	assert_int_equal(bt_cred_verify(c, sub, NOW, &d), 0);
	assert_int_equal(bt_cred_verify(c, f->p_side, NOW, &d), BT_EPATH);
	snprintf(sub, sizeof(sub), "/%s", f->rootstr);
	assert_int_equal(bt_cred_verify(c, sub, NOW, &d), BT_EPATH);
	assert_int_equal(bt_cred_verify(c, "not a path", NOW, &d), BT_EPATH);
	bt_cred_free(c);
	bt_cred_free(NULL);
}

static void
test_cred_delegation_verifies_and_only_narrows(void **state)
{
	struct fx          *f = *state;
	struct bt_principal p;
	struct bt_diag      d;
	bt_cred            *n, *u, *x = NULL;

	u = issue2(f, &n);
	assert_int_equal(bt_cred_chain_len(u), 2);
	assert_non_null(bt_cred_parent(u));
	bt_cred_root(u, &p);
	assert_true(bt_principal_equal(&p, &f->proot));
	bt_cred_issuer(u, &p);
	assert_true(bt_principal_equal(&p, &f->pnode));
	assert_int_equal(bt_cred_verify(u, f->p_user, NOW, &d), 0);
	assert_int_equal(bt_cred_verify(u, f->p_node, NOW, &d), BT_EPATH);

	// Widening, or a sibling path, is refused at issue.
	assert_int_equal(
	    bt_cred_issue(&x, f->node, n, &f->puser, f->p_side, NOW, NOW + 1),
	    BT_EPATH);
	// The node key cannot act as root, nor use someone else's cred.
	assert_int_equal(bt_cred_issue(&x, f->node, NULL, &f->puser, f->p_user,
	                     NOW, NOW + 1),
	    BT_ENOTROOTED);
	assert_int_equal(
	    bt_cred_issue(&x, f->user, n, &f->puser, f->p_user, NOW, NOW + 1),
	    BT_EPERM);
	assert_int_equal(
	    bt_cred_issue(&x, f->node, n, &f->puser, "/bad", NOW, NOW + 1),
	    -EINVAL);
	assert_int_equal(
	    bt_cred_issue(&x, f->node, n, &f->puser, f->p_user, NOW, NOW),
	    -EINVAL);
	assert_null(x);
	bt_cred_free(u);
	bt_cred_free(n);
}

static void
test_cred_issue_refuses_public_only_key(void **state)
{
	struct fx    *f = *state;
	struct bt_buf raw = bt_key_public_raw(f->root);
	bt_key       *pub;
	bt_cred      *c = NULL;

	assert_int_equal(
	    bt_key_from_public(&pub, BT_KEY_ED25519, raw.ptr, raw.len), 0);
	assert_int_equal(
	    bt_cred_issue(&c, pub, NULL, &f->pnode, f->p_node, NOW, NOW + 1),
	    -EINVAL);
	assert_null(c);
	bt_key_free(pub);
}

static void
test_cred_expired_and_not_yet_valid(void **state)
{
	struct fx     *f = *state;
	struct bt_diag d;
	bt_cred       *n, *u;

	assert_int_equal(bt_cred_issue(&n, f->root, NULL, &f->pnode, f->p_node,
	                     NOW - 2 * HOUR, NOW - HOUR),
	    0);
	assert_int_equal(bt_cred_verify(n, f->p_node, NOW, &d), BT_EEXPIRED);
	assert_non_null(strstr(d.msg, "link 1"));
	// Valid again in the past; expiry is exclusive.
	assert_int_equal(bt_cred_verify(n, f->p_node, NOW - HOUR - 1, &d), 0);
	assert_int_equal(
	    bt_cred_verify(n, f->p_node, NOW - HOUR, &d), BT_EEXPIRED);
	assert_int_equal(
	    bt_cred_verify(n, f->p_node, NOW - 2 * HOUR - 1, &d), BT_ENOTYET);

	// A valid leaf under an expired parent is expired too; diag names
	// the parent's link.
	assert_int_equal(bt_cred_issue(&u, f->node, n, &f->puser, f->p_user,
	                     NOW - HOUR, NOW + HOUR),
	    0);
	bt_diag_clear(&d);
	assert_int_equal(bt_cred_verify(u, f->p_user, NOW, &d), BT_EEXPIRED);
	assert_non_null(strstr(d.msg, "link 2"));
	bt_cred_free(u);
	bt_cred_free(n);

	assert_int_equal(bt_cred_issue(&n, f->root, NULL, &f->pnode, f->p_node,
	                     NOW + HOUR, NOW + 2 * HOUR),
	    0);
	assert_int_equal(bt_cred_verify(n, f->p_node, NOW, &d), BT_ENOTYET);
	assert_int_equal(bt_cred_verify(n, f->p_node, NOW + HOUR, &d), 0);
	bt_cred_free(n);
}

static void
test_cred_any_flipped_byte_fails_decode_or_verify(void **state)
{
	struct fx     *f = *state;
	struct bt_dbuf b;
	struct bt_diag d;
	bt_cred       *u;
	size_t         flips = 0;

	u = issue2(f, NULL);
	bt_dbuf_init(&b, 1 << 20);
	assert_int_equal(bt_cred_encode(u, &b), 0);
	assert_int_equal(decode_and_verify(&b, f->p_user, &d), 0);
	// Every single-bit change anywhere in the chain must be caught.
	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			int rc;

			b.ptr[i] ^= (uint8_t)(1 << bit);
			rc = decode_and_verify(&b, f->p_user, &d);
			b.ptr[i] ^= (uint8_t)(1 << bit);
			if (rc == 0)
				fail_msg(
				    "flip at %zu bit %d verified", i, bit);
			flips++;
		}
	}
	assert_true(flips > 300);
	bt_dbuf_fini(&b);
	bt_cred_free(u);
}

static void
test_cred_tampered_signature_or_path_is_ebadsig(void **state)
{
	struct fx     *f = *state;
	struct bt_dbuf b;
	struct bt_diag d;
	struct link    l;
	char           path[160];

	// A link whose signature is someone else's bytes.
	bt_dbuf_init(&b, 1 << 20);
	l = a_link(f->root, &f->pnode, f->p_node, NULL);
	l.signer = NULL;
	put_link(&b, &l);
	assert_int_equal(decode_and_verify(&b, f->p_node, &d), BT_EBADSIG);
	assert_non_null(strstr(d.msg, "link 1"));

	// A path changed after signing (still a valid path).
	bt_dbuf_reset(&b);
	l = a_link(f->root, &f->pnode, f->p_node, NULL);
	put_link(&b, &l);
	snprintf(path, sizeof(path), "/%s/nodf", f->rootstr);
	for (size_t i = 0; i + 4 <= b.len; i++) {
		if (memcmp(b.ptr + i, "node", 4) == 0) {
			b.ptr[i + 3] = 'f';
			break;
		}
	}
	assert_int_equal(decode_and_verify(&b, path, &d), BT_EBADSIG);
	bt_dbuf_fini(&b);
}

static void
test_cred_link_signed_by_wrong_key_is_ebadsig(void **state)
{
	struct fx     *f = *state;
	struct bt_dbuf top, leaf;
	struct bt_diag d;
	struct link    l;

	// root -> node for p_node, but the next link is signed by "other"
	// (validly, with other's key in it): the chain is broken.
	bt_dbuf_init(&top, 1 << 20);
	bt_dbuf_init(&leaf, 1 << 20);
	l = a_link(f->root, &f->pnode, f->p_node, NULL);
	put_link(&top, &l);
	l = a_link(f->other, &f->puser, f->p_user, &top);
	put_link(&leaf, &l);
	assert_int_equal(decode_and_verify(&leaf, f->p_user, &d), BT_EBADSIG);
	assert_non_null(strstr(d.msg, "link 1"));
	assert_non_null(strstr(d.msg, "link 2"));
	bt_dbuf_fini(&top);
	bt_dbuf_fini(&leaf);
}

static void
test_cred_not_rooted_at_path_root_is_enotrooted(void **state)
{
	struct fx     *f = *state;
	struct bt_dbuf b;
	struct bt_diag d;
	struct link    l;

	// "other" signs a link for a path in root's domain.
	bt_dbuf_init(&b, 1 << 20);
	l = a_link(f->other, &f->pnode, f->p_node, NULL);
	put_link(&b, &l);
	assert_int_equal(decode_and_verify(&b, f->p_node, &d), BT_ENOTROOTED);
	assert_non_null(strstr(d.msg, "link 1"));
	bt_dbuf_fini(&b);
}

static void
test_cred_link_outside_parent_path_is_epath(void **state)
{
	struct fx     *f = *state;
	struct bt_dbuf top, leaf;
	struct bt_diag d;
	struct link    l;

	bt_dbuf_init(&top, 1 << 20);
	bt_dbuf_init(&leaf, 1 << 20);
	l = a_link(f->root, &f->pnode, f->p_node, NULL);
	put_link(&top, &l);
	l = a_link(f->node, &f->puser, f->p_side, &top);
	put_link(&leaf, &l);
	assert_int_equal(decode_and_verify(&leaf, f->p_side, &d), BT_EPATH);
	assert_non_null(strstr(d.msg, "link 1"));
	bt_dbuf_fini(&top);
	bt_dbuf_fini(&leaf);
}

static void
test_cred_unknown_algorithm_decodes_and_fails_with_ealg(void **state)
{
	struct fx           *f = *state;
	static const uint8_t key65[65] = { 4 };
	struct bt_dbuf       b;
	struct bt_diag       d;
	struct link          l;
	bt_cred             *c;

	bt_dbuf_init(&b, 1 << 20);
	l = a_link(f->root, &f->pnode, f->p_node, NULL);
	l.key_alg = l.sig_alg = 2; // a P-256 key, say
	l.key = (struct bt_buf) { key65, sizeof(key65) };
	l.signer = NULL;
	put_link(&b, &l);
	bt_diag_clear(&d);
	assert_int_equal(bt_cred_decode(&c, b.ptr, b.len, &d), 0);
	assert_int_equal(bt_cred_issuer_alg(c), 2);
	assert_int_equal(bt_cred_verify(c, f->p_node, NOW, &d), BT_EALG);
	assert_non_null(strstr(d.msg, "link 1"));
	bt_cred_free(c);
	// A known key with an unknown signature algorithm, too.
	bt_dbuf_reset(&b);
	l = a_link(f->root, &f->pnode, f->p_node, NULL);
	l.sig_alg = 9;
	put_link(&b, &l);
	assert_int_equal(decode_and_verify(&b, f->p_node, &d), BT_EALG);
	bt_dbuf_fini(&b);
}

static void
test_cred_chain_length_is_bounded(void **state)
{
	struct fx          *f = *state;
	bt_key             *keys[BT_CRED_CHAIN_MAX + 2];
	struct bt_principal p[BT_CRED_CHAIN_MAX + 2];
	char                path[BT_CRED_CHAIN_MAX + 2][512], prev[512];
	bt_cred            *c[BT_CRED_CHAIN_MAX + 1] = { 0 }, *x = NULL;
	struct bt_dbuf      enc[BT_CRED_CHAIN_MAX + 2];
	struct bt_diag      d;
	int                 n = BT_CRED_CHAIN_MAX + 2;

	// keys[0] is the root; link i is issued by keys[i] to keys[i + 1].
	for (int i = 0; i < n; i++) {
		keys[i] = seeded((uint8_t)(0x30 + i));
		bt_key_principal(keys[i], &p[i]);
		if (i == 0)
			snprintf(path[i], sizeof(path[i]), "/%s", f->rootstr);
		else {
			/* From a copy: GCC at -O0 takes path[i - 1] to overlap. */
			memcpy(prev, path[i - 1], sizeof(prev));
			snprintf(path[i], sizeof(path[i]), "%.490s/l%d", prev,
			    i);
		}
	}
	bt_key_free(keys[0]);
	keys[0] = f->root;
	for (int i = 0; i < BT_CRED_CHAIN_MAX; i++) {
		assert_int_equal(
		    bt_cred_issue(&c[i], keys[i], i ? c[i - 1] : NULL,
		        &p[i + 1], path[i + 1], NOW - 1, NOW + 1),
		    0);
		assert_int_equal(bt_cred_chain_len(c[i]), i + 1);
	}
	assert_int_equal(bt_cred_verify(c[BT_CRED_CHAIN_MAX - 1],
	                     path[BT_CRED_CHAIN_MAX], NOW, &d),
	    0);
	assert_int_equal(
	    bt_cred_issue(&x, keys[BT_CRED_CHAIN_MAX],
	        c[BT_CRED_CHAIN_MAX - 1], &p[BT_CRED_CHAIN_MAX + 1],
	        path[BT_CRED_CHAIN_MAX + 1], NOW - 1, NOW + 1),
	    BT_ECHAINLEN);
	assert_null(x);

	// By hand: 9 and 10 links decode as BT_ECHAINLEN.
	for (int i = 0; i < n; i++) {
		struct link l = a_link(keys[i], &p[i + 1 < n ? i + 1 : i],
		    path[i + 1 < n ? i + 1 : i], i ? &enc[i - 1] : NULL);

		bt_dbuf_init(&enc[i], 1 << 20);
		put_link(&enc[i], &l);
	}
	assert_int_equal(decode_and_verify(&enc[BT_CRED_CHAIN_MAX - 1],
	                     path[BT_CRED_CHAIN_MAX], &d),
	    0);
	assert_int_equal(decode_and_verify(&enc[BT_CRED_CHAIN_MAX],
	                     path[BT_CRED_CHAIN_MAX + 1], &d),
	    BT_ECHAINLEN);
	assert_int_equal(decode_and_verify(&enc[BT_CRED_CHAIN_MAX + 1],
	                     path[BT_CRED_CHAIN_MAX + 1], &d),
	    BT_ECHAINLEN);
	for (int i = 0; i < n; i++)
		bt_dbuf_fini(&enc[i]);
	for (int i = 0; i < BT_CRED_CHAIN_MAX; i++)
		bt_cred_free(c[i]);
	for (int i = 1; i < n; i++)
		bt_key_free(keys[i]);
}

static void
test_cred_encoding_matches_the_documented_format(void **state)
{
	struct fx     *f = *state;
	struct bt_dbuf mine, doc_top, doc_leaf;
	struct link    l;
	bt_cred       *n, *u;

	u = issue2(f, &n);
	bt_dbuf_init(&mine, 1 << 20);
	bt_dbuf_init(&doc_top, 1 << 20);
	bt_dbuf_init(&doc_leaf, 1 << 20);
	assert_int_equal(bt_cred_encode(n, &mine), 0);
	l = a_link(f->root, &f->pnode, f->p_node, NULL);
	put_link(&doc_top, &l);
	assert_int_equal(mine.len, doc_top.len);
	assert_memory_equal(mine.ptr, doc_top.ptr, mine.len);

	bt_dbuf_reset(&mine);
	assert_int_equal(bt_cred_encode(u, &mine), 0);
	l = a_link(f->node, &f->puser, f->p_user, &doc_top);
	put_link(&doc_leaf, &l);
	assert_int_equal(mine.len, doc_leaf.len);
	assert_memory_equal(mine.ptr, doc_leaf.ptr, mine.len);
	bt_dbuf_fini(&mine);
	bt_dbuf_fini(&doc_top);
	bt_dbuf_fini(&doc_leaf);
	bt_cred_free(n);
	bt_cred_free(u);
}

static void
test_cred_decode_rejects_malformed_input(void **state)
{
	struct fx     *f = *state;
	struct bt_dbuf b, x;
	struct bt_diag d;
	struct link    l;
	bt_cred       *u, *c = NULL;
	uint8_t       *big;

	u = issue2(f, NULL);
	bt_dbuf_init(&b, 1 << 20);
	bt_dbuf_init(&x, 1 << 20);
	assert_int_equal(bt_cred_encode(u, &b), 0);

	// Every truncation fails, with a diagnostic.
	for (size_t n = 0; n < b.len; n++) {
		bt_diag_clear(&d);
		assert_true(bt_cred_decode(&c, b.ptr, n, &d) < 0);
		assert_true(d.msg[0] != '\0');
	}
	// A trailing byte.
	assert_int_equal(bt_dbuf_append(&x, b.ptr, b.len), 0);
	assert_int_equal(bt_dbuf_putc(&x, 0), 0);
	assert_int_equal(bt_cred_decode(&c, x.ptr, x.len, &d), BT_ECORRUPT);
	// A presence byte of 2.
	b.ptr[b.len - 1 - 0] = 0; // the root-issued link ends with opt = 0
	assert_int_equal(bt_cred_decode(&c, b.ptr, b.len, &d), 0);
	bt_cred_free(c);
	c = NULL;
	b.ptr[b.len - 1] = 2;
	assert_int_equal(bt_cred_decode(&c, b.ptr, b.len, &d), BT_ECORRUPT);
	b.ptr[b.len - 1] = 0;

	// An invalid path.
	bt_dbuf_reset(&x);
	l = a_link(f->root, &f->pnode, "/x/../y", NULL);
	put_link(&x, &l);
	bt_diag_clear(&d);
	assert_int_equal(bt_cred_decode(&c, x.ptr, x.len, &d), BT_ECORRUPT);
	assert_int_equal(d.off, 32);
	assert_non_null(strstr(d.msg, "path"));
	// An Ed25519 key of 31 bytes.
	bt_dbuf_reset(&x);
	l = a_link(f->root, &f->pnode, f->p_node, NULL);
	l.key.len = 31;
	put_link(&x, &l);
	assert_int_equal(bt_cred_decode(&c, x.ptr, x.len, &d), BT_ECORRUPT);
	assert_non_null(strstr(d.msg, "issuer key"));
	// A non-minimal varint for the path length.
	bt_dbuf_reset(&x);
	assert_int_equal(bt_dbuf_append(&x, b.ptr, 32), 0);
	assert_int_equal(bt_dbuf_putc(&x, (uint8_t)(b.ptr[32] | 0x80)), 0);
	assert_int_equal(bt_dbuf_putc(&x, 0), 0);
	assert_int_equal(bt_dbuf_append(&x, b.ptr + 33, b.len - 33), 0);
	assert_int_equal(bt_cred_decode(&c, x.ptr, x.len, &d), BT_ENONCANON);
	// Over the size limit.
	big = bt_zalloc(BT_CRED_ENCODED_MAX + 1);
	assert_int_equal(
	    bt_cred_decode(&c, big, BT_CRED_ENCODED_MAX + 1, &d), BT_ELIMIT);
	bt_free(big);
	assert_null(c);
	bt_dbuf_fini(&b);
	bt_dbuf_fini(&x);
	bt_cred_free(u);
}

static void
test_cred_text_and_file_round_trip(void **state)
{
	struct fx     *f = *state;
	struct bt_dbuf t, e1, e2;
	struct bt_diag d;
	char          *path;
	bt_cred       *u, *v = NULL, *w;

	u = issue2(f, NULL);
	bt_dbuf_init(&t, 1 << 20);
	bt_dbuf_init(&e1, 1 << 20);
	bt_dbuf_init(&e2, 1 << 20);
	assert_int_equal(bt_cred_to_text(u, &t), 0);
	assert_memory_equal(t.ptr, "bt-cred 1\n", 10);
	assert_int_equal(t.ptr[t.len - 1], '\n');
	assert_int_equal(bt_cred_from_text(&v, t.ptr, t.len, &d), 0);
	assert_int_equal(bt_cred_encode(u, &e1), 0);
	assert_int_equal(bt_cred_encode(v, &e2), 0);
	assert_int_equal(e1.len, e2.len);
	assert_memory_equal(e1.ptr, e2.ptr, e1.len);
	bt_cred_free(v);
	v = NULL;

	// Broken text.
	t.ptr[3] = 'X';
	assert_int_equal(bt_cred_from_text(&v, t.ptr, t.len, &d), BT_ECORRUPT);
	t.ptr[3] = 'c';
	t.ptr[20] = '+';
	assert_int_equal(bt_cred_from_text(&v, t.ptr, t.len, &d), BT_ECORRUPT);
	assert_int_equal(
	    bt_cred_from_text(&v, t.ptr, t.len - 1, &d), BT_ECORRUPT);
	assert_null(v);

	path = bt_test_path(f->dir, "cred");
	assert_int_equal(bt_cred_save(u, path), 0);
	assert_int_equal(bt_cred_load(&w, path, &d), 0);
	assert_int_equal(bt_cred_verify(w, f->p_user, NOW, &d), 0);
	bt_cred_free(w);
	assert_int_equal(bt_cred_dup(&w, u), 0);
	assert_int_equal(bt_cred_verify(w, f->p_user, NOW, &d), 0);
	bt_cred_free(w);
	assert_int_equal(bt_cred_load(&w, "/nonexistent/cred", &d), -ENOENT);
	bt_free(path);
	bt_dbuf_fini(&t);
	bt_dbuf_fini(&e1);
	bt_dbuf_fini(&e2);
	bt_cred_free(u);
}

static void
golden_line(void *arg, int nf, char **fl)
{
	size_t              sl, pl, el;
	uint8_t            *seed, *pub, *enc;
	char                rs[BT_PRINCIPAL_STR_LEN + 1], path[128];
	struct bt_principal pr, pn;
	struct bt_dbuf      b;
	struct bt_diag      d;
	bt_key             *root, *node;
	bt_cred            *c, *c2;
	int64_t             nb = 0, exp = 0;
	uint64_t            v;
	int                *count = arg;

	assert_int_equal(nf, 6);
	seed = tv_hex(fl[1], &sl);
	pub = tv_hex(fl[2], &pl);
	enc = tv_hex(fl[5], &el);
	assert_int_equal(bt_parse_u64(fl[3], &v), 0);
	nb = (int64_t)v;
	assert_int_equal(bt_parse_u64(fl[4], &v), 0);
	exp = (int64_t)v;
	assert_int_equal(bt_key_from_seed(&root, BT_KEY_ED25519, seed), 0);
	assert_int_equal(
	    bt_key_from_public(&node, BT_KEY_ED25519, pub, pl), 0);
	bt_key_principal(root, &pr);
	bt_key_principal(node, &pn);
	bt_principal_to_str(&pr, rs);
	snprintf(path, sizeof(path), "/%s/node", rs);
	assert_int_equal(bt_cred_issue(&c, root, NULL, &pn, path, nb, exp), 0);
	bt_dbuf_init(&b, 1 << 20);
	assert_int_equal(bt_cred_encode(c, &b), 0);
	assert_int_equal(b.len, el);
	assert_memory_equal(b.ptr, enc, el);
	assert_int_equal(bt_cred_decode(&c2, enc, el, &d), 0);
	assert_int_equal(bt_cred_verify(c2, path, nb, &d), 0);
	bt_cred_free(c2);
	bt_cred_free(c);
	bt_dbuf_fini(&b);
	bt_key_free(root);
	bt_key_free(node);
	bt_free(seed);
	bt_free(pub);
	bt_free(enc);
	(*count)++;
}

static void
test_cred_golden_encoding_is_stable(void **state)
{
	int count = 0;

	assert_int_equal(tv_each("cred-golden.txt", golden_line, &count), 1);
	assert_int_equal(count, 1);
}

/* Allocation torture. */

struct torture {
	struct fx     *f;
	bt_cred       *parent;
	struct bt_dbuf enc;
};

static int
decode_body(void *arg)
{
	struct torture *t = arg;
	struct bt_dbuf  text;
	bt_cred        *c, *c2;
	int             rc;

	rc = bt_cred_decode(&c, t->enc.ptr, t->enc.len, NULL);
	if (rc != 0)
		return rc;
	rc = bt_cred_verify(c, t->f->p_user, NOW, NULL);
	if (rc == 0) {
		bt_dbuf_init(&text, 1 << 20);
		rc = bt_cred_to_text(c, &text);
		if (rc == 0) {
			rc = bt_cred_from_text(&c2, text.ptr, text.len, NULL);
			if (rc == 0)
				bt_cred_free(c2);
		}
		bt_dbuf_fini(&text);
	}
	bt_cred_free(c);
	return rc;
}

static int
issue_body(void *arg)
{
	struct torture *t = arg;
	bt_cred        *c;
	int             rc;

	rc = bt_cred_issue(&c, t->f->node, t->parent, &t->f->puser,
	    t->f->p_user, NOW, NOW + HOUR);
	if (rc != 0)
		return rc;
	bt_cred_free(c);
	return 0;
}

/* Review finding C4: a NULL path crashed bt_cred_verify. */
static void
test_cred_verify_null_path_is_epath(void **state)
{
	struct fx     *f = *state;
	struct bt_diag d;
	bt_cred       *u;

	u = issue2(f, NULL);
	bt_diag_clear(&d);
	assert_int_equal(bt_cred_verify(u, NULL, NOW, &d), BT_EPATH);
	assert_non_null(strstr(d.msg, "NULL"));
	assert_int_equal(bt_cred_verify(u, NULL, NOW, NULL), BT_EPATH);
	// And issuing for a NULL path is the invalid-path error.
	bt_cred_free(u);
	u = NULL;
	assert_int_equal(bt_cred_issue(&u, f->root, NULL, &f->pnode, NULL,
	                     NOW - HOUR, NOW + HOUR),
	    -EINVAL);
	assert_null(u);
}

/*
 * Review finding C5: the chain stops being valid at the earliest expiry of
 * any link, which bt_cred_chain_expires gives, not the leaf's.
 */
static void
test_cred_chain_expires_is_earliest_link_expiry(void **state)
{
	struct fx     *f = *state;
	struct bt_diag d;
	bt_cred       *n, *u, *w;

	assert_int_equal(bt_cred_issue(&n, f->root, NULL, &f->pnode, f->p_node,
	                     NOW - HOUR, NOW + HOUR),
	    0);
	assert_int_equal(bt_cred_chain_expires(n), NOW + HOUR);
	assert_int_equal(bt_cred_issue(&u, f->node, n, &f->puser, f->p_user,
	                     NOW - HOUR, NOW + 5 * HOUR),
	    0);
	assert_int_equal(bt_cred_expires(u), NOW + 5 * HOUR);
	assert_int_equal(bt_cred_chain_expires(u), NOW + HOUR);
	// The chain is valid just before that time and not at it.
	assert_int_equal(bt_cred_verify(u, f->p_user, NOW + HOUR - 1, &d), 0);
	assert_int_equal(
	    bt_cred_verify(u, f->p_user, NOW + HOUR, &d), BT_EEXPIRED);
	// A leaf that ends first is the minimum itself.
	assert_int_equal(bt_cred_issue(&w, f->node, n, &f->puser, f->p_user,
	                     NOW - HOUR, NOW + 60),
	    0);
	assert_int_equal(bt_cred_chain_expires(w), NOW + 60);
	bt_cred_free(w);
	bt_cred_free(u);
	bt_cred_free(n);
}

/*
 * Review finding C6: offsets in diag from bt_cred_from_text are offsets in
 * the decoded binary; errors of the text form carry none (-1) and name
 * their line.
 */
static void
test_cred_from_text_offsets_are_in_the_decoded_binary(void **state)
{
	struct fx     *f = *state;
	struct bt_dbuf t, e;
	struct bt_diag d;
	bt_cred       *u, *v = NULL;
	struct link    l;
	char          *b64;

	u = issue2(f, NULL);
	bt_dbuf_init(&t, 1 << 20);
	assert_int_equal(bt_cred_to_text(u, &t), 0);
	t.ptr[3] = 'X';
	bt_diag_clear(&d);
	assert_int_equal(bt_cred_from_text(&v, t.ptr, t.len, &d), BT_ECORRUPT);
	assert_int_equal(d.off, -1);
	assert_non_null(strstr(d.msg, "line 1"));
	t.ptr[3] = 'c';
	t.ptr[20] = '+';
	bt_diag_clear(&d);
	assert_int_equal(bt_cred_from_text(&v, t.ptr, t.len, &d), BT_ECORRUPT);
	assert_int_equal(d.off, -1);
	assert_non_null(strstr(d.msg, "line 2"));
	bt_diag_clear(&d);
	assert_int_equal(
	    bt_cred_from_text(&v, t.ptr, t.len - 1, &d), BT_ECORRUPT);
	assert_int_equal(d.off, -1);

	// A bad path in the binary: the offset is the path's in the binary
	// (32, after the principal), the same as bt_cred_decode gives.
	bt_dbuf_init(&e, 1 << 20);
	l = a_link(f->root, &f->pnode, "/x/../y", NULL);
	put_link(&e, &l);
	bt_dbuf_reset(&t);
	b64 = bt_alloc(bt_b64url_len(e.len) + 1);
	assert_non_null(b64);
	bt_b64url_encode(b64, e.ptr, e.len);
	assert_int_equal(bt_dbuf_printf(&t, "bt-cred 1\n%s\n", b64), 0);
	bt_free(b64);
	bt_diag_clear(&d);
	assert_int_equal(bt_cred_from_text(&v, t.ptr, t.len, &d), BT_ECORRUPT);
	assert_int_equal(d.off, 32);
	assert_null(v);
	bt_dbuf_fini(&e);
	bt_dbuf_fini(&t);
	bt_cred_free(u);
}

static void
test_cred_decode_and_issue_survive_allocation_failure(void **state)
{
	struct torture t = { .f = *state };
	bt_cred       *u;

	u = issue2(t.f, &t.parent);
	bt_dbuf_init(&t.enc, 1 << 20);
	assert_int_equal(bt_cred_encode(u, &t.enc), 0);
	assert_true(bt_test_alloc_torture(decode_body, &t, 200) >= 5);
	assert_true(bt_test_alloc_torture(issue_body, &t, 200) >= 5);
	bt_dbuf_fini(&t.enc);
	bt_cred_free(t.parent);
	bt_cred_free(u);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_cred_root_issued_verifies_within_its_path_only),
		T(test_cred_delegation_verifies_and_only_narrows),
		T(test_cred_issue_refuses_public_only_key),
		T(test_cred_expired_and_not_yet_valid),
		T(test_cred_any_flipped_byte_fails_decode_or_verify),
		T(test_cred_tampered_signature_or_path_is_ebadsig),
		T(test_cred_link_signed_by_wrong_key_is_ebadsig),
		T(test_cred_not_rooted_at_path_root_is_enotrooted),
		T(test_cred_link_outside_parent_path_is_epath),
		T(test_cred_unknown_algorithm_decodes_and_fails_with_ealg),
		T(test_cred_chain_length_is_bounded),
		T(test_cred_encoding_matches_the_documented_format),
		T(test_cred_decode_rejects_malformed_input),
		cmocka_unit_test(test_cred_golden_encoding_is_stable),
		T(test_cred_text_and_file_round_trip),
		T(test_cred_verify_null_path_is_epath),
		T(test_cred_chain_expires_is_earliest_link_expiry),
		T(test_cred_from_text_offsets_are_in_the_decoded_binary),
		T(test_cred_decode_and_issue_survive_allocation_failure),
	};
#undef T

	return cmocka_run_group_tests_name("crypto.cred", tests, NULL, NULL);
}
