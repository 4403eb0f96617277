/*
 * serde_int.h: what the files of serde/ share (not API).
 */
#ifndef BT_SERDE_SERDE_INT_H
#define BT_SERDE_SERDE_INT_H

#include "bt/serde.h"

/*
 * bt__serde_fail fills d->diag (if any) with "scope.what: message (offset
 * N)" at offset off, and returns rc, so a failing path reads
 * "return bt__serde_fail(d, start, BT_ETRUNC, ...);".
 */
int bt__serde_fail(struct bt_serde_dec *d, size_t off, int rc, const char *fmt,
    ...) BT_PRINTF(4, 5);

#endif /* BT_SERDE_SERDE_INT_H */
