/*
 * wasi_fs.c: the fd_* and path_* functions of wasi_snapshot_preview1, over
 * the fd table of wasi.c and the sandboxed resolution of wasi_path.c.
 *
 * Every path goes through bt__wasi_resolve or bt__wasi_open with the
 * folder fd the guest named as root: a guest can reach what lies beneath
 * the folders it was given, and nothing else. Rights are checked before
 * anything is done (ENOTCAPABLE when missing); a file opened below a
 * folder gets at most that folder's inheriting rights.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wasi_int.h"

/* iovecs handed to the kernel per readv/writev call */
#define IOV_BATCH 64
/* bytes of dirent records read from the kernel per getdents64 call */
#define DENTS_BUF          4096
#define WASI_DIRENT_SIZE   24
#define WASI_FILESTAT_SIZE 64
#define WASI_FDSTAT_SIZE   24

/* FD looks up a guest fd and checks rights, or returns the errno. */
#define FD(f, w, fd, need, c)                                                 \
	do {                                                                  \
		(f) = bt__wasi_fd_get((w), (fd));                             \
		if ((f) == NULL)                                              \
			return wasi_ret((c), WASI_EBADF);                     \
		if (((f)->rights & (need)) != (need))                         \
			return wasi_ret((c), WASI_ENOTCAPABLE);               \
	} while (0)

#define CTX(w, arg, c)                                                        \
	do {                                                                  \
		(w) = bt__wasi_ctx((arg), (c));                               \
		if ((w) == NULL)                                              \
			return bt_wasm_call_trap((c),                         \
			    "WASI call without a "                            \
			    "WASI context");                                  \
	} while (0)

static unsigned
res_flags(const bt_wasm_wasi *w, uint32_t lookup)
{
	unsigned fl = 0;

	if (lookup & WASI_LOOKUP_SYMLINK_FOLLOW)
		fl |= WASI_RES_FOLLOW;
	if (w->flags & BT_WASM_WASI_NO_OPENAT2)
		fl |= WASI_RES_NO_OPENAT2;
	return fl;
}

/* guest_path returns a pointer to the path bytes, or NULL (EFAULT). */
static const char *
guest_path(struct bt_wasm_call *c, uint32_t p, uint32_t len)
{
	return bt_wasm_call_mem(c, p, len);
}

/*
 * Reading and writing.
 */

/* rw moves bytes between the host fd and the guest iovecs: readv/writev
 * (off < 0) or preadv/pwritev at off. Returns the count or -errno. */
static ssize_t
rw(struct bt_wasm_call *c, int host, uint32_t piovs, uint32_t niovs,
    int64_t off, bool write)
{
	struct iovec   iov[IOV_BATCH];
	const uint8_t *v;
	uint32_t       i, k, base, len;
	size_t         want, total = 0;
	ssize_t        n;
	void          *m;

	if (niovs > 1024)
		return -EINVAL;
	v = bt_wasm_call_mem(c, piovs, (uint64_t)niovs * 8);
	if (v == NULL)
		return -EFAULT;
	for (i = 0; i < niovs; i += k) {
		want = 0;
		for (k = 0; k < IOV_BATCH && i + k < niovs; k++) {
			base = bt_get_le32(v + 8 * (size_t)(i + k));
			len = bt_get_le32(v + 8 * (size_t)(i + k) + 4);
			m = bt_wasm_call_mem(c, base, len);
			if (m == NULL)
				return total > 0 ? (ssize_t)total : -EFAULT;
			iov[k].iov_base = m;
			iov[k].iov_len = len;
			want += len;
		}
		/* EINTR goes back to the guest: it is how the --timeout
		 * timer of `bt wasm run` ends a blocked read */
		if (off < 0)
			n = write ? writev(host, iov, (int)k)
			          : readv(host, iov, (int)k);
		else
			n = write ? pwritev(host, iov, (int)k,
			        (off_t)(off + (int64_t)total))
			          : preadv(host, iov, (int)k,
			              (off_t)(off + (int64_t)total));
		if (n < 0)
			return total > 0 ? (ssize_t)total : -errno;
		total += (size_t)n;
		if ((size_t)n < want)
			break; /* short: end of file, or a pipe */
	}
	return (ssize_t)total;
}

static int
do_rw(void *arg, struct bt_wasm_call *c, bool write, bool positioned)
{
	uint32_t        fd = wasi_arg32(c, 0), piovs = wasi_arg32(c, 1);
	uint32_t        niovs = wasi_arg32(c, 2);
	uint64_t        off = positioned ? wasi_arg64(c, 3) : 0;
	uint32_t        pn = wasi_arg32(c, positioned ? 4 : 3);
	uint64_t        need;
	struct wasi_fd *f;
	bt_wasm_wasi   *w;
	uint8_t        *nout;
	ssize_t         n;

	CTX(w, arg, c);
	need = write ? WASI_R_FD_WRITE : WASI_R_FD_READ;
	if (positioned)
		need |= WASI_R_FD_SEEK;
	FD(f, w, fd, need, c);
	if (positioned && off > INT64_MAX)
		return wasi_ret(c, WASI_EINVAL);
	nout = bt_wasm_call_mem(c, pn, 4);
	if (nout == NULL)
		return wasi_ret(c, WASI_EFAULT);
	n = rw(
	    c, f->host, piovs, niovs, positioned ? (int64_t)off : -1, write);
	if (n < 0)
		return wasi_ret(c, bt__wasi_errno((int)n));
	bt_put_le32(nout, (uint32_t)n);
	return wasi_ret(c, WASI_ESUCCESS);
}

