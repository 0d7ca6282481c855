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

use std::collections::{HashMap, HashSet};

use crate::domain::address::Address;
use crate::domain::entry::{Call, Scope};
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
    halted: Option<Failure>,
    /// Canonical contents of the lists read so far in this run.
    lists: HashMap<Scope, HashSet<Address>>,
}

impl<'c> Executor<'c> {
    pub fn new(client: &'c Client) -> Self {
        Executor {
            client,
            halted: None,
            lists: HashMap::new(),
        }
    }

    /// The failure that halted this run, if one did.
    pub fn halted(&self) -> Option<&Failure> {
        self.halted.as_ref()
    }

    /// Make one call (or report why it was not made).
    pub fn run(&mut self, job: &Job) -> Result<(), Failure> {
        if let Some(f) = &self.halted {
            return Err(f.clone());
        }
        let result = match self.client.send(&job.request()) {
            Ok(_) => Ok(()),
            Err(Failure::Rejected { status, message }) => {
                self.settle_refusal(job, Failure::Rejected { status, message })
            }
            Err(f) => Err(f),
        };
        match &result {
            Ok(()) => {
                self.note_done(job);
                log_change(job);
            }
            Err(f) if f.stops_run() => self.halted = Some(f.clone()),
            Err(_) => {}
        }
        result
    }

    /// A refused add/delete: done already? Or does it want a prefix?
    fn settle_refusal(&mut self, job: &Job, refusal: Failure) -> Result<(), Failure> {
        match self.listed(job.scope)? {
            Some(present) => {
                let wanted = job.call == Call::Add;
                if present.contains(&job.address) == wanted {
                    log::debug!(
                        "{} {} was refused but the list already shows it done",
                        verb(job.call),
                        job.address
                    );
                    return Ok(());
                }
            }
            None => return Err(refusal),
        }
        if job.call == Call::Add && job.address.is_host() {
            let retry = Request::Add {
                scope: job.scope,
                addr: job.address.with_prefix(),
                comment: job.comment.clone(),
            };
            if self.client.send(&retry).is_ok() {
                return Ok(());
            }
        }
        Err(refusal)
    }

    /// The canonical list for a scope, read once per run. `Ok(None)` when the
    /// list could not be read for a reason that does not halt the run.
    fn listed(&mut self, scope: Scope) -> Result<Option<&HashSet<Address>>, Failure> {
        if !self.lists.contains_key(&scope) {
            match self.client.list(scope) {
                Ok(entries) => {
                    let set = entries
                        .iter()
                        .filter_map(|e| e.addr.parse::<Address>().ok())
                        .collect();
                    self.lists.insert(scope, set);
                }
                Err(f) if f.stops_run() => {
                    self.halted = Some(f.clone());
                    return Err(f);
                }
                Err(_) => return Ok(None),
            }
        }
        Ok(self.lists.get(&scope))
    }

    fn note_done(&mut self, job: &Job) {
        if let Some(set) = self.lists.get_mut(&job.scope) {
            match job.call {
                Call::Add => set.insert(job.address),
                Call::Delete => set.remove(&job.address),
            };
        }
    }
}

fn verb(call: Call) -> &'static str {
    match call {
        Call::Add => "add of",
        Call::Delete => "delete of",
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
