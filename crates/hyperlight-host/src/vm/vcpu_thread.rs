//! `ThreadedVm`: a backend whose vCPU runs on a thread the sandbox owns.
//!
//! Only `KVM_RUN` moves to that thread: the run loop, the host functions, the
//! restore's ioctls and everything else stay on the caller's thread. A run is handed
//! over and its exit handed back through one slot (a mutex, uncontended but for an
//! instant, and a phase word both sides watch: nothing allocates). Between runs the
//! vCPU thread waits on the slot, so the caller's thread may use the vCPU's other
//! ioctls itself: the vCPU is never used from two threads at once.
//!
//! Waiting spins first, then parks. A futex wake-up across cores costs 40 us or more
//! in a VM like ours (measured: a mutex and condition variable alone made a call of
//! one exit 3.5x slower), more than the exit it waits for. So the caller spins for
//! the run's exit (which takes at least one VM exit, tens of microseconds), and the
//! vCPU thread spins for the next run for a while after each one (host calls and
//! back-to-back calls come within microseconds); each parks after its spin budget,
//! so an idle sandbox burns no CPU.
//!
//! What it is for: seccomp mode ([`crate::SandboxBuilder::seccomp`]), where the vCPU
//! thread runs under a filter (`vm/seccomp.rs`) that allows only what a run needs, so
//! that the thread that enters the guest can do nothing else, while the
//! application's own thread stays unfiltered.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crate::vm::{Backend, HypervisorError, Registers, SpecialRegisters, VcpuState, VmExit};

/// The slot between the caller and the vCPU thread.
#[derive(Debug)]
enum Slot {
    /// Nothing to do.
    Idle,
    /// Run the vCPU of this backend once (see [`Lent`]), holding the token (if any)
    /// for the length of the run; wake the caller when done.
    Run(Lent, Option<crate::vm::hot::HotToken>),
    /// The run's outcome, for the caller.
    Done(Result<VmExit, HypervisorError>),
    /// Make a system call the filter forbids (seccomp's test only); wake the caller.
    Forbidden,
    /// Leave the thread.
    Quit,
}

/// The backend, lent to the vCPU thread for one run.
#[derive(Debug)]
struct Lent(*mut dyn Backend);

// SAFETY: the pointer is a `&mut dyn Backend` (which is Send) lent for the length of
// one run: the caller blocks until the vCPU thread hands the outcome back and never
// touches the backend meanwhile (see `ThreadedVm::run`).
unsafe impl Send for Lent {}

/// `Handoff::phase`: which side the slot is for. Written after the slot, with the
/// slot's mutex held, so a side that sees its phase finds its slot filled.
const FOR_VCPU: u8 = 1;
const FOR_CALLER: u8 = 2;

/// How long the caller spins for a run's exit before it parks.
const CALLER_SPIN: Duration = Duration::from_micros(500);
/// How long the vCPU thread spins for the next run before it parks.
const VCPU_SPIN: Duration = Duration::from_micros(200);

#[derive(Debug)]
struct Handoff {
    slot: Mutex<Slot>,
    phase: AtomicU8,
    /// The thread that waits for the outcome, if it parked (the sandbox may have moved
    /// to another thread since the run began).
    caller: Mutex<Option<Thread>>,
}

impl Handoff {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        // Every update is one assignment: a poisoned lock still holds a valid slot.
        self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Puts `slot` in for the other side and marks it so.
    fn hand(&self, slot: Slot, phase: u8) {
        let mut guard = self.lock();
        *guard = slot;
        self.phase.store(phase, Ordering::Release);
    }

    /// Waits (spinning for `spin`, then parked) until the slot is for `phase`, and
    /// takes it.
    fn take(&self, phase: u8, spin: Duration) -> Slot {
        self.take_until(phase, spin, None).unwrap_or(Slot::Idle)
    }

