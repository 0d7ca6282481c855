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
use crate::config::{Config, LoadMasterConfig};
use crate::domain::entry::{Claim, Scope};
use crate::domain::loadmaster_name::LoadMasterName;
use crate::enforcement::KempWire;
use crate::error::{Error, Result};
use crate::executor::batch::{self, Recorder, RunResults};
use crate::executor::{preview, Job};
use crate::loadmaster::budget::{self, Budget};
use crate::loadmaster::Client;
use crate::process;
use crate::state::{Kept, Store};

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
    /// The LoadMasters this run works on: those `--loadmaster` named, else
    /// every configured one (in the configuration's order).
    pub(crate) selected: Vec<LoadMasterName>,
    /// A call waits for its slot in the rate budget at most the
    /// LoadMaster's `timeout` (`block`: ADS runs one per event, and a
    /// later `sweep` sends what did not get a slot), else as long as it
    /// takes.
    pub(crate) rate_wait_bounded: bool,
}

/// One client per LoadMaster a run calls (each reads its own API key and
/// TLS settings), made before anything is recorded: a missing key is a
/// configuration error that changes nothing.
pub(crate) struct Clients(Vec<(LoadMasterName, Client)>);

impl Clients {
    pub(crate) fn get(&self, name: LoadMasterName) -> Option<&Client> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, c)| c)
    }
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
        let selected = config.loadmasters.iter().map(|lm| lm.name).collect();
        Ok(Context {
            config,
            config_path,
            now,
            claim,
            quiet: false,
            selected,
            rate_wait_bounded: false,
        })
    }

    /// Work on the LoadMasters named by `--loadmaster` only (none named:
    /// all of them). An unknown name is a usage error (exit 2).
    pub(crate) fn select(&mut self, names: &[String]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        for name in names {
            if !self
                .config
                .loadmasters
                .iter()
                .any(|lm| lm.name.as_str() == name)
            {
                return Err(Error::usage(format!(
                    "--loadmaster {name}: no LoadMaster of that name is configured \
                     (configured: {})",
                    listed(self.config.loadmasters.iter().map(|lm| lm.name))
                )));
            }
        }
        // In the configuration's order, whatever the order they were named
        // in: summaries and messages list them that way.
        self.selected = self
            .config
            .loadmasters
            .iter()
            .map(|lm| lm.name)
            .filter(|n| names.iter().any(|given| given == n.as_str()))
            .collect();
        Ok(())
    }

    /// `--vs ID` names a virtual service of one appliance: with several
    /// LoadMasters selected it is ambiguous (VS indexes differ between
    /// appliances), so it is refused (exit 2) before anything is done.
    pub(crate) fn check_vs(&self, vs: Option<u32>) -> Result<()> {
        match vs {
            Some(vs) if self.selected.len() > 1 => Err(Error::usage(format!(
                "--vs {vs} names a virtual service of one LoadMaster, and {} are selected ({}); \
                 add --loadmaster NAME to say which one (nothing was done)",
                self.selected.len(),
                listed(self.selected.iter().copied())
            ))),
            _ => Ok(()),
        }
    }

    /// The selected LoadMasters' configurations.
    pub(crate) fn targets(&self) -> impl Iterator<Item = &LoadMasterConfig> {
        self.selected
            .iter()
            .filter_map(|name| self.config.loadmaster(*name))
    }

    /// Messages name the LoadMaster (`VS 3 on brno`) when several are
    /// configured.
    pub(crate) fn several(&self) -> bool {
        self.config.several()
    }

    /// Is `name` one this run works on?
    pub(crate) fn is_selected(&self, name: LoadMasterName) -> bool {
        self.selected.contains(&name)
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
        let store = Store::open_for(
            &self.state_path()?,
            self.lock_timeout(),
            self.config.legacy_owner(),
        )?;
        // A renamed LoadMaster's entries follow it (see `rename`).
        crate::rename::adopt_stranded(&store, &self.config, &|c| self.claim_is_live(c))?;
        Ok(store)
    }

    /// Open it only if it exists (read-only commands and dry runs).
    pub(crate) fn open_existing_store(&self) -> Result<Option<Store>> {
        Store::open_existing_for(
            &self.state_path()?,
            self.lock_timeout(),
            self.config.legacy_owner(),
        )
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

    /// A client for one LoadMaster (reads its API key and TLS settings).
    pub(crate) fn client(&self, lm: &LoadMasterConfig) -> Result<Client> {
        let key = lm.api_key()?;
        Ok(Client::new(&lm.client_settings(), key)?
            .with_list_cap(crate::loadmaster::list_cap(self.config.block.max_active))
            .with_budget(self.budget(lm)?))
    }

    /// The rate budget of `lm`'s calls, shared with every lmguard process
    /// using this state through `<state>.rate-<name>` (see
    /// [`crate::loadmaster::budget`]).
    /// A symbolic link planted there is refused (exit 5), as at the state's
    /// other files, and so is anything else that is not a regular file (a
    /// directory, a FIFO): the calls would otherwise be paced alone, outside
    /// the budget the host's other lmguard processes share.
    pub(crate) fn budget(&self, lm: &LoadMasterConfig) -> Result<Budget> {
        let file = self
            .state_path()
            .ok()
            .map(|state| budget::path_for(&state, lm.name.as_str()));
        if let Some(path) = &file {
            match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::state(crate::nofollow::refused(
                        "the rate budget file",
                        path,
                    )));
                }
                // A directory, FIFO, socket or device cannot hold it either.
                Ok(m) if !m.is_file() => {
                    return Err(Error::state(format!(
                        "the rate budget file {p} is not a regular file, so this run would pace                          its calls apart from the host's other lmguard processes and could                          cross the LoadMaster's rate limit; remove it (lmguard makes it again)",
                        p = path.display()
                    )));
                }
                _ => {}
            }
        }
        let budget = Budget::new(lm.rate, file);
        Ok(if self.rate_wait_bounded {
            budget.with_patience(lm.timeout.0)
        } else {
            budget
        })
    }

    /// The clients a run that may call the LoadMasters needs: none when it
    /// will not call them (`skip`: a dry run, nothing to do; and simulate
    /// mode).
    pub(crate) fn clients_for(&self, skip: bool) -> Result<Option<Clients>> {
        if skip || self.config.block.simulate() {
            return Ok(None);
        }
        self.clients().map(Some)
    }

    /// A client for each selected LoadMaster.
    pub(crate) fn clients(&self) -> Result<Clients> {
        self.targets()
            .map(|lm| Ok((lm.name, self.client(lm)?)))
            .collect::<Result<Vec<_>>>()
            .map(Clients)
    }

    /// How this run's calls to `lm` look on the wire, for dry runs and
    /// simulate mode: built from the settings alone (no key, no connection).
    pub(crate) fn wire(&self, lm: LoadMasterName) -> KempWire {
        let settings = self
            .config
            .loadmaster(lm)
            .unwrap_or(&self.config.loadmasters[0])
            .client_settings();
        KempWire::new(&settings)
    }

    /// Print what a dry run would send (see [`preview::print_dry_run`]).
    pub(crate) fn print_dry_run(&self, jobs: &[Job]) {
        preview::print_dry_run(&|lm| Box::new(self.wire(lm)), jobs);
    }

    /// Print the calls simulate mode withholds.
    pub(crate) fn print_simulated(&self, jobs: &[Job]) {
        preview::print_simulated(&|lm| Box::new(self.wire(lm)), jobs);
    }

    /// The scope `--vs` names on LoadMaster `lm`, else its default scope.
    pub(crate) fn scope(&self, lm: LoadMasterName, vs: Option<u32>) -> Scope {
        let default = self.config.loadmaster(lm).and_then(|c| c.vs);
        Scope::from_vs(vs.or(default))
    }

    /// `VS 3`, or `VS 3 on brno` when several LoadMasters are configured.
    pub(crate) fn where_(&self, lm: LoadMasterName, scope: Scope) -> String {
        scope.on(lm, self.several())
    }

    /// The selected LoadMasters as the executor calls them, each on its
    /// client.
    pub(crate) fn points<'c>(&self, clients: &'c Clients) -> Vec<batch::Point<'c>> {
        self.targets()
            .filter_map(|lm| {
                Some(batch::Point {
                    name: lm.name,
                    point: clients.get(lm.name)?,
                    connections: lm.connections,
                    rate: lm.rate,
                })
            })
            .collect()
    }

    /// Make the calls, each on its LoadMaster's client, and record the
    /// answers under this run's claim (see [`batch::apply_and_record`]).
    /// `recorded_in`: the store the calls were recorded in as pending, kept
    /// open for their answers until another process waits for it (see
    /// [`Kept`]); `None` opens one for them.
    pub(crate) fn apply(
        &self,
        clients: &Clients,
        jobs: Vec<Job>,
        recorded_in: Option<Store>,
    ) -> Result<RunResults> {
        batch::apply_and_record(
            &self.points(clients),
            &self.config.block.comment_prefix,
            &self.recorder(Kept::new(recorded_in)),
            jobs,
        )
    }

    /// What records this run's answers (see [`Recorder`]).
    pub(crate) fn recorder(&self, kept: Kept) -> Recorder<'_> {
        Recorder {
            claim: &self.claim,
            open: Box::new(|| self.open_store()),
            kept,
            quiet: self.quiet,
        }
    }
}

