//! `lmguard sync`: compare local state with the lists the LoadMaster really
//! holds; `--apply` repairs, `--adopt` takes over entries lmguard does not
//! own (the migration path from the old scripts).

use std::collections::{BTreeSet, HashMap};
use std::io::Write;

use serde::Serialize;

use crate::cli::SyncArgs;
use crate::clock::unix_now;
use crate::domain::address::Address;
use crate::domain::entry::{
    self, Applied, BlockRequest, Call, Entry, Removal, Scope, Status, Target,
};
use crate::domain::loadmaster_name::LoadMasterName;
use crate::domain::policy::Policy;
use crate::domain::reconcile::{
    compare, compare_indexed, Difference, Kind, LocalIndex, RemoteEntry,
};
use crate::enforcement::EnforcementPoint;
use crate::error::{Error, Result};
use crate::executor::batch::loadmaster_problem;
use crate::executor::Job;
use crate::exit::ExitStatus;

use super::{Clients, Context};

/// What `sync` does (or would do) about one difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    ReAdd,
    SkipAllowlisted,
    Remove,
    LeftAlone,
    NeverTouched,
    Adopt,
    /// Another lmguard process is working on it right now.
    InFlight,
    /// The repair call failed; recorded as pending for the next sweep.
    Pending,
    /// `mode = "simulate"`: the repair is not made.
    Simulated,
    /// Not adopted: `[block] max_active` is reached.
    OverLimit,
}

impl Action {
    fn describe(self, applying: bool) -> &'static str {
        match (self, applying) {
            (Action::ReAdd, true) => "re-added",
            (Action::ReAdd, false) => "re-add (--apply)",
            (Action::SkipAllowlisted, _) => "not re-added: allowlisted or protected",
            (Action::Remove, true) => "removed",
            (Action::Remove, false) => "remove (--apply)",
            (Action::LeftAlone, _) => "left alone (--adopt takes it)",
            (Action::NeverTouched, _) => "never touched (--adopt takes it)",
            (Action::Adopt, true) => "adopted",
            (Action::Adopt, false) => "adopt",
            (Action::InFlight, _) => "in flight in another lmguard process",
            (Action::Pending, _) => "failed: pending, sweep retries",
            (Action::Simulated, _) => "not repaired (mode = simulate)",
            (Action::OverLimit, _) => "not adopted: max_active reached",
        }
    }
}

#[derive(Serialize)]
struct Row<'a> {
    address: &'a str,
    vs: Option<u32>,
    loadmaster: LoadMasterName,
    kind: &'static str,
    action: &'static str,
    /// The LoadMaster entry's comment, when it has one.
    comment: Option<&'a str>,
    /// The local status, when there is a local record.
    status: Option<&'static str>,
}