int
bt__wasi_fd_read(void *arg, struct bt_wasm_call *c)
{
	return do_rw(arg, c, false, false);
}

int
bt__wasi_fd_write(void *arg, struct bt_wasm_call *c)
{
	return do_rw(arg, c, true, false);
}

int
bt__wasi_fd_pread(void *arg, struct bt_wasm_call *c)
{
	return do_rw(arg, c, false, true);
}

int
bt__wasi_fd_pwrite(void *arg, struct bt_wasm_call *c)
{
	return do_rw(arg, c, true, true);
}

int
bt__wasi_fd_seek(void *arg, struct bt_wasm_call *c)
{
	uint32_t fd = wasi_arg32(c, 0);
	int64_t  delta = (int64_t)wasi_arg64(c, 1);
	uint32_t whence = wasi_arg32(c, 2) & 0xff, pout = wasi_arg32(c, 3);
	static const int wh[] = { SEEK_SET, SEEK_CUR, SEEK_END };
	struct wasi_fd  *f;
	bt_wasm_wasi    *w;
	uint8_t         *m;
	off_t            r;

	CTX(w, arg, c);
	/* a query of the position needs only the tell right */
	FD(f, w, fd,
	    (whence == 1 && delta == 0) ? WASI_R_FD_TELL : WASI_R_FD_SEEK, c);
	if (whence > 2)
		return wasi_ret(c, WASI_EINVAL);
	m = bt_wasm_call_mem(c, pout, 8);
	if (m == NULL)
		return wasi_ret(c, WASI_EFAULT);
	r = lseek(f->host, (off_t)delta, wh[whence]);
	if (r < 0)
		return wasi_ret(c, bt__wasi_errno(errno));
	bt_put_le64(m, (uint64_t)r);
	return wasi_ret(c, WASI_ESUCCESS);
}

int
bt__wasi_fd_tell(void *arg, struct bt_wasm_call *c)
{
	uint32_t        fd = wasi_arg32(c, 0), pout = wasi_arg32(c, 1);
	struct wasi_fd *f;
	bt_wasm_wasi   *w;
	uint8_t        *m;
	off_t           r;

	CTX(w, arg, c);
	FD(f, w, fd, WASI_R_FD_TELL, c);
	m = bt_wasm_call_mem(c, pout, 8);
	if (m == NULL)
		return wasi_ret(c, WASI_EFAULT);
	r = lseek(f->host, 0, SEEK_CUR);
	if (r < 0)
		return wasi_ret(c, bt__wasi_errno(errno));
	bt_put_le64(m, (uint64_t)r);
	return wasi_ret(c, WASI_ESUCCESS);
}

int
bt__wasi_fd_close(void *arg, struct bt_wasm_call *c)
{
	uint32_t        fd = wasi_arg32(c, 0);
	struct wasi_fd *f;
	bt_wasm_wasi   *w;

	CTX(w, arg, c);
	FD(f, w, fd, 0, c);
	if (!f->borrowed)
		close(f->host);
	bt_free(f->preopen);
	memset(f, 0, sizeof(*f));
	f->host = -1;
	return wasi_ret(c, WASI_ESUCCESS);
}

int
bt__wasi_fd_renumber(void *arg, struct bt_wasm_call *c)
{
	uint32_t        from = wasi_arg32(c, 0), to = wasi_arg32(c, 1);
	struct wasi_fd *f, *t;
	bt_wasm_wasi   *w;

	CTX(w, arg, c);
	FD(f, w, from, 0, c);
	FD(t, w, to, 0, c);
	if (f == t)
		return wasi_ret(c, WASI_ESUCCESS);
	if (!t->borrowed)
		close(t->host);
	bt_free(t->preopen);
	*t = *f;
	memset(f, 0, sizeof(*f));
	f->host = -1;
	return wasi_ret(c, WASI_ESUCCESS);
}

static int
sync_common(void *arg, struct bt_wasm_call *c, bool data)
{
	uint32_t        fd = wasi_arg32(c, 0);
	struct wasi_fd *f;
	bt_wasm_wasi   *w;

	CTX(w, arg, c);
	FD(f, w, fd, data ? WASI_R_FD_DATASYNC : WASI_R_FD_SYNC, c);
	if ((data ? fdatasync(f->host) : fsync(f->host)) != 0)
		return wasi_ret(c, bt__wasi_errno(errno));
	return wasi_ret(c, WASI_ESUCCESS);
}

int
bt__wasi_fd_sync(void *arg, struct bt_wasm_call *c)
{
	return sync_common(arg, c, false);
}

int
bt__wasi_fd_datasync(void *arg, struct bt_wasm_call *c)
{
	return sync_common(arg, c, true);
}

int
bt__wasi_fd_advise(void *arg, struct bt_wasm_call *c)
{
	uint32_t fd = wasi_arg32(c, 0), advice = wasi_arg32(c, 3) & 0xff;
	uint64_t off = wasi_arg64(c, 1), len = wasi_arg64(c, 2);
	static const int adv[] = { POSIX_FADV_NORMAL, POSIX_FADV_SEQUENTIAL,
		POSIX_FADV_RANDOM, POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED,
		POSIX_FADV_NOREUSE };
	struct wasi_fd  *f;
	bt_wasm_wasi    *w;
	int              r;

	CTX(w, arg, c);
	FD(f, w, fd, WASI_R_FD_ADVISE, c);
	if (advice > 5 || off > INT64_MAX || len > INT64_MAX)
		return wasi_ret(c, WASI_EINVAL);
	r = posix_fadvise(f->host, (off_t)off, (off_t)len, adv[advice]);
	return wasi_ret(c, r == 0 ? 0 : bt__wasi_errno(r));
}

