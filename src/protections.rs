//! The built-in protections found at run time: every configured
//! LoadMaster's own address (a DNS lookup when its `url` names a host) and this
//! host's addresses (from /proc), added to the configured admission policy
//! so that lmguard never blocks them.

use crate::config::Config;
use crate::domain::policy::Policy;
use crate::domain::protect::{self, Protected};
use crate::loadmaster::settings::HttpsUrl;

/// The full admission policy for blocking: [`BlockConfig::policy`] plus
/// the LoadMaster's own address and this host's addresses, which are
/// never blocked. What cannot be found is a warning, not an error.
///
/// It reads `/proc/net/fib_trie` and `/proc/net/if_inet6`, and resolves
/// the LoadMaster's host name when `url` names one (an IP literal needs
/// no lookup).
pub(crate) fn admission_policy(config: &Config) -> Policy {
    let mut policy = config.block.policy();
    policy.protected = protections(config);
    policy
}

fn protections(config: &Config) -> Vec<Protected> {
    let mut out = Vec::new();
    for lm in &config.loadmasters {
        let what = if config.several() {
            format!("the address of LoadMaster \"{}\"", lm.name)
        } else {
            "the LoadMaster's own address".to_string()
        };
        out.extend(
            loadmaster_addresses(&lm.url)
                .into_iter()
                .map(|ip| Protected::new(ip, &what)),
        );
    }
    out.extend(
        host_addresses()
            .into_iter()
            .map(|ip| Protected::new(ip, "an address of this host")),
    );
    out
}

/// The addresses `[loadmaster] url` points at.
fn loadmaster_addresses(url: &HttpsUrl) -> Vec<std::net::IpAddr> {
    use std::net::ToSocketAddrs;
    let (host, port) = (url.host(), url.port());
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return vec![ip];
    }
    let warn = |why: &str| {
        log::warn!(
            "cannot resolve the LoadMaster's name {host} ({why}); this run cannot protect its \
             address from being blocked: add it to [block] allowlist"
        )
    };
    match (host, port).to_socket_addrs() {
        Ok(addrs) => {
            let mut ips: Vec<_> = addrs.map(|a| a.ip()).collect();
            ips.dedup();
            if ips.is_empty() {
                warn("no addresses");
            }
            ips
        }
        Err(e) => {
            warn(&e.to_string());
            Vec::new()
        }
    }
}

/// This host's own addresses, from `/proc/net/fib_trie` (IPv4, the local
/// routing table's `/32 host LOCAL` entries) and `/proc/net/if_inet6`.
fn host_addresses() -> Vec<std::net::IpAddr> {
    let warn = |path: &str, e: &std::io::Error| {
        log::warn!(
            "cannot read this host's addresses from {path} ({e}); this run cannot protect \
             them from being blocked: add them to [block] allowlist"
        )
    };
    let mut out = Vec::new();
    match std::fs::read_to_string("/proc/net/fib_trie") {
        Ok(text) => out.extend(protect::parse_fib_trie(&text)),
        Err(e) => warn("/proc/net/fib_trie", &e),
    }
    match std::fs::read_to_string("/proc/net/if_inet6") {
        Ok(text) => out.extend(protect::parse_if_inet6(&text)),
        // No such file: IPv6 is disabled, so there are no IPv6 addresses.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warn("/proc/net/if_inet6", &e),
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const MINIMAL: &str = "[loadmaster]\nurl = \"https://192.0.2.10\"\napi_key_file = \"/k\"\n";

    #[test]
    fn the_loadmaster_address_is_protected_without_a_lookup_for_literals() {
        assert_eq!(
            loadmaster_addresses(&HttpsUrl::parse("https://192.0.2.10:8443").unwrap()),
            vec!["192.0.2.10".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(
            loadmaster_addresses(&HttpsUrl::parse("https://[2001:db8::10]").unwrap()),
            vec!["2001:db8::10".parse::<std::net::IpAddr>().unwrap()]
        );
        // A name is resolved (localhost: from /etc/hosts, no network).
        let local = loadmaster_addresses(&HttpsUrl::parse("https://localhost:443").unwrap());
        assert!(local.iter().all(|ip| ip.is_loopback()), "{local:?}");
        let c = Config::parse(MINIMAL).unwrap();
        let policy = admission_policy(&c);
        let lm = policy
            .admit("192.0.2.10".parse().unwrap(), true)
            .unwrap_err();
        assert!(lm.reason().contains("LoadMaster"), "{lm:?}");
    }

    #[test]
    fn this_hosts_addresses_are_found_on_linux() {
        if !Path::new("/proc/net/fib_trie").exists() {
            return;
        }
        let found = host_addresses();
        assert!(
            found.iter().any(|ip| ip.is_loopback()),
            "127.0.0.1 is a local address: {found:?}"
        );
    }
}
