/*
 * fuzz/wasm_run_fuzz.c: treats the input as a module and runs it the way
 * `bt wasm run` does, under small limits: linked with WASI (a context with
 * no standard streams, arguments and one variable, and one preopened
 * scratch folder that is emptied after every input), instantiated with a
 * 16 MiB memory bound, and every exported function (the first 8) called
 * with zero arguments under a small fuel budget. Mutated modules call the
 * WASI functions with arbitrary pointers, lengths, fds and paths, which
 * must come back as errnos, never as crashes, sanitizer reports, leaks of
 * memory or fds, or files outside the scratch folder.
 */
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bt/wasi.h"
#include "bt/wasm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[64];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (ftw->level > 0)
		remove(path);
	return 0;
}

static void
scratch_empty(void)
{
	nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
scratch_remove(void)
{
	scratch_empty();
	rmdir(scratch);
}

static void
scratch_setup(void)
{
	if (scratch[0] != '\0')
		return;
	snprintf(
	    scratch, sizeof(scratch), "%s", "/tmp/bt-wasm-run-fuzz.XXXXXX");
	if (mkdtemp(scratch) == NULL)
		abort(); /* the harness cannot work without it */
	atexit(scratch_remove);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const    argv[] = { "fuzz.wasm", "arg" };
	static const char *const    env[] = { "HOME=/sandbox" };
	struct bt_wasm_wasi_preopen po;
	struct bt_wasm_wasi_config  wc;
	struct bt_wasm_limits       lim = {
		      .max_memory_bytes = 1u << 24,
		      .max_table_elems = 1u << 16,
		      .max_stack_slots = 1u << 16,
		      .max_call_depth = 200,
		      .fuel = 20000,
	};
	struct bt_wasm_val    args[16], res[16];
	bt_wasm_instance     *inst = NULL;
	bt_wasm_linker       *l = NULL;
	bt_wasm_module       *m = NULL;
	bt_wasm_wasi         *w = NULL;
	struct bt_wasm_export e;
	struct bt_diag        diag;
	size_t                np;

	scratch_setup();
	if (bt_wasm_module_new(&m, data, size, &diag) != 0)
		return 0;
	memset(&wc, 0, sizeof(wc));
	wc.version = 1;
	wc.flags = BT_WASM_WASI_STDIO_FDS;
	wc.stdio_fds[0] = wc.stdio_fds[1] = wc.stdio_fds[2] = -1;
	wc.argc = 2;
	wc.argv = argv;
	wc.envc = 1;
	wc.env = env;
	po.host = scratch;
	po.guest = "/sandbox";
	wc.npreopens = 1;
	wc.preopens = &po;
	wc.max_fds = 64;
	if (bt_wasm_wasi_new(&w, &wc, &diag) != 0
	    || bt_wasm_linker_new(&l) != 0 || bt_wasm_wasi_link(l, w) != 0
	    || bt_wasm_instance_new(&inst, m, l, &lim, &diag) != 0)
		goto out;
	for (size_t i = 0; i < bt_wasm_module_export_count(m) && i < 8; i++) {
		if (bt_wasm_module_export_get(m, i, &e) != 0
		    || e.kind != BT_WASM_EXTERN_FUNC)
			continue;
		np = strlen(e.params);
		if (np > 16 || strlen(e.results) > 16)
			continue;
		memset(args, 0, sizeof(args));
		for (size_t k = 0; k < np; k++) {
			switch (e.params[k]) {
			case 'i':
				args[k].type = BT_WASM_I32;
				break;
			case 'I':
				args[k].type = BT_WASM_I64;
				break;
			case 'f':
				args[k].type = BT_WASM_F32;
				break;
			case 'F':
				args[k].type = BT_WASM_F64;
				break;
			case 'r':
				args[k].type = BT_WASM_FUNCREF;
				break;
			default:
				args[k].type = BT_WASM_EXTERNREF;
				break;
			}
		}
		bt_wasm_instance_set_fuel(inst, 20000);
		(void)bt_wasm_instance_call(
		    inst, e.name, args, np, res, strlen(e.results));
		bt_wasm_instance_reset(inst);
	}
out:
	bt_wasm_instance_free(inst);
	bt_wasm_linker_free(l);
	bt_wasm_wasi_free(w);
	bt_wasm_module_free(m);
	scratch_empty();
	return 0;
}
