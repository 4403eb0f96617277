/*
 * net/net.c: the libuv loop, TCP and unix-socket streams, TLS 1.3 over
 * memory BIOs, the hello exchange and framing (docs/net.md). msg/ and
 * blk/ call it through bt/net.h.
 *
 * Divisions: the net object and its loop thread; addresses; TLS context and
 * certificate; connections (state machine below); sending; receiving and
 * the hello; direct reading; closing; listeners; dialing.
 *
 * Design
 *
 * Invariants:
 *  1. Every libuv handle and every field marked "loop" is touched only on
 *     the loop thread; the SSL object only with io_mu held; a
 *     connection's receive buffer and its socket's reads only with rd_mu
 *     held (by the loop thread, or by a caller reading directly).
 *  2. A connection's memory lives while anyone holds a reference. The net
 *     holds one from the moment the connection is made until both of its
 *     libuv handles have closed (finalize), so callbacks always see valid
 *     memory.
 *  3. No user frame is passed to on_frame, and nothing queued by the user
 *     is written, before the peer's hello has verified (state OPEN).
 *  4. Bytes queued by bt_net_conn_send plus bytes in flight in uv_write
 *     never exceed send_queue_max by more than one frame: a send past it
 *     fails with BT_ELIMIT, and reading from a peer pauses while its
 *     connection is over it (the peer then feels TCP back-pressure).
 *  5. on_close runs exactly once per connection that was opened or was
 *     outgoing, from finalize, after which the net never touches the user's
 *     handler again for that connection.
 *  6. A connection's frames are passed to on_frame one at a time and in
 *     the order they arrived, whichever thread reads them (rd_mu).
 *  7. The socket of a direct-read connection is closed only after
 *     teardown held rd_mu with the connection marked not direct: no
 *     caller reads, polls or re-arms a file descriptor number that may
 *     have been reused.
 *
 * States of a connection (function that moves it):
 *
 *   CONNECTING --on_connect--> HANDSHAKE --pump--> HELLO --hello_verify--> OPEN
 *        |                        |                  |                     |
 *        +------------------------+------------------+---------------------+
 *                 conn_fail (hard) or conn_shutdown (graceful)
 *                                     |
 *                                  CLOSING --teardown--> CLOSED --finalize
 *
 * Locking theory: net->mu protects the op queue, the dirty list and
 * stopping; conn->mu protects outq, closed, dirty and inflight (a conn's
 * lock is never taken while net->mu is held: senders take conn->mu, drop
 * it, then take net->mu). conn->io_mu (recursive) guards the SSL object,
 * its BIOs and writes to the socket: the loop thread holds it while it
 * decrypts (not while on_frame runs) and while it writes;
 * a sender on another thread only ever try-locks it (try_direct, from
 * bt_net_conn_send_now), to encrypt and send its frames itself when
 * nothing is in flight through libuv, and otherwise leaves them to the
 * loop thread. conn->rd_mu (recursive) is held by whoever reads the
 * connection: the loop thread in on_read and conn_rd (it only try-locks it
 * on a direct-read connection, so a caller never makes it wait except in
 * teardown, see direct_stop), or a caller in bt__net_conn_await, which
 * runs on_frame for its reply kinds with it held. Order: rd_mu before
 * io_mu before conn->mu before net->mu. No user callback runs with
 * net->mu, conn->mu or io_mu held. Callbacks may call any function of
 * bt/net.h except the blocking ones.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <uv.h>

#include "bt/net.h"
#include "bt/serde.h"
#include "net_int.h"

#define READ_CHUNK 16384

struct op {
	bt_net_fn *fn;
	void	  *arg;
	struct op *next;
};

/*
 * TLS bytes between OpenSSL and the socket: [off, len) of p, the memory
 * kept between uses (io_mu). The connections' BIOs are these queues, not
 * OpenSSL 3.0's memory BIO, which clears its whole buffer on every reset
 * and cleanses it on every growth (a fifth of a fan-out's CPU time).
 */
struct tbuf {
	uint8_t *p;
	size_t	 off, len, cap;
};

struct bt_net {
	uv_loop_t	     loop;
	uv_async_t	     async;
	uv_timer_t	     tick;
	uv_poll_t	     rd_poll; /* rd_epfd readable */
	int		     rd_epfd; /* direct-read connections */
	uv_thread_t	     thread;
	_Atomic(pthread_t)   tid;
	atomic_bool	     have_tid;
	pthread_mutex_t	     mu;
	pthread_cond_t	     cv; /* dial waiters and sync ops */
	struct op	    *ops, *ops_tail;
	bt_net_conn	    *dirty;
	bool		     stopping;
	SSL_CTX		    *ctx;
	BIO_METHOD	    *bmeth; /* struct tbuf BIOs */
	bt_key		    *key;
	bt_cred		    *cred;
	char		    *path;
	struct bt_principal  me;
	uint8_t		    *hello;
	size_t		     hello_len;
	size_t		     max_frame, sendq_max;
	uint64_t	     hs_ns, idle_ns;
	bool		     allow_anon;
	bool		     in_read; /* loop */
	bt_net_conn	    *conns;   /* loop */
	bt_net_listener	    *listeners; /* loop */
	bt_net_fn	    *tick_fn;
	void		    *tick_arg;
	uint64_t	     tick_ms;	 /* loop; 0: no tick */
	atomic_bool	     tick_rest;	 /* stopped by bt_net_tick_rest */
	atomic_bool	     tick_kick;	 /* on_async restarts it */
	char		     rdbuf[65536]; /* loop */
};

enum { C_NEW, C_CONNECTING, C_HANDSHAKE, C_HELLO, C_OPEN, C_CLOSING,
	C_CLOSED };

struct bt_net_conn {
	atomic_int	      refs;
	bt_net		     *net;
	union {
		uv_handle_t h;
		uv_stream_t s;
		uv_tcp_t    tcp;
		uv_pipe_t   pipe;
	} u;
	uv_timer_t	      timer;
	uv_connect_t	      creq;
	uv_shutdown_t	      sreq;
	int		      handles; /* loop */
	int		      state;   /* loop */
	bool		      outgoing, is_unix, paused, notified;
	bool		      epolled; /* loop: in rd_epfd, holding a ref */
	/*
	 * Direct reading (outgoing connections once open): the socket is
	 * read through net->rd_epfd, by the loop thread or by a caller in
	 * bt__net_conn_await, whoever holds rd_mu (recursive); rd_mu also
	 * guards in, rfd, rd_left, rd_err and (when direct) paused.
	 */
	pthread_mutex_t	      rd_mu;
	atomic_bool	      direct;	   /* set, cleared under rd_mu */
	atomic_bool	      want_direct; /* a caller asked for it */
	atomic_bool	      rd_busy;	   /* a caller reads: teardown */
	atomic_bool	      rx_seen;	   /* a caller read bytes */
	atomic_bool	      resume_want; /* on_write: read again */
	int		      rfd;	   /* rd_mu: the socket, or -1 */
	bool		      rd_left;	   /* rd_mu: handed back */
	int		      rd_err;	   /* rd_mu: a caller's fault */
	char		      rd_why[160]; /* rd_mu: and why */
	SSL		     *ssl; /* io_mu */
	BIO		     *rbio, *wbio; /* io_mu */
	struct tbuf	      tin, tout;   /* io_mu: behind rbio, wbio */
	/*
	 * io_mu (recursive) serialises every use of ssl, the BIOs and the
	 * socket's writes between the loop thread and a sender writing
	 * directly (try_direct); fd is the socket while open, else -1.
	 */
	pthread_mutex_t	      io_mu;
	int		      fd; /* io_mu */
	struct bt_dbuf	      in; /* rd_mu */
	struct sockaddr_storage sa;
	char		     *unix_path;
	pthread_mutex_t	      mu;
	struct bt_dbuf	      outq;	/* mu */
	size_t		      inflight; /* mu */
	/*
	 * sending holds frames taken from outq that are not yet encrypted,
	 * [send_off, len) left (loop thread only; counted in inflight).
	 */
	struct bt_dbuf	      sending;
	size_t		      send_off;
	bool		      closed;	/* mu */
	bool		      dirty;	/* mu */
	bt_net_conn	     *dirty_next; /* net->mu */
	bool		      linked;	  /* net->mu: on net->dirty */
	struct bt_net_handler h;
	_Atomic(void *)	      data;
	char		     *peer_path;
	struct bt_principal   peer;
	atomic_bool	      open;
	atomic_bool	      finished;
	uint64_t	      last_rx, last_tx; /* loop */
	int		      close_rc;
	char		      close_msg[200];
	bt_net_conn	     *next, *prev; /* loop: net->conns */
	char		      addr[BT_NET_ADDR_MAX];
};

struct bt_net_listener {
	union {
		uv_handle_t h;
		uv_stream_t s;
		uv_tcp_t    tcp;
		uv_pipe_t   pipe;
	} u;
	bt_net		     *net;
	struct bt_net_handler h;
	bool		      is_unix;
	char		      addr[BT_NET_ADDR_MAX];
	bt_net_listener	     *next;
};

struct wreq {
	uv_write_t   req;
	bt_net_conn *c;
	size_t	     len;
	char	     data[];
};

static void conn_fail(bt_net_conn *c, int rc, const char *fmt, ...)
    BT_PRINTF(3, 4);
static void conn_shutdown(bt_net_conn *c, int rc, const char *msg);
static void flush_dirty(bt_net *net);
static void conn_flush(bt_net_conn *c);
static void conn_flush_all(bt_net_conn *c);
static void drain_locked(bt_net_conn *c);
static void on_timer(uv_timer_t *t);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void direct_start(bt_net_conn *c);
static void direct_stop(bt_net_conn *c);
static void read_resume(bt_net_conn *c);
static void maybe_pause(bt_net_conn *c);
static void on_rd_poll(uv_poll_t *h, int status, int events);

static int
uv_rc(int e)
{
	/* libuv errors are negative errno values on unix. */
	return e;
}

/* ------------------------------------------------------------------ */
/* The net object and its loop thread                                   */
/* ------------------------------------------------------------------ */

bool
bt_net_in_loop(const bt_net *net)
{
	return atomic_load(&((bt_net *)net)->have_tid) &&
	    pthread_equal(pthread_self(), atomic_load(&((bt_net *)net)->tid));
}

static void
loop_main(void *arg)
{
	bt_net *net = arg;

	atomic_store(&net->tid, pthread_self());
	atomic_store(&net->have_tid, true);
	uv_run(&net->loop, UV_RUN_DEFAULT);
}

static void
run_ops(bt_net *net)
{
	struct op *ops;

	pthread_mutex_lock(&net->mu);
	ops = net->ops;
	net->ops = net->ops_tail = NULL;
	pthread_mutex_unlock(&net->mu);
	while (ops != NULL) {
		struct op *o = ops;

		ops = o->next;
		o->fn(o->arg);
		bt_free(o);
	}
}

static void tick_restart(bt_net *net);

static void
on_async(uv_async_t *a)
{
	bt_net *net = a->data;

	if (atomic_exchange(&net->tick_kick, false))
		tick_restart(net);
	run_ops(net);
	flush_dirty(net);
}

