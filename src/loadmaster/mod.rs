//! The LoadMaster client: `aclcontrol` over the v2 JSON API (`/accessv2`).
//!
//! Synchronous (ureq), one agent per run so that every request of a run
//! reuses one kept-alive TLS connection. The API key travels only in request
//! bodies; it is never logged, and no error message contains it.
//!
//! Every request waits for its slot in the LoadMaster's rate budget
//! ([`budget`], `[loadmaster] rate`) first: the appliance drops the
//! connection beyond 30 calls in 3 s from all its clients. A connection
//! dropped while half the budget was used within its window is taken for
//! that limit (another client of the appliance used it too): the request is
//! sent once more after a window, and a second drop is
//! [`Failure::RateLimit`], never "unreachable".

pub(crate) mod answer;
pub(crate) mod budget;
pub(crate) mod firmware;
pub(crate) mod list_answer;
pub(crate) mod scrub;
pub(crate) mod settings;
pub(crate) mod shape;
pub(crate) mod tls;
pub(crate) mod trace;

use std::fmt;
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::domain::entry::Scope;
use crate::domain::health::Health;
use crate::error::Result;
use budget::Budget;
pub(crate) use list_answer::ListedEntry;
pub(crate) use settings::{ApiKey, Settings};

/// Largest add/delete (and error) answer read: the generic answer is under
/// 100 bytes.
pub(crate) const MAX_EDIT_ANSWER: u64 = 64 * 1024;
/// A list answer may take this many bytes per `max_active` entry (a usual
/// entry is under 100): room for the LoadMaster's other entries many times
/// over.
pub(crate) const LIST_BYTES_PER_ENTRY: u64 = 2 * 1024;
/// The smallest list cap, whatever `max_active` says.
pub(crate) const MIN_LIST_ANSWER: u64 = 8 * 1024 * 1024;

/// The cap of a list answer for a `max_active`.
pub(crate) fn list_cap(max_active: usize) -> u64 {
    (max_active as u64)
        .saturating_mul(LIST_BYTES_PER_ENTRY)
        .max(MIN_LIST_ANSWER)
}

/// One `aclcontrol` request on the block list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    Add {
        scope: Scope,
        addr: String,
        comment: String,
    },
    Delete {
        scope: Scope,
        addr: String,
    },
    List {
        scope: Scope,
    },
    /// `aclcontrol.isenabled`: is the Packet Routing Filter on?
    IsEnabled,
    /// `get` with `param=version`: the firmware version.
    Version,
}

impl Request {
    /// The JSON body without credentials (what `--dry-run` prints).
    pub(crate) fn body(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if *self == Request::IsEnabled {
            m.insert("cmd".into(), json!("aclcontrol.isenabled"));
            return m;
        }
        if *self == Request::Version {
            m.insert("cmd".into(), json!("get"));
            m.insert("param".into(), json!("version"));
            return m;
        }
        m.insert("cmd".into(), json!("aclcontrol"));
        let (op, scope) = match self {
            Request::Add { scope, .. } => {
                (if scope.vs().is_some() { "addvs" } else { "add" }, scope)
            }
            Request::Delete { scope, .. } => {
                (if scope.vs().is_some() { "delvs" } else { "del" }, scope)
            }
            Request::List { scope } => (
                if scope.vs().is_some() {
                    "listvs"
                } else {
                    "list"
                },
                scope,
            ),
            Request::IsEnabled | Request::Version => return m,
        };
        m.insert(op.into(), json!("block"));
        if let Some(vs) = scope.vs() {
            m.insert("vs".into(), json!(vs.to_string()));
        }
        match self {
            Request::Add { addr, comment, .. } => {
                m.insert("addr".into(), json!(addr));
                m.insert("comment".into(), json!(comment));
            }
            Request::Delete { addr, .. } => {
                m.insert("addr".into(), json!(addr));
            }
            Request::List { .. } | Request::IsEnabled | Request::Version => {}
        }
        m
    }
}

/// What a 404 on `/accessv2` means, and what to do about it.
pub(crate) const API_404: &str =
    "HTTP 404 on /accessv2: API interface disabled, or firmware older \
    than 7.2.52; enable Certificates & Security > Remote Access > Enable API Interface, with \
    Session Management on and Require Basic Authentication off (Certificates & Security > Admin \
    WUI Access), which the JSON API needs";

