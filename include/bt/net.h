/*
 * bt/net.h: the secure transport of Blocktree (docs/net.md).
 *
 * Streams over TCP or unix sockets, driven by a libuv loop on a thread of
 * its own, carrying TLS 1.3 only (OpenSSL through memory BIOs) with mutual
 * authentication: each side presents a self-signed certificate made at
 * start from its Ed25519 key, and after the handshake each side sends a
 * HELLO frame with its credential chain for the path it claims (or none:
 * an anonymous peer). The receiver checks the chain for that path and that
 * its leaf is issued to the peer's TLS key, and refuses the peer with a
 * REFUSE frame naming the reason otherwise.
 *
 * Above TLS the stream is a sequence of frames: a uvarint length, then a
 * serde envelope (kind, stream id, from path, to path, protocol id,
 * payload). Frames larger than the configured maximum close the connection
 * that sent them, and only it.
 *
 * Threads: every callback runs on the net's loop thread, with one
 * exception: a part may have on_frame for the frames a thread waits for
 * run on that waiting thread (bt__net_conn_await in net/net_int.h, used
 * by msg/'s calls and blk/'s flushes), still one frame of a connection at
 * a time and in order. Users of this header alone never see that.
 * bt_net_conn_send, bt_net_conn_close, hold/rele and the accessors may be
 * called from any thread. Functions documented as blocking must not be
 * called from the loop thread (they return -EDEADLK there).
 *
 * This header is the whole supported surface of net/. Anything not
 * declared here is not API (net/net_int.h is for msg/ and blk/, and
 * may change with them).
 */
#ifndef BT_NET_H
#define BT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt/core.h"
#include "bt/crypto.h"

/* Frame kinds. net/ owns 0..15; the layers above use 16 and up. */
enum bt_net_kind {
	BT_NET_KIND_HELLO = 1,	/* credential chain, first frame each way */
	BT_NET_KIND_REFUSE = 2, /* svarint code, string reason; then close */
	BT_NET_KIND_PING = 3,	/* keeps an idle connection alive */
	BT_NET_KIND_USER = 16,	/* first kind handed to on_frame */
};

#define BT_NET_MAX_FRAME_DEFAULT	 ((size_t)1 << 20)
#define BT_NET_SEND_QUEUE_DEFAULT	 ((size_t)8 << 20)
#define BT_NET_HANDSHAKE_TIMEOUT_DEFAULT (10ULL * 1000000000ULL)
#define BT_NET_ADDR_MAX			 256

/*
 * A frame as decoded. Every view points into the connection's receive
 * buffer and is valid only until the on_frame callback returns (copy what
 * you keep). from and to are paths, empty for none. hops counts how often
 * a layer above has forwarded the frame (msg/ limits it); 0 for a frame
 * sent by its origin, which is all net/ itself sends.
 */
struct bt_net_frame {
	uint32_t      kind;
	uint64_t      stream;
	uint32_t      proto;
	struct bt_buf from;
	struct bt_buf to;
	struct bt_buf payload;
	uint32_t      hops;
};

/* Settings of one bt_net, all of its connections and listeners. */
struct bt_net_config {
	int	       version; /* 1 */
	/*
	 * The TLS key (copied). NULL makes a fresh key at start: the peer
	 * then sees a new principal, and without a cred it is anonymous.
	 */
	const bt_key  *key;
	const bt_cred *cred; /* chain for path, issued to key (copied) */
	const char    *path; /* the path this side claims; NULL anonymous */
	size_t	       max_frame;	     /* 0: BT_NET_MAX_FRAME_DEFAULT */
	size_t	       send_queue_max;	     /* bytes; 0: the default */
	uint64_t       handshake_timeout_ns; /* 0: 10 s */
	uint64_t       idle_timeout_ns;	     /* 0: never */
	bool	       allow_anonymous; /* accept peers that claim no path */
};

typedef struct bt_net bt_net;
typedef struct bt_net_conn bt_net_conn;
typedef struct bt_net_listener bt_net_listener;

/*
 * Callbacks, on the loop thread (but see "Threads" above), never with a
 * lock of net/ held. The conn is borrowed for the call (hold it to keep
 * it).
 *  on_open:  the peer finished TLS and its hello verified.
 *  on_frame: one frame of kind >= BT_NET_KIND_USER arrived.
 *  on_close: the connection is gone: rc 0 when this side closed it,
 *            BT_ECLOSED when the peer did, else the fault (-ETIMEDOUT,
 *            BT_ELIMIT for an oversized frame, BT_ECORRUPT for a malformed
 *            one, a credential error for a refused hello, ...). Called
 *            exactly once for every connection that was opened, and for
 *            an outgoing one (bt_net_connect) even if it never opened.
 */
typedef void bt_net_open_cb(void *arg, bt_net_conn *c);
typedef void bt_net_frame_cb(void *arg, bt_net_conn *c,
    const struct bt_net_frame *f);
