//! The host side of WASI preview 1: where a module's stdout and stderr go, where its
//! stdin comes from, and its clocks and random bytes.
//!
//! The runtime guest implements the WASI functions themselves and calls the host only
//! for what lies outside the VM: output (buffered in the guest, sent in chunks), input,
//! and the time. (Random bytes need no host call: the runtime derives them from the
//! per-sandbox seed the host renews at every restore and twin.)

use std::io::{Read, Write};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hyperlight_host::HostFunctions;
use hyperlight_wasm_common::{
    decode, encode, ImportOutcome, IMPORT_FUNCTION, WASI_CLOCK_FUNCTION, WASI_READ_FUNCTION, WASI_WRITE_FUNCTION,
};

use crate::host_functions::WasmHostFunction;

/// Where output of one stream goes.
pub(crate) type Sink = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// How a sandbox talks to the outside through WASI: kept by the builder and by
/// snapshots, so that sandboxes made from a snapshot print where the original did.
#[derive(Clone)]
pub(crate) struct WasiConfig {
    pub stdout: Sink,
    pub stderr: Sink,
    /// Shared by every sandbox made from this configuration.
    pub stdin: Option<Arc<Mutex<dyn Read + Send>>>,
    pub env: Vec<String>,
}

impl Default for WasiConfig {
    fn default() -> Self {
        WasiConfig {
            stdout: Arc::new(|b: &[u8]| {
                let mut out = std::io::stdout().lock();
                // A module cannot act on a failed write to our stdout.
                let _ = out.write_all(b).and_then(|()| out.flush());
            }),
            stderr: Arc::new(|b: &[u8]| {
                let _ = std::io::stderr().lock().write_all(b);
            }),
            stdin: None,
            env: Vec::new(),
        }
    }
}

impl std::fmt::Debug for WasiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiConfig").field("stdin", &self.stdin.is_some()).field("env", &self.env).finish()
    }
}

/// The I/O state of one sandbox.
pub(crate) struct Io {
    pub config: WasiConfig,
    /// Set during `run_command`: output is captured here, stdin read from here.
    pub capture: Option<Capture>,
}

/// A command run's captured streams.
#[derive(Debug, Default)]
pub(crate) struct Capture {
    pub stdin: Vec<u8>,
    pub stdin_at: usize,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Io {
    fn write(&mut self, fd: u32, bytes: &[u8]) {
        match (&mut self.capture, fd) {
            (Some(c), 1) => c.stdout.extend_from_slice(bytes),
            (Some(c), _) => c.stderr.extend_from_slice(bytes),
            (None, 1) => (self.config.stdout)(bytes),
            (None, _) => (self.config.stderr)(bytes),
        }
    }

    fn read(&mut self, max: u32) -> Vec<u8> {
        let max = max as usize;
        if let Some(c) = &mut self.capture {
            let rest = c.stdin.get(c.stdin_at..).unwrap_or(&[]);
            let n = rest.len().min(max);
            let out = rest[..n].to_vec();
            c.stdin_at += n;
            return out;
        }
        let Some(stdin) = &self.config.stdin else { return Vec::new() };
        let mut buf = vec![0u8; max];
        let mut reader = stdin.lock().unwrap_or_else(PoisonError::into_inner);
        // A failed read is the end of input for the module.
        let n = loop {
            match reader.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r.unwrap_or(0),
            }
        };
        buf.truncate(n);
        buf
    }
}

/// The hyperlight host functions of a Wasm sandbox: the module's imports (through
/// `table`) and WASI's (through `io`).
pub(crate) fn host_functions(table: Arc<Vec<WasmHostFunction>>, io: &Arc<Mutex<Io>>) -> HostFunctions {
    let mut f = HostFunctions::new();
    f.register(IMPORT_FUNCTION, move |index: u32, args: Vec<u8>| -> Vec<u8> {
        let outcome: ImportOutcome = match (table.get(index as usize), decode::<Vec<hyperlight_host::Value>>(&args)) {
            (Some(function), Ok(args)) => (function.call)(args),
            (None, _) => Err(format!("no host function with import index {index}")),
            (_, Err(e)) => Err(format!("undecodable arguments: {e}")),
        };
        encode(&outcome)
    });
    let io_write = Arc::clone(io);
    f.register(WASI_WRITE_FUNCTION, move |fd: u32, bytes: Vec<u8>| {
        io_write.lock().unwrap_or_else(PoisonError::into_inner).write(fd, &bytes);
    });
    let io_read = Arc::clone(io);
    f.register(WASI_READ_FUNCTION, move |_fd: u32, max: u32| -> Vec<u8> {
        io_read.lock().unwrap_or_else(PoisonError::into_inner).read(max)
    });
    f.register(WASI_CLOCK_FUNCTION, clock);
    f
}

/// WASI `clock_time_get`: realtime (0) in nanoseconds since the Unix epoch; monotonic
/// (1), and the CPU-time clocks (2, 3) for want of better, in nanoseconds since this
/// process first asked. `u64::MAX` for an unknown clock (the guest returns `EINVAL`).
fn clock(id: u32) -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1);
    match id {
        0 => SystemTime::now().duration_since(UNIX_EPOCH).map(nanos).unwrap_or(0),
        1..=3 => nanos(START.get_or_init(Instant::now).elapsed()),
        _ => u64::MAX,
    }
}
