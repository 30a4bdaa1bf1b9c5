//! `cargo xtask <command>`: the one way to build the guests and run everything.
//! CI runs the same commands (see `.ci/run`).

mod cmd;
mod guests;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cmd::{Cmd, Failed};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  guests [--debug]      build the guests (guests/, for x86_64-unknown-none) in release
                        mode, and in debug mode with --debug; also simpleguest-exec,
                        simpleguest linked as a position-dependent executable
  test                  guests, then build, test, lint (clippy, if installed) and
                        document the whole project
  demo                  guests, the CLI, then the host's demo example
  bench [ARGS...]       guests, then the host's benchmarks; ARGS go to criterion

The host's tests, benches and examples find the release guests in the directory
named by HYPERLIGHT_GUESTS_DIR, which these commands set to
guests/target/x86_64-unknown-none/release (absolute).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root();
    let result = match args.first().map(String::as_str) {
        Some("guests") => match &args[1..] {
            [] => guests::build(&root, false),
            [flag] if flag == "--debug" => guests::build(&root, true),
            _ => return usage_error(),
        },
        Some("test") if args.len() == 1 => test(&root),
        Some("demo") if args.len() == 1 => demo(&root),
        Some("bench") => bench(&root, &args[1..]),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => return usage_error(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

/// The repository root (the parent of this crate).
fn root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// A cargo command in the root workspace that can find the guests.
fn host_cargo<'a>(root: &Path, args: impl IntoIterator<Item = &'a str>) -> Cmd {
    Cmd::cargo(args).dir(root).env("HYPERLIGHT_GUESTS_DIR", guests::release_dir(root))
}

fn test(root: &Path) -> Result<(), Failed> {
    let guests_dir = guests::workspace(root);
    guests::build(root, false)?;
    host_cargo(root, ["build", "--workspace", "--all-targets"]).run()?;
    host_cargo(root, ["test", "--workspace"]).run()?;
    // The debugging features (gdb stub, crash dumps), driven by the real gdb.
    let debug_features = ["--features", "gdb,crashdump"];
    let args = ["test", "-p", "hyperlight-host", "--test", "gdb", "--test", "crash_dump", "--lib"];
    host_cargo(root, args.into_iter().chain(debug_features)).run()?;
    host_cargo(root, ["build", "-p", "hyperlight-cli", "--features", "gdb,crashdump"]).run()?;
    if Cmd::cargo(["clippy", "--version"]).output().is_some() {
        host_cargo(root, ["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]).run()?;
        let args = ["clippy", "-p", "hyperlight-host", "-p", "hyperlight-cli", "--all-targets"];
        let features = ["--features", "hyperlight-host/gdb,hyperlight-host/crashdump,hyperlight-cli/gdb,hyperlight-cli/crashdump"];
        host_cargo(root, args.into_iter().chain(features).chain(["--", "-D", "warnings"])).run()?;
        // The guests get the same bar (their own workspace, their own target).
        let args = ["clippy", "--workspace", "--release", "--target", guests::TARGET, "--", "-D", "warnings"];
        guests::guest_cargo(args, &guests_dir, &guests_dir.join("target")).run()?;
    } else {
        eprintln!("xtask: clippy is not installed; skipping the lints (rustup component add clippy)");
    }
    host_cargo(root, ["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-Dwarnings").run()?;
    let args = ["doc", "--no-deps", "--release", "--target", guests::TARGET, "-p", "hyperlight-guest"];
    guests::guest_cargo(args, &guests_dir, &guests_dir.join("target")).env("RUSTDOCFLAGS", "-Dwarnings").run()?;
    eprintln!("xtask: all tests, lints and docs passed");
    Ok(())
}

fn demo(root: &Path) -> Result<(), Failed> {
    guests::build(root, false)?;
    host_cargo(root, ["build", "--release", "-p", "hyperlight-cli"]).run()?;
    host_cargo(root, ["run", "--release", "-p", "hyperlight-host", "--example", "demo"]).run()
}

fn bench(root: &Path, extra: &[String]) -> Result<(), Failed> {
    guests::build(root, false)?;
    let mut args = vec!["bench", "-p", "hyperlight-host"];
    if !extra.is_empty() {
        args.push("--");
        args.extend(extra.iter().map(String::as_str));
    }
    host_cargo(root, args).run()
}
