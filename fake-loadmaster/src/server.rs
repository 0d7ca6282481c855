//! Sockets, TLS, threads and fault injection.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::Value;
use socket2::{Domain, SockRef, Socket, Type};

use crate::api::{self, Resp, State};
use crate::http::{self, ReadError, Request};
use crate::{lock, CertKind, FakeLoadMaster, Fault, Options, RecordedRequest};

const HTML_500: &str = "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title>\
</head><body><h1>Internal Server Error</h1><p>The server encountered an internal error \
(fake-loadmaster fault injection).</p></body></html>\n";

/// A JSON answer cut short.
const TRUNCATED_JSON: &str =
    "{\"code\":200,\"status\":\"ok\",\"IP\":[{\"addr\":\"192.0.2.7\",\"comm";

/// How long start/set_fault wait for the listener to change state.
const STATE_WAIT: Duration = Duration::from_secs(5);

struct Control {
    want_down: bool,
    listening: bool,
    shutdown: bool,
}

struct Slot {
    /// A clone of the connection's socket, to shut it down from outside.
    stream: TcpStream,
    handle: Option<JoinHandle<()>>,
}

pub(crate) struct Inner {
    addr: SocketAddr,
    tls: Arc<ServerConfig>,
    pub state: Mutex<State>,
    ctl: Mutex<Control>,
    ctl_cv: Condvar,
    shutdown: AtomicBool,
    conns: Mutex<HashMap<u64, Slot>>,
    next_conn: AtomicU64,
    pub accepted: AtomicU64,
    idle_timeout: Duration,
}

enum Outcome {
    Reply(Resp),
    Reset,
}

struct Certs {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    ca_pem: String,
    leaf_der: Vec<u8>,
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "fake-loadmaster");
    dn
}

fn make_certs(kind: CertKind) -> Result<Certs, rcgen::Error> {
    let leaf_key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    leaf.distinguished_name = name("localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    match kind {
        CertKind::SelfSigned => {
            let cert = leaf.self_signed(&leaf_key)?;
            Ok(Certs {
                chain: vec![cert.der().clone()],
                key,
                ca_pem: cert.pem(),
                leaf_der: cert.der().to_vec(),
            })
        }
        CertKind::CaSigned => {
            let ca_key = KeyPair::generate()?;
            let mut ca = CertificateParams::new(Vec::<String>::new())?;
            ca.distinguished_name = name("fake-loadmaster test CA");
            ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            ca.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let ca_cert = ca.self_signed(&ca_key)?;
            let issuer = Issuer::new(ca, ca_key);
            let cert = leaf.signed_by(&leaf_key, &issuer)?;
            Ok(Certs {
                chain: vec![cert.der().clone(), ca_cert.der().clone()],
                key,
                ca_pem: ca_cert.pem(),
                leaf_der: cert.der().to_vec(),
            })
        }
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

pub(crate) fn start(options: Options) -> io::Result<FakeLoadMaster> {
    let certs = make_certs(options.cert).map_err(io::Error::other)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs.chain, certs.key)
        .map_err(io::Error::other)?;

    let listener = bind(SocketAddr::from((Ipv4Addr::LOCALHOST, options.port)))?;
    let addr = listener.local_addr()?;
    let want_down = options.switches.fault == Fault::Down;
    let inner = Arc::new(Inner {
        addr,
        tls: Arc::new(tls),
        state: Mutex::new(State {
            api_key: options.api_key,
            credentials: options.credentials,
            switches: options.switches,
            virtual_services: options.virtual_services,
            lists: HashMap::new(),
            requests: Vec::new(),
            request_count: 0,
            record_requests: options.record_requests,
            fault_served: 0,
            hostile: crate::Hostile::default(),
            rate: Default::default(),
        }),
        ctl: Mutex::new(Control {
            want_down,
            listening: false,
            shutdown: false,
        }),
        ctl_cv: Condvar::new(),
        shutdown: AtomicBool::new(false),
        conns: Mutex::new(HashMap::new()),
        next_conn: AtomicU64::new(0),
        accepted: AtomicU64::new(0),
        idle_timeout: options.idle_timeout,
    });
    // Starting Down: the port was bound only to learn its number.
    let listener = if want_down {
        drop(listener);
        None
    } else {
        Some(listener)
    };
    let for_thread = inner.clone();
    let accept_thread = thread::Builder::new()
        .name("fake-lm-accept".into())
        .spawn(move || accept_loop(for_thread, listener))?;
    if !want_down {
        inner.wait_listening(true);
    }
    Ok(FakeLoadMaster {
        inner,
        accept_thread: Some(accept_thread),
        addr,
        ca_pem: certs.ca_pem,
        leaf_der: certs.leaf_der,
    })
}

fn accept_loop(inner: Arc<Inner>, mut listener: Option<TcpListener>) {
    loop {
        // Phase 1: closed while Down; leave on shutdown.
        {
            let mut c = lock(&inner.ctl);
            loop {
                if c.shutdown {
                    drop(listener.take());
                    c.listening = false;
                    inner.ctl_cv.notify_all();
                    return;
                }
                if !c.want_down {
                    break;
                }
                drop(listener.take());
                c.listening = false;
                inner.ctl_cv.notify_all();
                c = inner.ctl_cv.wait(c).unwrap_or_else(|e| e.into_inner());
            }
        }
        let l = match listener.take() {
            Some(l) => l,
            None => match bind(inner.addr) {
                Ok(l) => l,
                Err(_) => {
                    // The port may be briefly unavailable; try again.
                    thread::sleep(Duration::from_millis(20));
                    continue;
                }
            },
        };
        {
            let mut c = lock(&inner.ctl);
            if c.shutdown || c.want_down {
                listener = Some(l);
                continue;
            }
            c.listening = true;
            inner.ctl_cv.notify_all();
        }
        // Phase 2: accept until told to stop (a wake-up connection makes
        // accept() return so the flags are looked at).
        loop {
            let accepted = l.accept();
            {
                let c = lock(&inner.ctl);
                if c.shutdown || c.want_down {
                    break;
                }
            }
            match accepted {
                Ok((stream, _)) => inner.spawn_connection(stream),
                Err(e) => {
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) {
                        // E.g. out of file descriptors: do not spin.
                        thread::sleep(Duration::from_millis(10));
                    }
                }
            }
        }
        listener = Some(l);
    }
}

