//! The `hyperlight` binary run against the real test guests on KVM.
//!
//! Guests come from `HYPERLIGHT_GUESTS_DIR` (set by `cargo xtask test`), else from
//! the workspace's `guests/target/x86_64-unknown-none/release`. A missing guest fails
//! the test: these tests never pass by skipping.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

fn guests_dir() -> PathBuf {
    match std::env::var_os("HYPERLIGHT_GUESTS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/target/x86_64-unknown-none/release"),
    }
}

fn guest(name: &str) -> PathBuf {
    let path = guests_dir().join(name);
    assert!(
        path.is_file(),
        "test guest {} is missing: run `cargo xtask guests` (or set HYPERLIGHT_GUESTS_DIR)",
        path.display()
    );
    path
}

fn hyperlight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hyperlight")).args(args).output().unwrap()
}

/// `hyperlight run [options] GUEST FUNCTION ARGS...` with `options` first.
fn run(options: &[&str], guest_name: &str, function: &str, args: &[&str]) -> Output {
    let guest = guest(guest_name);
    let mut all: Vec<&str> = vec!["run"];
    all.extend(options);
    all.push(guest.to_str().unwrap());
    all.push(function);
    all.extend(args);
    hyperlight(&all)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The stdout of a run that must have succeeded.
fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "expected success, got {:?}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The stderr of a run that must have exited with `code`, after checking it starts
/// with `error:` and contains every one of `needles`.
fn failed(out: &Output, code: i32, needles: &[&str]) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stdout: {}\nstderr: {stderr}", text(&out.stdout));
    assert!(stderr.starts_with("error: "), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in stderr: {stderr}");
    }
    stderr
}

fn echo(function: &str, arg: &str) -> String {
    succeeded(&run(&[], "simpleguest", function, &[arg]))
}

/// A file under the temp directory, with a name unique to this process and call,
/// removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(contents: &[u8]) -> TempFile {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("hyperlight-cli-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// --- typed arguments round-trip --------------------------------------------------

#[test]
fn i32_round_trips() {
    assert_eq!(echo("EchoI32", "i32:-5"), "-5\n");
}

#[test]
fn u32_round_trips() {
    assert_eq!(echo("EchoU32", "u32:4294967295"), "4294967295\n");
}

#[test]
fn i64_round_trips() {
    assert_eq!(echo("EchoI64", "i64:-9223372036854775808"), "-9223372036854775808\n");
}

#[test]
fn u64_round_trips() {
    assert_eq!(echo("EchoU64", "u64:18446744073709551615"), "18446744073709551615\n");
}

#[test]
fn f32_round_trips() {
    assert_eq!(echo("EchoF32", "f32:1.5"), "1.5\n");
}

#[test]
fn f64_round_trips() {
    assert_eq!(echo("EchoF64", "f64:-2.25"), "-2.25\n");
    assert_eq!(echo("EchoF64", "f64:1e300"), "1e300\n");
}

#[test]
fn bool_round_trips() {
    assert_eq!(echo("EchoBool", "bool:true"), "true\n");
    assert_eq!(echo("EchoBool", "bool:false"), "false\n");
}

#[test]
fn string_with_spaces_and_colons_round_trips() {
    assert_eq!(echo("EchoString", "str:hello, world: a:b  c"), "hello, world: a:b  c\n");
}

#[test]
fn empty_string_round_trips() {
    assert_eq!(echo("EchoString", "str:"), "\n");
}

#[test]
fn bytes_from_a_file_round_trip_as_hex() {
    let file = TempFile::new(&[0x00, 0x01, 0xab, 0xff, b'\n']);
    let arg = format!("bytes:@{}", file.path());
    assert_eq!(echo("EchoBytes", &arg), "0001abff0a\n");
}

#[test]
fn bytes_in_hex_round_trip() {
    assert_eq!(echo("EchoBytes", "bytes:hex:0A0bFF"), "0a0bff\n");
}

#[test]
fn unit_prints_nothing() {
    assert_eq!(succeeded(&run(&[], "simpleguest", "ReturnUnit", &[])), "");
}

