/*
 * cmd/bt/cmd_cred.c: `bt cred issue`, `bt cred show`, `bt cred verify`:
 * credentials (writecaps) over crypto/.
 *
 * Times on the command line are relative to now ("1h", "-2h", "+30d",
 * "0") or absolute seconds since the epoch ("@1800000000"), so a test can
 * make an already expired credential without waiting.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bt/crypto.h"
#include "cmd.h"

static const char usage[]
    = "usage: bt cred issue --key KEY [--cred CRED] --to PRINCIPAL --path "
      "PATH\n"
      "                     [--expires WHEN] [--not-before WHEN] -o FILE\n"
      "       bt cred show FILE\n"
      "       bt cred verify FILE --path PATH [--to PRINCIPAL] [--at WHEN]\n"
      "\n"
      "Issue, show and verify credentials (writecaps). A credential lets a\n"
      "principal act at a path; it is signed by the path's root key, or by a\n"
      "key holding a credential for an enclosing path (delegation narrows).\n"
      "\n"
      "examples:\n"
      "  R=$(bt key new -o root.key); N=$(bt key new -o node.key)\n"
      "  bt cred issue --key root.key --to $N --path /$R/node -o node.cred\n"
      "  bt cred verify node.cred --path /$R/node/echo\n";

static const char usage_issue[]
    = "usage: bt cred issue --key KEY [--cred CRED] --to PRINCIPAL --path "
      "PATH\n"
      "                     [--expires WHEN] [--not-before WHEN] -o FILE\n"
      "\n"
      "Issue a credential for PRINCIPAL (or the key in a key file) at PATH,\n"
      "signed by KEY. A key file given as --to must not be writable by\n"
      "group or others, nor owned by another user (they could swap the\n"
      "key). Without --cred, KEY must be the root of PATH (its\n"
      "principal is PATH's first component). With --cred, KEY's own\n"
      "credential is carried along and PATH must lie within its path.\n"
      "WHEN is relative to now (1h, 30d, -2h, 0) or @SECONDS since the "
      "epoch.\n"
      "\n"
      "examples:\n"
      "  bt cred issue --key root.key --to $N --path /$R/node -o node.cred\n"
      "  bt cred issue --key node.key --cred node.cred --to $U \\\n"
      "      --path /$R/node/users/u1 --expires 7d -o u1.cred\n";

static const struct bt_opt opts_issue[] = {
	{ "key", 'k', BT_OPT_STR, NULL, "the issuer's key file" },
	{ "cred", 'c', BT_OPT_STR, NULL,
	    "the issuer's credential (omit when KEY is the root)" },
	{ "to", 't', BT_OPT_STR, NULL,
	    "the principal (43 characters), or a key file, to issue to" },
	{ "path", 'p', BT_OPT_STR, NULL, "the path the credential is for" },
	{ "expires", 'e', BT_OPT_STR, "1y", "when it expires" },
	{ "not-before", 0, BT_OPT_STR, "-1m",
	    "when it becomes valid (a minute back allows for clock skew)" },
	{ "output", 'o', BT_OPT_STR, NULL, "the credential file to write" },
};

static const char usage_show[]
    = "usage: bt cred show FILE\n"
      "\n"
      "Print each link of a credential chain, leaf first: the principal it\n"
      "is issued to, its path, validity and issuer. Showing checks nothing;\n"
      "use `bt cred verify`.\n"
      "\n"
      "example:\n"
      "  bt cred show node.cred\n";

static const char usage_verify[]
    = "usage: bt cred verify FILE --path PATH [--to PRINCIPAL] [--at WHEN]\n"
      "\n"
      "Check that the credential lets its principal act at PATH now (or at\n"
      "WHEN): every signature verifies, the chain starts at PATH's root, "
      "each\n"
      "link lies within its issuer's path, and none has expired. Exits 0 "
      "when\n"
      "valid, printing until when (the earliest expiry of any link), and\n"
      "1 with the reason when not.\n"
      "\n"
      "example:\n"
      "  bt cred verify node.cred --path /$R/node/echo\n";

static const struct bt_opt opts_verify[] = {
	{ "path", 'p', BT_OPT_STR, NULL, "the path to check" },
	{ "to", 't', BT_OPT_STR, NULL,
	    "also require the credential to be issued to this principal (or "
	    "key file)" },
	{ "at", 0, BT_OPT_STR, NULL, "check at this time instead of now" },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/*
 * parse_when reads "[+-]DURATION" relative to now, or "@SECONDS". Returns 0
 * and *out, or -EINVAL.
 */
