//! `cargo run --example demo`: the whole lmguard lifecycle against a fake
//! LoadMaster on 127.0.0.1, with the real `lmguard` binary, a temporary
//! configuration and a temporary state database. Nothing leaves loopback.
//!
//! The steps: ADS events on standard input (with one deliberately bad
//! line), the operator's view, a manual block of a network, a short block
//! that expires, a false positive unblocked by hand, a block while the
//! LoadMaster is down (pending), and the sweep that applies the pending
//! block and lifts the expired one. Then two sites: two fake LoadMasters
//! and two `[[loadmaster]]` tables; one is stopped while an event arrives
//! (the other is served, the run exits 3 naming the stopped one), restarted
//! on the same port with the same certificate, and caught up by `sweep`.
//! Every fake drops connections beyond Kemp's documented rate limit (30
//! calls in 3 s), as the appliance does; lmguard runs at its default rate
//! budget (25/3s) and crosses it never: a burst of 30 events at the end of
//! the first part takes about 3.6 s (a small burst, to keep the demo fast).
//! `tests/demo.rs` runs it too.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fake_loadmaster::{FakeLoadMaster, Fault, Options, RateLimit, Scope, Switches};

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
    let lm = FakeLoadMaster::start(kemp()).expect("start the fake LoadMaster");
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
        shown_config: None,
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
    say("");

    say("--- a burst: 30 ADS events at once ---\n");
    let burst: Vec<u8> = (0..30)
        .flat_map(|i| {
            ads_event(
                &fixture,
                &format!("5330{i:02}"),
                &format!("203.0.113.{}", 200 + i),
            )
        })
        .collect();
    let (calls, started) = (lm.request_count(), std::time::Instant::now());
    steps.push(demo.run(
        &["block", "-q"],
        Some(("burst.tsv", &burst)),
        0,
        "the LoadMaster drops the connection beyond 30 calls in 3 s, from all its clients \
         together; lmguard spaces its calls under its rate budget ([loadmaster] rate, by \
         default 25/3s: 500 calls a minute), shared by every lmguard process on the host",
    ));
    say(&format!(
        "The fake LoadMaster took {} calls in {:.1} s and dropped {} for its rate limit.\n",
        lm.request_count() - calls,
        started.elapsed().as_secs_f64(),
        lm.dropped_calls()
    ));
    assert_eq!(lm.dropped_calls(), 0, "lmguard crossed the rate limit");
    steps.extend(two_loadmasters(lmguard, &fixture, print));
    steps
}

/// A fake LoadMaster with Kemp's documented rate limit on.
fn kemp() -> Options {
    Options {
        switches: Switches {
            rate_limit: Some(RateLimit::KEMP),
            ..Switches::default()
        },
        ..Options::default()
    }
}

/// The configuration file of the two-site part, as shown.
pub const TWO_SITES: &str = "two-sites.toml";

