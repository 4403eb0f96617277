/*
 * blk/meta.c: the device's metadata on disk and its life cycle: create,
 * open (checkpoint load + journal replay + epoch bump), checkpoint, close.
 * The I/O paths that append to the journal live in dev.c.
 *
 * Files, beside the data file D (docs/blk.md gives them byte by byte):
 *   D          N sealed sectors of 4096 bytes, sector i at i * 4096, then
 *              the journal (from byte N * 4096), so that one fdatasync
 *              makes data and records durable together.
 *   D.meta     checkpoint: a 4096-byte header (uuid, sectors, gen, epoch,
 *              ballot, role, write index, SHA-256 of the table, HMAC) and
 *              the table of N entries (widx, nonce, tag). Always replaced
 *              whole with bt_os_write_file_atomic.
 *   journal    a 4096-byte header (uuid, gen, HMAC) then fixed 80-byte
 *              records in slots: WRITE/ZERO (sector, widx, nonce, tag) and
 *              COMMIT (widx); each carries its gen in clear and
 *              HMAC(uuid, gen, slot, record). The file is grown in zeroed
 *              16 MiB steps and kept across checkpoints; slots of another
 *              gen are skipped.
 *
 * Invariants
 *  1. A nonce is never used twice under the data key. The nonce is
 *     epoch(32) || salt(32) || counter(32). The epoch is bumped and
 *     persisted (a checkpoint) at every open before the first write; the
 *     salt is fresh randomness per open, so even a host that rolls the
 *     metadata back (making us reuse an epoch) meets a collision only with
 *     probability 2^-32 per reused epoch; the counter never wraps (the
 *     epoch is bumped by a checkpoint first).
 *  2. For every sector, the data on disk verifies against the table entry
 *     in memory, except while the sector's stripe lock is held.
 *  3. A journal record is written (pwrite) before the data it describes,
 *     so after a process crash every sector whose data changed has a
 *     record naming the new (nonce, tag).
 *  4. A COMMIT record at slot C is written only after every slot < C was
 *     written (writers drained by the quiesce lock), and is followed by one
 *     fdatasync of D; the flush is acknowledged after it returns, and the
 *     next COMMIT is written only after that. So every record before the
 *     second-to-last valid COMMIT is durable and so is its data: replay
 *     applies those unconditionally and refuses a hole among them.
 *  5. Records after the second-to-last COMMIT are tentative (a crash may
 *     have cut the last fdatasync short): replay keeps, for each sector,
 *     the newest of them whose data verifies on disk (or a ZERO), else the
 *     older entry. A crash thus leaves every unflushed sector old or new,
 *     never unreadable (for torn 4 KiB pages, see docs/blk.md).
 *  6. The checkpoint's gen names the journal that continues it; a journal
 *     with another gen is stale (a crash between writing the checkpoint and
 *     resetting the journal) and is ignored, since the checkpoint holds it.
 *  7. Every byte of metadata is under an HMAC with a key derived from the
 *     device key and distinct from the data key, so a never-written entry
 *     cannot be forged; rolling the whole set back to an older authentic
 *     state is caught by replicas (repl.c), not here.
 *
 * States (dev->state)
 *
 *   bt_blk_dev_open --> OPEN --(I/O error: bt__blk_fail)--> ERROR
 *                        |                                    |
 *                        +------- bt_blk_dev_close <----------+
 *
 *   In ERROR every call but close returns -EIO; close then skips the
 *   checkpoint, and the next open replays the journal (invariant 5).
 *
 * Locking theory: see dev.c. Checkpoints run with flush_mu and the quiesce
 * lock held exclusively, so no write is in flight and the table is stable.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk_int.h"
#include "bt/os.h"

static const char META_MAGIC[8] = { 'B', 'T', 'B', 'L', 'K', 'M', 'T', '1' };
static const char JRNL_MAGIC[8] = { 'B', 'T', 'B', 'L', 'K', 'J', 'N', '1' };
#define BLK_VERSION 1u

int
bt__blk_derive(const uint8_t key[32], const char *label, uint8_t out[32])
{
	return bt_hkdf_sha256(out, 32, key, 32, NULL, 0, label, strlen(label));
}

int
bt__blk_hmac_init(struct blk_hmac *h, const uint8_t key[32])
{
	h->h = NULL;
	return bt_hmac_new(&h->h, key, 32);
}

void
bt__blk_hmac_fini(struct blk_hmac *h)
{
	bt_hmac_free(h->h);
	h->h = NULL;
}

/*
 * bt__blk_hmac is HMAC-SHA256(key, a || b), on the keyed context: a
 * journal record's MAC (32 + 64 bytes) is three SHA-256 blocks and no
 * EVP digest setup (crypto/hash.c).
 */
