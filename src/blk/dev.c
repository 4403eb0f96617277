/*
 * blk/dev.c: the I/O paths of the device: read, write, zero, flush, and
 * the apply/read_raw primitives replication builds on. Formats and the
 * life cycle are in meta.c, whose design block lists the invariants.
 *
 * Locking theory
 *  - stripes[s % 1024] protect the table entries and the on-disk data of
 *    their sectors: a reader holds them from reading the entry to
 *    authenticating the data, a writer from sealing to updating the entry
 *    (invariant 2). A range locks its stripes in increasing index order,
 *    so two ranges never deadlock.
 *  - quiesce (rwlock): every write holds it shared from start to end; flush
 *    takes it exclusively for an instant to cut a commit point at which no
 *    write is half done (invariant 4); checkpoints and replication sync hold
 *    it exclusively throughout. Reads do not take it.
 *  - seq_mu orders writes: it assigns the write index and journal slots and
 *    runs the replication hook's on_write (which only queues), so the
 *    replication stream is in write-index order. It nests inside stripes
 *    and quiesce.
 *  - flush_mu serializes flushes and checkpoints; it is taken before
 *    quiesce.
 *  - io_mu protects the pool of per-thread working state.
 * No callback is called with a lock held except on_write (documented).
 * Every function may be called from any thread.
 */
#include <errno.h>
#include <string.h>

#include "batch.h"
#include "blk_int.h"
#include "bt/os.h"

/* ------------------------------------------------------------------ */
/* Working state pool                                                 */
/* ------------------------------------------------------------------ */

struct blk_io *
bt__blk_io_get(bt_blk_dev *dev, int *rc_out)
{
	struct blk_io *io;
	int            rc;

	pthread_mutex_lock(&dev->io_mu);
	io = dev->io_free;
	if (io != NULL)
		dev->io_free = io->next;
	pthread_mutex_unlock(&dev->io_mu);
	if (io != NULL)
		return io;
	io = bt_zalloc(sizeof(*io));
	if (io == NULL) {
		*rc_out = -ENOMEM;
		return NULL;
	}
	rc = bt_aead_new(&io->aead, dev->data_key);
	if (rc == 0)
		rc = bt__blk_hmac_init(&io->mac, dev->meta_key);
	if (rc != 0) {
		bt_aead_free(io->aead);
		bt__blk_hmac_fini(&io->mac);
		bt_free(io);
		*rc_out = rc;
		return NULL;
	}
	return io;
}

void
bt__blk_io_put(bt_blk_dev *dev, struct blk_io *io)
{
	if (io == NULL)
		return;
	pthread_mutex_lock(&dev->io_mu);
	io->next = dev->io_free;
	dev->io_free = io;
	pthread_mutex_unlock(&dev->io_mu);
}

/* bt__blk_io_reserve makes room for nsec sectors of bounce, records and
 * entries. */
