//! The floors lmguard is held against: one POST by curl or by a minimal
//! Rust TLS client process, and one keep-alive client.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_loadmaster::FakeLoadMaster;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::report::*;

pub(crate) fn tls_config(ca_pem: &str) -> Res<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("CA PEM: {e}"))?;
        roots.add(cert).map_err(|e| format!("CA PEM: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// One keep-alive HTTPS client (ureq agent, rustls, TCP_NODELAY): the
/// floor for bulk work.
pub(crate) struct KeepAlive {
    pub(crate) agent: ureq::Agent,
    pub(crate) url: String,
}

impl KeepAlive {
    pub(crate) fn new(url: &str, ca_pem: &str) -> Res<KeepAlive> {
        let agent = ureq::AgentBuilder::new()
            .tls_config(tls_config(ca_pem)?)
            .no_delay(true)
            .timeout(Duration::from_secs(30))
            .build();
        Ok(KeepAlive {
            agent,
            url: format!("{url}/accessv2"),
        })
    }

    /// POST one body; the answer's text (an error unless it is a success).
    pub(crate) fn post(&self, body: &str) -> Res<String> {
        let resp = self
            .agent
            .post(&self.url)
            .set("Content-Type", "application/json")
            .send_string(body)
            .map_err(|e| format!("floor request failed: {e}"))?;
        let mut text = String::new();
        resp.into_reader()
            .read_to_string(&mut text)
            .map_err(|e| e.to_string())?;
        if !text.contains("\"ok\"") {
            return Err(format!("floor request refused: {text}"));
        }
        Ok(text)
    }
}

/// Time a fresh keep-alive client making all these requests (connection
/// set-up included).
pub(crate) fn floor_requests(lm: &FakeLoadMaster, bodies: &[String]) -> Res<Duration> {
    let start = Instant::now();
    let client = KeepAlive::new(&lm.url(), &lm.ca_pem())?;
    for b in bodies {
        client.post(b)?;
    }
    Ok(start.elapsed())
}

/// `bench --keep-alive URL CA_FILE BODIES_FILE`: one keep-alive client
/// process making one POST per line of BODIES_FILE (the floor of bulk work
/// as a process of its own, like lmguard).
pub(crate) fn keep_alive_process(args: &[String]) -> Res<()> {
    let [url, ca, bodies] = args else {
        return Err("--keep-alive URL CA_FILE BODIES_FILE".into());
    };
    let pem = std::fs::read_to_string(ca).map_err(|e| e.to_string())?;
    let bodies = std::fs::read_to_string(bodies).map_err(|e| e.to_string())?;
    let client = KeepAlive::new(url, &pem)?;
    for b in bodies.lines() {
        client.post(b)?;
    }
    Ok(())
}

/// `bench --one-post URL CA_FILE BODY`: one TLS POST from a fresh process,
/// the floor of a cold Rust client with lmguard's TLS stack (ureq + rustls).
pub(crate) fn one_post(args: &[String]) -> Res<()> {
    let [url, ca, body] = args else {
        return Err("--one-post URL CA_FILE BODY".into());
    };
    let pem = std::fs::read_to_string(ca).map_err(|e| e.to_string())?;
    KeepAlive::new(url, &pem)?.post(body).map(|_| ())
}
