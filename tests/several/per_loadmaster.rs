//! What each LoadMaster keeps for itself: `sync` rows and repair, unblock,
//! `max_active`, escalation, the allowlist sweep, the protections, the list
//! table and `check`.

use super::*;

// ----- sync -----------------------------------------------------------------

/// (loadmaster, address, kind) of each `sync --json` row, sorted.
fn sync_rows(env: &Env, extra: &[&str]) -> (i32, Vec<(String, String, String)>) {
    let mut args = vec!["sync", "--json"];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    let rows: Vec<Value> = serde_json::from_str(&out.stdout())
        .unwrap_or_else(|e| panic!("sync --json printed no JSON ({e}): {}", out.all()));
    let mut k: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            let s = |key: &str| {
                r[key]
                    .as_str()
                    .unwrap_or_else(|| panic!("{key} in {r}"))
                    .to_string()
            };
            (s("loadmaster"), s("address"), s("kind"))
        })
        .collect();
    k.sort();
    (out.code(), k)
}

fn row(lm: &str, address: &str, kind: &str) -> (String, String, String) {
    (lm.into(), address.into(), kind.into())
}

#[test]
fn sync_reports_per_loadmaster_and_repairs_only_where_needed() {
    for n in SIZES {
        let env = Env::several(n);
        assert_eq!(env.run(&["block", "203.0.113.1"]).code(), 0);
        let last = NAMES[n - 1];
        env.fake(last).clear_lists();
        env.fake("a")
            .insert_entry(Scope::Global, "203.0.113.4", "ADS ID 123 - SCANS");
        let (code, rows) = sync_rows(&env, &[]);
        assert_eq!(code, 6, "{n}");
        assert_eq!(
            rows,
            [
                row("a", "203.0.113.4", "foreign"),
                row(last, "203.0.113.1", "missing_on_loadmaster"),
            ],
            "{n}"
        );
        for (_, lm) in env.fakes() {
            lm.clear_requests();
        }
        let out = env.run(&["sync", "--apply"]);
        assert_eq!(out.code(), 0, "{n}: {}", out.all());
        for (name, lm) in env.fakes() {
            assert_eq!(edits(lm), (usize::from(name == last), 0), "{n}: {name}");
            assert!(env
                .on(name, Scope::Global)
                .contains(&"203.0.113.1".to_string()));
        }
        assert_eq!(
            env.on("a", Scope::Global),
            ["203.0.113.1", "203.0.113.4"],
            "the foreign entry is never touched"
        );
        let (code, rows) = sync_rows(&env, &[]);
        assert_eq!(code, 0, "{n}");
        assert_eq!(rows, [row("a", "203.0.113.4", "foreign")]);
    }
}