int
bt__blk_io_reserve(struct blk_io *io, size_t nsec)
{
	if (nsec > BT_BLK_REQ_MAX / BLK_SS + 2)
		return -EINVAL;
	if (io->cap < nsec * BLK_SS) {
		size_t   n = nsec < 64 ? 64 : nsec;
		uint8_t *b = bt_realloc(io->buf, n * BLK_SS);

		if (b == NULL)
			return -ENOMEM;
		io->buf = b;
		io->cap = n * BLK_SS;
	}
	if (io->jcap < (nsec + 1) * BLK_REC_SIZE) {
		size_t   n = nsec < 64 ? 64 : nsec;
		uint8_t *b = bt_realloc(io->jbuf, (n + 1) * BLK_REC_SIZE);

		if (b == NULL)
			return -ENOMEM;
		io->jbuf = b;
		io->jcap = (n + 1) * BLK_REC_SIZE;
	}
	if (io->ecap < nsec) {
		size_t            n = nsec < 64 ? 64 : nsec;
		struct blk_entry *e = bt_realloc(io->ents, n * sizeof(*e));

		if (e == NULL)
			return -ENOMEM;
		io->ents = e;
		io->ecap = n;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                            */
/* ------------------------------------------------------------------ */

void
bt__blk_fail(bt_blk_dev *dev, const char *what, int rc)
{
	int expect = BT_BLK_STATE_OPEN;

	if (atomic_compare_exchange_strong(
	        &dev->state, &expect, BT_BLK_STATE_ERROR))
		bt_log_error("blk",
		    "%s: %s failed (%s); the device is in its "
		    "ERROR state until reopened",
		    dev->data_path, what, bt_strerror(rc));
}

void
bt__blk_ad(const bt_blk_dev *dev, uint64_t sector, uint8_t *ad)
{
	memcpy(ad, dev->devid, 16);
	bt_put_le64(ad + 16, sector);
}

int
bt__blk_sector_open(bt_blk_dev *dev, struct blk_io *io, uint64_t sector,
    const struct blk_entry *e, const uint8_t *ct, uint8_t *pt)
{
	uint8_t ad[BLK_AD_LEN];

	bt__blk_ad(dev, sector, ad);
	return bt_aead_open(
	    io->aead, e->nonce, ad, sizeof(ad), ct, BLK_SS, e->tag, pt);
}

static int
sector_seal(bt_blk_dev *dev, struct blk_io *io, uint64_t sector,
    const uint8_t *pt, uint8_t *ct, struct blk_entry *e)
{
	uint8_t  ad[BLK_AD_LEN];
	uint64_t c = atomic_fetch_add(&dev->ctr, 1);

	if (c >= UINT32_MAX)
		return BT_ELIMIT; /* the caller rotates the epoch */
	bt_put_le32(e->nonce, (uint32_t)dev->epoch);
	bt_put_le32(e->nonce + 4, dev->salt);
	bt_put_le32(e->nonce + 8, (uint32_t)c);
	bt__blk_ad(dev, sector, ad);
	return bt_aead_seal(
	    io->aead, e->nonce, ad, sizeof(ad), pt, BLK_SS, ct, e->tag);
}

static void
stripes_range(uint64_t s0, uint64_t n, unsigned *a, unsigned *b, bool *all)
{
	*all = n >= BLK_NSTRIPES;
	*a = (unsigned)(s0 % BLK_NSTRIPES);
	*b = (unsigned)((s0 + n - 1) % BLK_NSTRIPES);
}

/*
 * stripes_each applies op to the stripes that cover sectors [s0, s0 + n),
 * always in increasing stripe order, so that lockers never deadlock.
 */
static void
stripes_each(bt_blk_dev *dev, uint64_t s0, uint64_t n,
    int (*op)(pthread_mutex_t *))
{
	unsigned a, b;
	bool     all;

	stripes_range(s0, n, &a, &b, &all);
	if (all) {
		a = 0;
		b = BLK_NSTRIPES - 1;
	}
	if (a <= b) {
		for (unsigned i = a; i <= b; i++)
			op(&dev->stripes[i]);
		return;
	}
	// Wrapped: [0, b] then [a, N), still increasing order.
	for (unsigned i = 0; i <= b; i++)
		op(&dev->stripes[i]);
	for (unsigned i = a; i < BLK_NSTRIPES; i++)
		op(&dev->stripes[i]);
}

void
bt__blk_stripes_lock(bt_blk_dev *dev, uint64_t s0, uint64_t n)
{
	stripes_each(dev, s0, n, pthread_mutex_lock);
}

void
bt__blk_stripes_unlock(bt_blk_dev *dev, uint64_t s0, uint64_t n)
{
	stripes_each(dev, s0, n, pthread_mutex_unlock);
}

static int
check_range(const bt_blk_dev *dev, uint64_t off, uint64_t len)
{
	uint64_t size = dev->sectors * BLK_SS;

	if (off > size || len > size - off)
		return -EINVAL;
	return 0;
}

/* Reads one sector's plaintext under its (held) stripe lock. */
static int
sector_load(bt_blk_dev *dev, struct blk_io *io, uint64_t sector, uint8_t *pt,
    uint8_t *scratch)
{
	const struct blk_entry *e = &dev->table[sector];
	int                     rc;

	if (!blk_entry_has_data(e)) {
		memset(pt, 0, BLK_SS);
		return 0;
	}
	rc = bt_os_pread_full(
	    dev->data_fd, scratch, BLK_SS, (off_t)(sector * BLK_SS));
	if (rc != 0) {
		bt__blk_fail(dev, "read", rc);
		return -EIO;
	}
	rc = bt__blk_sector_open(dev, io, sector, e, scratch, pt);
	if (rc != 0) {
		bt_log_error("blk",
		    "%s: sector %llu fails authentication "
		    "(tampered, rolled back or torn)",
		    dev->data_path, (unsigned long long)sector);
		return -EIO;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Read                                                               */
/* ------------------------------------------------------------------ */

int
bt_blk_dev_read(bt_blk_dev *dev, void *buf, size_t len, uint64_t off)
{
	struct blk_io *io;
	uint64_t       s0, n;
	uint8_t       *out = buf;
	int            rc, bad = 0;

	if (atomic_load(&dev->state) != BT_BLK_STATE_OPEN)
		return -EIO;
	if (len > BT_BLK_REQ_MAX || check_range(dev, off, len) != 0)
		return -EINVAL;
	if (len == 0)
		return 0;
	s0 = off / BLK_SS;
	n = (off + len + BLK_SS - 1) / BLK_SS - s0;
	io = bt__blk_io_get(dev, &rc);
	if (io == NULL)
		return rc;
	rc = bt__blk_io_reserve(io, n);
	if (rc != 0)
		goto out;
	bt__blk_stripes_lock(dev, s0, n);
	// One pread for the whole span when any sector holds data.
	{
		bool any = false;

		for (uint64_t i = 0; i < n && !any; i++)
			any = blk_entry_has_data(&dev->table[s0 + i]);
		if (any) {
			rc = bt_os_pread_full(dev->data_fd, io->buf,
			    n * BLK_SS, (off_t)(s0 * BLK_SS));
			if (rc != 0) {
				bt__blk_stripes_unlock(dev, s0, n);
				bt__blk_fail(dev, "read", rc);
				rc = -EIO;
				goto out;
			}
		}
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t                sector = s0 + i;
		const struct blk_entry *e = &dev->table[sector];
		uint64_t                sec_off = sector * BLK_SS;
		uint64_t from = off > sec_off ? off - sec_off : 0;
		uint64_t to = off + len < sec_off + BLK_SS
		    ? off + len - sec_off
		    : BLK_SS;
		uint8_t *dst = out + (sec_off + from - off);
		bool     whole = from == 0 && to == BLK_SS;

		if (!blk_entry_has_data(e)) {
			memset(dst, 0, to - from);
			continue;
		}
		rc = bt__blk_sector_open(dev, io, sector, e,
		    io->buf + i * BLK_SS, whole ? dst : io->sec);
		if (rc != 0) {
			bt_log_error("blk",
			    "%s: sector %llu fails "
			    "authentication (tampered, rolled back or torn)",
			    dev->data_path, (unsigned long long)sector);
			bad++;
			continue;
		}
		if (!whole)
			memcpy(dst, io->sec + from, to - from);
	}
	bt__blk_stripes_unlock(dev, s0, n);
	rc = bad != 0 ? -EIO : 0;
out:
	bt__blk_io_put(dev, io);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Write                                                              */
/* ------------------------------------------------------------------ */

static int
rotate_epoch(bt_blk_dev *dev)
{
	int rc = 0;

	pthread_mutex_lock(&dev->flush_mu);
	pthread_rwlock_wrlock(&dev->quiesce);
	if (atomic_load(&dev->ctr) >= UINT32_MAX - 1024) {
		rc = bt__blk_checkpoint(dev, true);
		if (rc != 0)
			bt__blk_fail(dev, "epoch rotation", rc);
	}
	pthread_rwlock_unlock(&dev->quiesce);
	pthread_mutex_unlock(&dev->flush_mu);
	return rc;
}

/*
 * commit_sectors journals and writes n sealed sectors at s0 whose entries
 * are in ents (or n zero entries when ct is NULL), under the held stripes
 * and quiesce. widx_in 0 assigns the next write index; else it is taken
 * (replication apply). Invariant 3: the records go out before the data.
 */
static int
commit_sectors(bt_blk_dev *dev, struct blk_io *io, uint64_t widx_in, int type,
    uint64_t s0, uint64_t n, struct blk_entry *ents, const uint8_t *ct)
{
	uint64_t widx, slot;
	int      rc;

	pthread_mutex_lock(&dev->seq_mu);
	if (widx_in == 0) {
		widx = ++dev->widx;
		dev->since_flush++;
	} else if (widx_in == UINT64_MAX) {
		widx = 0; /* a sync install keeps the source's indexes */
	} else {
		widx = widx_in;
		if (widx > dev->widx)
			dev->widx = widx;
	}
	slot = dev->jslot;
	rc = bt__blk_journal_grow(dev, slot + n);
	if (rc != 0) {
		pthread_mutex_unlock(&dev->seq_mu);
		bt__blk_fail(dev, "journal growth", rc);
		return -EIO;
	}
	dev->jslot += n;
	if (widx != 0) {
		for (uint64_t i = 0; i < n; i++)
			ents[i].widx = widx;
	}
	rc = 0;
	if (dev->hook.on_write != NULL && widx_in == 0)
		rc = dev->hook.on_write(
		    dev->hook.arg, widx, type, s0, (uint32_t)n, ents, ct);
	pthread_mutex_unlock(&dev->seq_mu);
	if (rc != 0)
		return rc;
	for (uint64_t i = 0; i < n; i++) {
		uint8_t *rec = io->jbuf + i * BLK_REC_SIZE;

		bt__blk_rec_fill(rec, type, s0 + i, ents[i].widx, &ents[i]);
		rc = bt__blk_journal_record(dev, io, rec, slot + i);
		if (rc != 0)
			return rc;
	}
	rc = bt_os_pwrite_full(dev->journal_fd, io->jbuf, n * BLK_REC_SIZE,
	    bt__blk_slot_off(dev, slot));
	if (rc != 0) {
		bt__blk_fail(dev, "journal write", rc);
		return -EIO;
	}
	if (type == BLK_REC_WRITE) {
		rc = bt_os_pwrite_full(
		    dev->data_fd, ct, n * BLK_SS, (off_t)(s0 * BLK_SS));
		if (rc != 0) {
			bt__blk_fail(dev, "data write", rc);
			return -EIO;
		}
	}
	for (uint64_t i = 0; i < n; i++)
		dev->table[s0 + i] = ents[i];
	return 0;
}

static int
write_locked(bt_blk_dev *dev, struct blk_io *io, const uint8_t *src,
    size_t len, uint64_t off)
{
	uint64_t s0 = off / BLK_SS;
	uint64_t n = (off + len + BLK_SS - 1) / BLK_SS - s0;
	int      rc;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t       sector = s0 + i;
		uint64_t       sec_off = sector * BLK_SS;
		uint64_t       from = off > sec_off ? off - sec_off : 0;
		uint64_t       to = off + len < sec_off + BLK_SS
		          ? off + len - sec_off
		          : BLK_SS;
		const uint8_t *pt;

		if (from == 0 && to == BLK_SS && src != NULL) {
			pt = src + (sec_off - off);
		} else if (from == 0 && to == BLK_SS) {
			memset(io->sec, 0, BLK_SS);
			pt = io->sec;
		} else {
			// Read-modify-write of a partial sector (held lock).
			rc = sector_load(
			    dev, io, sector, io->sec, io->buf + i * BLK_SS);
			if (rc != 0)
				return rc;
			if (src != NULL)
				memcpy(io->sec + from,
				    src + (sec_off + from - off), to - from);
			else
				memset(io->sec + from, 0, to - from);
			pt = io->sec;
		}
		rc = sector_seal(
		    dev, io, sector, pt, io->buf + i * BLK_SS, &io->ents[i]);
		if (rc != 0)
			return rc;
	}
	return commit_sectors(
	    dev, io, 0, BLK_REC_WRITE, s0, n, io->ents, io->buf);
}

static int
write_common(bt_blk_dev *dev, const uint8_t *src, size_t len, uint64_t off)
{
	struct blk_io *io;
	uint64_t       s0, n;
	int            rc;

	for (int attempt = 0;; attempt++) {
		if (atomic_load(&dev->state) != BT_BLK_STATE_OPEN)
			return -EIO;
		if (atomic_load(&dev->role) != BT_BLK_ROLE_PRIMARY)
			return -EROFS;
		s0 = off / BLK_SS;
		n = (off + len + BLK_SS - 1) / BLK_SS - s0;
		io = bt__blk_io_get(dev, &rc);
		if (io == NULL)
			return rc;
		rc = bt__blk_io_reserve(io, n);
		if (rc != 0) {
			bt__blk_io_put(dev, io);
			return rc;
		}
		pthread_rwlock_rdlock(&dev->quiesce);
		bt__blk_stripes_lock(dev, s0, n);
		rc = write_locked(dev, io, src, len, off);
		bt__blk_stripes_unlock(dev, s0, n);
		pthread_rwlock_unlock(&dev->quiesce);
		bt__blk_io_put(dev, io);
		if (rc != BT_ELIMIT || attempt > 0)
			return rc;
		rc = rotate_epoch(dev);
		if (rc != 0)
			return rc;
	}
}

int
bt_blk_dev_write(
    bt_blk_dev *dev, const void *buf, size_t len, uint64_t off, unsigned flags)
{
	int rc;

	if (len > BT_BLK_REQ_MAX || check_range(dev, off, len) != 0)
		return -EINVAL;
	if (len == 0)
		return 0;
	rc = write_common(dev, buf, len, off);
	if ((flags & BT__BLK_NO_PUSH) == 0)
		bt__blk_dev_push(dev);
	if (rc == 0 && (flags & BT_BLK_FUA) != 0)
		rc = bt_blk_dev_flush(dev);
	return rc;
}

/*
 * bt__blk_dev_push sends what the replication hook queued (batch.h). The
 * hook stays set while it runs (hook_mu), so the replicator it calls
 * cannot be stopped under it.
 */
void
bt__blk_dev_push(bt_blk_dev *dev)
{
	pthread_mutex_lock(&dev->hook_mu);
	if (dev->hook.on_push != NULL)
		dev->hook.on_push(dev->hook.arg);
	pthread_mutex_unlock(&dev->hook_mu);
}

/* ------------------------------------------------------------------ */
/* Batches of writes                                                  */
/* ------------------------------------------------------------------ */

/* A set of stripes, locked in increasing index order like a range. */
struct stripe_set {
	uint64_t bits[BLK_NSTRIPES / 64];
};

static void
stripe_set_add(struct stripe_set *set, uint64_t s0, uint64_t n)
{
	for (uint64_t s = s0; s < s0 + n && s < s0 + BLK_NSTRIPES; s++) {
		unsigned i = (unsigned)(s % BLK_NSTRIPES);

		set->bits[i / 64] |= 1ull << (i % 64);
	}
}

static void
stripe_set_each(bt_blk_dev *dev, const struct stripe_set *set,
    int (*op)(pthread_mutex_t *))
{
	for (unsigned wd = 0; wd < BLK_NSTRIPES / 64; wd++) {
		for (uint64_t b = set->bits[wd]; b != 0; b &= b - 1)
			op(&dev->stripes[wd * 64
			    + (unsigned)__builtin_ctzll(b)]);
	}
}

/* many_ok: whole sectors, disjoint, small enough to commit together. */
static bool
many_ok(const bt_blk_dev *dev, const struct bt__blk_wreq *w, size_t n,
    uint64_t *nsec_out)
{
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++) {
		if (w[i].len == 0 || w[i].len % BLK_SS != 0
		    || w[i].off % BLK_SS != 0
		    || check_range(dev, w[i].off, w[i].len) != 0)
			return false;
		total += w[i].len / BLK_SS;
		if (total > BT__BLK_BATCH_SECTORS)
			return false;
		for (size_t j = 0; j < i; j++) {
			if (w[i].off < w[j].off + w[j].len
			    && w[j].off < w[i].off + w[i].len)
				return false;
		}
	}
	*nsec_out = total;
	return true;
}

/*
 * many_locked seals and commits the batch (stripes and quiesce held).
 * Returns BT_ELIMIT before anything is committed when the nonce counter
 * runs out; otherwise sets every w[i].rc and returns 0.
 */
static int
many_locked(bt_blk_dev *dev, struct blk_io *io, struct bt__blk_wreq *w,
    size_t n, uint64_t nsec)
{
	uint64_t k = 0, slot, done_sec;
	size_t   done = 0;
	int      rc = 0, hook_rc = 0;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *src = w[i].buf;
		uint64_t       s0 = w[i].off / BLK_SS;

		for (uint64_t j = 0; j < w[i].len / BLK_SS; j++, k++) {
			rc = sector_seal(dev, io, s0 + j, src + j * BLK_SS,
			    io->buf + k * BLK_SS, &io->ents[k]);
			if (rc != 0)
				return rc;
		}
	}
	// One critical section for the whole batch: consecutive write
	// indexes (one per write, each queued to the backups in order) and
	// consecutive journal slots, so the records go out in one pwrite.
	pthread_mutex_lock(&dev->seq_mu);
	slot = dev->jslot;
	rc = bt__blk_journal_grow(dev, slot + nsec);
	if (rc != 0) {
		pthread_mutex_unlock(&dev->seq_mu);
		bt__blk_fail(dev, "journal growth", rc);
		rc = -EIO;
		goto out;
	}
	for (k = 0; done < n; done++) {
		uint64_t widx = ++dev->widx;
		uint64_t ns = w[done].len / BLK_SS;

		dev->since_flush++;

		for (uint64_t j = 0; j < ns; j++)
			io->ents[k + j].widx = widx;
		if (dev->hook.on_write != NULL) {
			hook_rc = dev->hook.on_write(dev->hook.arg, widx,
			    BLK_REC_WRITE, w[done].off / BLK_SS, (uint32_t)ns,
			    io->ents + k, io->buf + k * BLK_SS);
			if (hook_rc != 0)
				break; /* this one and the rest fail */
		}
		k += ns;
	}
	done_sec = k;
	dev->jslot += done_sec;
	pthread_mutex_unlock(&dev->seq_mu);
	k = 0;
	for (size_t i = 0; rc == 0 && i < done; i++) {
		uint64_t s0 = w[i].off / BLK_SS;

		for (uint64_t j = 0; rc == 0 && j < w[i].len / BLK_SS;
		     j++, k++) {
			uint8_t *rec = io->jbuf + k * BLK_REC_SIZE;

			bt__blk_rec_fill(rec, BLK_REC_WRITE, s0 + j,
			    io->ents[k].widx, &io->ents[k]);
			rc = bt__blk_journal_record(dev, io, rec, slot + k);
		}
	}
	// Invariant 3: every record of the batch before any of its data.
	if (rc == 0 && done_sec > 0) {
		rc = bt_os_pwrite_full(dev->journal_fd, io->jbuf,
		    done_sec * BLK_REC_SIZE, bt__blk_slot_off(dev, slot));
		if (rc != 0)
			bt__blk_fail(dev, "journal write", rc);
	}
	k = 0;
	for (size_t i = 0; rc == 0 && i < done; i++) {
		uint64_t s0 = w[i].off / BLK_SS, ns = w[i].len / BLK_SS;

		rc = bt_os_pwrite_full(dev->data_fd, io->buf + k * BLK_SS,
		    w[i].len, (off_t)w[i].off);
		if (rc != 0) {
			bt__blk_fail(dev, "data write", rc);
			break;
		}
		for (uint64_t j = 0; j < ns; j++)
			dev->table[s0 + j] = io->ents[k + j];
		k += ns;
		w[i].rc = 0;
	}
	if (rc != 0) {
		// Indexes were handed out and slots taken: the device is in
		// its ERROR state (bt__blk_fail), as after commit_sectors.
		bt__blk_fail(dev, "batch write", rc);
		rc = -EIO;
		done = 0;
	}
out:
	for (size_t i = done; i < n; i++)
		w[i].rc = rc != 0 ? rc : hook_rc;
	return 0;
}

void
bt__blk_dev_write_many(bt_blk_dev *dev, struct bt__blk_wreq *w, size_t n)
{
	struct stripe_set set;
	struct blk_io    *io;
	uint64_t          nsec = 0;
	int               rc = 0;

	if (n == 0)
		return;
	if (n == 1 || !many_ok(dev, w, n, &nsec)) {
		for (size_t i = 0; i < n; i++)
			w[i].rc = bt_blk_dev_write(dev, w[i].buf, w[i].len,
			    w[i].off, BT__BLK_NO_PUSH);
		return;
	}
	memset(&set, 0, sizeof(set));
	for (size_t i = 0; i < n; i++)
		stripe_set_add(&set, w[i].off / BLK_SS, w[i].len / BLK_SS);
	for (int attempt = 0;; attempt++) {
		if (atomic_load(&dev->state) != BT_BLK_STATE_OPEN)
			rc = -EIO;
		else if (atomic_load(&dev->role) != BT_BLK_ROLE_PRIMARY)
			rc = -EROFS;
		io = rc == 0 ? bt__blk_io_get(dev, &rc) : NULL;
		if (io != NULL) {
			rc = bt__blk_io_reserve(io, nsec);
			if (rc != 0)
				bt__blk_io_put(dev, io);
		}
		if (rc != 0)
			break;
		pthread_rwlock_rdlock(&dev->quiesce);
		stripe_set_each(dev, &set, pthread_mutex_lock);
		rc = many_locked(dev, io, w, n, nsec);
		stripe_set_each(dev, &set, pthread_mutex_unlock);
		pthread_rwlock_unlock(&dev->quiesce);
		bt__blk_io_put(dev, io);
		if (rc != BT_ELIMIT || attempt > 0)
			break;
		rc = rotate_epoch(dev);
		if (rc != 0)
			break;
	}
	if (rc != 0) {
		for (size_t i = 0; i < n; i++)
			w[i].rc = rc;
	}
}

int
bt_blk_dev_zero(bt_blk_dev *dev, uint64_t off, uint64_t len, unsigned flags)
{
	struct blk_io *io;
	uint64_t       end = off + len, s, s_end;
	int            rc = 0;

	if (check_range(dev, off, len) != 0)
		return -EINVAL;
	if (len == 0)
		return 0;
	// Partial head and tail sectors are rewritten with zeros.
	s = (off + BLK_SS - 1) / BLK_SS;
	s_end = end / BLK_SS;
	if (s >= s_end) {
		rc = write_common(dev, NULL, len, off);
		goto done;
	}
	if (off % BLK_SS != 0) {
		rc = write_common(dev, NULL, s * BLK_SS - off, off);
		if (rc != 0)
			goto done;
	}
	if (end % BLK_SS != 0) {
		rc = write_common(
		    dev, NULL, end - s_end * BLK_SS, s_end * BLK_SS);
		if (rc != 0)
			goto done;
	}
	io = bt__blk_io_get(dev, &rc);
	if (io == NULL)
		goto done;
	rc = bt__blk_io_reserve(io, 256);
	while (rc == 0 && s < s_end) {
		uint64_t n = s_end - s < 256 ? s_end - s : 256;

		if (atomic_load(&dev->state) != BT_BLK_STATE_OPEN) {
			rc = -EIO;
			break;
		}
		if (atomic_load(&dev->role) != BT_BLK_ROLE_PRIMARY) {
			rc = -EROFS;
			break;
		}
		memset(io->ents, 0, n * sizeof(struct blk_entry));
		pthread_rwlock_rdlock(&dev->quiesce);
		bt__blk_stripes_lock(dev, s, n);
		rc = commit_sectors(
		    dev, io, 0, BLK_REC_ZERO, s, n, io->ents, NULL);
		bt__blk_stripes_unlock(dev, s, n);
		pthread_rwlock_unlock(&dev->quiesce);
		s += n;
	}
	bt__blk_io_put(dev, io);
done:
	if ((flags & BT__BLK_NO_PUSH) == 0)
		bt__blk_dev_push(dev);
	if (rc == 0 && (flags & BT_BLK_FUA) != 0)
		rc = bt_blk_dev_flush(dev);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Flush                                                              */
/* ------------------------------------------------------------------ */

/*
 * bt__blk_flush_local (blk_int.h). Flushes queue on flush_mu; each
 * remembers the index its commit point covered (durable_widx), so of the
 * flushes that waited behind one, those it covered return without an
 * fdatasync of their own (a database's concurrent commits).
 */
int
bt__blk_flush_local(bt_blk_dev *dev, uint64_t need, uint64_t *widx_out)
{
	struct blk_io  *io;
	uint8_t         rec[BLK_REC_SIZE];
	uint64_t        slot, widx = 0;
	bool            dirty, full = false;
	int             rc;

	if (atomic_load(&dev->state) != BT_BLK_STATE_OPEN)
		return -EIO;
	io = bt__blk_io_get(dev, &rc);
	if (io == NULL)
		return rc;
	pthread_mutex_lock(&dev->flush_mu);
	if (need != 0 && atomic_load(&dev->durable_widx) >= need) {
		widx = atomic_load(&dev->durable_widx);
		rc = 0;
		goto out;
	}
	pthread_rwlock_wrlock(&dev->quiesce);
	dirty = dev->jslot != dev->commit_slot;
	slot = dev->jslot;
	if (dirty) {
		pthread_mutex_lock(&dev->seq_mu);
		rc = bt__blk_journal_grow(dev, slot + 1);
		pthread_mutex_unlock(&dev->seq_mu);
		if (rc != 0) {
			pthread_rwlock_unlock(&dev->quiesce);
			bt__blk_fail(dev, "journal growth", rc);
			rc = -EIO;
			goto out;
		}
		dev->jslot++;
	}
	widx = dev->widx;
	pthread_rwlock_unlock(&dev->quiesce);
	rc = 0;
	if (dirty) {
		// One fdatasync covers data, records and this commit, since
		// the journal lives in the data file (invariant 4 says why a
		// crash in the middle of it is safe).
		bt__blk_rec_fill(rec, BLK_REC_COMMIT, 0, widx, NULL);
		rc = bt__blk_journal_record(dev, io, rec, slot);
		if (rc == 0)
			rc = bt_os_pwrite_full(dev->journal_fd, rec,
			    sizeof(rec), bt__blk_slot_off(dev, slot));
		if (rc == 0)
			rc = bt_os_fdatasync(dev->data_fd);
		if (rc != 0) {
			bt__blk_fail(dev, "flush", rc);
			rc = -EIO;
		} else {
			dev->commit_slot = slot + 1;
		}
	}
	if (rc == 0 && widx > atomic_load(&dev->durable_widx))
		atomic_store(&dev->durable_widx, widx);
	if (rc == 0) {
		// jslot moves under seq_mu (writers); read it there.
		pthread_mutex_lock(&dev->seq_mu);
		full = dev->jslot > BLK_JOURNAL_SLOTS_MAX;
		pthread_mutex_unlock(&dev->seq_mu);
	}
	if (rc == 0 && full) {
		pthread_rwlock_wrlock(&dev->quiesce);
		rc = bt__blk_checkpoint(dev, false);
		pthread_rwlock_unlock(&dev->quiesce);
		if (rc != 0) {
			bt__blk_fail(dev, "checkpoint", rc);
			rc = -EIO;
		}
	}
out:
	pthread_mutex_unlock(&dev->flush_mu);
	bt__blk_io_put(dev, io);
	if (rc == 0 && widx_out != NULL)
		*widx_out = widx;
	return rc;
}

static void flush_count(
    bt_blk_dev *dev, uint64_t t0, uint64_t t1, uint64_t t2);

int
bt_blk_dev_flush(bt_blk_dev *dev)
{
	struct blk_hook hook;
	uint64_t        widx, sent = 0, t0, t1;
	bool            repl;
	int             rc;

	pthread_mutex_lock(&dev->hook_mu);
	hook = dev->hook;
	pthread_mutex_unlock(&dev->hook_mu);
	repl = hook.on_flush != NULL
	    && atomic_load(&dev->role) == BT_BLK_ROLE_PRIMARY;
	// A write completed before this flush has an index of at most
	// dev->widx (and, replicating, was queued to the backups under
	// seq_mu with it): that is what this flush needs, here and there.
	pthread_mutex_lock(&dev->seq_mu);
	sent = dev->widx;
	dev->rhythm[1] = dev->rhythm[0];
	dev->rhythm[0] = dev->since_flush;
	dev->since_flush = 0;
	pthread_mutex_unlock(&dev->seq_mu);
	// The backups start their flush now, in parallel with ours and with
	// our wait for flush_mu behind another flush.
	if (repl && hook.on_flush_start != NULL)
		hook.on_flush_start(hook.arg, sent);
	t0 = bt_time_mono_ns();
	rc = bt__blk_flush_local(dev, sent, &widx);
	t1 = bt_time_mono_ns();
	if (rc == 0 && repl)
		rc = hook.on_flush(hook.arg, sent);
	if (rc == 0)
		flush_count(dev, t0, t1, repl ? bt_time_mono_ns() : t1);
	return rc;
}

static void
flush_count(bt_blk_dev *dev, uint64_t t0, uint64_t t1, uint64_t t2)
{
	struct blk_flush_stats *f = &dev->fstats;
	uint64_t                us = (t2 - t0) / 1000;
	unsigned                b = 0;

	while (b + 1 < BLK_FLUSH_BUCKETS && us >= (2ull << b))
		b++;
	atomic_fetch_add(&f->n, 1);
	atomic_fetch_add(&f->local_ns, t1 - t0);
	atomic_fetch_add(&f->repl_ns, t2 - t1);
	atomic_fetch_add(&f->hist[b], 1);
}

/* pct returns the upper bound (us) of the bucket holding percentile p. */
static uint64_t
pct(const uint64_t *h, uint64_t n, unsigned p)
{
	uint64_t want = (n * p + 99) / 100, seen = 0;

	for (unsigned b = 0; b < BLK_FLUSH_BUCKETS; b++) {
		seen += h[b];
		if (seen >= want)
			return 2ull << b;
	}
	return 2ull << (BLK_FLUSH_BUCKETS - 1);
}

int
bt__blk_flush_stats(bt_blk_dev *dev, struct bt_dbuf *out)
{
	struct blk_flush_stats *f = &dev->fstats;
	uint64_t                h[BLK_FLUSH_BUCKETS], n = 0;

	for (unsigned b = 0; b < BLK_FLUSH_BUCKETS; b++) {
		h[b] = atomic_load(&f->hist[b]);
		n += h[b];
	}
	if (n == 0)
		return 0;
	return bt_dbuf_printf(out,
	    "flushes: %llu, mean %llu us (local %llu, then backups %llu), "
	    "p50 < %llu us, p90 < %llu us, p99 < %llu us\n",
	    (unsigned long long)n,
	    (unsigned long long)((atomic_load(&f->local_ns)
	                             + atomic_load(&f->repl_ns))
	        / n / 1000),
	    (unsigned long long)(atomic_load(&f->local_ns) / n / 1000),
	    (unsigned long long)(atomic_load(&f->repl_ns) / n / 1000),
	    (unsigned long long)pct(h, n, 50),
	    (unsigned long long)pct(h, n, 90),
	    (unsigned long long)pct(h, n, 99));
}

/*
 * Flushing ahead. A client in a steady rhythm of k <= 4 writes and a flush
 * (fio's fsync after every write, a database committing each transaction
 * alone) sends its flush right after the k-th write's reply. When the last
 * two flushes each came after the same k writes and the k-th write since
 * the last flush has just been answered, the NBD worker runs the local
 * flush at once (bt__blk_dev_flush_ahead), while the reply travels and the
 * client sends its FLUSH; that FLUSH then finds its writes durable
 * (durable_widx) and needs no fdatasync of its own, only the backups'
 * ACKs. Replicating, the backup syncs ahead by the same rule (repl.c), so
 * the two fdatasyncs start together instead of one a network hop after
 * the other (on one disk, the second then finds the first's flush has
 * persisted most of its pages). A wrong guess costs one fdatasync and
 * breaks the rhythm. It changes only when data becomes durable, never
 * what a reply promises.
 */
#define BLK_AHEAD_MAX_K 4u

static bool
flush_ahead_due_locked(const bt_blk_dev *dev)
{
	return dev->rhythm[0] != 0 && dev->rhythm[0] <= BLK_AHEAD_MAX_K
	    && dev->rhythm[1] == dev->rhythm[0]
	    && dev->since_flush == dev->rhythm[0]
	    && dev->ahead_widx != dev->widx;
}

bool
bt__blk_dev_flush_ahead_due(bt_blk_dev *dev)
{
	bool due;

	pthread_mutex_lock(&dev->seq_mu);
	due = flush_ahead_due_locked(dev);
	if (due)
		dev->ahead_widx = dev->widx;
	pthread_mutex_unlock(&dev->seq_mu);
	return due;
}

bool
bt__blk_dev_flush_expected(bt_blk_dev *dev)
{
	bool due;

	pthread_mutex_lock(&dev->seq_mu);
	due = flush_ahead_due_locked(dev);
	pthread_mutex_unlock(&dev->seq_mu);
	return due;
}

bool
bt__blk_dev_replicating(bt_blk_dev *dev)
{
	bool repl;

	pthread_mutex_lock(&dev->seq_mu);
	repl = dev->hook.on_write != NULL;
	pthread_mutex_unlock(&dev->seq_mu);
	return repl;
}

bool
bt__blk_dev_durable(bt_blk_dev *dev)
{
	uint64_t w;
	bool     repl;

	pthread_mutex_lock(&dev->seq_mu);
	w = dev->widx;
	// Replicating, a FLUSH also waits for the backups' ACKs, which can
	// take a backup's whole fdatasync: not a request to run holding
	// the reading turn.
	repl = dev->hook.on_flush != NULL;
	pthread_mutex_unlock(&dev->seq_mu);
	return !repl && atomic_load(&dev->durable_widx) >= w;
}

void
bt__blk_dev_flush_ahead(bt_blk_dev *dev)
{
	// A failure moves the device to ERROR: the client's flush says so.
	(void)bt__blk_flush_local(dev, 0, NULL);
}

/* ------------------------------------------------------------------ */
/* Replication primitives                                             */
/* ------------------------------------------------------------------ */

int
bt__blk_dev_apply(bt_blk_dev *dev, uint64_t widx, int type, uint64_t s0,
    uint32_t n, const struct blk_entry *ents, const uint8_t *ct)
{
	struct blk_io *io;
	int            rc;

	if (atomic_load(&dev->state) != BT_BLK_STATE_OPEN)
		return -EIO;
	if (n == 0 || s0 >= dev->sectors || n > dev->sectors - s0
	    || n > BT_BLK_REQ_MAX / BLK_SS)
		return -EINVAL;
	io = bt__blk_io_get(dev, &rc);
	if (io == NULL)
		return rc;
	rc = bt__blk_io_reserve(io, n);
	if (rc != 0)
		goto out;
	memcpy(io->ents, ents, n * sizeof(*ents));
	// A backup verifies every sector before it touches its disk.
	if (type == BLK_REC_WRITE) {
		for (uint32_t i = 0; i < n; i++) {
			rc = bt__blk_sector_open(dev, io, s0 + i, &ents[i],
			    ct + (size_t)i * BLK_SS, io->sec);
			if (rc != 0) {
				bt_log_error("blk",
				    "replicated sector %llu "
				    "fails verification; refused",
				    (unsigned long long)(s0 + i));
				rc = BT_ECORRUPT;
				goto out;
			}
		}
	} else {
		for (uint32_t i = 0; i < n; i++) {
			memset(io->ents[i].nonce, 0, BLK_NONCE_LEN);
			memset(io->ents[i].tag, 0, BLK_TAG_LEN);
		}
	}
	pthread_rwlock_rdlock(&dev->quiesce);
	bt__blk_stripes_lock(dev, s0, n);
	rc = commit_sectors(
	    dev, io, widx == 0 ? UINT64_MAX : widx, type, s0, n, io->ents, ct);
	bt__blk_stripes_unlock(dev, s0, n);
	pthread_rwlock_unlock(&dev->quiesce);
out:
	bt__blk_io_put(dev, io);
	return rc;
}

int
bt__blk_dev_read_raw(
    bt_blk_dev *dev, uint64_t sector, struct blk_entry *e, uint8_t *ct)
{
	int rc = 0;

	if (sector >= dev->sectors)
		return -EINVAL;
	bt__blk_stripes_lock(dev, sector, 1);
	*e = dev->table[sector];
	if (ct != NULL && blk_entry_has_data(e)) {
		rc = bt_os_pread_full(
		    dev->data_fd, ct, BLK_SS, (off_t)(sector * BLK_SS));
		if (rc != 0)
			bt__blk_fail(dev, "read", rc);
	}
	bt__blk_stripes_unlock(dev, sector, 1);
	return rc;
}

void
bt__blk_dev_set_hook(bt_blk_dev *dev, const struct blk_hook *hook)
{
	pthread_mutex_lock(&dev->hook_mu);
	pthread_rwlock_wrlock(&dev->quiesce);
	pthread_mutex_lock(&dev->seq_mu);
	if (hook != NULL)
		dev->hook = *hook;
	else
		memset(&dev->hook, 0, sizeof(dev->hook));
	pthread_mutex_unlock(&dev->seq_mu);
	pthread_rwlock_unlock(&dev->quiesce);
	pthread_mutex_unlock(&dev->hook_mu);
}

/*
 * bt__blk_dev_set_role persists a new role, ballot and (when not 0) write
 * index in a checkpoint.
 */
int
bt__blk_dev_set_role(bt_blk_dev *dev, int role, uint64_t ballot, uint64_t widx)
{
	int rc;

	pthread_mutex_lock(&dev->flush_mu);
	pthread_rwlock_wrlock(&dev->quiesce);
	atomic_store(&dev->role, role);
	atomic_store(&dev->ballot, ballot);
	if (widx != 0)
		dev->widx = widx;
	rc = bt__blk_checkpoint(dev, false);
	if (rc != 0)
		bt__blk_fail(dev, "checkpoint", rc);
	pthread_rwlock_unlock(&dev->quiesce);
	pthread_mutex_unlock(&dev->flush_mu);
	return rc;
}

ssize_t
bt_blk_dev_verify(bt_blk_dev *dev)
{
	struct blk_io *io;
	ssize_t        bad = 0;
	int            rc;

	io = bt__blk_io_get(dev, &rc);
	if (io == NULL)
		return rc;
	rc = bt__blk_io_reserve(io, 1);
	for (uint64_t s = 0; rc == 0 && s < dev->sectors; s++) {
		bt__blk_stripes_lock(dev, s, 1);
		if (blk_entry_has_data(&dev->table[s])) {
			rc = sector_load(dev, io, s, io->sec, io->buf);
			if (rc == -EIO
			    && atomic_load(&dev->state) == BT_BLK_STATE_OPEN) {
				bad++;
				rc = 0;
			}
		}
		bt__blk_stripes_unlock(dev, s, 1);
	}
	bt__blk_io_put(dev, io);
	return rc != 0 ? rc : bad;
}

/* ------------------------------------------------------------------ */
/* Accessors                                                          */
/* ------------------------------------------------------------------ */

uint64_t
bt_blk_dev_size(const bt_blk_dev *dev)
{
	return dev->sectors * BLK_SS;
}

int
bt_blk_dev_state(const bt_blk_dev *dev)
{
	return atomic_load(&dev->state);
}

int
bt_blk_dev_role(const bt_blk_dev *dev)
{
	return atomic_load(&dev->role);
}

uint64_t
bt_blk_dev_write_index(const bt_blk_dev *dev)
{
	bt_blk_dev *d = (bt_blk_dev *)dev;
	uint64_t    w;

	pthread_mutex_lock(&d->seq_mu);
	w = d->widx;
	pthread_mutex_unlock(&d->seq_mu);
	return w;
}

uint64_t
bt_blk_dev_ballot(const bt_blk_dev *dev)
{
	return atomic_load(&dev->ballot);
}

uint64_t
bt_blk_dev_epoch(const bt_blk_dev *dev)
{
	return dev->epoch;
}
