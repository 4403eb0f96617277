/*
 * msg/msg.c: path-addressed messaging over net/ (docs/msg.md): endpoints,
 * send, call, publish/subscribe, routing and forwarding. cmd/bt (bt node,
 * bt msg) and examples/echo call it through bt/msg.h.
 *
 * Design
 *
 * Invariants:
 *  1. A pending call (struct pend) is in the table until exactly one of:
 *     its reply arrives, its connection closes, its deadline passes, or
 *     the node stops. Whoever removes it (under n->mu) completes it, after
 *     dropping the lock; so a caller is told once, and never hangs past
 *     its deadline.
 *  2. A connection in n->links is open and verified; its peer path (if
 *     any) routes the paths beneath it to it.
 *  3. peer->conn, when set, is held by the peer; remote_sub->conn and
 *     pend->conn / pend->origin are held by their records.
 *  4. A local handler is never called with n->mu held (it may call any
 *     non-blocking function here, including send and reply).
 *
 * Routing a destination path T (route_conn): a local endpoint holding T
 * (longest) first; else an open connection whose verified peer path holds T
 * (longest); else the configured route whose prefix holds T (longest),
 * connecting to its address when not connected; else -EHOSTUNREACH.
 *
 * Locking theory: one mutex, n->mu, guards every table (endpoints,
 * subscriptions, routes, peers, links, remote subscriptions, pending
 * calls). net/ callbacks (loop thread) and API calls (any thread) take it
 * briefly. Its order is n->mu before net/'s own locks (bt_net_connect and
 * bt_net_conn_send may be called with it held); net/ never calls back
 * with its locks held. A synchronous caller first tries to read its answer
 * off the connection itself (bt__net_conn_await, net_int.h): then on_frame
 * runs on its thread for REPLY and ERROR frames (ANSWER_KINDS), completing
 * whichever calls they answer (an async call's callback is still run on
 * the loop thread: complete_later); everything else stays on the loop
 * thread. Otherwise, or after that, it sleeps on a futex word in its own
 * struct waiter, which complete() sets and wakes without n->mu; n->cv
 * (with n->mu) only tells bt_msg_node_free that links are gone.
 *
 * Hop limit: a SEND, CALL or PUB is forwarded with hops + 1, and not at
 * all once hops reached n->max_hops (hop_limit answers or drops it).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bt/msg.h"
#include "bt/net.h"
#include "bt/serde.h"
#include "../net/net_int.h"

#define PEND_BUCKETS	1024
#define FORWARD_TIMEOUT (60ULL * 1000000000ULL)
#define TICK_NS		(20ULL * 1000000ULL)
#define BACKOFF_MIN	(50ULL * 1000000ULL)
#define BACKOFF_MAX	(2000ULL * 1000000ULL)
#define PATH_BUF	(BT_PATH_MAX + 1)
/* Topics one connection may subscribe to here: a peer cannot grow the
 * table (and the cost of every publication) without bound. */
#define SUBS_PER_CONN	4096
/* Calls one connection may have in flight through this node: a peer that
 * calls a path that never answers cannot grow the pending table (each
 * entry lives FORWARD_TIMEOUT) without bound. */
#define FORWARDS_PER_CONN 4096
/* The kinds a waiting caller may take off the wire itself (on_frame). */
#define ANSWER_KINDS                            \
	((1ULL << BT_MSG_WIRE_REPLY) | (1ULL << BT_MSG_WIRE_ERROR))

struct bt_msg_ep {
	bt_msg_node	  *n;
	char		  *path;
	bt_msg_handler_cb *cb;
	void		  *arg;
	unsigned	   flags;
	atomic_int	   refs;
	struct bt_msg_ep  *next;
};

struct peer {
	char	    *addr;
	bt_net_conn *conn;
	uint64_t     next_try, backoff;
	struct peer *next;
};

struct bt_msg_sub {
	bt_msg_node	  *n;
	char		  *topic;
	bt_msg_handler_cb *cb;
	void		  *arg;
	struct peer	  *via; /* NULL when this node owns the topic */
	atomic_int	   refs;
	struct bt_msg_sub *next;
};

struct route {
	char	     *prefix; /* "*" for the default */
	struct peer  *peer;
	struct route *next;
};

struct link {
	bt_net_conn *conn;
	struct link *next;
};

struct rsub {
	char	    *topic;
	bt_net_conn *conn;
	struct rsub *next;
};

/*
 * A synchronous caller waits on a futex word of its own (state), so the
 * thread that completes its call wakes exactly it, with one system call,
 * and only when it sleeps; no shared lock is handed over on the way.
 */
enum { W_WAIT, W_SLEEP, W_DONE };

struct waiter {
	atomic_int	     state;
	int		     rc;
	struct bt_msg_reply *reply;
	struct bt_diag	    *diag;
};

struct pend {
	uint64_t	 id;
	bt_net_conn	*conn;
	uint64_t	 deadline;
	struct waiter	*w;
	bt_msg_reply_cb *cb;
	void		*arg;
	bt_net_conn	*origin;
	uint64_t	 origin_stream;
	struct pend	*next;
};

/*
 * A node as seen by a deferred in-process call (bt_msg_defer): the answer
 * may come from any thread, even after bt_msg_node_free, which clears n
 * under mu first; so an answer either finds the node whole or not at all.
 */
struct node_ref {
	atomic_int	refs;
	pthread_mutex_t mu;
	bt_msg_node    *n;
};

struct bt_msg_node {
	bt_net		  *net;
	struct node_ref	  *self;
	char		  *path;
	pthread_mutex_t	   mu;
	pthread_cond_t	   cv;
	struct bt_msg_ep  *eps;
	struct bt_msg_sub *subs;
	struct route	  *routes;
	struct peer	  *peers;
	struct link	  *links;
	struct rsub	  *rsubs;
	struct pend	  *pend[PEND_BUCKETS];
	uint64_t	   next_id;
	uint32_t	   max_hops;
	bool		   stopping;
	/*
	 * The last destination that passed bt_path_check, on the way out
	 * (mu) and on the way in (loop thread only): a stream of messages to
	 * one path is checked once, not once per message.
	 */
	char		   tx_ok[PATH_BUF];
	char		   rx_ok[PATH_BUF];
};

/* path_ok is bt_path_check(p) == 0, remembered in last (see above). */
static bool
path_ok(char *last, const char *p)
{
	size_t len;

	if (strcmp(p, last) == 0)
		return true;
	if (bt_path_check(p, NULL) != 0)
		return false;
	len = strlen(p); /* <= BT_PATH_MAX once checked */
	memcpy(last, p, len + 1);
	return true;
}

static void on_open(void *arg, bt_net_conn *c);
static void on_frame(void *arg, bt_net_conn *c, const struct bt_net_frame *f);
static void on_close(void *arg, bt_net_conn *c, int rc);

static struct bt_net_handler
handler(bt_msg_node *n)
{
	return (struct bt_net_handler) { on_open, on_frame, on_close, n };
}

static const char *
my_path(const bt_msg_node *n)
{
	return n->path ? n->path : "";
}

static struct bt_buf
sbuf(const char *s)
{
	return (struct bt_buf) { (const uint8_t *)s, s ? strlen(s) : 0 };
}

/* ------------------------------------------------------------------ */
/* Pending calls                                                        */
/* ------------------------------------------------------------------ */

/*
 * How many calls from connection c this node forwards and awaits: kept in
 * the connection's data slot, which msg uses for nothing else (n->mu).
 */
static size_t
forwarded(const bt_net_conn *c)
{
	return (size_t)(uintptr_t)bt_net_conn_data(c);
}

static void
forwarded_add(bt_net_conn *c, int delta)
{
	bt_net_conn_set_data(c, (void *)(uintptr_t)(forwarded(c) + delta));
}

/* origin_drop lets go of the caller of a call forwarded as p. */
static void
origin_drop(bt_msg_node *n, struct pend *p)
{
	pthread_mutex_lock(&n->mu);
	forwarded_add(p->origin, -1);
	pthread_mutex_unlock(&n->mu);
	bt_net_conn_rele(p->origin);
	p->origin = NULL;
}

/*
 * pend_put records a pending call (mu). The tick keeps the deadlines of
 * those nobody waits for (p->w NULL): it may be resting (on_tick), so it
 * is woken; under mu, so on_tick either sees p or rested before.
 */
static void
pend_put(bt_msg_node *n, struct pend *p)
{
	struct pend **b = &n->pend[p->id % PEND_BUCKETS];

	p->next = *b;
	*b = p;
	if (p->w == NULL)
		bt_net_tick_wake(n->net);
}

