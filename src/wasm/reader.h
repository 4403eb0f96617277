/*
 * reader.h: a bounded cursor over untrusted bytes, shared by decode.c and
 * code.c. Every read checks the end; every failure fills the diag with the
 * offset of the byte at fault and returns a negative rc. LEB128 readers
 * reject over-long encodings and unused bits, as the spec requires.
 */
#ifndef BT_WASM_READER_H
#define BT_WASM_READER_H

#include <errno.h>
#include <string.h>

#include "wasm_int.h"

struct rd {
	const uint8_t  *base; /* start of the whole binary, for offsets */
	const uint8_t  *p;
	const uint8_t  *end;
	struct bt_diag *diag;
};

static inline int
rd_fail(struct rd *r, const uint8_t *at, int rc, const char *msg)
{
	bt_diag_set(r->diag, (int64_t)(at - r->base), "%s", msg);
	return rc;
}

static inline int
rd_u8(struct rd *r, uint8_t *out)
{
	if (r->p >= r->end)
		return rd_fail(r, r->p, BT_ECORRUPT, "unexpected end");
	*out = *r->p++;
	return 0;
}

/* Unsigned LEB128 of at most bits bits. */
static inline int
rd_uleb(struct rd *r, unsigned bits, uint64_t *out)
{
	const uint8_t *at = r->p;
	unsigned maxbytes = (bits + 6) / 7;
	uint64_t v = 0;

	for (unsigned i = 0;; i++) {
		uint8_t b;

		if (r->p >= r->end)
			return rd_fail(r, r->p, BT_ECORRUPT,
			    "unexpected end (truncated integer)");
		b = *r->p++;
		if (i == maxbytes - 1) {
			/* Last possible byte: no continuation, and the bits
			 * beyond the width must be zero. */
			if (b & 0x80)
				return rd_fail(r, at, BT_ECORRUPT,
				    "integer representation too long");
			unsigned used = bits - 7 * i;
			if (used < 7 && (b >> used) != 0)
				return rd_fail(r, at, BT_ECORRUPT,
				    "integer too large");
			v |= (uint64_t)b << (7 * i);
			break;
		}
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			break;
	}
	*out = v;
	return 0;
}

/* Signed LEB128 of at most bits bits, sign-extended into *out. */
static inline int
rd_sleb(struct rd *r, unsigned bits, int64_t *out)
{
	const uint8_t *at = r->p;
	unsigned maxbytes = (bits + 6) / 7;
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b;

	for (unsigned i = 0;; i++) {
		if (r->p >= r->end)
			return rd_fail(r, r->p, BT_ECORRUPT,
			    "unexpected end (truncated integer)");
		b = *r->p++;
		if (i == maxbytes - 1) {
			if (b & 0x80)
				return rd_fail(r, at, BT_ECORRUPT,
				    "integer representation too long");
			/* The unused high bits must all equal the sign bit. */
			unsigned used = bits - 7 * i; /* 1..7 */
			int sign = (b >> (used - 1)) & 1;
			uint8_t rest = (uint8_t)((b & 0x7f) >> used);
			uint8_t want = sign ? (uint8_t)(0x7f >> used) : 0;
			if (used < 7 && rest != want)
				return rd_fail(r, at, BT_ECORRUPT,
				    "integer too large");
			v |= (uint64_t)(b & 0x7f) << shift;
			shift += 7;
			break;
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
	}
	if (shift < 64 && (b & 0x40))
		v |= ~(uint64_t)0 << shift;
	*out = (int64_t)v;
	return 0;
}

static inline int
rd_u32(struct rd *r, uint32_t *out)
{
	uint64_t v;
	int rc = rd_uleb(r, 32, &v);

	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

static inline int
rd_bytes(struct rd *r, size_t n, const uint8_t **out)
{
	if ((size_t)(r->end - r->p) < n)
		return rd_fail(r, r->p, BT_ECORRUPT,
		    "unexpected end (length out of bounds)");
	*out = r->p;
	r->p += n;
	return 0;
}

static inline bool
is_reftype(uint8_t t)
{
	return t == BT_WASM_FUNCREF || t == BT_WASM_EXTERNREF;
}

static inline int
rd_valtype(struct rd *r, uint8_t *out)
{
	const uint8_t *at = r->p;
	uint8_t b;
	int rc;

	if ((rc = rd_u8(r, &b)) != 0)
		return rc;
	switch (b) {
	case BT_WASM_I32:
	case BT_WASM_I64:
	case BT_WASM_F32:
	case BT_WASM_F64:
	case BT_WASM_FUNCREF:
	case BT_WASM_EXTERNREF:
		*out = b;
		return 0;
	case 0x7b:
		return rd_fail(r, at, BT_EUNSUPPORTED,
		    "unsupported feature: v128 (SIMD)");
	default:
		return rd_fail(r, at, BT_ECORRUPT, "malformed value type");
	}
}

static inline int
rd_reftype(struct rd *r, uint8_t *out)
{
	const uint8_t *at = r->p;
	uint8_t b;
	int rc;

	if ((rc = rd_u8(r, &b)) != 0)
		return rc;
	if (!is_reftype(b))
		return rd_fail(r, at, BT_ECORRUPT, "malformed reference type");
	*out = b;
	return 0;
}

/* A count of items that each take at least one byte, bounded by max. */
static inline int
rd_count(struct rd *r, uint32_t max, uint32_t *out)
{
	const uint8_t *at = r->p;
	uint32_t n;
	int rc;

	if ((rc = rd_u32(r, &n)) != 0)
		return rc;
	if (n > max)
		return rd_fail(r, at, BT_ELIMIT, "count exceeds engine limit");
	if (n > (size_t)(r->end - r->p))
		return rd_fail(r, at, BT_ECORRUPT,
		    "unexpected end (count larger than section)");
	*out = n;
	return 0;
}

#endif /* BT_WASM_READER_H */
