/*
 * net/net_test.c: frames, the TLS + hello exchange between two nets in one
 * process, refusals of bad chains on both sides, oversized and malformed
 * frames, plain TCP garbage, and many connections.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "bt/net.h"
#include "bt/serde.h"
#include "net_int.h"
#include "testing.h"

extern bool bt__net_test_no_self_check;
int bt__net_conn_send_raw(bt_net_conn *c, const void *p, size_t n);

#define SEC 1000000000ULL

/* ---- identities ---- */

struct ident {
	bt_key	*root, *node;
	bt_cred *cred;
	char	 path[200];
};

static void
ident_make(struct ident *id, bt_key *root, const char *sub, int64_t nb,
    int64_t exp)
{
	struct bt_principal rp, np;
	char rs[BT_PRINCIPAL_STR_LEN + 1];

	memset(id, 0, sizeof(*id));
	if (root == NULL)
		assert_int_equal(bt_key_generate(&id->root, BT_KEY_ED25519), 0);
	else
		assert_int_equal(bt_key_dup(&id->root, root), 0);
	assert_int_equal(bt_key_generate(&id->node, BT_KEY_ED25519), 0);
	bt_key_principal(id->root, &rp);
	bt_key_principal(id->node, &np);
	bt_principal_to_str(&rp, rs);
	snprintf(id->path, sizeof(id->path), "/%s/%s", rs, sub);
	assert_int_equal(bt_cred_issue(&id->cred, id->root, NULL, &np,
	    id->path, nb, exp), 0);
}

static void
ident_fini(struct ident *id)
{
	bt_key_free(id->root);
	bt_key_free(id->node);
	bt_cred_free(id->cred);
}

/* ---- a server that echoes every frame back ---- */

/* 0: the default; the many-connections test raises it for slow builds. */
static uint64_t hs_timeout;
static uint64_t idle_timeout;
/* Set before server_start: how long the server waits before it echoes. */
static unsigned reply_delay_us;

struct server {
	bt_net	       *net;
	char		addr[BT_NET_ADDR_MAX];
	pthread_mutex_t mu;
	int		opens, frames, closes;
	char		last_peer[200];
};

static void
srv_open(void *arg, bt_net_conn *c)
{
	struct server *s = arg;
	const char *p = bt_net_conn_peer_path(c);

	pthread_mutex_lock(&s->mu);
	s->opens++;
	snprintf(s->last_peer, sizeof(s->last_peer), "%s", p ? p : "");
	pthread_mutex_unlock(&s->mu);
}

static void
srv_frame(void *arg, bt_net_conn *c, const struct bt_net_frame *f)
{
	struct server *s = arg;
	struct bt_net_frame r = *f;

	pthread_mutex_lock(&s->mu);
	s->frames++;
	pthread_mutex_unlock(&s->mu);
	r.from = f->to;
	r.to = f->from;
	if (reply_delay_us > 0)
		usleep(reply_delay_us);
	(void)bt_net_conn_send(c, &r);
}

static void
srv_close(void *arg, bt_net_conn *c, int rc)
{
	struct server *s = arg;

	pthread_mutex_lock(&s->mu);
	s->closes++;
	pthread_mutex_unlock(&s->mu);
}

static void
server_start(struct server *s, const struct ident *id, bool anon,
    size_t max_frame, const char *addr)
{
	struct bt_net_config cfg = { .version = 1 };
	struct bt_net_handler h = { srv_open, srv_frame, srv_close, s };
	struct bt_diag d;

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	cfg.key = id->node;
	cfg.cred = id->cred;
	cfg.path = id->path;
	cfg.allow_anonymous = anon;
	cfg.max_frame = max_frame;
	cfg.handshake_timeout_ns = hs_timeout;
	cfg.idle_timeout_ns = idle_timeout;
	assert_int_equal(bt_net_new(&s->net, &cfg, &d), 0);
	assert_int_equal(bt_net_listen(s->net, addr, &h, s->addr,
	    sizeof(s->addr), NULL, &d), 0);
}

static void
server_stop(struct server *s)
{
	bt_net_free(s->net);
	pthread_mutex_destroy(&s->mu);
}

/* ---- a client that waits for echoes ---- */

struct client {
	bt_net	       *net;
	bt_net_conn    *conn;
	pthread_mutex_t mu;
	pthread_cond_t	cv;
	int		got, closed, close_rc;
	char		last[256];
};

