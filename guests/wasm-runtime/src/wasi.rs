//! WASI preview 1: the subset an ordinary `wasm32-wasip1` program needs to start,
//! read its arguments, environment and stdin, write stdout and stderr, read clocks
//! and random bytes, and exit.
//!
//! Output is buffered here and sent to the host in chunks (one host call each), when
//! the buffer fills, when the program switches between stdout and stderr, and when
//! the call ends, so a program printing many short lines costs few VM exits.
//! Every other WASI function the module imports returns `ENOSYS` (and the host is
//! told which ones at load time).

use alloc::string::String;
use alloc::vec::Vec;

use hyperlight_guest::{call_host, LogLevel};
use hyperlight_wasm_common::{WASI_CLOCK_FUNCTION, WASI_MODULE, WASI_READ_FUNCTION, WASI_WRITE_FUNCTION};
use wasmi::{Caller, ExternType, FuncType, Linker, Module, Val, ValType};

use crate::state::State;

const SUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const EINVAL: i32 = 28;
const EIO: i32 = 29;
const ENOSYS: i32 = 52;

/// Output buffered before a flush; well below the default 64 KiB output buffer.
const FLUSH_AT: usize = 16 << 10;
/// The most bytes asked of the host in one read.
const CHUNK: u32 = 16 << 10;

/// The functions implemented here.
const IMPLEMENTED: [&str; 16] = [
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "fd_write",
    "fd_read",
    "fd_close",
    "fd_fdstat_get",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "clock_time_get",
    "clock_res_get",
    "random_get",
    "proc_exit",
    "sched_yield",
    "poll_oneoff",
];

/// WASI's per-run state.
#[derive(Debug, Default)]
pub struct Wasi {
    /// `argv`.
    pub args: Vec<String>,
    /// The environment, `NAME=value` each.
    pub env: Vec<String>,
    /// Output not yet sent, and its fd.
    out: Vec<u8>,
    out_fd: u32,
    /// stderr as log records at this level, one per line (`None`: a stream).
    pub stderr_log: Option<LogLevel>,
    /// The stderr line not yet ended (with `stderr_log`).
    err_line: Vec<u8>,
}

impl Wasi {
    /// Sends buffered output to the host (and an unfinished stderr line as a record).
    pub fn flush(&mut self) {
        if let Some(level) = self.stderr_log {
            if !self.err_line.is_empty() {
                let line = core::mem::take(&mut self.err_line);
                stderr_record(level, &line);
            }
        }
        if self.out.is_empty() {
            return;
        }
        let bytes = core::mem::take(&mut self.out);
        // A host that cannot take the output (it failed) is like a closed stdout.
        let _ = call_host::<()>(WASI_WRITE_FUNCTION, (self.out_fd, bytes));
    }

    fn write(&mut self, fd: u32, bytes: &[u8]) {
        if let (2, Some(level)) = (fd, self.stderr_log) {
            self.log_stderr(level, bytes);
            return;
        }
        if fd != self.out_fd {
            self.flush();
            self.out_fd = fd;
        }
        self.out.extend_from_slice(bytes);
        if self.out.len() >= FLUSH_AT {
            self.flush();
        }
    }
}

impl Wasi {
    /// stderr bytes as records, one per line; dropped at once (not even buffered)
    /// when the host does not want the level.
    fn log_stderr(&mut self, level: LogLevel, bytes: &[u8]) {
        if !hyperlight_guest::log_enabled(level) {
            self.err_line.clear();
            return;
        }
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.err_line.extend_from_slice(&rest[..end]);
            let line = core::mem::take(&mut self.err_line);
            stderr_record(level, &line);
            rest = &rest[end + 1..];
        }
        self.err_line.extend_from_slice(rest);
        if self.err_line.len() >= FLUSH_AT {
            let line = core::mem::take(&mut self.err_line);
            stderr_record(level, &line);
        }
    }
}

/// One stderr line as a guest log record (module `wasm::stderr`).
fn stderr_record(level: LogLevel, line: &[u8]) {
    let text = String::from_utf8_lossy(line);
    hyperlight_guest::log_at(level, text.trim_end_matches('\r'), "wasm::stderr", "", 0);
}

