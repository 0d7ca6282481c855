//! `bench/run` (= `cargo run --release --example bench`): lmguard's
//! benchmarks (issue 7). A fake LoadMaster serves HTTPS on 127.0.0.1 in this
//! process; the real `lmguard` binary (the one built beside this example) is
//! timed against it, each figure the median of several runs, next to a
//! floor: the same requests made by `curl`, by a minimal Rust TLS client
//! process, or by one keep-alive ureq agent. Nothing leaves loopback.
//!
//! Options: `--quick` (a tenth of the sizes), `--only 1,2,3,4,6,7,8` (some
//! scenarios), `--runs N` (runs per measurement), `--no-million` (skip the
//! 1 000 000-entry state), `--markdown PATH` (also write the table),
//! `--lmguard PATH` (the binary to time). Helper modes used as floors:
//! `--one-post URL CA BODY` (one POST from a cold process) and
//! `--keep-alive URL CA BODIES_FILE` (one keep-alive client process).
//!
//! Method, results and analysis: docs/benchmarks.md.
//!
//! `tests/bench_smoke.rs` includes this file as a module and runs every
//! scenario once at tiny sizes, so that the benchmark cannot rot.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_loadmaster::{CertKind, FakeLoadMaster, Options, Scope};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::json;

const KEY: &str = fake_loadmaster::DEFAULT_API_KEY;
const CURL: &str = "curl";
const GNU_TIME: &str = "/usr/bin/time";

// ------------------------------------------------------------------ settings

/// What to run, and how big.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The lmguard binary to time.
    pub lmguard: PathBuf,
    /// This program, for the cold Rust-client floor (`--one-post`); None
    /// skips that floor.
    pub self_exe: Option<PathBuf>,
    /// Runs of the cold single block (and of each floor).
    pub single_runs: usize,
    /// Runs of the cheap measurements (targets 2, 4', 5').
    pub runs: usize,
    /// Runs of the measurements that take seconds (targets 3, 4, 5, 6).
    pub heavy_runs: usize,
    /// Runs at the largest state size.
    pub huge_runs: usize,
    /// Events on one stdin (target 2).
    pub burst: usize,
    /// Expired blocks for sweep (target 3).
    pub sweep: usize,
    /// Blocks of one method undone by a bulk unblock, and expired blocks of
    /// the sweep it is compared with (scenario 8).
    pub bulk: usize,
    /// Entries in state / on the LoadMaster for list and sync (targets 4, 5).
    pub big: usize,
    /// A smaller size for the linearity check of list and sync.
    pub small: usize,
    /// Entries of the largest state (target 6); None = projected from `big`.
    pub huge: Option<usize>,
    /// Events per `lmguard block` run when building the largest state.
    pub huge_batch: usize,
    /// CEF lines written at once to a `block` whose stdin stays open
    /// (target 7), against a batch of as many lines.
    pub stream: usize,
    /// Lines written one per 100 ms to an open stdin (target 7t).
    pub trickle: usize,
    /// Print progress on stderr.
    pub verbose: bool,
    /// Scenarios to run (1 single block, 2 burst, 3 sweep, 4 list and
    /// sync, 6 the largest state, 7 streams, 8 bulk unblock); empty = all.
    pub only: Vec<u8>,
}

impl Settings {
    fn wants(&self, scenario: u8) -> bool {
        self.only.is_empty() || self.only.contains(&scenario)
    }
}

impl Settings {
    /// The full benchmark (issue 7's sizes).
    pub fn full(lmguard: PathBuf) -> Settings {
        Settings {
            lmguard,
            self_exe: None,
            single_runs: 15,
            runs: 7,
            heavy_runs: 5,
            huge_runs: 3,
            burst: 1_000,
            sweep: 10_000,
            bulk: 5_000,
            big: 100_000,
            small: 10_000,
            huge: Some(1_000_000),
            huge_batch: 100_000,
            stream: 10_000,
            trickle: 30,
            verbose: true,
            only: Vec::new(),
        }
    }

    /// A tenth of the sizes, fewer runs: a first look in well under a minute.
    pub fn quick(lmguard: PathBuf) -> Settings {
        Settings {
            single_runs: 5,
            runs: 3,
            heavy_runs: 3,
            huge_runs: 2,
            burst: 200,
            sweep: 1_000,
            bulk: 1_000,
            big: 10_000,
            small: 1_000,
            huge: Some(100_000),
            huge_batch: 50_000,
            stream: 2_000,
            trickle: 10,
            ..Settings::full(lmguard)
        }
    }

    /// Tiny sizes: every scenario runs, in seconds (the CI smoke test).
    pub fn smoke(lmguard: PathBuf) -> Settings {
        Settings {
            lmguard,
            self_exe: None,
            single_runs: 2,
            runs: 1,
            heavy_runs: 1,
            huge_runs: 1,
            burst: 40,
            sweep: 60,
            bulk: 60,
            big: 400,
            small: 100,
            huge: Some(800),
            huge_batch: 300,
            stream: 50,
            trickle: 3,
            verbose: false,
            only: Vec::new(),
        }
    }
}

// ------------------------------------------------------------------ results

/// Durations of several runs of one thing.
#[derive(Clone, Debug, Default)]
pub struct Stat {
    pub samples: Vec<Duration>,
}

impl Stat {
    fn push(&mut self, d: Duration) {
        self.samples.push(d);
    }
    fn sorted(&self) -> Vec<Duration> {
        let mut s = self.samples.clone();
        s.sort();
        s
    }
    pub fn median(&self) -> Duration {
        let s = self.sorted();
        match s.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => s[n / 2],
            n => (s[n / 2 - 1] + s[n / 2]) / 2,
        }
    }
    pub fn min(&self) -> Duration {
        self.sorted().first().copied().unwrap_or_default()
    }
    pub fn max(&self) -> Duration {
        self.sorted().last().copied().unwrap_or_default()
    }
    fn spread(&self) -> String {
        format!(
            "{}–{} n={}",
            ms(self.min()),
            ms(self.max()),
            self.samples.len()
        )
    }
}

/// One line of the result table.
#[derive(Clone, Debug)]
pub struct Row {
    pub id: String,
    pub what: String,
    /// lmguard's median (or the measured quantity).
    pub value: String,
    /// min–max and n.
    pub spread: String,
    /// Name and median of the floor.
    pub floor: String,
    /// value / floor.
    pub ratio: Option<f64>,
    pub target: String,
    pub met: Option<bool>,
}

impl Row {
    fn info(id: &str, what: impl Into<String>, value: impl Into<String>) -> Row {
        Row {
            id: id.into(),
            what: what.into(),
            value: value.into(),
            spread: String::new(),
            floor: String::new(),
            ratio: None,
            target: String::new(),
            met: None,
        }
    }

