/*
 * schema_test.c: encode, decode and free driven by a schema (CTest
 * serde.schema), over the example schema of docs/serde.md: round trips,
 * every error kind with the field it names, cleanliness after every
 * failure (zeroed value, no leak), allocation torture, and single-byte
 * mutations that must either fail or re-encode to the same bytes.
 */
#include <errno.h>
#include <string.h>

#include "bt/serde.h"
#include "testing.h"
#include "testschema.h"

static uint64_t        ids[] = { 1, 300, UINT64_MAX };
static char           *labels[] = { "x", "", "longer label" };
static struct ex_entry entries[] = {
	{ .name = "a.txt", .size = 1000, .mtime = -1, .dir = false },
	{ .name = "dir", .size = 0, .mtime = 1700000000, .dir = true },
};
static struct bt_serde_bytes sig = { (uint8_t *)"\x00\x01\x02", 3 };

/* fill_note builds a note using every kind, with depth-1 replies chained
 * below it (replies[] provides their storage). Borrowed static data. */
static void
fill_note(struct ex_note *n, struct ex_note *replies, int depth)
{
	memset(n, 0, sizeof(*n));
	n->version = 3;
	n->kind = EX_KIND_FILE;
	n->flags = 0x80000001u;
	n->crc = 0xdeadbeefu;
	n->stamp = 0x0102030405060708ULL;
	memcpy(n->digest, "\xca\xfe\xba\xbe", 4);
	n->body.ptr = (uint8_t *)"body\0with nul";
	n->body.len = 13;
	n->title = "title";
	n->comment = depth % 2 ? "" : NULL;
	n->sig = depth % 2 ? NULL : &sig;
	n->entry = entries[1];
	n->entries = entries;
	n->nentries = 2;
	n->ids = ids;
	n->nids = 3;
	n->labels = labels;
	n->nlabels = 3;
	if (depth > 1) {
		fill_note(&replies[0], replies + 1, depth - 1);
		n->reply = &replies[0];
	}
}

/* encode_note encodes n into a new buffer (b must be freed). */
static void
encode_note(struct bt_dbuf *b, const struct ex_note *n)
{
	bt_dbuf_init(b, 1 << 20);
	assert_int_equal(bt_serde_encode(b, &ex_note_schema, n), 0);
}

static void
assert_zeroed(const void *p, size_t n)
{
	static const uint8_t zero[512];

	assert_true(n <= sizeof(zero));
	assert_memory_equal(p, zero, n);
}

static void
assert_entry_equal(const struct ex_entry *a, const struct ex_entry *b)
{
	assert_string_equal(a->name, b->name);
	assert_true(a->size == b->size);
	assert_true(a->mtime == b->mtime);
	assert_int_equal(a->dir, b->dir);
}

static void
assert_note_equal(const struct ex_note *a, const struct ex_note *b)
{
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->crc, b->crc);
	assert_true(a->stamp == b->stamp);
	assert_memory_equal(a->digest, b->digest, 4);
	assert_int_equal(a->body.len, b->body.len);
	if (a->body.len > 0)
		assert_memory_equal(a->body.ptr, b->body.ptr, a->body.len);
	assert_string_equal(a->title != NULL ? a->title : "",
	    b->title != NULL ? b->title : "");
	assert_int_equal(a->comment == NULL, b->comment == NULL);
	if (a->comment != NULL)
		assert_string_equal(a->comment, b->comment);
	assert_int_equal(a->sig == NULL, b->sig == NULL);
	if (a->sig != NULL) {
		assert_int_equal(a->sig->len, b->sig->len);
		assert_memory_equal(a->sig->ptr, b->sig->ptr, a->sig->len);
	}
	assert_entry_equal(&a->entry, &b->entry);
	assert_int_equal(a->nentries, b->nentries);
	for (size_t i = 0; i < a->nentries; i++)
		assert_entry_equal(&a->entries[i], &b->entries[i]);
	assert_int_equal(a->nids, b->nids);
	for (size_t i = 0; i < a->nids; i++)
		assert_true(a->ids[i] == b->ids[i]);
	assert_int_equal(a->nlabels, b->nlabels);
	for (size_t i = 0; i < a->nlabels; i++)
		assert_string_equal(a->labels[i], b->labels[i]);
	assert_int_equal(a->reply == NULL, b->reply == NULL);
	if (a->reply != NULL)
		assert_note_equal(a->reply, b->reply);
}