/// `a, b, c`: LoadMaster names for a message.
fn listed(names: impl Iterator<Item = LoadMasterName>) -> String {
    names.map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
}

/// A count in a summary line, broken down per LoadMaster when several are
/// configured: `blocked 2 (a 1, b 1)`.
#[derive(Debug, Default)]
pub(crate) struct Count {
    total: usize,
    by: Vec<(LoadMasterName, usize)>,
}

impl Count {
    pub(crate) fn add(&mut self, lm: LoadMasterName) {
        self.total += 1;
        match self.by.iter_mut().find(|(n, _)| *n == lm) {
            Some((_, n)) => *n += 1,
            None => self.by.push((lm, 1)),
        }
    }

    fn on(&self, lm: LoadMasterName) -> usize {
        self.by
            .iter()
            .find(|(n, _)| *n == lm)
            .map_or(0, |(_, n)| *n)
    }

    /// `2`, or `2 (a 1, b 1)` over the selected LoadMasters when several
    /// are configured (a count of 0 is just `0`).
    pub(crate) fn show(&self, ctx: &Context) -> String {
        if !ctx.several() || self.total == 0 {
            return self.total.to_string();
        }
        let by: Vec<String> = ctx
            .selected
            .iter()
            .map(|lm| format!("{lm} {}", self.on(*lm)))
            .collect();
        format!("{} ({})", self.total, by.join(", "))
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
