//! `lmguard sweep`: lift expired blocks, retry pending work, and lift the
//! blocks that the allowlist (or a built-in protection) now covers.

use std::collections::HashSet;

use crate::cli::SweepArgs;
use crate::domain::entry::{
    apply_removal, plan_sweep, Applied, Call, Claim, Decision, Entry, Removal, Status, Target,
    ALLOWLISTED,
};
use crate::domain::loadmaster_name::LoadMasterName;
use crate::domain::policy::Policy;
use crate::error::Result;
use crate::executor::batch::{loadmaster_problem, RunResults};
use crate::executor::Job;
use crate::exit::ExitStatus;
use crate::state::{self, DryRun, Store};

use super::{Context, Count};

/// The entries to change, the calls to make, and which of those calls lift
/// a block whose expiry just passed (the rest are retries).
struct Plan {
    changed: Vec<Entry>,
    jobs: Vec<Job>,
    expiring: HashSet<Target>,
    /// Expired entries whose LoadMaster entry is not lmguard's (their
    /// LoadMasters).
    local_only: Vec<LoadMasterName>,
    /// Retries no longer admitted (allowlist, protections), for the report.
    refused: Vec<String>,
    /// Active blocks the allowlist or a protection now covers, being lifted.
    lifted: HashSet<Target>,
    /// What is lifted and why (`192.0.2.5 (global): … overlaps …`).
    lifted_notes: Vec<String>,
    /// Calls `mode = "simulate"` keeps from being made (their entries are
    /// left as they are).
    withheld: Vec<Job>,
    /// Blocks the allowlist now covers that `mode = "simulate"` would lift
    /// (the delete is among `withheld`), and why.
    withheld_notes: Vec<String>,
    /// A block the allowlist covers is still being sent by another run: it
    /// can be lifted only once it is active, so the next sweep looks again.
    lift_later: bool,
    /// Due or pending entries of LoadMasters the configuration no longer
    /// names (renamed, or a table added without keeping `default`): left as
    /// they are, and said so.
    unconfigured: Vec<LoadMasterName>,
}

