/*
 * msg/msg_test.c: endpoints, send, call (reply, error reply, deadline,
 * anonymous refusal), publish/subscribe, routing by longest prefix,
 * forwarding through a node to a peer bound at a path, and a call that
 * reconnects after the node it routes to was restarted.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bt/msg.h"
#include "testing.h"

#define SEC 1000000000ULL

struct ident {
	bt_key	*root, *node;
	bt_cred *cred;
	char	 path[400];
};

static void
ident_make(struct ident *id, const struct ident *parent, const char *sub)
{
	struct bt_principal rp, np;
	char rs[BT_PRINCIPAL_STR_LEN + 1];
	int64_t now = bt_time_now_s();

	memset(id, 0, sizeof(*id));
	assert_int_equal(bt_key_generate(&id->node, BT_KEY_ED25519), 0);
	bt_key_principal(id->node, &np);
	if (parent == NULL) {
		assert_int_equal(bt_key_generate(&id->root, BT_KEY_ED25519),
		    0);
		bt_key_principal(id->root, &rp);
		bt_principal_to_str(&rp, rs);
		snprintf(id->path, sizeof(id->path), "/%s/%s", rs, sub);
		assert_int_equal(bt_cred_issue(&id->cred, id->root, NULL, &np,
		    id->path, now - 60, now + 3600), 0);
	} else {
		/* Delegated by the parent node: a path beneath its own. */
		assert_true(snprintf(id->path, sizeof(id->path), "%s/%s",
		    parent->path, sub) < (int)sizeof(id->path));
		assert_int_equal(bt_cred_issue(&id->cred, parent->node,
		    parent->cred, &np, id->path, now - 60, now + 3600), 0);
	}
}

static void
ident_fini(struct ident *id)
{
	bt_key_free(id->root);
	bt_key_free(id->node);
	bt_cred_free(id->cred);
}

static bt_msg_node *
node_new(const struct ident *id)
{
	struct bt_msg_config cfg = { .version = 1 };
	struct bt_diag d;
	bt_msg_node *n;

	if (id != NULL) {
		cfg.key = id->node;
		cfg.cred = id->cred;
		cfg.path = id->path;
	}
	assert_int_equal(bt_msg_node_new(&n, &cfg, &d), 0);
	return n;
}

/* Handlers. */
struct box {
	pthread_mutex_t mu;
	int		n;
	char		last[256];
	char		from[256];
};

static void
echo_cb(void *arg, struct bt_msg *m)
{
	struct box *b = arg;

	pthread_mutex_lock(&b->mu);
	b->n++;
	snprintf(b->last, sizeof(b->last), "%.*s", (int)m->len,
	    (const char *)m->data);
	snprintf(b->from, sizeof(b->from), "%s", m->from);
	pthread_mutex_unlock(&b->mu);
	if (m->kind != BT_MSG_CALL)
		return;
	if (m->len == 4 && memcmp(m->data, "fail", 4) == 0)
		bt_msg_reply_error(m, -EBADMSG, "asked to fail");
	else if (m->len == 6 && memcmp(m->data, "silent", 6) == 0)
		; /* no reply: the node answers -ENOMSG */
	else
		bt_msg_reply(m, m->data, m->len);
}

static int
box_n(struct box *b)
{
	int n;

	pthread_mutex_lock(&b->mu);
	n = b->n;
	pthread_mutex_unlock(&b->mu);
	return n;
}

static int
box_wait(struct box *b, int want)
{
	uint64_t end = bt_time_mono_ns() + 10 * SEC;
	int n;

	for (;;) {
		pthread_mutex_lock(&b->mu);
		n = b->n;
		pthread_mutex_unlock(&b->mu);
		if (n >= want || bt_time_mono_ns() > end)
			return n >= want ? 0 : -ETIMEDOUT;
		usleep(1000);
	}
}

/* box_settle waits until nothing more arrives in b for 100 ms. */
static void
box_settle(struct box *b)
{
	uint64_t end = bt_time_mono_ns() + 10 * SEC;
	int n;

	do {
		n = box_n(b);
		usleep(100000);
	} while (box_n(b) != n && bt_time_mono_ns() < end);
}

static void
box_reset(struct box *b)
{
	pthread_mutex_lock(&b->mu);
	b->n = 0;
	b->last[0] = '\0';
	pthread_mutex_unlock(&b->mu);
}

static int
call_str(bt_msg_node *n, const char *to, const char *data, char *out,
    size_t cap, uint64_t timeout)
{
	struct bt_msg_reply r;
	struct bt_diag d;
	int rc;

	bt_diag_clear(&d);
	rc = bt_msg_call(n, to, 0, data, strlen(data), timeout, &r, &d);
	if (rc != 0)
		return rc;
	snprintf(out, cap, "%.*s", (int)r.len, (const char *)r.ptr);
	bt_free(r.ptr);
	return 0;
}

static void
test_in_process(void **state)
{
	struct ident id;
	struct box b = { .n = 0 };
	char path[600], out[256];
	bt_msg_node *n;
	bt_msg_ep *ep;
	uint64_t t0, t1;

	pthread_mutex_init(&b.mu, NULL);
	ident_make(&id, NULL, "node");
	n = node_new(&id);
	snprintf(path, sizeof(path), "%s/svc", id.path);
	assert_int_equal(bt_msg_bind(n, path, echo_cb, &b, 0, &ep), 0);
	assert_int_equal(bt_msg_bind(n, path, echo_cb, &b, 0, &ep), -EEXIST);
	assert_int_equal(call_str(n, path, "hi", out, sizeof(out), SEC), 0);
	assert_string_equal(out, "hi");
	assert_string_equal(b.from, id.path);
	/* Beneath the endpoint's path reaches it too (longest prefix). */
	snprintf(path, sizeof(path), "%s/svc/deeper", id.path);
	assert_int_equal(call_str(n, path, "deep", out, sizeof(out), SEC), 0);
	assert_int_equal(call_str(n, path, "fail", out, sizeof(out), SEC),
	    -EBADMSG);
	assert_int_equal(call_str(n, path, "silent", out, sizeof(out), SEC),
	    -ENOMSG);
	assert_int_equal(bt_msg_send(n, path, 0, "s", 1), 0);
	assert_int_equal(b.n, 5);
	/* No endpoint and no route. */
	snprintf(path, sizeof(path), "%s/none", id.path);
	assert_int_equal(call_str(n, path, "x", out, sizeof(out), SEC),
	    -EHOSTUNREACH);
	/* The in-process call is a direct hand-over: well under 2 us. */
	snprintf(path, sizeof(path), "%s/svc", id.path);
	t0 = bt_time_mono_ns();
	for (int i = 0; i < 10000; i++)
		assert_int_equal(call_str(n, path, "x", out, sizeof(out), SEC),
		    0);
	t1 = bt_time_mono_ns();
	printf("in-process call: %.0f ns\n", (double)(t1 - t0) / 10000);
	bt_msg_unbind(ep);
	bt_msg_node_free(n);
	ident_fini(&id);
	pthread_mutex_destroy(&b.mu);
}

