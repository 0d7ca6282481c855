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