static void
test_schema_round_trips_every_kind(void **state)
{
	struct ex_note src, replies[3], got;
	struct bt_dbuf b, again;
	struct bt_diag diag;
	long           live = bt_alloc_live();

	(void)state;
	fill_note(&src, replies, 4);
	encode_note(&b, &src);
	assert_int_equal(
	    bt_serde_decode(&ex_note_schema, &got, b.ptr, b.len, NULL, &diag),
	    0);
	assert_note_equal(&src, &got);
	encode_note(&again, &got);
	assert_int_equal(again.len, b.len);
	assert_memory_equal(again.ptr, b.ptr, b.len);
	bt_serde_free(&ex_note_schema, &got);
	assert_zeroed(&got, sizeof(got));
	bt_dbuf_fini(&b);
	bt_dbuf_fini(&again);
	assert_int_equal(bt_alloc_live(), live);
}

static void
test_zero_value_round_trips_with_empty_strings(void **state)
{
	struct ex_note got, zero;
	struct bt_dbuf b, again;

	(void)state;
	memset(&zero, 0, sizeof(zero));
	encode_note(&b, &zero);
	assert_int_equal(
	    bt_serde_decode(&ex_note_schema, &got, b.ptr, b.len, NULL, NULL),
	    0);
	// A required string decodes to "", never NULL; absent stays NULL.
	assert_non_null(got.title);
	assert_string_equal(got.title, "");
	assert_null(got.comment);
	assert_null(got.sig);
	assert_null(got.body.ptr);
	assert_null(got.entries);
	encode_note(&again, &got);
	assert_int_equal(again.len, b.len);
	assert_memory_equal(again.ptr, b.ptr, b.len);
	bt_serde_free(&ex_note_schema, &got);
	bt_dbuf_fini(&b);
	bt_dbuf_fini(&again);
}

/*
 * expect_decode_error decodes p and checks rc, that the value is zeroed,
 * that nothing leaked, and that the message contains want.
 */
static void
expect_decode_error(const void *p, size_t n, const struct bt_serde_limits *lim,
    int want_rc, const char *want)
{
	struct ex_note got;
	struct bt_diag diag;
	long           live = bt_alloc_live();

	memset(&got, 0xa5, sizeof(got));
	bt_diag_clear(&diag);
	assert_int_equal(
	    bt_serde_decode(&ex_note_schema, &got, p, n, lim, &diag), want_rc);
	assert_zeroed(&got, sizeof(got));
	assert_int_equal(bt_alloc_live(), live);
	if (want != NULL && strstr(diag.msg, want) == NULL)
		fail_msg("diag \"%s\" lacks \"%s\"", diag.msg, want);
}

/* A zero note is 27 bytes; offsets of its fields, for the tests below. */
enum {
	OFF_VERSION = 0,
	OFF_KIND = 1,
	OFF_FLAGS = 2,
	OFF_CRC = 3,
	OFF_STAMP = 7,
	OFF_DIGEST = 15,
	OFF_BODY = 19,
	OFF_TITLE = 20,
	OFF_COMMENT = 21,
	OFF_SIG = 22,
	OFF_ENTRY = 23, /* name, size, mtime, dir */
	OFF_ENTRIES = 27,
	OFF_IDS = 28,
	OFF_LABELS = 29,
	OFF_REPLY = 30,
	ZERO_NOTE_LEN = 31,
};

