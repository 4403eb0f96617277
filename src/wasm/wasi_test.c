/*
 * wasi_test.c: unit tests of the WASI layer (CTest wasm.wasi).
 *
 *  - path resolution beneath a folder, with openat2 and with the component
 *    walk: every way out (.., absolute, symbolic links out, chains, loops,
 *    /proc, a dangling link with O_CREAT) fails with BT_EPATH (or ELOOP),
 *    and every way within works;
 *  - the host functions called through the engine, on a module that
 *    re-exports its WASI imports (tests/data/wasm-src/wasi_reexport.wat):
 *    guest pointers out of bounds give EFAULT, escapes ENOTCAPABLE,
 *    readdir cookies resume, proc_exit ends the run;
 *  - context configuration errors, the fd table bound, the errno map, and
 *    allocation torture of bt_wasm_wasi_new.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testing.h"
#include "wasi_int.h"

/* wat2wasm tests/data/wasm-src/wasi_reexport.wat; xxd -i */
static const uint8_t reexport_wasm[] = { 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00,
	0x00, 0x00, 0x01, 0x4d, 0x0a, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x60,
	0x03, 0x7f, 0x7e, 0x7f, 0x01, 0x7f, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f,
	0x01, 0x7f, 0x60, 0x05, 0x7f, 0x7f, 0x7f, 0x7e, 0x7f, 0x01, 0x7f, 0x60,
	0x01, 0x7f, 0x01, 0x7f, 0x60, 0x04, 0x7f, 0x7e, 0x7f, 0x7f, 0x01, 0x7f,
	0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x09, 0x7f, 0x7f, 0x7f,
	0x7f, 0x7f, 0x7e, 0x7e, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x05, 0x7f, 0x7f,
	0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x00, 0x02, 0xfe, 0x04,
	0x11, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73,
	0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31,
	0x0e, 0x61, 0x72, 0x67, 0x73, 0x5f, 0x73, 0x69, 0x7a, 0x65, 0x73, 0x5f,
	0x67, 0x65, 0x74, 0x00, 0x00, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73,
	0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76,
	0x69, 0x65, 0x77, 0x31, 0x08, 0x61, 0x72, 0x67, 0x73, 0x5f, 0x67, 0x65,
	0x74, 0x00, 0x00, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61,
	0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65,
	0x77, 0x31, 0x0b, 0x65, 0x6e, 0x76, 0x69, 0x72, 0x6f, 0x6e, 0x5f, 0x67,
	0x65, 0x74, 0x00, 0x00, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e,
	0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69,
	0x65, 0x77, 0x31, 0x0e, 0x63, 0x6c, 0x6f, 0x63, 0x6b, 0x5f, 0x74, 0x69,
	0x6d, 0x65, 0x5f, 0x67, 0x65, 0x74, 0x00, 0x01, 0x16, 0x77, 0x61, 0x73,
	0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70,
	0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x08, 0x66, 0x64, 0x5f, 0x77,
	0x72, 0x69, 0x74, 0x65, 0x00, 0x02, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f,
	0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65,
	0x76, 0x69, 0x65, 0x77, 0x31, 0x07, 0x66, 0x64, 0x5f, 0x72, 0x65, 0x61,
	0x64, 0x00, 0x02, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61,
	0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65,
	0x77, 0x31, 0x0a, 0x66, 0x64, 0x5f, 0x72, 0x65, 0x61, 0x64, 0x64, 0x69,
	0x72, 0x00, 0x03, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61,
	0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65,
	0x77, 0x31, 0x08, 0x66, 0x64, 0x5f, 0x63, 0x6c, 0x6f, 0x73, 0x65, 0x00,
	0x04, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73,
	0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31,
	0x07, 0x66, 0x64, 0x5f, 0x73, 0x65, 0x65, 0x6b, 0x00, 0x05, 0x16, 0x77,
	0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74,
	0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x13, 0x66, 0x64,
	0x5f, 0x70, 0x72, 0x65, 0x73, 0x74, 0x61, 0x74, 0x5f, 0x64, 0x69, 0x72,
	0x5f, 0x6e, 0x61, 0x6d, 0x65, 0x00, 0x06, 0x16, 0x77, 0x61, 0x73, 0x69,
	0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72,
	0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x09, 0x70, 0x61, 0x74, 0x68, 0x5f,
	0x6f, 0x70, 0x65, 0x6e, 0x00, 0x07, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f,
	0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65,
	0x76, 0x69, 0x65, 0x77, 0x31, 0x11, 0x70, 0x61, 0x74, 0x68, 0x5f, 0x66,
	0x69, 0x6c, 0x65, 0x73, 0x74, 0x61, 0x74, 0x5f, 0x67, 0x65, 0x74, 0x00,
	0x08, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73,
	0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31,
	0x15, 0x70, 0x61, 0x74, 0x68, 0x5f, 0x63, 0x72, 0x65, 0x61, 0x74, 0x65,
	0x5f, 0x64, 0x69, 0x72, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x79, 0x00, 0x06,
	0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68,
	0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x0b,
	0x70, 0x6f, 0x6c, 0x6c, 0x5f, 0x6f, 0x6e, 0x65, 0x6f, 0x66, 0x66, 0x00,
	0x02, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73,
	0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31,
	0x09, 0x70, 0x72, 0x6f, 0x63, 0x5f, 0x65, 0x78, 0x69, 0x74, 0x00, 0x09,
	0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68,
	0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x09,
	0x73, 0x6f, 0x63, 0x6b, 0x5f, 0x73, 0x65, 0x6e, 0x64, 0x00, 0x08, 0x16,
	0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f,
	0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x0d, 0x66,
	0x64, 0x5f, 0x66, 0x64, 0x73, 0x74, 0x61, 0x74, 0x5f, 0x67, 0x65, 0x74,
	0x00, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x80, 0x02, 0x12, 0x06,
	0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x0e, 0x61, 0x72, 0x67,
	0x73, 0x5f, 0x73, 0x69, 0x7a, 0x65, 0x73, 0x5f, 0x67, 0x65, 0x74, 0x00,
	0x00, 0x08, 0x61, 0x72, 0x67, 0x73, 0x5f, 0x67, 0x65, 0x74, 0x00, 0x01,
	0x0b, 0x65, 0x6e, 0x76, 0x69, 0x72, 0x6f, 0x6e, 0x5f, 0x67, 0x65, 0x74,
	0x00, 0x02, 0x0e, 0x63, 0x6c, 0x6f, 0x63, 0x6b, 0x5f, 0x74, 0x69, 0x6d,
	0x65, 0x5f, 0x67, 0x65, 0x74, 0x00, 0x03, 0x08, 0x66, 0x64, 0x5f, 0x77,
	0x72, 0x69, 0x74, 0x65, 0x00, 0x04, 0x07, 0x66, 0x64, 0x5f, 0x72, 0x65,
	0x61, 0x64, 0x00, 0x05, 0x0a, 0x66, 0x64, 0x5f, 0x72, 0x65, 0x61, 0x64,
	0x64, 0x69, 0x72, 0x00, 0x06, 0x08, 0x66, 0x64, 0x5f, 0x63, 0x6c, 0x6f,
	0x73, 0x65, 0x00, 0x07, 0x07, 0x66, 0x64, 0x5f, 0x73, 0x65, 0x65, 0x6b,
	0x00, 0x08, 0x13, 0x66, 0x64, 0x5f, 0x70, 0x72, 0x65, 0x73, 0x74, 0x61,
	0x74, 0x5f, 0x64, 0x69, 0x72, 0x5f, 0x6e, 0x61, 0x6d, 0x65, 0x00, 0x09,
	0x09, 0x70, 0x61, 0x74, 0x68, 0x5f, 0x6f, 0x70, 0x65, 0x6e, 0x00, 0x0a,
	0x11, 0x70, 0x61, 0x74, 0x68, 0x5f, 0x66, 0x69, 0x6c, 0x65, 0x73, 0x74,
	0x61, 0x74, 0x5f, 0x67, 0x65, 0x74, 0x00, 0x0b, 0x15, 0x70, 0x61, 0x74,
	0x68, 0x5f, 0x63, 0x72, 0x65, 0x61, 0x74, 0x65, 0x5f, 0x64, 0x69, 0x72,
	0x65, 0x63, 0x74, 0x6f, 0x72, 0x79, 0x00, 0x0c, 0x0b, 0x70, 0x6f, 0x6c,
	0x6c, 0x5f, 0x6f, 0x6e, 0x65, 0x6f, 0x66, 0x66, 0x00, 0x0d, 0x09, 0x70,
	0x72, 0x6f, 0x63, 0x5f, 0x65, 0x78, 0x69, 0x74, 0x00, 0x0e, 0x09, 0x73,
	0x6f, 0x63, 0x6b, 0x5f, 0x73, 0x65, 0x6e, 0x64, 0x00, 0x0f, 0x0d, 0x66,
	0x64, 0x5f, 0x66, 0x64, 0x73, 0x74, 0x61, 0x74, 0x5f, 0x67, 0x65, 0x74,
	0x00, 0x10 };

