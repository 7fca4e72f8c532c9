;; Grows memory one page at a time forever, ignoring failures.
;; Expected: call "run" -> memory_limit.
(module
  (memory (export "memory") 1)
  (func (export "run")
    (loop $l
      (drop (memory.grow (i32.const 1)))
      (br $l))))