static void
zero_note_bytes(uint8_t *out)
{
	struct ex_note zero;
	struct bt_dbuf b;

	memset(&zero, 0, sizeof(zero));
	encode_note(&b, &zero);
	assert_int_equal(b.len, ZERO_NOTE_LEN);
	memcpy(out, b.ptr, b.len);
	bt_dbuf_fini(&b);
}

static void
test_decode_errors_name_the_field_and_offset(void **state)
{
	uint8_t        p[ZERO_NOTE_LEN + 8];
	struct ex_note got;
	struct bt_diag diag;

	(void)state;
	zero_note_bytes(p);
	p[OFF_KIND] = 3;
	expect_decode_error(p, ZERO_NOTE_LEN, NULL, BT_ECORRUPT,
	    "ex_note.kind: enum tag 3 out of range (max 2) (offset 1)");

	zero_note_bytes(p);
	p[OFF_ENTRY + 3] = 2;
	expect_decode_error(p, ZERO_NOTE_LEN, NULL, BT_ECORRUPT,
	    "ex_entry.dir: bool byte is 0x02");

	zero_note_bytes(p);
	p[OFF_COMMENT] = 2;
	expect_decode_error(p, ZERO_NOTE_LEN, NULL, BT_ECORRUPT,
	    "ex_note.comment: presence byte is 0x02");

	zero_note_bytes(p);
	p[OFF_REPLY] = 0x80; // a varint-looking presence byte
	expect_decode_error(p, ZERO_NOTE_LEN, NULL, BT_ECORRUPT,
	    "ex_note.reply: presence byte is 0x80, not 0 or 1 (offset 30)");

	zero_note_bytes(p);
	p[OFF_TITLE] = 1; // length 1, then the comment byte 0x00 is a NUL
	memmove(p + OFF_TITLE + 2, p + OFF_TITLE + 1,
	    ZERO_NOTE_LEN - OFF_TITLE - 1);
	p[OFF_TITLE + 1] = 0;
	expect_decode_error(p, ZERO_NOTE_LEN + 1, NULL, BT_ECORRUPT,
	    "ex_note.title: NUL byte inside a string (offset 21)");

	zero_note_bytes(p);
	p[ZERO_NOTE_LEN] = 0;
	memset(&got, 0, sizeof(got));
	assert_int_equal(bt_serde_decode(&ex_note_schema, &got, p,
	                     ZERO_NOTE_LEN + 1, NULL, &diag),
	    BT_ECORRUPT);
	assert_non_null(strstr(diag.msg, "1 trailing bytes"));
	assert_int_equal(diag.off, ZERO_NOTE_LEN);
	assert_zeroed(&got, sizeof(got));
}

static void
test_non_minimal_varint_inside_a_struct_is_non_canonical(void **state)
{
	uint8_t p[ZERO_NOTE_LEN + 1];

	(void)state;
	zero_note_bytes(p);
	// flags = 0 written as 0x80 0x00
	memmove(p + OFF_FLAGS + 1, p + OFF_FLAGS, ZERO_NOTE_LEN - OFF_FLAGS);
	p[OFF_FLAGS] = 0x80;
	expect_decode_error(p, ZERO_NOTE_LEN + 1, NULL, BT_ENONCANON,
	    "ex_note.flags: non-minimal varint");
}

static void
test_every_truncation_is_etrunc_and_clean(void **state)
{
	struct ex_note src, replies[2];
	struct bt_dbuf b;

	(void)state;
	fill_note(&src, replies, 3);
	encode_note(&b, &src);
	for (size_t n = 0; n < b.len; n++)
		expect_decode_error(b.ptr, n, NULL, BT_ETRUNC, "truncated");
	bt_dbuf_fini(&b);
}

