/*
 * wasi_int.h: what the WASI files of wasm/ share (not API).
 *
 *   wasi.c       the context, the fd table, argument/environment/clock/
 *                random/process functions, poll_oneoff and the table of
 *                every preview1 import
 *   wasi_fs.c    fd_* and path_* functions (files and folders)
 *   wasi_path.c  sandboxed path resolution beneath a preopened folder
 */
#ifndef BT_WASM_WASI_INT_H
#define BT_WASM_WASI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt/core.h"
#include "bt/wasm.h"
#include "bt/wasi.h"

/* WASI errno values, numbered as wasi_snapshot_preview1 numbers them. */
enum {
	WASI_ESUCCESS = 0,
	WASI_E2BIG = 1,
	WASI_EACCES = 2,
	WASI_EADDRINUSE = 3,
	WASI_EADDRNOTAVAIL = 4,
	WASI_EAFNOSUPPORT = 5,
	WASI_EAGAIN = 6,
	WASI_EALREADY = 7,
	WASI_EBADF = 8,
	WASI_EBADMSG = 9,
	WASI_EBUSY = 10,
	WASI_ECANCELED = 11,
	WASI_ECHILD = 12,
	WASI_ECONNABORTED = 13,
	WASI_ECONNREFUSED = 14,
	WASI_ECONNRESET = 15,
	WASI_EDEADLK = 16,
	WASI_EDESTADDRREQ = 17,
	WASI_EDOM = 18,
	WASI_EDQUOT = 19,
	WASI_EEXIST = 20,
	WASI_EFAULT = 21,
	WASI_EFBIG = 22,
	WASI_EHOSTUNREACH = 23,
	WASI_EIDRM = 24,
	WASI_EILSEQ = 25,
	WASI_EINPROGRESS = 26,
	WASI_EINTR = 27,
	WASI_EINVAL = 28,
	WASI_EIO = 29,
	WASI_EISCONN = 30,
	WASI_EISDIR = 31,
	WASI_ELOOP = 32,
	WASI_EMFILE = 33,
	WASI_EMLINK = 34,
	WASI_EMSGSIZE = 35,
	WASI_EMULTIHOP = 36,
	WASI_ENAMETOOLONG = 37,
	WASI_ENETDOWN = 38,
	WASI_ENETRESET = 39,
	WASI_ENETUNREACH = 40,
	WASI_ENFILE = 41,
	WASI_ENOBUFS = 42,
	WASI_ENODEV = 43,
	WASI_ENOENT = 44,
	WASI_ENOEXEC = 45,
	WASI_ENOLCK = 46,
	WASI_ENOLINK = 47,
	WASI_ENOMEM = 48,
	WASI_ENOMSG = 49,
	WASI_ENOPROTOOPT = 50,
	WASI_ENOSPC = 51,
	WASI_ENOSYS = 52,
	WASI_ENOTCONN = 53,
	WASI_ENOTDIR = 54,
	WASI_ENOTEMPTY = 55,
	WASI_ENOTRECOVERABLE = 56,
	WASI_ENOTSOCK = 57,
	WASI_ENOTSUP = 58,
	WASI_ENOTTY = 59,
	WASI_ENXIO = 60,
	WASI_EOVERFLOW = 61,
	WASI_EOWNERDEAD = 62,
	WASI_EPERM = 63,
	WASI_EPIPE = 64,
	WASI_EPROTO = 65,
	WASI_EPROTONOSUPPORT = 66,
	WASI_EPROTOTYPE = 67,
	WASI_ERANGE = 68,
	WASI_EROFS = 69,
	WASI_ESPIPE = 70,
	WASI_ESRCH = 71,
	WASI_ESTALE = 72,
	WASI_ETIMEDOUT = 73,
	WASI_ETXTBSY = 74,
	WASI_EXDEV = 75,
	WASI_ENOTCAPABLE = 76,
};

