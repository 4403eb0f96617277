/*
 * bt/serde.h: the canonical binary format of Blocktree (docs/serde.md).
 *
 * One compact, non-self-describing encoding for messages, credentials,
 * image metadata and on-disk records. Unsigned integers are minimal LEB128
 * varints, signed ones zigzag varints, fixed-width integers little-endian;
 * byte strings and strings are a varint length then the bytes; an optional
 * value is one byte 0 or 1 then the value; an enum is a varint tag; a
 * sequence is a varint count then the elements; a struct is its fields in
 * declaration order. Every value has exactly one encoding, and the decoder
 * rejects every other one, so a signature over bytes is a signature over
 * the value.
 *
 * Two layers: primitive encoders (bt_serde_put_*) and a decoding cursor
 * (struct bt_serde_dec, bt_serde_get_*) for hand-written formats, and a
 * schema layer (struct bt_serde_schema) that derives encode, decode and
 * free from one field table per C struct.
 *
 * Threads: nothing here has global mutable state; a cursor, a buffer or a
 * value is used by one thread at a time. Nothing blocks.
 *
 * This header is the whole supported surface of serde/. Anything not
 * declared here is not API.
 */
#ifndef BT_SERDE_H
#define BT_SERDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt/core.h"

/*
 * Limits. Every decode takes them; a NULL limits pointer means
 * bt_serde_limits_default. Exceeding one is BT_ELIMIT.
 *  max_len:   bytes in one byte string or string;
 *  max_count: elements in one sequence;
 *  max_depth: nesting of structs (a top-level struct is depth 1; each
 *             nested, optional or sequence-element struct adds one).
 */
struct bt_serde_limits {
	size_t   max_len;
	size_t   max_count;
	unsigned max_depth;
};

#define BT_SERDE_MAX_LEN_DEFAULT   ((size_t)16 << 20) /* 16 MiB */
#define BT_SERDE_MAX_COUNT_DEFAULT ((size_t)1 << 20)
#define BT_SERDE_MAX_DEPTH_DEFAULT 32u
/*
 * Decoding and encoding recurse once per struct level, so a larger
 * max_depth is clamped to this hard cap (which also stops encode on a
 * value whose optional pointers form a cycle).
 */
#define BT_SERDE_DEPTH_CAP 256u
#define BT_SERDE_LIMITS_DEFAULT                                               \
	{                                                                     \
		.max_len = BT_SERDE_MAX_LEN_DEFAULT,                          \
		.max_count = BT_SERDE_MAX_COUNT_DEFAULT,                      \
		.max_depth = BT_SERDE_MAX_DEPTH_DEFAULT                       \
	}

/* The defaults above, as an object (what a NULL limits pointer means). */
BT_API extern const struct bt_serde_limits bt_serde_limits_default;

/* The longest LEB128 encoding of a uint64_t. */
#define BT_SERDE_VARINT_MAX 10

/*
 * Encoders. Each appends one value to b and returns 0, or BT_ELIMIT when b
 * would grow past its max, or -ENOMEM. On failure b is left exactly as it
 * was (nothing partial is appended). Pointers are borrowed for the call.
 *
 * bt_serde_put_uvarint: minimal LEB128 (1..10 bytes).
 * bt_serde_put_svarint: zigzag ((v << 1) ^ (v >> 63)), then uvarint.
 * bt_serde_put_u8:      one byte.
 * bt_serde_put_bool:    one byte, 0 or 1.
 * bt_serde_put_fixed32, bt_serde_put_fixed64: 4 or 8 bytes little-endian.
 * bt_serde_put_bytes:   uvarint n, then n bytes (p may be NULL if n is 0).
 * bt_serde_put_str:     bt_serde_put_bytes(s, strlen(s)); s must not be
 *                       NULL.
 * bt_serde_put_raw:     n bytes, no length (a fixed-size field such as a
 *                       digest, whose size the format fixes).
 * bt_serde_put_opt:     the presence byte of an optional value: 1 if
 *                       present (the value follows), 0 if absent.
 * bt_serde_put_count:   a sequence count (a uvarint).
 * bt_serde_put_enum:    an enum tag (a uvarint).
 */
