//! `lmguard list` as an operator reads it: filters, the footer with counts,
//! colour only on a terminal without NO_COLOR, `--json` unchanged, and
//! 100 000 rows printed without delay.

use crate::common;

use std::time::{Duration, Instant};

use common::Env;
use lmguard::domain::entry::Entry;
use serde_json::{json, Value};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An entry as the state database holds it (built from its JSON form, so
/// that fields added later with defaults do not break this test).
fn entry(address: &str, vs: Option<u32>, status: &str, expires_in: Option<i64>) -> Entry {
    let now = now();
    let scope = match vs {
        Some(n) => json!({ "vs": n }),
        None => json!("global"),
    };
    let ended = !matches!(status, "active" | "pending_block" | "pending_unblock");
    serde_json::from_value(json!({
        "address": address,
        "scope": scope,
        "status": status,
        "blocked_at": now - 3600,
        "expires_at": expires_in.map(|s| now + s),
        "reason": format!("SCANS test entry {address}"),
        "event_id": "532028",
        "times_blocked": 1,
        "updated_at": now - 60,
        "ended_at": if ended { Some(now - 60) } else { None },
    }))
    .unwrap()
}

const HOUR: i64 = 3600;

/// Two active (one ends within 24 h), a permanent one, two pending (one
/// ends within 24 h), and two of history.
fn seeded() -> Env {
    let env = Env::new();
    env.put_entries(&[
        entry("192.0.2.1", None, "active", Some(2 * HOUR)),
        entry("192.0.2.2", None, "active", Some(30 * 24 * HOUR)),
        entry("192.0.2.3", Some(3), "active", None),
        entry("198.51.100.0/24", None, "pending_block", Some(5 * HOUR)),
        entry("198.51.100.77", Some(3), "pending_unblock", Some(HOUR)),
        entry("203.0.113.5", None, "expired", Some(-HOUR)),
        entry("203.0.113.6", Some(3), "unblocked", Some(HOUR)),
    ]);
    env
}

fn footer(stdout: &str) -> &str {
    stdout.lines().last().unwrap_or("")
}

#[test]
fn the_footer_counts_active_pending_and_soon_expiring() {
    let env = seeded();
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let text = out.stdout();
    assert_eq!(
        footer(&text),
        "3 active, 2 pending, 2 expiring within 24 h",
        "{text}"
    );
    assert!(
        !text.contains("203.0.113.5"),
        "history only with --all:\n{text}"
    );

    let out = env.run(&["list", "--all"]);
    let text = out.stdout();
    assert_eq!(
        footer(&text),
        "3 active, 2 pending, 2 expiring within 24 h, 2 history",
        "{text}"
    );
    // The footer is set apart from the rows by an empty line; off a
    // terminal the reasons are whole, not cut to 80 columns.
    assert!(text.contains("SCANS test entry 198.51.100.77\n"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[lines.len() - 2], "", "{text}");
    assert_eq!(lines.len(), 1 + 7 + 2, "{text}");
}

#[test]
fn the_footer_counts_only_what_the_filters_show() {
    let env = seeded();
    let out = env.run(&["list", "--vs", "3"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let text = out.stdout();
    assert!(
        text.contains("192.0.2.3") && text.contains("198.51.100.77"),
        "{text}"
    );
    assert!(!text.contains("192.0.2.1 "), "{text}");
    assert_eq!(footer(&text), "1 active, 1 pending, 0 expiring within 24 h");

    let out = env.run(&["list", "--status", "active"]);
    assert_eq!(
        footer(&out.stdout()),
        "3 active, 0 pending, 1 expiring within 24 h"
    );

    // A network finds what is inside it; an address finds the network holding it.
    let out = env.run(&["list", "--address", "198.51.100.0/24", "--json"]);
    let rows: Value = serde_json::from_str(&out.stdout()).unwrap();
    let mut found: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["address"].as_str().unwrap())
        .collect();
    found.sort();
    assert_eq!(found, ["198.51.100.0/24", "198.51.100.77"]);
    let out = env.run(&["list", "--address", "198.51.100.200"]);
    assert!(out.stdout().contains("198.51.100.0/24"), "{}", out.stdout());
    assert!(!out.stdout().contains("198.51.100.77"), "{}", out.stdout());

    let out = env.run(&["list", "--status", "expired"]);
    assert_eq!(
        footer(&out.stdout()),
        "0 active, 0 pending, 0 expiring within 24 h, 1 history"
    );
    let out = env.run(&["list", "--status", "bogus"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    let out = env.run(&["list", "--address", "192.0.2.010"]);
    assert_eq!(out.code(), 2, "{}", out.all());
}

#[test]
fn json_has_no_footer_and_the_documented_rows() {
    let env = seeded();
    let out = env.run(&["list", "--all", "--json"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let rows: Value = serde_json::from_str(&out.stdout()).expect("only JSON on stdout");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 7);
    for key in common::ROW_KEYS {
        assert!(rows.iter().all(|r| r.get(key).is_some()), "{key} missing");
    }
}

#[test]
fn nothing_recorded_says_so_without_a_footer() {
    let env = Env::new();
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(out.stdout(), "no active or pending blocks recorded\n");
}

#[test]
fn no_colour_when_standard_output_is_not_a_terminal() {
    let env = seeded();
    let out = env
        .cmd()
        .args(["list", "--all"])
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\x1b'));
}

/// Runs `lmguard list --all` on a pseudo-terminal (util-linux `script`);
/// None when `script` is not installed.
fn list_on_a_terminal(env: &Env, no_color: Option<&str>) -> Option<String> {
    let bin = assert_cmd::cargo::cargo_bin("lmguard");
    let line = format!(
        "{} --config {} list --all",
        bin.display(),
        env.config.display()
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("LMGUARD_CONFIG");
    match no_color {
        Some(v) => cmd.env("NO_COLOR", v),
        None => cmd.env_remove("NO_COLOR"),
    };
    let out = cmd.stdin(std::process::Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn colour_on_a_terminal_unless_no_color_is_set() {
    let env = seeded();
    let Some(coloured) = list_on_a_terminal(&env, None) else {
        common::tools::skip("util-linux `script` is not available");
        return;
    };
    assert!(coloured.contains("\x1b["), "{coloured:?}");
    assert!(coloured.contains("192.0.2.1"), "{coloured:?}");
    let plain = list_on_a_terminal(&env, Some("1")).unwrap();
    assert!(plain.contains("192.0.2.1"), "{plain:?}");
    assert!(
        !plain.contains('\x1b'),
        "NO_COLOR must turn colour off: {plain:?}"
    );
    // An empty NO_COLOR does not count (no-color.org).
    let empty = list_on_a_terminal(&env, Some("")).unwrap();
    assert!(empty.contains("\x1b["), "{empty:?}");
}

#[test]
fn a_hundred_thousand_rows_print_quickly() {
    let env = Env::new();
    let entries: Vec<Entry> = (0..100_000u32)
        .map(|i| {
            let [_, a, b, c] = i.to_be_bytes();
            entry(
                &format!("10.{a}.{b}.{c}"),
                None,
                if i % 10 == 0 {
                    "pending_block"
                } else {
                    "active"
                },
                Some(i64::from(i % 500) * HOUR + HOUR),
            )
        })
        .collect();
    env.put_entries(&entries);
    let start = Instant::now();
    let out = env.run(&["list"]);
    let took = start.elapsed();
    eprintln!("list of 100 000 rows took {took:?}");
    assert_eq!(out.code(), 0, "{}", out.stderr());
    let text = out.stdout();
    assert_eq!(text.lines().count(), 1 + 100_000 + 2);
    assert_eq!(
        footer(&text),
        "90000 active, 10000 pending, 4800 expiring within 24 h"
    );
    // A guard against anything quadratic, generous for a debug build on a
    // busy 2-core machine (about 12 s there; a release build takes 1.5 s,
    // most of it reading the database, as `--json` does).
    assert!(took < Duration::from_secs(60), "list took {took:?}");
}

#[test]
fn simulated_blocks_are_counted_apart() {
    let env = Env::new();
    // What `[block] mode = "simulate"` records.
    let mut simulated =
        serde_json::to_value(entry("192.0.2.9", None, "active", Some(48 * HOUR))).unwrap();
    simulated["simulated"] = json!(true);
    let simulated: Entry = serde_json::from_value(simulated).unwrap();
    assert!(simulated.is_simulated());
    env.put_entries(&[simulated, entry("192.0.2.8", None, "active", Some(HOUR))]);
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(
        footer(&out.stdout()),
        "2 active, 0 pending, 1 expiring within 24 h (1 simulated)"
    );
}

/// "N without them" counts what `list` without the filters shows: with
/// `--status` (which may select history) a plain `list` still shows the 5
/// active and pending entries; history is named apart, with where to see it.
#[test]
fn no_match_counts_what_a_plain_list_shows() {
    let env = seeded();
    env.put_entries(&[
        entry("192.0.2.40", None, "active", Some(2 * HOUR)),
        entry("192.0.2.41", None, "active", Some(2 * HOUR)),
    ]);
    let plain = env.run(&["list"]);
    assert_eq!(
        footer(&plain.stdout()),
        "5 active, 2 pending, 4 expiring within 24 h"
    );
    let out = env.run(&["list", "--status", "pending", "--vs", "9"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(
        out.stdout(),
        "no blocks match the filters (7 without them; 2 more in history: lmguard list --all)\n"
    );
    let out = env.run(&["list", "--vs", "9"]);
    assert_eq!(
        out.stdout(),
        "no blocks match the filters (7 without them)\n"
    );
    let out = env.run(&["list", "--all", "--vs", "9"]);
    assert_eq!(
        out.stdout(),
        "no blocks match the filters (9 without them)\n"
    );
}
