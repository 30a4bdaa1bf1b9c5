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
const GUESTS: [&str; 6] = ["simpleguest", "hello", "rawguest", "spinguest", "hostileguest", "wasm-runtime"];

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
        let mut args = vec!["build", "--workspace", "--target", TARGET];
        if *profile == "release" {
            args.push("--release");
        }
        guest_cargo(args, &dir, &target_dir).run()?;
    }
    let exec = build_exec(root)?;
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
