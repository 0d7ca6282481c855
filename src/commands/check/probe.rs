//! `check --probe`: prove, on the operator's own LoadMaster, that lmguard
//! can add, read back and remove an entry — and say exactly what this
//! firmware answered, since nobody has published it (loadmaster-api.md §8).
//!
//! Per list (the global one, and the default VS's when configured), first
//! with an IPv4 test entry, then with an IPv6 one: read the list (what is
//! there before) → add a test entry from 198.18.0.0/15 (RFC 2544
//! benchmarking space; IPv6 from 2001:2::/48, sent as `ADDR/128`) with
//! comment `<comment_prefix> probe` → list (found? how spelt?) → add
//! again → delete (with the spelling the list shows) → list (gone?) →
//! delete again. One report line per step with the HTTP status,
//! `code`/`status` and the shape lmguard recognised.
//!
//! The LoadMaster is left as it was found. The probe deletes only the one
//! address it added in this run, which it picks so that it was not on the
//! list before and is no block in lmguard's state; it adds nothing where it
//! cannot read the list first. After any failed step (and after Ctrl-C:
//! SIGINT/SIGTERM set a flag checked between steps; a second one ends the
//! process at once) it reads the list and removes its entry if it is there.
//! An entry an earlier probe left (the process died, the LoadMaster stopped
//! answering) is removed by the next probe where the list shows its comment;
//! where the list shows no comments it is named, never deleted: nothing
//! tells it from someone else's entry in the same range.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde_json::Value;

use crate::domain::address::Address;
use crate::domain::comment;
use crate::domain::entry::{Call, Scope};
use crate::enforcement::delete_spelling;
use crate::error::Kind;
use crate::loadmaster::answer;
use crate::loadmaster::ListedEntry;
use crate::loadmaster::{shape, Client, Failure, RawAnswer, Request};

use super::Report;

/// Where IPv4 test entries come from.
const PROBE_NET: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(198, 18, 0, 0), 15);
/// Where IPv6 test entries come from (RFC 5180 benchmarking space).
const PROBE_NET_V6: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48);

/// How many addresses a report line names before "and N more".
const NAMED: usize = 5;

/// What to tell an operator whose LoadMaster answers in a way lmguard
/// cannot read.
const SEND_TRACE: &str = "lmguard cannot work with this answer: do not go live; run `lmguard \
    check --probe -v` and attach its output (the API key is replaced by ***) to a report for \
    lmguard's maintainers";

/// What to do when no answer came.
const UNREACHABLE_FIX: &str = "check that the LoadMaster is up and reachable, then run `lmguard \
    check --probe` again (it removes a test entry left behind where the list shows comments)";

/// Prove the round trip on every list lmguard writes to, with an IPv4 and
/// an IPv6 test entry.
pub(super) fn run(
    ctx: &crate::commands::Context,
    lm: &crate::config::LoadMasterConfig,
    client: &Client,
    report: &mut Report,
) {
    let interrupt = Interrupt::install();
    let probe_comment = comment::for_probe(&ctx.config.block.comment_prefix);
    let blocked = current_blocks(ctx);
    let mut scopes = vec![Scope::Global];
    if let Some(vs) = lm.vs {
        scopes.push(Scope::Vs(vs));
    }
    'lists: for scope in scopes {
        for family in [Family::V4, Family::V6] {
            let mut probe = Probe {
                client,
                report: &mut *report,
                interrupt: &interrupt,
                scope,
                family,
                comment: &probe_comment,
                blocked: &blocked,
                address: None,
                sent: String::new(),
                listed_as: None,
                add_sent: false,
                seen_listed: false,
                gone: false,
                deletes_unreliable: false,
                no_comments: false,
                failed: false,
            };
            let proven = probe.run();
            if interrupt.happened() {
                break 'lists;
            }
            if !proven {
                if family == Family::V4 {
                    let name = step_name(scope, Family::V6, "");
                    report.skip(&name, "the IPv4 round trip above did not pass");
                }
                break;
            }
        }
    }
}