static struct pend *
pend_take(bt_msg_node *n, uint64_t id, const bt_net_conn *conn)
{
	struct pend **pp = &n->pend[id % PEND_BUCKETS], *p;

	for (; (p = *pp) != NULL; pp = &p->next) {
		if (p->id == id && (conn == NULL || p->conn == conn)) {
			*pp = p->next;
			p->next = NULL;
			return p;
		}
	}
	return NULL;
}

static int
encode_error(struct bt_dbuf *b, int code, const char *text)
{
	int rc = bt_serde_put_svarint(b, code);

	if (rc == 0)
		rc = bt_serde_put_bytes(b, text, strlen(text));
	return rc;
}

static int
send_error(bt_net_conn *c, uint64_t stream, const char *from,
    const char *to, int code, const char *text)
{
	struct bt_net_frame f = { .kind = BT_MSG_WIRE_ERROR, .stream = stream };
	struct bt_dbuf b;
	int rc;

	bt_dbuf_init(&b, 4096);
	rc = encode_error(&b, code, text);
	if (rc == 0) {
		f.from = sbuf(from);
		f.to = sbuf(to);
		f.payload = (struct bt_buf) { b.ptr, b.len };
		rc = bt_net_conn_send(c, &f);
	}
	bt_dbuf_fini(&b);
	return rc;
}