/// Links the WASI functions, and an `ENOSYS` stub for each other WASI function the
/// module imports. Returns the names of the stubbed ones, or the first import that
/// cannot be stubbed (not a function returning an errno).
pub fn define(linker: &mut Linker<State>, module: &Module) -> Result<Vec<String>, (String, String)> {
    let linked = link(linker);
    debug_assert!(linked.is_ok());
    let mut unsupported = Vec::new();
    for import in module.imports() {
        if import.module() != WASI_MODULE || IMPLEMENTED.contains(&import.name()) {
            continue;
        }
        let name = String::from(import.name());
        let ExternType::Func(ty) = import.ty() else {
            return Err((name, String::from("not a function")));
        };
        if ty.results() != [ValType::I32] {
            return Err((name, crate::imports::describe(ty)));
        }
        let stub = FuncType::new(ty.params().to_vec(), [ValType::I32]);
        let defined = linker.func_new(WASI_MODULE, &name, stub, |_caller, _params, results| {
            if let Some(r) = results.first_mut() {
                *r = Val::I32(ENOSYS);
            }
            Ok(())
        });
        if defined.is_err() {
            return Err((name, String::from("cannot be defined")));
        }
        unsupported.push(name);
    }
    Ok(unsupported)
}

type Ctx<'a> = Caller<'a, State>;