/* File types (filetype). */
enum {
	WASI_FT_UNKNOWN = 0,
	WASI_FT_BLOCK_DEVICE = 1,
	WASI_FT_CHARACTER_DEVICE = 2,
	WASI_FT_DIRECTORY = 3,
	WASI_FT_REGULAR_FILE = 4,
	WASI_FT_SOCKET_DGRAM = 5,
	WASI_FT_SOCKET_STREAM = 6,
	WASI_FT_SYMBOLIC_LINK = 7,
};

/* Rights (rights), one bit each. */
#define WASI_R_FD_DATASYNC             (1ull << 0)
#define WASI_R_FD_READ                 (1ull << 1)
#define WASI_R_FD_SEEK                 (1ull << 2)
#define WASI_R_FD_FDSTAT_SET_FLAGS     (1ull << 3)
#define WASI_R_FD_SYNC                 (1ull << 4)
#define WASI_R_FD_TELL                 (1ull << 5)
#define WASI_R_FD_WRITE                (1ull << 6)
#define WASI_R_FD_ADVISE               (1ull << 7)
#define WASI_R_FD_ALLOCATE             (1ull << 8)
#define WASI_R_PATH_CREATE_DIRECTORY   (1ull << 9)
#define WASI_R_PATH_CREATE_FILE        (1ull << 10)
#define WASI_R_PATH_LINK_SOURCE        (1ull << 11)
#define WASI_R_PATH_LINK_TARGET        (1ull << 12)
#define WASI_R_PATH_OPEN               (1ull << 13)
#define WASI_R_FD_READDIR              (1ull << 14)
#define WASI_R_PATH_READLINK           (1ull << 15)
#define WASI_R_PATH_RENAME_SOURCE      (1ull << 16)
#define WASI_R_PATH_RENAME_TARGET      (1ull << 17)
#define WASI_R_PATH_FILESTAT_GET       (1ull << 18)
#define WASI_R_PATH_FILESTAT_SET_SIZE  (1ull << 19)
#define WASI_R_PATH_FILESTAT_SET_TIMES (1ull << 20)
#define WASI_R_FD_FILESTAT_GET         (1ull << 21)
#define WASI_R_FD_FILESTAT_SET_SIZE    (1ull << 22)
#define WASI_R_FD_FILESTAT_SET_TIMES   (1ull << 23)
#define WASI_R_PATH_SYMLINK            (1ull << 24)
#define WASI_R_PATH_REMOVE_DIRECTORY   (1ull << 25)
#define WASI_R_PATH_UNLINK_FILE        (1ull << 26)
#define WASI_R_POLL_FD_READWRITE       (1ull << 27)
#define WASI_R_SOCK_SHUTDOWN           (1ull << 28)
#define WASI_R_SOCK_ACCEPT             (1ull << 29)
#define WASI_R_ALL                     ((1ull << 30) - 1)

/* What each kind of fd can do at most. */
#define WASI_RIGHTS_FILE                                                      \
	(WASI_R_FD_DATASYNC | WASI_R_FD_READ | WASI_R_FD_SEEK                 \
	    | WASI_R_FD_FDSTAT_SET_FLAGS | WASI_R_FD_SYNC | WASI_R_FD_TELL    \
	    | WASI_R_FD_WRITE | WASI_R_FD_ADVISE | WASI_R_FD_ALLOCATE         \
	    | WASI_R_FD_FILESTAT_GET | WASI_R_FD_FILESTAT_SET_SIZE            \
	    | WASI_R_FD_FILESTAT_SET_TIMES | WASI_R_POLL_FD_READWRITE)
#define WASI_RIGHTS_DIR                                                       \
	(WASI_R_FD_FDSTAT_SET_FLAGS | WASI_R_FD_SYNC | WASI_R_FD_DATASYNC     \
	    | WASI_R_PATH_CREATE_DIRECTORY | WASI_R_PATH_CREATE_FILE          \
	    | WASI_R_PATH_LINK_SOURCE | WASI_R_PATH_LINK_TARGET               \
	    | WASI_R_PATH_OPEN | WASI_R_FD_READDIR | WASI_R_PATH_READLINK     \
	    | WASI_R_PATH_RENAME_SOURCE | WASI_R_PATH_RENAME_TARGET           \
	    | WASI_R_PATH_FILESTAT_GET | WASI_R_PATH_FILESTAT_SET_SIZE        \
	    | WASI_R_PATH_FILESTAT_SET_TIMES | WASI_R_FD_FILESTAT_GET         \
	    | WASI_R_FD_FILESTAT_SET_TIMES | WASI_R_PATH_SYMLINK              \
	    | WASI_R_PATH_REMOVE_DIRECTORY | WASI_R_PATH_UNLINK_FILE)
