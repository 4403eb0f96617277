/*
 * oci.c: the OCI image layout around our images (image/, used by build.c
 * and image.c): the oci-layout file, index.json (one manifest per tag,
 * named by org.opencontainers.image.ref.name), manifests, content-named
 * blobs, and the layout lock.
 *
 * index.json and manifests come from disk and may have been written by
 * anyone (skopeo, umoci, an attacker): every parser here takes bytes,
 * checks types, lengths and digests, and names what it refused in diag.
 * index.json is only ever replaced whole (bt_os_write_file_atomic), and
 * unknown members of it are kept as they were read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bt/crypto.h"
#include "bt/os.h"
#include "image_int.h"

#define MT_INDEX    "application/vnd.oci.image.index.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define REF_NAME    "org.opencontainers.image.ref.name"
#define CREATED	    "org.opencontainers.image.created"

void
bt__image_digest_str(char out[BT_IMAGE_DIGEST_STRLEN],
    const uint8_t d[BT__IMG_DIGEST_LEN])
{
	memcpy(out, "sha256:", 7);
	bt_hex_encode(out + 7, d, BT__IMG_DIGEST_LEN);
}

int
bt__image_digest_parse(uint8_t out[BT__IMG_DIGEST_LEN], const char *s,
    bool bare_ok)
{
	uint8_t d[BT__IMG_DIGEST_LEN];

	if (strncmp(s, "sha256:", 7) == 0)
		s += 7;
	else if (!bare_ok)
		return -EINVAL;
	if (strlen(s) != 64)
		return -EINVAL;
	for (int i = 0; i < 64; i++) {
		/* Only lowercase: one digest, one spelling (OCI's grammar). */
		if (!((s[i] >= '0' && s[i] <= '9') ||
			(s[i] >= 'a' && s[i] <= 'f')))
			return -EINVAL;
	}
	if (bt_hex_decode(d, sizeof(d), s, 64) != BT__IMG_DIGEST_LEN)
		return -EINVAL;
	memcpy(out, d, sizeof(d));
	return 0;
}

char *
bt__image_blob_path(const char *layout, const uint8_t d[BT__IMG_DIGEST_LEN])
{
	struct bt_dbuf b;
	char hex[65];

	bt_hex_encode(hex, d, BT__IMG_DIGEST_LEN);
	bt_dbuf_init(&b, 8192);
	if (bt_dbuf_printf(&b, "%s/blobs/sha256/%s", layout, hex) != 0) {
		bt_dbuf_fini(&b);
		return NULL;
	}
	return (char *)bt_dbuf_take(&b, NULL);
}

static char *
join(const char *a, const char *b)
{
	struct bt_dbuf d;

	bt_dbuf_init(&d, 8192);
	if (bt_dbuf_printf(&d, "%s/%s", a, b) != 0) {
		bt_dbuf_fini(&d);
		return NULL;
	}
	return (char *)bt_dbuf_take(&d, NULL);
}

/* ------------------------------------------------------- descriptors */

static int
desc_parse(struct bt__img_desc *out, json_t *j, const char *what,
    struct bt_diag *diag)
{
	json_t *mt, *dg, *sz;
	const char *s;

	if (!json_is_object(j)) {
		bt_diag_set(diag, -1, "%s: a descriptor is not an object",
		    what);
		return BT_ECORRUPT;
	}
	mt = json_object_get(j, "mediaType");
	dg = json_object_get(j, "digest");
	sz = json_object_get(j, "size");
	memset(out, 0, sizeof(*out));
	if (mt != NULL) {
		if (!json_is_string(mt) ||
		    json_string_length(mt) >= sizeof(out->media_type) ||
		    memchr(json_string_value(mt), 0, json_string_length(mt))) {
			bt_diag_set(diag, -1, "%s: mediaType is not a string "
			    "of at most 127 bytes", what);
			return BT_ECORRUPT;
		}
		memcpy(out->media_type, json_string_value(mt),
		    json_string_length(mt));
	}
	if (!json_is_string(dg)) {
		bt_diag_set(diag, -1, "%s: a descriptor has no digest", what);
		return BT_ECORRUPT;
	}
	s = json_string_value(dg);
	if (bt__image_digest_parse(out->digest, s, false) != 0) {
		bt_diag_set(diag, -1, "%s: digest '%.80s' is not sha256:"
		    "<64 lowercase hex digits>", what, s);
		return BT_ECORRUPT;
	}
	if (!json_is_integer(sz) || json_integer_value(sz) < 0) {
		bt_diag_set(diag, -1, "%s: descriptor %s has no valid size",
		    what, s);
		return BT_ECORRUPT;
	}
	out->size = (uint64_t)json_integer_value(sz);
	return 0;
}