pub(crate) fn run(ctx: &Context, args: &SyncArgs) -> Result<ExitStatus> {
    let clients = ctx.clients()?;
    let (local, globals) = read_local_and_global(ctx, &clients)?;

    let mut differences = Vec::new();
    let mut settled = Vec::new();
    let mut unreadable = Vec::new();
    // LoadMasters whose global list could not be read: nothing is compared
    // or changed on them; the others are served.
    let mut behind: Vec<Error> = Vec::new();
    for (lm, global) in globals {
        let (global_index, global) = match global {
            Ok(g) => g,
            Err(e) => {
                behind.push(e);
                continue;
            }
        };
        let Some(client) = clients.get(lm) else {
            continue;
        };
        let mut global = Some((global_index, global));
        let mine_all: Vec<&Entry> = local.iter().filter(|e| e.loadmaster == lm).collect();
        // A scope whose entries were all refused for good has nothing on
        // the LoadMaster to compare.
        let default_vs = ctx.config.loadmaster(lm).and_then(|c| c.vs);
        let scopes: BTreeSet<Scope> = std::iter::once(Scope::Global)
            .chain(default_vs.map(Scope::Vs))
            .chain(
                mine_all
                    .iter()
                    .filter(|e| e.scope != Scope::Global && e.status != Status::Rejected)
                    .map(|e| e.scope),
            )
            .collect();
        for scope in scopes {
            // Global is in the set exactly once, and was fetched above.
            let (index, remote) = match scope {
                Scope::Global => global.take().unwrap_or_default(),
                Scope::Vs(_) => match read_list(ctx, lm, client, scope) {
                    Ok(remote) => (None, remote),
                    // That VS's list is refused (it no longer exists?):
                    // report it and compare every other scope.
                    Err((e, false)) => {
                        crate::logging::failure(&format!("{e}; the other scopes are compared"));
                        unreadable.push(e);
                        continue;
                    }
                    Err((e, true)) => {
                        behind.push(e);
                        break;
                    }
                },
            };
            let mine: Vec<&Entry> = mine_all
                .iter()
                .copied()
                .filter(|e| e.scope == scope)
                .collect();
            let prefix = &ctx.config.block.comment_prefix;
            let mut report = match index {
                // The global entries were indexed while the list was fetched.
                Some(index) => compare_indexed(scope, &mine, &index, remote, prefix, ctx.now),
                None => compare(scope, &mine, remote, prefix, ctx.now),
            };
            report
                .differences
                .iter_mut()
                .for_each(|d| d.loadmaster = lm);
            if differences.is_empty() {
                differences = report.differences;
            } else {
                differences.extend(report.differences);
            }
            settled.extend(report.settled);
        }
    }
    if !behind.is_empty()
        && differences.is_empty()
        && settled.is_empty()
        && behind.len() == ctx.selected.len()
    {
        // Nothing could be read at all.
        let text = behind
            .iter()
            .map(|e| e.message().to_string())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Error::loadmaster(text));
    }
    for e in &behind {
        crate::logging::failure(&format!(
            "{}; the other LoadMasters are compared",
            e.message()
        ));
    }

    let policy = crate::protections::admission_policy(&ctx.config);
    // Kept beside the differences, not paired into a copy of them: a large
    // list's report is the bulk of a sync's memory.
    let mut actions: Vec<Action> = differences.iter().map(|d| plan(&policy, d, args)).collect();

    let mut status = ExitStatus::Success;
    if args.changes_state() {
        if let Some(problem) = repair(ctx, &clients, &differences, &mut actions, &settled, args)? {
            crate::logging::failure(&problem.to_string());
            status = problem.code();
        }
    }
    // Exit 6 means differences an operator must act on: those `--apply`
    // would repair, and orphans (lmguard's comment, no local record: they
    // would never expire; `--adopt` takes them). Foreign entries are
    // someone else's, reported and not counted.
    let repairable = if args.applies() {
        0
    } else {
        actions
            .iter()
            .filter(|a| matches!(a, Action::ReAdd | Action::Remove))
            .count()
    };
    let orphans = if args.applies() || args.changes_state() {
        0
    } else {
        differences
            .iter()
            .filter(|d| d.kind == Kind::Orphaned)
            .count()
    };
    print(
        &differences,
        &actions,
        args,
        ctx.several(),
        !behind.is_empty(),
    )?;
    let over = actions.iter().filter(|a| **a == Action::OverLimit).count();
    if over > 0 {
        eprintln!(
            "lmguard: {over} entr{} not adopted: the limit of {} blocks ([block] max_active) is \
             reached; raise max_active and run `lmguard sync --adopt` again",
            if over == 1 { "y was" } else { "ies were" },
            ctx.config.block.max_active
        );
        status = status.worst(ExitStatus::InputRejected);
    }
    if !unreadable.is_empty() || !behind.is_empty() {
        status = status.worst(ExitStatus::LoadMaster);
    }
    if repairable > 0 {
        status = status.worst(ExitStatus::Differences);
        eprintln!(
            "lmguard: {repairable} difference(s) of lmguard's own between local state and the \
             LoadMaster; `lmguard sync --apply` repairs them"
        );
    }
    if orphans > 0 {
        status = status.worst(ExitStatus::Differences);
        eprintln!(
            "lmguard: {orphans} orphaned entr{} on the LoadMaster carry lmguard's comment but \
             have no local record, so they would never expire; `lmguard sync --adopt` takes \
             them into state (with the default duration)",
            if orphans == 1 { "y" } else { "ies" }
        );
    }
    // The process ends right after: giving every record back to the
    // allocator one by one would only cost time (~5 ms at 100 000 entries);
    // the kernel takes the memory back at once.
    std::mem::forget(local);
    Ok(status)
}