typedef void bt_net_close_cb(void *arg, bt_net_conn *c, int rc);

struct bt_net_handler {
	bt_net_open_cb	*on_open;  /* may be NULL */
	bt_net_frame_cb *on_frame; /* may be NULL: frames are dropped */
	bt_net_close_cb *on_close; /* may be NULL */
	void		*arg;
};

/*
 * bt_net_new makes the TLS contexts (a self-signed certificate for the
 * key), raises the soft RLIMIT_NOFILE to the hard limit, and starts the
 * loop thread. cfg is copied. Returns 0 and *out; -EINVAL for a bad config
 * (a path without a cred, a cred not issued to key, or one that does not
 * verify for path now: diag says which); -ENOMEM; -EIO from OpenSSL or
 * libuv.
 */
BT_API int bt_net_new(bt_net **out, const struct bt_net_config *cfg,
    struct bt_diag *diag);

/*
 * bt_net_free closes every listener and connection (their on_close run on
 * the loop thread with BT_ECLOSED), stops the loop thread and frees net.
 * Blocking. NULL is a no-op. Connections still held by the caller stay
 * valid memory (their sends fail with BT_ECLOSED) until released.
 */
BT_API void bt_net_free(bt_net *net);

/*
 * bt_net_listen listens on addr: "HOST:PORT" (numeric IPv4, "[IPv6]:PORT",
 * or a name), port 0 for a free one, or "unix:PATH" (a stale socket file
 * at PATH is replaced). The actual address ("127.0.0.1:40123",
 * "unix:/x/node.sock") is written to actual (cap bytes, may be NULL).
 * Accepted peers are handled by h (copied). Blocking. Returns 0 and *out
 * (may be NULL if not wanted; the listener closes with the net); -EINVAL
 * for a malformed addr; negative errno from bind/listen (-EADDRINUSE).
 */
BT_API int bt_net_listen(bt_net *net, const char *addr,
    const struct bt_net_handler *h, char *actual, size_t cap,
    bt_net_listener **out, struct bt_diag *diag);

/*
 * bt_net_connect starts connecting to addr; h (copied) then gets on_open
 * when the peer is verified, or on_close with the fault. Returns 0 and a
 * held *out (release with bt_net_conn_rele); -EINVAL for a malformed addr;
 * -ENOMEM. Frames sent before on_open are queued. Any thread.
 */
BT_API int bt_net_connect(bt_net *net, const char *addr,
    const struct bt_net_handler *h, bt_net_conn **out);

/*
 * bt_net_dial is bt_net_connect that waits until the peer is verified or
 * timeout_ns passes. Returns 0 and a held *out; -ETIMEDOUT; the refusal or
 * fault (for example BT_EEXPIRED when the peer refused our expired chain,
 * with diag saying "refused by peer: ..."), or -ECONNREFUSED. Blocking;
 * -EDEADLK on the loop thread.
 */
BT_API int bt_net_dial(bt_net *net, const char *addr,
    const struct bt_net_handler *h, uint64_t timeout_ns, bt_net_conn **out,
    struct bt_diag *diag);

/*
 * bt_net_conn_send queues one frame (encoded at once; f and its views are
 * borrowed for the call only). Returns 0; BT_ECLOSED when the connection
 * is closing or closed; BT_ELIMIT when the send queue holds more than
 * send_queue_max bytes (back-pressure: retry later); -EMSGSIZE for a
 * frame over max_frame; -ENOMEM. Any thread; never blocks. Frames on one
 * connection are sent in the order of the calls that queued them.
 */
BT_API int bt_net_conn_send(bt_net_conn *c, const struct bt_net_frame *f);

/*
 * bt_net_conn_send_now is bt_net_conn_send for a lone message whose
 * latency matters (a synchronous call): from a thread other than the
 * loop's, when the connection is open and nothing else is in flight, it
 * encrypts and writes the frame on the calling thread at once instead of
 * waking the loop thread. Same results and ordering as bt_net_conn_send;
 * a stream of messages is cheaper through bt_net_conn_send, which batches.
 */
BT_API int bt_net_conn_send_now(bt_net_conn *c, const struct bt_net_frame *f);

/*
 * bt_net_conn_send_later queues a frame like bt_net_conn_send but wakes
 * nobody: it leaves with the next bt_net_conn_push (which writes what is
 * queued, on the calling thread when it can, as bt_net_conn_send_now), or
 * with whatever is sent next on c. For a caller that must queue in order
 * inside a critical section and send outside it, or after answering its
 * own client. A caller that queues this way must push (or send) soon:
 * nothing else does. Same results as bt_net_conn_send.
 */
BT_API int  bt_net_conn_send_later(bt_net_conn *c, const struct bt_net_frame *f);
BT_API void bt_net_conn_push(bt_net_conn *c);

