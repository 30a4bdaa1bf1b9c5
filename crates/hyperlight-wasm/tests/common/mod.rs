//! What every integration test needs: a check that KVM is there, the test modules,
//! and the runtime guest. A missing one fails the test loudly, saying what to run.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use hyperlight_wasm::{WasmSandbox, WasmSandboxBuilder};

/// Panics unless `/dev/kvm` can be opened read-write: these tests run real VMs.
pub fn require_kvm() {
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        panic!("these tests need KVM, but /dev/kvm cannot be opened ({e})");
    }
}

/// The path of the in-tree test module `tests/wat/NAME`.
pub fn wat(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/wat").join(name)
}

/// A built guest file (`cargo xtask guests`), such as the Rust WASI test programs.
pub fn guest_file(name: &str) -> PathBuf {
    let dir = std::env::var_os("HYPERLIGHT_GUESTS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../guests/target/x86_64-unknown-none/release")
    });
    let path = dir.join(name);
    assert!(path.is_file(), "{} not found: run `cargo xtask guests` first", path.display());
    path
}

/// Builds `builder` from the test module `name`.
pub fn build(builder: WasmSandboxBuilder, name: &str) -> WasmSandbox {
    require_kvm();
    builder.build_from_file(wat(name)).unwrap_or_else(|e| panic!("cannot build {name}: {e:?}"))
}