struct fx {
	char *tmp; /* the test's folder */
	char *sandbox; /* tmp/sandbox, the preopen */
	int   root; /* an fd of sandbox */
};

static void
put_file(const char *dir, const char *name, const char *text)
{
	char *p = bt_test_path(dir, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	bt_free(p);
}

static void
put_link(const char *dir, const char *name, const char *target)
{
	char *p = bt_test_path(dir, name);

	assert_int_equal(symlink(target, p), 0);
	bt_free(p);
}

static int
setup(void **state)
{
	struct fx *f = bt_zalloc(sizeof(*f));
	char      *sub, *abs_target;

	assert_non_null(f);
	f->tmp = bt_test_tmpdir();
	f->sandbox = bt_test_path(f->tmp, "sandbox");
	assert_int_equal(mkdir(f->sandbox, 0755), 0);
	sub = bt_test_path(f->sandbox, "sub");
	assert_int_equal(mkdir(sub, 0755), 0);
	put_file(f->tmp, "outside.txt", "secret\n");
	put_file(f->sandbox, "inside.txt", "inside\n");
	put_file(sub, "deep.txt", "deep\n");
	put_link(f->sandbox, "link_in", "sub/deep.txt");
	put_link(sub, "link_up", "../inside.txt");
	put_link(sub, "link_root", "..");
	put_link(f->sandbox, "link_out", "../outside.txt");
	abs_target = bt_test_path(f->tmp, "outside.txt");
	put_link(f->sandbox, "link_abs", abs_target);
	bt_free(abs_target);
	put_link(f->sandbox, "link_dir_out", "..");
	put_link(f->sandbox, "link_proc", "/proc/self/root");
	put_link(f->sandbox, "chain1", "chain2");
	put_link(f->sandbox, "chain2", "sub/chain3");
	put_link(sub, "chain3", "../../outside.txt");
	put_link(f->sandbox, "loop1", "loop2");
	put_link(f->sandbox, "loop2", "loop1");
	put_link(f->sandbox, "dangling_out", "../created.txt");
	bt_free(sub);
	f->root = open(f->sandbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->root >= 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	close(f->root);
	bt_free(f->sandbox);
	bt_test_tmpdir_remove(f->tmp);
	bt_free(f);
	return 0;
}

/* open_rc opens path below root and returns 0 or the error; on success
 * checks the first line against want (if not NULL). */
static int
open_rc(
    int root, const char *path, unsigned flags, int oflags, const char *want)
{
	char    buf[64];
	ssize_t n;
	int     fd;

	fd = bt__wasi_open(root, path, strlen(path), oflags, 0644, flags);
	if (fd < 0)
		return fd;
	if (want != NULL) {
		n = read(fd, buf, sizeof(buf) - 1);
		assert_true(n >= 0);
		buf[n] = '\0';
		assert_string_equal(buf, want);
	}
	close(fd);
	return 0;
}

static void
check_escapes(struct fx *f, unsigned mode)
{
	unsigned fl = mode | WASI_RES_FOLLOW;
	char    *created;

	/* within */
	assert_int_equal(
	    open_rc(f->root, "inside.txt", fl, O_RDONLY, "inside\n"), 0);
	assert_int_equal(
	    open_rc(f->root, "sub/../inside.txt", fl, O_RDONLY, "inside\n"),
	    0);
	assert_int_equal(
	    open_rc(f->root, "link_in", fl, O_RDONLY, "deep\n"), 0);
	assert_int_equal(
	    open_rc(f->root, "sub/link_up", fl, O_RDONLY, "inside\n"), 0);
	assert_int_equal(open_rc(f->root, "sub/link_root/inside.txt", fl,
	                     O_RDONLY, "inside\n"),
	    0);
	assert_int_equal(
	    open_rc(f->root, ".", fl, O_RDONLY | O_DIRECTORY, NULL), 0);
	assert_int_equal(
	    open_rc(f->root, "sub/", fl, O_RDONLY | O_DIRECTORY, NULL), 0);

	/* out */
	assert_int_equal(
	    open_rc(f->root, "../outside.txt", fl, O_RDONLY, NULL), BT_EPATH);
	assert_int_equal(
	    open_rc(f->root, "..", fl, O_RDONLY | O_DIRECTORY, NULL),
	    BT_EPATH);
	assert_int_equal(
	    open_rc(f->root, "sub/../../outside.txt", fl, O_RDONLY, NULL),
	    BT_EPATH);
	assert_int_equal(
	    open_rc(f->root, "/etc/passwd", fl, O_RDONLY, NULL), BT_EPATH);
	assert_int_equal(
	    open_rc(f->root, "link_out", fl, O_RDONLY, NULL), BT_EPATH);
	assert_int_equal(
	    open_rc(f->root, "link_abs", fl, O_RDONLY, NULL), BT_EPATH);
	assert_int_equal(
	    open_rc(f->root, "link_dir_out/outside.txt", mode, O_RDONLY, NULL),
	    BT_EPATH);
	assert_int_equal(
	    open_rc(f->root, "link_proc/etc/passwd", fl, O_RDONLY, NULL),
	    BT_EPATH);
	assert_int_equal(
	    open_rc(f->root, "chain1", fl, O_RDONLY, NULL), BT_EPATH);
	assert_int_equal(open_rc(f->root, "sub/link_root/../outside.txt", fl,
	                     O_RDONLY, NULL),
	    BT_EPATH);
	assert_int_equal(
	    open_rc(f->root, "dangling_out", fl, O_WRONLY | O_CREAT, NULL),
	    BT_EPATH);
	created = bt_test_path(f->tmp, "created.txt");
	assert_int_equal(access(created, F_OK), -1);
	bt_free(created);

	/* errors that are not escapes */
	assert_int_equal(
	    open_rc(f->root, "loop1", fl, O_RDONLY, NULL), -ELOOP);
	assert_int_equal(open_rc(f->root, "link_in", mode, O_RDONLY, NULL),
	    -ELOOP); /* no follow: the link itself is refused */
	assert_int_equal(open_rc(f->root, "", fl, O_RDONLY, NULL), -ENOENT);
	assert_int_equal(
	    open_rc(f->root, "missing/x", fl, O_RDONLY, NULL), -ENOENT);
	assert_int_equal(
	    open_rc(f->root, "inside.txt/x", fl, O_RDONLY, NULL), -ENOTDIR);
}

static void
test_open_refuses_every_escape_with_openat2(void **state)
{
	if (!bt__wasi_have_openat2())
		skip();
	check_escapes(*state, 0);
}

static void
test_open_refuses_every_escape_with_walk(void **state)
{
	check_escapes(*state, WASI_RES_NO_OPENAT2);
}

static void
check_resolve(struct fx *f, unsigned mode)
{
	struct wasi_rpath rp;
	char              nul_path[] = { 'a', '\0', 'b' };
	char             *longp;
	int               rc;

	assert_int_equal(
	    bt__wasi_resolve(f->root, "sub/deep.txt", 12, mode, &rp), 0);
	assert_string_equal(rp.name, "deep.txt");
	assert_true(rp.owned);
	assert_false(rp.must_dir);
	bt__wasi_rpath_fini(&rp);

	assert_int_equal(
	    bt__wasi_resolve(f->root, "inside.txt", 10, mode, &rp), 0);
	assert_string_equal(rp.name, "inside.txt");
	assert_int_equal(rp.dirfd, f->root); /* no syscall for the root */
	assert_false(rp.owned);
	bt__wasi_rpath_fini(&rp);

	assert_int_equal(bt__wasi_resolve(f->root, "sub//", 5, mode, &rp), 0);
	assert_string_equal(rp.name, "sub");
	assert_true(rp.must_dir);
	bt__wasi_rpath_fini(&rp);

	assert_int_equal(bt__wasi_resolve(f->root, "sub/..", 6, mode, &rp), 0);
	assert_string_equal(rp.name, ".");
	bt__wasi_rpath_fini(&rp);

	/* the last component is not followed unless asked */
	assert_int_equal(
	    bt__wasi_resolve(f->root, "link_out", 8, mode, &rp), 0);
	assert_string_equal(rp.name, "link_out");
	bt__wasi_rpath_fini(&rp);
	assert_int_equal(bt__wasi_resolve(f->root, "link_out", 8,
	                     mode | WASI_RES_FOLLOW, &rp),
	    BT_EPATH);
	assert_int_equal(bt__wasi_resolve(f->root, "link_in", 7,
	                     mode | WASI_RES_FOLLOW, &rp),
	    0);
	assert_string_equal(rp.name, "deep.txt");
	bt__wasi_rpath_fini(&rp);

	assert_int_equal(
	    bt__wasi_resolve(f->root, "../x", 4, mode, &rp), BT_EPATH);
	assert_int_equal(
	    bt__wasi_resolve(f->root, "link_dir_out/x", 14, mode, &rp),
	    BT_EPATH);
	assert_int_equal(
	    bt__wasi_resolve(f->root, nul_path, 3, mode, &rp), -EILSEQ);
	longp = bt_alloc(WASI_MAX_PATH + 2);
	assert_non_null(longp);
	memset(longp, 'a', WASI_MAX_PATH + 1);
	rc = bt__wasi_resolve(f->root, longp, WASI_MAX_PATH + 1, mode, &rp);
	assert_int_equal(rc, -ENAMETOOLONG);
	bt_free(longp);
}

static void
test_resolve_names_parent_and_last_component(void **state)
{
	check_resolve(*state, WASI_RES_NO_OPENAT2);
	if (bt__wasi_have_openat2())
		check_resolve(*state, 0);
}

static void
test_walk_stops_long_symlink_chains(void **state)
{
	struct fx *f = *state;
	char       name[32], target[32];

	/* c0 -> c1 -> ... -> c40 -> inside.txt: more than WASI_MAX_SYMLINKS */
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		snprintf(target, sizeof(target), "c%d", i + 1);
		put_link(f->sandbox, name, target);
	}
	put_link(f->sandbox, "c40", "inside.txt");
	assert_int_equal(
	    open_rc(f->root, "c0", WASI_RES_FOLLOW | WASI_RES_NO_OPENAT2,
	        O_RDONLY, NULL),
	    -ELOOP);
	assert_int_equal(
	    open_rc(f->root, "c20", WASI_RES_FOLLOW | WASI_RES_NO_OPENAT2,
	        O_RDONLY, "inside\n"),
	    0);
}

/*
 * The host functions through the engine.
 */

struct run {
	bt_wasm_module   *m;
	bt_wasm_linker   *l;
	bt_wasm_instance *inst;
	bt_wasm_wasi     *w;
	uint8_t          *mem;
	size_t            memlen;
};

static void
run_open(struct run *r, struct fx *f, unsigned flags, int stdin_fd)
{
	static const char *const    argv[] = { "prog", "a1", "second arg" };
	static const char *const    env[] = { "K=V", "EMPTY=" };
	struct bt_wasm_wasi_preopen po = { f->sandbox, "/sandbox" };
	struct bt_wasm_wasi_config  wc;
	struct bt_diag              diag;

	memset(r, 0, sizeof(*r));
	memset(&wc, 0, sizeof(wc));
	wc.version = 1;
	wc.flags = flags | BT_WASM_WASI_STDIO_FDS;
	wc.stdio_fds[0] = stdin_fd;
	wc.stdio_fds[1] = -1;
	wc.stdio_fds[2] = -1;
	wc.argc = 3;
	wc.argv = argv;
	wc.envc = 2;
	wc.env = env;
	wc.npreopens = 1;
	wc.preopens = &po;
	wc.max_fds = 8;
	assert_int_equal(bt_wasm_wasi_new(&r->w, &wc, &diag), 0);
	assert_int_equal(bt_wasm_module_new(&r->m, reexport_wasm,
	                     sizeof(reexport_wasm), &diag),
	    0);
	assert_int_equal(bt_wasm_linker_new(&r->l), 0);
	/* one linker for any context: it is found via the user pointer */
	assert_int_equal(bt_wasm_wasi_link(r->l, NULL), 0);
	assert_int_equal(
	    bt_wasm_instance_new(&r->inst, r->m, r->l, NULL, &diag), 0);
	bt_wasm_instance_set_user(r->inst, r->w);
	r->mem = bt_wasm_instance_memory(r->inst, &r->memlen);
	assert_non_null(r->mem);
}

static void
run_close(struct run *r)
{
	bt_wasm_instance_free(r->inst);
	bt_wasm_linker_free(r->l);
	bt_wasm_module_free(r->m);
	bt_wasm_wasi_free(r->w);
}

/* call calls export name with the i32/i64 arguments of sig ('i'/'I') and
 * returns its i32 result (the WASI errno). */
static int
call(struct run *r, const char *name, const char *sig, ...)
{
	struct bt_wasm_val args[12], res;
	va_list            ap;
	size_t             n = strlen(sig);
	int                rc;

	va_start(ap, sig);
	for (size_t i = 0; i < n; i++) {
		if (sig[i] == 'I') {
			args[i].type = BT_WASM_I64;
			args[i].u.i64 = va_arg(ap, uint64_t);
		} else {
			args[i].type = BT_WASM_I32;
			args[i].u.i32 = va_arg(ap, uint32_t);
		}
	}
	va_end(ap);
	rc = bt_wasm_instance_call(r->inst, name, args, n, &res, 1);
	assert_int_equal(rc, 0);
	return (int)res.u.i32;
}

/* put writes a string at guest address addr and returns its length. */
static uint32_t
put(struct run *r, uint32_t addr, const char *s)
{
	memcpy(r->mem + addr, s, strlen(s));
	return (uint32_t)strlen(s);
}

static int
gopen(struct run *r, uint32_t dirfd, const char *path, uint32_t oflags,
    uint32_t *fd_out)
{
	uint32_t len = put(r, 1000, path);
	int      e;

	e = call(r, "path_open", "iiiiiIIii", dirfd, 1u, 1000u, len, oflags,
	    (uint64_t)-1, (uint64_t)-1, 0u, 900u);
	if (e == 0)
		*fd_out = bt_get_le32(r->mem + 900);
	return e;
}

static void
check_host_functions(struct fx *f, unsigned flags)
{
	struct run r;
	uint32_t   fd, used, n, total, names;
	uint64_t   cookie;
	int        e;

	run_open(&r, f, flags, -1);

	/* arguments and environment */
	assert_int_equal(call(&r, "args_sizes_get", "ii", 0u, 4u), 0);
	assert_int_equal(bt_get_le32(r.mem), 3);
	assert_int_equal(bt_get_le32(r.mem + 4), 5 + 3 + 11);
	assert_int_equal(call(&r, "args_get", "ii", 100u, 200u), 0);
	assert_int_equal(bt_get_le32(r.mem + 104), 205);
	assert_string_equal((char *)r.mem + 205, "a1");
	assert_string_equal((char *)r.mem + 208, "second arg");
	assert_int_equal(call(&r, "environ_get", "ii", 100u, 200u), 0);
	assert_string_equal((char *)r.mem + 204, "EMPTY=");
	/* pointers past the end of memory */
	assert_int_equal(
	    call(&r, "args_get", "ii", 65534u, 200u), WASI_EFAULT);
	assert_int_equal(
	    call(&r, "args_get", "ii", 100u, 65530u), WASI_EFAULT);
	assert_int_equal(
	    call(&r, "clock_time_get", "iIi", 0u, (uint64_t)0, 65535u),
	    WASI_EFAULT);
	assert_int_equal(
	    call(&r, "clock_time_get", "iIi", 9u, (uint64_t)0, 0u),
	    WASI_EINVAL);
	assert_int_equal(
	    call(&r, "sock_send", "iiiii", 0u, 0u, 0u, 0u, 0u), WASI_ENOSYS);

	/* the preopen */
	assert_int_equal(
	    call(&r, "fd_prestat_dir_name", "iii", 3u, 300u, 8u), 0);
	assert_memory_equal(r.mem + 300, "/sandbox", 8);
	assert_int_equal(call(&r, "fd_prestat_dir_name", "iii", 3u, 300u, 3u),
	    WASI_ENAMETOOLONG);
	assert_int_equal(call(&r, "fd_write", "iiii", 1u, 0u, 0u, 8u),
	    WASI_EBADF); /* stdio given as -1 */

	/* open, write, seek, read */
	assert_int_equal(gopen(&r, 3, "new.txt", WASI_O_CREAT, &fd), 0);
	assert_int_equal(fd, 4);
	bt_put_le32(r.mem + 16, 2000);
	bt_put_le32(r.mem + 20, put(&r, 2000, "hello "));
	bt_put_le32(r.mem + 24, 3000);
	bt_put_le32(r.mem + 28, put(&r, 3000, "world"));
	assert_int_equal(call(&r, "fd_write", "iiii", fd, 16u, 2u, 8u), 0);
	assert_int_equal(bt_get_le32(r.mem + 8), 11);
	/* an iovec whose buffer lies past the end: EFAULT, nothing written */
	bt_put_le32(r.mem + 32, 65530);
	bt_put_le32(r.mem + 36, 100);
	assert_int_equal(
	    call(&r, "fd_write", "iiii", fd, 32u, 1u, 8u), WASI_EFAULT);
	assert_int_equal(
	    call(&r, "fd_write", "iiii", fd, 65532u, 1u, 8u), WASI_EFAULT);
	assert_int_equal(
	    call(&r, "fd_seek", "iIii", fd, (uint64_t)0, 0u, 40u), 0);
	bt_put_le32(r.mem + 16, 4000);
	bt_put_le32(r.mem + 20, 64);
	assert_int_equal(call(&r, "fd_read", "iiii", fd, 16u, 1u, 8u), 0);
	assert_int_equal(bt_get_le32(r.mem + 8), 11);
	assert_memory_equal(r.mem + 4000, "hello world", 11);
	assert_int_equal(call(&r, "fd_seek", "iIii", fd, (uint64_t)0, 7u, 40u),
	    WASI_EINVAL);
	assert_int_equal(call(&r, "fd_close", "i", fd), 0);
	assert_int_equal(call(&r, "fd_close", "i", fd), WASI_EBADF);

	/* escapes come back as ENOTCAPABLE */
	assert_int_equal(
	    gopen(&r, 3, "../outside.txt", 0, &fd), WASI_ENOTCAPABLE);
	assert_int_equal(gopen(&r, 3, "chain1", 0, &fd), WASI_ENOTCAPABLE);
	assert_int_equal(
	    gopen(&r, 3, "/etc/passwd", 0, &fd), WASI_ENOTCAPABLE);
	assert_int_equal(call(&r, "path_create_directory", "iii", 3u, 1000u,
	                     put(&r, 1000, "link_dir_out/evil")),
	    WASI_ENOTCAPABLE);
	assert_int_equal(call(&r, "path_filestat_get", "iiiii", 3u, 1u, 1000u,
	                     put(&r, 1000, "link_abs"), 500u),
	    WASI_ENOTCAPABLE);
	assert_int_equal(call(&r, "path_filestat_get", "iiiii", 3u, 0u, 1000u,
	                     put(&r, 1000, "link_abs"), 500u),
	    0);
	assert_int_equal(r.mem[500 + 16], WASI_FT_SYMBOLIC_LINK);
	assert_int_equal(call(&r, "path_open", "iiiiiIIii", 3u, 1u, 65000u,
	                     4000u, 0u, (uint64_t)-1, (uint64_t)-1, 0u, 900u),
	    WASI_EFAULT);
	assert_int_equal(gopen(&r, 7, "inside.txt", 0, &fd), WASI_EBADF);

	/* the fd table is bounded (max_fds 8: 0..2, 3, then 4..7) */
	for (int i = 0; i < 4; i++)
		assert_int_equal(gopen(&r, 3, "inside.txt", 0, &fd), 0);
	assert_int_equal(gopen(&r, 3, "inside.txt", 0, &fd), WASI_EMFILE);
	for (uint32_t i = 4; i < 8; i++)
		assert_int_equal(call(&r, "fd_close", "i", i), 0);

	/* readdir in a buffer too small for all names: the cookie of the
	 * last whole entry resumes after it, and every name comes once */
	assert_int_equal(gopen(&r, 3, "sub", WASI_O_DIRECTORY, &fd), 0);
	cookie = 0;
	total = 0;
	names = 0;
	for (int guard = 0; guard < 100; guard++) {
		uint32_t off = 0;
		uint64_t next = cookie;

		assert_int_equal(call(&r, "fd_readdir", "iiiIi", fd, 5000u,
		                     60u, cookie, 8u),
		    0);
		used = bt_get_le32(r.mem + 8);
		while (off + 24 <= used) {
			n = bt_get_le32(r.mem + 5000 + off + 16);
			if (off + 24 + n > used)
				break; /* cut short */
			next = bt_get_le64(r.mem + 5000 + off);
			off += 24 + n;
			names++;
		}
		total += used;
		if (used < 60)
			break;
		assert_true(next != cookie); /* progress */
		cookie = next;
	}
	/* ., .., deep.txt, link_up, link_root, chain3 */
	assert_int_equal(names, 6);
	assert_true(total > 0);
	assert_int_equal(
	    call(&r, "fd_readdir", "iiiIi", fd, 65530u, 60u, (uint64_t)0, 8u),
	    WASI_EFAULT);
	assert_int_equal(call(&r, "fd_close", "i", fd), 0);

	/* poll_oneoff: a 1 ms relative clock, and no subscriptions */
	memset(r.mem + 6000, 0, 48);
	bt_put_le64(r.mem + 6000, 77);
	r.mem[6008] = 0;
	bt_put_le32(r.mem + 6016, 1);
	bt_put_le64(r.mem + 6024, 1000000);
	assert_int_equal(
	    call(&r, "poll_oneoff", "iiii", 6000u, 6100u, 1u, 8u), 0);
	assert_int_equal(bt_get_le32(r.mem + 8), 1);
	assert_int_equal(bt_get_le64(r.mem + 6100), 77);
	assert_int_equal(call(&r, "poll_oneoff", "iiii", 6000u, 6100u, 0u, 8u),
	    WASI_EINVAL);

	/* proc_exit ends the run with its status */
	{
		struct bt_wasm_val a = { .type = BT_WASM_I32, .u.i32 = 42 };

		e = bt_wasm_instance_call(r.inst, "proc_exit", &a, 1, NULL, 0);
		assert_int_equal(e, BT_WASM_EXITED);
		assert_int_equal(bt_wasm_instance_exit_status(r.inst), 42);
	}
	run_close(&r);
}

static void
test_host_functions_with_openat2(void **state)
{
	if (!bt__wasi_have_openat2())
		skip();
	check_host_functions(*state, 0);
}

static void
test_host_functions_with_walk(void **state)
{
	check_host_functions(*state, BT_WASM_WASI_NO_OPENAT2);
}

static void
test_call_without_context_traps(void **state)
{
	struct bt_wasm_val a[2]
	    = { { .type = BT_WASM_I32 }, { .type = BT_WASM_I32 } },
	    res;
	struct bt_wasm_trap trap;
	struct run          r;

	run_open(&r, *state, 0, -1);
	bt_wasm_instance_set_user(r.inst, NULL);
	assert_int_equal(
	    bt_wasm_instance_call(r.inst, "args_sizes_get", a, 2, &res, 1),
	    BT_ETRAP);
	bt_wasm_instance_trap(r.inst, &trap);
	assert_int_equal(trap.kind, BT_WASM_TRAP_HOST);
	assert_non_null(strstr(trap.msg, "WASI context"));
	run_close(&r);
}

static void
test_poll_reports_ready_fds_before_clocks(void **state)
{
	struct run r;
	int        p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "xyz", 3), 3);
	run_open(&r, *state, 0, p[0]);
	/* fd_read on stdin (a pipe holding 3 bytes), a 10 s clock, and
	 * fd_read on the preopen, which has no poll right */
	memset(r.mem + 6000, 0, 3 * 48);
	bt_put_le64(r.mem + 6000, 1);
	r.mem[6008] = 1;
	bt_put_le32(r.mem + 6016, 0);
	bt_put_le64(r.mem + 6048, 2);
	r.mem[6056] = 0;
	bt_put_le32(r.mem + 6064, 1);
	bt_put_le64(r.mem + 6072, 10000000000ull);
	bt_put_le64(r.mem + 6096, 3);
	r.mem[6104] = 1;
	bt_put_le32(r.mem + 6112, 3);
	assert_int_equal(
	    call(&r, "poll_oneoff", "iiii", 6000u, 6200u, 3u, 8u), 0);
	assert_int_equal(bt_get_le32(r.mem + 8), 2);
	/* the refused subscription is reported first, then the ready fd */
	assert_int_equal(bt_get_le64(r.mem + 6200), 3);
	assert_int_equal(bt_get_le16(r.mem + 6208), WASI_ENOTCAPABLE);
	assert_int_equal(bt_get_le64(r.mem + 6232), 1);
	assert_int_equal(bt_get_le16(r.mem + 6240), 0);
	assert_int_equal(r.mem[6242], 1); /* fd_read */
	assert_int_equal(bt_get_le64(r.mem + 6248), 3); /* nbytes */
	/* and the bytes are there to read */
	bt_put_le32(r.mem + 16, 4000);
	bt_put_le32(r.mem + 20, 64);
	assert_int_equal(call(&r, "fd_read", "iiii", 0u, 16u, 1u, 8u), 0);
	assert_int_equal(bt_get_le32(r.mem + 8), 3);
	assert_memory_equal(r.mem + 4000, "xyz", 3);
	run_close(&r);
	close(p[0]);
	close(p[1]);
}

