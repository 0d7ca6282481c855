//! The batch driver: makes a run's calls on each LoadMaster in its own
//! thread, over a few kept-alive connections each; records the answers as
//! they come (in batches, so a crash loses little), shows progress for
//! long runs, and sums up the failures per LoadMaster.
//!
//! Each LoadMaster halts on its own (see [`super::Executor`]): one that is
//! down, slow or refusing leaves its own calls pending and never delays
//! the recording of the others' answers by more than [`GATHER`].

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::domain::comment::CommentPrefix;
use crate::domain::entry::{self, Applied, Claim};
use crate::domain::health::Health;
use crate::domain::loadmaster_name::LoadMasterName;
use crate::enforcement::EnforcementPoint;
use crate::error::{Error, Kind, Result};
use crate::exit::ExitStatus;
use crate::loadmaster::Failure;
use crate::state::{self, Store};

use super::{Executor, Job, RunShared};

/// The answers of one run's LoadMaster calls.
pub(crate) struct RunResults {
    pub(crate) results: Vec<(Job, std::result::Result<Applied, Failure>)>,
    /// The failure that halted each LoadMaster that halted.
    pub(crate) halted: Vec<(LoadMasterName, Failure)>,
}

impl RunResults {
    /// Calls that failed and stay pending (refusals for good excluded), on
    /// one LoadMaster (`None`: on all).
    fn failures_on(&self, lm: Option<LoadMasterName>) -> usize {
        self.results
            .iter()
            .filter(|(j, _)| lm.is_none_or(|lm| j.loadmaster == lm))
            .filter(|(_, r)| r.as_ref().is_err_and(|f| !f.is_permanent()))
            .count()
    }

    /// Report every call the LoadMaster refused for good, naming the
    /// address and the scope, on standard error (and in the log); exit 4
    /// when there was one. `several`: name the LoadMaster too.
    pub(crate) fn report_rejections(&self, several: bool) -> ExitStatus {
        let mut status = ExitStatus::Success;
        for (job, result) in &self.results {
            if let Err(f @ Failure::Permanent { .. }) = result {
                // A refused add makes the entry `rejected`; a refused
                // removal ends the block here (entry::reject).
                let recorded = match job.call {
                    entry::Call::Add => "recorded as rejected",
                    entry::Call::Delete => "its block is recorded as ended",
                };
                let line = format!(
                    "{} ({}): rejected: {f}; {recorded} (`lmguard list --all` shows it)",
                    job.address,
                    job.scope.on(job.loadmaster, several)
                );
                crate::logging::failure(&line);
                status = ExitStatus::InputRejected;
            }
        }
        status
    }
}

/// Where a run records the answers: the state database, opened for each
/// batch (the lock is held only while recording), under this run's claim.
pub(crate) struct Recorder<'a> {
    pub(crate) claim: &'a Claim,
    pub(crate) open: &'a dyn Fn() -> Result<Store>,
}

/// A LoadMaster a run calls.
pub(crate) struct Point<'a> {
    pub(crate) name: LoadMasterName,
    pub(crate) point: &'a dyn EnforcementPoint,
    /// Connections kept alive at once for its bulk work.
    pub(crate) connections: usize,
}

/// How many calls a LoadMaster's thread makes before it hands their
/// answers to the recorder: a crash loses (leaves pending) at most the
/// acknowledged calls of the batches gathered into one transaction (those
/// that arrive within [`GATHER`]).
const RECORD_BATCH: usize = 256;

/// After one LoadMaster's answers arrive, how long the recorder waits for
/// the others' before it records what it has: the answers of a block on
/// several LoadMasters go into one transaction, and a slow one never holds
/// the others' back for longer than this.
const GATHER: Duration = Duration::from_millis(50);

/// What a LoadMaster's thread hands the recorder: a batch's answers, and
/// what was heard from the LoadMaster by then.
struct Delivery {
    loadmaster: LoadMasterName,
    heard: Health,
    answered: Answered,
}

