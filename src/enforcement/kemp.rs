//! The Kemp LoadMaster as lmguard's [`EnforcementPoint`]: its requests,
//! how they look on the wire, the spelling it wants for a host, and which
//! of its refusals are about the address itself.
//!
//! Spelling. Kemp §3.16: "If the CIDR is not specified, the system uses a
//! default of /32." A bare IPv6 host would be a /32 network (a whole
//! provider), so an IPv6 host is always sent as `ADDR/128`, and never
//! retried bare: a firmware that refuses `/128` gets the entry rejected. A
//! bare IPv4 host is sent bare (the Flowmon scripts do so on 7.2.62); where
//! a firmware refuses it as an invalid network (KB S5), it is retried once
//! as `ADDR/32`. Lists are compared canonically, so `ADDR/128` and
//! `ADDR/32` read back as the host.

use crate::domain::address::Address;
use crate::domain::entry::{Call, Scope};
use crate::domain::health::Health;
use crate::loadmaster::settings::Settings;
use crate::loadmaster::{Client, Failure, ListedEntry, Request};

use super::{Describe, EnforcementPoint};

/// The request a call is sent as.
fn request(call: Call, scope: Scope, address: &str, comment: &str) -> Request {
    let addr = address.to_string();
    match call {
        Call::Add => Request::Add {
            scope,
            addr,
            comment: comment.to_string(),
        },
        Call::Delete => Request::Delete { scope, addr },
    }
}

/// `POST <endpoint> <JSON body>`: the body without credentials (the API
/// key travels in a header).
fn on_the_wire(endpoint: &str, request: &Request) -> String {
    let body = serde_json::Value::Object(request.body());
    format!("POST {endpoint} {body}")
}

/// How calls to a Kemp LoadMaster look on the wire, built from the client
/// settings alone: no API key, no TLS set-up, no connection.
pub(crate) struct KempWire {
    endpoint: String,
}

impl KempWire {
    pub(crate) fn new(settings: &Settings) -> KempWire {
        KempWire {
            endpoint: settings.endpoint.clone(),
        }
    }
}

impl Describe for KempWire {
    fn describe(&self, call: Call, scope: Scope, address: &str, comment: &str) -> String {
        on_the_wire(&self.endpoint, &request(call, scope, address, comment))
    }

    fn spelling(&self, address: &Address) -> String {
        spelled(address)
    }
}

impl Describe for Client {
    fn describe(&self, call: Call, scope: Scope, address: &str, comment: &str) -> String {
        on_the_wire(self.endpoint(), &request(call, scope, address, comment))
    }

    fn spelling(&self, address: &Address) -> String {
        spelled(address)
    }
}

/// An IPv6 host as `ADDR/128` (bare, Kemp would take it as a /32
/// network); anything else as lmguard writes it.
pub(crate) fn spelled(address: &Address) -> String {
    if address.is_ipv6() && address.is_host() {
        address.with_prefix()
    } else {
        address.to_string()
    }
}

/// How an entry the list shows as `listed` is deleted: as listed (firmware
/// that stores `ADDR/32` may delete only by that string), except an IPv6
/// host the list shows bare, which is sent as `ADDR/128` like its add: bare,
/// Kemp reads a /32 network, not the entry.
pub(crate) fn delete_spelling(listed: &str) -> String {
    match listed.parse::<Address>() {
        Ok(a) if a.is_ipv6() && a.is_host() && !listed.contains('/') => a.with_prefix(),
        _ => listed.to_string(),
    }
}

impl EnforcementPoint for Client {
    fn add(&self, scope: Scope, address: &str, comment: &str) -> Result<(), Failure> {
        self.send(&request(Call::Add, scope, address, comment))
            .map(|_| ())
    }

    /// As the list shows it, an IPv6 host never bare ([`delete_spelling`]).
    fn delete(&self, scope: Scope, address: &str) -> Result<(), Failure> {
        let address = delete_spelling(address);
        self.send(&request(Call::Delete, scope, &address, ""))
            .map(|_| ())
    }

    fn list(&self, scope: Scope) -> Result<Vec<ListedEntry>, Failure> {
        Client::list(self, scope)
    }

    /// A bare IPv4 host refused as an invalid network is retried with an
    /// explicit `/32`: some firmware requires the prefix. An IPv6 host was
    /// sent as `/128` already and is never retried bare.
    fn respell(&self, address: &Address, refusal: &Failure) -> Option<String> {
        (address.is_host() && !address.is_ipv6() && refused_as_invalid_network(refusal))
            .then(|| address.with_prefix())
    }

    fn refuses_address(&self, refusal: &Failure) -> bool {
        refuses_address(refusal)
    }

    fn heard(&self) -> Health {
        Client::heard(self)
    }
}

/// Did the LoadMaster refuse a bare host as an invalid network (it wants
/// the prefix written out)? KB S5's message: "Invalid network specification
/// prefix is invalid for specified network".
fn refused_as_invalid_network(refusal: &Failure) -> bool {
    match refusal {
        Failure::Rejected { message, .. } => {
            let m = message.to_ascii_lowercase();
            m.contains("invalid network") || m.contains("prefix is invalid")
        }
        _ => false,
    }
}

