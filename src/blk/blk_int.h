/*
 * blk/blk_int.h: what the files of blk/ share (not API). meta.c owns the
 * on-disk formats (checkpoint, journal) and open/replay/checkpoint; dev.c
 * owns the I/O paths; repl.c the replication protocol; chan.c the
 * authenticated byte channel repl.c runs on.
 */
#ifndef BT_BLK_INT_H
#define BT_BLK_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "bt/blk.h"
#include "bt/crypto.h"

#define BLK_SS          BT_BLK_SECTOR_SIZE
#define BLK_NSTRIPES    1024u
#define BLK_HDR_SIZE    4096u
#define BLK_MAC_OFF     4064u
#define BLK_ENTRY_DISK  36u /* widx 8, nonce 12, tag 16 */
#define BLK_REC_SIZE    80u
#define BLK_REC_MAC_OFF 64u
#define BLK_NONCE_LEN   12u
#define BLK_TAG_LEN     16u
#define BLK_AD_LEN      24u /* device id 16, sector 8 */
/* Checkpoint (and compact the journal) past this many journal slots. */
#define BLK_JOURNAL_SLOTS_MAX (1u << 20)

_Static_assert(BLK_REC_MAC_OFF + 16 == BLK_REC_SIZE, "record layout");
_Static_assert(BLK_MAC_OFF + 32 == BLK_HDR_SIZE, "header layout");

/* Journal record types. */
enum {
	BLK_REC_WRITE = 1, /* sector now holds data with (nonce, tag) */
	BLK_REC_ZERO = 2, /* sector now reads as zeros */
	BLK_REC_COMMIT = 3, /* every slot before this one is durable */
};

/*
 * An entry of the sector table. widx 0 = never written (nonce and tag are
 * zero); a zero nonce with widx > 0 = zeroed/trimmed; else the sector holds
 * ciphertext sealed with nonce and tag. A real nonce is never all zero
 * because epochs start at 1.
 */
struct blk_entry {
	uint64_t widx;
	uint8_t  nonce[BLK_NONCE_LEN];
	uint8_t  tag[BLK_TAG_LEN];
};

static inline bool
blk_entry_has_data(const struct blk_entry *e)
{
	static const uint8_t zero[BLK_NONCE_LEN];

	return e->widx != 0
	    && __builtin_memcmp(e->nonce, zero, BLK_NONCE_LEN) != 0;
}

/* HMAC-SHA256 under the meta key, keyed once (bt_hmac). */
struct blk_hmac {
	bt_hmac *h;
};

int  bt__blk_hmac_init(struct blk_hmac *h, const uint8_t key[32]);
void bt__blk_hmac_fini(struct blk_hmac *h);
int bt__blk_hmac(struct blk_hmac *h, const void *a, size_t alen, const void *b,
    size_t blen, uint8_t out[32]);

/* Per-thread working state, pooled by the device (no allocation per I/O
 * once warm). */
struct blk_io {
	struct blk_io    *next;
	bt_aead          *aead;
	struct blk_hmac   mac;
	uint8_t          *buf; /* ciphertext bounce */
	size_t            cap;
	uint8_t          *jbuf; /* journal records */
	size_t            jcap;
	struct blk_entry *ents;
	size_t            ecap;
	uint8_t           sec[BLK_SS]; /* one plaintext sector */
};

/*
 * The replication hook. on_write runs under dev->seq_mu, in write-index
 * order, and must only queue (it copies what it keeps; ct is NULL for
 * zero records). on_flush waits until every backup acknowledged every
 * write up to widx; it runs without device locks.
 */
struct blk_hook {
	void *arg;
	int (*on_write)(void *arg, uint64_t widx, int type, uint64_t sector,
	    uint32_t n, const struct blk_entry *ents, const uint8_t *ct);
	int (*on_flush)(void *arg, uint64_t widx);
	/* on_flush_start asks the backups to flush up to widx (every write
	 * completed before the flush); it runs as the flush arrives, before
	 * the local one and without device locks, so the backups' fdatasync
	 * overlaps ours. on_flush then waits for their ACKs of widx. May be
	 * NULL. */
	void (*on_flush_start)(void *arg, uint64_t widx);
	/* on_push sends what on_write queued (on_write only queues, inside
	 * seq_mu; the writer pushes after its data is written, or blk/nbd
	 * after its reply: bt__blk_dev_push). Runs with hook_mu held. May be
	 * NULL. */
	void (*on_push)(void *arg);
};

/* Flush latency, for status and the log at close (dev.c). */
#define BLK_FLUSH_BUCKETS 24u /* bucket i: [2^i, 2^(i+1)) us */
struct blk_flush_stats {
	_Atomic uint64_t n;
	_Atomic uint64_t local_ns; /* sum: the local flush */
	_Atomic uint64_t repl_ns; /* sum: then waiting for the backups */
	_Atomic uint64_t hist[BLK_FLUSH_BUCKETS]; /* whole flush */
};

struct bt_blk_dev {
	char    *data_path;
	char    *meta_path;
	int      data_fd;
	int      journal_fd; /* == data_fd: the journal follows the sectors */
	uint64_t jbase; /* byte offset of the journal header in D */
	uint8_t  uuid[16]; /* this node's files (binds metadata MACs) */
	uint8_t  devid[32]; /* derived from the key: the same on replicas */
	uint64_t sectors;
	uint8_t  data_key[32];
	uint8_t  meta_key[32];
	struct blk_entry *table;

