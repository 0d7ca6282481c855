//! `lmguard check`: the first thing an operator runs after installing. One
//! line per check — ✔ passed, ! warning, ✘ failed (with the fix on the next
//! line), - not checked because an earlier check failed. It changes nothing,
//! locally or on the LoadMaster (it only reads the block list and asks
//! `get version` and `aclcontrol.isenabled`; to prove the state can be
//! written it creates and removes a scratch file beside it) — unless
//! `--probe` asks it to prove the round trip with a test entry ([`probe`]).
//!
//! Exit 0 when nothing failed (warnings allowed); otherwise the highest of
//! the failed checks' codes: 2 configuration or key, 3 LoadMaster, 5 state.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::cli::CheckArgs;
use crate::config::{self, LoadMasterConfig};
use crate::domain::entry::{Scope, Status};
use crate::domain::ownership;
use crate::enforcement::EnforcementPoint;
use crate::error::{Error, Kind, Result};
use crate::exit::ExitStatus;
use crate::loadmaster::budget::Budget;
use crate::loadmaster::firmware::{Version, MIN_V2};
use crate::loadmaster::scrub::Scrubber;
use crate::loadmaster::ApiKey;
use crate::loadmaster::{Client, Failure};
use crate::state_probe;

use super::Context;

mod probe;

/// `verbose` (the count of `-v`) turns on the wire trace of `--probe`.
/// The local checks once, then the LoadMaster checks (and the probe) for
/// each selected LoadMaster, its lines naming it when several are
/// configured (`TLS connection on brno`).
pub(crate) fn run(ctx: &Context, args: &CheckArgs, verbose: u8) -> Result<ExitStatus> {
    let mut report = Report::new(super::list::colour_wanted());
    // Every key before any line: whatever a LoadMaster quotes back, on
    // whichever line, is masked there.
    for lm in ctx.targets() {
        if let Ok(key) = quietly(|| lm.api_key()) {
            report.mask(key.expose());
        }
    }
    check_config(ctx, &mut report);
    check_state(ctx, &mut report);
    check_allowlisted_blocks(ctx, &mut report);
    check_unconfigured(ctx, &mut report);
    let trace = args.probe && verbose >= 1;
    for lm in ctx.targets() {
        report.on = ctx.several().then(|| lm.name.to_string());
        let key = check_key(lm, &mut report);
        let client = check_loadmaster(ctx, lm, key, trace, &mut report);
        if args.probe {
            match &client {
                // The probe's test entry would be a change on the LoadMaster.
                _ if ctx.config.block.simulate() => report.skip(
                    "probe",
                    "mode = \"simulate\" makes no change on the LoadMaster, and the probe adds \
                     and deletes a test entry",
                ),
                Some(client) => probe::run(ctx, lm, client, &mut report),
                None => report.skip("probe", "the LoadMaster checks above failed"),
            }
        }
    }
    report.on = None;
    report.finish()
}

/// What one check found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Pass,
    Warn,
    Fail(Kind),
    Skip,
}

/// Prints each line as soon as its check is done (a LoadMaster that does
/// not answer takes the configured timeout) and remembers the worst.
///
/// The one way out for `check`'s text: every line, failure text and fix
/// is scrubbed here of the API keys (and of control characters), whatever
/// check or probe step made it — a LoadMaster's answer may quote the key
/// anywhere (issue 24).
struct Report {
    colour: bool,
    /// The keys of the configured LoadMasters, masked in every line.
    secrets: Vec<Scrubber>,
    failed: Vec<String>,
    /// The names of the checks reported so far.
    reported: Vec<String>,
    warnings: usize,
    passed: usize,
    /// The worst kind of failure so far.
    worst: Option<Kind>,
    /// The LoadMaster the next lines are about, when several are
    /// configured: their names end ` on NAME`.
    on: Option<String>,
}

impl Report {
    fn new(colour: bool) -> Report {
        Report {
            colour,
            secrets: Vec::new(),
            failed: Vec::new(),
            reported: Vec::new(),
            warnings: 0,
            passed: 0,
            worst: None,
            on: None,
        }
    }

