//! `lmguard block`: addresses from the command line, or event sources from
//! standard input.
//!
//! Guardrails, in the order they apply: the ADS filters (`[ads]`), the
//! built-in protections and the allowlist and prefix limits
//! (`Config::admission_policy`), `max_active`, then repeat-offender
//! escalation of the duration; `[block] mode = "simulate"` records what
//! would be blocked without calling the LoadMaster.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::time::Duration;

use crate::cli::BlockArgs;
use crate::clock::short_time;
use crate::config::Config;
use crate::domain::address::Address;
use crate::domain::duration::BlockDuration;
use crate::domain::entry::{
    apply_block_in, Applied, BlockMode, BlockRequest, Call, Decision, Entry, Scope, Target,
};
use crate::domain::escalation::{self, Escalation};
use crate::domain::event::printable;
use crate::domain::event::{Event, LineEnds};
use crate::domain::loadmaster_name::LoadMasterName;
use crate::domain::policy::{Policy, Refusal};
use crate::domain::severity::Severity;
use crate::error::{Error, Result};
use crate::executor::batch::{loadmaster_problem, RunResults, Wait, Workers};
use crate::executor::Job;
use crate::exit::ExitStatus;
use crate::loadmaster::Failure;
use crate::state::{DryRun, Kept, Plan, Store};

use super::{Context, Count};

mod stream;

/// Counts for the closing summary line.
#[derive(Debug, Default)]
struct Tally {
    blocked: Count,
    simulated: Count,
    /// Extended, or recorded while another process sends it.
    extended: Count,
    allowlisted: usize,
    protected: usize,
    filtered: usize,
    rejected: usize,
    over_limit: usize,
    /// Addresses named on the command line that the allowlist refused:
    /// counted under "allowlist", and an operator's explicit request that
    /// was not done (exit 4).
    refused_by_allowlist: usize,
    pending: Count,
}

/// One admitted request, and what to call it in messages (`line 3`, or the
/// address as typed).
#[derive(Clone)]
struct Admitted {
    req: BlockRequest,
    what: String,
    /// `--force` let it past the allowlist: a later `sweep` does not lift it.
    forced: bool,
}

/// Where the report lines go: standard output, or standard error with
/// `--confirm` (standard output then carries only the answers).
#[derive(Clone, Copy)]
struct Out {
    /// `--confirm`: standard output belongs to rsyslog's protocol.
    confirm: bool,
    /// `-q`: nothing on standard output when all is well.
    quiet: bool,
}