static void
test_limits_apply_to_fields(void **state)
{
	struct bt_serde_limits lim = BT_SERDE_LIMITS_DEFAULT;
	struct ex_note         src, replies[1];
	struct bt_dbuf         b;

	(void)state;
	fill_note(&src, replies, 1);
	encode_note(&b, &src);
	lim.max_len = 12; // the body is 13 bytes
	expect_decode_error(b.ptr, b.len, &lim, BT_ELIMIT,
	    "ex_note.body: length 13 exceeds max_len 12");
	lim = bt_serde_limits_default;
	lim.max_count = 2; // three ids
	expect_decode_error(b.ptr, b.len, &lim, BT_ELIMIT,
	    "ex_note.ids: count 3 exceeds max_count 2");
	bt_dbuf_fini(&b);
}

static void
test_nesting_beyond_max_depth_is_a_limit(void **state)
{
	struct bt_serde_limits lim = BT_SERDE_LIMITS_DEFAULT;
	struct ex_note         src, replies[5], got;
	struct bt_dbuf         b;

	(void)state;
	// Six notes deep; the innermost entry struct is level 7.
	fill_note(&src, replies, 6);
	encode_note(&b, &src);
	lim.max_depth = 7;
	assert_int_equal(
	    bt_serde_decode(&ex_note_schema, &got, b.ptr, b.len, &lim, NULL),
	    0);
	bt_serde_free(&ex_note_schema, &got);
	lim.max_depth = 6;
	expect_decode_error(
	    b.ptr, b.len, &lim, BT_ELIMIT, "nesting deeper than max_depth 6");
	bt_dbuf_fini(&b);
}

static void
test_huge_count_on_small_input_fails_before_allocating(void **state)
{
	uint8_t p[ZERO_NOTE_LEN + 4];
	long    calls;

	(void)state;
	zero_note_bytes(p);
	// entries: count 2^20 - 1 (within max_count), 3 bytes of varint.
	memmove(p + OFF_ENTRIES + 3, p + OFF_ENTRIES + 1,
	    ZERO_NOTE_LEN - OFF_ENTRIES - 1);
	p[OFF_ENTRIES] = 0xff;
	p[OFF_ENTRIES + 1] = 0xff;
	p[OFF_ENTRIES + 2] = 0x3f;
	calls = bt_alloc_calls();
	expect_decode_error(p, ZERO_NOTE_LEN + 2, NULL, BT_ETRUNC,
	    "ex_note.entries: truncated: 1048575 elements of at least 4 "
	    "bytes");
	// Only the strings title and entry.name were allocated (and freed).
	assert_int_equal(bt_alloc_calls() - calls, 2);
}

static int
torture_decode(void *arg)
{
	const struct bt_dbuf *b = arg;
	struct ex_note        got;
	struct bt_dbuf        again;
	int                   rc;

	rc = bt_serde_decode(
	    &ex_note_schema, &got, b->ptr, b->len, NULL, NULL);
	if (rc != 0) {
		assert_int_equal(rc, -ENOMEM);
		assert_zeroed(&got, sizeof(got));
		return rc;
	}
	// Re-encode outside the injected failure window.
	bt_alloc_fail_at(0);
	encode_note(&again, &got);
	assert_int_equal(again.len, b->len);
	assert_memory_equal(again.ptr, b->ptr, b->len);
	bt_dbuf_fini(&again);
	bt_serde_free(&ex_note_schema, &got);
	return 0;
}

static void
test_decode_survives_allocation_torture(void **state)
{
	struct ex_note src, replies[2];
	struct bt_dbuf b;
	int            runs;

	(void)state;
	fill_note(&src, replies, 3);
	encode_note(&b, &src);
	runs = bt_test_alloc_torture(torture_decode, &b, 1000);
	// Each note has well over 10 allocations; all were failed once.
	assert_true(runs > 30);
	bt_dbuf_fini(&b);
}

