/*
 * bt/blk.h: the rollback-protected block device (Rollbaccine's guarantee in
 * user space). Every 4 KiB sector is sealed with AES-256-GCM under a nonce
 * made of a persisted epoch, a per-open random salt and a write counter; the
 * (write index, nonce, tag) of every sector is kept in memory and persisted
 * in an authenticated checkpoint plus journal beside the data file. Writes
 * can be replicated to backups (bt_blk_repl_*), and blk/nbd/ serves a device
 * over NBD. docs/blk.md gives the formats and the protocol.
 *
 * This header is the whole supported surface of blk/. Anything not declared
 * here is not API and may change without notice.
 */
#ifndef BT_BLK_H
#define BT_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bt/core.h"

#define BT_BLK_SECTOR_SIZE 4096u
#define BT_BLK_KEY_LEN     32u
/* The largest single read or write request (NBD advertises it). */
#define BT_BLK_REQ_MAX (32u * 1024u * 1024u)

typedef struct bt_blk_dev bt_blk_dev;

/* Device states (STYLE.md, "Sticky failure states"). */
enum bt_blk_state {
	BT_BLK_STATE_OPEN = 0, /* serving */
	BT_BLK_STATE_ERROR, /* an I/O error left memory and disk apart */
};

/* Roles. A backup refuses client writes; bt_blk_dev_promote turns it into
 * a primary. */
enum bt_blk_role {
	BT_BLK_ROLE_PRIMARY = 0,
	BT_BLK_ROLE_BACKUP = 1,
};

/* Flags for bt_blk_dev_write and bt_blk_dev_zero. */
#define BT_BLK_FUA 0x1u /* durable (and replicated) before returning */

/*
 * bt_blk_key_load reads a device key file: exactly 32 raw bytes, or 64 hex
 * digits and an optional newline. A file readable, writable or executable
 * by group or others is refused with BT_EPERM. Returns 0 and writes key;
 * -ENOENT and other errnos from reading; BT_ECORRUPT for any other size or
 * content (diag says which). key is written only on success.
 */
BT_API int bt_blk_key_load(
    uint8_t key[BT_BLK_KEY_LEN], const char *path, struct bt_diag *diag);

/*
 * bt_blk_key_create writes 32 fresh random bytes to a new file path with
 * mode 0600 (O_EXCL: an existing file is -EEXIST) and fsyncs it. Returns 0
 * and the key in key, or a negative errno.
 */
BT_API int bt_blk_key_create(uint8_t key[BT_BLK_KEY_LEN], const char *path);

/*
 * bt_blk_dev_create makes a new device of size bytes (a positive multiple
 * of BT_BLK_SECTOR_SIZE) at data_path, with its metadata beside it
 * (data_path.meta; the journal follows the sectors in data_path). Every
 * sector starts "never written": it reads as zeros, and the authenticated
 * table says so. Refuses
 * an existing data or metadata file with -EEXIST. Returns 0 or a negative
 * errno; -EINVAL for a bad size.
 */
BT_API int bt_blk_dev_create(const char *data_path, uint64_t size,
    const uint8_t key[BT_BLK_KEY_LEN], int role, struct bt_diag *diag);

/*
 * bt_blk_dev_open opens a device made by bt_blk_dev_create: it checks the
 * checkpoint's MAC, replays the journal (records after the last commit are
 * kept only when the data on disk verifies against them, so a crash leaves
 * each unflushed sector old or new, never unreadable), then bumps and
 * persists the epoch before any write can happen, so no nonce is ever
 * reused. Returns 0 and *out; -ENOENT; BT_ECORRUPT when the metadata fails
 * its MAC or does not belong to this data file (diag says which); -EIO.
 * Only one process may open a device at a time (advisory lock; -EBUSY).
 */
BT_API int bt_blk_dev_open(bt_blk_dev **out, const char *data_path,
    const uint8_t key[BT_BLK_KEY_LEN], struct bt_diag *diag);

/*
 * bt_blk_dev_close flushes, writes a checkpoint and frees dev. NULL is a
 * no-op. Must not race other calls on dev.
 */
BT_API void bt_blk_dev_close(bt_blk_dev *dev);