int
bt__wasi_fd_allocate(void *arg, struct bt_wasm_call *c)
{
	uint32_t        fd = wasi_arg32(c, 0);
	uint64_t        off = wasi_arg64(c, 1), len = wasi_arg64(c, 2);
	struct wasi_fd *f;
	bt_wasm_wasi   *w;
	int             r;

	CTX(w, arg, c);
	FD(f, w, fd, WASI_R_FD_ALLOCATE, c);
	if (off > INT64_MAX || len > INT64_MAX)
		return wasi_ret(c, WASI_EINVAL);
	r = posix_fallocate(f->host, (off_t)off, (off_t)len);
	return wasi_ret(c, r == 0 ? 0 : bt__wasi_errno(r));
}

/*
 * Status.
 */

int
bt__wasi_fd_fdstat_get(void *arg, struct bt_wasm_call *c)
{
	uint32_t        fd = wasi_arg32(c, 0), p = wasi_arg32(c, 1);
	struct wasi_fd *f;
	bt_wasm_wasi   *w;
	uint8_t        *m;
	int             fl;

	CTX(w, arg, c);
	FD(f, w, fd, 0, c);
	m = bt_wasm_call_mem(c, p, WASI_FDSTAT_SIZE);
	if (m == NULL)
		return wasi_ret(c, WASI_EFAULT);
	fl = fcntl(f->host, F_GETFL);
	f->fdflags &= (uint16_t) ~(WASI_FDFLAG_APPEND | WASI_FDFLAG_NONBLOCK);
	if (fl >= 0 && (fl & O_APPEND))
		f->fdflags |= WASI_FDFLAG_APPEND;
	if (fl >= 0 && (fl & O_NONBLOCK))
		f->fdflags |= WASI_FDFLAG_NONBLOCK;
	memset(m, 0, WASI_FDSTAT_SIZE);
	m[0] = f->type;
	bt_put_le16(m + 2, f->fdflags);
	bt_put_le64(m + 8, f->rights);
	bt_put_le64(m + 16, f->inherit);
	return wasi_ret(c, WASI_ESUCCESS);
}

int
bt__wasi_fd_fdstat_set_flags(void *arg, struct bt_wasm_call *c)
{
	uint32_t        fd = wasi_arg32(c, 0), fl = wasi_arg32(c, 1) & 0xffff;
	struct wasi_fd *f;
	bt_wasm_wasi   *w;
	int             hfl;

	CTX(w, arg, c);
	FD(f, w, fd, WASI_R_FD_FDSTAT_SET_FLAGS, c);
	/* Linux cannot change the sync flags of an open file. */
	if (fl & ~(uint32_t)(WASI_FDFLAG_APPEND | WASI_FDFLAG_NONBLOCK))
		return wasi_ret(c, WASI_ENOTSUP);
	hfl = fcntl(f->host, F_GETFL);
	if (hfl < 0)
		return wasi_ret(c, bt__wasi_errno(errno));
	hfl &= ~(O_APPEND | O_NONBLOCK);
	if (fl & WASI_FDFLAG_APPEND)
		hfl |= O_APPEND;
	if (fl & WASI_FDFLAG_NONBLOCK)
		hfl |= O_NONBLOCK;
	if (fcntl(f->host, F_SETFL, hfl) != 0)
		return wasi_ret(c, bt__wasi_errno(errno));
	f->fdflags
	    = (uint16_t)((f->fdflags
	                     & ~(WASI_FDFLAG_APPEND | WASI_FDFLAG_NONBLOCK))
	        | fl);
	return wasi_ret(c, WASI_ESUCCESS);
}

int
bt__wasi_fd_fdstat_set_rights(void *arg, struct bt_wasm_call *c)
{
	uint32_t        fd = wasi_arg32(c, 0);
	uint64_t        base = wasi_arg64(c, 1), inherit = wasi_arg64(c, 2);
	struct wasi_fd *f;
	bt_wasm_wasi   *w;

	CTX(w, arg, c);
	FD(f, w, fd, 0, c);
	/* rights can only ever shrink */
	if ((base & ~f->rights) || (inherit & ~f->inherit))
		return wasi_ret(c, WASI_ENOTCAPABLE);
	f->rights = base;
	f->inherit = inherit;
	return wasi_ret(c, WASI_ESUCCESS);
}

static void
put_filestat(uint8_t *m, const struct stat *st)
{
	memset(m, 0, WASI_FILESTAT_SIZE);
	bt_put_le64(m, (uint64_t)st->st_dev);
	bt_put_le64(m + 8, (uint64_t)st->st_ino);
	m[16] = bt__wasi_filetype(st->st_mode);
	bt_put_le64(m + 24, (uint64_t)st->st_nlink);
	bt_put_le64(m + 32, (uint64_t)st->st_size);
	bt_put_le64(m + 40,
	    (uint64_t)st->st_atim.tv_sec * 1000000000u
	        + (uint64_t)st->st_atim.tv_nsec);
	bt_put_le64(m + 48,
	    (uint64_t)st->st_mtim.tv_sec * 1000000000u
	        + (uint64_t)st->st_mtim.tv_nsec);
	bt_put_le64(m + 56,
	    (uint64_t)st->st_ctim.tv_sec * 1000000000u
	        + (uint64_t)st->st_ctim.tv_nsec);
}

