/*
 * blk/nbd/nbd_test.c: the NBD request and option parsers, and one whole
 * session (handshake, WRITE, READ, FLUSH, TRIM, bad requests, DISC) over a
 * socketpair against a real device.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bt/blk.h"
#include "nbd_proto.h"
#include "testing.h"

static void
req_hdr(uint8_t *h, uint32_t magic, uint16_t flags, uint16_t type,
    uint64_t cookie, uint64_t off, uint32_t len)
{
	bt_put_be32(h, magic);
	bt_put_be16(h + 4, flags);
	bt_put_be16(h + 6, type);
	bt_put_be64(h + 8, cookie);
	bt_put_be64(h + 16, off);
	bt_put_be32(h + 24, len);
}

static void
test_request_parse_rejects_bad_magic(void **state)
{
	uint8_t        h[NBD_REQ_HDR_LEN];
	struct nbd_req r;
	struct bt_diag d;

	(void)state;
	req_hdr(h, NBD_REQUEST_MAGIC, 1, NBD_CMD_WRITE, 42, 8192, 4096);
	assert_int_equal(bt__nbd_req_parse(h, &r, NULL), 0);
	assert_int_equal(r.type, NBD_CMD_WRITE);
	assert_int_equal(r.flags, 1);
	assert_int_equal(r.cookie, 42);
	assert_int_equal(r.off, 8192);
	assert_int_equal(r.len, 4096);
	req_hdr(h, 0x12345678, 0, 0, 0, 0, 0);
	bt_diag_clear(&d);
	assert_int_equal(bt__nbd_req_parse(h, &r, &d), -EPROTO);
	assert_non_null(strstr(d.msg, "magic"));
}

static void
test_request_check_bounds_and_commands(void **state)
{
	struct nbd_req r = { 0 };
	uint64_t       size = 1 << 20;

	(void)state;
	r.type = NBD_CMD_READ;
	r.off = size - 4096;
	r.len = 4096;
	assert_int_equal(bt__nbd_req_check(&r, size), 0);
	r.len = 8192;
	assert_int_equal(bt__nbd_req_check(&r, size), NBD_EINVAL);
	r.off = UINT64_MAX - 10;
	r.len = 100;
	assert_int_equal(bt__nbd_req_check(&r, size), NBD_EINVAL);
	r.type = NBD_CMD_WRITE;
	assert_int_equal(bt__nbd_req_check(&r, size), NBD_ENOSPC);
	r.off = 0;
	r.len = BT_BLK_REQ_MAX + 1;
	assert_int_equal(bt__nbd_req_check(&r, size), NBD_EOVERFLOW);
	r.type = NBD_CMD_TRIM;
	r.len = (uint32_t)size + 1;
	assert_int_equal(bt__nbd_req_check(&r, size), NBD_ENOSPC);
	r.type = 77;
	r.len = 0;
	assert_int_equal(bt__nbd_req_check(&r, size), NBD_EINVAL);
	r.type = NBD_CMD_FLUSH;
	r.flags = 0x100;
	assert_int_equal(bt__nbd_req_check(&r, size), NBD_EINVAL);
}

static void
test_go_parse_requires_exact_lengths(void **state)
{
	uint8_t       b[64];
	struct nbd_go g;

	(void)state;
	bt_put_be32(b, 3);
	memcpy(b + 4, "blk", 3);
	bt_put_be16(b + 7, 2);
	bt_put_be16(b + 9, NBD_INFO_BLOCK_SIZE);
	bt_put_be16(b + 11, NBD_INFO_NAME);
	assert_int_equal(bt__nbd_go_parse(b, 13, &g, NULL), 0);
	assert_int_equal(g.namelen, 3);
	assert_memory_equal(g.name, "blk", 3);
	assert_int_equal(g.ninfo, 2);
	assert_int_equal(bt__nbd_go_parse(b, 12, &g, NULL), -EINVAL);
	assert_int_equal(bt__nbd_go_parse(b, 14, &g, NULL), -EINVAL);
	assert_int_equal(bt__nbd_go_parse(b, 5, &g, NULL), -EINVAL);
	bt_put_be32(b, 0xFFFFFFF0u); /* a name longer than the data */
	assert_int_equal(bt__nbd_go_parse(b, 13, &g, NULL), -EINVAL);
}

struct srv {
	bt_blk_dev *dev;
	int         fd;
	int         rc;
};

static void *
serve_main(void *arg)
{
	struct srv *s = arg;

	s->rc = bt_blk_nbd_session(s->dev, s->fd, s->fd, "blk");
	return NULL;
}

static void
rd(int fd, void *b, size_t n)
{
	uint8_t *p = b;

	while (n > 0) {
		ssize_t r = read(fd, p, n);

		assert_true(r > 0);
		p += r;
		n -= (size_t)r;
	}
}