/// A LoadMaster's global list, with the index of its local global
/// entries; or why it could not be read.
type Global = std::result::Result<(Option<LocalIndex>, Vec<RemoteEntry>), Error>;
/// Each selected LoadMaster's [`Global`].
type Globals = Vec<(LoadMasterName, Global)>;

/// Every local record and each selected LoadMaster's global list. Local
/// state is taken before any list is asked for: an entry a concurrent
/// `block` records and sends after this point is then seen as pending (or
/// changed) when the repair is staged, never re-sent from a list snapshot
/// older than the local state it is compared with. The snapshot is
/// decoded, and each LoadMaster's global entries indexed for the
/// comparison, on another thread while the lists are fetched, each on its
/// own thread (the store, and its lock, are let go as soon as it is read).
fn read_local_and_global(ctx: &Context, clients: &Clients) -> Result<(Vec<Entry>, Globals)> {
    let store = ctx.open_existing_store()?;
    let snapshot = store.as_ref().map(|s| s.snapshot()).transpose()?;
    let selected = &ctx.selected;
    std::thread::scope(|threads| {
        let reader = threads.spawn(move || {
            let local = snapshot.map_or_else(|| Ok(Vec::new()), |s| s.all());
            drop(store);
            let local = local?;
            // The same entries, in the same order, as `run` compares.
            let indexes: Vec<LocalIndex> = selected
                .iter()
                .map(|lm| {
                    LocalIndex::new(
                        local
                            .iter()
                            .filter(|e| e.scope == Scope::Global && e.loadmaster == *lm),
                    )
                })
                .collect();
            Ok::<_, Error>((local, indexes))
        });
        let fetches: Vec<_> = selected
            .iter()
            .map(|&lm| {
                threads.spawn(move || {
                    let client = clients.get(lm)?;
                    Some(read_list(ctx, lm, client, Scope::Global).map_err(|(e, _)| e))
                })
            })
            .collect();
        let lists: Vec<_> = fetches
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect();
        let (local, indexes) = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        let globals = selected
            .iter()
            .zip(indexes)
            .zip(lists)
            .filter_map(|((lm, index), list)| Some((*lm, list?.map(|l| (Some(index), l)))))
            .collect();
        Ok((local, globals))
    })
}

/// One scope's list; on failure the error and whether it stops the run.
fn read_list(
    ctx: &Context,
    lm: LoadMasterName,
    client: &dyn EnforcementPoint,
    scope: Scope,
) -> std::result::Result<Vec<RemoteEntry>, (Error, bool)> {
    // Several lists are read at once: no progress line then.
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !ctx.several();
    let list_name = if ctx.several() {
        format!("{} block list on LoadMaster \"{lm}\"", scope.list_name())
    } else {
        format!("{} block list", scope.list_name())
    };
    if progress {
        eprint!("lmguard: reading the {list_name}…");
    }
    let listed = client.list(scope).map_err(|f| {
        if progress {
            eprintln!();
        }
        let stops = f.stops_run();
        let text = if stops {
            format!("cannot read the {list_name}: {f}; nothing was changed on it")
        } else {
            format!("cannot read the {list_name}: {f}")
        };
        (Error::loadmaster(text), stops)
    })?;
    if progress {
        eprintln!(" {} entries", listed.len());
    }
    Ok(listed
        .into_iter()
        .map(|e| RemoteEntry {
            address: e.addr.parse::<Address>().ok(),
            raw: e.addr,
            comment: e.comment,
        })
        .collect())
}

