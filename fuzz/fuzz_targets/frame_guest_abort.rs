//! The output buffer after a hostile guest wrote it, decoded as a [`GuestAbort`] the way
//! the host's run loop does: never a panic, and a lossless round trip.
#![no_main]

use hyperlight_common::GuestAbort;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|buffer: &[u8]| hyperlight_fuzz::check_frame::<GuestAbort>(buffer));
