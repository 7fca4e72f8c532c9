;; Wrong: saturates instead of wrapping (computes in i64, then clamps).
;; Fails only the hidden overflow tests.
(module
  (func (export "solve") (param i32 i32) (result i32)
    (local i64)
    (local.set 2 (i64.add (i64.extend_i32_s (local.get 0)) (i64.extend_i32_s (local.get 1))))
    (if (i64.gt_s (local.get 2) (i64.const 2147483647))
      (then (local.set 2 (i64.const 2147483647))))
    (if (i64.lt_s (local.get 2) (i64.const -2147483648))
      (then (local.set 2 (i64.const -2147483648))))
    (i32.wrap_i64 (local.get 2))))
