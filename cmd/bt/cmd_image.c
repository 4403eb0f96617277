/*
 * cmd/bt/cmd_image.c: `bt image ...`, container images (docs/image.md).
 * Thin: parses options, calls image/ (and image/fuse for mount), prints.
 */
#include <errno.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bt/image.h"
#include "cmd.h"

extern char **environ;

static const char usage[] =
    "usage: bt image COMMAND [ARGS]\n"
    "\n"
    "Container images: content-defined chunks shared across tags, zstd,\n"
    "every read verified, in an OCI image layout (OCI_DIR).\n"
    "\n"
    "commands:\n"
    "  build ROOTFS OCI_DIR:TAG   store a tree as a tag; prints the digest\n"
    "  extract OCI_DIR:TAG DEST   recreate the tree under DEST\n"
    "  mount OCI_DIR:TAG MNT      serve it read-only with FUSE (foreground)\n"
    "  umount MNT                 unmount\n"
    "  ls OCI_DIR                 list tags\n"
    "  inspect OCI_DIR:TAG        entries, chunks, bytes, sharing\n"
    "  verify OCI_DIR:TAG         check every blob against its digest\n"
    "  rm OCI_DIR:TAG             remove a tag (blobs stay until gc)\n"
    "  gc OCI_DIR                 remove blobs no tag needs\n"
    "\n"
    "example:\n"
    "  bt image build ./rootfs ./images:v1\n"
    "  bt image mount --digest sha256:... ./images:v1 /mnt/v1\n";

static int
ref_or_fail(const char *ref, char **layout, char **tag)
{
	if (bt_image_ref_parse(ref, layout, tag) != 0) {
		bt_cmd_err("'%s' is not OCI_DIR:TAG (a tag is letters, digits, "
			   "'.', '_' and '-')", ref);
		return -1;
	}
	return 0;
}

static void
human(char *out, size_t n, uint64_t v)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	int i = 0;

	while (d >= 1024 && i < 4) {
		d /= 1024;
		i++;
	}
	snprintf(out, n, i == 0 ? "%.0f %s" : "%.1f %s", d, u[i]);
}

/* ------------------------------------------------------------- build */

static void
progress(void *arg, const struct bt_image_progress *p)
{
	char a[32], b[32];

	(void)arg;
	human(a, sizeof(a), p->bytes);
	human(b, sizeof(b), p->dedup_bytes);
	fprintf(stderr, "\rbt: %" PRIu64 " files, %s read, %s deduplicated   ",
	    p->files, a, b);
	fflush(stderr);
}

static const char build_usage[] =
    "usage: bt image build ROOTFS OCI_DIR:TAG [--base TAG]\n"
    "                      [--compress-level N | --no-compress]\n"
    "\n"
    "Stores the tree ROOTFS as TAG in the OCI layout OCI_DIR (made if\n"
    "missing; an existing TAG is replaced). File data is cut into\n"
    "content-defined chunks; a chunk any tag of OCI_DIR already has is not\n"
    "stored again. Prints the manifest digest last: give it to mount,\n"
    "extract and verify as --digest to pin exactly this image.\n"
    "\n"
    "example:\n"
    "  bt image build ./rootfs ./images:v2 --base v1\n";

static const struct bt_opt build_opts[] = {
	{ "base", 'b', BT_OPT_STR, NULL,
	    "tag whose unchanged files (same path, size, mtime) are not "
	    "reread" },
	{ "compress-level", 'l', BT_OPT_U64, "3", "zstd level, 1..19" },
	{ "no-compress", 0, BT_OPT_FLAG, NULL, "store chunks uncompressed" },
	{ "threads", 'j', BT_OPT_U64, "2",
	    "threads that hash and compress" },
};

