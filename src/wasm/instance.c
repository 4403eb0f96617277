/*
 * instance.c: the public API of wasm/: modules, the linker, instances
 * (linking, memory, tables, globals, segments, start), calls, and traps.
 * The decoder is decode.c/code.c and the interpreter exec.c.
 *
 * Instantiation is kept cheap: the compiled code belongs to the module and
 * is shared; an instance allocates one block for its function objects,
 * tables, globals and segment flags, reserves its memory's address space
 * with one mmap (pages are committed by the kernel as they are touched) and
 * maps its value stack only at its first call.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "wasm_int.h"

/* ---- modules ---- */

int
bt_wasm_module_new(bt_wasm_module **out, const void *p, size_t n,
    struct bt_diag *diag)
{
	bt_wasm_module *m;
	int rc;

	bt_diag_clear(diag);
	if (p == NULL && n != 0)
		return -EINVAL;
	m = bt_zalloc(sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	rc = bt__wasm_decode(m, p, n, diag);
	if (rc != 0) {
		if (rc == -ENOMEM && diag != NULL && diag->msg[0] == '\0')
			bt_diag_set(diag, -1, "out of memory");
		bt__wasm_module_fini(m);
		bt_free(m);
		return rc;
	}
	/* Trim the code arrays to their final sizes. */
	if (m->code != NULL && m->ccode > m->ncode) {
		uint64_t *q = bt_realloc(m->code, m->ncode * sizeof(*q) + 8);
		if (q != NULL)
			m->code = q;
	}
	if (m->map != NULL && m->cmap > m->nmap) {
		struct wmap *q = bt_realloc(m->map, m->nmap * sizeof(*q) + 8);
		if (q != NULL)
			m->map = q;
	}
	*out = m;
	return 0;
}

int
bt_wasm_module_validate(const void *p, size_t n, struct bt_diag *diag)
{
	bt_wasm_module *m;
	int rc;

	rc = bt_wasm_module_new(&m, p, n, diag);
	if (rc == 0)
		bt_wasm_module_free(m);
	return rc;
}

void
bt_wasm_module_free(bt_wasm_module *m)
{
	if (m == NULL)
		return;
	bt__wasm_module_fini(m);
	bt_free(m);
}

size_t
bt_wasm_module_import_count(const bt_wasm_module *m)
{
	return m->nimports;
}

int
bt_wasm_module_import_get(const bt_wasm_module *m, size_t i,
    struct bt_wasm_import *out)
{
	const struct wimport *im;

	if (i >= m->nimports)
		return -ENOENT;
	im = &m->imports[i];
	memset(out, 0, sizeof(*out));
	out->module = im->module;
	out->name = im->name;
	out->kind = im->kind;
	out->max = UINT64_MAX;
	switch (im->kind) {
	case BT_WASM_EXTERN_FUNC:
		out->params = m->types[im->type].sig;
		out->results = m->types[im->type].sig_results;
		break;
	case BT_WASM_EXTERN_TABLE:
		out->type = im->table.elem;
		out->min = im->table.lim.min;
		out->max = im->table.lim.max;
		break;
	case BT_WASM_EXTERN_MEMORY:
		out->min = im->mem.min;
		out->max = im->mem.max;
		break;
	case BT_WASM_EXTERN_GLOBAL:
		out->type = im->global.type;
		out->mut = im->global.mut;
		break;
	}
	return 0;
}

size_t
bt_wasm_module_export_count(const bt_wasm_module *m)
{
	return m->nexports;
}

int
bt_wasm_module_export_get(const bt_wasm_module *m, size_t i,
    struct bt_wasm_export *out)
{
	const struct wexport *e;

	if (i >= m->nexports)
		return -ENOENT;
	e = &m->exports[i];
	memset(out, 0, sizeof(*out));
	out->name = e->name;
	out->kind = e->kind;
	out->index = e->idx;
	if (e->kind == BT_WASM_EXTERN_FUNC) {
		const struct wfunctype *t = &m->types[m->func_type[e->idx]];
		out->params = t->sig;
		out->results = t->sig_results;
	}
	return 0;
}

int
bt_wasm_module_export_find(const bt_wasm_module *m, const char *name,
    struct bt_wasm_export *out)
{
	for (uint32_t i = 0; i < m->nexports; i++)
		if (strcmp(m->exports[i].name, name) == 0)
			return bt_wasm_module_export_get(m, i, out);
	return -ENOENT;
}

bool
bt__wasm_type_eq(const struct wfunctype *a, const struct wfunctype *b)
{
	return a->nparams == b->nparams && a->nresults == b->nresults &&
	    memcmp(a->types, b->types, a->nparams + a->nresults) == 0;
}

uint32_t
bt__wasm_map_off(const bt_wasm_module *m, uint32_t pc)
{
	size_t lo = 0, hi = m->nmap;

	if (m->nmap == 0)
		return 0;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->map[mid].pc <= pc)
			lo = mid;
		else
			hi = mid;
	}
	return m->map[lo].off;
}

