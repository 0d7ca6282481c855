//! IP addresses and CIDR networks, normalised the way they are stored and sent.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

/// An IPv4/IPv6 host or CIDR network in canonical form.
///
/// A host is shown bare (`192.0.2.7`, never `192.0.2.7/32`); IPv6 is shown in
/// RFC 5952 form (`2001:db8::1`). Networks must not have host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(IpNet);

/// Why a piece of text is not an [`Address`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressError {
    pub input: String,
    pub reason: String,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a valid address: {}",
            self.input, self.reason
        )
    }
}

impl std::error::Error for AddressError {}

impl Address {
    pub fn network(&self) -> IpNet {
        self.0
    }

    /// A network as an address; `None` when host bits are set after its
    /// prefix (not canonical).
    pub(crate) fn from_network(net: IpNet) -> Option<Address> {
        (net.trunc() == net).then_some(Address(net))
    }

    /// True when this is a single host (/32 or /128).
    pub(crate) fn is_host(&self) -> bool {
        self.0.prefix_len() == self.0.max_prefix_len()
    }

    pub(crate) fn is_ipv6(&self) -> bool {
        matches!(self.0, IpNet::V6(_))
    }

    /// The explicit-prefix form (`192.0.2.7/32`), used when a LoadMaster
    /// insists on a prefix for hosts.
    pub(crate) fn with_prefix(&self) -> String {
        self.0.to_string()
    }

    /// The smallest network of `prefix_len` bits containing this address.
    /// Returns `self` unchanged when it is already that broad or broader.
    pub(crate) fn widen_to(&self, prefix_len: u8) -> Address {
        if prefix_len >= self.0.prefix_len() {
            return *self;
        }
        match IpNet::new(self.0.addr(), prefix_len) {
            Ok(net) => Address(net.trunc()),
            Err(_) => *self,
        }
    }
}

impl From<IpAddr> for Address {
    /// An IPv4-mapped IPv6 address (`::ffff:198.51.100.20`) is the IPv4
    /// address it carries: blocked, protected and compared as that.
    fn from(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        Address(IpNet::from(ip))
    }
}

impl Address {
    /// Inside a range where one IPv6 network stands for IPv4 addresses
    /// (NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, IPv4-mapped
    /// `::ffff:0:0/96`): widening there would block much of IPv4.
    pub(crate) fn is_in_ipv4_translation_range(&self) -> bool {
        const RANGES: [&str; 3] = ["64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0/96"];
        RANGES.iter().any(|r| {
            r.parse::<IpNet>()
                .is_ok_and(|range| range.contains(&self.0))
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        // The common case, a plain IPv4 host or network, without the
        // general parsers (a LoadMaster list parses every address).
        if let Some(address) = plain_ipv4(input) {
            return Ok(address);
        }
        let fail = |reason: &str| AddressError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        if input.is_empty() || input.trim().is_empty() {
            return Err(fail("empty"));
        }
        if input.trim() != input {
            return Err(fail("surrounding white space"));
        }
        let ip_part = input.split_once('/').map_or(input, |(ip, _)| ip);
        if let Some(fixed) = without_leading_zeros(ip_part) {
            return Err(fail(&format!(
                "leading zeros are not accepted (they may mean octal); write {fixed} if that is \
                 what you meant"
            )));
        }
        if let Some((_, prefix)) = input.split_once('/') {
            let net = IpNet::from_str(input).map_err(|_| {
                if prefix.parse::<u8>().is_err() {
                    fail("the prefix length after '/' is not a number")
                } else {
                    fail("not a CIDR network (expected e.g. 198.51.100.0/24 or 2001:db8::/48)")
                }
            })?;
            let trunc = net.trunc();
            if trunc != net {
                return Err(fail(&format!(
                    "host bits are set after the prefix (did you mean {trunc}?)"
                )));
            }
            return Ok(Address(net));
        }
        if let Ok(ip) = IpAddr::from_str(input) {
            return Ok(Address::from(ip));
        }
        if SocketAddr::from_str(input).is_ok() {
            return Err(fail("an address with a port; give the address alone"));
        }
        let looks_numeric = input
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '.' || c == ':');
        if looks_numeric {
            Err(fail("not an IPv4 or IPv6 address"))
        } else {
            Err(fail("not an IP address (host names are not resolved)"))
        }
    }
}

/// `a.b.c.d` or `a.b.c.d/n` in canonical digits (no leading zeros, no
/// host bits after the prefix) as an [`Address`]; `None` for anything else,
/// which the general parser then accepts or explains.
fn plain_ipv4(input: &str) -> Option<Address> {
    fn number(digits: &[u8], max: u32) -> Option<u32> {
        if digits.is_empty() || digits.len() > 3 || (digits.len() > 1 && digits[0] == b'0') {
            return None;
        }
        let mut n = 0u32;
        for &d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u32::from(d - b'0');
        }
        (n <= max).then_some(n)
    }
    let (ip, prefix) = match input.split_once('/') {
        Some((ip, prefix)) => (ip, number(prefix.as_bytes(), 32)?),
        None => (input, 32),
    };
    let mut octets = [0u8; 4];
    let mut parts = ip.as_bytes().split(|&b| b == b'.');
    for octet in &mut octets {
        *octet = u8::try_from(number(parts.next()?, 255)?).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    let net =
        ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(octets), u8::try_from(prefix).ok()?).ok()?;
    Address::from_network(IpNet::V4(net))
}