static int
cmd_build(int argc, char **argv)
{
	struct bt_image_build_opts o = { .version = 1 };
	struct bt_image_build_result r;
	struct bt_diag diag;
	char *layout = NULL, *tag = NULL;
	char a[32], b[32], c[32];
	bt_config *cfg;
	int ex, rc;

	if (bt_cmd_parse(&cfg, build_usage, build_opts, 4, argc, argv,
		BT_CONFIG_ARGS_ONLY, &ex) != 0)
		return ex;
	if (bt_config_npos(cfg) != 2) {
		bt_config_free(cfg);
		return bt_cmd_usage(build_usage, "build needs ROOTFS and "
						 "OCI_DIR:TAG");
	}
	if (ref_or_fail(bt_config_pos(cfg, 1), &layout, &tag) != 0) {
		bt_config_free(cfg);
		return BT_EXIT_USAGE;
	}
	o.compress_level = bt_config_flag(cfg, "no-compress") ? 0 :
	    (int)bt_config_u64(cfg, "compress-level");
	if (!bt_config_flag(cfg, "no-compress") &&
	    (bt_config_u64(cfg, "compress-level") < 1 ||
		bt_config_u64(cfg, "compress-level") > 19)) {
		bt_free(layout);
		bt_free(tag);
		bt_config_free(cfg);
		return bt_cmd_usage(build_usage, "--compress-level must be "
						 "1..19");
	}
	o.threads = (unsigned)bt_config_u64(cfg, "threads");
	if (o.threads == 0 || o.threads > 64)
		o.threads = 2;
	o.base_tag = bt_config_str(cfg, "base");
	if (isatty(2))
		o.progress = progress;
	bt_diag_clear(&diag);
	rc = bt_image_build(bt_config_pos(cfg, 0), layout, tag, &o, &r, &diag);
	if (o.progress != NULL)
		fputc('\n', stderr);
	if (rc != 0) {
		ex = bt_cmd_err("build of %s:%s failed: %s", layout, tag,
		    diag.msg[0] ? diag.msg : bt_strerror(rc));
	} else {
		human(a, sizeof(a), r.bytes);
		human(b, sizeof(b), r.new_bytes);
		human(c, sizeof(c), r.dedup_bytes);
		fprintf(stderr, "bt: %s:%s: %" PRIu64 " inodes, %" PRIu64
		    " files, %s in %" PRIu64 " chunks; stored %" PRIu64
		    " new chunks, %s; %s already stored",
		    layout, tag, r.inodes, r.files, a, r.chunks, r.new_chunks,
		    b, c);
		if (o.base_tag != NULL)
			fprintf(stderr, "; %" PRIu64 " files taken from %s "
			    "unread", r.reused_files, o.base_tag);
		fputc('\n', stderr);
		printf("%s\n", r.digest);
		ex = BT_EXIT_OK;
	}
	bt_free(layout);
	bt_free(tag);
	bt_config_free(cfg);
	return ex;
}

/* ---------------------------------------------- opening a tag to read */

static const struct bt_opt read_opts[] = {
	{ "digest", 'd', BT_OPT_STR, NULL,
	    "the manifest digest to accept (sha256:HEX), as build printed" },
	{ "cache-size", 0, BT_OPT_SIZE, "64M",
	    "memory for decompressed chunks" },
	{ "allow-other", 0, BT_OPT_FLAG, NULL,
	    "(mount) let other users read the mount" },
	{ "threads", 'j', BT_OPT_U64, "4", "(mount) FUSE worker threads" },
	{ "debug", 0, BT_OPT_FLAG, NULL, "(mount) trace FUSE requests" },
};

static int
open_ref(bt_config *cfg, const char *ref, bt_image **img)
{
	struct bt_image_open_opts o = { .version = 1 };
	struct bt_diag diag;
	char *layout, *tag;
	int rc;

	if (ref_or_fail(ref, &layout, &tag) != 0)
		return -2;
	o.digest = bt_config_str(cfg, "digest");
	o.cache_bytes = (size_t)bt_config_u64(cfg, "cache-size");
	bt_diag_clear(&diag);
	rc = bt_image_open(img, layout, tag, &o, &diag);
	if (rc != 0)
		bt_cmd_err("cannot open %s: %s", ref,
		    diag.msg[0] ? diag.msg : bt_strerror(rc));
	bt_free(layout);
	bt_free(tag);
	return rc != 0 ? -1 : 0;
}

