//! Tests of the fake LoadMaster through real TLS clients (ureq with rustls,
//! and a raw rustls client for transport-level checks).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_loadmaster::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{json, Value};

// ---------------------------------------------------------------- helpers

fn client_config(ca_pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn start(options: Options) -> FakeLoadMaster {
    FakeLoadMaster::start(options).expect("fake LoadMaster starts")
}

fn start_default() -> FakeLoadMaster {
    start(Options::default())
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// A keep-alive HTTPS client (one ureq agent) that trusts the fake.
struct Client {
    agent: ureq::Agent,
    url: String,
}

impl Client {
    fn new(lm: &FakeLoadMaster) -> Client {
        Client {
            agent: ureq::AgentBuilder::new()
                .tls_config(client_config(&lm.ca_pem()))
                .timeout(Duration::from_secs(10))
                .build(),
            url: lm.url(),
        }
    }

    /// POSTs `body` to `path`; Err (the error text) only for transport errors.
    fn raw(&self, path: &str, body: &str) -> Result<Answer, String> {
        let result = self
            .agent
            .post(&format!("{}{}", self.url, path))
            .set("Content-Type", "application/json")
            .send_string(body);
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(e.to_string()),
        };
        Ok(Answer {
            status: resp.status(),
            content_type: resp.content_type().to_string(),
            body: resp.into_string().unwrap(),
        })
    }

    /// POSTs `body` to /accessv2 as sent (no credentials added).
    fn send(&self, body: Value) -> Answer {
        self.raw("/accessv2", &body.to_string()).unwrap()
    }

    /// POSTs `body` with the default API key added.
    fn call(&self, mut body: Value) -> (u16, Value) {
        body["apikey"] = json!(DEFAULT_API_KEY);
        let a = self.send(body);
        assert_eq!(a.content_type, "application/json", "{}", a.body);
        (a.status, a.json())
    }
}

fn ok() -> Value {
    json!({"code": 200, "message": "Command completed ok", "status": "ok"})
}

fn fail(code: u16, message: &str) -> Value {
    json!({"code": code, "message": message, "status": "fail"})
}

fn entry(addr: &str, comment: &str) -> Entry {
    Entry {
        addr: addr.into(),
        comment: comment.into(),
    }
}

fn add(addr: &str) -> Value {
    json!({"cmd": "aclcontrol", "add": "block", "addr": addr})
}

fn del(addr: &str) -> Value {
    json!({"cmd": "aclcontrol", "del": "block", "addr": addr})
}

fn list() -> Value {
    json!({"cmd": "aclcontrol", "list": "block"})
}

/// A raw TLS connection, for pipelining, chunked bodies and transport faults.
fn raw_tls(lm: &FakeLoadMaster) -> StreamOwned<ClientConnection, TcpStream> {
    let conn = ClientConnection::new(
        client_config(&lm.ca_pem()),
        ServerName::try_from("127.0.0.1").unwrap(),
    )
    .unwrap();
    let tcp = TcpStream::connect(lm.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    StreamOwned::new(conn, tcp)
}

fn post_text(body: &str, extra_headers: &str) -> String {
    format!(
        "POST /accessv2 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n{}\r\n{}",
        body.len(),
        extra_headers,
        body
    )
}

/// Reads one response (head + Content-Length body) from a raw stream.
fn read_response(s: &mut impl Read, buf: &mut Vec<u8>) -> (String, String) {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..i].to_vec()).unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .unwrap();
            while buf.len() < i + 4 + len {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "EOF in body");
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8(buf[i + 4..i + 4 + len].to_vec()).unwrap();
            buf.drain(..i + 4 + len);
            return (head, body);
        }
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "EOF in head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

// ------------------------------------------------------------------ tests

#[test]
fn auth_api_key_user_password_and_rotation() {
    let lm = start(Options {
        credentials: Some(("bal".into(), "secret".into())),
        ..Options::default()
    });
    let c = Client::new(&lm);
    let (status, body) = c.call(list());
    assert_eq!((status, body), (200, json!({"code": 200, "status": "ok"})));

    let a = c.send(json!({"cmd": "aclcontrol", "list": "block", "apikey": "wrong"}));
    assert_eq!(a.status, 401);
    assert_eq!(a.content_type, "application/json");
    assert_eq!(a.json(), fail(401, "Unauthorized"));

    let a = c.send(list());
    assert_eq!((a.status, a.json()), (401, fail(401, "Unauthorized")));

    let a = c
        .send(json!({"cmd": "aclcontrol", "list": "block", "apiuser": "bal", "apipass": "secret"}));
    assert_eq!(a.status, 200);
    let a =
        c.send(json!({"cmd": "aclcontrol", "list": "block", "apiuser": "bal", "apipass": "nope"}));
    assert_eq!(a.status, 401);
    let a = c.send(json!({"cmd": "aclcontrol", "list": "block", "apiuser": "bal"}));
    assert_eq!(a.status, 401);
    // apikey present: only it is checked.
    let a = c.send(
        json!({"cmd": "aclcontrol", "list": "block", "apikey": "wrong",
                          "apiuser": "bal", "apipass": "secret"}),
    );
    assert_eq!(a.status, 401);

    // Auth comes before everything else.
    let a = c.send(json!({"cmd": "nonsense"}));
    assert_eq!(a.status, 401);

    lm.set_plain_text_401(true);
    let a = c.send(list());
    assert_eq!(
        (a.status, a.content_type.as_str(), a.body.as_str()),
        (401, "text/plain", "Unauthorized")
    );

    lm.set_plain_text_401(false);
    lm.set_api_key("rotated-key");
    assert_eq!(c.call(list()).0, 401, "old key refused");
    let a = c.send(json!({"cmd": "aclcontrol", "list": "block", "apikey": "rotated-key"}));
    assert_eq!(a.status, 200);

    lm.set_credentials(None);
    let a = c
        .send(json!({"cmd": "aclcontrol", "list": "block", "apiuser": "bal", "apipass": "secret"}));
    assert_eq!(a.status, 401);
}

