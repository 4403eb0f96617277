/*
 * wasi_escape: tries every way out of a preopened folder, through the raw
 * wasi_snapshot_preview1 calls (so wasi-libc's own path checks do not hide
 * what the runtime does), and checks that paths inside still work.
 *
 *   wasi_escape          with --dir SANDBOX:/sandbox as the first preopen
 *
 * The test script makes, inside SANDBOX:
 *   inside.txt ("inside\n"), sub/deep.txt ("deep\n"),
 *   link_in -> sub/deep.txt, link_dotdot_in -> sub/../inside.txt,
 *   sub/link_up -> ../inside.txt, sub/link_root -> ..,
 *   link_out -> ../outside.txt, link_abs -> ABSOLUTE/outside.txt,
 *   link_dir_out -> .., link_proc -> /proc/self/root,
 *   chain1 -> chain2, chain2 -> sub/chain3, sub/chain3 -> ../../outside.txt,
 *   loop1 -> loop2, loop2 -> loop1, dangling_out -> ../created.txt,
 *   link_deep_out -> sub/../../outside.txt
 * and beside it: outside.txt ("secret\n") and victim.txt.
 *
 * Prints "ok NAME" or "FAIL NAME: ..." per check; exits 1 if any failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#define ROOT 3
#define ENOTCAP __WASI_ERRNO_NOTCAPABLE

/* Raw imports, to hand the runtime pointers no C code would make. */
__attribute__((import_module("wasi_snapshot_preview1"),
    import_name("fd_write"))) int32_t raw_fd_write(int32_t fd, int32_t iovs,
    int32_t n, int32_t nwritten);
__attribute__((import_module("wasi_snapshot_preview1"),
    import_name("path_open"))) int32_t raw_path_open(int32_t fd,
    int32_t dirflags, int32_t path, int32_t path_len, int32_t oflags,
    int64_t base, int64_t inherit, int32_t fdflags, int32_t fd_out);
__attribute__((import_module("wasi_snapshot_preview1"),
    import_name("args_get"))) int32_t raw_args_get(int32_t argv,
    int32_t buf);

static int failures;

static void
result(const char *name, int ok, const char *fmt, int a, int b)
{
	if (ok) {
		printf("ok %s\n", name);
		return;
	}
	printf("FAIL %s: ", name);
	printf(fmt, a, b);
	printf("\n");
	failures++;
}

/* open_at opens path below dir with read rights; returns the errno. */
static int
open_at(__wasi_fd_t dir, const char *path, int follow, int oflags,
    __wasi_fd_t *out)
{
	return __wasi_path_open(dir, follow ? __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW
					    : 0,
	    path, (__wasi_oflags_t)oflags,
	    __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE |
		__WASI_RIGHTS_FD_READDIR | __WASI_RIGHTS_PATH_OPEN |
		__WASI_RIGHTS_FD_FILESTAT_GET,
	    (__wasi_rights_t)-1, 0, out);
}

/* read_first reads up to 63 bytes of fd into buf (NUL-terminated). */
static void
read_first(__wasi_fd_t fd, char *buf)
{
	__wasi_iovec_t iov = { (uint8_t *)buf, 63 };
	__wasi_size_t n = 0;

	if (__wasi_fd_read(fd, &iov, 1, &n) != 0)
		n = 0;
	buf[n] = '\0';
}

static void
must_open(const char *name, const char *path, int follow, const char *want)
{
	char buf[64];
	__wasi_fd_t fd;
	int e = open_at(ROOT, path, follow, 0, &fd);

	if (e != 0) {
		result(name, 0, "errno %d opening inside%s", e, 0);
		return;
	}
	read_first(fd, buf);
	(void)__wasi_fd_close(fd);
	result(name, strcmp(buf, want) == 0, "read other contents%s%s", 0, 0);
}

static void
must_refuse(const char *name, const char *path, int follow, int oflags,
    int want)
{
	char buf[64];
	__wasi_fd_t fd;
	int e = open_at(ROOT, path, follow, oflags, &fd);

	if (e == 0) {
		read_first(fd, buf);
		(void)__wasi_fd_close(fd);
		printf("ESCAPED %s: read '%s'\n", name, buf);
		failures++;
		return;
	}
	result(name, e == want, "errno %d, expected %d", e, want);
}