static void
test_remote_call_and_anonymous(void **state)
{
	struct ident sid, cid;
	struct box b = { .n = 0 };
	char addr[300], path[600], open_path[600], out[256];
	bt_msg_node *srv, *cl, *anon;
	bt_msg_ep *ep, *ep2;
	struct bt_diag d;

	pthread_mutex_init(&b.mu, NULL);
	ident_make(&sid, NULL, "node");
	ident_make(&cid, NULL, "client");
	srv = node_new(&sid);
	assert_int_equal(bt_msg_node_listen(srv, "127.0.0.1:0", addr,
	    sizeof(addr), &d), 0);
	snprintf(path, sizeof(path), "%s/private", sid.path);
	snprintf(open_path, sizeof(open_path), "%s/open", sid.path);
	assert_int_equal(bt_msg_bind(srv, path, echo_cb, &b, 0, &ep), 0);
	assert_int_equal(bt_msg_bind(srv, open_path, echo_cb, &b,
	    BT_MSG_BIND_ANONYMOUS, &ep2), 0);

	cl = node_new(&cid);
	assert_int_equal(bt_msg_route_add(cl, sid.path, addr), 0);
	assert_int_equal(call_str(cl, path, "remote", out, sizeof(out),
	    5 * SEC), 0);
	assert_string_equal(out, "remote");
	assert_string_equal(b.from, cid.path); /* the verified path */
	assert_int_equal(call_str(cl, path, "fail", out, sizeof(out),
	    5 * SEC), -EBADMSG);

	anon = node_new(NULL);
	assert_int_equal(bt_msg_route_add(anon, "*", addr), 0);
	assert_int_equal(call_str(anon, path, "x", out, sizeof(out),
	    5 * SEC), -EACCES);
	assert_int_equal(call_str(anon, open_path, "anon", out, sizeof(out),
	    5 * SEC), 0);
	assert_string_equal(b.from, "");
	/* A silent callee with a short deadline: -ENOMSG comes at once. */
	assert_int_equal(call_str(anon, open_path, "silent", out, sizeof(out),
	    5 * SEC), -ENOMSG);
	bt_msg_node_free(anon);
	bt_msg_node_free(cl);
	bt_msg_unbind(ep);
	bt_msg_unbind(ep2);
	bt_msg_node_free(srv);
	ident_fini(&sid);
	ident_fini(&cid);
	pthread_mutex_destroy(&b.mu);
}

/* A handler that holds the call past the caller's deadline. */
static void
slow_cb(void *arg, struct bt_msg *m)
{
	usleep(400000);
	bt_msg_reply(m, "late", 4);
}

static void
test_deadline(void **state)
{
	struct ident sid;
	char addr[300], path[600], out[64];
	bt_msg_node *srv, *cl;
	bt_msg_ep *ep;
	struct bt_diag d;
	uint64_t t0;

	ident_make(&sid, NULL, "node");
	srv = node_new(&sid);
	assert_int_equal(bt_msg_node_listen(srv, "127.0.0.1:0", addr,
	    sizeof(addr), &d), 0);
	snprintf(path, sizeof(path), "%s/slow", sid.path);
	assert_int_equal(bt_msg_bind(srv, path, slow_cb, NULL,
	    BT_MSG_BIND_ANONYMOUS, &ep), 0);
	cl = node_new(NULL);
	assert_int_equal(bt_msg_route_add(cl, "*", addr), 0);
	t0 = bt_time_mono_ns();
	assert_int_equal(call_str(cl, path, "x", out, sizeof(out),
	    100000000ULL), -ETIMEDOUT);
	assert_true(bt_time_mono_ns() - t0 < 300000000ULL);
	bt_msg_node_free(cl);
	bt_msg_node_free(srv);
	ident_fini(&sid);
}

static void
test_pubsub(void **state)
{
	struct ident sid;
	struct box local = { .n = 0 }, remote = { .n = 0 };
	char addr[300], topic[600], other[600], msg[16];
	bt_msg_node *srv, *cl;
	bt_msg_sub *s1, *s2;
	struct bt_diag d;

	pthread_mutex_init(&local.mu, NULL);
	pthread_mutex_init(&remote.mu, NULL);
	ident_make(&sid, NULL, "node");
	srv = node_new(&sid);
	assert_int_equal(bt_msg_node_listen(srv, "127.0.0.1:0", addr,
	    sizeof(addr), &d), 0);
	snprintf(topic, sizeof(topic), "%s/topics/a", sid.path);
	snprintf(other, sizeof(other), "%s/topics/b", sid.path);
	assert_int_equal(bt_msg_subscribe(srv, topic, echo_cb, &local, &s1),
	    0);
	cl = node_new(NULL);
	assert_int_equal(bt_msg_route_add(cl, "*", addr), 0);
	assert_int_equal(bt_msg_node_connect(cl, addr, 5 * SEC, &d), 0);
	assert_int_equal(bt_msg_subscribe(cl, topic, echo_cb, &remote, &s2),
	    0);
	/* The subscription travels to the owner: wait until it is there. */
	for (int i = 0; i < 1000 && box_n(&remote) == 0; i++) {
		assert_int_equal(bt_msg_publish(cl, topic, 0, "probe", 5), 0);
		usleep(2000);
	}
	assert_true(box_n(&remote) > 0);
	/* Probes still on their way would count: let them land first. */
	box_settle(&remote);
	box_settle(&local);
	pthread_mutex_lock(&remote.mu);
	remote.n = 0;
	pthread_mutex_unlock(&remote.mu);
	pthread_mutex_lock(&local.mu);
	local.n = 0;
	pthread_mutex_unlock(&local.mu);
	for (int i = 0; i < 100; i++) {
		snprintf(msg, sizeof(msg), "%d", i);
		assert_int_equal(bt_msg_publish(cl, topic, 0, msg,
		    strlen(msg)), 0);
	}
	assert_int_equal(bt_msg_publish(srv, other, 0, "x", 1), 0);
	assert_int_equal(box_wait(&remote, 100), 0);
	assert_int_equal(box_wait(&local, 100), 0);
	assert_string_equal(remote.last, "99"); /* in order, last is last */
	assert_string_equal(local.last, "99");
	usleep(20000);
	assert_int_equal(box_n(&remote), 100); /* nothing from "other" */
	bt_msg_unsubscribe(s2);
	bt_msg_unsubscribe(s1);
	bt_msg_node_free(cl);
	bt_msg_node_free(srv);
	ident_fini(&sid);
	pthread_mutex_destroy(&local.mu);
	pthread_mutex_destroy(&remote.mu);
}

