/*
 * extract.c: recreating an image as a tree on disk (image/; called by
 * `bt image extract`).
 *
 * Everything is created relative to folder file descriptors (openat,
 * mkdirat, symlinkat, mknodat, linkat) and never through a path that
 * could cross a symlink, so a hostile image cannot write outside dest:
 * names are checked by meta.c (no '/', not "." or ".."), and folders are
 * opened with O_NOFOLLOW. File data goes through the same verified chunk
 * cache as a mount (every chunk checked against its digest), and holes
 * are left unwritten so sparse files stay sparse.
 *
 * Order matters for fidelity: owner before mode (chown clears setuid),
 * xattrs and mode before times, and a folder's times after its entries
 * (creating an entry changes the folder's mtime).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "bt/os.h"
#include "image_int.h"

#define DEPTH_MAX 512

struct xctx {
	bt_image       *img;
	int		destfd;
	bool		root;
	struct bt_diag *diag;
	struct bt_dbuf	path;
	char	      **first; /* per inode: first path, for hard links */
	uint8_t	       *seen_dir;
};

static const char *
cur(struct xctx *x)
{
	return x->path.len ? (const char *)x->path.ptr : ".";
}

static int
fail(struct xctx *x, int rc, const char *what)
{
	if (x->diag != NULL && x->diag->msg[0] != '\0' && rc == -EIO)
		return rc; /* the chunk reader named the blob already */
	bt_diag_set(x->diag, -1, "%s: %s: %s", cur(x), what, bt_strerror(rc));
	return rc;
}

static int
path_push(struct xctx *x, const uint8_t *name, size_t len, size_t *mark)
{
	*mark = x->path.len;
	if ((x->path.len > 0 && bt_dbuf_putc(&x->path, '/') != 0) ||
	    bt_dbuf_append(&x->path, name, len) != 0 ||
	    bt_dbuf_putc(&x->path, 0) != 0)
		return -ENOMEM;
	x->path.len--;
	return 0;
}

static void
path_pop(struct xctx *x, size_t mark)
{
	x->path.len = mark;
	x->path.ptr[mark] = '\0';
}

static char *
proc_path(int dirfd, const char *name)
{
	struct bt_dbuf d;

	bt_dbuf_init(&d, 8192);
	if (bt_dbuf_printf(&d, "/proc/self/fd/%d/%s", dirfd, name) != 0) {
		bt_dbuf_fini(&d);
		return NULL;
	}
	return (char *)bt_dbuf_take(&d, NULL);
}

static int
set_xattrs(struct xctx *x, uint64_t ino, int fd, int dirfd, const char *name,
    bool is_link)
{
	struct bt_buf n, v;
	char key[BT__IMG_XNAME_MAX + 1];
	char *path = NULL;
	int rc = 0;

	for (uint64_t i = 0;; i++) {
		rc = bt_image_xattr_at(x->img, ino, i, &n, &v);
		if (rc == 1) {
			rc = 0;
			break;
		}
		if (rc != 0)
			return fail(x, rc, "malformed xattr in the image");
		memcpy(key, n.ptr, n.len);
		key[n.len] = '\0';
		if (fd >= 0) {
			rc = fsetxattr(fd, key, v.ptr, v.len, 0);
		} else {
			if (path == NULL)
				path = proc_path(dirfd, name);
			if (path == NULL)
				return -ENOMEM;
			rc = lsetxattr(path, key, v.ptr, v.len, 0);
		}
		if (rc != 0) {
			rc = -errno;
			/* Links cannot carry user.* xattrs on Linux, and only
			 * root may set trusted.* or security.*: those are
			 * skipped with a warning rather than failing. */
			if (is_link || strncmp(key, "user.", 5) != 0) {
				bt_log_warn("image", "extract: %s: xattr %s "
				    "not set: %s", cur(x), key,
				    bt_strerror(rc));
				rc = 0;
				continue;
			}
			bt_free(path);
			return fail(x, rc, "cannot set an xattr");
		}
	}
	bt_free(path);
	return rc;
}

static struct timespec
ts(int64_t ns)
{
	struct timespec t;

	t.tv_sec = ns / 1000000000;
	t.tv_nsec = ns % 1000000000;
	if (t.tv_nsec < 0) {
		t.tv_sec--;
		t.tv_nsec += 1000000000;
	}
	return t;
}

