//! `Machine`: the one owner of a guest's vCPU, memory and layout, and the run loop
//! over them.
//!
//! The run loop runs the vCPU until the guest waits for the next call, serving host
//! calls on the way, and turns every other exit into a typed error. It reads top
//! down: [`Machine::call`] (kill and deadline protocol around a run) ->
//! [`Machine::run_until_ready`] (the exit loop) -> one handler per exit. Host calls go
//! to the [`HostCalls`] the caller passes in (the sandbox's host functions); a
//! debugger sees every exit first through an [`ExitHook`].
//!
//! Every byte the guest wrote is copied out of guest memory and bounds-checked before
//! it is decoded (see [`Machine::read_output`]).

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Duration;

use hyperlight_common::boot::{RegionEntry, MAX_LOG_LEVEL_OFFSET, SEED_SIZE};
use hyperlight_common::message::{self, FrameError, FRAME_HEADER};
use hyperlight_common::port::ExitPort;
use hyperlight_common::{AbortKind, FunctionTable, GuestAbort, PAGE_SIZE};

use crate::error::{
    CallError, Exception, GuestFault, MessageKind, ProtocolError, RegionError, SnapshotError, UnexpectedExit,
};
use crate::mem::host_region::{HostRegion, RegionAccess};
use crate::mem::image::Image;
use crate::mem::layout::{GuestAddr, Layout};
use crate::mem::memory::{GuestMemory, OutOfBounds};
use crate::vm::fpu_restore;
use crate::vm::frames::Frames;
use crate::vm::interrupt::{Deadline, Interrupt, InterruptSignalError, StopReason};
use crate::vm::pool::{self, Pooled};
use crate::vm::stubs::has_error_code;
use crate::vm::{Backend, HypervisorError, Registers, SpecialRegisters, VcpuState, VmExit};

/// Frames up to this size are read through a stack buffer.
const SMALL_FRAME: usize = 256;

/// What serves the guest's host calls during a run.
pub(crate) trait HostCalls {
    /// The guest exited with a host call in the output buffer: serve it (reading the
    /// call and writing the reply through `machine`).
    fn host_call(&mut self, machine: &mut Machine) -> Result<(), CallError>;
}

/// What observes, and may consume, the exits of a run: the debugger (gdb stub,
/// crash dumps). Every method has the neutral default.
pub(crate) trait ExitHook: Send + std::fmt::Debug {
    /// The run loop is about to run the vCPU.
    fn before_run(&mut self, _machine: &mut Machine) -> Result<(), CallError> {
        Ok(())
    }
    /// The vCPU exited with `exit`: `None` if the hook consumed it (the run loop runs
    /// the vCPU again), else the exit to handle.
    fn on_exit(&mut self, _machine: &mut Machine, exit: VmExit) -> Result<Option<VmExit>, CallError> {
        Ok(Some(exit))
    }
    /// Guest memory is about to be frozen into a snapshot: anything the hook patched
    /// into it (breakpoints) comes out.
    fn before_snapshot(&mut self, _machine: &mut Machine) -> Result<(), CallError> {
        Ok(())
    }
    /// A snapshot or a restore is done: what came out goes back in.
    fn after_snapshot(&mut self, _machine: &mut Machine) -> Result<(), CallError> {
        Ok(())
    }
    /// Whether calls may have deadlines (not while a debugger holds the guest).
    fn allows_deadlines(&self) -> bool {
        true
    }
    /// The core file written for the last fault, if any (feature `crashdump`).
    #[cfg(feature = "crashdump")]
    fn last_crash_dump(&self) -> Option<&std::path::Path> {
        None
    }
}

