/*
 * bt/wasm.h: the WebAssembly engine. Decodes and validates WebAssembly 2.0
 * modules without SIMD (MVP, sign-extension, non-trapping float-to-int,
 * multi-value, mutable globals, bulk memory, reference types), compiles each
 * module once into an internal threaded code shared by all its instances,
 * and interprets it.
 *
 * This header is the whole supported surface of wasm/. Anything not declared
 * here is not API and may change without notice.
 *
 * Objects and lifetimes:
 *   bt_wasm_module    immutable after bt_wasm_module_new; may be shared by
 *                     instances on any number of threads. It must outlive
 *                     every instance made from it.
 *   bt_wasm_linker    a table of (module name, field name) -> import value.
 *                     It is only read by bt_wasm_instance_new; it may be
 *                     freed once the instances are made, but instances
 *                     registered in it (bt_wasm_linker_define_instance)
 *                     must outlive it and every instance linked through it.
 *   bt_wasm_instance  one instantiation: memory, tables, globals, and the
 *                     execution state (value stack, call frames, program
 *                     counter). One thread at a time; only
 *                     bt_wasm_instance_interrupt may be called concurrently.
 *
 * Execution never recurses on the C stack for calls between WebAssembly
 * functions: the whole state lives in the instance, so a run stopped at an
 * instruction boundary (interrupt, fuel, deadline) can be resumed with
 * bt_wasm_instance_resume.
 */
#ifndef BT_WASM_H
#define BT_WASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt/core.h"

typedef struct bt_wasm_module bt_wasm_module;
typedef struct bt_wasm_linker bt_wasm_linker;
typedef struct bt_wasm_instance bt_wasm_instance;
/* A function of an instance (or a host function): what a funcref holds. */
typedef struct bt_wasm_func bt_wasm_func;

#define BT_WASM_PAGE_SIZE 65536u
#define BT_WASM_MAX_PAGES 65536u

/* Value types, numbered as in the binary format. */
enum bt_wasm_type {
	BT_WASM_I32 = 0x7f,
	BT_WASM_I64 = 0x7e,
	BT_WASM_F32 = 0x7d,
	BT_WASM_F64 = 0x7c,
	BT_WASM_FUNCREF = 0x70,
	BT_WASM_EXTERNREF = 0x6f,
};

/*
 * struct bt_wasm_val is a tagged value. Floats are carried as their bit
 * patterns (f32 in the low 32 bits of u.f32 / u.i32) so NaN payloads
 * survive exactly. A reference is NULL for ref.null; a funcref is a
 * bt_wasm_func pointer valid as long as its instance; an externref is any
 * host pointer, never interpreted by the engine.
 */
struct bt_wasm_val {
	uint8_t type; /* enum bt_wasm_type */
	union {
		uint32_t i32;
		uint64_t i64;
		uint32_t f32; /* bits */
		uint64_t f64; /* bits */
		void	*ref;
	} u;
};

/* Extern kinds, numbered as in the binary format. */
enum bt_wasm_extern_kind {
	BT_WASM_EXTERN_FUNC = 0,
	BT_WASM_EXTERN_TABLE = 1,
	BT_WASM_EXTERN_MEMORY = 2,
	BT_WASM_EXTERN_GLOBAL = 3,
};

/*
 * Signatures are written as two strings of type letters, params and
 * results: 'i' i32, 'I' i64, 'f' f32, 'F' f64, 'r' funcref, 'x' externref.
 * For example fd_write (i32 i32 i32 i32) -> i32 is params "iiii",
 * results "i"; a function with no results has results "".
 */

/*
 * struct bt_wasm_import / bt_wasm_export describe one import or export of a
 * module. Strings are borrowed from the module and live as long as it.
 * params/results are filled for functions only (NUL-terminated signature
 * strings as above); for tables, memories and globals, type/min/max/mut
 * describe the declared type (max is UINT64_MAX when absent).
 */
struct bt_wasm_import {
	const char *module;
	const char *name;
	int	    kind; /* enum bt_wasm_extern_kind */
	const char *params;
	const char *results;
	uint8_t	    type; /* global value type or table element type */
	bool	    mut;  /* global mutability */
	uint64_t    min;  /* table elements or memory pages */
	uint64_t    max;
};

