//! The built-in `env.log(level: i32, ptr: i32, len: i32)` import: a module's log
//! record, sent to the host's `tracing` like every guest record (module `wasm`).
//!
//! It is linked only when the module imports `env.log` with that signature and the
//! host declared no `env.log` of its own. `level` is 1 (error) to 5 (trace), clamped
//! into that range; the text is UTF-8 (invalid bytes are replaced) at `ptr` in the
//! module's exported memory. A record the host does not want is dropped before its
//! text is read: it costs no VM exit.

use alloc::string::String;

use hyperlight_guest::LogLevel;
use hyperlight_wasm_common::{ImportDecl, MEMORY_EXPORT};
use wasmi::{Caller, ExternType, FuncType, Linker, Module, ValType};

use crate::state::State;

const MODULE: &str = "env";
const NAME: &str = "log";

fn func_type() -> FuncType {
    FuncType::new([ValType::I32, ValType::I32, ValType::I32], [])
}

/// Whether the built-in serves this import of the module.
pub fn serves(module: &str, name: &str, ty: &ExternType, provided: &[ImportDecl]) -> bool {
    module == MODULE
        && name == NAME
        && matches!(ty, ExternType::Func(f) if *f == func_type())
        && !provided.iter().any(|d| d.module == MODULE && d.name == NAME)
}

/// Links the built-in if the module imports it (see [`serves`]).
pub fn define(linker: &mut Linker<State>, module: &Module, provided: &[ImportDecl]) -> Result<(), String> {
    if !module.imports().any(|i| serves(i.module(), i.name(), i.ty(), provided)) {
        return Ok(());
    }
    linker.func_wrap(MODULE, NAME, log).map(|_| ()).map_err(|e| alloc::format!("{e}"))
}

#[allow(clippy::cast_sign_loss)] // pointers and lengths are u32 in Wasm
fn log(caller: Caller<'_, State>, level: i32, ptr: i32, len: i32) {
    let level = LogLevel::from_u32(level.clamp(1, 5) as u32).unwrap_or(LogLevel::Trace);
    if !hyperlight_guest::log_enabled(level) {
        return;
    }
    let Some(memory) = caller.get_export(MEMORY_EXPORT).and_then(|e| e.into_memory()) else { return };
    let data = memory.data(&caller);
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    let Some(bytes) = start.checked_add(len).and_then(|end| data.get(start..end)) else { return };
    let text = String::from_utf8_lossy(bytes);
    hyperlight_guest::log_at(level, &text, "wasm", "", 0);
}
