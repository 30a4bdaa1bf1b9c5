//! `HostRegion`: host memory or a file that sandboxes map into guest memory,
//! read-only, without copying it.
//!
//! A region is one read-only shared mapping in the host, of a sealed memfd (made from
//! bytes once) or of a file. Each sandbox that maps it gets a hypervisor memory slot
//! over that same mapping, so every sandbox reads the same physical pages: a 64 MiB
//! input costs no copy, and a thousand sandboxes mapping one file cost one file's
//! pages. The guest address range is reserved in the builder
//! ([`SandboxBuilder::reserve_region`](crate::SandboxBuilder::reserve_region)); the
//! page tables map it user-readable (and executable, if asked), never writable.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Arc;

use hyperlight_common::PAGE_SIZE;

use crate::mem::image::{new_memfd, write_all_at};

/// What the guest may do with a region: read it, or read and execute it. Never write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionAccess {
    /// Read only.
    Read,
    /// Read and execute.
    ReadExecute,
}

/// A range of guest addresses kept for host regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reservation {
    pub addr: u64,
    pub size: u64,
    pub access: RegionAccess,
}

/// Host memory that sandboxes map into their guests (see the module documentation).
/// Cheap to clone: clones share the one mapping.
///
/// ```no_run
/// use hyperlight_host::{HostRegion, RegionAccess, SandboxBuilder};
///
/// const INPUT: u64 = 0x10_0000_0000;
/// let data = HostRegion::from_bytes(&vec![7u8; 64 << 20])?;
/// let mut sandbox = SandboxBuilder::new()
///     .reserve_region(INPUT, 64 << 20, RegionAccess::Read)
///     .build_from_file("guests/target/x86_64-unknown-none/release/simpleguest")?;
/// sandbox.map_region(INPUT, &data, RegionAccess::Read)?;
/// let sum: u64 = sandbox.call("SumRegion", (INPUT, 64u64 << 20))?;   // no copy
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct HostRegion {
    inner: Arc<Mapping>,
}

#[derive(Debug)]
struct Mapping {
    /// Keeps the file (or memfd) open as long as the mapping.
    _fd: OwnedFd,
    view: NonNull<u8>,
    /// Bytes mapped: the content's length rounded up to whole pages.
    mapped: usize,
    /// Bytes of content.
    len: usize,
}

// SAFETY: the view is a read-only shared mapping; reading it from any thread is sound.
// A memfd region is sealed, so its bytes never change; a file region's bytes change
// only if the file is written through another descriptor, which the region's docs
// leave to the application (as with any shared mapping).
unsafe impl Send for Mapping {}
// SAFETY: as above: shared references only read.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `view`/`mapped` describe the mapping made in `map`, unmapped once here;
        // every sandbox slot over it holds an `Arc` of this, so none outlives it.
        unsafe { libc::munmap(self.view.as_ptr().cast(), self.mapped) };
    }
}

fn map(fd: OwnedFd, len: usize) -> io::Result<HostRegion> {
    if len == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "an empty host region"));
    }
    const PAGE: usize = 4096;
    const _: () = assert!(PAGE as u64 == PAGE_SIZE);
    let page = PAGE;
    let mapped = len.div_ceil(page).checked_mul(page).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a new read-only shared mapping of the whole file at an address of the
    // kernel's choosing; the result is checked against MAP_FAILED. Bytes past the
    // file's end within the last page read as zero.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), mapped, libc::PROT_READ, libc::MAP_SHARED, fd.as_raw_fd(), 0) };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let view = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::from(io::ErrorKind::Other))?;
    Ok(HostRegion { inner: Arc::new(Mapping { _fd: fd, view, mapped, len }) })
}

impl HostRegion {
    /// A region holding a copy of `bytes` (in a sealed memfd, copied once however many
    /// sandboxes map it).
    pub fn from_bytes(bytes: &[u8]) -> io::Result<HostRegion> {
        let fd = new_memfd(bytes.len())?;
        write_all_at(&fd, bytes, 0)?;
        use rustix::fs::SealFlags;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        map(fd, bytes.len())
    }

    /// A region of the file at `path`, mapped read-only (its pages are the page
    /// cache's: every sandbox mapping it shares them).
    pub fn from_file(path: impl AsRef<Path>) -> io::Result<HostRegion> {
        let file = File::open(path)?;
        let len = usize::try_from(file.metadata()?.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        map(OwnedFd::from(file), len)
    }

    /// Bytes of content.
    pub fn len(&self) -> usize {
        self.inner.len
    }

    /// Whether it is empty (never: an empty region is refused).
    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// Bytes mapped into a guest: the length rounded up to whole pages.
    pub(crate) fn mapped_len(&self) -> u64 {
        self.inner.mapped as u64
    }

    /// Host address of the mapping (for the hypervisor's memory slot).
    pub(crate) fn host_addr(&self) -> u64 {
        self.inner.view.as_ptr() as u64
    }

    /// The file descriptor (for tests that look at how it is mapped).
    #[allow(dead_code)]
    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner._fd.as_fd()
    }
}
