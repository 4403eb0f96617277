/*
 * fuzz/image_meta_fuzz.c: the image metadata decoder (image/meta.c) on
 * arbitrary bytes. Runs the full check, then, whatever it said, opens the
 * bytes as an image and touches everything a FUSE adapter or extract could
 * touch: every inode, folder entry, lookup, link, xattr and read (reads of
 * data fail with -ENXIO, there is no chunk store; holes read as zeros).
 */
#include <stdint.h>
#include <string.h>

#include "bt/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bt_image_attr a;
	struct bt_image_dirent de;
	struct bt_buf n, v;
	struct bt_diag d;
	uint8_t buf[512];
	uint64_t ino, max;
	bt_image *img;

	(void)bt_image_meta_check(data, size, &d);
	if (bt_image_open_meta(&img, data, size, &d) != 0)
		return 0;
	max = bt_image_ninodes(img);
	if (max > 4096)
		max = 4096;
	for (uint64_t i = 0; i <= max + 1; i++) {
		(void)bt_image_getattr(img, i, &a);
		(void)bt_image_readlink(img, i, &v);
		(void)bt_image_parent(img, i, &ino);
		(void)bt_image_read(img, i, buf, sizeof(buf), 0, NULL);
		(void)bt_image_read(img, i, buf, sizeof(buf), 1 << 20, NULL);
		for (uint64_t k = 0; k < 64; k++) {
			if (bt_image_readdir(img, i, k, &de) != 0)
				break;
			(void)bt_image_lookup(img, i, de.name.ptr, de.name.len,
			    &ino);
		}
		for (uint64_t k = 0; k < 16; k++) {
			if (bt_image_xattr_at(img, i, k, &n, &v) != 0)
				break;
			(void)bt_image_xattr_get(img, i, n.ptr, n.len, &v);
		}
	}
	bt_image_close(img);
	return 0;
}
