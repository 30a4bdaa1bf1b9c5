//! `SandboxBuilder`: configuration, host functions, and the build from an ELF.

use std::fmt;
use std::path::Path;

use hyperlight_common::boot::BootInfo;
use hyperlight_common::{Arguments, Callable, FunctionOutput, ABI_VERSION, PRINT_FUNCTION};

use crate::error::BuildError;
use crate::func::host_functions::HostFunctions;
use crate::mem::elf::ElfImage;
use crate::mem::host_region::{RegionAccess, Reservation};
use crate::mem::image_shape::ImageShape;
use crate::mem::layout::Layout;
use crate::mem::memory::GuestMemory;
use crate::obs::{self, GuestLogLevel, Source, Span, Timer};
use crate::sandbox::config::SandboxConfig;
use crate::sandbox::sandbox::{Parts, Sandbox};
use crate::vm::machine::{fresh_seed, region_table};
use crate::vm::{self, cpu};

/// Creates sandboxes: memory sizes, host functions, then a guest binary.
///
/// ```no_run
/// use hyperlight_host::SandboxBuilder;
///
/// let mut sandbox = SandboxBuilder::new()
///     .heap_size(4 << 20)
///     .host_function("GetWeekday", || "Monday".to_string())
///     .build_from_file("guests/target/x86_64-unknown-none/release/hello")?;
/// let greeting: String = sandbox.call("SayHello", "World".to_string())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SandboxBuilder<T = ()> {
    config: SandboxConfig,
    host_functions: HostFunctions<T>,
    state: T,
    /// Guest address ranges kept for host memory regions.
    regions: Vec<Reservation>,
    debug: crate::debug::DebugConfig,
    /// `None`: the default ([`default_guest_log_level`](crate::default_guest_log_level)).
    guest_log_level: Option<GuestLogLevel>,
}

impl Default for SandboxBuilder<()> {
    fn default() -> Self {
        SandboxBuilder::new()
    }
}

impl SandboxBuilder<()> {
    /// A builder with the default sizes (see [`SandboxConfig`]) and only the default
    /// print function, for a sandbox without host state.
    pub fn new() -> SandboxBuilder<()> {
        SandboxBuilder::with_state(())
    }
}

