/*
 * os/os.c: the syscall table. Storage code calls bt_os_* and never the libc
 * functions directly, so a test can install a table that fails the N-th
 * pwrite with EIO or makes a read short (SQLite's aSyscall[]). Each real
 * member converts errno to a negative return at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bt/os.h"

static int
real_open(const char *path, int flags, mode_t mode)
{
	int fd = open(path, flags | O_CLOEXEC, mode);

	return fd < 0 ? -errno : fd;
}

static int
real_close(int fd)
{
	// Linux always releases the descriptor, even on EINTR: never retry.
	return close(fd) == 0 ? 0 : (errno == EINTR ? 0 : -errno);
}

static ssize_t
real_pread(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n = pread(fd, buf, len, off);

	return n < 0 ? -errno : n;
}

static ssize_t
real_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = pwrite(fd, buf, len, off);

	return n < 0 ? -errno : n;
}

static ssize_t
real_read(int fd, void *buf, size_t len)
{
	ssize_t n = read(fd, buf, len);

	return n < 0 ? -errno : n;
}

static ssize_t
real_write(int fd, const void *buf, size_t len)
{
	ssize_t n = write(fd, buf, len);

	return n < 0 ? -errno : n;
}

static int
real_fsync(int fd)
{
	return fsync(fd) == 0 ? 0 : -errno;
}

static int
real_fdatasync(int fd)
{
	return fdatasync(fd) == 0 ? 0 : -errno;
}

static int
real_ftruncate(int fd, off_t len)
{
	return ftruncate(fd, len) == 0 ? 0 : -errno;
}

static int
real_fstat(int fd, struct stat *st)
{
	return fstat(fd, st) == 0 ? 0 : -errno;
}

static int
real_rename(const char *from, const char *to)
{
	return rename(from, to) == 0 ? 0 : -errno;
}

static int
real_unlink(const char *path)
{
	return unlink(path) == 0 ? 0 : -errno;
}

static int
real_mkdir(const char *path, mode_t mode)
{
	return mkdir(path, mode) == 0 ? 0 : -errno;
}

static int
real_fallocate(int fd, int mode, off_t off, off_t len)
{
	return fallocate(fd, mode, off, len) == 0 ? 0 : -errno;
}

static const struct bt_os_ops real_ops = {
	.version = 1,
	.open = real_open,
	.close = real_close,
	.pread = real_pread,
	.pwrite = real_pwrite,
	.read = real_read,
	.write = real_write,
	.fsync = real_fsync,
	.fdatasync = real_fdatasync,
	.ftruncate = real_ftruncate,
	.fstat = real_fstat,
	.rename = real_rename,
	.unlink = real_unlink,
	.mkdir = real_mkdir,
	.fallocate = real_fallocate,
};

static _Atomic(const struct bt_os_ops *) ops = &real_ops;

const struct bt_os_ops *
bt_os_ops(void)
{
	return atomic_load_explicit(&ops, memory_order_acquire);
}

const struct bt_os_ops *
bt_os_default_ops(void)
{
	return &real_ops;
}

void
bt_os_set_ops(const struct bt_os_ops *o)
{
	atomic_store_explicit(&ops, o ? o : &real_ops, memory_order_release);
}

int
bt_os_open(const char *path, int flags, mode_t mode)
{
	return bt_os_ops()->open(path, flags, mode);
}

int
bt_os_close(int fd)
{
	if (fd < 0)
		return 0;
	return bt_os_ops()->close(fd);
}

ssize_t
bt_os_pread(int fd, void *buf, size_t len, off_t off)
{
	return bt_os_ops()->pread(fd, buf, len, off);
}

ssize_t
bt_os_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return bt_os_ops()->pwrite(fd, buf, len, off);
}

int
bt_os_fsync(int fd)
{
	return bt_os_ops()->fsync(fd);
}

int
bt_os_fdatasync(int fd)
{
	return bt_os_ops()->fdatasync(fd);
}

int
bt_os_ftruncate(int fd, off_t len)
{
	return bt_os_ops()->ftruncate(fd, len);
}

int
bt_os_fstat(int fd, struct stat *st)
{
	return bt_os_ops()->fstat(fd, st);
}

int
bt_os_rename(const char *from, const char *to)
{
	return bt_os_ops()->rename(from, to);
}

int
bt_os_unlink(const char *path)
{
	return bt_os_ops()->unlink(path);
}

int
bt_os_mkdir(const char *path, mode_t mode)
{
	return bt_os_ops()->mkdir(path, mode);
}
