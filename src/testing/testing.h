/*
 * testing.h: helpers for unit tests (not installed, not API).
 *
 *  - bt_test_tmpdir: a private temporary folder per fixture, removed with
 *    everything in it.
 *  - bt_test_alloc_torture: run a body with the N-th allocation failing for
 *    N = 1, 2, ... until it succeeds; the body must return -ENOMEM (or
 *    another error it documents) cleanly and leak nothing each time.
 *  - bt_test_os_fault: a syscall table that fails the N-th call of one kind
 *    with a chosen errno, or makes it short.
 */
#ifndef BT_TESTING_H
#define BT_TESTING_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bt/core.h"
#include "bt/os.h"

/* bt_test_tmpdir makes a fresh folder under $TMPDIR (or /tmp) and returns
 * its path (free with bt_test_tmpdir_remove, which also deletes it). */
char *bt_test_tmpdir(void);
void  bt_test_tmpdir_remove(char *dir);
/* bt_test_path joins dir and name into a new string (free with bt_free). */
char *bt_test_path(const char *dir, const char *name);

/*
 * bt_test_alloc_torture calls body(arg) with allocation N failing, for N =
 * 1.. until body returns 0 with no failure injected (or max_n is reached).
 * After each failing run it asserts the body returned a negative rc and
 * that live allocations are back where they started. Returns the number of
 * runs. body must undo its own work (free what it made) before returning.
 */
typedef int bt_test_body_fn(void *arg);
int bt_test_alloc_torture(bt_test_body_fn *body, void *arg, int max_n);

/* The operations bt_test_os_fault can fail. */
enum bt_test_os_op {
	BT_TEST_OS_OPEN,
	BT_TEST_OS_PREAD,
	BT_TEST_OS_PWRITE,
	BT_TEST_OS_FSYNC,
	BT_TEST_OS_RENAME,
	BT_TEST_OS_WRITE,
	BT_TEST_OS_READ,
};

/*
 * bt_test_os_fault installs a syscall table in which the nth call (1-based)
 * of op fails with -err, or, when err is 0, transfers only half the bytes
 * (a short read or write). Every other call goes to the real table.
 * bt_test_os_reset restores the real table. bt_test_os_calls tells how many
 * calls of op were made since the last install.
 */
void bt_test_os_fault(enum bt_test_os_op op, int nth, int err);
void bt_test_os_reset(void);
int  bt_test_os_calls(enum bt_test_os_op op);

#endif /* BT_TESTING_H */
