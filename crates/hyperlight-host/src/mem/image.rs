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
    /// Makes `fd` (a memfd of `size` bytes, made by [`new_memfd`]) an image: seals it
    /// (see [`Image::seal`]), then maps the host's read-only view of it.
    ///
    /// The caller must have given up every writable shared mapping of `fd` (the seal
    /// fails with `EBUSY` otherwise): from now on the file is immutable.
    pub(crate) fn adopt(fd: OwnedFd, size: usize) -> io::Result<Image> {
        seal(&fd)?;
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

/// A new memfd of `size` zero bytes, which can be sealed once it is an image.
pub(crate) fn new_memfd(size: usize) -> io::Result<OwnedFd> {
    use rustix::fs::MemfdFlags;
    let fd = rustix::fs::memfd_create("hyperlight-guest", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    rustix::fs::ftruncate(&fd, size as u64)?;
    Ok(fd)
}

/// Makes the kernel hold an image to its promise: no write, no change of size, no
/// writable shared mapping of its memfd, ever (`F_SEAL_WRITE`, `F_SEAL_SHRINK`,
/// `F_SEAL_GROW`, and `F_SEAL_SEAL` so that the seals stay). Private (copy-on-write)
/// mappings, which is how sandboxes map images, stay allowed.
fn seal(fd: &OwnedFd) -> io::Result<()> {
    use rustix::fs::SealFlags;
    rustix::fs::fcntl_add_seals(fd, SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
    Ok(())
}

/// Writes all of `buf` into `fd` at `offset`.
pub(crate) fn write_all_at(fd: &OwnedFd, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match rustix::io::pwrite(fd, buf, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The data runs of the file `fd` of `size` bytes, in pages.
pub(crate) fn data_runs(fd: &OwnedFd, size: usize) -> io::Result<Vec<(u64, u64)>> {
    use rustix::fs::SeekFrom;
    let end = size as u64;
    let mut runs = Vec::new();
    let mut at = 0u64;
    while at < end {
        let data = match rustix::fs::seek(fd, SeekFrom::Data(at)) {
            Ok(data) => data,
            // No data after `at`.
            Err(rustix::io::Errno::NXIO) => break,
            Err(e) => return Err(e.into()),
        };
        // There is always a hole at the end of the file.
        let hole = rustix::fs::seek(fd, SeekFrom::Hole(data))?;
        runs.push((data / PAGE_SIZE, hole.min(end).div_ceil(PAGE_SIZE)));
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
                write_all_at(fd, &[7u8; PAGE], page * PAGE_SIZE)?;
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

    #[test]
    fn images_are_sealed_against_writes() {
        use rustix::fs::SealFlags;
        let image = Image::build(4 * PAGE, |fd| write_all_at(fd, &[1u8; PAGE], 0)).expect("image");
        let seals = rustix::fs::fcntl_get_seals(image.fd()).expect("seals");
        assert!(seals.contains(SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL), "{seals:?}");
        let write = write_all_at(image.fd(), &[2u8; 8], 0).expect_err("a sealed image cannot be written");
        assert_eq!(write.raw_os_error(), Some(libc::EPERM));
        assert!(rustix::fs::ftruncate(image.fd(), 0).is_err(), "nor shrunk");
        assert!(rustix::fs::ftruncate(image.fd(), 8 * PAGE as u64).is_err(), "nor grown");
        assert_eq!(image.page(0).expect("page")[0], 1);
    }
}