static json_t *
desc_json(const struct bt__img_desc *d)
{
	char dg[BT_IMAGE_DIGEST_STRLEN];

	bt__image_digest_str(dg, d->digest);
	return json_pack("{s:s, s:s, s:I}", "mediaType", d->media_type,
	    "digest", dg, "size", (json_int_t)d->size);
}

static json_t *
json_parse(const void *p, size_t len, const char *what, struct bt_diag *diag)
{
	json_error_t err;
	json_t *j;

	if (len > BT__IMG_JSON_MAX) {
		bt_diag_set(diag, -1, "%s: larger than %zu bytes", what,
		    BT__IMG_JSON_MAX);
		return NULL;
	}
	j = json_loadb(p, len, JSON_REJECT_DUPLICATES, &err);
	if (j == NULL) {
		bt_diag_set(diag, err.position, "%s: not valid JSON: %s "
		    "(line %d)", what, err.text, err.line);
		return NULL;
	}
	if (!json_is_object(j)) {
		bt_diag_set(diag, 0, "%s: not a JSON object", what);
		json_decref(j);
		return NULL;
	}
	return j;
}

static int
schema2(json_t *root, const char *want_mt, const char *what,
    struct bt_diag *diag)
{
	json_t *v = json_object_get(root, "schemaVersion");
	json_t *mt = json_object_get(root, "mediaType");

	if (!json_is_integer(v) || json_integer_value(v) != 2) {
		bt_diag_set(diag, -1, "%s: schemaVersion is not 2", what);
		return BT_ECORRUPT;
	}
	if (mt != NULL && (!json_is_string(mt) ||
			      strcmp(json_string_value(mt), want_mt) != 0)) {
		bt_diag_set(diag, -1, "%s: mediaType is not %s", what,
		    want_mt);
		return BT_ECORRUPT;
	}
	return 0;
}

/* ---------------------------------------------------------- manifest */

void
bt__image_manifest_fini(struct bt__img_manifest *m)
{
	if (m == NULL)
		return;
	bt_free(m->layers);
	memset(m, 0, sizeof(*m));
}

int
bt__image_manifest_parse(struct bt__img_manifest *out, const void *p,
    size_t len, struct bt_diag *diag)
{
	struct bt__img_manifest m = { 0 };
	json_t *root, *layers, *ann, *cr;
	int rc;

	root = json_parse(p, len, "manifest", diag);
	if (root == NULL)
		return BT_ECORRUPT;
	rc = schema2(root, MT_MANIFEST, "manifest", diag);
	if (rc != 0)
		goto out;
	rc = desc_parse(&m.config, json_object_get(root, "config"),
	    "manifest config", diag);
	if (rc != 0)
		goto out;
	layers = json_object_get(root, "layers");
	if (!json_is_array(layers)) {
		bt_diag_set(diag, -1, "manifest: layers is not an array");
		rc = BT_ECORRUPT;
		goto out;
	}
	m.n_layers = json_array_size(layers);
	m.layers = bt_calloc(m.n_layers ? m.n_layers : 1, sizeof(*m.layers));
	if (m.layers == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < m.n_layers; i++) {
		rc = desc_parse(&m.layers[i], json_array_get(layers, i),
		    "manifest layers", diag);
		if (rc != 0)
			goto out;
	}
	ann = json_object_get(root, "annotations");
	if (ann != NULL && !json_is_object(ann)) {
		bt_diag_set(diag, -1, "manifest: annotations is not an object");
		rc = BT_ECORRUPT;
		goto out;
	}
	cr = json_object_get(ann, CREATED);
	if (json_is_string(cr) && json_string_length(cr) < sizeof(m.created))
		memcpy(m.created, json_string_value(cr), json_string_length(cr));
	*out = m;
	m.layers = NULL;
	rc = 0;
out:
	bt__image_manifest_fini(&m);
	json_decref(root);
	return rc;
}

