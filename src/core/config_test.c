/*
 * Tests for core/config.c: each source, their precedence, lists, flags,
 * and the errors for bad options, values and files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testing.h"

static const struct bt_opt opts[] = {
	{ "data-dir", 0, BT_OPT_STR, "./bt-data", "where state lives" },
	{ "listen", 'l', BT_OPT_LIST, "127.0.0.1:7400", "address" },
	{ "size", 0, BT_OPT_SIZE, "4k", "a size" },
	{ "timeout", 0, BT_OPT_DURATION, "5s", "a duration" },
	{ "count", 'n', BT_OPT_U64, NULL, "a count" },
	{ "backup", 0, BT_OPT_FLAG, NULL, "a flag" },
	{ "output", 'o', BT_OPT_STR, NULL, "output file" },
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

struct fixture {
	char *dir;
	char  cwd[4096];
};

static int
setup(void **state)
{
	struct fixture *f = bt_zalloc(sizeof(*f));

	f->dir = bt_test_tmpdir();
	assert_non_null(getcwd(f->cwd, sizeof(f->cwd)));
	// ./bt.json is read when present: run in an empty folder.
	assert_int_equal(chdir(f->dir), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(chdir(f->cwd), 0);
	unsetenv("BT_DATA_DIR");
	unsetenv("BT_LISTEN");
	unsetenv("BT_SIZE");
	unsetenv("BT_CONFIG");
	bt_test_tmpdir_remove(f->dir);
	bt_free(f);
	return 0;
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void
test_config_defaults_apply_when_nothing_given(void **state)
{
	char *argv[] = { NULL };
	bt_config *cfg;
	const char *const *items;

	(void)state;
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 0, argv, 0, NULL), 0);
	assert_string_equal(bt_config_str(cfg, "data-dir"), "./bt-data");
	assert_int_equal(bt_config_source(cfg, "data-dir"), BT_OPT_SRC_DEFAULT);
	assert_true(bt_config_u64(cfg, "size") == 4096);
	assert_true(bt_config_u64(cfg, "timeout") == 5000000000ull);
	assert_false(bt_config_flag(cfg, "backup"));
	assert_null(bt_config_str(cfg, "count"));
	assert_int_equal(bt_config_list(cfg, "listen", &items), 1);
	assert_string_equal(items[0], "127.0.0.1:7400");
	bt_config_free(cfg);
}

static void
test_config_args_beat_env_beat_file_beat_defaults(void **state)
{
	struct fixture *f = *state;
	char *path = bt_test_path(f->dir, "c.json");
	char arg[4200];
	char *argv[] = { arg, "--size=1M" };
	bt_config *cfg;

	write_file(path, "{\"data-dir\": \"/from/file\", \"size\": \"2M\","
			 " \"timeout\": 7, \"backup\": true}");
	snprintf(arg, sizeof(arg), "--config=%s", path);
	setenv("BT_DATA_DIR", "/from/env", 1);
	setenv("BT_SIZE", "3M", 1);
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 2, argv, 0, NULL), 0);
	assert_string_equal(bt_config_str(cfg, "data-dir"), "/from/env");
	assert_int_equal(bt_config_source(cfg, "data-dir"), BT_OPT_SRC_ENV);
	assert_true(bt_config_u64(cfg, "size") == 1u << 20);
	assert_int_equal(bt_config_source(cfg, "size"), BT_OPT_SRC_ARG);
	assert_true(bt_config_u64(cfg, "timeout") == 7000000000ull);
	assert_int_equal(bt_config_source(cfg, "timeout"), BT_OPT_SRC_FILE);
	assert_true(bt_config_flag(cfg, "backup"));
	bt_config_free(cfg);
	bt_free(path);
}

static void
test_config_reads_bt_json_in_cwd_unless_args_only(void **state)
{
	char *argv[] = { NULL };
	bt_config *cfg;

	(void)state;
	write_file("bt.json", "{\"data_dir\": \"/json\"}");
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 0, argv, 0, NULL), 0);
	assert_string_equal(bt_config_str(cfg, "data-dir"), "/json");
	bt_config_free(cfg);
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 0, argv,
			     BT_CONFIG_ARGS_ONLY, NULL),
	    0);
	assert_string_equal(bt_config_str(cfg, "data-dir"), "./bt-data");
	bt_config_free(cfg);
	unlink("bt.json");
}

static void
test_config_lists_repeat_on_args_and_split_elsewhere(void **state)
{
	char *argv[] = { "--listen", "a:1", "-l", "b:2", "--listen=c:3" };
	const char *const *items;
	bt_config *cfg;

	(void)state;
	setenv("BT_LISTEN", "x:1,y:2", 1);
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 0, argv, 0, NULL), 0);
	assert_int_equal(bt_config_list(cfg, "listen", &items), 2);
	assert_string_equal(items[1], "y:2");
	bt_config_free(cfg);
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 5, argv, 0, NULL), 0);
	assert_int_equal(bt_config_list(cfg, "listen", &items), 3);
	assert_string_equal(items[0], "a:1");
	assert_string_equal(items[2], "c:3");
	bt_config_free(cfg);
}

static void
test_config_positionals_short_options_and_double_dash(void **state)
{
	char *argv[] = { "file.wasm", "-oout", "-n", "5", "--backup", "--",
		"--not-an-option", "x" };
	bt_config *cfg;

	(void)state;
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 8, argv,
			     BT_CONFIG_ARGS_ONLY, NULL),
	    0);
	assert_string_equal(bt_config_str(cfg, "output"), "out");
	assert_true(bt_config_u64(cfg, "count") == 5);
	assert_true(bt_config_flag(cfg, "backup"));
	assert_int_equal(bt_config_npos(cfg), 3);
	assert_string_equal(bt_config_pos(cfg, 0), "file.wasm");
	assert_string_equal(bt_config_pos(cfg, 1), "--not-an-option");
	assert_null(bt_config_pos(cfg, 3));
	bt_config_free(cfg);
}

static void
test_config_errors_name_the_input(void **state)
{
	struct fixture *f = *state;
	char *unknown[] = { "--colour=red" };
	char *novalue[] = { "--output" };
	char *badsize[] = { "--size=lots" };
	char *missing[] = { "--config=/nonexistent/bt.json" };
	char *path = bt_test_path(f->dir, "bad.json");
	char arg[4200];
	char *badfile[] = { arg };
	struct bt_diag d;
	bt_config *cfg = NULL;

	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 1, unknown, 0, &d),
	    -EINVAL);
	assert_non_null(strstr(d.msg, "--colour"));
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 1, novalue, 0, &d),
	    -EINVAL);
	assert_non_null(strstr(d.msg, "needs a value"));
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 1, badsize, 0, &d),
	    -EINVAL);
	assert_non_null(strstr(d.msg, "lots"));
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 1, missing, 0, &d),
	    -ENOENT);
	write_file(path, "{\"data-dir\": ");
	snprintf(arg, sizeof(arg), "--config=%s", path);
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 1, badfile, 0, &d),
	    BT_ECORRUPT);
	assert_non_null(strstr(d.msg, "bad.json"));
	write_file(path, "{\"colour\": \"red\"}");
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 1, badfile, 0, &d),
	    BT_ECORRUPT);
	assert_non_null(strstr(d.msg, "colour"));
	write_file(path, "[1, 2]");
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 1, badfile, 0, &d),
	    BT_ECORRUPT);
	setenv("BT_SIZE", "huge", 1);
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 0, unknown + 1, 0, &d),
	    -EINVAL);
	assert_non_null(strstr(d.msg, "BT_SIZE"));
	assert_null(cfg);
	bt_free(path);
}

static int
load_once(void *arg)
{
	char *argv[] = { "--listen", "a:1", "--listen", "b:2", "pos",
		"--size=2k" };
	bt_config *cfg;
	int rc;

	(void)arg;
	setenv("BT_DATA_DIR", "/env", 1);
	rc = bt_config_load(&cfg, opts, NOPTS, 6, argv, 0, NULL);
	if (rc == 0)
		bt_config_free(cfg);
	return rc;
}

static void
test_config_load_survives_allocation_failures(void **state)
{
	(void)state;
	assert_true(bt_test_alloc_torture(load_once, NULL, 200) > 5);
}

static void
test_config_usage_lists_every_option(void **state)
{
	struct bt_dbuf b;

	(void)state;
	bt_dbuf_init(&b, 1 << 16);
	assert_int_equal(bt_config_usage(&b, opts, NOPTS), 0);
	assert_int_equal(bt_dbuf_putc(&b, 0), 0);
	assert_non_null(strstr((char *)b.ptr, "--data-dir=VALUE"));
	assert_non_null(strstr((char *)b.ptr, "(default: ./bt-data)"));
	assert_non_null(strstr((char *)b.ptr, "-o, --output"));
	bt_dbuf_fini(&b);
}

/* A config file is bounded (1 MiB) like every other input. */
static void
test_config_refuses_an_oversized_file(void **state)
{
	struct fixture *f = *state;
	char	       *path = bt_test_path(f->dir, "big.json");
	char		arg[4200];
	char	       *argv[] = { arg };
	struct bt_diag	d;
	bt_config      *cfg = NULL;
	FILE	       *fp;

	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("{\"data-dir\": \"", fp);
	for (int i = 0; i < (1 << 20); i++)
		fputc('a', fp);
	fputs("\"}", fp);
	fclose(fp);
	snprintf(arg, sizeof(arg), "--config=%s", path);
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 1, argv, 0, &d),
	    BT_ELIMIT);
	assert_non_null(strstr(d.msg, "big.json"));
	assert_null(cfg);
	// Just under the bound still loads.
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("{\"data-dir\": \"", fp);
	for (int i = 0; i < (1 << 20) - 64; i++)
		fputc('a', fp);
	fputs("\"}", fp);
	fclose(fp);
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 1, argv, 0, &d), 0);
	assert_int_equal(strlen(bt_config_str(cfg, "data-dir")),
	    (1 << 20) - 64);
	bt_config_free(cfg);
	bt_free(path);
}