int
main(void)
{
	__wasi_prestat_t ps;
	__wasi_filestat_t st;
	__wasi_fd_t fd, sub;
	char name[64], buf[64];
	int e;

	e = __wasi_fd_prestat_get(ROOT, &ps);
	result("prestat", e == 0 && ps.u.dir.pr_name_len == 8, "errno %d%s",
	    e, 0);
	memset(name, 0, sizeof(name));
	e = __wasi_fd_prestat_dir_name(ROOT, (uint8_t *)name, 8);
	result("prestat-name", e == 0 && strcmp(name, "/sandbox") == 0,
	    "errno %d%s", e, 0);
	e = __wasi_fd_prestat_get(0, &ps);
	result("prestat-stdin-badf", e == __WASI_ERRNO_BADF, "errno %d%s", e,
	    0);

	/* inside: all of these must work */
	must_open("inside", "inside.txt", 1, "inside\n");
	must_open("inside-dot", "./inside.txt", 1, "inside\n");
	must_open("inside-dotdot", "sub/../inside.txt", 1, "inside\n");
	must_open("inside-deep", "sub/deep.txt", 1, "deep\n");
	must_open("link-in", "link_in", 1, "deep\n");
	must_open("link-dotdot-in", "link_dotdot_in", 1, "inside\n");
	must_open("link-up-in", "sub/link_up", 1, "inside\n");
	must_open("link-root-in", "sub/link_root/inside.txt", 1, "inside\n");

	/* every way out */
	must_refuse("dotdot", "../outside.txt", 1, 0, ENOTCAP);
	must_refuse("dotdot-dir", "..", 1, __WASI_OFLAGS_DIRECTORY, ENOTCAP);
	must_refuse("dotdot-deep", "sub/../../outside.txt", 1, 0, ENOTCAP);
	must_refuse("dotdot-many", "sub/./../sub/../../../../../etc/passwd",
	    1, 0, ENOTCAP);
	must_refuse("absolute", "/etc/passwd", 1, 0, ENOTCAP);
	must_refuse("absolute-slashes", "//etc/passwd", 1, 0, ENOTCAP);
	must_refuse("symlink-out", "link_out", 1, 0, ENOTCAP);
	must_refuse("symlink-abs", "link_abs", 1, 0, ENOTCAP);
	must_refuse("symlink-dir-out", "link_dir_out/outside.txt", 1, 0,
	    ENOTCAP);
	must_refuse("symlink-dir-out-nofollow", "link_dir_out/outside.txt", 0,
	    0, ENOTCAP);
	must_refuse("symlink-proc", "link_proc/etc/passwd", 1, 0, ENOTCAP);
	must_refuse("symlink-chain", "chain1", 1, 0, ENOTCAP);
	must_refuse("symlink-root-then-up", "sub/link_root/../outside.txt", 1,
	    0, ENOTCAP);
	must_refuse("symlink-deep-out", "link_deep_out", 1, 0, ENOTCAP);
	must_refuse("symlink-loop", "loop1", 1, 0, __WASI_ERRNO_LOOP);
	must_refuse("nofollow-link", "link_in", 0, 0, __WASI_ERRNO_LOOP);
	must_refuse("create-through-dangling", "dangling_out", 1,
	    __WASI_OFLAGS_CREAT, ENOTCAP);
	must_refuse("empty", "", 1, 0, __WASI_ERRNO_NOENT);
	must_refuse("proc-self", "../../../../proc/self/root/etc/passwd", 1, 0,
	    ENOTCAP);

	/* an fd opened below the preopen is a root of its own */
	e = open_at(ROOT, "sub", 1, __WASI_OFLAGS_DIRECTORY, &sub);
	result("open-sub", e == 0, "errno %d%s", e, 0);
	if (e == 0) {
		e = open_at(sub, "deep.txt", 1, 0, &fd);
		if (e == 0) {
			read_first(fd, buf);
			(void)__wasi_fd_close(fd);
		}
		result("sub-inside", e == 0 && strcmp(buf, "deep\n") == 0,
		    "errno %d%s", e, 0);
		e = open_at(sub, "../inside.txt", 1, 0, &fd);
		result("sub-dotdot", e == ENOTCAP, "errno %d, expected %d", e,
		    ENOTCAP);
		if (e == 0)
			(void)__wasi_fd_close(fd);
		e = open_at(sub, "link_up", 1, 0, &fd);
		result("sub-link-up", e == ENOTCAP, "errno %d, expected %d", e,
		    ENOTCAP);
		if (e == 0)
			(void)__wasi_fd_close(fd);
		(void)__wasi_fd_close(sub);
	}

	/* the other path calls refuse escapes too */
	e = __wasi_path_filestat_get(ROOT, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW,
	    "../outside.txt", &st);
	result("stat-dotdot", e == ENOTCAP, "errno %d, expected %d", e,
	    ENOTCAP);
	e = __wasi_path_filestat_get(ROOT, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW,
	    "link_out", &st);
	result("stat-symlink-out", e == ENOTCAP, "errno %d, expected %d", e,
	    ENOTCAP);
	e = __wasi_path_filestat_get(ROOT, 0, "link_out", &st);
	result("stat-symlink-nofollow",
	    e == 0 && st.filetype == __WASI_FILETYPE_SYMBOLIC_LINK,
	    "errno %d type %d", e, st.filetype);
	e = __wasi_path_create_directory(ROOT, "../evil");
	result("mkdir-dotdot", e == ENOTCAP, "errno %d, expected %d", e,
	    ENOTCAP);
	e = __wasi_path_create_directory(ROOT, "link_dir_out/evil");
	result("mkdir-symlink-out", e == ENOTCAP, "errno %d, expected %d", e,
	    ENOTCAP);
	e = __wasi_path_unlink_file(ROOT, "../victim.txt");
	result("unlink-dotdot", e == ENOTCAP, "errno %d, expected %d", e,
	    ENOTCAP);
	e = __wasi_path_unlink_file(ROOT, "link_dir_out/victim.txt");
	result("unlink-symlink-out", e == ENOTCAP, "errno %d, expected %d", e,
	    ENOTCAP);
	e = __wasi_path_rename(ROOT, "inside.txt", ROOT, "../stolen.txt");
	result("rename-out", e == ENOTCAP, "errno %d, expected %d", e,
	    ENOTCAP);
	e = __wasi_path_rename(ROOT, "../victim.txt", ROOT, "victim_in");
	result("rename-in", e == ENOTCAP, "errno %d, expected %d", e, ENOTCAP);
	e = __wasi_path_rename(ROOT, "link_dir_out/victim.txt", ROOT, "v2");
	result("rename-in-symlink", e == ENOTCAP, "errno %d, expected %d", e,
	    ENOTCAP);
	e = __wasi_path_remove_directory(ROOT, "..");
	result("rmdir-dotdot", e == ENOTCAP, "errno %d, expected %d", e,
	    ENOTCAP);
	e = __wasi_path_symlink("/etc/passwd", ROOT, "new_abs_link");
	result("symlink-create-abs", e == ENOTCAP, "errno %d, expected %d", e,
	    ENOTCAP);
	/* a link the guest makes itself is held to the same rules */
	e = __wasi_path_symlink("../outside.txt", ROOT, "made_link");
	result("symlink-create-relative", e == 0, "errno %d%s", e, 0);
	must_refuse("made-link-out", "made_link", 1, 0, ENOTCAP);
	e = __wasi_path_symlink("sub/deep.txt", ROOT, "made_in");
	result("symlink-create-in", e == 0, "errno %d%s", e, 0);
	must_open("made-link-in", "made_in", 1, "deep\n");
	e = __wasi_path_unlink_file(ROOT, "made_link");
	result("unlink-made-link", e == 0, "errno %d%s", e, 0);
	e = __wasi_path_unlink_file(ROOT, "made_in");
	result("unlink-made-in", e == 0, "errno %d%s", e, 0);
	e = __wasi_path_link(ROOT, 0, "link_dir_out/victim.txt", ROOT,
	    "hardlink3");
	result("hardlink-symlink-dir-out", e == ENOTCAP,
	    "errno %d, expected %d", e, ENOTCAP);
	e = __wasi_path_link(ROOT, 0, "../outside.txt", ROOT, "hardlink");
	result("hardlink-dotdot", e == ENOTCAP, "errno %d, expected %d", e,
	    ENOTCAP);
	e = __wasi_path_link(ROOT, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW,
	    "link_out", ROOT, "hardlink2");
	result("hardlink-follow-out", e == ENOTCAP, "errno %d, expected %d", e,
	    ENOTCAP);

	/* bad fds and pointers are errors, never crashes */
	e = open_at(99, "inside.txt", 1, 0, &fd);
	result("bad-dirfd", e == __WASI_ERRNO_BADF, "errno %d%s", e, 0);
	e = open_at(0, "inside.txt", 1, 0, &fd);
	result("stdin-not-dir", e == __WASI_ERRNO_NOTDIR, "errno %d%s", e, 0);
	e = raw_fd_write(1, 0x7ffffff0, 1, 16);
	result("iovs-out-of-memory", e == __WASI_ERRNO_FAULT, "errno %d%s", e,
	    0);
	{
		static uint32_t iov[2];
		static uint32_t n;

		iov[0] = 0xfffff000u; /* buffer far outside memory */
		iov[1] = 64;
		e = raw_fd_write(1, (int32_t)(uintptr_t)iov, 1,
		    (int32_t)(uintptr_t)&n);
		result("iov-buffer-out-of-memory", e == __WASI_ERRNO_FAULT,
		    "errno %d%s", e, 0);
	}
	e = raw_path_open(ROOT, 0, 0x10, 0x7fffffff, 0, 2, 0, 0, 16);
	result("path-out-of-memory", e == __WASI_ERRNO_FAULT, "errno %d%s", e,
	    0);
	e = raw_args_get(-16, 0);
	result("args-out-of-memory", e == __WASI_ERRNO_FAULT, "errno %d%s", e,
	    0);

	printf("escape: %d failures\n", failures);
	return failures ? 1 : 0;
}
