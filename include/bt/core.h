/*
 * bt/core.h: errors, allocation, buffers, byte order, logging, time,
 * configuration. The lowest layer of Blocktree; everything else includes it.
 *
 * This header is the whole supported surface of core/. Anything not declared
 * here is not API and may change without notice.
 */
#ifndef BT_CORE_H
#define BT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BT_API __attribute__((visibility("default")))
#define BT_PRINTF(a, b) __attribute__((format(printf, a, b)))

#define BT_VERSION "0.1.0"

/*
 * Errors. Functions return an int rc: 0 on success, a negative errno
 * (-ENOMEM, -EIO, -EINVAL, ...) or a negative BT_E* code. The project's own
 * codes sit below BT_E_BASE so they can never collide with errno values.
 */
#define BT_E_BASE (-10000)
enum {
	BT_ECORRUPT = BT_E_BASE - 1,	 /* malformed input, failed MAC/digest */
	BT_ETRAP = BT_E_BASE - 2,	 /* a WebAssembly trap */
	BT_ECLOSED = BT_E_BASE - 3,	 /* object or connection closed */
	BT_ELIMIT = BT_E_BASE - 4,	 /* a quota or bound was exceeded */
	BT_EUNSUPPORTED = BT_E_BASE - 5, /* valid but not supported here */
	BT_ENONCANON = BT_E_BASE - 6,	 /* decodes, but not canonically */
	BT_EBADSIG = BT_E_BASE - 7,	 /* a signature does not verify */
	BT_EEXPIRED = BT_E_BASE - 8,	 /* a credential has expired */
	BT_ENOTYET = BT_E_BASE - 9,	 /* a credential is not yet valid */
	BT_EPATH = BT_E_BASE - 10,	 /* path outside the parent's */
	BT_ENOTROOTED = BT_E_BASE - 11,	 /* chain not rooted at path's root */
	BT_ECHAINLEN = BT_E_BASE - 12,	 /* credential chain too long */
	BT_EALG = BT_E_BASE - 13,	 /* unknown algorithm tag */
	BT_EPERM = BT_E_BASE - 14,	 /* a principal is not allowed */
	BT_EINTERRUPTED = BT_E_BASE - 15, /* stopped by an interrupt flag */
	BT_ETRUNC = BT_E_BASE - 16,	 /* input ended early */
	BT_E_LAST = BT_E_BASE - 16
};

/*
 * bt_strerror returns a static, human-readable sentence fragment for rc,
 * which may be a negative errno or a BT_E* code. Never returns NULL.
 */
BT_API const char *bt_strerror(int rc);

/*
 * bt_to_errno maps rc to a positive errno for FUSE, NBD and the kernel:
 * negative errno values map to themselves, BT_ECORRUPT to EIO, and so on.
 */
BT_API int bt_to_errno(int rc);

/*
 * Diagnostics. Parsers of untrusted input fill an optional struct bt_diag
 * with a message and the byte offset where they stopped. A NULL diag is
 * allowed everywhere one is accepted. off is -1 when no offset applies.
 */
struct bt_diag {
	int64_t off;
	char	msg[200];
};

BT_API void bt_diag_set(struct bt_diag *d, int64_t off, const char *fmt, ...)
    BT_PRINTF(3, 4);
BT_API void bt_diag_clear(struct bt_diag *d);

/*
 * Allocation. All library code allocates through these, so tests can count
 * live allocations and fail the N-th one (allocation torture). bt_free(NULL)
 * is a no-op. bt_alloc(0) returns a unique non-NULL pointer.
 */
BT_API void *bt_alloc(size_t n);
BT_API void *bt_zalloc(size_t n);
BT_API void *bt_calloc(size_t count, size_t size); /* overflow-checked */
BT_API void *bt_realloc(void *p, size_t n);
BT_API void  bt_free(void *p);
BT_API char *bt_strdup(const char *s);
BT_API char *bt_strndup(const char *s, size_t n);
BT_API void *bt_memdup(const void *p, size_t n);
/* JSON values and strings from jansson are allocated through bt_alloc too
 * (core installs it as jansson's allocator), so free json_dumps results with
 * bt_free. */
