//! `lmguard stats`: the figures of a known state as JSON, the Prometheus
//! exposition checked line by line, and the LoadMaster's last answer and
//! failure as the binary records them.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::Env;
use fake_loadmaster::Fault;
use lmguard::domain::entry::{Entry, Scope, Status};
use lmguard::domain::severity::Severity;
use lmguard::state::Store;
use serde_json::Value;

const DAY: i64 = 86_400;

fn now() -> i64 {
    lmguard::clock::unix_now()
}

#[allow(clippy::too_many_arguments)]
fn record(
    address: &str,
    scope: Scope,
    status: Status,
    method: Option<&str>,
    priority: Option<Severity>,
    times_blocked: u32,
    blocked_at: i64,
    updated_at: i64,
) -> Entry {
    Entry {
        loadmaster: Default::default(),
        address: address.parse().unwrap(),
        scope,
        status,
        blocked_at,
        expires_at: Some(blocked_at + 7 * DAY),
        reason: method.map_or("by hand".into(), |m| format!("{m} something")),
        event_id: method.map(|_| "42".to_string()),
        times_blocked,
        removal: None,
        claim: None,
        last_error: status.is_pending().then(|| "LoadMaster unreachable".into()),
        updated_at,
        ended_at: (!status.is_current()).then_some(updated_at),
        held_by_other: None,
        simulated: false,
        forced: false,
        adopted_comment: None,
        priority,
    }
}

/// A state with known figures; returns the pending one's pending-since.
fn known_state(env: &Env) -> i64 {
    let t = now();
    let pending_since = t - 3 * 3_600;
    let entries = [
        record(
            "192.0.2.1",
            Scope::Global,
            Status::Active,
            Some("SSHDICT"),
            Some(Severity::Critical),
            3,
            t - 60,
            t - 60,
        ),
        record(
            "192.0.2.2",
            Scope::Global,
            Status::Active,
            Some("SCANS"),
            Some(Severity::High),
            1,
            t - DAY,
            t - DAY,
        ),
        record(
            "192.0.2.3",
            Scope::Vs(3),
            Status::Active,
            None,
            None,
            1,
            t - 2 * DAY,
            t - 2 * DAY,
        ),
        record(
            "192.0.2.4",
            Scope::Global,
            Status::PendingBlock,
            Some("SSHDICT"),
            Some(Severity::Low),
            2,
            pending_since,
            pending_since,
        ),
        record(
            "192.0.2.5",
            Scope::Global,
            Status::Expired,
            Some("RDPDICT"),
            Some(Severity::High),
            1,
            t - 10 * DAY,
            t - 3 * DAY,
        ),
        record(
            "192.0.2.6",
            Scope::Global,
            Status::Unblocked,
            None,
            None,
            1,
            t - 40 * DAY,
            t - 39 * DAY,
        ),
        record(
            "192.0.2.7",
            Scope::Vs(9),
            Status::Rejected,
            None,
            None,
            1,
            t - 50 * DAY,
            t - 50 * DAY,
        ),
    ];
    let store = Store::open(&env.state, Duration::from_secs(5)).unwrap();
    store
        .update(|txn| entries.iter().try_for_each(|e| txn.put(e)))
        .unwrap();
    // A failed retry later changes the record, not how long it has waited.
    let mut retried = entries[3].clone();
    retried.updated_at = t - 60;
    store.update(|txn| txn.put(&retried)).unwrap();
    pending_since
}