/*
 * Subscribers behind a forwarding node: S1 and S2 reach the topic's owner
 * O only through F, which subscribes upstream once for both and fans the
 * publications out below it. Publications come in order, from O and from
 * a subscriber; one of two subscriptions on one node going leaves the
 * other served; a subscriber leaving leaves the other served.
 */
static void
test_pubsub_forwarded(void **state)
{
	struct ident oid, fid;
	struct box b1 = { .n = 0 }, b2 = { .n = 0 }, b3 = { .n = 0 };
	char oaddr[300], faddr[300], topic[600], msg[16];
	bt_msg_node *o, *f, *s1, *s2;
	bt_msg_sub *u1, *u2, *u3;
	struct bt_diag d;
	bool ready = false;

	pthread_mutex_init(&b1.mu, NULL);
	pthread_mutex_init(&b2.mu, NULL);
	pthread_mutex_init(&b3.mu, NULL);
	ident_make(&oid, NULL, "owner");
	ident_make(&fid, NULL, "forwarder");
	o = node_new(&oid);
	assert_int_equal(bt_msg_node_listen(o, "127.0.0.1:0", oaddr,
	    sizeof(oaddr), &d), 0);
	f = node_new(&fid);
	assert_int_equal(bt_msg_node_listen(f, "127.0.0.1:0", faddr,
	    sizeof(faddr), &d), 0);
	assert_int_equal(bt_msg_route_add(f, oid.path, oaddr), 0);
	s1 = node_new(NULL);
	s2 = node_new(NULL);
	assert_int_equal(bt_msg_route_add(s1, "*", faddr), 0);
	assert_int_equal(bt_msg_route_add(s2, "*", faddr), 0);
	snprintf(topic, sizeof(topic), "%s/topics/news", oid.path);
	assert_int_equal(bt_msg_subscribe(s1, topic, echo_cb, &b1, &u1), 0);
	assert_int_equal(bt_msg_subscribe(s2, topic, echo_cb, &b2, &u2), 0);
	assert_int_equal(bt_msg_subscribe(s2, topic, echo_cb, &b3, &u3), 0);
	/* The subscriptions travel up through F: wait until they are there. */
	for (int i = 0; i < 2000 && !ready; i++) {
		assert_int_equal(bt_msg_publish(o, topic, 0, "probe", 5), 0);
		usleep(2000);
		ready = box_n(&b1) > 0 && box_n(&b2) > 0 && box_n(&b3) > 0;
	}
	assert_true(ready);
	/* Probes still on their way (two hops) land first. */
	box_settle(&b1);
	box_settle(&b2);
	box_settle(&b3);
	box_reset(&b1);
	box_reset(&b2);
	box_reset(&b3);
	for (int i = 0; i < 100; i++) {
		snprintf(msg, sizeof(msg), "%d", i);
		assert_int_equal(bt_msg_publish(o, topic, 0, msg, strlen(msg)),
		    0);
	}
	assert_int_equal(box_wait(&b1, 100), 0);
	assert_int_equal(box_wait(&b2, 100), 0);
	assert_int_equal(box_wait(&b3, 100), 0);
	assert_string_equal(b1.last, "99"); /* in order: the last is last */
	assert_string_equal(b2.last, "99");
	/* A subscriber publishes: up through F to O, and back down to both. */
	assert_int_equal(bt_msg_publish(s1, topic, 0, "from s1", 7), 0);
	assert_int_equal(box_wait(&b1, 101), 0);
	assert_int_equal(box_wait(&b2, 101), 0);
	assert_string_equal(b2.last, "from s1");
	usleep(20000);
	assert_int_equal(box_n(&b1), 101); /* once each, not once per path */
	assert_int_equal(box_n(&b2), 101);
	/* One of S2's two subscriptions goes: the other is still served. */
	bt_msg_unsubscribe(u3);
	/* S1 goes: S2 is still served through F. */
	bt_msg_unsubscribe(u1);
	bt_msg_node_free(s1);
	usleep(50000); /* the UNSUBs and the close reach F and O */
	box_reset(&b2);
	for (int i = 0; i < 10; i++) {
		snprintf(msg, sizeof(msg), "later %d", i);
		assert_int_equal(bt_msg_publish(o, topic, 0, msg, strlen(msg)),
		    0);
	}
	assert_int_equal(box_wait(&b2, 10), 0);
	assert_string_equal(b2.last, "later 9");
	assert_int_equal(box_n(&b3), 101);
	bt_msg_unsubscribe(u2);
	bt_msg_node_free(s2);
	bt_msg_node_free(f);
	bt_msg_node_free(o);
	ident_fini(&oid);
	ident_fini(&fid);
	pthread_mutex_destroy(&b1.mu);
	pthread_mutex_destroy(&b2.mu);
	pthread_mutex_destroy(&b3.mu);
}

/*
 * One connection may hold at most 4096 subscriptions at a node (the table
 * and every publication's cost would otherwise grow at a peer's will):
 * the first 4096 are served, the ones past the limit are not.
 */
static void
test_subscription_limit(void **state)
{
	enum { LIMIT = 4096, EXTRA = 8 };
	struct ident sid;
	struct box first = { .n = 0 }, last = { .n = 0 }, rest = { .n = 0 };
	char addr[300], topic[600];
	bt_msg_sub **subs = bt_calloc(LIMIT + EXTRA, sizeof(*subs));
	bt_msg_node *srv, *cl;
	struct bt_diag d;

	pthread_mutex_init(&first.mu, NULL);
	pthread_mutex_init(&last.mu, NULL);
	pthread_mutex_init(&rest.mu, NULL);
	ident_make(&sid, NULL, "node");
	srv = node_new(&sid);
	assert_int_equal(bt_msg_node_listen(srv, "127.0.0.1:0", addr,
	    sizeof(addr), &d), 0);
	cl = node_new(NULL);
	assert_int_equal(bt_msg_route_add(cl, "*", addr), 0);
	assert_int_equal(bt_msg_node_connect(cl, addr, 5 * SEC, &d), 0);
	for (int i = 0; i < LIMIT + EXTRA; i++) {
		struct box *b = i == 0 ? &first : i == LIMIT - 1 ? &last :
		    &rest;

		snprintf(topic, sizeof(topic), "%s/topics/t%d", sid.path, i);
		assert_int_equal(bt_msg_subscribe(cl, topic, echo_cb, b,
		    &subs[i]), 0);
	}
	/* The last one within the limit is served once its SUB is in. */
	snprintf(topic, sizeof(topic), "%s/topics/t%d", sid.path, LIMIT - 1);
	for (int i = 0; i < 2000 && box_n(&last) == 0; i++) {
		assert_int_equal(bt_msg_publish(srv, topic, 0, "x", 1), 0);
		usleep(2000);
	}
	assert_true(box_n(&last) > 0);
	/* Every SUB has arrived (in order, one connection): past the limit
	 * nothing comes, while the first is still served. */
	for (int i = LIMIT; i < LIMIT + EXTRA; i++) {
		snprintf(topic, sizeof(topic), "%s/topics/t%d", sid.path, i);
		assert_int_equal(bt_msg_publish(srv, topic, 0, "x", 1), 0);
	}
	snprintf(topic, sizeof(topic), "%s/topics/t0", sid.path);
	assert_int_equal(bt_msg_publish(srv, topic, 0, "first", 5), 0);
	assert_int_equal(box_wait(&first, 1), 0);
	assert_int_equal(box_n(&rest), 0); /* they would have come first */
	for (int i = 0; i < LIMIT + EXTRA; i++)
		bt_msg_unsubscribe(subs[i]);
	bt_free(subs);
	bt_msg_node_free(cl);
	bt_msg_node_free(srv);
	ident_fini(&sid);
	pthread_mutex_destroy(&first.mu);
	pthread_mutex_destroy(&last.mu);
	pthread_mutex_destroy(&rest.mu);
}

