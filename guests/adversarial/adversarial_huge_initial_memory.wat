;; Declares 1 GiB of initial memory (the engine ceiling), far above a 16 MiB limit.
;; Expected: instantiate -> memory_limit.
(module
  (memory (export "memory") 16384))
