//! Proof, for `lmguard check`, that the user running it can create and
//! write the state database and its lock file — by doing what `block` will
//! do, on a scratch file that is removed at once, so that nothing is left
//! changed. Root ignores permission bits, so only a real attempt tells (a
//! read-only file system, a parent that is a file); for another user, the
//! permission bits decide, and the fix names the exact `chown` to run.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::nofollow::{is_link, no_follow};
use crate::owner::user_name;

/// What stops this user from writing the state, and the command that fixes
/// it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) text: String,
    pub(crate) fix: String,
}

/// Prove that this user can create (or open for writing) `state` and the
/// files `beside` it (its lock and wait files). On success, says so in a
/// clause naming the user (`this user (flowmon) can create and write it`).
pub(crate) fn prove_writable(state: &Path, beside: &[&Path]) -> Result<String, Problem> {
    let me = crate::owner::me();
    let dir = match state.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    if !dir.exists() {
        return prove_creatable_dir(&dir, &me);
    }
    if !dir.is_dir() {
        return Err(Problem {
            text: format!("{} is not a directory", dir.display()),
            fix: "set [state] path to a file in a directory".to_string(),
        });
    }
    // Existing files: opened for writing, which changes nothing in them
    // (never through a link: lmguard refuses those, so check says so).
    let mut links = Vec::new();
    let mut unwritable = Vec::new();
    for file in std::iter::once(state).chain(beside.iter().copied()) {
        if file.is_dir() {
            return Err(Problem {
                text: format!("{} is a directory, not a file", file.display()),
                fix: "set [state] path to a file name".to_string(),
            });
        }
        let opened = no_follow(OpenOptions::new().read(true).write(true)).open(file);
        match opened {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) if is_link(&e) => links.push(file.to_path_buf()),
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                unwritable.push(file.to_path_buf())
            }
            Err(e) => {
                return Err(Problem {
                    text: format!("cannot open {} for writing: {e}", file.display()),
                    fix: format!("make {} writable by {me}", file.display()),
                })
            }
        }
    }
    // A scratch file beside them proves that the missing ones (and redb's
    // own writes) can be created: the directory is checked in the same
    // round as the files, so one fix covers both.
    let scratch = dir.join(format!(".lmguard-check-{}", std::process::id()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&scratch)
        .and_then(|mut f| f.write_all(b"lmguard check\n").and_then(|()| f.sync_all()));
    let _ = std::fs::remove_file(&scratch);
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::PermissionDenied => unwritable.insert(0, dir.clone()),
        Err(e) if links.is_empty() && unwritable.is_empty() => {
            return Err(Problem {
                text: format!(
                    "this user ({me}) cannot create files in {}: {e}",
                    dir.display()
                ),
                fix: dir_fix(&dir, &me, &e),
            })
        }
        Err(_) => {}
    }
    if links.is_empty() && unwritable.is_empty() {
        return Ok(format!("this user ({me}) can create and write it"));
    }
    let mut text = Vec::new();
    let mut fix = Vec::new();
    if !links.is_empty() {
        text.push(format!(
            "{} {} a symbolic link, which lmguard never follows there",
            joined(&links, " and "),
            if links.len() == 1 { "is" } else { "are each" }
        ));
        fix.push(format!(
            "remove {} (rm {}) and check who else can write {}",
            if links.len() == 1 { "it" } else { "them" },
            joined(&links, " "),
            dir.display()
        ));
    }
    if !unwritable.is_empty() {
        text.push(format!(
            "{}, and this user ({me}) may not write {}",
            owned_by(&unwritable),
            if unwritable.len() == 1 { "it" } else { "them" }
        ));
        fix.push(format!(
            "give {} to the user that runs lmguard (keeps every record): sudo chown {me}: {}",
            if unwritable.len() == 1 { "it" } else { "them" },
            joined(&unwritable, " ")
        ));
    }
    Err(Problem {
        text: text.join("; "),
        fix: fix.join("; then "),
    })
}