static int
parse_when(const char *s, int64_t now, int64_t *out)
{
	uint64_t v;
	int      sign = 1;

	if (s[0] == '@') {
		if (bt_parse_u64(s + 1, &v) != 0 || v > INT64_MAX)
			return -EINVAL;
		*out = (int64_t)v;
		return 0;
	}
	if (s[0] == '-' || s[0] == '+') {
		sign = s[0] == '-' ? -1 : 1;
		s++;
	}
	if (bt_parse_duration(s, &v) != 0)
		return -EINVAL;
	v /= 1000000000u;
	if (v > (uint64_t)INT64_MAX / 2)
		return -EINVAL;
	*out = now + sign * (int64_t)v;
	return 0;
}

static void
fmt_time(char *buf, size_t cap, int64_t t)
{
	struct tm tm;
	time_t    tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL
	    || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "@%lld", (long long)t);
}

/*
 * parse_to reads a principal string, or the public key of a key file. The
 * key file is about to be trusted (issued to, or accepted as the holder),
 * so one that others could rewrite is refused: they would choose the key.
 */
static int
parse_to(const char *s, struct bt_principal *out)
{
	struct bt_diag d;
	bt_key        *k;
	int            rc;

	if (bt_principal_from_str(out, s) == 0)
		return 0;
	bt_diag_clear(&d);
	rc = bt_key_load_public_trusted(&k, s, &d);
	if (rc == -ENOENT) {
		return bt_cmd_err("'%s' is neither a principal (43 characters "
		                  "of base64url) nor a key file",
		    s);
	}
	if (rc != 0)
		return bt_cmd_err("%s", d.msg[0] ? d.msg : bt_strerror(rc));
	bt_key_principal(k, out);
	bt_key_free(k);
	return 0;
}

static int
load_cred(bt_cred **out, const char *file)
{
	struct bt_diag d;
	int            rc;

	bt_diag_clear(&d);
	rc = bt_cred_load(out, file, &d);
	if (rc == 0)
		return 0;
	if (rc == -ENOENT || rc == -EACCES)
		return bt_cmd_err("%s", d.msg);
	// bt_cred_from_text gives offsets in the decoded binary, never in
	// the base64url text of the file (its own errors name a line).
	if (d.off >= 0) {
		return bt_cmd_err("credential file '%s' is malformed at byte "
		                  "%lld of the decoded credential: %s",
		    file, (long long)d.off, d.msg);
	}
	return bt_cmd_err("credential file '%s' is malformed: %s", file,
	    d.msg[0] ? d.msg : bt_strerror(rc));
}

