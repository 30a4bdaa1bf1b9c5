//! Loading a module: validate, check the imports, link, instantiate.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use hyperlight_wasm_common::{
    decode, ExportInfo, LoadFailure, LoadRequest, ModuleInfo, WasmType, ALLOC_EXPORT, FREE_EXPORT, MEMORY_EXPORT,
    WASI_MODULE, WASM_ABI_VERSION,
};
use wasmi::{CompilationMode, Config, Engine, ExternType, Instance, Linker, Module, Store, ValType};

use crate::imports;
use crate::state::State;

/// An instantiated module and its store.
pub struct Loaded {
    pub store: Store<State>,
    pub instance: Instance,
    pub info: ModuleInfo,
}

/// Handles one [`LoadRequest`].
pub fn load(request: &[u8]) -> Result<Loaded, hyperlight_wasm_common::LoadFailure> {
    let request: LoadRequest = decode(request).map_err(|e| LoadFailure::BadRequest { detail: e.to_string() })?;
    if request.version != WASM_ABI_VERSION {
        return Err(LoadFailure::Version { guest: WASM_ABI_VERSION, host: request.version });
    }
    let mut config = Config::default();
    config
        .consume_fuel(true)
        // Translate every function now: the host snapshots after the load, and lazy
        // translation would make every request after a restore translate again.
        .compilation_mode(CompilationMode::Eager)
        .set_max_recursion_depth(usize::try_from(request.max_call_depth).unwrap_or(usize::MAX));
    let engine = Engine::new(&config);
    let module = Module::new(&engine, &request.module).map_err(|e| LoadFailure::Invalid { message: e.to_string() })?;
    drop(request.module);

    check_imports(&module, &request.imports, request.wasi)?;
    let mut linker = Linker::<State>::new(&engine);
    imports::define(&mut linker, &request.imports).map_err(|message| LoadFailure::Instantiation { message })?;
    crate::log::define(&mut linker, &module, &request.imports)
        .map_err(|message| LoadFailure::Instantiation { message })?;
    let wasi_unsupported = if request.wasi {
        crate::wasi::define(&mut linker, &module).map_err(|(name, found)| LoadFailure::ImportType {
            module: String::from(WASI_MODULE),
            name,
            expected: String::from("a WASI preview 1 function returning an errno (i32)"),
            found,
        })?
    } else {
        Vec::new()
    };

    let mut store = Store::new(&engine, State::new(request.imports, request.max_memory));
    store.limiter(|state| &mut state.limits);
    store.data_mut().wasi.stderr_log = hyperlight_guest::LogLevel::from_u32(request.stderr_log);
    // The start function runs without a fuel limit (the host's deadline still applies).
    let _ = store.set_fuel(u64::MAX);
    let instance = match linker.instantiate_and_start(&mut store, &module) {
        Ok(instance) => instance,
        Err(e) => {
            let message = e.to_string();
            if store.data().failure.is_some() || e.as_trap_code().is_some() {
                let trap = crate::trap::trap_kind(&e, store.data_mut(), None);
                let message = match store.data_mut().failure.take() {
                    Some(f) => format!("{f:?}"),
                    None => message,
                };
                return Err(LoadFailure::StartTrapped { trap, message });
            }
            return Err(LoadFailure::Instantiation { message });
        }
    };
    store.data_mut().wasi.flush();
    let state_memory = instance.get_memory(&store, MEMORY_EXPORT);
    let alloc = instance.get_typed_func::<i32, i32>(&store, ALLOC_EXPORT).ok();
    let free = instance.get_typed_func::<(i32, i32), ()>(&store, FREE_EXPORT).ok();
    let state = store.data_mut();
    state.memory = state_memory;
    state.alloc = alloc;
    state.free = free;

    let exports = module
        .exports()
        .filter_map(|e| match e.ty() {
            ExternType::Func(ty) => Some(ExportInfo {
                name: e.name().to_string(),
                params: ty.params().iter().map(|t| wasm_type(*t)).collect(),
                results: ty.results().iter().map(|t| wasm_type(*t)).collect(),
            }),
            _ => None,
        })
        .collect::<Vec<_>>();
    let command = exports.iter().any(|e| e.name == "_start");
    Ok(Loaded { store, instance, info: ModuleInfo { exports, command, wasi_unsupported } })
}

/// Checks every import of `module` before linking, so that a missing or mistyped
/// one is named in the error (the linker alone would only say "cannot find").
fn check_imports(
    module: &Module,
    provided: &[hyperlight_wasm_common::ImportDecl],
    wasi: bool,
) -> Result<(), LoadFailure> {
    for import in module.imports() {
        if wasi && import.module() == WASI_MODULE {
            continue;
        }
        if crate::log::serves(import.module(), import.name(), import.ty(), provided) {
            continue;
        }
        let kind = match import.ty() {
            ExternType::Func(_) => "function",
            ExternType::Memory(_) => "memory",
            ExternType::Table(_) => "table",
            ExternType::Global(_) => "global",
        };
        let decl = provided.iter().find(|d| d.module == import.module() && d.name == import.name());
        let (Some(decl), ExternType::Func(found)) = (decl, import.ty()) else {
            return Err(LoadFailure::UnknownImport {
                module: import.module().to_string(),
                name: import.name().to_string(),
                kind: kind.to_string(),
            });
        };
        let expected = imports::func_type(decl);
        if &expected != found {
            return Err(LoadFailure::ImportType {
                module: import.module().to_string(),
                name: import.name().to_string(),
                expected: imports::describe(&expected),
                found: imports::describe(found),
            });
        }
    }
    Ok(())
}

pub fn wasm_type(t: ValType) -> WasmType {
    match t {
        ValType::I32 => WasmType::I32,
        ValType::I64 => WasmType::I64,
        ValType::F32 => WasmType::F32,
        ValType::F64 => WasmType::F64,
        ValType::V128 => WasmType::V128,
        ValType::FuncRef => WasmType::FuncRef,
        ValType::ExternRef => WasmType::ExternRef,
    }
}
