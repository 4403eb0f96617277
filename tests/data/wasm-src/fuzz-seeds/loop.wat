;; an endless loop (fuel), a memory grower, and a trap
(module
  (memory (export "memory") 1)
  (func (export "spin") (loop $l (br $l)))
  (func (export "grow") (result i32) (memory.grow (i32.const 1000)))
  (func (export "div") (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0))))
