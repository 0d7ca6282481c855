//! Comparing local state with what a LoadMaster list really holds (`sync`).
//!
//! Ownership is decided by [`super::ownership`], the one rule: an entry on
//! the LoadMaster whose comment is not lmguard's is `foreign` — whether or
//! not a local record of the address exists — and is never touched. When
//! the LoadMaster returns no comments at all, only a local record that says
//! lmguard put the entry there makes it lmguard's.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::address::Address;
use super::entry::{Applied, Entry, Scope, Status};
use super::ownership;

/// One entry of a LoadMaster list, canonicalised where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteEntry {
    /// The address exactly as the LoadMaster returned it.
    pub(crate) raw: String,
    /// Canonical form; `None` when the LoadMaster holds something lmguard
    /// cannot parse (then it is certainly not lmguard's).
    pub(crate) address: Option<Address>,
    pub(crate) comment: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// Active locally, absent on the LoadMaster.
    MissingOnLoadmaster,
    /// lmguard's entry, expired or unblocked locally, still present.
    StaleOnLoadmaster,
    /// Carries lmguard's comment prefix but has no local record.
    Orphaned,
    /// Not lmguard's.
    Foreign,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::MissingOnLoadmaster => "missing_on_loadmaster",
            Kind::StaleOnLoadmaster => "stale_on_loadmaster",
            Kind::Orphaned => "orphaned",
            Kind::Foreign => "foreign",
        }
    }
}

/// One difference between local state and a LoadMaster list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Difference {
    pub(crate) scope: Scope,
    /// Canonical where possible, else as the LoadMaster returned it.
    pub(crate) address: String,
    pub(crate) kind: Kind,
    /// The local record, for missing/stale (and foreign entries lmguard
    /// recorded as held by someone else).
    /// Boxed: most differences of a large list have none.
    pub(crate) local: Option<Box<Entry>>,
    pub(crate) remote: Option<RemoteEntry>,
}

/// Pending entries whose operation the LoadMaster list shows done already
/// (or moot: a removal that finds someone else's entry): not differences,
/// but `--apply` records them as done, with what was found.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) differences: Vec<Difference>,
    pub(crate) settled: Vec<(Entry, Applied)>,
}

