/*
 * core/err.c: error codes and diagnostics. One bt_strerror for both the
 * errno range and the project's own BT_E* range below BT_E_BASE.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bt/core.h"

static const char *const bt_errors[] = {
	[0] = "unknown error",
	[1] = "malformed or corrupt data",
	[2] = "WebAssembly trap",
	[3] = "closed",
	[4] = "limit exceeded",
	[5] = "unsupported feature",
	[6] = "non-canonical encoding",
	[7] = "bad signature",
	[8] = "credential expired",
	[9] = "credential not yet valid",
	[10] = "path outside the issuer's path",
	[11] = "credential chain not rooted at the path's root",
	[12] = "credential chain too long",
	[13] = "unknown algorithm",
	[14] = "not permitted",
	[15] = "interrupted",
	[16] = "input truncated",
};

_Static_assert(sizeof(bt_errors) / sizeof(bt_errors[0]) ==
	(size_t)(BT_E_BASE - BT_E_LAST) + 1,
    "every BT_E* code has a message");

const char *
bt_strerror(int rc)
{
	if (rc == 0)
		return "success";
	if (rc <= BT_E_BASE && rc >= BT_E_LAST)
		return bt_errors[BT_E_BASE - rc];
	if (rc < 0 && rc > BT_E_BASE) {
		/*
		 * Not strerror: for an errno it does not know, glibc returns
		 * "Unknown error N" in a per-thread buffer that the next
		 * such call frees, so two results in one printf were a use
		 * after free; it also follows the locale. strerrordesc_np
		 * gives static English text, NULL when unknown.
		 */
		const char *s = strerrordesc_np(-rc);

		return s != NULL ? s : bt_errors[0];
	}
	return bt_errors[0];
}

int
bt_to_errno(int rc)
{
	if (rc >= 0)
		return 0;
	if (rc > BT_E_BASE)
		return -rc;
	switch (rc) {
	case BT_ECORRUPT:
	case BT_ENONCANON:
	case BT_ETRUNC:
		return EIO;
	case BT_ECLOSED:
		return EPIPE;
	case BT_ELIMIT:
		return ENOSPC;
	case BT_EUNSUPPORTED:
	case BT_EALG:
		return ENOTSUP;
	case BT_EINTERRUPTED:
		return EINTR;
	case BT_EBADSIG:
	case BT_EEXPIRED:
	case BT_ENOTYET:
	case BT_EPATH:
	case BT_ENOTROOTED:
	case BT_ECHAINLEN:
	case BT_EPERM:
		return EACCES;
	default:
		return EIO;
	}
}

void
bt_diag_clear(struct bt_diag *d)
{
	if (d == NULL)
		return;
	d->off = -1;
	d->msg[0] = '\0';
}

void
bt_diag_set(struct bt_diag *d, int64_t off, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return;
	d->off = off;
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
}