    /// [`Handoff::take`], giving up at `deadline` (`None` then).
    fn take_until(&self, phase: u8, spin: Duration, deadline: Option<Instant>) -> Option<Slot> {
        let start = Instant::now();
        let mut registered = false;
        while self.phase.load(Ordering::Acquire) != phase {
            if start.elapsed() < spin {
                std::hint::spin_loop();
                continue;
            }
            if phase == FOR_CALLER && !registered {
                // Registered before the phase is read again, under the lock the vCPU
                // thread takes after its `hand`: it either sees this thread or this
                // thread sees its phase.
                *self.caller_lock() = Some(std::thread::current());
                registered = true;
                continue;
            }
            // Woken by `unpark` after the other side's `hand`; a stale token only
            // costs one more turn of the loop.
            match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    std::thread::park_timeout(left);
                }
                None => std::thread::park(),
            }
        }
        self.phase.store(0, Ordering::Relaxed);
        Some(std::mem::replace(&mut *self.lock(), Slot::Idle))
    }

    fn caller_lock(&self) -> MutexGuard<'_, Option<Thread>> {
        self.caller.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands `slot` to the caller and wakes it if it parked.
    fn answer(&self, slot: Slot) {
        self.hand(slot, FOR_CALLER);
        if let Some(caller) = self.caller_lock().take() {
            caller.unpark();
        }
    }
}