/* bt_free_secret zeroizes n bytes at p before freeing it (NULL-safe). */
BT_API void bt_free_secret(void *p, size_t n);
/* bt_zeroize clears n bytes in a way the compiler cannot elide. */
BT_API void bt_zeroize(void *p, size_t n);

/*
 * Test hooks. bt_alloc_fail_at(n) makes the n-th allocation from now fail
 * (n = 1 is the very next one); 0 disables. bt_alloc_live is the number of
 * allocations not yet freed; bt_alloc_calls counts calls since start.
 * Thread-safe (atomics), but meant for single-threaded tests.
 */
BT_API void	bt_alloc_fail_at(long n);
BT_API long	bt_alloc_live(void);
BT_API long	bt_alloc_calls(void);

/*
 * Byte strings. struct bt_buf is a borrowed view; its lifetime is whatever
 * the function that returned it says.
 */
struct bt_buf {
	const uint8_t *ptr;
	size_t	       len;
};

/*
 * Bounded growable buffers (curl's dynbuf). A struct bt_dbuf grows on append
 * up to max bytes; past it, appends fail with BT_ELIMIT and the buffer is
 * left as it was. bt_dbuf_init on caller storage; bt_dbuf_fini frees and is
 * safe on zeroed memory. ptr is NULL until the first append.
 */
struct bt_dbuf {
	uint8_t *ptr;
	size_t	 len;
	size_t	 cap;
	size_t	 max;
};

BT_API void bt_dbuf_init(struct bt_dbuf *b, size_t max);
BT_API void bt_dbuf_fini(struct bt_dbuf *b);
BT_API void bt_dbuf_reset(struct bt_dbuf *b); /* len = 0, keeps memory */
BT_API int  bt_dbuf_reserve(struct bt_dbuf *b, size_t extra);
BT_API int  bt_dbuf_append(struct bt_dbuf *b, const void *p, size_t n);
BT_API int  bt_dbuf_putc(struct bt_dbuf *b, uint8_t c);
BT_API int  bt_dbuf_printf(struct bt_dbuf *b, const char *fmt, ...)
    BT_PRINTF(2, 3);
/*
 * bt_dbuf_take hands the bytes to the caller (free with bt_free) and leaves
 * b empty. The result is NUL-terminated past len (not counted), so text can
 * be used as a C string. Returns NULL only on -ENOMEM.
 */
BT_API uint8_t *bt_dbuf_take(struct bt_dbuf *b, size_t *len_out);

/* Byte order: explicit encoders, never memcpy'd structs (STYLE.md). */
static inline void
bt_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void
bt_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void
bt_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void
bt_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void
bt_put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static inline void
bt_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static inline uint16_t
bt_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t
bt_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	    ((uint32_t)p[3] << 24);
}
static inline uint64_t
bt_get_le64(const uint8_t *p)
{
	return (uint64_t)bt_get_le32(p) | ((uint64_t)bt_get_le32(p + 4) << 32);
}
static inline uint16_t
bt_get_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t
bt_get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline uint64_t
bt_get_be64(const uint8_t *p)
{
	return ((uint64_t)bt_get_be32(p) << 32) | bt_get_be32(p + 4);
}

/*
 * Logging. One line per call to stderr:
 *   2026-11-23T16:50:55.123Z info  msg: listening on 127.0.0.1:7400
 * The level comes from BT_LOG (error, warn, info, debug, trace; default
 * info), read by bt_log_init_env. Thread-safe. Never log secrets.
 */
enum bt_log_level {
	BT_LOG_ERROR = 0,
	BT_LOG_WARN,
	BT_LOG_INFO,
	BT_LOG_DEBUG,
	BT_LOG_TRACE,
};

