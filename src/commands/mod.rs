//! One module per subcommand, and what they share: the run context, the
//! claim this process puts on entries it sends, and the two-phase pattern
//! (record as pending → call the LoadMaster → record the answers).

pub mod block;
pub mod check;
pub mod completions;
pub mod confirm;
pub mod list;
pub mod stats;
pub mod stream;
pub mod sweep;
pub mod sync;
pub mod unblock;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::domain::address::Address;
use crate::domain::entry::{self, Applied, Claim, Scope};
use crate::error::{Error, Result};
use crate::executor::{Executor, Job, RunShared};
use crate::exit::ExitStatus;
use crate::loadmaster::{Client, Failure};
use crate::state::{Store, DEFAULT_LOADMASTER};

/// What every command gets: the configuration and this run's clock and claim.
pub struct Context {
    pub config: Config,
    /// The file the configuration was read from.
    pub config_path: PathBuf,
    pub now: i64,
    pub claim: Claim,
    /// `-q`/`--quiet`: print nothing on standard output when all is well
    /// (cron mails any output); failures still print on standard error.
    pub quiet: bool,
}

impl Context {
    /// The context of one run; exit 2 when the system clock is wrong.
    pub fn new(config: Config, config_path: PathBuf) -> Result<Context> {
        let now = checked_now()?;
        // A claim ends with its process (pid and start time, below); the
        // lease is only a backstop where /proc cannot tell.
        let lease = 7 * 86_400;
        let pid = std::process::id();
        let claim = Claim {
            pid,
            started: process_start(pid).unwrap_or(0),
            token: RandomState::new().build_hasher().finish(),
            until: now + lease,
        };
        Ok(Context {
            config,
            config_path,
            now,
            claim,
            quiet: false,
        })
    }

    /// Moves this run's clock to now and renews its claim's lease, for a
    /// run that lasts (a `block` reading a stream): each batch is decided
    /// at its own time. The claim stays this run's (same pid and token).
    pub fn tick(&mut self) {
        let now = unix_now();
        self.claim.until += now - self.now;
        self.now = now;
    }

    pub fn state_path(&self) -> Result<PathBuf> {
        self.config.state_path()
    }

    fn lock_timeout(&self) -> Duration {
        self.config.state.lock_timeout.0
    }

    /// Open the state database (creating it), with the process lock.
    pub fn open_store(&self) -> Result<Store> {
        Store::open(&self.state_path()?, self.lock_timeout())
    }

    /// Open it only if it exists (read-only commands and dry runs).
    pub fn open_existing_store(&self) -> Result<Option<Store>> {
        Store::open_existing(&self.state_path()?, self.lock_timeout())
    }

    /// A claim is live while its lease runs and its process exists. This
    /// run's own claim is always live.
    pub fn claim_is_live(&self, claim: &Claim) -> bool {
        if claim.pid == self.claim.pid {
            return claim.token == self.claim.token;
        }
        if claim.until <= self.now {
            return false;
        }
        // A zombie or a stopped process sends nothing: its claim is not live.
        if process_state(claim.pid).is_some_and(|s| matches!(s, 'Z' | 'X' | 'x' | 'T' | 't')) {
            return false;
        }
        match (process_start(claim.pid), claim.started) {
            (Some(started), recorded) if recorded != 0 => started == recorded,
            (Some(_), _) => true,
            // No such process, or no /proc to ask.
            (None, _) => !Path::new("/proc/self/stat").exists(),
        }
    }

    /// The LoadMaster client (reads the API key and TLS settings).
    pub fn client(&self) -> Result<Client> {
        let key = self.config.api_key()?;
        Ok(Client::new(&self.config.loadmaster, key)?
            .with_list_cap(crate::loadmaster::list_cap(self.config.block.max_active)))
    }

    pub fn scope(&self, vs: Option<u32>) -> Scope {
        Scope::from_vs(vs.or(self.config.block.vs))
    }
}

