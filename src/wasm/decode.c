/*
 * decode.c: the WebAssembly binary format, section by section, into a
 * struct bt_wasm_module. Function bodies are handed to code.c, which
 * validates and compiles them in the same pass. Called by
 * bt_wasm_module_new (instance.c).
 *
 * Everything read here is untrusted: each count is bounded before anything
 * is allocated for it, each read is bounds-checked (reader.h), and each
 * failure names its byte offset. Features outside WebAssembly 2.0 without
 * SIMD are reported as BT_EUNSUPPORTED, not as malformed.
 */
#include <errno.h>
#include <string.h>

#include "reader.h"
#include "wasm_int.h"

enum {
	SEC_CUSTOM = 0,
	SEC_TYPE,
	SEC_IMPORT,
	SEC_FUNC,
	SEC_TABLE,
	SEC_MEMORY,
	SEC_GLOBAL,
	SEC_EXPORT,
	SEC_START,
	SEC_ELEM,
	SEC_CODE,
	SEC_DATA,
	SEC_DATACOUNT,
};

/* Position of each section id in the required order (datacount sits
 * between elem and code). */
static const uint8_t sec_rank[13] = {
	[SEC_TYPE] = 1,	    [SEC_IMPORT] = 2, [SEC_FUNC] = 3,
	[SEC_TABLE] = 4,    [SEC_MEMORY] = 5, [SEC_GLOBAL] = 6,
	[SEC_EXPORT] = 7,   [SEC_START] = 8,  [SEC_ELEM] = 9,
	[SEC_DATACOUNT] = 10, [SEC_CODE] = 11, [SEC_DATA] = 12,
};

int
bt__wasm_type_letter(uint8_t t)
{
	switch (t) {
	case BT_WASM_I32:
		return 'i';
	case BT_WASM_I64:
		return 'I';
	case BT_WASM_F32:
		return 'f';
	case BT_WASM_F64:
		return 'F';
	case BT_WASM_FUNCREF:
		return 'r';
	case BT_WASM_EXTERNREF:
		return 'x';
	default:
		return '?';
	}
}

