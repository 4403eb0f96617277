/*
 * core/parse.c: small values given by people on command lines and in
 * configuration: integers, durations and sizes. Strict: trailing garbage,
 * signs, empty strings and overflow are all -EINVAL.
 */
#include <errno.h>
#include <string.h>

#include "bt/core.h"

/* parse_digits reads an unsigned number at *sp in base 10 or 16 and
 * advances *sp past it. */
static int
parse_digits(const char **sp, unsigned base, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;
	int n = 0;

	for (;; s++, n++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return -EINVAL;
		v = v * base + d;
	}
	if (n == 0)
		return -EINVAL;
	*sp = s;
	*out = v;
	return 0;
}

int
bt_parse_u64(const char *s, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v;

	if (s == NULL)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (parse_digits(&s, base, &v) != 0 || *s != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

static int
mul_check(uint64_t v, uint64_t m, uint64_t *out)
{
	if (m != 0 && v > UINT64_MAX / m)
		return -EINVAL;
	*out = v * m;
	return 0;
}

int
bt_parse_duration(const char *s, uint64_t *out_ns)
{
	static const struct {
		const char *suffix;
		uint64_t    ns;
	} units[] = {
		{ "", 1000000000ull },
		{ "ns", 1ull },
		{ "us", 1000ull },
		{ "ms", 1000000ull },
		{ "s", 1000000000ull },
		{ "m", 60ull * 1000000000ull },
		{ "h", 3600ull * 1000000000ull },
		{ "d", 86400ull * 1000000000ull },
		{ "w", 7ull * 86400ull * 1000000000ull },
		{ "y", 365ull * 86400ull * 1000000000ull },
	};
	uint64_t v;

	if (s == NULL || parse_digits(&s, 10, &v) != 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s, units[i].suffix) == 0)
			return mul_check(v, units[i].ns, out_ns);
	}
	return -EINVAL;
}

int
bt_parse_size(const char *s, uint64_t *out)
{
	static const char letters[] = "KMGTP";
	uint64_t v, m = 1;
	const char *l;

	if (s == NULL || parse_digits(&s, 10, &v) != 0)
		return -EINVAL;
	if (*s == '\0')
		return mul_check(v, 1, out);
	if (*s == 'b' || *s == 'B')
		return s[1] == '\0' ? mul_check(v, 1, out) : -EINVAL;
	l = strchr(letters, *s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s);
	if (l == NULL || *l == '\0')
		return -EINVAL;
	for (const char *p = letters; p <= l; p++)
		m *= 1024;
	s++;
	if (!(*s == '\0' || strcmp(s, "B") == 0 || strcmp(s, "iB") == 0 ||
		strcmp(s, "ib") == 0))
		return -EINVAL;
	return mul_check(v, m, out);
}
