//! The syslog collector snippets in contrib/: their syntax, checked by the
//! daemons themselves (a test whose daemon is missing says so, and fails
//! in CI: see `common::tools`), and the lmguard command line they run, run
//! for real against the fake LoadMaster. (`tests/rsyslog.rs` runs the
//! rsyslog snippet under a live rsyslogd.)
//!
//! The rsyslog and syslog-ng packages conflict, so a machine usually has
//! one of them: syslog-ng is also found unpacked, not installed
//! (`dpkg -x syslog-ng-core_*.deb DIR`), in the directory that
//! `LMGUARD_TEST_SYSLOG_NG_ROOT` names; `.ci/run` does that.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fixture, tools, Env};
use fake_loadmaster::Scope;

fn contrib(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(contrib(name)).unwrap()
}

/// Where an unpacked (not installed) syslog-ng-core package is.
const SYSLOG_NG_ROOT: &str = "LMGUARD_TEST_SYSLOG_NG_ROOT";

/// `syslog-ng --syntax-only`, from the unpacked package that
/// [`SYSLOG_NG_ROOT`] names or the installed one; `None` where neither is
/// (after `tools::skip`).
fn syslog_ng_syntax_check() -> Option<Command> {
    if let Some(root) = std::env::var_os(SYSLOG_NG_ROOT) {
        let root = PathBuf::from(root);
        let lib = root.join("usr/lib/syslog-ng");
        let binary = root.join("usr/sbin/syslog-ng");
        assert!(binary.exists(), "{SYSLOG_NG_ROOT}: no {}", binary.display());
        let modules = std::fs::read_dir(&lib)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
            .expect("the module directory (usr/lib/syslog-ng/VERSION)");
        let mut cmd = Command::new(binary);
        cmd.env("LD_LIBRARY_PATH", &lib)
            .arg(format!("--module-path={}", modules.display()));
        cmd.arg("--syntax-only");
        return Some(cmd);
    }
    let binary = tools::require(
        "syslog-ng",
        "apt-get install syslog-ng-core, or unpack it and set LMGUARD_TEST_SYSLOG_NG_ROOT",
    )?;
    let mut cmd = Command::new(binary);
    cmd.arg("--syntax-only");
    Some(cmd)
}

/// The words of the lmguard command a snippet runs, after `--config PATH`.
fn lmguard_args(snippet: &str) -> Vec<String> {
    let line = snippet
        .lines()
        .find(|l| l.contains("/usr/local/bin/lmguard --config") && !l.trim_start().starts_with('#'))
        .expect("a line that runs lmguard");
    let command = line.split('"').nth(1).expect("the command in quotes");
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[..2], ["/usr/local/bin/lmguard", "--config"]);
    words[3..].iter().map(|w| w.to_string()).collect()
}

#[test]
fn the_rsyslog_snippet_is_valid_rsyslog() {
    let text = read("lmguard-rsyslog.conf");
    for needed in [
        "type=\"omprog\"",
        "confirmMessages=\"on\"",
        "reportFailures=\"on\"",
        // Only the ADS appliance's address and program, on one address of
        // this host, retried until recorded.
        "if $fromhost-ip == \"192.0.2.50\" and $programname == \"ADS\" then",
        "input(type=\"imtcp\" address=\"192.0.2.10\" port=\"514\" ruleset=\"lmguard-ads\")",
        "action.resumeRetryCount=\"-1\"",
        // How to use TLS.
        "StreamDriver.AuthMode=\"x509/name\"",
    ] {
        assert!(text.contains(needed), "the snippet lacks {needed}");
    }
    // Nothing listens on every interface, and no UDP (forged senders).
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        if line.contains("input(") {
            assert!(line.contains("address="), "{line}");
        }
        assert!(!line.contains("imudp"), "{line}");
    }
    let Some(rsyslogd) = tools::require("rsyslogd", "apt-get install rsyslog") else {
        return;
    };
    let out = Command::new(rsyslogd)
        .arg("-N1")
        .arg("-f")
        .arg(contrib("lmguard-rsyslog.conf"))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "rsyslogd -N1: {said}");
    assert!(!said.contains("error"), "rsyslogd -N1: {said}");
}

#[test]
fn the_syslog_ng_snippet_is_valid_syslog_ng() {
    let text = read("lmguard-syslog-ng.conf");
    for needed in [
        "filter f_ads { netmask(\"192.0.2.50/32\") and program(\"^ADS$\"); };",
        "network(transport(\"tcp\") ip(\"192.0.2.10\") port(514));",
        "peer-verify(required-trusted)",
    ] {
        assert!(text.contains(needed), "the snippet lacks {needed}");
    }
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        if line.contains("network(") {
            assert!(line.contains("ip(") && !line.contains("udp"), "{line}");
        }
    }
    let Some(mut syntax_only) = syslog_ng_syntax_check() else {
        return;
    };
    let out = syntax_only
        .arg("--cfgfile")
        .arg(contrib("lmguard-syslog-ng.conf"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "syslog-ng --syntax-only: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_rsyslog_command_speaks_the_confirm_protocol() {
    let args = lmguard_args(&read("lmguard-rsyslog.conf"));
    assert_eq!(args, ["block", "--input", "cef", "--confirm"]);
    let env = Env::new();
    // What rsyslog's "%msg%\n" template hands over: the message after the
    // tag, with its leading space.
    let text = String::from_utf8(fixture("ads-events.cef")).unwrap();
    let input: String = text
        .lines()
        .take(2)
        .map(|l| format!(" {}\n", &l[l.find("CEF:").unwrap()..]))
        .collect();
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.run_stdin(&arg_refs, input.into_bytes());
    assert_eq!(out.code(), 0, "{}", out.stderr());
    assert_eq!(out.stdout(), "OK\nOK\nOK\n", "ready, then one per line");
    assert_eq!(env.on_lm_sorted(Scope::Global), ["10.0.21.1", "10.0.57.1"]);
}

#[test]
fn the_syslog_ng_command_blocks_cef() {
    let args = lmguard_args(&read("lmguard-syslog-ng.conf"));
    assert_eq!(args, ["block", "--input", "cef"]);
    let env = Env::new();
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.run_stdin(&arg_refs, fixture("ads-events.cef"));
    assert_eq!(out.code(), 0, "{}", out.stderr());
    assert_eq!(env.on_lm(Scope::Global).len(), 7);
}

/// Issue 25: `systemd-analyze security` rated the shipped units 8.6 and 8.1
/// ("EXPOSED") despite their "Hardening" comments. Every shipped service
/// rates 4.9 or below.
#[test]
fn every_shipped_unit_is_rated_at_most_4_9_by_systemd_analyze_security() {
    let units: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "service"))
            .collect();
    assert!(units.len() >= 2, "{units:?}");
    let Some(analyze) = tools::require("systemd-analyze", "apt-get install systemd") else {
        return;
    };
    for unit in &units {
        let out = Command::new(&analyze)
            .args(["security", "--offline=true", "--no-pager"])
            .arg(unit)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let score: f64 = said
            .lines()
            .find_map(|l| {
                l.split_once("Overall exposure level for ")?
                    .1
                    .split_once(": ")
            })
            .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no overall exposure level for {}: {said}", unit.display()));
        assert!(
            score <= 4.9,
            "{} is rated {score} (at most 4.9):\n{said}",
            unit.display()
        );
    }
}