    fn timed(id: &str, what: impl Into<String>, stat: &Stat) -> Row {
        Row {
            spread: stat.spread(),
            ..Row::info(id, what, ms(stat.median()))
        }
    }

    /// lmguard against a floor, with a target ratio.
    fn against(
        id: &str,
        what: impl Into<String>,
        stat: &Stat,
        floor_name: &str,
        floor: &Stat,
        max_ratio: Option<f64>,
    ) -> Row {
        let ratio = ratio(stat.median(), floor.median());
        Row {
            floor: format!("{floor_name} {} ({})", ms(floor.median()), floor.spread()),
            ratio: Some(ratio),
            target: max_ratio.map_or(String::new(), |r| format!("≤ {r}×")),
            met: max_ratio.map(|r| ratio <= r),
            ..Row::timed(id, what, stat)
        }
    }

    /// An absolute time target.
    fn within(id: &str, what: impl Into<String>, stat: &Stat, limit: Duration) -> Row {
        Row {
            target: format!("< {}", ms(limit)),
            met: Some(stat.median() < limit),
            ..Row::timed(id, what, stat)
        }
    }
}

/// Everything a run of the benchmark found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub machine: Vec<String>,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    pub elapsed: Duration,
}

impl Report {
    /// The table (Markdown, also readable as plain text).
    pub fn table(&self) -> String {
        let mut out = String::new();
        for line in &self.machine {
            let _ = writeln!(out, "{line}  ");
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| # | measurement | lmguard (median) | lmguard min–max | floor (median, min–max) | ratio | target | met |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r.id,
                r.what,
                r.value,
                r.spread,
                r.floor,
                r.ratio.map_or(String::new(), |x| format!("{x:.2}×")),
                r.target,
                match r.met {
                    Some(true) => "yes",
                    Some(false) => "**NO**",
                    None => "",
                }
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out);
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        let _ = writeln!(
            out,
            "\nbenchmark wall time: {:.0} s",
            self.elapsed.as_secs_f64()
        );
        out
    }
}

fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1e3;
    if m >= 1000.0 {
        format!("{:.2} s", m / 1e3)
    } else if m >= 100.0 {
        format!("{m:.0} ms")
    } else {
        format!("{m:.1} ms")
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub type Res<T> = Result<T, String>;

// ------------------------------------------------------------------ addresses and events

/// Fresh unicast IPv4 addresses in 10.0.0.0/8 (nothing lmguard protects on
/// this host), never the same twice in one benchmark.
struct Addrs {
    next: u32,
}

impl Addrs {
    fn new() -> Addrs {
        Addrs { next: 0 }
    }
    fn take(&mut self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let i = self.next;
                self.next += 1;
                // 254 hosts (.1–.254) per /24.
                let host = i % 254 + 1;
                let net = i / 254;
                format!("10.{}.{}.{}", (net >> 8) & 255, net & 255, host)
            })
            .collect()
    }
}

/// Flowmon ADS events (tab-separated, the custom-script format), one per
/// address; event ids start at `first_id`.
fn events_tsv(addrs: &[String], first_id: u64) -> Vec<u8> {
    let mut out = String::with_capacity(addrs.len() * 150);
    for (i, a) in addrs.iter().enumerate() {
        let _ = writeln!(
            out,
            "{id}\t2026-11-24 10:13:00\t \tSCANS\tPort scanning\t \t \tSecurity Issues\tHigh\t\
             TCP SYN scan of 1024 ports\t \t \t{a}\t \t198.51.100.4\tLAN",
            id = first_id + i as u64
        );
    }
    out.into_bytes()
}

/// The same events as ADS sends them by syslog (CEF, with a syslog header).
fn events_cef(addrs: &[String]) -> Vec<u8> {
    let mut out = String::with_capacity(addrs.len() * 250);
    for a in addrs {
        let _ = writeln!(
            out,
            "Nov 24 10:13:00 ads ADS[4242]: CEF:0|Flowmon Networks|Flowmon ADS Ultimate|\
             13.00.00|SCANS|Port scanning|8|src={a} start=Nov 24 2026 10:13:00 msg=TCP SYN \
             scan of 1024 ports cs2=Default cs2Label=MethodInstanceName"
        );
    }
    out.into_bytes()
}

/// The comment lmguard puts on an ADS block (see `commands::comment_for`).
fn ads_comment(id: u64) -> String {
    format!("lmguard ADS {id} SCANS")
}

fn add_body(addr: &str, comment: &str) -> String {
    json!({"cmd":"aclcontrol","add":"block","addr":addr,"comment":comment,"apikey":KEY}).to_string()
}

fn del_body(addr: &str) -> String {
    json!({"cmd":"aclcontrol","del":"block","addr":addr,"apikey":KEY}).to_string()
}

fn list_body() -> String {
    json!({"cmd":"aclcontrol","list":"block","apikey":KEY}).to_string()
}

// ------------------------------------------------------------------ the floor clients