/*
 * Configuration.
 */

static void
test_new_rejects_bad_configs(void **state)
{
	struct fx                  *f = *state;
	struct bt_wasm_wasi_config  wc;
	struct bt_wasm_wasi_preopen po;
	const char                 *env[] = { "NOEQUALS" };
	struct bt_diag              diag;
	bt_wasm_wasi               *w;

	memset(&wc, 0, sizeof(wc));
	assert_int_equal(bt_wasm_wasi_new(&w, &wc, &diag), -EINVAL);
	wc.version = 1;
	wc.envc = 1;
	wc.env = env;
	assert_int_equal(bt_wasm_wasi_new(&w, &wc, &diag), -EINVAL);
	assert_non_null(strstr(diag.msg, "NOEQUALS"));
	wc.envc = 0;
	po.host = "/nonexistent/bt-wasi-test";
	po.guest = "/x";
	wc.npreopens = 1;
	wc.preopens = &po;
	assert_int_equal(bt_wasm_wasi_new(&w, &wc, &diag), -ENOENT);
	assert_non_null(strstr(diag.msg, "/nonexistent/bt-wasi-test"));
	po.host = f->sandbox;
	po.guest = "";
	assert_int_equal(bt_wasm_wasi_new(&w, &wc, &diag), -EINVAL);
	po.guest = NULL; /* same name as the host path */
	wc.max_fds = BT_WASM_WASI_FDS_MAX + 1;
	assert_int_equal(bt_wasm_wasi_new(&w, &wc, &diag), -EINVAL);
	wc.max_fds = 0;
	assert_int_equal(bt_wasm_wasi_new(&w, &wc, &diag), 0);
	assert_string_equal(w->fds[3].preopen, f->sandbox);
	bt_wasm_wasi_free(w);
	bt_wasm_wasi_free(NULL);
}

