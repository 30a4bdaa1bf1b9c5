//! Guest memory: one memfd, mapped once into the host, handed whole to the VM.
//!
//! The guest's physical address space is `[0, size)`, backed by a memfd mapped
//! `MAP_SHARED | MAP_NORESERVE`: reserved, not committed, so a page the guest never
//! touches costs nothing. The host reads and writes guest memory only through the
//! bounds-checked copies below; it never holds a Rust reference into memory that a
//! running guest could change.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

use crate::mem::layout::GuestAddr;

/// An access outside guest memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("guest memory access at {addr:#x}+{len:#x} outside the {size:#x} bytes of guest memory")]
pub struct OutOfBounds {
    /// First guest address of the access.
    pub addr: u64,
    /// Length of the access.
    pub len: u64,
    /// Size of guest memory.
    pub size: u64,
}

/// The memory of one guest.
#[derive(Debug)]
pub(crate) struct GuestMemory {
    base: NonNull<u8>,
    size: usize,
    _fd: OwnedFd,
}

// SAFETY: GuestMemory owns its mapping; the raw pointer is only dereferenced through
// methods that take &self/&mut self and bound every access, so moving it to another
// thread is sound.
unsafe impl Send for GuestMemory {}

impl GuestMemory {
    /// Reserves `size` bytes (a multiple of the page size) of zeroed guest memory.
    pub(crate) fn new(size: u64) -> io::Result<GuestMemory> {
        let len = usize::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: memfd_create takes a NUL-terminated name and flags; it returns a new fd
        // or -1, checked below.
        let raw = unsafe { libc::memfd_create(c"hyperlight-guest".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a freshly created fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let off = libc::off_t::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: ftruncate on a valid fd we own.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), off) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new shared mapping of the whole memfd at an address of the kernel's
        // choosing; the result is checked against MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::from(io::ErrorKind::Other))?;
        Ok(GuestMemory { base, size: len, _fd: fd })
    }

    /// Size of guest memory in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size as u64
    }

    /// Host address of guest physical address 0 (for the hypervisor's memory slot).
    pub(crate) fn host_addr(&self) -> u64 {
        self.base.as_ptr() as u64
    }

    fn check(&self, addr: GuestAddr, len: usize) -> Result<usize, OutOfBounds> {
        let err = OutOfBounds { addr: addr.0, len: len as u64, size: self.size as u64 };
        let start = usize::try_from(addr.0).map_err(|_| err)?;
        match start.checked_add(len) {
            Some(end) if end <= self.size => Ok(start),
            _ => Err(err),
        }
    }

    /// Copies `data` into guest memory at `addr`.
    pub(crate) fn write(&mut self, addr: GuestAddr, data: &[u8]) -> Result<(), OutOfBounds> {
        let start = self.check(addr, data.len())?;
        // SAFETY: [start, start + len) lies inside the mapping (checked above); the
        // source is a host slice that cannot overlap the guest mapping.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.as_ptr().add(start), data.len()) };
        Ok(())
    }

    /// Copies guest memory at `addr` into `out`.
    pub(crate) fn read(&self, addr: GuestAddr, out: &mut [u8]) -> Result<(), OutOfBounds> {
        let start = self.check(addr, out.len())?;
        // SAFETY: [start, start + len) lies inside the mapping (checked above); `out`
        // is a host buffer, disjoint from it. The guest is not running while the host
        // reads (the vCPU runs on the thread that calls this, between exits).
        unsafe { std::ptr::copy_nonoverlapping(self.base.as_ptr().add(start), out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Reads a little-endian u64 at `addr`.
    pub(crate) fn read_u64(&self, addr: GuestAddr) -> Result<u64, OutOfBounds> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// A mutable view of `[addr, addr + len)`, for bulk initialisation before the guest
    /// first runs (ELF loading, page tables).
    pub(crate) fn slice_mut(&mut self, addr: GuestAddr, len: u64) -> Result<&mut [u8], OutOfBounds> {
        let n = usize::try_from(len).map_err(|_| OutOfBounds { addr: addr.0, len, size: self.size as u64 })?;
        let start = self.check(addr, n)?;
        // SAFETY: the range lies inside the mapping (checked above), and the returned
        // borrow of &mut self excludes every other access through this GuestMemory for
        // its lifetime. The vCPU only runs inside `&mut self` methods of the sandbox
        // that owns this memory, so it cannot run while the slice lives.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(start), n) })
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: base/size describe the mapping created in new(), unmapped once here.
        // The VM that used it is dropped before (field order in Sandbox).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.size) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked() {
        let mut m = GuestMemory::new(8192).expect("memfd");
        m.write(GuestAddr(4096), &[1, 2, 3]).expect("in bounds");
        let mut b = [0u8; 3];
        m.read(GuestAddr(4096), &mut b).expect("in bounds");
        assert_eq!(b, [1, 2, 3]);
        assert!(m.write(GuestAddr(8190), &[0; 3]).is_err());
        assert!(m.read(GuestAddr(u64::MAX), &mut b).is_err());
        assert!(m.slice_mut(GuestAddr(0), 8193).is_err());
    }
}
