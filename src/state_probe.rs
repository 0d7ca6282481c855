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
    let me = user_name(effective_uid());
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
    // Existing files: opened for writing, which changes nothing in them.
    let mut unwritable = Vec::new();
    for file in std::iter::once(state).chain(beside.iter().copied()) {
        if file.is_dir() {
            return Err(Problem {
                text: format!("{} is a directory, not a file", file.display()),
                fix: "set [state] path to a file name".to_string(),
            });
        }
        match OpenOptions::new().read(true).write(true).open(file) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) if e.kind() == ErrorKind::PermissionDenied => unwritable.push(file),
            Err(e) => {
                return Err(Problem {
                    text: format!("cannot open {} for writing: {e}", file.display()),
                    fix: format!("make {} writable by {me}", file.display()),
                })
            }
        }
    }
    if !unwritable.is_empty() {
        let owner = std::fs::metadata(unwritable[0])
            .map(|m| user_name(m.uid()))
            .unwrap_or_else(|_| "another user".to_string());
        let files: Vec<String> = unwritable.iter().map(|f| f.display().to_string()).collect();
        return Err(Problem {
            text: format!(
                "{} belongs to {owner}, and this user ({me}) may not write it",
                files.join(" and ")
            ),
            fix: format!(
                "give it to the user that runs lmguard (keeps every record): sudo chown {me}: {}",
                files.join(" ")
            ),
        });
    }
    // A scratch file beside them proves that the missing ones (and redb's
    // own writes) can be created.
    let scratch = dir.join(format!(".lmguard-check-{}", std::process::id()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&scratch)
        .and_then(|mut f| f.write_all(b"lmguard check\n").and_then(|()| f.sync_all()));
    let _ = std::fs::remove_file(&scratch);
    match written {
        Ok(()) => Ok(format!("this user ({me}) can create and write it")),
        Err(e) => Err(Problem {
            text: format!(
                "this user ({me}) cannot create files in {}: {e}",
                dir.display()
            ),
            fix: dir_fix(&dir, &me, &e),
        }),
    }
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

/// The effective user id: the owner of /proc/self (0 where it cannot tell,
/// which only makes the messages less exact).
fn effective_uid() -> u32 {
    std::fs::metadata("/proc/self").map_or(0, |m| m.uid())
}

/// The user name of `uid` from /etc/passwd, else the number.
pub(crate) fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
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

    #[test]
    fn user_names_come_from_passwd() {
        assert_eq!(user_name(0), "root");
        assert_eq!(user_name(4_000_000_000), "4000000000");
    }
}