fn joined(paths: &[PathBuf], by: &str) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(by)
}

/// `A and B belong to root, C belongs to flowmon`: each path's owner by
/// name, in the order the paths come.
fn owned_by(paths: &[PathBuf]) -> String {
    let mut groups: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for path in paths {
        let owner = std::fs::symlink_metadata(path)
            .map(|m| user_name(m.uid()))
            .unwrap_or_else(|_| "another user".to_string());
        match groups.iter_mut().find(|(o, _)| *o == owner) {
            Some((_, list)) => list.push(path.clone()),
            None => groups.push((owner, vec![path.clone()])),
        }
    }
    groups
        .iter()
        .map(|(owner, list)| {
            let verb = if list.len() == 1 { "belongs" } else { "belong" };
            format!("{} {verb} to {owner}", joined(list, " and "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The state directory does not exist: prove it can be created, in its
/// nearest existing ancestor.
fn prove_creatable_dir(dir: &Path, me: &str) -> Result<String, Problem> {
    let mut ancestor = dir;
    while !ancestor.exists() {
        match ancestor.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(p) => ancestor = p,
            None => {
                ancestor = Path::new(".");
                break;
            }
        }
    }
    if !ancestor.is_dir() {
        return Err(Problem {
            text: format!(
                "{} cannot be created: {} is not a directory",
                dir.display(),
                ancestor.display()
            ),
            fix: "set [state] path to a file in a directory".to_string(),
        });
    }
    let scratch = ancestor.join(format!(".lmguard-check-{}", std::process::id()));
    let made = DirBuilder::new().mode(0o700).create(&scratch);
    let _ = std::fs::remove_dir(&scratch);
    match made {
        Ok(()) => Ok(format!(
            "this user ({me}) can create it and its directory {}",
            dir.display()
        )),
        Err(e) => Err(Problem {
            text: format!(
                "{} does not exist, and this user ({me}) cannot create it in {}: {e}",
                dir.display(),
                ancestor.display()
            ),
            fix: format!(
                "create it for that user: sudo install -d -o {me} -m 700 {}",
                dir.display()
            ),
        }),
    }
}

fn dir_fix(dir: &Path, me: &str, e: &std::io::Error) -> String {
    if e.kind() == ErrorKind::PermissionDenied {
        format!(
            "give the directory to the user that runs lmguard: sudo chown {me}: {}",
            dir.display()
        )
    } else {
        format!(
            "set [state] path to a writable location (for example /var/lib/lmguard/state.redb, \
             created with sudo install -d -o {me} -m 700 /var/lib/lmguard)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writable_directory_passes_and_is_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.redb");
        let lock = dir.path().join("state.redb.lock");
        let said = prove_writable(&state, &[&lock]).unwrap();
        assert!(said.contains("can create and write it"), "{said}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_missing_directory_passes_when_it_can_be_created() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a/b/state.redb");
        let said = prove_writable(&state, &[&state.with_extension("redb.lock")]).unwrap();
        assert!(said.contains("and its directory"), "{said}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_parent_that_is_a_file_fails_even_for_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "x").unwrap();
        let state = dir.path().join("file/state.redb");
        let e = prove_writable(&state, &[&state.with_extension("redb.lock")]).unwrap_err();
        assert!(e.text.contains("not a directory"), "{e:?}");
        let state = dir.path().join("file/deeper/state.redb");
        let e = prove_writable(&state, &[&state.with_extension("redb.lock")]).unwrap_err();
        assert!(e.text.contains("not a directory"), "{e:?}");
    }

    #[test]
    fn a_read_only_location_fails_even_for_root() {
        // /proc takes no new files, whoever asks.
        let state = Path::new("/proc/state.redb");
        let e = prove_writable(state, &[&state.with_extension("redb.lock")]).unwrap_err();
        assert!(e.text.contains("cannot create files in /proc"), "{e:?}");
    }
}