/* Owner, mode and times of an inode open as fd. */
static int
finish_fd(struct xctx *x, int fd, const struct bt_image_attr *a)
{
	struct timespec t[2] = { ts(a->mtime_ns), ts(a->mtime_ns) };

	if (x->root && fchown(fd, a->uid, a->gid) != 0)
		return fail(x, -errno, "cannot set the owner");
	if (fchmod(fd, a->mode & 07777) != 0)
		return fail(x, -errno, "cannot set the mode");
	if (futimens(fd, t) != 0)
		return fail(x, -errno, "cannot set the times");
	return 0;
}

/* The same for an inode that cannot be opened (link, node, fifo). */
static int
finish_at(struct xctx *x, int dirfd, const char *name,
    const struct bt_image_attr *a)
{
	struct timespec t[2] = { ts(a->mtime_ns), ts(a->mtime_ns) };

	if (x->root && fchownat(dirfd, name, a->uid, a->gid,
			   AT_SYMLINK_NOFOLLOW) != 0)
		return fail(x, -errno, "cannot set the owner");
	if (!S_ISLNK(a->mode) && fchmodat(dirfd, name, a->mode & 07777, 0))
		return fail(x, -errno, "cannot set the mode");
	if (utimensat(dirfd, name, t, AT_SYMLINK_NOFOLLOW) != 0)
		return fail(x, -errno, "cannot set the times");
	return 0;
}

static int
write_file(struct xctx *x, uint64_t ino, int fd, const struct bt_image_attr *a)
{
	const struct bt__img_meta *m = &x->img->meta;
	struct bt__img_inode r;
	struct bt__img_extent ex;
	struct bt__img_chunk ch;
	struct bt__img_cent *e;
	const uint8_t *data;
	int rc;

	rc = bt__image_meta_inode(m, ino, &r);
	if (rc != 0)
		return fail(x, rc, "malformed inode in the image");
	for (uint64_t i = 0; i < r.data_n; i++) {
		rc = bt__image_meta_extent(m, &r, i, &ex);
		if (rc == 0)
			rc = bt__image_meta_chunk(m, ex.chunk, &ch);
		if (rc == 0 && (uint64_t)ex.chunk_off + ex.len > ch.raw_len)
			rc = BT_ECORRUPT;
		if (rc != 0)
			return fail(x, BT_ECORRUPT, "malformed extent");
		rc = bt__image_chunk_get(x->img->cache, x->img->blobs_dirfd,
		    m, ex.chunk, &e, &data, x->diag);
		if (rc != 0)
			return fail(x, rc, "cannot read");
		rc = bt_os_pwrite_full(fd, data + ex.chunk_off, ex.len,
		    (off_t)ex.file_off);
		bt__image_chunk_rele(x->img->cache, e);
		if (rc != 0)
			return fail(x, rc, "cannot write");
	}
	/* The size, and with it the trailing hole, if any. */
	if (ftruncate(fd, (off_t)a->size) != 0)
		return fail(x, -errno, "cannot set the size");
	return 0;
}

static int extract_dir(struct xctx *x, uint64_t dir, int dirfd, int depth);

static int
extract_one(struct xctx *x, int dirfd, const char *name, uint64_t ino,
    int depth)
{
	struct bt_image_attr a;
	struct bt_buf l;
	char target[BT__IMG_LINK_MAX + 1];
	int fd, rc;

	rc = bt_image_getattr(x->img, ino, &a);
	if (rc != 0)
		return fail(x, rc, "malformed inode in the image");
	if (!S_ISDIR(a.mode) && x->first[ino - 1] != NULL) {
		/* A second name of an inode already made: a hard link. */
		if (linkat(x->destfd, x->first[ino - 1], dirfd, name, 0) != 0)
			return fail(x, -errno, "cannot make the hard link");
		return 0;
	}
	switch (a.mode & S_IFMT) {
	case S_IFDIR:
		if (x->seen_dir[(ino - 1) / 8] & (1u << ((ino - 1) % 8)))
			return fail(x, BT_ECORRUPT, "a folder is listed twice "
					       "in the image");
		x->seen_dir[(ino - 1) / 8] |= (uint8_t)(1u << ((ino - 1) % 8));
		if (mkdirat(dirfd, name, 0700) != 0)
			return fail(x, -errno, "cannot make the folder");
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd < 0)
			return fail(x, -errno, "cannot open the folder");
		rc = extract_dir(x, ino, fd, depth + 1);
		if (rc == 0)
			rc = set_xattrs(x, ino, fd, -1, NULL, false);
		if (rc == 0)
			rc = finish_fd(x, fd, &a);
		close(fd);
		return rc;
	case S_IFREG:
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return fail(x, -errno, "cannot create the file");
		rc = write_file(x, ino, fd, &a);
		if (rc == 0)
			rc = set_xattrs(x, ino, fd, -1, NULL, false);
		if (rc == 0)
			rc = finish_fd(x, fd, &a);
		close(fd);
		break;
	case S_IFLNK:
		rc = bt_image_readlink(x->img, ino, &l);
		if (rc != 0)
			return fail(x, rc, "malformed link in the image");
		memcpy(target, l.ptr, l.len);
		target[l.len] = '\0';
		if (symlinkat(target, dirfd, name) != 0)
			return fail(x, -errno, "cannot make the symlink");
		rc = set_xattrs(x, ino, -1, dirfd, name, true);
		if (rc == 0)
			rc = finish_at(x, dirfd, name, &a);
		break;
	default:
		if (mknodat(dirfd, name, (a.mode & S_IFMT) | 0600,
			makedev(a.rdev_major, a.rdev_minor)) != 0)
			return fail(x, -errno, "cannot make the node");
		rc = set_xattrs(x, ino, -1, dirfd, name, false);
		if (rc == 0)
			rc = finish_at(x, dirfd, name, &a);
		break;
	}
	if (rc == 0 && a.nlink > 1) {
		x->first[ino - 1] = bt_strdup(cur(x));
		if (x->first[ino - 1] == NULL)
			rc = -ENOMEM;
	}
	return rc;
}

