/*
 * cmd/bt/cmd_msg.c: `bt msg call|send|pub|sub|serve`, a client of a node.
 *
 * Each subcommand starts a small messaging node of its own (msg/), with the
 * identity given by --key and --cred (the credential's path is the one it
 * claims) or anonymous without them, routes everything to --to ADDR and
 * connects at once, so a refusal is reported before anything is sent.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bt/crypto.h"
#include "bt/msg.h"
#include "bt/os.h"
#include "cmd.h"

static const char usage[] =
    "usage: bt msg call PATH --to ADDR [--data STR | --file F]\n"
    "                   [--key K --cred C] [--timeout DUR]\n"
    "       bt msg send PATH --to ADDR [--data STR | --file F] ...\n"
    "       bt msg pub TOPIC --to ADDR [--data STR | --file F] ...\n"
    "       bt msg sub TOPIC --to ADDR [--count N] ...\n"
    "       bt msg serve PATH --to ADDR --key K --cred C [--delay DUR]\n"
    "\n"
    "Talk to a node at ADDR (host:port or unix:PATH). Without --key the\n"
    "client is anonymous. call prints the reply; sub prints each message\n"
    "as it arrives (one line each) and reconnects when the node restarts;\n"
    "serve receives at PATH (within its credential's path) through the\n"
    "node, prints what arrives and answers calls with their payload.\n"
    "\n"
    "examples:\n"
    "  bt msg call \"$(jq -r .path bt-data/node.json)/echo\" "
    "--to 127.0.0.1:7400 --data hi\n"
    "  bt msg sub /ROOT/node/topics/news --to unix:bt-data/node.sock\n";

static const struct bt_opt opts[] = {
	{ "to", 't', BT_OPT_STR, NULL, "the node's address (required)" },
	{ "data", 'd', BT_OPT_STR, NULL, "the payload, as text" },
	{ "file", 'f', BT_OPT_STR, NULL, "read the payload from this file" },
	{ "key", 'k', BT_OPT_STR, NULL, "our key file (else anonymous)" },
	{ "cred", 'c', BT_OPT_STR, NULL, "our credential file (with --key)" },
	{ "timeout", 0, BT_OPT_DURATION, "10s", "deadline of a call" },
	{ "proto", 0, BT_OPT_U64, "0", "protocol id carried with messages" },
	{ "count", 'n', BT_OPT_U64, "0",
	    "sub: exit after this many messages (0: run until a signal)" },
	{ "delay", 0, BT_OPT_DURATION, "0", "serve: wait this long before "
					     "answering" },
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/*
 * Test hook of net/ (not API): with BT_TEST_NO_SELF_CHECK=1 in the
 * environment a client presents its chain even when it does not verify
 * locally, so the tests can show that the node refuses it.
 */
extern bool bt__net_test_no_self_check;

struct client {
	bt_config   *cfg;
	bt_msg_node *node;
	bt_key	    *key;
	bt_cred	    *cred;
	const char  *target; /* PATH or TOPIC */
	uint8_t	    *data;
	size_t	     len;
	uint32_t     proto;
};

static void
client_fini(struct client *c)
{
	bt_msg_node_free(c->node);
	bt_key_free(c->key);
	bt_cred_free(c->cred);
	bt_free(c->data);
	bt_config_free(c->cfg);
}