/* A name: length-prefixed UTF-8, validated, copied NUL-terminated. */
static int
rd_name_n(struct rd *r, char **out, uint32_t *len_out)
{
	const uint8_t *s;
	uint32_t n;
	char *c;
	int rc;

	if ((rc = rd_u32(r, &n)) != 0)
		return rc;
	if ((rc = rd_bytes(r, n, &s)) != 0)
		return rc;
	for (uint32_t i = 0; i < n;) {
		uint8_t b = s[i];
		uint32_t cp, need;

		if (b < 0x80) {
			i++;
			continue;
		} else if ((b & 0xe0) == 0xc0) {
			need = 1;
			cp = b & 0x1f;
		} else if ((b & 0xf0) == 0xe0) {
			need = 2;
			cp = b & 0x0f;
		} else if ((b & 0xf8) == 0xf0) {
			need = 3;
			cp = b & 0x07;
		} else {
			return rd_fail(r, s + i, BT_ECORRUPT,
			    "malformed UTF-8 encoding");
		}
		if (n - i - 1 < need)
			return rd_fail(r, s + i, BT_ECORRUPT,
			    "malformed UTF-8 encoding");
		for (uint32_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return rd_fail(r, s + i, BT_ECORRUPT,
				    "malformed UTF-8 encoding");
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return rd_fail(r, s + i, BT_ECORRUPT,
			    "malformed UTF-8 encoding");
		i += need + 1;
	}
	c = bt_alloc((size_t)n + 1);
	if (c == NULL)
		return -ENOMEM;
	memcpy(c, s, n);
	c[n] = '\0';
	*out = c;
	if (len_out != NULL)
		*len_out = n;
	return 0;
}

static int
rd_name(struct rd *r, char **out)
{
	return rd_name_n(r, out, NULL);
}

static int
rd_limits(struct rd *r, bool mem, struct wlimits *out)
{
	const uint8_t *at = r->p;
	uint8_t flags;
	uint64_t v;
	int rc;

	if ((rc = rd_u8(r, &flags)) != 0)
		return rc;
	if (mem && (flags & 0x04))
		return rd_fail(r, at, BT_EUNSUPPORTED,
		    "unsupported feature: memory64");
	if (mem && (flags & 0x02))
		return rd_fail(r, at, BT_EUNSUPPORTED,
		    "unsupported feature: shared memory (threads)");
	if (flags > 1)
		return rd_fail(r, at, BT_ECORRUPT, "integer too large (limits flags)");
	if ((rc = rd_uleb(r, 32, &v)) != 0)
		return rc;
	out->min = v;
	out->max = UINT64_MAX;
	if (flags & 1) {
		if ((rc = rd_uleb(r, 32, &v)) != 0)
			return rc;
		out->max = v;
	}
	if (out->max != UINT64_MAX && out->max < out->min)
		return rd_fail(r, at, BT_ECORRUPT,
		    "size minimum must not be greater than maximum");
	if (mem && (out->min > BT_WASM_MAX_PAGES ||
		       (out->max != UINT64_MAX && out->max > BT_WASM_MAX_PAGES)))
		return rd_fail(r, at, BT_ECORRUPT,
		    "memory size must be at most 65536 pages (4GiB)");
	return 0;
}

static int
rd_tabletype(struct rd *r, struct wtabletype *out)
{
	int rc;

	if ((rc = rd_reftype(r, &out->elem)) != 0)
		return rc;
	return rd_limits(r, false, &out->lim);
}

static int
rd_globaltype(struct rd *r, struct wglobaltype *out)
{
	const uint8_t *at;
	uint8_t m;
	int rc;

	if ((rc = rd_valtype(r, &out->type)) != 0)
		return rc;
	at = r->p;
	if ((rc = rd_u8(r, &m)) != 0)
		return rc;
	if (m > 1)
		return rd_fail(r, at, BT_ECORRUPT, "malformed mutability");
	out->mut = m;
	return 0;
}

/*
 * A constant expression of type want: one constant instruction then end.
 * global.get may only name an immutable imported global (WebAssembly 2.0).
 */
static int
rd_const(struct rd *r, bt_wasm_module *m, uint8_t want, struct wconst *out)
{
	const uint8_t *at = r->p;
	uint8_t op, end;
	uint8_t type;
	int64_t s;
	uint32_t idx;
	const uint8_t *b;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = rd_u8(r, &op)) != 0)
		return rc;
	switch (op) {
	case 0x41:
		if ((rc = rd_sleb(r, 32, &s)) != 0)
			return rc;
		out->op = CE_CONST;
		type = BT_WASM_I32;
		out->val = (uint32_t)s;
		break;
	case 0x42:
		if ((rc = rd_sleb(r, 64, &s)) != 0)
			return rc;
		out->op = CE_CONST;
		type = BT_WASM_I64;
		out->val = (uint64_t)s;
		break;
	case 0x43:
		if ((rc = rd_bytes(r, 4, &b)) != 0)
			return rc;
		out->op = CE_CONST;
		type = BT_WASM_F32;
		out->val = bt_get_le32(b);
		break;
	case 0x44:
		if ((rc = rd_bytes(r, 8, &b)) != 0)
			return rc;
		out->op = CE_CONST;
		type = BT_WASM_F64;
		out->val = bt_get_le64(b);
		break;
	case 0xd0:
		if ((rc = rd_reftype(r, &type)) != 0)
			return rc;
		out->op = CE_REF_NULL;
		break;
	case 0xd2:
		if ((rc = rd_u32(r, &idx)) != 0)
			return rc;
		if (idx >= m->nfuncs)
			return rd_fail(r, at, BT_ECORRUPT, "unknown function");
		out->op = CE_REF_FUNC;
		out->idx = idx;
		type = BT_WASM_FUNCREF;
		m->func_refd[idx] = 1;
		break;
	case 0x23:
		if ((rc = rd_u32(r, &idx)) != 0)
			return rc;
		if (idx >= m->nglobal_imports)
			return rd_fail(r, at, BT_ECORRUPT, "unknown global");
		if (m->globals[idx].mut)
			return rd_fail(r, at, BT_ECORRUPT,
			    "constant expression required");
		out->op = CE_GLOBAL;
		out->idx = idx;
		type = m->globals[idx].type;
		break;
	case 0x0b:
		return rd_fail(r, at, BT_ECORRUPT, "type mismatch (empty constant expression)");
	default:
		return rd_fail(r, at, BT_ECORRUPT, "constant expression required");
	}
	out->type = type;
	at = r->p;
	if ((rc = rd_u8(r, &end)) != 0)
		return rc;
	if (end != 0x0b) {
		r->p = at;
		return rd_fail(r, at, BT_ECORRUPT,
		    end == 0x41 || end == 0x42 || end == 0x43 || end == 0x44 ||
			    end == 0xd0 || end == 0xd2 || end == 0x23 ?
			"type mismatch (constant expression leaves extra values)" :
			"constant expression required");
	}
	if (type != want)
		return rd_fail(r, at, BT_ECORRUPT, "type mismatch in constant expression");
	return 0;
}