/// Why a LoadMaster request did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No answer: refused, reset, timed out, DNS failure, an answer cut off.
    Connection(String),
    /// No answer because TLS failed over the certificate: not trusted,
    /// expired, not for this name, or not the pinned one.
    Tls(String),
    /// HTTP 401: the key was refused. Never retried (the LoadMaster may lock
    /// the user out after repeated failures).
    Unauthorized,
    /// HTTP 403: the key's user lacks permission.
    Forbidden,
    /// HTTP 404: the API interface is disabled.
    ApiDisabled,
    /// HTTP 5xx.
    ServerError { status: u16, message: String },
    /// A 4xx (other than the above), or `"status": "fail"`.
    Rejected { status: u16, message: String },
    /// An answer that could not be understood.
    BadAnswer(String),
    /// Refused for good: the scope does not exist, or the LoadMaster
    /// refuses the address itself. The entry becomes `rejected`.
    Permanent { status: u16, message: String },
    /// Not sent: the run was stopped (SIGTERM/SIGINT) before it got to it.
    Stopped,
    /// Not sent: the rate budget had no slot for it within the time a call
    /// may wait (see [`budget`]). The LoadMaster did not fail.
    Budget(String),
    /// The LoadMaster dropped the connection right after a burst of calls,
    /// again after waiting a window: its API rate limit.
    RateLimit(String),
}

impl Failure {
    /// Whether the rest of a run should stop calling the LoadMaster: it is
    /// down, sick, or refuses us as a whole (not just this one request).
    pub(crate) fn stops_run(&self) -> bool {
        !matches!(self, Failure::Rejected { .. } | Failure::Permanent { .. })
    }

    /// Refused for good: never retried.
    pub(crate) fn is_permanent(&self) -> bool {
        matches!(self, Failure::Permanent { .. })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connection(detail) => write!(f, "LoadMaster unreachable: {detail}"),
            Failure::Stopped => f.write_str(
                "not sent: lmguard was stopped before it got to it; `lmguard sweep` sends it",
            ),
            Failure::Budget(text) | Failure::RateLimit(text) => f.write_str(text),
            Failure::Tls(detail) => {
                write!(f, "LoadMaster unreachable: {detail}{}", tls_hint(detail))
            }
            Failure::Unauthorized => f.write_str(
                "the LoadMaster refused the API key (HTTP 401); check loadmaster.api_key_file, \
                 and that the appliance has Session Management on and Require Basic \
                 Authentication off, which its JSON API needs (not retried, so that the user is \
                 not locked out)",
            ),
            Failure::Forbidden => f.write_str(
                "the API key's user lacks the permission (HTTP 403); on the LoadMaster (System \
                 Administration > User Management > Modify) give it 'All Permissions' for the \
                 global block list, or 'Virtual Service' (or 'All Permissions') for a VS's \
                 block list",
            ),
            Failure::ApiDisabled => f.write_str(API_404),
            Failure::ServerError { status, message } => {
                write!(f, "the LoadMaster failed (HTTP {status}): {message}")
            }
            Failure::Rejected { status, message } => {
                write!(f, "the LoadMaster refused it (code {status}): {message}")
            }
            Failure::Permanent { status, message } => {
                write!(
                    f,
                    "the LoadMaster refused it for good (code {status}): {message}; not retried"
                )
            }
            Failure::BadAnswer(detail) => {
                write!(
                    f,
                    "the LoadMaster's answer could not be understood: {detail}"
                )
            }
        }
    }
}

/// An answer as it came: HTTP status and body.
#[derive(Debug, Clone)]
pub(crate) struct RawAnswer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// A connection to one LoadMaster.
pub(crate) struct Client {
    agent: ureq::Agent,
    endpoint: String,
    key: ApiKey,
    /// Log each request and answer (redacted).
    trace: bool,
    /// The largest list answer read (see [`list_cap`]).
    list_cap: u64,
    /// What this run heard, for the state (`stats`): the caller stores it
    /// with the transaction it commits anyway.
    heard: Mutex<Health>,
    /// Every call waits for its slot in this LoadMaster's rate budget.
    budget: Budget,
    /// How messages name the `rate` and `timeout` keys.
    rate_key: String,
    timeout_key: String,
}