#[test]
fn default_options_accept_no_user_password() {
    let lm = start_default();
    let a = Client::new(&lm).send(json!({"cmd": "aclcontrol", "list": "block",
                                         "apiuser": "", "apipass": ""}));
    assert_eq!(a.status, 401);
}

#[test]
fn api_disabled_is_404_html_for_everything() {
    let lm = start_default();
    lm.set_api_disabled(true);
    let c = Client::new(&lm);
    for path in ["/accessv2", "/access/aclcontrol", "/"] {
        let a = c
            .raw(
                path,
                &json!({"cmd": "aclcontrol", "list": "block", "apikey": DEFAULT_API_KEY})
                    .to_string(),
            )
            .unwrap();
        assert_eq!(a.status, 404);
        assert_eq!(a.content_type, "text/html");
        assert!(serde_json::from_str::<Value>(&a.body).is_err());
    }
    lm.set_api_disabled(false);
    assert_eq!(c.call(list()).0, 200);
}

#[test]
fn request_validation() {
    let lm = start_default();
    let c = Client::new(&lm);

    for bad in ["not json", "[1,2]", "\"s\"", ""] {
        let a = c.raw("/accessv2", bad).unwrap();
        assert_eq!(a.status, 400, "{bad}");
        let v = a.json();
        assert_eq!(
            (v["code"].clone(), v["status"].clone()),
            (json!(400), json!("fail"))
        );
    }
    assert_eq!(
        c.call(json!({})),
        (400, fail(400, "cmd: String Value missing"))
    );
    assert_eq!(
        c.call(json!({"cmd": "listvs"})),
        (405, fail(405, "Unknown command"))
    );

    let (status, v) = c.call(json!({"cmd": "aclcontrol"}));
    assert_eq!((status, &v["status"]), (400, &json!("fail")));
    let (status, _) =
        c.call(json!({"cmd": "aclcontrol", "list": "block", "add": "block", "addr": "192.0.2.1"}));
    assert_eq!(status, 400);
    let (status, _) = c.call(json!({"cmd": "aclcontrol", "list": "grey"}));
    assert_eq!(status, 400);
    let (status, _) = c.call(json!({"cmd": "aclcontrol", "list": 1}));
    assert_eq!(status, 400);

    // Other paths 404; the query string is ignored.
    let key = json!({"cmd": "aclcontrol", "list": "block", "apikey": DEFAULT_API_KEY}).to_string();
    assert_eq!(c.raw("/access", &key).unwrap().status, 404);
    assert_eq!(c.raw("/accessv2?x=1", &key).unwrap().status, 200);
    // GET is not emulated.
    let r = c.agent.get(&format!("{}/accessv2", lm.url())).call();
    assert!(matches!(r, Err(ureq::Error::Status(405, _))));

    // Guessed isenabled answer.
    let (status, v) = c.call(json!({"cmd": "aclcontrol.isenabled"}));
    assert_eq!((status, v["aclstatus"].clone()), (200, json!("yes")));

    lm.set_forbidden(true);
    assert_eq!(c.call(list()), (403, fail(403, "Permission denied")));
}