struct bt_wasm_export {
	const char *name;
	int	    kind; /* enum bt_wasm_extern_kind */
	uint32_t    index;
	const char *params;  /* functions only, as above */
	const char *results; /* functions only */
};

/*
 * bt_wasm_module_new decodes, validates and compiles the n bytes at p. The
 * module copies everything it needs (code, names, data and element
 * segments): p is borrowed for the duration of the call only.
 *
 * Returns 0 and the module in *out; BT_ECORRUPT for a malformed binary
 * (bad magic, truncation, bad LEB128, section out of order, ...) or one that
 * fails validation (type mismatch, unknown index, ...); BT_EUNSUPPORTED for
 * a feature outside WebAssembly 2.0 without SIMD (SIMD, threads/atomics,
 * exceptions, tail calls, memory64, GC, multiple memories); BT_ELIMIT when
 * a count or size exceeds the engine's bounds; -ENOMEM. On failure diag (if
 * not NULL) names the reason and the byte offset in p where it was found.
 * Thread-safe (no shared state); does not block.
 */
BT_API int bt_wasm_module_new(bt_wasm_module **out, const void *p, size_t n,
    struct bt_diag *diag);

/*
 * bt_wasm_module_validate only decodes and validates (and compiles, which
 * cannot fail on a valid module except with -ENOMEM); same errors as
 * bt_wasm_module_new, keeps nothing.
 */
BT_API int bt_wasm_module_validate(const void *p, size_t n,
    struct bt_diag *diag);

/* bt_wasm_module_free frees m; NULL-safe. No instance of m may remain. */
BT_API void bt_wasm_module_free(bt_wasm_module *m);

/*
 * Imports and exports of a module, in declaration order. The _get
 * functions return 0 and fill *out, or -ENOENT if i is out of range.
 * bt_wasm_module_export_find looks an export up by name: 0 or -ENOENT.
 */
BT_API size_t bt_wasm_module_import_count(const bt_wasm_module *m);
BT_API int bt_wasm_module_import_get(const bt_wasm_module *m, size_t i,
    struct bt_wasm_import *out);
BT_API size_t bt_wasm_module_export_count(const bt_wasm_module *m);
BT_API int bt_wasm_module_export_get(const bt_wasm_module *m, size_t i,
    struct bt_wasm_export *out);
BT_API int bt_wasm_module_export_find(const bt_wasm_module *m,
    const char *name, struct bt_wasm_export *out);

/*
 * Host functions.
 *
 * struct bt_wasm_call is what a host function sees. args[0..nargs) are the
 * arguments as raw 64-bit slots: an i32 or f32 in the low 32 bits (f32 as
 * bits), an i64 or f64 in all 64 (f64 as bits), a reference as a pointer
 * cast to uint64_t. The function writes results[0..nresults) the same way.
 * args and results may overlap: read all arguments before writing a result.
 * inst is the calling instance (its memory is the one host calls see).
 */
struct bt_wasm_call {
	bt_wasm_instance *inst;
	const uint64_t	 *args;
	uint64_t	 *results;
	uint32_t	  nargs;
	uint32_t	  nresults;
};

/*
 * bt_wasm_host_fn is a host function. arg is the pointer given when it was
 * defined. Return 0 to continue; return bt_wasm_call_exit(call, status) to
 * end the run (WASI proc_exit); return bt_wasm_call_trap(call, fmt, ...) to
 * trap with BT_WASM_TRAP_HOST and a message; any other negative rc also
 * traps with BT_WASM_TRAP_HOST and bt_strerror(rc) as message. A host
 * function must not call back into the same instance (bt_wasm_instance_call
 * returns -EBUSY if it does).
 */
typedef int bt_wasm_host_fn(void *arg, struct bt_wasm_call *call);

/* Return code of bt_wasm_call_exit, also returned by bt_wasm_instance_call
 * when the program exited: a positive value, so it is not an error. */
#define BT_WASM_EXITED 1

/*
 * bt_wasm_call_exit records status as the instance's exit status and
 * returns BT_WASM_EXITED, for a host function to return.
 */
BT_API int bt_wasm_call_exit(struct bt_wasm_call *call, int status);

/*
 * bt_wasm_call_trap records a host-error trap message (formatted like
 * printf) and returns BT_ETRAP, for a host function to return.
 */
