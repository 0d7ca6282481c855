//! `lmguard block`: addresses from the command line, or event sources from
//! standard input.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read};

use crate::cli::BlockArgs;
use crate::config::Config;
use crate::domain::address::Address;
use crate::domain::entry::{apply_block, Applied, BlockRequest, Call, Decision, Scope};
use crate::domain::event::{self, Event};
use crate::domain::policy::Refusal;
use crate::domain::severity::Severity;
use crate::error::{Error, Result};
use crate::executor::{list_name, Job};
use crate::exit::ExitStatus;
use crate::loadmaster::Failure;

use super::{
    apply_and_record, comment_for, loadmaster_problem, print_dry_run, short_time, Context,
};

/// Counts for the closing summary line.
#[derive(Debug, Default)]
struct Tally {
    blocked: usize,
    extended: usize,
    in_flight: usize,
    allowlisted: usize,
    filtered: usize,
    rejected: usize,
    pending: usize,
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

    let client = if args.dry_run || requests.is_empty() {
        None
    } else {
        Some(ctx.client()?)
    };

    // Phase 1: record every request (pending where the LoadMaster must act).
    let mut jobs = Vec::new();
    let mut decided = Vec::new();
    let mut decide = |existing, req: &BlockRequest| {
        let (entry, decision) =
            apply_block(existing, req, ctx.now, ctx.claim, &|c| ctx.claim_is_live(c));
        if decision == Decision::Send(Call::Add) {
            jobs.push(Job {
                scope: entry.scope,
                address: entry.address,
                call: Call::Add,
                comment: comment_for(
                    &ctx.config.block.comment_prefix,
                    entry.event_id.as_deref(),
                    &entry.reason,
                ),
            });
        }
        decided.push((entry.clone(), decision));
        entry
    };
    if args.dry_run {
        let store = ctx.open_existing_store()?;
        for req in &requests {
            let existing = match &store {
                Some(s) => s.get(req.scope, &req.address)?,
                None => None,
            };
            decide(existing, req);
        }
        drop(store);
        print_dry_run(&ctx.config.loadmaster.endpoint(), &jobs);
        for (entry, decision) in &decided {
            if *decision == Decision::Extended {
                println!("would extend {} ({}) locally", entry.address, entry.scope);
            }
        }
        return Ok(finish(&tally, ExitStatus::Success, true));
    }
    if !requests.is_empty() {
        let store = ctx.open_store()?;
        store.update(|txn| {
            for req in &requests {
                let existing = txn.get(req.scope, &req.address)?;
                let entry = decide(existing, req);
                txn.put(&entry)?;
            }
            Ok(())
        })?;
    }

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

    for (entry, decision) in &decided {
        let until = entry.expires_at.map_or("permanently".to_string(), |t| {
            format!("until {} UTC", short_time(t))
        });
        let scope = list_name(entry.scope);
        let address = entry.address;
        match (decision, answers.get(&(entry.scope, address))) {
            (Decision::Send(_), Some(Err(_))) => {
                tally.pending += 1;
                println!("pending   {address} ({scope}) {until} — will be retried by sweep");
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
                println!("blocked   {address} ({scope}) {until} — {}", entry.reason);
            }
            (Decision::Extended, _) => {
                tally.extended += 1;
                println!("extended  {address} ({scope}) {until} — {}", entry.reason);
            }
            (Decision::InFlightElsewhere | Decision::LocalOnly | Decision::Nothing, _) => {
                tally.in_flight += 1;
                println!(
                    "recorded  {address} ({scope}) {until} — another lmguard process is sending it"
                );
            }
        }
    }

    let mut status = ExitStatus::Success;
    if let Some(problem) = applied
        .as_ref()
        .and_then(|a| loadmaster_problem(a, "block(s)"))
    {
        eprintln!("lmguard: {problem}");
        status = status.worst(problem.status());
    }
    Ok(finish(&tally, status, false))
}

fn finish(tally: &Tally, status: ExitStatus, dry_run: bool) -> ExitStatus {
    let mut status = status;
    if !dry_run {
        println!(
            "blocked {}, extended {}, skipped {} (allowlist {}, filters {}), rejected {}, pending {}",
            tally.blocked,
            tally.extended + tally.in_flight,
            tally.allowlisted + tally.filtered,
            tally.allowlisted,
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
) -> Result<Vec<BlockRequest>> {
    let config = &ctx.config;
    let scope = ctx.scope(args.vs);
    let duration = args.duration.unwrap_or(config.block.duration);
    let policy = config.block.policy();
    let filter = AdsFilter::new(config);
    let mut seen = HashSet::new();
    let mut requests = Vec::new();
    let mut admit = |address: Address,
                     reason: String,
                     event_id: Option<String>,
                     what: &str,
                     tally: &mut Tally| {
        match policy.admit(address, args.force && !args.addresses.is_empty()) {
            Ok(address) => {
                if seen.insert(address) {
                    requests.push(BlockRequest {
                        address,
                        scope,
                        duration,
                        reason,
                        event_id,
                    });
                }
            }
            Err(Refusal::Allowlisted(why)) => {
                tally.allowlisted += 1;
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