#[test]
fn add_prints_the_sum() {
    assert_eq!(succeeded(&run(&[], "simpleguest", "Add", &["i32:2", "i32:3"])), "5\n");
}

// --- host functions, guest output, options --------------------------------------

#[test]
fn hello_greets_with_the_weekday_from_the_host() {
    let stdout = succeeded(&run(&[], "hello", "SayHello", &["str:World"]));
    let last = stdout.lines().last().unwrap();
    assert!(last.contains("Hello, World!"), "{stdout}");
    let days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
    assert!(days.iter().any(|d| last.contains(d)), "no weekday in {last:?}");
}

#[test]
fn guest_print_goes_to_stdout_before_the_result() {
    let out = run(&[], "hello", "SayHello", &["str:World"]);
    let stdout = succeeded(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() >= 2, "expected the guest's print and the result: {stdout}");
    assert!(lines[0].contains("greeting World"), "{stdout}");
    assert!(lines[lines.len() - 1].starts_with("Hello, World!"), "{stdout}");
}

#[test]
fn guest_print_can_go_to_stderr() {
    let out = run(&["--guest-print", "stderr"], "simpleguest", "Print", &["str:to stderr"]);
    assert_eq!(succeeded(&out), "");
    assert!(text(&out.stderr).contains("to stderr"), "{}", text(&out.stderr));
}

#[test]
fn time_prints_creation_and_call_times_to_stderr() {
    let out = run(&["--time"], "simpleguest", "EchoI32", &["i32:1"]);
    assert_eq!(succeeded(&out), "1\n");
    let stderr = text(&out.stderr);
    let created = stderr.lines().find(|l| l.starts_with("created in ")).unwrap_or_else(|| panic!("{stderr}"));
    let call = stderr.lines().find(|l| l.starts_with("call took ")).unwrap_or_else(|| panic!("{stderr}"));
    for line in [created, call] {
        assert!([" us", " ms", " s"].iter().any(|unit| line.ends_with(unit)), "no unit in {line:?}");
    }
}

#[test]
fn repeat_with_time_prints_the_median() {
    let out = run(&["--time", "--repeat", "5"], "simpleguest", "Add", &["i32:2", "i32:3"]);
    assert_eq!(succeeded(&out), "5\n");
    assert!(text(&out.stderr).contains("median of 5 calls"), "{}", text(&out.stderr));
}

#[test]
fn sizes_take_suffixes() {
    // 100,000 bytes of result do not fit the default 64 KiB output buffer.
    let out = run(&[], "simpleguest", "BufferOfSize", &["u64:100000"]);
    failed(&out, 1, &["BufferOfSize", "65536"]);
    let out = run(&["--heap", "4M", "--output-buffer", "256KiB"], "simpleguest", "BufferOfSize", &["u64:100000"]);
    assert_eq!(succeeded(&out).trim_end().len(), 200_000);
}

// --- failures --------------------------------------------------------------------

#[test]
fn a_missing_guest_file_fails() {
    let out = hyperlight(&["run", "/nonexistent/hyperlight-guest", "EchoI32", "i32:1"]);
    failed(&out, 1, &["/nonexistent/hyperlight-guest", "No such file"]);
}

#[test]
fn a_file_that_is_not_elf_fails() {
    let garbage = TempFile::new(b"this is not an ELF file, just some text\n");
    let out = hyperlight(&["run", garbage.path(), "EchoI32", "i32:1"]);
    failed(&out, 1, &["invalid guest binary"]);
}

#[test]
fn an_unknown_function_fails() {
    failed(&run(&[], "simpleguest", "NoSuchFunction", &[]), 1, &["NoSuchFunction"]);
}

#[test]
fn a_wrong_argument_count_fails() {
    failed(&run(&[], "simpleguest", "Add", &["i32:1"]), 1, &["Add", "2", "1"]);
}

#[test]
fn a_wrong_argument_type_fails() {
    failed(&run(&[], "simpleguest", "EchoI32", &["str:5"]), 1, &["EchoI32", "i32", "String"]);
}