BT_API int bt_wasm_call_trap(struct bt_wasm_call *call, const char *fmt, ...)
    BT_PRINTF(2, 3);

/*
 * bt_wasm_call_mem returns a pointer to len bytes at guest address addr in
 * the calling instance's memory 0, or NULL if [addr, addr+len) is not
 * entirely inside the memory (or there is no memory). The pointer is valid
 * until the guest runs again (memory never moves while it grows, but a
 * later call may free the instance). Overflow-safe for any addr and len.
 */
BT_API void *bt_wasm_call_mem(struct bt_wasm_call *call, uint64_t addr,
    uint64_t len);

/*
 * Linker. bt_wasm_linker_new makes an empty one: 0 or -ENOMEM.
 * bt_wasm_linker_free is NULL-safe and frees only the linker.
 */
BT_API int  bt_wasm_linker_new(bt_wasm_linker **out);
BT_API void bt_wasm_linker_free(bt_wasm_linker *l);

/*
 * bt_wasm_linker_define_func defines a host function module.name with the
 * signature params -> results (type-letter strings, see above). Strings are
 * copied; fn and arg are retained for the life of every instance linked
 * with it. Returns 0; -EINVAL for a bad signature string; -EEXIST if
 * module.name is already defined (the definition is unchanged); -ENOMEM.
 */
BT_API int bt_wasm_linker_define_func(bt_wasm_linker *l, const char *module,
    const char *name, const char *params, const char *results,
    bt_wasm_host_fn *fn, void *arg);

/*
 * bt_wasm_linker_define_instance makes every export of inst importable as
 * module.<export name> (the spec test "register" command). inst is retained
 * (borrowed: it must outlive the linker and every instance linked through
 * it). Returns 0, -EEXIST if a name is already defined (nothing added), or
 * -ENOMEM.
 */
BT_API int bt_wasm_linker_define_instance(bt_wasm_linker *l,
    const char *module, bt_wasm_instance *inst);

/*
 * Limits of an instance. Zero in any field means "the default":
 *   max_memory_bytes  memory 0 may never grow past this (default and cap
 *                     4 GiB); a module whose minimum exceeds it fails to
 *                     instantiate with BT_ELIMIT.
 *   max_table_elems   tables may never grow past this (default 10,000,000).
 *   max_stack_slots   64-bit value-stack slots for locals and operands
 *                     (default 1 Mi slots = 8 MiB, allocated lazily).
 *   max_call_depth    nested WebAssembly calls (default 10,000).
 *   fuel              units, one per call and per loop back-edge; 0 means
 *                     unlimited. Exhaustion traps BT_WASM_TRAP_FUEL.
 *   deadline_ns       absolute bt_time_mono_ns() after which a run traps
 *                     BT_WASM_TRAP_DEADLINE (checked every 4096
 *                     back-edges or calls); 0 means none.
 */
struct bt_wasm_limits {
	uint64_t max_memory_bytes;
	uint64_t max_table_elems;
	uint64_t max_stack_slots;
	uint64_t max_call_depth;
	uint64_t fuel;
	uint64_t deadline_ns;
};

/*
 * bt_wasm_instance_new instantiates m: resolves its imports in l (l may be
 * NULL when m has none), allocates memory (reserved address space, pages
 * committed as it grows), tables and globals, applies element and data
 * segments and runs the start function, if any. limits may be NULL for the
 * defaults; it is copied.
 *
 * Returns 0 and the instance in *out. Errors: -ENOENT for an import not
 * defined in l, -EINVAL for an import of the wrong kind or type (diag names
 * it; "unlinkable"); BT_ELIMIT if the memory or a table minimum exceeds the
 * limits; BT_ETRAP if a segment is out of bounds or the start function
 * traps (diag has the trap message; "uninstantiable"); -ENOMEM. Cheap: no
 * work proportional to the module's code; only memory, tables and globals
 * are set up. Writes to imported memories and tables made before a failing
 * segment stay (as the spec says); when such writes (or the start function)
 * may have stored references to the new instance's functions in an
 * imported table or global, the half-made instance is not freed but kept,
 * invisibly, until the instance that owns that table or global is freed.
 */
BT_API int bt_wasm_instance_new(bt_wasm_instance **out,
    const bt_wasm_module *m, const bt_wasm_linker *l,
    const struct bt_wasm_limits *limits, struct bt_diag *diag);

