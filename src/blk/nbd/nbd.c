/*
 * blk/nbd/nbd.c: the thin NBD adapter. It speaks the fixed newstyle
 * handshake and simple replies, and turns each request into one
 * bt_blk_dev_* call. All storage logic lives in blk/.
 *
 * Threads: one accept thread per server; per connection `workers` threads
 * that take turns as the reader (nbdkit's "parallel" model): a thread
 * holds read_mu while it reads a batch, releases it, runs the batch and
 * writes the replies under send_mu. A batch is one request, read as it
 * comes, and then every request that is already whole in the read-ahead
 * buffer (up to NBD_BATCH; a FLUSH, a FUA write or a long request ends
 * it): at depth one read() brings several requests, and they run without
 * another system call or thread wake-up to get them. Consecutive plain
 * whole-sector writes of a batch are committed together
 * (bt__blk_dev_write_many: one journal pwrite for all of them), and the
 * replies that are ready go out with one writev, before a slow request
 * (FLUSH, FUA) and every NBD_REPLY_EVERY requests. No request is handed
 * from thread to thread. A client that never reads its replies blocks
 * the workers in writev, which stops the reading (back-pressure).
 *
 * Write payloads that are whole in the read-ahead buffer are sealed from
 * there, not copied out first. The buffer must then stay put until the
 * batch ran: a batch run holding the reading turn is done before the next
 * read; one run after handing the turn over takes the buffer with it and
 * leaves the next reader its spare, holding the bytes not yet taken
 * (rbuf_hand_over). So the buffers of a connection (c->rbuf and each
 * worker's spare) each have one owner at a time.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../batch.h"
#include "../sock.h"
#include "bt/blk.h"
#include "nbd_proto.h"

#define NBD_OPTIONS_MAX 1024u
#define NBD_BUF_KEEP    (4u * 1024u * 1024u)

/* A request, its buffer (WRITE payload or READ data) and its result. */
struct nbd_job {
	struct nbd_req req;
	uint8_t       *buf;
	size_t         cap;
	const uint8_t *wdata; /* WRITE payload: in buf, or in c->rbuf */
	bool           in_rbuf; /* wdata points into c->rbuf */
	uint32_t       err; /* NBD error of the reply */
	bool           data; /* the reply carries req.len bytes of buf */
};

/* The most requests one reading turn takes, and the longest that joins
 * a batch after the first. */
#define NBD_BATCH     16u
#define NBD_BATCH_LEN (64u * 1024u)
/* Consecutive plain writes committed together, and replies sent at once
 * (the rest of a batch is still being run meanwhile). */
#define NBD_WRITE_GROUP 8u
#define NBD_REPLY_EVERY 8u

/* A worker's batch: jobs [0, n) read in one turn; replies of [sent, done)
 * are ready and not yet sent. */
struct nbd_worker {
	struct nbd_job      jobs[NBD_BATCH];
	unsigned            n, sent, done;
	uint8_t             hdr[NBD_BATCH][16];
	struct iovec        iov[2 * NBD_BATCH];
	struct bt__blk_wreq w[NBD_WRITE_GROUP];
	uint8_t            *spare; /* a read-ahead buffer this worker owns */
	bool                unpushed; /* writes whose replication waits */
};

struct nbd_conn {
	bt_blk_dev     *dev;
	int             rfd;
	int             wfd;
	const char     *export_name;
	pthread_mutex_t send_mu;
	bool            send_failed;

	unsigned        nworkers;
	pthread_t       threads[64];
	pthread_mutex_t read_mu; /* the reading turn, rbuf, stopping */
	/* Read-ahead of client bytes: at depth, one read() brings several
	 * requests. */
	uint8_t *rbuf;
	size_t   rstart, rend;
	bool     stopping;
	int      end_rc; /* why the session ended (0: DISC) */
	/* read_mu: mean run time per request of the batches run holding the
	 * turn (ns, a moving average); past NBD_KEEP_NS they stop doing so. */
	uint64_t kept_ns;
};

/* ------------------------------------------------------------------ */
/* Wire helpers                                                       */
/* ------------------------------------------------------------------ */

/*
 * send_iov writes n iovecs whole under send_mu, with as few writev calls
 * as the socket takes (one, normally). iov is modified.
 */
