//! Carries out planned LoadMaster calls for one run ([`batch`] drives a
//! run's calls and records the answers; [`preview`] prints them instead).
//!
//! - A failure that says the LoadMaster is down or refuses us as a whole
//!   (unreachable, 401, 403, 404, 5xx, an answer it cannot read) halts the
//!   run: the remaining calls are not attempted and stay pending, so a dead
//!   LoadMaster costs one timeout, not one per entry. So do a few identical
//!   refusals in a row (a bad key that a firmware answers with 400): a bad
//!   key never burns failed-login attempts.
//! - Nothing is deleted that is not lmguard's: before the first delete in
//!   a scope its list is read (once per list and run), and an entry is
//!   deleted only while [`ownership`] says it is lmguard's — under the
//!   spelling the LoadMaster lists it with. One that is someone else's is
//!   left alone ([`Applied::HeldByOther`]); the local record is closed.
//! - Retries must be idempotent, and what a duplicate add returns is
//!   unknown. So when an add is refused, the list is read and the add
//!   counts as done if the list already has the address (as lmguard's, or
//!   [`Applied::HeldByOther`]). When the address is not listed and the
//!   enforcement point says it wants another spelling (Kemp: an explicit
//!   `/32` or `/128` for a host refused as an invalid network), the add is
//!   retried once with it.
//! - Each LoadMaster's calls are made most urgent first: new blocks, then
//!   retried ones, then removals ([`most_urgent_first`]); every call waits
//!   for its slot in the rate budget, so the order decides how soon each
//!   lands.
//! - A call refused for good becomes [`Failure::Permanent`]: the scope's
//!   list cannot be read either while the global one can (the VS does not
//!   exist), or the LoadMaster refuses the address itself (not listed, and
//!   the enforcement point says the refusal is about the address: see
//!   [`EnforcementPoint::refuses_address`]).
//!   Further calls for such a scope are not sent in that run.

pub(crate) mod batch;
pub(crate) mod preview;

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::address::Address;
use crate::domain::comment::{self, CommentPrefix};
use crate::domain::entry::{Applied, Call, Entry, Scope, Target};
use crate::domain::loadmaster_name::LoadMasterName;
use crate::domain::ownership;
use crate::enforcement::EnforcementPoint;
use crate::loadmaster::{Failure, ListedEntry};

/// After this many identical refusals in one run, the run stops calling the
/// LoadMaster.
pub(crate) const IDENTICAL_REFUSALS: usize = 3;

/// One call to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Job {
    /// The LoadMaster it is made on.
    pub(crate) loadmaster: LoadMasterName,
    pub(crate) scope: Scope,
    pub(crate) address: Address,
    pub(crate) call: Call,
    /// For adds: the comment that marks the entry as lmguard's.
    pub(crate) comment: String,
    /// What the local record says about ownership (it decides where the
    /// LoadMaster shows no comments, and for adopted entries).
    pub(crate) record: ownership::Record,
    /// A call tried before that failed (the record carries its error).
    pub(crate) retry: bool,
}

impl Job {
    pub(crate) fn target(&self) -> Target {
        (self.loadmaster, self.scope, self.address)
    }

    /// The call `call` for a recorded entry, with the comment that marks
    /// it as lmguard's.
    pub(crate) fn for_entry(entry: &Entry, call: Call, comment_prefix: &CommentPrefix) -> Job {
        Job {
            loadmaster: entry.loadmaster,
            scope: entry.scope,
            address: entry.address,
            call,
            comment: comment::of_entry(comment_prefix, entry),
            record: ownership::Record::of(entry),
            retry: entry.last_error.is_some(),
        }
    }

    /// Which calls of a run go first: new blocks, then retried ones, then
    /// removals (an expiry can wait; an attacker should not), since every
    /// call waits for its slot in the rate budget.
    fn urgency(&self) -> u8 {
        match (self.call, self.retry) {
            (Call::Add, false) => 0,
            (Call::Add, true) => 1,
            (Call::Delete, _) => 2,
        }
    }
}

/// Put a run's calls in the order they are made: new blocks first, then
/// retries, then removals; otherwise as planned (the sort is stable).
pub(crate) fn most_urgent_first(jobs: &mut [Job]) {
    jobs.sort_by_key(Job::urgency);
}

/// A list as read in this run.
#[derive(Debug, Clone)]
enum Listed {
    Read(HashMap<Address, ListedEntry>),
    /// Refused (not halting the run); `permanent` when the global list reads
    /// while this one does not: the scope does not exist.
    Unreadable {
        failure: Failure,
        permanent: bool,
    },
}

/// What the executors of one run share.
#[derive(Default)]
pub(crate) struct RunShared {
    /// The failure that halted the run.
    halted: Mutex<Option<Failure>>,
    /// The lists read so far, kept up to date by this run's calls.
    lists: Mutex<HashMap<Scope, Listed>>,
    /// How often each refusal (status and message) was seen.
    refusals: Mutex<HashMap<(u16, String), usize>>,
}