#[test]
fn global_add_list_delete() {
    let lm = start_default();
    let c = Client::new(&lm);
    assert_eq!(
        c.call(
            json!({"cmd": "aclcontrol", "add": "block", "addr": "192.0.2.7",
                             "comment": "lmguard ADS 1001"})
        ),
        (200, ok())
    );
    assert_eq!(c.call(add("198.51.100.0/24")), (200, ok()));
    // Old list name maps to block; comment given as a number is kept as text.
    assert_eq!(
        c.call(
            json!({"cmd": "aclcontrol", "add": "black", "addr": "2001:db8::/32",
                             "comment": 5})
        ),
        (200, ok())
    );
    assert_eq!(
        lm.entries(Scope::Global),
        vec![
            entry("192.0.2.7", "lmguard ADS 1001"),
            entry("198.51.100.0/24", ""),
            entry("2001:db8::/32", "5"),
        ]
    );
    assert!(lm.allow_entries(Scope::Global).is_empty());
    assert_eq!(
        c.call(list()),
        (
            200,
            json!({"code": 200, "status": "ok", "IP": [
                {"addr": "192.0.2.7", "comment": "lmguard ADS 1001"},
                {"addr": "198.51.100.0/24", "comment": ""},
                {"addr": "2001:db8::/32", "comment": "5"}]})
        )
    );

    assert_eq!(c.call(del("198.51.100.0/24")), (200, ok()));
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "del": "black", "addr": "192.0.2.7"})),
        (200, ok())
    );
    assert_eq!(lm.entries(Scope::Global), vec![entry("2001:db8::/32", "5")]);

    // Allow list is separate ("white" = allow).
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "add": "white", "addr": "203.0.113.5"})),
        (200, ok())
    );
    assert_eq!(
        lm.allow_entries(Scope::Global),
        vec![entry("203.0.113.5", "")]
    );
    let (_, v) = c.call(json!({"cmd": "aclcontrol", "list": "allow"}));
    assert_eq!(v["IP"], json!([{"addr": "203.0.113.5", "comment": ""}]));
    assert_eq!(lm.entries(Scope::Global).len(), 1);
}

#[test]
fn vs_lists_by_index_and_by_address() {
    let lm = start_default();
    let c = Client::new(&lm);
    let ok_ = (200, ok());
    assert_eq!(
        c.call(
            json!({"cmd": "aclcontrol", "addvs": "block", "vs": "3", "addr": "192.0.2.7",
                             "comment": "c"})
        ),
        ok_
    );
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "addvs": "block", "vs": 1, "addr": "192.0.2.8"})),
        ok_
    );
    assert_eq!(
        c.call(
            json!({"cmd": "aclcontrol", "addvs": "block", "vs": "192.0.2.10",
                             "port": "80", "prot": "tcp", "addr": "192.0.2.9"})
        ),
        ok_
    );
    assert_eq!(
        c.call(
            json!({"cmd": "aclcontrol", "addvs": "block", "vsip": "192.0.2.11",
                             "port": 443, "prot": "TCP", "addr": "192.0.2.10"})
        ),
        ok_
    );
    assert_eq!(
        lm.entries(Scope::Vs(3)),
        vec![entry("192.0.2.7", "c"), entry("192.0.2.10", "")]
    );
    assert_eq!(lm.entries(Scope::Vs(1)), vec![entry("192.0.2.8", "")]);
    assert_eq!(lm.entries(Scope::Vs(2)), vec![entry("192.0.2.9", "")]);
    assert!(lm.entries(Scope::Global).is_empty());

    let (status, v) = c.call(json!({"cmd": "aclcontrol", "listvs": "block", "vs": "3"}));
    assert_eq!(status, 200);
    assert_eq!(
        v["IP"],
        json!([{"addr": "192.0.2.7", "comment": "c"}, {"addr": "192.0.2.10", "comment": ""}])
    );
    let (_, v) = c.call(json!({"cmd": "aclcontrol", "listvs": "block", "vs": "2"}));
    assert_eq!(v["IP"], json!([{"addr": "192.0.2.9", "comment": ""}]));

    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "delvs": "block", "vs": "3", "addr": "192.0.2.7"})),
        ok_
    );
    assert_eq!(lm.entries(Scope::Vs(3)), vec![entry("192.0.2.10", "")]);

    // Unknown VS.
    for body in [
        json!({"cmd": "aclcontrol", "listvs": "block", "vs": "9"}),
        json!({"cmd": "aclcontrol", "listvs": "block", "vs": "abc"}),
        json!({"cmd": "aclcontrol", "addvs": "block", "vs": "7", "addr": "192.0.2.7"}),
        json!({"cmd": "aclcontrol", "listvs": "block", "vs": "192.0.2.10", "port": "8443", "prot": "tcp"}),
        json!({"cmd": "aclcontrol", "listvs": "block", "vsip": "192.0.2.10", "port": "443", "prot": "udp"}),
    ] {
        assert_eq!(c.call(body), (422, fail(422, "Unknown VS")));
    }
    lm.set_unknown_vs_message("Invalid address + vipdump");
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "listvs": "block", "vs": "9"})),
        (422, fail(422, "Invalid address + vipdump"))
    );
    // VS id missing.
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "listvs": "block"})).0,
        400
    );
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "listvs": "block", "vsip": "192.0.2.10"}))
            .0,
        400
    );

    // Configurable virtual services.
    lm.set_virtual_services(vec![VirtualService::new(42, "2001:db8::10", 443, "tcp")]);
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "listvs": "block", "vs": "42"}))
            .0,
        200
    );
    assert_eq!(
        c.call(
            json!({"cmd": "aclcontrol", "listvs": "block", "vs": "2001:DB8::10",
                             "port": 443, "prot": "tcp"})
        )
        .0,
        200
    );
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "listvs": "block", "vs": "3"}))
            .0,
        422
    );
}