fn tls_config(ca_pem: &str) -> Res<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("CA PEM: {e}"))?;
        roots.add(cert).map_err(|e| format!("CA PEM: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// One keep-alive HTTPS client (ureq agent, rustls, TCP_NODELAY): the
/// floor for bulk work.
struct KeepAlive {
    agent: ureq::Agent,
    url: String,
}

impl KeepAlive {
    fn new(url: &str, ca_pem: &str) -> Res<KeepAlive> {
        let agent = ureq::AgentBuilder::new()
            .tls_config(tls_config(ca_pem)?)
            .no_delay(true)
            .timeout(Duration::from_secs(30))
            .build();
        Ok(KeepAlive {
            agent,
            url: format!("{url}/accessv2"),
        })
    }

    /// POST one body; the answer's text (an error unless it is a success).
    fn post(&self, body: &str) -> Res<String> {
        let resp = self
            .agent
            .post(&self.url)
            .set("Content-Type", "application/json")
            .send_string(body)
            .map_err(|e| format!("floor request failed: {e}"))?;
        let mut text = String::new();
        resp.into_reader()
            .read_to_string(&mut text)
            .map_err(|e| e.to_string())?;
        if !text.contains("\"ok\"") {
            return Err(format!("floor request refused: {text}"));
        }
        Ok(text)
    }
}

/// Time a fresh keep-alive client making all these requests (connection
/// set-up included).
fn floor_requests(lm: &FakeLoadMaster, bodies: &[String]) -> Res<Duration> {
    let start = Instant::now();
    let client = KeepAlive::new(&lm.url(), &lm.ca_pem())?;
    for b in bodies {
        client.post(b)?;
    }
    Ok(start.elapsed())
}

/// `bench --keep-alive URL CA_FILE BODIES_FILE`: one keep-alive client
/// process making one POST per line of BODIES_FILE (the floor of bulk work
/// as a process of its own, like lmguard).
fn keep_alive_process(args: &[String]) -> Res<()> {
    let [url, ca, bodies] = args else {
        return Err("--keep-alive URL CA_FILE BODIES_FILE".into());
    };
    let pem = std::fs::read_to_string(ca).map_err(|e| e.to_string())?;
    let bodies = std::fs::read_to_string(bodies).map_err(|e| e.to_string())?;
    let client = KeepAlive::new(url, &pem)?;
    for b in bodies.lines() {
        client.post(b)?;
    }
    Ok(())
}

/// `bench --one-post URL CA_FILE BODY`: one TLS POST from a fresh process,
/// the floor of a cold Rust client with lmguard's TLS stack (ureq + rustls).
fn one_post(args: &[String]) -> Res<()> {
    let [url, ca, body] = args else {
        return Err("--one-post URL CA_FILE BODY".into());
    };
    let pem = std::fs::read_to_string(ca).map_err(|e| e.to_string())?;
    KeepAlive::new(url, &pem)?.post(body).map(|_| ())
}

// ------------------------------------------------------------------ lmguard runs

/// A configuration and a state database of its own, against one fake
/// LoadMaster.
struct Site {
    dir: tempfile::TempDir,
    config: PathBuf,
    state: PathBuf,
    ca: PathBuf,
}

impl Site {
    fn new(lm: &FakeLoadMaster) -> Res<Site> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let ca = dir.path().join("loadmaster.pem");
        let key = dir.path().join("api-key");
        let config = dir.path().join("lm-mitigation.toml");
        let state = dir.path().join("state").join("state.redb");
        std::fs::write(&ca, lm.ca_pem()).map_err(|e| e.to_string())?;
        write_private(&key, format!("{KEY}\n").as_bytes())?;
        std::fs::write(
            &config,
            format!(
                "[loadmaster]\nurl = \"{url}\"\napi_key_file = \"{key}\"\nca_file = \"{ca}\"\n\
                 timeout = \"30s\"\n\n[block]\nduration = \"75h\"\nmax_active = 10000000\n\n\
                 [state]\npath = \"{state}\"\nlock_timeout = \"60s\"\n",
                url = lm.url(),
                key = key.display(),
                ca = ca.display(),
                state = state.display(),
            ),
        )
        .map_err(|e| e.to_string())?;
        Ok(Site {
            dir,
            config,
            state,
            ca,
        })
    }

    /// Another configuration file for the same LoadMaster and state, with
    /// `block_lines` added to its `[block]` table.
    fn variant(&self, name: &str, block_lines: &str) -> Res<PathBuf> {
        let text = std::fs::read_to_string(&self.config).map_err(|e| e.to_string())?;
        let text = text.replacen("[block]\n", &format!("[block]\n{block_lines}\n"), 1);
        self.write(name, text.as_bytes())
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write `bytes` to a file of this site (an events file for stdin).
    fn write(&self, name: &str, bytes: &[u8]) -> Res<PathBuf> {
        let p = self.file(name);
        std::fs::write(&p, bytes).map_err(|e| e.to_string())?;
        Ok(p)
    }
}

/// One finished lmguard run.
struct Ran {
    wall: Duration,
    rss_kib: Option<u64>,
    stdout: PathBuf,
}

impl Ran {
    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }
    fn last_line(&self) -> String {
        let f = match File::open(&self.stdout) {
            Ok(f) => f,
            Err(_) => return String::new(),
        };
        BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter(|l| !l.trim().is_empty())
            .last()
            .unwrap_or_default()
    }
}

struct Bench {
    settings: Settings,
    gnu_time: bool,
    curl: bool,
    addrs: Addrs,
    next_event: u64,
}

impl Bench {
    fn say(&self, text: &str) {
        if self.settings.verbose {
            eprintln!("bench: {text}");
        }
    }

    fn events(&mut self, n: usize) -> (Vec<String>, u64) {
        let first = self.next_event;
        self.next_event += n as u64;
        (self.addrs.take(n), first)
    }

    /// Run lmguard with `args` (stdin from a file, or empty); stdout goes to
    /// a file. With `rss`, it runs under GNU time to learn its peak RSS
    /// (that adds a fork+exec of `time`, well under a millisecond). An exit
    /// status other than those in `ok` is an error.
    fn lmguard(
        &self,
        site: &Site,
        args: &[&str],
        stdin: Option<&Path>,
        rss: bool,
        ok: &[i32],
    ) -> Res<Ran> {
        self.lmguard_with(site, &site.config, args, stdin, rss, ok)
    }

    /// As [`lmguard`](Self::lmguard) with another configuration file.
    fn lmguard_with(
        &self,
        site: &Site,
        config: &Path,
        args: &[&str],
        stdin: Option<&Path>,
        rss: bool,
        ok: &[i32],
    ) -> Res<Ran> {
        let rss = rss && self.gnu_time;
        let rss_file = site.file("rss.txt");
        let stdout = site.file("stdout.txt");
        let stderr = site.file("stderr.txt");
        let mut cmd = if rss {
            let mut c = Command::new(GNU_TIME);
            c.arg("-f").arg("%M").arg("-o").arg(&rss_file);
            c.arg(&self.settings.lmguard);
            c
        } else {
            Command::new(&self.settings.lmguard)
        };
        cmd.arg("--config").arg(config).args(args);
        cmd.env_remove("LMGUARD_CONFIG").env_remove("RUST_LOG");
        cmd.stdin(match stdin {
            Some(p) => Stdio::from(File::open(p).map_err(|e| e.to_string())?),
            None => Stdio::null(),
        });
        cmd.stdout(Stdio::from(
            File::create(&stdout).map_err(|e| e.to_string())?,
        ));
        cmd.stderr(Stdio::from(
            File::create(&stderr).map_err(|e| e.to_string())?,
        ));
        let start = Instant::now();
        let status = cmd
            .status()
            .map_err(|e| format!("cannot run {}: {e}", self.settings.lmguard.display()))?;
        let wall = start.elapsed();
        check_exit(status, ok, || {
            format!(
                "lmguard {} failed ({status}): {}",
                args.join(" "),
                std::fs::read_to_string(&stderr).unwrap_or_default()
            )
        })?;
        let rss_kib = if rss {
            std::fs::read_to_string(&rss_file)
                .ok()
                .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()))
        } else {
            None
        };
        Ok(Ran {
            wall,
            rss_kib,
            stdout,
        })
    }

    /// Create the site's state database (one block), untimed.
    fn warm(&mut self, site: &Site) -> Res<()> {
        let addr = self.addrs.take(1).remove(0);
        self.lmguard(site, &["block", &addr], None, false, &[0])
            .map(|_| ())
    }

    /// `lmguard block` of `n` fresh events on one stdin; the run and the
    /// addresses. Checks that all were blocked.
    fn block_events(
        &mut self,
        lm_site: &Site,
        n: usize,
        extra: &[&str],
        rss: bool,
    ) -> Res<(Ran, Vec<String>, u64)> {
        let (addrs, first) = self.events(n);
        let input = lm_site.write("events.tsv", &events_tsv(&addrs, first))?;
        let mut args = vec!["block"];
        args.extend_from_slice(extra);
        let ran = self.lmguard(lm_site, &args, Some(&input), rss, &[0])?;
        let summary = ran.last_line();
        if !summary.starts_with(&format!("blocked {n},")) {
            return Err(format!(
                "block of {n} events: unexpected summary {summary:?}"
            ));
        }
        Ok((ran, addrs, first))
    }
}

