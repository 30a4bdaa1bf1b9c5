//! The records the Wasm runtime guest writes, decoded the way hyperlight-wasm decodes
//! them (`hyperlight_wasm_common::decode`): never a panic, and a lossless round trip.
//! The first byte picks the record; the rest is the runtime's answer.
#![no_main]

use hyperlight_wasm_common::{decode, encode, CallOutcome, LoadOutcome, RunOutcome};
use libfuzzer_sys::fuzz_target;

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug + PartialEq>(bytes: &[u8]) {
    let Ok(decoded) = decode::<T>(bytes) else { return };
    let encoded = encode(&decoded);
    let again: T = decode(&encoded).unwrap_or_else(|e| panic!("the encoding of {decoded:?} does not decode: {e}"));
    // NaN floats compare unequal to themselves: compare their encodings then.
    if again != decoded {
        assert_eq!(encode(&again), encoded, "round trip changed {decoded:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else { return };
    match which % 4 {
        0 => round_trip::<LoadOutcome>(bytes),
        1 => round_trip::<CallOutcome>(bytes),
        2 => round_trip::<RunOutcome>(bytes),
        _ => round_trip::<Vec<hyperlight_common::Value>>(bytes),
    }
});
