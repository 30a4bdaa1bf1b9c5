//! `WasmSandboxBuilder`: memory limits, host functions and WASI settings, then a
//! module (`.wasm` or `.wat`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyperlight_host::{Arguments, GuestLogLevel, LogLevel, SandboxBuilder};
use hyperlight_wasm_common::{decode, encode, LoadOutcome, LoadRequest, LOAD_FUNCTION, WASM_ABI_VERSION};

use crate::error::{RuntimeProtocolError, WasmBuildError};
use crate::host_functions::{HostResult, WasmHostFunctions};
use crate::sandbox::{ModuleMeta, WasmSandbox};
use crate::wasi::{Io, WasiConfig};

/// Default heap of the runtime guest: 128 MiB. It holds the engine, the translated
/// code and the module's linear memory; it is reserved, not committed, so pages the
/// runtime never touches cost nothing.
pub const DEFAULT_WASM_HEAP_SIZE: u64 = 128 << 20;
/// Default limit of the module's linear memory: 64 MiB.
pub const DEFAULT_MAX_MEMORY: u64 = 64 << 20;
/// Default stack of the runtime guest: 1 MiB.
pub const DEFAULT_WASM_STACK_SIZE: u64 = 1 << 20;
/// Default depth of the Wasm call stack, in frames (wasmi's default).
pub const DEFAULT_MAX_CALL_DEPTH: u32 = 1000;

/// Creates Wasm sandboxes.
///
/// ```no_run
/// use hyperlight_wasm::WasmSandbox;
///
/// let mut sandbox = WasmSandbox::builder()
///     .heap_size(64 << 20)                                   // the runtime's heap
///     .max_memory(16 << 20)                                  // the module's linear memory
///     .host_function("env", "add", |a: i32, b: i32| a + b)   // an import of the module
///     .build_from_bytes(br#"(module
///         (import "env" "add" (func $add (param i32 i32) (result i32)))
///         (func (export "add3") (param i32) (result i32)
///             (call $add (local.get 0) (i32.const 3))))"#)?;
/// assert_eq!(sandbox.call::<i32>("add3", 4)?, 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct WasmSandboxBuilder {
    sandbox: SandboxBuilder,
    heap_size: u64,
    stack_size: u64,
    input_buffer_size: Option<u64>,
    max_memory: u64,
    max_call_depth: u32,
    fuel: Option<u64>,
    functions: WasmHostFunctions,
    wasi: WasiConfig,
    wasi_enabled: bool,
    stderr_log: Option<LogLevel>,
    runtime: Option<PathBuf>,
}

impl Default for WasmSandboxBuilder {
    fn default() -> Self {
        WasmSandboxBuilder {
            sandbox: SandboxBuilder::new(),
            heap_size: DEFAULT_WASM_HEAP_SIZE,
            stack_size: DEFAULT_WASM_STACK_SIZE,
            input_buffer_size: None,
            max_memory: DEFAULT_MAX_MEMORY,
            max_call_depth: DEFAULT_MAX_CALL_DEPTH,
            fuel: None,
            functions: WasmHostFunctions::new(),
            wasi: WasiConfig::default(),
            wasi_enabled: true,
            stderr_log: None,
            runtime: None,
        }
    }
}

impl WasmSandboxBuilder {
    /// A builder with the defaults: [`DEFAULT_WASM_HEAP_SIZE`], [`DEFAULT_MAX_MEMORY`],
    /// no fuel limit, WASI on with stdout and stderr to the host's and an empty stdin.
    pub fn new() -> WasmSandboxBuilder {
        WasmSandboxBuilder::default()
    }

    /// The runtime guest's heap in bytes: it must hold the engine, the translated
    /// module and the module's linear memory (up to [`max_memory`](Self::max_memory)).
    pub fn heap_size(mut self, bytes: u64) -> Self {
        self.heap_size = bytes;
        self
    }

    /// The runtime guest's native stack in bytes (not the Wasm stack, which lives in
    /// the heap and is bounded by [`max_call_depth`](Self::max_call_depth)).
    pub fn stack_size(mut self, bytes: u64) -> Self {
        self.stack_size = bytes;
        self
    }

