//! The promises of interface.md's Guarantees section, each attacked from
//! the binary: other people's entries, a LoadMaster that refuses for good,
//! echoes secrets, redirects or sends answers lmguard cannot read.

mod common;

use std::time::Duration;

use common::Env;
use fake_loadmaster::Scope;

fn deletes(env: &Env) -> usize {
    env.lm
        .requests()
        .iter()
        .filter(|r| r.param("del").is_some() || r.param("delvs").is_some())
        .count()
}

// ----- 1. other people's entries ------------------------------------------------

#[test]
fn sync_apply_leaves_an_address_someone_readded_with_their_own_comment() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    // Unblocked while the LoadMaster is unreachable from here: the entry
    // stays; then somebody replaces it with their own.
    env.lm.clear_lists();
    env.lm.insert_entry(
        Scope::Global,
        "203.0.113.7",
        "SOC: permanent, do not remove",
    );
    let out = env.run(&["unblock", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stdout().contains("left alone"), "{}", out.all());
    assert_eq!(env.status_of("203.0.113.7"), "unblocked");
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);

    let out = env.run(&["sync", "--apply", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(rows[0]["kind"], "foreign", "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"], "{}", out.all());
    assert_eq!(deletes(&env), 0);
}

#[test]
fn sync_apply_does_not_remove_a_stale_address_that_is_now_someone_elses() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    assert_eq!(env.run(&["unblock", "203.0.113.7"]).code(), 0);
    // After lmguard's unblock, somebody blocks it again by hand.
    env.lm
        .insert_entry(Scope::Global, "203.0.113.7", "lmguard-brno ADS 4 SCANS");
    env.lm.clear_requests();
    let out = env.run(&["sync", "--apply"]);
    assert!(out.stdout().contains("foreign"), "{}", out.all());
    assert!(
        !out.stdout().contains("stale_on_loadmaster  "),
        "{}",
        out.all()
    );
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
    assert_eq!(deletes(&env), 0);
}

#[test]
fn unblock_never_follows_another_spelling_of_somebody_elses_entry() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    env.lm.clear_lists();
    env.lm.insert_entry(
        Scope::Global,
        "203.0.113.7/32",
        "SOC: permanent, do not remove",
    );
    env.lm.clear_requests();
    let out = env.run(&["unblock", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stdout().contains("left alone"), "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7/32"]);
    assert_eq!(deletes(&env), 0);
    assert_eq!(env.status_of("203.0.113.7"), "unblocked");
}

#[test]
fn unblock_removes_lmguards_entry_under_the_spelling_the_loadmaster_lists() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    env.lm.clear_lists();
    env.lm
        .insert_entry(Scope::Global, "203.0.113.7/32", "lmguard manual");
    let out = env.run(&["unblock", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(env.on_lm(Scope::Global).is_empty(), "{}", out.all());
}

#[test]
fn sweep_leaves_an_expired_entry_whose_comment_is_no_longer_lmguards() {
    let env = Env::new();
    assert_eq!(
        env.run(&["block", "203.0.113.7", "--duration", "1s"])
            .code(),
        0
    );
    env.lm.clear_lists();
    env.lm
        .insert_entry(Scope::Global, "203.0.113.7", "lmguardX hand-made");
    std::thread::sleep(Duration::from_millis(2100));
    env.lm.clear_requests();
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stdout().contains("left alone"), "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
    assert_eq!(deletes(&env), 0);
    assert_eq!(env.status_of("203.0.113.7"), "expired");
}

// ----- 4. refused for good -------------------------------------------------------

#[test]
fn a_block_in_a_virtual_service_that_does_not_exist_is_rejected_not_retried() {
    let env = Env::new();
    let out = env.run(&["block", "--vs", "99", "203.0.113.7", "198.51.100.7"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    assert!(
        out.stderr().contains("203.0.113.7 (VS 99): rejected"),
        "{}",
        out.stderr()
    );
    assert!(out.stderr().contains("Unknown VS"), "{}", out.stderr());
    let row = env.row("203.0.113.7").unwrap();
    assert_eq!(row["status"], "rejected");
    assert!(
        row["last_error"].as_str().unwrap().contains("Unknown VS"),
        "{row}"
    );
    let table = env.run(&["list", "--all"]);
    assert!(table.stdout().contains("rejected"), "{}", table.stdout());
    assert!(table.stdout().contains("Unknown VS"), "{}", table.stdout());

    // sweep does not retry it.
    env.lm.clear_requests();
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.lm.request_count(), 0);
    // unblock of it only changes local state.
    env.lm.clear_requests();
    let out = env.run(&["unblock", "--vs", "99", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.lm.request_count(), 0, "{}", out.all());
    assert_eq!(env.status_of("203.0.113.7"), "unblocked");
}

#[test]
fn sync_reports_a_scope_it_cannot_read_and_compares_the_others() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "--vs", "3", "203.0.113.7"]).code(), 0);
    assert_eq!(env.run(&["block", "192.0.2.99"]).code(), 0);
    // VS 3 is deleted on the LoadMaster; the global entry is lost.
    env.lm
        .set_virtual_services(fake_loadmaster::default_virtual_services()[..2].to_vec());
    env.lm.clear_lists();
    let out = env.run(&["sync", "--json"]);
    assert!(
        out.stderr().contains("VS 3 block list") && out.stderr().contains("Unknown VS"),
        "{}",
        out.stderr()
    );
    let rows: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(rows[0]["address"], "192.0.2.99", "{}", out.stdout());
    assert_eq!(rows[0]["kind"], "missing_on_loadmaster");
    assert_eq!(out.code(), 6, "{}", out.all());
}
