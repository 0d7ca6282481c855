//! A block as lmguard records it, and the state transitions of its life.
//!
//! ```text
//!            block                add acknowledged
//!   (none) ─────────▶ pending_block ─────────────▶ active
//!                         ▲  │ expired before it was sent   │ expiry passed (sweep)
//!                         │  ▼                              │ or unblock
//!            block again  │ pending_unblock ◀───────────────┘
//!   expired / unblocked ──┘        │ delete acknowledged
//!                                  ▼
//!                         expired (sweep) / unblocked (by hand)
//! ```
//!
//! Every change that needs the LoadMaster is first recorded as `pending_*`
//! with a *claim* naming the process that is sending it, so that a `sweep`
//! running beside a `block` does not send the same request again. A claim
//! whose process has died or whose lease ran out is ignored.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::address::Address;
use super::duration::BlockDuration;
use super::loadmaster_name::LoadMasterName;
use super::severity::Severity;

/// Which LoadMaster block list an entry lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Global,
    Vs(u32),
}

impl Scope {
    pub(crate) fn from_vs(vs: Option<u32>) -> Scope {
        vs.map_or(Scope::Global, Scope::Vs)
    }

    /// `global` or `VS 3`, for messages.
    pub(crate) fn list_name(self) -> String {
        match self {
            Scope::Global => "global".to_string(),
            Scope::Vs(n) => format!("VS {n}"),
        }
    }

    pub(crate) fn vs(self) -> Option<u32> {
        match self {
            Scope::Global => None,
            Scope::Vs(n) => Some(n),
        }
    }

    /// The database key of an address in this scope: `global|192.0.2.7`,
    /// `vs:3|192.0.2.7`.
    pub(crate) fn key(self, address: &Address) -> String {
        format!("{}|{}", self.key_prefix(), address)
    }

    /// `VS 3 on brno`, or `VS 3` when `name_loadmaster` is false (a single
    /// LoadMaster configured): for messages.
    pub(crate) fn on(self, loadmaster: LoadMasterName, name_loadmaster: bool) -> String {
        if name_loadmaster {
            format!("{} on {loadmaster}", self.list_name())
        } else {
            self.list_name()
        }
    }

    fn key_prefix(self) -> String {
        match self {
            Scope::Global => "global".to_string(),
            Scope::Vs(n) => format!("vs:{n}"),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Vs(n) => write!(f, "vs {n}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    PendingBlock,
    PendingUnblock,
    Expired,
    Unblocked,
    /// The LoadMaster refused it for good (the VS does not exist, or the
    /// address itself is refused): never retried; its message is kept in
    /// `last_error`. Unblocking it changes local state only.
    Rejected,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::PendingBlock => "pending_block",
            Status::PendingUnblock => "pending_unblock",
            Status::Expired => "expired",
            Status::Unblocked => "unblocked",
            Status::Rejected => "rejected",
        }
    }

    /// Active or waiting to be applied: what `list` shows without `--all`.
    pub fn is_current(self) -> bool {
        matches!(
            self,
            Status::Active | Status::PendingBlock | Status::PendingUnblock
        )
    }

    pub fn is_pending(self) -> bool {
        matches!(self, Status::PendingBlock | Status::PendingUnblock)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Status::Active),
            "pending_block" => Ok(Status::PendingBlock),
            "pending_unblock" => Ok(Status::PendingUnblock),
            "expired" => Ok(Status::Expired),
            "unblocked" => Ok(Status::Unblocked),
            "rejected" => Ok(Status::Rejected),
            other => Err(format!(
                "unknown status '{other}' (expected active, pending_block, pending_unblock, \
                 expired, unblocked or rejected)"
            )),
        }
    }
}

/// Why an entry is being removed: it decides the final status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    /// Its expiry passed; ends as `expired`.
    Expired,
    /// Removed by hand; ends as `unblocked` and is never re-added by a retry.
    Unblocked,
}

/// Marks a pending entry as being sent right now by one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub pid: u32,
    /// The process's start time (clock ticks since boot, from /proc), so that
    /// a recycled pid is not mistaken for the claimant; 0 when unknown.
    #[serde(default)]
    pub started: u64,
    /// Distinguishes runs of the same pid (pid reuse) and claims of one run.
    pub token: u64,
    /// After this time (Unix seconds) the claim is ignored even if the
    /// process still exists.
    pub until: i64,
}

impl Claim {
    /// Both claims were made by the same run (process and token), whatever
    /// their leases.
    pub(crate) fn same_run(&self, other: &Claim) -> bool {
        (self.pid, self.started, self.token) == (other.pid, other.started, other.token)
    }
}