static int
cred_issue(int argc, char **argv)
{
	const char         *keyf, *credf, *to, *path, *out;
	struct bt_principal top, kp;
	char                kstr[BT_PRINCIPAL_STR_LEN + 1];
	int64_t             now = bt_time_now_s(), nb, exp;
	struct bt_diag      d;
	bt_cred            *parent = NULL, *c = NULL;
	bt_key             *k = NULL;
	bt_config          *cfg;
	int                 ex, rc;

	if (bt_cmd_parse(&cfg, usage_issue, opts_issue, N(opts_issue), argc,
	        argv, BT_CONFIG_ARGS_ONLY, &ex)
	    != 0)
		return ex;
	keyf = bt_config_str(cfg, "key");
	credf = bt_config_str(cfg, "cred");
	to = bt_config_str(cfg, "to");
	path = bt_config_str(cfg, "path");
	out = bt_config_str(cfg, "output");
	if (bt_config_npos(cfg) != 0) {
		ex = bt_cmd_usage(usage_issue, "unexpected argument '%s'",
		    bt_config_pos(cfg, 0));
		goto out;
	}
	if (keyf == NULL || to == NULL || path == NULL || out == NULL) {
		ex = bt_cmd_usage(usage_issue,
		    "--key, --to, --path and -o "
		    "are required");
		goto out;
	}
	if (parse_when(bt_config_str(cfg, "not-before"), now, &nb) != 0) {
		ex = bt_cmd_usage(usage_issue,
		    "--not-before '%s' is not a "
		    "time (like -1h, 0 or @SECONDS)",
		    bt_config_str(cfg, "not-before"));
		goto out;
	}
	if (parse_when(bt_config_str(cfg, "expires"), now, &exp) != 0) {
		ex = bt_cmd_usage(usage_issue,
		    "--expires '%s' is not a time "
		    "(like 30d, 1y or @SECONDS)",
		    bt_config_str(cfg, "expires"));
		goto out;
	}
	bt_diag_clear(&d);
	if (bt_path_check(path, &d) != 0) {
		ex = bt_cmd_err("--path '%s' is not a path: %s", path, d.msg);
		goto out;
	}
	if (exp <= nb) {
		ex = bt_cmd_err(
		    "the credential would expire before it becomes "
		    "valid (check --expires and --not-before)");
		goto out;
	}
	ex = parse_to(to, &top);
	if (ex != 0)
		goto out;
	rc = bt_key_load(&k, keyf, &d);
	if (rc != 0) {
		ex = bt_cmd_err("%s", d.msg[0] ? d.msg : bt_strerror(rc));
		goto out;
	}
	if (credf != NULL) {
		ex = load_cred(&parent, credf);
		if (ex != 0)
			goto out;
	}
	rc = bt_cred_issue(&c, k, parent, &top, path, nb, exp);
	bt_key_principal(k, &kp);
	bt_principal_to_str(&kp, kstr);
	switch (rc) {
	case 0:
		break;
	case BT_ENOTROOTED:
		ex = bt_cmd_err("key '%s' (%s) is not the root of '%s'; pass "
		                "--cred with a credential for the key",
		    keyf, kstr, path);
		goto out;
	case BT_EPERM:
		ex = bt_cmd_err("credential '%s' is not issued to key '%s' "
		                "(%s)",
		    credf, keyf, kstr);
		goto out;
	case BT_EPATH:
		ex = bt_cmd_err("'%s' is not within '%s', the path of "
		                "credential '%s' (delegation can only narrow)",
		    path, bt_cred_path(parent), credf);
		goto out;
	case BT_ECHAINLEN:
		ex = bt_cmd_err(
		    "credential '%s' already has %d links; a chain "
		    "may have at most %d",
		    credf, bt_cred_chain_len(parent), BT_CRED_CHAIN_MAX);
		goto out;
	default:
		ex = bt_cmd_err(
		    "cannot issue the credential: %s", bt_strerror(rc));
		goto out;
	}
	if (parent != NULL) {
		// Verification checks every link, so the earliest expiry of
		// the chain is the one that counts; say so rather than let a
		// "1y" credential die with its parent unexpectedly.
		int64_t first = bt_cred_chain_expires(c);
		char    t[40];

		if (first < exp) {
			fmt_time(t, sizeof(t), first);
			fprintf(stderr,
			    "bt: note: the issuer's chain expires "
			    "at %s, and this credential with it\n",
			    t);
		}
	}
	rc = bt_cred_save(c, out);
	if (rc != 0) {
		ex = bt_cmd_err("cannot write '%s': %s", out, bt_strerror(rc));
		goto out;
	}
	ex = BT_EXIT_OK;
out:
	bt_cred_free(c);
	bt_cred_free(parent);
	bt_key_free(k);
	bt_config_free(cfg);
	return ex;
}

