//! Running lmguard against the fake LoadMaster: a site (temp dir,
//! config, state), timed runs, and the open-stdin streams.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use fake_loadmaster::{CertKind, FakeLoadMaster, Options, Scope};

use super::report::*;
use super::settings::*;
use super::workload::*;

/// A configuration and a state database of its own, against one fake
/// LoadMaster (or several).
pub(crate) struct Site {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) config: PathBuf,
    pub(crate) state: PathBuf,
    pub(crate) ca: PathBuf,
}

impl Site {
    /// A site with one `[loadmaster]` table (the usual configuration).
    pub(crate) fn new(lm: &FakeLoadMaster) -> Res<Site> {
        Site::build(&[(None, lm)])
    }

    /// A site with one `[[loadmaster]]` table per fake, named as given
    /// (issue 15: several LoadMasters). Each table trusts its own fake's
    /// CA; `ca` is the first one's.
    pub(crate) fn several(lms: &[(&str, &FakeLoadMaster)]) -> Res<Site> {
        let named: Vec<(Option<&str>, &FakeLoadMaster)> =
            lms.iter().map(|&(name, lm)| (Some(name), lm)).collect();
        Site::build(&named)
    }

    fn build(lms: &[(Option<&str>, &FakeLoadMaster)]) -> Res<Site> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let key = dir.path().join("api-key");
        let config = dir.path().join("lm-mitigation.toml");
        let state = dir.path().join("state").join("state.redb");
        write_private(&key, format!("{KEY}\n").as_bytes())?;
        let mut tables = String::new();
        let mut first_ca = None;
        for &(name, lm) in lms {
            let (ca, header) = match name {
                Some(n) => (
                    dir.path().join(format!("loadmaster-{n}.pem")),
                    format!("[[loadmaster]]\nname = \"{n}\"\n"),
                ),
                None => (dir.path().join("loadmaster.pem"), "[loadmaster]\n".into()),
            };
            std::fs::write(&ca, lm.ca_pem()).map_err(|e| e.to_string())?;
            tables.push_str(&format!(
                "{header}url = \"{url}\"\napi_key_file = \"{key}\"\nca_file = \"{ca}\"\n\
                 timeout = \"30s\"\n{FAST_RATE}\n",
                url = lm.url(),
                key = key.display(),
                ca = ca.display(),
            ));
            first_ca.get_or_insert(ca);
        }
        let ca = first_ca.ok_or("a site needs a LoadMaster")?;
        std::fs::write(
            &config,
            format!(
                "{tables}[block]\nduration = \"75h\"\nmax_active = 10000000\n\n\
                 [state]\npath = \"{state}\"\nlock_timeout = \"60s\"\n",
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

    /// Give every LoadMaster table the rate budget `rate` (`None`: the
    /// default, 25/3s) instead of [`FAST_RATE`].
    pub(crate) fn set_rate(&self, rate: Option<&str>) -> Res<()> {
        let text = std::fs::read_to_string(&self.config).map_err(|e| e.to_string())?;
        let line = rate.map_or(String::new(), |r| format!("rate = \"{r}\"\n"));
        std::fs::write(&self.config, text.replace(FAST_RATE, &line)).map_err(|e| e.to_string())
    }

    /// Another configuration file for the same LoadMaster and state, with
    /// `block_lines` added to its `[block]` table.
    pub(crate) fn variant(&self, name: &str, block_lines: &str) -> Res<PathBuf> {
        let text = std::fs::read_to_string(&self.config).map_err(|e| e.to_string())?;
        let text = text.replacen("[block]\n", &format!("[block]\n{block_lines}\n"), 1);
        self.write(name, text.as_bytes())
    }

    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write `bytes` to a file of this site (an events file for stdin).
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> Res<PathBuf> {
        let p = self.file(name);
        std::fs::write(&p, bytes).map_err(|e| e.to_string())?;
        Ok(p)
    }
}

/// One finished lmguard run.
pub(crate) struct Ran {
    pub(crate) wall: Duration,
    pub(crate) rss_kib: Option<u64>,
    pub(crate) stdout: PathBuf,
}

impl Ran {
    pub(crate) fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }
    pub(crate) fn last_line(&self) -> String {
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

pub(crate) struct Bench {
    pub(crate) settings: Settings,
    pub(crate) gnu_time: bool,
    pub(crate) curl: bool,
    pub(crate) addrs: Addrs,
    pub(crate) next_event: u64,
}

impl Bench {
    pub(crate) fn say(&self, text: &str) {
        if self.settings.verbose {
            eprintln!("bench: {text}");
        }
    }

    pub(crate) fn events(&mut self, n: usize) -> (Vec<String>, u64) {
        let first = self.next_event;
        self.next_event += n as u64;
        (self.addrs.take(n), first)
    }

    /// Run lmguard with `args` (stdin from a file, or empty); stdout goes to
    /// a file. With `rss`, it runs under GNU time to learn its peak RSS
    /// (that adds a fork+exec of `time`, well under a millisecond). An exit
    /// status other than those in `ok` is an error.
    pub(crate) fn lmguard(
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
    pub(crate) fn lmguard_with(
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
    pub(crate) fn warm(&mut self, site: &Site) -> Res<()> {
        let addr = self.addrs.take(1).remove(0);
        self.lmguard(site, &["block", &addr], None, false, &[0])
            .map(|_| ())
    }

    /// `lmguard block` of `n` fresh events on one stdin; the run and the
    /// addresses. Checks that all were blocked.
    pub(crate) fn block_events(
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
pub(crate) struct Stream {
    pub(crate) child: std::process::Child,
}

impl Stream {
    pub(crate) fn start(bench: &Bench, site: &Site) -> Res<Stream> {
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

    pub(crate) fn write(&mut self, bytes: &[u8]) -> Res<()> {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().ok_or("stdin closed")?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("writing to lmguard: {e}"))
    }

    /// Closes standard input and waits for the exit (status 0 expected).
    pub(crate) fn finish(mut self) -> Res<()> {
        drop(self.child.stdin.take());
        let status = self.child.wait().map_err(|e| e.to_string())?;
        check_exit(status, &[0], || format!("the stream block exited {status}"))
    }
}

/// Waits until the fake holds `n` entries in the global list (polling every
/// millisecond); the time it took from `since`.
pub(crate) fn wait_for_entries(
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

pub(crate) fn check_exit(status: ExitStatus, ok: &[i32], msg: impl FnOnce() -> String) -> Res<()> {
    match status.code() {
        Some(c) if ok.contains(&c) => Ok(()),
        _ => Err(msg()),
    }
}

/// Write a file only its owner may read (lmguard warns about a key file
/// that others can read).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Res<()> {
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

pub(crate) fn start_fake() -> Res<FakeLoadMaster> {
    start_fake_limited(None)
}

/// A fake that drops the connection of calls beyond `limit` (Kemp's
/// documented rate limit: [`fake_loadmaster::RateLimit::KEMP`]).
pub(crate) fn start_fake_limited(limit: Option<fake_loadmaster::RateLimit>) -> Res<FakeLoadMaster> {
    let mut options = Options {
        cert: CertKind::CaSigned,
        record_requests: false,
        ..Options::default()
    };
    options.switches.rate_limit = limit;
    FakeLoadMaster::start(options).map_err(|e| format!("cannot start the fake LoadMaster: {e}"))
}

pub(crate) fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}
