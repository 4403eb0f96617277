/*
 * cmd/bt/cmd.h: what the subcommand files share. Each `bt X` lives in
 * cmd_X.c as `int bt_cmd_X(int argc, char **argv)`, where argv[0] is "X".
 * It returns the exit status: 0 success, 1 failure, 2 bad usage.
 *
 * Subcommands are thin: they parse options (bt_config_load), call the
 * libraries, and print. Errors go to stderr as one sentence naming the
 * input at fault.
 */
#ifndef BT_CMD_H
#define BT_CMD_H

#include "bt/core.h"

#define BT_EXIT_OK    0
#define BT_EXIT_FAIL  1
#define BT_EXIT_USAGE 2

/* The subcommands. main.c declares each weak, so a part not built yet
 * reports itself as missing rather than breaking the link. */
int bt_cmd_key(int argc, char **argv);
int bt_cmd_cred(int argc, char **argv);
int bt_cmd_node(int argc, char **argv);
int bt_cmd_msg(int argc, char **argv);
int bt_cmd_wasm(int argc, char **argv);
int bt_cmd_image(int argc, char **argv);
int bt_cmd_blk(int argc, char **argv);
int bt_cmd_fs(int argc, char **argv);
int bt_cmd_fn(int argc, char **argv);

/*
 * bt_cmd_err prints "bt: " and the formatted sentence to stderr, with a
 * newline, and returns BT_EXIT_FAIL (so `return bt_cmd_err(...)` reads well).
 */
int bt_cmd_err(const char *fmt, ...) BT_PRINTF(1, 2);

/*
 * bt_cmd_usage prints "bt: " msg (if not NULL), then the usage text, to
 * stderr and returns BT_EXIT_USAGE.
 */
int bt_cmd_usage(const char *usage, const char *fmt, ...) BT_PRINTF(2, 3);

/*
 * bt_cmd_parse loads options for a subcommand with bt_config_load, from
 * argv[1..] (argv[0] is the subcommand's own name). On --help it prints
 * usage and the option list to stdout and returns -1 with *exit_out = 0;
 * on bad usage it prints the diagnostic and usage to stderr and returns -1
 * with *exit_out = 2. On success returns 0 and *out.
 */
int bt_cmd_parse(bt_config **out, const char *usage, const struct bt_opt *opts,
    size_t n, int argc, char **argv, unsigned flags, int *exit_out);

/*
 * bt_cmd_sub dispatches argv[1] among named sub-subcommands (`bt key new`).
 * Prints usage and returns 2 for a missing or unknown one.
 */
struct bt_cmd_sub {
	const char *name;
	int (*fn)(int argc, char **argv);
};
int bt_cmd_dispatch(const struct bt_cmd_sub *subs, size_t n, const char *usage,
    int argc, char **argv);

#endif /* BT_CMD_H */
