//! `check --probe`: prove, on the operator's own LoadMaster, that lmguard
//! can add, read back and remove an entry — and say exactly what this
//! firmware answered, since nobody has published it (loadmaster-api.md §8).
//!
//! Per list (the global one, and the default VS's when configured): add a
//! test entry from 198.18.0.0/15 (RFC 2544 benchmarking space, never a real
//! client) with comment `<comment_prefix> probe` → list (found?) → add
//! again → delete → list (gone?) → delete again. One report line per step
//! with the HTTP status, `code`/`status` and the shape lmguard recognised.
//!
//! The test entry is removed whatever happens: after a failed step, after
//! Ctrl-C (SIGINT/SIGTERM set a flag checked between steps; a second one
//! ends the process at once), and — when the process dies or the
//! LoadMaster stops answering — by the next probe, which removes entries
//! in 198.18.0.0/15 carrying the probe comment before it starts.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ipnet::Ipv4Net;
use serde_json::Value;

use crate::domain::address::Address;
use crate::domain::comment;
use crate::domain::entry::{Call, Scope};
use crate::error::Kind;
use crate::loadmaster::answer;
use crate::loadmaster::ListedEntry;
use crate::loadmaster::{shape, Client, Failure, RawAnswer, Request};

use super::Report;

/// Where test entries come from.
const PROBE_NET: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(198, 18, 0, 0), 15);

/// What to tell an operator whose LoadMaster answers in a way lmguard
/// cannot read.
const SEND_TRACE: &str = "lmguard cannot work with this answer: do not go live; run `lmguard \
    check --probe -v` and attach its output (the API key is replaced by ***) to a report for \
    lmguard's maintainers";

