/*
 * bench/msg/nng_bench.c: the workloads of bt_bench.c with nng, no
 * encryption: req/rep over loopback TCP (64 B, 4 KiB), req/rep with WINDOW
 * calls in flight (one req context each, asynchronous), pub/sub fan-out to
 * 10 subscribers, req/rep over inproc.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "common.h"

static void *
rep_main(void *arg)
{
	nng_socket *s = arg;
	nng_msg *m;

	while (nng_recvmsg(*s, &m, 0) == 0)
		if (nng_sendmsg(*s, m, 0) != 0) {
			nng_msg_free(m);
			break;
		}
	return NULL;
}

static void
calls(const char *name, const char *url, size_t size, size_t count, int lat)
{
	nng_socket rep, req;
	nng_listener l;
	char u[256], out[LARGE];
	uint64_t *rtt = calloc(count, sizeof(*rtt)), t0, t;
	pthread_t th;

	nng_rep0_open(&rep);
	nng_req0_open(&req);
	nng_listen(rep, url, &l, 0);
	if (strncmp(url, "tcp", 3) == 0) {
		nng_sockaddr sa;

		nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa);
		snprintf(u, sizeof(u), "tcp://127.0.0.1:%u",
		    (unsigned)ntohs(sa.s_in.sa_port));
	} else {
		snprintf(u, sizeof(u), "%s", url);
	}
	pthread_create(&th, NULL, rep_main, &rep);
	nng_dial(req, u, NULL, 0);
	memset(out, 'x', sizeof(out));
	t0 = now_ns();
	for (size_t i = 0; i < count; i++) {
		void *buf;
		size_t n;

		t = now_ns();
		nng_send(req, out, size, 0);
		nng_recv(req, &buf, &n, NNG_FLAG_ALLOC);
		nng_free(buf, n);
		rtt[i] = now_ns() - t;
	}
	t = now_ns() - t0;
	if (lat)
		report(name, rtt, count, t);
	else
		printf("%s_ns=%.0f\n", name, (double)t / count);
	nng_close(req);
	nng_close(rep);
	pthread_join(th, NULL);
	free(rtt);
}

/*
 * Pipelined calls: WINDOW req contexts, each sending its next request from
 * the callback that received its reply (nng's way to keep several calls
 * outstanding on one socket), answered by WINDOW rep contexts that echo
 * from their callbacks (nng's asynchronous server).
 */
struct rctx {
	nng_ctx	 ctx;
	nng_aio *aio;
	int	 sending;
};

static void
rctx_cb(void *arg)
{
	struct rctx *r = arg;
	int rc = nng_aio_result(r->aio);

	if (rc == NNG_ECLOSED || rc == NNG_ECANCELED)
		return;
	if (r->sending || rc != 0) {
		if (r->sending && rc != 0)
			nng_msg_free(nng_aio_get_msg(r->aio));
		r->sending = 0;
		nng_ctx_recv(r->ctx, r->aio);
		return;
	}
	/* The request is the reply: echo it. */
	nng_aio_set_msg(r->aio, nng_aio_get_msg(r->aio));
	r->sending = 1;
	nng_ctx_send(r->ctx, r->aio);
}

struct prun {
	pthread_mutex_t mu;
	pthread_cond_t	cv;
	size_t		sent, done, total, size;
	int		errors;
};

struct pctx {
	nng_ctx	     ctx;
	nng_aio	    *aio;
	int	     sending;
	struct prun *run;
};

static void
pctx_send(struct pctx *p)
{
	static char out[LARGE];
	nng_msg *m;

	memset(out, 'x', p->run->size);
	if (nng_msg_alloc(&m, 0) != 0 ||
	    nng_msg_append(m, out, p->run->size) != 0)
		abort();
	nng_aio_set_msg(p->aio, m);
	p->sending = 1;
	nng_ctx_send(p->ctx, p->aio);
}

static void
pctx_cb(void *arg)
{
	struct pctx *p = arg;
	struct prun *r = p->run;
	int more, rc = nng_aio_result(p->aio);

	if (p->sending) {
		if (rc != 0) {
			nng_msg_free(nng_aio_get_msg(p->aio));
		} else {
			p->sending = 0;
			nng_ctx_recv(p->ctx, p->aio);
			return;
		}
	} else if (rc == 0) {
		nng_msg_free(nng_aio_get_msg(p->aio));
	}
	pthread_mutex_lock(&r->mu);
	r->done++;
	r->errors += rc != 0;
	more = r->sent < r->total;
	if (more)
		r->sent++;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (more)
		pctx_send(p);
}