/// Make the calls, each on its job's LoadMaster, recording the answers in
/// batches. Every LoadMaster is served by its own thread, its batches
/// spread over up to its `connections`; a failure that halts one
/// LoadMaster stops only its calls. Jobs for a LoadMaster not in `points`
/// are not made (they stay pending). Shows progress on a terminal for long
/// runs.
///
/// `down`: LoadMasters found down shortly before in this run (a stream's
/// earlier batch): their calls are not made (they stay pending, with that
/// failure), so a dead LoadMaster costs a long-lived stream one timeout
/// now and then, not one per batch.
pub(crate) fn apply_and_record(
    points: &[Point<'_>],
    comment_prefix: &CommentPrefix,
    recorder: &Recorder<'_>,
    jobs: Vec<Job>,
    down: &[(LoadMasterName, Failure)],
) -> Result<RunResults> {
    let total = jobs.len();
    let mut per_point: Vec<Vec<Job>> = points.iter().map(|_| Vec::new()).collect();
    for job in jobs {
        if let Some(i) = points.iter().position(|p| p.name == job.loadmaster) {
            per_point[i].push(job);
        }
    }
    let progress = Progress::new(total);
    let mut results = Vec::with_capacity(total);
    let (tx, rx) = mpsc::channel::<Delivery>();
    let halted = std::thread::scope(|scope| -> Result<Vec<(LoadMasterName, Failure)>> {
        let handles: Vec<_> = points
            .iter()
            .zip(per_point)
            .filter(|(_, jobs)| !jobs.is_empty())
            .map(|(p, jobs)| {
                let tx = tx.clone();
                let down = down
                    .iter()
                    .find(|(n, _)| *n == p.name)
                    .map(|(_, f)| f.clone());
                scope.spawn(move || serve(p, comment_prefix, jobs, down, &tx))
            })
            .collect();
        drop(tx);
        let mut recorded = Ok(());
        while let Ok(first) = rx.recv() {
            let mut deliveries = vec![first];
            let deadline = Instant::now() + GATHER;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(d) => deliveries.push(d),
                    Err(_) => break,
                }
            }
            if recorded.is_ok() {
                recorded = record(recorder, &deliveries);
            }
            for d in deliveries {
                results.extend(d.answered);
            }
            progress.show(results.len());
        }
        let halted = handles
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .collect();
        recorded.map(|()| halted)
    })?;
    progress.finish();
    // Each call's record was written twice (pending, then its answer).
    state::compact_after(recorder.open, total);
    Ok(RunResults { results, halted })
}

/// One LoadMaster's calls, batch by batch, each batch's answers handed to
/// the recorder; the failure that halted it, if one did.
fn serve(
    p: &Point<'_>,
    comment_prefix: &CommentPrefix,
    jobs: Vec<Job>,
    down: Option<Failure>,
    tx: &mpsc::Sender<Delivery>,
) -> Option<(LoadMasterName, Failure)> {
    let shared = RunShared::default();
    if let Some(failure) = down {
        log::info!(
            "LoadMaster {} failed earlier in this run ({failure}); {} call(s) left pending for now",
            p.name,
            jobs.len()
        );
        *super::lock(&shared.halted) = Some(failure);
    }
    let threads = p.connections.max(1);
    let mut jobs = jobs.into_iter().peekable();
    while jobs.peek().is_some() {
        let batch: Vec<Job> = jobs.by_ref().take(RECORD_BATCH).collect();
        let answered = run_batch(p.point, comment_prefix, &shared, batch, threads);
        let delivery = Delivery {
            loadmaster: p.name,
            heard: p.point.heard(),
            answered,
        };
        if tx.send(delivery).is_err() {
            break;
        }
    }
    shared.halted().map(|f| (p.name, f))
}

type Answered = Vec<(Job, std::result::Result<Applied, Failure>)>;