static void
cl_frame(void *arg, bt_net_conn *c, const struct bt_net_frame *f)
{
	struct client *cl = arg;

	pthread_mutex_lock(&cl->mu);
	cl->got++;
	snprintf(cl->last, sizeof(cl->last), "%.*s", (int)f->payload.len,
	    (const char *)f->payload.ptr);
	pthread_cond_broadcast(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
}

static void
cl_close(void *arg, bt_net_conn *c, int rc)
{
	struct client *cl = arg;

	pthread_mutex_lock(&cl->mu);
	cl->closed = 1;
	cl->close_rc = rc;
	pthread_cond_broadcast(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
}

static int
client_open(struct client *cl, const struct ident *id, const char *addr,
    size_t max_frame, struct bt_diag *d)
{
	struct bt_net_config cfg = { .version = 1 };
	struct bt_net_handler h = { NULL, cl_frame, cl_close, cl };

	memset(cl, 0, sizeof(*cl));
	pthread_mutex_init(&cl->mu, NULL);
	pthread_cond_init(&cl->cv, NULL);
	if (id != NULL) {
		cfg.key = id->node;
		cfg.cred = id->cred;
		cfg.path = id->path;
	}
	cfg.max_frame = max_frame;
	assert_int_equal(bt_net_new(&cl->net, &cfg, d), 0);
	return bt_net_dial(cl->net, addr, &h, 5 * SEC, &cl->conn, d);
}

static void
client_close(struct client *cl)
{
	if (cl->conn != NULL)
		bt_net_conn_rele(cl->conn);
	bt_net_free(cl->net);
	pthread_mutex_destroy(&cl->mu);
	pthread_cond_destroy(&cl->cv);
}

/* wait_for waits until *field reaches want (bounded). */
static int
wait_for(struct client *cl, int *field, int want)
{
	uint64_t end = bt_time_mono_ns() + 10 * SEC;

	pthread_mutex_lock(&cl->mu);
	while (*field < want && bt_time_mono_ns() < end) {
		pthread_mutex_unlock(&cl->mu);
		usleep(1000);
		pthread_mutex_lock(&cl->mu);
	}
	pthread_mutex_unlock(&cl->mu);
	return *field >= want ? 0 : -ETIMEDOUT;
}

static int
echo(struct client *cl, const char *text)
{
	struct bt_net_frame f = { .kind = BT_NET_KIND_USER + 1, .stream = 7 };
	int want = cl->got + 1, rc;

	f.payload.ptr = (const uint8_t *)text;
	f.payload.len = strlen(text);
	/* Both ways of sending: queued for the loop, and written at once. */
	rc = want % 2 ? bt_net_conn_send_now(cl->conn, &f) :
	    bt_net_conn_send(cl->conn, &f);
	if (rc != 0)
		return rc;
	rc = wait_for(cl, &cl->got, want);
	if (rc != 0)
		return rc;
	return strcmp(cl->last, text) == 0 ? 0 : -EBADMSG;
}

/* ---- frames ---- */

static void
test_frame_roundtrip(void **state)
{
	struct bt_net_frame f = { .kind = 17, .stream = 300, .proto = 5 }, g;
	struct bt_dbuf b;
	struct bt_diag d;
	size_t hdr, body;

	f.from = (struct bt_buf) { (const uint8_t *)"/a", 2 };
	f.to = (struct bt_buf) { (const uint8_t *)"/b/c", 4 };
	f.payload = (struct bt_buf) { (const uint8_t *)"hello", 5 };
	bt_dbuf_init(&b, 1 << 20);
	assert_int_equal(bt_net_frame_encode(&b, &f), 0);
	assert_int_equal(bt_net_frame_split(b.ptr, b.len, 1024, &hdr, &body,
	    &d), 0);
	assert_int_equal(hdr + body, b.len);
	assert_int_equal(bt_net_frame_split(b.ptr, b.len - 1, 1024, &hdr,
	    &body, &d), -EAGAIN);
	assert_int_equal(bt_net_frame_split(b.ptr, b.len, 4, &hdr, &body, &d),
	    BT_ELIMIT);
	assert_int_equal(bt_net_frame_decode(&g, b.ptr + hdr, body, &d), 0);
	assert_int_equal(g.kind, 17);
	assert_int_equal(g.stream, 300);
	assert_int_equal(g.proto, 5);
	assert_memory_equal(g.to.ptr, "/b/c", 4);
	assert_memory_equal(g.payload.ptr, "hello", 5);
	/* Truncated envelope, trailing byte, non-minimal length. */
	assert_int_equal(bt_net_frame_decode(&g, b.ptr + hdr, body - 1, &d),
	    BT_ETRUNC);
	assert_int_equal(bt_net_frame_split("\x80\x00", 2, 1024, &hdr, &body,
	    &d), BT_ENONCANON);
	{
		uint8_t bad[] = { 0x11, 0x00 };

		assert_int_not_equal(bt_net_frame_decode(&g, bad, 2, &d), 0);
	}
	assert_int_equal(g.hops, 0);
	/* hops: present only when not 0, one byte more on the wire. */
	{
		size_t len0 = b.len;
		uint8_t zero[64];

		b.len = 0;
		f.hops = 3;
		assert_int_equal(bt_net_frame_encode(&b, &f), 0);
		assert_int_equal(b.len, len0 + 1);
		assert_int_equal(bt_net_frame_split(b.ptr, b.len, 1024, &hdr,
		    &body, &d), 0);
		assert_int_equal(bt_net_frame_decode(&g, b.ptr + hdr, body,
		    &d), 0);
		assert_int_equal(g.hops, 3);
		assert_memory_equal(g.payload.ptr, "hello", 5);
		/* An explicit 0 is not canonical; two more fields trail. */
		assert_true(body <= sizeof(zero));
		memcpy(zero, b.ptr + hdr, body);
		zero[body - 1] = 0;
		assert_int_equal(bt_net_frame_decode(&g, zero, body, &d),
		    BT_ENONCANON);
		zero[body - 1] = 3;
		zero[body] = 1;
		assert_int_equal(bt_net_frame_decode(&g, zero, body + 1, &d),
		    BT_ECORRUPT);
	}
	bt_dbuf_fini(&b);
}

/* ---- connections ---- */

static void
test_anonymous_echo(void **state)
{
	struct ident sid;
	struct server s;
	struct client c;
	struct bt_diag d;

	ident_make(&sid, NULL, "node", 0, bt_time_now_s() + 3600);
	server_start(&s, &sid, true, 0, "127.0.0.1:0");
	assert_int_equal(client_open(&c, NULL, s.addr, 0, &d), 0);
	assert_string_equal(bt_net_conn_peer_path(c.conn), sid.path);
	assert_int_equal(echo(&c, "ping"), 0);
	assert_int_equal(echo(&c, "pong"), 0);
	assert_int_equal(s.opens, 1);
	assert_string_equal(s.last_peer, "");
	client_close(&c);
	server_stop(&s);
	ident_fini(&sid);
}

static void
test_unix_and_authenticated(void **state)
{
	struct ident sid, cid;
	struct server s;
	struct client c;
	struct bt_diag d;
	char *dir = bt_test_tmpdir(), addr[300];

	snprintf(addr, sizeof(addr), "unix:%s/s.sock", dir);
	ident_make(&sid, NULL, "node", 0, bt_time_now_s() + 3600);
	ident_make(&cid, NULL, "client", 0, bt_time_now_s() + 3600);
	server_start(&s, &sid, false, 0, addr);
	assert_string_equal(s.addr, addr);
	assert_int_equal(client_open(&c, &cid, s.addr, 0, &d), 0);
	assert_int_equal(echo(&c, "over a unix socket"), 0);
	assert_string_equal(s.last_peer, cid.path);
	client_close(&c);
	/* This server refuses anonymous peers. */
	assert_int_equal(client_open(&c, NULL, s.addr, 0, &d), BT_EPERM);
	assert_non_null(strstr(d.msg, "anonymous"));
	client_close(&c);
	server_stop(&s);
	ident_fini(&sid);
	ident_fini(&cid);
	bt_test_tmpdir_remove(dir);
}

/* A client with a bad chain is refused, with the reason on both sides. */
static void
refused_client(struct ident *cid, int want)
{
	struct ident sid;
	struct server s;
	struct client c;
	struct bt_diag d;

	ident_make(&sid, NULL, "node", 0, bt_time_now_s() + 3600);
	server_start(&s, &sid, true, 0, "127.0.0.1:0");
	bt__net_test_no_self_check = true;
	bt_diag_clear(&d);
	assert_int_equal(client_open(&c, cid, s.addr, 0, &d), want);
	bt__net_test_no_self_check = false;
	assert_non_null(strstr(d.msg, "refused by peer"));
	client_close(&c);
	server_stop(&s);
	assert_int_equal(s.opens, 0); /* never reached the server's handler */
	assert_int_equal(s.frames, 0);
	ident_fini(&sid);
}

static void
test_refuse_expired(void **state)
{
	struct ident id;
	int64_t now = bt_time_now_s();

	ident_make(&id, NULL, "client", now - 7200, now - 3600);
	refused_client(&id, BT_EEXPIRED);
	ident_fini(&id);
}

static void
test_refuse_forged(void **state)
{
	struct ident id;
	struct bt_dbuf b;
	bt_cred *forged;

	ident_make(&id, NULL, "client", 0, bt_time_now_s() + 3600);
	bt_dbuf_init(&b, 1 << 20);
	assert_int_equal(bt_cred_encode(id.cred, &b), 0);
	b.ptr[b.len - 2] ^= 1; /* last byte of the signature */
	assert_int_equal(bt_cred_decode(&forged, b.ptr, b.len, NULL), 0);
	bt_cred_free(id.cred);
	id.cred = forged;
	refused_client(&id, BT_EBADSIG);
	bt_dbuf_fini(&b);
	ident_fini(&id);
}

/*
 * forge_wrong_root signs a link for path with a key that is not path's
 * root, encoding it by hand (bt_cred_issue refuses to), as docs/crypto.md
 * lays a credential out.
 */
static bt_cred *
forge_wrong_root(const bt_key *signer, const struct bt_principal *to,
    const char *path)
{
	static const char ctx[] = "blocktree credential v1";
	struct bt_dbuf body, sigin, all;
	struct bt_buf pub = bt_key_public_raw(signer);
	uint8_t sig[BT_KEY_SIG_MAX];
	size_t siglen;
	bt_cred *c;

	bt_dbuf_init(&body, 1 << 16);
	bt_dbuf_init(&sigin, 1 << 16);
	bt_dbuf_init(&all, 1 << 16);
	assert_int_equal(bt_serde_put_raw(&body, to->b, 32), 0);
	assert_int_equal(bt_serde_put_str(&body, path), 0);
	assert_int_equal(bt_serde_put_svarint(&body, 0), 0);
	assert_int_equal(bt_serde_put_svarint(&body, bt_time_now_s() + 3600),
	    0);
	assert_int_equal(bt_serde_put_uvarint(&body, BT_KEY_ED25519), 0);
	assert_int_equal(bt_serde_put_bytes(&body, pub.ptr, pub.len), 0);
	assert_int_equal(bt_dbuf_append(&sigin, ctx, sizeof(ctx)), 0);
	assert_int_equal(bt_dbuf_append(&sigin, body.ptr, body.len), 0);
	assert_int_equal(bt_key_sign(signer, sigin.ptr, sigin.len, sig,
	    &siglen), 0);
	assert_int_equal(bt_dbuf_append(&all, body.ptr, body.len), 0);
	assert_int_equal(bt_serde_put_uvarint(&all, BT_KEY_ED25519), 0);
	assert_int_equal(bt_serde_put_bytes(&all, sig, siglen), 0);
	assert_int_equal(bt_serde_put_opt(&all, false), 0);
	assert_int_equal(bt_cred_decode(&c, all.ptr, all.len, NULL), 0);
	bt_dbuf_fini(&body);
	bt_dbuf_fini(&sigin);
	bt_dbuf_fini(&all);
	return c;
}

static void
test_refuse_wrong_root_and_path(void **state)
{
	struct ident id, other;
	struct bt_principal np;
	bt_cred *c;

	/* Signed by a key that is not the path's root. */
	ident_make(&id, NULL, "client", 0, bt_time_now_s() + 3600);
	ident_make(&other, NULL, "x", 0, bt_time_now_s() + 3600);
	bt_key_principal(id.node, &np);
	c = forge_wrong_root(other.root, &np, id.path);
	bt_cred_free(id.cred);
	id.cred = c;
	refused_client(&id, BT_ENOTROOTED);
	/* A chain for another path of the same root. */
	assert_int_equal(bt_cred_issue(&c, id.root, NULL, &np, id.path, 0,
	    bt_time_now_s() + 3600), 0);
	bt_cred_free(id.cred);
	id.cred = c;
	snprintf(id.path + strlen(id.path) - strlen("client"), 20, "other");
	refused_client(&id, BT_EPATH);
	ident_fini(&id);
	ident_fini(&other);
}

/* A chain issued to another key than the TLS key. */
static void
test_refuse_not_bound(void **state)
{
	struct ident id, thief;

	ident_make(&id, NULL, "client", 0, bt_time_now_s() + 3600);
	ident_make(&thief, id.root, "client", 0, bt_time_now_s() + 3600);
	bt_cred_free(thief.cred);
	assert_int_equal(bt_cred_dup(&thief.cred, id.cred), 0);
	refused_client(&thief, BT_EPERM);
	ident_fini(&id);
	ident_fini(&thief);
}

/* The client refuses a server whose chain does not verify. */
static void
refused_server(struct ident *sid, int want)
{
	struct server s;
	struct client c;
	struct bt_diag d;

	bt__net_test_no_self_check = true;
	server_start(&s, sid, true, 0, "127.0.0.1:0");
	bt__net_test_no_self_check = false;
	bt_diag_clear(&d);
	assert_int_equal(client_open(&c, NULL, s.addr, 0, &d), want);
	assert_non_null(strstr(d.msg, "does not verify"));
	client_close(&c);
	server_stop(&s);
}

static void
test_client_refuses_server(void **state)
{
	struct ident sid, other;
	struct bt_principal np;
	struct bt_dbuf b;
	int64_t now = bt_time_now_s();
	bt_cred *c;

	/* Expired. */
	ident_make(&sid, NULL, "node", now - 7200, now - 3600);
	refused_server(&sid, BT_EEXPIRED);
	ident_fini(&sid);
	/* Forged: one bit of the signature changed. */
	ident_make(&sid, NULL, "node", 0, now + 3600);
	bt_dbuf_init(&b, 1 << 20);
	assert_int_equal(bt_cred_encode(sid.cred, &b), 0);
	b.ptr[b.len - 2] ^= 1;
	assert_int_equal(bt_cred_decode(&c, b.ptr, b.len, NULL), 0);
	bt_dbuf_fini(&b);
	bt_cred_free(sid.cred);
	sid.cred = c;
	refused_server(&sid, BT_EBADSIG);
	ident_fini(&sid);
	/* Signed by a key that is not the root of the path it claims. */
	ident_make(&sid, NULL, "node", 0, now + 3600);
	ident_make(&other, NULL, "x", 0, now + 3600);
	bt_key_principal(sid.node, &np);
	c = forge_wrong_root(other.root, &np, sid.path);
	bt_cred_free(sid.cred);
	sid.cred = c;
	refused_server(&sid, BT_ENOTROOTED);
	/* A chain for another path of the same root. */
	assert_int_equal(bt_cred_issue(&c, sid.root, NULL, &np, sid.path, 0,
	    now + 3600), 0);
	bt_cred_free(sid.cred);
	sid.cred = c;
	snprintf(sid.path + strlen(sid.path) - strlen("node"), 20, "else");
	refused_server(&sid, BT_EPATH);
	ident_fini(&sid);
	ident_fini(&other);
}

/* Oversized and malformed frames close only the connection that sent them. */
static void
test_bad_frames_close_one(void **state)
{
	struct ident sid;
	struct server s;
	struct client good, bad;
	struct bt_diag d;
	struct bt_net_frame f = { .kind = BT_NET_KIND_USER };
	static uint8_t big[8192];

	ident_make(&sid, NULL, "node", 0, bt_time_now_s() + 3600);
	server_start(&s, &sid, true, 4096, "127.0.0.1:0");
	assert_int_equal(client_open(&good, NULL, s.addr, 0, &d), 0);
	assert_int_equal(client_open(&bad, NULL, s.addr, 1 << 20, &d), 0);
	f.payload.ptr = big;
	f.payload.len = sizeof(big);
	assert_int_equal(bt_net_conn_send(bad.conn, &f), 0);
	assert_int_equal(wait_for(&bad, &bad.closed, 1), 0);
	assert_int_equal(echo(&good, "still here"), 0);
	client_close(&bad);

	/* A malformed envelope: a length of 3 and 3 bytes of nonsense. */
	assert_int_equal(client_open(&bad, NULL, s.addr, 0, &d), 0);
	assert_int_equal(bt__net_conn_send_raw(bad.conn, "\x03\xff\xff\xff",
	    4), 0);
	assert_int_equal(wait_for(&bad, &bad.closed, 1), 0);
	assert_int_equal(echo(&good, "and still"), 0);
	client_close(&bad);
	client_close(&good);
	server_stop(&s);
	ident_fini(&sid);
}

/* Plain TCP bytes are refused; the server keeps serving. */
static void
test_plain_tcp_refused(void **state)
{
	struct ident sid;
	struct server s;
	struct client good;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct bt_diag d;
	char buf[256];
	uint64_t port;
	int fd;
	ssize_t n;

	ident_make(&sid, NULL, "node", 0, bt_time_now_s() + 3600);
	server_start(&s, &sid, true, 0, "127.0.0.1:0");
	assert_int_equal(bt_parse_u64(strrchr(s.addr, ':') + 1, &port), 0);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(write(fd, "GET / HTTP/1.0\r\n\r\n", 18) == 18);
	/* The server answers with at most a TLS alert, then closes. */
	do {
		n = read(fd, buf, sizeof(buf));
	} while (n > 0);
	assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
	close(fd);
	assert_int_equal(client_open(&good, NULL, s.addr, 0, &d), 0);
	assert_int_equal(echo(&good, "fine"), 0);
	assert_int_equal(s.opens, 1);
	client_close(&good);
	server_stop(&s);
	ident_fini(&sid);
}

/*
 * Timeouts: a server with a short idle timeout keeps a quiet client that
 * keeps no timer itself (it answers the server's pings), and closes a TCP
 * peer that never starts TLS when the handshake timeout passes.
 */
static void
test_timeouts(void **state)
{
	struct ident sid;
	struct server s;
	struct client c;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct bt_diag d;
	uint64_t port, t0;
	char buf[16];
	int fd;

	ident_make(&sid, NULL, "node", 0, bt_time_now_s() + 3600);
	hs_timeout = 200000000ULL;
	idle_timeout = 300000000ULL;
	server_start(&s, &sid, true, 0, "127.0.0.1:0");
	hs_timeout = idle_timeout = 0;
	assert_int_equal(client_open(&c, NULL, s.addr, 0, &d), 0);
	usleep(1000000); /* the behaviour under test: 3 idle periods */
	assert_int_equal(c.closed, 0);
	assert_int_equal(echo(&c, "still open"), 0);

	assert_int_equal(bt_parse_u64(strrchr(s.addr, ':') + 1, &port), 0);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	t0 = bt_time_mono_ns();
	assert_true(read(fd, buf, sizeof(buf)) <= 0); /* closed on us */
	assert_true(bt_time_mono_ns() - t0 < 5 * SEC);
	close(fd);
	client_close(&c);
	server_stop(&s);
	ident_fini(&sid);
}

/*
 * Back-pressure: frames queued to a peer that takes nothing (a socket that
 * never completes TLS) stop at send_queue_max with BT_ELIMIT, and a frame
 * over max_frame is refused with -EMSGSIZE.
 */
static void
test_send_queue_bound(void **state)
{
	struct bt_net_config cfg = { .version = 1 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	struct bt_net_frame f = { .kind = BT_NET_KIND_USER };
	static uint8_t chunk[16384];
	char addr[64];
	bt_net_conn *c;
	bt_net *net;
	struct bt_diag d;
	int lfd, rc = 0, n = 0;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	cfg.send_queue_max = 65536;
	cfg.max_frame = 32768;
	assert_int_equal(bt_net_new(&net, &cfg, &d), 0);
	assert_int_equal(bt_net_connect(net, addr, NULL, &c), 0);
	{
		static uint8_t big[40000];

		f.payload.ptr = big;
		f.payload.len = sizeof(big);
		assert_int_equal(bt_net_conn_send(c, &f), -EMSGSIZE);
	}
	f.payload.ptr = chunk;
	f.payload.len = sizeof(chunk);
	while (n < 100 && (rc = bt_net_conn_send(c, &f)) == 0)
		n++;
	assert_int_equal(rc, BT_ELIMIT);
	assert_true(n >= 4 && n <= 6); /* 64 KiB of 16 KiB frames */
	bt_net_conn_close(c);
	bt_net_conn_rele(c);
	bt_net_free(net);
	close(lfd);
}

/* ---- a burst larger than the socket buffers, from two threads ---- */

#define BURST_CONNS   4
#define BURST_THREADS 2
#define BURST_FRAMES  1500 /* per thread and connection, 1 KiB each */

struct sink {
	pthread_mutex_t mu;
	bt_net_conn    *conns[BURST_CONNS];
	uint32_t	next[BURST_CONNS][BURST_THREADS];
	int		got, bad;
};

static void
sink_frame(void *arg, bt_net_conn *c, const struct bt_net_frame *f)
{
	struct sink *k = arg;
	uint32_t seq = 0;
	int i;

	if (f->payload.len >= 4)
		memcpy(&seq, f->payload.ptr, 4);
	pthread_mutex_lock(&k->mu);
	for (i = 0; i < BURST_CONNS && k->conns[i] != c; i++)
		if (k->conns[i] == NULL) {
			k->conns[i] = c;
			break;
		}
	if (i == BURST_CONNS || f->stream >= BURST_THREADS ||
	    seq != k->next[i][f->stream]) {
		k->bad++; /* an unknown conn, or a frame lost or out of order */
	} else {
		k->next[i][f->stream]++;
		k->got++;
	}
	pthread_mutex_unlock(&k->mu);
}

struct burst_arg {
	bt_net_conn **conns;
	uint64_t      id;
	int	      errors;
};

static void *
burst_run(void *p)
{
	struct burst_arg *a = p;
	static uint8_t payload[BURST_THREADS][1024];
	struct bt_net_frame f = { .kind = BT_NET_KIND_USER + 3 };
	int rc;

	f.stream = a->id;
	f.payload.ptr = payload[a->id];
	f.payload.len = sizeof(payload[a->id]);
	for (uint32_t seq = 0; seq < BURST_FRAMES; seq++) {
		memcpy(payload[a->id], &seq, 4);
		for (int i = 0; i < BURST_CONNS; i++) {
			/* Both ways of sending; back off while the queue is full. */
			do {
				rc = (seq + i) % 2 ?
				    bt_net_conn_send_now(a->conns[i], &f) :
				    bt_net_conn_send(a->conns[i], &f);
				if (rc == BT_ELIMIT)
					usleep(200);
			} while (rc == BT_ELIMIT);
			a->errors += rc != 0;
		}
	}
	return NULL;
}

/*
 * Every frame of a burst far larger than the socket buffers arrives, in
 * order, on every connection, while two threads send at once (directly
 * and through the loop thread) and the loop thread writes in steps as
 * the peer reads: no frame is lost in the hand-offs between them.
 */
static void
test_burst_whole_and_in_order(void **state)
{
	struct bt_net_config cfg = { .version = 1 };
	struct bt_net_handler sh = { NULL, sink_frame, NULL, NULL };
	struct sink k = { .got = 0 };
	struct burst_arg args[BURST_THREADS];
	bt_net_conn *conns[BURST_CONNS];
	pthread_t th[BURST_THREADS];
	char addr[BT_NET_ADDR_MAX];
	struct ident sid;
	bt_net *srv, *cn;
	struct bt_diag d;
	uint64_t end;
	int want = BURST_CONNS * BURST_THREADS * BURST_FRAMES, got, bad;

	pthread_mutex_init(&k.mu, NULL);
	sh.arg = &k;
	ident_make(&sid, NULL, "sink", 0, bt_time_now_s() + 3600);
	cfg.key = sid.node;
	cfg.cred = sid.cred;
	cfg.path = sid.path;
	cfg.allow_anonymous = true;
	assert_int_equal(bt_net_new(&srv, &cfg, &d), 0);
	assert_int_equal(bt_net_listen(srv, "127.0.0.1:0", &sh, addr,
	    sizeof(addr), NULL, &d), 0);
	cfg = (struct bt_net_config) { .version = 1 };
	assert_int_equal(bt_net_new(&cn, &cfg, &d), 0);
	for (int i = 0; i < BURST_CONNS; i++)
		assert_int_equal(bt_net_dial(cn, addr, NULL, 5 * SEC,
		    &conns[i], &d), 0);
	for (int t = 0; t < BURST_THREADS; t++) {
		args[t] = (struct burst_arg) { conns, (uint64_t)t, 0 };
		assert_int_equal(pthread_create(&th[t], NULL, burst_run,
		    &args[t]), 0);
	}
	for (int t = 0; t < BURST_THREADS; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(args[t].errors, 0);
	}
	end = bt_time_mono_ns() + 30 * SEC;
	do {
		usleep(2000);
		pthread_mutex_lock(&k.mu);
		got = k.got;
		bad = k.bad;
		pthread_mutex_unlock(&k.mu);
	} while (got + bad < want && bt_time_mono_ns() < end);
	assert_int_equal(bad, 0);
	assert_int_equal(got, want);
	for (int i = 0; i < BURST_CONNS; i++)
		bt_net_conn_rele(conns[i]);
	bt_net_free(cn);
	bt_net_free(srv);
	ident_fini(&sid);
	pthread_mutex_destroy(&k.mu);
}

/* ---- a caller reading its answer itself (net_int.h) ---- */

struct aw {
	atomic_int word;
	atomic_int on_caller[2], on_loop[2];
	pthread_t  caller;
	atomic_int closed;
	atomic_int started;
	bool	   result;
	uint64_t   took;
	uint64_t   wait_ns;
	bt_net_conn *conn;
};

static void
aw_frame(void *arg, bt_net_conn *c, const struct bt_net_frame *f)
{
	struct aw *a = arg;
	int k = f->kind == BT_NET_KIND_USER + 1 ? 0 : 1;

	if (pthread_equal(pthread_self(), a->caller))
		atomic_fetch_add(&a->on_caller[k], 1);
	else
		atomic_fetch_add(&a->on_loop[k], 1);
	atomic_store(&a->word, 1);
}

static void
aw_close(void *arg, bt_net_conn *c, int rc)
{
	struct aw *a = arg;

	atomic_store(&a->closed, 1);
}

static bt_net *
aw_dial(struct aw *a, const char *addr)
{
	struct bt_net_config cfg = { .version = 1 };
	struct bt_net_handler h = { NULL, aw_frame, aw_close, a };
	struct bt_diag d;
	bt_net *net;

	a->caller = pthread_self();
	assert_int_equal(bt_net_new(&net, &cfg, &d), 0);
	assert_int_equal(bt_net_dial(net, addr, &h, 5 * SEC, &a->conn, &d),
	    0);
	return net;
}

static int
aw_until(atomic_int *v, int want)
{
	uint64_t end = bt_time_mono_ns() + 10 * SEC;

	while (atomic_load(v) != want && bt_time_mono_ns() < end)
		usleep(1000);
	return atomic_load(v) == want ? 0 : -ETIMEDOUT;
}

static void
test_await_reads_on_caller_thread(void **state)
{
	const uint64_t mask = 1ULL << (BT_NET_KIND_USER + 1);
	struct bt_net_frame f = { .stream = 1 };
	struct ident sid;
	struct server s;
	struct aw a;
	bt_net *net;
	uint64_t t0;

	memset(&a, 0, sizeof(a));
	ident_make(&sid, NULL, "node", 0, bt_time_now_s() + 3600);
	/*
	 * The answer must come after the caller is waiting: on a busy or
	 * one-CPU machine an immediate echo is often read by the loop thread
	 * before the sender is back from sending (correct, but not what this
	 * test is about).
	 */
	reply_delay_us = 2000;
	server_start(&s, &sid, true, 0, "127.0.0.1:0");
	net = aw_dial(&a, s.addr);
	f.payload.ptr = (const uint8_t *)"x";
	f.payload.len = 1;
	for (int i = 0; i < 40; i++) {
		/* Even: a kind the caller takes; odd: one it hands back. */
		f.kind = BT_NET_KIND_USER + 1 + (i % 2);
		atomic_store(&a.word, 0);
		assert_int_equal(bt_net_conn_send_now(a.conn, &f), 0);
		if (!bt__net_conn_await(a.conn, &a.word, 1,
			bt_time_mono_ns() + 5 * SEC, mask))
			assert_int_equal(aw_until(&a.word, 1), 0);
	}
	assert_int_equal(atomic_load(&a.on_caller[0]) +
	    atomic_load(&a.on_loop[0]), 20);
	assert_int_equal(atomic_load(&a.on_loop[1]), 20);
	/* Never on the caller's thread; mostly read by the caller. */
	assert_int_equal(atomic_load(&a.on_caller[1]), 0);
	assert_true(atomic_load(&a.on_caller[0]) >= 1);
	/* Nothing arrives: the deadline holds, neither early nor late. */
	atomic_store(&a.word, 0);
	t0 = bt_time_mono_ns();
	assert_false(bt__net_conn_await(a.conn, &a.word, 1, t0 + SEC / 5,
	    mask));
	t0 = bt_time_mono_ns() - t0;
	assert_true(t0 >= SEC / 5 && t0 < 3 * SEC);
	/* The connection still works through the loop thread. */
	f.kind = BT_NET_KIND_USER + 2;
	assert_int_equal(bt_net_conn_send(a.conn, &f), 0);
	assert_int_equal(aw_until(&a.word, 1), 0);
	bt_net_conn_rele(a.conn);
	bt_net_free(net);
	server_stop(&s);
	reply_delay_us = 0;
	ident_fini(&sid);
}

/*
 * bt_net_conn_send_later leaves its frames queued until a push, or until
 * an ordinary send carries them out ahead of its own frame, in order.
 */
static void
test_send_later_waits_for_push(void **state)
{
	struct bt_net_frame f = { .stream = 1, .kind = BT_NET_KIND_USER + 2 };
	struct ident sid;
	struct server s;
	struct aw a;
	bt_net *net;

	memset(&a, 0, sizeof(a));
	ident_make(&sid, NULL, "node", 0, bt_time_now_s() + 3600);
	server_start(&s, &sid, true, 0, "127.0.0.1:0");
	net = aw_dial(&a, s.addr);
	f.payload.ptr = (const uint8_t *)"x";
	f.payload.len = 1;
	/* Make sure the link is up and idle. */
	assert_int_equal(bt_net_conn_send(a.conn, &f), 0);
	assert_int_equal(aw_until(&a.on_loop[1], 1), 0);
	assert_int_equal(bt_net_conn_send_later(a.conn, &f), 0);
	assert_int_equal(bt_net_conn_send_later(a.conn, &f), 0);
	usleep(200000);
	pthread_mutex_lock(&s.mu);
	assert_int_equal(s.frames, 1);
	pthread_mutex_unlock(&s.mu);
	bt_net_conn_push(a.conn);
	assert_int_equal(aw_until(&a.on_loop[1], 3), 0);
	bt_net_conn_push(a.conn); /* nothing queued: a no-op */
	/* Queued later, then carried out by an ordinary send, in order. */
	assert_int_equal(bt_net_conn_send_later(a.conn, &f), 0);
	f.kind = BT_NET_KIND_USER + 3;
	assert_int_equal(bt_net_conn_send(a.conn, &f), 0);
	assert_int_equal(aw_until(&a.on_loop[1], 5), 0);
	pthread_mutex_lock(&s.mu);
	assert_int_equal(s.frames, 5);
	pthread_mutex_unlock(&s.mu);
	bt_net_conn_rele(a.conn);
	bt_net_free(net);
	server_stop(&s);
	ident_fini(&sid);
}

static void *
aw_main(void *arg)
{
	struct aw *a = arg;
	uint64_t t0 = bt_time_mono_ns();

	a->caller = pthread_self();
	atomic_store(&a->started, 1);
	a->result = bt__net_conn_await(a->conn, &a->word, 1,
	    t0 + a->wait_ns, 1ULL << (BT_NET_KIND_USER + 1));
	a->took = bt_time_mono_ns() - t0;
	return NULL;
}

/*
 * A caller blocked reading the socket is woken when the connection closes,
 * from this side (another thread closes it) or from the peer's; the
 * connection is torn down without waiting for the caller's deadline.
 */
static void
test_await_woken_by_close(void **state)
{
	struct ident sid;
	struct server s;
	struct aw a;
	pthread_t th;
	bt_net *net;

	ident_make(&sid, NULL, "node", 0, bt_time_now_s() + 3600);
	for (int peer = 0; peer < 2; peer++) {
		server_start(&s, &sid, true, 0, "127.0.0.1:0");
		memset(&a, 0, sizeof(a));
		net = aw_dial(&a, s.addr);
		a.wait_ns = 20 * SEC;
		pthread_create(&th, NULL, aw_main, &a);
		assert_int_equal(aw_until(&a.started, 1), 0);
		usleep(20000); /* likely blocked in poll by now; either way */
		if (peer)
			server_stop(&s);
		else
			bt_net_conn_close(a.conn);
		pthread_join(th, NULL);
		assert_false(a.result);
		assert_true(a.took < 10 * SEC);
		assert_int_equal(aw_until(&a.closed, 1), 0);
		bt_net_conn_rele(a.conn);
		bt_net_free(net);
		if (!peer)
			server_stop(&s);
	}
	ident_fini(&sid);
}

/* Many concurrent connections from one client net. */
struct many {
	pthread_mutex_t mu;
	int		opened, closed;
};

static void
many_open(void *arg, bt_net_conn *c)
{
	struct many *m = arg;

	pthread_mutex_lock(&m->mu);
	m->opened++;
	pthread_mutex_unlock(&m->mu);
}

static void
many_close(void *arg, bt_net_conn *c, int rc)
{
	struct many *m = arg;

	pthread_mutex_lock(&m->mu);
	m->closed++;
	pthread_mutex_unlock(&m->mu);
}

static void
test_many_connections(void **state)
{
	enum { N = 1000 };
	struct ident sid;
	struct server s;
	struct many m = { .opened = 0 };
	struct bt_net_handler h = { many_open, NULL, many_close, &m };
	struct bt_net_config cfg = { .version = 1 };
	static bt_net_conn *conns[N];
	struct client probe;
	struct bt_diag d;
	char *dir = bt_test_tmpdir(), addr[300];
	bt_net *cn;
	uint64_t end;

	pthread_mutex_init(&m.mu, NULL);
	/* 2,000 handshakes at once take a while under the sanitizers. */
	hs_timeout = 300 * SEC;
	cfg.handshake_timeout_ns = hs_timeout;
	snprintf(addr, sizeof(addr), "unix:%s/m.sock", dir);
	ident_make(&sid, NULL, "node", 0, bt_time_now_s() + 3600);
	server_start(&s, &sid, true, 0, addr);
	assert_int_equal(bt_net_new(&cn, &cfg, &d), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(bt_net_connect(cn, s.addr, &h, &conns[i]), 0);
	end = bt_time_mono_ns() + 240 * SEC;
	for (;;) {
		pthread_mutex_lock(&s.mu);
		int opens = s.opens;
		pthread_mutex_unlock(&s.mu);
		pthread_mutex_lock(&m.mu);
		int ok = m.opened, bad = m.closed;
		pthread_mutex_unlock(&m.mu);
		if ((opens == N && ok == N) || bad > 0 ||
		    bt_time_mono_ns() > end) {
			assert_int_equal(bad, 0);
			assert_int_equal(ok, N);
			assert_int_equal(opens, N);
			break;
		}
		usleep(5000);
	}
	/* All held open at once, and the server still answers another. */
	assert_int_equal(client_open(&probe, NULL, s.addr, 0, &d), 0);
	assert_int_equal(echo(&probe, "one more"), 0);
	client_close(&probe);
	for (int i = 0; i < N; i++)
		assert_true(bt_net_conn_is_open(conns[i]));
	for (int i = 0; i < N; i++)
		bt_net_conn_rele(conns[i]);
	bt_net_free(cn);
	server_stop(&s);
	ident_fini(&sid);
	pthread_mutex_destroy(&m.mu);
	bt_test_tmpdir_remove(dir);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_roundtrip),
		cmocka_unit_test(test_anonymous_echo),
		cmocka_unit_test(test_unix_and_authenticated),
		cmocka_unit_test(test_refuse_expired),
		cmocka_unit_test(test_refuse_forged),
		cmocka_unit_test(test_refuse_wrong_root_and_path),
		cmocka_unit_test(test_refuse_not_bound),
		cmocka_unit_test(test_client_refuses_server),
		cmocka_unit_test(test_bad_frames_close_one),
		cmocka_unit_test(test_plain_tcp_refused),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_send_queue_bound),
		cmocka_unit_test(test_burst_whole_and_in_order),
		cmocka_unit_test(test_await_reads_on_caller_thread),
		cmocka_unit_test(test_await_woken_by_close),
		cmocka_unit_test(test_send_later_waits_for_push),
	};
	const struct CMUnitTest many[] = {
		cmocka_unit_test(test_many_connections),
	};

	if (argc > 1 && strcmp(argv[1], "many") == 0)
		return cmocka_run_group_tests(many, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
