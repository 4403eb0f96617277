/*
 * examples/echo/client.c: call the echo service, anonymously.
 *
 *   echo_client ADDR PATH TEXT
 *
 * prints what the service at PATH (reached at ADDR) answers to TEXT.
 */
#include <stdio.h>
#include <string.h>

#include "bt/msg.h"

int
main(int argc, char **argv)
{
	struct bt_msg_config cfg = { .version = 1 }; /* no key: anonymous */
	struct bt_msg_reply reply;
	bt_msg_node *node;
	struct bt_diag diag = { 0 };
	int rc;

	if (argc != 4) {
		fprintf(stderr, "usage: echo_client ADDR PATH TEXT\n");
		return 2;
	}
	if (bt_msg_node_new(&node, &cfg, &diag) != 0)
		return 1;
	bt_msg_route_add(node, "*", argv[1]); /* every path goes to ADDR */
	rc = bt_msg_call(node, argv[2], 0, argv[3], strlen(argv[3]),
	    5000000000ULL /* 5 s */, &reply, &diag);
	if (rc == 0) {
		printf("%.*s\n", (int)reply.len, (const char *)reply.ptr);
		bt_free(reply.ptr);
	} else {
		fprintf(stderr, "echo_client: %s (%s)\n", diag.msg,
		    bt_strerror(rc));
	}
	bt_msg_node_free(node);
	return rc == 0 ? 0 : 1;
}
