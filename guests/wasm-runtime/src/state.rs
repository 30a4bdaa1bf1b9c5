//! [`State`]: what the store keeps beside the instance, for host functions and WASI.

use alloc::string::String;
use alloc::vec::Vec;

use hyperlight_wasm_common::{CallFailure, ImportDecl};
use wasmi::{Memory, TypedFunc};

use crate::limits::Limits;
use crate::wasi::Wasi;

/// The store's data.
pub struct State {
    /// Linear memory and table limits.
    pub limits: Limits,
    /// The host functions, by import index.
    pub imports: Vec<ImportDecl>,
    /// The module's exported memory, once instantiated.
    pub memory: Option<Memory>,
    /// The module's allocator export, once instantiated.
    pub alloc: Option<TypedFunc<i32, i32>>,
    /// The module's optional free export.
    pub free: Option<TypedFunc<(i32, i32), ()>>,
    /// Why a host function stopped the call, when it did: a trap from a host
    /// function carries no type of its own through the engine, so it is kept here.
    pub failure: Option<CallFailure>,
    /// WASI's arguments, environment and output buffer.
    pub wasi: Wasi,
}

impl State {
    /// A fresh state for a module with these host functions.
    pub fn new(imports: Vec<ImportDecl>, max_memory: u64) -> State {
        State {
            limits: Limits::new(max_memory),
            imports,
            memory: None,
            alloc: None,
            free: None,
            failure: None,
            wasi: Wasi::default(),
        }
    }

    /// Records why a host function stopped the call, and returns the engine error
    /// that unwinds it.
    pub fn fail(&mut self, failure: CallFailure) -> wasmi::Error {
        self.failure = Some(failure);
        wasmi::Error::new(String::from("stopped by the host side of an import"))
    }
}