int
bt__blk_hmac(struct blk_hmac *h, const void *a, size_t alen, const void *b,
    size_t blen, uint8_t out[32])
{
	int rc;

	rc = bt_hmac_update(h->h, a, alen);
	if (rc == 0)
		rc = bt_hmac_update(h->h, b, blen);
	if (rc == 0)
		rc = bt_hmac_final(h->h, out);
	return rc;
}

static void
entry_put(uint8_t *p, const struct blk_entry *e)
{
	bt_put_le64(p, e->widx);
	memcpy(p + 8, e->nonce, BLK_NONCE_LEN);
	memcpy(p + 20, e->tag, BLK_TAG_LEN);
}

static void
entry_get(struct blk_entry *e, const uint8_t *p)
{
	e->widx = bt_get_le64(p);
	memcpy(e->nonce, p + 8, BLK_NONCE_LEN);
	memcpy(e->tag, p + 20, BLK_TAG_LEN);
}

static char *
path_join(const char *a, const char *suffix)
{
	size_t la = strlen(a), ls = strlen(suffix);
	char  *p = bt_alloc(la + ls + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, a, la);
	memcpy(p + la, suffix, ls + 1);
	return p;
}

/* Journal record slot i lives at this offset of D. */
off_t
bt__blk_slot_off(const bt_blk_dev *dev, uint64_t slot)
{
	return (off_t)(dev->jbase + BLK_HDR_SIZE + slot * BLK_REC_SIZE);
}

void
bt__blk_rec_fill(uint8_t *rec, int type, uint64_t sector, uint64_t widx,
    const struct blk_entry *e)
{
	memset(rec, 0, BLK_REC_SIZE);
	rec[0] = (uint8_t)type;
	bt_put_le64(rec + 8, sector);
	bt_put_le64(rec + 16, widx);
	if (e != NULL) {
		memcpy(rec + 24, e->nonce, BLK_NONCE_LEN);
		memcpy(rec + 36, e->tag, BLK_TAG_LEN);
	}
}

/* The MAC of a record binds it to this device, this journal and its slot. */
static int
rec_mac(bt_blk_dev *dev, struct blk_hmac *h, const uint8_t *rec, uint64_t slot,
    uint8_t out[32])
{
	uint8_t pre[32];

	memcpy(pre, dev->uuid, 16);
	bt_put_le64(pre + 16, dev->gen);
	bt_put_le64(pre + 24, slot);
	return bt__blk_hmac(h, pre, sizeof(pre), rec, BLK_REC_MAC_OFF, out);
}

int
bt__blk_journal_record(
    bt_blk_dev *dev, struct blk_io *io, uint8_t *rec, uint64_t slot)
{
	uint8_t mac[32];
	int     rc;

	// The generation in clear lets replay skip stale slots cheaply.
	bt_put_le64(rec + 52, dev->gen);
	rc = rec_mac(dev, &io->mac, rec, slot, mac);
	if (rc != 0)
		return rc;
	memcpy(rec + BLK_REC_MAC_OFF, mac, 16);
	return 0;
}

/*
 * bt__blk_journal_grow makes sure slots below upto_slot exist on disk as
 * written zeros, in 16 MiB steps. Appending into allocated, initialised
 * blocks keeps fdatasync of the journal a pure data flush (no size or
 * extent change for the file system to commit). Called under seq_mu.
 */
