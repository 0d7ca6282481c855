//! The Kemp LoadMaster as lmguard's [`EnforcementPoint`]: its requests,
//! and the spelling some firmware wants for a host (`/32`, `/128`).

use crate::domain::address::Address;
use crate::domain::entry::Scope;
use crate::domain::health::Health;
use crate::loadmaster::{Client, Failure, ListedEntry, Request};

use super::EnforcementPoint;

impl EnforcementPoint for Client {
    fn add(&self, scope: Scope, address: &str, comment: &str) -> Result<(), Failure> {
        let request = Request::Add {
            scope,
            addr: address.to_string(),
            comment: comment.to_string(),
        };
        self.send(&request).map(|_| ())
    }

    fn delete(&self, scope: Scope, address: &str) -> Result<(), Failure> {
        let request = Request::Delete {
            scope,
            addr: address.to_string(),
        };
        self.send(&request).map(|_| ())
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