    /// The most bytes any linear memory of the module may have; a `memory.grow` past it
    /// traps with [`Trap::MemoryLimitReached`](crate::Trap::MemoryLimitReached).
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.max_memory = bytes;
        self
    }

    /// The deepest Wasm call stack, in frames; deeper traps with
    /// [`Trap::CallStackExhausted`](crate::Trap::CallStackExhausted).
    pub fn max_call_depth(mut self, frames: u32) -> Self {
        self.max_call_depth = frames;
        self
    }

    /// Fuel for each call (wasmi's fuel: about one unit per instruction); a call that
    /// uses it up traps with [`Trap::OutOfFuel`](crate::Trap::OutOfFuel). Default: none.
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.fuel = Some(fuel);
        self
    }

    /// The input buffer: the largest encoded arguments of one call. Default: 64 KiB,
    /// or the module's size if larger (the module travels through it once).
    pub fn input_buffer_size(mut self, bytes: u64) -> Self {
        self.input_buffer_size = Some(bytes);
        self
    }

    /// The output buffer: the largest encoded result of one call (default 64 KiB).
    pub fn output_buffer_size(mut self, bytes: u64) -> Self {
        self.sandbox = self.sandbox.output_buffer_size(bytes);
        self
    }

    /// A deadline for every call (see [`WasmSandbox::call_with_timeout`]).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.sandbox = self.sandbox.call_timeout(timeout);
        self
    }

    /// A deadline for loading the module (validation, translation, instantiation and
    /// its start function). Default: 10 s.
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.sandbox = self.sandbox.init_timeout(timeout);
        self
    }

    /// Provides the import `module`::`name`: a closure of up to 12 parameters of
    /// `i32`, `u32`, `i64`, `u64`, `f32`, `f64`, `bool`, `String`, `Vec<u8>`,
    /// returning one of those, `()`, or a `Result` of one (see
    /// [`WasmHostFunctions`] and the crate docs for the Wasm signature).
    pub fn host_function<Args, F>(mut self, module: &str, name: &str, f: F) -> Self
    where
        Args: Arguments + 'static,
        F: hyperlight_common::Callable<Args> + Send + Sync + 'static,
        F::Output: HostResult,
    {
        self.functions.register(module, name, f);
        self
    }

    /// Replaces the whole set of host functions.
    pub fn host_functions(mut self, functions: WasmHostFunctions) -> Self {
        self.functions = functions;
        self
    }

    /// Where the module's stdout goes (WASI `fd_write` to fd 1). Default: the host's
    /// stdout.
    pub fn stdout<F: Fn(&[u8]) + Send + Sync + 'static>(mut self, f: F) -> Self {
        self.wasi.stdout = Arc::new(f);
        self
    }

    /// Where the module's stderr goes (fd 2). Default: the host's stderr.
    pub fn stderr<F: Fn(&[u8]) + Send + Sync + 'static>(mut self, f: F) -> Self {
        self.wasi.stderr = Arc::new(f);
        self
    }

    /// Where the module's stdin comes from (WASI `fd_read` of fd 0). Default: empty.
    /// Sandboxes made from a snapshot of this one share the reader.
    pub fn stdin<R: Read + Send + 'static>(mut self, reader: R) -> Self {
        self.wasi.stdin = Some(Arc::new(Mutex::new(reader)));
        self
    }

    /// Adds `name=value` to the module's environment (WASI `environ_get`).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.wasi.env.push(format!("{name}={value}"));
        self
    }

    /// Whether the WASI preview 1 functions are linked (default: yes). Without them a
    /// module importing `wasi_snapshot_preview1` fails to build with
    /// [`WasmBuildError::UnknownImport`].
    pub fn wasi(mut self, enabled: bool) -> Self {
        self.wasi_enabled = enabled;
        self
    }

    /// Makes the module's stderr (WASI fd 2) guest log records at `level`, one per
    /// line, instead of a stream: `tracing` events with target `hyperlight_guest` and
    /// `guest_module = "wasm::stderr"`, filtered like every guest record (see
    /// [`guest_log_level`](Self::guest_log_level)); [`stderr`](Self::stderr) and the
    /// stderr of [`run_command`](crate::WasmSandbox::run_command) then get nothing.
    pub fn stderr_to_log(mut self, level: LogLevel) -> Self {
        self.stderr_log = Some(level);
        self
    }

    /// The most verbose guest log level kept (see
    /// [`SandboxBuilder::guest_log_level`]): for the module's `env.log` records
    /// and, with [`stderr_to_log`](Self::stderr_to_log), its stderr lines.
    pub fn guest_log_level(mut self, level: GuestLogLevel) -> Self {
        self.sandbox = self.sandbox.guest_log_level(level);
        self
    }

    /// Uses the runtime guest at `path` (see [the crate docs](crate#finding-the-runtime)
    /// for where it is looked for otherwise).
    pub fn runtime_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.runtime = Some(path.into());
        self
    }

    /// Creates a sandbox running the module in the file at `path`: a Wasm binary, or
    /// WAT text.
    pub fn build_from_file(self, path: impl AsRef<Path>) -> Result<WasmSandbox, WasmBuildError> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|source| WasmBuildError::ReadFile { path: path.to_path_buf(), source })?;
        self.build_from_bytes(&bytes)
    }

    /// Creates a sandbox running the module in `bytes`: a Wasm binary (it starts with
    /// `\0asm`), or WAT text, converted here.
    ///
    /// Creates the VM with the runtime guest, sends the module in, and has the runtime
    /// validate it, check its imports against the host functions, translate it and
    /// instantiate it (running its start function, if any).
    pub fn build_from_bytes(self, bytes: &[u8]) -> Result<WasmSandbox, WasmBuildError> {
        let module = wat::parse_bytes(bytes).map_err(WasmBuildError::Wat)?;
        let (_, runtime) = crate::runtime::load(self.runtime.as_deref())?;
        let decls = self.functions.declarations();
        let table = Arc::new(self.functions.table(&decls).unwrap_or_default());
        let io = Arc::new(Mutex::new(Io { config: self.wasi.clone(), capture: None }));
        // The module travels through the input buffer once, with room for the
        // declarations and the frame.
        let needed = module.len() as u64 + 64 * 1024;
        let input = self.input_buffer_size.unwrap_or(hyperlight_host::DEFAULT_INPUT_BUFFER_SIZE).max(needed);
        let mut sandbox = self
            .sandbox
            .heap_size(self.heap_size)
            .stack_size(self.stack_size)
            .input_buffer_size(input)
            .host_functions(crate::wasi::host_functions(table, &io))
            .build_from_bytes(&runtime)
            .map_err(WasmBuildError::Sandbox)?;
        let request = LoadRequest {
            version: WASM_ABI_VERSION,
            module: module.into_owned(),
            imports: decls.clone(),
            max_memory: self.max_memory,
            max_call_depth: self.max_call_depth,
            wasi: self.wasi_enabled,
            stderr_log: self.stderr_log.map_or(0, |l| l as u32),
        };
        let config = *sandbox.config();
        let timeout = config.init_timeout;
        let answer: Vec<u8> =
            sandbox.call_with_timeout(LOAD_FUNCTION, encode(&request), timeout).map_err(WasmBuildError::Runtime)?;
        drop(request);
        let outcome: LoadOutcome =
            decode(&answer).map_err(|e| WasmBuildError::Protocol(RuntimeProtocolError::Decode(e)))?;
        let info = outcome.map_err(WasmBuildError::from_failure)?;
        let meta = Arc::new(ModuleMeta { info, imports: decls, id: module_id(bytes) });
        Ok(WasmSandbox::assemble(sandbox, meta, self.functions, io, self.fuel))
    }
}

/// Identifies a module by its bytes, so that a snapshot is only restored into a
/// sandbox of the same module.
fn module_id(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}
