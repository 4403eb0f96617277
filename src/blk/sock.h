/*
 * blk/sock.h: socket helpers shared by blk/nbd and replication (internal).
 */
#ifndef BT_BLK_SOCK_H
#define BT_BLK_SOCK_H

#include <stddef.h>

#include "bt/core.h"

/* bt__blk_listen binds and listens on addr and writes the bound address
 * (with the real port) to actual. */
int  bt__blk_listen(const char *addr, int *fd_out, char *actual, size_t cap,
     struct bt_diag *diag);
int  bt__blk_dial(const char *addr, int *fd_out, struct bt_diag *diag);
void bt__blk_sock_tune(int fd);
/* Full reads and writes; a read that meets end of stream is BT_ECLOSED. */
int bt__blk_read_full(int fd, void *buf, size_t len);
int bt__blk_write_full(int fd, const void *buf, size_t len);
int bt__blk_wait_readable(int fd, int timeout_ms);

#endif /* BT_BLK_SOCK_H */
