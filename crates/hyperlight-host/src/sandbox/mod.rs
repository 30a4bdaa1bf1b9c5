//! The public lifecycle: [`SandboxBuilder`] creates a [`Sandbox`]; the sandbox runs calls.

pub(crate) mod builder;
pub(crate) mod config;
#[cfg(test)]
mod run_tests;
#[allow(clippy::module_inception)] // sandbox/sandbox.rs holds `Sandbox`, as DESIGN.md lays out
pub(crate) mod sandbox;
pub(crate) mod snapshot;
pub(crate) mod snapshot_file;
pub(crate) mod snapshot_record;