impl<T: 'static> SandboxBuilder<T> {
    /// A builder for a sandbox whose host state starts as `state`: its host functions
    /// reach it through their [`Caller`](crate::Caller), the application through
    /// [`Sandbox::state_mut`] between calls.
    pub fn with_state(state: T) -> SandboxBuilder<T> {
        SandboxBuilder {
            config: SandboxConfig::default(),
            host_functions: HostFunctions::with_state(),
            state,
            regions: Vec::new(),
            debug: crate::debug::DebugConfig::default(),
            guest_log_level: None,
        }
    }

    /// All sizes at once.
    pub fn config(mut self, config: SandboxConfig) -> SandboxBuilder<T> {
        self.config = config;
        self
    }

    /// The guest's heap size in bytes.
    pub fn heap_size(mut self, bytes: u64) -> SandboxBuilder<T> {
        self.config.heap_size = bytes;
        self
    }

    /// The guest's stack size in bytes.
    pub fn stack_size(mut self, bytes: u64) -> SandboxBuilder<T> {
        self.config.stack_size = bytes;
        self
    }

    /// The input buffer's size: the largest encoded argument list of a guest call, and
    /// the largest result of a host function.
    pub fn input_buffer_size(mut self, bytes: u64) -> SandboxBuilder<T> {
        self.config.input_buffer_size = bytes;
        self
    }

    /// The output buffer's size: the largest encoded result of a guest call, and the
    /// largest argument list of a host call.
    pub fn output_buffer_size(mut self, bytes: u64) -> SandboxBuilder<T> {
        self.config.output_buffer_size = bytes;
        self
    }

    /// The most memory the guest may have in all.
    pub fn memory_limit(mut self, bytes: u64) -> SandboxBuilder<T> {
        self.config.memory_limit = bytes;
        self
    }

    /// A deadline for every call of the sandbox (see [`Sandbox::call_with_timeout`]
    /// for one call).
    pub fn call_timeout(mut self, timeout: std::time::Duration) -> SandboxBuilder<T> {
        self.config.call_timeout = Some(timeout);
        self
    }

    /// A deadline for the guest's initialisation inside `build_*` (default:
    /// [`DEFAULT_INIT_TIMEOUT`](crate::DEFAULT_INIT_TIMEOUT)).
    pub fn init_timeout(mut self, timeout: std::time::Duration) -> SandboxBuilder<T> {
        self.config.init_timeout = timeout;
        self
    }

    /// Runs the guest's vCPU on a thread the sandbox owns, under a seccomp filter that
    /// allows only the system calls a run needs (`KVM_RUN`, futexes, the interrupt
    /// signal's return, and the thread's own end); any other system call on that
    /// thread kills the process with SIGSYS. The run loop and the host functions stay
    /// on the calling thread, which is not filtered: each run is handed to the vCPU
    /// thread and its exit handed back (a cost per run; see the README's figures).
    /// Sandboxes made from a snapshot of this one run the same way. Off by default.
    pub fn seccomp(mut self, on: bool) -> SandboxBuilder<T> {
        self.config.seccomp = on;
        self
    }

    /// Hot mode: the guest's vCPU stays in the VM between calls, on a thread the
    /// sandbox owns, spinning for the next call for up to `spin_budget` after each
    /// one; a call that comes meanwhile (and each host call it makes) costs a
    /// cache-line round trip instead of a VM exit. Once the budget runs out the vCPU
    /// leaves the guest, so an idle sandbox burns no CPU, and the next call takes the
    /// normal path (and makes the sandbox hot again). Kills, deadlines, faults,
    /// poisoning, snapshots and restores behave as in the normal mode; a sandbox with a
    /// debugger attached is never hot. At most
    /// [`max_hot_sandboxes`](crate::max_hot_sandboxes) vCPUs of the process spin at
    /// once; the others run their calls the normal way. Sandboxes made from a snapshot
    /// of this one are hot too (from a snapshot file, not). Off by default.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let mut sandbox = hyperlight_host::SandboxBuilder::new()
    ///     .hot(Duration::from_millis(1))
    ///     .build_from_file("simpleguest")?;
    /// for i in 0..1000 {
    ///     let _: i32 = sandbox.call("Add", (i, 1))?;   // no VM exit after the first
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn hot(mut self, spin_budget: std::time::Duration) -> SandboxBuilder<T> {
        self.config.hot = Some(spin_budget);
        self
    }

    /// Keeps `size` bytes of guest addresses at `addr` (page-aligned, above guest
    /// memory and below 2^39; e.g. `0x10_0000_0000`) for a host memory region,
    /// mapped later with [`Sandbox::map_region`]: the page tables map the range
    /// user-readable (and executable with [`RegionAccess::ReadExecute`]), never
    /// writable. Up to 16 regions; overlapping or misaligned ones fail the build with
    /// [`LayoutError::BadRegion`](crate::LayoutError::BadRegion).
    pub fn reserve_region(mut self, addr: u64, size: u64, access: RegionAccess) -> SandboxBuilder<T> {
        self.regions.push(Reservation { addr, size, access });
        self
    }

    /// How deep calls may nest (guest -> host -> guest ...; default
    /// [`DEFAULT_MAX_CALL_DEPTH`](crate::DEFAULT_MAX_CALL_DEPTH)): a host function's
    /// call one level deeper fails with
    /// [`CallError::CallDepthExceeded`](crate::CallError::CallDepthExceeded).
    pub fn max_call_depth(mut self, depth: u32) -> SandboxBuilder<T> {
        self.config.max_call_depth = depth;
        self
    }

    /// The most verbose guest log level the sandbox keeps (`None`: none): the guest
    /// drops records above it before it formats them, so they cost no VM exit. The
    /// default is [`default_guest_log_level`](crate::default_guest_log_level)
    /// (`HYPERLIGHT_GUEST_LOG`, else `RUST_LOG`, else `Warn`). Records the level lets
    /// through become `tracing` events with target `hyperlight_guest`; the guest sends
    /// none that no installed subscriber would take.
    pub fn guest_log_level(mut self, level: GuestLogLevel) -> SandboxBuilder<T> {
        self.guest_log_level = Some(level);
        self
    }

    /// Registers a host function whose first parameter is its
    /// [`Caller`](crate::Caller): the sandbox's host state, its guest memory, and
    /// calls back into the guest (see [`HostFunctions::register_with_caller`]).
    pub fn host_function_with_caller<Args, F>(mut self, name: &str, f: F) -> SandboxBuilder<T>
    where
        Args: Arguments + 'static,
        F: crate::func::caller::CallerCallable<T, Args> + Send + Sync + 'static,
        F::Output: FunctionOutput,
        <F::Output as FunctionOutput>::Error: fmt::Display,
    {
        self.host_functions.register_with_caller(name, f);
        self
    }

    /// Registers a host function the guest may call by `name`: a closure of up to 12
    /// typed parameters returning a value or a `Result` (whose error's message reaches
    /// the guest).
    pub fn host_function<Args, F>(mut self, name: &str, f: F) -> SandboxBuilder<T>
    where
        Args: Arguments + 'static,
        F: Callable<Args> + Send + Sync + 'static,
        F::Output: FunctionOutput,
        <F::Output as FunctionOutput>::Error: fmt::Display,
    {
        self.host_functions.register(name, f);
        self
    }

    /// Replaces the whole set of host functions.
    pub fn host_functions(mut self, functions: HostFunctions<T>) -> SandboxBuilder<T> {
        self.host_functions = functions;
        self
    }

    /// Where the guest's `print!` output goes (by default, the host's stdout).
    pub fn host_print<F: Fn(&str) + Send + Sync + 'static>(mut self, f: F) -> SandboxBuilder<T> {
        self.host_functions.register(PRINT_FUNCTION, move |s: String| f(&s));
        self
    }

    /// Serves the GDB remote protocol on `127.0.0.1:port` (feature `gdb`): `build_*`
    /// waits until gdb connects, and the guest stops before its first instruction.
    /// Calls have no deadline while gdb is attached. See docs/debugging.md.
    #[cfg(feature = "gdb")]
    pub fn debug_port(mut self, port: u16) -> SandboxBuilder<T> {
        self.debug.debug_port = Some(port);
        self
    }

    /// Writes an ELF core file into `dir` when the guest faults (feature
    /// `crashdump`); see [`Sandbox::last_crash_dump`](crate::Sandbox::last_crash_dump).
    #[cfg(feature = "crashdump")]
    pub fn crash_dump_dir(mut self, dir: impl Into<std::path::PathBuf>) -> SandboxBuilder<T> {
        self.debug.crash_dump_dir = Some(dir.into());
        self
    }

    /// Creates a sandbox running the guest ELF executable at `path`.
    pub fn build_from_file(self, path: impl AsRef<Path>) -> Result<Sandbox<T>, BuildError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| BuildError::ReadFile { path: path.to_path_buf(), source })?;
        self.build_from_bytes(&bytes)
    }

    /// Creates a sandbox running the guest ELF executable in `bytes`: lays out and
    /// fills guest memory, creates the VM, and runs the guest's initialisation until it
    /// waits for calls.
    pub fn build_from_bytes(self, bytes: &[u8]) -> Result<Sandbox<T>, BuildError> {
        let sandbox_id = obs::next_sandbox_id();
        let span = Span::build(sandbox_id);
        let _entered = span.enter();
        let timer = Timer::start();
        let result = self.build(bytes, sandbox_id);
        span.record_result(&result);
        if result.is_ok() {
            obs::sandbox_created(Source::Elf, timer);
        }
        result
    }

    fn build(self, bytes: &[u8], sandbox_id: u64) -> Result<Sandbox<T>, BuildError> {
        // Each step's span in a block of its own, so that it closes with the step (a
        // span lasts until it is dropped).
        let image = {
            let span = Span::elf_parse(bytes.len());
            let image = span.in_scope(|| ElfImage::parse(bytes));
            span.record_result(&image);
            image
        }?;
        let log_level = self.guest_log_level.unwrap_or_else(obs::default_guest_log_level);
        let memory = {
            let span = Span::memory();
            let memory = span.in_scope(|| -> Result<_, BuildError> {
                let shape = ImageShape::of(&image);
                let mut memory = self.config.memory();
                memory.regions = self.regions.clone();
                let layout = Layout::new(&shape, &memory)?;
                span.record_u64("memory_size", layout.memory_size);
                let mut mem = GuestMemory::new(layout.memory_size)
                    .map_err(|source| BuildError::Memory { size: layout.memory_size, source })?;
                write_image(&image, bytes, &layout, &mut mem, obs::effective_level(log_level))?;
                Ok((shape, layout, mem))
            });
            span.record_result(&memory);
            memory
        };
        let (shape, layout, mem) = memory?;
        let vm = {
            let span = Span::vm_create();
            let vm = span.in_scope(|| -> Result<_, BuildError> {
                let mut vm = vm::create(&mem, self.config.seccomp).map_err(|e| match e {
                    vm::CreateError::Hypervisor(e) => BuildError::Hypervisor(e),
                    vm::CreateError::VcpuThread(e) => BuildError::VcpuThread(e),
                })?;
                cpu::enter_user_mode(vm.as_mut(), &layout)?;
                Ok(vm)
            });
            span.record_result(&vm);
            vm
        };
        let vm = vm?;
        let hook = self.debug.start()?;
        let guest_id = GuestId::of(&image, bytes);
        let parts = Parts { shape, layout, config: self.config, guest_id, sandbox_id, log_level };
        Sandbox::start(vm, mem, parts, self.host_functions, self.state, hook)
    }
}

