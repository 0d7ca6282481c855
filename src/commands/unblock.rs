//! `lmguard unblock`: remove blocks by hand, remotely and locally — named
//! by address, or selected by filters (a detection that misfired). Both
//! go through the same plan and the same calls.

use crate::cli::UnblockArgs;
use crate::clock::short_time;
use crate::confirm;
use crate::domain::address::Address;
use crate::domain::entry::{
    apply_removal, Applied, Call, Decision, Entry, Removal, Scope, Status, Target,
};
use crate::domain::filter::Filter;
use crate::domain::loadmaster_name::LoadMasterName;
use crate::error::{Error, Result};
use crate::executor::batch::loadmaster_problem;
use crate::executor::Job;
use crate::exit::ExitStatus;
use crate::state::{DryRun, Read};

use super::{Clients, Context, Count};

/// What unblocking the requested addresses means for the recorded state.
#[derive(Default)]
struct Plan {
    store: Vec<Entry>,
    jobs: Vec<Job>,
    notes: Vec<String>,
    /// Addresses asked for that have no record on any selected LoadMaster:
    /// nothing was done for them.
    no_record: usize,
    /// Unblocked locally only: the LoadMaster entry is someone else's and
    /// is left alone.
    left_alone: Vec<Target>,
    /// Recorded, but another lmguard process is sending the entry now
    /// (their LoadMasters).
    in_flight: Vec<Target>,
    /// Deletes `mode = "simulate"` keeps from being sent.
    withheld: Vec<Job>,
}

/// A requested (LoadMaster, scope, address) and its record, if it has one.
type Found = (LoadMasterName, Scope, Address, Option<Entry>);

/// `elsewhere`: every entry of an address that has no record in its scope
/// (read only when there is such an address), to name where it is blocked.
/// An address with a record on some selected LoadMaster is unblocked there;
/// only one with a record on none has "no record".
fn plan(ctx: &Context, found: Vec<Found>, elsewhere: &[Entry]) -> Plan {
    let mut plan = Plan::default();
    // One requested address, whether a LoadMaster has it recorded as typed
    // or as the network `ipv6_prefix` widened it to (see `find`).
    let policy = ctx.config.block.policy();
    let asked = |a: &Address| policy.widen(*a);
    let recorded: std::collections::HashSet<Address> = found
        .iter()
        .filter(|(_, _, _, e)| e.is_some())
        .map(|(_, _, a, _)| asked(a))
        .collect();
    let mut noted: std::collections::HashSet<Address> = Default::default();
    // The lists looked in (each selected LoadMaster's scope).
    let mut looked: Vec<(LoadMasterName, Scope)> = found.iter().map(|f| (f.0, f.1)).collect();
    looked.sort();
    looked.dedup();
    for (lm, scope, address, entry) in found {
        let Some(entry) = entry else {
            if recorded.contains(&asked(&address)) {
                log::debug!(
                    "{address} has no record in the {} list",
                    ctx.where_(lm, scope)
                );
            } else if noted.insert(address) {
                plan.notes
                    .push(not_found_note(ctx, &looked, scope, &address, elsewhere));
                plan.no_record += 1;
            }
            continue;
        };
        let scope_name = ctx.where_(lm, scope);
        let was = entry.status;
        let (next, decision) = apply_removal(entry, Removal::Unblocked, ctx.now, ctx.claim, &|c| {
            ctx.claim_is_live(c)
        });
        match decision {
            Decision::Send(_) if ctx.config.block.simulate() => {
                // mode = "simulate" calls nothing: the entry stays as it is.
                plan.withheld.push(Job::for_entry(
                    &next,
                    Call::Delete,
                    &ctx.config.block.comment_prefix,
                ));
                continue;
            }
            Decision::Send(_) => plan.jobs.push(Job::for_entry(
                &next,
                Call::Delete,
                &ctx.config.block.comment_prefix,
            )),
            Decision::LocalOnly if was == Status::Rejected => plan.notes.push(format!(
                "unblocked {address} ({scope_name}) locally — the LoadMaster had refused it, so \
                 there is nothing to remove"
            )),
            Decision::LocalOnly if next.simulated => plan.notes.push(format!(
                "unblocked {address} ({scope_name}) — a simulated block; nothing to remove from \
                 the LoadMaster"
            )),
            Decision::LocalOnly => {
                plan.left_alone.push(next.target());
                plan.notes.push(format!(
                    "left alone {address} ({scope_name}): its LoadMaster entry is not lmguard's \
                     ({}); unblocked locally",
                    next.held_by_other.as_deref().unwrap_or("")
                ))
            }
            Decision::InFlightElsewhere => {
                plan.in_flight.push(next.target());
                plan.notes.push(format!(
                    "{address} ({scope_name}): another lmguard process is sending it; the \
                     unblock is recorded and `lmguard sweep` applies it"
                ));
            }
            Decision::Extended | Decision::Nothing => plan.notes.push(format!(
                "{address} ({scope_name}) was already {}; recorded as unblocked",
                if was == Status::Expired {
                    "expired"
                } else {
                    "unblocked"
                }
            )),
        }
        plan.store.push(next);
    }
    plan
}

