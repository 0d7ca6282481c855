//! A state file of format 3 (`tests/fixtures/state-format3.redb`, written
//! before several LoadMasters existed) keeps every row, owned by `default`
//! or by the only LoadMaster configured.

use super::*;

// ----- migration of a format-3 state file -----------------------------------

/// The rows `list --all --json` showed for `state-format3.redb` before
/// several LoadMasters existed (see tests/fixtures/README.md).
fn format3_rows() -> Vec<Value> {
    String::from_utf8(fixture("state-format3.rows.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every recorded row is listed again, field for field, owned by `owner`.
fn assert_rows_kept(env: &Env, owner: &str) {
    let want = format3_rows();
    assert_eq!(want.len(), 8);
    let got = env.rows();
    assert_eq!(got.len(), want.len(), "no row lost or added: {got:#?}");
    for old in &want {
        let new = got
            .iter()
            .find(|r| r["address"] == old["address"] && r["vs"] == old["vs"])
            .unwrap_or_else(|| panic!("{old} lost"));
        for (key, value) in old.as_object().unwrap() {
            assert_eq!(&new[key], value, "{key} of {}", old["address"]);
        }
        assert_eq!(new["loadmaster"], owner, "{new}");
    }
}

fn with_format3_state(env: &Env) {
    std::fs::create_dir_all(env.state.parent().unwrap()).unwrap();
    std::fs::write(&env.state, fixture("state-format3.redb")).unwrap();
}

/// After the conversion, the migrated entries go on: the pending block is
/// sent, the pending unblock settled, an active block is found again (and
/// extended, not duplicated).
fn assert_rows_keep_going(env: &Env, owner: &str) {
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let store = lmguard::state::Store::open_existing(&env.state, Duration::from_secs(5))
        .unwrap()
        .unwrap();
    let format = store.format().unwrap().unwrap();
    assert_eq!(format, lmguard::state::FORMAT_VERSION);
    assert!(format > 3, "converted from format 3, not kept as it was");
    drop(store);
    assert_eq!(env.on_lm(Scope::Global), ["192.0.2.66"]);
    let rows = env.rows();
    assert_eq!(rows.len(), 8);
    let status = |address: &str| {
        let row = rows.iter().find(|r| r["address"] == address).unwrap();
        assert_eq!(row["loadmaster"], owner, "{row}");
        row["status"].as_str().unwrap().to_string()
    };
    assert_eq!(status("192.0.2.66"), "active");
    assert_eq!(status("198.51.100.99"), "unblocked");
    assert_eq!(status("203.0.113.50"), "expired");
    assert_eq!(status("203.0.113.51"), "unblocked");
    assert_eq!(status("192.0.2.7"), "active");
    let out = env.run(&["block", "192.0.2.7", "--duration", "1000w"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stdout().contains("blocked 0, extended 1,"),
        "{}",
        out.stdout()
    );
    assert_eq!(env.rows().len(), 8);
}

#[test]
fn a_format3_state_file_belongs_to_default_under_a_lone_loadmaster_table() {
    let env = Env::new();
    with_format3_state(&env);
    // Read-only first: listed as it is, each row owned by "default".
    assert_rows_kept(&env, "default");
    assert_rows_keep_going(&env, "default");
}

#[test]
fn a_format3_state_file_belongs_to_the_only_loadmaster_whatever_its_name() {
    for form in [
        "[[loadmaster]]\nname = \"site1\"\n",
        "[loadmaster]\nname = \"site1\"\n",
    ] {
        let env = Env::new();
        let text = std::fs::read_to_string(&env.config)
            .unwrap()
            .replace("[loadmaster]\n", form);
        std::fs::write(&env.config, text).unwrap();
        with_format3_state(&env);
        assert_rows_kept(&env, "site1");
        assert_rows_keep_going(&env, "site1");
        let out = env.run(&["list", "--json", "--loadmaster", "site1"]);
        assert_eq!(out.code(), 0, "{form}: {}", out.all());
    }
}

#[test]
fn a_format3_state_file_follows_a_table_named_default_among_several() {
    // The operator adds a second site and names the first table "default":
    // the old entries stay that LoadMaster's; the new one gets none of them.
    let env = Env::several(2);
    let text = std::fs::read_to_string(&env.config).unwrap().replacen(
        "name = \"a\"",
        "name = \"default\"",
        1,
    );
    std::fs::write(&env.config, text).unwrap();
    with_format3_state(&env);
    assert_rows_kept(&env, "default");
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on("a", Scope::Global), ["192.0.2.66"]);
    assert_eq!(env.fake("b").request_count(), 0, "b has nothing to do");
    let out = env.run(&["block", "192.0.2.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let stdout = out.stdout();
    line_with(&stdout, "extended  192.0.2.7 (global on default)");
    line_with(&stdout, "blocked   192.0.2.7 (global on b)");
    assert_eq!(env.on("b", Scope::Global), ["192.0.2.7"]);
    assert_eq!(env.rows().len(), 9);
}

#[test]
fn check_warns_about_entries_of_a_loadmaster_no_longer_configured() {
    // Two new tables, neither named "default": the old entries have no
    // LoadMaster; check says so (and nothing is lost from the state).
    let env = Env::several(2);
    with_format3_state(&env);
    let out = env.run(&["check"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let line = out
        .check_line("unconfigured LoadMasters")
        .unwrap_or_else(|| panic!("no warning:\n{}", out.stdout()));
    assert!(line.starts_with('!'), "{line}");
    assert!(
        line.contains("6 active or pending entries of LoadMaster \"default\""),
        "{line}"
    );
    assert_rows_kept(&env, "default");
    for (name, lm) in env.fakes() {
        assert_eq!(edits(lm), (0, 0), "{name}: check only reads");
    }
    // sweep leaves them alone too, but says so (cron mails it): the two
    // pending entries of the fixture are due work nobody does.
    let out = env.run(&["sweep", "--quiet"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stderr().contains(
            "warning: 2 due or pending entries of LoadMaster \"default\", which the \
             configuration does not name, left as they are"
        ),
        "{}",
        out.all()
    );
    assert_rows_kept(&env, "default");
    for (name, lm) in env.fakes() {
        assert_eq!(edits(lm), (0, 0), "{name}: sweep sent nothing for them");
    }
}

/// A lone `[loadmaster]` table (its entries are `default`'s) turned into
/// one `[[loadmaster]] name = "main"` for the same appliance: the current
/// entries follow the rename on the first write, with a notice, so that
/// sweep expires them; history stays. `check` says so before.
#[test]
fn a_renamed_only_loadmaster_takes_its_entries_along() {
    let env = Env::new();
    let out = env.run(&["block", "203.0.113.7", "--duration", "1s"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.run(&["block", "203.0.113.8"]).code(), 0);
    assert_eq!(env.run(&["block", "203.0.113.9"]).code(), 0);
    assert_eq!(env.run(&["unblock", "203.0.113.9"]).code(), 0);
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("[loadmaster]\n", "[[loadmaster]]\nname = \"main\"\n");
    std::fs::write(&env.config, text).unwrap();

    let out = env.run(&["check"]);
    let line = out
        .check_line("unconfigured LoadMasters")
        .unwrap_or_else(|| panic!("no warning:\n{}", out.stdout()));
    assert!(line.contains("2 active or pending entries"), "{line}");
    assert!(
        out.stdout().contains("moves them to \"main\""),
        "{}",
        out.stdout()
    );

    std::thread::sleep(Duration::from_millis(1_100));
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        out.stderr()
            .contains("moved 2 active or pending entries of LoadMaster \"default\""),
        "{}",
        out.all()
    );
    assert!(out.stdout().contains("expired 1 of 1 due"), "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.8"]);
    let owner = |address: &str| {
        env.rows()
            .into_iter()
            .find(|r| r["address"] == address)
            .unwrap()["loadmaster"]
            .clone()
    };
    assert_eq!(owner("203.0.113.7"), "main");
    assert_eq!(owner("203.0.113.8"), "main");
    assert_eq!(owner("203.0.113.9"), "default", "history stays");
    // Once: the next run says nothing more, and check is content.
    let out = env.run(&["sweep"]);
    assert!(!out.stderr().contains("moved"), "{}", out.all());
    let out = env.run(&["check"]);
    assert!(
        out.check_line("unconfigured LoadMasters").is_none(),
        "{}",
        out.stdout()
    );
    let out = env.run(&["unblock", "203.0.113.8"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(env.on_lm(Scope::Global).is_empty());
}