	pthread_mutex_t stripes[BLK_NSTRIPES];
	/* Writers hold it shared for a whole write; flush (to cut a consistent
	 * commit point), checkpoint and replication sync hold it exclusive. */
	pthread_rwlock_t quiesce;
	/* Protects widx, jslot and the hook's queue order. */
	pthread_mutex_t seq_mu;
	uint64_t        widx; /* last write index assigned/applied */
	/* The client's flush rhythm (bt__blk_dev_flush_ahead_due): writes
	 * since its last flush, the writes its last two flushes covered,
	 * and the index a flush ahead was last run for. */
	uint32_t        since_flush;
	uint32_t        rhythm[2];
	uint64_t        ahead_widx;
	uint64_t        jslot; /* next free journal slot */
	uint64_t        commit_slot; /* slot after the last commit record */
	uint64_t        jalloc; /* journal slots allocated on disk */
	pthread_mutex_t flush_mu; /* one flush/checkpoint at a time */
	/* Writes up to it are durable (written under flush_mu). */
	_Atomic uint64_t durable_widx;

	uint64_t         gen; /* journal generation = checkpoint number */
	uint64_t         epoch; /* nonce epoch of this open */
	uint32_t         salt; /* random nonce salt of this open */
	_Atomic uint64_t ctr; /* nonce counter within (epoch, salt) */
	_Atomic uint64_t ballot;
	_Atomic int      role;
	_Atomic int      state;

	pthread_mutex_t io_mu;
	struct blk_io  *io_free;

	struct blk_hook hook; /* on_write NULL = no replication */
	pthread_mutex_t hook_mu;
	struct blk_hmac meta_mac; /* under flush_mu (checkpoints) */
	struct blk_flush_stats fstats;
};

/* meta.c */
int bt__blk_derive(const uint8_t key[32], const char *label, uint8_t out[32]);
int bt__blk_checkpoint(bt_blk_dev *dev, bool bump_epoch);
int bt__blk_journal_record(
    bt_blk_dev *dev, struct blk_io *io, uint8_t *rec, uint64_t slot);
void  bt__blk_rec_fill(uint8_t *rec, int type, uint64_t sector, uint64_t widx,
     const struct blk_entry *e);
int   bt__blk_meta_load(bt_blk_dev *dev, struct bt_diag *diag);
int   bt__blk_journal_grow(bt_blk_dev *dev, uint64_t upto_slot);
off_t bt__blk_slot_off(const bt_blk_dev *dev, uint64_t slot);
int   bt__blk_journal_replay(
      bt_blk_dev *dev, struct blk_io *io, struct bt_diag *diag);

/* dev.c */
struct blk_io *bt__blk_io_get(bt_blk_dev *dev, int *rc_out);
void           bt__blk_io_put(bt_blk_dev *dev, struct blk_io *io);
int            bt__blk_io_reserve(struct blk_io *io, size_t nsec);
void           bt__blk_ad(const bt_blk_dev *dev, uint64_t sector, uint8_t *ad);
int  bt__blk_sector_open(bt_blk_dev *dev, struct blk_io *io, uint64_t sector,
     const struct blk_entry *e, const uint8_t *ct, uint8_t *pt);
void bt__blk_fail(bt_blk_dev *dev, const char *what, int rc);
void bt__blk_stripes_lock(bt_blk_dev *dev, uint64_t s0, uint64_t n);
void bt__blk_stripes_unlock(bt_blk_dev *dev, uint64_t s0, uint64_t n);
/*
 * bt__blk_dev_apply installs n sectors from s0 at write index widx as they
 * came from elsewhere (a primary, or a sync source): each sealed sector is
 * verified first (BT_ECORRUPT if one fails, nothing applied). When widx is
 * not 0 it becomes the device's write index. ct holds n sealed sectors
 * (ignored for BLK_REC_ZERO).
 */
int bt__blk_dev_apply(bt_blk_dev *dev, uint64_t widx, int type, uint64_t s0,
    uint32_t n, const struct blk_entry *ents, const uint8_t *ct);
/* bt__blk_dev_read_raw copies sector's entry and its sealed bytes (ct may
 * be NULL: entry only). Holds the sector's stripe lock. */
int bt__blk_dev_read_raw(
    bt_blk_dev *dev, uint64_t sector, struct blk_entry *e, uint8_t *ct);
void bt__blk_dev_set_hook(bt_blk_dev *dev, const struct blk_hook *hook);
int  bt__blk_dev_set_role(
     bt_blk_dev *dev, int role, uint64_t ballot, uint64_t widx);
/*
 * bt__blk_flush_local makes every write completed before the call durable
 * here and returns (widx_out) the write index it covers: every write up
 * to it is durable. need != 0 is the highest index the caller needs: when
 * a flush that ended meanwhile (one this call waited behind) covered it,
 * there is no second fdatasync. need 0: sync whatever is not yet.
 */
int bt__blk_flush_local(bt_blk_dev *dev, uint64_t need, uint64_t *widx_out);
/* bt__blk_flush_stats appends "flushes: ..." (count, mean, local and
 * replica parts, percentiles) to out; nothing when there were none. */
int bt__blk_flush_stats(bt_blk_dev *dev, struct bt_dbuf *out);

/* repl.c, a test hook (blk.repl): sends a FLUSH with any payload to every
 * live backup, as a faulty primary would. */
int bt__blk_repl_send_flush_raw(
    bt_blk_repl *r, const void *payload, size_t len);

#endif /* BT_BLK_INT_H */
