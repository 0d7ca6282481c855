//! The shipped rsyslog snippet (`contrib/lmguard-rsyslog.conf`) under a
//! live rsyslogd: the snippet itself, its placeholders set for loopback,
//! run by rsyslogd in the foreground with its own configuration, pid file
//! and work directory in a temp dir; events sent over TCP from 127.0.0.1
//! (and 127.0.0.2, a sender that is not allowed) reach the fake LoadMaster
//! through lmguard, started by rsyslog's omprog with `--confirm`.

use crate::common::{tools, Env};

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_loadmaster::Scope;

/// A running rsyslogd, stopped when dropped.
struct Rsyslog {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Rsyslog {
    /// rsyslogd with the shipped snippet, accepting ADS events from
    /// `allowed` only; `None` (after [`tools::skip`]) where rsyslogd is
    /// missing.
    fn start(env: &Env, allowed: &str) -> Option<Rsyslog> {
        let rsyslogd = tools::require("rsyslogd", "apt-get install rsyslog")?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("rsyslog.conf");
        std::fs::write(&config, render(env, dir.path(), port, allowed)).unwrap();
        let child = Command::new(rsyslogd)
            .arg("-n")
            .arg("-f")
            .arg(&config)
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("rsyslogd.stderr")).unwrap(),
            ))
            .spawn()
            .expect("rsyslogd starts");
        let mut daemon = Rsyslog { child, dir, port };
        daemon.wait_until_listening();
        Some(daemon)
    }

    fn wait_until_listening(&mut self) {
        let start = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("rsyslogd ended ({status}): {}", self.said());
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "rsyslogd does not listen on port {}: {}",
                self.port,
                self.said()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What rsyslogd and lmguard said: rsyslogd's standard error and own
    /// messages, and lmguard's standard error (omprog's `output`).
    fn said(&self) -> String {
        ["rsyslogd.stderr", "rsyslog.log", "omprog.log"]
            .iter()
            .map(|name| {
                let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
                format!("--- {name}:\n{text}")
            })
            .collect()
    }

    /// lmguard's standard error so far.
    fn lmguard_said(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("omprog.log")).unwrap_or_default()
    }

    /// rsyslogd's own messages so far.
    fn rsyslog_said(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rsyslog.log")).unwrap_or_default()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shipped snippet with its placeholders set for this test (each must
/// still be in it), behind a few lines that keep rsyslogd's own files in
/// `dir` and its own messages (`processInternalMessages`: not to the host's
/// /dev/log) in `dir/rsyslog.log`.
fn render(env: &Env, dir: &Path, port: u16, allowed: &str) -> String {
    let snippet = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/lmguard-rsyslog.conf"),
    )
    .unwrap();
    let lmguard = assert_cmd::cargo::cargo_bin("lmguard");
    let output = dir.join("omprog.log");
    let swaps: [(&str, String); 6] = [
        // This host's listen address.
        (
            "address=\"192.0.2.10\"",
            "address=\"127.0.0.1\"".to_string(),
        ),
        // The ADS appliance: the only sender accepted.
        ("\"192.0.2.50\"", format!("\"{allowed}\"")),
        ("port=\"514\"", format!("port=\"{port}\"")),
        ("/usr/local/bin/lmguard", path(&lmguard)),
        ("/etc/lmguard/lm-mitigation.toml", path(&env.config)),
        ("/var/log/lmguard-omprog.log", path(&output)),
    ];
    let mut text = snippet;
    for (placeholder, value) in swaps {
        assert!(
            text.contains(placeholder),
            "contrib/lmguard-rsyslog.conf no longer holds {placeholder}"
        );
        text = text.replace(placeholder, &value);
    }
    format!(
        "global(workDirectory=\"{dir}\" processInternalMessages=\"on\")\n\
         *.* action(type=\"omfile\" file=\"{dir}/rsyslog.log\")\n\n{text}",
        dir = path(dir)
    )
}

fn path(p: &Path) -> String {
    let text = p.to_str().unwrap().to_string();
    assert!(
        !text.contains([' ', '"']),
        "{text}: omprog splits at spaces"
    );
    text
}

/// A syslog message as ADS sends it (RFC 3164 header, program `tag`).
fn message(tag: &str, body: &str) -> String {
    format!("<134>Dec  6 10:00:00 ads-host {tag}: {body}\n")
}

fn cef(source: &str) -> String {
    format!(
        "CEF:0|Flowmon Networks|Flowmon ADS Ultimate|13.00.00|SSHDICT|SSH attack|8|\
         src={source} msg=a test cs2=Default"
    )
}

fn send(stream: &mut TcpStream, text: &str) {
    stream.write_all(text.as_bytes()).unwrap();
    stream.flush().unwrap();
}

/// A TCP connection to rsyslogd from `local` (a loopback address).
fn connect_from(local: Ipv4Addr, port: u16) -> TcpStream {
    use std::os::fd::FromRawFd;
    fn address(ip: Ipv4Addr, port: u16) -> libc::sockaddr_in {
        libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        }
    }
    let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a socket this function creates and hands to a TcpStream,
    // which owns (and closes) it; the addresses live across the calls.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(fd);
        let from = address(local, 0);
        let bound = libc::bind(fd, (&from as *const libc::sockaddr_in).cast(), size);
        assert_eq!(
            bound,
            0,
            "bind {local}: {}",
            std::io::Error::last_os_error()
        );
        let to = address(Ipv4Addr::LOCALHOST, port);
        let connected = libc::connect(fd, (&to as *const libc::sockaddr_in).cast(), size);
        assert_eq!(connected, 0, "connect: {}", std::io::Error::last_os_error());
        stream
    }
}

