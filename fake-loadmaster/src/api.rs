//! The emulated `/accessv2` API: state (lists, switches) and the answer to
//! one request. No I/O here.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use crate::{
    AclList, Comments, DeleteMissing, DuplicateAdd, Entry, FirmwareVersion, IsEnabledShape,
    ListShape, PacketFilterOff, RecordedRequest, Scope, Switches, VirtualService,
};

/// The message of KB S5, used by the `require_prefix` switch.
pub const PREFIX_MESSAGE: &str =
    "Invalid network specification prefix is invalid for specified network";

const HTML_404: &str = "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\
<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>\n";

/// An answer: status, content type, body.
#[derive(Debug)]
pub(crate) struct Resp {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(status: u16, v: &Value) -> Resp {
        Resp {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(v).expect("serialising a Value cannot fail"),
        }
    }
    pub fn fail(status: u16, message: &str) -> Resp {
        Resp::json(
            status,
            &json!({"code": status, "message": message, "status": "fail"}),
        )
    }
    pub fn ok_message() -> Resp {
        Resp::json(
            200,
            &json!({"code": 200, "message": "Command completed ok", "status": "ok"}),
        )
    }
    pub fn text(status: u16, content_type: &'static str, body: &str) -> Resp {
        Resp {
            status,
            content_type,
            body: body.as_bytes().to_vec(),
        }
    }
    pub fn html_404() -> Resp {
        Resp::text(404, "text/html", HTML_404)
    }
}

/// One list: entries in insertion order plus the set of canonical networks
/// for O(1) duplicate detection.
#[derive(Default)]
pub(crate) struct AclStore {
    entries: Vec<(Entry, Option<IpNet>)>,
    nets: HashSet<IpNet>,
}

impl AclStore {
    /// Inserts unless the canonical network is already listed. Entries whose
    /// address does not parse (seeded by a test) are always inserted and can
    /// never be matched.
    pub fn insert(&mut self, entry: Entry, net: Option<IpNet>) -> bool {
        if let Some(n) = net {
            if !self.nets.insert(n) {
                return false;
            }
        }
        self.entries.push((entry, net));
        true
    }

    pub fn contains(&self, net: &IpNet) -> bool {
        self.nets.contains(net)
    }

    pub fn remove(&mut self, net: &IpNet) -> bool {
        if !self.nets.remove(net) {
            return false;
        }
        if let Some(i) = self
            .entries
            .iter()
            .position(|(_, n)| n.as_ref() == Some(net))
        {
            self.entries.remove(i);
        }
        true
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().map(|(e, _)| e)
    }
}

/// Canonical network of an address as lmguard would send it: a bare host
/// becomes a /32 or /128; a CIDR with host bits set is an error.
pub(crate) fn canonical(addr: &str) -> Option<IpNet> {
    if addr.contains('/') {
        let net = IpNet::from_str(addr).ok()?;
        (net.trunc() == net).then_some(net)
    } else {
        IpAddr::from_str(addr).ok().map(IpNet::from)
    }
}

/// All mutable state behind the server's mutex.
pub(crate) struct State {
    pub api_key: String,
    pub credentials: Option<(String, String)>,
    pub switches: Switches,
    pub virtual_services: Vec<VirtualService>,
    pub lists: HashMap<(Scope, AclList), AclStore>,
    pub requests: Vec<RecordedRequest>,
    pub request_count: u64,
    pub record_requests: bool,
    /// Requests answered since the current fault was set (for FailAfter).
    pub fault_served: u64,
    pub hostile: crate::Hostile,
    /// The calls the rate limit counts, and those it dropped.
    pub rate: Rate,
}

/// What Kemp's rate limit needs to know (see [`crate::Switches::rate_limit`]).
#[derive(Default)]
pub(crate) struct Rate {
    /// When each call answered within the last window arrived.
    answered: std::collections::VecDeque<std::time::Instant>,
    pub dropped: u64,
}

impl Rate {
    /// Whether a call arriving `now` is dropped under `limit`; one that is
    /// not is counted.
    pub fn drops(&mut self, limit: Option<crate::RateLimit>, now: std::time::Instant) -> bool {
        let Some(limit) = limit else {
            return false;
        };
        while self
            .answered
            .front()
            .is_some_and(|t| now.duration_since(*t) >= limit.window)
        {
            self.answered.pop_front();
        }
        if self.answered.len() >= limit.calls as usize {
            self.dropped += 1;
            return true;
        }
        self.answered.push_back(now);
        false
    }
}

