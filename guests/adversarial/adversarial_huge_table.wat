;; Declares a table of 100,000 elements (the engine ceiling), above the default limit.
;; Expected: instantiate -> memory_limit.
(module
  (table 100000 funcref))
