//! What may be blocked: the built-in protections, the configured
//! allowlist, the broadest network allowed, and IPv6 widening.

use std::hash::{DefaultHasher, Hash, Hasher};

use super::address::Address;
use super::entry::{Entry, Status};
use super::protect::{self, Protected};

#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) allowlist: Vec<Address>,
    /// IPv6 hosts are widened to this prefix (128 = not at all).
    pub(crate) ipv6_prefix: u8,
    pub(crate) min_prefix_v4: u8,
    pub(crate) min_prefix_v6: u8,
    /// Addresses found at run time that are never blocked (the LoadMaster,
    /// this host), on top of the ranges always protected (loopback,
    /// link-local, multicast, unspecified); see `Config::admission_policy`.
    pub(crate) protected: Vec<Protected>,
}

/// Why an address is not blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Covered by (or covering) an allowlisted address: skipped, not an error.
    Allowlisted(String),
    /// A network broader than allowed: rejected input.
    TooBroad(String),
    /// Overlaps a built-in protection (loopback, the LoadMaster, this host,
    /// …); `--force` never overrides it.
    Protected(String),
}

impl Refusal {
    /// The reason, for messages.
    pub(crate) fn reason(&self) -> &str {
        match self {
            Refusal::Allowlisted(why) | Refusal::TooBroad(why) | Refusal::Protected(why) => why,
        }
    }
}

impl Policy {
    /// An IPv6 host as the network `ipv6_prefix` makes of it; anything else
    /// unchanged.
    /// Never inside the NAT64 or IPv4-mapped ranges, where a /64 would block
    /// much of IPv4.
    pub(crate) fn widen(&self, address: Address) -> Address {
        if address.is_ipv6() && address.is_host() && !address.is_in_ipv4_translation_range() {
            address.widen_to(self.ipv6_prefix)
        } else {
            address
        }
    }

