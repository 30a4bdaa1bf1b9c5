//! A hostile guest: garbage where the host reads, exits the protocol does not allow.
//! Each gives a typed error, the host never panics, and the sandbox answers the next
//! call.

mod common;

use hyperlight_host::{CallError, Exception, MessageKind, ProtocolError, Sandbox, Snapshot, UnexpectedExit};

fn hostile() -> (Sandbox, Snapshot) {
    let mut sb = common::build(common::builder(), "hostileguest");
    let clean = sb.snapshot().expect("snapshot after init");
    (sb, clean)
}

/// Calls `name`, checks that the breach poisoned the sandbox and that a restore makes
/// it answer again (the same breach, once more), and returns the error.
fn call(sb: &mut Sandbox, clean: &Snapshot, name: &str) -> CallError {
    let err = sb.call::<()>(name, ()).expect_err(name);
    assert!(sb.is_poisoned(), "{name}: {err:?}");
    assert!(matches!(sb.call::<()>(name, ()), Err(CallError::Poisoned)));
    sb.restore(clean).expect("restore");
    let again = sb.call::<()>(name, ()).expect_err(name);
    assert_eq!(std::mem::discriminant(&err), std::mem::discriminant(&again), "{name}: {err:?} / {again:?}");
    sb.restore(clean).expect("restore");
    err
}

fn bad_message(err: &CallError, what: MessageKind) -> bool {
    matches!(err, CallError::Protocol(ProtocolError::BadMessage { what: w, .. }) if *w == what)
}

#[test]
fn garbage_results_are_protocol_errors() {
    let (mut sb, clean) = hostile();
    for name in ["BadLength", "NoPayload", "BadResultTag", "BadValueTag", "BadUtf8", "TrailingBytes"] {
        let err = call(&mut sb, &clean, name);
        assert!(bad_message(&err, MessageKind::FunctionResult), "{name}: {err:?}");
    }
}

#[test]
fn garbage_host_calls_and_aborts_are_protocol_errors() {
    let (mut sb, clean) = hostile();
    for name in ["HugeCount", "BadHostCall"] {
        let err = call(&mut sb, &clean, name);
        assert!(bad_message(&err, MessageKind::HostFunctionCall), "{name}: {err:?}");
    }
    let err = call(&mut sb, &clean, "AbortGarbage");
    assert!(bad_message(&err, MessageKind::AbortRecord), "{err:?}");
    let err = sb.call::<()>("LoopOnExits", 1000u32).unwrap_err();
    assert!(bad_message(&err, MessageKind::HostFunctionCall), "{err:?}");
    sb.restore(&clean).expect("restore");
}

#[test]
fn forbidden_ports_are_faults_or_protocol_errors() {
    let (mut sb, clean) = hostile();
    for name in ["UnknownPort", "FaultPort"] {
        let err = call(&mut sb, &clean, name);
        assert!(
            matches!(&err, CallError::GuestFault(f) if f.exception == Exception::GeneralProtection),
            "{name}: {err:?}"
        );
    }
    let err = sb.call::<u32>("InPort", ()).unwrap_err();
    assert!(
        matches!(err, CallError::Protocol(ProtocolError::UnexpectedExit(UnexpectedExit::InFromPort(0x10)))),
        "{err:?}"
    );
}