/// A JSON value that the fake accepts as a parameter: a string, or a number
/// (turned into its decimal text).
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

const OPS: [&str; 6] = ["add", "del", "list", "addvs", "delvs", "listvs"];

impl State {
    pub fn store(&mut self, scope: Scope, list: AclList) -> &mut AclStore {
        self.lists.entry((scope, list)).or_default()
    }

    /// The answer to one request (after fault handling).
    pub fn respond(&mut self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        if self.switches.api_disabled {
            return Resp::html_404();
        }
        if path != "/accessv2" {
            return Resp::html_404();
        }
        if method != "POST" {
            // The real appliance also accepts GET [S3]; lmguard never uses it.
            return Resp::fail(405, "Method not supported by the fake LoadMaster");
        }
        let Some(Value::Object(obj)) = body else {
            return Resp::fail(400, "Request body is not a JSON object");
        };
        if !self.authenticated(obj) {
            return if self.switches.plain_text_401 {
                Resp::text(401, "text/plain", "Unauthorized")
            } else {
                Resp::fail(401, "Unauthorized")
            };
        }
        if self.switches.list_shape == ListShape::StatusFailAt200 {
            return Resp::json(
                200,
                &json!({"code": 422, "message": "Command failed", "status": "fail"}),
            );
        }
        if self.switches.forbidden {
            return Resp::fail(403, "Permission denied");
        }
        let cmd = match obj.get("cmd") {
            None | Some(Value::Null) => return Resp::fail(400, "cmd: String Value missing"),
            Some(v) => match as_text(v) {
                Some(c) => c,
                None => return Resp::fail(400, "cmd: String Value missing"),
            },
        };
        match cmd.as_str() {
            "aclcontrol" => self.aclcontrol(obj),
            // GUESS: the v2 shape of isenabled is unknown (loadmaster-api.md
            // §3, §8); v1 has a data element `aclstatus`, `no` when off.
            "aclcontrol.isenabled" => self.isenabled(),
            "get" => self.get(obj),
            _ => Resp::fail(405, "Unknown command"),
        }
    }

    /// `aclcontrol.isenabled`, in the shape [`Switches::isenabled_shape`] says.
    fn isenabled(&self) -> Resp {
        let on = self.switches.packet_filter_off.is_none();
        let (name, value) = match self.switches.isenabled_shape {
            IsEnabledShape::AclStatus => ("aclstatus", json!(if on { "yes" } else { "no" })),
            IsEnabledShape::IsEnabledText => ("IsEnabled", json!(if on { "1" } else { "0" })),
            IsEnabledShape::IsEnabledBool => ("IsEnabled", json!(on)),
            IsEnabledShape::Data => ("data", json!(if on { "1" } else { "0" })),
        };
        let mut answer = Map::new();
        answer.insert("code".into(), json!(200));
        answer.insert("status".into(), json!("ok"));
        answer.insert(name.into(), value);
        Resp::json(200, &Value::Object(answer))
    }

    /// `get`: only `param=version` (the firmware) is emulated.
    fn get(&self, obj: &Map<String, Value>) -> Resp {
        let param = obj.get("param").and_then(as_text);
        match param.as_deref() {
            None => Resp::fail(400, "param: String Value missing"),
            Some("version") => match &self.switches.firmware_version {
                FirmwareVersion::Top(v) => {
                    Resp::json(200, &json!({"code": 200, "status": "ok", "version": v}))
                }
                FirmwareVersion::Nested(v) => Resp::json(
                    200,
                    &json!({"code": 200, "status": "ok", "Data": {"Version": v}}),
                ),
                FirmwareVersion::Refused => Resp::fail(422, "Unknown parameter"),
            },
            Some(_) => Resp::fail(422, "Unknown parameter"),
        }
    }

    fn authenticated(&self, obj: &Map<String, Value>) -> bool {
        if let Some(key) = obj.get("apikey") {
            return key.as_str() == Some(self.api_key.as_str());
        }
        match (&self.credentials, obj.get("apiuser"), obj.get("apipass")) {
            (Some((user, pass)), Some(u), Some(p)) => {
                u.as_str() == Some(user.as_str()) && p.as_str() == Some(pass.as_str())
            }
            _ => false,
        }
    }

