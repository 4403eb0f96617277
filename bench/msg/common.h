/*
 * bench/msg/common.h: what the three messaging benchmarks share: timing,
 * percentiles, and the key=value lines run.sh turns into a table.
 */
#ifndef BENCH_MSG_COMMON_H
#define BENCH_MSG_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALLS	   calls_n() /* lockstep calls per payload size */
#define PIPED	   (5 * CALLS) /* calls in the pipelined runs */
#define WINDOW	   64	 /* calls in flight in the pipelined runs */
#define PUBS	   pubs_n() /* publications in the fan-out run */
#define SUBS	   10
#define INPROC	   200000
#define SMALL	   64
#define LARGE	   4096

/* calls_n is 20,000, or $BENCH_CALLS (for profiling runs). */
static inline size_t
calls_n(void)
{
	const char *e = getenv("BENCH_CALLS");
	long n = e != NULL ? strtol(e, NULL, 10) : 0;

	return n > 0 ? (size_t)n : 20000;
}

/* pubs_n is 20,000, or $BENCH_PUBS. */
static inline int
pubs_n(void)
{
	static int pubs;
	const char *e;
	long n;

	if (pubs == 0) { /* read once: the wait loops ask often */
		e = getenv("BENCH_PUBS");
		n = e != NULL ? strtol(e, NULL, 10) : 0;
		pubs = n > 0 && n < 100000000 ? (int)n : 20000;
	}
	return pubs;
}

static inline uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* report prints name_p50_us, name_p99_us and name_rate for n samples. */
static inline void
report(const char *name, uint64_t *rtt, size_t n, uint64_t total_ns)
{
	qsort(rtt, n, sizeof(*rtt), cmp_u64);
	printf("%s_p50_us=%.1f\n", name, rtt[n / 2] / 1000.0);
	printf("%s_p99_us=%.1f\n", name, rtt[n * 99 / 100] / 1000.0);
	printf("%s_rate=%.0f\n", name, n / (total_ns / 1e9));
	fflush(stdout);
}

/* want says whether workload w was asked for (no arguments: all). */
static inline int
want(int argc, char **argv, const char *w)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], w) == 0)
			return 1;
	return 0;
}

#endif