int
bt_image_manifest_check(const void *p, size_t len, struct bt_diag *diag)
{
	struct bt__img_manifest m = { 0 };
	int rc;

	rc = bt__image_manifest_parse(&m, p, len, diag);
	bt__image_manifest_fini(&m);
	return rc;
}

/* ------------------------------------------------------------- index */

void
bt__image_index_fini(struct bt__img_index *ix)
{
	if (ix == NULL)
		return;
	for (size_t i = 0; i < ix->n_tags; i++)
		bt_free(ix->tags[i].name);
	bt_free(ix->tags);
	json_decref(ix->root);
	memset(ix, 0, sizeof(*ix));
}

int
bt__image_index_parse(struct bt__img_index *out, const void *p, size_t len,
    struct bt_diag *diag)
{
	struct bt__img_index ix = { 0 };
	json_t *mans, *e, *ann, *ref;
	int rc;

	ix.root = json_parse(p, len, "index.json", diag);
	if (ix.root == NULL)
		return BT_ECORRUPT;
	rc = schema2(ix.root, MT_INDEX, "index.json", diag);
	if (rc != 0)
		goto err;
	mans = json_object_get(ix.root, "manifests");
	if (!json_is_array(mans)) {
		bt_diag_set(diag, -1, "index.json: manifests is not an array");
		rc = BT_ECORRUPT;
		goto err;
	}
	ix.tags = bt_calloc(json_array_size(mans) + 1, sizeof(*ix.tags));
	if (ix.tags == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	json_array_foreach(mans, ix.n_tags, e) {
		struct bt__img_tag *t = &ix.tags[ix.n_tags];

		rc = desc_parse(&t->desc, e, "index.json", diag);
		if (rc != 0)
			goto err;
		ann = json_object_get(e, "annotations");
		if (ann != NULL && !json_is_object(ann)) {
			bt_diag_set(diag, -1, "index.json: annotations of "
			    "manifest %zu is not an object", ix.n_tags);
			rc = BT_ECORRUPT;
			goto err;
		}
		ref = json_object_get(ann, REF_NAME);
		if (ref == NULL)
			continue;
		if (!json_is_string(ref) || json_string_length(ref) == 0 ||
		    json_string_length(ref) > 255 ||
		    memchr(json_string_value(ref), 0,
			json_string_length(ref))) {
			bt_diag_set(diag, -1, "index.json: the ref.name of "
			    "manifest %zu is not a string of 1 to 255 bytes",
			    ix.n_tags);
			rc = BT_ECORRUPT;
			goto err;
		}
		t->name = bt_strdup(json_string_value(ref));
		if (t->name == NULL) {
			rc = -ENOMEM;
			goto err;
		}
	}
	*out = ix;
	return 0;
err:
	bt__image_index_fini(&ix);
	return rc;
}

int
bt_image_index_check(const void *p, size_t len, struct bt_diag *diag)
{
	struct bt__img_index ix;
	int rc;

	rc = bt__image_index_parse(&ix, p, len, diag);
	if (rc == 0)
		bt__image_index_fini(&ix);
	return rc;
}

int
bt__image_index_load(struct bt__img_index *out, const char *layout,
    struct bt_diag *diag)
{
	char *path;
	uint8_t *buf;
	size_t len;
	int rc;

