/*
 * prim.c: the primitive encoders (bt_serde_put_*) and the decoding cursor
 * (bt_serde_get_*) of the canonical format. docs/serde.md is the
 * specification; schema.c builds on these.
 *
 * Invariants of the cursor:
 *  1. off <= len at all times, and ptr[0..len) is never read past.
 *  2. A getter either consumes exactly one well-formed, canonical value and
 *     writes its out-parameter, or consumes nothing, writes nothing and
 *     reports the offset of the value's first byte.
 *  3. Every length or count is compared with the limits and with what is
 *     left of the input before anything is allocated for it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "serde_int.h"

const struct bt_serde_limits bt_serde_limits_default = BT_SERDE_LIMITS_DEFAULT;

/* Encoders. */

static size_t
uvarint_fill(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

int
bt_serde_put_uvarint(struct bt_dbuf *b, uint64_t v)
{
	uint8_t tmp[BT_SERDE_VARINT_MAX];

	return bt_dbuf_append(b, tmp, uvarint_fill(tmp, v));
}

int
bt_serde_put_svarint(struct bt_dbuf *b, int64_t v)
{
	uint64_t u = (uint64_t)v;

	// Zigzag: 0, -1, 1, -2, ... map to 0, 1, 2, 3, ...
	return bt_serde_put_uvarint(b, (u << 1) ^ (0 - (u >> 63)));
}

int
bt_serde_put_u8(struct bt_dbuf *b, uint8_t v)
{
	return bt_dbuf_putc(b, v);
}

int
bt_serde_put_bool(struct bt_dbuf *b, bool v)
{
	return bt_dbuf_putc(b, v ? 1 : 0);
}

int
bt_serde_put_fixed32(struct bt_dbuf *b, uint32_t v)
{
	uint8_t tmp[4];

	bt_put_le32(tmp, v);
	return bt_dbuf_append(b, tmp, sizeof(tmp));
}

int
bt_serde_put_fixed64(struct bt_dbuf *b, uint64_t v)
{
	uint8_t tmp[8];

	bt_put_le64(tmp, v);
	return bt_dbuf_append(b, tmp, sizeof(tmp));
}

int
bt_serde_put_bytes(struct bt_dbuf *b, const void *p, size_t n)
{
	size_t start = b->len;
	int    rc;

	if (n > 0 && p == NULL)
		return -EINVAL;
	rc = bt_serde_put_uvarint(b, n);
	if (rc != 0)
		return rc;
	if (n == 0)
		return 0;
	rc = bt_dbuf_append(b, p, n);
	if (rc != 0)
		b->len = start; // take back the length prefix
	return rc;
}

int
bt_serde_put_str(struct bt_dbuf *b, const char *s)
{
	return bt_serde_put_bytes(b, s, strlen(s));
}

int
bt_serde_put_raw(struct bt_dbuf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	return bt_dbuf_append(b, p, n);
}

int
bt_serde_put_opt(struct bt_dbuf *b, bool present)
{
	return bt_dbuf_putc(b, present ? 1 : 0);
}

int
bt_serde_put_count(struct bt_dbuf *b, size_t n)
{
	return bt_serde_put_uvarint(b, n);
}

int
bt_serde_put_enum(struct bt_dbuf *b, uint32_t tag)
{
	return bt_serde_put_uvarint(b, tag);
}

/* The cursor. */

int
bt__serde_fail(
    struct bt_serde_dec *d, size_t off, int rc, const char *fmt, ...)
{
	const char *scope = d->scope;
	const char *what = d->what;
	char        msg[160];
	va_list     ap;

	if (d->diag == NULL)
		return rc;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (scope != NULL && strncmp(scope, "struct ", 7) == 0)
		scope += 7;
	if (scope != NULL && what != NULL)
		bt_diag_set(d->diag, (int64_t)off, "%s.%s: %s (offset %zu)",
		    scope, what, msg, off);
	else if (scope != NULL || what != NULL)
		bt_diag_set(d->diag, (int64_t)off, "%s: %s (offset %zu)",
		    scope != NULL ? scope : what, msg, off);
	else
		bt_diag_set(
		    d->diag, (int64_t)off, "%s (offset %zu)", msg, off);
	return rc;
}

void
bt_serde_dec_init(struct bt_serde_dec *d, const void *ptr, size_t len,
    const struct bt_serde_limits *lim, struct bt_diag *diag)
{
	memset(d, 0, sizeof(*d));
	d->ptr = ptr;
	d->len = ptr != NULL ? len : 0;
	d->lim = lim != NULL ? *lim : bt_serde_limits_default;
	if (d->lim.max_depth > BT_SERDE_DEPTH_CAP)
		d->lim.max_depth = BT_SERDE_DEPTH_CAP;
	d->diag = diag;
}

size_t
bt_serde_dec_remaining(const struct bt_serde_dec *d)
{
	return d->len - d->off;
}

int
bt_serde_dec_end(struct bt_serde_dec *d)
{
	if (d->off != d->len)
		return bt__serde_fail(d, d->off, BT_ECORRUPT,
		    "%zu trailing bytes after the value", d->len - d->off);
	return 0;
}

/* need checks that n more bytes are there at off. */
static int
need(struct bt_serde_dec *d, size_t start, size_t n, const char *kind)
{
	if (d->len - d->off < n)
		return bt__serde_fail(d, start, BT_ETRUNC,
		    "truncated %s: needs %zu bytes, %zu remain", kind, n,
		    d->len - d->off);
	return 0;
}

int
bt_serde_get_uvarint(struct bt_serde_dec *d, uint64_t *out)
{
	size_t   start = d->off;
	uint64_t v = 0;
	size_t   i;

	/* Most varints (kinds, lengths of paths) are one byte. */
	if (start < d->len && d->ptr[start] < 0x80) {
		*out = d->ptr[start];
		d->off = start + 1;
		return 0;
	}
	for (i = 0;; i++) {
		uint8_t c;

		if (start + i >= d->len)
			return bt__serde_fail(d, start, BT_ETRUNC,
			    "truncated varint: input ends after %zu bytes", i);
		c = d->ptr[start + i];
		if (i == BT_SERDE_VARINT_MAX - 1) {
			// The 10th byte holds bit 63 only.
			if (c & 0x80)
				return bt__serde_fail(d, start, BT_ECORRUPT,
				    "varint longer than %d bytes",
				    BT_SERDE_VARINT_MAX);
			if (c > 1)
				return bt__serde_fail(d, start, BT_ECORRUPT,
				    "varint overflows 64 bits");
		}
		v |= (uint64_t)(c & 0x7f) << (7 * i);
		if ((c & 0x80) == 0) {
			if (i > 0 && c == 0)
				return bt__serde_fail(d, start, BT_ENONCANON,
				    "non-minimal varint (%zu bytes for a "
				    "value that needs fewer)",
				    i + 1);
			break;
		}
	}
	d->off = start + i + 1;
	*out = v;
	return 0;
}

int
bt_serde_get_u32(struct bt_serde_dec *d, uint32_t *out)
{
	size_t   start = d->off;
	uint64_t v;
	int      rc;

	rc = bt_serde_get_uvarint(d, &v);
	if (rc != 0)
		return rc;
	if (v > UINT32_MAX) {
		d->off = start;
		return bt__serde_fail(d, start, BT_ECORRUPT,
		    "value %llu does not fit 32 bits", (unsigned long long)v);
	}
	*out = (uint32_t)v;
	return 0;
}

int
bt_serde_get_svarint(struct bt_serde_dec *d, int64_t *out)
{
	uint64_t u;
	int      rc;

	rc = bt_serde_get_uvarint(d, &u);
	if (rc != 0)
		return rc;
	*out = (int64_t)((u >> 1) ^ (0 - (u & 1)));
	return 0;
}

int
bt_serde_get_u8(struct bt_serde_dec *d, uint8_t *out)
{
	int rc;

	rc = need(d, d->off, 1, "byte");
	if (rc != 0)
		return rc;
	*out = d->ptr[d->off++];
	return 0;
}

/* flag reads a byte that must be 0 or 1 (bools and presence bytes). */
static int
flag(struct bt_serde_dec *d, bool *out, const char *kind)
{
	uint8_t c;
	int     rc;

	rc = need(d, d->off, 1, kind);
	if (rc != 0)
		return rc;
	c = d->ptr[d->off];
	if (c > 1)
		return bt__serde_fail(d, d->off, BT_ECORRUPT,
		    "%s byte is 0x%02x, not 0 or 1", kind, c);
	d->off++;
	*out = c == 1;
	return 0;
}

int
bt_serde_get_bool(struct bt_serde_dec *d, bool *out)
{
	return flag(d, out, "bool");
}

int
bt_serde_get_opt(struct bt_serde_dec *d, bool *present)
{
	return flag(d, present, "presence");
}

int
bt_serde_get_fixed32(struct bt_serde_dec *d, uint32_t *out)
{
	int rc;

	rc = need(d, d->off, 4, "fixed32");
	if (rc != 0)
		return rc;
	*out = bt_get_le32(d->ptr + d->off);
	d->off += 4;
	return 0;
}

int
bt_serde_get_fixed64(struct bt_serde_dec *d, uint64_t *out)
{
	int rc;

	rc = need(d, d->off, 8, "fixed64");
	if (rc != 0)
		return rc;
	*out = bt_get_le64(d->ptr + d->off);
	d->off += 8;
	return 0;
}

int
bt_serde_get_bytes(struct bt_serde_dec *d, struct bt_buf *out)
{
	size_t   start = d->off;
	uint64_t n;
	int      rc;

	rc = bt_serde_get_uvarint(d, &n);
	if (rc != 0)
		return rc;
	if (n > d->lim.max_len) {
		d->off = start;
		return bt__serde_fail(d, start, BT_ELIMIT,
		    "length %llu exceeds max_len %zu", (unsigned long long)n,
		    d->lim.max_len);
	}
	if (n > d->len - d->off) {
		size_t left = d->len - d->off;

		d->off = start;
		return bt__serde_fail(d, start, BT_ETRUNC,
		    "truncated: length %llu but %zu bytes remain",
		    (unsigned long long)n, left);
	}
	out->ptr = d->ptr + d->off;
	out->len = (size_t)n;
	d->off += (size_t)n;
	return 0;
}

int
bt_serde_get_str(struct bt_serde_dec *d, char **out)
{
	size_t        start = d->off;
	struct bt_buf v = { NULL, 0 };
	char         *s;
	int           rc;

	rc = bt_serde_get_bytes(d, &v);
	if (rc != 0)
		return rc;
	if (v.len > 0 && memchr(v.ptr, 0, v.len) != NULL) {
		size_t at = (size_t)((const uint8_t *)memchr(v.ptr, 0, v.len)
		    - d->ptr);

		d->off = start;
		return bt__serde_fail(
		    d, at, BT_ECORRUPT, "NUL byte inside a string");
	}
	s = bt_alloc(v.len + 1);
	if (s == NULL) {
		d->off = start;
		return bt__serde_fail(d, start, -ENOMEM, "out of memory");
	}
	if (v.len > 0)
		memcpy(s, v.ptr, v.len);
	s[v.len] = '\0';
	*out = s;
	return 0;
}

int
bt_serde_get_raw(struct bt_serde_dec *d, void *out, size_t n)
{
	int rc;

	rc = need(d, d->off, n, "fixed-size field");
	if (rc != 0)
		return rc;
	if (n > 0)
		memcpy(out, d->ptr + d->off, n);
	d->off += n;
	return 0;
}

int
bt_serde_get_enum(struct bt_serde_dec *d, uint32_t max, uint32_t *out)
{
	size_t   start = d->off;
	uint64_t v;
	int      rc;

	rc = bt_serde_get_uvarint(d, &v);
	if (rc != 0)
		return rc;
	if (v > max) {
		d->off = start;
		return bt__serde_fail(d, start, BT_ECORRUPT,
		    "enum tag %llu out of range (max %u)",
		    (unsigned long long)v, max);
	}
	*out = (uint32_t)v;
	return 0;
}

int
bt_serde_get_count(struct bt_serde_dec *d, size_t min_size, size_t *out)
{
	size_t   start = d->off;
	uint64_t n;
	int      rc;

	rc = bt_serde_get_uvarint(d, &n);
	if (rc != 0)
		return rc;
	if (n > d->lim.max_count) {
		d->off = start;
		return bt__serde_fail(d, start, BT_ELIMIT,
		    "count %llu exceeds max_count %zu", (unsigned long long)n,
		    d->lim.max_count);
	}
	if (min_size > 0 && n > (d->len - d->off) / min_size) {
		size_t left = d->len - d->off;

		d->off = start;
		return bt__serde_fail(d, start, BT_ETRUNC,
		    "truncated: %llu elements of at least %zu bytes but %zu "
		    "bytes remain",
		    (unsigned long long)n, min_size, left);
	}
	*out = (size_t)n;
	return 0;
}

int
bt_serde_dec_enter(struct bt_serde_dec *d)
{
	if (d->depth >= d->lim.max_depth)
		return bt__serde_fail(d, d->off, BT_ELIMIT,
		    "nesting deeper than max_depth %u", d->lim.max_depth);
	d->depth++;
	return 0;
}

void
bt_serde_dec_leave(struct bt_serde_dec *d)
{
	if (d->depth > 0)
		d->depth--;
}
