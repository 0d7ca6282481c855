//! The promises of interface.md's Guarantees section, each attacked from
//! the binary: other people's entries, a LoadMaster that refuses for good,
//! echoes secrets, redirects or sends answers lmguard cannot read.

use crate::common;

use std::time::Duration;

use common::{Env, Out};
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
fn a_removal_from_a_virtual_service_deleted_since_is_settled_not_retried() {
    let env = Env::new();
    let block = ["block", "--vs", "3", "203.0.113.7", "--duration", "1s"];
    assert_eq!(env.run(&block).code(), 0);
    // VS 3 is deleted on the LoadMaster while the block runs.
    env.lm
        .set_virtual_services(fake_loadmaster::default_virtual_services()[..2].to_vec());
    std::thread::sleep(Duration::from_millis(2100));
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    let said = out.stderr();
    assert!(said.contains("203.0.113.7 (VS 3): rejected"), "{said}");
    assert!(said.contains("Unknown VS"), "{said}");
    // What it says about the record is what the record is.
    assert_eq!(env.status_of("203.0.113.7"), "expired");
    assert!(!said.contains("recorded as rejected"), "{said}");
    assert!(said.contains("recorded as ended"), "{said}");
    env.lm.clear_requests();
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.lm.request_count(), 0);
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

// ----- 2. secrets and control characters from the LoadMaster ---------------------

/// Every byte of `haystack` searched for `needle`.
fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_loadmaster_that_quotes_the_key_never_gets_it_printed_logged_or_stored() {
    let log = "[log]\nfile = \"LOG\"\nlevel = \"debug\"\n";
    let env = Env::with(fake_loadmaster::Options::default(), "");
    let log_path = env.dir.path().join("lmguard.log");
    env.write_config(
        &format!(
            "ca_file = \"{}\"\n",
            env.dir.path().join("lm.pem").display()
        ),
        &log.replace("LOG", &log_path.display().to_string()),
    );
    // An entry whose comment carries the key and an escape sequence.
    env.lm.insert_entry(
        Scope::Global,
        "198.51.100.66",
        &format!("\x1b]0;pwned\x07\x1b[31m{} lmguard", common::KEY),
    );
    env.lm.set_hostile(fake_loadmaster::Hostile {
        echo_key_in_errors: true,
        ..Default::default()
    });
    // A refused add (duplicate), a refused list (unknown VS), a refused delete.
    env.lm
        .set_duplicate_add(fake_loadmaster::DuplicateAdd::Error);
    let mut outputs: Vec<Vec<u8>> = Vec::new();
    let mut run = |args: &[&str]| {
        let out = env.run(args);
        outputs.push(out.0.stdout.clone());
        outputs.push(out.0.stderr.clone());
        out
    };
    env.lm.set_require_prefix(true);
    let out = run(&["block", "203.0.113.7", "-v"]);
    env.lm.set_require_prefix(false);
    let _ = out;
    run(&["block", "--vs", "99", "203.0.113.8"]);
    run(&["block", "--vs", "2", "203.0.113.9"]);
    env.lm.set_invalid_address_status(400);
    run(&["sync"]);
    run(&["sync", "--json"]);
    run(&["sync", "--apply"]);
    run(&["check"]);
    run(&["sweep"]);
    run(&["list", "--all"]);
    run(&["list", "--all", "--json"]);
    env.lm.set_forbidden(true);
    run(&["unblock", "203.0.113.7"]);
    env.lm.set_forbidden(false);
    env.lm.set_api_key("rotated");
    run(&["sweep"]);
    run(&["check"]);

    let quoted = env
        .lm
        .requests()
        .iter()
        .filter(|r| r.status.is_some_and(|s| s >= 400))
        .count();
    assert!(quoted >= 3, "the fake refused and quoted {quoted} requests");
    let key = common::KEY.as_bytes();
    for (i, bytes) in outputs.iter().enumerate() {
        assert!(
            !contains_bytes(bytes, key),
            "output {i}: {}",
            String::from_utf8_lossy(bytes)
        );
        assert!(
            !bytes.contains(&0x1b),
            "output {i} carries an ESC: {}",
            String::from_utf8_lossy(bytes)
        );
    }
    let log = std::fs::read(&log_path).unwrap();
    assert!(!log.is_empty());
    assert!(
        !contains_bytes(&log, key),
        "{}",
        String::from_utf8_lossy(&log)
    );
    assert!(!log.contains(&0x1b));
    let state = std::fs::read(&env.state).unwrap();
    assert!(!contains_bytes(&state, key));
    // A binary file: look for the escape sequences themselves.
    assert!(!contains_bytes(&state, b"\x1b]0;") && !contains_bytes(&state, b"\x1b[31m"));
    // What was refused is still explained.
    let all: Vec<u8> = outputs.concat();
    assert!(
        contains_bytes(&all, b"<api key>"),
        "the key is shown redacted"
    );
}

