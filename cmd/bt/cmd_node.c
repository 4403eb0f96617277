/*
 * cmd/bt/cmd_node.c: `bt node`, the long-running node.
 *
 * On first start in an empty data folder it makes the node's identity: a
 * root key, a node key and a credential for /<root>/node issued by the root
 * to the node key (root.key, node.key, node.cred, all mode 0600). Later
 * starts reuse them and refuse damaged ones. It then runs a messaging node
 * (msg/) listening on the configured addresses, serving <path>/echo and the
 * topics under <path>/topics/, writes DATA_DIR/node.json, and runs until
 * SIGINT or SIGTERM.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "bt/crypto.h"
#include "bt/os.h"
#include "cmd.h"

#ifdef BT_HAVE_MSG
#include "bt/msg.h"
#endif

static const char usage[] =
    "usage: bt node [--data-dir DIR] [--config FILE] [--listen ADDR]...\n"
    "               [--route PREFIX=ADDR]...\n"
    "\n"
    "Run a node. The first start in an empty data folder makes a root key,\n"
    "a node key and a credential for /<root>/node; later starts reuse them.\n"
    "The node listens on 127.0.0.1:7400 and DATA_DIR/node.sock unless\n"
    "--listen is given (port 0 picks a free port; unix:PATH for a unix\n"
    "socket), serves <path>/echo and topics under <path>/topics/, writes\n"
    "DATA_DIR/node.json and runs until SIGINT or SIGTERM.\n"
    "\n"
    "example:\n"
    "  bt node --data-dir /tmp/n1 --listen 127.0.0.1:0\n";

static const struct bt_opt opts[] = {
	{ "data-dir", 'd', BT_OPT_STR, "./bt-data", "the node's data folder" },
	{ "listen", 'l', BT_OPT_LIST, NULL,
	    "address to listen on (host:port or unix:PATH; repeats; default "
	    "127.0.0.1:7400 and unix:DATA_DIR/node.sock)" },
	{ "route", 0, BT_OPT_LIST, NULL,
	    "PREFIX=ADDR: send messages for paths under PREFIX to ADDR "
	    "(repeats)" },
	{ "routes", 0, BT_OPT_LIST, NULL,
	    "the same as --route, under the name a JSON file uses" },
	{ "max-frame", 0, BT_OPT_SIZE, "1M", "largest frame accepted" },
	{ "handshake-timeout", 0, BT_OPT_DURATION, "10s",
	    "time allowed for TLS and hello" },
	{ "idle-timeout", 0, BT_OPT_DURATION, "60s",
	    "close a connection silent this long (0: never)" },
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* Ten years: the node's credential is renewed from the root key on expiry. */
#define NODE_CRED_LIFETIME_S (10LL * 365 * 24 * 3600)

struct identity {
	bt_key	*root;
	bt_key	*node;
	bt_cred *cred;
	char	 path[BT_PRINCIPAL_STR_LEN + 16];
};

static void
identity_fini(struct identity *id)
{
	bt_key_free(id->root);
	bt_key_free(id->node);
	bt_cred_free(id->cred);
	memset(id, 0, sizeof(*id));
}