BT_API int bt_serde_put_uvarint(struct bt_dbuf *b, uint64_t v);
BT_API int bt_serde_put_svarint(struct bt_dbuf *b, int64_t v);
BT_API int bt_serde_put_u8(struct bt_dbuf *b, uint8_t v);
BT_API int bt_serde_put_bool(struct bt_dbuf *b, bool v);
BT_API int bt_serde_put_fixed32(struct bt_dbuf *b, uint32_t v);
BT_API int bt_serde_put_fixed64(struct bt_dbuf *b, uint64_t v);
BT_API int bt_serde_put_bytes(struct bt_dbuf *b, const void *p, size_t n);
BT_API int bt_serde_put_str(struct bt_dbuf *b, const char *s);
BT_API int bt_serde_put_raw(struct bt_dbuf *b, const void *p, size_t n);
BT_API int bt_serde_put_opt(struct bt_dbuf *b, bool present);
BT_API int bt_serde_put_count(struct bt_dbuf *b, size_t n);
BT_API int bt_serde_put_enum(struct bt_dbuf *b, uint32_t tag);

/*
 * The decoding cursor. Caller storage, set up by bt_serde_dec_init; it
 * borrows the input, which must outlive it and every view it returns.
 * Members are readable (off is the offset of the next byte); scope and
 * what may be set by the caller to name the next value in diagnostics
 * ("cred" and "path" give messages "cred.path: ..."); NULL means unnamed.
 *
 * Every getter reads one value at off and advances past it, or returns an
 * error, fills diag with the offset of the value's first byte and a message
 * naming the value and the fault, and leaves off and *out unchanged:
 *   BT_ETRUNC    the input ends inside the value;
 *   BT_ENONCANON a varint longer than its minimal encoding (0x80 0x00);
 *   BT_ECORRUPT  a varint longer than 10 bytes or beyond 64 bits, a bool or
 *                presence byte other than 0 or 1, an enum tag or a u32
 *                out of range, a NUL inside a string;
 *   BT_ELIMIT    a length over max_len, a count over max_count, nesting
 *                over max_depth;
 *   -ENOMEM      (bt_serde_get_str only).
 * Nothing asserts on input; any byte string is safe to decode.
 */
struct bt_serde_dec {
	const uint8_t         *ptr; /* the whole input (borrowed) */
	size_t                 len;
	size_t                 off; /* next byte to read */
	unsigned               depth; /* current struct nesting */
	struct bt_serde_limits lim;
	struct bt_diag        *diag; /* optional, borrowed */
	const char            *scope; /* for messages, may be NULL */
	const char            *what; /* for messages, may be NULL */
};

/*
 * bt_serde_dec_init sets d up to read len bytes at ptr (borrowed; ptr may
 * be NULL when len is 0) under lim (copied, max_depth clamped to
 * BT_SERDE_DEPTH_CAP; NULL for the defaults), reporting faults into diag
 * (optional, borrowed). Cannot fail.
 */
BT_API void bt_serde_dec_init(struct bt_serde_dec *d, const void *ptr,
    size_t len, const struct bt_serde_limits *lim, struct bt_diag *diag);

/* bt_serde_dec_remaining is the number of bytes not yet read. */
BT_API size_t bt_serde_dec_remaining(const struct bt_serde_dec *d);

/*
 * bt_serde_dec_end returns 0 when every byte has been read, else
 * BT_ECORRUPT ("trailing bytes") with diag at the first unread byte.
 */
BT_API int bt_serde_dec_end(struct bt_serde_dec *d);

