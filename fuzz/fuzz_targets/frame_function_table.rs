//! The output buffer after a hostile guest wrote it, decoded as the [`FunctionTable`] a guest reports at init the
//! way the host does: never a panic, and a lossless round trip.
#![no_main]

use hyperlight_common::FunctionTable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|buffer: &[u8]| hyperlight_fuzz::check_frame::<FunctionTable>(buffer));
