/*
 * os/file.c: whole-file helpers on top of the syscall table: full reads and
 * writes that retry short transfers, and the atomic replace (write a
 * temporary, fsync, rename, fsync the folder) that keys, credentials and
 * state files use so a crash leaves the old or the new file, never a mix.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bt/os.h"

int
bt_os_pread_full(int fd, void *buf, size_t len, off_t off)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = bt_os_pread(fd, p, len, off);

		if (n == -EINTR)
			continue;
		if (n < 0)
			return (int)n;
		if (n == 0)
			return BT_ETRUNC;
		if ((size_t)n > len)
			return -EIO; // a broken (test) table; never overrun buf
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int
bt_os_pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = bt_os_pwrite(fd, p, len, off);

		if (n == -EINTR)
			continue;
		if (n < 0)
			return (int)n;
		if (n == 0 || (size_t)n > len)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int
bt_os_write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = bt_os_ops()->write(fd, p, len);

		if (n == -EINTR)
			continue;
		if (n < 0)
			return (int)n;
		if (n == 0 || (size_t)n > len)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
bt_os_read_file(const char *path, size_t max, uint8_t **out, size_t *len_out)
{
	struct bt_dbuf b;
	uint8_t chunk[16384];
	int fd, rc = 0;

	fd = bt_os_open(path, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	bt_dbuf_init(&b, max);
	for (;;) {
		ssize_t n = bt_os_ops()->read(fd, chunk, sizeof(chunk));

		if (n == -EINTR)
			continue;
		if (n < 0) {
			rc = (int)n;
			break;
		}
		if (n == 0)
			break;
		rc = bt_dbuf_append(&b, chunk, (size_t)n);
		if (rc != 0)
			break;
	}
	bt_os_close(fd);
	if (rc == 0) {
		uint8_t *p = bt_dbuf_take(&b, len_out);

		if (p == NULL)
			rc = -ENOMEM;
		else
			*out = p;
	}
	bt_dbuf_fini(&b);
	return rc;
}

int
bt_os_fsync_dir(const char *path)
{
	char buf[4096];
	struct stat st;
	const char *dir = path;
	int fd, rc;

	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		if (strlen(path) >= sizeof(buf))
			return -ENAMETOOLONG;
		memcpy(buf, path, strlen(path) + 1);
		dir = dirname(buf);
	}
	fd = bt_os_open(dir, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	rc = bt_os_fsync(fd);
	bt_os_close(fd);
	return rc;
}

/*
 * Every temporary name this process makes is unique (pid plus a counter),
 * so two threads replacing the same file never share a temporary: with the
 * pid alone the second writer unlinked the first one's file and the first
 * rename then failed or installed the second writer's half-written bytes.
 * See os_test.c, test_write_file_atomic_concurrent_writers_do_not_collide.
 */
static atomic_ulong tmp_seq;

int
bt_os_write_file_atomic(const char *path, const void *data, size_t len,
    mode_t mode)
{
	char tmp[4096];
	int fd, rc, n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%lu", path, (long)getpid(),
	    atomic_fetch_add(&tmp_seq, 1));
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = bt_os_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_EXCL, mode);
	if (fd == -EEXIST) {
		// A leftover from a crashed run with our pid: no thread of
		// this process uses the name (the counter is unique), so it
		// is safe to remove. O_EXCL never follows a planted symlink.
		bt_os_unlink(tmp);
		fd = bt_os_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_EXCL,
		    mode);
	}
	if (fd < 0)
		return fd;
	// The umask must not widen or narrow what the caller asked for.
	if (fchmod(fd, mode) != 0) {
		rc = -errno;
		goto err_close;
	}
	rc = bt_os_pwrite_full(fd, data, len, 0);
	if (rc != 0)
		goto err_close;
	rc = bt_os_fsync(fd);
	if (rc != 0)
		goto err_close;
	rc = bt_os_close(fd);
	fd = -1;
	if (rc != 0)
		goto err_unlink;
	rc = bt_os_rename(tmp, path);
	if (rc != 0)
		goto err_unlink;
	return bt_os_fsync_dir(path);

err_close:
	bt_os_close(fd);
err_unlink:
	bt_os_unlink(tmp);
	return rc;
}

int
bt_os_mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t len = strlen(path);
	struct stat st;
	int rc;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		rc = bt_os_mkdir(buf, mode);
		if (rc != 0 && rc != -EEXIST)
			return rc;
		buf[i] = path[i];
	}
	// EEXIST also comes back for a file or a dangling symlink: only an
	// existing folder is "not an error".
	if (stat(path, &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return 0;
}