/* A terminal or pipe: no seek/tell, so wasi-libc's isatty works. */
#define WASI_RIGHTS_STREAM                                                    \
	(WASI_R_FD_READ | WASI_R_FD_WRITE | WASI_R_FD_FDSTAT_SET_FLAGS        \
	    | WASI_R_FD_FILESTAT_GET | WASI_R_POLL_FD_READWRITE)

/* fdflags, oflags, lookupflags, fstflags, whence. */
#define WASI_FDFLAG_APPEND         0x1
#define WASI_FDFLAG_DSYNC          0x2
#define WASI_FDFLAG_NONBLOCK       0x4
#define WASI_FDFLAG_RSYNC          0x8
#define WASI_FDFLAG_SYNC           0x10
#define WASI_O_CREAT               0x1
#define WASI_O_DIRECTORY           0x2
#define WASI_O_EXCL                0x4
#define WASI_O_TRUNC               0x8
#define WASI_LOOKUP_SYMLINK_FOLLOW 0x1
#define WASI_FST_ATIM              0x1
#define WASI_FST_ATIM_NOW          0x2
#define WASI_FST_MTIM              0x4
#define WASI_FST_MTIM_NOW          0x8

/* One slot of the fd table. host < 0 means the slot is free. */
struct wasi_fd {
	int      host;
	uint8_t  type; /* WASI_FT_* */
	bool     borrowed; /* a stdio fd given by the embedder: never closed */
	bool     lazy; /* type and rights not looked up yet (stdio) */
	uint16_t fdflags; /* as last set (APPEND, NONBLOCK, ...) */
	uint64_t rights; /* rights_base */
	uint64_t inherit; /* rights_inheriting */
	char    *preopen; /* guest name if this is a preopen, else NULL */
};

struct bt_wasm_wasi {
	unsigned flags;
	/* arguments and environment, each as the NUL-separated strings the
	 * guest gets from args_get/environ_get, and their counts */
	uint8_t        *args;
	size_t          args_len;
	uint32_t        argc;
	uint8_t        *env;
	size_t          env_len;
	uint32_t        envc;
	struct wasi_fd *fds;
	uint32_t        nfds; /* slots allocated (grows up to max_fds) */
	uint32_t        max_fds;
};

/* Host errno (positive) or negative rc to a WASI errno; BT_EPATH (a path
 * leaving its folder) becomes ENOTCAPABLE. */
int bt__wasi_errno(int rc);

/* bt__wasi_fd_get returns the slot for guest fd, or NULL (EBADF). */
struct wasi_fd *bt__wasi_fd_get(bt_wasm_wasi *w, uint32_t fd);

/* bt__wasi_fd_alloc takes the lowest free slot >= 3 for host fd host and
 * writes its number: 0, or -EMFILE when the table is full, or -ENOMEM. */
int bt__wasi_fd_alloc(bt_wasm_wasi *w, int host, uint32_t *fd_out);

/* bt__wasi_filetype maps st_mode to a WASI_FT_* value. */
uint8_t bt__wasi_filetype(unsigned mode);

/*
 * Sandboxed path resolution (wasi_path.c). A guest path is always relative
 * to a folder fd (the "root" of that call). No resolution ever reaches a
 * file outside root: an absolute path, a ".." above root, or a symbolic
 * link whose target is absolute or climbs above root fails with BT_EPATH.
 * Symbolic links inside root are followed (at most WASI_MAX_SYMLINKS).
 * Magic links (procfs) are never followed.
 */
#define WASI_MAX_SYMLINKS 32
#define WASI_MAX_PATH     4096

/* Flags of bt__wasi_resolve / bt__wasi_open. */
#define WASI_RES_FOLLOW     0x1 /* follow a symbolic link as last component */
#define WASI_RES_NO_OPENAT2 0x2 /* force the component walk */

