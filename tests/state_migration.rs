//! A state file written by the first release (format 2, JSON records) is
//! read as it is, and converted to the compact format when first opened
//! for writing, keeping every record field for field.
//! The same for a format-2 file written by main just before format 3, with
//! the `forced`, `adopted_comment` and `rejected` that it added.

use crate::common;

use std::time::Duration;

use lmguard::domain::entry::{Entry, Scope, Status};
use lmguard::domain::loadmaster_name::DEFAULT;
use lmguard::state::{Store, FORMAT_VERSION};

fn expected() -> Vec<Entry> {
    let text = String::from_utf8(common::fixture("state-format2.records.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("fixture record"))
        .collect()
}

fn copy_fixture(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("state.redb");
    std::fs::write(&path, common::fixture("state-format2.redb")).unwrap();
    path
}

#[test]
fn migration_from_the_first_release_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_fixture(dir.path());
    let before = std::fs::metadata(&path).unwrap().len();
    let want = expected();
    assert_eq!(want.len(), 15);

    // Read-only: the old file is read as it is and left unchanged.
    {
        let store = Store::open_existing(&path, Duration::from_secs(5))
            .unwrap()
            .unwrap();
        assert_eq!(store.format().unwrap(), Some(2));
        assert_eq!(store.all().unwrap(), want);
    }
    // The first write-open converts it, in place.
    {
        let store = Store::open(&path, Duration::from_secs(5)).unwrap();
        assert_eq!(store.format().unwrap(), Some(FORMAT_VERSION));
        assert_eq!(store.all().unwrap(), want);
        // The rebuilt indexes agree with the records.
        let current = want.iter().filter(|e| e.status.is_current()).count();
        let real = want
            .iter()
            .filter(|e| e.status.is_current() && !e.simulated)
            .count();
        assert_eq!(
            store.update(|t| t.count_current(DEFAULT, true)).unwrap(),
            current
        );
        assert_eq!(
            store.update(|t| t.count_current(DEFAULT, false)).unwrap(),
            real
        );
        let pending = want.iter().filter(|e| e.status.is_pending()).count();
        assert_eq!(
            store.update(|t| t.due_or_pending(0)).unwrap().len(),
            pending
        );
    }
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(
        after <= before,
        "the converted file is not larger ({before} → {after} bytes)"
    );
    // And again, now in the new format: nothing changes.
    let store = Store::open(&path, Duration::from_secs(5)).unwrap();
    assert_eq!(store.all().unwrap(), want);
}

#[test]
fn the_binary_reads_and_lists_a_migrated_file() {
    let env = common::Env::new();
    std::fs::create_dir_all(env.state.parent().unwrap()).unwrap();
    std::fs::write(&env.state, common::fixture("state-format2.redb")).unwrap();
    let before = env.rows();
    // stats reads the old file read-only too.
    let out = env.run(&["stats", "--json"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let s: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(s["entries"]["total"], 15);
    assert_eq!(s["entries"]["pending_block"], 1);
    assert_eq!(s["entries"]["pending_unblock"], 1);
    // `sweep` opens it for writing (and converts it); nothing is due. The
    // pending entries name VSes the fake LoadMaster lacks: they become
    // `rejected` (exit 4), and stay recorded.
    let out = env.run(&["sweep"]);
    assert!(matches!(out.code(), 0 | 3 | 4), "{}", out.all());
    let after = env.rows();
    assert_eq!(before.len(), 15);
    let addresses = |rows: &[serde_json::Value]| {
        let mut a: Vec<String> = rows.iter().map(|r| r["address"].to_string()).collect();
        a.sort();
        a
    };
    assert_eq!(addresses(&before), addresses(&after));
}

/// The records of `state-format2-main.redb`, by address.
fn by_address(entries: &[Entry], address: &str) -> Entry {
    entries
        .iter()
        .find(|e| e.address.to_string() == address)
        .unwrap_or_else(|| panic!("{address} in {entries:?}"))
        .clone()
}

/// What issues 12 and 18 added to the format-2 records (`forced`,
/// `adopted_comment`, the `rejected` status) is read from the bytes that
/// binary wrote and kept through the conversion.
fn check_main_fields(entries: &[Entry]) {
    assert_eq!(entries.len(), 4);
    let forced = by_address(entries, "198.51.100.5");
    assert!(forced.forced, "{forced:?}");
    assert_eq!(forced.status, Status::Active);
    let adopted = by_address(entries, "203.0.113.44");
    assert_eq!(adopted.adopted_comment.as_deref(), Some("lmguard manual"));
    let rejected = by_address(entries, "192.0.2.99");
    assert_eq!(rejected.status, Status::Rejected);
    assert_eq!(rejected.scope, Scope::Vs(99));
    assert_eq!(
        rejected.last_error.as_deref(),
        Some("Unknown VS (code 422)")
    );
    assert!(rejected.ended_at.is_some());
    let plain = by_address(entries, "192.0.2.10");
    assert!(!plain.forced && plain.adopted_comment.is_none());
}

#[test]
fn migration_from_mains_format_2_keeps_forced_adopted_and_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    std::fs::write(&path, common::fixture("state-format2-main.redb")).unwrap();
    let before = {
        let store = Store::open_existing(&path, Duration::from_secs(5))
            .unwrap()
            .unwrap();
        assert_eq!(store.format().unwrap(), Some(2));
        store.all().unwrap()
    };
    check_main_fields(&before);
    let store = Store::open(&path, Duration::from_secs(5)).unwrap();
    assert_eq!(store.format().unwrap(), Some(FORMAT_VERSION));
    assert_eq!(store.all().unwrap(), before, "field for field");
    // The meta table that binary kept (the latest blocked_at) survives.
    let latest = before.iter().map(|e| e.blocked_at).max().unwrap();
    assert_eq!(store.update(|t| t.latest_blocked_at()).unwrap(), latest);
    // Rejected is history (keep_history deletes it), not current.
    assert_eq!(store.update(|t| t.count_current(DEFAULT, true)).unwrap(), 3);
}

#[test]
fn the_binary_honours_forced_and_rejected_records_after_converting_them() {
    // The allowlist covers the forced block: a sweep's rescan would lift it
    // if `forced` were lost in the conversion.
    let env = common::Env::with(
        fake_loadmaster::Options::default(),
        "[block]\nallowlist = [\"198.51.100.0/28\"]\n",
    );
    std::fs::create_dir_all(env.state.parent().unwrap()).unwrap();
    std::fs::write(&env.state, common::fixture("state-format2-main.redb")).unwrap();
    // The fixture's blocks last the default 75 h from the day it was made:
    // the binary runs at a clock an hour after its latest block, so this
    // test means the same on any date (not "expired" from December 2026).
    let made = {
        let store = Store::open_existing(&env.state, Duration::from_secs(5))
            .unwrap()
            .unwrap();
        store
            .all()
            .unwrap()
            .iter()
            .map(|e| e.blocked_at)
            .max()
            .unwrap()
    };
    let now = (made + 3_600).to_string();
    let run = |args: &[&str]| {
        common::Out(
            env.cmd()
                .env("LMGUARD_TEST_NOW", &now)
                .args(args)
                .write_stdin(Vec::new())
                .output()
                .unwrap(),
        )
    };
    let out = run(&["stats", "--json"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let s: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(s["entries"]["rejected"], 1);
    assert_eq!(s["entries"]["active"], 3);
    let out = run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(!out.stdout().contains("198.51.100.5"), "{}", out.all());
    let rows = run(&["list", "--all", "--json"]);
    assert_eq!(rows.code(), 0, "{}", rows.all());
    let rows: Vec<serde_json::Value> = serde_json::from_str(&rows.stdout()).unwrap();
    let status_of = |address: &str| {
        rows.iter()
            .find(|r| r["address"] == address)
            .map(|r| r["status"].as_str().unwrap().to_string())
            .unwrap_or_else(|| "absent".into())
    };
    assert_eq!(status_of("198.51.100.5"), "active");
    assert_eq!(status_of("192.0.2.99"), "rejected");
    assert_eq!(status_of("203.0.113.44"), "active");
    let store = Store::open_existing(&env.state, Duration::from_secs(5))
        .unwrap()
        .unwrap();
    assert_eq!(store.format().unwrap(), Some(FORMAT_VERSION));
    check_main_fields(&store.all().unwrap());
}