/// A guest's vCPU, memory and layout.
#[derive(Debug)]
pub(crate) struct Machine {
    // Both go to the VM pool when the machine is dropped (see `Drop`).
    vm: ManuallyDrop<Box<dyn Backend>>,
    mem: ManuallyDrop<GuestMemory>,
    layout: Layout,
    /// Kill and deadline state, shared with interrupt handles and the timer.
    interrupt: Arc<Interrupt>,
    /// The vCPU state at the guest's first "ready" exit: where it waits for calls. A
    /// call that ends in a panic or abort resets the vCPU to it.
    ready: Option<(Registers, SpecialRegisters)>,
    hook: Option<Box<dyn ExitHook>>,
    /// The stack of frames in the input buffer.
    frames: Frames,
    /// A nested call failed in a way that ends every level above it (a fault, a
    /// panic, a kill...): the error each level returns as it unwinds.
    unwinding: Option<CallError>,
    /// The host regions mapped now, by reservation (`layout.regions`); reservation
    /// `i` is memory slot `i + 1`.
    mapped: Vec<Option<HostRegion>>,
    /// Pooled VMs are kept apart by mode (seccomp or not).
    seccomp: bool,
    /// The sandbox's identity in events, spans and metrics.
    sandbox_id: u64,
    /// VM exits so far (for tests that count them).
    exits: u64,
    /// The guest log level last written into the boot information, if known.
    log_level_word: Option<u32>,
    /// The state the last restore set, while the guest has not run since: the vCPU's
    /// RIP is then the FPU restore sequence's and its XSAVE area still the last
    /// tenant's, so this is the vCPU state (see `vm/fpu_restore.rs`).
    unrun: Option<VcpuState>,
    /// The allocation of the last `unrun`, kept for the next restore.
    spare: Option<VcpuState>,
}

impl Drop for Machine {
    fn drop(&mut self) {
        // Before the VM (and its interrupt flag) goes: handles must not touch it.
        self.interrupt.detach();
        crate::obs::sandboxes_live(false);
        // What this tenant's last `out` left pending is judged against its own code,
        // while it is still mapped (the next tenant's memory replaces it).
        self.settle_completion();
        // No tenant's host region may reach the next one on this VM: the slots go
        // first, and a VM whose slot cannot be removed is closed, not pooled.
        let mut clean = true;
        for (i, region) in self.mapped.iter().enumerate() {
            if region.is_some() {
                clean &= self.vm.unmap_region(slot_of(i)).is_ok();
            }
        }
        // SAFETY: `vm` and `mem` are taken exactly once, here, and the machine is never
        // used again after `drop`.
        let (mut vm, mem) = unsafe { (ManuallyDrop::take(&mut self.vm), ManuallyDrop::take(&mut self.mem)) };
        // A hot sandbox pools the VM under its hot mode's thread.
        let vm = vm.take_pooled().unwrap_or(vm);
        if clean && vm.poolable() {
            pool::put(Pooled { vm, mem, seccomp: self.seccomp });
        }
    }
}

impl Machine {
    /// A machine of parts that are ready (memory and vCPU state set).
    pub(crate) fn new(
        mut vm: Box<dyn Backend>,
        mem: GuestMemory,
        layout: Layout,
        ready: Option<(Registers, SpecialRegisters)>,
        seccomp: bool,
        sandbox_id: u64,
    ) -> Result<Machine, InterruptSignalError> {
        let interrupt = Interrupt::new(vm.interrupt_flag())?;
        crate::obs::sandboxes_live(true);
        let mapped = vec![None; layout.regions.len()];
        Ok(Machine {
            mapped,
            vm: ManuallyDrop::new(vm),
            mem: ManuallyDrop::new(mem),
            layout,
            interrupt,
            ready,
            hook: None,
            frames: Frames::default(),
            unwinding: None,
            seccomp,
            sandbox_id,
            exits: 0,
            log_level_word: None,
            unrun: None,
            spare: None,
        })
    }

    /// The sandbox's identity in events, spans and metrics.
    pub(crate) fn sandbox_id(&self) -> u64 {
        self.sandbox_id
    }

    /// VM exits since the machine was made.
    pub(crate) fn exits(&self) -> u64 {
        self.exits
    }

    /// Tells the guest the most verbose log level to send (the boot information's
    /// `max_log_level`, 0 for none), if it is not what the guest was last told: a
    /// host write only when the level changes.
    pub(crate) fn set_guest_log_level(&mut self, word: u32) {
        if self.log_level_word == Some(word) {
            return;
        }
        let at = GuestAddr(self.layout.boot_info.0 + MAX_LOG_LEVEL_OFFSET as u64);
        // The word is inside the layout's boot page, so always in bounds; were it not,
        // the guest would only go on with the level it has.
        if self.mem.write(at, &word.to_le_bytes()).is_ok() {
            self.log_level_word = Some(word);
        }
    }