/// Prove the round trip on every list lmguard writes to.
pub(super) fn run(
    ctx: &crate::commands::Context,
    lm: &crate::config::LoadMasterConfig,
    client: &Client,
    report: &mut Report,
) {
    let interrupt = Interrupt::install();
    let probe_comment = comment::for_probe(&ctx.config.block.comment_prefix);
    let mut scopes = vec![Scope::Global];
    if let Some(vs) = lm.vs {
        scopes.push(Scope::Vs(vs));
    }
    for scope in scopes {
        let mut probe = Probe {
            client,
            report: &mut *report,
            interrupt: &interrupt,
            scope,
            comment: &probe_comment,
            address: None,
            maybe_listed: false,
            deletes_unreliable: false,
        };
        probe.run();
        if interrupt.happened() {
            break;
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

/// The probe of one list.
struct Probe<'a> {
    client: &'a Client,
    report: &'a mut Report,
    interrupt: &'a Interrupt,
    scope: Scope,
    comment: &'a str,
    /// The test entry, once chosen.
    address: Option<Address>,
    /// Whether the test entry may be on the LoadMaster now.
    maybe_listed: bool,
    /// The LoadMaster answered a delete as done and still listed the entry:
    /// its answer to the clean-up's delete proves nothing.
    deletes_unreliable: bool,
}

/// Whether the next step may run.
type Go = bool;

impl Probe<'_> {
    fn name(&self, step: &str) -> String {
        match self.scope {
            Scope::Global => format!("probe {step}"),
            Scope::Vs(vs) => format!("probe VS {vs} {step}"),
        }
    }

    fn address(&self) -> Address {
        self.address.expect("chosen before the first step")
    }

    fn run(&mut self) {
        let before = self.clear_leftovers();
        self.address = Some(pick_address(&before));
        let steps: [fn(&mut Self) -> Go; 6] = [
            Self::add,
            |p| p.list(true),
            |p| p.repeat(Call::Add),
            Self::delete,
            |p| p.list(false),
            |p| p.repeat(Call::Delete),
        ];
        for step in steps {
            if self.interrupt.happened() {
                self.report.fail(
                    Kind::LoadMaster,
                    &self.name("interrupted"),
                    "stopped on a signal before the round trip was proven",
                    "run `lmguard check --probe` again",
                );
                break;
            }
            if !step(self) {
                break;
            }
        }
        self.clean_up();
    }

    // ----- the steps -----

    fn add(&mut self) -> Go {
        let name = self.name("add");
        let addr = self.address();
        self.maybe_listed = true;
        let request = Request::Add {
            scope: self.scope,
            addr: addr.to_string(),
            comment: self.comment.to_string(),
        };
        let Some((summary, result)) = self.send(&name, &request) else {
            return false;
        };
        match result {
            Ok(_) => {
                self.report.pass(
                    &name,
                    format!("{summary}: added {addr} with comment '{}'", self.comment),
                );
                true
            }
            Err(failure) => {
                if matches!(failure, Failure::Rejected { .. }) {
                    self.maybe_listed = false;
                }
                let fix = fix_for(&failure);
                self.report.fail(
                    Kind::LoadMaster,
                    &name,
                    format!("{summary}: adding {addr} failed: {failure}"),
                    fix,
                );
                false
            }
        }
    }

    fn delete(&mut self) -> Go {
        let name = self.name("delete");
        let addr = self.address();
        let request = Request::Delete {
            scope: self.scope,
            addr: addr.to_string(),
        };
        let Some((summary, result)) = self.send(&name, &request) else {
            return false;
        };
        match result {
            Ok(_) => {
                self.report
                    .pass(&name, format!("{summary}: deleted {addr}"));
                true
            }
            Err(failure) => {
                self.report.fail(
                    Kind::LoadMaster,
                    &name,
                    format!("{summary}: deleting {addr} failed: {failure}"),
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
        let addr = self.address();
        let (name, request, what) = match call {
            Call::Add => (
                self.name("add again"),
                Request::Add {
                    scope: self.scope,
                    addr: addr.to_string(),
                    comment: self.comment.to_string(),
                },
                "a duplicate add",
            ),
            Call::Delete => (
                self.name("delete again"),
                Request::Delete {
                    scope: self.scope,
                    addr: addr.to_string(),
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
                self.report.fail(
                    Kind::LoadMaster,
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
                self.report.fail(
                    Kind::LoadMaster,
                    &name,
                    format!("{summary}: {text}"),
                    SEND_TRACE,
                );
                return false;
            }
        };
        let found = entries
            .iter()
            .find(|e| e.addr.parse::<Address>().ok() == Some(addr));
        match (want, found) {
            (true, Some(entry)) => {
                let echoed = if entry.addr == addr.to_string() {
                    format!("the address came back as `{}`, as sent", entry.addr)
                } else {
                    format!("the address came back as `{}` (sent `{addr}`)", entry.addr)
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
                self.report.fail(
                    Kind::LoadMaster,
                    &name,
                    format!(
                        "{summary}; {shape}; the test entry {addr} is not among the {} entries \
                         lmguard read",
                        entries.len()
                    ),
                    SEND_TRACE,
                );
                false
            }
            (false, None) => {
                self.maybe_listed = false;
                self.report
                    .pass(&name, format!("{summary}; {shape}; {addr} is gone"));
                true
            }
            (false, Some(entry)) => {
                self.deletes_unreliable = true;
                self.report.fail(
                    Kind::LoadMaster,
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

    // ----- before and after -----

    /// Read the list and delete entries an earlier probe left behind; the
    /// entries found (empty when the list cannot be read: the list step
    /// reports that).
    fn clear_leftovers(&mut self) -> Vec<ListedEntry> {
        let name = self.name("cleanup");
        let entries = match self
            .client
            .post(&Request::List { scope: self.scope })
            .and_then(|raw| self.client.interpret(&raw))
            .map(|v| answer::parse_list(&v))
        {
            Ok(Ok(entries)) => entries,
            _ => return Vec::new(),
        };
        for entry in entries.iter().filter(|e| is_leftover(e, self.comment)) {
            let request = Request::Delete {
                scope: self.scope,
                addr: entry.addr.clone(),
            };
            match self.client.send(&request) {
                Ok(_) => self.report.pass(
                    &name,
                    format!(
                        "removed {}, left on the LoadMaster by an earlier probe that did not \
                         finish",
                        entry.addr
                    ),
                ),
                Err(failure) => self.report.fail(
                    Kind::LoadMaster,
                    &name,
                    format!(
                        "{}, left by an earlier probe, could not be removed: {failure}",
                        entry.addr
                    ),
                    fix_for(&failure),
                ),
            }
        }
        entries
    }

    /// Remove the test entry if it may still be listed.
    fn clean_up(&mut self) {
        if !self.maybe_listed {
            return;
        }
        let name = self.name("cleanup");
        let addr = self.address();
        let request = Request::Delete {
            scope: self.scope,
            addr: addr.to_string(),
        };
        let result = self.client.send(&request);
        let gone = match &result {
            Ok(_) if self.deletes_unreliable => self.confirmed_absent(addr),
            Ok(_) => true,
            // Refused: most likely not there; the list says for sure.
            Err(Failure::Rejected { .. }) => self.confirmed_absent(addr),
            Err(_) => false,
        };
        if gone {
            self.report.pass(
                &name,
                format!("the test entry {addr} is not on the LoadMaster"),
            );
            return;
        }
        let why = match result {
            Err(f) => f.to_string(),
            Ok(_) => "its delete was answered as done, but it is still listed".into(),
        };
        self.report.fail(
            Kind::LoadMaster,
            &name,
            format!("the test entry {addr} may still be listed ({why})"),
            format!(
                "the next `lmguard check --probe` removes it (it looks for the comment '{}' in \
                 198.18.0.0/15), or delete it by hand on the LoadMaster",
                self.comment
            ),
        );
    }

    fn confirmed_absent(&self, addr: Address) -> bool {
        self.client.list(self.scope).is_ok_and(|l| {
            l.iter()
                .all(|e| e.addr.parse::<Address>().ok() != Some(addr))
        })
    }

    // ----- talking -----

    /// Send one request; the answer's summary ("HTTP 200, code 200, status
    /// ok") and meaning. `None` (after a ✘ line) when no answer came.
    fn send(&mut self, name: &str, request: &Request) -> Option<(String, Result<Value, Failure>)> {
        match self.client.post(request) {
            Ok(raw) => Some((summary(self.client, &raw), self.client.interpret(&raw))),
            Err(failure) => {
                self.report.fail(
                    Kind::LoadMaster,
                    name,
                    format!("no answer: {failure}"),
                    "check that the LoadMaster is up and reachable, then run `lmguard check \
                     --probe` again (it removes a test entry left behind)",
                );
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

/// "HTTP 422, code 422, status fail, message 'Address already in list'".
fn summary(client: &Client, raw: &RawAnswer) -> String {
    let show = |v: &Value| match v {
        Value::String(s) => client.redact(&s.chars().take(100).collect::<String>()),
        other => client.redact(&other.to_string()),
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
            let start = String::from_utf8_lossy(&raw.body[..raw.body.len().min(40)]).into_owned();
            format!(
                "HTTP {}, not JSON (begins '{}')",
                raw.status,
                client.redact(&start)
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
        Failure::Connection(_) | Failure::Tls(_) | Failure::Stopped => {
            "check that the LoadMaster is up and reachable, then run \
            `lmguard check --probe` again (it removes a test entry left behind)"
                .into()
        }
        Failure::Budget(_) | Failure::RateLimit(_) => {
            "wait for the other clients of the LoadMaster's API to quiet down (its rate limit), \
            then run `lmguard check --probe` again (it removes a test entry left behind)"
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

/// An entry an earlier probe left: a host in 198.18.0.0/15 with the probe
/// comment (or in a list shape without comments, any host there: nothing
/// real is ever blocked in benchmarking space).
fn is_leftover(entry: &ListedEntry, probe_comment: &str) -> bool {
    let in_net = matches!(
        entry.addr.parse::<Address>(),
        Ok(a) if a.is_host() && matches!(a.network().addr(), IpAddr::V4(v4) if PROBE_NET.contains(&v4))
    );
    in_net
        && entry
            .comment
            .as_deref()
            .is_none_or(|c| c.trim() == probe_comment)
}

/// A host in 198.18.0.0/15 not already in `listed`.
fn pick_address(listed: &[ListedEntry]) -> Address {
    use std::hash::{BuildHasher, Hasher};
    let taken: Vec<Address> = listed.iter().filter_map(|e| e.addr.parse().ok()).collect();
    let mut seed = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    loop {
        // 198.18.0.0 + 1..=131070: neither the network's first nor last.
        let offset = (seed % 131_070) as u32 + 1;
        let ip = Ipv4Addr::from(u32::from(PROBE_NET.network()) + offset);
        let address = Address::from(IpAddr::V4(ip));
        if !taken.contains(&address) {
            return address;
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
    fn only_probe_entries_are_leftovers() {
        let c = "lmguard probe";
        assert!(is_leftover(&entry("198.18.7.7", Some(c)), c));
        assert!(is_leftover(&entry("198.19.255.1/32", Some(c)), c));
        assert!(is_leftover(&entry("198.18.7.7", None), c));
        assert!(!is_leftover(
            &entry("198.18.7.7", Some("lmguard manual")),
            c
        ));
        assert!(!is_leftover(&entry("198.20.0.1", Some(c)), c));
        assert!(!is_leftover(&entry("198.18.0.0/24", Some(c)), c));
        assert!(!is_leftover(&entry("192.0.2.7", None), c));
    }

    #[test]
    fn the_test_address_is_fresh_and_in_benchmark_space() {
        let listed: Vec<ListedEntry> = (0..200)
            .map(|i| entry(&format!("198.18.0.{i}"), None))
            .collect();
        for _ in 0..100 {
            let a = pick_address(&listed);
            let IpAddr::V4(v4) = a.network().addr() else {
                panic!("{a}")
            };
            assert!(PROBE_NET.contains(&v4) && a.is_host(), "{a}");
            assert!(!listed.iter().any(|e| e.addr == a.to_string()), "{a}");
        }
    }
}
