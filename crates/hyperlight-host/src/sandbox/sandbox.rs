//! `Sandbox`: one guest in one VM, ready to run calls.

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Duration;

use hyperlight_common::message::{self, FunctionCall};
use hyperlight_common::{Arguments, ReturnType, Value};

use crate::error::{BuildError, CallError};
use crate::func::host_functions::HostFunctions;
use crate::mem::image_shape::ImageShape;
use crate::mem::layout::Layout;
use crate::mem::memory::GuestMemory;
use crate::sandbox::builder::GuestId;
use crate::sandbox::config::SandboxConfig;
use crate::vm::interrupt::{Deadline, Interrupt, InterruptHandle, InterruptSignalError};
use crate::vm::pool::{self, Pooled};
use crate::vm::{Backend, Registers, SpecialRegisters};

/// What a sandbox is made of besides its VM, memory and host functions.
#[derive(Debug)]
pub(crate) struct Parts {
    pub shape: ImageShape,
    pub layout: Layout,
    pub config: SandboxConfig,
    pub guest_id: GuestId,
}

/// A guest running in its own VM, waiting for calls.
///
/// Made by [`SandboxBuilder`](crate::SandboxBuilder). Each [`call`](Sandbox::call)
/// runs one guest function to completion on the calling thread; a sandbox can move
/// between threads between calls.
#[derive(Debug)]
pub struct Sandbox {
    // Both go to the VM pool when the sandbox is dropped (see `Drop`).
    pub(crate) vm: ManuallyDrop<Box<dyn Backend>>,
    pub(crate) mem: ManuallyDrop<GuestMemory>,
    /// What `layout` was computed from (snapshots save it).
    pub(crate) shape: ImageShape,
    pub(crate) layout: Layout,
    pub(crate) host_functions: HostFunctions,
    pub(crate) config: SandboxConfig,
    /// The vCPU state at the guest's first "ready" exit: where it waits for calls. A
    /// call that ends in a panic or fault resets the vCPU to it.
    pub(crate) ready: Option<(Registers, SpecialRegisters)>,
    /// Kill and deadline state, shared with interrupt handles and the timer.
    pub(crate) interrupt: Arc<Interrupt>,
    /// Identifies the guest program (its loaded bytes): snapshots restore only into
    /// sandboxes of the same guest.
    pub(crate) guest_id: GuestId,
    /// Set by a fault, a kill or a deadline: the guest's state is unknown, so every call
    /// fails until a restore.
    pub(crate) poisoned: bool,
    /// The gdb session and crash-dump settings (empty without those features).
    #[cfg_attr(not(any(feature = "gdb", feature = "crashdump")), allow(dead_code))]
    pub(crate) debug: crate::debug::DebugState,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Before the VM (and its interrupt flag) goes: handles must not touch it.
        self.interrupt.detach();
        // SAFETY: `vm` and `mem` are taken exactly once, here, and the sandbox is never
        // used again after `drop`.
        let (vm, mem) = unsafe { (ManuallyDrop::take(&mut self.vm), ManuallyDrop::take(&mut self.mem)) };
        if vm.poolable() {
            pool::put(Pooled { vm, mem });
        }
    }
}

impl Sandbox {
    /// Runs the guest's initialisation (from its entry point to its first "ready").
    pub(crate) fn start(
        vm: Box<dyn Backend>,
        mem: GuestMemory,
        parts: Parts,
        host_functions: HostFunctions,
        debug: crate::debug::DebugState,
    ) -> Result<Sandbox, BuildError> {
        let mut sandbox = Sandbox::assemble(vm, mem, parts, host_functions, None)?;
        sandbox.debug = debug;
        let init = |sandbox: &mut Sandbox| -> Result<(), CallError> {
            sandbox.run_call(Some(sandbox.config.init_timeout))?;
            let regs = sandbox.vm.registers()?;
            let sregs = sandbox.vm.special_registers()?;
            sandbox.ready = Some((regs, sregs));
            Ok(())
        };
        init(&mut sandbox).map_err(|e| BuildError::Init(Box::new(e)))?;
        Ok(sandbox)
    }

    /// A sandbox of parts that are ready (memory and vCPU state set).
    pub(crate) fn assemble(
        mut vm: Box<dyn Backend>,
        mem: GuestMemory,
        parts: Parts,
        host_functions: HostFunctions,
        ready: Option<(Registers, SpecialRegisters)>,
    ) -> Result<Sandbox, InterruptSignalError> {
        let interrupt = Interrupt::new(vm.interrupt_flag())?;
        let Parts { shape, layout, config, guest_id } = parts;
        Ok(Sandbox {
            vm: ManuallyDrop::new(vm),
            mem: ManuallyDrop::new(mem),
            shape,
            layout,
            host_functions,
            config,
            ready,
            interrupt,
            guest_id,
            poisoned: false,
            debug: crate::debug::DebugState::default(),
        })
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
        InterruptHandle { inner: Arc::clone(&self.interrupt) }
    }

    /// Runs the guest until it waits for the next call, under the kill and deadline
    /// protocol (see `vm/interrupt.rs`).
    fn run_call(&mut self, timeout: Option<Duration>) -> Result<(), CallError> {
        let id = self.interrupt.begin();
        let timeout = self.debug_timeout(timeout);
        let deadline = timeout.map(|t| Deadline::start(&self.interrupt, id, t));
        let result = self.run_until_ready();
        drop(deadline);
        self.interrupt.end();
        result
    }

    fn call_values_with_timeout(
        &mut self,
        name: &str,
        args: Vec<Value>,
        timeout: Option<Duration>,
    ) -> Result<Value, CallError> {
        if self.poisoned {
            return Err(CallError::Poisoned);
        }
        let call = FunctionCall { name: name.to_string(), args };
        self.write_input(&call).map_err(|e| to_large(e, || format!("arguments of {name}")))?;
        let result = self.run_call(timeout).and_then(|()| self.read_result(name));
        if let Err(e) = &result {
            if e.poisons() {
                // A fault, a kill, a deadline or a protocol breach: the guest's state is
                // unknown until a restore.
                self.poisoned = true;
            } else if e.resets_vcpu() {
                // A panic or abort: the guest gave up in the middle of a call; put it
                // back where it waits for calls.
                self.reset_vcpu()?;
            }
        }
        result
    }

    /// Writes a framed message into the input buffer.
    pub(crate) fn write_input<T: serde::Serialize>(&mut self, msg: &T) -> Result<(), message::FrameError> {
        let size = self.layout.input_buffer_size;
        // The layout put the input buffer inside guest memory.
        let buf = self.mem.slice_mut(self.layout.input_buffer, size).map_err(|_| message::FrameError::NoHeader)?;
        message::write_frame(buf, msg).map(|_| ())
    }

    /// Puts the vCPU back where the guest waits for calls.
    fn reset_vcpu(&mut self) -> Result<(), CallError> {
        if let Some((regs, sregs)) = &self.ready {
            self.vm.set_special_registers(sregs)?;
            self.vm.set_registers(regs)?;
        }
        Ok(())
    }

    /// The configuration this sandbox was built with.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
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

fn to_large(e: message::FrameError, what: impl FnOnce() -> String) -> CallError {
    match e {
        message::FrameError::TooLarge { size, capacity } => CallError::TooLarge { what: what(), size, capacity },
        source => CallError::Encode { what: what(), source },
    }
}