/* bt_wasm_instance_free frees inst and its memory; NULL-safe. */
BT_API void bt_wasm_instance_free(bt_wasm_instance *inst);

/* bt_wasm_instance_module returns the module inst was made from. */
BT_API const bt_wasm_module *bt_wasm_instance_module(
    const bt_wasm_instance *inst);

/*
 * User data: one pointer the embedder can hang on an instance (a WASI
 * context, for instance). Not used by the engine. Default NULL.
 */
BT_API void  bt_wasm_instance_set_user(bt_wasm_instance *inst, void *user);
BT_API void *bt_wasm_instance_user(const bt_wasm_instance *inst);

/* Trap kinds. */
enum bt_wasm_trap_kind {
	BT_WASM_TRAP_NONE = 0,
	BT_WASM_TRAP_UNREACHABLE,
	BT_WASM_TRAP_MEMORY_OOB,	/* out of bounds memory access */
	BT_WASM_TRAP_DIV_ZERO,		/* integer divide by zero */
	BT_WASM_TRAP_INT_OVERFLOW,	/* integer overflow */
	BT_WASM_TRAP_INVALID_CONV,	/* invalid conversion to integer */
	BT_WASM_TRAP_INDIRECT_TYPE,	/* indirect call type mismatch */
	BT_WASM_TRAP_UNDEFINED_ELEM,	/* undefined element (index >= size) */
	BT_WASM_TRAP_UNINIT_ELEM,	/* uninitialized element (null) */
	BT_WASM_TRAP_TABLE_OOB,		/* out of bounds table access */
	BT_WASM_TRAP_STACK_EXHAUSTED,	/* call stack exhausted */
	BT_WASM_TRAP_FUEL,		/* fuel exhausted (resumable) */
	BT_WASM_TRAP_INTERRUPTED,	/* interrupt flag (resumable) */
	BT_WASM_TRAP_DEADLINE,		/* deadline passed (resumable) */
	BT_WASM_TRAP_HOST,		/* a host function failed */
};

/*
 * struct bt_wasm_trap describes the last trap of an instance: its kind, the
 * index of the function that trapped (in the function index space of the
 * module that defines it, imports included) and the byte offset of the
 * trapping instruction in that module's binary; msg is a sentence such as
 * "integer divide by zero". resumable is true for fuel, interrupt and
 * deadline traps, after which bt_wasm_instance_resume may continue.
 */
struct bt_wasm_trap {
	int	 kind; /* enum bt_wasm_trap_kind */
	uint32_t func;
	uint32_t offset;
	bool	 resumable;
	char	 msg[160];
};

/* bt_wasm_trap_kind_name returns a static name such as "unreachable". */
BT_API const char *bt_wasm_trap_kind_name(int kind);

/*
 * bt_wasm_instance_call calls the exported function name with nargs
 * arguments and writes its nresults results. The argument types and the
 * counts must match the function's type exactly.
 *
 * Returns 0 on return; BT_WASM_EXITED if a host function ended the run
 * (bt_wasm_instance_exit_status has the status); BT_ETRAP on a trap
 * (bt_wasm_instance_trap has the details); -ENOENT if there is no such
 * exported function; -EINVAL on a type or count mismatch; -EBUSY if the
 * instance is already running (a host function calling back) or holds a
 * suspended run (resume or bt_wasm_instance_reset it first). Runs on the
 * caller's thread; blocks only as long as the guest code runs.
 */
BT_API int bt_wasm_instance_call(bt_wasm_instance *inst, const char *name,
    const struct bt_wasm_val *args, size_t nargs,
    struct bt_wasm_val *results, size_t nresults);

/*
 * bt_wasm_instance_func returns the exported function name (NULL if none),
 * valid as long as inst, and bt_wasm_func_call calls any function (for
 * example a funcref) the same way as bt_wasm_instance_call, on inst's
 * stack. bt_wasm_func_type gives its signature strings (borrowed).
 */
BT_API bt_wasm_func *bt_wasm_instance_func(bt_wasm_instance *inst,
    const char *name);
/* The same for a name of len bytes that may contain NUL bytes. */
BT_API bt_wasm_func *bt_wasm_instance_func_n(bt_wasm_instance *inst,
    const char *name, size_t len);
