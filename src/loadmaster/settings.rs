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
pub struct Settings {
    /// `https://HOST[:PORT]`, for messages.
    pub url: String,
    /// The API endpoint, `https://HOST[:PORT]/accessv2`.
    pub endpoint: String,
    pub trust: Trust,
    pub timeout: Duration,
    /// Connections kept alive at once.
    pub connections: usize,
}

/// How the LoadMaster's certificate is trusted.
#[derive(Debug, Clone)]
pub enum Trust {
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
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: String) -> ApiKey {
        ApiKey(key)
    }

    pub fn expose(&self) -> &str {
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