/// One (LoadMaster, scope, address) block and its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The LoadMaster it is about (from the state key, not the record).
    #[serde(skip)]
    pub loadmaster: LoadMasterName,
    pub address: Address,
    pub scope: Scope,
    pub status: Status,
    /// When the current block began (Unix seconds).
    pub blocked_at: i64,
    /// Absolute expiry (Unix seconds); `None` = permanent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// How many separate blocks this (scope, address) has had.
    pub times_blocked: u32,
    /// For `pending_unblock`: what the entry becomes once removed.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removal: Option<Removal>,
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    /// Why the last LoadMaster call for it failed, if it did.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the entry last changed (Unix seconds).
    pub updated_at: i64,
    /// When it was removed from the LoadMaster (expired or unblocked).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    /// Set when the LoadMaster already listed this address under an entry
    /// that is not lmguard's (its comment, or a note when it had none).
    /// lmguard never deletes such an entry: expiry and unblock are local.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by_other: Option<String>,
    /// Recorded by `[block] mode = "simulate"` and never sent: expiry and
    /// unblock are local, and `sync` never re-adds it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
    /// Blocked by hand with `--force` over the allowlist: the allowlist
    /// does not lift it later (the built-in protections still do).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
    /// Taken into state by `sync --adopt` from a LoadMaster entry with this
    /// comment: that entry is lmguard's while it keeps exactly this comment.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopted_comment: Option<String>,
    /// The priority of the event that caused the current block (ADS
    /// `Critical`…, IDS severity); `None` for a manual block.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Severity>,
}

/// Whether a block came from an event: it carries the event's id or, for
/// events without one (CEF from ADS 7 and later), the event's priority. A
/// manual block has neither.
pub(crate) fn from_event(event_id: Option<&str>, priority: Option<Severity>) -> bool {
    event_id.is_some() || priority.is_some()
}

/// The method code of a block: the first word of the reason of a block
/// that came from an event (`SSHDICT SSH attack` → `SSHDICT`), `None` for a
/// manual block (see [`from_event`]).
pub(crate) fn method_of(from_event: bool, reason: &str) -> Option<&str> {
    if !from_event {
        return None;
    }
    let method = method_of_reason(reason);
    (!method.is_empty()).then_some(method)
}

/// What `sweep` puts before the reason of a block it lifted because the
/// allowlist (or a protection) now covers it; the method stays readable
/// after it.
pub(crate) const ALLOWLISTED: &str = "allowlisted";

/// The ADS method code of a recorded reason: its first word
/// (`SSHDICT SSH attack` → `SSHDICT`, `IDS: ET SCAN …` → `IDS`), also
/// after the `allowlisted (was: …)` that `sweep` puts before it.
pub(crate) fn method_of_reason(reason: &str) -> &str {
    let reason = reason
        .strip_prefix(ALLOWLISTED)
        .and_then(|r| r.strip_prefix(" (was: "))
        .unwrap_or(reason);
    reason
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches([':', ')'])
}

/// A request to block one address in one scope.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BlockRequest {
    pub(crate) loadmaster: LoadMasterName,
    pub(crate) address: Address,
    pub(crate) scope: Scope,
    pub(crate) duration: BlockDuration,
    pub(crate) reason: String,
    pub(crate) event_id: Option<String>,
    /// The event's priority, when it had one.
    pub(crate) priority: Option<Severity>,
}

/// What a LoadMaster call has to do for an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Add,
    Delete,
}

/// What applying a request to the recorded state decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// New block (or a block after expiry/unblock): the LoadMaster must add it.
    Send(Call),
    /// Already blocked: expiry extended locally, nothing to send.
    Extended,
    /// Another live process is sending this entry right now; recorded only.
    InFlightElsewhere,
    /// Recorded locally only: the LoadMaster entry is not lmguard's.
    LocalOnly,
    /// Nothing to do.
    Nothing,
}

/// What a LoadMaster call achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Applied {
    Done,
    /// An add found the address already listed under an entry that is not
    /// lmguard's (its comment).
    HeldByOther(String),
}

/// The state key of an entry: [`Scope::key`], behind `NAME@` for every
/// LoadMaster but `default` (so a state file from before several
/// LoadMasters reads as `default`'s without rewriting a key).
pub(crate) fn state_key(loadmaster: LoadMasterName, scope: Scope, address: &Address) -> String {
    if loadmaster.is_default() {
        scope.key(address)
    } else {
        format!("{loadmaster}@{}", scope.key(address))
    }
}

/// The LoadMaster a state key belongs to (see [`state_key`]).
pub(crate) fn loadmaster_of_key(key: &str) -> LoadMasterName {
    match key.split_once('@') {
        Some((name, _)) => LoadMasterName::intern(name),
        None => crate::domain::loadmaster_name::DEFAULT,
    }
}

/// What an entry is about: (LoadMaster, scope, address).
pub(crate) type Target = (LoadMasterName, Scope, Address);

impl Entry {
    pub(crate) fn target(&self) -> Target {
        (self.loadmaster, self.scope, self.address)
    }

    /// This entry's key in the state (see [`state_key`]).
    pub(crate) fn key(&self) -> String {
        state_key(self.loadmaster, self.scope, &self.address)
    }