static int
send_iov(struct nbd_conn *c, struct iovec *v, int n)
{
	int rc = 0;

	pthread_mutex_lock(&c->send_mu);
	while (n > 0 && rc == 0) {
		ssize_t w = writev(c->wfd, v, n > IOV_MAX ? IOV_MAX : n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = -errno;
			break;
		}
		while (n > 0 && (size_t)w >= v[0].iov_len) {
			w -= (ssize_t)v[0].iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v[0].iov_base = (uint8_t *)v[0].iov_base + w;
			v[0].iov_len -= (size_t)w;
		}
	}
	if (rc != 0)
		c->send_failed = true;
	pthread_mutex_unlock(&c->send_mu);
	return rc;
}

static int
send_all(struct nbd_conn *c, const struct iovec *iov, int n)
{
	struct iovec v[2];

	if (n > 2)
		return -EINVAL;
	memcpy(v, iov, (size_t)n * sizeof(*iov));
	return send_iov(c, v, n);
}

static int
opt_reply(struct nbd_conn *c, uint32_t opt, uint32_t type, const void *data,
    uint32_t len)
{
	uint8_t      hdr[20];
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)data, len } };

	bt_put_be64(hdr, NBD_REP_MAGIC);
	bt_put_be32(hdr + 8, opt);
	bt_put_be32(hdr + 12, type);
	bt_put_be32(hdr + 16, len);
	return send_all(c, iov, len ? 2 : 1);
}

static int
opt_error(struct nbd_conn *c, uint32_t opt, uint32_t type, const char *msg)
{
	return opt_reply(c, opt, type, msg, (uint32_t)strlen(msg));
}

static uint16_t
tx_flags(void)
{
	return NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA
	    | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES
	    | NBD_FLAG_CAN_MULTI_CONN;
}

static bool
name_ok(struct nbd_conn *c, const uint8_t *name, uint32_t len)
{
	return len == 0
	    || (strlen(c->export_name) == len
	        && memcmp(c->export_name, name, len) == 0);
}

#define NBD_RBUF (256u * 1024u)

/*
 * conn_read reads exactly len client bytes, through the read-ahead buffer
 * (large payloads beyond what is buffered go straight to dst). Returns 0,
 * BT_ECLOSED at end of stream, or a negative errno.
 */
