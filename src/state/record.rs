//! The compact binary encoding of one state record (state format 3).
//!
//! Format 2 stored every record as JSON (about 250 bytes, the field names
//! included); this encoding needs about 40. It is hand-written rather than
//! derived (postcard, bincode) so that the layout is fixed here, in one
//! page, independent of a crate's versioning and of the `Entry` struct's
//! field order, and so that old records stay readable when fields are
//! added:
//!
//! ```text
//! version (1 byte, RECORD_VERSION)
//! status  (1 byte: 0 active, 1 pending_block, 2 pending_unblock, 3 expired, 4 unblocked,
//!          5 rejected)
//! flags   (varint: which optional fields follow)
//! address (1 byte family 4|6, 1 byte prefix length, 4|16 bytes)
//! scope   (varint: 0 global, n+1 VS n)
//! blocked_at (zigzag varint, Unix seconds)
//! updated_at (zigzag varint, seconds after blocked_at)
//! times_blocked (varint)
//! reason  (varint length + UTF-8)
//! then, when their flag is set, in this order:
//! expires_at (zigzag, after blocked_at), event_id (string), removal (1 byte),
//! claim (pid varint, started varint, token 8 bytes LE, until zigzag),
//! last_error (string), ended_at (zigzag, after blocked_at),
//! held_by_other (string), priority (1 byte, 0 information … 4 critical),
//! adopted_comment (string)
//! simulated and forced are flags with no payload.
//! checksum (4 bytes, version 2 on: see below)
//! ```
//!
//! Version 2 (state format 5) ends each record with a checksum: the first
//! 4 bytes of the SHA-256 of the record's state key and of every byte
//! before the checksum. A bit flipped on disk inside a record — in its
//! address above all — would otherwise be read back as another valid
//! record (198.51.100.57 as 70.51.100.57), whose real entry would never
//! expire. Every record (version 1 too) must also agree with its key: the
//! address and scope it holds are the ones its key names. A record that
//! fails either test is refused by name, never misread. (SHA-256 from
//! `ring`, already here for certificate pins: no crate for a CRC.)
//!
//! A later format adds a flag (and its payload at the end) or a new status
//! number, or bumps [`RECORD_VERSION`]; a record with a version or status
//! this code does not know is refused with a clear error, never misread.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::domain::address::Address;
use crate::domain::entry::{Claim, Entry, Removal, Scope, Status};
use crate::domain::severity::Severity;

/// The record layout this version writes.
pub(crate) const RECORD_VERSION: u8 = 2;
/// The layout of state formats 3 and 4: no checksum.
const RECORD_VERSION_1: u8 = 1;
/// The bytes of the checksum that ends a version-2 record.
const CHECKSUM_BYTES: usize = 4;

const EXPIRES: u64 = 1 << 0;
const EVENT_ID: u64 = 1 << 1;
const REMOVAL: u64 = 1 << 2;
const CLAIM: u64 = 1 << 3;
const LAST_ERROR: u64 = 1 << 4;
const ENDED: u64 = 1 << 5;
const HELD_BY_OTHER: u64 = 1 << 6;
const SIMULATED: u64 = 1 << 7;
const PRIORITY: u64 = 1 << 8;
const FORCED: u64 = 1 << 9;
const ADOPTED_COMMENT: u64 = 1 << 10;
const KNOWN_FLAGS: u64 = (1 << 11) - 1;

/// Encode a record, stored under `key` (its state key).
pub(crate) fn encode(key: &str, e: &Entry) -> Vec<u8> {
    let mut out = encode_body(e, RECORD_VERSION);
    let sum = checksum(key, &out);
    out.extend(sum);
    out
}

/// The first [`CHECKSUM_BYTES`] of the SHA-256 of `key` (with its length,
/// so that no byte can move between the two) and `body`.
fn checksum(key: &str, body: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&(key.len() as u64).to_le_bytes());
    ctx.update(key.as_bytes());
    ctx.update(body);
    let digest = ctx.finish();
    let mut out = [0; CHECKSUM_BYTES];
    out.copy_from_slice(&digest.as_ref()[..CHECKSUM_BYTES]);
    out
}

/// A record as formats 3 and 4 wrote it (version 1, no checksum): what
/// the migration tests start from.
#[cfg(test)]
pub(crate) fn encode_version_1(e: &Entry) -> Vec<u8> {
    encode_body(e, RECORD_VERSION_1)
}

