/*
 * bench/blk/devbench.c: the device's write path without NBD, for
 * deterministic measures (valgrind --tool=callgrind counts instructions per
 * write) and quick timings: creates a device in DIR, writes N random 4 KiB
 * sectors in batches of B (bt__blk_dev_write_many; B = 1: bt_blk_dev_write),
 * flushes every F writes (0: never), and prints the time per write.
 *
 *   blk_devbench DIR [N] [B] [F]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "bt/blk.h"

#define SECTORS 16384u

int
main(int argc, char **argv)
{
	uint64_t            n = 20000, b = 8, fl = 0, t0, seed = 1;
	static uint8_t      buf[16][BT_BLK_SECTOR_SIZE];
	struct bt__blk_wreq w[16];
	uint8_t             key[BT_BLK_KEY_LEN];
	char                path[4096];
	bt_blk_dev         *dev = NULL;
	int                 rc;

	if (argc < 2) {
		fprintf(stderr, "usage: blk_devbench DIR [N] [B] [F]\n");
		return 2;
	}
	if ((argc > 2 && bt_parse_u64(argv[2], &n) != 0)
	    || (argc > 3 && bt_parse_u64(argv[3], &b) != 0)
	    || (argc > 4 && bt_parse_u64(argv[4], &fl) != 0) || b == 0
	    || b > 16) {
		fprintf(stderr, "blk_devbench: bad numbers\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/devbench.img", argv[1]);
	memset(key, 7, sizeof(key));
	for (unsigned i = 0; i < 16; i++)
		memset(buf[i], (int)i + 1, sizeof(buf[i]));
	rc = bt_blk_dev_create(path, (uint64_t)SECTORS * BT_BLK_SECTOR_SIZE,
	    key, BT_BLK_ROLE_PRIMARY, NULL);
	if (rc == 0)
		rc = bt_blk_dev_open(&dev, path, key, NULL);
	if (rc != 0) {
		fprintf(stderr, "blk_devbench: %s\n", bt_strerror(rc));
		return 1;
	}
	t0 = bt_time_mono_ns();
	for (uint64_t i = 0; rc == 0 && i < n; i += b) {
		// Distinct sectors within a batch: a stride of 16 apart.
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		for (uint64_t k = 0; k < b; k++) {
			uint64_t s = ((seed >> 33) % (SECTORS / 16)) * 16 + k;

			w[k].buf = buf[k];
			w[k].len = BT_BLK_SECTOR_SIZE;
			w[k].off = s * BT_BLK_SECTOR_SIZE;
			w[k].rc = 0;
		}
		if (b == 1)
			w[0].rc = bt_blk_dev_write(
			    dev, w[0].buf, w[0].len, w[0].off, 0);
		else
			bt__blk_dev_write_many(dev, w, b);
		for (uint64_t k = 0; k < b; k++)
			rc = rc != 0 ? rc : w[k].rc;
		if (rc == 0 && fl != 0 && (i / b + 1) * b % fl < b)
			rc = bt_blk_dev_flush(dev);
	}
	printf("%llu writes, batches of %llu: %.2f us per write\n",
	    (unsigned long long)n, (unsigned long long)b,
	    (double)(bt_time_mono_ns() - t0) / 1000.0 / (double)n);
	bt_blk_dev_close(dev);
	remove(path);
	snprintf(path + strlen(path), sizeof(path) - strlen(path), ".meta");
	remove(path);
	return rc == 0 ? 0 : 1;
}