static char *
join(const char *dir, const char *name)
{
	struct bt_dbuf b;
	char *s;

	bt_dbuf_init(&b, 8192);
	if (bt_dbuf_printf(&b, "%s/%s", dir, name) != 0) {
		bt_dbuf_fini(&b);
		return NULL;
	}
	s = (char *)bt_dbuf_take(&b, NULL);
	return s;
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int
issue_node_cred(struct identity *id)
{
	struct bt_principal np;
	int64_t now = bt_time_now_s();

	bt_key_principal(id->node, &np);
	/* A minute of slack for clocks a little behind ours. */
	return bt_cred_issue(&id->cred, id->root, NULL, &np, id->path,
	    now - 60, now + NODE_CRED_LIFETIME_S);
}

static int
save_cred(const bt_cred *c, const char *path)
{
	int rc;

	rc = bt_cred_save(c, path);
	if (rc != 0)
		return rc;
	/* The brief of the node keeps all three identity files private. */
	if (chmod(path, 0600) != 0)
		return -errno;
	return 0;
}

static void
set_path(struct identity *id)
{
	struct bt_principal rp;
	char s[BT_PRINCIPAL_STR_LEN + 1];

	bt_key_principal(id->root, &rp);
	bt_principal_to_str(&rp, s);
	snprintf(id->path, sizeof(id->path), "/%s/node", s);
}

/* identity_create makes and saves a new identity in dir. */
static int
identity_create(struct identity *id, const char *rk, const char *nk,
    const char *nc)
{
	int rc;

	rc = bt_key_generate(&id->root, BT_KEY_ED25519);
	if (rc == 0)
		rc = bt_key_generate(&id->node, BT_KEY_ED25519);
	if (rc != 0)
		return bt_cmd_err("cannot make keys: %s", bt_strerror(rc));
	set_path(id);
	rc = issue_node_cred(id);
	if (rc != 0)
		return bt_cmd_err("cannot issue the node credential: %s",
		    bt_strerror(rc));
	rc = bt_key_save(id->root, rk);
	if (rc != 0)
		return bt_cmd_err("cannot write '%s': %s", rk, bt_strerror(rc));
	rc = bt_key_save(id->node, nk);
	if (rc != 0)
		return bt_cmd_err("cannot write '%s': %s", nk, bt_strerror(rc));
	rc = save_cred(id->cred, nc);
	if (rc != 0)
		return bt_cmd_err("cannot write '%s': %s", nc, bt_strerror(rc));
	bt_log_info("node", "made a new identity in %s: root key, node key "
	    "and a credential for %s", rk, id->path);
	return 0;
}

/* identity_load reads an existing identity and checks that it holds. */
static int
identity_load(struct identity *id, const char *rk, const char *nk,
    const char *nc)
{
	struct bt_principal np, cp;
	struct bt_diag diag;
	int rc;

	bt_diag_clear(&diag);
	rc = bt_key_load(&id->root, rk, &diag);
	if (rc != 0)
		return bt_cmd_err("cannot load the root key '%s': %s", rk,
		    diag.msg[0] ? diag.msg : bt_strerror(rc));
	bt_diag_clear(&diag);
	rc = bt_key_load(&id->node, nk, &diag);
	if (rc != 0)
		return bt_cmd_err("cannot load the node key '%s': %s", nk,
		    diag.msg[0] ? diag.msg : bt_strerror(rc));
	bt_diag_clear(&diag);
	rc = bt_cred_load(&id->cred, nc, &diag);
	if (rc != 0)
		return bt_cmd_err("cannot load the node credential '%s': %s",
		    nc, diag.msg[0] ? diag.msg : bt_strerror(rc));
	set_path(id);
	bt_key_principal(id->node, &np);
	bt_cred_principal(id->cred, &cp);
	if (!bt_principal_equal(&np, &cp))
		return bt_cmd_err("the credential '%s' is not issued to the "
				  "node key '%s'", nc, nk);
	bt_diag_clear(&diag);
	rc = bt_cred_verify(id->cred, id->path, bt_time_now_s(), &diag);
	if (rc == BT_EEXPIRED) {
		/* The root key is here, so renew rather than refuse. */
		bt_cred_free(id->cred);
		id->cred = NULL;
		rc = issue_node_cred(id);
		if (rc == 0)
			rc = save_cred(id->cred, nc);
		if (rc != 0)
			return bt_cmd_err("cannot renew the expired credential "
					  "'%s': %s", nc, bt_strerror(rc));
		bt_log_info("node", "renewed the expired node credential");
		return 0;
	}
	if (rc != 0)
		return bt_cmd_err("the node credential '%s' does not hold for "
				  "%s: %s", nc, id->path,
		    diag.msg[0] ? diag.msg : bt_strerror(rc));
	bt_log_info("node", "reusing the identity in %s (%s)", nk, id->path);
	return 0;
}

static int
identity_open(struct identity *id, const char *dir)
{
	char *rk = join(dir, "root.key");
	char *nk = join(dir, "node.key");
	char *nc = join(dir, "node.cred");
	int n, rc;

	if (rk == NULL || nk == NULL || nc == NULL) {
		rc = bt_cmd_err("out of memory");
		goto out;
	}
	n = exists(rk) + exists(nk) + exists(nc);
	if (n == 0)
		rc = identity_create(id, rk, nk, nc);
	else if (n < 3)
		rc = bt_cmd_err("the data folder '%s' holds an incomplete "
				"identity (root.key, node.key and node.cred "
				"must all be there, or none)", dir);
	else
		rc = identity_load(id, rk, nk, nc);
out:
	bt_free(rk);
	bt_free(nk);
	bt_free(nc);
	return rc;
}

/* write_node_json writes DATA_DIR/node.json: path, principal, listen. */
static int
write_node_json(const char *dir, const struct identity *id,
    const char *const *listen, size_t nlisten)
{
	struct bt_principal np;
	char ps[BT_PRINCIPAL_STR_LEN + 1];
	json_t *o, *arr;
	char *text = NULL, *file = NULL;
	size_t len;
	int rc = -ENOMEM;

	bt_key_principal(id->node, &np);
	bt_principal_to_str(&np, ps);
	o = json_object();
	arr = json_array();
	if (o == NULL || arr == NULL)
		goto out;
	for (size_t i = 0; i < nlisten; i++)
		json_array_append_new(arr, json_string(listen[i]));
	json_object_set_new(o, "path", json_string(id->path));
	json_object_set_new(o, "principal", json_string(ps));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set(o, "listen", arr);
	/* Sized first, so the text lives in our allocator, not jansson's. */
	len = json_dumpb(o, NULL, 0, JSON_INDENT(2));
	text = len > 0 ? bt_alloc(len + 1) : NULL;
	file = join(dir, "node.json");
	if (text == NULL || file == NULL ||
	    json_dumpb(o, text, len, JSON_INDENT(2)) != len)
		goto out;
	text[len] = '\n';
	rc = bt_os_write_file_atomic(file, text, len + 1, 0644);
out:
	json_decref(arr);
	json_decref(o);
	bt_free(text);
	bt_free(file);
	return rc;
}

#ifdef BT_HAVE_MSG
/* The node's echo service: a call gets its own payload back. */
static void
echo_handler(void *arg, struct bt_msg *m)
{
	if (m->kind == BT_MSG_CALL)
		(void)bt_msg_reply(m, m->data, m->len);
}

static int
serve_echo(bt_msg_node *mn, const char *path)
{
	struct bt_dbuf b;
	bt_msg_ep *ep;
	int rc;

	bt_dbuf_init(&b, BT_PATH_MAX + 16);
	rc = bt_dbuf_printf(&b, "%s/echo", path);
	if (rc == 0)
		rc = bt_msg_bind(mn, (const char *)b.ptr, echo_handler, NULL,
		    BT_MSG_BIND_ANONYMOUS, &ep);
	if (rc == 0)
		bt_log_info("node", "serving %s (anonymous callers allowed) "
		    "and topics under %s/topics/", (const char *)b.ptr, path);
	bt_dbuf_fini(&b);
	return rc;
}

/* add_routes adds each PREFIX=ADDR of the list option name. */
static int
add_routes(bt_msg_node *mn, bt_config *cfg, const char *name)
{
	const char *const *routes;
	size_t n = bt_config_list(cfg, name, &routes);
	char *prefix;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(routes[i], '=');

		if (eq == NULL)
			return bt_cmd_err("--%s '%s' is not PREFIX=ADDR", name,
			    routes[i]);
		prefix = bt_strndup(routes[i], (size_t)(eq - routes[i]));
		rc = prefix ? bt_msg_route_add(mn, prefix, eq + 1) : -ENOMEM;
		bt_free(prefix);
		if (rc != 0)
			return bt_cmd_err("--%s '%s': %s", name, routes[i],
			    bt_strerror(rc));
		bt_log_info("node", "route %s", routes[i]);
	}
	return 0;
}

