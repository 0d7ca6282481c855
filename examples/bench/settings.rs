//! What a run of the benchmark measures, and how big: the
//! sizes of each scenario and the helpers every module shares.

use std::path::PathBuf;

pub(crate) const KEY: &str = fake_loadmaster::DEFAULT_API_KEY;
pub(crate) const CURL: &str = "curl";
pub(crate) const GNU_TIME: &str = "/usr/bin/time";
/// The rate budget of every scenario but 10: they measure lmguard, not the
/// pacing the appliance's rate limit needs (25/3s by default).
pub(crate) const FAST_RATE: &str = "rate = \"100000/1s\"\n";

/// What to run, and how big.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The lmguard binary to time.
    pub lmguard: PathBuf,
    /// This program, for the cold Rust-client floor (`--one-post`); None
    /// skips that floor.
    pub self_exe: Option<PathBuf>,
    /// Runs of the cold single block (and of each floor), on one
    /// LoadMaster and on four.
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
    /// Events on one stdin against a fake with Kemp's rate limit, at
    /// lmguard's default budget (target 10; 1 000 take two minutes).
    pub paced: usize,
    /// Run target 10 when no `--only` is given (it is opt-in otherwise:
    /// `--only 10`, since it mostly sleeps).
    pub paced_by_default: bool,
    /// Print progress on stderr.
    pub verbose: bool,
    /// Scenarios to run (1 single block, 2 burst, 3 sweep, 4 list and
    /// sync, 6 the largest state, 7 streams, 8 bulk unblock, 9 a single
    /// block on four LoadMasters, 10 the rate-limited burst, opt-in);
    /// empty = all but 10.
    pub only: Vec<u8>,
}

impl Settings {
    pub(crate) fn wants(&self, scenario: u8) -> bool {
        self.only.is_empty() || self.only.contains(&scenario)
    }

    /// Target 10: only when asked for (or in the smoke test).
    pub(crate) fn wants_paced(&self) -> bool {
        self.only.contains(&10) || (self.only.is_empty() && self.paced_by_default)
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
            paced: 1_000,
            paced_by_default: false,
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
            paced: 100,
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
            paced: 12,
            paced_by_default: true,
            verbose: false,
            only: Vec::new(),
        }
    }
}