static int
torture_encode(void *arg)
{
	const struct ex_note *src = arg;
	struct bt_dbuf        b;
	int                   rc;

	bt_dbuf_init(&b, 1 << 20);
	rc = bt_serde_put_u8(&b, 0x42);
	if (rc != 0) {
		assert_int_equal(rc, -ENOMEM);
		return rc;
	}
	rc = bt_serde_encode(&b, &ex_note_schema, src);
	if (rc != 0) {
		assert_int_equal(rc, -ENOMEM);
		assert_int_equal(b.len, 1); // out left as it was
	}
	bt_dbuf_fini(&b);
	return rc;
}

static void
test_encode_survives_allocation_torture(void **state)
{
	struct ex_note src, replies[2];

	(void)state;
	fill_note(&src, replies, 3);
	bt_test_alloc_torture(torture_encode, &src, 100);
}

static void
test_encode_refuses_values_decode_would_refuse(void **state)
{
	struct ex_note src, replies[1];
	struct bt_dbuf b;

	(void)state;
	bt_dbuf_init(&b, 1 << 20);
	assert_int_equal(bt_serde_put_u8(&b, 0x42), 0);

	fill_note(&src, replies, 1);
	src.kind = (enum ex_kind)3;
	assert_int_equal(bt_serde_encode(&b, &ex_note_schema, &src), -EINVAL);
	assert_int_equal(b.len, 1);

	fill_note(&src, replies, 1);
	src.body.ptr = NULL;
	assert_int_equal(bt_serde_encode(&b, &ex_note_schema, &src), -EINVAL);

	fill_note(&src, replies, 1);
	src.ids = NULL;
	assert_int_equal(bt_serde_encode(&b, &ex_note_schema, &src), -EINVAL);
	assert_int_equal(b.len, 1);

	// A cycle of optional pointers cannot recurse forever.
	fill_note(&src, replies, 1);
	src.reply = &src;
	assert_int_equal(
	    bt_serde_encode(&b, &ex_note_schema, &src), BT_ELIMIT);
	assert_int_equal(b.len, 1);
	assert_int_equal(b.ptr[0], 0x42);
	bt_dbuf_fini(&b);
}

static void
test_encode_into_a_full_buffer_leaves_it_unchanged(void **state)
{
	struct ex_note src, replies[1];
	struct bt_dbuf b;

	(void)state;
	fill_note(&src, replies, 1);
	bt_dbuf_init(&b, 40);
	assert_int_equal(bt_serde_put_u8(&b, 0x42), 0);
	assert_int_equal(
	    bt_serde_encode(&b, &ex_note_schema, &src), BT_ELIMIT);
	assert_int_equal(b.len, 1);
	bt_dbuf_fini(&b);
}

static void
test_free_is_null_and_zero_safe(void **state)
{
	struct ex_note zero;

	(void)state;
	memset(&zero, 0, sizeof(zero));
	bt_serde_free(NULL, NULL);
	bt_serde_free(&ex_note_schema, NULL);
	bt_serde_free(&ex_note_schema, &zero);
	bt_serde_free(&ex_note_schema, &zero);
	assert_zeroed(&zero, sizeof(zero));
}

static void
test_decode_cursor_embeds_in_a_hand_written_format(void **state)
{
	struct ex_note      src, replies[1], got;
	struct bt_dbuf      b;
	struct bt_serde_dec d;
	struct bt_diag      diag;
	uint8_t             magic;
	uint32_t            trailer;

	(void)state;
	fill_note(&src, replies, 2);
	bt_dbuf_init(&b, 1 << 20);
	assert_int_equal(bt_serde_put_u8(&b, 0x42), 0);
	assert_int_equal(bt_serde_encode(&b, &ex_note_schema, &src), 0);
	assert_int_equal(bt_serde_put_fixed32(&b, 7), 0);

	bt_serde_dec_init(&d, b.ptr, b.len, NULL, &diag);
	assert_int_equal(bt_serde_get_u8(&d, &magic), 0);
	assert_int_equal(bt_serde_decode_cursor(&d, &ex_note_schema, &got), 0);
	assert_note_equal(&src, &got);
	assert_int_equal(d.depth, 0);
	assert_int_equal(bt_serde_get_fixed32(&d, &trailer), 0);
	assert_int_equal(trailer, 7);
	assert_int_equal(bt_serde_dec_end(&d), 0);
	bt_serde_free(&ex_note_schema, &got);

	// Cut the note short: the cursor stays where it was.
	bt_serde_dec_init(&d, b.ptr, 10, NULL, &diag);
	assert_int_equal(bt_serde_get_u8(&d, &magic), 0);
	assert_int_equal(
	    bt_serde_decode_cursor(&d, &ex_note_schema, &got), BT_ETRUNC);
	assert_int_equal(d.off, 1);
	assert_int_equal(d.depth, 0);
	assert_zeroed(&got, sizeof(got));
	bt_dbuf_fini(&b);
}

