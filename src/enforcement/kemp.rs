//! The Kemp LoadMaster as lmguard's [`EnforcementPoint`]: its requests,
//! how they look on the wire, and the spelling some firmware wants for a
//! host (`/32`, `/128`).

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
}

impl Describe for Client {
    fn describe(&self, call: Call, scope: Scope, address: &str, comment: &str) -> String {
        on_the_wire(self.endpoint(), &request(call, scope, address, comment))
    }
}

impl EnforcementPoint for Client {
    fn add(&self, scope: Scope, address: &str, comment: &str) -> Result<(), Failure> {
        self.send(&request(Call::Add, scope, address, comment))
            .map(|_| ())
    }

    fn delete(&self, scope: Scope, address: &str) -> Result<(), Failure> {
        self.send(&request(Call::Delete, scope, address, ""))
            .map(|_| ())
    }

    fn list(&self, scope: Scope) -> Result<Vec<ListedEntry>, Failure> {
        Client::list(self, scope)
    }

    /// A bare host refused as an invalid network is retried with an
    /// explicit `/32` (`/128`): some firmware requires the prefix.
    fn respell(&self, address: &Address, refusal: &Failure) -> Option<String> {
        (address.is_host() && refused_as_invalid_network(refusal)).then(|| address.with_prefix())
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
}