impl Out {
    /// A line of the report.
    fn say(&self, line: std::fmt::Arguments<'_>) {
        if self.quiet {
            return;
        }
        if self.confirm {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    /// A line about an address lmguard could not apply: part of the report,
    /// and on standard error when the report is silenced.
    fn problem(&self, line: std::fmt::Arguments<'_>) {
        if self.quiet || self.confirm {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
}

/// `stdin_is_terminal`: nobody is piping events in, so reading them would
/// just hang.
pub(crate) fn run(
    ctx: &mut Context,
    args: &BlockArgs,
    stdin: impl Read + Send + 'static,
    stdin_is_terminal: bool,
) -> Result<ExitStatus> {
    ctx.check_vs(args.vs)?;
    // ADS runs one `block` per event: a call that cannot get its slot in
    // the rate budget within the timeout stays pending, for `sweep`.
    ctx.rate_wait_bounded = true;
    let out = Out {
        confirm: args.confirm,
        quiet: ctx.quiet,
    };
    let mut report = Report::new(out);
    let mut admission = Admission::new(ctx, args);

    if !args.addresses.is_empty() {
        let reason = given_reason(args).unwrap_or_else(|| "manual block".to_string());
        for input in &args.addresses {
            match input.parse::<Address>() {
                Ok(a) => {
                    let cause = Cause {
                        reason: reason.clone(),
                        event_id: None,
                        priority: None,
                    };
                    admission.admit(a, cause, input, &mut report.tally);
                }
                Err(e) => {
                    report.tally.rejected += 1;
                    crate::logging::failure(&format!("rejected: {e}"));
                }
            }
        }
        let requests = admission.take();
        let clients = ctx.clients_for(args.dry_run || requests.is_empty())?;
        let mut calls = |jobs: Vec<Job>, recorded_in: Option<Store>| match &clients {
            Some(clients) => ctx.apply(clients, jobs, recorded_in).map(|r| r.results),
            None => Ok(Vec::new()),
        };
        let status = apply(
            ctx,
            args,
            requests,
            true,
            &mut report,
            &mut calls,
            || Ok(()),
        )?;
        return Ok(report.end(ctx, status, args.dry_run));
    }

    if stdin_is_terminal {
        return Err(Error::usage(
            "no address given and standard input is a terminal; name addresses to block, or \
             pipe ADS events in (lmguard block < events.tsv)",
        ));
    }
    let filter = AdsFilter::new(&ctx.config);
    let mut status = ExitStatus::Success;
    // One client and one worker thread per LoadMaster for the whole
    // stream: a slow LoadMaster's calls queue up behind each other, never
    // the others' (see `Workers`).
    let clients = ctx.clients_for(args.dry_run)?;
    let mut confirm = args.confirm.then(Confirm::default);
    if let Some(confirm) = &mut confirm {
        // rsyslog waits for this before it sends the first message: it
        // says that the configuration, the key (read above) and the state
        // are usable. Otherwise lmguard ends here, and rsyslog starts it
        // again later.
        drop(ctx.open_store()?);
        confirm.ready()?;
    }
    let points = clients.as_ref().map(|c| ctx.points(c)).unwrap_or_default();
    let prefix = ctx.config.block.comment_prefix.clone();
    // Calls made in the run: each rewrote its record (pending, then its
    // answer), which leaves old pages in the file (see `state::compact_after`).
    let mut calls_made = 0;
    let ended = std::thread::scope(|scope| -> Result<stream::Ended> {
        let mut workers = Workers::start(scope, &points, &prefix);
        // With --confirm, a line is a syslog message, answered once: a CR
        // inside it never makes a second one.
        let ends = if args.confirm {
            LineEnds::Lf
        } else {
            LineEnds::Any
        };
        let ended = stream::run(stdin, args.input.into(), ends, |lines, last| {
            // A stream may run for days: each batch is decided at its own time.
            ctx.tick();
            let fates: Vec<Fate> = lines
                .into_iter()
                .map(|line| admission.line(line, args, &filter, &mut report.tally))
                .collect();
            let requests = admission.take();
            let ctx = &*ctx;
            let mut calls = |jobs: Vec<Job>, recorded_in: Option<Store>| {
                calls_made += jobs.len();
                workers.submit(jobs);
                let recorder = ctx.recorder(Kept::new(recorded_in));
                workers.collect(&recorder, Wait::Patience(STREAM_PATIENCE))
            };
            // The input's last batch may keep the store for its answers as
            // a one-shot run does: nothing more is read meanwhile. Not with
            // --confirm: its answers may wait on the daemon.
            let keep = last && !args.confirm;
            let mut answered = false;
            let mut busy = ExitStatus::Success;
            let applied = loop {
                let attempt = apply(
                    ctx,
                    args,
                    requests.clone(),
                    keep,
                    &mut report,
                    &mut calls,
                    || {
                        answered = true;
                        match &mut confirm {
                            Some(confirm) => confirm.answer(&fates, None),
                            None => Ok(()),
                        }
                    },
                );
                match attempt {
                    // Without --confirm (syslog-ng's program()) nobody sends
                    // these lines again: the batch is kept, and recorded once
                    // the state is free (more input waits meanwhile). Not
                    // once the input has ended (ADS's one-shot `block`): that
                    // ends with exit 5 after the lock timeout, as documented.
                    Err(e)
                        if confirm.is_none()
                            && !last
                            && !answered
                            && e.kind() == crate::error::Kind::StateBusy =>
                    {
                        crate::logging::failure(&format!(
                            "{}; the {} event(s) of this batch are kept and recorded once the \
                             state is free",
                            e.message(),
                            requests.len()
                        ));
                        busy = e.code();
                        std::thread::sleep(STATE_BUSY_PAUSE);
                    }
                    other => break other,
                }
            };
            status = status.worst(busy);
            let batch = match (applied, &mut confirm) {
                (Ok(batch), _) => batch,
                // The batch's events could not be recorded: rsyslog keeps
                // each message answered so and sends it again later; the
                // stream goes on (the state may be free by then).
                (Err(e), Some(confirm)) if !answered && e.is_state() => {
                    crate::logging::failure(&format!(
                        "{}; the event(s) of this batch were not recorded, rsyslog sends \
                         them again",
                        e.message()
                    ));
                    confirm.answer(&fates, Some(e.message()))?;
                    e.code()
                }
                // The batch is recorded (and answered): what failed is
                // recording the LoadMaster's answers. Its entries stay
                // pending, `sweep` completes them; the stream goes on.
                (Err(e), _) if answered && e.is_state() => {
                    crate::logging::failure(&format!(
                        "{}; the LoadMaster's answers to this batch are not recorded, its \
                         entries stay pending for `lmguard sweep`",
                        e.message()
                    ));
                    e.code()
                }
                (Err(e), _) => return Err(e),
            };
            status = status.worst(batch);
            Ok(())
        })?;
        // What is still on its way: awaited, recorded and reported — after
        // a signal for a moment only, then what is not sent yet stays
        // pending (for sweep), so that a slow LoadMaster's queue does not
        // keep the process from ending.
        let ctx = &*ctx;
        let recorder = ctx.recorder(Kept::nothing());
        if ended == stream::Ended::Signal {
            let answers = workers.collect(&recorder, Wait::AtMost(stream::GRACE))?;
            status = status.worst(report.answers(ctx, answers));
            workers.stop();
        }
        let late = workers.finish(&recorder)?;
        status = status.worst(report.answers(ctx, late.results));
        Ok(ended)
    })?;
    crate::state::compact_after(&|| ctx.open_store(), calls_made);
    if ended == stream::Ended::Signal {
        log::info!("stopped by a signal; everything read was recorded");
    }
    Ok(report.end(ctx, status, args.dry_run))
}

/// rsyslog's `confirmMessages` protocol on standard output: `OK` once
/// lmguard is ready to read (rsyslog waits for it), then `OK` for each line
/// dealt with for good — its event recorded, skipped, or rejected (reported
/// on standard error and in the log: rsyslog sending it again could not
/// help, and would hold back every message behind it). A line is answered
/// otherwise only when its event could not be recorded ([`Fate::ToRecord`]
/// when the state failed): rsyslog keeps it and sends it again.
#[derive(Default)]
struct Confirm;

impl Confirm {
    /// The first `OK`: ready to read.
    fn ready(&mut self) -> Result<()> {
        self.write("OK\n")
    }

    /// One answer per line of a batch; `failed` is why its events could
    /// not be recorded, if they could not.
    fn answer(&mut self, fates: &[Fate], failed: Option<&str>) -> Result<()> {
        let mut text = String::with_capacity(fates.len() * 3);
        for fate in fates {
            match (fate, failed) {
                (Fate::ToRecord(line), Some(why)) => text.push_str(&one_line_reason(&format!(
                    "line {line} not recorded, send it again: {why}"
                ))),
                _ => text.push_str("OK"),
            }
            text.push('\n');
        }
        self.write(&text)
    }

    fn write(&mut self, text: &str) -> Result<()> {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| {
                Error::internal(format!(
                    "cannot answer on standard output ({e}); what was read is recorded, \
                     `lmguard sweep` completes it"
                ))
            })
    }
}

/// A failure as one line that cannot be mistaken for `OK` or one of
/// rsyslog's keywords: `error: line 3 …`, without line breaks.
/// `--reason` as recorded and shown: text a person reads back, cleaned as
/// event text is (bidirectional controls dropped, control characters such
/// as ESC made spaces), so that no output shows it reordered or coloured.
fn given_reason(args: &BlockArgs) -> Option<String> {
    args.reason
        .as_deref()
        .map(|r| printable(r).trim().to_string())
}

fn one_line_reason(why: &str) -> String {
    let flat: String = why
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("error: {}", flat.trim())
}

/// Without `--confirm`, how long a stream waits before it tries again to
/// record a batch the state was too busy for (each try waits for the lock
/// up to `[state] lock_timeout` as well).
const STATE_BUSY_PAUSE: Duration = Duration::from_millis(200);

/// How long a stream's batch waits for the LoadMasters' answers before the
/// next batch is read: a slow LoadMaster's answers are reported when they
/// come, and hold back neither the others' nor the input.
const STREAM_PATIENCE: Duration = Duration::from_millis(250);

/// The answers of a run's LoadMaster calls, as they come.
type Answers = Vec<(Job, std::result::Result<Applied, Failure>)>;

/// Records `requests` and tells the LoadMaster (or, with `--dry-run`,
/// prints what would be done). `recorded` runs once the requests are
/// recorded locally (or refused), before the LoadMaster is called.
/// `calls` makes the calls and returns
/// the answers that have come (all of them, or — in a stream — those that
/// came within its patience; `report` keeps the others' lines for later).
/// With `keep_store` (a one-shot run, or the last batch of an input that
/// has ended), `calls` is handed the store the requests were recorded in,
/// to be kept for their answers; otherwise it is closed first (a stream
/// holds the lock only while it records).
fn apply(
    ctx: &Context,
    args: &BlockArgs,
    requests: Vec<Admitted>,
    keep_store: bool,
    report: &mut Report,
    calls: &mut dyn FnMut(Vec<Job>, Option<Store>) -> Result<Answers>,
    recorded: impl FnOnce() -> Result<()>,
) -> Result<ExitStatus> {
    let simulate = ctx.config.block.simulate();

    // Phase 1: record every request (pending where the LoadMaster must act).
    let mut planner = Planner::new(ctx, simulate, args.vs);
    if args.dry_run {
        // A dry run may not write: it plans over a read-only view.
        let store = ctx.open_existing_store()?;
        planner.decide_all(&requests, &mut report.tally, &mut DryRun(store.as_ref()))?;
        drop(store);
        ctx.print_dry_run(&planner.jobs);
        for d in &planner.decided {
            let address = d.entry.address;
            let scope = ctx.where_(d.entry.loadmaster, d.entry.scope);
            match d.decision {
                Decision::Extended => println!("would extend {address} ({scope}) locally"),
                Decision::LocalOnly => println!(
                    "would record {address} ({scope}) as a simulated block (mode = \"simulate\")"
                ),
                _ => {}
            }
        }
        recorded()?;
        return Ok(ExitStatus::Success);
    }
    let mut recorded_in = None;
    if !requests.is_empty() {
        let store = ctx.open_store()?;
        store.update(|txn| planner.decide_all(&requests, &mut report.tally, txn))?;
        recorded_in = keep_store.then_some(store);
    }
    recorded()?;
    let Planner { jobs, decided, .. } = planner;
    // Phase 2: tell the LoadMaster, then record its answers.
    let answers = if jobs.is_empty() {
        drop(recorded_in);
        Vec::new()
    } else {
        calls(jobs, recorded_in)?
    };
    for d in decided {
        report.decided(ctx, d);
    }
    Ok(report.answers(ctx, answers))
}

/// The report of a run: a line per entry once its fate is known — at once
/// for what needs no call, when its answer comes for what does — and the
/// counts of its summary line.
struct Report {
    /// Where its lines go.
    out: Out,
    /// The counts of the summary line.
    tally: Tally,
    /// Sent, not answered yet (a stream's slow LoadMaster).
    waiting: HashMap<Target, Decided>,
}

impl Report {
    fn new(out: Out) -> Report {
        Report {
            out,
            tally: Tally::default(),
            waiting: HashMap::new(),
        }
    }

    /// An entry phase 1 decided: its line now, or when its answer comes.
    fn decided(&mut self, ctx: &Context, d: Decided) {
        let (tally, out) = (&mut self.tally, self.out);
        let (entry, lm) = (&d.entry, d.entry.loadmaster);
        let Subject {
            address,
            scope,
            until,
            repeat,
        } = d.subject(ctx);
        match d.decision {
            Decision::Send(_) => {
                self.waiting.insert(entry.target(), d);
            }
            Decision::LocalOnly => {
                tally.simulated.add(lm);
                out.say(format_args!(
                    "simulated {address} ({scope}) {until}{repeat} — {} (mode = \"simulate\": \
                     recorded only, the LoadMaster was not called)",
                    printable(&entry.reason)
                ));
            }
            Decision::Extended => {
                tally.extended.add(lm);
                out.say(format_args!(
                    "extended  {address} ({scope}) {until} — {}",
                    printable(&entry.reason)
                ));
            }
            Decision::InFlightElsewhere | Decision::Nothing => {
                tally.extended.add(lm);
                // A stream's own call of an earlier batch may still be on
                // its way to a slow LoadMaster.
                let who = if entry.is_claimed_by(&ctx.claim) {
                    "this run is still sending it (an earlier batch)"
                } else {
                    "another lmguard process is sending it"
                };
                out.say(format_args!(
                    "recorded  {address} ({scope}) {until} — {who}"
                ));
            }
        }
    }

    /// Answers that came: a line for each, then the exit status they call
    /// for (rejections 4, a LoadMaster left behind 3, naming it).
    fn answers(&mut self, ctx: &Context, answers: Answers) -> ExitStatus {
        let (tally, out) = (&mut self.tally, self.out);
        if answers.is_empty() {
            return ExitStatus::Success;
        }
        for (job, answer) in &answers {
            let Some(d) = self.waiting.remove(&job.target()) else {
                continue;
            };
            let (entry, lm) = (&d.entry, d.entry.loadmaster);
            let Subject {
                address,
                scope,
                until,
                repeat,
            } = d.subject(ctx);
            match answer {
                Err(f) if f.is_permanent() => {
                    tally.rejected += 1;
                    out.problem(format_args!("rejected  {address} ({scope}) — {f}"));
                }
                Err(_) => {
                    tally.pending.add(lm);
                    out.problem(format_args!(
                        "pending   {address} ({scope}) {until}{repeat} — will be retried by sweep"
                    ));
                }
                Ok(Applied::HeldByOther(comment)) => {
                    tally.blocked.add(lm);
                    out.say(format_args!(
                        "recorded  {address} ({scope}) {until} — already blocked on the \
                         LoadMaster by an entry that is not lmguard's ({comment}); lmguard will \
                         not remove it"
                    ));
                }
                Ok(Applied::Done) => {
                    tally.blocked.add(lm);
                    out.say(format_args!(
                        "blocked   {address} ({scope}) {until}{repeat} — {}",
                        printable(&entry.reason)
                    ));
                }
            }
        }
        let applied = RunResults { results: answers };
        let mut status = applied.report_rejections(ctx.several());
        if let Some(problem) = loadmaster_problem(&applied, "block(s)", ctx.several()) {
            crate::logging::failure(&problem.to_string());
            status = status.worst(problem.code());
        }
        status
    }

    /// The end of the run, with `status` so far: a call that never got an
    /// answer (its LoadMaster's worker ended) is said to stay pending; then
    /// the summary line; the run's exit status.
    fn end(mut self, ctx: &Context, status: ExitStatus, dry_run: bool) -> ExitStatus {
        let status = status.worst(self.unanswered(ctx));
        finish(ctx, &self.tally, status, dry_run, self.out)
    }

    fn unanswered(&mut self, ctx: &Context) -> ExitStatus {
        let (tally, out) = (&mut self.tally, self.out);
        if self.waiting.is_empty() {
            return ExitStatus::Success;
        }
        let mut left: Vec<Decided> = self.waiting.drain().map(|(_, d)| d).collect();
        left.sort_by_key(|d| d.entry.target());
        for d in &left {
            tally.pending.add(d.entry.loadmaster);
            let Subject {
                address,
                scope,
                until,
                ..
            } = d.subject(ctx);
            out.problem(format_args!(
                "pending   {address} ({scope}) {until} — no answer; will be retried by sweep"
            ));
        }
        ExitStatus::LoadMaster
    }
}

/// What phase 1 decided for one request.
struct Decided {
    entry: Entry,
    decision: Decision,
    /// ` (repeat offender: block 3, 12h)` when escalation lengthened it.
    escalated: Option<String>,
}

/// What every report line about a decided entry starts from.
struct Subject<'d> {
    address: Address,
    /// `global`, `VS 3 on b`.
    scope: String,
    /// `until 2026-12-03 09:46 UTC`, or `permanently`.
    until: String,
    /// The repeat-offender note, or nothing.
    repeat: &'d str,
}

impl Decided {
    fn subject(&self, ctx: &Context) -> Subject<'_> {
        let entry = &self.entry;
        Subject {
            address: entry.address,
            scope: ctx.where_(entry.loadmaster, entry.scope),
            until: entry.expires_at.map_or("permanently".to_string(), |t| {
                format!("until {} UTC", short_time(t))
            }),
            repeat: self.escalated.as_deref().unwrap_or(""),
        }
    }
}

/// Decides each request against the recorded state: `max_active`,
/// escalation, the state transition, the call to make.
struct Planner<'c> {
    ctx: &'c Context,
    mode: BlockMode,
    escalation: Escalation,
    max_active: usize,
    /// Blocks active or pending on each LoadMaster, counted once per run
    /// when the first new block on it is planned, then kept up to date by
    /// this run.
    active: HashMap<LoadMasterName, usize>,
    /// The scope `--vs` asks for (else each LoadMaster's default).
    vs: Option<u32>,
    jobs: Vec<Job>,
    decided: Vec<Decided>,
}