BT_API int bt_serde_get_uvarint(struct bt_serde_dec *d, uint64_t *out);
/* bt_serde_get_u32: a uvarint that must be <= UINT32_MAX (BT_ECORRUPT). */
BT_API int bt_serde_get_u32(struct bt_serde_dec *d, uint32_t *out);
BT_API int bt_serde_get_svarint(struct bt_serde_dec *d, int64_t *out);
BT_API int bt_serde_get_u8(struct bt_serde_dec *d, uint8_t *out);
/* bt_serde_get_bool: one byte, 0 or 1; anything else is BT_ECORRUPT. */
BT_API int bt_serde_get_bool(struct bt_serde_dec *d, bool *out);
BT_API int bt_serde_get_fixed32(struct bt_serde_dec *d, uint32_t *out);
BT_API int bt_serde_get_fixed64(struct bt_serde_dec *d, uint64_t *out);
/*
 * bt_serde_get_bytes: a length and that many bytes, returned as a view into
 * the input (valid as long as the input is). BT_ELIMIT if the length is over
 * max_len, BT_ETRUNC if it is over what remains. A zero length gives
 * {ptr at the current position, 0}.
 */
BT_API int bt_serde_get_bytes(struct bt_serde_dec *d, struct bt_buf *out);
/*
 * bt_serde_get_str: like bt_serde_get_bytes, but copies the bytes into a new
 * NUL-terminated string (free with bt_free) and rejects a NUL among them
 * (BT_ECORRUPT). The bytes are not otherwise checked (UTF-8 is the
 * convention, not a rule of the format).
 */
BT_API int bt_serde_get_str(struct bt_serde_dec *d, char **out);
/* bt_serde_get_raw: exactly n bytes copied to out (BT_ETRUNC if fewer). */
BT_API int bt_serde_get_raw(struct bt_serde_dec *d, void *out, size_t n);
/* bt_serde_get_opt: a presence byte, 0 (false) or 1 (true). */
BT_API int bt_serde_get_opt(struct bt_serde_dec *d, bool *present);
/*
 * bt_serde_get_enum: a uvarint tag that must be <= max (BT_ECORRUPT "tag N
 * out of range").
 */
BT_API int bt_serde_get_enum(
    struct bt_serde_dec *d, uint32_t max, uint32_t *out);
/*
 * bt_serde_get_count: a sequence count. BT_ELIMIT if over max_count;
 * BT_ETRUNC if count * min_size exceeds the bytes remaining, where min_size
 * is the fewest bytes one element can take (pass 0 if elements may be
 * empty). This bounds what a caller allocates for the elements by the input
 * it was given.
 */
BT_API int bt_serde_get_count(
    struct bt_serde_dec *d, size_t min_size, size_t *out);

/*
 * bt_serde_dec_enter and bt_serde_dec_leave bracket a nested struct in a
 * hand-written decoder. enter returns BT_ELIMIT (and does not enter) when
 * the nesting would pass max_depth. leave must pair with a successful enter.
 */
BT_API int  bt_serde_dec_enter(struct bt_serde_dec *d);
BT_API void bt_serde_dec_leave(struct bt_serde_dec *d);

