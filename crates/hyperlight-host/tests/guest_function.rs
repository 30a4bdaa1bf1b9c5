//! Typed handles to guest functions: checked once against the guest's function
//! table, called by index with borrowed arguments.

mod common;

use hyperlight_host::{CallError, FunctionSignature, HostFunctions, Sandbox, ValueType};

#[test]
fn the_guest_reports_its_functions_and_signatures() {
    let sb = common::simpleguest();
    let table = sb.functions().expect("simpleguest reports a table");
    let add = table.iter().find(|f| f.name == "Add").expect("Add");
    assert_eq!(
        *add,
        FunctionSignature { name: "Add".into(), params: vec![ValueType::I32, ValueType::I32], returns: ValueType::I32 }
    );
    assert_eq!(add.to_string(), "fn Add(i32, i32) -> i32");
    let unit = table.iter().find(|f| f.name == "ReturnUnit").expect("ReturnUnit");
    assert_eq!((unit.params.len(), unit.returns), (0, ValueType::Unit));
}

#[test]
fn a_handle_calls_by_index_with_borrowed_arguments() {
    let mut sb = common::simpleguest();
    let add = sb.func::<(i32, i32), i32>("Add").expect("Add");
    assert_eq!(add.name(), "Add");
    for i in 0..10 {
        assert_eq!(add.call(&mut sb, (i, 2)).expect("call"), i + 2);
    }
    let echo = sb.func::<(String,), String>("EchoString").expect("EchoString");
    assert_eq!(echo.call(&mut sb, ("borrowed",)).expect("&str"), "borrowed");
    assert_eq!(echo.call(&mut sb, (String::from("owned"),)).expect("String"), "owned");
    let bytes = sb.func::<(Vec<u8>,), Vec<u8>>("EchoBytes").expect("EchoBytes");
    assert_eq!(bytes.call(&mut sb, (&[1u8, 2, 3][..],)).expect("&[u8]"), vec![1, 2, 3]);
    let unit = sb.func::<(), ()>("ReturnUnit").expect("ReturnUnit");
    unit.call(&mut sb, ()).expect("()");
}

#[test]
fn a_wrong_name_or_signature_fails_at_func_not_at_the_call() {
    let sb = common::simpleguest();
    match sb.func::<(i32, i32), i32>("NoSuchFunction") {
        Err(CallError::GuestFunctionNotFound { name }) => assert_eq!(name, "NoSuchFunction"),
        other => panic!("{other:?}"),
    }
    match sb.func::<(i64, i32), i32>("Add") {
        Err(CallError::SignatureMismatch { expected, found }) => {
            assert_eq!(expected.params, vec![ValueType::I64, ValueType::I32]);
            assert_eq!(found.params, vec![ValueType::I32, ValueType::I32]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(sb.func::<(i32, i32), u64>("Add"), Err(CallError::SignatureMismatch { .. })));
}

#[test]
fn handles_work_on_twins_and_refuse_other_guests() {
    let mut sb = common::simpleguest();
    let add = sb.func::<(i32, i32), i32>("Add").expect("Add");
    let snap = sb.snapshot().expect("snapshot");
    let mut twin = Sandbox::from_snapshot(&snap, HostFunctions::new()).expect("twin");
    assert_eq!(twin.functions(), sb.functions(), "a twin has the snapshot's table");
    assert_eq!(add.call(&mut twin, (40, 2)).expect("the same guest"), 42);
    let mut other = common::build(common::builder(), "hostileguest");
    match add.call(&mut other, (1, 2)) {
        Err(CallError::ForeignHandle { function }) => assert_eq!(function, "Add"),
        other => panic!("{other:?}"),
    }
    // A guest not built with the runtime reports no table: no handles, names still work.
    let raw = common::build(common::builder(), "rawguest");
    assert!(raw.functions().is_none());
    assert!(matches!(raw.func::<(), ()>("Anything"), Err(CallError::NoFunctionTable)));
}

#[test]
fn a_handle_call_fails_like_a_named_call() {
    let mut sb = common::simpleguest();
    let clean = sb.snapshot().expect("snapshot");
    let fault = sb.func::<(String,), ()>("Fault").expect("Fault");
    assert!(matches!(fault.call(&mut sb, ("ud2",)), Err(CallError::GuestFault(_))));
    assert!(matches!(fault.call(&mut sb, ("ud2",)), Err(CallError::Poisoned)));
    sb.restore(&clean).expect("restore");
    let panics = sb.func::<(String,), ()>("Panic").expect("Panic");
    assert!(matches!(panics.call(&mut sb, ("no",)), Err(CallError::GuestPanic { .. })));
    common::assert_works(&mut sb);
}

#[test]
fn functions_of_the_guest_function_attribute_are_registered_with_their_signatures() {
    let mut sb = common::simpleguest();
    let table = sb.functions().expect("table");
    let multiply = table.iter().find(|f| f.name == "multiply").expect("registered under its own name");
    assert_eq!(multiply.to_string(), "fn multiply(i64, i64) -> i64");
    let mul = sb.func::<(i64, i64), i64>("multiply").expect("handle");
    assert_eq!(mul.call(&mut sb, (6, 7)).expect("call"), 42);
    let greet = sb.func::<(String, u32), String>("Greet").expect("registered under the given name");
    assert_eq!(greet.call(&mut sb, ("you", 2)).expect("call"), "hello hello you");
    assert!(matches!(greet.call(&mut sb, ("you", 0)), Err(CallError::GuestFailed { .. })));
}
