/*
 * testing/testing.c: fixtures and failure machinery for unit tests:
 * private temporary folders, allocation torture and syscall faults.
 */
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testing.h"

char *
bt_test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[4096];
	char *dir;

	snprintf(tmpl, sizeof(tmpl), "%s/bt-test-XXXXXX",
	    base != NULL && base[0] != '\0' ? base : "/tmp");
	dir = mkdtemp(tmpl);
	assert_non_null(dir);
	return bt_strdup(dir);
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

void
bt_test_tmpdir_remove(char *dir)
{
	if (dir == NULL)
		return;
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	bt_free(dir);
}

char *
bt_test_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = bt_alloc(n);

	assert_non_null(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

int
bt_test_alloc_torture(bt_test_body_fn *body, void *arg, int max_n)
{
	long before = bt_alloc_live();
	int n;

	for (n = 1; n <= max_n; n++) {
		long calls = bt_alloc_calls();
		bool reached;
		int rc;

		bt_alloc_fail_at(n);
		rc = body(arg);
		bt_alloc_fail_at(0);
		reached = bt_alloc_calls() - calls >= n;
		if (bt_alloc_live() != before)
			fail_msg("torture %d: %ld allocations leaked (rc %d)", n,
			    bt_alloc_live() - before, rc);
		if (rc == 0 && !reached) {
			/* The n-th allocation was never reached, so the body
			 * succeeded untouched: every failure point is done. */
			break;
		}
		/* A body may absorb a failed allocation and still succeed
		 * (a fallback); later failure points must still be run,
		 * so only a run that never reached the n-th one ends it. */
		if (rc > 0)
			fail_msg("torture %d: body returned %d", n, rc);
	}
	if (n > max_n)
		fail_msg("torture: body still failing after %d runs", max_n);
	return n;
}

/* The fault-injecting table: counts calls of each op and fails one. */
static struct {
	enum bt_test_os_op op;
	int		   nth;
	int		   err;
	int		   calls[BT_TEST_OS_READ + 1];
} fault;

static bool
hit(enum bt_test_os_op op)
{
	int n = ++fault.calls[op];

	return op == fault.op && n == fault.nth;
}

static int
f_open(const char *path, int flags, mode_t mode)
{
	if (hit(BT_TEST_OS_OPEN))
		return -(fault.err ? fault.err : EIO);
	return bt_os_default_ops()->open(path, flags, mode);
}

static ssize_t
f_pread(int fd, void *buf, size_t len, off_t off)
{
	if (hit(BT_TEST_OS_PREAD)) {
		if (fault.err)
			return -fault.err;
		len = len > 1 ? len / 2 : len;
	}
	return bt_os_default_ops()->pread(fd, buf, len, off);
}

static ssize_t
f_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	if (hit(BT_TEST_OS_PWRITE)) {
		if (fault.err)
			return -fault.err;
		len = len > 1 ? len / 2 : len;
	}
	return bt_os_default_ops()->pwrite(fd, buf, len, off);
}

static ssize_t
f_write(int fd, const void *buf, size_t len)
{
	if (hit(BT_TEST_OS_WRITE)) {
		if (fault.err)
			return -fault.err;
		len = len > 1 ? len / 2 : len;
	}
	return bt_os_default_ops()->write(fd, buf, len);
}

static ssize_t
f_read(int fd, void *buf, size_t len)
{
	if (hit(BT_TEST_OS_READ)) {
		if (fault.err)
			return -fault.err;
		len = len > 1 ? len / 2 : len;
	}
	return bt_os_default_ops()->read(fd, buf, len);
}

static int
f_fsync(int fd)
{
	if (hit(BT_TEST_OS_FSYNC))
		return -(fault.err ? fault.err : EIO);
	return bt_os_default_ops()->fsync(fd);
}

static int
f_fdatasync(int fd)
{
	if (hit(BT_TEST_OS_FSYNC))
		return -(fault.err ? fault.err : EIO);
	return bt_os_default_ops()->fdatasync(fd);
}

static int
f_rename(const char *from, const char *to)
{
	if (hit(BT_TEST_OS_RENAME))
		return -(fault.err ? fault.err : EIO);
	return bt_os_default_ops()->rename(from, to);
}

static struct bt_os_ops fault_ops;

void
bt_test_os_fault(enum bt_test_os_op op, int nth, int err)
{
	fault_ops = *bt_os_default_ops();
	fault_ops.open = f_open;
	fault_ops.pread = f_pread;
	fault_ops.pwrite = f_pwrite;
	fault_ops.write = f_write;
	fault_ops.read = f_read;
	fault_ops.fsync = f_fsync;
	fault_ops.fdatasync = f_fdatasync;
	fault_ops.rename = f_rename;
	memset(&fault, 0, sizeof(fault));
	fault.op = op;
	fault.nth = nth;
	fault.err = err;
	bt_os_set_ops(&fault_ops);
}

void
bt_test_os_reset(void)
{
	bt_os_set_ops(NULL);
}

int
bt_test_os_calls(enum bt_test_os_op op)
{
	return fault.calls[op];
}