/* ---- linker ---- */

struct lentry {
	char		 *module;
	char		 *name;
	uint8_t		  kind;
	bt_wasm_func	 *host; /* owned, for host functions */
	bt_wasm_instance *inst;
	uint32_t	  idx; /* index in inst's space of that kind */
};

struct bt_wasm_linker {
	struct lentry *e;
	size_t	       n;
	size_t	       cap;
};

int
bt_wasm_linker_new(bt_wasm_linker **out)
{
	bt_wasm_linker *l = bt_zalloc(sizeof(*l));

	if (l == NULL)
		return -ENOMEM;
	*out = l;
	return 0;
}

void
bt_wasm_linker_free(bt_wasm_linker *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		bt_free(l->e[i].module);
		bt_free(l->e[i].name);
		if (l->e[i].host != NULL) {
			bt_free(l->e[i].host->host_type.types);
			bt_free(l->e[i].host->host_type.sig);
			bt_free(l->e[i].host);
		}
	}
	bt_free(l->e);
	bt_free(l);
}

static struct lentry *
linker_find(const bt_wasm_linker *l, const char *module, const char *name)
{
	if (l == NULL)
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->e[i].module, module) == 0 &&
		    strcmp(l->e[i].name, name) == 0)
			return &l->e[i];
	return NULL;
}

static int
linker_add(bt_wasm_linker *l, const char *module, const char *name,
    struct lentry **out)
{
	struct lentry *e;

	if (linker_find(l, module, name) != NULL)
		return -EEXIST;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		struct lentry *p = bt_realloc(l->e, nc * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		l->e = p;
		l->cap = nc;
	}
	e = &l->e[l->n];
	memset(e, 0, sizeof(*e));
	e->module = bt_strdup(module);
	e->name = bt_strdup(name);
	if (e->module == NULL || e->name == NULL) {
		bt_free(e->module);
		bt_free(e->name);
		return -ENOMEM;
	}
	l->n++;
	*out = e;
	return 0;
}

static int
letter_type(char c, uint8_t *out)
{
	switch (c) {
	case 'i':
		*out = BT_WASM_I32;
		return 0;
	case 'I':
		*out = BT_WASM_I64;
		return 0;
	case 'f':
		*out = BT_WASM_F32;
		return 0;
	case 'F':
		*out = BT_WASM_F64;
		return 0;
	case 'r':
		*out = BT_WASM_FUNCREF;
		return 0;
	case 'x':
		*out = BT_WASM_EXTERNREF;
		return 0;
	default:
		return -EINVAL;
	}
}

