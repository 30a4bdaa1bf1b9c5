//! `Batch`: many guest calls in one VM entry.
//!
//! The calls travel as one frame and their results come back as one: a batch of N
//! calls costs one exit round trip, not N. The guest runs them in order and stops at
//! the first that fails; the calls after it are not run.

use std::time::Duration;

use hyperlight_common::message::{FunctionRef, GuestCall, HostMessageRef};
use hyperlight_common::{Arguments, FunctionResult, Value};

use crate::error::{CallError, MessageKind, ProtocolError};
use crate::func::guest_function::GuestFunction;
use crate::sandbox::sandbox::{from_function_error, Sandbox};

/// Guest calls to run in one VM entry with [`Sandbox::call_batch`].
///
/// ```no_run
/// use hyperlight_host::Batch;
/// # let mut sandbox = hyperlight_host::SandboxBuilder::new().build_from_file("simpleguest")?;
/// let add = sandbox.func::<(i32, i32), i32>("Add")?;
/// let mut batch = Batch::new();
/// for i in 0..64 {
///     batch.call_func(&add, (i, 1));
/// }
/// batch.call("EchoString", "last".to_string());
/// let results = sandbox.call_batch(&batch)?;       // one VM entry, 65 calls
/// assert_eq!(results.len(), 65);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Batch {
    calls: Vec<GuestCall>,
    /// Each call's function name, for errors.
    names: Vec<String>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a call of the guest function `name`.
    pub fn call(&mut self, name: &str, args: impl Arguments) -> &mut Batch {
        self.calls.push(GuestCall { function: FunctionRef::Name(name.to_string()), args: args.into_values() });
        self.names.push(name.to_string());
        self
    }

    /// Adds a call through a typed handle (by index, as the handle calls).
    pub fn call_func<P: Arguments, R>(&mut self, function: &GuestFunction<P, R>, args: P) -> &mut Batch {
        self.calls.push(GuestCall { function: FunctionRef::Index(function.index()), args: args.into_values() });
        self.names.push(function.name().to_string());
        self
    }

    /// How many calls it holds.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

/// Why a batch stopped short.
#[derive(Debug, thiserror::Error)]
#[error("{}", match .index { Some(i) => format!("call {i} of the batch failed"), None => "the batch failed".to_string() })]
pub struct BatchError {
    /// The call that failed, when the guest said which (a call that returned an
    /// error); `None` when the failure ended the whole entry (a fault, a panic, a
    /// kill, a deadline): then `completed` is empty, although earlier calls may have
    /// run.
    pub index: Option<usize>,
    /// The results of the calls before `index`, in order.
    pub completed: Vec<Value>,
    /// Why it failed.
    pub source: Box<CallError>,
}

impl<T> Sandbox<T> {
    /// Runs every call of `batch` in one VM entry, in order, and returns their
    /// results; the first call that fails stops the batch (the calls after it are
    /// not run) and is reported with its index and the results before it. A failure
    /// that poisons a single call (a fault, a kill, a deadline) poisons the sandbox
    /// here too. The sandbox's default [`call_timeout`](crate::SandboxBuilder::call_timeout)
    /// applies to the whole batch.
    pub fn call_batch(&mut self, batch: &Batch) -> Result<Vec<Value>, BatchError> {
        self.call_batch_with_timeout_opt(batch, self.config().call_timeout)
    }

    /// [`call_batch`](Sandbox::call_batch) with a deadline for the whole batch.
    pub fn call_batch_with_timeout(&mut self, batch: &Batch, timeout: Duration) -> Result<Vec<Value>, BatchError> {
        self.call_batch_with_timeout_opt(batch, Some(timeout))
    }

    fn call_batch_with_timeout_opt(
        &mut self,
        batch: &Batch,
        timeout: Option<Duration>,
    ) -> Result<Vec<Value>, BatchError> {
        let whole = |source| BatchError { index: None, completed: Vec::new(), source: Box::new(source) };
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let msg = HostMessageRef::<()>::Batch(&batch.calls);
        let results: Vec<FunctionResult> =
            self.run_message(&msg, "a batch", timeout, MessageKind::BatchResults).map_err(whole)?;
        let mut completed = Vec::with_capacity(results.len());
        let ran = results.len();
        for (index, result) in results.into_iter().enumerate() {
            match result {
                Ok(v) => completed.push(v),
                Err(e) if index + 1 == ran => {
                    let name = batch.names.get(index).map_or("(a batch call)", String::as_str);
                    let source = Box::new(from_function_error(e, name));
                    return Err(BatchError { index: Some(index), completed, source });
                }
                // Only the last result may be an error: a guest that says otherwise
                // (or answers more calls than it was given) breaks the protocol.
                Err(_) => break,
            }
        }
        if completed.len() != batch.len() {
            let source = Box::new(CallError::Protocol(ProtocolError::BadBatch { calls: batch.len(), results: ran }));
            self.set_poisoned(true);
            return Err(BatchError { index: None, completed: Vec::new(), source });
        }
        Ok(completed)
    }
}
