/*
 * core/encode.c: base64url (RFC 4648 section 5, no padding) and hex. The
 * decoders are strict so that every byte string has exactly one text form:
 * principals are compared as text in paths.
 */
#include <errno.h>

#include "bt/core.h"

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
bt_b64url_len(size_t n)
{
	return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

void
bt_b64url_encode(char *out, const void *in, size_t n)
{
	const uint8_t *p = in;
	size_t i, o = 0;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
		    p[i + 2];
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
	}
	out[o] = '\0';
}

static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

ssize_t
bt_b64url_decode(void *out, size_t cap, const char *in, size_t len)
{
	uint8_t *o = out;
	size_t n = 0, full = len / 4 * 3, rest = len % 4;
	size_t want = full + (rest ? rest - 1 : 0);
	uint32_t acc = 0;
	int bits = 0;

	if (rest == 1)
		return BT_ECORRUPT;
	if (want > cap)
		return BT_ELIMIT;
	// Check every character first: out is written only for input that
	// decodes (STYLE.md, out-parameters only on success).
	for (size_t i = 0; i < len; i++) {
		if (b64val(in[i]) < 0)
			return BT_ECORRUPT;
	}
	if (rest > 0 && (b64val(in[len - 1]) & (rest == 2 ? 15 : 3)) != 0)
		return BT_ECORRUPT;
	for (size_t i = 0; i < len; i++) {
		int v = b64val(in[i]);

		if (v < 0)
			return BT_ECORRUPT;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	// Leftover bits must be zero, or two texts would decode alike.
	if (acc != 0)
		return BT_ECORRUPT;
	return (ssize_t)n;
}

void
bt_hex_encode(char *out, const void *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = in;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t
bt_hex_decode(void *out, size_t cap, const char *in, size_t len)
{
	uint8_t *o = out;

	if (len % 2 != 0)
		return BT_ECORRUPT;
	if (len / 2 > cap)
		return BT_ELIMIT;
	for (size_t i = 0; i < len; i++) {
		if (hexval(in[i]) < 0)
			return BT_ECORRUPT;
	}
	for (size_t i = 0; i < len; i += 2) {
		int hi = hexval(in[i]), lo = hexval(in[i + 1]);

		if (hi < 0 || lo < 0)
			return BT_ECORRUPT;
		o[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return (ssize_t)(len / 2);
}