    fn aclcontrol(&mut self, obj: &Map<String, Value>) -> Resp {
        let present: Vec<&str> = OPS
            .iter()
            .copied()
            .filter(|k| obj.contains_key(*k))
            .collect();
        let op = match present.as_slice() {
            [] => {
                return Resp::fail(
                    400,
                    "aclcontrol needs one of add, del, list, addvs, delvs, listvs",
                )
            }
            [op] => *op,
            _ => {
                return Resp::fail(
                    400,
                    "Only one of add, del, list, addvs, delvs, listvs may be given",
                )
            }
        };
        let list = match obj.get(op).and_then(Value::as_str) {
            Some("block") | Some("black") => AclList::Block,
            Some("allow") | Some("white") => AclList::Allow,
            _ => return Resp::fail(400, "Invalid list type: use block or allow"),
        };
        let scope = if op.ends_with("vs") {
            match self.resolve_vs(obj) {
                Ok(index) => Scope::Vs(index),
                Err(resp) => return resp,
            }
        } else {
            // Kemp §3.16: only 'All Permissions' runs the global commands.
            if self.switches.forbidden_global {
                return Resp::fail(403, "Permission denied");
            }
            Scope::Global
        };
        match op {
            "list" | "listvs" => self.list_answer(scope, list),
            "add" | "addvs" => self.add(obj, scope, list),
            _ => self.del(obj, scope, list),
        }
    }

    /// `vs` = index, or (`vs` or `vsip`) + `port` + `prot` (the python SDK's
    /// `vsport`/`vsprot` spellings are accepted too).
    fn resolve_vs(&self, obj: &Map<String, Value>) -> Result<u32, Resp> {
        let unknown = || Resp::fail(422, &self.switches.unknown_vs_message);
        let port = obj.get("port").or_else(|| obj.get("vsport"));
        let prot = obj.get("prot").or_else(|| obj.get("vsprot"));
        let (ip, by_address) = match (obj.get("vsip"), obj.get("vs")) {
            (Some(ip), _) => (ip, true),
            (None, Some(vs)) => (vs, port.is_some() || prot.is_some()),
            (None, None) => return Err(Resp::fail(400, "vs: String Value missing")),
        };
        let Some(ip) = as_text(ip) else {
            return Err(unknown());
        };
        if !by_address {
            let index: u32 = ip.trim().parse().map_err(|_| unknown())?;
            return self
                .virtual_services
                .iter()
                .find(|v| v.index == index)
                .map(|v| v.index)
                .ok_or_else(unknown);
        }
        let Some(port) = port.and_then(as_text) else {
            return Err(Resp::fail(400, "port: String Value missing"));
        };
        let Some(prot) = prot.and_then(as_text) else {
            return Err(Resp::fail(400, "prot: String Value missing"));
        };
        let ip: IpAddr = ip.trim().parse().map_err(|_| unknown())?;
        let port: u16 = port.trim().parse().map_err(|_| unknown())?;
        self.virtual_services
            .iter()
            .find(|v| {
                v.port == port
                    && v.prot.eq_ignore_ascii_case(prot.trim())
                    && v.ip.parse::<IpAddr>().ok() == Some(ip)
            })
            .map(|v| v.index)
            .ok_or_else(unknown)
    }

    /// Validates `addr`; returns it as sent and its canonical network.
    fn addr_param(&self, obj: &Map<String, Value>) -> Result<(String, IpNet), Resp> {
        let invalid = || Resp::fail(self.switches.invalid_address_status, "Invalid address");
        let addr = match obj.get("addr") {
            None | Some(Value::Null) => return Err(Resp::fail(400, "addr: String Value missing")),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(invalid()),
        };
        let net = canonical(&addr).ok_or_else(invalid)?;
        if self.switches.no_ipv6 && matches!(net, IpNet::V6(_)) {
            return Err(invalid());
        }
        if self.switches.require_prefix && !addr.contains('/') {
            return Err(Resp::fail(400, PREFIX_MESSAGE));
        }
        if self.switches.refuse_v6_host_prefix
            && matches!(net, IpNet::V6(n) if n.prefix_len() == 128)
            && addr.contains('/')
        {
            return Err(invalid());
        }
        Ok((addr, net))
    }

    fn packet_filter_refuses(&self) -> Option<Resp> {
        (self.switches.packet_filter_off == Some(PacketFilterOff::Error))
            .then(|| Resp::fail(422, "Packet filter is not enabled"))
    }