/// Why an address with no record in `scope` was not touched, and — when it
/// is blocked on other lists (`looked` are those looked in) — where, with
/// the command that unblocks it there (`it is blocked on VS 3: lmguard
/// unblock --vs 3 192.0.2.7`; with several LoadMasters, the command names
/// the LoadMaster, as `--vs` needs).
fn not_found_note(
    ctx: &Context,
    looked: &[(LoadMasterName, Scope)],
    scope: Scope,
    address: &Address,
    entries: &[Entry],
) -> String {
    let widened = ctx.config.block.policy().widen(*address);
    let mut places: Vec<(LoadMasterName, Scope, Address)> = entries
        .iter()
        .filter(|e| {
            !looked.contains(&(e.loadmaster, e.scope))
                && ctx.config.loadmaster(e.loadmaster).is_some()
                && e.status.is_current()
                && e.status != Status::PendingUnblock
        })
        .filter(|e| e.address == *address || e.address == widened)
        .map(|e| (e.loadmaster, e.scope, e.address))
        .collect();
    places.sort();
    places.dedup();
    let listed = scope.list_name();
    if places.is_empty() {
        return format!(
            "{address} has no record in the {listed} list; not touched (lmguard changes only \
             entries it owns)"
        );
    }
    let commands: Vec<String> = places
        .iter()
        .map(|(lm, s, a)| {
            let (on, select) = if ctx.several() {
                (format!(" on {lm}"), format!("--loadmaster {lm} "))
            } else {
                (String::new(), String::new())
            };
            match s.vs() {
                Some(n) => format!("VS {n}{on}: lmguard unblock {select}--vs {n} {a}"),
                None => format!("the global list{on}: lmguard unblock {select}{a}"),
            }
        })
        .collect();
    format!(
        "{address} has no record in the {listed} list; not touched; it is blocked on {}",
        commands.join("; ")
    )
}

/// The record of `address`: as given, or — when `ipv6_prefix` widened IPv6
/// hosts at block time — the network it was recorded as.
fn find(
    ctx: &Context,
    address: &Address,
    get: impl Fn(&Address) -> Result<Option<Entry>>,
) -> Result<(Address, Option<Entry>)> {
    if let Some(entry) = get(address)? {
        return Ok((*address, Some(entry)));
    }
    let widened = ctx.config.block.policy().widen(*address);
    if widened != *address {
        if let Some(entry) = get(&widened)? {
            return Ok((widened, Some(entry)));
        }
    }
    Ok((*address, None))
}

pub(crate) fn run(ctx: &Context, args: &UnblockArgs) -> Result<ExitStatus> {
    ctx.check_vs(args.vs)?;
    if args.addresses.is_empty() {
        return run_filtered(ctx, args);
    }
    let (addresses, rejected) = parse_addresses(&args.addresses);

    if args.dry_run {
        let store = ctx.open_existing_store()?;
        let plan = plan_for(ctx, args.vs, &addresses, &DryRun(store.as_ref()))?;
        drop(store);
        ctx.print_dry_run(&plan.jobs);
        plan.notes.iter().for_each(|n| println!("{n}"));
        return Ok(status_for(rejected, plan.no_record, ExitStatus::Success));
    }

    if addresses.is_empty() {
        return carry_out(ctx, None, Plan::default(), rejected);
    }
    // mode = "simulate" calls nothing: the plan withholds the deletes.
    let clients = if ctx.config.block.simulate() {
        None
    } else {
        Some(ctx.clients()?)
    };
    let plan = ctx.open_store()?.update(|txn| {
        let plan = plan_for(ctx, args.vs, &addresses, txn)?;
        for e in &plan.store {
            txn.put(e)?;
        }
        Ok(plan)
    })?;
    carry_out(ctx, clients.as_ref(), plan, rejected)
}

