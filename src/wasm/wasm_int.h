/*
 * wasm_int.h: what the files of wasm/ share (not API).
 *
 *   decode.c    the binary format: sections, types, imports, segments
 *   code.c      one pass per function body: validation (the operand and
 *               control stack algorithm of the spec appendix) and
 *               compilation into threaded code
 *   exec.c      the interpreter (computed goto over the threaded code)
 *   instance.c  linker, instantiation, memory, tables, globals, the API
 *   spectest.c  the wast2json command-script runner
 */
#ifndef BT_WASM_INT_H
#define BT_WASM_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt/core.h"
#include "bt/wasm.h"

/* Bounds the decoder enforces (BT_ELIMIT past them). */
#define WASM_MAX_TYPES	     100000u
#define WASM_MAX_FUNCS	     1000000u
#define WASM_MAX_IMPORTS     100000u
#define WASM_MAX_EXPORTS     100000u
#define WASM_MAX_GLOBALS     1000000u
#define WASM_MAX_TABLES	     100000u
#define WASM_MAX_SEGMENTS    100000u
#define WASM_MAX_PARAMS	     1000u
#define WASM_MAX_LOCALS	     50000u
#define WASM_MAX_BLOCK_DEPTH 10000u
#define WASM_MAX_TABLE_ELEMS 10000000u
#define WASM_MAX_BR_TABLE    1000000u

/* A value type byte: enum bt_wasm_type, or this for "unknown" in
 * unreachable code during validation. */
#define WASM_T_ANY 0

struct wfunctype {
	uint32_t nparams;
	uint32_t nresults;
	uint8_t *types; /* nparams params, then nresults results */
	char	*sig;	/* "params\0results\0" as type letters */
	const char *sig_results;
};

static inline const uint8_t *
ft_params(const struct wfunctype *t)
{
	return t->types;
}
static inline const uint8_t *
ft_results(const struct wfunctype *t)
{
	return t->types + t->nparams;
}

struct wlimits {
	uint64_t min;
	uint64_t max; /* UINT64_MAX when absent */
};

struct wtabletype {
	uint8_t	       elem; /* BT_WASM_FUNCREF or BT_WASM_EXTERNREF */
	struct wlimits lim;
};

/* A constant expression (the only forms WebAssembly 2.0 allows). */
enum {
	CE_CONST = 0, /* val */
	CE_GLOBAL,    /* global.get idx */
	CE_REF_NULL,
	CE_REF_FUNC, /* idx */
};

struct wconst {
	uint8_t	 op;
	uint8_t	 type;
	uint32_t idx;
	uint64_t val;
};

struct wglobaltype {
	uint8_t type;
	bool	mut;
};

struct wimport {
	char	*module;
	char	*name;
	uint8_t	 kind;
	uint32_t type; /* func: type index */
	struct wtabletype  table;
	struct wlimits	   mem;
	struct wglobaltype global;
};

struct wexport {
	char	*name;
	uint32_t name_len; /* names may hold NUL bytes */
	uint8_t	 kind;
	uint32_t idx;
};

enum { SEG_ACTIVE = 0, SEG_PASSIVE, SEG_DECLARATIVE };

struct welem {
	uint8_t	       mode;
	uint8_t	       type;
	uint32_t       table;
	struct wconst  offset;
	uint32_t       n;
	struct wconst *items;
};

struct wdata {
	uint8_t	      mode;
	uint32_t      mem;
	struct wconst offset;
	uint32_t      len;
	uint8_t	     *bytes;
};

/* A compiled function body. */
struct wcode {
	uint32_t start;	      /* first cell in module->code */
	uint32_t nlocals;     /* params + declared locals */
	uint32_t frame_slots; /* nlocals + max operand height + slack */
	uint32_t body_off;    /* byte offset of the body in the binary */
};

/* pc -> binary offset, one per emitted instruction, sorted by pc. */
struct wmap {
	uint32_t pc;
	uint32_t off;
};

struct bt_wasm_module {
	uint32_t	  ntypes;
	struct wfunctype *types;
	uint32_t	  nimports;
	struct wimport	 *imports;

	uint32_t  nfuncs; /* imports included */
	uint32_t  nfunc_imports;
	uint32_t *func_type;
	struct wcode *codes; /* nfuncs - nfunc_imports */

	uint32_t	   ntables;
	uint32_t	   ntable_imports;
	struct wtabletype *tables;

	uint32_t       nmems;
	uint32_t       nmem_imports;
	struct wlimits mem;

	uint32_t	    nglobals;
	uint32_t	    nglobal_imports;
	struct wglobaltype *globals;
	struct wconst	   *global_init; /* nglobals - nglobal_imports */

	uint32_t	nexports;
	struct wexport *exports;
	int64_t		start; /* -1 when none */

	uint32_t      nelems;
	struct welem *elems;
	uint32_t      ndatas;
	struct wdata *datas;
	bool	      has_datacount;
	uint32_t      datacount;

	uint8_t *func_refd; /* functions that ref.func may name (C.refs) */

	uint64_t    *code; /* the threaded code of all functions */
	size_t	     ncode;
	size_t	     ccode; /* capacities while compiling */
	size_t	     cmap;
	struct wmap *map;
	size_t	     nmap;
};