/*
 * bt_net_conn_close flushes what is queued, sends TLS close_notify and
 * closes; on_close follows with rc 0. Idempotent; any thread.
 */
BT_API void bt_net_conn_close(bt_net_conn *c);

/* Reference counting (any thread). The last rele frees the memory. */
BT_API void bt_net_conn_hold(bt_net_conn *c);
BT_API void bt_net_conn_rele(bt_net_conn *c);

/*
 * Accessors (any thread, valid once on_open has run). bt_net_conn_peer_path
 * is the verified path the peer claims, or NULL for an anonymous peer;
 * the string lives as long as c. bt_net_conn_peer_principal is the
 * principal of the peer's TLS key. bt_net_conn_addr is the remote address
 * as text. bt_net_conn_open says whether the connection is open (verified
 * and not closing).
 */
BT_API const char *bt_net_conn_peer_path(const bt_net_conn *c);
BT_API void	   bt_net_conn_peer_principal(const bt_net_conn *c,
	   struct bt_principal *out);
BT_API const char *bt_net_conn_addr(const bt_net_conn *c);
BT_API bool	   bt_net_conn_is_open(const bt_net_conn *c);
BT_API bool	   bt_net_conn_is_outgoing(const bt_net_conn *c);

/*
 * User data attached to a connection (any thread; the pointer is stored
 * and loaded atomically, what it points to is the caller's business).
 * NULL until set: on_frame and on_close may run before bt_net_dial returns
 * to the code that sets it.
 */
BT_API void  bt_net_conn_set_data(bt_net_conn *c, void *data);
BT_API void *bt_net_conn_data(const bt_net_conn *c);

/*
 * bt_net_post runs fn(arg) on the loop thread soon (never inside this
 * call). Returns 0, BT_ECLOSED when the net is stopping, -ENOMEM.
 * bt_net_in_loop says whether the caller is the loop thread.
 * bt_net_set_tick makes fn(arg) run on the loop thread every period_ns
 * (one tick per net; period 0 stops it). Blocking.
 * bt_net_tick_rest, called by the tick's fn on the loop thread, stops the
 * tick until bt_net_tick_wake, so an idle net never wakes; wake may be
 * called from any thread, never blocks nor allocates, and costs one
 * atomic load while the tick runs. Whoever makes work for the tick calls
 * wake after the work is visible to fn (under the lock fn takes to look,
 * say), so a tick that rests never misses it.
 */
typedef void bt_net_fn(void *arg);
BT_API int  bt_net_post(bt_net *net, bt_net_fn *fn, void *arg);
BT_API bool bt_net_in_loop(const bt_net *net);
BT_API int  bt_net_set_tick(bt_net *net, uint64_t period_ns, bt_net_fn *fn,
     void *arg);
BT_API void bt_net_tick_rest(bt_net *net);
BT_API void bt_net_tick_wake(bt_net *net);

/*
 * The path this net claims (NULL when anonymous), borrowed for the net's
 * life; and the principal of its TLS key.
 */
BT_API const char *bt_net_path(const bt_net *net);
BT_API void	   bt_net_principal(const bt_net *net, struct bt_principal *out);

/*
 * Frames on the wire (docs/net.md). bt_net_frame_encode appends the
 * uvarint length and the envelope of f to b. Returns 0, BT_ELIMIT at b's
 * bound, -ENOMEM.
 *
 * bt_net_frame_split looks at the start of a byte stream: when a whole
 * frame of at most max bytes is there it returns 0 with *hdr the length
 * prefix size and *body the envelope size; -EAGAIN when more bytes are
 * needed; BT_ELIMIT for a frame over max; BT_ECORRUPT or BT_ENONCANON for
 * a bad length prefix (diag filled).
 *
 * bt_net_frame_decode parses exactly len bytes of envelope into *out, whose
 * views point into p. Returns 0, or BT_ECORRUPT / BT_ETRUNC / BT_ENONCANON
 * / BT_ELIMIT with diag naming the field and offset. Never asserts.
 */
BT_API int bt_net_frame_encode(struct bt_dbuf *b,
    const struct bt_net_frame *f);
BT_API int bt_net_frame_split(const void *p, size_t len, size_t max,
    size_t *hdr, size_t *body, struct bt_diag *diag);
BT_API int bt_net_frame_decode(struct bt_net_frame *out, const void *p,
    size_t len, struct bt_diag *diag);

/*
 * bt_net_hello_decode parses a HELLO payload: a uvarint version (1) and an
 * optional byte string holding a credential chain (bt_cred_encode). Returns
 * 0 and *chain_out (a view into p, len 0 when absent) and *has_chain;
 * BT_ECORRUPT etc. with diag otherwise.
 */
BT_API int bt_net_hello_decode(const void *p, size_t len, bool *has_chain,
    struct bt_buf *chain_out, struct bt_diag *diag);

#endif /* BT_NET_H */