impl<'c> Planner<'c> {
    fn new(ctx: &'c Context, simulate: bool, vs: Option<u32>) -> Planner<'c> {
        Planner {
            ctx,
            mode: if simulate {
                BlockMode::Simulate
            } else {
                BlockMode::Enforce
            },
            escalation: ctx.config.block.escalation(),
            max_active: ctx.config.block.max_active,
            active: HashMap::new(),
            vs,
            jobs: Vec::new(),
            decided: Vec::new(),
        }
    }

    fn counts(&self, e: &Entry) -> bool {
        e.counts_toward_limit(self.mode == BlockMode::Simulate)
    }

    /// The entry to store for `a`, or `None` when `max_active` refuses it.
    ///
    /// `count` says how many blocks count now; it is asked at most once per
    /// run, only when a request would add a block (not for extensions),
    /// inside the write transaction so that concurrent runs cannot both take
    /// the last free place. It reads an index: O(1), whatever the state size.
    /// Decide every request against the state as `state` shows it, each
    /// decision recorded before the next is made (a dry run records
    /// nothing).
    fn decide_all(
        &mut self,
        requests: &[Admitted],
        tally: &mut Tally,
        state: &mut dyn Plan,
    ) -> Result<()> {
        let simulate = self.mode == BlockMode::Simulate;
        let ctx = self.ctx;
        for a in requests {
            // Refused on one LoadMaster or on several, it is one input
            // item rejected.
            let mut refused = false;
            // One entry per selected LoadMaster, in its scope.
            for &lm in &ctx.selected {
                let req = BlockRequest {
                    loadmaster: lm,
                    scope: ctx.scope(lm, self.vs),
                    ..a.req.clone()
                };
                let existing = state.get(lm, req.scope, &req.address)?;
                let entry = self.decide(existing, a, &req, || state.count_current(lm, simulate))?;
                match entry {
                    Some(entry) => state.record(&entry)?,
                    None => refused = true,
                }
            }
            if refused {
                tally.over_limit += 1;
                tally.rejected += 1;
            }
        }
        Ok(())
    }

    fn decide(
        &mut self,
        existing: Option<Entry>,
        a: &Admitted,
        req: &BlockRequest,
        count: impl FnOnce() -> Result<usize>,
    ) -> Result<Option<Entry>> {
        let ctx = self.ctx;
        let lm = req.loadmaster;
        let adds = match &existing {
            None => true,
            Some(e) => !self.counts(e),
        };
        if adds {
            let active = match self.active.get(&lm) {
                Some(n) => *n,
                None => count()?,
            };
            if active >= self.max_active {
                self.active.insert(lm, active);
                let on = if ctx.several() {
                    format!(" on LoadMaster \"{lm}\"")
                } else {
                    String::new()
                };
                let why = format!(
                    "{}: rejected: {} not blocked{on}: the limit of {} blocks \
                     ([block] max_active) is reached, {active} are active or pending; nothing \
                     was removed to make room — raise max_active, or unblock some",
                    a.what, a.req.address, self.max_active
                );
                crate::logging::failure(&why);
                return Ok(None);
            }
            self.active.insert(lm, active + 1);
        }

        let repeats = escalation::repeats(existing.as_ref());
        let duration = self
            .escalation
            .apply(req.duration, repeats, escalation::random_unit());
        let escalated = (duration != req.duration).then(|| {
            format!(
                " (repeat offender: block {}, {})",
                repeats.saturating_add(1),
                match duration {
                    BlockDuration::For(_) => duration.to_string(),
                    BlockDuration::Permanent => "permanent".to_string(),
                }
            )
        });
        let req = BlockRequest {
            duration,
            ..req.clone()
        };
        let (mut entry, decision) =
            apply_block_in(existing, &req, self.mode, ctx.now, ctx.claim, &|c| {
                ctx.claim_is_live(c)
            });
        entry.forced = a.forced;
        if decision == Decision::Send(Call::Add) {
            self.jobs.push(Job::for_entry(
                &entry,
                Call::Add,
                &ctx.config.block.comment_prefix,
            ));
        }
        self.decided.push(Decided {
            entry: entry.clone(),
            decision,
            escalated,
        });
        Ok(Some(entry))
    }
}

/// The summary line, and the exit status it adds (input rejected: 4).
fn finish(ctx: &Context, tally: &Tally, status: ExitStatus, dry_run: bool, out: Out) -> ExitStatus {
    let simulate = ctx.config.block.simulate();
    let mut status = status;
    if !dry_run {
        let simulated = if simulate {
            format!(", simulated {}", tally.simulated.show(ctx))
        } else {
            String::new()
        };
        let over_limit = if tally.over_limit > 0 {
            format!(" ({} over max_active)", tally.over_limit)
        } else {
            String::new()
        };
        out.say(format_args!(
            "blocked {}{simulated}, extended {}, skipped {} (allowlist {}, protected {}, \
             filters {}), rejected {}{over_limit}, pending {}",
            tally.blocked.show(ctx),
            tally.extended.show(ctx),
            tally.allowlisted + tally.protected + tally.filtered,
            tally.allowlisted,
            tally.protected,
            tally.filtered,
            tally.rejected,
            tally.pending.show(ctx)
        ));
    }
    if tally.rejected > 0 {
        crate::logging::failure(&format!(
            "{} input item(s) were rejected (see the messages above); the rest was processed",
            tally.rejected
        ));
        status = status.worst(ExitStatus::InputRejected);
    }
    if tally.refused_by_allowlist > 0 {
        crate::logging::failure(&format!(
            "{} address(es) given on the command line were not blocked because the allowlist \
             covers them (see the messages above); --force blocks them anyway",
            tally.refused_by_allowlist
        ));
        status = status.worst(ExitStatus::InputRejected);
    }
    status
}

/// Turns addresses and events into block requests, deduplicated per
/// (scope, address) within a batch; reports and counts everything refused
/// on the way.
struct Admission {
    policy: Policy,
    duration: BlockDuration,
    manual: bool,
    force: bool,
    seen: HashSet<Address>,
    requests: Vec<Admitted>,
}

impl Admission {
    fn new(ctx: &Context, args: &BlockArgs) -> Admission {
        Admission {
            policy: crate::protections::admission_policy(&ctx.config),
            duration: args.duration.unwrap_or(ctx.config.block.duration),
            manual: !args.addresses.is_empty(),
            force: args.force,
            seen: HashSet::new(),
            requests: Vec::new(),
        }
    }