    /// Lets `hook` see every exit from now on.
    pub(crate) fn set_hook(&mut self, hook: Box<dyn ExitHook>) {
        // A debugger sees the guest's own RIP: a restore its guest has not finished
        // is completed by the backend instead.
        if let Some(state) = self.unrun.take() {
            // On failure the sequence still runs first and loads the same state.
            if self.vm.set_vcpu_state(&state).is_err() {
                self.unrun = Some(state);
            }
        }
        self.hook = Some(hook);
    }

    /// Runs `f` on the hook, if there is one (taken out meanwhile, so that `f` can
    /// have the machine too).
    pub(crate) fn with_hook<R>(&mut self, absent: R, f: impl FnOnce(&mut dyn ExitHook, &mut Machine) -> R) -> R {
        let Some(mut hook) = self.hook.take() else { return absent };
        let r = f(hook.as_mut(), self);
        self.hook = Some(hook);
        r
    }

    /// The hook, if there is one.
    pub(crate) fn hook(&self) -> Option<&dyn ExitHook> {
        self.hook.as_deref()
    }

    pub(crate) fn vm(&self) -> &dyn Backend {
        self.vm.as_ref()
    }

    // Used by the debugger (features gdb, crashdump) and the run-loop tests.
    #[cfg_attr(not(any(feature = "gdb", feature = "crashdump")), allow(dead_code))]
    pub(crate) fn vm_mut(&mut self) -> &mut dyn Backend {
        self.vm.as_mut()
    }

    // Used by the debugger (features gdb, crashdump) and the run-loop tests.
    #[cfg_attr(not(any(feature = "gdb", feature = "crashdump")), allow(dead_code))]
    pub(crate) fn mem(&self) -> &GuestMemory {
        &self.mem
    }

