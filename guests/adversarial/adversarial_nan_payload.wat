;; Returns arithmetic on a NaN with a payload: on x86 without canonicalisation
;; the payload would leak into the result bits.
;; Expected: call "run" -> f32 bits 0x7fc00000 (canonical NaN), every time.
(module
  (func (export "run") (result f32)
    (f32.add (f32.const nan:0x200001) (f32.const 1)))
  (func (export "run64") (result f64)
    (f64.mul (f64.const -nan:0x4000000000001) (f64.const 2))))
