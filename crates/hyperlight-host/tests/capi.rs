//! The C API as a C guest sees it (`guests/c-simpleguest`): its C runtime (printf,
//! strings, the heap, assert, abort), logging, nested calls, floats through the
//! hard-float ABI, and hostile use of the API, each of which gives a typed error at
//! the host and leaves the sandbox answering. (Everything simpleguest does, the C
//! guest does too: the behaviour tests run against both.)

mod common;

use std::sync::{Arc, Mutex};

use hyperlight_host::{CallError, Caller, Sandbox, SandboxBuilder, ValueType};

use common::{assert_works, Guest};

fn c_guest() -> Sandbox {
    Guest::C.sandbox()
}

/// The same snprintf as `format_cases` in `runtime.c`, as glibc prints it.
const GLIBC_FORMAT_CASES: &str = "-42|   42|42   |00042|+42| 42|ff|0XFF|10|010|4000000000|-9000000000000000000|\
18000000000000000000|12345|44|4464|z|hello|abc|ab    |    ab|      3.14|-2.500    |+0.1|0.333333|1.234568e+05|\
1.230000E-04|5e+10|100000|1e+06|0.0001|1E-05|1.50000|0.667|-003.142|inf|-nan|0x1234|%|2|3.|    x|";

#[test]
fn printf_formats_as_glibc_does() {
    let mut sb = c_guest();
    assert_eq!(sb.call::<String>("FormatCases", ()).unwrap(), GLIBC_FORMAT_CASES);
    // The whole length comes back; the output is cut and terminated.
    assert_eq!(sb.call::<String>("SnprintfTruncates", ()).unwrap(), "14:hello w:5");
}

#[test]
fn string_and_number_functions() {
    let mut sb = c_guest();
    let expected = "abcdefgh,8,1,0,1,defgh,/c,efgh,none,abcdefgh,abc,-31,Z,511,-9223372036854775808,123,5,Q,1,xy,1";
    assert_eq!(sb.call::<String>("Strings", ()).unwrap(), expected);
}

#[test]
fn malloc_calloc_realloc_and_free_keep_every_byte() {
    let mut sb = c_guest();
    assert!(sb.call::<u64>("HeapRounds", 5000u32).unwrap() > 4000);
    // And again, on the heap the first run left behind.
    assert!(sb.call::<u64>("HeapRounds", 5000u32).unwrap() > 4000);
}

#[test]
fn printf_reaches_host_print() {
    let out = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&out);
    let mut sb = Guest::C.build(common::builder().host_print(move |s| sink.lock().unwrap().push_str(s)));
    sb.call::<()>("PrintMany", 2u32).unwrap();
    let long = "é".repeat(2000);
    sb.call::<()>("Print", long.clone()).unwrap();
    assert_eq!(*out.lock().unwrap(), format!("line 0 of 2\nline 1 of 2\n{long}\n"));
}