/// Two sites, one lmguard: two fake LoadMasters ("prague" and "brno"), two
/// `[[loadmaster]]` tables. An ADS event is blocked on both; "brno" stops
/// (its port refuses connections) and the next event is blocked on
/// "prague" only, brno's entry kept pending (exit 3, naming it); "brno"
/// comes back on the same port with the same certificate and `sweep`
/// catches it up, without sending "prague" anything again.
fn two_loadmasters(lmguard: &Path, fixture: &[u8], print: bool) -> Vec<Step> {
    let say = |text: &str| {
        if print {
            println!("{text}");
        }
    };
    let sites: Vec<(&str, FakeLoadMaster)> = ["prague", "brno"]
        .into_iter()
        .map(|name| {
            let lm = FakeLoadMaster::start(Options {
                api_key: site_key(name),
                ..kemp()
            })
            .expect("start a fake LoadMaster");
            (name, lm)
        })
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_two_site_config(dir.path(), &sites);
    say("--- two sites: a second LoadMaster, a second [[loadmaster]] table ---\n");
    for (name, lm) in &sites {
        say(&format!(
            "Fake LoadMaster {name:?} listening on {}",
            lm.url()
        ));
    }
    say(&format!(
        "Configuration {TWO_SITES} ({}):",
        config.display()
    ));
    if print {
        let text = std::fs::read_to_string(&config).expect("read the configuration");
        for line in text.lines() {
            let indent = if line.is_empty() { "" } else { "  " };
            println!("{indent}{line}");
        }
        println!();
    }
    let demo = Demo {
        lmguard,
        config: &config,
        shown_config: Some(TWO_SITES),
        print,
    };
    let brno = &sites[1].1;
    let mut steps = Vec::new();
    steps.push(demo.run(
        &["block"],
        Some((
            "event-1.tsv",
            &ads_event(fixture, "532101", "203.0.113.120"),
        )),
        0,
        "an ADS event is blocked on both LoadMasters, in parallel",
    ));

    say("--- the LoadMaster \"brno\" stops: its port refuses connections ---\n");
    brno.set_fault(Fault::Down);
    steps.push(demo.run(
        &["block"],
        Some((
            "event-2.tsv",
            &ads_event(fixture, "532102", "203.0.113.121"),
        )),
        3,
        "the next event: \"prague\" is served at once, brno's block is kept as pending, \
         and lmguard exits 3 naming the LoadMaster that is behind",
    ));
    brno.set_fault(Fault::None);
    say("--- \"brno\" is back, on the same port with the same certificate ---\n");
    steps.push(demo.run(
        &["sweep"],
        None,
        0,
        "cron's sweep sends \"brno\" the block it missed (\"prague\" already has it)",
    ));
    steps.push(demo.run(
        &["list"],
        None,
        0,
        "with several LoadMasters the table has a LOADMASTER column: one row per \
         LoadMaster and address",
    ));

    let adds = |lm: &FakeLoadMaster| {
        lm.requests()
            .iter()
            .filter(|r| r.param("add") == Some("block") && r.param("addr") == Some("203.0.113.121"))
            .count()
    };
    for (name, lm) in &sites {
        say(&format!(
            "The fake LoadMaster {name:?} holds in its global block list (it was sent the add \
             of 203.0.113.121 {} time(s)):",
            adds(lm)
        ));
        for entry in lm.entries(Scope::Global) {
            say(&format!("  {:<18} {}", entry.addr, entry.comment));
        }
    }
    steps
}

/// One ADS event: the fixture's first line with another event id and
/// source.
fn ads_event(fixture: &[u8], id: &str, source: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(fixture);
    let first = text.lines().next().expect("a fixture line");
    format!(
        "{}\n",
        first.replace("532028", id).replace("203.0.113.7", source)
    )
    .into_bytes()
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

/// Write an API key file, private as the README tells operators (lmguard
/// warns otherwise).
fn write_key(path: &Path, key: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| writeln!(f, "{key}"))
        .expect("write key");
}

/// The API key of a site's fake LoadMaster (each site has its own).
fn site_key(name: &str) -> String {
    format!("{name}-api-key-0123456789")
}

/// The two-site configuration: one `[[loadmaster]]` table per fake, each
/// with its own key file and CA file.
fn write_two_site_config(dir: &Path, sites: &[(&str, FakeLoadMaster)]) -> PathBuf {
    let mut text = String::new();
    for (name, lm) in sites {
        let pem = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&pem, lm.ca_pem()).expect("write pem");
        write_key(&key, &site_key(name));
        text.push_str(&format!(
            "[[loadmaster]]\nname = \"{name}\"\nurl = \"{}\"\napi_key_file = \"{}\"\n\
             ca_file = \"{}\"\ntimeout = \"2s\"\n\n",
            lm.url(),
            key.display(),
            pem.display()
        ));
    }
    text.push_str(&format!(
        "[block]\nduration = \"75h\"\n\n[state]\npath = \"{}\"\n",
        dir.join("state.redb").display()
    ));
    let config = dir.join(TWO_SITES);
    std::fs::write(&config, text).expect("write config");
    config
}

fn write_config(dir: &Path, lm: &FakeLoadMaster) -> PathBuf {
    let pem = dir.join("loadmaster.pem");
    let key = dir.join("api-key");
    let config = dir.join("lm-mitigation.toml");
    std::fs::write(&pem, lm.ca_pem()).expect("write pem");
    write_key(&key, fake_loadmaster::DEFAULT_API_KEY);
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
    /// Shown as `--config NAME` in each command line (the first part's
    /// configuration is the only one and is not shown).
    shown_config: Option<&'a str>,
    print: bool,
}

impl Demo<'_> {
    fn run(&self, args: &[&str], stdin: Option<(&str, &[u8])>, expected: i32, what: &str) -> Step {
        let mut shown = String::from("lmguard");
        if let Some(name) = self.shown_config {
            shown.push_str(" --config ");
            shown.push_str(&shell_quote(name));
        }
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
                // lmguard may exit before reading (a configuration it
                // refuses): its exit code and message then tell why.
                match input.write_all(bytes) {
                    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                        panic!("write events: {e}")
                    }
                    _ => {}
                }
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