/* client_open parses the options, loads the payload and connects. */
static int
client_open(struct client *c, int argc, char **argv, bool needs_id)
{
	struct bt_msg_config mc = { .version = 1 };
	struct bt_diag diag;
	const char *to, *s;
	int ex, rc;

	memset(c, 0, sizeof(*c));
	if (bt_cmd_parse(&c->cfg, usage, opts, NOPTS, argc, argv,
		BT_CONFIG_ARGS_ONLY, &ex) != 0)
		return ex;
	if (bt_config_npos(c->cfg) != 1)
		return bt_cmd_usage(usage, "'%s' takes one path", argv[0]);
	c->target = bt_config_pos(c->cfg, 0);
	to = bt_config_str(c->cfg, "to");
	if (to == NULL)
		return bt_cmd_usage(usage, "--to ADDR is required");
	bt_diag_clear(&diag);
	if (bt_path_check(c->target, &diag) != 0)
		return bt_cmd_err("'%s' is not a path: %s", c->target,
		    diag.msg);
	c->proto = (uint32_t)bt_config_u64(c->cfg, "proto");
	if ((s = bt_config_str(c->cfg, "data")) != NULL) {
		c->len = strlen(s);
		c->data = bt_memdup(s, c->len);
		if (c->data == NULL)
			return bt_cmd_err("out of memory");
	} else if ((s = bt_config_str(c->cfg, "file")) != NULL) {
		rc = bt_os_read_file(s, (size_t)64 << 20, &c->data, &c->len);
		if (rc != 0)
			return bt_cmd_err("cannot read '%s': %s", s,
			    bt_strerror(rc));
	}
	if ((s = bt_config_str(c->cfg, "key")) != NULL) {
		bt_diag_clear(&diag);
		rc = bt_key_load(&c->key, s, &diag);
		if (rc != 0)
			return bt_cmd_err("cannot load the key '%s': %s", s,
			    diag.msg[0] ? diag.msg : bt_strerror(rc));
		if ((s = bt_config_str(c->cfg, "cred")) == NULL)
			return bt_cmd_usage(usage, "--key needs --cred");
		bt_diag_clear(&diag);
		rc = bt_cred_load(&c->cred, s, &diag);
		if (rc != 0)
			return bt_cmd_err("cannot load the credential '%s': %s",
			    s, diag.msg[0] ? diag.msg : bt_strerror(rc));
		mc.key = c->key;
		mc.cred = c->cred;
		mc.path = bt_cred_path(c->cred);
	} else if (needs_id) {
		return bt_cmd_usage(usage, "'%s' needs --key and --cred",
		    argv[0]);
	}
	s = getenv("BT_TEST_NO_SELF_CHECK");
	bt__net_test_no_self_check = s != NULL && strcmp(s, "1") == 0;
	bt_diag_clear(&diag);
	rc = bt_msg_node_new(&c->node, &mc, &diag);
	if (rc != 0)
		return bt_cmd_err("cannot use this identity: %s",
		    diag.msg[0] ? diag.msg : bt_strerror(rc));
	rc = bt_msg_route_add(c->node, "*", to);
	if (rc != 0)
		return bt_cmd_err("'%s' is not an address", to);
	bt_diag_clear(&diag);
	rc = bt_msg_node_connect(c->node, to, bt_config_u64(c->cfg,
	    "timeout"), &diag);
	if (rc != 0)
		return bt_cmd_err("cannot connect to %s: %s", to,
		    diag.msg[0] ? diag.msg : bt_strerror(rc));
	return 0;
}

static int
cmd_call(int argc, char **argv)
{
	struct bt_msg_reply r;
	struct client c;
	struct bt_diag diag;
	int ex, rc;

	ex = client_open(&c, argc, argv, false);
	if (ex != 0)
		goto out;
	bt_diag_clear(&diag);
	rc = bt_msg_call(c.node, c.target, c.proto, c.data, c.len,
	    bt_config_u64(c.cfg, "timeout"), &r, &diag);
	if (rc != 0) {
		ex = bt_cmd_err("call to %s failed: %s (%s)", c.target,
		    diag.msg[0] ? diag.msg : "no detail", bt_strerror(rc));
		goto out;
	}
	fwrite(r.ptr, 1, r.len, stdout);
	if (isatty(STDOUT_FILENO) && (r.len == 0 ||
	    ((const char *)r.ptr)[r.len - 1] != '\n'))
		fputc('\n', stdout);
	fflush(stdout);
	bt_free(r.ptr);
out:
	client_fini(&c);
	return ex;
}

static int
send_or_pub(int argc, char **argv, bool pub)
{
	struct client c;
	int ex, rc;

	ex = client_open(&c, argc, argv, false);
	if (ex != 0)
		goto out;
	rc = pub ? bt_msg_publish(c.node, c.target, c.proto, c.data, c.len) :
	    bt_msg_send(c.node, c.target, c.proto, c.data, c.len);
	if (rc != 0)
		ex = bt_cmd_err("%s to %s failed: %s", pub ? "publish" :
		    "send", c.target, bt_strerror(rc));
out:
	client_fini(&c); /* closes gracefully: the message is flushed */
	return ex;
}

