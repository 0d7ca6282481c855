//! The batch driver: makes a run's calls on each LoadMaster in its own
//! thread, over a few kept-alive connections each; records the answers as
//! they come (in batches, so a crash loses little), shows progress for
//! long runs, and sums up the failures per LoadMaster.
//!
//! Each LoadMaster halts on its own (see [`super::Executor`]): one that is
//! down, slow or refusing leaves its own calls pending and never delays
//! the recording of the others' answers by more than [`GATHER`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::domain::comment::CommentPrefix;
use crate::domain::entry::{self, Applied, Claim};
use crate::domain::health::Health;
use crate::domain::loadmaster_name::LoadMasterName;
use crate::enforcement::EnforcementPoint;
use crate::error::{Error, Kind, Result};
use crate::exit::ExitStatus;
use crate::loadmaster::budget::Rate;
use crate::loadmaster::Failure;
use crate::state::{self, Kept, Store, CHECK_EVERY};

use super::{Executor, Job, RunShared};

/// The answers of one run's LoadMaster calls.
pub(crate) struct RunResults {
    pub(crate) results: Vec<(Job, std::result::Result<Applied, Failure>)>,
}

impl RunResults {
    /// Calls on `lm` that failed and stay pending (refusals for good
    /// excluded).
    fn failures_on(&self, lm: LoadMasterName) -> usize {
        self.results
            .iter()
            .filter(|(j, _)| j.loadmaster == lm)
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
/// batch (the lock is held only while recording), under this run's claim —
/// or, for the first answers of a one-shot run, the store that recorded
/// the calls as pending, while it is kept (see [`Kept`]).
pub(crate) struct Recorder<'a> {
    pub(crate) claim: &'a Claim,
    pub(crate) open: Box<dyn Fn() -> Result<Store> + 'a>,
    pub(crate) kept: Kept,
    /// `-q`: no estimate, no progress bar.
    pub(crate) quiet: bool,
}

impl Recorder<'_> {
    /// The store to record answers in.
    fn store(&self) -> Result<Store> {
        match self.kept.take() {
            Some(store) => Ok(store),
            None => (self.open)(),
        }
    }

    /// The next delivery of answers, if one comes by `until`; while the
    /// store is kept, another process waiting for it gets it meanwhile.
    fn next(
        &self,
        answers: &mpsc::Receiver<Delivery>,
        until: Instant,
    ) -> std::result::Result<Delivery, mpsc::RecvTimeoutError> {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if !self.kept.is_kept() {
                return answers.recv_timeout(left);
            }
            match answers.recv_timeout(left.min(CHECK_EVERY)) {
                Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {
                    self.kept.let_go_if_due();
                }
                got => return got,
            }
        }
    }
}

/// A LoadMaster a run calls.
pub(crate) struct Point<'a> {
    pub(crate) name: LoadMasterName,
    pub(crate) point: &'a dyn EnforcementPoint,
    /// Connections kept alive at once for its bulk work.
    pub(crate) connections: usize,
    /// Its rate budget: how fast the calls can go.
    pub(crate) rate: Rate,
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

/// How long a LoadMaster's worker leaves it alone after it halted a batch
/// (unreachable, key refused, …): later batches of the run (a stream's)
/// are answered with that failure at once — they stay pending, for `sweep`
/// — instead of each waiting for its timeout.
const RETRY_DOWN_AFTER: Duration = Duration::from_secs(60);

/// How many calls a LoadMaster may be behind before a stream waits for it
/// (bounds the memory its queue takes).
const BACKLOG: usize = 10_000;

