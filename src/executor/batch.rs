//! The batch driver: makes a run's calls over a few kept-alive
//! connections, records the answers as they come (in batches, so a crash
//! loses little), shows progress for long runs, and sums up the failures.

use crate::domain::comment::CommentPrefix;
use crate::domain::entry::{self, Applied, Claim};
use crate::enforcement::EnforcementPoint;
use crate::error::{Error, Kind, Result};
use crate::exit::ExitStatus;
use crate::loadmaster::Failure;
use crate::state::{self, Store, DEFAULT_LOADMASTER};

use super::{Executor, Job, RunShared};

/// The answers of one run's LoadMaster calls.
pub(crate) struct RunResults {
    pub(crate) results: Vec<(Job, std::result::Result<Applied, Failure>)>,
    pub(crate) halted: Option<Failure>,
}

impl RunResults {
    /// Calls that failed and stay pending (refusals for good excluded).
    pub(crate) fn failures(&self) -> usize {
        self.results
            .iter()
            .filter(|(_, r)| r.as_ref().is_err_and(|f| !f.is_permanent()))
            .count()
    }

    /// Report every call the LoadMaster refused for good, naming the
    /// address and the scope, on standard error (and in the log); exit 4
    /// when there was one.
    pub(crate) fn report_rejections(&self) -> ExitStatus {
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
                    job.scope.list_name()
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

/// How many answers are recorded per transaction in bulk work: a crash
/// loses (leaves pending) at most this many acknowledged calls.
const RECORD_BATCH: usize = 256;

/// Make the calls, recording the answers in batches. Each batch is spread
/// over up to `connections` threads, each with its own kept-alive
/// connection; a failure that halts the run stops them all. Shows progress
/// on a terminal for long runs.
pub(crate) fn apply_and_record(
    point: &dyn EnforcementPoint,
    comment_prefix: &CommentPrefix,
    connections: usize,
    recorder: &Recorder<'_>,
    jobs: Vec<Job>,
) -> Result<RunResults> {
    let shared = RunShared::default();
    let threads = connections.max(1);
    let total = jobs.len();
    let progress = Progress::new(total);
    let mut results = Vec::with_capacity(total);
    let mut jobs = jobs.into_iter().peekable();
    while jobs.peek().is_some() {
        let batch: Vec<Job> = jobs.by_ref().take(RECORD_BATCH).collect();
        let answered = run_batch(point, comment_prefix, &shared, batch, threads);
        record(recorder, point, &answered)?;
        results.extend(answered);
        progress.show(results.len());
    }
    progress.finish();
    // Each call's record was written twice (pending, then its answer).
    state::compact_after(recorder.open, total);
    Ok(RunResults {
        results,
        halted: shared.halted(),
    })
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

/// Record a batch's answers, and what was heard from the LoadMaster (in
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
fn record(recorder: &Recorder<'_>, point: &dyn EnforcementPoint, batch: &Answered) -> Result<()> {
    let store = (recorder.open)()?;
    let now = crate::clock::unix_now();
    let claim = recorder.claim;
    store.update_lazily(|txn| {
        txn.note_health(DEFAULT_LOADMASTER, &point.heard())?;
        for (job, result) in batch {
            let Some(current) = txn.get(job.scope, &job.address)? else {
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

/// The final status and message of a run that had LoadMaster failures.
pub(crate) fn loadmaster_problem(applied: &RunResults, what: &str) -> Option<Error> {
    let failed = applied.failures();
    if failed == 0 {
        return None;
    }
    let cause = applied
        .halted
        .as_ref()
        .map(|f| f.to_string())
        .or_else(|| {
            applied.results.iter().find_map(|(_, r)| {
                r.as_ref()
                    .err()
                    .filter(|f| !f.is_permanent())
                    .map(|f| f.to_string())
            })
        })
        .unwrap_or_default();
    Some(Error::new(
        Kind::LoadMaster,
        format!(
            "{failed} {what} could not be applied ({cause}); they are recorded as pending and \
             `lmguard sweep` will retry them"
        ),
    ))
}
