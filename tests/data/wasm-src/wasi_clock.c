/*
 * wasi_clock: clocks, sleeping, random and sched_yield.
 *   wasi_clock HOST_SECONDS
 * HOST_SECONDS is the host's time(NULL) when the test started; the guest's
 * realtime clock must agree with it within a minute. Prints "ok STEP" per
 * step, or "FAIL STEP" and exits 1.
 */
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

static void
check(int ok, const char *step)
{
	if (!ok) {
		printf("FAIL %s\n", step);
		exit(1);
	}
	printf("ok %s\n", step);
}

static int64_t
ns(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	struct timespec res, req = { 0, 20 * 1000 * 1000 };
	__wasi_subscription_t sub;
	__wasi_event_t ev;
	__wasi_size_t nev = 0;
	unsigned char r1[32], r2[32];
	int64_t host, t0, t1, c0, c1;
	volatile uint64_t spin = 0;
	int i, nonzero = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: wasi_clock HOST_SECONDS\n");
		return 2;
	}
	host = strtoll(argv[1], NULL, 10);
	t0 = ns(CLOCK_REALTIME) / 1000000000;
	check(t0 > host - 60 && t0 < host + 60, "realtime");
	check(clock_getres(CLOCK_REALTIME, &res) == 0 && res.tv_sec == 0 &&
	    res.tv_nsec > 0, "res-realtime");
	check(clock_getres(CLOCK_MONOTONIC, &res) == 0 && res.tv_sec == 0 &&
	    res.tv_nsec > 0, "res-monotonic");

	t0 = ns(CLOCK_MONOTONIC);
	t1 = ns(CLOCK_MONOTONIC);
	check(t0 > 0 && t1 >= t0, "monotonic");

	c0 = ns(CLOCK_PROCESS_CPUTIME_ID);
	for (i = 0; i < 20000000; i++)
		spin += (uint64_t)i;
	c1 = ns(CLOCK_PROCESS_CPUTIME_ID);
	check(c0 >= 0 && c1 > c0, "process-cputime");
	check(ns(CLOCK_THREAD_CPUTIME_ID) > 0, "thread-cputime");

	t0 = ns(CLOCK_MONOTONIC);
	check(nanosleep(&req, NULL) == 0, "nanosleep");
	t1 = ns(CLOCK_MONOTONIC);
	check(t1 - t0 >= 20 * 1000 * 1000, "nanosleep-duration");

	/* poll_oneoff with an absolute monotonic deadline 10 ms ahead */
	memset(&sub, 0, sizeof(sub));
	sub.userdata = 0x1234;
	sub.u.tag = __WASI_EVENTTYPE_CLOCK;
	sub.u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
	t0 = ns(CLOCK_MONOTONIC);
	sub.u.u.clock.timeout = (uint64_t)t0 + 10 * 1000 * 1000;
	sub.u.u.clock.flags = __WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME;
	check(__wasi_poll_oneoff(&sub, &ev, 1, &nev) == 0 && nev == 1 &&
	    ev.userdata == 0x1234 && ev.error == 0 &&
	    ev.type == __WASI_EVENTTYPE_CLOCK, "poll-abstime");
	check(ns(CLOCK_MONOTONIC) - t0 >= 10 * 1000 * 1000,
	    "poll-abstime-duration");
	check(__wasi_poll_oneoff(&sub, &ev, 0, &nev) == __WASI_ERRNO_INVAL,
	    "poll-empty");

	check(getentropy(r1, sizeof(r1)) == 0 && getentropy(r2, sizeof(r2)) == 0,
	    "random");
	for (i = 0; i < (int)sizeof(r1); i++)
		nonzero |= r1[i];
	check(nonzero != 0 && memcmp(r1, r2, sizeof(r1)) != 0, "random-differs");
	check(sched_yield() == 0, "sched_yield");
	printf("clock: all ok (spin %llu)\n", (unsigned long long)(spin & 1));
	return 0;
}
