/*
 * crypto/key_test.c: Ed25519 keys against RFC 8032 (tests/data/crypto/
 * ed25519.txt), principals, and key files (format, mode 0600, refusal of
 * group/other-readable private keys, malformed files).
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bt/crypto.h"
#include "testvec.h"

static void
check_line(void *arg, int nf, char **f)
{
	size_t        sl, pl, ml, gl, siglen;
	uint8_t      *seed, *pub, *msg, *sig, out[BT_KEY_SIG_MAX];
	struct bt_buf raw;
	bt_key       *k, *pk;
	int          *count = arg;

	assert_int_equal(nf, 5);
	seed = tv_hex(f[1], &sl);
	pub = tv_hex(f[2], &pl);
	msg = tv_hex(f[3], &ml);
	sig = tv_hex(f[4], &gl);
	assert_int_equal(sl, 32);

	assert_int_equal(bt_key_from_seed(&k, BT_KEY_ED25519, seed), 0);
	raw = bt_key_public_raw(k);
	assert_int_equal(raw.len, pl);
	assert_memory_equal(raw.ptr, pub, pl);
	assert_int_equal(bt_key_sign(k, msg, ml, out, &siglen), 0);
	assert_int_equal(siglen, 64);
	assert_memory_equal(out, sig, 64);
	assert_int_equal(bt_key_verify(k, msg, ml, sig, gl), 0);

	assert_int_equal(bt_key_from_public(&pk, BT_KEY_ED25519, pub, pl), 0);
	assert_false(bt_key_has_private(pk));
	assert_int_equal(bt_key_verify(pk, msg, ml, sig, gl), 0);
	sig[10] ^= 1;
	assert_int_equal(bt_key_verify(pk, msg, ml, sig, gl), BT_EBADSIG);
	assert_int_equal(bt_key_verify(pk, msg, ml, sig, gl - 1), BT_EBADSIG);
	bt_key_free(pk);
	bt_key_free(k);
	bt_free(seed);
	bt_free(pub);
	bt_free(msg);
	bt_free(sig);
	(*count)++;
}

static void
test_ed25519_rfc8032_vectors_match(void **state)
{
	int count = 0;

	assert_int_equal(tv_each("ed25519.txt", check_line, &count), 4);
	assert_int_equal(count, 4);
}

static void
test_key_unknown_algorithm_is_ealg(void **state)
{
	uint8_t seed[32] = { 0 };
	bt_key *k = NULL;

	assert_int_equal(bt_key_generate(&k, 0), BT_EALG);
	assert_int_equal(bt_key_generate(&k, 2), BT_EALG);
	assert_int_equal(bt_key_from_seed(&k, 7, seed), BT_EALG);
	assert_int_equal(bt_key_from_public(&k, 99, seed, 32), BT_EALG);
	assert_null(k);
	assert_int_equal(bt_key_alg_from_name("p256"), BT_EALG);
	assert_int_equal(bt_key_alg_from_name("ed25519"), BT_KEY_ED25519);
	assert_null(bt_key_alg_name(2));
	assert_int_equal(
	    bt_key_from_public(&k, BT_KEY_ED25519, seed, 31), -EINVAL);
}

static void
test_key_generate_gives_distinct_working_keys(void **state)
{
	bt_key             *a, *b, *c;
	struct bt_principal pa, pb, pc;
	uint8_t             sig[BT_KEY_SIG_MAX];
	size_t              n;

	assert_int_equal(bt_key_generate(&a, BT_KEY_ED25519), 0);
	assert_int_equal(bt_key_generate(&b, BT_KEY_ED25519), 0);
	assert_true(bt_key_has_private(a));
	assert_non_null(bt_key_evp(a));
	bt_key_principal(a, &pa);
	bt_key_principal(b, &pb);
	assert_false(bt_principal_equal(&pa, &pb));
	assert_int_equal(bt_key_sign(a, "m", 1, sig, &n), 0);
	assert_int_equal(bt_key_verify(a, "m", 1, sig, n), 0);
	assert_int_equal(bt_key_verify(b, "m", 1, sig, n), BT_EBADSIG);
	assert_int_equal(bt_key_verify(a, "n", 1, sig, n), BT_EBADSIG);
	// A copy is the same key.
	assert_int_equal(bt_key_dup(&c, a), 0);
	bt_key_principal(c, &pc);
	assert_true(bt_principal_equal(&pa, &pc));
	assert_int_equal(bt_key_verify(c, "m", 1, sig, n), 0);
	bt_key_free(a);
	bt_key_free(b);
	bt_key_free(c);
	bt_key_free(NULL);
}

static void
test_principal_is_sha256_of_tag_and_public_key(void **state)
{
	uint8_t             seed[32], buf[33], want[32];
	struct bt_principal p, q;
	char                s[BT_PRINCIPAL_STR_LEN + 1];
	struct bt_buf       raw;
	bt_key             *k;

	memset(seed, 0x42, sizeof(seed));
	assert_int_equal(bt_key_from_seed(&k, BT_KEY_ED25519, seed), 0);
	raw = bt_key_public_raw(k);
	buf[0] = BT_KEY_ED25519;
	memcpy(buf + 1, raw.ptr, 32);
	assert_int_equal(bt_sha256(buf, sizeof(buf), want), 0);
	bt_key_principal(k, &p);
	assert_memory_equal(p.b, want, 32);
	assert_int_equal(bt_principal_of(&q, BT_KEY_ED25519, raw.ptr, 32), 0);
	assert_true(bt_principal_equal(&p, &q));

	bt_principal_to_str(&p, s);
	assert_int_equal(strlen(s), 43);
	memset(&q, 0, sizeof(q));
	assert_int_equal(bt_principal_from_str(&q, s), 0);
	assert_true(bt_principal_equal(&p, &q));
	bt_key_free(k);
}

static void
test_principal_from_str_is_strict(void **state)
{
	struct bt_principal p, untouched;
	char                s[BT_PRINCIPAL_STR_LEN + 1], t[64];

	memset(p.b, 0xff, sizeof(p.b));
	bt_principal_to_str(&p, s);
	assert_string_equal(s, "__________________________________________8");
	memset(&untouched, 0x11, sizeof(untouched));
	p = untouched;
	// Too short, too long, a bad character, padding, non-zero tail bits.
	assert_int_equal(bt_principal_from_str(&p, "abc"), -EINVAL);
	snprintf(t, sizeof(t), "%sA", s);
	assert_int_equal(bt_principal_from_str(&p, t), -EINVAL);
	snprintf(t, sizeof(t), "%s", s);
	t[5] = '+';
	assert_int_equal(bt_principal_from_str(&p, t), -EINVAL);
	t[5] = '=';
	assert_int_equal(bt_principal_from_str(&p, t), -EINVAL);
	snprintf(t, sizeof(t), "%s", s);
	t[42] = '9'; // 0x3d: the low two bits are not zero
	assert_int_equal(bt_principal_from_str(&p, t), -EINVAL);
	assert_int_equal(bt_principal_from_strn(&p, s, 42), -EINVAL);
	assert_memory_equal(&p, &untouched, sizeof(p));
	assert_int_equal(bt_principal_from_strn(&p, s, 43), 0);
}

/* Key files. */

