//! A fake Kemp/Progress LoadMaster for lmguard's integration tests, demo and
//! benchmarks: an HTTPS server on `127.0.0.1` (ephemeral port) that speaks
//! the JSON API `POST /accessv2` for the `aclcontrol` command, keeps the
//! global and per-VS block/allow lists in memory and can be switched into
//! the many behaviours the real appliance may show.
//!
//! The contract is `shared/docs/loadmaster-api.md`; its §7 lists what the
//! fake emulates. Std threads only: one accept thread, one thread per
//! connection; dropping the [`FakeLoadMaster`] stops everything promptly.
//!
//! ```no_run
//! use fake_loadmaster::{FakeLoadMaster, Options, Scope};
//! let lm = FakeLoadMaster::start(Options::default()).unwrap();
//! println!("{} trusts {}", lm.url(), lm.ca_pem());
//! // ... run lmguard against lm.url() with Options::default().api_key ...
//! assert!(lm.entries(Scope::Global).is_empty());
//! ```
//!
//! # Faithful to loadmaster-api.md (tagged \[C\] there)
//! - Endpoint `POST /accessv2` with one JSON object; request Content-Type
//!   ignored; auth in the body: `apikey` wins over `apiuser`/`apipass`.
//! - `aclcontrol` with exactly one of `add`, `del`, `list`, `addvs`, `delvs`,
//!   `listvs`; LIST `block`/`allow` (old `black`/`white` are mapped); VS by
//!   `vs` = index, or `vs`/`vsip` + `port` + `prot`; `addr` host or CIDR;
//!   optional `comment`.
//! - Generic success `{"code":200,"message":"Command completed ok","status":"ok"}`;
//!   errors `{"code":N,"message":…,"status":"fail"}` with `code` = HTTP status;
//!   400 for a missing parameter (`addr: String Value missing`), 401 bad
//!   credentials, 403 no permission, 404 API disabled, 405 unknown command,
//!   422 invalid object (`Unknown VS`).
//! - The "Invalid network specification prefix is invalid for specified
//!   network" message (KB S5) behind the `require_prefix` switch.
//!
//! # Guesses (tagged \[3p\] or \[I\] there; each one switchable where it matters)
//! - List answer shapes: default `{"code":200,"status":"ok","IP":[{addr,comment}…]}`
//!   with `IP` absent when empty (most third-party evidence); alternatives
//!   in [`ListShape`].
//! - Duplicate add / delete of a missing entry: 422 by default, or success
//!   ([`DuplicateAdd`], [`DeleteMissing`]). Stored `addr` is echoed exactly
//!   as sent; duplicates are found on the canonical network.
//! - Invalid address → 400 "Invalid address" (status switchable to 422).
//! - Several operation keys in one request → 400 (fake's choice).
//! - Packet filter off: edits succeed or fail with 422 ([`PacketFilterOff`]).
//! - `get` with `param=version` answers the firmware version
//!   ([`FirmwareVersion`]): the v2 shape is a guess from v1's `<version>`.
//! - `aclcontrol.isenabled` answers `{"code":200,"status":"ok","aclstatus":"yes"}`
//!   (`"no"` while a packet-filter-off switch is set): a pure guess; the
//!   shapes a Terraform provider reads (`IsEnabled` "1"/"0" or a boolean,
//!   `data`) behind [`IsEnabledShape`].
//! - The appliance's dialect (issue 27), each behind a switch: list answers
//!   with members that only describe the list (`list`, VS descriptions,
//!   flattened VS fields) and containers lmguard must refuse
//!   ([`ListShape`]); entries without a `comment` member or with `null`
//!   ([`Comments`]); a firmware that refuses IPv6 `/128`
//!   ([`Switches::refuse_v6_host_prefix`]); addresses refused as "Invalid
//!   address" ([`Switches::invalid_addresses`], 422 with
//!   `invalid_address_status`); a 'Virtual Service' user that gets 403 on
//!   the global lists ([`Switches::forbidden_global`]).
//! - Unknown paths and the disabled API answer an HTML 404 page; a method
//!   other than POST on `/accessv2` answers 405 (the real one supports GET).
//! - The python SDK's `vsport`/`vsprot` spellings are accepted as aliases.
//! - Missing `port`/`prot` when addressing a VS by address → 400.
//! - 403 "Permission denied" behind the `forbidden` switch (the status is
//!   confirmed, the message a guess).
//! - Kemp's rate limit ("The connection drops if more than 30 calls are
//!   performed in less than 3 seconds over all API interfaces") behind
//!   [`Switches::rate_limit`]: a call that arrives when the limit's number
//!   of calls were answered within the window before it gets its
//!   connection reset, no answer ([`FakeLoadMaster::dropped_calls`] counts
//!   them). That dropped calls do not count toward the limit is a guess.
//!
//! # Transport
//! HTTP/1.1 with keep-alive (honours `Connection: close` and HTTP/1.0),
//! Content-Length or chunked request bodies, `Expect: 100-continue`.
//! Every accepted socket has TCP_NODELAY and each response is encrypted
//! whole and written with one vectored write, so it is not split into
//! segments that would stall on delayed ACKs. Idle connections are closed
//! after [`Options::idle_timeout`].
//!
//! Certificates are made with rcgen at start (ECDSA P-256; SANs DNS
//! `localhost` and IP `127.0.0.1`). A rustls/webpki client accepts the
//! self-signed leaf as its own trust anchor, so [`FakeLoadMaster::ca_pem`]
//! works as a CA file for both [`CertKind`]s (so does curl/OpenSSL).
//!
//! # Binary
//! `fake-loadmaster [--port N] [--api-key-file PATH] [--cert-out PATH]
//! [--ca-signed] [--delay-ms N] [--rate-limit N/MS] [--no-record] [--serve-forever]` prints
//! `url=https://127.0.0.1:PORT` and serves until stdin reaches EOF (a
//! background job of a non-interactive shell has stdin on /dev/null: use
//! `--serve-forever` there and kill it).

