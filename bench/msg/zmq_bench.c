/*
 * bench/msg/zmq_bench.c: the workloads of bt_bench.c with ZeroMQ, no
 * encryption: REQ/REP over loopback TCP (64 B, 4 KiB), DEALER/ROUTER with
 * WINDOW calls in flight (64 B, 4 KiB), PUB/SUB fan-out to 10
 * subscribers, REQ/REP over inproc.
 */
#include <pthread.h>
#include <unistd.h>
#include <zmq.h>

#include "common.h"

static void *ctx;

static void *
rep_main(void *arg)
{
	void *s = arg;
	char buf[LARGE + 64];
	int n;

	/* A socket belongs to one thread: this one ends on "q" and closes. */
	while ((n = zmq_recv(s, buf, sizeof(buf), 0)) >= 0) {
		if (zmq_send(s, buf, (size_t)n, 0) < 0)
			break;
		if (n == 1 && buf[0] == 'q')
			break;
	}
	zmq_close(s);
	return NULL;
}

static void
calls(const char *name, const char *ep, size_t size, size_t count,
    int lat)
{
	void *rep = zmq_socket(ctx, ZMQ_REP), *req = zmq_socket(ctx, ZMQ_REQ);
	char ep2[256], buf[LARGE + 64], out[LARGE];
	size_t len = sizeof(ep2);
	uint64_t *rtt = calloc(count, sizeof(*rtt)), t0, t;
	pthread_t th;
	int linger = 0;

	zmq_bind(rep, ep);
	zmq_getsockopt(rep, ZMQ_LAST_ENDPOINT, ep2, &len);
	pthread_create(&th, NULL, rep_main, rep);
	zmq_connect(req, ep2);
	memset(out, 'x', sizeof(out));
	t0 = now_ns();
	for (size_t i = 0; i < count; i++) {
		t = now_ns();
		zmq_send(req, out, size, 0);
		zmq_recv(req, buf, sizeof(buf), 0);
		rtt[i] = now_ns() - t;
	}
	t = now_ns() - t0;
	if (lat)
		report(name, rtt, count, t);
	else
		printf("%s_ns=%.0f\n", name, (double)t / count);
	zmq_send(req, "q", 1, 0);
	zmq_recv(req, buf, sizeof(buf), 0);
	pthread_join(th, NULL);
	zmq_setsockopt(req, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_close(req);
	free(rtt);
}

/* The ROUTER side: echo [identity][body] until a body "q". */
static void *
router_main(void *arg)
{
	void *s = arg;
	zmq_msg_t id, body;
	int quit;

	for (;;) {
		zmq_msg_init(&id);
		zmq_msg_init(&body);
		if (zmq_msg_recv(&id, s, 0) < 0 || zmq_msg_recv(&body, s, 0) < 0)
			break;
		quit = zmq_msg_size(&body) == 1 &&
		    ((char *)zmq_msg_data(&body))[0] == 'q';
		if (zmq_msg_send(&id, s, ZMQ_SNDMORE) < 0 ||
		    zmq_msg_send(&body, s, 0) < 0 || quit)
			break;
	}
	zmq_msg_close(&id);
	zmq_msg_close(&body);
	zmq_close(s);
	return NULL;
}

/*
 * pipelined: one DEALER keeps WINDOW requests in flight to a ROUTER that
 * echoes them (ZeroMQ's way to have several calls outstanding; REQ allows
 * one), the shape of bt_bench's bt_msg_call_async window.
 */
static void
pipelined(const char *name, size_t size, size_t total)
{
	void *router = zmq_socket(ctx, ZMQ_ROUTER);
	void *dealer = zmq_socket(ctx, ZMQ_DEALER);
	char ep[256], buf[LARGE + 64], out[LARGE];
	size_t len = sizeof(ep), sent = 0, got = 0;
	int linger = 0;
	pthread_t th;
	uint64_t t0;

	zmq_bind(router, "tcp://127.0.0.1:*");
	zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, ep, &len);
	pthread_create(&th, NULL, router_main, router);
	zmq_connect(dealer, ep);
	memset(out, 'x', sizeof(out));
	/* One round trip first, so the connection is up before timing. */
	zmq_send(dealer, out, size, 0);
	zmq_recv(dealer, buf, sizeof(buf), 0);
	t0 = now_ns();
	for (; sent < WINDOW && sent < total; sent++)
		zmq_send(dealer, out, size, 0);
	while (got < total) {
		if (zmq_recv(dealer, buf, sizeof(buf), 0) < 0)
			break;
		got++;
		if (sent < total) {
			zmq_send(dealer, out, size, 0);
			sent++;
		}
	}
	printf("%s_rate=%.0f\n", name, got / ((now_ns() - t0) / 1e9));
	fflush(stdout);
	zmq_send(dealer, "q", 1, 0);
	zmq_recv(dealer, buf, sizeof(buf), 0);
	pthread_join(th, NULL);
	zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_close(dealer);
}

