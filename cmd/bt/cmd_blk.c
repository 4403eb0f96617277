/*
 * cmd/bt/cmd_blk.c: `bt blk init|serve|promote|status` (docs/blk.md).
 * Thin: parses options, opens the device, starts the NBD server and the
 * replicator, and answers a small control socket (DATA_DIR/ctl.sock) that
 * `promote` and `status` talk to.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bt/blk.h"
#include "bt/os.h"
#include "cmd.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char BLK_USAGE[]
    = "usage: bt blk <init|serve|promote|status> [options]\n"
      "\n"
      "  init     create an encrypted, authenticated device\n"
      "  serve    serve a device over NBD (primary) or as a backup\n"
      "  promote  turn a running backup into a primary\n"
      "  status   show role, write index, replicas and their lag\n"
      "\n"
      "example:\n"
      "  bt blk init --data disk.img --size 1G --key-file disk.key\n"
      "  bt blk serve --data disk.img --key-file disk.key "
      "--listen 127.0.0.1:0 --data-dir run\n";

/* ------------------------------------------------------------------ */
/* init                                                               */
/* ------------------------------------------------------------------ */

static const struct bt_opt init_opts[] = {
	{ "data", 0, BT_OPT_STR, NULL,
	    "data file to create (sectors, then "
	    "the journal; FILE.meta beside it)" },
	{ "size", 0, BT_OPT_SIZE, NULL,
	    "device size, a multiple of 4 KiB "
	    "(e.g. 1G)" },
	{ "key-file", 0, BT_OPT_STR, NULL,
	    "32-byte device key (mode 0600); "
	    "created if missing" },
	{ "backup", 0, BT_OPT_FLAG, "false",
	    "create it as a backup (refuses "
	    "client writes until promoted)" },
};

static const char INIT_USAGE[]
    = "usage: bt blk init --data FILE --size SIZE --key-file K [--backup]\n"
      "\n"
      "Creates FILE (SIZE bytes of sealed sectors, all \"never written\")\n"
      "and its metadata. K holds the 32-byte key (raw or 64 hex digits) and\n"
      "must not be readable by others; if K does not exist it is created\n"
      "with fresh random bytes and mode 0600.\n"
      "\n"
      "example:\n"
      "  bt blk init --data disk.img --size 1G --key-file disk.key\n";

static int
load_or_create_key(uint8_t key[BT_BLK_KEY_LEN], const char *path, bool create)
{
	struct bt_diag diag;
	int            rc;

	bt_diag_clear(&diag);
	rc = bt_blk_key_load(key, path, &diag);
	if (rc == -ENOENT && create) {
		rc = bt_blk_key_create(key, path);
		if (rc != 0)
			return bt_cmd_err("cannot create key file '%s': %s",
			    path, bt_strerror(rc));
		fprintf(stderr, "bt: created key file %s (mode 0600)\n", path);
		return 0;
	}
	if (rc != 0)
		return bt_cmd_err(
		    "%s", diag.msg[0] ? diag.msg : bt_strerror(rc));
	return 0;
}

static int
cmd_init(int argc, char **argv)
{
	bt_config     *cfg;
	struct bt_diag diag;
	uint8_t        key[BT_BLK_KEY_LEN];
	const char    *data, *kf;
	int            ex, rc;

	if (bt_cmd_parse(&cfg, INIT_USAGE, init_opts, ARRAY_LEN(init_opts),
	        argc, argv, 0, &ex)
	    != 0)
		return ex;
	data = bt_config_str(cfg, "data");
	kf = bt_config_str(cfg, "key-file");
	if (data == NULL || kf == NULL
	    || bt_config_source(cfg, "size") == BT_OPT_SRC_NONE) {
		bt_config_free(cfg);
		return bt_cmd_usage(INIT_USAGE,
		    "--data, --size and --key-file "
		    "are required");
	}
	ex = load_or_create_key(key, kf, true);
	if (ex != 0) {
		bt_config_free(cfg);
		return ex;
	}
	bt_diag_clear(&diag);
	rc = bt_blk_dev_create(data, bt_config_u64(cfg, "size"), key,
	    bt_config_flag(cfg, "backup") ? BT_BLK_ROLE_BACKUP
	                                  : BT_BLK_ROLE_PRIMARY,
	    &diag);
	bt_zeroize(key, sizeof(key));
	if (rc != 0) {
		ex = bt_cmd_err(
		    "%s", diag.msg[0] ? diag.msg : bt_strerror(rc));
	} else {
		printf("created %s (%llu bytes)\n", data,
		    (unsigned long long)bt_config_u64(cfg, "size"));
		ex = 0;
	}
	bt_config_free(cfg);
	return ex;
}