static int
sec_type(struct rd *r, bt_wasm_module *m)
{
	uint32_t n;
	int rc;

	if ((rc = rd_count(r, WASM_MAX_TYPES, &n)) != 0)
		return rc;
	m->types = bt_calloc(n, sizeof(*m->types));
	if (m->types == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct wfunctype *t = &m->types[i];
		const uint8_t *at = r->p;
		uint8_t tmp[2 * WASM_MAX_PARAMS + 1];
		uint32_t np, nr;
		uint8_t form;

		if ((rc = rd_u8(r, &form)) != 0)
			return rc;
		if (form != 0x60)
			return rd_fail(r, at, BT_ECORRUPT,
			    "integer representation too long (malformed functype)");
		if ((rc = rd_count(r, WASM_MAX_PARAMS, &np)) != 0)
			return rc;
		for (uint32_t k = 0; k < np; k++)
			if ((rc = rd_valtype(r, &tmp[k])) != 0)
				return rc;
		if ((rc = rd_count(r, WASM_MAX_PARAMS, &nr)) != 0)
			return rc;
		for (uint32_t k = 0; k < nr; k++)
			if ((rc = rd_valtype(r, &tmp[np + k])) != 0)
				return rc;
		t->types = bt_memdup(tmp, (size_t)np + nr + 1);
		t->sig = bt_alloc((size_t)np + nr + 2);
		m->ntypes = i + 1;
		if (t->types == NULL || t->sig == NULL)
			return -ENOMEM;
		t->nparams = np;
		t->nresults = nr;
		for (uint32_t k = 0; k < np; k++)
			t->sig[k] = (char)bt__wasm_type_letter(t->types[k]);
		t->sig[np] = '\0';
		for (uint32_t k = 0; k < nr; k++)
			t->sig[np + 1 + k] =
			    (char)bt__wasm_type_letter(t->types[np + k]);
		t->sig[np + 1 + nr] = '\0';
		t->sig_results = t->sig + np + 1;
	}
	return 0;
}

