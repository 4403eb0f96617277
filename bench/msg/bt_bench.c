/*
 * bench/msg/bt_bench.c: Blocktree messaging, TLS 1.3 with both sides
 * authenticated, over loopback TCP: lockstep calls (64 B, 4 KiB), calls
 * with 64 in flight, publish/subscribe fan-out to 10 subscriber nodes, and
 * an in-process call.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include "bt/crypto.h"
#include "bt/msg.h"
#include "common.h"

#define SEC	 1000000000ULL

static void
die(const char *what, int rc)
{
	fprintf(stderr, "bt_bench: %s: %s\n", what, bt_strerror(rc));
	exit(1);
}

static bt_msg_node *
node_with_identity(const char *sub, char *path, size_t cap)
{
	struct bt_msg_config cfg = { .version = 1 };
	struct bt_principal rp, np;
	char rs[BT_PRINCIPAL_STR_LEN + 1];
	bt_key *root, *key;
	bt_cred *cred;
	bt_msg_node *n;
	struct bt_diag d;
	int rc;

	bt_key_generate(&root, BT_KEY_ED25519);
	bt_key_generate(&key, BT_KEY_ED25519);
	bt_key_principal(root, &rp);
	bt_key_principal(key, &np);
	bt_principal_to_str(&rp, rs);
	snprintf(path, cap, "/%s/%s", rs, sub);
	rc = bt_cred_issue(&cred, root, NULL, &np, path, bt_time_now_s() - 60,
	    bt_time_now_s() + 3600);
	if (rc != 0)
		die("cred", rc);
	cfg.key = key;
	cfg.cred = cred;
	cfg.path = path;
	if ((rc = bt_msg_node_new(&n, &cfg, &d)) != 0)
		die("node", rc);
	bt_cred_free(cred);
	bt_key_free(key);
	bt_key_free(root);
	return n;
}

static void
echo_cb(void *arg, struct bt_msg *m)
{
	bt_msg_reply(m, m->data, m->len);
}

static void
lockstep(bt_msg_node *cl, const char *to, const char *name, size_t size)
{
	static char out[LARGE];
	uint64_t *rtt = bt_calloc(CALLS, sizeof(*rtt)), t0, t;
	struct bt_msg_reply r;
	int rc;

	memset(out, 'x', sizeof(out));
	t0 = now_ns();
	for (size_t i = 0; i < CALLS; i++) {
		t = now_ns();
		rc = bt_msg_call(cl, to, 0, out, size, 5 * SEC, &r, NULL);
		if (rc != 0)
			die("call", rc);
		bt_free(r.ptr);
		rtt[i] = now_ns() - t;
	}
	report(name, rtt, CALLS, now_ns() - t0);
	bt_free(rtt);
}

/*
 * Pipelined calls: WINDOW calls in flight, each answer's callback (on the
 * client node's loop thread) starting the next call, as nng's aio
 * callbacks do in nng_bench.c; the main thread only waits for the end.
 */
struct window {
	pthread_mutex_t mu;
	pthread_cond_t	cv;
	bt_msg_node    *cl;
	const char     *to;
	size_t		size, sent, done, total;
	int		errors;
};

static char pipe_out[LARGE];

static void
win_done(void *arg, int rc, const void *data, size_t len)
{
	struct window *w = arg;
	bool more;

	pthread_mutex_lock(&w->mu);
	w->done++;
	w->errors += rc != 0;
	more = w->sent < w->total;
	if (more)
		w->sent++;
	if (w->done == w->total)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (more && bt_msg_call_async(w->cl, w->to, 0, pipe_out, w->size,
	    5 * SEC, win_done, w) != 0)
		win_done(w, -EIO, NULL, 0);
}

static void
pipelined(bt_msg_node *cl, const char *to, const char *name, size_t size)
{
	struct window w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
		cl, to, size, 0, 0, PIPED, 0 };
	uint64_t t0;

	memset(pipe_out, 'x', sizeof(pipe_out));
	t0 = now_ns();
	pthread_mutex_lock(&w.mu);
	for (int i = 0; i < WINDOW && w.sent < w.total; i++) {
		w.sent++;
		pthread_mutex_unlock(&w.mu);
		if (bt_msg_call_async(cl, to, 0, pipe_out, size, 5 * SEC,
			win_done, &w) != 0)
			die("call_async", -EIO);
		pthread_mutex_lock(&w.mu);
	}
	while (w.done < w.total)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	printf("%s_rate=%.0f\n%s_errors=%d\n", name,
	    w.total / ((now_ns() - t0) / 1e9), name, w.errors);
	fflush(stdout);
}

/* One cache line per subscriber's count, as in zmq_bench.c and nng_bench.c. */
static struct {
	_Alignas(64) atomic_int n;
} got_[SUBS];
#define got(i) (got_[(i)].n)

