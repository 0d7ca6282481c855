//! `lmguard sweep`: lift expired blocks and retry pending work.

use crate::cli::SweepArgs;
use crate::domain::entry::{plan_sweep, Call, Entry, Status};
use crate::error::Result;
use crate::executor::Job;
use crate::exit::ExitStatus;

use super::{apply_and_record, comment_for, loadmaster_problem, print_dry_run, Context};

/// The entries to change and the calls to make.
fn plan(ctx: &Context, entries: Vec<Entry>) -> (Vec<Entry>, Vec<Job>) {
    let mut changed = Vec::new();
    let mut jobs = Vec::new();
    for entry in entries {
        let Some((next, call)) = plan_sweep(&entry, ctx.now, ctx.claim, &|c| ctx.claim_is_live(c))
        else {
            continue;
        };
        jobs.push(Job {
            scope: next.scope,
            address: next.address,
            call,
            comment: comment_for(
                &ctx.config.block.comment_prefix,
                next.event_id.as_deref(),
                &next.reason,
            ),
        });
        changed.push(next);
    }
    (changed, jobs)
}

pub fn run(ctx: &Context, args: &SweepArgs) -> Result<ExitStatus> {
    if args.dry_run {
        let entries = match ctx.open_existing_store()? {
            Some(store) => store.all()?,
            None => Vec::new(),
        };
        let (_, jobs) = plan(ctx, entries);
        print_dry_run(&ctx.config.loadmaster.endpoint(), &jobs);
        return Ok(ExitStatus::Success);
    }
    let client = ctx.client()?;
    let store = ctx.open_store()?;
    let (changed, jobs) = store.update(|txn| {
        let (changed, jobs) = plan(ctx, txn.all()?);
        for e in &changed {
            txn.put(e)?;
        }
        Ok((changed, jobs))
    })?;
    drop(store);

    let expiring = changed
        .iter()
        .filter(|e| {
            e.status == Status::PendingUnblock
                && e.removal == Some(crate::domain::entry::Removal::Expired)
        })
        .count();
    let applied = apply_and_record(ctx, &client, jobs)?;
    let count = |call: Call, ok: bool| {
        applied
            .results
            .iter()
            .filter(|(j, r)| j.call == call && r.is_ok() == ok)
            .count()
    };
    println!(
        "removed {} (of {expiring} expired or unblocked), added {} pending block(s), still pending {}",
        count(Call::Delete, true),
        count(Call::Add, true),
        applied.failures()
    );
    match loadmaster_problem(&applied, "operation(s)") {
        Some(problem) => {
            eprintln!("lmguard: {problem}");
            Ok(problem.status())
        }
        None => Ok(ExitStatus::Success),
    }
}