int
bt_wasm_linker_define_func(bt_wasm_linker *l, const char *module,
    const char *name, const char *params, const char *results,
    bt_wasm_host_fn *fn, void *arg)
{
	size_t np = strlen(params), nr = strlen(results);
	bt_wasm_func *f;
	struct lentry *e;
	int rc;

	if (fn == NULL || np > WASM_MAX_PARAMS || nr > WASM_MAX_PARAMS)
		return -EINVAL;
	f = bt_zalloc(sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->host_type.types = bt_alloc(np + nr + 1);
	f->host_type.sig = bt_alloc(np + nr + 2);
	if (f->host_type.types == NULL || f->host_type.sig == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	for (size_t i = 0; i < np + nr; i++) {
		char c = i < np ? params[i] : results[i - np];
		if ((rc = letter_type(c, &f->host_type.types[i])) != 0)
			goto err;
	}
	f->host_type.nparams = (uint32_t)np;
	f->host_type.nresults = (uint32_t)nr;
	memcpy(f->host_type.sig, params, np + 1);
	memcpy(f->host_type.sig + np + 1, results, nr + 1);
	f->host_type.sig_results = f->host_type.sig + np + 1;
	f->type = &f->host_type;
	f->nparams = (uint32_t)np;
	f->host = fn;
	f->host_arg = arg;
	if ((rc = linker_add(l, module, name, &e)) != 0)
		goto err;
	e->kind = BT_WASM_EXTERN_FUNC;
	e->host = f;
	return 0;
err:
	bt_free(f->host_type.types);
	bt_free(f->host_type.sig);
	bt_free(f);
	return rc;
}

int
bt_wasm_linker_define_instance(bt_wasm_linker *l, const char *module,
    bt_wasm_instance *inst)
{
	const bt_wasm_module *m = inst->mod;
	size_t n0 = l->n;
	struct lentry *e;
	int rc;

	for (uint32_t i = 0; i < m->nexports; i++)
		if (linker_find(l, module, m->exports[i].name) != NULL)
			return -EEXIST;
	for (uint32_t i = 0; i < m->nexports; i++) {
		if ((rc = linker_add(l, module, m->exports[i].name, &e)) != 0) {
			while (l->n > n0) {
				l->n--;
				bt_free(l->e[l->n].module);
				bt_free(l->e[l->n].name);
			}
			return rc;
		}
		e->kind = m->exports[i].kind;
		e->inst = inst;
		e->idx = m->exports[i].idx;
	}
	return 0;
}

/* ---- memory and tables ---- */

/*
 * One released memory reservation per thread is kept for the next
 * instance (the pooling idea of other runtimes): its pages are dropped
 * (MADV_DONTNEED, so they read as zero again) and protected, which is
 * cheaper than unmapping and mapping gigabytes of address space.
 */
static __thread uint8_t *mem_cache;
static __thread size_t	 mem_cache_bytes;

static int
mem_init(struct wmem *mem, const struct wlimits *lim, uint64_t max_bytes)
{
	uint64_t maxp = lim->max != UINT64_MAX ? lim->max : BT_WASM_MAX_PAGES;
	uint64_t capp = max_bytes / BT_WASM_PAGE_SIZE;
	size_t reserve;
	void *p;

	if (maxp > capp)
		maxp = capp;
	if (lim->min > maxp)
		return BT_ELIMIT;
	reserve = (size_t)(maxp ? maxp : 1) * BT_WASM_PAGE_SIZE;
	if (mem_cache != NULL && mem_cache_bytes == reserve) {
		p = mem_cache;
		mem_cache = NULL;
	} else {
		p = mmap(NULL, reserve, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return -ENOMEM;
	}
	if (lim->min > 0 &&
	    mprotect(p, lim->min * BT_WASM_PAGE_SIZE, PROT_READ | PROT_WRITE) != 0) {
		munmap(p, reserve);
		return -ENOMEM;
	}
	mem->base = p;
	mem->reserved = reserve;
	mem->size = lim->min * BT_WASM_PAGE_SIZE;
	mem->max_pages = maxp;
	mem->decl_max = lim->max;
	return 0;
}

static void
mem_fini(struct wmem *mem)
{
	if (mem->base == NULL)
		return;
	if (mem_cache == NULL &&
	    (mem->size == 0 ||
		(madvise(mem->base, mem->size, MADV_DONTNEED) == 0 &&
		    mprotect(mem->base, mem->size, PROT_NONE) == 0))) {
		mem_cache = mem->base;
		mem_cache_bytes = mem->reserved;
	} else {
		munmap(mem->base, mem->reserved);
	}
	memset(mem, 0, sizeof(*mem));
}

int
bt__wasm_mem_grow(struct wmem *mem, uint32_t delta, uint32_t *old_out)
{
	uint64_t old = mem->size / BT_WASM_PAGE_SIZE;

	if (delta == 0) {
		*old_out = (uint32_t)old;
		return 0;
	}
	if (old + delta > mem->max_pages)
		return -ENOMEM;
	if (mprotect(mem->base + mem->size, (size_t)delta * BT_WASM_PAGE_SIZE,
		PROT_READ | PROT_WRITE) != 0)
		return -ENOMEM;
	mem->size += (uint64_t)delta * BT_WASM_PAGE_SIZE;
	*old_out = (uint32_t)old;
	return 0;
}

int
bt__wasm_table_grow(struct wtable *t, uint32_t delta, void *init,
    uint32_t *old_out)
{
	uint64_t want = (uint64_t)t->size + delta;

	if (want > t->max)
		return -ENOMEM;
	if (want > t->cap) {
		uint64_t nc = t->cap * 2 > want ? t->cap * 2 : want;
		void **p;

		if (nc > t->max)
			nc = t->max;
		p = bt_realloc(t->elems, (size_t)(nc ? nc : 1) * sizeof(void *));
		if (p == NULL)
			return -ENOMEM;
		t->elems = p;
		t->cap = (uint32_t)nc;
	}
	for (uint64_t i = t->size; i < want; i++)
		t->elems[i] = init;
	*old_out = t->size;
	t->size = (uint32_t)want;
	return 0;
}

/* ---- instances ---- */

static const char *const trap_names[] = {
	[BT_WASM_TRAP_NONE] = "none",
	[BT_WASM_TRAP_UNREACHABLE] = "unreachable",
	[BT_WASM_TRAP_MEMORY_OOB] = "out of bounds memory access",
	[BT_WASM_TRAP_DIV_ZERO] = "integer divide by zero",
	[BT_WASM_TRAP_INT_OVERFLOW] = "integer overflow",
	[BT_WASM_TRAP_INVALID_CONV] = "invalid conversion to integer",
	[BT_WASM_TRAP_INDIRECT_TYPE] = "indirect call type mismatch",
	[BT_WASM_TRAP_UNDEFINED_ELEM] = "undefined element",
	[BT_WASM_TRAP_UNINIT_ELEM] = "uninitialized element",
	[BT_WASM_TRAP_TABLE_OOB] = "out of bounds table access",
	[BT_WASM_TRAP_STACK_EXHAUSTED] = "call stack exhausted",
	[BT_WASM_TRAP_FUEL] = "fuel exhausted",
	[BT_WASM_TRAP_INTERRUPTED] = "interrupted",
	[BT_WASM_TRAP_DEADLINE] = "deadline exceeded",
	[BT_WASM_TRAP_HOST] = "host function failed",
};

const char *
bt_wasm_trap_kind_name(int kind)
{
	if (kind < 0 || kind > BT_WASM_TRAP_HOST)
		return "unknown";
	return trap_names[kind];
}

void
bt__wasm_trap_set(bt_wasm_instance *inst, int kind, bt_wasm_func *f,
    const uint64_t *pc)
{
	struct bt_wasm_trap *t = &inst->trap;

	t->kind = kind;
	t->func = f ? f->idx : 0;
	t->offset = 0;
	if (f != NULL && f->inst != NULL && pc != NULL) {
		const bt_wasm_module *m = f->inst->mod;
		t->offset = bt__wasm_map_off(m, (uint32_t)(pc - m->code));
	}
	t->resumable = kind == BT_WASM_TRAP_FUEL ||
	    kind == BT_WASM_TRAP_INTERRUPTED || kind == BT_WASM_TRAP_DEADLINE;
	if (t->msg[0] == '\0')
		snprintf(t->msg, sizeof(t->msg), "%s", trap_names[kind]);
}

static void
limits_fill(struct bt_wasm_limits *l, const struct bt_wasm_limits *in)
{
	if (in != NULL)
		*l = *in;
	else
		memset(l, 0, sizeof(*l));
	if (l->max_memory_bytes == 0 || l->max_memory_bytes > (1ull << 32))
		l->max_memory_bytes = 1ull << 32;
	if (l->max_table_elems == 0 || l->max_table_elems > WASM_MAX_TABLE_ELEMS)
		l->max_table_elems = WASM_MAX_TABLE_ELEMS;
	if (l->max_stack_slots == 0)
		l->max_stack_slots = 1u << 20;
	if (l->max_stack_slots < 1024)
		l->max_stack_slots = 1024;
	if (l->max_stack_slots > (1u << 28))
		l->max_stack_slots = 1u << 28;
	if (l->max_call_depth == 0)
		l->max_call_depth = 10000;
	if (l->max_call_depth > 10000000)
		l->max_call_depth = 10000000;
}

static uint64_t
const_eval(bt_wasm_instance *inst, const struct wconst *c)
{
	switch (c->op) {
	case CE_CONST:
		return c->val;
	case CE_GLOBAL:
		return inst->globals[c->idx]->val;
	case CE_REF_FUNC:
		return (uint64_t)(uintptr_t)inst->funcs[c->idx];
	default:
		return 0;
	}
}

static bool
limits_match(uint64_t amin, uint64_t amax, const struct wlimits *want)
{
	if (amin < want->min)
		return false;
	if (want->max != UINT64_MAX && (amax == UINT64_MAX || amax > want->max))
		return false;
	return true;
}

static int
link_imports(bt_wasm_instance *inst, const bt_wasm_linker *l,
    struct bt_diag *diag)
{
	const bt_wasm_module *m = inst->mod;
	uint32_t fi = 0, ti = 0, gi = 0;

	for (uint32_t i = 0; i < m->nimports; i++) {
		const struct wimport *im = &m->imports[i];
		struct lentry *e = linker_find(l, im->module, im->name);
		bt_wasm_instance *src;

		if (e == NULL) {
			bt_diag_set(diag, -1, "unknown import %s.%s", im->module,
			    im->name);
			return -ENOENT;
		}
		if (e->kind != im->kind)
			goto mismatch;
		src = e->inst;
		switch (im->kind) {
		case BT_WASM_EXTERN_FUNC: {
			bt_wasm_func *f = e->host ? e->host : src->funcs[e->idx];

			if (!bt__wasm_type_eq(f->type, &m->types[im->type]))
				goto mismatch;
			if (e->host) {
				/* A private copy: the linker may go away. */
				bt_wasm_func *c = &inst->fobj[fi];
				*c = *e->host;
				c->host_type.types = NULL;
				c->host_type.sig = NULL;
				c->type = &m->types[im->type];
				c->idx = fi;
				f = c;
			}
			inst->funcs[fi++] = f;
			break;
		}
		case BT_WASM_EXTERN_TABLE: {
			struct wtable *t = src->tables[e->idx];

			if (t->type != im->table.elem ||
			    !limits_match(t->size, t->decl_max, &im->table.lim))
				goto mismatch;
			inst->tables[ti++] = t;
			break;
		}
		case BT_WASM_EXTERN_MEMORY: {
			struct wmem *mm = src->mem;

			if (!limits_match(mm->size / BT_WASM_PAGE_SIZE,
				mm->decl_max, &im->mem))
				goto mismatch;
			inst->mem = mm;
			break;
		}
		case BT_WASM_EXTERN_GLOBAL: {
			struct wglobal *g = src->globals[e->idx];

			if (g->type != im->global.type || g->mut != im->global.mut)
				goto mismatch;
			inst->globals[gi++] = g;
			break;
		}
		}
		continue;
mismatch:
		bt_diag_set(diag, -1, "incompatible import type for %s.%s",
		    im->module, im->name);
		return -EINVAL;
	}
	return 0;
}

static int
run_start(bt_wasm_instance *inst, struct bt_diag *diag)
{
	bt_wasm_func *f = inst->funcs[inst->mod->start];
	int rc;

	rc = bt_wasm_func_call(inst, f, NULL, 0, NULL, 0);
	if (rc == BT_ETRAP)
		bt_diag_set(diag, inst->trap.offset, "start function trapped: %s",
		    inst->trap.msg);
	return rc == BT_WASM_EXITED ? 0 : rc;
}

/*
 * A trap while applying segments or in the start function leaves earlier
 * writes in place (WebAssembly 2.0), and those may have put references to
 * this instance's functions into imported tables or reference globals.
 * Then the instance cannot be freed; it is parked on the instance that
 * owns the first such table or global and freed with it.
 */
static bool
park_zombie(bt_wasm_instance *inst)
{
	const bt_wasm_module *m = inst->mod;
	bt_wasm_instance *anchor = NULL;

	for (uint32_t i = 0; i < m->ntable_imports && anchor == NULL; i++)
		anchor = inst->tables[i]->owner;
	for (uint32_t i = 0; i < m->nglobal_imports && anchor == NULL; i++) {
		struct wglobal *g = inst->globals[i];
		if (g->mut && (g->type == BT_WASM_FUNCREF ||
				  g->type == BT_WASM_EXTERNREF))
			anchor = g->owner;
	}
	if (anchor == NULL)
		return false;
	inst->next_zombie = anchor->zombies;
	anchor->zombies = inst;
	return true;
}

int
bt_wasm_instance_new(bt_wasm_instance **out, const bt_wasm_module *m,
    const bt_wasm_linker *l, const struct bt_wasm_limits *limits,
    struct bt_diag *diag)
{
	bt_wasm_instance *inst;
	size_t sz, o_fobj, o_funcs, o_tabown, o_tabs, o_gown, o_gs, o_dd, o_ed;
	int rc;

	bt_diag_clear(diag);
	/* One block for everything sized by the module. */
	sz = sizeof(*inst);
#define LAY(off, n, t)                                                      \
	do {                                                                \
		sz = (sz + _Alignof(t) - 1) & ~(size_t)(_Alignof(t) - 1);   \
		off = sz;                                                   \
		sz += (size_t)(n) * sizeof(t);                              \
	} while (0)
	LAY(o_fobj, m->nfuncs, bt_wasm_func);
	LAY(o_funcs, m->nfuncs, bt_wasm_func *);
	LAY(o_tabown, m->ntables - m->ntable_imports, struct wtable);
	LAY(o_tabs, m->ntables, struct wtable *);
	LAY(o_gown, m->nglobals - m->nglobal_imports, struct wglobal);
	LAY(o_gs, m->nglobals, struct wglobal *);
	LAY(o_dd, m->ndatas, uint8_t);
	LAY(o_ed, m->nelems, uint8_t);
#undef LAY
	inst = bt_zalloc(sz);
	if (inst == NULL)
		return -ENOMEM;
	inst->mod = m;
	limits_fill(&inst->lim, limits);
	inst->fuel = inst->lim.fuel;
	inst->fobj = (bt_wasm_func *)((uint8_t *)inst + o_fobj);
	inst->funcs = (bt_wasm_func **)((uint8_t *)inst + o_funcs);
	inst->table_own = (struct wtable *)((uint8_t *)inst + o_tabown);
	inst->tables = (struct wtable **)((uint8_t *)inst + o_tabs);
	inst->global_own = (struct wglobal *)((uint8_t *)inst + o_gown);
	inst->globals = (struct wglobal **)((uint8_t *)inst + o_gs);
	inst->data_dropped = (uint8_t *)inst + o_dd;
	inst->elem_dropped = (uint8_t *)inst + o_ed;
	atomic_init(&inst->interrupt, 0);

	if ((rc = link_imports(inst, l, diag)) != 0)
		goto err;
	for (uint32_t i = m->nfunc_imports; i < m->nfuncs; i++) {
		bt_wasm_func *f = &inst->fobj[i];
		const struct wcode *c = &m->codes[i - m->nfunc_imports];

		f->inst = inst;
		f->type = &m->types[m->func_type[i]];
		f->idx = i;
		f->nparams = f->type->nparams;
		f->nlocals = c->nlocals;
		f->frame_slots = c->frame_slots;
		f->code = m->code + c->start;
		inst->funcs[i] = f;
	}
	for (uint32_t i = m->ntable_imports; i < m->ntables; i++) {
		struct wtable *t = &inst->table_own[i - m->ntable_imports];
		const struct wtabletype *tt = &m->tables[i];

		t->type = tt->elem;
		t->owner = inst;
		t->decl_max = tt->lim.max;
		t->max = tt->lim.max < inst->lim.max_table_elems ?
		    tt->lim.max : inst->lim.max_table_elems;
		if (tt->lim.min > t->max) {
			bt_diag_set(diag, -1, "table minimum exceeds the limit");
			rc = BT_ELIMIT;
			goto err;
		}
		t->elems = bt_calloc(tt->lim.min ? tt->lim.min : 1, sizeof(void *));
		if (t->elems == NULL) {
			rc = -ENOMEM;
			goto err;
		}
		t->size = t->cap = (uint32_t)tt->lim.min;
		inst->tables[i] = t;
	}
	if (m->nmems > m->nmem_imports) {
		rc = mem_init(&inst->mem_own, &m->mem, inst->lim.max_memory_bytes);
		if (rc != 0) {
			bt_diag_set(diag, -1, rc == BT_ELIMIT ?
			    "memory minimum exceeds the limit" :
			    "cannot reserve memory");
			goto err;
		}
		inst->mem = &inst->mem_own;
	}
	for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++) {
		struct wglobal *g = &inst->global_own[i - m->nglobal_imports];

		g->type = m->globals[i].type;
		g->mut = m->globals[i].mut;
		g->owner = inst;
		inst->globals[i] = g;
		g->val = const_eval(inst, &m->global_init[i - m->nglobal_imports]);
	}
	/* Segments, in order; a failing one leaves earlier writes in place. */
	for (uint32_t i = 0; i < m->nelems; i++) {
		const struct welem *e = &m->elems[i];

		if (e->mode == SEG_ACTIVE) {
			struct wtable *t = inst->tables[e->table];
			uint64_t off = (uint32_t)const_eval(inst, &e->offset);

			if (off + e->n > t->size) {
				bt_diag_set(diag, -1,
				    "out of bounds table access (element segment %u)", i);
				rc = BT_ETRAP;
				goto err;
			}
			for (uint32_t k = 0; k < e->n; k++)
				t->elems[off + k] = (void *)(uintptr_t)const_eval(
				    inst, &e->items[k]);
		}
		if (e->mode != SEG_PASSIVE)
			inst->elem_dropped[i] = 1;
	}
	for (uint32_t i = 0; i < m->ndatas; i++) {
		const struct wdata *d = &m->datas[i];

		if (d->mode != SEG_ACTIVE)
			continue;
		uint64_t off = (uint32_t)const_eval(inst, &d->offset);
		if (off + d->len > inst->mem->size) {
			bt_diag_set(diag, -1,
			    "out of bounds memory access (data segment %u)", i);
			rc = BT_ETRAP;
			goto err;
		}
		if (d->len)
			memcpy(inst->mem->base + off, d->bytes, d->len);
		inst->data_dropped[i] = 1;
	}
	if (m->start >= 0 && (rc = run_start(inst, diag)) != 0)
		goto err;
	*out = inst;
	return 0;
err:
	if (rc == BT_ETRAP && park_zombie(inst))
		return rc;
	bt_wasm_instance_free(inst);
	return rc;
}

void
bt_wasm_instance_free(bt_wasm_instance *inst)
{
	const bt_wasm_module *m;

	if (inst == NULL)
		return;
	while (inst->zombies != NULL) {
		bt_wasm_instance *z = inst->zombies;
		inst->zombies = z->next_zombie;
		bt_wasm_instance_free(z);
	}
	m = inst->mod;
	for (uint32_t i = 0; i < m->ntables - m->ntable_imports; i++)
		bt_free(inst->table_own[i].elems);
	mem_fini(&inst->mem_own);
	bt__wasm_stack_free(inst);
	bt_free(inst);
}

const bt_wasm_module *
bt_wasm_instance_module(const bt_wasm_instance *inst)
{
	return inst->mod;
}

void
bt_wasm_instance_set_user(bt_wasm_instance *inst, void *user)
{
	inst->user = user;
}

void *
bt_wasm_instance_user(const bt_wasm_instance *inst)
{
	return inst->user;
}

/* ---- calls ---- */

static int
export_idx_n(const bt_wasm_module *m, const char *name, size_t len, int kind,
    uint32_t *out)
{
	for (uint32_t i = 0; i < m->nexports; i++)
		if (m->exports[i].kind == kind && m->exports[i].name_len == len &&
		    memcmp(m->exports[i].name, name, len) == 0) {
			*out = m->exports[i].idx;
			return 0;
		}
	return -ENOENT;
}

static int
export_idx(const bt_wasm_module *m, const char *name, int kind, uint32_t *out)
{
	return export_idx_n(m, name, strlen(name), kind, out);
}

bt_wasm_func *
bt_wasm_instance_func(bt_wasm_instance *inst, const char *name)
{
	return bt_wasm_instance_func_n(inst, name, strlen(name));
}

bt_wasm_func *
bt_wasm_instance_func_n(bt_wasm_instance *inst, const char *name, size_t len)
{
	uint32_t idx;

	if (export_idx_n(inst->mod, name, len, BT_WASM_EXTERN_FUNC, &idx) != 0)
		return NULL;
	return inst->funcs[idx];
}

void
bt_wasm_func_type(const bt_wasm_func *f, const char **params,
    const char **results)
{
	if (params)
		*params = f->type->sig;
	if (results)
		*results = f->type->sig_results;
}

static uint64_t
val_to_slot(const struct bt_wasm_val *v)
{
	switch (v->type) {
	case BT_WASM_I32:
	case BT_WASM_F32:
		return v->u.i32;
	case BT_WASM_FUNCREF:
	case BT_WASM_EXTERNREF:
		return (uint64_t)(uintptr_t)v->u.ref;
	default:
		return v->u.i64;
	}
}

static void
slot_to_val(uint8_t type, uint64_t s, struct bt_wasm_val *v)
{
	memset(v, 0, sizeof(*v));
	v->type = type;
	switch (type) {
	case BT_WASM_I32:
	case BT_WASM_F32:
		v->u.i32 = (uint32_t)s;
		break;
	case BT_WASM_FUNCREF:
	case BT_WASM_EXTERNREF:
		v->u.ref = (void *)(uintptr_t)s;
		break;
	default:
		v->u.i64 = s;
		break;
	}
}

static void
copy_results(bt_wasm_instance *inst, const struct wfunctype *t,
    struct bt_wasm_val *results, size_t nresults)
{
	for (size_t i = 0; i < nresults && i < t->nresults; i++)
		slot_to_val(ft_results(t)[i], inst->stack[i], &results[i]);
}

int
bt_wasm_func_call(bt_wasm_instance *inst, bt_wasm_func *f,
    const struct bt_wasm_val *args, size_t nargs,
    struct bt_wasm_val *results, size_t nresults)
{
	const struct wfunctype *t = f->type;
	int rc;

	if (inst->running || inst->suspended)
		return -EBUSY;
	if (nargs != t->nparams || nresults != t->nresults)
		return -EINVAL;
	for (size_t i = 0; i < nargs; i++)
		if (args[i].type != ft_params(t)[i])
			return -EINVAL;
	if ((rc = bt__wasm_stack_alloc(inst)) != 0)
		return rc;
	if (nargs + nresults + 8 > inst->stack_slots)
		return -EINVAL;
	for (size_t i = 0; i < nargs; i++)
		inst->stack[i] = val_to_slot(&args[i]);
	memset(&inst->trap, 0, sizeof(inst->trap));
	inst->running = true;
	if (f->code == NULL) {
		struct bt_wasm_call call = {
			.inst = inst,
			.args = inst->stack,
			.results = inst->stack,
			.nargs = t->nparams,
			.nresults = t->nresults,
		};

		rc = f->host(f->host_arg, &call);
		if (rc != 0 && rc != BT_WASM_EXITED) {
			if (rc != BT_ETRAP || inst->trap.msg[0] == '\0')
				snprintf(inst->trap.msg, sizeof(inst->trap.msg),
				    "host function failed: %s", bt_strerror(rc));
			bt__wasm_trap_set(inst, BT_WASM_TRAP_HOST, f, NULL);
			rc = BT_ETRAP;
		}
	} else {
		rc = bt__wasm_exec(inst, f, false);
	}
	inst->running = false;
	if (rc == 0) {
		copy_results(inst, t, results, nresults);
		inst->s_entry = NULL;
	} else if (inst->suspended) {
		inst->s_entry = f;
	}
	return rc;
}

int
bt_wasm_instance_call(bt_wasm_instance *inst, const char *name,
    const struct bt_wasm_val *args, size_t nargs,
    struct bt_wasm_val *results, size_t nresults)
{
	bt_wasm_func *f = bt_wasm_instance_func(inst, name);

	if (f == NULL)
		return -ENOENT;
	return bt_wasm_func_call(inst, f, args, nargs, results, nresults);
}

int
bt_wasm_instance_resume(bt_wasm_instance *inst, struct bt_wasm_val *results,
    size_t nresults)
{
	bt_wasm_func *f = inst->s_entry;
	int rc;

	if (!inst->suspended || f == NULL)
		return -EINVAL;
	if (inst->running)
		return -EBUSY;
	if (nresults != f->type->nresults)
		return -EINVAL;
	memset(&inst->trap, 0, sizeof(inst->trap));
	inst->running = true;
	rc = bt__wasm_exec(inst, f, true);
	inst->running = false;
	if (rc == 0) {
		copy_results(inst, f->type, results, nresults);
		inst->s_entry = NULL;
	}
	return rc;
}

void
bt_wasm_instance_reset(bt_wasm_instance *inst)
{
	inst->suspended = false;
	inst->s_entry = NULL;
	inst->depth = 0;
}

void
bt_wasm_instance_trap(const bt_wasm_instance *inst, struct bt_wasm_trap *out)
{
	*out = inst->trap;
}

int
bt_wasm_instance_exit_status(const bt_wasm_instance *inst)
{
	return inst->exit_status;
}

void
bt_wasm_instance_interrupt(bt_wasm_instance *inst)
{
	atomic_store_explicit(&inst->interrupt, 1, memory_order_relaxed);
}

uint64_t
bt_wasm_instance_fuel(const bt_wasm_instance *inst)
{
	return inst->fuel;
}

void
bt_wasm_instance_set_fuel(bt_wasm_instance *inst, uint64_t fuel)
{
	inst->lim.fuel = fuel;
	inst->fuel = fuel;
}

void
bt_wasm_instance_set_deadline(bt_wasm_instance *inst, uint64_t deadline_ns)
{
	inst->lim.deadline_ns = deadline_ns;
}

uint8_t *
bt_wasm_instance_memory(bt_wasm_instance *inst, size_t *size_out)
{
	if (inst->mem == NULL) {
		if (size_out)
			*size_out = 0;
		return NULL;
	}
	if (size_out)
		*size_out = (size_t)inst->mem->size;
	return inst->mem->base;
}

int
bt_wasm_instance_global_get(bt_wasm_instance *inst, const char *name,
    struct bt_wasm_val *out)
{
	uint32_t idx;
	struct wglobal *g;

	if (export_idx(inst->mod, name, BT_WASM_EXTERN_GLOBAL, &idx) != 0)
		return -ENOENT;
	g = inst->globals[idx];
	slot_to_val(g->type, g->val, out);
	return 0;
}

/* ---- host call helpers ---- */

int
bt_wasm_call_exit(struct bt_wasm_call *call, int status)
{
	call->inst->exit_status = status;
	return BT_WASM_EXITED;
}

int
bt_wasm_call_trap(struct bt_wasm_call *call, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(call->inst->trap.msg, sizeof(call->inst->trap.msg), fmt, ap);
	va_end(ap);
	return BT_ETRAP;
}

void *
bt_wasm_call_mem(struct bt_wasm_call *call, uint64_t addr, uint64_t len)
{
	struct wmem *mem = call->inst->mem;

	if (mem == NULL || addr > mem->size || len > mem->size - addr)
		return NULL;
	return mem->base + addr;
}