/*
 * Every single-byte change to a valid encoding either fails cleanly or
 * decodes to a value whose encoding is exactly the changed bytes.
 */
static void
test_single_byte_mutations_fail_or_round_trip(void **state)
{
	static const uint8_t vals[]
	    = { 0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0xff };
	struct ex_note src, replies[1], got;
	struct bt_dbuf b, again;
	uint8_t       *p;
	long           live = bt_alloc_live();
	int            ok = 0, bad = 0;

	(void)state;
	fill_note(&src, replies, 2);
	encode_note(&b, &src);
	p = bt_memdup(b.ptr, b.len);
	assert_non_null(p);
	for (size_t i = 0; i < b.len; i++) {
		for (size_t k = 0; k <= sizeof(vals); k++) {
			uint8_t old = p[i];
			int     rc;

			p[i] = k < sizeof(vals) ? vals[k]
			                        : (uint8_t)(old ^ 0x40);
			rc = bt_serde_decode(
			    &ex_note_schema, &got, p, b.len, NULL, NULL);
			if (rc == 0) {
				encode_note(&again, &got);
				assert_int_equal(again.len, b.len);
				assert_memory_equal(again.ptr, p, b.len);
				bt_dbuf_fini(&again);
				bt_serde_free(&ex_note_schema, &got);
				ok++;
			} else {
				assert_true(rc == BT_ECORRUPT
				    || rc == BT_ETRUNC || rc == BT_ENONCANON
				    || rc == BT_ELIMIT);
				assert_zeroed(&got, sizeof(got));
				bad++;
			}
			p[i] = old;
		}
	}
	assert_true(ok > 0 && bad > 0);
	bt_free(p);
	bt_dbuf_fini(&b);
	assert_int_equal(bt_alloc_live(), live);
}

static uint8_t               seq_u8s[] = { 0, 0x80, 0xff };
static uint32_t              seq_u32s[] = { 0, 128, UINT32_MAX };
static int64_t               seq_i64s[] = { INT64_MIN, -1, 0, 1, INT64_MAX };
static bool                  seq_bools[] = { true, false, true };
static uint32_t              seq_f32s[] = { 1, 0xfffffffe };
static uint64_t              seq_f64s[] = { 0x0102030405060708ULL };
static struct bt_serde_bytes seq_blobs[]
    = { { NULL, 0 }, { (uint8_t *)"ab", 2 } };
static enum ex_kind seq_kinds[] = { EX_KIND_FILE, EX_KIND_TEXT };
static uint8_t      seq_digests[2][4] = { { 1, 2, 3, 4 }, { 5, 6, 7, 8 } };

static void
fill_seqs(struct ex_seqs *v)
{
	memset(v, 0, sizeof(*v));
	v->u8s = seq_u8s;
	v->nu8s = 3;
	v->u32s = seq_u32s;
	v->nu32s = 3;
	v->i64s = seq_i64s;
	v->ni64s = 5;
	v->bools = seq_bools;
	v->nbools = 3;
	v->f32s = seq_f32s;
	v->nf32s = 2;
	v->f64s = seq_f64s;
	v->nf64s = 1;
	v->blobs = seq_blobs;
	v->nblobs = 2;
	v->kinds = seq_kinds;
	v->nkinds = 2;
	v->digests = seq_digests;
	v->ndigests = 2;
}

