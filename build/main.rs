//! Build script: hands the git commit of this build to the crate as
//! `LMGUARD_BUILD_COMMIT`, for `lmguard --version` (see `commit.rs`).

mod commit;

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let fallback = std::env::var(commit::COMMIT_ENV).ok();
    let described = commit::describe(&dir, fallback.as_deref());
    println!("cargo:rustc-env=LMGUARD_BUILD_COMMIT={described}");

    println!("cargo:rerun-if-env-changed={}", commit::COMMIT_ENV);
    println!("cargo:rerun-if-changed=build");
    for path in commit::watched_files(&dir) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    // An edit to a tracked file makes the build dirty without touching the
    // git files above; these are the tracked inputs of the binary.
    for path in ["src", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={path}");
    }
}