fn link(l: &mut Linker<State>) -> Result<(), wasmi::errors::LinkerError> {
    let m = WASI_MODULE;
    l.func_wrap(m, "args_get", |mut c: Ctx<'_>, argv: i32, buf: i32| {
        let list = c.data().wasi.args.clone();
        strings_get(&mut c, &list, argv, buf)
    })?;
    l.func_wrap(m, "args_sizes_get", |mut c: Ctx<'_>, count: i32, size: i32| {
        let list = c.data().wasi.args.clone();
        sizes_get(&mut c, &list, count, size)
    })?;
    l.func_wrap(m, "environ_get", |mut c: Ctx<'_>, env: i32, buf: i32| {
        let list = c.data().wasi.env.clone();
        strings_get(&mut c, &list, env, buf)
    })?;
    l.func_wrap(m, "environ_sizes_get", |mut c: Ctx<'_>, count: i32, size: i32| {
        let list = c.data().wasi.env.clone();
        sizes_get(&mut c, &list, count, size)
    })?;
    l.func_wrap(m, "fd_write", fd_write)?;
    l.func_wrap(m, "fd_read", fd_read)?;
    l.func_wrap(m, "fd_close", |_c: Ctx<'_>, fd: i32| if (0..=2).contains(&fd) { SUCCESS } else { EBADF })?;
    l.func_wrap(m, "fd_fdstat_get", fd_fdstat_get)?;
    // No preopened directories: EBADF is how a program learns there are none.
    l.func_wrap(m, "fd_prestat_get", |_c: Ctx<'_>, _fd: i32, _out: i32| EBADF)?;
    l.func_wrap(m, "fd_prestat_dir_name", |_c: Ctx<'_>, _fd: i32, _p: i32, _l: i32| EBADF)?;
    l.func_wrap(m, "clock_time_get", clock_time_get)?;
    l.func_wrap(m, "clock_res_get", |mut c: Ctx<'_>, id: i32, out: i32| {
        if !(0..=3).contains(&id) {
            return EINVAL;
        }
        store(&mut c, addr(out), &1u64.to_le_bytes())
    })?;
    l.func_wrap(m, "random_get", random_get)?;
    l.func_wrap(m, "proc_exit", |mut c: Ctx<'_>, code: i32| -> Result<(), wasmi::Error> {
        c.data_mut().wasi.flush();
        Err(wasmi::Error::i32_exit(code))
    })?;
    l.func_wrap(m, "sched_yield", |_c: Ctx<'_>| SUCCESS)?;
    // No clocks to wait on and no descriptors to poll: nothing to report.
    l.func_wrap(m, "poll_oneoff", |_c: Ctx<'_>, _in: i32, _out: i32, _n: i32, _events: i32| ENOSYS)?;
    Ok(())
}

#[allow(clippy::cast_sign_loss)] // Wasm pointers are u32 bit patterns in an i32
fn addr(p: i32) -> usize {
    p as u32 as usize
}

/// Writes `bytes` at `ptr` in the module's memory; an errno.
fn store(c: &mut Ctx<'_>, at: usize, bytes: &[u8]) -> i32 {
    let Some(memory) = c.data().memory else { return EFAULT };
    match memory.data_mut(&mut *c).get_mut(at..).and_then(|m| m.get_mut(..bytes.len())) {
        Some(dest) => {
            dest.copy_from_slice(bytes);
            SUCCESS
        }
        None => EFAULT,
    }
}

/// Reads `len` bytes at `ptr` of the module's memory.
fn load(c: &Ctx<'_>, ptr: usize, len: usize) -> Option<Vec<u8>> {
    let memory = c.data().memory?;
    let src = memory.data(c).get(ptr..)?.get(..len)?;
    Some(src.to_vec())
}

/// The `(ptr, len)` pairs of an iovec array.
fn iovecs(c: &Ctx<'_>, iovs: i32, count: i32) -> Option<Vec<(usize, usize)>> {
    let count = usize::try_from(count).ok()?;
    let raw = load(c, addr(iovs), count.checked_mul(8)?)?;
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    Some(raw.chunks_exact(8).map(|e| (word(&e[..4]), word(&e[4..]))).collect())
}

fn sizes_get(c: &mut Ctx<'_>, list: &[String], count: i32, size: i32) -> i32 {
    let n = u32::try_from(list.len()).unwrap_or(u32::MAX);
    let bytes: usize = list.iter().map(|s| s.len() + 1).sum();
    let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
    match store(c, addr(count), &n.to_le_bytes()) {
        SUCCESS => store(c, addr(size), &bytes.to_le_bytes()),
        e => e,
    }
}

fn strings_get(c: &mut Ctx<'_>, list: &[String], pointers: i32, buf: i32) -> i32 {
    let mut at = addr(buf);
    for (i, s) in list.iter().enumerate() {
        let Ok(p) = u32::try_from(at) else { return EFAULT };
        let e = store(c, addr(pointers) + 4 * i, &p.to_le_bytes());
        if e != SUCCESS {
            return e;
        }
        let mut bytes = Vec::with_capacity(s.len() + 1);
        bytes.extend_from_slice(s.as_bytes());
        bytes.push(0);
        let e = store(c, at, &bytes);
        if e != SUCCESS {
            return e;
        }
        at += bytes.len();
    }
    SUCCESS
}

fn fd_write(mut c: Ctx<'_>, fd: i32, iovs: i32, count: i32, written: i32) -> i32 {
    if fd != 1 && fd != 2 {
        return EBADF;
    }
    let Some(list) = iovecs(&c, iovs, count) else { return EFAULT };
    let mut total = 0usize;
    for (ptr, len) in list {
        let Some(bytes) = load(&c, ptr, len) else { return EFAULT };
        #[allow(clippy::cast_sign_loss)]
        c.data_mut().wasi.write(fd as u32, &bytes);
        total += len;
    }
    store(&mut c, addr(written), &u32::try_from(total).unwrap_or(u32::MAX).to_le_bytes())
}

fn fd_read(mut c: Ctx<'_>, fd: i32, iovs: i32, count: i32, read: i32) -> i32 {
    if fd != 0 {
        return EBADF;
    }
    let Some(list) = iovecs(&c, iovs, count) else { return EFAULT };
    // Flush first: an interactive program's prompt must reach the host before it
    // waits for input.
    c.data_mut().wasi.flush();
    let mut total = 0usize;
    for (ptr, len) in list {
        if len == 0 {
            continue;
        }
        let want = u32::try_from(len).unwrap_or(u32::MAX).min(CHUNK);
        let Ok(bytes) = call_host::<Vec<u8>>(WASI_READ_FUNCTION, (0u32, want)) else { return EIO };
        let n = bytes.len().min(len);
        let e = store(&mut c, ptr, &bytes[..n]);
        if e != SUCCESS {
            return e;
        }
        total += n;
        // A short read ends this call, as a POSIX read would.
        if n < len {
            break;
        }
    }
    store(&mut c, addr(read), &u32::try_from(total).unwrap_or(u32::MAX).to_le_bytes())
}

fn fd_fdstat_get(mut c: Ctx<'_>, fd: i32, out: i32) -> i32 {
    const CHARACTER_DEVICE: u8 = 2;
    const RIGHT_FD_READ: u64 = 1 << 1;
    const RIGHT_FD_WRITE: u64 = 1 << 6;
    let rights = match fd {
        0 => RIGHT_FD_READ,
        1 | 2 => RIGHT_FD_WRITE,
        _ => return EBADF,
    };
    let mut stat = [0u8; 24];
    stat[0] = CHARACTER_DEVICE;
    stat[8..16].copy_from_slice(&rights.to_le_bytes());
    store(&mut c, addr(out), &stat)
}

fn clock_time_get(mut c: Ctx<'_>, id: i32, _precision: i64, out: i32) -> i32 {
    let Ok(id) = u32::try_from(id) else { return EINVAL };
    match call_host::<u64>(WASI_CLOCK_FUNCTION, id) {
        Ok(u64::MAX) => EINVAL,
        Ok(ns) => store(&mut c, addr(out), &ns.to_le_bytes()),
        Err(_) => EIO,
    }
}

/// Random bytes from `hyperlight_guest::random`: ChaCha20 keyed by the seed the host
/// writes into the boot page at creation, after every restore and in every twin, so
/// every sandbox and every request after a restore draws its own bytes, without a
/// VM exit.
fn random_get(mut c: Ctx<'_>, buf: i32, len: i32) -> i32 {
    let Ok(len) = usize::try_from(len) else { return EINVAL };
    let mut bytes = alloc::vec![0u8; len];
    hyperlight_guest::random::fill(&mut bytes);
    store(&mut c, addr(buf), &bytes)
}