/// Make the calls, each on its job's LoadMaster, recording the answers in
/// batches (see [`Workers`]); every answer is awaited. Jobs for a
/// LoadMaster not in `points` are not made (they stay pending). Shows
/// progress on a terminal for long runs.
pub(crate) fn apply_and_record(
    points: &[Point<'_>],
    comment_prefix: &CommentPrefix,
    recorder: &Recorder<'_>,
    jobs: Vec<Job>,
) -> Result<RunResults> {
    let total = jobs.len();
    let counts: Vec<(LoadMasterName, Rate, usize)> = points
        .iter()
        .map(|p| {
            let n = jobs.iter().filter(|j| j.loadmaster == p.name).count();
            (p.name, p.rate, n)
        })
        .collect();
    let long = expected_time(&counts).is_some() || total >= 1_000;
    let results = std::thread::scope(|scope| {
        let mut workers = Workers::start(scope, points, comment_prefix);
        workers.progress = Progress::new(total, long && !recorder.quiet);
        workers.submit(jobs);
        workers.finish(recorder)
    })?;
    // A store still kept (no answer came to record) would hold up the
    // compaction's own open.
    drop(recorder.kept.take());
    // Each call's record was written twice (pending, then its answer).
    state::compact_after(&*recorder.open, total);
    Ok(results)
}

/// The threads that make a run's calls: one per LoadMaster, each with its
/// own queue, its own halt and its own kept-alive connections, living as
/// long as the run (a stream's batches are handed to the same ones). The
/// run's thread records the answers as they come, gathering what arrives
/// within [`GATHER`] into one transaction: one down, slow or refusing
/// LoadMaster holds back neither the others' calls nor their records.
pub(crate) struct Workers<'scope> {
    queues: Vec<(LoadMasterName, mpsc::Sender<Vec<Job>>)>,
    /// Set by [`Workers::stop`]: calls not made yet are not made.
    stopping: Arc<AtomicBool>,
    answers: mpsc::Receiver<Delivery>,
    /// Calls handed to each LoadMaster and not answered yet.
    outstanding: Vec<(LoadMasterName, usize)>,
    handles: Vec<std::thread::ScopedJoinHandle<'scope, ()>>,
    progress: Progress,
    answered: usize,
    /// Each LoadMaster's rate budget, to say how long the calls handed
    /// over will take.
    rates: Vec<(LoadMasterName, Rate)>,
    /// Until when the calls handed over were said to take (nothing more
    /// is said before then).
    announced_until: Option<Instant>,
}