impl Client {
    pub(crate) fn new(lm: &Settings, key: ApiKey) -> Result<Client> {
        let tls = tls::client_config(lm)?;
        let timeout: Duration = lm.timeout;
        let agent = ureq::AgentBuilder::new()
            .tls_config(tls)
            .timeout_connect(timeout)
            .timeout(timeout)
            .no_delay(true)
            .max_idle_connections_per_host(lm.connections.max(1))
            .redirects(0)
            .user_agent(concat!("lmguard/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent,
            endpoint: lm.endpoint.clone(),
            key,
            trace: log::log_enabled!(target: "lmguard::wire", log::Level::Debug),
            list_cap: MIN_LIST_ANSWER,
            heard: Mutex::new(Health::default()),
            // Until a caller names the budget's file: this process alone.
            budget: Budget::new(lm.rate, None),
            rate_key: lm.label.key("rate"),
            timeout_key: lm.label.key("timeout"),
        })
    }

    /// Pace this client's calls by `budget` (see [`budget`]).
    pub(crate) fn with_budget(mut self, budget: Budget) -> Client {
        self.budget = budget;
        self
    }

    /// The API endpoint, `https://HOST[:PORT]/accessv2`.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Read list answers of at most `bytes` (see [`list_cap`]).
    pub(crate) fn with_list_cap(mut self, bytes: u64) -> Client {
        self.list_cap = bytes.max(MAX_EDIT_ANSWER);
        self
    }

    /// `text` with this client's key (and any `apikey`/`apipass`) masked and
    /// control characters escaped: LoadMaster text fit to show.
    pub(crate) fn redact(&self, text: &str) -> String {
        trace::redact(text, self.key.expose())
    }

    /// Turn the wire trace on or off (`check --probe -v` turns it on).
    pub(crate) fn set_trace(&mut self, on: bool) {
        self.trace = on;
    }

    /// Log one line of the wire trace, with the key masked.
    fn trace(&self, what: std::fmt::Arguments<'_>, body: &[u8]) {
        if self.trace {
            let text = String::from_utf8_lossy(body);
            log::info!(
                target: "lmguard::wire",
                "{what} {}",
                trace::redact(&text, self.key.expose())
            );
        }
    }

    /// Send one request; the answer's JSON on success.
    pub(crate) fn send(&self, request: &Request) -> std::result::Result<Value, Failure> {
        let result = self
            .exchange(request)
            .and_then(|(status, bytes)| self.judge(status, &bytes))
            .map_err(|f| self.scrubbed(f));
        self.note(&result);
        result
    }

