/*
 * wasi.c: wasi_snapshot_preview1 for the wasm/ engine. The context (its
 * arguments, environment and fd table), the functions that do not touch
 * files (args, environ, clocks, random, proc_exit, sched_yield,
 * poll_oneoff), and the table that defines every preview1 import in a
 * linker. File and folder functions are in wasi_fs.c, path resolution in
 * wasi_path.c. Called by cmd/bt/cmd_wasm_run.c and by embedders.
 *
 * Host functions get their context from the linker's arg, or, when the
 * linker was made for many contexts (bt_wasm_wasi_link(l, NULL)), from the
 * calling instance's user pointer. Each reads all its arguments first
 * (args and results may overlap), checks every guest pointer with
 * bt_wasm_call_mem (EFAULT when out of bounds) and returns a WASI errno as
 * its one result. Only proc_exit ends the run; only a missing context traps.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wasi_int.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Bounds on what a guest may ask of poll_oneoff and random_get at once. */
#define WASI_MAX_SUBSCRIPTIONS 4096u

/* Host errno to WASI errno; 0 (absent) means EIO. */
static const uint8_t errno_map[] = {
	[E2BIG] = WASI_E2BIG,
	[EACCES] = WASI_EACCES,
	[EADDRINUSE] = WASI_EADDRINUSE,
	[EADDRNOTAVAIL] = WASI_EADDRNOTAVAIL,
	[EAFNOSUPPORT] = WASI_EAFNOSUPPORT,
	[EAGAIN] = WASI_EAGAIN,
	[EALREADY] = WASI_EALREADY,
	[EBADF] = WASI_EBADF,
	[EBADMSG] = WASI_EBADMSG,
	[EBUSY] = WASI_EBUSY,
	[ECANCELED] = WASI_ECANCELED,
	[ECHILD] = WASI_ECHILD,
	[ECONNABORTED] = WASI_ECONNABORTED,
	[ECONNREFUSED] = WASI_ECONNREFUSED,
	[ECONNRESET] = WASI_ECONNRESET,
	[EDEADLK] = WASI_EDEADLK,
	[EDESTADDRREQ] = WASI_EDESTADDRREQ,
	[EDOM] = WASI_EDOM,
	[EDQUOT] = WASI_EDQUOT,
	[EEXIST] = WASI_EEXIST,
	[EFAULT] = WASI_EFAULT,
	[EFBIG] = WASI_EFBIG,
	[EHOSTUNREACH] = WASI_EHOSTUNREACH,
	[EIDRM] = WASI_EIDRM,
	[EILSEQ] = WASI_EILSEQ,
	[EINPROGRESS] = WASI_EINPROGRESS,
	[EINTR] = WASI_EINTR,
	[EINVAL] = WASI_EINVAL,
	[EIO] = WASI_EIO,
	[EISCONN] = WASI_EISCONN,
	[EISDIR] = WASI_EISDIR,
	[ELOOP] = WASI_ELOOP,
	[EMFILE] = WASI_EMFILE,
	[EMLINK] = WASI_EMLINK,
	[EMSGSIZE] = WASI_EMSGSIZE,
	[EMULTIHOP] = WASI_EMULTIHOP,
	[ENAMETOOLONG] = WASI_ENAMETOOLONG,
	[ENETDOWN] = WASI_ENETDOWN,
	[ENETRESET] = WASI_ENETRESET,
	[ENETUNREACH] = WASI_ENETUNREACH,
	[ENFILE] = WASI_ENFILE,
	[ENOBUFS] = WASI_ENOBUFS,
	[ENODEV] = WASI_ENODEV,
	[ENOENT] = WASI_ENOENT,
	[ENOEXEC] = WASI_ENOEXEC,
	[ENOLCK] = WASI_ENOLCK,
	[ENOLINK] = WASI_ENOLINK,
	[ENOMEM] = WASI_ENOMEM,
	[ENOMSG] = WASI_ENOMSG,
	[ENOPROTOOPT] = WASI_ENOPROTOOPT,
	[ENOSPC] = WASI_ENOSPC,
	[ENOSYS] = WASI_ENOSYS,
	[ENOTCONN] = WASI_ENOTCONN,
	[ENOTDIR] = WASI_ENOTDIR,
	[ENOTEMPTY] = WASI_ENOTEMPTY,
	[ENOTRECOVERABLE] = WASI_ENOTRECOVERABLE,
	[ENOTSOCK] = WASI_ENOTSOCK,
	[ENOTSUP] = WASI_ENOTSUP,
	[ENOTTY] = WASI_ENOTTY,
	[ENXIO] = WASI_ENXIO,
	[EOVERFLOW] = WASI_EOVERFLOW,
	[EOWNERDEAD] = WASI_EOWNERDEAD,
	[EPERM] = WASI_EPERM,
	[EPIPE] = WASI_EPIPE,
	[EPROTO] = WASI_EPROTO,
	[EPROTONOSUPPORT] = WASI_EPROTONOSUPPORT,
	[EPROTOTYPE] = WASI_EPROTOTYPE,
	[ERANGE] = WASI_ERANGE,
	[EROFS] = WASI_EROFS,
	[ESPIPE] = WASI_ESPIPE,
	[ESRCH] = WASI_ESRCH,
	[ESTALE] = WASI_ESTALE,
	[ETIMEDOUT] = WASI_ETIMEDOUT,
	[ETXTBSY] = WASI_ETXTBSY,
	[EXDEV] = WASI_EXDEV,
};

