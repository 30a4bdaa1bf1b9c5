//! `Image`: a frozen copy of guest memory that sandboxes map copy-on-write.
//!
//! An image is a memfd that nothing writes any more, plus one read-only shared view
//! of it in the host (for copying pages back on restore and for saving). Sandboxes map
//! it `MAP_PRIVATE`: they share its pages until they write them, and a write gives the
//! writing sandbox its own copy. A thousand sandboxes of one image cost little more
//! than one.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use hyperlight_common::PAGE_SIZE;

/// A frozen block of guest memory.
#[derive(Debug)]
pub(crate) struct Image {
    id: u64,
    fd: OwnedFd,
    size: usize,
    view: NonNull<u8>,
}

// SAFETY: the view is a read-only mapping of a file nobody writes (see `adopt`), so
// reading it from any thread is sound; the fd is an owned file descriptor.
unsafe impl Send for Image {}
// SAFETY: as above: shared references only read immutable memory.
unsafe impl Sync for Image {}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The page size as a `usize` (4096 fits every pointer width).
const PAGE: usize = 4096;
const _: () = assert!(PAGE as u64 == PAGE_SIZE);

impl Image {
    /// Makes `fd` (a memfd of `size` bytes) an image.
    ///
    /// The caller gives up every writable mapping of `fd` and never writes it again:
    /// from now on the file is immutable.
    pub(crate) fn adopt(fd: OwnedFd, size: usize) -> io::Result<Image> {
        // SAFETY: a new read-only shared mapping of the whole file at an address of
        // the kernel's choosing; the result is checked against MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let view = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::from(io::ErrorKind::Other))?;
        Ok(Image { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), fd, size, view })
    }

    /// A new image of `size` bytes whose content `fill` writes into a fresh memfd.
    pub(crate) fn build(size: usize, fill: impl FnOnce(&OwnedFd) -> io::Result<()>) -> io::Result<Image> {
        let fd = new_memfd(size)?;
        fill(&fd)?;
        Image::adopt(fd, size)
    }

    /// Unique in the process: two images are the same memory only if their ids match.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The memfd (for private mappings).
    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Page `index` of the image.
    pub(crate) fn page(&self, index: u64) -> Option<&[u8]> {
        let start = usize::try_from(index).ok()?.checked_mul(PAGE)?;
        if start.checked_add(PAGE)? > self.size {
            return None;
        }
        // SAFETY: the range lies inside the read-only view, whose file is never written
        // (see `adopt`), so the bytes cannot change while the slice lives.
        Some(unsafe { std::slice::from_raw_parts(self.view.as_ptr().add(start), PAGE) })
    }

    /// The runs of pages that hold data (everything else reads as zero), as
    /// `(first page, one past the last page)`, from the file's allocation map
    /// (`SEEK_DATA` / `SEEK_HOLE`): untouched memory costs nothing here either.
    pub(crate) fn data_runs(&self) -> io::Result<Vec<(u64, u64)>> {
        data_runs(&self.fd, self.size)
    }

    /// The runs of pages that are not all zero: [`data_runs`](Image::data_runs) less
    /// the pages the file holds but that read as zero (a guest's read of untouched
    /// memory allocates a zero page in the file). The canonical content of the image.
    pub(crate) fn nonzero_runs(&self) -> io::Result<Vec<(u64, u64)>> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for (first, end) in self.data_runs()? {
            for page in first..end {
                if self.page(page).is_some_and(|p| p.iter().any(|&b| b != 0)) {
                    match runs.last_mut() {
                        Some(run) if run.1 == page => run.1 += 1,
                        _ => runs.push((page, page + 1)),
                    }
                }
            }
        }
        Ok(runs)
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        // SAFETY: view/size describe the mapping made in `adopt`, unmapped once here;
        // every slice handed out borrows `self`, so none outlives it.
        unsafe { libc::munmap(self.view.as_ptr().cast(), self.size) };
    }
}

/// A new memfd of `size` zero bytes.
pub(crate) fn new_memfd(size: usize) -> io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: memfd_create takes a NUL-terminated name and flags; it returns a new fd
    // or -1, checked below.
    let raw = unsafe { libc::memfd_create(c"hyperlight-guest".as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a freshly created fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let len = libc::off_t::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: ftruncate on a valid fd we own.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// The data runs of the file `fd` of `size` bytes, in pages.
pub(crate) fn data_runs(fd: &OwnedFd, size: usize) -> io::Result<Vec<(u64, u64)>> {
    let end = libc::off_t::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut runs = Vec::new();
    let mut at: libc::off_t = 0;
    while at < end {
        // SAFETY: lseek on a valid fd; -1 with ENXIO means no data after `at`.
        let data = unsafe { libc::lseek(fd.as_raw_fd(), at, libc::SEEK_DATA) };
        if data < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENXIO) {
                break;
            }
            return Err(e);
        }
        // SAFETY: as above; there is always a hole at the end of the file.
        let hole = unsafe { libc::lseek(fd.as_raw_fd(), data, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(io::Error::last_os_error());
        }
        let offset = |off: libc::off_t| u64::try_from(off).unwrap_or(0);
        runs.push((offset(data) / PAGE_SIZE, offset(hole.min(end)).div_ceil(PAGE_SIZE)));
        at = hole;
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_runs_skip_holes() {
        let image = Image::build(64 * PAGE, |fd| {
            for page in [3u64, 4, 40] {
                let buf = [7u8; PAGE];
                let off = libc::off_t::try_from(page * PAGE_SIZE).expect("small");
                // SAFETY: pwrite of a host buffer into a valid fd.
                let n = unsafe { libc::pwrite(fd.as_raw_fd(), buf.as_ptr().cast(), PAGE, off) };
                assert_eq!(n, 4096);
            }
            Ok(())
        })
        .expect("image");
        let runs = image.data_runs().expect("runs");
        let pages: Vec<u64> = runs.iter().flat_map(|&(a, b)| a..b).collect();
        for p in [3, 4, 40] {
            assert!(pages.contains(&p), "{runs:?}");
        }
        assert!(pages.len() < 64, "holes are skipped: {runs:?}");
        assert_eq!(image.page(40).expect("in range")[0], 7);
        assert_eq!(image.page(0).expect("in range")[0], 0);
        assert!(image.page(64).is_none());
    }
}
