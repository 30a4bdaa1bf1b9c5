//! `Sandbox`: one guest in one VM, ready to run calls.

use std::sync::Arc;
use std::time::Duration;

use hyperlight_common::message::{self, FunctionCall, FunctionRefRef, GuestCallRef, HostMessage, HostMessageRef};
use hyperlight_common::{
    Arguments, FunctionError, FunctionResult, FunctionSignature, FunctionTable, ReturnType, Value,
};

use hyperlight_common::LOG_FUNCTION;

use crate::error::{BuildError, CallError, MessageKind, ProtocolError, RegionError};
use crate::func::caller::Caller;
use crate::func::host_functions::HostFunctions;
use crate::mem::host_region::{HostRegion, RegionAccess};
use crate::mem::image_shape::ImageShape;
use crate::mem::layout::Layout;
use crate::mem::memory::GuestMemory;
use crate::obs::{self, CallMetrics, GuestLogLevel, Span, Timer};
use crate::sandbox::builder::GuestId;
use crate::sandbox::config::SandboxConfig;
use crate::vm::hot::{HotSlot, HotVm};
use crate::vm::interrupt::{InterruptHandle, InterruptSignalError};
use crate::vm::machine::{ExitHook, HostCalls, Machine};
use crate::vm::vcpu_thread::VcpuThreadError;
use crate::vm::{Backend, Registers, SpecialRegisters};

/// What a sandbox is made of besides its VM, memory and host functions.
#[derive(Debug)]
pub(crate) struct Parts {
    pub shape: ImageShape,
    pub layout: Layout,
    pub config: SandboxConfig,
    pub guest_id: GuestId,
    /// Identity in events, spans and metrics.
    pub sandbox_id: u64,
    /// The most verbose guest log level the sandbox keeps.
    pub log_level: GuestLogLevel,
}

/// A guest running in its own VM, waiting for calls, with host state `T` (`()` for
/// none) that its host functions reach through their [`Caller`](crate::Caller).
///
/// Made by [`SandboxBuilder`](crate::SandboxBuilder). Each [`call`](Sandbox::call)
/// runs one guest function to completion on the calling thread; a sandbox can move
/// between threads between calls.
#[derive(Debug)]
pub struct Sandbox<T = ()> {
    /// The vCPU, memory and layout, and the run loop.
    machine: Machine,
    /// What the layout was computed from (snapshots save it).
    shape: ImageShape,
    host_functions: HostFunctions<T>,
    /// The host's own state for this sandbox (not guest memory: snapshots and
    /// restores leave it alone).
    state: T,
    config: SandboxConfig,
    /// Identifies the guest program (its loaded bytes): snapshots restore only into
    /// sandboxes of the same guest.
    guest_id: GuestId,
    /// Set by a fault, a kill or a deadline: the guest's state is unknown, so every call
    /// fails until a restore.
    poisoned: bool,
    /// The guest's functions, as it reported them at init.
    functions: Option<Arc<FunctionTable>>,
    /// The metric keys of those functions.
    call_metrics: Arc<CallMetrics>,
    /// The most verbose guest log level the sandbox keeps (see
    /// [`SandboxBuilder::guest_log_level`](crate::SandboxBuilder::guest_log_level)).
    log_level: GuestLogLevel,
}

/// The sandbox's host functions and state, serving a run's host calls.
struct Host<'a, T> {
    functions: &'a HostFunctions<T>,
    state: &'a mut T,
    max_depth: usize,
    call_metrics: &'a CallMetrics,
}

impl<T> HostCalls for Host<'_, T> {
    fn host_call(&mut self, machine: &mut Machine) -> Result<(), CallError> {
        serve_host_call(machine, self.functions, self.state, self.max_depth, self.call_metrics)
    }
}

