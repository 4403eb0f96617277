/*
 * blk/repl_test.c: what a backup's ACK of a flush means (repl.c,
 * invariant 3), checked with a primary and a backup in one process over
 * TLS on loopback. The backup's fdatasync is held at a gate: a flush
 * acknowledged in the default (durable) mode must wait for it, one in
 * ack_applied mode must not, and the applied backup must still sync on its
 * own. A FLUSH whose fields do not parse ends the link.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blk_int.h"
#include "bt/blk.h"
#include "bt/serde.h"
#include "testing.h"

#define SECTORS 64u
#define SIZE    ((uint64_t)SECTORS * BT_BLK_SECTOR_SIZE)
#define SLOW_NS (10ull * 1000000000ull) /* the flushes' ack timeout */

/* The gate on the backup's data file: open() records its fds, fdatasync
 * on them waits while the gate is shut and counts the calls. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	char           *path;
	int             fds[8];
	int             nfds;
	bool            shut;
	int             held; /* fdatasyncs that reached the shut gate */
} gate = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static struct bt_os_ops gate_ops;

static int
g_open(const char *path, int flags, mode_t mode)
{
	int fd = bt_os_default_ops()->open(path, flags, mode);

	pthread_mutex_lock(&gate.mu);
	if (fd >= 0 && gate.path != NULL && strcmp(path, gate.path) == 0
	    && gate.nfds < 8)
		gate.fds[gate.nfds++] = fd;
	pthread_mutex_unlock(&gate.mu);
	return fd;
}

static int
g_fdatasync(int fd)
{
	pthread_mutex_lock(&gate.mu);
	for (int i = 0; i < gate.nfds; i++) {
		if (gate.fds[i] != fd || !gate.shut)
			continue;
		gate.held++;
		pthread_cond_broadcast(&gate.cv);
		while (gate.shut)
			pthread_cond_wait(&gate.cv, &gate.mu);
		break;
	}
	pthread_mutex_unlock(&gate.mu);
	return bt_os_default_ops()->fdatasync(fd);
}

static void
gate_set(bool shut)
{
	pthread_mutex_lock(&gate.mu);
	gate.shut = shut;
	gate.held = 0;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.mu);
}

/* gate_wait_held: whether an fdatasync reached the shut gate within ms. */
static bool
gate_wait_held(unsigned ms)
{
	struct timespec ts;
	bool            held;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&gate.mu);
	while (gate.held == 0
	    && pthread_cond_timedwait(&gate.cv, &gate.mu, &ts) == 0)
		;
	held = gate.held > 0;
	pthread_mutex_unlock(&gate.mu);
	return held;
}

struct pair {
	char        *dir;
	char        *bdata; /* the gate's path */
	bt_blk_dev  *pdev, *bdev;
	bt_blk_repl *prep, *brep;
};

static void
pair_start(struct pair *p, bool ack_applied)
{
	uint8_t     key[BT_BLK_KEY_LEN];
	char       *pdata, *bdata;
	const char *addr;

	gate_set(false); /* a failed test may have left it shut */
	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 5 + 3);
	memset(p, 0, sizeof(*p));
	p->dir = bt_test_tmpdir();
	pdata = bt_test_path(p->dir, "p.img");
	bdata = bt_test_path(p->dir, "b.img");
	assert_int_equal(bt_blk_dev_create(
	                     pdata, SIZE, key, BT_BLK_ROLE_PRIMARY, NULL),
	    0);
	assert_int_equal(
	    bt_blk_dev_create(bdata, SIZE, key, BT_BLK_ROLE_BACKUP, NULL), 0);
	pthread_mutex_lock(&gate.mu);
	gate.path = bdata;
	gate.nfds = 0;
	pthread_mutex_unlock(&gate.mu);
	p->bdata = bdata;
	gate_ops = *bt_os_default_ops();
	gate_ops.open = g_open;
	gate_ops.fdatasync = g_fdatasync;
	bt_os_set_ops(&gate_ops);
	assert_int_equal(bt_blk_dev_open(&p->pdev, pdata, key, NULL), 0);
	assert_int_equal(bt_blk_dev_open(&p->bdev, bdata, key, NULL), 0);
	assert_true(gate.nfds > 0);

	struct bt_blk_repl_config bc = {
		.version = 1,
		.listen = "127.0.0.1:0",
		.timeout_ns = SLOW_NS,
	};
	memcpy(bc.key, key, sizeof(key));
	assert_int_equal(bt_blk_repl_start(&p->brep, p->bdev, &bc, NULL), 0);
	addr = bt_blk_repl_addr(p->brep);

	struct bt_blk_repl_config pc = {
		.version = 1,
		.replicas = &addr,
		.nreplicas = 1,
		.timeout_ns = SLOW_NS,
		.ack_applied = ack_applied,
	};
	memcpy(pc.key, key, sizeof(key));
	assert_int_equal(bt_blk_repl_start(&p->prep, p->pdev, &pc, NULL), 0);
	bt_free(pdata);
}

