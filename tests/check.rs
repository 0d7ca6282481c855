//! `lmguard check` against the fake LoadMaster: the passing set-up, and each
//! failing case with its ✘ line, its fix and its exit code.

use crate::common;

use std::os::unix::fs::PermissionsExt;

use common::{Env, Out, KEY};
use fake_loadmaster::{FakeLoadMaster, Fault, Options, PacketFilterOff, Scope};

/// A harness whose key file is private, as the README tells operators.
fn env() -> Env {
    let env = Env::new();
    private_key(&env);
    env
}

fn private_key(env: &Env) {
    let key = env.dir.path().join("api-key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn ca_line(env: &Env) -> String {
    format!(
        "ca_file = \"{}\"\n",
        env.dir.path().join("lm.pem").display()
    )
}

fn check(env: &Env) -> Out {
    env.run(&["check"])
}

fn line(out: &Out, name: &str) -> Option<String> {
    out.check_line(name)
}

fn mark(out: &Out, name: &str) -> char {
    line(out, name)
        .unwrap_or_else(|| panic!("no line for {name}:\n{}", out.all()))
        .chars()
        .next()
        .unwrap()
}

/// The fix printed under a ✘ line.
fn fix_after(out: &Out, name: &str) -> String {
    let text = out.stdout();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with(&format!("✘ {name}:")))
        .unwrap_or_else(|| panic!("no ✘ {name}:\n{text}"));
    let fix = lines.get(at + 1).copied().unwrap_or("");
    assert!(
        fix.trim_start().starts_with("fix: "),
        "no fix under ✘ {name}:\n{text}"
    );
    fix.to_string()
}

fn assert_no_key(out: &Out) {
    assert!(
        !out.all().contains(KEY),
        "the API key leaked:\n{}",
        out.all()
    );
}