    /// Mask `key` in every line printed from now on.
    fn mask(&mut self, key: &str) {
        if !key.is_empty() {
            self.secrets.push(Scrubber::new(key));
        }
    }

    /// `text` without any key and without control characters.
    fn scrubbed(&self, text: &str) -> String {
        let mut text = text.to_string();
        if self.secrets.is_empty() {
            // Control characters go all the same.
            Scrubber::new("").scrub_in_place(&mut text);
        }
        for secret in &self.secrets {
            secret.scrub_in_place(&mut text);
        }
        text
    }

    fn pass(&mut self, name: &str, text: impl AsRef<str>) {
        self.line(Mark::Pass, name, text.as_ref(), None);
    }

    fn warn(&mut self, name: &str, text: impl AsRef<str>, hint: impl AsRef<str>) {
        self.line(Mark::Warn, name, text.as_ref(), Some(hint.as_ref()));
    }

    fn fail(&mut self, kind: Kind, name: &str, text: impl AsRef<str>, fix: impl AsRef<str>) {
        self.line(Mark::Fail(kind), name, text.as_ref(), Some(fix.as_ref()));
    }

    fn skip(&mut self, name: &str, why: &str) {
        self.line(Mark::Skip, name, &format!("not checked: {why}"), None);
    }

    /// A "not checked" line for each of `names` not reported yet.
    fn skip_unreported(&mut self, names: &[&str], why: &str) {
        for name in names {
            let full = self.full_name(name);
            if !self.reported.contains(&full) {
                self.skip(name, why);
            }
        }
    }

    /// `TLS connection`, or `TLS connection on brno`.
    fn full_name(&self, name: &str) -> String {
        match &self.on {
            Some(lm) => format!("{name} on {lm}"),
            None => name.to_string(),
        }
    }

    fn line(&mut self, mark: Mark, name: &str, text: &str, fix: Option<&str>) {
        let name = &self.scrubbed(&self.full_name(name));
        let text = &self.scrubbed(text);
        let fix = fix.map(|f| self.scrubbed(f));
        let fix = fix.as_deref();
        self.reported.push(name.to_string());
        let (symbol, colour) = match mark {
            Mark::Pass => {
                self.passed += 1;
                ("✔", "32")
            }
            Mark::Warn => {
                self.warnings += 1;
                ("!", "33")
            }
            Mark::Fail(kind) => {
                self.failed.push(name.to_string());
                self.worst = match self.worst {
                    Some(worst) if worst.code() >= kind.code() => Some(worst),
                    _ => Some(kind),
                };
                ("✘", "31")
            }
            Mark::Skip => ("-", "2"),
        };
        let symbol = if self.colour {
            format!("\x1b[{colour}m{symbol}\x1b[0m")
        } else {
            symbol.to_string()
        };
        let mut text = format!("{symbol} {name}: {text}\n");
        if let Some(fix) = fix {
            let label = if mark == Mark::Warn { "hint" } else { "fix" };
            text.push_str(&format!("    {label}: {fix}\n"));
        }
        // A closed standard output must not hide the exit status.
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }

    fn finish(self) -> Result<ExitStatus> {
        let warnings = match self.warnings {
            0 => String::new(),
            n => format!(", {}", count_of(n, "warning", "warnings")),
        };
        if self.failed.is_empty() {
            println!(
                "all {} passed{warnings}",
                count_of(self.passed, "check", "checks")
            );
            return Ok(ExitStatus::Success);
        }
        Err(Error::new(
            self.worst.unwrap_or(Kind::Internal),
            format!(
                "{} failed ({}){warnings}; fix the ✘ lines above and run `lmguard check` again",
                count_of(self.failed.len(), "check", "checks"),
                self.failed.join(", ")
            ),
        ))
    }
}

