//! Several LoadMasters from one lmguard (issue 15), end to end with two and
//! with four fake LoadMasters: fan-out, one down then back (each add
//! reaches each LoadMaster exactly once), a slow one, `--loadmaster`, the
//! `--vs` rule, per-LoadMaster `sync` and summaries, `max_active` and the
//! protections per LoadMaster, configuration errors naming the table, the
//! migration of a format-3 state file, and a list of pinned certificates.

use crate::common;

use std::time::{Duration, Instant};

use common::{fixture, Env, NAMES, ROW_KEYS};
use fake_loadmaster::{FakeLoadMaster, Fault, Options, Scope};
use serde_json::Value;

/// Both sizes the issue asks for.
const SIZES: [usize; 2] = [2, 4];

/// The rows (`list --all --json`) of one LoadMaster.
fn rows_on(env: &Env, name: &str) -> Vec<Value> {
    env.rows()
        .into_iter()
        .filter(|r| r["loadmaster"] == name)
        .collect()
}

/// The status of `address` on LoadMaster `name`, or "absent".
fn status_on(env: &Env, name: &str, address: &str) -> String {
    rows_on(env, name)
        .iter()
        .find(|r| r["address"] == address)
        .map(|r| r["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| "absent".into())
}

/// The global block list of fake `name`, sorted.
fn on_sorted(env: &Env, name: &str) -> Vec<String> {
    let mut addresses = env.on(name, Scope::Global);
    addresses.sort();
    addresses
}

/// `(a 1, b 0, …)`: a count per LoadMaster, in config order.
fn breakdown(counts: &[(&str, usize)]) -> String {
    let parts: Vec<String> = counts.iter().map(|(n, c)| format!("{n} {c}")).collect();
    format!("({})", parts.join(", "))
}

/// The total of a breakdown.
fn total(counts: &[(&str, usize)]) -> usize {
    counts.iter().map(|(_, c)| c).sum()
}

/// `block`'s summary line with several LoadMasters: each LoadMaster's
/// count in config order; skips and rejections are about the input.
fn block_summary(blocked: &[(&str, usize)], pending: &[(&str, usize)]) -> String {
    let none: Vec<(&str, usize)> = blocked.iter().map(|&(n, _)| (n, 0)).collect();
    format!(
        "blocked {} {}, extended 0 {}, skipped 0 (allowlist 0, protected 0, filters 0), \
         rejected 0, pending {} {}",
        total(blocked),
        breakdown(blocked),
        breakdown(&none),
        total(pending),
        breakdown(pending)
    )
}

/// The same count for each of the first `n` LoadMasters but `odd`, which
/// has `odd_count`.
fn counts(n: usize, each: usize, odd: &str, odd_count: usize) -> Vec<(&'static str, usize)> {
    NAMES[..n]
        .iter()
        .map(|&name| (name, if name == odd { odd_count } else { each }))
        .collect()
}

/// The one line of `text` that contains `needle`.
fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    let mut found = text.lines().filter(|l| l.contains(needle));
    let line = found
        .next()
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"));
    assert!(found.next().is_none(), "{needle:?} twice in:\n{text}");
    line
}

/// One ADS event (the first line of the TSV fixture: source 203.0.113.7).
fn one_event() -> Vec<u8> {
    let all = fixture("ads-events.tsv");
    let end = all.iter().position(|&b| b == b'\n').unwrap() + 1;
    all[..end].to_vec()
}

/// How many add and delete requests a fake LoadMaster received.
fn edits(lm: &FakeLoadMaster) -> (usize, usize) {
    let requests = lm.requests();
    let count = |op: &str| requests.iter().filter(|r| r.param(op).is_some()).count();
    (count("add"), count("del"))
}

fn assert_nothing_sent(env: &Env) {
    for (name, lm) in env.fakes() {
        assert_eq!(lm.request_count(), 0, "LoadMaster {name} was called");
    }
}

// ----- fan-out --------------------------------------------------------------

#[test]
fn a_block_reaches_every_loadmaster_once_with_its_own_key() {
    for n in SIZES {
        let env = Env::several(n);
        let out = env.run(&["block", "203.0.113.7", "2001:db8::7"]);
        assert_eq!(out.code(), 0, "{n}: {}", out.all());
        let stdout = out.stdout();
        for name in &NAMES[..n] {
            // Each fake accepts only its own key: a key sent to the wrong
            // LoadMaster would have been refused.
            assert_eq!(
                env.on(name, Scope::Global),
                ["203.0.113.7", "2001:db8::7"],
                "{n}: {name}"
            );
            for address in ["203.0.113.7", "2001:db8::7"] {
                assert_eq!(env.calls_on(name, "add", address), 1, "{n}: {name}");
                line_with(
                    &stdout,
                    &format!("blocked   {address} (global on {name}) until"),
                );
            }
        }
        let summary = block_summary(&counts(n, 2, "", 0), &counts(n, 0, "", 0));
        assert_eq!(stdout.lines().last(), Some(summary.as_str()), "{n}");
        let rows = env.rows();
        assert_eq!(rows.len(), 2 * n, "{rows:?}");
        for row in &rows {
            for key in ROW_KEYS.iter().chain(&["loadmaster"]) {
                assert!(row.get(key).is_some(), "{key} missing in {row}");
            }
            assert_eq!(row["status"], "active", "{row}");
        }
        for name in &NAMES[..n] {
            assert_eq!(rows_on(&env, name).len(), 2, "{n}: {name}");
        }
    }
}

#[test]
fn one_lone_loadmaster_keeps_todays_output() {
    let env = Env::new();
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let stdout = out.stdout();
    line_with(&stdout, "blocked   203.0.113.7 (global) until");
    assert!(!stdout.contains(" on default"), "{stdout}");
    assert!(
        stdout.contains(
            "\nblocked 1, extended 0, skipped 0 (allowlist 0, protected 0, filters 0), \
             rejected 0, pending 0\n"
        ),
        "{stdout}"
    );
    assert_eq!(env.row("203.0.113.7").unwrap()["loadmaster"], "default");
    let table = env.run(&["list"]);
    assert_eq!(table.code(), 0, "{}", table.all());
    assert!(!table.stdout().contains("LOADMASTER"), "{}", table.stdout());
}

#[test]
fn every_event_on_standard_input_reaches_every_loadmaster_once() {
    let env = Env::several(4);
    let out = env.run_stdin(&["block"], fixture("ads-events.tsv"));
    assert_eq!(out.code(), 0, "{}", out.all());
    let sources = [
        "192.0.2.15",
        "192.0.2.77",
        "198.51.100.200",
        "203.0.113.7",
        "203.0.113.8",
    ];
    for name in NAMES {
        assert_eq!(on_sorted(&env, name), sources, "{name}");
        for source in sources {
            assert_eq!(env.calls_on(name, "add", source), 1, "{name}: {source}");
        }
        let rows = rows_on(&env, name);
        assert_eq!(rows.len(), 5, "{name}: {rows:?}");
        let seven = rows.iter().find(|r| r["address"] == "203.0.113.7").unwrap();
        assert_eq!(seven["event_id"], "532028", "{seven}");
    }
    let summary = block_summary(&counts(4, 5, "", 0), &counts(4, 0, "", 0));
    assert_eq!(out.stdout().lines().last(), Some(summary.as_str()));
}

// ----- one LoadMaster down, then back ---------------------------------------

#[test]
fn a_loadmaster_that_is_down_catches_up_on_sweep_and_the_others_get_each_add_once() {
    for n in SIZES {
        let env = Env::several(n);
        env.fake("b").set_fault(Fault::Down);
        let out = env.run(&["block", "203.0.113.7", "203.0.113.8"]);
        assert_eq!(out.code(), 3, "{n}: {}", out.all());
        let err = out.stderr();
        assert!(err.contains("LoadMaster \"b\": "), "{n}: {err}");
        for name in NAMES[..n].iter().filter(|&&name| name != "b") {
            assert!(
                !err.contains(&format!("LoadMaster \"{name}\"")),
                "{n}: only b is behind: {err}"
            );
        }
        let all = out.all();
        line_with(&all, "pending   203.0.113.7 (global on b)");
        let summary = block_summary(&counts(n, 2, "b", 0), &counts(n, 0, "b", 2));
        assert_eq!(out.stdout().lines().last(), Some(summary.as_str()), "{n}");

        // Every healthy LoadMaster was served in that run.
        for name in NAMES[..n].iter().filter(|&&name| name != "b") {
            assert_eq!(
                env.on(name, Scope::Global),
                ["203.0.113.7", "203.0.113.8"],
                "{n}: {name}"
            );
            assert_eq!(status_on(&env, name, "203.0.113.7"), "active");
        }
        assert_eq!(status_on(&env, "b", "203.0.113.7"), "pending_block");
        assert_eq!(status_on(&env, "b", "203.0.113.8"), "pending_block");

        // Still down: a sweep and another block leave b behind again, and
        // re-send nothing to the others.
        let out = env.run(&["sweep"]);
        assert_eq!(out.code(), 3, "{n}: {}", out.all());
        assert!(out.stderr().contains("LoadMaster \"b\": "), "{}", out.all());
        let out = env.run(&["block", "203.0.113.9"]);
        assert_eq!(out.code(), 3, "{n}: {}", out.all());

        // Back on the same port: the next sweep completes b's work only.
        env.fake("b").set_fault(Fault::None);
        let out = env.run(&["sweep"]);
        assert_eq!(out.code(), 0, "{n}: {}", out.all());
        let none = breakdown(&counts(n, 0, "", 0));
        let summary = format!(
            "expired 0 {none} of 0 {none} due; retried: 3 {} block(s) and 0 {none} unblock(s) \
             applied; still pending 0 {none}",
            breakdown(&counts(n, 0, "b", 3))
        );
        assert_eq!(out.stdout().lines().last(), Some(summary.as_str()), "{n}");
        for name in &NAMES[..n] {
            assert_eq!(
                on_sorted(&env, name),
                ["203.0.113.7", "203.0.113.8", "203.0.113.9"],
                "{n}: {name}"
            );
            for address in ["203.0.113.7", "203.0.113.8", "203.0.113.9"] {
                assert_eq!(
                    env.calls_on(name, "add", address),
                    1,
                    "{n}: {address} sent to {name} exactly once"
                );
                assert_eq!(status_on(&env, name, address), "active");
            }
        }
        let out = env.run(&["sweep"]);
        assert_eq!(out.code(), 0, "{}", out.all());
        assert_eq!(env.calls_on("a", "add", "203.0.113.7"), 1);
    }
}

#[test]
fn an_unblock_while_one_is_down_completes_there_on_sweep() {
    let env = Env::several(2);
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    env.fake("b").set_fault(Fault::Down);
    let out = env.run(&["unblock", "203.0.113.7"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(out.stderr().contains("LoadMaster \"b\": "), "{}", out.all());
    assert!(env.on("a", Scope::Global).is_empty());
    assert_eq!(status_on(&env, "a", "203.0.113.7"), "unblocked");
    assert_eq!(status_on(&env, "b", "203.0.113.7"), "pending_unblock");
    env.fake("b").set_fault(Fault::None);
    assert_eq!(env.on("b", Scope::Global), ["203.0.113.7"]);
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(env.on("b", Scope::Global).is_empty());
    assert_eq!(status_on(&env, "b", "203.0.113.7"), "unblocked");
    for name in ["a", "b"] {
        assert_eq!(env.calls_on(name, "del", "203.0.113.7"), 1, "{name}");
    }
}

#[test]
fn a_loadmaster_that_refuses_the_key_stops_only_its_own_work() {
    let env = Env::several(2);
    env.fake("a").set_api_key("rotated-key");
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    let err = out.stderr();
    let line = line_with(&err, "LoadMaster \"a\": ");
    assert!(line.contains("API key"), "{line}");
    assert!(!err.contains("LoadMaster \"b\""), "{err}");
    assert_eq!(env.on("b", Scope::Global), ["203.0.113.7"]);
    assert_eq!(status_on(&env, "a", "203.0.113.7"), "pending_block");
    // Fixed on a: the next sweep sends it there, and only there.
    std::fs::write(env.dir.path().join("api-key-a"), "rotated-key\n").unwrap();
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert_eq!(env.on("a", Scope::Global), ["203.0.113.7"]);
    assert_eq!(env.calls_on("b", "add", "203.0.113.7"), 1);
}

#[test]
fn a_dry_run_names_each_loadmasters_calls_and_sends_nothing() {
    let env = Env::several(2);
    let out = env.run(&["block", "--dry-run", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let stdout = out.stdout();
    for (_, lm) in env.fakes() {
        let line = line_with(&stdout, &format!("POST {}/accessv2", lm.url()));
        assert!(line.contains("\"addr\":\"203.0.113.7\""), "{line}");
    }
    assert_nothing_sent(&env);
    assert!(env.rows().is_empty());
}

#[test]
fn simulate_mode_records_per_loadmaster_and_calls_none() {
    let env = Env::several_with(2, Options::default(), "[block]\nmode = \"simulate\"\n");
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_nothing_sent(&env);
    for name in ["a", "b"] {
        let rows = rows_on(&env, name);
        assert_eq!(rows.len(), 1, "{name}: {rows:?}");
        assert_eq!(rows[0]["simulated"], true, "{}", rows[0]);
    }
}

#[test]
fn a_stream_keeps_serving_the_others_while_one_loadmaster_is_slow() {
    // b answers after its timeout: the first batch waits for it once; the
    // stream then leaves b alone and a gets each event at once.
    let env = Env::several(2);
    env.fake("b")
        .set_fault(Fault::Delay(Duration::from_secs(4)));
    let events = String::from_utf8(fixture("ads-events.tsv")).unwrap();
    let events: Vec<&str> = events.lines().collect();
    let mut child = env.spawn(&["block"]);
    let mut send = |line: &str| {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    };
    send(events[0]);
    assert!(
        env.wait_on("a", "203.0.113.7", Duration::from_millis(1500))
            .is_some(),
        "a waited for b"
    );
    std::thread::sleep(Duration::from_millis(2500));
    send(events[1]);
    assert!(
        env.wait_on("a", "203.0.113.8", Duration::from_millis(1500))
            .is_some(),
        "a waited for b again"
    );
    drop(child.stdin.take());
    let out = common::Out(child.wait_with_output().unwrap());
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(
        out.stderr().contains("LoadMaster \"b\": "),
        "{}",
        out.stderr()
    );
    assert!(
        !out.stderr().contains("LoadMaster \"a\""),
        "{}",
        out.stderr()
    );
    for address in ["203.0.113.7", "203.0.113.8"] {
        assert_eq!(status_on(&env, "a", address), "active");
        assert_eq!(status_on(&env, "b", address), "pending_block");
    }
    env.fake("b").set_fault(Fault::None);
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    for address in ["203.0.113.7", "203.0.113.8"] {
        assert_eq!(status_on(&env, "b", address), "active");
        assert!(env.on("b", Scope::Global).contains(&address.to_string()));
        assert_eq!(env.calls_on("a", "add", address), 1, "{address}");
    }
}

// ----- a slow LoadMaster ----------------------------------------------------

#[test]
fn a_slow_loadmaster_does_not_hold_up_the_others() {
    for n in SIZES {
        // The first (and, with four, the third) answers after the 2 s
        // timeout; the others are served at once, in parallel.
        let env = Env::several(n);
        let slow: Vec<&str> = NAMES[..n].iter().copied().step_by(2).collect();
        for name in &slow {
            env.fake(name)
                .set_fault(Fault::Delay(Duration::from_secs(4)));
        }
        let child = env.spawn(&["block", "203.0.113.7"]);
        for name in NAMES[..n].iter().filter(|n| !slow.contains(n)) {
            assert!(
                env.wait_on(name, "203.0.113.7", Duration::from_millis(1500))
                    .is_some(),
                "{n}: {name} waited for the slow LoadMaster"
            );
        }
        let out = common::Out(child.wait_with_output().unwrap());
        assert_eq!(out.code(), 3, "{n}: {}", out.all());
        for name in NAMES[..n].iter() {
            let (status, behind) = if slow.contains(name) {
                ("pending_block", true)
            } else {
                ("active", false)
            };
            assert_eq!(status_on(&env, name, "203.0.113.7"), status, "{n}: {name}");
            assert_eq!(
                out.stderr().contains(&format!("LoadMaster \"{name}\": ")),
                behind,
                "{n}: {name}: {}",
                out.stderr()
            );
        }
    }
}

#[test]
fn four_loadmasters_cost_about_one_loadmasters_latency() {
    // Each answers after 1.2 s: one after the other, four would take 4.8 s
    // longer than one.
    let delay = Fault::Delay(Duration::from_millis(1200));
    let timed = |env: &Env| {
        let start = Instant::now();
        let out = env.run(&["block", "203.0.113.7"]);
        assert_eq!(out.code(), 0, "{}", out.all());
        start.elapsed()
    };
    let one = Env::new();
    one.lm.set_fault(delay);
    let alone = timed(&one);
    let env = Env::several(4);
    for (_, lm) in env.fakes() {
        lm.set_fault(delay);
    }
    let four = timed(&env);
    for name in NAMES {
        assert_eq!(env.on(name, Scope::Global), ["203.0.113.7"], "{name}");
    }
    assert!(
        four.as_secs_f64() <= 1.5 * alone.as_secs_f64(),
        "four took {four:?}, one {alone:?}"
    );
}

// ----- --loadmaster ---------------------------------------------------------

#[test]
fn loadmaster_selects_where_block_unblock_list_and_sync_act() {
    let env = Env::several(4);
    let out = env.run(&[
        "block",
        "--loadmaster",
        "b",
        "--loadmaster",
        "d",
        "203.0.113.7",
    ]);
    assert_eq!(out.code(), 0, "{}", out.all());
    for (name, lm) in env.fakes() {
        let want: &[&str] = if matches!(name, "b" | "d") {
            &["203.0.113.7"]
        } else {
            assert_eq!(lm.request_count(), 0, "{name} was called");
            &[]
        };
        assert_eq!(env.on(name, Scope::Global), want, "{name}");
    }
    let rows = env.rows();
    let mut owners: Vec<&str> = rows
        .iter()
        .map(|r| r["loadmaster"].as_str().unwrap())
        .collect();
    owners.sort();
    assert_eq!(owners, ["b", "d"], "one entry per selected LoadMaster");

    // list --loadmaster shows that LoadMaster's rows only.
    let out = env.run(&["list", "--json", "--loadmaster", "d"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let listed: Vec<Value> = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["loadmaster"], "d");

    // unblock --loadmaster b leaves d's block in place.
    let out = env.run(&["unblock", "--loadmaster", "b", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(env.on("b", Scope::Global).is_empty());
    assert_eq!(env.on("d", Scope::Global), ["203.0.113.7"]);
    assert_eq!(status_on(&env, "b", "203.0.113.7"), "unblocked");
    assert_eq!(status_on(&env, "d", "203.0.113.7"), "active");

    // sync --loadmaster d reads d's lists only.
    for (_, lm) in env.fakes() {
        lm.clear_requests();
    }
    let out = env.run(&["sync", "--json", "--loadmaster", "d"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    for (name, lm) in env.fakes() {
        assert_eq!(lm.request_count() > 0, name == "d", "{name}");
    }
}

#[test]
fn sweep_loadmaster_completes_only_that_loadmasters_pending_work() {
    let env = Env::several(4);
    env.fake("b").set_fault(Fault::Down);
    env.fake("d").set_fault(Fault::Down);
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 3);
    env.fake("b").set_fault(Fault::None);
    env.fake("d").set_fault(Fault::None);
    let out = env.run(&["sweep", "--loadmaster", "b"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on("b", Scope::Global), ["203.0.113.7"]);
    assert!(env.on("d", Scope::Global).is_empty(), "d was not selected");
    assert_eq!(status_on(&env, "d", "203.0.113.7"), "pending_block");
    assert_eq!(env.run(&["sweep"]).code(), 0);
    for name in NAMES {
        assert_eq!(env.on(name, Scope::Global), ["203.0.113.7"], "{name}");
        assert_eq!(env.calls_on(name, "add", "203.0.113.7"), 1, "{name}");
    }
}

#[test]
fn an_unknown_loadmaster_name_is_exit_2_naming_the_configured_ones() {
    let env = Env::several(2);
    let commands: [&[&str]; 6] = [
        &["block", "--loadmaster", "zz", "203.0.113.7"],
        &["unblock", "--loadmaster", "zz", "203.0.113.7"],
        &["list", "--loadmaster", "zz"],
        &["sync", "--loadmaster", "zz"],
        &["sweep", "--loadmaster", "zz"],
        &["check", "--loadmaster", "zz"],
    ];
    for args in commands {
        let out = env.run(args);
        assert_eq!(out.code(), 2, "{args:?}: {}", out.all());
        let err = out.stderr();
        assert!(err.contains("zz"), "{args:?}: {err}");
        assert!(
            err.contains("a, b") || err.contains("\"a\", \"b\""),
            "{args:?}: the configured names: {err}"
        );
        assert_nothing_sent(&env);
    }
    assert!(env.rows().is_empty());
    // A lone [loadmaster] is called "default".
    let one = Env::new();
    let out = one.run(&["block", "--loadmaster", "default", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(one.on_lm(Scope::Global), ["203.0.113.7"]);
    let out = one.run(&["block", "--loadmaster", "a", "203.0.113.8"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    assert!(out.stderr().contains("default"), "{}", out.stderr());
    assert_eq!(one.calls_for("add", "203.0.113.8"), 0);
}

// ----- the --vs rule --------------------------------------------------------

#[test]
fn vs_with_several_loadmasters_needs_loadmaster_and_sends_nothing() {
    for n in SIZES {
        let env = Env::several(n);
        let cases: [(&[&str], Vec<u8>); 4] = [
            (&["block", "--vs", "3", "203.0.113.7"], Vec::new()),
            // Events on standard input, --vs given by hand.
            (&["block", "--vs", "3"], fixture("ads-events.tsv")),
            // The ADS parameter pair `--vs '3'` before one event.
            (&["block", "--vs", "3", "--duration", "36h"], one_event()),
            // Two LoadMasters named are still more than one.
            (
                &[
                    "block",
                    "--loadmaster",
                    "a",
                    "--loadmaster",
                    "b",
                    "--vs",
                    "3",
                    "203.0.113.7",
                ],
                Vec::new(),
            ),
        ];
        for (args, stdin) in cases {
            let out = env.run_stdin(args, stdin);
            assert_eq!(out.code(), 2, "{n}: {args:?}: {}", out.all());
            assert!(
                out.stderr().contains("--loadmaster"),
                "{n}: {args:?}: {}",
                out.stderr()
            );
            assert_nothing_sent(&env);
        }
        assert!(env.rows().is_empty(), "{n}: nothing recorded");
        // With one LoadMaster named, --vs is that appliance's index.
        let out = env.run(&["block", "--loadmaster", "b", "--vs", "3", "203.0.113.7"]);
        assert_eq!(out.code(), 0, "{n}: {}", out.all());
        assert_eq!(env.on("b", Scope::Vs(3)), ["203.0.113.7"]);
        assert_eq!(env.fake("a").request_count(), 0);
        let rows = env.rows();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(
            (&rows[0]["loadmaster"], &rows[0]["vs"]),
            (&Value::from("b"), &Value::from(3))
        );
        // unblock follows the same rule, one address or in bulk.
        env.fake("b").clear_requests();
        for args in [
            &["unblock", "--vs", "3", "203.0.113.7"][..],
            &["unblock", "--vs", "3", "--method", "SSHDICT", "--yes"][..],
        ] {
            let out = env.run(args);
            assert_eq!(out.code(), 2, "{n}: {args:?}: {}", out.all());
            assert!(out.stderr().contains("--loadmaster"), "{}", out.stderr());
            assert_nothing_sent(&env);
        }
        assert_eq!(env.on("b", Scope::Vs(3)), ["203.0.113.7"]);
        let out = env.run(&["unblock", "--loadmaster", "b", "--vs", "3", "203.0.113.7"]);
        assert_eq!(out.code(), 0, "{n}: {}", out.all());
        assert!(env.on("b", Scope::Vs(3)).is_empty());
    }
}

#[test]
fn each_table_may_name_its_own_default_virtual_service() {
    let env = Env::several(2);
    env.write_several(
        |name, _| {
            let vs = if name == "a" { "vs = 3\n" } else { "" };
            format!("{}{vs}", env.ca_line(name))
        },
        "",
    );
    let out = env.run_stdin(&["block"], one_event());
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on("a", Scope::Vs(3)), ["203.0.113.7"]);
    assert!(env.on("a", Scope::Global).is_empty());
    assert_eq!(env.on("b", Scope::Global), ["203.0.113.7"]);
    let all = out.all();
    line_with(&all, "blocked   203.0.113.7 (VS 3 on a)");
    line_with(&all, "blocked   203.0.113.7 (global on b)");
    let a = &rows_on(&env, "a")[0];
    assert_eq!(a["vs"], 3);
    assert_eq!(a["event_id"], "532028");
    assert_eq!(rows_on(&env, "b")[0]["vs"], Value::Null);
}

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
            "unblocked {n} {}, pending 0 {}, not owned 0, rejected 0",
            breakdown(&counts(n, 1, "", 0)),
            breakdown(&counts(n, 0, "", 0))
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

// ----- configuration --------------------------------------------------------

/// One `[[loadmaster]]` table for fake `lm`, with these extra lines.
fn table(env: &Env, name: &str, lm: &FakeLoadMaster, lines: &str) -> String {
    format!(
        "[[loadmaster]]\n{lines}url = \"{url}\"\napi_key_file = \"{key}\"\n{ca}\n",
        url = lm.url(),
        key = env.dir.path().join(format!("api-key-{name}")).display(),
        ca = env.ca_line(name),
    )
}

fn state_section(env: &Env) -> String {
    format!("[state]\npath = \"{}\"\n", env.state.display())
}

#[test]
fn configuration_errors_name_the_table() {
    let env = Env::several(2);
    let (a, b) = (env.fake("a"), env.fake("b"));
    let cases = [
        (
            format!(
                "{}{}",
                table(&env, "a", a, "name = \"a\"\n"),
                table(&env, "b", b, "")
            ),
            "[[loadmaster]] #2: name is missing",
        ),
        (
            format!(
                "{}{}",
                table(&env, "a", a, "name = \"a\"\n"),
                table(&env, "b", b, "name = \"a\"\n")
            ),
            "[[loadmaster]] #2 \"a\": name \"a\" is already used by #1",
        ),
        (
            format!(
                "{}{}",
                table(&env, "a", a, "name = \"a\"\n"),
                table(&env, "b", b, "name = \"b\"\n").replace("https://", "http://")
            ),
            "[[loadmaster]] #2 \"b\": url",
        ),
        (
            format!(
                "{}{}",
                table(&env, "a", a, "name = \"a\"\ntls_sha256 = \"AB:CD\"\n"),
                table(&env, "b", b, "name = \"b\"\n")
            ),
            "[[loadmaster]] #1 \"a\": tls_sha256",
        ),
        (
            format!(
                "{}{}",
                table(&env, "a", a, "name = \"a\"\n"),
                table(&env, "b", b, "name = \"b\"\ntls_sha256 = []\n")
            ),
            "[[loadmaster]] #2 \"b\": tls_sha256: the list is empty",
        ),
        (
            format!(
                "{}{}",
                table(&env, "a", a, "name = \"a\"\n"),
                table(&env, "b", b, "name = \"b c\"\n")
            ),
            "[[loadmaster]] #2 \"b c\": name: ",
        ),
        (
            "loadmaster = []\n".to_string(),
            "[[loadmaster]]: no LoadMaster",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&env.config, format!("{text}{}", state_section(&env))).unwrap();
        let out = env.run(&["block", "203.0.113.7"]);
        assert_eq!(out.code(), 2, "{want}: {}", out.all());
        assert!(
            out.stderr().contains(want),
            "{want:?} in:\n{}",
            out.stderr()
        );
        assert_nothing_sent(&env);
        assert!(!env.state.exists());
    }
}

#[test]
fn block_vs_with_several_loadmasters_is_a_configuration_error() {
    let env = Env::several_with(2, Options::default(), "[block]\nvs = 3\n");
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    let err = out.stderr();
    assert!(
        err.contains("block.vs") || err.contains("[block] vs"),
        "{err}"
    );
    assert!(err.contains("[[loadmaster]]"), "set vs per table: {err}");
    assert_nothing_sent(&env);
}

// ----- migration of a format-3 state file -----------------------------------

/// The rows `list --all --json` showed for `state-format3.redb` before
/// several LoadMasters existed (see tests/fixtures/README.md).
fn format3_rows() -> Vec<Value> {
    String::from_utf8(fixture("state-format3.rows.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every recorded row is listed again, field for field, owned by `owner`.
fn assert_rows_kept(env: &Env, owner: &str) {
    let want = format3_rows();
    assert_eq!(want.len(), 8);
    let got = env.rows();
    assert_eq!(got.len(), want.len(), "no row lost or added: {got:#?}");
    for old in &want {
        let new = got
            .iter()
            .find(|r| r["address"] == old["address"] && r["vs"] == old["vs"])
            .unwrap_or_else(|| panic!("{old} lost"));
        for (key, value) in old.as_object().unwrap() {
            assert_eq!(&new[key], value, "{key} of {}", old["address"]);
        }
        assert_eq!(new["loadmaster"], owner, "{new}");
    }
}

fn with_format3_state(env: &Env) {
    std::fs::create_dir_all(env.state.parent().unwrap()).unwrap();
    std::fs::write(&env.state, fixture("state-format3.redb")).unwrap();
}

/// After the conversion, the migrated entries go on: the pending block is
/// sent, the pending unblock settled, an active block is found again (and
/// extended, not duplicated).
fn assert_rows_keep_going(env: &Env, owner: &str) {
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let store = lmguard::state::Store::open_existing(&env.state, Duration::from_secs(5))
        .unwrap()
        .unwrap();
    let format = store.format().unwrap().unwrap();
    assert_eq!(format, lmguard::state::FORMAT_VERSION);
    assert!(format > 3, "converted from format 3, not kept as it was");
    drop(store);
    assert_eq!(env.on_lm(Scope::Global), ["192.0.2.66"]);
    let rows = env.rows();
    assert_eq!(rows.len(), 8);
    let status = |address: &str| {
        let row = rows.iter().find(|r| r["address"] == address).unwrap();
        assert_eq!(row["loadmaster"], owner, "{row}");
        row["status"].as_str().unwrap().to_string()
    };
    assert_eq!(status("192.0.2.66"), "active");
    assert_eq!(status("198.51.100.99"), "unblocked");
    assert_eq!(status("203.0.113.50"), "expired");
    assert_eq!(status("203.0.113.51"), "unblocked");
    assert_eq!(status("192.0.2.7"), "active");
    let out = env.run(&["block", "192.0.2.7", "--duration", "1000w"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("blocked 0, extended 1,"),
        "{}",
        out.stdout()
    );
    assert_eq!(env.rows().len(), 8);
}

#[test]
fn a_format3_state_file_belongs_to_default_under_a_lone_loadmaster_table() {
    let env = Env::new();
    with_format3_state(&env);
    // Read-only first: listed as it is, each row owned by "default".
    assert_rows_kept(&env, "default");
    assert_rows_keep_going(&env, "default");
}

#[test]
fn a_format3_state_file_belongs_to_the_only_loadmaster_whatever_its_name() {
    for form in [
        "[[loadmaster]]\nname = \"site1\"\n",
        "[loadmaster]\nname = \"site1\"\n",
    ] {
        let env = Env::new();
        let text = std::fs::read_to_string(&env.config)
            .unwrap()
            .replace("[loadmaster]\n", form);
        std::fs::write(&env.config, text).unwrap();
        with_format3_state(&env);
        assert_rows_kept(&env, "site1");
        assert_rows_keep_going(&env, "site1");
        let out = env.run(&["list", "--json", "--loadmaster", "site1"]);
        assert_eq!(out.code(), 0, "{form}: {}", out.all());
    }
}

#[test]
fn a_format3_state_file_follows_a_table_named_default_among_several() {
    // The operator adds a second site and names the first table "default":
    // the old entries stay that LoadMaster's; the new one gets none of them.
    let env = Env::several(2);
    let text = std::fs::read_to_string(&env.config).unwrap().replacen(
        "name = \"a\"",
        "name = \"default\"",
        1,
    );
    std::fs::write(&env.config, text).unwrap();
    with_format3_state(&env);
    assert_rows_kept(&env, "default");
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on("a", Scope::Global), ["192.0.2.66"]);
    assert_eq!(env.fake("b").request_count(), 0, "b has nothing to do");
    let out = env.run(&["block", "192.0.2.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let stdout = out.stdout();
    line_with(&stdout, "extended  192.0.2.7 (global on default)");
    line_with(&stdout, "blocked   192.0.2.7 (global on b)");
    assert_eq!(env.on("b", Scope::Global), ["192.0.2.7"]);
    assert_eq!(env.rows().len(), 9);
}

#[test]
fn check_warns_about_entries_of_a_loadmaster_no_longer_configured() {
    // Two new tables, neither named "default": the old entries have no
    // LoadMaster; check says so (and nothing is lost from the state).
    let env = Env::several(2);
    with_format3_state(&env);
    let out = env.run(&["check"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let line = out
        .check_line("unconfigured LoadMasters")
        .unwrap_or_else(|| panic!("no warning:\n{}", out.stdout()));
    assert!(line.starts_with('!'), "{line}");
    assert!(
        line.contains("6 active or pending entries of LoadMaster \"default\""),
        "{line}"
    );
    assert_rows_kept(&env, "default");
    for (name, lm) in env.fakes() {
        assert_eq!(edits(lm), (0, 0), "{name}: check only reads");
    }
}

// ----- a list of pinned certificates ----------------------------------------

/// A lone `[loadmaster]` at fake `name` (its key) pinning `pins`.
fn pinned(env: &Env, name: &str, pins: &[String]) {
    let list: Vec<String> = pins.iter().map(|p| format!("\"{p}\"")).collect();
    let text = format!(
        "[loadmaster]\nurl = \"{url}\"\napi_key_file = \"{key}\"\ntls_sha256 = [{list}]\n\
         timeout = \"2s\"\n\n{state}",
        url = env.fake(name).url(),
        key = env.dir.path().join(format!("api-key-{name}")).display(),
        list = list.join(", "),
        state = state_section(env),
    );
    std::fs::write(&env.config, text).unwrap();
}

#[test]
fn a_pin_list_accepts_either_certificate_and_refuses_any_other() {
    // a and b are the two units of an HA pair, each with its certificate.
    let env = Env::several(2);
    let pins = [
        env.fake("a").leaf_sha256_fingerprint(),
        env.fake("b").leaf_sha256_fingerprint().to_lowercase(),
    ];
    pinned(&env, "a", &pins);
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on("a", Scope::Global), ["203.0.113.7"]);
    // The other unit answers at the shared address after a failover.
    pinned(&env, "b", &pins);
    let out = env.run(&["block", "203.0.113.8"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on("b", Scope::Global), ["203.0.113.8"]);

    // A list holding neither certificate is refused before anything is sent.
    let others: Vec<String> = (0..2)
        .map(|_| {
            FakeLoadMaster::start(Options::default())
                .unwrap()
                .leaf_sha256_fingerprint()
        })
        .collect();
    pinned(&env, "b", &others);
    env.fake("b").clear_requests();
    let out = env.run(&["block", "203.0.113.9"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    let err = out.stderr();
    assert!(err.contains("tls_sha256"), "{err}");
    assert!(
        err.contains(&env.fake("b").leaf_sha256_fingerprint()),
        "the presented fingerprint is named: {err}"
    );
    assert_eq!(env.fake("b").request_count(), 0);
    assert_eq!(env.status_of("203.0.113.9"), "pending_block");
}

#[test]
fn pin_lists_per_table_refuse_only_their_own_loadmaster() {
    let env = Env::several(2);
    let stranger = FakeLoadMaster::start(Options::default())
        .unwrap()
        .leaf_sha256_fingerprint();
    env.write_several(
        |name, lm| {
            let pin = if name == "a" {
                lm.leaf_sha256_fingerprint()
            } else {
                stranger.clone()
            };
            format!("tls_sha256 = [\"{stranger}\", \"{pin}\"]\n")
        },
        "",
    );
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(env.on("a", Scope::Global), ["203.0.113.7"]);
    assert_eq!(env.fake("b").request_count(), 0);
    let err = out.stderr();
    let line = line_with(&err, "LoadMaster \"b\": ");
    assert!(line.contains("tls_sha256"), "{line}");
    assert!(!err.contains("LoadMaster \"a\""), "{err}");
}
