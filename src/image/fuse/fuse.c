/*
 * fuse.c: the thin FUSE adapter of image/ (library bt_image_fuse, called
 * by `bt image mount`). It translates libfuse3 low-level requests into the
 * public bt_image_* lookups and reads and maps their errors to errno;
 * every decision about bytes and metadata is made in image/, below it.
 *
 * Caching: the image is immutable, so entries and attributes are given to
 * the kernel with a timeout of a year, files are opened with keep_cache
 * (their pages survive close), folders with cache_readdir, symlinks are
 * cached (FUSE_CAP_CACHE_SYMLINKS) and readdirplus fills the dentry cache
 * while listing. Inode numbers are the image's own, so forget is a no-op.
 *
 * Threads: fuse_session_loop_mt runs handlers on several threads at once;
 * bt_image is thread-safe (see bt/image.h), and this file keeps no state
 * of its own besides the session.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "bt/image.h"

#define TTL (365.0 * 24 * 3600)
#define READ_MAX ((size_t)1 << 20)

static bt_image *
img_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static int
err_of(int rc)
{
	return bt_to_errno(rc);
}

static void
to_stat(const struct bt_image_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)a->blocks;
	st->st_blksize = 4096;
	st->st_rdev = makedev(a->rdev_major, a->rdev_minor);
	st->st_mtim.tv_sec = a->mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = a->mtime_ns % 1000000000;
	if (st->st_mtim.tv_nsec < 0) {
		st->st_mtim.tv_sec--;
		st->st_mtim.tv_nsec += 1000000000;
	}
	/* No atime is stored: a read-only image reads as last changed. */
	st->st_atim = st->st_mtim;
	st->st_ctim.tv_sec = a->ctime_ns / 1000000000;
	st->st_ctim.tv_nsec = a->ctime_ns % 1000000000;
	if (st->st_ctim.tv_nsec < 0) {
		st->st_ctim.tv_sec--;
		st->st_ctim.tv_nsec += 1000000000;
	}
}

static int
entry_of(bt_image *img, uint64_t ino, struct fuse_entry_param *e)
{
	struct bt_image_attr a;
	int rc;

	rc = bt_image_getattr(img, ino, &a);
	if (rc != 0)
		return rc;
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->attr_timeout = TTL;
	e->entry_timeout = TTL;
	to_stat(&a, &e->attr);
	return 0;
}

static void
op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	/* Bigger requests: fewer round trips on large files. */
	conn->max_readahead = READ_MAX;
	conn->max_write = READ_MAX;
}

static void
op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	uint64_t ino;
	int rc;

	rc = bt_image_lookup(img_of(req), parent, name, strlen(name), &ino);
	if (rc == 0)
		rc = entry_of(img_of(req), ino, &e);
	if (rc == -ENOENT) {
		/* A negative entry, cached as long as a positive one. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = TTL;
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc != 0) {
		fuse_reply_err(req, err_of(rc));
		return;
	}
	fuse_reply_entry(req, &e);
}

static void
op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void
op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	(void)count;
	(void)f;
	fuse_reply_none(req);
}

static void
op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bt_image_attr a;
	struct stat st;
	int rc;

	(void)fi;
	rc = bt_image_getattr(img_of(req), ino, &a);
	if (rc != 0) {
		fuse_reply_err(req, err_of(rc));
		return;
	}
	to_stat(&a, &st);
	fuse_reply_attr(req, &st, TTL);
}

static void
op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char target[4096];
	struct bt_buf l;
	int rc;

	rc = bt_image_readlink(img_of(req), ino, &l);
	if (rc != 0 || l.len >= sizeof(target)) {
		fuse_reply_err(req, rc != 0 ? err_of(rc) : EIO);
		return;
	}
	memcpy(target, l.ptr, l.len);
	target[l.len] = '\0';
	fuse_reply_readlink(req, target);
}

static void
op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	if ((fi->flags & O_ACCMODE) != O_RDONLY ||
	    (fi->flags & (O_TRUNC | O_APPEND | O_CREAT))) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void
op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct bt_diag diag;
	uint8_t *buf;
	ssize_t n;

	(void)fi;
	if (size > READ_MAX)
		size = READ_MAX;
	buf = bt_alloc(size ? size : 1);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	bt_diag_clear(&diag);
	n = bt_image_read(img_of(req), ino, buf, size, (uint64_t)off, &diag);
	if (n < 0) {
		bt_log_error("image", "read of inode %llu at %lld: %s",
		    (unsigned long long)ino, (long long)off,
		    diag.msg[0] ? diag.msg : bt_strerror((int)n));
		fuse_reply_err(req, err_of((int)n));
	} else {
		fuse_reply_buf(req, (const char *)buf, (size_t)n);
	}
	bt_free(buf);
}

static void
op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bt_image_attr a;
	int rc = bt_image_getattr(img_of(req), ino, &a);

	if (rc != 0 || !S_ISDIR(a.mode)) {
		fuse_reply_err(req, rc != 0 ? err_of(rc) : ENOTDIR);
		return;
	}
	fi->keep_cache = 1;
	fi->cache_readdir = 1;
	fuse_reply_open(req, fi);
}

/*
 * Offsets: 0 starts; the entry at offset k is "." for k = 0, ".." for 1,
 * and the image's entry k - 2 otherwise; each carries k + 1 as the offset
 * to resume after it.
 */
static void
do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	bt_image *img = img_of(req);
	struct bt_image_dirent de;
	struct fuse_entry_param e;
	char name[256];
	uint64_t parent;
	size_t used = 0, n;
	char *buf;
	int rc;

	rc = bt_image_parent(img, ino, &parent);
	if (rc != 0) {
		fuse_reply_err(req, err_of(rc));
		return;
	}
	buf = bt_alloc(size ? size : 1);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (uint64_t k = off < 0 ? 0 : (uint64_t)off;; k++) {
		uint64_t eino;

		if (k < 2) {
			eino = k == 0 ? ino : parent;
			memcpy(name, "..", k + 1);
			name[k + 1] = '\0';
		} else {
			rc = bt_image_readdir(img, ino, k - 2, &de);
			if (rc == 1)
				break;
			if (rc != 0) {
				bt_free(buf);
				fuse_reply_err(req, err_of(rc));
				return;
			}
			eino = de.ino;
			memcpy(name, de.name.ptr, de.name.len);
			name[de.name.len] = '\0';
		}
		rc = entry_of(img, eino, &e);
		if (rc != 0) {
			bt_free(buf);
			fuse_reply_err(req, err_of(rc));
			return;
		}
		if (plus)
			n = fuse_add_direntry_plus(req, buf + used,
			    size - used, name, &e, (off_t)(k + 1));
		else
			n = fuse_add_direntry(req, buf + used, size - used,
			    name, &e.attr, (off_t)(k + 1));
		if (n > size - used)
			break; /* full: the kernel asks again from k */
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	bt_free(buf);
}

static void
op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

static void
op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

static void
op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_files = bt_image_ninodes(img_of(req));
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static void
op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct bt_buf v;
	int rc;

	rc = bt_image_xattr_get(img_of(req), ino, name, strlen(name), &v);
	if (rc != 0) {
		fuse_reply_err(req, err_of(rc));
		return;
	}
	if (size == 0)
		fuse_reply_xattr(req, v.len);
	else if (size < v.len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, (const char *)v.ptr, v.len);
}