#[test]
fn duplicates_and_missing_entries_both_modes() {
    let lm = start_default();
    let c = Client::new(&lm);
    assert_eq!(c.call(add("192.0.2.7")).0, 200);
    assert_eq!(
        c.call(add("192.0.2.7/32")),
        (422, fail(422, "Address already in list"))
    );
    assert_eq!(c.call(add("2001:DB8::1")).0, 200);
    assert_eq!(
        c.call(add("2001:db8:0::1/128")),
        (422, fail(422, "Address already in list"))
    );
    lm.set_duplicate_add(DuplicateAdd::Ok);
    assert_eq!(c.call(add("192.0.2.7")), (200, ok()));
    assert_eq!(c.call(add("2001:db8::1")), (200, ok()));
    assert_eq!(
        lm.entries(Scope::Global),
        vec![entry("192.0.2.7", ""), entry("2001:DB8::1", "")]
    );

    assert_eq!(
        c.call(del("192.0.2.99")),
        (422, fail(422, "Address not in list"))
    );
    lm.set_delete_missing(DeleteMissing::Ok);
    assert_eq!(c.call(del("192.0.2.99")), (200, ok()));
    // Deleting a canonical variant removes the stored form.
    assert_eq!(c.call(del("192.0.2.7/32")), (200, ok()));
    assert_eq!(c.call(del("2001:db8::0001")), (200, ok()));
    assert!(lm.entries(Scope::Global).is_empty());

    // Per list: the same address may be in another scope.
    assert_eq!(c.call(add("192.0.2.7")).0, 200);
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "addvs": "block", "vs": "1", "addr": "192.0.2.7"}))
            .0,
        200
    );

    // Seeding.
    assert!(lm.insert_entry(Scope::Global, "198.51.100.0/24", "foreign"));
    assert!(!lm.insert_entry(Scope::Global, "192.0.2.7/32", "dup"));
    assert!(lm.insert_allow_entry(Scope::Vs(2), "10.0.0.0/8", "mgmt"));
    assert_eq!(
        lm.allow_entries(Scope::Vs(2)),
        vec![entry("10.0.0.0/8", "mgmt")]
    );
    lm.set_duplicate_add(DuplicateAdd::Error);
    assert_eq!(c.call(add("198.51.100.0/24")).0, 422);
    lm.clear_lists();
    assert!(lm.entries(Scope::Global).is_empty());
}

#[test]
fn address_validation() {
    let lm = start_default();
    let c = Client::new(&lm);
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "add": "block"})),
        (400, fail(400, "addr: String Value missing"))
    );
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "del": "block"})),
        (400, fail(400, "addr: String Value missing"))
    );
    for bad in [
        "300.1.1.1",
        "192.0.2.7/24",
        "192.0.2.0/33",
        "abc",
        "",
        " 192.0.2.7",
        "2001:db8::1/64",
    ] {
        assert_eq!(
            c.call(add(bad)),
            (400, fail(400, "Invalid address")),
            "{bad:?}"
        );
    }
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "add": "block", "addr": 17}))
            .0,
        400
    );
    lm.set_invalid_address_status(422);
    assert_eq!(
        c.call(add("192.0.2.7/24")),
        (422, fail(422, "Invalid address"))
    );
    assert!(lm.entries(Scope::Global).is_empty());

    lm.set_require_prefix(true);
    assert_eq!(
        c.call(add("192.0.2.7")),
        (400, fail(400, REQUIRE_PREFIX_MESSAGE))
    );
    assert_eq!(c.call(add("192.0.2.7/32")), (200, ok()));
    assert_eq!(c.call(add("2001:db8::1")).0, 400);
    lm.set_require_prefix(false);

    assert_eq!(c.call(add("2001:db8::1")).0, 200);
    lm.set_no_ipv6(true);
    assert_eq!(
        c.call(add("2001:db8::2")),
        (422, fail(422, "Invalid address"))
    );
    assert_eq!(c.call(add("192.0.2.8")).0, 200);
    assert_eq!(
        lm.entries(Scope::Global),
        vec![
            entry("192.0.2.7/32", ""),
            entry("2001:db8::1", ""),
            entry("192.0.2.8", "")
        ]
    );
}

