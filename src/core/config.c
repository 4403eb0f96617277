/*
 * core/config.c: the configuration loader of DESIGN.md. Each option is
 * declared once (struct bt_opt) and may come from, in rising precedence:
 * its default, a JSON config file, the environment (BT_NAME), the command
 * line. The loader first parses the command line into a list (so that
 * --config is known before the file is read), then applies the four sources
 * lowest first; a later source replaces a value, and repeats of a list
 * option on the command line accumulate.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "bt/core.h"

#define CONFIG_FILE_MAX (1u << 20)
#define LIST_MAX	1024

struct value {
	int	    src;
	char	   *str;   /* text form, owned */
	uint64_t    u;	   /* U64, SIZE, DURATION */
	bool	    flag;  /* FLAG */
	char	  **items; /* LIST, owned */
	size_t	    nitems;
};

struct bt_config {
	const struct bt_opt *opts;
	size_t		     n;
	struct value	    *vals;
	const char	   **pos;
	int		     npos;
	bool		     help;
};

static void
value_clear(struct value *v)
{
	bt_free(v->str);
	for (size_t i = 0; i < v->nitems; i++)
		bt_free(v->items[i]);
	bt_free(v->items);
	memset(v, 0, sizeof(*v));
}

void
bt_config_free(bt_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; cfg->vals != NULL && i < cfg->n; i++)
		value_clear(&cfg->vals[i]);
	bt_free(cfg->vals);
	bt_free(cfg->pos);
	bt_free(cfg);
}

static int
find_opt(const bt_config *cfg, const char *name, size_t len)
{
	for (size_t i = 0; i < cfg->n; i++) {
		const char *o = cfg->opts[i].name;

		if (strlen(o) != len)
			continue;
		/* "data_dir" in a file means "data-dir" */
		size_t k;
		for (k = 0; k < len; k++) {
			char a = o[k], b = name[k];

			if (a == '-')
				a = '_';
			if (b == '-')
				b = '_';
			if (a != b)
				break;
		}
		if (k == len)
			return (int)i;
	}
	return -1;
}

static int
find_short(const bt_config *cfg, char c)
{
	for (size_t i = 0; i < cfg->n; i++) {
		if (cfg->opts[i].short_name == c)
			return (int)i;
	}
	return -1;
}

static int
parse_flag_text(const char *s, bool *out)
{
	if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0 ||
	    strcmp(s, "yes") == 0 || strcmp(s, "on") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0 ||
	    strcmp(s, "no") == 0 || strcmp(s, "off") == 0) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

static int
list_push(struct value *v, const char *s, size_t len)
{
	char **items;
	char *dup;

	if (v->nitems >= LIST_MAX)
		return BT_ELIMIT;
	dup = bt_strndup(s, len);
	if (dup == NULL)
		return -ENOMEM;
	items = bt_realloc(v->items, (v->nitems + 1) * sizeof(*items));
	if (items == NULL) {
		bt_free(dup);
		return -ENOMEM;
	}
	v->items = items;
	v->items[v->nitems++] = dup;
	return 0;
}

/*
 * set_text gives option i the text s from source src. For a list, append
 * says whether s adds an item (command-line repeats) or replaces the list
 * with the comma-separated items of s.
 */
static int
set_text(bt_config *cfg, int i, const char *s, int src, bool append,
    const char *where, struct bt_diag *diag)
{
	const struct bt_opt *o = &cfg->opts[i];
	struct value nv, *v = &cfg->vals[i];
	int rc = 0;

	memset(&nv, 0, sizeof(nv));
	switch (o->type) {
	case BT_OPT_U64:
		rc = bt_parse_u64(s, &nv.u);
		break;
	case BT_OPT_SIZE:
		rc = bt_parse_size(s, &nv.u);
		break;
	case BT_OPT_DURATION:
		rc = bt_parse_duration(s, &nv.u);
		break;
	case BT_OPT_FLAG:
		rc = parse_flag_text(s, &nv.flag);
		break;
	case BT_OPT_LIST:
		if (append && v->src == src) {
			// Another repeat on the same source: keep the others.
			rc = list_push(v, s, strlen(s));
			if (rc == BT_ELIMIT)
				bt_diag_set(diag, -1,
				    "%s: more than %d values for %s", where,
				    LIST_MAX, o->name);
			return rc;
		}
		if (append) {
			rc = list_push(&nv, s, strlen(s));
		} else {
			const char *p = s;

			while (rc == 0 && *p != '\0') {
				const char *c = strchr(p, ',');
				size_t len = c ? (size_t)(c - p) : strlen(p);

				if (len > 0)
					rc = list_push(&nv, p, len);
				p += len + (c ? 1 : 0);
			}
		}
		if (rc == BT_ELIMIT)
			bt_diag_set(diag, -1, "%s: more than %d values for %s",
			    where, LIST_MAX, o->name);
		if (rc != 0) {
			value_clear(&nv);
			return rc;
		}
		break;
	default:
		break;
	}
	if (rc != 0) {
		bt_diag_set(diag, -1, "%s: '%s' is not a valid value for %s",
		    where, s, o->name);
		return -EINVAL;
	}
	nv.str = bt_strdup(s);
	if (nv.str == NULL) {
		value_clear(&nv);
		return -ENOMEM;
	}
	nv.src = src;
	value_clear(v);
	*v = nv;
	return 0;
}