static long
futex_op(atomic_int *word, int op, int val, const struct timespec *ts)
{
	return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

/*
 * waiter_wake publishes the result. After the exchange the waiter may
 * return and its stack be reused: the wake that may follow only names the
 * address (a spurious wake-up at worst, which every futex wait allows).
 */
static void
waiter_wake(struct waiter *w)
{
	if (atomic_exchange(&w->state, W_DONE) == W_SLEEP)
		(void)futex_op(&w->state, FUTEX_WAKE_PRIVATE, 1, NULL);
}

/*
 * waiter_sleep waits until the call is done or the monotonic clock
 * reaches deadline. Returns true when done.
 */
static bool
waiter_sleep(struct waiter *w, uint64_t deadline)
{
	struct timespec ts;
	uint64_t now, left;
	int st;

	for (;;) {
		st = atomic_load(&w->state);
		if (st == W_DONE)
			return true;
		now = bt_time_mono_ns();
		if (now >= deadline)
			return false;
		if (st == W_WAIT &&
		    !atomic_compare_exchange_strong(&w->state, &st, W_SLEEP))
			continue;
		left = deadline - now;
		ts.tv_sec = (time_t)(left / 1000000000ULL);
		ts.tv_nsec = (long)(left % 1000000000ULL);
		(void)futex_op(&w->state, FUTEX_WAIT_PRIVATE, W_SLEEP, &ts);
	}
}

/*
 * complete finishes a pending call that has been taken from the table:
 * kind is REPLY or ERROR (payload as on the wire), or 0 with rc a local
 * failure.
 */
static void
complete(bt_msg_node *n, struct pend *p, uint32_t kind, int rc,
    const void *data, size_t len, const char *why)
{
	char text[200];
	int64_t code = rc;
	struct bt_buf t = { NULL, 0 };

	if (kind == BT_MSG_WIRE_ERROR) {
		struct bt_serde_dec d;

		bt_serde_dec_init(&d, data, len, NULL, NULL);
		if (bt_serde_get_svarint(&d, &code) != 0 || code >= 0 ||
		    code < INT32_MIN)
			code = -EREMOTEIO;
		(void)bt_serde_get_bytes(&d, &t);
		snprintf(text, sizeof(text), "remote: %.*s",
		    (int)(t.len > 180 ? 180 : t.len),
		    t.ptr ? (const char *)t.ptr : "");
		rc = (int)code;
	} else if (kind == 0) {
		snprintf(text, sizeof(text), "%s", why ? why : bt_strerror(rc));
	} else {
		rc = 0;
		text[0] = '\0';
	}
	if (p->origin != NULL) {
		/* A call we forwarded: pass the answer back unchanged. */
		if (kind == BT_MSG_WIRE_REPLY || kind == BT_MSG_WIRE_ERROR) {
			struct bt_net_frame f = { .kind = kind,
				.stream = p->origin_stream };

			f.payload = (struct bt_buf) { data, len };
			(void)bt_net_conn_send(p->origin, &f);
		} else {
			(void)send_error(p->origin, p->origin_stream, "", "",
			    rc, text);
		}
		origin_drop(n, p);
	} else if (p->w != NULL) {
		/* The waiter reads these only once it sees W_DONE. */
		p->w->rc = rc;
		if (rc == 0) {
			p->w->reply->ptr = bt_memdup(data ? data : "", len);
			p->w->reply->len = len;
			if (p->w->reply->ptr == NULL)
				p->w->rc = -ENOMEM;
		} else {
			bt_diag_set(p->w->diag, -1, "%s", text);
		}
		waiter_wake(p->w);
	} else if (p->cb != NULL) {
		p->cb(p->arg, rc, rc == 0 ? data : NULL, rc == 0 ? len : 0);
	}
	bt_net_conn_rele(p->conn);
	bt_free(p);
}

/* ------------------------------------------------------------------ */
/* Routing                                                              */
/* ------------------------------------------------------------------ */

/*
 * within says whether path lies at or beneath prefix ("*" holds every
 * path). Both must be valid paths already (bt_path_check): every path in
 * the tables was checked when it entered them, and a destination before
 * it is routed; so this is a string comparison, not a second parse (valid
 * paths have no empty components and no trailing '/').
 */
static bool
within(const char *path, const char *prefix)
{
	size_t pl;

	if (prefix[0] == '*' && prefix[1] == '\0')
		return true;
	pl = strlen(prefix);
	return strncmp(path, prefix, pl) == 0 &&
	    (path[pl] == '\0' || path[pl] == '/');
}

static struct bt_msg_ep *
find_ep(bt_msg_node *n, const char *to)
{
	struct bt_msg_ep *best = NULL;
	size_t bl = 0;

	for (struct bt_msg_ep *e = n->eps; e != NULL; e = e->next)
		if (strcmp(e->path, to) == 0)
			return e;
	for (struct bt_msg_ep *e = n->eps; e != NULL; e = e->next) {
		size_t l = strlen(e->path);

		if (l > bl && within(to, e->path)) {
			best = e;
			bl = l;
		}
	}
	/* to may come unchecked from this process (resolve); mu is held. */
	if (best != NULL && !path_ok(n->tx_ok, to))
		return NULL;
	return best;
}

static struct peer *
route_peer(bt_msg_node *n, const char *to)
{
	struct route *best = NULL;
	size_t bl = 0;

	for (struct route *r = n->routes; r != NULL; r = r->next) {
		size_t l = strcmp(r->prefix, "*") == 0 ? 1 : strlen(r->prefix) + 1;

		if (l > bl && within(to, r->prefix)) {
			best = r;
			bl = l;
		}
	}
	return best ? best->peer : NULL;
}

/* peer_conn returns the peer's connection, connecting if needed (mu). */
static bt_net_conn *
peer_conn(bt_msg_node *n, struct peer *p)
{
	struct bt_net_handler h = handler(n);

	if (p->conn == NULL && !n->stopping) {
		if (bt_net_connect(n->net, p->addr, &h, &p->conn) != 0)
			p->conn = NULL;
	}
	return p->conn;
}

/*
 * route_conn finds the connection for a remote path (mu held), never
 * `exclude` (where the message came from). Returns a held conn or NULL.
 */
static bt_net_conn *
route_conn(bt_msg_node *n, const char *to, const bt_net_conn *exclude)
{
	bt_net_conn *best = NULL;
	struct peer *p;
	size_t bl = 0;

	for (struct link *l = n->links; l != NULL; l = l->next) {
		const char *pp = bt_net_conn_peer_path(l->conn);
		size_t len = pp ? strlen(pp) : 0;

		if (pp != NULL && len > bl && l->conn != exclude &&
		    within(to, pp)) {
			best = l->conn;
			bl = len;
		}
	}
	if (best == NULL) {
		p = route_peer(n, to);
		if (p != NULL)
			best = peer_conn(n, p);
	}
	if (best == exclude)
		return NULL;
	if (best != NULL)
		bt_net_conn_hold(best);
	return best;
}

static bool
owns(const bt_msg_node *n, const char *topic)
{
	return n->path != NULL && within(topic, n->path);
}

/* ------------------------------------------------------------------ */
/* Delivery to local endpoints                                          */
/* ------------------------------------------------------------------ */

/*
 * An in-process call being run: the handler's answer goes to out (or rc,
 * text); a handler that defers it (bt_msg_defer) puts a pending call for
 * the caller in the table instead, answered like a remote one: to w (a
 * waiting caller) or cb (bt_msg_call_async), by deadline.
 */
struct local_reply {
	int		     rc;
	struct bt_msg_reply *out;
	char		     text[200];
	bt_msg_node	    *n;
	struct waiter	    *w;
	bt_msg_reply_cb	    *cb;
	void		    *arg;
	uint64_t	     deadline;
	uint64_t	     id; /* set when deferred */
	bool		     deferred;
};

static void
node_ref_rele(struct node_ref *r)
{
	if (r != NULL && atomic_fetch_sub(&r->refs, 1) == 1) {
		pthread_mutex_destroy(&r->mu);
		bt_free(r);
	}
}

static void
ep_rele(struct bt_msg_ep *e)
{
	if (atomic_fetch_sub(&e->refs, 1) == 1) {
		bt_free(e->path);
		bt_free(e);
	}
}

/*
 * run_handler calls an endpoint's handler for one message and answers a
 * call the handler left unanswered, or an anonymous caller it refuses.
 */
static void
run_handler(struct bt_msg_ep *e, struct bt_msg *m)
{
	if (m->from[0] == '\0' && !(e->flags & BT_MSG_BIND_ANONYMOUS)) {
		if (m->kind == BT_MSG_CALL)
			(void)bt_msg_reply_error(m, -EACCES, "anonymous "
			    "callers are not allowed here");
		return;
	}
	e->cb(e->arg, m);
	if (m->kind == BT_MSG_CALL && !m->replied_)
		(void)bt_msg_reply_error(m, -ENOMSG, "no reply");
}

int
bt_msg_reply(struct bt_msg *m, const void *data, size_t len)
{
	struct bt_net_frame f = { .kind = BT_MSG_WIRE_REPLY };
	struct local_reply *lr = m->local_;

	if (m->kind != BT_MSG_CALL || m->replied_)
		return -EINVAL;
	m->replied_ = 1;
	if (lr != NULL) {
		lr->out->ptr = bt_memdup(data ? data : "", len);
		lr->out->len = len;
		lr->rc = lr->out->ptr ? 0 : -ENOMEM;
		return lr->rc;
	}
	f.stream = m->stream_;
	f.from = sbuf(m->to);
	f.to = sbuf(m->from);
	f.payload = (struct bt_buf) { data, len };
	return bt_net_conn_send(m->conn_, &f);
}

int
bt_msg_reply_error(struct bt_msg *m, int code, const char *text)
{
	struct local_reply *lr = m->local_;

	if (m->kind != BT_MSG_CALL || m->replied_ || code >= 0)
		return -EINVAL;
	m->replied_ = 1;
	if (lr != NULL) {
		lr->rc = code;
		snprintf(lr->text, sizeof(lr->text), "remote: %s", text);
		return 0;
	}
	return send_error(m->conn_, m->stream_, m->to, m->from, code, text);
}

/*
 * A call taken by bt_msg_defer, answered later from any thread: over conn
 * (a remote caller), or, for one from this process, through the pending
 * call numbered id in the node that local names.
 */
struct bt_msg_deferred {
	bt_net_conn	*conn; /* held: the connection the call came on */
	uint64_t	 stream;
	char		*from; /* the callee's path: the call's destination */
	char		*to;   /* the caller's path */
	struct node_ref *local;	/* held */
	uint64_t	 id;
};

/* defer_local takes an in-process call (see struct local_reply). */
static int
defer_local(struct local_reply *lr, bt_msg_deferred *d)
{
	bt_msg_node *n = lr->n;
	struct pend *p = bt_zalloc(sizeof(*p));

	if (p == NULL)
		return -ENOMEM;
	p->deadline = lr->deadline;
	p->w = lr->w;
	p->cb = lr->cb;
	p->arg = lr->arg;
	atomic_fetch_add(&n->self->refs, 1);
	d->local = n->self;
	pthread_mutex_lock(&n->mu);
	d->id = lr->id = p->id = ++n->next_id;
	pend_put(n, p);
	pthread_mutex_unlock(&n->mu);
	lr->deferred = true;
	return 0;
}

int
bt_msg_defer(struct bt_msg *m, bt_msg_deferred **out)
{
	struct local_reply *lr = m->local_;
	struct bt_msg_deferred *d;

	if (m->kind != BT_MSG_CALL || m->replied_)
		return -EINVAL;
	if (lr == NULL && m->conn_ == NULL)
		return -EINVAL;
	d = bt_zalloc(sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	if (lr != NULL) {
		if (defer_local(lr, d) != 0) {
			bt_free(d);
			return -ENOMEM;
		}
		m->replied_ = 1;
		*out = d;
		return 0;
	}
	d->from = bt_strdup(m->to);
	d->to = bt_strdup(m->from);
	if (d->from == NULL || d->to == NULL) {
		bt_free(d->from);
		bt_free(d->to);
		bt_free(d);
		return -ENOMEM;
	}
	d->conn = m->conn_;
	bt_net_conn_hold(d->conn);
	d->stream = m->stream_;
	m->replied_ = 1;
	*out = d;
	return 0;
}

static void
deferred_free(bt_msg_deferred *d)
{
	bt_net_conn_rele(d->conn);
	node_ref_rele(d->local);
	bt_free(d->from);
	bt_free(d->to);
	bt_free(d);
}

/* An in-process answer for an async caller, run on the loop thread. */
struct late_answer {
	bt_msg_node *n;
	struct pend *p;
	int	     rc;
	uint8_t	    *data;
	size_t	     len;
	char	     why[200];
};

static void
late_answer_run(void *arg)
{
	struct late_answer *a = arg;

	complete(a->n, a->p, a->rc == 0 ? BT_MSG_WIRE_REPLY : 0, a->rc,
	    a->data, a->len, a->why);
	bt_free(a->data);
	bt_free(a);
}

/*
 * local_answer answers a deferred in-process call: rc 0 with data, or a
 * negative rc with why. A waiting caller is woken from here; an async
 * caller's callback runs on the loop thread, as for a remote answer. An
 * answer after the caller's deadline is dropped (0, as the node of a
 * remote caller drops it); after bt_msg_node_free, BT_ECLOSED.
 */
static int
local_answer(bt_msg_deferred *d, int rc, const void *data, size_t len,
    const char *why)
{
	struct node_ref *r = d->local;
	struct late_answer *a;
	struct pend *p = NULL;
	bt_msg_node *n;
	int ret = BT_ECLOSED;

	pthread_mutex_lock(&r->mu);
	if ((n = r->n) == NULL)
		goto out;
	pthread_mutex_lock(&n->mu);
	p = pend_take(n, d->id, NULL);
	pthread_mutex_unlock(&n->mu);
	ret = 0;
	if (p == NULL)
		goto out;
	if (p->w != NULL || p->cb == NULL) {
		complete(n, p, rc == 0 ? BT_MSG_WIRE_REPLY : 0, rc, data, len,
		    why);
		goto out;
	}
	a = bt_zalloc(sizeof(*a));
	if (a != NULL && len > 0 && (a->data = bt_memdup(data, len)) == NULL) {
		bt_free(a);
		a = NULL;
	}
	if (a == NULL) {
		complete(n, p, 0, -ENOMEM, NULL, 0, NULL);
		ret = -ENOMEM;
		goto out;
	}
	a->n = n;
	a->p = p;
	a->rc = rc;
	a->len = len;
	snprintf(a->why, sizeof(a->why), "%s", why ? why : "");
	/* bt_msg_node_free, which frees the net, waits for r->mu. */
	if (bt_net_post(n->net, late_answer_run, a) != 0)
		late_answer_run(a);
out:
	pthread_mutex_unlock(&r->mu);
	deferred_free(d);
	return ret;
}

int
bt_msg_deferred_reply(bt_msg_deferred *d, const void *data, size_t len)
{
	struct bt_net_frame f = { .kind = BT_MSG_WIRE_REPLY };
	int rc;

	if (d->local != NULL)
		return local_answer(d, 0, data, len, NULL);
	f.stream = d->stream;
	f.from = sbuf(d->from);
	f.to = sbuf(d->to);
	f.payload = (struct bt_buf) { data, len };
	/* Off the loop thread this writes at once, like a waiting caller. */
	rc = bt_net_conn_send_now(d->conn, &f);
	deferred_free(d);
	return rc;
}

int
bt_msg_deferred_error(bt_msg_deferred *d, int code, const char *text)
{
	char why[200];
	int rc;

	if (d->local != NULL) {
		snprintf(why, sizeof(why), "remote: %s", text ? text : "");
		return local_answer(d, code < 0 ? code : -EINVAL, NULL, 0, why);
	}
	rc = send_error(d->conn, d->stream, d->from, d->to,
	    code < 0 ? code : -EINVAL, text ? text : "");
	deferred_free(d);
	return rc;
}

/* ------------------------------------------------------------------ */
/* From the network                                                     */
/* ------------------------------------------------------------------ */

/*
 * Subscriptions through a forwarding node. The owner of a topic keeps one
 * record per subscribing connection (struct rsub). A node that does not
 * own the topic keeps the same records for the connections below it and
 * subscribes upstream once, through the peer that routes the topic, for
 * as long as anyone below it or a local subscriber wants the topic
 * (upstream_wanted); publications from upstream fan out to both. So the
 * owner sees one subscriber per forwarding node, however many are below.
 */

/* upstream_wanted: does anyone here still want topic from upstream (mu). */
static bool
upstream_wanted(const bt_msg_node *n, const char *topic)
{
	for (const struct bt_msg_sub *s = n->subs; s != NULL; s = s->next)
		if (s->via != NULL && strcmp(s->topic, topic) == 0)
			return true;
	for (const struct rsub *r = n->rsubs; r != NULL; r = r->next)
		if (strcmp(r->topic, topic) == 0)
			return true;
	return false;
}

/*
 * upstream_conn returns the held, open connection to the peer routing
 * topic, or NULL (mu). With connect, it connects when there is none (and
 * on_open sends the subscriptions routed through the peer).
 */
static bt_net_conn *
upstream_conn(bt_msg_node *n, const char *topic, bool connect)
{
	struct peer *p = route_peer(n, topic);
	bt_net_conn *c = p == NULL ? NULL : connect ? peer_conn(n, p) :
	    p->conn;

	if (c == NULL || !bt_net_conn_is_open(c))
		return NULL;
	bt_net_conn_hold(c);
	return c;
}

/* sub_send sends a SUB or UNSUB for topic up c, and lets go of c. */
static void
sub_send(bt_msg_node *n, bt_net_conn *c, uint32_t kind, const char *topic,
    uint32_t hops)
{
	struct bt_net_frame f = { .kind = kind, .hops = hops };

	f.from = sbuf(my_path(n));
	f.to = sbuf(topic);
	(void)bt_net_conn_send(c, &f);
	bt_net_conn_rele(c);
}

static void
on_open(void *arg, bt_net_conn *c)
{
	bt_msg_node *n = arg;
	struct link *l = bt_alloc(sizeof(*l));

	pthread_mutex_lock(&n->mu);
	if (l != NULL) {
		bt_net_conn_hold(c);
		l->conn = c;
		l->next = n->links;
		n->links = l;
	}
	/* A remade connection to a peer carries our subscriptions again. */
	for (struct peer *p = n->peers; p != NULL; p = p->next) {
		if (p->conn != c)
			continue;
		p->backoff = 0;
		for (struct bt_msg_sub *s = n->subs; s != NULL; s = s->next) {
			struct bt_net_frame f = { .kind = BT_MSG_WIRE_SUB };

			if (s->via != p)
				continue;
			f.from = sbuf(n->path);
			f.to = sbuf(s->topic);
			(void)bt_net_conn_send(c, &f);
		}
		/* And those of the nodes below us (once per topic). */
		for (struct rsub *r = n->rsubs; r != NULL; r = r->next) {
			struct bt_net_frame f = { .kind = BT_MSG_WIRE_SUB };
			bool sent = false;

			if (owns(n, r->topic) || route_peer(n, r->topic) != p)
				continue;
			for (struct rsub *q = n->rsubs; q != r && !sent;
			     q = q->next)
				sent = strcmp(q->topic, r->topic) == 0;
			for (struct bt_msg_sub *s = n->subs; s != NULL &&
			     !sent; s = s->next)
				sent = s->via == p &&
				    strcmp(s->topic, r->topic) == 0;
			if (sent)
				continue;
			f.from = sbuf(my_path(n));
			f.to = sbuf(r->topic);
			(void)bt_net_conn_send(c, &f);
		}
	}
	pthread_mutex_unlock(&n->mu);
	bt_log_debug("msg", "connected with %s (%s)", bt_net_conn_addr(c),
	    bt_net_conn_peer_path(c) ? bt_net_conn_peer_path(c) :
	    "anonymous");
}

static void
on_close(void *arg, bt_net_conn *c, int rc)
{
	bt_msg_node *n = arg;
	struct pend *failed = NULL, *p, **pp;
	struct link **lp, *l;
	struct rsub **rp, *r, *gone = NULL;
	bt_net_conn *drop[64];
	size_t ndrop = 0;
	uint64_t now = bt_time_mono_ns();

	pthread_mutex_lock(&n->mu);
	for (lp = &n->links; (l = *lp) != NULL;) {
		if (l->conn == c) {
			*lp = l->next;
			bt_free(l);
			if (ndrop < 64)
				drop[ndrop++] = c;
			else
				bt_net_conn_rele(c);
		} else {
			lp = &l->next;
		}
	}
	for (rp = &n->rsubs; (r = *rp) != NULL;) {
		if (r->conn == c) {
			*rp = r->next;
			r->next = gone;
			gone = r;
			bt_net_conn_rele(c); /* safe: the net holds c too */
		} else {
			rp = &r->next;
		}
	}
	/*
	 * What we subscribed to upstream for c alone is dropped there too:
	 * r->conn becomes the connection to send that UNSUB up, or NULL.
	 * (The topics in gone are distinct: one record per connection.)
	 */
	for (r = gone; r != NULL; r = r->next)
		r->conn = n->stopping || owns(n, r->topic) ||
		    upstream_wanted(n, r->topic) ? NULL :
		    upstream_conn(n, r->topic, false);
	for (struct peer *pe = n->peers; pe != NULL; pe = pe->next) {
		if (pe->conn != c)
			continue;
		pe->conn = NULL;
		pe->backoff = pe->backoff ? pe->backoff * 2 : BACKOFF_MIN;
		if (pe->backoff > BACKOFF_MAX)
			pe->backoff = BACKOFF_MAX;
		pe->next_try = now + pe->backoff;
		bt_net_tick_wake(n->net); /* on_tick reconnects */
		bt_net_conn_rele(c);
	}
	for (size_t i = 0; i < PEND_BUCKETS; i++) {
		for (pp = &n->pend[i]; (p = *pp) != NULL;) {
			if (p->conn == c || p->origin == c) {
				*pp = p->next;
				p->next = failed;
				failed = p;
			} else {
				pp = &p->next;
			}
		}
	}
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
	for (size_t i = 0; i < ndrop; i++)
		bt_net_conn_rele(drop[i]);
	while ((r = gone) != NULL) {
		gone = r->next;
		if (r->conn != NULL)
			sub_send(n, r->conn, BT_MSG_WIRE_UNSUB, r->topic, 0);
		bt_free(r->topic);
		bt_free(r);
	}
	while ((p = failed) != NULL) {
		failed = p->next;
		if (p->origin == c) {
			/* The caller went away: nobody to answer. */
			origin_drop(n, p);
			bt_net_conn_rele(p->conn);
			bt_free(p);
			continue;
		}
		complete(n, p, 0, rc == 0 ? BT_ECLOSED : rc, NULL, 0,
		    "the connection carrying the call closed");
	}
	if (rc != 0 && rc != BT_ECLOSED)
		bt_log_debug("msg", "connection with %s closed: %s",
		    bt_net_conn_addr(c), bt_strerror(rc));
}

/*
 * fanout delivers a publication to the subscribers this node knows: local
 * ones, and with remote_too those on other connections than exclude (the
 * one it came on, when it came from upstream).
 */
static void
fanout(bt_msg_node *n, const char *from, const char *topic, uint32_t proto,
    const void *data, size_t len, bool remote_too, const bt_net_conn *exclude)
{
	struct bt_msg_sub *local[64];
	bt_net_conn *remote[256];
	struct bt_dbuf enc;
	size_t nl = 0, nr = 0;
	struct bt_net_frame f = { .kind = BT_MSG_WIRE_PUB, .proto = proto };

	pthread_mutex_lock(&n->mu);
	for (struct bt_msg_sub *s = n->subs; s != NULL && nl < 64;
	     s = s->next) {
		if (within(topic, s->topic)) {
			atomic_fetch_add(&s->refs, 1);
			local[nl++] = s;
		}
	}
	for (struct rsub *r = n->rsubs; remote_too && r != NULL && nr < 256;
	     r = r->next) {
		if (r->conn != exclude && within(topic, r->topic)) {
			bt_net_conn_hold(r->conn);
			remote[nr++] = r->conn;
		}
	}
	pthread_mutex_unlock(&n->mu);
	f.from = sbuf(from);
	f.to = sbuf(topic);
	f.payload = (struct bt_buf) { data, len };
	/* One encoding for every subscriber connection. */
	bt_dbuf_init(&enc, SIZE_MAX);
	if (nr > 1 && bt_net_frame_encode(&enc, &f) != 0)
		bt_dbuf_fini(&enc);
	for (size_t i = 0; i < nr; i++) {
		int rc = enc.len > 0 ? bt__net_conn_send_encoded(remote[i],
		    enc.ptr, enc.len) : bt_net_conn_send(remote[i], &f);

		if (rc != 0 && rc != BT_ECLOSED)
			bt_log_debug("msg", "publication to %s dropped: %s",
			    bt_net_conn_addr(remote[i]), bt_strerror(rc));
		bt_net_conn_rele(remote[i]);
	}
	bt_dbuf_fini(&enc);
	for (size_t i = 0; i < nl; i++) {
		struct bt_msg m = { .kind = BT_MSG_PUB, .from = from,
			.to = topic, .proto = proto, .data = data,
			.len = len };

		local[i]->cb(local[i]->arg, &m);
		if (atomic_fetch_sub(&local[i]->refs, 1) == 1) {
			bt_free(local[i]->topic);
			bt_free(local[i]);
		}
	}
}

/*
 * hop_limit answers a message that has been forwarded as often as it may
 * be: a call gets -ELOOP, a send or publication is dropped and logged.
 */
static void
hop_limit(bt_msg_node *n, bt_net_conn *c, const struct bt_net_frame *f,
    const char *from, const char *to)
{
	char why[320];

	snprintf(why, sizeof(why), "hop limit of %u reached forwarding to "
	    "%.250s", (unsigned)n->max_hops, to);
	if (f->kind == BT_MSG_WIRE_CALL)
		(void)send_error(c, f->stream, to, from, -ELOOP, why);
	else
		bt_log_warn("msg", "dropped a message from %s: %s",
		    from[0] != '\0' ? from : "an anonymous sender", why);
}

/*
 * deliver routes one send or call that arrived on c (NULL: from this
 * process, which has no caller connection).
 */
static void
deliver(bt_msg_node *n, bt_net_conn *c, const struct bt_net_frame *f,
    const char *from, const char *to)
{
	struct bt_msg m = { .kind = f->kind == BT_MSG_WIRE_CALL ? BT_MSG_CALL :
		BT_MSG_SEND, .from = from, .to = to, .proto = f->proto,
		.data = f->payload.ptr, .len = f->payload.len, .conn_ = c,
		.stream_ = f->stream };
	struct bt_net_frame fw = *f;
	struct bt_msg_ep *e;
	bt_net_conn *target;
	struct pend *p = NULL;
	char why[300];
	uint64_t id;
	bool mine;
	int rc;

	pthread_mutex_lock(&n->mu);
	e = find_ep(n, to);
	if (e != NULL) {
		atomic_fetch_add(&e->refs, 1);
		pthread_mutex_unlock(&n->mu);
		run_handler(e, &m);
		ep_rele(e);
		return;
	}
	target = route_conn(n, to, c);
	if (target != NULL && f->hops >= n->max_hops) {
		pthread_mutex_unlock(&n->mu);
		bt_net_conn_rele(target);
		hop_limit(n, c, f, from, to);
		return;
	}
	if (target != NULL && f->kind == BT_MSG_WIRE_CALL &&
	    forwarded(c) >= FORWARDS_PER_CONN) {
		pthread_mutex_unlock(&n->mu);
		bt_net_conn_rele(target);
		snprintf(why, sizeof(why), "%d calls from one connection are "
		    "already in flight through this node", FORWARDS_PER_CONN);
		(void)send_error(c, f->stream, to, from, -EBUSY, why);
		return;
	}
	if (target != NULL && f->kind == BT_MSG_WIRE_CALL) {
		p = bt_zalloc(sizeof(*p));
		if (p == NULL) {
			pthread_mutex_unlock(&n->mu);
			bt_net_conn_rele(target);
			(void)send_error(c, f->stream, to, from, -ENOMEM,
			    "out of memory");
			return;
		} else {
			p->id = ++n->next_id;
			p->conn = target;
			p->deadline = bt_time_mono_ns() + FORWARD_TIMEOUT;
			bt_net_conn_hold(c);
			p->origin = c;
			forwarded_add(c, 1);
			p->origin_stream = f->stream;
			pend_put(n, p);
		}
	}
	mine = owns(n, to);
	pthread_mutex_unlock(&n->mu);
	if (target == NULL) {
		if (f->kind != BT_MSG_WIRE_CALL)
			return;
		if (mine) {
			snprintf(why, sizeof(why), "no endpoint at %.250s", to);
			(void)send_error(c, f->stream, to, from, -ENOENT, why);
		} else {
			snprintf(why, sizeof(why), "no route to %.250s", to);
			(void)send_error(c, f->stream, to, from,
			    -EHOSTUNREACH, why);
		}
		return;
	}
	fw.from = sbuf(from);
	fw.hops = f->hops + 1;
	if (p == NULL) {
		(void)bt_net_conn_send(target, &fw);
		bt_net_conn_rele(target);
		return;
	}
	fw.stream = id = p->id;
	rc = bt_net_conn_send(target, &fw);
	if (rc != 0) {
		pthread_mutex_lock(&n->mu);
		p = pend_take(n, id, target);
		pthread_mutex_unlock(&n->mu);
		if (p != NULL)
			complete(n, p, 0, rc, NULL, 0, "cannot forward");
	}
}

struct later {
	bt_msg_node *n;
	struct pend *p;
	uint32_t     kind;
	size_t	     len;
	uint8_t	     data[];
};

static void
later_run(void *arg)
{
	struct later *l = arg;

	complete(l->n, l->p, l->kind, 0, l->data, l->len, NULL);
	bt_free(l);
}

/* complete_later runs complete on the loop thread with a copy of f. */
static int
complete_later(bt_msg_node *n, struct pend *p, const struct bt_net_frame *f)
{
	struct later *l = bt_alloc(sizeof(*l) + f->payload.len);
	int rc;

	if (l == NULL)
		return -ENOMEM;
	l->n = n;
	l->p = p;
	l->kind = f->kind;
	l->len = f->payload.len;
	if (f->payload.len > 0)
		memcpy(l->data, f->payload.ptr, f->payload.len);
	rc = bt_net_post(n->net, later_run, l);
	if (rc != 0)
		bt_free(l);
	return rc;
}

/* on_sub: a SUB or UNSUB for topic from connection c (loop thread). */
static void
on_sub(bt_msg_node *n, bt_net_conn *c, const struct bt_net_frame *f,
    const char *topic)
{
	bool own = owns(n, topic), change = false;
	bt_net_conn *up = NULL;
	struct rsub **rp, *r;
	size_t mine = 0;

	pthread_mutex_lock(&n->mu);
	for (rp = &n->rsubs; (r = *rp) != NULL; rp = &r->next) {
		if (r->conn != c)
			continue;
		if (strcmp(r->topic, topic) == 0)
			break;
		mine++;
	}
	if (f->kind == BT_MSG_WIRE_SUB && r == NULL &&
	    mine >= SUBS_PER_CONN) {
		pthread_mutex_unlock(&n->mu);
		/* Debug: a peer that keeps trying must not flood the log. */
		bt_log_debug("msg", "%s: subscription to %s refused: over %d "
		    "topics on one connection", bt_net_conn_addr(c), topic,
		    SUBS_PER_CONN);
		return;
	}
	if (f->kind == BT_MSG_WIRE_UNSUB && r != NULL) {
		*rp = r->next;
		bt_net_conn_rele(r->conn);
		bt_free(r->topic);
		bt_free(r);
		change = !own && !upstream_wanted(n, topic);
	} else if (f->kind == BT_MSG_WIRE_SUB && r == NULL &&
	    (own || route_peer(n, topic) != NULL)) {
		change = !own && !upstream_wanted(n, topic);
		r = bt_zalloc(sizeof(*r));
		if (r == NULL || (r->topic = bt_strdup(topic)) == NULL) {
			bt_free(r);
			pthread_mutex_unlock(&n->mu);
			return;
		}
		bt_net_conn_hold(c);
		r->conn = c;
		r->next = n->rsubs;
		n->rsubs = r;
	}
	if (change)
		up = upstream_conn(n, topic, f->kind == BT_MSG_WIRE_SUB);
	pthread_mutex_unlock(&n->mu);
	if (up == NULL)
		return;
	if (f->kind == BT_MSG_WIRE_SUB && f->hops >= n->max_hops) {
		bt_log_warn("msg", "hop limit of %u reached forwarding a "
		    "subscription to %s", n->max_hops, topic);
		bt_net_conn_rele(up);
		return;
	}
	sub_send(n, up, f->kind, topic, f->hops + 1);
}

static void
on_frame(void *arg, bt_net_conn *c, const struct bt_net_frame *f)
{
	bt_msg_node *n = arg;
	const char *peer = bt_net_conn_peer_path(c);
	char from[PATH_BUF], to[PATH_BUF];
	struct pend *p;

	if (f->kind == BT_MSG_WIRE_REPLY || f->kind == BT_MSG_WIRE_ERROR) {
		pthread_mutex_lock(&n->mu);
		p = pend_take(n, f->stream, c);
		pthread_mutex_unlock(&n->mu);
		if (p == NULL)
			return;
		/*
		 * A waiting caller reading its own answer (ANSWER_KINDS) may
		 * meet an asynchronous call's: its callback belongs on the
		 * loop thread.
		 */
		if (p->cb != NULL && !bt_net_in_loop(n->net) &&
		    complete_later(n, p, f) == 0)
			return;
		complete(n, p, f->kind, 0, f->payload.ptr, f->payload.len,
		    NULL);
		return;
	}
	if (f->from.len >= PATH_BUF || f->to.len >= PATH_BUF)
		goto bad;
	/* net/ refuses NUL inside paths: these are the whole strings. */
	memcpy(from, f->from.ptr, f->from.len);
	from[f->from.len] = '\0';
	memcpy(to, f->to.ptr, f->to.len);
	to[f->to.len] = '\0';
	/*
	 * The sender's path must be one its connection proved, unless the
	 * connection is one we made to a router we chose to trust.
	 */
	if (!bt_net_conn_is_outgoing(c) &&
	    (peer == NULL || from[0] == '\0' ||
	    (strcmp(from, peer) != 0 && (!within(from, peer) ||
	    bt_path_check(from, NULL) != 0))))
		snprintf(from, sizeof(from), "%s", peer ? peer : "");
	if (!path_ok(n->rx_ok, to))
		goto bad;
	switch (f->kind) {
	case BT_MSG_WIRE_SEND:
	case BT_MSG_WIRE_CALL:
		deliver(n, c, f, from, to);
		break;
	case BT_MSG_WIRE_PUB:
		if (owns(n, to)) {
			fanout(n, from, to, f->proto, f->payload.ptr,
			    f->payload.len, true, NULL);
		} else if (bt_net_conn_is_outgoing(c)) {
			/* From upstream: ours, and those we forward for. */
			fanout(n, from, to, f->proto, f->payload.ptr,
			    f->payload.len, true, c);
		} else {
			bt_net_conn *t;
			struct bt_net_frame fw = *f;

			pthread_mutex_lock(&n->mu);
			t = route_conn(n, to, c);
			pthread_mutex_unlock(&n->mu);
			if (t != NULL && f->hops >= n->max_hops) {
				bt_net_conn_rele(t);
				hop_limit(n, c, f, from, to);
			} else if (t != NULL) {
				fw.from = sbuf(from);
				fw.hops = f->hops + 1;
				(void)bt_net_conn_send(t, &fw);
				bt_net_conn_rele(t);
			}
		}
		break;
	case BT_MSG_WIRE_SUB:
	case BT_MSG_WIRE_UNSUB:
		on_sub(n, c, f, to);
		break;
	default:
		break; /* kinds of a later version: ignored */
	}
	return;
bad:
	if (f->kind == BT_MSG_WIRE_CALL)
		(void)send_error(c, f->stream, "", "", -EINVAL,
		    "the destination is not a valid path");
}

/*
 * on_tick: deadlines of pending calls and reconnecting subscribers. When
 * there is neither (no call nobody waits for, no subscription whose peer
 * is down) the tick rests until pend_put, a lost peer connection or a
 * subscription wakes it: an idle node does not wake 50 times a second.
 */
static void
on_tick(void *arg)
{
	bt_msg_node *n = arg;
	uint64_t now = bt_time_mono_ns();
	struct pend *late = NULL, *p, **pp;
	bool busy = false;

	pthread_mutex_lock(&n->mu);
	for (size_t i = 0; i < PEND_BUCKETS; i++) {
		for (pp = &n->pend[i]; (p = *pp) != NULL;) {
			if (p->w == NULL && p->deadline <= now) {
				*pp = p->next;
				p->next = late;
				late = p;
			} else {
				busy |= p->w == NULL;
				pp = &p->next;
			}
		}
	}
	for (struct peer *pe = n->peers; pe != NULL; pe = pe->next) {
		bool wanted = false;

		if (pe->conn != NULL)
			continue;
		for (struct bt_msg_sub *s = n->subs; s != NULL; s = s->next)
			wanted |= s->via == pe;
		busy |= wanted;
		if (wanted && pe->next_try <= now) {
			pe->next_try = now + BACKOFF_MAX;
			(void)peer_conn(n, pe);
		}
	}
	if (!busy)
		bt_net_tick_rest(n->net);
	pthread_mutex_unlock(&n->mu);
	while ((p = late) != NULL) {
		late = p->next;
		complete(n, p, 0, -ETIMEDOUT, NULL, 0,
		    "no reply before the deadline");
	}
}

/* ------------------------------------------------------------------ */
/* The node                                                             */
/* ------------------------------------------------------------------ */

int
bt_msg_node_new(bt_msg_node **out, const struct bt_msg_config *cfg,
    struct bt_diag *diag)
{
	struct bt_net_config nc = { .version = 1 };
	bt_msg_node *n;
	int rc;

	n = bt_zalloc(sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	if ((n->self = bt_zalloc(sizeof(*n->self))) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	atomic_init(&n->self->refs, 1);
	pthread_mutex_init(&n->self->mu, NULL);
	n->self->n = n;
	n->max_hops = cfg->max_hops ? cfg->max_hops : BT_MSG_HOPS_DEFAULT;
	if (cfg->path != NULL && (n->path = bt_strdup(cfg->path)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	nc.key = cfg->key;
	nc.cred = cfg->cred;
	nc.path = cfg->path;
	nc.max_frame = cfg->max_frame;
	nc.handshake_timeout_ns = cfg->handshake_timeout_ns;
	nc.idle_timeout_ns = cfg->idle_timeout_ns;
	nc.allow_anonymous = !cfg->deny_anonymous;
	rc = bt_net_new(&n->net, &nc, diag);
	if (rc != 0)
		goto fail;
	rc = bt_net_set_tick(n->net, TICK_NS, on_tick, n);
	if (rc != 0)
		goto fail;
	*out = n;
	return 0;
fail:
	bt_net_free(n->net);
	node_ref_rele(n->self);
	bt_free(n->path);
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cv);
	bt_free(n);
	return rc;
}

const char *
bt_msg_node_path(const bt_msg_node *n)
{
	return n->path;
}

void
bt_msg_node_free(bt_msg_node *n)
{
	bt_net_conn *conns[1024];
	size_t nc = 0;
	struct timespec ts;
	uint64_t end;

	if (n == NULL)
		return;
	/* Deferred in-process answers from now on fail (local_answer). */
	pthread_mutex_lock(&n->self->mu);
	n->self->n = NULL;
	pthread_mutex_unlock(&n->self->mu);
	node_ref_rele(n->self);
	pthread_mutex_lock(&n->mu);
	n->stopping = true;
	for (struct link *l = n->links; l != NULL && nc < 1024; l = l->next) {
		bt_net_conn_hold(l->conn);
		conns[nc++] = l->conn;
	}
	pthread_mutex_unlock(&n->mu);
	/* Graceful first: what is queued still goes out. */
	for (size_t i = 0; i < nc; i++) {
		bt_net_conn_close(conns[i]);
		bt_net_conn_rele(conns[i]);
	}
	end = bt_time_real_ns() + 1000000000ULL;
	ts.tv_sec = (time_t)(end / 1000000000ULL);
	ts.tv_nsec = (long)(end % 1000000000ULL);
	pthread_mutex_lock(&n->mu);
	while (n->links != NULL &&
	    pthread_cond_timedwait(&n->cv, &n->mu, &ts) == 0)
		;
	pthread_mutex_unlock(&n->mu);
	bt_net_free(n->net); /* the rest close hard; on_close runs */
	for (size_t i = 0; i < PEND_BUCKETS; i++) {
		struct pend *p;

		while ((p = n->pend[i]) != NULL) {
			n->pend[i] = p->next;
			complete(n, p, 0, BT_ECLOSED, NULL, 0,
			    "the node stopped");
		}
	}
	while (n->eps != NULL) {
		struct bt_msg_ep *e = n->eps;

		n->eps = e->next;
		ep_rele(e);
	}
	while (n->subs != NULL) {
		struct bt_msg_sub *s = n->subs;

		n->subs = s->next;
		if (atomic_fetch_sub(&s->refs, 1) == 1) {
			bt_free(s->topic);
			bt_free(s);
		}
	}
	while (n->routes != NULL) {
		struct route *r = n->routes;

		n->routes = r->next;
		bt_free(r->prefix);
		bt_free(r);
	}
	while (n->peers != NULL) {
		struct peer *p = n->peers;

		n->peers = p->next;
		bt_net_conn_rele(p->conn);
		bt_free(p->addr);
		bt_free(p);
	}
	while (n->links != NULL) {
		struct link *l = n->links;

		n->links = l->next;
		bt_net_conn_rele(l->conn);
		bt_free(l);
	}
	while (n->rsubs != NULL) {
		struct rsub *r = n->rsubs;

		n->rsubs = r->next;
		bt_net_conn_rele(r->conn);
		bt_free(r->topic);
		bt_free(r);
	}
	bt_free(n->path);
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cv);
	bt_free(n);
}

int
bt_msg_node_listen(bt_msg_node *n, const char *addr, char *actual,
    size_t cap, struct bt_diag *diag)
{
	struct bt_net_handler h = handler(n);

	return bt_net_listen(n->net, addr, &h, actual, cap, NULL, diag);
}

/* peer_get finds or makes the peer for addr (mu held). */
static struct peer *
peer_get(bt_msg_node *n, const char *addr)
{
	struct peer *p;

	for (p = n->peers; p != NULL; p = p->next)
		if (strcmp(p->addr, addr) == 0)
			return p;
	p = bt_zalloc(sizeof(*p));
	if (p == NULL || (p->addr = bt_strdup(addr)) == NULL) {
		bt_free(p);
		return NULL;
	}
	p->next = n->peers;
	n->peers = p;
	return p;
}

int
bt_msg_route_add(bt_msg_node *n, const char *prefix, const char *addr)
{
	struct route *r;

	if (strcmp(prefix, "*") != 0 && bt_path_check(prefix, NULL) != 0)
		return -EINVAL;
	if (addr[0] == '\0' || (strncmp(addr, "unix:", 5) != 0 &&
	    strchr(addr, ':') == NULL))
		return -EINVAL;
	r = bt_zalloc(sizeof(*r));
	if (r == NULL || (r->prefix = bt_strdup(prefix)) == NULL) {
		bt_free(r);
		return -ENOMEM;
	}
	pthread_mutex_lock(&n->mu);
	r->peer = peer_get(n, addr);
	if (r->peer == NULL) {
		pthread_mutex_unlock(&n->mu);
		bt_free(r->prefix);
		bt_free(r);
		return -ENOMEM;
	}
	r->next = n->routes;
	n->routes = r;
	pthread_mutex_unlock(&n->mu);
	return 0;
}

int
bt_msg_node_connect(bt_msg_node *n, const char *addr, uint64_t timeout_ns,
    struct bt_diag *diag)
{
	struct bt_net_handler h = handler(n);
	bt_net_conn *c;
	struct peer *p;
	int rc;

	rc = bt_net_dial(n->net, addr, &h, timeout_ns, &c, diag);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&n->mu);
	p = peer_get(n, addr);
	if (p != NULL && p->conn == NULL) {
		p->conn = c;
		c = NULL;
	}
	pthread_mutex_unlock(&n->mu);
	if (c != NULL) {
		/* Already connected (or out of memory): keep the other. */
		bt_net_conn_close(c);
		bt_net_conn_rele(c);
	}
	return p != NULL ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------------ */
/* Endpoints, send and call                                             */
/* ------------------------------------------------------------------ */

int
bt_msg_bind(bt_msg_node *n, const char *path, bt_msg_handler_cb *cb,
    void *arg, unsigned flags, bt_msg_ep **out)
{
	struct bt_msg_ep *e;

	if (bt_path_check(path, NULL) != 0 || cb == NULL ||
	    (n->path != NULL && !within(path, n->path)))
		return -EINVAL;
	e = bt_zalloc(sizeof(*e));
	if (e == NULL || (e->path = bt_strdup(path)) == NULL) {
		bt_free(e);
		return -ENOMEM;
	}
	e->n = n;
	e->cb = cb;
	e->arg = arg;
	e->flags = flags;
	atomic_init(&e->refs, 1);
	pthread_mutex_lock(&n->mu);
	for (struct bt_msg_ep *x = n->eps; x != NULL; x = x->next) {
		if (strcmp(x->path, path) == 0) {
			pthread_mutex_unlock(&n->mu);
			bt_free(e->path);
			bt_free(e);
			return -EEXIST;
		}
	}
	e->next = n->eps;
	n->eps = e;
	pthread_mutex_unlock(&n->mu);
	*out = e;
	return 0;
}

void
bt_msg_unbind(bt_msg_ep *ep)
{
	bt_msg_node *n;
	struct bt_msg_ep **pp;

	if (ep == NULL)
		return;
	n = ep->n;
	pthread_mutex_lock(&n->mu);
	for (pp = &n->eps; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == ep) {
			*pp = ep->next;
			break;
		}
	}
	pthread_mutex_unlock(&n->mu);
	ep_rele(ep);
}

/*
 * local_ep returns the held endpoint for to, or NULL (then *conn is the
 * held connection to send on, or NULL when nothing routes to).
 */
static struct bt_msg_ep *
resolve(bt_msg_node *n, const char *to, bt_net_conn **conn, int *rc)
{
	struct bt_msg_ep *e;

	*conn = NULL;
	*rc = 0;
	pthread_mutex_lock(&n->mu);
	/*
	 * An endpoint's path was checked when it was bound, so a match needs
	 * no further check (it keeps the in-process path short); only a path
	 * that leaves the process is checked before it is routed.
	 */
	e = find_ep(n, to);
	if (e != NULL)
		atomic_fetch_add(&e->refs, 1);
	else if (!path_ok(n->tx_ok, to))
		*rc = -EINVAL;
	else
		*conn = route_conn(n, to, NULL);
	pthread_mutex_unlock(&n->mu);
	return e;
}

int
bt_msg_send(bt_msg_node *n, const char *to, uint32_t proto,
    const void *data, size_t len)
{
	struct bt_net_frame f = { .kind = BT_MSG_WIRE_SEND, .proto = proto };
	struct bt_msg_ep *e;
	bt_net_conn *c;
	int rc;

	e = resolve(n, to, &c, &rc);
	if (rc != 0)
		return rc;
	if (e != NULL) {
		struct bt_msg m = { .kind = BT_MSG_SEND, .from = my_path(n),
			.to = to, .proto = proto, .data = data, .len = len };

		run_handler(e, &m);
		ep_rele(e);
		return 0;
	}
	if (c == NULL)
		return -EHOSTUNREACH;
	f.from = sbuf(my_path(n));
	f.to = sbuf(to);
	f.payload = (struct bt_buf) { data, len };
	rc = bt_net_conn_send(c, &f);
	bt_net_conn_rele(c);
	return rc;
}

/* call_start routes a call: local endpoint (lr filled) or a pending. */
static int
call_remote(bt_msg_node *n, bt_net_conn *c, const char *to, uint32_t proto,
    const void *data, size_t len, struct pend *p, uint64_t *id_out)
{
	/* A waiting caller sends at once; async calls batch. */
	int (*sendf)(bt_net_conn *, const struct bt_net_frame *) =
	    p->w != NULL ? bt_net_conn_send_now : bt_net_conn_send;
	struct bt_net_frame f = { .kind = BT_MSG_WIRE_CALL, .proto = proto };
	uint64_t id;
	int rc;

	pthread_mutex_lock(&n->mu);
	id = p->id = ++n->next_id;
	p->conn = c;
	pend_put(n, p);
	pthread_mutex_unlock(&n->mu);
	/* From here p may be completed and freed by another thread. */
	*id_out = id;
	f.stream = id;
	f.from = sbuf(my_path(n));
	f.to = sbuf(to);
	f.payload = (struct bt_buf) { data, len };
	rc = sendf(c, &f);
	if (rc != 0) {
		pthread_mutex_lock(&n->mu);
		p = pend_take(n, id, c);
		pthread_mutex_unlock(&n->mu);
		if (p == NULL)
			return 0; /* already completed (closed): it reported */
		bt_net_conn_rele(p->conn);
		bt_free(p);
		return rc;
	}
	return 0;
}

int
bt_msg_call(bt_msg_node *n, const char *to, uint32_t proto,
    const void *data, size_t len, uint64_t timeout_ns,
    struct bt_msg_reply *reply, struct bt_diag *diag)
{
	struct bt_msg_reply r = { NULL, 0 };
	struct waiter w = { .state = W_WAIT, .reply = &r, .diag = diag };
	struct bt_msg_ep *e;
	struct pend *p, *q;
	bt_net_conn *c;
	uint64_t deadline, id;
	int rc;

	if (bt_net_in_loop(n->net))
		return -EDEADLK;
	deadline = bt_time_mono_ns();
	deadline = timeout_ns > UINT64_MAX - deadline ? UINT64_MAX :
	    deadline + timeout_ns;
	e = resolve(n, to, &c, &rc);
	if (rc != 0)
		return rc;
	if (e != NULL) {
		struct local_reply lr = { .rc = -ENOMSG, .out = &r, .n = n,
			.w = &w, .deadline = deadline };
		struct bt_msg m = { .kind = BT_MSG_CALL, .from = my_path(n),
			.to = to, .proto = proto, .data = data, .len = len,
			.local_ = &lr };

		run_handler(e, &m);
		ep_rele(e);
		if (lr.deferred) {
			id = lr.id;
			goto wait;
		}
		if (lr.rc != 0) {
			bt_diag_set(diag, -1, "%s", lr.text);
			bt_free(r.ptr);
			return lr.rc;
		}
		*reply = r;
		return 0;
	}
	if (c == NULL) {
		bt_diag_set(diag, -1, "no route to %s", to);
		return -EHOSTUNREACH;
	}
	p = bt_zalloc(sizeof(*p));
	if (p == NULL) {
		bt_net_conn_rele(c);
		return -ENOMEM;
	}
	p->deadline = deadline;
	p->w = &w;
	bt_net_conn_hold(c); /* p holds the route's reference */
	rc = call_remote(n, c, to, proto, data, len, p, &id);
	if (rc != 0) {
		bt_net_conn_rele(c);
		return rc;
	}
	/*
	 * Read the answer on this thread when the connection lets us
	 * (net_int.h): one thread wake-up less than sleeping until the loop
	 * thread has read it. Otherwise, or when the connection hands the
	 * reading back, sleep as usual.
	 */
	(void)bt__net_conn_await(c, &w.state, W_DONE, deadline, ANSWER_KINDS);
	bt_net_conn_rele(c);
wait:
	if (!waiter_sleep(&w, deadline)) {
		pthread_mutex_lock(&n->mu);
		q = pend_take(n, id, NULL);
		pthread_mutex_unlock(&n->mu);
		if (q != NULL) {
			bt_net_conn_rele(q->conn);
			bt_free(q);
			bt_diag_set(diag, -1, "no reply from %s within the "
			    "deadline", to);
			return -ETIMEDOUT;
		}
		/* Being completed right now: its result is moments away. */
		(void)waiter_sleep(&w, UINT64_MAX);
	}
	if (w.rc != 0) {
		bt_free(r.ptr);
		return w.rc;
	}
	*reply = r;
	return 0;
}

struct async_local {
	bt_msg_reply_cb	   *cb;
	void		   *arg;
	int		    rc;
	struct bt_msg_reply r;
};

static void
async_local_done(void *arg)
{
	struct async_local *a = arg;

	a->cb(a->arg, a->rc, a->r.ptr, a->r.len);
	bt_free(a->r.ptr);
	bt_free(a);
}

int
bt_msg_call_async(bt_msg_node *n, const char *to, uint32_t proto,
    const void *data, size_t len, uint64_t timeout_ns, bt_msg_reply_cb *cb,
    void *arg)
{
	struct bt_msg_ep *e;
	struct pend *p;
	bt_net_conn *c;
	int rc;

	if (cb == NULL)
		return -EINVAL;
	e = resolve(n, to, &c, &rc);
	if (rc != 0)
		return rc;
	if (e != NULL) {
		struct async_local *a = bt_zalloc(sizeof(*a));
		struct local_reply lr = { .rc = -ENOMSG, .n = n, .cb = cb,
			.arg = arg };
		struct bt_msg m = { .kind = BT_MSG_CALL, .from = my_path(n),
			.to = to, .proto = proto, .data = data, .len = len,
			.local_ = &lr };

		if (a == NULL) {
			ep_rele(e);
			return -ENOMEM;
		}
		lr.out = &a->r;
		lr.deadline = bt_time_mono_ns() + timeout_ns;
		run_handler(e, &m);
		ep_rele(e);
		if (lr.deferred) {
			/* Answered through the table (local_answer, on_tick). */
			bt_free(a);
			return 0;
		}
		a->cb = cb;
		a->arg = arg;
		a->rc = lr.rc;
		/* The callback runs later, never inside this call. */
		rc = bt_net_post(n->net, async_local_done, a);
		if (rc != 0) {
			bt_free(a->r.ptr);
			bt_free(a);
		}
		return rc;
	}
	if (c == NULL)
		return -EHOSTUNREACH;
	p = bt_zalloc(sizeof(*p));
	if (p == NULL) {
		bt_net_conn_rele(c);
		return -ENOMEM;
	}
	p->deadline = bt_time_mono_ns() + timeout_ns;
	p->cb = cb;
	p->arg = arg;
	return call_remote(n, c, to, proto, data, len, p, &(uint64_t) { 0 });
}

/* ------------------------------------------------------------------ */
/* Publish and subscribe                                                */
/* ------------------------------------------------------------------ */

int
bt_msg_publish(bt_msg_node *n, const char *topic, uint32_t proto,
    const void *data, size_t len)
{
	struct bt_net_frame f = { .kind = BT_MSG_WIRE_PUB, .proto = proto };
	bt_net_conn *c;
	bool ok;
	int rc;

	pthread_mutex_lock(&n->mu);
	ok = path_ok(n->tx_ok, topic); /* a run to one topic: checked once */
	pthread_mutex_unlock(&n->mu);
	if (!ok)
		return -EINVAL;
	if (owns(n, topic)) {
		fanout(n, my_path(n), topic, proto, data, len, true, NULL);
		return 0;
	}
	pthread_mutex_lock(&n->mu);
	c = route_conn(n, topic, NULL);
	pthread_mutex_unlock(&n->mu);
	if (c == NULL)
		return -EHOSTUNREACH;
	f.from = sbuf(my_path(n));
	f.to = sbuf(topic);
	f.payload = (struct bt_buf) { data, len };
	rc = bt_net_conn_send(c, &f);
	bt_net_conn_rele(c);
	return rc;
}

int
bt_msg_subscribe(bt_msg_node *n, const char *topic, bt_msg_handler_cb *cb,
    void *arg, bt_msg_sub **out)
{
	struct bt_net_frame f = { .kind = BT_MSG_WIRE_SUB };
	struct bt_msg_sub *s;
	bt_net_conn *c = NULL;

	if (bt_path_check(topic, NULL) != 0 || cb == NULL)
		return -EINVAL;
	s = bt_zalloc(sizeof(*s));
	if (s == NULL || (s->topic = bt_strdup(topic)) == NULL) {
		bt_free(s);
		return -ENOMEM;
	}
	s->n = n;
	s->cb = cb;
	s->arg = arg;
	atomic_init(&s->refs, 1);
	pthread_mutex_lock(&n->mu);
	if (!owns(n, topic)) {
		s->via = route_peer(n, topic);
		if (s->via == NULL) {
			pthread_mutex_unlock(&n->mu);
			bt_free(s->topic);
			bt_free(s);
			return -EHOSTUNREACH;
		}
		c = peer_conn(n, s->via);
		if (c != NULL && bt_net_conn_is_open(c))
			bt_net_conn_hold(c);
		else
			c = NULL; /* on_open sends it */
	}
	s->next = n->subs;
	n->subs = s;
	if (s->via != NULL && s->via->conn == NULL)
		bt_net_tick_wake(n->net); /* on_tick connects */
	pthread_mutex_unlock(&n->mu);
	if (c != NULL) {
		f.from = sbuf(my_path(n));
		f.to = sbuf(topic);
		(void)bt_net_conn_send(c, &f);
		bt_net_conn_rele(c);
	}
	*out = s;
	return 0;
}

void
bt_msg_unsubscribe(bt_msg_sub *s)
{
	struct bt_net_frame f = { .kind = BT_MSG_WIRE_UNSUB };
	struct bt_msg_sub **pp;
	bt_msg_node *n;
	bt_net_conn *c = NULL;

	if (s == NULL)
		return;
	n = s->n;
	pthread_mutex_lock(&n->mu);
	for (pp = &n->subs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	/* The owner keeps one record per connection: the last one goes. */
	if (s->via != NULL && s->via->conn != NULL &&
	    !upstream_wanted(n, s->topic)) {
		c = s->via->conn;
		bt_net_conn_hold(c);
	}
	pthread_mutex_unlock(&n->mu);
	if (c != NULL) {
		f.from = sbuf(my_path(n));
		f.to = sbuf(s->topic);
		(void)bt_net_conn_send(c, &f);
		bt_net_conn_rele(c);
	}
	if (atomic_fetch_sub(&s->refs, 1) == 1) {
		bt_free(s->topic);
		bt_free(s);
	}
}
