/*
 * chunk.c: reading chunk blobs (image/, used by image.c for mounts,
 * extract and verify).
 *
 * Design. A chunk is loaded whole (at most BT_IMAGE_CHUNK_MAX stored
 * bytes), hashed, compared with the digest the metadata records, and only
 * then decompressed into a buffer of exactly its recorded raw length.
 * Nothing unverified ever reaches a reader, and a blob that changes on
 * disk after it was verified cannot change what was served, since the
 * checked bytes are the ones kept.
 *
 * Invariants:
 *  1. An entry in the cache holds the verified, decompressed bytes of
 *     chunk idx; its length equals the chunk record's raw_len.
 *  2. c->bytes is the sum of the lengths of the entries in slots[].
 *  3. Eviction (least recently used first) takes only entries with refs
 *     == 0, and frees them at once. When every entry is held the cache
 *     runs over its bound until they are released; readers hold one chunk
 *     at a time, so the overrun is bounded by the number of readers.
 *
 * Locking theory. One mutex per cache protects slots[], the LRU list,
 * refs and bytes. Loading (disk read, hash, zstd) runs without it, so two
 * threads may load the same chunk at once; the second to finish finds the
 * first's entry and drops its own copy. No callback runs under the lock.
 *
 *   absent --get (load)--> cached,held --rele--> cached --evict--> absent
 *                          cached --get--> cached,held
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "bt/crypto.h"
#include "bt/os.h"
#include "image_int.h"

struct bt__img_cent {
	struct bt__img_cent *prev, *next; /* LRU, most recent first */
	uint8_t		    *data;
	uint32_t	     idx;
	uint32_t	     len;
	int		     refs;
};

struct bt__img_cache {
	pthread_mutex_t	      mu;
	struct bt__img_cent **slots;
	size_t		      n;
	size_t		      bytes;
	size_t		      max;
	struct bt__img_cent   lru; /* sentinel */
};

