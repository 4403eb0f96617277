/*
 * fuzz/nbd_fuzz.c: the NBD adapter's parsers and a whole session fed with
 * arbitrary client bytes: option haggling (GO/INFO/LIST/EXPORT_NAME/...)
 * and transmission requests against a small real device. Replies go to
 * /dev/null. The input is a client byte stream: 4 bytes of client flags,
 * then options, then requests (see tests/data/corpus/nbd for seeds).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/blk/nbd/nbd_proto.h"
#include "bt/blk.h"

#define FUZZ_INPUT_MAX 60000 /* below a pipe's capacity */

static bt_blk_dev *dev;
static int         devnull = -1;

static int
setup(void)
{
	char    tmpl[] = "/tmp/bt-nbd-fuzz.XXXXXX";
	char    path[64];
	uint8_t key[BT_BLK_KEY_LEN] = { 7 };

	if (mkdtemp(tmpl) == NULL)
		return -1;
	memcpy(path, tmpl, sizeof(tmpl));
	memcpy(path + sizeof(tmpl) - 1, "/d.img", 7);
	bt_log_set_level(BT_LOG_ERROR);
	if (bt_blk_dev_create(path, 1 << 20, key, BT_BLK_ROLE_PRIMARY, NULL)
	        != 0
	    || bt_blk_dev_open(&dev, path, key, NULL) != 0)
		return -1;
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	return devnull >= 0 ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int            p[2];
	struct nbd_req r;
	struct nbd_go  g;

	if (dev == NULL && setup() != 0)
		abort();
	if (size > FUZZ_INPUT_MAX)
		size = FUZZ_INPUT_MAX;
	// The pure parsers on the raw bytes.
	if (size >= NBD_REQ_HDR_LEN && bt__nbd_req_parse(data, &r, NULL) == 0)
		(void)bt__nbd_req_check(&r, bt_blk_dev_size(dev));
	(void)bt__nbd_go_parse(data, size, &g, NULL);
	// A whole session.
	if (pipe(p) != 0)
		abort();
	if (size > 0 && write(p[1], data, size) != (ssize_t)size)
		abort();
	close(p[1]);
	(void)bt_blk_nbd_session(dev, p[0], devnull, "blk");
	close(p[0]);
	return 0;
}