/*
 * A service process bound at node/svc (credential delegated by the node)
 * connects to the node; a client of the node calls node/svc and the node
 * forwards the call to it.
 */
static void
test_forwarding(void **state)
{
	struct ident nid, svid;
	struct box b = { .n = 0 };
	char addr[300], out[64];
	bt_msg_node *node, *svc, *cl;
	bt_msg_ep *ep;
	struct bt_diag d;

	pthread_mutex_init(&b.mu, NULL);
	ident_make(&nid, NULL, "node");
	ident_make(&svid, &nid, "svc");
	node = node_new(&nid);
	assert_int_equal(bt_msg_node_listen(node, "127.0.0.1:0", addr,
	    sizeof(addr), &d), 0);
	svc = node_new(&svid);
	assert_int_equal(bt_msg_bind(svc, svid.path, echo_cb, &b,
	    BT_MSG_BIND_ANONYMOUS, &ep), 0);
	assert_int_equal(bt_msg_route_add(svc, "*", addr), 0);
	assert_int_equal(bt_msg_node_connect(svc, addr, 5 * SEC, &d), 0);
	cl = node_new(NULL);
	assert_int_equal(bt_msg_route_add(cl, nid.path, addr), 0);
	assert_int_equal(call_str(cl, svid.path, "forwarded", out,
	    sizeof(out), 5 * SEC), 0);
	assert_string_equal(out, "forwarded");
	/* The service goes away: calls to its path fail, at once. */
	bt_msg_node_free(svc);
	assert_int_not_equal(call_str(cl, svid.path, "x", out, sizeof(out),
	    5 * SEC), 0);
	bt_msg_node_free(cl);
	bt_msg_node_free(node);
	ident_fini(&nid);
	ident_fini(&svid);
	pthread_mutex_destroy(&b.mu);
}

/*
 * Two nodes whose routes for a prefix point at each other: a call to a
 * path under it comes back at once with -ELOOP from the hop limit instead
 * of bouncing between them, a send is dropped, and both nodes go on
 * serving.
 */
static void
test_route_loop(void **state)
{
	struct ident aid, bid, zid;
	struct box b = { .n = 0 };
	char aaddr[300], baddr[300], lost[600], path[600], out[64];
	bt_msg_node *a, *bn, *cl;
	bt_msg_ep *ep;
	struct bt_msg_reply r;
	struct bt_diag d;
	uint64_t t0;

	pthread_mutex_init(&b.mu, NULL);
	ident_make(&aid, NULL, "a");
	ident_make(&bid, NULL, "b");
	ident_make(&zid, NULL, "z"); /* owned by neither */
	a = node_new(&aid);
	bn = node_new(&bid);
	assert_int_equal(bt_msg_node_listen(a, "127.0.0.1:0", aaddr,
	    sizeof(aaddr), &d), 0);
	assert_int_equal(bt_msg_node_listen(bn, "127.0.0.1:0", baddr,
	    sizeof(baddr), &d), 0);
	assert_int_equal(bt_msg_route_add(a, zid.path, baddr), 0);
	assert_int_equal(bt_msg_route_add(bn, zid.path, aaddr), 0);
	snprintf(path, sizeof(path), "%s/echo", bid.path);
	assert_int_equal(bt_msg_bind(bn, path, echo_cb, &b,
	    BT_MSG_BIND_ANONYMOUS, &ep), 0);
	assert_int_equal(bt_msg_route_add(a, bid.path, baddr), 0);
	snprintf(lost, sizeof(lost), "%s/nowhere", zid.path);

	cl = node_new(NULL);
	assert_int_equal(bt_msg_route_add(cl, "*", aaddr), 0);
	t0 = bt_time_mono_ns();
	bt_diag_clear(&d);
	assert_int_equal(bt_msg_call(cl, lost, 0, "x", 1, 20 * SEC, &r, &d),
	    -ELOOP);
	assert_true(bt_time_mono_ns() - t0 < 5 * SEC);
	assert_non_null(strstr(d.msg, "hop limit"));
	/* A send around the loop is dropped; the nodes keep serving. */
	assert_int_equal(bt_msg_send(cl, lost, 0, "y", 1), 0);
	assert_int_equal(call_str(cl, path, "still", out, sizeof(out),
	    5 * SEC), 0);
	assert_string_equal(out, "still");
	bt_diag_clear(&d);
	assert_int_equal(bt_msg_call(cl, lost, 0, "x", 1, 20 * SEC, &r, &d),
	    -ELOOP);
	bt_msg_node_free(cl);
	bt_msg_unbind(ep);
	bt_msg_node_free(a);
	bt_msg_node_free(bn);
	ident_fini(&aid);
	ident_fini(&bid);
	ident_fini(&zid);
	pthread_mutex_destroy(&b.mu);
}

/*
 * Deferred replies: the handler takes the call and returns; another thread
 * answers it later, with a reply or an error; from another node, and from
 * this same process (sync and async callers).
 */
struct later {
	pthread_mutex_t	 mu;
	bt_msg_deferred *d;
	int		 defer_rc, twice_rc;
	bool		 fail;
	bool		 at_once;   /* answer inside the handler */
	unsigned	 delay_ms;  /* after the handler returned; 0: 20 */
	atomic_int	 answer_rc; /* what the late answer returned */
	atomic_int	 answered;
};