    /// When this client last got an answer and last failed.
    pub(crate) fn heard(&self) -> Health {
        self.heard.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Remember an outcome: a refusal of one request is an answer too (the
    /// LoadMaster works); a failure that stops a run is a failure.
    fn note<T>(&self, result: &std::result::Result<T, Failure>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut heard = self.heard.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            // Not sent: nothing was heard.
            Err(Failure::Budget(_)) => {}
            Err(f) if f.stops_run() => {
                heard.last_failure = Some(now);
                heard.last_failure_message = Some(f.to_string());
            }
            _ => heard.last_answer = Some(now),
        }
    }

    /// A failure without the API key or control characters in its text.
    fn scrubbed(&self, failure: Failure) -> Failure {
        let key = self.key.expose();
        // Scrubbed first, shortened after: a cut never leaves part of the key.
        let clean = |mut text: String| {
            scrub::scrub_in_place(&mut text, key);
            // (Answers are read 4 KiB at most for messages, so a key cut at
            // that end is beyond this.)
            if text.chars().count() > 1000 {
                text = text.chars().take(999).chain(['…']).collect();
            }
            text
        };
        match failure {
            Failure::Connection(t) => Failure::Connection(clean(t)),
            Failure::Tls(t) => Failure::Tls(clean(t)),
            Failure::ServerError { status, message } => Failure::ServerError {
                status,
                message: clean(message),
            },
            Failure::Rejected { status, message } => Failure::Rejected {
                status,
                message: clean(message),
            },
            Failure::Permanent { status, message } => Failure::Permanent {
                status,
                message: clean(message),
            },
            Failure::BadAnswer(t) => Failure::BadAnswer(clean(t)),
            Failure::RateLimit(t) => Failure::RateLimit(clean(t)),
            other @ (Failure::Budget(_)
            | Failure::Unauthorized
            | Failure::Forbidden
            | Failure::ApiDisabled
            | Failure::Stopped) => other,
        }
    }

    /// Post a request; the HTTP status and body of a 2xx answer, or the
    /// failure an error answer (or none) means.
    fn exchange(&self, request: &Request) -> std::result::Result<(u16, Vec<u8>), Failure> {
        let raw = self.post(request)?;
        match raw.status {
            200..=299 => Ok((raw.status, raw.body)),
            _ => Err(error_answer(&raw)),
        }
    }

    /// The answer to a request, whatever its HTTP status, or
    /// [`Failure::Connection`] or [`Failure::Tls`] when there was none (`check --probe` shows
    /// every answer as it came).
    pub(crate) fn post(&self, request: &Request) -> std::result::Result<RawAnswer, Failure> {
        self.pace()?;
        match self.post_once(request) {
            Err(Failure::Connection(detail)) if self.dropped_after_burst(&detail) => {
                let window = self.budget.rate().window;
                log::warn!(
                    "the LoadMaster dropped the connection right after a burst of calls ({detail}): \
                     its API rate limit; sending the call again in {}",
                    humantime::format_duration(window)
                );
                std::thread::sleep(window);
                self.pace()?;
                match self.post_once(request) {
                    Err(Failure::Connection(again)) if is_dropped(&again) => {
                        Err(Failure::RateLimit(format!(
                            "the LoadMaster dropped the connection right after a burst of calls, \
                             and again after {} ({again}): that is the appliance's API rate \
                             limit (Kemp: more than 30 calls in 3 s, from all its clients \
                             together), not an outage; if other clients use its API too, \
                             lower {} (now \"{}\") so that all of them together stay under it",
                            humantime::format_duration(window),
                            self.rate_key,
                            self.budget.rate()
                        )))
                    }
                    other => other,
                }
            }
            other => other,
        }
    }

    /// Wait for this call's slot in the rate budget.
    fn pace(&self) -> std::result::Result<(), Failure> {
        self.budget.wait_for_slot().map_err(|no| {
            let patience = self.budget.patience().unwrap_or_default();
            Failure::Budget(format!(
                "not sent: the rate budget ({} = \"{}\", shared by every lmguard process using \
                 this state) had no slot for it within {} ({}); the next was {} away",
                self.rate_key,
                self.budget.rate(),
                humantime::format_duration(patience),
                self.timeout_key,
                crate::domain::duration::format_span(no.in_.as_secs().max(1))
            ))
        })
    }

    /// Whether a connection lost without an answer is the appliance's rate
    /// limit: dropped (not refused, not timed out) while at least half the
    /// budget was used within its window.
    fn dropped_after_burst(&self, detail: &str) -> bool {
        is_dropped(detail) && {
            let rate = self.budget.rate();
            let half = (rate.calls as usize).div_ceil(2).max(2);
            half <= budget::RECENT && self.budget.recent_calls() >= half
        }
    }

    /// One POST, without pacing.
    fn post_once(&self, request: &Request) -> std::result::Result<RawAnswer, Failure> {
        let mut body = request.body();
        body.insert("apikey".into(), json!(self.key.expose()));
        let text = Value::Object(body).to_string();
        self.trace(format_args!("→ POST {}", self.endpoint), text.as_bytes());
        let answer = self
            .agent
            .post(&self.endpoint)
            .set("Content-Type", "application/json")
            .send_string(&text);
        match answer {
            Ok(resp) => {
                let status = resp.status();
                let cap = match request {
                    Request::List { .. } => self.list_cap,
                    _ => MAX_EDIT_ANSWER,
                };
                let bytes = read_body(resp, cap);
                if let Ok(bytes) = &bytes {
                    self.trace(format_args!("← HTTP {status}"), bytes);
                }
                Ok(RawAnswer {
                    status,
                    body: bytes?,
                })
            }
            Err(ureq::Error::Status(status, resp)) => {
                let body = read_body(resp, MAX_EDIT_ANSWER).unwrap_or_default();
                self.trace(format_args!("← HTTP {status}"), &body);
                Ok(RawAnswer { status, body })
            }
            Err(ureq::Error::Transport(t)) => {
                let failure = transport_failure(&t);
                let (Failure::Connection(detail) | Failure::Tls(detail)) = &failure else {
                    unreachable!("a transport failure is a connection or TLS failure")
                };
                let hint = tls_hint(detail);
                self.trace(
                    format_args!("← no answer:"),
                    format!("{detail}{hint}").as_bytes(),
                );
                Err(failure)
            }
        }
    }

    /// What an answer means: its JSON if it says the command succeeded,
    /// else the failure.
    /// Its failure is scrubbed as [`Client::send`]'s is (the key, then the
    /// cut: a cut never keeps part of the key).
    pub(crate) fn interpret(&self, raw: &RawAnswer) -> std::result::Result<Value, Failure> {
        let meaning = if (200..300).contains(&raw.status) {
            self.judge(raw.status, &raw.body)
        } else {
            Err(error_answer(raw))
        };
        meaning.map_err(|f| self.scrubbed(f))
    }

    /// A 2xx answer's JSON, if it really says the command succeeded.
    fn judge(&self, status: u16, bytes: &[u8]) -> std::result::Result<Value, Failure> {
        let value = parse_json(bytes)?;
        if let Some((code, message)) = answer::failure_in(&value) {
            return Err(classify(if code >= 400 { code } else { status }, message));
        }
        answer::confirms_success(&value).map_err(Failure::BadAnswer)?;
        Ok(value)
    }

    /// Whether the Packet Routing Filter (which makes the lists act) is on.
    /// Its v2 answer is not documented (loadmaster-api.md §3): `Ok(None)`
    /// when the answer carries no `aclstatus`, `IsEnabled` or `data`
    /// lmguard understands.
    pub(crate) fn acl_enabled(&self) -> std::result::Result<Option<bool>, Failure> {
        let value = self.send(&Request::IsEnabled)?;
        Ok(value.as_object().and_then(|o| answer::acl_status(o, 0)))
    }

    /// The firmware version text (`get` `param=version`); `Ok(None)` when
    /// the answer carries none lmguard can read.
    pub(crate) fn firmware_version(&self) -> std::result::Result<Option<String>, Failure> {
        let value = self.send(&Request::Version)?;
        // Text from the LoadMaster: scrubbed like any other.
        Ok(firmware::version_in(&value).map(|v| scrub::scrub(&v, self.key.expose()).into_owned()))
    }

    /// Read one block list (its text scrubbed: see [`scrub`]).
    pub(crate) fn list(&self, scope: Scope) -> std::result::Result<Vec<ListedEntry>, Failure> {
        let result = self.list_scrubbed(scope);
        self.note(&result);
        result
    }

    fn list_scrubbed(&self, scope: Scope) -> std::result::Result<Vec<ListedEntry>, Failure> {
        let mut entries = self.list_raw(scope).map_err(|f| self.scrubbed(f))?;
        let scrubber = scrub::Scrubber::new(self.key.expose());
        for e in &mut entries {
            scrubber.scrub_in_place(&mut e.addr);
            if let Some(c) = &mut e.comment {
                scrubber.scrub_in_place(c);
            }
        }
        Ok(entries)
    }

    fn list_raw(&self, scope: Scope) -> std::result::Result<Vec<ListedEntry>, Failure> {
        let (status, bytes) = self.exchange(&Request::List { scope })?;
        // Read straight into entries, whatever the shape: no JSON tree, so
        // memory stays about the size of the answer.
        let mut read = match list_answer::read(&bytes) {
            Ok(read) => read,
            // Not an object lmguard can read: the generic judgement names it.
            Err(e) => {
                self.judge(status, &bytes)?;
                return Err(Failure::BadAnswer(e));
            }
        };
        drop(bytes);
        let head = Value::Object(std::mem::take(&mut read.head));
        if let Some((code, message)) = answer::failure_in(&head) {
            return Err(classify(if code >= 400 { code } else { status }, message));
        }
        answer::confirms_success(&head).map_err(Failure::BadAnswer)?;
        read.into_entries().map_err(Failure::BadAnswer)
    }
}

/// The failure an HTTP error answer means.
fn error_answer(raw: &RawAnswer) -> Failure {
    // Only a 2xx can be success; a redirect is never followed (the key
    // would go wherever it points), whatever its body says.
    if (300..400).contains(&raw.status) {
        return Failure::BadAnswer(format!(
            "HTTP {} (a redirect); lmguard never follows redirects: set the LoadMaster's url \
             to the address it answers on",
            raw.status
        ));
    }
    let message = parse_json(&raw.body)
        .ok()
        .and_then(|v| answer::message_in(&v))
        .unwrap_or_else(|| format!("HTTP {}", raw.status));
    classify(raw.status, message)
}

fn classify(status: u16, message: String) -> Failure {
    match status {
        401 => Failure::Unauthorized,
        403 => Failure::Forbidden,
        404 => Failure::ApiDisabled,
        500..=599 => Failure::ServerError { status, message },
        _ => Failure::Rejected { status, message },
    }
}

/// The body, at most `cap` bytes: a bigger answer is an error, never read
/// whole (it is refused from its Content-Length when it has one).
fn read_body(resp: ureq::Response, cap: u64) -> std::result::Result<Vec<u8>, Failure> {
    let too_big = || {
        Failure::BadAnswer(format!(
            "the answer is larger than {} (lmguard's limit for it); nothing was taken from it",
            human_bytes(cap)
        ))
    };
    let declared = resp
        .header("content-length")
        .and_then(|l| l.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap) {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(8 * 1024) as usize);
    resp.into_reader()
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Connection(format!("the answer was cut off: {e}")))?;
    if bytes.len() as u64 > cap {
        return Err(too_big());
    }
    Ok(bytes)
}

