//! [`Limits`]: the linear memory limit the host configured, enforced on every grow.

use wasmi::ResourceLimiter;
use wasmi_core::LimiterError;

/// The resource limiter of the store.
///
/// A `memory.grow` past the limit traps (wasmi's `GrowthOperationLimited`), rather
/// than returning -1 as the specification allows: an allocator that sees -1 usually
/// aborts with `unreachable`, which would hide the reason. The request that hit the
/// limit is kept so the trap can say so.
pub struct Limits {
    max_memory: usize,
    /// `(limit, requested)` of the last grow that was refused.
    pub refused: Option<(u64, u64)>,
}

/// Table elements any table may have (tables live in the runtime's heap too).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl Limits {
    pub fn new(max_memory: u64) -> Limits {
        Limits { max_memory: usize::try_from(max_memory).unwrap_or(usize::MAX), refused: None }
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        if desired > self.max_memory {
            self.refused = Some((self.max_memory as u64, desired as u64));
            return Err(LimiterError::ResourceLimiterDeniedAllocation);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        100
    }

    fn memories(&self) -> usize {
        16
    }
}