    /// This batch's requests; the next batch starts afresh.
    fn take(&mut self) -> Vec<Admitted> {
        self.seen.clear();
        std::mem::take(&mut self.requests)
    }

    /// Admits one address, or says why not. Returns the message of a
    /// rejection (an input error), `None` when it is admitted or skipped.
    fn admit(
        &mut self,
        address: Address,
        cause: Cause,
        what: &str,
        tally: &mut Tally,
    ) -> Option<String> {
        let manual = self.manual;
        match self.policy.admit(address, self.force && manual) {
            Ok(address) => {
                if self.seen.insert(address) {
                    let forced = self.force && manual && self.policy.recheck(&address).is_err();
                    self.requests.push(Admitted {
                        forced,
                        // The LoadMaster and scope are the planner's to
                        // set, once per selected LoadMaster.
                        req: BlockRequest {
                            loadmaster: Default::default(),
                            address,
                            scope: Scope::Global,
                            duration: self.duration,
                            reason: cause.reason,
                            event_id: cause.event_id,
                            priority: cause.priority,
                        },
                        what: what.to_string(),
                    });
                }
                None
            }
            Err(Refusal::Allowlisted(why)) => {
                tally.allowlisted += 1;
                // Asked for by hand, it is a request not done (exit 4); as
                // an event's source it is a false positive, skipped.
                if manual {
                    tally.refused_by_allowlist += 1;
                }
                let hint = if manual && !self.force {
                    " (--force overrides the allowlist for a manual block)"
                } else {
                    ""
                };
                crate::logging::failure(&format!("{what}: not blocked: {why}{hint}"));
                None
            }
            // Asked for by hand, a protected address is an input error; as
            // an event's source it is a false positive, skipped like the
            // allowlist.
            Err(Refusal::Protected(why)) if manual => {
                tally.rejected += 1;
                let why = format!("{what}: rejected: {why}");
                crate::logging::failure(&why.to_string());
                Some(why)
            }
            Err(Refusal::Protected(why)) => {
                tally.protected += 1;
                crate::logging::failure(&format!("{what}: not blocked: {why}"));
                None
            }
            Err(Refusal::TooBroad(why)) => {
                tally.rejected += 1;
                let why = format!("{what}: rejected: {why}");
                crate::logging::failure(&why.to_string());
                Some(why)
            }
        }
    }