	path = join(layout, "index.json");
	if (path == NULL)
		return -ENOMEM;
	rc = bt_os_read_file(path, BT__IMG_JSON_MAX, &buf, &len);
	if (rc != 0) {
		bt_diag_set(diag, -1, "%s: %s", path, bt_strerror(rc));
		bt_free(path);
		return rc;
	}
	rc = bt__image_index_parse(out, buf, len, diag);
	if (rc != 0 && diag != NULL) {
		char msg[sizeof(diag->msg)];

		snprintf(msg, sizeof(msg), "%s", diag->msg);
		bt_diag_set(diag, diag->off, "%s (%s)", msg, path);
	}
	bt_free(buf);
	bt_free(path);
	return rc;
}

int
bt__image_index_find(const struct bt__img_index *ix, const char *tag)
{
	/* The last entry wins if a hostile index names a tag twice; ours
	 * never does (bt__image_index_set replaces). */
	for (size_t i = ix->n_tags; i-- > 0;) {
		if (ix->tags[i].name != NULL &&
		    strcmp(ix->tags[i].name, tag) == 0)
			return (int)i;
	}
	return -ENOENT;
}

int
bt__image_index_set(const char *layout, struct bt__img_index *ix,
    const char *tag, const struct bt__img_desc *desc, struct bt_diag *diag)
{
	json_t *mans, *e, *ref;
	char *path, *text;
	size_t i, n;
	int rc, found = 0;

	mans = json_object_get(ix->root, "manifests");
	for (i = json_array_size(mans); i-- > 0;) {
		e = json_array_get(mans, i);
		ref = json_object_get(json_object_get(e, "annotations"),
		    REF_NAME);
		if (json_is_string(ref) &&
		    strcmp(json_string_value(ref), tag) == 0) {
			json_array_remove(mans, i);
			found = 1;
		}
	}
	if (desc == NULL && !found)
		return -ENOENT;
	if (desc != NULL) {
		e = desc_json(desc);
		if (e == NULL ||
		    json_object_set_new(e, "annotations",
			json_pack("{s:s}", REF_NAME, tag)) != 0 ||
		    json_array_append_new(mans, e) != 0) {
			json_decref(e);
			return -ENOMEM;
		}
	}
	json_object_set_new(ix->root, "mediaType", json_string(MT_INDEX));
	n = json_dumpb(ix->root, NULL, 0, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	text = n > 0 ? bt_alloc(n) : NULL;
	path = join(layout, "index.json");
	if (text == NULL || path == NULL ||
	    json_dumpb(ix->root, text, n, JSON_INDENT(2) |
		JSON_PRESERVE_ORDER) != n) {
		bt_free(text);
		bt_free(path);
		return -ENOMEM;
	}
	rc = bt_os_write_file_atomic(path, text, n, 0644);
	if (rc != 0)
		bt_diag_set(diag, -1, "%s: cannot replace: %s", path,
		    bt_strerror(rc));
	bt_free(text);
	bt_free(path);
	return rc;
}

/* ------------------------------------------------------------ layout */

static const char layout_text[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
static const char empty_index[] =
    "{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"" MT_INDEX "\",\n"
    "  \"manifests\": []\n}";

int
bt__image_layout_init(const char *layout, struct bt_diag *diag)
{
	char *p1 = NULL, *p2 = NULL, *p3 = NULL;
	struct stat st;
	int rc;

	p1 = join(layout, "blobs/sha256");
	p2 = join(layout, "oci-layout");
	p3 = join(layout, "index.json");
	if (p1 == NULL || p2 == NULL || p3 == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = bt_os_mkdir_p(p1, 0755);
	if (rc != 0) {
		bt_diag_set(diag, -1, "%s: cannot make: %s", p1,
		    bt_strerror(rc));
		goto out;
	}
	if (stat(p2, &st) != 0) {
		rc = bt_os_write_file_atomic(p2, layout_text,
		    strlen(layout_text), 0644);
		if (rc != 0) {
			bt_diag_set(diag, -1, "%s: cannot write: %s", p2,
			    bt_strerror(rc));
			goto out;
		}
	}
	if (stat(p3, &st) != 0) {
		rc = bt_os_write_file_atomic(p3, empty_index,
		    strlen(empty_index), 0644);
		if (rc != 0) {
			bt_diag_set(diag, -1, "%s: cannot write: %s", p3,
			    bt_strerror(rc));
			goto out;
		}
	}
	rc = 0;
out:
	bt_free(p1);
	bt_free(p2);
	bt_free(p3);
	return rc;
}

int
bt__image_layout_lock(const char *layout, struct bt_diag *diag)
{
	char *path = join(layout, "oci-layout");
	int fd;

	if (path == NULL)
		return -ENOMEM;
	/* oci-layout is never replaced, so a lock on its inode holds for
	 * the layout's life (index.json is renamed over, so it cannot). */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		bt_diag_set(diag, -1, "%s: %s (not an OCI layout?)", path,
		    bt_strerror(fd));
		bt_free(path);
		return fd;
	}
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			int rc = -errno;

			close(fd);
			bt_free(path);
			return rc;
		}
	}
	bt_free(path);
	return fd;
}

/* ------------------------------------------------------------- blobs */

int
bt__image_blob_load(const char *layout, const struct bt__img_desc *desc,
    size_t max, uint8_t **out, struct bt_diag *diag)
{
	char dg[BT_IMAGE_DIGEST_STRLEN];
	uint8_t got[BT__IMG_DIGEST_LEN];
	uint8_t *buf = NULL;
	char *path;
	size_t len;
	int rc;

	bt__image_digest_str(dg, desc->digest);
	if (desc->size > max) {
		bt_diag_set(diag, -1, "blob %s: size %llu is over the limit "
		    "of %zu bytes", dg, (unsigned long long)desc->size, max);
		return BT_ECORRUPT;
	}
	path = bt__image_blob_path(layout, desc->digest);
	if (path == NULL)
		return -ENOMEM;
	rc = bt_os_read_file(path, max, &buf, &len);
	bt_free(path);
	if (rc != 0) {
		bt_diag_set(diag, -1, "blob %s: %s", dg,
		    rc == -ENOENT ? "missing" : bt_strerror(rc));
		return rc == -ENOENT ? -ENOENT : rc;
	}
	if (len != desc->size) {
		bt_diag_set(diag, -1, "blob %s is damaged: %zu bytes where "
		    "%llu were expected", dg, len,
		    (unsigned long long)desc->size);
		rc = BT_ECORRUPT;
		goto err;
	}
	rc = bt_sha256(buf, len, got);
	if (rc != 0)
		goto err;
	if (memcmp(got, desc->digest, sizeof(got)) != 0) {
		bt_diag_set(diag, -1, "blob %s is damaged: its content does "
		    "not match its digest", dg);
		rc = BT_ECORRUPT;
		goto err;
	}
	*out = buf;
	return 0;
err:
	bt_free(buf);
	return rc;
}

static char *
blob_dir_path(int dirfd, const char *name)
{
	struct bt_dbuf b;

	/* The os table takes paths; /proc/self/fd names the folder without
	 * the caller keeping its path around. */
	bt_dbuf_init(&b, 1024);
	if (bt_dbuf_printf(&b, "/proc/self/fd/%d/%s", dirfd, name) != 0) {
		bt_dbuf_fini(&b);
		return NULL;
	}
	return (char *)bt_dbuf_take(&b, NULL);
}

int
bt__image_blob_put_named(int dirfd, const void *p, size_t len,
    const uint8_t digest[BT__IMG_DIGEST_LEN])
{
	static _Atomic unsigned long seq;
	char hex[65], tmpname[128];
	char *tmp = NULL, *dst = NULL;
	int fd, rc;

	bt_hex_encode(hex, digest, BT__IMG_DIGEST_LEN);
	snprintf(tmpname, sizeof(tmpname), ".bt-tmp-%d-%lu", (int)getpid(),
	    ++seq);
	tmp = blob_dir_path(dirfd, tmpname);
	dst = blob_dir_path(dirfd, hex);
	if (tmp == NULL || dst == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	fd = bt_os_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	rc = bt_os_write_full(fd, p, len);
	bt_os_close(fd);
	if (rc == 0)
		rc = bt_os_rename(tmp, dst);
	if (rc != 0)
		bt_os_unlink(tmp);
out:
	bt_free(tmp);
	bt_free(dst);
	return rc;
}

int
bt__image_blob_put(int dirfd, const void *p, size_t len,
    uint8_t digest_out[BT__IMG_DIGEST_LEN])
{
	uint8_t d[BT__IMG_DIGEST_LEN];
	int rc;

	rc = bt_sha256(p, len, d);
	if (rc != 0)
		return rc;
	rc = bt__image_blob_put_named(dirfd, p, len, d);
	if (rc == 0)
		memcpy(digest_out, d, sizeof(d));
	return rc;
}

int
bt_image_ref_parse(const char *ref, char **layout_out, char **tag_out)
{
	const char *colon = strrchr(ref, ':');
	char *l, *t;
	size_t n;

	if (colon == NULL || colon == ref || colon[1] == '\0')
		return -EINVAL;
	n = strlen(colon + 1);
	if (n > 128)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = colon[1 + i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '.' || c == '_' ||
			c == '-'))
			return -EINVAL;
	}
	if (colon[1] == '.' || colon[1] == '-')
		return -EINVAL;
	l = bt_strndup(ref, (size_t)(colon - ref));
	t = bt_strdup(colon + 1);
	if (l == NULL || t == NULL) {
		bt_free(l);
		bt_free(t);
		return -ENOMEM;
	}
	*layout_out = l;
	*tag_out = t;
	return 0;
}
