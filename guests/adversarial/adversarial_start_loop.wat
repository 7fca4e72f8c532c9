;; An endless loop in the start function.
;; Expected: instantiate -> out_of_fuel.
(module
  (func $start (loop $l (br $l)))
  (start $start))
