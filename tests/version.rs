//! `lmguard --version`: the version and the git commit the binary was built
//! from. The real binary is checked against this checkout; the build script
//! itself (`build/main.rs` + `build/commit.rs`) is built into a tiny crate in
//! temporary git repositories, so that committing, editing and building
//! without git are all exercised with real git and real cargo.

#[path = "../build/commit.rs"]
#[allow(dead_code)]
mod commit;

use std::path::Path;
use std::process::Command;

use assert_cmd::Command as BinCommand;

/// `git ARGS` in `dir`, isolated from the user's and system's git settings;
/// its trimmed output.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=lmguard test",
            "-c",
            "user.email=test@example.invalid",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn is_git_checkout(dir: &Path) -> bool {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .is_ok_and(|out| {
            out.status.success()
                && Path::new(String::from_utf8_lossy(&out.stdout).trim())
                    .canonicalize()
                    .ok()
                    == dir.canonicalize().ok()
        })
}

#[test]
fn version_names_the_package_version_and_this_checkouts_commit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let commit = if is_git_checkout(root) {
        let hash = git(root, &["rev-parse", "--short", "HEAD"]);
        let changes = git(root, &["status", "--porcelain", "--untracked-files=no"]);
        if changes.is_empty() {
            hash
        } else {
            format!("{hash}-dirty")
        }
    } else {
        // A source tree without git (a release tarball): what the packager
        // named, else unknown.
        option_env!("LMGUARD_COMMIT")
            .filter(|c| !c.trim().is_empty())
            .unwrap_or("unknown")
            .trim()
            .to_string()
    };
    let expected = format!("lmguard {} (commit {commit})\n", env!("CARGO_PKG_VERSION"));
    for flag in ["--version", "-V"] {
        let out = BinCommand::cargo_bin("lmguard")
            .unwrap()
            .arg(flag)
            .env("LMGUARD_CONFIG", "/nonexistent/lm-mitigation.toml")
            .output()
            .unwrap();
        assert!(out.status.success(), "{flag}: {out:?}");
        assert!(out.stderr.is_empty(), "{flag}: {out:?}");
        assert_eq!(String::from_utf8(out.stdout).unwrap(), expected, "{flag}");
    }
}

/// A crate with lmguard's build script whose binary prints what the build
/// script handed it.
struct Probe {
    dir: tempfile::TempDir,
}

impl Probe {
    fn new() -> Probe {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("build")).unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(
            root.join("Cargo.toml"),
            "[package]\nname = \"probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             build = \"build/main.rs\"\n\n[workspace]\n",
        )
        .unwrap();
        std::fs::write(root.join("build/main.rs"), include_str!("../build/main.rs")).unwrap();
        std::fs::write(
            root.join("build/commit.rs"),
            include_str!("../build/commit.rs"),
        )
        .unwrap();
        std::fs::write(
            root.join("src/main.rs"),
            "fn main() {\n    print!(\"{}\", env!(\"LMGUARD_BUILD_COMMIT\"));\n}\n",
        )
        .unwrap();
        Probe { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Build (incrementally, as a developer would) and run; what it printed.
    fn built_commit(&self, fallback: Option<&str>) -> String {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut cmd = Command::new(cargo);
        cmd.args(["run", "--quiet", "--offline"])
            .current_dir(self.path())
            .env("CARGO_TARGET_DIR", self.path().join("target"))
            .env_remove("LMGUARD_COMMIT")
            .env_remove("RUSTC_WRAPPER")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null");
        if let Some(commit) = fallback {
            cmd.env("LMGUARD_COMMIT", commit);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "cargo run: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    fn commit_all(&self, message: &str) -> String {
        std::fs::write(self.path().join(".gitignore"), "/target\n").unwrap();
        git(self.path(), &["add", "-A"]);
        git(self.path(), &["commit", "-q", "-m", message]);
        git(self.path(), &["rev-parse", "--short", "HEAD"])
    }
}

#[test]
fn a_rebuild_follows_commits_and_edits_of_the_checkout() {
    let probe = Probe::new();
    git(probe.path(), &["init", "-q"]);
    let first = probe.commit_all("first");
    assert_eq!(probe.built_commit(None), first);
    // Untracked files are not a change to what was built from.
    std::fs::write(probe.path().join("notes.txt"), "scratch").unwrap();
    assert_eq!(probe.built_commit(None), first);

    // An edit to a tracked source file: the build is marked dirty.
    std::fs::write(
        probe.path().join("src/main.rs"),
        "fn main() {\n    print!(\"{}\", env!(\"LMGUARD_BUILD_COMMIT\"));\n}\n// edited\n",
    )
    .unwrap();
    assert_eq!(probe.built_commit(None), format!("{first}-dirty"));

    // Committing it: the next build names the new commit, clean.
    let second = probe.commit_all("second");
    assert_ne!(first, second);
    assert_eq!(probe.built_commit(None), second);

    // A commit that touches nothing the binary is built from (git only
    // moves the branch): still seen.
    git(
        probe.path(),
        &["commit", "-q", "--allow-empty", "-m", "third"],
    );
    let third = git(probe.path(), &["rev-parse", "--short", "HEAD"]);
    assert_eq!(probe.built_commit(None), third);

    // A git checkout wins over LMGUARD_COMMIT.
    assert_eq!(probe.built_commit(Some("f00f00f")), third);
}

#[test]
fn without_git_the_packagers_commit_or_unknown() {
    let probe = Probe::new();
    assert_eq!(probe.built_commit(None), "unknown");
    assert_eq!(probe.built_commit(Some("1a2b3c4")), "1a2b3c4");
    assert_eq!(probe.built_commit(Some("  ")), "unknown");
}

#[test]
fn a_source_tree_inside_another_repository_does_not_take_its_commit() {
    // A release tarball unpacked in a packaging repository: that
    // repository's commit says nothing about lmguard's source.
    let outer = tempfile::tempdir().unwrap();
    git(outer.path(), &["init", "-q"]);
    std::fs::write(outer.path().join("spec"), "packaging").unwrap();
    git(outer.path(), &["add", "-A"]);
    git(outer.path(), &["commit", "-q", "-m", "packaging"]);
    let inner = outer.path().join("lmguard-0.1.0");
    std::fs::create_dir_all(&inner).unwrap();
    assert_eq!(commit::describe(&inner, None), "unknown");
    assert_eq!(commit::describe(&inner, Some("1a2b3c4")), "1a2b3c4");
    assert!(commit::watched_files(&inner).is_empty());
    assert_eq!(
        commit::describe(outer.path(), None),
        git(outer.path(), &["rev-parse", "--short", "HEAD"])
    );
}
