/*
 * core/alloc.c: the only file that calls malloc and free. Counting live
 * allocations and failing the N-th one on request lets every test check for
 * leaks and run allocation torture (curl's torture mode, SQLite's malloc
 * tests). The counters are atomics, so threaded code stays correct; the
 * fail-at hook is meant for single-threaded tests.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bt/core.h"

static atomic_long live;
static atomic_long calls;
static atomic_long fail_at; /* the calls value that must fail; 0 = never */

static bool
should_fail(void)
{
	long n = atomic_fetch_add(&calls, 1) + 1;
	long at = atomic_load(&fail_at);

	return at != 0 && n == at;
}

void
bt_alloc_fail_at(long n)
{
	atomic_store(&fail_at, n > 0 ? atomic_load(&calls) + n : 0);
}

long
bt_alloc_live(void)
{
	return atomic_load(&live);
}

long
bt_alloc_calls(void)
{
	return atomic_load(&calls);
}

void *
bt_alloc(size_t n)
{
	void *p;

	if (should_fail())
		return NULL;
	p = malloc(n == 0 ? 1 : n);
	if (p != NULL)
		atomic_fetch_add(&live, 1);
	return p;
}

void *
bt_zalloc(size_t n)
{
	void *p;

	if (should_fail())
		return NULL;
	p = calloc(1, n == 0 ? 1 : n);
	if (p != NULL)
		atomic_fetch_add(&live, 1);
	return p;
}

void *
bt_calloc(size_t count, size_t size)
{
	if (size != 0 && count > SIZE_MAX / size)
		return NULL;
	return bt_zalloc(count * size);
}

void *
bt_realloc(void *p, size_t n)
{
	void *q;

	if (p == NULL)
		return bt_alloc(n);
	if (should_fail())
		return NULL;
	q = realloc(p, n == 0 ? 1 : n);
	return q;
}

void
bt_free(void *p)
{
	if (p == NULL)
		return;
	atomic_fetch_sub(&live, 1);
	free(p);
}

char *
bt_strdup(const char *s)
{
	return bt_memdup(s, strlen(s) + 1);
}

char *
bt_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = bt_alloc(len + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void *
bt_memdup(const void *p, size_t n)
{
	void *q = bt_alloc(n);

	if (q != NULL && n > 0)
		memcpy(q, p, n);
	return q;
}

void
bt_zeroize(void *p, size_t n)
{
	/* A volatile function pointer keeps the compiler from proving the
	 * stores dead and removing them. */
	static void *(*const volatile do_memset)(void *, int, size_t) = memset;

	if (p != NULL && n > 0)
		do_memset(p, 0, n);
}

void
bt_free_secret(void *p, size_t n)
{
	if (p == NULL)
		return;
	bt_zeroize(p, n);
	bt_free(p);
}

/*
 * jansson allocates through our functions too, so its memory is counted and
 * tortured like ours, and a string from json_dumps is freed with bt_free.
 * This is the one process-wide setting core makes, before main runs.
 */
static void *
json_alloc(size_t n)
{
	return bt_alloc(n);
}

__attribute__((constructor)) static void
alloc_init(void)
{
	json_set_alloc_funcs(json_alloc, bt_free);
}
