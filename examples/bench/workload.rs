//! The workload: addresses, events in TSV and CEF, and the bodies of
//! the LoadMaster requests the floors make.

use std::fmt::Write as _;

use serde_json::json;

use super::settings::*;

/// Fresh unicast IPv4 addresses in 10.0.0.0/8 (nothing lmguard protects on
/// this host), never the same twice in one benchmark.
pub(crate) struct Addrs {
    pub(crate) next: u32,
}

impl Addrs {
    pub(crate) fn new() -> Addrs {
        Addrs { next: 0 }
    }
    pub(crate) fn take(&mut self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let i = self.next;
                self.next += 1;
                // 254 hosts (.1–.254) per /24.
                let host = i % 254 + 1;
                let net = i / 254;
                format!("10.{}.{}.{}", (net >> 8) & 255, net & 255, host)
            })
            .collect()
    }
}

/// Flowmon ADS events (tab-separated, the custom-script format), one per
/// address; event ids start at `first_id`.
pub(crate) fn events_tsv(addrs: &[String], first_id: u64) -> Vec<u8> {
    let mut out = String::with_capacity(addrs.len() * 150);
    for (i, a) in addrs.iter().enumerate() {
        let _ = writeln!(
            out,
            "{id}\t2026-11-24 10:13:00\t \tSCANS\tPort scanning\t \t \tSecurity Issues\tHigh\t\
             TCP SYN scan of 1024 ports\t \t \t{a}\t \t198.51.100.4\tLAN",
            id = first_id + i as u64
        );
    }
    out.into_bytes()
}

/// The same events as ADS sends them by syslog (CEF, with a syslog header).
pub(crate) fn events_cef(addrs: &[String]) -> Vec<u8> {
    let mut out = String::with_capacity(addrs.len() * 250);
    for a in addrs {
        let _ = writeln!(
            out,
            "Nov 24 10:13:00 ads ADS[4242]: CEF:0|Flowmon Networks|Flowmon ADS Ultimate|\
             13.00.00|SCANS|Port scanning|8|src={a} start=Nov 24 2026 10:13:00 msg=TCP SYN \
             scan of 1024 ports cs2=Default cs2Label=MethodInstanceName"
        );
    }
    out.into_bytes()
}

/// The comment lmguard puts on an ADS block (see `commands::comment_for`).
pub(crate) fn ads_comment(id: u64) -> String {
    format!("lmguard ADS {id} SCANS")
}

pub(crate) fn add_body(addr: &str, comment: &str) -> String {
    json!({"cmd":"aclcontrol","add":"block","addr":addr,"comment":comment,"apikey":KEY}).to_string()
}

pub(crate) fn del_body(addr: &str) -> String {
    json!({"cmd":"aclcontrol","del":"block","addr":addr,"apikey":KEY}).to_string()
}

pub(crate) fn list_body() -> String {
    json!({"cmd":"aclcontrol","list":"block","apikey":KEY}).to_string()
}
