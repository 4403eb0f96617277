/*
 * cmd/bt/cmd_wasm.c: `bt wasm validate`, `bt wasm spectest`, and the
 * dispatch to `bt wasm run` (cmd_wasm_run.c, with WASI), over wasm/.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bt/os.h"
#include "bt/wasm.h"
#include "cmd.h"

/* In cmd_wasm_run.c; weak so this file links before that one exists. */
int bt__cmd_wasm_run(int argc, char **argv);
#pragma weak bt__cmd_wasm_run

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char usage[] =
    "usage: bt wasm run FILE.wasm [options] [-- ARGS...]\n"
    "       bt wasm validate FILE.wasm\n"
    "       bt wasm spectest FILE.json...\n"
    "\n"
    "Run, validate and spec-test WebAssembly 2.0 modules (without SIMD).\n"
    "\n"
    "examples:\n"
    "  bt wasm run hello.wasm -- world\n"
    "  bt wasm validate hello.wasm\n"
    "  wast2json i32.wast -o out/i32.json && bt wasm spectest out/i32.json\n";

static const char usage_validate[] =
    "usage: bt wasm validate FILE.wasm\n"
    "\n"
    "Decode, validate and compile a module. Prints OK, or the first error\n"
    "with its byte offset (exit status 1).\n"
    "\n"
    "example:\n"
    "  bt wasm validate hello.wasm\n";

static const char usage_spectest[] =
    "usage: bt wasm spectest FILE.json...\n"
    "\n"
    "Run command scripts made by wabt's wast2json (the .wasm files they\n"
    "name are read from the same folder). Prints one line per failure and\n"
    "ends with 'N passed, M failed, K skipped'; text-format modules are\n"
    "skipped. Exit status 1 if anything failed.\n"
    "\n"
    "example:\n"
    "  mkdir -p out && wast2json i32.wast -o out/i32.json && \\\n"
    "    bt wasm spectest out/i32.json\n";

static int
wasm_validate(int argc, char **argv)
{
	struct bt_diag diag;
	const char *path;
	bt_config *cfg;
	uint8_t *bytes;
	size_t len;
	int ex, rc;

	if (bt_cmd_parse(&cfg, usage_validate, NULL, 0, argc, argv,
		BT_CONFIG_ARGS_ONLY, &ex) != 0)
		return ex;
	if (bt_config_npos(cfg) != 1) {
		ex = bt_cmd_usage(usage_validate, "expected one FILE.wasm");
		goto out;
	}
	path = bt_config_pos(cfg, 0);
	rc = bt_os_read_file(path, (size_t)1 << 31, &bytes, &len);
	if (rc != 0) {
		ex = bt_cmd_err("cannot read '%s': %s", path, bt_strerror(rc));
		goto out;
	}
	bt_diag_clear(&diag);
	rc = bt_wasm_module_validate(bytes, len, &diag);
	bt_free(bytes);
	if (rc != 0) {
		if (diag.off >= 0)
			ex = bt_cmd_err("'%s' is not a valid module: %s at byte "
					"offset %lld (0x%llx)",
			    path, diag.msg, (long long)diag.off,
			    (unsigned long long)diag.off);
		else
			ex = bt_cmd_err("'%s' is not a valid module: %s", path,
			    diag.msg[0] ? diag.msg : bt_strerror(rc));
		goto out;
	}
	printf("OK\n");
	ex = BT_EXIT_OK;
out:
	bt_config_free(cfg);
	return ex;
}

static void
print_failure(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
}

static int
wasm_spectest(int argc, char **argv)
{
	struct bt_wasm_spectest_stats st = { 0 };
	bt_config *cfg;
	int ex, rc;

	if (bt_cmd_parse(&cfg, usage_spectest, NULL, 0, argc, argv,
		BT_CONFIG_ARGS_ONLY, &ex) != 0)
		return ex;
	if (bt_config_npos(cfg) < 1) {
		ex = bt_cmd_usage(usage_spectest, "expected FILE.json");
		goto out;
	}
	ex = BT_EXIT_OK;
	for (int i = 0; i < bt_config_npos(cfg); i++) {
		const char *path = bt_config_pos(cfg, i);

		rc = bt_wasm_spectest_run(path, &st, print_failure, NULL);
		if (rc != 0) {
			printf("%s: cannot run: %s\n", path, bt_strerror(rc));
			st.failed++;
		}
		fflush(stdout);
	}
	printf("%llu passed, %llu failed, %llu skipped\n",
	    (unsigned long long)st.passed, (unsigned long long)st.failed,
	    (unsigned long long)st.skipped);
	if (st.failed > 0)
		ex = BT_EXIT_FAIL;
out:
	bt_config_free(cfg);
	return ex;
}

static int
wasm_run(int argc, char **argv)
{
	if (bt__cmd_wasm_run == NULL)
		return bt_cmd_err("'bt wasm run' is not in this build");
	return bt__cmd_wasm_run(argc, argv);
}

int
bt_cmd_wasm(int argc, char **argv)
{
	static const struct bt_cmd_sub subs[] = {
		{ "run", wasm_run },
		{ "validate", wasm_validate },
		{ "spectest", wasm_spectest },
	};

	return bt_cmd_dispatch(subs, N(subs), usage, argc, argv);
}