fn count_of(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Run `f` without its log warnings: what they would say (a key file others
/// can read, TLS verification off) is a line of the report instead.
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    let level = log::max_level();
    log::set_max_level(level.min(log::LevelFilter::Error));
    let out = f();
    log::set_max_level(level);
    out
}

// ----- configuration ---------------------------------------------------------

const CONFIG: &str = "configuration";

fn check_config(ctx: &Context, report: &mut Report) {
    // It was read and validated before this command ran; say which file it was.
    let path = std::fs::canonicalize(&ctx.config_path)
        .unwrap_or_else(|_| ctx.config_path.clone())
        .display()
        .to_string();
    let c = &ctx.config;
    let on = |lm: &LoadMasterConfig| {
        let scope = match lm.vs {
            Some(vs) => format!("VS {vs}'s block list"),
            None => "the global block list".to_string(),
        };
        if c.several() {
            format!("LoadMaster {} {} on {scope}", lm.name, lm.url)
        } else {
            format!(
                "LoadMaster {}, blocks for {} on {scope}",
                lm.url, c.block.duration
            )
        }
    };
    let loadmasters = c.loadmasters.iter().map(on).collect::<Vec<_>>().join("; ");
    let loadmasters = if c.several() {
        format!("blocks for {}; {loadmasters}", c.block.duration)
    } else {
        loadmasters
    };
    let simulate = if c.block.mode == config::Mode::Simulate {
        "; mode = simulate: block, unblock and sweep record only and never call the LoadMaster"
    } else {
        ""
    };
    let text = format!("{path} is valid ({loadmasters}){simulate}");
    match config::unsafe_ownership(&ctx.config_path) {
        Some(problem) => report.warn(
            CONFIG,
            format!("{text}, but {problem}"),
            "only root or the user that runs lmguard may be able to change it",
        ),
        None => report.pass(CONFIG, text),
    }
    for (first, second) in same_appliance(&c.loadmasters) {
        report.warn(
            CONFIG,
            format!(
                "[[loadmaster]] tables \"{}\" and \"{}\" have the same URL {}: one appliance \
                 kept as two LoadMasters gets every block twice, and each table's entries look \
                 orphaned to the other's sync",
                first.name, second.name, first.url
            ),
            "keep one table per appliance (an HA pair is one LoadMaster: its shared address, \
             with tls_sha256 listing both units)",
        );
    }
}

/// Pairs of configured LoadMasters whose URLs name the same appliance
/// (same host and port, the default port 443 written or not).
fn same_appliance(lms: &[LoadMasterConfig]) -> Vec<(&LoadMasterConfig, &LoadMasterConfig)> {
    let key = |lm: &LoadMasterConfig| {
        let endpoint = lm.endpoint().to_ascii_lowercase();
        endpoint.replacen(":443/", "/", 1)
    };
    let mut pairs = Vec::new();
    for (i, a) in lms.iter().enumerate() {
        if let Some(b) = lms[i + 1..].iter().find(|b| key(a) == key(b)) {
            pairs.push((a, b));
        }
    }
    pairs
}

// ----- API key ---------------------------------------------------------------

const KEY: &str = "API key";

/// The name of the local key check: where the key comes from.
fn key_source(lm: &LoadMasterConfig) -> &'static str {
    if lm.api_key_file.is_some() {
        "API key file"
    } else {
        "API key variable"
    }
}

fn check_key(lm: &LoadMasterConfig, report: &mut Report) -> Option<ApiKey> {
    let key = match quietly(|| lm.api_key()) {
        Ok(key) => key,
        Err(e) => {
            let fix = match &lm.api_key_file {
                Some(file) => format!(
                    "write the LoadMaster API key (one line) into {f}, readable by the user that \
                     runs lmguard: chmod 600 {f}",
                    f = file.display()
                ),
                None => format!(
                    "export {} with the API key in the environment lmguard runs in",
                    lm.api_key_env.as_deref().unwrap_or("the variable")
                ),
            };
            report.fail(e.kind(), key_source(lm), e.message(), fix);
            return None;
        }
    };
    let Some(file) = &lm.api_key_file else {
        let var = lm.api_key_env.as_deref().unwrap_or("?");
        report.pass(key_source(lm), format!("{var} is set"));
        return Some(key);
    };
    let mode = std::fs::metadata(file)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    if mode & 0o066 != 0 {
        report.warn(
            key_source(lm),
            format!(
                "{} is readable, but mode {mode:04o} lets its group or others {} it",
                file.display(),
                if mode & 0o044 != 0 { "read" } else { "write" }
            ),
            format!(
                "chmod 600 {} (only the user that runs lmguard needs it)",
                file.display()
            ),
        );
    } else {
        report.pass(
            key_source(lm),
            format!("{} is readable, mode {mode:04o}", file.display()),
        );
    }
    Some(key)
}