int
bt__wasi_fd_filestat_get(void *arg, struct bt_wasm_call *c)
{
	uint32_t        fd = wasi_arg32(c, 0), p = wasi_arg32(c, 1);
	struct wasi_fd *f;
	struct stat     st;
	bt_wasm_wasi   *w;
	uint8_t        *m;

	CTX(w, arg, c);
	FD(f, w, fd, WASI_R_FD_FILESTAT_GET, c);
	m = bt_wasm_call_mem(c, p, WASI_FILESTAT_SIZE);
	if (m == NULL)
		return wasi_ret(c, WASI_EFAULT);
	if (fstat(f->host, &st) != 0)
		return wasi_ret(c, bt__wasi_errno(errno));
	put_filestat(m, &st);
	return wasi_ret(c, WASI_ESUCCESS);
}

int
bt__wasi_fd_filestat_set_size(void *arg, struct bt_wasm_call *c)
{
	uint32_t        fd = wasi_arg32(c, 0);
	uint64_t        size = wasi_arg64(c, 1);
	struct wasi_fd *f;
	bt_wasm_wasi   *w;

	CTX(w, arg, c);
	FD(f, w, fd, WASI_R_FD_FILESTAT_SET_SIZE, c);
	if (size > INT64_MAX)
		return wasi_ret(c, WASI_EINVAL);
	if (ftruncate(f->host, (off_t)size) != 0)
		return wasi_ret(c, bt__wasi_errno(errno));
	return wasi_ret(c, WASI_ESUCCESS);
}

/* times_of turns (atim, mtim, fstflags) into the utimensat array. */
static int
times_of(uint64_t atim, uint64_t mtim, uint32_t fl, struct timespec ts[2])
{
	if (((fl & WASI_FST_ATIM) && (fl & WASI_FST_ATIM_NOW))
	    || ((fl & WASI_FST_MTIM) && (fl & WASI_FST_MTIM_NOW))
	    || (fl & ~0xfu))
		return -EINVAL;
	ts[0].tv_sec = (time_t)(atim / 1000000000u);
	ts[0].tv_nsec = (long)(atim % 1000000000u);
	ts[1].tv_sec = (time_t)(mtim / 1000000000u);
	ts[1].tv_nsec = (long)(mtim % 1000000000u);
	if (fl & WASI_FST_ATIM_NOW)
		ts[0].tv_nsec = UTIME_NOW;
	else if (!(fl & WASI_FST_ATIM))
		ts[0].tv_nsec = UTIME_OMIT;
	if (fl & WASI_FST_MTIM_NOW)
		ts[1].tv_nsec = UTIME_NOW;
	else if (!(fl & WASI_FST_MTIM))
		ts[1].tv_nsec = UTIME_OMIT;
	return 0;
}

int
bt__wasi_fd_filestat_set_times(void *arg, struct bt_wasm_call *c)
{
	uint32_t        fd = wasi_arg32(c, 0), fl = wasi_arg32(c, 3) & 0xffff;
	uint64_t        atim = wasi_arg64(c, 1), mtim = wasi_arg64(c, 2);
	struct timespec ts[2];
	struct wasi_fd *f;
	bt_wasm_wasi   *w;

	CTX(w, arg, c);
	FD(f, w, fd, WASI_R_FD_FILESTAT_SET_TIMES, c);
	if (times_of(atim, mtim, fl, ts) != 0)
		return wasi_ret(c, WASI_EINVAL);
	if (futimens(f->host, ts) != 0)
		return wasi_ret(c, bt__wasi_errno(errno));
	return wasi_ret(c, WASI_ESUCCESS);
}

/*
 * Preopens.
 */

int
bt__wasi_fd_prestat_get(void *arg, struct bt_wasm_call *c)
{
	uint32_t        fd = wasi_arg32(c, 0), p = wasi_arg32(c, 1);
	struct wasi_fd *f;
	bt_wasm_wasi   *w;
	uint8_t        *m;

	CTX(w, arg, c);
	f = bt__wasi_fd_get(w, fd);
	if (f == NULL || f->preopen == NULL)
		return wasi_ret(c, WASI_EBADF);
	m = bt_wasm_call_mem(c, p, 8);
	if (m == NULL)
		return wasi_ret(c, WASI_EFAULT);
	memset(m, 0, 8);
	m[0] = 0; /* preopentype dir */
	bt_put_le32(m + 4, (uint32_t)strlen(f->preopen));
	return wasi_ret(c, WASI_ESUCCESS);
}

int
bt__wasi_fd_prestat_dir_name(void *arg, struct bt_wasm_call *c)
{
	uint32_t        fd = wasi_arg32(c, 0), p = wasi_arg32(c, 1);
	uint32_t        len = wasi_arg32(c, 2);
	struct wasi_fd *f;
	bt_wasm_wasi   *w;
	size_t          n;
	uint8_t        *m;

	CTX(w, arg, c);
	f = bt__wasi_fd_get(w, fd);
	if (f == NULL || f->preopen == NULL)
		return wasi_ret(c, WASI_EBADF);
	n = strlen(f->preopen);
	if (len < n)
		return wasi_ret(c, WASI_ENAMETOOLONG);
	m = bt_wasm_call_mem(c, p, n);
	if (m == NULL)
		return wasi_ret(c, WASI_EFAULT);
	memcpy(m, f->preopen, n);
	return wasi_ret(c, WASI_ESUCCESS);
}

