/*
 * examples/echo/service.c: an echo service on Blocktree messaging.
 *
 *   echo_service [ADDR]      (default 127.0.0.1:0, a free port)
 *
 * It makes an identity (a root key, a key of its own and a credential for
 * /<root>/demo issued by the root), listens on ADDR, and answers every call
 * to /<root>/demo/echo with the bytes it was sent. It prints its path and
 * address, then runs until you press Ctrl-C.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "bt/crypto.h"
#include "bt/msg.h"

/* Runs for every message sent to the endpoint's path. */
static void
on_message(void *arg, struct bt_msg *m)
{
	if (m->kind == BT_MSG_CALL)
		bt_msg_reply(m, m->data, m->len); /* echo the payload back */
}

int
main(int argc, char **argv)
{
	struct bt_msg_config cfg = { .version = 1 };
	struct bt_principal root_p, me;
	char root_s[BT_PRINCIPAL_STR_LEN + 1], path[128], echo[160];
	char addr[256];
	bt_key *root = NULL, *key = NULL;
	bt_cred *cred = NULL;
	bt_msg_node *node = NULL;
	bt_msg_ep *ep = NULL;
	struct bt_diag diag;
	sigset_t stop;
	int sig;

	/* 1. An identity: the root vouches for our key at /<root>/demo. */
	bt_key_generate(&root, BT_KEY_ED25519);
	bt_key_generate(&key, BT_KEY_ED25519);
	bt_key_principal(root, &root_p);
	bt_key_principal(key, &me);
	bt_principal_to_str(&root_p, root_s);
	snprintf(path, sizeof(path), "/%s/demo", root_s);
	if (bt_cred_issue(&cred, root, NULL, &me, path, bt_time_now_s() - 60,
		bt_time_now_s() + 86400) != 0)
		return 1;

	/* 2. A node with that identity, listening. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL); /* before threads start */
	cfg.key = key;
	cfg.cred = cred;
	cfg.path = path;
	if (bt_msg_node_new(&node, &cfg, &diag) != 0 ||
	    bt_msg_node_listen(node, argc > 1 ? argv[1] : "127.0.0.1:0", addr,
		sizeof(addr), &diag) != 0) {
		fprintf(stderr, "echo_service: %s\n", diag.msg);
		return 1;
	}

	/* 3. An endpoint: calls to <path>/echo, anonymous callers welcome. */
	snprintf(echo, sizeof(echo), "%s/echo", path);
	bt_msg_bind(node, echo, on_message, NULL, BT_MSG_BIND_ANONYMOUS, &ep);
	printf("%s %s\n", addr, echo);
	fflush(stdout);

	sigwait(&stop, &sig);
	bt_msg_unbind(ep);
	bt_msg_node_free(node);
	bt_cred_free(cred);
	bt_key_free(key);
	bt_key_free(root);
	return 0;
}