/// A `block --input cef` whose standard input stays open (as under
/// rsyslog's omprog), started on `site`.
struct Stream {
    child: std::process::Child,
}

impl Stream {
    fn start(bench: &Bench, site: &Site) -> Res<Stream> {
        let child = Command::new(&bench.settings.lmguard)
            .arg("--config")
            .arg(&site.config)
            .args(["block", "--input", "cef"])
            .env_remove("LMGUARD_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                File::create(site.file("stream-stderr.txt")).map_err(|e| e.to_string())?,
            ))
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bench.settings.lmguard.display()))?;
        Ok(Stream { child })
    }

    fn write(&mut self, bytes: &[u8]) -> Res<()> {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().ok_or("stdin closed")?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("writing to lmguard: {e}"))
    }

    /// Closes standard input and waits for the exit (status 0 expected).
    fn finish(mut self) -> Res<()> {
        drop(self.child.stdin.take());
        let status = self.child.wait().map_err(|e| e.to_string())?;
        check_exit(status, &[0], || format!("the stream block exited {status}"))
    }
}

/// Waits until the fake holds `n` entries in the global list (polling every
/// millisecond); the time it took from `since`.
fn wait_for_entries(
    lm: &FakeLoadMaster,
    n: usize,
    since: Instant,
    limit: Duration,
) -> Res<Duration> {
    loop {
        if lm.entries(Scope::Global).len() >= n {
            return Ok(since.elapsed());
        }
        if since.elapsed() > limit {
            return Err(format!(
                "only {} of {n} entries on the LoadMaster after {}",
                lm.entries(Scope::Global).len(),
                ms(limit)
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn check_exit(status: ExitStatus, ok: &[i32], msg: impl FnOnce() -> String) -> Res<()> {
    match status.code() {
        Some(c) if ok.contains(&c) => Ok(()),
        _ => Err(msg()),
    }
}

/// Write a file only its owner may read (lmguard warns about a key file
/// that others can read).
fn write_private(path: &Path, bytes: &[u8]) -> Res<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    std::io::Write::write_all(&mut f, bytes).map_err(|e| e.to_string())
}

fn start_fake() -> Res<FakeLoadMaster> {
    FakeLoadMaster::start(Options {
        cert: CertKind::CaSigned,
        record_requests: false,
        ..Options::default()
    })
    .map_err(|e| format!("cannot start the fake LoadMaster: {e}"))
}

fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

// ------------------------------------------------------------------ scenarios

/// Run every scenario; the report (also printed progressively with
/// `settings.verbose`).
pub fn run_all(settings: &Settings) -> Res<Report> {
    let started = Instant::now();
    let mut bench = Bench {
        gnu_time: Path::new(GNU_TIME).exists(),
        curl: have(CURL, "--version"),
        settings: settings.clone(),
        addrs: Addrs::new(),
        next_event: 100_000_000,
    };
    let mut report = Report {
        machine: machine(),
        ..Report::default()
    };
    if !bench.curl {
        report
            .notes
            .push("curl not found: target 1 uses the cold Rust client as its floor".into());
    }
    if !bench.gnu_time {
        report.notes.push(format!(
            "{GNU_TIME} not found (apt-get install time): peak RSS not measured"
        ));
    }

    if settings.wants(1) {
        single_block(&mut bench, &mut report)?;
    }
    if settings.wants(2) {
        burst(&mut bench, &mut report)?;
    }
    if settings.wants(3) {
        sweep(&mut bench, &mut report)?;
    }
    if settings.wants(4) || settings.wants(5) {
        big_state(&mut bench, &mut report)?;
    }
    if settings.wants(6) {
        huge_state(&mut bench, &mut report)?;
    }
    if settings.wants(7) {
        streams(&mut bench, &mut report)?;
    }
    if settings.wants(8) {
        bulk_unblock(&mut bench, &mut report)?;
    }

    report
        .machine
        .push(format!("load average at the end: {}", loadavg()));
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Target 1: `block ADDR` from a cold process vs one curl POST (and one
/// cold Rust ureq/rustls POST) of the same request.
fn single_block(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let runs = bench.settings.single_runs;
    bench.say(&format!("1: single block, {runs} runs each, interleaved"));
    let lm = start_fake()?;
    let site = Site::new(&lm)?;
    // Warm-up (creates the state database, pages the binaries in).
    let (mut lmg, mut curl, mut rust) = (Stat::default(), Stat::default(), Stat::default());
    let mut rss = None;
    for i in 0..=runs {
        let addr = bench.addrs.take(1).remove(0);
        let ran = bench.lmguard(
            &site,
            &["block", &addr, "--reason", "bench"],
            None,
            false,
            &[0],
        )?;
        if !ran.stdout().starts_with("blocked ") {
            return Err(format!("block {addr}: {}", ran.stdout()));
        }
        if bench.curl {
            let addr = bench.addrs.take(1).remove(0);
            let body = add_body(&addr, "lmguard manual");
            let t = curl_post(&lm.url(), &site.ca, &body)?;
            if i > 0 {
                curl.push(t);
            }
        }
        if let Some(exe) = &bench.settings.self_exe {
            let addr = bench.addrs.take(1).remove(0);
            let body = add_body(&addr, "lmguard manual");
            let start = Instant::now();
            let status = Command::new(exe)
                .arg("--one-post")
                .arg(lm.url())
                .arg(&site.ca)
                .arg(&body)
                .status()
                .map_err(|e| e.to_string())?;
            let t = start.elapsed();
            check_exit(status, &[0], || "the cold Rust client failed".into())?;
            if i > 0 {
                rust.push(t);
            }
        }
        if i > 0 {
            lmg.push(ran.wall);
        }
    }
    if bench.gnu_time {
        let addr = bench.addrs.take(1).remove(0);
        rss = bench
            .lmguard(&site, &["block", &addr], None, true, &[0])?
            .rss_kib;
    }
    let what = "block 1 address, cold process (start → LM ack → state committed)";
    if bench.curl {
        report
            .rows
            .push(Row::against("1", what, &lmg, "curl", &curl, Some(1.2)));
        if !rust.samples.is_empty() {
            report.rows.push(Row::against(
                "1b",
                "same, vs a cold Rust ureq+rustls client process (one POST)",
                &lmg,
                "rust-client",
                &rust,
                Some(2.0),
            ));
        }
    } else if !rust.samples.is_empty() {
        report.rows.push(Row::against(
            "1",
            what,
            &lmg,
            "rust-client",
            &rust,
            Some(1.2),
        ));
    } else {
        report.rows.push(Row::timed("1", what, &lmg));
    }
    if let Some(k) = rss {
        report
            .rows
            .push(Row::info("1r", "peak RSS, block 1 address", mib(k)));
    }
    Ok(())
}

/// One curl POST from a cold process; checks the answer is a success.
fn curl_post(url: &str, ca: &Path, body: &str) -> Res<Duration> {
    let start = Instant::now();
    let out = Command::new(CURL)
        .args(["-sS", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg("--cacert")
        .arg(ca)
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(body)
        .arg(format!("{url}/accessv2"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run curl: {e}"))?;
    let t = start.elapsed();
    let code = String::from_utf8_lossy(&out.stdout);
    if code.trim() != "200" {
        return Err(format!(
            "curl answered {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(t)
}

/// Target 2: N ADS events on one stdin vs one keep-alive client making the
/// same N requests.
fn burst(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let n = bench.settings.burst;
    let runs = bench.settings.runs;
    bench.say(&format!("2: {n} events on one stdin, {runs} runs"));
    let lm = start_fake()?;
    let (mut lmg, mut floor) = (Stat::default(), Stat::default());
    let mut rss = 0;
    for i in 0..=runs {
        // A state database that exists already, as on a running system.
        let site = Site::new(&lm)?;
        bench.warm(&site)?;
        let (ran, _, _) = bench.block_events(&site, n, &[], true)?;
        rss = rss.max(ran.rss_kib.unwrap_or(0));
        let (addrs, first) = bench.events(n);
        let bodies: Vec<String> = addrs
            .iter()
            .enumerate()
            .map(|(k, a)| add_body(a, &ads_comment(first + k as u64)))
            .collect();
        let f = floor_requests(&lm, &bodies)?;
        if i > 0 {
            lmg.push(ran.wall);
            floor.push(f);
        }
        lm.clear_lists();
    }
    report.rows.push(Row::against(
        "2",
        format!("block, {n} ADS events on one stdin"),
        &lmg,
        "keep-alive",
        &floor,
        Some(1.5),
    ));
    if rss > 0 {
        report
            .rows
            .push(Row::info("2r", format!("peak RSS, {n} events"), mib(rss)));
    }
    Ok(())
}

/// Target 7: streams. (a) N CEF lines written at once to a `block` whose
/// standard input stays open, timed from the write until the LoadMaster
/// holds them all, against `block < file` of the same N CEF lines (the
/// one-shot batch, process start to exit). (b) One line every 100 ms: the
/// time from each write until its address is on the LoadMaster.
fn streams(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let n = bench.settings.stream;
    let runs = bench.settings.heavy_runs;
    bench.say(&format!(
        "7: {n} CEF lines at once on an open stdin vs a {n}-line batch, {runs} runs each"
    ));
    let (mut stream, mut batch) = (Stat::default(), Stat::default());
    for i in 0..=runs {
        // The batch: a fresh LoadMaster and state, block < file.
        let lm = start_fake()?;
        let site = Site::new(&lm)?;
        bench.warm(&site)?;
        let addrs = bench.addrs.take(n);
        let input = site.write("events.cef", &events_cef(&addrs))?;
        let ran = bench.lmguard(
            &site,
            &["block", "--input", "cef"],
            Some(&input),
            false,
            &[0],
        )?;
        if lm.entries(Scope::Global).len() != n + 1 {
            return Err(format!(
                "the {n}-line batch left {} entries",
                lm.entries(Scope::Global).len()
            ));
        }
        drop(site);
        drop(lm);

        // The stream: the same, but written at once to a running block.
        let lm = start_fake()?;
        let site = Site::new(&lm)?;
        bench.warm(&site)?;
        let mut child = Stream::start(bench, &site)?;
        // Let it start up (that is not what is measured here).
        std::thread::sleep(Duration::from_millis(300));
        let lines = events_cef(&bench.addrs.take(n));
        let start = Instant::now();
        child.write(&lines)?;
        let took = wait_for_entries(&lm, n + 1, start, Duration::from_secs(600))?;
        child.finish()?;
        if i > 0 {
            batch.push(ran.wall);
            stream.push(took);
        }
    }
    report.rows.push(Row::against(
        "7",
        format!("{n} CEF lines at once on an open stdin: write → all on the LM"),
        &stream,
        &format!("batch of {n} (block < file)"),
        &batch,
        Some(1.2),
    ));

    let k = bench.settings.trickle;
    bench.say(&format!(
        "7t: {k} CEF lines, one per 100 ms, on an open stdin"
    ));
    let lm = start_fake()?;
    let site = Site::new(&lm)?;
    bench.warm(&site)?;
    let mut child = Stream::start(bench, &site)?;
    std::thread::sleep(Duration::from_millis(300));
    let mut latency = Stat::default();
    let next = Instant::now();
    for (j, addr) in bench.addrs.take(k).iter().enumerate() {
        let due = next + Duration::from_millis(100 * j as u64);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let start = Instant::now();
        child.write(&events_cef(std::slice::from_ref(addr)))?;
        latency.push(wait_for_entries(
            &lm,
            j + 2,
            start,
            Duration::from_secs(60),
        )?);
    }
    child.finish()?;
    let limit = Duration::from_secs(1);
    report.rows.push(Row {
        target: format!("max < {}", ms(limit)),
        met: Some(latency.max() < limit),
        ..Row::timed(
            "7t",
            format!("one CEF line per 100 ms ({k} lines): write → on the LM"),
            &latency,
        )
    });
    Ok(())
}

/// Target 3: sweep of N expired blocks vs a keep-alive client making the
/// same N deletes. Every run, and every floor run, has a fake LoadMaster of
/// its own holding exactly those N entries, and the floor deletes them in
/// the order lmguard does (its state key order): the fake's delete costs
/// time proportional to the list length and position, so both sides must
/// see the same list.
fn sweep(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let n = bench.settings.sweep;
    let runs = bench.settings.heavy_runs;
    bench.say(&format!(
        "3: sweep of {n} expired blocks, {runs} runs (blocking {n} events with --duration 1s per run)"
    ));
    let mut sites = Vec::new();
    let mut setup = Stat::default();
    for _ in 0..runs {
        let lm = start_fake()?;
        let site = Site::new(&lm)?;
        bench.warm(&site)?;
        let (ran, _, _) = bench.block_events(&site, n, &["--duration", "1s"], false)?;
        setup.push(ran.wall);
        sites.push((lm, site));
    }
    std::thread::sleep(Duration::from_millis(2_100));
    let (mut lmg, mut floor) = (Stat::default(), Stat::default());
    let mut rss = 0;
    for (lm, site) in &sites {
        let ran = bench.lmguard(site, &["sweep"], None, true, &[0])?;
        let summary = ran.last_line();
        if !summary.starts_with(&format!("expired {n} of {n} due")) {
            return Err(format!("sweep: unexpected summary {summary:?}"));
        }
        // The warm-up block is still there, not yet expired.
        if lm.entries(Scope::Global).len() != 1 {
            return Err("sweep left entries on the LoadMaster".into());
        }
        rss = rss.max(ran.rss_kib.unwrap_or(0));
        lmg.push(ran.wall);
        let floor_lm = start_fake()?;
        let mut addrs = bench.addrs.take(n);
        floor_lm.insert_entry(Scope::Global, &bench.addrs.take(1)[0], "lmguard manual");
        for a in &addrs {
            floor_lm.insert_entry(Scope::Global, a, "lmguard ADS 1 SCANS");
        }
        addrs.sort();
        let bodies: Vec<String> = addrs.iter().map(|a| del_body(a)).collect();
        floor.push(floor_requests(&floor_lm, &bodies)?);
    }
    report.rows.push(Row::against(
        "3",
        format!("sweep, {n} expired blocks"),
        &lmg,
        "keep-alive",
        &floor,
        Some(1.5),
    ));
    report.rows.push(Row::timed(
        "3s",
        format!("(set-up) block, {n} events on one stdin, --duration 1s"),
        &setup,
    ));
    if rss > 0 {
        report
            .rows
            .push(Row::info("3r", format!("peak RSS, sweep of {n}"), mib(rss)));
    }
    Ok(())
}

/// Scenario 8 (issue 18): `unblock --method SCANS --yes` of N blocks vs a
/// `sweep` of N expired blocks — the same N deletes, so the bulk unblock
/// must run at sweep's bulk speed (target ≤ 1.5×). Each run has two fake
/// LoadMasters of its own, one per side, each holding N + 1 entries; the
/// two sides run one after the other, so that they share the machine's
/// load of the moment.
fn bulk_unblock(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let n = bench.settings.bulk;
    let runs = bench.settings.heavy_runs;
    bench.say(&format!(
        "8: unblock --method of {n} blocks vs sweep of {n} expired blocks, {runs} runs"
    ));
    let (mut unblock, mut sweep) = (Stat::default(), Stat::default());
    for _ in 0..runs {
        let sweep_lm = start_fake()?;
        let sweep_site = Site::new(&sweep_lm)?;
        bench.warm(&sweep_site)?;
        bench.block_events(&sweep_site, n, &["--duration", "1s"], false)?;
        let unblock_lm = start_fake()?;
        let unblock_site = Site::new(&unblock_lm)?;
        bench.warm(&unblock_site)?;
        bench.block_events(&unblock_site, n, &[], false)?;
        std::thread::sleep(Duration::from_millis(1_100));

        let ran = bench.lmguard(&sweep_site, &["sweep"], None, false, &[0])?;
        if !ran
            .last_line()
            .starts_with(&format!("expired {n} of {n} due"))
        {
            return Err(format!("sweep: unexpected summary {:?}", ran.last_line()));
        }
        sweep.push(ran.wall);

        let args = ["unblock", "--method", "SCANS", "--yes"];
        let ran = bench.lmguard(&unblock_site, &args, None, false, &[0])?;
        let summary = ran.last_line();
        if !summary.starts_with(&format!("unblocked {n}, pending 0,")) {
            return Err(format!("bulk unblock: unexpected summary {summary:?}"));
        }
        // The warm-up block (a manual one, not SCANS) is still there.
        if unblock_lm.entries(Scope::Global).len() != 1 {
            return Err("bulk unblock left entries on the LoadMaster".into());
        }
        unblock.push(ran.wall);
    }
    report.rows.push(Row::against(
        "8",
        format!("unblock --method, {n} blocks"),
        &unblock,
        "sweep of as many",
        &sweep,
        Some(1.5),
    ));
    Ok(())
}

/// The first `sweep` of a state of `n` active entries: its allowlist pass
/// reads every active block, as after each change of the allowlist (later
/// sweeps skip that pass until the next change).
fn first_sweep(bench: &Bench, report: &mut Report, site: &Site, id: &str, n: usize) -> Res<()> {
    let mut first = Stat::default();
    first.push(bench.lmguard(site, &["sweep"], None, false, &[0])?.wall);
    report.rows.push(Row::timed(
        id,
        format!("sweep after an allowlist change (reads every active block), {n} entries"),
        &first,
    ));
    Ok(())
}

/// Targets 4 and 5 (and 6 at the big size): list, list --json and sync
/// against a state of `big` active entries that the LoadMaster also holds;
/// the same at `small` for linearity.
fn big_state(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let mut per_entry: Vec<(usize, Duration, Duration, Duration)> = Vec::new();
    for (n, full) in [(bench.settings.small, false), (bench.settings.big, true)] {
        bench.say(&format!(
            "4/5/7: state and LoadMaster list of {n} entries (built by one `lmguard block`)"
        ));
        let runs = if full {
            bench.settings.heavy_runs
        } else {
            bench.settings.runs
        };
        let lm = start_fake()?;
        let site = Site::new(&lm)?;
        let (built, _, _) = bench.block_events(&site, n, &[], full)?;
        if lm.entries(Scope::Global).len() != n {
            return Err(format!(
                "the LoadMaster holds {} entries, not {n}",
                lm.entries(Scope::Global).len()
            ));
        }
        let (mut table, mut json, mut sync, mut fetch, mut stats) = (
            Stat::default(),
            Stat::default(),
            Stat::default(),
            Stat::default(),
            Stat::default(),
        );
        let (mut rss_table, mut rss_json, mut rss_sync) = (0, 0, 0);
        for i in 0..=runs {
            let ran = bench.lmguard(&site, &["list"], None, full, &[0])?;
            rss_table = rss_table.max(ran.rss_kib.unwrap_or(0));
            if i == 0 {
                let lines = BufReader::new(File::open(&ran.stdout).map_err(|e| e.to_string())?)
                    .lines()
                    .count();
                if lines < n + 1 {
                    return Err(format!("list printed {lines} lines for {n} entries"));
                }
            } else {
                table.push(ran.wall);
            }
            let ran = bench.lmguard(&site, &["list", "--json"], None, full, &[0])?;
            rss_json = rss_json.max(ran.rss_kib.unwrap_or(0));
            if i == 0 {
                let rows: Vec<serde_json::Value> = serde_json::from_reader(BufReader::new(
                    File::open(&ran.stdout).map_err(|e| e.to_string())?,
                ))
                .map_err(|e| format!("list --json is not a JSON array: {e}"))?;
                if rows.len() != n {
                    return Err(format!("list --json gave {} rows for {n}", rows.len()));
                }
            } else {
                json.push(ran.wall);
            }
            let ran = bench.lmguard(&site, &["sync"], None, full, &[0])?;
            rss_sync = rss_sync.max(ran.rss_kib.unwrap_or(0));
            if i == 0 {
                let out = ran.stdout();
                if !out.contains("agree") {
                    return Err(format!(
                        "sync found differences: {}",
                        out.lines().next().unwrap_or("")
                    ));
                }
            } else {
                sync.push(ran.wall);
            }
            let ran = bench.lmguard(&site, &["stats", "--json"], None, false, &[0])?;
            if i == 0 {
                let figures: serde_json::Value = serde_json::from_str(&ran.stdout())
                    .map_err(|e| format!("stats --json is not one JSON object: {e}"))?;
                if figures["entries"]["total"].as_u64() != Some(n as u64) {
                    return Err(format!(
                        "stats counted {} entries, not {n}",
                        figures["entries"]["total"]
                    ));
                }
            } else {
                stats.push(ran.wall);
            }
            let start = Instant::now();
            let client = KeepAlive::new(&lm.url(), &lm.ca_pem())?;
            let text = client.post(&list_body())?;
            let t = start.elapsed();
            if i > 0 {
                fetch.push(t);
            } else if text.matches("\"addr\"").count() != n {
                return Err("the floor's list fetch is incomplete".into());
            }
        }
        per_entry.push((n, table.median(), json.median(), sync.median()));
        if full {
            report.rows.push(Row::timed(
                "4s",
                format!("(set-up) block, {n} events on one stdin"),
                &Stat {
                    samples: vec![built.wall],
                },
            ));
            report.rows.push(Row::within(
                "4",
                format!("list (table), {n} entries"),
                &table,
                Duration::from_secs(1),
            ));
            report.rows.push(Row::within(
                "4j",
                format!("list --json, {n} entries"),
                &json,
                Duration::from_millis(500),
            ));
            for (id, what, kib) in [
                (
                    "4r",
                    format!("peak RSS, list (table), {n} entries"),
                    rss_table,
                ),
                (
                    "4rj",
                    format!("peak RSS, list --json, {n} entries"),
                    rss_json,
                ),
                ("5r", format!("peak RSS, sync, {n} entries"), rss_sync),
                (
                    "4rb",
                    format!("peak RSS, block of {n} events (set-up)"),
                    built.rss_kib.unwrap_or(0),
                ),
            ] {
                if kib > 0 {
                    let limit = 64 * 1024;
                    let targeted = id.starts_with("4r") && id != "4rb";
                    report.rows.push(Row {
                        target: if targeted {
                            "< 64 MiB".into()
                        } else {
                            String::new()
                        },
                        met: targeted.then_some(kib < limit),
                        ..Row::info(id, what, mib(kib))
                    });
                }
            }
            report.rows.push(Row::against(
                "5",
                format!("sync (no differences), LoadMaster list of {n}"),
                &sync,
                "fetch list",
                &fetch,
                Some(1.5),
            ));
            report.rows.push(Row::within(
                "7",
                format!("stats --json, {n} entries"),
                &stats,
                Duration::from_millis(500),
            ));
            // The first sweep reads every active block once (the allowlist
            // pass of issue 18, as after an allowlist change); timed apart.
            first_sweep(bench, report, &site, "6a", n)?;
            // Cron's sweep when nothing is due: the price of every run.
            let mut idle = Stat::default();
            for _ in 0..bench.settings.huge_runs {
                let ran = bench.lmguard(&site, &["sweep"], None, false, &[0])?;
                idle.push(ran.wall);
            }
            report.rows.push(Row::timed(
                "6i",
                format!("sweep with nothing due (the cron run), {n} entries"),
                &idle,
            ));
            db_rows(bench, report, &site, n, "6", bench.settings.heavy_runs)?;
        } else {
            report.rows.push(Row::timed(
                "4'",
                format!("list (table), {n} entries"),
                &table,
            ));
            report.rows.push(Row::timed(
                "4j'",
                format!("list --json, {n} entries"),
                &json,
            ));
            report.rows.push(Row::against(
                "5'",
                format!("sync (no differences), LoadMaster list of {n}"),
                &sync,
                "fetch list",
                &fetch,
                Some(1.5),
            ));
            report.rows.push(Row::timed(
                "7'",
                format!("stats --json, {n} entries"),
                &stats,
            ));
        }
    }
    if let [(n1, t1, j1, s1), (n2, t2, j2, s2)] = per_entry[..] {
        let k = n2 as f64 / n1 as f64;
        report.notes.push(format!(
            "linearity {n1} → {n2} entries (×{k:.0}): list ×{:.1}, list --json ×{:.1}, sync ×{:.1} \
             (linear = ×{k:.0}; less means a fixed cost dominates the small size)",
            ratio(t2, t1),
            ratio(j2, j1),
            ratio(s2, s1),
        ));
    }
    Ok(())
}

/// Target 6 rows for one state: file size, Store::open time, and a cold
/// single block against it.
fn db_rows(
    bench: &mut Bench,
    report: &mut Report,
    site: &Site,
    n: usize,
    id: &str,
    runs: usize,
) -> Res<()> {
    let size = std::fs::metadata(&site.state)
        .map_err(|e| e.to_string())?
        .len();
    let per_entry = size as f64 / n as f64;
    let targeted = id == "6";
    report.rows.push(Row {
        target: if targeted {
            "≤ 300 B/entry".into()
        } else {
            String::new()
        },
        met: targeted.then_some(per_entry <= 300.0),
        ..Row::info(
            id,
            format!("state database size, {n} entries"),
            format!(
                "{:.1} MiB ({per_entry:.0} B/entry)",
                size as f64 / (1024.0 * 1024.0),
            ),
        )
    });
    let (mut rw, mut ro, mut single) = (Stat::default(), Stat::default(), Stat::default());
    for i in 0..=runs {
        let start = Instant::now();
        let store = lmguard::state::Store::open(&site.state, Duration::from_secs(60))
            .map_err(|e| format!("Store::open: {e}"))?;
        let t = start.elapsed();
        drop(store);
        let start = Instant::now();
        let store = lmguard::state::Store::open_existing(&site.state, Duration::from_secs(60))
            .map_err(|e| format!("Store::open_existing: {e}"))?;
        let t_ro = start.elapsed();
        drop(store);
        let addr = bench.addrs.take(1).remove(0);
        let ran = bench.lmguard(site, &["block", &addr], None, false, &[0])?;
        if i > 0 {
            rw.push(t);
            ro.push(t_ro);
            single.push(ran.wall);
        }
    }
    report.rows.push(Row::timed(
        &format!("{id}o"),
        format!("Store::open (read-write, as block/sweep), {n} entries"),
        &rw,
    ));
    report.rows.push(Row::timed(
        &format!("{id}r"),
        format!("Store::open_existing (read-only, as list), {n} entries"),
        &ro,
    ));
    report.rows.push(Row::timed(
        &format!("{id}b"),
        format!("block 1 address, cold process, state of {n} entries"),
        &single,
    ));
    if id == "6" {
        // What reading every record costs (list, sync, stats do it): redb's
        // scan plus the decoding of each binary record.
        let mut all = Stat::default();
        for _ in 0..runs.min(3) {
            let start = Instant::now();
            let store = lmguard::state::Store::open_existing(&site.state, Duration::from_secs(60))
                .map_err(|e| format!("Store::open_existing: {e}"))?
                .ok_or("no state database")?;
            let entries = store.all().map_err(|e| format!("Store::all: {e}"))?;
            all.push(start.elapsed());
            if entries.len() < n {
                return Err(format!("Store::all gave {} of {n} entries", entries.len()));
            }
        }
        report.rows.push(Row::timed(
            "6a",
            format!("Store::all in-process (scan + decode every record), {n} entries"),
            &all,
        ));
    }
    Ok(())
}

/// Target 6 at the largest size. The state is built by `lmguard block` in
/// batches of events with `[block] mode = "simulate"` (recorded as active
/// without calling the LoadMaster: a million HTTPS calls would not fit the
/// time budget); where that mode is refused (older lmguard), for real
/// against the fake. Then timed like the big state, with the normal
/// configuration.
fn huge_state(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let Some(n) = bench.settings.huge else {
        report.notes.push(format!(
            "the largest state was not built (--no-million); project its size linearly from the \
             {}-entry one",
            bench.settings.big
        ));
        return Ok(());
    };
    let batch = bench.settings.huge_batch.max(1);
    let lm = start_fake()?;
    let site = Site::new(&lm)?;
    let simulate = site.variant("simulate.toml", "mode = \"simulate\"")?;
    let probe = bench.lmguard_with(&site, &simulate, &["list"], None, false, &[0, 2])?;
    let simulated = probe.stdout().starts_with("no ");
    bench.say(&format!(
        "6: state of {n} entries, by `lmguard block` of {batch} events at a time{}",
        if simulated {
            " (mode = \"simulate\")"
        } else {
            " (simulate mode refused: through the fake LoadMaster)"
        }
    ));
    let mut done = 0;
    let mut batches = Stat::default();
    while done < n {
        let k = batch.min(n - done);
        let (addrs, first) = bench.events(k);
        let input = site.write("events.tsv", &events_tsv(&addrs, first))?;
        let config = if simulated { &simulate } else { &site.config };
        let ran = bench.lmguard_with(&site, config, &["block"], Some(&input), false, &[0])?;
        let summary = ran.last_line();
        let want = if simulated {
            format!("blocked 0, simulated {k},")
        } else {
            format!("blocked {k},")
        };
        if !summary.starts_with(&want) {
            return Err(format!(
                "block of {k} events: unexpected summary {summary:?}"
            ));
        }
        batches.push(ran.wall);
        lm.clear_lists();
        done += k;
        bench.say(&format!("6: {done}/{n} ({})", ms(ran.wall)));
    }
    report.rows.push(Row::timed(
        "6s",
        format!(
            "(set-up) block{}, {batch} events per run, state growing to {n}",
            if simulated { " in simulate mode" } else { "" }
        ),
        &batches,
    ));
    let runs = bench.settings.huge_runs;
    db_rows(bench, report, &site, n, "6M", runs)?;
    first_sweep(bench, report, &site, "6Ma", n)?;
    let mut idle = Stat::default();
    for _ in 0..runs {
        idle.push(bench.lmguard(&site, &["sweep"], None, false, &[0])?.wall);
    }
    report.rows.push(Row::timed(
        "6Mi",
        format!("sweep with nothing due (the cron run), {n} entries"),
        &idle,
    ));
    Ok(())
}

// ------------------------------------------------------------------ machine

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn machine() -> Vec<String> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|k| k.parse::<u64>().ok())
        .map_or("?".into(), |k| format!("{:.1} GiB", k as f64 / 1048576.0));
    vec![
        format!("machine: {cores} cores ({cpu}), {mem} RAM, Linux {kernel}"),
        format!("load average at the start: {}", loadavg()),
    ]
}

// ------------------------------------------------------------------ main

fn lmguard_beside_me() -> PathBuf {
    // target/<profile>/examples/bench -> target/<profile>/lmguard
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("lmguard")))
        .unwrap_or_else(|| PathBuf::from("lmguard"))
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let helper = match args.first().map(String::as_str) {
        Some("--one-post") => Some(one_post as fn(&[String]) -> Res<()>),
        Some("--keep-alive") => Some(keep_alive_process as fn(&[String]) -> Res<()>),
        _ => None,
    };
    if let Some(helper) = helper {
        return match helper(&args[1..]) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let mut settings = if args.iter().any(|a| a == "--quick") {
        Settings::quick(lmguard_beside_me())
    } else {
        Settings::full(lmguard_beside_me())
    };
    settings.self_exe = std::env::current_exe().ok();
    let mut markdown = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {}
            "--runs" => {
                let n: usize = it.next().and_then(|v| v.parse().ok()).unwrap_or(7).max(1);
                settings.runs = n;
                settings.heavy_runs = n;
                settings.huge_runs = n;
                settings.single_runs = (2 * n).max(3);
            }
            "--no-million" => settings.huge = None,
            "--only" => {
                settings.only = it
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|x| x.trim().parse().ok())
                    .collect();
            }
            "--markdown" => markdown = it.next().map(PathBuf::from),
            "--lmguard" => {
                if let Some(p) = it.next() {
                    settings.lmguard = PathBuf::from(p);
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: bench [--quick] [--runs N] [--no-million] [--only 1,2,3,4,6,7,8] [--markdown PATH] [--lmguard PATH]"
                );
                return std::process::ExitCode::SUCCESS;
            }
            other => {
                eprintln!("bench: unknown argument {other}");
                return std::process::ExitCode::from(2);
            }
        }
    }
    if !settings.lmguard.exists() {
        eprintln!(
            "bench: {} not found; build it first: cargo build --release --bin lmguard",
            settings.lmguard.display()
        );
        return std::process::ExitCode::from(2);
    }
    if cfg!(debug_assertions) {
        eprintln!("bench: warning: this is a debug build of the driver; use bench/run (release)");
    }
    match run_all(&settings) {
        Ok(report) => {
            let table = report.table();
            println!("{table}");
            if let Some(p) = markdown {
                if let Err(e) = std::fs::write(&p, &table) {
                    eprintln!("bench: cannot write {}: {e}", p.display());
                }
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