static int
cmd_send(int argc, char **argv)
{
	return send_or_pub(argc, argv, false);
}

static int
cmd_pub(int argc, char **argv)
{
	return send_or_pub(argc, argv, true);
}

/* What sub and serve print and count. */
struct printer {
	pthread_mutex_t mu;
	uint64_t	n;
	uint64_t	delay_ns;
	bool		prefix_from;
};

static void
print_msg(void *arg, struct bt_msg *m)
{
	struct printer *p = arg;

	pthread_mutex_lock(&p->mu);
	if (p->prefix_from)
		printf("%s %s: ", m->kind == BT_MSG_CALL ? "call" : "send",
		    m->from[0] ? m->from : "(anonymous)");
	fwrite(m->data, 1, m->len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	p->n++;
	pthread_mutex_unlock(&p->mu);
	if (m->kind == BT_MSG_CALL) {
		if (p->delay_ns != 0) {
			struct timespec ts = {
				.tv_sec = (time_t)(p->delay_ns / 1000000000ULL),
				.tv_nsec = (long)(p->delay_ns % 1000000000ULL),
			};

			nanosleep(&ts, NULL);
		}
		(void)bt_msg_reply(m, m->data, m->len);
	}
}

/* wait_stop runs until SIGINT/SIGTERM, or until p has seen max messages. */
static void
wait_stop(struct printer *p, uint64_t max)
{
	struct timespec tick = { 0, 50000000 };
	sigset_t set;
	uint64_t n;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	for (;;) {
		if (sigtimedwait(&set, NULL, &tick) > 0)
			return;
		pthread_mutex_lock(&p->mu);
		n = p->n;
		pthread_mutex_unlock(&p->mu);
		if (max != 0 && n >= max)
			return;
	}
}

static void
block_signals(void)
{
	sigset_t set;

	/* Before any thread starts, so only wait_stop sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int
cmd_sub(int argc, char **argv)
{
	struct printer p = { .n = 0 };
	struct client c;
	bt_msg_sub *sub;
	int ex, rc;

	block_signals();
	pthread_mutex_init(&p.mu, NULL);
	ex = client_open(&c, argc, argv, false);
	if (ex != 0)
		goto out;
	rc = bt_msg_subscribe(c.node, c.target, print_msg, &p, &sub);
	if (rc != 0) {
		ex = bt_cmd_err("cannot subscribe to %s: %s", c.target,
		    bt_strerror(rc));
		goto out;
	}
	bt_log_info("msg", "subscribed to %s", c.target);
	wait_stop(&p, bt_config_u64(c.cfg, "count"));
	bt_msg_unsubscribe(sub);
out:
	client_fini(&c);
	pthread_mutex_destroy(&p.mu);
	return ex;
}

static int
cmd_serve(int argc, char **argv)
{
	struct printer p = { .prefix_from = true };
	struct client c;
	bt_msg_ep *ep;
	int ex, rc;

	block_signals();
	pthread_mutex_init(&p.mu, NULL);
	ex = client_open(&c, argc, argv, true);
	if (ex != 0)
		goto out;
	p.delay_ns = bt_config_u64(c.cfg, "delay");
	rc = bt_msg_bind(c.node, c.target, print_msg, &p,
	    BT_MSG_BIND_ANONYMOUS, &ep);
	if (rc != 0) {
		ex = bt_cmd_err("cannot serve %s (it must lie within %s): %s",
		    c.target, bt_msg_node_path(c.node), bt_strerror(rc));
		goto out;
	}
	bt_log_info("msg", "serving %s", c.target);
	wait_stop(&p, 0);
	bt_msg_unbind(ep);
out:
	client_fini(&c);
	pthread_mutex_destroy(&p.mu);
	return ex;
}

int
bt_cmd_msg(int argc, char **argv)
{
	static const struct bt_cmd_sub subs[] = {
		{ "call", cmd_call },
		{ "send", cmd_send },
		{ "pub", cmd_pub },
		{ "sub", cmd_sub },
		{ "serve", cmd_serve },
	};

	return bt_cmd_dispatch(subs, sizeof(subs) / sizeof(subs[0]), usage,
	    argc, argv);
}
