/*
 * cmd/bt/cmd_key.c: `bt key new` and `bt key show`, over crypto/.
 *
 * `bt key new` keeps the private key only when given -o FILE (mode 0600,
 * never overwriting an existing file unless --force); without -o it prints
 * the principal and says on stderr that nothing was saved, so a private key
 * never lands on a terminal or in a pipe. The principal is always the last
 * line of stdout, for scripts: P=$(bt key new -o node.key).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bt/crypto.h"
#include "cmd.h"

static const char usage[]
    = "usage: bt key new [-o FILE] [--force]\n"
      "       bt key show FILE\n"
      "\n"
      "Make and show Ed25519 keys. A key's principal (43 characters of\n"
      "base64url) is the SHA-256 of its algorithm tag and public key; it is\n"
      "the first component of every path the key is root of.\n"
      "\n"
      "examples:\n"
      "  bt key new -o root.key\n"
      "  bt key show root.key\n";

static const char usage_new[]
    = "usage: bt key new [-o FILE] [--force]\n"
      "\n"
      "Make a new Ed25519 key and print its principal as the last line.\n"
      "With -o the key is saved to FILE with mode 0600 (an existing FILE is\n"
      "kept unless --force). Without -o the key is not saved anywhere.\n"
      "\n"
      "example:\n"
      "  P=$(bt key new -o root.key) && echo \"root path: /$P\"\n";

static const struct bt_opt opts_new[] = {
	{ "output", 'o', BT_OPT_STR, NULL, "file to save the key to (0600)" },
	{ "force", 0, BT_OPT_FLAG, NULL, "replace an existing FILE" },
};

static const char usage_show[]
    = "usage: bt key show FILE\n"
      "\n"
      "Print a key file's principal, algorithm and public key. A file that\n"
      "holds a private key and is accessible by group or others is refused.\n"
      "\n"
      "example:\n"
      "  bt key show root.key\n";

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int
key_new(int argc, char **argv)
{
	char                pstr[BT_PRINCIPAL_STR_LEN + 1];
	struct bt_principal p;
	const char         *out;
	bt_config          *cfg;
	bt_key             *k = NULL;
	bool                force;
	int                 ex, rc;

	if (bt_cmd_parse(&cfg, usage_new, opts_new, N(opts_new), argc, argv,
	        BT_CONFIG_ARGS_ONLY, &ex)
	    != 0)
		return ex;
	if (bt_config_npos(cfg) != 0) {
		ex = bt_cmd_usage(usage_new, "unexpected argument '%s'",
		    bt_config_pos(cfg, 0));
		goto out;
	}
	out = bt_config_str(cfg, "output");
	force = bt_config_flag(cfg, "force");
	rc = bt_key_generate(&k, BT_KEY_ED25519);
	if (rc != 0) {
		ex = bt_cmd_err("cannot make a key: %s", bt_strerror(rc));
		goto out;
	}
	if (out != NULL) {
		// Without --force the file is installed by bt_key_save_new,
		// which never replaces anything, even a file created an
		// instant earlier (a check first, then a rename, would).
		rc = force ? bt_key_save(k, out) : bt_key_save_new(k, out);
		if (rc == -EEXIST) {
			ex = bt_cmd_err("'%s' already exists; not replacing a "
			                "key (use --force to replace it)",
			    out);
			goto out;
		}
		if (rc != 0) {
			ex = bt_cmd_err("cannot save the key to '%s': %s", out,
			    bt_strerror(rc));
			goto out;
		}
	} else {
		fputs(
		    "bt: note: the private key was not saved (use -o FILE to "
		    "keep it)\n",
		    stderr);
	}
	bt_key_principal(k, &p);
	bt_principal_to_str(&p, pstr);
	printf("%s\n", pstr);
	ex = BT_EXIT_OK;
out:
	bt_key_free(k);
	bt_config_free(cfg);
	return ex;
}

/* load_key_for_cmd loads FILE and prints one sentence on failure. */
static int
load_key_for_cmd(bt_key **out, const char *file)
{
	struct bt_diag d;
	int            rc;

	bt_diag_clear(&d);
	rc = bt_key_load(out, file, &d);
	if (rc == 0)
		return 0;
	if (rc == -ENOENT || rc == -EACCES || rc == BT_EPERM)
		return bt_cmd_err("%s", d.msg);
	return bt_cmd_err("key file '%s' is not usable: %s", file,
	    d.msg[0] ? d.msg : bt_strerror(rc));
}

static int
key_show(int argc, char **argv)
{
	char pstr[BT_PRINCIPAL_STR_LEN + 1], pub[BT_KEY_PUBLIC_MAX * 2];
	struct bt_principal p;
	struct bt_buf       raw;
	bt_config          *cfg;
	bt_key             *k = NULL;
	int                 ex;

	if (bt_cmd_parse(&cfg, usage_show, NULL, 0, argc, argv,
	        BT_CONFIG_ARGS_ONLY, &ex)
	    != 0)
		return ex;
	if (bt_config_npos(cfg) != 1) {
		ex = bt_cmd_usage(usage_show, "'bt key show' takes one FILE");
		goto out;
	}
	ex = load_key_for_cmd(&k, bt_config_pos(cfg, 0));
	if (ex != 0)
		goto out;
	bt_key_principal(k, &p);
	bt_principal_to_str(&p, pstr);
	raw = bt_key_public_raw(k);
	bt_b64url_encode(pub, raw.ptr, raw.len);
	printf("principal: %s\n", pstr);
	printf("algorithm: %s\n", bt_key_alg_name(bt_key_alg(k)));
	printf("public:    %s\n", pub);
	printf("private:   %s\n", bt_key_has_private(k) ? "yes" : "no");
out:
	bt_key_free(k);
	bt_config_free(cfg);
	return ex;
}

int
bt_cmd_key(int argc, char **argv)
{
	static const struct bt_cmd_sub subs[] = {
		{ "new", key_new },
		{ "show", key_show },
	};

	return bt_cmd_dispatch(subs, N(subs), usage, argc, argv);
}
