//! Built-in protections: addresses lmguard never blocks, whatever the
//! configuration or `--force` say.
//!
//! - always: loopback, link-local, multicast, unspecified, broadcast (and
//!   the same inside IPv4-mapped IPv6, `::ffff:127.0.0.1`);
//! - the LoadMaster's own address (from `[loadmaster] url`) and this host's
//!   own addresses, found at run time (see `Config::protections`).
//!
//! A block is refused when its network and a protected one overlap either
//! way: `127.0.0.0/24` lies inside loopback, `192.0.2.0/24` covers the
//! LoadMaster at `192.0.2.10`. This module is pure: the parsers for
//! `/proc/net/fib_trie` and `/proc/net/if_inet6` take text, not files.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::address::Address;

/// One address or network that is never blocked, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Protected {
    pub(crate) net: IpNet,
    /// What it is: `the LoadMaster's own address`, `an address of this host`.
    pub(crate) what: String,
}

impl Protected {
    pub(crate) fn new(ip: IpAddr, what: impl Into<String>) -> Protected {
        Protected {
            net: IpNet::from(ip),
            what: what.into(),
        }
    }
}

/// The ranges protected on every host.
fn builtin_ranges() -> [(IpNet, &'static str); 10] {
    let v4 = |a, b, c, d, p| IpNet::V4(Ipv4Net::new(Ipv4Addr::new(a, b, c, d), p).unwrap());
    let v6 = |ip: Ipv6Addr, p| IpNet::V6(Ipv6Net::new(ip, p).unwrap());
    [
        (v4(127, 0, 0, 0, 8), "loopback"),
        (v4(169, 254, 0, 0, 16), "link-local"),
        (v4(224, 0, 0, 0, 4), "multicast"),
        (v4(0, 0, 0, 0, 32), "the unspecified address"),
        (v4(255, 255, 255, 255, 32), "the broadcast address"),
        (v6(Ipv6Addr::LOCALHOST, 128), "loopback"),
        (
            v6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
            "link-local",
        ),
        (
            v6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
            "multicast",
        ),
        (v6(Ipv6Addr::UNSPECIFIED, 128), "the unspecified address"),
        // IPv4-mapped IPv6 addresses are checked as IPv4 as well (below);
        // the whole range is never a sensible block.
        (
            v6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96),
            "the IPv4-mapped range",
        ),
    ]
}

fn overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

/// The IPv4 network an IPv4-mapped IPv6 network (`::ffff:a.b.c.d/p`, p ≥ 96)
/// stands for.
fn mapped_v4(net: &IpNet) -> Option<IpNet> {
    let IpNet::V6(v6) = net else { return None };
    if v6.prefix_len() < 96 {
        return None;
    }
    let v4 = v6.addr().to_ipv4_mapped()?;
    Ipv4Net::new(v4, v6.prefix_len() - 96).ok().map(IpNet::V4)
}

/// Why `address` must never be blocked, if it must not: the built-in ranges,
/// then `extra` (the LoadMaster, this host). Overlap counts both ways.
pub(crate) fn refusal(address: &Address, extra: &[Protected]) -> Option<String> {
    let net = address.network();
    let mapped = mapped_v4(&net);
    // The IPv4 meaning of a mapped address first: its reason is the
    // specific one (loopback, the LoadMaster, …).
    let candidates = [mapped, Some(net)];
    for candidate in candidates.iter().flatten() {
        for (range, what) in builtin_ranges() {
            if overlap(candidate, &range) {
                return Some(describe(address, candidate, &range, what));
            }
        }
        for p in extra {
            if overlap(candidate, &p.net) {
                return Some(describe(address, candidate, &p.net, &p.what));
            }
        }
    }
    None
}

fn describe(address: &Address, checked: &IpNet, protected: &IpNet, what: &str) -> String {
    let shown = |n: &IpNet| {
        if n.prefix_len() == n.max_prefix_len() {
            n.addr().to_string()
        } else {
            n.to_string()
        }
    };
    let inside = if protected.contains(checked) {
        format!("{address} is {what}")
    } else {
        format!("{address} covers {} ({what})", shown(protected))
    };
    let inside =
        if protected.contains(checked) && protected.prefix_len() < protected.max_prefix_len() {
            format!("{inside} ({})", shown(protected))
        } else {
            inside
        };
    format!("{inside}, which lmguard never blocks (a built-in protection; --force does not override it)")
}

