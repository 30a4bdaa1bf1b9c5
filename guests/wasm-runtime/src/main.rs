//! The WebAssembly runtime guest of `hyperlight-wasm`: the wasmi interpreter inside a
//! hyperlight micro-VM.
//!
//! The host sends the module's bytes once ([`LOAD_FUNCTION`]); the guest validates,
//! links and instantiates it (translating every function eagerly, so that a snapshot
//! taken after the load holds the ready code and no request pays for translation),
//! then serves export calls ([`CALL_FUNCTION`]) and WASI command runs
//! ([`RUN_FUNCTION`]). The records are those of `hyperlight-wasm-common`; every trap
//! and link failure comes back as a typed record, never as a guest panic.
#![no_std]
#![no_main]

extern crate alloc;

mod call;
mod exchange;
mod imports;
mod limits;
mod load;
mod log;
mod state;
mod trap;
mod wasi;

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use hyperlight_guest::register_function;
use hyperlight_wasm_common::{encode, CALL_FUNCTION, LOAD_FUNCTION, RUN_FUNCTION};

use crate::load::Loaded;

// The hard-float build links what x86_64-unknown-linux-gnu's core leaves to libc.
#[cfg(feature = "hardfloat")]
use hardfloat_support as _;

hyperlight_guest::main!(init);

fn init() {
    // The one loaded module, shared by the three guest functions. A guest is single
    // threaded and calls do not nest, so a `RefCell` borrow never fails here.
    let loaded: Rc<RefCell<Option<Loaded>>> = Rc::default();
    let slot = Rc::clone(&loaded);
    register_function(LOAD_FUNCTION, move |request: Vec<u8>| -> Vec<u8> {
        let outcome = load::load(&request).map(|loaded| {
            let info = loaded.info.clone();
            *slot.borrow_mut() = Some(loaded);
            info
        });
        encode(&outcome)
    });
    let slot = Rc::clone(&loaded);
    register_function(CALL_FUNCTION, move |request: Vec<u8>| -> Vec<u8> {
        encode(&call::call(slot.borrow_mut().as_mut(), &request))
    });
    register_function(RUN_FUNCTION, move |request: Vec<u8>| -> Vec<u8> {
        encode(&call::run(loaded.borrow_mut().as_mut(), &request))
    });
}
