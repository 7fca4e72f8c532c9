;; Wrong: computes (a*b + b*b) / b, which is a + b only when b divides cleanly
;; and is non-zero: traps with int_divide_by_zero when b = 0.
(module
  (func (export "solve") (param i32 i32) (result i32)
    (i32.div_s
      (i32.add (i32.mul (local.get 0) (local.get 1)) (i32.mul (local.get 1) (local.get 1)))
      (local.get 1))))