fn plan(ctx: &Context, policy: &Policy, entries: Vec<Entry>) -> Plan {
    let mut plan = Plan {
        changed: Vec::new(),
        jobs: Vec::new(),
        expiring: HashSet::new(),
        local_only: Vec::new(),
        refused: Vec::new(),
        lifted: HashSet::new(),
        lifted_notes: Vec::new(),
        withheld: Vec::new(),
        withheld_notes: Vec::new(),
        lift_later: false,
        unconfigured: Vec::new(),
    };
    let simulate = ctx.config.block.simulate();
    let live = |c: &Claim| ctx.claim_is_live(c);
    for entry in entries {
        // Only the LoadMasters this run works on (`--loadmaster`); entries
        // of one no longer configured wait (`check` reports them).
        if !ctx.is_selected(entry.loadmaster) {
            if ctx.config.loadmaster(entry.loadmaster).is_none() {
                plan.unconfigured.push(entry.loadmaster);
            }
            continue;
        }
        let Some((mut next, mut call)) = plan_sweep(&entry, ctx.now, ctx.claim, &live) else {
            continue;
        };
        if call == Some(Call::Add) {
            // A retry: the allowlist or a protection may cover it by now.
            if let Err(refusal) = policy.recheck_block(&entry) {
                plan.refused.push(format!(
                    "{} ({}): not re-added: {}",
                    entry.address,
                    ctx.where_(entry.loadmaster, entry.scope),
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
            plan.expiring.insert(entry.target());
        }
        let Some(call) = call else {
            // Expired, but the LoadMaster entry is someone else's: local only.
            plan.local_only.push(entry.loadmaster);
            plan.changed.push(next);
            continue;
        };
        let job = Job::for_entry(&next, call, &ctx.config.block.comment_prefix);
        if simulate {
            plan.expiring.remove(&entry.target());
            plan.withheld.push(job);
            continue;
        }
        plan.jobs.push(job);
        plan.changed.push(next);
    }
    plan
}

/// A warning naming the LoadMasters the configuration no longer has whose
/// entries are due or pending: nothing expires or retries them until the
/// configuration names them again.
fn warn_unconfigured(names: &[LoadMasterName]) {
    let mut counted: Vec<(LoadMasterName, usize)> = Vec::new();
    for name in names {
        match counted.iter_mut().find(|(n, _)| n == name) {
            Some((_, n)) => *n += 1,
            None => counted.push((*name, 1)),
        }
    }
    for (name, n) in counted {
        crate::logging::warning(&format!(
            "{n} due or pending entr{} of LoadMaster \"{name}\", which the configuration does \
             not name, left as they are: give its [[loadmaster]] table that name again (a lone \
             [loadmaster] table is \"default\"); `lmguard check` lists them",
            if n == 1 { "y" } else { "ies" }
        ));
    }
}

/// Finished records deleted per transaction by `[state] keep_history`, so
/// that a first run on a large state holds the lock only briefly at a time.
const HISTORY_BATCH: usize = 2_000;

/// The end time before which finished records are deleted, if
/// `[state] keep_history` is set.
fn history_cutoff(ctx: &Context) -> Option<i64> {
    let keep = ctx.config.state.keep_history.as_ref()?;
    let secs = i64::try_from(keep.0.as_secs()).unwrap_or(i64::MAX);
    Some(ctx.now.saturating_sub(secs))
}

/// Delete the rest of the finished records older than `cutoff`, one
/// batch per transaction (the lock is released between batches); compact
/// the file when much was deleted. `deleted` is what the first batch did.
fn prune_history(ctx: &Context, cutoff: i64, mut deleted: usize) -> Result<usize> {
    let mut last = deleted;
    while last == HISTORY_BATCH {
        let store = ctx.open_store()?;
        last = store.update(|txn| txn.delete_history_before(cutoff, HISTORY_BATCH))?;
        deleted += last;
    }
    crate::state::compact_after(&|| ctx.open_store(), deleted);
    Ok(deleted)
}

/// The key under which the state keeps the fingerprint of the policy the
/// last sweep applied to every active block.
const POLICY_KEY: &str = "swept_policy";

/// Stored under [`POLICY_KEY`] to make the next sweep look at every active
/// block; [`Policy::fingerprint`] is never 0.
const RECHECK: u64 = 0;

/// Make the next sweep look at every active block again, for entries that
/// became lmguard's without the allowlist being asked (`sync --adopt`).
pub(crate) fn recheck_allowlist_next_time(store: &crate::state::Store) -> Result<()> {
    store.set_meta(POLICY_KEY, RECHECK)
}

/// Add to `plan` the lifting of every active block (among `current`) that
/// the allowlist or a protection now covers: unblocked exactly as `unblock`
/// would (only lmguard's own LoadMaster entries are deleted), with the
/// reason "allowlisted". Blocks the plan already changes are left to it.
fn lift_covered(ctx: &Context, policy: &Policy, current: Vec<Entry>, plan: &mut Plan) {
    let planned: HashSet<Target> = plan.changed.iter().map(Entry::target).collect();
    for entry in current {
        if planned.contains(&entry.target()) || !ctx.is_selected(entry.loadmaster) {
            continue;
        }
        let Some(refusal) = policy.lifts(&entry) else {
            plan.lift_later |=
                entry.status == Status::PendingBlock && policy.recheck_block(&entry).is_err();
            continue;
        };
        let key = entry.target();
        let (mut next, decision) =
            apply_removal(entry, Removal::Unblocked, ctx.now, ctx.claim, &|c| {
                ctx.claim_is_live(c)
            });
        next.reason = format!("{ALLOWLISTED} (was: {})", next.reason);
        let note = format!(
            "{} ({}): {}",
            next.address,
            ctx.where_(next.loadmaster, next.scope),
            refusal.reason()
        );
        if let Decision::Send(call) = decision {
            let job = Job::for_entry(&next, call, &ctx.config.block.comment_prefix);
            if ctx.config.block.simulate() {
                // `mode = "simulate"`: the delete is reported, not made, and
                // the entry stays as it is; the next sweep says it again.
                plan.withheld_notes.push(note);
                plan.withheld.push(job);
                plan.lift_later = true;
                continue;
            }
            plan.jobs.push(job);
        }
        plan.lifted_notes.push(note);
        plan.lifted.insert(key);
        plan.changed.push(next);
    }
}

/// Plan the sweep through `view` and record it: the one planning of the
/// dry run (a read-only view that records nothing) and of the real run (a
/// write transaction). `rescan`: look at every active block, because the
/// allowlist or the protections changed since the last sweep.
fn plan_and_record(
    ctx: &Context,
    policy: &Policy,
    rescan: bool,
    view: &mut impl state::Plan,
) -> Result<Plan> {
    let mut plan = plan(ctx, policy, view.due_or_pending(ctx.now)?);
    if rescan {
        lift_covered(ctx, policy, view.current()?, &mut plan);
    }
    for e in &plan.changed {
        view.record(e)?;
    }
    Ok(plan)
}

/// Whether this sweep looks at every active block: only when the allowlist
/// or the protections changed since the last sweep (the idle cron run
/// stays cheap; a new block is checked against them when it is made). In
/// simulate mode too: simulated blocks are lifted locally, and the deletes
/// real ones would need are reported, not made.
fn needs_rescan(store: Option<&Store>, fingerprint: u64) -> Result<bool> {
    Ok(match store {
        Some(store) => store.meta(POLICY_KEY)? != Some(fingerprint),
        None => false,
    })
}

pub(crate) fn run(ctx: &Context, args: &SweepArgs) -> Result<ExitStatus> {
    let policy = crate::protections::admission_policy(&ctx.config);
    let fingerprint = policy.fingerprint();
    let cutoff = history_cutoff(ctx);
    if args.dry_run {
        let store = ctx.open_existing_store()?;
        let rescan = needs_rescan(store.as_ref(), fingerprint)?;
        let plan = plan_and_record(ctx, &policy, rescan, &mut DryRun(store.as_ref()))?;
        let old = match (&store, cutoff) {
            (Some(store), Some(c)) => store.count_history_before(c)?,
            _ => 0,
        };
        drop(store);
        ctx.print_dry_run(&plan.jobs);
        plan.refused
            .iter()
            .for_each(|r| println!("would unblock {r}"));
        plan.lifted_notes
            .iter()
            .chain(&plan.withheld_notes)
            .for_each(|r| println!("would unblock {r}"));
        if old > 0 {
            println!("would delete {old} finished record(s) older than [state] keep_history");
        }
        return Ok(ExitStatus::Success);
    }
    let simulate = ctx.config.block.simulate();
    let clients = if simulate { None } else { Some(ctx.clients()?) };
    let store = ctx.open_store()?;
    let rescan = needs_rescan(Some(&store), fingerprint)?;
    let (plan, pruned) = store.update(|txn| {
        // Entries recorded by a clock that was fast: found without reading
        // every entry, unless there are some.
        if txn.latest_blocked_at()? > ctx.now + 86_400 {
            match crate::clock::future_blocks_warning(&txn.all()?, ctx.now) {
                Some(warning) => crate::logging::warning(&warning),
                None => txn.reset_latest_blocked_at(ctx.now)?,
            }
        }
        let plan = plan_and_record(ctx, &policy, rescan, txn)?;
        // The first batch of history goes with this transaction: an idle
        // sweep stays one commit.
        let pruned = match cutoff {
            Some(c) => txn.delete_history_before(c, HISTORY_BATCH)?,
            None => 0,
        };
        Ok((plan, pruned))
    })?;
    // Every LoadMaster's blocks were looked at (not only those of
    // `--loadmaster`): only then is the policy applied to all of them.
    let everyone = ctx.selected.len() == ctx.config.loadmasters.len();
    if rescan && !plan.lift_later && everyone {
        // After the lifts are recorded (as pending): a crash before this
        // only means the next sweep looks again.
        store.set_meta(POLICY_KEY, fingerprint)?;
    }
    drop(store);

    // With --quiet (cron), what the allowlist stops or lifts goes to the
    // log only: it is the allowlist working, not a failure.
    let note = |text: String| {
        if ctx.quiet {
            log::info!("{text}");
        } else {
            println!("{text}");
        }
    };
    plan.refused.iter().for_each(|r| note(r.clone()));
    warn_unconfigured(&plan.unconfigured);
    plan.lifted_notes
        .iter()
        .for_each(|r| note(format!("unblocking {r}")));
    plan.withheld_notes
        .iter()
        .for_each(|r| note(format!("would unblock {r} (mode = \"simulate\")")));
    ctx.print_simulated(&plan.withheld);
    let applied = match &clients {
        Some(clients) => ctx.apply(clients, plan.jobs, None)?,
        None => RunResults {
            results: Vec::new(),
        },
    };
    let lifted = |j: &crate::executor::Job| plan.lifted.contains(&j.target());
    type Answer = std::result::Result<Applied, crate::loadmaster::Failure>;
    let count = |keep: &dyn Fn(&Job, &Answer) -> bool| {
        let mut n = Count::default();
        for (j, r) in &applied.results {
            if keep(j, r) {
                n.add(j.loadmaster);
            }
        }
        n
    };
    let done = |expiry: bool, call: Call| {
        count(&|j, r| {
            r.is_ok()
                && j.call == call
                && !lifted(j)
                && plan.expiring.contains(&j.target()) == expiry
        })
    };
    let mut expired = done(true, Call::Delete);
    for lm in &plan.local_only {
        expired.add(*lm);
    }
    let mut due = Count::default();
    plan.expiring.iter().for_each(|(lm, _, _)| due.add(*lm));
    let still_pending = count(&|_, r| r.as_ref().is_err_and(|f| !f.is_permanent()));
    let left_alone: Vec<_> = applied
        .results
        .iter()
        .filter_map(|(j, r)| match r {
            Ok(Applied::HeldByOther(comment)) if j.call == Call::Delete => Some((j, comment)),
            _ => None,
        })
        .collect();
    let status = applied.report_rejections(ctx.several());
    let lifted_failed: HashSet<Target> = applied
        .results
        .iter()
        .filter(|(j, r)| r.is_err() && lifted(j))
        .map(|(j, _)| j.target())
        .collect();
    let mut lifted_done = Count::default();
    for target in plan.lifted.iter().filter(|t| !lifted_failed.contains(t)) {
        lifted_done.add(target.0);
    }
    let mut summary = format!(
        "expired {} of {} due; retried: {} block(s) and {} unblock(s) applied; still pending {}",
        expired.show(ctx),
        due.show(ctx),
        done(false, Call::Add).show(ctx),
        done(false, Call::Delete).show(ctx),
        still_pending.show(ctx)
    );
    if !plan.lifted.is_empty() {
        summary.push_str(&format!(
            "; allowlisted: unblocked {} block(s) that the allowlist or a protection now covers",
            lifted_done.show(ctx)
        ));
    }
    // Cron mails any output: with --quiet the summary is left out, and
    // failures are still reported below on standard error.
    if !ctx.quiet {
        for (job, comment) in &left_alone {
            println!(
                "left alone {} ({}): its LoadMaster entry is not lmguard's ({comment}); the \
                 local record is closed",
                job.address,
                ctx.where_(job.loadmaster, job.scope)
            );
        }
        println!("{summary}");
    }
    if let Some(c) = cutoff {
        let pruned = prune_history(ctx, c, pruned)?;
        if pruned > 0 && !ctx.quiet {
            println!(
                "deleted {pruned} finished record(s) that ended before {} ([state] keep_history)",
                crate::clock::short_time(c)
            );
        }
    }
    match loadmaster_problem(&applied, "operation(s)", ctx.several()) {
        Some(problem) => {
            crate::logging::failure(&problem.to_string());
            Ok(problem.code().worst(status))
        }
        None => Ok(status),
    }
}
