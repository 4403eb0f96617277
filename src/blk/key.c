/*
 * blk/key.c: device key files (32 raw bytes or 64 hex digits, mode 0600).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk_int.h"
#include "bt/os.h"

int
bt_blk_key_load(
    uint8_t key[BT_BLK_KEY_LEN], const char *path, struct bt_diag *diag)
{
	uint8_t    *buf = NULL;
	size_t      len;
	struct stat st;
	uint8_t     k[BT_BLK_KEY_LEN];
	int         fd, rc;

	fd = bt_os_open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		bt_diag_set(diag, -1, "cannot open key file '%s': %s", path,
		    bt_strerror(fd));
		return fd;
	}
	rc = bt_os_fstat(fd, &st);
	bt_os_close(fd);
	if (rc != 0)
		return rc;
	if ((st.st_mode & 077) != 0) {
		bt_diag_set(diag, -1,
		    "permissions %04o for key file '%s' are "
		    "too open (use chmod 600)",
		    (unsigned)(st.st_mode & 07777), path);
		return BT_EPERM;
	}
	rc = bt_os_read_file(path, 256, &buf, &len);
	if (rc != 0) {
		bt_diag_set(diag, -1, "cannot read key file '%s': %s", path,
		    bt_strerror(rc));
		return rc;
	}
	if (len == BT_BLK_KEY_LEN) {
		memcpy(k, buf, BT_BLK_KEY_LEN);
	} else {
		size_t n = len;

		if (n > 0 && buf[n - 1] == '\n')
			n--;
		if (n != 2 * BT_BLK_KEY_LEN
		    || bt_hex_decode(k, sizeof(k), (const char *)buf, n)
		        != BT_BLK_KEY_LEN) {
			bt_diag_set(diag, -1,
			    "key file '%s' must hold 32 raw "
			    "bytes or 64 hex digits (it has %zu bytes)",
			    path, len);
			bt_free_secret(buf, len);
			return BT_ECORRUPT;
		}
	}
	bt_free_secret(buf, len);
	memcpy(key, k, BT_BLK_KEY_LEN);
	bt_zeroize(k, sizeof(k));
	return 0;
}

int
bt_blk_key_create(uint8_t key[BT_BLK_KEY_LEN], const char *path)
{
	uint8_t k[BT_BLK_KEY_LEN];
	int     fd, rc;

	rc = bt_random(k, sizeof(k));
	if (rc != 0)
		return rc;
	fd = bt_os_open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	rc = bt_os_pwrite_full(fd, k, sizeof(k), 0);
	if (rc == 0)
		rc = bt_os_fsync(fd);
	bt_os_close(fd);
	if (rc != 0) {
		bt_os_unlink(path);
		goto out;
	}
	memcpy(key, k, BT_BLK_KEY_LEN);
out:
	bt_zeroize(k, sizeof(k));
	return rc;
}