#[test]
fn sync_with_one_loadmaster_down_still_compares_and_repairs_the_others() {
    let env = Env::several(2);
    assert_eq!(env.run(&["block", "203.0.113.1"]).code(), 0);
    env.fake("a").clear_lists();
    env.fake("b").set_fault(Fault::Down);
    // b's list cannot be read (3), a's differs (6): the highest code wins.
    let out = env.run(&["sync", "--json"]);
    assert_eq!(out.code(), 6, "{}", out.all());
    let err = out.stderr();
    assert!(err.contains("LoadMaster \"b\": "), "{err}");
    assert!(!err.contains("LoadMaster \"a\""), "{err}");
    let (_, rows) = sync_rows(&env, &[]);
    assert_eq!(rows, [row("a", "203.0.113.1", "missing_on_loadmaster")]);
    let out = env.run(&["sync", "--apply"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(env.on("a", Scope::Global), ["203.0.113.1"]);
    env.fake("b").set_fault(Fault::None);
    let (code, rows) = sync_rows(&env, &[]);
    assert_eq!((code, rows), (0, vec![]));
}

#[test]
fn sync_apply_loadmaster_repairs_that_loadmaster_only() {
    let env = Env::several(2);
    assert_eq!(env.run(&["block", "203.0.113.1"]).code(), 0);
    env.fake("a").clear_lists();
    env.fake("b").clear_lists();
    let out = env.run(&["sync", "--apply", "--loadmaster", "a"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on("a", Scope::Global), ["203.0.113.1"]);
    assert!(env.on("b", Scope::Global).is_empty());
    let (code, rows) = sync_rows(&env, &[]);
    assert_eq!(code, 6);
    assert_eq!(rows, [row("b", "203.0.113.1", "missing_on_loadmaster")]);
}

// ----- unblock everywhere ---------------------------------------------------

#[test]
fn unblock_removes_the_address_from_every_loadmaster() {
    for n in SIZES {
        let env = Env::several(n);
        assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
        let out = env.run(&["unblock", "203.0.113.7"]);
        assert_eq!(out.code(), 0, "{n}: {}", out.all());
        let stdout = out.stdout();
        let summary = format!(
            "unblocked {}, left alone 0, pending 0, no record 0, rejected 0",
            per_lm(&counts(n, 1, "", 0))
        );
        assert_eq!(stdout.lines().last(), Some(summary.as_str()), "{n}");
        for name in &NAMES[..n] {
            assert!(env.on(name, Scope::Global).is_empty(), "{n}: {name}");
            assert_eq!(env.calls_on(name, "del", "203.0.113.7"), 1, "{n}: {name}");
            assert_eq!(status_on(&env, name, "203.0.113.7"), "unblocked");
            line_with(
                &stdout,
                &format!("unblocked 203.0.113.7 (global on {name})"),
            );
        }
        // Nothing puts it back.
        assert_eq!(env.run(&["sweep"]).code(), 0);
        assert_eq!(env.run(&["sync", "--apply"]).code(), 0);
        for name in &NAMES[..n] {
            assert_eq!(env.calls_on(name, "add", "203.0.113.7"), 1, "{n}: {name}");
        }
    }
}

// ----- max_active and protections per LoadMaster ----------------------------

#[test]
fn max_active_counts_per_loadmaster() {
    for n in SIZES {
        let env = Env::several_with(n, Options::default(), "[block]\nmax_active = 1\n");
        // The first LoadMaster (and, with four, the third) is full.
        let full: Vec<&str> = NAMES[..n].iter().copied().step_by(2).collect();
        let mut args = vec!["block", "203.0.113.1"];
        for name in &full {
            args.extend(["--loadmaster", name]);
        }
        assert_eq!(env.run(&args).code(), 0);
        let out = env.run(&["block", "203.0.113.2"]);
        assert_eq!(out.code(), 4, "{n}: {}", out.all());
        let err = out.stderr();
        let refusals: Vec<&str> = err.lines().filter(|l| l.contains("max_active")).collect();
        assert_eq!(refusals.len(), full.len(), "{n}: {err}");
        for name in &NAMES[..n] {
            let (status, on_lm) = if full.contains(name) {
                ("absent", vec!["203.0.113.1"])
            } else {
                ("active", vec!["203.0.113.2"])
            };
            assert_eq!(status_on(&env, name, "203.0.113.2"), status, "{n}: {name}");
            assert_eq!(env.on(name, Scope::Global), on_lm, "{n}: {name}");
        }
    }
}

/// rsyslog re-sends a line answered with an error, and nothing behind it:
/// a line blocked on one LoadMaster and refused by max_active on the other
/// is answered OK (the refusal is on standard error, exit 4); so is a line
/// refused on every LoadMaster, rejected for good (interface.md).
#[test]
fn confirm_answers_ok_for_a_line_max_active_refuses_on_one_loadmaster_only() {
    let env = Env::several_with(2, Options::default(), "[block]\nmax_active = 1\n");
    assert_eq!(
        env.run(&["block", "203.0.113.1", "--loadmaster", "b"])
            .code(),
        0
    );
    let line = |addr: &str| {
        String::from_utf8(one_event())
            .unwrap()
            .replace("203.0.113.7", addr)
    };
    let out = env.run_stdin(&["block", "--confirm"], line("203.0.113.2").into_bytes());
    assert_eq!(out.code(), 4, "{}", out.all());
    assert_eq!(out.stdout(), "OK\nOK\n", "stderr: {}", out.stderr());
    assert!(
        out.stderr().contains("on LoadMaster \"b\": the limit of 1"),
        "{}",
        out.stderr()
    );
    assert_eq!(status_on(&env, "a", "203.0.113.2"), "active");
    // Now a is full too: the next line is recorded nowhere.
    let out = env.run_stdin(&["block", "--confirm"], line("203.0.113.3").into_bytes());
    assert_eq!(out.code(), 4, "{}", out.all());
    let stdout = out.stdout();
    let answers: Vec<&str> = stdout.lines().collect();
    assert_eq!(answers.len(), 2, "{}", out.stdout());
    assert_eq!(answers, ["OK", "OK"]);
    assert!(
        out.stderr()
            .contains("line 1: rejected: 203.0.113.3 not blocked on LoadMaster"),
        "{}",
        out.stderr()
    );
}

#[test]
fn repeat_offenders_count_earlier_blocks_on_that_loadmaster() {
    let env = Env::several_with(
        2,
        Options::default(),
        "[block]\nescalation_jitter = \"0%\"\n",
    );
    let out = env.run(&[
        "block",
        "--loadmaster",
        "a",
        "203.0.113.1",
        "--duration",
        "1s",
    ]);
    assert_eq!(out.code(), 0, "{}", out.all());
    std::thread::sleep(Duration::from_millis(2_100));
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert_eq!(status_on(&env, "a", "203.0.113.1"), "expired");
    let out = env.run(&["block", "203.0.113.1", "--duration", "1h"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let stdout = out.stdout();
    let a = line_with(&stdout, "203.0.113.1 (global on a)");
    assert!(a.contains("repeat offender: block 2, 2h"), "{a}");
    let b = line_with(&stdout, "203.0.113.1 (global on b)");
    assert!(!b.contains("repeat offender"), "{b}");
    let length = |name: &str| {
        let row = rows_on(&env, name)
            .into_iter()
            .find(|r| r["status"] == "active")
            .unwrap();
        let secs = |v: &Value| {
            humantime::parse_rfc3339(v.as_str().unwrap())
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
        (
            row["times_blocked"].as_u64().unwrap(),
            secs(&row["expires_at"]) - secs(&row["blocked_at"]),
        )
    };
    assert_eq!(length("a"), (2, 7_200));
    assert_eq!(length("b"), (1, 3_600));
}

#[test]
fn an_allowlist_edit_is_applied_per_loadmaster_by_the_sweeps_that_serve_it() {
    let env = Env::several(2);
    assert_eq!(env.run(&["block", "192.0.2.5", "192.0.2.20"]).code(), 0);
    env.write_several(
        |name, _| env.ca_line(name),
        "[block]\nallowlist = [\"192.0.2.0/28\"]\n",
    );
    // A sweep of a only lifts a's covered block...
    let out = env.run(&["sweep", "--loadmaster", "a"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on("a", Scope::Global), ["192.0.2.20"]);
    assert_eq!(env.on("b", Scope::Global), ["192.0.2.5", "192.0.2.20"]);
    assert_eq!(status_on(&env, "a", "192.0.2.5"), "unblocked");
    assert_eq!(status_on(&env, "b", "192.0.2.5"), "active");
    // ...and the next full sweep still lifts b's.
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on("b", Scope::Global), ["192.0.2.20"]);
    assert_eq!(status_on(&env, "b", "192.0.2.5"), "unblocked");
    assert_eq!(env.calls_on("a", "del", "192.0.2.5"), 1);
}

/// Several LoadMasters at these addresses, which no test connects to (dry
/// runs only), for addresses the fakes (on loopback) cannot have.
fn unreachable_several(urls: &[&str]) -> Env {
    let env = Env::several(urls.len());
    let mut text = std::fs::read_to_string(&env.config).unwrap();
    for ((_, lm), url) in env.fakes().into_iter().zip(urls) {
        text = text.replace(&lm.url(), url);
    }
    std::fs::write(&env.config, text).unwrap();
    env
}

#[test]
fn every_loadmasters_own_address_is_protected_on_every_loadmaster() {
    let env = unreachable_several(&["https://198.51.100.10:8443", "https://203.0.113.10"]);
    for (only, other) in [("a", "203.0.113.10"), ("b", "198.51.100.10")] {
        // Even blocked on one LoadMaster only, the other's address is refused.
        let out = env.run(&[
            "block",
            "--dry-run",
            "--force",
            "--loadmaster",
            only,
            other,
            "192.0.2.1",
        ]);
        assert_eq!(out.code(), 4, "{only}: {}", out.all());
        let owner = if only == "a" { "b" } else { "a" };
        let line = line_with(&out.stderr(), other).to_string();
        assert!(
            line.contains(&format!("{other} is the address of LoadMaster \"{owner}\"")),
            "{line}"
        );
        let stdout = out.stdout();
        assert!(stdout.contains("\"addr\":\"192.0.2.1\""), "{stdout}");
        assert!(
            !stdout.contains(&format!("\"addr\":\"{other}\"")),
            "{stdout}"
        );
    }
    assert!(env.rows().is_empty(), "a dry run records nothing");
}

// ----- output ---------------------------------------------------------------

#[test]
fn the_list_table_has_a_loadmaster_column_only_with_several() {
    let env = Env::several(2);
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let stdout = out.stdout();
    let header = line_with(&stdout, "ADDRESS");
    assert!(header.contains("LOADMASTER"), "{stdout}");
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("203.0.113.7"))
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    for (row, name) in rows.iter().zip(["a", "b"]) {
        assert!(
            row.split_whitespace().any(|cell| cell == name),
            "{name} in {row:?}"
        );
    }
}

#[test]
fn check_runs_its_loadmaster_checks_once_per_loadmaster() {
    let env = Env::several(2);
    env.fake("b").set_fault(Fault::Down);
    let out = env.run(&["check"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    let mark = |name: &str| {
        out.check_line(name)
            .unwrap_or_else(|| panic!("no {name:?} line:\n{}", out.stdout()))
            .chars()
            .next()
            .unwrap()
    };
    for step in [
        "API key file",
        "TLS connection",
        "API key",
        "global block list",
        "firmware",
        "access lists",
    ] {
        assert_eq!(mark(&format!("{step} on a")), '✔', "{step}");
        let b = match step {
            "API key file" => '✔',
            "TLS connection" => '✘',
            _ => '-',
        };
        assert_eq!(mark(&format!("{step} on b")), b, "{step}");
    }
    assert_eq!(mark("configuration"), '✔');
    assert_eq!(mark("state database"), '✔');
    // The fix names b's own table and key.
    let tls_b = out.check_line("TLS connection on b").unwrap();
    let fix = out
        .stdout()
        .lines()
        .skip_while(|l| *l != tls_b)
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(
        fix.contains("fix: check [[loadmaster]] #2 \"b\": url (host"),
        "{fix}"
    );
    // --loadmaster a checks a only.
    env.fake("b").set_fault(Fault::None);
    env.fake("b").clear_requests();
    let out = env.run(&["check", "--loadmaster", "a"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.check_line("TLS connection on a").is_some(),
        "{}",
        out.stdout()
    );
    assert!(!out.stdout().contains(" on b:"), "{}", out.stdout());
    assert_eq!(env.fake("b").request_count(), 0);
}