impl Inner {
    fn wait_listening(&self, want: bool) {
        let deadline = Instant::now() + STATE_WAIT;
        let mut c = lock(&self.ctl);
        while c.listening != want {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            c = self
                .ctl_cv
                .wait_timeout(c, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Connects to our own port so that a blocked accept() returns.
    fn wake_acceptor(&self) {
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }

    /// Makes the accept thread close its listener (want_down or shutdown
    /// must already be set). Returns false if it did not within STATE_WAIT.
    fn stop_listening(&self) -> bool {
        let deadline = Instant::now() + STATE_WAIT;
        loop {
            if !lock(&self.ctl).listening {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            self.wake_acceptor();
            let c = lock(&self.ctl);
            if c.listening {
                let _ = self.ctl_cv.wait_timeout(c, Duration::from_millis(20));
            }
        }
    }

    fn close_connections(&self) {
        for slot in lock(&self.conns).values() {
            let _ = slot.stream.shutdown(Shutdown::Both);
        }
    }

    pub fn set_fault(&self, fault: Fault) {
        {
            let mut st = lock(&self.state);
            st.switches.fault = fault;
            st.fault_served = 0;
        }
        let down = fault == Fault::Down;
        {
            let mut c = lock(&self.ctl);
            c.want_down = down;
            self.ctl_cv.notify_all();
        }
        if down {
            self.stop_listening();
            self.close_connections();
        } else {
            self.wait_listening(true);
        }
    }

    pub fn shut_down(&self, accept_thread: Option<JoinHandle<()>>) {
        self.shutdown.store(true, Ordering::SeqCst);
        {
            let mut c = lock(&self.ctl);
            c.shutdown = true;
            self.ctl_cv.notify_all();
        }
        let stopped = self.stop_listening();
        if let Some(h) = accept_thread {
            // Once shutdown is set and the listener is closed, the accept
            // thread returns without blocking again.
            if stopped {
                let _ = h.join();
            }
        }
        let slots: Vec<Slot> = lock(&self.conns).drain().map(|(_, s)| s).collect();
        for s in &slots {
            let _ = s.stream.shutdown(Shutdown::Both);
        }
        for s in slots {
            if let Some(h) = s.handle {
                let _ = h.join();
            }
        }
    }

    fn spawn_connection(self: &Arc<Self>, stream: TcpStream) {
        let id = self.next_conn.fetch_add(1, Ordering::SeqCst) + 1;
        self.accepted.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            lock(&self.conns).insert(
                id,
                Slot {
                    stream: clone,
                    handle: None,
                },
            );
        }
        let inner = self.clone();
        let spawned = thread::Builder::new()
            .name(format!("fake-lm-conn-{id}"))
            .spawn(move || {
                inner.serve(id, stream);
                lock(&inner.conns).remove(&id);
            });
        match spawned {
            Ok(h) => {
                if let Some(slot) = lock(&self.conns).get_mut(&id) {
                    slot.handle = Some(h);
                }
            }
            Err(_) => {
                lock(&self.conns).remove(&id);
            }
        }
    }

    fn serve(&self, id: u64, tcp: TcpStream) {
        let _ = tcp.set_nodelay(true);
        let _ = tcp.set_read_timeout(Some(self.idle_timeout));
        let _ = tcp.set_write_timeout(Some(Duration::from_secs(30)));
        let Ok(mut conn) = ServerConnection::new(self.tls.clone()) else {
            return;
        };
        // Whole responses are encrypted at once and handed to the socket in
        // one vectored write.
        conn.set_buffer_limit(None);
        let mut tls = StreamOwned::new(conn, tcp);
        let mut reader = http::Reader::new();
        while !self.shutdown.load(Ordering::SeqCst) {
            let req = match reader.read_request(&mut tls) {
                Ok(Some(r)) => r,
                Ok(None) | Err(ReadError::Io) => break,
                Err(ReadError::Bad(status, msg)) => {
                    let out = http::format_response(status, "text/plain", msg.as_bytes(), false);
                    let _ = send(&mut tls, &out);
                    break;
                }
            };
            let outcome = self.handle(id, &req);
            if self.shutdown.load(Ordering::SeqCst) {
                // Stopped while answering (e.g. during a Delay): no answer.
                break;
            }
            match outcome {
                Outcome::Reply(resp) => {
                    let keep = req.keep_alive;
                    let out =
                        http::format_response(resp.status, resp.content_type, &resp.body, keep);
                    if send(&mut tls, &out).is_err() || !keep {
                        break;
                    }
                }
                Outcome::Reset => {
                    // SO_LINGER 0 + close = RST. The clone kept for
                    // shutting down must go first, or close would not be
                    // the last reference to the socket.
                    let _ = SockRef::from(&tls.sock).set_linger(Some(Duration::ZERO));
                    lock(&self.conns).remove(&id);
                    drop(tls);
                    return;
                }
            }
        }
        tls.conn.send_close_notify();
        let _ = send(&mut tls, &[]);
    }

    fn handle(&self, conn: u64, req: &Request) -> Outcome {
        let fault = lock(&self.state).switches.fault;
        if let Fault::Delay(d) = fault {
            self.sleep(d);
        }
        let parsed: Option<Value> = serde_json::from_slice(&req.body).ok();
        let mut st = lock(&self.state);
        st.request_count += 1;
        let limit = st.switches.rate_limit;
        let over_limit = st.rate.drops(limit, Instant::now());
        let outcome = match fault {
            // Kemp: "The connection drops" — no answer at all.
            _ if over_limit => Outcome::Reset,
            Fault::Down | Fault::ResetConnection => Outcome::Reset,
            Fault::FailAfter(n) if st.fault_served >= n => Outcome::Reset,
            Fault::Http500Html => Outcome::Reply(Resp::text(500, "text/html", HTML_500)),
            Fault::InvalidJson => {
                Outcome::Reply(Resp::text(200, "application/json", TRUNCATED_JSON))
            }
            Fault::Body(status, body) => {
                Outcome::Reply(Resp::text(status, "application/json", body))
            }
            Fault::None | Fault::Delay(_) | Fault::AnswerDelay(_) | Fault::FailAfter(_) => {
                st.fault_served += 1;
                let resp = match st.hostile.intercept(parsed.as_ref(), &req.body) {
                    Some(resp) => resp,
                    None => st.respond(&req.method, req.path(), parsed.as_ref()),
                };
                Outcome::Reply(st.hostile.after(resp, &req.body))
            }
        };
        if st.record_requests {
            let status = match &outcome {
                Outcome::Reply(r) => Some(r.status),
                Outcome::Reset => None,
            };
            st.requests.push(RecordedRequest {
                connection: conn,
                method: req.method.clone(),
                path: req.target.clone(),
                body: api::redact(parsed),
                status,
            });
        }
        drop(st);
        if let Fault::AnswerDelay(d) = fault {
            self.sleep(d);
        }
        outcome
    }

    /// Sleeps, but returns early on shutdown.
    fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.shutdown.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= end {
                return;
            }
            thread::sleep((end - now).min(Duration::from_millis(10)));
        }
    }
}

/// Encrypts `bytes` and writes all pending TLS data (one vectored write for
/// a normal-sized answer), then flushes.
fn send(tls: &mut StreamOwned<ServerConnection, TcpStream>, bytes: &[u8]) -> io::Result<()> {
    if !bytes.is_empty() {
        tls.conn.writer().write_all(bytes)?;
    }
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut tls.sock)?;
    }
    tls.sock.flush()
}
