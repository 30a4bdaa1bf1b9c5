//! Exports for the benchmarks, with no imports at all (`no_std`): the same module runs
//! in the sandbox, in wasmi in the host process and in Wasmtime.
//!
//! - `nop()`: the empty call.
//! - `touch(pages) -> pages`: writes one word in each of `pages` pages.
//! - `hash(len) -> hash`: FNV-1a over `len` bytes of a buffer it fills first
//!   (1 MiB in the benchmark).
//! - `mandelbrot(size) -> count`: points of a `size` x `size` grid in the set
//!   (float-heavy: f64 multiply-adds).
//! - `nbody(steps) -> energy`: the n-body simulation (float-heavy, with sqrt).
#![no_std]

use core::sync::atomic::{AtomicU32, Ordering};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

const BUF: usize = 1 << 20;

/// A buffer in linear memory (in .bss: zero pages until touched).
static mut BUFFER: [u8; BUF] = [0; BUF];
static TOUCHED: AtomicU32 = AtomicU32::new(0);

fn buffer() -> &'static mut [u8; BUF] {
    // SAFETY: Wasm runs one thread, and each export takes this reference once and
    // drops it before returning.
    unsafe { &mut *core::ptr::addr_of_mut!(BUFFER) }
}

#[no_mangle]
pub extern "C" fn nop() {}

#[no_mangle]
pub extern "C" fn touch(pages: u32) -> u32 {
    let b = buffer();
    for p in 0..pages as usize {
        b[(p * 4096) % BUF] = p as u8;
    }
    TOUCHED.fetch_add(pages, Ordering::Relaxed);
    pages
}

#[no_mangle]
pub extern "C" fn hash(len: u32) -> u64 {
    let b = buffer();
    let len = (len as usize).min(BUF);
    for (i, x) in b[..len].iter_mut().enumerate() {
        *x = (i as u32).wrapping_mul(2_654_435_761) as u8;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in &b[..len] {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[no_mangle]
pub extern "C" fn mandelbrot(size: u32) -> u32 {
    let mut inside = 0;
    for py in 0..size {
        for px in 0..size {
            let cx = -2.0 + 3.0 * f64::from(px) / f64::from(size);
            let cy = -1.5 + 3.0 * f64::from(py) / f64::from(size);
            let (mut x, mut y) = (0.0f64, 0.0f64);
            let mut i = 0;
            while i < 100 && x * x + y * y <= 4.0 {
                let t = x * x - y * y + cx;
                y = 2.0 * x * y + cy;
                x = t;
                i += 1;
            }
            if i == 100 {
                inside += 1;
            }
        }
    }
    inside
}

#[derive(Clone, Copy)]
struct Body {
    p: [f64; 3],
    v: [f64; 3],
    m: f64,
}

#[no_mangle]
pub extern "C" fn nbody(steps: u32) -> f64 {
    const SOLAR: f64 = 4.0 * core::f64::consts::PI * core::f64::consts::PI;
    const DAYS: f64 = 365.24;
    let mut b = [
        Body { p: [0.0; 3], v: [0.0; 3], m: SOLAR },
        Body {
            p: [4.841_431_442_464_72, -1.160_320_044_027_428_4, -0.103_622_044_471_123_1],
            v: [0.001_660_076_642_744_037 * DAYS, 0.007_699_011_184_197_404 * DAYS, -6.904_600_169_720_63e-5 * DAYS],
            m: 9.547_919_384_243_266e-4 * SOLAR,
        },
        Body {
            p: [8.343_366_718_244_58, 4.124_798_564_124_305, -0.403_523_417_114_321_4],
            v: [-0.002_767_425_107_268_624 * DAYS, 0.004_998_528_012_349_172 * DAYS, 2.304_172_975_737_639_3e-5 * DAYS],
            m: 2.858_859_806_661_308e-4 * SOLAR,
        },
    ];
    let n = b.len();
    for _ in 0..steps {
        for i in 0..n {
            for j in i + 1..n {
                let d = [b[i].p[0] - b[j].p[0], b[i].p[1] - b[j].p[1], b[i].p[2] - b[j].p[2]];
                let d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                let mag = 0.01 / (d2 * sqrt(d2));
                for k in 0..3 {
                    let (mi, mj) = (b[i].m, b[j].m);
                    b[i].v[k] -= d[k] * mj * mag;
                    b[j].v[k] += d[k] * mi * mag;
                }
            }
        }
        for body in &mut b {
            for k in 0..3 {
                body.p[k] += 0.01 * body.v[k];
            }
        }
    }
    b.iter().map(|x| 0.5 * x.m * (x.v[0] * x.v[0] + x.v[1] * x.v[1] + x.v[2] * x.v[2])).sum()
}

/// Square root by Newton's method from a bit-level first guess (stable `core` has no
/// `sqrt` without std): more float work per step, which is what this export measures.
fn sqrt(x: f64) -> f64 {
    let mut r = f64::from_bits((x.to_bits() >> 1) + (1023u64 << 51));
    for _ in 0..5 {
        r = 0.5 * (r + x / r);
    }
    r
}
