/*
 * golden_test.c: the golden vectors of docs/serde.md, read from the doc
 * itself (CTest serde.golden). Every vector in the doc must be known here,
 * and every vector known here must be in the doc; each valid one must be
 * exactly what the encoder writes for its value and must decode back to
 * that value, and each reject must fail with the error the doc names.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bt/serde.h"
#include "testing.h"
#include "testschema.h"

enum vt {
	VT_UVARINT,
	VT_SVARINT,
	VT_U32,
	VT_BOOL,
	VT_OPT,
	VT_FIXED32,
	VT_FIXED64,
	VT_BYTES,
	VT_STR,
	VT_COUNT,
	VT_ENTRY,
	VT_NOTE,
};

static void
build_entry_a(void *p)
{
	struct ex_entry *e = p;

	e->name = "a.txt";
	e->size = 1000;
	e->mtime = -1;
	e->dir = false;
}

static struct ex_entry       small_entries[1] = { { .name = "" } };
static uint64_t              small_ids[] = { 0, 128 };
static char                 *small_labels[] = { "L" };
static struct bt_serde_bytes small_sig = { (uint8_t *)"\xff", 1 };
static struct ex_note        small_reply;

static void
build_note_small(void *p)
{
	struct ex_note *n = p;

	n->version = 1;
	n->kind = EX_KIND_LINK;
	n->flags = 300;
	n->crc = 0x01020304;
	n->stamp = 5;
	memcpy(n->digest, "\x01\x02\x03\x04", 4);
	n->body.ptr = (uint8_t *)"hi";
	n->body.len = 2;
	n->title = "t";
	n->comment = NULL;
	n->sig = &small_sig;
	n->entry.name = "e";
	n->entry.size = 1;
	n->entry.mtime = -1;
	n->entry.dir = true;
	n->entries = small_entries;
	n->nentries = 1;
	n->ids = small_ids;
	n->nids = 2;
	n->labels = small_labels;
	n->nlabels = 1;
	memset(&small_reply, 0, sizeof(small_reply));
	n->reply = &small_reply;
}

struct vec {
	const char *name;
	enum vt     type;
	int         err; /* 0 for a valid vector */
	uint64_t    u;
	int64_t     i;
	const char *s;
	size_t      slen;
	void (*build)(void *);
	int seen;
};

