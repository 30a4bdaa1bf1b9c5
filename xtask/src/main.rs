//! `cargo xtask <command>`: the one way to build the guests and run everything.
//! CI runs the same commands (see `.ci/run`).

mod cmd;
mod deploy;
mod guests;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use cmd::{Cmd, Failed};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  guests [--debug]      build the guests (guests/, for x86_64-unknown-none) in release
                        mode, and in debug mode with --debug; also simpleguest-exec,
                        simpleguest linked as a position-dependent executable
  test                  guests, then check the format, build, test (each test run
                        killed after 20 minutes), lint and document the whole
                        project, and validate deploy/ against the Kubernetes schemas
                        (kubernetes-validate from PyPI, in target/deploy-venv);
                        under CI=true a missing clippy, rustfmt or python3 fails it
  demo                  guests, the CLI, then the host's demo example
  bench [ARGS...]       guests, then the benchmarks of hyperlight-host and hyperlight-wasm
                        (with Wasmtime's figures from benches/wasmtime-compare and the
                        soft-float Wasm runtime, built only here); ARGS go to criterion
  loadtest [REQUESTS]   guests, the worker and its load generator (release), then drive
                        the worker on loopback: a native and a Wasm function at
                        concurrency 1, 2 and 8, REQUESTS requests per run (default
                        2000); prints throughput, p50/p90/p99, errors, and the
                        ratios to the same calls made in-process
  bench-obs [ROUNDS]    guests, then the observability bench (benches/observability.rs)
                        built with and without the feature `observability`, in turn,
                        ROUNDS times (default 3); prints the overhead ratios
  fuzz [SECONDS|--smoke]
                        every fuzz target of fuzz/ for SECONDS each (default 60,
                        --smoke 10), with nightly and cargo-fuzz (installed if
                        missing); the guests, if built, seed the ELF loader's corpus

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
        Some("loadtest") => match &args[1..] {
            [] => loadtest(&root, None),
            [n] => match n.parse::<usize>() {
                Ok(n) if n > 0 => loadtest(&root, Some(n)),
                _ => return usage_error(),
            },
            _ => return usage_error(),
        },
        Some("bench-obs") => match &args[1..] {
            [] => bench_obs(&root, 3),
            [rounds] => match rounds.parse() {
                Ok(rounds) if rounds > 0 => bench_obs(&root, rounds),
                _ => return usage_error(),
            },
            _ => return usage_error(),
        },
        Some("fuzz") => match &args[1..] {
            [] => fuzz(&root, 60),
            [flag] if flag == "--smoke" => fuzz(&root, 10),
            [seconds] => match seconds.parse() {
                Ok(seconds) if seconds > 0 => fuzz(&root, seconds),
                _ => return usage_error(),
            },
            _ => return usage_error(),
        },
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

/// The integration tests that run a second time in seccomp mode, and a third time
/// with every sandbox hot.
const SECCOMP_TESTS: [&str; 14] = [
    "batch",
    "reentrant",
    "regions",
    "capi",
    "values",
    "errors",
    "host_functions",
    "hostile",
    "interrupt",
    "snapshot",
    "tenancy",
    "isolation",
    "gdb",
    "crash_dump",
];

/// How long one test run may take before it is killed and the task fails: far more
/// than it needs (a minute or two), so only a hang reaches it.
const TEST_LIMIT: Duration = Duration::from_secs(20 * 60);

