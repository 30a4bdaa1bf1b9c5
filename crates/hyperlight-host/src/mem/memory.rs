//! Guest memory: the block of host memory that is the guest's physical memory.
//!
//! The guest's physical address space is `[0, size)`, one host mapping handed whole to
//! the VM. It is backed in one of two ways:
//!
//! - **own**: a fresh memfd mapped `MAP_SHARED` (a sandbox built from an ELF). The
//!   first snapshot freezes this memfd into an [`Image`] without copying anything.
//! - **image**: an [`Image`] mapped `MAP_PRIVATE` (after a snapshot, a restore, or for
//!   a sandbox made from a snapshot): pages are shared with the image until written.
//!
//! Either way the mapping is `MAP_NORESERVE`: a page the guest never touches costs
//! nothing. The host reads and writes guest memory only through the bounds-checked
//! copies below, never holding a Rust reference into memory a running guest could
//! change, and it records the pages it writes (the hypervisor's dirty log sees only
//! the guest's writes): restore must undo both.

use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::Arc;

use hyperlight_common::PAGE_SIZE;

use crate::mem::image::{new_memfd, write_all_at, Image};
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

#[derive(Debug)]
enum Backing {
    Own(OwnedFd),
    Image(Arc<Image>),
    /// Only while switching between the two.
    None,
}

/// The memory of one guest.
#[derive(Debug)]
pub(crate) struct GuestMemory {
    base: NonNull<u8>,
    size: usize,
    backing: Backing,
    /// Pages the host wrote since the memory last equalled its image.
    host_dirty: BTreeSet<u64>,
}

// SAFETY: GuestMemory owns its mapping; the raw pointer is only dereferenced through
// methods that take &self/&mut self and bound every access, so moving it to another
// thread is sound.
unsafe impl Send for GuestMemory {}

/// The page size as a `usize` (4096 fits every pointer width).
const PAGE: usize = 4096;
const _: () = assert!(PAGE as u64 == PAGE_SIZE);