BT_API void bt_log(int level, const char *part, const char *fmt, ...)
    BT_PRINTF(3, 4);
BT_API bool bt_log_enabled(int level);
BT_API void bt_log_set_level(int level);
/* bt_log_init_env reads BT_LOG; returns -EINVAL for an unknown level name. */
BT_API int bt_log_init_env(void);
/* bt_log_parse_level maps "warn" to BT_LOG_WARN etc.; -EINVAL otherwise. */
BT_API int bt_log_parse_level(const char *name);

#define bt_log_error(part, ...) bt_log(BT_LOG_ERROR, part, __VA_ARGS__)
#define bt_log_warn(part, ...) bt_log(BT_LOG_WARN, part, __VA_ARGS__)
#define bt_log_info(part, ...) bt_log(BT_LOG_INFO, part, __VA_ARGS__)
#define bt_log_debug(part, ...) bt_log(BT_LOG_DEBUG, part, __VA_ARGS__)
#define bt_log_trace(part, ...) bt_log(BT_LOG_TRACE, part, __VA_ARGS__)

/*
 * Time. bt_time_mono_ns is CLOCK_MONOTONIC in nanoseconds (for deadlines and
 * measuring); bt_time_real_ns is CLOCK_REALTIME in nanoseconds since the
 * epoch (for credentials and timestamps); bt_time_now_s the same in seconds.
 */
BT_API uint64_t bt_time_mono_ns(void);
BT_API uint64_t bt_time_real_ns(void);
BT_API int64_t	bt_time_now_s(void);

/*
 * Parsing small values given by people. Each returns 0 and writes *out, or
 * -EINVAL (and leaves *out alone) for anything malformed or out of range.
 *  bt_parse_u64:      decimal, or 0x-prefixed hexadecimal.
 *  bt_parse_duration: "250ms", "30s", "5m", "2h", "7d", "1y" or a bare
 *                     number of seconds; result in nanoseconds.
 *  bt_parse_size:     "4096", "4k"/"4K"/"4KiB", "16M", "2G", "1T" (powers
 *                     of 1024); result in bytes.
 */
BT_API int bt_parse_u64(const char *s, uint64_t *out);
BT_API int bt_parse_duration(const char *s, uint64_t *out_ns);
BT_API int bt_parse_size(const char *s, uint64_t *out);

/*
 * Base64url without padding (RFC 4648 section 5), used for principals.
 * bt_b64url_encode writes 4*ceil(n/3) - padding characters and a NUL to
 * out, which must hold bt_b64url_len(n) + 1 bytes. bt_b64url_decode returns
 * the number of bytes written, or BT_ECORRUPT for characters outside the
 * alphabet, a length that cannot occur, or non-zero trailing bits (so every
 * byte string has exactly one encoding), or BT_ELIMIT if out is too small;
 * on failure nothing is written to out.
 */
BT_API size_t  bt_b64url_len(size_t n);
BT_API void    bt_b64url_encode(char *out, const void *in, size_t n);
BT_API ssize_t bt_b64url_decode(void *out, size_t cap, const char *in,
    size_t len);
/* bt_hex_encode writes 2n hex digits and a NUL; bt_hex_decode like above
 * (either case of digit; an odd length or a non-digit is BT_ECORRUPT). */
BT_API void    bt_hex_encode(char *out, const void *in, size_t n);
BT_API ssize_t bt_hex_decode(void *out, size_t cap, const char *in,
    size_t len);

