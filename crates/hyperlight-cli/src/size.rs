//! Memory sizes on the command line: `65536`, `64K`, `64KiB`, `1M`, `2GiB`.

/// Parses a size in bytes: a number, optionally followed by `K`, `M` or `G` (or
/// `KiB`, `MiB`, `GiB`), all powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, suffix) = text.split_at(digits_end);
    let expected = "expected a whole number of bytes, optionally with a K, M or G (KiB, MiB, GiB) suffix";
    if digits.is_empty() {
        return Err(expected.to_string());
    }
    let shift = match suffix {
        "" => 0,
        "K" | "k" | "KiB" => 10,
        "M" | "m" | "MiB" => 20,
        "G" | "g" | "GiB" => 30,
        _ => return Err(expected.to_string()),
    };
    let n: u64 = digits.parse().map_err(|e| format!("{e}"))?;
    n.checked_mul(1 << shift).ok_or_else(|| format!("{text} is more than {} bytes", u64::MAX))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("3M"), Ok(3 << 20));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("0"), Ok(0));
    }

    #[test]
    fn bad_sizes_are_refused() {
        for bad in ["", "K", "-1", "1.5M", "1KB", "1T", " 1", "1 K", "99999999999999999999", "17179869184G"] {
            assert!(parse_size(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