int
bt__wasi_errno(int rc)
{
	int e = rc < 0 ? -rc : rc;

	if (rc == 0)
		return WASI_ESUCCESS;
	if (rc == BT_EPATH)
		return WASI_ENOTCAPABLE;
	if (rc == BT_ELIMIT)
		return WASI_ENOMEM;
	if (e < (int)N(errno_map) && errno_map[e] != 0)
		return errno_map[e];
	return WASI_EIO;
}

uint8_t
bt__wasi_filetype(unsigned mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return WASI_FT_REGULAR_FILE;
	case S_IFDIR:
		return WASI_FT_DIRECTORY;
	case S_IFCHR:
		return WASI_FT_CHARACTER_DEVICE;
	case S_IFBLK:
		return WASI_FT_BLOCK_DEVICE;
	case S_IFLNK:
		return WASI_FT_SYMBOLIC_LINK;
	case S_IFSOCK:
		return WASI_FT_SOCKET_STREAM;
	default:
		return WASI_FT_UNKNOWN; /* FIFOs have no WASI type */
	}
}

/*
 * The fd table.
 */

/* stdio_type looks at what a standard stream is on first use: most runs
 * never ask, and three fstat calls are a tenth of a trivial run. */
static void
stdio_type(struct wasi_fd *f)
{
	struct stat st;

	f->lazy = false;
	if (fstat(f->host, &st) != 0)
		return;
	f->type = bt__wasi_filetype(st.st_mode);
	if (S_ISREG(st.st_mode))
		f->rights = WASI_RIGHTS_FILE;
}

struct wasi_fd *
bt__wasi_fd_get(bt_wasm_wasi *w, uint32_t fd)
{
	struct wasi_fd *f;

	if (fd >= w->nfds || w->fds[fd].host < 0)
		return NULL;
	f = &w->fds[fd];
	if (f->lazy)
		stdio_type(f);
	return f;
}

