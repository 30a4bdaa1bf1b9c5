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

/// The C API's static library crate: built for the host target with hardware
/// floating point, as C guests are (see `build_capi`).
pub const CAPI: &str = "hyperlight-guest-capi";

/// The C guests: directories of guests/ whose `*.c` files make one guest each,
/// built with gcc against the C API (see `build_c_guests`).
const C_GUESTS: [&str; 1] = ["c-simpleguest"];

/// gcc's flags for a C guest, before the include directories: freestanding C (no
/// C library of the build machine; the C API brings its own headers), a static PIE,
/// no stack protector (its canary lives at %fs:0x28, and a guest has no thread
/// pointer), and stack-clash probes (so that a frame larger than the stack faults on
/// the guard page, not past it). The ordinary x86_64 ABI with SSE, like the library.
pub const C_FLAGS: [&str; 13] = [
    "-std=c11",
    "-O2",
    "-g",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-ffreestanding",
    "-nostdinc",
    "-fPIE",
    "-fno-stack-protector",
    "-fstack-clash-protection",
    "-nostdlib",
    "-static-pie",
];

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
        let mut args = vec!["build", "--workspace", "--exclude", WASM_RUNTIME, "--exclude", CAPI, "--target", TARGET];
        if *profile == "release" {
            args.push("--release");
        }
        guest_cargo(args, &dir, &target_dir).run()?;
    }
    let exec = build_exec(root)?;
    let runtime = build_wasm_runtime(root, Float::Hard)?;
    let wasm = build_wasm(root)?;
    let capi = build_capi(root)?;
    let c_guests = build_c_guests(root, &capi)?;

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
    built.push(capi.library.clone());
    built.extend(c_guests);
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

/// `cargo clippy` of the C API's library as it ships.
pub const CAPI_CLIPPY: [&str; 6] = ["clippy", "--release", "-p", CAPI, "--target", HARD_FLOAT_TARGET];

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

/// What a C guest builds against: the directory `guests/target/capi`, with
/// `libhyperlight_guest_capi.a` and `include/` (the C API's headers, copied).
#[derive(Debug, Clone)]
pub struct Capi {
    /// The static library.
    pub library: PathBuf,
    /// The headers.
    pub include: PathBuf,
}

/// Builds the C API's static library (for the host target, hard float, with the Wasm
/// runtime's flags and target directory, so the runtime crate is built once for
/// both) and copies it and the headers into `guests/target/capi`.
pub fn build_capi(root: &Path) -> Result<Capi, Failed> {
    let dir = workspace(root);
    let target_dir = dir.join("target").join("hardfloat");
    let args = ["build", "--release", "-p", CAPI, "--target", HARD_FLOAT_TARGET];
    guest_cargo(args, &dir, &target_dir).env("CARGO_ENCODED_RUSTFLAGS", HARD_FLOAT_RUSTFLAGS).run()?;
    let built = target_dir.join(HARD_FLOAT_TARGET).join("release").join("libhyperlight_guest_capi.a");
    let out = dir.join("target").join("capi");
    let include = out.join("include");
    let copy = |from: &Path, to: &Path| {
        std::fs::copy(from, to)
            .map(|_| ())
            .map_err(|e| Failed { step: format!("copy {} to {}", from.display(), to.display()), detail: e.to_string() })
    };
    std::fs::create_dir_all(&include)
        .map_err(|e| Failed { step: format!("create {}", include.display()), detail: e.to_string() })?;
    let library = out.join("libhyperlight_guest_capi.a");
    copy(&built, &library)?;
    let headers = root.join("crates").join(CAPI).join("include");
    let entries = std::fs::read_dir(&headers)
        .map_err(|e| Failed { step: format!("read {}", headers.display()), detail: e.to_string() })?;
    for entry in entries {
        let path =
            entry.map_err(|e| Failed { step: format!("read {}", headers.display()), detail: e.to_string() })?.path();
        if path.extension().is_some_and(|e| e == "h") {
            copy(&path, &include.join(path.file_name().unwrap_or_default()))?;
        }
    }
    Ok(Capi { library, include })
}

/// gcc's own header directory (`stddef.h`, `stdint.h`, `stdarg.h`, ...): a C guest
/// uses those and the C API's, never the build machine's C library.
fn gcc_include() -> Result<String, Failed> {
    let failed = |detail: String| Failed { step: "gcc -print-file-name=include".to_string(), detail };
    let dir = Cmd::new("gcc", ["-print-file-name=include"]).output().ok_or_else(|| failed("gcc did not run".into()))?;
    let dir = dir.trim().to_string();
    if Path::new(&dir).is_dir() {
        Ok(dir)
    } else {
        Err(failed(format!("{dir} is not a directory")))
    }
}

/// Builds each C guest (every `*.c` of its directory, with gcc and `C_FLAGS`) into
/// the release directory, beside the Rust guests.
fn build_c_guests(root: &Path, capi: &Capi) -> Result<Vec<PathBuf>, Failed> {
    let gcc_include = gcc_include()?;
    let mut built = Vec::new();
    for guest in C_GUESTS {
        let dir = workspace(root).join(guest);
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| Failed { step: format!("read {}", dir.display()), detail: e.to_string() })?;
        let mut sources: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "c"))
            .collect();
        sources.sort();
        let out = release_dir(root).join(guest);
        let include = capi.include.display().to_string();
        let output = out.display().to_string();
        let mut args: Vec<String> = C_FLAGS.iter().map(|s| s.to_string()).collect();
        args.extend(["-isystem".into(), gcc_include.clone(), "-I".into(), include, "-o".into(), output]);
        args.extend(sources.iter().map(|p| p.display().to_string()));
        args.push(capi.library.display().to_string());
        Cmd::new("gcc", &args).run()?;
        check_elf_type(&out, ElfType::Dyn)?;
        built.push(out);
    }
    Ok(built)
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