impl<'scope> Workers<'scope> {
    /// A worker thread for each of `points`, in `scope`.
    pub(crate) fn start<'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        points: &'scope [Point<'env>],
        comment_prefix: &'scope CommentPrefix,
    ) -> Workers<'scope> {
        let (tx, answers) = mpsc::channel::<Delivery>();
        let stopping = Arc::new(AtomicBool::new(false));
        let mut queues = Vec::with_capacity(points.len());
        let mut handles = Vec::with_capacity(points.len());
        for p in points {
            let (queue, jobs) = mpsc::channel::<Vec<Job>>();
            let tx = tx.clone();
            let stopping = Arc::clone(&stopping);
            handles.push(scope.spawn(move || work(p, comment_prefix, jobs, &tx, &stopping)));
            queues.push((p.name, queue));
        }
        Workers {
            stopping,
            outstanding: queues.iter().map(|(n, _)| (*n, 0)).collect(),
            queues,
            answers,
            handles,
            progress: Progress::new(0, false),
            answered: 0,
            rates: points.iter().map(|p| (p.name, p.rate)).collect(),
            announced_until: None,
        }
    }

    /// Hand `jobs` to their LoadMasters' workers.
    pub(crate) fn submit(&mut self, jobs: Vec<Job>) {
        let mut per: Vec<Vec<Job>> = self.queues.iter().map(|_| Vec::new()).collect();
        for job in jobs {
            if let Some(i) = self.queues.iter().position(|(n, _)| *n == job.loadmaster) {
                per[i].push(job);
            }
        }
        for (i, mut jobs) in per.into_iter().enumerate() {
            super::most_urgent_first(&mut jobs);
            let n = jobs.len();
            if n > 0 && self.queues[i].1.send(jobs).is_ok() {
                self.outstanding[i].1 += n;
            }
        }
    }

    /// Record answers as they come, and return them, until every call
    /// handed over is answered or `wait` says to stop; the rest are
    /// returned by a later call.
    pub(crate) fn collect(&mut self, recorder: &Recorder<'_>, wait: Wait) -> Result<Answered> {
        self.announce(recorder.quiet);
        let start = Instant::now();
        let mut got = Vec::new();
        loop {
            if self.outstanding.iter().all(|(_, n)| *n == 0) {
                break;
            }
            let behind = self.outstanding.iter().map(|(_, n)| *n).max().unwrap_or(0);
            let bound = match wait {
                Wait::All => None,
                Wait::Patience(p) if behind <= BACKLOG => Some(p),
                Wait::Patience(_) => None,
                Wait::AtMost(d) => Some(d),
            };
            let until = match bound {
                Some(d) => {
                    if Instant::now() >= start + d {
                        break;
                    }
                    start + d
                }
                None => Instant::now() + Duration::from_secs(3600),
            };
            let first = match recorder.next(&self.answers, until) {
                Ok(d) => d,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                // Every worker is gone: nothing more will come.
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut deliveries = vec![first];
            // Others' answers, while calls are still out (a stream's
            // workers outlive its batches: waiting for nothing would
            // hold every batch's record back by GATHER).
            let deadline = Instant::now() + GATHER;
            while self.still_out(&deliveries) {
                match recorder.next(&self.answers, deadline) {
                    Ok(d) => deliveries.push(d),
                    Err(_) => break,
                }
            }
            record(recorder, &deliveries)?;
            for d in deliveries {
                if let Some((_, n)) = self
                    .outstanding
                    .iter_mut()
                    .find(|(n, _)| *n == d.loadmaster)
                {
                    *n = n.saturating_sub(d.answered.len());
                }
                self.answered += d.answered.len();
                got.extend(d.answered);
            }
            self.progress.show(self.answered);
        }
        Ok(got)
    }

    /// Say how long the calls handed over take at the rate budget, when
    /// that is long (once, until that time has passed).
    fn announce(&mut self, quiet: bool) {
        if self.announced_until.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let calls: Vec<(LoadMasterName, Rate, usize)> = self
            .rates
            .iter()
            .zip(&self.outstanding)
            .map(|((name, rate), (_, n))| (*name, *rate, *n))
            .collect();
        if let Some((takes, text)) = expected_time(&calls) {
            self.announced_until = Some(Instant::now() + takes);
            log::info!("{text}");
            if !quiet {
                eprintln!("lmguard: {text}");
            }
        }
    }

    /// Whether calls handed over are still unanswered once `deliveries`
    /// are counted.
    fn still_out(&self, deliveries: &[Delivery]) -> bool {
        let out: usize = self.outstanding.iter().map(|(_, n)| n).sum();
        let delivered: usize = deliveries.iter().map(|d| d.answered.len()).sum();
        out > delivered
    }

    /// The run was stopped (a signal): calls not made yet are answered
    /// [`Failure::Stopped`] at once (they stay pending, for `sweep`); those
    /// on their way are awaited.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// No more calls: await and record every answer, and end the workers.
    pub(crate) fn finish(mut self, recorder: &Recorder<'_>) -> Result<RunResults> {
        self.queues.clear();
        let results = self.collect(recorder, Wait::All)?;
        self.progress.finish();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
        Ok(RunResults { results })
    }
}

/// How long [`Workers::collect`] waits for the calls handed over.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Until every one is answered.
    All,
    /// A stream's batch: at most this long, once no LoadMaster is more
    /// than [`BACKLOG`] calls behind (until then, for it to catch up).
    Patience(Duration),
    /// At most this long, whatever the backlog.
    AtMost(Duration),
}

