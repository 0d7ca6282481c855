//! Faults, from the real binary against the fake LoadMaster: each ends with
//! the documented exit code and a clear message, local state records what
//! still has to happen, and the next sweep or `sync --apply` completes it —
//! every block present on the LoadMaster exactly once.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Env;
use fake_loadmaster::{Fault, Scope, VirtualService};

const ADDRS: [&str; 5] = [
    "203.0.113.1",
    "203.0.113.2",
    "203.0.113.3",
    "203.0.113.4",
    "203.0.113.5",
];

/// Every address on the global list exactly once, and recorded active.
fn assert_all_blocked_once(env: &Env, addrs: &[&str]) {
    let mut on_lm = env.on_lm(Scope::Global);
    on_lm.sort();
    let mut want: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    want.sort();
    assert_eq!(on_lm, want, "each present exactly once");
    for a in addrs {
        assert_eq!(env.status_of(a), "active", "{a}");
    }
}

fn block_under(env: &Env, fault: Fault) -> common::Out {
    env.lm.set_fault(fault);
    let mut args = vec!["block"];
    args.extend_from_slice(&ADDRS);
    let out = env.run(&args);
    env.lm.set_fault(Fault::None);
    out
}

#[test]
fn each_fault_ends_in_exit_3_and_the_next_sweep_completes_it() {
    let faults = [
        Fault::Down,
        Fault::Delay(Duration::from_secs(3)),
        Fault::Http500Html,
        Fault::ResetConnection,
        Fault::FailAfter(2),
        Fault::InvalidJson,
        Fault::Body(200, "[1, 2, 3]"),
        Fault::Body(200, "{\"code\": \"two hundred\"}"),
        Fault::Body(200, "{}"),
        Fault::Body(502, "<html><body>Bad gateway</body></html>"),
    ];
    for fault in faults {
        let env = Env::new();
        let out = block_under(&env, fault);
        assert_eq!(out.code(), 3, "{fault:?}: {}", out.all());
        let last = out.stderr().lines().last().unwrap_or("").to_string();
        assert!(last.contains("sweep"), "{fault:?}: last line {last:?}");
        let pending = env
            .rows()
            .iter()
            .filter(|r| r["status"] == "pending_block")
            .count();
        assert!(pending >= 1, "{fault:?}: work recorded as pending");
        let out = env.run(&["sweep"]);
        assert_eq!(out.code(), 0, "{fault:?}: {}", out.all());
        assert_all_blocked_once(&env, &ADDRS);
    }
}