static void
test_sequences_of_every_element_kind_round_trip(void **state)
{
	/* Counts and elements, in field order. */
	static const uint8_t want[] = { 0x03, 0x00, 0x80, 0xff, 0x03, 0x00,
		0x80, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x05, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01, 0x00,
		0x02, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0x01, 0x03, 0x01, 0x00, 0x01, 0x02, 0x01, 0x00, 0x00, 0x00,
		0xfe, 0xff, 0xff, 0xff, 0x01, 0x08, 0x07, 0x06, 0x05, 0x04,
		0x03, 0x02, 0x01, 0x02, 0x00, 0x02, 'a', 'b', 0x02, 0x02, 0x00,
		0x02, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 };
	struct ex_seqs       src, got;
	struct bt_dbuf       b, again;

	(void)state;
	fill_seqs(&src);
	bt_dbuf_init(&b, 1 << 20);
	assert_int_equal(bt_serde_encode(&b, &ex_seqs_schema, &src), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.ptr, want, sizeof(want));
	assert_int_equal(
	    bt_serde_decode(&ex_seqs_schema, &got, b.ptr, b.len, NULL, NULL),
	    0);
	assert_int_equal(got.nu8s, 3);
	assert_memory_equal(got.u8s, seq_u8s, sizeof(seq_u8s));
	assert_memory_equal(got.u32s, seq_u32s, sizeof(seq_u32s));
	assert_memory_equal(got.i64s, seq_i64s, sizeof(seq_i64s));
	assert_memory_equal(got.bools, seq_bools, sizeof(seq_bools));
	assert_memory_equal(got.f32s, seq_f32s, sizeof(seq_f32s));
	assert_memory_equal(got.f64s, seq_f64s, sizeof(seq_f64s));
	assert_int_equal(got.nblobs, 2);
	assert_null(got.blobs[0].ptr);
	assert_int_equal(got.blobs[1].len, 2);
	assert_memory_equal(got.blobs[1].ptr, "ab", 2);
	assert_memory_equal(got.kinds, seq_kinds, sizeof(seq_kinds));
	assert_memory_equal(got.digests, seq_digests, sizeof(seq_digests));
	bt_dbuf_init(&again, 1 << 20);
	assert_int_equal(bt_serde_encode(&again, &ex_seqs_schema, &got), 0);
	assert_int_equal(again.len, b.len);
	assert_memory_equal(again.ptr, b.ptr, b.len);
	bt_serde_free(&ex_seqs_schema, &got);
	assert_zeroed(&got, sizeof(got));
	bt_dbuf_fini(&again);
	bt_dbuf_fini(&b);
}