    /// One line of standard input: reported and counted if it is rejected
    /// or skipped; what it asks of the state.
    fn line(
        &mut self,
        line: stream::Line,
        args: &BlockArgs,
        filter: &AdsFilter,
        tally: &mut Tally,
    ) -> Fate {
        let ev = match line {
            Ok(None) => return Fate::Done,
            Ok(Some(ev)) => ev,
            Err(err) => {
                tally.rejected += 1;
                crate::logging::failure(&err.to_string());
                return Fate::Done;
            }
        };
        if let Some(why) = filter.skips(&ev) {
            tally.filtered += 1;
            log::info!(
                "line {}: event {} skipped: {why}",
                ev.line,
                ev.event_id.as_deref().unwrap_or("?")
            );
            return Fate::Done;
        }
        let reason = given_reason(args).unwrap_or_else(|| ev.reason());
        let what = format!("line {}", ev.line);
        let cause = Cause {
            reason,
            priority: ev.priority(),
            event_id: ev.event_id,
        };
        let skipped = tally.allowlisted + tally.protected;
        let rejected = self.admit(ev.source, cause, &what, tally);
        if rejected.is_some() || tally.allowlisted + tally.protected > skipped {
            Fate::Done
        } else {
            Fate::ToRecord(ev.line)
        }
    }
}

/// What a line of standard input asks of the state (`--confirm` answers by
/// it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Dealt with for good without a record of its own: a blank line, an
    /// event skipped on purpose, or a rejected line (reported and counted).
    Done,
    /// An event to record (its line number): dealt with once its batch is.
    ToRecord(usize),
}