static struct vec vecs[] = {
	{ .name = "uvarint.0", .type = VT_UVARINT, .err = 0, .u = 0 },
	{ .name = "uvarint.1", .type = VT_UVARINT, .err = 0, .u = 1 },
	{ .name = "uvarint.127", .type = VT_UVARINT, .err = 0, .u = 127 },
	{ .name = "uvarint.128", .type = VT_UVARINT, .err = 0, .u = 128 },
	{ .name = "uvarint.300", .type = VT_UVARINT, .err = 0, .u = 300 },
	{ .name = "uvarint.16383", .type = VT_UVARINT, .err = 0, .u = 16383 },
	{ .name = "uvarint.16384", .type = VT_UVARINT, .err = 0, .u = 16384 },
	{ .name = "uvarint.u32max",
	    .type = VT_UVARINT,
	    .err = 0,
	    .u = UINT32_MAX },
	{ .name = "uvarint.u64max",
	    .type = VT_UVARINT,
	    .err = 0,
	    .u = UINT64_MAX },
	{ .name = "svarint.0", .type = VT_SVARINT, .err = 0, .i = 0 },
	{ .name = "svarint.-1", .type = VT_SVARINT, .err = 0, .i = -1 },
	{ .name = "svarint.1", .type = VT_SVARINT, .err = 0, .i = 1 },
	{ .name = "svarint.-2", .type = VT_SVARINT, .err = 0, .i = -2 },
	{ .name = "svarint.-64", .type = VT_SVARINT, .err = 0, .i = -64 },
	{ .name = "svarint.64", .type = VT_SVARINT, .err = 0, .i = 64 },
	{ .name = "svarint.i64max",
	    .type = VT_SVARINT,
	    .err = 0,
	    .i = INT64_MAX },
	{ .name = "svarint.i64min",
	    .type = VT_SVARINT,
	    .err = 0,
	    .i = INT64_MIN },
	{ .name = "u32.4294967295",
	    .type = VT_U32,
	    .err = 0,
	    .u = UINT32_MAX },
	{ .name = "bool.false", .type = VT_BOOL, .err = 0, .u = 0 },
	{ .name = "bool.true", .type = VT_BOOL, .err = 0, .u = 1 },
	{ .name = "opt.absent", .type = VT_OPT, .err = 0, .u = 0 },
	{ .name = "opt.present", .type = VT_OPT, .err = 0, .u = 1 },
	{ .name = "fixed32.0x12345678",
	    .type = VT_FIXED32,
	    .err = 0,
	    .u = 0x12345678 },
	{ .name = "fixed64.0x0102030405060708",
	    .type = VT_FIXED64,
	    .err = 0,
	    .u = 0x0102030405060708ULL },
	{ .name = "bytes.empty",
	    .type = VT_BYTES,
	    .err = 0,
	    .s = "",
	    .slen = 0 },
	{ .name = "bytes.abc",
	    .type = VT_BYTES,
	    .err = 0,
	    .s = "abc",
	    .slen = 3 },
	{ .name = "str.hello",
	    .type = VT_STR,
	    .err = 0,
	    .s = "hello",
	    .slen = 5 },
	{ .name = "count.3", .type = VT_COUNT, .err = 0, .u = 3 },
	{ .name = "entry.empty", .type = VT_ENTRY, .err = 0 },
	{ .name = "entry.a",
	    .type = VT_ENTRY,
	    .err = 0,
	    .build = build_entry_a },
	{ .name = "note.zero", .type = VT_NOTE, .err = 0 },
	{ .name = "note.small",
	    .type = VT_NOTE,
	    .err = 0,
	    .build = build_note_small },
	{ .name = "reject.uvarint.empty-continuation",
	    .type = VT_UVARINT,
	    .err = BT_ENONCANON },
	{ .name = "reject.uvarint.padded-one",
	    .type = VT_UVARINT,
	    .err = BT_ENONCANON },
	{ .name = "reject.uvarint.padded-127",
	    .type = VT_UVARINT,
	    .err = BT_ENONCANON },
	{ .name = "reject.uvarint.overflow",
	    .type = VT_UVARINT,
	    .err = BT_ECORRUPT },
	{ .name = "reject.uvarint.eleven-bytes",
	    .type = VT_UVARINT,
	    .err = BT_ECORRUPT },
	{ .name = "reject.uvarint.truncated",
	    .type = VT_UVARINT,
	    .err = BT_ETRUNC },
	{ .name = "reject.u32.2pow32", .type = VT_U32, .err = BT_ECORRUPT },
	{ .name = "reject.bool.two", .type = VT_BOOL, .err = BT_ECORRUPT },
	{ .name = "reject.opt.two", .type = VT_OPT, .err = BT_ECORRUPT },
	{ .name = "reject.fixed32.short",
	    .type = VT_FIXED32,
	    .err = BT_ETRUNC },
	{ .name = "reject.bytes.short", .type = VT_BYTES, .err = BT_ETRUNC },
	{ .name = "reject.bytes.over-max-len",
	    .type = VT_BYTES,
	    .err = BT_ELIMIT },
	{ .name = "reject.str.nul", .type = VT_STR, .err = BT_ECORRUPT },
	{ .name = "reject.count.over-max-count",
	    .type = VT_COUNT,
	    .err = BT_ELIMIT },
	{ .name = "reject.entry.bool-two",
	    .type = VT_ENTRY,
	    .err = BT_ECORRUPT },
	{ .name = "reject.entry.padded-size",
	    .type = VT_ENTRY,
	    .err = BT_ENONCANON },
	{ .name = "reject.entry.trailing",
	    .type = VT_ENTRY,
	    .err = BT_ECORRUPT },
	{ .name = "reject.note.kind-3", .type = VT_NOTE, .err = BT_ECORRUPT },
	{ .name = "reject.note.truncated", .type = VT_NOTE, .err = BT_ETRUNC },
	{ .name = "reject.note.ids-past-input",
	    .type = VT_NOTE,
	    .err = BT_ETRUNC },
};

#define NVECS (sizeof(vecs) / sizeof(vecs[0]))

