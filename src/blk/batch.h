/*
 * blk/batch.h: several writes committed as one (internal; for blk/nbd).
 */
#ifndef BT_BLK_BATCH_H
#define BT_BLK_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt/blk.h"

/* One write of a batch: buf, len and off in; rc out (0 or as
 * bt_blk_dev_write). */
struct bt__blk_wreq {
	const void *buf;
	size_t      len;
	uint64_t    off;
	int         rc;
};

/*
 * BT__BLK_NO_PUSH, a flag of bt_blk_dev_write and bt_blk_dev_zero for
 * blk/nbd: leave the replication messages of the write queued; the caller
 * sends them with bt__blk_dev_push once it has answered its client, so
 * the answer does not wait for the encryption and send to the backups.
 * bt__blk_dev_write_many never pushes: its caller does.
 */
#define BT__BLK_NO_PUSH 0x100u
void bt__blk_dev_push(bt_blk_dev *dev);

/* The most sectors one batch commits together. */
#define BT__BLK_BATCH_SECTORS 256u

/*
 * bt__blk_dev_write_many runs n writes (no FUA) and sets each w[i].rc. It
 * has the effect of bt_blk_dev_write on each in order: each gets its own
 * write index (and replication message), in order. When every write is
 * whole sectors, the ranges are disjoint and they add up to at most
 * BT__BLK_BATCH_SECTORS, they are committed together: the sectors are
 * sealed, then one critical section assigns the write indexes and journal
 * slots, one pwrite writes every journal record and one pwrite per write
 * its data (invariant 3 of meta.c holds for the whole batch). Otherwise
 * they run one after the other. Any thread.
 */
void bt__blk_dev_write_many(bt_blk_dev *dev, struct bt__blk_wreq *w, size_t n);

/*
 * bt__blk_dev_flush_ahead_due says whether the client's flush rhythm makes
 * a flush the likely next request (dev.c explains); it answers true once
 * per write index. bt__blk_dev_flush_ahead then makes every completed
 * write durable locally, so that flush finds nothing to sync. Call both
 * after the replies of the writes went out, without the reading turn.
 */
bool bt__blk_dev_flush_ahead_due(bt_blk_dev *dev);
/* bt__blk_dev_flush_expected: the same prediction, without using it up. */
bool bt__blk_dev_flush_expected(bt_blk_dev *dev);
/* bt__blk_dev_durable: every write so far is durable and there are no
 * backups to wait for: a FLUSH now returns at once. */
bool bt__blk_dev_durable(bt_blk_dev *dev);
void bt__blk_dev_flush_ahead(bt_blk_dev *dev);
/* bt__blk_dev_replicating: writes go to backups too (each one is also
 * encrypted and sent on the writer's thread). */
bool bt__blk_dev_replicating(bt_blk_dev *dev);

#endif /* BT_BLK_BATCH_H */
