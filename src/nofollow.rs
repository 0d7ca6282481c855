//! Files lmguard opens where another user may have planted a symbolic
//! link: the state database, its lock and wait files (in a directory the
//! user that runs lmguard owns, while root may run it too: `sudo lmguard
//! unblock`), and `[log] file` in a directory others can write. Root
//! following such a link would create or append to any file on the host,
//! so these are opened with `O_NOFOLLOW` and a link is refused by name.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// `options` with `O_NOFOLLOW` added: opening a symbolic link fails with
/// `ELOOP` (see [`is_link`]).
pub(crate) fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    options.custom_flags(libc::O_NOFOLLOW)
}

/// Whether an open with [`no_follow`] failed because the path is a
/// symbolic link.
pub(crate) fn is_link(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

/// The one line that refuses a link at `path` (what `what` is: "the lock
/// file").
pub(crate) fn refused(what: &str, path: &Path) -> String {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    format!(
        "{what} {p} is a symbolic link, and lmguard never follows one there (whoever can write \
         {d} could point it at any file); remove it (rm {p}) and check who else can write {d}",
        p = path.display(),
        d = dir.display()
    )
}

/// Whether someone other than root and this user can create or replace
/// files in `dir` (its owner, or its group or others by its mode bits).
pub(crate) fn writable_by_others(dir: &Path) -> bool {
    let me = crate::owner::effective_uid();
    match std::fs::metadata(dir) {
        Ok(m) => (m.uid() != 0 && m.uid() != me) || m.mode() & 0o022 != 0,
        // Cannot tell: assume the worst.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_refused_and_its_target_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = no_follow(OpenOptions::new().write(true).create(true))
            .open(&link)
            .unwrap_err();
        assert!(is_link(&e), "{e}");
        assert!(!target.exists());
        let text = refused("the wait file", &link);
        assert!(text.contains(&format!("rm {}", link.display())), "{text}");
    }

    #[test]
    fn a_world_writable_directory_is_writable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(!writable_by_others(dir.path()));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(writable_by_others(dir.path()));
    }
}
