/*
 * crypto/testvec.h: reading the known-answer files of tests/data/crypto/
 * in the unit tests. Each non-comment line is whitespace-separated fields;
 * fields are hex, "-" meaning empty. Test-only; not API.
 */
#ifndef BT_CRYPTO_TESTVEC_H
#define BT_CRYPTO_TESTVEC_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "testing.h"

#define TV_FIELDS_MAX 8

/* tv_hex decodes a hex field into a new buffer (bt_free) and its length. */
static inline uint8_t *
tv_hex(const char *s, size_t *len)
{
	size_t   n = strcmp(s, "-") == 0 ? 0 : strlen(s);
	uint8_t *p = bt_alloc(n / 2 + 1);
	ssize_t  r;

	assert_non_null(p);
	r = bt_hex_decode(p, n / 2 + 1, s, n);
	assert_true(r >= 0);
	*len = (size_t)r;
	return p;
}

typedef void tv_line_fn(void *arg, int nf, char **fields);

/* tv_each calls fn for each vector line of tests/data/crypto/NAME and
 * returns the number of lines. */
static inline int
tv_each(const char *name, tv_line_fn *fn, void *arg)
{
	char  path[512], line[4096];
	FILE *f;
	int   count = 0;

	snprintf(path, sizeof(path), "%s/tests/data/crypto/%s", BT_SOURCE_DIR,
	    name);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *fields[TV_FIELDS_MAX], *p = line;
		int   nf = 0;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		// Split on blanks in place.
		while (*p != '\0' && nf < TV_FIELDS_MAX) {
			while (*p == ' ' || *p == '\t' || *p == '\n')
				*p++ = '\0';
			if (*p == '\0')
				break;
			fields[nf++] = p;
			while (*p != '\0' && *p != ' ' && *p != '\t'
			    && *p != '\n')
				p++;
		}
		fn(arg, nf, fields);
		count++;
	}
	fclose(f);
	return count;
}

#endif /* BT_CRYPTO_TESTVEC_H */
