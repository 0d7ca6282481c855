//! `lmguard block`: addresses from the command line, or event sources from
//! standard input.
//!
//! Guardrails, in the order they apply: the ADS filters (`[ads]`), the
//! built-in protections and the allowlist and prefix limits
//! (`Config::admission_policy`), `max_active`, then repeat-offender
//! escalation of the duration; `[block] mode = "simulate"` records what
//! would be blocked without calling the LoadMaster.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read};

use crate::cli::BlockArgs;
use crate::config::Config;
use crate::domain::address::Address;
use crate::domain::duration::BlockDuration;
use crate::domain::entry::{
    apply_block_in, Applied, BlockMode, BlockRequest, Call, Decision, Entry, Scope,
};
use crate::domain::escalation::{self, Escalation};
use crate::domain::event::{self, Event};
use crate::domain::policy::Refusal;
use crate::domain::severity::Severity;
use crate::error::{Error, Result};
use crate::executor::{list_name, Job};
use crate::exit::ExitStatus;
use crate::loadmaster::Failure;

use super::{apply_and_record, loadmaster_problem, print_dry_run, short_time, Context};

/// Counts for the closing summary line.
#[derive(Debug, Default)]
struct Tally {
    blocked: usize,
    simulated: usize,
    extended: usize,
    in_flight: usize,
    allowlisted: usize,
    protected: usize,
    filtered: usize,
    rejected: usize,
    over_limit: usize,
    pending: usize,
}

/// One admitted request, and what to call it in messages (`line 3`, or the
/// address as typed).
struct Admitted {
    req: BlockRequest,
    what: String,
    /// `--force` let it past the allowlist: a later `sweep` does not lift it.
    forced: bool,
}

/// `stdin_is_terminal`: nobody is piping events in, so reading them would
/// just hang.
pub fn run(
    ctx: &Context,
    args: &BlockArgs,
    stdin: impl Read,
    stdin_is_terminal: bool,
) -> Result<ExitStatus> {
    let mut tally = Tally::default();
    let requests = collect_requests(ctx, args, stdin, stdin_is_terminal, &mut tally)?;
    let simulate = ctx.config.block.simulate();

    let client = if args.dry_run || simulate || requests.is_empty() {
        None
    } else {
        Some(ctx.client()?)
    };

    // Phase 1: record every request (pending where the LoadMaster must act).
    let mut planner = Planner::new(ctx, simulate);
    if args.dry_run {
        let store = ctx.open_existing_store()?;
        // A dry run may not write, so it counts by reading the state.
        let count = || match &store {
            Some(s) => Ok(s
                .all()?
                .iter()
                .filter(|e| counts_toward_limit(e, simulate))
                .count()),
            None => Ok(0),
        };
        for a in &requests {
            let existing = match &store {
                Some(s) => s.get(a.req.scope, &a.req.address)?,
                None => None,
            };
            planner.decide(existing, a, &mut tally, count)?;
        }
        drop(store);
        print_dry_run(&ctx.config.loadmaster.endpoint(), &planner.jobs);
        for d in &planner.decided {
            let (address, scope) = (d.entry.address, d.entry.scope);
            match d.decision {
                Decision::Extended => println!("would extend {address} ({scope}) locally"),
                Decision::LocalOnly => println!(
                    "would record {address} ({scope}) as a simulated block (mode = \"simulate\")"
                ),
                _ => {}
            }
        }
        return Ok(finish(&tally, ExitStatus::Success, true, simulate));
    }
    if !requests.is_empty() {
        let store = ctx.open_store()?;
        store.update(|txn| {
            for a in &requests {
                let existing = txn.get(a.req.scope, &a.req.address)?;
                let entry =
                    planner.decide(existing, a, &mut tally, || txn.count_current(simulate))?;
                if let Some(entry) = entry {
                    txn.put(&entry)?;
                }
            }
            Ok(())
        })?;
    }
    let Planner { jobs, decided, .. } = planner;

    // Phase 2: tell the LoadMaster, then record its answers.
    let applied = match (&client, jobs.is_empty()) {
        (Some(client), false) => Some(apply_and_record(ctx, client, jobs)?),
        _ => None,
    };
    let answers: HashMap<(Scope, Address), &std::result::Result<Applied, Failure>> = applied
        .iter()
        .flat_map(|a| a.results.iter())
        .map(|(j, r)| ((j.scope, j.address), r))
        .collect();

    for d in &decided {
        let entry = &d.entry;
        let until = entry.expires_at.map_or("permanently".to_string(), |t| {
            format!("until {} UTC", short_time(t))
        });
        let scope = list_name(entry.scope);
        let address = entry.address;
        let repeat = d.escalated.as_deref().unwrap_or("");
        match (d.decision, answers.get(&(entry.scope, address))) {
            (Decision::Send(_), Some(Err(f))) if f.is_permanent() => {
                tally.rejected += 1;
                println!("rejected  {address} ({scope}) — {f}");
            }
            (Decision::Send(_), Some(Err(_))) => {
                tally.pending += 1;
                println!(
                    "pending   {address} ({scope}) {until}{repeat} — will be retried by sweep"
                );
            }
            (Decision::Send(_), Some(Ok(Applied::HeldByOther(comment)))) => {
                tally.blocked += 1;
                println!(
                    "recorded  {address} ({scope}) {until} — already blocked on the LoadMaster \
                     by an entry that is not lmguard's ({comment}); lmguard will not remove it"
                );
            }
            (Decision::Send(_), _) => {
                tally.blocked += 1;
                println!(
                    "blocked   {address} ({scope}) {until}{repeat} — {}",
                    entry.reason
                );
            }
            (Decision::LocalOnly, _) => {
                tally.simulated += 1;
                println!(
                    "simulated {address} ({scope}) {until}{repeat} — {} (mode = \"simulate\": \
                     recorded only, the LoadMaster was not called)",
                    entry.reason
                );
            }
            (Decision::Extended, _) => {
                tally.extended += 1;
                println!("extended  {address} ({scope}) {until} — {}", entry.reason);
            }
            (Decision::InFlightElsewhere | Decision::Nothing, _) => {
                tally.in_flight += 1;
                println!(
                    "recorded  {address} ({scope}) {until} — another lmguard process is sending it"
                );
            }
        }
    }

    let mut status = applied
        .as_ref()
        .map_or(ExitStatus::Success, |a| a.report_rejections());
    if let Some(problem) = applied
        .as_ref()
        .and_then(|a| loadmaster_problem(a, "block(s)"))
    {
        eprintln!("lmguard: {problem}");
        status = status.worst(problem.status());
    }
    Ok(finish(&tally, status, false, simulate))
}