/* ------------------------------------------------------------------ */
/* serve                                                              */
/* ------------------------------------------------------------------ */

static const struct bt_opt serve_opts[] = {
	{ "data", 0, BT_OPT_STR, NULL, "data file made by `bt blk init`" },
	{ "key-file", 0, BT_OPT_STR, NULL, "the device key file" },
	{ "listen", 0, BT_OPT_STR, NULL,
	    "NBD address: HOST:PORT (port 0 = "
	    "any) or unix:PATH" },
	{ "data-dir", 0, BT_OPT_STR, NULL,
	    "run folder: nbd.addr, nbd.sock, "
	    "replica.addr, ctl.sock" },
	{ "replicas", 0, BT_OPT_LIST, NULL,
	    "backup replica addresses "
	    "(primary)" },
	{ "replica-ack", 0, BT_OPT_STR, "durable",
	    "what a backup's ACK of a flush means: durable (synced "
	    "there) or applied (verified and written, synced within "
	    "5 ms)" },
	{ "backup", 0, BT_OPT_FLAG, "false", "run as a backup" },
	{ "listen-replica", 0, BT_OPT_STR, "127.0.0.1:0",
	    "replica address "
	    "(backup)" },
	{ "export", 0, BT_OPT_STR, "blk", "NBD export name" },
	{ "workers", 0, BT_OPT_U64, "4",
	    "request threads per NBD connection" },
	{ "timeout", 0, BT_OPT_DURATION, "30s",
	    "replica connect/ack timeout" },
	{ "key", 0, BT_OPT_STR, NULL,
	    "replication TLS key file (default: "
	    "derived from the device key)" },
	{ "cred", 0, BT_OPT_STR, NULL,
	    "credential for --key; peers must share "
	    "its root" },
};

static const char SERVE_USAGE[]
    = "usage: bt blk serve --data FILE --key-file K --listen ADDR\n"
      "                    [--replicas ADDR,...] [--data-dir DIR]\n"
      "       bt blk serve --backup --data FILE --key-file K\n"
      "                    --listen-replica ADDR --data-dir DIR\n"
      "\n"
      "Serves the device over NBD (fixed newstyle; READ, WRITE+FUA, FLUSH,\n"
      "TRIM, WRITE_ZEROES). With --data-dir the NBD address is written to\n"
      "DIR/nbd.addr and a unix socket DIR/nbd.sock is served too; a backup\n"
      "writes its replica address to DIR/replica.addr. A FLUSH or FUA write\n"
      "is acknowledged only after every backup acknowledged it: with\n"
      "--replica-ack durable (the default) once it is durable there, with\n"
      "applied once it is verified and written there.\n"
      "\n"
      "example:\n"
      "  bt blk serve --backup --data b.img --key-file k "
      "--listen-replica 127.0.0.1:0 --data-dir b\n"
      "  bt blk serve --data a.img --key-file k --listen 127.0.0.1:0 \\\n"
      "      --replicas $(cat b/replica.addr) --data-dir a\n";

struct serve {
	bt_config      *cfg;
	bt_blk_dev     *dev;
	bt_blk_repl    *repl;
	bt_blk_nbd     *nbd[2];
	const char     *dir;
	pthread_mutex_t mu;
	int             ctl_fd;
	char            ctl_path[108];
};

static char *
dir_file(const char *dir, const char *name)
{
	struct bt_dbuf b;

	bt_dbuf_init(&b, 4096);
	if (bt_dbuf_printf(&b, "%s/%s", dir, name) != 0) {
		bt_dbuf_fini(&b);
		return NULL;
	}
	return (char *)bt_dbuf_take(&b, NULL);
}

