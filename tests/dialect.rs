//! The real appliance's dialect (issue 27), end to end against the fake:
//! empty lists whatever describes them, entries without comments, list
//! containers with members lmguard does not know, IPv6 hosts as `/128`,
//! the `isenabled` answer shapes, addresses the LoadMaster refuses for
//! good, and what a 403 says.

use crate::common;

use common::{Env, Out};
use fake_loadmaster::{Comments, IsEnabledShape, ListShape, PacketFilterOff, Scope};
use serde_json::Value;

/// The mark (✔ ✘ ! –) of `check`'s line `name`.
fn mark(out: &Out, name: &str) -> char {
    out.check_line(name)
        .unwrap_or_else(|| panic!("no line for {name}:\n{}", out.all()))
        .chars()
        .next()
        .unwrap()
}

/// A harness whose key file is private (as `check` wants it), with `extra`
/// config.
fn env_with(extra: &str) -> Env {
    let env = Env::with(fake_loadmaster::Options::default(), extra);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        env.dir.path().join("api-key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    env
}

fn sync_rows(env: &Env) -> (i32, Vec<Value>, String) {
    let out = env.run(&["sync", "--json"]);
    let rows: Value = serde_json::from_str(&out.stdout())
        .unwrap_or_else(|e| panic!("sync --json printed no JSON ({e}): {}", out.all()));
    (out.code(), rows.as_array().unwrap().clone(), out.all())
}

/// The `addr` of every add request the fake received.
fn added_addrs(env: &Env) -> Vec<String> {
    env.lm
        .requests()
        .iter()
        .filter(|r| r.param("add").is_some() || r.param("addvs").is_some())
        .filter_map(|r| r.param("addr").map(str::to_string))
        .collect()
}

// ----- 1. Empty lists are empty, whatever describes them -----

#[test]
fn an_empty_list_named_by_a_list_member_is_empty() {
    let env = env_with("");
    env.lm.set_list_shape(ListShape::ListMember);
    let out = env.run(&["check"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(mark(&out, "global block list"), '✔', "{}", out.all());
    let (code, rows, all) = sync_rows(&env);
    assert_eq!(code, 0, "{all}");
    assert!(rows.is_empty(), "{rows:?}");
}

#[test]
fn an_empty_vs_list_answered_as_vs_descriptions_is_empty() {
    for shape in [ListShape::VsDescriptions, ListShape::VsFlattened] {
        let env = env_with("[block]\nvs = 1\n");
        env.lm.set_list_shape(shape);
        let out = env.run(&["check"]);
        assert_eq!(out.code(), 0, "{shape:?}: {}", out.all());
        assert_eq!(
            mark(&out, "VS 1 block list"),
            '✔',
            "{shape:?}: {}",
            out.all()
        );

        // Blocked, then gone from the LoadMaster: unblock --vs reads the
        // (empty) list and closes the record; sync sees the block missing.
        let out = env.run(&["block", "--vs", "1", "203.0.113.9"]);
        assert_eq!(out.code(), 0, "{shape:?}: {}", out.all());
        env.lm.clear_lists();
        let (code, rows, all) = sync_rows(&env);
        assert_eq!(code, 6, "{shape:?}: {all}");
        assert_eq!(rows.len(), 1, "{shape:?}: {rows:?}");
        assert_eq!(rows[0]["kind"], "missing_on_loadmaster", "{shape:?}");
        let out = env.run(&["unblock", "--vs", "1", "203.0.113.9"]);
        assert_eq!(out.code(), 0, "{shape:?}: {}", out.all());
        assert_eq!(env.status_of("203.0.113.9"), "unblocked", "{shape:?}");
    }
}

#[test]
fn the_probe_works_on_lists_named_by_a_list_member() {
    let env = env_with("");
    env.lm.set_list_shape(ListShape::ListMember);
    let out = env.run(&["check", "--probe"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(env.on_lm(Scope::Global).is_empty(), "the probe cleaned up");
}

// ----- 2. An entry without a comment: ownership from the local record -----

#[test]
fn entries_without_comments_are_lmguards_by_its_record() {
    for comments in [Comments::Absent, Comments::Null] {
        let env = Env::new();
        env.lm.set_comments(comments);
        assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
        // Someone else's entry, without a comment and without a record.
        env.lm.insert_entry(Scope::Global, "198.51.100.5", "");

        let (code, rows, all) = sync_rows(&env);
        let kinds: Vec<_> = rows
            .iter()
            .map(|r| (r["address"].as_str().unwrap(), r["kind"].as_str().unwrap()))
            .collect();
        assert_eq!(kinds, [("198.51.100.5", "foreign")], "{comments:?}: {all}");
        assert_eq!(code, 0, "{comments:?}: {all}");

        let out = env.run(&["unblock", "203.0.113.7"]);
        assert_eq!(out.code(), 0, "{comments:?}: {}", out.all());
        assert_eq!(
            env.on_lm(Scope::Global),
            ["198.51.100.5"],
            "{comments:?}: lmguard's own entry is removed, the other stays: {}",
            out.all()
        );
        let out = env.run(&["unblock", "198.51.100.5"]);
        assert_eq!(env.on_lm(Scope::Global), ["198.51.100.5"], "{}", out.all());
    }
}

// ----- 3. Unknown members in a list container are an error -----

#[test]
fn a_container_with_unknown_members_is_an_error_naming_them() {
    let cases = [
        (ListShape::BareAddrContainer, "addr"),
        (ListShape::EntryContainer, "Entry"),
        (ListShape::VsEntries, "Entries"),
    ];
    for (shape, member) in cases {
        let env = Env::new();
        assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
        env.lm.set_list_shape(shape);
        env.lm.clear_requests();

        // sync --apply would re-add what is there.
        let out = env.run(&["sync", "--apply"]);
        assert_ne!(out.code(), 0, "{shape:?}: {}", out.all());
        assert!(out.stderr().contains(member), "{shape:?}: {}", out.all());
        assert!(added_addrs(&env).is_empty(), "{shape:?}: no re-add");

        // unblock would delete nothing and say "unblocked".
        let out = env.run(&["unblock", "203.0.113.7"]);
        assert_eq!(out.code(), 3, "{shape:?}: {}", out.all());
        assert!(out.stderr().contains(member), "{shape:?}: {}", out.all());
        assert_eq!(env.status_of("203.0.113.7"), "pending_unblock", "{shape:?}");
        assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"], "{shape:?}");
    }
}

/// A member that describes a list (`list`, `Index`, `VS_IP` …) describes
/// it only with a plain value; holding an array or object it holds
/// something lmguard does not know, perhaps the entries, and is never read
/// as an empty list.
#[test]
fn a_describing_member_that_holds_entries_is_an_error_not_an_empty_list() {
    for raw in [
        r#"{"code":200,"status":"ok","list":[{"addr":"203.0.113.7","comment":"lmguard x"}]}"#,
        r#"{"code":200,"status":"ok","Index":{"IP":[{"addr":"203.0.113.7"}]}}"#,
        r#"{"code":200,"status":"ok","VS":{"Index":1,"Status":["203.0.113.7"]}}"#,
    ] {
        let env = Env::new();
        assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 0);
        env.lm.set_list_answer_raw(Some(raw));

        let out = env.run(&["unblock", "203.0.113.7"]);
        assert_eq!(out.code(), 3, "{raw}: {}", out.all());
        assert_eq!(env.status_of("203.0.113.7"), "pending_unblock", "{raw}");
        assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"], "{raw}");

        env.lm.clear_requests();
        let out = env.run(&["sync", "--apply"]);
        assert_ne!(out.code(), 0, "{raw}: {}", out.all());
        assert!(added_addrs(&env).is_empty(), "{raw}: no re-add");
    }
}

// ----- 4. IPv6 hosts as /128 -----

#[test]
fn ipv6_hosts_are_sent_as_128_and_read_back_as_the_host() {
    let env = Env::new();
    let out = env.run(&["block", "2001:db8::7", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(added_addrs(&env), ["2001:db8::7/128", "203.0.113.7"]);
    assert_eq!(env.status_of("2001:db8::7"), "active");
    let (code, rows, all) = sync_rows(&env);
    assert_eq!((code, rows.len()), (0, 0), "{all}");
    let out = env.run(&["unblock", "2001:db8::7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
}

/// A firmware may list lmguard's `ADDR/128` entry as the bare host (as it
/// lists IPv4 `/32` hosts): its delete is still sent as `/128`. Bare, Kemp
/// reads a /32 network — not lmguard's entry, which would stay blocked
/// while lmguard records it unblocked.
#[test]
fn an_ipv6_host_listed_bare_is_deleted_as_128() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "2001:db8::7", "2001:db8::8"]).code(), 0);
    let comment = env.lm.entries(Scope::Global)[0].comment.clone();
    env.lm.clear_lists();
    env.lm.insert_entry(Scope::Global, "2001:db8::7", &comment);
    env.lm.insert_entry(Scope::Global, "2001:db8::8", &comment);
    env.lm.clear_requests();

    let out = env.run(&["unblock", "2001:db8::7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let deleted: Vec<String> = env
        .lm
        .requests()
        .iter()
        .filter(|r| r.param("del").is_some())
        .filter_map(|r| r.param("addr").map(str::to_string))
        .collect();
    assert_eq!(deleted, ["2001:db8::7/128"], "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global), ["2001:db8::8"]);
}

/// What a dry run and `mode = "simulate"` print for an IPv6 host's delete
/// is the call lmguard would make for its own entry, `/128` (as it added
/// it), never the bare form that the appliance takes as a /32 network.
#[test]
fn previews_of_an_ipv6_hosts_delete_show_it_as_128() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "2001:db8::7"]).code(), 0);
    assert_eq!(env.on_lm(Scope::Global), ["2001:db8::7/128"]);
    let out = env.run(&["unblock", "2001:db8::7", "--dry-run"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let sent = out.stdout();
    assert!(sent.contains(r#""addr":"2001:db8::7/128""#), "{sent}");
    assert!(!sent.contains(r#""addr":"2001:db8::7""#), "{sent}");

    // A real block, then simulate: the delete it withholds.
    env.write_config(
        &format!(
            "ca_file = \"{}\"\n",
            env.dir.path().join("lm.pem").display()
        ),
        "[block]\nmode = \"simulate\"\n",
    );
    env.lm.clear_requests();
    let out = env.run(&["unblock", "2001:db8::7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let sent = out.stdout();
    assert!(sent.contains(r#""addr":"2001:db8::7/128""#), "{sent}");
    assert!(!sent.contains(r#""addr":"2001:db8::7""#), "{sent}");
    assert_eq!(env.lm.request_count(), 0, "simulate sends nothing");
}

#[test]
fn a_loadmaster_that_refuses_128_gets_the_entry_rejected_never_bare() {
    let env = Env::new();
    env.lm.set_refuse_v6_host_prefix(true);
    let out = env.run(&["block", "2001:db8::7"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    assert_eq!(env.status_of("2001:db8::7"), "rejected");
    assert!(out.stderr().contains("Invalid address"), "{}", out.all());
    assert_eq!(added_addrs(&env), ["2001:db8::7/128"], "never a bare retry");
    assert!(env.on_lm(Scope::Global).is_empty());
}

// ----- 5. Answers it should understand -----

#[test]
fn isenabled_answered_as_isenabled_or_data_is_understood() {
    for shape in [
        IsEnabledShape::IsEnabledText,
        IsEnabledShape::IsEnabledBool,
        IsEnabledShape::Data,
    ] {
        let env = env_with("");
        env.lm.set_isenabled_shape(shape);
        let out = env.run(&["check"]);
        assert_eq!(out.code(), 0, "{shape:?}: {}", out.all());
        assert_eq!(mark(&out, "access lists"), '✔', "{shape:?}: {}", out.all());
        env.lm.set_packet_filter_off(Some(PacketFilterOff::Ok));
        let out = env.run(&["check"]);
        assert_eq!(out.code(), 3, "{shape:?}: {}", out.all());
        assert_eq!(mark(&out, "access lists"), '✘', "{shape:?}: {}", out.all());
    }
}

#[test]
fn an_address_the_loadmaster_refuses_with_422_is_rejected_for_good() {
    let env = Env::new();
    env.lm.set_invalid_address_status(422);
    env.lm.set_invalid_addresses(&["203.0.113.66"]);
    let out = env.run(&["block", "203.0.113.66", "203.0.113.7"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    assert_eq!(env.status_of("203.0.113.66"), "rejected");
    assert_eq!(env.status_of("203.0.113.7"), "active");
    assert!(out.stderr().contains("Invalid address"), "{}", out.all());
    env.lm.clear_requests();
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert!(added_addrs(&env).is_empty(), "sweep does not retry it");
}

#[test]
fn another_422_to_an_add_stays_pending() {
    let env = Env::new();
    env.lm.set_packet_filter_off(Some(PacketFilterOff::Error));
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(env.status_of("203.0.113.7"), "pending_block");
    env.lm.set_packet_filter_off(None);
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
}

#[test]
fn a_403_names_the_permission_the_keys_user_needs() {
    let env = env_with("");
    env.lm.set_forbidden_global(true);
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(out.stderr().contains("'All Permissions'"), "{}", out.all());
    let out = env.run(&["check"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(out.stdout().contains("'All Permissions'"), "{}", out.all());

    env.lm.set_forbidden_global(false);
    env.lm.set_forbidden(true);
    let out = env.run(&["block", "--vs", "1", "203.0.113.8"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(out.stderr().contains("'Virtual Service'"), "{}", out.all());
}