/*
 * Schemas. A C struct's encoding is declared once, as a table of field
 * descriptors in field order, built with the BT_SERDE_* macros below:
 *
 *	struct point { uint32_t x; int64_t y; char *label; };
 *	static const struct bt_serde_field point_fields[] = {
 *		BT_SERDE_U32(struct point, x),
 *		BT_SERDE_I64(struct point, y),
 *		BT_SERDE_STR(struct point, label),
 *	};
 *	const struct bt_serde_schema point_schema =
 *	    BT_SERDE_SCHEMA(struct point, point_fields);
 *
 * and bt_serde_encode, bt_serde_decode and bt_serde_free then work on it.
 * A schema may refer to itself (through an optional struct or a sequence),
 * for example a credential whose issuer's credential is optional: declare
 * the schema object before its field table. The macros check each
 * member's size at compile time.
 *
 * C representation of each kind (what the member must be):
 *   U8 uint8_t (one byte)         U32 uint32_t (uvarint)
 *   U64 uint64_t (uvarint)        I64 int64_t (zigzag varint)
 *   BOOL bool (one byte 0/1)      FIXED32 uint32_t, FIXED64 uint64_t (LE)
 *   ENUM a 4-byte enum or uint32_t; a uvarint tag in 0..max
 *   BYTES struct bt_serde_bytes (owned; ptr NULL when len is 0)
 *   STR char * (owned; NULL encodes as "", decodes never NULL)
 *   RAW uint8_t m[N]: N bytes, no length
 *   STRUCT an embedded struct described by another schema
 *   OPT_STRUCT struct x * (owned; NULL = absent)
 *   OPT_BYTES struct bt_serde_bytes * (owned; NULL = absent)
 *   OPT_STR char * (owned; NULL = absent, "" = present and empty)
 *   SEQ a pointer to the elements (owned array) and a size_t count
 *       member; elements are structs (BT_SERDE_SEQ), a primitive kind
 *       (BT_SERDE_SEQ_OF: U8 U32 U64 I64 BOOL FIXED32 FIXED64 BYTES STR),
 *       enums (BT_SERDE_SEQ_ENUM) or raw arrays (BT_SERDE_SEQ_RAW, the
 *       member being uint8_t (*m)[N]).
 */

/* An owned byte string (free through bt_serde_free, or bt_free(ptr)). */
struct bt_serde_bytes {
	uint8_t *ptr;
	size_t   len;
};

enum bt_serde_kind {
	BT_SERDE_KIND_U8 = 1,
	BT_SERDE_KIND_U32,
	BT_SERDE_KIND_U64,
	BT_SERDE_KIND_I64,
	BT_SERDE_KIND_BOOL,
	BT_SERDE_KIND_FIXED32,
	BT_SERDE_KIND_FIXED64,
	BT_SERDE_KIND_ENUM,
	BT_SERDE_KIND_BYTES,
	BT_SERDE_KIND_STR,
	BT_SERDE_KIND_RAW,
	BT_SERDE_KIND_STRUCT,
	BT_SERDE_KIND_OPT_STRUCT,
	BT_SERDE_KIND_OPT_BYTES,
	BT_SERDE_KIND_OPT_STR,
	BT_SERDE_KIND_SEQ,
};

struct bt_serde_schema;

/*
 * One field. Built by the macros below; the members are documented for
 * readers of the implementation, not for hand-filling.
 */
struct bt_serde_field {
	const char                   *name;
	int                           kind; /* enum bt_serde_kind */
	size_t                        off; /* offsetof the member */
	size_t                        size; /* sizeof the member */
	uint32_t                      max; /* ENUM: highest tag */
	const struct bt_serde_schema *sub; /* STRUCT, OPT_STRUCT */
	const struct bt_serde_field  *elem; /* SEQ: one element at off 0 */
	size_t                        count_off; /* SEQ: offsetof the count */
};

struct bt_serde_schema {
	const char                  *name;
	size_t                       size; /* sizeof the C struct */
	const struct bt_serde_field *fields;
	size_t                       nfields;
};

/* Internal: a compile-time check usable inside an initializer (0 if ok). */
#define BT_SERDE__CHECK(cond)                                                 \
	(0 * sizeof(struct { int bt_serde_size_check : (cond) ? 1 : -1; }))
#define BT_SERDE__MSIZE(T, m) sizeof(((T *)0)->m)
#define BT_SERDE__F(T, m, k, sz, ...)                                         \
	{                                                                     \
		.name = #m, .kind = (k), .off = offsetof(T, m),               \
		.size = BT_SERDE__MSIZE(T, m)                                 \
		    + BT_SERDE__CHECK(BT_SERDE__MSIZE(T, m) == (sz)),         \
		__VA_ARGS__                                                   \
	}
