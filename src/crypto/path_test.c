/*
 * crypto/path_test.c: the path grammar of DESIGN.md and component-wise
 * containment.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bt/crypto.h"
#include "testing.h"

#define R "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define S "PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw"

static void
test_path_check_accepts_valid_paths(void **state)
{
	static const char *ok[] = {
		"/" R,
		"/" R "/node",
		"/" R "/a/b.c/d-e/F_9",
		"/" R "/...",
		"/" R "/.hidden",
		"/" R "/a..b",
	};
	struct bt_diag d;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (bt_path_check(ok[i], &d) != 0)
			fail_msg("%s: %s", ok[i], d.msg);
	}
}

static void
test_path_check_rejects_each_rule_with_offset(void **state)
{
	static const struct {
		const char *path;
		int64_t     off;
	} bad[] = {
		{ "", 0 },
		{ "node", 0 },
		{ "/", 1 },
		{ "/" R "/", 45 },
		{ "/" R "//a", 45 },
		{ "/" R "/.", 45 },
		{ "/" R "/..", 45 },
		{ "/" R "/a/../b", 47 },
		{ "/" R "/a b", 46 },
		{ "/" R "/a\xc3\xa9", 46 },
		{ "/short/node", 1 },
		{ "/" R "A/node", 1 },
		{ "//" R, 1 },
	};
	struct bt_diag d;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bt_diag_clear(&d);
		assert_int_equal(bt_path_check(bad[i].path, &d), -EINVAL);
		if (d.off != bad[i].off)
			fail_msg("case %zu: offset %lld, want %lld (%s)", i,
			    (long long)d.off, (long long)bad[i].off, d.msg);
		assert_true(d.msg[0] != '\0');
	}
}

static void
test_path_check_enforces_component_and_total_lengths(void **state)
{
	char   buf[BT_PATH_MAX + 64];
	size_t n;

	n = (size_t)snprintf(buf, sizeof(buf), "/%s/", R);
	memset(buf + n, 'x', 255);
	buf[n + 255] = '\0';
	assert_int_equal(bt_path_check(buf, NULL), 0);
	buf[n + 255] = 'x';
	buf[n + 256] = '\0';
	assert_int_equal(bt_path_check(buf, NULL), -EINVAL);

	// Components of 200 bytes until just past BT_PATH_MAX.
	n = (size_t)snprintf(buf, sizeof(buf), "/%s", R);
	while (n + 201 <= BT_PATH_MAX) {
		buf[n++] = '/';
		memset(buf + n, 'y', 200);
		n += 200;
	}
	buf[n] = '\0';
	assert_int_equal(bt_path_check(buf, NULL), 0);
	buf[n++] = '/';
	memset(buf + n, 'z', BT_PATH_MAX + 2 - n);
	n = BT_PATH_MAX + 1;
	buf[n] = '\0';
	assert_int_equal(bt_path_check(buf, NULL), -EINVAL);
}

static void
test_path_check_limits_depth(void **state)
{
	char   buf[BT_PATH_MAX];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "/%s", R);

	for (int i = 1; i < BT_PATH_DEPTH_MAX; i++) {
		buf[n++] = '/';
		buf[n++] = 'a';
	}
	buf[n] = '\0';
	assert_int_equal(bt_path_check(buf, NULL), 0);
	buf[n++] = '/';
	buf[n++] = 'a';
	buf[n] = '\0';
	assert_int_equal(bt_path_check(buf, NULL), -EINVAL);
}

static void
test_path_root_returns_first_component(void **state)
{
	struct bt_principal p, q;

	assert_int_equal(bt_path_root("/" R "/node/x", &p), 0);
	assert_int_equal(bt_principal_from_str(&q, R), 0);
	assert_true(bt_principal_equal(&p, &q));
	assert_int_equal(bt_path_root("/" R, &p), 0);
	assert_true(bt_principal_equal(&p, &q));
	assert_int_equal(bt_path_root("/" R "/", &p), -EINVAL);
}

static void
test_path_within_is_component_wise(void **state)
{
	assert_true(bt_path_within("/" R, "/" R));
	assert_true(bt_path_within("/" R "/a", "/" R));
	assert_true(bt_path_within("/" R "/a/b", "/" R "/a"));
	assert_true(bt_path_within("/" R "/a", "/" R "/a"));
	assert_false(bt_path_within("/" R "/ab", "/" R "/a"));
	assert_false(bt_path_within("/" R "/a", "/" R "/a/b"));
	assert_false(bt_path_within("/" R, "/" R "/a"));
	assert_false(bt_path_within("/" S "/a", "/" R));
	assert_false(bt_path_within("/" R "/a/", "/" R "/a"));
	assert_false(bt_path_within("/" R "/a/..", "/" R "/a"));
	assert_false(bt_path_within("/" R "/a", "/" R "/"));
}

/* Review finding C4: a NULL path crashed every path function. */
static void
test_path_functions_refuse_null_path(void **state)
{
	struct bt_principal p, untouched;
	struct bt_diag      d;

	bt_diag_clear(&d);
	assert_int_equal(bt_path_check(NULL, &d), -EINVAL);
	assert_true(d.msg[0] != '\0');
	assert_int_equal(d.off, -1);
	assert_int_equal(bt_path_check(NULL, NULL), -EINVAL);
	memset(&untouched, 0x5a, sizeof(untouched));
	p = untouched;
	assert_int_equal(bt_path_root(NULL, &p), -EINVAL);
	assert_memory_equal(&p, &untouched, sizeof(p));
	assert_false(bt_path_within(NULL, "/" R));
	assert_false(bt_path_within("/" R, NULL));
	assert_false(bt_path_within(NULL, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_check_accepts_valid_paths),
		cmocka_unit_test(
		    test_path_check_rejects_each_rule_with_offset),
		cmocka_unit_test(
		    test_path_check_enforces_component_and_total_lengths),
		cmocka_unit_test(test_path_check_limits_depth),
		cmocka_unit_test(test_path_root_returns_first_component),
		cmocka_unit_test(test_path_within_is_component_wise),
		cmocka_unit_test(test_path_functions_refuse_null_path),
	};

	return cmocka_run_group_tests_name("crypto.path", tests, NULL, NULL);
}