/// The addresses lmguard's state has as current blocks (of any LoadMaster
/// and scope): never a test entry. Empty when the state cannot be read
/// (its own check says why).
fn current_blocks(ctx: &crate::commands::Context) -> Vec<Address> {
    let Ok(Some(store)) = ctx.open_existing_store() else {
        return Vec::new();
    };
    store
        .all()
        .map(|entries| {
            entries
                .into_iter()
                .filter(|e| e.status.is_current())
                .map(|e| e.address)
                .collect()
        })
        .unwrap_or_default()
}

/// Which kind of test entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn net(self) -> IpNet {
        match self {
            Family::V4 => IpNet::V4(PROBE_NET),
            Family::V6 => IpNet::V6(PROBE_NET_V6),
        }
    }
}

/// SIGINT/SIGTERM while the probe runs: the first sets a flag (the probe
/// stops after the request in flight and removes its entry), a second ends
/// the process at once (exit 130).
struct Interrupt {
    flag: Arc<AtomicBool>,
    ids: Vec<signal_hook::SigId>,
}

impl Interrupt {
    fn install() -> Interrupt {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let flag = Arc::new(AtomicBool::new(false));
        let mut ids = Vec::new();
        for signal in [SIGINT, SIGTERM] {
            // The shutdown is registered first, so it only fires once the
            // flag is already set: on the second signal.
            let registered =
                signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag))
                    .and_then(|a| Ok((a, signal_hook::flag::register(signal, Arc::clone(&flag))?)));
            match registered {
                Ok((a, b)) => ids.extend([a, b]),
                Err(e) => log::warn!("cannot catch signal {signal}: {e}; Ctrl-C may leave the test entry for the next probe to remove"),
            }
        }
        Interrupt { flag, ids }
    }

    fn happened(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// `probe add`, `probe IPv6 add`, `probe VS 3 IPv6 add`; without a step,
/// the name of the whole (`probe IPv6`).
fn step_name(scope: Scope, family: Family, step: &str) -> String {
    let mut name = "probe".to_string();
    if let Scope::Vs(vs) = scope {
        name.push_str(&format!(" VS {vs}"));
    }
    if family == Family::V6 {
        name.push_str(" IPv6");
    }
    if !step.is_empty() {
        name.push(' ');
        name.push_str(step);
    }
    name
}

/// The probe of one list with one test entry.
struct Probe<'a> {
    client: &'a Client,
    report: &'a mut Report,
    interrupt: &'a Interrupt,
    scope: Scope,
    family: Family,
    comment: &'a str,
    /// lmguard's current blocks: never picked.
    blocked: &'a [Address],
    /// The test entry, once chosen.
    address: Option<Address>,
    /// How it was sent.
    sent: String,
    /// How the list spells it, once seen there.
    listed_as: Option<String>,
    /// An add of it was sent: it may be on the LoadMaster.
    add_sent: bool,
    /// A list read showed it: one that does not show it now means gone.
    seen_listed: bool,
    /// A list read proved it gone (or the add never stored it).
    gone: bool,
    /// The LoadMaster answered a delete as done and still listed the entry:
    /// its answer to the clean-up's delete proves nothing.
    deletes_unreliable: bool,
    /// A list read showed entries without comments.
    no_comments: bool,
    /// A step failed (✘).
    failed: bool,
}

/// Whether the next step may run.
type Go = bool;

