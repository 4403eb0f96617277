/*
 * decode_test.c: the decoder's and validator's error paths (wasm/decode.c,
 * wasm/code.c): bad magic and version, every truncation, section order,
 * oversized counts, over-long LEB128, deep nesting, type errors, and
 * features outside WebAssembly 2.0 refused as "unsupported" with the
 * offset of the byte at fault. Plus the import/export listing.
 */
#include <errno.h>
#include <string.h>

#include "bt/wasm.h"
#include "testing.h"

struct mb {
	uint8_t b[1 << 17];
	size_t	n;
};

static void
put(struct mb *m, const void *p, size_t n)
{
	assert_true(m->n + n <= sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void
leb(struct mb *m, uint64_t v)
{
	do {
		uint8_t c = v & 0x7f;
		v >>= 7;
		if (v)
			c |= 0x80;
		put(m, &c, 1);
	} while (v);
}

static void
header(struct mb *m)
{
	static const uint8_t h[8] = { 0, 'a', 's', 'm', 1, 0, 0, 0 };

	m->n = 0;
	put(m, h, 8);
}

static void
section(struct mb *m, uint8_t id, const struct mb *content)
{
	put(m, &id, 1);
	leb(m, content->n);
	put(m, content->b, content->n);
}

/*
 * A module with one function of type [] -> [] (or the type given as raw
 * bytes), whose body is body (locals declaration included). Returns the
 * offset of the body's first byte in m.
 */
static size_t
module_with_body(struct mb *m, const uint8_t *type, size_t ntype,
    const uint8_t *body, size_t nbody)
{
	static const uint8_t void_type[] = { 0x01, 0x60, 0x00, 0x00 };
	static struct mb s;
	size_t at;

	header(m);
	s.n = 0;
	if (type == NULL) {
		type = void_type;
		ntype = sizeof(void_type);
	}
	put(&s, type, ntype);
	section(m, 1, &s);
	s.n = 0;
	put(&s, (const uint8_t[]){ 0x01, 0x00 }, 2);
	section(m, 3, &s);
	s.n = 0;
	leb(&s, 1);
	leb(&s, nbody);
	at = s.n;
	put(&s, body, nbody);
	put(m, (const uint8_t[]){ 10 }, 1);
	leb(m, s.n);
	at += m->n;
	put(m, s.b, s.n);
	return at;
}

static int
load(const struct mb *m, struct bt_diag *d)
{
	bt_diag_clear(d);
	return bt_wasm_module_validate(m->b, m->n, d);
}

static void
test_magic_version(void **state)
{
	static struct mb m;
	struct bt_diag d;

	header(&m);
	assert_int_equal(load(&m, &d), 0);
	m.b[1] = 'A';
	assert_int_equal(load(&m, &d), BT_ECORRUPT);
	assert_int_equal(d.off, 0);
	assert_non_null(strstr(d.msg, "magic"));
	header(&m);
	m.b[4] = 2;
	assert_int_equal(load(&m, &d), BT_ECORRUPT);
	assert_int_equal(d.off, 4);
	assert_non_null(strstr(d.msg, "version"));
	assert_int_equal(bt_wasm_module_validate(m.b, 3, &d), BT_ECORRUPT);
	assert_int_equal(bt_wasm_module_validate("", 0, &d), BT_ECORRUPT);
}

static void
test_every_truncation(void **state)
{
	/* body: i32.const 1; if (result i32) i32.const 2 else i32.const 3 end;
	 * drop; end */
	static const uint8_t body[] = { 0x00, 0x41, 0x01, 0x04, 0x7f, 0x41,
		0x02, 0x05, 0x41, 0x03, 0x0b, 0x1a, 0x0b };
	static struct mb m;
	struct bt_diag d;

	module_with_body(&m, NULL, 0, body, sizeof(body));
	assert_int_equal(load(&m, &d), 0);
	for (size_t n = 0; n < m.n; n++) {
		int rc;

		bt_diag_clear(&d);
		rc = bt_wasm_module_validate(m.b, n, &d);
		if (n == 8 || n == 14 || n == 19) {
			/* cut exactly between sections: valid but the function
			 * has no body (or nothing at all) */
			continue;
		}
		assert_int_equal(rc, BT_ECORRUPT);
		assert_true(d.off >= 0 && (size_t)d.off <= n);
		assert_true(d.msg[0] != '\0');
	}
}

static void
test_section_order(void **state)
{
	static struct mb m, s;
	struct bt_diag d;
	size_t at;

	header(&m);
	s.n = 0;
	put(&s, (const uint8_t[]){ 0x00 }, 1); /* empty function section */
	section(&m, 3, &s);
	at = m.n;
	s.n = 0;
	put(&s, (const uint8_t[]){ 0x00 }, 1); /* empty type section */
	section(&m, 1, &s);
	assert_int_equal(load(&m, &d), BT_ECORRUPT);
	assert_int_equal(d.off, (int64_t)at);
	/* A repeated section is out of order too. */
	header(&m);
	section(&m, 1, &s);
	at = m.n;
	section(&m, 1, &s);
	assert_int_equal(load(&m, &d), BT_ECORRUPT);
	assert_int_equal(d.off, (int64_t)at);
	/* Custom sections may go anywhere. */
	header(&m);
	s.n = 0;
	put(&s, (const uint8_t[]){ 0x01, 'x', 0xff }, 3);
	section(&m, 0, &s);
	s.n = 0;
	put(&s, (const uint8_t[]){ 0x00 }, 1);
	section(&m, 1, &s);
	s.n = 0;
	put(&s, (const uint8_t[]){ 0x01, 'x' }, 2);
	section(&m, 0, &s);
	assert_int_equal(load(&m, &d), 0);
	/* An unknown section id. */
	header(&m);
	s.n = 0;
	section(&m, 13, &s);
	assert_int_equal(load(&m, &d), BT_ECORRUPT);
	assert_int_equal(d.off, 8);
}

static void
test_oversized_counts(void **state)
{
	static struct mb m, s;
	struct bt_diag d;
	int rc;

	/* 2^28 types announced in a 5-byte section. */
	header(&m);
	s.n = 0;
	leb(&s, 1u << 28);
	section(&m, 1, &s);
	rc = load(&m, &d);
	assert_true(rc == BT_ECORRUPT || rc == BT_ELIMIT);
	assert_int_equal(d.off, 10);
	/* A section size beyond the end of the input. */
	header(&m);
	put(&m, (const uint8_t[]){ 0x01, 0xff, 0xff, 0x03, 0x00 }, 5);
	assert_int_equal(load(&m, &d), BT_ECORRUPT);
	/* An over-long LEB128 (six bytes for a u32). */
	header(&m);
	put(&m, (const uint8_t[]){ 0x01, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00 }, 7);
	assert_int_equal(load(&m, &d), BT_ECORRUPT);
	assert_int_equal(d.off, 9);
	assert_non_null(strstr(d.msg, "too long"));
	/* Unused bits set in the last byte of a u32. */
	header(&m);
	put(&m, (const uint8_t[]){ 0x01, 0x81, 0x80, 0x80, 0x80, 0x70 }, 6);
	assert_int_equal(load(&m, &d), BT_ECORRUPT);
	/* Too many locals. */
	{
		static const uint8_t body[] = { 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f,
			0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0x0b };
		module_with_body(&m, NULL, 0, body, sizeof(body));
		assert_int_equal(load(&m, &d), BT_ECORRUPT);
		assert_non_null(strstr(d.msg, "locals"));
	}
}

static void
test_deep_nesting(void **state)
{
	static uint8_t body[2 * 30000 + 4];
	static struct mb m;
	struct bt_diag d;
	size_t n;

	/* 1000 nested blocks: fine. */
	n = 0;
	body[n++] = 0x00;
	for (int i = 0; i < 1000; i++) {
		body[n++] = 0x02;
		body[n++] = 0x40;
	}
	for (int i = 0; i < 1000; i++)
		body[n++] = 0x0b;
	body[n++] = 0x0b;
	module_with_body(&m, NULL, 0, body, n);
	assert_int_equal(load(&m, &d), 0);
	/* 20000: refused with a limit error, not a crash. */
	n = 0;
	body[n++] = 0x00;
	for (int i = 0; i < 20000; i++) {
		body[n++] = 0x02;
		body[n++] = 0x40;
	}
	for (int i = 0; i < 20000; i++)
		body[n++] = 0x0b;
	body[n++] = 0x0b;
	module_with_body(&m, NULL, 0, body, n);
	assert_int_equal(load(&m, &d), BT_ELIMIT);
	assert_true(d.off > 0);
	assert_non_null(strstr(d.msg, "nested"));
}

static void
test_type_errors(void **state)
{
	/* i32.const 0; i64.const 0; i32.add; drop */
	static const uint8_t body[] = { 0x00, 0x41, 0x00, 0x42, 0x00, 0x6a,
		0x1a, 0x0b };
	/* local.get 5 with no locals */
	static const uint8_t body2[] = { 0x00, 0x20, 0x05, 0x1a, 0x0b };
	/* call 9 */
	static const uint8_t body3[] = { 0x00, 0x10, 0x09, 0x0b };
	/* br 3 */
	static const uint8_t body4[] = { 0x00, 0x0c, 0x03, 0x0b };
	/* an instruction after the final end */
	static const uint8_t body5[] = { 0x00, 0x0b, 0x01 };
	/* unreachable; i32.add; drop: fine (polymorphic stack) */
	static const uint8_t body6[] = { 0x00, 0x00, 0x6a, 0x1a, 0x0b };
	static struct mb m;
	struct bt_diag d;
	size_t at;

	at = module_with_body(&m, NULL, 0, body, sizeof(body));
	assert_int_equal(load(&m, &d), BT_ECORRUPT);
	assert_int_equal(d.off, (int64_t)(at + 5));
	assert_non_null(strstr(d.msg, "type mismatch"));
	at = module_with_body(&m, NULL, 0, body2, sizeof(body2));
	assert_int_equal(load(&m, &d), BT_ECORRUPT);
	assert_int_equal(d.off, (int64_t)(at + 1));
	assert_non_null(strstr(d.msg, "unknown local"));
	module_with_body(&m, NULL, 0, body3, sizeof(body3));
	assert_int_equal(load(&m, &d), BT_ECORRUPT);
	assert_non_null(strstr(d.msg, "unknown function"));
	module_with_body(&m, NULL, 0, body4, sizeof(body4));
	assert_int_equal(load(&m, &d), BT_ECORRUPT);
	assert_non_null(strstr(d.msg, "unknown label"));
	module_with_body(&m, NULL, 0, body5, sizeof(body5));
	assert_int_equal(load(&m, &d), BT_ECORRUPT);
	module_with_body(&m, NULL, 0, body6, sizeof(body6));
	assert_int_equal(load(&m, &d), 0);
}

static void
check_unsupported(const uint8_t *body, size_t n, size_t off_in_body,
    const char *what)
{
	static struct mb m;
	struct bt_diag d;
	size_t at;

	at = module_with_body(&m, NULL, 0, body, n);
	assert_int_equal(load(&m, &d), BT_EUNSUPPORTED);
	assert_int_equal(d.off, (int64_t)(at + off_in_body));
	assert_non_null(strstr(d.msg, "unsupported feature"));
	assert_non_null(strstr(d.msg, what));
}

static void
test_unsupported_features(void **state)
{
	/* v128.const (SIMD) */
	static const uint8_t simd[] = { 0x00, 0x41, 0x00, 0x1a, 0xfd, 0x0c,
		0x0b };
	/* i32.atomic.load (threads) */
	static const uint8_t atomics[] = { 0x00, 0x41, 0x00, 0xfe, 0x10, 0x02,
		0x00, 0x1a, 0x0b };
	/* return_call 0 (tail calls) */
	static const uint8_t tail[] = { 0x00, 0x12, 0x00, 0x0b };
	/* try (exceptions) */
	static const uint8_t exc[] = { 0x00, 0x06, 0x40, 0x0b, 0x0b };
	static struct mb m, s;
	struct bt_diag d;
	size_t at;

	check_unsupported(simd, sizeof(simd), 4, "SIMD");
	check_unsupported(atomics, sizeof(atomics), 3, "threads");
	check_unsupported(tail, sizeof(tail), 1, "tail calls");
	check_unsupported(exc, sizeof(exc), 1, "exception");
	/* memory64: limits flag 0x04 */
	header(&m);
	s.n = 0;
	put(&s, (const uint8_t[]){ 0x01, 0x04, 0x01 }, 3);
	at = m.n + 2 + 1;
	section(&m, 5, &s);
	assert_int_equal(load(&m, &d), BT_EUNSUPPORTED);
	assert_int_equal(d.off, (int64_t)at);
	assert_non_null(strstr(d.msg, "memory64"));
	/* shared memory (threads): flag 0x03 */
	m.b[at] = 0x03;
	put(&m, (const uint8_t[]){ 0 }, 0);
	s.n = 0;
	header(&m);
	put(&s, (const uint8_t[]){ 0x01, 0x03, 0x01, 0x02 }, 4);
	section(&m, 5, &s);
	assert_int_equal(load(&m, &d), BT_EUNSUPPORTED);
	/* a v128 parameter in a function type */
	header(&m);
	s.n = 0;
	put(&s, (const uint8_t[]){ 0x01, 0x60, 0x01, 0x7b, 0x00 }, 5);
	section(&m, 1, &s);
	assert_int_equal(load(&m, &d), BT_EUNSUPPORTED);
	assert_int_equal(d.off, 13);
}

static void
test_imports_exports(void **state)
{
	/*
	 * (module (import "env" "f" (func (param i32 i64) (result f64)))
	 *   (import "env" "m" (memory 1 5))
	 *   (func (export "g") (param i32 i64) (result f64)
	 *     (call 0 (local.get 0) (local.get 1))))
	 */
	static const uint8_t w[] = {
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07,
		0x01, 0x60, 0x02, 0x7f, 0x7e, 0x01, 0x7c, 0x02, 0x13, 0x02,
		0x03, 0x65, 0x6e, 0x76, 0x01, 0x66, 0x00, 0x00, 0x03, 0x65,
		0x6e, 0x76, 0x01, 0x6d, 0x02, 0x01, 0x01, 0x05, 0x03, 0x02,
		0x01, 0x00, 0x07, 0x05, 0x01, 0x01, 0x67, 0x00, 0x01, 0x0a,
		0x0a, 0x01, 0x08, 0x00, 0x20, 0x00, 0x20, 0x01, 0x10, 0x00,
		0x0b,
	};
	struct bt_wasm_import im;
	struct bt_wasm_export ex;
	bt_wasm_module *m;
	struct bt_diag d;

	assert_int_equal(bt_wasm_module_new(&m, w, sizeof(w), &d), 0);
	assert_int_equal(bt_wasm_module_import_count(m), 2);
	assert_int_equal(bt_wasm_module_import_get(m, 0, &im), 0);
	assert_string_equal(im.module, "env");
	assert_string_equal(im.name, "f");
	assert_int_equal(im.kind, BT_WASM_EXTERN_FUNC);
	assert_string_equal(im.params, "iI");
	assert_string_equal(im.results, "F");
	assert_int_equal(bt_wasm_module_import_get(m, 1, &im), 0);
	assert_int_equal(im.kind, BT_WASM_EXTERN_MEMORY);
	assert_int_equal(im.min, 1);
	assert_int_equal(im.max, 5);
	assert_int_equal(bt_wasm_module_import_get(m, 2, &im), -ENOENT);
	assert_int_equal(bt_wasm_module_export_count(m), 1);
	assert_int_equal(bt_wasm_module_export_find(m, "g", &ex), 0);
	assert_int_equal(ex.kind, BT_WASM_EXTERN_FUNC);
	assert_int_equal(ex.index, 1);
	assert_string_equal(ex.params, "iI");
	assert_string_equal(ex.results, "F");
	assert_int_equal(bt_wasm_module_export_find(m, "h", &ex), -ENOENT);
	bt_wasm_module_free(m);
}

static int
load_body(void *arg)
{
	const struct mb *m = arg;
	bt_wasm_module *mod;
	struct bt_diag d;
	int rc;

	rc = bt_wasm_module_new(&mod, m->b, m->n, &d);
	if (rc == 0)
		bt_wasm_module_free(mod);
	return rc;
}

static void
test_alloc_failures(void **state)
{
	static const uint8_t body[] = { 0x01, 0x02, 0x7f, 0x41, 0x01, 0x04,
		0x7f, 0x20, 0x00, 0x05, 0x20, 0x01, 0x0b, 0x1a, 0x0b };
	static struct mb m;

	module_with_body(&m, NULL, 0, body, sizeof(body));
	assert_true(bt_test_alloc_torture(load_body, &m, 200) > 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_magic_version),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_section_order),
		cmocka_unit_test(test_oversized_counts),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_type_errors),
		cmocka_unit_test(test_unsupported_features),
		cmocka_unit_test(test_imports_exports),
		cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