fn human_bytes(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{} MiB", n / (1024 * 1024))
    } else {
        format!("{} KiB", n / 1024)
    }
}

fn parse_json(bytes: &[u8]) -> std::result::Result<Value, Failure> {
    serde_json::from_slice(bytes).map_err(|_| {
        // Generous here; the client scrubs, then shortens.
        let start: String = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)])
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        Failure::BadAnswer(format!("not JSON (it begins {start:?})"))
    })
}

/// A transport error in one line: a [`Failure::Tls`] when the certificate
/// was the problem, else a [`Failure::Connection`].
fn transport_failure(t: &ureq::Transport) -> Failure {
    let mut parts = vec![t.to_string()];
    let mut source = std::error::Error::source(t);
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    let joined = parts.join(": ").replace("other error: ", "");
    if is_certificate_problem(&joined) {
        Failure::Tls(joined)
    } else {
        Failure::Connection(joined)
    }
}

/// Was a connection dropped by the other side (reset or closed, no
/// answer), rather than refused or timed out?
fn is_dropped(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    !d.contains("refused")
        && !d.contains("timed out")
        && ["reset", "closed", "broken pipe", "eof", "end of file"]
            .iter()
            .any(|w| d.contains(w))
}

/// Does a transport error say the certificate was the problem?
fn is_certificate_problem(detail: &str) -> bool {
    [
        "certificate",
        "UnknownIssuer",
        "NotValidForName",
        "CertExpired",
        "tls_sha256",
    ]
    .iter()
    .any(|w| detail.contains(w))
}