int
bt__image_cache_new(struct bt__img_cache **out, size_t max_bytes,
    size_t n_chunks)
{
	struct bt__img_cache *c;

	c = bt_zalloc(sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->slots = bt_calloc(n_chunks ? n_chunks : 1, sizeof(*c->slots));
	if (c->slots == NULL) {
		bt_free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->mu, NULL);
	c->n = n_chunks;
	c->max = max_bytes;
	c->lru.next = c->lru.prev = &c->lru;
	*out = c;
	return 0;
}

static void
cent_free(struct bt__img_cent *e)
{
	bt_free(e->data);
	bt_free(e);
}

void
bt__image_cache_free(struct bt__img_cache *c)
{
	struct bt__img_cent *e, *next;

	if (c == NULL)
		return;
	for (e = c->lru.next; e != &c->lru; e = next) {
		next = e->next;
		cent_free(e);
	}
	pthread_mutex_destroy(&c->mu);
	bt_free(c->slots);
	bt_free(c);
}

static void
lru_unlink(struct bt__img_cent *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void
lru_front(struct bt__img_cache *c, struct bt__img_cent *e)
{
	e->next = c->lru.next;
	e->prev = &c->lru;
	c->lru.next->prev = e;
	c->lru.next = e;
}

int
bt__image_chunk_load(int dirfd, const struct bt__img_chunk *ch,
    uint8_t **out, bool check_raw, struct bt_diag *diag)
{
	char dg[BT_IMAGE_DIGEST_STRLEN], hex[65];
	uint8_t got[BT__IMG_DIGEST_LEN];
	uint8_t *stored = NULL, *raw = NULL;
	struct stat st;
	size_t n;
	int fd, rc;

	bt__image_digest_str(dg, ch->digest);
	bt_hex_encode(hex, ch->digest, BT__IMG_DIGEST_LEN);
	fd = openat(dirfd, hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = -errno;
		bt_diag_set(diag, -1, "chunk blob %s: %s", dg,
		    rc == -ENOENT ? "missing" : bt_strerror(rc));
		return -EIO;
	}
	rc = bt_os_fstat(fd, &st);
	if (rc == 0 && (!S_ISREG(st.st_mode) ||
			   (uint64_t)st.st_size != ch->stored_len)) {
		bt_diag_set(diag, -1, "chunk blob %s is damaged: %lld bytes "
		    "where %u were expected", dg, (long long)st.st_size,
		    ch->stored_len);
		rc = -EIO;
		goto out;
	}
	stored = bt_alloc(ch->stored_len);
	if (stored == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = bt_os_pread_full(fd, stored, ch->stored_len, 0);
	if (rc != 0) {
		bt_diag_set(diag, -1, "chunk blob %s: read failed: %s", dg,
		    bt_strerror(rc));
		rc = -EIO;
		goto out;
	}
	rc = bt_sha256(stored, ch->stored_len, got);
	if (rc != 0)
		goto out;
	if (memcmp(got, ch->digest, sizeof(got)) != 0) {
		bt_diag_set(diag, -1, "chunk blob %s is damaged: its content "
		    "does not match its digest", dg);
		rc = -EIO;
		goto out;
	}
	if (ch->flags & BT__IMG_CHUNK_ZSTD) {
		raw = bt_alloc(ch->raw_len);
		if (raw == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		n = ZSTD_decompress(raw, ch->raw_len, stored, ch->stored_len);
		if (ZSTD_isError(n) || n != ch->raw_len) {
			/* Authentic bytes that do not decompress to the
			 * recorded size: the metadata lies, or was built by
			 * a broken writer. Either way, no bytes are served. */
			bt_diag_set(diag, -1, "chunk blob %s does not "
			    "decompress to %u bytes (%s)", dg, ch->raw_len,
			    ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size");
			rc = -EIO;
			goto out;
		}
		bt_free(stored);
		stored = raw;
		raw = NULL;
	}
	if (check_raw) {
		rc = bt_sha256(stored, ch->raw_len, got);
		if (rc != 0)
			goto out;
		if (memcmp(got, ch->raw_digest, sizeof(got)) != 0) {
			bt_diag_set(diag, -1, "chunk blob %s: content digest "
			    "does not match the metadata", dg);
			rc = -EIO;
			goto out;
		}
	}
	*out = stored;
	stored = NULL;
	rc = 0;
out:
	bt_free(raw);
	bt_free(stored);
	close(fd);
	return rc;
}

static void
evict(struct bt__img_cache *c)
{
	struct bt__img_cent *e = c->lru.prev, *prev;

	for (; e != &c->lru && c->bytes > c->max; e = prev) {
		prev = e->prev;
		if (e->refs > 0)
			continue;
		lru_unlink(e);
		c->slots[e->idx] = NULL;
		c->bytes -= e->len;
		cent_free(e);
	}
}

int
bt__image_chunk_get(struct bt__img_cache *c, int dirfd,
    const struct bt__img_meta *m, uint32_t idx, struct bt__img_cent **out,
    const uint8_t **data, struct bt_diag *diag)
{
	struct bt__img_chunk ch;
	struct bt__img_cent *e, *old;
	uint8_t *buf;
	int rc;

	if (idx >= c->n)
		return BT_ECORRUPT;
	pthread_mutex_lock(&c->mu);
	e = c->slots[idx];
	if (e != NULL) {
		e->refs++;
		lru_unlink(e);
		lru_front(c, e);
		pthread_mutex_unlock(&c->mu);
		*out = e;
		*data = e->data;
		return 0;
	}
	pthread_mutex_unlock(&c->mu);

	rc = bt__image_meta_chunk(m, idx, &ch);
	if (rc != 0)
		return BT_ECORRUPT;
	rc = bt__image_chunk_load(dirfd, &ch, &buf, false, diag);
	if (rc != 0)
		return rc;
	e = bt_zalloc(sizeof(*e));
	if (e == NULL) {
		bt_free(buf);
		return -ENOMEM;
	}
	e->data = buf;
	e->idx = idx;
	e->len = ch.raw_len;
	e->refs = 1;

	pthread_mutex_lock(&c->mu);
	old = c->slots[idx];
	if (old != NULL) {
		/* Another thread loaded it meanwhile; keep theirs. */
		old->refs++;
		pthread_mutex_unlock(&c->mu);
		cent_free(e);
		*out = old;
		*data = old->data;
		return 0;
	}
	c->slots[idx] = e;
	lru_front(c, e);
	c->bytes += e->len;
	evict(c);
	pthread_mutex_unlock(&c->mu);
	*out = e;
	*data = e->data;
	return 0;
}

void
bt__image_chunk_rele(struct bt__img_cache *c, struct bt__img_cent *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	e->refs--;
	if (e->refs == 0 && c->bytes > c->max)
		evict(c);
	pthread_mutex_unlock(&c->mu);
}
