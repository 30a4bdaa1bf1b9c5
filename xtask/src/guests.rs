//! `cargo xtask guests`: the guest programs, built for x86_64-unknown-none.

use std::path::{Path, PathBuf};

use crate::cmd::{Cmd, Failed};

/// The target every guest is built for.
pub const TARGET: &str = "x86_64-unknown-none";

/// The target of the WebAssembly programs (guests/wasm-programs).
pub const WASM_TARGET: &str = "wasm32-wasip1";

/// The WebAssembly programs of guests/wasm-programs, and the names they are copied
/// to beside the release guests.
const WASM_PROGRAMS: [(&str, &str); 2] = [("wasi-echo.wasm", "wasi-echo.wasm"), ("wasm_bench.wasm", "wasm-bench.wasm")];

/// The guest programs of the guests/ workspace (its binaries).
const GUESTS: [&str; 5] = ["simpleguest", "hello", "rawguest", "spinguest", "hostileguest"];

/// The Wasm runtime guest: built apart from the others, for the host target with
/// hardware floating point (see `build_wasm_runtime`).
pub const WASM_RUNTIME: &str = "wasm-runtime";

/// The host target, for which the Wasm runtime is built as a freestanding static PIE.
const HARD_FLOAT_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Link and code-generation flags of that build: no C runtime, no libc, a static
/// position-independent executable (only R_X86_64_RELATIVE relocations, no
/// PT_INTERP, no TLS: what the host's loader accepts).
const HARD_FLOAT_RUSTFLAGS: &str =
    "-Clink-arg=-nostartfiles\u{1f}-Clink-arg=-nostdlib\u{1f}-Clink-arg=-static-pie\u{1f}-Crelocation-model=pie";

/// Environment variables of the outer cargo or the user's shell that would change
/// how the guests are built (flags meant for host code, another target). The guests
/// workspace sets what it needs itself.
const LEAKING_ENV: [&str; 6] = [
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
];

/// The guests/ workspace.
pub fn workspace(root: &Path) -> PathBuf {
    root.join("guests")
}

/// Where the release guests are: the directory passed to the host as
/// `HYPERLIGHT_GUESTS_DIR`.
pub fn release_dir(root: &Path) -> PathBuf {
    workspace(root).join("target").join(TARGET).join("release")
}

/// Builds every guest in release mode (and in debug mode if `debug`), plus
/// `simpleguest-exec`, and prints their paths.
pub fn build(root: &Path, debug: bool) -> Result<(), Failed> {
    ensure_target(TARGET)?;
    let dir = workspace(root);
    let target_dir = dir.join("target");
    let mut profiles = vec!["release"];
    if debug {
        profiles.push("debug");
    }
    for profile in &profiles {
        // The Wasm runtime is built below, for another target.
        let mut args = vec!["build", "--workspace", "--exclude", WASM_RUNTIME, "--target", TARGET];
        if *profile == "release" {
            args.push("--release");
        }
        guest_cargo(args, &dir, &target_dir).run()?;
    }
    let exec = build_exec(root)?;
    let runtime = build_wasm_runtime(root, Float::Hard)?;
    let wasm = build_wasm(root)?;

    let mut built = Vec::new();
    for profile in &profiles {
        for guest in GUESTS {
            let path = target_dir.join(TARGET).join(profile).join(guest);
            check_elf_type(&path, ElfType::Dyn)?;
            built.push(path);
        }
    }
    built.push(exec);
    built.push(runtime);
    built.extend(wasm);
    eprintln!("xtask: guests built:");
    for path in built {
        println!("{}", path.display());
    }
    Ok(())
}

/// `simpleguest` once more as a position-dependent executable (ET_EXEC), so that
/// the host's loader is tested with both kinds of ELF. Copied beside the other
/// release guests as `simpleguest-exec`.
fn build_exec(root: &Path) -> Result<PathBuf, Failed> {
    let dir = &workspace(root);
    // Its own target dir: other flags would otherwise rebuild the normal guests
    // every time, one after the other.
    let exec_target_dir = dir.join("target").join("exec");
    guest_cargo(["build", "--release", "--target", TARGET, "-p", "simpleguest"], dir, &exec_target_dir)
        // Static relocation model: rustc links without -pie, and rust-lld emits
        // ET_EXEC. The small code model suits its fixed addresses below 2 GiB.
        .env("CARGO_ENCODED_RUSTFLAGS", "-Crelocation-model=static\u{1f}-Ccode-model=small")
        .run()?;
    let built = exec_target_dir.join(TARGET).join("release").join("simpleguest");
    check_elf_type(&built, ElfType::Exec)?;
    let copy = release_dir(root).join("simpleguest-exec");
    std::fs::copy(&built, &copy).map_err(|e| Failed {
        step: format!("copy {} to {}", built.display(), copy.display()),
        detail: e.to_string(),
    })?;
    Ok(copy)
}

/// `cargo clippy` of the Wasm runtime in its hard-float configuration.
pub const HARD_FLOAT_CLIPPY: [&str; 9] = [
    "clippy",
    "--release",
    "-p",
    WASM_RUNTIME,
    "--target",
    HARD_FLOAT_TARGET,
    "--no-default-features",
    "--features",
    "hardfloat",
];

