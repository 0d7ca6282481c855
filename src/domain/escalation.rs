//! Repeat offenders: longer blocks for an address blocked again after an
//! earlier block of it expired.
//!
//! For the `n`-th repeat (`n` earlier blocks of this address in this scope,
//! the last one ended by expiry) the duration in effect — `[block]
//! duration` or `--duration` — becomes
//!
//! ```text
//! d = min(base × factor^n, max(cap, base)) × (1 − u),  u uniform in [0, jitter]
//! d = max(d, base)
//! ```
//!
//! so it is never shorter than asked, never longer than the cap (unless the
//! base itself is), and its exact end cannot be predicted. `permanent`
//! stays permanent. Re-blocking an address that is still active only
//! extends it (see `entry::apply_block`), and a block that was lifted by
//! hand (`unblock`, a false positive) does not make the next one longer.

use std::time::Duration;

use super::duration::BlockDuration;
use super::entry::{Entry, Status};

/// The longest escalated block (the same bound `--duration` has).
const MAX_SECS: f64 = 100.0 * 365.0 * 86_400.0;

/// `[block] escalation_factor`, `escalation_cap`, `escalation_jitter`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Escalation {
    /// ≥ 1; 1 turns escalation off.
    pub(crate) factor: f64,
    /// `None`: no cap (`permanent`).
    pub(crate) cap: Option<Duration>,
    /// A fraction in [0, 1).
    pub(crate) jitter: f64,
}

impl Default for Escalation {
    /// The documented defaults: ×2 per earlier block, at most 30 days, up
    /// to 10% taken off at random.
    fn default() -> Self {
        Escalation {
            factor: 2.0,
            cap: Some(Duration::from_secs(30 * 86_400)),
            jitter: 0.10,
        }
    }
}

/// How many earlier blocks make this one longer: the earlier blocks of an
/// address whose last block expired; none otherwise.
pub(crate) fn repeats(existing: Option<&Entry>) -> u32 {
    match existing {
        Some(e) if e.status == Status::Expired => e.times_blocked,
        _ => 0,
    }
}

impl Escalation {
    /// The duration of a block after `repeats` earlier ones. `unit` is a
    /// random number in [0, 1) that decides the jitter.
    pub(crate) fn apply(&self, base: BlockDuration, repeats: u32, unit: f64) -> BlockDuration {
        let BlockDuration::For(base) = base else {
            return BlockDuration::Permanent;
        };
        if repeats == 0 || self.factor <= 1.0 {
            return BlockDuration::For(base);
        }
        let base_secs = base.as_secs_f64();
        let exponent = i32::try_from(repeats).unwrap_or(i32::MAX);
        let grown = base_secs * self.factor.powi(exponent);
        let cap = self
            .cap
            .map_or(MAX_SECS, |c| c.as_secs_f64().min(MAX_SECS))
            .max(base_secs);
        let capped = if grown.is_finite() {
            grown.min(cap)
        } else {
            cap
        };
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let jittered = capped * (1.0 - self.jitter.clamp(0.0, 1.0) * unit);
        let secs = jittered.max(base_secs).round();
        BlockDuration::For(Duration::from_secs(secs as u64))
    }
}

/// Parse `escalation_jitter`: a percentage from `0%` to `50%`.
pub(crate) fn parse_jitter(text: &str) -> Result<f64, String> {
    let bad = || format!("'{text}' is not a percentage from 0% to 50% (e.g. \"10%\")");
    let number = text.trim().strip_suffix('%').ok_or_else(bad)?.trim();
    let value: f64 = number.parse().map_err(|_| bad())?;
    if !(0.0..=50.0).contains(&value) {
        return Err(bad());
    }
    Ok(value / 100.0)
}

