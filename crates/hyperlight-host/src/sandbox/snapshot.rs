//! `Snapshot`: a sandbox frozen between calls, to restore any number of times or to
//! start new sandboxes from without copying.
//!
//! A snapshot is an [`Image`] of guest memory (see `mem/image.rs`) plus the whole vCPU
//! state. Taking one freezes the sandbox's memory as it is (the first time without
//! copying anything) and makes the sandbox a copy-on-write view of it.
//!
//! Restore is the host's alone and believes nothing the guest says: the pages to put
//! back are those the hypervisor saw the guest write (KVM's dirty log) and those the
//! host wrote itself; every one is copied back from the image, and the vCPU state is
//! set whole. So restoring costs time in proportion to the pages written since, not to
//! the size of guest memory. Restoring a snapshot the memory is not currently a view
//! of (another snapshot of the same guest) re-maps the whole range instead, which is
//! also independent of its size.

use std::sync::Arc;

use hyperlight_common::FunctionTable;

use crate::error::{CallError, SnapshotError, SnapshotMismatch};
use crate::func::host_functions::HostFunctions;
use crate::mem::image::Image;
use crate::mem::image_shape::ImageShape;
use crate::mem::layout::Layout;
use crate::mem::memory::GuestMemory;
use crate::obs::{self, CallMetrics, GuestLogLevel, Source, Span, Timer};
use crate::sandbox::builder::GuestId;
use crate::sandbox::config::SandboxConfig;
use crate::sandbox::sandbox::{Parts, Sandbox};
use crate::vm::pool;
use crate::vm::{self, Registers, SpecialRegisters, VcpuState};

/// A frozen sandbox: guest memory and vCPU state, taken between calls.
///
/// Cheap to clone (shared). See [`Sandbox::snapshot`], [`Sandbox::restore`],
/// [`Sandbox::from_snapshot`], [`Snapshot::save`] and [`Snapshot::load`].
///
/// ```no_run
/// use hyperlight_host::{HostFunctions, Sandbox, SandboxBuilder};
///
/// let mut sandbox = SandboxBuilder::new().build_from_file("simpleguest")?;
/// let clean = sandbox.snapshot()?;             // right after init
/// for request in 0..3 {
///     let n: u64 = sandbox.call("Counter", ())?;
///     assert_eq!(n, 1);                         // every request starts clean
///     sandbox.restore(&clean)?;
/// }
/// let mut twin = Sandbox::from_snapshot(&clean, HostFunctions::new())?;
/// assert_eq!(twin.call::<u64>("Counter", ())?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) inner: Arc<SnapshotInner>,
}

#[derive(Debug)]
pub(crate) struct SnapshotInner {
    pub image: Arc<Image>,
    /// What the layout was computed from (saved in files instead of the layout).
    pub shape: ImageShape,
    pub layout: Layout,
    pub vcpu: VcpuState,
    pub ready: Option<(Registers, SpecialRegisters)>,
    pub config: SandboxConfig,
    pub guest_id: GuestId,
    /// The guest's function table (reported at init).
    pub functions: Option<Arc<FunctionTable>>,
    /// The metric keys of those functions (not saved in files: rebuilt on load).
    pub call_metrics: Arc<CallMetrics>,
    /// The guest log level of the sandbox it was taken from (not saved in files: a
    /// loaded snapshot has the process's default).
    pub log_level: GuestLogLevel,
}

impl Snapshot {
    /// Size of the guest memory it holds, in bytes (most of it is usually untouched
    /// and costs nothing).
    pub fn memory_size(&self) -> u64 {
        self.inner.layout.memory_size
    }
}

/// A debugger hook's failure during a snapshot or restore.
fn snapshot_error(e: CallError) -> SnapshotError {
    match e {
        CallError::Hypervisor(h) => SnapshotError::Hypervisor(h),
        other => SnapshotError::Debugger(Box::new(other)),
    }
}

impl<T> Sandbox<T> {
    /// Freezes the sandbox as it is now, between calls (guest memory and the vCPU;
    /// not the host state, which is the host's).
    ///
    /// The first snapshot of a sandbox copies nothing: its memory becomes the snapshot's,
    /// and the sandbox goes on as a copy-on-write view of it. Later snapshots copy the
    /// pages that hold data.
    pub fn snapshot(&mut self) -> Result<Snapshot, SnapshotError> {
        let span = Span::snapshot(self.id());
        let _entered = span.enter();
        let result = self.take_snapshot();
        span.record_result(&result);
        result
    }

    fn take_snapshot(&mut self) -> Result<Snapshot, SnapshotError> {
        if self.is_poisoned() || !self.stop_hot() {
            return Err(SnapshotError::Poisoned);
        }
        let machine = self.machine();
        machine.with_hook(Ok(()), |hook, m| hook.before_snapshot(m)).map_err(snapshot_error)?;
        let frozen = machine.freeze();
        machine.with_hook(Ok(()), |hook, m| hook.after_snapshot(m)).map_err(snapshot_error)?;
        let (image, vcpu) = match frozen {
            Ok(frozen) => frozen,
            Err(e) => {
                // Memory may be half switched over: trust nothing until a restore.
                self.set_poisoned(true);
                return Err(e);
            }
        };
        let (shape, layout, ready) = (self.shape().clone(), self.machine().layout().clone(), self.machine().ready());
        Ok(Snapshot {
            inner: Arc::new(SnapshotInner {
                image,
                shape,
                layout,
                vcpu,
                ready,
                config: *self.config(),
                guest_id: self.guest_id(),
                functions: self.function_table().cloned(),
                call_metrics: Arc::clone(self.call_metrics()),
                log_level: self.guest_log_level(),
            }),
        })
    }

