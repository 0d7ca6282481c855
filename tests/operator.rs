//! The operator's first hour (issue 11): quiet cron runs, ADS parameters,
//! `check` proving writability, unblock naming the scope, list filters and
//! times, sync exit codes, messages and the contrib files.

use crate::common;

use std::time::Duration;

use common::nobody::as_nobody;
use common::{fixture, Env};
use fake_loadmaster::{Fault, Scope};

#[test]
fn sweep_quiet_prints_nothing_when_all_is_well() {
    let env = Env::new();
    assert_eq!(
        env.run(&["block", "203.0.113.7", "--duration", "1s"])
            .code(),
        0
    );
    std::thread::sleep(Duration::from_millis(2100));
    for args in [&["sweep", "--quiet"][..], &["-q", "sweep"][..]] {
        let out = env.run(args);
        assert_eq!(out.code(), 0, "{args:?}: {}", out.all());
        assert_eq!(out.all(), "", "{args:?} printed something");
    }
    assert_eq!(env.status_of("203.0.113.7"), "expired");
    assert!(env.on_lm(Scope::Global).is_empty());

    // A failure still prints its one line on standard error.
    assert_eq!(env.run(&["block", "203.0.113.9"]).code(), 0);
    env.lm.set_fault(Fault::Down);
    assert_eq!(env.run(&["unblock", "203.0.113.9"]).code(), 3);
    let out = env.run(&["sweep", "--quiet"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(out.stdout(), "");
    assert_eq!(out.stderr().lines().count(), 1, "{}", out.stderr());
}

#[test]
fn quiet_block_and_unblock_print_only_what_failed() {
    let env = Env::new();
    // All well: nothing at all, on either stream.
    let out = env.run(&["-q", "block", "203.0.113.21"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(out.all(), "", "quiet block printed something");
    let out = env.run_stdin(&["-q", "block"], one_event());
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(out.all(), "", "quiet block of an event printed something");
    let out = env.run(&["-q", "unblock", "203.0.113.21"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(out.all(), "", "quiet unblock printed something");
    assert!(!env
        .on_lm(Scope::Global)
        .contains(&"203.0.113.21".to_string()));

    // A LoadMaster that is down: standard output stays empty, standard
    // error names the address that is pending and says what to do.
    env.lm.set_fault(Fault::Down);
    let out = env.run(&["-q", "block", "203.0.113.22"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(out.stdout(), "");
    assert!(
        out.stderr().contains("pending   203.0.113.22"),
        "{}",
        out.stderr()
    );
    let out = env.run(&["-q", "unblock", "203.0.113.7"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(out.stdout(), "");
    assert!(
        out.stderr().contains("pending   203.0.113.7"),
        "{}",
        out.stderr()
    );
}

/// One ADS event (the first line of the TSV fixture: source 203.0.113.7).
fn one_event() -> Vec<u8> {
    let all = fixture("ads-events.tsv");
    let end = all.iter().position(|&b| b == b'\n').unwrap() + 1;
    all[..end].to_vec()
}

#[test]
fn ads_pairs_without_dashes_never_lose_the_event() {
    let env = Env::new();
    let out = env.run_stdin(&["block", "vs", "3", "severity", "high"], one_event());
    assert_eq!(out.code(), 0, "{}", out.all());
    let err = out.stderr();
    assert!(err.contains("vs '3'") && err.contains("--vs"), "{err}");
    assert!(err.contains("severity 'high'"), "{err}");
    // The pair named vs is not the option: the event is blocked globally.
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
    assert_eq!(env.row("203.0.113.7").unwrap()["event_id"], "532028");
}

#[test]
fn ads_pairs_with_an_empty_value_never_lose_the_event() {
    let env = Env::new();
    let out = env.run_stdin(&["block", "--vs", "", "--duration", "36h"], one_event());
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stderr().contains("--vs ''"), "{}", out.stderr());
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
    // An address typed by hand is still an address, a typo still exit 4.
    let out = env.run(&["block", "--reason", "", "192.0.2.300"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    assert!(out.stderr().contains("192.0.2.300"), "{}", out.stderr());
}

/// The README's row for one exit code.
fn readme_exit_row(code: u8) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    readme
        .lines()
        .find(|l| l.starts_with(&format!("| {code} |")))
        .unwrap_or_else(|| panic!("README has no row for exit {code}"))
        .to_string()
}

#[test]
fn messages_say_what_is_wrong_and_what_is_accepted() {
    let env = Env::new();
    let out = env.run(&["block", "192.0.2.010"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    assert!(
        out.stderr().contains("leading zeros are not accepted")
            && out.stderr().contains("192.0.2.10"),
        "{}",
        out.stderr()
    );
    let out = env.run(&["block", "--duration", "36", "192.0.2.10"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    assert!(
        out.stderr().contains("the units are s, m, h, d and w"),
        "{}",
        out.stderr()
    );

    env.write_config("apikey_file = \"/k\"\n", "");
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    assert!(out.stderr().contains("apikey_file"), "{}", out.stderr());
    assert!(out.stderr().contains("`api_key_file`"), "{}", out.stderr());
    assert!(!out.stderr().contains("`api_key`"), "{}", out.stderr());
}

#[test]
fn a_refused_api_key_exits_as_the_readme_says() {
    let env = Env::new();
    env.lm.set_api_key("another-key");
    let row = readme_exit_row(3);
    assert!(row.contains("401"), "README exit 3 row: {row}");
    for args in [
        &["block", "203.0.113.7"][..],
        &["check"][..],
        &["sweep"][..],
    ] {
        let out = env.run(args);
        assert_eq!(out.code(), 3, "{args:?}: {}", out.all());
    }
}

#[test]
fn unblock_names_the_scopes_where_the_address_is_blocked() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "--vs", "3", "192.0.2.7"]).code(), 0);
    assert_eq!(env.run(&["block", "--vs", "1", "192.0.2.7"]).code(), 0);
    for args in [
        &["unblock", "192.0.2.7"][..],
        &["unblock", "--dry-run", "192.0.2.7"][..],
    ] {
        let out = env.run(args);
        assert_eq!(out.code(), 4, "{}", out.all());
        let said = out.stdout();
        assert!(
            said.contains("it is blocked on VS 1: lmguard unblock --vs 1 192.0.2.7; VS 3: lmguard unblock --vs 3 192.0.2.7"),
            "{said}"
        );
    }
    assert_eq!(env.on_lm(Scope::Vs(3)), ["192.0.2.7"]);
    // The command it names works.
    assert_eq!(env.run(&["unblock", "--vs", "3", "192.0.2.7"]).code(), 0);
    assert!(env.on_lm(Scope::Vs(3)).is_empty());
    // A scope where it is no longer blocked is not offered.
    let out = env.run(&["unblock", "--vs", "2", "192.0.2.7"]);
    assert!(!out.stdout().contains("VS 3"), "{}", out.stdout());
    assert!(
        out.stdout().contains("VS 1: lmguard unblock --vs 1"),
        "{}",
        out.stdout()
    );
    // Unknown everywhere: the plain note.
    let out = env.run(&["unblock", "192.0.2.99"]);
    assert!(!out.stdout().contains("blocked on"), "{}", out.stdout());
}

#[test]
fn completions_offer_the_status_values() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Env::new().run(&["completions", shell]);
        assert_eq!(out.code(), 0);
        let script = out.stdout();
        for value in ["pending_block", "pending_unblock"] {
            assert!(script.contains(value), "{shell}: {value} not offered");
        }
        if shell == "bash" {
            assert!(
                script.contains(
                    "compgen -W \"active pending pending_block pending_unblock expired unblocked rejected\""
                ),
                "{script}"
            );
        }
    }
}

#[test]
fn status_pending_means_both_kinds_and_empty_filters_say_no_match() {
    let env = Env::new();
    let out = env.run(&["block", "203.0.113.21", "203.0.113.22"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    env.lm.set_fault(Fault::Down);
    assert_eq!(env.run(&["block", "203.0.113.23"]).code(), 3);
    assert_eq!(env.run(&["unblock", "203.0.113.22"]).code(), 3);
    let rows = |args: &[&str]| {
        let out = env.run(args);
        assert_eq!(out.code(), 0, "{}", out.all());
        let rows: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
        let mut statuses: Vec<String> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r["address"].as_str().unwrap(),
                    r["status"].as_str().unwrap()
                )
            })
            .collect();
        statuses.sort();
        statuses
    };
    assert_eq!(
        rows(&["list", "--json", "--status", "pending"]),
        ["203.0.113.22 pending_unblock", "203.0.113.23 pending_block"]
    );
    let out = env.run(&["list", "--status", "pending"]);
    assert!(
        out.stdout()
            .ends_with("0 active, 2 pending, 0 expiring within 24 h\n"),
        "{}",
        out.stdout()
    );

    let out = env.run(&["list", "--vs", "7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(
        out.stdout(),
        "no blocks match the filters (3 without them)\n"
    );
    let out = env.run(&["list", "--status", "expired"]);
    assert!(
        out.stdout().starts_with("no blocks match"),
        "{}",
        out.stdout()
    );
    let out = env.run(&["list", "--status", "bogus"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    assert!(out.stderr().contains("pending_unblock"), "{}", out.stderr());
}

/// `lmguard ARGS` on a pseudo-terminal 80 columns wide (util-linux
/// `script`); None when `script` is not available.
fn on_a_terminal(env: &Env, args: &str) -> Option<String> {
    let bin = assert_cmd::cargo::cargo_bin("lmguard");
    let line = format!(
        "stty cols 80 rows 50; {} --config {} {args}",
        bin.display(),
        env.config.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "dumb")
        .env_remove("LMGUARD_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"))
}

#[test]
fn list_times_say_utc_and_only_a_terminal_cuts_the_reason() {
    let env = Env::new();
    let reason =
        "adopted: LoadMaster comment 'ADS ID 532028 - SSHDICT from the old lm-block.py script'";
    assert_eq!(
        env.run(&["block", "192.0.2.1", "--reason", reason]).code(),
        0
    );
    let out = env.run(&["list"]);
    let text = out.stdout();
    assert!(
        text.lines().next().unwrap().contains("BLOCKED UTC"),
        "{text}"
    );
    assert!(text.contains(reason), "cut off a terminal:\n{text}");

    let Some(shown) = on_a_terminal(&env, "list") else {
        common::tools::skip("the terminal half: util-linux `script` is not available");
        return;
    };
    assert!(shown.contains("BLOCKED UTC"), "{shown}");
    assert!(
        shown.contains('…'),
        "not cut on an 80-column terminal:\n{shown}"
    );
    for line in shown.lines() {
        assert!(
            line.chars().count() <= 80,
            "too wide for the terminal: {line:?}"
        );
    }
}

#[test]
fn sync_exit_6_means_apply_would_change_something() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.1"]).code(), 0);
    env.lm.clear_lists();
    env.lm
        .insert_entry(Scope::Global, "203.0.113.3", "lmguard ADS 77 SCANS");
    env.lm
        .insert_entry(Scope::Global, "203.0.113.4", "ADS ID 123 - SCANS");

    // Something to repair: exit 6 and the hint, for sync and sync --dry-run
    // alike (--dry-run only reports, even with --apply).
    for args in [
        &["sync"][..],
        &["sync", "--dry-run"][..],
        &["sync", "--apply", "--dry-run"][..],
    ] {
        env.lm.clear_requests();
        let out = env.run(args);
        assert_eq!(out.code(), 6, "{args:?}: {}", out.all());
        assert!(
            out.stderr().contains("sync --apply` repairs"),
            "{}",
            out.stderr()
        );
        assert!(
            out.stdout().contains("re-add (--apply)"),
            "{}",
            out.stdout()
        );
        assert!(env.lm.requests().iter().all(|r| r.param("list").is_some()));
    }
    assert_eq!(env.on_lm(Scope::Global).len(), 2, "nothing changed");

    let out = env.run(&["sync", "--apply"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(!out.stderr().contains("--apply"), "{}", out.stderr());

    // Only an orphan and a foreign entry remain: sync and sync --dry-run
    // exit 6 for the orphan (it would never expire) and name --adopt, not
    // --apply; sync --apply has nothing to repair.
    for (args, code) in [
        (&["sync"][..], 6),
        (&["sync", "--dry-run"][..], 6),
        (&["sync", "--apply"][..], 0),
    ] {
        let out = env.run(args);
        assert_eq!(out.code(), code, "{args:?}: {}", out.all());
        assert!(
            !out.stderr().contains("--apply"),
            "{args:?}: {}",
            out.stderr()
        );
        let text = out.stdout();
        assert!(text.contains("orphaned 1, foreign 1"), "{text}");
        assert!(
            text.contains("no differences except orphaned entries"),
            "{text}"
        );
    }
    // The migration guide's last step: adopt, then sync agrees.
    assert_eq!(env.run(&["sync", "--adopt"]).code(), 0);
    let out = env.run(&["sync"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stdout().contains("agree"), "{}", out.stdout());
}

/// The line of one `check` (`✔ NAME: …`) and the line after it.
fn check_line(out: &common::Out, name: &str) -> (String, String) {
    let text = out.stdout();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| {
            l.get(4..)
                .is_some_and(|rest| rest.starts_with(&format!("{name}:")))
        })
        .unwrap_or_else(|| panic!("no {name} line:\n{}", out.all()));
    (
        lines[at].to_string(),
        lines.get(at + 1).copied().unwrap_or("").to_string(),
    )
}

fn point_state_at(env: &Env, state: &std::path::Path) {
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        &env.state.display().to_string(),
        &state.display().to_string(),
    );
    std::fs::write(&env.config, text).unwrap();
}

#[test]
fn check_fails_a_state_location_that_cannot_be_created_even_as_root() {
    let env = Env::new();
    std::fs::write(env.dir.path().join("not-a-dir"), "x").unwrap();
    point_state_at(&env, &env.dir.path().join("not-a-dir/lmguard/state.redb"));
    let out = env.run(&["check"]);
    assert_eq!(out.code(), 5, "{}", out.all());
    let (line, fix) = check_line(&out, "state database");
    assert!(
        line.starts_with('✘') && line.contains("not a directory"),
        "{line}"
    );
    assert!(fix.contains("fix: "), "{fix}");
    // block agrees: exit 5, nothing sent.
    env.lm.clear_requests();
    assert_eq!(env.run(&["block", "203.0.113.1"]).code(), 5);
    assert_eq!(env.lm.request_count(), 0);
}

#[test]
fn check_as_another_user_proves_it_can_write_the_state() {
    let env = Env::new();
    // The state directory exists but belongs to root (mode 0755).
    std::fs::create_dir(env.dir.path().join("state")).unwrap();
    let Some(out) = as_nobody(&env, &["check"]) else {
        common::tools::skip("cannot run as nobody here (setpriv missing or not root)");
        return;
    };
    assert_eq!(out.code(), 5, "{}", out.all());
    let (line, fix) = check_line(&out, "state database");
    assert!(line.starts_with('✘') && line.contains("nobody"), "{line}");
    let dir = env.dir.path().join("state");
    assert!(
        fix.contains(&format!("sudo chown nobody: {}", dir.display())),
        "{fix}"
    );
    // What check said is what block finds.
    let out = as_nobody(&env, &["block", "--dry-run", "203.0.113.1"]).unwrap();
    assert_eq!(out.code(), 0, "a dry run writes nothing: {}", out.all());
    let out = as_nobody(&env, &["block", "203.0.113.1"]).unwrap();
    assert_eq!(out.code(), 5, "{}", out.all());
    // After the printed fix, check passes the state line.
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    let out = as_nobody(&env, &["check"]).unwrap();
    let (line, _) = check_line(&out, "state database");
    assert!(
        line.starts_with('✔') && line.contains("this user (nobody)"),
        "{line}"
    );
}

#[test]
fn a_state_file_of_another_user_gets_the_chown_never_move_it_aside() {
    let env = Env::new();
    // An operator ran a block with sudo: the files belong to root.
    assert_eq!(env.run(&["block", "203.0.113.1"]).code(), 0);
    let dir = env.dir.path().join("state");
    let Some(_) = as_nobody(&env, &["list"]) else {
        common::tools::skip("cannot run as nobody here (setpriv missing or not root)");
        return;
    };
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    let out = as_nobody(&env, &["check"]).unwrap();
    assert_eq!(out.code(), 5, "{}", out.all());
    let (line, fix) = check_line(&out, "state database");
    assert!(
        line.starts_with('✘') && line.contains("belong to root"),
        "{line}"
    );
    let state = dir.join("state.redb");
    let lock = dir.join("state.redb.lock");
    let wait = dir.join("state.redb.wait");
    assert!(
        fix.contains(&format!(
            "sudo chown nobody: {} {} {}",
            state.display(),
            lock.display(),
            wait.display()
        )),
        "{fix}"
    );
    assert!(!out.stdout().contains("move it aside"), "{}", out.stdout());
    // Running the printed chown (every file it names: the rate budget's
    // too) keeps every record and makes it work.
    let named = fix.split("sudo chown nobody: ").nth(1).unwrap();
    for f in named.split_whitespace() {
        std::os::unix::fs::chown(f, Some(65534), Some(65534)).unwrap();
    }
    let out = as_nobody(&env, &["check"]).unwrap();
    let (line, _) = check_line(&out, "state database");
    assert!(line.starts_with('✔') && line.contains("1 entry"), "{line}");
    let out = as_nobody(&env, &["block", "203.0.113.2"]).unwrap();
    assert_eq!(out.code(), 0, "{}", out.all());
}

/// The state written so far made the state of the user that runs lmguard
/// (nobody here) as an install from before the wait file has it: the
/// directory, database and lock are nobody's, there is no wait file.
/// Returns the lock and wait file paths; `None` (skipped) where the suite
/// cannot run lmguard as nobody.
fn nobodys_state_from_before_the_wait_file(
    env: &Env,
) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let dir = env.dir.path().join("state");
    if as_nobody(env, &["list"]).is_none() {
        common::tools::skip("cannot run as nobody here (setpriv missing or not root)");
        return None;
    }
    let state = dir.join("state.redb");
    let lock = dir.join("state.redb.lock");
    let wait = dir.join("state.redb.wait");
    std::fs::remove_file(&wait).unwrap();
    for f in [&dir, &state, &lock] {
        std::os::unix::fs::chown(f, Some(65534), Some(65534)).unwrap();
    }
    // And whatever else lmguard keeps beside the state (the rate budget).
    for f in std::fs::read_dir(&dir).unwrap() {
        std::os::unix::fs::chown(f.unwrap().path(), Some(65534), Some(65534)).unwrap();
    }
    Some((lock, wait))
}

/// A `list` that waits for the state's lock (a block holds it) asks for
/// it on `<state>.wait`, but may not create that file: a read-only command
/// run by root (or any other user) beside the user that runs lmguard would
/// leave a file of its own there, which that user may not open — its
/// `check` then fails and its blocks can no longer be asked to let go.
#[test]
fn a_list_that_waits_leaves_no_file_of_its_user_beside_the_state() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.1"]).code(), 0);
    let Some((lock, wait)) = nobodys_state_from_before_the_wait_file(&env) else {
        return;
    };
    // Another lmguard process holds the lock while root lists.
    let held = std::fs::File::open(&lock).unwrap();
    held.lock().unwrap();
    let list = env.spawn(&["list"]);
    std::thread::sleep(Duration::from_millis(300));
    held.unlock().unwrap();
    let out = common::Out(list.wait_with_output().unwrap());
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stdout().contains("203.0.113.1"), "{}", out.stdout());
    assert!(!wait.exists(), "the reader created {}", wait.display());

    let out = as_nobody(&env, &["check"]).unwrap();
    let (line, fix) = check_line(&out, "state database");
    assert!(line.starts_with('✔'), "{line}\n{fix}");
    // Its next block creates the wait file, its own.
    let out = as_nobody(&env, &["block", "203.0.113.2"]).unwrap();
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&wait).unwrap()),
        65534
    );
}

/// The wait file appears with the first run after an upgrade. Made by a
/// run as root (an operator's `sudo lmguard unblock`) beside a state that
/// belongs to the user that runs lmguard, it is that user's, as the lock
/// and the database are: otherwise its `check` fails and its blocks can no
/// longer be asked to let go of the state.
#[test]
fn a_wait_file_made_by_root_belongs_to_the_owner_of_the_state() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.1", "203.0.113.2"]).code(), 0);
    let Some((_, wait)) = nobodys_state_from_before_the_wait_file(&env) else {
        return;
    };
    let out = env.run(&["unblock", "203.0.113.1"]);
    assert_eq!(out.code(), 0, "{}", out.all());

    let made = std::fs::metadata(&wait).expect("the unblock made the wait file");
    use std::os::unix::fs::MetadataExt;
    assert_eq!((made.uid(), made.gid()), (65534, 65534));
    let out = as_nobody(&env, &["check"]).unwrap();
    let (line, fix) = check_line(&out, "state database");
    assert!(line.starts_with('✔'), "{line}\n{fix}");
    let out = as_nobody(&env, &["block", "203.0.113.3"]).unwrap();
    assert_eq!(out.code(), 0, "{}", out.all());
}

fn repo_file(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

#[test]
fn the_documented_crontab_install_is_idempotent() {
    let readme = repo_file("README.md");
    let install = readme
        .lines()
        .find(|l| l.starts_with("(sudo crontab -u flowmon -l"))
        .expect("the README's crontab install line");
    let dir = tempfile::tempdir().unwrap();
    let crontab = dir.path().join("crontab");
    std::fs::write(
        &crontab,
        "MAILTO=ops@example.com\n0 3 * * * /usr/local/bin/backup\n",
    )
    .unwrap();
    // sudo and crontab stand-ins: `crontab -u USER -l` prints the file,
    // `crontab -u USER -` replaces it.
    let script = format!(
        "sudo() {{ \"$@\"; }}\n\
         crontab() {{ if [ \"$3\" = -l ]; then cat \"$CRONTAB\"; else cat > \"$CRONTAB.new\" && mv \"$CRONTAB.new\" \"$CRONTAB\"; fi; }}\n\
         {install}\n"
    );
    for _ in 0..3 {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env("CRONTAB", &crontab)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let installed = std::fs::read_to_string(&crontab).unwrap();
    let sweeps = installed
        .lines()
        .filter(|l| l.contains("sweep --quiet") && !l.starts_with('#'));
    assert_eq!(sweeps.count(), 1, "{installed}");
    assert!(
        installed.starts_with("MAILTO=ops@example.com\n0 3 * * * /usr/local/bin/backup\n"),
        "{installed}"
    );
    let begins = installed
        .lines()
        .filter(|l| l.starts_with("# BEGIN lmguard"));
    assert_eq!(begins.count(), 1, "{installed}");
}

#[test]
fn the_systemd_service_can_write_the_documented_state_path() {
    let service = repo_file("contrib/lmguard-sweep.service");
    let state_dir = service
        .lines()
        .find_map(|l| l.strip_prefix("StateDirectory="))
        .expect("the service names its StateDirectory=");
    let writable = std::path::Path::new("/var/lib").join(state_dir.trim());
    assert!(service.contains("ProtectSystem=strict"));
    // The example configuration and the README's minimum one put the state
    // there (the per-user default is under the home, read-only to the unit).
    let example = lmguard::config::Config::parse(&repo_file("lm-mitigation.toml.example")).unwrap();
    let path = example.state_path().unwrap();
    assert_eq!(
        path.parent().unwrap(),
        writable,
        "example [state] path {}",
        path.display()
    );
    let readme = repo_file("README.md");
    assert!(
        readme.contains(&format!("path = \"{}/state.redb\"", writable.display())),
        "README's [state] path"
    );
    assert!(
        readme.contains("StateDirectory=lmguard"),
        "README says which path the units need"
    );
}

#[test]
fn sweep_quiet_stays_quiet_when_the_allowlist_stops_a_retry() {
    let env = Env::new();
    env.lm.set_fault(Fault::Down);
    assert_eq!(env.run(&["block", "192.0.2.5"]).code(), 3);
    assert_eq!(env.status_of("192.0.2.5"), "pending_block");
    env.lm.set_fault(Fault::None);
    // The operator allowlists it before the retry: not re-added, and
    // that is the allowlist working, not a failure to mail about.
    let tls = format!(
        "ca_file = \"{}\"\n",
        env.dir.path().join("lm.pem").display()
    );
    env.write_config(&tls, "[block]\nallowlist = [\"192.0.2.0/28\"]\n");
    let out = env.run(&["sweep", "--quiet"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(out.all(), "", "sweep --quiet printed something");
    assert_eq!(env.status_of("192.0.2.5"), "unblocked");
    assert!(env.on_lm(Scope::Global).is_empty());
}
