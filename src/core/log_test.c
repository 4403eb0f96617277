/* Tests for core/log.c: levels, the line format, BT_LOG. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testing.h"

/* capture runs fn with stderr redirected to a pipe and returns the text. */
static char *
capture(void (*fn)(void))
{
	static char buf[8192];
	int fds[2], saved;
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	saved = dup(STDERR_FILENO);
	dup2(fds[1], STDERR_FILENO);
	close(fds[1]);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void
log_some(void)
{
	bt_log_set_level(BT_LOG_WARN);
	bt_log_info("core", "hidden");
	bt_log_warn("core", "shown %d\nsecond", 1);
	bt_log_set_level(BT_LOG_INFO);
}

static void
test_log_writes_one_line_with_time_level_and_part(void **state)
{
	char *out;

	(void)state;
	out = capture(log_some);
	assert_null(strstr(out, "hidden"));
	assert_non_null(strstr(out, "warn  core: shown 1 second\n"));
	// 2026-11-23T16:50:55.123Z: a date, a T and a Z.
	assert_int_equal(out[4], '-');
	assert_int_equal(out[10], 'T');
	assert_int_equal(out[23], 'Z');
	assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
}

static void
test_log_level_from_environment(void **state)
{
	(void)state;
	setenv("BT_LOG", "debug", 1);
	assert_int_equal(bt_log_init_env(), 0);
	assert_true(bt_log_enabled(BT_LOG_DEBUG));
	assert_false(bt_log_enabled(BT_LOG_TRACE));
	setenv("BT_LOG", "loud", 1);
	assert_int_equal(bt_log_init_env(), -EINVAL);
	unsetenv("BT_LOG");
	bt_log_set_level(BT_LOG_INFO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_writes_one_line_with_time_level_and_part),
		cmocka_unit_test(test_log_level_from_environment),
	};

	return cmocka_run_group_tests_name("core.log", tests, NULL, NULL);
}