    /// Puts the sandbox back exactly as it was when `snapshot` was taken: all guest
    /// memory and the whole vCPU state (registers, FPU/SSE state, debug registers).
    /// It also clears a poisoned sandbox.
    ///
    /// A snapshot of another guest or another memory layout is refused with
    /// [`SnapshotError::Mismatch`], and the sandbox is left as it was.
    pub fn restore(&mut self, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        let span = Span::restore(self.id());
        let _entered = span.enter();
        let timer = Timer::start();
        let result = self.put_back(snapshot);
        match &result {
            Ok(pages) => {
                span.record_u64("pages", *pages as u64);
                obs::restore_metrics(timer, *pages);
            }
            Err(_) => span.record_result(&result),
        }
        result.map(|_| ())
    }

    /// [`Sandbox::restore`]; returns the pages copied back.
    fn put_back(&mut self, snapshot: &Snapshot) -> Result<usize, SnapshotError> {
        let s = &snapshot.inner;
        if s.guest_id != self.guest_id() {
            return Err(SnapshotError::Mismatch(SnapshotMismatch::Guest));
        }
        if s.layout != *self.machine().layout() {
            return Err(SnapshotError::Mismatch(SnapshotMismatch::Layout));
        }
        // A hot vCPU stops first (if it must be forced, the restore sets it whole).
        self.stop_hot();
        let machine = self.machine();
        let result = machine.put_back(&s.image, &s.vcpu, s.ready).and_then(|pages| {
            machine.with_hook(Ok(()), |hook, m| hook.after_snapshot(m)).map_err(snapshot_error)?;
            Ok(pages)
        });
        // Only a complete restore makes the guest's state known again.
        self.set_poisoned(result.is_err());
        // The boot page is the snapshot's again: tell the guest this sandbox's level.
        self.sync_guest_log_level();
        result
    }

    /// A new, independent sandbox in the state of `snapshot`, ready to call, with the
    /// given host functions (and the snapshot's memory sizes and timeouts).
    ///
    /// Nothing is copied: the new sandbox maps the snapshot's memory copy-on-write, so
    /// sandboxes made from one snapshot share every page none of them wrote. It reuses
    /// a pooled VM when one of the same memory size is free (see
    /// [`set_vm_pool_capacity`](crate::set_vm_pool_capacity)), else creates one.
    pub fn from_snapshot(snapshot: &Snapshot, host_functions: HostFunctions<T>) -> Result<Sandbox<T>, SnapshotError>
    where
        T: Default,
    {
        Sandbox::from_snapshot_with_state(snapshot, host_functions, T::default())
    }

    /// [`from_snapshot`](Sandbox::from_snapshot) with host state `state`.
    pub fn from_snapshot_with_state(
        snapshot: &Snapshot,
        host_functions: HostFunctions<T>,
        state: T,
    ) -> Result<Sandbox<T>, SnapshotError> {
        let sandbox_id = obs::next_sandbox_id();
        let span = Span::from_snapshot(sandbox_id);
        let _entered = span.enter();
        let timer = Timer::start();
        let result = Sandbox::start_from_snapshot(snapshot, host_functions, state, sandbox_id, &span);
        span.record_result(&result);
        if result.is_ok() {
            obs::sandbox_created(Source::Snapshot, timer);
        }
        result
    }

    fn start_from_snapshot(
        snapshot: &Snapshot,
        host_functions: HostFunctions<T>,
        state: T,
        sandbox_id: u64,
        span: &Span,
    ) -> Result<Sandbox<T>, SnapshotError> {
        let s = &snapshot.inner;
        let pooled = pool::take(s.layout.memory_size, s.config.seccomp, s.image.id());
        span.record_bool("pooled", pooled.is_some());
        let (vm, mem) = match pooled {
            Some(mut pooled) => {
                // A VM kept with its memory a view of this very image (reset to it when
                // pooled) needs no new mapping: what its guests touched stays mapped.
                if pooled.mem.image().is_none_or(|i| i.id() != s.image.id()) {
                    pooled.mem.rebase(&s.image).map_err(SnapshotError::Memory)?;
                }
                // Forget what the VM's previous guest wrote.
                pooled.vm.dirty_pages()?;
                (pooled.vm, pooled.mem)
            }
            None => {
                let mem = GuestMemory::from_image(&s.image).map_err(SnapshotError::Memory)?;
                let vm = vm::create(&mem, s.config.seccomp).map_err(|e| match e {
                    vm::CreateError::Hypervisor(e) => SnapshotError::Hypervisor(e),
                    vm::CreateError::VcpuThread(e) => SnapshotError::VcpuThread(e),
                })?;
                (vm, mem)
            }
        };
        let parts = Parts {
            shape: s.shape.clone(),
            layout: s.layout.clone(),
            config: s.config,
            guest_id: s.guest_id,
            sandbox_id,
            log_level: s.log_level,
        };
        let mut sandbox = Sandbox::assemble(vm, mem, parts, host_functions, state, s.ready)?;
        sandbox.machine().set_restored_state(&s.vcpu)?;
        sandbox.set_function_table(s.functions.clone());
        sandbox.set_call_metrics(Arc::clone(&s.call_metrics));
        sandbox.machine().reseed()?;
        Ok(sandbox)
    }
}