/// Identifies a guest program by what it loads: the BLAKE3 hash of its entry point,
/// and of each segment's place, size, permissions and bytes (not its symbols or debug
/// information). Snapshots restore only into sandboxes of the same guest; 256 bits
/// make it as unlikely for two guests to share an id as for BLAKE3 to collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GuestId(pub [u8; 32]);

impl GuestId {
    pub(crate) fn of(image: &ElfImage, bytes: &[u8]) -> GuestId {
        let mut h = blake3::Hasher::new();
        h.update(b"hyperlight guest id v1");
        h.update(&[u8::from(image.kind() == crate::mem::elf::ElfKind::Pie)]);
        h.update(&image.entry().to_le_bytes());
        for s in image.segments() {
            h.update(&s.vaddr.to_le_bytes());
            h.update(&s.mem_size.to_le_bytes());
            h.update(&[u8::from(s.writable) | (u8::from(s.executable) << 1)]);
            let start = usize::try_from(s.file_offset).unwrap_or(usize::MAX);
            let end = start.saturating_add(usize::try_from(s.file_size).unwrap_or(usize::MAX));
            let data = bytes.get(start..end).unwrap_or(&[]);
            h.update(&(data.len() as u64).to_le_bytes());
            h.update(data);
        }
        GuestId(*h.finalize().as_bytes())
    }
}