fn stats_json(env: &Env) -> Value {
    let out = env.run(&["stats", "--json"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    serde_json::from_str(&out.stdout()).expect("one JSON object")
}

#[test]
fn json_figures_match_a_known_state() {
    let env = Env::new();
    let pending_since = known_state(&env);
    let s = stats_json(&env);
    let e = &s["entries"];
    assert_eq!(
        [
            &e["total"],
            &e["active"],
            &e["pending_block"],
            &e["pending_unblock"],
            &e["expired"],
            &e["unblocked"],
            &e["rejected"]
        ],
        [7, 3, 1, 0, 1, 1, 1]
    );
    // Blocks count every block of a record (times_blocked), by the method
    // and priority of its latest one; by hand = "manual" / "none".
    let by_method: BTreeMap<String, u64> =
        serde_json::from_value(s["blocks_by_method"].clone()).unwrap();
    let want: BTreeMap<String, u64> = [("SSHDICT", 5), ("SCANS", 1), ("RDPDICT", 1), ("manual", 3)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(by_method, want);
    let p = &s["blocks_by_priority"];
    assert_eq!(
        [
            &p["critical"],
            &p["high"],
            &p["medium"],
            &p["low"],
            &p["information"],
            &p["none"]
        ],
        [3, 2, 0, 2, 0, 3]
    );
    // Per day: the 28 days up to today; the record blocked 40 days ago is
    // outside the window.
    let days = s["blocks_per_day"].as_array().unwrap();
    assert_eq!(days.len(), 28);
    let total: u64 = days.iter().map(|d| d["blocks"].as_u64().unwrap()).sum();
    assert_eq!(total, 5);
    let today = &lmguard::clock::rfc3339(now())[..10];
    assert_eq!(days[27]["date"], today);
    assert!(days[27]["blocks"].as_u64().unwrap() >= 1);
    // Repeat offenders: most blocks first.
    let offenders = s["repeat_offenders"].as_array().unwrap();
    let names: Vec<&str> = offenders
        .iter()
        .map(|o| o["address"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["192.0.2.1", "192.0.2.4"]);
    assert_eq!(offenders[0]["times_blocked"], 3);
    // The oldest pending entry, and how long it has waited (despite the
    // later retry).
    let o = &s["oldest_pending"];
    assert_eq!(o["address"], "192.0.2.4");
    assert_eq!(o["status"], "pending_block");
    let age = o["age_seconds"].as_i64().unwrap();
    assert!((now() - pending_since - age).abs() <= 5, "age {age}");
    // Nothing heard from the LoadMaster yet.
    assert_eq!(s["loadmasters"][0]["name"], "default");
    assert_eq!(s["loadmasters"][0]["last_answer"], Value::Null);
}

#[test]
fn the_loadmasters_last_answer_and_failure_are_recorded() {
    let env = Env::new();
    let before = now();
    assert_eq!(env.run(&["block", "203.0.113.9"]).code(), 0);
    let s = stats_json(&env);
    let lm = &s["loadmasters"][0];
    let answered = humantime::parse_rfc3339(lm["last_answer"].as_str().unwrap()).unwrap();
    let answered = answered
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(answered >= before && answered <= now(), "{lm}");
    assert_eq!(lm["last_failure"], Value::Null);

    env.lm.set_fault(Fault::Down);
    assert_eq!(env.run(&["block", "203.0.113.10"]).code(), 3);
    let s = stats_json(&env);
    let lm = &s["loadmasters"][0];
    assert!(lm["last_failure"].is_string(), "{lm}");
    assert!(
        lm["last_failure_message"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{lm}"
    );
    assert!(
        lm["last_answer"].is_string(),
        "the earlier answer stays: {lm}"
    );
    assert_eq!(s["oldest_pending"]["address"], "203.0.113.10");
}

/// One sample line: name, labels, value.
fn parse_sample(line: &str) -> (String, BTreeMap<String, String>, f64) {
    let (series, value) = line.rsplit_once(' ').expect("name{labels} value");
    let value: f64 = value
        .parse()
        .unwrap_or_else(|_| panic!("value in {line:?}"));
    let (name, labels) = match series.split_once('{') {
        Some((n, rest)) => (n, rest.strip_suffix('}').expect("closing brace")),
        None => (series, ""),
    };
    assert!(
        name.starts_with("lmguard_") && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "metric name {name:?}"
    );
    let mut map = BTreeMap::new();
    // Label values here hold no commas or escaped quotes.
    for pair in labels.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').expect("label=value");
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .expect("quoted value");
        map.insert(k.to_string(), v.to_string());
    }
    (name.to_string(), map, value)
}

#[test]
fn prometheus_output_parses_and_agrees_with_list() {
    let env = Env::new();
    known_state(&env);
    assert_eq!(env.run(&["block", "203.0.113.9", "203.0.113.10"]).code(), 0);
    let out = env.run(&["stats", "--prometheus"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let text = out.stdout();
    let mut help: HashMap<String, String> = HashMap::new();
    let mut kind: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, h) = rest.split_once(' ').unwrap();
            assert!(!h.is_empty());
            assert!(
                help.insert(name.into(), h.into()).is_none(),
                "one HELP per metric"
            );
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').unwrap();
            assert!(help.contains_key(name), "HELP before TYPE for {name}");
            assert!(["gauge", "counter"].contains(&t), "type {t}");
            assert!(
                kind.insert(name.into(), t.into()).is_none(),
                "one TYPE per metric"
            );
        } else {
            assert!(!line.starts_with('#') && !line.is_empty(), "line {line:?}");
            let (name, labels, value) = parse_sample(line);
            assert!(kind.contains_key(&name), "TYPE before samples of {name}");
            assert_eq!(
                labels.get("loadmaster").map(String::as_str),
                Some("default"),
                "{line}"
            );
            samples.push((name, labels, value));
        }
    }
    let value = |name: &str, label: (&str, &str)| -> f64 {
        samples
            .iter()
            .find(|(n, l, _)| n == name && l.get(label.0).map(String::as_str) == Some(label.1))
            .unwrap_or_else(|| panic!("{name}{{{}={}}} in\n{text}", label.0, label.1))
            .2
    };
    // The active count is what `list` shows as active.
    let listed_active = env
        .rows()
        .iter()
        .filter(|r| r["status"] == "active")
        .count();
    assert_eq!(listed_active, 5);
    assert_eq!(
        value("lmguard_entries", ("status", "active")),
        listed_active as f64
    );
    assert_eq!(value("lmguard_entries", ("status", "pending_block")), 1.0);
    assert_eq!(value("lmguard_entries", ("status", "expired")), 1.0);
    assert_eq!(kind["lmguard_entries"], "gauge");
    assert_eq!(kind["lmguard_blocks_total"], "counter");
    assert_eq!(value("lmguard_blocks_total", ("method", "SSHDICT")), 5.0);
    assert_eq!(value("lmguard_entries", ("status", "rejected")), 1.0);
    assert_eq!(value("lmguard_blocks_total", ("method", "manual")), 5.0);
    let age = value(
        "lmguard_oldest_pending_age_seconds",
        ("loadmaster", "default"),
    );
    assert!((age - 3.0 * 3_600.0).abs() <= 5.0, "age {age}");
    let answered = value(
        "lmguard_loadmaster_last_answer_timestamp_seconds",
        ("loadmaster", "default"),
    );
    assert!((now() as f64 - answered).abs() <= 30.0, "{answered}");
    // Agrees with --json.
    let s = stats_json(&env);
    assert_eq!(
        s["entries"]["active"].as_u64().unwrap() as f64,
        value("lmguard_entries", ("status", "active"))
    );
}

#[test]
fn the_summary_off_a_terminal_is_plain_numbers() {
    let env = Env::new();
    known_state(&env);
    let out = env.run(&["stats"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let text = out.stdout();
    for needle in [
        "active",
        "oldest pending: 192.0.2.4 (global, pending_block) waiting 3h",
        "SSHDICT",
        "Repeat offenders:",
        "LoadMaster (default):",
    ] {
        assert!(text.contains(needle), "{needle:?} in\n{text}");
    }
    assert!(!text.contains('█') && !text.contains('\u{1b}'), "{text}");
    let today = &lmguard::clock::rfc3339(now())[..10];
    let s = stats_json(&env);
    let want = &s["blocks_per_day"][27]["blocks"];
    assert!(text.contains(&format!("\n  {today} {want}\n")), "{text}");
}

#[test]
fn stats_without_a_state_file_is_all_zeros() {
    let env = Env::new();
    let s = stats_json(&env);
    assert_eq!(s["entries"]["total"], 0);
    assert_eq!(s["oldest_pending"], Value::Null);
    assert!(!env.state.exists(), "stats creates nothing");
}

#[test]
fn the_contrib_script_writes_the_textfile_atomically() {
    let env = Env::new();
    known_state(&env);
    let dir = env.dir.path().join("textfile");
    std::fs::create_dir(&dir).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/lmguard-textfile.sh");
    let run = |config: &std::path::Path| {
        std::process::Command::new("sh")
            .arg(&script)
            .env("TEXTFILE_DIR", &dir)
            .env("LMGUARD", assert_cmd::cargo::cargo_bin("lmguard"))
            .env("LMGUARD_CONFIG", config)
            .output()
            .unwrap()
    };
    let out = run(&env.config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = |d: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(&dir), ["lmguard.prom"]);
    let written = std::fs::read_to_string(dir.join("lmguard.prom")).unwrap();
    assert!(
        written.contains("lmguard_entries{loadmaster=\"default\",status=\"active\"} 3"),
        "{written}"
    );
    // A failed run leaves the last good file as it was, and no temporary file.
    let out = run(&env.dir.path().join("missing.toml"));
    assert!(!out.status.success());
    assert_eq!(names(&dir), ["lmguard.prom"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("lmguard.prom")).unwrap(),
        written
    );
}

/// 2 000 made-up method codes do not become 2 000 Prometheus series: the
/// known ADS methods and the most frequent others keep their label, the
/// rest are summed as `other`, and the total is unchanged.
#[test]
fn prometheus_method_labels_are_bounded() {
    let env = Env::new();
    let t = now();
    let mut entries = Vec::new();
    for i in 0..2_000u32 {
        let address = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
        // CUSTOM0 is the most frequent custom method: 3 blocks.
        let (method, times) = if i < 3 {
            ("CUSTOM0".to_string(), 1)
        } else {
            (format!("NOISE{i}"), 1)
        };
        entries.push(record(
            &address,
            Scope::Global,
            Status::Active,
            Some(&method),
            None,
            times,
            t - 60,
            t - 60,
        ));
    }
    entries.push(record(
        "192.0.2.1",
        Scope::Global,
        Status::Active,
        Some("SCANS"),
        None,
        1,
        t - 60,
        t - 60,
    ));
    env.put_entries(&entries);
    let out = env.run(&["stats", "--prometheus"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let samples: Vec<_> = out
        .stdout()
        .lines()
        .filter(|l| l.starts_with("lmguard_blocks_total{"))
        .map(parse_sample)
        .collect();
    assert!(samples.len() <= 40, "{} series", samples.len());
    let value = |m: &str| {
        samples
            .iter()
            .find(|(_, l, _)| l["method"] == m)
            .map(|(_, _, v)| *v)
    };
    assert_eq!(value("SCANS"), Some(1.0));
    assert_eq!(value("CUSTOM0"), Some(3.0));
    assert!(value("other").is_some_and(|v| v > 1_900.0));
    let total: f64 = samples.iter().map(|(_, _, v)| v).sum();
    assert_eq!(total, 2_001.0);
}

/// Issue 24: the script wrote through `.lmguard.prom.$$`, a name anyone who
/// can write the textfile directory could plant a link at: root's 0600 file
/// became 0644 and held metrics. Links planted at every name that process
/// ids about to be given out would make (and at lmguard.prom itself) are
/// never followed, written or chmodded.
#[test]
fn the_contrib_script_follows_no_link_planted_in_the_textfile_directory() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let env = Env::new();
    known_state(&env);
    let dir = env.dir.path().join("textfile");
    std::fs::create_dir(&dir).unwrap();
    let private = |name: &str| {
        let path = env.dir.path().join(name);
        std::fs::write(&path, "root's secret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    };
    let victim = private("victim");
    let other = private("other-victim");
    let next_pid: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for pid in next_pid + 1..next_pid + 3000 {
        symlink(&victim, dir.join(format!(".lmguard.prom.{pid}"))).unwrap();
    }
    symlink(&other, dir.join("lmguard.prom")).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/lmguard-textfile.sh");
    let out = std::process::Command::new("sh")
        .arg(&script)
        .env("TEXTFILE_DIR", &dir)
        .env("LMGUARD", assert_cmd::cargo::cargo_bin("lmguard"))
        .env("LMGUARD_CONFIG", &env.config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [&victim, &other] {
        assert_eq!(
            std::fs::read_to_string(file).unwrap(),
            "root's secret\n",
            "{} was written through a link",
            file.display()
        );
        let mode = file.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} was chmodded", file.display());
    }
    // lmguard.prom is the script's own file now, readable by the collector.
    let prom = dir.join("lmguard.prom");
    let meta = std::fs::symlink_metadata(&prom).unwrap();
    assert!(meta.file_type().is_file(), "{meta:?}");
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    assert!(std::fs::read_to_string(&prom)
        .unwrap()
        .contains("lmguard_entries{loadmaster=\"default\",status=\"active\"} 3"));
    // Nothing of the script's is left but lmguard.prom and the planted links.
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().unwrap().is_symlink())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["lmguard.prom"]);
}
