/*
 * bt/msg.h: path-addressed messaging (docs/msg.md).
 *
 * A bt_msg_node is one process's place in the message network: it has an
 * identity (a key and a credential chain for its path, or none for an
 * anonymous client), listens on addresses, knows routes, and holds the
 * endpoints bound to paths in this process. Three patterns:
 *
 *  - send:    fire and forget, at most once;
 *  - call:    request and reply, with a correlation id and a deadline; the
 *             callee answers with a reply or an error reply;
 *  - publish/subscribe: topics are paths; the node whose path holds the
 *             topic fans each message out to its subscribers, at most once
 *             and in order per publisher.
 *
 * A message to a path goes to the local endpoint whose path holds it
 * (longest first), else to a connected peer whose verified path holds it,
 * else along the configured route with the longest matching prefix. A node
 * forwards messages for paths it routes. Delivery inside one process calls
 * the handler directly: no copy, no encryption.
 *
 * Threads: every function may be called from any thread unless it says
 * otherwise. Handlers run on the node's loop thread for messages from the
 * network, and on the sender's thread for messages sent inside the
 * process; so a handler must be thread-safe, must not block for long, and
 * must not call the blocking functions below (bt_msg_call on the loop
 * thread returns -EDEADLK).
 *
 * This header is the whole supported surface of msg/. Anything not
 * declared here is not API.
 */
#ifndef BT_MSG_H
#define BT_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt/core.h"
#include "bt/crypto.h"

/* Frame kinds of msg/ on the wire (docs/msg.md). */
enum bt_msg_wire_kind {
	BT_MSG_WIRE_SEND = 16,
	BT_MSG_WIRE_CALL = 17,
	BT_MSG_WIRE_REPLY = 18,
	BT_MSG_WIRE_ERROR = 19,
	BT_MSG_WIRE_PUB = 20,
	BT_MSG_WIRE_SUB = 21,
	BT_MSG_WIRE_UNSUB = 22,
};

/* What a handler was given. */
enum bt_msg_kind {
	BT_MSG_SEND = 1,
	BT_MSG_CALL = 2,
	BT_MSG_PUB = 3,
};

/*
 * A received message. Every pointer is borrowed and valid only until the
 * handler returns. from is the sender's verified path ("" for an anonymous
 * sender); to is the destination path or topic. The members after len are
 * private to msg/.
 */
struct bt_msg {
	int	    kind; /* enum bt_msg_kind */
	const char *from;
	const char *to;
	uint32_t    proto;
	const void *data;
	size_t	    len;
	/* private */
	void	   *conn_;
	uint64_t    stream_;
	void	   *local_;
	int	    replied_;
};

/*
 * A handler. For a BT_MSG_CALL it must answer with bt_msg_reply or
 * bt_msg_reply_error before it returns, or take the call with
 * bt_msg_defer to answer it later; if it does none of these, the caller
 * gets an error reply (-ENOMSG, "no reply").
 */
typedef void bt_msg_handler_cb(void *arg, struct bt_msg *m);

struct bt_msg_config {
	int	       version; /* 1 */
	const bt_key  *key;	/* copied; NULL: a fresh key */
	const bt_cred *cred;	/* chain for path (copied); NULL: anonymous */
	const char    *path;	/* the node's path; NULL: anonymous */
	size_t	       max_frame;	     /* 0: 1 MiB */
	uint64_t       handshake_timeout_ns; /* 0: 10 s */
	uint64_t       idle_timeout_ns;	     /* 0: never */
	bool	       deny_anonymous; /* refuse peers without a chain */
	/*
	 * How often a message may be forwarded from node to node on its way
	 * (0: BT_MSG_HOPS_DEFAULT). A node that would forward it once more
	 * answers a call with -ELOOP and drops a send or publication with a
	 * warning in the log, so routes that point at each other cannot
	 * bounce a message for ever.
	 */
	uint32_t       max_hops;
};

#define BT_MSG_HOPS_DEFAULT 8

typedef struct bt_msg_node bt_msg_node;
typedef struct bt_msg_ep bt_msg_ep;
typedef struct bt_msg_sub bt_msg_sub;