/// Why an address is to be blocked: what its block request records.
struct Cause {
    reason: String,
    event_id: Option<String>,
    priority: Option<Severity>,
}

/// `[ads] min_severity` and `methods`.
struct AdsFilter {
    min_severity: Option<Severity>,
    methods: Option<Vec<String>>,
}

impl AdsFilter {
    fn new(config: &Config) -> AdsFilter {
        AdsFilter {
            min_severity: config.ads.min_severity.as_deref().and_then(Severity::parse),
            methods: config
                .ads
                .methods
                .as_ref()
                .map(|m| m.iter().map(|s| s.to_ascii_uppercase()).collect()),
        }
    }

    /// Why an event is skipped, if it is.
    fn skips(&self, ev: &Event) -> Option<String> {
        if let (Some(methods), Some(method)) = (&self.methods, &ev.method) {
            if !methods.contains(&method.to_ascii_uppercase()) {
                return Some(format!("method {method} is not in [ads] methods"));
            }
        }
        let min = self.min_severity?;
        let Some(given) = ev.severity.as_deref() else {
            // An empty severity (a CEF header's `||`) is not "none at
            // all, so it passes": it is unknown, and said so.
            log::warn!(
                "line {}: the event has no severity; not filtered by [ads] min_severity",
                ev.line
            );
            return None;
        };
        match ev.priority() {
            Some(s) if s < min => Some(format!("severity {given} is below [ads] min_severity")),
            Some(_) => None,
            None => {
                log::warn!("line {}: unknown severity {given:?}; not filtered", ev.line);
                None
            }
        }
    }
}
