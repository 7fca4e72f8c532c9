;; A data segment placed past the end of a one-page memory.
;; Expected: instantiate -> trap:memory_out_of_bounds.
;; (A segment too big for the module-size ceiling is generated in the test.)
(module
  (memory (export "memory") 1)
  (data (i32.const 0xfffffff0) "giant"))