/// Serves one host call: decodes and checks it, runs the host function (with its
/// [`Caller`]), and writes its reply (or, if the reply does not fit, the error saying
/// so) for the guest. If a nested call inside the host function ended every level
/// (see `Caller::call`), no reply is written: the run loop returns that error.
pub(crate) fn serve_host_call<T>(
    machine: &mut Machine,
    functions: &HostFunctions<T>,
    state: &mut T,
    max_depth: usize,
    call_metrics: &CallMetrics,
) -> Result<(), CallError> {
    let call: FunctionCall = machine.read_output(MessageKind::HostFunctionCall)?;
    if call.name == LOG_FUNCTION {
        // A guest log record: the host's own function, neither span nor metric (the
        // record is the event).
        let result = obs::guest_record(machine.sandbox_id(), call.args);
        return machine
            .reply(&HostMessage::Reply(result))
            .map_err(|source| CallError::Encode { what: "a log record's reply".into(), source });
    }
    let span = Span::host_call(machine.sandbox_id(), &call.name);
    let _entered = span.enter();
    let result: FunctionResult = {
        let mut caller = Caller::new(machine, functions, state, max_depth, call_metrics);
        functions.call(&mut caller, &call.name, call.args)
    };
    span.record_result(&result);
    if machine.is_unwinding() {
        return Ok(());
    }
    match machine.reply(&HostMessage::Reply(result)) {
        Ok(()) => Ok(()),
        Err(message::FrameError::TooLarge { size, capacity }) => {
            let reply = HostMessage::Reply(Err(FunctionError::TooLarge {
                what: format!("result of host function {}", call.name),
                size,
                capacity,
            }));
            machine.reply(&reply).map_err(|source| CallError::Encode { what: "a host call reply".into(), source })
        }
        Err(source) => Err(CallError::Encode { what: format!("the result of host function {}", call.name), source }),
    }
}

impl<T> Sandbox<T> {
    /// Runs the guest's initialisation (from its entry point to its first "ready").
    pub(crate) fn start(
        vm: Box<dyn Backend>,
        mem: GuestMemory,
        mut parts: Parts,
        host_functions: HostFunctions<T>,
        state: T,
        hook: Option<Box<dyn ExitHook>>,
    ) -> Result<Sandbox<T>, BuildError> {
        if hook.is_some() {
            // The debugger holds the vCPU between calls: never hot.
            parts.config.hot = None;
        }
        let mut sandbox = Sandbox::assemble(vm, mem, parts, host_functions, state, None)?;
        if let Some(hook) = hook {
            sandbox.machine.set_hook(hook);
        }
        let init = |sandbox: &mut Sandbox<T>| -> Result<(), CallError> {
            let timeout = Some(sandbox.config.init_timeout);
            let max_depth = sandbox.max_depth();
            let mut host = Host {
                functions: &sandbox.host_functions,
                state: &mut sandbox.state,
                max_depth,
                call_metrics: &CallMetrics::default(),
            };
            sandbox.machine.call(timeout, &mut host)?;
            sandbox.functions = sandbox.machine.read_table()?.map(Arc::new);
            sandbox.call_metrics = CallMetrics::new(sandbox.functions.as_deref());
            sandbox.machine.mark_ready()?;
            // Init ran the normal way; calls may be hot from now on.
            sandbox.machine.set_hot(true);
            Ok(())
        };
        let span = Span::guest_init();
        let result = span.in_scope(|| init(&mut sandbox));
        span.record_result(&result);
        result.map_err(|e| BuildError::Init(Box::new(e)))?;
        Ok(sandbox)
    }

    /// A sandbox of parts that are ready (memory and vCPU state set).
    pub(crate) fn assemble(
        vm: Box<dyn Backend>,
        mut mem: GuestMemory,
        parts: Parts,
        host_functions: HostFunctions<T>,
        state: T,
        ready: Option<(Registers, SpecialRegisters)>,
    ) -> Result<Sandbox<T>, AssembleError> {
        let Parts { shape, layout, config, guest_id, sandbox_id, log_level } = parts;
        let vm: Box<dyn Backend> = match config.hot {
            Some(budget) => Box::new(HotVm::new(vm, HotSlot::of(&mut mem, &layout), budget)?),
            None => vm,
        };
        let mut machine = Machine::new(vm, mem, layout, ready, config.seccomp, sandbox_id)?;
        if ready.is_some() {
            // Ready for calls (made from a snapshot): hot at once.
            machine.set_hot(true);
        }
        // The boot information may hold another level (a snapshot's): say this one's.
        machine.set_guest_log_level(obs::effective_level(log_level));
        Ok(Sandbox {
            machine,
            shape,
            host_functions,
            state,
            config,
            guest_id,
            poisoned: false,
            functions: None,
            call_metrics: Arc::default(),
            log_level,
        })
    }

    /// The sandbox's identity in this process: the `sandbox_id` field of its guest log
    /// events and its spans (1, 2, 3... in order of creation).
    pub fn id(&self) -> u64 {
        self.machine.sandbox_id()
    }

    /// The most verbose guest log level this sandbox keeps (see
    /// [`SandboxBuilder::guest_log_level`](crate::SandboxBuilder::guest_log_level)).
    pub fn guest_log_level(&self) -> GuestLogLevel {
        self.log_level
    }

    /// Changes the most verbose guest log level this sandbox keeps, from the next call
    /// on (`None`: none). Restores keep it; sandboxes made from a later snapshot of
    /// this one start with it.
    pub fn set_guest_log_level(&mut self, level: GuestLogLevel) {
        self.log_level = level;
    }

