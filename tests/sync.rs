//! `lmguard sync` end to end: every kind of difference, repair, adoption,
//! tombstones, and a large list.

use crate::common;

use common::Env;
use fake_loadmaster::{Fault, ListShape, Options, Scope};
use serde_json::Value;

fn sync_json(env: &Env, extra: &[&str]) -> (i32, Vec<Value>) {
    let mut args = vec!["sync", "--json"];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    let rows: Value = serde_json::from_str(&out.stdout()).unwrap_or_else(|e| {
        panic!("sync --json printed no JSON ({e}): {}", out.all());
    });
    (out.code(), rows.as_array().unwrap().clone())
}

fn kinds(rows: &[Value]) -> Vec<(String, String)> {
    let mut k: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_string(),
                r["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    k.sort();
    k
}

/// One difference of each kind: 203.0.113.1 is missing on the LoadMaster,
/// 203.0.113.2 (unblocked) reappears there as from a restored backup,
/// 203.0.113.3 is an orphan with lmguard's comment, 203.0.113.4 foreign.
fn drifted() -> Env {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.1", "203.0.113.2"]).code(), 0);
    assert_eq!(env.run(&["unblock", "203.0.113.2"]).code(), 0);
    env.lm.clear_lists();
    env.lm
        .insert_entry(Scope::Global, "203.0.113.2", "lmguard manual");
    env.lm
        .insert_entry(Scope::Global, "203.0.113.3", "lmguard ADS 77 SCANS");
    env.lm
        .insert_entry(Scope::Global, "203.0.113.4", "ADS ID 123 - SCANS");
    env
}

#[test]
fn in_step_means_exit_0() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    let out = env.run(&["sync"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stdout().contains("agree"), "{}", out.stdout());
}

#[test]
fn every_kind_is_reported_with_exit_6_and_nothing_changes() {
    let env = drifted();
    env.lm.clear_requests();
    let (code, rows) = sync_json(&env, &[]);
    assert_eq!(code, 6);
    assert_eq!(
        kinds(&rows),
        [
            ("203.0.113.1".into(), "missing_on_loadmaster".into()),
            ("203.0.113.2".into(), "stale_on_loadmaster".into()),
            ("203.0.113.3".into(), "orphaned".into()),
            ("203.0.113.4".into(), "foreign".into()),
        ]
    );
    for row in &rows {
        for key in ["address", "vs", "kind", "action"] {
            assert!(row.get(key).is_some(), "{key} missing in {row}");
        }
    }
    assert!(
        env.lm.requests().iter().all(|r| r.param("list").is_some()),
        "sync without --apply only reads"
    );
    let mut on_lm = env.on_lm(Scope::Global);
    on_lm.sort();
    assert_eq!(on_lm, ["203.0.113.2", "203.0.113.3", "203.0.113.4"]);
}

#[test]
fn apply_repairs_what_is_lmguards_and_never_touches_the_rest() {
    let env = drifted();
    let out = env.run(&["sync", "--apply"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let mut on_lm = env.on_lm(Scope::Global);
    on_lm.sort();
    assert_eq!(on_lm, ["203.0.113.1", "203.0.113.3", "203.0.113.4"]);
    assert_eq!(env.status_of("203.0.113.1"), "active");
    assert_eq!(env.status_of("203.0.113.2"), "unblocked");
    assert_eq!(
        env.status_of("203.0.113.3"),
        "absent",
        "orphans are left alone"
    );
    // What remains: an orphan (lmguard's comment, no record: it would never
    // expire, exit 6 until adopted) and a foreign entry (not counted).
    let (code, rows) = sync_json(&env, &[]);
    assert_eq!(code, 6);
    assert_eq!(
        kinds(&rows),
        [
            ("203.0.113.3".into(), "orphaned".into()),
            ("203.0.113.4".into(), "foreign".into()),
        ]
    );
}

/// Orphaned entries would never expire: `sync` exits 6 for them alone and
/// says how to take them; foreign entries alone leave it at 0.
#[test]
fn orphans_alone_exit_6_and_foreign_entries_alone_exit_0() {
    let env = Env::new();
    env.lm
        .insert_entry(Scope::Global, "198.51.100.7", "ADS ID 123 - SCANS");
    let out = env.run(&["sync"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    for i in 1..=3 {
        env.lm.insert_entry(
            Scope::Global,
            &format!("203.0.113.{i}"),
            "lmguard ADS 77 SCANS",
        );
    }
    for args in [&["sync"][..], &["sync", "--dry-run"], &["sync", "--json"]] {
        let out = env.run(args);
        assert_eq!(out.code(), 6, "{args:?}: {}", out.all());
        assert!(
            out.stderr().contains("3 orphaned entries") && out.stderr().contains("sync --adopt"),
            "{args:?}: {}",
            out.stderr()
        );
    }
    // Adopted, they are lmguard's own: sync agrees.
    assert_eq!(env.run(&["sync", "--adopt"]).code(), 0);
    let out = env.run(&["sync"]);
    assert_eq!(out.code(), 0, "{}", out.all());
}

#[test]
fn adopt_takes_over_the_old_scripts_entries() {
    let env = Env::new();
    env.lm
        .insert_entry(Scope::Global, "198.51.100.7", "ADS ID 123 - SCANS");
    env.lm
        .insert_entry(Scope::Global, "198.51.100.8/32", "lmguard ADS 5 SCANS");
    let out = env.run(&["sync", "--adopt"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let row = env.row("198.51.100.7").unwrap();
    assert_eq!(row["status"], "active");
    assert!(
        row["reason"]
            .as_str()
            .unwrap()
            .contains("ADS ID 123 - SCANS"),
        "{row}"
    );
    assert!(!row["expires_at"].is_null(), "the default duration applies");
    assert_eq!(env.status_of("198.51.100.8"), "active");
    let out = env.run(&["sync"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    // Adopted entries are lmguard's now: unblock removes them, whatever
    // spelling the LoadMaster stored.
    assert_eq!(
        env.run(&["unblock", "198.51.100.7", "198.51.100.8"]).code(),
        0
    );
    assert!(
        env.on_lm(Scope::Global).is_empty(),
        "{:?}",
        env.on_lm(Scope::Global)
    );
}

#[test]
fn an_unblocked_address_never_comes_back() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    assert_eq!(env.run(&["unblock", "203.0.113.7"]).code(), 0);
    for args in [
        vec!["sync", "--apply"],
        vec!["sweep"],
        vec!["sync", "--apply"],
    ] {
        let out = env.run(&args);
        assert_eq!(out.code(), 0, "{args:?}: {}", out.all());
    }
    assert!(env.on_lm(Scope::Global).is_empty());
    assert_eq!(env.status_of("203.0.113.7"), "unblocked");
    assert_eq!(env.calls_for("add", "203.0.113.7"), 1);
}

#[test]
fn an_address_allowlisted_after_it_was_blocked_is_not_readded() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    env.lm.clear_lists();
    env.write_config(
        &format!(
            "ca_file = \"{}\"\n",
            env.dir.path().join("lm.pem").display()
        ),
        "[block]\nallowlist = [\"203.0.113.0/24\"]\n",
    );
    let (code, rows) = sync_json(&env, &["--apply"]);
    assert_eq!(code, 0);
    assert_eq!(rows[0]["action"], "not re-added: allowlisted or protected");
    assert!(env.on_lm(Scope::Global).is_empty());
}

#[test]
fn pending_operations_are_completed_by_apply() {
    let env = Env::new();
    env.lm.set_fault(Fault::Down);
    assert_eq!(env.run(&["block", "--vs", "2", "203.0.113.7"]).code(), 3);
    env.lm.set_fault(Fault::None);
    let (code, rows) = sync_json(&env, &[]);
    assert_eq!(code, 6);
    assert_eq!(rows[0]["kind"], "missing_on_loadmaster");
    assert_eq!(rows[0]["vs"], 2);
    assert_eq!(env.run(&["sync", "--apply"]).code(), 0);
    assert_eq!(env.on_lm(Scope::Vs(2)), ["203.0.113.7"]);
    assert_eq!(env.status_of("203.0.113.7"), "active");
}

#[test]
fn without_comments_unknown_entries_are_foreign() {
    let env = Env::with(
        Options {
            switches: fake_loadmaster::Switches {
                list_shape: ListShape::AclStrings,
                ..Default::default()
            },
            ..Options::default()
        },
        "",
    );
    env.lm
        .insert_entry(Scope::Global, "203.0.113.9", "lmguard ADS 1 SCANS");
    let (code, rows) = sync_json(&env, &["--apply"]);
    assert_eq!(code, 0);
    assert_eq!(kinds(&rows), [("203.0.113.9".into(), "foreign".into())]);
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.9"]);
}

#[test]
fn loadmaster_trouble_changes_nothing() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    let before = env.rows();
    for fault in [Fault::Down, Fault::Http500Html, Fault::InvalidJson] {
        env.lm.set_fault(fault);
        let out = env.run(&["sync", "--apply"]);
        assert_eq!(out.code(), 3, "{fault:?}: {}", out.all());
        assert!(
            out.stderr().contains("nothing was changed"),
            "{}",
            out.stderr()
        );
        assert_eq!(env.rows(), before, "{fault:?}");
    }
}

#[test]
fn a_list_of_100000_entries_syncs_quickly() {
    let env = Env::new();
    for i in 0..100_000u32 {
        let addr = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
        env.lm.insert_entry(Scope::Global, &addr, "hand-made");
    }
    let start = std::time::Instant::now();
    let out = env.run(&["sync", "--json"]);
    // Hand-made entries only: reported, but nothing for --apply (exit 0).
    assert_eq!(out.code(), 0, "{}", out.stderr());
    let elapsed = start.elapsed();
    let rows: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 100_000);
    assert!(elapsed.as_secs() < 30, "took {elapsed:?}");
}

/// sync reads local state from a snapshot taken before it asks for the list,
/// decoded while the list is fetched; the state lock is let go as soon as
/// the snapshot is read, so a `block` need not wait for the LoadMaster's
/// answer to sync.
#[test]
fn sync_compares_a_snapshot_taken_before_the_list_and_frees_the_lock_meanwhile() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.31"]).code(), 0);
    let config = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        config.replace("lock_timeout = \"20s\"", "lock_timeout = \"300ms\""),
    )
    .unwrap();
    env.lm
        .set_fault(Fault::Delay(std::time::Duration::from_millis(1500)));
    let sync = env.spawn(&["sync"]);
    std::thread::sleep(std::time::Duration::from_millis(400));
    // sync is waiting on the list now; the state lock is free.
    let block = env.run(&["block", "203.0.113.32"]);
    assert_eq!(block.code(), 0, "{}", block.all());
    let sync = sync.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&sync.stdout);
    // Its snapshot predates the block (recorded pending while the list was
    // being fetched, added after the list was read): no difference.
    assert_eq!(
        sync.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&sync.stderr)
    );
    assert!(stdout.contains("agree"), "{stdout}");
    env.lm.set_fault(Fault::None);
    assert_eq!(env.status_of("203.0.113.32"), "active");
}
