//! A damaged state file is a clear error, never a panic or another
//! address (issue 24, point 4): bytes flipped in a real state file written
//! by the binary, and the way back (move it aside, `sync --apply --adopt`).

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{Env, Out};
use fake_loadmaster::Scope;

/// The addresses the tests block: 198.51.100.1 … 198.51.100.N.
fn addresses(n: u8) -> Vec<String> {
    (1..=n).map(|i| format!("198.51.100.{i}")).collect()
}

/// A state holding `n` active blocks, written by the binary.
fn blocked(n: u8) -> (Env, Vec<String>) {
    let env = Env::new();
    let addrs = addresses(n);
    let mut args = vec!["block"];
    args.extend(addrs.iter().map(String::as_str));
    let out = env.run(&args);
    assert_eq!(out.code(), 0, "{}", out.all());
    (env, addrs)
}

/// Where `needle` starts in `bytes`, every time.
fn find_all(bytes: &[u8], needle: &[u8]) -> Vec<usize> {
    bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// A small deterministic generator (no crate, no clock): the same flips on
/// every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What one run on a damaged file may do: exit 5 with one line naming the
/// file, or succeed; never panic.
fn assert_clear(out: &Out, state: &Path, what: &str) {
    let err = out.stderr();
    assert!(
        !err.contains("panicked") && !err.contains("backtrace") && out.code() != 101,
        "{what}: a panic\n{}",
        out.all()
    );
    assert!(
        out.code() == 0 || out.code() == 5,
        "{what}: exit {}\n{}",
        out.code(),
        out.all()
    );
    if out.code() == 5 {
        assert!(
            err.contains(&state.display().to_string()),
            "{what}: the error names the file\n{err}"
        );
        assert!(err.contains("sync --apply --adopt"), "{what}: {err}");
    }
}

#[test]
fn flipped_bytes_are_refused_or_read_correctly_never_a_panic_or_another_address() {
    let (env, addrs) = blocked(40);
    let written: BTreeSet<String> = addrs.iter().cloned().collect();
    let clean = std::fs::read(&env.state).unwrap();
    // Half the flips aimed at the records (their address bytes and the
    // bytes around them), half anywhere in the used part of the file.
    let mut aimed: Vec<usize> = Vec::new();
    for a in &addrs {
        let octets: Vec<u8> = a.split('.').map(|o| o.parse().unwrap()).collect();
        for at in find_all(&clean, &octets) {
            aimed.extend(at.saturating_sub(6)..(at + 12).min(clean.len()));
        }
    }
    assert!(!aimed.is_empty(), "the records hold their address bytes");
    let used: Vec<usize> = (0..clean.len()).filter(|&i| clean[i] != 0).collect();
    let mut rng = Lcg(0x5eed_2024);
    let (mut refused, mut read) = (0, 0);
    for round in 0..160 {
        let at = if round % 2 == 0 {
            aimed[rng.below(aimed.len())]
        } else {
            used[rng.below(used.len())]
        };
        let bit = 1u8 << rng.below(8);
        let mut damaged = clean.clone();
        damaged[at] ^= bit;
        std::fs::write(&env.state, &damaged).unwrap();
        let what = format!("byte {at} ^ {bit:#04x}");
        let out = env.run(&["list", "--all", "--json"]);
        assert_clear(&out, &env.state, &what);
        if out.code() == 0 {
            read += 1;
            let rows: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
            let listed: BTreeSet<String> = rows
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["address"].as_str().unwrap().to_string())
                .collect();
            let foreign: Vec<&String> = listed.difference(&written).collect();
            assert!(
                foreign.is_empty(),
                "{what}: listed {foreign:?}, never written"
            );
        } else {
            refused += 1;
        }
        // The commands that write, stats and check, on every fourth damage.
        if round % 4 == 0 {
            for args in [
                &["sweep"][..],
                &["block", "203.0.113.9"],
                &["unblock", "198.51.100.1"],
                &["stats"],
                &["check"],
            ] {
                std::fs::write(&env.state, &damaged).unwrap();
                let out = env.run(args);
                let what = format!("{what}, {args:?}");
                let err = out.stderr();
                assert!(
                    !err.contains("panicked") && out.code() != 101,
                    "{what}: a panic\n{}",
                    out.all()
                );
                if args[0] == "check" {
                    // check exits 5 for the state, 0 when it reads; the
                    // LoadMaster's lines pass.
                    assert!(out.code() == 0 || out.code() == 5, "{what}: {}", out.all());
                } else {
                    assert_clear(&out, &env.state, &what);
                }
            }
        }
    }
    eprintln!("160 flips: {refused} refused (exit 5), {read} read correctly");
    assert!(refused > 10, "the aimed flips are noticed: {refused}");
}

#[test]
fn a_flipped_bit_in_a_records_address_is_refused_by_name() {
    let (env, _) = blocked(3);
    let mut bytes = std::fs::read(&env.state).unwrap();
    // 198.51.100.2 in the record's value (and in the old copy of its page
    // that redb's copy-on-write left): flipping the top bit of its first
    // byte makes it 70.51.100.2, a valid address.
    let at = find_all(&bytes, &[198, 51, 100, 2]);
    assert!(!at.is_empty(), "the record holds it");
    for i in at {
        bytes[i] ^= 0x80;
    }
    std::fs::write(&env.state, &bytes).unwrap();
    let out = env.run(&["list", "--all"]);
    assert_eq!(out.code(), 5, "{}", out.all());
    assert!(!out.stdout().contains("70.51.100.2"), "{}", out.stdout());
    let err = out.stderr();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&env.state.display().to_string()) && err.contains("198.51.100.2"),
        "names the file and the record: {err}"
    );
    assert!(err.contains("damaged"), "{err}");
    // check says so, on the state line.
    let out = env.run(&["check"]);
    assert_eq!(out.code(), 5, "{}", out.all());
    let line = out.check_line("state database").unwrap();
    assert!(
        line.starts_with('✘') && line.contains("198.51.100.2"),
        "{line}"
    );
    // A sweep when it is due refuses too, and sends nothing about it.
    let out = env.run(&["sweep"]);
    assert!(out.code() == 0 || out.code() == 5, "{}", out.all());
    assert!(!out.stderr().contains("panicked"));
    assert_eq!(env.calls_for("delblock", "70.51.100.2"), 0);
    assert_eq!(env.calls_for("addblock", "70.51.100.2"), 0);
}

