/*
 * blk/repl.c: primary/backup replication of a device (Rollbaccine's
 * protocol, on the TLS transport of net/). docs/blk.md has the messages.
 *
 * Invariants
 *  1. Writes reach a backup in write-index order with no gap: the primary
 *     queues them from on_write under dev->seq_mu, the transport keeps
 *     order, and the backup refuses (and drops the link on) any WRITE
 *     whose index is not its own + 1.
 *  2. A backup verifies every sealed sector (AES-GCM under the shared
 *     device key and the sector's index) before it touches its disk.
 *  3. A backup sends ACK(v) only after it applied every write up to v and
 *     made it durable (its own flush); a FLUSH(w) is answered with an
 *     ACK(v), v >= w, unless one was sent already (after an eager flush:
 *     ACKs and FLUSHes travel in order, so the primary has it or will
 *     have it before anything later on the link). A FLUSH marked
 *     "applied" (the primary's ack_applied mode) asks less: its ACK(v)
 *     says every write up to v was verified and applied, and the backup
 *     syncs them within BT_BLK_APPLIED_SYNC_MS. The primary acknowledges
 *     a client FLUSH/FUA only after its own flush and when every backup
 *     has ACKed at least the flush's index; a backup that is gone makes it
 *     fail (EIO), never succeed. Ordinary writes do not wait, and never
 *     bypass the queue: a full send queue blocks the writer
 *     (back-pressure).
 *  4. Before a primary serves, every backup and the primary agree: the
 *     node with the higher (ballot, write index) is the source; the other
 *     scans its disk, sends its table with failing sectors marked, and
 *     receives every sector whose entry differs. A rolled-back disk thus
 *     comes back with the newer sectors of its replica.
 *  5. Ballots only grow; promote sets ballot = max seen + 1 and persists it
 *     before accepting writes, so a stale primary loses every comparison.
 *  6. Peers are admitted by TLS 1.3 with a credential chain rooted at the
 *     root key derived from the device key (or the root of --cred): holding
 *     K is what admits a replica.
 *
 * States of a backup link
 *
 *   on_open --> HELLO --(compare)--> SYNC (source or target) --> STREAM
 *      |                                                           |
 *      +------------------ on_close / promote --> CLOSED <---------+
 *
 * Locking theory: the net loop thread runs on_open/on_frame/on_close; they
 * only move copied frames into a peer's queue (peer->mu), or, once a link
 * streams, record ACKs (r->mu, then broadcast and flag the waiting
 * flushes) on the primary and apply the stream on a backup. An ACK may
 * also be read and recorded by a flushing NBD worker itself
 * (bt__net_conn_await), holding no lock of ours. Blocking protocol steps
 * run on the caller of bt_blk_repl_start (primary) or on one session
 * thread per incoming link (backup). on_write runs under dev->seq_mu and
 * takes r->mu only to read the peer list. No lock of ours is held across
 * a call into net/ except dev->seq_mu in on_write, which net/ never takes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../net/net_int.h"
#include "blk_int.h"
#include "bt/net.h"
#include "bt/serde.h"

enum {
	M_HELLO = BT_NET_KIND_USER + 0,
	M_TABLE,
	M_TABLE_END,
	M_SECTOR,
	M_SYNC_DONE,
	M_SYNC_ACK,
	M_WRITE,
	M_FLUSH,
	M_ACK,
};

#define REPL_PROTO     0x626c6b31u /* "blk1" */
#define TABLE_CHUNK    8192u
#define ENTRY_WIRE     36u
#define REPL_MAX_FRAME ((size_t)40 << 20)
#define REPL_QUEUE_MAX ((size_t)256 << 20)
#define BAD_WIDX       UINT64_MAX

struct qmsg {
	struct qmsg *next;
	uint32_t     kind;
	size_t       len;
	uint8_t      data[];
};

struct peer {
	struct bt_blk_repl *r;
	char               *addr;
	bt_net_conn        *conn;
	pthread_mutex_t     mu;
	pthread_cond_t      cv;
	struct qmsg        *head, *tail;
	bool                closed;
	bool                streaming;
	bool                failed;
	bool                live; /* in sync: writes and flushes go to it */
	bool                retired; /* replaced by a newer link to addr */
	uint64_t            acked;
	/* Backup, once recovery is done: the loop thread applies each
	 * streamed message as it arrives (no hand-off to the session
	 * thread), with ents as its scratch; stream_rc is why it stopped. */
	bool                inline_apply;
	int                 stream_rc;
	/* Backup: the flush rhythm of the stream (eager_flush_due). */
	uint32_t            since_flush; /* WRITEs since the last FLUSH */
	uint32_t            rhythm[2]; /* WRITEs the last two FLUSHes covered */
	uint64_t            ack_sent; /* highest durable ACK written (mu) */
	uint64_t            ack_any; /* highest ACK of either kind (mu) */
	bool                applied_mode; /* the last FLUSH asked "applied" */
	struct blk_entry   *ents;
	size_t              ecap;
	/* Backup, streaming: the flusher thread runs the FLUSHes that find
	 * something to sync, so the loop thread goes on applying WRITEs
	 * meanwhile (p->mu; flusher_main). */
	pthread_t           flusher;
	bool                has_flusher;
	bool                fl_stop;
	bool                fl_busy;
	uint64_t            fl_req; /* FLUSHes handed to the flusher */
	uint64_t            fl_served; /* of those, answered */
	bool                fl_lazy; /* applied mode: sync, no ACK, paced */
	uint64_t            fl_last_ns; /* when the last lazy sync began */
	pthread_cond_t      fl_cv;
	pthread_t           thread; /* backup: session thread */
	bool                has_thread;
	struct peer        *next;
};

/*
 * A flush waiting for ACKs (hook_flush). changed is set under r->mu by
 * whatever may complete it (an ACK, a lost peer), so a waiter reading the
 * ACK off the socket itself (bt__net_conn_await) knows when to look.
 */
struct flush_waiter {
	struct flush_waiter *next;
	atomic_int           changed;
};

struct bt_blk_repl {
	bt_blk_dev *dev;
	bt_net     *net;
	bt_key     *node_key;
	bt_cred    *cred;
	char        root_path[64];
	bool        backup;
	bool        ack_applied; /* primary: FLUSHes ask "applied" */
	uint64_t    timeout_ns;
	char        addr[BT_NET_ADDR_MAX];

	pthread_mutex_t mu;
	pthread_cond_t  cv; /* ACKs, lost and new links: flushes wait */
	pthread_cond_t  rejoin_cv; /* a link failed, or stop: rejoin_main */
	struct peer    *peers;
	struct flush_waiter *waiters;
	bool            promoted;
	bool            stopping;
	uint64_t        ballot_seen;
	struct bt_dbuf  wbuf; /* on_write's encoding buffer (seq_mu) */
	pthread_t       rejoin_thread;
	bool            has_rejoin;
};

/* ------------------------------------------------------------------ */
/* Peers and their queues                                             */
/* ------------------------------------------------------------------ */

static void
peer_free(struct peer *p)
{
	struct qmsg *m;

	if (p == NULL)
		return;
	while ((m = p->head) != NULL) {
		p->head = m->next;
		bt_free(m);
	}
	if (p->conn != NULL)
		bt_net_conn_rele(p->conn);
	bt_free(p->ents);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	pthread_cond_destroy(&p->fl_cv);
	bt_free(p->addr);
	bt_free(p);
}

