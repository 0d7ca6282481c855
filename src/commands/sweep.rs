//! `lmguard sweep`: lift expired blocks and retry pending work.

use std::collections::HashSet;

use crate::cli::SweepArgs;
use crate::domain::address::Address;
use crate::domain::entry::{
    apply_removal, plan_sweep, Call, Claim, Decision, Entry, Removal, Scope, Status,
};
use crate::domain::policy::Policy;
use crate::error::Result;
use crate::executor::{list_name, Job};
use crate::exit::ExitStatus;

use super::{apply_and_record, loadmaster_problem, print_dry_run, Context};

/// The entries to change, the calls to make, and which of those calls lift
/// a block whose expiry just passed (the rest are retries).
struct Plan {
    changed: Vec<Entry>,
    jobs: Vec<Job>,
    expiring: HashSet<(Scope, Address)>,
    /// Expired entries whose LoadMaster entry is not lmguard's.
    local_only: usize,
    /// Retries no longer admitted (allowlist, protections), for the report.
    refused: Vec<String>,
}

fn plan(ctx: &Context, policy: &Policy, entries: Vec<Entry>) -> Plan {
    let mut plan = Plan {
        changed: Vec::new(),
        jobs: Vec::new(),
        expiring: HashSet::new(),
        local_only: 0,
        refused: Vec::new(),
    };
    let live = |c: &Claim| ctx.claim_is_live(c);
    for entry in entries {
        let Some((mut next, mut call)) = plan_sweep(&entry, ctx.now, ctx.claim, &live) else {
            continue;
        };
        if call == Some(Call::Add) {
            // A retry: the allowlist or a protection may cover it by now.
            if let Err(refusal) = policy.recheck(&entry.address) {
                plan.refused.push(format!(
                    "{} ({}): not re-added: {}",
                    entry.address,
                    list_name(entry.scope),
                    refusal.reason()
                ));
                // The earlier add may have reached the LoadMaster: remove it.
                let (removed, decision) = apply_removal(
                    entry.clone(),
                    Removal::Unblocked,
                    ctx.now,
                    ctx.claim,
                    &|_| false,
                );
                next = removed;
                call = match decision {
                    Decision::Send(c) => Some(c),
                    _ => None,
                };
            }
        }
        if entry.status == Status::Active {
            plan.expiring.insert((entry.scope, entry.address));
        }
        let Some(call) = call else {
            // Expired, but the LoadMaster entry is someone else's: local only.
            plan.local_only += 1;
            plan.changed.push(next);
            continue;
        };
        plan.jobs.push(Job::for_entry(
            &next,
            call,
            &ctx.config.block.comment_prefix,
        ));
        plan.changed.push(next);
    }
    plan
}

pub fn run(ctx: &Context, args: &SweepArgs) -> Result<ExitStatus> {
    if args.dry_run {
        let entries = match ctx.open_existing_store()? {
            Some(store) => store.all()?,
            None => Vec::new(),
        };
        let plan = plan(ctx, &ctx.config.admission_policy(), entries);
        print_dry_run(&ctx.config.loadmaster.endpoint(), &plan.jobs);
        plan.refused
            .iter()
            .for_each(|r| println!("would unblock {r}"));
        return Ok(ExitStatus::Success);
    }
    let client = ctx.client()?;
    let policy = ctx.config.admission_policy();
    let plan = ctx.open_store()?.update(|txn| {
        let plan = plan(ctx, &policy, txn.due_or_pending(ctx.now)?);
        for e in &plan.changed {
            txn.put(e)?;
        }
        Ok(plan)
    })?;

    plan.refused.iter().for_each(|r| println!("{r}"));
    let applied = apply_and_record(ctx, &client, plan.jobs)?;
    let done = |expiry: bool, call: Call| {
        applied
            .results
            .iter()
            .filter(|(j, r)| {
                r.is_ok()
                    && j.call == call
                    && plan.expiring.contains(&(j.scope, j.address)) == expiry
            })
            .count()
    };
    // Cron mails any output: with --quiet the summary is left out, and
    // failures are still reported below on standard error.
    if !ctx.quiet {
        println!(
            "expired {} of {} due; retried: {} block(s) and {} unblock(s) applied; \
             still pending {}",
            done(true, Call::Delete) + plan.local_only,
            plan.expiring.len(),
            done(false, Call::Add),
            done(false, Call::Delete),
            applied.failures()
        );
    }
    match loadmaster_problem(&applied, "operation(s)") {
        Some(problem) => {
            eprintln!("lmguard: {problem}");
            Ok(problem.status())
        }
        None => Ok(ExitStatus::Success),
    }
}
