;; The Wasm function of the worker's tests and load test: a trivial call, a call
;; that keeps state (to show that every request starts clean), a trap and a loop
;; that never ends (for the deadline).
(module
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 4096))
  (global $counter (mut i32) (i32.const 0))

  (func (export "hl_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $len)))
    (block $fits
      (br_if $fits (i32.le_u (global.get $bump) (i32.mul (memory.size) (i32.const 65536))))
      (drop (memory.grow (i32.add (i32.shr_u (local.get $len) (i32.const 16)) (i32.const 1)))))
    (local.get $p))

  (func (export "add") (param i64 i64) (result i64) (i64.add (local.get 0) (local.get 1)))
  (func (export "echo") (param i32 i32) (result i32 i32) (local.get 0) (local.get 1))
  (func (export "counter") (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (global.get $counter))
  (func (export "trap") (unreachable))
  ;; Counts down from n: a call that takes a while and then succeeds.
  (func (export "burn") (param $n i64) (result i64)
    (block $done
      (loop $more
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $more)))
    (local.get $n))
  (func (export "spin") (loop $forever (br $forever))))
