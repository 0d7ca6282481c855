//! unblock, sweep, list, configuration, TLS and locking, end to end.

use crate::common;

use std::time::Duration;

use common::{ca_signed, Env};
use fake_loadmaster::{DeleteMissing, Fault, Options, Scope};

#[test]
fn unblock_removes_remotely_and_keeps_history() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.7", "203.0.113.8"]).code(), 0);
    let out = env.run(&["unblock", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("unblocked 203.0.113.7"),
        "{}",
        out.stdout()
    );
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.8"]);
    assert_eq!(env.status_of("203.0.113.7"), "unblocked");
    // History stays out of the default list.
    let out = env.run(&["list", "--json"]);
    assert!(!out.stdout().contains("203.0.113.7"), "{}", out.stdout());
}

#[test]
fn unblocking_what_the_loadmaster_no_longer_has_succeeds() {
    for mode in [DeleteMissing::Error, DeleteMissing::Ok] {
        let env = Env::new();
        env.lm.set_delete_missing(mode);
        assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
        env.lm.clear_lists();
        let out = env.run(&["unblock", "203.0.113.7"]);
        assert_eq!(out.code(), 0, "{mode:?}: {}", out.all());
        assert_eq!(env.status_of("203.0.113.7"), "unblocked");
    }
}