/*
 * Folders.
 */

static uint8_t
dtype(unsigned char t)
{
	switch (t) {
	case DT_REG:
		return WASI_FT_REGULAR_FILE;
	case DT_DIR:
		return WASI_FT_DIRECTORY;
	case DT_LNK:
		return WASI_FT_SYMBOLIC_LINK;
	case DT_CHR:
		return WASI_FT_CHARACTER_DEVICE;
	case DT_BLK:
		return WASI_FT_BLOCK_DEVICE;
	case DT_SOCK:
		return WASI_FT_SOCKET_STREAM;
	default:
		return WASI_FT_UNKNOWN;
	}
}

/* The kernel's struct linux_dirent64, read field by field. */
struct kdirent {
	uint64_t       ino;
	int64_t        off;
	unsigned short reclen;
	unsigned char  type;
	char           name[];
};

/*
 * fd_readdir(fd, buf, buf_len, cookie, bufused): entries from the one after
 * cookie (0 = the first), as 24-byte dirents each followed by its name.
 * The cookie of an entry (d_next) is the kernel's d_off, so lseek(cookie)
 * resumes after it. When the buffer fills, the last entry is cut short
 * and bufused == buf_len: wasi-libc then retries with a larger buffer.
 */
int
bt__wasi_fd_readdir(void *arg, struct bt_wasm_call *c)
{
	uint32_t fd = wasi_arg32(c, 0), pbuf = wasi_arg32(c, 1);
	uint32_t blen = wasi_arg32(c, 2), pused = wasi_arg32(c, 4);
	uint64_t cookie = wasi_arg64(c, 3);
	uint8_t *buf, *used, rec[WASI_DIRENT_SIZE];
	uint8_t  kbuf[DENTS_BUF] __attribute__((aligned(8)));
	const struct kdirent *d;
	struct wasi_fd       *f;
	bt_wasm_wasi         *w;
	size_t                out = 0, nl, take;
	long                  n, pos;

	CTX(w, arg, c);
	FD(f, w, fd, WASI_R_FD_READDIR, c);
	buf = bt_wasm_call_mem(c, pbuf, blen);
	used = bt_wasm_call_mem(c, pused, 4);
	if (buf == NULL || used == NULL)
		return wasi_ret(c, WASI_EFAULT);
	if (cookie > INT64_MAX)
		return wasi_ret(c, WASI_EINVAL);
	if (lseek(f->host, (off_t)cookie, SEEK_SET) < 0)
		return wasi_ret(c, bt__wasi_errno(errno));
	while (out < blen) {
		n = getdents64(f->host, kbuf, sizeof(kbuf));
		if (n < 0)
			return wasi_ret(c, bt__wasi_errno(errno));
		if (n == 0)
			break;
		for (pos = 0; pos < n && out < blen; pos += d->reclen) {
			d = (const struct kdirent *)(const void *)(kbuf + pos);
			nl = strlen(d->name);
			memset(rec, 0, sizeof(rec));
			bt_put_le64(rec, (uint64_t)d->off);
			bt_put_le64(rec + 8, d->ino);
			bt_put_le32(rec + 16, (uint32_t)nl);
			rec[20] = dtype(d->type);
			take = blen - out < sizeof(rec) ? blen - out
			                                : sizeof(rec);
			memcpy(buf + out, rec, take);
			out += take;
			take = blen - out < nl ? blen - out : nl;
			memcpy(buf + out, d->name, take);
			out += take;
		}
	}
	bt_put_le32(used, (uint32_t)out);
	return wasi_ret(c, WASI_ESUCCESS);
}

/* dir_fd returns the folder slot for a path call, with the right need. */
static int
dir_fd(bt_wasm_wasi *w, uint32_t fd, uint64_t need, struct wasi_fd **out)
{
	struct wasi_fd *f = bt__wasi_fd_get(w, fd);

	if (f == NULL)
		return WASI_EBADF;
	if (f->type != WASI_FT_DIRECTORY)
		return WASI_ENOTDIR;
	if ((f->rights & need) != need)
		return WASI_ENOTCAPABLE;
	*out = f;
	return 0;
}

/*
 * path_open(fd, dirflags, path, path_len, oflags, rights_base,
 * rights_inheriting, fdflags, fd_out).
 */
