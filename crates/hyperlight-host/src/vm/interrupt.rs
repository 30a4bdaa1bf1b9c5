//! Stopping a running call from another thread: [`InterruptHandle`] (kill) and the
//! deadline timer, on one mechanism.
//!
//! The protocol, step by step. All state changes happen under one mutex, so the
//! racing lines are few and each is covered:
//!
//! 1. `begin` (vCPU thread, before the first `KVM_RUN` of a call): the call gets a new
//!    id, `running = true`, the thread's id is recorded, no cancel is pending.
//! 2. `kill` (any thread): only if a call is running, it marks *that* call cancelled,
//!    sets the backend's interrupt flag (KVM's `immediate_exit`) and sends a signal to
//!    the vCPU thread.
//!    - If the vCPU is in the guest, the signal forces an exit (`EINTR`).
//!    - If the vCPU is between runs (in the run loop or in a host function), the flag
//!      makes the next `KVM_RUN` return at once. A host function therefore finishes
//!      normally; the call is cancelled as soon as the guest would resume.
//! 3. `interrupted` (vCPU thread, when a run returns interrupted): clears the flag and
//!    says whether the current call was cancelled; an interruption that was not a
//!    cancel (some other signal) just resumes the guest.
//! 4. `end` (vCPU thread, after the call): `running = false` and the flag is cleared,
//!    under the mutex. A `kill` that comes later finds no running call and does
//!    nothing; a `kill` aimed at call N can never mark call N+1, because it reads
//!    and marks under the same lock that `begin` and `end` take.
//!
//! A deadline is a `kill` of one call id, fired by one process-wide timer thread; if
//! the call has already ended, its id no longer matches and nothing happens.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Why a call was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// `InterruptHandle::kill`.
    Killed,
    /// Its deadline passed.
    Deadline(Duration),
}

#[derive(Debug)]
struct State {
    /// Id of the current (or last) call.
    call: u64,
    running: bool,
    /// Kernel thread id of the vCPU thread during a call.
    tid: libc::pid_t,
    /// A second thread to signal (0: none; see `begin`).
    also: libc::pid_t,
    stop: Option<StopReason>,
    /// The backend's "exit at once" byte, or null once the VM is gone.
    flag: *const AtomicU8,
}

// SAFETY: `flag` is only dereferenced under the mutex, and the sandbox nulls it (under
// the mutex) before its VM, which owns the byte, is dropped.
unsafe impl Send for State {}

/// Shared between a sandbox, its handles and the timer thread.
#[derive(Debug)]
pub(crate) struct Interrupt {
    state: Mutex<State>,
}

/// The signal sent to a vCPU thread to force it out of the guest: by default
/// `SIGRTMIN + 4`, or the one chosen with [`set_interrupt_signal`]. Its handler does
/// nothing and is installed with `SA_RESTART`, so system calls in host functions are
/// not disturbed.
pub fn interrupt_signal() -> libc::c_int {
    let state = signal_state();
    state.installed.or(state.chosen).unwrap_or_else(default_signal)
}

fn default_signal() -> libc::c_int {
    libc::SIGRTMIN() + 4
}

/// Why the interrupt signal could not be chosen or its handler installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterruptSignalError {
    /// The number is not a signal that can be caught.
    #[error("signal {signal} cannot interrupt vCPUs (choose a real-time signal, SIGRTMIN..=SIGRTMAX)")]
    Invalid {
        /// The signal asked for.
        signal: libc::c_int,
    },
    /// The application already handles this signal; hyperlight does not replace its
    /// handler. Choose another one with [`set_interrupt_signal`].
    #[error(
        "signal {signal} already has a handler that is not hyperlight's; choose another with set_interrupt_signal"
    )]
    Taken {
        /// The signal.
        signal: libc::c_int,
    },
    /// The signal is chosen once per process, before the first sandbox.
    #[error("the interrupt signal is already {current}; it can only be chosen before the first sandbox")]
    AlreadyChosen {
        /// The signal in use.
        current: libc::c_int,
    },
    /// `sigaction` failed.
    #[error("cannot install the handler of signal {signal} (errno {errno})")]
    Install {
        /// The signal.
        signal: libc::c_int,
        /// The OS error number.
        errno: i32,
    },
}