static struct peer *
peer_new(struct bt_blk_repl *r, const char *addr)
{
	struct peer *p = bt_zalloc(sizeof(*p));

	if (p == NULL)
		return NULL;
	p->r = r;
	p->addr = bt_strdup(addr != NULL ? addr : "?");
	if (p->addr == NULL) {
		bt_free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	pthread_cond_init(&p->fl_cv, NULL);
	return p;
}

static void on_open(void *arg, bt_net_conn *c);

/* waiters_changed tells every waiting flush to look again (r->mu held). */
static void
waiters_changed(struct bt_blk_repl *r)
{
	for (struct flush_waiter *w = r->waiters; w != NULL; w = w->next)
		atomic_store(&w->changed, 1);
}

static int  stream_msg(
     struct peer *p, uint32_t kind, const uint8_t *data, size_t len);

static void
on_frame(void *arg, bt_net_conn *c, const struct bt_net_frame *f)
{
	struct peer        *p = bt_net_conn_data(c);
	struct bt_blk_repl *r = arg;
	struct qmsg        *m;

	if (p == NULL || f->proto != REPL_PROTO)
		return;
	if (f->kind == M_ACK) {
		struct bt_serde_dec d;
		uint64_t            w;

		pthread_mutex_lock(&p->mu);
		bool streaming = p->streaming;
		pthread_mutex_unlock(&p->mu);
		if (streaming) {
			bt_serde_dec_init(
			    &d, f->payload.ptr, f->payload.len, NULL, NULL);
			if (bt_serde_get_uvarint(&d, &w) == 0) {
				pthread_mutex_lock(&r->mu);
				if (w > p->acked)
					p->acked = w;
				waiters_changed(r);
				pthread_cond_broadcast(&r->cv);
				pthread_mutex_unlock(&r->mu);
			}
			return;
		}
	}
	pthread_mutex_lock(&p->mu);
	bool inl = p->inline_apply;
	pthread_mutex_unlock(&p->mu);
	if (inl) {
		int rc;

		pthread_mutex_lock(&r->mu);
		rc = r->promoted ? BT_ECLOSED : 0;
		pthread_mutex_unlock(&r->mu);
		if (rc == 0)
			rc = stream_msg(
			    p, f->kind, f->payload.ptr, f->payload.len);
		if (rc != 0) {
			// Nothing more is applied from this link.
			pthread_mutex_lock(&p->mu);
			p->inline_apply = false;
			p->stream_rc = rc;
			pthread_mutex_unlock(&p->mu);
			bt_net_conn_close(c);
		}
		return;
	}
	m = bt_alloc(sizeof(*m) + f->payload.len);
	if (m == NULL) {
		bt_net_conn_close(c);
		return;
	}
	m->next = NULL;
	m->kind = f->kind;
	m->len = f->payload.len;
	memcpy(m->data, f->payload.ptr, f->payload.len);
	pthread_mutex_lock(&p->mu);
	if (p->tail != NULL)
		p->tail->next = m;
	else
		p->head = m;
	p->tail = m;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void
on_close(void *arg, bt_net_conn *c, int rc)
{
	struct peer        *p = bt_net_conn_data(c);
	struct bt_blk_repl *r = arg;

	if (p == NULL)
		return;
	if (rc != 0 && rc != BT_ECLOSED)
		bt_log_warn("blk", "replica link %s closed: %s", p->addr,
		    bt_strerror(rc));
	pthread_mutex_lock(&p->mu);
	p->closed = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_mutex_lock(&r->mu);
	p->failed = true;
	waiters_changed(r);
	pthread_cond_broadcast(&r->cv);
	pthread_cond_broadcast(&r->rejoin_cv);
	pthread_mutex_unlock(&r->mu);
}

static uint64_t
deadline_after(uint64_t ns)
{
	return bt_time_mono_ns() + ns;
}

static void
abs_timespec(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)((ms % 1000) * 1000000);
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* peer_recv waits for the next message of p (free with bt_free). */
static int
peer_recv(struct peer *p, uint64_t timeout_ns, struct qmsg **out)
{
	uint64_t end = deadline_after(timeout_ns);
	int      rc = 0;

	pthread_mutex_lock(&p->mu);
	while (p->head == NULL && !p->closed) {
		struct timespec ts;

		if (bt_time_mono_ns() >= end) {
			rc = -ETIMEDOUT;
			break;
		}
		abs_timespec(&ts, 100);
		pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	}
	if (rc == 0 && p->head != NULL) {
		*out = p->head;
		p->head = p->head->next;
		if (p->head == NULL)
			p->tail = NULL;
	} else if (rc == 0) {
		rc = BT_ECLOSED;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* When a message leaves (peer_send_when). */
enum send_when {
	SEND_QUEUED, /* through the loop thread */
	SEND_NOW,    /* written on this thread when the link is idle */
	SEND_LATER,  /* queued; leaves with the next push or send */
};

static int
peer_send_when(struct peer *p, uint32_t kind, const void *data, size_t len,
    enum send_when when)
{
	struct bt_net_frame f = {
		.kind = kind,
		.proto = REPL_PROTO,
		.payload = { data, len },
	};
	uint64_t end = deadline_after(p->r->timeout_ns);
	int      rc;

	// A full queue blocks the writer; writes never bypass replication.
	// (The ACKs a backup sends from the loop thread never wait: there
	// the queue could not drain while we slept, so BT_ELIMIT fails.)
	while ((rc = when == SEND_LATER ? bt_net_conn_send_later(p->conn, &f)
	            : when == SEND_NOW  ? bt_net_conn_send_now(p->conn, &f)
	                                : bt_net_conn_send(p->conn, &f))
	    == BT_ELIMIT) {
		if (p->inline_apply)
			return rc;
		if (when == SEND_LATER)
			bt_net_conn_push(p->conn); /* let it drain */
		if (bt_time_mono_ns() >= end)
			return -ETIMEDOUT;
		usleep(200);
	}
	return rc;
}

/*
 * usual_when: when a message of this kind leaves, unless its sender knows
 * better. The streaming messages are written on the sending thread when
 * the link is idle: a flush's round trip then wakes no loop thread on the
 * way out, on either side, which under CPU contention is most of it. A
 * WRITE is only queued (on_write runs inside seq_mu): its writer sends it
 * once its own client has its answer (hook_push).
 */
static enum send_when
usual_when(uint32_t kind)
{
	if (kind == M_WRITE)
		return SEND_LATER;
	if (kind == M_FLUSH || kind == M_ACK)
		return SEND_NOW;
	return SEND_QUEUED;
}

static int
peer_send(struct peer *p, uint32_t kind, const void *data, size_t len)
{
	return peer_send_when(p, kind, data, len, usual_when(kind));
}

static int
send_u64s_when(struct peer *p, uint32_t kind, const uint64_t *v, size_t n,
    enum send_when when)
{
	uint8_t        buf[64];
	struct bt_dbuf b;
	int            rc = 0;

	bt_dbuf_init(&b, sizeof(buf) * 4);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = bt_serde_put_uvarint(&b, v[i]);
	if (rc == 0)
		rc = peer_send_when(p, kind, b.ptr, b.len, when);
	bt_dbuf_fini(&b);
	return rc;
}

static int
send_u64s(struct peer *p, uint32_t kind, const uint64_t *v, size_t n)
{
	return send_u64s_when(p, kind, v, n, usual_when(kind));
}

/*
 * send_ack writes ACK(w) and remembers the highest ACK sent (backup):
 * durable says every write up to w is durable here, not only applied.
 */
static int
send_ack(struct peer *p, uint64_t w, bool durable)
{
	int rc = send_u64s(p, M_ACK, &w, 1);

	if (rc == 0) {
		pthread_mutex_lock(&p->mu);
		if (durable && w > p->ack_sent)
			p->ack_sent = w;
		if (w > p->ack_any)
			p->ack_any = w;
		pthread_mutex_unlock(&p->mu);
	}
	return rc;
}

static int
get_u64s(const struct qmsg *m, uint64_t *v, size_t n)
{
	struct bt_serde_dec d;
	int                 rc = 0;

	bt_serde_dec_init(&d, m->data, m->len, NULL, NULL);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = bt_serde_get_uvarint(&d, &v[i]);
	if (rc == 0)
		rc = bt_serde_dec_end(&d);
	return rc;
}

static int
expect(struct peer *p, uint32_t kind, struct qmsg **out)
{
	struct qmsg *m;
	int          rc;

	rc = peer_recv(p, p->r->timeout_ns, &m);
	if (rc != 0)
		return rc;
	if (m->kind != kind) {
		bt_log_error("blk",
		    "replica %s: message %u where %u was "
		    "expected",
		    p->addr, m->kind, kind);
		bt_free(m);
		return -EPROTO;
	}
	*out = m;
	return 0;
}

static void
entry_wire_put(uint8_t *w, const struct blk_entry *e)
{
	bt_put_le64(w, e->widx);
	memcpy(w + 8, e->nonce, BLK_NONCE_LEN);
	memcpy(w + 20, e->tag, BLK_TAG_LEN);
}

static void
entry_wire_get(struct blk_entry *e, const uint8_t *w)
{
	e->widx = bt_get_le64(w);
	memcpy(e->nonce, w + 8, BLK_NONCE_LEN);
	memcpy(e->tag, w + 20, BLK_TAG_LEN);
}

/* ------------------------------------------------------------------ */
/* Sync (invariant 4)                                                 */
/* ------------------------------------------------------------------ */

/* sync_target: scan, send the table, install what the source sends. */
static int
sync_target(struct peer *p, bool primary_side)
{
	bt_blk_dev    *dev = p->r->dev;
	struct blk_io *io;
	struct bt_dbuf b;
	uint64_t       bad = 0, fixed = 0, v[2];
	struct qmsg   *m = NULL;
	int            rc;

	io = bt__blk_io_get(dev, &rc);
	if (io == NULL)
		return rc;
	rc = bt__blk_io_reserve(io, 1);
	bt_dbuf_init(&b, REPL_MAX_FRAME);
	for (uint64_t s0 = 0; rc == 0 && s0 < dev->sectors;
	     s0 += TABLE_CHUNK) {
		uint64_t n = dev->sectors - s0 < TABLE_CHUNK
		    ? dev->sectors - s0
		    : TABLE_CHUNK;

		bt_dbuf_reset(&b);
		rc = bt_serde_put_uvarint(&b, s0);
		if (rc == 0)
			rc = bt_serde_put_uvarint(&b, n);
		if (rc == 0)
			rc = bt_dbuf_reserve(&b, n * ENTRY_WIRE);
		for (uint64_t i = 0; rc == 0 && i < n; i++) {
			struct blk_entry e;

			rc = bt__blk_dev_read_raw(dev, s0 + i, &e, io->buf);
			if (rc != 0)
				break;
			if (blk_entry_has_data(&e)
			    && bt__blk_sector_open(
			           dev, io, s0 + i, &e, io->buf, io->sec)
			        != 0) {
				e.widx = BAD_WIDX; /* forces a re-fetch */
				bad++;
			}
			entry_wire_put(b.ptr + b.len, &e);
			b.len += ENTRY_WIRE;
		}
		if (rc == 0)
			rc = peer_send(p, M_TABLE, b.ptr, b.len);
	}
	bt_dbuf_fini(&b);
	bt__blk_io_put(dev, io);
	if (rc == 0)
		rc = peer_send(p, M_TABLE_END, NULL, 0);
	while (rc == 0) {
		struct bt_serde_dec d;
		struct blk_entry    e;
		uint64_t            sector;
		struct bt_buf       ct;
		uint8_t             ew[ENTRY_WIRE];

		rc = peer_recv(p, p->r->timeout_ns, &m);
		if (rc != 0)
			break;
		if (m->kind == M_SYNC_DONE)
			break;
		if (m->kind != M_SECTOR) {
			rc = -EPROTO;
			break;
		}
		bt_serde_dec_init(&d, m->data, m->len, NULL, NULL);
		rc = bt_serde_get_uvarint(&d, &sector);
		if (rc == 0)
			rc = bt_serde_get_raw(&d, ew, sizeof(ew));
		if (rc == 0)
			rc = bt_serde_get_bytes(&d, &ct);
		if (rc == 0)
			rc = bt_serde_dec_end(&d);
		if (rc == 0) {
			entry_wire_get(&e, ew);
			if (blk_entry_has_data(&e) && ct.len != BLK_SS)
				rc = -EPROTO;
			else
				rc = bt__blk_dev_apply(dev, 0,
				    blk_entry_has_data(&e) ? BLK_REC_WRITE
				                           : BLK_REC_ZERO,
				    sector, 1, &e, ct.ptr);
		}
		bt_free(m);
		m = NULL;
		fixed++;
	}
	if (rc == 0)
		rc = get_u64s(m, v, 2);
	bt_free(m);
	if (rc != 0)
		return rc;
	// v = (ballot, write index) of the source: adopt both, durably.
	if (v[0] < bt_blk_dev_ballot(dev))
		v[0] = bt_blk_dev_ballot(dev);
	rc = bt__blk_dev_set_role(dev, bt_blk_dev_role(dev), v[0], v[1]);
	if (rc != 0)
		return rc;
	if (primary_side && fixed > 0)
		bt_log_warn("blk",
		    "rollback or loss detected: this disk was "
		    "behind replica %s (%llu sectors differed, %llu failed "
		    "verification); repaired from the replica, write index "
		    "now %llu",
		    p->addr, (unsigned long long)fixed,
		    (unsigned long long)bad, (unsigned long long)v[1]);
	else if (fixed > 0)
		bt_log_info("blk",
		    "caught up from %s: %llu sectors, write "
		    "index %llu",
		    p->addr, (unsigned long long)fixed,
		    (unsigned long long)v[1]);
	return peer_send(p, M_SYNC_ACK, NULL, 0);
}

/* sync_source: compare the target's table with ours, send differences. */
static int
sync_source(struct peer *p)
{
	bt_blk_dev    *dev = p->r->dev;
	struct bt_dbuf b;
	uint8_t       *ct;
	uint64_t       v[2], sent = 0;
	int            rc = 0;

	ct = bt_alloc(BLK_SS);
	if (ct == NULL)
		return -ENOMEM;
	bt_dbuf_init(&b, BLK_SS + 128);
	for (;;) {
		struct qmsg        *m;
		struct bt_serde_dec d;
		uint64_t            s0, n;

		rc = peer_recv(p, p->r->timeout_ns, &m);
		if (rc != 0)
			break;
		if (m->kind == M_TABLE_END) {
			bt_free(m);
			break;
		}
		if (m->kind != M_TABLE) {
			bt_free(m);
			rc = -EPROTO;
			break;
		}
		bt_serde_dec_init(&d, m->data, m->len, NULL, NULL);
		rc = bt_serde_get_uvarint(&d, &s0);
		if (rc == 0)
			rc = bt_serde_get_uvarint(&d, &n);
		if (rc == 0
		    && (s0 >= dev->sectors || n > dev->sectors - s0
		        || n > TABLE_CHUNK
		        || bt_serde_dec_remaining(&d) != n * ENTRY_WIRE))
			rc = -EPROTO;
		for (uint64_t i = 0; rc == 0 && i < n; i++) {
			struct blk_entry t, s;

			entry_wire_get(&t, d.ptr + d.off + i * ENTRY_WIRE);
			rc = bt__blk_dev_read_raw(dev, s0 + i, &s, ct);
			if (rc != 0)
				break;
			if (t.widx == s.widx
			    && memcmp(t.nonce, s.nonce, BLK_NONCE_LEN) == 0
			    && memcmp(t.tag, s.tag, BLK_TAG_LEN) == 0)
				continue;
			uint8_t ew[ENTRY_WIRE];

			entry_wire_put(ew, &s);
			bt_dbuf_reset(&b);
			rc = bt_serde_put_uvarint(&b, s0 + i);
			if (rc == 0)
				rc = bt_serde_put_raw(&b, ew, sizeof(ew));
			if (rc == 0)
				rc = bt_serde_put_bytes(&b, ct,
				    blk_entry_has_data(&s) ? BLK_SS : 0);
			if (rc == 0)
				rc = peer_send(p, M_SECTOR, b.ptr, b.len);
			sent++;
		}
		bt_free(m);
		if (rc != 0)
			break;
	}
	bt_dbuf_fini(&b);
	bt_free(ct);
	if (rc != 0)
		return rc;
	v[0] = bt_blk_dev_ballot(dev);
	v[1] = bt_blk_dev_write_index(dev);
	rc = send_u64s(p, M_SYNC_DONE, v, 2);
	if (rc == 0) {
		struct qmsg *m = NULL; /* expect sets it only on success */

		rc = expect(p, M_SYNC_ACK, &m);
		bt_free(m);
	}
	if (rc == 0 && sent > 0)
		bt_log_info("blk",
		    "replica %s: sent %llu sectors to bring it "
		    "up to write index %llu",
		    p->addr, (unsigned long long)sent,
		    (unsigned long long)v[1]);
	return rc;
}

/* source_is_primary: the higher (ballot, write index) is the source. */
static bool
source_is_primary(const uint64_t pri[2], const uint64_t bak[2])
{
	if (pri[0] != bak[0])
		return pri[0] > bak[0];
	return pri[1] >= bak[1];
}

/* ------------------------------------------------------------------ */
/* Primary side                                                       */
/* ------------------------------------------------------------------ */

static int
hook_write(void *arg, uint64_t widx, int type, uint64_t sector, uint32_t n,
    const struct blk_entry *ents, const uint8_t *ct)
{
	struct bt_blk_repl *r = arg;
	struct bt_dbuf     *b = &r->wbuf;
	int                 rc;

	bt_dbuf_reset(b);
	rc = bt_serde_put_uvarint(b, widx);
	if (rc == 0)
		rc = bt_serde_put_uvarint(b, (uint64_t)type);
	if (rc == 0)
		rc = bt_serde_put_uvarint(b, sector);
	if (rc == 0)
		rc = bt_serde_put_uvarint(b, n);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		rc = bt_serde_put_raw(b, ents[i].nonce, BLK_NONCE_LEN);
		if (rc == 0)
			rc = bt_serde_put_raw(b, ents[i].tag, BLK_TAG_LEN);
	}
	if (rc == 0 && type == BLK_REC_WRITE)
		rc = bt_serde_put_raw(b, ct, (size_t)n * BLK_SS);
	if (rc != 0)
		return rc;
	for (struct peer *p = r->peers; p != NULL; p = p->next) {
		if (!p->live || p->failed || p->retired)
			continue;
		if (peer_send(p, M_WRITE, b->ptr, b->len) != 0) {
			pthread_mutex_lock(&r->mu);
			p->failed = true;
			pthread_cond_broadcast(&r->cv);
			pthread_cond_broadcast(&r->rejoin_cv);
			pthread_mutex_unlock(&r->mu);
			bt_log_error("blk",
			    "replica %s is gone: flushes fail "
			    "until it is back and caught up",
			    p->addr);
		}
	}
	return 0;
}

/*
 * hook_push sends the WRITEs hook_write queued, on the calling thread when
 * the link is idle (bt_net_conn_push). A link is held, not locked, while
 * it is written, so an ACK is not kept waiting for r->mu. Peers leave the
 * list only in bt_blk_repl_stop, after the hook is cleared, so p stays
 * valid across the unlocked push.
 */
static void
hook_push(void *arg)
{
	struct bt_blk_repl *r = arg;

	pthread_mutex_lock(&r->mu);
	for (struct peer *p = r->peers; p != NULL; p = p->next) {
		bt_net_conn *c = p->conn;

		if (!p->live || p->retired || c == NULL)
			continue;
		bt_net_conn_hold(c);
		pthread_mutex_unlock(&r->mu);
		bt_net_conn_push(c);
		bt_net_conn_rele(c);
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
}

int
bt__blk_repl_send_flush_raw(bt_blk_repl *r, const void *payload, size_t len)
{
	int rc = -ENOTCONN;

	pthread_mutex_lock(&r->mu);
	for (struct peer *p = r->peers; p != NULL; p = p->next) {
		if (p->live && !p->retired && !p->failed)
			rc = peer_send(p, M_FLUSH, payload, len);
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/*
 * hook_flush_start sends FLUSH(widx) to every live backup. A backup that
 * already ACKed widx (its eager ACK, in a client's write-then-flush
 * rhythm) needs nothing from this FLUSH but its place in the stream (the
 * rhythm it learns from): it is queued and leaves with the next WRITE, in
 * the same send and the same read on the other side, instead of costing
 * a send, a wake-up and a read of its own on the flush's path.
 */
static void
hook_flush_start(void *arg, uint64_t widx)
{
	struct bt_blk_repl *r = arg;
	uint64_t            v[2] = { widx, 1 }; /* v[1]: ask "applied" */

	for (struct peer *p = r->peers; p != NULL; p = p->next) {
		enum send_when when;

		if (!p->live || p->retired || p->failed)
			continue;
		pthread_mutex_lock(&r->mu);
		when = p->acked >= widx ? SEND_LATER : SEND_NOW;
		pthread_mutex_unlock(&r->mu);
		if (send_u64s_when(p, M_FLUSH, v, r->ack_applied ? 2 : 1, when)
		    != 0) {
			pthread_mutex_lock(&r->mu);
			p->failed = true;
			pthread_cond_broadcast(&r->cv);
			pthread_cond_broadcast(&r->rejoin_cv);
			pthread_mutex_unlock(&r->mu);
		}
	}
}

/*
 * hook_flush waits for the ACKs of the FLUSH hook_flush_start sent. It
 * reads the ACK off the link itself when net/ lets it (one thread wake-up
 * less per replicated flush than sleeping until the loop thread has read
 * it: most of a flush's cost on a busy machine); otherwise, or when the
 * reading is handed back, it sleeps on r->cv as the loop thread records
 * ACKs.
 */
static int
hook_flush(void *arg, uint64_t widx)
{
	struct bt_blk_repl *r = arg;
	uint64_t            end = deadline_after(r->timeout_ns);
	struct flush_waiter w = { .next = NULL };
	int                 rc = 0;

	atomic_init(&w.changed, 0);
	pthread_mutex_lock(&r->mu);
	w.next = r->waiters;
	r->waiters = &w;
	for (;;) {
		struct peer *behind = NULL;

		for (struct peer *p = r->peers; p != NULL; p = p->next) {
			if (!p->live || p->retired)
				continue;
			if (p->failed) {
				rc = -EIO;
				break;
			}
			if (p->acked < widx && behind == NULL)
				behind = p;
		}
		if (rc != 0 || behind == NULL)
			break;
		if (bt_time_mono_ns() >= end) {
			rc = -ETIMEDOUT;
			break;
		}
		atomic_store(&w.changed, 0);
		bt_net_conn *c = behind->conn;

		bt_net_conn_hold(c);
		pthread_mutex_unlock(&r->mu);
		bool seen = bt__net_conn_await(
		    c, &w.changed, 1, end, 1ull << M_ACK);
		bt_net_conn_rele(c);
		pthread_mutex_lock(&r->mu);
		if (!seen && !atomic_load(&w.changed)) {
			struct timespec ts;

			abs_timespec(&ts, 100);
			pthread_cond_timedwait(&r->cv, &r->mu, &ts);
		}
	}
	for (struct flush_waiter **pp = &r->waiters; *pp != NULL;
	    pp = &(*pp)->next) {
		if (*pp == &w) {
			*pp = w.next;
			break;
		}
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/*
 * primary_connect links to the backup at addr, runs recovery (invariant 4)
 * and makes it live. With rejoin (a backup that came back while we serve),
 * writes are held off (quiesce) for the whole exchange, and a backup that
 * is ahead of us is refused rather than followed: a serving primary never
 * becomes a target.
 */
static int
primary_connect(
    struct bt_blk_repl *r, const char *addr, bool rejoin, struct bt_diag *diag)
{
	struct bt_net_handler h = {
		.on_frame = on_frame,
		.on_close = on_close,
		.arg = r,
	};
	struct peer *p;
	struct qmsg *m = NULL;
	uint64_t     pri[3], bak[3];
	const char  *pp;
	int          rc;

	p = peer_new(r, addr);
	if (p == NULL)
		return -ENOMEM;
	h.on_open = NULL;
	rc = bt_net_dial(r->net, addr, &h,
	    rejoin ? 2000000000ull : r->timeout_ns, &p->conn, diag);
	if (rc != 0) {
		char why[sizeof(diag->msg)];

		snprintf(why, sizeof(why), "%s",
		    diag != NULL && diag->msg[0] ? diag->msg
		                                 : bt_strerror(rc));
		bt_diag_set(diag, -1,
		    "no replica can vouch for this disk: "
		    "%s did not admit us or cannot be reached (%s)",
		    addr, why);
		peer_free(p);
		return -ENOTCONN;
	}
	bt_net_conn_set_data(p->conn, p);
	pp = bt_net_conn_peer_path(p->conn);
	// From here on p stays listed (freed by bt_blk_repl_stop after the
	// net is gone), since on_close may still reach it.
	pthread_mutex_lock(&r->mu);
	p->next = r->peers;
	r->peers = p;
	pthread_mutex_unlock(&r->mu);
	if (pp == NULL || !bt_path_within(pp, r->root_path)) {
		bt_diag_set(diag, -1,
		    "replica %s is not of this device "
		    "(path %s)",
		    addr, pp ? pp : "anonymous");
		p->failed = true;
		bt_net_conn_close(p->conn);
		return BT_EPERM;
	}
	// Frames may have arrived before set_data: the peer speaks only
	// after our HELLO, so none did.
	if (rejoin)
		pthread_rwlock_wrlock(&r->dev->quiesce);
	pri[0] = bt_blk_dev_ballot(r->dev);
	pri[1] = bt_blk_dev_write_index(r->dev);
	pri[2] = r->dev->sectors;
	rc = send_u64s(p, M_HELLO, pri, 3);
	if (rc == 0)
		rc = expect(p, M_HELLO, &m);
	if (rc == 0)
		rc = get_u64s(m, bak, 3);
	bt_free(m);
	if (rc == 0 && bak[2] != pri[2]) {
		bt_diag_set(diag, -1,
		    "replica %s has %llu sectors, this disk "
		    "%llu",
		    addr, (unsigned long long)bak[2],
		    (unsigned long long)pri[2]);
		rc = -EINVAL;
	} else if (rc == 0) {
		if (source_is_primary(pri, bak)) {
			rc = sync_source(p);
		} else if (rejoin) {
			bt_log_error("blk",
			    "replica %s is ahead of this serving "
			    "primary (ballot %llu, write index %llu): this "
			    "primary is stale; restart it to recover",
			    addr, (unsigned long long)bak[0],
			    (unsigned long long)bak[1]);
			rc = -ESTALE;
		} else {
			rc = sync_target(p, true);
		}
		if (rc != 0)
			bt_diag_set(diag, -1,
			    "recovery with replica %s failed: "
			    "%s",
			    addr, bt_strerror(rc));
	} else {
		bt_diag_set(diag, -1, "replica %s: handshake failed: %s", addr,
		    bt_strerror(rc));
	}
	if (rc != 0) {
		if (rejoin)
			pthread_rwlock_unlock(&r->dev->quiesce);
		p->failed = true;
		p->retired = true;
		bt_net_conn_close(p->conn);
		return rc;
	}
	pthread_mutex_lock(&p->mu);
	p->streaming = true;
	pthread_mutex_unlock(&p->mu);
	pthread_mutex_lock(&r->mu);
	p->acked = bt_blk_dev_write_index(r->dev);
	// The older, failed links to the same backup give way to this one.
	for (struct peer *o = p->next; o != NULL; o = o->next) {
		if (strcmp(o->addr, addr) == 0)
			o->retired = true;
	}
	p->live = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (rejoin)
		pthread_rwlock_unlock(&r->dev->quiesce);
	bt_log_info("blk", "replica %s %s at write index %llu", addr,
	    rejoin ? "is back and in sync" : "in sync",
	    (unsigned long long)p->acked);
	return 0;
}

/* rejoin_main: every half second, bring failed backups back. */
static void *
rejoin_main(void *arg)
{
	struct bt_blk_repl *r = arg;

	pthread_mutex_lock(&r->mu);
	while (!r->stopping) {
		struct timespec ts;
		char            addrs[8][BT_NET_ADDR_MAX];
		int             n = 0;

		// Its own condition variable: r->cv is broadcast at every ACK,
		// and waking this thread for each was a context switch per
		// replicated flush.
		abs_timespec(&ts, 500);
		pthread_cond_timedwait(&r->rejoin_cv, &r->mu, &ts);
		if (r->stopping)
			break;
		for (struct peer *p = r->peers; p != NULL && n < 8;
		     p = p->next) {
			if (p->live && p->failed && !p->retired)
				snprintf(addrs[n++], BT_NET_ADDR_MAX, "%s",
				    p->addr);
		}
		pthread_mutex_unlock(&r->mu);
		for (int i = 0; i < n; i++) {
			struct bt_diag diag;

			bt_diag_clear(&diag);
			(void)primary_connect(r, addrs[i], true, &diag);
		}
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Backup side                                                        */
/* ------------------------------------------------------------------ */

/*
 * eager_flush_due: whether the backup should make what it applied durable
 * now, before the FLUSH that is likely to follow arrives. When the last
 * two FLUSHes each came after the same small number k of WRITEs (a
 * database's commit, fio's fsync after every write) and the k-th WRITE
 * since the last FLUSH has just been applied, the next message is most
 * likely that FLUSH: syncing now overlaps our fdatasync with the
 * primary's reply to its client and the client's flush request, instead
 * of starting it a network hop after the primary's own. Its ACK is sent
 * as soon as the sync is done, so the primary usually holds it before its
 * own fdatasync ends; the FLUSH that follows finds it sent and needs no
 * answer. A wrong guess costs one fdatasync and breaks the rhythm (the
 * next FLUSH covers k + 1), so an irregular stream, or one without
 * flushes, never syncs eagerly. This changes when data becomes durable
 * here and when the ACK saying so leaves, not what an ACK promises
 * (invariant 3).
 */
/*
 * The backup's flusher. A FLUSH that finds nothing to sync (the eager
 * flush below made it all durable) is ACKed on the loop thread at once; one
 * that has to sync is handed to the flusher thread, so the loop thread
 * goes on applying the WRITEs that follow while the fdatasync runs (it used
 * to wait for it: with a database's stream of writes and commits, the
 * writes after a commit were applied only after its sync, and the next
 * commit's sync after them). FLUSHes that arrive while one syncs are
 * answered together by the next sync (one fdatasync). The flusher ACKs
 * what bt__blk_flush_local covered: every WRITE applied before it cut its
 * commit point, which includes every WRITE before each FLUSH it answers
 * (applied in order on the loop thread before that FLUSH was taken), so
 * invariant 3 holds.
 */
static bool
flusher_busy(struct peer *p)
{
	bool busy;

	pthread_mutex_lock(&p->mu);
	busy = p->has_flusher && (p->fl_busy || p->fl_req > p->fl_served);
	pthread_mutex_unlock(&p->mu);
	return busy;
}

/* flusher_take hands a FLUSH to the flusher; false: answer it here (it
 * finds nothing to sync, or there is no flusher). lazy: a paced sync with
 * no ACK (the FLUSH asked only "applied"). Loop thread. */
static bool
flusher_take(struct peer *p, bool lazy)
{
	bt_blk_dev *dev = p->r->dev;
	bool        dirty = true, wake;

	pthread_mutex_lock(&p->mu);
	if (!p->has_flusher || p->fl_stop) {
		pthread_mutex_unlock(&p->mu);
		return false;
	}
	p->fl_lazy = lazy;
	if (p->fl_busy || p->fl_req > p->fl_served)
		goto take;
	pthread_mutex_unlock(&p->mu);
	// Nothing else flushes now (only this thread hands work over): a
	// held flush_mu means some other flush runs, and then we sync too.
	if (pthread_mutex_trylock(&dev->flush_mu) == 0) {
		pthread_mutex_lock(&dev->seq_mu);
		dirty = dev->jslot != dev->commit_slot;
		pthread_mutex_unlock(&dev->seq_mu);
		pthread_mutex_unlock(&dev->flush_mu);
	}
	if (!dirty)
		return false;
	pthread_mutex_lock(&p->mu);
take:
	// A lazy sync that has not begun covers this one too, and a running
	// one is followed by the next without a signal: only an idle
	// flusher needs waking (each wake-up is a context switch).
	wake = !lazy || !(p->fl_busy || p->fl_req > p->fl_served);
	p->fl_req++;
	if (wake)
		pthread_cond_signal(&p->fl_cv);
	pthread_mutex_unlock(&p->mu);
	return true;
}

static void *
flusher_main(void *arg)
{
	struct peer *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		uint64_t req, w = 0;
		bool     lazy;
		int      rc;

		while (!p->fl_stop && p->fl_req <= p->fl_served)
			pthread_cond_wait(&p->fl_cv, &p->mu);
		if (p->fl_stop)
			break;
		// A lazy sync waits out its period first, so FLUSHes that come
		// meanwhile share it: at most one fdatasync per period.
		lazy = p->fl_lazy;
		if (lazy) {
			uint64_t due = p->fl_last_ns
			    + BT_BLK_APPLIED_SYNC_MS * 1000000ull;
			struct timespec ts;

			if (bt_time_mono_ns() < due) {
				abs_timespec(&ts,
				    (due - bt_time_mono_ns()) / 1000000 + 1);
				pthread_cond_timedwait(&p->fl_cv, &p->mu, &ts);
				continue;
			}
			p->fl_last_ns = bt_time_mono_ns();
		}
		req = p->fl_req;
		p->fl_busy = true;
		pthread_mutex_unlock(&p->mu);
		rc = bt__blk_flush_local(p->r->dev, 0, &w);
		if (rc == 0 && !lazy)
			rc = send_ack(p, w, true);
		pthread_mutex_lock(&p->mu);
		p->fl_busy = false;
		p->fl_served = req;
		if (rc != 0) {
			// The link is no good without its flushes.
			if (p->stream_rc == 0)
				p->stream_rc = rc;
			p->inline_apply = false;
			pthread_mutex_unlock(&p->mu);
			bt_net_conn_close(p->conn);
			pthread_mutex_lock(&p->mu);
			break;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

#define EAGER_FLUSH_MAX_K 4u

static bool
eager_flush_due(const struct peer *p)
{
	return p->rhythm[0] != 0 && p->rhythm[0] <= EAGER_FLUSH_MAX_K
	    && p->rhythm[1] == p->rhythm[0] && p->since_flush == p->rhythm[0];
}

/*
 * stream_msg applies one message of the write stream on a backup: a WRITE
 * is verified and applied in order (invariants 1 and 2), a FLUSH makes
 * everything applied durable and is ACKed (invariant 3). Runs on the
 * session thread until recovery ends, then on the loop thread.
 */
static int
stream_msg(struct peer *p, uint32_t kind, const uint8_t *data, size_t len)
{
	bt_blk_dev         *dev = p->r->dev;
	struct bt_serde_dec d;
	uint64_t            v[4];
	int                 rc = 0;

	if (kind == M_FLUSH) {
		uint64_t w;
		bool     applied = false, covered;

		// FLUSH(widx [, 1 = ask "applied", invariant 3])
		bt_serde_dec_init(&d, data, len, NULL, NULL);
		rc = bt_serde_get_uvarint(&d, &v[0]);
		if (rc == 0 && bt_serde_dec_remaining(&d) > 0) {
			rc = bt_serde_get_uvarint(&d, &v[1]);
			if (rc == 0 && v[1] > 1)
				rc = -EPROTO;
			applied = rc == 0 && v[1] == 1;
		}
		if (rc == 0)
			rc = bt_serde_dec_end(&d);
		p->rhythm[1] = p->rhythm[0];
		p->rhythm[0] = p->since_flush;
		p->since_flush = 0;
		if (rc != 0)
			return rc;
		// After an eager flush (below) its ACK already covers this
		// FLUSH: the primary has it, or will before anything later.
		pthread_mutex_lock(&p->mu);
		p->applied_mode = applied;
		covered = (applied ? p->ack_any : p->ack_sent) >= v[0];
		pthread_mutex_unlock(&p->mu);
		if (applied) {
			// Every write up to v[0] was applied before this FLUSH
			// (in order); ACK that now, and sync within the period.
			rc = covered ? 0 : send_ack(p, v[0], false);
			if (rc == 0 && !flusher_take(p, true))
				rc = bt__blk_flush_local(dev, 0, &w);
			return rc;
		}
		if (covered || flusher_take(p, false))
			return 0;
		rc = bt__blk_flush_local(dev, 0, &w);
		if (rc == 0)
			rc = send_ack(p, w, true);
		return rc;
	}
	if (kind != M_WRITE)
		return -EPROTO;
	bt_serde_dec_init(&d, data, len, NULL, NULL);
	for (int i = 0; i < 4 && rc == 0; i++)
		rc = bt_serde_get_uvarint(&d, &v[i]);
	// v = widx, type, first sector, count
	if (rc == 0
	    && (v[0] != bt_blk_dev_write_index(dev) + 1
	        || (v[1] != BLK_REC_WRITE && v[1] != BLK_REC_ZERO) || v[3] == 0
	        || v[3] > BT_BLK_REQ_MAX / BLK_SS
	        || bt_serde_dec_remaining(&d)
	            != v[3] * 28 + (v[1] == BLK_REC_WRITE ? v[3] * BLK_SS : 0))) {
		bt_log_error("blk",
		    "primary %s sent write %llu out of order or "
		    "malformed (expected %llu)",
		    p->addr, (unsigned long long)v[0],
		    (unsigned long long)(bt_blk_dev_write_index(dev) + 1));
		rc = -EPROTO;
	}
	if (rc == 0 && p->ecap < v[3]) {
		bt_free(p->ents);
		p->ents = bt_calloc(v[3], sizeof(*p->ents));
		p->ecap = p->ents != NULL ? v[3] : 0;
		if (p->ents == NULL)
			rc = -ENOMEM;
	}
	for (uint64_t i = 0; rc == 0 && i < v[3]; i++) {
		const uint8_t *w = d.ptr + d.off + i * 28;

		memcpy(p->ents[i].nonce, w, BLK_NONCE_LEN);
		memcpy(p->ents[i].tag, w + BLK_NONCE_LEN, BLK_TAG_LEN);
		p->ents[i].widx = v[0];
	}
	if (rc == 0)
		rc = bt__blk_dev_apply(dev, v[0], (int)v[1], v[2],
		    (uint32_t)v[3], p->ents, d.ptr + d.off + v[3] * 28);
	if (rc == 0 && p->since_flush < UINT32_MAX)
		p->since_flush++;
	// The eager flush's ACK goes out at once: the primary, whose own
	// fdatasync usually ends after ours, then finds it there when its
	// client's FLUSH comes, instead of a round trip after its sync. When
	// FLUSHes ask only "applied", the ACK needs no sync: it leaves now,
	// and the flusher gets its paced sync here, not from the FLUSH: the
	// primary holds a FLUSH this ACK covers until its next WRITE, which
	// may never come.
	if (rc == 0 && eager_flush_due(p) && p->applied_mode) {
		uint64_t w = 0;

		rc = send_ack(p, v[0], false);
		if (rc == 0 && !flusher_take(p, true))
			rc = bt__blk_flush_local(dev, 0, &w);
	} else if (rc == 0 && eager_flush_due(p) && !flusher_busy(p)) {
		uint64_t w = 0;

		rc = bt__blk_flush_local(dev, 0, &w);
		if (rc == 0)
			rc = send_ack(p, w, true);
	}
	return rc;
}

/*
 * backup_stream applies what queued during recovery, then hands the
 * stream to the loop thread (on_frame) and waits for the link to end.
 * Applying where the bytes arrive saves two thread wake-ups per message,
 * most of a flush's round trip on a busy machine. The hand-over happens
 * under p->mu with the queue empty, so the order is kept.
 */
static int
backup_stream(struct peer *p)
{
	struct bt_blk_repl *r = p->r;
	int                 rc = 0;

	for (;;) {
		struct qmsg *m;

		pthread_mutex_lock(&p->mu);
		m = p->head;
		if (m == NULL) {
			if (!p->closed) {
				p->inline_apply = true;
				if (!p->has_flusher
				    && pthread_create(&p->flusher, NULL,
				           flusher_main, p)
				        == 0)
					p->has_flusher = true;
			}
			pthread_mutex_unlock(&p->mu);
			break;
		}
		p->head = m->next;
		if (p->head == NULL)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		pthread_mutex_lock(&r->mu);
		rc = r->promoted ? BT_ECLOSED : 0;
		pthread_mutex_unlock(&r->mu);
		if (rc == 0)
			rc = stream_msg(p, m->kind, m->data, m->len);
		bt_free(m);
		if (rc != 0)
			return rc;
	}
	pthread_mutex_lock(&p->mu);
	while (!p->closed)
		pthread_cond_wait(&p->cv, &p->mu);
	rc = p->stream_rc != 0 ? p->stream_rc : BT_ECLOSED;
	p->fl_stop = true;
	pthread_cond_signal(&p->fl_cv);
	pthread_mutex_unlock(&p->mu);
	if (p->has_flusher) {
		pthread_join(p->flusher, NULL);
		pthread_mutex_lock(&p->mu);
		p->has_flusher = false;
		pthread_mutex_unlock(&p->mu);
	}
	return rc;
}

static void *
backup_session(void *arg)
{
	struct peer        *p = arg;
	struct bt_blk_repl *r = p->r;
	struct qmsg        *m = NULL;
	uint64_t            pri[3], bak[3];
	int                 rc;

	rc = expect(p, M_HELLO, &m);
	if (rc == 0)
		rc = get_u64s(m, pri, 3);
	bt_free(m);
	if (rc == 0) {
		pthread_mutex_lock(&r->mu);
		if (pri[0] > r->ballot_seen)
			r->ballot_seen = pri[0];
		pthread_mutex_unlock(&r->mu);
		bak[0] = bt_blk_dev_ballot(r->dev);
		bak[1] = bt_blk_dev_write_index(r->dev);
		bak[2] = r->dev->sectors;
		rc = send_u64s(p, M_HELLO, bak, 3);
	}
	if (rc == 0 && pri[2] != bak[2])
		rc = -EINVAL;
	if (rc == 0) {
		if (source_is_primary(pri, bak))
			rc = sync_target(p, false);
		else
			rc = sync_source(p);
	}
	if (rc == 0) {
		bt_log_info("blk",
		    "primary %s connected; streaming from write "
		    "index %llu",
		    p->addr,
		    (unsigned long long)bt_blk_dev_write_index(r->dev));
		rc = backup_stream(p);
	}
	if (rc != 0 && rc != BT_ECLOSED)
		bt_log_warn("blk", "primary link %s ended: %s", p->addr,
		    bt_strerror(rc));
	bt_net_conn_close(p->conn);
	return NULL;
}

static void
on_open(void *arg, bt_net_conn *c)
{
	struct bt_blk_repl *r = arg;
	struct peer        *p;
	const char         *pp = bt_net_conn_peer_path(c);

	if (pp == NULL || !bt_path_within(pp, r->root_path)) {
		bt_log_warn("blk",
		    "refused replica peer %s: path %s is not "
		    "within %s",
		    bt_net_conn_addr(c), pp ? pp : "anonymous", r->root_path);
		bt_net_conn_close(c);
		return;
	}
	pthread_mutex_lock(&r->mu);
	if (r->promoted || r->stopping) {
		pthread_mutex_unlock(&r->mu);
		bt_net_conn_close(c);
		return;
	}
	pthread_mutex_unlock(&r->mu);
	p = peer_new(r, bt_net_conn_addr(c));
	if (p == NULL) {
		bt_net_conn_close(c);
		return;
	}
	bt_net_conn_hold(c);
	p->conn = c;
	bt_net_conn_set_data(c, p);
	pthread_mutex_lock(&r->mu);
	p->next = r->peers;
	r->peers = p;
	if (pthread_create(&p->thread, NULL, backup_session, p) == 0)
		p->has_thread = true;
	else
		bt_net_conn_close(c);
	pthread_mutex_unlock(&r->mu);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                         */
/* ------------------------------------------------------------------ */

static int
identity_files(struct bt_blk_repl *r, const struct bt_blk_repl_config *cfg,
    struct bt_diag *diag)
{
	struct bt_principal rp, kp, cp;
	char                rs[BT_PRINCIPAL_STR_LEN + 1];
	int                 rc;

	rc = bt_key_load(&r->node_key, cfg->node_key_path, diag);
	if (rc == 0)
		rc = bt_cred_load(&r->cred, cfg->node_cred_path, diag);
	if (rc != 0)
		return rc;
	bt_key_principal(r->node_key, &kp);
	bt_cred_principal(r->cred, &cp);
	if (!bt_principal_equal(&kp, &cp)) {
		bt_diag_set(diag, -1,
		    "credential '%s' is not issued to key "
		    "'%s'",
		    cfg->node_cred_path, cfg->node_key_path);
		return -EINVAL;
	}
	bt_cred_root(r->cred, &rp);
	bt_principal_to_str(&rp, rs);
	snprintf(r->root_path, sizeof(r->root_path), "/%s", rs);
	return 0;
}

static int
identity(struct bt_blk_repl *r, const uint8_t key[32], struct bt_diag *diag)
{
	uint8_t             seed[32];
	bt_key             *root = NULL;
	struct bt_principal rp, np;
	char                rs[BT_PRINCIPAL_STR_LEN + 1];
	int64_t             now = bt_time_now_s();
	int                 rc;

	rc = bt__blk_derive(key, "blocktree blk root", seed);
	if (rc == 0)
		rc = bt_key_from_seed(&root, BT_KEY_ED25519, seed);
	bt_zeroize(seed, sizeof(seed));
	if (rc == 0)
		rc = bt_key_generate(&r->node_key, BT_KEY_ED25519);
	if (rc != 0)
		goto out;
	bt_key_principal(root, &rp);
	bt_principal_to_str(&rp, rs);
	snprintf(r->root_path, sizeof(r->root_path), "/%s", rs);
	bt_key_principal(r->node_key, &np);
	{
		char path[96];

		snprintf(path, sizeof(path), "/%s/blk", rs);
		rc = bt_cred_issue(&r->cred, root, NULL, &np, path, now - 3600,
		    now + 10 * 365 * 86400LL);
	}
	if (rc != 0)
		bt_diag_set(diag, -1, "cannot issue the node credential: %s",
		    bt_strerror(rc));
out:
	bt_key_free(root);
	return rc;
}

int
bt_blk_repl_start(bt_blk_repl **out, bt_blk_dev *dev,
    const struct bt_blk_repl_config *cfg, struct bt_diag *diag)
{
	struct bt_blk_repl  *r;
	struct bt_net_config nc;
	char                 path[BT_PATH_MAX];
	int                  rc;

	if (cfg == NULL || cfg->version != 1)
		return -EINVAL;
	r = bt_zalloc(sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->dev = dev;
	r->backup = cfg->listen != NULL;
	r->ack_applied = cfg->ack_applied;
	r->timeout_ns
	    = cfg->timeout_ns ? cfg->timeout_ns : 30ull * 1000000000ull;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	pthread_cond_init(&r->rejoin_cv, NULL);
	bt_dbuf_init(&r->wbuf, REPL_MAX_FRAME);
	if ((cfg->node_key_path == NULL) != (cfg->node_cred_path == NULL)) {
		bt_diag_set(diag, -1, "--key and --cred go together");
		rc = -EINVAL;
		goto err;
	}
	if (cfg->node_key_path != NULL)
		rc = identity_files(r, cfg, diag);
	else
		rc = identity(r, cfg->key, diag);
	if (rc != 0)
		goto err;
	snprintf(path, sizeof(path), "%s",
	    cfg->node_key_path != NULL ? bt_cred_path(r->cred) : "");
	if (cfg->node_key_path == NULL)
		snprintf(path, sizeof(path), "%s/blk", r->root_path);
	memset(&nc, 0, sizeof(nc));
	nc.version = 1;
	nc.key = r->node_key;
	nc.cred = r->cred;
	nc.path = path;
	nc.max_frame = REPL_MAX_FRAME;
	nc.send_queue_max = REPL_QUEUE_MAX;
	nc.allow_anonymous = false;
	rc = bt_net_new(&r->net, &nc, diag);
	if (rc != 0)
		goto err;
	if (r->backup) {
		struct bt_net_handler h = {
			.on_open = on_open,
			.on_frame = on_frame,
			.on_close = on_close,
			.arg = r,
		};

		if (bt_blk_dev_role(dev) != BT_BLK_ROLE_BACKUP) {
			rc = bt__blk_dev_set_role(dev, BT_BLK_ROLE_BACKUP,
			    bt_blk_dev_ballot(dev), 0);
			if (rc != 0)
				goto err;
		}
		r->ballot_seen = bt_blk_dev_ballot(dev);
		rc = bt_net_listen(r->net, cfg->listen, &h, r->addr,
		    sizeof(r->addr), NULL, diag);
		if (rc != 0)
			goto err;
	} else {
		struct blk_hook hook = {
			.arg = r,
			.on_write = hook_write,
			.on_flush = hook_flush,
			.on_flush_start = hook_flush_start,
			.on_push = hook_push,
		};

		if (bt_blk_dev_role(dev) != BT_BLK_ROLE_PRIMARY) {
			bt_diag_set(diag, -1,
			    "this disk is a backup; promote "
			    "it, or serve it with --backup");
			rc = -EINVAL;
			goto err;
		}
		for (size_t i = 0; i < cfg->nreplicas; i++) {
			rc = primary_connect(r, cfg->replicas[i], false, diag);
			if (rc != 0)
				goto err;
		}
		bt__blk_dev_set_hook(dev, &hook);
		if (cfg->nreplicas > 0
		    && pthread_create(&r->rejoin_thread, NULL, rejoin_main, r)
		        == 0)
			r->has_rejoin = true;
	}
	*out = r;
	return 0;
err:
	bt_blk_repl_stop(r);
	return rc;
}

const char *
bt_blk_repl_addr(const bt_blk_repl *r)
{
	return r->backup ? r->addr : NULL;
}

int
bt_blk_repl_promote(bt_blk_repl *r)
{
	uint64_t ballot;
	int      rc;

	pthread_mutex_lock(&r->mu);
	if (!r->backup || r->promoted) {
		pthread_mutex_unlock(&r->mu);
		return -EINVAL;
	}
	r->promoted = true;
	ballot = r->ballot_seen;
	if (bt_blk_dev_ballot(r->dev) > ballot)
		ballot = bt_blk_dev_ballot(r->dev);
	for (struct peer *p = r->peers; p != NULL; p = p->next)
		bt_net_conn_close(p->conn);
	pthread_mutex_unlock(&r->mu);
	// Wait for the session threads so no write lands after the switch.
	for (struct peer *p = r->peers; p != NULL; p = p->next) {
		if (p->has_thread) {
			pthread_join(p->thread, NULL);
			p->has_thread = false;
		}
	}
	rc = bt__blk_dev_set_role(r->dev, BT_BLK_ROLE_PRIMARY, ballot + 1, 0);
	if (rc == 0)
		bt_log_info("blk",
		    "promoted to primary: ballot %llu, write "
		    "index %llu",
		    (unsigned long long)(ballot + 1),
		    (unsigned long long)bt_blk_dev_write_index(r->dev));
	return rc;
}

int
bt_blk_repl_status(bt_blk_repl *r, struct bt_dbuf *out)
{
	uint64_t w = bt_blk_dev_write_index(r->dev);
	int      rc;

	rc = bt_dbuf_printf(out, "role: %s\nballot: %llu\nwrite index: %llu\n",
	    bt_blk_dev_role(r->dev) == BT_BLK_ROLE_BACKUP ? "backup"
	                                                  : "primary",
	    (unsigned long long)bt_blk_dev_ballot(r->dev),
	    (unsigned long long)w);
	if (rc == 0 && r->backup)
		rc = bt_dbuf_printf(out, "replica address: %s\n", r->addr);
	pthread_mutex_lock(&r->mu);
	if (rc == 0 && !r->backup && r->peers == NULL)
		rc = bt_dbuf_printf(out, "replicas: none\n");
	else if (rc == 0 && !r->backup)
		rc = bt_dbuf_printf(out, "replica ack: %s\n",
		    r->ack_applied ? "applied" : "durable");
	for (struct peer *p = r->peers; rc == 0 && p != NULL; p = p->next) {
		if (p->retired)
			continue;
		if (r->backup)
			rc = bt_dbuf_printf(out, "primary: %s%s\n", p->addr,
			    p->closed ? " (disconnected)" : "");
		else
			rc = bt_dbuf_printf(out,
			    "replica: %s acked %llu lag %llu"
			    "%s\n",
			    p->addr, (unsigned long long)p->acked,
			    (unsigned long long)(w > p->acked ? w - p->acked
			                                      : 0),
			    p->failed ? " FAILED" : "");
	}
	pthread_mutex_unlock(&r->mu);
	if (rc == 0)
		rc = bt__blk_flush_stats(r->dev, out);
	return rc;
}

void
bt_blk_repl_stop(bt_blk_repl *r)
{
	struct peer *p;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stopping = true;
	pthread_cond_broadcast(&r->cv);
	pthread_cond_broadcast(&r->rejoin_cv);
	pthread_mutex_unlock(&r->mu);
	if (r->has_rejoin)
		pthread_join(r->rejoin_thread, NULL);
	bt__blk_dev_set_hook(r->dev, NULL);
	pthread_mutex_lock(&r->mu);
	for (p = r->peers; p != NULL; p = p->next) {
		if (p->conn != NULL)
			bt_net_conn_close(p->conn);
	}
	pthread_mutex_unlock(&r->mu);
	for (p = r->peers; p != NULL; p = p->next) {
		if (p->has_thread)
			pthread_join(p->thread, NULL);
	}
	bt_net_free(r->net);
	while ((p = r->peers) != NULL) {
		r->peers = p->next;
		peer_free(p);
	}
	bt_key_free(r->node_key);
	bt_cred_free(r->cred);
	bt_dbuf_fini(&r->wbuf);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	pthread_cond_destroy(&r->rejoin_cv);
	bt_free(r);
}
