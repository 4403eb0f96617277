/*
 * net/frame.c: the frame and hello codecs (docs/net.md, "Frames").
 *
 * A frame is uvarint(len) then len bytes of envelope:
 *   kind u32, stream u64, from str, to str, proto u32, payload bytes,
 *   [hops u32, only when not 0]
 * all in the canonical serde format. This file is pure (no I/O) so the
 * fuzz target reaches every parser of bytes that come off the network.
 */
#include <errno.h>
#include <string.h>

#include "bt/net.h"
#include "bt/serde.h"

/* uv_len is the size of v as a uvarint. */
static size_t
uv_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *
uv_put(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static uint8_t *
bytes_put(uint8_t *p, const struct bt_buf *v)
{
	p = uv_put(p, v->len);
	if (v->len > 0)
		memcpy(p, v->ptr, v->len);
	return p + v->len;
}

/*
 * The envelope's size is known before it is written (every field's
 * length is), so the frame is written in place in one pass: one reserve,
 * no second copy of the payload.
 */
int
bt_net_frame_encode(struct bt_dbuf *b, const struct bt_net_frame *f)
{
	size_t body, total;
	uint8_t *p;
	int rc;

	body = uv_len(f->kind) + uv_len(f->stream) + uv_len(f->from.len) +
	    f->from.len + uv_len(f->to.len) + f->to.len + uv_len(f->proto) +
	    uv_len(f->payload.len) + f->payload.len +
	    (f->hops != 0 ? uv_len(f->hops) : 0);
	if (body < f->payload.len) /* wrapped */
		return BT_ELIMIT;
	total = uv_len(body) + body;
	rc = bt_dbuf_reserve(b, total);
	if (rc != 0)
		return rc;
	p = b->ptr + b->len;
	p = uv_put(p, body);
	p = uv_put(p, f->kind);
	p = uv_put(p, f->stream);
	p = bytes_put(p, &f->from);
	p = bytes_put(p, &f->to);
	p = uv_put(p, f->proto);
	p = bytes_put(p, &f->payload);
	if (f->hops != 0)
		p = uv_put(p, f->hops);
	b->len += total;
	return 0;
}

int
bt_net_frame_split(const void *p, size_t len, size_t max, size_t *hdr,
    size_t *body, struct bt_diag *diag)
{
	const uint8_t *s = p;
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len && i < BT_SERDE_VARINT_MAX; i++) {
		v |= (uint64_t)(s[i] & 0x7f) << (7 * i);
		if ((s[i] & 0x80) == 0)
			break;
		if (i == BT_SERDE_VARINT_MAX - 1) {
			bt_diag_set(diag, 0, "frame length: varint too long");
			return BT_ECORRUPT;
		}
	}
	if (i == len)
		return -EAGAIN;
	if (i > 0 && s[i] == 0) {
		bt_diag_set(diag, 0, "frame length: non-minimal varint");
		return BT_ENONCANON;
	}
	if (i == BT_SERDE_VARINT_MAX - 1 && s[i] > 1) {
		bt_diag_set(diag, 0, "frame length: beyond 64 bits");
		return BT_ECORRUPT;
	}
	if (v > max) {
		bt_diag_set(diag, 0, "frame of %llu bytes is over the limit "
		    "of %zu", (unsigned long long)v, max);
		return BT_ELIMIT;
	}
	if (len - (i + 1) < v)
		return -EAGAIN;
	*hdr = i + 1;
	*body = (size_t)v;
	return 0;
}

int
bt_net_frame_decode(struct bt_net_frame *out, const void *p, size_t len,
    struct bt_diag *diag)
{
	struct bt_serde_limits lim = BT_SERDE_LIMITS_DEFAULT;
	struct bt_serde_dec d;
	struct bt_net_frame f;
	int rc;

	lim.max_len = len;
	bt_serde_dec_init(&d, p, len, &lim, diag);
	d.scope = "frame";
	d.what = "kind";
	if ((rc = bt_serde_get_u32(&d, &f.kind)) != 0)
		return rc;
	d.what = "stream";
	if ((rc = bt_serde_get_uvarint(&d, &f.stream)) != 0)
		return rc;
	d.what = "from";
	if ((rc = bt_serde_get_bytes(&d, &f.from)) != 0)
		return rc;
	d.what = "to";
	if ((rc = bt_serde_get_bytes(&d, &f.to)) != 0)
		return rc;
	d.what = "proto";
	if ((rc = bt_serde_get_u32(&d, &f.proto)) != 0)
		return rc;
	d.what = "payload";
	if ((rc = bt_serde_get_bytes(&d, &f.payload)) != 0)
		return rc;
	/* hops is present only when not 0, so the envelope stays canonical. */
	f.hops = 0;
	if (d.off < d.len) {
		d.what = "hops";
		if ((rc = bt_serde_get_u32(&d, &f.hops)) != 0)
			return rc;
		if (f.hops == 0) {
			bt_diag_set(diag, (int64_t)d.off - 1, "frame.hops: 0 "
			    "is written by leaving the field out");
			return BT_ENONCANON;
		}
	}
	if ((rc = bt_serde_dec_end(&d)) != 0)
		return rc;
	if (f.kind == 0) {
		bt_diag_set(diag, 0, "frame.kind: 0 is not a kind");
		return BT_ECORRUPT;
	}
	if (memchr(f.from.ptr, 0, f.from.len) != NULL ||
	    memchr(f.to.ptr, 0, f.to.len) != NULL) {
		bt_diag_set(diag, -1, "frame: NUL inside a path");
		return BT_ECORRUPT;
	}
	*out = f;
	return 0;
}

int
bt_net_hello_decode(const void *p, size_t len, bool *has_chain,
    struct bt_buf *chain_out, struct bt_diag *diag)
{
	struct bt_serde_dec d;
	struct bt_buf chain = { p, 0 };
	uint64_t version;
	bool present;
	int rc;

	bt_serde_dec_init(&d, p, len, NULL, diag);
	d.scope = "hello";
	d.what = "version";
	if ((rc = bt_serde_get_uvarint(&d, &version)) != 0)
		return rc;
	if (version != 1) {
		bt_diag_set(diag, 0, "hello.version: %llu is not 1",
		    (unsigned long long)version);
		return BT_EUNSUPPORTED;
	}
	d.what = "chain";
	if ((rc = bt_serde_get_opt(&d, &present)) != 0)
		return rc;
	if (present && (rc = bt_serde_get_bytes(&d, &chain)) != 0)
		return rc;
	if ((rc = bt_serde_dec_end(&d)) != 0)
		return rc;
	*has_chain = present;
	*chain_out = chain;
	return 0;
}
