//! `Caller`: what a host function gets to reach back: the sandbox's host state, the
//! guest's memory (bounds-checked, user pages only), and calls into the guest
//! (re-entrant calls: guest -> host -> guest, to the depth the sandbox allows).

use std::marker::PhantomData;

use hyperlight_common::message::{FunctionRefRef, GuestCallRef, HostMessageRef};
use hyperlight_common::{ArgumentRefs, Arguments, FunctionResult, ReturnType, Value};

use crate::error::{CallError, MemoryAccessError, MessageKind};
use crate::func::guest_function::GuestFunction;
use crate::func::host_functions::HostFunctions;
use crate::mem::layout::GuestAddr;
use crate::obs::{CallMetrics, Span, Timer};
use crate::sandbox::sandbox::{from_function_error, serve_host_call, to_large};
use crate::vm::machine::{HostCalls, Machine};

/// The context of a host function call, for host functions registered with
/// [`HostFunctions::register_with_caller`] (or
/// [`SandboxBuilder::host_function_with_caller`](crate::SandboxBuilder::host_function_with_caller)).
///
/// ```no_run
/// use hyperlight_host::{Caller, SandboxBuilder};
///
/// #[derive(Default)]
/// struct Request { log: Vec<String> }
///
/// let mut sandbox = SandboxBuilder::with_state(Request::default())
///     // The guest's "CallHostEcho" calls this host function, which calls back into
///     // the guest before it answers.
///     .host_function_with_caller("HostEcho", |caller: &mut Caller<'_, Request>, s: String| {
///         caller.state_mut().log.push(s.clone());
///         let doubled: String = caller.call("EchoString", s.repeat(2))?;
///         Ok::<_, hyperlight_host::CallError>(doubled)
///     })
///     .build_from_file("guests/target/x86_64-unknown-none/release/simpleguest")?;
/// let out: String = sandbox.call("CallHostEcho", "ab".to_string())?;
/// assert_eq!(out, "abab");
/// assert_eq!(sandbox.state().log, ["ab"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Caller<'a, T> {
    machine: &'a mut Machine,
    functions: &'a HostFunctions<T>,
    state: &'a mut T,
    max_depth: usize,
    call_metrics: &'a CallMetrics,
}

impl<T> std::fmt::Debug for Caller<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller").field("depth", &self.machine.depth()).finish()
    }
}