/*
 * bt_msg_node_new starts a node (its own loop thread). Returns 0 and
 * *out; -EINVAL for a config whose cred does not hold for path (diag
 * says why); -ENOMEM; -EIO.
 */
BT_API int bt_msg_node_new(bt_msg_node **out, const struct bt_msg_config *cfg,
    struct bt_diag *diag);

/*
 * bt_msg_node_free closes every connection gracefully (what was queued is
 * sent, waiting at most a second), fails calls still waiting with
 * BT_ECLOSED, and frees the node. Blocking; not on the loop thread (from a
 * handler). NULL is a no-op. Endpoints and subscriptions go with it.
 */
BT_API void bt_msg_node_free(bt_msg_node *n);

/*
 * bt_msg_node_listen accepts peers on addr ("HOST:PORT", port 0 for a free
 * one, or "unix:PATH") and writes the actual address to actual (cap bytes;
 * may be NULL). Blocking. Errors as bt_net_listen.
 */
BT_API int bt_msg_node_listen(bt_msg_node *n, const char *addr, char *actual,
    size_t cap, struct bt_diag *diag);

/* The node's path (NULL when anonymous), borrowed for the node's life. */
BT_API const char *bt_msg_node_path(const bt_msg_node *n);

/*
 * bt_msg_route_add sends messages for paths within prefix to the node at
 * addr (connecting on first use, and again after the connection drops).
 * prefix "*" is the default route. Returns 0; -EINVAL for a bad prefix or
 * addr; -ENOMEM.
 */
BT_API int bt_msg_route_add(bt_msg_node *n, const char *prefix,
    const char *addr);

/*
 * bt_msg_node_connect connects to addr now and waits until the peer is
 * verified (timeout_ns), so a client learns at once that it was refused
 * and why (diag). The connection is then the one used for routes to addr.
 * Returns 0, -ETIMEDOUT, or the peer's refusal (BT_EEXPIRED, BT_EPERM,
 * ...). Blocking.
 */
BT_API int bt_msg_node_connect(bt_msg_node *n, const char *addr,
    uint64_t timeout_ns, struct bt_diag *diag);

/* Flags of bt_msg_bind. */
#define BT_MSG_BIND_ANONYMOUS 0x1 /* accept messages from anonymous peers */

/*
 * bt_msg_bind makes cb(arg, m) receive the messages sent to path and to
 * paths beneath it (unless a longer binding holds them). path must lie
 * within the node's own path when the node has one. Returns 0 and *out;
 * -EINVAL for an invalid path or one outside the node's; -EEXIST when
 * path is bound already; -ENOMEM.
 */
BT_API int bt_msg_bind(bt_msg_node *n, const char *path,
    bt_msg_handler_cb *cb, void *arg, unsigned flags, bt_msg_ep **out);

/*
 * bt_msg_unbind removes an endpoint. A handler already running may finish;
 * none starts after this returns. NULL is a no-op.
 */
BT_API void bt_msg_unbind(bt_msg_ep *ep);

/*
 * bt_msg_send delivers len bytes to path, at most once. Returns 0 when the
 * message was handed to a local endpoint or queued on a connection (not a
 * promise of delivery); -EHOSTUNREACH when nothing routes path; BT_ELIMIT
 * when the connection's queue is full; -EMSGSIZE over the frame limit.
 */
BT_API int bt_msg_send(bt_msg_node *n, const char *to, uint32_t proto,
    const void *data, size_t len);

/* A reply owned by the caller: free ptr with bt_free. */
struct bt_msg_reply {
	void  *ptr;
	size_t len;
};

/*
 * bt_msg_call sends a request to path and waits for its reply until
 * timeout_ns has passed. Returns 0 and *reply; or the error reply's code
 * (negative, as the callee gave it, e.g. -ENOENT "no endpoint at path",
 * -EACCES for an anonymous caller where it is not allowed) with diag
 * "remote: <text>"; -ELOOP when the hop limit was reached on the way
 * (routes in a loop); -ETIMEDOUT when the deadline passed; BT_ECLOSED when
 * the connection carrying the call closed first (a peer that died); and
 * the errors of bt_msg_send. Blocking; -EDEADLK on the loop thread.
 */