static void
op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct bt_buf n, v;
	struct bt_dbuf b;
	int rc;

	bt_dbuf_init(&b, 1 << 24);
	for (uint64_t i = 0;; i++) {
		rc = bt_image_xattr_at(img_of(req), ino, i, &n, &v);
		if (rc == 1)
			break;
		if (rc == 0 && (bt_dbuf_append(&b, n.ptr, n.len) != 0 ||
				   bt_dbuf_putc(&b, 0) != 0))
			rc = -ENOMEM;
		if (rc != 0) {
			bt_dbuf_fini(&b);
			fuse_reply_err(req, err_of(rc));
			return;
		}
	}
	if (size == 0)
		fuse_reply_xattr(req, b.len);
	else if (size < b.len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, (const char *)b.ptr, b.len);
	bt_dbuf_fini(&b);
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.open = op_open,
	.read = op_read,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
};

int
bt_image_mount(bt_image *img, const char *mountpoint,
    const struct bt_image_mount_opts *opts, struct bt_diag *diag)
{
	char optstr[256], fsname[64];
	char *argv[4];
	struct fuse_args args;
	struct fuse_session *se;
	struct fuse_loop_config *cfg;
	int rc;

	if (access("/dev/fuse", R_OK | W_OK) != 0) {
		rc = errno == ENOENT ? -ENODEV : -errno;
		bt_diag_set(diag, -1, "/dev/fuse: %s (is FUSE available "
		    "here?)", bt_strerror(rc));
		return rc;
	}
	/* fsname: "bt-image" and the first 12 digits of the manifest. */
	snprintf(fsname, sizeof(fsname), "bt-image:%.12s",
	    strlen(bt_image_digest(img)) > 7 ? bt_image_digest(img) + 7 :
						   "meta");
	snprintf(optstr, sizeof(optstr),
	    "ro,default_permissions,fsname=%s,subtype=bt-image%s", fsname,
	    opts != NULL && opts->allow_other ? ",allow_other" : "");
	argv[0] = (char *)"bt-image";
	argv[1] = (char *)"-o";
	argv[2] = optstr;
	argv[3] = NULL;
	if (opts != NULL && opts->debug) {
		argv[1] = (char *)"-d";
		argv[2] = (char *)"-o";
		argv[3] = optstr;
	}
	args = (struct fuse_args)FUSE_ARGS_INIT(opts != NULL && opts->debug ?
	    4 : 3, argv);
	se = fuse_session_new(&args, &ops, sizeof(ops), img);
	fuse_opt_free_args(&args);
	if (se == NULL) {
		bt_diag_set(diag, -1, "cannot start a FUSE session (options "
		    "'%s')", optstr);
		return -EINVAL;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		fuse_session_destroy(se);
		return -EIO;
	}
	if (fuse_session_mount(se, mountpoint) != 0) {
		bt_diag_set(diag, -1, "%s: cannot mount (is it a folder, and "
		    "may this user mount FUSE there?)", mountpoint);
		fuse_remove_signal_handlers(se);
		fuse_session_destroy(se);
		return -EPERM;
	}
	cfg = fuse_loop_cfg_create();
	if (cfg == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, opts != NULL && opts->max_threads ?
	    opts->max_threads : 4);
	fuse_loop_cfg_set_idle_threads(cfg, 4);
	rc = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	/* libfuse returns the signal number when a handler ended the loop;
	 * that is the normal way a foreground mount stops. */
	rc = rc < 0 ? rc : 0;
out:
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	return rc;
}