    /// The address to block for `address`, or why not. `force` overrides the
    /// configured allowlist (manual blocks only), never the built-in
    /// protections.
    pub(crate) fn admit(&self, address: Address, force: bool) -> Result<Address, Refusal> {
        let address = self.widen(address);
        if let Some(why) = protect::refusal(&address, &self.protected) {
            return Err(Refusal::Protected(why));
        }
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
            self.check_allowlist(&address)?;
        }
        Ok(address)
    }

    /// Whether an entry recorded earlier may still be (re-)sent to the
    /// LoadMaster: the built-in protections and the allowlist as they are
    /// now (for `sweep` retries and `sync --apply`). The prefix limits and
    /// widening are not applied again: they were when it was blocked.
    pub(crate) fn recheck(&self, address: &Address) -> Result<(), Refusal> {
        if let Some(why) = protect::refusal(address, &self.protected) {
            return Err(Refusal::Protected(why));
        }
        self.check_allowlist(address)
    }

    /// [`Policy::recheck`] for a recorded block: one made with `--force`
    /// over the allowlist is checked against the protections only.
    pub(crate) fn recheck_block(&self, entry: &Entry) -> Result<(), Refusal> {
        if entry.forced {
            match protect::refusal(&entry.address, &self.protected) {
                Some(why) => Err(Refusal::Protected(why)),
                None => Ok(()),
            }
        } else {
            self.recheck(&entry.address)
        }
    }

    /// Why an active block must be lifted now, if it must: the allowlist
    /// or a built-in protection covers it (an address inside an allowed
    /// network, or a blocked network holding an allowed address) — the
    /// operator added a false positive after it was blocked.
    pub(crate) fn lifts(&self, entry: &Entry) -> Option<Refusal> {
        if entry.status != Status::Active {
            return None;
        }
        self.recheck_block(entry).err()
    }

    /// A number that changes when what [`Policy::lifts`] decides may
    /// change (the allowlist, the protected addresses), so that `sweep`
    /// looks at every active block only after such a change. Never 0.
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut allowed: Vec<String> = self.allowlist.iter().map(|a| a.to_string()).collect();
        allowed.sort();
        let mut protected: Vec<String> = self.protected.iter().map(|p| p.net.to_string()).collect();
        protected.sort();
        let mut h = DefaultHasher::new();
        // The version of this rule: a change of it in lmguard rescans too.
        1u32.hash(&mut h);
        allowed.hash(&mut h);
        protected.hash(&mut h);
        h.finish().max(1)
    }

    fn check_allowlist(&self, address: &Address) -> Result<(), Refusal> {
        let net = address.network();
        match self.allowlist.iter().find(|a| {
            let a = a.network();
            a.contains(&net) || net.contains(&a)
        }) {
            Some(allowed) => Err(Refusal::Allowlisted(format!(
                "{address} overlaps the allowlist entry {allowed}"
            ))),
            None => Ok(()),
        }
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
            protected: vec![Protected::new(
                "192.0.2.200".parse().unwrap(),
                "the LoadMaster's own address",
            )],
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
    fn built_in_protections_win_over_force() {
        for s in [
            "127.0.0.1",
            "::1",
            "fe80::1",
            "224.0.0.1",
            "0.0.0.0",
            "192.0.2.200",
        ] {
            for force in [false, true] {
                assert!(
                    matches!(admit(s, force), Err(Refusal::Protected(_))),
                    "{s} force={force}: {:?}",
                    admit(s, force)
                );
            }
        }
        // Containment the other way: a network covering the LoadMaster.
        let e = admit("192.0.2.128/25", true).unwrap_err();
        assert!(matches!(e, Refusal::Protected(_)), "{e:?}");
        assert!(e.reason().contains("192.0.2.200"), "{e:?}");
        // A widened IPv6 host is checked as the network it becomes.
        assert!(matches!(
            admit("fe80::1:2", false),
            Err(Refusal::Protected(_))
        ));
    }

    #[test]
    fn the_default_prefix_limits_are_24_and_48() {
        let p = crate::config::BlockConfig::defaults().policy();
        assert_eq!((p.min_prefix_v4, p.min_prefix_v6), (24, 48));
        let admit = |s: &str| p.admit(s.parse().unwrap(), true);
        assert!(matches!(admit("203.0.112.0/23"), Err(Refusal::TooBroad(_))));
        assert!(admit("203.0.113.0/24").is_ok());
        assert!(matches!(admit("2001:db8::/47"), Err(Refusal::TooBroad(_))));
        assert!(admit("2001:db8::/48").is_ok());
    }

    #[test]
    fn recheck_applies_the_allowlist_and_protections_as_they_are_now() {
        let p = policy();
        assert!(p.recheck(&"203.0.113.7".parse().unwrap()).is_ok());
        assert!(matches!(
            p.recheck(&"192.0.2.3".parse().unwrap()),
            Err(Refusal::Allowlisted(_))
        ));
        assert!(matches!(
            p.recheck(&"192.0.2.200".parse().unwrap()),
            Err(Refusal::Protected(_))
        ));
        // Not the prefix limit: what was admitted stays admitted.
        assert!(p.recheck(&"203.0.0.0/16".parse().unwrap()).is_ok());
    }

    #[test]
    fn ipv6_hosts_are_widened() {
        assert_eq!(
            admit("2001:db8:abcd:12::1", false).unwrap(),
            "2001:db8:abcd:12::/64"
        );
        assert_eq!(admit("203.0.113.7", false).unwrap(), "203.0.113.7");
    }

    fn active(addr: &str, forced: bool) -> Entry {
        use crate::domain::entry::testing::{pending, request, CLAIM};
        use crate::domain::entry::{complete, Applied, Call};
        let pending = pending(&request(addr, "SCANS"), 0);
        let mut e = complete(pending, &CLAIM, Call::Add, Ok(Applied::Done), 0).unwrap();
        e.forced = forced;
        e
    }

    #[test]
    fn active_blocks_the_allowlist_now_covers_are_lifted_unless_forced() {
        let p = policy();
        // Inside an allowed network, or a network holding an allowed address.
        assert!(p.lifts(&active("192.0.2.3", false)).is_some());
        assert!(p.lifts(&active("198.51.100.0/24", false)).is_some());
        assert!(p.lifts(&active("203.0.113.7", false)).is_none());
        // Forced over the allowlist: kept; a protection still lifts it.
        assert!(p.lifts(&active("192.0.2.3", true)).is_none());
        assert!(matches!(
            p.lifts(&active("192.0.2.200", true)),
            Some(Refusal::Protected(_))
        ));
        // Only active blocks: a pending one is the retry's business.
        let mut pending = active("192.0.2.3", false);
        pending.status = Status::PendingBlock;
        assert!(p.lifts(&pending).is_none());
    }

    #[test]
    fn the_fingerprint_follows_the_allowlist_and_protections_not_their_order() {
        let p = policy();
        let mut reordered = p.clone();
        reordered.allowlist.reverse();
        assert_eq!(p.fingerprint(), reordered.fingerprint());
        let mut edited = p.clone();
        edited.allowlist.push("203.0.113.7".parse().unwrap());
        assert_ne!(p.fingerprint(), edited.fingerprint());
        let mut moved = p.clone();
        moved.protected[0] = Protected::new("192.0.2.201".parse().unwrap(), "x");
        assert_ne!(p.fingerprint(), moved.fingerprint());
        // Settings that do not decide lifting do not count.
        let mut wider = p.clone();
        wider.ipv6_prefix = 48;
        assert_eq!(p.fingerprint(), wider.fingerprint());
    }
}
