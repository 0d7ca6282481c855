//! A state file of format 4 (`tests/fixtures/state-format4.redb`, written
//! before records carried a checksum) is read as it is, converted on the
//! first write, and a flipped bit in one of its records is still refused
//! (its record must agree with its key).

use serde_json::Value;

use crate::common::{fixture, Env};

/// The rows `list --all --json` showed for the fixture when it was made.
fn format4_rows() -> Vec<Value> {
    String::from_utf8(fixture("state-format4.rows.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The fake, configured as the fixture's only LoadMaster (`site1`), with
/// the fixture as its state (`bytes`, perhaps damaged).
fn with_format4_state(bytes: &[u8]) -> Env {
    let env = Env::new();
    let text = format!(
        "[[loadmaster]]\nname = \"site1\"\nurl = \"{url}\"\napi_key_file = \"{key}\"\n\
         ca_file = \"{ca}\"\ntimeout = \"2s\"\n\n[state]\npath = \"{state}\"\n",
        url = env.lm.url(),
        key = env.dir.path().join("api-key").display(),
        ca = env.dir.path().join("lm.pem").display(),
        state = env.state.display(),
    );
    std::fs::write(&env.config, text).unwrap();
    std::fs::create_dir_all(env.state.parent().unwrap()).unwrap();
    std::fs::write(&env.state, bytes).unwrap();
    env
}

fn format_of(env: &Env) -> Option<u64> {
    let store = lmguard::state::Store::open_existing(&env.state, std::time::Duration::from_secs(5))
        .unwrap()
        .unwrap();
    store.format().unwrap()
}

fn assert_rows_kept(env: &Env) {
    let want = format4_rows();
    assert_eq!(want.len(), 7);
    let got = env.rows();
    assert!(got.len() >= want.len(), "{got:#?}");
    for old in &want {
        let new = got
            .iter()
            .find(|r| r["address"] == old["address"] && r["vs"] == old["vs"])
            .unwrap_or_else(|| panic!("{old} lost"));
        for (key, value) in old.as_object().unwrap() {
            assert_eq!(&new[key], value, "{key} of {}", old["address"]);
        }
    }
}

#[test]
fn a_format_4_state_is_read_as_it_is_and_converted_on_the_first_write() {
    let env = with_format4_state(&fixture("state-format4.redb"));
    assert_rows_kept(&env);
    assert_eq!(format_of(&env), Some(4), "reading changes nothing");
    let out = env.run(&["block", "203.0.113.99"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(format_of(&env), Some(lmguard::state::FORMAT_VERSION));
    const { assert!(lmguard::state::FORMAT_VERSION >= 5) };
    assert_rows_kept(&env);
    assert_eq!(env.rows().len(), 8);
    // The converted file is checked as any new one: a flipped address bit
    // in a record is refused.
    let mut bytes = std::fs::read(&env.state).unwrap();
    let at: Vec<usize> = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == [203, 0, 113, 99])
        .map(|(i, _)| i)
        .collect();
    assert!(!at.is_empty());
    for i in at {
        bytes[i] ^= 0x01;
    }
    std::fs::write(&env.state, &bytes).unwrap();
    let out = env.run(&["list", "--all"]);
    assert_eq!(out.code(), 5, "{}", out.all());
    assert!(out.stderr().contains("203.0.113.99"), "{}", out.stderr());
}

#[test]
fn a_flipped_address_bit_in_a_format_4_record_is_refused_by_its_key() {
    let mut bytes = fixture("state-format4.redb");
    // 192.0.2.7 in its record (and in the old copies of its page): with
    // the top bit of its first byte flipped it would read as 64.0.2.7.
    let at: Vec<usize> = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == [192, 0, 2, 7])
        .map(|(i, _)| i)
        .collect();
    assert!(!at.is_empty());
    for i in at {
        bytes[i] ^= 0x80;
    }
    let env = with_format4_state(&bytes);
    let out = env.run(&["list", "--all"]);
    assert_eq!(out.code(), 5, "{}", out.all());
    assert!(!out.stdout().contains("64.0.2.7"), "{}", out.stdout());
    let err = out.stderr();
    assert!(
        err.contains("192.0.2.7") && err.contains(&env.state.display().to_string()),
        "{err}"
    );
}