impl Probe<'_> {
    fn name(&self, step: &str) -> String {
        step_name(self.scope, self.family, step)
    }

    fn address(&self) -> Address {
        self.address.expect("chosen before the first step")
    }

    fn fail(&mut self, name: &str, text: impl AsRef<str>, fix: impl AsRef<str>) {
        self.failed = true;
        self.report.fail(Kind::LoadMaster, name, text, fix);
    }

    /// The spelling a delete uses: the list's, once seen (firmware that
    /// stores `ADDR/32` may delete only by it), else the one sent. An IPv6
    /// host the list shows bare is still deleted as `ADDR/128`: bare, the
    /// appliance would read a /32 network.
    fn delete_spelling(&self) -> String {
        match &self.listed_as {
            Some(listed) => delete_spelling(listed),
            None => self.sent.clone(),
        }
    }

    /// The whole round trip; true when every step passed (warnings
    /// allowed).
    fn run(&mut self) -> bool {
        if !self.look_before() {
            return false;
        }
        let steps: [fn(&mut Self) -> Go; 6] = [
            Self::add,
            |p| p.list(true),
            |p| p.repeat(Call::Add),
            Self::delete,
            |p| p.list(false),
            |p| p.repeat(Call::Delete),
        ];
        let mut completed = true;
        for step in steps {
            if self.interrupt.happened() {
                self.fail(
                    &self.name("interrupted"),
                    "stopped on a signal before the round trip was proven",
                    "run `lmguard check --probe` again",
                );
                completed = false;
                break;
            }
            if !step(self) {
                completed = false;
                break;
            }
        }
        self.clean_up();
        completed && !self.failed
    }

    // ----- before -----

    /// Read the list as it is before anything is added: remove what an
    /// earlier probe left where comments show it, name the hosts in the
    /// test range where they do not, and pick the test entry among the
    /// addresses neither listed nor blocked by lmguard. False (after a ✘
    /// line) when the list cannot be read: nothing is added then, since the
    /// probe could not tell its entry from one that was there before.
    fn look_before(&mut self) -> Go {
        let name = self.name("list before");
        let Some((summary, read)) = self.read_list(&name) else {
            return false;
        };
        let (shape, before) = match read {
            Ok(read) => read,
            Err(text) => {
                self.fail(
                    &name,
                    format!(
                        "{summary}: {text}; no test entry was added (the probe adds one only \
                         where it can see what the list held before)"
                    ),
                    SEND_TRACE,
                );
                return false;
            }
        };
        self.no_comments = before.iter().any(|e| e.comment.is_none());
        self.clear_leftovers(&before);
        let address = pick_address(self.family.net(), &before, self.blocked);
        self.address = Some(address);
        // As every block is sent: an IPv6 host as `ADDR/128` (a bare one is
        // a /32 network to the appliance, Kemp §3.16).
        self.sent = crate::enforcement::spelled(&address);
        self.report.pass(
            &name,
            format!(
                "{summary}; {shape}; {} entries; the test entry will be `{}` (neither listed \
                 nor blocked by lmguard)",
                before.len(),
                self.sent
            ),
        );
        true
    }

    /// Entries an earlier probe left in this list: a host in the test
    /// range with the probe's comment is removed (by the spelling the list
    /// shows); one in a list that shows no comments is named and left.
    fn clear_leftovers(&mut self, before: &[ListedEntry]) {
        let in_range: Vec<&ListedEntry> = before
            .iter()
            .filter(|e| in_probe_range(e, self.family.net()))
            .filter(|e| {
                e.addr
                    .parse::<Address>()
                    .is_ok_and(|a| !self.blocked.contains(&a))
            })
            .collect();
        let name = self.name("cleanup");
        for entry in in_range.iter().filter(|e| is_leftover(e, self.comment)) {
            let request = Request::Delete {
                scope: self.scope,
                addr: delete_spelling(&entry.addr),
            };
            match self.client.send(&request) {
                Ok(_) => self.report.pass(
                    &name,
                    format!(
                        "removed {}, left on the LoadMaster by an earlier probe that did not \
                         finish (its comment '{}')",
                        entry.addr, self.comment
                    ),
                ),
                Err(failure) => self.fail(
                    &name,
                    format!(
                        "{}, left by an earlier probe, could not be removed: {failure}",
                        entry.addr
                    ),
                    fix_for(&failure),
                ),
            }
        }
        let unknown: Vec<&str> = in_range
            .iter()
            .filter(|e| e.comment.is_none())
            .map(|e| e.addr.as_str())
            .collect();
        if unknown.is_empty() {
            return;
        }
        let mut names = unknown[..unknown.len().min(NAMED)].join(", ");
        if unknown.len() > NAMED {
            names.push_str(&format!(" and {} more", unknown.len() - NAMED));
        }
        self.report.warn(
            &self.name("leftovers"),
            format!(
                "{names} on this list {} in {}, where probes take their test entries; the list \
                 shows no comments, so lmguard cannot tell an earlier probe's entry from \
                 someone else's, and leaves {}",
                if unknown.len() == 1 { "is" } else { "are" },
                self.family.net(),
                if unknown.len() == 1 { "it" } else { "them" },
            ),
            "if an earlier `lmguard check --probe` was interrupted or lost the LoadMaster, \
             delete its test entry by hand on the LoadMaster; entries that are not the probe's \
             need nothing",
        );
    }

    // ----- the steps -----

    fn add(&mut self) -> Go {
        let name = self.name("add");
        let request = Request::Add {
            scope: self.scope,
            addr: self.sent.clone(),
            comment: self.comment.to_string(),
        };
        self.add_sent = true;
        let Some((summary, result)) = self.send(&name, &request) else {
            return false;
        };
        let failure = match result {
            Ok(_) => {
                self.report.pass(
                    &name,
                    format!(
                        "{summary}: added {} with comment '{}'",
                        self.sent, self.comment
                    ),
                );
                return true;
            }
            Err(failure) => failure,
        };
        // Refused, or failed: the LoadMaster may have stored it anyway.
        let listed = match self.client.list(self.scope) {
            Ok(entries) => Some(find(&entries, self.address()).cloned()),
            Err(_) => None,
        };
        let refused = matches!(
            failure,
            Failure::Rejected { .. } | Failure::Permanent { .. }
        );
        match listed {
            Some(Some(entry)) if refused => {
                self.seen_listed = true;
                self.report.warn(
                    &name,
                    format!(
                        "{summary}: the add of {} was refused, but the list shows it as `{}`: \
                         the LoadMaster stored it; lmguard reads the list after a refused add \
                         and counts it as done",
                        self.sent, entry.addr
                    ),
                    "nothing to do; if the LoadMaster's System Log says why it answered an \
                     error, that may matter for other changes",
                );
                self.listed_as = Some(entry.addr);
                true
            }
            Some(None) if refused && self.family == Family::V6 => {
                self.gone = true;
                self.report.warn(
                    &name,
                    format!(
                        "{summary}: the LoadMaster refused the IPv6 test entry `{}` and did not \
                         store it, while IPv4 works: it likely has no IPv6 address family \
                         configured. IPv6 attackers cannot be blocked on it: lmguard records \
                         their events as rejected (exit 4) with the LoadMaster's reason",
                        self.sent
                    ),
                    "to block IPv6 attackers, configure an IPv6 address family on the \
                     LoadMaster (its network setup) and run `lmguard check --probe` again; IPv4 \
                     blocking is not affected",
                );
                // Refused for IPv6: nothing more to learn from this list.
                false
            }
            listed => {
                if matches!(listed, Some(None)) {
                    self.gone = true;
                }
                self.fail(
                    &name,
                    format!("{summary}: adding {} failed: {failure}", self.sent),
                    fix_for(&failure),
                );
                false
            }
        }
    }

    fn delete(&mut self) -> Go {
        let name = self.name("delete");
        let spelling = self.delete_spelling();
        let request = Request::Delete {
            scope: self.scope,
            addr: spelling.clone(),
        };
        let Some((summary, result)) = self.send(&name, &request) else {
            return false;
        };
        let how = if spelling == self.sent {
            String::new()
        } else {
            format!(
                " (the spelling the list shows; sent as `{}`): lmguard deletes with the \
                 list's spelling",
                self.sent
            )
        };
        match result {
            Ok(_) => {
                self.report
                    .pass(&name, format!("{summary}: deleted `{spelling}`{how}"));
                true
            }
            Err(failure) => {
                self.fail(
                    &name,
                    format!("{summary}: deleting `{spelling}`{how} failed: {failure}"),
                    fix_for(&failure),
                );
                false
            }
        }
    }

    /// A duplicate add, or the delete of an absent entry: either answer is
    /// fine as long as it is a clear ok or a clear refusal (lmguard reads
    /// the list after a refusal and counts the call as done).
    fn repeat(&mut self, call: Call) -> Go {
        let (name, request, what) = match call {
            Call::Add => (
                self.name("add again"),
                Request::Add {
                    scope: self.scope,
                    addr: self.sent.clone(),
                    comment: self.comment.to_string(),
                },
                "a duplicate add",
            ),
            Call::Delete => (
                self.name("delete again"),
                Request::Delete {
                    scope: self.scope,
                    addr: self.delete_spelling(),
                },
                "deleting an absent entry",
            ),
        };
        let Some((summary, result)) = self.send(&name, &request) else {
            return false;
        };
        match result {
            Ok(_) => {
                self.report
                    .pass(&name, format!("{summary}: {what} is answered as success"));
                true
            }
            Err(Failure::Rejected { .. }) => {
                self.report.pass(
                    &name,
                    format!(
                        "{summary}: {what} is refused; lmguard then reads the list and counts \
                         it as done"
                    ),
                );
                true
            }
            Err(failure) => {
                self.fail(
                    &name,
                    format!("{summary}: {what} failed: {failure}"),
                    fix_for(&failure),
                );
                false
            }
        }
    }

    /// Read the list; the test entry must be in it (`want`) or gone.
    fn list(&mut self, want: bool) -> Go {
        let name = self.name(if want { "list" } else { "list again" });
        let addr = self.address();
        let Some((summary, read)) = self.read_list(&name) else {
            return false;
        };
        let (shape, entries) = match read {
            Ok(read) => read,
            Err(text) => {
                self.fail(&name, format!("{summary}: {text}"), SEND_TRACE);
                return false;
            }
        };
        match (want, find(&entries, addr).cloned()) {
            (true, Some(entry)) => {
                self.seen_listed = true;
                self.no_comments |= entry.comment.is_none();
                self.listed_as = Some(entry.addr.clone());
                let echoed = if entry.addr == self.sent {
                    format!("the address came back as `{}`, as sent", entry.addr)
                } else {
                    format!(
                        "the address came back as `{}` (sent `{}`); lmguard reads both as \
                         the same host and deletes with the list's spelling",
                        entry.addr, self.sent
                    )
                };
                let text = format!("{summary}; {shape}; {echoed}");
                match &entry.comment {
                    Some(c) if c == self.comment => {
                        self.report.pass(&name, format!("{text}, comment intact"))
                    }
                    Some(c) => self.report.warn(
                        &name,
                        format!(
                            "{text}, but the comment came back as {:?} (sent '{}')",
                            self.client.redact(c),
                            self.comment
                        ),
                        "lmguard tells its own entries by the comment's first word: if it \
                         changed, send the `check --probe -v` output to lmguard's maintainers",
                    ),
                    None => self.report.pass(
                        &name,
                        format!(
                            "{text}; this list shape carries no comments, so lmguard owns the \
                             entries its state database records"
                        ),
                    ),
                }
                true
            }
            (true, None) => {
                self.fail(
                    &name,
                    format!(
                        "{summary}; {shape}; the test entry {} is not among the {} entries \
                         lmguard read",
                        self.sent,
                        entries.len()
                    ),
                    SEND_TRACE,
                );
                false
            }
            (false, None) => {
                self.gone = true;
                self.report
                    .pass(&name, format!("{summary}; {shape}; {addr} is gone"));
                true
            }
            (false, Some(entry)) => {
                self.deletes_unreliable = true;
                self.fail(
                    &name,
                    format!(
                        "{summary}; {shape}; {} is still listed after its delete was answered \
                         as done",
                        entry.addr
                    ),
                    SEND_TRACE,
                );
                false
            }
        }
    }

    // ----- after -----

    /// Unless a list read proved it gone: read the list and remove the
    /// test entry if it is there (by the spelling the list shows), then
    /// make sure it is gone. Where the list cannot show it, delete it
    /// blind: it is the probe's own address, not listed before it began.
    fn clean_up(&mut self) {
        if !self.add_sent || self.gone {
            return;
        }
        let name = self.name("cleanup");
        let addr = self.address();
        let listed = self.client.list(self.scope);
        let entry = match &listed {
            Ok(entries) => find(entries, addr).cloned(),
            Err(_) => None,
        };
        if listed.is_ok() && entry.is_none() && self.seen_listed {
            self.report.pass(
                &name,
                format!("the test entry {} is not on the LoadMaster", self.sent),
            );
            return;
        }
        if let Some(entry) = &entry {
            self.listed_as = Some(entry.addr.clone());
        }
        let spelling = self.delete_spelling();
        let request = Request::Delete {
            scope: self.scope,
            addr: spelling.clone(),
        };
        let result = self.client.send(&request);
        let confirmed = |p: &Self| p.confirmed_absent(addr);
        let gone = match (&result, &entry) {
            // It was listed: only the list can say it is gone.
            (Ok(_), Some(_)) => confirmed(self),
            (Ok(_), None) if self.deletes_unreliable => confirmed(self) && listed.is_ok(),
            (Ok(_), None) => true,
            // Refused: most likely not there; the list says for sure.
            (Err(Failure::Rejected { .. }), None) => listed.is_ok() || confirmed(self),
            (Err(Failure::Rejected { .. }), Some(_)) => confirmed(self),
            (Err(_), _) => false,
        };
        if gone {
            let text = match (&entry, &listed) {
                (Some(e), _) => format!(
                    "removed the test entry `{}` (listed after a failed step); it is not on the \
                     LoadMaster",
                    e.addr
                ),
                (None, Ok(_)) => format!(
                    "the list does not show the test entry {}, and its delete (`{spelling}`) was \
                     answered: it is not on the LoadMaster",
                    self.sent
                ),
                (None, Err(_)) => format!(
                    "the test entry {} was deleted (`{spelling}`); the list could not be read to \
                     confirm it",
                    self.sent
                ),
            };
            self.report.pass(&name, text);
            return;
        }
        let why = match result {
            Err(f) => f.to_string(),
            Ok(_) => "its delete was answered as done, but it is still listed".into(),
        };
        let no_comments = self.no_comments || entry.as_ref().is_some_and(|e| e.comment.is_none());
        let next = if !no_comments {
            format!(
                "the next `lmguard check --probe` removes it (it looks for the comment '{}' in \
                 {}), or delete it by hand on the LoadMaster",
                self.comment,
                self.family.net()
            )
        } else {
            format!(
                "delete `{}` by hand on the LoadMaster (this list shows no comments, so a later \
                 probe cannot tell it from someone else's entry and only names it)",
                self.delete_spelling()
            )
        };
        self.fail(
            &name,
            format!("the test entry {} may still be listed ({why})", self.sent),
            next,
        );
    }

    fn confirmed_absent(&self, addr: Address) -> bool {
        self.client
            .list(self.scope)
            .is_ok_and(|l| find(&l, addr).is_none())
    }

    // ----- talking -----

    /// Send one request; the answer's summary ("HTTP 200, code 200, status
    /// ok") and meaning. `None` (after a ✘ line) when no answer came.
    fn send(&mut self, name: &str, request: &Request) -> Option<(String, Result<Value, Failure>)> {
        match self.client.post(request) {
            Ok(raw) => Some((summary(self.client, &raw), self.client.interpret(&raw))),
            Err(failure) => {
                self.fail(name, format!("no answer: {failure}"), UNREACHABLE_FIX);
                None
            }
        }
    }

    /// Read the list: the summary, and its shape and entries, or why they
    /// cannot be read. `None` (after a ✘ line) when no answer came.
    fn read_list(&mut self, name: &str) -> Option<(String, Result<ListRead, String>)> {
        let (summary, value) = self.send(name, &Request::List { scope: self.scope })?;
        let read = match value {
            Err(failure) => Err(format!("the list could not be read: {failure}")),
            Ok(value) => {
                let shape = shape::describe(&value);
                match answer::parse_list(&value) {
                    Ok(entries) => Ok((format!("list: {shape}"), entries)),
                    Err(e) => Err(format!("list: {shape}, which lmguard cannot read ({e})")),
                }
            }
        };
        Some((summary, read))
    }
}

