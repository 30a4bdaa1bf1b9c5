//! Every way a call can fail gives its own typed error, with the details a user needs,
//! and leaves the sandbox able to answer the next call.

#[macro_use]
mod common;

use hyperlight_host::{CallError, Exception, GuestFault, ValueType};

use common::{assert_poisoned_then_restored, assert_works, Guest};

both_guests! {
fn unknown_guest_function(guest: Guest) {
    let mut sb = guest.sandbox();
    let err = sb.call::<i32>("NoSuchFunction", 1).unwrap_err();
    assert!(matches!(&err, CallError::GuestFunctionNotFound { name } if name == "NoSuchFunction"), "{err:?}");
    // Names are exact.
    let err = sb.call::<i32>("echoi32", 1).unwrap_err();
    assert!(matches!(&err, CallError::GuestFunctionNotFound { name } if name == "echoi32"), "{err:?}");
    let err = sb.call::<i32>("", ()).unwrap_err();
    assert!(matches!(&err, CallError::GuestFunctionNotFound { name } if name.is_empty()), "{err:?}");
    assert_works(&mut sb);
}

fn wrong_argument_count(guest: Guest) {
    let mut sb = guest.sandbox();
    let err = sb.call::<i32>("Add", 1).unwrap_err();
    assert!(matches!(&err, CallError::ArgumentCount { function, expected: 2, got: 1 } if function == "Add"), "{err:?}");
    let err = sb.call::<i32>("EchoI32", ()).unwrap_err();
    assert!(
        matches!(&err, CallError::ArgumentCount { function, expected: 1, got: 0 } if function == "EchoI32"),
        "{err:?}"
    );
    let err = sb.call::<()>("ReturnUnit", (1, 2, 3)).unwrap_err();
    assert!(
        matches!(&err, CallError::ArgumentCount { function, expected: 0, got: 3 } if function == "ReturnUnit"),
        "{err:?}"
    );
    assert_works(&mut sb);
}

fn wrong_argument_type_names_index_expected_and_given(guest: Guest) {
    let mut sb = guest.sandbox();
    let err = sb.call::<i32>("EchoI32", 1u32).unwrap_err();
    assert!(
        matches!(&err, CallError::ArgumentType { function, index: 0, expected: ValueType::I32, got: ValueType::U32 }
            if function == "EchoI32"),
        "{err:?}"
    );
    let err = sb.call::<i32>("Add", (1, "two".to_string())).unwrap_err();
    assert!(
        matches!(&err, CallError::ArgumentType { function, index: 1, expected: ValueType::I32, got: ValueType::String }
            if function == "Add"),
        "{err:?}"
    );
    // The 8th parameter of SumEight is a String.
    let err = sb.call::<f64>("SumEight", (1i32, 2u32, 3i64, 4u64, 0.5f32, 0.25f64, true, vec![1u8])).unwrap_err();
    assert!(
        matches!(&err, CallError::ArgumentType { function, index: 7, expected: ValueType::String, got: ValueType::Bytes }
            if function == "SumEight"),
        "{err:?}"
    );
    assert_works(&mut sb);
}

fn wrong_return_type_requested_by_the_caller(guest: Guest) {
    let mut sb = guest.sandbox();
    let err = sb.call::<String>("EchoI32", 1).unwrap_err();
    assert!(
        matches!(&err, CallError::ReturnType { function, expected: ValueType::String, got: ValueType::I32 }
            if function == "EchoI32"),
        "{err:?}"
    );
    let err = sb.call::<i32>("ReturnUnit", ()).unwrap_err();
    assert!(
        matches!(&err, CallError::ReturnType { function, expected: ValueType::I32, got: ValueType::Unit }
            if function == "ReturnUnit"),
        "{err:?}"
    );
    assert_works(&mut sb);
}

fn guest_panic_carries_its_message(guest: Guest) {
    let mut sb = guest.sandbox();
    let err = sb.call::<()>("Panic", "the guest gave up: ✗ 42".to_string()).unwrap_err();
    assert!(
        matches!(&err, CallError::GuestPanic { message } if message.contains("the guest gave up: ✗ 42")),
        "{err:?}"
    );
    assert_works(&mut sb);
}

fn many_panics_in_a_row_keep_the_sandbox_working(guest: Guest) {
    let mut sb = guest.sandbox();
    for i in 0..50 {
        let text = format!("panic number {i}");
        let err = sb.call::<()>("Panic", text.clone()).unwrap_err();
        assert!(matches!(&err, CallError::GuestPanic { message } if message.contains(&text)), "{err:?}");
    }
    assert_works(&mut sb);
    // Interleaved with successful calls too.
    for i in 0..10 {
        assert!(matches!(sb.call::<()>("Panic", format!("{i}")), Err(CallError::GuestPanic { .. })));
        assert_eq!(sb.call::<i32>("Add", (i, 1)).unwrap(), i + 1);
    }
}

fn guest_function_error_is_guest_failed(guest: Guest) {
    let mut sb = guest.sandbox();
    let err = sb.call::<()>("Fail", "nothing to do ✓".to_string()).unwrap_err();
    assert!(
        matches!(&err, CallError::GuestFailed { function, message }
            if function == "Fail" && message == "nothing to do ✓"),
        "{err:?}"
    );
    assert_works(&mut sb);
}

fn arguments_larger_than_the_input_buffer_are_too_large(guest: Guest) {
    let mut sb = guest.build(common::builder().input_buffer_size(4096));
    let err = sb.call::<Vec<u8>>("EchoBytes", vec![7u8; 10 << 10]).unwrap_err();
    assert!(
        matches!(&err, CallError::TooLarge { what, size, capacity }
            if what == "arguments of EchoBytes" && *size > 10 << 10 && *capacity <= 4096 && *capacity > 0),
        "{err:?}"
    );
    // What fits still goes through.
    assert_eq!(sb.call::<Vec<u8>>("EchoBytes", vec![7u8; 1024]).unwrap(), vec![7u8; 1024]);
    assert_works(&mut sb);
}

fn result_larger_than_the_output_buffer_is_too_large(guest: Guest) {
    let mut sb = guest.build(common::builder().output_buffer_size(4096));
    let err = sb.call::<Vec<u8>>("BufferOfSize", 8192u64).unwrap_err();
    assert!(
        matches!(&err, CallError::TooLarge { what, size, capacity }
            if what == "result of BufferOfSize" && *size > 8192 && *capacity <= 4096 && *capacity > 0),
        "{err:?}"
    );
    let small: Vec<u8> = sb.call("BufferOfSize", 1000u64).unwrap();
    let expected: Vec<u8> = (0..1000u32).map(|i| u8::try_from(i % 251).unwrap()).collect();
    assert_eq!(small, expected);
    assert_works(&mut sb);
}

fn allocation_larger_than_the_heap_is_guest_out_of_memory(guest: Guest) {
    let heap = 1 << 20;
    let mut sb = guest.build(common::builder().heap_size(heap));
    let size = 2 * heap;
    let err = sb.call::<u64>("LargeAllocation", size).unwrap_err();
    assert!(matches!(&err, CallError::GuestOutOfMemory { requested, .. } if *requested >= size), "{err:?}");
    // The heap is still usable afterwards.
    assert_eq!(sb.call::<u64>("LargeAllocation", heap / 4).unwrap(), heap / 4);
    assert_works(&mut sb);
}
}

