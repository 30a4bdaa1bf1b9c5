;; Guest log records from a module: the built-in env.log import, and WASI stderr
;; lines (with WasmSandboxBuilder::stderr_to_log).
(module
  (import "env" "log" (func $log (param i32 i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "a record from wasm")
  (data (i32.const 32) "first line\nsecond line\nunfinished")
  ;; iovec at 96: (ptr 32, len 33)
  (data (i32.const 96) "\20\00\00\00\21\00\00\00")
  ;; env.log at `level`.
  (func (export "log") (param $level i32)
    (call $log (local.get $level) (i32.const 0) (i32.const 18)))
  ;; Three stderr pieces in one write: two lines and the start of a third.
  (func (export "stderr") (result i32)
    (call $fd_write (i32.const 2) (i32.const 96) (i32.const 1) (i32.const 112))))
