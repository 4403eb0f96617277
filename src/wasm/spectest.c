/*
 * spectest.c: runs the JSON command scripts that wabt's wast2json makes
 * from the official spec tests (bt wasm spectest). Uses only the public
 * API of wasm/, plus jansson for the JSON.
 *
 * The "spectest" host module is an ordinary WebAssembly module assembled
 * here (globals, a table, a memory), registered under "spectest" together
 * with host print functions that do nothing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "bt/os.h"
#include "bt/wasm.h"

#define MAX_VALS 64

struct named {
	char		 *name;
	bt_wasm_instance *inst;
};

struct runner {
	const char		      *file; /* for messages */
	char			      *dir;
	bt_wasm_linker		      *linker;
	bt_wasm_module		     **mods;
	size_t			       nmods;
	bt_wasm_instance	     **insts;
	size_t			       ninsts;
	struct named		      *names;
	size_t			       nnames;
	bt_wasm_instance	      *cur;
	struct bt_wasm_spectest_stats *st;
	bt_wasm_report_fn	      *report;
	void			      *arg;
	long			       line;
};

static void
failf(struct runner *r, const char *fmt, ...) BT_PRINTF(2, 3);

static void
failf(struct runner *r, const char *fmt, ...)
{
	char msg[600];
	char line[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s:%ld: %s", r->file, r->line, msg);
	r->st->failed++;
	if (r->report)
		r->report(r->arg, line);
}

static int
keep(void ***arr, size_t *n, void *p)
{
	void **q = bt_realloc(*arr, (*n + 1) * sizeof(void *));

	if (q == NULL)
		return -ENOMEM;
	q[(*n)++] = p;
	*arr = q;
	return 0;
}

static char *
path_in_dir(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = bt_alloc(a + b + 2);

	if (p == NULL)
		return NULL;
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b + 1);
	return p;
}

/* ---- the spectest host module ---- */

static int
print_fn(void *arg, struct bt_wasm_call *call)
{
	return 0;
}

/* (module (table 10 20 funcref) (memory 1 2) four immutable globals and
 * their exports), in the binary format. */
static const uint8_t spectest_wasm[] = {
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	/* table section: 1 table funcref, min 10 max 20 */
	0x04, 0x05, 0x01, 0x70, 0x01, 0x0a, 0x14,
	/* memory section: min 1 max 2 */
	0x05, 0x04, 0x01, 0x01, 0x01, 0x02,
	/* global section */
	0x06, 0x21, 0x04,
	0x7f, 0x00, 0x41, 0x9a, 0x05, 0x0b,		/* i32 666 */
	0x7e, 0x00, 0x42, 0x9a, 0x05, 0x0b,		/* i64 666 */
	0x7d, 0x00, 0x43, 0x66, 0xa6, 0x26, 0x44, 0x0b, /* f32 666.6 */
	0x7c, 0x00, 0x44, 0xcd, 0xcc, 0xcc, 0xcc, 0xcc, 0xd4, 0x84, 0x40,
	0x0b, /* f64 666.6 */
	/* export section */
	0x07, 0x46, 0x06,
	0x0a, 'g', 'l', 'o', 'b', 'a', 'l', '_', 'i', '3', '2', 0x03, 0x00,
	0x0a, 'g', 'l', 'o', 'b', 'a', 'l', '_', 'i', '6', '4', 0x03, 0x01,
	0x0a, 'g', 'l', 'o', 'b', 'a', 'l', '_', 'f', '3', '2', 0x03, 0x02,
	0x0a, 'g', 'l', 'o', 'b', 'a', 'l', '_', 'f', '6', '4', 0x03, 0x03,
	0x05, 't', 'a', 'b', 'l', 'e', 0x01, 0x00,
	0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00,
};