/// Bulk unblock: every active or pending block the filters select, each
/// exactly as `unblock ADDRESS` would unblock it, after the operator said
/// yes (on a terminal) or `--yes`.
/// The plan for unblocking `addresses` on every selected LoadMaster, in
/// the scope `vs` names there (else its default), read through `state`:
/// the same for a dry run (a read-only view) and the real run (its write
/// transaction).
fn plan_for(
    ctx: &Context,
    vs: Option<u32>,
    addresses: &[Address],
    state: &dyn Read,
) -> Result<Plan> {
    let mut found: Vec<Found> = Vec::new();
    for a in addresses {
        for &lm in &ctx.selected {
            let scope = ctx.scope(lm, vs);
            let (a, e) = find(ctx, a, |x| state.get(lm, scope, x))?;
            found.push((lm, scope, a, e));
        }
    }
    let elsewhere = if found.iter().any(|(_, _, _, e)| e.is_none()) {
        state.all()?
    } else {
        Vec::new()
    };
    Ok(plan(ctx, found, &elsewhere))
}

fn run_filtered(ctx: &Context, args: &UnblockArgs) -> Result<ExitStatus> {
    let filter = args.filter.filter(args.vs);
    if !filter.narrows() {
        return Err(Error::usage(
            "unblock needs addresses, or at least one of --method, --since and --reason to \
             select blocks by (--vs alone would empty a whole list); nothing was changed",
        ));
    }
    let matched = select(ctx, &filter)?;
    if matched.is_empty() {
        println!("no active or pending blocks match {filter}; nothing to unblock");
        return Ok(ExitStatus::Success);
    }
    if args.dry_run {
        for e in &matched {
            println!("would unblock {}", describe(ctx, e));
        }
        let found = matched
            .into_iter()
            .map(|e| (e.loadmaster, e.scope, e.address, Some(e)))
            .collect();
        let plan = plan(ctx, found, &[]);
        ctx.print_dry_run(&plan.jobs);
        println!(
            "would unblock {} block(s) matching {filter}",
            plan.store.len()
        );
        return Ok(ExitStatus::Success);
    }
    if !args.yes && !agreed(ctx, &matched, &filter)? {
        println!("nothing was unblocked");
        return Ok(ExitStatus::Success);
    }

    let clients = ctx.clients()?;
    let plan = ctx.open_store()?.update(|txn| {
        // What was shown, as it is now: a block that ended or changed
        // since then no longer counts.
        let mut found = Vec::with_capacity(matched.len());
        for e in &matched {
            if let Some(now) = txn.get(e.loadmaster, e.scope, &e.address)? {
                if now.status.is_current() && filter.matches(&now, ctx.now) {
                    found.push((e.loadmaster, e.scope, e.address, Some(now)));
                }
            }
        }
        let plan = plan(ctx, found, &[]);
        for e in &plan.store {
            txn.put(e)?;
        }
        Ok(plan)
    })?;
    carry_out(ctx, Some(&clients), plan, 0)
}

/// The active and pending blocks `filter` selects, in a stable order.
fn select(ctx: &Context, filter: &Filter) -> Result<Vec<Entry>> {
    let mut entries = match ctx.open_existing_store()? {
        Some(store) => store.all()?,
        None => Vec::new(),
    };
    entries.retain(|e| {
        e.status.is_current() && ctx.is_selected(e.loadmaster) && filter.matches(e, ctx.now)
    });
    entries.sort_by_key(|e| (e.blocked_at, e.scope, e.address, e.loadmaster));
    Ok(entries)
}

/// `192.0.2.7 (global), blocked 2026-11-30 04:10, SCANS Port scanning`.
fn describe(ctx: &Context, e: &Entry) -> String {
    format!(
        "{} ({}), blocked {} UTC, {}",
        e.address,
        ctx.where_(e.loadmaster, e.scope),
        short_time(e.blocked_at),
        crate::domain::event::printable(&e.reason)
    )
}

/// How many blocks of a bulk unblock are shown before asking.
const EXAMPLES: usize = 5;

/// Ask the operator on the terminal; off a terminal, refuse (exit 2): a
/// script must say `--yes`.
fn agreed(ctx: &Context, matched: &[Entry], filter: &Filter) -> Result<bool> {
    let n = matched.len();
    if let Some(why) = confirm::why_not_ask() {
        return Err(Error::usage(format!(
            "{n} block(s) match {filter}; unblocking them by filter needs --yes when {why} \
             (nothing was changed; --dry-run lists them)"
        )));
    }
    let mut text = format!("{n} active or pending block(s) match {filter}:\n");
    for e in matched.iter().take(EXAMPLES) {
        text.push_str(&format!("  {}\n", describe(ctx, e)));
    }
    if n > EXAMPLES {
        text.push_str(&format!(
            "  … and {} more (--dry-run lists them all)\n",
            n - EXAMPLES
        ));
    }
    text.push_str(&format!("Unblock all {n}? [y/N] "));
    confirm::ask(&text)
}

