//! Snapshots of `lmguard --help` and `lmguard <command> --help`, so that
//! every change to the help text is deliberate. After changing the clap
//! definitions on purpose, regenerate them with
//! `LMGUARD_UPDATE_SNAPSHOTS=1 cargo test --test main help::` and review the diff
//! of `tests/snapshots/`.

use std::path::PathBuf;

use assert_cmd::Command;
use clap::CommandFactory;

const UPDATE: &str = "LMGUARD_UPDATE_SNAPSHOTS";
const WIDTH: usize = 100;

/// The help of `args`, rendered as on a 100-column terminal without colour.
fn help(args: &[&str]) -> String {
    let out = Command::cargo_bin("lmguard")
        .unwrap()
        .args(args)
        .env("COLUMNS", WIDTH.to_string())
        .env("NO_COLOR", "1")
        .env_remove("LMGUARD_CONFIG")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    assert!(out.stderr.is_empty(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn subcommands() -> Vec<String> {
    lmguard::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("help-{name}.txt"))
}

/// Compare with (or, with LMGUARD_UPDATE_SNAPSHOTS set, write) a snapshot;
/// the difference as text when it does not match.
fn compare(name: &str, rendered: &str) -> Option<String> {
    let path = snapshot_path(name);
    if std::env::var_os(UPDATE).is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, rendered).unwrap();
        return None;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    if stored == rendered {
        return None;
    }
    let (old, new): (Vec<&str>, Vec<&str>) = (stored.lines().collect(), rendered.lines().collect());
    let at = old
        .iter()
        .zip(&new)
        .position(|(a, b)| a != b)
        .unwrap_or(old.len().min(new.len()));
    Some(format!(
        "{} differs from the help at line {}:\n  snapshot: {:?}\n  now:      {:?}",
        path.display(),
        at + 1,
        old.get(at).copied().unwrap_or("<end>"),
        new.get(at).copied().unwrap_or("<end>")
    ))
}

#[test]
fn help_matches_the_snapshots() {
    let mut pages = vec![("lmguard".to_string(), help(&["--help"]))];
    for sub in subcommands() {
        pages.push((sub.clone(), help(&[sub.as_str(), "--help"])));
    }
    let problems: Vec<String> = pages
        .iter()
        .filter_map(|(name, text)| compare(name, text))
        .collect();
    assert!(
        problems.is_empty(),
        "{}\n\nIf the change is deliberate: {UPDATE}=1 cargo test --test main help::",
        problems.join("\n")
    );
}

#[test]
fn every_command_has_a_one_line_summary_and_fits_the_width() {
    let top = help(&["--help"]);
    for sub in subcommands() {
        // Listed in the overview with a summary on the same line.
        let listed = top
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{sub} ")))
            .unwrap_or_else(|| panic!("{sub} is not listed:\n{top}"));
        assert!(listed.split_whitespace().count() > 2, "{listed:?}");
        let page = help(&[sub.as_str(), "--help"]);
        assert!(page.contains(&format!("Usage: lmguard {sub}")), "{page}");
        for line in page.lines().chain(top.lines()) {
            assert!(
                line.chars().count() <= WIDTH,
                "wider than {WIDTH}: {line:?}"
            );
        }
    }
}

#[test]
fn the_commands_operators_start_with_show_examples() {
    for args in [
        vec!["--help"],
        vec!["block", "--help"],
        vec!["list", "--help"],
        vec!["check", "--help"],
        vec!["completions", "--help"],
        vec!["sweep", "--help"],
    ] {
        let page = help(&args);
        assert!(page.contains("Example"), "{args:?} has no example:\n{page}");
    }
    let block = help(&["block", "--help"]);
    for value in ["[ADDRESS]...", "<DURATION>", "<ID>", "<TEXT>"] {
        assert!(
            block.contains(value),
            "block --help lacks {value}:\n{block}"
        );
    }
    assert!(help(&["completions", "--help"]).contains("<SHELL>"));
    assert!(help(&["list", "--help"]).contains("<STATUS>"));
}

#[test]
fn short_help_is_the_one_line_summaries() {
    let short = help(&["-h"]);
    assert!(short.contains("Usage: lmguard"), "{short}");
    assert!(!short.contains("Examples:"), "-h stays short:\n{short}");
}