    /// Tells the guest its log level, as far as anyone listens: the configured
    /// level, lowered to what the `tracing` subscribers take (nothing when none is
    /// installed). A host write into the boot information only when it changes.
    pub(crate) fn sync_guest_log_level(&mut self) {
        self.machine.set_guest_log_level(obs::effective_level(self.log_level));
    }

    /// The metric keys of the guest's functions.
    pub(crate) fn call_metrics(&self) -> &Arc<CallMetrics> {
        &self.call_metrics
    }

    /// Sets the metric keys (a sandbox made from a snapshot shares the snapshot's).
    pub(crate) fn set_call_metrics(&mut self, metrics: Arc<CallMetrics>) {
        self.call_metrics = metrics;
    }

    /// The sandbox's host state (see [`Caller`](crate::Caller)).
    pub fn state(&self) -> &T {
        &self.state
    }

    /// The sandbox's host state, to change between calls (a new request's data, say).
    pub fn state_mut(&mut self) -> &mut T {
        &mut self.state
    }

    /// The sandbox's host state, by value (the sandbox is dropped).
    pub fn into_state(self) -> T {
        self.state
    }

    /// How deep calls may nest (guest -> host -> guest ...).
    fn max_depth(&self) -> usize {
        usize::try_from(self.config.max_call_depth).unwrap_or(usize::MAX)
    }

    /// The machine (vCPU, memory, layout), for the sandbox's other files.
    pub(crate) fn machine(&mut self) -> &mut Machine {
        &mut self.machine
    }

    /// What the layout was computed from.
    pub(crate) fn shape(&self) -> &ImageShape {
        &self.shape
    }

    /// The guest program's identity.
    pub(crate) fn guest_id(&self) -> GuestId {
        self.guest_id
    }

    /// Sets the function table (a sandbox made from a snapshot has the snapshot's).
    pub(crate) fn set_function_table(&mut self, functions: Option<Arc<FunctionTable>>) {
        self.functions = functions;
    }

    /// Marks the sandbox poisoned, or clears it (a complete restore).
    pub(crate) fn set_poisoned(&mut self, poisoned: bool) {
        self.poisoned = poisoned;
    }