/* The C size each primitive kind needs (for BT_SERDE_SEQ_OF). */
#define BT_SERDE__CSIZE_U8      1
#define BT_SERDE__CSIZE_U32     4
#define BT_SERDE__CSIZE_U64     8
#define BT_SERDE__CSIZE_I64     8
#define BT_SERDE__CSIZE_BOOL    sizeof(bool)
#define BT_SERDE__CSIZE_FIXED32 4
#define BT_SERDE__CSIZE_FIXED64 8
#define BT_SERDE__CSIZE_BYTES   sizeof(struct bt_serde_bytes)
#define BT_SERDE__CSIZE_STR     sizeof(char *)

#define BT_SERDE_U8(T, m)  BT_SERDE__F(T, m, BT_SERDE_KIND_U8, 1, )
#define BT_SERDE_U32(T, m) BT_SERDE__F(T, m, BT_SERDE_KIND_U32, 4, )
#define BT_SERDE_U64(T, m) BT_SERDE__F(T, m, BT_SERDE_KIND_U64, 8, )
#define BT_SERDE_I64(T, m) BT_SERDE__F(T, m, BT_SERDE_KIND_I64, 8, )
#define BT_SERDE_BOOL(T, m)                                                   \
	BT_SERDE__F(T, m, BT_SERDE_KIND_BOOL, sizeof(bool), )
#define BT_SERDE_FIXED32(T, m) BT_SERDE__F(T, m, BT_SERDE_KIND_FIXED32, 4, )
#define BT_SERDE_FIXED64(T, m) BT_SERDE__F(T, m, BT_SERDE_KIND_FIXED64, 8, )
/* An enum member with tags 0..mx. */
#define BT_SERDE_ENUM(T, m, mx)                                               \
	BT_SERDE__F(T, m, BT_SERDE_KIND_ENUM, 4, .max = (mx))
#define BT_SERDE_BYTES(T, m)                                                  \
	BT_SERDE__F(T, m, BT_SERDE_KIND_BYTES, sizeof(struct bt_serde_bytes), )
#define BT_SERDE_STR(T, m)                                                    \
	BT_SERDE__F(T, m, BT_SERDE_KIND_STR, sizeof(char *), )
/* A fixed-size byte array member (uint8_t m[N]), encoded without length. */
#define BT_SERDE_RAW(T, m)                                                    \
	BT_SERDE__F(T, m, BT_SERDE_KIND_RAW, BT_SERDE__MSIZE(T, m), )
/* An embedded struct member described by *schema. */
#define BT_SERDE_STRUCT(T, m, schema)                                         \
	BT_SERDE__F(T, m, BT_SERDE_KIND_STRUCT, BT_SERDE__MSIZE(T, m),        \
	    .sub = (schema))
/* A pointer member to a struct described by *schema; NULL = absent. */
#define BT_SERDE_OPT_STRUCT(T, m, schema)                                     \
	BT_SERDE__F(                                                          \
	    T, m, BT_SERDE_KIND_OPT_STRUCT, sizeof(void *), .sub = (schema))
#define BT_SERDE_OPT_BYTES(T, m)                                              \
	BT_SERDE__F(T, m, BT_SERDE_KIND_OPT_BYTES, sizeof(void *), )
#define BT_SERDE_OPT_STR(T, m)                                                \
	BT_SERDE__F(T, m, BT_SERDE_KIND_OPT_STR, sizeof(char *), )

#define BT_SERDE__SEQ(T, m, cnt, k, esz, mx, sb)                              \
	BT_SERDE__F(T, m, BT_SERDE_KIND_SEQ, sizeof(void *),                  \
	    .count_off = offsetof(T, cnt)                                     \
	        + BT_SERDE__CHECK(BT_SERDE__MSIZE(T, cnt) == sizeof(size_t)), \
	    .elem = &(const struct bt_serde_field) { .name = #m,              \
	        .kind = (k),                                                  \
	        .off = 0,                                                     \
	        .size = sizeof(*((T *)0)->m)                                  \
	            + BT_SERDE__CHECK(sizeof(*((T *)0)->m) == (esz)),         \
	        .max = (mx),                                                  \
	        .sub = (sb) })
