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