/* Accessors. Thread-safe. */
BT_API uint64_t bt_blk_dev_size(const bt_blk_dev *dev);
BT_API int      bt_blk_dev_state(const bt_blk_dev *dev);
BT_API int      bt_blk_dev_role(const bt_blk_dev *dev);
BT_API uint64_t bt_blk_dev_write_index(const bt_blk_dev *dev);
BT_API uint64_t bt_blk_dev_ballot(const bt_blk_dev *dev);
BT_API uint64_t bt_blk_dev_epoch(const bt_blk_dev *dev);

/*
 * bt_blk_dev_read reads len bytes at off into buf (borrowed for the call),
 * decrypting and authenticating each sector; any alignment is allowed.
 * A never-written or trimmed sector reads as zeros without touching the
 * disk. Returns 0; -EINVAL past the end or above BT_BLK_REQ_MAX; -EIO when
 * a sector fails authentication (the sector is logged, nothing is copied to
 * buf for it, the device stays usable) or the disk failed (the device then
 * enters BT_BLK_STATE_ERROR). Thread-safe; blocks on the disk.
 */
BT_API int bt_blk_dev_read(
    bt_blk_dev *dev, void *buf, size_t len, uint64_t off);

/*
 * bt_blk_dev_write writes len bytes from buf at off (partial sectors are
 * read, merged and rewritten). Each sector gets a fresh nonce and a new
 * global write index; the journal record is written before the data. With
 * BT_BLK_FUA it returns only once the write is durable here and on every
 * backup. Returns 0; -EINVAL as for read; -EROFS on a backup; -EIO (device
 * in ERROR state); -ETIMEDOUT / -ENOTCONN when a backup could not confirm a
 * FUA write. Thread-safe.
 */
BT_API int bt_blk_dev_write(bt_blk_dev *dev, const void *buf, size_t len,
    uint64_t off, unsigned flags);

/*
 * bt_blk_dev_zero makes len bytes at off read as zeros: whole sectors are
 * marked "zero" in the table (no data is written), partial ones are
 * rewritten. Serves NBD TRIM and WRITE_ZEROES. Returns as bt_blk_dev_write.
 */
BT_API int bt_blk_dev_zero(
    bt_blk_dev *dev, uint64_t off, uint64_t len, unsigned flags);

/*
 * bt_blk_dev_flush makes every write that completed before the call durable
 * (data fdatasync, then a journal commit record and its fdatasync) and, on a
 * primary with backups, waits until every backup has acknowledged every
 * write up to that point. Returns 0, -EIO, -ETIMEDOUT or -ENOTCONN.
 */
BT_API int bt_blk_dev_flush(bt_blk_dev *dev);

/*
 * bt_blk_dev_verify reads and authenticates every written sector and
 * returns how many failed (0 when the disk is intact), or -EIO.
 */
BT_API ssize_t bt_blk_dev_verify(bt_blk_dev *dev);

/* ------------------------------------------------------------------ */
/* Replication                                                        */
/* ------------------------------------------------------------------ */

typedef struct bt_blk_repl bt_blk_repl;

/*
 * struct bt_blk_repl_config: how a node replicates. version is 1. Strings
 * are borrowed for the call; key is copied. By default a node's TLS
 * identity is a fresh key with a credential for /ROOT/blk issued by
 * ROOT = bt_key_from_seed(HKDF(key, "blocktree blk root")): holding the
 * device key is what admits a replica.
 */
struct bt_blk_repl_config {
	int                version;
	const char *const *replicas; /* primary: backup addresses */
	size_t             nreplicas;
	const char        *listen; /* backup: replica listen address */
	uint64_t           timeout_ns; /* connect / ack wait; 0 = 30 s */
	uint8_t            key[BT_BLK_KEY_LEN];
	/*
	 * A real identity instead of the one derived from key: a key file
	 * and a credential for it (both or neither). Peers must then hold a
	 * credential under the same root as this one.
	 */
	const char *node_key_path;
	const char *node_cred_path;
	/*
	 * Primary: what a backup's ACK of a FLUSH must mean. false (the
	 * default): the backup made every write up to it durable (its own
	 * fdatasync), so an acknowledged flush is durable on every node.
	 * true: the backup verified and applied them (written to its file,
	 * not yet synced; it syncs within BT_BLK_APPLIED_SYNC_MS): an
	 * acknowledged flush is durable on this node and held by every
	 * backup, as Rollbaccine acknowledges. A backup follows the mode
	 * each FLUSH names.
	 */
	bool ack_applied;
};