static uint32_t
request(int fd, uint16_t type, uint16_t flags, uint64_t off, uint32_t len,
    const void *data, void *out)
{
	static uint64_t cookie;
	uint8_t         h[NBD_REQ_HDR_LEN], rep[16];

	req_hdr(h, NBD_REQUEST_MAGIC, flags, type, ++cookie, off, len);
	assert_int_equal(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
	if (type == NBD_CMD_WRITE && data != NULL)
		assert_int_equal(write(fd, data, len), (ssize_t)len);
	rd(fd, rep, sizeof(rep));
	assert_int_equal(bt_get_be32(rep), NBD_SIMPLE_REPLY_MAGIC);
	assert_int_equal(bt_get_be64(rep + 8), cookie);
	if (type == NBD_CMD_READ && bt_get_be32(rep + 4) == 0)
		rd(fd, out, len);
	return bt_get_be32(rep + 4);
}

static void
test_session_handshake_and_requests(void **state)
{
	char      *dir = bt_test_tmpdir();
	char      *data = bt_test_path(dir, "d.img");
	uint8_t    key[32] = { 1, 2, 3 };
	struct srv s = { 0 };
	pthread_t  t;
	int        sv[2];
	uint8_t    b[64], w[8192], r[8192];
	uint32_t   rtype, len;

	(void)state;
	assert_int_equal(
	    bt_blk_dev_create(data, 1 << 20, key, BT_BLK_ROLE_PRIMARY, NULL),
	    0);
	assert_int_equal(bt_blk_dev_open(&s.dev, data, key, NULL), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	s.fd = sv[1];
	assert_int_equal(pthread_create(&t, NULL, serve_main, &s), 0);
	rd(sv[0], b, 18);
	assert_int_equal(bt_get_be64(b), NBD_MAGIC);
	assert_int_equal(bt_get_be64(b + 8), NBD_OPTS_MAGIC);
	bt_put_be32(b, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	assert_int_equal(write(sv[0], b, 4), 4);
	// An unknown option: NBD_REP_ERR_UNSUP.
	bt_put_be64(b, NBD_OPTS_MAGIC);
	bt_put_be32(b + 8, 1234);
	bt_put_be32(b + 12, 0);
	assert_int_equal(write(sv[0], b, 16), 16);
	rd(sv[0], b, 20);
	assert_int_equal(bt_get_be32(b + 12), NBD_REP_ERR_UNSUP);
	len = bt_get_be32(b + 16);
	rd(sv[0], b, len);
	// GO for "blk", asking for the block size.
	bt_put_be64(b, NBD_OPTS_MAGIC);
	bt_put_be32(b + 8, NBD_OPT_GO);
	bt_put_be32(b + 12, 4 + 3 + 2 + 2);
	bt_put_be32(b + 16, 3);
	memcpy(b + 20, "blk", 3);
	bt_put_be16(b + 23, 1);
	bt_put_be16(b + 25, NBD_INFO_BLOCK_SIZE);
	assert_int_equal(write(sv[0], b, 27), 27);
	do {
		rd(sv[0], b, 20);
		rtype = bt_get_be32(b + 12);
		len = bt_get_be32(b + 16);
		assert_true(len <= sizeof(b));
		uint8_t info[64];

		rd(sv[0], info, len);
		if (rtype == NBD_REP_INFO
		    && bt_get_be16(info) == NBD_INFO_EXPORT)
			assert_int_equal(bt_get_be64(info + 2), 1 << 20);
		if (rtype == NBD_REP_INFO
		    && bt_get_be16(info) == NBD_INFO_BLOCK_SIZE)
			assert_int_equal(bt_get_be32(info + 6), 4096);
	} while (rtype == NBD_REP_INFO);
	assert_int_equal(rtype, NBD_REP_ACK);
	for (unsigned i = 0; i < sizeof(w); i++)
		w[i] = (uint8_t)(i * 13);
	assert_int_equal(request(sv[0], NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 4096,
	                     sizeof(w), w, NULL),
	    0);
	assert_int_equal(
	    request(sv[0], NBD_CMD_READ, 0, 4096, sizeof(r), NULL, r), 0);
	assert_memory_equal(w, r, sizeof(w));
	assert_int_equal(
	    request(sv[0], NBD_CMD_FLUSH, 0, 0, 0, NULL, NULL), 0);
	assert_int_equal(
	    request(sv[0], NBD_CMD_TRIM, 0, 4096, 4096, NULL, NULL), 0);
	assert_int_equal(
	    request(sv[0], NBD_CMD_READ, 0, 4096, 4096, NULL, r), 0);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(r[i], 0);
	assert_int_equal(
	    request(sv[0], NBD_CMD_READ, 0, 1 << 20, 1, NULL, r), NBD_EINVAL);
	assert_int_equal(request(sv[0], 99, 0, 0, 0, NULL, NULL), NBD_EINVAL);
	// DISC ends the session cleanly.
	req_hdr(b, NBD_REQUEST_MAGIC, 0, NBD_CMD_DISC, 0, 0, 0);
	assert_int_equal(write(sv[0], b, NBD_REQ_HDR_LEN), NBD_REQ_HDR_LEN);
	pthread_join(t, NULL);
	assert_int_equal(s.rc, 0);
	close(sv[0]);
	close(sv[1]);
	bt_blk_dev_close(s.dev);
	bt_free(data);
	bt_test_tmpdir_remove(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_parse_rejects_bad_magic),
		cmocka_unit_test(test_request_check_bounds_and_commands),
		cmocka_unit_test(test_go_parse_requires_exact_lengths),
		cmocka_unit_test(test_session_handshake_and_requests),
	};

	return cmocka_run_group_tests_name("blk.nbd", tests, NULL, NULL);
}
