/*
 * testschema.h: the example schema of docs/serde.md, shared by the serde
 * tests, the golden vectors and fuzz/serde_fuzz.c (not part of the
 * library). It uses every field kind, and recurses through an optional
 * struct, the shape of a credential chain.
 */
#ifndef BT_SERDE_TESTSCHEMA_H
#define BT_SERDE_TESTSCHEMA_H

#include "bt/serde.h"

enum ex_kind {
	EX_KIND_TEXT = 0,
	EX_KIND_LINK = 1,
	EX_KIND_FILE = 2,
};

struct ex_entry {
	char    *name; /* str */
	uint64_t size; /* u64 */
	int64_t  mtime; /* i64 */
	bool     dir; /* bool */
};

struct ex_note {
	uint8_t                version; /* u8 */
	enum ex_kind           kind; /* enum, 0..2 */
	uint32_t               flags; /* u32 */
	uint32_t               crc; /* fixed32 */
	uint64_t               stamp; /* fixed64 */
	uint8_t                digest[4]; /* raw */
	struct bt_serde_bytes  body; /* bytes */
	char                  *title; /* str */
	char                  *comment; /* optional str */
	struct bt_serde_bytes *sig; /* optional bytes */
	struct ex_entry        entry; /* struct */
	struct ex_entry       *entries; /* sequence of struct */
	size_t                 nentries;
	uint64_t              *ids; /* sequence of u64 */
	size_t                 nids;
	char                 **labels; /* sequence of str */
	size_t                 nlabels;
	struct ex_note        *reply; /* optional struct, recursive */
};

/* Every kind of sequence element the note does not use. */
struct ex_seqs {
	uint8_t               *u8s;
	size_t                 nu8s;
	uint32_t              *u32s;
	size_t                 nu32s;
	int64_t               *i64s;
	size_t                 ni64s;
	bool                  *bools;
	size_t                 nbools;
	uint32_t              *f32s;
	size_t                 nf32s;
	uint64_t              *f64s;
	size_t                 nf64s;
	struct bt_serde_bytes *blobs;
	size_t                 nblobs;
	enum ex_kind          *kinds;
	size_t                 nkinds;
	uint8_t (*digests)[4];
	size_t ndigests;
};

extern const struct bt_serde_schema ex_seqs_schema;
extern const struct bt_serde_schema ex_entry_schema;
extern const struct bt_serde_schema ex_note_schema;

#endif /* BT_SERDE_TESTSCHEMA_H */