/* Sequence of structs: member struct x *m, count member size_t cnt. */
#define BT_SERDE_SEQ(T, m, cnt, schema)                                       \
	BT_SERDE__SEQ(T, m, cnt, BT_SERDE_KIND_STRUCT, sizeof(*((T *)0)->m),  \
	    0, (schema))
/* Sequence of a primitive kind K (U8 U32 U64 I64 BOOL FIXED32 FIXED64
 * BYTES STR): BT_SERDE_SEQ_OF(struct x, vals, nvals, U64). */
#define BT_SERDE_SEQ_OF(T, m, cnt, K)                                         \
	BT_SERDE__SEQ(                                                        \
	    T, m, cnt, BT_SERDE_KIND_##K, BT_SERDE__CSIZE_##K, 0, NULL)
#define BT_SERDE_SEQ_ENUM(T, m, cnt, mx)                                      \
	BT_SERDE__SEQ(T, m, cnt, BT_SERDE_KIND_ENUM, 4, (mx), NULL)
/* Sequence of N-byte arrays: member uint8_t (*m)[N]. */
#define BT_SERDE_SEQ_RAW(T, m, cnt)                                           \
	BT_SERDE__SEQ(                                                        \
	    T, m, cnt, BT_SERDE_KIND_RAW, sizeof(*((T *)0)->m), 0, NULL)

#define BT_SERDE_SCHEMA(T, field_array)                                       \
	{                                                                     \
		.name = #T, .size = sizeof(T), .fields = (field_array),       \
		.nfields = sizeof(field_array) / sizeof((field_array)[0])     \
	}

/*
 * bt_serde_encode appends the encoding of *val (a struct described by s) to
 * out. Returns 0; BT_ELIMIT if out would grow past its max; -ENOMEM;
 * -EINVAL if val cannot be encoded (an enum over its max, a byte string or
 * sequence with a count but a NULL pointer); BT_ELIMIT if structs nest
 * deeper than BT_SERDE_DEPTH_CAP (a cycle). On failure out is left as it
 * was. Encoding does not apply decode limits: a value may encode to bytes
 * that a decoder with tight limits refuses.
 */
BT_API int bt_serde_encode(
    struct bt_dbuf *out, const struct bt_serde_schema *s, const void *val);

/*
 * bt_serde_decode decodes exactly len bytes at ptr (borrowed) as one struct
 * described by s into val_out (caller storage of s->size bytes, which is
 * overwritten). Returns 0, with val_out owning what it points to (release
 * with bt_serde_free); or one of the errors listed at struct bt_serde_dec
 * (trailing bytes are BT_ECORRUPT), with diag filled, nothing leaked and
 * val_out all zero. lim NULL means bt_serde_limits_default.
 *
 * Decoding is canonical: if it succeeds, encoding the result gives back
 * exactly the len input bytes.
 */
BT_API int bt_serde_decode(const struct bt_serde_schema *s, void *val_out,
    const void *ptr, size_t len, const struct bt_serde_limits *lim,
    struct bt_diag *diag);

/*
 * bt_serde_decode_cursor decodes one struct described by s at d's position
 * (for a schema value embedded in a hand-written format), counting one level
 * of depth. Same results as bt_serde_decode, but trailing bytes are left
 * for the caller and d advances only on success.
 */
BT_API int bt_serde_decode_cursor(
    struct bt_serde_dec *d, const struct bt_serde_schema *s, void *val_out);

/*
 * bt_serde_free releases everything *val owns (strings, byte strings,
 * optional structs, sequences, recursively) and zeroes *val; it does not
 * free val itself. Safe on NULL and on zeroed memory.
 */
BT_API void bt_serde_free(const struct bt_serde_schema *s, void *val);

#endif /* BT_SERDE_H */
