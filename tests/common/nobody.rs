//! Running lmguard as another user than the one that runs the suite: the
//! `nobody` account (as the user lmguard runs as, beside root's state), by
//! `setpriv`. Where the suite cannot (not root, no setpriv) the callers
//! skip with [`super::tools::skip`].

use super::{Env, Out};

/// The uid and gid of `nobody`.
pub const NOBODY: u32 = 65534;

/// Whether the suite runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Run lmguard as `nobody` (setpriv) with `env`'s configuration, which it
/// may read (its directory is opened to others, its API key given to
/// nobody); `None` where that is impossible.
pub fn as_nobody(env: &Env, args: &[&str]) -> Option<Out> {
    use std::os::unix::fs::PermissionsExt;
    let bin = assert_cmd::cargo::cargo_bin("lmguard");
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).ok()?;
    std::os::unix::fs::chown(env.dir.path().join("api-key"), Some(NOBODY), Some(NOBODY)).ok()?;
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .arg("--config")
        .arg(&env.config)
        .args(args)
        .env_remove("LMGUARD_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    // setpriv itself failed (no privilege to drop): it exits 127 or 1 with its name.
    if String::from_utf8_lossy(&out.stderr).starts_with("setpriv:") {
        return None;
    }
    Some(Out(out))
}