/// Maps `len` bytes of `fd` at `at` (or anywhere if null), shared or private.
fn map(at: *mut u8, len: usize, fd: &OwnedFd, shared: bool) -> io::Result<NonNull<u8>> {
    let kind = if shared { libc::MAP_SHARED } else { libc::MAP_PRIVATE };
    let fixed = if at.is_null() { 0 } else { libc::MAP_FIXED };
    // SAFETY: a read-write mapping of `fd`. With MAP_FIXED, `at..at+len` is a mapping
    // this GuestMemory owns (its whole range), which it replaces atomically; no Rust
    // reference into it is alive (every access copies). The result is checked.
    let p = unsafe {
        libc::mmap(
            at.cast(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            kind | fixed | libc::MAP_NORESERVE,
            fd.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::from(io::ErrorKind::Other))
}

impl GuestMemory {
    /// Reserves `size` bytes (a multiple of the page size) of zeroed guest memory.
    pub(crate) fn new(size: u64) -> io::Result<GuestMemory> {
        let len = usize::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let fd = new_memfd(len)?;
        let base = map(std::ptr::null_mut(), len, &fd, true)?;
        Ok(GuestMemory { base, size: len, backing: Backing::Own(fd), host_dirty: BTreeSet::new() })
    }

    /// Guest memory equal to `image`, sharing its pages until they are written.
    pub(crate) fn from_image(image: &Arc<Image>) -> io::Result<GuestMemory> {
        let base = map(std::ptr::null_mut(), image.size(), image.fd(), false)?;
        Ok(GuestMemory {
            base,
            size: image.size(),
            backing: Backing::Image(Arc::clone(image)),
            host_dirty: BTreeSet::new(),
        })
    }

    /// Size of guest memory in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size as u64
    }

    /// Host address of guest physical address 0 (for the hypervisor's memory slot).
    pub(crate) fn host_addr(&self) -> u64 {
        self.base.as_ptr() as u64
    }

    /// The image this memory is a copy-on-write view of, if any.
    pub(crate) fn image(&self) -> Option<&Arc<Image>> {
        match &self.backing {
            Backing::Image(i) => Some(i),
            _ => None,
        }
    }

    /// Makes this memory a fresh copy-on-write view of `image` (same size): every page
    /// the guest or the host wrote is dropped. The address stays, so the VM's memory
    /// slot follows without being touched.
    pub(crate) fn rebase(&mut self, image: &Arc<Image>) -> io::Result<()> {
        if image.size() != self.size {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "image size differs from guest memory"));
        }
        map(self.base.as_ptr(), self.size, image.fd(), false)?;
        self.backing = Backing::Image(Arc::clone(image));
        self.host_dirty.clear();
        Ok(())
    }

    /// Drops every page and the backing: the range stays reserved (mapped to nothing,
    /// `PROT_NONE`) so that the VM slot on it stays valid while the VM is pooled.
    /// [`rebase`](GuestMemory::rebase) makes it guest memory again.
    pub(crate) fn release(&mut self) -> io::Result<()> {
        // SAFETY: MAP_FIXED over this GuestMemory's own whole range with an anonymous,
        // inaccessible mapping; no Rust reference into the range is alive.
        let p = unsafe {
            libc::mmap(
                self.base.as_ptr().cast(),
                self.size,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        self.backing = Backing::None;
        self.host_dirty.clear();
        Ok(())
    }

    /// Freezes the current content into an image and makes this memory a copy-on-write
    /// view of it. `guest_dirty` are the pages the guest wrote since the memory last
    /// equalled its image (from the hypervisor's dirty log).
    ///
    /// Own memory is frozen in place: its memfd becomes the image, nothing is copied.
    /// Otherwise the image's data pages and the dirty ones are copied into a new memfd.
    pub(crate) fn freeze(&mut self, guest_dirty: &[u64]) -> io::Result<Arc<Image>> {
        let image = match std::mem::replace(&mut self.backing, Backing::None) {
            Backing::Own(fd) => {
                // First a private view of the same file in place of the shared one (same
                // bytes): no writable shared mapping is left, so the memfd can be sealed.
                if let Err(e) = map(self.base.as_ptr(), self.size, &fd, false) {
                    self.backing = Backing::Own(fd);
                    return Err(e);
                }
                Arc::new(Image::adopt(fd, self.size)?)
            }
            Backing::Image(old) => {
                let result = self.copy_out(&old, guest_dirty);
                self.backing = Backing::Image(old);
                Arc::new(result?)
            }
            Backing::None => return Err(io::Error::other("guest memory has no backing")),
        };
        // A fresh copy-on-write view of the image: whatever the host and the guest
        // write from now on is the sandbox's own.
        self.rebase(&image)?;
        Ok(image)
    }

    /// A new image with this memory's content: `old`'s data pages and the dirty pages,
    /// read through this mapping.
    fn copy_out(&self, old: &Image, guest_dirty: &[u64]) -> io::Result<Image> {
        let mut pages: BTreeSet<u64> = old.data_runs()?.into_iter().flat_map(|(a, b)| a..b).collect();
        pages.extend(guest_dirty.iter().copied());
        pages.extend(self.host_dirty.iter().copied());
        Image::build(self.size, |fd| {
            for page in pages {
                let off =
                    usize::try_from(page).ok().and_then(|p| p.checked_mul(PAGE)).filter(|o| o + PAGE <= self.size);
                let Some(off) = off else { continue };
                // SAFETY: `off..off+PAGE` lies inside this mapping (checked above), and
                // the guest is not running (snapshots happen between calls), so the
                // bytes do not change while the slice lives; nothing writes the mapping
                // meanwhile (`&self`).
                let page = unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(off), PAGE) };
                write_all_at(fd, page, off as u64)?;
            }
            Ok(())
        })
    }

    /// Copies `pages` (page indices) and every page the host wrote back from the image,
    /// so that memory equals the image again, given that `pages` are all the pages the
    /// guest wrote since it last did. Returns how many pages were copied.
    pub(crate) fn reset_pages(&mut self, guest_dirty: &[u64]) -> io::Result<usize> {
        let Backing::Image(image) = &self.backing else {
            return Err(io::Error::other("guest memory has no image to reset to"));
        };
        let image = Arc::clone(image);
        let mut pages: BTreeSet<u64> = std::mem::take(&mut self.host_dirty);
        pages.extend(guest_dirty.iter().copied());
        for &page in &pages {
            let src = image.page(page).ok_or_else(|| io::Error::other("dirty page outside the image"))?;
            let off = usize::try_from(page).unwrap_or(usize::MAX).saturating_mul(PAGE);
            // SAFETY: `image.page` succeeded, so `off..off+PAGE` is inside the image and so
            // inside this mapping of the same size; source and destination are distinct
            // mappings. The guest is not running.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.base.as_ptr().add(off), PAGE) };
        }
        Ok(pages.len())
    }

    fn check(&self, addr: GuestAddr, len: usize) -> Result<usize, OutOfBounds> {
        let err = OutOfBounds { addr: addr.0, len: len as u64, size: self.size as u64 };
        let start = usize::try_from(addr.0).map_err(|_| err)?;
        match start.checked_add(len) {
            Some(end) if end <= self.size => Ok(start),
            _ => Err(err),
        }
    }

    fn mark(&mut self, start: usize, len: usize) {
        if len == 0 {
            return;
        }
        let (first, last) = (start / PAGE, (start + len - 1) / PAGE);
        self.host_dirty.extend((first as u64)..=(last as u64));
    }

    /// Copies `data` into guest memory at `addr`.
    pub(crate) fn write(&mut self, addr: GuestAddr, data: &[u8]) -> Result<(), OutOfBounds> {
        let start = self.check(addr, data.len())?;
        self.mark(start, data.len());
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

    /// A mutable view of `[addr, addr + len)`, for bulk writes while the guest is
    /// stopped (ELF loading, encoding a message in place).
    pub(crate) fn slice_mut(&mut self, addr: GuestAddr, len: u64) -> Result<&mut [u8], OutOfBounds> {
        let n = usize::try_from(len).map_err(|_| OutOfBounds { addr: addr.0, len, size: self.size as u64 })?;
        let start = self.check(addr, n)?;
        self.mark(start, n);
        // SAFETY: the range lies inside the mapping (checked above), and the returned
        // borrow of &mut self excludes every other access through this GuestMemory for
        // its lifetime. The vCPU only runs inside `&mut self` methods of the sandbox
        // that owns this memory, so it cannot run while the slice lives.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(start), n) })
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: base/size describe the mapping created in new()/from_image(), unmapped
        // once here. The VM that used it is dropped before (field order in Sandbox).
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

    #[test]
    fn freeze_reset_and_rebase() {
        let mut m = GuestMemory::new(16 * 4096).expect("memfd");
        m.write(GuestAddr(4096), &[1; 8]).expect("write");
        let first = m.freeze(&[]).expect("freeze own memory in place");
        assert_eq!(first.page(1).expect("page")[0], 1);
        let seals = rustix::fs::fcntl_get_seals(first.fd()).expect("seals");
        assert!(seals.contains(rustix::fs::SealFlags::WRITE), "a frozen memfd is sealed: {seals:?}");
        // Host writes after the freeze are undone by a reset.
        m.write(GuestAddr(4096), &[2; 8]).expect("write");
        m.write(GuestAddr(8 * 4096), &[3; 8]).expect("write");
        assert_eq!(m.reset_pages(&[]).expect("reset"), 2);
        assert_eq!(m.read_u64(GuestAddr(4096)).expect("read"), u64::from_le_bytes([1; 8]));
        assert_eq!(m.read_u64(GuestAddr(8 * 4096)).expect("read"), 0);
        // A second freeze copies the image's data and the new writes.
        m.write(GuestAddr(2 * 4096), &[4; 8]).expect("write");
        let second = m.freeze(&[]).expect("freeze a copy");
        assert_ne!(first.id(), second.id());
        assert_eq!(second.page(1).expect("page")[0], 1);
        assert_eq!(second.page(2).expect("page")[0], 4);
        assert_eq!(first.page(2).expect("page")[0], 0, "the first image is unchanged");
        // Rebasing to the first image drops everything since.
        m.rebase(&first).expect("rebase");
        assert_eq!(m.read_u64(GuestAddr(2 * 4096)).expect("read"), 0);
        // Two views of one image do not see each other's writes.
        let mut other = GuestMemory::from_image(&first).expect("view");
        other.write(GuestAddr(4096), &[9; 8]).expect("write");
        assert_eq!(m.read_u64(GuestAddr(4096)).expect("read"), u64::from_le_bytes([1; 8]));
    }
}
