//! Test harness: a fake LoadMaster on loopback, a temp dir with a config,
//! an API key file and a real redb state file, and the real `lmguard` binary.

#![allow(dead_code)]

pub mod nobody;
pub mod tools;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use fake_loadmaster::{CertKind, Entry, FakeLoadMaster, Options, Scope};
use serde_json::Value;
use tempfile::TempDir;

pub const KEY: &str = fake_loadmaster::DEFAULT_API_KEY;

/// The keys interface.md requires in every `list --json` row.
pub const ROW_KEYS: [&str; 7] = [
    "address",
    "vs",
    "status",
    "blocked_at",
    "expires_at",
    "reason",
    "event_id",
];

pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// The names [`Env::several`] gives its fake LoadMasters, in config order.
pub const NAMES: [&str; 4] = ["a", "b", "c", "d"];

/// The rate budget of the harness's configurations: tests that are not
/// about pacing never wait for the budget (the default, 25/3s, spaces calls
/// 120 ms apart). Tests of the budget set theirs with [`Env::set_rate`].
pub const FAST_RATE: &str = "rate = \"100000/1s\"\n";

pub struct Env {
    pub dir: TempDir,
    /// The fake LoadMaster (with [`Env::several`], the first: "a").
    pub lm: FakeLoadMaster,
    /// With [`Env::several`], the others ("b", "c", …); empty otherwise.
    pub more: Vec<FakeLoadMaster>,
    pub config: PathBuf,
    pub state: PathBuf,
}

impl Env {
    /// A fake LoadMaster with a self-signed certificate, trusted via ca_file.
    pub fn new() -> Env {
        Env::with(Options::default(), "")
    }

    /// `extra` is appended to the generated config (extra sections/keys).
    pub fn with(options: Options, extra: &str) -> Env {
        let lm = FakeLoadMaster::start(options).expect("fake LoadMaster starts");
        let env = Env::around(lm, Vec::new());
        std::fs::write(env.dir.path().join("lm.pem"), env.lm.ca_pem()).unwrap();
        write_private(&env.dir.path().join("api-key"), &format!("{KEY}\n"));
        env.write_config(
            &format!(
                "ca_file = \"{}\"\n",
                env.dir.path().join("lm.pem").display()
            ),
            extra,
        );
        env
    }

    /// `n` fake LoadMasters named after [`NAMES`], each with its own port,
    /// certificate (`lm-NAME.pem`, trusted via ca_file) and API key
    /// (`api-key-NAME`, holding [`key_of`]), written as `[[loadmaster]]`
    /// tables in that order.
    pub fn several(n: usize) -> Env {
        Env::several_with(n, Options::default(), "")
    }

    /// As [`Env::several`], every fake started with `options` (but its own
    /// key); `extra` is appended to the config.
    pub fn several_with(n: usize, options: Options, extra: &str) -> Env {
        assert!((2..=NAMES.len()).contains(&n), "2 to 4 LoadMasters");
        let mut fakes = NAMES[..n].iter().map(|name| {
            FakeLoadMaster::start(Options {
                api_key: key_of(name),
                ..options.clone()
            })
            .expect("fake LoadMaster starts")
        });
        let lm = fakes.next().unwrap();
        let env = Env::around(lm, fakes.collect());
        for (name, lm) in env.fakes() {
            let dir = env.dir.path();
            std::fs::write(dir.join(format!("lm-{name}.pem")), lm.ca_pem()).unwrap();
            write_private(&dir.join(format!("api-key-{name}")), &key_of(name));
        }
        env.write_several(|name, _| env.ca_line(name), extra);
        env
    }

    fn around(lm: FakeLoadMaster, more: Vec<FakeLoadMaster>) -> Env {
        let dir = tempfile::tempdir().unwrap();
        Env {
            config: dir.path().join("lm-mitigation.toml"),
            state: dir.path().join("state").join("state.redb"),
            dir,
            lm,
            more,
        }
    }

    /// The fake LoadMasters of [`Env::several`] with their names, in config
    /// order.
    pub fn fakes(&self) -> Vec<(&'static str, &FakeLoadMaster)> {
        NAMES
            .into_iter()
            .zip(std::iter::once(&self.lm).chain(&self.more))
            .collect()
    }

