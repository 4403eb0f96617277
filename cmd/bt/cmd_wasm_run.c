/*
 * cmd/bt/cmd_wasm_run.c: `bt wasm run FILE.wasm [options] [-- ARGS...]`, a
 * WASI command under the wasm/ engine. cmd_wasm.c dispatches here.
 *
 * Exit status (docs/wasi.md, "Exit status"): the program's own status
 * (proc_exit, or 0 when _start returns); 134 when it traps (fuel included),
 * the way a process that aborts ends; 124 when --timeout stops it, as
 * timeout(1) does; 1 when the module cannot be read, validated, linked or
 * instantiated; 2 for bad usage.
 *
 * --timeout runs a timer thread that raises the instance's interrupt flag
 * at the deadline, and signals the running thread (SIGALRM, handler
 * without SA_RESTART) so that a guest blocked in a host call (a read of
 * stdin, a sleep) gets EINTR and reaches its next interrupt check. It
 * repeats both every 50 ms until the run ends, so a signal that lands just
 * before a blocking call cannot be lost.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bt/wasi.h"
#include "bt/os.h"
#include "bt/wasm.h"
#include "cmd.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define EXIT_TRAP    134
#define EXIT_TIMEOUT 124

/* Largest module file read. */
#define MAX_MODULE_BYTES ((size_t)1 << 30)

int bt__cmd_wasm_run(int argc, char **argv);

static const char usage[]
    = "usage: bt wasm run FILE.wasm [--dir HOST[:GUEST]]... [--env K=V]...\n"
      "                   [--max-memory SIZE] [--timeout DUR] [--fuel N]\n"
      "                   [-- ARGS...]\n"
      "\n"
      "Run a WASI command module (its _start export) with the\n"
      "wasi_snapshot_preview1 interface. The program sees only the folders\n"
      "given with --dir (as GUEST, default the same path), the variables\n"
      "given with --env, and ARGS (its argv[0] is FILE.wasm). Exit status:\n"
      "the program's, 134 if it traps or runs out of fuel, 124 if --timeout\n"
      "stops it, 1 if the module cannot be loaded.\n"
      "\n"
      "example:\n"
      "  bt wasm run app.wasm --dir ./data:/data --env LANG=C -- -v input\n";

static const struct bt_opt opts[] = {
	{ "dir", 0, BT_OPT_LIST, NULL,
	    "give the program the folder HOST, as GUEST (repeatable)" },
	{ "env", 0, BT_OPT_LIST, NULL,
	    "set KEY=VALUE in the program's environment (repeatable)" },
	{ "max-memory", 0, BT_OPT_SIZE, NULL,
	    "most linear memory the program may grow to (default 4G)" },
	{ "timeout", 0, BT_OPT_DURATION, NULL,
	    "stop the program after this long (e.g. 10s)" },
	{ "fuel", 0, BT_OPT_U64, NULL,
	    "stop after this many calls and loop iterations" },
	{ "no-openat2", 0, BT_OPT_FLAG, NULL,
	    "resolve paths with the component walk even where the kernel "
	    "has openat2 (for tests)" },
};

/*
 * The --timeout timer.
 */
struct timer {
	pthread_mutex_t   mu;
	pthread_cond_t    cv;
	pthread_t         thread;
	pthread_t         runner;
	bt_wasm_instance *inst;
	uint64_t          deadline; /* bt_time_mono_ns */
	bool              done;
	bool              fired;
};

static void
on_alarm(int sig)
{
	(void)sig; /* only here to make blocking syscalls return EINTR */
}