static int
spectest_setup(struct runner *r)
{
	static const struct {
		const char *name, *params;
	} prints[] = {
		{ "print", "" },	   { "print_i32", "i" },
		{ "print_i64", "I" },	   { "print_f32", "f" },
		{ "print_f64", "F" },	   { "print_i32_f32", "if" },
		{ "print_f64_f64", "FF" },
	};
	bt_wasm_module *m;
	bt_wasm_instance *inst;
	struct bt_diag diag;
	int rc;

	if ((rc = bt_wasm_linker_new(&r->linker)) != 0)
		return rc;
	if ((rc = bt_wasm_module_new(&m, spectest_wasm, sizeof(spectest_wasm),
		 &diag)) != 0)
		return rc;
	if ((rc = keep((void ***)&r->mods, &r->nmods, m)) != 0) {
		bt_wasm_module_free(m);
		return rc;
	}
	if ((rc = bt_wasm_instance_new(&inst, m, NULL, NULL, &diag)) != 0)
		return rc;
	if ((rc = keep((void ***)&r->insts, &r->ninsts, inst)) != 0) {
		bt_wasm_instance_free(inst);
		return rc;
	}
	if ((rc = bt_wasm_linker_define_instance(r->linker, "spectest",
		 inst)) != 0)
		return rc;
	for (size_t i = 0; i < sizeof(prints) / sizeof(prints[0]); i++)
		if ((rc = bt_wasm_linker_define_func(r->linker, "spectest",
			 prints[i].name, prints[i].params, "", print_fn,
			 NULL)) != 0)
			return rc;
	return 0;
}

/* ---- values ---- */

static int
type_of(const char *s, uint8_t *out)
{
	static const struct {
		const char *n;
		uint8_t	    t;
	} map[] = {
		{ "i32", BT_WASM_I32 },		{ "i64", BT_WASM_I64 },
		{ "f32", BT_WASM_F32 },		{ "f64", BT_WASM_F64 },
		{ "funcref", BT_WASM_FUNCREF }, { "externref", BT_WASM_EXTERNREF },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(s, map[i].n) == 0) {
			*out = map[i].t;
			return 0;
		}
	return -EINVAL;
}

static int
parse_val(json_t *j, struct bt_wasm_val *v)
{
	const char *ts = json_string_value(json_object_get(j, "type"));
	const char *vs = json_string_value(json_object_get(j, "value"));
	uint64_t n;

	memset(v, 0, sizeof(*v));
	if (ts == NULL || type_of(ts, &v->type) != 0)
		return -EINVAL;
	if (v->type == BT_WASM_FUNCREF || v->type == BT_WASM_EXTERNREF) {
		if (vs == NULL || strcmp(vs, "null") == 0)
			return 0;
		if (bt_parse_u64(vs, &n) != 0)
			return -EINVAL;
		/* Host references: n + 1, so that 0 is not null. */
		v->u.ref = (void *)(uintptr_t)(n + 1);
		return 0;
	}
	if (vs == NULL || bt_parse_u64(vs, &n) != 0)
		return -EINVAL;
	if (v->type == BT_WASM_I32 || v->type == BT_WASM_F32)
		v->u.i32 = (uint32_t)n;
	else
		v->u.i64 = n;
	return 0;
}

static void
val_str(const struct bt_wasm_val *v, char *buf, size_t n)
{
	switch (v->type) {
	case BT_WASM_I32:
		snprintf(buf, n, "i32:%u", v->u.i32);
		break;
	case BT_WASM_F32:
		snprintf(buf, n, "f32:0x%08x", v->u.i32);
		break;
	case BT_WASM_I64:
		snprintf(buf, n, "i64:%llu", (unsigned long long)v->u.i64);
		break;
	case BT_WASM_F64:
		snprintf(buf, n, "f64:0x%016llx", (unsigned long long)v->u.i64);
		break;
	default:
		snprintf(buf, n, "ref:%p", v->u.ref);
		break;
	}
}