/// A list answer lmguard could read: its shape, and the entries.
type ListRead = (String, Vec<ListedEntry>);

/// The entry of `addr` in a list, whatever its spelling (`/32`, `/128`).
fn find(entries: &[ListedEntry], addr: Address) -> Option<&ListedEntry> {
    entries
        .iter()
        .find(|e| e.addr.parse::<Address>().ok() == Some(addr))
}

/// "HTTP 422, code 422, status fail, message 'Address already in list'".
/// Text is masked before it is cut, so that a cut never leaves part of the
/// key.
fn summary(client: &Client, raw: &RawAnswer) -> String {
    summarise(raw, &|text| client.redact(text))
}

fn summarise(raw: &RawAnswer, redact: &dyn Fn(&str) -> String) -> String {
    let cut = |text: &str, n: usize| -> String { redact(text).chars().take(n).collect() };
    let show = |v: &Value| match v {
        Value::String(s) => cut(s, 100),
        other => cut(&other.to_string(), 100),
    };
    match serde_json::from_slice::<Value>(&raw.body) {
        Ok(Value::Object(o)) => {
            let mut text = format!("HTTP {}", raw.status);
            for key in ["code", "status"] {
                match o.get(key) {
                    Some(v) => text.push_str(&format!(", {key} {}", show(v))),
                    None => text.push_str(&format!(", no {key}")),
                }
            }
            if let Some(m) = o.get("message") {
                text.push_str(&format!(", message '{}'", show(m)));
            }
            text
        }
        Ok(_) => format!("HTTP {}, JSON but not an object", raw.status),
        Err(_) => {
            let body = String::from_utf8_lossy(&raw.body);
            format!(
                "HTTP {}, not JSON (begins '{}')",
                raw.status,
                cut(&body, 40)
            )
        }
    }
}

