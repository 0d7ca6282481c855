//! Command-line definitions (clap derive) and the ADS argument filter.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::ads_args;
use crate::domain::duration::{parse_positive, BlockDuration};
use crate::domain::entry::{Scope, Status};
use crate::domain::event::InputFormat;
use crate::domain::filter::Filter;

/// What `lmguard --version` (and `-V`) prints after the name: the version and
/// the git commit the binary was built from (`build/commit.rs`), e.g.
/// `0.1.0 (commit 1a2b3c4)`, `-dirty` marking uncommitted changes.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("LMGUARD_BUILD_COMMIT"),
    ")"
);

/// The heading of the options every command takes, listed after its own.
const GLOBAL: &str = "Global options";

#[derive(Debug, Parser)]
#[command(
    name = "lmguard",
    version = VERSION,
    about = "Keep a Kemp/Progress LoadMaster's IP block lists in step with Flowmon ADS",
    long_about = "Keep a Kemp/Progress LoadMaster's IP block lists in step with Flowmon ADS.\n\n\
        Flowmon ADS runs `lmguard block` as a custom script with events on standard input; \
        cron runs `lmguard sweep` to lift expired blocks and retry what the LoadMaster could not \
        take. State lives in a local redb database, settings in lm-mitigation.toml.\n\n\
        Examples:\n  \
        lmguard check                                  # first thing after installing\n  \
        lmguard check --probe -v                       # prove the round trip on the LoadMaster\n  \
        lmguard block 203.0.113.7 --duration 36h       # block by hand\n  \
        lmguard list                                   # what is blocked, soonest expiry first\n  \
        lmguard unblock 203.0.113.7                    # a false positive\n  \
        lmguard unblock --method SCANS --since 2h      # a detection that misfired\n  \
        lmguard --config /etc/lmguard/lm-mitigation.toml sweep --quiet   # from cron",
    after_help = "Exit status: 0 done, 1 internal error, 2 usage/config error, 3 LoadMaster \
        unreachable (work recorded as pending), 4 some input rejected, 5 state database busy or \
        unusable, 6 sync found differences to act on (to repair with --apply, or orphans to \
        --adopt)."
)]
pub struct Cli {
    /// Configuration file [default: $LMGUARD_CONFIG, the per-user config dir, /etc/lmguard/lm-mitigation.toml]
    #[arg(long, global = true, value_name = "PATH", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,