static const char extract_usage[] =
    "usage: bt image extract OCI_DIR:TAG DEST [--digest sha256:HEX]\n"
    "\n"
    "Recreates the image under DEST (new or empty): contents (sparse files\n"
    "stay sparse), modes, owners (as root), mtimes to the nanosecond,\n"
    "symlinks, hard links, xattrs, devices and fifos. Every chunk is\n"
    "verified against its digest.\n"
    "\n"
    "example:\n"
    "  bt image extract ./images:v1 ./out\n";

static int
cmd_extract(int argc, char **argv)
{
	struct bt_diag diag;
	bt_image *img;
	bt_config *cfg;
	int ex, rc;

	if (bt_cmd_parse(&cfg, extract_usage, read_opts, 2, argc, argv,
		BT_CONFIG_ARGS_ONLY, &ex) != 0)
		return ex;
	if (bt_config_npos(cfg) != 2) {
		bt_config_free(cfg);
		return bt_cmd_usage(extract_usage, "extract needs OCI_DIR:TAG "
						   "and DEST");
	}
	ex = open_ref(cfg, bt_config_pos(cfg, 0), &img);
	if (ex != 0) {
		bt_config_free(cfg);
		return ex == -2 ? BT_EXIT_USAGE : BT_EXIT_FAIL;
	}
	bt_diag_clear(&diag);
	rc = bt_image_extract(img, bt_config_pos(cfg, 1), &diag);
	ex = rc == 0 ? BT_EXIT_OK : bt_cmd_err("extract failed: %s",
	    diag.msg[0] ? diag.msg : bt_strerror(rc));
	bt_image_close(img);
	bt_config_free(cfg);
	return ex;
}

static const char mount_usage[] =
    "usage: bt image mount OCI_DIR:TAG MOUNTPOINT [--digest sha256:HEX]\n"
    "                      [--cache-size 64M] [--allow-other]\n"
    "\n"
    "Serves the image read-only at MOUNTPOINT with FUSE and stays in the\n"
    "foreground until it is unmounted (bt image umount) or signalled.\n"
    "A damaged chunk gives EIO to the reader and an error naming the blob.\n"
    "\n"
    "example:\n"
    "  bt image mount ./images:v1 /mnt/v1 &\n"
    "  bt image umount /mnt/v1\n";

static int
cmd_mount(int argc, char **argv)
{
	struct bt_image_mount_opts mo = { .version = 1 };
	struct bt_diag diag;
	bt_image *img;
	bt_config *cfg;
	int ex, rc;

	if (bt_cmd_parse(&cfg, mount_usage, read_opts, 5, argc, argv,
		BT_CONFIG_ARGS_ONLY, &ex) != 0)
		return ex;
	if (bt_config_npos(cfg) != 2) {
		bt_config_free(cfg);
		return bt_cmd_usage(mount_usage, "mount needs OCI_DIR:TAG and "
						 "MOUNTPOINT");
	}
	ex = open_ref(cfg, bt_config_pos(cfg, 0), &img);
	if (ex != 0) {
		bt_config_free(cfg);
		return ex == -2 ? BT_EXIT_USAGE : BT_EXIT_FAIL;
	}
	mo.allow_other = bt_config_flag(cfg, "allow-other");
	mo.max_threads = (unsigned)bt_config_u64(cfg, "threads");
	mo.debug = bt_config_flag(cfg, "debug");
	bt_log_info("image", "mounting %s (%s) at %s", bt_config_pos(cfg, 0),
	    bt_image_digest(img), bt_config_pos(cfg, 1));
	bt_diag_clear(&diag);
	rc = bt_image_mount(img, bt_config_pos(cfg, 1), &mo, &diag);
	ex = rc == 0 ? BT_EXIT_OK : bt_cmd_err("mount failed: %s",
	    diag.msg[0] ? diag.msg : bt_strerror(rc));
	bt_image_close(img);
	bt_config_free(cfg);
	return ex;
}

