//! `hyperlight wasm call` and `hyperlight wasm run` against real modules on KVM.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn wat(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../hyperlight-wasm/tests/wat").join(name).display().to_string()
}

fn built(name: &str) -> String {
    let dir = std::env::var_os("HYPERLIGHT_GUESTS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/target/x86_64-unknown-none/release")
    });
    let path = dir.join(name);
    assert!(path.is_file(), "{} is missing: run `cargo xtask guests`", path.display());
    path.display().to_string()
}

fn hyperlight(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hyperlight"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn call_prints_the_result_of_every_type() {
    let m = wat("values.wat");
    for (args, want) in [
        (vec!["add_i32", "i32:2", "i32:3"], "5"),
        (vec!["add_i64", "i64:-3", "i64:1"], "-2"),
        (vec!["mul_f64", "f64:1.5", "f64:2"], "3.0"),
        (vec!["--result", "str", "reverse", "str:hello"], "olleh"),
        (vec!["--result", "bytes", "echo", "bytes:hex:0a0b"], "0a0b"),
        (vec!["--result", "bool", "not", "bool:false"], "true"),
    ] {
        let mut all = vec!["wasm", "call"];
        let (flags, rest): (Vec<&str>, Vec<&str>) =
            if args[0] == "--result" { (args[..2].to_vec(), args[2..].to_vec()) } else { (vec![], args.clone()) };
        all.extend(flags);
        all.push(&m);
        all.extend(rest);
        let out = hyperlight(&all, b"");
        assert!(out.status.success(), "{all:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), format!("{want}\n"), "{all:?}");
    }
}

#[test]
fn call_failures_name_the_trap_and_exit_1() {
    let m = wat("traps.wat");
    let out = hyperlight(&["wasm", "call", &m, "div_by_zero", "i32:0"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("integer divide by zero"), "{}", text(&out.stderr));
    let out = hyperlight(&["wasm", "call", "--fuel", "1000", &m, "spin"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("out of fuel"), "{}", text(&out.stderr));
    let out = hyperlight(&["wasm", "call", "--timeout", "100ms", &m, "spin"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("deadline"), "{}", text(&out.stderr));
    let out = hyperlight(&["wasm", "call", &m, "ok", "i32:nope"], b"");
    assert_eq!(out.status.code(), Some(2), "a malformed argument is a bad command line");
}

#[test]
fn run_passes_argv_stdin_and_the_exit_code() {
    let m = built("wasi-echo.wasm");
    let out = hyperlight(&["wasm", "run", "--time", &m, "--", "a", "b"], b"one two\n");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains(r#"argv: ["wasi-echo.wasm", "a", "b"]"#), "{stdout}");
    assert!(stdout.contains("stdin: 1 lines, 2 words, 8 bytes"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("done") && stderr.contains("created in") && stderr.contains("run took"), "{stderr}");

    let out = hyperlight(&["wasm", "run", &m, "--", "exit", "3"], b"");
    assert_eq!(out.status.code(), Some(3));
    let out = hyperlight(&["wasm", "run", &m, "--", "panic"], b"");
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("unreachable"), "{}", text(&out.stderr));
}
