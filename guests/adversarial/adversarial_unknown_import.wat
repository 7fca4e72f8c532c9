;; Imports a host function that does not exist.
;; Expected: load -> link_error naming `env::launch_missiles`.
(module
  (import "env" "launch_missiles" (func $launch (param i32)))
  (func (export "run") (call $launch (i32.const 1))))
