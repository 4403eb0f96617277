/* Tests for core/alloc.c: live counting, the fail-at hook, torture. */
#include <errno.h>
#include <string.h>

#include "testing.h"

static void
test_alloc_counts_live_allocations(void **state)
{
	long before = bt_alloc_live();
	void *a, *b;

	(void)state;
	a = bt_alloc(10);
	b = bt_zalloc(20);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(bt_alloc_live(), before + 2);
	b = bt_realloc(b, 4000);
	assert_non_null(b);
	assert_int_equal(bt_alloc_live(), before + 2);
	bt_free(a);
	bt_free(b);
	bt_free(NULL);
	assert_int_equal(bt_alloc_live(), before);
}

static void
test_alloc_fail_at_fails_exactly_the_nth(void **state)
{
	void *a, *b, *c;

	(void)state;
	bt_alloc_fail_at(2);
	a = bt_alloc(1);
	b = bt_alloc(1);
	c = bt_alloc(1);
	bt_alloc_fail_at(0);
	assert_non_null(a);
	assert_null(b);
	assert_non_null(c);
	bt_free(a);
	bt_free(c);
}

static void
test_calloc_refuses_overflow(void **state)
{
	(void)state;
	assert_null(bt_calloc(SIZE_MAX / 2, 4));
}

static void
test_strdup_and_secret_free(void **state)
{
	char *s = bt_strdup("hello");
	char *t = bt_strndup("hello world", 5);

	(void)state;
	assert_string_equal(s, "hello");
	assert_string_equal(t, "hello");
	bt_free(s);
	bt_free_secret(t, 6);
	bt_free_secret(NULL, 10);
}

struct three {
	void *p[3];
};

static int
alloc_three(void *arg)
{
	struct three *t = arg;

	memset(t, 0, sizeof(*t));
	for (int i = 0; i < 3; i++) {
		t->p[i] = bt_alloc(8);
		if (t->p[i] == NULL) {
			for (int k = 0; k < i; k++)
				bt_free(t->p[k]);
			return -ENOMEM;
		}
	}
	for (int i = 0; i < 3; i++)
		bt_free(t->p[i]);
	return 0;
}

static void
test_torture_runs_every_failure_point(void **state)
{
	struct three t;

	(void)state;
	// Failing allocation 1, 2 and 3, then a clean run: four runs.
	assert_int_equal(bt_test_alloc_torture(alloc_three, &t, 10), 4);
}

/*
 * absorb_first survives a failure of its first allocation (it can do
 * without it) and fails cleanly on the other two.
 */
static int
absorb_first(void *arg)
{
	void *a, *b, *c;
	int   rc = -ENOMEM;

	(void)arg;
	a = bt_alloc(8);
	b = bt_alloc(8);
	c = bt_alloc(8);
	if (b != NULL && c != NULL)
		rc = 0;
	bt_free(a); // a failed a is fine: the body does without it
	bt_free(b);
	bt_free(c);
	return rc;
}

static void
test_torture_goes_on_past_an_absorbed_failure(void **state)
{
	(void)state;
	// 1 absorbed (rc 0), 2 and 3 fail, then a clean run: four runs, not
	// one: an absorbed failure must not end the torture early.
	assert_int_equal(bt_test_alloc_torture(absorb_first, NULL, 10), 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_counts_live_allocations),
		cmocka_unit_test(test_alloc_fail_at_fails_exactly_the_nth),
		cmocka_unit_test(test_calloc_refuses_overflow),
		cmocka_unit_test(test_strdup_and_secret_free),
		cmocka_unit_test(test_torture_runs_every_failure_point),
		cmocka_unit_test(test_torture_goes_on_past_an_absorbed_failure),
	};

	return cmocka_run_group_tests_name("core.alloc", tests, NULL, NULL);
}
