//! `lmguard unblock`: remove blocks by hand, remotely and locally.

use crate::cli::UnblockArgs;
use crate::domain::address::Address;
use crate::domain::entry::{apply_removal, Call, Decision, Entry, Removal, Scope, Status};
use crate::error::Result;
use crate::executor::{list_name, Job};
use crate::exit::ExitStatus;

use super::{apply_and_record, loadmaster_problem, parse_addresses, print_dry_run, Context};

/// What unblocking the requested addresses means for the recorded state.
#[derive(Default)]
struct Plan {
    store: Vec<Entry>,
    jobs: Vec<Job>,
    notes: Vec<String>,
    not_owned: usize,
    /// Recorded, but another lmguard process is sending the entry now.
    in_flight: usize,
}

/// `elsewhere`: every entry of an address that has no record in `scope`
/// (read only when there is such an address), to name where it is blocked.
fn plan(
    ctx: &Context,
    scope: Scope,
    found: Vec<(Address, Option<Entry>)>,
    elsewhere: &[Entry],
) -> Plan {
    let mut plan = Plan::default();
    for (address, entry) in found {
        let Some(entry) = entry else {
            plan.notes
                .push(not_found_note(ctx, scope, &address, elsewhere));
            plan.not_owned += 1;
            continue;
        };
        let was = entry.status;
        let (next, decision) = apply_removal(entry, Removal::Unblocked, ctx.now, ctx.claim, &|c| {
            ctx.claim_is_live(c)
        });
        match decision {
            Decision::Send(_) => plan.jobs.push(Job {
                scope,
                address,
                call: Call::Delete,
                comment: String::new(),
            }),
            Decision::LocalOnly if next.simulated => plan.notes.push(format!(
                "unblocked {address} ({}) — a simulated block; nothing to remove from the \
                 LoadMaster",
                list_name(scope)
            )),
            Decision::LocalOnly => plan.notes.push(format!(
                "unblocked {address} ({}) locally; its LoadMaster entry belongs to someone else \
                 ({}) and is left alone",
                list_name(scope),
                next.held_by_other.as_deref().unwrap_or("")
            )),
            Decision::InFlightElsewhere => {
                plan.in_flight += 1;
                plan.notes.push(format!(
                    "{address}: another lmguard process is sending it; the unblock is recorded \
                     and `lmguard sweep` applies it"
                ));
            }
            Decision::Extended | Decision::Nothing => plan.notes.push(format!(
                "{address} ({}) was already {}; recorded as unblocked",
                list_name(scope),
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
/// is blocked on other scopes — where, with the command that unblocks it
/// there (`it is blocked on VS 3: lmguard unblock --vs 3 192.0.2.7`).
fn not_found_note(ctx: &Context, scope: Scope, address: &Address, entries: &[Entry]) -> String {
    let widened = ctx.config.block.policy().widen(*address);
    let mut scopes: Vec<(Scope, Address)> = entries
        .iter()
        .filter(|e| e.scope != scope && e.status.is_current() && e.status != Status::PendingUnblock)
        .filter(|e| e.address == *address || e.address == widened)
        .map(|e| (e.scope, e.address))
        .collect();
    scopes.sort();
    scopes.dedup();
    let listed = list_name(scope);
    if scopes.is_empty() {
        return format!(
            "{address} has no record in the {listed} list; not touched (lmguard changes only \
             entries it owns)"
        );
    }
    let commands: Vec<String> = scopes
        .iter()
        .map(|(s, a)| match s.vs() {
            Some(n) => format!("VS {n}: lmguard unblock --vs {n} {a}"),
            None => format!("the global list: lmguard unblock {a}"),
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

pub fn run(ctx: &Context, args: &UnblockArgs) -> Result<ExitStatus> {
    let scope = ctx.scope(args.vs);
    let (addresses, rejected) = parse_addresses(&args.addresses);

    if args.dry_run {
        let store = ctx.open_existing_store()?;
        let mut found = Vec::new();
        for a in &addresses {
            found.push(match &store {
                Some(s) => find(ctx, a, |x| s.get(scope, x))?,
                None => (*a, None),
            });
        }
        let elsewhere = match &store {
            Some(s) if found.iter().any(|(_, e)| e.is_none()) => s.all()?,
            _ => Vec::new(),
        };
        drop(store);
        let plan = plan(ctx, scope, found, &elsewhere);
        print_dry_run(&ctx.config.loadmaster.endpoint(), &plan.jobs);
        plan.notes.iter().for_each(|n| println!("{n}"));
        return Ok(status_for(rejected + plan.not_owned, ExitStatus::Success));
    }

    let client = if addresses.is_empty() {
        None
    } else {
        Some(ctx.client()?)
    };
    let plan = if addresses.is_empty() {
        Plan::default()
    } else {
        ctx.open_store()?.update(|txn| {
            let mut found = Vec::new();
            for a in &addresses {
                found.push(find(ctx, a, |x| txn.get(scope, x))?);
            }
            let elsewhere = if found.iter().any(|(_, e)| e.is_none()) {
                txn.all()?
            } else {
                Vec::new()
            };
            let plan = plan(ctx, scope, found, &elsewhere);
            for e in &plan.store {
                txn.put(e)?;
            }
            Ok(plan)
        })?
    };
    plan.notes.iter().for_each(|n| println!("{n}"));

    let mut status = ExitStatus::Success;
    let mut unblocked = plan.store.len() - plan.jobs.len() - plan.in_flight;
    let mut pending = plan.in_flight;
    if let (Some(client), false) = (&client, plan.jobs.is_empty()) {
        let applied = apply_and_record(ctx, client, plan.jobs)?;
        for (job, result) in &applied.results {
            match result {
                Ok(_) => {
                    unblocked += 1;
                    println!("unblocked {} ({})", job.address, list_name(job.scope));
                }
                Err(f) => {
                    pending += 1;
                    println!(
                        "pending   {} ({}) — {f}; `lmguard sweep` will retry",
                        job.address,
                        list_name(job.scope)
                    );
                }
            }
        }
        if let Some(problem) = loadmaster_problem(&applied, "unblock(s)") {
            eprintln!("lmguard: {problem}");
            status = problem.status();
        }
    }
    println!(
        "unblocked {unblocked}, pending {pending}, not owned {}, rejected {rejected}",
        plan.not_owned
    );
    Ok(status_for(rejected + plan.not_owned, status))
}

fn status_for(rejected: usize, status: ExitStatus) -> ExitStatus {
    if rejected > 0 {
        eprintln!(
            "lmguard: {rejected} address(es) were rejected (see above); the rest was processed"
        );
        status.worst(ExitStatus::InputRejected)
    } else {
        status
    }
}
