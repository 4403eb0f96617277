/*
 * core/log.c: one line per message to stderr, with time, level and part:
 *   2026-11-23T16:50:55.123Z info  msg: listening on 127.0.0.1:7400
 * The line is formatted into a local buffer and written with one write(2),
 * so lines from threads never interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bt/core.h"

static atomic_int log_level = BT_LOG_INFO;

static const char *const level_names[] = {
	"error", "warn", "info", "debug", "trace",
};

int
bt_log_parse_level(const char *name)
{
	for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0]));
	     i++) {
		if (strcmp(name, level_names[i]) == 0)
			return i;
	}
	return -EINVAL;
}

void
bt_log_set_level(int level)
{
	if (level < BT_LOG_ERROR)
		level = BT_LOG_ERROR;
	if (level > BT_LOG_TRACE)
		level = BT_LOG_TRACE;
	atomic_store(&log_level, level);
}

bool
bt_log_enabled(int level)
{
	return level <= atomic_load(&log_level);
}

int
bt_log_init_env(void)
{
	const char *s = getenv("BT_LOG");
	int level;

	if (s == NULL || s[0] == '\0')
		return 0;
	level = bt_log_parse_level(s);
	if (level < 0)
		return level;
	bt_log_set_level(level);
	return 0;
}

void
bt_log(int level, const char *part, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n;
	int m;

	if (!bt_log_enabled(level))
		return;
	if (level < BT_LOG_ERROR || level > BT_LOG_TRACE)
		level = BT_LOG_ERROR;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	m = snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s %s: ",
	    ts.tv_nsec / 1000000, level_names[level], part);
	if (m > 0)
		n += (size_t)m;
	if (n >= sizeof(line) - 2)
		n = sizeof(line) - 2;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m > 0)
		n += (size_t)m;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2; // truncated: keep one line
	// A message never spans lines: fold embedded newlines.
	for (size_t i = 0; i < n; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	line[n++] = '\n';
	while (write(STDERR_FILENO, line, n) < 0 && errno == EINTR) {
	}
}