mod api;
mod hostile;
mod http;
mod server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

pub use api::PREFIX_MESSAGE as REQUIRE_PREFIX_MESSAGE;
pub use hostile::{Hostile, KeyQuotingError};

/// The API key accepted by default.
pub const DEFAULT_API_KEY: &str = "test-api-key-0123456789";

/// Which list of a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AclList {
    /// `block` (old name `black`).
    Block,
    /// `allow` (old name `white`).
    Allow,
}

/// Global list or the list of one virtual service (by index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Global,
    Vs(u32),
}

/// One stored list entry: `addr` exactly as sent, `comment` empty if none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub addr: String,
    pub comment: String,
}

/// A configured virtual service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualService {
    pub index: u32,
    pub ip: String,
    pub port: u16,
    /// `tcp` or `udp` (compared case-insensitively).
    pub prot: String,
}

impl VirtualService {
    pub fn new(index: u32, ip: &str, port: u16, prot: &str) -> Self {
        VirtualService {
            index,
            ip: ip.to_string(),
            port,
            prot: prot.to_string(),
        }
    }
}

/// The default virtual services: 1 = 192.0.2.10:443 tcp, 2 = 192.0.2.10:80
/// tcp, 3 = 192.0.2.11:443 tcp.
pub fn default_virtual_services() -> Vec<VirtualService> {
    vec![
        VirtualService::new(1, "192.0.2.10", 443, "tcp"),
        VirtualService::new(2, "192.0.2.10", 80, "tcp"),
        VirtualService::new(3, "192.0.2.11", 443, "tcp"),
    ]
}

/// How the server certificate is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CertKind {
    /// The leaf is self-signed (like a fresh appliance).
    #[default]
    SelfSigned,
    /// A generated CA signs the leaf.
    CaSigned,
}

/// Answer to adding an address that is already listed (canonically).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DuplicateAdd {
    /// 422 "Address already in list".
    #[default]
    Error,
    /// 200 generic success; no second entry.
    Ok,
}

/// Answer to deleting an address that is not listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeleteMissing {
    /// 422 "Address not in list".
    #[default]
    Error,
    /// 200 generic success.
    Ok,
}

