//! What both examples need: where the guests are.

use std::path::PathBuf;

/// The built guest `name` (`cargo xtask guests`), or `HYPERLIGHT_GUESTS_DIR`'s.
pub fn guest(name: &str) -> PathBuf {
    std::env::var_os("HYPERLIGHT_GUESTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../guests/target/x86_64-unknown-none/release")
        })
        .join(name)
}
