//! What the LoadMaster client needs to know, already checked: where the
//! LoadMaster is (an [`HttpsUrl`], which checks itself), how its certificate
//! is trusted, the timeout, how many connections to keep, and the API key.
//! The configuration builds these
//! ([`crate::config::LoadMasterConfig::client_settings`]); the client knows
//! nothing of the configuration file.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// One LoadMaster's client settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// How messages name the table these come from.
    pub(crate) label: Label,
    /// `https://HOST[:PORT]`, for messages.
    pub(crate) url: HttpsUrl,
    /// The API endpoint, `https://HOST[:PORT]/accessv2`.
    pub(crate) endpoint: String,
    pub(crate) trust: Trust,
    pub(crate) timeout: Duration,
    /// Connections kept alive at once.
    pub(crate) connections: usize,
    /// The API rate budget (see [`super::budget`]).
    pub(crate) rate: super::budget::Rate,
}

/// How messages name a LoadMaster's table: `loadmaster` for a lone
/// `[loadmaster]` (its keys `loadmaster.url`), `[[loadmaster]] #2 "brno"`
/// for one of several (its keys `[[loadmaster]] #2 "brno": url`).
#[derive(Debug, Clone)]
pub(crate) struct Label {
    /// `Some((position, name))` for one of several tables.
    several: Option<(usize, Option<String>)>,
}

impl Label {
    /// A lone `[loadmaster]` table.
    pub(crate) fn lone() -> Label {
        Label { several: None }
    }

    /// The `position`-th (from 1) of several `[[loadmaster]]` tables, with
    /// the name written in it, if any.
    pub(crate) fn of_several(position: usize, name: Option<String>) -> Label {
        Label {
            several: Some((position, name)),
        }
    }

    /// One of several tables?
    pub(crate) fn is_several(&self) -> bool {
        self.several.is_some()
    }

    pub(crate) fn table(&self) -> String {
        match &self.several {
            None => "loadmaster".to_string(),
            Some((n, None)) => format!("[[loadmaster]] #{n}"),
            Some((n, Some(name))) => format!("[[loadmaster]] #{n} \"{name}\""),
        }
    }

    /// `key`, as messages name it.
    pub(crate) fn key(&self, key: &str) -> String {
        match &self.several {
            None => format!("loadmaster.{key}"),
            Some(_) => format!("{}: {key}", self.table()),
        }
    }
}

/// How the LoadMaster's certificate is trusted.
#[derive(Debug, Clone)]
pub(crate) enum Trust {
    /// The system's trusted roots.
    System,
    /// Only the certificates in this PEM file.
    CaFile(PathBuf),
    /// Exactly a certificate with one of these SHA-256 fingerprints (both
    /// units of an HA pair: the admin certificate is not synced).
    Pins(Vec<[u8; 32]>),
    /// No verification (`insecure_skip_tls_verify`).
    Anything,
}

/// `https://HOST[:PORT]`, nothing else: a host that is not empty, a port
/// from 1 to 65535, no user or password, no path or query. Made only by
/// [`HttpsUrl::parse`], so whoever holds one need not check it again; it is
/// shown as written (it carries no credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpsUrl {
    /// As written in the configuration (a trailing `/` allowed).
    text: String,
    /// The host name or address, without an IPv6 literal's brackets.
    host: String,
    /// The port written, if any.
    port: Option<u16>,
}