static void *
timer_main(void *arg)
{
	struct timer   *t = arg;
	struct timespec ts;
	uint64_t        now, wake;

	pthread_mutex_lock(&t->mu);
	while (!t->done) {
		now = bt_time_mono_ns();
		if (now >= t->deadline) {
			t->fired = true;
			bt_wasm_instance_interrupt(t->inst);
			pthread_kill(t->runner, SIGALRM);
			wake = now + 50 * 1000000ull;
		} else {
			wake = t->deadline;
		}
		ts.tv_sec = (time_t)(wake / 1000000000u);
		ts.tv_nsec = (long)(wake % 1000000000u);
		pthread_cond_timedwait(&t->cv, &t->mu, &ts);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

static int
timer_start(struct timer *t, bt_wasm_instance *inst, uint64_t timeout_ns)
{
	struct sigaction   sa;
	pthread_condattr_t ca;
	int                rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: see the file comment */
	if (sigaction(SIGALRM, &sa, NULL) != 0)
		return -errno;
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	t->runner = pthread_self();
	t->inst = inst;
	t->deadline = bt_time_mono_ns() + timeout_ns;
	t->done = false;
	t->fired = false;
	rc = pthread_create(&t->thread, NULL, timer_main, t);
	if (rc != 0) {
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mu);
		return -rc;
	}
	return 0;
}

/* timer_stop ends the timer thread; returns whether it fired. */
static bool
timer_stop(struct timer *t)
{
	bool fired;

	pthread_mutex_lock(&t->mu);
	t->done = true;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	fired = t->fired;
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	return fired;
}

/* parse_dirs splits each "HOST[:GUEST]" at its first ':'. */
static int
parse_dirs(const char *const *items, size_t n,
    struct bt_wasm_wasi_preopen **out, char ***strs_out)
{
	struct bt_wasm_wasi_preopen *po;
	char                       **strs;
	const char                  *colon;

	po = bt_calloc(n ? n : 1, sizeof(*po));
	strs = bt_calloc(n ? n : 1, sizeof(*strs));
	if (po == NULL || strs == NULL) {
		bt_free(po);
		bt_free(strs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		colon = strchr(items[i], ':');
		strs[i] = bt_strndup(items[i],
		    colon ? (size_t)(colon - items[i]) : strlen(items[i]));
		if (strs[i] == NULL) {
			for (size_t j = 0; j < i; j++)
				bt_free(strs[j]);
			bt_free(strs);
			bt_free(po);
			return -ENOMEM;
		}
		po[i].host = strs[i];
		po[i].guest = colon ? colon + 1 : items[i];
	}
	*out = po;
	*strs_out = strs;
	return 0;
}

/* report_trap names the cause of a failed run on stderr; returns the exit
 * status. */
static int
report_trap(const char *path, bt_wasm_instance *inst, bool timed_out,
    uint64_t timeout_ns, uint64_t fuel)
{
	struct bt_wasm_trap trap;

	bt_wasm_instance_trap(inst, &trap);
	if (timed_out
	    && (trap.kind == BT_WASM_TRAP_INTERRUPTED
	        || trap.kind == BT_WASM_TRAP_DEADLINE)) {
		bt_cmd_err("%s timed out after %.3g s (--timeout)", path,
		    (double)timeout_ns / 1e9);
		return EXIT_TIMEOUT;
	}
	if (trap.kind == BT_WASM_TRAP_FUEL) {
		bt_cmd_err("%s ran out of fuel (--fuel %llu) in function %u "
		           "at offset 0x%x",
		    path, (unsigned long long)fuel, trap.func, trap.offset);
		return EXIT_TRAP;
	}
	bt_cmd_err("%s trapped: %s in function %u at offset 0x%x", path,
	    trap.msg[0] ? trap.msg : bt_wasm_trap_kind_name(trap.kind),
	    trap.func, trap.offset);
	return EXIT_TRAP;
}

int
bt__cmd_wasm_run(int argc, char **argv)
{
	struct bt_wasm_wasi_config   wc;
	struct bt_wasm_wasi_preopen *po = NULL;
	struct bt_wasm_limits        lim;
	struct bt_diag               diag;
	struct timer                 timer;
	const char *const *dirs, *const *envs;
	const char      **gargv = NULL;
	const char       *path;
	bt_wasm_instance *inst = NULL;
	bt_wasm_linker   *linker = NULL;
	bt_wasm_module   *mod = NULL;
	bt_wasm_wasi     *wasi = NULL;
	bt_config        *cfg;
	uint64_t          timeout_ns, fuel;
	uint8_t          *bytes = NULL;
	char            **dirstrs = NULL;
	size_t            len, ndirs = 0, nenv, npos;
	bool              timed_out = false;
	int               ex, rc, status;

	if (bt_cmd_parse(&cfg, usage, opts, N(opts), argc, argv,
	        BT_CONFIG_ARGS_ONLY, &ex)
	    != 0)
		return ex;
	if (bt_config_npos(cfg) < 1) {
		ex = bt_cmd_usage(usage, "expected FILE.wasm");
		goto out;
	}
	path = bt_config_pos(cfg, 0);
	npos = (size_t)bt_config_npos(cfg);
	ndirs = bt_config_list(cfg, "dir", &dirs);
	nenv = bt_config_list(cfg, "env", &envs);
	timeout_ns = bt_config_u64(cfg, "timeout");
	fuel = bt_config_u64(cfg, "fuel");
	for (size_t i = 0; i < nenv; i++) {
		if (strchr(envs[i], '=') == NULL || envs[i][0] == '=') {
			ex = bt_cmd_usage(
			    usage, "--env '%s' is not KEY=VALUE", envs[i]);
			goto out;
		}
	}
	if (bt_config_source(cfg, "fuel") != BT_OPT_SRC_NONE && fuel == 0) {
		ex = bt_cmd_usage(usage, "--fuel must be at least 1");
		goto out;
	}
	if (bt_config_source(cfg, "timeout") != BT_OPT_SRC_NONE
	    && timeout_ns == 0) {
		ex = bt_cmd_usage(usage, "--timeout must be more than 0");
		goto out;
	}
	memset(&lim, 0, sizeof(lim));
	lim.max_memory_bytes = bt_config_u64(cfg, "max-memory");
	if (bt_config_source(cfg, "max-memory") != BT_OPT_SRC_NONE
	    && lim.max_memory_bytes == 0) {
		ex = bt_cmd_usage(usage, "--max-memory must be more than 0");
		goto out;
	}
	lim.fuel = fuel;

	/* The guest's argv: the module path, then the other positionals. */
	gargv = bt_calloc(npos, sizeof(*gargv));
	if (gargv == NULL) {
		ex = bt_cmd_err("out of memory");
		goto out;
	}
	for (size_t i = 0; i < npos; i++)
		gargv[i] = bt_config_pos(cfg, (int)i);
	rc = parse_dirs(dirs, ndirs, &po, &dirstrs);
	if (rc != 0) {
		ex = bt_cmd_err("out of memory");
		goto out;
	}

	rc = bt_os_read_file(path, MAX_MODULE_BYTES, &bytes, &len);
	if (rc != 0) {
		ex = bt_cmd_err("cannot read '%s': %s", path, bt_strerror(rc));
		goto out;
	}
	bt_diag_clear(&diag);
	rc = bt_wasm_module_new(&mod, bytes, len, &diag);
	if (rc != 0) {
		if (diag.off >= 0)
			ex = bt_cmd_err("'%s' is not a valid module: %s at "
			                "byte offset %lld (0x%llx)",
			    path, diag.msg, (long long)diag.off,
			    (unsigned long long)diag.off);
		else
			ex = bt_cmd_err("'%s' is not a valid module: %s", path,
			    diag.msg[0] ? diag.msg : bt_strerror(rc));
		goto out;
	}

	memset(&wc, 0, sizeof(wc));
	wc.version = 1;
	if (bt_config_flag(cfg, "no-openat2"))
		wc.flags |= BT_WASM_WASI_NO_OPENAT2;
	wc.argc = npos;
	wc.argv = gargv;
	wc.envc = nenv;
	wc.env = envs;
	wc.npreopens = ndirs;
	wc.preopens = po;
	bt_diag_clear(&diag);
	rc = bt_wasm_wasi_new(&wasi, &wc, &diag);
	if (rc != 0) {
		ex = bt_cmd_err("cannot set up WASI: %s",
		    diag.msg[0] ? diag.msg : bt_strerror(rc));
		goto out;
	}
	rc = bt_wasm_linker_new(&linker);
	if (rc == 0)
		rc = bt_wasm_wasi_link(linker, wasi);
	if (rc != 0) {
		ex = bt_cmd_err("cannot link WASI: %s", bt_strerror(rc));
		goto out;
	}
	bt_diag_clear(&diag);
	rc = bt_wasm_instance_new(&inst, mod, linker, &lim, &diag);
	if (rc != 0) {
		ex = bt_cmd_err("cannot instantiate '%s': %s", path,
		    diag.msg[0] ? diag.msg : bt_strerror(rc));
		goto out;
	}
	bt_wasm_instance_set_user(inst, wasi);

	/* A guest writing to a closed pipe gets EPIPE, not our death. */
	signal(SIGPIPE, SIG_IGN);
	if (timeout_ns > 0) {
		rc = timer_start(&timer, inst, timeout_ns);
		if (rc != 0) {
			ex = bt_cmd_err("cannot start the timeout timer: %s",
			    bt_strerror(rc));
			goto out;
		}
	}
	rc = bt_wasm_wasi_start(inst, &status);
	if (timeout_ns > 0)
		timed_out = timer_stop(&timer);

	if (timed_out && rc != BT_ETRAP) {
		/* The guest ended on its own after the deadline, typically
		 * because a blocked call returned EINTR: still a timeout. */
		bt_cmd_err("%s timed out after %.3g s (--timeout)", path,
		    (double)timeout_ns / 1e9);
		ex = EXIT_TIMEOUT;
	} else if (rc == 0) {
		if (status < 0 || status > 255) {
			ex = bt_cmd_err("%s exited with status %d, outside "
			                "0..255",
			    path, status);
		} else {
			ex = status;
		}
	} else if (rc == BT_ETRAP) {
		ex = report_trap(path, inst, timed_out, timeout_ns, fuel);
	} else if (rc == -ENOENT || rc == -EINVAL) {
		ex = bt_cmd_err("'%s' has no _start function of type () -> () "
		                "(not a WASI command)",
		    path);
	} else {
		ex = bt_cmd_err(
		    "running '%s' failed: %s", path, bt_strerror(rc));
	}

out:
	bt_wasm_instance_free(inst);
	bt_wasm_linker_free(linker);
	bt_wasm_wasi_free(wasi);
	bt_wasm_module_free(mod);
	bt_free(bytes);
	if (dirstrs != NULL) {
		for (size_t i = 0; i < ndirs; i++)
			bt_free(dirstrs[i]);
	}
	bt_free(dirstrs);
	bt_free(po);
	bt_free(gargv);
	bt_config_free(cfg);
	return ex;
}
