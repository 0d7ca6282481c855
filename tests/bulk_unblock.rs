//! Recovering from a detection that misfired (issue 18), end to end
//! against the fake LoadMaster: `list`/`unblock` by `--method`, `--since`
//! and `--reason`; `--yes` off a terminal and the question on one (a pty
//! from util-linux `script`); `--dry-run`; a LoadMaster that goes down
//! half-way; and the allowlist applied by `sweep` to blocks already in
//! place.

use crate::common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Env, Out};
use fake_loadmaster::{Fault, Options, Scope};
use lmguard::domain::entry::Entry;
use serde_json::{json, Value};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// ADS events (TSV), one per address, all of `method`.
fn events(method: &str, addrs: &[String], first_id: u64) -> Vec<u8> {
    let mut out = String::new();
    for (i, a) in addrs.iter().enumerate() {
        writeln!(
            out,
            "{id}\t2026-11-24 10:13:00\t \t{method}\t{method} detection\t \t \tSecurity Issues\t\
             High\tdetails\t \t \t{a}\t \t198.51.100.4\tLAN",
            id = first_id + i as u64
        )
        .unwrap();
    }
    out.into_bytes()
}

fn addrs(third: u8, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.{third}.{}.{}", i / 200, i % 200 + 1))
        .collect()
}

/// 100 SCANS blocks (10.1.x.x) and 100 SSHDICT blocks (10.2.x.x).
fn two_methods() -> (Env, Vec<String>, Vec<String>) {
    let env = Env::new();
    let scans = addrs(1, 100);
    let ssh = addrs(2, 100);
    let mut input = events("SCANS", &scans, 1_000);
    input.extend(events("SSHDICT", &ssh, 2_000));
    let out = env.run_stdin(&["block"], input);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global).len(), 200);
    (env, scans, ssh)
}