pub fn unix_now() -> i64 {
    #[cfg(debug_assertions)]
    if let Some(t) = std::env::var("LMGUARD_TEST_NOW")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    {
        // Debug builds only: lets the end-to-end tests set the clock.
        return t;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// 2020-01-01T00:00:00Z: a clock before it is certainly wrong.
const SANE_CLOCK: i64 = 1_577_836_800;

/// The current time, or exit 2 when the system clock is certainly wrong
/// (before 2020): expiries computed from it would be nonsense.
pub fn checked_now() -> Result<i64> {
    let now = unix_now();
    if now < SANE_CLOCK {
        return Err(Error::usage(format!(
            "the system clock is wrong: it says {}, before 2020; set it (NTP) and run lmguard \
             again — nothing was changed",
            rfc3339(now)
        )));
    }
    Ok(now)
}

/// Entries blocked more than a day after `now`: the clock was fast when
/// they were recorded (their expiry is as far off). One warning line, or
/// `None`.
pub fn future_blocks_warning(entries: &[crate::domain::entry::Entry], now: i64) -> Option<String> {
    let future: Vec<_> = entries
        .iter()
        .filter(|e| e.blocked_at > now + 86_400)
        .collect();
    let first = future.first()?;
    Some(format!(
        "{} entr{} blocked more than a day in the future (e.g. {} at {}): the clock was fast \
         when they were recorded, so they expire that much later; check NTP, and unblock or \
         re-block them if needed",
        future.len(),
        if future.len() == 1 { "y is" } else { "ies are" },
        first.address,
        rfc3339(first.blocked_at)
    ))
}

/// When a process started (field 22 of /proc/PID/stat, clock ticks since
/// boot); `None` when it does not exist or /proc cannot tell.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it follow
    // the last ')'. Field 22 is the 20th after it.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

/// A process's state letter (field 3 of /proc/PID/stat: R, S, D, Z, T …);
/// `None` when it does not exist or /proc cannot tell.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// RFC 3339 UTC, to the second (clamped to the years 1970–9999 that the
/// format can show).
pub fn rfc3339(t: i64) -> String {
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let st = UNIX_EPOCH + Duration::from_secs(t.clamp(0, MAX) as u64);
    humantime::format_rfc3339_seconds(st).to_string()
}

/// `2026-11-24 10:13` (UTC), for tables and messages.
pub fn short_time(t: i64) -> String {
    let s = rfc3339(t);
    format!("{} {}", &s[..10], &s[11..16])
}

/// The comment that marks `entry` as lmguard's on the LoadMaster:
/// `lmguard ADS 532028 SSHDICT`, `lmguard ADS SSHDICT` (an event without an
/// id), or `lmguard manual` (see [`crate::domain::comment`] for what is
/// allowed in it).
pub fn comment_for(prefix: &str, entry: &crate::domain::entry::Entry) -> String {
    crate::domain::comment::for_entry(
        prefix,
        entry.from_event(),
        entry.event_id.as_deref(),
        &entry.reason,
    )
}

/// The answers of one run's LoadMaster calls.
pub struct RunResults {
    pub results: Vec<(Job, std::result::Result<Applied, Failure>)>,
    pub halted: Option<Failure>,
}

impl RunResults {
    /// Calls that failed and stay pending (refusals for good excluded).
    pub fn failures(&self) -> usize {
        self.results
            .iter()
            .filter(|(_, r)| r.as_ref().is_err_and(|f| !f.is_permanent()))
            .count()
    }

    /// Report every call the LoadMaster refused for good, naming the
    /// address and the scope, on standard error (and in the log); exit 4
    /// when there was one.
    pub fn report_rejections(&self) -> ExitStatus {
        let mut status = ExitStatus::Success;
        for (job, result) in &self.results {
            if let Err(f @ Failure::Permanent { .. }) = result {
                // A refused add makes the entry `rejected`; a refused
                // removal ends the block here (entry::reject).
                let recorded = match job.call {
                    entry::Call::Add => "recorded as rejected",
                    entry::Call::Delete => "its block is recorded as ended",
                };
                let line = format!(
                    "{} ({}): rejected: {f}; {recorded} (`lmguard list --all` shows it)",
                    job.address,
                    crate::executor::list_name(job.scope)
                );
                crate::logging::failure(&line);
                status = ExitStatus::InputRejected;
            }
        }
        status
    }
}

/// How many answers are recorded per transaction in bulk work: a crash
/// loses (leaves pending) at most this many acknowledged calls.
const RECORD_BATCH: usize = 256;

/// After a run rewrote or deleted at least this many records, the state
/// file is compacted: redb writes copy-on-write, and the pages the old
/// versions held stay in the file (a bulk block of 100 000 events leaves
/// it ~1.6 times its compacted size).
pub const COMPACT_AFTER: usize = 20_000;

/// Compact the state file if a run changed `changed` records (see
/// [`COMPACT_AFTER`]); it takes the lock for ~0.4 s per 100 000 entries.
/// Only space is at stake: a failure is logged, not fatal.
pub fn compact_after(ctx: &Context, changed: usize) -> Result<()> {
    if changed >= COMPACT_AFTER {
        if let Err(e) = ctx.open_store().and_then(|mut s| s.compact()) {
            log::warn!("the state file was not compacted: {}", e.message());
        }
    }
    Ok(())
}

/// Make the calls, recording the answers in batches. Each batch is spread
/// over up to `[loadmaster] connections` threads, each with its own
/// kept-alive connection; a failure that halts the run stops them all.
/// Shows progress on a terminal for long runs.
pub fn apply_and_record(ctx: &Context, client: &Client, jobs: Vec<Job>) -> Result<RunResults> {
    let shared = RunShared::default();
    let prefix = ctx.config.block.comment_prefix.as_str();
    let threads = ctx.config.loadmaster.connections.max(1);
    let total = jobs.len();
    let progress = Progress::new(total);
    let mut results = Vec::with_capacity(total);
    let mut jobs = jobs.into_iter().peekable();
    while jobs.peek().is_some() {
        let batch: Vec<Job> = jobs.by_ref().take(RECORD_BATCH).collect();
        let answered = run_batch(client, prefix, &shared, batch, threads);
        record(ctx, client, &answered)?;
        results.extend(answered);
        progress.show(results.len());
    }
    progress.finish();
    // Each call's record was written twice (pending, then its answer).
    compact_after(ctx, total)?;
    Ok(RunResults {
        results,
        halted: shared.halted(),
    })
}

type Answered = Vec<(Job, std::result::Result<Applied, Failure>)>;

/// One batch of calls over up to `threads` connections (one thread, and no
/// thread spawned, for small batches).
fn run_batch(
    client: &Client,
    prefix: &str,
    shared: &RunShared,
    batch: Vec<Job>,
    threads: usize,
) -> Answered {
    let run = |jobs: Vec<Job>| -> Answered {
        let mut executor = Executor::new(client, prefix, shared);
        jobs.into_iter()
            .map(|job| {
                let r = executor.run(&job);
                (job, r)
            })
            .collect()
    };
    let threads = threads.min(batch.len() / 8).max(1);
    if threads == 1 {
        return run(batch);
    }
    let mut shares: Vec<Vec<Job>> = vec![Vec::new(); threads];
    for (i, job) in batch.into_iter().enumerate() {
        shares[i % threads].push(job);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|share| scope.spawn(|| run(share)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Record a batch's answers, and what was heard from the LoadMaster (in
/// the same transaction: `stats` costs no extra commit).
///
/// The commit is lazy (not flushed; the orderly close of the store right
/// after flushes it): the pending record made before the calls is durable,
/// and losing this one to a kill -9 or a power cut in between leaves those
/// entries pending with a claim whose process is gone, so the next sweep
/// sends the same idempotent request again and settles it — the LoadMaster
/// ends as it would have. docs/benchmarks.md has the whole argument;
/// tests/crash.rs kills a block between the LoadMaster's change and its
/// answer.
fn record(
    ctx: &Context,
    client: &Client,
    batch: &[(Job, std::result::Result<Applied, Failure>)],
) -> Result<()> {
    let store = ctx.open_store()?;
    let now = unix_now();
    store.update_lazily(|txn| {
        txn.note_health(DEFAULT_LOADMASTER, &client.heard())?;
        for (job, result) in batch {
            let Some(current) = txn.get(job.scope, &job.address)? else {
                continue;
            };
            let done = match result {
                Err(Failure::Permanent { status, message }) => entry::reject(
                    current,
                    &ctx.claim,
                    format!("{message} (code {status})"),
                    now,
                ),
                _ => {
                    let outcome = result.clone().map_err(|f| f.to_string());
                    entry::complete(current, &ctx.claim, job.call, outcome, now)
                }
            };
            if let Some(done) = done {
                txn.put(&done)?;
            }
        }
        Ok(())
    })
}

/// `applied 1200/10000` on standard error, only on a terminal and only for
/// long runs.
pub struct Progress {
    total: usize,
    enabled: bool,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        Progress {
            total,
            enabled: total >= 1_000 && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }

    pub fn show(&self, done: usize) {
        if self.enabled {
            eprint!("\rlmguard: LoadMaster calls {done}/{}", self.total);
        }
    }

    pub fn finish(&self) {
        if self.enabled {
            eprintln!();
        }
    }
}

/// Print what a dry run would send.
pub fn print_dry_run(client_endpoint: &str, jobs: &[Job]) {
    for job in jobs {
        let body = serde_json::Value::Object(job.request().body());
        println!("would send: POST {client_endpoint} {body}");
    }
    if jobs.is_empty() {
        println!("would send nothing to the LoadMaster");
    }
}

/// Print the calls `mode = "simulate"` keeps lmguard from making.
pub fn print_simulated(client_endpoint: &str, jobs: &[Job]) {
    for job in jobs {
        let body = serde_json::Value::Object(job.request().body());
        println!(
            "simulate: not sent (mode = \"simulate\"): POST {client_endpoint} {body}; the entry \
             is left as it was"
        );
    }
}

/// The final status and message of a run that had LoadMaster failures.
pub fn loadmaster_problem(applied: &RunResults, what: &str) -> Option<Error> {
    let failed = applied.failures();
    if failed == 0 {
        return None;
    }
    let cause = applied
        .halted
        .as_ref()
        .map(|f| f.to_string())
        .or_else(|| {
            applied.results.iter().find_map(|(_, r)| {
                r.as_ref()
                    .err()
                    .filter(|f| !f.is_permanent())
                    .map(|f| f.to_string())
            })
        })
        .unwrap_or_default();
    Some(Error::new(
        ExitStatus::LoadMaster,
        format!(
            "{failed} {what} could not be applied ({cause}); they are recorded as pending and \
             `lmguard sweep` will retry them"
        ),
    ))
}

/// Parse addresses given as arguments; bad ones are reported on stderr.
pub fn parse_addresses(inputs: &[String]) -> (Vec<Address>, usize) {
    let mut good = Vec::new();
    let mut bad = 0;
    for input in inputs {
        match input.parse::<Address>() {
            Ok(a) => {
                if !good.contains(&a) {
                    good.push(a);
                }
            }
            Err(e) => {
                crate::logging::failure(&format!("rejected: {e}"));
                bad += 1;
            }
        }
    }
    (good, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_mark_lmguard_and_stay_short_ascii() {
        use crate::domain::entry::{apply_block, BlockRequest, Claim, Scope};
        use crate::domain::severity::Severity;
        let comment = |event_id: Option<&str>, priority, reason: &str| {
            let req = BlockRequest {
                address: "192.0.2.7".parse().unwrap(),
                scope: Scope::Global,
                duration: "1h".parse().unwrap(),
                reason: reason.into(),
                event_id: event_id.map(str::to_string),
                priority,
            };
            let claim = Claim {
                pid: 1,
                started: 0,
                token: 1,
                until: 10,
            };
            let (entry, _) = apply_block(None, &req, 0, claim, &|_| true);
            comment_for("lmguard", &entry)
        };
        let high = Some(Severity::High);
        assert_eq!(
            comment(Some("532028"), high, "SSHDICT SSH attack"),
            "lmguard ADS 532028 SSHDICT"
        );
        // CEF from ADS 7 and later carries no event id: still an ADS event.
        assert_eq!(
            comment(None, high, "SSHDICT SSH attack"),
            "lmguard ADS SSHDICT"
        );
        assert_eq!(comment(None, None, "whatever"), "lmguard manual");
        let long = comment(Some(&"9".repeat(200)), None, "Ünïcode");
        assert!(long.len() <= 64 && long.is_ascii());
    }

    #[test]
    fn this_process_is_running_and_has_a_state() {
        if Path::new("/proc/self/stat").exists() {
            let me = process_state(std::process::id());
            assert!(matches!(me, Some('R' | 'S' | 'D')), "{me:?}");
        }
    }

    #[test]
    fn this_process_has_a_start_time() {
        let me = process_start(std::process::id());
        if Path::new("/proc/self/stat").exists() {
            assert!(me.is_some_and(|t| t > 0));
            assert_eq!(me, process_start(std::process::id()));
        }
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(short_time(86_400 + 3_660), "1970-01-02 01:01");
    }
}
