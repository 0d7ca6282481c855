//! `[state] keep_history`: `sweep` deletes finished records (expired,
//! unblocked, rejected) that ended longer ago than the window, in batches, and
//! nothing current; escalation then starts again from the first block.

use crate::common;

use common::Env;
use lmguard::domain::entry::{Entry, Scope, Status};

const DAY: i64 = 86_400;

fn now() -> i64 {
    lmguard::clock::unix_now()
}

/// A record of `address` (global) with the given status, ended (or, for
/// current ones, blocked) `age` seconds ago.
fn record(address: &str, status: Status, age: i64) -> Entry {
    let at = now() - age;
    let finished = !status.is_current();
    Entry {
        loadmaster: Default::default(),
        address: address.parse().unwrap(),
        scope: Scope::Global,
        status,
        blocked_at: at - DAY,
        expires_at: if finished { Some(at) } else { None },
        reason: "SSHDICT SSH attack".into(),
        event_id: Some("1".into()),
        times_blocked: 3,
        removal: None,
        claim: None,
        last_error: None,
        updated_at: at,
        ended_at: finished.then_some(at),
        held_by_other: None,
        simulated: false,
        forced: false,
        adopted_comment: None,
        priority: None,
    }
}

fn addresses(env: &Env) -> Vec<String> {
    let mut a: Vec<String> = env
        .rows()
        .iter()
        .map(|r| r["address"].as_str().unwrap().to_string())
        .collect();
    a.sort();
    a
}

#[test]
fn sweep_deletes_exactly_the_finished_records_older_than_the_window() {
    let env = Env::new();
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        text.replace("[state]\n", "[state]\nkeep_history = \"7d\"\n"),
    )
    .unwrap();
    let hour = 3_600;
    env.put_entries(&[
        // Older than 7 days and finished: deleted.
        record("192.0.2.1", Status::Expired, 8 * DAY),
        record("192.0.2.2", Status::Unblocked, 30 * DAY),
        record("192.0.2.8", Status::Rejected, 9 * DAY),
        // Finished, but inside the window (by an hour): kept.
        record("192.0.2.3", Status::Expired, 7 * DAY - hour),
        record("192.0.2.4", Status::Unblocked, DAY),
        record("192.0.2.9", Status::Rejected, 2 * DAY),
        // Current, however old: kept.
        record("192.0.2.5", Status::Active, 400 * DAY),
        record("192.0.2.6", Status::PendingBlock, 400 * DAY),
        record("192.0.2.7", Status::PendingUnblock, 400 * DAY),
    ]);
    let dry = env.run(&["sweep", "--dry-run"]);
    assert!(
        dry.stdout().contains("would delete 3 finished record(s)"),
        "{}",
        dry.all()
    );
    assert_eq!(addresses(&env).len(), 9, "a dry run deletes nothing");

    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("deleted 3 finished record(s)"),
        "{}",
        out.stdout()
    );
    assert_eq!(
        addresses(&env),
        [
            "192.0.2.3",
            "192.0.2.4",
            "192.0.2.5",
            "192.0.2.6",
            "192.0.2.7",
            "192.0.2.9"
        ]
    );
    // A second sweep has nothing more to delete.
    let out = env.run(&["sweep"]);
    assert!(!out.stdout().contains("deleted"), "{}", out.stdout());

    // Escalation counts only what is left: a record deleted by retention
    // no longer makes the next block a repeat.
    assert_eq!(env.run(&["block", "192.0.2.1"]).code(), 0);
    let row = env.row("192.0.2.1").unwrap();
    assert_eq!(row["times_blocked"], 1, "{row}");
    // One still in history does.
    assert_eq!(env.run(&["block", "192.0.2.4"]).code(), 0);
    assert_eq!(env.row("192.0.2.4").unwrap()["times_blocked"], 4);
}

#[test]
fn without_keep_history_nothing_is_deleted() {
    let env = Env::new();
    env.put_entries(&[record("192.0.2.1", Status::Expired, 4_000 * DAY)]);
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(addresses(&env), ["192.0.2.1"]);
}

#[test]
fn a_large_first_run_deletes_in_batches_and_compacts() {
    let env = Env::new();
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        text.replace("[state]\n", "[state]\nkeep_history = \"1d\"\n"),
    )
    .unwrap();
    // More than ten batches and the compaction threshold, plus one that stays.
    let old: Vec<Entry> = (0..21_000u32)
        .map(|i| {
            let a = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            record(&a, Status::Expired, 2 * DAY + i64::from(i))
        })
        .chain([record("192.0.2.9", Status::Active, 9 * DAY)])
        .collect();
    env.put_entries(&old);
    let before = std::fs::metadata(&env.state).unwrap().len();
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("deleted 21000 finished record(s)"),
        "{}",
        out.stdout()
    );
    assert_eq!(addresses(&env), ["192.0.2.9"]);
    let after = std::fs::metadata(&env.state).unwrap().len();
    assert!(
        after * 2 < before,
        "compaction gives the space back: {before} → {after} bytes"
    );
}
