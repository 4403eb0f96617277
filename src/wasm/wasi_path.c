/*
 * wasi_path.c: resolving guest paths beneath a preopened folder, so that no
 * path a WebAssembly program names can reach a file outside it. Used by
 * wasi_fs.c for every path_* function.
 *
 * Design.
 *
 * A guest path is always relative to a folder fd, the root of the call (a
 * preopen or a folder the guest opened below one). Two ways to resolve it:
 *
 *  1. openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, when the
 *     kernel has it (Linux 5.6+, probed once). The kernel then refuses
 *     absolute paths, ".." above root and symbolic links that leave root
 *     (EXDEV, which we report as BT_EPATH), and never follows procfs magic
 *     links. This is the fast path: one syscall per path_open.
 *
 *  2. A walk, component by component, for older kernels (and for tests,
 *     with WASI_RES_NO_OPENAT2). Invariants of the walk:
 *       (a) the current folder is an fd obtained by openat(O_PATH |
 *           O_DIRECTORY | O_NOFOLLOW) from the previous one, so it is a
 *           real folder, never a symbolic link the kernel followed;
 *       (b) canon holds the names from root to the current folder; ".."
 *           pops a name and reopens the folder from root along canon. The
 *           kernel's ".." is never used, so a folder moved elsewhere by
 *           another process while we hold it cannot lead us out;
 *       (c) ".." with canon empty is an escape (BT_EPATH);
 *       (d) a symbolic link is read with readlinkat and its target
 *           spliced in front of the rest of the path, relative to the
 *           folder holding it; an absolute target is an escape; at most
 *           WASI_MAX_SYMLINKS expansions (ELOOP);
 *       (e) the last component is handed to an *at() call with
 *           O_NOFOLLOW / AT_SYMLINK_NOFOLLOW, so if it became a link after
 *           we looked, the call fails instead of following it.
 *
 * Hard links and bind mounts made by the host inside a preopen are the
 * host's decision and are not second-guessed (docs/wasi.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "wasi_int.h"

/* The walk's buffers: the rest of the path (grows by symlink targets) and
 * the canonical path of the current folder below root. */
#define WORK_CAP  (2 * WASI_MAX_PATH + 2)
#define CANON_CAP (2 * WASI_MAX_PATH)

/* 0 unknown, 1 the kernel has openat2, 2 it has not. */
static atomic_int openat2_state;

static int
sys_openat2(int dirfd, const char *path, int flags, unsigned mode)
{
	struct open_how how;
	long            r;
	int             tries;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(unsigned)flags;
	/* openat2 insists on mode 0 unless a file may be created */
	how.mode = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
	    ? mode
	    : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	/* EAGAIN: a concurrent rename made the kernel unsure a ".." stayed
	 * beneath; retrying is what the man page asks for. */
	for (tries = 0; tries < 16; tries++) {
		r = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (r >= 0)
			return (int)r;
		if (errno != EAGAIN && errno != EINTR)
			break;
	}
	if (errno == EXDEV)
		return BT_EPATH;
	return -errno;
}

bool
bt__wasi_have_openat2(void)
{
	struct open_how how;
	int state = atomic_load_explicit(&openat2_state, memory_order_relaxed);
	long r;

	if (state != 0)
		return state == 1;
	memset(&how, 0, sizeof(how));
	how.flags = O_PATH | O_CLOEXEC;
	how.resolve = RESOLVE_NO_MAGICLINKS;
	r = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how));
	if (r >= 0) {
		close((int)r);
		state = 1;
	} else {
		/* ENOSYS on old kernels; EPERM/EINVAL under some seccomp
		 * filters: either way, walk instead */
		state = 2;
	}
	atomic_store_explicit(&openat2_state, state, memory_order_relaxed);
	return state == 1;
}

/* copy_path checks the guest's bytes and makes a C string of them. */
static int
copy_path(char *dst, size_t cap, const char *path, size_t len)
{
	if (len == 0)
		return -ENOENT;
	if (len >= cap || len > WASI_MAX_PATH)
		return -ENAMETOOLONG;
	if (memchr(path, '\0', len) != NULL)
		return -EILSEQ;
	if (path[0] == '/')
		return BT_EPATH;
	memcpy(dst, path, len);
	dst[len] = '\0';
	return 0;
}

