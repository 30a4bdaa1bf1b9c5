;; Every value type across the boundary, and the string/bytes convention:
;; a bump allocator `hl_alloc`, strings in as (ptr, len), out as (ptr, len) or
;; one i64 = ptr << 32 | len.
(module
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 4096))
  (global $counter (mut i32) (i32.const 0))
  (data (i32.const 16) "\ff\fe not utf-8")

  (func (export "hl_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $len)))
    (block $fits
      (br_if $fits (i32.le_u (global.get $bump) (i32.mul (memory.size) (i32.const 65536))))
      (drop (memory.grow (i32.add (i32.shr_u (local.get $len) (i32.const 16)) (i32.const 1)))))
    (local.get $p))

  (func (export "nop"))
  (func (export "add_i32") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "add_i64") (param i64 i64) (result i64) (i64.add (local.get 0) (local.get 1)))
  (func (export "mul_f32") (param f32 f32) (result f32) (f32.mul (local.get 0) (local.get 1)))
  (func (export "mul_f64") (param f64 f64) (result f64) (f64.mul (local.get 0) (local.get 1)))
  (func (export "not") (param i32) (result i32) (i32.eqz (local.get 0)))
  (func (export "div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "mixed") (param i32 i64 f32 f64) (result f64)
    (f64.add
      (f64.add (f64.convert_i32_s (local.get 0)) (f64.convert_i64_s (local.get 1)))
      (f64.add (f64.promote_f32 (local.get 2)) (local.get 3))))

  ;; Strings and bytes.
  (func (export "echo") (param i32 i32) (result i32 i32) (local.get 0) (local.get 1))
  (func (export "echo_packed") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get 0)) (i64.const 32)) (i64.extend_i32_u (local.get 1))))
  (func (export "len") (param i32 i32) (result i32) (local.get 1))
  (func (export "concat") (param $a i32) (param $al i32) (param $b i32) (param $bl i32) (result i32 i32)
    (local $p i32)
    (local.set $p (call 0 (i32.add (local.get $al) (local.get $bl))))
    (memory.copy (local.get $p) (local.get $a) (local.get $al))
    (memory.copy (i32.add (local.get $p) (local.get $al)) (local.get $b) (local.get $bl))
    (local.get $p) (i32.add (local.get $al) (local.get $bl)))
  (func (export "reverse") (param $p i32) (param $n i32) (result i32 i32)
    (local $i i32) (local $j i32) (local $t i32)
    (local.set $j (i32.sub (i32.add (local.get $p) (local.get $n)) (i32.const 1)))
    (local.set $i (local.get $p))
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $i) (local.get $j)))
        (local.set $t (i32.load8_u (local.get $i)))
        (i32.store8 (local.get $i) (i32.load8_u (local.get $j)))
        (i32.store8 (local.get $j) (local.get $t))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $j (i32.sub (local.get $j) (i32.const 1)))
        (br $next)))
    (local.get $p) (local.get $n))
  (func (export "not_utf8") (result i32 i32) (i32.const 16) (i32.const 13))
  (func (export "outside") (result i32 i32) (i32.const 65500) (i32.const 100))

  ;; State, for snapshots: every call adds one.
  (func (export "counter") (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (global.get $counter))
  ;; Writes `pages` pages of memory (a request that touches a few pages).
  (func (export "touch") (param $pages i32) (result i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $pages)))
        (i32.store (i32.mul (local.get $i) (i32.const 4096)) (local.get $i))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $pages))
  (global (export "a_global") i32 (i32.const 7))
)
