//! `HotVm`: a backend whose guest stays in the VM between calls (hot mode, see
//! [`crate::SandboxBuilder::hot`]).
//!
//! The vCPU runs on a thread of the sandbox's (a [`ThreadedVm`]). At an exit point
//! (`Ready`, `HostCall`) an armed guest does not exit: it announces the exit in the
//! hot slot of the input buffer's header and spins there (protocol:
//! `hyperlight_common::hot`). [`HotVm::run`] hands that announcement to the run loop as
//! if it were the exit, and answers it in the slot instead of entering the VM again:
//! a call costs two cache-line transfers, not a VM exit and entry. The run loop above
//! cannot tell the difference, so host calls, re-entrant calls, kills, deadlines,
//! faults and poisoning go exactly as in the normal mode.
//!
//! What the guest writes in the slot is believed only when it is exactly the word the
//! host expects next (the state, the sequence number, a port that may be virtual);
//! anything else is not an exit, and the host waits for a real one (a hostile guest
//! that spins without answering meets the call's deadline, as in the normal mode).
//! The frames are read with the same checks as ever.
//!
//! The vCPU goes back to the normal stopped state (stopped at a real exit) when the
//! guest's spin budget runs out, when the caller has spun for as long without an
//! answer (it then parks, and the guest's next exit is a real one that wakes it),
//! and before any other use of the vCPU (registers, snapshot, restore, regions, drop):
//! the host asks for a real exit in the slot and, if a hostile guest does not comply
//! within [`STOP_GRACE`], forces it out with the interrupt signal
//! ([`HotVm::stop_hot`] says which).
//!
//! A dropped hot sandbox's VM goes to the pool without its thread (the backend
//! inside), so the next sandbox of the size gets it whatever its mode.
//!
//! At most [`max_hot_sandboxes`] vCPUs spin at once in a process (by default one less
//! than the CPUs, at least one): a sandbox that finds no free place runs its next call
//! the normal way, with `KVM_RUN` on the caller's own thread (a handoff to its vCPU
//! thread would wait for a CPU the spinning ones hold), and the interrupt signal goes
//! to both threads.

use std::cell::{RefCell, RefMut};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hyperlight_common::hot::{SlotState, BUDGET_OFFSET, STATE_OFFSET};
use hyperlight_common::port::ExitPort;

use crate::mem::layout::{GuestAddr, Layout};
use crate::mem::memory::GuestMemory;
use crate::vm::vcpu_thread::{ThreadedVm, VcpuThreadError};
use crate::vm::{Backend, HypervisorError, Registers, SpecialRegisters, VcpuState, VmExit};

/// How long the host waits for a guest to leave its hot loop when asked before it
/// forces it out.
pub(crate) const STOP_GRACE: Duration = Duration::from_millis(250);

/// How long a wait for the end of a run spins before it parks.
const FINISH_SPIN: Duration = Duration::from_micros(50);

/// The hot slot's two words, in guest memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HotSlot {
    state: *mut AtomicU64,
    budget: *mut AtomicU64,
}

impl HotSlot {
    /// The slot of the input buffer of `layout` in `mem`. Its words stay valid as long
    /// as `mem`'s host mapping does: the machine that owns both drops the backend
    /// while the mapping is still there, and never unmaps it before.
    pub(crate) fn of(mem: &mut GuestMemory, layout: &Layout) -> HotSlot {
        // The words are the host's to write from now on: marked as written, so that a
        // restore puts their page back whatever the guest did.
        let at = GuestAddr(layout.input_buffer.0 + STATE_OFFSET as u64);
        let words = mem.slice_mut(at, 16).expect("the layout puts the input buffer's header in guest memory");
        let state = words.as_mut_ptr().cast::<AtomicU64>();
        // BUDGET_OFFSET is STATE_OFFSET + 8: the next word.
        HotSlot { state, budget: state.wrapping_add((BUDGET_OFFSET - STATE_OFFSET) / 8) }
    }

    fn state(&self) -> &AtomicU64 {
        // SAFETY: `of` points inside guest memory's host mapping (the input buffer is
        // at least a page, page-aligned, so both words are in it and 8-byte aligned),
        // which outlives the backend (see `of`). Guest memory is shared with the guest,
        // which may write the word at any time: it is only ever accessed atomically.
        unsafe { &*self.state }
    }

    fn budget(&self) -> &AtomicU64 {
        // SAFETY: as for `state`.
        unsafe { &*self.budget }
    }