    fn add(&mut self, obj: &Map<String, Value>, scope: Scope, list: AclList) -> Resp {
        let (addr, net) = match self.addr_param(obj) {
            Ok(a) => a,
            Err(r) => return r,
        };
        if self
            .switches
            .invalid_addresses
            .iter()
            .any(|a| canonical(a) == Some(net))
        {
            return Resp::fail(self.switches.invalid_address_status, "Invalid address");
        }
        if let Some(r) = self.packet_filter_refuses() {
            return r;
        }
        let mut comment = obj.get("comment").and_then(as_text).unwrap_or_default();
        if let Some(cut) = self.switches.comment_cut {
            comment = comment.chars().take(cut).collect();
        }
        let duplicate_add = self.switches.duplicate_add;
        let addr = if self.switches.exact_prefixed_hosts && !addr.contains('/') {
            net.to_string()
        } else {
            addr
        };
        let store = self.store(scope, list);
        if store.contains(&net) {
            return match duplicate_add {
                DuplicateAdd::Error => Resp::fail(422, "Address already in list"),
                DuplicateAdd::Ok => Resp::ok_message(),
            };
        }
        store.insert(Entry { addr, comment }, Some(net));
        Resp::ok_message()
    }

    fn del(&mut self, obj: &Map<String, Value>, scope: Scope, list: AclList) -> Resp {
        let (addr, net) = match self.addr_param(obj) {
            Ok(a) => a,
            Err(r) => return r,
        };
        if let Some(r) = self.packet_filter_refuses() {
            return r;
        }
        let delete_missing = self.switches.delete_missing;
        let exact = self.switches.exact_prefixed_hosts;
        let store = self.store(scope, list);
        let named = !exact || store.entries().any(|e| e.addr == addr);
        if named && store.remove(&net) {
            return Resp::ok_message();
        }
        match delete_missing {
            DeleteMissing::Error => Resp::fail(422, "Address not in list"),
            DeleteMissing::Ok => Resp::ok_message(),
        }
    }

    fn list_answer(&self, scope: Scope, list: AclList) -> Resp {
        if let Some(raw) = &self.switches.list_answer_raw {
            return Resp::text(200, "application/json", raw);
        }
        let entries: Vec<&Entry> = self
            .lists
            .get(&(scope, list))
            .map(|s| s.entries().collect())
            .unwrap_or_default();
        let host_prefix = self.switches.list_host_prefix;
        let shown = |e: &Entry| -> String {
            match canonical(&e.addr) {
                Some(net) if host_prefix && !e.addr.contains('/') => net.to_string(),
                _ => e.addr.clone(),
            }
        };
        let comments = self.switches.comments;
        let objects = || -> Vec<Value> {
            entries
                .iter()
                .map(|e| match comments {
                    Comments::Shown => json!({"addr": shown(e), "comment": e.comment}),
                    Comments::Absent => json!({"addr": shown(e)}),
                    Comments::Null => json!({"addr": shown(e), "comment": null}),
                })
                .collect()
        };
        let container = match list {
            AclList::Block => "Blocklist",
            AclList::Allow => "Allowlist",
        };
        let nested = || -> Value {
            if entries.is_empty() {
                json!({})
            } else {
                json!({"IP": objects()})
            }
        };
        let mut answer = Map::new();
        answer.insert("code".into(), json!(200));
        answer.insert("status".into(), json!("ok"));
        match self.switches.list_shape {
            ListShape::Default | ListShape::StatusFailAt200 => {
                if !entries.is_empty() {
                    answer.insert("IP".into(), Value::Array(objects()));
                }
            }
            ListShape::EmptyArray => {
                answer.insert("IP".into(), Value::Array(objects()));
            }
            ListShape::SingleAsObject => {
                let mut objs = objects();
                match objs.len() {
                    0 => {}
                    1 => {
                        answer.insert("IP".into(), objs.remove(0));
                    }
                    _ => {
                        answer.insert("IP".into(), Value::Array(objs));
                    }
                }
            }
            ListShape::NestedBlocklist => {
                answer.insert(container.into(), nested());
            }
            ListShape::VsWrapper => match scope {
                Scope::Vs(index) => {
                    let vs = self.virtual_services.iter().find(|v| v.index == index);
                    let mut wrapper = Map::new();
                    wrapper.insert("Index".into(), json!(index));
                    if let Some(vs) = vs {
                        wrapper.insert("VS_IP".into(), json!(vs.ip));
                        wrapper.insert("VS_Port".into(), json!(vs.port));
                        wrapper.insert("VS_Protocol".into(), json!(vs.prot));
                    }
                    wrapper.insert(container.into(), nested());
                    answer.insert("VS".into(), Value::Object(wrapper));
                }
                Scope::Global => {
                    answer.insert(container.into(), nested());
                }
            },
            ListShape::AclStrings => {
                let strings = entries.iter().map(|e| json!(shown(e))).collect();
                answer.insert("Acl".into(), Value::Array(strings));
            }
            ListShape::ListMember => self.list_member(&mut answer, list, objects()),
            ListShape::VsDescriptions | ListShape::VsFlattened if scope == Scope::Global => {
                self.list_member(&mut answer, list, objects());
            }
            ListShape::VsDescriptions => {
                let mut vs = self.vs_description(scope);
                if !entries.is_empty() {
                    vs.insert(container.into(), nested());
                }
                answer.insert("VS".into(), json!([vs]));
            }
            ListShape::VsFlattened => {
                answer.extend(self.vs_description(scope));
                if !entries.is_empty() {
                    answer.insert("IP".into(), Value::Array(objects()));
                }
            }
            ListShape::BareAddrContainer => {
                let old = match list {
                    AclList::Block => "Blacklist",
                    AclList::Allow => "Whitelist",
                };
                let addrs: Vec<Value> = entries.iter().map(|e| json!(shown(e))).collect();
                answer.insert(old.into(), json!({ "addr": addrs }));
            }
            ListShape::EntryContainer => {
                answer.insert(container.into(), json!({ "Entry": objects() }));
            }
            ListShape::VsEntries => {
                answer.insert("VS".into(), json!({ "Entries": objects() }));
            }
        }
        Resp::json(200, &Value::Object(answer))
    }
}