fn plan(policy: &Policy, d: &Difference, args: &SyncArgs) -> Action {
    match d.kind {
        Kind::MissingOnLoadmaster => {
            // The allowlist or a built-in protection may cover it by now.
            let refused = d
                .local
                .as_ref()
                .is_some_and(|e| policy.recheck(&e.address).is_err());
            if refused {
                Action::SkipAllowlisted
            } else {
                Action::ReAdd
            }
        }
        Kind::StaleOnLoadmaster => Action::Remove,
        Kind::Orphaned | Kind::Foreign if args.adopt && adoptable(d) => Action::Adopt,
        Kind::Orphaned => Action::LeftAlone,
        Kind::Foreign => Action::NeverTouched,
    }
}

/// Only entries lmguard can parse can be adopted.
fn adoptable(d: &Difference) -> bool {
    d.remote.as_ref().is_some_and(|r| r.address.is_some())
}

/// Apply the plan: record every change (pending where the LoadMaster must
/// act) in one transaction, make the calls, record the answers. `actions`
/// become what was done; the problem, if calls failed.
fn repair(
    ctx: &Context,
    clients: &Clients,
    differences: &[Difference],
    actions: &mut [Action],
    settled: &[(Entry, Applied)],
    args: &SyncArgs,
) -> Result<Option<Error>> {
    let mut jobs = Vec::new();
    let store = ctx.open_store()?;
    store.update(|txn| {
        for (e, found) in settled {
            let Some(current) = txn.get(e.loadmaster, e.scope, &e.address)? else {
                continue;
            };
            if changed_since(&current, e, ctx) {
                continue;
            }
            if let Some(done) = settle(current, found.clone(), ctx) {
                txn.put(&done)?;
            }
        }
        for (d, action) in differences.iter().zip(actions.iter_mut()) {
            let wants_call = matches!(action, Action::ReAdd | Action::Remove);
            *action = if args.applies() && wants_call && ctx.config.block.simulate() {
                // mode = "simulate" calls nothing.
                Action::Simulated
            } else if (args.applies() && wants_call) || *action == Action::Adopt {
                stage(ctx, txn, d, *action, &mut jobs)?
            } else {
                *action
            };
        }
        Ok(())
    })?;
    // An adopted entry was never checked against the allowlist: the next
    // sweep lifts it if the allowlist covers it, as `check` says.
    if actions.contains(&Action::Adopt) {
        super::sweep::recheck_allowlist_next_time(&store)?;
    }
    drop(store);
    let applied = ctx.apply(clients, jobs, None)?;
    let problem = loadmaster_problem(&applied, "repair(s)", ctx.several());
    let failed: std::collections::HashSet<Target> = applied
        .results
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(j, _)| j.target())
        .collect();
    for (d, action) in differences.iter().zip(actions.iter_mut()) {
        let key = d.local.as_ref().map(|e| e.target());
        if key.is_some_and(|k| failed.contains(&k)) {
            *action = Action::Pending;
        }
    }
    Ok(problem)
}

/// Someone changed the entry since it was compared with the LoadMaster, or
/// is working on it: leave it to them (the next sync sees it anew).
fn changed_since(current: &Entry, seen: &Entry, ctx: &Context) -> bool {
    current != seen || current.claim.as_ref().is_some_and(|c| ctx.claim_is_live(c))
}

/// A pending operation the LoadMaster list shows done: record it as done.
fn settle(mut e: Entry, found: Applied, ctx: &Context) -> Option<Entry> {
    let call = match e.status {
        Status::PendingBlock => Call::Add,
        Status::PendingUnblock => Call::Delete,
        _ => return None,
    };
    e.claim = Some(ctx.claim);
    entry::complete(e, &ctx.claim, call, Ok(found), unix_now())
}