static int
sec_import(struct rd *r, bt_wasm_module *m)
{
	uint32_t n;
	int rc;

	if ((rc = rd_count(r, WASM_MAX_IMPORTS, &n)) != 0)
		return rc;
	m->imports = bt_calloc(n, sizeof(*m->imports));
	if (m->imports == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct wimport *im = &m->imports[i];
		const uint8_t *at;
		uint8_t kind;

		m->nimports = i + 1;
		if ((rc = rd_name(r, &im->module)) != 0)
			return rc;
		if ((rc = rd_name(r, &im->name)) != 0)
			return rc;
		at = r->p;
		if ((rc = rd_u8(r, &kind)) != 0)
			return rc;
		im->kind = kind;
		switch (kind) {
		case BT_WASM_EXTERN_FUNC:
			at = r->p;
			if ((rc = rd_u32(r, &im->type)) != 0)
				return rc;
			if (im->type >= m->ntypes)
				return rd_fail(r, at, BT_ECORRUPT, "unknown type");
			m->nfunc_imports++;
			break;
		case BT_WASM_EXTERN_TABLE:
			if ((rc = rd_tabletype(r, &im->table)) != 0)
				return rc;
			m->ntable_imports++;
			break;
		case BT_WASM_EXTERN_MEMORY:
			if ((rc = rd_limits(r, true, &im->mem)) != 0)
				return rc;
			m->nmem_imports++;
			break;
		case BT_WASM_EXTERN_GLOBAL:
			if ((rc = rd_globaltype(r, &im->global)) != 0)
				return rc;
			m->nglobal_imports++;
			break;
		case 4:
			return rd_fail(r, at, BT_EUNSUPPORTED,
			    "unsupported feature: tag import (exceptions)");
		default:
			return rd_fail(r, at, BT_ECORRUPT, "malformed import kind");
		}
	}
	if (m->nmem_imports > 1)
		return rd_fail(r, r->p, BT_ECORRUPT, "multiple memories");
	if (m->nfunc_imports > WASM_MAX_FUNCS ||
	    m->nglobal_imports > WASM_MAX_GLOBALS)
		return rd_fail(r, r->p, BT_ELIMIT, "too many imports");
	/* Fill the index spaces with the imported entities. */
	m->func_type = bt_calloc(m->nfunc_imports ? m->nfunc_imports : 1,
	    sizeof(uint32_t));
	m->tables = bt_calloc(m->ntable_imports ? m->ntable_imports : 1,
	    sizeof(*m->tables));
	m->globals = bt_calloc(m->nglobal_imports ? m->nglobal_imports : 1,
	    sizeof(*m->globals));
	if (m->func_type == NULL || m->tables == NULL || m->globals == NULL)
		return -ENOMEM;
	uint32_t fi = 0, ti = 0, gi = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct wimport *im = &m->imports[i];

		switch (im->kind) {
		case BT_WASM_EXTERN_FUNC:
			m->func_type[fi++] = im->type;
			break;
		case BT_WASM_EXTERN_TABLE:
			m->tables[ti++] = im->table;
			break;
		case BT_WASM_EXTERN_MEMORY:
			m->mem = im->mem;
			break;
		case BT_WASM_EXTERN_GLOBAL:
			m->globals[gi++] = im->global;
			break;
		}
	}
	m->nfuncs = m->nfunc_imports;
	m->ntables = m->ntable_imports;
	m->nmems = m->nmem_imports;
	m->nglobals = m->nglobal_imports;
	return 0;
}

static int
grow_array(void **p, size_t n, size_t size)
{
	void *q = bt_realloc(*p, (n ? n : 1) * size);

	if (q == NULL)
		return -ENOMEM;
	*p = q;
	return 0;
}

static int
sec_func(struct rd *r, bt_wasm_module *m)
{
	uint32_t n;
	int rc;

	if ((rc = rd_count(r, WASM_MAX_FUNCS, &n)) != 0)
		return rc;
	if ((rc = grow_array((void **)&m->func_type, (size_t)m->nfuncs + n,
		 sizeof(uint32_t))) != 0)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *at = r->p;
		uint32_t t;

		if ((rc = rd_u32(r, &t)) != 0)
			return rc;
		if (t >= m->ntypes)
			return rd_fail(r, at, BT_ECORRUPT, "unknown type");
		m->func_type[m->nfuncs + i] = t;
	}
	m->nfuncs += n;
	m->codes = bt_calloc(n ? n : 1, sizeof(*m->codes));
	if (m->codes == NULL)
		return -ENOMEM;
	return 0;
}