int
bt__blk_journal_grow(bt_blk_dev *dev, uint64_t upto_slot)
{
	static const size_t step = (size_t)16 << 20;
	uint8_t            *zero;
	int                 rc = 0;

	if (upto_slot <= dev->jalloc)
		return 0;
	zero = bt_zalloc(BLK_SS);
	if (zero == NULL)
		return -ENOMEM;
	while (rc == 0 && dev->jalloc < upto_slot) {
		off_t start = bt__blk_slot_off(dev, dev->jalloc);

		// In 4 KiB writes: the page cache then holds small folios, and
		// an 80-byte record write does not walk the buffers of a large
		// one (a measurable cost on Linux 6.x ext4).
		for (size_t done = 0; rc == 0 && done < step; done += BLK_SS)
			rc = bt_os_pwrite_full(dev->journal_fd, zero, BLK_SS,
			    start + (off_t)done);
		if (rc == 0)
			dev->jalloc = ((uint64_t)start + step - dev->jbase
			                  - BLK_HDR_SIZE)
			    / BLK_REC_SIZE;
	}
	bt_free(zero);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Checkpoint                                                         */
/* ------------------------------------------------------------------ */

static int
header_mac(struct blk_hmac *h, const char *label, uint8_t *hdr)
{
	uint8_t mac[32];
	int     rc;

	rc = bt__blk_hmac(h, label, strlen(label), hdr, BLK_MAC_OFF, mac);
	if (rc != 0)
		return rc;
	memcpy(hdr + BLK_MAC_OFF, mac, 32);
	return 0;
}

static int
header_check(struct blk_hmac *h, const char *label, const uint8_t *hdr)
{
	uint8_t mac[32];
	int     rc;

	rc = bt__blk_hmac(h, label, strlen(label), hdr, BLK_MAC_OFF, mac);
	if (rc != 0)
		return rc;
	if (memcmp(mac, hdr + BLK_MAC_OFF, 32) != 0)
		return BT_ECORRUPT;
	return 0;
}

static int
journal_reset(bt_blk_dev *dev)
{
	uint8_t hdr[BLK_HDR_SIZE];
	int     rc;

	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, JRNL_MAGIC, 8);
	bt_put_le32(hdr + 8, BLK_VERSION);
	memcpy(hdr + 16, dev->uuid, 16);
	bt_put_le64(hdr + 32, dev->gen);
	rc = header_mac(&dev->meta_mac, "btblk journal", hdr);
	if (rc != 0)
		return rc;
	struct stat st;

	// The file keeps its size and old slots (their gen no longer
	// matches, so replay skips them): no re-allocation per checkpoint.
	uint64_t jend = dev->jbase + BLK_HDR_SIZE;

	rc = bt_os_fstat(dev->journal_fd, &st);
	if (rc == 0
	    && ((uint64_t)st.st_size > jend + ((uint64_t)256 << 20)
	        || (uint64_t)st.st_size < dev->jbase))
		rc = bt_os_ftruncate(dev->journal_fd, (off_t)jend);
	if (rc == 0)
		rc = bt_os_pwrite_full(
		    dev->journal_fd, hdr, sizeof(hdr), (off_t)dev->jbase);
	if (rc == 0)
		rc = bt_os_fdatasync(dev->journal_fd);
	if (rc == 0)
		rc = bt_os_fstat(dev->journal_fd, &st);
	if (rc == 0)
		dev->jalloc = (uint64_t)st.st_size > jend
		    ? ((uint64_t)st.st_size - jend) / BLK_REC_SIZE
		    : 0;
	return rc;
}

/*
 * bt__blk_checkpoint writes D.meta with the whole table and the next gen,
 * then resets the journal to that gen (invariant 6). With bump_epoch it
 * also starts a new nonce epoch and salt (invariant 1). The caller holds
 * flush_mu and the quiesce lock exclusively (or is open/close).
 */