#[test]
fn a_lost_or_damaged_state_is_rebuilt_from_the_loadmaster_and_works_again() {
    let (env, addrs) = blocked(3);
    assert_eq!(env.on_lm_sorted(Scope::Global), addrs);
    // The state is damaged beyond reading.
    let mut bytes = std::fs::read(&env.state).unwrap();
    bytes[..64].fill(0xff);
    std::fs::write(&env.state, &bytes).unwrap();
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 5, "{}", out.all());
    let err = out.stderr();
    let aside = format!("mv {s} {s}.damaged", s = env.state.display().to_string());
    assert!(err.contains(&aside), "says how to move it aside: {err}");
    // The way back, as the error says: move it aside, adopt.
    std::fs::rename(&env.state, env.state.with_extension("redb.damaged")).unwrap();
    let out = env.run(&["sync"]);
    assert!(out.stdout().contains("orphaned 3"), "{}", out.all());
    let out = env.run(&["sync", "--apply", "--adopt"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    for a in &addrs {
        assert_eq!(env.status_of(a), "active", "{a} is back in the state");
    }
    let out = env.run(&["sync"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("agree"),
        "in step again: {}",
        out.all()
    );
    // They can be unblocked again...
    let out = env.run(&["unblock", &addrs[0]]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on_lm_sorted(Scope::Global), addrs[1..]);
    // ...and they expire: a sweep after the default duration lifts them.
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 400 * 3600;
    let out = Out(env
        .cmd()
        .env("LMGUARD_TEST_NOW", later.to_string())
        .arg("sweep")
        .output()
        .unwrap());
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        env.on_lm(Scope::Global).is_empty(),
        "{:?}",
        env.on_lm(Scope::Global)
    );
    assert_eq!(env.status_of(&addrs[1]), "expired");
}

/// An index row whose record is gone (a flipped byte in the key of a
/// record, or in the row of the `due` index that names it) must not make
/// sweep pass over the block silently: it would stay on the LoadMaster for
/// ever while sweep says "expired 2 of 2 due", exit 0. Every copy of one
/// key in the file is damaged in turn: sweep, once the blocks are due,
/// either refuses the file (exit 5) or expires every one of them.
#[test]
fn a_flipped_byte_in_an_index_row_never_lets_sweep_pass_a_due_block_silently() {
    let env = Env::new();
    let addrs = ["198.51.100.57", "198.51.100.58", "198.51.100.59"];
    let mut args = vec!["block", "--duration", "1h"];
    args.extend(addrs);
    let out = env.run(&args);
    assert_eq!(out.code(), 0, "{}", out.all());
    let clean = std::fs::read(&env.state).unwrap();
    // The last digit of 198.51.100.57 in the key, wherever the key is
    // stored (the record's key, the index rows, old page copies).
    let copies = find_all(&clean, b"global|198.51.100.57");
    assert!(copies.len() >= 3, "the key and its index rows: {copies:?}");
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3 * 3600;
    for at in copies {
        let mut damaged = clean.clone();
        damaged[at + "global|198.51.100.5".len()] ^= 0x02; // 57 -> 55
        std::fs::write(&env.state, &damaged).unwrap();
        let what = format!("key copy at byte {at}");
        let out = Out(env
            .cmd()
            .env("LMGUARD_TEST_NOW", later.to_string())
            .arg("sweep")
            .output()
            .unwrap());
        assert_clear(&out, &env.state, &what);
        if out.code() == 0 {
            for a in addrs {
                assert_eq!(env.status_of(a), "expired", "{what}: {a}\n{}", out.all());
            }
        }
    }
}

/// A state file cut to nothing (a full disk, a restore gone wrong) holds
/// no record any more: `list` refuses it (exit 5), and `block` — which
/// must not lose the events it was given — starts a new state there, but
/// says so, naming the file and the way back, instead of leaving the
/// blocks it recorded on the LoadMaster for ever without a word.
#[test]
fn an_emptied_state_file_is_said_when_block_starts_anew_in_it() {
    let (env, addrs) = blocked(3);
    let first = env.run(&["block", "203.0.113.8"]);
    assert!(!first.stderr().contains("empty"), "{}", first.all());
    std::fs::write(&env.state, b"").unwrap();
    let out = env.run(&["list"]);
    assert_eq!(out.code(), 5, "{}", out.all());
    let out = env.run(&["block", "203.0.113.9"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let err = out.stderr();
    assert!(
        err.contains(&env.state.display().to_string())
            && err.contains("empty")
            && err.contains("sync --apply --adopt"),
        "{err}"
    );
    // Said once: the next run finds a state again.
    let out = env.run(&["block", "203.0.113.10"]);
    assert!(!out.stderr().contains("empty"), "{}", out.all());
    // And the way back it names works: the earlier blocks return.
    let out = env.run(&["sync", "--apply", "--adopt"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    for a in &addrs {
        assert_eq!(env.status_of(a), "active", "{a}");
    }
}
