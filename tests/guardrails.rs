//! Guardrails on what gets blocked, end to end: built-in protections, the
//! prefix limits, max_active, the ADS filters, IPv6 widening, repeat
//! offenders and simulation.

use crate::common;

use std::time::Duration;

use common::{fixture, Env};
use fake_loadmaster::{Options, Scope};
use serde_json::Value;

fn secs(rfc3339: &Value) -> i64 {
    let text = rfc3339.as_str().expect("a time");
    humantime::parse_rfc3339(text)
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// How long a recorded block lasts (expiry minus start), in seconds.
fn length(row: &Value) -> i64 {
    secs(&row["expires_at"]) - secs(&row["blocked_at"])
}

/// ADS events as JSON lines, one per source.
fn ads_json(sources: &[&str]) -> Vec<u8> {
    sources
        .iter()
        .enumerate()
        .map(|(i, source)| {
            format!(
                "{{\"id\": {}, \"timestamp\": \"2026-11-24 13:00:00\", \"type\": \"SCANS\", \
                 \"typeDesc\": \"Port scanning\", \"severity\": \"High\", \"source\": \"{source}\"}}\n",
                i + 1
            )
        })
        .collect::<String>()
        .into_bytes()
}

/// A config for a LoadMaster at `url` that no test connects to (dry runs
/// only), for addresses the fake LoadMaster (on loopback) cannot have.
fn unreachable_env(url: &str) -> Env {
    let env = Env::new();
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace(&env.lm.url(), url);
    std::fs::write(&env.config, text).unwrap();
    env
}

// ----- built-in protections -------------------------------------------------

#[test]
fn special_addresses_are_never_blocked_even_with_force() {
    let env = Env::new();
    let protected = [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("127.0.0.0/24", "loopback"),
        ("fe80::1", "link-local"),
        ("169.254.10.1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
    ];
    for force in [false, true] {
        let mut args = vec!["block"];
        if force {
            args.push("--force");
        }
        args.extend(protected.iter().map(|(a, _)| *a));
        args.push("203.0.113.7");
        let out = env.run(&args);
        assert_eq!(out.code(), 4, "force={force}: {}", out.all());
        let err = out.stderr();
        for (address, why) in protected {
            let line = err
                .lines()
                .find(|l| l.starts_with(&format!("lmguard: {address}: ")))
                .unwrap_or_else(|| panic!("{address} not reported:\n{err}"));
            assert!(line.contains(why), "{address}: {line}");
            assert!(line.contains("--force does not override"), "{line}");
        }
    }
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
    assert_eq!(env.rows().len(), 1, "nothing protected was recorded");
}

#[test]
fn protected_event_sources_are_skipped_and_counted() {
    let env = Env::new();
    let events = ads_json(&["127.0.0.1", "203.0.113.7", "fe80::5"]);
    let out = env.run_stdin(&["block"], events);
    assert_eq!(
        out.code(),
        0,
        "a false positive is not an input error: {}",
        out.all()
    );
    assert!(
        out.stderr().contains("line 1: not blocked"),
        "{}",
        out.stderr()
    );
    assert!(
        out.stderr().contains("line 3: not blocked"),
        "{}",
        out.stderr()
    );
    assert!(out.stdout().contains("protected 2"), "{}", out.stdout());
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
}

#[test]
fn the_loadmasters_own_address_is_never_blocked() {
    let env = unreachable_env("https://198.51.100.10:8443");
    let out = env.run(&[
        "block",
        "--dry-run",
        "--force",
        "198.51.100.10",
        "198.51.100.0/24",
        "198.51.100.11",
    ]);
    assert_eq!(out.code(), 4, "{}", out.all());
    let err = out.stderr();
    assert!(
        err.contains("198.51.100.10: rejected: 198.51.100.10 is the LoadMaster's own address"),
        "{err}"
    );
    assert!(
        err.contains("198.51.100.0/24 covers 198.51.100.10 (the LoadMaster's own address)"),
        "{err}"
    );
    let stdout = out.stdout();
    assert!(stdout.contains("\"addr\":\"198.51.100.11\""), "{stdout}");
    assert!(!stdout.contains("\"addr\":\"198.51.100.10\""), "{stdout}");

    let v6 = unreachable_env("https://[2001:db8:10::1]");
    let out = v6.run(&["block", "--dry-run", "2001:db8:10::/48"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    assert!(out.stderr().contains("LoadMaster"), "{}", out.stderr());
}

#[test]
fn this_hosts_own_addresses_are_never_blocked() {
    // A non-loopback local address of this host, if it has one.
    let Ok(trie) = std::fs::read_to_string("/proc/net/fib_trie") else {
        common::tools::skip("cannot read /proc/net/fib_trie for this host's addresses");
        return;
    };
    let lines: Vec<&str> = trie.lines().map(str::trim).collect();
    let own = lines.windows(2).find_map(|w| {
        let ip: std::net::Ipv4Addr = w[0].strip_prefix("|--")?.trim().parse().ok()?;
        (w[1].starts_with("/32 host LOCAL") && !ip.is_loopback()).then_some(ip)
    });
    let Some(own) = own else {
        common::tools::skip("no non-loopback address on this host");
        return;
    };
    let env = Env::new();
    let own = own.to_string();
    let out = env.run(&["block", "--dry-run", "--force", &own]);
    assert_eq!(out.code(), 4, "{}", out.all());
    assert!(
        out.stderr().contains("an address of this host"),
        "{}",
        out.stderr()
    );
    assert!(!out.stdout().contains(&format!("\"addr\":\"{own}\"")));
}

#[test]
fn the_configured_allowlist_is_checked_both_ways_and_force_overrides_it() {
    let env = Env::with(
        Options::default(),
        "[block]\nallowlist = [\"203.0.113.0/28\", \"198.51.100.5\"]\n",
    );
    let out = env.run(&["block", "203.0.113.3", "198.51.100.0/24", "203.0.113.99"]);
    // An operator's explicit request that was not done: exit 4, naming the
    // address and the rule; the rest is blocked.
    assert_eq!(out.code(), 4, "{}", out.all());
    assert!(
        out.stderr().contains("allowlist entry 203.0.113.0/28"),
        "{}",
        out.stderr()
    );
    assert!(
        out.stderr().contains("203.0.113.3: not blocked"),
        "{}",
        out.stderr()
    );
    assert!(
        out.stderr().contains("--force overrides"),
        "{}",
        out.stderr()
    );
    assert!(
        out.stderr().contains("198.51.100.0/24: not blocked"),
        "{}",
        out.stderr()
    );
    assert!(out.stdout().contains("allowlist 2"), "{}", out.stdout());
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.99"]);
    let out = env.run(&["block", "--force", "203.0.113.3"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.status_of("203.0.113.3"), "active");
    // --force is for manual blocks only: an event is never forced.
    let out = env.run_stdin(&["block", "--force"], ads_json(&["203.0.113.4"]));
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.status_of("203.0.113.4"), "absent");
}

// ----- prefix limits ---------------------------------------------------------

#[test]
fn networks_broader_than_24_or_48_are_refused_by_default() {
    let env = Env::new();
    let out = env.run(&[
        "block",
        "203.0.112.0/23",
        "2001:db8::/47",
        "203.0.113.0/24",
        "2001:db8:1::/48",
    ]);
    assert_eq!(out.code(), 4, "{}", out.all());
    let err = out.stderr();
    assert!(err.contains("203.0.112.0/23 is broader than /24"), "{err}");
    assert!(err.contains("2001:db8::/47 is broader than /48"), "{err}");
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["2001:db8:1::/48", "203.0.113.0/24"]
    );
    // --force does not widen the limit either.
    assert_eq!(env.run(&["block", "--force", "203.0.112.0/23"]).code(), 4);

    let wide = Env::with(
        Options::default(),
        "[block]\nmin_prefix_v4 = 16\nmin_prefix_v6 = 32\n",
    );
    let out = wide.run(&["block", "203.0.112.0/23", "2001:db8::/47"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(wide.on_lm(Scope::Global).len(), 2);
}

// ----- max_active -------------------------------------------------------------

#[test]
fn max_active_refuses_new_blocks_without_evicting_any() {
    let env = Env::with(Options::default(), "[block]\nmax_active = 2\n");
    let out = env.run(&["block", "203.0.113.1", "203.0.113.2", "203.0.113.3"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    let err = out.stderr();
    let line = err
        .lines()
        .find(|l| l.contains("203.0.113.3"))
        .unwrap_or_else(|| panic!("203.0.113.3 not reported:\n{err}"));
    assert!(
        line.contains("max_active") && line.contains("limit of 2") && line.contains("2 are active"),
        "{line}"
    );
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["203.0.113.1", "203.0.113.2"]
    );
    assert_eq!(
        env.status_of("203.0.113.3"),
        "absent",
        "refused, not recorded"
    );

    // At the limit, extending what is blocked still works.
    let out = env.run(&["block", "203.0.113.1", "--duration", "9d"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stdout().contains("extended"), "{}", out.stdout());
    // Events beyond it are refused one by one, the others still extended.
    let out = env.run_stdin(&["block"], fixture("ads-events.tsv"));
    assert_eq!(out.code(), 4, "{}", out.all());
    let refused = out
        .stderr()
        .lines()
        .filter(|l| l.contains("max_active"))
        .count();
    assert_eq!(refused, 5, "{}", out.stderr());
    assert_eq!(env.on_lm(Scope::Global).len(), 2, "nothing evicted");

    // Room is made by unblocking, never by lmguard itself.
    assert_eq!(env.run(&["unblock", "203.0.113.2"]).code(), 0);
    let out = env.run(&["block", "203.0.113.3"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["203.0.113.1", "203.0.113.3"]
    );
}

#[test]
fn max_active_counts_pending_blocks_and_every_scope() {
    let env = Env::with(Options::default(), "[block]\nmax_active = 2\n");
    env.lm.set_fault(fake_loadmaster::Fault::Down);
    assert_eq!(env.run(&["block", "203.0.113.1"]).code(), 3);
    env.lm.set_fault(fake_loadmaster::Fault::None);
    assert_eq!(env.run(&["block", "--vs", "3", "203.0.113.2"]).code(), 0);
    let out = env.run(&["block", "--dry-run", "203.0.113.3"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    assert!(out.stderr().contains("max_active"), "{}", out.stderr());
    let out = env.run(&["block", "203.0.113.3"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    assert_eq!(env.status_of("203.0.113.3"), "absent");
}

// ----- ADS filters ----------------------------------------------------------------

#[test]
fn ads_filters_skip_and_count_events_without_errors() {
    let env = Env::with(
        Options::default(),
        "[ads]\nmin_severity = \"high\"\nmethods = [\"sshdict\", \"SCANS\", \"RDPDICT\", \"DNSANOMALY\"]\n",
    );
    let out = env.run_stdin(&["block"], fixture("ads-events.tsv"));
    assert_eq!(out.code(), 0, "{}", out.all());
    // BLACKLIST is not in methods; DNSANOMALY is, but only Low.
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["192.0.2.77", "203.0.113.7", "203.0.113.8"]
    );
    assert!(
        out.stdout()
            .contains("skipped 2 (allowlist 0, protected 0, filters 2)"),
        "{}",
        out.stdout()
    );
    assert!(!out.stderr().contains("error"), "{}", out.stderr());
    // -v says why each was skipped.
    let env = Env::with(Options::default(), "[ads]\nmin_severity = \"critical\"\n");
    let out = env.run_stdin(&["-v", "block"], fixture("ads-events.tsv"));
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
    assert!(
        out.stderr().contains("below [ads] min_severity"),
        "{}",
        out.stderr()
    );
    assert!(out.stdout().contains("filters 4"), "{}", out.stdout());
}

#[test]
fn ids_severities_count_as_critical_to_low() {
    let env = Env::with(Options::default(), "[ads]\nmin_severity = \"critical\"\n");
    let out = env.run_stdin(&["block"], fixture("ids-events.tsv"));
    assert_eq!(out.code(), 0, "{}", out.all());
    // 88002 has IDS severity 1 (critical); 88001 has 2 (high).
    assert!(env
        .on_lm(Scope::Global)
        .contains(&"2001:db8:bad::5/128".to_string()));
    assert!(!env
        .on_lm(Scope::Global)
        .contains(&"203.0.113.30".to_string()));
}

// ----- IPv6 widening ------------------------------------------------------------------

#[test]
fn ipv6_prefix_makes_one_entry_per_network_and_unblock_finds_it() {
    let env = Env::with(Options::default(), "[block]\nipv6_prefix = 56\n");
    let events = ads_json(&[
        "2001:db8:abcd:1201::1",
        "2001:db8:abcd:12ff::2",
        "2001:DB8:ABCD:1200::3",
        "203.0.113.7",
    ]);
    let out = env.run_stdin(&["block"], events);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["2001:db8:abcd:1200::/56", "203.0.113.7"],
        "IPv4 is never widened"
    );
    assert_eq!(env.calls_for("add", "2001:db8:abcd:1200::/56"), 1);
    assert_eq!(env.rows().len(), 2);
    // Any host of the network finds the entry.
    let out = env.run(&["unblock", "2001:db8:abcd:12aa::99"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
    assert_eq!(env.status_of("2001:db8:abcd:1200::/56"), "unblocked");
    // The network itself, too (blocked again first).
    assert_eq!(env.run(&["block", "2001:db8:abcd:1234::1"]).code(), 0);
    assert_eq!(env.run(&["unblock", "2001:db8:abcd:1200::/56"]).code(), 0);
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
}

// ----- repeat offenders --------------------------------------------------------------

#[test]
fn repeat_offenders_get_longer_blocks_after_an_expiry() {
    let env = Env::with(Options::default(), "[block]\nescalation_jitter = \"0%\"\n");
    // Blocked once; expired and lifted by sweep.
    for a in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"] {
        assert_eq!(env.run(&["block", a, "--duration", "1s"]).code(), 0);
    }
    assert_eq!(
        env.run(&["block", "203.0.113.5", "--duration", "1h"])
            .code(),
        0
    );
    assert_eq!(
        env.run(&["block", "203.0.113.6", "--duration", "1h"])
            .code(),
        0
    );
    assert_eq!(env.run(&["unblock", "203.0.113.6"]).code(), 0);
    std::thread::sleep(Duration::from_millis(2_100));
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert_eq!(env.status_of("203.0.113.1"), "expired");

    // Second block: twice the duration in effect.
    let out = env.run(&["block", "203.0.113.1", "--duration", "1h"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("repeat offender: block 2, 2h"),
        "{}",
        out.stdout()
    );
    let row = env.row("203.0.113.1").unwrap();
    assert_eq!(row["times_blocked"], 2);
    assert_eq!(length(&row), 7_200);
    // The configured default duration escalates the same way.
    assert_eq!(env.run(&["block", "203.0.113.2"]).code(), 0);
    assert_eq!(length(&env.row("203.0.113.2").unwrap()), 2 * 75 * 3_600);
    // Permanent stays permanent.
    assert_eq!(
        env.run(&["block", "203.0.113.3", "--duration", "permanent"])
            .code(),
        0
    );
    assert!(env.row("203.0.113.3").unwrap()["expires_at"].is_null());
    // The cap (30 days by default) bounds it.
    assert_eq!(
        env.run(&["block", "203.0.113.4", "--duration", "20d"])
            .code(),
        0
    );
    assert_eq!(length(&env.row("203.0.113.4").unwrap()), 30 * 86_400);
    // Still active: only extended, never escalated.
    let before = env.row("203.0.113.5").unwrap();
    let out = env.run(&["block", "203.0.113.5", "--duration", "1h"]);
    assert!(out.stdout().contains("extended"), "{}", out.stdout());
    let after = env.row("203.0.113.5").unwrap();
    assert!(secs(&after["expires_at"]) - secs(&before["expires_at"]) <= 60);
    assert_eq!(after["times_blocked"], 1);
    // Lifted by hand (a false positive): the next block is not longer.
    assert_eq!(
        env.run(&["block", "203.0.113.6", "--duration", "1h"])
            .code(),
        0
    );
    let row = env.row("203.0.113.6").unwrap();
    assert_eq!(row["times_blocked"], 2);
    assert_eq!(length(&row), 3_600);
    // The table shows how many times it was blocked.
    let out = env.run(&["list"]);
    assert!(out.stdout().contains("active ×2"), "{}", out.stdout());
}

#[test]
fn escalation_factor_cap_and_jitter_are_configurable() {
    let env = Env::with(
        Options::default(),
        "[block]\nescalation_factor = 3.0\nescalation_cap = \"4h\"\n",
    );
    for a in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        assert_eq!(env.run(&["block", a, "--duration", "1s"]).code(), 0);
    }
    std::thread::sleep(Duration::from_millis(2_100));
    assert_eq!(env.run(&["sweep"]).code(), 0);
    // ×3 with up to 10% taken off at random: between 2.7h and 3h.
    assert_eq!(
        env.run(&["block", "203.0.113.1", "--duration", "1h"])
            .code(),
        0
    );
    let l = length(&env.row("203.0.113.1").unwrap());
    assert!((9_720..=10_800).contains(&l), "{l}");
    // Capped at 4h (minus jitter), never below what was asked.
    assert_eq!(
        env.run(&["block", "203.0.113.2", "--duration", "2h"])
            .code(),
        0
    );
    let l = length(&env.row("203.0.113.2").unwrap());
    assert!((12_960..=14_400).contains(&l), "{l}");
    assert_eq!(
        env.run(&["block", "203.0.113.3", "--duration", "5h"])
            .code(),
        0
    );
    assert_eq!(length(&env.row("203.0.113.3").unwrap()), 5 * 3_600);

    // Factor 1.0 turns it off.
    let off = Env::with(Options::default(), "[block]\nescalation_factor = 1.0\n");
    assert_eq!(
        off.run(&["block", "203.0.113.1", "--duration", "1s"])
            .code(),
        0
    );
    std::thread::sleep(Duration::from_millis(2_100));
    assert_eq!(off.run(&["sweep"]).code(), 0);
    assert_eq!(
        off.run(&["block", "203.0.113.1", "--duration", "1h"])
            .code(),
        0
    );
    assert_eq!(length(&off.row("203.0.113.1").unwrap()), 3_600);
}

// ----- simulation -----------------------------------------------------------------------

#[test]
fn simulate_mode_records_and_lists_without_calling_the_loadmaster() {
    let env = Env::with(Options::default(), "[block]\nmode = \"simulate\"\n");
    // It does not even need the API key.
    std::fs::remove_file(env.dir.path().join("api-key")).unwrap();
    let out = env.run_stdin(&["block"], fixture("ads-events.tsv"));
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("simulated 203.0.113.7"),
        "{}",
        out.stdout()
    );
    assert!(out.stdout().contains("simulated 5"), "{}", out.stdout());
    let out = env.run(&["block", "198.51.100.7", "--duration", "1s"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.lm.request_count(), 0, "the LoadMaster was never called");

    let rows = env.rows();
    assert_eq!(rows.len(), 6);
    for row in &rows {
        assert_eq!(row["simulated"], true, "{row}");
        assert_eq!(row["status"], "active", "{row}");
    }
    let table = env.run(&["list"]).stdout();
    assert_eq!(table.matches("(simulated)").count(), 6, "{table}");

    // Expiry and unblock are local too.
    std::fs::write(env.dir.path().join("api-key"), common::KEY).unwrap();
    std::thread::sleep(Duration::from_millis(2_100));
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.status_of("198.51.100.7"), "expired");
    assert_eq!(env.run(&["unblock", "203.0.113.8"]).code(), 0);
    assert_eq!(env.status_of("203.0.113.8"), "unblocked");
    assert_eq!(env.lm.request_count(), 0, "the LoadMaster was never called");

    // Enforcing again: a simulated block that is blocked again is sent.
    env.write_config(
        &format!(
            "ca_file = \"{}\"\n",
            env.dir.path().join("lm.pem").display()
        ),
        "",
    );
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
    let row = env.row("203.0.113.7").unwrap();
    assert_eq!(row["simulated"], false, "{row}");
    assert_eq!(row["status"], "active");
    assert_eq!(env.row("192.0.2.77").unwrap()["simulated"], true);
}