#[test]
fn a_good_set_up_passes_every_check() {
    let env = env();
    let out = check(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    for name in [
        "configuration",
        "API key file",
        "state database",
        "TLS connection",
        "API key",
        "global block list",
        "firmware",
        "access lists",
    ] {
        assert_eq!(mark(&out, name), '✔', "{name}:\n{}", out.all());
    }
    let text = out.stdout();
    assert!(
        text.contains(&env.config.canonicalize().unwrap().display().to_string()),
        "{text}"
    );
    assert!(text.contains("mode 0600"), "{text}");
    assert!(text.contains("will be created"), "{text}");
    assert!(text.contains("ca_file"), "{text}");
    assert!(text.ends_with("all 8 checks passed\n"), "{text}");
    assert!(out.stderr().is_empty(), "{}", out.stderr());
    assert_no_key(&out);
    // It changes nothing: no state database, only reads on the LoadMaster.
    assert!(!env.state.exists());
    let commands: Vec<String> = env
        .lm
        .requests()
        .iter()
        .map(|r| {
            let op = ["add", "del", "list", "addvs", "delvs", "listvs"]
                .into_iter()
                .find(|op| r.param(op).is_some())
                .unwrap_or("-");
            format!("{} {op}", r.cmd().unwrap_or("?"))
        })
        .collect();
    assert_eq!(
        commands,
        ["aclcontrol list", "get -", "aclcontrol.isenabled -"]
    );
}

#[test]
fn an_existing_state_database_is_read_and_counted() {
    let env = env();
    let out = env.run(&["block", "192.0.2.7", "198.51.100.0/24"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let out = env.run(&["unblock", "192.0.2.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let out = check(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    let state = line(&out, "state database").unwrap();
    assert!(
        state.contains("2 entries (1 active, 0 pending, 1 history)"),
        "{state}"
    );
    let list = line(&out, "global block list").unwrap();
    assert!(list.contains("1 entry, 1 of them lmguard's"), "{list}");
}

/// Adopted entries are lmguard's (the ownership rule every deleting path
/// uses): `check` counts them as such, and someone else's entry added
/// afterwards as not.
#[test]
fn check_counts_adopted_entries_as_lmguards() {
    let env = env();
    env.lm
        .insert_entry(Scope::Global, "198.51.100.7", "ADS ID 123 - SCANS");
    env.lm
        .insert_entry(Scope::Global, "198.51.100.8/32", "ADS ID 124 - SCANS");
    let out = env.run(&["sync", "--adopt"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    env.lm
        .insert_entry(Scope::Global, "198.51.100.9", "SOC: keep");
    env.lm
        .insert_entry(Scope::Global, "198.51.100.10", "lmguard manual");
    let out = check(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    let list = line(&out, "global block list").unwrap();
    assert!(list.contains("4 entries, 3 of them lmguard's"), "{list}");
}

#[test]
fn a_key_file_others_can_read_is_a_warning() {
    let env = Env::new();
    let key = env.dir.path().join("api-key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = check(&env);
    assert_eq!(out.code(), 0, "a warning is not a failure:\n{}", out.all());
    assert_eq!(mark(&out, "API key file"), '!', "{}", out.all());
    assert!(out
        .stdout()
        .contains(&format!("chmod 600 {}", key.display())));
    assert!(
        out.stdout().ends_with("all 7 checks passed, 1 warning\n"),
        "{}",
        out.stdout()
    );
    assert_no_key(&out);
}

#[test]
fn a_refused_key_is_a_failure_with_exit_3_and_is_sent_once() {
    let env = env();
    std::fs::write(env.dir.path().join("api-key"), "not-the-key\n").unwrap();
    let out = check(&env);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(mark(&out, "TLS connection"), '✔', "{}", out.all());
    assert_eq!(mark(&out, "API key"), '✘', "{}", out.all());
    assert!(fix_after(&out, "API key").contains("API Keys"));
    assert_eq!(mark(&out, "global block list"), '-', "{}", out.all());
    assert_eq!(mark(&out, "access lists"), '-', "{}", out.all());
    assert_eq!(env.lm.request_count(), 1, "a 401 is never retried");
    let stderr = out.stderr();
    assert!(
        stderr.starts_with("lmguard: 1 check failed (API key)"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!out.all().contains("not-the-key"));
}

#[test]
fn a_loadmaster_that_is_down_is_exit_3() {
    let env = env();
    env.lm.set_fault(Fault::Down);
    let out = check(&env);
    assert_eq!(out.code(), 3, "{}", out.all());
    let tls = line(&out, "TLS connection").unwrap();
    assert!(
        tls.starts_with("✘") && tls.contains("cannot connect"),
        "{tls}"
    );
    assert!(fix_after(&out, "TLS connection").contains("loadmaster.url"));
    for name in ["API key", "global block list", "access lists"] {
        assert_eq!(mark(&out, name), '-', "{name}:\n{}", out.all());
    }
    // The local checks still ran.
    assert_eq!(mark(&out, "state database"), '✔');
    assert_eq!(mark(&out, "API key file"), '✔');
}

#[test]
fn an_untrusted_certificate_is_exit_3_with_the_openssl_fix() {
    let env = env();
    let other = FakeLoadMaster::start(Options::default()).unwrap();
    std::fs::write(env.dir.path().join("lm.pem"), other.ca_pem()).unwrap();
    let out = check(&env);
    assert_eq!(out.code(), 3, "{}", out.all());
    let tls = line(&out, "TLS connection").unwrap();
    assert!(tls.starts_with("✘") && tls.contains("not trusted"), "{tls}");
    let fix = fix_after(&out, "TLS connection");
    assert!(
        fix.contains("openssl s_client -connect 127.0.0.1:"),
        "{fix}"
    );
    assert!(fix.contains("ca_file"), "{fix}");
    assert_eq!(mark(&out, "API key"), '-');
    assert_eq!(env.lm.request_count(), 0, "no request without trust");
    assert_no_key(&out);
}

#[test]
fn a_pinned_certificate_and_insecure_mode_are_reported() {
    let env = env();
    let pin = env.lm.leaf_sha256_fingerprint();
    env.write_config(&format!("tls_sha256 = \"{pin}\"\n"), "");
    let out = check(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(line(&out, "TLS connection").unwrap().contains("tls_sha256"));

    env.write_config("insecure_skip_tls_verify = true\n", "");
    let out = check(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    let tls = line(&out, "TLS connection").unwrap();
    assert!(
        tls.starts_with('!') && tls.contains("NOT verified"),
        "{tls}"
    );
    assert!(out
        .stdout()
        .contains("hint: save the LoadMaster's certificate"));
}

#[test]
fn an_unreadable_key_file_is_exit_2() {
    let env = env();
    let key = env.dir.path().join("api-key");
    std::fs::remove_file(&key).unwrap();
    let out = check(&env);
    assert_eq!(out.code(), 2, "{}", out.all());
    let text = line(&out, "API key file").unwrap();
    assert!(
        text.starts_with('✘') && text.contains("cannot read"),
        "{text}"
    );
    assert!(fix_after(&out, "API key file").contains("chmod 600"));
    for name in [
        "TLS connection",
        "API key",
        "global block list",
        "access lists",
    ] {
        assert_eq!(mark(&out, name), '-', "{name}:\n{}", out.all());
    }
    assert_eq!(env.lm.request_count(), 0);

    std::fs::write(&key, "\n").unwrap();
    let out = check(&env);
    assert_eq!(out.code(), 2, "{}", out.all());
    assert!(line(&out, "API key file").unwrap().contains("is empty"));

    // Unreadable by mode (root reads anything, so only as another user).
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&key).is_err() {
        let out = check(&env);
        assert_eq!(out.code(), 2, "{}", out.all());
        assert_eq!(mark(&out, "API key file"), '✘');
    }
}

#[test]
fn a_corrupt_state_database_is_exit_5() {
    let env = env();
    std::fs::create_dir_all(env.state.parent().unwrap()).unwrap();
    std::fs::write(&env.state, b"definitely not a redb database").unwrap();
    let out = check(&env);
    assert_eq!(out.code(), 5, "{}", out.all());
    let state = line(&out, "state database").unwrap();
    assert!(
        state.starts_with('✘') && state.contains("state.redb"),
        "{state}"
    );
    assert!(fix_after(&out, "state database").contains("move it aside"));
    // The other checks still ran and passed.
    assert_eq!(mark(&out, "TLS connection"), '✔');
    assert_eq!(mark(&out, "access lists"), '✔');
    assert_eq!(
        std::fs::read(&env.state).unwrap(),
        b"definitely not a redb database",
        "check must not touch it"
    );
}

#[test]
fn the_highest_exit_code_wins() {
    let env = env();
    std::fs::create_dir_all(env.state.parent().unwrap()).unwrap();
    std::fs::write(&env.state, b"not redb").unwrap();
    env.lm.set_fault(Fault::Down);
    let out = check(&env);
    assert_eq!(out.code(), 5, "{}", out.all());
    assert!(
        out.stderr()
            .contains("2 checks failed (state database, TLS connection)"),
        "{}",
        out.stderr()
    );
}

#[test]
fn loadmaster_side_refusals_are_exit_3() {
    let env = env();
    env.lm.set_forbidden(true);
    let out = check(&env);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(mark(&out, "API key"), '✔');
    assert_eq!(mark(&out, "global block list"), '✘');
    assert!(out.stdout().contains("HTTP 403"));
    env.lm.set_forbidden(false);

    env.lm.set_api_disabled(true);
    let out = check(&env);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(mark(&out, "API key"), '✘');
    assert!(fix_after(&out, "API key").contains("Enable API Interface"));
}

#[test]
fn a_packet_filter_that_is_off_fails_and_an_unreadable_answer_warns() {
    let env = env();
    env.lm.set_packet_filter_off(Some(PacketFilterOff::Ok));
    let out = check(&env);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(mark(&out, "access lists"), '✘', "{}", out.all());
    assert!(fix_after(&out, "access lists").contains("Packet Routing Filter"));
    env.lm.set_packet_filter_off(None);

    // The list answers; the isenabled request gets no answer: "could not tell".
    env.lm.set_fault(Fault::FailAfter(1));
    let out = check(&env);
    assert_eq!(out.code(), 0, "never a failure:\n{}", out.all());
    let filter = line(&out, "access lists").unwrap();
    assert!(
        filter.starts_with('!') && filter.contains("could not tell"),
        "{filter}"
    );
    assert_eq!(mark(&out, "global block list"), '✔');
}

#[test]
fn the_configured_virtual_service_list_is_read_too() {
    let env = env();
    env.write_config(&ca_line(&env), "[block]\nvs = 3\n");
    let out = check(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(mark(&out, "VS 3 block list"), '✔', "{}", out.all());

    env.write_config(&ca_line(&env), "[block]\nvs = 9\n");
    let out = check(&env);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(mark(&out, "VS 9 block list"), '✘', "{}", out.all());
    assert!(fix_after(&out, "VS 9 block list").contains("[block] vs"));
}

#[test]
fn a_broken_configuration_stops_before_any_check() {
    let env = env();
    env.write_config(&ca_line(&env), "[block]\ndurration = \"1h\"\n");
    let out = check(&env);
    assert_eq!(out.code(), 2, "{}", out.all());
    assert!(out.stderr().contains("durration"), "{}", out.stderr());
    assert_eq!(env.lm.request_count(), 0);
}