    fn is_claimed(&self, live: &dyn Fn(&Claim) -> bool) -> bool {
        self.claim.as_ref().is_some_and(live)
    }

    /// Is it claimed by the run `claim` belongs to (whatever lease that
    /// run has renewed it to since: a stream renews it every batch)?
    pub(crate) fn is_claimed_by(&self, claim: &Claim) -> bool {
        self.claim.as_ref().is_some_and(|c| c.same_run(claim))
    }

    /// Is the entry past its expiry at `now`?
    pub(crate) fn is_expired_at(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// Does this entry count towards `max_active`? What is (or would be) on
    /// the LoadMaster: active or pending; simulated blocks count only while
    /// simulating.
    pub(crate) fn counts_toward_limit(&self, simulating: bool) -> bool {
        self.status.is_current() && (simulating || !self.is_simulated())
    }

    /// Recorded by `[block] mode = "simulate"`, never sent.
    pub fn is_simulated(&self) -> bool {
        self.simulated
    }

    /// Nothing of lmguard's is on the LoadMaster for this entry (someone
    /// else's entry holds the address, or the block was only simulated):
    /// its expiry and unblock change local state only.
    pub(crate) fn is_local_only(&self) -> bool {
        self.held_by_other.is_some() || self.simulated
    }

    /// The detection method that caused the block: the first word of an
    /// event's reason (`SSHDICT`), `None` for a manual block.
    pub(crate) fn method(&self) -> Option<&str> {
        method_of(self.is_from_event(), &self.reason)
    }

    /// Whether the current block came from an event (see [`from_event`]).
    pub(crate) fn is_from_event(&self) -> bool {
        from_event(self.event_id.as_deref(), self.priority)
    }

    /// When a finished record (expired, unblocked, rejected) left the current
    /// set: what `[state] keep_history` measures. `None` while it is current.
    pub(crate) fn history_since(&self) -> Option<i64> {
        if self.status.is_current() {
            return None;
        }
        Some(self.ended_at.unwrap_or(self.updated_at))
    }

    fn extend_to(&mut self, expires_at: Option<i64>) {
        self.expires_at = match (self.expires_at, expires_at) {
            (None, _) | (_, None) => None,
            (Some(a), Some(b)) => Some(a.max(b)),
        };
    }
}

/// Apply a block request to what is recorded for its (scope, address).
///
/// Returns the entry to store and what to send. `claim` is this run's claim;
/// `live` tells whether another claim is still being worked on.
pub(crate) fn apply_block(
    existing: Option<Entry>,
    req: &BlockRequest,
    now: i64,
    claim: Claim,
    live: &dyn Fn(&Claim) -> bool,
) -> (Entry, Decision) {
    apply_block_in(existing, req, BlockMode::Enforce, now, claim, live)
}

/// How a block is carried out: `[block] mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum BlockMode {
    /// Recorded as pending, then sent to the LoadMaster.
    #[default]
    Enforce,
    /// Recorded as an active, `simulated` block; the LoadMaster is never
    /// called (`Decision::LocalOnly`). An entry that is really blocked is
    /// only extended; a pending one stays pending for `sweep`.
    Simulate,
}

/// [`apply_block`] in a given [`BlockMode`].
///
/// In enforce mode a simulated block that is still active becomes a real
/// one (sent now, its count of blocks unchanged).
pub(crate) fn apply_block_in(
    existing: Option<Entry>,
    req: &BlockRequest,
    mode: BlockMode,
    now: i64,
    claim: Claim,
    live: &dyn Fn(&Claim) -> bool,
) -> (Entry, Decision) {
    let simulate = mode == BlockMode::Simulate;
    let expires_at = req.duration.expires_at(now);
    let fresh = |times_blocked: u32| Entry {
        loadmaster: req.loadmaster,
        address: req.address,
        scope: req.scope,
        status: Status::PendingBlock,
        blocked_at: now,
        expires_at,
        reason: req.reason.clone(),
        event_id: req.event_id.clone(),
        times_blocked,
        removal: None,
        claim: Some(claim),
        last_error: None,
        updated_at: now,
        ended_at: None,
        held_by_other: None,
        simulated: false,
        forced: false,
        adopted_comment: None,
        priority: req.priority,
    };
    let simulated = |mut entry: Entry| {
        entry.status = Status::Active;
        entry.claim = None;
        entry.simulated = true;
        (entry, Decision::LocalOnly)
    };
    let Some(mut entry) = existing else {
        if simulate {
            return simulated(fresh(1));
        }
        return (fresh(1), Decision::Send(Call::Add));
    };
    match entry.status {
        Status::Expired | Status::Unblocked | Status::Rejected => {
            let next = fresh(entry.times_blocked.saturating_add(1));
            if simulate {
                return simulated(next);
            }
            (next, Decision::Send(Call::Add))
        }
        Status::Active if entry.is_simulated() && !simulate => {
            // Simulated so far; now it is blocked for real.
            let mut next = fresh(entry.times_blocked.max(1));
            next.extend_to(entry.expires_at);
            (next, Decision::Send(Call::Add))
        }
        Status::Active | Status::PendingBlock | Status::PendingUnblock => {
            entry.extend_to(expires_at);
            entry.reason = req.reason.clone();
            entry.event_id = req.event_id.clone();
            entry.priority = req.priority;
            entry.updated_at = now;
            let decision = match entry.status {
                Status::Active => Decision::Extended,
                _ if entry.is_claimed(live) => {
                    // Someone is sending this entry right now, and only they
                    // may call the LoadMaster for it until they finish. Record
                    // the wish to have it blocked: a removal in flight becomes
                    // a pending block that the next sweep applies after it.
                    if entry.status == Status::PendingUnblock {
                        entry.status = Status::PendingBlock;
                        entry.removal = None;
                    }
                    Decision::InFlightElsewhere
                }
                _ if simulate => {
                    // A real pending entry: keep the wish to have it
                    // blocked, and leave the call to `sweep`.
                    entry.status = Status::PendingBlock;
                    entry.removal = None;
                    Decision::Extended
                }
                _ => {
                    entry.status = Status::PendingBlock;
                    entry.removal = None;
                    entry.claim = Some(claim);
                    Decision::Send(Call::Add)
                }
            };
            (entry, decision)
        }
    }
}