static void
test_config_unreadable_file_is_reported_with_its_errno(void **state)
{
	struct fixture *f = *state;
	char	       *path = bt_test_path(f->dir, "dir.json");
	char		arg[4200];
	char	       *argv[] = { arg };
	struct bt_diag	d;
	bt_config      *cfg = NULL;

	// A folder cannot be read as a file: -EISDIR, named in diag.
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(arg, sizeof(arg), "--config=%s", path);
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 1, argv, 0, &d),
	    -EISDIR);
	assert_non_null(strstr(d.msg, "dir.json"));
	assert_null(cfg);
	bt_free(path);
}

static void
test_config_list_over_its_bound_names_the_option(void **state)
{
	struct bt_dbuf b;
	char	      *argv[] = { NULL };
	struct bt_diag d;
	bt_config     *cfg = NULL;

	(void)state;
	bt_dbuf_init(&b, 1 << 16);
	for (int i = 0; i < 1025; i++)
		assert_int_equal(bt_dbuf_printf(&b, "%sa%d", i ? "," : "", i),
		    0);
	assert_int_equal(bt_dbuf_putc(&b, 0), 0);
	setenv("BT_LISTEN", (char *)b.ptr, 1);
	bt_diag_clear(&d);
	assert_int_equal(bt_config_load(&cfg, opts, NOPTS, 0, argv, 0, &d),
	    BT_ELIMIT);
	assert_non_null(strstr(d.msg, "BT_LISTEN"));
	assert_null(cfg);
	bt_dbuf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_config_defaults_apply_when_nothing_given, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_args_beat_env_beat_file_beat_defaults, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_reads_bt_json_in_cwd_unless_args_only, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_lists_repeat_on_args_and_split_elsewhere, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_positionals_short_options_and_double_dash,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_errors_name_the_input, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_load_survives_allocation_failures, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_usage_lists_every_option, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_refuses_an_oversized_file, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_unreadable_file_is_reported_with_its_errno,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_list_over_its_bound_names_the_option, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("core.config", tests, NULL, NULL);
}
