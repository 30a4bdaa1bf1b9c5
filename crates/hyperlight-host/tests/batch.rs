//! Batches: many guest calls in one VM entry, in order, stopping at the first failure.

mod common;

use hyperlight_host::{Batch, CallError, Exception, Value};

#[test]
fn a_batch_runs_every_call_in_order() {
    let mut sb = common::simpleguest();
    let add = sb.func::<(i32, i32), i32>("Add").expect("Add");
    let mut batch = Batch::new();
    for i in 0..64 {
        batch.call_func(&add, (i, 1000));
    }
    batch.call("EchoString", "last".to_string()).call("Counter", ()).call("Counter", ());
    let results = sb.call_batch(&batch).expect("batch");
    assert_eq!(results.len(), 67);
    for (i, r) in (0..64).zip(&results[..64]) {
        assert_eq!(*r, Value::I32(i + 1000));
    }
    assert_eq!(results[64], Value::String("last".into()));
    assert_eq!(results[65..], [Value::U64(1), Value::U64(2)], "in order");
    assert!(sb.call_batch(&Batch::new()).expect("empty").is_empty());
}

#[test]
fn the_first_failure_stops_the_batch_and_says_which_call() {
    let mut sb = common::simpleguest();
    let mut batch = Batch::new();
    batch.call("Counter", ()).call("Fail", "third time unlucky".to_string()).call("Counter", ());
    let e = sb.call_batch(&batch).expect_err("the second call fails");
    assert_eq!(e.index, Some(1));
    assert_eq!(e.completed, vec![Value::U64(1)]);
    assert!(
        matches!(&*e.source, CallError::GuestFailed { function, message } if function == "Fail" && message == "third time unlucky")
    );
    assert_eq!(sb.call::<u64>("ReadCounter", ()).expect("call"), 1, "the call after the failure did not run");
    // Argument errors and unknown functions stop it the same way.
    let mut batch = Batch::new();
    batch.call("Add", (1, 2)).call("Add", "wrong".to_string());
    let e = sb.call_batch(&batch).expect_err("wrong arguments");
    assert!(matches!((e.index, &*e.source), (Some(1), CallError::ArgumentCount { .. })), "{e:?}");
    let mut batch = Batch::new();
    batch.call("NoSuchFunction", ());
    let e = sb.call_batch(&batch).expect_err("no such function");
    assert!(matches!((e.index, &*e.source), (Some(0), CallError::GuestFunctionNotFound { .. })), "{e:?}");
    common::assert_works(&mut sb);
}

#[test]
fn results_that_do_not_fit_name_the_first_call_that_did_not() {
    let mut sb = common::simpleguest();
    let mut batch = Batch::new();
    for _ in 0..5 {
        batch.call("BufferOfSize", 20_000u64);
    }
    // 64 KiB of output buffer: three 20 kB results fit, the fourth does not.
    let e = sb.call_batch(&batch).expect_err("too large");
    assert_eq!(e.index, Some(3), "{e:?}");
    assert_eq!(e.completed.len(), 3);
    assert!(matches!(&*e.source, CallError::TooLarge { what, .. } if what.contains("call 3 of a batch")), "{e:?}");
}

#[test]
fn a_fault_in_a_batch_ends_it_and_poisons() {
    let mut sb = common::simpleguest();
    let clean = sb.snapshot().expect("snapshot");
    let mut batch = Batch::new();
    batch.call("Counter", ()).call("Fault", "ud2".to_string()).call("Counter", ());
    let e = sb.call_batch(&batch).expect_err("fault");
    assert_eq!(e.index, None);
    assert!(matches!(&*e.source, CallError::GuestFault(f) if f.exception == Exception::InvalidOpcode), "{e:?}");
    common::assert_poisoned_then_restored(&mut sb, &clean);
    let mut batch = Batch::new();
    batch.call("Panic", "in a batch".to_string());
    let e = sb.call_batch(&batch).expect_err("panic");
    assert!(matches!((e.index, &*e.source), (None, CallError::GuestPanic { .. })), "{e:?}");
    common::assert_works(&mut sb);
}
