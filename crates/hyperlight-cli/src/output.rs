//! How results and timings are shown.

use std::fmt::Write as _;
use std::time::Duration;

use hyperlight_host::Value;

/// The text printed for a call's result: `None` for `()`, otherwise one line.
/// Strings are printed as they are, bytes as lowercase hex (the form `bytes:hex:`
/// reads back), integers and bools as Rust displays them, floats as Rust debug-prints
/// them (the shortest text that reads back: `1.5`, `1.0`, `1e300`, not 301 digits).
pub fn result_line(value: &Value) -> Option<String> {
    Some(match value {
        Value::Unit => return None,
        Value::String(s) => s.clone(),
        Value::Bytes(b) => to_hex(b),
        Value::I32(v) => v.to_string(),
        Value::U32(v) => v.to_string(),
        Value::I64(v) => v.to_string(),
        Value::U64(v) => v.to_string(),
        Value::F32(v) => format!("{v:?}"),
        Value::F64(v) => format!("{v:?}"),
        Value::Bool(v) => v.to_string(),
    })
}

fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        write!(s, "{b:02x}").expect("writing to a String cannot fail");
    }
    s
}

/// A duration in the unit that suits it: `28.1 us`, `1.234 ms`, `2.500 s`.
pub fn duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos < 1_000_000 {
        format!("{:.1} us", d.as_secs_f64() * 1e6)
    } else if nanos < 1_000_000_000 {
        format!("{:.3} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.3} s", d.as_secs_f64())
    }
}

/// A size in bytes in the largest unit that divides it: `64 KiB`, `1 MiB`, `4097 B`.
pub fn size(bytes: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes != 0 && bytes % (1 << shift) == 0 {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} B")
}

/// The median of `samples` (the mean of the middle two for an even count).
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    let mid = samples.len() / 2;
    match samples.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => samples[mid],
        _ => (samples[mid - 1] + samples[mid]) / 2,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn results() {
        assert_eq!(result_line(&Value::Unit), None);
        assert_eq!(result_line(&Value::String("a b".into())).unwrap(), "a b");
        assert_eq!(result_line(&Value::Bytes(vec![0, 0xab, 0x10])).unwrap(), "00ab10");
        assert_eq!(result_line(&Value::F32(1.5)).unwrap(), "1.5");
        assert_eq!(result_line(&Value::F64(1e300)).unwrap(), "1e300");
        assert_eq!(result_line(&Value::I64(-3)).unwrap(), "-3");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_nanos(28_100)), "28.1 us");
        assert_eq!(duration(Duration::from_micros(1234)), "1.234 ms");
        assert_eq!(duration(Duration::from_millis(2500)), "2.500 s");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(64 << 10), "64 KiB");
        assert_eq!(size(3 << 20), "3 MiB");
        assert_eq!(size(4 << 30), "4 GiB");
        assert_eq!(size(4097), "4097 B");
        assert_eq!(size(0), "0 B");
    }

    #[test]
    fn medians() {
        let ms = Duration::from_millis;
        assert_eq!(median(&mut [ms(3), ms(1), ms(2)]), ms(2));
        assert_eq!(median(&mut [ms(4), ms(1), ms(2), ms(3)]), Duration::from_micros(2500));
        assert_eq!(median(&mut []), Duration::ZERO);
    }
}
