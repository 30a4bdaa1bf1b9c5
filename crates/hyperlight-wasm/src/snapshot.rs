//! `WasmSnapshot`: a Wasm sandbox frozen between calls, exactly as native snapshots.
//!
//! Taken after the load, a snapshot holds the instantiated module (translated code,
//! linear memory, globals, tables): restoring it gives the next request a clean
//! instance for the cost of the pages the last one wrote, and
//! [`WasmSandbox::from_snapshot`] makes more sandboxes of it without copying.

use std::sync::{Arc, Mutex};

use hyperlight_host::{Sandbox, Snapshot};

use crate::error::WasmSnapshotError;

use crate::host_functions::WasmHostFunctions;
use crate::sandbox::{ModuleMeta, WasmSandbox};
use crate::wasi::{Io, WasiConfig};

/// A frozen Wasm sandbox: the VM's snapshot and what the host knows of the module.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct WasmSnapshot {
    snapshot: Snapshot,
    module: Arc<ModuleMeta>,
    functions: WasmHostFunctions,
    wasi: WasiConfig,
    fuel: Option<u64>,
}

impl WasmSnapshot {
    /// The host functions the module was linked with (for
    /// [`WasmSandbox::from_snapshot`]).
    pub fn host_functions(&self) -> &WasmHostFunctions {
        &self.functions
    }

    /// The snapshot of the VM underneath.
    pub fn vm_snapshot(&self) -> &Snapshot {
        &self.snapshot
    }
}

impl WasmSandbox {
    /// Freezes the sandbox as it is now, between calls (see
    /// [`Sandbox::snapshot`](hyperlight_host::Sandbox::snapshot)).
    pub fn snapshot(&mut self) -> Result<WasmSnapshot, WasmSnapshotError> {
        let snapshot = self.sandbox_mut().snapshot()?;
        let (_, module, functions, io, fuel) = self.parts();
        let wasi = io.lock().unwrap_or_else(std::sync::PoisonError::into_inner).config.clone();
        Ok(WasmSnapshot { snapshot, module: Arc::clone(module), functions: functions.clone(), wasi, fuel })
    }

    /// Puts the sandbox back exactly as it was when `snapshot` was taken: the
    /// instance's memory, globals and tables, the engine, the whole VM. Also clears a
    /// poisoned sandbox. A snapshot of another module is refused with
    /// [`WasmSnapshotError::OtherModule`] and the sandbox is left as it was.
    pub fn restore(&mut self, snapshot: &WasmSnapshot) -> Result<(), WasmSnapshotError> {
        if self.parts().1.id != snapshot.module.id {
            return Err(WasmSnapshotError::OtherModule);
        }
        Ok(self.sandbox_mut().restore(&snapshot.snapshot)?)
    }

    /// A new, independent sandbox in the state of `snapshot`, with the host functions
    /// `functions` (usually `snapshot.host_functions().clone()`), sharing the
    /// snapshot's pages copy-on-write and reusing a pooled VM when there is one.
    ///
    /// Every import the module was linked with must be in `functions` with the same
    /// signature; else [`WasmSnapshotError::MissingHostFunction`].
    pub fn from_snapshot(
        snapshot: &WasmSnapshot,
        functions: WasmHostFunctions,
    ) -> Result<WasmSandbox, WasmSnapshotError> {
        let table = functions
            .table(&snapshot.module.imports)
            .map_err(|d| WasmSnapshotError::MissingHostFunction { module: d.module, name: d.name })?;
        let io = Arc::new(Mutex::new(Io { config: snapshot.wasi.clone(), capture: None }));
        let host = crate::wasi::host_functions(Arc::new(table), &io);
        let sandbox = Sandbox::from_snapshot(&snapshot.snapshot, host)?;
        Ok(WasmSandbox::assemble(sandbox, Arc::clone(&snapshot.module), functions, io, snapshot.fuel))
    }
}