/// One batch of calls over up to `threads` connections (one thread, and no
/// thread spawned, for small batches).
fn run_batch(
    point: &dyn EnforcementPoint,
    prefix: &CommentPrefix,
    shared: &RunShared,
    batch: Vec<Job>,
    threads: usize,
) -> Answered {
    let run = |jobs: Vec<Job>| -> Answered {
        let mut executor = Executor::new(point, prefix, shared);
        jobs.into_iter()
            .map(|job| {
                let r = executor.run(&job);
                (job, r)
            })
            .collect()
    };
    let threads = threads.min(batch.len() / 8).max(1);
    if threads == 1 {
        return run(batch);
    }
    let mut shares: Vec<Vec<Job>> = vec![Vec::new(); threads];
    for (i, job) in batch.into_iter().enumerate() {
        shares[i % threads].push(job);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|share| scope.spawn(|| run(share)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Record batches' answers, and what was heard from each LoadMaster (in
/// the same transaction: `stats` costs no extra commit).
///
/// The commit is lazy (not flushed; the orderly close of the store right
/// after flushes it): the pending record made before the calls is durable,
/// and losing this one to a kill -9 or a power cut in between leaves those
/// entries pending with a claim whose process is gone, so the next sweep
/// sends the same idempotent request again and settles it — the LoadMaster
/// ends as it would have. docs/benchmarks.md has the whole argument;
/// tests/crash.rs kills a block between the LoadMaster's change and its
/// answer.
fn record(recorder: &Recorder<'_>, deliveries: &[Delivery]) -> Result<()> {
    let store = (recorder.open)()?;
    let now = crate::clock::unix_now();
    let claim = recorder.claim;
    store.update_lazily(|txn| {
        for d in deliveries {
            txn.note_health(d.loadmaster, &d.heard)?;
            for (job, result) in &d.answered {
                let Some(current) = txn.get(job.loadmaster, job.scope, &job.address)? else {
                    continue;
                };
                let done = match result {
                    Err(Failure::Permanent { status, message }) => {
                        entry::reject(current, claim, format!("{message} (code {status})"), now)
                    }
                    _ => {
                        let outcome = result.clone().map_err(|f| f.to_string());
                        entry::complete(current, claim, job.call, outcome, now)
                    }
                };
                if let Some(done) = done {
                    txn.put(&done)?;
                }
            }
        }
        Ok(())
    })
}

/// `applied 1200/10000` on standard error, only on a terminal and only for
/// long runs.
struct Progress {
    total: usize,
    enabled: bool,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            total,
            enabled: total >= 1_000 && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }

    fn show(&self, done: usize) {
        if self.enabled {
            eprint!("\rlmguard: LoadMaster calls {done}/{}", self.total);
        }
    }

    fn finish(&self) {
        if self.enabled {
            eprintln!();
        }
    }
}

/// The final status and message of a run that had LoadMaster failures:
/// the LoadMasters left behind, each with how many calls and why (named
/// when `several` are configured).
pub(crate) fn loadmaster_problem(applied: &RunResults, what: &str, several: bool) -> Option<Error> {
    let mut behind: Vec<LoadMasterName> = Vec::new();
    for (job, result) in &applied.results {
        if result.as_ref().is_err_and(|f| !f.is_permanent()) && !behind.contains(&job.loadmaster) {
            behind.push(job.loadmaster);
        }
    }
    if behind.is_empty() {
        return None;
    }
    let parts: Vec<String> = behind
        .iter()
        .map(|lm| {
            let cause = applied
                .halted
                .iter()
                .find(|(n, _)| n == lm)
                .map(|(_, f)| f.to_string())
                .or_else(|| {
                    applied.results.iter().find_map(|(j, r)| {
                        r.as_ref()
                            .err()
                            .filter(|f| j.loadmaster == *lm && !f.is_permanent())
                            .map(|f| f.to_string())
                    })
                })
                .unwrap_or_default();
            let failed = applied.failures_on(Some(*lm));
            if several {
                format!("LoadMaster \"{lm}\": {failed} {what} could not be applied ({cause})")
            } else {
                format!("{failed} {what} could not be applied ({cause})")
            }
        })
        .collect();
    Some(Error::new(
        Kind::LoadMaster,
        format!(
            "{}; they are recorded as pending and `lmguard sweep` will retry them",
            parts.join("; ")
        ),
    ))
}
