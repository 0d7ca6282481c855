//! `lmguard check --probe` against the fake LoadMaster: the round trip in
//! every list shape and duplicate/absent answer the fake can give, an
//! unreadable shape, a LoadMaster that dies mid-probe, Ctrl-C, the
//! firmware check and the key-free wire trace.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Env, Out, KEY};
use fake_loadmaster::{
    DeleteMissing, DuplicateAdd, Fault, FirmwareVersion, Hostile, KeyQuotingError, ListShape,
    Options, Scope,
};

fn env() -> Env {
    let env = Env::new();
    use std::os::unix::fs::PermissionsExt;
    let key = env.dir.path().join("api-key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    env
}

fn ca_line(env: &Env) -> String {
    format!(
        "ca_file = \"{}\"\n",
        env.dir.path().join("lm.pem").display()
    )
}

fn probe(env: &Env) -> Out {
    env.run(&["check", "--probe"])
}

/// The line of one check (`✔ NAME: …`), whatever its mark.
fn line(out: &Out, name: &str) -> String {
    out.check_line(name)
        .unwrap_or_else(|| panic!("no line for {name}:\n{}", out.all()))
}

fn mark(out: &Out, name: &str) -> char {
    line(out, name).chars().next().unwrap()
}

const STEPS: [&str; 6] = [
    "probe add",
    "probe list",
    "probe add again",
    "probe delete",
    "probe list again",
    "probe delete again",
];

/// Some entries that must be left exactly as they were.
fn seed(env: &Env, scope: Scope) -> Vec<fake_loadmaster::Entry> {
    env.lm
        .insert_entry(scope, "192.0.2.7", "lmguard ADS 1 SCANS");
    env.lm.insert_entry(scope, "198.51.100.0/24", "");
    env.lm.entries(scope)
}

fn probe_entries(env: &Env, scope: Scope) -> usize {
    env.lm
        .entries(scope)
        .iter()
        .filter(|e| e.addr.starts_with("198.1"))
        .count()
}

#[test]
fn the_probe_passes_in_every_shape_and_leaves_the_list_as_it_was() {
    let env = env();
    let before = seed(&env, Scope::Global);
    let shapes = [
        ListShape::Default,
        ListShape::EmptyArray,
        ListShape::SingleAsObject,
        ListShape::NestedBlocklist,
        ListShape::VsWrapper,
        ListShape::AclStrings,
    ];
    let answers = [
        (DuplicateAdd::Error, DeleteMissing::Error),
        (DuplicateAdd::Ok, DeleteMissing::Ok),
        (DuplicateAdd::Error, DeleteMissing::Ok),
        (DuplicateAdd::Ok, DeleteMissing::Error),
    ];
    for shape in shapes {
        for (dup, missing) in answers {
            env.lm.set_list_shape(shape);
            env.lm.set_duplicate_add(dup);
            env.lm.set_delete_missing(missing);
            let out = probe(&env);
            let what = format!("{shape:?} {dup:?} {missing:?}");
            assert_eq!(out.code(), 0, "{what}:\n{}", out.all());
            for step in STEPS {
                assert_eq!(mark(&out, step), '✔', "{what} {step}:\n{}", out.all());
            }
            assert_eq!(env.lm.entries(Scope::Global), before, "{what}");
        }
    }
}

#[test]
fn each_step_names_the_answer_and_the_shape() {
    let env = env();
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    let add = line(&out, "probe add");
    assert!(
        add.contains("HTTP 200, code 200, status ok") && add.contains("'lmguard probe'"),
        "{add}"
    );
    let list = line(&out, "probe list");
    assert!(
        list.contains("list: `IP` array of {addr, comment}")
            && list.contains("as sent")
            && list.contains("comment intact"),
        "{list}"
    );
    assert!(list.contains("`198.1"), "{list}");
    let again = line(&out, "probe add again");
    assert!(
        again.contains("HTTP 422, code 422, status fail, message 'Address already in list'")
            && again.contains("refused"),
        "{again}"
    );
    assert!(line(&out, "probe list again").contains("is gone"));
    let del = line(&out, "probe delete again");
    assert!(
        del.contains("HTTP 422") && del.contains("deleting an absent entry is refused"),
        "{del}"
    );
    // The requests, in order: the checks, then the six steps (after one read
    // of the list as it was); the test entry from 198.18.0.0/15.
    let ops: Vec<String> = env
        .lm
        .requests()
        .iter()
        .map(|r| {
            ["add", "del", "list"]
                .into_iter()
                .find(|op| r.param(op).is_some())
                .unwrap_or(r.cmd().unwrap_or("?"))
                .to_string()
        })
        .collect();
    assert_eq!(
        ops,
        [
            "list",
            "get",
            "aclcontrol.isenabled",
            "list",
            "add",
            "list",
            "add",
            "del",
            "list",
            "del",
            // The same round trip with an IPv6 test entry.
            "list",
            "add",
            "list",
            "add",
            "del",
            "list",
            "del"
        ]
    );
    assert!(
        line(&out, "probe list before").contains("the test entry will be `198.1"),
        "{}",
        out.stdout()
    );
    let added = env.lm.requests()[4].param("addr").unwrap().to_string();
    let ip: std::net::Ipv4Addr = added.parse().unwrap();
    assert_eq!(ip.octets()[0..2], [198, ip.octets()[1]]);
    assert!((18..=19).contains(&ip.octets()[1]), "{added}");
    assert_eq!(env.lm.requests()[4].param("comment"), Some("lmguard probe"));
}

#[test]
fn an_address_that_comes_back_with_a_prefix_is_reported() {
    let env = env();
    env.lm.set_list_host_prefix(true);
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    let list = line(&out, "probe list");
    assert!(list.contains("/32` (sent `198.1"), "{list}");
}

#[test]
fn plain_check_writes_nothing() {
    let env = env();
    let out = env.run(&["check"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(!out.stdout().contains("probe"), "{}", out.stdout());
    assert!(env
        .lm
        .requests()
        .iter()
        .all(|r| r.param("add").is_none() && r.param("del").is_none()));
}

#[test]
fn in_simulate_mode_the_probe_writes_nothing() {
    // mode = "simulate" makes no LoadMaster change from any command; the
    // probe's test entry would be one.
    let env = env();
    env.write_config(&ca_line(&env), "[block]\nmode = \"simulate\"\n");
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    let skipped = line(&out, "probe");
    assert!(skipped.contains("mode = \"simulate\""), "{skipped}");
    assert!(env
        .lm
        .requests()
        .iter()
        .all(|r| r.param("add").is_none() && r.param("del").is_none()));
    assert_eq!(probe_entries(&env, Scope::Global), 0);
}

#[test]
fn an_unreadable_list_shape_fails_naming_it_and_nothing_is_added() {
    // Where the probe cannot see what the list holds, it could not tell its
    // test entry from one that was there: it adds nothing.
    let env = env();
    let before = seed(&env, Scope::Global);
    for (raw, shape) in [
        (
            r#"{"code":200,"status":"ok","Entries":[{"ip":"x"}]}"#,
            "no list member lmguard knows (members: Entries, code, status)",
        ),
        (
            r#"{"status":"ok","IP":[42]}"#,
            "`IP` array of numbers, which lmguard cannot read",
        ),
    ] {
        env.lm.clear_requests();
        env.lm.set_list_answer_raw(Some(raw));
        let out = probe(&env);
        assert_eq!(out.code(), 3, "{}", out.all());
        let list = line(&out, "probe list before");
        assert!(list.starts_with('✘'), "{list}");
        assert!(list.contains(shape), "{list}");
        assert!(list.contains("no test entry was added"), "{list}");
        assert!(
            out.stdout().contains("check --probe -v"),
            "{}",
            out.stdout()
        );
        assert!(env.lm.requests().iter().all(|r| r.param("add").is_none()));
        assert_eq!(env.lm.entries(Scope::Global), before);
    }
}

#[test]
fn a_loadmaster_that_dies_mid_probe_is_reported_and_the_next_probe_cleans_up() {
    let env = env();
    let before = seed(&env, Scope::Global);
    // list, get, isenabled, list (leftovers), add: then nothing answers.
    env.lm.set_fault(Fault::FailAfter(5));
    let out = probe(&env);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(mark(&out, "probe add"), '✔', "{}", out.all());
    let list = line(&out, "probe list");
    assert!(
        list.starts_with('✘') && list.contains("no answer"),
        "{list}"
    );
    let cleanup = line(&out, "probe cleanup");
    assert!(
        cleanup.starts_with('✘') && cleanup.contains("may still be listed"),
        "{cleanup}"
    );
    assert!(out
        .stdout()
        .contains("the next `lmguard check --probe` removes it"));
    assert_eq!(probe_entries(&env, Scope::Global), 1, "left behind");

    env.lm.set_fault(Fault::None);
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    let cleanup = line(&out, "probe cleanup");
    assert!(
        cleanup.starts_with('✔') && cleanup.contains("left on the LoadMaster by an earlier probe"),
        "{cleanup}"
    );
    assert_eq!(env.lm.entries(Scope::Global), before);
}

#[test]
fn a_leftover_without_comments_is_reported_never_deleted() {
    // A list that shows no comments cannot tell an earlier probe's entry
    // from someone else's in 198.18.0.0/15: both stay, and are named.
    let env = env();
    env.lm
        .insert_entry(Scope::Global, "198.18.3.4", "lmguard probe");
    env.lm
        .insert_entry(Scope::Global, "198.18.3.5", "someone else's");
    let before = env.lm.entries(Scope::Global);
    env.lm.set_list_shape(ListShape::AclStrings);
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.lm.entries(Scope::Global), before, "{}", out.all());
    let leftovers = line(&out, "probe leftovers");
    assert!(
        leftovers.starts_with('!')
            && leftovers.contains("198.18.3.4")
            && leftovers.contains("198.18.3.5")
            && leftovers.contains("shows no comments"),
        "{leftovers}"
    );
    // Where comments show, the probe's own leftover goes, the other stays.
    env.lm.set_list_shape(ListShape::Default);
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        line(&out, "probe cleanup")
            .contains("198.18.3.4, left on the LoadMaster by an earlier probe"),
        "{}",
        out.all()
    );
    assert_eq!(env.on_lm(Scope::Global), ["198.18.3.5"]);
}

#[test]
fn without_comments_the_probe_touches_nobody_elses_entry_nor_lmguards_blocks() {
    // Issue 24: against an `Acl` string list the probe deleted someone
    // else's 198.18.200.1 and lmguard's own active block 198.18.5.5.
    let env = env();
    let out = env.run(&["block", "198.18.5.5"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    env.lm
        .insert_entry(Scope::Global, "198.18.200.1", "someone else's");
    env.lm.insert_entry(Scope::Global, "192.0.2.7", "");
    let before = env.lm.entries(Scope::Global);
    env.lm.set_list_shape(ListShape::AclStrings);
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    for step in STEPS {
        assert_eq!(mark(&out, step), '✔', "{step}:\n{}", out.all());
    }
    assert_eq!(env.lm.entries(Scope::Global), before, "{}", out.all());
    assert_eq!(env.status_of("198.18.5.5"), "active");
    // Only the probe's own address was ever deleted.
    let added: Vec<String> = env
        .lm
        .requests()
        .iter()
        .filter(|r| r.param("add").is_some())
        .map(|r| r.param("addr").unwrap().to_string())
        .collect();
    for r in env
        .lm
        .requests()
        .iter()
        .filter(|r| r.param("del").is_some())
    {
        let addr = r.param("addr").unwrap();
        assert!(
            added.iter().any(|a| a == addr),
            "deleted {addr}, which the probe did not add:\n{}",
            out.all()
        );
    }
    // The foreign host in the probe's range is named, lmguard's block is not.
    let leftovers = line(&out, "probe leftovers");
    assert!(
        leftovers.contains("198.18.200.1") && !leftovers.contains("198.18.5.5"),
        "{leftovers}"
    );
}

#[test]
fn ctrl_c_mid_probe_removes_the_test_entry() {
    interrupted_mid_probe("-INT");
}

#[test]
fn sigterm_mid_probe_removes_the_test_entry() {
    interrupted_mid_probe("-TERM");
}

fn interrupted_mid_probe(signal: &str) {
    let env = env();
    let before = seed(&env, Scope::Global);
    // Slow answers: the probe is mid-step when the signal comes.
    env.lm.set_fault(Fault::Delay(Duration::from_millis(400)));
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("lmguard"))
        .arg("--config")
        .arg(&env.config)
        .args(["check", "--probe"])
        .env_remove("LMGUARD_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !env.lm.requests().iter().any(|r| r.param("add").is_some()) {
        assert!(Instant::now() < deadline, "the probe never added");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(probe_entries(&env, Scope::Global), 1);
    common::signal(&child, signal);
    let out = Out(child.wait_with_output().unwrap());
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(mark(&out, "probe interrupted"), '✘', "{}", out.all());
    assert_eq!(mark(&out, "probe cleanup"), '✔', "{}", out.all());
    assert!(
        !out.stdout().contains("probe delete again"),
        "stopped early:\n{}",
        out.stdout()
    );
    assert_eq!(env.lm.entries(Scope::Global), before);
}

#[test]
fn the_default_vs_list_is_probed_too() {
    let env = env();
    env.write_config(&ca_line(&env), "[block]\nvs = 3\n");
    let global = seed(&env, Scope::Global);
    let vs = seed(&env, Scope::Vs(3));
    env.lm.set_list_shape(ListShape::VsWrapper);
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    for step in STEPS {
        let vs_step = step.replace("probe ", "probe VS 3 ");
        assert_eq!(mark(&out, &vs_step), '✔', "{vs_step}:\n{}", out.all());
    }
    assert!(
        line(&out, "probe VS 3 list").contains("`VS`.`Blocklist`.`IP` array of {addr, comment}")
    );
    assert_eq!(env.lm.entries(Scope::Global), global);
    assert_eq!(env.lm.entries(Scope::Vs(3)), vs);
    assert!(env
        .lm
        .requests()
        .iter()
        .any(|r| r.param("addvs").is_some() && r.param("vs") == Some("3")));
}

#[test]
fn the_trace_shows_every_request_and_answer_without_the_key() {
    let env = env();
    let out = env.run(&["check", "--probe", "-v"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let trace = out.stderr();
    assert_eq!(out.all().matches(KEY).count(), 0, "{}", out.all());
    assert!(trace.contains(r#""apikey":"***""#), "{trace}");
    assert!(trace.contains(r#"→ POST https://127.0.0.1:"#), "{trace}");
    assert!(trace.contains(r#""add":"block""#), "{trace}");
    assert!(
        trace.contains(r#"← HTTP 422 {"code":422,"message":"Address already in list""#),
        "{trace}"
    );
    assert!(
        trace.contains(r#""cmd":"get","param":"version""#),
        "{trace}"
    );
    // Plain `check -v` does not trace; `-vv` on any command does.
    let out = env.run(&["check", "-v"]);
    assert!(!out.stderr().contains("→ POST"), "{}", out.stderr());
    let out = env.run(&["check", "-vv"]);
    assert!(out.stderr().contains("→ POST"), "{}", out.stderr());
    assert_eq!(out.all().matches(KEY).count(), 0, "{}", out.all());
    let out = env.run(&["-vv", "block", "192.0.2.44"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stderr().contains(r#""addr":"192.0.2.44""#),
        "{}",
        out.stderr()
    );
    assert_eq!(out.all().matches(KEY).count(), 0, "{}", out.all());
}

#[test]
fn answers_in_the_trace_are_cut_and_a_refused_key_is_not_echoed() {
    let env = env();
    for i in 0..400 {
        env.lm
            .insert_entry(Scope::Global, &format!("10.0.{}.{}", i / 250, i % 250), "x");
    }
    let out = env.run(&["-vv", "list"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let out = env.run(&["-vv", "sync"]);
    assert!(
        out.stderr().contains("more bytes not shown"),
        "{}",
        out.stderr()
    );
    // A wrong key is masked too (the one lmguard sent, whatever it is).
    std::fs::write(env.dir.path().join("api-key"), "wrong-key-987\n").unwrap();
    let out = env.run(&["check", "--probe", "-v"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(!out.all().contains("wrong-key-987"), "{}", out.all());
    assert!(out.stderr().contains("← HTTP 401"), "{}", out.stderr());
}

#[test]
fn the_firmware_version_is_shown_and_old_firmware_fails() {
    let env = env();
    let out = env.run(&["check"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let fw = line(&out, "firmware");
    assert!(
        fw.starts_with('✔') && fw.contains("7.2.62.0.22589.RELEASE"),
        "{fw}"
    );

    env.lm
        .set_firmware_version(FirmwareVersion::Nested("7.2.59.1".into()));
    assert!(line(&env.run(&["check"]), "firmware").contains("7.2.59.1"));

    env.lm
        .set_firmware_version(FirmwareVersion::Top("7.2.51.0.21000.RELEASE".into()));
    let out = env.run(&["check", "--probe"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    let fw = line(&out, "firmware");
    assert!(
        fw.starts_with('✘') && fw.contains("older than 7.2.52"),
        "{fw}"
    );
    assert_eq!(mark(&out, "probe"), '-', "no probe on old firmware");
    assert!(env.lm.requests().iter().all(|r| r.param("add").is_none()));

    // A firmware that will not say is a warning, not a failure.
    env.lm.set_firmware_version(FirmwareVersion::Refused);
    let out = env.run(&["check"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(mark(&out, "firmware"), '!');
}

#[test]
fn a_404_and_a_401_name_the_appliance_settings() {
    let env = env();
    env.lm.set_api_disabled(true);
    let out = env.run(&["check"]);
    assert_eq!(out.code(), 3);
    let text = out.stdout();
    assert!(
        text.contains("API interface disabled, or firmware older than 7.2.52"),
        "{text}"
    );
    assert!(
        text.contains("Session Management on") && text.contains("Require Basic Authentication off")
    );
    let out = env.run(&["block", "192.0.2.8"]);
    assert_eq!(out.code(), 3);
    assert!(
        out.stderr()
            .contains("API interface disabled, or firmware older than 7.2.52"),
        "{}",
        out.stderr()
    );
    env.lm.set_api_disabled(false);

    std::fs::write(env.dir.path().join("api-key"), "not-it\n").unwrap();
    let out = env.run(&["check"]);
    assert_eq!(out.code(), 3);
    let text = out.stdout();
    assert!(
        text.contains("Session Management on") && text.contains("Require Basic Authentication off"),
        "{text}"
    );
}

#[test]
fn a_comment_prefix_outside_the_safe_set_is_a_config_error_naming_the_key() {
    let env = Env::with(Options::default(), "");
    env.write_config(&ca_line(&env), "[block]\ncomment_prefix = \"lm guard\"\n");
    let out = env.run(&["check"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    assert!(
        out.stderr().contains("block.comment_prefix"),
        "{}",
        out.stderr()
    );
    assert_eq!(env.lm.request_count(), 0);
}

#[test]
fn event_ids_and_methods_outside_the_set_are_never_sent_raw() {
    let env = env();
    let lines = concat!(
        r#"{"id": "77'x", "timestamp": "2026-11-24 13:00:00", "type": "SSH<b>DICT", "#,
        r#""typeDesc": "SSH attack", "severity": "Critical", "source": "203.0.113.9"}"#,
        "\n",
        r#"{"id": 640001, "timestamp": "2026-11-24 13:00:00", "type": "SCANS", "#,
        r#""typeDesc": "scan", "severity": "Critical", "source": "203.0.113.10"}"#,
        "\n",
    );
    let out = env.run_stdin(&["block", "--input", "json"], lines.as_bytes().to_vec());
    assert_eq!(out.code(), 0, "{}", out.all());
    let comments: Vec<String> = env
        .lm
        .entries(Scope::Global)
        .into_iter()
        .map(|e| e.comment)
        .collect();
    for c in &comments {
        assert!(
            c.len() <= 64
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || " ._:/-".contains(ch)),
            "{c:?}\n{}",
            out.all()
        );
        assert!(!c.contains('<') && !c.contains('\''), "{c:?}");
    }
    assert_eq!(
        comments,
        ["lmguard ADS unreadable OTHER", "lmguard ADS 640001 SCANS"]
    );
}

#[test]
fn a_ca_file_with_both_ha_units_certificates_trusts_either_unit() {
    // README "HA pairs": after a failover the shared address presents the
    // other unit's certificate.
    let env = env();
    let standby = fake_loadmaster::FakeLoadMaster::start(Options::default()).unwrap();
    let both = format!("{}{}", env.lm.ca_pem(), standby.ca_pem());
    std::fs::write(env.dir.path().join("lm.pem"), both).unwrap();
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    let config = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(&env.config, config.replace(&env.lm.url(), &standby.url())).unwrap();
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(standby.requests().iter().any(|r| r.param("add").is_some()));
}

#[test]
fn an_add_or_delete_the_loadmaster_does_not_carry_out_fails_the_probe() {
    let env = env();
    let before = seed(&env, Scope::Global);

    // Adds (and deletes) answered ok, and nothing is listed.
    env.lm.set_hostile(Hostile {
        edit_body: Some(Arc::new(
            r#"{"code":200,"message":"Command completed ok","status":"ok"}"#.to_string(),
        )),
        ..Hostile::default()
    });
    let out = probe(&env);
    assert_eq!(out.code(), 3, "{}", out.all());
    let list = line(&out, "probe list");
    assert!(
        list.starts_with('✘') && list.contains("is not among the 2 entries"),
        "{list}"
    );
    assert_eq!(env.lm.entries(Scope::Global), before);

    // Deletes answered ok, and the entry stays: reported, never called gone.
    env.lm.set_hostile(Hostile {
        unapplied_deletes: true,
        ..Hostile::default()
    });
    let out = probe(&env);
    assert_eq!(out.code(), 3, "{}", out.all());
    let again = line(&out, "probe list again");
    assert!(
        again.starts_with('✘') && again.contains("still listed after its delete"),
        "{again}"
    );
    assert_eq!(probe_entries(&env, Scope::Global), 1);
    let cleanup = line(&out, "probe cleanup");
    assert!(
        cleanup.starts_with('✘') && cleanup.contains("may still be listed"),
        "{cleanup}"
    );

    // Once deletes work, the next probe removes what the last one left.
    env.lm.set_hostile(Hostile::default());
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.lm.entries(Scope::Global), before);
}

#[test]
fn a_comment_the_loadmaster_cuts_is_a_warning_naming_both() {
    let env = env();
    let before = seed(&env, Scope::Global);
    env.lm.set_comment_cut(Some(7));
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    let list = line(&out, "probe list");
    assert!(
        list.starts_with('!')
            && list.contains("the comment came back as \"lmguard\"")
            && list.contains("(sent 'lmguard probe')"),
        "{list}"
    );
    assert_eq!(env.lm.entries(Scope::Global), before);
}

/// A key unlike any text lmguard prints, so that any 6 characters of it
/// found in the output are a leak (a cut key is a leak too).
const SECRET: &str = "Zk7Qp2Wm9Xv4Rt8LbN3cY6dH";

fn leaked(text: &str) -> Option<&'static str> {
    (0..=SECRET.len() - 6)
        .map(|i| &SECRET[i..i + 6])
        .find(|part| text.contains(part))
}

#[test]
fn a_loadmaster_that_quotes_the_key_never_gets_it_printed() {
    let env = Env::with(
        Options {
            api_key: SECRET.to_string(),
            ..Options::default()
        },
        "",
    );
    common::write_private(&env.dir.path().join("api-key"), &format!("{SECRET}\n"));
    let log = env.dir.path().join("lmguard.log");
    env.write_config(
        &ca_line(&env),
        &format!("[log]\nfile = \"{}\"\n", log.display()),
    );
    let before = seed(&env, Scope::Global);
    // (operations, list reads answered first, status, HTML page, filler
    // before the key: 4063 puts it across byte 4096, where answers are cut)
    let cases: [(&[&'static str], u32, u16, bool, usize); 10] = [
        (&["add"], 0, 422, false, 0),
        (&["add"], 0, 500, true, 0),
        (&["add"], 0, 200, true, 0),
        (&["add"], 0, 200, true, 4063),
        (&["del"], 0, 422, false, 0),
        (&["del"], 0, 500, true, 0),
        (&["list"], 1, 500, false, 0),
        (&["list"], 1, 500, true, 0),
        (&["list"], 2, 422, false, 0),
        (&["list"], 2, 200, true, 0),
    ];
    for (ops, after, status, html, pad) in cases {
        for verbose in [false, true] {
            env.lm.set_hostile(Hostile {
                key_quoting_error: Some(KeyQuotingError {
                    ops: ops.to_vec(),
                    after,
                    status,
                    html,
                    pad,
                }),
                ..Hostile::default()
            });
            let _ = std::fs::remove_file(&log);
            let args: &[&str] = if verbose {
                &["check", "--probe", "-v"]
            } else {
                &["check", "--probe"]
            };
            let out = env.run(args);
            let what =
                format!("{ops:?} after {after} HTTP {status} html {html}+{pad} -v {verbose}");
            assert_eq!(out.code(), 3, "{what}:\n{}", out.all());
            let logged = std::fs::read_to_string(&log).unwrap_or_default();
            for (name, text) in [
                ("stdout", out.stdout()),
                ("stderr", out.stderr()),
                ("log", logged),
            ] {
                assert_eq!(leaked(&text), None, "{what}: the key in {name}:\n{text}");
            }
            // The answer was shown, masked.
            assert!(out.all().contains("HTTP"), "{what}:\n{}", out.all());
            // After the failed step the test entry was removed (unless
            // every delete is refused).
            if ops != ["del"] {
                assert_eq!(
                    env.lm.entries(Scope::Global),
                    before,
                    "{what}:\n{}",
                    out.all()
                );
            }
            env.lm.set_hostile(Hostile::default());
            // A delete refused every time leaves the entry: the next run
            // finds it by its comment.
            let _ = probe(&env);
            assert_eq!(env.lm.entries(Scope::Global), before, "{what}");
        }
    }
}

#[test]
fn an_add_the_loadmaster_stores_but_refuses_leaves_nothing_behind() {
    let env = env();
    let before = seed(&env, Scope::Global);
    env.lm.set_hostile(Hostile {
        applied_adds_refused: Some((422, "Command failed".to_string())),
        ..Hostile::default()
    });
    let out = probe(&env);
    assert_eq!(env.lm.entries(Scope::Global), before, "{}", out.all());
    let add = line(&out, "probe add");
    assert!(
        add.starts_with('!') && add.contains("HTTP 422") && add.contains("the list shows"),
        "{add}"
    );
    assert_eq!(out.code(), 0, "{}", out.all());
}

#[test]
fn a_firmware_that_deletes_only_by_the_stored_slash_32_is_probed_to_the_end() {
    // Issue 27: the firmware stores a bare host as ADDR/32 and deletes only
    // by that exact string; `unblock` works, the probe must too.
    let env = env();
    let before = seed(&env, Scope::Global);
    env.lm.set_exact_prefixed_hosts(true);
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    for step in STEPS {
        assert_eq!(mark(&out, step), '✔', "{step}:\n{}", out.all());
    }
    let del = line(&out, "probe delete");
    assert!(
        del.contains("/32") && del.contains("the spelling the list shows"),
        "{del}"
    );
    assert!(line(&out, "probe list").contains("/32` (sent `198.1"));
    assert_eq!(env.lm.entries(Scope::Global), before);
}

#[test]
fn an_ipv6_test_entry_is_sent_as_a_128_and_its_spelling_reported() {
    let env = env();
    let before = seed(&env, Scope::Global);
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    let sent: Vec<String> = env
        .lm
        .requests()
        .iter()
        .filter(|r| r.param("add").is_some())
        .filter_map(|r| r.param("addr").map(str::to_string))
        .filter(|a| a.contains(':'))
        .collect();
    assert!(!sent.is_empty(), "no IPv6 add:\n{}", out.all());
    for addr in &sent {
        assert!(
            addr.starts_with("2001:2:") && addr.ends_with("/128"),
            "{addr}"
        );
    }
    for step in STEPS {
        let v6 = step.replace("probe ", "probe IPv6 ");
        assert_eq!(mark(&out, &v6), '✔', "{v6}:\n{}", out.all());
    }
    let list = line(&out, "probe IPv6 list");
    assert!(list.contains(&format!("`{}`, as sent", sent[0])), "{list}");
    assert_eq!(env.lm.entries(Scope::Global), before);

    // A LoadMaster without IPv6: a warning saying what it means; the IPv4
    // probe passes.
    env.lm.set_no_ipv6(true);
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    for step in STEPS {
        assert_eq!(mark(&out, step), '✔', "{step}:\n{}", out.all());
    }
    let add = line(&out, "probe IPv6 add");
    assert!(
        add.starts_with('!') && add.contains("IPv6 attackers cannot be blocked"),
        "{add}"
    );
    assert_eq!(env.lm.entries(Scope::Global), before);
}

#[test]
fn an_ipv6_leftover_listed_bare_is_deleted_as_a_128_never_bare() {
    // An earlier probe's IPv6 entry, which the list shows bare: its delete
    // is sent as `/128`, as the probe's own delete is; bare, the appliance
    // reads a /32 network (Kemp §3.16), which is not the probe's.
    let env = env();
    env.lm
        .insert_entry(Scope::Global, "2001:2::5", "lmguard probe");
    let out = probe(&env);
    assert_eq!(out.code(), 0, "{}", out.all());
    let deletes: Vec<String> = env
        .lm
        .requests()
        .iter()
        .filter(|r| r.param("del").is_some())
        .filter_map(|r| r.param("addr").map(str::to_string))
        .filter(|a| a.contains(':'))
        .collect();
    assert!(!deletes.is_empty(), "{}", out.all());
    for addr in &deletes {
        assert!(addr.ends_with("/128"), "{addr} in {deletes:?}");
    }
    assert!(env.lm.entries(Scope::Global).is_empty(), "{}", out.all());
}