static void
test_sequence_elements_are_checked_like_fields(void **state)
{
	struct ex_seqs src, got;
	struct bt_dbuf b;
	struct bt_diag diag;
	size_t         at;

	(void)state;
	fill_seqs(&src);
	bt_dbuf_init(&b, 1 << 20);
	assert_int_equal(bt_serde_encode(&b, &ex_seqs_schema, &src), 0);

	// The second bool (offset 39) set to 2.
	at = 39;
	assert_int_equal(b.ptr[at], 0x00);
	b.ptr[at] = 2;
	assert_int_equal(
	    bt_serde_decode(&ex_seqs_schema, &got, b.ptr, b.len, NULL, &diag),
	    BT_ECORRUPT);
	assert_non_null(strstr(diag.msg, "ex_seqs.bools: bool byte is 0x02"));
	assert_int_equal(diag.off, 39);
	assert_zeroed(&got, sizeof(got));
	b.ptr[at] = 0;

	// The first enum tag (offset 65) set to 3.
	at = 65;
	assert_int_equal(b.ptr[at], 0x02);
	b.ptr[at] = 3;
	assert_int_equal(
	    bt_serde_decode(&ex_seqs_schema, &got, b.ptr, b.len, NULL, &diag),
	    BT_ECORRUPT);
	assert_non_null(strstr(diag.msg, "ex_seqs.kinds: enum tag 3"));
	b.ptr[at] = 2;

	// An enum element over its max is refused on encode too.
	seq_kinds[1] = (enum ex_kind)7;
	assert_int_equal(bt_serde_encode(&b, &ex_seqs_schema, &src), -EINVAL);
	seq_kinds[1] = EX_KIND_TEXT;

	// 3 fixed64 elements need 24 bytes: with fewer left it is ETRUNC
	// before any allocation.
	fill_seqs(&src);
	src.nf64s = 0;
	src.nblobs = src.nkinds = src.ndigests = 0;
	bt_dbuf_reset(&b);
	assert_int_equal(bt_serde_encode(&b, &ex_seqs_schema, &src), 0);
	b.ptr[b.len - 4] = 3; // f64s count
	assert_int_equal(
	    bt_serde_decode(&ex_seqs_schema, &got, b.ptr, b.len, NULL, &diag),
	    BT_ETRUNC);
	assert_non_null(strstr(diag.msg, "3 elements of at least 8 bytes"));
	bt_dbuf_fini(&b);
}

static int
torture_seqs(void *arg)
{
	const struct bt_dbuf *b = arg;
	struct ex_seqs        got;
	int                   rc;

	rc = bt_serde_decode(
	    &ex_seqs_schema, &got, b->ptr, b->len, NULL, NULL);
	if (rc != 0) {
		assert_int_equal(rc, -ENOMEM);
		assert_zeroed(&got, sizeof(got));
		return rc;
	}
	bt_serde_free(&ex_seqs_schema, &got);
	return 0;
}

static void
test_sequence_decode_survives_allocation_torture(void **state)
{
	struct ex_seqs src;
	struct bt_dbuf b;

	(void)state;
	fill_seqs(&src);
	bt_dbuf_init(&b, 1 << 20);
	assert_int_equal(bt_serde_encode(&b, &ex_seqs_schema, &src), 0);
	// 9 arrays and 1 blob copy: 10 allocations, then success.
	assert_int_equal(bt_test_alloc_torture(torture_seqs, &b, 100), 11);
	bt_dbuf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_round_trips_every_kind),
		cmocka_unit_test(
		    test_zero_value_round_trips_with_empty_strings),
		cmocka_unit_test(test_decode_errors_name_the_field_and_offset),
		cmocka_unit_test(
		    test_non_minimal_varint_inside_a_struct_is_non_canonical),
		cmocka_unit_test(test_every_truncation_is_etrunc_and_clean),
		cmocka_unit_test(test_limits_apply_to_fields),
		cmocka_unit_test(test_nesting_beyond_max_depth_is_a_limit),
		cmocka_unit_test(
		    test_huge_count_on_small_input_fails_before_allocating),
		cmocka_unit_test(test_decode_survives_allocation_torture),
		cmocka_unit_test(test_encode_survives_allocation_torture),
		cmocka_unit_test(
		    test_encode_refuses_values_decode_would_refuse),
		cmocka_unit_test(
		    test_encode_into_a_full_buffer_leaves_it_unchanged),
		cmocka_unit_test(test_free_is_null_and_zero_safe),
		cmocka_unit_test(
		    test_decode_cursor_embeds_in_a_hand_written_format),
		cmocka_unit_test(
		    test_single_byte_mutations_fail_or_round_trip),
		cmocka_unit_test(
		    test_sequences_of_every_element_kind_round_trip),
		cmocka_unit_test(
		    test_sequence_elements_are_checked_like_fields),
		cmocka_unit_test(
		    test_sequence_decode_survives_allocation_torture),
	};

	return cmocka_run_group_tests_name("serde.schema", tests, NULL, NULL);
}