static int
write_addr_file(const char *dir, const char *name, const char *addr)
{
	char          *path = dir_file(dir, name);
	struct bt_dbuf b;
	int            rc;

	if (path == NULL)
		return -ENOMEM;
	bt_dbuf_init(&b, 4096);
	rc = bt_dbuf_printf(&b, "%s\n", addr);
	if (rc == 0)
		rc = bt_os_write_file_atomic(path, b.ptr, b.len, 0644);
	bt_dbuf_fini(&b);
	bt_free(path);
	return rc;
}

/* start_nbd starts the NBD listeners: --listen, and DIR/nbd.sock. */
static int
start_nbd(struct serve *sv, const char *listen)
{
	struct bt_blk_nbd_config c = {
		.version = 1,
		.export_name = bt_config_str(sv->cfg, "export"),
		.workers = (unsigned)bt_config_u64(sv->cfg, "workers"),
	};
	struct bt_diag diag;
	int            rc;

	bt_diag_clear(&diag);
	if (listen != NULL && sv->nbd[0] == NULL) {
		c.listen = listen;
		rc = bt_blk_nbd_start(&sv->nbd[0], sv->dev, &c, &diag);
		if (rc != 0)
			return bt_cmd_err(
			    "%s", diag.msg[0] ? diag.msg : bt_strerror(rc));
		printf("nbd: listening on %s\n", bt_blk_nbd_addr(sv->nbd[0]));
		fflush(stdout);
	}
	if (sv->dir != NULL && sv->nbd[1] == NULL) {
		char          *sock = dir_file(sv->dir, "nbd.sock");
		struct bt_dbuf b;

		bt_dbuf_init(&b, 4096);
		if (sock == NULL || bt_dbuf_printf(&b, "unix:%s", sock) != 0) {
			bt_free(sock);
			bt_dbuf_fini(&b);
			return bt_cmd_err("out of memory");
		}
		bt_free(sock);
		c.listen = (const char *)b.ptr;
		rc = bt_blk_nbd_start(&sv->nbd[1], sv->dev, &c, &diag);
		bt_dbuf_fini(&b);
		if (rc != 0)
			return bt_cmd_err(
			    "%s", diag.msg[0] ? diag.msg : bt_strerror(rc));
		rc = write_addr_file(sv->dir, "nbd.addr",
		    bt_blk_nbd_addr(
		        sv->nbd[0] != NULL ? sv->nbd[0] : sv->nbd[1]));
		if (rc != 0)
			return bt_cmd_err("cannot write %s/nbd.addr: %s",
			    sv->dir, bt_strerror(rc));
	}
	return 0;
}