/*
 * Configuration (DESIGN.md, "Configuration and logging"). Every option is
 * declared once, as a struct bt_opt, and can then be given as
 *   --name=value or --name value (or -s value for a short alias),
 *   the environment variable BT_NAME (dashes become underscores),
 *   a key "name" in a JSON config file (--config FILE, default ./bt.json
 *   when present),
 *   or left to its default.
 * Arguments win over the environment, the environment over the file, the
 * file over defaults. BT_OPT_LIST options may repeat on the command line and
 * are a JSON array or a comma-separated string elsewhere. BT_OPT_FLAG
 * options take no value on the command line (--backup); in the environment
 * or file they are true/false/1/0. Arguments that are not options, and all
 * after "--", are positional.
 */
enum bt_opt_type {
	BT_OPT_STR = 0,
	BT_OPT_U64,	 /* bt_parse_u64 */
	BT_OPT_SIZE,	 /* bt_parse_size */
	BT_OPT_DURATION, /* bt_parse_duration, in nanoseconds */
	BT_OPT_FLAG,	 /* boolean */
	BT_OPT_LIST,	 /* list of strings */
};

struct bt_opt {
	const char *name;     /* long name without dashes: "data-dir" */
	char	    short_name; /* 'o' for -o, or 0 */
	int	    type;	/* enum bt_opt_type */
	const char *def;	/* default as text, or NULL for none */
	const char *help;	/* one line for --help */
};

/* Where a value came from, lowest precedence first. */
enum bt_opt_src {
	BT_OPT_SRC_NONE = 0,
	BT_OPT_SRC_DEFAULT,
	BT_OPT_SRC_FILE,
	BT_OPT_SRC_ENV,
	BT_OPT_SRC_ARG,
};

/* Flags for bt_config_load. */
#define BT_CONFIG_ARGS_ONLY 0x1 /* no environment, no config file */

typedef struct bt_config bt_config;

/*
 * bt_config_load parses argv[0..argc) (argv[0] is the first argument, not
 * the program name) against the n declared opts. "--help"/"-h" sets the
 * flag reported by bt_config_help_wanted and is not an error. An option
 * "config" need not be declared; it is always understood unless
 * BT_CONFIG_ARGS_ONLY is given.
 *
 * Returns 0 and a config in *out; -EINVAL with diag filled for an unknown
 * option, a missing or malformed value, or a bad environment value;
 * BT_ECORRUPT for a config file that is not a JSON object of known keys;
 * BT_ELIMIT for a config file over 1 MiB or a list over 1024 values;
 * -ENOENT when an explicit --config file is missing (another negative
 * errno, such as -EACCES, when it cannot be read). opts is retained (it
 * must outlive the config: declare it static).
 */
BT_API int bt_config_load(bt_config **out, const struct bt_opt *opts,
    size_t n, int argc, char **argv, unsigned flags, struct bt_diag *diag);
BT_API void bt_config_free(bt_config *cfg);

/*
 * Getters. name must be a declared option (asserted). A string result is
 * borrowed and lives as long as cfg; NULL when the option has no value.
 * bt_config_set overrides a value as if given on the command line.
 */
BT_API const char *bt_config_str(const bt_config *cfg, const char *name);
BT_API uint64_t	   bt_config_u64(const bt_config *cfg, const char *name);
BT_API bool	   bt_config_flag(const bt_config *cfg, const char *name);
BT_API size_t	   bt_config_list(const bt_config *cfg, const char *name,
	 const char *const **items_out);
BT_API int	   bt_config_source(const bt_config *cfg, const char *name);
BT_API bool	   bt_config_help_wanted(const bt_config *cfg);
BT_API int	   bt_config_set(bt_config *cfg, const char *name,
	 const char *value);
/* Positional arguments, in order; borrowed from argv. */
BT_API int	   bt_config_npos(const bt_config *cfg);
BT_API const char *bt_config_pos(const bt_config *cfg, int i);

/*
 * bt_config_usage appends one line per option ("  --name=VALUE  help
 * (default: x)") to b, for --help texts.
 */
BT_API int bt_config_usage(struct bt_dbuf *b, const struct bt_opt *opts,
    size_t n);

#endif /* BT_CORE_H */
