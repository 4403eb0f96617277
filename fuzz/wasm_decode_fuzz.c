/*
 * fuzz/wasm_decode_fuzz.c: decode + validate + compile arbitrary bytes as a
 * WebAssembly module (bt_wasm_module_new). Must never crash, leak or trip a
 * sanitizer; any rc is fine. Modules that load are also instantiated (no
 * imports allowed, so only self-contained ones) and each exported function
 * without parameters is called under a small fuel budget and call depth,
 * so the compiled code of accepted modules gets executed too.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bt/wasm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bt_wasm_limits lim = {
		.max_memory_bytes = 1u << 24,
		.max_table_elems = 1u << 16,
		.max_stack_slots = 1u << 16,
		.max_call_depth = 200,
		.fuel = 10000,
	};
	struct bt_wasm_val res[16];
	bt_wasm_module *m;
	bt_wasm_instance *inst;
	struct bt_diag diag;

	if (bt_wasm_module_new(&m, data, size, &diag) != 0)
		return 0;
	if (bt_wasm_module_import_count(m) == 0 &&
	    bt_wasm_instance_new(&inst, m, NULL, &lim, &diag) == 0) {
		for (size_t i = 0; i < bt_wasm_module_export_count(m) && i < 8;
		     i++) {
			struct bt_wasm_export e;

			if (bt_wasm_module_export_get(m, i, &e) != 0 ||
			    e.kind != BT_WASM_EXTERN_FUNC || e.params[0] != '\0' ||
			    strlen(e.results) > 16)
				continue;
			bt_wasm_instance_set_fuel(inst, 10000);
			(void)bt_wasm_instance_call(inst, e.name, NULL, 0, res,
			    strlen(e.results));
			bt_wasm_instance_reset(inst);
		}
		bt_wasm_instance_free(inst);
	}
	bt_wasm_module_free(m);
	return 0;
}