int
bt__wasi_path_open(void *arg, struct bt_wasm_call *c)
{
	uint32_t dfd = wasi_arg32(c, 0), lookup = wasi_arg32(c, 1);
	uint32_t ppath = wasi_arg32(c, 2), plen = wasi_arg32(c, 3);
	uint32_t oflags = wasi_arg32(c, 4) & 0xffff;
	uint64_t base = wasi_arg64(c, 5), inherit = wasi_arg64(c, 6);
	uint32_t fdflags = wasi_arg32(c, 7) & 0xffff, pfd = wasi_arg32(c, 8);
	uint64_t need = WASI_R_PATH_OPEN;
	const char     *path;
	struct wasi_fd *d, *nf;
	struct stat     st;
	bt_wasm_wasi   *w;
	bool            rd, wr;
	uint32_t        fd;
	uint8_t        *m;
	int             e, flags = 0, host, rc;

	CTX(w, arg, c);
	if (oflags & WASI_O_CREAT)
		need |= WASI_R_PATH_CREATE_FILE;
	if (oflags & WASI_O_TRUNC)
		need |= WASI_R_PATH_FILESTAT_SET_SIZE;
	e = dir_fd(w, dfd, need, &d);
	if (e != 0)
		return wasi_ret(c, e);
	path = guest_path(c, ppath, plen);
	m = bt_wasm_call_mem(c, pfd, 4);
	if (path == NULL || m == NULL)
		return wasi_ret(c, WASI_EFAULT);

	/* A new fd never has more than its folder may hand down. */
	base &= d->inherit;
	inherit &= d->inherit;
	rd = (base & (WASI_R_FD_READ | WASI_R_FD_READDIR)) != 0;
	wr = (base
	         & (WASI_R_FD_WRITE | WASI_R_FD_DATASYNC | WASI_R_FD_ALLOCATE
	             | WASI_R_FD_FILESTAT_SET_SIZE))
	        != 0
	    || (fdflags & WASI_FDFLAG_APPEND) || (oflags & WASI_O_TRUNC);
	if (oflags & WASI_O_DIRECTORY) {
		flags = O_RDONLY | O_DIRECTORY;
		wr = false;
	} else if (rd && wr) {
		flags = O_RDWR;
	} else if (wr) {
		flags = O_WRONLY;
	} else if (rd) {
		flags = O_RDONLY;
	} else {
		flags = O_PATH; /* only for stat-like uses */
	}
	if (oflags & WASI_O_CREAT)
		flags |= O_CREAT;
	if (oflags & WASI_O_EXCL)
		flags |= O_EXCL;
	if (oflags & WASI_O_TRUNC)
		flags |= O_TRUNC;
	if (fdflags & WASI_FDFLAG_APPEND)
		flags |= O_APPEND;
	if (fdflags & WASI_FDFLAG_NONBLOCK)
		flags |= O_NONBLOCK;
	if (fdflags & WASI_FDFLAG_DSYNC)
		flags |= O_DSYNC;
	if (fdflags & (WASI_FDFLAG_SYNC | WASI_FDFLAG_RSYNC))
		flags |= O_SYNC;
	if ((flags & O_PATH) && (flags & ~(O_PATH | O_DIRECTORY)))
		flags = (flags & ~O_PATH) | O_RDONLY;

	host = bt__wasi_open(
	    d->host, path, plen, flags, 0666, res_flags(w, lookup));
	if (host < 0)
		return wasi_ret(c, bt__wasi_errno(host));
	if (fstat(host, &st) != 0) {
		e = errno;
		close(host);
		return wasi_ret(c, bt__wasi_errno(e));
	}
	rc = bt__wasi_fd_alloc(w, host, &fd);
	if (rc != 0) {
		close(host);
		return wasi_ret(c, bt__wasi_errno(rc));
	}
	nf = &w->fds[fd];
	nf->type = bt__wasi_filetype(st.st_mode);
	nf->fdflags = (uint16_t)fdflags;
	if (S_ISDIR(st.st_mode)) {
		nf->rights = base & (WASI_RIGHTS_DIR | WASI_R_FD_READDIR);
		nf->inherit = inherit;
	} else {
		nf->rights = base & WASI_RIGHTS_FILE;
		nf->inherit = 0;
		if (!S_ISREG(st.st_mode))
			nf->rights &= ~(WASI_R_FD_SEEK | WASI_R_FD_TELL);
	}
	if (!rd)
		nf->rights &= ~(WASI_R_FD_READ | WASI_R_FD_READDIR);
	if (!wr)
		nf->rights &= ~WASI_R_FD_WRITE;
	bt_put_le32(m, fd);
	return wasi_ret(c, WASI_ESUCCESS);
}

/* resolve_at resolves a guest path below folder fd for a path_* call. */
static int
resolve_at(struct bt_wasm_call *c, bt_wasm_wasi *w, uint32_t fd, uint64_t need,
    uint32_t lookup, uint32_t ppath, uint32_t plen, struct wasi_rpath *rp)
{
	struct wasi_fd *d;
	const char     *path;
	int             e, rc;

	e = dir_fd(w, fd, need, &d);
	if (e != 0)
		return e;
	path = guest_path(c, ppath, plen);
	if (path == NULL)
		return WASI_EFAULT;
	rc = bt__wasi_resolve(d->host, path, plen, res_flags(w, lookup), rp);
	return rc == 0 ? 0 : bt__wasi_errno(rc);
}

int
bt__wasi_path_filestat_get(void *arg, struct bt_wasm_call *c)
{
	uint32_t          fd = wasi_arg32(c, 0), lookup = wasi_arg32(c, 1);
	uint32_t          ppath = wasi_arg32(c, 2), plen = wasi_arg32(c, 3);
	uint32_t          pout = wasi_arg32(c, 4);
	struct wasi_rpath rp;
	struct stat       st;
	bt_wasm_wasi     *w;
	uint8_t          *m;
	int               e;

	CTX(w, arg, c);
	m = bt_wasm_call_mem(c, pout, WASI_FILESTAT_SIZE);
	if (m == NULL)
		return wasi_ret(c, WASI_EFAULT);
	e = resolve_at(
	    c, w, fd, WASI_R_PATH_FILESTAT_GET, lookup, ppath, plen, &rp);
	if (e != 0)
		return wasi_ret(c, e);
	e = fstatat(rp.dirfd, rp.name, &st, AT_SYMLINK_NOFOLLOW) != 0
	    ? bt__wasi_errno(errno)
	    : 0;
	if (e == 0 && rp.must_dir && !S_ISDIR(st.st_mode))
		e = WASI_ENOTDIR;
	bt__wasi_rpath_fini(&rp);
	if (e != 0)
		return wasi_ret(c, e);
	put_filestat(m, &st);
	return wasi_ret(c, WASI_ESUCCESS);
}

