;; Correct: copies stdin to stdout 16 bytes at a time until end of file.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; iovec at 0: buf = 64, len = 16 (read); iovec at 16: buf = 64, len = n (write).
  (data (i32.const 0) "\40\00\00\00\10\00\00\00")
  (data (i32.const 16) "\40\00\00\00\00\00\00\00")
  (func (export "_start")
    (block $eof
      (loop $l
        (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 32)))
        (br_if $eof (i32.eqz (i32.load (i32.const 32))))
        (i32.store (i32.const 20) (i32.load (i32.const 32)))
        (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 36)))
        (br $l)))
    (call $proc_exit (i32.const 0))))
