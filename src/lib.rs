//! lmguard: keeps a Kemp/Progress LoadMaster's IP block lists in step with
//! what Flowmon ADS finds.
//!
//! The layout: [`cli`] (clap definitions) → [`commands`] (one module per
//! subcommand) → [`domain`] (pure logic: addresses, durations, events, state
//! transitions), [`state`] (redb), [`loadmaster`] (the HTTPS client) and
//! [`executor`] (carrying out LoadMaster calls for a run).

pub(crate) mod ads_args;
pub mod cli;
pub mod clock;
pub(crate) mod commands;
pub mod config;
pub(crate) mod confirm;
pub mod domain;
pub(crate) mod enforcement;
pub mod error;
pub(crate) mod executor;
pub mod exit;
pub(crate) mod loadmaster;
pub(crate) mod logging;
pub(crate) mod nofollow;
pub(crate) mod owner;
pub(crate) mod process;
pub(crate) mod protections;
pub(crate) mod rename;
pub mod state;
pub(crate) mod state_probe;

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches};

use cli::{Cli, Command};
use commands::Context;
use config::Config;
use error::Result;
use exit::ExitStatus;

/// Run lmguard with these arguments; returns the exit status. Errors are
/// printed here, as one line on standard error.
pub fn run(args: Vec<OsString>) -> ExitStatus {
    // Built once: the ADS filter and the parser both need it.
    let command = Cli::command();
    let (args, ignored) = cli::filter_ads_args(&command, args);
    let parsed = command.try_get_matches_from(args).and_then(|mut matches| {
        Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut Cli::command()))
    });
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Usage
            } else {
                ExitStatus::Success
            };
        }
    };
    for warning in ignored {
        eprintln!("lmguard: warning: {warning}");
    }
    match dispatch(&cli) {
        Ok(status) => status,
        Err(e) => {
            logging::failure(&e.to_string());
            e.code()
        }
    }
}

/// What `--loadmaster` names, for the commands that take it.
fn selected_loadmasters(command: &Command) -> Option<&[String]> {
    let args = match command {
        Command::Block(a) => &a.loadmasters,
        Command::Unblock(a) => &a.loadmasters,
        Command::List(a) => &a.loadmasters,
        Command::Sweep(a) => &a.loadmasters,
        Command::Sync(a) => &a.loadmasters,
        Command::Check(a) => &a.loadmasters,
        Command::Stats(_) | Command::Completions(_) => return None,
    };
    Some(&args.names)
}

fn dispatch(cli: &Cli) -> Result<ExitStatus> {
    if let Command::Completions(args) = &cli.command {
        return commands::completions::run(args.shell);
    }
    let path = config::locate(cli.config.as_deref())?;
    let loaded = Config::load(&path);
    let level = logging::level(cli.verbose, cli.quiet, loaded.as_ref().ok().map(|c| &c.log));
    logging::init(level, loaded.as_ref().ok().map(|c| &c.log))?;
    let config = loaded?;
    config::check_ownership(&path, cli.config.is_some())?;
    log::debug!("configuration read from {}", path.display());
    let mut ctx = Context::new(config, path)?;
    ctx.quiet = cli.quiet;
    if let Some(names) = selected_loadmasters(&cli.command) {
        ctx.select(names)?;
    }
    match &cli.command {
        Command::Block(args) => {
            let stdin = std::io::stdin();
            let is_terminal = std::io::IsTerminal::is_terminal(&stdin);
            commands::block::run(&mut ctx, args, stdin, is_terminal)
        }
        Command::Unblock(args) => commands::unblock::run(&ctx, args),
        Command::List(args) => commands::list::run(&ctx, args),
        Command::Stats(args) => commands::stats::run(&ctx, args),
        Command::Sweep(args) => commands::sweep::run(&ctx, args),
        Command::Sync(args) => commands::sync::run(&ctx, args),
        Command::Check(args) => commands::check::run(&ctx, args, cli.verbose),
        Command::Completions(_) => unreachable!("handled before the configuration is read"),
    }
}