int
bt__blk_checkpoint(bt_blk_dev *dev, bool bump_epoch)
{
	size_t   tlen = (size_t)dev->sectors * BLK_ENTRY_DISK;
	uint8_t *buf;
	uint64_t epoch = dev->epoch;
	uint32_t salt = dev->salt;
	int      rc;

	buf = bt_alloc(BLK_HDR_SIZE + tlen);
	if (buf == NULL)
		return -ENOMEM;
	if (bump_epoch) {
		epoch++;
		rc = bt_random(&salt, sizeof(salt));
		if (rc != 0)
			goto out;
		if (epoch >= UINT32_MAX) {
			rc = BT_ELIMIT;
			goto out;
		}
	}
	// The data must be durable before a checkpoint that vouches for it.
	rc = bt_os_fdatasync(dev->data_fd);
	if (rc != 0)
		goto out;
	memset(buf, 0, BLK_HDR_SIZE);
	for (uint64_t i = 0; i < dev->sectors; i++)
		entry_put(
		    buf + BLK_HDR_SIZE + i * BLK_ENTRY_DISK, &dev->table[i]);
	memcpy(buf, META_MAGIC, 8);
	bt_put_le32(buf + 8, BLK_VERSION);
	bt_put_le32(buf + 12, (uint32_t)atomic_load(&dev->role));
	memcpy(buf + 16, dev->uuid, 16);
	bt_put_le64(buf + 32, dev->sectors);
	bt_put_le64(buf + 40, dev->gen + 1);
	bt_put_le64(buf + 48, epoch);
	bt_put_le64(buf + 56, atomic_load(&dev->ballot));
	bt_put_le64(buf + 64, dev->widx);
	rc = bt_sha256(buf + BLK_HDR_SIZE, tlen, buf + 72);
	if (rc == 0)
		rc = header_mac(&dev->meta_mac, "btblk meta", buf);
	if (rc == 0)
		rc = bt_os_write_file_atomic(
		    dev->meta_path, buf, BLK_HDR_SIZE + tlen, 0600);
	if (rc != 0)
		goto out;
	dev->gen++;
	dev->epoch = epoch;
	dev->salt = salt;
	if (bump_epoch)
		atomic_store(&dev->ctr, 0);
	rc = journal_reset(dev);
	if (rc != 0)
		goto out;
	dev->jslot = 0;
	dev->commit_slot = 0;
out:
	bt_free(buf);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Load and replay                                                    */
/* ------------------------------------------------------------------ */

int
bt__blk_meta_load(bt_blk_dev *dev, struct bt_diag *diag)
{
	uint8_t *buf = NULL;
	size_t   len;
	uint8_t  digest[32];
	uint64_t sectors;
	int      rc;

	rc = bt_os_read_file(dev->meta_path, (size_t)1 << 36, &buf, &len);
	if (rc != 0) {
		bt_diag_set(diag, -1, "cannot read '%s': %s", dev->meta_path,
		    bt_strerror(rc));
		return rc;
	}
	rc = BT_ECORRUPT;
	if (len < BLK_HDR_SIZE || memcmp(buf, META_MAGIC, 8) != 0) {
		bt_diag_set(
		    diag, 0, "'%s' is not a blk checkpoint", dev->meta_path);
		goto out;
	}
	if (bt_get_le32(buf + 8) != BLK_VERSION) {
		bt_diag_set(diag, 8, "'%s' has unknown version %u",
		    dev->meta_path, bt_get_le32(buf + 8));
		goto out;
	}
	if (header_check(&dev->meta_mac, "btblk meta", buf) != 0) {
		bt_diag_set(diag, BLK_MAC_OFF,
		    "'%s' fails its MAC: wrong key, or tampered with",
		    dev->meta_path);
		goto out;
	}
	sectors = bt_get_le64(buf + 32);
	if (sectors == 0 || sectors > (len - BLK_HDR_SIZE) / BLK_ENTRY_DISK
	    || len != BLK_HDR_SIZE + sectors * BLK_ENTRY_DISK) {
		bt_diag_set(diag, 32, "'%s' has a table of the wrong size",
		    dev->meta_path);
		goto out;
	}
	rc = bt_sha256(buf + BLK_HDR_SIZE, len - BLK_HDR_SIZE, digest);
	if (rc != 0)
		goto out;
	if (memcmp(digest, buf + 72, 32) != 0) {
		rc = BT_ECORRUPT;
		bt_diag_set(diag, 72, "'%s': table does not match its digest",
		    dev->meta_path);
		goto out;
	}
	dev->table = bt_calloc(sectors, sizeof(struct blk_entry));
	if (dev->table == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < sectors; i++)
		entry_get(
		    &dev->table[i], buf + BLK_HDR_SIZE + i * BLK_ENTRY_DISK);
	memcpy(dev->uuid, buf + 16, 16);
	dev->sectors = sectors;
	atomic_store(&dev->role, (int)bt_get_le32(buf + 12));
	dev->gen = bt_get_le64(buf + 40);
	dev->epoch = bt_get_le64(buf + 48);
	atomic_store(&dev->ballot, bt_get_le64(buf + 56));
	dev->widx = bt_get_le64(buf + 64);
	rc = 0;
out:
	bt_free(buf);
	return rc;
}

struct tentative {
	uint64_t         sector;
	uint64_t         slot;
	int              type;
	struct blk_entry e;
};

static int
tentative_cmp(const void *a, const void *b)
{
	const struct tentative *x = a, *y = b;

	if (x->sector != y->sector)
		return x->sector < y->sector ? -1 : 1;
	if (x->slot != y->slot)
		return x->slot > y->slot ? -1 : 1; /* newest first */
	return 0;
}

/*
 * bt__blk_journal_replay applies the journal in D to the table loaded from the
 * checkpoint (invariants 4-6).
 */
int
bt__blk_journal_replay(
    bt_blk_dev *dev, struct blk_io *io, struct bt_diag *diag)
{
	uint8_t           hdr[BLK_HDR_SIZE];
	struct stat       st;
	uint8_t          *recs = NULL;
	struct tentative *tent = NULL;
	uint64_t          nslots, last_commit = 0, prev_commit = 0, ntent = 0;
	bool              have_commit = false, have_prev = false;
	int               rc;

	rc = bt_os_fstat(dev->journal_fd, &st);
	if (rc != 0)
		return rc;
	if ((uint64_t)st.st_size < dev->jbase + BLK_HDR_SIZE)
		return 0; /* created but never reset: nothing to replay */
	rc = bt_os_pread_full(
	    dev->journal_fd, hdr, sizeof(hdr), (off_t)dev->jbase);
	if (rc != 0)
		return rc;
	if (memcmp(hdr, JRNL_MAGIC, 8) != 0
	    || header_check(&io->mac, "btblk journal", hdr) != 0
	    || memcmp(hdr + 16, dev->uuid, 16) != 0) {
		bt_diag_set(diag, (int64_t)dev->jbase,
		    "the journal of '%s' "
		    "fails its MAC or is not this device's",
		    dev->data_path);
		return BT_ECORRUPT;
	}
	if (bt_get_le64(hdr + 32) != dev->gen)
		return 0; /* stale journal: the checkpoint holds it all */
	nslots = ((uint64_t)st.st_size - dev->jbase - BLK_HDR_SIZE)
	    / BLK_REC_SIZE;
	if (nslots == 0)
		return 0;
	recs = bt_alloc(nslots * BLK_REC_SIZE);
	tent = bt_calloc(nslots, sizeof(*tent));
	if (recs == NULL || tent == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = bt_os_pread_full(dev->journal_fd, recs, nslots * BLK_REC_SIZE,
	    bt__blk_slot_off(dev, 0));
	if (rc != 0)
		goto out;
	// Pass 1: find the last valid COMMIT.
	for (uint64_t s = 0; s < nslots; s++) {
		uint8_t *r = recs + s * BLK_REC_SIZE;
		uint8_t  mac[32];

		if (r[0] != BLK_REC_COMMIT || bt_get_le64(r + 52) != dev->gen)
			continue;
		rc = rec_mac(dev, &io->mac, r, s, mac);
		if (rc != 0)
			goto out;
		if (memcmp(mac, r + BLK_REC_MAC_OFF, 16) == 0) {
			prev_commit = last_commit;
			have_prev = have_commit;
			last_commit = s;
			have_commit = true;
		}
	}
	/*
	 * Records before the second-to-last COMMIT were made durable by a
	 * flush that completed; the last window (a flush that may have
	 * crashed inside its fdatasync) is verified like any tentative one.
	 */
	have_commit = have_prev;
	last_commit = prev_commit;
	// Pass 2: apply committed records, collect tentative ones.
	for (uint64_t s = 0; s < nslots; s++) {
		uint8_t         *r = recs + s * BLK_REC_SIZE;
		uint8_t          mac[32];
		struct blk_entry e;
		uint64_t         sector = bt_get_le64(r + 8);
		bool             committed = have_commit && s < last_commit;
		bool             valid = false;

		if (r[0] != 0 && bt_get_le64(r + 52) == dev->gen) {
			rc = rec_mac(dev, &io->mac, r, s, mac);
			if (rc != 0)
				goto out;
			valid = true;
		}
		valid = valid && memcmp(mac, r + BLK_REC_MAC_OFF, 16) == 0
		    && (r[0] == BLK_REC_WRITE || r[0] == BLK_REC_ZERO
		        || r[0] == BLK_REC_COMMIT);
		if (valid && r[0] != BLK_REC_COMMIT && sector >= dev->sectors)
			valid = false;
		if (!valid) {
			if (committed) {
				rc = BT_ECORRUPT;
				bt_diag_set(diag, bt__blk_slot_off(dev, s),
				    "'%s': committed journal record %llu "
				    "fails "
				    "its MAC",
				    dev->data_path, (unsigned long long)s);
				goto out;
			}
			continue;
		}
		memset(&e, 0, sizeof(e));
		e.widx = bt_get_le64(r + 16);
		if (r[0] == BLK_REC_COMMIT) {
			if (s <= last_commit && have_commit
			    && e.widx > dev->widx)
				dev->widx = e.widx;
			continue;
		}
		if (r[0] == BLK_REC_WRITE) {
			memcpy(e.nonce, r + 24, BLK_NONCE_LEN);
			memcpy(e.tag, r + 36, BLK_TAG_LEN);
		}
		if (committed) {
			dev->table[sector] = e;
			if (e.widx > dev->widx)
				dev->widx = e.widx;
		} else {
			tent[ntent].sector = sector;
			tent[ntent].slot = s;
			tent[ntent].type = r[0];
			tent[ntent].e = e;
			ntent++;
		}
	}
	// Pass 3: per sector, the newest tentative record that holds.
	qsort(tent, ntent, sizeof(*tent), tentative_cmp);
	for (uint64_t i = 0; i < ntent;) {
		uint64_t sector = tent[i].sector, j = i;
		bool     done = false;

		for (; j < ntent && tent[j].sector == sector; j++) {
			struct tentative *t = &tent[j];

			if (done)
				continue;
			if (t->type == BLK_REC_WRITE) {
				rc = bt_os_pread_full(dev->data_fd, io->buf,
				    BLK_SS, (off_t)(sector * BLK_SS));
				if (rc != 0)
					goto out;
				if (bt__blk_sector_open(dev, io, sector, &t->e,
				        io->buf, io->sec)
				    != 0)
					continue;
			}
			dev->table[sector] = t->e;
			if (t->e.widx > dev->widx)
				dev->widx = t->e.widx;
			done = true;
		}
		if (!done)
			bt_log_warn("blk",
			    "sector %llu: no unflushed version "
			    "verifies; keeping the committed one",
			    (unsigned long long)sector);
		i = j;
	}
	rc = 0;
out:
	bt_free(recs);
	bt_free(tent);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Create, open, close                                                */
/* ------------------------------------------------------------------ */

static void
dev_free(bt_blk_dev *dev)
{
	struct blk_io *io;

	if (dev == NULL)
		return;
	while ((io = dev->io_free) != NULL) {
		dev->io_free = io->next;
		bt_aead_free(io->aead);
		bt__blk_hmac_fini(&io->mac);
		bt_free(io->buf);
		bt_free(io->jbuf);
		bt_free(io->ents);
		bt_free(io);
	}
	if (dev->data_fd >= 0)
		bt_os_close(dev->data_fd);
	if (dev->journal_fd >= 0 && dev->journal_fd != dev->data_fd)
		bt_os_close(dev->journal_fd);
	for (unsigned i = 0; i < BLK_NSTRIPES; i++)
		pthread_mutex_destroy(&dev->stripes[i]);
	pthread_rwlock_destroy(&dev->quiesce);
	pthread_mutex_destroy(&dev->seq_mu);
	pthread_mutex_destroy(&dev->flush_mu);
	pthread_mutex_destroy(&dev->io_mu);
	pthread_mutex_destroy(&dev->hook_mu);
	bt__blk_hmac_fini(&dev->meta_mac);
	bt_free(dev->table);
	bt_free(dev->data_path);
	bt_free(dev->meta_path);
	bt_zeroize(dev->data_key, sizeof(dev->data_key));
	bt_zeroize(dev->meta_key, sizeof(dev->meta_key));
	bt_free(dev);
}

static int
dev_alloc(bt_blk_dev **out, const char *data_path, const uint8_t key[32])
{
	bt_blk_dev *dev;
	int         rc;

	dev = bt_zalloc(sizeof(*dev));
	if (dev == NULL)
		return -ENOMEM;
	dev->data_fd = -1;
	dev->journal_fd = -1;
	for (unsigned i = 0; i < BLK_NSTRIPES; i++)
		pthread_mutex_init(&dev->stripes[i], NULL);
	pthread_rwlock_init(&dev->quiesce, NULL);
	pthread_mutex_init(&dev->seq_mu, NULL);
	pthread_mutex_init(&dev->flush_mu, NULL);
	pthread_mutex_init(&dev->io_mu, NULL);
	pthread_mutex_init(&dev->hook_mu, NULL);
	dev->data_path = bt_strdup(data_path);
	dev->meta_path = path_join(data_path, ".meta");
	if (dev->data_path == NULL || dev->meta_path == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	rc = bt__blk_derive(key, "blocktree blk data", dev->data_key);
	if (rc == 0)
		rc = bt__blk_derive(key, "blocktree blk meta", dev->meta_key);
	if (rc == 0)
		rc = bt__blk_derive(
		    key, "blocktree blk device id", dev->devid);
	if (rc == 0)
		rc = bt__blk_hmac_init(&dev->meta_mac, dev->meta_key);
	if (rc != 0)
		goto err;
	*out = dev;
	return 0;
err:
	dev_free(dev);
	return rc;
}

int
bt_blk_dev_create(const char *data_path, uint64_t size,
    const uint8_t key[BT_BLK_KEY_LEN], int role, struct bt_diag *diag)
{
	bt_blk_dev *dev;
	int         rc;

	if (size == 0 || size % BLK_SS != 0 || size / BLK_SS > (1ull << 32)) {
		bt_diag_set(diag, -1,
		    "size %llu is not a positive multiple "
		    "of 4096 (at most 16 TiB)",
		    (unsigned long long)size);
		return -EINVAL;
	}
	rc = dev_alloc(&dev, data_path, key);
	if (rc != 0)
		return rc;
	dev->sectors = size / BLK_SS;
	dev->table = bt_calloc(dev->sectors, sizeof(struct blk_entry));
	if (dev->table == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = bt_random(dev->uuid, sizeof(dev->uuid));
	if (rc != 0)
		goto out;
	atomic_store(&dev->role, role);
	atomic_store(&dev->ballot, 1);
	dev->data_fd = bt_os_open(
	    data_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (dev->data_fd < 0) {
		rc = dev->data_fd;
		bt_diag_set(diag, -1, "cannot create '%s': %s", data_path,
		    bt_strerror(rc));
		goto out;
	}
	dev->journal_fd = dev->data_fd;
	dev->jbase = dev->sectors * BLK_SS;
	rc = bt_os_ftruncate(dev->data_fd, (off_t)size);
	if (rc == 0)
		rc = bt__blk_checkpoint(dev, false);
	if (rc != 0) {
		bt_diag_set(diag, -1, "cannot initialise '%s': %s", data_path,
		    bt_strerror(rc));
		bt_os_unlink(data_path);
		bt_os_unlink(dev->meta_path);
	}
out:
	dev_free(dev);
	return rc;
}

int
bt_blk_dev_open(bt_blk_dev **out, const char *data_path,
    const uint8_t key[BT_BLK_KEY_LEN], struct bt_diag *diag)
{
	bt_blk_dev    *dev;
	struct blk_io *io;
	struct stat    st;
	int            rc;

	rc = dev_alloc(&dev, data_path, key);
	if (rc != 0)
		return rc;
	dev->data_fd = bt_os_open(data_path, O_RDWR | O_CLOEXEC, 0);
	if (dev->data_fd < 0) {
		rc = dev->data_fd;
		bt_diag_set(diag, -1, "cannot open '%s': %s", data_path,
		    bt_strerror(rc));
		goto err;
	}
	if (flock(dev->data_fd, LOCK_EX | LOCK_NB) != 0) {
		rc = -EBUSY;
		bt_diag_set(
		    diag, -1, "'%s' is in use by another process", data_path);
		goto err;
	}
	rc = bt__blk_meta_load(dev, diag);
	if (rc != 0)
		goto err;
	rc = bt_os_fstat(dev->data_fd, &st);
	if (rc != 0)
		goto err;
	if ((uint64_t)st.st_size < dev->sectors * BLK_SS) {
		rc = BT_ECORRUPT;
		bt_diag_set(diag, -1,
		    "'%s' is %lld bytes, its metadata says "
		    "%llu of sectors",
		    data_path, (long long)st.st_size,
		    (unsigned long long)(dev->sectors * BLK_SS));
		goto err;
	}
	dev->journal_fd = dev->data_fd;
	dev->jbase = dev->sectors * BLK_SS;
	io = bt__blk_io_get(dev, &rc);
	if (io == NULL)
		goto err;
	rc = bt__blk_io_reserve(io, 1);
	if (rc == 0)
		rc = bt__blk_journal_replay(dev, io, diag);
	bt__blk_io_put(dev, io);
	if (rc != 0)
		goto err;
	// Invariant 1: a new epoch is durable before the first write.
	rc = bt__blk_checkpoint(dev, true);
	if (rc != 0) {
		bt_diag_set(diag, -1,
		    "cannot write the checkpoint of '%s': %s", data_path,
		    bt_strerror(rc));
		goto err;
	}
	bt_log_info("blk",
	    "opened %s: %llu sectors, epoch %llu, ballot %llu,"
	    " write index %llu",
	    data_path, (unsigned long long)dev->sectors,
	    (unsigned long long)dev->epoch,
	    (unsigned long long)atomic_load(&dev->ballot),
	    (unsigned long long)dev->widx);
	*out = dev;
	return 0;
err:
	dev_free(dev);
	return rc;
}

void
bt_blk_dev_close(bt_blk_dev *dev)
{
	if (dev == NULL)
		return;
	{
		struct bt_dbuf st;

		bt_dbuf_init(&st, 4096);
		if (bt__blk_flush_stats(dev, &st) == 0 && st.len > 0)
			bt_log_info("blk", "%s: %.*s", dev->data_path,
			    (int)st.len - 1, (const char *)st.ptr);
		bt_dbuf_fini(&st);
	}
	if (atomic_load(&dev->state) == BT_BLK_STATE_OPEN) {
		pthread_mutex_lock(&dev->flush_mu);
		pthread_rwlock_wrlock(&dev->quiesce);
		if (bt__blk_checkpoint(dev, false) != 0)
			bt_log_warn("blk",
			    "%s: final checkpoint failed; the "
			    "journal will be replayed",
			    dev->data_path);
		pthread_rwlock_unlock(&dev->quiesce);
		pthread_mutex_unlock(&dev->flush_mu);
	}
	dev_free(dev);
}