/// What to do about an untrusted certificate, appended to the failure
/// (the pin's own message names both fingerprints: nothing to add there).
fn tls_hint(detail: &str) -> &'static str {
    if !detail.contains("tls_sha256")
        && (detail.contains("certificate") || detail.contains("UnknownIssuer"))
    {
        " (TLS: the LoadMaster's certificate is not trusted; put it, or its CA, in its \
         ca_file)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_problems_are_told_apart() {
        assert!(is_certificate_problem(
            "https://x: invalid peer certificate: UnknownIssuer"
        ));
        assert!(!is_certificate_problem("Connection refused (os error 111)"));
    }

    #[test]
    fn bodies_follow_the_api_contract() {
        let add = Request::Add {
            scope: Scope::Global,
            addr: "192.0.2.7".into(),
            comment: "lmguard ADS 1 SCANS".into(),
        };
        assert_eq!(
            Value::Object(add.body()),
            json!({"cmd":"aclcontrol","add":"block","addr":"192.0.2.7","comment":"lmguard ADS 1 SCANS"})
        );
        let del = Request::Delete {
            scope: Scope::Vs(3),
            addr: "192.0.2.7".into(),
        };
        assert_eq!(
            Value::Object(del.body()),
            json!({"cmd":"aclcontrol","delvs":"block","vs":"3","addr":"192.0.2.7"})
        );
        let list = Request::List {
            scope: Scope::Vs(3),
        };
        assert_eq!(
            Value::Object(list.body()),
            json!({"cmd":"aclcontrol","listvs":"block","vs":"3"})
        );
    }

    #[test]
    fn only_per_request_refusals_let_a_run_continue() {
        assert!(!Failure::Rejected {
            status: 422,
            message: "x".into()
        }
        .stops_run());
        assert!(Failure::Unauthorized.stops_run());
        assert!(Failure::Connection("refused".into()).stops_run());
    }
}