static int
sec_table(struct rd *r, bt_wasm_module *m)
{
	uint32_t n;
	int rc;

	if ((rc = rd_count(r, WASM_MAX_TABLES, &n)) != 0)
		return rc;
	if ((rc = grow_array((void **)&m->tables, (size_t)m->ntables + n,
		 sizeof(*m->tables))) != 0)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		if ((rc = rd_tabletype(r, &m->tables[m->ntables])) != 0)
			return rc;
		m->ntables++;
	}
	return 0;
}

static int
sec_memory(struct rd *r, bt_wasm_module *m)
{
	const uint8_t *at = r->p;
	uint32_t n;
	int rc;

	if ((rc = rd_count(r, 2, &n)) != 0)
		return rc;
	if (m->nmems + n > 1)
		return rd_fail(r, at, BT_ECORRUPT, "multiple memories");
	for (uint32_t i = 0; i < n; i++) {
		if ((rc = rd_limits(r, true, &m->mem)) != 0)
			return rc;
		m->nmems++;
	}
	return 0;
}

static int
sec_global(struct rd *r, bt_wasm_module *m)
{
	uint32_t n;
	int rc;

	if ((rc = rd_count(r, WASM_MAX_GLOBALS, &n)) != 0)
		return rc;
	if ((rc = grow_array((void **)&m->globals, (size_t)m->nglobals + n,
		 sizeof(*m->globals))) != 0)
		return rc;
	m->global_init = bt_calloc(n ? n : 1, sizeof(*m->global_init));
	if (m->global_init == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct wglobaltype *g = &m->globals[m->nglobals];

		if ((rc = rd_globaltype(r, g)) != 0)
			return rc;
		if ((rc = rd_const(r, m, g->type, &m->global_init[i])) != 0)
			return rc;
		m->nglobals++;
	}
	return 0;
}

static int
sec_export(struct rd *r, bt_wasm_module *m)
{
	uint32_t n;
	int rc;

	if ((rc = rd_count(r, WASM_MAX_EXPORTS, &n)) != 0)
		return rc;
	m->exports = bt_calloc(n ? n : 1, sizeof(*m->exports));
	if (m->exports == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct wexport *e = &m->exports[i];
		const uint8_t *at = r->p;
		uint8_t kind;
		uint32_t idx, lim = 0;

		if ((rc = rd_name_n(r, &e->name, &e->name_len)) != 0)
			return rc;
		m->nexports = i + 1;
		for (uint32_t k = 0; k < i; k++)
			if (m->exports[k].name_len == e->name_len &&
			    memcmp(m->exports[k].name, e->name, e->name_len) == 0)
				return rd_fail(r, at, BT_ECORRUPT,
				    "duplicate export name");
		at = r->p;
		if ((rc = rd_u8(r, &kind)) != 0)
			return rc;
		if ((rc = rd_u32(r, &idx)) != 0)
			return rc;
		switch (kind) {
		case BT_WASM_EXTERN_FUNC:
			lim = m->nfuncs;
			break;
		case BT_WASM_EXTERN_TABLE:
			lim = m->ntables;
			break;
		case BT_WASM_EXTERN_MEMORY:
			lim = m->nmems;
			break;
		case BT_WASM_EXTERN_GLOBAL:
			lim = m->nglobals;
			break;
		default:
			return rd_fail(r, at, BT_ECORRUPT, "malformed export kind");
		}
		if (idx >= lim)
			return rd_fail(r, at, BT_ECORRUPT,
			    kind == 0 ? "unknown function" :
			    kind == 1 ? "unknown table" :
			    kind == 2 ? "unknown memory" : "unknown global");
		e->kind = kind;
		e->idx = idx;
		if (kind == BT_WASM_EXTERN_FUNC)
			m->func_refd[idx] = 1;
	}
	return 0;
}