static int
extract_dir(struct xctx *x, uint64_t dir, int dirfd, int depth)
{
	struct bt_image_dirent de;
	char name[BT__IMG_NAME_MAX + 1];
	size_t mark;
	int rc;

	if (depth > DEPTH_MAX)
		return fail(x, BT_ELIMIT, "folders nest too deep");
	for (uint64_t i = 0;; i++) {
		rc = bt_image_readdir(x->img, dir, i, &de);
		if (rc == 1)
			return 0;
		if (rc != 0)
			return fail(x, rc, "malformed folder in the image");
		memcpy(name, de.name.ptr, de.name.len);
		name[de.name.len] = '\0';
		rc = path_push(x, de.name.ptr, de.name.len, &mark);
		if (rc != 0)
			return rc;
		rc = extract_one(x, dirfd, name, de.ino, depth);
		if (rc != 0)
			return rc;
		path_pop(x, mark);
	}
}

int
bt_image_extract(bt_image *img, const char *dest, struct bt_diag *diag)
{
	struct xctx x = { .img = img, .diag = diag, .destfd = -1 };
	struct bt_image_attr a;
	uint64_t n = img->meta.n_inodes;
	struct dirent *de;
	DIR *d;
	int rc;

	if (img->cache == NULL)
		return -ENXIO;
	bt_dbuf_init(&x.path, 1 << 20);
	x.root = geteuid() == 0;
	if (mkdir(dest, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		bt_diag_set(diag, -1, "%s: cannot make: %s", dest,
		    bt_strerror(rc));
		return rc;
	}
	x.destfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (x.destfd < 0) {
		rc = -errno;
		bt_diag_set(diag, -1, "%s: %s", dest, bt_strerror(rc));
		return rc;
	}
	d = fdopendir(dup(x.destfd));
	if (d == NULL) {
		rc = -errno;
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			closedir(d);
			bt_diag_set(diag, -1, "%s: not empty; extract only "
			    "into a new or empty folder", dest);
			rc = -ENOTEMPTY;
			goto out;
		}
	}
	closedir(d);
	x.first = bt_calloc(n, sizeof(*x.first));
	x.seen_dir = bt_zalloc(n / 8 + 1);
	if (x.first == NULL || x.seen_dir == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	x.seen_dir[0] = 1;
	rc = bt_image_getattr(img, BT_IMAGE_ROOT_INO, &a);
	if (rc == 0)
		rc = extract_dir(&x, BT_IMAGE_ROOT_INO, x.destfd, 0);
	if (rc == 0)
		rc = set_xattrs(&x, BT_IMAGE_ROOT_INO, x.destfd, -1, NULL,
		    false);
	if (rc == 0)
		rc = finish_fd(&x, x.destfd, &a);
	if (rc == 0 && syncfs(x.destfd) != 0)
		rc = fail(&x, -errno, "cannot sync");
out:
	for (uint64_t i = 0; x.first != NULL && i < n; i++)
		bt_free(x.first[i]);
	bt_free(x.first);
	bt_free(x.seen_dir);
	bt_dbuf_fini(&x.path);
	close(x.destfd);
	return rc;
}