static void
defer_cb(void *arg, struct bt_msg *m)
{
	struct later *l = arg;
	bt_msg_deferred *d = NULL;
	int rc = bt_msg_defer(m, &d);

	int twice = rc == 0 ? bt_msg_reply(m, "twice", 5) : 0;

	if (rc != 0)
		bt_msg_reply(m, "now", 3);
	if (rc == 0 && l->at_once) {
		atomic_store(&l->answer_rc,
		    bt_msg_deferred_reply(d, "at once", 7));
		d = NULL;
	}
	pthread_mutex_lock(&l->mu);
	l->defer_rc = rc;
	l->twice_rc = twice;
	l->d = d;
	pthread_mutex_unlock(&l->mu);
}

static int
later_rc(struct later *l, int *twice)
{
	int rc;

	pthread_mutex_lock(&l->mu);
	rc = l->defer_rc;
	*twice = l->twice_rc;
	pthread_mutex_unlock(&l->mu);
	return rc;
}

static void *
later_main(void *arg)
{
	struct later *l = arg;
	uint64_t end = bt_time_mono_ns() + 10 * SEC;
	bt_msg_deferred *d = NULL;

	while (d == NULL && bt_time_mono_ns() < end) {
		pthread_mutex_lock(&l->mu);
		d = l->d;
		l->d = NULL;
		pthread_mutex_unlock(&l->mu);
		if (d == NULL)
			usleep(1000);
	}
	if (d == NULL)
		return NULL;
	/* Well after the handler returned. */
	usleep(1000 * (l->delay_ms ? l->delay_ms : 20));
	if (l->fail)
		atomic_store(&l->answer_rc,
		    bt_msg_deferred_error(d, -EAGAIN, "try again"));
	else
		atomic_store(&l->answer_rc,
		    bt_msg_deferred_reply(d, "later", 5));
	atomic_store(&l->answered, 1);
	return NULL;
}

/* An async caller's answer: exactly once, never on the calling thread. */
struct async_seen {
	atomic_int count, rc, on_caller;
	pthread_t  caller;
	char	   data[16];
};

static void
async_seen_cb(void *arg, int rc, const void *data, size_t len)
{
	struct async_seen *a = arg;

	if (pthread_equal(pthread_self(), a->caller))
		atomic_store(&a->on_caller, 1);
	snprintf(a->data, sizeof(a->data), "%.*s", (int)len,
	    data ? (const char *)data : "");
	atomic_store(&a->rc, rc);
	atomic_fetch_add(&a->count, 1);
}

static bool
wait_count(atomic_int *v, int want)
{
	uint64_t end = bt_time_mono_ns() + 10 * SEC;

	while (atomic_load(v) < want && bt_time_mono_ns() < end)
		usleep(1000);
	return atomic_load(v) == want;
}

/* In-process: the caller's own thread ran the handler, then waits. */
static void
deferred_in_process(bt_msg_node *srv, const char *path, struct later *l)
{
	struct async_seen a = { .count = 0 };
	struct bt_diag d;
	struct bt_msg_reply r;
	char out[64];
	pthread_t th;
	int twice;

	l->fail = false;
	pthread_create(&th, NULL, later_main, l);
	assert_int_equal(call_str(srv, path, "x", out, sizeof(out), 5 * SEC),
	    0);
	assert_string_equal(out, "later");
	assert_int_equal(later_rc(l, &twice), 0);
	assert_int_equal(twice, -EINVAL);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&l->answer_rc), 0);

	l->fail = true;
	pthread_create(&th, NULL, later_main, l);
	bt_diag_clear(&d);
	assert_int_equal(bt_msg_call(srv, path, 0, "x", 1, 5 * SEC, &r, &d),
	    -EAGAIN);
	assert_non_null(strstr(d.msg, "try again"));
	pthread_join(th, NULL);

	/* Answered inside the handler, before it returned. */
	l->at_once = true;
	assert_int_equal(call_str(srv, path, "x", out, sizeof(out), 5 * SEC),
	    0);
	assert_string_equal(out, "at once");
	assert_int_equal(atomic_load(&l->answer_rc), 0);
	l->at_once = false;

	/* Too late: the caller gives up at its deadline; the answer drops. */
	l->fail = false;
	atomic_store(&l->answered, 0);
	atomic_store(&l->answer_rc, -1);
	l->delay_ms = 300; /* far past the deadline, however busy the host */
	pthread_create(&th, NULL, later_main, l);
	assert_int_equal(call_str(srv, path, "x", out, sizeof(out), SEC / 200),
	    -ETIMEDOUT);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&l->answered), 1);
	assert_int_equal(atomic_load(&l->answer_rc), 0);

	/* Async: the callback comes once, on the loop thread. */
	l->delay_ms = 0;
	a.caller = pthread_self();
	pthread_create(&th, NULL, later_main, l);
	assert_int_equal(bt_msg_call_async(srv, path, 0, "x", 1, 5 * SEC,
	    async_seen_cb, &a), 0);
	assert_true(wait_count(&a.count, 1));
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&a.rc), 0);
	assert_string_equal(a.data, "later");
	assert_int_equal(atomic_load(&a.on_caller), 0);
	usleep(50000);
	assert_int_equal(atomic_load(&a.count), 1);

	/* Async and too late: -ETIMEDOUT by the deadline, the answer drops. */
	memset(&a, 0, sizeof(a));
	a.caller = pthread_self();
	atomic_store(&l->answered, 0);
	l->delay_ms = 300;
	pthread_create(&th, NULL, later_main, l);
	assert_int_equal(bt_msg_call_async(srv, path, 0, "x", 1, SEC / 1000,
	    async_seen_cb, &a), 0);
	assert_true(wait_count(&a.count, 1));
	assert_int_equal(atomic_load(&a.rc), -ETIMEDOUT);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&l->answered), 1);
	assert_int_equal(atomic_load(&l->answer_rc), 0);
	assert_int_equal(atomic_load(&a.count), 1);
	l->delay_ms = 0;
}

