//! Block durations (`90m`, `36h`, `7d`, `2w`, `permanent`) and their display.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// How long a block lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockDuration {
    For(Duration),
    Permanent,
}

impl BlockDuration {
    /// The expiry time (Unix seconds) of a block made at `now`; `None` = never.
    pub(crate) fn expires_at(self, now: i64) -> Option<i64> {
        match self {
            BlockDuration::Permanent => None,
            BlockDuration::For(d) => {
                Some(now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
            }
        }
    }
}

impl FromStr for BlockDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("permanent") {
            return Ok(BlockDuration::Permanent);
        }
        let d = parse_positive(s)?;
        Ok(BlockDuration::For(d))
    }
}

impl fmt::Display for BlockDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockDuration::Permanent => f.write_str("permanent"),
            BlockDuration::For(d) => f.write_str(&format_span(d.as_secs())),
        }
    }
}

impl<'de> Deserialize<'de> for BlockDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The longest duration accepted (100 years); longer is `permanent`.
const MAX: Duration = Duration::from_secs(100 * 365 * 86_400);

/// A positive duration such as `10s`, `90m`, `36h`, `7d`, `2w`.
pub(crate) fn parse_positive(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        let what = match e {
            humantime::DurationError::UnknownUnit { unit, .. } if unit.is_empty() => {
                "a number needs a unit".to_string()
            }
            humantime::DurationError::UnknownUnit { unit, .. } => format!("unknown unit '{unit}'"),
            other => other.to_string(),
        };
        format!(
            "'{s}' is not a duration: {what}; the units are s, m, h, d and w (e.g. 90m, 36h, \
             7d, 2w), or use permanent"
        )
    })?;
    if d.is_zero() {
        return Err(format!("'{s}' is zero; a duration must be positive"));
    }
    if d > MAX {
        return Err(format!(
            "'{s}' is longer than 100 years; use permanent for a block that never expires"
        ));
    }
    Ok(d)
}

/// A `Duration` read from a human string in the config file (`10s`, `30s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_positive(&s)
            .map(HumanDuration)
            .map_err(serde::de::Error::custom)
    }
}

/// A span of seconds in two units at most: `2d 4h`, `5h 3m`, `12m 5s`, `40s`.
pub(crate) fn format_span(secs: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    for (i, (size, name)) in UNITS.iter().enumerate() {
        if secs >= *size {
            let major = secs / size;
            let rest = secs % size;
            return match UNITS.get(i + 1) {
                Some((next, next_name)) if rest / next > 0 => {
                    format!("{major}{name} {}{next_name}", rest / next)
                }
                _ => format!("{major}{name}"),
            };
        }
    }
    "0s".to_string()
}

/// What `list` shows in its "expires in" column.
pub(crate) fn format_expires_in(expires_at: Option<i64>, now: i64) -> String {
    match expires_at {
        None => "never".to_string(),
        Some(t) if t <= now => "expired".to_string(),
        Some(t) => format_span((t - now) as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let secs = |s: &str| match s.parse::<BlockDuration>().unwrap() {
            BlockDuration::For(d) => d.as_secs(),
            BlockDuration::Permanent => u64::MAX,
        };
        assert_eq!(secs("90m"), 5_400);
        assert_eq!(secs("36h"), 129_600);
        assert_eq!(secs("7d"), 604_800);
        assert_eq!(secs("2w"), 1_209_600);
        assert_eq!(secs("75h"), 270_000);
        assert_eq!(secs("permanent"), u64::MAX);
    }

    #[test]
    fn a_missing_or_unknown_unit_names_the_units() {
        for bad in ["36", "3 fortnights", "5x"] {
            let e = parse_positive(bad).unwrap_err();
            assert!(e.contains("the units are s, m, h, d and w"), "{e}");
            assert!(!e.contains("sec or"), "{e}");
        }
        assert!(parse_positive("36").unwrap_err().contains("needs a unit"));
        assert!(parse_positive("5x")
            .unwrap_err()
            .contains("unknown unit 'x'"));
    }

    #[test]
    fn rejects_garbage_and_zero() {
        assert!("soon"
            .parse::<BlockDuration>()
            .unwrap_err()
            .contains("'soon'"));
        assert!("0s".parse::<BlockDuration>().unwrap_err().contains("zero"));
        assert!("-5m".parse::<BlockDuration>().is_err());
        assert!("9000y"
            .parse::<BlockDuration>()
            .unwrap_err()
            .contains("permanent"));
    }

    #[test]
    fn expiry_is_absolute() {
        let d: BlockDuration = "1h".parse().unwrap();
        assert_eq!(d.expires_at(1_000), Some(4_600));
        assert_eq!(BlockDuration::Permanent.expires_at(1_000), None);
    }

    #[test]
    fn spans_use_two_units_at_most() {
        assert_eq!(format_span(2 * 86_400 + 4 * 3_600 + 59), "2d 4h");
        assert_eq!(format_span(3 * 86_400), "3d");
        assert_eq!(format_span(5 * 3_600 + 180), "5h 3m");
        assert_eq!(format_span(59), "59s");
        assert_eq!(format_span(0), "0s");
    }

    #[test]
    fn expires_in_covers_past_and_permanent() {
        assert_eq!(format_expires_in(None, 10), "never");
        assert_eq!(format_expires_in(Some(5), 10), "expired");
        assert_eq!(format_expires_in(Some(100), 10), "1m 30s");
    }
}