/// Runs `Fault(kind)`, asserts it is a `GuestFault`, checks the sandbox still works,
/// and returns the fault.
fn fault(guest: Guest, kind: &str) -> GuestFault {
    let mut sb = guest.sandbox();
    let clean = sb.snapshot().expect("snapshot");
    let f = match sb.call::<()>("Fault", kind.to_string()) {
        Err(CallError::GuestFault(f)) => f,
        other => panic!("Fault({kind:?}): expected a GuestFault, got {other:?}"),
    };
    assert_ne!(f.rip, 0, "Fault({kind:?}): {f:?}");
    assert_poisoned_then_restored(&mut sb, &clean);
    f
}

/// Page fault error code bits.
const PF_PRESENT: u64 = 1;
const PF_WRITE: u64 = 2;
const PF_USER: u64 = 4;
const PF_FETCH: u64 = 0x10;

both_guests! {
fn ud2_is_invalid_opcode(guest: Guest) {
    let f = fault(guest, "ud2");
    assert_eq!(f.exception, Exception::InvalidOpcode, "{f:?}");
    assert_eq!((f.error_code, f.cr2), (0, None), "{f:?}");
}

fn division_by_zero_is_divide_error(guest: Guest) {
    let f = fault(guest, "divide");
    assert_eq!(f.exception, Exception::DivideError, "{f:?}");
    assert_eq!((f.error_code, f.cr2), (0, None), "{f:?}");
}

fn null_read_is_a_page_fault_at_zero(guest: Guest) {
    let f = fault(guest, "null");
    assert_eq!(f.exception, Exception::PageFault, "{f:?}");
    assert_eq!(f.cr2, Some(0), "{f:?}");
    // A user-mode read of a page that is not present.
    assert_eq!(f.error_code & (PF_PRESENT | PF_WRITE | PF_USER | PF_FETCH), PF_USER, "{f:?}");
}

fn write_to_code_is_a_write_protection_page_fault(guest: Guest) {
    let f = fault(guest, "write_code");
    assert_eq!(f.exception, Exception::PageFault, "{f:?}");
    let cr2 = f.cr2.expect("a page fault has CR2");
    assert_ne!(cr2, 0, "{f:?}");
    // A user-mode write to a present, read-only page.
    assert_eq!(f.error_code & (PF_PRESENT | PF_WRITE | PF_USER | PF_FETCH), PF_PRESENT | PF_WRITE | PF_USER, "{f:?}");
}

fn int3_is_breakpoint(guest: Guest) {
    let f = fault(guest, "int3");
    assert_eq!(f.exception, Exception::Breakpoint, "{f:?}");
    assert_eq!((f.error_code, f.cr2), (0, None), "{f:?}");
}

fn privileged_instruction_is_general_protection(guest: Guest) {
    let f = fault(guest, "gp");
    assert_eq!(f.exception, Exception::GeneralProtection, "{f:?}");
    assert_eq!((f.error_code, f.cr2), (0, None), "{f:?}");
}

fn fault_reports_the_guest_registers_at_the_fault(guest: Guest) {
    let f = fault(guest, "ud2");
    assert_eq!(f.registers.rip, f.rip, "{f:?}");
    assert_ne!(f.registers.rsp, 0, "{f:?}");
}

fn stack_overflow_is_reported_as_such(guest: Guest) {
    let mut sb = guest.sandbox();
    let clean = sb.snapshot().unwrap();
    let err = sb.call::<()>("Fault", "stack_overflow".to_string()).unwrap_err();
    assert!(matches!(&err, CallError::StackOverflow { rip, addr } if *rip != 0 && *addr != 0), "{err:?}");
    assert_poisoned_then_restored(&mut sb, &clean);
    // And again: the guard page and the exception stack survive the first one.
    let err = sb.call::<()>("Fault", "stack_overflow".to_string()).unwrap_err();
    assert!(matches!(err, CallError::StackOverflow { .. }), "{err:?}");
    assert_poisoned_then_restored(&mut sb, &clean);
}

fn unknown_fault_kind_is_guest_failed(guest: Guest) {
    let mut sb = guest.sandbox();
    let err = sb.call::<()>("Fault", "nope".to_string()).unwrap_err();
    assert!(
        matches!(&err, CallError::GuestFailed { function, message }
            if function == "Fault" && message == "unknown fault kind \"nope\""),
        "{err:?}"
    );
    assert_works(&mut sb);
}

fn every_kind_of_failure_in_turn_on_one_sandbox(guest: Guest) {
    let mut sb = guest.build(common::builder().input_buffer_size(4096).output_buffer_size(4096));
    let clean = sb.snapshot().unwrap();
    for _ in 0..3 {
        for kind in ["ud2", "divide", "null", "write_code", "int3", "gp"] {
            assert!(matches!(sb.call::<()>("Fault", kind.to_string()), Err(CallError::GuestFault(_))), "{kind}");
            assert_poisoned_then_restored(&mut sb, &clean);
        }
        assert!(matches!(sb.call::<()>("Fault", "stack_overflow".to_string()), Err(CallError::StackOverflow { .. })));
        assert_poisoned_then_restored(&mut sb, &clean);
        assert!(matches!(sb.call::<()>("Panic", "p".to_string()), Err(CallError::GuestPanic { .. })));
        assert!(matches!(sb.call::<u64>("LargeAllocation", 1u64 << 30), Err(CallError::GuestOutOfMemory { .. })));
        assert!(matches!(sb.call::<Vec<u8>>("BufferOfSize", 8192u64), Err(CallError::TooLarge { .. })));
        assert!(matches!(sb.call::<Vec<u8>>("EchoBytes", vec![0u8; 8192]), Err(CallError::TooLarge { .. })));
        assert!(matches!(sb.call::<()>("Fail", "f".to_string()), Err(CallError::GuestFailed { .. })));
        assert_works(&mut sb);
        assert_eq!(sb.call::<u64>("Counter", ()).unwrap(), sb.call::<u64>("ReadCounter", ()).unwrap());
    }
}

fn an_interrupt_vector_without_a_gate_is_general_protection_naming_it(guest: Guest) {
    let f = fault(guest, "int80");
    match f.exception {
        // Hardware: the error code names the IDT entry (index 0x80, IDT bit set).
        Exception::GeneralProtection => assert_eq!(f.error_code, (0x80 << 3) | 2, "{f:?}"),
        // PVM turns a user-mode `int n` (n other than 3 and 4) into #UD.
        Exception::InvalidOpcode => assert_eq!(f.error_code, 0, "{f:?}"),
        other => panic!("int 0x80 gave {other}: {f:?}"),
    }
}

fn executing_the_stack_is_an_instruction_fetch_page_fault(guest: Guest) {
    let f = fault(guest, "exec_stack");
    assert_eq!(f.exception, Exception::PageFault, "{f:?}");
    assert_eq!(f.cr2, Some(f.rip), "{f:?}");
    assert_ne!(f.error_code & 0x10, 0, "instruction fetch bit: {f:?}");
    assert_ne!(f.error_code & 1, 0, "protection violation (present page): {f:?}");
}

fn a_frame_larger_than_the_stack_is_a_stack_overflow(guest: Guest) {
    let mut sb = guest.sandbox();
    let clean = sb.snapshot().unwrap();
    let err = sb.call::<()>("Fault", "huge_frame".to_string()).unwrap_err();
    assert!(matches!(err, CallError::StackOverflow { .. }), "{err:?}");
    assert_poisoned_then_restored(&mut sb, &clean);
}

fn guest_abort_carries_its_code_and_message(guest: Guest) {
    let mut sb = guest.sandbox();
    let err = sb.call::<()>("Abort", (42, "gave up".to_string())).unwrap_err();
    assert!(matches!(&err, CallError::GuestAbort { code: 42, message } if message.contains("gave up")), "{err:?}");
    assert_works(&mut sb);
}
}