#[test]
fn a_guest_panic_shows_its_message() {
    failed(&run(&[], "simpleguest", "Panic", &["str:the sky fell"]), 1, &["panicked", "the sky fell"]);
}

#[test]
fn a_guest_fault_is_reported() {
    failed(&run(&[], "simpleguest", "Fault", &["str:ud2"]), 1, &["invalid opcode"]);
    failed(&run(&[], "simpleguest", "Fault", &["str:null"]), 1, &["page fault", "0x0"]);
}

#[test]
fn malformed_typed_arguments_exit_2_before_any_vm() {
    // The guest does not exist: reaching the library would exit 1 ("cannot read").
    let guest = "/nonexistent/hyperlight-guest";
    let missing = std::env::temp_dir().join(format!("hyperlight-cli-test-{}-missing", std::process::id()));
    let missing_arg = format!("bytes:@{}", missing.display());
    for (arg, why) in [
        ("int:5", "unknown type"),
        ("5", "missing type"),
        ("i32:five", "not a valid i32"),
        ("u32:-1", "not a valid u32"),
        ("bool:yes", "not a valid bool"),
        ("bytes:hex:abc", "odd number"),
        ("bytes:0a", "bytes:@PATH"),
        (missing_arg.as_str(), "cannot read"),
    ] {
        let out = hyperlight(&["run", guest, "EchoI32", "i32:1", arg]);
        failed(&out, 2, &[&format!("{arg:?}"), why]);
    }
}

#[test]
fn bad_options_exit_2() {
    for options in [["--heap", "1.5M"], ["--stack", "12KB"], ["--repeat", "0"], ["--bogus", "1"]] {
        let out = run(&options, "simpleguest", "EchoI32", &["i32:1"]);
        failed(&out, 2, &[options[0]]);
    }
}

#[test]
fn help_documents_run_the_argument_syntax_and_time() {
    let top = succeeded(&hyperlight(&["--help"]));
    for needle in ["run", "TYPE:VALUE", "i32", "--time"] {
        assert!(top.contains(needle), "{needle:?} not in --help:\n{top}");
    }
    let run_help = succeeded(&hyperlight(&["run", "--help"]));
    for needle in [
        "GUEST",
        "FUNCTION",
        "i32:",
        "u32:",
        "i64:",
        "u64:",
        "f32:",
        "f64:",
        "bool:",
        "str:",
        "bytes:@",
        "bytes:hex:",
        "--heap",
        "--stack",
        "--input-buffer",
        "--output-buffer",
        "--time",
        "--repeat",
        "GetWeekday",
        "Exit status",
        "Examples",
    ] {
        assert!(run_help.contains(needle), "{needle:?} not in run --help:\n{run_help}");
    }
}

#[test]
fn timeout_stops_a_spinning_guest() {
    let out = run(&["--timeout", "200ms"], "simpleguest", "Spin", &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("deadline"), "{stderr}");
    let bad = run(&["--timeout", "soon"], "simpleguest", "Spin", &[]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
}

#[test]
fn verbose_prints_spans_and_the_guest_records_it_asks_for() {
    let guest = guest("simpleguest");
    let out = Command::new(env!("CARGO_BIN_EXE_hyperlight"))
        .args(["run", "-v", guest.to_str().unwrap(), "LogEveryLevel", "str:x"])
        .env_remove("RUST_LOG")
        .env_remove("HYPERLIGHT_GUEST_LOG")
        .output()
        .unwrap();
    succeeded(&out);
    let err = text(&out.stderr);
    for shown in ["error: x", "warn: x", "info: x", "hyperlight_guest", "guest_module", "build", "call"] {
        assert!(err.contains(shown), "{shown:?} missing from:\n{err}");
    }
    // -v is info: the guest drops its debug and trace records.
    assert!(!err.contains("debug: x") && !err.contains("trace: x"), "{err}");
    // Without -v nothing is printed.
    let quiet = Command::new(env!("CARGO_BIN_EXE_hyperlight"))
        .args(["run", guest.to_str().unwrap(), "LogEveryLevel", "str:x"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    succeeded(&quiet);
    assert_eq!(text(&quiet.stderr), "");
}