static int
post(bt_net *net, bt_net_fn *fn, void *arg, bool even_stopping)
{
	struct op *o = bt_alloc(sizeof(*o));

	if (o == NULL)
		return -ENOMEM;
	o->fn = fn;
	o->arg = arg;
	o->next = NULL;
	pthread_mutex_lock(&net->mu);
	if (net->stopping && !even_stopping) {
		pthread_mutex_unlock(&net->mu);
		bt_free(o);
		return BT_ECLOSED;
	}
	if (net->ops_tail != NULL)
		net->ops_tail->next = o;
	else
		net->ops = o;
	net->ops_tail = o;
	pthread_mutex_unlock(&net->mu);
	uv_async_send(&net->async);
	return 0;
}

int
bt_net_post(bt_net *net, bt_net_fn *fn, void *arg)
{
	return post(net, fn, arg, false);
}

struct sync_op {
	bt_net_fn *fn;
	void	  *arg;
	bt_net	  *net;
	bool	   done;
};

static void
sync_run(void *arg)
{
	struct sync_op *s = arg;

	s->fn(s->arg);
	pthread_mutex_lock(&s->net->mu);
	s->done = true;
	pthread_cond_broadcast(&s->net->cv);
	pthread_mutex_unlock(&s->net->mu);
}

/* run_sync runs fn(arg) on the loop thread and waits for it. */
static int
run_sync(bt_net *net, bt_net_fn *fn, void *arg)
{
	struct sync_op s = { fn, arg, net, false };
	int rc;

	if (bt_net_in_loop(net)) {
		fn(arg);
		return 0;
	}
	rc = post(net, sync_run, &s, false);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&net->mu);
	while (!s.done)
		pthread_cond_wait(&net->cv, &net->mu);
	pthread_mutex_unlock(&net->mu);
	return 0;
}

static void
on_tick(uv_timer_t *t)
{
	bt_net *net = t->data;

	if (net->tick_fn != NULL)
		net->tick_fn(net->tick_arg);
	flush_dirty(net);
}

struct tick_set {
	bt_net	  *net;
	uint64_t   period;
	bt_net_fn *fn;
	void	  *arg;
};

static void
tick_set(void *arg)
{
	struct tick_set *t = arg;

	t->net->tick_fn = t->fn;
	t->net->tick_arg = t->arg;
	t->net->tick_ms = (t->period + 999999) / 1000000;
	atomic_store(&t->net->tick_rest, false);
	uv_timer_stop(&t->net->tick);
	tick_restart(t->net);
}

/* tick_restart starts the tick again as set (loop). */
static void
tick_restart(bt_net *net)
{
	if (net->tick_ms != 0 && net->tick_fn != NULL)
		uv_timer_start(&net->tick, on_tick, net->tick_ms,
		    net->tick_ms);
}

void
bt_net_tick_rest(bt_net *net)
{
	atomic_store(&net->tick_rest, true);
	uv_timer_stop(&net->tick);
}

void
bt_net_tick_wake(bt_net *net)
{
	/* The load first: the common case (ticking) costs no write. */
	if (!atomic_load(&net->tick_rest) ||
	    !atomic_exchange(&net->tick_rest, false))
		return;
	if (bt_net_in_loop(net)) {
		tick_restart(net);
		return;
	}
	/* No allocation, no lock: a flag on_async looks at. */
	atomic_store(&net->tick_kick, true);
	uv_async_send(&net->async);
}

int
bt_net_set_tick(bt_net *net, uint64_t period_ns, bt_net_fn *fn, void *arg)
{
	struct tick_set t = { net, period_ns, fn, arg };

	return run_sync(net, tick_set, &t);
}

const char *
bt_net_path(const bt_net *net)
{
	return net->path;
}

void
bt_net_principal(const bt_net *net, struct bt_principal *out)
{
	*out = net->me;
}

/* ------------------------------------------------------------------ */
/* TLS context and certificate                                          */
/* ------------------------------------------------------------------ */

static void
ssl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, cap, "no further detail");
	else
		ERR_error_string_n(e, buf, cap);
	ERR_clear_error();
}

/*
 * Every certificate is accepted here: it is self-signed by design. What
 * binds the peer is checked after the handshake: the principal of the key
 * in the certificate (proven by TLS 1.3 CertificateVerify) must be the one
 * the peer's credential chain was issued to.
 */
static int
verify_any(int ok, X509_STORE_CTX *store)
{
	return 1;
}

/* tbuf_put appends n bytes to t. Returns 0 or -ENOMEM. */
static int
tbuf_put(struct tbuf *t, const void *d, size_t n)
{
	uint8_t *p;
	size_t cap;

	if (t->off == t->len)
		t->off = t->len = 0;
	if (t->cap - t->len < n && t->off > 0) {
		memmove(t->p, t->p + t->off, t->len - t->off);
		t->len -= t->off;
		t->off = 0;
	}
	if (t->cap - t->len < n) {
		cap = t->cap ? t->cap : 16384;
		while (cap - t->len < n) {
			if (cap > SIZE_MAX / 2)
				return -ENOMEM;
			cap *= 2;
		}
		p = bt_realloc(t->p, cap);
		if (p == NULL)
			return -ENOMEM;
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, d, n);
	t->len += n;
	return 0;
}

static int
tbio_write(BIO *b, const char *d, int n)
{
	BIO_clear_retry_flags(b);
	if (n <= 0)
		return 0;
	return tbuf_put(BIO_get_data(b), d, (size_t)n) == 0 ? n : -1;
}

static int
tbio_read(BIO *b, char *d, int n)
{
	struct tbuf *t = BIO_get_data(b);
	size_t k = t->len - t->off;

	BIO_clear_retry_flags(b);
	if (k == 0) {
		/* Empty means "not yet", never end of file. */
		BIO_set_retry_read(b);
		return -1;
	}
	if (n <= 0)
		return 0;
	if (k > (size_t)n)
		k = (size_t)n;
	memcpy(d, t->p + t->off, k);
	t->off += k;
	if (t->off == t->len)
		t->off = t->len = 0;
	return (int)k;
}

static long
tbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tbuf *t = BIO_get_data(b);

	switch (cmd) {
	case BIO_CTRL_PENDING:
		return (long)(t->len - t->off);
	case BIO_CTRL_FLUSH:
	case BIO_CTRL_DUP:
		return 1;
	case BIO_CTRL_RESET:
		t->off = t->len = 0;
		return 1;
	default:
		return 0;
	}
}

static int
tbio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int
tbio_destroy(BIO *b)
{
	return 1; /* the tbuf belongs to the connection */
}

static BIO_METHOD *
tbio_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "bt tls bytes");

	if (m == NULL)
		return NULL;
	if (BIO_meth_set_write(m, tbio_write) != 1 ||
	    BIO_meth_set_read(m, tbio_read) != 1 ||
	    BIO_meth_set_ctrl(m, tbio_ctrl) != 1 ||
	    BIO_meth_set_create(m, tbio_create) != 1 ||
	    BIO_meth_set_destroy(m, tbio_destroy) != 1) {
		BIO_meth_free(m);
		return NULL;
	}
	return m;
}

static int
make_ctx(bt_net *net, struct bt_diag *diag)
{
	EVP_PKEY *pk = bt_key_evp(net->key);
	char ps[BT_PRINCIPAL_STR_LEN + 1], why[160];
	X509_NAME *name;
	uint64_t serial;
	X509 *x = NULL;
	SSL_CTX *ctx;
	int rc = -EIO;

	ctx = SSL_CTX_new(TLS_method());
	if (ctx == NULL || pk == NULL)
		goto fail;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
		goto fail;
	SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:"
	    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
	SSL_CTX_set_verify(ctx,
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_any);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	x = X509_new();
	if (x == NULL || bt_random(&serial, sizeof(serial)) != 0)
		goto fail;
	X509_set_version(x, 2);
	ASN1_INTEGER_set_uint64(X509_get_serialNumber(x),
	    serial & 0x7fffffffffffffffULL);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
	bt_principal_to_str(&net->me, ps);
	name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
		(const unsigned char *)ps, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, pk) != 1 ||
	    X509_sign(x, pk, NULL) <= 0)
		goto fail;
	if (SSL_CTX_use_certificate(ctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, pk) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	X509_free(x);
	net->ctx = ctx;
	return 0;
fail:
	ssl_reason(why, sizeof(why));
	bt_diag_set(diag, -1, "TLS set-up failed: %s", why);
	X509_free(x);
	SSL_CTX_free(ctx);
	return rc;
}

static int
make_hello(bt_net *net)
{
	struct bt_dbuf payload, frame;
	struct bt_net_frame f = { .kind = BT_NET_KIND_HELLO };
	int rc;

	bt_dbuf_init(&payload, BT_CRED_ENCODED_MAX + 64);
	bt_dbuf_init(&frame, BT_CRED_ENCODED_MAX + BT_PATH_MAX + 128);
	rc = bt_serde_put_uvarint(&payload, 1);
	if (rc == 0)
		rc = bt_serde_put_opt(&payload, net->cred != NULL);
	if (rc == 0 && net->cred != NULL) {
		struct bt_dbuf chain;

		bt_dbuf_init(&chain, BT_CRED_ENCODED_MAX);
		rc = bt_cred_encode(net->cred, &chain);
		if (rc == 0)
			rc = bt_serde_put_bytes(&payload, chain.ptr, chain.len);
		bt_dbuf_fini(&chain);
	}
	if (rc == 0) {
		f.from.ptr = (const uint8_t *)(net->path ? net->path : "");
		f.from.len = net->path ? strlen(net->path) : 0;
		f.payload.ptr = payload.ptr;
		f.payload.len = payload.len;
		rc = bt_net_frame_encode(&frame, &f);
	}
	bt_dbuf_fini(&payload);
	if (rc != 0) {
		bt_dbuf_fini(&frame);
		return rc;
	}
	net->hello = bt_dbuf_take(&frame, &net->hello_len);
	return net->hello ? 0 : -ENOMEM;
}