// ----- state database --------------------------------------------------------

const STATE: &str = "state database";

fn check_state(ctx: &Context, report: &mut Report) {
    let path = match ctx.state_path() {
        Ok(p) => p,
        Err(e) => {
            report.fail(
                e.kind(),
                STATE,
                e.message(),
                "set [state] path in the configuration",
            );
            return;
        }
    };
    // First what `block` will need: to create or write the database and
    // its lock, as this user.
    let mut beside = vec![
        crate::state::lock_path(&path),
        crate::state::wait_path(&path),
    ];
    // The rate budget files of the configured LoadMasters live there too.
    beside.extend(
        ctx.config
            .loadmasters
            .iter()
            .map(|lm| crate::loadmaster::budget::path_for(&path, lm.name.as_str())),
    );
    let beside: Vec<&std::path::Path> = beside.iter().map(|p| p.as_path()).collect();
    let proven = match state_probe::prove_writable(&path, &beside) {
        Ok(proven) => proven,
        Err(problem) => {
            report.fail(Kind::State, STATE, &problem.text, &problem.fix);
            return;
        }
    };
    let store = match ctx.open_existing_store() {
        Ok(Some(store)) => store,
        Ok(None) => {
            report.pass(
                STATE,
                format!(
                    "{} does not exist yet; it will be created by the first block or sweep, \
                     and {proven}",
                    path.display()
                ),
            );
            return;
        }
        Err(e) => {
            report.fail(e.kind(), STATE, state_text(&e), state_fix(&e, &path));
            return;
        }
    };
    let entries = match store.all() {
        Ok(entries) => entries,
        Err(e) => {
            report.fail(e.kind(), STATE, state_text(&e), state_fix(&e, &path));
            return;
        }
    };
    // Every record reads; do the indexes sweep and max_active go by agree?
    match store.index_problems() {
        Ok(problems) if problems.is_empty() => {}
        Ok(problems) => {
            let text = format!(
                "{} is damaged: its records read, but its indexes disagree with them ({})",
                path.display(),
                problems.join("; ")
            );
            report.fail(
                Kind::State,
                STATE,
                text,
                state_fix(&Error::state(""), &path),
            );
            return;
        }
        Err(e) => {
            report.fail(e.kind(), STATE, state_text(&e), state_fix(&e, &path));
            return;
        }
    }
    drop(store);
    let count = |f: &dyn Fn(Status) -> bool| entries.iter().filter(|e| f(e.status)).count();
    let active = count(&|s| s == Status::Active);
    let pending = count(&|s| s.is_pending());
    let history = entries.len() - active - pending;
    let mut text = format!(
        "{} opens and reads: {} ({active} active, {pending} pending, {history} history)",
        path.display(),
        count_of(entries.len(), "entry", "entries")
    );
    if pending > 0 {
        text.push_str("; `lmguard sweep` retries the pending ones");
    }
    if let Some(warning) = crate::clock::future_blocks_warning(&entries, ctx.now) {
        report.warn(STATE, warning, "check the system clock and NTP");
    }
    report.pass(STATE, format!("{text}; {proven}"));
}