fn test(root: &Path) -> Result<(), Failed> {
    let guests_dir = guests::workspace(root);
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    guests::build(root, false)?;
    format_check(root, ci)?;
    host_cargo(root, ["build", "--workspace", "--all-targets"]).run()?;
    host_cargo(root, ["test", "--workspace"]).run_within(TEST_LIMIT)?;
    // The debugging features (gdb stub, crash dumps), driven by the real gdb.
    let debug_features = ["--features", "gdb,crashdump"];
    let args = ["test", "-p", "hyperlight-host", "--test", "gdb", "--test", "crash_dump", "--lib"];
    host_cargo(root, args.into_iter().chain(debug_features)).run_within(TEST_LIMIT)?;
    // The behaviour tests again with every sandbox in seccomp mode (the vCPU on a
    // filtered thread of its own): everything must work the same there.
    let mut args = vec!["test", "-p", "hyperlight-host", "--features", "gdb,crashdump"];
    for t in SECCOMP_TESTS {
        args.extend(["--test", t]);
    }
    host_cargo(root, args).env("HYPERLIGHT_TEST_SECCOMP", "1").run_within(TEST_LIMIT)?;
    // And with every sandbox hot (the vCPU spinning in the guest between calls, on a
    // thread of the sandbox's): kill, deadlines, faults, snapshots, the debugger...
    // must behave exactly as in the normal mode.
    let mut args = vec!["test", "-p", "hyperlight-host", "--features", "gdb,crashdump"];
    for t in SECCOMP_TESTS {
        args.extend(["--test", t]);
    }
    host_cargo(root, args).env("HYPERLIGHT_TEST_HOT", "1").run_within(TEST_LIMIT)?;
    host_cargo(root, ["build", "-p", "hyperlight-cli", "--features", "gdb,crashdump"]).run()?;
    // The library with its observability compiled out (what the overhead bench
    // compares against) must build too.
    host_cargo(root, ["build", "-p", "hyperlight-host", "--no-default-features", "--lib", "--benches"]).run()?;
    if Cmd::cargo(["clippy", "--version"]).output().is_some() {
        host_cargo(root, ["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]).run()?;
        let args = ["clippy", "-p", "hyperlight-host", "-p", "hyperlight-cli", "--all-targets"];
        let features =
            ["--features", "hyperlight-host/gdb,hyperlight-host/crashdump,hyperlight-cli/gdb,hyperlight-cli/crashdump"];
        host_cargo(root, args.into_iter().chain(features).chain(["--", "-D", "warnings"])).run()?;
        let args = ["clippy", "-p", "hyperlight-host", "--no-default-features", "--lib", "--", "-D", "warnings"];
        host_cargo(root, args).run()?;
        // The guests get the same bar (their own workspace, their own target).
        let args = ["clippy", "--workspace", "--release", "--target", guests::TARGET, "--", "-D", "warnings"];
        guests::guest_cargo(args, &guests_dir, &guests_dir.join("target")).run()?;
        // And the Wasm runtime and the C API as they ship: hard float, for the host target.
        let args = guests::HARD_FLOAT_CLIPPY.into_iter().chain(["--", "-D", "warnings"]);
        guests::guest_cargo(args, &guests_dir, &guests_dir.join("target").join("hardfloat-clippy")).run()?;
        let args = guests::CAPI_CLIPPY.into_iter().chain(["--", "-D", "warnings"]);
        guests::guest_cargo(args, &guests_dir, &guests_dir.join("target").join("hardfloat-clippy")).run()?;
    } else if ci {
        return Err(missing("clippy"));
    } else {
        eprintln!("xtask: clippy is not installed; skipping the lints (rustup component add clippy)");
    }
    deploy::validate(root, ci)?;
    host_cargo(root, ["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-Dwarnings").run()?;
    let args = ["doc", "--no-deps", "--release", "--target", guests::TARGET, "-p", "hyperlight-guest"];
    guests::guest_cargo(args, &guests_dir, &guests_dir.join("target")).env("RUSTDOCFLAGS", "-Dwarnings").run()?;
    eprintln!("xtask: all tests, lints and docs passed");
    Ok(())
}

/// `cargo fmt --check` in each workspace (root, guests, the Wasm programs, the
/// Wasmtime comparison, fuzz). Without rustfmt this
/// fails under CI and is skipped (with a word) elsewhere.
fn format_check(root: &Path, ci: bool) -> Result<(), Failed> {
    if Cmd::cargo(["fmt", "--version"]).output().is_none() {
        if ci {
            return Err(missing("rustfmt"));
        }
        eprintln!("xtask: rustfmt is not installed; skipping the format check (rustup component add rustfmt)");
        return Ok(());
    }
    let wasm_programs = root.join("guests").join("wasm-programs");
    let wasmtime = root.join("benches").join("wasmtime-compare");
    for dir in [root.to_path_buf(), root.join("guests"), wasm_programs, wasmtime, root.join("fuzz")] {
        Cmd::cargo(["fmt", "--all", "--", "--check"]).dir(&dir).run()?;
    }
    Ok(())
}

/// The error for a tool CI must have.
fn missing(tool: &str) -> Failed {
    Failed {
        step: format!("cargo {tool}"),
        detail: format!("{tool} is not installed, and CI=true requires it (rustup component add {tool})"),
    }
}

fn loadtest(root: &Path, requests: Option<usize>) -> Result<(), Failed> {
    guests::build(root, false)?;
    let args = ["build", "--release", "-p", "hyperlight-worker", "--bin", "hyperlight-worker", "--example", "loadtest"];
    host_cargo(root, args).run()?;
    let release = root.join("target").join("release");
    let mut args = vec!["--worker".to_string(), release.join("hyperlight-worker").display().to_string()];
    if let Some(n) = requests {
        args.extend(["--requests".to_string(), n.to_string()]);
    }
    let generator = release.join("examples").join("loadtest").display().to_string();
    Cmd::new(&generator, args).env("HYPERLIGHT_GUESTS_DIR", guests::release_dir(root)).run()
}

fn demo(root: &Path) -> Result<(), Failed> {
    guests::build(root, false)?;
    host_cargo(root, ["build", "--release", "-p", "hyperlight-cli"]).run()?;
    host_cargo(root, ["run", "--release", "-p", "hyperlight-host", "--example", "demo"]).run()
}

fn bench(root: &Path, extra: &[String]) -> Result<(), Failed> {
    guests::build(root, false)?;
    // For the Wasm benches: the soft-float runtime (to show why the runtime is
    // hard-float) and Wasmtime's figures (report only), both built only here.
    guests::build_wasm_runtime(root, guests::Float::Soft)?;
    let compare = root.join("benches").join("wasmtime-compare");
    let module = guests::release_dir(root).join("wasm-bench.wasm");
    let medians = root.join("target").join("wasmtime-medians.json");
    let module_arg = module.display().to_string();
    let medians_arg = medians.display().to_string();
    let wasmtime_args = ["run", "--release", "--", module_arg.as_str(), medians_arg.as_str()];
    Cmd::cargo(wasmtime_args)
        .dir(&compare)
        .env("CARGO_TARGET_DIR", root.join("target").join("wasmtime-compare"))
        .run()?;
    let mut args = vec!["bench", "-p", "hyperlight-host", "-p", "hyperlight-wasm"];
    if !extra.is_empty() {
        args.push("--");
        args.extend(extra.iter().map(String::as_str));
    }
    host_cargo(root, args).run()
}

/// The observability bench with the feature (`quiet`, `drop_all`, the log record)
/// and without it (`compiled_out`), one after the other, `rounds` times: the machine
/// drifts, so each ratio is taken within a round, and the median of the rounds shown.
fn bench_obs(root: &Path, rounds: usize) -> Result<(), Failed> {
    use std::collections::BTreeMap;
    guests::build(root, false)?;
    let failed = |what: String| Failed { step: "cargo xtask bench-obs".to_string(), detail: what };
    let mut per_round: Vec<BTreeMap<String, f64>> = Vec::new();
    for round in 1..=rounds {
        let mut medians = BTreeMap::new();
        for features in [&[][..], &["--no-default-features"][..]] {
            let mut args = vec!["bench", "-p", "hyperlight-host", "--bench", "observability"];
            args.extend(features);
            // Short runs, so that the two builds alternate often on a drifting machine.
            args.extend(["--", "--warm-up-time", "1", "--measurement-time", "3"]);
            eprintln!("xtask: bench-obs round {round}/{rounds}: cargo {}", args.join(" "));
            // The raw exit round trip once per round, in the build with the feature.
            let kvm_limits = if features.is_empty() { std::env::var("KVM_LIMITS").ok() } else { Some("off".into()) };
            let mut cmd = host_cargo(root, args);
            if let Some(k) = kvm_limits {
                cmd = cmd.env("KVM_LIMITS", k);
            }
            let out = cmd.output().ok_or_else(|| failed("the bench did not run".to_string()))?;
            for line in out.lines() {
                let mut words = line.split_whitespace();
                if let (Some("obs-median"), Some(id), Some(us)) = (words.next(), words.next(), words.next()) {
                    if let Ok(us) = us.parse::<f64>() {
                        medians.insert(id.to_string(), us);
                    }
                }
            }
        }
        per_round.push(medians);
    }
    let ratio = |m: &BTreeMap<String, f64>, a: &str, b: &str| Some(m.get(a)? / m.get(b)?);
    let log_cost = |m: &BTreeMap<String, f64>| {
        Some((m.get("obs/log_record_kept")? - m.get("obs/log_record_none")?) / m.get("raw/cpl3_round_trip")?)
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    println!("\nobservability overhead, {rounds} round(s) (each: both builds, ratios within the round)");
    for (i, m) in per_round.iter().enumerate() {
        let figures: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v:.2} us")).collect();
        println!("  round {}: {}", i + 1, figures.join(", "));
    }
    type Figure<'a> = Box<dyn Fn(&BTreeMap<String, f64>) -> Option<f64> + 'a>;
    let shell = |m: &BTreeMap<String, f64>, variant: &str| {
        let added = m.get(&format!("obs/shell_{variant}"))? - m.get("obs/shell_compiled_out")?;
        Some(added / m.get("obs/echo_string_compiled_out")?)
    };
    let rows: [(&str, Figure<'_>); 7] = [
        (
            "observing a call, in process (shell, nobody listening - compiled out) / call/echo_string",
            Box::new(|m| shell(m, "quiet")),
        ),
        (
            "observing a call, in process (shell, drop-all subscriber + no-op recorder - compiled out) / call/echo_string",
            Box::new(|m| shell(m, "drop_all")),
        ),
        (
            "call/echo_string, nobody listening / compiled out",
            Box::new(|m| ratio(m, "obs/echo_string_quiet", "obs/echo_string_compiled_out")),
        ),
        (
            "call+restore, nobody listening / compiled out",
            Box::new(|m| ratio(m, "obs/call_restore_quiet", "obs/call_restore_compiled_out")),
        ),
        (
            "call/echo_string, drop-all subscriber + no-op recorder / compiled out",
            Box::new(|m| ratio(m, "obs/echo_string_drop_all", "obs/echo_string_compiled_out")),
        ),
        (
            "call+restore, drop-all subscriber + no-op recorder / compiled out",
            Box::new(|m| ratio(m, "obs/call_restore_drop_all", "obs/call_restore_compiled_out")),
        ),
        ("one kept guest log record / one CPL3 exit round trip", Box::new(log_cost)),
    ];
    for (what, f) in rows {
        let values: Vec<f64> = per_round.iter().filter_map(&f).collect();
        let shown: Vec<String> = values.iter().map(|v| format!("{v:.4}")).collect();
        match median(values.clone()) {
            Some(m) => println!("  {what}: median {m:.4} (rounds: {})", shown.join(", ")),
            None => println!("  {what}: not measured"),
        }
    }
    Ok(())
}

/// Runs every fuzz target for `seconds`, one after the other, and fails if any found
/// a crash. libFuzzer's output goes to fuzz/target/logs/TARGET.log; the summary
/// comes from its last line, `Done N runs in S second(s)`.
fn fuzz(root: &Path, seconds: u64) -> Result<(), Failed> {
    const TARGETS: [&str; 12] = [
        "frame_function_call",
        "frame_function_result",
        "frame_function_table",
        "frame_batch_results",
        "frame_guest_abort",
        "boot_info",
        "elf_loader",
        "call_message",
        "snapshot_file",
        "snapshot_layout",
        "wasm_records",
        "capi_decode",
    ];
    const ELF_SEEDS: [&str; 4] = ["simpleguest", "hello", "rawguest", "simpleguest-exec"];
    let dir = root.join("fuzz");
    let failed = |what: String| Failed { step: "cargo xtask fuzz".to_string(), detail: what };
    if Cmd::cargo(["fuzz", "--version"]).output().is_none() {
        eprintln!("xtask: cargo-fuzz is not installed; installing it (takes a minute or two)");
        Cmd::cargo(["install", "cargo-fuzz", "--locked"]).run()?;
    }
    let toolchains = Cmd::new("rustup", ["toolchain", "list"]).output().unwrap_or_default();
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        eprintln!("xtask: cargo-fuzz needs a nightly toolchain (for -Zsanitizer); installing it");
        Cmd::new("rustup", ["toolchain", "install", "nightly", "--profile", "minimal"]).run()?;
    }
    let corpus = dir.join("corpus").join("elf_loader");
    std::fs::create_dir_all(&corpus).map_err(|e| failed(format!("cannot create {}: {e}", corpus.display())))?;
    let mut seeds = 0;
    for guest in ELF_SEEDS {
        let from = guests::release_dir(root).join(guest);
        if from.exists() {
            std::fs::copy(&from, corpus.join(guest)).map_err(|e| failed(format!("{}: {e}", from.display())))?;
            seeds += 1;
        }
    }
    if seeds == 0 {
        eprintln!("xtask: no guests to seed the ELF loader's corpus with (cargo xtask guests builds them)");
    }
    let logs = dir.join("target").join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| failed(format!("cannot create {}: {e}", logs.display())))?;
    // The rustup proxy, not $CARGO: only the proxy understands +nightly; what the outer
    // cargo and rustup set for the stable toolchain must not leak into it.
    let nightly = |args: &[&str]| {
        let mut command = std::process::Command::new("cargo");
        command.args(["+nightly", "fuzz"]).args(args).current_dir(&dir);
        for key in ["RUSTUP_TOOLCHAIN", "CARGO", "RUSTC", "RUSTDOC"] {
            command.env_remove(key);
        }
        eprintln!("xtask: $ (cd {} && cargo +nightly fuzz {})", dir.display(), args.join(" "));
        command
    };
    let status = nightly(&["build"]).status().map_err(|e| failed(format!("cannot run cargo +nightly: {e}")))?;
    if !status.success() {
        return Err(failed(format!("cargo +nightly fuzz build exited with {status}")));
    }
    let max_time = format!("-max_total_time={seconds}");
    let mut crashed = Vec::new();
    for target in TARGETS {
        let log = logs.join(format!("{target}.log"));
        let out = std::fs::File::create(&log).map_err(|e| failed(format!("{}: {e}", log.display())))?;
        let err = out.try_clone().map_err(|e| failed(format!("{}: {e}", log.display())))?;
        let status = nightly(&["run", target, "--", &max_time])
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|e| failed(format!("cannot run cargo +nightly: {e}")))?;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // "Done 123456 runs in 61 second(s)"
        let done = text.lines().rev().find_map(|l| {
            let rest = l.split("Done ").nth(1)?;
            let mut words = rest.split_whitespace();
            let runs: u64 = words.next()?.parse().ok()?;
            let secs: u64 = words.nth(2)?.parse().ok()?;
            Some((runs, secs))
        });
        match (status.success(), done) {
            (true, Some((runs, secs))) => {
                println!("fuzz {target:<22} {runs:>10} runs in {secs:>3} s  {:>8} exec/s", runs / secs.max(1));
            }
            _ => {
                // The panic and the artifact, without cargo-fuzz's Debug dump of the input.
                let tail: Vec<String> = text.lines().rev().take(40).map(|l| l.chars().take(300).collect()).collect();
                eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
                let artifact = text
                    .lines()
                    .find_map(|l| l.split("Test unit written to ").nth(1))
                    .map_or("no artifact".to_string(), |a| dir.join(a.trim()).display().to_string());
                println!("fuzz {target:<22} FAILED: {artifact} (log: {})", log.display());
                crashed.push(format!("{target} ({artifact})"));
            }
        }
    }
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(failed(format!("crashes in {}", crashed.join(", "))))
    }
}
