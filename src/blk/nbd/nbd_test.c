/*
 * blk/nbd/nbd_test.c: the NBD request and option parsers, one whole
 * session (handshake, WRITE, READ, FLUSH, TRIM, bad requests, DISC) over a
 * socketpair against a real device, and pipelined writes to a server with
 * several workers (batches sealed from the read-ahead buffer while other
 * workers read on).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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

/* go_blk: the client side of the handshake, up to transmission. */
static void
go_blk(int fd)
{
	uint8_t  b[64];
	uint32_t rtype, len;

	rd(fd, b, 18);
	assert_int_equal(bt_get_be64(b), NBD_MAGIC);
	bt_put_be32(b, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	assert_int_equal(write(fd, b, 4), 4);
	bt_put_be64(b, NBD_OPTS_MAGIC);
	bt_put_be32(b + 8, NBD_OPT_GO);
	bt_put_be32(b + 12, 4 + 3 + 2);
	bt_put_be32(b + 16, 3);
	memcpy(b + 20, "blk", 3);
	bt_put_be16(b + 23, 0);
	assert_int_equal(write(fd, b, 25), 25);
	do {
		rd(fd, b, 20);
		rtype = bt_get_be32(b + 12);
		len = bt_get_be32(b + 16);
		assert_true(len <= sizeof(b));
		rd(fd, b, len);
	} while (rtype == NBD_REP_INFO);
	assert_int_equal(rtype, NBD_REP_ACK);
}

#define PIPE_REQS   160u
#define PIPE_ROUNDS 4u
#define PIPE_SECS   1024u

/* The bytes of sector s as written in round r (odd requests are 2 KiB at
 * an unaligned offset: read-modify-write, not grouped). */
static uint8_t
pipe_byte(unsigned r, unsigned s, unsigned i)
{
	return (uint8_t)(r * 131 + s * 7 + i * 3 + (i >> 9));
}

struct pipe_writer {
	int      fd;
	unsigned round;
};

static unsigned
pipe_sector(unsigned r, unsigned k)
{
	return (k * 37 + r * 5) % PIPE_SECS;
}

static void *
pipe_write_main(void *arg)
{
	struct pipe_writer *pw = arg;
	uint8_t            *buf = bt_alloc(PIPE_REQS * (NBD_REQ_HDR_LEN + 4096));
	size_t              n = 0;

	assert_non_null(buf);
	// One round: every request written back to back, in one write().
	for (unsigned k = 0; k < PIPE_REQS; k++) {
		unsigned s = pipe_sector(pw->round, k);
		uint32_t len = (k % 7 == 3) ? 2048 : 4096;
		uint64_t off = (uint64_t)s * 4096 + (len == 2048 ? 1024 : 0);

		// Every 16th with FUA: it ends its batch, which is then not
		// all fast and is run after handing the turn over (with the
		// read-ahead buffer its other writes are sealed from).
		req_hdr(buf + n, NBD_REQUEST_MAGIC,
		    k % 16 == 15 ? NBD_CMD_FLAG_FUA : 0, NBD_CMD_WRITE,
		    (uint64_t)pw->round << 32 | k, off, len);
		n += NBD_REQ_HDR_LEN;
		for (unsigned i = 0; i < len; i++)
			buf[n + i] = pipe_byte(pw->round, s,
			    i + (len == 2048 ? 1024 : 0));
		n += len;
	}
	for (size_t off = 0; off < n;) {
		ssize_t w = write(pw->fd, buf + off, n - off);

		assert_true(w > 0);
		off += (size_t)w;
	}
	bt_free(buf);
	return NULL;
}

static void
test_pipelined_writes_with_workers_land_whole(void **state)
{
	char                     *dir = bt_test_tmpdir();
	char                     *data = bt_test_path(dir, "d.img");
	char                     *sock = bt_test_path(dir, "s.sock");
	char                      addr[300];
	uint8_t                   key[32] = { 9 };
	uint8_t                   r[4096], want[4096];
	int                       last[PIPE_SECS], lo[PIPE_SECS];
	struct bt_blk_nbd_config  cfg = { .version = 1, .workers = 4 };
	struct sockaddr_un        sa = { .sun_family = AF_UNIX };
	bt_blk_dev               *dev;
	bt_blk_nbd               *srv;
	int                       fd;

	(void)state;
	snprintf(addr, sizeof(addr), "unix:%s", sock);
	cfg.listen = addr;
	assert_int_equal(bt_blk_dev_create(data, PIPE_SECS * 4096, key,
	                     BT_BLK_ROLE_PRIMARY, NULL),
	    0);
	assert_int_equal(bt_blk_dev_open(&dev, data, key, NULL), 0);
	assert_int_equal(bt_blk_nbd_start(&srv, dev, &cfg, NULL), 0);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	go_blk(fd);
	for (unsigned s = 0; s < PIPE_SECS; s++)
		last[s] = lo[s] = -1;
	for (unsigned round = 0; round < PIPE_ROUNDS; round++) {
		struct pipe_writer pw = { fd, round };
		bool               seen[PIPE_REQS] = { false };
		pthread_t          t;

		assert_int_equal(
		    pthread_create(&t, NULL, pipe_write_main, &pw), 0);
		// Replies come in any order; each request once, each fine.
		for (unsigned k = 0; k < PIPE_REQS; k++) {
			uint8_t  rep[16];
			uint64_t cookie;

			rd(fd, rep, sizeof(rep));
			assert_int_equal(bt_get_be32(rep), NBD_SIMPLE_REPLY_MAGIC);
			assert_int_equal(bt_get_be32(rep + 4), 0);
			cookie = bt_get_be64(rep + 8);
			assert_int_equal(cookie >> 32, round);
			assert_true((cookie & 0xffffffffu) < PIPE_REQS);
			assert_false(seen[cookie & 0xffffffffu]);
			seen[cookie & 0xffffffffu] = true;
		}
		pthread_join(t, NULL);
		for (unsigned k = 0; k < PIPE_REQS; k++) {
			unsigned s = pipe_sector(round, k);

			if (k % 7 == 3) {
				lo[s] = last[s]; /* the rest of it stays */
				last[s] = (int)(round | 0x100);
			} else {
				last[s] = (int)round;
			}
		}
	}
	for (unsigned s = 0; s < PIPE_SECS; s++) {
		if (last[s] == -1)
			continue;
		for (unsigned i = 0; i < 4096; i++) {
			int rr = last[s];

			if ((rr & 0x100) != 0 && (i < 1024 || i >= 3072))
				rr = lo[s];
			want[i] = rr < 0 ? 0
			                 : pipe_byte((unsigned)rr & 0xff, s, i);
		}
		assert_int_equal(
		    request(fd, NBD_CMD_READ, 0, (uint64_t)s * 4096, 4096,
		        NULL, r),
		    0);
		assert_memory_equal(r, want, 4096);
	}
	close(fd);
	bt_blk_nbd_stop(srv);
	bt_blk_dev_close(dev);
	bt_free(sock);
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
		cmocka_unit_test(test_pipelined_writes_with_workers_land_whole),
	};

	return cmocka_run_group_tests_name("blk.nbd", tests, NULL, NULL);
}
