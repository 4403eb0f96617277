/*
 * schema.c: encode, decode and free driven by a struct bt_serde_schema, the
 * field table that bt/serde.h's BT_SERDE_* macros build once per C struct.
 *
 * Invariants:
 *  1. Decoding writes into zeroed storage, and every pointer it stores is
 *     stored (with its count, for sequences) the moment it is allocated, so
 *     at any failure the partial value is consistent and free_struct can
 *     release it: nothing leaks and the caller sees all zeroes.
 *  2. Decode goes through the cursor getters of prim.c only, which check
 *     every length and count against the limits and the remaining input
 *     before anything is allocated; sequence counts are also bounded by the
 *     input through the fewest bytes one element can take (min_size), so a
 *     small input cannot make a large allocation.
 *  3. Encoding writes exactly what decoding accepts: the same kinds in the
 *     same order with the same primitive encoders; values decoding would
 *     refuse (an enum over its max) are refused with -EINVAL.
 *  4. Recursion follows struct nesting, bounded by max_depth (clamped to
 *     BT_SERDE_DEPTH_CAP) when decoding and by BT_SERDE_DEPTH_CAP when
 *     encoding.
 */
#include <errno.h>
#include <string.h>

#include "serde_int.h"

static int enc_struct(struct bt_dbuf *b, const struct bt_serde_schema *s,
    const uint8_t *val, unsigned depth);
static int dec_struct(
    struct bt_serde_dec *d, const struct bt_serde_schema *s, uint8_t *val);
static void free_struct(const struct bt_serde_schema *s, uint8_t *val);

/* Member access through memcpy: no alignment or aliasing assumptions. */
static void *
get_ptr(const uint8_t *base, size_t off)
{
	void *p;

	memcpy(&p, base + off, sizeof(p));
	return p;
}

static void
set_ptr(uint8_t *base, size_t off, const void *p)
{
	memcpy(base + off, &p, sizeof(p));
}

static uint32_t
get_u32(const uint8_t *base, size_t off)
{
	uint32_t v;

	memcpy(&v, base + off, sizeof(v));
	return v;
}

static uint64_t
get_u64(const uint8_t *base, size_t off)
{
	uint64_t v;

	memcpy(&v, base + off, sizeof(v));
	return v;
}

static size_t
get_size(const uint8_t *base, size_t off)
{
	size_t v;

	memcpy(&v, base + off, sizeof(v));
	return v;
}

/*
 * min_size is the fewest bytes a value of field f can encode to. It recurses
 * only into embedded structs, which C cannot make cyclic.
 */
static size_t
min_size(const struct bt_serde_field *f)
{
	size_t sum = 0;

	switch (f->kind) {
	case BT_SERDE_KIND_FIXED32:
		return 4;
	case BT_SERDE_KIND_FIXED64:
		return 8;
	case BT_SERDE_KIND_RAW:
		return f->size;
	case BT_SERDE_KIND_STRUCT:
		for (size_t i = 0; i < f->sub->nfields; i++) {
			size_t m = min_size(&f->sub->fields[i]);

			sum = m > SIZE_MAX - sum ? SIZE_MAX : sum + m;
		}
		return sum;
	default:
		// Every other kind starts with at least one byte.
		return 1;
	}
}

/* Encoding. */

static int
enc_field(struct bt_dbuf *b, const struct bt_serde_field *f,
    const uint8_t *base, unsigned depth)
{
	const struct bt_serde_bytes *bp;
	const uint8_t               *p;
	size_t                       n;
	uint32_t                     tag;
	bool                         flag;
	int                          rc;

	switch (f->kind) {
	case BT_SERDE_KIND_U8:
		return bt_serde_put_u8(b, base[f->off]);
	case BT_SERDE_KIND_U32:
		return bt_serde_put_uvarint(b, get_u32(base, f->off));
	case BT_SERDE_KIND_U64:
		return bt_serde_put_uvarint(b, get_u64(base, f->off));
	case BT_SERDE_KIND_I64:
		return bt_serde_put_svarint(b, (int64_t)get_u64(base, f->off));
	case BT_SERDE_KIND_BOOL:
		memcpy(&flag, base + f->off, sizeof(flag));
		return bt_serde_put_bool(b, flag);
	case BT_SERDE_KIND_FIXED32:
		return bt_serde_put_fixed32(b, get_u32(base, f->off));
	case BT_SERDE_KIND_FIXED64:
		return bt_serde_put_fixed64(b, get_u64(base, f->off));
	case BT_SERDE_KIND_ENUM:
		tag = get_u32(base, f->off);
		if (tag > f->max)
			return -EINVAL;
		return bt_serde_put_enum(b, tag);
	case BT_SERDE_KIND_BYTES:
		bp = (const struct bt_serde_bytes *)(base + f->off);
		return bt_serde_put_bytes(b, bp->ptr, bp->len);
	case BT_SERDE_KIND_STR:
		p = get_ptr(base, f->off);
		if (p == NULL)
			return bt_serde_put_bytes(b, NULL, 0);
		return bt_serde_put_str(b, (const char *)p);
	case BT_SERDE_KIND_RAW:
		return bt_serde_put_raw(b, base + f->off, f->size);
	case BT_SERDE_KIND_STRUCT:
		return enc_struct(b, f->sub, base + f->off, depth + 1);
	case BT_SERDE_KIND_OPT_STRUCT:
	case BT_SERDE_KIND_OPT_BYTES:
	case BT_SERDE_KIND_OPT_STR:
		p = get_ptr(base, f->off);
		rc = bt_serde_put_opt(b, p != NULL);
		if (rc != 0 || p == NULL)
			return rc;
		if (f->kind == BT_SERDE_KIND_OPT_STRUCT)
			return enc_struct(b, f->sub, p, depth + 1);
		if (f->kind == BT_SERDE_KIND_OPT_STR)
			return bt_serde_put_str(b, (const char *)p);
		bp = (const struct bt_serde_bytes *)p;
		return bt_serde_put_bytes(b, bp->ptr, bp->len);
	case BT_SERDE_KIND_SEQ:
		p = get_ptr(base, f->off);
		n = get_size(base, f->count_off);
		if (n > 0 && p == NULL)
			return -EINVAL;
		rc = bt_serde_put_count(b, n);
		for (size_t i = 0; rc == 0 && i < n; i++)
			rc = enc_field(
			    b, f->elem, p + i * f->elem->size, depth);
		return rc;
	default:
		return -EINVAL;
	}
}

