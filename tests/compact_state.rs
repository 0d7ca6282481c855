//! A simulated run leaves a compact state (issue 25, point 7): compaction
//! follows the records a run rewrote, whatever the mode, not the
//! LoadMaster calls it made (a simulated run makes none).

use fake_loadmaster::Options;

use crate::common::Env;

/// `n` realistic ADS custom-script rows (16 tab-separated fields), each
/// from its own source address, the methods and texts ADS sends.
fn ads_rows(n: u32) -> Vec<u8> {
    const METHODS: [(&str, &str, &str, &str); 5] = [
        (
            "SSHDICT",
            "SSH attack",
            "Critical",
            "Attack from a single attacker has been detected. Current targets: 1, attempts: 8",
        ),
        (
            "SCANS",
            "Port scanning",
            "High",
            "TCP SYN scan of 1024 ports",
        ),
        (
            "RDPDICT",
            "RDP attack",
            "High",
            "RDP dictionary attack, attempts: 40",
        ),
        (
            "BLACKLIST",
            "Blacklisted host",
            "Medium",
            "Communication with a blacklisted host",
        ),
        ("DNSANOMALY", "DNS anomaly", "Low", "Unusual DNS traffic"),
    ];
    let mut out = Vec::new();
    for i in 0..n {
        let (code, name, severity, detail) = METHODS[i as usize % METHODS.len()];
        // Distinct sources spread over several /8s, in no particular order.
        let x = i.wrapping_mul(2_654_435_761) >> 8;
        let source = format!(
            "{}.{}.{}.{}",
            [11, 23, 45, 77, 91, 101, 150, 185][i as usize % 8],
            (x >> 16) & 255,
            (x >> 8) & 255,
            i & 255
        );
        out.extend(
            format!(
                "{id}\t2026-11-24 10:{m:02}:00\t \t{code}\t{name}\t \t \tSecurity Issues\t\
                 {severity}\t{detail}\t \t \t{source}\t \t198.51.100.{t}\tLAN\n",
                id = 600_000 + i,
                m = i % 60,
                t = i % 200,
            )
            .as_bytes(),
        );
    }
    out
}

#[test]
fn a_simulated_run_of_many_events_leaves_a_compact_state() {
    // Above the compaction threshold (20 000 rewritten records), and small
    // enough for a debug build; 100 000 events measured with the release
    // build leave 207 B per entry.
    let events = 25_000;
    let env = Env::with(
        Options::default(),
        "[block]\nmode = \"simulate\"\nmax_active = 200000\n",
    );
    let out = env.run_stdin(&["block"], ads_rows(events));
    assert_eq!(out.code(), 0, "{}", out.stderr());
    assert_eq!(env.lm.request_count(), 0, "simulate calls nothing");
    let rows = env.rows().len();
    assert!(rows as u32 > events * 99 / 100, "{rows} entries");
    let size = std::fs::metadata(&env.state).unwrap().len();
    let per_entry = size as f64 / rows as f64;
    eprintln!("{rows} entries, {size} bytes, {per_entry:.0} B per entry");
    assert!(per_entry <= 300.0, "{per_entry:.0} B per entry");
}