static int
run_messaging(const char *dir, const struct identity *id, bt_config *cfg,
    bt_msg_node **out, char ***addrs_out, size_t *naddrs_out)
{
	struct bt_msg_config mc = { .version = 1 };
	const char *const *listen;
	size_t nlisten;
	char **addrs = NULL;
	char *sock = NULL;
	const char *def[2];
	bt_msg_node *mn = NULL;
	struct bt_diag diag;
	int rc;

	mc.key = id->node;
	mc.cred = id->cred;
	mc.path = id->path;
	mc.max_frame = bt_config_u64(cfg, "max-frame");
	mc.handshake_timeout_ns = bt_config_u64(cfg, "handshake-timeout");
	mc.idle_timeout_ns = bt_config_u64(cfg, "idle-timeout");
	bt_diag_clear(&diag);
	rc = bt_msg_node_new(&mn, &mc, &diag);
	if (rc != 0)
		return bt_cmd_err("cannot start messaging: %s",
		    diag.msg[0] ? diag.msg : bt_strerror(rc));
	if ((rc = add_routes(mn, cfg, "route")) != 0 ||
	    (rc = add_routes(mn, cfg, "routes")) != 0)
		goto fail;
	nlisten = bt_config_list(cfg, "listen", &listen);
	if (nlisten == 0) {
		sock = join(dir, "node.sock");
		if (sock == NULL) {
			rc = bt_cmd_err("out of memory");
			goto fail;
		}
		def[0] = "127.0.0.1:7400";
		def[1] = sock;
		listen = def;
		nlisten = 2;
	}
	addrs = bt_zalloc(nlisten * sizeof(*addrs));
	if (addrs == NULL) {
		rc = bt_cmd_err("out of memory");
		goto fail;
	}
	for (size_t i = 0; i < nlisten; i++) {
		struct bt_dbuf a;
		const char *l = listen[i];

		bt_dbuf_init(&a, 8192);
		if (l == sock)
			bt_dbuf_printf(&a, "unix:%s", sock);
		else
			bt_dbuf_printf(&a, "%s", l);
		addrs[i] = bt_zalloc(512);
		bt_diag_clear(&diag);
		rc = addrs[i] == NULL || a.ptr == NULL ? -ENOMEM :
		    bt_msg_node_listen(mn, (const char *)a.ptr, addrs[i], 512,
			&diag);
		if (rc != 0) {
			rc = bt_cmd_err("cannot listen on '%s': %s",
			    a.ptr ? (const char *)a.ptr : "?",
			    diag.msg[0] ? diag.msg : bt_strerror(rc));
			bt_dbuf_fini(&a);
			*naddrs_out = nlisten;
			goto fail;
		}
		bt_log_info("node", "listening on %s", addrs[i]);
		bt_dbuf_fini(&a);
	}
	rc = serve_echo(mn, id->path);
	if (rc != 0) {
		rc = bt_cmd_err("cannot serve %s/echo: %s", id->path,
		    bt_strerror(rc));
		goto fail;
	}
	bt_free(sock);
	*out = mn;
	*addrs_out = addrs;
	*naddrs_out = nlisten;
	return 0;
fail:
	if (addrs != NULL)
		for (size_t i = 0; i < nlisten; i++)
			bt_free(addrs[i]);
	bt_free(addrs);
	bt_free(sock);
	bt_msg_node_free(mn);
	return rc;
}
#endif