#[test]
fn a_url_with_credentials_is_refused_without_echoing_them() {
    let env = Env::new();
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("https://127.0.0.1", "https://admin:hunter2@127.0.0.1");
    std::fs::write(&env.config, text).unwrap();
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    assert!(!out.all().contains("hunter2"), "{}", out.all());
    assert!(out.stderr().contains("***@127.0.0.1"), "{}", out.stderr());
}

#[test]
fn a_firmware_version_that_quotes_the_key_is_shown_without_it() {
    let env = Env::new();
    env.lm
        .set_firmware_version(fake_loadmaster::FirmwareVersion::Top(format!(
            "7.2.59 {}",
            common::KEY
        )));
    let out = env.run(&["check"]);
    assert!(out.stdout().contains("7.2.59"), "{}", out.all());
    assert!(!out.all().contains(common::KEY), "{}", out.all());
}

// ----- 5. answers lmguard cannot read ----------------------------------------------

#[test]
fn a_redirect_is_a_failure_never_followed_whatever_its_body_says() {
    for status in [301, 302, 307, 308] {
        let env = Env::new();
        env.lm.set_hostile(fake_loadmaster::Hostile {
            redirect: Some(status),
            ..Default::default()
        });
        let out = env.run(&["block", "203.0.113.7"]);
        assert_eq!(out.code(), 3, "{status}: {}", out.all());
        assert!(
            out.stderr().contains(&format!("HTTP {status}")),
            "{}",
            out.stderr()
        );
        assert_eq!(env.status_of("203.0.113.7"), "pending_block");
        assert_eq!(env.lm.request_count(), 1, "not followed, not retried");
    }
}

// ----- 3. simulate mode calls nothing -----------------------------------------------

fn edits(env: &Env) -> usize {
    env.lm
        .requests()
        .iter()
        .filter(|r| {
            ["add", "addvs", "del", "delvs"]
                .iter()
                .any(|op| r.param(op).is_some())
        })
        .count()
}

#[test]
fn simulate_mode_sends_nothing_from_sweep_unblock_or_sync() {
    let env = Env::new();
    // Real blocks first: one that expires, one left pending, one to unblock.
    assert_eq!(
        env.run(&["block", "203.0.113.7", "--duration", "1s"])
            .code(),
        0
    );
    assert_eq!(env.run(&["block", "203.0.113.9"]).code(), 0);
    env.lm.set_fault(fake_loadmaster::Fault::Down);
    assert_eq!(env.run(&["block", "203.0.113.8"]).code(), 3);
    env.lm.set_fault(fake_loadmaster::Fault::None);
    env.write_config(
        &format!(
            "ca_file = \"{}\"\n",
            env.dir.path().join("lm.pem").display()
        ),
        "[block]\nmode = \"simulate\"\n",
    );
    std::thread::sleep(Duration::from_millis(2100));
    env.lm.clear_requests();

    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stdout().contains("not sent"), "{}", out.stdout());
    let out = env.run(&["unblock", "203.0.113.9"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stdout().contains("not sent"), "{}", out.stdout());
    let out = env.run(&["sync", "--apply"]);
    assert!(out.stdout().contains("mode = simulate"), "{}", out.all());
    assert_eq!(edits(&env), 0, "{:?}", env.lm.requests());
    // Nothing was recorded as done that was not done.
    assert_eq!(env.status_of("203.0.113.8"), "pending_block");
    assert_eq!(env.status_of("203.0.113.9"), "active");
    assert_eq!(env.status_of("203.0.113.7"), "active");
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["203.0.113.7", "203.0.113.9"]
    );
}

// ----- 9. clock sanity -------------------------------------------------------------