/// Behaviour while the Packet Routing Filter is (pretended to be) off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketFilterOff {
    /// List edits succeed normally.
    Ok,
    /// List edits fail with 422.
    Error,
}

/// Shape of `list`/`listvs` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ListShape {
    /// `{"code":200,"status":"ok","IP":[{"addr":…,"comment":…},…]}`, `IP`
    /// absent when the list is empty.
    #[default]
    Default,
    /// As Default but `"IP":[]` when empty.
    EmptyArray,
    /// As Default but a single entry is an object, not an array.
    SingleAsObject,
    /// `{"code":200,"status":"ok","Blocklist":{"IP":[…]}}` (`Allowlist` for
    /// allow; `{}` when empty).
    NestedBlocklist,
    /// For `listvs`: `{"VS":{"Index":…,"VS_IP":…,"VS_Port":…,"VS_Protocol":…,
    /// "Blocklist":{"IP":[…]}}}`; `list` answers as NestedBlocklist.
    VsWrapper,
    /// `{"code":200,"status":"ok","Acl":["192.0.2.7",…]}`.
    AclStrings,
    /// As Default, with the member `"list":"block"` (`"allow"`) that only
    /// describes the list, as the kreemer Go client's response struct
    /// carries it: `{"code":200,"status":"ok","list":"block"}` when empty.
    ListMember,
    /// For `listvs`: an array of VS descriptions, `{"VS":[{"Index":…,
    /// "VS_IP":…,"VS_Port":…,"VS_Protocol":…,"Status":"Up"}]}`, the
    /// `Blocklist` (`{"IP":[…]}`) inside only when the list has entries;
    /// `list` answers as ListMember.
    VsDescriptions,
    /// For `listvs`: the VS description flattened at the top level,
    /// `{"code":200,"status":"ok","Index":…,"VS_IP":…,"VS_Port":…,
    /// "VS_Protocol":…}` plus `IP` when the list has entries; `list`
    /// answers as ListMember.
    VsFlattened,
    /// A container lmguard must refuse (its members are unknown):
    /// `{"Blacklist":{"addr":["192.0.2.7",…]}}`, the pre-7.2.37 form.
    BareAddrContainer,
    /// A container lmguard must refuse: `{"Blocklist":{"Entry":[{addr,
    /// comment}…]}}`.
    EntryContainer,
    /// A VS object lmguard must refuse: `{"VS":{"Entries":[{addr,
    /// comment}…]}}` (for `list` too).
    VsEntries,
    /// Every authenticated request (lists and edits) answers HTTP 200 with
    /// `{"code":422,"message":"Command failed","status":"fail"}`; nothing is
    /// changed.
    StatusFailAt200,
}

/// What `get` with `param=version` answers (the firmware version; the v2
/// shape is a guess modelled on v1's `<Data><version>…</version></Data>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FirmwareVersion {
    /// `{"code":200,"status":"ok","version":V}`.
    Top(String),
    /// `{"code":200,"status":"ok","Data":{"Version":V}}`.
    Nested(String),
    /// 422 `"Unknown parameter"` (a firmware that will not say).
    Refused,
}

impl Default for FirmwareVersion {
    fn default() -> Self {
        FirmwareVersion::Top(DEFAULT_FIRMWARE.to_string())
    }
}

/// The firmware version the fake reports by default.
pub const DEFAULT_FIRMWARE: &str = "7.2.62.0.22589.RELEASE";

/// Transport-level faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fault {
    #[default]
    None,
    /// The listening socket is closed (connects are refused) and existing
    /// connections are closed. Setting another fault listens again on the
    /// same port.
    Down,
    /// Sleep this long before answering each request.
    Delay(Duration),
    /// Carry out each request at once, then sleep this long before
    /// answering: the change is made on the LoadMaster while the client
    /// still waits (to kill a client between the two).
    AnswerDelay(Duration),
    /// 500 with an HTML page.
    Http500Html,
    /// 200 with a truncated JSON body.
    InvalidJson,
    /// Read the request, then abort the connection (RST, no answer).
    ResetConnection,
    /// Answer this many requests normally (counted from when the fault was
    /// set), then behave as ResetConnection.
    FailAfter(u64),
    /// Answer every request with this HTTP status and this body (sent as
    /// `application/json` whatever it is): unexpected answers, such as JSON
    /// with missing fields or wrong types.
    Body(u16, &'static str),
}