    /// More log output (-v info, -vv debug and the wire trace with the key masked, -vvv trace)
    #[arg(
        short,
        long,
        global = true,
        action = ArgAction::Count,
        conflicts_with = "quiet",
        help_heading = GLOBAL
    )]
    pub verbose: u8,

    /// Nothing on standard output when all is well (block, unblock, sweep); failures still on standard error
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Block addresses (arguments), or the sources of ADS events on standard input
    #[command(
        long_about = "Block addresses given as arguments or, with none, the source of \
        every Flowmon ADS/IDS event on standard input (TSV, JSON lines or syslog CEF, detected \
        per line).\n\n\
        ADS appends its script parameters as NAME 'VALUE' pairs. Pairs named after an option \
        (--vs 3) set it; the others are ignored with a warning and never stop standard input \
        from being read: a pair whose name is not an option (--ticket 42, -severity high), a \
        pair without dashes (vs 3, severity high: a word followed by a value) and a pair with \
        an empty value (--vs ''). A token that is an address or network is an address; a word \
        on its own at the end is taken as an address (and rejected). This leniency is for ADS \
        only: when any argument is an address or network, the command line is an operator's \
        and is taken as typed — an unknown option is a usage error (exit 2, nothing done) and \
        any other word is a bad address (exit 4) while the valid addresses are blocked. An \
        address given here that the allowlist (without --force), a built-in protection, \
        min_prefix_* or max_active refuses is named on standard error, and the run exits \
        4.\n\n\
        Standard input may stay open (a syslog daemon's omprog or program()): events are applied \
        as they arrive — when the input pauses, and at least every second while it flows — and \
        the state is locked only while they are recorded. SIGTERM or SIGINT records what was \
        read and ends the run. With --confirm (rsyslog's confirmMessages protocol), standard \
        output carries OK once lmguard is ready, then one answer per input line (a line ends \
        at LF): OK once it is dealt with for good — recorded, skipped, or rejected (reported on \
        standard error, counted in the exit status) — or `error: line N not recorded, send it \
        again: …` when the state could not record it; the report goes to standard error.\n\n\
        Examples:\n  lmguard block 203.0.113.7 --duration 36h --reason 'SSH guessing'\n  \
        lmguard block --vs 3 < events.tsv        # what the ADS custom script does\n  \
        lmguard block --input cef --confirm      # what rsyslog omprog runs"
    )]
    Block(BlockArgs),
    /// Remove blocks by hand, on the LoadMaster and locally
    #[command(
        long_about = "Remove blocks by hand. The address is deleted from the LoadMaster \
        and marked `unblocked` locally, so that no sweep or retry puts it back. It acts on \
        one scope: --vs ID, else [block] vs, else the global list; an address blocked only \
        elsewhere is not touched (exit 4) and the message names each scope with the command \
        that unblocks it there.\n\n\
        Without addresses, the filters select the blocks (a detection that misfired): every \
        active or pending block matching all of --method, --since, --reason and --vs is unblocked \
        the same way. At least one of --method, --since and --reason is required. On a terminal \
        lmguard shows how many and a few of them and asks; elsewhere it needs --yes. Without --vs \
        the filters cover every list.\n\n\
        Examples:\n  lmguard unblock 203.0.113.7\n  \
        lmguard list --method SCANS --since 2h           # look first\n  \
        lmguard unblock --method SCANS --since 2h        # then undo them (asks)\n  \
        lmguard unblock --reason 'backup job' --yes      # from a script"
    )]
    Unblock(UnblockArgs),
    /// Show active and pending blocks (--all adds history)
    #[command(
        long_about = "Show the recorded blocks as a table, soonest expiry first (permanent \
        ones last), with a footer counting active, pending and expiring-within-24-h blocks. \
        Without options: the active and pending blocks. The filters combine; when they match \
        nothing, it says \"no blocks match\". Times are UTC. On a terminal the reason is cut to \
        its width (nothing is cut in a pipe or a file); colour only on a terminal, never with \
        NO_COLOR set. --json prints the same rows as one JSON array.\n\n\
        Examples:\n  lmguard list --address 203.0.113.0/24      # that network and what is in it\n  \
        lmguard list --method SCANS --since 2h     # what a misfired method blocked\n  \
        lmguard list --vs 3 --status pending\n  \
        lmguard list --all --json > blocks.json"
    )]
    List(ListArgs),
    /// Summarise the state: entries by status, blocks by method, priority and day
    #[command(
        long_about = "Summarise the local state at a glance: entries by status, blocks per \
        method and per priority, blocks per day over the last four weeks (a bar chart on a \
        terminal), the repeat offenders, the oldest pending entry and its age, and when the \
        LoadMaster last answered and last failed. Reads local state only; never calls the \
        LoadMaster. --json prints the same figures as one object; --prometheus in the \
        Prometheus text format, for node_exporter's textfile collector.\n\n\
        Examples:\n  lmguard stats\n  \
        cd /var/lib/node_exporter &&\n    \
        lmguard stats --prometheus > .lmguard.prom.tmp &&\n    \
        mv .lmguard.prom.tmp lmguard.prom\n\n\
        (contrib/lmguard-textfile.sh does this, keeping the old file on failure.)"
    )]
    Stats(StatsArgs),
    /// Lift expired blocks and retry pending work (run it from cron)
    #[command(
        long_about = "Remove every block whose expiry has passed and retry every \
        operation an earlier run could not apply. Run it from cron or a systemd timer.\n\n\
        After the allowlist changes, sweep also unblocks every active block of lmguard's that \
        the allowlist (or a built-in protection) now covers, recorded with the reason \
        \"allowlisted\"; a block made with `block --force` stays.\n\n\
        Example crontab line (contrib/crontab):\n  \
        */5 * * * * /usr/local/bin/lmguard --config /etc/lmguard/lm-mitigation.toml sweep \
        --quiet"
    )]
    Sweep(SweepArgs),
    /// Compare local state with the LoadMaster's lists, and repair with --apply
    #[command(
        long_about = "Compare local state with the block lists the LoadMaster really holds \
        (the global list and every VS list that local state or [block] vs names) and print \
        every difference. Without --apply or --adopt (or with --dry-run) it only reads.\n\n\
        The four kinds of difference:\n  \
        missing_on_loadmaster  active locally, absent there: --apply re-adds it\n  \
        stale_on_loadmaster    expired/unblocked locally, still there: --apply removes it\n  \
        orphaned               lmguard's comment, no local record: --adopt takes it\n  \
        foreign                not lmguard's, never touched: --adopt takes it\n\n\
        --adopt records foreign and orphaned entries as active blocks with the default \
        duration from now (the migration path from the old scripts); it does not change them \
        on the LoadMaster.\n\n\
        Exit status: 6 when differences remain that an operator must act on — missing or \
        stale (--apply repairs them) or orphaned (they would never expire; --adopt takes \
        them) — with a hint on standard error; 0 when there are none, even if foreign \
        entries are listed; 3 when a list could not be read or a repair failed (it stays \
        pending for sweep); 2, 5 as for every command.\n\n\
        Examples:\n  \
        lmguard sync                # report; exit 6 when --apply has work\n  \
        lmguard sync --apply        # repair what is lmguard's\n  \
        lmguard sync --adopt        # take over the old scripts' entries"
    )]
    Sync(SyncArgs),
    /// Check the configuration, key file, state database and LoadMaster
    #[command(
        long_about = "Check the set-up, one line per check: the configuration, the API key \
        file and its permissions, the state database (that this user can create and write it \
        and its lock, proven with a scratch file that is removed at once), and the LoadMaster \
        (TLS, API key, reading the global block list, firmware version, whether its access lists \
        are enforced). It also warns about active blocks the allowlist or a built-in \
        protection now covers, which the next sweep lifts. ✔ passed, ! warning, ✘ failed with \
        the fix on the next line, - not checked. Without --probe it changes nothing, locally or on the LoadMaster.\n\n\
        --probe proves the round trip before going live, on each list lmguard writes to: it \
        reads the list, adds a test entry from 198.18.0.0/15 (comment '<comment_prefix> probe'), \
        reads the list, adds it again, deletes it with the spelling the list shows, reads the \
        list again and deletes it again; then it does the same with an IPv6 entry from \
        2001:2::/48 sent as ADDR/128. For each step it says what the LoadMaster answered and \
        whether lmguard can read it. It deletes only the address it added in that run (never \
        one that was listed before or that lmguard blocks) and removes it whatever happens, \
        also on Ctrl-C. An entry left by a run that died is removed by the next probe where the \
        list shows comments, and only named where it shows none. A LoadMaster that refuses IPv6 \
        is a warning. With [block] mode = \"simulate\" the probe is skipped. With -v it also prints every request and answer with the API key replaced by ***: \
        attach that trace when reporting a firmware lmguard misreads.\n\n\
        Exit status: 0 when nothing failed (warnings allowed); else 2 for a configuration or \
        key file problem, 3 for the LoadMaster (a refused API key, HTTP 401, included), 5 for \
        the state database (the highest wins).\n\n\
        Examples, as the user ADS runs scripts as:\n  \
        sudo -u flowmon lmguard --config /etc/lmguard/lm-mitigation.toml check\n  \
        sudo -u flowmon lmguard --config /etc/lmguard/lm-mitigation.toml check --probe -v"
    )]
    Check(CheckArgs),
    /// Print a shell completion script (bash, zsh, fish) on standard output
    #[command(
        long_about = "Print the completion script for SHELL on standard output. It needs no \
        configuration.\n\n\
        Examples:\n  \
        lmguard completions bash > /etc/bash_completion.d/lmguard\n  \
        lmguard completions zsh > /usr/local/share/zsh/site-functions/_lmguard\n  \
        lmguard completions fish > ~/.config/fish/completions/lmguard.fish"
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct BlockArgs {
    /// Addresses or CIDR networks; none = read events from standard input
    #[arg(value_name = "ADDRESS")]
    pub addresses: Vec<String>,

    /// Block on this virtual service's list (the LoadMaster's VS index)
    #[arg(long, value_name = "ID")]
    pub vs: Option<u32>,

    #[command(flatten)]
    pub loadmasters: LoadMasterArgs,

    /// How long: 90m, 36h, 7d, 2w or permanent [default: block.duration]
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<BlockDuration>,

    /// Reason recorded with the block [default: the event's method]
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

    /// Override the configured allowlist for a manual block (never the built-in protections)
    #[arg(long)]
    pub force: bool,

    /// Print the LoadMaster calls that would be made; change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Format of standard input
    #[arg(long, value_enum, default_value_t = InputArg::Auto, value_name = "FORMAT")]
    pub input: InputArg,

    /// Answer each input line on standard output (rsyslog confirmMessages): OK once dealt with for good, an error only when it could not be recorded
    #[arg(long, conflicts_with_all = ["addresses", "dry_run"])]
    pub confirm: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum InputArg {
    Auto,
    Tsv,
    Json,
    Cef,
}

impl From<InputArg> for InputFormat {
    fn from(a: InputArg) -> Self {
        match a {
            InputArg::Auto => InputFormat::Auto,
            InputArg::Tsv => InputFormat::Tsv,
            InputArg::Json => InputFormat::Json,
            InputArg::Cef => InputFormat::Cef,
        }
    }
}

#[derive(Debug, Args)]
pub struct UnblockArgs {
    /// Addresses or CIDR networks to unblock; none = every block the filters select
    #[arg(value_name = "ADDRESS", conflicts_with_all = ["method", "since", "reason"])]
    pub addresses: Vec<String>,

    /// The virtual service whose list holds them (with filters: only that list's blocks)
    #[arg(long, value_name = "ID")]
    pub vs: Option<u32>,

    #[command(flatten)]
    pub loadmasters: LoadMasterArgs,

    #[command(flatten)]
    pub filter: FilterArgs,

    /// Unblock what the filters select without asking (needed off a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Print what would be unblocked and the LoadMaster calls; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `--loadmaster NAME`: which configured LoadMasters a command works on.
#[derive(Debug, Args)]
pub struct LoadMasterArgs {
    /// Only this configured LoadMaster (its [[loadmaster]] name; repeatable) [default: all]
    #[arg(long = "loadmaster", value_name = "NAME")]
    pub names: Vec<String>,
}

/// The filters that `list` and bulk `unblock` share.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only blocks from this ADS method (SCANS, SSHDICT, …; repeatable)
    #[arg(long, value_name = "METHOD")]
    pub method: Vec<String>,

    /// Only blocks made within this long before now (90m, 2h, 7d)
    #[arg(long, value_name = "DURATION", value_parser = parse_since)]
    pub since: Option<Duration>,

    /// Only blocks whose reason contains this text (any case)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

impl FilterArgs {
    /// The filter these options (and `--vs`) describe.
    pub fn filter(&self, vs: Option<u32>) -> Filter {
        Filter::new(
            &self.method,
            self.since,
            self.reason.as_deref(),
            vs.map(Scope::Vs),
        )
    }
}

/// `--since`: a span of time back from now (`permanent` means nothing here).
fn parse_since(s: &str) -> Result<Duration, String> {
    parse_positive(s)
        .map_err(|_| format!("'{s}' is not a span of time back from now; use e.g. 90m, 2h or 7d"))
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Include expired, unblocked and rejected history
    #[arg(long)]
    pub all: bool,

    /// One JSON array instead of a table
    #[arg(long)]
    pub json: bool,

    /// Only entries equal to, inside or containing this address/network
    #[arg(long, value_name = "ADDR|CIDR")]
    pub address: Option<String>,

    /// Only this virtual service's entries
    #[arg(long, value_name = "ID")]
    pub vs: Option<u32>,

    #[command(flatten)]
    pub loadmasters: LoadMasterArgs,

    /// Only entries with this status (pending = pending_block and pending_unblock)
    #[arg(
        long,
        value_name = "STATUS",
        value_parser = PossibleValuesParser::new(StatusFilter::NAMES)
            .try_map(|s| s.parse::<StatusFilter>())
    )]
    pub status: Option<StatusFilter>,

    #[command(flatten)]
    pub filter: FilterArgs,
}