/// The signal the application chose (if it did), and the one whose handler is
/// installed (once that succeeded; it never changes after).
#[derive(Debug, Clone, Copy)]
struct SignalState {
    chosen: Option<libc::c_int>,
    installed: Option<libc::c_int>,
}

static SIGNAL: Mutex<SignalState> = Mutex::new(SignalState { chosen: None, installed: None });

fn signal_state() -> MutexGuard<'static, SignalState> {
    // Every update is one store, so a poisoned lock is still consistent.
    SIGNAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Chooses the signal that interrupts vCPU threads (see [`interrupt_signal`]), for an
/// application that uses `SIGRTMIN + 4` itself. Call it once, before the first
/// sandbox is created; it checks that the signal can be caught and has no handler yet.
///
/// ```
/// hyperlight_host::set_interrupt_signal(libc::SIGRTMIN() + 6)?;
/// assert_eq!(hyperlight_host::interrupt_signal(), libc::SIGRTMIN() + 6);
/// # Ok::<(), hyperlight_host::InterruptSignalError>(())
/// ```
pub fn set_interrupt_signal(signal: libc::c_int) -> Result<(), InterruptSignalError> {
    check_signal(signal)?;
    let mut state = signal_state();
    match state.installed {
        Some(current) if current != signal => Err(InterruptSignalError::AlreadyChosen { current }),
        _ => {
            state.chosen = Some(signal);
            Ok(())
        }
    }
}

fn check_signal(signal: libc::c_int) -> Result<(), InterruptSignalError> {
    vmm_sys_util::signal::validate_signal_num(signal).map_err(|_| InterruptSignalError::Invalid { signal })?;
    if signal == libc::SIGKILL || signal == libc::SIGSTOP {
        return Err(InterruptSignalError::Invalid { signal });
    }
    Ok(())
}

extern "C" fn on_interrupt_signal(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

/// Installs the handler of the interrupt signal, once per process; every sandbox
/// creation asks, and every one gets the same answer.
///
/// Not `vmm_sys_util::signal::register_signal_handler`: it installs without
/// `SA_RESTART`, so a kill landing while a host function sleeps in a system call
/// would make that call fail with EINTR. The signal number is checked with
/// vmm-sys-util's `validate_signal_num` (in [`set_interrupt_signal`] and here).
pub(crate) fn install_signal_handler() -> Result<libc::c_int, InterruptSignalError> {
    let mut state = signal_state();
    if let Some(signal) = state.installed {
        return Ok(signal);
    }
    let signal = state.chosen.unwrap_or_else(default_signal);
    check_signal(signal)?;
    // SAFETY: a zeroed sigaction is a valid plain C struct; with a null new action,
    // sigaction only reads the current one into it. The result is checked.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sigaction(signal, std::ptr::null(), &mut old) } != 0 {
        return Err(InterruptSignalError::Install { signal, errno: errno() });
    }
    if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
        return Err(InterruptSignalError::Taken { signal });
    }
    // SAFETY: a zeroed sigaction is a valid plain C struct; the handler does nothing,
    // so it is async-signal-safe; the mask is emptied by sigemptyset on a struct we
    // own. The result is checked.
    let installed = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_interrupt_signal as *const () as usize;
        sa.sa_flags = libc::SA_RESTART | libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(signal, &sa, std::ptr::null_mut())
    };
    if installed != 0 {
        return Err(InterruptSignalError::Install { signal, errno: errno() });
    }
    state.installed = Some(signal);
    Ok(signal)
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The calling thread's kernel id, asked of the kernel once per thread (a call
/// starts with it: a system call per call is measurable here).
/// Sends the interrupt signal to thread `tid` of this process (a vCPU thread in a
/// `KVM_RUN` leaves it with `EINTR`).
pub(crate) fn signal_thread(tid: libc::pid_t) {
    // SAFETY: tgkill to a thread of this process; if the thread is gone the call fails
    // with ESRCH, which is harmless. The handler is installed (`Interrupt::new`, before
    // any vCPU runs).
    unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, interrupt_signal()) };
}

