//! The test guest: one guest function per runtime feature, called by the host's
//! integration tests by these exact names.
//!
//! - `echo`: every value type there and back;
//! - `args`: many parameters;
//! - `host_calls`: calls into the host, and errors coming back from it;
//! - `output`: `print!`;
//! - `failures`: panics and errors;
//! - `memory`: the heap, large results, and state kept between calls;
//! - `faults`: CPU exceptions of every kind, and a guest that never returns;
//! - `state`: heap allocations and SSE state kept between calls (for snapshots);
//! - `reentry`: calls back into the guest from a host function, to any depth;
//! - `attributed`: functions registered by `#[guest_function]`, not in init.
#![no_std]
#![no_main]

extern crate alloc;

mod args;
mod attributed;
mod dirty;
mod echo;
mod failures;
mod faults;
mod host_calls;
mod memory;
mod output;
mod reentry;
mod state;

hyperlight_guest::main!(init);

fn init() {
    echo::register();
    args::register();
    host_calls::register();
    output::register();
    failures::register();
    memory::register();
    memory::register_regions();
    faults::register();
    state::register();
    dirty::register();
    reentry::register();
}