#[test]
fn sync_apply_completes_pending_work_too() {
    let env = Env::new();
    assert_eq!(block_under(&env, Fault::FailAfter(1)).code(), 3);
    let out = env.run(&["sync", "--apply"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_all_blocked_once(&env, &ADDRS);
}

#[test]
fn a_wrong_key_is_reported_once_and_repaired_after_the_key_is_fixed() {
    let env = Env::new();
    env.lm.set_api_key("rotated-key");
    let out = block_under(&env, Fault::None);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(out.stderr().contains("API key"), "{}", out.stderr());
    assert_eq!(env.lm.request_count(), 1, "a refused key is not retried");
    std::fs::write(env.dir.path().join("api-key"), "rotated-key\n").unwrap();
    env.lm.set_api_key("rotated-key");
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert_all_blocked_once(&env, &ADDRS);
}

#[test]
fn an_unknown_virtual_service_is_rejected_and_a_new_block_tries_again() {
    let env = Env::new();
    let out = env.run(&["block", "--vs", "7", "203.0.113.1"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    assert!(out.stderr().contains("Unknown VS"), "{}", out.stderr());
    assert_eq!(env.status_of("203.0.113.1"), "rejected");
    let mut vss = fake_loadmaster::default_virtual_services();
    vss.push(VirtualService::new(7, "192.0.2.12", 443, "tcp"));
    env.lm.set_virtual_services(vss);
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert!(
        env.on_lm(Scope::Vs(7)).is_empty(),
        "sweep does not retry it"
    );
    assert_eq!(env.run(&["block", "--vs", "7", "203.0.113.1"]).code(), 0);
    assert_eq!(env.on_lm(Scope::Vs(7)), ["203.0.113.1"]);
}

fn events(n: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..n {
        let addr = std::net::Ipv4Addr::from(0x0a00_0000u32 + i as u32);
        s.push_str(&format!(
            "{}\t2026-11-24 10:13:00\t \tSCANS\tPort scanning\t \t \tSecurity Issues\tHigh\tscan\t \t \t{addr}\t \t198.51.100.40\tLAN\n",
            900_000 + i
        ));
    }
    s.into_bytes()
}

fn spawn(env: &Env, args: &[&str], stdin: Option<Vec<u8>>) -> std::process::Child {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("lmguard"))
        .arg("--config")
        .arg(&env.config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        std::thread::spawn(move || {
            let mut input = input;
            let _ = std::io::Write::write_all(&mut input, &bytes);
        });
    }
    child
}

/// Kill the child once the LoadMaster has seen `requests` requests.
fn kill_after(env: &Env, child: &mut std::process::Child, requests: u64) {
    let start = Instant::now();
    while env.lm.request_count() < requests {
        assert!(start.elapsed() < Duration::from_secs(60), "never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn kill_9_during_a_10000_event_batch_loses_nothing() {
    let env = Env::new();
    env.lm.set_recording(false);
    env.lm.set_fault(Fault::Delay(Duration::from_millis(1)));
    let mut child = spawn(&env, &["block"], Some(events(10_000)));
    kill_after(&env, &mut child, 600);
    env.lm.set_fault(Fault::None);
    // Standard input is read in batches (at least one a second while it
    // flows), so a kill -9 may come before the last lines were read: those
    // never reached lmguard. What was read is recorded before any call of
    // its batch: every entry on the LoadMaster has its local record.
    let rows = env.rows();
    let recorded: std::collections::HashSet<String> = rows
        .iter()
        .map(|r| r["address"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(recorded.len(), rows.len(), "one record per address");
    let sent = env.lm.entries(Scope::Global);
    assert!(
        sent.len() >= 500 && rows.len() >= sent.len(),
        "{} sent, {} recorded",
        sent.len(),
        rows.len()
    );
    for entry in &sent {
        assert!(
            recorded.contains(&entry.addr),
            "{} reached the LoadMaster without a local record",
            entry.addr
        );
    }
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let on_lm = env.lm.entries(Scope::Global);
    let distinct: std::collections::HashSet<&str> = on_lm.iter().map(|e| e.addr.as_str()).collect();
    assert_eq!(distinct.len(), on_lm.len(), "no block present twice");
    assert_eq!(on_lm.len(), rows.len(), "each recorded block present");
    assert!(env.rows().iter().all(|r| r["status"] == "active"));
}

#[test]
fn kill_9_during_a_long_sweep_and_the_next_sweep_finishes() {
    let env = Env::new();
    env.lm.set_recording(false);
    assert_eq!(
        env.run_stdin(&["block", "--duration", "1s"], events(2_000))
            .code(),
        0
    );
    std::thread::sleep(Duration::from_millis(2100));
    let before = env.lm.request_count();
    env.lm.set_fault(Fault::Delay(Duration::from_millis(2)));
    let mut child = spawn(&env, &["sweep"], None);
    kill_after(&env, &mut child, before + 300);
    env.lm.set_fault(Fault::None);
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(env.lm.entries(Scope::Global).is_empty());
    assert!(env.rows().iter().all(|r| r["status"] == "expired"));
}

#[test]
fn sixteen_blocks_and_a_sweep_at_once_lose_nothing_and_send_nothing_twice() {
    let env = Env::new();
    // Something for the sweep to do meanwhile: pending blocks from an outage.
    env.lm.set_fault(Fault::Down);
    assert_eq!(
        env.run(&["block", "198.51.100.1", "198.51.100.2"]).code(),
        3
    );
    env.lm.set_fault(Fault::Delay(Duration::from_millis(2)));
    let mut children = Vec::new();
    for p in 0..16u32 {
        // 40 addresses of its own, and 10 shared by every process.
        let mut args: Vec<String> = vec!["block".into()];
        for i in 0..40u32 {
            args.push(std::net::Ipv4Addr::from(0x0a01_0000 + p * 256 + i).to_string());
        }
        for i in 0..10u32 {
            args.push(std::net::Ipv4Addr::from(0x0a02_0000 + i).to_string());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        children.push(spawn(&env, &refs, None));
    }
    children.push(spawn(&env, &["sweep"], None));
    for child in children {
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(!err.to_lowercase().contains("already open"), "{err}");
    }
    env.lm.set_fault(Fault::None);
    let rows = env.rows();
    assert_eq!(rows.len(), 16 * 40 + 10 + 2);
    assert!(
        rows.iter().all(|r| r["status"] == "active"),
        "no lost update"
    );
    let requests = env.lm.requests();
    let mut adds = std::collections::HashMap::new();
    for r in requests.iter().filter(|r| r.param("add").is_some()) {
        *adds
            .entry(r.param("addr").unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(adds.len(), rows.len());
    assert!(adds.values().all(|&n| n == 1), "an add was sent twice");
    assert_eq!(env.lm.entries(Scope::Global).len(), rows.len());
}

#[test]
fn damaged_or_unusable_state_files_are_exit_5_and_never_start_empty() {
    let env = Env::new();
    assert_eq!(env.run_stdin(&["block"], events(200)).code(), 0);
    // Truncated to half.
    let bytes = std::fs::read(&env.state).unwrap();
    std::fs::write(&env.state, &bytes[..bytes.len() / 2]).unwrap();
    for args in [vec!["list"], vec!["block", "203.0.113.9"], vec!["sweep"]] {
        let out = env.run(&args);
        if out.code() == 0 && args == ["list"] {
            // redb may recover from a torn tail; then nothing may be missing.
            assert_eq!(env.rows().len(), 200, "recovered, but rows were lost");
            continue;
        }
        assert_eq!(out.code(), 5, "{args:?}: {}", out.all());
        assert!(out.stderr().contains("state.redb"), "{}", out.stderr());
        assert!(!out.stderr().contains("panicked"), "{}", out.stderr());
    }
    // Garbage.
    std::fs::write(&env.state, vec![0xAB; 10_000]).unwrap();
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 5, "{}", out.all());
    assert!(out.stderr().contains("state.redb"), "{}", out.stderr());
}

#[test]
fn a_state_file_from_a_newer_lmguard_is_refused() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.1"]).code(), 0);
    {
        let db = redb::Database::create(&env.state).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
            let mut meta = txn.open_table(def).unwrap();
            meta.insert("format", 99).unwrap();
        }
        txn.commit().unwrap();
    }
    for args in [vec!["list"], vec!["block", "203.0.113.2"]] {
        let out = env.run(&args);
        assert_eq!(out.code(), 5, "{}", out.all());
        assert!(out.stderr().contains("newer lmguard"), "{}", out.stderr());
        assert!(out.stderr().contains("state.redb"), "{}", out.stderr());
    }
}

#[test]
fn an_unwritable_state_location_is_exit_5_naming_it() {
    let env = Env::new();
    // /proc cannot hold directories, even for root.
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        &env.state.display().to_string(),
        "/proc/lmguard-test/state.redb",
    );
    std::fs::write(&env.config, text).unwrap();
    let out = env.run(&["block", "203.0.113.1"]);
    assert_eq!(out.code(), 5, "{}", out.all());
    assert!(
        out.stderr().contains("/proc/lmguard-test"),
        "{}",
        out.stderr()
    );
    assert_eq!(env.lm.request_count(), 0, "nothing sent without a record");
}
