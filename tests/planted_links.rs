//! Root never follows a link that the lmguard user planted (issue 24,
//! point 5): run as root beside a state directory another user owns, a
//! symbolic link planted as the wait, lock or state file, or as `[log]
//! file` in a directory that user can write, is refused with exit 5 naming
//! it, and whatever it points at is neither created nor written.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::common::nobody::{is_root, NOBODY};
use crate::common::{Env, Out};

/// A state written by one block, then given (directory and files) to
/// nobody, as the user that runs lmguard owns it; and a log directory
/// nobody can write. `None` (skipped, said) when not run as root.
fn nobodys_state(env: &Env) -> Option<PathBuf> {
    if !is_root() {
        crate::common::tools::skip(
            "planted links are a root problem; run the tests as root to check it",
        );
        return None;
    }
    let out = env.run(&["block", "203.0.113.1"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let dir = env.state.parent().unwrap().to_path_buf();
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::os::unix::fs::chown(entry.unwrap().path(), Some(NOBODY), Some(NOBODY)).unwrap();
    }
    std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
    Some(dir)
}

/// Where a planted link points: outside the state directory, where only
/// root may write.
fn victim(env: &Env, name: &str) -> PathBuf {
    env.dir.path().join(name)
}

fn assert_refused(out: &Out, link: &Path) {
    assert_eq!(out.code(), 5, "{}", out.all());
    let err = out.stderr();
    assert!(
        err.contains(&link.display().to_string()) && err.contains("symbolic link"),
        "names the link: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_link_planted_as_the_wait_file_is_refused_and_its_target_never_created() {
    let env = Env::new();
    let Some(dir) = nobodys_state(&env) else {
        return;
    };
    let wait = dir.join("state.redb.wait");
    let target = victim(&env, "created-by-root");
    std::fs::remove_file(&wait).unwrap();
    symlink(&target, &wait).unwrap();
    let before = env.lm.request_count();
    let out = env.run(&["block", "203.0.113.2"]);
    assert_refused(&out, &wait);
    assert!(!target.exists(), "root created the link's target");
    assert_eq!(env.lm.request_count(), before, "nothing was sent");
    // An existing target is not opened for writing either: its mode and
    // content stay.
    std::fs::write(&target, "root's file\n").unwrap();
    let out = env.run(&["unblock", "203.0.113.1"]);
    assert_refused(&out, &wait);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "root's file\n");
    // Removed as the message says, it works again.
    std::fs::remove_file(&wait).unwrap();
    let out = env.run(&["block", "203.0.113.2"]);
    assert_eq!(out.code(), 0, "{}", out.all());
}

#[test]
fn a_link_planted_as_the_lock_or_state_file_is_refused() {
    let env = Env::new();
    let Some(dir) = nobodys_state(&env) else {
        return;
    };
    for name in ["state.redb.lock", "state.redb"] {
        let planted = dir.join(name);
        let moved = dir.join(format!("{name}.real"));
        std::fs::rename(&planted, &moved).unwrap();
        let target = victim(&env, &format!("{name}-target"));
        symlink(&target, &planted).unwrap();
        for args in [&["block", "203.0.113.3"][..], &["list"]] {
            let out = env.run(args);
            assert_refused(&out, &planted);
            assert!(!target.exists(), "{name}, {args:?}: the target was created");
        }
        std::fs::remove_file(&planted).unwrap();
        std::fs::rename(&moved, &planted).unwrap();
    }
    assert_eq!(env.status_of("203.0.113.1"), "active", "nothing lost");
}

#[test]
fn a_link_planted_as_the_log_file_in_a_directory_others_can_write_is_refused() {
    let env = Env::new();
    let logs = env.dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("lmguard.log");
    env.write_config(
        &format!(
            "ca_file = \"{}\"\n",
            env.dir.path().join("lm.pem").display()
        ),
        &format!("[log]\nfile = \"{}\"\n", log.display()),
    );
    let Some(_) = nobodys_state(&env) else {
        return;
    };
    std::os::unix::fs::chown(&logs, Some(NOBODY), Some(NOBODY)).unwrap();
    let target = victim(&env, "shadow");
    std::fs::write(&target, "root:secret\n").unwrap();
    // nobody replaces the log with a link.
    let _ = std::fs::remove_file(&log);
    symlink(&target, &log).unwrap();
    let before = env.lm.request_count();
    let out = env.run(&["block", "203.0.113.4"]);
    assert_refused(&out, &log);
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "root:secret\n",
        "root appended to the link's target"
    );
    assert_eq!(env.lm.request_count(), before, "refused before any work");
    // A link that points nowhere yet is not created through either.
    std::fs::remove_file(&target).unwrap();
    let out = env.run(&["list"]);
    assert_refused(&out, &log);
    assert!(!target.exists());
}

#[test]
fn a_link_as_the_log_file_in_a_directory_only_root_writes_is_the_operators_choice() {
    if !is_root() {
        crate::common::tools::skip("run the tests as root to check the log link rule");
        return;
    }
    let env = Env::new();
    // Only root can write logs/: a link there was made by root, on purpose
    // (the log kept on another disk), and is followed.
    let logs = env.dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let elsewhere = env.dir.path().join("elsewhere.log");
    let log = logs.join("lmguard.log");
    symlink(&elsewhere, &log).unwrap();
    env.write_config(
        &format!(
            "ca_file = \"{}\"\n",
            env.dir.path().join("lm.pem").display()
        ),
        &format!("[log]\nfile = \"{}\"\nlevel = \"info\"\n", log.display()),
    );
    let out = env.run(&["block", "203.0.113.5"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let text = std::fs::read_to_string(&elsewhere).unwrap();
    assert!(text.contains("203.0.113.5"), "{text}");
}

/// The rate budget file beside the state (`<state>.rate-<loadmaster>`) is
/// one of the files the lmguard user can plant a link at too. It was never
/// followed, but the calls were then paced by the process alone, outside
/// the budget the host's other lmguard processes share: refused now, as the
/// other files are, and `check` names it.
#[test]
fn a_link_planted_as_the_rate_budget_file_is_refused_and_check_names_it() {
    let env = Env::new();
    let Some(dir) = nobodys_state(&env) else {
        return;
    };
    let rate = dir.join("state.redb.rate-default");
    let target = victim(&env, "rate-by-root");
    let _ = std::fs::remove_file(&rate);
    symlink(&target, &rate).unwrap();
    let before = env.lm.request_count();
    let out = env.run(&["block", "203.0.113.3"]);
    assert_refused(&out, &rate);
    assert!(!target.exists(), "root created the link's target");
    assert_eq!(env.lm.request_count(), before, "nothing was sent");
    let out = env.run(&["check"]);
    assert_ne!(out.code(), 0, "{}", out.all());
    let state = out.check_line("state database").expect("a state line");
    assert!(
        state.starts_with('✘') && state.contains(&rate.display().to_string()),
        "{}",
        out.all()
    );
    std::fs::remove_file(&rate).unwrap();
    let out = env.run(&["block", "203.0.113.3"]);
    assert_eq!(out.code(), 0, "{}", out.all());
}
