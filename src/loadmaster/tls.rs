//! How lmguard trusts the LoadMaster's certificate.
//!
//! - default: the system's trusted roots;
//! - `ca_file`: only the certificates in that PEM file. A CA there signs the
//!   LoadMaster's certificate as usual; a self-signed appliance certificate
//!   placed there is trusted when the presented certificate is exactly it
//!   (WebPKI does not accept a self-signed leaf as its own anchor);
//! - `tls_sha256`: exactly the certificate whose SHA-256 (of its DER) is
//!   the pinned fingerprint, whatever name, issuer or dates it carries — the
//!   usual way to trust an appliance's self-signed certificate. A mismatch
//!   names both fingerprints;
//! - `insecure_skip_tls_verify`: no verification, with a warning every run.
//!
//! In every case the handshake signature is checked against the presented
//! certificate's key, so a pinned or exact certificate cannot be replayed
//! without its private key.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::settings::{Settings, Trust};
use crate::error::{Error, Result};

/// Build the TLS client configuration the settings ask for.
pub(crate) fn client_config(lm: &Settings) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match &lm.trust {
        Trust::Anything => {
            log::warn!(
                "TLS certificate verification of {} is OFF (insecure_skip_tls_verify = true): \
                 anyone on the path can read the API key; set ca_file instead",
                lm.url
            );
            Arc::new(Verifier {
                trust: Accept::Anything,
                provider: provider.clone(),
            })
        }
        Trust::Pins(pins) => Arc::new(Verifier {
            trust: Accept::Pins(pins.clone()),
            provider: provider.clone(),
        }),
        Trust::CaFile(ca_file) => {
            let certs = read_pem(ca_file, &lm.label.key("ca_file"))?;
            let mut roots = RootCertStore::empty();
            let (_, ignored) = roots.add_parsable_certificates(certs.iter().cloned());
            if ignored > 0 {
                log::debug!(
                    "{ignored} certificate(s) in the CA file are not usable as trust anchors"
                );
            }
            let webpki = if roots.is_empty() {
                None
            } else {
                Some(webpki_verifier(roots, &provider, &lm.label.key("ca_file"))?)
            };
            Arc::new(Verifier {
                trust: Accept::CaFile {
                    webpki,
                    exact: certs,
                },
                provider: provider.clone(),
            })
        }
        Trust::System => {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(Error::usage(format!(
                    "no trusted CA certificates found on this system; set {} to the \
                     LoadMaster's certificate",
                    lm.label.key("ca_file")
                )));
            }
            webpki_verifier(roots, &provider, &lm.label.key("ca_file"))?
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS set-up failed: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A SHA-256 fingerprint as operators write it: 64 hex digits, upper or
/// lower case, with or without ':' (or spaces) between the pairs.
pub(crate) fn parse_fingerprint(text: &str) -> std::result::Result<[u8; 32], String> {
    let hex: String = text
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    let bad = || {
        "not a SHA-256 fingerprint (64 hex digits, e.g. AB:CD:…; get it with \
         `openssl x509 -noout -fingerprint -sha256 -in loadmaster.pem`)"
            .to_string()
    };
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// `AB:CD:…`, the way openssl and browsers show a fingerprint.
pub(crate) fn format_fingerprint(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The SHA-256 fingerprint of a DER certificate.
pub(crate) fn fingerprint(der: &[u8]) -> [u8; 32] {
    let digest = ::ring::digest::digest(&::ring::digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// `key`: how messages name the `ca_file` setting (its table).
fn webpki_verifier(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
    key: &str,
) -> Result<Arc<WebPkiServerVerifier>> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::usage(format!("{key}: cannot use it: {e}")))
}

fn read_pem(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>> {
    let bad = |e: &dyn std::fmt::Display| {
        Error::usage(format!(
            "{key}: cannot read certificates from {}: {e}",
            path.display()
        ))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no PEM certificate in it"));
    }
    Ok(certs)
}

/// Verifies the server certificate as [`Accept`] says; the handshake
/// signatures are always checked.
#[derive(Debug)]
struct Verifier {
    trust: Accept,
    provider: Arc<CryptoProvider>,
}

#[derive(Debug)]
enum Accept {
    /// `insecure_skip_tls_verify = true`.
    Anything,
    /// `ca_file`: WebPKI against its CAs, or exactly one of its certificates.
    CaFile {
        webpki: Option<Arc<WebPkiServerVerifier>>,
        exact: Vec<CertificateDer<'static>>,
    },
    /// `tls_sha256`: exactly a certificate with one of these SHA-256s.
    Pins(Vec<[u8; 32]>),
}

/// A presented certificate that is not the pinned one.
#[derive(Debug)]
struct PinMismatch {
    expected: Vec<[u8; 32]>,
    presented: [u8; 32],
}

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the LoadMaster's certificate does not match tls_sha256: expected \
             SHA-256 {}, presented {}; if the appliance's certificate was renewed, check the \
             new one and update tls_sha256",
            self.expected
                .iter()
                .map(|p| format_fingerprint(p))
                .collect::<Vec<_>>()
                .join(" or "),
            format_fingerprint(&self.presented)
        )
    }
}

impl std::error::Error for PinMismatch {}

/// Why a pinned certificate was refused; it names both fingerprints.
/// (`Error::Other` shows its text as it is; a `CertificateError` would show
/// the fingerprints as debug byte arrays.)
fn pin_mismatch(expected: &[[u8; 32]], presented: &[u8; 32]) -> rustls::Error {
    rustls::Error::Other(rustls::OtherError(Arc::new(PinMismatch {
        expected: expected.to_vec(),
        presented: *presented,
    })))
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let (webpki, exact) = match &self.trust {
            Accept::Anything => return Ok(ServerCertVerified::assertion()),
            Accept::Pins(expected) => {
                let presented = fingerprint(end_entity.as_ref());
                return if expected.contains(&presented) {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(pin_mismatch(expected, &presented))
                };
            }
            Accept::CaFile { webpki, exact } => (webpki, exact),
        };
        if exact.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            // The operator put this very certificate in ca_file.
            return Ok(ServerCertVerified::assertion());
        }
        match webpki {
            Some(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn fingerprints_are_read_with_or_without_colons_in_any_case() {
        let plain = parse_fingerprint(HEX).unwrap();
        let colons = format_fingerprint(&plain);
        assert_eq!(colons.len(), 95);
        assert_eq!(parse_fingerprint(&colons).unwrap(), plain);
        assert_eq!(parse_fingerprint(&colons.to_lowercase()).unwrap(), plain);
        assert_eq!(parse_fingerprint(&HEX.to_uppercase()).unwrap(), plain);
        assert_eq!(plain[0], 0x01);
        assert_eq!(plain[31], 0xef);
    }

    #[test]
    fn bad_fingerprints_are_refused() {
        for bad in [
            "",
            "AB:CD",
            &HEX[..62],
            &format!("{HEX}00"),
            &HEX.replace('a', "g"),
        ] {
            assert!(parse_fingerprint(bad).is_err(), "{bad}");
        }
        // Multi-byte characters never panic the slicing.
        assert!(parse_fingerprint(&"é".repeat(32)).is_err());
    }

    #[test]
    fn a_mismatch_names_both_fingerprints() {
        let expected = parse_fingerprint(HEX).unwrap();
        let presented = fingerprint(b"another certificate");
        let other = fingerprint(b"the other unit");
        let text = pin_mismatch(&[expected, other], &presented).to_string();
        assert!(text.contains(&format_fingerprint(&expected)), "{text}");
        assert!(text.contains(&format_fingerprint(&other)), "{text}");
        assert!(text.contains(&format_fingerprint(&presented)), "{text}");
        assert!(text.contains("tls_sha256"), "{text}");
    }

    #[test]
    fn the_fingerprint_is_sha256_of_the_der() {
        assert_eq!(
            format_fingerprint(&fingerprint(b"abc")),
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }
}