#[test]
fn list_shapes() {
    let lm = start_default();
    let c = Client::new(&lm);
    let listvs = || json!({"cmd": "aclcontrol", "listvs": "block", "vs": "1"});
    let one = json!({"addr": "192.0.2.7", "comment": "x"});
    let two = json!([{"addr": "192.0.2.7", "comment": "x"}, {"addr": "192.0.2.8", "comment": ""}]);

    // Default: IP absent when empty.
    assert_eq!(c.call(list()).1, json!({"code": 200, "status": "ok"}));
    lm.set_list_shape(ListShape::EmptyArray);
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "IP": []})
    );
    lm.set_list_shape(ListShape::AclStrings);
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "Acl": []})
    );
    lm.set_list_shape(ListShape::NestedBlocklist);
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "Blocklist": {}})
    );

    lm.insert_entry(Scope::Global, "192.0.2.7", "x");
    lm.insert_entry(Scope::Vs(1), "192.0.2.7", "x");
    lm.set_list_shape(ListShape::SingleAsObject);
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "IP": one})
    );
    lm.set_list_shape(ListShape::Default);
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "IP": [one]})
    );

    lm.insert_entry(Scope::Global, "192.0.2.8", "");
    lm.insert_entry(Scope::Vs(1), "192.0.2.8", "");
    lm.set_list_shape(ListShape::SingleAsObject);
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "IP": two})
    );
    lm.set_list_shape(ListShape::NestedBlocklist);
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "Blocklist": {"IP": two}})
    );
    lm.insert_allow_entry(Scope::Global, "203.0.113.0/24", "");
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "list": "allow"})).1,
        json!({"code": 200, "status": "ok", "Allowlist": {"IP": [{"addr": "203.0.113.0/24", "comment": ""}]}})
    );
    lm.set_list_shape(ListShape::VsWrapper);
    assert_eq!(
        c.call(listvs()).1,
        json!({"code": 200, "status": "ok", "VS": {"Index": 1, "VS_IP": "192.0.2.10", "VS_Port": 443,
               "VS_Protocol": "tcp", "Blocklist": {"IP": two}}})
    );
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "Blocklist": {"IP": two}})
    );
    lm.set_list_shape(ListShape::AclStrings);
    assert_eq!(
        c.call(listvs()).1,
        json!({"code": 200, "status": "ok", "Acl": ["192.0.2.7", "192.0.2.8"]})
    );

    lm.set_list_shape(ListShape::StatusFailAt200);
    let disguised = json!({"code": 422, "message": "Command failed", "status": "fail"});
    assert_eq!(c.call(list()), (200, disguised.clone()));
    assert_eq!(c.call(add("192.0.2.99")), (200, disguised.clone()));
    assert_eq!(c.call(del("192.0.2.7")), (200, disguised));
    assert_eq!(lm.entries(Scope::Global).len(), 2, "nothing changed");
    assert_eq!(c.send(list()).status, 401, "auth still first");
}

#[test]
fn packet_filter_off() {
    let lm = start_default();
    let c = Client::new(&lm);
    lm.set_packet_filter_off(Some(PacketFilterOff::Ok));
    assert_eq!(c.call(add("192.0.2.7")), (200, ok()));
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol.isenabled"})).1["aclstatus"],
        json!("no")
    );
    lm.set_packet_filter_off(Some(PacketFilterOff::Error));
    assert_eq!(c.call(add("192.0.2.8")).0, 422);
    assert_eq!(c.call(del("192.0.2.7")).0, 422);
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "addvs": "block", "vs": "1", "addr": "192.0.2.8"}))
            .0,
        422
    );
    assert_eq!(c.call(list()).0, 200, "reading still works");
    lm.set_packet_filter_off(None);
    assert_eq!(c.call(del("192.0.2.7")).0, 200);
}

#[test]
fn fault_down_and_back_on_the_same_port() {
    let lm = start_default();
    let port = lm.port();
    let c = Client::new(&lm);
    assert_eq!(c.call(list()).0, 200);
    let mut held = raw_tls(&lm);
    held.write_all(post_text("{}", "").as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = read_response(&mut held, &mut buf);

    lm.set_fault(Fault::Down);
    let err = TcpStream::connect(lm.addr()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    // The existing connection was closed.
    let mut b = [0u8; 16];
    assert!(matches!(held.read(&mut b), Ok(0) | Err(_)));
    assert!(Client::new(&lm).raw("/accessv2", "{}").is_err());

    lm.set_fault(Fault::None);
    assert_eq!(lm.port(), port);
    let c = Client::new(&lm);
    assert_eq!(c.call(list()).0, 200);

    // Down/up again, and starting Down.
    lm.set_fault(Fault::Down);
    lm.set_fault(Fault::None);
    assert_eq!(c.call(list()).0, 200);
    let down = start(Options {
        switches: Switches {
            fault: Fault::Down,
            ..Switches::default()
        },
        ..Options::default()
    });
    assert!(TcpStream::connect(down.addr()).is_err());
    down.set_fault(Fault::None);
    assert_eq!(Client::new(&down).call(list()).0, 200);
}

#[test]
fn fault_delay_500_invalid_json() {
    let lm = start_default();
    let c = Client::new(&lm);
    lm.set_fault(Fault::Delay(Duration::from_millis(400)));
    let t = Instant::now();
    assert_eq!(c.call(list()).0, 200);
    assert!(t.elapsed() >= Duration::from_millis(400));

    lm.set_fault(Fault::Http500Html);
    let a = c.send(list());
    assert_eq!((a.status, a.content_type.as_str()), (500, "text/html"));
    assert!(a.body.contains("<html>"));

    lm.set_fault(Fault::InvalidJson);
    let a = c.send(list());
    assert_eq!(
        (a.status, a.content_type.as_str()),
        (200, "application/json")
    );
    assert!(serde_json::from_str::<Value>(&a.body).is_err());

    lm.set_fault(Fault::None);
    let t = Instant::now();
    assert_eq!(c.call(list()).0, 200);
    assert!(t.elapsed() < Duration::from_millis(300));
}

#[test]
fn fault_reset_and_fail_after() {
    let lm = start_default();
    lm.set_fault(Fault::ResetConnection);
    // Raw client: the reset is visible as ECONNRESET.
    let mut s = raw_tls(&lm);
    s.write_all(post_text("{}", "").as_bytes()).unwrap();
    let mut b = [0u8; 64];
    let err = s.read(&mut b).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    // ureq: a transport error, not a status.
    let c = Client::new(&lm);
    assert!(c.raw("/accessv2", &list().to_string()).is_err());
    assert!(lm.entries(Scope::Global).is_empty());

    lm.set_fault(Fault::FailAfter(2));
    let c = Client::new(&lm);
    assert_eq!(c.call(add("192.0.2.1")).0, 200);
    assert_eq!(c.call(add("192.0.2.2")).0, 200);
    assert!(c.raw("/accessv2", &add("192.0.2.3").to_string()).is_err());
    assert!(Client::new(&lm)
        .raw("/accessv2", &add("192.0.2.4").to_string())
        .is_err());
    assert_eq!(lm.entries(Scope::Global).len(), 2);
    let statuses: Vec<_> = lm.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| s.is_none()).count(),
        statuses.len() - 2
    );
    lm.set_fault(Fault::None);
    assert_eq!(Client::new(&lm).call(list()).0, 200);
}