/// One LoadMaster's worker: its queue's batches, in order, each's answers
/// handed to the recorder in chunks of [`RECORD_BATCH`]. After a batch
/// halted (the LoadMaster is down or refuses us), later batches are
/// answered with that failure without a call for [`RETRY_DOWN_AFTER`].
fn work(
    p: &Point<'_>,
    comment_prefix: &CommentPrefix,
    queue: mpsc::Receiver<Vec<Job>>,
    tx: &mpsc::Sender<Delivery>,
    stopping: &AtomicBool,
) {
    let threads = p.connections.max(1);
    let mut down: Option<(Instant, Failure)> = None;
    for jobs in queue {
        let shared = RunShared::default();
        match &down {
            Some((at, failure)) if at.elapsed() < RETRY_DOWN_AFTER => {
                log::info!(
                    "LoadMaster {} failed earlier in this run ({failure}); {} call(s) left \
                     pending for now",
                    p.name,
                    jobs.len()
                );
                *super::lock(&shared.halted) = Some(failure.clone());
            }
            _ => down = None,
        }
        let mut jobs = jobs.into_iter().peekable();
        while jobs.peek().is_some() {
            let batch: Vec<Job> = jobs.by_ref().take(RECORD_BATCH).collect();
            let answered = run_batch(p.point, comment_prefix, &shared, batch, threads, stopping);
            let delivery = Delivery {
                loadmaster: p.name,
                heard: p.point.heard(),
                answered,
            };
            if tx.send(delivery).is_err() {
                return;
            }
        }
        if down.is_none() {
            down = shared.halted().map(|f| (Instant::now(), f));
        }
    }
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
    stopping: &AtomicBool,
) -> Answered {
    let run = |jobs: Vec<Job>| -> Answered {
        let mut executor = Executor::new(point, prefix, shared);
        jobs.into_iter()
            .map(|job| {
                let r = if stopping.load(Ordering::SeqCst) {
                    Err(Failure::Stopped)
                } else {
                    executor.run(&job)
                };
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
    let store = recorder.store()?;
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

/// A run is long when its calls take at least this long at the rate
/// budget: it says so first.
const LONG_RUN: Duration = Duration::from_secs(10);

/// How long `calls` calls to each LoadMaster take at its rate budget,
/// when that is long (see [`LONG_RUN`]): the longest, and a line saying so
/// (`10000 calls to the LoadMaster at 25/3s (its rate budget): about 20m`).
fn expected_time(calls: &[(LoadMasterName, Rate, usize)]) -> Option<(Duration, String)> {
    let mut parts = Vec::new();
    let mut longest = Duration::ZERO;
    for (name, rate, n) in calls {
        let takes = rate.time_for(*n as u64);
        if takes >= LONG_RUN {
            longest = longest.max(takes);
            let to = if calls.len() > 1 {
                format!("LoadMaster \"{name}\"")
            } else {
                "the LoadMaster".to_string()
            };
            parts.push(format!(
                "{n} calls to {to} at {rate} (its rate budget): about {}",
                crate::domain::duration::format_span(takes.as_secs().max(1))
            ));
        }
    }
    (!parts.is_empty()).then(|| (longest, parts.join("; ")))
}

/// A progress bar on standard error for long runs, only on a terminal.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(total: usize, long: bool) -> Progress {
        let bar = (long && total > 0 && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(
            || {
                let bar = indicatif::ProgressBar::with_draw_target(
                    Some(total as u64),
                    indicatif::ProgressDrawTarget::stderr(),
                );
                let style = indicatif::ProgressStyle::with_template(
                    "lmguard: LoadMaster calls [{bar:30}] {pos}/{len} ({eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar
            },
        );
        Progress { bar }
    }

    fn show(&self, done: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
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
            // The failure that halted that LoadMaster, if one did (the
            // calls after it carry the same), else its first one.
            let failures = || {
                applied.results.iter().filter_map(|(j, r)| {
                    r.as_ref()
                        .err()
                        .filter(|f| j.loadmaster == *lm && !f.is_permanent())
                })
            };
            let cause = failures()
                .find(|f| f.stops_run())
                .or_else(|| failures().next())
                .map(|f| f.to_string())
                .unwrap_or_default();
            let failed = applied.failures_on(*lm);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::address::Address;
    use crate::domain::entry::{Call, Scope};
    use crate::domain::loadmaster_name::DEFAULT;
    use crate::enforcement::Describe;
    use crate::loadmaster::ListedEntry;

    /// A device that takes every call at once.
    struct Prompt;

    impl Describe for Prompt {
        fn describe(&self, _: Call, _: Scope, _: &str, _: &str) -> String {
            String::new()
        }
    }

    impl EnforcementPoint for Prompt {
        fn add(&self, _: Scope, _: &str, _: &str) -> std::result::Result<(), Failure> {
            Ok(())
        }
        fn delete(&self, _: Scope, _: &str) -> std::result::Result<(), Failure> {
            Ok(())
        }
        fn list(&self, _: Scope) -> std::result::Result<Vec<ListedEntry>, Failure> {
            Ok(Vec::new())
        }
        fn respell(&self, _: &Address, _: &Failure) -> Option<String> {
            None
        }
        fn heard(&self) -> Health {
            Health::default()
        }
    }

    fn job(addr: &str) -> Job {
        Job {
            loadmaster: DEFAULT,
            scope: Scope::Global,
            address: addr.parse().unwrap(),
            call: Call::Add,
            comment: "lmguard".into(),
            record: Default::default(),
            retry: false,
        }
    }

    #[test]
    fn long_work_says_how_long_it_takes_at_the_budget() {
        use crate::domain::loadmaster_name::LoadMasterName;
        let (_, text) = expected_time(&[(DEFAULT, Rate::DEFAULT, 10_000)]).unwrap();
        assert_eq!(
            text,
            "10000 calls to the LoadMaster at 25/3s (its rate budget): about 20m"
        );
        // Short work says nothing.
        assert!(expected_time(&[(DEFAULT, Rate::DEFAULT, 80)]).is_none());
        // Several LoadMasters: each named, the longest counts.
        let brno = LoadMasterName::parse("brno").unwrap();
        let twelve = Rate::parse("12/3s").unwrap();
        let (longest, text) =
            expected_time(&[(DEFAULT, Rate::DEFAULT, 5), (brno, twelve, 1_200)]).unwrap();
        assert_eq!(longest, Duration::from_secs(300));
        assert_eq!(
            text,
            "1200 calls to LoadMaster \"brno\" at 12/3s (its rate budget): about 5m"
        );
    }

    #[test]
    fn a_streams_batch_is_recorded_once_its_answers_are_in() {
        // A stream's workers outlive its batches: once every call of a
        // batch is answered, its answers are recorded at once, not after
        // waiting GATHER for answers that cannot come (ADS's one event on
        // standard input waited 50 ms for nothing).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let claim = Claim {
            pid: 1,
            started: 0,
            token: 1,
            until: i64::MAX,
        };
        let recorder = Recorder {
            claim: &claim,
            open: Box::new(|| Store::open(&path, Duration::from_secs(10))),
            kept: Kept::nothing(),
            quiet: true,
        };
        let prefix = CommentPrefix::parse("lmguard").unwrap();
        let points = [Point {
            name: DEFAULT,
            point: &Prompt,
            connections: 1,
            rate: Rate::DEFAULT,
        }];
        let took: Vec<Duration> = std::thread::scope(|scope| {
            let mut workers = Workers::start(scope, &points, &prefix);
            let took = (0..3)
                .map(|i| {
                    let start = Instant::now();
                    workers.submit(vec![job(&format!("192.0.2.{i}"))]);
                    let got = workers
                        .collect(&recorder, Wait::Patience(Duration::from_secs(5)))
                        .unwrap();
                    assert_eq!(got.len(), 1);
                    start.elapsed()
                })
                .collect();
            workers.finish(&recorder).unwrap();
            took
        });
        // Each batch is far quicker than GATHER; allow for one stall of a
        // busy machine.
        assert!(took.iter().any(|t| *t < GATHER), "{took:?}");
    }
}
