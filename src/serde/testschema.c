/*
 * testschema.c: the example schema of docs/serde.md (see testschema.h).
 * This is the whole declaration: encode, decode and free follow from it.
 */
#include "testschema.h"

static const struct bt_serde_field ex_entry_fields[] = {
	BT_SERDE_STR(struct ex_entry, name),
	BT_SERDE_U64(struct ex_entry, size),
	BT_SERDE_I64(struct ex_entry, mtime),
	BT_SERDE_BOOL(struct ex_entry, dir),
};

const struct bt_serde_schema ex_entry_schema
    = BT_SERDE_SCHEMA(struct ex_entry, ex_entry_fields);

static const struct bt_serde_field ex_note_fields[] = {
	BT_SERDE_U8(struct ex_note, version),
	BT_SERDE_ENUM(struct ex_note, kind, EX_KIND_FILE),
	BT_SERDE_U32(struct ex_note, flags),
	BT_SERDE_FIXED32(struct ex_note, crc),
	BT_SERDE_FIXED64(struct ex_note, stamp),
	BT_SERDE_RAW(struct ex_note, digest),
	BT_SERDE_BYTES(struct ex_note, body),
	BT_SERDE_STR(struct ex_note, title),
	BT_SERDE_OPT_STR(struct ex_note, comment),
	BT_SERDE_OPT_BYTES(struct ex_note, sig),
	BT_SERDE_STRUCT(struct ex_note, entry, &ex_entry_schema),
	BT_SERDE_SEQ(struct ex_note, entries, nentries, &ex_entry_schema),
	BT_SERDE_SEQ_OF(struct ex_note, ids, nids, U64),
	BT_SERDE_SEQ_OF(struct ex_note, labels, nlabels, STR),
	BT_SERDE_OPT_STRUCT(struct ex_note, reply, &ex_note_schema),
};

const struct bt_serde_schema ex_note_schema
    = BT_SERDE_SCHEMA(struct ex_note, ex_note_fields);

static const struct bt_serde_field ex_seqs_fields[] = {
	BT_SERDE_SEQ_OF(struct ex_seqs, u8s, nu8s, U8),
	BT_SERDE_SEQ_OF(struct ex_seqs, u32s, nu32s, U32),
	BT_SERDE_SEQ_OF(struct ex_seqs, i64s, ni64s, I64),
	BT_SERDE_SEQ_OF(struct ex_seqs, bools, nbools, BOOL),
	BT_SERDE_SEQ_OF(struct ex_seqs, f32s, nf32s, FIXED32),
	BT_SERDE_SEQ_OF(struct ex_seqs, f64s, nf64s, FIXED64),
	BT_SERDE_SEQ_OF(struct ex_seqs, blobs, nblobs, BYTES),
	BT_SERDE_SEQ_ENUM(struct ex_seqs, kinds, nkinds, EX_KIND_FILE),
	BT_SERDE_SEQ_RAW(struct ex_seqs, digests, ndigests),
};

const struct bt_serde_schema ex_seqs_schema
    = BT_SERDE_SCHEMA(struct ex_seqs, ex_seqs_fields);