/// All behaviour switches; each has a setter on [`FakeLoadMaster`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Switches {
    /// 401 body is `Unauthorized` as text/plain instead of JSON.
    pub plain_text_401: bool,
    /// Everything answers 404 with an HTML body.
    pub api_disabled: bool,
    /// Authenticated requests answer 403 "Permission denied".
    pub forbidden: bool,
    /// Message of the 422 for an unknown VS (default "Unknown VS").
    pub unknown_vs_message: String,
    /// HTTP status (and `code`) of "Invalid address" (default 400).
    pub invalid_address_status: u16,
    /// IPv6 addresses are invalid (no IPv6 address family).
    pub no_ipv6: bool,
    /// Bare hosts (no '/') are refused with 400 [`REQUIRE_PREFIX_MESSAGE`].
    pub require_prefix: bool,
    pub duplicate_add: DuplicateAdd,
    pub delete_missing: DeleteMissing,
    pub list_shape: ListShape,
    /// None = packet filter on.
    pub packet_filter_off: Option<PacketFilterOff>,
    pub fault: Fault,
    // ----- for `check --probe` and the firmware check -----
    /// The answer to `get` `param=version`.
    pub firmware_version: FirmwareVersion,
    /// Bare hosts come back from `list`/`listvs` with `/32` (`/128`)
    /// appended, as some firmware may store them.
    pub list_host_prefix: bool,
    /// Every `list`/`listvs` answers HTTP 200 with exactly this body (a
    /// list shape nobody has seen); edits still work.
    pub list_answer_raw: Option<String>,
    /// Comments are stored cut to this many characters.
    pub comment_cut: Option<usize>,
    // ----- the real appliance's dialect (issue 27) -----
    /// How list answers show comments (object shapes only).
    pub comments: Comments,
    /// IPv6 hosts written `ADDR/128` are refused with "Invalid address"
    /// (status [`Switches::invalid_address_status`]): a firmware that
    /// refuses the `/128` form.
    pub refuse_v6_host_prefix: bool,
    /// Adds of these addresses (canonical networks, as text) are refused
    /// with "Invalid address" (status [`Switches::invalid_address_status`]):
    /// addresses the appliance will not take.
    pub invalid_addresses: Vec<String>,
    /// The shape of the `aclcontrol.isenabled` answer.
    pub isenabled_shape: IsEnabledShape,
    /// Global-list commands answer 403 "Permission denied" (VS lists work):
    /// a key whose user has the 'Virtual Service' permission only.
    pub forbidden_global: bool,
    /// Bare hosts are stored (and listed) as `ADDR/32` (`/128`), Kemp's
    /// "default of /32" (S19 §3.16), and a delete finds an entry only by
    /// exactly that stored string: a delete of the bare host finds nothing.
    pub exact_prefixed_hosts: bool,
    /// Kemp's API rate limit (loadmaster-api.md §5): a call that arrives
    /// when this many calls were answered within the window before it is
    /// dropped (the connection is reset, no answer), over all connections.
    /// None = no limit.
    pub rate_limit: Option<RateLimit>,
}

/// How a list answer shows an entry's comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Comments {
    /// `"comment": "…"` (empty string when none).
    #[default]
    Shown,
    /// No `comment` member at all: a LoadMaster that shows no comments.
    Absent,
    /// `"comment": null`.
    Null,
}