int
bt__wasi_path_filestat_set_times(void *arg, struct bt_wasm_call *c)
{
	uint32_t          fd = wasi_arg32(c, 0), lookup = wasi_arg32(c, 1);
	uint32_t          ppath = wasi_arg32(c, 2), plen = wasi_arg32(c, 3);
	uint64_t          atim = wasi_arg64(c, 4), mtim = wasi_arg64(c, 5);
	uint32_t          fl = wasi_arg32(c, 6) & 0xffff;
	struct wasi_rpath rp;
	struct timespec   ts[2];
	bt_wasm_wasi     *w;
	int               e;

	CTX(w, arg, c);
	if (times_of(atim, mtim, fl, ts) != 0)
		return wasi_ret(c, WASI_EINVAL);
	e = resolve_at(c, w, fd, WASI_R_PATH_FILESTAT_SET_TIMES, lookup, ppath,
	    plen, &rp);
	if (e != 0)
		return wasi_ret(c, e);
	e = utimensat(rp.dirfd, rp.name, ts, AT_SYMLINK_NOFOLLOW) != 0
	    ? bt__wasi_errno(errno)
	    : 0;
	bt__wasi_rpath_fini(&rp);
	return wasi_ret(c, e);
}

int
bt__wasi_path_create_directory(void *arg, struct bt_wasm_call *c)
{
	uint32_t          fd = wasi_arg32(c, 0), ppath = wasi_arg32(c, 1);
	uint32_t          plen = wasi_arg32(c, 2);
	struct wasi_rpath rp;
	bt_wasm_wasi     *w;
	int               e;

	CTX(w, arg, c);
	e = resolve_at(
	    c, w, fd, WASI_R_PATH_CREATE_DIRECTORY, 0, ppath, plen, &rp);
	if (e != 0)
		return wasi_ret(c, e);
	e = mkdirat(rp.dirfd, rp.name, 0777) != 0 ? bt__wasi_errno(errno) : 0;
	bt__wasi_rpath_fini(&rp);
	return wasi_ret(c, e);
}

int
bt__wasi_path_remove_directory(void *arg, struct bt_wasm_call *c)
{
	uint32_t          fd = wasi_arg32(c, 0), ppath = wasi_arg32(c, 1);
	uint32_t          plen = wasi_arg32(c, 2);
	struct wasi_rpath rp;
	bt_wasm_wasi     *w;
	int               e;

	CTX(w, arg, c);
	e = resolve_at(
	    c, w, fd, WASI_R_PATH_REMOVE_DIRECTORY, 0, ppath, plen, &rp);
	if (e != 0)
		return wasi_ret(c, e);
	if (strcmp(rp.name, ".") == 0)
		e = WASI_EINVAL; /* a preopen (or "x/..") cannot be removed */
	else if (unlinkat(rp.dirfd, rp.name, AT_REMOVEDIR) != 0)
		e = bt__wasi_errno(errno);
	bt__wasi_rpath_fini(&rp);
	return wasi_ret(c, e);
}

int
bt__wasi_path_unlink_file(void *arg, struct bt_wasm_call *c)
{
	uint32_t          fd = wasi_arg32(c, 0), ppath = wasi_arg32(c, 1);
	uint32_t          plen = wasi_arg32(c, 2);
	struct wasi_rpath rp;
	struct stat       st;
	bt_wasm_wasi     *w;
	int               e = 0;

	CTX(w, arg, c);
	e = resolve_at(c, w, fd, WASI_R_PATH_UNLINK_FILE, 0, ppath, plen, &rp);
	if (e != 0)
		return wasi_ret(c, e);
	if (strcmp(rp.name, ".") == 0) {
		e = WASI_EISDIR;
	} else if (rp.must_dir) {
		/* "file/" names a folder: never a file to unlink */
		e = fstatat(rp.dirfd, rp.name, &st, AT_SYMLINK_NOFOLLOW) != 0
		    ? bt__wasi_errno(errno)
		    : (S_ISDIR(st.st_mode) ? WASI_EISDIR : WASI_ENOTDIR);
	} else if (unlinkat(rp.dirfd, rp.name, 0) != 0) {
		e = bt__wasi_errno(errno);
	}
	bt__wasi_rpath_fini(&rp);
	return wasi_ret(c, e);
}

int
bt__wasi_path_rename(void *arg, struct bt_wasm_call *c)
{
	uint32_t          fd = wasi_arg32(c, 0), pold = wasi_arg32(c, 1);
	uint32_t          lold = wasi_arg32(c, 2), fd2 = wasi_arg32(c, 3);
	uint32_t          pnew = wasi_arg32(c, 4), lnew = wasi_arg32(c, 5);
	struct wasi_rpath a, b;
	bt_wasm_wasi     *w;
	int               e;

	CTX(w, arg, c);
	e = resolve_at(c, w, fd, WASI_R_PATH_RENAME_SOURCE, 0, pold, lold, &a);
	if (e != 0)
		return wasi_ret(c, e);
	e = resolve_at(
	    c, w, fd2, WASI_R_PATH_RENAME_TARGET, 0, pnew, lnew, &b);
	if (e != 0) {
		bt__wasi_rpath_fini(&a);
		return wasi_ret(c, e);
	}
	if (strcmp(a.name, ".") == 0 || strcmp(b.name, ".") == 0)
		e = WASI_EBUSY;
	else if (renameat(a.dirfd, a.name, b.dirfd, b.name) != 0)
		e = bt__wasi_errno(errno);
	bt__wasi_rpath_fini(&a);
	bt__wasi_rpath_fini(&b);
	return wasi_ret(c, e);
}