/// Issue 24: one line `--confirm` rejects (a message tagged ADS that is not
/// CEF) was sent again by rsyslog for ever, and no later event reached the
/// LoadMaster. Now it is answered OK (and reported), and the event behind
/// it is on the LoadMaster within 2 s.
#[test]
fn a_bad_line_never_holds_back_the_events_behind_it() {
    let env = Env::new();
    let Some(daemon) = Rsyslog::start(&env, "127.0.0.1") else {
        return;
    };
    let mut ads = connect_from(Ipv4Addr::LOCALHOST, daemon.port);
    send(&mut ads, &message("ADS", "this is not an ADS event"));
    send(&mut ads, &message("ADS[42]", &cef("203.0.113.121")));
    let took = env.wait_on_lm("203.0.113.121", Duration::from_secs(2));
    assert!(
        took.is_some(),
        "the event behind a bad line is not on the LoadMaster after 2 s:\n{}",
        daemon.said()
    );
    // The stream goes on.
    send(&mut ads, &message("ADS", &cef("203.0.113.122")));
    assert!(
        env.wait_on_lm("203.0.113.122", Duration::from_secs(2))
            .is_some(),
        "{}",
        daemon.said()
    );
    // The bad line was reported once, and rsyslog never had to retry it.
    let said = daemon.lmguard_said();
    assert_eq!(
        said.matches("not a CEF record").count(),
        1,
        "{}",
        daemon.said()
    );
    assert!(
        !daemon.rsyslog_said().contains("returned"),
        "lmguard answered rsyslog with something but OK:\n{}",
        daemon.said()
    );
    assert_eq!(env.status_of("203.0.113.121"), "active");
}

/// Issue 24: a forged `logger -t ADS` message got an address blocked in
/// 0.11 s. Only the ADS appliance's address, with program name ADS,
/// reaches lmguard now.
#[test]
fn only_the_ads_appliance_reaches_lmguard() {
    let env = Env::new();
    let Some(daemon) = Rsyslog::start(&env, "127.0.0.1") else {
        return;
    };
    // Tagged ADS, but from another address (127.0.0.2, loopback).
    let mut forger = connect_from(Ipv4Addr::new(127, 0, 0, 2), daemon.port);
    send(&mut forger, &message("ADS", &cef("203.0.113.131")));
    // From the ADS appliance's address, but another program.
    let mut ads = connect_from(Ipv4Addr::LOCALHOST, daemon.port);
    send(&mut ads, &message("sshd", &cef("203.0.113.132")));
    std::thread::sleep(Duration::from_millis(300));
    // The real thing, behind them, arrives.
    send(&mut ads, &message("ADS", &cef("203.0.113.133")));
    assert!(
        env.wait_on_lm("203.0.113.133", Duration::from_secs(2))
            .is_some(),
        "{}",
        daemon.said()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        env.on_lm(Scope::Global),
        ["203.0.113.133"],
        "{}",
        daemon.said()
    );
    for forged in ["203.0.113.131", "203.0.113.132"] {
        assert_eq!(env.status_of(forged), "absent", "{}", daemon.said());
        assert!(!daemon.lmguard_said().contains(forged), "{}", daemon.said());
    }
}

/// The one answer that is not OK — the state busy past its lock timeout —
/// makes rsyslog keep the message and send it again: once the state is
/// free, the event is recorded and blocked, and nothing is lost.
#[test]
fn an_event_the_state_could_not_record_is_sent_again_until_it_is() {
    let env = Env::new();
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("lock_timeout = \"20s\"", "lock_timeout = \"1s\"");
    std::fs::write(&env.config, text).unwrap();
    let Some(daemon) = Rsyslog::start(&env, "127.0.0.1") else {
        return;
    };
    let mut ads = connect_from(Ipv4Addr::LOCALHOST, daemon.port);
    // lmguard is up (its first OK needs the state) once this is blocked.
    send(&mut ads, &message("ADS", &cef("203.0.113.141")));
    assert!(
        env.wait_on_lm("203.0.113.141", Duration::from_secs(15))
            .is_some(),
        "{}",
        daemon.said()
    );
    // Taken right away, the lock may keep the stream from recording the
    // LoadMaster's answer to that event: the event stays pending (sweep
    // completes it) and the stream goes on all the same.
    let lock = crate::common::hold_lock(&env.state);
    send(&mut ads, &message("ADS", &cef("203.0.113.142")));
    // Answered "not recorded" (rsyslog logs it), not blocked meanwhile.
    let start = Instant::now();
    while !daemon
        .rsyslog_said()
        .contains("not recorded, send it again")
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}",
            daemon.said()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!env
        .on_lm(Scope::Global)
        .contains(&"203.0.113.142".to_string()));
    drop(lock);
    assert!(
        env.wait_on_lm("203.0.113.142", Duration::from_secs(30))
            .is_some(),
        "rsyslog did not send the message again:\n{}",
        daemon.said()
    );
}