    /// The fake LoadMaster named `name` (see [`Env::several`]).
    pub fn fake(&self, name: &str) -> &FakeLoadMaster {
        self.fakes()
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no fake LoadMaster {name}"))
            .1
    }

    /// The `ca_file` line that trusts fake `name`'s certificate.
    pub fn ca_line(&self, name: &str) -> String {
        let pem = self.dir.path().join(format!("lm-{name}.pem"));
        format!("ca_file = \"{}\"\n", pem.display())
    }

    /// Rewrite the config of [`Env::several`] as one `[[loadmaster]]` table
    /// per fake; `tls(name, fake)` gives each table's TLS line(s).
    pub fn write_several(&self, tls: impl Fn(&str, &FakeLoadMaster) -> String, extra: &str) {
        let mut text = String::new();
        for (name, lm) in self.fakes() {
            text.push_str(&format!(
                "[[loadmaster]]\nname = \"{name}\"\nurl = \"{url}\"\n\
                 api_key_file = \"{key}\"\n{tls}timeout = \"2s\"\n{FAST_RATE}\n",
                url = lm.url(),
                key = self.dir.path().join(format!("api-key-{name}")).display(),
                tls = tls(name, lm),
            ));
        }
        text.push_str(&self.state_section(extra));
        std::fs::write(&self.config, text).unwrap();
    }

    fn state_section(&self, extra: &str) -> String {
        format!(
            "[state]\npath = \"{}\"\nlock_timeout = \"20s\"\n\n{extra}",
            self.state.display()
        )
    }

    /// Rewrite the config; `tls` is the TLS line(s) of [loadmaster].
    pub fn write_config(&self, tls: &str, extra: &str) {
        let text = format!(
            "[loadmaster]\nurl = \"{url}\"\napi_key_file = \"{key}\"\n{tls}timeout = \"2s\"\n{FAST_RATE}\n{state}",
            url = self.lm.url(),
            key = self.dir.path().join("api-key").display(),
            state = self.state_section(extra),
        );
        std::fs::write(&self.config, text).unwrap();
    }