#[test]
fn assert_is_a_panic_and_abort_an_abort() {
    let mut sb = c_guest();
    match sb.call::<()>("AssertFalse", 1) {
        Err(CallError::GuestPanic { message }) => {
            assert!(message.contains("assertion failed: one == 2") && message.contains("runtime.c"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(sb.call::<()>("CallAbort", ()), Err(CallError::GuestAbort { code: 6, .. })));
    assert_works(&mut sb);
}

#[test]
fn floats_cross_the_abi_in_both_directions() {
    // Arguments and results in SSE registers, arithmetic in the guest: 3 * 2 + 3 / 2
    // + 1.5 * 1.5.
    let mut sb = c_guest();
    assert_eq!(sb.call::<f64>("FloatMath", (3.0f64, 2.0f64, 1.5f32)).unwrap(), 9.75);
    let tiny = f64::from_bits(1);
    assert_eq!(sb.call::<f64>("FloatMath", (tiny, 1.0f64, 0.0f32)).unwrap(), tiny + tiny);
    // Through a host call and back: eight mixed parameters, two of them floats.
    let builder = common::builder().host_function(
        "HostSumEight",
        |a: i32, b: u32, c: i64, d: u64, e: f32, f: f64, g: bool, h: String| {
            f64::from(a)
                + f64::from(b)
                + c as f64
                + d as f64
                + f64::from(e)
                + f
                + f64::from(u8::from(g))
                + h.len() as f64
        },
    );
    let mut sb = Guest::C.build(builder);
    let got: f64 =
        sb.call("CallHostSumEight", (-1i32, 2u32, -3i64, 4u64, 0.5f32, 0.25f64, true, "abc".to_string())).unwrap();
    assert_eq!(got, -1.0 + 2.0 - 3.0 + 4.0 + 0.5 + 0.25 + 1.0 + 3.0);
}

#[test]
fn nested_calls_keep_each_calls_handle_and_arguments() {
    let builder = SandboxBuilder::new()
        .seccomp(common::seccomp())
        .host_function_with_caller("HostRecurse", |caller: &mut Caller<'_, ()>, levels: u32, what: String| {
            caller.call::<u32>("RecurseThen", (levels, what))
        });
    let mut sb = Guest::C.build(builder);
    for levels in [0u32, 1, 5] {
        assert_eq!(sb.call::<u32>("RecurseThen", (levels, "ok".to_string())).unwrap(), levels);
    }
}

/// Calls `name`, expects `GuestFailed` for it naming `api` and containing `what`, and
/// checks that the sandbox answers the next call.
fn misuse(sb: &mut Sandbox, name: &str, api: &str, what: &str) {
    match sb.call::<i32>(name, 7) {
        Err(CallError::GuestFailed { function, message }) if function == name => {
            assert!(message.starts_with(api) && message.contains(what), "{name}: {message}")
        }
        Err(CallError::ArgumentCount { .. }) => match sb.call::<i32>(name, ()) {
            Err(CallError::GuestFailed { function, message }) if function == name => {
                assert!(message.starts_with(api) && message.contains(what), "{name}: {message}")
            }
            other => panic!("{name}: {other:?}"),
        },
        other => panic!("{name}: {other:?}"),
    }
    assert!(!sb.is_poisoned(), "{name}");
    assert_works(sb);
}

#[test]
fn garbage_through_the_api_fails_the_call_with_a_typed_error() {
    let mut sb = Guest::C.build(common::builder().host_function("HostAdd", |a: i32, b: i32| a + b));
    misuse(&mut sb, "BadUtf8Result", "hl_return_string", "not UTF-8 (valid up to byte 2)");
    misuse(&mut sb, "ResultTwice", "hl_return_i32", "already has a result");
    misuse(&mut sb, "NullWithLength", "hl_return_bytes", "null pointer");
    misuse(&mut sb, "UnterminatedMessage", "hl_fail", "no NUL");
    misuse(&mut sb, "ForgedHandle", "hl_return_i32", "hl_call 0x1234 is not a call");
    sb.call::<()>("KeepHandle", ()).unwrap();
    misuse(&mut sb, "StaleHandle", "hl_return_i32", "is not a call that is running");
    misuse(&mut sb, "WrongGetter", "hl_arg_string", "argument 0 read as String, but it is i32");
    misuse(&mut sb, "MissingArgument", "hl_arg_i32", "argument 3 asked for, but the call has 1");
    misuse(&mut sb, "NoHostError", "hl_fail_with_host_error", "no host call has failed");
}

#[test]
fn results_of_the_wrong_type_or_size_are_return_type_and_too_large() {
    let mut sb = c_guest();
    let err = sb.call::<i32>("WrongResultType", ()).unwrap_err();
    assert!(
        matches!(&err, CallError::ReturnType { function, expected: ValueType::I32, got: ValueType::String }
            if function == "WrongResultType"),
        "{err:?}"
    );
    let err = sb.call::<i32>("NoResult", ()).unwrap_err();
    assert!(matches!(&err, CallError::ReturnType { expected: ValueType::I32, got: ValueType::Unit, .. }), "{err:?}");
    let err = sb.call::<Vec<u8>>("HugeLength", ()).unwrap_err();
    assert!(
        matches!(&err, CallError::TooLarge { what, size, .. } if what == "result of HugeLength" && *size > 1 << 60),
        "{err:?}"
    );
    assert_works(&mut sb);
}

#[test]
fn host_calls_with_garbage_never_reach_the_host() {
    let calls = Arc::new(Mutex::new(0u32));
    let (a, e) = (Arc::clone(&calls), Arc::clone(&calls));
    let builder = common::builder()
        .host_function("HostAdd", move |x: i32, y: i32| {
            *a.lock().unwrap() += 1;
            x + y
        })
        .host_function("HostEcho", move |s: String| {
            *e.lock().unwrap() += 1;
            s
        });
    let mut sb = Guest::C.build(builder);
    const INVALID_ARGUMENT: i32 = 8;
    const TOO_LARGE: i32 = 6;
    for kind in ["type_code", "argument_type", "unit_argument", "utf8", "null_name", "null_args", "too_many"] {
        assert_eq!(sb.call::<i32>("HostCallMisuse", kind.to_string()).unwrap(), INVALID_ARGUMENT, "{kind}");
    }
    assert_eq!(sb.call::<i32>("HostCallMisuse", "huge_string".to_string()).unwrap(), TOO_LARGE);
    assert_eq!(*calls.lock().unwrap(), 0, "no host function ran");
    match sb.call::<i32>("HostCallMisuse", "pass_on".to_string()) {
        Err(CallError::GuestFailed { message, .. }) => assert!(message.contains("99 is not an hl_type"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(sb.call::<i32>("CallHostAdd", (1, 2)).unwrap(), 3);
}

#[test]
fn heap_misuse_and_late_registration_stop_the_guest_and_it_answers_again() {
    let mut sb = c_guest();
    for name in ["BadFree", "DoubleFree"] {
        match sb.call::<()>(name, ()) {
            Err(CallError::GuestAbort { code: 6, message }) => assert!(message.contains("not a block from malloc")),
            other => panic!("{name}: {other:?}"),
        }
        assert_works(&mut sb);
    }
    assert!(matches!(sb.call::<()>("RegisterLate", ()), Err(CallError::GuestPanic { .. })));
    assert_works(&mut sb);
}

#[test]
fn the_c_guest_reports_its_function_table() {
    let sb = c_guest();
    let table = sb.functions().expect("a C guest reports a table");
    let sum = table.iter().find(|f| f.name == "SumEight").expect("SumEight");
    assert_eq!(sum.to_string(), "fn SumEight(i32, u32, i64, u64, f32, f64, bool, String) -> f64");
    // The same table as simpleguest's, for every function both have.
    let rust = Guest::Rust.sandbox();
    for f in rust.functions().expect("simpleguest's table") {
        if let Some(c) = table.iter().find(|c| c.name == f.name) {
            assert_eq!(c, f, "{}", f.name);
        }
    }
}
