//! A block reaches every LoadMaster, each add once; one down, refusing or
//! slow LoadMaster stops only its own work, and `sweep` catches it up.

use super::*;

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
            // An IPv6 host is sent as /128 (Kemp takes a bare one as /32).
            assert_eq!(
                env.on(name, Scope::Global),
                ["203.0.113.7", "2001:db8::7/128"],
                "{n}: {name}"
            );
            for (address, sent) in [
                ("203.0.113.7", "203.0.113.7"),
                ("2001:db8::7", "2001:db8::7/128"),
            ] {
                assert_eq!(env.calls_on(name, "add", sent), 1, "{n}: {name}");
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
        let summary = format!(
            "expired 0 of 0 due; retried: {} block(s) and 0 unblock(s) applied; still pending 0",
            per_lm(&counts(n, 0, "b", 3))
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

/// `lmguard block` reading a stream (rsyslog omprog) on a and b, b slow:
/// it answers after the 2 s timeout. Returns the running child.
fn stream_with_slow_b(env: &Env) -> std::process::Child {
    env.fake("b")
        .set_fault(Fault::Delay(Duration::from_secs(4)));
    env.spawn(&["block"])
}

/// Line `n` (0-based) of the ADS TSV fixture, written to the stream.
fn send_event(child: &mut std::process::Child, n: usize) {
    use std::io::Write;
    let events = String::from_utf8(fixture("ads-events.tsv")).unwrap();
    let stdin = child.stdin.as_mut().unwrap();
    writeln!(stdin, "{}", events.lines().nth(n).unwrap()).unwrap();
    stdin.flush().unwrap();
}

/// SIGTERM while a slow (not dead) LoadMaster has a long queue: the
/// process ends after a short grace, not after the queue; what was not
/// sent stays pending for sweep, and the healthy LoadMaster has it all.
#[test]
fn sigterm_does_not_wait_for_a_slow_loadmasters_whole_queue() {
    use std::io::Write;
    let env = Env::several(2);
    // Under the 2 s timeout: b answers, slowly (4 connections at a time).
    env.fake("b")
        .set_fault(Fault::Delay(Duration::from_millis(1500)));
    let mut child = env.spawn(&["block", "--input", "tsv"]);
    let template = String::from_utf8(one_event()).unwrap();
    let addresses: Vec<String> = (1..=60).map(|i| format!("198.51.100.{i}")).collect();
    let text: String = addresses
        .iter()
        .map(|a| template.replace("203.0.113.7", a))
        .collect();
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(text.as_bytes()).unwrap();
    stdin.flush().unwrap();
    assert!(
        env.wait_on("a", "198.51.100.60", Duration::from_secs(5))
            .is_some(),
        "a got every event"
    );
    common::signal(&child, "-TERM");
    let start = Instant::now();
    let out = common::Out(child.wait_with_output().unwrap());
    // 60 calls at 1.5 s over 4 connections would take 22 s.
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}: {}",
        start.elapsed(),
        out.stderr()
    );
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(
        out.stderr().contains("LoadMaster \"b\": "),
        "{}",
        out.stderr()
    );
    assert!(
        out.stderr().contains("not sent: lmguard was stopped"),
        "{}",
        out.stderr()
    );
    let pending = addresses
        .iter()
        .filter(|a| status_on(&env, "b", a) == "pending_block")
        .count();
    assert!(pending > 0, "b's queue was not cut short");
    for a in &addresses {
        assert_eq!(status_on(&env, "a", a), "active", "{a}");
    }
    // The next sweep sends b the rest, each once.
    env.fake("b").set_fault(Fault::None);
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    for a in &addresses {
        assert_eq!(status_on(&env, "b", a), "active", "{a}");
        assert_eq!(env.calls_on("b", "add", a), 1, "{a}");
    }
}

#[test]
fn a_stream_keeps_serving_the_others_while_one_loadmaster_is_slow() {
    let env = Env::several(2);
    let mut child = stream_with_slow_b(&env);
    send_event(&mut child, 0);
    assert!(
        env.wait_on("a", "203.0.113.7", Duration::from_millis(1500))
            .is_some(),
        "a waited for b"
    );
    // Once b has timed out, it is left alone: the next events are not sent
    // there (only recorded for sweep), and a gets them at once.
    std::thread::sleep(Duration::from_millis(2500));
    let asked = env.fake("b").request_count();
    for (n, source) in [(1, "203.0.113.8"), (2, "192.0.2.77")] {
        send_event(&mut child, n);
        assert!(
            env.wait_on("a", source, Duration::from_millis(1000))
                .is_some(),
            "a waited for b again"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.fake("b").request_count(), asked, "b was called again");
    drop(child.stdin.take());
    let out = common::Out(child.wait_with_output().unwrap());
    assert_eq!(out.code(), 3, "{}", out.all());
    let err = out.stderr();
    assert!(err.contains("LoadMaster \"b\": "), "{err}");
    assert!(!err.contains("LoadMaster \"a\""), "{err}");
    let sources = ["203.0.113.7", "203.0.113.8", "192.0.2.77"];
    for address in sources {
        assert_eq!(status_on(&env, "a", address), "active");
        assert_eq!(status_on(&env, "b", address), "pending_block");
    }
    env.fake("b").set_fault(Fault::None);
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    for address in sources {
        assert_eq!(status_on(&env, "b", address), "active");
        assert!(env.on("b", Scope::Global).contains(&address.to_string()));
        assert_eq!(env.calls_on("a", "add", address), 1, "{address}");
    }
}

#[test]
fn a_stream_does_not_queue_a_healthy_loadmasters_events_behind_a_slow_batch() {
    let env = Env::several(2);
    let mut child = stream_with_slow_b(&env);
    send_event(&mut child, 0);
    assert!(env
        .wait_on("a", "203.0.113.7", Duration::from_millis(1500))
        .is_some());
    // b still holds the first batch: the next event reaches a all the same.
    send_event(&mut child, 1);
    let took = env.wait_on("a", "203.0.113.8", Duration::from_millis(5000));
    drop(child.stdin.take());
    let _ = child.wait_with_output();
    let took = took.expect("a got the second event");
    assert!(
        took < Duration::from_millis(1000),
        "a's second event waited {took:?}, behind b's first batch"
    );
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
