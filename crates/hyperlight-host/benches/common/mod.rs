//! What both benchmark binaries need: the built guests, the raw KVM figures of
//! `../shared/tools/kvm-limits` from the same run, and criterion's medians.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

/// The bytes of the built guest `name` (`cargo xtask guests`).
pub fn guest(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("HYPERLIGHT_GUESTS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../guests/target/x86_64-unknown-none/release")
    });
    let path = dir.join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask guests` first", path.display()))
}

#[allow(dead_code)] // each bench binary uses part of this module
/// kvm-limits medians of the test groups `tests` (its TESTS variable), in us, by
/// whitespace-normalised row name. `None` when `KVM_LIMITS=off` or the tool fails
/// (`KVM_LIMITS` may also name another copy of the script).
pub fn raw_limits(tests: &str) -> Option<BTreeMap<String, f64>> {
    let script = match std::env::var("KVM_LIMITS") {
        Ok(s) if s == "off" => return None,
        Ok(s) => PathBuf::from(s),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/kvm-limits"),
    };
    let out = Command::new(&script).arg("--medians").env("QUICK", "1").env("TESTS", tests).output();
    let out = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            eprintln!("kvm-limits failed ({}): {}", o.status, String::from_utf8_lossy(&o.stderr));
            return None;
        }
        Err(e) => {
            eprintln!("kvm-limits not run ({}): {e}", script.display());
            return None;
        }
    };
    let rows = out.lines().filter_map(|l| {
        let mut cols = l.split('\t');
        let (_group, name, median) = (cols.next()?, cols.next()?, cols.next()?);
        Some((name.split_whitespace().collect::<Vec<_>>().join(" "), median.trim().parse().ok()?))
    });
    Some(rows.collect())
}

/// The first raw row whose name contains `needle`.
#[allow(dead_code)] // each bench binary uses part of this module
pub fn raw_row(raw: &BTreeMap<String, f64>, needle: &str) -> Option<f64> {
    raw.iter().find(|(name, _)| name.contains(needle)).map(|(_, v)| *v)
}

/// Criterion's median estimate for a benchmark id, in us, if it ran in this process
/// (its estimate file is newer than `since`).
pub fn median_us(id: &str, since: SystemTime) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("criterion").join(id).join("new/estimates.json");
    if std::fs::metadata(&path).and_then(|m| m.modified()).ok()? < since {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    Some(v["median"]["point_estimate"].as_f64()? / 1000.0)
}