/// For dotted-quad text with a leading zero in an octet (`192.0.2.010`),
/// the same address written without them (`192.0.2.10`); `None` otherwise.
fn without_leading_zeros(text: &str) -> Option<String> {
    let octets: Vec<&str> = text.split('.').collect();
    let dotted = octets.len() == 4
        && octets
            .iter()
            .all(|o| !o.is_empty() && o.len() <= 4 && o.bytes().all(|b| b.is_ascii_digit()));
    if !dotted || !octets.iter().any(|o| o.len() > 1 && o.starts_with('0')) {
        return None;
    }
    let fixed: Vec<String> = octets
        .iter()
        .map(|o| o.trim_start_matches('0'))
        .map(|o| if o.is_empty() { "0" } else { o }.to_string())
        .collect();
    Some(fixed.join("."))
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        s.parse::<Address>().unwrap().to_string()
    }

    #[test]
    fn an_ipv4_mapped_address_is_the_ipv4_address() {
        assert_eq!(norm("::ffff:198.51.100.20"), "198.51.100.20");
        assert_eq!(norm("::FFFF:c633:6414"), "198.51.100.20");
        assert!(!"::ffff:198.51.100.20".parse::<Address>().unwrap().is_ipv6());
        assert_eq!(norm("64:ff9b::198.51.100.20"), "64:ff9b::c633:6414");
    }

    #[test]
    fn translation_ranges_are_known() {
        let a = |s: &str| s.parse::<Address>().unwrap();
        assert!(a("64:ff9b::c633:6414").is_in_ipv4_translation_range());
        assert!(a("64:ff9b:1::1").is_in_ipv4_translation_range());
        assert!(a("::ffff:0:0/96").is_in_ipv4_translation_range());
        assert!(!a("2001:db8::1").is_in_ipv4_translation_range());
    }

    fn reason(s: &str) -> String {
        s.parse::<Address>().unwrap_err().reason
    }

    #[test]
    fn hosts_are_shown_bare() {
        assert_eq!(norm("192.0.2.7"), "192.0.2.7");
        assert_eq!(norm("192.0.2.7/32"), "192.0.2.7");
        assert_eq!(norm("2001:db8::1/128"), "2001:db8::1");
    }

    #[test]
    fn ipv6_is_lowercased_and_compressed() {
        assert_eq!(norm("2001:DB8::1"), "2001:db8::1");
        assert_eq!(norm("2001:DB8:0:0:0:0:0:AB"), "2001:db8::ab");
    }

    #[test]
    fn networks_keep_their_prefix() {
        assert_eq!(norm("198.51.100.0/24"), "198.51.100.0/24");
        assert_eq!(norm("2001:db8:abcd:12::/64"), "2001:db8:abcd:12::/64");
    }

    #[test]
    fn rejects_leading_zeros_and_out_of_range_octets() {
        let r = reason("192.0.2.010");
        assert!(r.contains("leading zeros are not accepted"), "{r}");
        assert!(r.contains("192.0.2.10"), "{r}");
        assert!(reason("010.0.2.0/24").contains("write 10.0.2.0"));
        assert!(reason("192.0.2.00").contains("write 192.0.2.0"));
        assert!(reason("999.1.2.3").contains("not an IPv4"));
    }

    #[test]
    fn rejects_host_bits_with_a_suggestion() {
        assert!(reason("192.0.2.7/24").contains("did you mean 192.0.2.0/24"));
    }

    #[test]
    fn rejects_ports_names_and_empty() {
        assert!(reason("203.0.113.93:4444").contains("port"));
        assert!(reason("[2001:db8::1]:22").contains("port"));
        assert!(reason("attacker.example.net").contains("host names"));
        assert_eq!(reason(" "), "empty");
        assert_eq!(reason(""), "empty");
        assert!(reason("192.0.2.0/33").contains("CIDR"));
        assert!(reason("192.0.2.0/x").contains("prefix"));
    }

    #[test]
    fn widening_truncates_to_the_network() {
        let a: Address = "2001:db8:abcd:12::1".parse().unwrap();
        assert_eq!(a.widen_to(64).to_string(), "2001:db8:abcd:12::/64");
        assert_eq!(a.widen_to(128), a);
    }

    /// The plain-IPv4 fast path accepts exactly what the general parser
    /// accepts, with the same result, and leaves everything else to it.
    #[test]
    fn the_ipv4_fast_path_agrees_with_the_general_parser() {
        let mut inputs: Vec<String> = [
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3.4/32",
            "1.2.3.0/24",
            "1.2.3.4/24",
            "1.2.3.4/33",
            "1.2.3.4/",
            "1.2.3.4/032",
            "1.2.3.4/0",
            "0.0.0.0/0",
            " 1.2.3.4",
            "1.2.3.4 ",
            "1.2.3.4:80",
            "+1.2.3.4",
            "1.2.3.-4",
            "1.2.3.4/+8",
            "10.0.0.0/8",
            "1.2.3.4//32",
            "1.2.3.4/3/2",
            "1.2.3.a",
            "",
            ".",
            "1.2.3.4.",
            "1000.1.1.1",
            "0x1.2.3.4",
            "::ffff:1.2.3.4",
            "192.0.2.7/31",
            "192.0.2.6/31",
            "٣.1.1.1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for a in [0u32, 7, 9, 10, 99, 100, 199, 200, 249, 250, 255] {
            inputs.push(format!("10.{a}.0.{a}"));
            inputs.push(format!("{a}.{a}.{a}.0/{}", a % 40));
        }
        for input in &inputs {
            let Some(fast) = plain_ipv4(input) else {
                continue; // the general parser's case, unchanged
            };
            let general = if input.contains('/') {
                IpNet::from_str(input).ok().and_then(Address::from_network)
            } else {
                IpAddr::from_str(input).ok().map(Address::from)
            };
            assert_eq!(Some(fast), general, "{input:?}");
            let ip = input.split('/').next().unwrap();
            assert_eq!(without_leading_zeros(ip), None, "{input:?}");
        }
        let taken: Vec<&str> = ["10.0.0.1", "0.0.0.0/0", "1.2.3.0/24", "255.255.255.255/32"]
            .into_iter()
            .filter(|i| plain_ipv4(i).is_some())
            .collect();
        assert_eq!(taken.len(), 4);
        for left in [
            "01.2.3.4",
            "1.2.3.4/24",
            "1.2.3.4 ",
            "1.2.3.4/032",
            "256.1.1.1",
            "1.2.3.4:80",
        ] {
            assert_eq!(plain_ipv4(left), None, "{left:?}");
            assert!(left.parse::<Address>().is_err(), "{left:?}");
        }
    }
}
