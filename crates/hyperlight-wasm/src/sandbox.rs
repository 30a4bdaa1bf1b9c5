//! `WasmSandbox`: one module, instantiated in the Wasm runtime guest of one VM.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyperlight_host::{Arguments, InterruptHandle, ReturnType, Sandbox, Value};
use hyperlight_wasm_common::{
    decode, encode, CallOutcome, CallRequest, ImportDecl, ModuleInfo, RunOutcome, RunRequest, CALL_FUNCTION,
    RUN_FUNCTION,
};

use crate::builder::WasmSandboxBuilder;
use crate::error::{RuntimeProtocolError, WasmCallError};
use crate::host_functions::WasmHostFunctions;
use crate::wasi::{Capture, Io};

pub use hyperlight_wasm_common::{ExportInfo, WasmType};

/// What the host knows of the loaded module.
#[derive(Debug)]
pub(crate) struct ModuleMeta {
    pub info: ModuleInfo,
    /// The host functions, in import-index order, as the runtime linked them.
    pub imports: Vec<ImportDecl>,
    /// Identifies the module's bytes.
    pub id: u64,
}

/// What a WASI command run produced (see [`WasmSandbox::run_command`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// The exit code: `proc_exit`'s argument, or 0 if `_start` returned.
    pub exit_code: i32,
    /// Everything the command wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything the command wrote to stderr.
    pub stderr: Vec<u8>,
}

/// A WebAssembly module instantiated in its own micro-VM, ready for calls.
///
/// Made by [`WasmSandbox::builder`]. The module runs in the wasmi interpreter inside
/// the VM's runtime guest: isolated by Wasm's own checks and, beneath them, by the VM.
///
/// ```no_run
/// use hyperlight_wasm::{Trap, WasmCallError, WasmSandbox};
///
/// let mut sandbox = WasmSandbox::builder().build_from_file("tests/wat/values.wat")?;
/// let clean = sandbox.snapshot()?;                  // instantiated once...
/// for n in 0..3 {
///     let r: i64 = sandbox.call("add_i64", (n as i64, 2i64))?;
///     sandbox.restore(&clean)?;                     // ...a clean instance for every request
/// }
/// match sandbox.call::<i32>("div_s", (1, 0)) {
///     Err(WasmCallError::Trap { trap: Trap::IntegerDivisionByZero, .. }) => {}
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct WasmSandbox {
    sandbox: Sandbox,
    module: Arc<ModuleMeta>,
    functions: WasmHostFunctions,
    io: Arc<Mutex<Io>>,
    fuel: Option<u64>,
}

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io").field("config", &self.config).field("capturing", &self.capture.is_some()).finish()
    }
}

impl WasmSandbox {
    /// A builder for Wasm sandboxes.
    pub fn builder() -> WasmSandboxBuilder {
        WasmSandboxBuilder::new()
    }

    pub(crate) fn assemble(
        sandbox: Sandbox,
        module: Arc<ModuleMeta>,
        functions: WasmHostFunctions,
        io: Arc<Mutex<Io>>,
        fuel: Option<u64>,
    ) -> WasmSandbox {
        WasmSandbox { sandbox, module, functions, io, fuel }
    }

    /// Calls the export `name` with `args` (one value, a tuple, or `()`) and returns
    /// its result as `R`.
    ///
    /// `i32`, `i64`, `f32`, `f64` are themselves; `u32` and `bool` travel as `i32`,
    /// `u64` as `i64`. A `String` or `Vec<u8>` argument is written into the module's
    /// memory through its `hl_alloc` export and passed as two `i32`s (pointer,
    /// length); a `String` or `Vec<u8>` result is read from the pointer and length the
    /// export returns, as two `i32` results or one `i64` (`pointer << 32 | length`).
    pub fn call<R: ReturnType>(&mut self, name: &str, args: impl Arguments) -> Result<R, WasmCallError> {
        let value = self.call_inner(name, args.into_values(), Some(R::TYPE), None)?;
        typed(name, value)
    }

    /// Like [`call`](Self::call), stopped with a timeout error
    /// ([`WasmCallError::Sandbox`] of [`CallError::Timeout`](hyperlight_host::CallError::Timeout))
    /// if it runs longer than `timeout`. A stopped call poisons the sandbox until a
    /// restore.
    pub fn call_with_timeout<R: ReturnType>(
        &mut self,
        name: &str,
        args: impl Arguments,
        timeout: Duration,
    ) -> Result<R, WasmCallError> {
        let value = self.call_inner(name, args.into_values(), Some(R::TYPE), Some(timeout))?;
        typed(name, value)
    }

    /// Calls `name` with untyped arguments; the result is the export's own type
    /// (`want` says which type to read it as when that is ambiguous, as for strings).
    pub fn call_values(
        &mut self,
        name: &str,
        args: Vec<Value>,
        want: Option<hyperlight_host::ValueType>,
    ) -> Result<Value, WasmCallError> {
        self.call_inner(name, args, want, None)
    }