static int
sec_start(struct rd *r, bt_wasm_module *m)
{
	const uint8_t *at = r->p;
	uint32_t idx;
	int rc;

	if ((rc = rd_u32(r, &idx)) != 0)
		return rc;
	if (idx >= m->nfuncs)
		return rd_fail(r, at, BT_ECORRUPT, "unknown function");
	const struct wfunctype *t = &m->types[m->func_type[idx]];
	if (t->nparams != 0 || t->nresults != 0)
		return rd_fail(r, at, BT_ECORRUPT, "start function must be [] -> []");
	m->start = idx;
	return 0;
}

static int
sec_elem(struct rd *r, bt_wasm_module *m)
{
	uint32_t n;
	int rc;

	if ((rc = rd_count(r, WASM_MAX_SEGMENTS, &n)) != 0)
		return rc;
	m->elems = bt_calloc(n ? n : 1, sizeof(*m->elems));
	if (m->elems == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct welem *e = &m->elems[i];
		const uint8_t *at = r->p;
		uint32_t flags, cnt;
		uint8_t b;

		m->nelems = i + 1;
		if ((rc = rd_u32(r, &flags)) != 0)
			return rc;
		if (flags > 7)
			return rd_fail(r, at, BT_ECORRUPT,
			    "malformed elements segment kind");
		e->type = BT_WASM_FUNCREF;
		if (flags & 1)
			e->mode = (flags & 2) ? SEG_DECLARATIVE : SEG_PASSIVE;
		else
			e->mode = SEG_ACTIVE;
		if (e->mode == SEG_ACTIVE) {
			if (flags & 2) {
				at = r->p;
				if ((rc = rd_u32(r, &e->table)) != 0)
					return rc;
			}
			if (e->table >= m->ntables)
				return rd_fail(r, at, BT_ECORRUPT, "unknown table");
			if ((rc = rd_const(r, m, BT_WASM_I32, &e->offset)) != 0)
				return rc;
		}
		if (flags & 3) {
			/* elemkind (0x00 = funcref) or reftype */
			at = r->p;
			if (flags & 4) {
				if ((rc = rd_reftype(r, &e->type)) != 0)
					return rc;
			} else {
				if ((rc = rd_u8(r, &b)) != 0)
					return rc;
				if (b != 0x00)
					return rd_fail(r, at, BT_ECORRUPT,
					    "malformed element kind");
			}
		}
		if ((rc = rd_count(r, WASM_MAX_TABLE_ELEMS, &cnt)) != 0)
			return rc;
		e->items = bt_calloc(cnt ? cnt : 1, sizeof(*e->items));
		if (e->items == NULL)
			return -ENOMEM;
		for (uint32_t k = 0; k < cnt; k++) {
			if (flags & 4) {
				if ((rc = rd_const(r, m, e->type,
					 &e->items[k])) != 0)
					return rc;
			} else {
				uint32_t fi;

				at = r->p;
				if ((rc = rd_u32(r, &fi)) != 0)
					return rc;
				if (fi >= m->nfuncs)
					return rd_fail(r, at, BT_ECORRUPT,
					    "unknown function");
				e->items[k].op = CE_REF_FUNC;
				e->items[k].type = BT_WASM_FUNCREF;
				e->items[k].idx = fi;
				m->func_refd[fi] = 1;
			}
			e->n = k + 1;
		}
		if (e->mode == SEG_ACTIVE && m->tables[e->table].elem != e->type)
			return rd_fail(r, at, BT_ECORRUPT, "type mismatch (element segment)");
	}
	return 0;
}

static int
sec_datacount(struct rd *r, bt_wasm_module *m)
{
	int rc;

	if ((rc = rd_u32(r, &m->datacount)) != 0)
		return rc;
	m->has_datacount = true;
	return 0;
}