/// The shape of the answer to `aclcontrol.isenabled` (its v2 shape is not
/// documented, loadmaster-api.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IsEnabledShape {
    /// `{"code":200,"status":"ok","aclstatus":"yes"}` (`"no"`), v1's element.
    #[default]
    AclStatus,
    /// `{"code":200,"status":"ok","IsEnabled":"1"}` (`"0"`), as a Terraform
    /// provider reads it.
    IsEnabledText,
    /// `{"code":200,"status":"ok","IsEnabled":true}` (`false`).
    IsEnabledBool,
    /// `{"code":200,"status":"ok","data":"1"}` (`"0"`).
    Data,
}

/// At most `calls` calls within any `window`, over all connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub calls: u32,
    pub window: Duration,
}

impl RateLimit {
    /// What Kemp documents: "The connection drops if more than 30 calls are
    /// performed in less than 3 seconds over all API interfaces."
    pub const KEMP: RateLimit = RateLimit {
        calls: 30,
        window: Duration::from_secs(3),
    };
}

impl Default for Switches {
    fn default() -> Self {
        Switches {
            plain_text_401: false,
            api_disabled: false,
            forbidden: false,
            unknown_vs_message: "Unknown VS".to_string(),
            invalid_address_status: 400,
            no_ipv6: false,
            require_prefix: false,
            duplicate_add: DuplicateAdd::Error,
            delete_missing: DeleteMissing::Error,
            list_shape: ListShape::Default,
            packet_filter_off: None,
            fault: Fault::None,
            firmware_version: FirmwareVersion::default(),
            list_host_prefix: false,
            list_answer_raw: None,
            comment_cut: None,
            comments: Comments::Shown,
            refuse_v6_host_prefix: false,
            invalid_addresses: Vec::new(),
            isenabled_shape: IsEnabledShape::AclStatus,
            forbidden_global: false,
            exact_prefixed_hosts: false,
            rate_limit: None,
        }
    }
}

/// Start-up options.
#[derive(Clone, Debug)]
pub struct Options {
    /// The valid API key (default [`DEFAULT_API_KEY`]).
    pub api_key: String,
    /// `(apiuser, apipass)` accepted when no `apikey` is sent; default None
    /// (no user/password accepted).
    pub credentials: Option<(String, String)>,
    pub cert: CertKind,
    pub virtual_services: Vec<VirtualService>,
    pub switches: Switches,
    /// Port on 127.0.0.1; 0 = ephemeral.
    pub port: u16,
    /// Idle connections are closed after this long without a request.
    pub idle_timeout: Duration,
    /// Keep every request for [`FakeLoadMaster::requests`] (turn off for
    /// long benchmarks; [`FakeLoadMaster::request_count`] still counts).
    pub record_requests: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            api_key: DEFAULT_API_KEY.to_string(),
            credentials: None,
            cert: CertKind::SelfSigned,
            virtual_services: default_virtual_services(),
            switches: Switches::default(),
            port: 0,
            idle_timeout: Duration::from_secs(30),
            record_requests: true,
        }
    }
}

/// One request as received.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// Connection number (1 = first accepted connection).
    pub connection: u64,
    pub method: String,
    /// Request target as sent (with any query string).
    pub path: String,
    /// The JSON body with `apikey`/`apipass` values replaced by
    /// `"<redacted>"`; `Value::Null` if the body was not JSON.
    pub body: Value,
    /// HTTP status answered; None when the connection was reset instead.
    pub status: Option<u16>,
}

impl RecordedRequest {
    /// The `cmd` member, if a string.
    pub fn cmd(&self) -> Option<&str> {
        self.body.get("cmd").and_then(Value::as_str)
    }
    /// The body member `key` as a string, if it is one.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.body.get(key).and_then(Value::as_str)
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running fake LoadMaster. Dropping it stops the server.
pub struct FakeLoadMaster {
    inner: Arc<server::Inner>,
    accept_thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
    ca_pem: String,
    leaf_der: Vec<u8>,
}

impl FakeLoadMaster {
    /// Generates certificates, binds 127.0.0.1:`options.port` and starts
    /// serving.
    pub fn start(options: Options) -> std::io::Result<FakeLoadMaster> {
        server::start(options)
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM that a client's CA file must contain to trust this server: the CA
    /// certificate (CaSigned) or the leaf itself (SelfSigned).
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// DER of the server (leaf) certificate.
    pub fn leaf_cert_der(&self) -> Vec<u8> {
        self.leaf_der.clone()
    }

    /// SHA-256 of the leaf certificate's DER, uppercase hex pairs joined by
    /// ':' (`AB:CD:…`).
    pub fn leaf_sha256_fingerprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.leaf_der);
        digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    // ----- lists -----

