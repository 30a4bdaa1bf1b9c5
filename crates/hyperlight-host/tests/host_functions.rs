//! Host functions as the guest sees them: typed closures of any arity, their errors
//! carried back through the guest, the host's checks of what the guest sends, state
//! captured by closures, and the guest's `println!` through `host_print`.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hyperlight_host::{CallError, HostFunctions, SandboxBuilder, ValueType};

use common::{assert_works, build};

/// simpleguest with `HostAdd` and `HostEcho` registered.
fn with_add_and_echo() -> SandboxBuilder {
    common::builder()
        .host_function("HostAdd", |a: i32, b: i32| a.wrapping_add(b))
        .host_function("HostEcho", |s: String| s)
}

both_guests! {
fn guest_calls_host_functions_of_zero_one_and_two_parameters(guest: Guest) {
    let builder = with_add_and_echo().host_function("Weekday", || "Thursday".to_string());
    let mut sb = guest.build(builder);
    assert_eq!(sb.call::<i32>("CallHostAdd", (2, 3)).unwrap(), 5);
    assert_eq!(sb.call::<i32>("CallHostAdd", (i32::MAX, 1)).unwrap(), i32::MIN);
    assert_eq!(sb.call::<String>("CallHostEcho", "héllo 🦀".to_string()).unwrap(), "héllo 🦀");
    assert_eq!(sb.call::<String>("CallHostEcho", String::new()).unwrap(), "");
    assert_eq!(sb.call::<String>("CallHostNamed", "Weekday".to_string()).unwrap(), "Thursday");
    assert_eq!(sb.call::<i32>("CallHostTwice", 40).unwrap(), 42);
}

/// simpleguest only calls host functions of 0 to 2 parameters; closures of every
/// arity up to 12, with mixed types, must still register with their exact signature.
fn closures_of_every_arity_register_with_their_parameter_types(guest: Guest) {
    use ValueType::{Bool, Bytes, F32, F64, I32, I64, U32, U64};
    let str_ = ValueType::String;
    let mut f = HostFunctions::new();
    f.register("P0", || 0u64);
    f.register("P1", |a: bool| a);
    f.register("P3", |a: i32, b: u32, c: i64| i64::from(a) + i64::from(b) + c);
    f.register("P8", |a: i32, b: u32, c: i64, d: u64, e: f32, g: f64, h: bool, i: String| {
        format!("{a}{b}{c}{d}{e}{g}{h}{i}")
    });
    f.register(
        "P12",
        |a: i32,
         b: u32,
         c: i64,
         d: u64,
         e: f32,
         g: f64,
         h: bool,
         i: String,
         j: Vec<u8>,
         k: i32,
         l: u64,
         m: String|
         -> Result<Vec<u8>, String> {
            let _ = (a, b, c, d, e, g, h, i, k, l, m);
            Ok(j)
        },
    );
    assert_eq!(f.parameters("P0"), Some(&[][..]));
    assert_eq!(f.parameters("P1"), Some(&[Bool][..]));
    assert_eq!(f.parameters("P3"), Some(&[I32, U32, I64][..]));
    assert_eq!(f.parameters("P8"), Some(&[I32, U32, I64, U64, F32, F64, Bool, str_][..]));
    assert_eq!(f.parameters("P12"), Some(&[I32, U32, I64, U64, F32, F64, Bool, str_, Bytes, I32, U64, str_][..]));
    assert_eq!(f.parameters("Nope"), None);
    assert!(f.contains("HostPrint"), "every set starts with the default print function");

    // A sandbox built with this set still has them, and still answers calls.
    let builder = common::builder().host_functions(f).host_function("HostAdd", |a: i32, b: i32| a + b);
    let mut sb = guest.build(builder);
    assert_eq!(sb.call::<i32>("CallHostAdd", (20, 22)).unwrap(), 42);
    // A 0-parameter host function returning u64, through a guest that expects a String:
    // the guest's call_host reports the mismatch, naming the host function.
    let err = sb.call::<String>("CallHostNamed", "P0".to_string()).unwrap_err();
    assert!(
        matches!(&err, CallError::ReturnType { function, expected: ValueType::String, got: ValueType::U64 }
            if function == "P0"),
        "{err:?}"
    );
    assert_works(&mut sb);
}

fn host_function_error_reaches_the_caller_with_its_message(guest: Guest) {
    let builder = with_add_and_echo()
        .host_function("HostFail", |msg: String| -> Result<(), String> { Err(format!("host refused: {msg}")) });
    let mut sb = guest.build(builder);
    let err = sb.call::<()>("CallHostFail", "bad input ✗".to_string()).unwrap_err();
    assert!(
        matches!(&err, CallError::HostFunctionFailed { name, message }
            if name == "HostFail" && message == "host refused: bad input ✗"),
        "{err:?}"
    );
    assert_eq!(sb.call::<i32>("CallHostAdd", (1, 2)).unwrap(), 3);
    assert_works(&mut sb);
}

fn unregistered_host_function_is_host_function_not_found(guest: Guest) {
    // No HostAdd, no HostEcho.
    let mut sb = guest.build(common::builder());
    let err = sb.call::<i32>("CallHostAdd", (1, 2)).unwrap_err();
    assert!(matches!(&err, CallError::HostFunctionNotFound { name } if name == "HostAdd"), "{err:?}");
    assert_works(&mut sb);
    let err = sb.call::<String>("CallHostNamed", "NoSuchHostFunction".to_string()).unwrap_err();
    assert!(matches!(&err, CallError::HostFunctionNotFound { name } if name == "NoSuchHostFunction"), "{err:?}");
    // Names are exact: no case folding.
    let err = sb.call::<String>("CallHostNamed", "hostprint".to_string()).unwrap_err();
    assert!(matches!(&err, CallError::HostFunctionNotFound { name } if name == "hostprint"), "{err:?}");
    assert_works(&mut sb);
}

fn wrong_argument_types_from_the_guest_are_refused_before_the_host_function_runs(guest: Guest) {
    let calls = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&calls);
    let builder = common::builder().host_function("HostAdd", move |a: i32, b: i32| {
        seen.fetch_add(1, Ordering::SeqCst);
        a + b
    });
    let mut sb = guest.build(builder);
    let err = sb.call::<i32>("CallHostAddWrongTypes", ()).unwrap_err();
    assert!(
        matches!(&err, CallError::ArgumentType { function, index: 0, expected: ValueType::I32, got: ValueType::String }
            if function == "HostAdd"),
        "{err:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0, "HostAdd must not run with bad arguments");
    assert_eq!(sb.call::<i32>("CallHostAdd", (4, 5)).unwrap(), 9);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

fn wrong_argument_count_from_the_guest_is_refused_before_the_host_function_runs(guest: Guest) {
    let calls = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&calls);
    let builder = common::builder()
        .host_function("HostAdd", move |a: i32, b: i32| {
            seen.fetch_add(1, Ordering::SeqCst);
            a + b
        })
        .host_function("TakesOne", |s: String| s);
    let mut sb = guest.build(builder);
    let err = sb.call::<i32>("CallHostAddWrongCount", ()).unwrap_err();
    assert!(
        matches!(&err, CallError::ArgumentCount { function, expected: 2, got: 1 } if function == "HostAdd"),
        "{err:?}"
    );
    // CallHostNamed passes no arguments at all.
    let err = sb.call::<String>("CallHostNamed", "TakesOne".to_string()).unwrap_err();
    assert!(
        matches!(&err, CallError::ArgumentCount { function, expected: 1, got: 0 } if function == "TakesOne"),
        "{err:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0, "HostAdd must not run with bad arguments");
    assert_eq!(sb.call::<i32>("CallHostAdd", (4, 5)).unwrap(), 9);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

fn closures_capturing_state_see_every_call(guest: Guest) {
    let count = Arc::new(AtomicU64::new(0));
    let total = Arc::new(AtomicU64::new(0));
    let (c, t) = (Arc::clone(&count), Arc::clone(&total));
    let builder = common::builder().host_function("HostAdd", move |a: i32, b: i32| {
        c.fetch_add(1, Ordering::SeqCst);
        t.fetch_add(u64::from(a.unsigned_abs()), Ordering::SeqCst);
        a + b
    });
    let mut sb = guest.build(builder);
    for i in 0..10 {
        assert_eq!(sb.call::<i32>("CallHostAdd", (i, 100)).unwrap(), i + 100);
    }
    for i in 0..5 {
        assert_eq!(sb.call::<i32>("CallHostTwice", i).unwrap(), i + 2);
    }
    // 10 single calls plus 5 double ones.
    assert_eq!(count.load(Ordering::SeqCst), 20);
    // sum 0..10, then for CallHostTwice(i): HostAdd(i, 1) and HostAdd(i + 1, 1).
    let twice: u64 = (0..5u64).map(|i| 2 * i + 1).sum();
    assert_eq!(total.load(Ordering::SeqCst), 45 + twice);
}
}

/// A `host_print` that appends everything the guest prints to a shared string.
fn capture() -> (SandboxBuilder, Arc<Mutex<String>>) {
    let out = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&out);
    let builder = common::builder().host_print(move |s| sink.lock().expect("no test panics holding it").push_str(s));
    (builder, out)
}

both_guests! {
fn host_print_captures_the_guests_println_exactly(guest: Guest) {
    let (builder, out) = capture();
    let mut sb = guest.build(builder);
    let () = sb.call("Print", "hello from the guest".to_string()).unwrap();
    assert_eq!(*out.lock().unwrap(), "hello from the guest\n");
    out.lock().unwrap().clear();

    let () = sb.call("Print", "ünïcode 🦀 and\ttabs".to_string()).unwrap();
    let () = sb.call("Print", String::new()).unwrap();
    assert_eq!(*out.lock().unwrap(), "ünïcode 🦀 and\ttabs\n\n");
    out.lock().unwrap().clear();

    let () = sb.call("PrintMany", 3u32).unwrap();
    assert_eq!(*out.lock().unwrap(), "line 0 of 3\nline 1 of 3\nline 2 of 3\n");
    out.lock().unwrap().clear();

    let () = sb.call("PrintMany", 0u32).unwrap();
    assert_eq!(*out.lock().unwrap(), "");
}
}

#[test]
fn hello_guest_greets_through_its_host_function_and_prints() {
    let (builder, out) = capture();
    let mut sb = build(builder.host_function("GetWeekday", || "Monday".to_string()), "hello");
    let greeting: String = sb.call("SayHello", "World".to_string()).unwrap();
    assert_eq!(greeting, "Hello, World! Today is Monday.");
    assert_eq!(*out.lock().unwrap(), "hello guest: greeting World on a Monday\n");
}

both_guests! {
fn default_host_print_writes_to_stdout_without_failing_the_call(guest: Guest) {
    let mut sb = guest.build(common::builder());
    let () = sb.call("Print", "simpleguest printing through the default HostPrint".to_string()).unwrap();
    let () = sb.call("PrintMany", 2u32).unwrap();
    assert_works(&mut sb);
}

fn each_host_call_failure_leaves_the_sandbox_usable(guest: Guest) {
    let builder = with_add_and_echo().host_function("HostFail", |m: String| -> Result<(), String> { Err(m) });
    let mut sb = guest.build(builder);
    for _ in 0..3 {
        assert!(matches!(sb.call::<()>("CallHostFail", "x".to_string()), Err(CallError::HostFunctionFailed { .. })));
        assert_eq!(sb.call::<String>("CallHostEcho", "ok".to_string()).unwrap(), "ok");
        assert!(matches!(sb.call::<i32>("CallHostAddWrongTypes", ()), Err(CallError::ArgumentType { .. })));
        assert_eq!(sb.call::<i32>("CallHostTwice", 1).unwrap(), 3);
        assert!(matches!(sb.call::<i32>("CallHostAddWrongCount", ()), Err(CallError::ArgumentCount { .. })));
        assert!(matches!(
            sb.call::<String>("CallHostNamed", "Missing".to_string()),
            Err(CallError::HostFunctionNotFound { .. })
        ));
        assert_works(&mut sb);
    }
}

/// Fails today (a host bug): a host function's panic unwinds out of `Sandbox::call`
/// and leaves the guest waiting for the host call's reply; the next call's arguments
/// are then taken for that reply, and the next call fails with a protocol error.
fn a_panicking_host_function_does_not_garble_the_next_call(guest: Guest) {
    let builder = common::builder().host_function("HostAdd", |a: i32, b: i32| {
        assert_ne!(a, 13, "host function refuses 13");
        a + b
    });
    let mut sb = guest.build(builder);
    // The panic becomes the host function's error; it never unwinds through the call.
    match sb.call::<i32>("CallHostAdd", (13, 1)) {
        Err(CallError::HostFunctionFailed { name, message }) => {
            assert_eq!(name, "HostAdd");
            assert!(message.contains("panicked") && message.contains("host function refuses 13"), "{message}");
        }
        other => panic!("expected HostFunctionFailed, got {other:?}"),
    }
    assert_works(&mut sb);
    assert_eq!(sb.call::<i32>("CallHostAdd", (1, 2)).unwrap(), 3);
}

fn a_host_function_of_eight_mixed_parameters_is_called_from_the_guest(guest: Guest) {
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
    let mut sb = guest.build(builder);
    let got: f64 =
        sb.call("CallHostSumEight", (-1i32, 2u32, -3i64, 4u64, 0.5f32, 0.25f64, true, "abc".to_string())).unwrap();
    assert_eq!(got, -1.0 + 2.0 - 3.0 + 4.0 + 0.5 + 0.25 + 1.0 + 3.0);
}
}
