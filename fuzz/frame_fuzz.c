/*
 * fuzz/frame_fuzz.c: the parsers of net/ that read bytes off the wire,
 * behind TLS: frame splitting (length prefix and limit), the envelope, and
 * the hello payload. Checks that nothing crashes, that a decoded envelope
 * re-encodes to exactly its bytes (the format is canonical), and that views
 * stay inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bt/net.h"

static void
check_view(struct bt_buf v, const uint8_t *p, size_t len)
{
	if (v.len > 0 && (v.ptr < p || v.ptr + v.len > p + len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, hdr, body;
	struct bt_net_frame f;
	struct bt_diag diag;
	struct bt_dbuf b;

	/* A stream of frames, as a connection's receive buffer holds them. */
	while (off < size) {
		if (bt_net_frame_split(data + off, size - off, 1 << 16, &hdr,
			&body, &diag) != 0)
			break;
		if (bt_net_frame_decode(&f, data + off + hdr, body, &diag) ==
		    0) {
			check_view(f.from, data, size);
			check_view(f.to, data, size);
			check_view(f.payload, data, size);
			bt_dbuf_init(&b, 1 << 20);
			if (bt_net_frame_encode(&b, &f) != 0 ||
			    b.len != hdr + body ||
			    memcmp(b.ptr, data + off, b.len) != 0)
				abort(); /* not canonical */
			bt_dbuf_fini(&b);
			if (f.kind == BT_NET_KIND_HELLO) {
				struct bt_buf chain;
				bool has;

				if (bt_net_hello_decode(f.payload.ptr,
					f.payload.len, &has, &chain,
					&diag) == 0)
					check_view(chain, data, size);
			}
		}
		off += hdr + body;
	}
	/* And the whole input as one hello payload. */
	{
		struct bt_buf chain;
		bool has;

		if (bt_net_hello_decode(data, size, &has, &chain, &diag) == 0)
			check_view(chain, data, size);
	}
	return 0;
}
