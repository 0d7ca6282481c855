//! What the LoadMaster client needs to know, already checked: where the
//! LoadMaster is, how its certificate is trusted, the timeout, how many
//! connections to keep, and the API key. The configuration builds these
//! ([`crate::config::LoadMasterConfig::client_settings`]); the client knows
//! nothing of the configuration file.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// One LoadMaster's client settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `https://HOST[:PORT]`, for messages.
    pub(crate) url: String,
    /// The API endpoint, `https://HOST[:PORT]/accessv2`.
    pub(crate) endpoint: String,
    pub(crate) trust: Trust,
    pub(crate) timeout: Duration,
    /// Connections kept alive at once.
    pub(crate) connections: usize,
}

/// How the LoadMaster's certificate is trusted.
#[derive(Debug, Clone)]
pub(crate) enum Trust {
    /// The system's trusted roots.
    System,
    /// Only the certificates in this PEM file.
    CaFile(PathBuf),
    /// Exactly the certificate with this SHA-256 fingerprint.
    Pin([u8; 32]),
    /// No verification (`insecure_skip_tls_verify`).
    Anything,
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
    fn api_key_debug_is_redacted() {
        assert_eq!(format!("{:?}", ApiKey("k".into())), "ApiKey(<redacted>)");
    }
}