/// Why the vCPU thread could not be started.
#[derive(Debug, thiserror::Error)]
pub enum VcpuThreadError {
    /// The thread could not be spawned.
    #[error("cannot start the vCPU thread")]
    Spawn(#[source] std::io::Error),
    /// The seccomp filter could not be applied to it.
    #[error("cannot apply the seccomp filter to the vCPU thread")]
    Seccomp(#[source] std::io::Error),
}

/// A backend whose `run` happens on a thread of its own.
#[derive(Debug)]
pub(crate) struct ThreadedVm {
    inner: Box<dyn Backend>,
    handoff: Arc<Handoff>,
    thread: Option<JoinHandle<()>>,
    /// Kernel thread id of the vCPU thread (for the interrupt signal).
    tid: libc::pid_t,
}

impl ThreadedVm {
    /// Moves `inner`'s runs to a new thread, which applies `setup` to itself (for
    /// example a seccomp filter) before its first run.
    pub(crate) fn new(
        inner: Box<dyn Backend>,
        setup: impl FnOnce() -> Result<(), VcpuThreadError> + Send + 'static,
    ) -> Result<ThreadedVm, VcpuThreadError> {
        let handoff =
            Arc::new(Handoff { slot: Mutex::new(Slot::Idle), phase: AtomicU8::new(0), caller: Mutex::new(None) });
        let (started_tx, started_rx) = std::sync::mpsc::sync_channel(1);
        let shared = Arc::clone(&handoff);
        let thread = std::thread::Builder::new()
            .name("hyperlight-vcpu".into())
            .spawn(move || {
                let tid = crate::vm::interrupt::current_tid();
                let ready = setup().map(|()| tid);
                let ok = ready.is_ok();
                // The creator waits for this; it cannot have gone away.
                let _ = started_tx.send(ready);
                if ok {
                    serve(&shared);
                }
            })
            .map_err(VcpuThreadError::Spawn)?;
        // The thread sends exactly once, before anything else can fail.
        let started = started_rx
            .recv()
            .unwrap_or_else(|_| Err(VcpuThreadError::Spawn(std::io::Error::other("the vCPU thread died"))));
        match started {
            Ok(tid) => Ok(ThreadedVm { inner, handoff, thread: Some(thread), tid }),
            Err(e) => {
                let _ = thread.join();
                Err(e)
            }
        }
    }

    /// The kernel id of the thread that enters the guest: this one's, or the inner
    /// backend's if it has a thread of its own.
    pub(crate) fn vcpu_thread_of_guest(&self) -> libc::pid_t {
        self.inner.vcpu_thread().unwrap_or(self.tid)
    }

    fn vcpu(&self) -> Option<&Thread> {
        self.thread.as_ref().map(JoinHandle::thread)
    }

    /// Makes the vCPU thread call a system call its filter forbids (seccomp's own
    /// test: the process must die as documented).
    pub(crate) fn make_forbidden_syscall(&self) {
        self.handoff.hand(Slot::Forbidden, FOR_VCPU);
        if let Some(t) = self.vcpu() {
            t.unpark();
        }
        self.handoff.take(FOR_CALLER, CALLER_SPIN);
    }
}

/// The vCPU thread: runs what it is handed until told to quit.
fn serve(handoff: &Handoff) {
    loop {
        match handoff.take(FOR_VCPU, VCPU_SPIN) {
            Slot::Run(Lent(backend), token) => {
                // SAFETY: see `Lent`: the caller lent `&mut dyn Backend` and waits for
                // `Done` before it uses the backend again.
                let exit = unsafe { (*backend).run() };
                // The vCPU no longer spins: its place among the hot ones is free.
                drop(token);
                handoff.answer(Slot::Done(exit));
            }
            Slot::Forbidden => {
                // getppid: harmless, and not on the filter's list.
                // SAFETY: a system call without arguments or effects.
                unsafe { libc::syscall(libc::SYS_getppid) };
                handoff.answer(Slot::Idle);
            }
            Slot::Quit => return,
            Slot::Idle | Slot::Done(_) => {}
        }
    }
}

impl Drop for ThreadedVm {
    fn drop(&mut self) {
        self.quit();
    }
}

impl ThreadedVm {
    /// Ends the vCPU thread (it only waits for the slot between runs: it leaves at
    /// once).
    fn quit(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.handoff.hand(Slot::Quit, FOR_VCPU);
            thread.thread().unpark();
            let _ = thread.join();
        }
    }

    /// Ends the vCPU thread and gives the backend back (no run may be under way).
    pub(crate) fn into_inner(self) -> Box<dyn Backend> {
        let mut this = std::mem::ManuallyDrop::new(self);
        this.quit();
        // SAFETY: `this` is never used or dropped again (ManuallyDrop), and each of
        // its fields that owns something is read out exactly once: `inner` is
        // returned, `handoff` dropped here; `thread` is None after `quit`, `tid` is
        // plain data.
        let (inner, handoff) = unsafe { (std::ptr::read(&this.inner), std::ptr::read(&this.handoff)) };
        drop(handoff);
        inner
    }
}

impl ThreadedVm {
    /// Starts a run on the vCPU thread, which holds `token` while it runs. Until
    /// [`ThreadedVm::poll_run`] or [`ThreadedVm::finish_run`] has its outcome, the
    /// caller must not use the backend (any method of `self` but those two).
    pub(crate) fn start_run(&mut self, token: Option<crate::vm::hot::HotToken>) {
        let lent = Lent(&mut *self.inner as *mut dyn Backend);
        self.handoff.hand(Slot::Run(lent, token), FOR_VCPU);
        if let Some(t) = self.vcpu() {
            t.unpark();
        }
    }

    /// Runs the vCPU on the calling thread (the vCPU thread is idle: no run may be
    /// under way).
    pub(crate) fn run_here(&mut self) -> Result<VmExit, HypervisorError> {
        self.inner.run()
    }

    /// The started run's outcome, if it is done.
    pub(crate) fn poll_run(&self) -> Option<Result<VmExit, HypervisorError>> {
        if self.handoff.phase.load(Ordering::Acquire) != FOR_CALLER {
            return None;
        }
        self.handoff.take_until(FOR_CALLER, Duration::ZERO, Some(Instant::now())).map(outcome)
    }