static int
cred_show(int argc, char **argv)
{
	char                s[BT_PRINCIPAL_STR_LEN + 1], t1[40], t2[40];
	struct bt_principal p;
	const bt_cred      *l;
	bt_cred            *c = NULL;
	bt_config          *cfg;
	int                 ex, i = 1;

	if (bt_cmd_parse(&cfg, usage_show, NULL, 0, argc, argv,
	        BT_CONFIG_ARGS_ONLY, &ex)
	    != 0)
		return ex;
	if (bt_config_npos(cfg) != 1) {
		ex = bt_cmd_usage(usage_show, "'bt cred show' takes one FILE");
		goto out;
	}
	ex = load_cred(&c, bt_config_pos(cfg, 0));
	if (ex != 0)
		goto out;
	printf("chain: %d link%s, leaf first\n", bt_cred_chain_len(c),
	    bt_cred_chain_len(c) == 1 ? "" : "s");
	for (l = c; l != NULL; l = bt_cred_parent(l), i++) {
		const char *alg = bt_key_alg_name(bt_cred_issuer_alg(l));

		printf("link %d:\n", i);
		bt_cred_principal(l, &p);
		bt_principal_to_str(&p, s);
		printf("  to:         %s\n", s);
		printf("  path:       %s\n", bt_cred_path(l));
		fmt_time(t1, sizeof(t1), bt_cred_not_before(l));
		fmt_time(t2, sizeof(t2), bt_cred_expires(l));
		printf("  not-before: %s\n", t1);
		printf("  expires:    %s\n", t2);
		bt_cred_issuer(l, &p);
		bt_principal_to_str(&p, s);
		if (alg != NULL) {
			printf("  issuer:     %s (%s)%s\n", s, alg,
			    bt_cred_parent(l) == NULL ? ", the root" : "");
		} else {
			printf("  issuer:     %s (unknown algorithm %d)\n", s,
			    bt_cred_issuer_alg(l));
		}
	}
out:
	bt_cred_free(c);
	bt_config_free(cfg);
	return ex;
}

static int
cred_verify(int argc, char **argv)
{
	char                s[BT_PRINCIPAL_STR_LEN + 1], t[40];
	struct bt_principal want, got;
	const char         *file, *path, *to, *at;
	int64_t             now = bt_time_now_s();
	struct bt_diag      d;
	bt_cred            *c = NULL;
	bt_config          *cfg;
	int                 ex, rc;

	if (bt_cmd_parse(&cfg, usage_verify, opts_verify, N(opts_verify), argc,
	        argv, BT_CONFIG_ARGS_ONLY, &ex)
	    != 0)
		return ex;
	path = bt_config_str(cfg, "path");
	to = bt_config_str(cfg, "to");
	at = bt_config_str(cfg, "at");
	if (bt_config_npos(cfg) != 1 || path == NULL) {
		ex = bt_cmd_usage(usage_verify,
		    "'bt cred verify' takes one "
		    "FILE and --path PATH");
		goto out;
	}
	if (at != NULL && parse_when(at, now, &now) != 0) {
		ex = bt_cmd_usage(usage_verify,
		    "--at '%s' is not a time "
		    "(like -1h or @SECONDS)",
		    at);
		goto out;
	}
	file = bt_config_pos(cfg, 0);
	ex = load_cred(&c, file);
	if (ex != 0)
		goto out;
	bt_diag_clear(&d);
	rc = bt_cred_verify(c, path, now, &d);
	if (rc != 0) {
		ex = bt_cmd_err(
		    "credential '%s' is not valid for '%s': %s (%s)", file,
		    path, d.msg[0] ? d.msg : bt_strerror(rc), bt_strerror(rc));
		goto out;
	}
	bt_cred_principal(c, &got);
	bt_principal_to_str(&got, s);
	if (to != NULL) {
		ex = parse_to(to, &want);
		if (ex != 0)
			goto out;
		if (!bt_principal_equal(&want, &got)) {
			ex = bt_cmd_err("credential '%s' is issued to %s, not "
			                "to '%s'",
			    file, s, to);
			goto out;
		}
	}
	// Until the first expiry in the chain: an issuer's credential that
	// ends before the leaf's ends the leaf's with it.
	fmt_time(t, sizeof(t), bt_cred_chain_expires(c));
	printf("ok: %s may act at %s until %s\n", s, path, t);
	ex = BT_EXIT_OK;
out:
	bt_cred_free(c);
	bt_config_free(cfg);
	return ex;
}

int
bt_cmd_cred(int argc, char **argv)
{
	static const struct bt_cmd_sub subs[] = {
		{ "issue", cred_issue },
		{ "show", cred_show },
		{ "verify", cred_verify },
	};

	return bt_cmd_dispatch(subs, N(subs), usage, argc, argv);
}
