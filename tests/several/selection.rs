//! Which LoadMasters a command works on: `--loadmaster NAME`, unknown
//! names, the `--vs` rule and each table's own `vs`.

use super::*;

// ----- --loadmaster ---------------------------------------------------------

#[test]
fn loadmaster_selects_where_block_unblock_list_and_sync_act() {
    let env = Env::several(4);
    let out = env.run(&[
        "block",
        "--loadmaster",
        "b",
        "--loadmaster",
        "d",
        "203.0.113.7",
    ]);
    assert_eq!(out.code(), 0, "{}", out.all());
    for (name, lm) in env.fakes() {
        let want: &[&str] = if matches!(name, "b" | "d") {
            &["203.0.113.7"]
        } else {
            assert_eq!(lm.request_count(), 0, "{name} was called");
            &[]
        };
        assert_eq!(env.on(name, Scope::Global), want, "{name}");
    }
    let rows = env.rows();
    let mut owners: Vec<&str> = rows
        .iter()
        .map(|r| r["loadmaster"].as_str().unwrap())
        .collect();
    owners.sort();
    assert_eq!(owners, ["b", "d"], "one entry per selected LoadMaster");

    // list --loadmaster shows that LoadMaster's rows only.
    let out = env.run(&["list", "--json", "--loadmaster", "d"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let listed: Vec<Value> = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["loadmaster"], "d");

    // unblock --loadmaster b leaves d's block in place.
    let out = env.run(&["unblock", "--loadmaster", "b", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(env.on("b", Scope::Global).is_empty());
    assert_eq!(env.on("d", Scope::Global), ["203.0.113.7"]);
    assert_eq!(status_on(&env, "b", "203.0.113.7"), "unblocked");
    assert_eq!(status_on(&env, "d", "203.0.113.7"), "active");

    // sync --loadmaster d reads d's lists only.
    for (_, lm) in env.fakes() {
        lm.clear_requests();
    }
    let out = env.run(&["sync", "--json", "--loadmaster", "d"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    for (name, lm) in env.fakes() {
        assert_eq!(lm.request_count() > 0, name == "d", "{name}");
    }
}

#[test]
fn sweep_loadmaster_completes_only_that_loadmasters_pending_work() {
    let env = Env::several(4);
    env.fake("b").set_fault(Fault::Down);
    env.fake("d").set_fault(Fault::Down);
    assert_eq!(env.run(&["block", "203.0.113.7"]).code(), 3);
    env.fake("b").set_fault(Fault::None);
    env.fake("d").set_fault(Fault::None);
    let out = env.run(&["sweep", "--loadmaster", "b"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on("b", Scope::Global), ["203.0.113.7"]);
    assert!(env.on("d", Scope::Global).is_empty(), "d was not selected");
    assert_eq!(status_on(&env, "d", "203.0.113.7"), "pending_block");
    assert_eq!(env.run(&["sweep"]).code(), 0);
    for name in NAMES {
        assert_eq!(env.on(name, Scope::Global), ["203.0.113.7"], "{name}");
        assert_eq!(env.calls_on(name, "add", "203.0.113.7"), 1, "{name}");
    }
}

#[test]
fn an_unknown_loadmaster_name_is_exit_2_naming_the_configured_ones() {
    let env = Env::several(2);
    let commands: [&[&str]; 6] = [
        &["block", "--loadmaster", "zz", "203.0.113.7"],
        &["unblock", "--loadmaster", "zz", "203.0.113.7"],
        &["list", "--loadmaster", "zz"],
        &["sync", "--loadmaster", "zz"],
        &["sweep", "--loadmaster", "zz"],
        &["check", "--loadmaster", "zz"],
    ];
    for args in commands {
        let out = env.run(args);
        assert_eq!(out.code(), 2, "{args:?}: {}", out.all());
        let err = out.stderr();
        assert!(err.contains("zz"), "{args:?}: {err}");
        assert!(
            err.contains("a, b") || err.contains("\"a\", \"b\""),
            "{args:?}: the configured names: {err}"
        );
        assert_nothing_sent(&env);
    }
    assert!(env.rows().is_empty());
    // A lone [loadmaster] is called "default".
    let one = Env::new();
    let out = one.run(&["block", "--loadmaster", "default", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(one.on_lm(Scope::Global), ["203.0.113.7"]);
    let out = one.run(&["block", "--loadmaster", "a", "203.0.113.8"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    assert!(out.stderr().contains("default"), "{}", out.stderr());
    assert_eq!(one.calls_for("add", "203.0.113.8"), 0);
}

// ----- the --vs rule --------------------------------------------------------

#[test]
fn vs_with_several_loadmasters_needs_loadmaster_and_sends_nothing() {
    for n in SIZES {
        let env = Env::several(n);
        let cases: [(&[&str], Vec<u8>); 4] = [
            (&["block", "--vs", "3", "203.0.113.7"], Vec::new()),
            // Events on standard input, --vs given by hand.
            (&["block", "--vs", "3"], fixture("ads-events.tsv")),
            // The ADS parameter pair `--vs '3'` before one event.
            (&["block", "--vs", "3", "--duration", "36h"], one_event()),
            // Two LoadMasters named are still more than one.
            (
                &[
                    "block",
                    "--loadmaster",
                    "a",
                    "--loadmaster",
                    "b",
                    "--vs",
                    "3",
                    "203.0.113.7",
                ],
                Vec::new(),
            ),
        ];
        for (args, stdin) in cases {
            let out = env.run_stdin(args, stdin);
            assert_eq!(out.code(), 2, "{n}: {args:?}: {}", out.all());
            assert!(
                out.stderr().contains("--loadmaster"),
                "{n}: {args:?}: {}",
                out.stderr()
            );
            assert_nothing_sent(&env);
        }
        assert!(env.rows().is_empty(), "{n}: nothing recorded");
        // With one LoadMaster named, --vs is that appliance's index.
        let out = env.run(&["block", "--loadmaster", "b", "--vs", "3", "203.0.113.7"]);
        assert_eq!(out.code(), 0, "{n}: {}", out.all());
        assert_eq!(env.on("b", Scope::Vs(3)), ["203.0.113.7"]);
        assert_eq!(env.fake("a").request_count(), 0);
        let rows = env.rows();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(
            (&rows[0]["loadmaster"], &rows[0]["vs"]),
            (&Value::from("b"), &Value::from(3))
        );
        // unblock follows the same rule, one address or in bulk.
        env.fake("b").clear_requests();
        for args in [
            &["unblock", "--vs", "3", "203.0.113.7"][..],
            &["unblock", "--vs", "3", "--method", "SSHDICT", "--yes"][..],
        ] {
            let out = env.run(args);
            assert_eq!(out.code(), 2, "{n}: {args:?}: {}", out.all());
            assert!(out.stderr().contains("--loadmaster"), "{}", out.stderr());
            assert_nothing_sent(&env);
        }
        assert_eq!(env.on("b", Scope::Vs(3)), ["203.0.113.7"]);
        let out = env.run(&["unblock", "--loadmaster", "b", "--vs", "3", "203.0.113.7"]);
        assert_eq!(out.code(), 0, "{n}: {}", out.all());
        assert!(env.on("b", Scope::Vs(3)).is_empty());
    }
}

#[test]
fn each_table_may_name_its_own_default_virtual_service() {
    let env = Env::several(2);
    env.write_several(
        |name, _| {
            let vs = if name == "a" { "vs = 3\n" } else { "" };
            format!("{}{vs}", env.ca_line(name))
        },
        "",
    );
    let out = env.run_stdin(&["block"], one_event());
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on("a", Scope::Vs(3)), ["203.0.113.7"]);
    assert!(env.on("a", Scope::Global).is_empty());
    assert_eq!(env.on("b", Scope::Global), ["203.0.113.7"]);
    let all = out.all();
    line_with(&all, "blocked   203.0.113.7 (VS 3 on a)");
    line_with(&all, "blocked   203.0.113.7 (global on b)");
    let a = &rows_on(&env, "a")[0];
    assert_eq!(a["vs"], 3);
    assert_eq!(a["event_id"], "532028");
    assert_eq!(rows_on(&env, "b")[0]["vs"], Value::Null);
}
