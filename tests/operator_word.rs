//! What lmguard shows is what it matches, and its messages say what to do
//! (issue 25): event text that could reorder a terminal's output, an empty
//! CEF severity, and the wording of outcomes and configuration errors.

use crate::common;

use common::Env;

const BIDI: [char; 9] = [
    '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}',
];

fn has_bidi(text: &str) -> bool {
    text.chars().any(|c| BIDI.contains(&c))
}

/// An ADS event (TSV) from `source` with this method and description.
fn ads_tsv(id: u32, source: &str, method: &str, description: &str) -> Vec<u8> {
    format!(
        "{id}\t2026-11-24 10:13:00\t \t{method}\t{description}\t \t \tSecurity Issues\tHigh\t\
         details\t \t \t{source}\t \t198.51.100.4\tLAN\n"
    )
    .into_bytes()
}

/// Unicode bidirectional controls in event text never reach the output of
/// block, list, unblock or stats (as ESC never does).
#[test]
fn bidirectional_controls_from_events_are_stripped_from_every_output() {
    let env = Env::new();
    let description = "Port scan \u{202e}moc.elgoog\u{202c} \u{2066}x\u{2069}";
    let out = env.run_stdin(
        &["-v", "block"],
        ads_tsv(7, "203.0.113.70", "SCANS\u{202d}", description),
    );
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(!has_bidi(&out.all()), "block: {:?}", out.all());
    for args in [
        &["list"][..],
        &["list", "--json"],
        &["stats"],
        &["stats", "--json"],
        &["stats", "--prometheus"],
        &["unblock", "--method", "SCANS", "--dry-run"],
    ] {
        let out = env.run(args);
        assert_eq!(out.code(), 0, "{args:?}: {}", out.all());
        assert!(!has_bidi(&out.all()), "{args:?}: {:?}", out.all());
        assert!(out.stdout().contains("SCANS"), "{args:?}: {}", out.stdout());
    }
    let out = env.run(&["unblock", "203.0.113.70"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(!has_bidi(&out.all()), "unblock: {:?}", out.all());
}

/// A CEF event whose severity is empty is not silently let past
/// `min_severity`: it is an unknown severity, and a warning says so.
#[test]
fn an_empty_cef_severity_is_unknown_and_warned_under_min_severity() {
    let env = Env::with(
        fake_loadmaster::Options::default(),
        "[ads]\nmin_severity = \"critical\"\n",
    );
    let line = "Nov  3 15:13:09 localhost ADS[208220]: CEF:0|Flowmon Networks|Flowmon ADS \
                Ultimate|13.00.00|SSHDICT|SSH attack||src=10.0.57.1 dst=192.168.57.2\n";
    let out = env.run_stdin(&["block", "--input", "cef"], line.as_bytes().to_vec());
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stderr().contains("no severity") && out.stderr().contains("min_severity"),
        "{}",
        out.stderr()
    );
}

/// `unblock` of an address never blocked says one thing: it has no record;
/// the summary has one count per outcome in the same words, and the exit
/// line does not call it "rejected".
#[test]
fn unblock_counts_each_outcome_once_in_the_words_of_its_lines() {
    let env = Env::new();
    let out = env.run(&["unblock", "198.51.100.123"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    assert!(
        out.stdout().contains("198.51.100.123 has no record"),
        "{}",
        out.stdout()
    );
    assert!(
        out.stdout()
            .contains("unblocked 0, left alone 0, pending 0, no record 1, rejected 0"),
        "{}",
        out.stdout()
    );
    assert!(
        out.stderr().contains("1 address(es) have no record") && !out.stderr().contains("rejected"),
        "{}",
        out.stderr()
    );

    // An entry someone else now holds: "left alone", counted as such.
    assert_eq!(env.run(&["block", "203.0.113.7", "203.0.113.8"]).code(), 0);
    env.lm.clear_lists();
    env.lm.insert_entry(
        fake_loadmaster::Scope::Global,
        "203.0.113.7",
        "SOC: do not remove",
    );
    env.lm.insert_entry(
        fake_loadmaster::Scope::Global,
        "203.0.113.8",
        "lmguard manual",
    );
    let out = env.run(&["unblock", "--reason", "manual", "--yes"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("left alone 203.0.113.7"),
        "{}",
        out.stdout()
    );
    assert!(
        out.stdout()
            .contains("unblocked 1, left alone 1, pending 0, no record 0, rejected 0"),
        "{}",
        out.stdout()
    );
    let out = env.run(&["unblock", "not-an-ip"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    assert!(
        out.stderr().contains("1 argument(s) are not addresses"),
        "{}",
        out.stderr()
    );
}