#[test]
fn keep_alive_pipelining_chunked_and_close() {
    let lm = start_default();
    let c = Client::new(&lm);
    for i in 0..5 {
        assert_eq!(c.call(add(&format!("192.0.2.{i}"))).0, 200);
    }
    assert_eq!(lm.connections_accepted(), 1);
    let conns: Vec<u64> = lm.requests().iter().map(|r| r.connection).collect();
    assert_eq!(conns, vec![1; 5]);

    // Pipelined requests, one chunked, the last with Connection: close.
    let key = DEFAULT_API_KEY;
    let body = format!(r#"{{"cmd":"aclcontrol","list":"block","apikey":"{key}"}}"#);
    let mut s = raw_tls(&lm);
    let mut req = post_text(&body, "");
    let (a, b) = body.split_at(10);
    req.push_str(&format!(
        "POST /accessv2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    ));
    req.push_str(&post_text(&body, "Connection: close\r\n"));
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    for i in 0..3 {
        let (head, body) = read_response(&mut s, &mut buf);
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(head.contains("Content-Type: application/json"));
        let conn = if i < 2 {
            "Connection: keep-alive"
        } else {
            "Connection: close"
        };
        assert!(head.contains(conn), "{head}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["IP"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
    }
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty());
    assert_eq!(lm.connections_accepted(), 2);

    // Malformed request → 400 and close.
    let mut s = raw_tls(&lm);
    s.write_all(b"BROKEN\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let (head, _) = read_response(&mut s, &mut buf);
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
}

#[test]
fn records_requests_with_redaction() {
    let lm = start(Options {
        credentials: Some(("bal".into(), "secret".into())),
        ..Options::default()
    });
    let c = Client::new(&lm);
    c.call(add("192.0.2.7"));
    c.send(json!({"cmd": "aclcontrol", "list": "block", "apiuser": "bal", "apipass": "secret"}));
    c.send(json!({"cmd": "aclcontrol", "list": "block", "apikey": "bad"}));
    c.raw("/accessv2?q=1", "garbage").unwrap();
    let r = lm.requests();
    assert_eq!(lm.request_count(), 4);
    assert_eq!(r.len(), 4);
    assert_eq!(r[0].method, "POST");
    assert_eq!(r[0].path, "/accessv2");
    assert_eq!(r[0].status, Some(200));
    assert_eq!(r[0].cmd(), Some("aclcontrol"));
    assert_eq!(r[0].param("add"), Some("block"));
    assert_eq!(r[0].param("addr"), Some("192.0.2.7"));
    assert_eq!(r[0].param("apikey"), Some("<redacted>"));
    assert_eq!(r[1].param("apiuser"), Some("bal"));
    assert_eq!(r[1].param("apipass"), Some("<redacted>"));
    assert_eq!(
        (r[2].status, r[2].param("apikey")),
        (Some(401), Some("<redacted>"))
    );
    assert_eq!(
        (r[3].status, &r[3].body, r[3].path.as_str()),
        (Some(400), &Value::Null, "/accessv2?q=1")
    );
    let all = format!("{r:?}");
    assert!(!all.contains(DEFAULT_API_KEY) && !all.contains("secret") && !all.contains("\"bad\""));

    lm.clear_requests();
    assert_eq!((lm.request_count(), lm.requests().len()), (0, 0));
    lm.set_recording(false);
    c.call(list());
    assert_eq!((lm.request_count(), lm.requests().len()), (1, 0));
}

#[test]
fn certificates_self_signed_and_ca_signed() {
    for kind in [CertKind::SelfSigned, CertKind::CaSigned] {
        let lm = start(Options {
            cert: kind,
            ..Options::default()
        });
        // webpki accepts the self-signed leaf as its own trust anchor.
        assert_eq!(Client::new(&lm).call(list()).0, 200, "{kind:?}");
        let mut s = raw_tls(&lm);
        s.write_all(post_text("{}", "").as_bytes()).unwrap();
        let mut buf = Vec::new();
        let _ = read_response(&mut s, &mut buf);
        let peer = s.conn.peer_certificates().unwrap();
        assert_eq!(peer[0].as_ref(), lm.leaf_cert_der().as_slice());
        let ca = CertificateDer::from_pem_slice(lm.ca_pem().as_bytes()).unwrap();
        match kind {
            CertKind::SelfSigned => assert_eq!(ca.as_ref(), lm.leaf_cert_der().as_slice()),
            CertKind::CaSigned => assert_ne!(ca.as_ref(), lm.leaf_cert_der().as_slice()),
        }
        let fp = lm.leaf_sha256_fingerprint();
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert!(fp.split(':').all(|p| p.len() == 2
            && p.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())));
    }
    // A different server's PEM is not trusted.
    let a = start_default();
    let b = start_default();
    let stranger = Client {
        url: a.url(),
        ..Client::new(&b)
    };
    assert!(stranger.raw("/accessv2", "{}").is_err());
    assert_ne!(a.leaf_sha256_fingerprint(), b.leaf_sha256_fingerprint());
}

#[test]
fn big_list_and_prompt_drop() {
    let lm = start_default();
    let t = Instant::now();
    for i in 0..100_000u32 {
        let addr = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        assert!(lm.insert_entry(Scope::Global, &addr, "seed"));
    }
    assert!(t.elapsed() < Duration::from_secs(5));
    let c = Client::new(&lm);
    let (status, v) = c.call(list());
    assert_eq!(status, 200);
    assert_eq!(v["IP"].as_array().unwrap().len(), 100_000);
    assert_eq!(c.call(add("10.0.0.5/32")).0, 422);
    assert_eq!(c.call(del("10.1.134.159")).0, 200);
    assert_eq!(lm.entries(Scope::Global).len(), 99_999);

    // Drop with an idle keep-alive connection and one request in a long delay.
    let mut idle = raw_tls(&lm);
    idle.write_all(post_text("{}", "").as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = read_response(&mut idle, &mut buf);
    lm.set_fault(Fault::Delay(Duration::from_secs(60)));
    let url = lm.url();
    let agent = c.agent.clone();
    let waiting = std::thread::spawn(move || {
        agent
            .post(&format!("{url}/accessv2"))
            .send_string("{}")
            .is_err()
    });
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    drop(lm);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "drop took {:?}",
        t.elapsed()
    );
    assert!(waiting.join().unwrap(), "no answer after drop");
}

#[test]
fn many_requests_on_one_connection_are_fast() {
    // A response split over two TCP segments would cost a delayed-ACK stall
    // (~40 ms) per request, 4 s for 100; they must take far less than that.
    let lm = start_default();
    lm.insert_entry(Scope::Global, "192.0.2.7", "x");
    let body = format!(r#"{{"cmd":"aclcontrol","list":"block","apikey":"{DEFAULT_API_KEY}"}}"#);
    let req = post_text(&body, "");
    let mut s = raw_tls(&lm);
    s.conn.set_buffer_limit(None);
    let mut buf = Vec::new();
    let t = Instant::now();
    for _ in 0..100 {
        s.write_all(req.as_bytes()).unwrap();
        let (head, _) = read_response(&mut s, &mut buf);
        assert!(head.starts_with("HTTP/1.1 200"));
    }
    let raw = t.elapsed();
    let c = Client::new(&lm);
    let t = Instant::now();
    for _ in 0..100 {
        assert_eq!(c.call(list()).0, 200);
    }
    let via_ureq = t.elapsed();
    eprintln!("100 requests: raw {raw:?}, ureq {via_ureq:?}");
    assert!(raw < Duration::from_secs(2), "{raw:?}");
    assert!(via_ureq < Duration::from_secs(2), "{via_ureq:?}");
    assert_eq!(lm.connections_accepted(), 2);
}

#[test]
fn set_switches_and_idle_timeout() {
    let lm = start(Options {
        idle_timeout: Duration::from_millis(200),
        ..Options::default()
    });
    lm.set_switches(Switches {
        list_shape: ListShape::EmptyArray,
        fault: Fault::Http500Html,
        ..lm.switches()
    });
    let c = Client::new(&lm);
    assert_eq!(c.send(list()).status, 500);
    lm.set_switches(Switches {
        fault: Fault::None,
        ..lm.switches()
    });
    assert_eq!(lm.switches().list_shape, ListShape::EmptyArray);
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "IP": []})
    );

    // An idle connection is closed by the server.
    let mut s = raw_tls(&lm);
    s.write_all(post_text("{}", "").as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = read_response(&mut s, &mut buf);
    let t = Instant::now();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty());
    assert!(t.elapsed() < Duration::from_secs(5));
}

/// Issue 27: the shapes the real appliance's dialect may take.
#[test]
fn dialect_list_shapes_and_comments() {
    let lm = start_default();
    let c = Client::new(&lm);
    let listvs = || json!({"cmd": "aclcontrol", "listvs": "block", "vs": "1"});
    let vs1 = json!({"Index": 1, "VS_IP": "192.0.2.10", "VS_Port": 443, "VS_Protocol": "tcp",
                     "Status": "Up"});

    // Empty lists, with members that only describe them.
    lm.set_list_shape(ListShape::ListMember);
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "list": "block"})
    );
    lm.set_list_shape(ListShape::VsDescriptions);
    assert_eq!(
        c.call(listvs()).1,
        json!({"code": 200, "status": "ok", "VS": [vs1]})
    );
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "list": "block"})
    );
    lm.set_list_shape(ListShape::VsFlattened);
    let mut flat = json!({"code": 200, "status": "ok"});
    flat.as_object_mut()
        .unwrap()
        .extend(vs1.as_object().unwrap().clone());
    assert_eq!(c.call(listvs()).1, flat);

    // With entries.
    lm.insert_entry(Scope::Vs(1), "192.0.2.7", "x");
    lm.insert_entry(Scope::Global, "192.0.2.7", "x");
    let one = json!([{"addr": "192.0.2.7", "comment": "x"}]);
    flat["IP"] = one.clone();
    assert_eq!(c.call(listvs()).1, flat);
    lm.set_list_shape(ListShape::VsDescriptions);
    let mut held = vs1.clone();
    held["Blocklist"] = json!({"IP": one});
    assert_eq!(
        c.call(listvs()).1,
        json!({"code": 200, "status": "ok", "VS": [held]})
    );
    lm.set_list_shape(ListShape::ListMember);
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "list": "block", "IP": one})
    );

    // Containers lmguard must refuse.
    lm.set_list_shape(ListShape::BareAddrContainer);
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "Blacklist": {"addr": ["192.0.2.7"]}})
    );
    lm.set_list_shape(ListShape::EntryContainer);
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "Blocklist": {"Entry": one}})
    );
    lm.set_list_shape(ListShape::VsEntries);
    assert_eq!(
        c.call(listvs()).1,
        json!({"code": 200, "status": "ok", "VS": {"Entries": one}})
    );

    // Comments absent or null.
    lm.set_list_shape(ListShape::Default);
    lm.set_comments(Comments::Absent);
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "IP": [{"addr": "192.0.2.7"}]})
    );
    lm.set_comments(Comments::Null);
    assert_eq!(
        c.call(list()).1,
        json!({"code": 200, "status": "ok", "IP": [{"addr": "192.0.2.7", "comment": null}]})
    );
    assert_eq!(
        lm.entries(Scope::Global),
        [entry("192.0.2.7", "x")],
        "still stored"
    );
}