/*
 * struct wasi_rpath is a resolved path: a folder fd and the name of the
 * last component in it. name is never empty, never "..", and never holds
 * '/'; it is "." when the path names the folder itself. dirfd is owned
 * (close with bt__wasi_rpath_fini) unless it is root itself.
 */
struct wasi_rpath {
	int  dirfd;
	bool owned;
	bool must_dir; /* the path ended in '/' */
	char name[256];
};

/*
 * bt__wasi_resolve resolves path (len bytes, not NUL-terminated, from the
 * guest) beneath root to its parent folder and last name. With
 * WASI_RES_FOLLOW, a last component that is a symbolic link is followed
 * (within root), so name is never a link at the time of the call. Returns 0;
 * BT_EPATH for an escape; -ENOENT for an empty path or a missing folder on
 * the way; -ENOTDIR; -ELOOP; -ENAMETOOLONG; -EILSEQ for a NUL inside the
 * path; another negative errno.
 */
int  bt__wasi_resolve(int root, const char *path, size_t len, unsigned flags,
     struct wasi_rpath *out);
void bt__wasi_rpath_fini(struct wasi_rpath *rp);

/*
 * bt__wasi_open opens path beneath root with the host open flags oflags
 * (O_CLOEXEC is added) and mode. Without WASI_RES_FOLLOW a last component
 * that is a symbolic link fails with -ELOOP. Uses openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS when the kernel has it, else the
 * component walk. Returns the host fd, or an error as bt__wasi_resolve.
 */
int bt__wasi_open(int root, const char *path, size_t len, int oflags,
    unsigned mode, unsigned flags);

/* bt__wasi_have_openat2 says whether this kernel has openat2 (probed once). */
bool bt__wasi_have_openat2(void);

/* Host functions of wasi_fs.c, registered by wasi.c. */
int bt__wasi_fd_advise(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_allocate(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_close(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_datasync(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_fdstat_get(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_fdstat_set_flags(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_fdstat_set_rights(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_filestat_get(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_filestat_set_size(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_filestat_set_times(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_pread(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_prestat_get(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_prestat_dir_name(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_pwrite(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_read(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_readdir(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_renumber(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_seek(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_sync(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_tell(void *arg, struct bt_wasm_call *c);
int bt__wasi_fd_write(void *arg, struct bt_wasm_call *c);
int bt__wasi_path_create_directory(void *arg, struct bt_wasm_call *c);
int bt__wasi_path_filestat_get(void *arg, struct bt_wasm_call *c);
int bt__wasi_path_filestat_set_times(void *arg, struct bt_wasm_call *c);
int bt__wasi_path_link(void *arg, struct bt_wasm_call *c);
int bt__wasi_path_open(void *arg, struct bt_wasm_call *c);
int bt__wasi_path_readlink(void *arg, struct bt_wasm_call *c);
int bt__wasi_path_remove_directory(void *arg, struct bt_wasm_call *c);
int bt__wasi_path_rename(void *arg, struct bt_wasm_call *c);
int bt__wasi_path_symlink(void *arg, struct bt_wasm_call *c);
int bt__wasi_path_unlink_file(void *arg, struct bt_wasm_call *c);

/* bt__wasi_ctx finds the context of a call (arg, or the instance's user
 * pointer); NULL if there is none. */
bt_wasm_wasi *bt__wasi_ctx(void *arg, struct bt_wasm_call *c);

/* Argument and result helpers for host functions. */
static inline uint32_t
wasi_arg32(const struct bt_wasm_call *c, uint32_t i)
{
	return (uint32_t)c->args[i];
}
static inline uint64_t
wasi_arg64(const struct bt_wasm_call *c, uint32_t i)
{
	return c->args[i];
}
/* wasi_ret sets the errno result; host functions `return wasi_ret(c, e)`. */
static inline int
wasi_ret(struct bt_wasm_call *c, int wasi_errno)
{
	c->results[0] = (uint32_t)wasi_errno;
	return 0;
}

#endif /* BT_WASM_WASI_INT_H */