/// Does a refusal of an add (its scope's list readable, the address not
/// on it) say the LoadMaster refuses the address itself?
///
/// The status alone cannot tell: 422 is also "invalid operation", which
/// the appliance may answer for a state an operator fixes (the packet
/// filter off), after which `sweep` must send the entry. What can be told
/// without the message has been told by the caller: the call was refused
/// (a 4xx, not 401/403/404), the scope exists (its list reads; where
/// "Invalid address" means a VS that does not exist, the VS list does not
/// read and that decides), and the address is not listed (not a
/// duplicate). Of the refusals left, loadmaster-api.md §5 documents "invalid
/// ACL address" only by its message ("Invalid address", or KB S5's prefix
/// text), at 400 or, as the PowerShell SDK maps it, 422. So: a 400 (the
/// status the LoadMaster sends for it) is the address, as before; any other
/// such 4xx is the address only when its message says so. A message misread
/// errs towards keeping the entry pending, never towards giving up on one
/// the LoadMaster would take.
fn refuses_address(refusal: &Failure) -> bool {
    match refusal {
        Failure::Rejected { status: 400, .. } => true,
        Failure::Rejected { status, message } if (400..500).contains(status) => {
            let m = message.to_ascii_lowercase();
            m.contains("invalid address") || refused_as_invalid_network(refusal)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::loadmaster::settings::{ApiKey, HttpsUrl, Trust};

    fn settings() -> Settings {
        let url = HttpsUrl::parse("https://192.0.2.10:8443").unwrap();
        Settings {
            label: crate::loadmaster::settings::Label::lone(),
            endpoint: url.endpoint(),
            url,
            trust: Trust::Anything,
            timeout: Duration::from_secs(1),
            connections: 1,
            rate: crate::loadmaster::budget::Rate::DEFAULT,
        }
    }

    #[test]
    fn calls_are_described_from_the_settings_alone_as_the_client_sends_them() {
        let wire = KempWire::new(&settings());
        assert_eq!(
            wire.describe(Call::Add, Scope::Vs(3), "192.0.2.7", "lmguard manual"),
            "POST https://192.0.2.10:8443/accessv2 {\"addr\":\"192.0.2.7\",\"addvs\":\"block\",\
             \"cmd\":\"aclcontrol\",\"comment\":\"lmguard manual\",\"vs\":\"3\"}"
        );
        let delete = wire.describe(Call::Delete, Scope::Global, "192.0.2.0/24", "ignored");
        assert_eq!(
            delete,
            "POST https://192.0.2.10:8443/accessv2 {\"addr\":\"192.0.2.0/24\",\"cmd\":\"aclcontrol\",\
             \"del\":\"block\"}"
        );
        // A client (built without connecting) says the same.
        let client = Client::new(&settings(), ApiKey::new("k".into())).unwrap();
        assert_eq!(
            client.describe(Call::Delete, Scope::Global, "192.0.2.0/24", ""),
            delete
        );
    }

    #[test]
    fn an_ipv6_host_is_spelled_with_128_and_never_respelled() {
        let wire = KempWire::new(&settings());
        let v6: Address = "2001:db8::7".parse().unwrap();
        let v4: Address = "192.0.2.7".parse().unwrap();
        let net: Address = "2001:db8::/64".parse().unwrap();
        assert_eq!(wire.spelling(&v6), "2001:db8::7/128");
        assert_eq!(wire.spelling(&v4), "192.0.2.7");
        assert_eq!(wire.spelling(&net), "2001:db8::/64");
        let client = Client::new(&settings(), ApiKey::new("k".into())).unwrap();
        let prefix = Failure::Rejected {
            status: 400,
            message: "Invalid network specification prefix is invalid for specified network".into(),
        };
        assert_eq!(
            client.respell(&v4, &prefix).as_deref(),
            Some("192.0.2.7/32")
        );
        assert_eq!(client.respell(&v6, &prefix), None);
    }

    #[test]
    fn a_delete_keeps_the_lists_spelling_but_never_sends_an_ipv6_host_bare() {
        assert_eq!(delete_spelling("2001:db8::7"), "2001:db8::7/128");
        assert_eq!(delete_spelling("2001:db8::7/128"), "2001:db8::7/128");
        assert_eq!(delete_spelling("2001:db8::/64"), "2001:db8::/64");
        assert_eq!(delete_spelling("192.0.2.7"), "192.0.2.7");
        assert_eq!(delete_spelling("192.0.2.7/32"), "192.0.2.7/32");
        assert_eq!(delete_spelling("not an address"), "not an address");
    }

    #[test]
    fn the_address_itself_is_refused_at_400_or_when_the_message_says_so() {
        let r = |status: u16, message: &str| Failure::Rejected {
            status,
            message: message.into(),
        };
        assert!(refuses_address(&r(400, "anything")));
        assert!(refuses_address(&r(422, "Invalid address")));
        assert!(refuses_address(&r(422, "Invalid address: 2001:db8::7/128")));
        assert!(refuses_address(&r(
            409,
            "Invalid network specification prefix is invalid for specified network"
        )));
        assert!(!refuses_address(&r(422, "Packet filter is not enabled")));
        assert!(!refuses_address(&r(422, "Address already in list")));
        assert!(!refuses_address(&Failure::ServerError {
            status: 500,
            message: "Invalid address".into()
        }));
        assert!(!refuses_address(&Failure::Forbidden));
    }
}