static int
sec_code(struct rd *r, bt_wasm_module *m)
{
	const uint8_t *at = r->p;
	uint32_t n;
	int rc;

	if ((rc = rd_count(r, WASM_MAX_FUNCS, &n)) != 0)
		return rc;
	if (n != m->nfuncs - m->nfunc_imports)
		return rd_fail(r, at, BT_ECORRUPT,
		    "function and code section have inconsistent lengths");
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *body;
		uint32_t size;

		if ((rc = rd_u32(r, &size)) != 0)
			return rc;
		if ((rc = rd_bytes(r, size, &body)) != 0)
			return rc;
		rc = bt__wasm_compile_func(m, i, r->base, body, body + size,
		    r->diag);
		if (rc != 0)
			return rc;
	}
	bt__wasm_fuse_calls(m);
	return 0;
}

static int
sec_data(struct rd *r, bt_wasm_module *m)
{
	const uint8_t *at = r->p;
	uint32_t n;
	int rc;

	if ((rc = rd_count(r, WASM_MAX_SEGMENTS, &n)) != 0)
		return rc;
	if (m->has_datacount && n != m->datacount)
		return rd_fail(r, at, BT_ECORRUPT,
		    "data count and data section have inconsistent lengths");
	m->datas = bt_calloc(n ? n : 1, sizeof(*m->datas));
	if (m->datas == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct wdata *d = &m->datas[i];
		const uint8_t *bytes;
		uint32_t flags;

		at = r->p;
		m->ndatas = i + 1;
		if ((rc = rd_u32(r, &flags)) != 0)
			return rc;
		if (flags > 2)
			return rd_fail(r, at, BT_ECORRUPT,
			    "malformed data segment kind");
		d->mode = flags == 1 ? SEG_PASSIVE : SEG_ACTIVE;
		if (flags == 2) {
			at = r->p;
			if ((rc = rd_u32(r, &d->mem)) != 0)
				return rc;
		}
		if (d->mode == SEG_ACTIVE) {
			if (d->mem >= m->nmems)
				return rd_fail(r, at, BT_ECORRUPT, "unknown memory");
			if ((rc = rd_const(r, m, BT_WASM_I32, &d->offset)) != 0)
				return rc;
		}
		if ((rc = rd_u32(r, &d->len)) != 0)
			return rc;
		if ((rc = rd_bytes(r, d->len, &bytes)) != 0)
			return rc;
		/* An empty segment still gets a (one-byte) allocation, so
		 * bytes is never NULL; never read past the input for it. */
		d->bytes = d->len ? bt_memdup(bytes, d->len) : bt_zalloc(1);
		if (d->bytes == NULL)
			return -ENOMEM;
	}
	return 0;
}

int
bt__wasm_decode(bt_wasm_module *m, const uint8_t *p, size_t n,
    struct bt_diag *diag)
{
	struct rd r = { .base = p, .p = p, .end = p + n, .diag = diag };
	static const uint8_t magic[4] = { 0, 'a', 's', 'm' };
	int last = 0;
	bool have_code = false, have_data = false;
	int rc;