static const char umount_usage[] =
    "usage: bt image umount MOUNTPOINT\n"
    "\n"
    "Unmounts an image mount (umount2 as root, fusermount3 -u otherwise);\n"
    "the `bt image mount` process then exits.\n"
    "\n"
    "example:\n"
    "  bt image umount /mnt/v1\n";

static int
cmd_umount(int argc, char **argv)
{
	char *args[4];
	bt_config *cfg;
	pid_t pid;
	int ex, st;

	if (bt_cmd_parse(&cfg, umount_usage, NULL, 0, argc, argv,
		BT_CONFIG_ARGS_ONLY, &ex) != 0)
		return ex;
	if (bt_config_npos(cfg) != 1) {
		bt_config_free(cfg);
		return bt_cmd_usage(umount_usage, "umount needs MOUNTPOINT");
	}
	if (geteuid() == 0) {
		ex = umount2(bt_config_pos(cfg, 0), 0) == 0 ? BT_EXIT_OK :
		    bt_cmd_err("cannot unmount %s: %s", bt_config_pos(cfg, 0),
			bt_strerror(-errno));
		bt_config_free(cfg);
		return ex;
	}
	args[0] = (char *)"fusermount3";
	args[1] = (char *)"-u";
	args[2] = (char *)bt_config_pos(cfg, 0);
	args[3] = NULL;
	if (posix_spawnp(&pid, "fusermount3", NULL, NULL, args, environ) != 0 ||
	    waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		ex = bt_cmd_err("fusermount3 -u %s failed",
		    bt_config_pos(cfg, 0));
	else
		ex = BT_EXIT_OK;
	bt_config_free(cfg);
	return ex;
}

/* ------------------------------------------------------ layout tools */

static const char ls_usage[] =
    "usage: bt image ls OCI_DIR\n"
    "\n"
    "Lists the tags of the layout: name, manifest digest, manifest size.\n"
    "\n"
    "example:\n"
    "  bt image ls ./images\n";

static int
ls_cb(void *arg, const struct bt_image_tag *t)
{
	(void)arg;
	printf("%-24s %s %8" PRIu64 "%s%s\n", t->name, t->digest,
	    t->manifest_size, t->created[0] ? "  " : "", t->created);
	return 0;
}

static int
cmd_ls(int argc, char **argv)
{
	struct bt_diag diag;
	bt_config *cfg;
	int ex, rc;

	if (bt_cmd_parse(&cfg, ls_usage, NULL, 0, argc, argv,
		BT_CONFIG_ARGS_ONLY, &ex) != 0)
		return ex;
	if (bt_config_npos(cfg) != 1) {
		bt_config_free(cfg);
		return bt_cmd_usage(ls_usage, "ls needs OCI_DIR");
	}
	bt_diag_clear(&diag);
	rc = bt_image_list(bt_config_pos(cfg, 0), ls_cb, NULL, &diag);
	ex = rc == 0 ? BT_EXIT_OK : bt_cmd_err("cannot list %s: %s",
	    bt_config_pos(cfg, 0), diag.msg[0] ? diag.msg : bt_strerror(rc));
	bt_config_free(cfg);
	return ex;
}

static const char inspect_usage[] =
    "usage: bt image inspect OCI_DIR:TAG\n"
    "\n"
    "Prints the image's entries, chunks, logical and stored bytes, and the\n"
    "stored bytes it shares with the layout's other tags.\n"
    "\n"
    "example:\n"
    "  bt image inspect ./images:v2\n";

static int
cmd_inspect(int argc, char **argv)
{
	struct bt_image_stats s;
	struct bt_diag diag;
	char *layout, *tag, a[32], b[32], c[32], d[32];
	bt_config *cfg;
	int ex, rc;

	if (bt_cmd_parse(&cfg, inspect_usage, NULL, 0, argc, argv,
		BT_CONFIG_ARGS_ONLY, &ex) != 0)
		return ex;
	if (bt_config_npos(cfg) != 1) {
		bt_config_free(cfg);
		return bt_cmd_usage(inspect_usage, "inspect needs OCI_DIR:TAG");
	}
	if (ref_or_fail(bt_config_pos(cfg, 0), &layout, &tag) != 0) {
		bt_config_free(cfg);
		return BT_EXIT_USAGE;
	}
	bt_diag_clear(&diag);
	rc = bt_image_inspect(layout, tag, &s, &diag);
	if (rc != 0) {
		ex = bt_cmd_err("cannot inspect %s: %s", bt_config_pos(cfg, 0),
		    diag.msg[0] ? diag.msg : bt_strerror(rc));
	} else {
		human(a, sizeof(a), s.logical_bytes);
		human(b, sizeof(b), s.stored_bytes);
		human(c, sizeof(c), s.shared_bytes);
		human(d, sizeof(d), s.meta_bytes);
		printf("entries:        %" PRIu64 " (%" PRIu64 " inodes: %"
		       PRIu64 " files, %" PRIu64 " folders, %" PRIu64
		       " symlinks, %" PRIu64 " other)\n",
		    s.entries, s.inodes, s.files, s.dirs, s.symlinks, s.others);
		printf("chunks:         %" PRIu64 " (%" PRIu64 " zstd)\n",
		    s.chunks, s.zstd_chunks);
		printf("logical bytes:  %" PRIu64 " (%s)\n", s.logical_bytes, a);
		printf("stored bytes:   %" PRIu64 " (%s; metadata %s)\n",
		    s.stored_bytes, b, d);
		printf("shared bytes:   %" PRIu64 " (%s with other tags)\n",
		    s.shared_bytes, c);
		ex = BT_EXIT_OK;
	}
	bt_free(layout);
	bt_free(tag);
	bt_config_free(cfg);
	return ex;
}

static const char verify_usage[] =
    "usage: bt image verify OCI_DIR:TAG [--digest sha256:HEX]\n"
    "\n"
    "Checks the manifest, the metadata (every record) and every chunk blob\n"
    "against its digest; names each damaged or missing blob. Exit 1 if\n"
    "anything is wrong.\n"
    "\n"
    "example:\n"
    "  bt image verify --digest sha256:... ./images:v1\n";

static void
bad_cb(void *arg, const char *what)
{
	(void)arg;
	fprintf(stderr, "bt: %s\n", what);
}

static int
cmd_verify(int argc, char **argv)
{
	struct bt_diag diag;
	uint64_t nbad = 0;
	bt_image *img;
	bt_config *cfg;
	int ex, rc;

	if (bt_cmd_parse(&cfg, verify_usage, read_opts, 2, argc, argv,
		BT_CONFIG_ARGS_ONLY, &ex) != 0)
		return ex;
	if (bt_config_npos(cfg) != 1) {
		bt_config_free(cfg);
		return bt_cmd_usage(verify_usage, "verify needs OCI_DIR:TAG");
	}
	ex = open_ref(cfg, bt_config_pos(cfg, 0), &img);
	if (ex != 0) {
		bt_config_free(cfg);
		return ex == -2 ? BT_EXIT_USAGE : BT_EXIT_FAIL;
	}
	bt_diag_clear(&diag);
	rc = bt_image_verify(img, bad_cb, NULL, &nbad, &diag);
	if (rc == 0) {
		printf("ok: %s %s\n", bt_config_pos(cfg, 0),
		    bt_image_digest(img));
		ex = BT_EXIT_OK;
	} else {
		ex = bt_cmd_err("%s is damaged: %s", bt_config_pos(cfg, 0),
		    diag.msg[0] ? diag.msg : bt_strerror(rc));
	}
	bt_image_close(img);
	bt_config_free(cfg);
	return ex;
}

static const char rm_usage[] =
    "usage: bt image rm OCI_DIR:TAG\n"
    "\n"
    "Removes TAG from the layout's index.json (replaced atomically). Its\n"
    "blobs stay until `bt image gc`.\n"
    "\n"
    "example:\n"
    "  bt image rm ./images:v1 && bt image gc ./images\n";

static int
cmd_rm(int argc, char **argv)
{
	struct bt_diag diag;
	char *layout, *tag;
	bt_config *cfg;
	int ex, rc;

	if (bt_cmd_parse(&cfg, rm_usage, NULL, 0, argc, argv,
		BT_CONFIG_ARGS_ONLY, &ex) != 0)
		return ex;
	if (bt_config_npos(cfg) != 1) {
		bt_config_free(cfg);
		return bt_cmd_usage(rm_usage, "rm needs OCI_DIR:TAG");
	}
	if (ref_or_fail(bt_config_pos(cfg, 0), &layout, &tag) != 0) {
		bt_config_free(cfg);
		return BT_EXIT_USAGE;
	}
	bt_diag_clear(&diag);
	rc = bt_image_rm(layout, tag, &diag);
	ex = rc == 0 ? BT_EXIT_OK : bt_cmd_err("cannot remove %s: %s",
	    bt_config_pos(cfg, 0), diag.msg[0] ? diag.msg : bt_strerror(rc));
	bt_free(layout);
	bt_free(tag);
	bt_config_free(cfg);
	return ex;
}

static const char gc_usage[] =
    "usage: bt image gc OCI_DIR\n"
    "\n"
    "Removes every blob that no tag of OCI_DIR needs, and temporary files\n"
    "a crashed build left. Refuses to run if a tag's manifest cannot be\n"
    "read (rather than guess what it needs).\n"
    "\n"
    "example:\n"
    "  bt image gc ./images\n";

static int
cmd_gc(int argc, char **argv)
{
	struct bt_image_gc_result r;
	struct bt_diag diag;
	bt_config *cfg;
	char a[32];
	int ex, rc;

	if (bt_cmd_parse(&cfg, gc_usage, NULL, 0, argc, argv,
		BT_CONFIG_ARGS_ONLY, &ex) != 0)
		return ex;
	if (bt_config_npos(cfg) != 1) {
		bt_config_free(cfg);
		return bt_cmd_usage(gc_usage, "gc needs OCI_DIR");
	}
	bt_diag_clear(&diag);
	rc = bt_image_gc(bt_config_pos(cfg, 0), &r, &diag);
	if (rc != 0) {
		ex = bt_cmd_err("gc of %s failed: %s", bt_config_pos(cfg, 0),
		    diag.msg[0] ? diag.msg : bt_strerror(rc));
	} else {
		human(a, sizeof(a), r.removed_bytes);
		printf("removed %" PRIu64 " blobs (%s), kept %" PRIu64 "\n",
		    r.removed, a, r.kept);
		ex = BT_EXIT_OK;
	}
	bt_config_free(cfg);
	return ex;
}

int
bt_cmd_image(int argc, char **argv)
{
	static const struct bt_cmd_sub subs[] = {
		{ "build", cmd_build },
		{ "extract", cmd_extract },
		{ "mount", cmd_mount },
		{ "umount", cmd_umount },
		{ "ls", cmd_ls },
		{ "inspect", cmd_inspect },
		{ "verify", cmd_verify },
		{ "rm", cmd_rm },
		{ "gc", cmd_gc },
	};

	return bt_cmd_dispatch(subs, sizeof(subs) / sizeof(subs[0]), usage,
	    argc, argv);
}
