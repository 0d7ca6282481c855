//! Which recorded blocks a filter selects: by ADS method, by how recently
//! they were blocked, by a piece of their reason, by scope. One definition
//! for `list --method/--since` and bulk `unblock`, so that what `list`
//! shows is exactly what `unblock` with the same filters removes.

use std::fmt;
use std::time::Duration;

use super::entry::{Entry, Scope};

/// The filters of `list` and bulk `unblock`. An empty filter selects
/// everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// ADS method codes (any of them), upper case.
    pub(crate) methods: Vec<String>,
    /// Blocked within this long before now.
    pub(crate) since: Option<Duration>,
    /// A piece of the reason, compared without regard to case.
    pub(crate) reason: Option<String>,
    /// Only this scope.
    pub(crate) scope: Option<Scope>,
}

impl Filter {
    pub(crate) fn new(
        methods: &[String],
        since: Option<Duration>,
        reason: Option<&str>,
        scope: Option<Scope>,
    ) -> Filter {
        let mut methods: Vec<String> = methods
            .iter()
            .map(|m| m.trim().to_ascii_uppercase())
            .filter(|m| !m.is_empty())
            .collect();
        methods.dedup();
        Filter {
            methods,
            since,
            reason: reason.map(str::to_lowercase).filter(|r| !r.is_empty()),
            scope,
        }
    }

    /// Whether it narrows by what was blocked (method, time, reason), not
    /// only by scope: what bulk `unblock` requires, so that `--vs` alone
    /// cannot empty a whole list.
    pub(crate) fn narrows(&self) -> bool {
        !self.methods.is_empty() || self.since.is_some() || self.reason.is_some()
    }

    /// Does `entry` match every filter given, at `now`? The `--since`
    /// boundary is inclusive: a block made exactly `since` ago matches.
    pub(crate) fn matches(&self, entry: &Entry, now: i64) -> bool {
        self.scope.is_none_or(|s| entry.scope == s)
            && (self.methods.is_empty()
                || self
                    .methods
                    .iter()
                    .any(|m| entry.method().is_some_and(|e| m.eq_ignore_ascii_case(e))))
            && self.since.is_none_or(|d| {
                entry.blocked_at
                    >= now.saturating_sub(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            })
            && self
                .reason
                .as_ref()
                .is_none_or(|r| entry.reason.to_lowercase().contains(r))
    }
}

/// `--method SCANS --since 2h --reason "backup" --vs 3`, for messages.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for m in &self.methods {
            parts.push(format!("--method {m}"));
        }
        if let Some(d) = self.since {
            parts.push(format!(
                "--since {}",
                super::duration::BlockDuration::For(d)
            ));
        }
        if let Some(r) = &self.reason {
            parts.push(format!("--reason {r:?}"));
        }
        if let Some(s) = self.scope {
            parts.push(match s {
                Scope::Global => "the global list".to_string(),
                Scope::Vs(n) => format!("--vs {n}"),
            });
        }
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::entry::method_of_reason;
    use crate::domain::entry::testing::{pending, request};

    fn entry(reason: &str, scope: Scope, blocked_at: i64) -> Entry {
        let mut req = request("192.0.2.7", reason);
        req.scope = scope;
        req.duration = "1d".parse().unwrap();
        req.event_id = Some("1".into());
        pending(&req, blocked_at)
    }

    fn methods(m: &[&str]) -> Filter {
        let m: Vec<String> = m.iter().map(|s| s.to_string()).collect();
        Filter::new(&m, None, None, None)
    }

    #[test]
    fn methods_match_the_first_word_of_the_reason_in_any_case() {
        let e = entry("SSHDICT SSH attack", Scope::Global, 0);
        assert!(methods(&["sshdict"]).matches(&e, 0));
        assert!(methods(&["SCANS", "SSHDICT"]).matches(&e, 0));
        assert!(!methods(&["SCANS"]).matches(&e, 0));
        // Not a substring: SSH is not SSHDICT.
        assert!(!methods(&["SSH"]).matches(&e, 0));
        assert_eq!(method_of_reason("IDS: ET SCAN Nmap"), "IDS");
        assert_eq!(
            method_of_reason("allowlisted (was: SCANS Port scan)"),
            "SCANS"
        );
        assert_eq!(method_of_reason(""), "");
        // A manual block has no method, whatever its reason begins with.
        let mut manual = entry("SCANS by hand", Scope::Global, 0);
        manual.event_id = None;
        assert!(!methods(&["SCANS"]).matches(&manual, 0));
    }

    #[test]
    fn since_is_inclusive_at_its_boundary() {
        let now = 100_000;
        let f = Filter::new(&[], Some(Duration::from_secs(7_200)), None, None);
        assert!(f.matches(&entry("X", Scope::Global, now - 7_200), now));
        assert!(!f.matches(&entry("X", Scope::Global, now - 7_201), now));
        assert!(f.matches(&entry("X", Scope::Global, now), now));
    }

    #[test]
    fn reason_is_a_case_insensitive_substring_and_filters_combine() {
        let e = entry("SCANS Port scanning from backup job", Scope::Vs(3), 50);
        let f = Filter::new(&[], None, Some("BACKUP"), None);
        assert!(f.matches(&e, 60));
        let f = Filter::new(&["SCANS".into()], None, Some("backup"), Some(Scope::Vs(4)));
        assert!(!f.matches(&e, 60), "the scope must match too");
        assert!(!Filter::new(&[], None, None, Some(Scope::Vs(3))).narrows());
        assert!(Filter::new(&[], None, Some("x"), None).narrows());
        assert!(Filter::default().matches(&e, 60));
    }

    #[test]
    fn it_describes_itself_as_options() {
        let f = Filter::new(
            &["scans".into()],
            Some(Duration::from_secs(7_200)),
            None,
            Some(Scope::Vs(3)),
        );
        assert_eq!(f.to_string(), "--method SCANS --since 2h --vs 3");
    }
}
