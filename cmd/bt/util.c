/*
 * cmd/bt/util.c: the helpers every subcommand uses to parse options and
 * report errors the same way.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

int
bt_cmd_err(const char *fmt, ...)
{
	va_list ap;

	fputs("bt: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return BT_EXIT_FAIL;
}

int
bt_cmd_usage(const char *usage, const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		fputs("bt: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputs("\n\n", stderr);
	}
	fputs(usage, stderr);
	return BT_EXIT_USAGE;
}

int
bt_cmd_parse(bt_config **out, const char *usage, const struct bt_opt *opts,
    size_t n, int argc, char **argv, unsigned flags, int *exit_out)
{
	struct bt_diag diag;
	struct bt_dbuf b;
	bt_config *cfg;
	int rc;

	bt_diag_clear(&diag);
	rc = bt_config_load(&cfg, opts, n, argc - 1, argv + 1, flags, &diag);
	if (rc != 0) {
		*exit_out = bt_cmd_usage(usage, "%s",
		    diag.msg[0] ? diag.msg : bt_strerror(rc));
		return -1;
	}
	if (bt_config_help_wanted(cfg)) {
		bt_dbuf_init(&b, 1 << 20);
		fputs(usage, stdout);
		if (n > 0 && bt_config_usage(&b, opts, n) == 0 && b.len > 0) {
			fputs("\noptions:\n", stdout);
			fwrite(b.ptr, 1, b.len, stdout);
		}
		bt_dbuf_fini(&b);
		bt_config_free(cfg);
		*exit_out = BT_EXIT_OK;
		return -1;
	}
	*out = cfg;
	return 0;
}

int
bt_cmd_dispatch(const struct bt_cmd_sub *subs, size_t n, const char *usage,
    int argc, char **argv)
{
	if (argc < 2)
		return bt_cmd_usage(usage, "'%s' needs a subcommand", argv[0]);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage, stdout);
		return BT_EXIT_OK;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].fn(argc - 1, argv + 1);
	}
	return bt_cmd_usage(usage, "unknown subcommand '%s %s'", argv[0],
	    argv[1]);
}
