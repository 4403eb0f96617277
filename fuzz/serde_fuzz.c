/*
 * fuzz/serde_fuzz.c: libFuzzer target for the serde decoder (bt_fuzz
 * serde.decode, registered in src/serde/CMakeLists.txt).
 *
 * Decodes arbitrary bytes with the example schemas of docs/serde.md and
 * src/serde/testschema.h (every field kind, every sequence element kind,
 * recursion through an optional struct) under tight limits.
 * Properties checked, abort() on violation:
 *  1. a failed decode returns one of the documented errors, fills the diag
 *     and leaves the value all zero;
 *  2. a successful decode re-encodes to exactly the input bytes (the format
 *     is canonical), into a buffer capped at the input's size.
 * Leaks are caught by LeakSanitizer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../src/serde/testschema.h"
#include "bt/serde.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct bt_serde_limits lim = {
	.max_len = 4096,
	.max_count = 64,
	.max_depth = 8,
};

static void
check_one(const struct bt_serde_schema *s, void *val, size_t val_size,
    const uint8_t *data, size_t size)
{
	struct bt_diag diag;
	struct bt_dbuf b;
	int            rc;

	memset(&diag, 0, sizeof(diag));
	rc = bt_serde_decode(s, val, data, size, &lim, &diag);
	if (rc != 0) {
		if (rc != BT_ETRUNC && rc != BT_ENONCANON && rc != BT_ECORRUPT
		    && rc != BT_ELIMIT && rc != -ENOMEM)
			abort();
		if (diag.msg[0] == '\0' || diag.off < 0
		    || (size_t)diag.off > size)
			abort();
		for (size_t i = 0; i < val_size; i++)
			if (((const uint8_t *)val)[i] != 0)
				abort();
		return;
	}
	bt_dbuf_init(&b, size);
	rc = bt_serde_encode(&b, s, val);
	if (rc != 0 || b.len != size
	    || (size > 0 && memcmp(b.ptr, data, size) != 0))
		abort();
	bt_dbuf_fini(&b);
	bt_serde_free(s, val);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ex_note  note;
	struct ex_entry entry;
	struct ex_seqs  seqs;

	check_one(&ex_note_schema, &note, sizeof(note), data, size);
	check_one(&ex_entry_schema, &entry, sizeof(entry), data, size);
	check_one(&ex_seqs_schema, &seqs, sizeof(seqs), data, size);
	return 0;
}
