//! The fake's rate limit: Kemp drops the connection when more than N calls
//! arrive within the window, over all connections (loadmaster-api.md §5).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_loadmaster::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use serde_json::json;

fn agent(lm: &FakeLoadMaster) -> ureq::Agent {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(lm.ca_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    ureq::AgentBuilder::new()
        .tls_config(Arc::new(tls))
        .timeout(Duration::from_secs(10))
        .build()
}

/// One list call: Ok(status), or Err for no answer at all.
fn call(agent: &ureq::Agent, lm: &FakeLoadMaster) -> Result<u16, String> {
    let body = json!({"cmd": "aclcontrol", "list": "block", "apikey": DEFAULT_API_KEY});
    match agent
        .post(&format!("{}/accessv2", lm.url()))
        .send_string(&body.to_string())
    {
        Ok(r) => Ok(r.status()),
        Err(ureq::Error::Status(s, _)) => Ok(s),
        Err(e) => Err(e.to_string()),
    }
}

fn limited(calls: u32, window: Duration) -> FakeLoadMaster {
    let mut options = Options::default();
    options.switches.rate_limit = Some(RateLimit { calls, window });
    FakeLoadMaster::start(options).unwrap()
}

#[test]
fn calls_over_the_limit_get_no_answer_over_all_connections() {
    let lm = limited(6, Duration::from_secs(2));
    // Three connections, two calls each: six calls in the window are fine.
    let agents: Vec<_> = (0..3).map(|_| agent(&lm)).collect();
    for a in &agents {
        for _ in 0..2 {
            assert_eq!(call(a, &lm), Ok(200));
        }
    }
    assert_eq!(lm.dropped_calls(), 0);
    // The seventh, on any connection (a new one too), is dropped: no
    // HTTP answer, the connection reset.
    let err = call(&agents[1], &lm).unwrap_err();
    assert!(err.contains("reset") || err.contains("closed"), "{err}");
    assert!(call(&agent(&lm), &lm).is_err());
    assert_eq!(lm.dropped_calls(), 2);
    assert_eq!(lm.request_count(), 8);
}

#[test]
fn the_window_slides_and_dropped_calls_do_not_count() {
    let window = Duration::from_millis(600);
    let lm = limited(3, window);
    let a = agent(&lm);
    let start = Instant::now();
    for _ in 0..3 {
        assert_eq!(call(&a, &lm), Ok(200));
    }
    assert!(call(&a, &lm).is_err());
    // Once the window has passed since the first calls, calls go again
    // (the dropped one did not extend it).
    let wait =
        (start + window + Duration::from_millis(20)).saturating_duration_since(Instant::now());
    std::thread::sleep(wait);
    assert_eq!(call(&agent(&lm), &lm), Ok(200));
    assert_eq!(lm.dropped_calls(), 1);
    lm.clear_requests();
    assert_eq!(lm.dropped_calls(), 0);
}

#[test]
fn paced_calls_are_never_dropped_and_the_limit_can_be_switched() {
    let lm = limited(5, Duration::from_millis(500));
    let a = agent(&lm);
    // Five calls per window, spaced: none dropped.
    for _ in 0..12 {
        assert_eq!(call(&a, &lm), Ok(200));
        std::thread::sleep(Duration::from_millis(110));
    }
    assert_eq!(lm.dropped_calls(), 0);
    lm.set_rate_limit(None);
    for _ in 0..20 {
        assert_eq!(call(&a, &lm), Ok(200));
    }
    assert_eq!(lm.dropped_calls(), 0);
    assert_eq!(RateLimit::KEMP.calls, 30);
    assert_eq!(RateLimit::KEMP.window, Duration::from_secs(3));
}