/* Does result v match the expectation j? */
static bool
val_match(json_t *j, const struct bt_wasm_val *v)
{
	const char *ts = json_string_value(json_object_get(j, "type"));
	const char *vs = json_string_value(json_object_get(j, "value"));
	struct bt_wasm_val e;
	uint8_t t;

	if (ts == NULL || type_of(ts, &t) != 0 || t != v->type)
		return false;
	if (vs != NULL && strncmp(vs, "nan:", 4) == 0) {
		bool canon = strcmp(vs, "nan:canonical") == 0;

		if (t == BT_WASM_F32) {
			uint32_t b = v->u.i32 & 0x7fffffffu;
			return canon ? b == 0x7fc00000u :
				       (b & 0x7fc00000u) == 0x7fc00000u;
		}
		if (t == BT_WASM_F64) {
			uint64_t b = v->u.i64 & 0x7fffffffffffffffull;
			return canon ? b == 0x7ff8000000000000ull :
				       (b & 0x7ff8000000000000ull) ==
				    0x7ff8000000000000ull;
		}
		return false;
	}
	if (t == BT_WASM_FUNCREF && vs == NULL)
		return v->u.ref != NULL; /* any non-null function */
	if (parse_val(j, &e) != 0)
		return false;
	if (t == BT_WASM_I32 || t == BT_WASM_F32)
		return e.u.i32 == v->u.i32;
	if (t == BT_WASM_FUNCREF || t == BT_WASM_EXTERNREF)
		return e.u.ref == v->u.ref;
	return e.u.i64 == v->u.i64;
}

/* ---- modules and actions ---- */

static bt_wasm_instance *
find_inst(struct runner *r, const char *name)
{
	if (name == NULL)
		return r->cur;
	for (size_t i = 0; i < r->nnames; i++)
		if (strcmp(r->names[i].name, name) == 0)
			return r->names[i].inst;
	return NULL;
}