    /// Whether a fault, kill or deadline left the guest in an unknown state: then every
    /// call fails with [`CallError::Poisoned`] until a [`restore`](Sandbox::restore).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Calls the guest function `name` with `args` (one value, a tuple, or `()`), and
    /// returns its result as `R`.
    ///
    /// ```no_run
    /// # let mut sandbox = hyperlight_host::SandboxBuilder::new().build_from_file("simpleguest")?;
    /// let sum: i32 = sandbox.call("Add", (2, 3))?;
    /// let echo: String = sandbox.call("EchoString", "hi".to_string())?;
    /// sandbox.call::<()>("ReturnUnit", ())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call<R: ReturnType>(&mut self, name: &str, args: impl Arguments) -> Result<R, CallError> {
        let value = self.call_values(name, args.into_values())?;
        typed(name, value)
    }

    /// Calls the guest function `name` with untyped arguments and returns its untyped
    /// result (for tools that learn the types at run time, such as the CLI).
    pub fn call_values(&mut self, name: &str, args: Vec<Value>) -> Result<Value, CallError> {
        self.call_values_with_timeout(name, args, self.config.call_timeout)
    }

    /// Like [`call`](Sandbox::call), but stopped with
    /// [`CallError::Timeout`] if it runs longer than `timeout` (instead of the
    /// sandbox's default [`call_timeout`](crate::SandboxBuilder::call_timeout)).
    pub fn call_with_timeout<R: ReturnType>(
        &mut self,
        name: &str,
        args: impl Arguments,
        timeout: Duration,
    ) -> Result<R, CallError> {
        let value = self.call_values_with_timeout(name, args.into_values(), Some(timeout))?;
        typed(name, value)
    }

    /// A handle that stops this sandbox's running call from any thread.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        InterruptHandle { inner: Arc::clone(self.machine.interrupt()) }
    }

    /// [`call_values`](Sandbox::call_values) with a deadline: stopped with
    /// [`CallError::Timeout`] if it runs longer than `timeout` (`None`: no deadline,
    /// instead of the sandbox's default), for servers that learn types at run time
    /// and give each request its own deadline.
    pub fn call_values_with_timeout(
        &mut self,
        name: &str,
        args: Vec<Value>,
        timeout: Option<Duration>,
    ) -> Result<Value, CallError> {
        let call = HostMessageRef::Call(GuestCallRef { function: FunctionRefRef::Name(name), args: &args[..] });
        self.run_call(&call, name, None, timeout)
    }

    /// Runs the call `msg` (of the function `name`, at `index` in the function table if
    /// the caller knows it) as a top-level call: its frame on an empty input stack,
    /// under the kill and deadline protocol; a failure that leaves the guest in an
    /// unknown state poisons the sandbox. Observed: a `call` span, the call's metrics,
    /// and an error count on failure.
    pub(crate) fn run_call<M: serde::Serialize + ?Sized>(
        &mut self,
        msg: &M,
        name: &str,
        index: Option<u32>,
        timeout: Option<Duration>,
    ) -> Result<Value, CallError> {
        self.observed(name, index, |s| s.run_call_inner(msg, name, timeout))
    }

    /// Runs `inner` as the call of `name` (at `index` in the function table, if
    /// known), observed: its `call` span, its metrics, its error count.
    fn observed(
        &mut self,
        name: &str,
        index: Option<u32>,
        inner: impl FnOnce(&mut Self) -> Result<Value, CallError>,
    ) -> Result<Value, CallError> {
        let span = Span::call(self.machine.sandbox_id(), name);
        let _entered = span.enter();
        let timer = Timer::start();
        let result = inner(self);
        self.call_metrics.record(index, name, timer);
        if let Err(e) = &result {
            obs::guest_error(e);
        }
        span.record_result(&result);
        result
    }

    /// What observing a call costs the host, without the call: the shell of
    /// [`Sandbox::run_call`] around the guest log level check alone (for the
    /// overhead bench).
    pub(crate) fn observed_nothing(&mut self, name: &str, index: Option<u32>) -> Result<Value, CallError> {
        self.observed(name, index, |s| {
            s.sync_guest_log_level();
            Ok(Value::Unit)
        })
    }

    fn run_call_inner<M: serde::Serialize + ?Sized>(
        &mut self,
        msg: &M,
        name: &str,
        timeout: Option<Duration>,
    ) -> Result<Value, CallError> {
        let result: FunctionResult = self.run_message(msg, name, timeout, MessageKind::FunctionResult)?;
        result.map_err(|e| from_function_error(e, name))
    }

    /// Runs `msg` (a call or a batch, of `name` for errors) as a top-level call and
    /// reads what the guest answers as `R` (see [`Sandbox::run_call`]).
    pub(crate) fn run_message<M: serde::Serialize + ?Sized, R: serde::de::DeserializeOwned>(
        &mut self,
        msg: &M,
        name: &str,
        timeout: Option<Duration>,
        answer: MessageKind,
    ) -> Result<R, CallError> {
        if self.poisoned {
            return Err(CallError::Poisoned);
        }
        self.sync_guest_log_level();
        self.machine.clear_frames();
        self.machine.push_call(msg).map_err(|e| to_large(e, || format!("arguments of {name}")))?;
        let max_depth = self.max_depth();
        let mut host = Host {
            functions: &self.host_functions,
            state: &mut self.state,
            max_depth,
            call_metrics: &self.call_metrics,
        };
        let result = self.machine.call(timeout, &mut host).and_then(|()| self.machine.read_output(answer));
        self.machine.pop_call();
        if let Err(e) = &result {
            if e.poisons() {
                // A fault, a kill, a deadline or a protocol breach: the guest's state is
                // unknown until a restore.
                self.poisoned = true;
            } else if e.resets_vcpu() {
                // A panic or abort: the guest gave up in the middle of a call; put it
                // back where it waits for calls.
                self.machine.reset_vcpu()?;
            }
        }
        result
    }

    /// The guest's functions and their signatures, as it reported them at init
    /// (`None` for a guest not built with the runtime, which reports none).
    pub fn functions(&self) -> Option<&[FunctionSignature]> {
        self.functions.as_deref().map(Vec::as_slice)
    }

    /// The function table, shared (for snapshots and handles).
    pub(crate) fn function_table(&self) -> Option<&Arc<FunctionTable>> {
        self.functions.as_ref()
    }

    /// Maps `region` into the guest at `addr`, a range reserved with
    /// [`SandboxBuilder::reserve_region`](crate::SandboxBuilder::reserve_region) for
    /// `access` (which must be the reservation's), replacing what was mapped there.
    /// The guest reads it in place, without a copy; a guest write is a page fault
    /// naming the address. Between calls only.
    ///
    /// Mappings belong to the sandbox, not to its memory: a snapshot does not hold
    /// them, a restore keeps the ones mapped now, a sandbox made from a snapshot
    /// starts with none, and a dropped sandbox's VM goes to the pool without them.
    /// The guest learns what is mapped from `hyperlight_guest::regions()`.
    pub fn map_region(&mut self, addr: u64, region: &HostRegion, access: RegionAccess) -> Result<(), RegionError> {
        self.stop_hot();
        self.machine.map_region(addr, region, access)
    }

    /// Unmaps the region at `addr` (reading there then stops the guest with
    /// [`ProtocolError::UnexpectedExit`]).
    pub fn unmap_region(&mut self, addr: u64) -> Result<(), RegionError> {
        self.stop_hot();
        self.machine.unmap_region(addr)
    }

    /// Brings a hot vCPU to the normal stopped state (see `vm/hot.rs`) before the
    /// host uses it otherwise; a guest that had to be forced out of its hot loop is in
    /// an unknown state, so the sandbox is poisoned. Returns whether it went cleanly.
    pub(crate) fn stop_hot(&mut self) -> bool {
        let clean = self.machine.stop_hot();
        if !clean {
            self.poisoned = true;
        }
        clean
    }

    /// See `testing::make_forbidden_syscall_on_vcpu_thread`.
    pub(crate) fn make_forbidden_syscall_on_vcpu_thread(&self) -> bool {
        match self.machine.vm().as_threaded() {
            Some(threaded) => {
                threaded.make_forbidden_syscall();
                true
            }
            None => false,
        }
    }

    /// The core file written for the last fault, if any (feature `crashdump`, with
    /// [`SandboxBuilder::crash_dump_dir`](crate::SandboxBuilder::crash_dump_dir)).
    #[cfg(feature = "crashdump")]
    pub fn last_crash_dump(&self) -> Option<&std::path::Path> {
        self.machine.hook().and_then(|h| h.last_crash_dump())
    }

    /// The configuration this sandbox was built with.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }
}