    // Used by the debugger (features gdb, crashdump) and the run-loop tests.
    #[cfg_attr(not(any(feature = "gdb", feature = "crashdump")), allow(dead_code))]
    pub(crate) fn mem_mut(&mut self) -> &mut GuestMemory {
        &mut self.mem
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    pub(crate) fn interrupt(&self) -> &Arc<Interrupt> {
        &self.interrupt
    }

    pub(crate) fn ready(&self) -> Option<(Registers, SpecialRegisters)> {
        self.ready
    }

    /// Lets the guest stay in the VM between calls, or stops that (hot mode; see
    /// `vm/hot.rs`).
    pub(crate) fn set_hot(&mut self, on: bool) {
        self.vm.set_hot(on);
    }

    /// Brings a hot vCPU to the normal stopped state; false if the guest had to be
    /// forced out of its hot loop (its state is then unknown).
    pub(crate) fn stop_hot(&mut self) -> bool {
        self.vm.stop_hot()
    }

    /// Records where the guest waits for calls: the vCPU state now (after init).
    pub(crate) fn mark_ready(&mut self) -> Result<(), HypervisorError> {
        let regs = self.vm.registers()?;
        let sregs = self.vm.special_registers()?;
        self.ready = Some((regs, sregs));
        Ok(())
    }

    /// Before the host sets vCPU state: lets the backend skip flushing what the last
    /// `out` left pending when that cannot act on the new state.
    ///
    /// Hardware KVM completes a fast `out` at the next `KVM_RUN` by skipping the
    /// instruction at RIP, but only while RIP is still the `out`'s; other paths (PVM's
    /// emulator, string I/O) move RIP past the `out` before they exit and leave
    /// nothing that looks at RIP. So if the instruction at the exit's RIP is not an
    /// `out`, RIP was already moved and no completion can touch a RIP the host sets:
    /// the flush (a `KVM_RUN`, ~6 us under PVM) is not needed. When the instruction
    /// is (or may be) an `out`, or is not in guest memory, or a debugger may have
    /// patched it, the backend flushes as before.
    fn settle_completion(&mut self) {
        if self.hook.is_some() {
            return;
        }
        let Some(rip) = self.vm.pending_out_rip() else { return };
        let mut code = [0u8; 15];
        if self.mem.read(GuestAddr(rip), &mut code).is_ok() && !maybe_out_instruction(&code) {
            self.vm.out_completion_is_inert();
        }
    }

    /// Puts the vCPU back where the guest waits for calls.
    pub(crate) fn reset_vcpu(&mut self) -> Result<(), CallError> {
        self.settle_completion();
        if let Some((regs, sregs)) = &self.ready {
            self.vm.set_special_registers(sregs)?;
            self.vm.set_registers(regs)?;
        }
        Ok(())
    }

    /// Freezes guest memory into an image (see `GuestMemory::freeze`) and reads the
    /// whole vCPU state: what a snapshot is.
    ///
    /// The image carries the FPU restore pages for that state, so that a restore to
    /// it needs no `KVM_SET_XSAVE` (`vm/fpu_restore.rs`).
    pub(crate) fn freeze(&mut self) -> Result<(Arc<Image>, VcpuState), SnapshotError> {
        let vcpu = match &self.unrun {
            Some(state) => state.clone(),
            None => self.vm.vcpu_state()?,
        };
        fpu_restore::write_pages(&self.layout, &vcpu, &mut self.mem)
            .map_err(|e| SnapshotError::Memory(std::io::Error::other(e)))?;
        let dirty = self.vm.dirty_pages()?;
        let image = self.mem.freeze(&dirty).map_err(SnapshotError::Memory)?;
        Ok((image, vcpu))
    }

    /// Sets the vCPU to `vcpu`, a snapshot's state whose image (now guest memory)
    /// holds its FPU restore pages: through the guest's own restore sequence where
    /// it can run, else wholly by the backend.
    pub(crate) fn set_restored_state(&mut self, vcpu: &VcpuState) -> Result<(), HypervisorError> {
        let entry = if self.hook.is_none() { fpu_restore::entry(&self.layout, vcpu) } else { None };
        let Some(entry) = entry else {
            self.unrun = None;
            return self.vm.set_vcpu_state(vcpu);
        };
        self.vm.set_vcpu_state_but_fpu(vcpu, entry.0)?;
        let mut state = self.spare.take().or_else(|| self.unrun.take()).unwrap_or_else(|| vcpu.clone());
        state.regs = vcpu.regs;
        state.sregs = vcpu.sregs;
        state.xsave.clear();
        state.xsave.extend_from_slice(&vcpu.xsave);
        state.debug = vcpu.debug;
        state.xcr0 = vcpu.xcr0;
        self.unrun = Some(state);
        Ok(())
    }

    /// Puts memory and the vCPU back as `image` and `vcpu` have them (a restore), and
    /// gives the guest a fresh random seed. Returns the number of pages copied back (0
    /// when the whole range was re-mapped).
    ///
    /// The pages put back are those KVM's dirty log saw the guest write and those the
    /// host wrote: nothing the guest says is believed. If memory is not a view of
    /// `image` (another snapshot of the same guest), the whole range is re-mapped.
    pub(crate) fn put_back(
        &mut self,
        image: &Arc<Image>,
        vcpu: &VcpuState,
        ready: Option<(Registers, SpecialRegisters)>,
    ) -> Result<usize, SnapshotError> {
        self.settle_completion();
        // Reading the log also starts a new one: from here on it counts writes made
        // after this restore.
        let dirty = self.vm.dirty_pages()?;
        let pages = if self.mem.image().is_some_and(|i| i.id() == image.id()) {
            self.mem.reset_pages(&dirty).map_err(SnapshotError::Memory)?
        } else {
            self.mem.rebase(image).map_err(SnapshotError::Memory)?;
            0
        };
        self.set_restored_state(vcpu)?;
        self.ready = ready;
        // The boot page is the image's again: its log level is the snapshot's.
        self.log_level_word = None;
        self.reseed()?;
        Ok(pages)
    }

    /// A fresh random seed for the guest (`BootInfo::seed`): after a restore and in a
    /// sandbox made from a snapshot, so that no two tenants of one snapshot derive the
    /// same random numbers. And the table of host regions as they are mapped now
    /// (the snapshot's page has the table of its own time).
    pub(crate) fn reseed(&mut self) -> Result<(), SnapshotError> {
        let memory = |e| SnapshotError::Memory(std::io::Error::other(e));
        self.mem.write(self.layout.seed, &fresh_seed()).map_err(memory)?;
        self.write_region_table().map_err(memory)
    }

    /// Maps `region` at the reserved guest address `addr` (see
    /// `Sandbox::map_region`), replacing what was mapped there.
    pub(crate) fn map_region(
        &mut self,
        addr: u64,
        region: &HostRegion,
        access: RegionAccess,
    ) -> Result<(), RegionError> {
        let i = self.reservation(addr)?;
        let reserved = self.layout.regions[i];
        if reserved.access != access {
            return Err(RegionError::Access { addr, reserved: reserved.access, asked: access });
        }
        if region.mapped_len() > reserved.size {
            return Err(RegionError::TooLarge { addr, size: region.len() as u64, reserved: reserved.size });
        }
        // SAFETY: `self.mapped[i]` keeps the region's mapping alive (an `Arc`) until the
        // slot is replaced, removed (`unmap_region`, `Drop`) or the VM is gone.
        unsafe { self.vm.map_region(slot_of(i), addr, region.host_addr(), region.mapped_len()) }?;
        self.mapped[i] = Some(region.clone());
        self.write_region_table().map_err(RegionError::Memory)
    }

    /// Unmaps the host region at the reserved guest address `addr` (a no-op if none
    /// is mapped there).
    pub(crate) fn unmap_region(&mut self, addr: u64) -> Result<(), RegionError> {
        let i = self.reservation(addr)?;
        if self.mapped[i].is_some() {
            self.vm.unmap_region(slot_of(i))?;
            self.mapped[i] = None;
        }
        self.write_region_table().map_err(RegionError::Memory)
    }

    fn reservation(&self, addr: u64) -> Result<usize, RegionError> {
        self.layout.regions.iter().position(|r| r.addr == addr).ok_or(RegionError::NotReserved { addr })
    }

    fn write_region_table(&mut self) -> Result<(), OutOfBounds> {
        let table = region_table(&self.layout, &self.mapped);
        self.mem.write(self.layout.region_table, &table)
    }

    /// Runs the guest until it waits for the next call, under the kill and deadline
    /// protocol (see `vm/interrupt.rs`).
    pub(crate) fn call(&mut self, timeout: Option<Duration>, host: &mut dyn HostCalls) -> Result<(), CallError> {
        let id = self.interrupt.begin(self.vm.vcpu_thread(), self.vm.runs_on_either_thread());
        let allows_deadlines = self.hook().is_none_or(|h| h.allows_deadlines());
        let deadline = timeout.filter(|_| allows_deadlines).map(|t| Deadline::start(&self.interrupt, id, t));
        let result = self.run_until_ready(host);
        drop(deadline);
        self.interrupt.end();
        result
    }

    /// Runs the guest until it exits through [`ExitPort::Ready`].
    pub(crate) fn run_until_ready(&mut self, host: &mut dyn HostCalls) -> Result<(), CallError> {
        loop {
            self.with_hook(Ok(()), |hook, m| hook.before_run(m))?;
            self.exits += 1;
            // From this run on the vCPU holds the restored state itself.
            if let Some(state) = self.unrun.take() {
                self.spare = Some(state);
            }
            let exit = self.vm.run()?;
            let Some(exit) = self.with_hook(Ok(Some(exit.clone())), |hook, m| hook.on_exit(m, exit))? else {
                continue;
            };
            match exit {
                VmExit::IoOut { port, data } => match ExitPort::from_port(port) {
                    Some(ExitPort::Ready) => return Ok(()),
                    Some(ExitPort::HostCall) => {
                        host.host_call(self)?;
                        // A nested call inside that host function ended this level too.
                        if let Some(e) = &self.unwinding {
                            return Err(e.duplicate());
                        }
                    }
                    Some(ExitPort::Abort) => return Err(self.read_abort()),
                    Some(ExitPort::Fault) => return Err(self.read_fault(data)?),
                    None => return Err(unexpected(UnexpectedExit::OutToPort(port))),
                },
                VmExit::IoIn { port } => return Err(unexpected(UnexpectedExit::InFromPort(port))),
                VmExit::Mmio { addr } => return Err(unexpected(UnexpectedExit::Mmio(addr))),
                VmExit::Halt => return Err(unexpected(UnexpectedExit::Halt)),
                VmExit::Shutdown => return Err(CallError::TripleFault { registers: Box::new(self.vm.registers()?) }),
                // A kill or a deadline stops the call; any other interruption (a
                // signal for someone else) resumes the guest where it was.
                VmExit::Interrupted => match self.interrupt.interrupted() {
                    Some(StopReason::Killed) => return Err(CallError::Cancelled),
                    Some(StopReason::Deadline(after)) => return Err(CallError::Timeout { after }),
                    None => continue,
                },
                VmExit::Unhandled(reason) => return Err(CallError::Hypervisor(HypervisorError::UnhandledExit(reason))),
            }
        }
    }

    /// Writes a call (or batch) frame on top of the input stack, where it stays
    /// until [`Machine::pop_call`]. Only the frame's bytes count as written by the host
    /// (what the next restore puts back), not the whole buffer.
    pub(crate) fn push_call<T: serde::Serialize + ?Sized>(&mut self, msg: &T) -> Result<(), FrameError> {
        self.frames.push(&mut self.mem, &self.layout, msg)
    }

    /// The top call returned: its frame leaves the stack.
    pub(crate) fn pop_call(&mut self) {
        self.frames.pop();
    }

    /// A new top-level call: the input stack starts empty, whatever the last call
    /// (which may have failed at any depth) left on it.
    pub(crate) fn clear_frames(&mut self) {
        self.frames.clear();
        self.unwinding = None;
    }

    /// How many calls are running, nested in each other (0 between calls).
    pub(crate) fn depth(&self) -> usize {
        self.frames.depth()
    }

    /// Whether a nested call ended every level (see [`Machine::unwind`]).
    pub(crate) fn is_unwinding(&self) -> bool {
        self.unwinding.is_some()
    }

    /// A nested call failed with `e`, which ends every level above it: each returns
    /// `e` once its host function is done.
    pub(crate) fn unwind(&mut self, e: CallError) {
        if self.unwinding.is_none() {
            self.unwinding = Some(e);
        }
    }

    /// Writes the reply to the guest's host call on top of the input stack.
    pub(crate) fn reply<T: serde::Serialize + ?Sized>(&mut self, msg: &T) -> Result<(), FrameError> {
        self.frames.reply(&mut self.mem, &self.layout, msg)
    }

    /// The function table the guest reported at its first ready exit; `None` if it
    /// reported none (an empty frame: a guest not built with the runtime).
    pub(crate) fn read_table(&self) -> Result<Option<FunctionTable>, CallError> {
        let mut head = [0u8; FRAME_HEADER];
        let unreadable =
            |source| CallError::Protocol(ProtocolError::Unreadable { what: MessageKind::FunctionTable, source });
        self.mem.read(self.layout.output_buffer, &mut head).map_err(unreadable)?;
        if head == [0; FRAME_HEADER] {
            return Ok(None);
        }
        self.read_output(MessageKind::FunctionTable).map(Some)
    }

    /// Copies the frame in the output buffer out of guest memory and decodes it.
    pub(crate) fn read_output<T: serde::de::DeserializeOwned>(&self, what: MessageKind) -> Result<T, CallError> {
        let bad = |source: FrameError| CallError::Protocol(ProtocolError::BadMessage { what, source });
        let unreadable = |source| CallError::Protocol(ProtocolError::Unreadable { what, source });
        let out = self.layout.output_buffer;
        let mut head = [0u8; FRAME_HEADER];
        self.mem.read(out, &mut head).map_err(unreadable)?;
        let length = u64::from(u32::from_le_bytes(head));
        let capacity = self.layout.output_buffer_size.saturating_sub(FRAME_HEADER as u64);
        let len = usize::try_from(length)
            .ok()
            .filter(|_| length <= capacity)
            .ok_or(bad(FrameError::LengthOutOfRange { length, capacity }))?;
        // Small frames (a scalar result) are copied to the stack: a call with scalar
        // arguments and result allocates nothing on the host.
        let mut small = [0u8; SMALL_FRAME];
        let mut large = Vec::new();
        let frame: &mut [u8] = if FRAME_HEADER + len <= SMALL_FRAME {
            &mut small[..FRAME_HEADER + len]
        } else {
            large.resize(FRAME_HEADER + len, 0);
            &mut large
        };
        self.mem.read(out, frame).map_err(unreadable)?;
        message::read_frame(frame).map_err(bad)
    }

    /// The guest's abort record, as an error.
    fn read_abort(&self) -> CallError {
        match self.read_output::<GuestAbort>(MessageKind::AbortRecord) {
            Ok(GuestAbort { kind: AbortKind::Panic, message }) => CallError::GuestPanic { message },
            Ok(GuestAbort { kind: AbortKind::OutOfMemory { requested }, message }) => {
                CallError::GuestOutOfMemory { requested, message }
            }
            Ok(GuestAbort { kind: AbortKind::Abort { code }, message }) => CallError::GuestAbort { code, message },
            Err(e) => e,
        }
    }

    /// The CPU exception that the host's stub for `vector` reported.
    ///
    /// The stub left, from `rsp` up: the guest's rax, the error code, then the CPU's
    /// frame (rip, cs, rflags, rsp, ss). It sits on the supervisor-only exception
    /// stack, which the guest cannot write.
    fn read_fault(&mut self, vector: u8) -> Result<CallError, CallError> {
        let mut regs = self.vm.registers()?;
        let sregs = self.vm.special_registers()?;
        let word = |i: u64| {
            self.mem
                .read_u64(GuestAddr(regs.rsp.wrapping_add(8 * i)))
                .map_err(|e| CallError::Protocol(ProtocolError::FaultFrame(e)))
        };
        let (rax, error_code, rip, rflags, rsp) = (word(0)?, word(1)?, word(2)?, word(4)?, word(5)?);
        regs.rax = rax;
        regs.rip = rip;
        regs.rflags = rflags;
        regs.rsp = rsp;
        let exception = Exception::from_vector(vector);
        let cr2 = (exception == Exception::PageFault).then_some(sregs.cr2);
        if let Some(addr) = cr2 {
            let guard = self.layout.stack_guard.0;
            if (guard..guard + PAGE_SIZE).contains(&addr) {
                return Ok(CallError::StackOverflow { rip, addr });
            }
        }
        Ok(CallError::GuestFault(GuestFault {
            exception,
            rip,
            error_code: if has_error_code(vector) { error_code } else { 0 },
            cr2,
            registers: Box::new(regs),
        }))
    }
}

/// Whether `code` (the bytes at an instruction pointer) may be an `out` or `outs`
/// instruction: the opcode after any legacy prefixes and a REX prefix is one of
/// E6, E7, EE, EF (out) or 6E, 6F (outs). Errs on the side of "may be".
fn maybe_out_instruction(code: &[u8]) -> bool {
    const PREFIXES: [u8; 11] = [0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65];
    let mut bytes = code.iter().copied().skip_while(|b| PREFIXES.contains(b));
    let Some(mut opcode) = bytes.next() else { return true };
    if (0x40..=0x4f).contains(&opcode) {
        let Some(next) = bytes.next() else { return true };
        opcode = next;
    }
    matches!(opcode, 0xe6 | 0xe7 | 0xee | 0xef | 0x6e | 0x6f)
}

/// Memory slot of host-region reservation `i` (slot 0 is guest memory).
fn slot_of(i: usize) -> u32 {
    u32::try_from(i + 1).unwrap_or(u32::MAX)
}

/// The host-region table the guest reads (`BootInfo::regions`): one entry per
/// reservation, with what is mapped there now (`mapped` by reservation, or empty).
pub(crate) fn region_table(layout: &Layout, mapped: &[Option<HostRegion>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(layout.regions.len() * hyperlight_common::boot::REGION_ENTRY_SIZE);
    for (i, r) in layout.regions.iter().enumerate() {
        let entry = RegionEntry {
            addr: r.addr,
            size: r.size,
            mapped: mapped.get(i).and_then(Option::as_ref).map_or(0, HostRegion::mapped_len),
            flags: u64::from(r.access == RegionAccess::ReadExecute),
        };
        out.extend_from_slice(&entry.encode());
    }
    out
}

/// [`SEED_SIZE`] bytes from the host's CSPRNG (ChaCha, seeded from the OS), for the
/// guest's `BootInfo::seed`.
pub(crate) fn fresh_seed() -> [u8; SEED_SIZE] {
    let mut seed = [0u8; SEED_SIZE];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
    seed
}

fn unexpected(exit: UnexpectedExit) -> CallError {
    CallError::Protocol(ProtocolError::UnexpectedExit(exit))
}
