//! A `block` killed (kill -9) after the LoadMaster made the change but
//! before its answer was recorded: the record made before the call is on
//! disk (pending, claimed by a process that is gone), and the next `sweep`
//! sends the request again, harmlessly, and ends it as active. This is also
//! the state a lost lazy post-answer commit leaves (docs/benchmarks.md).

use crate::common;

use std::time::{Duration, Instant};

use common::Env;
use fake_loadmaster::{Fault, Scope};

#[test]
fn a_block_killed_before_its_answer_is_recorded_is_settled_by_sweep() {
    let env = Env::new();
    // Something recorded already, so the file exists before the kill.
    assert_eq!(env.run(&["block", "203.0.113.1"]).code(), 0);
    env.lm
        .set_fault(Fault::AnswerDelay(Duration::from_secs(30)));
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("lmguard"))
        .arg("--config")
        .arg(&env.config)
        .args(["block", "203.0.113.7"])
        .env_remove("LMGUARD_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the LoadMaster has the entry (its answer is held back).
    let start = Instant::now();
    while !env
        .on_lm(Scope::Global)
        .contains(&"203.0.113.7".to_string())
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the add never arrived"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    env.lm.set_fault(Fault::None);

    // The record before the call survived: pending, to be retried.
    assert_eq!(env.status_of("203.0.113.7"), "pending_block");
    assert_eq!(env.status_of("203.0.113.1"), "active");

    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.status_of("203.0.113.7"), "active");
    // Sent twice (the retry), listed once: the re-send was harmless.
    assert_eq!(env.calls_for("add", "203.0.113.7"), 2);
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["203.0.113.1", "203.0.113.7"]
    );
    // And stats shows nothing stuck any more.
    let out = env.run(&["stats", "--json"]);
    let s: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(s["oldest_pending"], serde_json::Value::Null);
}

/// A one-shot `block` keeps its store open across a quick call, to record
/// the answer without opening it again (`state::Kept`). Killed just then,
/// with the database still open, it leaves what a kill after the close
/// leaves: the durable pending record, which redb's recovery keeps and the
/// next `sweep` settles.
#[test]
fn a_block_killed_while_it_keeps_the_state_open_loses_nothing() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.1"]).code(), 0);
    env.lm
        .set_fault(Fault::AnswerDelay(Duration::from_secs(30)));
    let lock_path = env.state.with_extension("redb.lock");
    let mut killed = Vec::new();
    let mut killed_while_kept = 0;
    // The store is kept for a few milliseconds only: try until a kill lands
    // then (the process still holds the state's lock).
    for i in 10..40 {
        let addr = format!("203.0.113.{i}");
        let mut child = env.spawn(&["block", &addr]);
        let start = Instant::now();
        while !env.on_lm(Scope::Global).contains(&addr) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the add never arrived"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        let lock = std::fs::File::open(&lock_path).unwrap();
        let kept = matches!(lock.try_lock(), Err(std::fs::TryLockError::WouldBlock));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        drop(lock);
        killed.push(addr);
        if kept {
            killed_while_kept += 1;
            if killed_while_kept == 2 {
                break;
            }
        }
    }
    env.lm.set_fault(Fault::None);
    assert!(
        killed_while_kept > 0,
        "no kill landed while the state was kept open"
    );

    for addr in &killed {
        assert_eq!(env.status_of(addr), "pending_block", "{addr}");
    }
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    for addr in &killed {
        assert_eq!(env.status_of(addr), "active", "{addr}");
        assert_eq!(
            env.calls_for("add", addr),
            2,
            "{addr}: sent, then once by sweep"
        );
    }
    assert_eq!(env.on_lm(Scope::Global).len(), killed.len() + 1);
}