static int
fd_table_grow(bt_wasm_wasi *w, uint32_t want)
{
	struct wasi_fd *p;
	uint32_t        n = w->nfds ? w->nfds : 8;

	while (n < want)
		n *= 2;
	if (n > w->max_fds)
		n = w->max_fds;
	if (n < want)
		return -EMFILE;
	p = bt_realloc(w->fds, (size_t)n * sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	for (uint32_t i = w->nfds; i < n; i++) {
		memset(&p[i], 0, sizeof(p[i]));
		p[i].host = -1;
	}
	w->fds = p;
	w->nfds = n;
	return 0;
}

int
bt__wasi_fd_alloc(bt_wasm_wasi *w, int host, uint32_t *fd_out)
{
	uint32_t i;
	int      rc;

	for (i = 3; i < w->nfds; i++) {
		if (w->fds[i].host < 0)
			break;
	}
	if (i >= w->nfds) {
		if (w->nfds >= w->max_fds)
			return -EMFILE;
		rc = fd_table_grow(w, w->nfds + 1);
		if (rc != 0)
			return rc;
	}
	memset(&w->fds[i], 0, sizeof(w->fds[i]));
	w->fds[i].host = host;
	*fd_out = i;
	return 0;
}

static void
fd_setup_stdio(struct wasi_fd *f, int host)
{
	f->host = host;
	f->borrowed = true;
	f->lazy = true;
	f->type = WASI_FT_UNKNOWN;
	f->rights = WASI_RIGHTS_STREAM;
	f->inherit = 0;
}

/* pack_strings lays out n strings as the NUL-terminated blob the guest
 * gets from args_get/environ_get. */
static int
pack_strings(const char *const *s, size_t n, uint8_t **out, size_t *len_out)
{
	struct bt_dbuf b;
	int            rc = 0;

	bt_dbuf_init(&b, (size_t)1 << 30);
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = bt_dbuf_append(&b, s[i], strlen(s[i]) + 1);
	}
	if (rc == 0 && b.len == 0)
		rc = bt_dbuf_putc(&b, 0); /* keep a valid pointer */
	if (rc != 0) {
		bt_dbuf_fini(&b);
		return rc;
	}
	if (n == 0)
		b.len = 0;
	*out = bt_dbuf_take(&b, len_out);
	return *out != NULL ? 0 : -ENOMEM;
}

int
bt_wasm_wasi_new(bt_wasm_wasi **out, const struct bt_wasm_wasi_config *cfg,
    struct bt_diag *diag)
{
	const struct bt_wasm_wasi_preopen *po;
	bt_wasm_wasi                      *w;
	const char                        *guest;
	uint32_t                           fd;
	int                                rc, host;