impl RunShared {
    pub(crate) fn halted(self) -> Option<Failure> {
        self.halted.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a list says about one address.
enum Lookup {
    Present(ListedEntry),
    Absent,
    Unreadable { failure: Failure, permanent: bool },
}

pub(crate) struct Executor<'c> {
    point: &'c dyn EnforcementPoint,
    comment_prefix: &'c CommentPrefix,
    shared: &'c RunShared,
}

impl<'c> Executor<'c> {
    /// An executor for one thread of a run; `shared` is shared by all of
    /// the run's executors, so that one seeing the LoadMaster down stops
    /// the others too, and each list is read once.
    pub(crate) fn new(
        point: &'c dyn EnforcementPoint,
        comment_prefix: &'c CommentPrefix,
        shared: &'c RunShared,
    ) -> Self {
        Executor {
            point,
            comment_prefix,
            shared,
        }
    }

    fn halt(&self, failure: &Failure) {
        lock(&self.shared.halted).get_or_insert_with(|| failure.clone());
    }

    /// Make one call (or report why it was not made).
    pub(crate) fn run(&mut self, job: &Job) -> Result<Applied, Failure> {
        if let Some(f) = lock(&self.shared.halted).clone() {
            return Err(f);
        }
        if let Some(f) = self.known_permanent(job.scope) {
            return Err(f);
        }
        let result = match job.call {
            Call::Add => self.add(job),
            Call::Delete => self.delete(job),
        };
        match &result {
            Ok(Applied::Done) => {
                log_change(job);
            }
            Ok(Applied::HeldByOther(comment)) => log::info!(
                "{} is on the {} block list under an entry that is not lmguard's ({comment}); \
                 lmguard leaves it alone",
                job.address,
                job.scope.list_name()
            ),
            Err(f) if f.stops_run() => self.halt(f),
            Err(f @ Failure::Rejected { status, message }) => {
                let mut seen = lock(&self.shared.refusals);
                let n = seen.entry((*status, message.clone())).or_default();
                *n += 1;
                if *n >= IDENTICAL_REFUSALS {
                    drop(seen);
                    log::warn!(
                        "the LoadMaster gave the same refusal {IDENTICAL_REFUSALS} times; no \
                         more calls in this run"
                    );
                    self.halt(f);
                }
            }
            Err(_) => {}
        }
        result
    }

    /// A scope found not to exist earlier in this run: nothing is sent to it.
    fn known_permanent(&self, scope: Scope) -> Option<Failure> {
        match lock(&self.shared.lists).get(&scope) {
            Some(Listed::Unreadable {
                failure,
                permanent: true,
            }) => Some(permanent(failure.clone())),
            _ => None,
        }
    }

    fn add(&mut self, job: &Job) -> Result<Applied, Failure> {
        // As the enforcement point wants it written (Kemp: IPv6 hosts /128).
        let spelled = self.point.spelling(&job.address);
        let added = self.point.add(job.scope, &spelled, &job.comment);
        let refusal = match added {
            Ok(_) => {
                self.note(job.scope, job.address, Some(spelled), job);
                return Ok(Applied::Done);
            }
            Err(f @ Failure::Rejected { .. }) => f,
            Err(f) => return Err(f),
        };
        match self.lookup(job.scope, &job.address)? {
            Lookup::Present(entry) => {
                log::debug!(
                    "add of {} was refused; the list already has it",
                    job.address
                );
                let ours = ownership::is_ours_by_record(
                    entry.comment.as_deref(),
                    self.comment_prefix,
                    &ownership::Record::default(),
                );
                Ok(if ours {
                    Applied::Done
                } else {
                    Applied::HeldByOther(ownership::describe_other(entry.comment.as_deref()))
                })
            }
            Lookup::Unreadable {
                permanent: true, ..
            } => Err(permanent(refusal)),
            Lookup::Unreadable { .. } => Err(refusal),
            Lookup::Absent => {
                if let Some(spelled) = self.point.respell(&job.address, &refusal) {
                    match self.point.add(job.scope, &spelled, &job.comment) {
                        Ok(_) => {
                            self.note(job.scope, job.address, Some(spelled), job);
                            return Ok(Applied::Done);
                        }
                        Err(f @ Failure::Rejected { .. }) => return Err(self.for_address(f)),
                        Err(f) => return Err(f),
                    }
                }
                Err(self.for_address(refusal))
            }
        }
    }