static void
test_deferred(void **state)
{
	struct ident sid;
	struct later l = { .d = NULL };
	char addr[300], path[600], out[64];
	bt_msg_node *srv, *cl;
	bt_msg_ep *ep;
	struct bt_diag d;
	pthread_t th;
	int twice;

	pthread_mutex_init(&l.mu, NULL);
	ident_make(&sid, NULL, "node");
	srv = node_new(&sid);
	assert_int_equal(bt_msg_node_listen(srv, "127.0.0.1:0", addr,
	    sizeof(addr), &d), 0);
	snprintf(path, sizeof(path), "%s/later", sid.path);
	assert_int_equal(bt_msg_bind(srv, path, defer_cb, &l,
	    BT_MSG_BIND_ANONYMOUS, &ep), 0);
	cl = node_new(NULL);
	assert_int_equal(bt_msg_route_add(cl, "*", addr), 0);

	pthread_create(&th, NULL, later_main, &l);
	assert_int_equal(call_str(cl, path, "x", out, sizeof(out), 5 * SEC),
	    0);
	assert_string_equal(out, "later");
	assert_int_equal(later_rc(&l, &twice), 0);
	assert_int_equal(twice, -EINVAL); /* taken: no second answer */
	pthread_join(th, NULL);

	l.fail = true;
	pthread_create(&th, NULL, later_main, &l);
	bt_diag_clear(&d);
	assert_int_equal(call_str(cl, path, "x", out, sizeof(out), 5 * SEC),
	    -EAGAIN);
	pthread_join(th, NULL);

	deferred_in_process(srv, path, &l);

	bt_msg_node_free(cl);
	bt_msg_unbind(ep);
	bt_msg_node_free(srv);
	ident_fini(&sid);
	pthread_mutex_destroy(&l.mu);
}

/*
 * An in-process call deferred past bt_msg_node_free: the async caller is
 * told BT_ECLOSED once, by the free; the answer after it gets BT_ECLOSED.
 */
static void
test_deferred_after_free(void **state)
{
	struct ident sid;
	struct later l = { .d = NULL };
	struct async_seen a = { .count = 0 };
	char path[600];
	bt_msg_deferred *d = NULL;
	bt_msg_node *srv;
	bt_msg_ep *ep;

	pthread_mutex_init(&l.mu, NULL);
	ident_make(&sid, NULL, "node");
	srv = node_new(&sid);
	snprintf(path, sizeof(path), "%s/later", sid.path);
	assert_int_equal(bt_msg_bind(srv, path, defer_cb, &l, 0, &ep), 0);
	a.caller = pthread_self();
	assert_int_equal(bt_msg_call_async(srv, path, 0, "x", 1, 60 * SEC,
	    async_seen_cb, &a), 0);
	pthread_mutex_lock(&l.mu);
	d = l.d;
	l.d = NULL;
	pthread_mutex_unlock(&l.mu);
	assert_non_null(d);
	bt_msg_unbind(ep);
	bt_msg_node_free(srv);
	assert_int_equal(atomic_load(&a.count), 1);
	assert_int_equal(atomic_load(&a.rc), BT_ECLOSED);
	assert_int_equal(bt_msg_deferred_reply(d, "late", 4), BT_ECLOSED);
	assert_int_equal(atomic_load(&a.count), 1);
	ident_fini(&sid);
	pthread_mutex_destroy(&l.mu);
}

/*
 * A node forwards at most 4,096 calls from one connection at a time: a
 * service that holds every call does not let one peer grow the forwarder's
 * table of pending calls; the call past the limit is refused at once with
 * -EBUSY, never reaches the service, and calls go through again once the
 * held ones are answered.
 */
#define FORWARD_LIMIT 4096

struct holder {
	pthread_mutex_t	  mu;
	bool		  hold;
	int		  n;
	bt_msg_deferred **d;
};

static void
hold_cb(void *arg, struct bt_msg *m)
{
	struct holder *h = arg;
	bt_msg_deferred *d;

	pthread_mutex_lock(&h->mu);
	if (h->hold && h->n < FORWARD_LIMIT + 1 && bt_msg_defer(m, &d) == 0)
		h->d[h->n++] = d;
	else
		bt_msg_reply(m, "now", 3);
	pthread_mutex_unlock(&h->mu);
}

static void
count_cb(void *arg, int rc, const void *data, size_t len)
{
	atomic_int *ok = arg;

	if (rc == 0)
		atomic_fetch_add(ok, 1);
}

static int
holder_n(struct holder *h)
{
	int n;

	pthread_mutex_lock(&h->mu);
	n = h->n;
	pthread_mutex_unlock(&h->mu);
	return n;
}

static void
test_forward_limit(void **state)
{
	struct ident nid, svid;
	struct holder h = { .hold = true };
	atomic_int ok = 0;
	char addr[300], out[64];
	bt_msg_node *node, *svc, *cl;
	struct bt_msg_reply r;
	struct bt_diag d;
	bt_msg_ep *ep;
	uint64_t end;

	pthread_mutex_init(&h.mu, NULL);
	h.d = bt_calloc(FORWARD_LIMIT + 1, sizeof(*h.d));
	assert_non_null(h.d);
	ident_make(&nid, NULL, "node");
	ident_make(&svid, &nid, "svc");
	node = node_new(&nid);
	assert_int_equal(bt_msg_node_listen(node, "127.0.0.1:0", addr,
	    sizeof(addr), &d), 0);
	svc = node_new(&svid);
	assert_int_equal(bt_msg_bind(svc, svid.path, hold_cb, &h,
	    BT_MSG_BIND_ANONYMOUS, &ep), 0);
	assert_int_equal(bt_msg_route_add(svc, "*", addr), 0);
	assert_int_equal(bt_msg_node_connect(svc, addr, 5 * SEC, &d), 0);
	cl = node_new(NULL);
	assert_int_equal(bt_msg_route_add(cl, nid.path, addr), 0);
	assert_int_equal(bt_msg_node_connect(cl, addr, 5 * SEC, &d), 0);

	for (int i = 0; i < FORWARD_LIMIT; i++)
		assert_int_equal(bt_msg_call_async(cl, svid.path, 0, "x", 1,
		    60 * SEC, count_cb, &ok), 0);
	end = bt_time_mono_ns() + 20 * SEC;
	while (holder_n(&h) < FORWARD_LIMIT && bt_time_mono_ns() < end)
		usleep(1000);
	assert_int_equal(holder_n(&h), FORWARD_LIMIT);
	bt_diag_clear(&d);
	assert_int_equal(bt_msg_call(cl, svid.path, 0, "y", 1, 5 * SEC, &r,
	    &d), -EBUSY);
	assert_non_null(strstr(d.msg, "in flight"));
	assert_int_equal(holder_n(&h), FORWARD_LIMIT);

	pthread_mutex_lock(&h.mu);
	h.hold = false;
	for (int i = 0; i < h.n; i++)
		assert_int_equal(bt_msg_deferred_reply(h.d[i], "late", 4), 0);
	pthread_mutex_unlock(&h.mu);
	end = bt_time_mono_ns() + 20 * SEC;
	while (atomic_load(&ok) < FORWARD_LIMIT && bt_time_mono_ns() < end)
		usleep(1000);
	assert_int_equal(atomic_load(&ok), FORWARD_LIMIT);
	assert_int_equal(call_str(cl, svid.path, "z", out, sizeof(out),
	    5 * SEC), 0);
	assert_string_equal(out, "now");

	bt_msg_node_free(cl);
	bt_msg_unbind(ep);
	bt_msg_node_free(svc);
	bt_msg_node_free(node);
	ident_fini(&nid);
	ident_fini(&svid);
	bt_free(h.d);
	pthread_mutex_destroy(&h.mu);
}