static void
raise_nofile(void)
{
	struct sigaction sa;
	struct rlimit rl;

	/*
	 * libuv writes to sockets with write(2): a peer that went away would
	 * raise SIGPIPE and kill the process. Ignore it unless the program
	 * installed a handler of its own.
	 */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * Test hook (not API): lets a test build a net whose own chain does not
 * verify, to check that its peers refuse it.
 */
BT_API bool bt__net_test_no_self_check;

static int
check_identity(bt_net *net, struct bt_diag *diag)
{
	struct bt_principal cp;
	int rc;

	if (net->path == NULL && net->cred == NULL)
		return 0;
	if (bt__net_test_no_self_check)
		return 0;
	if (net->path == NULL || net->cred == NULL) {
		bt_diag_set(diag, -1, "a path needs a credential and a "
				      "credential a path");
		return -EINVAL;
	}
	bt_cred_principal(net->cred, &cp);
	if (!bt_principal_equal(&cp, &net->me)) {
		bt_diag_set(diag, -1, "the credential is not issued to the "
				      "key");
		return -EINVAL;
	}
	rc = bt_cred_verify(net->cred, net->path, bt_time_now_s(), diag);
	if (rc != 0)
		return rc == -ENOMEM ? rc : -EINVAL;
	return 0;
}

int
bt_net_new(bt_net **out, const struct bt_net_config *cfg,
    struct bt_diag *diag)
{
	bt_net *net;
	int rc;

	raise_nofile();
	net = bt_zalloc(sizeof(*net));
	if (net == NULL)
		return -ENOMEM;
	net->rd_epfd = -1;
	pthread_mutex_init(&net->mu, NULL);
	pthread_cond_init(&net->cv, NULL);
	net->max_frame = cfg->max_frame ? cfg->max_frame :
	    BT_NET_MAX_FRAME_DEFAULT;
	net->sendq_max = cfg->send_queue_max ? cfg->send_queue_max :
	    BT_NET_SEND_QUEUE_DEFAULT;
	net->hs_ns = cfg->handshake_timeout_ns ? cfg->handshake_timeout_ns :
	    BT_NET_HANDSHAKE_TIMEOUT_DEFAULT;
	net->idle_ns = cfg->idle_timeout_ns;
	net->allow_anon = cfg->allow_anonymous;
	rc = cfg->key ? bt_key_dup(&net->key, cfg->key) :
	    bt_key_generate(&net->key, BT_KEY_ED25519);
	if (rc != 0)
		goto fail;
	bt_key_principal(net->key, &net->me);
	if (cfg->cred != NULL && (rc = bt_cred_dup(&net->cred, cfg->cred)) != 0)
		goto fail;
	if (cfg->path != NULL && (net->path = bt_strdup(cfg->path)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = check_identity(net, diag)) != 0)
		goto fail;
	if ((rc = make_ctx(net, diag)) != 0)
		goto fail;
	if ((net->bmeth = tbio_method()) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = make_hello(net)) != 0)
		goto fail;
	net->rd_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (net->rd_epfd < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = uv_loop_init(&net->loop)) != 0)
		goto fail;
	uv_async_init(&net->loop, &net->async, on_async);
	net->async.data = net;
	uv_timer_init(&net->loop, &net->tick);
	net->tick.data = net;
	uv_unref((uv_handle_t *)&net->tick);
	rc = uv_poll_init(&net->loop, &net->rd_poll, net->rd_epfd);
	if (rc == 0) {
		net->rd_poll.data = net;
		rc = uv_poll_start(&net->rd_poll, UV_READABLE, on_rd_poll);
		if (rc == 0)
			rc = uv_thread_create(&net->thread, loop_main, net);
		if (rc != 0)
			uv_close((uv_handle_t *)&net->rd_poll, NULL);
	}
	if (rc != 0) {
		uv_close((uv_handle_t *)&net->async, NULL);
		uv_close((uv_handle_t *)&net->tick, NULL);
		uv_run(&net->loop, UV_RUN_DEFAULT);
		uv_loop_close(&net->loop);
		goto fail;
	}
	*out = net;
	return 0;
fail:
	if (net->rd_epfd >= 0)
		close(net->rd_epfd);
	BIO_meth_free(net->bmeth);
	SSL_CTX_free(net->ctx);
	bt_free(net->hello);
	bt_free(net->path);
	bt_cred_free(net->cred);
	bt_key_free(net->key);
	pthread_mutex_destroy(&net->mu);
	pthread_cond_destroy(&net->cv);
	bt_free(net);
	return rc;
}

static void
on_listener_closed(uv_handle_t *h)
{
	bt_free(h->data);
}

static void
stop_all(void *arg)
{
	bt_net *net = arg;
	bt_net_listener *l;

	/* Ops posted before stopping (connects) run first, then fail. */
	pthread_mutex_lock(&net->mu);
	net->stopping = true;
	pthread_mutex_unlock(&net->mu);
	run_ops(net);
	while ((l = net->listeners) != NULL) {
		net->listeners = l->next;
		uv_close(&l->u.h, on_listener_closed);
	}
	for (bt_net_conn *c = net->conns, *n; c != NULL; c = n) {
		n = c->next;
		conn_fail(c, BT_ECLOSED, "the net is stopping");
	}
	uv_close((uv_handle_t *)&net->async, NULL);
	uv_close((uv_handle_t *)&net->tick, NULL);
	uv_close((uv_handle_t *)&net->rd_poll, NULL);
}

void
bt_net_free(bt_net *net)
{
	bt_net_conn *c;

	if (net == NULL)
		return;
	if (bt_net_in_loop(net)) {
		bt_log_error("net", "bt_net_free called on the loop thread");
		return;
	}
	if (post(net, stop_all, net, false) != 0) {
		bt_log_error("net", "cannot stop the loop thread");
		return;
	}
	uv_thread_join(&net->thread);
	/* What stop_all missed: ops posted after, and the dirty list. */
	run_ops(net);
	while ((c = net->dirty) != NULL) {
		net->dirty = c->dirty_next;
		bt_net_conn_rele(c);
	}
	uv_loop_close(&net->loop);
	close(net->rd_epfd);
	BIO_meth_free(net->bmeth);
	SSL_CTX_free(net->ctx);
	bt_free(net->hello);
	bt_free(net->path);
	bt_cred_free(net->cred);
	bt_key_free(net->key);
	pthread_mutex_destroy(&net->mu);
	pthread_cond_destroy(&net->cv);
	bt_free(net);
}

/* ------------------------------------------------------------------ */
/* Addresses                                                            */
/* ------------------------------------------------------------------ */

/*
 * parse_addr resolves "unix:PATH", "HOST:PORT" or "[V6]:PORT". For unix
 * sockets *path_out is set (new string), else *ss.
 */
