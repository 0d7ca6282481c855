//! Carries out planned LoadMaster calls for one run.
//!
//! - A failure that says the LoadMaster is down or refuses us as a whole
//!   (unreachable, 401, 403, 404, 5xx, an answer it cannot read) halts the
//!   run: the remaining calls are not attempted and stay pending, so a dead
//!   LoadMaster costs one timeout, not one per entry.
//! - Retries must be idempotent, and what a duplicate add or the delete of a
//!   missing entry returns is unknown. So when an add or delete is refused,
//!   the list is read (once per list and run) and the call counts as done
//!   if the list already says so. A refused add of a bare host is retried
//!   once with an explicit `/32` (`/128`), which some firmware requires.
//! - An add that finds the address already listed under an entry that is
//!   not lmguard's (its comment does not start with `comment_prefix`)
//!   reports [`Applied::HeldByOther`], so that lmguard never deletes it.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::address::Address;
use crate::domain::entry::{Applied, Call, Entry, Scope};
use crate::loadmaster::answer::ListedEntry;
use crate::loadmaster::{Client, Failure, Request};

/// One call to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub scope: Scope,
    pub address: Address,
    pub call: Call,
    /// For adds: the comment that marks the entry as lmguard's.
    pub comment: String,
}

impl Job {
    /// The call `call` for a recorded entry, with the comment that marks
    /// it as lmguard's.
    pub fn for_entry(entry: &Entry, call: Call, comment_prefix: &str) -> Job {
        Job {
            scope: entry.scope,
            address: entry.address,
            call,
            comment: crate::commands::comment_for(
                comment_prefix,
                entry.event_id.as_deref(),
                &entry.reason,
            ),
        }
    }

    pub fn request(&self) -> Request {
        let addr = self.address.to_string();
        match self.call {
            Call::Add => Request::Add {
                scope: self.scope,
                addr,
                comment: self.comment.clone(),
            },
            Call::Delete => Request::Delete {
                scope: self.scope,
                addr,
            },
        }
    }
}

pub struct Executor<'c> {
    client: &'c Client,
    comment_prefix: &'c str,
    /// The failure that halted the run, shared by the run's executors.
    halted: &'c Mutex<Option<Failure>>,
    /// Canonical contents of the lists read so far in this run.
    lists: HashMap<Scope, HashMap<Address, ListedEntry>>,
}

impl<'c> Executor<'c> {
    /// An executor for one thread of a run; `halted` is shared by all of
    /// the run's executors, so that one seeing the LoadMaster down stops
    /// the others too.
    pub fn new(
        client: &'c Client,
        comment_prefix: &'c str,
        halted: &'c Mutex<Option<Failure>>,
    ) -> Self {
        Executor {
            client,
            comment_prefix,
            halted,
            lists: HashMap::new(),
        }
    }

    fn halt(&self, failure: &Failure) {
        let mut halted = self.halted.lock().unwrap_or_else(|e| e.into_inner());
        halted.get_or_insert_with(|| failure.clone());
    }

    /// Make one call (or report why it was not made).
    pub fn run(&mut self, job: &Job) -> Result<Applied, Failure> {
        if let Some(f) = self
            .halted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Err(f);
        }
        let result = match self.client.send(&job.request()) {
            Ok(_) => Ok(Applied::Done),
            Err(Failure::Rejected { status, message }) => {
                self.settle_refusal(job, Failure::Rejected { status, message })
            }
            Err(f) => Err(f),
        };
        match &result {
            Ok(Applied::Done) => {
                self.note_done(job);
                log_change(job);
            }
            Ok(Applied::HeldByOther(comment)) => log::info!(
                "{} is already on the {} block list under another entry ({comment:?}); \
                 lmguard records it but will never remove that entry",
                job.address,
                list_name(job.scope)
            ),
            Err(f) if f.stops_run() => self.halt(f),
            Err(_) => {}
        }
        result
    }

    /// A refused add/delete: done already? Or does it want a prefix?
    fn settle_refusal(&mut self, job: &Job, refusal: Failure) -> Result<Applied, Failure> {
        let prefix = self.comment_prefix;
        let listed = match self.listed(job.scope)? {
            Some(list) => list.get(&job.address).cloned(),
            None => return Err(refusal),
        };
        match (job.call, listed) {
            (Call::Add, Some(entry)) => {
                log::debug!(
                    "add of {} was refused; the list already has it",
                    job.address
                );
                return Ok(match entry.comment {
                    Some(c) if c.starts_with(prefix) => Applied::Done,
                    Some(c) => Applied::HeldByOther(c),
                    None => Applied::HeldByOther("(the LoadMaster returned no comment)".into()),
                });
            }
            (Call::Delete, None) => {
                log::debug!(
                    "delete of {} was refused; the list no longer has it",
                    job.address
                );
                return Ok(Applied::Done);
            }
            (Call::Delete, Some(entry)) if entry.addr != job.address.to_string() => {
                // Listed under another spelling (e.g. 192.0.2.7/32): delete that.
                let retry = Request::Delete {
                    scope: job.scope,
                    addr: entry.addr,
                };
                if self.client.send(&retry).is_ok() {
                    return Ok(Applied::Done);
                }
            }
            _ => {}
        }
        if job.call == Call::Add && job.address.is_host() {
            let retry = Request::Add {
                scope: job.scope,
                addr: job.address.with_prefix(),
                comment: job.comment.clone(),
            };
            if self.client.send(&retry).is_ok() {
                return Ok(Applied::Done);
            }
        }
        Err(refusal)
    }

    /// The canonical list for a scope, read once per run. `Ok(None)` when the
    /// list could not be read for a reason that does not halt the run.
    fn listed(&mut self, scope: Scope) -> Result<Option<&HashMap<Address, ListedEntry>>, Failure> {
        if !self.lists.contains_key(&scope) {
            match self.client.list(scope) {
                Ok(entries) => {
                    let set = entries
                        .into_iter()
                        .filter_map(|e| Some((e.addr.parse::<Address>().ok()?, e)))
                        .collect();
                    self.lists.insert(scope, set);
                }
                Err(f) if f.stops_run() => {
                    self.halt(&f);
                    return Err(f);
                }
                Err(_) => return Ok(None),
            }
        }
        Ok(self.lists.get(&scope))
    }

    fn note_done(&mut self, job: &Job) {
        if let Some(list) = self.lists.get_mut(&job.scope) {
            match job.call {
                Call::Add => list.insert(
                    job.address,
                    ListedEntry {
                        addr: job.address.to_string(),
                        comment: Some(job.comment.clone()),
                    },
                ),
                Call::Delete => list.remove(&job.address),
            };
        }
    }
}

fn log_change(job: &Job) {
    match job.call {
        Call::Add => log::info!(
            "added {} to the {} block list ({})",
            job.address,
            list_name(job.scope),
            job.comment
        ),
        Call::Delete => log::info!(
            "removed {} from the {} block list",
            job.address,
            list_name(job.scope)
        ),
    }
}

/// `global` or `VS 3`, for messages.
pub fn list_name(scope: Scope) -> String {
    match scope {
        Scope::Global => "global".to_string(),
        Scope::Vs(n) => format!("VS {n}"),
    }
}
