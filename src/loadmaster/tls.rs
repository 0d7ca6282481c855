//! How lmguard trusts the LoadMaster's certificate.
//!
//! - default: the system's trusted roots;
//! - `ca_file`: only the certificates in that PEM file. A CA there signs the
//!   LoadMaster's certificate as usual; a self-signed appliance certificate
//!   placed there is trusted when the presented certificate is exactly it
//!   (WebPKI does not accept a self-signed leaf as its own anchor);
//! - `insecure_skip_tls_verify`: no verification, with a warning every run.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::LoadMasterConfig;
use crate::error::{Error, Result};

/// Build the TLS client configuration the config asks for.
pub fn client_config(lm: &LoadMasterConfig) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if lm.insecure_skip_tls_verify {
        log::warn!(
            "TLS certificate verification of {} is OFF (insecure_skip_tls_verify = true): \
             anyone on the path can read the API key; set ca_file instead",
            lm.url
        );
        Arc::new(Verifier {
            trust: Trust::Anything,
            provider: provider.clone(),
        })
    } else if let Some(ca_file) = &lm.ca_file {
        let certs = read_pem(ca_file)?;
        let mut roots = RootCertStore::empty();
        let (_, ignored) = roots.add_parsable_certificates(certs.iter().cloned());
        if ignored > 0 {
            log::debug!("{ignored} certificate(s) in the CA file are not usable as trust anchors");
        }
        let webpki = if roots.is_empty() {
            None
        } else {
            Some(webpki_verifier(roots, &provider)?)
        };
        Arc::new(Verifier {
            trust: Trust::CaFile {
                webpki,
                exact: certs,
            },
            provider: provider.clone(),
        })
    } else {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
        if roots.is_empty() {
            return Err(Error::usage(
                "no trusted CA certificates found on this system; set loadmaster.ca_file to the \
                 LoadMaster's certificate",
            ));
        }
        webpki_verifier(roots, &provider)?
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS set-up failed: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn webpki_verifier(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::usage(format!("loadmaster.ca_file: cannot use it: {e}")))
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bad = |e: &dyn std::fmt::Display| {
        Error::usage(format!(
            "loadmaster.ca_file: cannot read certificates from {}: {e}",
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

/// Verifies the server certificate as [`Trust`] says; the handshake
/// signatures are always checked.
#[derive(Debug)]
struct Verifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
}

#[derive(Debug)]
enum Trust {
    /// `insecure_skip_tls_verify = true`.
    Anything,
    /// `ca_file`: WebPKI against its CAs, or exactly one of its certificates.
    CaFile {
        webpki: Option<Arc<WebPkiServerVerifier>>,
        exact: Vec<CertificateDer<'static>>,
    },
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
        let Trust::CaFile { webpki, exact } = &self.trust else {
            return Ok(ServerCertVerified::assertion());
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
