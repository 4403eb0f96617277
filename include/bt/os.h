/*
 * bt/os.h: the syscall table that storage code calls, and file helpers
 * built on it. Tests replace the table to inject EIO, ENOSPC, short reads
 * and short writes and failed fsync (SQLite's aSyscall[] idea).
 *
 * This header is the whole supported surface of os/. Anything not declared
 * here is not API.
 */
#ifndef BT_OS_H
#define BT_OS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bt/core.h"

struct stat;

/*
 * struct bt_os_ops: every member returns like the syscall but with a
 * negative errno instead of -1 and errno (open returns the fd). Members are
 * appended only; version is 1.
 */
struct bt_os_ops {
	int version;
	int (*open)(const char *path, int flags, mode_t mode);
	int (*close)(int fd);
	ssize_t (*pread)(int fd, void *buf, size_t len, off_t off);
	ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
	ssize_t (*read)(int fd, void *buf, size_t len);
	ssize_t (*write)(int fd, const void *buf, size_t len);
	int (*fsync)(int fd);
	int (*fdatasync)(int fd);
	int (*ftruncate)(int fd, off_t len);
	int (*fstat)(int fd, struct stat *st);
	int (*rename)(const char *from, const char *to);
	int (*unlink)(const char *path);
	int (*mkdir)(const char *path, mode_t mode);
	int (*fallocate)(int fd, int mode, off_t off, off_t len);
};

/*
 * bt_os_ops returns the table in force. bt_os_set_ops replaces it for the
 * whole process (tests only; not thread-safe against concurrent I/O); NULL
 * restores the real one. bt_os_default_ops is the real table, for a test
 * table to delegate to.
 */
BT_API const struct bt_os_ops *bt_os_ops(void);
BT_API void bt_os_set_ops(const struct bt_os_ops *ops);
BT_API const struct bt_os_ops *bt_os_default_ops(void);

/* Thin calls through the table. */
BT_API int     bt_os_open(const char *path, int flags, mode_t mode);
BT_API int     bt_os_close(int fd);
BT_API ssize_t bt_os_pread(int fd, void *buf, size_t len, off_t off);
BT_API ssize_t bt_os_pwrite(int fd, const void *buf, size_t len, off_t off);
BT_API int     bt_os_fsync(int fd);
BT_API int     bt_os_fdatasync(int fd);
BT_API int     bt_os_ftruncate(int fd, off_t len);
BT_API int     bt_os_fstat(int fd, struct stat *st);
BT_API int     bt_os_rename(const char *from, const char *to);
BT_API int     bt_os_unlink(const char *path);
BT_API int     bt_os_mkdir(const char *path, mode_t mode);

/*
 * bt_os_pread_full reads exactly len bytes at off, retrying short reads and
 * EINTR. Returns 0; BT_ETRUNC if the file ends first; a negative errno.
 * bt_os_pwrite_full writes exactly len bytes likewise; 0 or negative errno.
 * bt_os_write_full and bt_os_read_full do the same at the file position.
 */
BT_API int bt_os_pread_full(int fd, void *buf, size_t len, off_t off);
BT_API int bt_os_pwrite_full(int fd, const void *buf, size_t len, off_t off);
BT_API int bt_os_write_full(int fd, const void *buf, size_t len);

/*
 * bt_os_read_file reads a whole file of at most max bytes into a new buffer
 * (free with bt_free; NUL-terminated past len). Returns 0, -ENOENT, BT_ELIMIT
 * when larger than max, or another negative errno.
 */
BT_API int bt_os_read_file(const char *path, size_t max, uint8_t **out,
    size_t *len_out);

/*
 * bt_os_write_file_atomic replaces path with data so that a crash leaves
 * either the old or the new contents: it writes path.tmp.PID.N (N unique in
 * the process, so concurrent writers of one path never share a temporary)
 * with the given mode, fsyncs it, renames it over path and fsyncs the
 * folder. Returns 0 or a negative errno (the temporary file is removed on
 * failure). Thread-safe.
 */
BT_API int bt_os_write_file_atomic(const char *path, const void *data,
    size_t len, mode_t mode);

/* bt_os_fsync_dir fsyncs the folder that holds path (or path itself if it
 * is a folder). bt_os_mkdir_p makes a folder and its parents (mode applies
 * to the ones it makes); an existing folder is not an error, an existing
 * file (or anything else that is not a folder) is -ENOTDIR. */
BT_API int bt_os_fsync_dir(const char *path);
BT_API int bt_os_mkdir_p(const char *path, mode_t mode);

#endif /* BT_OS_H */