/// Call the LoadMaster for what `plan` decided, and report: one line per
/// address, then the summary line.
fn carry_out(
    ctx: &Context,
    clients: Option<&Clients>,
    plan: Plan,
    rejected: usize,
) -> Result<ExitStatus> {
    // With -q, nothing on standard output when all is well; a block that
    // stays pending is still said, on standard error.
    let say = |line: String| {
        if !ctx.quiet {
            println!("{line}");
        }
    };
    plan.notes.iter().for_each(|n| say(n.to_string()));
    ctx.print_simulated(&plan.withheld);

    let mut status = ExitStatus::Success;
    // Recorded without a call (local only, already ended): unblocked, or
    // left alone when the LoadMaster entry is someone else's.
    let mut unblocked = Count::default();
    let mut left_alone = Count::default();
    let mut pending = Count::default();
    let sent: std::collections::HashSet<_> = plan.jobs.iter().map(Job::target).collect();
    for e in &plan.store {
        if plan.left_alone.contains(&e.target()) {
            left_alone.add(e.loadmaster);
        } else if !sent.contains(&e.target()) && !plan.in_flight.contains(&e.target()) {
            unblocked.add(e.loadmaster);
        }
    }
    plan.in_flight
        .iter()
        .for_each(|(lm, _, _)| pending.add(*lm));
    if let (Some(clients), false) = (clients, plan.jobs.is_empty()) {
        let applied = ctx.apply(clients, plan.jobs, None)?;
        for (job, result) in &applied.results {
            let (address, lm) = (job.address, job.loadmaster);
            let scope = ctx.where_(lm, job.scope);
            match result {
                Ok(Applied::HeldByOther(comment)) => {
                    left_alone.add(lm);
                    say(format!(
                        "left alone {address} ({scope}): its LoadMaster entry is not lmguard's \
                         ({comment}); unblocked locally"
                    ));
                }
                Ok(Applied::Done) => {
                    unblocked.add(lm);
                    say(format!("unblocked {address} ({scope})"));
                }
                Err(f) if f.is_permanent() => {
                    unblocked.add(lm);
                    say(format!("unblocked {address} ({scope}) locally — {f}"));
                }
                Err(f) => {
                    pending.add(lm);
                    let line =
                        format!("pending   {address} ({scope}) — {f}; `lmguard sweep` will retry");
                    if ctx.quiet {
                        eprintln!("{line}");
                    } else {
                        println!("{line}");
                    }
                }
            }
        }
        if let Some(problem) = loadmaster_problem(&applied, "unblock(s)", ctx.several()) {
            crate::logging::failure(&problem.to_string());
            status = problem.code();
        }
    }
    // One count per outcome, each address in exactly one of them, in the
    // words of the lines above.
    say(format!(
        "unblocked {}, left alone {}, pending {}, no record {}, rejected {rejected}",
        unblocked.show(ctx),
        left_alone.show(ctx),
        pending.show(ctx),
        plan.no_record
    ));
    Ok(status_for(rejected, plan.no_record, status))
}

/// Exit 4 when an address asked for was not one (`rejected`) or has no
/// record to unblock (`no_record`), with one line saying which.
fn status_for(rejected: usize, no_record: usize, status: ExitStatus) -> ExitStatus {
    let mut problems = Vec::new();
    if no_record > 0 {
        problems.push(format!(
            "{no_record} address(es) have no record, so nothing was unblocked for them"
        ));
    }
    if rejected > 0 {
        problems.push(format!("{rejected} argument(s) are not addresses"));
    }
    if problems.is_empty() {
        return status;
    }
    eprintln!(
        "lmguard: {} (see above); the rest was processed",
        problems.join("; ")
    );
    status.worst(ExitStatus::InputRejected)
}

/// Parse addresses given as arguments; bad ones are reported on stderr.
fn parse_addresses(inputs: &[String]) -> (Vec<Address>, usize) {
    let mut good = Vec::new();
    let mut bad = 0;
    for input in inputs {
        match input.parse::<Address>() {
            Ok(a) => {
                if !good.contains(&a) {
                    good.push(a);
                }
            }
            Err(e) => {
                crate::logging::failure(&format!("rejected: {e}"));
                bad += 1;
            }
        }
    }
    (good, bad)
}