impl HttpsUrl {
    /// Check `url`; the error never echoes credentials.
    pub(crate) fn parse(url: &str) -> Result<HttpsUrl, String> {
        let shown = super::scrub::url_without_credentials(url);
        let Some(rest) = url.strip_prefix("https://") else {
            return Err(format!(
                "'{shown}' must start with https:// (lmguard never sends the API key unencrypted)"
            ));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('@') {
            return Err(format!(
                "'{shown}' must not carry a user or password (the API key comes from \
                 api_key_file or api_key_env)"
            ));
        }
        if authority.is_empty() || authority.contains(['/', '?', '#', ' ']) {
            return Err(format!(
                "'{shown}' must be just https://HOST or https://HOST:PORT (no path, user or query)"
            ));
        }
        let (host, port) = match authority.strip_prefix('[') {
            // [IPv6]:port
            Some(v6) => match v6.split_once(']') {
                Some((h, after)) => (h, after.strip_prefix(':')),
                None => return Err(format!("'{shown}': the IPv6 address lacks its closing ']'")),
            },
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return Err(format!("'{shown}' has no host name or address"));
        }
        let port = match port {
            None => None,
            Some(port) => match port.parse::<u32>() {
                Ok(n @ 1..=65535) => Some(n as u16),
                _ => {
                    return Err(format!(
                        "'{shown}': the port '{port}' is not a number from 1 to 65535"
                    ))
                }
            },
        };
        Ok(HttpsUrl {
            text: url.to_string(),
            host: host.to_string(),
            port,
        })
    }

    /// The host name or address (an IPv6 address without brackets).
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The port: the one written, else 443.
    pub(crate) fn port(&self) -> u16 {
        self.port.unwrap_or(443)
    }

    /// `HOST:PORT` as written, with `:443` added when no port is written
    /// (an IPv6 address keeps its brackets), for openssl.
    pub(crate) fn authority_with_port(&self) -> String {
        let authority = self.authority();
        if self.port.is_some() {
            authority.to_string()
        } else {
            format!("{authority}:443")
        }
    }

    fn authority(&self) -> &str {
        let rest = self.text.trim_start_matches("https://");
        rest.strip_suffix('/').unwrap_or(rest)
    }

    /// The API endpoint, `https://HOST[:PORT]/accessv2`.
    pub(crate) fn endpoint(&self) -> String {
        format!("{}/accessv2", self.text.trim_end_matches('/'))
    }
}

impl fmt::Display for HttpsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The API key. It is never printed: `Debug` redacts it and there is no
/// `Display`.
#[derive(Clone)]
pub(crate) struct ApiKey(String);

impl ApiKey {
    pub(crate) fn new(key: String) -> ApiKey {
        ApiKey(key)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_once_and_give_their_host_and_port() {
        let u = |s: &str| HttpsUrl::parse(s).unwrap();
        let hp = |s: &str| {
            let url = u(s);
            (url.host().to_string(), url.port())
        };
        assert_eq!(hp("https://192.0.2.10"), ("192.0.2.10".into(), 443));
        assert_eq!(hp("https://192.0.2.10:8443/"), ("192.0.2.10".into(), 8443));
        assert_eq!(hp("https://[2001:db8::1]"), ("2001:db8::1".into(), 443));
        assert_eq!(
            hp("https://[2001:db8::1]:8443"),
            ("2001:db8::1".into(), 8443)
        );
        assert_eq!(hp("https://lm.example"), ("lm.example".into(), 443));
        assert_eq!(u("https://lm:8443/").endpoint(), "https://lm:8443/accessv2");
        assert_eq!(u("https://lm/").to_string(), "https://lm/");
        assert_eq!(u("https://lm/").authority_with_port(), "lm:443");
        assert_eq!(u("https://lm:8443").authority_with_port(), "lm:8443");
        assert_eq!(u("https://[::1]").authority_with_port(), "[::1]:443");
        assert_eq!(u("https://[::1]:8443").authority_with_port(), "[::1]:8443");
        for bad in [
            "http://lm",
            "https://",
            "https://lm:port",
            "https://lm:0",
            "https://lm:65536",
            "https://lm/path",
            "https://[::1",
            "https://:443",
        ] {
            assert!(HttpsUrl::parse(bad).is_err(), "{bad}");
        }
        let e = HttpsUrl::parse("https://admin:secret@lm").unwrap_err();
        assert!(
            e.contains("user or password") && !e.contains("secret"),
            "{e}"
        );
    }

    #[test]
    fn api_key_debug_is_redacted() {
        assert_eq!(format!("{:?}", ApiKey("k".into())), "ApiKey(<redacted>)");
    }
}