static void
pair_stop(struct pair *p)
{
	gate_set(false);
	bt_blk_repl_stop(p->prep);
	bt_blk_dev_close(p->pdev);
	bt_blk_repl_stop(p->brep);
	bt_blk_dev_close(p->bdev);
	bt_os_set_ops(NULL);
	pthread_mutex_lock(&gate.mu);
	gate.path = NULL;
	gate.nfds = 0;
	pthread_mutex_unlock(&gate.mu);
	bt_free(p->bdata);
	bt_test_tmpdir_remove(p->dir);
}

static void
write_sector(bt_blk_dev *dev, unsigned s, unsigned seed)
{
	uint8_t buf[BT_BLK_SECTOR_SIZE];

	memset(buf, (int)seed, sizeof(buf));
	assert_int_equal(bt_blk_dev_write(dev, buf, sizeof(buf),
	                     (uint64_t)s * BT_BLK_SECTOR_SIZE, 0),
	    0);
}

/* flush_rhythm: n write+flush pairs, sectors 0..n-1 (the rhythm a backup
 * learns, so it ACKs the next write eagerly). */
static void
flush_rhythm(bt_blk_dev *dev, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		write_sector(dev, i, i + 1);
		assert_int_equal(bt_blk_dev_flush(dev), 0);
	}
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct flusher {
	bt_blk_dev *dev;
	int         rc;
	bool        done;
	pthread_mutex_t mu;
};