    /// [`call_values`](Self::call_values), stopped with a timeout error
    /// ([`WasmCallError::Sandbox`] of [`CallError::Timeout`](hyperlight_host::CallError::Timeout))
    /// if it runs longer than `timeout`.
    pub fn call_values_with_timeout(
        &mut self,
        name: &str,
        args: Vec<Value>,
        want: Option<hyperlight_host::ValueType>,
        timeout: Duration,
    ) -> Result<Value, WasmCallError> {
        self.call_inner(name, args, want, Some(timeout))
    }

    fn call_inner(
        &mut self,
        name: &str,
        args: Vec<Value>,
        result: Option<hyperlight_host::ValueType>,
        timeout: Option<Duration>,
    ) -> Result<Value, WasmCallError> {
        let request = CallRequest { export: name.to_string(), args, result, fuel: self.fuel };
        let answer: Vec<u8> = match timeout {
            Some(t) => self.sandbox.call_with_timeout(CALL_FUNCTION, encode(&request), t)?,
            None => self.sandbox.call(CALL_FUNCTION, encode(&request))?,
        };
        let outcome: CallOutcome =
            decode(&answer).map_err(|e| WasmCallError::Protocol(RuntimeProtocolError::Decode(e)))?;
        outcome.map_err(|f| WasmCallError::from_failure(f, name))
    }

    /// Runs the module's `_start` as a WASI command with `args` as its argv
    /// (`args[0]` is the program's name), `stdin` as its whole stdin, and returns its
    /// exit code and everything it wrote to stdout and stderr.
    ///
    /// A command's C or Rust runtime initialises itself in `_start`, so run a command
    /// once per clean instance: restore a snapshot between runs.
    pub fn run_command(&mut self, args: &[&str], stdin: &[u8]) -> Result<CommandOutput, WasmCallError> {
        self.lock_io().capture = Some(Capture { stdin: stdin.to_vec(), ..Capture::default() });
        let result = self.run(args);
        let capture = self.lock_io().capture.take().unwrap_or_default();
        Ok(CommandOutput { exit_code: result?, stdout: capture.stdout, stderr: capture.stderr })
    }

    /// Runs `_start` as a WASI command with `args` as argv, with the builder's stdin,
    /// stdout and stderr, and returns its exit code.
    pub fn run(&mut self, args: &[&str]) -> Result<i32, WasmCallError> {
        let env = self.lock_io().config.env.clone();
        let request = RunRequest { args: args.iter().map(|a| a.to_string()).collect(), env, fuel: self.fuel };
        let answer: Vec<u8> = self.sandbox.call(RUN_FUNCTION, encode(&request))?;
        let outcome: RunOutcome =
            decode(&answer).map_err(|e| WasmCallError::Protocol(RuntimeProtocolError::Decode(e)))?;
        outcome.map_err(|f| WasmCallError::from_failure(f, "_start"))
    }

    /// Sets the fuel of every following call (`None`: no limit).
    pub fn set_fuel(&mut self, fuel: Option<u64>) {
        self.fuel = fuel;
    }

    /// The module's exported functions and their Wasm signatures.
    pub fn exports(&self) -> &[ExportInfo] {
        &self.module.info.exports
    }

    /// Whether the module is a WASI command (it exports `_start`).
    pub fn is_command(&self) -> bool {
        self.module.info.command
    }

    /// The WASI functions the module imports that the runtime does not implement
    /// (they return `ENOSYS`).
    pub fn unsupported_wasi_imports(&self) -> &[String] {
        &self.module.info.wasi_unsupported
    }

    /// A handle that stops the running call from any thread (see
    /// [`InterruptHandle::kill`]); the killed call fails with
    /// [`WasmCallError::Sandbox`] of [`CallError::Cancelled`](hyperlight_host::CallError::Cancelled)
    /// and poisons the sandbox until a restore.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        self.sandbox.interrupt_handle()
    }

    /// The identity of the sandbox underneath: the `sandbox_id` of its log events and
    /// spans (see [`Sandbox::id`]).
    pub fn id(&self) -> u64 {
        self.sandbox.id()
    }

    /// Whether a kill, deadline or fault left the sandbox poisoned (calls fail until a
    /// restore).
    pub fn is_poisoned(&self) -> bool {
        self.sandbox.is_poisoned()
    }

    pub(crate) fn lock_io(&self) -> std::sync::MutexGuard<'_, Io> {
        self.io.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn parts(&self) -> (&Sandbox, &Arc<ModuleMeta>, &WasmHostFunctions, &Arc<Mutex<Io>>, Option<u64>) {
        (&self.sandbox, &self.module, &self.functions, &self.io, self.fuel)
    }

    pub(crate) fn sandbox_mut(&mut self) -> &mut Sandbox {
        &mut self.sandbox
    }
}

/// The value `name` returned, as the caller's type.
fn typed<R: ReturnType>(name: &str, value: Value) -> Result<R, WasmCallError> {
    R::from_value(value).map_err(|got| {
        WasmCallError::Sandbox(hyperlight_host::CallError::ReturnType {
            function: name.to_string(),
            expected: R::TYPE,
            got: got.value_type(),
        })
    })
}
