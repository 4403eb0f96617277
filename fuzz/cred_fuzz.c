/*
 * fuzz/cred_fuzz.c: libFuzzer target for credentials (bt_fuzz crypto.cred,
 * registered in src/crypto/CMakeLists.txt; seeds in
 * tests/data/corpus/cred/).
 *
 * Input starting with "bt-cred" goes through the credential text parser,
 * input starting with "bt-key" through the key file parser, anything else
 * through the binary credential decoder. Properties checked, abort() on
 * violation:
 *  1. a failed decode returns one of the documented errors and fills the
 *     diag;
 *  2. a successful binary decode re-encodes to exactly the input bytes,
 *     and its text form parses back to the same encoding;
 *  3. verify returns 0 or one of its documented errors, for the leaf's own
 *     path and for a path beneath it, at a few times;
 *  4. the accessors agree with the chain (chain_len counts the links);
 *  5. a key file that parses gives a key whose saved form parses back to
 *     the same principal, and holds no NUL byte; one that does not gives
 *     a documented error.
 * Leaks are caught by LeakSanitizer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/crypto/crypto_int.h"
#include "bt/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
decode_error_ok(int rc)
{
	return rc == BT_ETRUNC || rc == BT_ENONCANON || rc == BT_ECORRUPT
	    || rc == BT_ELIMIT || rc == BT_ECHAINLEN || rc == -ENOMEM;
}

static bool
verify_error_ok(int rc)
{
	return rc == 0 || rc == BT_EBADSIG || rc == BT_EEXPIRED
	    || rc == BT_ENOTYET || rc == BT_EPATH || rc == BT_ENOTROOTED
	    || rc == BT_ECHAINLEN || rc == BT_EALG || rc == -ENOMEM;
}

static void
check_cred(const bt_cred *c)
{
	static const int64_t times[] = { 0, 1800000000, INT64_MIN, INT64_MAX };
	struct bt_principal  p;
	const bt_cred       *l;
	char                 sub[BT_PATH_MAX + 8];
	size_t               n;
	int                  links = 0;

	for (l = c; l != NULL; l = bt_cred_parent(l)) {
		links++;
		bt_cred_principal(l, &p);
		bt_cred_issuer(l, &p);
		if (bt_path_check(bt_cred_path(l), NULL) != 0)
			abort();
	}
	if (links != bt_cred_chain_len(c) || links > BT_CRED_CHAIN_MAX)
		abort();
	bt_cred_root(c, &p);
	n = strlen(bt_cred_path(c));
	memcpy(sub, bt_cred_path(c), n);
	memcpy(sub + n, "/x", 3);
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		struct bt_diag d = { 0 };
		int rc = bt_cred_verify(c, bt_cred_path(c), times[i], &d);

		if (!verify_error_ok(rc) || (rc != 0 && d.msg[0] == '\0'))
			abort();
		if (!verify_error_ok(bt_cred_verify(c, sub, times[i], NULL)))
			abort();
	}
}

static void
check_binary(const uint8_t *data, size_t size)
{
	struct bt_diag d = { 0 };
	struct bt_dbuf b, t;
	bt_cred       *c, *c2;
	int            rc;

	rc = bt_cred_decode(&c, data, size, &d);
	if (rc != 0) {
		if (!decode_error_ok(rc)
		    || (rc != -ENOMEM && d.msg[0] == '\0'))
			abort();
		return;
	}
	bt_dbuf_init(&b, size);
	rc = bt_cred_encode(c, &b);
	if (rc != 0 || b.len != size
	    || (size > 0 && memcmp(b.ptr, data, size) != 0))
		abort();
	bt_dbuf_init(&t, 4 * size + 64);
	if (bt_cred_to_text(c, &t) != 0
	    || bt_cred_from_text(&c2, t.ptr, t.len, NULL) != 0)
		abort();
	bt_dbuf_reset(&b);
	if (bt_cred_encode(c2, &b) != 0 || b.len != size
	    || memcmp(b.ptr, data, size) != 0)
		abort();
	check_cred(c);
	bt_cred_free(c2);
	bt_dbuf_fini(&t);
	bt_dbuf_fini(&b);
	bt_cred_free(c);
}

static void
check_key(const uint8_t *data, size_t size)
{
	struct bt_diag      d = { 0 };
	struct bt_principal p, q;
	bool                had_private = false, again = false;
	bt_key             *k, *k2;
	int                 rc;

	for (int pub = 0; pub < 2; pub++) {
		rc = bt__crypto_key_parse(
		    &k, (const char *)data, size, pub, &had_private, &d);
		if (rc != 0) {
			if ((rc != BT_ECORRUPT && rc != BT_EALG
			        && rc != -ENOMEM)
			    || (rc != -ENOMEM && d.msg[0] == '\0'))
				abort();
			continue;
		}
		if (bt_key_has_private(k) != (had_private && !pub))
			abort();
		// Key files are text: one with a NUL never parses.
		if (memchr(data, '\0', size) != NULL)
			abort();
		// What parsed is a whole key: it re-parses from its own
		// public form to the same principal.
		{
			char          text[256];
			struct bt_buf raw = bt_key_public_raw(k);
			char          b64[BT_KEY_PUBLIC_MAX * 2];
			int           n;

			bt_b64url_encode(b64, raw.ptr, raw.len);
			n = snprintf(text, sizeof(text),
			    "bt-key 1\nalg %s\npublic %s\n",
			    bt_key_alg_name(bt_key_alg(k)), b64);
			if (n <= 0 || (size_t)n >= sizeof(text)
			    || bt__crypto_key_parse(
			           &k2, text, (size_t)n, true, &again, NULL)
			        != 0)
				abort();
			bt_key_principal(k, &p);
			bt_key_principal(k2, &q);
			if (!bt_principal_equal(&p, &q) || again)
				abort();
			bt_key_free(k2);
		}
		bt_key_free(k);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bt_diag d = { 0 };
	bt_cred       *c;
	int            rc;

	if (size >= 7 && memcmp(data, "bt-cred", 7) == 0) {
		rc = bt_cred_from_text(&c, data, size, &d);
		if (rc != 0) {
			if (!decode_error_ok(rc)
			    || (rc != -ENOMEM && d.msg[0] == '\0'))
				abort();
			return 0;
		}
		check_cred(c);
		bt_cred_free(c);
		return 0;
	}
	if (size >= 6 && memcmp(data, "bt-key", 6) == 0) {
		check_key(data, size);
		return 0;
	}
	check_binary(data, size);
	return 0;
}