/*
 * read_text reads at most CONFIG_FILE_MAX bytes of path into b. A config
 * file is read whole before parsing so that its size is bounded (jansson's
 * json_load_file would read any amount): past the bound is BT_ELIMIT.
 */
static int
read_text(const char *path, struct bt_dbuf *b, struct bt_diag *diag)
{
	uint8_t chunk[4096];
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		bt_diag_set(diag, -1, "cannot read config file '%s': %s", path,
		    bt_strerror(rc));
		return rc;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			bt_diag_set(diag, -1,
			    "cannot read config file '%s': %s", path,
			    bt_strerror(rc));
			break;
		}
		if (n == 0)
			break;
		rc = bt_dbuf_append(b, chunk, (size_t)n);
		if (rc == BT_ELIMIT) {
			bt_diag_set(diag, (int64_t)CONFIG_FILE_MAX,
			    "config file '%s' is larger than %u bytes", path,
			    CONFIG_FILE_MAX);
		}
		if (rc != 0)
			break;
	}
	close(fd);
	return rc;
}

static int
apply_file(bt_config *cfg, const char *path, bool must_exist,
    struct bt_diag *diag)
{
	json_error_t jerr;
	json_t *root, *val;
	struct bt_dbuf text;
	const char *key;
	char num[32], where[300];
	int rc = 0;

	if (!must_exist && access(path, F_OK) != 0)
		return 0;
	bt_dbuf_init(&text, CONFIG_FILE_MAX);
	rc = read_text(path, &text, diag);
	if (rc != 0) {
		bt_dbuf_fini(&text);
		return rc;
	}
	root = json_loadb(text.ptr != NULL ? (const char *)text.ptr : "",
	    text.len, JSON_REJECT_DUPLICATES, &jerr);
	bt_dbuf_fini(&text);
	if (root == NULL) {
		bt_diag_set(diag, jerr.position,
		    "config file '%s', line %d: %s", path, jerr.line,
		    jerr.text);
		return BT_ECORRUPT;
	}
	if (!json_is_object(root)) {
		bt_diag_set(diag, 0, "config file '%s' is not a JSON object",
		    path);
		json_decref(root);
		return BT_ECORRUPT;
	}
	snprintf(where, sizeof(where), "config file '%s'", path);
	json_object_foreach(root, key, val)
	{
		int i = find_opt(cfg, key, strlen(key));

		if (i < 0) {
			bt_diag_set(diag, -1,
			    "config file '%s': unknown option \"%s\"", path,
			    key);
			rc = BT_ECORRUPT;
			break;
		}
		if (json_is_string(val)) {
			rc = set_text(cfg, i, json_string_value(val),
			    BT_OPT_SRC_FILE, false, where, diag);
		} else if (json_is_integer(val) && json_integer_value(val) >= 0) {
			snprintf(num, sizeof(num), "%lld",
			    (long long)json_integer_value(val));
			rc = set_text(cfg, i, num, BT_OPT_SRC_FILE, false,
			    where, diag);
		} else if (json_is_boolean(val) &&
		    cfg->opts[i].type == BT_OPT_FLAG) {
			rc = set_text(cfg, i, json_is_true(val) ? "1" : "0",
			    BT_OPT_SRC_FILE, false, where, diag);
		} else if (json_is_array(val) &&
		    cfg->opts[i].type == BT_OPT_LIST) {
			size_t k;
			json_t *item;

			value_clear(&cfg->vals[i]);
			json_array_foreach(val, k, item)
			{
				if (!json_is_string(item)) {
					rc = -EINVAL;
					break;
				}
				rc = set_text(cfg, i, json_string_value(item),
				    BT_OPT_SRC_FILE, true, where, diag);
				if (rc != 0)
					break;
			}
		} else {
			rc = -EINVAL;
		}
		if (rc == -EINVAL && diag != NULL && diag->msg[0] == '\0') {
			bt_diag_set(diag, -1,
			    "config file '%s': wrong type for \"%s\"", path,
			    key);
		}
		if (rc != 0)
			break;
	}
	json_decref(root);
	return rc;
}