static int
new_body(void *arg)
{
	struct fx                  *f = arg;
	static const char *const    argv[] = { "prog", "x" };
	static const char *const    env[] = { "A=B" };
	struct bt_wasm_wasi_preopen po[2]
	    = { { f->sandbox, "/a" }, { f->tmp, "/b" } };
	struct bt_wasm_wasi_config wc;
	bt_wasm_wasi              *w;
	int                        rc;

	memset(&wc, 0, sizeof(wc));
	wc.version = 1;
	wc.argc = 2;
	wc.argv = argv;
	wc.envc = 1;
	wc.env = env;
	wc.npreopens = 2;
	wc.preopens = po;
	rc = bt_wasm_wasi_new(&w, &wc, NULL);
	if (rc == 0)
		bt_wasm_wasi_free(w);
	return rc;
}

static void
test_new_survives_allocation_failures(void **state)
{
	assert_true(bt_test_alloc_torture(new_body, *state, 100) > 1);
}

static void
test_errno_map_follows_the_spec_numbers(void **state)
{
	(void)state;
	assert_int_equal(bt__wasi_errno(0), 0);
	assert_int_equal(bt__wasi_errno(-ENOENT), 44);
	assert_int_equal(bt__wasi_errno(-EBADF), 8);
	assert_int_equal(bt__wasi_errno(-EEXIST), 20);
	assert_int_equal(bt__wasi_errno(-ENOTEMPTY), 55);
	assert_int_equal(bt__wasi_errno(-ENOSYS), 52);
	assert_int_equal(bt__wasi_errno(-ELOOP), 32);
	assert_int_equal(bt__wasi_errno(EACCES), 2);
	assert_int_equal(bt__wasi_errno(BT_EPATH), 76);
	assert_int_equal(bt__wasi_errno(BT_ECORRUPT), WASI_EIO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_open_refuses_every_escape_with_openat2, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_open_refuses_every_escape_with_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_resolve_names_parent_and_last_component, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_walk_stops_long_symlink_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_host_functions_with_openat2, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_host_functions_with_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_poll_reports_ready_fds_before_clocks, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_call_without_context_traps, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_new_rejects_bad_configs, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_new_survives_allocation_failures, setup, teardown),
		cmocka_unit_test(test_errno_map_follows_the_spec_numbers),
	};

	return cmocka_run_group_tests_name("wasm.wasi", tests, NULL, NULL);
}
