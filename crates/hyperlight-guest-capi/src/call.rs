//! The calls of C guest functions that are running, and the `hl_call *` handles that
//! name them.
//!
//! A handle is a token, not a pointer: the library never dereferences what the C
//! side passes as an `hl_call *`, it looks the value up among the running calls. A
//! stale, forged or garbage handle is therefore a [`Misuse`], never a wild read. The
//! calls form a stack, because a guest function that calls the host may be called
//! into again (a host function that calls the guest) before it returns.

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use hyperlight_common::{FunctionResult, FunctionSignature, Value, ValueType};

use crate::decode::{self, Misuse};
use crate::global::Global;

/// What C sees of a call: nothing. Only pointers to it exist, and those are tokens.
#[repr(C)]
pub struct hl_call {
    _opaque: [u8; 0],
}

/// A C guest function, as registered: it reads its arguments and sets its result
/// through the handle.
pub(crate) type HlFunction = unsafe extern "C" fn(*mut hl_call);

/// One argument as C reads it.
pub(crate) enum Arg {
    /// A scalar, handed out by value.
    Scalar(Value),
    /// A string or bytes, handed out as a pointer into `bytes`, which ends with one
    /// NUL past the value (so a string is a C string too, and an empty value still
    /// has a valid address).
    Buffer { value_type: ValueType, bytes: Vec<u8> },
}

impl Arg {
    fn new(value: Value) -> Arg {
        let (value_type, mut bytes) = match value {
            Value::String(s) => (ValueType::String, s.into_bytes()),
            Value::Bytes(b) => (ValueType::Bytes, b),
            scalar => return Arg::Scalar(scalar),
        };
        bytes.push(0);
        Arg::Buffer { value_type, bytes }
    }

    pub(crate) fn value_type(&self) -> ValueType {
        match self {
            Arg::Scalar(v) => v.value_type(),
            Arg::Buffer { value_type, .. } => *value_type,
        }
    }
}

/// A running call of a C guest function.
pub(crate) struct Call {
    token: usize,
    /// The function's name (for errors).
    pub(crate) function: String,
    /// Its declared return type.
    pub(crate) returns: ValueType,
    /// Its arguments, already checked against its parameters.
    pub(crate) args: Vec<Arg>,
    /// The value or failure it set, if any.
    result: Option<FunctionResult>,
    /// The first misuse of the API during the call: it becomes the call's error.
    misuse: Option<(&'static str, Misuse)>,
}

impl Call {
    /// Records `misuse` of `api` (only the first counts: later ones often follow from it).
    pub(crate) fn misused(&mut self, api: &'static str, misuse: Misuse) {
        self.misuse.get_or_insert((api, misuse));
    }

    /// Sets the call's result, once.
    pub(crate) fn set(&mut self, api: &'static str, result: FunctionResult) {
        if self.result.is_some() {
            self.misused(api, Misuse::ResultSetTwice);
        } else {
            self.result = Some(result);
        }
    }

    /// Argument `index`, or a misuse of `api` if there is none.
    pub(crate) fn arg(&mut self, api: &'static str, index: usize) -> Option<&Arg> {
        if index >= self.args.len() {
            let count = self.args.len();
            self.misused(api, Misuse::NoSuchArgument { index: index as u64, count: count as u64 });
            return None;
        }
        self.args.get(index)
    }
}

static CALLS: Global<RefCell<Vec<Call>>> = Global::new(RefCell::new(Vec::new()));

/// The next token. Multiples of 16, starting at 16: they look like aligned pointers
/// to a debugger, and none is null.
static NEXT_TOKEN: Global<Cell<usize>> = Global::new(Cell::new(16));

/// Calls the C function `f`, registered with `signature`, with `values` (checked
/// against the signature by the runtime), and returns the call's result.
pub(crate) fn run(signature: &FunctionSignature, f: HlFunction, values: Vec<Value>) -> FunctionResult {
    let token = NEXT_TOKEN.get();
    NEXT_TOKEN.set(token.wrapping_add(16).max(16));
    let call = Call {
        token,
        function: signature.name.clone(),
        returns: signature.returns,
        args: values.into_iter().map(Arg::new).collect(),
        result: None,
        misuse: None,
    };
    CALLS.borrow_mut().push(call);
    // SAFETY: `f` is the function the guest registered for this signature, with the
    // type `hl_function` of the header; the handle is a token it may only pass back.
    // No borrow of `CALLS` is held while C runs.
    unsafe { f(token as *mut hl_call) };
    // Calls nested inside this one (through host calls) have popped themselves, so
    // the top is this call.
    let call = CALLS.borrow_mut().pop();
    match call {
        Some(call) if call.token == token => decode::finish(&call.function, call.returns, call.misuse, call.result),
        // Cannot happen: only `run` pushes and pops, in pairs.
        _ => panic!("the C API's call stack is out of order"),
    }
}

/// Runs `f` on the call `handle` names. A handle that names no running call is
/// recorded as a misuse of `api` on the innermost call, and `f` does not run.
pub(crate) fn with_call<R>(api: &'static str, handle: *mut hl_call, f: impl FnOnce(&mut Call) -> R) -> Option<R> {
    let mut calls = CALLS.borrow_mut();
    let token = handle as usize;
    if let Some(call) = calls.iter_mut().rev().find(|c| c.token == token) {
        return Some(f(call));
    }
    drop(calls);
    misuse(api, Misuse::NotACall { handle: token as u64 });
    None
}

/// Records `misuse` of `api`: on the innermost running call, whose result it
/// becomes; outside any call (in `hyperlight_main`), the guest stops with a panic,
/// which the host reports as the reason init failed.
pub(crate) fn misuse(api: &'static str, misuse: Misuse) {
    match CALLS.borrow_mut().last_mut() {
        Some(call) => call.misused(api, misuse),
        None => panic!("{api}: {misuse}"),
    }
}
