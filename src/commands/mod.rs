//! One module per subcommand, and what they share: the run context, the
//! claim this process puts on entries it sends, and the two-phase pattern
//! (record as pending → call the LoadMaster → record the answers).

pub mod block;
pub mod list;
pub mod sweep;
pub mod unblock;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::domain::address::Address;
use crate::domain::entry::{self, Claim, Scope};
use crate::error::{Error, Result};
use crate::executor::{Executor, Job};
use crate::exit::ExitStatus;
use crate::loadmaster::{Client, Failure};
use crate::state::Store;

/// What every command gets: the configuration and this run's clock and claim.
pub struct Context {
    pub config: Config,
    pub now: i64,
    pub claim: Claim,
}

impl Context {
    pub fn new(config: Config) -> Context {
        let now = unix_now();
        // Long enough for any run; a dead process's claim is dropped sooner
        // because its pid is gone.
        let lease = 3600 + config.loadmaster.timeout.0.as_secs() as i64 * 10;
        let claim = Claim {
            pid: std::process::id(),
            token: RandomState::new().build_hasher().finish(),
            until: now + lease,
        };
        Context { config, now, claim }
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
        claim.until > self.now && process_exists(claim.pid)
    }

    /// The LoadMaster client (reads the API key and TLS settings).
    pub fn client(&self) -> Result<Client> {
        let key = self.config.api_key()?;
        Client::new(&self.config.loadmaster, key)
    }

    pub fn scope(&self, vs: Option<u32>) -> Scope {
        Scope::from_vs(vs.or(self.config.block.vs))
    }
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn process_exists(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return true; // cannot tell: rely on the lease
    }
    proc_root.join(pid.to_string()).exists()
}

/// RFC 3339 UTC, to the second.
pub fn rfc3339(t: i64) -> String {
    let st = UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
    humantime::format_rfc3339_seconds(st).to_string()
}

/// `2026-11-24 10:13` (UTC), for tables and messages.
pub fn short_time(t: i64) -> String {
    let s = rfc3339(t);
    format!("{} {}", &s[..10], &s[11..16])
}

/// The comment that marks an entry as lmguard's on the LoadMaster:
/// `lmguard ADS 532028 SSHDICT`, or `lmguard manual`. Short printable ASCII.
pub fn comment_for(prefix: &str, event_id: Option<&str>, reason: &str) -> String {
    let text = match event_id {
        Some(id) => {
            let method = reason.split_whitespace().next().unwrap_or("");
            format!("{prefix} ADS {id} {}", method.trim_end_matches(':'))
        }
        None => format!("{prefix} manual"),
    };
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(80)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The answers of one run's LoadMaster calls.
pub struct Applied {
    pub results: Vec<(Job, std::result::Result<(), Failure>)>,
    pub halted: Option<Failure>,
}

impl Applied {
    pub fn failures(&self) -> usize {
        self.results.iter().filter(|(_, r)| r.is_err()).count()
    }
}

/// Make the calls, then record every answer in one transaction.
pub fn apply_and_record(ctx: &Context, client: &Client, jobs: Vec<Job>) -> Result<Applied> {
    let mut executor = Executor::new(client);
    let results: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let r = executor.run(&job);
            (job, r)
        })
        .collect();
    let halted = executor.halted().cloned();
    if !results.is_empty() {
        let store = ctx.open_store()?;
        let now = unix_now();
        store.update(|txn| {
            for (job, result) in &results {
                let Some(current) = txn.get(job.scope, &job.address)? else {
                    continue;
                };
                let outcome = result.as_ref().map(|_| ()).map_err(|f| f.to_string());
                if let Some(done) = entry::complete(current, &ctx.claim, job.call, outcome, now) {
                    txn.put(&done)?;
                }
            }
            Ok(())
        })?;
    }
    Ok(Applied { results, halted })
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

/// The final status and message of a run that had LoadMaster failures.
pub fn loadmaster_problem(applied: &Applied, what: &str) -> Option<Error> {
    let failed = applied.failures();
    if failed == 0 {
        return None;
    }
    let cause = applied
        .halted
        .as_ref()
        .map(|f| f.to_string())
        .or_else(|| {
            applied
                .results
                .iter()
                .find_map(|(_, r)| r.as_ref().err().map(|f| f.to_string()))
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
                eprintln!("lmguard: rejected: {e}");
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
        assert_eq!(
            comment_for("lmguard", Some("532028"), "SSHDICT SSH attack"),
            "lmguard ADS 532028 SSHDICT"
        );
        assert_eq!(comment_for("lmguard", None, "whatever"), "lmguard manual");
        let long = comment_for("lmguard", Some(&"9".repeat(200)), "Ünïcode");
        assert!(long.len() <= 80 && long.is_ascii());
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(short_time(86_400 + 3_660), "1970-01-02 01:01");
    }
}