struct files {
	char *dir;
	char *path;
};

static int
setup(void **state)
{
	struct files *f = bt_zalloc(sizeof(*f));

	f->dir = bt_test_tmpdir();
	f->path = bt_test_path(f->dir, "key");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct files *f = *state;

	// A failed test may have left its syscall table in force.
	bt_os_set_ops(NULL);
	bt_free(f->path);
	bt_test_tmpdir_remove(f->dir);
	bt_free(f);
	return 0;
}

static void
write_text(const char *path, const char *text, mode_t mode)
{
	assert_int_equal(
	    bt_os_write_file_atomic(path, text, strlen(text), mode), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void
test_key_file_round_trips_with_mode_0600(void **state)
{
	struct files       *f = *state;
	struct bt_principal p, q;
	struct bt_diag      d;
	struct stat         st;
	bt_key             *k, *l;

	assert_int_equal(bt_key_generate(&k, BT_KEY_ED25519), 0);
	assert_int_equal(bt_key_save(k, f->path), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(bt_key_load(&l, f->path, &d), 0);
	assert_true(bt_key_has_private(l));
	bt_key_principal(k, &p);
	bt_key_principal(l, &q);
	assert_true(bt_principal_equal(&p, &q));
	bt_key_free(l);

	// The public half alone, written 0644, loads without the check.
	assert_int_equal(bt_key_save_public(k, f->path), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(bt_key_load(&l, f->path, &d), 0);
	assert_false(bt_key_has_private(l));
	bt_key_principal(l, &q);
	assert_true(bt_principal_equal(&p, &q));
	bt_key_free(l);
	bt_key_free(k);
}

static void
test_key_load_refuses_private_key_readable_by_others(void **state)
{
	struct files  *f = *state;
	struct bt_diag d;
	bt_key        *k, *l = NULL;

	assert_int_equal(bt_key_generate(&k, BT_KEY_ED25519), 0);
	assert_int_equal(bt_key_save(k, f->path), 0);
	assert_int_equal(chmod(f->path, 0644), 0);
	bt_diag_clear(&d);
	assert_int_equal(bt_key_load(&l, f->path, &d), BT_EPERM);
	assert_null(l);
	assert_non_null(strstr(d.msg, "permissions 0644 for '"));
	assert_non_null(strstr(d.msg, "are too open"));
	assert_int_equal(chmod(f->path, 0640), 0);
	assert_int_equal(bt_key_load(&l, f->path, &d), BT_EPERM);
	assert_int_equal(chmod(f->path, 0604), 0);
	assert_int_equal(bt_key_load(&l, f->path, &d), BT_EPERM);
	// Its public half is still readable.
	assert_int_equal(bt_key_load_public(&l, f->path, &d), 0);
	assert_false(bt_key_has_private(l));
	bt_key_free(l);
	assert_int_equal(chmod(f->path, 0400), 0);
	assert_int_equal(bt_key_load(&l, f->path, &d), 0);
	bt_key_free(l);
	bt_key_free(k);
}

static void
test_key_load_rejects_malformed_files(void **state)
{
	struct files *f = *state;
	// RFC 8032 test 1 as a key file, then broken copies of it.
	static const char good[]
	    = "bt-key 1\n"
	      "alg ed25519\n"
	      "public 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\n"
	      "private nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n";
	static const struct {
		const char *text;
		int         rc;
	} bad[] = {
		{ "", BT_ECORRUPT },
		{ "bt-key 2\nalg ed25519\n", BT_ECORRUPT },
		{ "bt-key 1\nalg p256\npublic AAAA\n", BT_EALG },
		{ "bt-key 1\nalg ed25519\npublic AAAA\n", BT_ECORRUPT },
		{ "bt-key 1\nalg ed25519\n"
		  "public 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
		    BT_ECORRUPT },
		{ "bt-key 1\nalg ed25519\n"
		  "public 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\n"
		  "private nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n"
		  "extra\n",
		    BT_ECORRUPT },
		// The public key of RFC 8032 test 2 with test 1's seed.
		{ "bt-key 1\nalg ed25519\n"
		  "public PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw\n"
		  "private nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n",
		    BT_ECORRUPT },
		{ "bt-key 1\nalg ed25519\n"
		  "public 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\n"
		  "private nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2\n",
		    BT_ECORRUPT },
		{ "bt-key 1\r\nalg ed25519\n", BT_ECORRUPT },
	};
	uint8_t             seed[32];
	struct bt_principal p, q;
	struct bt_diag      d;
	bt_key             *k = NULL;

	write_text(f->path, good, 0600);
	assert_int_equal(bt_key_load(&k, f->path, &d), 0);
	assert_int_equal(bt_hex_decode(seed, sizeof(seed),
	                     "9d61b19deffd5a60ba844af492ec2cc44449c5697b3269"
	                     "19703bac031cae7f60",
	                     64),
	    32);
	bt_key_principal(k, &p);
	bt_key_free(k);
	assert_int_equal(bt_key_from_seed(&k, BT_KEY_ED25519, seed), 0);
	bt_key_principal(k, &q);
	assert_true(bt_principal_equal(&p, &q));
	bt_key_free(k);
	k = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text(f->path, bad[i].text, 0600);
		bt_diag_clear(&d);
		if (bt_key_load(&k, f->path, &d) != bad[i].rc)
			fail_msg("case %zu: wrong rc (%s)", i, d.msg);
		assert_null(k);
		assert_true(d.msg[0] != '\0');
	}
	bt_diag_clear(&d);
	assert_int_equal(bt_key_load(&k, "/nonexistent/key", &d), -ENOENT);
	assert_non_null(strstr(d.msg, "/nonexistent/key"));
}

/*
 * Review finding C1: "alg ed25519\0junk" was read as "ed25519" (strcmp
 * stops at the NUL). Any NUL in a key file is BT_ECORRUPT at its offset.
 */
static void
test_key_load_rejects_nul_byte(void **state)
{
	struct files     *f = *state;
	static const char text[]
	    = "bt-key 1\n"
	      "alg ed25519\0junk\n"
	      "public 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\n"
	      "private nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n";
	static const char pub_nul[]
	    = "bt-key 1\n"
	      "alg ed25519\n"
	      "public 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\n\0";
	struct bt_diag d;
	bt_key        *k = NULL;

	assert_int_equal(
	    bt_os_write_file_atomic(f->path, text, sizeof(text) - 1, 0600), 0);
	bt_diag_clear(&d);
	assert_int_equal(bt_key_load(&k, f->path, &d), BT_ECORRUPT);
	assert_null(k);
	assert_int_equal(d.off, 20); // "bt-key 1\nalg ed25519" is 20 bytes
	assert_non_null(strstr(d.msg, "NUL"));
	bt_diag_clear(&d);
	assert_int_equal(bt_key_load_public(&k, f->path, &d), BT_ECORRUPT);
	assert_int_equal(d.off, 20);
	// A NUL anywhere, even after the last newline.
	assert_int_equal(bt_os_write_file_atomic(
	                     f->path, pub_nul, sizeof(pub_nul) - 1, 0644),
	    0);
	bt_diag_clear(&d);
	assert_int_equal(bt_key_load_public(&k, f->path, &d), BT_ECORRUPT);
	assert_int_equal(d.off, (int64_t)sizeof(pub_nul) - 2);
	assert_null(k);
}

/*
 * Review finding C2: a FIFO is refused at once rather than blocking the
 * open (O_NONBLOCK). Without it the open would wait for a writer forever;
 * the alarm turns that into a failure.
 */
static void
test_key_load_refuses_fifo_without_blocking(void **state)
{
	struct files  *f = *state;
	struct bt_diag d;
	bt_key        *k = NULL;

	assert_int_equal(mkfifo(f->path, 0600), 0);
	alarm(10);
	bt_diag_clear(&d);
	assert_int_equal(bt_key_load(&k, f->path, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "not a regular file"));
	assert_int_equal(bt_key_load_public(&k, f->path, &d), -EINVAL);
	alarm(0);
	assert_null(k);
}

/*
 * Review finding C3: like ssh, a private key file owned by another user
 * (not us, not root) is refused. Needs root to give the file away.
 */
static void
test_key_load_refuses_private_key_owned_by_another_user(void **state)
{
	struct files  *f = *state;
	struct bt_diag d;
	bt_key        *k, *l = NULL;

	if (geteuid() != 0)
		skip();
	assert_int_equal(bt_key_generate(&k, BT_KEY_ED25519), 0);
	assert_int_equal(bt_key_save(k, f->path), 0);
	// Owned by root (us): accepted.
	assert_int_equal(bt_key_load(&l, f->path, &d), 0);
	bt_key_free(l);
	l = NULL;
	assert_int_equal(chown(f->path, 12345, (gid_t)-1), 0);
	bt_diag_clear(&d);
	assert_int_equal(bt_key_load(&l, f->path, &d), BT_EPERM);
	assert_null(l);
	assert_non_null(strstr(d.msg, "owned by uid 12345"));
	// Its public half is still readable.
	assert_int_equal(bt_key_load_public(&l, f->path, &d), 0);
	bt_key_free(l);
	bt_key_free(k);
}

/*
 * Review finding C8: a public key file about to be trusted (issued to) is
 * refused when others could rewrite it: group- or other-writable, or
 * owned by another user.
 */
static void
test_key_load_public_trusted_refuses_writable_files(void **state)
{
	struct files  *f = *state;
	struct bt_diag d;
	bt_key        *k, *l = NULL;

	assert_int_equal(bt_key_generate(&k, BT_KEY_ED25519), 0);
	assert_int_equal(bt_key_save_public(k, f->path), 0);
	assert_int_equal(bt_key_load_public_trusted(&l, f->path, &d), 0);
	bt_key_free(l);
	l = NULL;
	assert_int_equal(chmod(f->path, 0664), 0);
	bt_diag_clear(&d);
	assert_int_equal(
	    bt_key_load_public_trusted(&l, f->path, &d), BT_EPERM);
	assert_non_null(strstr(d.msg, "permissions 0664 for '"));
	assert_non_null(strstr(d.msg, "writable"));
	assert_int_equal(chmod(f->path, 0646), 0);
	assert_int_equal(
	    bt_key_load_public_trusted(&l, f->path, &d), BT_EPERM);
	assert_null(l);
	// The plain loader does not judge a public key file.
	assert_int_equal(bt_key_load_public(&l, f->path, &d), 0);
	bt_key_free(l);
	l = NULL;
	// A private key file at 0600 is fine to trust.
	assert_int_equal(bt_key_save(k, f->path), 0);
	assert_int_equal(bt_key_load_public_trusted(&l, f->path, &d), 0);
	bt_key_free(l);
	l = NULL;
	if (geteuid() == 0) {
		assert_int_equal(chmod(f->path, 0644), 0);
		assert_int_equal(chown(f->path, 12345, (gid_t)-1), 0);
		bt_diag_clear(&d);
		assert_int_equal(
		    bt_key_load_public_trusted(&l, f->path, &d), BT_EPERM);
		assert_non_null(strstr(d.msg, "owned by uid 12345"));
	}
	bt_key_free(k);
}

/*
 * Review finding C7: bt_key_save_new never replaces a file, even one that
 * appears while it runs. The race is made deterministic with a syscall
 * table whose fsync (of the temporary file, before it is put in place)
 * creates the target, as a concurrent process could.
 */
static const char      *race_target;
static int              race_fsyncs;
static struct bt_os_ops race_ops; // static: it outlives a failed test

static int
race_fsync(int fd)
{
	if (race_fsyncs++ == 0 && race_target != NULL) {
		int t = open(race_target, O_WRONLY | O_CREAT | O_EXCL, 0600);

		assert_true(t >= 0);
		assert_int_equal(write(t, "theirs\n", 7), 7);
		close(t);
	}
	return bt_os_default_ops()->fsync(fd);
}

static size_t
count_entries(const char *dir)
{
	DIR           *d = opendir(dir);
	struct dirent *e;
	size_t         n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0
		    && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

static void
test_key_save_new_never_replaces_a_file(void **state)
{
	struct files  *f = *state;
	struct bt_diag d;
	struct stat    st;
	uint8_t       *data;
	size_t         len;
	char          *link_path;
	bt_key        *k, *l;

	assert_int_equal(bt_key_generate(&k, BT_KEY_ED25519), 0);
	// Nothing there: written with mode 0600, and it loads.
	assert_int_equal(bt_key_save_new(k, f->path), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(bt_key_load(&l, f->path, &d), 0);
	bt_key_free(l);
	// Something there: -EEXIST, and it is left as it was.
	write_text(f->path, "mine\n", 0600);
	assert_int_equal(bt_key_save_new(k, f->path), -EEXIST);
	assert_int_equal(bt_os_read_file(f->path, 100, &data, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(data, "mine\n", 5);
	bt_free(data);
	// A dangling symbolic link counts as something.
	link_path = bt_test_path(f->dir, "dangling");
	assert_int_equal(symlink("nowhere", link_path), 0);
	assert_int_equal(bt_key_save_new(k, link_path), -EEXIST);
	assert_int_equal(unlink(link_path), 0);
	bt_free(link_path);

	// The race: the target appears after bt_key_save_new has started.
	assert_int_equal(unlink(f->path), 0);
	race_ops = *bt_os_default_ops();
	race_ops.fsync = race_fsync;
	race_target = f->path;
	race_fsyncs = 0;
	bt_os_set_ops(&race_ops);
	assert_int_equal(bt_key_save_new(k, f->path), -EEXIST);
	bt_os_set_ops(NULL);
	race_target = NULL;
	assert_true(race_fsyncs >= 1);
	assert_int_equal(bt_os_read_file(f->path, 100, &data, &len), 0);
	assert_int_equal(len, 7);
	assert_memory_equal(data, "theirs\n", 7);
	bt_free(data);
	// No temporary file is left behind: only the racer's file.
	assert_int_equal(count_entries(f->dir), 1);
	bt_key_free(k);
}

static void
test_key_save_reports_missing_folder(void **state)
{
	bt_key *k;

	assert_int_equal(bt_key_generate(&k, BT_KEY_ED25519), 0);
	assert_int_equal(bt_key_save(k, "/nonexistent/dir/key"), -ENOENT);
	bt_key_free(k);
}

static int
load_body(void *arg)
{
	const char *path = arg;
	bt_key     *k;
	int         rc;

	rc = bt_key_load(&k, path, NULL);
	if (rc != 0)
		return rc;
	bt_key_free(k);
	return 0;
}

static void
test_key_load_survives_allocation_failure(void **state)
{
	struct files *f = *state;
	bt_key       *k;

	assert_int_equal(bt_key_generate(&k, BT_KEY_ED25519), 0);
	assert_int_equal(bt_key_save(k, f->path), 0);
	bt_key_free(k);
	assert_true(bt_test_alloc_torture(load_body, f->path, 50) >= 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ed25519_rfc8032_vectors_match),
		cmocka_unit_test(test_key_unknown_algorithm_is_ealg),
		cmocka_unit_test(
		    test_key_generate_gives_distinct_working_keys),
		cmocka_unit_test(
		    test_principal_is_sha256_of_tag_and_public_key),
		cmocka_unit_test(test_principal_from_str_is_strict),
		cmocka_unit_test_setup_teardown(
		    test_key_file_round_trips_with_mode_0600, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_key_load_refuses_private_key_readable_by_others,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_key_load_rejects_malformed_files, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_key_load_rejects_nul_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_key_load_refuses_fifo_without_blocking, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_key_load_refuses_private_key_owned_by_another_user,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_key_load_public_trusted_refuses_writable_files, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_key_save_new_never_replaces_a_file, setup, teardown),
		cmocka_unit_test(test_key_save_reports_missing_folder),
		cmocka_unit_test_setup_teardown(
		    test_key_load_survives_allocation_failure, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("crypto.key", tests, NULL, NULL);
}