fn encode_body(e: &Entry, version: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + CHECKSUM_BYTES + e.reason.len());
    out.push(version);
    out.push(status_code(e.status));
    let flags = [
        (e.expires_at.is_some(), EXPIRES),
        (e.event_id.is_some(), EVENT_ID),
        (e.removal.is_some(), REMOVAL),
        (e.claim.is_some(), CLAIM),
        (e.last_error.is_some(), LAST_ERROR),
        (e.ended_at.is_some(), ENDED),
        (e.held_by_other.is_some(), HELD_BY_OTHER),
        (e.simulated, SIMULATED),
        (e.priority.is_some(), PRIORITY),
        (e.forced, FORCED),
        (e.adopted_comment.is_some(), ADOPTED_COMMENT),
    ]
    .iter()
    .filter(|(set, _)| *set)
    .fold(0, |acc, (_, bit)| acc | bit);
    put_varint(&mut out, flags);
    let net = e.address.network();
    match net.addr() {
        IpAddr::V4(a) => {
            out.extend([4, net.prefix_len()]);
            out.extend(a.octets());
        }
        IpAddr::V6(a) => {
            out.extend([6, net.prefix_len()]);
            out.extend(a.octets());
        }
    }
    put_varint(&mut out, e.scope.vs().map_or(0, |n| u64::from(n) + 1));
    put_signed(&mut out, e.blocked_at);
    put_signed(&mut out, e.updated_at.wrapping_sub(e.blocked_at));
    put_varint(&mut out, u64::from(e.times_blocked));
    put_str(&mut out, &e.reason);
    if let Some(t) = e.expires_at {
        put_signed(&mut out, t.wrapping_sub(e.blocked_at));
    }
    if let Some(id) = &e.event_id {
        put_str(&mut out, id);
    }
    if let Some(r) = e.removal {
        out.push(match r {
            Removal::Expired => 0,
            Removal::Unblocked => 1,
        });
    }
    if let Some(c) = &e.claim {
        put_varint(&mut out, u64::from(c.pid));
        put_varint(&mut out, c.started);
        out.extend(c.token.to_le_bytes());
        put_signed(&mut out, c.until);
    }
    if let Some(text) = &e.last_error {
        put_str(&mut out, text);
    }
    if let Some(t) = e.ended_at {
        put_signed(&mut out, t.wrapping_sub(e.blocked_at));
    }
    if let Some(text) = &e.held_by_other {
        put_str(&mut out, text);
    }
    if let Some(p) = e.priority {
        out.push(p as u8);
    }
    if let Some(text) = &e.adopted_comment {
        put_str(&mut out, text);
    }
    out
}

/// Decode a record stored under `key`; the error says what is wrong with
/// it. The entry's `loadmaster` is left to the caller (it is the key's).
pub(crate) fn decode(key: &str, bytes: &[u8]) -> Result<Entry, String> {
    let body = match bytes.first() {
        Some(&RECORD_VERSION) => {
            let split = bytes
                .len()
                .checked_sub(CHECKSUM_BYTES)
                .ok_or("the record is truncated")?;
            let (body, sum) = bytes.split_at(split);
            if checksum(key, body) != sum {
                return Err("its checksum does not match: the record is damaged".into());
            }
            body
        }
        Some(&RECORD_VERSION_1) => bytes,
        Some(&version) => {
            return Err(format!(
                "record version {version}; this lmguard reads versions {RECORD_VERSION_1} to \
                 {RECORD_VERSION}"
            ))
        }
        None => return Err("the record is empty".into()),
    };
    let entry = decode_body(body)?;
    let names = crate::domain::entry::state_key(
        crate::domain::entry::loadmaster_of_key(key),
        entry.scope,
        &entry.address,
    );
    if names != key {
        return Err(format!(
            "it holds {} in {} but is stored under {key}: the record is damaged",
            entry.address, entry.scope
        ));
    }
    Ok(entry)
}

