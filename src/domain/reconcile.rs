//! Comparing local state with what a LoadMaster list really holds (`sync`).
//!
//! Ownership is decided by [`super::ownership`], the one rule: an entry on
//! the LoadMaster whose comment is not lmguard's is `foreign` — whether or
//! not a local record of the address exists — and is never touched. When
//! the LoadMaster returns no comments at all, only a local record that says
//! lmguard put the entry there makes it lmguard's.

use ipnet::IpNet;
use serde::Serialize;

use super::address::Address;
use super::entry::{Applied, Entry, Scope, Status};
use super::loadmaster_name::LoadMasterName;
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
    /// The LoadMaster whose list differs (set by the caller, which knows
    /// whose list it compared).
    pub(crate) loadmaster: LoadMasterName,
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

/// An address as two integers, equal exactly when the addresses are: its
/// bits, and the family and prefix length (cheaper to sort and search by
/// than the address itself).
type SortKey = (u128, u16);

fn sort_key(address: &Address) -> SortKey {
    match address.network() {
        IpNet::V4(n) => (u128::from(u32::from(n.addr())), u16::from(n.prefix_len())),
        IpNet::V6(n) => (u128::from(n.addr()), 0x100 | u16::from(n.prefix_len())),
    }
}

/// One scope's local entries sorted by address, as positions in the order
/// they were given. Built apart from [`compare_indexed`] so that `sync` can
/// build it while the list is still being fetched.
#[derive(Debug, Default)]
pub(crate) struct LocalIndex {
    sorted: Vec<(SortKey, u32)>,
}

impl LocalIndex {
    pub(crate) fn new<'a>(local: impl IntoIterator<Item = &'a Entry>) -> LocalIndex {
        let mut sorted: Vec<(SortKey, u32)> = local
            .into_iter()
            .enumerate()
            .map(|(j, e)| (sort_key(&e.address), j as u32))
            .collect();
        sorted.sort_unstable();
        LocalIndex { sorted }
    }

    fn len(&self) -> usize {
        self.sorted.len()
    }

    /// The position of the local entry of `address`.
    fn find(&self, address: &Address) -> Option<usize> {
        let key = sort_key(address);
        let at = self.sorted.partition_point(|(k, _)| *k < key);
        match self.sorted.get(at) {
            Some(&(k, j)) if k == key => Some(j as usize),
            _ => None,
        }
    }
}

/// Compare one scope's local entries with its LoadMaster list, in
/// O(n log n): the local addresses are sorted once and each list entry is
/// found among them by binary search. No hash map: a keyed hasher (SipHash)
/// cost a quarter of a large sync, and an unkeyed one would let a hostile
/// list degrade it.
pub(crate) fn compare(
    scope: Scope,
    local: &[&Entry],
    remote: Vec<RemoteEntry>,
    comment_prefix: &str,
    now: i64,
) -> Report {
    let index = LocalIndex::new(local.iter().copied());
    compare_indexed(scope, local, &index, remote, comment_prefix, now)
}

