//! The clock: this run's time (set by the tests in debug builds), the
//! sanity check that refuses a clock before 2020, and how times are shown.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::domain::entry::Entry;
use crate::error::{Error, Result};

pub fn unix_now() -> i64 {
    #[cfg(debug_assertions)]
    if let Some(t) = std::env::var("LMGUARD_TEST_NOW")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    {
        // Debug builds only: lets the end-to-end tests set the clock.
        return t;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// 2020-01-01T00:00:00Z: a clock before it is certainly wrong.
const SANE_CLOCK: i64 = 1_577_836_800;

/// The current time, or exit 2 when the system clock is certainly wrong
/// (before 2020): expiries computed from it would be nonsense.
pub(crate) fn checked_now() -> Result<i64> {
    let now = unix_now();
    if now < SANE_CLOCK {
        return Err(Error::usage(format!(
            "the system clock is wrong: it says {}, before 2020; set it (NTP) and run lmguard \
             again — nothing was changed",
            rfc3339(now)
        )));
    }
    Ok(now)
}

/// Entries blocked more than a day after `now`: the clock was fast when
/// they were recorded (their expiry is as far off). One warning line, or
/// `None`.
pub(crate) fn future_blocks_warning(entries: &[Entry], now: i64) -> Option<String> {
    let future: Vec<_> = entries
        .iter()
        .filter(|e| e.blocked_at > now + 86_400)
        .collect();
    let first = future.first()?;
    Some(format!(
        "{} entr{} blocked more than a day in the future (e.g. {} at {}): the clock was fast \
         when they were recorded, so they expire that much later; check NTP, and unblock or \
         re-block them if needed",
        future.len(),
        if future.len() == 1 { "y is" } else { "ies are" },
        first.address,
        rfc3339(first.blocked_at)
    ))
}

/// RFC 3339 UTC, to the second (clamped to the years 1970–9999 that the
/// format can show).
pub fn rfc3339(t: i64) -> String {
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let st = UNIX_EPOCH + Duration::from_secs(t.clamp(0, MAX) as u64);
    humantime::format_rfc3339_seconds(st).to_string()
}

/// `2026-11-24 10:13` (UTC), for tables and messages.
pub(crate) fn short_time(t: i64) -> String {
    let s = rfc3339(t);
    format!("{} {}", &s[..10], &s[11..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(short_time(86_400 + 3_660), "1970-01-02 01:01");
    }
}