#[test]
fn a_clock_before_2020_is_exit_2_never_a_panic() {
    let env = Env::new();
    for args in [
        vec!["block", "203.0.113.7"],
        vec!["sweep"],
        vec!["list"],
        vec!["sync"],
        vec!["unblock", "203.0.113.7"],
        vec!["check"],
    ] {
        let out = Out(env
            .cmd()
            .env("LMGUARD_TEST_NOW", "1000")
            .args(&args)
            .output()
            .unwrap());
        assert_eq!(out.code(), 2, "{args:?}: {}", out.all());
        assert!(
            out.stderr().contains("the system clock is wrong"),
            "{}",
            out.stderr()
        );
        assert!(!out.stderr().contains("panicked"));
    }
    assert_eq!(env.lm.request_count(), 0);
    assert!(!env.state.exists(), "nothing was recorded");
}

#[test]
fn sweep_and_check_warn_about_blocks_recorded_by_a_fast_clock() {
    let env = Env::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let fast = (now + 10 * 86_400).to_string();
    let out = Out(env
        .cmd()
        .env("LMGUARD_TEST_NOW", &fast)
        .args(["block", "203.0.113.7"])
        .output()
        .unwrap());
    assert_eq!(out.code(), 0, "{}", out.all());
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stderr().contains("more than a day in the future")
            && out.stderr().contains("203.0.113.7"),
        "{}",
        out.stderr()
    );
    let out = env.run(&["check"]);
    assert!(
        out.stdout().contains("more than a day in the future"),
        "{}",
        out.stdout()
    );
    // Once it is gone, sweep is quiet again.
    assert_eq!(env.run(&["unblock", "203.0.113.7"]).code(), 0);
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    let out = env.run(&["sweep"]);
    assert!(!out.stderr().contains("future"), "{}", out.stderr());
}

// ----- 7. configuration that decides where the key goes ------------------------------

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_config_file_others_can_write_is_refused_unless_named_with_config() {
    let env = Env::new();
    set_mode(&env.config, 0o666);
    // Found through the environment: refused, nothing done.
    let out = Out(assert_cmd::Command::cargo_bin("lmguard")
        .unwrap()
        .env("LMGUARD_CONFIG", &env.config)
        .args(["block", "203.0.113.7"])
        .output()
        .unwrap());
    assert_eq!(out.code(), 2, "{}", out.all());
    assert!(out.stderr().contains("writable by"), "{}", out.stderr());
    assert!(out.stderr().contains("--config"), "{}", out.stderr());
    assert_eq!(env.lm.request_count(), 0);
    // Named with --config: a loud warning, and it works.
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(out.stderr().contains("WARNING"), "{}", out.stderr());
    // check reports it.
    let out = env.run(&["check"]);
    assert!(out.stdout().contains("writable by"), "{}", out.stdout());
    set_mode(&env.config, 0o644);
    let out = env.run(&["check"]);
    assert!(!out.stdout().contains("writable by"), "{}", out.stdout());
}

#[test]
fn a_url_with_a_bad_port_or_no_host_is_exit_2_at_load() {
    let env = Env::new();
    let good = std::fs::read_to_string(&env.config).unwrap();
    let url = env.lm.url();
    for bad in [
        "https://127.0.0.1:99999".to_string(),
        "https://127.0.0.1:0".to_string(),
        "https://127.0.0.1:x".to_string(),
        "https://:443".to_string(),
        "https://[::1".to_string(),
    ] {
        std::fs::write(&env.config, good.replace(&url, &bad)).unwrap();
        let out = env.run(&["block", "203.0.113.7"]);
        assert_eq!(out.code(), 2, "{bad}: {}", out.all());
        assert!(out.stderr().contains("loadmaster.url"), "{}", out.stderr());
        assert!(!env.state.exists(), "{bad}: nothing recorded");
    }
}

// ----- 8. addresses --------------------------------------------------------------

#[test]
fn an_ipv4_mapped_source_is_blocked_as_ipv4_and_protected_as_ipv4() {
    let env = Env::new();
    let out = env.run(&["block", "::ffff:198.51.100.20"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global), ["198.51.100.20"]);
    assert_eq!(env.status_of("198.51.100.20"), "active");
    let out = env.run(&["block", "::ffff:127.0.0.1"]);
    assert_eq!(out.code(), 4, "loopback stays protected: {}", out.all());
    assert_eq!(env.on_lm(Scope::Global), ["198.51.100.20"]);
}

