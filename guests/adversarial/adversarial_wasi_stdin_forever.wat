;; Reads stdin forever, ignoring end of file.
;; Expected: call "_start" -> out_of_fuel, and the host never blocks.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; iovec at 0: buf = 64, len = 16; nread at 32.
  (data (i32.const 0) "\40\00\00\00\10\00\00\00")
  (func (export "_start")
    (loop $l
      (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 32)))
      (br $l))))
