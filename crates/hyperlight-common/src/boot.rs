//! The boot information block: what the host tells the guest at entry.
//!
//! The host writes one [`BootInfo`] into a read-only page of guest memory and enters
//! the guest at its ELF entry point, in user mode, with:
//!
//! - `%rdi` = guest address of the boot information block,
//! - `%rsp` = top of the stack ([`BootInfo::stack_top`], 16-byte aligned),
//! - every other general register zero.
//!
//! The block is a sequence of little-endian integers at fixed offsets (see
//! [`BootInfo::encode`]), so a guest in any language can read it.

/// First eight bytes of every boot information block: `b"HLBOOT\0\x01"` read as a
/// little-endian `u64`.
pub const BOOT_MAGIC: u64 = u64::from_le_bytes(*b"HLBOOT\0\x01");

/// Size in bytes of an encoded [`BootInfo`].
pub const BOOT_INFO_SIZE: usize = 128;

/// Most host memory regions a sandbox can reserve.
pub const MAX_REGIONS: usize = 16;

/// Size in bytes of one encoded [`RegionEntry`].
pub const REGION_ENTRY_SIZE: usize = 32;

/// One host memory region reserved in the guest's address space, as the host writes
/// it into the table at [`BootInfo::regions`]: four little-endian `u64`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegionEntry {
    /// Guest address of the region (page-aligned).
    pub addr: u64,
    /// Bytes reserved.
    pub size: u64,
    /// Bytes mapped now (0: nothing mapped; reading the region then stops the guest).
    pub mapped: u64,
    /// Bit 0: executable. The guest may never write a region.
    pub flags: u64,
}

impl RegionEntry {
    /// The entry as bytes.
    pub fn encode(&self) -> [u8; REGION_ENTRY_SIZE] {
        let mut out = [0u8; REGION_ENTRY_SIZE];
        for (i, w) in [self.addr, self.size, self.mapped, self.flags].iter().enumerate() {
            out[8 * i..8 * i + 8].copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// An entry written by [`RegionEntry::encode`] (`None` if `bytes` is short).
    pub fn decode(bytes: &[u8]) -> Option<RegionEntry> {
        let word = |i: usize| {
            let b: [u8; 8] = bytes.get(8 * i..8 * i + 8)?.try_into().ok()?;
            Some(u64::from_le_bytes(b))
        };
        Some(RegionEntry { addr: word(0)?, size: word(1)?, mapped: word(2)?, flags: word(3)? })
    }
}

/// Size in bytes of the random seed at [`BootInfo::seed`].
pub const SEED_SIZE: usize = 32;

/// Where things are in guest memory. All addresses are guest virtual addresses (the
/// user part of guest memory is identity mapped, so they are also guest physical).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BootInfo {
    /// ABI version of the host ([`crate::ABI_VERSION`]).
    pub abi_version: u32,
    /// Reserved, zero.
    pub flags: u32,
    /// First byte of the heap.
    pub heap_base: u64,
    /// Size of the heap in bytes.
    pub heap_size: u64,
    /// First byte of the input buffer (host to guest).
    pub input_buffer: u64,
    /// Size of the input buffer in bytes.
    pub input_buffer_size: u64,
    /// First byte of the output buffer (guest to host).
    pub output_buffer: u64,
    /// Size of the output buffer in bytes.
    pub output_buffer_size: u64,
    /// One past the highest byte of the stack (the initial `%rsp`).
    pub stack_top: u64,
    /// Size of the stack in bytes; an unmapped guard page lies below it.
    pub stack_size: u64,
    /// Guest address at which the ELF image was loaded (its lowest segment).
    pub image_base: u64,
    /// Size of the loaded ELF image in bytes.
    pub image_size: u64,
    /// Address of [`SEED_SIZE`] bytes of fresh randomness, read-only to the guest,
    /// which the host rewrites whenever the sandbox starts anew: at creation, after
    /// every restore, and in every sandbox made from a snapshot. Randomness derived
    /// from it differs between tenants even when their memory is one snapshot's; a
    /// guest must derive it when it needs it, never keep it across calls.
    pub seed: u64,
    /// Address of the table of host memory regions ([`RegionEntry`], `region_count`
    /// of them), read-only to the guest; the host rewrites it when it maps or unmaps
    /// a region (between calls).
    pub regions: u64,
    /// Number of entries in the region table (at most [`MAX_REGIONS`]).
    pub region_count: u64,
}

/// Why a byte slice is not a boot information block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootInfoError {
    /// Fewer than [`BOOT_INFO_SIZE`] bytes.
    TooShort,
    /// The magic number is wrong.
    BadMagic,
}

impl core::fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BootInfoError::TooShort => write!(f, "boot information shorter than {BOOT_INFO_SIZE} bytes"),
            BootInfoError::BadMagic => f.write_str("boot information with a wrong magic number"),
        }
    }
}

impl core::error::Error for BootInfoError {}

impl BootInfo {
    /// The block as bytes: magic, then each field as a little-endian integer in the
    /// order of declaration (`abi_version` and `flags` are `u32`, the rest `u64`).
    pub fn encode(&self) -> [u8; BOOT_INFO_SIZE] {
        let mut out = [0u8; BOOT_INFO_SIZE];
        out[0..8].copy_from_slice(&BOOT_MAGIC.to_le_bytes());
        out[8..12].copy_from_slice(&self.abi_version.to_le_bytes());
        out[12..16].copy_from_slice(&self.flags.to_le_bytes());
        let words = [
            self.heap_base,
            self.heap_size,
            self.input_buffer,
            self.input_buffer_size,
            self.output_buffer,
            self.output_buffer_size,
            self.stack_top,
            self.stack_size,
            self.image_base,
            self.image_size,
            self.seed,
            self.regions,
            self.region_count,
        ];
        for (i, w) in words.iter().enumerate() {
            let at = 16 + 8 * i;
            out[at..at + 8].copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Reads a block written by [`BootInfo::encode`].
    pub fn decode(bytes: &[u8]) -> Result<BootInfo, BootInfoError> {
        if bytes.len() < BOOT_INFO_SIZE {
            return Err(BootInfoError::TooShort);
        }
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let half = |at: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&bytes[at..at + 4]);
            u32::from_le_bytes(b)
        };
        if word(0) != BOOT_MAGIC {
            return Err(BootInfoError::BadMagic);
        }
        Ok(BootInfo {
            abi_version: half(8),
            flags: half(12),
            heap_base: word(16),
            heap_size: word(24),
            input_buffer: word(32),
            input_buffer_size: word(40),
            output_buffer: word(48),
            output_buffer_size: word(56),
            stack_top: word(64),
            stack_size: word(72),
            image_base: word(80),
            image_size: word(88),
            seed: word(96),
            regions: word(104),
            region_count: word(112),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let b = BootInfo {
            abi_version: 7,
            flags: 0,
            heap_base: 1,
            heap_size: 2,
            input_buffer: 3,
            input_buffer_size: 4,
            output_buffer: 5,
            output_buffer_size: 6,
            stack_top: 7,
            stack_size: 8,
            image_base: 9,
            image_size: 10,
            seed: 11,
            regions: 12,
            region_count: 13,
        };
        assert_eq!(BootInfo::decode(&b.encode()), Ok(b));
        let mut bad = b.encode();
        bad[0] ^= 1;
        assert_eq!(BootInfo::decode(&bad), Err(BootInfoError::BadMagic));
        assert_eq!(BootInfo::decode(&bad[..10]), Err(BootInfoError::TooShort));
    }
}