/* encode_expected writes the encoding of v's value into b. */
static void
encode_expected(const struct vec *v, struct bt_dbuf *b)
{
	struct ex_entry e;
	struct ex_note  n;

	switch (v->type) {
	case VT_UVARINT:
	case VT_U32:
		assert_int_equal(bt_serde_put_uvarint(b, v->u), 0);
		break;
	case VT_SVARINT:
		assert_int_equal(bt_serde_put_svarint(b, v->i), 0);
		break;
	case VT_BOOL:
		assert_int_equal(bt_serde_put_bool(b, v->u != 0), 0);
		break;
	case VT_OPT:
		assert_int_equal(bt_serde_put_opt(b, v->u != 0), 0);
		break;
	case VT_FIXED32:
		assert_int_equal(bt_serde_put_fixed32(b, (uint32_t)v->u), 0);
		break;
	case VT_FIXED64:
		assert_int_equal(bt_serde_put_fixed64(b, v->u), 0);
		break;
	case VT_BYTES:
		assert_int_equal(bt_serde_put_bytes(b, v->s, v->slen), 0);
		break;
	case VT_STR:
		assert_int_equal(bt_serde_put_str(b, v->s), 0);
		break;
	case VT_COUNT:
		assert_int_equal(bt_serde_put_count(b, v->u), 0);
		break;
	case VT_ENTRY:
		memset(&e, 0, sizeof(e));
		if (v->build != NULL)
			v->build(&e);
		assert_int_equal(bt_serde_encode(b, &ex_entry_schema, &e), 0);
		break;
	case VT_NOTE:
		memset(&n, 0, sizeof(n));
		if (v->build != NULL)
			v->build(&n);
		assert_int_equal(bt_serde_encode(b, &ex_note_schema, &n), 0);
		break;
	}
}

/*
 * decode_check decodes p as v's type with default limits. For a valid
 * vector it also checks the value and returns 0.
 */
static int
decode_check(const struct vec *v, const uint8_t *p, size_t n)
{
	const struct bt_serde_schema *s = NULL;
	struct bt_serde_dec           d;
	struct bt_diag                diag;
	struct bt_buf                 view;
	struct ex_note                val; // large enough for either
	struct bt_dbuf                again;
	uint64_t                      u = 0;
	int64_t                       i = 0;
	uint32_t                      u32 = 0;
	size_t                        count = 0;
	bool                          f = false;
	char                         *str = NULL;
	int                           rc;

	if (v->type == VT_ENTRY || v->type == VT_NOTE) {
		s = v->type == VT_ENTRY ? &ex_entry_schema : &ex_note_schema;
		rc = bt_serde_decode(s, &val, p, n, NULL, &diag);
		if (rc != 0)
			return rc;
		bt_dbuf_init(&again, 1 << 20);
		assert_int_equal(bt_serde_encode(&again, s, &val), 0);
		assert_int_equal(again.len, n);
		assert_memory_equal(again.ptr, p, n);
		bt_dbuf_fini(&again);
		bt_serde_free(s, &val);
		return 0;
	}
	bt_serde_dec_init(&d, p, n, NULL, &diag);
	switch (v->type) {
	case VT_UVARINT:
		rc = bt_serde_get_uvarint(&d, &u);
		break;
	case VT_U32:
		rc = bt_serde_get_u32(&d, &u32);
		u = u32;
		break;
	case VT_SVARINT:
		rc = bt_serde_get_svarint(&d, &i);
		break;
	case VT_BOOL:
		rc = bt_serde_get_bool(&d, &f);
		u = f;
		break;
	case VT_OPT:
		rc = bt_serde_get_opt(&d, &f);
		u = f;
		break;
	case VT_FIXED32:
		rc = bt_serde_get_fixed32(&d, &u32);
		u = u32;
		break;
	case VT_FIXED64:
		rc = bt_serde_get_fixed64(&d, &u);
		break;
	case VT_BYTES:
		rc = bt_serde_get_bytes(&d, &view);
		break;
	case VT_STR:
		rc = bt_serde_get_str(&d, &str);
		break;
	case VT_COUNT:
		rc = bt_serde_get_count(&d, 0, &count);
		u = count;
		break;
	default:
		rc = -EINVAL;
		fail();
	}
	if (rc == 0)
		rc = bt_serde_dec_end(&d);
	if (rc != 0) {
		bt_free(str);
		return rc;
	}
	switch (v->type) {
	case VT_SVARINT:
		assert_true(i == v->i);
		break;
	case VT_BYTES:
		assert_int_equal(view.len, v->slen);
		assert_memory_equal(view.ptr, v->s, v->slen);
		break;
	case VT_STR:
		assert_string_equal(str, v->s);
		break;
	default:
		assert_true(u == v->u);
		break;
	}
	bt_free(str);
	return 0;
}

static const struct {
	const char *name;
	int         rc;
} err_names[] = {
	{ "ECORRUPT", BT_ECORRUPT },
	{ "ENONCANON", BT_ENONCANON },
	{ "ELIMIT", BT_ELIMIT },
	{ "ETRUNC", BT_ETRUNC },
};

/* check_vector runs one vector from the doc: bytes p[0..n), err_name or
 * NULL for a valid one. */