    /// Changes the state word from `from` to `to`; false if it held something else.
    fn swap(&self, from: SlotState, to: SlotState) -> bool {
        self.state().compare_exchange(from.encode(), to.encode(), Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

// SAFETY: the pointers are into guest memory, which is shared with another thread (the
// vCPU's) by design and only accessed atomically; they are valid as long as the machine
// that owns the backend (see `HotSlot::of`).
unsafe impl Send for HotSlot {}

/// Where the guest is, as the host knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Stopped at a real exit (or never run): the next run enters the VM.
    Cold,
    /// Running after the host armed or answered with `Go(n)`.
    Armed(u32),
    /// At the virtual exit `Wait(n, port)`, which the run loop has been given.
    Waiting(u32, u16),
    /// Running, with the slot `Parked`: the guest's next exit is a real one.
    Parked,
}

/// A backend in hot mode (see the module's documentation).
#[derive(Debug)]
pub(crate) struct HotVm {
    /// `None` once the backend inside has gone to the pool (`take_pooled`).
    inner: RefCell<Option<Hot>>,
    /// The kernel id of the thread that enters the guest (the interrupt signal goes
    /// there).
    tid: libc::pid_t,
}

#[derive(Debug)]
struct Hot {
    vm: ThreadedVm,
    slot: HotSlot,
    /// The guest's spin budget, in TSC ticks.
    budget_ticks: u64,
    /// How long the caller spins for an answer before it parks: the guest's budget
    /// too (one knob bounds the spinning of both sides).
    caller_spin: Duration,
    /// Off until the guest's init is done (and with a debugger attached).
    enabled: bool,
    phase: Phase,
    /// A run is under way on the vCPU thread.
    running: bool,
    /// The next sequence number the host arms with.
    seq: u32,
    /// KVM's immediate-exit flag, for forcing the guest out.
    flag: *const AtomicU8,
    /// The thread that enters the guest (the interrupt signal goes there).
    tid: libc::pid_t,
    /// Runs started on the vCPU thread (entries into the guest).
    entries: u64,
}

// SAFETY: `flag` points to the backend's own interrupt flag (valid as long as the
// backend, which `Hot` owns) and is only accessed atomically; the rest is Send.
unsafe impl Send for Hot {}

impl HotVm {
    /// Moves `vm`'s runs to a thread of its own, hot once [`Backend::set_hot`] says so.
    pub(crate) fn new(mut vm: Box<dyn Backend>, slot: HotSlot, budget: Duration) -> Result<HotVm, VcpuThreadError> {
        let flag = vm.interrupt_flag();
        let vm = match vm.vcpu_thread() {
            // Already on a thread of its own (seccomp mode): run it from a second one,
            // which waits for the first.
            Some(_) => crate::vm::vcpu_thread::ThreadedVm::new(vm, || Ok(()))?,
            None => crate::vm::vcpu_thread::ThreadedVm::new(vm, || {
                // Signal masks are inherited: make sure the kill signal reaches it.
                let _ = vmm_sys_util::signal::unblock_signal(crate::vm::interrupt::interrupt_signal());
                Ok(())
            })?,
        };
        let tid = vm.vcpu_thread_of_guest();
        let budget_ticks =
            u64::try_from(budget.as_nanos().saturating_mul(u128::from(tsc_per_ms())) / 1_000_000).unwrap_or(u64::MAX);
        let hot = Hot {
            vm,
            slot,
            budget_ticks,
            caller_spin: budget,
            enabled: false,
            phase: Phase::Cold,
            running: false,
            seq: 1,
            flag,
            tid,
            entries: 0,
        };
        Ok(HotVm { inner: RefCell::new(Some(hot)), tid })
    }

    fn hot(&mut self) -> &mut Hot {
        self.inner.get_mut().as_mut().expect("only Drop uses a HotVm after take_pooled")
    }

    /// The backend with the vCPU stopped at a real exit.
    fn stopped(&self) -> RefMut<'_, Hot> {
        let mut hot =
            RefMut::map(self.inner.borrow_mut(), |h| h.as_mut().expect("only Drop uses a HotVm after take_pooled"));
        hot.stop();
        hot
    }
}

impl Hot {
    /// Enters the VM from a real exit, armed if a place among the hot vCPUs is free;
    /// `None` when it started a run on the vCPU thread, else the exit of a run made on
    /// this thread (no place: the CPUs are taken, and a handoff to the vCPU thread
    /// would cost more than the normal mode).
    fn start_cold(&mut self) -> Option<Result<VmExit, HypervisorError>> {
        let token = if self.enabled { HotToken::take() } else { None };
        let seq = self.seq;
        self.seq = seq.wrapping_add(2);
        // The vCPU is stopped: nothing else writes the slot now. The page is the input
        // buffer's first, which the host has just written a frame into, so a restore
        // puts it back too.
        self.slot.budget().store(self.budget_ticks, Ordering::Relaxed);
        let state = if token.is_some() { SlotState::Go(seq) } else { SlotState::Cold(seq) };
        self.slot.state().store(state.encode(), Ordering::Release);
        if token.is_none() {
            self.phase = Phase::Cold;
            self.entries += 1;
            return Some(self.vm.run_here());
        }
        self.phase = Phase::Armed(seq);
        self.enter(token);
        None
    }

