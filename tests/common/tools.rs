//! Tests that need a tool from outside the repository (rsyslogd,
//! syslog-ng, systemd-analyze, util-linux's `script`, ...): where it is
//! missing they never pass silently. With [`REQUIRE_TOOLS`] set (CI sets it)
//! the test fails; otherwise it is skipped with a notice on the terminal,
//! which `cargo test` shows without `--nocapture`.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Set (to anything but empty or `0`) by `.ci/run`: every tool a test
/// needs must be there, and a test whose tool is missing fails.
pub const REQUIRE_TOOLS: &str = "LMGUARD_TEST_REQUIRE_TOOLS";

/// Where tools are looked for besides `PATH` (daemons live in sbin, which
/// a user's `PATH` may lack).
const SBIN: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"];

/// The path of `name`, found on `PATH` or in an sbin directory; `None`
/// after [`skip`] says the test is skipped (a failure in CI). `install`
/// says how to get it (`apt-get install rsyslog`).
pub fn require(name: &str, install: &str) -> Option<PathBuf> {
    match find(name) {
        Some(path) => Some(path),
        None => {
            skip(&format!("{name} is not installed ({install})"));
            None
        }
    }
}

/// `name` on `PATH` or in an sbin directory.
pub fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether CI asked for every tool.
pub fn required() -> bool {
    std::env::var(REQUIRE_TOOLS).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The calling test cannot run here, because of `why`: with
/// [`REQUIRE_TOOLS`] set it fails (panics); otherwise a notice naming the
/// test goes to standard error, past libtest's capture of `eprintln!`
/// (which hides the output of passing tests).
pub fn skip(why: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    if required() {
        panic!("{test} cannot run: {why}; {REQUIRE_TOOLS} is set, so this is a failure");
    }
    let notice =
        format!("\nSKIPPED {test}: {why} (set {REQUIRE_TOOLS}=1 to make this a failure)\n");
    // `std::io::stderr()` writes to file descriptor 2 itself, which libtest
    // does not capture (it captures the print macros only), and which
    // `cargo test` shows.
    let _ = std::io::stderr().lock().write_all(notice.as_bytes());
}