void
bt__wasi_rpath_fini(struct wasi_rpath *rp)
{
	if (rp->owned && rp->dirfd >= 0)
		close(rp->dirfd);
	rp->dirfd = -1;
	rp->owned = false;
}

static int
set_name(struct wasi_rpath *out, const char *name, size_t n)
{
	if (n >= sizeof(out->name))
		return -ENAMETOOLONG;
	memcpy(out->name, name, n);
	out->name[n] = '\0';
	return 0;
}

/* reopen opens the folder canon[0..len) names, from root, one real folder
 * at a time (invariant b). */
static int
reopen(int root, const char *canon, size_t len)
{
	char   comp[256];
	size_t i = 0, j, n;
	int    cur = root, fd;

	while (i < len) {
		j = i;
		while (j < len && canon[j] != '/')
			j++;
		n = j - i;
		memcpy(comp, canon + i, n); /* n <= 255: checked when added */
		comp[n] = '\0';
		fd = openat(
		    cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cur != root)
			close(cur);
		if (fd < 0)
			return -errno;
		cur = fd;
		i = j + 1;
	}
	if (cur == root) {
		fd = fcntl(root, F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	return cur;
}

/* walk resolves the NUL-terminated work (WORK_CAP bytes of room) beneath
 * root; see the design block for its invariants. */
static int
walk(int root, char *work, unsigned flags, struct wasi_rpath *out)
{
	char    canon[CANON_CAP], link[WASI_MAX_PATH + 1], comp[256];
	size_t  pos = 0, canon_len = 0, start, clen, p2, rest_len;
	int     cur = root, nlinks = 0, fd, rc, e;
	bool    last, trailing;
	ssize_t n;

	for (;;) {
		while (work[pos] == '/')
			pos++;
		if (work[pos] == '\0') {
			/* ended after a folder ("a/"): the folder itself */
			rc = set_name(out, ".", 1);
			trailing = true;
			goto done;
		}
		start = pos;
		while (work[pos] != '\0' && work[pos] != '/')
			pos++;
		clen = pos - start;
		if (clen > 255) {
			rc = -ENAMETOOLONG;
			goto fail;
		}
		memcpy(comp, work + start, clen);
		comp[clen] = '\0';
		p2 = pos;
		trailing = false;
		while (work[p2] == '/') {
			p2++;
			trailing = true;
		}
		last = work[p2] == '\0';

		if (strcmp(comp, ".") == 0) {
			if (last) {
				rc = set_name(out, ".", 1);
				goto done;
			}
			continue;
		}
		if (strcmp(comp, "..") == 0) {
			if (canon_len == 0) {
				rc = BT_EPATH; /* invariant c */
				goto fail;
			}
			while (canon_len > 0 && canon[canon_len - 1] != '/')
				canon_len--;
			if (canon_len > 0)
				canon_len--; /* the separator */
			if (cur != root)
				close(cur);
			cur = root;
			if (canon_len > 0) {
				fd = reopen(root, canon, canon_len);
				if (fd < 0) {
					rc = fd;
					goto fail;
				}
				cur = fd;
			}
			if (last) {
				rc = set_name(out, ".", 1);
				goto done;
			}
			continue;
		}
		if (last && !trailing && !(flags & WASI_RES_FOLLOW)) {
			rc = set_name(out, comp, clen);
			goto done;
		}
		if (last) {
			/* follow the last component if it is a link */
			n = readlinkat(cur, comp, link, sizeof(link));
			if (n < 0) {
				e = errno;
				if (e == EINVAL || e == ENOENT) {
					rc = set_name(out, comp, clen);
					goto done;
				}
				rc = -e;
				goto fail;
			}
		} else {
			fd = openat(cur, comp,
			    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0) {
				if (canon_len + 1 + clen >= CANON_CAP) {
					close(fd);
					rc = -ENAMETOOLONG;
					goto fail;
				}
				if (canon_len > 0)
					canon[canon_len++] = '/';
				memcpy(canon + canon_len, comp, clen);
				canon_len += clen;
				if (cur != root)
					close(cur);
				cur = fd; /* invariant a */
				continue;
			}
			e = errno;
			if (e != ENOTDIR && e != ELOOP) {
				rc = -e;
				goto fail;
			}
			n = readlinkat(cur, comp, link, sizeof(link));
			if (n < 0) {
				rc = -e; /* a file used as a folder */
				goto fail;
			}
		}
		/* splice the link's target in front of the rest (invariant d)
		 */
		if (++nlinks > WASI_MAX_SYMLINKS) {
			rc = -ELOOP;
			goto fail;
		}
		if (n == 0) {
			rc = -ENOENT;
			goto fail;
		}
		if ((size_t)n >= sizeof(link)) {
			rc = -ENAMETOOLONG;
			goto fail;
		}
		if (link[0] == '/') {
			rc = BT_EPATH;
			goto fail;
		}
		rest_len = strlen(work + pos);
		if ((size_t)n + rest_len + 1 > WORK_CAP) {
			rc = -ENAMETOOLONG;
			goto fail;
		}
		memmove(work + n, work + pos, rest_len + 1);
		memcpy(work, link, (size_t)n);
		pos = 0;
	}

done:
	if (rc != 0)
		goto fail;
	out->dirfd = cur;
	out->owned = cur != root;
	out->must_dir = trailing;
	return 0;
fail:
	if (cur != root)
		close(cur);
	return rc;
}

/* split resolves without following the last component, with openat2 for
 * the folder part. */
static int
split(int root, char *buf, struct wasi_rpath *out)
{
	size_t len = strlen(buf);
	bool   must_dir = false;
	char  *slash, *name;
	int    fd, rc;

	while (len > 0 && buf[len - 1] == '/') {
		buf[--len] = '\0';
		must_dir = true;
	}
	slash = strrchr(buf, '/');
	name = slash != NULL ? slash + 1 : buf;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		fd = sys_openat2(
		    root, buf, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
		if (fd < 0)
			return fd;
		rc = set_name(out, ".", 1);
		out->dirfd = fd;
		out->owned = true;
		out->must_dir = true;
		return rc;
	}
	rc = set_name(out, name, strlen(name));
	if (rc != 0)
		return rc;
	if (slash == NULL) {
		out->dirfd = root;
		out->owned = false;
	} else {
		*slash = '\0';
		fd = sys_openat2(
		    root, buf, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
		if (fd < 0)
			return fd;
		out->dirfd = fd;
		out->owned = true;
	}
	out->must_dir = must_dir;
	return 0;
}

int
bt__wasi_resolve(int root, const char *path, size_t len, unsigned flags,
    struct wasi_rpath *out)
{
	char              work[WORK_CAP];
	struct wasi_rpath rp;
	int               rc;

	rc = copy_path(work, sizeof(work), path, len);
	if (rc != 0)
		return rc;
	memset(&rp, 0, sizeof(rp));
	rp.dirfd = -1;
	if (!(flags & (WASI_RES_FOLLOW | WASI_RES_NO_OPENAT2))
	    && bt__wasi_have_openat2())
		rc = split(root, work, &rp);
	else
		rc = walk(root, work, flags, &rp);
	if (rc != 0) {
		bt__wasi_rpath_fini(&rp);
		return rc;
	}
	*out = rp;
	return 0;
}

int
bt__wasi_open(int root, const char *path, size_t len, int oflags,
    unsigned mode, unsigned flags)
{
	char              work[WORK_CAP];
	struct wasi_rpath rp;
	int               fd, rc;

	oflags |= O_CLOEXEC;
	if (!(flags & WASI_RES_NO_OPENAT2) && bt__wasi_have_openat2()) {
		rc = copy_path(work, sizeof(work), path, len);
		if (rc != 0)
			return rc;
		if (!(flags & WASI_RES_FOLLOW))
			oflags |= O_NOFOLLOW;
		return sys_openat2(root, work, oflags, mode);
	}
	rc = bt__wasi_resolve(
	    root, path, len, flags | WASI_RES_NO_OPENAT2, &rp);
	if (rc != 0)
		return rc;
	if (rp.must_dir)
		oflags |= O_DIRECTORY;
	/* invariant e: never let the kernel follow the last component */
	fd = openat(rp.dirfd, rp.name, oflags | O_NOFOLLOW, (mode_t)mode);
	rc = fd < 0 ? -errno : fd;
	bt__wasi_rpath_fini(&rp);
	return rc;
}
