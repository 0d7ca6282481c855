//! One module per subcommand, and what they share: the run context (the
//! configuration, this run's clock and the claim it puts on entries it
//! sends). The calls themselves are made by [`crate::executor`].

pub(crate) mod block;
pub(crate) mod check;
pub(crate) mod completions;
pub(crate) mod list;
pub(crate) mod stats;
pub(crate) mod sweep;
pub(crate) mod sync;
pub(crate) mod unblock;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::time::Duration;

use crate::clock::{checked_now, unix_now};
use crate::config::Config;
use crate::domain::entry::{Claim, Scope};
use crate::enforcement::{EnforcementPoint, KempWire};
use crate::error::Result;
use crate::executor::batch::{self, Recorder, RunResults};
use crate::executor::Job;
use crate::loadmaster::Client;
use crate::process;
use crate::state::Store;

/// What every command gets: the configuration and this run's clock and claim.
pub(crate) struct Context {
    pub(crate) config: Config,
    /// The file the configuration was read from.
    pub(crate) config_path: PathBuf,
    pub(crate) now: i64,
    pub(crate) claim: Claim,
    /// `-q`/`--quiet`: print nothing on standard output when all is well
    /// (cron mails any output); failures still print on standard error.
    pub(crate) quiet: bool,
}

impl Context {
    /// The context of one run; exit 2 when the system clock is wrong.
    pub(crate) fn new(config: Config, config_path: PathBuf) -> Result<Context> {
        let now = checked_now()?;
        // A claim ends with its process (pid and start time, below); the
        // lease is only a backstop where /proc cannot tell.
        let lease = 7 * 86_400;
        let pid = std::process::id();
        let claim = Claim {
            pid,
            started: process::start_time(pid).unwrap_or(0),
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
    pub(crate) fn tick(&mut self) {
        let now = unix_now();
        self.claim.until += now - self.now;
        self.now = now;
    }

    pub(crate) fn state_path(&self) -> Result<PathBuf> {
        self.config.state_path()
    }

    fn lock_timeout(&self) -> Duration {
        self.config.state.lock_timeout.0
    }

    /// Open the state database (creating it), with the process lock.
    pub(crate) fn open_store(&self) -> Result<Store> {
        Store::open(&self.state_path()?, self.lock_timeout())
    }

    /// Open it only if it exists (read-only commands and dry runs).
    pub(crate) fn open_existing_store(&self) -> Result<Option<Store>> {
        Store::open_existing(&self.state_path()?, self.lock_timeout())
    }

    /// A claim is live while its lease runs and its process exists. This
    /// run's own claim is always live.
    pub(crate) fn claim_is_live(&self, claim: &Claim) -> bool {
        if claim.pid == self.claim.pid {
            return claim.token == self.claim.token;
        }
        if claim.until <= self.now {
            return false;
        }
        process::is_running(claim.pid, claim.started)
    }

    /// The LoadMaster client (reads the API key and TLS settings).
    pub(crate) fn client(&self) -> Result<Client> {
        let key = self.config.api_key()?;
        Ok(Client::new(&self.config.loadmaster.client_settings(), key)?
            .with_list_cap(crate::loadmaster::list_cap(self.config.block.max_active)))
    }

    /// How this run's calls look on the wire, for dry runs and simulate
    /// mode: built from the settings alone (no key, no connection).
    pub(crate) fn wire(&self) -> KempWire {
        KempWire::new(&self.config.loadmaster.client_settings())
    }

    pub(crate) fn scope(&self, vs: Option<u32>) -> Scope {
        Scope::from_vs(vs.or(self.config.block.vs))
    }

    /// Make the calls and record the answers under this run's claim (see
    /// [`batch::apply_and_record`]).
    pub(crate) fn apply(&self, point: &dyn EnforcementPoint, jobs: Vec<Job>) -> Result<RunResults> {
        let open = || self.open_store();
        let recorder = Recorder {
            claim: &self.claim,
            open: &open,
        };
        batch::apply_and_record(
            point,
            &self.config.block.comment_prefix,
            self.config.loadmaster.connections,
            &recorder,
            jobs,
        )
    }
}

/// The end of writing a report to standard output: a reader that went away
/// (`lmguard list | head`) is not an error; any other write error is.
pub(crate) fn stdout_written(written: std::io::Result<()>) -> Result<()> {
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(crate::error::Error::internal(format!(
            "cannot write to standard output: {e}"
        ))),
        Ok(()) => Ok(()),
    }
}