    /// The block list of `scope`, in insertion order.
    pub fn entries(&self, scope: Scope) -> Vec<Entry> {
        self.list_entries(scope, AclList::Block)
    }

    /// The allow list of `scope`, in insertion order.
    pub fn allow_entries(&self, scope: Scope) -> Vec<Entry> {
        self.list_entries(scope, AclList::Allow)
    }

    pub fn list_entries(&self, scope: Scope, list: AclList) -> Vec<Entry> {
        let st = lock(&self.inner.state);
        st.lists
            .get(&(scope, list))
            .map(|s| s.entries().cloned().collect())
            .unwrap_or_default()
    }

    /// Seeds the block list of `scope` (the VS need not be configured).
    /// Returns false (and inserts nothing) if the canonical network is
    /// already listed. An address that does not parse is stored anyway and
    /// never matches anything. O(1) amortised.
    pub fn insert_entry(&self, scope: Scope, addr: &str, comment: &str) -> bool {
        self.insert_list_entry(scope, AclList::Block, addr, comment)
    }

    /// As [`insert_entry`](Self::insert_entry) for the allow list.
    pub fn insert_allow_entry(&self, scope: Scope, addr: &str, comment: &str) -> bool {
        self.insert_list_entry(scope, AclList::Allow, addr, comment)
    }

    pub fn insert_list_entry(
        &self,
        scope: Scope,
        list: AclList,
        addr: &str,
        comment: &str,
    ) -> bool {
        let net = api::canonical(addr);
        let mut st = lock(&self.inner.state);
        st.store(scope, list).insert(
            Entry {
                addr: addr.to_string(),
                comment: comment.to_string(),
            },
            net,
        )
    }

    /// Empties every list.
    pub fn clear_lists(&self) {
        lock(&self.inner.state).lists.clear();
    }

    // ----- requests -----

    /// Every request received so far (unless recording is off).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.state).requests.clone()
    }

    /// Number of requests received (counted even when recording is off).
    pub fn request_count(&self) -> u64 {
        lock(&self.inner.state).request_count
    }

    /// Forgets recorded requests and resets the count (and the count of
    /// calls dropped by the rate limit).
    pub fn clear_requests(&self) {
        let mut st = lock(&self.inner.state);
        st.requests.clear();
        st.request_count = 0;
        st.rate.dropped = 0;
    }

    /// Calls dropped so far because they crossed the rate limit
    /// ([`Switches::rate_limit`]); they are counted in
    /// [`request_count`](Self::request_count) too.
    pub fn dropped_calls(&self) -> u64 {
        lock(&self.inner.state).rate.dropped
    }

    pub fn set_recording(&self, on: bool) {
        lock(&self.inner.state).record_requests = on;
    }

