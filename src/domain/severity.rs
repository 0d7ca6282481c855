//! Event priorities, for `[ads] min_severity` and the blocks' records.

use serde::{Deserialize, Serialize};

/// ADS priority, lowest to highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Information,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every priority, lowest first.
    pub(crate) const ALL: [Severity; 5] = [
        Severity::Information,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Information => "information",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// An ADS priority word, case-insensitive (`Critical`, `high`, `Info`…).
    pub(crate) fn parse(s: &str) -> Option<Severity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" => Some(Severity::Critical),
            "high" => Some(Severity::High),
            "medium" => Some(Severity::Medium),
            "low" => Some(Severity::Low),
            "information" | "informational" | "info" => Some(Severity::Information),
            _ => None,
        }
    }

    /// A CEF severity (`0`–`10`) as ADS uses it: 10 critical, 8 high,
    /// 6 medium, 4 low, 2 information; a value in between rounds down to the
    /// level below (9 is high, 1 and 0 information). Newer CEF words (`Low`,
    /// `Medium`, `High`, `Very-High`) are accepted too.
    pub(crate) fn from_cef(s: &str) -> Option<Severity> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u8>() {
            return match n {
                10 => Some(Severity::Critical),
                8..=9 => Some(Severity::High),
                6..=7 => Some(Severity::Medium),
                4..=5 => Some(Severity::Low),
                0..=3 => Some(Severity::Information),
                _ => None,
            };
        }
        match s.to_ascii_lowercase().as_str() {
            "very-high" | "very high" => Some(Severity::Critical),
            _ => Severity::parse(s),
        }
    }

    /// The ADS word for this priority (`Critical`…), as [`Severity::parse`]
    /// reads it back.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Severity::Information => "Information",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }

    /// An IDS (Suricata-style) number: 1 is the highest.
    pub(crate) fn from_ids_number(s: &str) -> Option<Severity> {
        match s.trim() {
            "1" => Some(Severity::Critical),
            "2" => Some(Severity::High),
            "3" => Some(Severity::Medium),
            "4" => Some(Severity::Low),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_case_insensitive_and_ordered() {
        assert_eq!(Severity::parse("CRITICAL"), Some(Severity::Critical));
        assert_eq!(Severity::parse("Information"), Some(Severity::Information));
        assert!(Severity::parse("High").unwrap() > Severity::parse("medium").unwrap());
        assert_eq!(Severity::parse("urgent"), None);
    }

    #[test]
    fn cef_severities_round_down_to_the_ads_level() {
        let level = |s: &str| Severity::from_cef(s).map(Severity::name);
        for (cef, ads) in [
            ("10", "Critical"),
            ("9", "High"),
            ("8", "High"),
            ("7", "Medium"),
            ("6", "Medium"),
            ("5", "Low"),
            ("4", "Low"),
            ("3", "Information"),
            ("2", "Information"),
            ("0", "Information"),
            ("Very-High", "Critical"),
            ("medium", "Medium"),
        ] {
            assert_eq!(level(cef), Some(ads), "{cef}");
            assert_eq!(Severity::parse(ads).map(Severity::name), Some(ads));
        }
        assert_eq!(level("11"), None);
        assert_eq!(level("-1"), None);
        assert_eq!(level("urgent"), None);
    }

    #[test]
    fn ids_numbers_run_from_high_to_low() {
        assert_eq!(Severity::from_ids_number("1"), Some(Severity::Critical));
        assert_eq!(Severity::from_ids_number("3"), Some(Severity::Medium));
        assert_eq!(Severity::from_ids_number("9"), None);
    }
}