static int
set_name(struct runner *r, const char *name, bt_wasm_instance *inst)
{
	struct named *q;

	for (size_t i = 0; i < r->nnames; i++)
		if (strcmp(r->names[i].name, name) == 0) {
			r->names[i].inst = inst;
			return 0;
		}
	q = bt_realloc(r->names, (r->nnames + 1) * sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	r->names = q;
	q[r->nnames].name = bt_strdup(name);
	if (q[r->nnames].name == NULL)
		return -ENOMEM;
	q[r->nnames].inst = inst;
	r->nnames++;
	return 0;
}

/* Loads a module file: rc of bt_wasm_module_new (or of reading). */
static int
load_module(struct runner *r, const char *filename, bt_wasm_module **out,
    struct bt_diag *diag)
{
	char *path = path_in_dir(r->dir, filename);
	uint8_t *bytes;
	size_t len;
	int rc;

	bt_diag_clear(diag);
	if (path == NULL)
		return -ENOMEM;
	rc = bt_os_read_file(path, (size_t)1 << 30, &bytes, &len);
	bt_free(path);
	if (rc != 0) {
		bt_diag_set(diag, -1, "cannot read %s: %s", filename,
		    bt_strerror(rc));
		return rc;
	}
	rc = bt_wasm_module_new(out, bytes, len, diag);
	bt_free(bytes);
	return rc;
}

/* Loads and instantiates; the module and instance are kept till the end. */
static int
instantiate(struct runner *r, const char *filename, bt_wasm_instance **out,
    struct bt_diag *diag, bool *load_failed)
{
	bt_wasm_module *m;
	bt_wasm_instance *inst;
	int rc;

	*load_failed = false;
	if ((rc = load_module(r, filename, &m, diag)) != 0) {
		*load_failed = true;
		return rc;
	}
	if ((rc = keep((void ***)&r->mods, &r->nmods, m)) != 0) {
		bt_wasm_module_free(m);
		return rc;
	}
	if ((rc = bt_wasm_instance_new(&inst, m, r->linker, NULL, diag)) != 0)
		return rc;
	if ((rc = keep((void ***)&r->insts, &r->ninsts, inst)) != 0) {
		bt_wasm_instance_free(inst);
		return rc;
	}
	*out = inst;
	return 0;
}

/*
 * Performs an action. Returns the call's rc (0, BT_ETRAP, ...) or a
 * negative rc for a malformed command (with *why set).
 */
static int
do_action(struct runner *r, json_t *act, struct bt_wasm_val *res,
    size_t *nres, const char **why)
{
	const char *type = json_string_value(json_object_get(act, "type"));
	const char *mod = json_string_value(json_object_get(act, "module"));
	const char *field = json_string_value(json_object_get(act, "field"));
	bt_wasm_instance *inst = find_inst(r, mod);
	struct bt_wasm_val args[MAX_VALS];
	json_t *ja = json_object_get(act, "args");
	const char *results;
	bt_wasm_func *f;
	size_t na;

	*why = NULL;
	*nres = 0;
	if (inst == NULL) {
		*why = "no such module instance";
		return -ENOENT;
	}
	if (type == NULL || field == NULL) {
		*why = "malformed action";
		return -EINVAL;
	}
	if (strcmp(type, "get") == 0) {
		int rc = bt_wasm_instance_global_get(inst, field, &res[0]);
		if (rc == 0)
			*nres = 1;
		else
			*why = "no such global";
		return rc;
	}
	if (strcmp(type, "invoke") != 0) {
		*why = "unknown action type";
		return -EINVAL;
	}
	f = bt_wasm_instance_func_n(inst, field,
	    json_string_length(json_object_get(act, "field")));
	if (f == NULL) {
		*why = "no such exported function";
		return -ENOENT;
	}
	na = json_array_size(ja);
	if (na > MAX_VALS) {
		*why = "too many arguments";
		return -EINVAL;
	}
	for (size_t i = 0; i < na; i++)
		if (parse_val(json_array_get(ja, i), &args[i]) != 0) {
			*why = "malformed argument";
			return -EINVAL;
		}
	bt_wasm_func_type(f, NULL, &results);
	*nres = strlen(results);
	if (*nres > MAX_VALS) {
		*why = "too many results";
		return -EINVAL;
	}
	/* The function runs on the stack of the instance that exports it. */
	return bt_wasm_func_call(inst, f, args, na, res, *nres);
}

static const char *
rc_str(struct runner *r, bt_wasm_instance *inst, int rc, char *buf, size_t n)
{
	if (rc == BT_ETRAP && inst != NULL) {
		struct bt_wasm_trap t;
		bt_wasm_instance_trap(inst, &t);
		snprintf(buf, n, "trap: %s", t.msg);
	} else {
		snprintf(buf, n, "%s", bt_strerror(rc));
	}
	return buf;
}

static void
cmd_assert_return(struct runner *r, json_t *c)
{
	json_t *act = json_object_get(c, "action");
	json_t *exp = json_object_get(c, "expected");
	struct bt_wasm_val res[MAX_VALS];
	size_t nres, nexp = json_array_size(exp);
	const char *why;
	char buf[200];
	int rc;

	rc = do_action(r, act, res, &nres, &why);
	if (rc != 0) {
		failf(r, "assert_return: %s", why ? why :
		    rc_str(r, find_inst(r, json_string_value(json_object_get(
				 act, "module"))), rc, buf, sizeof(buf)));
		return;
	}
	if (nres != nexp) {
		failf(r, "assert_return: %zu results, expected %zu", nres, nexp);
		return;
	}
	for (size_t i = 0; i < nres; i++) {
		json_t *e = json_array_get(exp, i);

		if (!val_match(e, &res[i])) {
			const char *ev = json_string_value(json_object_get(e, "value"));
			val_str(&res[i], buf, sizeof(buf));
			failf(r, "assert_return: %s: result %zu is %s, expected %s:%s",
			    json_string_value(json_object_get(act, "field")), i, buf,
			    json_string_value(json_object_get(e, "type")),
			    ev ? ev : "(any)");
			return;
		}
	}
	r->st->passed++;
}

static void
cmd_assert_trap(struct runner *r, json_t *c, bool exhaustion)
{
	json_t *act = json_object_get(c, "action");
	const char *text = json_string_value(json_object_get(c, "text"));
	bt_wasm_instance *inst =
	    find_inst(r, json_string_value(json_object_get(act, "module")));
	struct bt_wasm_val res[MAX_VALS];
	struct bt_wasm_trap t;
	size_t nres;
	const char *why;
	int rc;

	rc = do_action(r, act, res, &nres, &why);
	if (rc != BT_ETRAP) {
		failf(r, "%s: expected a trap (%s), got %s",
		    exhaustion ? "assert_exhaustion" : "assert_trap",
		    text ? text : "", why ? why : rc == 0 ? "a result" :
		    bt_strerror(rc));
		return;
	}
	bt_wasm_instance_trap(inst, &t);
	if (exhaustion && t.kind != BT_WASM_TRAP_STACK_EXHAUSTED) {
		failf(r, "assert_exhaustion: trapped with %s", t.msg);
		return;
	}
	r->st->passed++;
}

static void
cmd_module(struct runner *r, json_t *c)
{
	const char *fn = json_string_value(json_object_get(c, "filename"));
	const char *name = json_string_value(json_object_get(c, "name"));
	bt_wasm_instance *inst;
	struct bt_diag diag;
	bool lf;
	int rc;

	r->cur = NULL;
	if (fn == NULL) {
		failf(r, "module: no filename");
		return;
	}
	rc = instantiate(r, fn, &inst, &diag, &lf);
	if (rc != 0) {
		failf(r, "module %s: %s (%s at offset %lld)", fn,
		    bt_strerror(rc), diag.msg, (long long)diag.off);
		return;
	}
	r->cur = inst;
	if (name != NULL && set_name(r, name, inst) != 0)
		failf(r, "module: out of memory");
}

static void
cmd_register(struct runner *r, json_t *c)
{
	const char *as = json_string_value(json_object_get(c, "as"));
	const char *name = json_string_value(json_object_get(c, "name"));
	bt_wasm_instance *inst = find_inst(r, name);
	int rc;

	if (inst == NULL || as == NULL) {
		failf(r, "register: no such module");
		return;
	}
	rc = bt_wasm_linker_define_instance(r->linker, as, inst);
	if (rc != 0)
		failf(r, "register %s: %s", as, bt_strerror(rc));
}

static void
cmd_action(struct runner *r, json_t *c)
{
	json_t *act = json_object_get(c, "action");
	struct bt_wasm_val res[MAX_VALS];
	size_t nres;
	const char *why;
	char buf[200];
	int rc;

	rc = do_action(r, act, res, &nres, &why);
	if (rc != 0)
		failf(r, "action: %s", why ? why :
		    rc_str(r, find_inst(r, json_string_value(json_object_get(
				 act, "module"))), rc, buf, sizeof(buf)));
}

static void
cmd_assert_bad_module(struct runner *r, json_t *c, const char *what)
{
	const char *fn = json_string_value(json_object_get(c, "filename"));
	const char *mt = json_string_value(json_object_get(c, "module_type"));
	const char *text = json_string_value(json_object_get(c, "text"));
	bt_wasm_module *m;
	struct bt_diag diag;
	int rc;

	if (mt != NULL && strcmp(mt, "text") == 0) {
		r->st->skipped++;
		return;
	}
	if (fn == NULL) {
		failf(r, "%s: no filename", what);
		return;
	}
	rc = load_module(r, fn, &m, &diag);
	if (rc == 0) {
		bt_wasm_module_free(m);
		failf(r, "%s: %s was accepted (expected \"%s\")", what, fn,
		    text ? text : "");
		return;
	}
	if (rc == -ENOENT || rc == -ENOMEM) {
		failf(r, "%s: %s: %s", what, fn, diag.msg);
		return;
	}
	r->st->passed++;
}

static void
cmd_assert_instantiate_fails(struct runner *r, json_t *c, bool trap)
{
	const char *fn = json_string_value(json_object_get(c, "filename"));
	const char *text = json_string_value(json_object_get(c, "text"));
	const char *what = trap ? "assert_uninstantiable" : "assert_unlinkable";
	bt_wasm_instance *inst;
	struct bt_diag diag;
	bool lf;
	int rc;

	if (fn == NULL) {
		failf(r, "%s: no filename", what);
		return;
	}
	rc = instantiate(r, fn, &inst, &diag, &lf);
	if (rc == 0) {
		failf(r, "%s: %s instantiated (expected \"%s\")", what, fn,
		    text ? text : "");
		return;
	}
	if (lf) {
		failf(r, "%s: %s did not load: %s", what, fn, diag.msg);
		return;
	}
	if (trap && rc != BT_ETRAP) {
		failf(r, "%s: %s failed with %s (%s), expected a trap", what,
		    fn, bt_strerror(rc), diag.msg);
		return;
	}
	if (!trap && rc == BT_ETRAP) {
		failf(r, "%s: %s trapped (%s), expected a link error", what,
		    fn, diag.msg);
		return;
	}
	r->st->passed++;
}

int
bt_wasm_spectest_run(const char *json_path,
    struct bt_wasm_spectest_stats *stats, bt_wasm_report_fn *report,
    void *arg)
{
	struct runner r;
	json_error_t jerr;
	json_t *root, *cmds;
	const char *slash;
	int rc;

	memset(&r, 0, sizeof(r));
	r.st = stats;
	r.report = report;
	r.arg = arg;
	slash = strrchr(json_path, '/');
	r.file = slash ? slash + 1 : json_path;
	r.dir = slash ? bt_strndup(json_path, (size_t)(slash - json_path)) :
			bt_strdup(".");
	if (r.dir == NULL)
		return -ENOMEM;
	root = json_load_file(json_path, JSON_ALLOW_NUL, &jerr);
	if (root == NULL) {
		bt_free(r.dir);
		return BT_ECORRUPT;
	}
	cmds = json_object_get(root, "commands");
	if (!json_is_array(cmds)) {
		rc = BT_ECORRUPT;
		goto out;
	}
	if ((rc = spectest_setup(&r)) != 0)
		goto out;
	for (size_t i = 0; i < json_array_size(cmds); i++) {
		json_t *c = json_array_get(cmds, i);
		const char *type = json_string_value(json_object_get(c, "type"));

		r.line = (long)json_integer_value(json_object_get(c, "line"));
		if (type == NULL) {
			failf(&r, "command without a type");
			continue;
		}
		if (strcmp(type, "module") == 0)
			cmd_module(&r, c);
		else if (strcmp(type, "register") == 0)
			cmd_register(&r, c);
		else if (strcmp(type, "action") == 0)
			cmd_action(&r, c);
		else if (strcmp(type, "assert_return") == 0)
			cmd_assert_return(&r, c);
		else if (strcmp(type, "assert_trap") == 0)
			cmd_assert_trap(&r, c, false);
		else if (strcmp(type, "assert_exhaustion") == 0)
			cmd_assert_trap(&r, c, true);
		else if (strcmp(type, "assert_invalid") == 0)
			cmd_assert_bad_module(&r, c, "assert_invalid");
		else if (strcmp(type, "assert_malformed") == 0)
			cmd_assert_bad_module(&r, c, "assert_malformed");
		else if (strcmp(type, "assert_unlinkable") == 0)
			cmd_assert_instantiate_fails(&r, c, false);
		else if (strcmp(type, "assert_uninstantiable") == 0)
			cmd_assert_instantiate_fails(&r, c, true);
		else
			failf(&r, "unknown command %s", type);
	}
	rc = 0;
out:
	/* Instances link to each other: free them all before the modules. */
	for (size_t i = r.ninsts; i-- > 0;)
		bt_wasm_instance_free(r.insts[i]);
	for (size_t i = 0; i < r.nmods; i++)
		bt_wasm_module_free(r.mods[i]);
	for (size_t i = 0; i < r.nnames; i++)
		bt_free(r.names[i].name);
	bt_free(r.names);
	bt_free(r.insts);
	bt_free(r.mods);
	bt_wasm_linker_free(r.linker);
	bt_free(r.dir);
	json_decref(root);
	return rc;
}