/*
 * Runtime objects. A bt_wasm_func is what tables and funcrefs hold: the
 * instance that owns it (NULL for a host function) and how to run it.
 */
struct bt_wasm_func {
	bt_wasm_instance       *inst;
	const struct wfunctype *type;
	uint32_t		idx; /* in the owner's function index space */
	uint32_t		nlocals;
	uint32_t		nparams;
	uint32_t		frame_slots;
	const uint64_t	       *code; /* NULL for host functions */
	bt_wasm_host_fn	       *host;
	void		       *host_arg;
	struct wfunctype	host_type; /* for host functions */
};

struct wmem {
	uint8_t *base;
	uint64_t size;	    /* bytes, a multiple of the page size */
	uint64_t max_pages; /* from the type, capped by the limits */
	size_t	 reserved;  /* bytes of address space mapped */
	uint64_t decl_max;  /* declared max (UINT64_MAX when absent) */
};

struct wtable {
	void   **elems;
	uint32_t size;
	uint32_t cap;
	uint64_t max;	   /* effective max (type and limits) */
	uint64_t decl_max; /* declared max */
	uint8_t	 type;
	bt_wasm_instance *owner;
};

struct wglobal {
	uint64_t val;
	uint8_t	 type;
	bool	 mut;
	bt_wasm_instance *owner;
};

/* A call frame: the caller's state, pushed by a call. */
struct wframe {
	const uint64_t *pc;
	uint64_t       *fp;
	bt_wasm_func   *func;
};

struct bt_wasm_instance {
	const bt_wasm_module *mod;
	void		     *user;
	struct bt_wasm_limits lim;

	bt_wasm_func  *fobj; /* functions defined or host-imported here */
	bt_wasm_func **funcs;
	struct wmem    mem_own;
	struct wmem   *mem; /* memory 0 or NULL */
	struct wtable	*table_own;
	struct wtable  **tables;
	struct wglobal	*global_own;
	struct wglobal **globals;
	uint8_t		*data_dropped;
	uint8_t		*elem_dropped;

	/* Execution state (see exec.c). */
	uint64_t      *stack;
	size_t	       stack_slots;
	struct wframe *frames;
	uint32_t       depth;
	uint32_t       max_depth;
	bool	       running;
	bool	       suspended;
	const uint64_t *s_pc;
	uint64_t      *s_fp;
	bt_wasm_func  *s_func;
	bt_wasm_func  *s_entry;
	uint64_t       fuel;
	atomic_int     interrupt;
	struct bt_wasm_trap trap;
	int	       exit_status;
	/* Half-made instances whose functions escaped into this instance's
	 * tables or globals before their instantiation failed; freed with
	 * this instance (see bt_wasm_instance_new). */
	bt_wasm_instance *zombies;
	bt_wasm_instance *next_zombie;
};

/* decode.c */
int  bt__wasm_decode(bt_wasm_module *m, const uint8_t *p, size_t n,
     struct bt_diag *diag);
void bt__wasm_module_fini(bt_wasm_module *m);
int  bt__wasm_type_letter(uint8_t t);

/* code.c: validates and compiles the body of defined function fi at
 * [p, end), appending to m->code. */
struct wcomp;
int bt__wasm_compile_func(bt_wasm_module *m, uint32_t fi, const uint8_t *base,
    const uint8_t *p, const uint8_t *end, struct bt_diag *diag);
/* fuse.c: once every body is compiled, gives each direct call (CALL_D,
 * CALL_D_ADDI) the place of its callee's code relative to the call and
 * the end of the callee's frame relative to the caller's frame. */
void bt__wasm_fuse_calls(bt_wasm_module *m);

/* exec.c */
enum wop {
#define X(name, n) OP_##name,
#include "ops.h"
#undef X
	OP__COUNT
};
extern const uint8_t bt__wasm_op_len[OP__COUNT];
/* bt__wasm_handler returns the threaded-code cell for op. */
uint64_t bt__wasm_handler(int op);
/*
 * bt__wasm_exec runs f with the args at inst->stack[0..] (results land at
 * inst->stack[0..]). Returns 0, BT_WASM_EXITED, or BT_ETRAP with inst->trap
 * filled. If resume is true, continues the saved suspended state instead.
 */
int bt__wasm_exec(bt_wasm_instance *inst, bt_wasm_func *f, bool resume);
int  bt__wasm_stack_alloc(bt_wasm_instance *inst);
void bt__wasm_stack_free(bt_wasm_instance *inst);

/* instance.c helpers shared with exec.c */
void bt__wasm_trap_set(bt_wasm_instance *inst, int kind, bt_wasm_func *f,
    const uint64_t *pc);
int  bt__wasm_mem_grow(struct wmem *mem, uint32_t delta, uint32_t *old_out);
int  bt__wasm_table_grow(struct wtable *t, uint32_t delta, void *init,
     uint32_t *old_out);
bool bt__wasm_type_eq(const struct wfunctype *a, const struct wfunctype *b);
uint32_t bt__wasm_map_off(const bt_wasm_module *m, uint32_t pc);

#endif /* BT_WASM_INT_H */