/// Does this entry count towards `max_active`? What is (or would be) on the
/// LoadMaster: active or pending; simulated blocks count only while
/// simulating.
fn counts_toward_limit(e: &Entry, simulating: bool) -> bool {
    e.status.is_current() && (simulating || !e.is_simulated())
}

/// What phase 1 decided for one request.
struct Decided {
    entry: Entry,
    decision: Decision,
    /// ` (repeat offender: block 3, 12h)` when escalation lengthened it.
    escalated: Option<String>,
}

/// Decides each request against the recorded state: `max_active`,
/// escalation, the state transition, the call to make.
struct Planner<'c> {
    ctx: &'c Context,
    mode: BlockMode,
    escalation: Escalation,
    max_active: usize,
    /// Blocks active or pending, counted once per run when the first new
    /// block is planned, then kept up to date by this run.
    active: Option<usize>,
    jobs: Vec<Job>,
    decided: Vec<Decided>,
}

impl<'c> Planner<'c> {
    fn new(ctx: &'c Context, simulate: bool) -> Planner<'c> {
        Planner {
            ctx,
            mode: if simulate {
                BlockMode::Simulate
            } else {
                BlockMode::Enforce
            },
            escalation: ctx.config.block.escalation(),
            max_active: ctx.config.block.max_active,
            active: None,
            jobs: Vec::new(),
            decided: Vec::new(),
        }
    }

    fn counts(&self, e: &Entry) -> bool {
        counts_toward_limit(e, self.mode == BlockMode::Simulate)
    }

    /// The entry to store for `a`, or `None` when `max_active` refuses it.
    ///
    /// `count` says how many blocks count now; it is asked at most once per
    /// run, only when a request would add a block (not for extensions),
    /// inside the write transaction so that concurrent runs cannot both take
    /// the last free place. It reads an index: O(1), whatever the state size.
    fn decide(
        &mut self,
        existing: Option<Entry>,
        a: &Admitted,
        tally: &mut Tally,
        count: impl FnOnce() -> Result<usize>,
    ) -> Result<Option<Entry>> {
        let ctx = self.ctx;
        let adds = match &existing {
            None => true,
            Some(e) => !self.counts(e),
        };
        if adds {
            let active = match self.active {
                Some(n) => n,
                None => count()?,
            };
            if active >= self.max_active {
                self.active = Some(active);
                tally.over_limit += 1;
                tally.rejected += 1;
                eprintln!(
                    "lmguard: {}: rejected: {} not blocked: the limit of {} blocks \
                     ([block] max_active) is reached, {active} are active or pending; nothing \
                     was removed to make room — raise max_active, or unblock some",
                    a.what, a.req.address, self.max_active
                );
                return Ok(None);
            }
            self.active = Some(active + 1);
        }

        let repeats = escalation::repeats(existing.as_ref());
        let duration = self
            .escalation
            .apply(a.req.duration, repeats, escalation::random_unit());
        let escalated = (duration != a.req.duration).then(|| {
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
            ..a.req.clone()
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

fn finish(tally: &Tally, status: ExitStatus, dry_run: bool, simulate: bool) -> ExitStatus {
    let mut status = status;
    if !dry_run {
        let simulated = if simulate {
            format!(", simulated {}", tally.simulated)
        } else {
            String::new()
        };
        let over_limit = if tally.over_limit > 0 {
            format!(" ({} over max_active)", tally.over_limit)
        } else {
            String::new()
        };
        println!(
            "blocked {}{simulated}, extended {}, skipped {} (allowlist {}, protected {}, \
             filters {}), rejected {}{over_limit}, pending {}",
            tally.blocked,
            tally.extended + tally.in_flight,
            tally.allowlisted + tally.protected + tally.filtered,
            tally.allowlisted,
            tally.protected,
            tally.filtered,
            tally.rejected,
            tally.pending
        );
    }
    if tally.rejected > 0 {
        eprintln!(
            "lmguard: {} input item(s) were rejected (see the messages above); the rest was processed",
            tally.rejected
        );
        status = status.worst(ExitStatus::InputRejected);
    }
    status
}

/// Turn arguments or standard input into block requests, deduplicated per
/// (scope, address); report and count everything refused on the way.
fn collect_requests(
    ctx: &Context,
    args: &BlockArgs,
    stdin: impl Read,
    stdin_is_terminal: bool,
    tally: &mut Tally,
) -> Result<Vec<Admitted>> {
    let config = &ctx.config;
    let scope = ctx.scope(args.vs);
    let duration = args.duration.unwrap_or(config.block.duration);
    let manual = !args.addresses.is_empty();
    let policy = config.admission_policy();
    let filter = AdsFilter::new(config);
    let mut seen = HashSet::new();
    let mut requests = Vec::new();
    let mut admit = |address: Address,
                     reason: String,
                     event_id: Option<String>,
                     what: &str,
                     tally: &mut Tally| {
        match policy.admit(address, args.force && manual) {
            Ok(address) => {
                if seen.insert(address) {
                    let forced = args.force && manual && policy.recheck(&address).is_err();
                    requests.push(Admitted {
                        forced,
                        req: BlockRequest {
                            address,
                            scope,
                            duration,
                            reason,
                            event_id,
                        },
                        what: what.to_string(),
                    });
                }
            }
            Err(Refusal::Allowlisted(why)) => {
                tally.allowlisted += 1;
                let hint = if manual && !args.force {
                    " (--force overrides the allowlist for a manual block)"
                } else {
                    ""
                };
                eprintln!("lmguard: {what}: not blocked: {why}{hint}");
            }
            // Asked for by hand, a protected address is an input error; as
            // an event's source it is a false positive, skipped like the
            // allowlist.
            Err(Refusal::Protected(why)) if manual => {
                tally.rejected += 1;
                eprintln!("lmguard: {what}: rejected: {why}");
            }
            Err(Refusal::Protected(why)) => {
                tally.protected += 1;
                eprintln!("lmguard: {what}: not blocked: {why}");
            }
            Err(Refusal::TooBroad(why)) => {
                tally.rejected += 1;
                eprintln!("lmguard: {what}: rejected: {why}");
            }
        }
    };

    if !args.addresses.is_empty() {
        let reason = args
            .reason
            .clone()
            .unwrap_or_else(|| "manual block".to_string());
        for input in &args.addresses {
            match input.parse::<Address>() {
                Ok(a) => admit(a, reason.clone(), None, input, tally),
                Err(e) => {
                    tally.rejected += 1;
                    eprintln!("lmguard: rejected: {e}");
                }
            }
        }
        return Ok(requests);
    }

    if stdin_is_terminal {
        return Err(Error::usage(
            "no address given and standard input is a terminal; name addresses to block, or \
             pipe ADS events in (lmguard block < events.tsv)",
        ));
    }
    let mut events = Vec::new();
    event::parse_stream(
        BufReader::with_capacity(64 * 1024, stdin),
        args.input.into(),
        |ev| events.push(ev),
        |err| {
            tally.rejected += 1;
            eprintln!("lmguard: {err}");
        },
    )
    .map_err(|e| Error::usage(format!("cannot read events from standard input: {e}")))?;
    for ev in events {
        if let Some(why) = filter.skips(&ev) {
            tally.filtered += 1;
            log::info!(
                "line {}: event {} skipped: {why}",
                ev.line,
                ev.event_id.as_deref().unwrap_or("?")
            );
            continue;
        }
        let reason = args.reason.clone().unwrap_or_else(|| ev.reason());
        let what = format!("line {}", ev.line);
        admit(ev.source, reason, ev.event_id.clone(), &what, tally);
    }
    Ok(requests)
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
        let given = ev.severity.as_deref()?;
        let severity = match ev.kind {
            event::EventKind::Ads => Severity::parse(given),
            event::EventKind::Ids => Severity::from_ids_number(given).or(Severity::parse(given)),
        };
        match severity {
            Some(s) if s < min => Some(format!("severity {given} is below [ads] min_severity")),
            Some(_) => None,
            None => {
                log::warn!("line {}: unknown severity {given:?}; not filtered", ev.line);
                None
            }
        }
    }
}