/// Mark an entry for removal from the LoadMaster (`unblock` by hand, or the
/// expiry found by `sweep`).
pub(crate) fn apply_removal(
    mut entry: Entry,
    removal: Removal,
    now: i64,
    claim: Claim,
    live: &dyn Fn(&Claim) -> bool,
) -> (Entry, Decision) {
    match entry.status {
        Status::Rejected => {
            // Never on the LoadMaster: unblocking it is a local change.
            entry.status = Status::Unblocked;
            entry.claim = None;
            entry.removal = None;
            entry.updated_at = now;
            entry.ended_at = Some(now);
            (entry, Decision::LocalOnly)
        }
        Status::Expired | Status::Unblocked => {
            if removal == Removal::Unblocked && entry.status == Status::Expired {
                entry.status = Status::Unblocked;
                entry.updated_at = now;
            }
            (entry, Decision::Nothing)
        }
        Status::Active | Status::PendingBlock | Status::PendingUnblock => {
            // A manual unblock always wins over an expiry being processed.
            if entry.removal != Some(Removal::Unblocked) {
                entry.removal = Some(removal);
            }
            entry.updated_at = now;
            if entry.is_claimed(live) {
                // Only the claimant calls the LoadMaster for this entry until
                // it finishes; its answer will not match the new status, and
                // the next sweep sends the delete after it.
                entry.status = Status::PendingUnblock;
                return (entry, Decision::InFlightElsewhere);
            }
            if entry.is_local_only() && entry.status == Status::Active {
                finish_removal(&mut entry, now);
                return (entry, Decision::LocalOnly);
            }
            entry.status = Status::PendingUnblock;
            entry.claim = Some(claim);
            (entry, Decision::Send(Call::Delete))
        }
    }
}

fn finish_removal(entry: &mut Entry, now: i64) {
    entry.status = match entry.removal.take() {
        Some(Removal::Unblocked) => Status::Unblocked,
        _ => Status::Expired,
    };
    entry.claim = None;
    entry.ended_at = Some(now);
}

/// What `sweep` must do with an entry at `now`, if anything: the entry to
/// store, and the call to make (`None`: a local change only).
pub(crate) fn plan_sweep(
    entry: &Entry,
    now: i64,
    claim: Claim,
    live: &dyn Fn(&Claim) -> bool,
) -> Option<(Entry, Option<Call>)> {
    if entry.is_claimed(live) {
        return None;
    }
    let mut next = entry.clone();
    next.claim = Some(claim);
    next.updated_at = now;
    match entry.status {
        Status::Active if entry.is_expired_at(now) => {
            next.removal = Some(Removal::Expired);
            if entry.is_local_only() {
                finish_removal(&mut next, now);
                return Some((next, None));
            }
            next.status = Status::PendingUnblock;
            Some((next, Some(Call::Delete)))
        }
        Status::PendingBlock if entry.is_expired_at(now) => {
            // It may or may not have reached the LoadMaster; a delete of a
            // missing entry succeeds, so remove it to be sure.
            next.status = Status::PendingUnblock;
            next.removal = Some(Removal::Expired);
            Some((next, Some(Call::Delete)))
        }
        Status::PendingBlock => Some((next, Some(Call::Add))),
        Status::PendingUnblock => Some((next, Some(Call::Delete))),
        Status::Active | Status::Expired | Status::Unblocked | Status::Rejected => None,
    }
}

