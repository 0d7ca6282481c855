//! The operator's first hour (issue 11): quiet cron runs, ADS parameters,
//! `check` proving writability, unblock naming the scope, list filters and
//! times, sync exit codes, messages and the contrib files.

mod common;

use std::time::Duration;

use common::{fixture, Env};
use fake_loadmaster::{Fault, Scope};

#[test]
fn sweep_quiet_prints_nothing_when_all_is_well() {
    let env = Env::new();
    assert_eq!(
        env.run(&["block", "203.0.113.7", "--duration", "1s"])
            .code(),
        0
    );
    std::thread::sleep(Duration::from_millis(2100));
    for args in [&["sweep", "--quiet"][..], &["-q", "sweep"][..]] {
        let out = env.run(args);
        assert_eq!(out.code(), 0, "{args:?}: {}", out.all());
        assert_eq!(out.all(), "", "{args:?} printed something");
    }
    assert_eq!(env.status_of("203.0.113.7"), "expired");
    assert!(env.on_lm(Scope::Global).is_empty());

    // A failure still prints its one line on standard error.
    assert_eq!(env.run(&["block", "203.0.113.9"]).code(), 0);
    env.lm.set_fault(Fault::Down);
    assert_eq!(env.run(&["unblock", "203.0.113.9"]).code(), 3);
    let out = env.run(&["sweep", "--quiet"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(out.stdout(), "");
    assert_eq!(out.stderr().lines().count(), 1, "{}", out.stderr());
}
