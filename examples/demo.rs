//! `cargo run --example demo`: the whole lmguard lifecycle against a fake
//! LoadMaster on 127.0.0.1, with the real `lmguard` binary, a temporary
//! configuration and a temporary state database. Nothing leaves loopback.
//!
//! The steps: ADS events on standard input (with one deliberately bad
//! line), the operator's view, a manual block of a network, a short block
//! that expires, a false positive unblocked by hand, a block while the
//! LoadMaster is down (pending), and the sweep that applies the pending
//! block and lifts the expired one. `tests/demo.rs` runs it too.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fake_loadmaster::{FakeLoadMaster, Fault, Options, Scope};

#[allow(dead_code)]
fn main() {
    let lmguard = build_lmguard();
    let steps = run_demo(&lmguard, true);
    if let Some(bad) = steps.iter().find(|s| s.code != s.expected) {
        eprintln!(
            "demo: `{}` exited {}, expected {}",
            bad.shown, bad.code, bad.expected
        );
        std::process::exit(1);
    }
}

/// One command of the demo and what came of it.
pub struct Step {
    /// The command line as shown, quoted as a shell needs it.
    pub shown: String,
    pub expected: i32,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The `cargo build` that builds the binary the demo runs, such that a
/// second run of the demo rebuilds nothing:
/// - `--example demo` makes cargo resolve features as for this example
///   (dev dependencies unify them), so the binary shares its dependencies;
/// - the variables `cargo run` sets for the example (`CARGO_MANIFEST_DIR`,
///   `CARGO_PKG_NAME`, …) are removed, because ring's build script reruns
///   when they change, and they are unset in the operator's shell.
pub fn build_command() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "--bin", "lmguard", "--example", "demo"]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo_run = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
            || [
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&&*name);
        if set_by_cargo_run {
            build.env_remove(&*name);
        }
    }
    build
}

/// Build the real binary and return its path.
fn build_lmguard() -> PathBuf {
    let status = build_command().status().expect("run cargo build");
    assert!(status.success(), "building lmguard failed");
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/examples/demo -> target/<profile>/lmguard
    exe.parent()
        .and_then(Path::parent)
        .map(|p| p.join("lmguard"))
        .expect("target directory")
}

/// Run every step with `lmguard`; with `print`, show them as a session.
pub fn run_demo(lmguard: &Path, print: bool) -> Vec<Step> {
    let lm = FakeLoadMaster::start(Options::default()).expect("start the fake LoadMaster");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &lm);
    let say = |text: &str| {
        if print {
            println!("{text}");
        }
    };
    say(&format!(
        "Fake LoadMaster listening on {} (self-signed certificate, trusted via ca_file)",
        lm.url()
    ));
    say(&format!("Configuration: {}\n", config.display()));

    let demo = Demo {
        lmguard,
        config: &config,
        print,
    };
    let mut steps = Vec::new();
    let fixture =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ads-events.tsv"))
            .expect("read tests/fixtures/ads-events.tsv");
    let events = with_a_bad_line(&fixture);
    steps.push(demo.run(
        &["block"],
        Some(("events.tsv", &events)),
        4,
        "ADS hands its events to `lmguard block` on standard input: the five events of \
         tests/fixtures/ads-events.tsv, and a sixth line that is deliberately bad (its source \
         is 999.1.2.3, not an address). lmguard reports that line by number, blocks the five \
         good events, and exits 4 to say some input was rejected.",
    ));
    steps.push(demo.run(&["list"], None, 0, "the operator's view (times in UTC)"));
    steps.push(demo.run(
        &[
            "block",
            "198.51.100.0/24",
            "--duration",
            "2h",
            "--reason",
            "manual: brute force from this range",
        ],
        None,
        0,
        "a manual block of a network",
    ));
    steps.push(demo.run(
        &[
            "block",
            "203.0.113.50",
            "--duration",
            "3s",
            "--reason",
            "a short block, to see it expire",
        ],
        None,
        0,
        "a block that expires in three seconds",
    ));
    steps.push(demo.run(
        &["unblock", "192.0.2.77"],
        None,
        0,
        "a false positive, removed by hand (and never re-added by sweep)",
    ));

    say("--- the LoadMaster goes down ---\n");
    lm.set_fault(Fault::Down);
    steps.push(demo.run(
        &["block", "203.0.113.99"],
        None,
        3,
        "a block while the LoadMaster is unreachable is kept as pending (exit 3)",
    ));
    lm.set_fault(Fault::None);
    say("--- the LoadMaster is back; three seconds pass ---\n");
    std::thread::sleep(Duration::from_secs(4));
    steps.push(demo.run(
        &["sweep"],
        None,
        0,
        "cron's sweep applies what was pending and lifts the block that expired",
    ));
    steps.push(demo.run(&["list", "--all"], None, 0, "everything, history included"));
    steps.push(demo.run(
        &["sweep", "--dry-run"],
        None,
        0,
        "a dry run prints the calls it would make (none are due)",
    ));

    say("The fake LoadMaster's global block list now holds:");
    for entry in lm.entries(Scope::Global) {
        say(&format!("  {:<18} {}", entry.addr, entry.comment));
    }
    steps
}

/// The events, then one line whose source is not an address.
fn with_a_bad_line(events: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(events);
    let first = text.lines().next().expect("a fixture line");
    let bad = first
        .replace("532028", "532099")
        .replace("203.0.113.7", "999.1.2.3");
    let mut out = events.to_vec();
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(bad.as_bytes());
    out.push(b'\n');
    out
}

fn write_config(dir: &Path, lm: &FakeLoadMaster) -> PathBuf {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let pem = dir.join("loadmaster.pem");
    let key = dir.join("api-key");
    let config = dir.join("lm-mitigation.toml");
    std::fs::write(&pem, lm.ca_pem()).expect("write pem");
    // Private, as the README tells operators (lmguard warns otherwise).
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key)
        .and_then(|mut f| writeln!(f, "{}", fake_loadmaster::DEFAULT_API_KEY))
        .expect("write key");
    std::fs::write(
        &config,
        format!(
            "[loadmaster]\nurl = \"{}\"\napi_key_file = \"{}\"\nca_file = \"{}\"\ntimeout = \"2s\"\n\n\
             [block]\nduration = \"75h\"\n\n[state]\npath = \"{}\"\n",
            lm.url(),
            key.display(),
            pem.display(),
            dir.join("state.redb").display()
        ),
    )
    .expect("write config");
    config
}

/// A word as a POSIX shell needs it: bare when safe, else in single quotes.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

struct Demo<'a> {
    lmguard: &'a Path,
    config: &'a Path,
    print: bool,
}

impl Demo<'_> {
    fn run(&self, args: &[&str], stdin: Option<(&str, &[u8])>, expected: i32, what: &str) -> Step {
        let mut shown = String::from("lmguard");
        for a in args {
            shown.push(' ');
            shown.push_str(&shell_quote(a));
        }
        if let Some((name, _)) = stdin {
            shown.push_str(&format!(" < {name}"));
        }
        let mut child = Command::new(self.lmguard)
            .arg("--config")
            .arg(self.config)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run lmguard");
        {
            use std::io::Write;
            let mut input = child.stdin.take().expect("stdin");
            if let Some((_, bytes)) = stdin {
                input.write_all(bytes).expect("write events");
            }
        }
        let out = child.wait_with_output().expect("wait for lmguard");
        let step = Step {
            shown,
            expected,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if self.print {
            println!("# {what}");
            println!("$ {}", step.shown);
            print!("{}{}", step.stdout, step.stderr);
            println!("(exit {})\n", step.code);
        }
        step
    }
}