#[test]
fn unblock_with_the_loadmaster_down_is_pending_and_never_comes_back() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    env.lm.set_fault(Fault::Down);
    let out = env.run(&["unblock", "203.0.113.7"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(env.status_of("203.0.113.7"), "pending_unblock");
    env.lm.set_fault(Fault::None);
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert_eq!(env.status_of("203.0.113.7"), "unblocked");
    assert!(env.on_lm(Scope::Global).is_empty());
    // Further sweeps never re-add it.
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert!(env.on_lm(Scope::Global).is_empty());
    assert_eq!(env.calls_for("add", "203.0.113.7"), 1);
}

#[test]
fn unblocking_an_unknown_address_touches_nothing() {
    let env = Env::new();
    env.lm
        .insert_entry(Scope::Global, "192.0.2.50", "somebody else's");
    let out = env.run(&["unblock", "192.0.2.50"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    assert!(out.stdout().contains("not touched"), "{}", out.stdout());
    assert_eq!(env.on_lm(Scope::Global), ["192.0.2.50"]);
}

#[test]
fn sweep_lifts_expired_blocks_and_keeps_the_rest() {
    let env = Env::new();
    assert_eq!(
        env.run(&["block", "203.0.113.7", "--duration", "1s"])
            .code(),
        0
    );
    assert_eq!(
        env.run(&["block", "203.0.113.8", "--duration", "1h"])
            .code(),
        0
    );
    assert_eq!(
        env.run(&["block", "--vs", "1", "203.0.113.9", "--duration", "1s"])
            .code(),
        0
    );
    std::thread::sleep(Duration::from_millis(2100));
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("expired 2 of 2 due"),
        "{}",
        out.stdout()
    );
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.8"]);
    assert!(env.on_lm(Scope::Vs(1)).is_empty());
    assert_eq!(env.status_of("203.0.113.7"), "expired");
    assert_eq!(env.status_of("203.0.113.9"), "expired");
    assert_eq!(env.status_of("203.0.113.8"), "active");
    // Blocked again after expiry: a new block, counted.
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    assert_eq!(env.row("203.0.113.7").unwrap()["times_blocked"], 2);
}

#[test]
fn sweep_dry_run_changes_nothing() {
    let env = Env::new();
    assert_eq!(
        env.run(&["block", "203.0.113.7", "--duration", "1s"])
            .code(),
        0
    );
    std::thread::sleep(Duration::from_millis(2100));
    env.lm.clear_requests();
    let out = env.run(&["sweep", "--dry-run"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("\"del\":\"block\""),
        "{}",
        out.stdout()
    );
    assert_eq!(env.lm.request_count(), 0);
    assert_eq!(env.status_of("203.0.113.7"), "active");
    let out = env.run(&["unblock", "--dry-run", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.lm.request_count(), 0);
    assert_eq!(env.status_of("203.0.113.7"), "active");
}

#[test]
fn sweep_dry_run_prints_the_plan_the_real_run_makes() {
    let env = Env::new();
    // .9 expires before .7, although .7 comes first in the state's order;
    // .5 stays active and the allowlist comes to cover it.
    for (addr, duration) in [("203.0.113.9", "1s"), ("203.0.113.7", "2s")] {
        let out = env.run(&["block", addr, "--duration", duration]);
        assert_eq!(out.code(), 0, "{}", out.all());
    }
    assert_eq!(env.run(&["block", "203.0.113.5"]).code(), 0);
    let tls = format!(
        "ca_file = \"{}\"\nconnections = 1\n",
        env.dir.path().join("lm.pem").display()
    );
    let allowlist = "allowlist = [\"203.0.113.5\"]\n";
    std::thread::sleep(Duration::from_millis(2100));
    let addresses = |lines: Vec<&str>| -> Vec<&'static str> {
        lines
            .iter()
            .map(|l| {
                ["203.0.113.5", "203.0.113.7", "203.0.113.9"]
                    .into_iter()
                    .find(|a| l.contains(&format!("\"addr\":\"{a}\"")))
                    .unwrap_or("?")
            })
            .collect()
    };

    // In simulate mode a sweep lifts nothing that needs a call, but says
    // what it would lift (issue 25), in its dry run and in the real run.
    env.write_config(&tls, &format!("[block]\nmode = \"simulate\"\n{allowlist}"));
    let dry = env.run(&["sweep", "--dry-run"]);
    assert_eq!(dry.code(), 0, "{}", dry.all());
    assert!(
        dry.stdout().contains("would unblock 203.0.113.5 (global)"),
        "{}",
        dry.all()
    );
    assert!(dry.stdout().contains("would send nothing"), "{}", dry.all());
    let real = env.run(&["sweep"]);
    assert_eq!(real.code(), 0, "{}", real.all());
    assert!(!real.stdout().contains("unblocking"), "{}", real.all());
    assert!(
        real.stdout().contains("would unblock 203.0.113.5 (global)"),
        "{}",
        real.all()
    );
    assert_eq!(env.status_of("203.0.113.5"), "active");

    // Enforcing, the dry run lists the calls the real run then makes, in
    // the order it makes them (one connection: one call at a time).
    env.write_config(&tls, &format!("[block]\n{allowlist}"));
    let dry = env.run(&["sweep", "--dry-run"]);
    assert_eq!(dry.code(), 0, "{}", dry.all());
    let would = addresses(
        dry.stdout()
            .lines()
            .filter_map(|l| l.strip_prefix("would send: "))
            .collect(),
    );
    assert_eq!(
        would,
        ["203.0.113.9", "203.0.113.7", "203.0.113.5"],
        "{}",
        dry.all()
    );
    assert!(
        dry.stdout().contains("would unblock 203.0.113.5 (global)"),
        "{}",
        dry.all()
    );
    env.lm.clear_requests();
    let real = env.run(&["sweep"]);
    assert_eq!(real.code(), 0, "{}", real.all());
    let sent: Vec<String> = env
        .lm
        .requests()
        .iter()
        .filter(|r| r.param("del").is_some())
        .filter_map(|r| r.param("addr").map(|a| format!("\"addr\":\"{a}\"")))
        .collect();
    assert_eq!(
        addresses(sent.iter().map(String::as_str).collect()),
        would,
        "{}",
        real.all()
    );
}

#[test]
fn list_json_rows_follow_the_contract() {
    let env = Env::new();
    assert_eq!(
        env.run(&[
            "block",
            "--vs",
            "2",
            "198.51.100.0/24",
            "--duration",
            "permanent"
        ])
        .code(),
        0
    );
    let rows = env.rows();
    let row = &rows[0];
    for key in common::ROW_KEYS {
        assert!(row.get(key).is_some(), "missing {key}: {row}");
    }
    assert_eq!(row["address"], "198.51.100.0/24");
    assert_eq!(row["vs"], 2);
    assert!(row["expires_at"].is_null());
    assert!(row["blocked_at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn list_table_sorts_by_expiry_and_cuts_nothing_off_a_terminal() {
    let env = Env::new();
    assert_eq!(
        env.run(&[
            "block",
            "203.0.113.7",
            "--duration",
            "2d",
            "--reason",
            "a long reason that is cut only to fit a terminal, never in a pipe or a file"
        ])
        .code(),
        0
    );
    assert_eq!(
        env.run(&["block", "203.0.113.8", "--duration", "1h"])
            .code(),
        0
    );
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let text = out.stdout();
    assert!(
        text.contains("never in a pipe or a file"),
        "cut off a terminal:\n{text}"
    );
    let first = text.find("203.0.113.8").unwrap();
    let second = text.find("203.0.113.7").unwrap();
    assert!(first < second, "sorted by expiry:\n{text}");
    assert!(text.contains("1d 23h") || text.contains("2d"), "{text}");
}

#[test]
fn config_errors_exit_2_and_name_the_key() {
    let env = Env::new();
    env.write_config("", "[block]\ndurration = \"1h\"\n");
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    assert!(out.stderr().contains("durration"), "{}", out.stderr());

    env.write_config("api_key = \"inline-secret\"\n", "");
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    assert!(out.stderr().contains("api_key_file"), "{}", out.stderr());
    assert!(!out.stderr().contains("inline-secret"));
    assert_eq!(env.lm.request_count(), 0);

    let out = common::Out(
        assert_cmd::Command::cargo_bin("lmguard")
            .unwrap()
            .args(["--config", "/nonexistent/lm.toml", "list"])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code(), 2);
    assert!(
        out.stderr().contains("/nonexistent/lm.toml"),
        "{}",
        out.stderr()
    );
}

#[test]
fn config_is_found_through_the_environment() {
    let env = Env::new();
    let out = common::Out(
        assert_cmd::Command::cargo_bin("lmguard")
            .unwrap()
            .env("LMGUARD_CONFIG", &env.config)
            .args(["block", "203.0.113.7"])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
}

#[test]
fn tls_is_verified_against_ca_file_or_refused() {
    // CA-signed certificate: trusted through its CA in ca_file.
    let env = Env::with(ca_signed(), "");
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    // No ca_file: the system roots do not know the fake's CA.
    env.write_config("", "");
    let out = env.run(&["block", "203.0.113.8"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(out.stderr().contains("ca_file"), "{}", out.stderr());
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
    // Another certificate in ca_file does not help.
    let other = fake_loadmaster::FakeLoadMaster::start(Options::default()).unwrap();
    std::fs::write(env.dir.path().join("other.pem"), other.ca_pem()).unwrap();
    env.write_config(
        &format!(
            "ca_file = \"{}\"\n",
            env.dir.path().join("other.pem").display()
        ),
        "",
    );
    assert_eq!(env.run(&["block", "203.0.113.8"]).code(), 3);
    // Verification off works, with a warning.
    env.write_config("insecure_skip_tls_verify = true\n", "");
    let out = env.run(&["block", "203.0.113.8"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stderr().contains("verification"), "{}", out.stderr());
}

#[test]
fn a_held_lock_makes_lmguard_wait_then_exit_5() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    env.write_config(
        &format!(
            "ca_file = \"{}\"\n",
            env.dir.path().join("lm.pem").display()
        ),
        "",
    );
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("lock_timeout = \"20s\"", "lock_timeout = \"300ms\"");
    std::fs::write(&env.config, text).unwrap();
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(env.state.with_extension("redb.lock"))
        .unwrap();
    lock.lock().unwrap();
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 5, "{}", out.all());
    assert!(out.stderr().contains("busy"), "{}", out.stderr());
    lock.unlock().unwrap();
    assert_eq!(env.run(&["list"]).code(), 0);
}

#[test]
fn a_corrupt_state_file_is_exit_5_naming_the_file() {
    let env = Env::new();
    std::fs::create_dir_all(env.state.parent().unwrap()).unwrap();
    std::fs::write(&env.state, b"definitely not a redb database").unwrap();
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 5, "{}", out.all());
    assert!(out.stderr().contains("state.redb"), "{}", out.stderr());
}

#[test]
fn the_api_key_never_appears_in_any_output() {
    let env = Env::new();
    let log = env.dir.path().join("lmguard.log");
    env.write_config(
        &format!(
            "ca_file = \"{}\"\n",
            env.dir.path().join("lm.pem").display()
        ),
        &format!("[log]\nfile = \"{}\"\nlevel = \"trace\"\n", log.display()),
    );
    let mut seen = String::new();
    for args in [
        vec!["-vv", "block", "203.0.113.7"],
        vec!["-vv", "block", "--dry-run", "203.0.113.8"],
        vec!["-vv", "list", "--all", "--json"],
        vec!["-vv", "list"],
        vec!["-vv", "unblock", "203.0.113.7"],
        vec!["-vv", "sweep"],
        vec!["block", "203.0.113.10"],
    ] {
        seen.push_str(&env.run(&args).all());
    }
    env.lm.set_api_key("rotated");
    seen.push_str(&env.run(&["-vv", "block", "203.0.113.9"]).all());
    env.lm.set_fault(Fault::Down);
    seen.push_str(&env.run(&["-vv", "sweep"]).all());
    seen.push_str(&std::fs::read_to_string(&log).unwrap());
    assert!(
        seen.contains("added 203.0.113.7"),
        "info lines are logged:\n{seen}"
    );
    assert!(!seen.contains(common::KEY), "API key leaked:\n{seen}");
}

#[test]
fn one_run_reuses_one_connection() {
    let env = Env::new();
    let out = env.run(&[
        "block",
        "203.0.113.1",
        "203.0.113.2",
        "203.0.113.3",
        "203.0.113.4",
    ]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.lm.request_count(), 4);
    assert_eq!(
        env.lm.connections_accepted(),
        1,
        "every request of a run on one connection"
    );
}

#[test]
fn a_failing_entry_does_not_stop_sweep_for_the_others() {
    let env = Env::new();
    env.lm.set_fault(Fault::Down);
    assert_eq!(env.run(&["block", "--vs", "99", "203.0.113.7"]).code(), 3);
    assert_eq!(env.run(&["block", "203.0.113.8"]).code(), 3);
    env.lm.set_fault(Fault::None);
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 4, "refused for good: {}", out.all());
    assert!(out.stderr().contains("Unknown VS"), "{}", out.stderr());
    assert!(out.stderr().contains("(VS 99)"), "{}", out.stderr());
    assert_eq!(env.status_of("203.0.113.7"), "rejected");
    assert_eq!(env.status_of("203.0.113.8"), "active");
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.8"]);
}

#[test]
fn unblock_finds_an_ipv6_host_recorded_as_its_network() {
    let env = Env::with(Options::default(), "[block]\nipv6_prefix = 64\n");
    assert_eq!(env.run(&["block", "2001:db8:abcd:12::1"]).code(), 0);
    assert_eq!(env.on_lm(Scope::Global), ["2001:db8:abcd:12::/64"]);
    let out = env.run(&["unblock", "2001:db8:abcd:12::1"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(env.on_lm(Scope::Global).is_empty());
    assert_eq!(env.status_of("2001:db8:abcd:12::/64"), "unblocked");
}

#[test]
fn an_address_someone_else_blocked_is_never_removed_by_lmguard() {
    let env = Env::new();
    env.lm
        .insert_entry(Scope::Global, "203.0.113.7", "bob: permanent by hand");
    let out = env.run(&["block", "203.0.113.7", "--duration", "1s"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stdout().contains("not lmguard's"), "{}", out.stdout());
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert_eq!(env.status_of("203.0.113.7"), "expired");
    assert_eq!(
        env.on_lm(Scope::Global),
        ["203.0.113.7"],
        "bob's entry stays"
    );
    assert_eq!(env.calls_for("del", "203.0.113.7"), 0);
}

#[test]
fn list_and_dry_runs_work_for_a_reader_and_write_nothing() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    let before = std::fs::read(&env.state).unwrap();
    let modified = std::fs::metadata(&env.state).unwrap().modified().unwrap();
    assert_eq!(env.run(&["list", "--all"]).code(), 0);
    assert_eq!(env.run(&["block", "--dry-run", "203.0.113.8"]).code(), 0);
    assert_eq!(env.run(&["unblock", "--dry-run", "203.0.113.7"]).code(), 0);
    assert_eq!(env.run(&["sweep", "--dry-run"]).code(), 0);
    assert_eq!(std::fs::read(&env.state).unwrap(), before);
    assert_eq!(
        std::fs::metadata(&env.state).unwrap().modified().unwrap(),
        modified
    );
}

#[test]
fn sweep_does_not_retry_what_the_allowlist_now_covers() {
    let env = Env::new();
    env.lm.set_fault(Fault::Down);
    assert_eq!(env.run(&["block", "203.0.113.7", "203.0.113.8"]).code(), 3);
    env.lm.set_fault(Fault::None);
    env.write_config(
        &format!(
            "ca_file = \"{}\"\n",
            env.dir.path().join("lm.pem").display()
        ),
        "[block]\nallowlist = [\"203.0.113.7\"]\n",
    );
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("203.0.113.7 (global): not re-added"),
        "{}",
        out.stdout()
    );
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.8"]);
    assert_eq!(env.status_of("203.0.113.7"), "unblocked");
    assert_eq!(env.calls_for("add", "203.0.113.7"), 0, "never sent");
}

#[test]
fn bulk_work_spreads_over_a_few_connections() {
    let env = Env::new();
    let addrs: Vec<String> = (1..=64).map(|i| format!("203.0.113.{i}")).collect();
    let mut args = vec!["block"];
    args.extend(addrs.iter().map(String::as_str));
    let out = env.run(&args);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global).len(), 64);
    let connections = env.lm.connections_accepted();
    assert!((2..=4).contains(&connections), "{connections} connections");
    for a in &addrs {
        assert_eq!(env.calls_for("add", a), 1, "{a} sent once");
    }
}