#[test]
fn ipv6_prefix_never_widens_inside_nat64_or_mapped_ranges() {
    let env = Env::with(
        fake_loadmaster::Options::default(),
        "[block]\nipv6_prefix = 64\n",
    );
    let out = env.run(&["block", "64:ff9b::198.51.100.20", "2001:db8:1:2::7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["2001:db8:1:2::/64", "64:ff9b::c633:6414/128"]
    );
}

#[test]
fn sync_adopt_adopts_up_to_max_active_and_reports_the_rest() {
    let env = Env::with(
        fake_loadmaster::Options::default(),
        "[block]\nmax_active = 3\n",
    );
    assert_eq!(env.run(&["block", "192.0.2.1"]).code(), 0);
    for i in 1..=4 {
        env.lm.insert_entry(
            Scope::Global,
            &format!("198.51.100.{i}"),
            "ADS ID 1 - SCANS",
        );
    }
    let out = env.run(&["sync", "--adopt"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    assert!(out.stderr().contains("max_active"), "{}", out.stderr());
    let active = env
        .rows()
        .iter()
        .filter(|r| r["status"] == "active")
        .count();
    assert_eq!(active, 3);
    assert!(
        out.stdout().contains("not adopted: max_active reached"),
        "{}",
        out.stdout()
    );
}

fn hostile_lists(env: &Env, body: String) {
    env.lm.set_hostile(fake_loadmaster::Hostile {
        list_body: Some(std::sync::Arc::new(body)),
        ..Default::default()
    });
}

#[test]
fn every_list_shape_is_read_and_an_unknown_one_is_an_error_not_an_empty_list() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    let entry = r#"{"addr":"203.0.113.7","comment":"lmguard manual"}"#;
    for shape in [
        format!(r#"{{"code":200,"status":"ok","Blacklist":[{entry}]}}"#),
        format!(r#"{{"code":200,"status":"ok","Blocklist":{{"IP":{entry}}}}}"#),
        format!(
            r#"{{"code":200,"status":"ok","VS":[{{"Index":1,"Blocklist":{{"IP":[{entry}]}}}}]}}"#
        ),
        r#"{"code":200,"status":"ok","Acl":["203.0.113.7"]}"#.to_string(),
    ] {
        hostile_lists(&env, shape.clone());
        let out = env.run(&["sync"]);
        assert_eq!(out.code(), 0, "{shape}: {}", out.all());
    }
    // An ok answer with no list lmguard knows: an error naming what it has,
    // and no re-add planned from it.
    hostile_lists(
        &env,
        r#"{"code":200,"status":"ok","Data":{"Entries":[{"addr":"203.0.113.7"}]}}"#.to_string(),
    );
    env.lm.clear_requests();
    let out = env.run(&["sync", "--apply"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(out.stderr().contains("\"Data\""), "{}", out.stderr());
    assert_eq!(edits(&env), 0);
    // A delete is never settled as done from it: the unblock stays pending.
    let out = env.run(&["unblock", "203.0.113.7"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(env.status_of("203.0.113.7"), "pending_unblock");
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
}

/// Run lmguard and return its exit code, peak resident memory (KiB) and
/// standard error.
///
/// Linux carries a process's memory high-water mark across exec, and a
/// child spawned from this (large) test process starts with it. So lmguard
/// is started by a fresh copy of this test binary (`rss_probe` below), whose
/// own memory is small, and measured there with wait4.
fn run_measured(env: &Env, args: &[&str]) -> (i32, i64, String) {
    let mut probe_args = vec![
        assert_cmd::cargo::cargo_bin("lmguard")
            .display()
            .to_string(),
        "--config".to_string(),
        env.config.display().to_string(),
    ];
    probe_args.extend(args.iter().map(|a| a.to_string()));
    // The probe's name in this test binary (`promises::rss_probe`).
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let probe = format!("{module}::rss_probe");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &probe, "--nocapture", "--test-threads", "1"])
        .env("LMGUARD_RSS_PROBE", probe_args.join("\u{1f}"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| -> String {
        text.lines()
            .find_map(|l| l.find(name).map(|at| &l[at + name.len()..]))
            .unwrap_or_else(|| panic!("no {name} in the probe's output: {text}"))
            .to_string()
    };
    (
        field("PROBE-CODE ").parse().unwrap(),
        field("PROBE-RSS ").parse().unwrap(),
        field("PROBE-STDERR ").replace('\u{1f}', "\n"),
    )
}

/// Not a test of its own: started by [`run_measured`] with the command to
/// measure; does nothing otherwise.
#[test]
fn rss_probe() {
    let Ok(command) = std::env::var("LMGUARD_RSS_PROBE") else {
        return;
    };
    let parts: Vec<&str> = command.split('\u{1f}').collect();
    // Reaped below with wait4, which std's wait cannot give the rusage of.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(parts[0])
        .args(&parts[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.unwrap(), &mut stderr).unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child; status and usage are valid for writes.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    println!();
    println!("PROBE-CODE {}", libc::WEXITSTATUS(status));
    println!("PROBE-RSS {}", usage.ru_maxrss);
    println!("PROBE-STDERR {}", stderr.replace('\n', "\u{1f}"));
}

#[test]
fn oversized_answers_are_errors_and_memory_stays_bounded() {
    // max_active = 100: the list cap is its floor, 8 MiB.
    let env = Env::with(
        fake_loadmaster::Options::default(),
        "[block]\nmax_active = 100\n",
    );
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    let cap_kib: i64 = 8 * 1024;
    let limit_kib = 64 * 1024 + 2 * cap_kib;

    // A list just under the cap, in a shape that is not the usual one.
    let mut body = String::from(r#"{"code":200,"status":"ok","Blacklist":["#);
    let mut i = 0u32;
    while body.len() < 8 * 1024 * 1024 - 200 {
        let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
        body.push_str(&format!(r#"{{"addr":"{ip}","comment":"someone else's"}},"#));
        i += 1;
    }
    body.push_str(r#"{"addr":"203.0.113.7","comment":"lmguard manual"}]}"#);
    hostile_lists(&env, body);
    for args in [&["sync"][..], &["sync", "--json"], &["check"]] {
        let (code, rss, err) = run_measured(&env, args);
        // Foreign entries are reported, but are nothing --apply would repair.
        assert_eq!(code, 0, "{args:?}: {i} foreign entries: {err}");
        assert!(
            rss < limit_kib,
            "{args:?}: peak RSS {rss} KiB over {limit_kib} KiB"
        );
    }

    // 120 MB: refused, never read whole.
    let huge = format!(
        r#"{{"code":200,"status":"ok","IP":[{}{{"addr":"203.0.113.7","comment":"x"}}]}}"#,
        r#"{"addr":"10.0.0.1","comment":"padding padding padding padding"},"#.repeat(2_000_000)
    );
    hostile_lists(&env, huge.clone());
    let (code, rss, err) = run_measured(&env, &["sync"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("larger than 8 MiB"), "{err}");
    assert!(
        rss < limit_kib,
        "sync peak RSS {rss} KiB over {limit_kib} KiB"
    );

    // A 120 MB answer to an add is not success, and not read whole.
    env.lm.set_hostile(fake_loadmaster::Hostile {
        edit_body: Some(std::sync::Arc::new(huge)),
        ..Default::default()
    });
    let (code, rss, err) = run_measured(&env, &["block", "203.0.113.8"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("larger than 64 KiB"), "{err}");
    assert!(
        rss < limit_kib,
        "block peak RSS {rss} KiB over {limit_kib} KiB"
    );
    assert_eq!(env.status_of("203.0.113.8"), "pending_block");
}

#[test]
fn a_few_identical_refusals_stop_the_run() {
    let env = Env::new();
    // A bad key that this firmware answers with 400 rather than 401.
    env.lm.set_fault(fake_loadmaster::Fault::Body(
        400,
        r#"{"code":400,"message":"Invalid credentials","status":"fail"}"#,
    ));
    let addrs: Vec<String> = (1..=20).map(|i| format!("203.0.113.{i}")).collect();
    let mut args = vec!["block"];
    args.extend(addrs.iter().map(String::as_str));
    let out = env.run(&args);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(
        env.lm.request_count() <= 5,
        "{} calls for a key the LoadMaster refuses",
        env.lm.request_count()
    );
    assert!(addrs.iter().all(|a| env.status_of(a) == "pending_block"));
    env.lm.clear_requests();
    assert_eq!(env.run(&["sweep"]).code(), 3);
    assert!(env.lm.request_count() <= 5, "{}", env.lm.request_count());
}

// ----- 6. each request once -----------------------------------------------------------

#[test]
fn the_slash_32_retry_is_made_only_for_an_invalid_network_refusal() {
    let env = Env::new();
    // Refused for another reason (e.g. a late add from a killed run that the
    // list does not show yet): no second spelling is added.
    env.lm.set_hostile(fake_loadmaster::Hostile {
        refuse_bare_adds: Some((422, "Command failed".into())),
        ..Default::default()
    });
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(env.calls_for("add", "203.0.113.7/32"), 0);
    assert!(env.on_lm(Scope::Global).is_empty());
    assert_eq!(env.status_of("203.0.113.7"), "pending_block");
    // Refused as an invalid network: retried with the prefix, and removed
    // later under that spelling.
    env.lm.set_hostile(fake_loadmaster::Hostile::default());
    env.lm.set_require_prefix(true);
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7/32"]);
    assert_eq!(env.run(&["unblock", "203.0.113.7"]).code(), 0);
    assert!(env.on_lm(Scope::Global).is_empty());
    assert_eq!(env.calls_for("del", "203.0.113.7/32"), 1);
}

#[test]
fn a_claim_held_by_a_stopped_process_is_not_live() {
    let env = Env::new();
    env.lm
        .set_fault(fake_loadmaster::Fault::Delay(Duration::from_millis(4000)));
    let mut blocker = std::process::Command::new(assert_cmd::cargo::cargo_bin("lmguard"))
        .arg("--config")
        .arg(&env.config)
        .args(["block", "203.0.113.7"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Its add is on the wire (the entry recorded and claimed) well before
    // the fake answers it; stop it then. (The fake counts a request only
    // when it answers, so the count cannot tell.)
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: a plain signal to our own child.
    unsafe { libc::kill(blocker.id() as libc::pid_t, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(env.status_of("203.0.113.7"), "pending_block");
    env.lm.set_fault(fake_loadmaster::Fault::None);
    let out = env.run(&["sweep"]);
    // SAFETY: as above.
    unsafe { libc::kill(blocker.id() as libc::pid_t, libc::SIGKILL) };
    let _ = blocker.wait();
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(
        env.status_of("203.0.113.7"),
        "active",
        "sweep completed what the stopped process held: {}",
        out.all()
    );
}

#[test]
fn sync_apply_never_resends_what_a_block_made_while_its_list_was_read() {
    let env = Env::new();
    // The list sync asks for is read at once but answered late; a block
    // made meanwhile is on the LoadMaster and recorded before sync
    // compares: from a list older than that local state, it would look
    // missing and be sent again.
    // (Below the 2 s timeout of the test configuration.)
    env.lm
        .set_fault(fake_loadmaster::Fault::AnswerDelay(Duration::from_millis(
            1500,
        )));
    let sync = env.spawn(&["sync", "--apply", "--json"]);
    // The list request is recorded when it is carried out, before the delay.
    let start = std::time::Instant::now();
    while !env.lm.requests().iter().any(|r| r.param("list").is_some()) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "sync never read the list"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    env.lm.set_fault(fake_loadmaster::Fault::None);
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
    assert_eq!(env.status_of("203.0.113.7"), "active");
    let out = sync.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        env.calls_for("add", "203.0.113.7"),
        1,
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
    assert!(out.status.success(), "{stdout}");
}

// ----- interface.md: failures reach the log file -----------------------------------

#[test]
fn failure_lines_reach_the_log_file_at_the_default_level() {
    let env = Env::new();
    let log_path = env.dir.path().join("lmguard.log");
    // No `level`: the default (warn) must not keep failures out of the file.
    env.write_config(
        &format!(
            "ca_file = \"{}\"\n",
            env.dir.path().join("lm.pem").display()
        ),
        &format!("[log]\nfile = \"{}\"\n", log_path.display()),
    );
    env.lm.set_fault(fake_loadmaster::Fault::Down);
    let down = env.run(&["block", "203.0.113.7"]);
    assert_eq!(down.code(), 3, "{}", down.all());
    env.lm.set_fault(fake_loadmaster::Fault::None);
    let refused = env.run(&["block", "--vs", "99", "203.0.113.8"]);
    assert_eq!(refused.code(), 4, "{}", refused.all());
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    for out in [&down, &refused] {
        for line in out.stderr().lines() {
            let line = line.strip_prefix("lmguard: ").unwrap_or(line);
            assert!(log.contains(line), "{line:?} is not in the log:\n{log}");
        }
    }
    // It goes to the file, not to standard error twice.
    assert_eq!(refused.stderr().matches("(VS 99): rejected").count(), 1);
}
