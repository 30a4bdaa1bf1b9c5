//! `SandboxConfig`: the sizes a sandbox is created with, and their defaults.

use std::time::Duration;

use crate::mem::layout::MemoryConfig;

/// Default limit on the guest's initialisation: 10 s.
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default limit on nested calls (guest -> host -> guest ...): 8.
pub const DEFAULT_MAX_CALL_DEPTH: u32 = 8;

/// Default heap size: 1 MiB.
pub const DEFAULT_HEAP_SIZE: u64 = 1 << 20;
/// Default stack size: 128 KiB.
pub const DEFAULT_STACK_SIZE: u64 = 128 << 10;
/// Default input buffer size (host to guest messages): 64 KiB.
pub const DEFAULT_INPUT_BUFFER_SIZE: u64 = 64 << 10;
/// Default output buffer size (guest to host messages): 64 KiB.
pub const DEFAULT_OUTPUT_BUFFER_SIZE: u64 = 64 << 10;
/// Default limit on a guest's whole memory: 4 GiB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 4 << 30;

/// The sizes of a sandbox's memory regions, in bytes. Each is rounded up to whole
/// pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxConfig {
    /// The guest's heap.
    pub heap_size: u64,
    /// The guest's stack (an unmapped guard page lies below it).
    pub stack_size: u64,
    /// The buffer for host-to-guest messages: call arguments and host-call results.
    pub input_buffer_size: u64,
    /// The buffer for guest-to-host messages: call results and host-call arguments.
    pub output_buffer_size: u64,
    /// The most memory the guest may have in all (image, buffers, heap, stack, and the
    /// host's pages); a guest whose layout needs more is refused.
    pub memory_limit: u64,
    /// How long a call may run before it is stopped with
    /// [`CallError::Timeout`](crate::CallError::Timeout); `None`: no limit.
    pub call_timeout: Option<Duration>,
    /// How long the guest's initialisation (inside `build_*`) may run; a guest that
    /// does not finish its init in time fails the build with a timeout.
    pub init_timeout: Duration,
    /// Seccomp mode (see [`SandboxBuilder::seccomp`](crate::SandboxBuilder::seccomp)).
    pub seccomp: bool,
    /// Hot mode's spin budget, if the sandbox is hot (see
    /// [`SandboxBuilder::hot`](crate::SandboxBuilder::hot)). Not saved in snapshot
    /// files: a loaded snapshot's sandboxes are not hot.
    pub hot: Option<Duration>,
    /// How deep calls may nest: a top-level call is 1, a guest call made by a host
    /// function inside it 2, and so on (see [`Caller::call`](crate::Caller::call)).
    pub max_call_depth: u32,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            heap_size: DEFAULT_HEAP_SIZE,
            stack_size: DEFAULT_STACK_SIZE,
            input_buffer_size: DEFAULT_INPUT_BUFFER_SIZE,
            output_buffer_size: DEFAULT_OUTPUT_BUFFER_SIZE,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            call_timeout: None,
            init_timeout: DEFAULT_INIT_TIMEOUT,
            seccomp: false,
            hot: None,
            max_call_depth: DEFAULT_MAX_CALL_DEPTH,
        }
    }
}

impl SandboxConfig {
    /// The memory configuration, with no host regions (the builder adds its own).
    pub(crate) fn memory(&self) -> MemoryConfig {
        MemoryConfig {
            regions: Vec::new(),
            heap_size: self.heap_size,
            stack_size: self.stack_size,
            input_buffer_size: self.input_buffer_size,
            output_buffer_size: self.output_buffer_size,
            memory_limit: self.memory_limit,
        }
    }
}