static void
check_vector(
    const char *name, const uint8_t *p, size_t n, const char *err_name)
{
	struct vec    *v = NULL;
	struct bt_dbuf b;
	int            want = 0, rc;

	for (size_t k = 0; k < NVECS; k++)
		if (strcmp(vecs[k].name, name) == 0)
			v = &vecs[k];
	if (v == NULL)
		fail_msg(
		    "docs/serde.md has a vector %s this test lacks", name);
	if (v->seen++)
		fail_msg("vector %s appears twice in docs/serde.md", name);
	if (err_name != NULL) {
		want = 1;
		for (size_t k = 0;
		     k < sizeof(err_names) / sizeof(err_names[0]); k++)
			if (strcmp(err_names[k].name, err_name) == 0)
				want = err_names[k].rc;
		if (want == 1)
			fail_msg("%s: unknown error name %s", name, err_name);
		if (want != v->err)
			fail_msg("%s: doc says %s, test expects %s", name,
			    err_name, bt_strerror(v->err));
		rc = decode_check(v, p, n);
		if (rc != want)
			fail_msg("%s: decode gave %d (%s), want %s", name, rc,
			    bt_strerror(rc), err_name);
		return;
	}
	if (v->err != 0)
		fail_msg("%s: the doc lists it as valid", name);
	bt_dbuf_init(&b, 1 << 20);
	encode_expected(v, &b);
	if (b.len != n || (n > 0 && memcmp(b.ptr, p, n) != 0))
		fail_msg("%s: encoder writes %zu bytes that differ from the "
		         "doc's %zu",
		    name, b.len, n);
	bt_dbuf_fini(&b);
	rc = decode_check(v, p, n);
	if (rc != 0)
		fail_msg("%s: decode failed: %s", name, bt_strerror(rc));
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Vector being assembled from a line and its continuations. */
struct pending {
	char    name[96];
	uint8_t bytes[256];
	size_t  n;
	char    err[16];
	int     active;
};

static void
flush(struct pending *pv)
{
	if (pv->active)
		check_vector(pv->name, pv->bytes, pv->n,
		    pv->err[0] != '\0' ? pv->err : NULL);
	memset(pv, 0, sizeof(*pv));
}

/* parse_tokens reads hex bytes and an optional "-> ERR" from s. */
static void
parse_tokens(struct pending *pv, const char *s)
{
	while (*s != '\0') {
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			break;
		if (s[0] == '-' && s[1] == '>') {
			size_t k = 0;

			s += 2;
			while (isspace((unsigned char)*s))
				s++;
			while (isalnum((unsigned char)*s)
			    && k + 1 < sizeof(pv->err))
				pv->err[k++] = *s++;
			pv->err[k] = '\0';
			continue;
		}
		if (hexval(s[0]) < 0 || hexval(s[1]) < 0
		    || (s[2] != '\0' && !isspace((unsigned char)s[2])))
			fail_msg("%s: bad token near \"%.10s\"", pv->name, s);
		assert_true(pv->n < sizeof(pv->bytes));
		pv->bytes[pv->n++]
		    = (uint8_t)(hexval(s[0]) * 16 + hexval(s[1]));
		s += 2;
	}
}

static void
test_doc_vectors_match_the_code_byte_for_byte(void **state)
{
	char           path[4096], line[512];
	struct pending pv;
	FILE          *f;
	int            in_block = 0, nvec = 0;

	(void)state;
	memset(&pv, 0, sizeof(pv));
	snprintf(path, sizeof(path), "%s/docs/serde.md", BT_SOURCE_DIR);
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (!in_block) {
			in_block = strcmp(line, "```golden") == 0;
			continue;
		}
		if (strncmp(line, "```", 3) == 0) {
			flush(&pv);
			in_block = 0;
			continue;
		}
		if (line[0] == '\0')
			continue;
		if (isspace((unsigned char)line[0])) {
			assert_true(pv.active);
			parse_tokens(&pv, line);
			continue;
		}
		flush(&pv);
		size_t k = strcspn(line, " \t");

		assert_true(k < sizeof(pv.name));
		memcpy(pv.name, line, k);
		pv.active = 1;
		nvec++;
		parse_tokens(&pv, line + k);
	}
	fclose(f);
	assert_false(in_block);
	for (size_t k = 0; k < NVECS; k++)
		if (!vecs[k].seen)
			fail_msg("vector %s is missing from docs/serde.md",
			    vecs[k].name);
	assert_int_equal(nvec, NVECS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_doc_vectors_match_the_code_byte_for_byte),
	};

	return cmocka_run_group_tests_name("serde.golden", tests, NULL, NULL);
}
