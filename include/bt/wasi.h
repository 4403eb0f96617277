/*
 * bt/wasi.h: WASI (wasi_snapshot_preview1) for the wasm/ engine, on top of the
 * host-function API of bt/wasm.h. A WASI context holds what one program
 * sees of the host: its arguments, environment, standard streams and a
 * bounded fd table whose first directory entries are the preopened folders
 * (`--dir HOST[:GUEST]`). Every path the guest names is resolved inside one
 * of those folders and can never leave it (docs/wasi.md, "Sandbox").
 *
 * This header is the WASI surface of wasm/ (the engine's is bt/wasm.h); the
 * implementation is src/wasm/wasi*.c in the same library, bt_wasm.
 * Anything not declared here is not API.
 */
#ifndef BT_WASI_H
#define BT_WASI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt/core.h"
#include "bt/wasm.h"

typedef struct bt_wasm_wasi bt_wasm_wasi;

/* The module name every WASI import uses. */
#define BT_WASM_WASI_MODULE "wasi_snapshot_preview1"

/* Default and largest size of the fd table (stdio + preopens + files). */
#define BT_WASM_WASI_FDS_DEFAULT 1024u
#define BT_WASM_WASI_FDS_MAX     65536u

/* One preopened folder: host path and the name the guest sees. */
struct bt_wasm_wasi_preopen {
	const char *host; /* a folder on the host */
	const char *guest; /* e.g. "/sandbox"; NULL means the same as host */
};

/* Flags of struct bt_wasm_wasi_config. */
enum {
	/* Use stdio_fds[] instead of the host's 0, 1 and 2. */
	BT_WASM_WASI_STDIO_FDS = 0x1,
	/* Never use openat2(2), even when the kernel has it: resolve every
	 * path with the component-by-component walk (for tests). */
	BT_WASM_WASI_NO_OPENAT2 = 0x2,
};

/*
 * struct bt_wasm_wasi_config describes a context. Everything is copied by
 * bt_wasm_wasi_new; nothing is retained. A zeroed struct (with version 1)
 * is a program with no arguments, no environment, no folders and the
 * host's standard streams.
 *   argv/argc     the program's arguments, argv[0] included
 *   env/envc      "KEY=VALUE" strings, given to the guest in this order
 *   preopens      folders, guest fds 3, 4, ... in this order
 *   stdio_fds     with BT_WASM_WASI_STDIO_FDS: the host fds behind guest
 *                 fds 0, 1 and 2, or -1 for none (the guest gets EBADF).
 *                 They are borrowed: never closed by the context, and they
 *                 must stay open as long as it lives.
 *   max_fds       bound of the fd table (0: BT_WASM_WASI_FDS_DEFAULT;
 *                 at most BT_WASM_WASI_FDS_MAX); past it path_open fails
 *                 with EMFILE.
 */
struct bt_wasm_wasi_config {
	int                                version; /* 1 */
	unsigned                           flags;
	size_t                             argc;
	const char *const                 *argv;
	size_t                             envc;
	const char *const                 *env;
	size_t                             npreopens;
	const struct bt_wasm_wasi_preopen *preopens;
	int                                stdio_fds[3];
	uint32_t                           max_fds;
};

/*
 * bt_wasm_wasi_new makes a context from cfg. Each preopen host folder is
 * opened now (the guest's view of it is this open folder, whatever later
 * happens to the host path). Returns 0 and *out; -EINVAL for a bad config
 * (version, a guest name that is empty, an env string without '=', too
 * many fds) with diag naming it; the negative errno of opening a preopen
 * (-ENOENT, -ENOTDIR, -EACCES) with diag naming the folder; -ENOMEM.
 * Does not block beyond opening the folders.
 */
BT_API int bt_wasm_wasi_new(bt_wasm_wasi **out,
    const struct bt_wasm_wasi_config *cfg, struct bt_diag *diag);

/* bt_wasm_wasi_free closes every fd the guest opened and frees w;
 * NULL-safe. No instance may be running with w. */
BT_API void bt_wasm_wasi_free(bt_wasm_wasi *w);

/*
 * bt_wasm_wasi_link defines every function of wasi_snapshot_preview1 in l:
 * the ones docs/wasi.md lists as supported, and the rest as functions that
 * return ENOSYS (52), so a module importing them still links. With w not
 * NULL every call uses w (retained: it must outlive every instance linked
 * through l); with w NULL each call uses the context set on the calling
 * instance with bt_wasm_instance_set_user (one linker for many runs), and
 * traps if there is none. Returns 0, -EEXIST if some name is already
 * defined in l, or -ENOMEM.
 */
BT_API int bt_wasm_wasi_link(bt_wasm_linker *l, bt_wasm_wasi *w);

/*
 * bt_wasm_wasi_start runs a WASI command: it calls the export "_start"
 * (no arguments, no results) of inst. Returns 0 and *status_out: the exit
 * status given to proc_exit, or 0 when _start returned. Otherwise returns
 * what bt_wasm_instance_call returned (BT_ETRAP: see
 * bt_wasm_instance_trap; -ENOENT if there is no _start of type () -> ()).
 */
BT_API int bt_wasm_wasi_start(bt_wasm_instance *inst, int *status_out);

#endif /* BT_WASI_H */