/// What to do about a failed step.
fn fix_for(failure: &Failure) -> String {
    match failure {
        Failure::Unauthorized => "the key was refused: see the API key line of `lmguard check`; \
            the JSON API also needs Session Management on and Require Basic Authentication off"
            .into(),
        Failure::Forbidden => "give the key's user the permission to change the configuration \
            (User Management > Modify)"
            .into(),
        Failure::ApiDisabled => crate::loadmaster::API_404.into(),
        Failure::Connection(_) | Failure::Tls(_) | Failure::Stopped => UNREACHABLE_FIX.into(),
        Failure::Budget(_) | Failure::RateLimit(_) => {
            "wait for the other clients of the LoadMaster's API to quiet down (its rate limit), \
            then run `lmguard check --probe` again (it removes a test entry left behind where the \
            list shows comments)"
                .into()
        }
        Failure::Rejected { .. }
        | Failure::Permanent { .. }
        | Failure::ServerError { .. }
        | Failure::BadAnswer(_) => {
            format!(
                "look at the LoadMaster's System Log; if it looks like lmguard misreads the \
                 answer: {SEND_TRACE}"
            )
        }
    }
}

/// A host inside `net`, the range test entries come from.
fn in_probe_range(entry: &ListedEntry, net: IpNet) -> bool {
    matches!(
        entry.addr.parse::<Address>(),
        Ok(a) if a.is_host() && net.contains(&a.network().addr())
    )
}

