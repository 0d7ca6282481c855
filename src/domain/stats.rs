//! The figures of `lmguard stats`, computed from the recorded entries in
//! one pass (no network, no disk).

use std::collections::HashMap;

use super::entry::{Entry, Scope, Status};
use super::severity::Severity;

/// How many days `blocks_per_day` covers, today included.
pub(crate) const DAYS: usize = 28;
/// How many repeat offenders are listed.
pub(crate) const TOP_OFFENDERS: usize = 10;
/// The method of a block that did not come from an event.
pub(crate) const MANUAL: &str = "manual";
/// The ADS method codes Flowmon documents (and `IDS` for IDS events):
/// always their own label in `stats --prometheus`.
pub(crate) const KNOWN_METHODS: [&str; 18] = [
    "SCANS",
    "SSHDICT",
    "RDPDICT",
    "DICTATTACK",
    "BPATTERNS",
    "BLACKLIST",
    "RANDOMDOMAIN",
    "DOS",
    "DDOS",
    "ALIENDEV",
    "OUTSPAM",
    "DNSANOMALY",
    "HIGHTRANSF",
    "UPLOAD",
    "TELNET",
    "SRVNA",
    "IDS",
    MANUAL,
];
/// How many other method codes (custom ones, or noise) get their own
/// label in `stats --prometheus`, the most frequent first.
pub(crate) const OTHER_METHOD_LABELS: usize = 20;
/// The label of every method beyond those.
pub(crate) const OTHER_METHOD: &str = "other";

/// The method labels `stats --prometheus` uses, from the blocks per method
/// of every LoadMaster: the known methods, and the [`OTHER_METHOD_LABELS`]
/// most frequent others (ties by name). Each label is a time series to a
/// monitoring system: thousands of made-up codes must not become
/// thousands of series.
pub(crate) fn method_labels<'a>(
    by_method: impl IntoIterator<Item = &'a (String, u64)>,
) -> std::collections::HashSet<String> {
    let mut others: HashMap<&str, u64> = HashMap::new();
    for (m, n) in by_method {
        if !KNOWN_METHODS.contains(&m.as_str()) {
            *others.entry(m.as_str()).or_default() += n;
        }
    }
    let mut others: Vec<(&str, u64)> = others.into_iter().collect();
    others.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    KNOWN_METHODS
        .iter()
        .copied()
        .chain(others.into_iter().take(OTHER_METHOD_LABELS).map(|(m, _)| m))
        .map(str::to_string)
        .collect()
}

/// `by_method` with every method outside `labels` summed as
/// [`OTHER_METHOD`], in the same order (most first).
pub(crate) fn bounded_methods(
    by_method: &[(String, u64)],
    labels: &std::collections::HashSet<String>,
) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    let mut other = 0;
    for (m, n) in by_method {
        if labels.contains(m) {
            out.push((m.clone(), *n));
        } else {
            other += n;
        }
    }
    if other > 0 {
        match out.iter_mut().find(|(m, _)| m == OTHER_METHOD) {
            Some((_, n)) => *n += other,
            None => out.push((OTHER_METHOD.to_string(), other)),
        }
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
    out
}

/// The priority of a block that came without one.
pub(crate) const NO_PRIORITY: &str = "none";