/// Fills fresh guest memory: the ELF's segments, the boot information, the system
/// pages and the page tables.
fn write_image(
    image: &ElfImage,
    bytes: &[u8],
    layout: &Layout,
    mem: &mut GuestMemory,
    max_log_level: u32,
) -> Result<(), BuildError> {
    let out_of_bounds = |e: crate::mem::memory::OutOfBounds| BuildError::Memory {
        size: layout.memory_size,
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
    };
    let image_len = layout.image_end.0 - layout.image_base.0;
    let dest = mem.slice_mut(layout.image_base, image_len).map_err(out_of_bounds)?;
    image.load(bytes, dest, layout.image_base.0, layout.bias)?;
    let boot = BootInfo {
        abi_version: ABI_VERSION,
        flags: 0,
        heap_base: layout.heap.0,
        heap_size: layout.heap_size,
        input_buffer: layout.input_buffer.0,
        input_buffer_size: layout.input_buffer_size,
        output_buffer: layout.output_buffer.0,
        output_buffer_size: layout.output_buffer_size,
        stack_top: layout.stack_top.0,
        stack_size: layout.stack_size,
        image_base: layout.image_base.0,
        image_size: image_len,
        seed: layout.seed.0,
        regions: layout.region_table.0,
        region_count: layout.regions.len() as u64,
        max_log_level,
    };
    mem.write(layout.boot_info, &boot.encode()).map_err(out_of_bounds)?;
    mem.write(layout.seed, &fresh_seed()).map_err(out_of_bounds)?;
    mem.write(layout.region_table, &region_table(layout, &[])).map_err(out_of_bounds)?;
    cpu::write_system_pages(layout, mem).map_err(out_of_bounds)?;
    layout.page_plan.write(mem).map_err(out_of_bounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guest id before BLAKE3: CRC-32 of what the guest loads, and its length.
    fn crc_id(image: &ElfImage, bytes: &[u8]) -> u64 {
        let mut h = crc32fast::Hasher::new();
        h.update(&image.entry().to_le_bytes());
        for s in image.segments() {
            h.update(&s.vaddr.to_le_bytes());
            h.update(&s.mem_size.to_le_bytes());
            let start = usize::try_from(s.file_offset).unwrap();
            h.update(&bytes[start..start + usize::try_from(s.file_size).unwrap()]);
        }
        (u64::from(h.finalize()) << 32) | (bytes.len() as u64 & 0xffff_ffff)
    }

    /// Another guest of the same length and the same CRC-32 id as `bytes`: four bytes of
    /// its data segment changed, and the four after them chosen (CRC-32 is linear over
    /// GF(2), so 32 bits can cancel any difference) to bring the CRC back.
    fn crc_twin(bytes: &[u8]) -> Vec<u8> {
        let image = ElfImage::parse(bytes).unwrap();
        let data = image.segments().iter().find(|s| s.writable && s.file_size >= 8).expect("a data segment");
        let at = usize::try_from(data.file_offset).unwrap();
        let crc = |b: &[u8]| crc_id(&ElfImage::parse(b).unwrap(), b) >> 32;
        let mut changed = bytes.to_vec();
        changed[at..at + 4].copy_from_slice(b"evil");
        let target = crc(&changed) ^ crc(bytes);
        // The effect of each bit of bytes at+4..at+8 on the CRC, then Gaussian
        // elimination for the bits that cancel `target`.
        let mut rows: Vec<(u64, u32)> = (0..32u32)
            .map(|bit| {
                let mut b = bytes.to_vec();
                b[at + 4 + (bit / 8) as usize] ^= 1 << (bit % 8);
                (crc(&b) ^ crc(bytes), 1 << bit)
            })
            .collect();
        let (mut want, mut flip) = (target, 0u32);
        for pivot in (0..32).rev() {
            let Some(i) = rows.iter().position(|r| r.0 >> pivot & 1 == 1) else { continue };
            let row = rows.swap_remove(i);
            for r in &mut rows {
                if r.0 >> pivot & 1 == 1 {
                    *r = (r.0 ^ row.0, r.1 ^ row.1);
                }
            }
            if want >> pivot & 1 == 1 {
                want ^= row.0;
                flip ^= row.1;
            }
        }
        assert_eq!(want, 0, "32 consecutive bits always reach every CRC-32 value");
        for (i, byte) in flip.to_le_bytes().iter().enumerate() {
            changed[at + 4 + i] ^= byte;
        }
        changed
    }

    #[test]
    fn guests_with_the_same_crc_and_length_have_different_ids() {
        // With CRC-32 plus length, a snapshot of one guest restored into this other
        // one: it was four lines of algebra away.
        let one = crate::mem::elf::tests::exec_image();
        let other = crc_twin(&one);
        assert_ne!(one, other);
        assert_eq!(one.len(), other.len());
        let (a, b) = (ElfImage::parse(&one).unwrap(), ElfImage::parse(&other).unwrap());
        assert_eq!(crc_id(&a, &one), crc_id(&b, &other), "the old id collides");
        assert_ne!(GuestId::of(&a, &one), GuestId::of(&b, &other));
        assert_eq!(GuestId::of(&a, &one), GuestId::of(&a, &one));
    }
}