BT_API int bt_wasm_func_call(bt_wasm_instance *inst, bt_wasm_func *f,
    const struct bt_wasm_val *args, size_t nargs,
    struct bt_wasm_val *results, size_t nresults);
BT_API void bt_wasm_func_type(const bt_wasm_func *f, const char **params,
    const char **results);

/*
 * bt_wasm_instance_resume continues a run stopped by a resumable trap
 * (fuel, interrupt, deadline), after the caller raised the fuel or deadline
 * with bt_wasm_instance_set_fuel/_set_deadline if that was the cause. It
 * writes the results of the originally called function. Returns like
 * bt_wasm_instance_call; -EINVAL if there is no suspended run.
 * bt_wasm_instance_reset drops a suspended run.
 */
BT_API int bt_wasm_instance_resume(bt_wasm_instance *inst,
    struct bt_wasm_val *results, size_t nresults);
BT_API void bt_wasm_instance_reset(bt_wasm_instance *inst);

/*
 * bt_wasm_instance_trap copies the last trap into *out (kind NONE if the
 * last call did not trap). bt_wasm_instance_exit_status returns the status
 * given to bt_wasm_call_exit (0 if none).
 */
BT_API void bt_wasm_instance_trap(const bt_wasm_instance *inst,
    struct bt_wasm_trap *out);
BT_API int bt_wasm_instance_exit_status(const bt_wasm_instance *inst);

/*
 * bt_wasm_instance_interrupt asks a run of inst to stop. Safe from any
 * thread and from signal handlers (one relaxed atomic store). The run stops
 * at its next call or loop back-edge with a BT_WASM_TRAP_INTERRUPTED trap;
 * the flag is cleared by that trap. If no run is in progress, the next run
 * stops at its first check.
 */
BT_API void bt_wasm_instance_interrupt(bt_wasm_instance *inst);

/*
 * Fuel left (meaningful when fuel is limited), and new fuel / deadline.
 * bt_wasm_instance_set_fuel(inst, 0) makes fuel unlimited; a deadline of 0
 * removes the deadline.
 *
 * To make instantiation cheap, each thread keeps the value stack and the
 * memory reservation of the last instance it freed for the next one
 * (released pages are dropped first, so new memory always reads as zero);
 * these stay mapped until the thread exits.
 */
BT_API uint64_t bt_wasm_instance_fuel(const bt_wasm_instance *inst);
BT_API void bt_wasm_instance_set_fuel(bt_wasm_instance *inst, uint64_t fuel);
BT_API void bt_wasm_instance_set_deadline(bt_wasm_instance *inst,
    uint64_t deadline_ns);

/*
 * bt_wasm_instance_memory returns the base of inst's memory 0 (NULL if it
 * has none) and writes its current size in bytes to *size_out (0 if none).
 * The base never moves while the instance lives (memory grows in place in
 * reserved address space); the size changes when the guest grows memory.
 */
BT_API uint8_t *bt_wasm_instance_memory(bt_wasm_instance *inst,
    size_t *size_out);

/*
 * bt_wasm_instance_global_get reads the exported global name into *out:
 * 0 or -ENOENT.
 */
BT_API int bt_wasm_instance_global_get(bt_wasm_instance *inst,
    const char *name, struct bt_wasm_val *out);

/*
 * Spec tests. bt_wasm_spectest_run runs one command script made by wabt's
 * wast2json (the JSON file; the .wasm files it names are read from the same
 * folder), with the "spectest" host module of the reference interpreter.
 * Each assertion is counted in *stats as passed, failed or skipped (text
 * modules, which only a text parser can reject, are skipped); report is
 * called with one line ("file:line: what went wrong") per failure. Returns
 * 0 when the script could be run (whatever the counts), or -errno /
 * BT_ECORRUPT if the JSON cannot be read. Not thread-safe against itself
 * only in that report may be called from the calling thread.
 */
struct bt_wasm_spectest_stats {
	uint64_t passed;
	uint64_t failed;
	uint64_t skipped;
};

typedef void bt_wasm_report_fn(void *arg, const char *line);

BT_API int bt_wasm_spectest_run(const char *json_path,
    struct bt_wasm_spectest_stats *stats, bt_wasm_report_fn *report,
    void *arg);

#endif /* BT_WASM_H */