pub(crate) fn current_tid() -> libc::pid_t {
    thread_local! {
        static TID: libc::pid_t = {
            // SAFETY: gettid has no arguments and cannot fail.
            let tid = unsafe { libc::syscall(libc::SYS_gettid) };
            libc::pid_t::try_from(tid).unwrap_or(0)
        };
    }
    TID.with(|t| *t)
}

impl Interrupt {
    /// For a VM whose backend exits at once while `*flag != 0`. Installs the
    /// interrupt signal's handler the first time.
    pub(crate) fn new(flag: *const AtomicU8) -> Result<Arc<Interrupt>, InterruptSignalError> {
        install_signal_handler()?;
        if !flag.is_null() {
            // SAFETY: the backend just handed out this pointer to its live flag. A VM
            // reused from the pool starts with no stale stop request.
            unsafe { (*flag).store(0, Ordering::SeqCst) };
        }
        Ok(Arc::new(Interrupt {
            state: Mutex::new(State { call: 0, running: false, tid: 0, also: 0, stop: None, flag }),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves the state consistent (every update
        // is a few plain stores), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Step 1: a call starts, its vCPU running on thread `vcpu_thread` (the caller's
    /// if `None`), or on either that one or the caller's if `either` (a hot sandbox,
    /// whose vCPU may run on the caller's thread when it cannot be hot): the signal
    /// then goes to both. Returns the call's id.
    pub(crate) fn begin(&self, vcpu_thread: Option<libc::pid_t>, either: bool) -> u64 {
        let mut s = self.lock();
        s.call += 1;
        s.running = true;
        s.tid = vcpu_thread.unwrap_or_else(current_tid);
        s.also = if either { current_tid() } else { 0 };
        s.stop = None;
        s.call
    }

    /// Step 4: the call ended.
    pub(crate) fn end(&self) {
        let mut s = self.lock();
        s.running = false;
        set_flag(&s, 0);
    }

    /// Step 3: a run returned interrupted; `Some` if the current call was stopped.
    pub(crate) fn interrupted(&self) -> Option<StopReason> {
        let s = self.lock();
        set_flag(&s, 0);
        s.stop
    }

    /// Step 2: stops call `call` (any call if `None`) if it is running.
    fn stop(&self, call: Option<u64>, reason: StopReason) -> bool {
        let mut s = self.lock();
        if !s.running || call.is_some_and(|c| c != s.call) {
            return false;
        }
        if s.stop.is_none() {
            s.stop = Some(reason);
        }
        set_flag(&s, 1);
        signal_thread(s.tid);
        if s.also != 0 && s.also != s.tid {
            signal_thread(s.also);
        }
        true
    }

    /// Makes the running call leave the guest without cancelling it (gdb's Ctrl-C:
    /// the debugger stops it at the next run). Does nothing between calls.
    #[cfg(feature = "gdb")]
    pub(crate) fn pause(&self) {
        let s = self.lock();
        if s.running {
            set_flag(&s, 1);
            // SAFETY: as in `stop`: tgkill to a thread of this process, handler installed.
            unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), s.tid, interrupt_signal()) };
        }
    }

    /// The VM is going away: never touch its flag again.
    pub(crate) fn detach(&self) {
        let mut s = self.lock();
        s.running = false;
        s.flag = std::ptr::null();
    }
}

fn set_flag(s: &State, v: u8) {
    if !s.flag.is_null() {
        // SAFETY: non-null means the VM that owns the byte is alive (see `detach`),
        // and we hold the lock that `detach` takes.
        unsafe { (*s.flag).store(v, Ordering::SeqCst) };
    }
}

/// Stops the running call of a sandbox from any thread.
///
/// Get one with [`Sandbox::interrupt_handle`](crate::Sandbox::interrupt_handle). It
/// is `Send + Sync + Clone` and may outlive the sandbox (then `kill` does nothing).
///
/// ```no_run
/// # let mut sandbox = hyperlight_host::SandboxBuilder::new().build_from_file("simpleguest")?;
/// let handle = sandbox.interrupt_handle();
/// std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_millis(100));
///     handle.kill();
/// });
/// let r = sandbox.call::<()>("Spin", ());
/// assert!(matches!(r, Err(hyperlight_host::CallError::Cancelled)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct InterruptHandle {
    pub(crate) inner: Arc<Interrupt>,
}

impl InterruptHandle {
    /// Stops the call running now, if any; returns whether one was running.
    ///
    /// The call returns [`CallError::Cancelled`](crate::CallError::Cancelled). A kill
    /// never affects a call that starts after it. If the guest is inside a host
    /// function, that function runs to its end and the call is cancelled when the
    /// guest would resume.
    pub fn kill(&self) -> bool {
        self.inner.stop(None, StopReason::Killed)
    }
}

/// A pending deadline: when (and a unique tie-breaker) -> whose call, and its length.
type Deadlines = BTreeMap<(Instant, u64), (Weak<Interrupt>, u64, Duration)>;

/// The process-wide deadline timer.
struct Timer {
    deadlines: Mutex<Deadlines>,
    wake: Condvar,
}

static TIMER: OnceLock<Arc<Timer>> = OnceLock::new();
static NEXT_TIMER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn timer() -> &'static Arc<Timer> {
    TIMER.get_or_init(|| {
        let t = Arc::new(Timer { deadlines: Mutex::new(BTreeMap::new()), wake: Condvar::new() });
        let worker = Arc::clone(&t);
        std::thread::Builder::new()
            .name("hyperlight-deadlines".into())
            .spawn(move || worker.run())
            .expect("the deadline thread starts (once per process)");
        t
    })
}