static void
sub_cb(void *arg, struct bt_msg *m)
{
	if (((const char *)m->data)[0] == 'm')
		atomic_fetch_add(&got((intptr_t)arg), 1);
	else
		atomic_store(&got((intptr_t)arg), -1000000);
}

static void
fanout(bt_msg_node *srv, const char *path, const char *addr)
{
	bt_msg_node *subs[SUBS];
	bt_msg_sub *s[SUBS];
	char topic[512], msg[SMALL];
	struct bt_msg_config cfg = { .version = 1 };
	struct bt_diag d;
	uint64_t t0, end;
	int ready, done;
	long lost = 0;

	snprintf(topic, sizeof(topic), "%s/topics/bench", path);
	for (int i = 0; i < SUBS; i++) {
		if (bt_msg_node_new(&subs[i], &cfg, &d) != 0 ||
		    bt_msg_route_add(subs[i], "*", addr) != 0 ||
		    bt_msg_node_connect(subs[i], addr, 5 * SEC, &d) != 0 ||
		    bt_msg_subscribe(subs[i], topic, sub_cb, (void *)(intptr_t)i,
			&s[i]) != 0)
			die("subscriber", -EIO);
	}
	do {
		ready = 0;
		bt_msg_publish(srv, topic, 0, "probe", 5);
		usleep(10000);
		for (int i = 0; i < SUBS; i++)
			ready += atomic_load(&got(i)) < 0;
	} while (ready < SUBS);
	usleep(20000);
	for (int i = 0; i < SUBS; i++)
		atomic_store(&got(i), 0);
	memset(msg, 'm', sizeof(msg));
	t0 = now_ns();
	for (int i = 0; i < PUBS; i++)
		bt_msg_publish(srv, topic, 0, msg, sizeof(msg));
	end = t0 + 20 * SEC;
	do {
		done = 0;
		for (int i = 0; i < SUBS; i++)
			done += atomic_load(&got(i)) >= PUBS;
		if (done < SUBS)
			usleep(200);
	} while (done < SUBS && now_ns() < end);
	printf("fanout_rate=%.0f\n", PUBS / ((now_ns() - t0) / 1e9));
	for (int i = 0; i < SUBS; i++)
		lost += PUBS - atomic_load(&got(i));
	printf("fanout_lost=%ld\n", lost);
	for (int i = 0; i < SUBS; i++) {
		bt_msg_unsubscribe(s[i]);
		bt_msg_node_free(subs[i]);
	}
}

static void
inproc(void)
{
	char path[256], to[300], out[SMALL];
	bt_msg_node *n = node_with_identity("local", path, sizeof(path));
	struct bt_msg_reply r;
	bt_msg_ep *ep;
	uint64_t t0;

	snprintf(to, sizeof(to), "%s/echo", path);
	bt_msg_bind(n, to, echo_cb, NULL, 0, &ep);
	memset(out, 'x', sizeof(out));
	t0 = now_ns();
	for (int i = 0; i < INPROC; i++) {
		if (bt_msg_call(n, to, 0, out, sizeof(out), SEC, &r, NULL) != 0)
			die("in-process call", -EIO);
		bt_free(r.ptr);
	}
	printf("inproc_ns=%.0f\n", (double)(now_ns() - t0) / INPROC);
	bt_msg_unbind(ep);
	bt_msg_node_free(n);
}

int
main(int argc, char **argv)
{
	char spath[256], cpath[256], addr[256], to[300];
	bt_msg_node *srv, *cl;
	bt_msg_ep *ep;
	struct bt_diag d;
	int rc;

	bt_log_set_level(BT_LOG_ERROR);
	srv = node_with_identity("node", spath, sizeof(spath));
	if ((rc = bt_msg_node_listen(srv, "127.0.0.1:0", addr, sizeof(addr),
		 &d)) != 0)
		die("listen", rc);
	snprintf(to, sizeof(to), "%s/echo", spath);
	bt_msg_bind(srv, to, echo_cb, NULL, 0, &ep);
	cl = node_with_identity("client", cpath, sizeof(cpath));
	bt_msg_route_add(cl, "*", addr);
	if ((rc = bt_msg_node_connect(cl, addr, 5 * SEC, &d)) != 0)
		die("connect", rc);
	if (want(argc, argv, "call64"))
		lockstep(cl, to, "call64", SMALL);
	if (want(argc, argv, "call4k"))
		lockstep(cl, to, "call4k", LARGE);
	if (want(argc, argv, "pipe"))
		pipelined(cl, to, "pipe64", SMALL);
	if (want(argc, argv, "pipe"))
		pipelined(cl, to, "pipe4k", LARGE);
	bt_msg_node_free(cl);
	if (want(argc, argv, "fanout"))
		fanout(srv, spath, addr);
	bt_msg_unbind(ep);
	bt_msg_node_free(srv);
	if (want(argc, argv, "inproc"))
		inproc();
	return 0;
}