/*
 * An idle node's tick rests (it does not wake 50 times a second), and the
 * first call nobody waits for wakes it again: an async call to a service
 * that never answers, remote or in-process, made after the nodes were
 * left idle, still fails with -ETIMEDOUT by its deadline.
 */
static void
test_idle_tick_wakes(void **state)
{
	struct ident sid;
	struct holder h = { .hold = true };
	struct async_seen ra = { .count = 0 }, la = { .count = 0 };
	char addr[300];
	bt_msg_node *srv, *cl;
	bt_msg_ep *ep;
	struct bt_diag d;

	pthread_mutex_init(&h.mu, NULL);
	h.d = bt_calloc(FORWARD_LIMIT + 1, sizeof(*h.d));
	assert_non_null(h.d);
	ident_make(&sid, NULL, "idle");
	srv = node_new(&sid);
	assert_int_equal(bt_msg_node_listen(srv, "127.0.0.1:0", addr,
	    sizeof(addr), &d), 0);
	assert_int_equal(bt_msg_bind(srv, sid.path, hold_cb, &h,
	    BT_MSG_BIND_ANONYMOUS, &ep), 0);
	cl = node_new(NULL);
	assert_int_equal(bt_msg_route_add(cl, sid.path, addr), 0);
	assert_int_equal(bt_msg_node_connect(cl, addr, 5 * SEC, &d), 0);
	/* Ten ticks with nothing pending: both ticks rest. */
	usleep(200000);
	assert_int_equal(bt_msg_call_async(cl, sid.path, 0, "x", 1, SEC / 20,
	    async_seen_cb, &ra), 0);
	assert_true(wait_count(&ra.count, 1));
	assert_int_equal(atomic_load(&ra.rc), -ETIMEDOUT);
	usleep(200000);
	assert_int_equal(bt_msg_call_async(srv, sid.path, 0, "x", 1, SEC / 20,
	    async_seen_cb, &la), 0);
	assert_true(wait_count(&la.count, 1));
	assert_int_equal(atomic_load(&la.rc), -ETIMEDOUT);
	assert_int_equal(holder_n(&h), 2); /* both reached the service */

	pthread_mutex_lock(&h.mu);
	for (int i = 0; i < h.n; i++) /* too late: dropped */
		assert_int_equal(bt_msg_deferred_reply(h.d[i], "late", 4), 0);
	pthread_mutex_unlock(&h.mu);
	bt_msg_node_free(cl);
	bt_msg_unbind(ep);
	bt_msg_node_free(srv);
	ident_fini(&sid);
	bt_free(h.d);
	pthread_mutex_destroy(&h.mu);
	assert_int_equal(atomic_load(&ra.count), 1);
	assert_int_equal(atomic_load(&la.count), 1);
}

/* A call routed to a node that restarted reconnects by itself. */
static void
test_reconnect(void **state)
{
	struct ident sid;
	struct box b = { .n = 0 };
	char *dir = bt_test_tmpdir(), addr[300], path[600], out[64];
	bt_msg_node *srv, *cl;
	bt_msg_ep *ep;
	struct bt_diag d;
	int rc = -1;

	pthread_mutex_init(&b.mu, NULL);
	snprintf(addr, sizeof(addr), "unix:%s/n.sock", dir);
	ident_make(&sid, NULL, "node");
	snprintf(path, sizeof(path), "%s/echo", sid.path);
	srv = node_new(&sid);
	assert_int_equal(bt_msg_node_listen(srv, addr, NULL, 0, &d), 0);
	assert_int_equal(bt_msg_bind(srv, path, echo_cb, &b,
	    BT_MSG_BIND_ANONYMOUS, &ep), 0);
	cl = node_new(NULL);
	assert_int_equal(bt_msg_route_add(cl, "*", addr), 0);
	assert_int_equal(call_str(cl, path, "one", out, sizeof(out), 5 * SEC),
	    0);
	bt_msg_node_free(srv); /* ep goes with it */
	assert_int_not_equal(call_str(cl, path, "down", out, sizeof(out),
	    SEC), 0);
	srv = node_new(&sid);
	assert_int_equal(bt_msg_node_listen(srv, addr, NULL, 0, &d), 0);
	assert_int_equal(bt_msg_bind(srv, path, echo_cb, &b,
	    BT_MSG_BIND_ANONYMOUS, &ep), 0);
	for (int i = 0; i < 50 && rc != 0; i++)
		rc = call_str(cl, path, "two", out, sizeof(out), SEC);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "two");
	bt_msg_node_free(cl);
	bt_msg_node_free(srv);
	ident_fini(&sid);
	pthread_mutex_destroy(&b.mu);
	bt_test_tmpdir_remove(dir);
}

/*
 * Calls from several threads at once, sync and async, all answered; an
 * async callback never runs on a calling thread, even when that thread
 * read the callback's reply off the wire while waiting for its own.
 */
static _Thread_local bool in_caller;

struct stress {
	bt_msg_node    *cl;
	const char     *to;
	int		ok;
	pthread_mutex_t mu;
	pthread_cond_t	cv;
	int		async_left, async_ok, async_on_caller;
};