/// The addresses of this host from `/proc/net/fib_trie`: the `/32 host
/// LOCAL` leaves. Unparseable text gives what could be read.
pub(crate) fn parse_fib_trie(text: &str) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("|--") {
            last = rest.trim().parse().ok();
        } else if t.starts_with("/32") && t.contains("host") && t.ends_with("LOCAL") {
            if let Some(ip) = last {
                let ip = IpAddr::V4(ip);
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
    }
    out
}

/// The addresses of this host from `/proc/net/if_inet6`: the first field of
/// each line, 32 hex digits.
pub(crate) fn parse_if_inet6(text: &str) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for line in text.lines() {
        let Some(hex) = line.split_whitespace().next() else {
            continue;
        };
        if hex.len() != 32 {
            continue;
        }
        let Ok(bits) = u128::from_str_radix(hex, 16) else {
            continue;
        };
        let ip = IpAddr::V6(Ipv6Addr::from(bits));
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str, extra: &[Protected]) -> Option<String> {
        refusal(&s.parse().unwrap(), extra)
    }

    #[test]
    fn special_ranges_are_always_refused() {
        for s in [
            "127.0.0.1",
            "127.1.2.3",
            "127.0.0.0/24",
            "169.254.1.1",
            "224.0.0.251",
            "239.255.255.250",
            "0.0.0.0",
            "0.0.0.0/24",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fe80::/64",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:192.0.2.0/120",
        ] {
            assert!(refused(s, &[]).is_some(), "{s} must be protected");
        }
        for s in [
            "203.0.113.7",
            "192.0.2.0/24",
            "2001:db8::1",
            "2001:db8::/48",
            // An IPv4-mapped host is its IPv4 address (address.rs).
            "::ffff:192.0.2.10",
        ] {
            assert_eq!(refused(s, &[]), None, "{s}");
        }
    }

    #[test]
    fn reasons_name_the_protection() {
        let why = refused("127.0.0.1", &[]).unwrap();
        assert!(why.contains("loopback") && why.contains("--force"), "{why}");
        let why = refused("fe80::1", &[]).unwrap();
        assert!(why.contains("link-local"), "{why}");
        let why = refused("::ffff:127.0.0.1", &[]).unwrap();
        assert!(why.contains("loopback"), "{why}");
        let why = refused("::ffff:203.0.113.0/120", &[]).unwrap();
        assert!(why.contains("IPv4-mapped"), "{why}");
    }

    #[test]
    fn extra_addresses_are_checked_both_ways() {
        let lm = [Protected::new(
            "192.0.2.10".parse().unwrap(),
            "the LoadMaster's own address",
        )];
        let why = refused("192.0.2.10", &lm).unwrap();
        assert!(why.contains("the LoadMaster's own address"), "{why}");
        let why = refused("192.0.2.0/24", &lm).unwrap();
        assert!(why.contains("covers 192.0.2.10"), "{why}");
        assert_eq!(refused("192.0.2.11", &lm), None);
        assert_eq!(refused("198.51.100.0/24", &lm), None);
    }

    #[test]
    fn fib_trie_local_hosts_are_found() {
        let text = "Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 198.51.100.0/24 2 0 2
        |-- 198.51.100.0
           /24 link UNICAST
        |-- 198.51.100.23
           /32 host LOCAL
        |-- 198.51.100.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
        |-- 198.51.100.23
           /32 host LOCAL
";
        let found = parse_fib_trie(text);
        assert_eq!(
            found,
            vec![
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "198.51.100.23".parse().unwrap()
            ]
        );
        assert!(parse_fib_trie("garbage\n|-- nonsense\n/32 host LOCAL\n").is_empty());
    }

    #[test]
    fn if_inet6_addresses_are_found() {
        let text = "00000000000000000000000000000001 01 80 10 80       lo
20010db8000000000000000000000042 02 40 00 00     eth0
fe800000000000000000000000000001 02 40 20 80     eth0
short 02 40 00 00 eth0
";
        let found = parse_if_inet6(text);
        assert_eq!(
            found,
            vec![
                "::1".parse::<IpAddr>().unwrap(),
                "2001:db8::42".parse().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
    }
}