int
bt_cmd_node(int argc, char **argv)
{
	struct identity id = { 0 };
	bt_config *cfg = NULL;
	const char *dir;
	sigset_t set;
	char **addrs = NULL;
	size_t naddrs = 0;
	int rc, ex, sig;
#ifdef BT_HAVE_MSG
	bt_msg_node *mn = NULL;
#endif

	if (bt_cmd_parse(&cfg, usage, opts, NOPTS, argc, argv, 0, &ex) != 0)
		return ex;
	if (bt_config_npos(cfg) != 0) {
		ex = bt_cmd_usage(usage, "unexpected argument '%s'",
		    bt_config_pos(cfg, 0));
		goto out;
	}
	/*
	 * Block the stop signals before any thread starts, so every thread
	 * inherits the mask and only sigwait below sees them.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	dir = bt_config_str(cfg, "data-dir");
	rc = bt_os_mkdir_p(dir, 0700);
	if (rc != 0) {
		ex = bt_cmd_err("cannot make the data folder '%s': %s", dir,
		    bt_strerror(rc));
		goto out;
	}
	ex = identity_open(&id, dir);
	if (ex != 0)
		goto out;
#ifdef BT_HAVE_MSG
	ex = run_messaging(dir, &id, cfg, &mn, &addrs, &naddrs);
	if (ex != 0) {
		addrs = NULL;
		naddrs = 0;
		goto out;
	}
#endif
	rc = write_node_json(dir, &id, (const char *const *)addrs, naddrs);
	if (rc != 0) {
		ex = bt_cmd_err("cannot write '%s/node.json': %s", dir,
		    bt_strerror(rc));
		goto out;
	}
	bt_log_info("node", "node %s running (data in %s)", id.path, dir);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGINT || sig == SIGTERM)
			break;
	}
	bt_log_info("node", "stopping on signal %d", sig);
	ex = BT_EXIT_OK;
out:
#ifdef BT_HAVE_MSG
	bt_msg_node_free(mn);
#endif
	for (size_t i = 0; i < naddrs; i++)
		bt_free(addrs[i]);
	bt_free(addrs);
	identity_fini(&id);
	bt_config_free(cfg);
	if (ex == BT_EXIT_OK)
		bt_log_info("node", "stopped");
	return ex;
}