/// Record the LoadMaster's answer for an entry this run claimed.
///
/// Returns `None` when the claim is no longer this run's (the stored entry
/// is then left as it is). When the entry's wanted state changed while the
/// call was in flight (an unblock during a block, or the reverse), the claim
/// is released and the entry stays pending for the next sweep.
pub(crate) fn complete(
    mut entry: Entry,
    claim: &Claim,
    call: Call,
    result: Result<Applied, String>,
    now: i64,
) -> Option<Entry> {
    if !entry.is_claimed_by(claim) {
        return None;
    }
    entry.claim = None;
    entry.updated_at = now;
    match result {
        Err(e) => entry.last_error = Some(e),
        Ok(applied) => {
            entry.last_error = None;
            match (call, entry.status) {
                (Call::Add, Status::PendingBlock) => {
                    entry.status = Status::Active;
                    entry.held_by_other = match applied {
                        Applied::Done => None,
                        Applied::HeldByOther(comment) => Some(comment),
                    };
                }
                (Call::Delete, Status::PendingUnblock) => {
                    finish_removal(&mut entry, now);
                    // The LoadMaster's entry is someone else's: left alone.
                    if let Applied::HeldByOther(comment) = applied {
                        entry.held_by_other = Some(comment);
                    }
                }
                _ => {}
            }
        }
    }
    Some(entry)
}

/// Record that the LoadMaster refused a call for this entry for good (its
/// scope does not exist, or it refuses the address itself). A block becomes
/// `rejected` and is never retried; a removal is finished (there is nothing
/// to remove). `message` is kept in `last_error`.
pub(crate) fn reject(mut entry: Entry, claim: &Claim, message: String, now: i64) -> Option<Entry> {
    if !entry.is_claimed_by(claim) {
        return None;
    }
    entry.claim = None;
    entry.updated_at = now;
    entry.last_error = Some(message);
    match entry.status {
        Status::PendingBlock => {
            entry.status = Status::Rejected;
            entry.ended_at = Some(now);
        }
        Status::PendingUnblock => finish_removal(&mut entry, now),
        _ => {}
    }
    Some(entry)
}

