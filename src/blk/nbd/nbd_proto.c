/*
 * blk/nbd/nbd_proto.c: parsers of client bytes for the NBD adapter. They
 * never trust a length: every field is checked against what was received.
 */
#include <errno.h>

#include "bt/blk.h"
#include "nbd_proto.h"

int
bt__nbd_req_parse(
    const uint8_t *hdr, struct nbd_req *out, struct bt_diag *diag)
{
	if (bt_get_be32(hdr) != NBD_REQUEST_MAGIC) {
		bt_diag_set(diag, 0, "request magic 0x%08x is not 0x%08x",
		    bt_get_be32(hdr), NBD_REQUEST_MAGIC);
		return -EPROTO;
	}
	out->flags = bt_get_be16(hdr + 4);
	out->type = bt_get_be16(hdr + 6);
	out->cookie = bt_get_be64(hdr + 8);
	out->off = bt_get_be64(hdr + 16);
	out->len = bt_get_be32(hdr + 24);
	return 0;
}

uint32_t
bt__nbd_req_check(const struct nbd_req *r, uint64_t size)
{
	const uint16_t known = NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE
	    | NBD_CMD_FLAG_DF | NBD_CMD_FLAG_REQ_ONE | NBD_CMD_FLAG_FAST_ZERO;
	bool in_range = r->off <= size && r->len <= size - r->off;

	if ((r->flags & ~known) != 0)
		return NBD_EINVAL;
	switch (r->type) {
	case NBD_CMD_READ:
		if (r->len > BT_BLK_REQ_MAX || !in_range)
			return NBD_EINVAL;
		return 0;
	case NBD_CMD_WRITE:
		if (r->len > BT_BLK_REQ_MAX)
			return NBD_EOVERFLOW;
		return in_range ? 0 : NBD_ENOSPC;
	case NBD_CMD_TRIM:
	case NBD_CMD_WRITE_ZEROES:
		// We cannot promise a fast zero is slow-free; it is: table
		// only.
		return in_range ? 0 : NBD_ENOSPC;
	case NBD_CMD_FLUSH:
	case NBD_CMD_DISC:
		return 0;
	default:
		return NBD_EINVAL;
	}
}

int
bt__nbd_go_parse(
    const uint8_t *p, size_t len, struct nbd_go *out, struct bt_diag *diag)
{
	uint32_t namelen;
	uint16_t ninfo;

	if (len < 6) {
		bt_diag_set(diag, 0,
		    "option data of %zu bytes is shorter "
		    "than 6",
		    len);
		return -EINVAL;
	}
	namelen = bt_get_be32(p);
	if (namelen > NBD_NAME_MAX || namelen > len - 6) {
		bt_diag_set(diag, 0,
		    "export name length %u does not fit in "
		    "%zu bytes",
		    namelen, len);
		return -EINVAL;
	}
	ninfo = bt_get_be16(p + 4 + namelen);
	if ((size_t)ninfo * 2 != len - 6 - namelen) {
		bt_diag_set(diag, 4 + namelen,
		    "%u information requests do "
		    "not fill the remaining %zu bytes",
		    ninfo, len - 6 - namelen);
		return -EINVAL;
	}
	out->name = p + 4;
	out->namelen = namelen;
	out->ninfo = ninfo;
	out->infos = p + 6 + namelen;
	return 0;
}