static void *
flush_main(void *arg)
{
	struct flusher *f = arg;
	int             rc = bt_blk_dev_flush(f->dev);

	pthread_mutex_lock(&f->mu);
	f->rc = rc;
	f->done = true;
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/*
 * Durable (the default): with the backup's fdatasync held, a flush stays
 * unanswered; once the backup may sync, it succeeds.
 */
static void
test_durable_flush_waits_for_the_backup_sync(void **state)
{
	struct pair    p;
	struct flusher f = { .mu = PTHREAD_MUTEX_INITIALIZER };
	pthread_t      t;
	bool           done;

	(void)state;
	pair_start(&p, false);
	flush_rhythm(p.pdev, 3);
	gate_set(true);
	write_sector(p.pdev, 7, 9);
	f.dev = p.pdev;
	assert_int_equal(pthread_create(&t, NULL, flush_main, &f), 0);
	assert_true(gate_wait_held(5000));
	struct timespec pause = { 0, 300000000 };
	nanosleep(&pause, NULL);
	pthread_mutex_lock(&f.mu);
	done = f.done;
	pthread_mutex_unlock(&f.mu);
	assert_false(done);
	gate_set(false);
	pthread_join(t, NULL);
	assert_int_equal(f.rc, 0);
	pair_stop(&p);
}

/*
 * ack_applied: with the backup's fdatasync held, flushes are answered once
 * the backup applied the writes; the backup still starts its own sync (and
 * finishes it once the gate opens), and every write reads back there.
 */
static void
test_applied_flush_does_not_wait_for_the_backup_sync(void **state)
{
	struct pair p;
	uint8_t     buf[BT_BLK_SECTOR_SIZE];
	uint64_t    t0;

	(void)state;
	pair_start(&p, true);
	flush_rhythm(p.pdev, 3);
	gate_set(true);
	t0 = now_ns();
	for (unsigned i = 0; i < 20; i++) {
		write_sector(p.pdev, 8 + i, 40 + i);
		assert_int_equal(bt_blk_dev_flush(p.pdev), 0);
	}
	// Far below the ack timeout a waiting flush would have hit.
	assert_true(now_ns() - t0 < SLOW_NS / 2);
	assert_true(gate_wait_held(5000));
	gate_set(false);
	for (unsigned i = 0; i < 20; i++) {
		assert_int_equal(bt_blk_dev_read(p.bdev, buf, sizeof(buf),
		                     (uint64_t)(8 + i) * BT_BLK_SECTOR_SIZE),
		    0);
		assert_int_equal(buf[0], 40 + i);
		assert_int_equal(buf[sizeof(buf) - 1], 40 + i);
	}
	assert_int_equal(bt_blk_dev_write_index(p.bdev),
	    bt_blk_dev_write_index(p.pdev));
	pair_stop(&p);
}

/* status_text: rep's status as a C string in b (bt_dbuf_fini it). */
static const char *
status_text(bt_blk_repl *rep, struct bt_dbuf *b)
{
	bt_dbuf_init(b, 1 << 16);
	assert_int_equal(bt_blk_repl_status(rep, b), 0);
	assert_int_equal(bt_dbuf_append(b, "", 1), 0);
	return (const char *)b->ptr;
}

/* primary_acked: what the primary's status says the backup ACKed. */
static uint64_t
primary_acked(struct pair *p)
{
	struct bt_dbuf      b;
	const char         *a;
	char               *end;
	unsigned long long  w;

	a = strstr(status_text(p->prep, &b), " acked ");
	assert_non_null(a);
	a += strlen(" acked ");
	w = strtoull(a, &end, 10);
	assert_true(end > a);
	bt_dbuf_fini(&b);
	return w;
}

/* backup_linked: whether the backup's status shows its primary linked. */
static bool
backup_linked(struct pair *p)
{
	struct bt_dbuf b;
	const char    *t = status_text(p->brep, &b);
	bool           up;

	up = strstr(t, "primary: ") != NULL
	    && strstr(t, "(disconnected)") == NULL;
	bt_dbuf_fini(&b);
	return up;
}

/*
 * ack_applied, in a write-then-flush rhythm: the backup ACKs each write as
 * it applies it, and the primary holds the FLUSH that ACK covers until its
 * next write. After the last flush no write comes, so no FLUSH reaches the
 * backup: its sync must still start, within the period, from the ACK.
 */
static void
test_applied_eager_ack_starts_the_backup_sync(void **state)
{
	struct pair     p;
	struct timespec pause = { 0, 50000000 };
	uint64_t        w, t0;

	(void)state;
	pair_start(&p, true);
	flush_rhythm(p.pdev, 4);
	nanosleep(&pause, NULL); /* the rhythm's lazy syncs are done */
	gate_set(true);
	write_sector(p.pdev, 9, 77);
	w = bt_blk_dev_write_index(p.pdev);
	t0 = now_ns();
	while (primary_acked(&p) < w) {
		assert_true(now_ns() - t0 < SLOW_NS / 2); /* the eager ACK */
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	assert_int_equal(bt_blk_dev_flush(p.pdev), 0);
	assert_true(gate_wait_held(2000));
	gate_set(false);
	pair_stop(&p);
}

/* flush_raw sends FLUSH(widx, fields...) as raw uvarints. */
static void
flush_raw(struct pair *p, const uint64_t *v, size_t n)
{
	struct bt_dbuf b;

	bt_dbuf_init(&b, 64);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(bt_serde_put_uvarint(&b, v[i]), 0);
	assert_int_equal(bt__blk_repl_send_flush_raw(p->prep, b.ptr, b.len), 0);
	bt_dbuf_fini(&b);
}

/*
 * A FLUSH asking for an unknown acknowledgement, or carrying a field too
 * many, is refused: the backup drops the link (and applies nothing more
 * from it). One naming "applied" or nothing more is accepted.
 */
static void
test_malformed_flush_ends_the_link(void **state)
{
	static const uint64_t bad[][3] = { { 0, 2, 0 }, { 0, 1, 7 } };
	static const size_t   nbad[] = { 2, 3 };
	struct pair           p;

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		uint64_t v[3];

		pair_start(&p, false);
		write_sector(p.pdev, 1, 5);
		assert_int_equal(bt_blk_dev_flush(p.pdev), 0);
		assert_true(backup_linked(&p));
		// Well-formed: the link stays.
		v[0] = bt_blk_dev_write_index(p.pdev);
		v[1] = 1;
		flush_raw(&p, v, 2);
		flush_raw(&p, v, 1);
		struct timespec pause = { 0, 200000000 };
		nanosleep(&pause, NULL);
		assert_true(backup_linked(&p));
		memcpy(v, bad[k], sizeof(v));
		v[0] = bt_blk_dev_write_index(p.pdev);
		flush_raw(&p, v, nbad[k]);
		for (int i = 0; i < 100 && backup_linked(&p); i++)
			nanosleep(&(struct timespec) { 0, 50000000 }, NULL);
		assert_false(backup_linked(&p));
		pair_stop(&p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durable_flush_waits_for_the_backup_sync),
		cmocka_unit_test(
		    test_applied_flush_does_not_wait_for_the_backup_sync),
		cmocka_unit_test(test_applied_eager_ack_starts_the_backup_sync),
		cmocka_unit_test(test_malformed_flush_ends_the_link),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
