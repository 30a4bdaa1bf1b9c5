//! An ordinary wasm32-wasip1 program (guests/wasm-programs/wasi-echo, Rust with std)
//! runs unchanged: args, environment, stdin, stdout, stderr, clock, random, exit codes.

mod common;

use std::sync::{Arc, Mutex};

use hyperlight_wasm::{Trap, WasmCallError, WasmSandbox, WasmSandboxBuilder};

fn echo(builder: WasmSandboxBuilder) -> WasmSandbox {
    common::require_kvm();
    let path = common::guest_file("wasi-echo.wasm");
    builder.build_from_file(&path).unwrap_or_else(|e| panic!("cannot build {}: {e:?}", path.display()))
}

fn random_line(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stdout);
    text.lines().find(|l| l.starts_with("random: ")).expect("a random line").to_string()
}

#[test]
fn a_command_reads_stdin_and_prints() {
    let mut sb = echo(WasmSandbox::builder().env("GREETING", "hi there"));
    assert!(sb.is_command());
    let out = sb.run_command(&["wasi-echo", "a", "b c"], b"one two two\nthree three three\n").expect("runs");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    assert_eq!(out.exit_code, 0, "{stdout}");
    assert!(stdout.starts_with("hello from wasm32-wasip1\n"), "{stdout}");
    assert!(stdout.contains(r#"argv: ["wasi-echo", "a", "b c"]"#), "{stdout}");
    assert!(stdout.contains("GREETING=hi there"), "{stdout}");
    assert!(stdout.contains("stdin: 2 lines, 6 words, 30 bytes"), "{stdout}");
    assert!(stdout.contains("top words: three=3 two=2 one=1"), "{stdout}");
    assert!(stdout.contains("clock: plausible"), "{stdout}");
    assert_eq!(out.stderr, b"done\n");
}

#[test]
fn exit_codes_and_panics() {
    let mut sb = echo(WasmSandbox::builder());
    let clean = sb.snapshot().expect("snapshot");
    let out = sb.run_command(&["wasi-echo", "exit", "7"], b"").expect("runs");
    assert_eq!(out.exit_code, 7);
    assert_eq!(out.stderr, b"exiting with 7\n");
    sb.restore(&clean).expect("restore");
    // A Rust panic on wasm32 aborts with `unreachable`; its message went to stderr.
    match sb.run_command(&["wasi-echo", "panic"], b"") {
        Err(WasmCallError::Trap { trap: Trap::Unreachable, export, .. }) => assert_eq!(export, "_start"),
        other => panic!("{other:?}"),
    }
    sb.restore(&clean).expect("restore");
    let out = sb.run_command(&["wasi-echo", "alloc", "8"], b"").expect("allocates");
    let sum: u64 = (0..8u64 << 20).map(|i| i % 251).sum();
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("allocated 8 MiB, checksum {sum}\n"));
}

#[test]
fn random_bytes_differ_per_sandbox_and_per_restore() {
    let mut sb = echo(WasmSandbox::builder());
    let clean = sb.snapshot().expect("snapshot");
    let first = random_line(&sb.run_command(&["wasi-echo"], b"").expect("runs").stdout);
    sb.restore(&clean).expect("restore");
    let second = random_line(&sb.run_command(&["wasi-echo"], b"").expect("runs").stdout);
    let mut twin = WasmSandbox::from_snapshot(&clean, clean.host_functions().clone()).expect("twin");
    let third = random_line(&twin.run_command(&["wasi-echo"], b"").expect("runs").stdout);
    assert_ne!(first, second);
    assert_ne!(first, third);
    assert_ne!(second, third);
}

#[test]
fn output_goes_to_the_builders_sinks_and_stdin_reader() {
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&out);
    let mut sb = echo(
        WasmSandbox::builder()
            .stdout(move |b| sink.lock().expect("lock").extend_from_slice(b))
            .stderr(|_| {})
            .stdin(std::io::Cursor::new(b"x y z\n".to_vec())),
    );
    assert_eq!(sb.run(&["wasi-echo"]).expect("runs"), 0);
    let text = String::from_utf8(out.lock().expect("lock").clone()).expect("UTF-8");
    assert!(text.contains("stdin: 1 lines, 3 words, 6 bytes"), "{text}");
}

#[test]
fn many_lines_arrive_whole_and_in_order() {
    let mut sb = echo(WasmSandbox::builder());
    let out = sb.run_command(&["wasi-echo", "lines", "5000"], b"").expect("runs");
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5000);
    assert_eq!(lines[4999], "line 4999");
}

#[test]
fn wasi_calls_left_out_return_enosys_and_are_listed() {
    common::require_kvm();
    let mut sb = WasmSandbox::builder()
        .build_from_bytes(
            br#"(module
            (import "wasi_snapshot_preview1" "path_open"
                (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "try_open") (result i32)
                (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                    (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 0))))"#,
        )
        .expect("links");
    assert_eq!(sb.unsupported_wasi_imports(), ["path_open".to_string()]);
    assert_eq!(sb.call::<i32>("try_open", ()).expect("call"), 52, "ENOSYS");
    // Without WASI the import is a link error naming it.
    let r = WasmSandbox::builder().wasi(false).build_from_bytes(
        br#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))))"#,
    );
    assert!(matches!(r, Err(hyperlight_wasm::WasmBuildError::UnknownImport { name, .. }) if name == "fd_write"));
}

#[test]
fn a_module_that_is_no_command_says_so() {
    let mut sb = common::build(WasmSandbox::builder(), "values.wat");
    assert!(matches!(sb.run_command(&["x"], b""), Err(WasmCallError::NotACommand)));
}