impl Timer {
    fn run(&self) {
        let mut map = self.deadlines.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            let now = Instant::now();
            let due: Vec<_> = map.range(..=(now, u64::MAX)).map(|(k, _)| *k).collect();
            for key in due {
                if let Some((interrupt, call, after)) = map.remove(&key) {
                    if let Some(i) = interrupt.upgrade() {
                        i.stop(Some(call), StopReason::Deadline(after));
                    }
                }
            }
            map = match map.keys().next() {
                Some((when, _)) => {
                    let wait = when.saturating_duration_since(Instant::now());
                    self.wake.wait_timeout(map, wait).unwrap_or_else(std::sync::PoisonError::into_inner).0
                }
                None => self.wake.wait(map).unwrap_or_else(std::sync::PoisonError::into_inner),
            };
        }
    }
}

/// A pending deadline; dropping it cancels it.
#[derive(Debug)]
pub(crate) struct Deadline {
    /// `None`: so far in the future that `Instant` cannot hold it; it never fires.
    key: Option<(Instant, u64)>,
}

impl Deadline {
    /// Stops call `call` of `interrupt` after `after`. A deadline past what `Instant`
    /// can represent (`Duration::MAX`, say) never fires: the same as no deadline.
    pub(crate) fn start(interrupt: &Arc<Interrupt>, call: u64, after: Duration) -> Deadline {
        let Some(when) = Instant::now().checked_add(after) else {
            return Deadline { key: None };
        };
        let t = timer();
        let key = (when, NEXT_TIMER.fetch_add(1, Ordering::Relaxed));
        let mut map = t.deadlines.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let earliest = map.keys().next().is_none_or(|k| key < *k);
        map.insert(key, (Arc::downgrade(interrupt), call, after));
        drop(map);
        if earliest {
            t.wake.notify_one();
        }
        Deadline { key: Some(key) }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let (Some(t), Some(key)) = (TIMER.get(), self.key) {
            t.deadlines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&key);
        }
    }
}
