//! Configuration errors naming the `[[loadmaster]]` table, and pin lists
//! (`tls_sha256 = [A, B]`, the two units of an HA pair).

use super::*;

// ----- configuration --------------------------------------------------------

/// One `[[loadmaster]]` table for fake `lm`, with these extra lines.
fn table(env: &Env, name: &str, lm: &FakeLoadMaster, lines: &str) -> String {
    format!(
        "[[loadmaster]]\n{lines}url = \"{url}\"\napi_key_file = \"{key}\"\n{ca}\
         rate = \"100000/1s\"\n\n",
        url = lm.url(),
        key = env.dir.path().join(format!("api-key-{name}")).display(),
        ca = env.ca_line(name),
    )
}

fn state_section(env: &Env) -> String {
    format!("[state]\npath = \"{}\"\n", env.state.display())
}

#[test]
fn configuration_errors_name_the_table() {
    let env = Env::several(2);
    let (a, b) = (env.fake("a"), env.fake("b"));
    let cases = [
        (
            format!(
                "{}{}",
                table(&env, "a", a, "name = \"a\"\n"),
                table(&env, "b", b, "")
            ),
            "[[loadmaster]] #2: name is missing",
        ),
        (
            format!(
                "{}{}",
                table(&env, "a", a, "name = \"a\"\n"),
                table(&env, "b", b, "name = \"a\"\n")
            ),
            "[[loadmaster]] #2 \"a\": name \"a\" is already used by #1",
        ),
        (
            format!(
                "{}{}",
                table(&env, "a", a, "name = \"a\"\n"),
                table(&env, "b", b, "name = \"b\"\n").replace("https://", "http://")
            ),
            "[[loadmaster]] #2 \"b\": url",
        ),
        (
            format!(
                "{}{}",
                table(&env, "a", a, "name = \"a\"\ntls_sha256 = \"AB:CD\"\n"),
                table(&env, "b", b, "name = \"b\"\n")
            ),
            "[[loadmaster]] #1 \"a\": tls_sha256",
        ),
        (
            format!(
                "{}{}",
                table(&env, "a", a, "name = \"a\"\n"),
                table(&env, "b", b, "name = \"b\"\ntls_sha256 = []\n")
            ),
            "[[loadmaster]] #2 \"b\": tls_sha256: the list is empty",
        ),
        (
            format!(
                "{}{}",
                table(&env, "a", a, "name = \"a\"\n"),
                table(&env, "b", b, "name = \"b c\"\n")
            ),
            "[[loadmaster]] #2 \"b c\": name: ",
        ),
        (
            "loadmaster = []\n".to_string(),
            "[[loadmaster]]: no LoadMaster",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&env.config, format!("{text}{}", state_section(&env))).unwrap();
        let out = env.run(&["block", "203.0.113.7"]);
        assert_eq!(out.code(), 2, "{want}: {}", out.all());
        assert!(
            out.stderr().contains(want),
            "{want:?} in:\n{}",
            out.stderr()
        );
        assert_nothing_sent(&env);
        assert!(!env.state.exists());
    }
}