/// `list --status`: one status, or `pending` for both pending kinds (the
/// footer's "N pending" counts both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Pending,
    Is(Status),
}

impl StatusFilter {
    /// Every value `--status` takes, offered by the shell completions.
    pub const NAMES: [&'static str; 7] = [
        "active",
        "pending",
        "pending_block",
        "pending_unblock",
        "expired",
        "unblocked",
        "rejected",
    ];

    pub fn matches(self, status: Status) -> bool {
        match self {
            StatusFilter::Pending => status.is_pending(),
            StatusFilter::Is(s) => status == s,
        }
    }
}

impl std::str::FromStr for StatusFilter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(StatusFilter::Pending),
            other => other.parse().map(StatusFilter::Is),
        }
    }
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// One JSON object instead of a summary
    #[arg(long, conflicts_with = "prometheus")]
    pub json: bool,

    /// The Prometheus text exposition format (lmguard_* metrics)
    #[arg(long)]
    pub prometheus: bool,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub loadmasters: LoadMasterArgs,

    /// Print the LoadMaster calls that would be made; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub loadmasters: LoadMasterArgs,

    /// Also add, read back and remove a test entry on the LoadMaster (writes)
    #[arg(long)]
    pub probe: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub loadmasters: LoadMasterArgs,

    /// Repair lmguard's differences: re-add what is missing, remove what is stale
    #[arg(long)]
    pub apply: bool,
    /// Take entries lmguard does not own (foreign, orphaned) into local state
    #[arg(long)]
    pub adopt: bool,
    /// Only report (what sync does without --apply/--adopt; overrides them)
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON array instead of a table
    #[arg(long)]
    pub json: bool,
}