/*
 * path_symlink(old_path, old_len, fd, new_path, new_len): the link's
 * target is only text, but an absolute one could never be followed here
 * and would point host programs outside the folder: refused.
 */
int
bt__wasi_path_symlink(void *arg, struct bt_wasm_call *c)
{
	uint32_t          pold = wasi_arg32(c, 0), lold = wasi_arg32(c, 1);
	uint32_t          fd = wasi_arg32(c, 2), pnew = wasi_arg32(c, 3);
	uint32_t          lnew = wasi_arg32(c, 4);
	char              target[WASI_MAX_PATH + 1];
	struct wasi_rpath rp;
	const char       *old;
	bt_wasm_wasi     *w;
	int               e;

	CTX(w, arg, c);
	old = guest_path(c, pold, lold);
	if (old == NULL)
		return wasi_ret(c, WASI_EFAULT);
	if (lold == 0)
		return wasi_ret(c, WASI_ENOENT);
	if (lold > WASI_MAX_PATH)
		return wasi_ret(c, WASI_ENAMETOOLONG);
	if (memchr(old, '\0', lold) != NULL)
		return wasi_ret(c, WASI_EILSEQ);
	if (old[0] == '/')
		return wasi_ret(c, WASI_ENOTCAPABLE);
	memcpy(target, old, lold);
	target[lold] = '\0';
	e = resolve_at(c, w, fd, WASI_R_PATH_SYMLINK, 0, pnew, lnew, &rp);
	if (e != 0)
		return wasi_ret(c, e);
	e = symlinkat(target, rp.dirfd, rp.name) != 0 ? bt__wasi_errno(errno)
	                                              : 0;
	bt__wasi_rpath_fini(&rp);
	return wasi_ret(c, e);
}

int
bt__wasi_path_readlink(void *arg, struct bt_wasm_call *c)
{
	uint32_t          fd = wasi_arg32(c, 0), ppath = wasi_arg32(c, 1);
	uint32_t          plen = wasi_arg32(c, 2), pbuf = wasi_arg32(c, 3);
	uint32_t          blen = wasi_arg32(c, 4), pused = wasi_arg32(c, 5);
	char              target[WASI_MAX_PATH + 1];
	struct wasi_rpath rp;
	uint8_t          *buf, *used;
	bt_wasm_wasi     *w;
	ssize_t           n;
	int               e;

	CTX(w, arg, c);
	buf = bt_wasm_call_mem(c, pbuf, blen);
	used = bt_wasm_call_mem(c, pused, 4);
	if (buf == NULL || used == NULL)
		return wasi_ret(c, WASI_EFAULT);
	e = resolve_at(c, w, fd, WASI_R_PATH_READLINK, 0, ppath, plen, &rp);
	if (e != 0)
		return wasi_ret(c, e);
	n = readlinkat(rp.dirfd, rp.name, target, sizeof(target));
	e = n < 0 ? bt__wasi_errno(errno) : 0;
	bt__wasi_rpath_fini(&rp);
	if (e != 0)
		return wasi_ret(c, e);
	if ((size_t)n > blen)
		n = (ssize_t)blen; /* truncated, as readlink(2) does */
	memcpy(buf, target, (size_t)n);
	bt_put_le32(used, (uint32_t)n);
	return wasi_ret(c, WASI_ESUCCESS);
}

/*
 * path_link(old_fd, old_flags, old_path, old_len, new_fd, new_path,
 * new_len): a hard link between two names that are both inside folders
 * the guest holds. With SYMLINK_FOLLOW the source link is resolved by our
 * walk first, never by the kernel.
 */
int
bt__wasi_path_link(void *arg, struct bt_wasm_call *c)
{
	uint32_t          fd = wasi_arg32(c, 0), lookup = wasi_arg32(c, 1);
	uint32_t          pold = wasi_arg32(c, 2), lold = wasi_arg32(c, 3);
	uint32_t          fd2 = wasi_arg32(c, 4), pnew = wasi_arg32(c, 5);
	uint32_t          lnew = wasi_arg32(c, 6);
	struct wasi_rpath a, b;
	bt_wasm_wasi     *w;
	int               e;

	CTX(w, arg, c);
	e = resolve_at(
	    c, w, fd, WASI_R_PATH_LINK_SOURCE, lookup, pold, lold, &a);
	if (e != 0)
		return wasi_ret(c, e);
	e = resolve_at(c, w, fd2, WASI_R_PATH_LINK_TARGET, 0, pnew, lnew, &b);
	if (e != 0) {
		bt__wasi_rpath_fini(&a);
		return wasi_ret(c, e);
	}
	if (linkat(a.dirfd, a.name, b.dirfd, b.name, 0) != 0)
		e = bt__wasi_errno(errno);
	bt__wasi_rpath_fini(&a);
	bt__wasi_rpath_fini(&b);
	return wasi_ret(c, e);
}