static int
parse_addr(const char *addr, struct sockaddr_storage *ss, char **path_out,
    struct bt_diag *diag)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	const char *colon, *host, *port;
	char hostbuf[256];
	uint64_t pn;
	size_t hl;
	int rc;

	if (strncmp(addr, "unix:", 5) == 0) {
		if (addr[5] == '\0' ||
		    strlen(addr + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			bt_diag_set(diag, 5, "unix socket path empty or too "
					     "long in '%s'", addr);
			return -EINVAL;
		}
		*path_out = bt_strdup(addr + 5);
		return *path_out ? 0 : -ENOMEM;
	}
	colon = strrchr(addr, ':');
	if (colon == NULL || colon == addr) {
		bt_diag_set(diag, 0, "address '%s' is not HOST:PORT or "
				     "unix:PATH", addr);
		return -EINVAL;
	}
	host = addr;
	hl = (size_t)(colon - addr);
	if (addr[0] == '[' && hl >= 2 && addr[hl - 1] == ']') {
		host++;
		hl -= 2;
	}
	if (hl >= sizeof(hostbuf)) {
		bt_diag_set(diag, 0, "host name too long in '%s'", addr);
		return -EINVAL;
	}
	memcpy(hostbuf, host, hl);
	hostbuf[hl] = '\0';
	port = colon + 1;
	if (bt_parse_u64(port, &pn) != 0 || pn > 65535) {
		bt_diag_set(diag, (int64_t)(port - addr), "bad port in '%s'",
		    addr);
		return -EINVAL;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(hostbuf, port, &hints, &res);
	if (rc != 0 || res == NULL) {
		bt_diag_set(diag, 0, "cannot resolve '%s': %s", hostbuf,
		    gai_strerror(rc));
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

static void
format_sa(const struct sockaddr *sa, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		uv_ip4_name(in, ip, sizeof(ip));
		snprintf(out, cap, "%s:%u", ip, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		uv_ip6_name(in6, ip, sizeof(ip));
		snprintf(out, cap, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(out, cap, "?");
	}
}

/* ------------------------------------------------------------------ */
/* Connections                                                          */
/* ------------------------------------------------------------------ */

static bt_net_conn *
conn_alloc(bt_net *net, const struct bt_net_handler *h, bool outgoing)
{
	bt_net_conn *c = bt_zalloc(sizeof(*c));

	if (c == NULL)
		return NULL;
	atomic_init(&c->refs, 1); /* the net's */
	c->net = net;
	c->outgoing = outgoing;
	if (h != NULL)
		c->h = *h;
	pthread_mutex_init(&c->mu, NULL);
	{
		pthread_mutexattr_t a;

		pthread_mutexattr_init(&a);
		pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&c->io_mu, &a);
		pthread_mutex_init(&c->rd_mu, &a);
		pthread_mutexattr_destroy(&a);
	}
	c->fd = -1;
	c->rfd = -1;
	bt_dbuf_init(&c->outq, SIZE_MAX);
	bt_dbuf_init(&c->sending, SIZE_MAX);
	bt_dbuf_init(&c->in, net->max_frame + 2 * READ_CHUNK);
	atomic_init(&c->open, false);
	atomic_init(&c->finished, false);
	c->close_rc = 0;
	return c;
}

void
bt_net_conn_hold(bt_net_conn *c)
{
	atomic_fetch_add(&c->refs, 1);
}

void
bt_net_conn_rele(bt_net_conn *c)
{
	if (c == NULL)
		return;
	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	bt_dbuf_fini(&c->outq);
	bt_dbuf_fini(&c->sending);
	bt_dbuf_fini(&c->in);
	bt_free(c->peer_path);
	bt_free(c->unix_path);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->io_mu);
	pthread_mutex_destroy(&c->rd_mu);
	bt_free(c->tin.p);
	bt_free(c->tout.p);
	bt_free(c);
}

const char *
bt_net_conn_peer_path(const bt_net_conn *c)
{
	return c->peer_path;
}

void
bt_net_conn_peer_principal(const bt_net_conn *c, struct bt_principal *out)
{
	*out = c->peer;
}

const char *
bt_net_conn_addr(const bt_net_conn *c)
{
	return c->addr;
}

bool
bt_net_conn_is_open(const bt_net_conn *c)
{
	return atomic_load(&((bt_net_conn *)c)->open);
}

bool
bt_net_conn_is_outgoing(const bt_net_conn *c)
{
	return c->outgoing;
}

void
bt_net_conn_set_data(bt_net_conn *c, void *data)
{
	atomic_store(&c->data, data);
}

void *
bt_net_conn_data(const bt_net_conn *c)
{
	return atomic_load(&((bt_net_conn *)c)->data);
}

static void
list_add(bt_net_conn *c)
{
	bt_net *net = c->net;

	c->prev = NULL;
	c->next = net->conns;
	if (net->conns != NULL)
		net->conns->prev = c;
	net->conns = c;
}

static void
list_del(bt_net_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (c->net->conns == c)
		c->net->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
}

/* finalize: both handles are closed; tell the user and drop our ref. */
static void
finalize(bt_net_conn *c)
{
	bt_net *net = c->net;

	list_del(c);
	pthread_mutex_lock(&c->mu);
	c->closed = true;
	pthread_mutex_unlock(&c->mu);
	atomic_store(&c->open, false);
	pthread_mutex_lock(&c->io_mu);
	c->fd = -1;
	SSL_free(c->ssl); /* frees both BIOs */
	c->ssl = NULL;
	pthread_mutex_unlock(&c->io_mu);
	c->state = C_CLOSED;
	if ((c->notified || c->outgoing) && c->h.on_close != NULL)
		c->h.on_close(c->h.arg, c, c->close_rc);
	pthread_mutex_lock(&net->mu);
	atomic_store(&c->finished, true);
	pthread_cond_broadcast(&net->cv);
	pthread_mutex_unlock(&net->mu);
	if (c->epolled) {
		c->epolled = false;
		bt_net_conn_rele(c); /* rd_epfd's */
	}
	bt_net_conn_rele(c);
}

static void
on_handle_closed(uv_handle_t *h)
{
	bt_net_conn *c = h->data;

	if (--c->handles == 0)
		finalize(c);
}

static void
teardown(bt_net_conn *c)
{
	if (c->state == C_CLOSED)
		return;
	c->state = C_CLOSED;
	/* No direct writer may touch the socket once libuv closes it. */
	pthread_mutex_lock(&c->io_mu);
	c->fd = -1;
	pthread_mutex_unlock(&c->io_mu);
	if (c->epolled)
		direct_stop(c);
	if (c->handles == 0) {
		finalize(c);
		return;
	}
	if (!uv_is_closing(&c->u.h))
		uv_close(&c->u.h, on_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void
conn_set_error(bt_net_conn *c, int rc, const char *msg)
{
	pthread_mutex_lock(&c->mu);
	c->closed = true;
	pthread_mutex_unlock(&c->mu);
	atomic_store(&c->open, false);
	c->close_rc = rc;
	snprintf(c->close_msg, sizeof(c->close_msg), "%s", msg ? msg : "");
}

static void
conn_fail(bt_net_conn *c, int rc, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (c->state == C_CLOSED)
		return;
	if (c->state == C_CLOSING) {
		teardown(c);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rc != BT_ECLOSED || c->notified)
		bt_log_debug("net", "connection %s closed: %s (%s)", c->addr,
		    msg, bt_strerror(rc));
	conn_set_error(c, rc, msg);
	c->state = C_CLOSING;
	teardown(c);
}

/* ------------------------------------------------------------------ */
/* Sending                                                              */
/* ------------------------------------------------------------------ */

static void
on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	bt_net_conn *c = w->c;
	size_t pending;

	pthread_mutex_lock(&c->mu);
	c->inflight -= w->len;
	pending = c->inflight + c->outq.len;
	pthread_mutex_unlock(&c->mu);
	bt_free(w);
	if (status < 0) {
		if (status != UV_ECANCELED)
			conn_fail(c, uv_rc(status), "write failed: %s",
			    uv_strerror(status));
		return;
	}
	if (c->state == C_OPEN && c->send_off < c->sending.len)
		conn_flush(c); /* the next step of a long queue */
	if (c->paused && pending < c->net->sendq_max / 2 &&
	    c->state <= C_OPEN)
		read_resume(c);
}

/* drain_wbio hands what TLS produced to the socket. */
static void
drain_wbio(bt_net_conn *c)
{
	if (c->state == C_CLOSED || uv_is_closing(&c->u.h))
		return;
	pthread_mutex_lock(&c->io_mu);
	drain_locked(c);
	pthread_mutex_unlock(&c->io_mu);
}

static void
drain_locked(bt_net_conn *c)
{
	struct wreq *w;
	uv_buf_t b;
	char *p;
	int n, rc, sent;

	n = (int)(c->tout.len - c->tout.off);
	p = (char *)c->tout.p + c->tout.off;
	if (n <= 0)
		return;
	/*
	 * Most writes go out at once: try that first, straight from the BIO's
	 * memory, which costs no request, no copy and no epoll change. What
	 * the socket does not take is queued with uv_write (whose queue keeps
	 * the order: uv_try_write refuses while it is not empty).
	 */
	b = uv_buf_init(p, (unsigned)n);
	rc = uv_try_write(&c->u.s, &b, 1);
	sent = rc > 0 ? rc : 0;
	c->last_tx = uv_now(&c->net->loop);
	if (sent == n) {
		c->tout.off = c->tout.len = 0;
		return;
	}
	w = bt_alloc(sizeof(*w) + (size_t)(n - sent));
	if (w == NULL) {
		conn_fail(c, -ENOMEM, "out of memory");
		return;
	}
	w->c = c;
	w->len = (size_t)(n - sent);
	memcpy(w->data, p + sent, w->len);
	c->tout.off = c->tout.len = 0;
	n -= sent;
	b = uv_buf_init(w->data, (unsigned)n);
	pthread_mutex_lock(&c->mu);
	c->inflight += w->len;
	pthread_mutex_unlock(&c->mu);
	rc = uv_write(&w->req, &c->u.s, &b, 1, on_write);
	if (rc != 0) {
		pthread_mutex_lock(&c->mu);
		c->inflight -= w->len;
		pthread_mutex_unlock(&c->mu);
		bt_free(w);
		conn_fail(c, uv_rc(rc), "write failed: %s", uv_strerror(rc));
		return;
	}
	c->last_tx = uv_now(&c->net->loop);
}

static int
ssl_write_all(bt_net_conn *c, const void *p, size_t len)
{
	char why[160];
	int r;

	pthread_mutex_lock(&c->io_mu);
	while (len > 0) {
		int n = len > (1u << 30) ? (1 << 30) : (int)len;

		r = SSL_write(c->ssl, p, n);
		if (r <= 0) {
			ssl_reason(why, sizeof(why));
			pthread_mutex_unlock(&c->io_mu);
			conn_fail(c, -EPROTO, "TLS write failed: %s", why);
			return -EPROTO;
		}
		p = (const uint8_t *)p + r;
		len -= (size_t)r;
	}
	pthread_mutex_unlock(&c->io_mu);
	return 0;
}

/* write_frame_now bypasses the queue: hello, refuse. */
static int
write_frame_now(bt_net_conn *c, const struct bt_net_frame *f)
{
	struct bt_dbuf b;
	int rc;

	bt_dbuf_init(&b, SIZE_MAX);
	rc = bt_net_frame_encode(&b, f);
	if (rc == 0)
		rc = ssl_write_all(c, b.ptr, b.len);
	bt_dbuf_fini(&b);
	if (rc == 0)
		drain_wbio(c);
	return rc;
}

/*
 * outq_recycle gives a flushed queue's memory back to the connection when
 * nothing was queued meanwhile, sparing an allocation per flush (c->mu
 * held). *q is left empty.
 */
static void
outq_recycle(bt_net_conn *c, struct bt_dbuf *q)
{
	if (c->outq.ptr == NULL && q->cap <= 65536) {
		q->len = 0;
		c->outq = *q;
		bt_dbuf_init(q, SIZE_MAX);
	}
}

/*
 * Encrypting runs only a little ahead of the socket: at most
 * FLUSH_BACKLOG bytes of TLS output wait in libuv's write queue, in steps
 * of FLUSH_STEP plaintext bytes; the rest stays plaintext in c->sending
 * and goes on from on_write as the peer reads. Encrypting a burst whole
 * (a publisher that outruns its subscribers queues megabytes) doubled
 * the memory it held, and copied the part the socket refused once more
 * into write requests, most of it into freshly faulted pages.
 */
#define FLUSH_STEP    65536
#define FLUSH_BACKLOG (4 * FLUSH_STEP)
#define FLUSH_KEEP    (4 * FLUSH_STEP) /* bytes of buffer a conn keeps */

/*
 * conn_flush_upto writes queued frames through TLS (loop, OPEN or
 * CLOSING): all of them when all is set (a graceful close, before its
 * close_notify), else as far as the write queue's bound allows.
 */
static void
conn_flush_upto(bt_net_conn *c, bool all)
{
	size_t n, left;
	bool wrote = false;

	if (c->state != C_OPEN && c->state != C_CLOSING)
		return;
	if (c->ssl == NULL)
		return;
	for (;;) {
		pthread_mutex_lock(&c->mu);
		if (c->send_off == c->sending.len && c->outq.len > 0) {
			/*
			 * Swap: the drained buffer takes the next frames, so
			 * a long stream reuses two buffers instead of growing
			 * a fresh one each time (FLUSH_KEEP bounds what an
			 * idle connection keeps).
			 */
			struct bt_dbuf t = c->sending;

			c->sending = c->outq;
			if (t.cap > FLUSH_KEEP) {
				bt_dbuf_fini(&t);
				bt_dbuf_init(&t, SIZE_MAX);
			}
			c->outq = t;
			c->outq.len = 0;
			c->send_off = 0;
			/* The bytes move from the queue to in flight. */
			c->inflight += c->sending.len;
		}
		c->dirty = false;
		pthread_mutex_unlock(&c->mu);
		left = c->sending.len - c->send_off;
		if (left == 0 || c->state == C_CLOSED)
			break;
		if (!all && c->u.s.write_queue_size >= FLUSH_BACKLOG)
			break; /* on_write goes on */
		n = left < FLUSH_STEP ? left : FLUSH_STEP;
		if (ssl_write_all(c, c->sending.ptr + c->send_off, n) != 0)
			return; /* the connection failed */
		c->send_off += n;
		pthread_mutex_lock(&c->mu);
		c->inflight -= n;
		pthread_mutex_unlock(&c->mu);
		drain_wbio(c);
		wrote = true;
	}
	if (c->send_off == c->sending.len) {
		c->send_off = c->sending.len = 0;
		if (c->sending.cap > FLUSH_KEEP / 4) {
			/* A burst's buffer goes; the usual size stays. */
			bt_dbuf_fini(&c->sending);
			bt_dbuf_init(&c->sending, SIZE_MAX);
		}
	}
	/* Drain even with nothing new: a direct writer may have left some. */
	if (!wrote)
		drain_wbio(c);
}

static void
conn_flush(bt_net_conn *c)
{
	conn_flush_upto(c, false);
}

static void
conn_flush_all(bt_net_conn *c)
{
	conn_flush_upto(c, true);
}

static void
flush_dirty(bt_net *net)
{
	bt_net_conn *list, *c;

	pthread_mutex_lock(&net->mu);
	list = net->dirty;
	net->dirty = NULL;
	pthread_mutex_unlock(&net->mu);
	while ((c = list) != NULL) {
		/* Off the list, c may be marked again (and linked anew). */
		pthread_mutex_lock(&net->mu);
		list = c->dirty_next;
		c->dirty_next = NULL;
		c->linked = false;
		pthread_mutex_unlock(&net->mu);
		conn_flush(c);
		bt_net_conn_rele(c);
	}
}

static void
mark_dirty(bt_net_conn *c)
{
	bt_net *net = c->net;
	bool wake;

	/*
	 * c->dirty only spares senders this call; whether c is on the list is
	 * c->linked, so a conn is never linked twice (that would cut the list
	 * and leave the conns after it unflushed).
	 */
	pthread_mutex_lock(&net->mu);
	if (!c->linked) {
		bt_net_conn_hold(c);
		c->dirty_next = net->dirty;
		net->dirty = c;
		c->linked = true;
	}
	pthread_mutex_unlock(&net->mu);
	/* Inside a read callback the queue is flushed when it returns. */
	wake = !(bt_net_in_loop(net) && net->in_read);
	if (wake)
		uv_async_send(&net->async);
}

/*
 * try_direct sends what is queued from the sender's own thread, sparing
 * the loop thread a wake-up (the hand-off that dominates a lockstep call):
 * encrypt under io_mu and write to the socket at once. Only for
 * bt_net_conn_send_now: a stream of messages is cheaper batched by the
 * loop thread (one write for many).
 * It only runs when nothing is in flight through libuv (so the order on
 * the wire holds), the connection is open, and io_mu is free (trylock:
 * a sender never waits for the loop thread). Returns true when the queue
 * went out whole; false when the caller must wake the loop thread to
 * flush (then the queue is untouched, or the unsent rest of the TLS
 * output is left in the write BIO for drain_wbio).
 */
static bool
try_direct(bt_net_conn *c)
{
	struct bt_dbuf q;
	size_t n;
	ssize_t w;
	bool all = false;

	if (bt_net_in_loop(c->net) || !atomic_load(&c->open))
		return false;
	if (pthread_mutex_trylock(&c->io_mu) != 0)
		return false;
	if (c->fd < 0 || c->ssl == NULL || c->tout.len != c->tout.off) {
		pthread_mutex_unlock(&c->io_mu);
		return false;
	}
	pthread_mutex_lock(&c->mu);
	if (c->inflight != 0 || c->closed || c->outq.len == 0) {
		pthread_mutex_unlock(&c->mu);
		pthread_mutex_unlock(&c->io_mu);
		return false;
	}
	q = c->outq;
	bt_dbuf_init(&c->outq, SIZE_MAX);
	c->dirty = false;
	c->inflight += q.len;
	pthread_mutex_unlock(&c->mu);
	for (size_t off = 0; off < q.len;) {
		size_t len = q.len - off;
		int r = SSL_write(c->ssl, q.ptr + off,
		    len > (1u << 30) ? (1 << 30) : (int)len);

		if (r <= 0) {
			/* Left to the loop thread, which fails the conn. */
			ERR_clear_error();
			break;
		}
		off += (size_t)r;
	}
	n = c->tout.len - c->tout.off;
	w = n > 0 ? send(c->fd, c->tout.p + c->tout.off, n,
	    MSG_NOSIGNAL | MSG_DONTWAIT) : 0;
	if (w >= 0 && (size_t)w == n) {
		c->tout.off = c->tout.len = 0;
		all = true;
	} else if (w > 0) {
		c->tout.off += (size_t)w; /* the rest goes out through libuv */
	}
	pthread_mutex_lock(&c->mu);
	c->inflight -= q.len;
	if (!all)
		c->dirty = true; /* the caller wakes the loop thread */
	outq_recycle(c, &q);
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_unlock(&c->io_mu);
	bt_dbuf_fini(&q);
	return all;
}

/* How conn_send hands a frame over: wake the loop thread, write it on the
 * calling thread when it can, or leave it queued (bt_net_conn_push). */
enum send_mode { SEND_QUEUE, SEND_DIRECT, SEND_LATER };

static int conn_send(bt_net_conn *c, const struct bt_net_frame *f,
    enum send_mode mode);

int
bt_net_conn_send(bt_net_conn *c, const struct bt_net_frame *f)
{
	return conn_send(c, f, SEND_QUEUE);
}

int
bt_net_conn_send_now(bt_net_conn *c, const struct bt_net_frame *f)
{
	return conn_send(c, f, SEND_DIRECT);
}

int
bt_net_conn_send_later(bt_net_conn *c, const struct bt_net_frame *f)
{
	return conn_send(c, f, SEND_LATER);
}

void
bt_net_conn_push(bt_net_conn *c)
{
	bool mark = false;

	pthread_mutex_lock(&c->mu);
	if (!c->closed && c->outq.len > 0 && !c->dirty) {
		c->dirty = true;
		mark = true;
	}
	pthread_mutex_unlock(&c->mu);
	if (mark && !try_direct(c))
		mark_dirty(c);
}

static int
conn_send(bt_net_conn *c, const struct bt_net_frame *f, enum send_mode mode)
{
	size_t before;
	bool mark = false;
	int rc;

	pthread_mutex_lock(&c->mu);
	if (c->closed) {
		rc = BT_ECLOSED;
	} else if (c->outq.len + c->inflight > c->net->sendq_max) {
		rc = BT_ELIMIT;
	} else {
		before = c->outq.len;
		rc = bt_net_frame_encode(&c->outq, f);
		if (rc == 0 && c->outq.len - before >
		    c->net->max_frame + BT_SERDE_VARINT_MAX) {
			c->outq.len = before;
			rc = -EMSGSIZE;
		}
		// SEND_LATER leaves the frame for bt_net_conn_push, or for
		// whatever sends next (the queue goes out in order).
		if (rc == 0 && !c->dirty && mode != SEND_LATER) {
			c->dirty = true;
			mark = true;
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (mark && !(mode == SEND_DIRECT && try_direct(c)))
		mark_dirty(c);
	return rc;
}

int
bt__net_conn_send_encoded(bt_net_conn *c, const void *p, size_t n)
{
	bool mark = false;
	int rc;

	if (n > c->net->max_frame + BT_SERDE_VARINT_MAX)
		return -EMSGSIZE;
	pthread_mutex_lock(&c->mu);
	if (c->closed)
		rc = BT_ECLOSED;
	else if (c->outq.len + c->inflight > c->net->sendq_max)
		rc = BT_ELIMIT;
	else
		rc = bt_dbuf_append(&c->outq, p, n);
	if (rc == 0 && !c->dirty) {
		c->dirty = true;
		mark = true;
	}
	pthread_mutex_unlock(&c->mu);
	if (mark)
		mark_dirty(c);
	return rc;
}

/*
 * bt__net_conn_send_raw queues n bytes as they are, inside TLS (test hook
 * for malformed frames; not API).
 */
BT_API int bt__net_conn_send_raw(bt_net_conn *c, const void *p, size_t n);

int
bt__net_conn_send_raw(bt_net_conn *c, const void *p, size_t n)
{
	bool mark = false;
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = c->closed ? BT_ECLOSED : bt_dbuf_append(&c->outq, p, n);
	if (rc == 0 && !c->dirty) {
		c->dirty = true;
		mark = true;
	}
	pthread_mutex_unlock(&c->mu);
	if (mark)
		mark_dirty(c);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Receiving and the hello                                              */
/* ------------------------------------------------------------------ */

static void
conn_open(bt_net_conn *c)
{
	bt_net *net = c->net;

	c->state = C_OPEN;
	pthread_mutex_lock(&c->io_mu);
	{
		uv_os_fd_t fd;

		if (uv_fileno(&c->u.h, &fd) == 0)
			c->fd = fd;
	}
	pthread_mutex_unlock(&c->io_mu);
	atomic_store(&c->open, true);
	uv_timer_stop(&c->timer);
	if (net->idle_ns != 0) {
		uint64_t ms = net->idle_ns / 3000000 + 1;

		uv_timer_start(&c->timer, on_timer, ms, ms);
	}
	c->notified = true;
	if (c->h.on_open != NULL)
		c->h.on_open(c->h.arg, c);
	pthread_mutex_lock(&net->mu);
	pthread_cond_broadcast(&net->cv);
	pthread_mutex_unlock(&net->mu);
	conn_flush(c);
}

/* refuse tells the peer why, then closes gracefully. */
static void
refuse(bt_net_conn *c, int rc, const char *why)
{
	struct bt_net_frame f = { .kind = BT_NET_KIND_REFUSE };
	struct bt_dbuf p;

	bt_log_warn("net", "refusing peer %s: %s", c->addr, why);
	bt_dbuf_init(&p, 1024);
	if (bt_serde_put_svarint(&p, rc) == 0 &&
	    bt_serde_put_bytes(&p, why, strnlen(why, 512)) == 0) {
		f.payload.ptr = p.ptr;
		f.payload.len = p.len;
		(void)write_frame_now(c, &f);
	}
	bt_dbuf_fini(&p);
	conn_shutdown(c, rc, why);
}

static void
on_refused(bt_net_conn *c, const struct bt_net_frame *f)
{
	struct bt_serde_dec d;
	struct bt_buf why = { NULL, 0 };
	int64_t code = BT_ECLOSED;
	char msg[200];

	bt_serde_dec_init(&d, f->payload.ptr, f->payload.len, NULL, NULL);
	if (bt_serde_get_svarint(&d, &code) != 0 || code >= 0 ||
	    code < INT32_MIN)
		code = -ECONNREFUSED;
	(void)bt_serde_get_bytes(&d, &why);
	snprintf(msg, sizeof(msg), "refused by peer: %.*s",
	    (int)(why.len > 180 ? 180 : why.len),
	    why.ptr ? (const char *)why.ptr : "");
	bt_log_warn("net", "%s", msg);
	conn_fail(c, (int)code, "%s", msg);
}

static int
hello_verify(bt_net_conn *c, const struct bt_net_frame *f)
{
	bt_net *net = c->net;
	struct bt_principal leaf;
	struct bt_diag diag;
	struct bt_buf chain;
	bt_cred *cred = NULL;
	char why[400], *path = NULL;
	bool has;
	int rc;

	bt_diag_clear(&diag);
	rc = bt_net_hello_decode(f->payload.ptr, f->payload.len, &has, &chain,
	    &diag);
	if (rc != 0) {
		snprintf(why, sizeof(why), "malformed hello: %s", diag.msg);
		goto refused;
	}
	if (f->from.len > 0) {
		path = bt_strndup((const char *)f->from.ptr, f->from.len);
		if (path == NULL) {
			rc = -ENOMEM;
			snprintf(why, sizeof(why), "out of memory");
			goto refused;
		}
	}
	if (!has) {
		if (path != NULL) {
			rc = BT_EPERM;
			snprintf(why, sizeof(why), "hello claims %.150s "
			    "without a credential", path);
			goto refused;
		}
		if (!net->allow_anon) {
			rc = BT_EPERM;
			snprintf(why, sizeof(why), "anonymous peers are not "
			    "accepted here");
			goto refused;
		}
		goto open;
	}
	if (path == NULL) {
		rc = BT_EPERM;
		snprintf(why, sizeof(why), "hello has a credential but "
		    "claims no path");
		goto refused;
	}
	rc = bt_cred_decode(&cred, chain.ptr, chain.len, &diag);
	if (rc != 0) {
		snprintf(why, sizeof(why), "malformed credential: %s",
		    diag.msg);
		goto refused;
	}
	bt_diag_clear(&diag);
	rc = bt_cred_verify(cred, path, bt_time_now_s(), &diag);
	if (rc != 0) {
		snprintf(why, sizeof(why), "%s: credential for %.100s does "
		    "not verify: %.140s", bt_strerror(rc), path,
		    diag.msg[0] ? diag.msg : bt_strerror(rc));
		goto refused;
	}
	bt_cred_principal(cred, &leaf);
	if (!bt_principal_equal(&leaf, &c->peer)) {
		rc = BT_EPERM;
		snprintf(why, sizeof(why), "the credential for %.100s is not "
		    "issued to the peer's TLS key", path);
		goto refused;
	}
open:
	bt_cred_free(cred);
	c->peer_path = path;
	if (!c->outgoing) {
		/* The server proves itself once the client has. */
		if (ssl_write_all(c, net->hello, net->hello_len) != 0)
			return -EPROTO;
		drain_wbio(c);
		if (c->state == C_CLOSED)
			return -EPROTO;
	}
	return 0;
refused:
	bt_cred_free(cred);
	bt_free(path);
	refuse(c, rc, why);
	return rc;
}

static void
dispatch(bt_net_conn *c, const struct bt_net_frame *f)
{
	switch (f->kind) {
	case BT_NET_KIND_HELLO:
		if (c->state != C_HELLO) {
			conn_fail(c, BT_ECORRUPT, "a second hello");
			return;
		}
		if (hello_verify(c, f) == 0)
			conn_open(c);
		return;
	case BT_NET_KIND_REFUSE:
		on_refused(c, f);
		return;
	case BT_NET_KIND_PING:
		if (f->stream == 0 && c->state == C_OPEN)
			(void)bt_net_conn_send(c, &(struct bt_net_frame) {
			    .kind = BT_NET_KIND_PING, .stream = 1 });
		return;
	default:
		break;
	}
	if (f->kind < BT_NET_KIND_USER)
		return; /* reserved kinds this version does not know */
	if (c->state != C_OPEN) {
		refuse(c, BT_ECORRUPT, "a frame before the hello");
		return;
	}
	if (c->h.on_frame != NULL)
		c->h.on_frame(c->h.arg, c, f);
}

static int
parse_frames(bt_net_conn *c)
{
	struct bt_net_frame f;
	struct bt_diag diag;
	size_t off = 0, hdr, body;
	int rc = 0;

	while (c->state == C_HELLO || c->state == C_OPEN) {
		bt_diag_clear(&diag);
		rc = bt_net_frame_split(c->in.ptr + off, c->in.len - off,
		    c->net->max_frame, &hdr, &body, &diag);
		if (rc == -EAGAIN) {
			rc = 0;
			break;
		}
		if (rc == 0)
			rc = bt_net_frame_decode(&f, c->in.ptr + off + hdr,
			    body, &diag);
		if (rc != 0) {
			bt_log_warn("net", "closing %s: %s", c->addr,
			    diag.msg);
			conn_fail(c, rc, "%s", diag.msg);
			return rc;
		}
		dispatch(c, &f);
		off += hdr + body;
	}
	if (c->state == C_CLOSED)
		return BT_ECLOSED;
	if (off > 0) {
		memmove(c->in.ptr, c->in.ptr + off, c->in.len - off);
		c->in.len -= off;
	}
	return rc;
}

/* after_handshake binds the TLS key and sends our hello (client first). */
static int
after_handshake(bt_net_conn *c)
{
	unsigned char raw[64];
	size_t rl = sizeof(raw);
	EVP_PKEY *pk;
	X509 *x;
	bool bad;

	pthread_mutex_lock(&c->io_mu);
	x = SSL_get0_peer_certificate(c->ssl);
	pk = x ? X509_get0_pubkey(x) : NULL;
	bad = pk == NULL || EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(pk, raw, &rl) != 1 ||
	    bt_principal_of(&c->peer, BT_KEY_ED25519, raw, rl) != 0;
	pthread_mutex_unlock(&c->io_mu);
	if (bad) {
		refuse(c, BT_EALG, "the peer's certificate holds no Ed25519 "
		    "key");
		return BT_EALG;
	}
	c->state = C_HELLO;
	if (c->outgoing) {
		if (ssl_write_all(c, c->net->hello, c->net->hello_len) != 0)
			return -EPROTO;
		drain_wbio(c);
	}
	return 0;
}

/*
 * ssl_pull decrypts one record's worth of what the read BIO holds into
 * c->in (rd_mu held; io_mu taken here). Returns 2 when it added bytes and
 * TLS holds more, 1 when it added bytes and holds no more (so the SSL_read
 * that would only say "want read" is spared), 0 when TLS needs more
 * input; BT_ELIMIT when c->in is full, BT_ECLOSED for the peer's
 * close_notify, -EPROTO for a TLS error (why filled).
 *
 * io_mu is held only while TLS runs, not while frames are dispatched: a
 * caller woken by on_frame may then write its next request directly
 * (try_direct) instead of finding the lock taken and waking the loop
 * thread to do it.
 */
static int
ssl_pull(bt_net_conn *c, char *why, size_t cap)
{
	bool more = false;
	int r, e;

	if (bt_dbuf_reserve(&c->in, READ_CHUNK) != 0)
		return BT_ELIMIT;
	pthread_mutex_lock(&c->io_mu);
	if (c->ssl == NULL) {
		pthread_mutex_unlock(&c->io_mu);
		return BT_ECLOSED;
	}
	r = SSL_read(c->ssl, c->in.ptr + c->in.len, READ_CHUNK);
	e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
	if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ &&
	    e != SSL_ERROR_ZERO_RETURN)
		ssl_reason(why, cap);
	if (r > 0)
		more = SSL_pending(c->ssl) > 0 || c->tin.len > c->tin.off;
	pthread_mutex_unlock(&c->io_mu);
	if (r > 0) {
		c->in.len += (size_t)r;
		return more ? 2 : 1;
	}
	if (e == SSL_ERROR_WANT_READ)
		return 0;
	if (e == SSL_ERROR_ZERO_RETURN)
		return BT_ECLOSED;
	return -EPROTO;
}

static void
pump(bt_net_conn *c)
{
	char why[160] = "";
	int r, e;

	if (c->state == C_HANDSHAKE) {
		pthread_mutex_lock(&c->io_mu);
		r = SSL_do_handshake(c->ssl);
		e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
		if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ)
			ssl_reason(why, sizeof(why));
		pthread_mutex_unlock(&c->io_mu);
		drain_wbio(c);
		if (r != 1) {
			if (e == SSL_ERROR_WANT_READ)
				return;
			bt_log_info("net", "TLS handshake with %s failed: %s",
			    c->addr, why);
			conn_fail(c, -EPROTO, "TLS handshake failed: %s", why);
			return;
		}
		if (after_handshake(c) != 0)
			return;
	}
	while (c->state == C_HELLO || c->state == C_OPEN) {
		r = ssl_pull(c, why, sizeof(why));
		if (r > 0) {
			if (parse_frames(c) != 0)
				return;
			if (r == 1)
				break;
			continue;
		}
		if (r == 0)
			break;
		if (r == BT_ELIMIT)
			conn_fail(c, BT_ELIMIT, "receive buffer full");
		else if (r == BT_ECLOSED)
			conn_fail(c, BT_ECLOSED, "the peer closed");
		else
			conn_fail(c, -EPROTO, "TLS error: %s", why);
		return;
	}
	if (c->state != C_CLOSED)
		drain_wbio(c);
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	bt_net_conn *c = h->data;

	/* Reads are consumed before the next one: one buffer per loop. */
	buf->base = c->net->rdbuf;
	buf->len = sizeof(c->net->rdbuf);
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	bt_net_conn *c = s->data;
	bt_net *net = c->net;
	int rc;

	if (n < 0) {
		if (n == UV_EOF)
			conn_fail(c, BT_ECLOSED, "the peer closed");
		else
			conn_fail(c, uv_rc((int)n), "read failed: %s",
			    uv_strerror((int)n));
		return;
	}
	if (n == 0)
		return;
	if (c->state == C_CLOSING)
		return; /* draining a refused peer: ignore what it sends */
	c->last_rx = uv_now(&net->loop);
	pthread_mutex_lock(&c->io_mu);
	rc = c->ssl != NULL ? tbuf_put(&c->tin, buf->base, (size_t)n) :
	    BT_ECLOSED;
	pthread_mutex_unlock(&c->io_mu);
	if (rc != 0) {
		conn_fail(c, -ENOMEM, "TLS buffer write failed");
		return;
	}
	net->in_read = true;
	bt_net_conn_hold(c);
	/*
	 * Never contended: a caller takes rd_mu only once the connection
	 * reads directly, which libuv then no longer does (direct_run
	 * switches on the loop thread, between two reads).
	 */
	pthread_mutex_lock(&c->rd_mu);
	pump(c);
	maybe_pause(c);
	pthread_mutex_unlock(&c->rd_mu);
	net->in_read = false;
	flush_dirty(net);
	bt_net_conn_rele(c);
}

/* ------------------------------------------------------------------ */
/* Direct reading                                                       */
/* ------------------------------------------------------------------ */

/*
 * An outgoing connection, once open, is read through net->rd_epfd (level
 * triggered, watched by the loop through rd_poll) instead of libuv's
 * stream reads: so a caller waiting for an answer may read the socket
 * itself (bt__net_conn_await) and the loop thread be kept from reading it
 * meanwhile, which libuv cannot do from another thread. Whoever reads
 * holds rd_mu; a caller stops the loop's watch while it reads (rd_arm 0)
 * and restores it before it lets go, so the loop thread is not woken by
 * the bytes the caller takes. The socket is closed only after teardown
 * held rd_mu (direct_stop), so a caller never reads a recycled fd.
 */

static void
rd_arm(bt_net_conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	(void)epoll_ctl(c->net->rd_epfd, EPOLL_CTL_MOD, c->rfd, &ev);
}

/*
 * direct_start moves an open outgoing connection to direct reading (loop,
 * rd_mu held). Only connections that a caller waited on are moved
 * (direct_run, asked for by bt__net_conn_await): the others, read only by
 * the loop thread, are cheaper read by libuv (no second epoll_wait).
 */
static void
direct_start(bt_net_conn *c)
{
	bt_net *net = c->net;
	/* A paused connection is armed by read_resume. */
	struct epoll_event ev = { .events = c->paused ? 0 : EPOLLIN,
		.data.ptr = c };
	uv_os_fd_t fd;

	if (net->rd_epfd < 0 || uv_fileno(&c->u.h, &fd) != 0)
		return;
	if (epoll_ctl(net->rd_epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		return; /* libuv goes on reading it */
	if (!c->paused)
		uv_read_stop(&c->u.s);
	bt_net_conn_hold(c); /* rd_epfd's, until finalize */
	c->epolled = true;
	pthread_mutex_lock(&c->rd_mu);
	c->rfd = fd;
	atomic_store(&c->direct, true);
	pthread_mutex_unlock(&c->rd_mu);
}

/*
 * direct_stop (teardown, loop): no reader may use the socket once it is
 * closed. A caller blocked in poll is woken by shutting the socket down;
 * then rd_mu is waited for, which a caller holds only for as long as it
 * takes to read, decrypt and dispatch what it already has.
 */
static void
direct_stop(bt_net_conn *c)
{
	/* With rd_busy (the caller's side): one of the two sees the other. */
	atomic_store(&c->direct, false);
	if (atomic_load(&c->rd_busy) && c->rfd >= 0)
		(void)shutdown(c->rfd, SHUT_RDWR);
	pthread_mutex_lock(&c->rd_mu);
	if (c->rfd >= 0)
		(void)epoll_ctl(c->net->rd_epfd, EPOLL_CTL_DEL, c->rfd, NULL);
	c->rfd = -1;
	pthread_mutex_unlock(&c->rd_mu);
}

/* resume_locked gives reading back after back-pressure (loop, rd_mu). */
static void
resume_locked(bt_net_conn *c)
{
	if (!atomic_exchange(&c->resume_want, false) || !c->paused)
		return;
	c->paused = false;
	if (atomic_load(&c->direct))
		rd_arm(c, EPOLLIN);
}

/* maybe_pause stops reading a peer we cannot send to fast enough. */
static void
maybe_pause(bt_net_conn *c)
{
	size_t pending;

	if (c->state != C_OPEN || c->paused)
		return;
	pthread_mutex_lock(&c->mu);
	pending = c->inflight + c->outq.len;
	pthread_mutex_unlock(&c->mu);
	if (pending <= c->net->sendq_max)
		return;
	c->paused = true;
	if (c->epolled)
		rd_arm(c, 0);
	else
		uv_read_stop(&c->u.s);
}

static void
read_resume(bt_net_conn *c)
{
	if (!c->epolled) {
		c->paused = false;
		uv_read_start(&c->u.s, alloc_cb, on_read);
		return;
	}
	/* A caller holding rd_mu sees resume_want when it lets go. */
	atomic_store(&c->resume_want, true);
	if (pthread_mutex_trylock(&c->rd_mu) == 0) {
		resume_locked(c);
		pthread_mutex_unlock(&c->rd_mu);
	}
}

/* conn_rd reads a direct connection on the loop thread. */
static void
conn_rd(bt_net_conn *c)
{
	bt_net *net = c->net;
	ssize_t n;
	int rc;

	if (c->state == C_CLOSED)
		return;
	if (pthread_mutex_trylock(&c->rd_mu) != 0)
		return; /* a caller reads: it re-arms or hands over */
	resume_locked(c);
	if (c->rd_err != 0) {
		rc = c->rd_err;
		c->rd_err = 0;
		conn_fail(c, rc, "%s", c->rd_why);
		goto out;
	}
	if (c->rd_left) {
		/* What a caller handed back: frames first, then TLS. */
		c->rd_left = false;
		if (c->state == C_OPEN && parse_frames(c) == 0)
			pump(c);
	}
	while (c->state == C_OPEN || c->state == C_CLOSING) {
		n = read(c->rfd, net->rdbuf, sizeof(net->rdbuf));
		if (n > 0) {
			c->last_rx = uv_now(&net->loop);
			if (c->state == C_OPEN) {
				pthread_mutex_lock(&c->io_mu);
				rc = c->ssl != NULL ? tbuf_put(&c->tin,
				    net->rdbuf, (size_t)n) : BT_ECLOSED;
				pthread_mutex_unlock(&c->io_mu);
				if (rc != 0) {
					conn_fail(c, -ENOMEM, "TLS buffer write "
					    "failed");
					break;
				}
				pump(c);
			} /* else draining a closing peer: dropped */
			if ((size_t)n < sizeof(net->rdbuf))
				break;
			continue;
		}
		if (n == 0) {
			conn_fail(c, BT_ECLOSED, "the peer closed");
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_fail(c, -errno, "read failed: %s",
			    strerror(errno));
		break;
	}
	maybe_pause(c);
out:
	pthread_mutex_unlock(&c->rd_mu);
}

static void
on_rd_poll(uv_poll_t *h, int status, int events)
{
	bt_net *net = h->data;
	struct epoll_event ev[64];
	int n;

	n = epoll_wait(net->rd_epfd, ev, 64, 0);
	/*
	 * A connection's memory outlives this batch: rd_epfd's reference is
	 * dropped in finalize, which runs from a close callback, later.
	 */
	net->in_read = true;
	for (int i = 0; i < n; i++)
		conn_rd(ev[i].data.ptr);
	net->in_read = false;
	flush_dirty(net);
}

static void
direct_run(void *arg)
{
	bt_net_conn *c = arg;

	if (c->state == C_OPEN && c->outgoing && !c->epolled) {
		/* Not contended: callers take rd_mu only once it is direct. */
		pthread_mutex_lock(&c->rd_mu);
		direct_start(c);
		pthread_mutex_unlock(&c->rd_mu);
	}
	bt_net_conn_rele(c);
}

static void
kick_run(void *arg)
{
	bt_net_conn *c = arg;
	bt_net *net = c->net;

	net->in_read = true;
	conn_rd(c);
	net->in_read = false;
	flush_dirty(net);
	bt_net_conn_rele(c);
}

/*
 * caller_drain (a caller, rd_mu held) passes the whole frames in c->in of
 * the kinds asked for to on_frame and decrypts what TLS holds (fresh: new
 * bytes went to the read BIO). Returns 0 when it needs more bytes; 1 when
 * the rest is for the loop thread: a frame of another kind (left first in
 * c->in), a malformed one (the loop finds it again and fails the
 * connection), or a TLS fault (rd_err).
 */
static int
caller_drain(bt_net_conn *c, uint64_t kinds, bool fresh)
{
	struct bt_net_frame f;
	size_t off, hdr, body;
	int pulled = fresh ? 2 : 1, r, stop;

	for (;;) {
		off = 0;
		stop = 0;
		while (c->in.len > off) {
			r = bt_net_frame_split(c->in.ptr + off, c->in.len - off,
			    c->net->max_frame, &hdr, &body, NULL);
			if (r == -EAGAIN)
				break;
			if (r == 0)
				r = bt_net_frame_decode(&f,
				    c->in.ptr + off + hdr, body, NULL);
			if (r != 0 || f.kind >= 64 ||
			    (kinds & (1ULL << f.kind)) == 0 ||
			    !atomic_load(&c->open)) {
				stop = 1;
				break;
			}
			if (c->h.on_frame != NULL)
				c->h.on_frame(c->h.arg, c, &f);
			off += hdr + body;
		}
		if (off > 0) {
			memmove(c->in.ptr, c->in.ptr + off, c->in.len - off);
			c->in.len -= off;
		}
		if (stop)
			return 1;
		if (pulled == 1)
			return 0; /* TLS holds nothing more */
		pulled = ssl_pull(c, c->rd_why, sizeof(c->rd_why));
		if (pulled == 0)
			return 0;
		if (pulled < 0) {
			c->rd_err = pulled;
			if (pulled == BT_ECLOSED)
				snprintf(c->rd_why, sizeof(c->rd_why),
				    "the peer closed");
			else if (pulled == BT_ELIMIT)
				snprintf(c->rd_why, sizeof(c->rd_why),
				    "receive buffer full");
			return 1;
		}
	}
}

bool
bt__net_conn_await(bt_net_conn *c, atomic_int *word, int done,
    uint64_t deadline, uint64_t kinds)
{
	bt_net *net = c->net;
	char buf[READ_CHUNK];
	struct pollfd pfd;
	struct timespec ts;
	bool left = false, fresh = false, skip_poll = false;
	uint64_t now;
	ssize_t n;
	int fd, r;

	if (atomic_load(word) == done)
		return true;
	if (bt_net_in_loop(net))
		return false;
	if (!atomic_load(&c->direct)) {
		/* The first wait asks for it; this one sleeps as usual. */
		if (c->outgoing && !atomic_exchange(&c->want_direct, true)) {
			bt_net_conn_hold(c);
			if (post(net, direct_run, c, false) != 0)
				bt_net_conn_rele(c);
		}
		return false;
	}
	if (pthread_mutex_trylock(&c->rd_mu) != 0)
		return false; /* the loop thread reads: it will hand over */
	atomic_store(&c->rd_busy, true); /* before direct: see direct_stop */
	if (!atomic_load(&c->direct) || c->rd_left || c->rd_err != 0) {
		/*
		 * What was handed back waits for the loop thread; whoever
		 * lets go of rd_mu with it pending makes sure the loop comes
		 * (its own kick may have found the lock held by us).
		 */
		left = c->rd_left || c->rd_err != 0;
		atomic_store(&c->rd_busy, false);
		pthread_mutex_unlock(&c->rd_mu);
		goto out;
	}
	fd = c->rfd;
	rd_arm(c, 0);
	for (;;) {
		if (caller_drain(c, kinds, fresh) != 0) {
			left = true;
			break;
		}
		fresh = false;
		if (atomic_load(word) == done)
			break;
		if (!atomic_load(&c->direct) || !atomic_load(&c->open)) {
			left = true;
			break;
		}
		if (!skip_poll) {
			/*
			 * The answer is rarely there already: wait first
			 * rather than spend a read on EAGAIN.
			 */
			now = bt_time_mono_ns();
			if (now >= deadline)
				break;
			now = deadline - now;
			ts.tv_sec = (time_t)(now / 1000000000ULL);
			ts.tv_nsec = (long)(now % 1000000000ULL);
			pfd.fd = fd;
			pfd.events = POLLIN;
			pfd.revents = 0;
			if (ppoll(&pfd, 1, &ts, NULL) == 0)
				continue; /* the deadline check says */
		}
		skip_poll = false;
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			pthread_mutex_lock(&c->io_mu);
			r = c->ssl != NULL ? tbuf_put(&c->tin, buf, (size_t)n) :
			    BT_ECLOSED;
			pthread_mutex_unlock(&c->io_mu);
			if (r != 0) {
				c->rd_err = -ENOMEM;
				snprintf(c->rd_why, sizeof(c->rd_why),
				    "TLS buffer write failed");
				left = true;
				break;
			}
			atomic_store(&c->rx_seen, true);
			fresh = true;
			/* A full read may have left more: read again first. */
			skip_poll = (size_t)n == sizeof(buf);
			continue;
		}
		if (n == 0 || (errno != EINTR && errno != EAGAIN &&
		    errno != EWOULDBLOCK)) {
			c->rd_err = n == 0 ? BT_ECLOSED : -errno;
			snprintf(c->rd_why, sizeof(c->rd_why), "%s",
			    n == 0 ? "the peer closed" : strerror(errno));
			left = true;
			break;
		}
		skip_poll = errno == EINTR;
	}
	atomic_store(&c->rd_busy, false);
	if (left)
		c->rd_left = true;
	/* Under rd_mu: teardown closes the socket only after it held it. */
	if (atomic_load(&c->direct) && !c->paused)
		rd_arm(c, EPOLLIN);
	pthread_mutex_unlock(&c->rd_mu);
out:
	if (left || atomic_load(&c->resume_want)) {
		bt_net_conn_hold(c);
		if (post(net, kick_run, c, false) != 0)
			bt_net_conn_rele(c);
	}
	return atomic_load(word) == done;
}

static void
on_timer(uv_timer_t *t)
{
	bt_net_conn *c = t->data;
	bt_net *net = c->net;
	uint64_t now = uv_now(&net->loop), idle_ms = net->idle_ns / 1000000;

	switch (c->state) {
	case C_CONNECTING:
	case C_HANDSHAKE:
	case C_HELLO:
		conn_fail(c, -ETIMEDOUT, "handshake and hello took too long");
		return;
	case C_CLOSING:
		teardown(c);
		return;
	case C_OPEN:
		if (atomic_exchange(&c->rx_seen, false))
			c->last_rx = now; /* a caller read from the peer */
		if (idle_ms == 0)
			return;
		if (now - c->last_rx > idle_ms) {
			conn_fail(c, -ETIMEDOUT, "idle for %llu ms",
			    (unsigned long long)(now - c->last_rx));
			return;
		}
		/*
		 * Ask for a sign of life when the peer has been quiet, and
		 * keep our side alive when we have been: a PING with stream 0
		 * is answered with a PING with stream 1, so a peer that never
		 * times out (idle 0) still keeps us from closing it.
		 */
		if (now - c->last_rx >= idle_ms / 3 ||
		    now - c->last_tx >= idle_ms / 3)
			(void)bt_net_conn_send(c, &(struct bt_net_frame) {
			    .kind = BT_NET_KIND_PING });
		return;
	default:
		return;
	}
}

/* conn_start begins TLS on a connected stream (loop). */
static void
conn_start(bt_net_conn *c)
{
	bt_net *net = c->net;

	c->ssl = SSL_new(net->ctx);
	c->rbio = BIO_new(net->bmeth);
	c->wbio = BIO_new(net->bmeth);
	if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		conn_fail(c, -ENOMEM, "out of memory for TLS");
		return;
	}
	BIO_set_data(c->rbio, &c->tin);
	BIO_set_data(c->wbio, &c->tout);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	if (c->outgoing)
		SSL_set_connect_state(c->ssl);
	else
		SSL_set_accept_state(c->ssl);
	c->state = C_HANDSHAKE;
	c->last_rx = c->last_tx = uv_now(&net->loop);
	uv_read_start(&c->u.s, alloc_cb, on_read);
	if (c->outgoing)
		pump(c);
}

/* conn_shutdown closes gracefully: queued frames, close_notify, FIN. */
static void
on_shutdown(uv_shutdown_t *req, int status)
{
	bt_net_conn *c = req->data;

	teardown(c);
}

static void
conn_shutdown(bt_net_conn *c, int rc, const char *msg)
{
	if (c->state >= C_CLOSING)
		return;
	if (c->state == C_OPEN)
		conn_flush_all(c);
	conn_set_error(c, rc, msg);
	if (c->ssl != NULL && c->state >= C_HELLO) {
		pthread_mutex_lock(&c->io_mu);
		(void)SSL_shutdown(c->ssl);
		pthread_mutex_unlock(&c->io_mu);
		drain_wbio(c);
		if (c->state == C_CLOSED)
			return;
	}
	c->state = C_CLOSING;
	/* Bound the wait for a peer that does not read. */
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, on_timer, 2000, 0);
	c->sreq.data = c;
	if (uv_shutdown(&c->sreq, &c->u.s, on_shutdown) != 0)
		teardown(c);
}

static void
close_op(void *arg)
{
	bt_net_conn *c = arg;

	if (c->state == C_NEW) {
		conn_set_error(c, 0, "closed"); /* connect_run sees it */
	} else if (c->state < C_CLOSING) {
		conn_shutdown(c, 0, "closed");
	}
	bt_net_conn_rele(c);
}

void
bt_net_conn_close(bt_net_conn *c)
{
	bool was;

	pthread_mutex_lock(&c->mu);
	was = c->closed;
	pthread_mutex_unlock(&c->mu);
	if (was)
		return;
	bt_net_conn_hold(c);
	if (bt_net_in_loop(c->net)) {
		close_op(c);
		return;
	}
	if (post(c->net, close_op, c, false) != 0)
		bt_net_conn_rele(c);
}

/* ------------------------------------------------------------------ */
/* Listeners                                                            */
/* ------------------------------------------------------------------ */

static int
stream_init(bt_net *net, uv_handle_t *h, bool is_unix)
{
	if (is_unix)
		return uv_pipe_init(&net->loop, (uv_pipe_t *)h, 0);
	return uv_tcp_init(&net->loop, (uv_tcp_t *)h);
}

static void
on_connection(uv_stream_t *server, int status)
{
	bt_net_listener *l = server->data;
	bt_net *net = l->net;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	bt_net_conn *c;

	if (status < 0) {
		bt_log_warn("net", "accept on %s: %s", l->addr,
		    uv_strerror(status));
		return;
	}
	c = conn_alloc(net, &l->h, false);
	if (c == NULL)
		return;
	c->is_unix = l->is_unix;
	if (stream_init(net, &c->u.h, l->is_unix) != 0) {
		bt_net_conn_rele(c);
		return;
	}
	c->u.h.data = c;
	c->handles = 1;
	uv_timer_init(&net->loop, &c->timer);
	c->timer.data = c;
	c->handles = 2;
	list_add(c);
	c->state = C_HANDSHAKE;
	if (uv_accept(server, &c->u.s) != 0) {
		conn_fail(c, -EIO, "accept failed");
		return;
	}
	if (l->is_unix) {
		snprintf(c->addr, sizeof(c->addr), "%s", l->addr);
	} else {
		uv_tcp_nodelay(&c->u.tcp, 1);
		if (uv_tcp_getpeername(&c->u.tcp, (struct sockaddr *)&ss,
			&len) == 0)
			format_sa((struct sockaddr *)&ss, c->addr,
			    sizeof(c->addr));
	}
	uv_timer_start(&c->timer, on_timer, net->hs_ns / 1000000 + 1, 0);
	conn_start(c);
}

struct listen_op {
	bt_net			    *net;
	const char		    *addr;
	const struct bt_net_handler *h;
	struct sockaddr_storage	     ss;
	char			    *path;
	bt_net_listener		    *l;
	struct bt_diag		    *diag;
	int			     rc;
};

static void
listen_run(void *arg)
{
	struct listen_op *o = arg;
	bt_net_listener *l;
	struct sockaddr_storage ss;
	int len = sizeof(ss), rc;
	struct stat st;

	l = bt_zalloc(sizeof(*l));
	if (l == NULL) {
		o->rc = -ENOMEM;
		return;
	}
	l->net = o->net;
	if (o->h != NULL)
		l->h = *o->h;
	l->is_unix = o->path != NULL;
	rc = stream_init(o->net, &l->u.h, l->is_unix);
	if (rc != 0) {
		bt_free(l);
		o->rc = rc;
		return;
	}
	l->u.h.data = l;
	if (l->is_unix) {
		/* A socket file left by a dead node is replaced. */
		if (lstat(o->path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(o->path);
		rc = uv_pipe_bind(&l->u.pipe, o->path);
		snprintf(l->addr, sizeof(l->addr), "unix:%s", o->path);
	} else {
		rc = uv_tcp_bind(&l->u.tcp, (struct sockaddr *)&o->ss, 0);
	}
	if (rc == 0)
		rc = uv_listen(&l->u.s, 4096, on_connection);
	if (rc == 0 && !l->is_unix) {
		rc = uv_tcp_getsockname(&l->u.tcp, (struct sockaddr *)&ss,
		    &len);
		if (rc == 0)
			format_sa((struct sockaddr *)&ss, l->addr,
			    sizeof(l->addr));
	}
	if (rc != 0) {
		bt_diag_set(o->diag, -1, "cannot listen on %s: %s", o->addr,
		    uv_strerror(rc));
		uv_close(&l->u.h, on_listener_closed);
		o->rc = uv_rc(rc);
		return;
	}
	l->next = o->net->listeners;
	o->net->listeners = l;
	o->l = l;
	o->rc = 0;
}

int
bt_net_listen(bt_net *net, const char *addr, const struct bt_net_handler *h,
    char *actual, size_t cap, bt_net_listener **out, struct bt_diag *diag)
{
	struct listen_op o = { .net = net, .addr = addr, .h = h,
		.diag = diag };
	int rc;

	rc = parse_addr(addr, &o.ss, &o.path, diag);
	if (rc != 0)
		return rc;
	rc = run_sync(net, listen_run, &o);
	if (rc == 0)
		rc = o.rc;
	bt_free(o.path);
	if (rc != 0)
		return rc;
	if (actual != NULL && cap > 0)
		snprintf(actual, cap, "%s", o.l->addr);
	if (out != NULL)
		*out = o.l;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Connecting and dialing                                               */
/* ------------------------------------------------------------------ */

static void
on_connect(uv_connect_t *req, int status)
{
	bt_net_conn *c = req->data;

	if (c->state != C_CONNECTING)
		return;
	if (status < 0) {
		conn_fail(c, status == UV_ECANCELED ? BT_ECLOSED :
		    uv_rc(status), "cannot connect to %s: %s", c->addr,
		    uv_strerror(status));
		return;
	}
	if (!c->is_unix)
		uv_tcp_nodelay(&c->u.tcp, 1);
	conn_start(c);
}

static void
connect_run(void *arg)
{
	bt_net_conn *c = arg;
	bt_net *net = c->net;
	bool stopping, closed;
	int rc;

	pthread_mutex_lock(&net->mu);
	stopping = net->stopping;
	pthread_mutex_unlock(&net->mu);
	pthread_mutex_lock(&c->mu);
	closed = c->closed;
	pthread_mutex_unlock(&c->mu);
	list_add(c);
	if (stopping || closed) {
		conn_set_error(c, BT_ECLOSED, "closed before connecting");
		teardown(c);
		return;
	}
	rc = stream_init(net, &c->u.h, c->is_unix);
	if (rc != 0) {
		conn_set_error(c, uv_rc(rc), "cannot make a socket");
		teardown(c);
		return;
	}
	c->u.h.data = c;
	uv_timer_init(&net->loop, &c->timer);
	c->timer.data = c;
	c->handles = 2;
	c->state = C_CONNECTING;
	c->creq.data = c;
	uv_timer_start(&c->timer, on_timer, net->hs_ns / 1000000 + 1, 0);
	if (c->is_unix) {
		uv_pipe_connect(&c->creq, &c->u.pipe, c->unix_path, on_connect);
		return;
	}
	rc = uv_tcp_connect(&c->creq, &c->u.tcp, (struct sockaddr *)&c->sa,
	    on_connect);
	if (rc != 0)
		conn_fail(c, uv_rc(rc), "cannot connect to %s: %s", c->addr,
		    uv_strerror(rc));
}

static int
connect_diag(bt_net *net, const char *addr, const struct bt_net_handler *h,
    bt_net_conn **out, struct bt_diag *diag)
{
	bt_net_conn *c;
	int rc;

	c = conn_alloc(net, h, true);
	if (c == NULL)
		return -ENOMEM;
	rc = parse_addr(addr, &c->sa, &c->unix_path, diag);
	if (rc != 0) {
		bt_net_conn_rele(c);
		return rc;
	}
	c->is_unix = c->unix_path != NULL;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	bt_net_conn_hold(c); /* the caller's */
	rc = post(net, connect_run, c, false);
	if (rc != 0) {
		bt_net_conn_rele(c);
		bt_net_conn_rele(c);
		return rc;
	}
	*out = c;
	return 0;
}

int
bt_net_connect(bt_net *net, const char *addr, const struct bt_net_handler *h,
    bt_net_conn **out)
{
	return connect_diag(net, addr, h, out, NULL);
}

int
bt_net_dial(bt_net *net, const char *addr, const struct bt_net_handler *h,
    uint64_t timeout_ns, bt_net_conn **out, struct bt_diag *diag)
{
	struct timespec ts;
	bt_net_conn *c;
	uint64_t deadline;
	int rc;

	if (bt_net_in_loop(net))
		return -EDEADLK;
	rc = connect_diag(net, addr, h, &c, diag);
	if (rc != 0)
		return rc;
	deadline = bt_time_real_ns() + timeout_ns;
	ts.tv_sec = (time_t)(deadline / 1000000000ULL);
	ts.tv_nsec = (long)(deadline % 1000000000ULL);
	pthread_mutex_lock(&net->mu);
	while (!atomic_load(&c->open) && !atomic_load(&c->finished)) {
		if (pthread_cond_timedwait(&net->cv, &net->mu, &ts) ==
		    ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&net->mu);
	if (atomic_load(&c->open)) {
		*out = c;
		return 0;
	}
	if (atomic_load(&c->finished)) {
		rc = c->close_rc ? c->close_rc : BT_ECLOSED;
		bt_diag_set(diag, -1, "%s", c->close_msg);
	} else {
		rc = -ETIMEDOUT;
		bt_diag_set(diag, -1, "no verified connection to %s within "
		    "the timeout", addr);
		bt_net_conn_close(c);
	}
	bt_net_conn_rele(c);
	return rc;
}