/// Record one repair in the transaction; queue its LoadMaster call.
fn stage(
    ctx: &Context,
    txn: &mut crate::state::Txn<'_>,
    d: &Difference,
    action: Action,
    jobs: &mut Vec<Job>,
) -> Result<Action> {
    let now = ctx.now;
    if action == Action::Adopt {
        let Some(remote) = &d.remote else {
            return Ok(action);
        };
        let Some(address) = remote.address else {
            return Ok(action);
        };
        let existing = txn.get(d.loadmaster, d.scope, &address)?;
        let changed = match (&existing, &d.local) {
            (Some(current), Some(seen)) => changed_since(current, seen.as_ref(), ctx),
            (None, None) => false,
            _ => true,
        };
        if changed {
            return Ok(Action::InFlight);
        }
        // Adoption adds a block like any other: max_active applies.
        let adds = existing.as_ref().is_none_or(|e| !e.status.is_current());
        if adds && txn.count_current(d.loadmaster, false)? >= ctx.config.block.max_active {
            return Ok(Action::OverLimit);
        }
        txn.put(&adopted(
            ctx,
            d.loadmaster,
            d.scope,
            address,
            remote.comment.as_deref(),
            existing,
        ))?;
        return Ok(action);
    }
    let Some(local) = &d.local else {
        return Ok(action);
    };
    let Some(mut current) = txn.get(local.loadmaster, local.scope, &local.address)? else {
        return Ok(action);
    };
    if changed_since(&current, local, ctx) {
        return Ok(Action::InFlight);
    }
    let call = match action {
        Action::ReAdd => {
            current.status = Status::PendingBlock;
            current.removal = None;
            Call::Add
        }
        Action::Remove => {
            if current.status != Status::PendingUnblock {
                current.removal = Some(match current.status {
                    Status::Unblocked => Removal::Unblocked,
                    _ => Removal::Expired,
                });
                current.status = Status::PendingUnblock;
            }
            Call::Delete
        }
        _ => return Ok(action),
    };
    current.claim = Some(ctx.claim);
    current.updated_at = now;
    jobs.push(Job::for_entry(
        &current,
        call,
        &ctx.config.block.comment_prefix,
    ));
    txn.put(&current)?;
    Ok(action)
}

/// A LoadMaster entry taken into local state: active, default duration from
/// now, owned by lmguard from here on.
fn adopted(
    ctx: &Context,
    loadmaster: LoadMasterName,
    scope: Scope,
    address: Address,
    comment: Option<&str>,
    existing: Option<Entry>,
) -> Entry {
    let reason = if comment.is_none_or(str::is_empty) {
        "adopted from the LoadMaster (no comment)".to_string()
    } else {
        format!(
            "adopted from the LoadMaster (comment: {})",
            comment.unwrap_or_default()
        )
    };
    let request = BlockRequest {
        loadmaster,
        address,
        scope,
        duration: ctx.config.block.duration,
        reason,
        event_id: None,
        priority: None,
    };
    // A block of an address that is not blocked yet, acknowledged at once:
    // the LoadMaster already has it.
    let (fresh, _) = entry::apply_block(None, &request, ctx.now, ctx.claim, &|_| false);
    let mut adopted = entry::complete(fresh, &ctx.claim, Call::Add, Ok(Applied::Done), ctx.now)
        .expect("a fresh entry carries this run's claim");
    adopted.times_blocked = existing.map_or(1, |e| e.times_blocked.saturating_add(1));
    adopted.adopted_comment = comment.map(str::to_string);
    adopted
}

