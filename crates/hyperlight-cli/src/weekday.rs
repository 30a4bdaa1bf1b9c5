//! The `GetWeekday` host function the CLI gives every guest.

use std::time::{SystemTime, UNIX_EPOCH};

const NAMES: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// Today's weekday in UTC, from the system clock (e.g. `"Monday"`).
pub fn today() -> String {
    let secs = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => i128::from(after.as_secs()),
        Err(before) => -i128::from(before.duration().as_secs()),
    };
    weekday(secs.div_euclid(86_400)).to_string()
}

/// The weekday of the day `days` after 1970-01-01 (a Thursday).
fn weekday(days: i128) -> &'static str {
    let index = usize::try_from((days + 4).rem_euclid(7)).expect("rem_euclid(7) is in 0..7");
    NAMES[index]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::weekday;

    #[test]
    fn known_days() {
        assert_eq!(weekday(0), "Thursday"); // 1970-01-01
        assert_eq!(weekday(-1), "Wednesday"); // 1969-12-31
        assert_eq!(weekday(19_723), "Monday"); // 2024-01-01
    }
}