/// [`compare`] with the local entries' index built already (from exactly
/// `local`, in this order).
pub(crate) fn compare_indexed(
    scope: Scope,
    local: &[&Entry],
    index: &LocalIndex,
    remote: Vec<RemoteEntry>,
    comment_prefix: &str,
    now: i64,
) -> Report {
    assert_eq!(index.len(), local.len(), "an index of other entries");
    // Which list entry each local entry meets (the last of several: the
    // list's last word on that address), and which local entry each list
    // entry meets.
    let mut remote_of: Vec<Option<usize>> = vec![None; local.len()];
    let mut local_of: Vec<Option<usize>> = vec![None; remote.len()];
    for (i, r) in remote.iter().enumerate() {
        if let Some(j) = r.address.and_then(|a| index.find(&a)) {
            remote_of[j] = Some(i);
            local_of[i] = Some(j);
        }
    }
    let mut report = Report {
        // Sized once: doubling would briefly hold a large report twice.
        differences: Vec::with_capacity(remote.len().saturating_sub(local.len()).max(16)),
        settled: Vec::new(),
    };
    // Local entries that account for their list entries (lmguard's,
    // compared here); the rest of the list is reported below.
    let mut known = vec![false; local.len()];
    for (j, &entry) in local.iter().enumerate() {
        let present = remote_of[j].map(|i| &remote[i]);
        let theirs = present
            .filter(|r| !ownership::is_ours(r.comment.as_deref(), comment_prefix, Some(entry)));
        if let Some(r) = theirs {
            // Someone else's entry holds the address: reported as foreign
            // below; a pending operation on it is settled without a call.
            let other = ownership::describe_other(r.comment.as_deref());
            if entry.status.is_pending() {
                report
                    .settled
                    .push((entry.clone(), Applied::HeldByOther(other)));
            }
            continue;
        }
        known[j] = true;
        let kind = match (entry.status, present) {
            // A simulated block was never meant to be on the LoadMaster.
            (Status::Active, None) if entry.simulated => None,
            (Status::Active, None) if !entry.is_expired_at(now) => Some(Kind::MissingOnLoadmaster),
            (Status::PendingBlock, None) => Some(Kind::MissingOnLoadmaster),
            (Status::Expired | Status::Unblocked, Some(_)) => Some(Kind::StaleOnLoadmaster),
            (Status::PendingUnblock, Some(_)) => Some(Kind::StaleOnLoadmaster),
            (Status::PendingBlock, Some(_)) | (Status::PendingUnblock, None) => {
                report.settled.push((entry.clone(), Applied::Done));
                None
            }
            _ => None,
        };
        if let Some(kind) = kind {
            report.differences.push(Difference {
                loadmaster: Default::default(),
                scope,
                address: entry.address.to_string(),
                kind,
                local: Some(Box::new(entry.clone())),
                remote: present.cloned(),
            });
        }
    }
    drop(remote_of);
    // The rest of the list is moved into the report, not copied.
    for (r, j) in remote.into_iter().zip(local_of) {
        if j.is_some_and(|j| known[j]) {
            continue;
        }
        // No local record (or it is not lmguard's): the comment decides.
        let ours = ownership::is_ours(r.comment.as_deref(), comment_prefix, None);
        report.differences.push(Difference {
            loadmaster: Default::default(),
            scope,
            address: r.address.map_or_else(|| r.raw.clone(), |a| a.to_string()),
            kind: if ours { Kind::Orphaned } else { Kind::Foreign },
            local: j.map(|j| Box::new(local[j].clone())),
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
            loadmaster: Default::default(),
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

    #[test]
    fn a_duplicated_list_entry_is_compared_by_its_last_occurrence() {
        let local = [entry("192.0.2.1", Status::Expired)];
        let refs: Vec<&Entry> = local.iter().collect();
        // Someone else's entry last: the address is theirs; the copy with
        // lmguard's comment is an orphan (the comment decides), never stale.
        let lm = vec![
            remote("192.0.2.1", Some("lmguard ADS 1")),
            remote("192.0.2.1/32", Some("SOC")),
        ];
        let report = compare(Scope::Global, &refs, lm, "lmguard", 200);
        assert_eq!(
            kinds(&report),
            [
                ("192.0.2.1".to_string(), Kind::Orphaned),
                ("192.0.2.1".to_string(), Kind::Foreign)
            ]
        );
        assert!(report.differences.iter().all(|d| d.local.is_some()));
        // lmguard's last: one stale difference, nothing foreign.
        let lm = vec![
            remote("192.0.2.1", Some("SOC")),
            remote("192.0.2.1", Some("lmguard ADS 1")),
        ];
        let report = compare(Scope::Global, &refs, lm, "lmguard", 200);
        assert_eq!(
            kinds(&report),
            [("192.0.2.1".to_string(), Kind::StaleOnLoadmaster)]
        );
        assert_eq!(
            report.differences[0]
                .remote
                .as_ref()
                .unwrap()
                .comment
                .as_deref(),
            Some("lmguard ADS 1")
        );
    }

    #[test]
    fn ipv6_networks_and_canonical_forms_match() {
        let local = [
            entry("2001:db8::1", Status::Active),
            entry("198.51.100.0/24", Status::Active),
            entry("192.0.2.9", Status::Active),
        ];
        let refs: Vec<&Entry> = local.iter().collect();
        let lm = vec![
            remote("2001:0db8:0:0::1/128", Some("lmguard x")),
            remote("198.51.100.0/24", Some("lmguard x")),
            remote("::ffff:192.0.2.9", Some("lmguard x")),
        ];
        let report = compare(Scope::Global, &refs, lm, "lmguard", 200);
        assert!(report.differences.is_empty(), "{:?}", kinds(&report));
    }

    /// The comparison as it was written first (quadratic, obviously
    /// right), to check the sorted one against on random lists.
    fn reference(local: &[&Entry], remote: &[RemoteEntry], now: i64) -> Vec<(String, Kind, bool)> {
        let mut out = Vec::new();
        let mut known = Vec::new();
        for e in local {
            let present = remote.iter().rev().find(|r| r.address == Some(e.address));
            if present
                .is_some_and(|r| !ownership::is_ours(r.comment.as_deref(), "lmguard", Some(e)))
            {
                continue;
            }
            known.push(e.address);
            let kind = match (e.status, present) {
                (Status::Active, None) if e.simulated => None,
                (Status::Active, None) if !e.is_expired_at(now) => Some(Kind::MissingOnLoadmaster),
                (Status::PendingBlock, None) => Some(Kind::MissingOnLoadmaster),
                (Status::Expired | Status::Unblocked | Status::PendingUnblock, Some(_)) => {
                    Some(Kind::StaleOnLoadmaster)
                }
                _ => None,
            };
            if let Some(kind) = kind {
                out.push((e.address.to_string(), kind, true));
            }
        }
        for r in remote {
            if r.address.is_some_and(|a| known.contains(&a)) {
                continue;
            }
            let ours = ownership::is_ours(r.comment.as_deref(), "lmguard", None);
            let has_local = local.iter().any(|e| Some(e.address) == r.address);
            let address = r.address.map_or_else(|| r.raw.clone(), |a| a.to_string());
            out.push((
                address,
                if ours { Kind::Orphaned } else { Kind::Foreign },
                has_local,
            ));
        }
        out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        out
    }

    #[test]
    fn the_sorted_comparison_agrees_with_the_obvious_one() {
        let statuses = [
            Status::Active,
            Status::PendingBlock,
            Status::PendingUnblock,
            Status::Expired,
            Status::Unblocked,
            Status::Rejected,
        ];
        let comments = [
            None,
            Some("lmguard ADS 1"),
            Some("SOC"),
            Some(""),
            Some("lmguardx"),
        ];
        let mut seed = 0x2545_f491_u64;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize % n
        };
        for round in 0..300 {
            // A small pool of addresses, so that the lists overlap and repeat.
            let pool: Vec<String> = (0..12).map(|i| format!("192.0.2.{}", i + 1)).collect();
            let mut local = Vec::new();
            let mut used = std::collections::BTreeSet::new();
            for _ in 0..next(10) {
                let a = &pool[next(pool.len())];
                if used.insert(a.clone()) {
                    let mut e = entry(a, statuses[next(statuses.len())]);
                    e.simulated = next(5) == 0;
                    if next(4) == 0 {
                        e.held_by_other = Some("SOC".into());
                    }
                    local.push(e);
                }
            }
            let refs: Vec<&Entry> = local.iter().collect();
            let lm: Vec<RemoteEntry> = (0..next(12))
                .map(|_| match next(8) {
                    0 => remote("not-an-address", comments[next(comments.len())]),
                    1 => remote(
                        &format!("{}/32", pool[next(pool.len())]),
                        comments[next(comments.len())],
                    ),
                    _ => remote(&pool[next(pool.len())], comments[next(comments.len())]),
                })
                .collect();
            let now = [50, 200, 100_000][next(3)];
            let report = compare(Scope::Global, &refs, lm.clone(), "lmguard", now);
            let got: Vec<(String, Kind, bool)> = report
                .differences
                .iter()
                .map(|d| (d.address.clone(), d.kind, d.local.is_some()))
                .collect();
            assert_eq!(
                got,
                reference(&refs, &lm, now),
                "round {round}: {local:?} {lm:?}"
            );
        }
    }
}