/// An entry an earlier probe left: its comment is the probe's. An entry
/// without a comment (a list that shows none) is never taken for one.
fn is_leftover(entry: &ListedEntry, probe_comment: &str) -> bool {
    entry
        .comment
        .as_deref()
        .is_some_and(|c| c.trim() == probe_comment)
}

/// A host in `net` (neither its first nor its last address) that no entry
/// of `listed` and no block of lmguard's (`blocked`) covers.
fn pick_address(net: IpNet, listed: &[ListedEntry], blocked: &[Address]) -> Address {
    use std::hash::{BuildHasher, Hasher};
    let taken: Vec<IpNet> = listed
        .iter()
        .filter_map(|e| e.addr.parse::<Address>().ok())
        .chain(blocked.iter().copied())
        .map(|a| a.network())
        .collect();
    let mut seed = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    loop {
        let ip = match net {
            IpNet::V4(v4) => {
                // 198.18.0.0 + 1..=131070.
                let hosts = (1u64 << (32 - v4.prefix_len())) - 2;
                IpAddr::V4(Ipv4Addr::from(
                    u32::from(v4.network()) + (seed % hosts) as u32 + 1,
                ))
            }
            IpNet::V6(v6) => {
                let bits = 128 - u32::from(v6.prefix_len());
                let span = (1u128 << bits.min(64)) - 2;
                IpAddr::V6(Ipv6Addr::from(
                    u128::from(v6.network()) + u128::from(seed) % span + 1,
                ))
            }
        };
        if !taken.iter().any(|t| t.contains(&ip)) {
            return Address::from(ip);
        }
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(addr: &str, comment: Option<&str>) -> ListedEntry {
        ListedEntry {
            addr: addr.into(),
            comment: comment.map(str::to_string),
        }
    }

    #[test]
    fn only_entries_with_the_probe_comment_are_leftovers() {
        let c = "lmguard probe";
        assert!(is_leftover(&entry("198.18.7.7", Some(c)), c));
        assert!(is_leftover(&entry("198.19.255.1/32", Some(c)), c));
        // A list without comments: never taken for a probe's.
        assert!(!is_leftover(&entry("198.18.7.7", None), c));
        assert!(!is_leftover(
            &entry("198.18.7.7", Some("lmguard manual")),
            c
        ));
        let v4 = Family::V4.net();
        let v6 = Family::V6.net();
        assert!(in_probe_range(&entry("198.19.255.1/32", None), v4));
        assert!(!in_probe_range(&entry("198.20.0.1", Some(c)), v4));
        assert!(!in_probe_range(&entry("198.18.0.0/24", Some(c)), v4));
        assert!(!in_probe_range(&entry("192.0.2.7", None), v4));
        assert!(in_probe_range(&entry("2001:2::7/128", Some(c)), v6));
        assert!(in_probe_range(&entry("2001:2:0:ffff::1", None), v6));
        assert!(!in_probe_range(&entry("2001:3::7/128", Some(c)), v6));
        assert!(!in_probe_range(&entry("198.18.7.7", Some(c)), v6));
    }

    #[test]
    fn the_test_address_is_fresh_and_in_benchmark_space() {
        let listed: Vec<ListedEntry> = (0..200)
            .map(|i| entry(&format!("198.18.0.{i}"), None))
            .chain([entry("198.18.1.0/24", Some("theirs"))])
            .collect();
        // lmguard's own blocks: everything but a few hosts of 198.18.2.0/24.
        let blocked: Vec<Address> = [
            "198.18.2.7",
            "198.18.128.0/17",
            "198.19.0.0/16",
            "198.18.64.0/18",
            "198.18.32.0/19",
            "198.18.16.0/20",
            "198.18.8.0/21",
            "198.18.4.0/22",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        for _ in 0..200 {
            let a = pick_address(Family::V4.net(), &listed, &blocked);
            let IpAddr::V4(v4) = a.network().addr() else {
                panic!("{a}")
            };
            assert!(PROBE_NET.contains(&v4) && a.is_host(), "{a}");
            assert!(!listed.iter().any(|e| e.addr == a.to_string()), "{a}");
            assert!(
                !blocked
                    .iter()
                    .any(|b| b.network().contains(&a.network().addr())),
                "{a}"
            );
            assert!(!a.to_string().starts_with("198.18.1."), "{a}");
        }
        let listed = [entry("2001:2::1/128", None)];
        for _ in 0..50 {
            let a = pick_address(Family::V6.net(), &listed, &[]);
            assert!(a.is_ipv6() && a.is_host(), "{a}");
            assert!(PROBE_NET_V6.contains(&match a.network().addr() {
                IpAddr::V6(v6) => v6,
                IpAddr::V4(_) => panic!("{a}"),
            }));
            assert_ne!(a.to_string(), "2001:2::1");
            assert_eq!(crate::enforcement::spelled(&a), format!("{a}/128"));
        }
    }

    #[test]
    fn a_cut_answer_never_keeps_part_of_the_key() {
        let key = "Zk7Qp2Wm9Xv4Rt8LbN3cY6dH";
        let redact = |t: &str| crate::loadmaster::trace::redact(t, key);
        let raw = RawAnswer {
            status: 500,
            body: format!("<html><body>Bad apikey {key} in request</body></html>").into_bytes(),
        };
        let text = summarise(&raw, &redact);
        assert!(!text.contains(&key[..6]), "{text}");
        assert!(
            text.contains("HTTP 500, not JSON (begins '<html><body>Bad apikey ***"),
            "{text}"
        );
        let long = format!("{}{key}", "x".repeat(95));
        let raw = RawAnswer {
            status: 422,
            body: serde_json::to_vec(&serde_json::json!({"code": 422, "message": long})).unwrap(),
        };
        let text = summarise(&raw, &redact);
        assert!(!text.contains(&key[..4]), "{text}");
    }
}
