;; Unbounded recursion with a large frame.
;; Expected: call "run" -> stack_overflow (fuel is ample for the test's limit).
(module
  (func $f (export "run") (param i64) (result i64)
    (local i64 i64 i64 i64 i64 i64 i64 i64)
    (i64.add (call $f (i64.add (local.get 0) (i64.const 1))) (i64.const 1))))