    /// Starts a run on the vCPU thread.
    fn enter(&mut self, token: Option<HotToken>) {
        self.entries += 1;
        self.vm.start_run(token);
        self.running = true;
    }

    /// Runs the guest to its next exit, real or virtual.
    fn run(&mut self) -> Result<VmExit, HypervisorError> {
        match self.phase {
            Phase::Waiting(at, port) => {
                if self.slot.swap(SlotState::Wait(at, port), SlotState::Go(at.wrapping_add(1))) {
                    self.phase = Phase::Armed(at.wrapping_add(1));
                    self.seq = at.wrapping_add(3);
                } else {
                    // The guest went cold: its real exit through `port` is the one the
                    // run loop has had already; then the VM is entered as normal.
                    if !self.running {
                        self.restart();
                    }
                    let exit = self.finish(None);
                    match exit {
                        Ok(VmExit::IoOut { port: p, .. }) if p == port => {
                            if let Some(exit) = self.start_cold() {
                                return exit;
                            }
                        }
                        // A kill on its way out (or a stray signal: the next run lets it
                        // finish its exit).
                        Ok(VmExit::Interrupted) => return exit,
                        // A guest that wrote what it should not: this is the run's exit.
                        _ => {
                            self.phase = Phase::Cold;
                            return exit;
                        }
                    }
                }
            }
            Phase::Cold => {
                if let Some(exit) = self.start_cold() {
                    return exit;
                }
            }
            Phase::Armed(_) | Phase::Parked => {
                if !self.running {
                    // Resumed after an interruption that stopped nothing.
                    self.restart();
                }
            }
        }
        self.wait()
    }

    /// Enters the VM again where an interruption left the guest.
    fn restart(&mut self) {
        let token = if matches!(self.phase, Phase::Armed(_) | Phase::Waiting(..)) { HotToken::take() } else { None };
        self.enter(token);
    }

    /// Waits for the guest's next exit: a virtual one in the slot, or the run's end.
    fn wait(&mut self) -> Result<VmExit, HypervisorError> {
        let start = Instant::now();
        while let Phase::Armed(go) = self.phase {
            let expected = go.wrapping_add(1);
            let word = self.slot.state().load(Ordering::Acquire);
            if let Some(SlotState::Wait(n, port)) = SlotState::decode(word) {
                // Believed only if it is exactly the next word: this sequence number and
                // a port that may be virtual.
                if n == expected && ExitPort::from_port(port).is_some_and(hyperlight_common::hot::is_virtual) {
                    self.phase = Phase::Waiting(n, port);
                    return Ok(VmExit::IoOut { port, data: 0 });
                }
            }
            if let Some(exit) = self.vm.poll_run() {
                self.running = false;
                return self.ended(exit);
            }
            if start.elapsed() >= self.caller_spin {
                if self.slot.swap(SlotState::Go(go), SlotState::Parked(expected)) {
                    self.phase = Phase::Parked;
                } else if word != self.slot.state().load(Ordering::Acquire) || word == SlotState::Go(go).encode() {
                    // It moved: look again.
                    continue;
                } else {
                    // A word the protocol has no place for: wait for a real exit.
                    break;
                }
            }
            std::hint::spin_loop();
        }
        // Parked (the guest's next exit is a real one, which wakes this thread), or a
        // guest that forged the word: only a real exit, or the call's kill or
        // deadline, ends the wait.
        let exit = self.finish(None);
        self.ended(exit)
    }

    fn ended(&mut self, exit: Result<VmExit, HypervisorError>) -> Result<VmExit, HypervisorError> {
        // A real exit leaves the vCPU stopped where the normal mode would be; an
        // interruption leaves the guest where it was, to be resumed.
        if !exit.as_ref().is_ok_and(|e| *e == VmExit::Interrupted) {
            self.phase = Phase::Cold;
        }
        exit
    }

