/*
 * core/dbuf.c: bounded growable buffers. Every buffer that grows on input
 * has a cap set at init; exceeding it is BT_ELIMIT, never an unbounded
 * realloc (curl's dynbuf "toobig").
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bt/core.h"

void
bt_dbuf_init(struct bt_dbuf *b, size_t max)
{
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
bt_dbuf_fini(struct bt_dbuf *b)
{
	if (b == NULL)
		return;
	bt_free(b->ptr);
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
}

void
bt_dbuf_reset(struct bt_dbuf *b)
{
	b->len = 0;
}

int
bt_dbuf_reserve(struct bt_dbuf *b, size_t extra)
{
	size_t need, cap, max;
	uint8_t *p;

	/*
	 * One byte more than asked stays free for the NUL of bt_dbuf_take,
	 * so the usable bound is at most SIZE_MAX - 1: with max = SIZE_MAX
	 * ("no bound") max + 1 and len + extra + 1 would wrap to 0 and the
	 * buffer would be sized 0 while bytes are copied into it.
	 */
	max = b->max < SIZE_MAX ? b->max : SIZE_MAX - 1;
	if (extra > max || b->len > max - extra)
		return BT_ELIMIT;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > max + 1)
		cap = max + 1;
	p = bt_realloc(b->ptr, cap);
	if (p == NULL)
		return -ENOMEM;
	b->ptr = p;
	b->cap = cap;
	return 0;
}

int
bt_dbuf_append(struct bt_dbuf *b, const void *p, size_t n)
{
	int rc;

	if (n == 0)
		return 0;
	rc = bt_dbuf_reserve(b, n);
	if (rc != 0)
		return rc;
	memcpy(b->ptr + b->len, p, n);
	b->len += n;
	return 0;
}

int
bt_dbuf_putc(struct bt_dbuf *b, uint8_t c)
{
	return bt_dbuf_append(b, &c, 1);
}

int
bt_dbuf_printf(struct bt_dbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	rc = bt_dbuf_reserve(b, (size_t)n);
	if (rc != 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)b->ptr + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

uint8_t *
bt_dbuf_take(struct bt_dbuf *b, size_t *len_out)
{
	uint8_t *p;

	if (b->ptr == NULL) {
		p = bt_alloc(1);
		if (p == NULL)
			return NULL;
	} else {
		p = b->ptr;
	}
	p[b->len] = '\0';
	if (len_out != NULL)
		*len_out = b->len;
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