    /// TCP connections accepted so far (a keep-alive client makes one).
    pub fn connections_accepted(&self) -> u64 {
        self.inner
            .accepted
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    // ----- switches (effective for the next request) -----

    /// Rotates the valid API key.
    pub fn set_api_key(&self, key: &str) {
        lock(&self.inner.state).api_key = key.to_string();
    }

    /// The valid user/password, or None to accept none.
    pub fn set_credentials(&self, credentials: Option<(&str, &str)>) {
        lock(&self.inner.state).credentials =
            credentials.map(|(u, p)| (u.to_string(), p.to_string()));
    }

    pub fn set_virtual_services(&self, vss: Vec<VirtualService>) {
        lock(&self.inner.state).virtual_services = vss;
    }

    /// The current switches.
    pub fn switches(&self) -> Switches {
        lock(&self.inner.state).switches.clone()
    }

    /// Replaces all switches at once (the fault as with [`set_fault`](Self::set_fault)).
    pub fn set_switches(&self, switches: Switches) {
        let fault = switches.fault;
        {
            let mut st = lock(&self.inner.state);
            let current = st.switches.fault;
            st.switches = Switches {
                fault: current,
                ..switches
            };
        }
        self.set_fault(fault);
    }

    fn update(&self, f: impl FnOnce(&mut Switches)) {
        f(&mut lock(&self.inner.state).switches);
    }

    pub fn set_plain_text_401(&self, on: bool) {
        self.update(|s| s.plain_text_401 = on);
    }
    pub fn set_api_disabled(&self, on: bool) {
        self.update(|s| s.api_disabled = on);
    }
    pub fn set_forbidden(&self, on: bool) {
        self.update(|s| s.forbidden = on);
    }
    pub fn set_unknown_vs_message(&self, message: &str) {
        self.update(|s| s.unknown_vs_message = message.to_string());
    }
    /// Status for "Invalid address" (400 or 422).
    pub fn set_invalid_address_status(&self, status: u16) {
        self.update(|s| s.invalid_address_status = status);
    }
    pub fn set_no_ipv6(&self, on: bool) {
        self.update(|s| s.no_ipv6 = on);
    }
    pub fn set_require_prefix(&self, on: bool) {
        self.update(|s| s.require_prefix = on);
    }
    pub fn set_duplicate_add(&self, mode: DuplicateAdd) {
        self.update(|s| s.duplicate_add = mode);
    }
    pub fn set_delete_missing(&self, mode: DeleteMissing) {
        self.update(|s| s.delete_missing = mode);
    }
    pub fn set_list_shape(&self, shape: ListShape) {
        self.update(|s| s.list_shape = shape);
    }
    pub fn set_packet_filter_off(&self, mode: Option<PacketFilterOff>) {
        self.update(|s| s.packet_filter_off = mode);
    }
    pub fn set_firmware_version(&self, version: FirmwareVersion) {
        self.update(|s| s.firmware_version = version);
    }
    pub fn set_list_host_prefix(&self, on: bool) {
        self.update(|s| s.list_host_prefix = on);
    }
    pub fn set_list_answer_raw(&self, body: Option<&str>) {
        self.update(|s| s.list_answer_raw = body.map(str::to_string));
    }

    /// Sets the hostile behaviours (see [`Hostile`]).
    pub fn set_hostile(&self, hostile: Hostile) {
        lock(&self.inner.state).hostile = hostile;
    }

    pub fn set_comment_cut(&self, chars: Option<usize>) {
        self.update(|s| s.comment_cut = chars);
    }
    pub fn set_comments(&self, comments: Comments) {
        self.update(|s| s.comments = comments);
    }
    pub fn set_refuse_v6_host_prefix(&self, on: bool) {
        self.update(|s| s.refuse_v6_host_prefix = on);
    }
    /// Adds of these addresses are refused with "Invalid address".
    pub fn set_invalid_addresses(&self, addresses: &[&str]) {
        self.update(|s| s.invalid_addresses = addresses.iter().map(|a| a.to_string()).collect());
    }
    pub fn set_isenabled_shape(&self, shape: IsEnabledShape) {
        self.update(|s| s.isenabled_shape = shape);
    }
    pub fn set_forbidden_global(&self, on: bool) {
        self.update(|s| s.forbidden_global = on);
    }

    pub fn set_exact_prefixed_hosts(&self, on: bool) {
        self.update(|s| s.exact_prefixed_hosts = on);
    }

    /// Turns Kemp's rate limit on (see [`Switches::rate_limit`]) or off.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.update(|s| s.rate_limit = limit);
    }

    /// Sets the transport fault. `Down` returns once the port is closed and
    /// existing connections are shut; leaving `Down` returns once the same
    /// port listens again.
    pub fn set_fault(&self, fault: Fault) {
        self.inner.set_fault(fault);
    }
}

impl Drop for FakeLoadMaster {
    fn drop(&mut self) {
        self.inner.shut_down(self.accept_thread.take());
    }
}
