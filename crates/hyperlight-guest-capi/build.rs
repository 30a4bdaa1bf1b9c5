//! Compiles the C half of the runtime (`runtime/*.c`: `str*`, `strto*`, `printf`) with
//! gcc into this static library, freestanding: the headers are `include/` and gcc's
//! own (`stddef.h`, `stdint.h`, `stdarg.h`, ...), never the build machine's C library.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The C sources, each a part of the runtime.
const SOURCES: [&str; 2] = ["runtime/string.c", "runtime/printf.c"];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let include = manifest.join("include");
    println!("cargo:rerun-if-changed={}", include.display());
    for source in SOURCES {
        println!("cargo:rerun-if-changed={}", manifest.join(source).display());
    }
    // The C runtime is for the hard-float build a C guest links (see src/lib.rs);
    // the guests workspace's clippy also checks this crate for x86_64-unknown-none,
    // which needs no C.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let mut build = cc::Build::new();
    build.compiler("gcc").files(SOURCES.iter().map(|s| manifest.join(s)));
    for flag in freestanding_flags(&include) {
        build.flag(&flag);
    }
    build.warnings_into_errors(true).compile("hyperlight_guest_crt");
    // Where `cargo xtask guests` (and a user's own build) finds the headers.
    println!("cargo:include={}", include.display());
}

/// gcc's flags for code that runs in a guest, and for this runtime's own loops.
fn freestanding_flags(include: &Path) -> Vec<String> {
    let mut flags: Vec<String> = [
        "-std=c11",
        "-O2",
        "-ffreestanding",
        "-fno-builtin",
        // Keep gcc from turning the copy and search loops into calls of themselves.
        "-fno-tree-loop-distribute-patterns",
        "-nostdinc",
        "-fPIE",
        // The canary lives at %fs:0x28, and a guest has no thread pointer.
        "-fno-stack-protector",
        "-fstack-clash-protection",
        "-Wall",
        "-Wextra",
    ]
    .map(String::from)
    .to_vec();
    if let Some(dir) = gcc_include() {
        flags.push("-isystem".into());
        flags.push(dir);
    }
    flags.push("-I".into());
    flags.push(include.display().to_string());
    flags
}

/// gcc's own header directory (`stddef.h`, `stdint.h`, `stdarg.h`, `limits.h`, ...).
fn gcc_include() -> Option<String> {
    let out = Command::new("gcc").arg("-print-file-name=include").output().ok()?;
    let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    Path::new(&dir).is_dir().then_some(dir)
}