/// Active blocks that the allowlist or a protection now covers (the
/// operator added a false positive): a warning naming them, until the next
/// `sweep` lifts them. Silent when there are none or the state cannot be
/// read (the state check says why).
fn check_allowlisted_blocks(ctx: &Context, report: &mut Report) {
    let Ok(Some(store)) = ctx.open_existing_store() else {
        return;
    };
    let Ok(entries) = store.all() else { return };
    drop(store);
    let policy = crate::protections::admission_policy(&ctx.config);
    let covered: Vec<String> = entries
        .iter()
        // Those of a configured LoadMaster: only those does a sweep lift.
        .filter(|e| ctx.config.loadmaster(e.loadmaster).is_some())
        .filter_map(|e| {
            let refusal = policy.lifts(e)?;
            Some(format!(
                "{} ({})",
                refusal.reason(),
                ctx.where_(e.loadmaster, e.scope)
            ))
        })
        .collect();
    if covered.is_empty() {
        return;
    }
    const SHOWN: usize = 5;
    let mut text = format!(
        "{} now covered by the allowlist or a protection: {}",
        count_of(covered.len(), "active block is", "active blocks are"),
        covered[..covered.len().min(SHOWN)].join("; ")
    );
    if covered.len() > SHOWN {
        text.push_str(&format!("; and {} more", covered.len() - SHOWN));
    }
    report.warn(
        "allowlisted blocks",
        text,
        "the next `lmguard sweep` unblocks them (reason \"allowlisted\"); run it now to lift \
         them at once",
    );
}