	if (cfg == NULL || cfg->version != 1) {
		bt_diag_set(diag, -1, "WASI config version must be 1");
		return -EINVAL;
	}
	if (cfg->argc > 0x10000 || cfg->envc > 0x10000
	    || (cfg->argc > 0 && cfg->argv == NULL)
	    || (cfg->envc > 0 && cfg->env == NULL)
	    || (cfg->npreopens > 0 && cfg->preopens == NULL)) {
		bt_diag_set(diag, -1, "bad WASI argument or environment list");
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->envc; i++) {
		if (cfg->env[i] == NULL || strchr(cfg->env[i], '=') == NULL
		    || cfg->env[i][0] == '=') {
			bt_diag_set(diag, -1,
			    "environment entry '%s' is not "
			    "KEY=VALUE",
			    cfg->env[i] ? cfg->env[i] : "(null)");
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < cfg->argc; i++) {
		if (cfg->argv[i] == NULL) {
			bt_diag_set(diag, -1, "argument %zu is NULL", i);
			return -EINVAL;
		}
	}
	if (cfg->max_fds > BT_WASM_WASI_FDS_MAX
	    || (cfg->max_fds != 0 && cfg->max_fds < 3 + cfg->npreopens)) {
		bt_diag_set(diag, -1, "fd table bound %u is out of range",
		    cfg->max_fds);
		return -EINVAL;
	}

	w = bt_zalloc(sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->flags = cfg->flags;
	w->max_fds = cfg->max_fds ? cfg->max_fds : BT_WASM_WASI_FDS_DEFAULT;
	if (w->max_fds < 3 + cfg->npreopens)
		w->max_fds = (uint32_t)(3 + cfg->npreopens);
	w->argc = (uint32_t)cfg->argc;
	w->envc = (uint32_t)cfg->envc;
	rc = pack_strings(cfg->argv, cfg->argc, &w->args, &w->args_len);
	if (rc != 0)
		goto err;
	rc = pack_strings(cfg->env, cfg->envc, &w->env, &w->env_len);
	if (rc != 0)
		goto err;
	rc = fd_table_grow(w, (uint32_t)(3 + cfg->npreopens));
	if (rc != 0)
		goto err;
	for (int i = 0; i < 3; i++) {
		host = (cfg->flags & BT_WASM_WASI_STDIO_FDS)
		    ? cfg->stdio_fds[i]
		    : i;
		if (host >= 0)
			fd_setup_stdio(&w->fds[i], host);
	}
	for (size_t i = 0; i < cfg->npreopens; i++) {
		po = &cfg->preopens[i];
		guest = po->guest != NULL ? po->guest : po->host;
		if (po->host == NULL || po->host[0] == '\0'
		    || guest[0] == '\0') {
			bt_diag_set(
			    diag, -1, "preopen %zu has an empty path", i);
			rc = -EINVAL;
			goto err;
		}
		/* A real (not O_PATH) fd, so the guest can list it. */
		host = open(po->host, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (host < 0) {
			rc = -errno;
			bt_diag_set(diag, -1, "cannot open folder '%s': %s",
			    po->host, bt_strerror(rc));
			goto err;
		}
		rc = bt__wasi_fd_alloc(w, host, &fd);
		if (rc != 0) {
			close(host);
			goto err;
		}
		w->fds[fd].type = WASI_FT_DIRECTORY;
		w->fds[fd].rights = WASI_RIGHTS_DIR | WASI_R_FD_READDIR;
		w->fds[fd].inherit = WASI_RIGHTS_DIR | WASI_RIGHTS_FILE;
		w->fds[fd].preopen = bt_strdup(guest);
		if (w->fds[fd].preopen == NULL) {
			rc = -ENOMEM;
			goto err;
		}
	}
	*out = w;
	return 0;

err:
	bt_wasm_wasi_free(w);
	return rc;
}

void
bt_wasm_wasi_free(bt_wasm_wasi *w)
{
	if (w == NULL)
		return;
	for (uint32_t i = 0; i < w->nfds; i++) {
		if (w->fds[i].host >= 0 && !w->fds[i].borrowed)
			close(w->fds[i].host);
		bt_free(w->fds[i].preopen);
	}
	bt_free(w->fds);
	bt_free(w->args);
	bt_free(w->env);
	bt_free(w);
}

bt_wasm_wasi *
bt__wasi_ctx(void *arg, struct bt_wasm_call *c)
{
	if (arg != NULL)
		return arg;
	return bt_wasm_instance_user(c->inst);
}

/* CTX fetches the context or traps: the embedder forgot to set it. */
#define CTX(w, arg, c)                                                        \
	do {                                                                  \
		(w) = bt__wasi_ctx((arg), (c));                               \
		if ((w) == NULL)                                              \
			return bt_wasm_call_trap((c),                         \
			    "WASI call without a "                            \
			    "WASI context");                                  \
	} while (0)

/*
 * Arguments and environment.
 */

static int
sizes_get(struct bt_wasm_call *c, uint32_t count, size_t len)
{
	uint32_t pcount = wasi_arg32(c, 0), plen = wasi_arg32(c, 1);
	uint8_t *a = bt_wasm_call_mem(c, pcount, 4);
	uint8_t *b = bt_wasm_call_mem(c, plen, 4);

	if (a == NULL || b == NULL)
		return wasi_ret(c, WASI_EFAULT);
	bt_put_le32(a, count);
	bt_put_le32(b, (uint32_t)len);
	return wasi_ret(c, WASI_ESUCCESS);
}

static int
strings_get(
    struct bt_wasm_call *c, uint32_t count, const uint8_t *blob, size_t len)
{
	uint32_t pptrs = wasi_arg32(c, 0), pbuf = wasi_arg32(c, 1);
	uint8_t *ptrs = bt_wasm_call_mem(c, pptrs, (uint64_t)count * 4);
	uint8_t *buf = bt_wasm_call_mem(c, pbuf, len);
	size_t   off = 0;

	if (ptrs == NULL || buf == NULL)
		return wasi_ret(c, WASI_EFAULT);
	memcpy(buf, blob, len);
	for (uint32_t i = 0; i < count; i++) {
		bt_put_le32(ptrs + 4 * (size_t)i, pbuf + (uint32_t)off);
		off += strlen((const char *)blob + off) + 1;
	}
	return wasi_ret(c, WASI_ESUCCESS);
}

static int
args_sizes_get(void *arg, struct bt_wasm_call *c)
{
	bt_wasm_wasi *w;

	CTX(w, arg, c);
	return sizes_get(c, w->argc, w->args_len);
}

static int
args_get(void *arg, struct bt_wasm_call *c)
{
	bt_wasm_wasi *w;

	CTX(w, arg, c);
	return strings_get(c, w->argc, w->args, w->args_len);
}

static int
environ_sizes_get(void *arg, struct bt_wasm_call *c)
{
	bt_wasm_wasi *w;

	CTX(w, arg, c);
	return sizes_get(c, w->envc, w->env_len);
}

static int
environ_get(void *arg, struct bt_wasm_call *c)
{
	bt_wasm_wasi *w;

	CTX(w, arg, c);
	return strings_get(c, w->envc, w->env, w->env_len);
}

/*
 * Clocks. WASI clock ids 0..3 are realtime, monotonic, process and thread
 * CPU time, as their POSIX namesakes.
 */

static int
clock_of(uint32_t id, clockid_t *out)
{
	static const clockid_t ids[] = { CLOCK_REALTIME, CLOCK_MONOTONIC,
		CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID };

	if (id >= N(ids))
		return -EINVAL;
	*out = ids[id];
	return 0;
}

static uint64_t
ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

static int
clock_res_get(void *arg, struct bt_wasm_call *c)
{
	uint32_t        id = wasi_arg32(c, 0), p = wasi_arg32(c, 1);
	struct timespec ts;
	clockid_t       cid;
	uint8_t        *m;

	(void)arg;
	if (clock_of(id, &cid) != 0)
		return wasi_ret(c, WASI_EINVAL);
	m = bt_wasm_call_mem(c, p, 8);
	if (m == NULL)
		return wasi_ret(c, WASI_EFAULT);
	if (clock_getres(cid, &ts) != 0)
		return wasi_ret(c, bt__wasi_errno(errno));
	bt_put_le64(m, ts_ns(&ts));
	return wasi_ret(c, WASI_ESUCCESS);
}

static int
clock_time_get(void *arg, struct bt_wasm_call *c)
{
	uint32_t        id = wasi_arg32(c, 0), p = wasi_arg32(c, 2);
	struct timespec ts;
	clockid_t       cid;
	uint8_t        *m;

	(void)arg;
	if (clock_of(id, &cid) != 0)
		return wasi_ret(c, WASI_EINVAL);
	m = bt_wasm_call_mem(c, p, 8);
	if (m == NULL)
		return wasi_ret(c, WASI_EFAULT);
	if (clock_gettime(cid, &ts) != 0)
		return wasi_ret(c, bt__wasi_errno(errno));
	bt_put_le64(m, ts_ns(&ts));
	return wasi_ret(c, WASI_ESUCCESS);
}

static int
random_get(void *arg, struct bt_wasm_call *c)
{
	uint32_t p = wasi_arg32(c, 0), len = wasi_arg32(c, 1);
	uint8_t *m = bt_wasm_call_mem(c, p, len);
	size_t   done = 0;
	ssize_t  n;

	(void)arg;
	if (m == NULL)
		return wasi_ret(c, WASI_EFAULT);
	while (done < len) {
		n = getrandom(m + done, len - done, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return wasi_ret(c, bt__wasi_errno(errno));
		}
		done += (size_t)n;
	}
	return wasi_ret(c, WASI_ESUCCESS);
}

static int
proc_exit(void *arg, struct bt_wasm_call *c)
{
	(void)arg;
	return bt_wasm_call_exit(c, (int)wasi_arg32(c, 0));
}

static int
sched_yield_fn(void *arg, struct bt_wasm_call *c)
{
	(void)arg;
	sched_yield();
	return wasi_ret(c, WASI_ESUCCESS);
}

/*
 * poll_oneoff: clock subscriptions sleep (on the monotonic or realtime
 * clock, relative or absolute), fd subscriptions poll(2) the host fd. The
 * call returns when the earliest clock expires or an fd is ready, and
 * reports every subscription ready at that moment. A signal (the --timeout
 * timer of `bt wasm run`) ends the wait early with EINTR.
 */

#define SUB_SIZE         48
#define EVENT_SIZE       32
#define EV_CLOCK         0
#define EV_FD_READ       1
#define EV_FD_WRITE      2
#define SUBCLOCK_ABSTIME 0x1

static void
put_event(
    uint8_t *ev, uint64_t userdata, int err, uint8_t type, uint64_t nbytes)
{
	memset(ev, 0, EVENT_SIZE);
	bt_put_le64(ev, userdata);
	bt_put_le16(ev + 8, (uint16_t)err);
	ev[10] = type;
	bt_put_le64(ev + 16, nbytes);
}

static int
poll_oneoff(void *arg, struct bt_wasm_call *c)
{
	uint32_t        pin = wasi_arg32(c, 0), pout = wasi_arg32(c, 1);
	uint32_t        nsubs = wasi_arg32(c, 2), pnev = wasi_arg32(c, 3);
	uint8_t        *in, *out, *nev, *s;
	struct pollfd  *pfds = NULL;
	uint64_t       *dl;
	uint32_t        npfds = 0, nevents = 0, i;
	uint64_t        now, deadline = UINT64_MAX, t, rel;
	bool            have_clock = false;
	struct wasi_fd *f;
	bt_wasm_wasi   *w;
	struct timespec ts;
	clockid_t       cid;
	int             timeout_ms, r, err;

	CTX(w, arg, c);
	if (nsubs == 0)
		return wasi_ret(c, WASI_EINVAL);
	if (nsubs > WASI_MAX_SUBSCRIPTIONS)
		return wasi_ret(c, WASI_ENOTSUP);
	in = bt_wasm_call_mem(c, pin, (uint64_t)nsubs * SUB_SIZE);
	out = bt_wasm_call_mem(c, pout, (uint64_t)nsubs * EVENT_SIZE);
	nev = bt_wasm_call_mem(c, pnev, 4);
	if (in == NULL || out == NULL || nev == NULL)
		return wasi_ret(c, WASI_EFAULT);
	/* one allocation: the pollfds, then each clock's deadline */
	pfds = bt_calloc(nsubs, sizeof(*pfds) + sizeof(*dl));
	if (pfds == NULL)
		return wasi_ret(c, WASI_ENOMEM);
	dl = (uint64_t *)(void *)(pfds + nsubs);

	/* First pass: bad subscriptions become error events at once; clocks
	 * give the deadline (on the monotonic clock); fds go to poll. */
	now = bt_time_mono_ns();
	for (i = 0; i < nsubs; i++) {
		s = in + (size_t)i * SUB_SIZE;
		pfds[i].fd = -1;
		dl[i] = UINT64_MAX;
		switch (s[8]) {
		case EV_CLOCK:
			if (clock_of(bt_get_le32(s + 16), &cid) != 0
			    || (cid != CLOCK_REALTIME
			        && cid != CLOCK_MONOTONIC)) {
				put_event(out + (size_t)nevents++ * EVENT_SIZE,
				    bt_get_le64(s), WASI_EINVAL, EV_CLOCK, 0);
				break;
			}
			t = bt_get_le64(s + 24);
			if (bt_get_le16(s + 40) & SUBCLOCK_ABSTIME) {
				clock_gettime(cid, &ts);
				rel = t > ts_ns(&ts) ? t - ts_ns(&ts) : 0;
			} else {
				rel = t;
			}
			t = rel > UINT64_MAX - now ? UINT64_MAX : now + rel;
			dl[i] = t;
			if (t < deadline)
				deadline = t;
			have_clock = true;
			break;
		case EV_FD_READ:
		case EV_FD_WRITE:
			f = bt__wasi_fd_get(w, bt_get_le32(s + 16));
			if (f == NULL
			    || !(f->rights & WASI_R_POLL_FD_READWRITE)) {
				put_event(out + (size_t)nevents++ * EVENT_SIZE,
				    bt_get_le64(s),
				    f == NULL ? WASI_EBADF : WASI_ENOTCAPABLE,
				    s[8], 0);
				break;
			}
			pfds[i].fd = f->host;
			pfds[i].events = s[8] == EV_FD_READ ? POLLIN : POLLOUT;
			npfds++;
			break;
		default:
			put_event(out + (size_t)nevents++ * EVENT_SIZE,
			    bt_get_le64(s), WASI_EINVAL, s[8], 0);
			break;
		}
	}

	/* Wait, unless some event is already there to report. */
	if (nevents == 0 && npfds == 0 && have_clock) {
		ts.tv_sec = (time_t)(deadline / 1000000000u);
		ts.tv_nsec = (long)(deadline % 1000000000u);
		r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		if (r != 0) {
			bt_free(pfds);
			return wasi_ret(c, bt__wasi_errno(r));
		}
	} else if (npfds > 0) {
		timeout_ms = -1;
		if (nevents > 0) {
			timeout_ms = 0;
		} else if (have_clock) {
			now = bt_time_mono_ns();
			t = deadline > now ? deadline - now : 0;
			t = (t + 999999) / 1000000;
			timeout_ms = t > 86400000 ? 86400000 : (int)t;
		}
		r = poll(pfds, nsubs, timeout_ms);
		if (r < 0) {
			err = errno;
			bt_free(pfds);
			return wasi_ret(c, bt__wasi_errno(err));
		}
	}

	/* Second pass: report what is ready now. */
	now = bt_time_mono_ns();
	for (i = 0; i < nsubs; i++) {
		s = in + (size_t)i * SUB_SIZE;
		if (s[8] == EV_CLOCK && have_clock) {
			/* dl is UINT64_MAX for a clock reported as an
			 * error above */
			if (dl[i] != UINT64_MAX && now >= dl[i])
				put_event(out + (size_t)nevents++ * EVENT_SIZE,
				    bt_get_le64(s), 0, EV_CLOCK, 0);
		} else if (pfds[i].fd >= 0 && pfds[i].revents != 0) {
			int avail = 0;

			err = 0;
			if (pfds[i].revents & (POLLERR | POLLNVAL))
				err = WASI_EIO;
			if (s[8] == EV_FD_READ
			    && ioctl(pfds[i].fd, FIONREAD, &avail) != 0)
				avail = 0;
			put_event(out + (size_t)nevents++ * EVENT_SIZE,
			    bt_get_le64(s), err, s[8],
			    avail > 0 ? (uint64_t)avail : 0);
			if (pfds[i].revents & POLLHUP)
				bt_put_le16(out
				        + (size_t)(nevents - 1) * EVENT_SIZE
				        + 24,
				    1); /* fd_readwrite_hangup */
		}
	}
	bt_free(pfds);
	bt_put_le32(nev, nevents);
	return wasi_ret(c, WASI_ESUCCESS);
}

/* Every preview1 function this layer does not provide: ENOSYS. */
static int
nosys(void *arg, struct bt_wasm_call *c)
{
	(void)arg;
	return wasi_ret(c, WASI_ENOSYS);
}

/*
 * The whole of wasi_snapshot_preview1 (46 functions, as the witx of the
 * snapshot lists them) with their signatures: i = i32, I = i64.
 */
struct wasi_def {
	const char      *name;
	const char      *params;
	const char      *results;
	bt_wasm_host_fn *fn;
};

static const struct wasi_def defs[] = {
	{ "args_get", "ii", "i", args_get },
	{ "args_sizes_get", "ii", "i", args_sizes_get },
	{ "environ_get", "ii", "i", environ_get },
	{ "environ_sizes_get", "ii", "i", environ_sizes_get },
	{ "clock_res_get", "ii", "i", clock_res_get },
	{ "clock_time_get", "iIi", "i", clock_time_get },
	{ "fd_advise", "iIIi", "i", bt__wasi_fd_advise },
	{ "fd_allocate", "iII", "i", bt__wasi_fd_allocate },
	{ "fd_close", "i", "i", bt__wasi_fd_close },
	{ "fd_datasync", "i", "i", bt__wasi_fd_datasync },
	{ "fd_fdstat_get", "ii", "i", bt__wasi_fd_fdstat_get },
	{ "fd_fdstat_set_flags", "ii", "i", bt__wasi_fd_fdstat_set_flags },
	{ "fd_fdstat_set_rights", "iII", "i", bt__wasi_fd_fdstat_set_rights },
	{ "fd_filestat_get", "ii", "i", bt__wasi_fd_filestat_get },
	{ "fd_filestat_set_size", "iI", "i", bt__wasi_fd_filestat_set_size },
	{ "fd_filestat_set_times", "iIIi", "i",
	    bt__wasi_fd_filestat_set_times },
	{ "fd_pread", "iiiIi", "i", bt__wasi_fd_pread },
	{ "fd_prestat_get", "ii", "i", bt__wasi_fd_prestat_get },
	{ "fd_prestat_dir_name", "iii", "i", bt__wasi_fd_prestat_dir_name },
	{ "fd_pwrite", "iiiIi", "i", bt__wasi_fd_pwrite },
	{ "fd_read", "iiii", "i", bt__wasi_fd_read },
	{ "fd_readdir", "iiiIi", "i", bt__wasi_fd_readdir },
	{ "fd_renumber", "ii", "i", bt__wasi_fd_renumber },
	{ "fd_seek", "iIii", "i", bt__wasi_fd_seek },
	{ "fd_sync", "i", "i", bt__wasi_fd_sync },
	{ "fd_tell", "ii", "i", bt__wasi_fd_tell },
	{ "fd_write", "iiii", "i", bt__wasi_fd_write },
	{ "path_create_directory", "iii", "i",
	    bt__wasi_path_create_directory },
	{ "path_filestat_get", "iiiii", "i", bt__wasi_path_filestat_get },
	{ "path_filestat_set_times", "iiiiIIi", "i",
	    bt__wasi_path_filestat_set_times },
	{ "path_link", "iiiiiii", "i", bt__wasi_path_link },
	{ "path_open", "iiiiiIIii", "i", bt__wasi_path_open },
	{ "path_readlink", "iiiiii", "i", bt__wasi_path_readlink },
	{ "path_remove_directory", "iii", "i",
	    bt__wasi_path_remove_directory },
	{ "path_rename", "iiiiii", "i", bt__wasi_path_rename },
	{ "path_symlink", "iiiii", "i", bt__wasi_path_symlink },
	{ "path_unlink_file", "iii", "i", bt__wasi_path_unlink_file },
	{ "poll_oneoff", "iiii", "i", poll_oneoff },
	{ "proc_exit", "i", "", proc_exit },
	{ "proc_raise", "i", "i", nosys },
	{ "sched_yield", "", "i", sched_yield_fn },
	{ "random_get", "ii", "i", random_get },
	{ "sock_accept", "iii", "i", nosys },
	{ "sock_recv", "iiiiii", "i", nosys },
	{ "sock_send", "iiiii", "i", nosys },
	{ "sock_shutdown", "ii", "i", nosys },
};

int
bt_wasm_wasi_link(bt_wasm_linker *l, bt_wasm_wasi *w)
{
	int rc;

	for (size_t i = 0; i < N(defs); i++) {
		rc = bt_wasm_linker_define_func(l, BT_WASM_WASI_MODULE,
		    defs[i].name, defs[i].params, defs[i].results, defs[i].fn,
		    w);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
bt_wasm_wasi_start(bt_wasm_instance *inst, int *status_out)
{
	int rc;

	rc = bt_wasm_instance_call(inst, "_start", NULL, 0, NULL, 0);
	if (rc == 0) {
		*status_out = 0;
		return 0;
	}
	if (rc == BT_WASM_EXITED) {
		*status_out = bt_wasm_instance_exit_status(inst);
		return 0;
	}
	return rc;
}