/// Every status, in the order they are shown.
pub(crate) const STATUSES: [Status; 6] = [
    Status::Active,
    Status::PendingBlock,
    Status::PendingUnblock,
    Status::Expired,
    Status::Unblocked,
    Status::Rejected,
];

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stats {
    /// Records per status, in [`STATUSES`] order.
    pub(crate) by_status: [u64; STATUSES.len()],
    /// Active records that were only simulated (counted in `by_status` too).
    pub(crate) simulated: u64,
    /// Blocks (each record's `times_blocked`) per method, most first.
    pub(crate) by_method: Vec<(String, u64)>,
    /// Blocks per priority, highest priority first, then [`NO_PRIORITY`].
    pub(crate) by_priority: Vec<(&'static str, u64)>,
    /// Blocks that began on each of the last [`DAYS`] days (UTC), oldest
    /// first: `(day start, count)`. Only a record's latest block has a date.
    pub(crate) per_day: Vec<(i64, u64)>,
    /// Records blocked more than once, most blocks first.
    pub(crate) offenders: Vec<Offender>,
    pub(crate) oldest_pending: Option<Pending>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Offender {
    pub(crate) address: String,
    pub(crate) scope: Scope,
    pub(crate) times_blocked: u32,
    pub(crate) status: Status,
    pub(crate) blocked_at: i64,
    pub(crate) reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pending {
    pub(crate) address: String,
    pub(crate) scope: Scope,
    pub(crate) status: Status,
    /// Since when it has been pending.
    pub(crate) since: i64,
    pub(crate) last_error: Option<String>,
}

/// The place of a status in [`STATUSES`]; exhaustive, so that a new status
/// cannot be counted as another one by mistake.
fn status_index(s: Status) -> usize {
    match s {
        Status::Active => 0,
        Status::PendingBlock => 1,
        Status::PendingUnblock => 2,
        Status::Expired => 3,
        Status::Unblocked => 4,
        Status::Rejected => 5,
    }
}

/// The start (00:00 UTC) of the day of `t`.
pub(crate) fn day_start(t: i64) -> i64 {
    t - t.rem_euclid(86_400)
}

impl Stats {
    /// The figures of `entries` at `now`; `pending_since` tells since when
    /// a pending entry has been pending (its last change when it cannot).
    pub(crate) fn compute<'e>(
        entries: impl IntoIterator<Item = &'e Entry>,
        pending_since: &dyn Fn(&Entry) -> Option<i64>,
        now: i64,
    ) -> Stats {
        let mut by_status = [0u64; STATUSES.len()];
        let mut simulated = 0;
        let mut methods: HashMap<&str, u64> = HashMap::new();
        let mut priorities = [0u64; 6]; // Severity::ALL order, then none
        let today = day_start(now);
        let first_day = today - (DAYS as i64 - 1) * 86_400;
        let mut per_day = [0u64; DAYS];
        let mut offenders: Vec<&Entry> = Vec::new();
        let mut oldest: Option<(&Entry, i64)> = None;
        for e in entries {
            by_status[status_index(e.status)] += 1;
            if e.simulated && e.status == Status::Active {
                simulated += 1;
            }
            let blocks = u64::from(e.times_blocked.max(1));
            *methods.entry(e.method().unwrap_or(MANUAL)).or_default() += blocks;
            let p = e.priority.map_or(5, |p| p as usize);
            priorities[p] += blocks;
            if e.blocked_at >= first_day && e.blocked_at < today + 86_400 {
                per_day[((e.blocked_at - first_day) / 86_400) as usize] += 1;
            }
            if e.times_blocked > 1 {
                offenders.push(e);
            }
            if e.status.is_pending() {
                let since = pending_since(e).unwrap_or(e.updated_at);
                if oldest.is_none_or(|(_, t)| since < t) {
                    oldest = Some((e, since));
                }
            }
        }
        let mut by_method: Vec<(String, u64)> = methods
            .into_iter()
            .map(|(m, n)| (m.to_string(), n))
            .collect();
        by_method.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let by_priority = Severity::ALL
            .iter()
            .rev()
            .map(|s| (s.as_str(), priorities[*s as usize]))
            .chain([(NO_PRIORITY, priorities[5])])
            .collect();
        offenders.sort_by(|a, b| {
            b.times_blocked
                .cmp(&a.times_blocked)
                .then(b.blocked_at.cmp(&a.blocked_at))
        });
        Stats {
            by_status,
            simulated,
            by_method,
            by_priority,
            per_day: (0..DAYS)
                .map(|i| (first_day + i as i64 * 86_400, per_day[i]))
                .collect(),
            offenders: offenders
                .into_iter()
                .take(TOP_OFFENDERS)
                .map(|e| Offender {
                    address: e.address.to_string(),
                    scope: e.scope,
                    times_blocked: e.times_blocked,
                    status: e.status,
                    blocked_at: e.blocked_at,
                    reason: e.reason.clone(),
                })
                .collect(),
            oldest_pending: oldest.map(|(e, since)| Pending {
                address: e.address.to_string(),
                scope: e.scope,
                status: e.status,
                since,
                last_error: e.last_error.clone(),
            }),
        }
    }

    pub(crate) fn count(&self, status: Status) -> u64 {
        self.by_status[status_index(status)]
    }

    pub(crate) fn total(&self) -> u64 {
        self.by_status.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::entry::testing::{pending, request};

    fn entry(addr: &str, event: Option<&str>, reason: &str, at: i64) -> Entry {
        let mut req = request(addr, reason);
        req.event_id = event.map(str::to_string);
        req.priority = event.map(|_| Severity::High);
        pending(&req, at)
    }

    #[test]
    fn every_status_has_its_own_place() {
        for (i, s) in STATUSES.iter().enumerate() {
            assert_eq!(status_index(*s), i);
        }
    }

    #[test]
    fn figures_of_a_small_state() {
        let now = 100 * 86_400 + 3_600;
        let mut a = entry("192.0.2.1", Some("1"), "SSHDICT SSH attack", now - 60);
        a.status = Status::Active;
        a.times_blocked = 3;
        let b = entry("192.0.2.2", None, "by hand", now - 40 * 86_400); // pending, old
        let mut c = entry("192.0.2.3", Some("2"), "SCANS: ports", now - 86_400);
        c.status = Status::Expired;
        let mut d = entry("192.0.2.4", None, "by hand", now - 50 * 86_400);
        d.status = Status::Rejected;
        let s = Stats::compute([&a, &b, &c, &d], &|_| None, now);
        let earlier = Stats::compute([&a, &b, &c, &d], &|_| Some(5), now);
        assert_eq!(earlier.oldest_pending.unwrap().since, 5);
        assert_eq!(s.by_status, [1, 1, 0, 1, 0, 1]);
        assert_eq!(s.count(Status::Rejected), 1);
        assert_eq!(s.total(), 4);
        assert_eq!(
            s.by_method,
            [
                ("SSHDICT".to_string(), 3),
                ("manual".into(), 2),
                ("SCANS".into(), 1)
            ]
        );
        assert_eq!(s.by_priority[1], ("high", 4));
        assert_eq!(s.by_priority[5], ("none", 2));
        assert_eq!(s.per_day.len(), DAYS);
        assert_eq!(s.per_day[DAYS - 1], (100 * 86_400, 1));
        assert_eq!(s.per_day[DAYS - 2].1, 1);
        assert_eq!(s.per_day.iter().map(|d| d.1).sum::<u64>(), 2, "b is older");
        assert_eq!(s.offenders.len(), 1);
        assert_eq!(s.offenders[0].address, "192.0.2.1");
        assert_eq!(s.oldest_pending.unwrap().address, "192.0.2.2");
    }
}