/// A random number in [0, 1) from the standard library's randomly seeded
/// hasher (no extra dependency; it only needs to be unpredictable to an
/// attacker watching when blocks end, not cryptographically strong).
pub(crate) fn random_unit() -> f64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let bits = RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> BlockDuration {
        s.parse().unwrap()
    }

    fn secs(b: BlockDuration) -> u64 {
        match b {
            BlockDuration::For(d) => d.as_secs(),
            BlockDuration::Permanent => u64::MAX,
        }
    }

    const NO_JITTER: Escalation = Escalation {
        factor: 2.0,
        cap: Some(Duration::from_secs(30 * 86_400)),
        jitter: 0.0,
    };

    #[test]
    fn each_earlier_block_multiplies_the_duration() {
        assert_eq!(secs(NO_JITTER.apply(d("1h"), 0, 0.5)), 3_600);
        assert_eq!(secs(NO_JITTER.apply(d("1h"), 1, 0.5)), 7_200);
        assert_eq!(secs(NO_JITTER.apply(d("1h"), 2, 0.5)), 14_400);
        assert_eq!(secs(NO_JITTER.apply(d("1h"), 3, 0.5)), 28_800);
    }

    #[test]
    fn the_cap_bounds_it_but_never_shortens_the_base() {
        assert_eq!(secs(NO_JITTER.apply(d("1d"), 10, 0.0)), 30 * 86_400);
        assert_eq!(secs(NO_JITTER.apply(d("1d"), u32::MAX, 0.0)), 30 * 86_400);
        assert_eq!(secs(NO_JITTER.apply(d("60d"), 3, 0.0)), 60 * 86_400);
        let uncapped = Escalation {
            cap: None,
            ..NO_JITTER
        };
        assert_eq!(
            secs(uncapped.apply(d("1d"), u32::MAX, 0.0)),
            MAX_SECS as u64
        );
    }

    #[test]
    fn permanent_stays_permanent_and_factor_one_is_off() {
        assert_eq!(
            NO_JITTER.apply(BlockDuration::Permanent, 5, 0.3),
            BlockDuration::Permanent
        );
        let off = Escalation {
            factor: 1.0,
            ..Escalation::default()
        };
        assert_eq!(secs(off.apply(d("1h"), 5, 0.9)), 3_600);
    }

    #[test]
    fn jitter_takes_off_up_to_its_fraction_and_never_below_the_base() {
        let e = Escalation::default();
        assert_eq!(secs(e.apply(d("10h"), 1, 0.0)), 72_000);
        assert_eq!(secs(e.apply(d("10h"), 1, 0.5)), 68_400);
        assert_eq!(secs(e.apply(d("10h"), 1, 0.999_999)), 64_800);
        for i in 0..1000 {
            let u = f64::from(i) / 1000.0;
            let s = secs(e.apply(d("10h"), 1, u));
            assert!((64_800..=72_000).contains(&s), "{u}: {s}");
        }
        // At the cap, the jitter still varies the end.
        let near_cap = secs(e.apply(d("20d"), 1, 0.5));
        assert!((20 * 86_400..30 * 86_400).contains(&near_cap), "{near_cap}");
        // Never below what was asked for.
        assert_eq!(secs(e.apply(d("29d"), 1, 0.999)), 29 * 86_400);
    }

    #[test]
    fn only_an_expired_earlier_block_counts() {
        use crate::domain::entry::testing::{pending, request};
        let mut e = pending(&request("192.0.2.7", "x"), 0);
        assert_eq!(repeats(Some(&e)), 0, "pending");
        e.status = Status::Active;
        assert_eq!(repeats(Some(&e)), 0, "active: only extended");
        e.status = Status::Unblocked;
        assert_eq!(repeats(Some(&e)), 0, "lifted by hand");
        e.status = Status::Expired;
        e.times_blocked = 3;
        assert_eq!(repeats(Some(&e)), 3);
        assert_eq!(repeats(None), 0);
    }

    #[test]
    fn jitter_is_a_percentage() {
        assert_eq!(parse_jitter("10%").unwrap(), 0.10);
        assert_eq!(parse_jitter("0%").unwrap(), 0.0);
        assert_eq!(parse_jitter(" 12.5 % ").unwrap(), 0.125);
        assert!(parse_jitter("10").is_err());
        assert!(parse_jitter("60%").is_err());
        assert!(parse_jitter("-1%").is_err());
        assert!(parse_jitter("x%").unwrap_err().contains("'x%'"));
    }

    #[test]
    fn random_units_are_in_range_and_vary() {
        let draws: Vec<f64> = (0..100).map(|_| random_unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(draws.iter().any(|u| (u - draws[0]).abs() > 1e-9));
    }
}