impl<'a, T> Caller<'a, T> {
    pub(crate) fn new(
        machine: &'a mut Machine,
        functions: &'a HostFunctions<T>,
        state: &'a mut T,
        max_depth: usize,
        call_metrics: &'a CallMetrics,
    ) -> Caller<'a, T> {
        Caller { machine, functions, state, max_depth, call_metrics }
    }

    /// The sandbox's identity (see [`Sandbox::id`](crate::Sandbox::id)).
    pub fn sandbox_id(&self) -> u64 {
        self.machine.sandbox_id()
    }

    /// The sandbox's host state.
    pub fn state(&self) -> &T {
        self.state
    }

    /// The sandbox's host state, to change.
    pub fn state_mut(&mut self) -> &mut T {
        self.state
    }

    /// How many guest calls are running, nested in each other (1 inside a host
    /// function called by a top-level call).
    pub fn depth(&self) -> usize {
        self.machine.depth()
    }

    /// Copies guest memory at `addr` into `buf`. Only pages the guest itself may read
    /// are readable (not the host's page tables or system pages).
    pub fn read_memory(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryAccessError> {
        let len = buf.len() as u64;
        if !self.machine.layout().user_accessible(addr, len, false) {
            return Err(MemoryAccessError { addr, len, write: false });
        }
        self.machine.mem().read(GuestAddr(addr), buf).map_err(|_| MemoryAccessError { addr, len, write: false })
    }

    /// Copies `data` into guest memory at `addr`. Only pages the guest itself may
    /// write are writable: a pointer a hostile guest passed can never make the host
    /// write its page tables, its code or the host's system pages. Restore undoes the
    /// write like any other.
    pub fn write_memory(&mut self, addr: u64, data: &[u8]) -> Result<(), MemoryAccessError> {
        let len = data.len() as u64;
        if !self.machine.layout().user_accessible(addr, len, true) {
            return Err(MemoryAccessError { addr, len, write: true });
        }
        self.machine.mem_mut().write(GuestAddr(addr), data).map_err(|_| MemoryAccessError { addr, len, write: true })
    }

    /// Calls the guest function `name` while the guest waits for this host function
    /// (a re-entrant call), and returns its result as `R`. It may call the host
    /// again, and so on, to the sandbox's
    /// [`max_call_depth`](crate::SandboxBuilder::max_call_depth); one level more is
    /// [`CallError::CallDepthExceeded`].
    ///
    /// If the nested call faults, panics, aborts, is killed or runs past the deadline,
    /// the error comes back here and also ends every level above: whatever this host
    /// function then returns, the top-level call fails with the same error (and
    /// poisons the sandbox where a flat call would).
    pub fn call<R: ReturnType>(&mut self, name: &str, args: impl Arguments) -> Result<R, CallError> {
        let args = args.into_values();
        let msg = HostMessageRef::Call(GuestCallRef { function: FunctionRefRef::Name(name), args: &args[..] });
        let value = self.run(&msg, name, None)?;
        R::from_value(value).map_err(|got| CallError::ReturnType {
            function: name.to_string(),
            expected: R::TYPE,
            got: got.value_type(),
        })
    }

    /// [`Caller::call`] through a typed handle.
    pub fn call_func<P: Arguments, R: ReturnType, A: ArgumentRefs<P>>(
        &mut self,
        function: &GuestFunction<P, R>,
        args: A,
    ) -> Result<R, CallError> {
        let args = hyperlight_common::func::EncodeArgs::<A, P>(&args, PhantomData);
        let index = function.index();
        let msg = HostMessageRef::Call(GuestCallRef { function: FunctionRefRef::Index(index), args });
        let value = self.run(&msg, function.name(), Some(index))?;
        R::from_value(value).map_err(|got| CallError::ReturnType {
            function: function.name().to_string(),
            expected: R::TYPE,
            got: got.value_type(),
        })
    }

    /// Runs a nested call (observed: a `call` span and the call's metrics).
    fn run<M: serde::Serialize + ?Sized>(
        &mut self,
        msg: &M,
        name: &str,
        index: Option<u32>,
    ) -> Result<Value, CallError> {
        let span = Span::call(self.machine.sandbox_id(), name);
        let _entered = span.enter();
        let timer = Timer::start();
        let result = self.run_nested(msg, name);
        self.call_metrics.record(index, name, timer);
        span.record_result(&result);
        result
    }

    /// Runs a nested call: its frame above the waiting ones, the vCPU until the guest
    /// is ready again, the frame off.
    fn run_nested<M: serde::Serialize + ?Sized>(&mut self, msg: &M, name: &str) -> Result<Value, CallError> {
        if self.machine.depth() >= self.max_depth {
            return Err(CallError::CallDepthExceeded { limit: self.max_depth });
        }
        self.machine.push_call(msg).map_err(|e| to_large(e, || format!("arguments of {name}")))?;
        let mut nested = NestedHost {
            functions: self.functions,
            state: &mut *self.state,
            max_depth: self.max_depth,
            call_metrics: self.call_metrics,
        };
        let result = self.machine.run_until_ready(&mut nested).and_then(|()| {
            let result: FunctionResult = self.machine.read_output(MessageKind::FunctionResult)?;
            result.map_err(|e| from_function_error(e, name))
        });
        self.machine.pop_call();
        if let Err(e) = &result {
            if e.poisons() || e.resets_vcpu() {
                // The guest is no longer where the levels above left it: they all end.
                self.machine.unwind(e.duplicate());
            }
        }
        result
    }
}

/// The host functions of a nested run (the same functions and state as the level
/// above).
struct NestedHost<'a, T> {
    functions: &'a HostFunctions<T>,
    state: &'a mut T,
    max_depth: usize,
    call_metrics: &'a CallMetrics,
}

impl<T> HostCalls for NestedHost<'_, T> {
    fn host_call(&mut self, machine: &mut Machine) -> Result<(), CallError> {
        serve_host_call(machine, self.functions, self.state, self.max_depth, self.call_metrics)
    }
}

/// A host function that takes the [`Caller`] as its first parameter, then the
/// parameters `Args` (a tuple): implemented for every such closure of up to 12
/// parameters after the caller.
pub trait CallerCallable<T, Args> {
    /// What the function returns.
    type Output;
    /// Calls the function.
    fn call(&self, caller: &mut Caller<'_, T>, args: Args) -> Self::Output;
}

impl<T, F: Fn(&mut Caller<'_, T>) -> R, R> CallerCallable<T, ()> for F {
    type Output = R;
    fn call(&self, caller: &mut Caller<'_, T>, _args: ()) -> R {
        self(caller)
    }
}

macro_rules! caller_arity {
    ($($t:ident $v:ident),+) => {
        impl<T, Func, Ret, $($t),+> CallerCallable<T, ($($t,)+)> for Func
        where
            Func: Fn(&mut Caller<'_, T>, $($t),+) -> Ret,
        {
            type Output = Ret;
            fn call(&self, caller: &mut Caller<'_, T>, args: ($($t,)+)) -> Ret {
                let ($($v,)+) = args;
                self(caller, $($v),+)
            }
        }
    };
}

caller_arity!(A a);
caller_arity!(A a, B b);
caller_arity!(A a, B b, C c);
caller_arity!(A a, B b, C c, D d);
caller_arity!(A a, B b, C c, D d, E e);
caller_arity!(A a, B b, C c, D d, E e, G g);
caller_arity!(A a, B b, C c, D d, E e, G g, H h);
caller_arity!(A a, B b, C c, D d, E e, G g, H h, I i);
caller_arity!(A a, B b, C c, D d, E e, G g, H h, I i, J j);
caller_arity!(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k);
caller_arity!(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l);
caller_arity!(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m);
