//! Several LoadMasters from one lmguard (issue 15), end to end with two and
//! with four fake LoadMasters: fan-out, one down then back (each add
//! reaches each LoadMaster exactly once), a slow one, `--loadmaster`, the
//! `--vs` rule, per-LoadMaster `sync` and summaries, `max_active` and the
//! protections per LoadMaster, configuration errors naming the table, the
//! migration of a format-3 state file, and a list of pinned certificates.
//! This module holds the helpers; the tests are in its submodules.

use crate::common;

mod config;
mod fan_out;
mod migration;
mod per_loadmaster;
mod review;
mod selection;

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

/// A count as the summaries print it with several LoadMasters: the total,
/// and when it is not 0, each LoadMaster's share in config order
/// (`2 (a 2, b 0)`).
fn per_lm(counts: &[(&str, usize)]) -> String {
    let total: usize = counts.iter().map(|(_, c)| c).sum();
    if total == 0 {
        return "0".to_string();
    }
    let parts: Vec<String> = counts.iter().map(|(n, c)| format!("{n} {c}")).collect();
    format!("{total} ({})", parts.join(", "))
}

/// `block`'s summary line with several LoadMasters (nothing extended,
/// skipped or rejected; skips and rejections are about the input).
fn block_summary(blocked: &[(&str, usize)], pending: &[(&str, usize)]) -> String {
    format!(
        "blocked {}, extended 0, skipped 0 (allowlist 0, protected 0, filters 0), \
         rejected 0, pending {}",
        per_lm(blocked),
        per_lm(pending)
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
