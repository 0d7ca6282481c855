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

/// The configuration with `from` replaced by `to` (which must be there).
fn edit_config(env: &Env, from: &str, to: &str) {
    let text = std::fs::read_to_string(&env.config).unwrap();
    assert!(text.contains(from), "{from:?} in {text}");
    std::fs::write(&env.config, text.replacen(from, to, 1)).unwrap();
}

/// Configuration errors say what to write, name the key and its line, and
/// never show an API key, whether pasted into another key or carried in a
/// URL's query string.
#[test]
fn configuration_errors_are_in_an_operators_words_and_never_show_a_secret() {
    let env = Env::with(
        fake_loadmaster::Options::default(),
        "[block]\nmax_active = \"lots\"\n",
    );
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    let err = out.stderr();
    assert!(
        err.contains("block.max_active") && err.contains("whole number") && !err.contains("usize"),
        "{err}"
    );

    let env = Env::new();
    edit_config(&env, "timeout = \"2s\"", "timeout = 10");
    let err = env.run(&["list"]).stderr();
    assert!(err.contains("timeout = \"10s\""), "{err}");

    // A URL error names the key and the line (line 2: [loadmaster] is 1).
    let env = Env::new();
    let url = env.lm.url();
    edit_config(&env, &url, "http://lm.example:8443");
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    let err = out.stderr();
    assert!(
        err.contains("line 2, loadmaster.url") && err.contains("https://"),
        "{err}"
    );

    // A token in the URL's query string is not echoed.
    let env = Env::new();
    let url = env.lm.url();
    edit_config(&env, &url, &format!("{url}/?apikey=tok3n-s3cr3t"));
    let err = env.run(&["list"]).stderr();
    assert!(err.contains("loadmaster.url"), "{err}");
    assert!(!err.contains("tok3n"), "{err}");

    // The API key pasted into another key is not echoed.
    let env = Env::new();
    edit_config(
        &env,
        "timeout = \"2s\"",
        &format!("timeout = \"{}\"", common::KEY),
    );
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    assert!(
        out.stderr().contains("loadmaster.timeout"),
        "{}",
        out.stderr()
    );
    assert!(!out.all().contains(common::KEY), "{}", out.all());
}

/// A configuration file owned by another user names that user, not a
/// number. Only root can hand a file to another user.
#[test]
fn another_users_configuration_names_its_owner() {
    if std::fs::metadata("/proc/self").map_or(true, |m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() != 0
    }) {
        crate::common::tools::skip("needs root to chown");
        return;
    }
    let env = Env::new();
    std::os::unix::fs::chown(&env.config, Some(65_534), None).unwrap();
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let err = out.stderr();
    assert!(
        err.contains("owned by user nobody") && err.contains("(root)"),
        "{err}"
    );
    assert_eq!(err.matches("owned by").count(), 1, "said once: {err}");
}

/// Two `[[loadmaster]]` tables for one appliance (the same URL, the
/// default port written or not) are a mistake `check` points out.
#[test]
fn check_warns_when_two_loadmaster_tables_have_the_same_url() {
    let env = Env::several(2);
    let out = env.run(&["check"]);
    assert!(!out.stdout().contains("same URL"), "{}", out.stdout());
    let a = env.fake("a").url();
    let b = env.fake("b").url();
    edit_config(
        &env,
        &b,
        &format!("{}/", a.to_uppercase().replace("HTTPS", "https")),
    );
    let out = env.run(&["check"]);
    let text = out.stdout();
    assert!(
        text.contains("[[loadmaster]] tables \"a\" and \"b\" have the same URL"),
        "{text}"
    );
}

/// A `--reason` (typed by hand, or an ADS parameter `--reason '…'`) is
/// text a person reads back in every output: its bidirectional controls
/// and ESC are dropped as those of event text are — in block's own lines
/// (new and extended), and in what list --json shows.
#[test]
fn bidirectional_controls_and_esc_in_a_reason_never_reach_the_output() {
    let env = Env::new();
    let reason = "ticket \u{202e}moc.elgoog\u{202c} \u{1b}[31mred";
    for round in ["blocked", "extended"] {
        let out = env.run(&["block", "--reason", reason, "203.0.113.71"]);
        assert_eq!(out.code(), 0, "{}", out.all());
        assert!(out.stdout().contains(round), "{}", out.stdout());
        assert!(
            !has_bidi(&out.all()) && !out.all().contains('\u{1b}'),
            "block, {round}: {:?}",
            out.all()
        );
    }
    let out = env.run(&["list", "--json"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        !has_bidi(&out.stdout()) && !out.stdout().contains("\\u001b"),
        "list --json: {}",
        out.stdout()
    );
    assert!(out.stdout().contains("moc.elgoog"), "{}", out.stdout());
}