static int
apply_env(bt_config *cfg, struct bt_diag *diag)
{
	char name[128], where[160];
	int rc;

	for (size_t i = 0; i < cfg->n; i++) {
		const char *o = cfg->opts[i].name, *s;
		size_t k;

		k = (size_t)snprintf(name, sizeof(name), "BT_");
		for (; *o != '\0' && k < sizeof(name) - 1; o++)
			name[k++] = *o == '-' ? '_' : (char)toupper(*o);
		name[k] = '\0';
		s = getenv(name);
		if (s == NULL)
			continue;
		snprintf(where, sizeof(where), "environment variable %s", name);
		rc = set_text(cfg, (int)i, s, BT_OPT_SRC_ENV, false, where,
		    diag);
		if (rc != 0)
			return rc;
	}
	return 0;
}

struct arg {
	int	    opt;
	const char *val;
};

/* parse_args splits argv into option settings and positional arguments. */
static int
parse_args(bt_config *cfg, int argc, char **argv, struct arg *args,
    int *nargs, const char **config_path, struct bt_diag *diag)
{
	bool rest = false;

	*nargs = 0;
	for (int a = 0; a < argc; a++) {
		const char *s = argv[a], *val = NULL, *eq;
		int i;

		if (rest || s[0] != '-' || s[1] == '\0') {
			cfg->pos[cfg->npos++] = s;
			continue;
		}
		if (strcmp(s, "--") == 0) {
			rest = true;
			continue;
		}
		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			cfg->help = true;
			continue;
		}
		if (s[1] == '-') {
			const char *name = s + 2;
			size_t len;

			eq = strchr(name, '=');
			len = eq ? (size_t)(eq - name) : strlen(name);
			if (config_path != NULL && len == 6 &&
			    strncmp(name, "config", 6) == 0) {
				if (eq == NULL && a + 1 >= argc)
					goto needs_value;
				*config_path = eq ? eq + 1 : argv[++a];
				continue;
			}
			i = find_opt(cfg, name, len);
			if (i < 0) {
				bt_diag_set(diag, -1, "unknown option '--%.*s'",
				    (int)len, name);
				return -EINVAL;
			}
			val = eq ? eq + 1 : NULL;
		} else {
			i = find_short(cfg, s[1]);
			if (i < 0) {
				bt_diag_set(diag, -1, "unknown option '-%c'",
				    s[1]);
				return -EINVAL;
			}
			val = s[2] != '\0' ? s + 2 : NULL;
		}
		if (val == NULL && cfg->opts[i].type == BT_OPT_FLAG)
			val = "1";
		if (val == NULL) {
			if (a + 1 >= argc)
				goto needs_value;
			val = argv[++a];
		}
		args[*nargs].opt = i;
		args[*nargs].val = val;
		(*nargs)++;
		continue;
needs_value:
		bt_diag_set(diag, -1, "option '%s' needs a value", s);
		return -EINVAL;
	}
	return 0;
}