	m->start = -1;
	if (n < 4 || memcmp(p, magic, 4) != 0)
		return rd_fail(&r, p, BT_ECORRUPT, "magic header not detected");
	if (n < 8)
		return rd_fail(&r, p + 4, BT_ECORRUPT, "unexpected end (no version)");
	if (bt_get_le32(p + 4) != 1)
		return rd_fail(&r, p + 4, BT_ECORRUPT, "unknown binary version");
	r.p = p + 8;
	/* func_refd is sized when the function count is known; until then
	 * give it room for the imports (grown in sec_func below). */
	while (r.p < r.end) {
		const uint8_t *at = r.p;
		uint8_t id;
		uint32_t size;
		struct rd s;

		if ((rc = rd_u8(&r, &id)) != 0)
			return rc;
		if (id > SEC_DATACOUNT)
			return rd_fail(&r, at, BT_ECORRUPT, "malformed section id");
		if ((rc = rd_u32(&r, &size)) != 0)
			return rc;
		if (size > (size_t)(r.end - r.p))
			return rd_fail(&r, r.p, BT_ECORRUPT,
			    "unexpected end (section size out of bounds)");
		s = r;
		s.end = r.p + size;
		r.p += size;
		if (id != SEC_CUSTOM) {
			if (sec_rank[id] <= last)
				return rd_fail(&r, at, BT_ECORRUPT,
				    "unexpected content after last section "
				    "(section out of order or repeated)");
			last = sec_rank[id];
		}
		if (id != SEC_CUSTOM && sec_rank[id] > 3 &&
		    m->func_refd == NULL) {
			/* The function count is final from here on. */
			m->func_refd = bt_zalloc(m->nfuncs ? m->nfuncs : 1);
			if (m->func_refd == NULL)
				return -ENOMEM;
		}
		switch (id) {
		case SEC_CUSTOM: {
			char *name;
			if ((rc = rd_name(&s, &name)) != 0)
				return rc;
			bt_free(name);
			s.p = s.end;
			break;
		}
		case SEC_TYPE:
			rc = sec_type(&s, m);
			break;
		case SEC_IMPORT:
			rc = sec_import(&s, m);
			break;
		case SEC_FUNC:
			rc = sec_func(&s, m);
			break;
		case SEC_TABLE:
			rc = sec_table(&s, m);
			break;
		case SEC_MEMORY:
			rc = sec_memory(&s, m);
			break;
		case SEC_GLOBAL:
			rc = sec_global(&s, m);
			break;
		case SEC_EXPORT:
			rc = sec_export(&s, m);
			break;
		case SEC_START:
			rc = sec_start(&s, m);
			break;
		case SEC_ELEM:
			rc = sec_elem(&s, m);
			break;
		case SEC_DATACOUNT:
			rc = sec_datacount(&s, m);
			break;
		case SEC_CODE:
			rc = sec_code(&s, m);
			have_code = true;
			break;
		case SEC_DATA:
			rc = sec_data(&s, m);
			have_data = true;
			break;
		}
		if (rc != 0)
			return rc;
		if (s.p != s.end)
			return rd_fail(&r, s.p, BT_ECORRUPT, "section size mismatch");
	}
	if (!have_code && m->nfuncs != m->nfunc_imports)
		return rd_fail(&r, r.p, BT_ECORRUPT,
		    "function and code section have inconsistent lengths");
	if (m->has_datacount && !have_data && m->datacount != 0)
		return rd_fail(&r, r.p, BT_ECORRUPT,
		    "data count and data section have inconsistent lengths");
	return 0;
}

void
bt__wasm_module_fini(bt_wasm_module *m)
{
	for (uint32_t i = 0; i < m->ntypes; i++) {
		bt_free(m->types[i].types);
		bt_free(m->types[i].sig);
	}
	bt_free(m->types);
	for (uint32_t i = 0; i < m->nimports; i++) {
		bt_free(m->imports[i].module);
		bt_free(m->imports[i].name);
	}
	bt_free(m->imports);
	bt_free(m->func_type);
	bt_free(m->codes);
	bt_free(m->tables);
	bt_free(m->globals);
	bt_free(m->global_init);
	for (uint32_t i = 0; i < m->nexports; i++)
		bt_free(m->exports[i].name);
	bt_free(m->exports);
	for (uint32_t i = 0; i < m->nelems; i++)
		bt_free(m->elems[i].items);
	bt_free(m->elems);
	for (uint32_t i = 0; i < m->ndatas; i++)
		bt_free(m->datas[i].bytes);
	bt_free(m->datas);
	bt_free(m->func_refd);
	bt_free(m->code);
	bt_free(m->map);
	memset(m, 0, sizeof(*m));
}