impl SyncArgs {
    /// `--apply`, unless `--dry-run` says to only report.
    pub fn applies(&self) -> bool {
        self.apply && !self.dry_run
    }

    /// `--apply` or `--adopt`, unless `--dry-run` says to only report.
    pub fn changes_state(&self) -> bool {
        (self.apply || self.adopt) && !self.dry_run
    }
}

/// Flowmon ADS appends its configured script parameters as `NAME 'VALUE'`
/// pairs. Before clap sees `block`'s arguments, pairs that are not options
/// of `block` (with or without dashes) or that have an empty value are
/// dropped with a warning each ([`crate::ads_args`] has the rule), so that
/// they never make `block` fail — only when no argument is an address (the
/// events come on standard input); with one, the command line is left to
/// clap as it is. Other subcommands are left alone.
/// `command` is [`Cli::command`], built once by the caller (building it is
/// a good part of a cold `block`'s start).
pub fn filter_ads_args(
    command: &clap::Command,
    args: Vec<OsString>,
) -> (Vec<OsString>, Vec<String>) {
    let Some(block_at) = subcommand_position(command, &args).filter(|&i| args[i] == "block") else {
        return (args, Vec::new());
    };
    let block = command
        .find_subcommand("block")
        .expect("block is a subcommand");
    let mut known = ads_args::KnownOptions::default();
    for arg in command.get_arguments().chain(block.get_arguments()) {
        if let Some(long) = arg.get_long() {
            known.long.push(long.to_string());
            if arg.get_action().takes_values() {
                known.long_with_value.push(long.to_string());
            }
        }
        if let Some(short) = arg.get_short() {
            if !arg.get_action().takes_values() {
                known.short_flags.push(short);
            }
        }
    }
    known
        .long
        .extend(["help".to_string(), "version".to_string()]);
    known.short_flags.extend(['h', 'V']);

    let (rest, warnings) = ads_args::filter_block_args(&args[block_at + 1..], &known);
    let mut out = args[..=block_at].to_vec();
    out.extend(rest);
    (out, warnings)
}