    /// Waits for the run under way to end (until `deadline`, if any).
    fn finish(&mut self, deadline: Option<Instant>) -> Result<VmExit, HypervisorError> {
        // Whoever calls this has spun already, or waits for an exit that is under way.
        match self.vm.finish_run(FINISH_SPIN, deadline) {
            Some(exit) => {
                self.running = false;
                exit
            }
            None => {
                Err(HypervisorError::Operation { operation: "hot stop", source: std::io::ErrorKind::TimedOut.into() })
            }
        }
    }

    /// Brings the vCPU to the normal stopped state; false if it had to be forced out
    /// (then it is stopped wherever it was).
    fn stop(&mut self) -> bool {
        if !self.running {
            if let Phase::Waiting(..) | Phase::Armed(_) | Phase::Parked = self.phase {
                // Stopped by an interruption in the middle of its hot loop or a call:
                // not where the normal mode would have it (the run loop poisons a
                // killed sandbox; a restore sets the whole state).
                self.phase = Phase::Cold;
                return false;
            }
            return true;
        }
        let deadline = Instant::now() + STOP_GRACE;
        if let Phase::Waiting(at, port) = self.phase {
            // Whether this or the guest's own `Cold` came first, a real exit through
            // `port` follows.
            self.slot.swap(SlotState::Wait(at, port), SlotState::Stop(at.wrapping_add(1)));
            loop {
                match self.finish(Some(deadline)) {
                    Ok(VmExit::IoOut { port: p, .. }) if p == port => {
                        self.phase = Phase::Cold;
                        return true;
                    }
                    // A stray signal: let it go on to its exit.
                    Ok(VmExit::Interrupted) if Instant::now() < deadline => self.restart(),
                    Err(_) if self.running => break,
                    _ => {
                        self.phase = Phase::Cold;
                        return false;
                    }
                }
            }
        }
        self.force_out();
        false
    }

    /// Interrupts the run under way and waits for it to end.
    fn force_out(&mut self) {
        if self.running {
            // SAFETY: the flag is the backend's own, alive as long as it (see `Hot`).
            unsafe { (*self.flag).store(1, Ordering::SeqCst) };
            crate::vm::interrupt::signal_thread(self.tid);
            let _ = self.vm.finish_run(Duration::ZERO, None);
            self.running = false;
            // SAFETY: as above.
            unsafe { (*self.flag).store(0, Ordering::SeqCst) };
        }
        self.phase = Phase::Cold;
    }
}

impl Drop for HotVm {
    fn drop(&mut self) {
        // The machine has stopped the vCPU already (see `Machine`'s drop); were it
        // still running, guest memory may be gone: do not touch the slot.
        if let Some(hot) = self.inner.get_mut() {
            hot.force_out();
        }
    }
}

impl Backend for HotVm {
    fn run(&mut self) -> Result<VmExit, HypervisorError> {
        let hot = self.hot();
        if !hot.enabled && hot.phase == Phase::Cold {
            hot.enter(None);
            return hot.finish(None);
        }
        hot.run()
    }
    fn set_hot(&mut self, on: bool) {
        let hot = self.hot();
        hot.stop();
        hot.enabled = on;
    }
    fn stop_hot(&mut self) -> bool {
        self.hot().stop()
    }
    fn vcpu_thread(&self) -> Option<libc::pid_t> {
        Some(self.tid)
    }
    fn runs_on_either_thread(&self) -> bool {
        true
    }
    fn registers(&self) -> Result<Registers, HypervisorError> {
        self.stopped().vm.registers()
    }
    fn set_registers(&mut self, regs: &Registers) -> Result<(), HypervisorError> {
        self.stopped().vm.set_registers(regs)
    }
    fn special_registers(&self) -> Result<SpecialRegisters, HypervisorError> {
        self.stopped().vm.special_registers()
    }
    fn set_special_registers(&mut self, sregs: &SpecialRegisters) -> Result<(), HypervisorError> {
        self.stopped().vm.set_special_registers(sregs)
    }
    fn supported_xcr0(&self) -> u64 {
        self.stopped().vm.supported_xcr0()
    }
    fn set_xcr0(&mut self, xcr0: u64) -> Result<(), HypervisorError> {
        self.stopped().vm.set_xcr0(xcr0)
    }
    fn interrupt_flag(&mut self) -> *const AtomicU8 {
        self.hot().flag
    }
    fn vcpu_state(&mut self) -> Result<VcpuState, HypervisorError> {
        self.stopped().vm.vcpu_state()
    }
    fn set_vcpu_state(&mut self, state: &VcpuState) -> Result<(), HypervisorError> {
        self.stopped().vm.set_vcpu_state(state)
    }
    fn set_vcpu_state_but_fpu(&mut self, state: &VcpuState, rip: u64) -> Result<(), HypervisorError> {
        self.stopped().vm.set_vcpu_state_but_fpu(state, rip)
    }
    fn dirty_pages(&mut self) -> Result<Vec<u64>, HypervisorError> {
        self.stopped().vm.dirty_pages()
    }
    unsafe fn map_region(&mut self, slot: u32, gpa: u64, host_addr: u64, size: u64) -> Result<(), HypervisorError> {
        // SAFETY: the caller's promise, passed on unchanged.
        unsafe { self.stopped().vm.map_region(slot, gpa, host_addr, size) }
    }
    fn unmap_region(&mut self, slot: u32) -> Result<(), HypervisorError> {
        self.stopped().vm.unmap_region(slot)
    }
    fn vm_entries(&self) -> Option<u64> {
        self.inner.borrow().as_ref().map(|h| h.entries)
    }
    fn take_pooled(&mut self) -> Option<Box<dyn Backend>> {
        let mut hot = self.inner.get_mut().take()?;
        hot.stop();
        Some(hot.vm.into_inner())
    }
    fn pending_out_rip(&self) -> Option<u64> {
        self.stopped().vm.pending_out_rip()
    }
    fn out_completion_is_inert(&mut self) {
        self.stopped().vm.out_completion_is_inert()
    }
}

/// A place among the vCPUs that may spin at once in this process, held by a hot run
/// (the vCPU thread drops it when the run ends).
#[derive(Debug)]
pub(crate) struct HotToken(());

static HOT_NOW: AtomicUsize = AtomicUsize::new(0);
/// 0: not set (the default, from the CPU count).
static HOT_MAX: AtomicUsize = AtomicUsize::new(0);

impl HotToken {
    /// A place, if one is free.
    fn take() -> Option<HotToken> {
        let max = max_hot_sandboxes();
        HOT_NOW.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).ok()?;
        Some(HotToken(()))
    }
}