fn decode_body(bytes: &[u8]) -> Result<Entry, String> {
    let mut r = Reader { bytes, at: 0 };
    let _version = r.byte()?;
    let status = match r.byte()? {
        0 => Status::Active,
        1 => Status::PendingBlock,
        2 => Status::PendingUnblock,
        3 => Status::Expired,
        4 => Status::Unblocked,
        5 => Status::Rejected,
        n => return Err(format!("unknown status number {n}")),
    };
    let flags = r.varint()?;
    if flags & !KNOWN_FLAGS != 0 {
        return Err(format!("unknown fields (flags {flags:#x})"));
    }
    let has = |bit: u64| flags & bit != 0;
    let address = r.address()?;
    let scope = match r.varint()? {
        0 => Scope::Global,
        n => Scope::Vs(u32::try_from(n - 1).map_err(|_| "VS number out of range")?),
    };
    let blocked_at = r.signed()?;
    let updated_at = blocked_at.wrapping_add(r.signed()?);
    let times_blocked = u32::try_from(r.varint()?).map_err(|_| "block count out of range")?;
    let reason = r.string()?;
    let after = |r: &mut Reader<'_>| r.signed().map(|d| blocked_at.wrapping_add(d));
    let expires_at = has(EXPIRES).then(|| after(&mut r)).transpose()?;
    let event_id = has(EVENT_ID).then(|| r.string()).transpose()?;
    let removal = has(REMOVAL)
        .then(|| match r.byte()? {
            0 => Ok(Removal::Expired),
            1 => Ok(Removal::Unblocked),
            n => Err(format!("unknown removal number {n}")),
        })
        .transpose()?;
    let claim = has(CLAIM)
        .then(|| -> Result<Claim, String> {
            Ok(Claim {
                pid: u32::try_from(r.varint()?).map_err(|_| "pid out of range")?,
                started: r.varint()?,
                token: u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes")),
                until: r.signed()?,
            })
        })
        .transpose()?;
    let last_error = has(LAST_ERROR).then(|| r.string()).transpose()?;
    let ended_at = has(ENDED).then(|| after(&mut r)).transpose()?;
    let held_by_other = has(HELD_BY_OTHER).then(|| r.string()).transpose()?;
    let priority = has(PRIORITY)
        .then(|| {
            let n = r.byte()?;
            Severity::ALL
                .get(usize::from(n))
                .copied()
                .ok_or(format!("unknown priority number {n}"))
        })
        .transpose()?;
    let adopted_comment = has(ADOPTED_COMMENT).then(|| r.string()).transpose()?;
    if r.at != bytes.len() {
        return Err(format!("{} unexpected trailing bytes", bytes.len() - r.at));
    }
    Ok(Entry {
        // Set from the state key by the caller.
        loadmaster: Default::default(),
        address,
        scope,
        status,
        blocked_at,
        expires_at,
        reason,
        event_id,
        times_blocked,
        removal,
        claim,
        last_error,
        updated_at,
        ended_at,
        held_by_other,
        simulated: has(SIMULATED),
        forced: has(FORCED),
        adopted_comment,
        priority,
    })
}

