//! What may be blocked: the configured allowlist, the broadest network
//! allowed, and IPv6 widening.

use super::address::Address;

#[derive(Debug, Clone)]
pub struct Policy {
    pub allowlist: Vec<Address>,
    /// IPv6 hosts are widened to this prefix (128 = not at all).
    pub ipv6_prefix: u8,
    pub min_prefix_v4: u8,
    pub min_prefix_v6: u8,
}

/// Why an address is not blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Covered by (or covering) an allowlisted address: skipped, not an error.
    Allowlisted(String),
    /// A network broader than allowed: rejected input.
    TooBroad(String),
}

impl Policy {
    /// An IPv6 host as the network `ipv6_prefix` makes of it; anything else
    /// unchanged.
    pub fn widen(&self, address: Address) -> Address {
        if address.is_ipv6() && address.is_host() {
            address.widen_to(self.ipv6_prefix)
        } else {
            address
        }
    }

    /// The address to block for `address`, or why not. `force` overrides the
    /// configured allowlist (manual blocks only).
    pub fn admit(&self, address: Address, force: bool) -> Result<Address, Refusal> {
        let address = self.widen(address);
        let net = address.network();
        let min = if address.is_ipv6() {
            self.min_prefix_v6
        } else {
            self.min_prefix_v4
        };
        if net.prefix_len() < min {
            return Err(Refusal::TooBroad(format!(
                "{address} is broader than /{min} (block.min_prefix_v{})",
                if address.is_ipv6() { 6 } else { 4 }
            )));
        }
        if !force {
            if let Some(allowed) = self.allowlist.iter().find(|a| {
                let a = a.network();
                a.contains(&net) || net.contains(&a)
            }) {
                return Err(Refusal::Allowlisted(format!(
                    "{address} overlaps the allowlist entry {allowed}"
                )));
            }
        }
        Ok(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            allowlist: vec![
                "192.0.2.0/28".parse().unwrap(),
                "198.51.100.5".parse().unwrap(),
            ],
            ipv6_prefix: 64,
            min_prefix_v4: 24,
            min_prefix_v6: 48,
        }
    }

    fn admit(s: &str, force: bool) -> Result<String, Refusal> {
        policy()
            .admit(s.parse().unwrap(), force)
            .map(|a| a.to_string())
    }

    #[test]
    fn allowlist_is_checked_both_ways() {
        assert!(matches!(
            admit("192.0.2.3", false),
            Err(Refusal::Allowlisted(_))
        ));
        assert!(matches!(
            admit("198.51.100.0/24", false),
            Err(Refusal::Allowlisted(_))
        ));
        assert_eq!(admit("192.0.2.99", false).unwrap(), "192.0.2.99");
        assert_eq!(admit("192.0.2.3", true).unwrap(), "192.0.2.3");
    }

    #[test]
    fn broad_networks_are_refused() {
        assert!(matches!(
            admit("203.0.0.0/16", false),
            Err(Refusal::TooBroad(_))
        ));
        assert!(matches!(
            admit("2001:db8::/32", true),
            Err(Refusal::TooBroad(_))
        ));
        assert_eq!(admit("203.0.113.0/24", false).unwrap(), "203.0.113.0/24");
    }

    #[test]
    fn ipv6_hosts_are_widened() {
        assert_eq!(
            admit("2001:db8:abcd:12::1", false).unwrap(),
            "2001:db8:abcd:12::/64"
        );
        assert_eq!(admit("203.0.113.7", false).unwrap(), "203.0.113.7");
    }
}