static int
enc_struct(struct bt_dbuf *b, const struct bt_serde_schema *s,
    const uint8_t *val, unsigned depth)
{
	int rc;

	if (depth > BT_SERDE_DEPTH_CAP)
		return BT_ELIMIT;
	for (size_t i = 0; i < s->nfields; i++) {
		rc = enc_field(b, &s->fields[i], val, depth);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
bt_serde_encode(
    struct bt_dbuf *out, const struct bt_serde_schema *s, const void *val)
{
	size_t start = out->len;
	int    rc;

	rc = enc_struct(out, s, val, 1);
	if (rc != 0)
		out->len = start; // leave out as it was
	return rc;
}

/* Decoding. */

static int
oom(struct bt_serde_dec *d)
{
	return bt__serde_fail(d, d->off, -ENOMEM, "out of memory");
}

/* dec_bytes decodes a byte string into an owned copy at *bp. */
static int
dec_bytes(struct bt_serde_dec *d, struct bt_serde_bytes *bp)
{
	struct bt_buf v;
	int           rc;

	rc = bt_serde_get_bytes(d, &v);
	if (rc != 0)
		return rc;
	if (v.len == 0)
		return 0;
	bp->ptr = bt_memdup(v.ptr, v.len);
	if (bp->ptr == NULL)
		return oom(d);
	bp->len = v.len;
	return 0;
}

/*
 * dec_field decodes field f into base + f->off, which is zeroed. On failure
 * it may leave allocations stored there (invariant 1).
 */
static int
dec_field(
    struct bt_serde_dec *d, const struct bt_serde_field *f, uint8_t *base)
{
	uint8_t *dst = base + f->off;
	uint8_t *p;
	uint64_t u64;
	int64_t  i64;
	uint32_t u32;
	size_t   n;
	bool     flag;
	char    *str;
	int      rc;

	d->what = f->name;
	switch (f->kind) {
	case BT_SERDE_KIND_U8:
		return bt_serde_get_u8(d, dst);
	case BT_SERDE_KIND_U32:
		rc = bt_serde_get_u32(d, &u32);
		if (rc == 0)
			memcpy(dst, &u32, sizeof(u32));
		return rc;
	case BT_SERDE_KIND_U64:
		rc = bt_serde_get_uvarint(d, &u64);
		if (rc == 0)
			memcpy(dst, &u64, sizeof(u64));
		return rc;
	case BT_SERDE_KIND_I64:
		rc = bt_serde_get_svarint(d, &i64);
		if (rc == 0)
			memcpy(dst, &i64, sizeof(i64));
		return rc;
	case BT_SERDE_KIND_BOOL:
		rc = bt_serde_get_bool(d, &flag);
		if (rc == 0)
			memcpy(dst, &flag, sizeof(flag));
		return rc;
	case BT_SERDE_KIND_FIXED32:
		rc = bt_serde_get_fixed32(d, &u32);
		if (rc == 0)
			memcpy(dst, &u32, sizeof(u32));
		return rc;
	case BT_SERDE_KIND_FIXED64:
		rc = bt_serde_get_fixed64(d, &u64);
		if (rc == 0)
			memcpy(dst, &u64, sizeof(u64));
		return rc;
	case BT_SERDE_KIND_ENUM:
		rc = bt_serde_get_enum(d, f->max, &u32);
		if (rc == 0)
			memcpy(dst, &u32, sizeof(u32));
		return rc;
	case BT_SERDE_KIND_BYTES:
		return dec_bytes(d, (struct bt_serde_bytes *)dst);
	case BT_SERDE_KIND_STR:
		rc = bt_serde_get_str(d, &str);
		if (rc == 0)
			set_ptr(base, f->off, str);
		return rc;
	case BT_SERDE_KIND_RAW:
		return bt_serde_get_raw(d, dst, f->size);
	case BT_SERDE_KIND_STRUCT:
		return dec_struct(d, f->sub, dst);
	case BT_SERDE_KIND_OPT_STRUCT:
	case BT_SERDE_KIND_OPT_BYTES:
	case BT_SERDE_KIND_OPT_STR:
		rc = bt_serde_get_opt(d, &flag);
		if (rc != 0 || !flag)
			return rc;
		if (f->kind == BT_SERDE_KIND_OPT_STR) {
			rc = bt_serde_get_str(d, &str);
			if (rc == 0)
				set_ptr(base, f->off, str);
			return rc;
		}
		n = f->kind == BT_SERDE_KIND_OPT_STRUCT
		    ? f->sub->size
		    : sizeof(struct bt_serde_bytes);
		p = bt_zalloc(n);
		if (p == NULL)
			return oom(d);
		set_ptr(base, f->off, p);
		if (f->kind == BT_SERDE_KIND_OPT_STRUCT)
			return dec_struct(d, f->sub, p);
		return dec_bytes(d, (struct bt_serde_bytes *)p);
	case BT_SERDE_KIND_SEQ:
		rc = bt_serde_get_count(d, min_size(f->elem), &n);
		if (rc != 0 || n == 0)
			return rc;
		p = bt_calloc(n, f->elem->size);
		if (p == NULL)
			return oom(d);
		set_ptr(base, f->off, p);
		memcpy(base + f->count_off, &n, sizeof(n));
		for (size_t i = 0; i < n; i++) {
			rc = dec_field(d, f->elem, p + i * f->elem->size);
			if (rc != 0)
				return rc;
		}
		return 0;
	default:
		return bt__serde_fail(d, d->off, -EINVAL,
		    "schema field of unknown kind %d", f->kind);
	}
}

static int
dec_struct(
    struct bt_serde_dec *d, const struct bt_serde_schema *s, uint8_t *val)
{
	int rc;

	rc = bt_serde_dec_enter(d);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < s->nfields; i++) {
		d->scope = s->name;
		rc = dec_field(d, &s->fields[i], val);
		if (rc != 0)
			return rc; // the caller restores depth
	}
	bt_serde_dec_leave(d);
	return 0;
}

int
bt_serde_decode_cursor(
    struct bt_serde_dec *d, const struct bt_serde_schema *s, void *val_out)
{
	size_t      off = d->off;
	unsigned    depth = d->depth;
	const char *scope = d->scope;
	const char *what = d->what;
	int         rc;

	memset(val_out, 0, s->size);
	rc = dec_struct(d, s, val_out);
	if (rc != 0) {
		bt_serde_free(s, val_out);
		d->off = off;
		d->depth = depth;
	}
	d->scope = scope;
	d->what = what;
	return rc;
}

int
bt_serde_decode(const struct bt_serde_schema *s, void *val_out,
    const void *ptr, size_t len, const struct bt_serde_limits *lim,
    struct bt_diag *diag)
{
	struct bt_serde_dec d;
	int                 rc;

	bt_serde_dec_init(&d, ptr, len, lim, diag);
	rc = bt_serde_decode_cursor(&d, s, val_out);
	if (rc != 0)
		return rc;
	d.scope = s->name;
	d.what = NULL;
	rc = bt_serde_dec_end(&d);
	if (rc != 0)
		bt_serde_free(s, val_out);
	return rc;
}

/* Freeing. */

static void
free_field(const struct bt_serde_field *f, uint8_t *base)
{
	struct bt_serde_bytes *bp;
	uint8_t               *p;
	size_t                 n;

	switch (f->kind) {
	case BT_SERDE_KIND_BYTES:
		bp = (struct bt_serde_bytes *)(base + f->off);
		bt_free(bp->ptr);
		break;
	case BT_SERDE_KIND_STR:
	case BT_SERDE_KIND_OPT_STR:
		bt_free(get_ptr(base, f->off));
		break;
	case BT_SERDE_KIND_STRUCT:
		free_struct(f->sub, base + f->off);
		break;
	case BT_SERDE_KIND_OPT_STRUCT:
		p = get_ptr(base, f->off);
		if (p != NULL)
			free_struct(f->sub, p);
		bt_free(p);
		break;
	case BT_SERDE_KIND_OPT_BYTES:
		bp = get_ptr(base, f->off);
		if (bp != NULL)
			bt_free(bp->ptr);
		bt_free(bp);
		break;
	case BT_SERDE_KIND_SEQ:
		p = get_ptr(base, f->off);
		n = get_size(base, f->count_off);
		for (size_t i = 0; p != NULL && i < n; i++)
			free_field(f->elem, p + i * f->elem->size);
		bt_free(p);
		break;
	default:
		break;
	}
}

static void
free_struct(const struct bt_serde_schema *s, uint8_t *val)
{
	for (size_t i = 0; i < s->nfields; i++)
		free_field(&s->fields[i], val);
	memset(val, 0, s->size);
}

void
bt_serde_free(const struct bt_serde_schema *s, void *val)
{
	if (s == NULL || val == NULL)
		return;
	free_struct(s, val);
}
