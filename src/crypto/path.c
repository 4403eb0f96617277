/*
 * crypto/path.c: Blocktree paths, "/<root principal>/<component>/...".
 * The first component names whose domain a path is in, which is what makes
 * paths self-certifying: a credential chain for a path must start at the
 * key whose principal that component is (see cred.c).
 */
#include <errno.h>
#include <string.h>

#include "crypto_int.h"

static bool
comp_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	    || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

int
bt_path_check(const char *path, struct bt_diag *diag)
{
	struct bt_principal root;
	size_t              len, off, start, depth = 0;

	if (path == NULL) {
		bt_diag_set(diag, -1, "no path (NULL)");
		return -EINVAL;
	}
	len = strnlen(path, BT_PATH_MAX + 1);
	if (len > BT_PATH_MAX) {
		bt_diag_set(diag, BT_PATH_MAX, "path is longer than %d bytes",
		    BT_PATH_MAX);
		return -EINVAL;
	}
	if (len == 0 || path[0] != '/') {
		bt_diag_set(diag, 0, "path must start with '/'");
		return -EINVAL;
	}
	for (off = 1;;) {
		start = off;
		while (off < len && path[off] != '/') {
			if (!comp_char(path[off])) {
				bt_diag_set(diag, (int64_t)off,
				    "byte 0x%02x at offset %zu is not allowed "
				    "in a path component ([A-Za-z0-9._-])",
				    (unsigned char)path[off], off);
				return -EINVAL;
			}
			off++;
		}
		if (off == start) {
			bt_diag_set(diag, (int64_t)start,
			    "empty path component at offset %zu", start);
			return -EINVAL;
		}
		if (off - start > BT_PATH_COMPONENT_MAX) {
			bt_diag_set(diag, (int64_t)start,
			    "path component at offset %zu is longer than %d "
			    "bytes",
			    start, BT_PATH_COMPONENT_MAX);
			return -EINVAL;
		}
		if ((off - start == 1 && path[start] == '.')
		    || (off - start == 2 && path[start] == '.'
		        && path[start + 1] == '.')) {
			bt_diag_set(diag, (int64_t)start,
			    "path component at offset %zu is '.' or '..'",
			    start);
			return -EINVAL;
		}
		if (depth == 0
		    && bt_principal_from_strn(&root, path + start, off - start)
		        != 0) {
			bt_diag_set(diag, (int64_t)start,
			    "the first path component is not a principal "
			    "(43 characters of base64url)");
			return -EINVAL;
		}
		depth++;
		if (depth > BT_PATH_DEPTH_MAX) {
			bt_diag_set(diag, (int64_t)start,
			    "path has more than %d components",
			    BT_PATH_DEPTH_MAX);
			return -EINVAL;
		}
		if (off == len)
			break;
		off++; // past the '/'
	}
	return 0;
}

int
bt_path_root(const char *path, struct bt_principal *out)
{
	if (bt_path_check(path, NULL) != 0)
		return -EINVAL;
	return bt_principal_from_strn(out, path + 1, BT_PRINCIPAL_STR_LEN);
}

bool
bt_path_within(const char *child, const char *parent)
{
	size_t plen;

	// bt_path_check refuses NULL too.
	if (bt_path_check(child, NULL) != 0
	    || bt_path_check(parent, NULL) != 0)
		return false;
	plen = strlen(parent);
	// Valid paths have no empty components and no trailing '/', so a
	// byte prefix ending at a component boundary is a component prefix.
	return strncmp(child, parent, plen) == 0
	    && (child[plen] == '\0' || child[plen] == '/');
}