static void
stress_async_cb(void *arg, int rc, const void *data, size_t len)
{
	struct stress *st = arg;

	pthread_mutex_lock(&st->mu);
	st->async_left--;
	st->async_ok += rc == 0 && len == 5 && memcmp(data, "async", 5) == 0;
	st->async_on_caller += in_caller;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

static void *
stress_main(void *arg)
{
	struct stress *st = arg;
	char out[64], msg[32];
	int ok = 0;

	in_caller = true;
	for (int i = 0; i < 500; i++) {
		snprintf(msg, sizeof(msg), "m%d", i);
		if (call_str(st->cl, st->to, msg, out, sizeof(out), 10 * SEC) ==
		    0 && strcmp(out, msg) == 0)
			ok++;
		if (i % 10 == 0 &&
		    bt_msg_call_async(st->cl, st->to, 0, "async", 5, 10 * SEC,
			stress_async_cb, st) != 0)
			stress_async_cb(st, -EIO, NULL, 0);
	}
	pthread_mutex_lock(&st->mu);
	st->ok += ok;
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

static void
test_concurrent_calls(void **state)
{
	enum { T = 4 };
	struct ident sid;
	struct box b = { .n = 0 };
	struct stress st = { .ok = 0 };
	char addr[300], path[600];
	bt_msg_node *srv;
	bt_msg_ep *ep;
	struct bt_diag d;
	pthread_t th[T];

	pthread_mutex_init(&b.mu, NULL);
	pthread_mutex_init(&st.mu, NULL);
	pthread_cond_init(&st.cv, NULL);
	ident_make(&sid, NULL, "node");
	srv = node_new(&sid);
	assert_int_equal(bt_msg_node_listen(srv, "127.0.0.1:0", addr,
	    sizeof(addr), &d), 0);
	snprintf(path, sizeof(path), "%s/echo", sid.path);
	assert_int_equal(bt_msg_bind(srv, path, echo_cb, &b,
	    BT_MSG_BIND_ANONYMOUS, &ep), 0);
	st.cl = node_new(NULL);
	st.to = path;
	st.async_left = T * 50;
	assert_int_equal(bt_msg_route_add(st.cl, "*", addr), 0);
	for (int i = 0; i < T; i++)
		pthread_create(&th[i], NULL, stress_main, &st);
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_lock(&st.mu);
	while (st.async_left > 0)
		pthread_cond_wait(&st.cv, &st.mu);
	pthread_mutex_unlock(&st.mu);
	assert_int_equal(st.ok, T * 500);
	assert_int_equal(st.async_ok, T * 50);
	assert_int_equal(st.async_on_caller, 0);
	bt_msg_node_free(st.cl);
	bt_msg_node_free(srv);
	ident_fini(&sid);
	pthread_mutex_destroy(&b.mu);
	pthread_mutex_destroy(&st.mu);
	pthread_cond_destroy(&st.cv);
}

/*
 * Lockstep calls over the connection that also carries publications to
 * this node: the caller reading its replies hands each publication back
 * to the loop thread, so every call is answered, every publication
 * arrives in order, and no subscriber callback runs on the calling thread.
 */
struct pubs {
	bt_msg_node *srv;
	const char  *topic;
	int	     count;
};

static void *
pubs_main(void *arg)
{
	struct pubs *p = arg;
	char msg[16];

	for (int i = 0; i < p->count; i++) {
		snprintf(msg, sizeof(msg), "%d", i);
		if (bt_msg_publish(p->srv, p->topic, 0, msg, strlen(msg)) != 0)
			break;
		if (i % 8 == 0)
			usleep(100);
	}
	return NULL;
}

struct seen {
	pthread_mutex_t mu;
	int		n, next, out_of_order, on_caller, probes;
};

static void
seen_cb(void *arg, struct bt_msg *m)
{
	struct seen *s = arg;
	char buf[16];

	if (m->len >= sizeof(buf))
		return;
	memcpy(buf, m->data, m->len);
	buf[m->len] = '\0';
	pthread_mutex_lock(&s->mu);
	if (strcmp(buf, "probe") == 0) {
		s->probes++;
	} else {
		s->out_of_order += strtol(buf, NULL, 10) != s->next;
		s->next++;
		s->n++;
	}
	s->on_caller += in_caller;
	pthread_mutex_unlock(&s->mu);
}

static void
test_calls_amid_publications(void **state)
{
	enum { P = 400 };
	struct ident sid;
	struct box b = { .n = 0 };
	struct seen seen = { .n = 0 };
	struct pubs pubs;
	char addr[300], path[600], topic[600], out[64], msg[32];
	bt_msg_node *srv, *cl;
	bt_msg_ep *ep;
	bt_msg_sub *sub;
	struct bt_diag d;
	pthread_t th;
	int ok = 0, probes = 0;

	pthread_mutex_init(&b.mu, NULL);
	pthread_mutex_init(&seen.mu, NULL);
	ident_make(&sid, NULL, "node");
	srv = node_new(&sid);
	assert_int_equal(bt_msg_node_listen(srv, "127.0.0.1:0", addr,
	    sizeof(addr), &d), 0);
	snprintf(path, sizeof(path), "%s/echo", sid.path);
	snprintf(topic, sizeof(topic), "%s/topics/t", sid.path);
	assert_int_equal(bt_msg_bind(srv, path, echo_cb, &b,
	    BT_MSG_BIND_ANONYMOUS, &ep), 0);
	cl = node_new(NULL);
	assert_int_equal(bt_msg_route_add(cl, "*", addr), 0);
	assert_int_equal(bt_msg_node_connect(cl, addr, 5 * SEC, &d), 0);
	assert_int_equal(bt_msg_subscribe(cl, topic, seen_cb, &seen, &sub),
	    0);
	/* The subscription travels to the owner: wait until it is there. */
	for (int i = 0; i < 1000 && probes == 0; i++) {
		assert_int_equal(bt_msg_publish(srv, topic, 0, "probe", 5), 0);
		usleep(2000);
		pthread_mutex_lock(&seen.mu);
		probes = seen.probes;
		pthread_mutex_unlock(&seen.mu);
	}
	assert_true(probes > 0);
	pubs = (struct pubs) { srv, topic, P };
	in_caller = true;
	pthread_create(&th, NULL, pubs_main, &pubs);
	for (int i = 0; i < 300; i++) {
		snprintf(msg, sizeof(msg), "c%d", i);
		if (call_str(cl, path, msg, out, sizeof(out), 10 * SEC) == 0 &&
		    strcmp(out, msg) == 0)
			ok++;
	}
	pthread_join(th, NULL);
	in_caller = false;
	assert_int_equal(ok, 300);
	for (int i = 0; i < 10000; i++) {
		int n;

		pthread_mutex_lock(&seen.mu);
		n = seen.n;
		pthread_mutex_unlock(&seen.mu);
		if (n >= P)
			break;
		usleep(1000);
	}
	assert_int_equal(seen.n, P);
	assert_int_equal(seen.out_of_order, 0);
	assert_int_equal(seen.on_caller, 0);
	bt_msg_unsubscribe(sub);
	bt_msg_node_free(cl);
	bt_msg_node_free(srv);
	ident_fini(&sid);
	pthread_mutex_destroy(&b.mu);
	pthread_mutex_destroy(&seen.mu);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_process),
		cmocka_unit_test(test_remote_call_and_anonymous),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_pubsub),
		cmocka_unit_test(test_forwarding),
		cmocka_unit_test(test_pubsub_forwarded),
		cmocka_unit_test(test_subscription_limit),
		cmocka_unit_test(test_route_loop),
		cmocka_unit_test(test_deferred),
		cmocka_unit_test(test_deferred_after_free),
		cmocka_unit_test(test_forward_limit),
		cmocka_unit_test(test_idle_tick_wakes),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_concurrent_calls),
		cmocka_unit_test(test_calls_amid_publications),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