int
bt_config_load(bt_config **out, const struct bt_opt *opts, size_t n,
    int argc, char **argv, unsigned flags, struct bt_diag *diag)
{
	const char *config_path = NULL;
	struct arg *args = NULL;
	bt_config *cfg;
	int nargs, rc = -ENOMEM;
	char where[64];

	bt_diag_clear(diag);
	cfg = bt_zalloc(sizeof(*cfg));
	if (cfg == NULL)
		return -ENOMEM;
	cfg->opts = opts;
	cfg->n = n;
	cfg->vals = bt_calloc(n ? n : 1, sizeof(*cfg->vals));
	cfg->pos = bt_calloc(argc > 0 ? (size_t)argc : 1, sizeof(*cfg->pos));
	args = bt_calloc(argc > 0 ? (size_t)argc : 1, sizeof(*args));
	if (cfg->vals == NULL || cfg->pos == NULL || args == NULL)
		goto err;

	rc = parse_args(cfg, argc, argv, args, &nargs,
	    (flags & BT_CONFIG_ARGS_ONLY) ? NULL : &config_path, diag);
	if (rc != 0)
		goto err;
	for (size_t i = 0; i < n; i++) {
		if (opts[i].def == NULL)
			continue;
		rc = set_text(cfg, (int)i, opts[i].def, BT_OPT_SRC_DEFAULT,
		    false, "default", diag);
		if (rc != 0)
			goto err;
	}
	if (!(flags & BT_CONFIG_ARGS_ONLY)) {
		if (config_path == NULL)
			config_path = getenv("BT_CONFIG");
		if (config_path != NULL)
			rc = apply_file(cfg, config_path, true, diag);
		else
			rc = apply_file(cfg, "bt.json", false, diag);
		if (rc != 0)
			goto err;
		rc = apply_env(cfg, diag);
		if (rc != 0)
			goto err;
	}
	for (int k = 0; k < nargs; k++) {
		snprintf(where, sizeof(where), "option --%.40s",
		    opts[args[k].opt].name);
		rc = set_text(cfg, args[k].opt, args[k].val, BT_OPT_SRC_ARG,
		    true, where, diag);
		if (rc != 0)
			goto err;
	}
	bt_free(args);
	*out = cfg;
	return 0;

err:
	bt_free(args);
	bt_config_free(cfg);
	return rc;
}

static const struct value *
lookup(const bt_config *cfg, const char *name)
{
	int i = find_opt(cfg, name, strlen(name));

	assert(i >= 0 && "option must be declared");
	return &cfg->vals[i];
}

const char *
bt_config_str(const bt_config *cfg, const char *name)
{
	return lookup(cfg, name)->str;
}

uint64_t
bt_config_u64(const bt_config *cfg, const char *name)
{
	return lookup(cfg, name)->u;
}

bool
bt_config_flag(const bt_config *cfg, const char *name)
{
	return lookup(cfg, name)->flag;
}

size_t
bt_config_list(const bt_config *cfg, const char *name,
    const char *const **items_out)
{
	const struct value *v = lookup(cfg, name);

	if (items_out != NULL)
		*items_out = (const char *const *)v->items;
	return v->nitems;
}

int
bt_config_source(const bt_config *cfg, const char *name)
{
	return lookup(cfg, name)->src;
}

bool
bt_config_help_wanted(const bt_config *cfg)
{
	return cfg->help;
}

int
bt_config_set(bt_config *cfg, const char *name, const char *value)
{
	int i = find_opt(cfg, name, strlen(name));

	assert(i >= 0 && "option must be declared");
	return set_text(cfg, i, value, BT_OPT_SRC_ARG, false, "set", NULL);
}

int
bt_config_npos(const bt_config *cfg)
{
	return cfg->npos;
}

const char *
bt_config_pos(const bt_config *cfg, int i)
{
	if (i < 0 || i >= cfg->npos)
		return NULL;
	return cfg->pos[i];
}

int
bt_config_usage(struct bt_dbuf *b, const struct bt_opt *opts, size_t n)
{
	static const char *const meta[] = {
		[BT_OPT_STR] = "=VALUE",
		[BT_OPT_U64] = "=N",
		[BT_OPT_SIZE] = "=SIZE",
		[BT_OPT_DURATION] = "=DURATION",
		[BT_OPT_FLAG] = "",
		[BT_OPT_LIST] = "=VALUE...",
	};
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		char lhs[96];

		if (opts[i].short_name)
			snprintf(lhs, sizeof(lhs), "-%c, --%s%s",
			    opts[i].short_name, opts[i].name,
			    meta[opts[i].type]);
		else
			snprintf(lhs, sizeof(lhs), "    --%s%s", opts[i].name,
			    meta[opts[i].type]);
		rc = bt_dbuf_printf(b, "  %-30s %s", lhs,
		    opts[i].help ? opts[i].help : "");
		if (rc == 0 && opts[i].def != NULL && opts[i].def[0] != '\0')
			rc = bt_dbuf_printf(b, " (default: %s)", opts[i].def);
		if (rc == 0)
			rc = bt_dbuf_putc(b, '\n');
	}
	return rc;
}
