//! Test harness: a fake LoadMaster on loopback, a temp dir with a config,
//! an API key file and a real redb state file, and the real `lmguard` binary.

#![allow(dead_code)]

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

pub struct Env {
    pub dir: TempDir,
    pub lm: FakeLoadMaster,
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
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lm.pem"), lm.ca_pem()).unwrap();
        write_private(&dir.path().join("api-key"), &format!("{KEY}\n"));
        let env = Env {
            config: dir.path().join("lm-mitigation.toml"),
            state: dir.path().join("state").join("state.redb"),
            dir,
            lm,
        };
        env.write_config(
            &format!(
                "ca_file = \"{}\"\n",
                env.dir.path().join("lm.pem").display()
            ),
            extra,
        );
        env
    }

    /// Rewrite the config; `tls` is the TLS line(s) of [loadmaster].
    pub fn write_config(&self, tls: &str, extra: &str) {
        let text = format!(
            "[loadmaster]\nurl = \"{url}\"\napi_key_file = \"{key}\"\n{tls}timeout = \"2s\"\n\n\
             [state]\npath = \"{state}\"\nlock_timeout = \"20s\"\n\n{extra}",
            url = self.lm.url(),
            key = self.dir.path().join("api-key").display(),
            state = self.state.display(),
        );
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
        self.lm
            .entries(scope)
            .into_iter()
            .map(|e: Entry| e.addr)
            .collect()
    }

    /// The same, sorted (for comparing sets).
    pub fn on_lm_sorted(&self, scope: Scope) -> Vec<String> {
        let mut addrs = self.on_lm(scope);
        addrs.sort();
        addrs
    }

    /// How many add/delete requests named this address.
    pub fn calls_for(&self, op: &str, address: &str) -> usize {
        self.lm
            .requests()
            .iter()
            .filter(|r| r.param(op).is_some() && r.param("addr") == Some(address))
            .count()
    }
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
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if self.on_lm(Scope::Global).iter().any(|a| a == address) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }
}
