;; An endless loop in an exported function.
;; Expected: call "run" -> out_of_fuel, fuel_used = the limit.
(module
  (func (export "run")
    (loop $l (br $l))))
