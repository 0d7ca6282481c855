//! The syslog collector snippets in contrib/: their syntax, checked by the
//! daemons themselves where they are installed (skipped with a note where
//! not: `apt-get install rsyslog`, or `syslog-ng-core` — the two packages
//! conflict, so a machine usually has one), and the lmguard command line
//! they run, run for real against the fake LoadMaster.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fixture, Env};
use fake_loadmaster::Scope;

fn contrib(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(contrib(name)).unwrap()
}

/// The daemon's path, or `None` with a note that the check is skipped.
fn daemon(name: &str, package: &str) -> Option<PathBuf> {
    for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/usr/local/sbin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return Some(path);
        }
    }
    eprintln!(
        "note: {name} is not installed; its syntax check is skipped (apt-get install {package})"
    );
    None
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
        "$programname == \"ADS\"",
    ] {
        assert!(text.contains(needed), "the snippet lacks {needed}");
    }
    let Some(rsyslogd) = daemon("rsyslogd", "rsyslog") else {
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
    assert!(text.contains("program(\"^ADS$\")"));
    let Some(syslog_ng) = daemon("syslog-ng", "syslog-ng-core") else {
        return;
    };
    let out = Command::new(syslog_ng)
        .arg("--syntax-only")
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