    /// Give every LoadMaster table the rate budget `rate` (`"25/3s"`)
    /// instead of the harness's [`FAST_RATE`].
    pub fn set_rate(&self, rate: &str) {
        let text = std::fs::read_to_string(&self.config).unwrap();
        assert!(text.contains(FAST_RATE), "{text}");
        let text = text.replace(FAST_RATE, &format!("rate = \"{rate}\"\n"));
        std::fs::write(&self.config, text).unwrap();
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("lmguard").unwrap();
        cmd.arg("--config").arg(&self.config);
        cmd.env_remove("LMGUARD_CONFIG").env_remove("RUST_LOG");
        cmd.timeout(Duration::from_secs(60));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Out {
        Out(self
            .cmd()
            .args(args)
            .write_stdin(Vec::new())
            .output()
            .unwrap())
    }

    pub fn run_stdin(&self, args: &[&str], stdin: Vec<u8>) -> Out {
        Out(self.cmd().args(args).write_stdin(stdin).output().unwrap())
    }

    /// `list --all --json`, as parsed rows.
    pub fn rows(&self) -> Vec<Value> {
        let out = self.run(&["list", "--all", "--json"]);
        assert_eq!(out.code(), 0, "{}", out.stderr());
        serde_json::from_str::<Value>(&out.stdout())
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// The row of one address (any scope), if recorded.
    pub fn row(&self, address: &str) -> Option<Value> {
        self.rows().into_iter().find(|r| r["address"] == address)
    }

    pub fn status_of(&self, address: &str) -> String {
        self.row(address)
            .map(|r| r["status"].as_str().unwrap().to_string())
            .unwrap_or_else(|| "absent".into())
    }

    /// The addresses on the fake LoadMaster's block list.
    pub fn on_lm(&self, scope: Scope) -> Vec<String> {
        addresses_on(&self.lm, scope)
    }

    /// The addresses on the block list of fake `name` (see [`Env::several`]).
    pub fn on(&self, name: &str, scope: Scope) -> Vec<String> {
        addresses_on(self.fake(name), scope)
    }

    /// The same, sorted (for comparing sets).
    pub fn on_lm_sorted(&self, scope: Scope) -> Vec<String> {
        let mut addrs = self.on_lm(scope);
        addrs.sort();
        addrs
    }

    /// How many add/delete requests named this address.
    pub fn calls_for(&self, op: &str, address: &str) -> usize {
        calls_to(&self.lm, op, address)
    }

    /// How many add/delete requests fake `name` received for this address.
    pub fn calls_on(&self, name: &str, op: &str, address: &str) -> usize {
        calls_to(self.fake(name), op, address)
    }
}

/// The key fake `name` of [`Env::several`] accepts (each its own).
pub fn key_of(name: &str) -> String {
    format!("{KEY}-{name}")
}

fn addresses_on(lm: &FakeLoadMaster, scope: Scope) -> Vec<String> {
    lm.entries(scope)
        .into_iter()
        .map(|e: Entry| e.addr)
        .collect()
}

fn calls_to(lm: &FakeLoadMaster, op: &str, address: &str) -> usize {
    lm.requests()
        .iter()
        .filter(|r| r.param(op).is_some() && r.param("addr") == Some(address))
        .count()
}

/// Write a file only its owner can read (as an API key file should be).
pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
}

pub fn ca_signed() -> Options {
    Options {
        cert: CertKind::CaSigned,
        ..Options::default()
    }
}

/// A finished run, with helpers for its output.
pub struct Out(pub Output);

impl Out {
    pub fn code(&self) -> i32 {
        self.0.status.code().expect("exited normally")
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout(), self.stderr())
    }
    /// The line of one `check` step (`✔ NAME: …`), whatever its mark.
    pub fn check_line(&self, name: &str) -> Option<String> {
        let label = format!("{name}:");
        self.stdout()
            .lines()
            .find(|l| {
                l.split_once(' ')
                    .is_some_and(|(_, rest)| rest.starts_with(&label))
            })
            .map(str::to_string)
    }
}

impl Env {
    /// Writes `entries` straight into the state database, as earlier runs
    /// would have left them.
    pub fn put_entries(&self, entries: &[lmguard::domain::entry::Entry]) {
        let store = lmguard::state::Store::open(&self.state, Duration::from_secs(5)).unwrap();
        store
            .update(|t| entries.iter().try_for_each(|e| t.put(e)))
            .unwrap();
    }

    /// Starts `lmguard ARGS` with standard input, output and error piped,
    /// for tests that drive a stream line by line.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        use std::process::Stdio;
        std::process::Command::new(assert_cmd::cargo::cargo_bin("lmguard"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("LMGUARD_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lmguard starts")
    }

    /// Waits (up to `limit`) until `address` is on the fake LoadMaster's
    /// global block list; how long it took, or `None`.
    pub fn wait_on_lm(&self, address: &str, limit: Duration) -> Option<Duration> {
        wait_on(&self.lm, address, limit)
    }

    /// The same for fake `name` (see [`Env::several`]).
    pub fn wait_on(&self, name: &str, address: &str, limit: Duration) -> Option<Duration> {
        wait_on(self.fake(name), address, limit)
    }
}

fn wait_on(lm: &FakeLoadMaster, address: &str, limit: Duration) -> Option<Duration> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if addresses_on(lm, Scope::Global).iter().any(|a| a == address) {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// Send `signal` (`-TERM`, `-INT`, …) to a running lmguard, as a daemon
/// stopping it does.
pub fn signal(child: &std::process::Child, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal} failed");
}

/// Takes the state's process lock (`<state>.lock`, `flock`) as another
/// lmguard process would, until the returned file is dropped.
pub fn hold_lock(state: &Path) -> std::fs::File {
    use std::os::fd::AsRawFd;
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(PathBuf::from(name))
        .unwrap();
    // SAFETY: flock on a file descriptor this function owns.
    let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(taken, 0, "flock: {}", std::io::Error::last_os_error());
    file
}
