/*
 * blk/nbd/nbd_proto.h: NBD wire constants (fixed newstyle, simple replies)
 * and the parsers of untrusted client bytes (internal to blk/nbd).
 * All numbers on the wire are big-endian.
 */
#ifndef BT_BLK_NBD_PROTO_H
#define BT_BLK_NBD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "bt/core.h"

#define NBD_MAGIC              0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBD_OPTS_MAGIC         0x49484156454f5054ull /* "IHAVEOPT" */
#define NBD_REP_MAGIC          0x0003e889045565a9ull
#define NBD_REQUEST_MAGIC      0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u

/* Handshake flags (server) and client flags. */
#define NBD_FLAG_FIXED_NEWSTYLE   0x1u
#define NBD_FLAG_NO_ZEROES        0x2u
#define NBD_FLAG_C_FIXED_NEWSTYLE 0x1u
#define NBD_FLAG_C_NO_ZEROES      0x2u

/* Options. */
#define NBD_OPT_EXPORT_NAME      1u
#define NBD_OPT_ABORT            2u
#define NBD_OPT_LIST             3u
#define NBD_OPT_STARTTLS         5u
#define NBD_OPT_INFO             6u
#define NBD_OPT_GO               7u
#define NBD_OPT_STRUCTURED_REPLY 8u

/* Option replies. */
#define NBD_REP_ACK         1u
#define NBD_REP_SERVER      2u
#define NBD_REP_INFO        3u
#define NBD_REP_ERR_UNSUP   0x80000001u
#define NBD_REP_ERR_POLICY  0x80000002u
#define NBD_REP_ERR_INVALID 0x80000003u
#define NBD_REP_ERR_UNKNOWN 0x80000006u

/* Information types. */
#define NBD_INFO_EXPORT      0u
#define NBD_INFO_NAME        1u
#define NBD_INFO_DESCRIPTION 2u
#define NBD_INFO_BLOCK_SIZE  3u

/* Transmission flags. */
#define NBD_FLAG_HAS_FLAGS         (1u << 0)
#define NBD_FLAG_READ_ONLY         (1u << 1)
#define NBD_FLAG_SEND_FLUSH        (1u << 2)
#define NBD_FLAG_SEND_FUA          (1u << 3)
#define NBD_FLAG_SEND_TRIM         (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_CAN_MULTI_CONN    (1u << 8)

/* Commands and command flags. */
#define NBD_CMD_READ           0u
#define NBD_CMD_WRITE          1u
#define NBD_CMD_DISC           2u
#define NBD_CMD_FLUSH          3u
#define NBD_CMD_TRIM           4u
#define NBD_CMD_WRITE_ZEROES   6u
#define NBD_CMD_FLAG_FUA       (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE   (1u << 1)
#define NBD_CMD_FLAG_DF        (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE   (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1u << 4)

/* Errors a reply may carry. */
#define NBD_EPERM     1u
#define NBD_EIO       5u
#define NBD_ENOMEM    12u
#define NBD_EINVAL    22u
#define NBD_ENOSPC    28u
#define NBD_EOVERFLOW 75u
#define NBD_ENOTSUP   95u

#define NBD_REQ_HDR_LEN  28u
#define NBD_OPT_HDR_LEN  16u
#define NBD_OPT_DATA_MAX 8192u /* longer option data drops the client */
#define NBD_NAME_MAX     4096u
/* A WRITE longer than this is not even drained: the connection drops. */
#define NBD_WRITE_DRAIN_MAX (64u * 1024u * 1024u)

struct nbd_req {
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t off;
	uint32_t len;
};

/*
 * bt__nbd_req_parse decodes a 28-byte request header. Returns 0, or
 * -EPROTO for a wrong magic (the connection must drop).
 */
int bt__nbd_req_parse(
    const uint8_t *hdr, struct nbd_req *out, struct bt_diag *diag);

/*
 * bt__nbd_req_check validates a parsed request against a device of size
 * bytes: returns 0, or the NBD error to reply (EINVAL for an unknown
 * command or flag or a read past the end or too long; ENOSPC for a write,
 * trim or zero past the end; EOVERFLOW for a write above the maximum).
 */
uint32_t bt__nbd_req_check(const struct nbd_req *r, uint64_t size);

/* The payload of NBD_OPT_INFO / NBD_OPT_GO: views into the option data. */
struct nbd_go {
	const uint8_t *name;
	uint32_t       namelen;
	uint16_t       ninfo;
	const uint8_t *infos; /* ninfo big-endian u16 */
};

/*
 * bt__nbd_go_parse decodes INFO/GO option data of len bytes. Returns 0, or
 * -EINVAL when the lengths do not add up exactly (diag says where).
 */
int bt__nbd_go_parse(
    const uint8_t *p, size_t len, struct nbd_go *out, struct bt_diag *diag);

#endif /* BT_BLK_NBD_PROTO_H */
