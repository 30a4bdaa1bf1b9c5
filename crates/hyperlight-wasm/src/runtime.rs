//! Finding the Wasm runtime guest (`guests/wasm-runtime`, built by `cargo xtask
//! guests`).
//!
//! Looked for, in order:
//!
//! 1. the path given to [`WasmSandboxBuilder::runtime_path`](crate::WasmSandboxBuilder::runtime_path);
//! 2. the file named by the environment variable `HYPERLIGHT_WASM_RUNTIME`;
//! 3. `wasm-runtime` in the directory named by `HYPERLIGHT_GUESTS_DIR` (which the
//!    project's xtask sets for tests, benches and examples);
//! 4. `wasm-runtime` where `cargo xtask guests` puts it in this source tree.
//!
//! Why not a build script that builds and embeds it: the guest is another target
//! (with its own workspace, lock file, profile and panic strategy); a nested cargo
//! inside this crate's build would fight the outer one for the build lock, hide the
//! guest's build errors, and build it once more in every target directory. The xtask
//! already is the one way guests are built; an application deploys the runtime file
//! next to itself (or anywhere, with the variable or the builder).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::WasmBuildError;

/// The file name of the runtime guest.
pub const RUNTIME_FILE: &str = "wasm-runtime";

/// Where `cargo xtask guests` puts the runtime in this source tree.
const SOURCE_TREE_RUNTIME: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../guests/target/x86_64-unknown-none/release/wasm-runtime");

/// The candidate paths, in order.
pub(crate) fn candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![p.to_path_buf()];
    }
    let mut paths = Vec::new();
    if let Some(p) = std::env::var_os("HYPERLIGHT_WASM_RUNTIME") {
        paths.push(PathBuf::from(p));
    }
    if let Some(dir) = std::env::var_os("HYPERLIGHT_GUESTS_DIR") {
        paths.push(PathBuf::from(dir).join(RUNTIME_FILE));
    }
    paths.push(PathBuf::from(SOURCE_TREE_RUNTIME));
    paths
}

/// The runtime's bytes, read once per path and process.
pub(crate) fn load(explicit: Option<&Path>) -> Result<(PathBuf, Arc<[u8]>), WasmBuildError> {
    static CACHE: Mutex<Vec<(PathBuf, Arc<[u8]>)>> = Mutex::new(Vec::new());
    let searched = candidates(explicit);
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    for path in &searched {
        if let Some((_, bytes)) = cache.iter().find(|(p, _)| p == path) {
            return Ok((path.clone(), Arc::clone(bytes)));
        }
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes: Arc<[u8]> = bytes.into();
                cache.push((path.clone(), Arc::clone(&bytes)));
                return Ok((path.clone(), bytes));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(WasmBuildError::ReadFile { path: path.clone(), source }),
        }
    }
    Err(WasmBuildError::RuntimeNotFound { searched })
}