/// Why the parts of a sandbox could not be put together.
#[derive(Debug)]
pub(crate) enum AssembleError {
    Signal(InterruptSignalError),
    VcpuThread(VcpuThreadError),
}

impl From<InterruptSignalError> for AssembleError {
    fn from(e: InterruptSignalError) -> AssembleError {
        AssembleError::Signal(e)
    }
}

impl From<VcpuThreadError> for AssembleError {
    fn from(e: VcpuThreadError) -> AssembleError {
        AssembleError::VcpuThread(e)
    }
}

impl From<AssembleError> for BuildError {
    fn from(e: AssembleError) -> BuildError {
        match e {
            AssembleError::Signal(e) => BuildError::InterruptSignal(e),
            AssembleError::VcpuThread(e) => BuildError::VcpuThread(e),
        }
    }
}

impl From<AssembleError> for crate::error::SnapshotError {
    fn from(e: AssembleError) -> crate::error::SnapshotError {
        match e {
            AssembleError::Signal(e) => crate::error::SnapshotError::InterruptSignal(e),
            AssembleError::VcpuThread(e) => crate::error::SnapshotError::VcpuThread(e),
        }
    }
}

/// The value `name` returned, as the caller's type.
fn typed<R: ReturnType>(name: &str, value: Value) -> Result<R, CallError> {
    R::from_value(value).map_err(|got| CallError::ReturnType {
        function: name.to_string(),
        expected: R::TYPE,
        got: got.value_type(),
    })
}

/// The host's error for what the guest reported about the call of `function`.
pub(crate) fn from_function_error(e: FunctionError, function: &str) -> CallError {
    match e {
        FunctionError::FunctionNotFound { name } => CallError::GuestFunctionNotFound { name },
        FunctionError::HostFunctionNotFound { name } => CallError::HostFunctionNotFound { name },
        FunctionError::ArgumentCount { function, expected, got } => {
            CallError::ArgumentCount { function, expected, got }
        }
        FunctionError::ArgumentType { function, index, expected, got } => {
            CallError::ArgumentType { function, index, expected, got }
        }
        FunctionError::ReturnType { function, expected, got } => CallError::ReturnType { function, expected, got },
        FunctionError::HostFunctionFailed { name, message } => CallError::HostFunctionFailed { name, message },
        FunctionError::TooLarge { what, size, capacity } => CallError::TooLarge { what, size, capacity },
        FunctionError::BadMessage { detail } => CallError::Protocol(ProtocolError::Rejected { message: detail }),
        FunctionError::Failed { message } => CallError::GuestFailed { function: function.to_string(), message },
    }
}

pub(crate) fn to_large(e: message::FrameError, what: impl FnOnce() -> String) -> CallError {
    match e {
        message::FrameError::TooLarge { size, capacity } => CallError::TooLarge { what: what(), size, capacity },
        source => CallError::Encode { what: what(), source },
    }
}