static void
pipelined(const char *name, size_t size, size_t total)
{
	struct prun r = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
		0, 0, total, size, 0 };
	struct pctx p[WINDOW];
	struct rctx rs[WINDOW];
	nng_socket rep, req;
	nng_listener l;
	nng_sockaddr sa;
	char u[256];
	uint64_t t0;
	void *buf;
	size_t n;

	nng_rep0_open(&rep);
	nng_req0_open(&req);
	nng_listen(rep, "tcp://127.0.0.1:0", &l, 0);
	nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa);
	snprintf(u, sizeof(u), "tcp://127.0.0.1:%u",
	    (unsigned)ntohs(sa.s_in.sa_port));
	for (int i = 0; i < WINDOW; i++) {
		rs[i].sending = 0;
		if (nng_ctx_open(&rs[i].ctx, rep) != 0 ||
		    nng_aio_alloc(&rs[i].aio, rctx_cb, &rs[i]) != 0)
			abort();
		nng_ctx_recv(rs[i].ctx, rs[i].aio);
	}
	nng_dial(req, u, NULL, 0);
	/* One round trip first, so the connection is up before timing. */
	nng_send(req, "x", 1, 0);
	nng_recv(req, &buf, &n, NNG_FLAG_ALLOC);
	nng_free(buf, n);
	for (int i = 0; i < WINDOW; i++) {
		p[i].run = &r;
		if (nng_ctx_open(&p[i].ctx, req) != 0 ||
		    nng_aio_alloc(&p[i].aio, pctx_cb, &p[i]) != 0)
			abort();
	}
	t0 = now_ns();
	pthread_mutex_lock(&r.mu);
	for (int i = 0; i < WINDOW && r.sent < total; i++) {
		r.sent++;
		pthread_mutex_unlock(&r.mu);
		pctx_send(&p[i]);
		pthread_mutex_lock(&r.mu);
	}
	while (r.done < total)
		pthread_cond_wait(&r.cv, &r.mu);
	pthread_mutex_unlock(&r.mu);
	printf("%s_rate=%.0f\n", name, total / ((now_ns() - t0) / 1e9));
	fflush(stdout);
	for (int i = 0; i < WINDOW; i++) {
		nng_aio_stop(p[i].aio);
		nng_aio_free(p[i].aio);
		nng_ctx_close(p[i].ctx);
		nng_aio_stop(rs[i].aio);
		nng_aio_free(rs[i].aio);
		nng_ctx_close(rs[i].ctx);
	}
	nng_close(req);
	nng_close(rep);
}

/* One cache line each: the counts are written by different threads. */
struct subber {
	_Alignas(64) nng_socket s;
	int			got;
};

static void *
sub_main(void *arg)
{
	struct subber *sb = arg;

	while (sb->got < PUBS) {
		void *buf;
		size_t n;

		if (nng_recv(sb->s, &buf, &n, NNG_FLAG_ALLOC) != 0)
			break;
		if (((char *)buf)[0] == 'm')
			sb->got++;
		nng_free(buf, n);
	}
	return NULL;
}

static void
fanout(void)
{
	nng_socket pub;
	nng_listener l;
	nng_sockaddr sa;
	struct subber sb[SUBS];
	pthread_t th[SUBS];
	char u[256], msg[SMALL];
	uint64_t t0, t;
	int ready;

	nng_pub0_open(&pub);
	nng_listen(pub, "tcp://127.0.0.1:0", &l, 0);
	nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa);
	snprintf(u, sizeof(u), "tcp://127.0.0.1:%u",
	    (unsigned)ntohs(sa.s_in.sa_port));
	for (int i = 0; i < SUBS; i++) {
		nng_sub0_open(&sb[i].s);
		nng_socket_set(sb[i].s, NNG_OPT_SUB_SUBSCRIBE, "", 0);
		/* nng drops when a subscriber's queue is full: make it deep. */
		nng_socket_set_int(sb[i].s, NNG_OPT_RECVBUF, 8192);
		nng_dial(sb[i].s, u, NULL, 0);
		sb[i].got = 0;
	}
	nng_socket_set_int(pub, NNG_OPT_SENDBUF, 8192);
	do {
		ready = 0;
		nng_send(pub, "probe", 5, 0);
		usleep(10000);
		for (int i = 0; i < SUBS; i++) {
			void *b;
			size_t n;

			if (nng_recv(sb[i].s, &b, &n,
				NNG_FLAG_ALLOC | NNG_FLAG_NONBLOCK) == 0) {
				nng_free(b, n);
				sb[i].got = -1;
			}
			ready += sb[i].got == -1;
		}
	} while (ready < SUBS);
	for (int i = 0; i < SUBS; i++) {
		void *b;
		size_t n;

		while (nng_recv(sb[i].s, &b, &n,
			   NNG_FLAG_ALLOC | NNG_FLAG_NONBLOCK) == 0)
			nng_free(b, n);
		sb[i].got = 0;
		nng_socket_set_ms(sb[i].s, NNG_OPT_RECVTIMEO, 5000);
		pthread_create(&th[i], NULL, sub_main, &sb[i]);
	}
	memset(msg, 'm', sizeof(msg));
	t0 = now_ns();
	for (int i = 0; i < PUBS; i++)
		nng_send(pub, msg, sizeof(msg), 0);
	for (int i = 0; i < SUBS; i++)
		pthread_join(th[i], NULL);
	t = now_ns() - t0;
	{
		long lost = 0;

		for (int i = 0; i < SUBS; i++)
			lost += PUBS - sb[i].got;
		printf("fanout_rate=%.0f\nfanout_lost=%ld\n",
		    PUBS / (t / 1e9), lost);
	}
	for (int i = 0; i < SUBS; i++)
		nng_close(sb[i].s);
	nng_close(pub);
}

int
main(int argc, char **argv)
{
	if (want(argc, argv, "call64"))
		calls("call64", "tcp://127.0.0.1:0", SMALL, CALLS, 1);
	if (want(argc, argv, "call4k"))
		calls("call4k", "tcp://127.0.0.1:0", LARGE, CALLS, 1);
	if (want(argc, argv, "pipe"))
		pipelined("pipe64", SMALL, PIPED);
	if (want(argc, argv, "pipe"))
		pipelined("pipe4k", LARGE, PIPED);
	if (want(argc, argv, "fanout"))
		fanout();
	if (want(argc, argv, "inproc"))
		calls("inproc", "inproc://bench", SMALL, INPROC, 0);
	return 0;
}
