//! What every integration test needs: the path of a built guest, and a check that
//! KVM is there. Both fail the test loudly, saying what to run: a test that needs
//! KVM or a guest never passes by skipping (STYLE.md).

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use hyperlight_host::{Sandbox, SandboxBuilder};

/// The directory of the release guests: `HYPERLIGHT_GUESTS_DIR` (set by `cargo xtask`),
/// else where `cargo xtask guests` puts them.
pub fn guests_dir() -> PathBuf {
    std::env::var_os("HYPERLIGHT_GUESTS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../guests/target/x86_64-unknown-none/release")
    })
}

/// The path of the built guest `name`; panics, saying how to build it, if it is missing.
pub fn guest_path(name: &str) -> PathBuf {
    let path = guests_dir().join(name);
    assert!(
        path.is_file(),
        "guest {name:?} not found at {}: run `cargo xtask guests` first (or `cargo xtask test`), \
         or point HYPERLIGHT_GUESTS_DIR at the built guests",
        path.display()
    );
    path
}

/// The bytes of the built guest `name` (see [`guest_path`]).
pub fn guest_bytes(name: &str) -> Vec<u8> {
    let path = guest_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Panics unless `/dev/kvm` can be opened read-write: these tests run real VMs.
pub fn require_kvm() {
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        panic!(
            "these tests need KVM, but /dev/kvm cannot be opened ({e}): run them on a machine with \
             KVM and read-write access to /dev/kvm (e.g. add the user to the `kvm` group)"
        );
    }
}

/// Whether the tests run their sandboxes in seccomp mode (`HYPERLIGHT_TEST_SECCOMP=1`,
/// which `cargo xtask test` sets for a second run of the behaviour tests).
pub fn seccomp() -> bool {
    std::env::var("HYPERLIGHT_TEST_SECCOMP").is_ok_and(|v| v == "1")
}

/// The spin budget of every sandbox when the tests run hot (`HYPERLIGHT_TEST_HOT=1`,
/// which `cargo xtask test` sets for a third run of the behaviour tests); `None`
/// otherwise.
pub fn hot() -> Option<std::time::Duration> {
    std::env::var("HYPERLIGHT_TEST_HOT").is_ok_and(|v| v == "1").then(|| {
        // Every sandbox of the run may spin (the tests run in parallel).
        hyperlight_host::set_max_hot_sandboxes(1024);
        std::time::Duration::from_millis(2)
    })
}

/// A builder with the defaults, in seccomp mode if [`seccomp`] says so, hot if
/// [`hot`] says so.
pub fn builder() -> SandboxBuilder {
    modes(SandboxBuilder::new())
}

/// `builder` in the modes the test run asks for (see [`builder`]).
#[allow(dead_code)]
pub fn modes<T: Send + 'static>(builder: SandboxBuilder<T>) -> SandboxBuilder<T> {
    let builder = builder.seccomp(seccomp());
    match hot() {
        Some(budget) => builder.hot(budget),
        None => builder,
    }
}

/// Builds `builder` from the guest `name`, after checking that KVM is there.
pub fn build(builder: SandboxBuilder, name: &str) -> Sandbox {
    require_kvm();
    let path = guest_path(name);
    builder.build_from_file(&path).unwrap_or_else(|e| panic!("cannot build a sandbox of {}: {e}", path.display()))
}

/// A sandbox of `simpleguest` with the default configuration.
pub fn simpleguest() -> Sandbox {
    build(builder(), "simpleguest")
}

/// After a failure that poisons the sandbox (a fault, kill, deadline or protocol
/// breach): asserts that it is poisoned and refuses calls, restores `clean`, and
/// asserts that it answers again.
pub fn assert_poisoned_then_restored(sandbox: &mut Sandbox, clean: &hyperlight_host::Snapshot) {
    assert!(sandbox.is_poisoned(), "the failure should poison the sandbox");
    let r = sandbox.call::<i32>("EchoI32", 1);
    assert!(matches!(r, Err(hyperlight_host::CallError::Poisoned)), "{r:?}");
    sandbox.restore(clean).expect("restore clears the poison");
    assert!(!sandbox.is_poisoned());
    assert_works(sandbox);
}

/// Asserts that the sandbox still answers calls (after a failed one).
pub fn assert_works(sandbox: &mut Sandbox) {
    let v: i32 = sandbox.call("EchoI32", 0x5eed_i32).expect("EchoI32 after a failed call");
    assert_eq!(v, 0x5eed, "EchoI32 after a failed call");
}

/// The two test guests with the same functions by the same names: `simpleguest`, in
/// Rust, and `c-simpleguest`, in C on the C API. The behaviour tests run every body
/// against both ([`both_guests!`]), so that the two can never drift apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guest {
    /// `guests/simpleguest`.
    Rust,
    /// `guests/c-simpleguest`.
    C,
}

impl Guest {
    /// The built guest's file name.
    pub fn name(self) -> &'static str {
        match self {
            Guest::Rust => "simpleguest",
            Guest::C => "c-simpleguest",
        }
    }

    /// The path of the built guest (see [`guest_path`]).
    pub fn path(self) -> PathBuf {
        guest_path(self.name())
    }

    /// A sandbox of this guest with the default configuration.
    pub fn sandbox(self) -> Sandbox {
        build(builder(), self.name())
    }

    /// A sandbox of this guest from `builder`.
    pub fn build(self, builder: SandboxBuilder) -> Sandbox {
        build(builder, self.name())
    }
}

// Not every test binary uses it.
#[allow(unused_macros)]
/// Runs each test body against both test guests: `fn name(guest: Guest) { ... }`
/// becomes the tests `name::rust` and `name::c`.
macro_rules! both_guests {
    ($($(#[$meta:meta])* fn $name:ident($guest:ident: Guest) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$meta])*
            // A test's body: clippy allows unwrap in #[test] functions, and this is one.
            #[allow(clippy::unwrap_used)]
            fn body($guest: crate::common::Guest) $body

            #[test]
            fn rust() {
                body(crate::common::Guest::Rust)
            }

            #[test]
            fn c() {
                body(crate::common::Guest::C)
            }
        }
    )*};
}
