//! `lmguard block` end to end against the fake LoadMaster.

use crate::common;

use common::{fixture, Env};
use fake_loadmaster::{DuplicateAdd, Fault, Options, Scope, Switches};

#[test]
fn blocks_an_address_once_and_records_it_active() {
    let env = Env::new();
    let out = env.run(&["block", "203.0.113.7", "--reason", "manual test"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("blocked   203.0.113.7"),
        "{}",
        out.stdout()
    );
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
    let entry = &env.lm.entries(Scope::Global)[0];
    assert_eq!(entry.comment, "lmguard manual");
    let row = env.row("203.0.113.7").unwrap();
    assert_eq!(row["status"], "active");
    assert_eq!(row["reason"], "manual test");
    assert!(row["vs"].is_null());
    assert!(row["event_id"].is_null());
}

#[test]
fn reblocking_extends_without_a_second_call() {
    let env = Env::new();
    assert_eq!(
        env.run(&["block", "203.0.113.7", "--duration", "1h"])
            .code(),
        0
    );
    let first = env.row("203.0.113.7").unwrap()["expires_at"].clone();
    let out = env.run(&["block", "203.0.113.7", "--duration", "2d"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stdout().contains("extended"), "{}", out.stdout());
    let second = env.row("203.0.113.7").unwrap()["expires_at"].clone();
    assert!(second.as_str() > first.as_str(), "{first} then {second}");
    // A shorter duration never shortens it.
    env.run(&["block", "203.0.113.7", "--duration", "1h"]);
    assert_eq!(env.row("203.0.113.7").unwrap()["expires_at"], second);
    assert_eq!(env.calls_for("add", "203.0.113.7"), 1);
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
}

#[test]
fn addresses_are_normalised_and_bad_ones_rejected_with_exit_4() {
    let env = Env::new();
    let out = env.run(&[
        "block",
        "2001:DB8::1",
        "192.0.2.7/32",
        "192.0.2.010",
        "not-an-ip",
    ]);
    assert_eq!(out.code(), 4, "{}", out.all());
    assert!(out.stderr().contains("'192.0.2.010'"), "{}", out.stderr());
    assert!(out.stderr().contains("'not-an-ip'"), "{}", out.stderr());
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["192.0.2.7", "2001:db8::1/128"],
        "an IPv6 host is sent as /128 (Kemp takes a bare address as /32)"
    );
}

#[test]
fn vs_option_targets_the_virtual_service_list() {
    let env = Env::new();
    let out = env.run(&["block", "--vs", "3", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on_lm(Scope::Vs(3)), ["203.0.113.7"]);
    assert!(env.on_lm(Scope::Global).is_empty());
    assert_eq!(env.row("203.0.113.7").unwrap()["vs"], 3);
}

#[test]
fn ads_tsv_fixture_blocks_every_source_with_its_event() {
    let env = Env::new();
    let out = env.run_stdin(&["block"], fixture("ads-events.tsv"));
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        [
            "192.0.2.15",
            "192.0.2.77",
            "198.51.100.200",
            "203.0.113.7",
            "203.0.113.8"
        ]
    );
    let row = env.row("203.0.113.7").unwrap();
    assert_eq!(row["event_id"], "532028");
    assert_eq!(row["reason"], "SSHDICT SSH attack");
    let comment = env
        .lm
        .entries(Scope::Global)
        .into_iter()
        .find(|e| e.addr == "203.0.113.7")
        .unwrap()
        .comment;
    assert_eq!(comment, "lmguard ADS 532028 SSHDICT");
}

#[test]
fn ids_and_json_fixtures_are_understood() {
    let env = Env::new();
    assert_eq!(
        env.run_stdin(&["block"], fixture("ids-events.tsv")).code(),
        0
    );
    assert_eq!(
        env.run_stdin(&["block"], fixture("ads-events.jsonl"))
            .code(),
        0
    );
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        [
            "2001:db8:bad::5/128",
            "203.0.113.30",
            "203.0.113.60",
            "203.0.113.61",
            "203.0.113.62"
        ]
    );
    assert_eq!(env.row("203.0.113.61").unwrap()["event_id"], "640002");
}

#[test]
fn ipv6_fixture_is_normalised_and_widened_when_configured() {
    let env = Env::new();
    assert_eq!(
        env.run_stdin(&["block"], fixture("ipv6-events.tsv")).code(),
        0
    );
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        [
            "2001:db8::ab/128",
            "2001:db8:abcd:12::1/128",
            "2001:db8:abcd:12::2/128"
        ]
    );

    let wide = Env::with(Options::default(), "[block]\nipv6_prefix = 64\n");
    assert_eq!(
        wide.run_stdin(&["block"], fixture("ipv6-events.tsv"))
            .code(),
        0
    );
    assert_eq!(
        wide.on_lm_sorted(Scope::Global),
        ["2001:db8::/64", "2001:db8:abcd:12::/64"]
    );
}

#[test]
fn malformed_lines_are_reported_and_the_good_ones_blocked() {
    let env = Env::new();
    let out = env.run_stdin(&["block"], fixture("mixed-malformed.tsv"));
    assert_eq!(out.code(), 4, "{}", out.all());
    let err = out.stderr();
    for line in [3, 4, 6, 7, 8, 10, 11, 12, 14] {
        assert!(
            err.contains(&format!("line {line}: ")),
            "line {line} not reported:\n{err}"
        );
    }
    assert!(
        !err.contains("line 2:") && !err.contains("line 13:"),
        "{err}"
    );
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["203.0.113.90", "203.0.113.91", "203.0.113.92"]
    );
    assert_eq!(
        env.calls_for("add", "203.0.113.90"),
        1,
        "line 13 repeats line 1"
    );
}