    /// Waits for the started run's outcome (spinning for `spin`, then parked), until
    /// `deadline` if there is one (`None` then: the run goes on).
    pub(crate) fn finish_run(
        &self,
        spin: Duration,
        deadline: Option<Instant>,
    ) -> Option<Result<VmExit, HypervisorError>> {
        self.handoff.take_until(FOR_CALLER, spin, deadline).map(outcome)
    }
}

/// The outcome of a run, from the slot the vCPU thread answered with.
fn outcome(slot: Slot) -> Result<VmExit, HypervisorError> {
    match slot {
        Slot::Done(exit) => exit,
        // The vCPU thread answers a run with Done only.
        _ => Err(HypervisorError::Operation { operation: "KVM_RUN", source: std::io::Error::other("lost run") }),
    }
}

impl Backend for ThreadedVm {
    fn run(&mut self) -> Result<VmExit, HypervisorError> {
        self.start_run(None);
        self.finish_run(CALLER_SPIN, None).unwrap_or_else(|| outcome(Slot::Idle))
    }

    fn vcpu_thread(&self) -> Option<libc::pid_t> {
        Some(self.tid)
    }

    fn registers(&self) -> Result<Registers, HypervisorError> {
        self.inner.registers()
    }
    fn set_registers(&mut self, regs: &Registers) -> Result<(), HypervisorError> {
        self.inner.set_registers(regs)
    }
    fn special_registers(&self) -> Result<SpecialRegisters, HypervisorError> {
        self.inner.special_registers()
    }
    fn set_special_registers(&mut self, sregs: &SpecialRegisters) -> Result<(), HypervisorError> {
        self.inner.set_special_registers(sregs)
    }
    fn supported_xcr0(&self) -> u64 {
        self.inner.supported_xcr0()
    }
    fn set_xcr0(&mut self, xcr0: u64) -> Result<(), HypervisorError> {
        self.inner.set_xcr0(xcr0)
    }
    fn interrupt_flag(&mut self) -> *const std::sync::atomic::AtomicU8 {
        self.inner.interrupt_flag()
    }
    fn vcpu_state(&mut self) -> Result<VcpuState, HypervisorError> {
        self.inner.vcpu_state()
    }
    fn set_vcpu_state(&mut self, state: &VcpuState) -> Result<(), HypervisorError> {
        self.inner.set_vcpu_state(state)
    }
    fn set_vcpu_state_but_fpu(&mut self, state: &VcpuState, rip: u64) -> Result<(), HypervisorError> {
        self.inner.set_vcpu_state_but_fpu(state, rip)
    }
    fn dirty_pages(&mut self) -> Result<Vec<u64>, HypervisorError> {
        self.inner.dirty_pages()
    }
    unsafe fn map_region(&mut self, slot: u32, gpa: u64, host_addr: u64, size: u64) -> Result<(), HypervisorError> {
        // SAFETY: the caller's promise, passed on unchanged.
        unsafe { self.inner.map_region(slot, gpa, host_addr, size) }
    }
    fn unmap_region(&mut self, slot: u32) -> Result<(), HypervisorError> {
        self.inner.unmap_region(slot)
    }
    fn poolable(&self) -> bool {
        self.inner.poolable()
    }
    fn pending_out_rip(&self) -> Option<u64> {
        self.inner.pending_out_rip()
    }
    fn out_completion_is_inert(&mut self) {
        self.inner.out_completion_is_inert()
    }
    fn as_threaded(&self) -> Option<&ThreadedVm> {
        Some(self)
    }

    #[cfg(feature = "gdb")]
    fn fpu(&self) -> Result<crate::vm::debug_regs::FpuState, HypervisorError> {
        self.inner.fpu()
    }
    #[cfg(feature = "gdb")]
    fn set_fpu(&mut self, fpu: &crate::vm::debug_regs::FpuState) -> Result<(), HypervisorError> {
        self.inner.set_fpu(fpu)
    }
    #[cfg(feature = "gdb")]
    fn debug_registers(&self) -> Result<crate::vm::debug_regs::DebugRegisters, HypervisorError> {
        self.inner.debug_registers()
    }
    #[cfg(feature = "gdb")]
    fn set_debug_registers(&mut self, regs: &crate::vm::debug_regs::DebugRegisters) -> Result<(), HypervisorError> {
        self.inner.set_debug_registers(regs)
    }
    #[cfg(feature = "gdb")]
    fn hardware_breakpoints_work(&self) -> bool {
        self.inner.hardware_breakpoints_work()
    }
}