/* In ack_applied mode a backup makes what it acknowledged durable within
 * about this many milliseconds (one fdatasync per period at most). */
#define BT_BLK_APPLIED_SYNC_MS 5

/*
 * bt_blk_repl_start attaches replication to dev (borrowed; it must outlive
 * the replicator). On a primary it connects to every backup, runs recovery
 * (the node with the lower (ballot, write index) scans its disk, sends its
 * table and receives every sector that differs or failed to verify) and
 * then streams writes. It fails with -ENOTCONN ("no replica can vouch")
 * when a backup cannot be reached within the timeout. On a backup it
 * listens (bt_blk_repl_addr gives the bound address) and returns at once.
 * Returns 0 and *out, or a negative errno with diag.
 */
BT_API int bt_blk_repl_start(bt_blk_repl **out, bt_blk_dev *dev,
    const struct bt_blk_repl_config *cfg, struct bt_diag *diag);

/* bt_blk_repl_addr returns the actual listen address of a backup ("host:
 * port" or "unix:PATH"), borrowed, or NULL on a primary. */
BT_API const char *bt_blk_repl_addr(const bt_blk_repl *r);

/*
 * bt_blk_repl_promote turns a backup into a primary: it stops accepting
 * replication, raises the ballot above every ballot seen, persists it, and
 * lets client writes in. Returns 0, or -EINVAL if not a backup.
 */
BT_API int bt_blk_repl_promote(bt_blk_repl *r);

/*
 * bt_blk_repl_status appends a human-readable status (role, ballot, write
 * index, each replica with its acknowledged index and lag) to out.
 */
BT_API int bt_blk_repl_status(bt_blk_repl *r, struct bt_dbuf *out);

/* bt_blk_repl_stop disconnects and frees r. NULL is a no-op. */
BT_API void bt_blk_repl_stop(bt_blk_repl *r);

/* ------------------------------------------------------------------ */
/* NBD server (library bt_blk_nbd, src/blk/nbd/)                      */
/* ------------------------------------------------------------------ */

typedef struct bt_blk_nbd bt_blk_nbd;

/*
 * struct bt_blk_nbd_config: version is 1. listen is "HOST:PORT" (port 0
 * picks a free one) or "unix:PATH". export_name is the name clients must
 * ask for ("" is always accepted too); NULL means "blk". workers is the
 * number of threads per connection that run requests (0 = 4).
 */
struct bt_blk_nbd_config {
	int         version;
	const char *listen;
	const char *export_name;
	unsigned    workers;
};

/*
 * bt_blk_nbd_start listens on cfg->listen and serves dev (borrowed: it must
 * outlive the server) to any number of connections, each speaking the
 * fixed newstyle handshake (NBD_OPT_GO/INFO/LIST/ABORT/EXPORT_NAME;
 * NBD_INFO_BLOCK_SIZE: minimum 1, preferred 4096, maximum BT_BLK_REQ_MAX)
 * and simple replies for READ, WRITE (+FUA), FLUSH, TRIM, WRITE_ZEROES and
 * DISC. Returns 0 and *out; -EADDRINUSE and other socket errors; -EINVAL
 * for a malformed address (diag says why).
 */
BT_API int bt_blk_nbd_start(bt_blk_nbd **out, bt_blk_dev *dev,
    const struct bt_blk_nbd_config *cfg, struct bt_diag *diag);

/* bt_blk_nbd_addr returns the bound address ("127.0.0.1:40123" or
 * "unix:PATH"), borrowed, valid until bt_blk_nbd_stop. */
BT_API const char *bt_blk_nbd_addr(const bt_blk_nbd *s);

/* bt_blk_nbd_stop closes the listener and every connection (waiting for
 * requests in flight) and frees s. NULL is a no-op. */
BT_API void bt_blk_nbd_stop(bt_blk_nbd *s);

/*
 * bt_blk_nbd_session runs one whole NBD session (handshake, then requests
 * until DISC or end of input) on already connected descriptors, executing
 * requests inline on the calling thread. For tests and the fuzz target.
 * Returns 0 on a clean DISC or ABORT, -EPROTO for a protocol violation
 * (the connection would be dropped), or a negative errno from I/O.
 */
BT_API int bt_blk_nbd_session(
    bt_blk_dev *dev, int rfd, int wfd, const char *export_name);

#endif /* BT_BLK_H */