    fn delete(&mut self, job: &Job) -> Result<Applied, Failure> {
        let entry = match self.lookup(job.scope, &job.address)? {
            Lookup::Absent => {
                log::debug!(
                    "{} is not on the {} block list; nothing to remove",
                    job.address,
                    job.scope.list_name()
                );
                return Ok(Applied::Done);
            }
            Lookup::Unreadable {
                failure,
                permanent: true,
            } => return Err(permanent(failure)),
            // Without the list, ownership cannot be told: nothing is deleted.
            Lookup::Unreadable { failure, .. } => return Err(failure),
            Lookup::Present(entry) => entry,
        };
        let comment = entry.comment.as_deref();
        if !ownership::is_ours_by_record(comment, self.comment_prefix, &job.record) {
            return Ok(Applied::HeldByOther(ownership::describe_other(comment)));
        }
        // Under the spelling the LoadMaster lists (e.g. 192.0.2.7/32).
        self.point.delete(job.scope, &entry.addr)?;
        self.note(job.scope, job.address, None, job);
        Ok(Applied::Done)
    }

    /// What the list of `scope` (read once per run) says about `address`.
    fn lookup(&mut self, scope: Scope, address: &Address) -> Result<Lookup, Failure> {
        // Held while reading, so that the run's threads read each list once.
        let mut lists = lock(&self.shared.lists);
        if let std::collections::hash_map::Entry::Vacant(slot) = lists.entry(scope) {
            slot.insert(self.read(scope)?);
        }
        Ok(match lists.get(&scope) {
            Some(Listed::Read(map)) => match map.get(address) {
                Some(e) => Lookup::Present(e.clone()),
                None => Lookup::Absent,
            },
            Some(Listed::Unreadable { failure, permanent }) => Lookup::Unreadable {
                failure: failure.clone(),
                permanent: *permanent,
            },
            None => Lookup::Absent,
        })
    }

    fn read(&self, scope: Scope) -> Result<Listed, Failure> {
        match self.point.list(scope) {
            Ok(entries) => Ok(Listed::Read(
                entries
                    .into_iter()
                    .filter_map(|e| Some((e.addr.parse::<Address>().ok()?, e)))
                    .collect(),
            )),
            Err(f) if f.stops_run() => {
                self.halt(&f);
                Err(f)
            }
            Err(failure) => {
                // Does the LoadMaster answer at all? Then this scope is gone.
                let permanent = scope != Scope::Global
                    && match self.point.list(Scope::Global) {
                        Ok(_) => true,
                        Err(f) if f.stops_run() => {
                            self.halt(&f);
                            return Err(f);
                        }
                        Err(_) => false,
                    };
                Ok(Listed::Unreadable { failure, permanent })
            }
        }
    }

    /// Keep the run's copy of a list in step with a call that succeeded.
    fn note(&self, scope: Scope, address: Address, added_as: Option<String>, job: &Job) {
        if let Some(Listed::Read(list)) = lock(&self.shared.lists).get_mut(&scope) {
            match added_as {
                Some(addr) => {
                    list.insert(
                        address,
                        ListedEntry {
                            addr,
                            comment: Some(job.comment.clone()),
                        },
                    );
                }
                None => {
                    list.remove(&address);
                }
            }
        }
    }
}

/// The refusal of a call whose scope does not exist, as a permanent one.
fn permanent(failure: Failure) -> Failure {
    match failure {
        Failure::Rejected { status, message } | Failure::Permanent { status, message } => {
            Failure::Permanent { status, message }
        }
        other => other,
    }
}

impl Executor<'_> {
    /// The refusal of an add whose scope exists and lacks the address: for
    /// good when the enforcement point says the address itself is refused
    /// (Kemp: a 400, or an "Invalid address" at another 4xx); other
    /// refusals (a 422 for the packet filter …) stay pending.
    fn for_address(&self, refusal: Failure) -> Failure {
        if self.point.refuses_address(&refusal) {
            permanent(refusal)
        } else {
            refusal
        }
    }
}

fn log_change(job: &Job) {
    match job.call {
        Call::Add => log::info!(
            "added {} to the {} block list ({})",
            job.address,
            job.scope.list_name(),
            job.comment
        ),
        Call::Delete => log::info!(
            "removed {} from the {} block list",
            job.address,
            job.scope.list_name()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::loadmaster_name::DEFAULT;

    fn job(addr: &str, call: Call, retry: bool) -> Job {
        Job {
            loadmaster: DEFAULT,
            scope: Scope::Global,
            address: addr.parse().unwrap(),
            call,
            comment: String::new(),
            record: Default::default(),
            retry,
        }
    }

    #[test]
    fn new_blocks_go_first_then_retries_then_removals() {
        let mut jobs = vec![
            job("192.0.2.1", Call::Delete, false),
            job("192.0.2.2", Call::Add, true),
            job("192.0.2.3", Call::Add, false),
            job("192.0.2.4", Call::Delete, true),
            job("192.0.2.5", Call::Add, false),
            job("192.0.2.6", Call::Add, true),
        ];
        most_urgent_first(&mut jobs);
        let order: Vec<String> = jobs.iter().map(|j| j.address.to_string()).collect();
        assert_eq!(
            order,
            [
                "192.0.2.3",
                "192.0.2.5",
                "192.0.2.2",
                "192.0.2.6",
                "192.0.2.1",
                "192.0.2.4"
            ]
        );
    }
}