impl State {
    /// `list` (the member that only names the list) and `IP` when there
    /// are entries.
    fn list_member(&self, answer: &mut Map<String, Value>, list: AclList, objects: Vec<Value>) {
        let name = match list {
            AclList::Block => "block",
            AclList::Allow => "allow",
        };
        answer.insert("list".into(), json!(name));
        if !objects.is_empty() {
            answer.insert("IP".into(), Value::Array(objects));
        }
    }

    /// The members that describe a VS (`Index`, `VS_IP`, `VS_Port`,
    /// `VS_Protocol`, `Status`).
    fn vs_description(&self, scope: Scope) -> Map<String, Value> {
        let mut m = Map::new();
        if let Scope::Vs(index) = scope {
            m.insert("Index".into(), json!(index));
            if let Some(vs) = self.virtual_services.iter().find(|v| v.index == index) {
                m.insert("VS_IP".into(), json!(vs.ip));
                m.insert("VS_Port".into(), json!(vs.port));
                m.insert("VS_Protocol".into(), json!(vs.prot));
            }
            m.insert("Status".into(), json!("Up"));
        }
        m
    }
}

/// The body as recorded: credentials replaced by "<redacted>".
pub(crate) fn redact(body: Option<Value>) -> Value {
    match body {
        Some(Value::Object(mut m)) => {
            for key in ["apikey", "apipass"] {
                if let Some(v) = m.get_mut(key) {
                    *v = json!("<redacted>");
                }
            }
            Value::Object(m)
        }
        Some(other) => other,
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical("192.0.2.7"), canonical("192.0.2.7/32"));
        assert_eq!(canonical("2001:DB8::1"), canonical("2001:0db8:0:0::1/128"));
        assert!(canonical("192.0.2.7/24").is_none());
        assert!(canonical("192.0.2.0/24").is_some());
        assert!(canonical("192.0.2.256").is_none());
        assert!(canonical("192.0.2.0/33").is_none());
        assert!(canonical("").is_none());
        assert!(canonical("example.com").is_none());
    }

    #[test]
    fn store_order_and_dedup() {
        let mut s = AclStore::default();
        let e = |a: &str| Entry {
            addr: a.into(),
            comment: String::new(),
        };
        assert!(s.insert(e("192.0.2.7"), canonical("192.0.2.7")));
        assert!(!s.insert(e("192.0.2.7/32"), canonical("192.0.2.7/32")));
        assert!(s.insert(e("198.51.100.0/24"), canonical("198.51.100.0/24")));
        assert!(s.insert(e("junk"), None));
        assert!(s.insert(e("junk"), None));
        assert!(s.remove(&canonical("192.0.2.7/32").unwrap()));
        let addrs: Vec<_> = s.entries().map(|e| e.addr.as_str()).collect();
        assert_eq!(addrs, ["198.51.100.0/24", "junk", "junk"]);
    }
}
