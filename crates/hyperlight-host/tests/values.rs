//! Every value type crosses the boundary and back unchanged, edge values included;
//! argument lists of many parameters; a single value and a 1-tuple are the same call.

#[macro_use]
mod common;

use hyperlight_host::{CallError, Value, ValueType};

/// Calls `$function` with each value and asserts it comes back equal. A macro, not a
/// generic function: the call's trait bounds (`ReturnType`, `Arguments`) are not
/// re-exported by `hyperlight_host`.
macro_rules! echo_all {
    ($sandbox:expr, $function:literal, $t:ty, [$($v:expr),+ $(,)?]) => {
        $(
            let v: $t = $v;
            let back: $t = $sandbox
                .call($function, v.clone())
                .unwrap_or_else(|e| panic!("{}({:?}): {e}", $function, v));
            assert_eq!(back, v, "{}({:?})", $function, v);
        )+
    };
}

both_guests! {
fn integers_round_trip_including_their_bounds(guest: Guest) {
    let mut sb = guest.sandbox();
    echo_all!(sb, "EchoI32", i32, [0, 1, -1, 42, i32::MIN, i32::MAX]);
    echo_all!(sb, "EchoU32", u32, [0, 1, 0x8000_0000, u32::MAX]);
    echo_all!(sb, "EchoI64", i64, [0, -1, i64::from(i32::MIN) - 1, i64::MIN, i64::MAX]);
    echo_all!(sb, "EchoU64", u64, [0, 1, u64::from(u32::MAX) + 1, u64::MAX]);
}

fn bools_round_trip(guest: Guest) {
    let mut sb = guest.sandbox();
    echo_all!(sb, "EchoBool", bool, [true, false]);
}

/// Floats are compared by bits: NaN != NaN, and -0.0 == 0.0 would hide a lost sign.
fn f32_round_trips_bit_for_bit(guest: Guest) {
    let mut sb = guest.sandbox();
    let values = [
        0.0,
        -0.0,
        1.5,
        -3.25,
        f32::MIN,
        f32::MAX,
        f32::MIN_POSITIVE,
        f32::from_bits(1), // the smallest subnormal
        f32::EPSILON,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7fc0_1234), // a quiet NaN with a payload
    ];
    for v in values {
        let back: f32 = sb.call("EchoF32", v).unwrap_or_else(|e| panic!("EchoF32({v:?}): {e}"));
        assert_eq!(back.to_bits(), v.to_bits(), "EchoF32({v:?}) returned {back:?}");
    }
}

fn f64_round_trips_bit_for_bit(guest: Guest) {
    let mut sb = guest.sandbox();
    let values = [
        0.0,
        -0.0,
        1.5,
        -3.25,
        f64::MIN,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        f64::EPSILON,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff8_0000_dead_beef),
    ];
    for v in values {
        let back: f64 = sb.call("EchoF64", v).unwrap_or_else(|e| panic!("EchoF64({v:?}): {e}"));
        assert_eq!(back.to_bits(), v.to_bits(), "EchoF64({v:?}) returned {back:?}");
    }
}

fn strings_round_trip_empty_and_non_ascii(guest: Guest) {
    let mut sb = guest.sandbox();
    echo_all!(
        sb,
        "EchoString",
        String,
        [
            String::new(),
            "a".to_string(),
            "hello, guest".to_string(),
            "héllo wörld, 日本語, 🦀 and a combining é".to_string(),
            "nul \0 inside, and\nnew\tlines".to_string(),
            "\u{10ffff}\u{fffd}".to_string(),
            "x".repeat(10 << 10),
        ]
    );
}

fn byte_vectors_round_trip_empty_to_10_kib(guest: Guest) {
    let mut sb = guest.sandbox();
    let all_bytes: Vec<u8> = (0..=255).collect();
    let ten_kib: Vec<u8> = (0..10 << 10).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    echo_all!(sb, "EchoBytes", Vec<u8>, [Vec::new(), vec![0], vec![0xff; 3], all_bytes, ten_kib]);
}