#[test]
fn each_table_has_its_own_timeout_and_key_source() {
    // Both answer after 1.5 s: within a's 3 s, beyond b's 1 s. a's key comes
    // from the environment, b's from its file.
    let env = Env::several(2);
    for (_, lm) in env.fakes() {
        lm.set_fault(Fault::Delay(Duration::from_millis(1500)));
    }
    let text = std::fs::read_to_string(&env.config).unwrap();
    let key_a = env.dir.path().join("api-key-a").display().to_string();
    let text = text
        .replacen(
            &format!("api_key_file = \"{key_a}\""),
            "api_key_env = \"LMGUARD_TEST_KEY_A\"",
            1,
        )
        .replacen("timeout = \"2s\"", "timeout = \"3s\"", 1)
        .replacen("timeout = \"2s\"", "timeout = \"1s\"", 1);
    std::fs::write(&env.config, text).unwrap();
    let out = common::Out(
        env.cmd()
            .env("LMGUARD_TEST_KEY_A", common::key_of("a"))
            .args(["block", "203.0.113.7"])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(env.on("a", Scope::Global), ["203.0.113.7"]);
    assert_eq!(status_on(&env, "a", "203.0.113.7"), "active");
    assert_eq!(status_on(&env, "b", "203.0.113.7"), "pending_block");
    let err = out.stderr();
    assert!(err.contains("LoadMaster \"b\": "), "{err}");
    assert!(!err.contains("LoadMaster \"a\""), "{err}");
}

#[test]
fn block_vs_with_several_loadmasters_is_a_configuration_error() {
    let env = Env::several_with(2, Options::default(), "[block]\nvs = 3\n");
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    let err = out.stderr();
    assert!(
        err.contains("block.vs") || err.contains("[block] vs"),
        "{err}"
    );
    assert!(err.contains("[[loadmaster]]"), "set vs per table: {err}");
    assert_nothing_sent(&env);
}

// ----- a list of pinned certificates ----------------------------------------

/// A lone `[loadmaster]` at fake `name` (its key) pinning `pins`.
fn pinned(env: &Env, name: &str, pins: &[String]) {
    let list: Vec<String> = pins.iter().map(|p| format!("\"{p}\"")).collect();
    let text = format!(
        "[loadmaster]\nurl = \"{url}\"\napi_key_file = \"{key}\"\ntls_sha256 = [{list}]\n\
         timeout = \"2s\"\nrate = \"100000/1s\"\n\n{state}",
        url = env.fake(name).url(),
        key = env.dir.path().join(format!("api-key-{name}")).display(),
        list = list.join(", "),
        state = state_section(env),
    );
    std::fs::write(&env.config, text).unwrap();
}

#[test]
fn a_pin_list_accepts_either_certificate_and_refuses_any_other() {
    // a and b are the two units of an HA pair, each with its certificate.
    let env = Env::several(2);
    let pins = [
        env.fake("a").leaf_sha256_fingerprint(),
        env.fake("b").leaf_sha256_fingerprint().to_lowercase(),
    ];
    pinned(&env, "a", &pins);
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on("a", Scope::Global), ["203.0.113.7"]);
    // The other unit answers at the shared address after a failover.
    pinned(&env, "b", &pins);
    let out = env.run(&["block", "203.0.113.8"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on("b", Scope::Global), ["203.0.113.8"]);

    // A list holding neither certificate is refused before anything is sent.
    let others: Vec<String> = (0..2)
        .map(|_| {
            FakeLoadMaster::start(Options::default())
                .unwrap()
                .leaf_sha256_fingerprint()
        })
        .collect();
    pinned(&env, "b", &others);
    env.fake("b").clear_requests();
    let out = env.run(&["block", "203.0.113.9"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    let err = out.stderr();
    assert!(err.contains("tls_sha256"), "{err}");
    assert!(
        err.contains(&env.fake("b").leaf_sha256_fingerprint()),
        "the presented fingerprint is named: {err}"
    );
    assert_eq!(env.fake("b").request_count(), 0);
    assert_eq!(env.status_of("203.0.113.9"), "pending_block");
}

#[test]
fn pin_lists_per_table_refuse_only_their_own_loadmaster() {
    let env = Env::several(2);
    let stranger = FakeLoadMaster::start(Options::default())
        .unwrap()
        .leaf_sha256_fingerprint();
    env.write_several(
        |name, lm| {
            let pin = if name == "a" {
                lm.leaf_sha256_fingerprint()
            } else {
                stranger.clone()
            };
            format!("tls_sha256 = [\"{stranger}\", \"{pin}\"]\n")
        },
        "",
    );
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert_eq!(env.on("a", Scope::Global), ["203.0.113.7"]);
    assert_eq!(env.fake("b").request_count(), 0);
    let err = out.stderr();
    let line = line_with(&err, "LoadMaster \"b\": ");
    assert!(line.contains("tls_sha256"), "{line}");
    assert!(!err.contains("LoadMaster \"a\""), "{err}");
}
