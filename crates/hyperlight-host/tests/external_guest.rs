//! A guest in the user's own repository, outside this workspace, written and built as
//! docs/writing-a-guest.md says ("A guest in your own repository"), then called.
//!
//! The test writes the project into a temporary directory, builds it with the
//! `cargo` that runs the tests (the x86_64-unknown-none target installed by
//! `cargo xtask`), and runs it. It uses the guests workspace's Cargo.lock so that the
//! build needs no crate versions other than those the guests already use.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use hyperlight_host::SandboxBuilder;

const CARGO_TOML: &str = r#"[package]
name = "my-guest"
version = "0.1.0"
edition = "2021"

[dependencies]
hyperlight-guest = { path = "HYPERLIGHT_GUEST" }

# A guest has no unwinder: a panic is reported to the host and ends the call.
[profile.dev]
panic = "abort"

[profile.release]
panic = "abort"

# Its own workspace, not whatever workspace a parent directory has.
[workspace]
"#;

const CARGO_CONFIG: &str = r#"[build]
target = "x86_64-unknown-none"
"#;

const MAIN_RS: &str = r#"#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use hyperlight_guest::{call_host, guest_function, FunctionError};

hyperlight_guest::main!(init);

fn init() {}

#[guest_function("Greet")]
fn greet(name: String) -> Result<String, FunctionError> {
    let greeting: String = call_host("Greeting", ())?;
    Ok(format!("{greeting}, {name}!"))
}
"#;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("directory");
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[test]
fn a_guest_in_its_own_repository_builds_and_answers() {
    common::require_kvm();
    let root = root();
    let dir = std::env::temp_dir().join(format!("hl-external-guest-{}", std::process::id()));
    let guest_crate = root.join("crates/hyperlight-guest");
    write(&dir.join("Cargo.toml"), &CARGO_TOML.replace("HYPERLIGHT_GUEST", &guest_crate.display().to_string()));
    write(&dir.join(".cargo/config.toml"), CARGO_CONFIG);
    write(&dir.join("src/main.rs"), MAIN_RS);
    std::fs::copy(root.join("guests/Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
    // Built into a directory of this repository's target, kept between runs.
    let target_dir = root.join("target/external-guest");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--release"]).current_dir(&dir).env("CARGO_TARGET_DIR", &target_dir);
    // What the test's own build set must not leak into the guest's.
    for key in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET", "RUSTC_WRAPPER"] {
        build.env_remove(key);
    }
    let out = build.output().expect("cargo runs");
    assert!(out.status.success(), "the guest did not build:\n{}", String::from_utf8_lossy(&out.stderr));
    let binary = target_dir.join("x86_64-unknown-none/release/my-guest");
    let mut sb = SandboxBuilder::new()
        .host_function("Greeting", || "Hello".to_string())
        .build_from_file(&binary)
        .expect("the guest loads");
    assert_eq!(sb.call::<String>("Greet", "world".to_string()).expect("call"), "Hello, world!");
    std::fs::remove_dir_all(&dir).expect("clean up");
}
