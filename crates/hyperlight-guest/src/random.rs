//! Random numbers that differ in every sandbox: [`fill`], [`u64()`], [`seed`].
//!
//! A guest has no entropy of its own, and its memory is often a snapshot's: every
//! sandbox made from one snapshot, and the sandbox after every restore, starts from
//! the same bytes. A random generator seeded at init would hand every tenant the same
//! numbers (the same keys, the same nonces). So the host writes a fresh seed into a
//! read-only page at creation, after every restore and in every sandbox made from a
//! snapshot ([`BootInfo::seed`](hyperlight_common::boot::BootInfo::seed)), and this
//! module derives everything from the seed current at the moment of the call:
//! ChaCha20, keyed by the seed, reseeded whenever the host's seed changed.
//!
//! Ask for randomness when you need it; never keep random values (or a generator of
//! your own seeded from them) across calls that may be separated by a restore.
//!
//! ```ignore
//! // ignore: runs only inside a guest (x86_64-unknown-none).
//! let mut key = [0u8; 32];
//! hyperlight_guest::random::fill(&mut key);
//! let n = hyperlight_guest::random::u64();
//! ```

use core::cell::RefCell;

use hyperlight_common::boot::SEED_SIZE;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::cell::SingleThreaded;

/// A generator and the seed it was made from.
type Seeded = ([u8; SEED_SIZE], ChaCha20Rng);

static RNG: SingleThreaded<RefCell<Option<Seeded>>> = SingleThreaded::new(RefCell::new(None));

/// The host's seed for this sandbox as it is now (all zero before the runtime has
/// started, which never happens in a guest built with it).
pub fn seed() -> [u8; SEED_SIZE] {
    let mut out = [0u8; SEED_SIZE];
    let Some(info) = crate::boot_info() else { return out };
    let Ok(at) = usize::try_from(info.seed) else { return out };
    if at == 0 {
        return out;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        // SAFETY: the host maps SEED_SIZE readable bytes at `BootInfo::seed` for the
        // guest's life and changes them only while the guest is stopped; a volatile
        // read makes sure the compiler never reuses a value read before an exit.
        *byte = unsafe { core::ptr::read_volatile((at + i) as *const u8) };
    }
    out
}

/// Fills `dest` with random bytes, from ChaCha20 keyed by the host's current seed.
pub fn fill(dest: &mut [u8]) {
    let seed = seed();
    let mut rng = RNG.borrow_mut();
    match &mut *rng {
        Some((current, generator)) if *current == seed => generator.fill_bytes(dest),
        slot => {
            let mut generator = ChaCha20Rng::from_seed(seed);
            generator.fill_bytes(dest);
            *slot = Some((seed, generator));
        }
    }
}

/// A random `u64` (see [`fill`]).
pub fn u64() -> u64 {
    let mut b = [0u8; 8];
    fill(&mut b);
    u64::from_le_bytes(b)
}