/// Entries of a LoadMaster the configuration no longer names (renamed, or
/// a second table added without naming the first `default`): nothing
/// expires or retries them until it is configured again.
fn check_unconfigured(ctx: &Context, report: &mut Report) {
    let Ok(Some(store)) = ctx.open_existing_store() else {
        return;
    };
    let Ok(entries) = store.all() else { return };
    drop(store);
    let mut orphaned: Vec<(String, usize)> = Vec::new();
    for e in entries.iter().filter(|e| e.status.is_current()) {
        if ctx.config.loadmaster(e.loadmaster).is_some() {
            continue;
        }
        match orphaned
            .iter_mut()
            .find(|(n, _)| n == e.loadmaster.as_str())
        {
            Some((_, n)) => *n += 1,
            None => orphaned.push((e.loadmaster.to_string(), 1)),
        }
    }
    if orphaned.is_empty() {
        return;
    }
    let text = orphaned
        .iter()
        .map(|(name, n)| {
            format!(
                "{} of LoadMaster \"{name}\"",
                count_of(*n, "active or pending entry", "active or pending entries")
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let hint = match (ctx.config.loadmasters.as_slice(), orphaned.as_slice()) {
        // See `crate::rename`.
        ([only], [_]) => format!(
            "a rename: the next block, unblock, sweep or sync moves them to \"{}\", the only \
             LoadMaster configured",
            only.name
        ),
        _ => "give the [[loadmaster]] table of that appliance this name again (name = \"…\"; \
              a lone [loadmaster] table is \"default\")"
            .to_string(),
    };
    report.warn(
        "unconfigured LoadMasters",
        format!(
            "the state holds {text}, which the configuration does not name: nothing expires or \
             retries them"
        ),
        hint,
    );
}

/// The error without the check's name at its start.
fn state_text(e: &Error) -> &str {
    e.message()
        .strip_prefix("state database ")
        .unwrap_or(e.message())
}

fn state_fix(e: &Error, path: &Path) -> String {
    if e.kind() == Kind::StateBusy {
        return "another lmguard process holds it: try again, or raise [state] lock_timeout"
            .to_string();
    }
    format!(
        "if it is damaged, {} (the blocks already on the LoadMaster stay there meanwhile)",
        crate::state::recovery(path)
    )
}

// ----- the LoadMaster --------------------------------------------------------

const TLS: &str = "TLS connection";
const LIST: &str = "global block list";
const FILTER: &str = "access lists";
const FIRMWARE: &str = "firmware";

/// The LoadMaster checks; the client when the LoadMaster can be worked
/// with (the probe needs it).
fn check_loadmaster(
    ctx: &Context,
    lm: &LoadMasterConfig,
    key: Option<ApiKey>,
    trace: bool,
    report: &mut Report,
) -> Option<Client> {
    let vs_name = lm.vs.map(|vs| format!("VS {vs} block list"));
    let mut names = vec![TLS, KEY, LIST, FIRMWARE];
    names.extend(vs_name.as_deref());
    names.push(FILTER);
    let Some(key) = key else {
        report.skip_unreported(&names, "no API key");
        return None;
    };
    let mut client = match quietly(|| Client::new(&lm.client_settings(), key.clone())) {
        Ok(client) => client
            .with_list_cap(crate::loadmaster::list_cap(ctx.config.block.max_active))
            // A link at the budget file fails the state line above; the
            // checks' own calls are then paced by this process alone.
            .with_budget(
                ctx.budget(lm)
                    .unwrap_or_else(|_| Budget::new(lm.rate, None)),
            ),
        Err(e) => {
            report.fail(e.kind(), TLS, e.message(), cert_fix(lm));
            report.skip_unreported(&names, "no TLS set-up");
            return None;
        }
    };
    // Built quietly, the client could not see -vv: decide here.
    client.set_trace(trace || log::log_enabled!(target: "lmguard::wire", log::Level::Debug));
    // The lists are read as every command reads them, through the
    // enforcement point; the firmware, the packet filter and the probe are
    // Kemp's own questions and ask the client.
    let point: &dyn EnforcementPoint = &client;
    match point.list(Scope::Global) {
        Ok(entries) => {
            tls_passed(lm, report);
            report.pass(KEY, "accepted by the LoadMaster");
            let prefix = &ctx.config.block.comment_prefix;
            // Ownership as every deleting path judges it: the comment, or
            // the local record (an adopted entry, a list without comments).
            let local = local_global_records(ctx, lm);
            let ours = entries
                .iter()
                .filter(|e| {
                    let record = e
                        .addr
                        .parse::<crate::domain::address::Address>()
                        .ok()
                        .and_then(|a| local.get(&a));
                    ownership::is_ours(e.comment.as_deref(), prefix, record)
                })
                .count();
            report.pass(
                LIST,
                format!(
                    "readable, {}, {ours} of them lmguard's (comment prefix '{prefix}')",
                    count_of(entries.len(), "entry", "entries")
                ),
            );
        }
        Err(failure) => {
            list_failed(lm, &failure, report);
            let why = match failure {
                Failure::Connection(_) | Failure::Tls(_) => "no connection",
                Failure::BadAnswer(_) => "the list answer could not be read",
                _ => "the LoadMaster refused the request",
            };
            report.skip_unreported(&names, why);
            // An answer lmguard cannot read is what the probe is for: it
            // names the shape and shows the trace.
            return matches!(failure, Failure::BadAnswer(_)).then_some(client);
        }
    }
    if !check_firmware(&client, report) {
        report.skip_unreported(&names, "the firmware is too old");
        return None;
    }
    if let (Some(vs), Some(name)) = (lm.vs, &vs_name) {
        match point.list(Scope::Vs(vs)) {
            Ok(entries) => report.pass(
                name,
                format!("readable, {}", count_of(entries.len(), "entry", "entries")),
            ),
            Err(f) => report.fail(
                Kind::LoadMaster,
                name,
                f.to_string(),
                format!(
                    "set vs ({}) to the Index of an existing virtual service (VS {vs} is what \
                     the configuration names)",
                    if ctx.several() {
                        format!("in {}", lm.table())
                    } else {
                        "[block] vs or [loadmaster] vs".to_string()
                    }
                ),
            ),
        }
    }
    check_packet_filter(&client, report);
    Some(client)
}

/// This LoadMaster's local records on the global list, by address (empty
/// when the state cannot be read: the state check says why).
fn local_global_records(
    ctx: &Context,
    lm: &LoadMasterConfig,
) -> std::collections::HashMap<crate::domain::address::Address, crate::domain::entry::Entry> {
    let Ok(Some(store)) = ctx.open_existing_store() else {
        return Default::default();
    };
    let Ok(entries) = store.all() else {
        return Default::default();
    };
    entries
        .into_iter()
        .filter(|e| e.loadmaster == lm.name && e.scope == Scope::Global)
        .map(|e| (e.address, e))
        .collect()
}

fn tls_passed(lm: &LoadMasterConfig, report: &mut Report) {
    if lm.insecure_skip_tls_verify {
        report.warn(
            TLS,
            format!(
                "connected to {}, but the certificate was NOT verified \
                 (insecure_skip_tls_verify = true): anyone on the path can read the API key",
                lm.url
            ),
            format!(
                "save the LoadMaster's certificate and name it in ca_file instead: {}",
                save_cert_command(lm)
            ),
        );
        return;
    }
    let how = match (lm.tls_sha256.len(), &lm.ca_file) {
        (1, _) => "its pinned SHA-256 fingerprint (tls_sha256)".to_string(),
        (n, _) if n > 1 => "one of its pinned SHA-256 fingerprints (tls_sha256)".to_string(),
        (_, Some(f)) => format!("ca_file {}", f.display()),
        (_, None) => "the system's CA certificates".to_string(),
    };
    report.pass(
        TLS,
        format!("connected to {}; certificate trusted via {how}", lm.url),
    );
}

/// One ✘ for the first thing that failed, and ✔ for what the answer proves.
fn list_failed(lm: &LoadMasterConfig, failure: &Failure, report: &mut Report) {
    let lm_failed = Kind::LoadMaster;
    match failure {
        Failure::Tls(detail) => {
            report.fail(
                lm_failed,
                TLS,
                format!("the certificate of {} is not trusted: {detail}", lm.url),
                cert_fix(lm),
            );
        }
        Failure::Connection(detail) => report.fail(
            lm_failed,
            TLS,
            format!("cannot connect to {}: {detail}", lm.url),
            format!(
                "check {} (host and the admin/API port), that the LoadMaster is up, and that no \
                 firewall stands between this host and it",
                lm.key("url")
            ),
        ),
        Failure::Unauthorized => {
            tls_passed(lm, report);
            report.fail(
                lm_failed,
                KEY,
                "refused by the LoadMaster (HTTP 401)",
                format!(
                    "{}; the JSON API also needs Session Management on and Require Basic \
                     Authentication off (Certificates & Security > Admin WUI Access)",
                    key_fix(lm)
                ),
            );
        }
        Failure::ApiDisabled => {
            tls_passed(lm, report);
            report.fail(
                lm_failed,
                KEY,
                "the LoadMaster answered 404 on /accessv2: API interface disabled, or firmware \
                 older than 7.2.52",
                "enable Certificates & Security > Remote Access > Enable API Interface; the JSON \
                 API also needs Session Management on and Require Basic Authentication off \
                 (Certificates & Security > Admin WUI Access), and firmware 7.2.52 or later",
            );
        }
        Failure::Forbidden => {
            tls_passed(lm, report);
            report.pass(KEY, "accepted by the LoadMaster");
            report.fail(
                lm_failed,
                LIST,
                "the key's user may not use the global access lists (HTTP 403)",
                "give that user 'All Permissions' (System Administration > User Management > \
                 Modify; Kemp: only 'All Permissions' may run the global access list commands, \
                 'Virtual Service' is enough for a VS's lists only), or use a key of a user who \
                 has it",
            );
        }
        Failure::BadAnswer(_) => {
            tls_passed(lm, report);
            report.skip(KEY, "the LoadMaster's answer did not say");
            report.fail(
                lm_failed,
                LIST,
                format!("reading it failed: {failure}"),
                "run `lmguard check --probe -v`: it names the shape this firmware answers in \
                 and prints the trace (key masked) to send to lmguard's maintainers",
            );
        }
        other => {
            tls_passed(lm, report);
            report.skip(KEY, "the LoadMaster's answer did not say");
            report.fail(
                lm_failed,
                LIST,
                format!("reading it failed: {other}"),
                "look at the LoadMaster's System Log; run `lmguard -vv check` for the details",
            );
        }
    }
}

/// `HOST:PORT` of the LoadMaster, for openssl.
fn host_port(lm: &LoadMasterConfig) -> String {
    lm.url.authority_with_port()
}

/// Where the fixes suggest saving the LoadMaster's certificate.
const CERT_PATH: &str = "/etc/lmguard/loadmaster.pem";

fn save_cert_command(lm: &LoadMasterConfig) -> String {
    format!(
        "openssl s_client -connect {} </dev/null | openssl x509 > {CERT_PATH}",
        host_port(lm)
    )
}

fn cert_fix(lm: &LoadMasterConfig) -> String {
    if !lm.tls_sha256.is_empty() {
        return format!(
            "if the appliance's certificate was renewed, check the new one on the appliance and \
             put its fingerprint in {}: openssl s_client -connect {} </dev/null | openssl x509 \
             -noout -fingerprint -sha256",
            lm.key("tls_sha256"),
            host_port(lm)
        );
    }
    let now = match &lm.ca_file {
        Some(f) => format!(" (now {})", f.display()),
        None => String::new(),
    };
    format!(
        "save the LoadMaster's certificate (compare its fingerprint with the one the appliance \
         shows first): {}, and set {} to that file{now}",
        save_cert_command(lm),
        lm.key("ca_file")
    )
}

fn key_fix(lm: &LoadMasterConfig) -> String {
    let place = match (&lm.api_key_file, &lm.api_key_env) {
        (Some(f), _) => format!("write it into {}", f.display()),
        (None, Some(v)) => format!("set {v} to it"),
        (None, None) => "configure it".to_string(),
    };
    format!(
        "generate a key under System Configuration > System Administration > User Management > \
         Modify > API Keys and {place} (a refused key is never retried, so the user is not locked \
         out)"
    )
}

/// The firmware version (`get` `param=version`): shown; older than
/// 7.2.52 (no `/accessv2` as a regular feature) fails. An answer that
/// cannot be read is a warning: the list read already proved the API works.
/// False when the firmware is too old for the later checks to mean anything.
fn check_firmware(client: &Client, report: &mut Report) -> bool {
    let hint = "lmguard could not tell the LoadMaster's firmware version; it needs 7.2.52 or \
                later (System Configuration > System Administration > Update Software shows it)";
    match client.firmware_version() {
        Ok(Some(text)) => match Version::parse(&text) {
            Some(v) if v < MIN_V2 => {
                report.fail(
                    Kind::LoadMaster,
                    FIRMWARE,
                    format!(
                        "{text} is older than {MIN_V2}, the first with the JSON API (/accessv2) \
                         that lmguard uses"
                    ),
                    format!(
                        "update the LoadMaster to {MIN_V2} or later (System Configuration > \
                         System Administration > Update Software)"
                    ),
                );
                return false;
            }
            Some(_) => report.pass(
                FIRMWARE,
                format!("{text} (lmguard needs {MIN_V2} or later)"),
            ),
            None => report.warn(
                FIRMWARE,
                format!("the LoadMaster calls its version {text:?}, which lmguard cannot compare"),
                hint,
            ),
        },
        Ok(None) => report.warn(
            FIRMWARE,
            "the answer to `get version` has no version lmguard can read",
            hint,
        ),
        Err(why) => report.warn(FIRMWARE, format!("could not ask ({why})"), hint),
    }
    true
}

/// `aclcontrol.isenabled`: whether the Packet Routing Filter, which makes
/// the lists act, is on. Its v2 answer is not documented
/// (loadmaster-api.md §3, §8): an answer that cannot be read is a warning.
fn check_packet_filter(client: &Client, report: &mut Report) {
    let hint = "look at System Configuration > Network Setup > Packet Routing Filter on the \
                LoadMaster: the block lists act only while it is enabled";
    match client.acl_enabled() {
        Ok(Some(true)) => report.pass(FILTER, "enforced (the Packet Routing Filter is on)"),
        Ok(Some(false)) => report.fail(
            Kind::LoadMaster,
            FILTER,
            "the Packet Routing Filter is off, so the LoadMaster does not act on its block lists",
            "enable System Configuration > Network Setup > Packet Routing Filter",
        ),
        Ok(None) => report.warn(
            FILTER,
            "could not tell whether the Packet Routing Filter is on (the answer to \
             aclcontrol.isenabled has no aclstatus, IsEnabled or data lmguard understands)",
            hint,
        ),
        Err(why) => report.warn(
            FILTER,
            format!("could not tell whether the Packet Routing Filter is on ({why})"),
            hint,
        ),
    }
}
