//! The demo (`cargo run --example demo`) shows the whole lifecycle without
//! a warning: it runs here with the debug binary, step by step.

#[allow(dead_code)]
#[path = "../examples/demo.rs"]
mod demo_script;

use std::path::PathBuf;

#[test]
fn the_demo_shows_the_lifecycle_without_warnings() {
    let steps = demo_script::run_demo(&PathBuf::from(env!("CARGO_BIN_EXE_lmguard")), false);
    for s in &steps {
        assert_eq!(
            s.code, s.expected,
            "`{}`:\n{}{}",
            s.shown, s.stdout, s.stderr
        );
        assert!(
            !s.stderr.contains("warn"),
            "`{}` warned:\n{}",
            s.shown,
            s.stderr
        );
    }
    let step = |prefix: &str| {
        steps
            .iter()
            .find(|s| s.shown.starts_with(prefix))
            .unwrap_or_else(|| panic!("no step {prefix}"))
    };
    // The bad line is reported by number; the five good events are blocked.
    let ads = step("lmguard block < events.tsv");
    assert!(ads.stderr.contains("line 6"), "{}", ads.stderr);
    assert!(ads.stdout.contains("blocked 5"), "{}", ads.stdout);
    // Quoted arguments are shown quoted.
    assert!(steps.iter().any(|s| s.shown
        == "lmguard block 198.51.100.0/24 --duration 2h --reason 'manual: brute force from this range'"));
    // The false positive is lifted.
    assert!(step("lmguard unblock 192.0.2.77")
        .stdout
        .contains("unblocked 192.0.2.77"));
    // An expiry happens, and the pending block is applied.
    let sweep = step("lmguard sweep");
    assert!(
        sweep.stdout.contains("expired 1 of 1 due"),
        "{}",
        sweep.stdout
    );
    assert!(
        sweep.stdout.contains("retried: 1 block(s)"),
        "{}",
        sweep.stdout
    );
    let all = step("lmguard list --all");
    assert!(
        all.stdout
            .lines()
            .any(|l| l.starts_with("203.0.113.50") && l.contains("expired")),
        "{}",
        all.stdout
    );

    // Two sites: the first event reaches both LoadMasters.
    let two = |rest: &str| {
        step(&format!(
            "lmguard --config {} {rest}",
            demo_script::TWO_SITES
        ))
    };
    let both = two("block < event-1.tsv");
    for name in ["prague", "brno"] {
        assert!(
            both.stdout
                .contains(&format!("203.0.113.120 (global on {name})")),
            "{}",
            both.stdout
        );
    }
    // With brno stopped, prague is served and the run names brno.
    let down = two("block < event-2.tsv");
    assert!(
        down.stdout.contains("203.0.113.121 (global on prague)"),
        "{}",
        down.stdout
    );
    assert!(
        down.stderr.contains("LoadMaster \"brno\""),
        "{}",
        down.stderr
    );
    assert!(!down.stderr.contains("prague"), "{}", down.stderr);
    // Back on the same port, brno is caught up by sweep, and only brno.
    let sweep = two("sweep");
    assert!(
        sweep
            .stdout
            .contains("retried: 1 (prague 0, brno 1) block(s)"),
        "{}",
        sweep.stdout
    );
    // The table shows which LoadMaster each row is about.
    let list = two("list");
    assert!(list.stdout.contains("LOADMASTER"), "{}", list.stdout);
    for address in ["203.0.113.120", "203.0.113.121"] {
        for name in ["prague", "brno"] {
            assert!(
                list.stdout
                    .lines()
                    .any(|l| l.starts_with(address) && l.contains(name) && l.contains("active")),
                "{address} on {name}:\n{}",
                list.stdout
            );
        }
    }
}

#[test]
fn the_demo_builds_the_binary_so_that_a_second_run_rebuilds_nothing() {
    let build = demo_script::build_command();
    let args: Vec<String> = build
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // Features resolved as for the example itself.
    assert!(
        args.windows(2).any(|w| w == ["--example", "demo"]),
        "{args:?}"
    );
    assert!(
        args.windows(2).any(|w| w == ["--bin", "lmguard"]),
        "{args:?}"
    );
    // What `cargo run` (and `cargo test`) set, and ring's build script
    // watches, is not passed on.
    let removed: Vec<String> = build
        .get_envs()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    for name in [
        "CARGO_MANIFEST_DIR",
        "CARGO_PKG_NAME",
        "CARGO_PKG_VERSION_MAJOR",
    ] {
        assert!(std::env::var_os(name).is_some(), "cargo test sets {name}");
        assert!(removed.iter().any(|r| r == name), "{name} is passed on");
    }
}

#[test]
fn shell_quoting_is_what_a_shell_needs() {
    assert_eq!(
        demo_script::shell_quote("198.51.100.0/24"),
        "198.51.100.0/24"
    );
    assert_eq!(demo_script::shell_quote("a b"), "'a b'");
    assert_eq!(demo_script::shell_quote("it's"), r"'it'\''s'");
    assert_eq!(demo_script::shell_quote(""), "''");
}