fn return_unit_returns_unit(guest: Guest) {
    let mut sb = guest.sandbox();
    let () = sb.call("ReturnUnit", ()).expect("ReturnUnit");
    assert_eq!(sb.call_values("ReturnUnit", vec![]).expect("ReturnUnit, untyped"), Value::Unit);
}

fn add_takes_a_tuple_and_wraps(guest: Guest) {
    let mut sb = guest.sandbox();
    assert_eq!(sb.call::<i32>("Add", (2, 3)).unwrap(), 5);
    assert_eq!(sb.call::<i32>("Add", (-7, 7)).unwrap(), 0);
    assert_eq!(sb.call::<i32>("Add", (i32::MAX, 1)).unwrap(), i32::MIN);
}

fn sum_eight_takes_eight_mixed_parameters(guest: Guest) {
    let mut sb = guest.sandbox();
    // 1 + 2 + 3 + 4 + 0.5 + 0.25 + 1 (true) + 3 (len "abc"): exact in binary.
    let sum: f64 = sb.call("SumEight", (1i32, 2u32, 3i64, 4u64, 0.5f32, 0.25f64, true, "abc".to_string())).unwrap();
    assert_eq!(sum, 14.75);
    let sum: f64 = sb.call("SumEight", (-10i32, 0u32, -5i64, 0u64, -0.5f32, 0.0f64, false, String::new())).unwrap();
    assert_eq!(sum, -15.5);
}

fn concat12_takes_twelve_parameters_in_order(guest: Guest) {
    let mut sb = guest.sandbox();
    let s = |x: &str| x.to_string();
    let joined: String = sb
        .call(
            "Concat12",
            (s("a"), s("b"), s("c"), s("d"), s("e"), s("f"), s("g"), s("h"), s("i"), s("j"), s("k"), s("l")),
        )
        .unwrap();
    assert_eq!(joined, "abcdefghijkl");
    let joined: String = sb
        .call("Concat12", (s(""), s("é"), s(""), s("🦀"), s(""), s(""), s(""), s(""), s(""), s(""), s(""), s("!")))
        .unwrap();
    assert_eq!(joined, "é🦀!");
}

fn single_value_and_one_tuple_are_the_same_call(guest: Guest) {
    let mut sb = guest.sandbox();
    assert_eq!(sb.call::<i32>("EchoI32", 7).unwrap(), 7);
    assert_eq!(sb.call::<i32>("EchoI32", (7,)).unwrap(), 7);
    assert_eq!(sb.call::<String>("EchoString", "one".to_string()).unwrap(), "one");
    assert_eq!(sb.call::<String>("EchoString", ("one".to_string(),)).unwrap(), "one");
}

fn untyped_calls_round_trip_every_value_type(guest: Guest) {
    let mut sb = guest.sandbox();
    let cases = [
        ("EchoI32", Value::I32(i32::MIN)),
        ("EchoU32", Value::U32(u32::MAX)),
        ("EchoI64", Value::I64(i64::MIN)),
        ("EchoU64", Value::U64(u64::MAX)),
        ("EchoF32", Value::F32(-0.0)),
        ("EchoF64", Value::F64(f64::INFINITY)),
        ("EchoBool", Value::Bool(true)),
        ("EchoString", Value::String("ünï".to_string())),
        ("EchoBytes", Value::Bytes(vec![1, 2, 3])),
    ];
    for (function, v) in cases {
        let back = sb.call_values(function, vec![v.clone()]).unwrap_or_else(|e| panic!("{function}: {e}"));
        assert_eq!(back, v, "{function}");
        assert_eq!(back.value_type(), v.value_type());
    }
    // The untyped path checks types too.
    let err = sb.call_values("EchoI32", vec![Value::U32(1)]).unwrap_err();
    assert!(
        matches!(
            &err,
            CallError::ArgumentType { function, index: 0, expected: ValueType::I32, got: ValueType::U32 }
                if function == "EchoI32"
        ),
        "{err:?}"
    );
}
}
