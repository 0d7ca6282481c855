//! Which git commit a build comes from, for `lmguard --version`.
//!
//! Shared by the build script (`build/main.rs`) and its test
//! (`tests/version.rs`): the short hash of `HEAD`, with `-dirty` when tracked
//! files differ from it; without a git checkout of this crate (a release
//! tarball), the commit a packager names in `LMGUARD_COMMIT`, else `unknown`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable a packager sets when building outside git.
pub const COMMIT_ENV: &str = "LMGUARD_COMMIT";

/// The commit of the crate in `dir`: git's answer when `dir` is the top of a
/// git work tree, else `fallback` (from [`COMMIT_ENV`]) when it is set and
/// not blank, else `unknown`.
pub fn describe(dir: &Path, fallback: Option<&str>) -> String {
    if let Some(commit) = git_commit(dir) {
        return commit;
    }
    match fallback.map(str::trim) {
        Some(commit) if !commit.is_empty() => commit.to_string(),
        _ => "unknown".to_string(),
    }
}

/// The git files whose change means `HEAD` may name another commit: `HEAD`
/// itself, the branch it points to (or, while that is only in
/// `packed-refs`, the directory its loose file will appear in) and
/// `packed-refs`. Only files that exist: cargo reruns a build script on
/// every build while a watched path is missing. Empty when `dir` is not the
/// top of a git work tree. (An edit to a tracked file, the `-dirty` mark,
/// is seen through the source files the build script watches itself.)
pub fn watched_files(dir: &Path) -> Vec<PathBuf> {
    if !is_top_of_work_tree(dir) {
        return Vec::new();
    }
    let git_path = |name: &str| git(dir, &["rev-parse", "--git-path", name]).map(|p| dir.join(p));
    let mut paths: Vec<PathBuf> = ["HEAD", "packed-refs"]
        .into_iter()
        .filter_map(git_path)
        .collect();
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]).and_then(|b| git_path(&b)) {
        if branch.exists() {
            paths.push(branch);
        } else if let Some(parent) = branch.parent() {
            paths.push(parent.to_path_buf());
        }
    }
    paths.retain(|path| path.exists());
    paths
}

/// `abc1234` or `abc1234-dirty`; None without git or outside a work tree.
fn git_commit(dir: &Path) -> Option<String> {
    if !is_top_of_work_tree(dir) {
        return None;
    }
    let hash = git(dir, &["rev-parse", "--short", "HEAD"])?;
    // Untracked files do not count, as with `git describe --dirty`.
    let changes = git(dir, &["status", "--porcelain", "--untracked-files=no"])?;
    Some(if changes.is_empty() {
        hash
    } else {
        format!("{hash}-dirty")
    })
}

/// Whether `dir` is the top of a git work tree. A source tree unpacked
/// inside some other repository (a packaging repository, a vendor
/// directory) must not report that repository's commit.
fn is_top_of_work_tree(dir: &Path) -> bool {
    let Some(top) = git(dir, &["rev-parse", "--show-toplevel"]) else {
        return false;
    };
    match (Path::new(&top).canonicalize(), dir.canonicalize()) {
        (Ok(top), Ok(dir)) => top == dir,
        _ => false,
    }
}

/// The trimmed standard output of a successful `git -C dir ARGS`.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        // Only read: never refresh the index behind a developer's back.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}
