//! Event priorities, for `[ads] min_severity`.

/// ADS priority, lowest to highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Information,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// An ADS priority word, case-insensitive (`Critical`, `high`, `Info`…).
    pub fn parse(s: &str) -> Option<Severity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" => Some(Severity::Critical),
            "high" => Some(Severity::High),
            "medium" => Some(Severity::Medium),
            "low" => Some(Severity::Low),
            "information" | "informational" | "info" => Some(Severity::Information),
            _ => None,
        }
    }

    /// An IDS (Suricata-style) number: 1 is the highest.
    pub fn from_ids_number(s: &str) -> Option<Severity> {
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
    fn ids_numbers_run_from_high_to_low() {
        assert_eq!(Severity::from_ids_number("1"), Some(Severity::Critical));
        assert_eq!(Severity::from_ids_number("3"), Some(Severity::Medium));
        assert_eq!(Severity::from_ids_number("9"), None);
    }
}
