;; Wrong: adds b by counting one at a time; correct but far too slow for large
;; or negative b (out_of_fuel).
(module
  (func (export "solve") (param i32 i32) (result i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get 1)))
        (local.set 0 (i32.add (local.get 0) (i32.const 1)))
        (local.set 1 (i32.sub (local.get 1) (i32.const 1)))
        (br $l)))
    (local.get 0)))