/// `several`: a LOADMASTER column (several LoadMasters are configured).
/// `unread`: some LoadMaster could not be compared at all (its error is
/// on standard error), so "no differences" is not "they agree".
fn print(
    differences: &[Difference],
    actions: &[Action],
    args: &SyncArgs,
    several: bool,
    unread: bool,
) -> Result<()> {
    let shown = || differences.iter().zip(actions);
    let applying = args.changes_state();
    // Buffered: the locked stdout alone flushes at every newline.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = if args.json {
        // Streamed: no vector of every row.
        let rows = shown().map(|(d, a)| Row {
            address: &d.address,
            vs: d.scope.vs(),
            loadmaster: d.loadmaster,
            kind: d.kind.as_str(),
            action: a.describe(applying),
            comment: d.remote.as_ref().and_then(|r| r.comment.as_deref()),
            status: d.local.as_ref().map(|e| e.status.as_str()),
        });
        let mut ser = serde_json::Serializer::pretty(&mut out);
        serde::Serializer::collect_seq(&mut ser, rows)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out))
    } else if differences.is_empty() && unread {
        writeln!(
            out,
            "no differences on the LoadMasters that could be read; the others were not \
             compared (see the errors)"
        )
    } else if differences.is_empty() {
        writeln!(out, "local state and the LoadMaster agree")
    } else {
        // Laid out by hand, one line at a time: a table library would hold
        // every cell of a 100 000-difference report at once.
        let cells = |d: &Difference, a: &Action| -> Vec<String> {
            let comment = d
                .remote
                .as_ref()
                .and_then(|r| r.comment.as_deref())
                .unwrap_or_default();
            let mut row = vec![d.address.clone()];
            if several {
                row.push(d.loadmaster.to_string());
            }
            row.extend([
                d.scope.to_string(),
                d.kind.as_str().to_string(),
                a.describe(applying).to_string(),
                comment.chars().take(30).collect(),
            ]);
            row
        };
        let mut header = vec!["ADDRESS".to_string()];
        if several {
            header.push("LOADMASTER".to_string());
        }
        header.extend(["SCOPE", "DIFFERENCE", "ACTION", "COMMENT"].map(String::from));
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for (d, a) in shown() {
            for (w, c) in widths.iter_mut().zip(cells(d, a)) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |row: Vec<String>| -> String {
            let mut text = String::new();
            for (cell, w) in row.iter().zip(&widths) {
                text.push_str(cell);
                let pad = w.saturating_sub(cell.chars().count()) + 2;
                text.extend(std::iter::repeat_n(' ', pad));
            }
            text.trim_end().to_string()
        };
        let lines = std::iter::once(line(header)).chain(shown().map(|(d, a)| line(cells(d, a))));
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for d in differences {
            *counts.entry(d.kind.as_str()).or_default() += 1;
        }
        let mut lines = lines;
        lines
            .try_for_each(|line| writeln!(out, "{line}"))
            .and_then(|_| {
                writeln!(
                    out,
                    "missing_on_loadmaster {}, stale_on_loadmaster {}, orphaned {}, foreign {}",
                    counts.get("missing_on_loadmaster").unwrap_or(&0),
                    counts.get("stale_on_loadmaster").unwrap_or(&0),
                    counts.get("orphaned").unwrap_or(&0),
                    counts.get("foreign").unwrap_or(&0)
                )
            })
            .and_then(|_| {
                let only_foreign = differences.iter().all(|d| d.kind == Kind::Foreign);
                let only_others = differences
                    .iter()
                    .all(|d| matches!(d.kind, Kind::Orphaned | Kind::Foreign));
                if only_foreign {
                    writeln!(
                        out,
                        "no differences except entries that are not lmguard's \
                         (--apply leaves them alone; --adopt takes them over)"
                    )
                } else if only_others {
                    writeln!(
                        out,
                        "no differences except orphaned entries (lmguard's comment, no local \
                         record; --apply leaves them alone; --adopt takes them over) and \
                         entries that are not lmguard's"
                    )
                } else {
                    Ok(())
                }
            })
    }
    .and_then(|()| out.flush());
    super::stdout_written(written)
}