/// Entries for other modules' unit tests, made the way `block` makes them.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// The claim of the test process.
    pub(crate) const CLAIM: Claim = Claim {
        pid: 1,
        started: 0,
        token: 1,
        until: 10,
    };

    /// A one-hour manual block of `address` in the global list.
    pub(crate) fn request(address: &str, reason: &str) -> BlockRequest {
        BlockRequest {
            loadmaster: Default::default(),
            address: address.parse().unwrap(),
            scope: Scope::Global,
            duration: "1h".parse().unwrap(),
            reason: reason.into(),
            event_id: None,
            priority: None,
        }
    }

    /// The pending entry `req` makes at `at` where nothing was recorded.
    pub(crate) fn pending(req: &BlockRequest, at: i64) -> Entry {
        apply_block(None, req, at, CLAIM, &|_| false).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAIM: Claim = Claim {
        pid: 1,
        started: 0,
        token: 7,
        until: 1_000_000,
    };
    const OTHER: Claim = Claim {
        pid: 2,
        started: 0,
        token: 9,
        until: 1_000_000,
    };

    fn alive(_: &Claim) -> bool {
        true
    }
    fn dead(_: &Claim) -> bool {
        false
    }

    fn req(addr: &str, duration: &str) -> BlockRequest {
        BlockRequest {
            loadmaster: Default::default(),
            address: addr.parse().unwrap(),
            scope: Scope::Global,
            duration: duration.parse().unwrap(),
            reason: "SCANS Port scanning".into(),
            event_id: Some("1".into()),
            priority: Some(Severity::High),
        }
    }

    #[test]
    fn an_event_without_an_id_still_has_its_method() {
        let (with_id, _) = apply_block(None, &req("192.0.2.7", "1h"), 0, CLAIM, &alive);
        assert_eq!(with_id.method(), Some("SCANS"));
        // CEF from ADS 7 and later: no event id, but the event's priority.
        let cef = BlockRequest {
            event_id: None,
            ..req("192.0.2.8", "1h")
        };
        let (cef, _) = apply_block(None, &cef, 0, CLAIM, &alive);
        assert!(cef.is_from_event());
        assert_eq!(cef.method(), Some("SCANS"));
        let manual = BlockRequest {
            event_id: None,
            priority: None,
            ..req("192.0.2.9", "1h")
        };
        let (manual, _) = apply_block(None, &manual, 0, CLAIM, &alive);
        assert!(!manual.is_from_event());
        assert_eq!(manual.method(), None);
    }

    fn active(addr: &str, now: i64, duration: &str) -> Entry {
        let (e, _) = apply_block(None, &req(addr, duration), now, CLAIM, &alive);
        complete(e, &CLAIM, Call::Add, Ok(Applied::Done), now).unwrap()
    }

    #[test]
    fn new_block_is_pending_and_sent() {
        let (e, d) = apply_block(None, &req("192.0.2.7", "1h"), 100, CLAIM, &alive);
        assert_eq!(d, Decision::Send(Call::Add));
        assert_eq!(e.status, Status::PendingBlock);
        assert_eq!(e.expires_at, Some(3_700));
        assert_eq!(e.times_blocked, 1);
        assert_eq!(e.claim, Some(CLAIM));
    }

    #[test]
    fn acknowledged_block_becomes_active() {
        let e = active("192.0.2.7", 100, "1h");
        assert_eq!(e.status, Status::Active);
        assert_eq!(e.claim, None);
    }

    #[test]
    fn reblocking_active_extends_to_the_later_expiry_without_sending() {
        let e = active("192.0.2.7", 100, "2h");
        let (longer, d) = apply_block(Some(e.clone()), &req("192.0.2.7", "1h"), 200, CLAIM, &alive);
        assert_eq!(d, Decision::Extended);
        assert_eq!(longer.expires_at, Some(7_300), "keeps the later of the two");
        let (later, _) = apply_block(Some(e), &req("192.0.2.7", "3h"), 200, CLAIM, &alive);
        assert_eq!(later.expires_at, Some(200 + 3 * 3_600));
        assert_eq!(later.times_blocked, 1);
    }

    #[test]
    fn permanent_wins_when_extending() {
        let e = active("192.0.2.7", 100, "2h");
        let (p, _) = apply_block(Some(e), &req("192.0.2.7", "permanent"), 200, CLAIM, &alive);
        assert_eq!(p.expires_at, None);
    }

    #[test]
    fn pending_block_in_flight_elsewhere_is_not_resent() {
        let (e, _) = apply_block(None, &req("192.0.2.7", "1h"), 100, OTHER, &alive);
        let (e2, d) = apply_block(Some(e.clone()), &req("192.0.2.7", "1h"), 101, CLAIM, &alive);
        assert_eq!(d, Decision::InFlightElsewhere);
        assert_eq!(e2.claim, Some(OTHER));
        let (e3, d) = apply_block(Some(e), &req("192.0.2.7", "1h"), 101, CLAIM, &dead);
        assert_eq!(d, Decision::Send(Call::Add));
        assert_eq!(e3.claim, Some(CLAIM));
    }

    #[test]
    fn block_after_expiry_counts_a_new_block() {
        let e = active("192.0.2.7", 100, "1h");
        let (e, _) = apply_removal(e, Removal::Expired, 4_000, CLAIM, &alive);
        let e = complete(e, &CLAIM, Call::Delete, Ok(Applied::Done), 4_000).unwrap();
        assert_eq!(e.status, Status::Expired);
        let (again, d) = apply_block(Some(e), &req("192.0.2.7", "1h"), 5_000, CLAIM, &alive);
        assert_eq!(d, Decision::Send(Call::Add));
        assert_eq!(again.times_blocked, 2);
        assert_eq!(again.blocked_at, 5_000);
    }

    #[test]
    fn unblock_ends_as_unblocked_and_failure_stays_pending() {
        let e = active("192.0.2.7", 100, "1h");
        let (p, d) = apply_removal(e, Removal::Unblocked, 200, CLAIM, &alive);
        assert_eq!(d, Decision::Send(Call::Delete));
        assert_eq!(p.status, Status::PendingUnblock);
        let failed = complete(p.clone(), &CLAIM, Call::Delete, Err("down".into()), 200).unwrap();
        assert_eq!(failed.status, Status::PendingUnblock);
        assert_eq!(failed.last_error.as_deref(), Some("down"));
        assert_eq!(failed.claim, None);
        let done = complete(p, &CLAIM, Call::Delete, Ok(Applied::Done), 201).unwrap();
        assert_eq!(done.status, Status::Unblocked);
        assert_eq!(done.ended_at, Some(201));
    }

    #[test]
    fn sweep_never_readds_an_unblocked_entry() {
        let e = active("192.0.2.7", 100, "1h");
        let (p, _) = apply_removal(e, Removal::Unblocked, 200, CLAIM, &alive);
        let done = complete(p, &CLAIM, Call::Delete, Ok(Applied::Done), 201).unwrap();
        assert_eq!(plan_sweep(&done, 10_000_000, CLAIM, &dead), None);
    }

    #[test]
    fn sweep_plans_expiry_and_retries() {
        let e = active("192.0.2.7", 100, "1h");
        assert_eq!(plan_sweep(&e, 3_699, CLAIM, &dead), None);
        let (next, call) = plan_sweep(&e, 3_700, CLAIM, &dead).unwrap();
        assert_eq!(call, Some(Call::Delete));
        assert_eq!(next.removal, Some(Removal::Expired));

        let (pending, _) = apply_block(None, &req("192.0.2.8", "1h"), 100, OTHER, &alive);
        assert_eq!(plan_sweep(&pending, 200, CLAIM, &alive), None, "in flight");
        let (retry, call) = plan_sweep(&pending, 200, CLAIM, &dead).unwrap();
        assert_eq!(call, Some(Call::Add));
        assert_eq!(retry.claim, Some(CLAIM));
        let (_, call) = plan_sweep(&pending, 5_000, CLAIM, &dead).unwrap();
        assert_eq!(
            call,
            Some(Call::Delete),
            "expired before it was ever applied"
        );
    }

    #[test]
    fn answers_for_a_claim_that_changed_hands_are_dropped() {
        let (e, _) = apply_block(None, &req("192.0.2.7", "1h"), 100, OTHER, &alive);
        assert_eq!(complete(e, &CLAIM, Call::Add, Ok(Applied::Done), 101), None);
    }

    #[test]
    fn unblock_during_a_block_in_flight_is_recorded_for_sweep() {
        let (e, _) = apply_block(None, &req("192.0.2.7", "1h"), 100, OTHER, &alive);
        let (u, d) = apply_removal(e, Removal::Unblocked, 101, CLAIM, &alive);
        assert_eq!(d, Decision::InFlightElsewhere);
        assert_eq!(u.status, Status::PendingUnblock);
        assert_eq!(
            u.claim,
            Some(OTHER),
            "nobody else calls while it is in flight"
        );
        assert_eq!(plan_sweep(&u, 102, CLAIM, &alive), None);
        // The blocking process's add lands: the entry stays pending_unblock ...
        let after = complete(u, &OTHER, Call::Add, Ok(Applied::Done), 103).unwrap();
        assert_eq!(after.status, Status::PendingUnblock);
        assert_eq!(after.claim, None);
        // ... and sweep sends the delete after it.
        assert_eq!(
            plan_sweep(&after, 104, CLAIM, &dead).unwrap().1,
            Some(Call::Delete)
        );
    }

    #[test]
    fn block_during_a_removal_in_flight_waits_for_it() {
        let e = active("192.0.2.7", 100, "1h");
        let (removing, _) = apply_removal(e, Removal::Expired, 4_000, OTHER, &alive);
        let (again, d) = apply_block(
            Some(removing),
            &req("192.0.2.7", "1h"),
            4_001,
            CLAIM,
            &alive,
        );
        assert_eq!(d, Decision::InFlightElsewhere);
        assert_eq!(again.status, Status::PendingBlock);
        assert_eq!(again.claim, Some(OTHER));
        let after = complete(again, &OTHER, Call::Delete, Ok(Applied::Done), 4_002).unwrap();
        assert_eq!(
            after.status,
            Status::PendingBlock,
            "re-added by the next sweep"
        );
        assert_eq!(
            plan_sweep(&after, 4_003, CLAIM, &dead).unwrap().1,
            Some(Call::Add)
        );
    }

    #[test]
    fn an_entry_held_by_someone_else_is_never_deleted() {
        let (e, _) = apply_block(None, &req("192.0.2.7", "1h"), 100, CLAIM, &alive);
        let e = complete(
            e,
            &CLAIM,
            Call::Add,
            Ok(Applied::HeldByOther("bob".into())),
            100,
        )
        .unwrap();
        assert_eq!(e.status, Status::Active);
        assert_eq!(e.held_by_other.as_deref(), Some("bob"));
        let (expired, call) = plan_sweep(&e, 5_000, CLAIM, &dead).unwrap();
        assert_eq!(call, None);
        assert_eq!(expired.status, Status::Expired);
        let (unblocked, d) = apply_removal(e, Removal::Unblocked, 200, CLAIM, &dead);
        assert_eq!(d, Decision::LocalOnly);
        assert_eq!(unblocked.status, Status::Unblocked);
        // Blocked again later: a fresh block that lmguard sends itself.
        let (fresh, _) = apply_block(Some(unblocked), &req("192.0.2.7", "1h"), 300, CLAIM, &alive);
        assert_eq!(fresh.held_by_other, None);
    }

    fn simulate(
        existing: Option<Entry>,
        addr: &str,
        duration: &str,
        now: i64,
    ) -> (Entry, Decision) {
        apply_block_in(
            existing,
            &req(addr, duration),
            BlockMode::Simulate,
            now,
            CLAIM,
            &alive,
        )
    }

    #[test]
    fn simulated_blocks_are_recorded_active_and_never_sent() {
        let (e, d) = simulate(None, "192.0.2.7", "1h", 100);
        assert_eq!(d, Decision::LocalOnly);
        assert_eq!(e.status, Status::Active);
        assert!(e.is_simulated());
        assert_eq!(e.claim, None);
        assert_eq!(e.expires_at, Some(3_700));
        // Again while active: extended, still simulated.
        let (again, d) = simulate(Some(e.clone()), "192.0.2.7", "2h", 200);
        assert_eq!(d, Decision::Extended);
        assert!(again.is_simulated());
        assert_eq!(again.expires_at, Some(200 + 7_200));
        // Its expiry and unblock are local only.
        let (expired, call) = plan_sweep(&e, 5_000, CLAIM, &dead).unwrap();
        assert_eq!(call, None);
        assert_eq!(expired.status, Status::Expired);
        let (unblocked, d) = apply_removal(e, Removal::Unblocked, 300, CLAIM, &dead);
        assert_eq!(d, Decision::LocalOnly);
        assert_eq!(unblocked.status, Status::Unblocked);
        // Blocked again after that: a new simulated block, counted.
        let (next, d) = simulate(Some(expired), "192.0.2.7", "1h", 6_000);
        assert_eq!(d, Decision::LocalOnly);
        assert_eq!(next.times_blocked, 2);
    }

    #[test]
    fn simulate_never_sends_a_real_entry_and_enforce_makes_a_simulated_one_real() {
        let real = active("192.0.2.7", 100, "1h");
        let (e, d) = simulate(Some(real), "192.0.2.7", "2h", 200);
        assert_eq!(d, Decision::Extended);
        assert!(!e.is_simulated());
        let (pending, _) = apply_block(None, &req("192.0.2.8", "1h"), 100, OTHER, &alive);
        let (e, d) = apply_block_in(
            Some(pending),
            &req("192.0.2.8", "1h"),
            BlockMode::Simulate,
            200,
            CLAIM,
            &dead,
        );
        assert_eq!(d, Decision::Extended, "left to sweep");
        assert_eq!(e.status, Status::PendingBlock);
        assert_eq!(e.claim, Some(OTHER), "not claimed by a simulating run");

        let (sim, _) = simulate(None, "192.0.2.9", "3h", 100);
        let (e, d) = apply_block(Some(sim), &req("192.0.2.9", "1h"), 200, CLAIM, &alive);
        assert_eq!(d, Decision::Send(Call::Add));
        assert!(!e.is_simulated());
        assert_eq!(e.status, Status::PendingBlock);
        assert_eq!(e.claim, Some(CLAIM));
        assert_eq!(e.times_blocked, 1);
        assert_eq!(
            e.expires_at,
            Some(100 + 3 * 3_600),
            "keeps the later expiry"
        );
    }

    #[test]
    fn the_simulated_mark_survives_storage() {
        let real = active("192.0.2.7", 100, "1h");
        assert!(!real.is_simulated());
        let (sim, _) = simulate(None, "192.0.2.7", "1h", 100);
        let json = serde_json::to_string(&sim).unwrap();
        let back: Entry = serde_json::from_str(&json).unwrap();
        assert!(back.is_simulated());
        assert_eq!(back, sim);
        // Someone else's entry is not a simulated one.
        let mut other = real;
        other.held_by_other = Some("bob".into());
        assert!(!other.is_simulated());
    }

    #[test]
    fn a_block_refused_for_good_is_rejected_never_retried_and_unblocked_locally() {
        let (e, _) = apply_block(None, &req("192.0.2.7", "1h"), 100, CLAIM, &alive);
        assert_eq!(reject(e.clone(), &OTHER, "x".into(), 101), None);
        let r = reject(e, &CLAIM, "Unknown VS (code 422)".into(), 101).unwrap();
        assert_eq!(r.status, Status::Rejected);
        assert_eq!(r.last_error.as_deref(), Some("Unknown VS (code 422)"));
        assert_eq!(plan_sweep(&r, 10_000, CLAIM, &dead), None);
        let (u, d) = apply_removal(r.clone(), Removal::Unblocked, 200, CLAIM, &dead);
        assert_eq!(d, Decision::LocalOnly);
        assert_eq!(u.status, Status::Unblocked);
        let (again, d) = apply_block(Some(r), &req("192.0.2.7", "1h"), 300, CLAIM, &alive);
        assert_eq!(d, Decision::Send(Call::Add), "a new block tries again");
        assert_eq!(again.status, Status::PendingBlock);
    }

    #[test]
    fn a_delete_that_finds_someone_elses_entry_closes_the_record_only() {
        let e = active("192.0.2.7", 100, "1h");
        let (p, _) = apply_removal(e, Removal::Unblocked, 200, CLAIM, &alive);
        let done = complete(
            p,
            &CLAIM,
            Call::Delete,
            Ok(Applied::HeldByOther("SOC: permanent".into())),
            201,
        )
        .unwrap();
        assert_eq!(done.status, Status::Unblocked);
        assert_eq!(done.held_by_other.as_deref(), Some("SOC: permanent"));
    }

    #[test]
    fn status_round_trips_through_text() {
        for s in [
            Status::Active,
            Status::PendingBlock,
            Status::PendingUnblock,
            Status::Expired,
            Status::Unblocked,
            Status::Rejected,
        ] {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        }
        assert!("bogus".parse::<Status>().is_err());
    }
}