/// Where the subcommand is: the first argument after the program name that
/// is not a global option or its value.
fn subcommand_position(command: &clap::Command, args: &[OsString]) -> Option<usize> {
    let with_value: Vec<String> = command
        .get_arguments()
        .filter(|a| a.get_action().takes_values())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    let mut i = 1;
    while i < args.len() {
        let text = args[i].to_string_lossy();
        if with_value.iter().any(|w| *w == text) {
            i += 2;
        } else if text.starts_with('-') {
            i += 1;
        } else {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn filtered(args: &[&str]) -> (Vec<String>, usize) {
        let (out, warnings) =
            filter_ads_args(&Cli::command(), args.iter().map(OsString::from).collect());
        (
            out.into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            warnings.len(),
        )
    }

    #[test]
    fn unknown_ads_pairs_are_dropped_with_a_warning() {
        let (out, w) = filtered(&["lmguard", "block", "--vs", "3", "--ticket", "42"]);
        assert_eq!(out, ["lmguard", "block", "--vs", "3"]);
        assert_eq!(w, 1);
    }

    #[test]
    fn known_options_and_addresses_are_kept() {
        let args = [
            "lmguard",
            "--config",
            "/c",
            "block",
            "--duration",
            "7d",
            "--reason",
            "x y",
            "--dry-run",
            "192.0.2.7",
            "--config=/d",
        ];
        let (out, w) = filtered(&args);
        assert_eq!(out, args);
        assert_eq!(w, 0);
    }

    #[test]
    fn other_subcommands_are_untouched() {
        let (out, w) = filtered(&["lmguard", "list", "--bogus"]);
        assert_eq!(out, ["lmguard", "list", "--bogus"]);
        assert_eq!(w, 0);
        // Only the subcommand's position counts, not a value that says block.
        let args = ["lmguard", "--config", "block", "list", "vs", "3"];
        let (out, w) = filtered(&args);
        assert_eq!(out, args);
        assert_eq!(w, 0);
    }

    #[test]
    fn pairs_without_dashes_and_empty_values_are_dropped() {
        let (out, w) = filtered(&[
            "lmguard", "-v", "block", "vs", "3", "--vs", "", "severity", "high",
        ]);
        assert_eq!(out, ["lmguard", "-v", "block"]);
        assert_eq!(w, 3);
    }

    /// Fails to compile when a status is added, so that `--status` (and its
    /// completions) learn it too.
    fn status_name(s: Status) -> &'static str {
        match s {
            Status::Active => "active",
            Status::PendingBlock => "pending_block",
            Status::PendingUnblock => "pending_unblock",
            Status::Expired => "expired",
            Status::Unblocked => "unblocked",
            Status::Rejected => "rejected",
        }
    }

    #[test]
    fn every_status_and_pending_are_list_filters() {
        for name in StatusFilter::NAMES {
            let filter: StatusFilter = name.parse().unwrap();
            if let StatusFilter::Is(s) = filter {
                assert_eq!(status_name(s), name);
            }
        }
        let pending: StatusFilter = "pending".parse().unwrap();
        assert!(pending.matches(Status::PendingBlock) && pending.matches(Status::PendingUnblock));
        assert!(!pending.matches(Status::Active));
    }

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }
}