/* The control socket: one line in, text out. */
static void
ctl_handle(struct serve *sv, int fd)
{
	char           line[512];
	size_t         n = 0;
	struct bt_dbuf out;
	int            rc;

	while (n < sizeof(line) - 1) {
		ssize_t r = read(fd, line + n, 1);

		if (r <= 0 || line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	bt_dbuf_init(&out, 1 << 20);
	pthread_mutex_lock(&sv->mu);
	if (strcmp(line, "status") == 0) {
		if (sv->repl != NULL) {
			rc = bt_blk_repl_status(sv->repl, &out);
		} else {
			rc = bt_dbuf_printf(&out,
			    "role: %s\nballot: %llu\n"
			    "write index: %llu\nreplicas: none\n",
			    bt_blk_dev_role(sv->dev) == BT_BLK_ROLE_BACKUP
			        ? "backup"
			        : "primary",
			    (unsigned long long)bt_blk_dev_ballot(sv->dev),
			    (unsigned long long)bt_blk_dev_write_index(
			        sv->dev));
		}
		if (rc == 0 && sv->nbd[0] != NULL)
			rc = bt_dbuf_printf(
			    &out, "nbd: %s\n", bt_blk_nbd_addr(sv->nbd[0]));
		if (rc == 0 && sv->nbd[1] != NULL)
			rc = bt_dbuf_printf(
			    &out, "nbd: %s\n", bt_blk_nbd_addr(sv->nbd[1]));
		if (rc == 0)
			rc = bt_dbuf_printf(&out, "state: %s\n",
			    bt_blk_dev_state(sv->dev) == BT_BLK_STATE_OPEN
			        ? "ok"
			        : "ERROR (I/O failed; restart to recover)");
	} else if (strncmp(line, "promote", 7) == 0) {
		const char *listen = line[7] == ' ' ? line + 8 : NULL;

		if (bt_blk_dev_role(sv->dev) != BT_BLK_ROLE_BACKUP) {
			rc = bt_dbuf_printf(&out, "error: not a backup\n");
		} else {
			rc = sv->repl != NULL ? bt_blk_repl_promote(sv->repl)
			                      : -EINVAL;
			if (rc != 0) {
				rc = bt_dbuf_printf(
				    &out, "error: %s\n", bt_strerror(rc));
			} else {
				rc = start_nbd(sv,
				    listen != NULL && listen[0] ? listen
				                                : NULL);
				rc = bt_dbuf_printf(&out,
				    rc == 0
				        ? "promoted: primary, ballot %llu\n"
				        : "error: promoted, but NBD did not "
				          "start "
				          "(ballot %llu)\n",
				    (unsigned long long)bt_blk_dev_ballot(
				        sv->dev));
			}
		}
	} else {
		rc = bt_dbuf_printf(&out, "error: unknown command\n");
	}
	pthread_mutex_unlock(&sv->mu);
	if (rc == 0 && out.len > 0)
		(void)!write(fd, out.ptr, out.len);
	bt_dbuf_fini(&out);
}

static void *
ctl_main(void *arg)
{
	struct serve *sv = arg;

	for (;;) {
		int fd = accept4(sv->ctl_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		ctl_handle(sv, fd);
		close(fd);
	}
}

static int
ctl_open(const char *dir, char *path, size_t cap)
{
	struct sockaddr_un sun;
	int                fd;

	if ((size_t)snprintf(path, cap, "%s/ctl.sock", dir) >= cap
	    || strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0
	    || listen(fd, 8) != 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

static int
cmd_serve(int argc, char **argv)
{
	struct serve       sv;
	struct bt_diag     diag;
	uint8_t            key[BT_BLK_KEY_LEN];
	const char        *data, *kf, *listen, *ack;
	const char *const *reps = NULL;
	size_t             nreps;
	bool               backup, ack_applied;
	sigset_t           sigs;
	pthread_t          ctl_thread;
	bool               ctl_started = false;
	int                ex, rc, sig;

	memset(&sv, 0, sizeof(sv));
	sv.ctl_fd = -1;
	pthread_mutex_init(&sv.mu, NULL);
	if (bt_cmd_parse(&sv.cfg, SERVE_USAGE, serve_opts,
	        ARRAY_LEN(serve_opts), argc, argv, 0, &ex)
	    != 0)
		return ex;
	data = bt_config_str(sv.cfg, "data");
	kf = bt_config_str(sv.cfg, "key-file");
	listen = bt_config_str(sv.cfg, "listen");
	sv.dir = bt_config_str(sv.cfg, "data-dir");
	backup = bt_config_flag(sv.cfg, "backup");
	nreps = bt_config_list(sv.cfg, "replicas", &reps);
	if (data == NULL || kf == NULL) {
		ex = bt_cmd_usage(SERVE_USAGE,
		    "--data and --key-file are "
		    "required");
		goto out_cfg;
	}
	if (!backup && listen == NULL && sv.dir == NULL) {
		ex = bt_cmd_usage(SERVE_USAGE,
		    "a primary needs --listen or "
		    "--data-dir");
		goto out_cfg;
	}
	ack = bt_config_str(sv.cfg, "replica-ack");
	ack_applied = ack != NULL && strcmp(ack, "applied") == 0;
	if (ack != NULL && !ack_applied && strcmp(ack, "durable") != 0) {
		ex = bt_cmd_usage(SERVE_USAGE,
		    "--replica-ack is durable or applied");
		goto out_cfg;
	}
	if (backup && nreps > 0) {
		ex = bt_cmd_usage(SERVE_USAGE, "a backup takes no --replicas");
		goto out_cfg;
	}
	ex = load_or_create_key(key, kf, false);
	if (ex != 0)
		goto out_cfg;
	if (sv.dir != NULL) {
		rc = bt_os_mkdir_p(sv.dir, 0700);
		if (rc != 0) {
			ex = bt_cmd_err(
			    "cannot create '%s': %s", sv.dir, bt_strerror(rc));
			goto out_key;
		}
	}
	// Signals go to the main thread only (sigwait below).
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	bt_diag_clear(&diag);
	rc = bt_blk_dev_open(&sv.dev, data, key, &diag);
	if (rc != 0) {
		ex = bt_cmd_err(
		    "%s", diag.msg[0] ? diag.msg : bt_strerror(rc));
		goto out_key;
	}
	if (backup && bt_blk_dev_role(sv.dev) != BT_BLK_ROLE_BACKUP)
		bt_log_info("blk", "%s joins as a backup", data);
	if (!backup && bt_blk_dev_role(sv.dev) == BT_BLK_ROLE_BACKUP) {
		ex = bt_cmd_err("'%s' is a backup: serve it with --backup, or "
		                "promote it",
		    data);
		goto out_dev;
	}
	if (backup || nreps > 0) {
		struct bt_blk_repl_config rc_cfg = {
			.version = 1,
			.replicas = reps,
			.nreplicas = nreps,
			.listen = backup
			    ? bt_config_str(sv.cfg, "listen-replica")
			    : NULL,
			.timeout_ns = bt_config_u64(sv.cfg, "timeout"),
			.node_key_path = bt_config_str(sv.cfg, "key"),
			.node_cred_path = bt_config_str(sv.cfg, "cred"),
			.ack_applied = ack_applied,
		};

		memcpy(rc_cfg.key, key, sizeof(key));
		bt_diag_clear(&diag);
		rc = bt_blk_repl_start(&sv.repl, sv.dev, &rc_cfg, &diag);
		bt_zeroize(rc_cfg.key, sizeof(rc_cfg.key));
		if (rc != 0) {
			ex = bt_cmd_err(
			    "%s", diag.msg[0] ? diag.msg : bt_strerror(rc));
			goto out_dev;
		}
		if (backup) {
			printf("replica: listening on %s\n",
			    bt_blk_repl_addr(sv.repl));
			fflush(stdout);
			if (sv.dir != NULL) {
				rc = write_addr_file(sv.dir, "replica.addr",
				    bt_blk_repl_addr(sv.repl));
				if (rc != 0) {
					ex = bt_cmd_err("cannot write "
					                "replica.addr: %s",
					    bt_strerror(rc));
					goto out_repl;
				}
			}
		}
	}
	if (!backup) {
		ex = start_nbd(&sv, listen);
		if (ex != 0)
			goto out_nbd;
	}
	if (sv.dir != NULL) {
		sv.ctl_fd = ctl_open(sv.dir, sv.ctl_path, sizeof(sv.ctl_path));
		if (sv.ctl_fd < 0) {
			ex = bt_cmd_err("cannot open %s/ctl.sock: %s", sv.dir,
			    bt_strerror(sv.ctl_fd));
			goto out_nbd;
		}
		if (pthread_create(&ctl_thread, NULL, ctl_main, &sv) == 0)
			ctl_started = true;
	}
	do {
		sig = 0;
		rc = sigwait(&sigs, &sig);
	} while (rc == 0 && sig == SIGPIPE);
	bt_log_info("blk", "signal %d: shutting down", sig);
	ex = 0;
	if (ctl_started) {
		shutdown(sv.ctl_fd, SHUT_RDWR);
		pthread_join(ctl_thread, NULL);
	}
	if (sv.ctl_fd >= 0) {
		close(sv.ctl_fd);
		unlink(sv.ctl_path);
	}
out_nbd:
	bt_blk_nbd_stop(sv.nbd[0]);
	bt_blk_nbd_stop(sv.nbd[1]);
out_repl:
	bt_blk_repl_stop(sv.repl);
out_dev:
	bt_blk_dev_close(sv.dev);
out_key:
	bt_zeroize(key, sizeof(key));
out_cfg:
	bt_config_free(sv.cfg);
	pthread_mutex_destroy(&sv.mu);
	return ex;
}

/* ------------------------------------------------------------------ */
/* promote, status                                                    */
/* ------------------------------------------------------------------ */

static const struct bt_opt ctl_opts[] = {
	{ "data-dir", 0, BT_OPT_STR, NULL,
	    "run folder of the `bt blk serve`" },
	{ "listen", 0, BT_OPT_STR, NULL, "promote: also serve NBD here" },
};

static const char PROMOTE_USAGE[]
    = "usage: bt blk promote --data-dir DIR [--listen ADDR]\n"
      "\n"
      "Turns the backup running with --data-dir DIR into a primary serving\n"
      "NBD on DIR/nbd.sock (and ADDR). Its ballot rises above every ballot\n"
      "it has seen, so the old primary cannot come back unnoticed.\n"
      "\n"
      "example:\n"
      "  bt blk promote --data-dir b && nbdinfo \"nbd+unix:///blk?socket="
      "b/nbd.sock\"\n";

static const char STATUS_USAGE[]
    = "usage: bt blk status --data-dir DIR\n"
      "\n"
      "Shows the role, ballot, write index, and each replica with the index\n"
      "it acknowledged and its lag.\n"
      "\n"
      "example:\n"
      "  bt blk status --data-dir run\n";

static int
ctl_call(const char *dir, const char *line)
{
	struct sockaddr_un sun;
	char               path[512], buf[4096];
	int                fd;
	ssize_t            n;
	bool               err = false;

	if ((size_t)snprintf(path, sizeof(path), "%s/ctl.sock", dir)
	        >= sizeof(path)
	    || strlen(path) >= sizeof(sun.sun_path))
		return bt_cmd_err("path '%s/ctl.sock' is too long", dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		if (fd >= 0)
			close(fd);
		return bt_cmd_err("no `bt blk serve` answers at %s: %s", path,
		    strerror(errno));
	}
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		close(fd);
		return bt_cmd_err("cannot talk to %s", path);
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (strncmp(buf, "error:", 6) == 0)
			err = true;
		fwrite(buf, 1, (size_t)n, err ? stderr : stdout);
	}
	close(fd);
	return err ? BT_EXIT_FAIL : 0;
}

static int
cmd_promote(int argc, char **argv)
{
	bt_config     *cfg;
	struct bt_dbuf b;
	const char    *dir, *listen;
	int            ex;

	if (bt_cmd_parse(&cfg, PROMOTE_USAGE, ctl_opts, ARRAY_LEN(ctl_opts),
	        argc, argv, 0, &ex)
	    != 0)
		return ex;
	dir = bt_config_str(cfg, "data-dir");
	listen = bt_config_str(cfg, "listen");
	if (dir == NULL) {
		bt_config_free(cfg);
		return bt_cmd_usage(PROMOTE_USAGE, "--data-dir is required");
	}
	bt_dbuf_init(&b, 4096);
	if (bt_dbuf_printf(
	        &b, "promote%s%s\n", listen ? " " : "", listen ? listen : "")
	    != 0)
		ex = bt_cmd_err("out of memory");
	else
		ex = ctl_call(dir, (const char *)b.ptr);
	bt_dbuf_fini(&b);
	bt_config_free(cfg);
	return ex;
}

static int
cmd_status(int argc, char **argv)
{
	bt_config  *cfg;
	const char *dir;
	int         ex;

	if (bt_cmd_parse(&cfg, STATUS_USAGE, ctl_opts, 1, argc, argv, 0, &ex)
	    != 0)
		return ex;
	dir = bt_config_str(cfg, "data-dir");
	if (dir == NULL) {
		bt_config_free(cfg);
		return bt_cmd_usage(STATUS_USAGE, "--data-dir is required");
	}
	ex = ctl_call(dir, "status\n");
	bt_config_free(cfg);
	return ex;
}

int
bt_cmd_blk(int argc, char **argv)
{
	static const struct bt_cmd_sub subs[] = {
		{ "init", cmd_init },
		{ "serve", cmd_serve },
		{ "promote", cmd_promote },
		{ "status", cmd_status },
	};

	return bt_cmd_dispatch(subs, ARRAY_LEN(subs), BLK_USAGE, argc, argv);
}