#[test]
fn unknown_ads_parameters_are_ignored_with_a_warning() {
    let env = Env::new();
    let out = env.run_stdin(
        &["block", "--vs", "3", "--ticket", "42", "--duration", "36h"],
        fixture("ads-events.jsonl"),
    );
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stderr().contains("--ticket"), "{}", out.stderr());
    assert_eq!(env.on_lm(Scope::Vs(3)).len(), 3);
}

#[test]
fn loadmaster_down_records_pending_and_sweep_applies_it_later() {
    let env = Env::new();
    env.lm.set_fault(Fault::Down);
    let out = env.run_stdin(&["block"], fixture("ads-events.tsv"));
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(out.stderr().contains("sweep"), "{}", out.stderr());
    assert!(env.rows().iter().all(|r| r["status"] == "pending_block"));
    assert_eq!(env.rows().len(), 5);

    env.lm.set_fault(Fault::None);
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(env.rows().iter().all(|r| r["status"] == "active"));
    let on_lm = env.on_lm(Scope::Global);
    assert_eq!(on_lm.len(), 5);
    for addr in &on_lm {
        assert_eq!(env.calls_for("add", addr), 1, "{addr} sent once");
    }
}

#[test]
fn a_slow_loadmaster_times_out_into_pending() {
    let env = Env::new();
    env.lm
        .set_fault(Fault::Delay(std::time::Duration::from_secs(4)));
    let start = std::time::Instant::now();
    let out = env.run(&["block", "203.0.113.7", "203.0.113.8"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(
        start.elapsed().as_secs() < 4,
        "one timeout, not one per address"
    );
    assert_eq!(env.status_of("203.0.113.7"), "pending_block");
    assert_eq!(env.status_of("203.0.113.8"), "pending_block");
}

#[test]
fn server_errors_and_unreadable_answers_leave_the_block_pending() {
    for fault in [
        Fault::Http500Html,
        Fault::InvalidJson,
        Fault::ResetConnection,
    ] {
        let env = Env::new();
        env.lm.set_fault(fault);
        let out = env.run(&["block", "203.0.113.7"]);
        assert_eq!(out.code(), 3, "{fault:?}: {}", out.all());
        assert_eq!(env.status_of("203.0.113.7"), "pending_block", "{fault:?}");
        env.lm.set_fault(Fault::None);
        assert_eq!(env.run(&["sweep"]).code(), 0, "{fault:?}");
        assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"], "{fault:?}");
    }
}

#[test]
fn a_refused_key_is_not_retried_and_never_printed() {
    let env = Env::new();
    env.lm.set_api_key("another-key");
    let out = env.run(&["-vv", "block", "203.0.113.7", "203.0.113.8"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(out.stderr().contains("API key"), "{}", out.stderr());
    assert!(!out.all().contains(common::KEY), "the key leaked");
    assert_eq!(env.lm.request_count(), 1, "a 401 is never retried");
}

#[test]
fn an_entry_already_on_the_loadmaster_counts_as_blocked() {
    let env = Env::with(
        Options {
            switches: Switches {
                duplicate_add: DuplicateAdd::Error,
                ..Switches::default()
            },
            ..Options::default()
        },
        "",
    );
    env.lm
        .insert_entry(Scope::Global, "203.0.113.7/32", "put there earlier");
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.status_of("203.0.113.7"), "active");
    assert_eq!(env.on_lm(Scope::Global).len(), 1, "no duplicate");
}

#[test]
fn firmware_that_wants_a_prefix_gets_one() {
    let env = Env::new();
    env.lm.set_require_prefix(true);
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7/32"]);
    assert_eq!(env.status_of("203.0.113.7"), "active");
}

#[test]
fn dry_run_sends_nothing_and_creates_no_state() {
    let env = Env::new();
    let out = env.run(&["block", "--dry-run", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("would send: POST"),
        "{}",
        out.stdout()
    );
    assert!(
        out.stdout().contains("\"addr\":\"203.0.113.7\""),
        "{}",
        out.stdout()
    );
    assert!(!out.stdout().contains(common::KEY));
    assert_eq!(env.lm.request_count(), 0);
    assert!(!env.state.exists(), "dry run created the state file");
}

#[test]
fn concurrent_blocks_are_each_stored_and_sent_exactly_once() {
    let env = Env::new();
    let mut children = Vec::new();
    for i in 0..10 {
        // Each process blocks its own address and one shared by all.
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("lmguard"));
        cmd.arg("--config")
            .arg(&env.config)
            .args(["block", &format!("203.0.113.{}", 10 + i), "198.51.100.1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        children.push(cmd.spawn().unwrap());
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(!err.to_lowercase().contains("already open"), "{err}");
    }
    let rows = env.rows();
    assert_eq!(rows.len(), 11);
    assert!(rows.iter().all(|r| r["status"] == "active"), "{rows:?}");
    let on_lm = env.on_lm(Scope::Global);
    assert_eq!(on_lm.len(), 11, "{on_lm:?}");
    for addr in &on_lm {
        assert_eq!(env.calls_for("add", addr), 1, "{addr} sent once");
    }
}