/// How the Wasm runtime guest does floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Float {
    /// For x86_64-unknown-linux-gnu, freestanding: SSE registers and instructions.
    /// What hyperlight-wasm uses: 7-9x faster on float-heavy Wasm and 2.5x on
    /// integer code (wasmi's tail-call dispatch works only with floats in registers),
    /// measured with guests/wasm-programs/wasm-bench (`cargo xtask bench`).
    Hard,
    /// For x86_64-unknown-none like every other guest: floats in software, and
    /// wasmi's slower loop dispatch. Built only for the benchmark that compares the two.
    Soft,
}

/// Builds the Wasm runtime guest and copies it beside the release guests: as
/// `wasm-runtime` (hard float, what hyperlight-wasm loads) or `wasm-runtime-softfloat`.
pub fn build_wasm_runtime(root: &Path, float: Float) -> Result<PathBuf, Failed> {
    let dir = workspace(root);
    let (target, target_dir, name) = match float {
        Float::Hard => (HARD_FLOAT_TARGET, dir.join("target").join("hardfloat"), WASM_RUNTIME.to_string()),
        Float::Soft => (TARGET, dir.join("target").join("softfloat"), format!("{WASM_RUNTIME}-softfloat")),
    };
    let mut args = vec!["build", "--release", "-p", WASM_RUNTIME, "--target", target];
    if float == Float::Hard {
        // Tail-call dispatch instead of the loop, and the libc symbols core lacks.
        args.extend(["--no-default-features", "--features", "hardfloat"]);
    }
    let mut cmd = guest_cargo(args, &dir, &target_dir);
    if float == Float::Hard {
        // With --target, these flags reach the guest's crates only, not build scripts.
        cmd = cmd.env("CARGO_ENCODED_RUSTFLAGS", HARD_FLOAT_RUSTFLAGS);
    }
    cmd.run()?;
    let built = target_dir.join(target).join("release").join(WASM_RUNTIME);
    check_elf_type(&built, ElfType::Dyn)?;
    let copy = release_dir(root).join(name);
    std::fs::create_dir_all(release_dir(root)).and_then(|()| std::fs::copy(&built, &copy)).map_err(|e| Failed {
        step: format!("copy {} to {}", built.display(), copy.display()),
        detail: e.to_string(),
    })?;
    Ok(copy)
}

/// The WebAssembly programs (guests/wasm-programs, for wasm32-wasip1), copied beside
/// the release guests, where hyperlight-wasm's tests and benches find them.
fn build_wasm(root: &Path) -> Result<Vec<PathBuf>, Failed> {
    ensure_target(WASM_TARGET)?;
    let dir = workspace(root).join("wasm-programs");
    let target_dir = workspace(root).join("target").join("wasm");
    guest_cargo(["build", "--release", "--target", WASM_TARGET], &dir, &target_dir).run()?;
    let mut copies = Vec::new();
    for (built, name) in WASM_PROGRAMS {
        let built = target_dir.join(WASM_TARGET).join("release").join(built);
        let copy = release_dir(root).join(name);
        std::fs::copy(&built, &copy).map_err(|e| Failed {
            step: format!("copy {} to {}", built.display(), copy.display()),
            detail: e.to_string(),
        })?;
        copies.push(copy);
    }
    Ok(copies)
}

/// A cargo command in the guests workspace, free of the caller's build settings.
pub fn guest_cargo<'a>(args: impl IntoIterator<Item = &'a str>, dir: &Path, target_dir: &Path) -> Cmd {
    let mut cmd = Cmd::cargo(args).dir(dir);
    for key in LEAKING_ENV {
        cmd = cmd.env_remove(key);
    }
    cmd.env("CARGO_TARGET_DIR", target_dir)
}

/// Installs `target` with rustup if it is missing.
fn ensure_target(target: &str) -> Result<(), Failed> {
    let installed = Cmd::new("rustup", ["target", "list", "--installed"]).output();
    match installed {
        Some(list) if list.lines().any(|l| l.trim() == target) => Ok(()),
        Some(_) => {
            eprintln!("xtask: the {target} target is not installed; installing it with rustup");
            Cmd::new("rustup", ["target", "add", target]).run()
        }
        None => {
            // No rustup (a toolchain from elsewhere): the build below says clearly
            // if the target is missing.
            eprintln!("xtask: cannot ask rustup for the installed targets; assuming {target} is there");
            Ok(())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ElfType {
    Exec,
    Dyn,
}

/// Checks the ELF header's `e_type`: a toolchain change that silently turns a guest
/// into another kind of file would otherwise only show up as a confusing host test
/// failure.
fn check_elf_type(path: &Path, want: ElfType) -> Result<(), Failed> {
    let failed = |detail: String| Failed { step: format!("check the ELF type of {}", path.display()), detail };
    let bytes = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    if bytes.len() < 18 || &bytes[..4] != b"\x7fELF" {
        return Err(failed("not an ELF file".to_string()));
    }
    let got = match u16::from_le_bytes([bytes[16], bytes[17]]) {
        2 => Some(ElfType::Exec),
        3 => Some(ElfType::Dyn),
        _ => None,
    };
    if got == Some(want) {
        Ok(())
    } else {
        Err(failed(format!("expected {want:?}, found {got:?}")))
    }
}
