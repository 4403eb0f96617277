/*
 * cmd/bt/main.c: the `bt` command. One binary, git-style subcommands; this
 * file only picks the subcommand. Each part adds cmd_<part>.c defining
 * bt_cmd_<part>; the weak declarations below let the binary link before a
 * part exists, and such a subcommand then says it is not in this build.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

#pragma weak bt_cmd_key
#pragma weak bt_cmd_cred
#pragma weak bt_cmd_node
#pragma weak bt_cmd_msg
#pragma weak bt_cmd_wasm
#pragma weak bt_cmd_image
#pragma weak bt_cmd_blk
#pragma weak bt_cmd_fs
#pragma weak bt_cmd_fn

static const char usage[] =
    "usage: bt [--help | --version] COMMAND [ARGS]\n"
    "\n"
    "Blocktree: one platform for secure distributed services.\n"
    "\n"
    "commands:\n"
    "  key     make and show Ed25519 keys and their principals\n"
    "  cred    issue, show and verify credentials (writecaps)\n"
    "  node    run a node (messaging, and what later parts add)\n"
    "  msg     send, call, publish and subscribe by path\n"
    "  wasm    run, validate and spec-test WebAssembly modules\n"
    "  image   build, mount, extract and verify container images\n"
    "  blk     a rollback-protected block device over NBD\n"
    "\n"
    "Run `bt COMMAND --help` for a command's options and an example.\n"
    "Logs go to stderr; set BT_LOG=error|warn|info|debug|trace.\n";

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
};

int
main(int argc, char **argv)
{
	const struct cmd cmds[] = {
		{ "key", bt_cmd_key },
		{ "cred", bt_cmd_cred },
		{ "node", bt_cmd_node },
		{ "msg", bt_cmd_msg },
		{ "wasm", bt_cmd_wasm },
		{ "image", bt_cmd_image },
		{ "blk", bt_cmd_blk },
		{ "fs", bt_cmd_fs },
		{ "fn", bt_cmd_fn },
	};

	if (bt_log_init_env() != 0) {
		fprintf(stderr, "bt: BT_LOG must be one of error, warn, info, "
				"debug, trace\n");
		return BT_EXIT_USAGE;
	}
	if (argc < 2) {
		fputs(usage, stderr);
		return BT_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage, stdout);
		return BT_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("bt %s\n", BT_VERSION);
		return BT_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		if (cmds[i].fn == NULL) {
			fprintf(stderr, "bt: '%s' is not part of this build\n",
			    argv[1]);
			return BT_EXIT_FAIL;
		}
		return cmds[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "bt: unknown command '%s'\n\n%s", argv[1], usage);
	return BT_EXIT_USAGE;
}
