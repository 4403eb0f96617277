;; path_open "a" with O_CREAT below the preopen (fd 3), fd_write, fd_seek,
;; fd_read, fd_readdir of the preopen, path_filestat_get, path_rename,
;; path_create_directory, path_unlink_file, path_remove_directory
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek"
    (func $seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir"
    (func $readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get"
    (func $stat (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename"
    (func $rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $mkdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file"
    (func $unlink (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_remove_directory"
    (func $rmdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close"
    (func $close (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "a")
  (data (i32.const 101) "b")
  (data (i32.const 102) "d")
  (data (i32.const 110) "../x")
  (data (i32.const 120) "data")
  (func (export "_start") (local $fd i32)
    (drop (call $open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 1)
      (i32.const 1) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 200)))
    (local.set $fd (i32.load (i32.const 200)))
    (i32.store (i32.const 0) (i32.const 120))
    (i32.store (i32.const 4) (i32.const 4))
    (drop (call $write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (call $seek (local.get $fd) (i64.const 0) (i32.const 0) (i32.const 16)))
    (drop (call $read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (call $close (local.get $fd)))
    (drop (call $readdir (i32.const 3) (i32.const 1024) (i32.const 256) (i64.const 0) (i32.const 24)))
    (drop (call $stat (i32.const 3) (i32.const 1) (i32.const 110) (i32.const 4) (i32.const 512)))
    (drop (call $rename (i32.const 3) (i32.const 100) (i32.const 1) (i32.const 3) (i32.const 101) (i32.const 1)))
    (drop (call $mkdir (i32.const 3) (i32.const 102) (i32.const 1)))
    (drop (call $unlink (i32.const 3) (i32.const 101) (i32.const 1)))
    (drop (call $rmdir (i32.const 3) (i32.const 102) (i32.const 1)))))