/* One cache line each: the counts are written by different threads. */
struct subber {
	_Alignas(64) void *s;
	int		   got;
};

static void *
sub_main(void *arg)
{
	struct subber *sb = arg;
	char buf[256];

	while (sb->got < PUBS) {
		int n = zmq_recv(sb->s, buf, sizeof(buf), 0);

		if (n < 0)
			break;
		if (buf[0] == 'm')
			sb->got++;
	}
	return NULL;
}

static void
fanout(void)
{
	void *pub = zmq_socket(ctx, ZMQ_PUB);
	struct subber sb[SUBS];
	pthread_t th[SUBS];
	char ep[256], msg[SMALL];
	size_t len = sizeof(ep);
	int zero = 0, ready;
	uint64_t t0, t;

	zmq_setsockopt(pub, ZMQ_SNDHWM, &zero, sizeof(zero));
	zmq_bind(pub, "tcp://127.0.0.1:*");
	zmq_getsockopt(pub, ZMQ_LAST_ENDPOINT, ep, &len);
	for (int i = 0; i < SUBS; i++) {
		sb[i].s = zmq_socket(ctx, ZMQ_SUB);
		sb[i].got = 0;
		zmq_setsockopt(sb[i].s, ZMQ_RCVHWM, &zero, sizeof(zero));
		zmq_setsockopt(sb[i].s, ZMQ_SUBSCRIBE, "", 0);
		zmq_connect(sb[i].s, ep);
	}
	/* Slow joiners: probe until every subscriber hears. */
	do {
		ready = 0;
		zmq_send(pub, "probe", 5, 0);
		usleep(10000);
		for (int i = 0; i < SUBS; i++) {
			char b[16];

			if (zmq_recv(sb[i].s, b, sizeof(b), ZMQ_DONTWAIT) >= 0)
				sb[i].got = -1;
			ready += sb[i].got == -1;
		}
	} while (ready < SUBS);
	for (int i = 0; i < SUBS; i++) {
		char b[16];

		while (zmq_recv(sb[i].s, b, sizeof(b), ZMQ_DONTWAIT) >= 0)
			;
		sb[i].got = 0;
		pthread_create(&th[i], NULL, sub_main, &sb[i]);
	}
	memset(msg, 'm', sizeof(msg));
	t0 = now_ns();
	for (int i = 0; i < PUBS; i++)
		zmq_send(pub, msg, sizeof(msg), 0);
	for (int i = 0; i < SUBS; i++)
		pthread_join(th[i], NULL);
	t = now_ns() - t0;
	printf("fanout_rate=%.0f\n", PUBS / (t / 1e9));
	for (int i = 0; i < SUBS; i++)
		zmq_close(sb[i].s);
	zmq_close(pub);
}

int
main(int argc, char **argv)
{
	ctx = zmq_ctx_new();
	if (want(argc, argv, "call64"))
		calls("call64", "tcp://127.0.0.1:*", SMALL, CALLS, 1);
	if (want(argc, argv, "call4k"))
		calls("call4k", "tcp://127.0.0.1:*", LARGE, CALLS, 1);
	if (want(argc, argv, "pipe"))
		pipelined("pipe64", SMALL, PIPED);
	if (want(argc, argv, "pipe"))
		pipelined("pipe4k", LARGE, PIPED);
	if (want(argc, argv, "fanout"))
		fanout();
	if (want(argc, argv, "inproc"))
		calls("inproc", "inproc://bench", SMALL, INPROC, 0);
	zmq_ctx_term(ctx);
	return 0;
}