fn status_code(s: Status) -> u8 {
    match s {
        Status::Active => 0,
        Status::PendingBlock => 1,
        Status::PendingUnblock => 2,
        Status::Expired => 3,
        Status::Unblocked => 4,
        Status::Rejected => 5,
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_signed(out: &mut Vec<u8>, v: i64) {
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize) -> Result<&'b [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or("the record is truncated")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a number is too long".into())
    }

    fn signed(&mut self) -> Result<i64, String> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn string(&mut self) -> Result<String, String> {
        let len = usize::try_from(self.varint()?).map_err(|_| "a text is too long")?;
        let raw = self.take(len)?;
        String::from_utf8(raw.to_vec()).map_err(|_| "a text is not UTF-8".to_string())
    }

    fn address(&mut self) -> Result<Address, String> {
        let family = self.byte()?;
        let prefix = self.byte()?;
        let ip = match family {
            4 => IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(self.take(4)?).expect("4 bytes"),
            )),
            6 => IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(self.take(16)?).expect("16 bytes"),
            )),
            n => return Err(format!("unknown address family {n}")),
        };
        IpNet::new(ip, prefix)
            .ok()
            .and_then(Address::from_network)
            .ok_or_else(|| format!("invalid network {ip}/{prefix}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(e: &Entry) -> String {
        e.key()
    }

    fn round_trip(e: &Entry) -> Entry {
        decode(&key(e), &encode(&key(e), e)).unwrap()
    }

    fn sample() -> Entry {
        Entry {
            loadmaster: Default::default(),
            address: "2001:db8:abcd:12::/64".parse().unwrap(),
            scope: Scope::Vs(3),
            status: Status::PendingUnblock,
            blocked_at: 1_796_012_035,
            expires_at: Some(1_796_282_035),
            reason: "SSHDICT SSH attack — ünïcode".into(),
            event_id: Some("532028".into()),
            times_blocked: 7,
            removal: Some(Removal::Unblocked),
            claim: Some(Claim {
                pid: 4_000_000,
                started: 123_456_789,
                token: u64::MAX - 5,
                until: 1_796_900_000,
            }),
            last_error: Some("the LoadMaster refused it (code 422)".into()),
            updated_at: 1_796_012_000,
            ended_at: Some(1_796_012_099),
            held_by_other: Some("someone else".into()),
            simulated: true,
            forced: true,
            adopted_comment: Some("SOC ADS 532028 SSHDICT".into()),
            priority: Some(Severity::Critical),
        }
    }

    #[test]
    fn every_field_survives_a_round_trip() {
        let full = sample();
        assert_eq!(
            decode(&key(&full), &encode(&key(&full), &full)).unwrap(),
            full
        );
        let bare = Entry {
            loadmaster: Default::default(),
            address: "192.0.2.7".parse().unwrap(),
            scope: Scope::Global,
            status: Status::Active,
            expires_at: None,
            event_id: None,
            removal: None,
            claim: None,
            last_error: None,
            ended_at: None,
            held_by_other: None,
            simulated: false,
            forced: false,
            adopted_comment: None,
            priority: None,
            blocked_at: -5,
            reason: "SCANS Port scanning".into(),
            ..full
        };
        let bytes = encode(&key(&bare), &bare);
        assert_eq!(decode(&key(&bare), &bytes).unwrap(), bare);
        // 19 bytes of reason and 4 of checksum; JSON needed about 150 for
        // the same record.
        assert!(bytes.len() <= 44, "{} bytes", bytes.len());
    }

    #[test]
    fn every_status_and_each_flag_alone_survive_a_round_trip() {
        for status in crate::domain::stats::STATUSES {
            let e = Entry { status, ..sample() };
            assert_eq!(round_trip(&e), e, "{status:?}");
        }
        let bare = Entry {
            claim: None,
            simulated: false,
            forced: false,
            adopted_comment: None,
            ..sample()
        };
        let forced = Entry {
            forced: true,
            status: Status::Rejected,
            ..bare.clone()
        };
        assert_eq!(round_trip(&forced), forced);
        assert_ne!(
            encode(&key(&forced), &forced)[2..],
            encode(&key(&bare), &bare)[2..],
            "forced is stored"
        );
        let adopted = Entry {
            adopted_comment: Some("someone's comment".into()),
            ..bare.clone()
        };
        assert_eq!(round_trip(&adopted), adopted);
    }

    #[test]
    fn damaged_or_newer_records_are_refused_not_misread() {
        let k = key(&sample());
        let bytes = encode(&k, &sample());
        for cut in 0..bytes.len() {
            assert!(decode(&k, &bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut newer = bytes.clone();
        newer[0] = RECORD_VERSION + 1;
        assert!(decode(&k, &newer).unwrap_err().contains("record version"));
        let mut status = bytes.clone();
        status[1] = 9;
        assert!(decode(&k, &status).unwrap_err().contains("checksum"));
        let mut longer = bytes;
        longer.push(0);
        assert!(decode(&k, &longer).unwrap_err().contains("checksum"));
        // A version-1 record (formats 3 and 4) has no checksum: its own
        // layout checks still apply.
        let mut old = encode_body(&sample(), RECORD_VERSION_1);
        assert_eq!(decode(&k, &old).unwrap(), sample());
        old.push(0);
        assert!(decode(&k, &old).unwrap_err().contains("trailing"));
    }

    #[test]
    fn every_flipped_bit_of_a_record_or_its_key_is_refused() {
        let e = Entry {
            address: "198.51.100.57".parse().unwrap(),
            ..sample()
        };
        let k = key(&e);
        let bytes = encode(&k, &e);
        for i in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[i / 8] ^= 1 << (i % 8);
            let got = decode(&k, &flipped);
            assert!(got.is_err(), "bit {i} read back as {got:?}");
        }
        for i in 0..k.len() * 8 {
            let mut other = k.clone().into_bytes();
            other[i / 8] ^= 1 << (i % 8);
            let Ok(other) = String::from_utf8(other) else {
                continue;
            };
            assert!(decode(&other, &bytes).is_err(), "key {other} accepted");
        }
    }

    #[test]
    fn a_version_1_record_must_agree_with_its_key() {
        // 198.51.100.57 with one bit flipped in its first byte reads as
        // 70.51.100.57: a valid record, but not the one its key names.
        let e = Entry {
            address: "198.51.100.57".parse().unwrap(),
            ..sample()
        };
        let mut old = encode_body(&e, RECORD_VERSION_1);
        let at = old.iter().position(|&b| b == 198).unwrap();
        old[at] ^= 0x80;
        let err = decode(&key(&e), &old).unwrap_err();
        assert!(err.contains("70.51.100.57"), "{err}");
        assert!(err.contains("198.51.100.57"), "{err}");
    }
}
