//! A state another user owns: `block` names the owner and the exact fix,
//! and `check` lists every file and directory to fix in one round (issue
//! 25, point 5).

use std::path::{Path, PathBuf};

use crate::common::nobody::as_nobody;
use crate::common::Env;

/// A state root wrote (an operator's `sudo lmguard block`), in a directory
/// others may enter but not write: what the user that runs lmguard finds.
/// `None` (skipped, said) where the suite cannot run lmguard as nobody.
fn roots_state(env: &Env) -> Option<(PathBuf, [PathBuf; 4])> {
    use std::os::unix::fs::PermissionsExt;
    let out = env.run(&["block", "203.0.113.1"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let dir = env.state.parent().unwrap().to_path_buf();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    if as_nobody(env, &["list"]).is_none() {
        crate::common::tools::skip("cannot run as nobody here (setpriv missing or not root)");
        return None;
    }
    // The rate budget file too: root's block made a call.
    let files = [
        "state.redb",
        "state.redb.lock",
        "state.redb.wait",
        "state.redb.rate-default",
    ]
    .map(|f| dir.join(f));
    assert!(files.iter().all(|f| f.exists()), "{files:?}");
    Some((dir, files))
}

fn chown_nobody(paths: &[&Path]) {
    for p in paths {
        std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
    }
}

#[test]
fn check_lists_the_directory_and_every_file_to_fix_in_one_round() {
    let env = Env::new();
    let Some((dir, [state, lock, wait, rate])) = roots_state(&env) else {
        return;
    };
    let out = as_nobody(&env, &["check"]).unwrap();
    assert_eq!(out.code(), 5, "{}", out.all());
    let line = out.check_line("state database").unwrap();
    assert!(line.starts_with('✘') && line.contains("to root"), "{line}");
    let fix = format!(
        "sudo chown nobody: {} {} {} {} {}",
        dir.display(),
        state.display(),
        lock.display(),
        wait.display(),
        rate.display()
    );
    assert!(
        out.stdout().contains(&fix),
        "one fix for all: {}",
        out.stdout()
    );
    // That one command, and check passes: no second round.
    chown_nobody(&[&dir, &state, &lock, &wait, &rate]);
    let out = as_nobody(&env, &["check"]).unwrap();
    let line = out.check_line("state database").unwrap();
    assert!(line.starts_with('✔'), "{}", out.all());
}

#[test]
fn block_on_a_state_another_user_owns_names_the_owner_and_the_fix() {
    let env = Env::new();
    let Some((dir, [state, lock, wait, rate])) = roots_state(&env) else {
        return;
    };
    let out = as_nobody(&env, &["block", "203.0.113.2"]).unwrap();
    assert_eq!(out.code(), 5, "{}", out.all());
    let err = out.stderr();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("belongs to root") && err.contains("this user (nobody)"),
        "names the owner and this user by name: {err}"
    );
    let fix = format!("sudo chown -R nobody: {}", dir.display());
    assert!(err.contains(&fix), "the exact fix: {err}");
    // The fix as printed makes it work, every record kept.
    chown_nobody(&[&dir, &state, &lock, &wait, &rate]);
    let out = as_nobody(&env, &["block", "203.0.113.2"]).unwrap();
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.status_of("203.0.113.1"), "active");
    assert_eq!(env.status_of("203.0.113.2"), "active");
}