BT_API int bt_msg_call(bt_msg_node *n, const char *to, uint32_t proto,
    const void *data, size_t len, uint64_t timeout_ns,
    struct bt_msg_reply *reply, struct bt_diag *diag);

/*
 * bt_msg_call_async is bt_msg_call without waiting: cb(arg, rc, data,
 * len) runs exactly once, later (on the loop thread, or on the caller's
 * thread for an in-process callee), with rc and the reply as above; data is
 * borrowed until cb returns. Returns 0, or an error and cb never runs.
 */
typedef void bt_msg_reply_cb(void *arg, int rc, const void *data,
    size_t len);
BT_API int bt_msg_call_async(bt_msg_node *n, const char *to, uint32_t proto,
    const void *data, size_t len, uint64_t timeout_ns, bt_msg_reply_cb *cb,
    void *arg);

/*
 * bt_msg_reply answers the call m with len bytes (copied); bt_msg_reply_error
 * answers it with an error: code must be negative, text is a short
 * sentence. Only from the handler that received m, once. Returns 0;
 * -EINVAL when m is not a call or was answered already; the errors of
 * sending.
 */
BT_API int bt_msg_reply(struct bt_msg *m, const void *data, size_t len);
BT_API int bt_msg_reply_error(struct bt_msg *m, int code, const char *text);

/*
 * Deferred replies. A handler that cannot answer a call before it returns
 * (it waits for another call, a disk, a timer) takes the call with
 * bt_msg_defer and answers it later, from any thread, with
 * bt_msg_deferred_reply or bt_msg_deferred_error. The caller's deadline
 * still holds: an answer after it is dropped by the caller's node.
 *
 * bt_msg_defer: only from the handler that received m, for a BT_MSG_CALL
 * not answered yet. Returns 0 and *out (m then counts as answered, so the
 * node sends no "no reply" error when the handler returns); -EINVAL when m
 * is not a call or was answered; -ENOMEM. A call from this same process
 * may be deferred too: a bt_msg_call caller, whose thread ran the handler,
 * then waits for the answer until its deadline; a bt_msg_call_async
 * caller's callback runs on the loop thread when the answer comes.
 *
 * bt_msg_deferred_reply answers with len bytes (copied);
 * bt_msg_deferred_error with a negative code and a short sentence (a code
 * that is not negative is sent as -EINVAL). Both consume d, whatever they
 * return: 0, or the errors of sending (BT_ECLOSED when the caller's
 * connection closed meanwhile, or, in-process, when the node was freed).
 * Answer every deferred call exactly once: d holds a reference to the
 * caller's connection (in-process: to a small record of the node) until
 * then, also past bt_msg_node_free, when the answer fails with BT_ECLOSED.
 */
typedef struct bt_msg_deferred bt_msg_deferred;

BT_API int bt_msg_defer(struct bt_msg *m, bt_msg_deferred **out);
BT_API int bt_msg_deferred_reply(bt_msg_deferred *d, const void *data,
    size_t len);
BT_API int bt_msg_deferred_error(bt_msg_deferred *d, int code,
    const char *text);

/*
 * bt_msg_publish sends len bytes to topic (a path). The node whose path
 * holds the topic delivers it to every subscriber of the topic or of a
 * path above it, at most once, in the order each publisher published.
 * Returns as bt_msg_send.
 */
BT_API int bt_msg_publish(bt_msg_node *n, const char *topic, uint32_t proto,
    const void *data, size_t len);

/*
 * bt_msg_subscribe makes cb(arg, m) receive what is published to topic
 * and beneath it (m->kind is BT_MSG_PUB). When another node owns the topic
 * the subscription is sent along the route to it, and sent again whenever
 * that connection is remade (after the owner restarts, say); messages
 * published while disconnected are lost. Returns 0 and *out; -EINVAL;
 * -EHOSTUNREACH when nothing routes topic; -ENOMEM.
 */
BT_API int bt_msg_subscribe(bt_msg_node *n, const char *topic,
    bt_msg_handler_cb *cb, void *arg, bt_msg_sub **out);

/* bt_msg_unsubscribe ends a subscription. NULL is a no-op. */
BT_API void bt_msg_unsubscribe(bt_msg_sub *s);

#endif /* BT_MSG_H */