#[test]
fn dialect_refusals_and_isenabled() {
    let lm = start_default();
    let c = Client::new(&lm);
    // A firmware that refuses the /128 form (but takes the bare host).
    lm.set_refuse_v6_host_prefix(true);
    assert_eq!(
        c.call(add("2001:db8::7/128")),
        (400, fail(400, "Invalid address"))
    );
    assert_eq!(c.call(add("2001:db8::/64")).0, 200, "networks pass");
    assert_eq!(c.call(add("2001:db8:1::7")).0, 200, "bare passes");
    lm.set_refuse_v6_host_prefix(false);

    // Addresses the appliance will not take, at 422 as the PowerShell SDK maps them.
    lm.set_invalid_address_status(422);
    lm.set_invalid_addresses(&["192.0.2.66"]);
    assert_eq!(
        c.call(add("192.0.2.66/32")),
        (422, fail(422, "Invalid address"))
    );
    assert_eq!(c.call(add("192.0.2.67")).0, 200);
    assert!(!lm
        .entries(Scope::Global)
        .iter()
        .any(|e| e.addr.starts_with("192.0.2.66")));

    // isenabled shapes.
    let isenabled = || json!({"cmd": "aclcontrol.isenabled"});
    let shapes = [
        (
            IsEnabledShape::AclStatus,
            "aclstatus",
            json!("yes"),
            json!("no"),
        ),
        (
            IsEnabledShape::IsEnabledText,
            "IsEnabled",
            json!("1"),
            json!("0"),
        ),
        (
            IsEnabledShape::IsEnabledBool,
            "IsEnabled",
            json!(true),
            json!(false),
        ),
        (IsEnabledShape::Data, "data", json!("1"), json!("0")),
    ];
    for (shape, name, on, off) in shapes {
        lm.set_isenabled_shape(shape);
        lm.set_packet_filter_off(None);
        let mut want = json!({"code": 200, "status": "ok"});
        want[name] = on;
        assert_eq!(c.call(isenabled()), (200, want.clone()));
        lm.set_packet_filter_off(Some(PacketFilterOff::Ok));
        want[name] = off;
        assert_eq!(c.call(isenabled()), (200, want));
    }

    // A 'Virtual Service' user: VS lists work, the global ones answer 403.
    lm.set_forbidden_global(true);
    assert_eq!(c.call(list()), (403, fail(403, "Permission denied")));
    assert_eq!(
        c.call(json!({"cmd": "aclcontrol", "listvs": "block", "vs": "1"}))
            .0,
        200
    );
}
