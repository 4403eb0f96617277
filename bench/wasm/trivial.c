/*
 * bench/wasm/trivial.c: the cost of one sandboxed run of a tiny WASI
 * command, as a worker that runs one function per request pays it: make a
 * WASI context, instantiate an already compiled module, run _start to its
 * proc_exit, free both. The module is compiled once and the linker made
 * once (bt_wasm_wasi_link with no context: each run's context is found
 * through the instance's user pointer).
 *
 *   trivial [N] [FILE.wasm]    N runs (default 20000) of FILE (default a
 *                              96-byte module whose _start calls
 *                              proc_exit(0) and has one memory page)
 * Prints "trivial: N runs, mean X us, best Y us" (per run).
 *
 * Built by bench/wasm/run.sh against the static libraries of a build.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt/core.h"
#include "bt/os.h"
#include "bt/wasm.h"
#include "bt/wasi.h"

/* (module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
 *   (memory (export "memory") 1)
 *   (func (export "_start") (call 0 (i32.const 0)))) */
static const uint8_t min_wasm[] = { 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00,
	0x00, 0x01, 0x08, 0x02, 0x60, 0x01, 0x7f, 0x00, 0x60, 0x00, 0x00, 0x02,
	0x24, 0x01, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70,
	0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77,
	0x31, 0x09, 0x70, 0x72, 0x6f, 0x63, 0x5f, 0x65, 0x78, 0x69, 0x74, 0x00,
	0x00, 0x03, 0x02, 0x01, 0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x13,
	0x02, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x06, 0x5f,
	0x73, 0x74, 0x61, 0x72, 0x74, 0x00, 0x01, 0x0a, 0x08, 0x01, 0x06, 0x00,
	0x41, 0x00, 0x10, 0x00, 0x0b };

static int
one_run(const bt_wasm_module *m, const bt_wasm_linker *l)
{
	static const char *const   argv[] = { "trivial.wasm" };
	struct bt_wasm_wasi_config wc;
	bt_wasm_instance          *inst = NULL;
	bt_wasm_wasi              *w = NULL;
	struct bt_diag             diag;
	int                        rc, status = -1;

	memset(&wc, 0, sizeof(wc));
	wc.version = 1;
	wc.argc = 1;
	wc.argv = argv;
	rc = bt_wasm_wasi_new(&w, &wc, &diag);
	if (rc == 0)
		rc = bt_wasm_instance_new(&inst, m, l, NULL, &diag);
	if (rc == 0) {
		bt_wasm_instance_set_user(inst, w);
		rc = bt_wasm_wasi_start(inst, &status);
	}
	bt_wasm_instance_free(inst);
	bt_wasm_wasi_free(w);
	if (rc != 0) {
		fprintf(stderr, "trivial: run failed: %s\n", bt_strerror(rc));
		return rc;
	}
	return status;
}

int
main(int argc, char **argv)
{
	long            n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	const uint8_t  *bytes = min_wasm;
	size_t          len = sizeof(min_wasm);
	uint8_t        *file = NULL;
	bt_wasm_module *m;
	bt_wasm_linker *l;
	struct bt_diag  diag;
	uint64_t        t0, t1, best = UINT64_MAX, total = 0;
	int             rc;

	if (n < 1)
		n = 1;
	if (argc > 2) {
		rc = bt_os_read_file(argv[2], (size_t)1 << 30, &file, &len);
		if (rc != 0) {
			fprintf(stderr, "trivial: %s: %s\n", argv[2],
			    bt_strerror(rc));
			return 1;
		}
		bytes = file;
	}
	rc = bt_wasm_module_new(&m, bytes, len, &diag);
	if (rc != 0) {
		fprintf(stderr, "trivial: bad module: %s\n", diag.msg);
		return 1;
	}
	if (bt_wasm_linker_new(&l) != 0 || bt_wasm_wasi_link(l, NULL) != 0)
		return 1;
	/* warm up allocator and page tables */
	for (int i = 0; i < 100; i++)
		if (one_run(m, l) != 0)
			return 1;
	for (long i = 0; i < n; i++) {
		t0 = bt_time_mono_ns();
		if (one_run(m, l) != 0)
			return 1;
		t1 = bt_time_mono_ns();
		total += t1 - t0;
		if (t1 - t0 < best)
			best = t1 - t0;
	}
	printf("trivial: %ld runs, mean %.2f us, best %.2f us\n", n,
	    (double)total / (double)n / 1000.0, (double)best / 1000.0);
	bt_wasm_linker_free(l);
	bt_wasm_module_free(m);
	bt_free(file);
	return 0;
}