impl Drop for HotToken {
    fn drop(&mut self) {
        HOT_NOW.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How many hot sandboxes of this process may have their vCPU in the guest between
/// calls (spinning) at once. By default one less than the CPUs the process may use,
/// and at least one, so that the callers keep a CPU; a hot sandbox that finds every
/// place taken runs its next call the normal way (one VM exit) and tries again at
/// the one after.
pub fn max_hot_sandboxes() -> usize {
    match HOT_MAX.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1)),
        n => n,
    }
}

/// Sets [`max_hot_sandboxes`] (0: back to the default). Takes effect at each hot
/// sandbox's next call.
pub fn set_max_hot_sandboxes(max: usize) {
    HOT_MAX.store(max, Ordering::Relaxed);
}

/// How many hot vCPUs spin (or run a call) now.
pub fn hot_sandboxes_now() -> usize {
    HOT_NOW.load(Ordering::Acquire)
}

/// TSC ticks per millisecond, measured once (the guest's spin budget is in TSC ticks:
/// the guest's TSC runs at the host's rate under PVM and hardware KVM alike).
fn tsc_per_ms() -> u64 {
    static RATE: OnceLock<u64> = OnceLock::new();
    *RATE.get_or_init(|| {
        let (t0, c0) = (Instant::now(), tsc());
        while t0.elapsed() < Duration::from_millis(2) {
            std::hint::spin_loop();
        }
        let (ns, ticks) = (t0.elapsed().as_nanos().max(1), u128::from(tsc().wrapping_sub(c0)));
        u64::try_from(ticks * 1_000_000 / ns).unwrap_or(u64::MAX).max(1)
    })
}

fn tsc() -> u64 {
    // SAFETY: `rdtsc` reads a counter; it has no other effect and is always available
    // on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_among_the_hot_vcpus_are_limited_and_given_back() {
        // The only test of the crate's own that takes places.
        set_max_hot_sandboxes(1);
        let first = HotToken::take().expect("one place is free");
        assert!(HotToken::take().is_none(), "no second place");
        assert_eq!(hot_sandboxes_now(), 1);
        drop(first);
        assert!(HotToken::take().is_some(), "the place is given back");
        set_max_hot_sandboxes(0);
        assert!(max_hot_sandboxes() >= 1);
    }
}