/// Compare one scope's local entries with its LoadMaster list. Linear in the
/// size of both.
pub(crate) fn compare(
    scope: Scope,
    local: &[&Entry],
    remote: Vec<RemoteEntry>,
    comment_prefix: &str,
    now: i64,
) -> Report {
    let remote_by_address: HashMap<Address, usize> = remote
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((r.address?, i)))
        .collect();
    let mut report = Report {
        // Sized once: doubling would briefly hold a large report twice.
        differences: Vec::with_capacity(remote.len().saturating_sub(local.len()).max(16)),
        settled: Vec::new(),
    };
    let mut known: HashSet<Address> = HashSet::with_capacity(local.len());
    for entry in local {
        let present = remote_by_address.get(&entry.address).map(|&i| &remote[i]);
        let theirs = present
            .filter(|r| !ownership::is_ours(r.comment.as_deref(), comment_prefix, Some(entry)));
        if let Some(r) = theirs {
            // Someone else's entry holds the address: reported as foreign
            // below; a pending operation on it is settled without a call.
            let other = ownership::describe_other(r.comment.as_deref());
            if entry.status.is_pending() {
                report
                    .settled
                    .push(((*entry).clone(), Applied::HeldByOther(other)));
            }
            continue;
        }
        known.insert(entry.address);
        let kind = match (entry.status, present) {
            // A simulated block was never meant to be on the LoadMaster.
            (Status::Active, None) if entry.simulated => None,
            (Status::Active, None) if !entry.is_expired_at(now) => Some(Kind::MissingOnLoadmaster),
            (Status::PendingBlock, None) => Some(Kind::MissingOnLoadmaster),
            (Status::Expired | Status::Unblocked, Some(_)) => Some(Kind::StaleOnLoadmaster),
            (Status::PendingUnblock, Some(_)) => Some(Kind::StaleOnLoadmaster),
            (Status::PendingBlock, Some(_)) | (Status::PendingUnblock, None) => {
                report.settled.push(((*entry).clone(), Applied::Done));
                None
            }
            _ => None,
        };
        if let Some(kind) = kind {
            report.differences.push(Difference {
                scope,
                address: entry.address.to_string(),
                kind,
                local: Some(Box::new((*entry).clone())),
                remote: present.cloned(),
            });
        }
    }
    let local_by_address: HashMap<Address, &Entry> =
        local.iter().map(|e| (e.address, *e)).collect();
    // The rest of the list is moved into the report, not copied.
    for r in remote {
        if r.address.is_some_and(|a| known.contains(&a)) {
            continue;
        }
        // No local record (or it is not lmguard's): the comment decides.
        let ours = ownership::is_ours(r.comment.as_deref(), comment_prefix, None);
        report.differences.push(Difference {
            scope,
            address: r.address.map_or_else(|| r.raw.clone(), |a| a.to_string()),
            kind: if ours { Kind::Orphaned } else { Kind::Foreign },
            local: r
                .address
                .and_then(|a| local_by_address.get(&a).map(|e| Box::new((*e).clone()))),
            remote: Some(r),
        });
    }
    report
        .differences
        .sort_by(|a, b| (a.kind, &a.address).cmp(&(b.kind, &b.address)));
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::entry::{apply_block, complete, Applied, BlockRequest, Call, Claim};

    const CLAIM: Claim = Claim {
        pid: 1,
        started: 0,
        token: 1,
        until: i64::MAX,
    };

    fn entry(addr: &str, status: Status) -> Entry {
        let req = BlockRequest {
            address: addr.parse().unwrap(),
            scope: Scope::Global,
            duration: "1h".parse().unwrap(),
            reason: "test".into(),
            event_id: None,
            priority: None,
        };
        let (e, _) = apply_block(None, &req, 100, CLAIM, &|_| true);
        let mut e = complete(e, &CLAIM, Call::Add, Ok(Applied::Done), 100).unwrap();
        e.status = status;
        e
    }

    fn remote(addr: &str, comment: Option<&str>) -> RemoteEntry {
        RemoteEntry {
            raw: addr.to_string(),
            address: addr.parse().ok(),
            comment: comment.map(str::to_string),
        }
    }

    fn kinds(report: &Report) -> Vec<(String, Kind)> {
        report
            .differences
            .iter()
            .map(|d| (d.address.clone(), d.kind))
            .collect()
    }

    #[test]
    fn every_kind_of_difference() {
        let local = [
            entry("192.0.2.1", Status::Active),    // missing
            entry("192.0.2.2", Status::Expired),   // stale
            entry("192.0.2.3", Status::Active),    // in step
            entry("192.0.2.4", Status::Unblocked), // gone: in step
        ];
        let refs: Vec<&Entry> = local.iter().collect();
        let lm = [
            remote("192.0.2.2", Some("lmguard ADS 1 SCANS")),
            remote("192.0.2.3/32", Some("lmguard manual")),
            remote("192.0.2.5", Some("lmguard ADS 9 SCANS")),
            remote("192.0.2.6", Some("ADS ID 123 - SCANS")),
            remote("not-an-address", None),
        ];
        let report = compare(Scope::Global, &refs, lm.to_vec(), "lmguard", 200);
        assert_eq!(
            kinds(&report),
            [
                ("192.0.2.1".to_string(), Kind::MissingOnLoadmaster),
                ("192.0.2.2".to_string(), Kind::StaleOnLoadmaster),
                ("192.0.2.5".to_string(), Kind::Orphaned),
                ("192.0.2.6".to_string(), Kind::Foreign),
                ("not-an-address".to_string(), Kind::Foreign),
            ]
        );
    }

    #[test]
    fn without_comments_nothing_unknown_is_claimed() {
        let report = compare(
            Scope::Global,
            &[],
            vec![remote("192.0.2.9", None)],
            "lmguard",
            0,
        );
        assert_eq!(kinds(&report), [("192.0.2.9".to_string(), Kind::Foreign)]);
    }

    #[test]
    fn pending_operations_already_done_are_settled_not_reported() {
        let local = [
            entry("192.0.2.1", Status::PendingBlock),
            entry("192.0.2.2", Status::PendingUnblock),
            entry("192.0.2.3", Status::PendingBlock),
        ];
        let refs: Vec<&Entry> = local.iter().collect();
        let lm = [remote("192.0.2.1", Some("lmguard manual"))];
        let report = compare(Scope::Global, &refs, lm.to_vec(), "lmguard", 200);
        assert_eq!(report.settled.len(), 2);
        assert_eq!(
            kinds(&report),
            [("192.0.2.3".to_string(), Kind::MissingOnLoadmaster)]
        );
    }

    #[test]
    fn an_expired_but_unswept_block_is_not_missing() {
        let local = [entry("192.0.2.1", Status::Active)];
        let refs: Vec<&Entry> = local.iter().collect();
        let report = compare(Scope::Global, &refs, vec![], "lmguard", 10_000);
        assert!(report.differences.is_empty());
    }

    #[test]
    fn an_entry_held_by_someone_else_is_foreign_and_never_stale() {
        let mut held = entry("192.0.2.1", Status::Active);
        held.held_by_other = Some("bob".into());
        let mut ended = entry("192.0.2.2", Status::Expired);
        ended.held_by_other = Some("bob".into());
        let local = [held, ended];
        let refs: Vec<&Entry> = local.iter().collect();
        let lm = [
            remote("192.0.2.1", Some("bob")),
            remote("192.0.2.2", Some("bob")),
        ];
        let report = compare(Scope::Global, &refs, lm.to_vec(), "lmguard", 200);
        assert_eq!(
            kinds(&report),
            [
                ("192.0.2.1".to_string(), Kind::Foreign),
                ("192.0.2.2".to_string(), Kind::Foreign)
            ],
            "both LoadMaster entries are bob's"
        );
    }

    #[test]
    fn an_address_readded_by_someone_else_is_theirs_not_stale() {
        let local = [
            entry("192.0.2.1", Status::Expired),
            entry("192.0.2.2", Status::PendingUnblock),
            entry("192.0.2.3", Status::Unblocked),
        ];
        let refs: Vec<&Entry> = local.iter().collect();
        let lm = [
            remote("192.0.2.1", Some("SOC: permanent, do not remove")),
            remote("192.0.2.2/32", Some("lmguard-brno ADS 4")),
            remote("192.0.2.3", Some("lmguard manual")),
        ];
        let report = compare(Scope::Global, &refs, lm.to_vec(), "lmguard", 200);
        assert_eq!(
            kinds(&report),
            [
                ("192.0.2.3".to_string(), Kind::StaleOnLoadmaster),
                ("192.0.2.1".to_string(), Kind::Foreign),
                ("192.0.2.2".to_string(), Kind::Foreign),
            ]
        );
        assert_eq!(report.settled.len(), 1, "the pending removal is moot");
        assert!(matches!(report.settled[0].1, Applied::HeldByOther(_)));
        // Without comments, the local record decides.
        let report = compare(
            Scope::Global,
            &refs,
            vec![remote("192.0.2.1", None)],
            "lmguard",
            200,
        );
        assert_eq!(
            kinds(&report),
            [("192.0.2.1".to_string(), Kind::StaleOnLoadmaster)]
        );
    }

    #[test]
    fn a_simulated_block_is_never_missing() {
        let mut sim = entry("192.0.2.1", Status::Active);
        sim.simulated = true;
        let refs = [&sim];
        let report = compare(Scope::Global, &refs, vec![], "lmguard", 200);
        assert!(report.differences.is_empty());
    }

    #[test]
    fn large_lists_compare_in_linear_time() {
        let local: Vec<Entry> = (0..50_000u32)
            .map(|i| {
                entry(
                    &std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string(),
                    Status::Active,
                )
            })
            .collect();
        let refs: Vec<&Entry> = local.iter().collect();
        let lm: Vec<RemoteEntry> = (0..100_000u32)
            .map(|i| {
                remote(
                    &std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string(),
                    Some("lmguard x"),
                )
            })
            .collect();
        let start = std::time::Instant::now();
        let report = compare(Scope::Global, &refs, lm.to_vec(), "lmguard", 200);
        assert_eq!(report.differences.len(), 50_000);
        assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
    }
}