static int
conn_read(struct nbd_conn *c, void *dst, size_t len)
{
	uint8_t *d = dst;

	while (len > 0) {
		size_t  have = c->rend - c->rstart;
		ssize_t n;

		if (have > 0) {
			size_t k = have < len ? have : len;

			memcpy(d, c->rbuf + c->rstart, k);
			c->rstart += k;
			d += k;
			len -= k;
			continue;
		}
		if (len >= NBD_RBUF / 2)
			return bt__blk_read_full(c->rfd, d, len);
		c->rstart = c->rend = 0;
		do {
			n = read(c->rfd, c->rbuf, NBD_RBUF);
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n == 0)
			return BT_ECLOSED;
		c->rend = (size_t)n;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Handshake                                                          */
/* ------------------------------------------------------------------ */

static int
send_info(struct nbd_conn *c, uint32_t opt, const struct nbd_go *go)
{
	uint8_t  b[14];
	uint64_t size = bt_blk_dev_size(c->dev);
	int      rc;

	bt_put_be16(b, NBD_INFO_EXPORT);
	bt_put_be64(b + 2, size);
	bt_put_be16(b + 10, tx_flags());
	rc = opt_reply(c, opt, NBD_REP_INFO, b, 12);
	if (rc != 0)
		return rc;
	// Block size: sent whether or not it was asked for (allowed), so
	// clients align to 4 KiB and avoid read-modify-write.
	bt_put_be16(b, NBD_INFO_BLOCK_SIZE);
	bt_put_be32(b + 2, 1);
	bt_put_be32(b + 6, BT_BLK_SECTOR_SIZE);
	bt_put_be32(b + 10, BT_BLK_REQ_MAX);
	rc = opt_reply(c, opt, NBD_REP_INFO, b, 14);
	if (rc != 0)
		return rc;
	for (uint16_t i = 0; i < go->ninfo; i++) {
		if (bt_get_be16(go->infos + 2 * i) == NBD_INFO_NAME) {
			uint8_t nb[2 + NBD_NAME_MAX];
			size_t  nl = strlen(c->export_name);

			if (nl > NBD_NAME_MAX)
				nl = NBD_NAME_MAX;
			bt_put_be16(nb, NBD_INFO_NAME);
			memcpy(nb + 2, c->export_name, nl);
			rc = opt_reply(
			    c, opt, NBD_REP_INFO, nb, (uint32_t)(2 + nl));
			if (rc != 0)
				return rc;
			break;
		}
	}
	return opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
}

/*
 * handshake returns 1 to enter transmission, 0 for a clean abort, or a
 * negative errno / -EPROTO to drop the client.
 */
static int
handshake(struct nbd_conn *c)
{
	uint8_t  buf[NBD_OPT_DATA_MAX];
	uint8_t  hello[18];
	uint32_t cflags;
	bool     no_zeroes;
	int      rc;

	bt_put_be64(hello, NBD_MAGIC);
	bt_put_be64(hello + 8, NBD_OPTS_MAGIC);
	bt_put_be16(hello + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	rc = bt__blk_write_full(c->wfd, hello, sizeof(hello));
	if (rc != 0)
		return rc;
	rc = conn_read(c, buf, 4);
	if (rc != 0)
		return rc;
	cflags = bt_get_be32(buf);
	if ((cflags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))
	    != 0)
		return -EPROTO; /* the spec: unknown client flags, hang up */
	no_zeroes = (cflags & NBD_FLAG_C_NO_ZEROES) != 0;
	for (unsigned n = 0; n < NBD_OPTIONS_MAX; n++) {
		uint8_t  oh[NBD_OPT_HDR_LEN];
		uint32_t opt, len;

		rc = conn_read(c, oh, sizeof(oh));
		if (rc != 0)
			return rc;
		if (bt_get_be64(oh) != NBD_OPTS_MAGIC)
			return -EPROTO;
		opt = bt_get_be32(oh + 8);
		len = bt_get_be32(oh + 12);
		if (len > sizeof(buf))
			return -EPROTO; /* cannot be sensible; hang up */
		rc = conn_read(c, buf, len);
		if (rc != 0)
			return rc;
		switch (opt) {
		case NBD_OPT_EXPORT_NAME: {
			uint8_t r[10 + 124];

			if (!name_ok(c, buf, len))
				return -ENOENT; /* no way to say no but hang up
				                 */
			memset(r, 0, sizeof(r));
			bt_put_be64(r, bt_blk_dev_size(c->dev));
			bt_put_be16(r + 8, tx_flags());
			rc = bt__blk_write_full(
			    c->wfd, r, no_zeroes ? 10 : sizeof(r));
			return rc != 0 ? rc : 1;
		}
		case NBD_OPT_ABORT:
			(void)opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
			return 0;
		case NBD_OPT_LIST: {
			uint8_t r[4 + NBD_NAME_MAX];
			size_t  nl = strlen(c->export_name);

			if (len != 0) {
				rc = opt_error(c, opt, NBD_REP_ERR_INVALID,
				    "NBD_OPT_LIST takes no data");
				break;
			}
			if (nl > NBD_NAME_MAX)
				nl = NBD_NAME_MAX;
			bt_put_be32(r, (uint32_t)nl);
			memcpy(r + 4, c->export_name, nl);
			rc = opt_reply(
			    c, opt, NBD_REP_SERVER, r, (uint32_t)(4 + nl));
			if (rc == 0)
				rc = opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
			break;
		}
		case NBD_OPT_INFO:
		case NBD_OPT_GO: {
			struct nbd_go  go;
			struct bt_diag diag;

			if (bt__nbd_go_parse(buf, len, &go, &diag) != 0) {
				rc = opt_error(
				    c, opt, NBD_REP_ERR_INVALID, diag.msg);
				break;
			}
			if (!name_ok(c, go.name, go.namelen)) {
				rc = opt_error(c, opt, NBD_REP_ERR_UNKNOWN,
				    "no such export");
				break;
			}
			rc = send_info(c, opt, &go);
			if (rc == 0 && opt == NBD_OPT_GO)
				return 1;
			break;
		}
		default:
			rc = opt_error(
			    c, opt, NBD_REP_ERR_UNSUP, "option not supported");
			break;
		}
		if (rc != 0)
			return rc;
	}
	return -EPROTO;
}

/* ------------------------------------------------------------------ */
/* Transmission                                                       */
/* ------------------------------------------------------------------ */

static uint32_t
to_nbd_errno(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case -EROFS:
	case -EPERM:
		return NBD_EPERM;
	case -EINVAL:
		return NBD_EINVAL;
	case -ENOSPC:
		return NBD_ENOSPC;
	case -ENOMEM:
		return NBD_ENOMEM;
	default:
		return NBD_EIO;
	}
}

static int
job_buf(struct nbd_job *j, size_t len)
{
	if (j->cap >= len)
		return 0;
	bt_free(j->buf);
	j->buf = bt_alloc(len);
	j->cap = j->buf != NULL ? len : 0;
	return j->buf != NULL ? 0 : -ENOMEM;
}

/* exec runs one request and records its result in j. */
static void
exec(struct nbd_conn *c, struct nbd_job *j)
{
	struct nbd_req *r = &j->req;
	// Replication messages leave after the reply (replies_send).
	unsigned fl = BT__BLK_NO_PUSH
	    | ((r->flags & NBD_CMD_FLAG_FUA) ? BT_BLK_FUA : 0);
	uint32_t        err = bt__nbd_req_check(r, bt_blk_dev_size(c->dev));
	int             rc = 0;

	j->data = false;
	if (err == 0) {
		switch (r->type) {
		case NBD_CMD_READ:
			rc = job_buf(j, r->len);
			if (rc == 0)
				rc = bt_blk_dev_read(
				    c->dev, j->buf, r->len, r->off);
			j->data = rc == 0;
			break;
		case NBD_CMD_WRITE:
			rc = bt_blk_dev_write(
			    c->dev, j->wdata, r->len, r->off, fl);
			break;
		case NBD_CMD_FLUSH:
			rc = bt_blk_dev_flush(c->dev);
			break;
		case NBD_CMD_TRIM:
		case NBD_CMD_WRITE_ZEROES:
			rc = bt_blk_dev_zero(c->dev, r->off, r->len, fl);
			break;
		default:
			break;
		}
		err = to_nbd_errno(rc);
	}
	j->err = err;
}

/*
 * replies_send writes the replies that are ready, with one writev, then
 * sends the replication messages of the writes among them: the client's
 * answer does not wait for the encryption and send to the backups (a
 * flush, which does wait for them, sends them first anyway). When the
 * client's rhythm says its FLUSH comes next, they go first instead: that
 * flush waits for the backups, which then start a little sooner.
 */
static void
replies_send(struct nbd_conn *c, struct nbd_worker *wk)
{
	int n = 0;

	if (wk->unpushed && bt__blk_dev_flush_expected(c->dev)) {
		wk->unpushed = false;
		bt__blk_dev_push(c->dev);
	}
	if (wk->sent == wk->done)
		goto push;
	for (unsigned i = wk->sent; i < wk->done; i++) {
		struct nbd_job *j = &wk->jobs[i];
		uint8_t        *h = wk->hdr[i];

		bt_put_be32(h, NBD_SIMPLE_REPLY_MAGIC);
		bt_put_be32(h + 4, j->err);
		bt_put_be64(h + 8, j->req.cookie);
		wk->iov[n].iov_base = h;
		wk->iov[n++].iov_len = 16;
		if (j->err == 0 && j->data) {
			wk->iov[n].iov_base = j->buf;
			wk->iov[n++].iov_len = j->req.len;
		}
	}
	(void)send_iov(c, wk->iov, n);
	for (unsigned i = wk->sent; i < wk->done; i++) {
		struct nbd_job *j = &wk->jobs[i];

		if (j->cap > NBD_BUF_KEEP) {
			bt_free(j->buf);
			j->buf = NULL;
			j->cap = 0;
		}
	}
	wk->sent = wk->done;
push:
	if (wk->unpushed) {
		wk->unpushed = false;
		bt__blk_dev_push(c->dev);
	}
}

/* groupable: a plain whole-sector write that may be committed together
 * with its neighbours (bt__blk_dev_write_many). */
static bool
groupable(const struct nbd_job *j, uint64_t size)
{
	const struct nbd_req *r = &j->req;

	return r->type == NBD_CMD_WRITE && r->flags == 0 && r->len != 0
	    && r->len <= NBD_BATCH_LEN && r->len % BT_BLK_SECTOR_SIZE == 0
	    && r->off % BT_BLK_SECTOR_SIZE == 0
	    && bt__nbd_req_check(r, size) == 0;
}

/*
 * run_batch runs the requests of one reading turn in order and sends
 * their replies a few at a time: consecutive plain writes go to the
 * device together, and what is ready is sent before a slow request
 * (FLUSH, FUA) and every NBD_REPLY_EVERY requests, so a client at depth
 * gets replies while the rest of the batch runs.
 */
static void
run_batch(struct nbd_conn *c, struct nbd_worker *wk)
{
	uint64_t size = bt_blk_dev_size(c->dev);
	unsigned i = 0;

	while (i < wk->n) {
		struct nbd_job *j = &wk->jobs[i];
		unsigned        m = 0;

		while (i + m < wk->n && m < NBD_WRITE_GROUP
		    && groupable(&wk->jobs[i + m], size))
			m++;
		if (m > 1) {
			for (unsigned k = 0; k < m; k++) {
				struct nbd_job *g = &wk->jobs[i + k];

				wk->w[k].buf = g->wdata;
				wk->w[k].len = g->req.len;
				wk->w[k].off = g->req.off;
				wk->w[k].rc = 0;
			}
			bt__blk_dev_write_many(c->dev, wk->w, m);
			wk->unpushed = true;
			for (unsigned k = 0; k < m; k++) {
				wk->jobs[i + k].err = to_nbd_errno(wk->w[k].rc);
				wk->jobs[i + k].data = false;
			}
			i += m;
			wk->done = i;
			replies_send(c, wk);
			continue;
		}
		if (j->req.type == NBD_CMD_FLUSH
		    || (j->req.flags & NBD_CMD_FLAG_FUA) != 0)
			replies_send(c, wk);
		exec(c, j);
		if (j->req.type == NBD_CMD_WRITE || j->req.type == NBD_CMD_TRIM
		    || j->req.type == NBD_CMD_WRITE_ZEROES)
			wk->unpushed = true;
		wk->done = ++i;
		if (wk->done - wk->sent >= NBD_REPLY_EVERY)
			replies_send(c, wk);
	}
	replies_send(c, wk);
}

/* drain reads and drops len payload bytes (read_mu held). */
static int
drain(struct nbd_conn *c, uint64_t len)
{
	uint8_t b[4096];

	while (len > 0) {
		size_t n = len < sizeof(b) ? (size_t)len : sizeof(b);
		int    rc = conn_read(c, b, n);

		if (rc != 0)
			return rc;
		len -= n;
	}
	return 0;
}

/*
 * read_request reads one request and its payload into j, with read_mu
 * held. Returns 0; 1 for DISC; a negative errno or -EPROTO to drop the
 * client.
 */
static int
read_request(struct nbd_conn *c, struct nbd_job *j)
{
	uint8_t hdr[NBD_REQ_HDR_LEN];
	int     rc;

	if (c->send_failed)
		return -EPIPE;
	rc = conn_read(c, hdr, sizeof(hdr));
	if (rc != 0)
		return rc == BT_ECLOSED ? -EPIPE : rc;
	rc = bt__nbd_req_parse(hdr, &j->req, NULL);
	if (rc != 0)
		return rc;
	if (j->req.type == NBD_CMD_DISC)
		return 1;
	if (j->req.type != NBD_CMD_WRITE)
		return 0;
	j->in_rbuf = false;
	j->wdata = NULL;
	if (j->req.len > BT_BLK_REQ_MAX) {
		// Keep the stream in step, then say EOVERFLOW (exec does).
		if (j->req.len > NBD_WRITE_DRAIN_MAX)
			return -EPROTO;
		rc = drain(c, j->req.len);
	} else if (c->rend - c->rstart >= j->req.len) {
		// Whole in the read-ahead: sealed from there (see the top).
		j->wdata = c->rbuf + c->rstart;
		j->in_rbuf = true;
		c->rstart += j->req.len;
	} else {
		rc = job_buf(j, j->req.len);
		if (rc == 0)
			rc = conn_read(c, j->buf, j->req.len);
		j->wdata = j->buf;
	}
	return rc == BT_ECLOSED ? -EPROTO : rc;
}

/* joins_after: whether a batch may take more requests after r (a slow
 * request or a long one ends it). */
static bool
joins_after(const struct nbd_req *r)
{
	return (r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE)
	    && (r->flags & NBD_CMD_FLAG_FUA) == 0 && r->len <= NBD_BATCH_LEN;
}

/* buffered: whether the read-ahead holds the whole next request, one that
 * may join a batch (not DISC, not a long write), so reading it costs no
 * system call and cannot fail on the stream. */
static bool
buffered(const struct nbd_conn *c)
{
	size_t         have = c->rend - c->rstart;
	struct nbd_req r;

	if (have < NBD_REQ_HDR_LEN
	    || bt__nbd_req_parse(c->rbuf + c->rstart, &r, NULL) != 0
	    || r.type == NBD_CMD_DISC)
		return false;
	return r.type != NBD_CMD_WRITE
	    || (r.len <= NBD_BATCH_LEN && have - NBD_REQ_HDR_LEN >= r.len);
}

/*
 * read_batch takes the reading turn's requests (read_mu held): one, read
 * as it comes, then those already whole in the read-ahead, up to
 * NBD_BATCH. Sets wk->n (the jobs to run even when it fails) and returns
 * what read_request returned for the last one it tried.
 */
static int
read_batch(struct nbd_conn *c, struct nbd_worker *wk)
{
	int rc;

	wk->n = wk->sent = wk->done = 0;
	rc = read_request(c, &wk->jobs[0]);
	if (rc != 0)
		return rc;
	wk->n = 1;
	while (wk->n < NBD_BATCH && joins_after(&wk->jobs[wk->n - 1].req)
	    && buffered(c)) {
		rc = read_request(c, &wk->jobs[wk->n]);
		if (rc != 0)
			return rc;
		wk->n++;
	}
	return 0;
}

/* Requests slower than this on average (a disk that blocks reads, dirty
 * page throttling) are not run holding the reading turn. */
#define NBD_KEEP_NS 150000u
/* Replicating, batches of fewer fast requests than this keep the turn;
 * alone, every batch of fast requests does (see below). */
#ifndef NBD_KEEP_MAX
#define NBD_KEEP_MAX 4u
#endif

/*
 * Keeping the turn: worker_loop runs a batch while still holding the
 * reading turn (read_mu) when the batch is all fast requests (plain reads
 * and writes, short) and such batches have been fast (kept_ns). Handing
 * the turn over costs a wake-up of the next worker (which then only
 * blocks in read()) and, once this one is back, another: at depth that
 * was most of the context switches and lock traffic per request. The
 * client's next requests wait in the socket meanwhile, but they come as
 * replies go out, and this thread reads them next. A slow request (FLUSH,
 * FUA, a long one), or batches that turn out slow (reads that wait for
 * the disk, writes throttled), hand the turn to another worker first, so
 * requests keep flowing while they run. Replicating, only batches of
 * fewer than NBD_KEEP_MAX requests keep the turn: each write also
 * encrypts and sends the stream on this thread, and a second worker on
 * the other core pays for its hand-over (4k random writes at depth 16
 * with a backup: 17-45k IOPS keeping every batch, 41-46k below 4). Alone,
 * every batch of fast requests does: on two cores, one thread running
 * them while fio runs on the other beat handing over (4k random writes
 * at depth 16: 0.78-0.91 of nbdkit below 4, 0.94-1.11 keeping all, server
 * CPU 7.8-7.9 -> 7.1-7.5 us per request, context switches 0.07 -> 0.01).
 */
/* all_fast: the batch is short reads and writes, or a lone FLUSH that
 * finds every write durable already (after a flush ahead). */
static bool
all_fast(struct nbd_conn *c, const struct nbd_worker *wk)
{
	if (wk->n == 1 && wk->jobs[0].req.type == NBD_CMD_FLUSH)
		return bt__blk_dev_durable(c->dev);
	for (unsigned i = 0; i < wk->n; i++) {
		if (!joins_after(&wk->jobs[i].req))
			return false;
	}
	return true;
}

static bool
has_write(const struct nbd_worker *wk)
{
	for (unsigned i = 0; i < wk->n; i++) {
		if (wk->jobs[i].req.type == NBD_CMD_WRITE
		    && (wk->jobs[i].req.flags & NBD_CMD_FLAG_FUA) == 0)
			return true;
	}
	return false;
}

/* run_timed runs the batch and returns its mean time per request. */
static uint64_t
run_timed(struct nbd_conn *c, struct nbd_worker *wk)
{
	uint64_t t0 = bt_time_mono_ns();

	run_batch(c, wk);
	return (bt_time_mono_ns() - t0) / (wk->n ? wk->n : 1);
}

/*
 * rbuf_hand_over (read_mu held): the batch is about to run after the turn
 * is handed over; if it seals payloads in c->rbuf, the worker keeps that
 * buffer (until its next hand-over, after the batch ran) and the next
 * reader gets the worker's spare with the bytes not yet taken. Returns
 * false when no spare can be had: run the batch holding the turn then.
 */
static bool
rbuf_hand_over(struct nbd_conn *c, struct nbd_worker *wk)
{
	size_t   left = c->rend - c->rstart;
	uint8_t *old = c->rbuf;
	bool     used = false;

	for (unsigned i = 0; i < wk->n; i++)
		used = used || wk->jobs[i].in_rbuf;
	if (!used)
		return true;
	if (wk->spare == NULL)
		wk->spare = bt_alloc(NBD_RBUF);
	if (wk->spare == NULL)
		return false;
	if (left > 0)
		memcpy(wk->spare, old + c->rstart, left);
	c->rbuf = wk->spare;
	c->rstart = 0;
	c->rend = left;
	wk->spare = old;
	return true;
}

/* worker_loop: take the reading turn, read a batch, run it, repeat. */
static void
worker_loop(struct nbd_conn *c)
{
	struct nbd_worker *wk = bt_zalloc(sizeof(*wk));

	pthread_mutex_lock(&c->read_mu);
	if (wk == NULL && !c->stopping) {
		c->stopping = true;
		c->end_rc = -ENOMEM;
	}
	while (!c->stopping) {
		int      rc = read_batch(c, wk);
		bool     fast = rc == 0 && all_fast(c, wk);
		bool     keep = (fast && c->kept_ns <= NBD_KEEP_NS
		               && (wk->n < NBD_KEEP_MAX
		                   || !bt__blk_dev_replicating(c->dev)))
		    || !rbuf_hand_over(c, wk);
		uint64_t per;

		if (rc != 0) {
			c->stopping = true;
			c->end_rc = rc > 0 ? 0 : rc;
		}
		// Only reads and writes are timed: a FLUSH after a flush ahead
		// waits for the backups, not for this disk.
		bool     timed = fast && wk->jobs[0].req.type != NBD_CMD_FLUSH;

		if (keep) {
			per = run_timed(c, wk);
			if (timed)
				c->kept_ns = (c->kept_ns * 7 + per) / 8;
			// Still holding the turn: the FLUSH this expects is
			// read by this thread once the sync is done, with no
			// wake-up of another worker to read it, wait behind
			// the sync and be woken again (three switches).
			// Other requests already waiting (several clients
			// share the connection) are not held up for the sync.
			if (has_write(wk) && bt__blk_dev_flush_ahead_due(c->dev)) {
				bool others = c->rend > c->rstart;

				if (others)
					pthread_mutex_unlock(&c->read_mu);
				bt__blk_dev_flush_ahead(c->dev);
				if (others)
					pthread_mutex_lock(&c->read_mu);
			}
			continue;
		}
		pthread_mutex_unlock(&c->read_mu);
		per = run_timed(c, wk);
		if (has_write(wk) && bt__blk_dev_flush_ahead_due(c->dev))
			bt__blk_dev_flush_ahead(c->dev);
		pthread_mutex_lock(&c->read_mu);
		if (timed)
			c->kept_ns = (c->kept_ns * 7 + per) / 8;
	}
	pthread_mutex_unlock(&c->read_mu);
	if (wk != NULL) {
		for (unsigned i = 0; i < NBD_BATCH; i++)
			bt_free(wk->jobs[i].buf);
		bt_free(wk->spare);
	}
	bt_free(wk);
}

static void *
worker_main(void *arg)
{
	worker_loop(arg);
	return NULL;
}

static int
conn_run(
    bt_blk_dev *dev, int rfd, int wfd, const char *name, unsigned nworkers)
{
	struct nbd_conn *c;
	unsigned         started = 0;
	int              rc;

	c = bt_zalloc(sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->rbuf = bt_alloc(NBD_RBUF);
	if (c->rbuf == NULL) {
		bt_free(c);
		return -ENOMEM;
	}
	c->dev = dev;
	c->rfd = rfd;
	c->wfd = wfd;
	c->export_name = name;
	c->nworkers = nworkers > 64 ? 64 : nworkers;
	pthread_mutex_init(&c->send_mu, NULL);
	pthread_mutex_init(&c->read_mu, NULL);
	rc = handshake(c);
	if (rc <= 0)
		goto out;
	// This thread is one of the workers; the others join it.
	for (; started + 1 < c->nworkers; started++) {
		if (pthread_create(&c->threads[started], NULL, worker_main, c)
		    != 0)
			break;
	}
	worker_loop(c);
	for (unsigned i = 0; i < started; i++)
		pthread_join(c->threads[i], NULL);
	rc = c->end_rc;
out:
	bt_free(c->rbuf);
	pthread_mutex_destroy(&c->send_mu);
	pthread_mutex_destroy(&c->read_mu);
	bt_free(c);
	if (rc > 0)
		rc = 0;
	return rc;
}

int
bt_blk_nbd_session(bt_blk_dev *dev, int rfd, int wfd, const char *name)
{
	return conn_run(dev, rfd, wfd, name != NULL ? name : "blk", 0);
}

/* ------------------------------------------------------------------ */
/* Server                                                             */
/* ------------------------------------------------------------------ */

struct nbd_client {
	struct nbd_client *next;
	struct bt_blk_nbd *srv;
	int                fd;
	pthread_t          thread;
};

struct bt_blk_nbd {
	bt_blk_dev        *dev;
	int                lfd;
	char               addr[300];
	char              *name;
	unsigned           workers;
	pthread_t          accept_thread;
	pthread_mutex_t    mu;
	pthread_cond_t     cv;
	struct nbd_client *clients;
	unsigned           nclients;
	bool               stopping;
};

static void *
client_main(void *arg)
{
	struct nbd_client *cl = arg;
	struct bt_blk_nbd *s = cl->srv;
	int                rc;

	rc = conn_run(s->dev, cl->fd, cl->fd, s->name, s->workers);
	if (rc != 0 && rc != -EPIPE && rc != BT_ECLOSED)
		bt_log_debug("blk", "nbd client dropped: %s", bt_strerror(rc));
	pthread_mutex_lock(&s->mu);
	for (struct nbd_client **pp = &s->clients; *pp != NULL;
	     pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	close(cl->fd);
	s->nclients--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	bt_free(cl);
	return NULL;
}

static void *
accept_main(void *arg)
{
	struct bt_blk_nbd *s = arg;

	for (;;) {
		struct nbd_client *cl;
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL; /* listener shut down */
		}
		bt__blk_sock_tune(fd);
		cl = bt_zalloc(sizeof(*cl));
		if (cl == NULL) {
			close(fd);
			continue;
		}
		cl->srv = s;
		cl->fd = fd;
		pthread_mutex_lock(&s->mu);
		if (s->stopping) {
			pthread_mutex_unlock(&s->mu);
			close(fd);
			bt_free(cl);
			return NULL;
		}
		cl->next = s->clients;
		s->clients = cl;
		s->nclients++;
		if (pthread_create(&cl->thread, NULL, client_main, cl) != 0) {
			s->clients = cl->next;
			s->nclients--;
			close(fd);
			bt_free(cl);
		} else {
			pthread_detach(cl->thread);
		}
		pthread_mutex_unlock(&s->mu);
	}
}

int
bt_blk_nbd_start(bt_blk_nbd **out, bt_blk_dev *dev,
    const struct bt_blk_nbd_config *cfg, struct bt_diag *diag)
{
	struct bt_blk_nbd *s;
	int                rc;

	if (cfg == NULL || cfg->version != 1 || cfg->listen == NULL)
		return -EINVAL;
	s = bt_zalloc(sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->dev = dev;
	s->workers = cfg->workers ? cfg->workers : 4;
	s->name = bt_strdup(cfg->export_name ? cfg->export_name : "blk");
	if (s->name == NULL) {
		bt_free(s);
		return -ENOMEM;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	rc = bt__blk_listen(
	    cfg->listen, &s->lfd, s->addr, sizeof(s->addr), diag);
	if (rc != 0)
		goto err;
	if (pthread_create(&s->accept_thread, NULL, accept_main, s) != 0) {
		rc = -EAGAIN;
		close(s->lfd);
		goto err;
	}
	*out = s;
	return 0;
err:
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	bt_free(s->name);
	bt_free(s);
	return rc;
}

const char *
bt_blk_nbd_addr(const bt_blk_nbd *s)
{
	return s->addr;
}

void
bt_blk_nbd_stop(bt_blk_nbd *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_mutex_unlock(&s->mu);
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->accept_thread, NULL);
	close(s->lfd);
	if (strncmp(s->addr, "unix:", 5) == 0)
		unlink(s->addr + 5);
	pthread_mutex_lock(&s->mu);
	for (struct nbd_client *cl = s->clients; cl != NULL; cl = cl->next)
		shutdown(cl->fd, SHUT_RDWR);
	while (s->nclients > 0)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	bt_free(s->name);
	bt_free(s);
}