/// `--method` is the ADS method code of the event: a manual block whose
/// `--reason` begins with the same word is not one (`stats` counts it as
/// `manual`), and neither `list` nor `unblock` takes it.
#[test]
fn method_matches_events_only_not_manual_reasons() {
    let env = Env::new();
    let out = env.run_stdin(&["block"], events("SCANS", &["10.1.0.1".to_string()], 1));
    assert_eq!(out.code(), 0, "{}", out.all());
    let out = env.run(&["block", "10.9.0.1", "--reason", "SCANS seen by hand"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let out = env.run(&["list", "--json", "--method", "SCANS"]);
    let rows: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    let out = env.run(&["unblock", "--method", "SCANS", "--yes"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.status_of("10.1.0.1"), "unblocked");
    assert_eq!(env.status_of("10.9.0.1"), "active");
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn statuses(env: &Env) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = env
        .rows()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn status_count(env: &Env, status: &str) -> usize {
    env.rows().iter().filter(|r| r["status"] == status).count()
}

fn list_json(env: &Env, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["list", "--json"];
    all.extend_from_slice(args);
    let out = env.run(&all);
    assert_eq!(out.code(), 0, "{}", out.all());
    serde_json::from_str::<Value>(&out.stdout())
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_misfired_method_is_undone_with_method_and_the_other_is_untouched() {
    let (env, scans, ssh) = two_methods();

    // Look first: list selects exactly the misfired method.
    let listed = list_json(&env, &["--method", "scans", "--since", "2h"]);
    assert_eq!(listed.len(), 100);
    assert!(listed
        .iter()
        .all(|r| r["reason"].as_str().unwrap().starts_with("SCANS ")));

    let out = env.run(&["unblock", "--method", "SCANS", "--since", "2h", "--yes"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout()
            .contains("unblocked 100, left alone 0, pending 0, no record 0, rejected 0"),
        "{}",
        out.stdout()
    );
    // On the LoadMaster: only the other method's blocks remain.
    assert_eq!(sorted(env.on_lm(Scope::Global)), sorted(ssh.clone()));
    // In state: tombstones for one method, the other still active.
    for (address, status) in statuses(&env) {
        let want = if scans.contains(&address) {
            "unblocked"
        } else {
            "active"
        };
        assert_eq!(status, want, "{address}");
    }
    // No later sweep or sync puts them back.
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert_eq!(env.run(&["sync", "--apply"]).code(), 0);
    assert_eq!(sorted(env.on_lm(Scope::Global)), sorted(ssh));
    // Nothing left to match.
    let out = env.run(&["unblock", "--method", "SCANS", "--yes"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stdout().contains("no active or pending blocks match"));
}

#[test]
fn reason_and_repeated_methods_combine_with_vs() {
    let (env, _scans, ssh) = two_methods();
    let out = env.run_stdin(
        &["block", "--vs", "3"],
        events("RDPDICT", &addrs(3, 5), 3_000),
    );
    assert_eq!(out.code(), 0, "{}", out.all());
    // --reason is a substring of the reason, in any case; --vs narrows.
    assert_eq!(
        list_json(&env, &["--reason", "sshdict DETECTION"]).len(),
        100
    );
    assert_eq!(
        list_json(&env, &["--method", "RDPDICT", "--method", "SSHDICT"]).len(),
        105
    );
    let out = env.run(&[
        "unblock", "--method", "RDPDICT", "--method", "SSHDICT", "--vs", "3", "--yes",
    ]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stdout().contains("unblocked 5,"), "{}", out.stdout());
    assert!(env.on_lm(Scope::Vs(3)).is_empty());
    assert_eq!(env.on_lm(Scope::Global).len(), 200, "{ssh:?}");
}

/// An entry blocked `age` seconds ago (state written directly, so that
/// the time of the block can be chosen).
fn aged(address: &str, age: i64, method: &str) -> Entry {
    let now = now();
    serde_json::from_value(json!({
        "address": address,
        "scope": "global",
        "status": "active",
        "blocked_at": now - age,
        "expires_at": now + 86_400,
        "reason": format!("{method} aged test entry"),
        "event_id": "42",
        "times_blocked": 1,
        "updated_at": now - age,
    }))
    .unwrap()
}

fn seed(env: &Env, entries: &[Entry]) {
    env.put_entries(entries);
    for e in entries {
        env.lm.insert_entry(
            Scope::Global,
            &e.address.to_string(),
            "lmguard ADS 42 SCANS",
        );
    }
}

#[test]
fn since_selects_blocks_made_within_the_span_only() {
    let env = Env::new();
    const H: i64 = 3_600;
    // Margins of a minute either side of the 2-hour boundary (the exact
    // second is unit-tested in domain::filter).
    seed(
        &env,
        &[
            aged("192.0.2.1", 0, "SCANS"),
            aged("192.0.2.2", 2 * H - 60, "SCANS"),
            aged("192.0.2.3", 2 * H + 60, "SCANS"),
            aged("192.0.2.4", 30 * H, "SCANS"),
        ],
    );
    let listed: Vec<String> = list_json(&env, &["--since", "2h"])
        .iter()
        .map(|r| r["address"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sorted(listed), ["192.0.2.1", "192.0.2.2"]);
    assert_eq!(list_json(&env, &["--since", "1d"]).len(), 3);
    assert_eq!(list_json(&env, &["--since", "90m"]).len(), 1);

    let out = env.run(&["unblock", "--since", "2h", "--yes"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(
        statuses(&env),
        [
            ("192.0.2.1".to_string(), "unblocked".to_string()),
            ("192.0.2.2".into(), "unblocked".into()),
            ("192.0.2.3".into(), "active".into()),
            ("192.0.2.4".into(), "active".into()),
        ]
    );
    assert_eq!(sorted(env.on_lm(Scope::Global)), ["192.0.2.3", "192.0.2.4"]);

    // A span that is not one is exit 2, naming it.
    for bad in ["permanent", "soon", "0m"] {
        let out = env.run(&["unblock", "--since", bad, "--yes"]);
        assert_eq!(out.code(), 2, "{bad}: {}", out.all());
        assert!(out.stderr().contains(bad), "{}", out.stderr());
        let out = env.run(&["list", "--since", bad]);
        assert_eq!(out.code(), 2, "{bad}: {}", out.all());
    }
}

#[test]
fn off_a_terminal_it_needs_yes_and_changes_nothing_without() {
    let (env, _, _) = two_methods();
    let before = statuses(&env);
    let requests = env.lm.request_count();
    let out = env.run(&["unblock", "--method", "SCANS"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    let err = out.stderr();
    assert!(
        err.contains("--yes") && err.contains("100 block(s)"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(statuses(&env), before);
    assert_eq!(env.lm.request_count(), requests, "no LoadMaster call");
}

#[test]
fn unblock_without_addresses_needs_a_narrowing_filter() {
    let (env, _, _) = two_methods();
    let before = statuses(&env);
    for args in [
        &["unblock"][..],
        &["unblock", "--yes"],
        &["unblock", "--vs", "3", "--yes"],
        &["unblock", "--reason", "", "--yes"],
    ] {
        let out = env.run(args);
        assert_eq!(out.code(), 2, "{args:?}: {}", out.all());
        assert!(
            out.stderr()
                .contains("at least one of --method, --since and --reason"),
            "{args:?}: {}",
            out.stderr()
        );
    }
    // Addresses and filters together are ambiguous: a usage error.
    let out = env.run(&["unblock", "10.1.0.1", "--method", "SCANS", "--yes"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    assert_eq!(statuses(&env), before);
}

#[test]
fn dry_run_lists_them_and_changes_nothing() {
    let (env, scans, _) = two_methods();
    let before = statuses(&env);
    let requests = env.lm.request_count();
    let out = env.run(&["unblock", "--method", "SCANS", "--dry-run"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let stdout = out.stdout();
    for a in &scans {
        assert!(
            stdout.contains(&format!("would unblock {a} (global)")),
            "{a}: {stdout}"
        );
    }
    assert_eq!(stdout.matches("would send: POST").count(), 100);
    assert!(stdout.contains("would unblock 100 block(s) matching --method SCANS"));
    assert_eq!(statuses(&env), before);
    assert_eq!(env.lm.request_count(), requests);
    assert_eq!(env.on_lm(Scope::Global).len(), 200);
}

#[test]
fn a_loadmaster_down_half_way_leaves_the_rest_pending_for_sweep() {
    let (env, scans, ssh) = two_methods();
    env.lm.set_fault(Fault::FailAfter(30));
    let out = env.run(&["unblock", "--method", "SCANS", "--yes"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(out.stderr().contains("sweep"), "{}", out.stderr());
    let pending = status_count(&env, "pending_unblock");
    let done = status_count(&env, "unblocked");
    assert!(pending > 0 && done > 0, "pending {pending}, done {done}");
    assert_eq!(pending + done, 100);
    assert!(out.stdout().contains(&format!(
        "unblocked {done}, left alone 0, pending {pending},"
    )));

    env.lm.set_fault(Fault::None);
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(status_count(&env, "unblocked"), 100);
    assert_eq!(sorted(env.on_lm(Scope::Global)), sorted(ssh));
    // Each delete acknowledged before the fault is not sent again.
    assert!(scans.iter().all(|a| env.calls_for("del", a) <= 2));
}

// ----- the question on a terminal ---------------------------------------------

/// Run lmguard under a pseudo-terminal (util-linux `script`), with `answer`
/// typed in. None when `script` is missing.
fn on_a_terminal(env: &Env, args: &str, answer: &str) -> Option<Out> {
    if Command::new("script").arg("--version").output().is_err() {
        common::tools::skip("util-linux `script` is not installed");
        return None;
    }
    let bin = assert_cmd::cargo::cargo_bin("lmguard");
    let command = format!(
        "{} --config {} {args}",
        shell_quote(&bin),
        shell_quote(&env.config)
    );
    let mut child = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env_remove("LMGUARD_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::{Read, Write};
    let mut stdin = child.stdin.take().unwrap();
    // Typed ahead: the pty keeps it until lmguard reads its answer.
    stdin.write_all(answer.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        stderr.read_to_end(&mut b).map(|_| b)
    });
    let mut out = Vec::new();
    stdout.read_to_end(&mut out).unwrap();
    let status = child.wait().unwrap();
    // Standard input stays open until lmguard has finished, so that
    // `script` never ends the session early on its end of input.
    drop(stdin);
    Some(Out(std::process::Output {
        status,
        stdout: out,
        stderr: err.join().unwrap().unwrap(),
    }))
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

#[test]
fn on_a_terminal_it_shows_examples_and_asks() {
    let (env, _, ssh) = two_methods();
    let before = statuses(&env);

    // "n" (and anything but yes) changes nothing.
    let Some(out) = on_a_terminal(&env, "unblock --method SCANS", "n\n") else {
        return;
    };
    let text = out.stdout();
    assert_eq!(out.code(), 0, "{text}");
    assert!(
        text.contains("100 active or pending block(s) match --method SCANS"),
        "{text}"
    );
    assert!(text.contains("… and 95 more"), "{text}");
    assert!(text.contains("Unblock all 100? [y/N]"), "{text}");
    assert!(text.contains("nothing was unblocked"), "{text}");
    assert_eq!(statuses(&env), before);
    assert_eq!(env.on_lm(Scope::Global).len(), 200);

    // "y" unblocks them.
    let out = on_a_terminal(&env, "unblock --method SCANS", "y\n").unwrap();
    let text = out.stdout();
    assert_eq!(out.code(), 0, "{text}");
    assert!(
        text.contains("unblocked 100, left alone 0, pending 0"),
        "{text}"
    );
    assert_eq!(sorted(env.on_lm(Scope::Global)), sorted(ssh));
}

// ----- the allowlist applies to blocks already in place -----------------------

#[test]
fn an_allowlist_edit_is_applied_by_the_next_sweep_to_lmguards_blocks_only() {
    let env = Env::new();
    // An address someone else already blocks: lmguard records it as held
    // by that entry, which it never removes.
    env.lm
        .insert_entry(Scope::Global, "192.0.2.7", "firewall team");
    let out = env.run(&[
        "block",
        "192.0.2.7",
        "192.0.2.5",
        "192.0.2.20",
        "198.51.100.0/24",
        "203.0.113.9",
    ]);
    assert_eq!(out.code(), 0, "{}", out.all());
    // Someone else's entry inside the network about to be allowlisted.
    env.lm.insert_entry(Scope::Global, "192.0.2.6", "ops team");
    // An active block that a built-in protection covers (recorded by an
    // older lmguard, say).
    seed_one(&env, "169.254.7.7");
    // From cron, quietly: lifted, and nothing printed.
    let out = env.run(&["sweep", "--quiet"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(out.stdout(), "", "sweep --quiet prints nothing");
    assert_eq!(env.status_of("169.254.7.7"), "unblocked");
    assert!(!env
        .on_lm(Scope::Global)
        .contains(&"169.254.7.7".to_string()));

    // The operator adds the false positives to the allowlist.
    let tls = format!(
        "ca_file = \"{}\"\n",
        env.dir.path().join("lm.pem").display()
    );
    env.write_config(
        &tls,
        "[block]\nallowlist = [\"192.0.2.0/28\", \"198.51.100.7\"]\n",
    );
    // A block forced over the allowlist by hand is kept.
    let out = env.run(&["block", "192.0.2.9", "--force"]);
    assert_eq!(out.code(), 0, "{}", out.all());

    // check names the covered blocks until the next sweep.
    let out = env.run(&["check"]);
    let text = out.stdout();
    assert!(text.contains("3 active blocks are now covered"), "{text}");
    assert!(text.contains("192.0.2.5 overlaps the allowlist entry 192.0.2.0/28"));
    assert!(text.contains("198.51.100.0/24 overlaps the allowlist entry 198.51.100.7"));
    assert!(!text.contains("192.0.2.9 overlaps"), "{text}");

    // A dry run says what the sweep would do, and does nothing.
    let requests = env.lm.request_count();
    let out = env.run(&["sweep", "--dry-run"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout()
            .contains("would unblock 192.0.2.5 (global): 192.0.2.5 overlaps"),
        "{}",
        out.stdout()
    );
    assert_eq!(env.lm.request_count(), requests);
    assert_eq!(env.status_of("192.0.2.5"), "active");

    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("allowlisted: unblocked 3 block(s)"),
        "{}",
        out.stdout()
    );
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        [
            "192.0.2.20",
            "192.0.2.6",
            "192.0.2.7",
            "192.0.2.9",
            "203.0.113.9"
        ],
        "only the covered lmguard blocks are removed; the foreign entry stays"
    );
    for a in ["192.0.2.5", "198.51.100.0/24"] {
        let row = env.row(a).unwrap();
        assert_eq!(row["status"], "unblocked", "{a}");
        let reason = row["reason"].as_str().unwrap();
        assert!(reason.starts_with("allowlisted"), "{a}: {reason}");
    }
    for a in ["192.0.2.20", "203.0.113.9", "192.0.2.9"] {
        assert_eq!(env.status_of(a), "active", "{a}");
    }
    assert_eq!(env.calls_for("del", "192.0.2.6"), 0);
    assert_eq!(env.calls_for("del", "192.0.2.7"), 0);
    // lmguard's own record of it ends (locally only).
    assert_eq!(env.status_of("192.0.2.7"), "unblocked");

    // Done: check is quiet about it, and the next sweep has nothing to do.
    assert!(!env.run(&["check"]).stdout().contains("now covered"));
    let out = env.run(&["sweep"]);
    assert!(!out.stdout().contains("allowlisted"), "{}", out.stdout());
}

fn seed_one(env: &Env, address: &str) {
    env.put_entries(&[aged(address, 60, "SCANS")]);
    env.lm
        .insert_entry(Scope::Global, address, "lmguard ADS 42 SCANS");
}

/// In simulate mode `sweep` says what the allowlist would lift: a simulated
/// block is lifted locally, a real one (blocked before the mode changed) is
/// reported as a delete it would make, and nothing is sent.
#[test]
fn in_simulate_mode_sweep_reports_the_allowlisted_blocks_it_would_lift() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "192.0.2.6"]).code(), 0);
    let tls = format!(
        "ca_file = \"{}\"\n",
        env.dir.path().join("lm.pem").display()
    );
    env.write_config(&tls, "[block]\nmode = \"simulate\"\n");
    assert_eq!(env.run(&["block", "192.0.2.5"]).code(), 0);
    assert_eq!(env.run(&["sweep"]).code(), 0);
    env.write_config(
        &tls,
        "[block]\nmode = \"simulate\"\nallowlist = [\"192.0.2.0/28\"]\n",
    );
    env.lm.clear_requests();
    for _ in 0..2 {
        let out = env.run(&["sweep"]);
        assert_eq!(out.code(), 0, "{}", out.all());
        assert!(
            out.stdout().contains("would unblock 192.0.2.6"),
            "{}",
            out.stdout()
        );
    }
    assert_eq!(env.status_of("192.0.2.5"), "unblocked");
    assert_eq!(env.status_of("192.0.2.6"), "active");
    assert_eq!(env.on_lm(Scope::Global), ["192.0.2.6"]);
    assert_eq!(env.lm.request_count(), 0, "nothing was sent");
}

#[test]
fn entries_adopted_after_an_allowlist_sweep_are_lifted_by_the_next_sweep() {
    let env = Env::with(
        Options::default(),
        "[block]\nallowlist = [\"192.0.2.0/28\"]\n",
    );
    // The allowlist is in force and a sweep has applied it already.
    let out = env.run(&["block", "203.0.113.9"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.run(&["sweep"]).code(), 0);
    // Migration: the old scripts' entries, one of them a false positive
    // the allowlist covers, are taken over by sync --adopt.
    env.lm
        .insert_entry(Scope::Global, "192.0.2.5", "old script");
    env.lm
        .insert_entry(Scope::Global, "198.51.100.9", "old script");
    let out = env.run(&["sync", "--apply", "--adopt"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.status_of("192.0.2.5"), "active");
    let out = env.run(&["check"]);
    assert!(
        out.stdout()
            .contains("192.0.2.5 overlaps the allowlist entry"),
        "{}",
        out.stdout()
    );
    // What check promises, the next sweep does.
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("allowlisted: unblocked 1 block(s)"),
        "{}",
        out.stdout()
    );
    assert_eq!(env.status_of("192.0.2.5"), "unblocked");
    assert_eq!(env.status_of("198.51.100.9"), "active");
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["198.51.100.9", "203.0.113.9"]
    );
    assert!(!env.run(&["check"]).stdout().contains("now covered"));
}

#[test]
fn a_block_still_being_sent_during_the_allowlist_sweep_is_lifted_by_the_next() {
    let env = Env::with(
        Options::default(),
        "[block]\nallowlist = [\"192.0.2.0/28\"]\n",
    );
    // A `block` admitted under the old allowlist is still sending 192.0.2.5
    // (a live process holds its claim) when the first sweep after the edit
    // runs: the sweep may not touch it.
    let mut sender = KillOnDrop(Command::new("sleep").arg("600").spawn().unwrap());
    let mut sending = aged("192.0.2.5", 1, "SCANS");
    sending.status = lmguard::domain::entry::Status::PendingBlock;
    sending.claim = Some(lmguard::domain::entry::Claim {
        pid: sender.0.id(),
        started: 0,
        token: 7,
        until: now() + 600,
    });
    env.put_entries(&[sending]);
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.status_of("192.0.2.5"), "pending_block");

    // The block then lands: the entry is active on the LoadMaster.
    let mut landed = aged("192.0.2.5", 1, "SCANS");
    landed.claim = None;
    env.put_entries(&[landed]);
    env.lm
        .insert_entry(Scope::Global, "192.0.2.5", "lmguard ADS 42 SCANS");
    sender.0.kill().unwrap();
    sender.0.wait().unwrap();

    // The allowlist covers it: the next sweep lifts it, as check says.
    assert!(env.run(&["check"]).stdout().contains("192.0.2.5 overlaps"));
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.status_of("192.0.2.5"), "unblocked");
    assert!(env.on_lm(Scope::Global).is_empty());
}

#[test]
fn on_a_terminal_with_standard_error_redirected_it_says_why_it_cannot_ask() {
    let (env, _, _) = two_methods();
    let before = statuses(&env);
    let err_file = env.dir.path().join("err.txt");
    let args = format!("unblock --method SCANS 2>{}", shell_quote(&err_file));
    let Some(out) = on_a_terminal(&env, &args, "y\n") else {
        return;
    };
    assert_eq!(out.code(), 2, "{}", out.all());
    let err = std::fs::read_to_string(&err_file).unwrap();
    assert!(
        err.contains("--yes") && err.contains("standard error is not a terminal"),
        "{err}"
    );
    assert_eq!(statuses(&env), before);
}

/// A child process that is killed when the test ends, passed or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
