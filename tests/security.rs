//! Security promises, end to end: TLS trust (CA file, pin, refusal), the API
//! key never leaving the key file, and private files.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{ca_signed, Env, KEY};
use fake_loadmaster::{FakeLoadMaster, Fault, Options, Scope};

fn ca_line(env: &Env) -> String {
    format!(
        "ca_file = \"{}\"\n",
        env.dir.path().join("lm.pem").display()
    )
}

fn run_with_config(config: &Path, args: &[&str]) -> common::Out {
    common::Out(
        assert_cmd::Command::cargo_bin("lmguard")
            .unwrap()
            .arg("--config")
            .arg(config)
            .args(args)
            .env_remove("LMGUARD_CONFIG")
            .write_stdin(Vec::new())
            .output()
            .unwrap(),
    )
}

fn private_key_file(env: &Env) {
    let key = env.dir.path().join("api-key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
}

// ----- TLS ----------------------------------------------------------------

#[test]
fn tls_is_trusted_via_ca_file_for_a_self_signed_or_ca_signed_certificate() {
    for options in [Options::default(), ca_signed()] {
        let env = Env::with(options, "");
        let out = env.run(&["block", "203.0.113.7"]);
        assert_eq!(out.code(), 0, "{}", out.all());
        assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
    }
}

#[test]
fn tls_is_trusted_via_a_pin_in_any_spelling() {
    let env = Env::new();
    let pin = env.lm.leaf_sha256_fingerprint();
    assert_eq!(pin.len(), 95, "AB:CD:… form: {pin}");
    let spellings = [
        pin.clone(),
        pin.to_lowercase(),
        pin.replace(':', ""),
        pin.replace(':', "").to_lowercase(),
    ];
    for (i, spelling) in spellings.iter().enumerate() {
        env.write_config(&format!("tls_sha256 = \"{spelling}\"\n"), "");
        let address = format!("203.0.113.{}", 10 + i);
        let out = env.run(&["block", &address]);
        assert_eq!(out.code(), 0, "{spelling}: {}", out.all());
        assert_eq!(env.status_of(&address), "active");
    }
    assert_eq!(env.on_lm(Scope::Global).len(), 4);
}

#[test]
fn tls_without_trust_is_refused() {
    let env = Env::new();
    // No ca_file, no pin: the system roots do not know the fake's certificate.
    env.write_config("", "");
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(out.stderr().contains("certificate"), "{}", out.stderr());
    assert_eq!(env.status_of("203.0.113.7"), "pending_block");
    assert!(env.on_lm(Scope::Global).is_empty());
    assert_eq!(
        env.lm.request_count(),
        0,
        "no request after a refused handshake"
    );
}

#[test]
fn a_wrong_pin_is_refused_naming_both_fingerprints() {
    let env = Env::new();
    let presented = env.lm.leaf_sha256_fingerprint();
    // The pin of another fake LoadMaster's certificate.
    let other = FakeLoadMaster::start(Options::default()).unwrap();
    let expected = other.leaf_sha256_fingerprint();
    assert_ne!(expected, presented);
    env.write_config(
        &format!("tls_sha256 = \"{}\"\n", expected.to_lowercase()),
        "",
    );
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    let err = out.stderr();
    assert!(
        err.contains(&expected),
        "expected fingerprint named:\n{err}"
    );
    assert!(
        err.contains(&presented),
        "presented fingerprint named:\n{err}"
    );
    assert!(err.contains("tls_sha256"), "{err}");
    assert_eq!(env.lm.request_count(), 0);
    assert_eq!(env.status_of("203.0.113.7"), "pending_block");
    // Fixing the pin lets sweep apply it.
    env.write_config(&format!("tls_sha256 = \"{presented}\"\n"), "");
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.7"]);
}

#[test]
fn a_bad_pin_is_a_configuration_error() {
    let env = Env::new();
    env.write_config("tls_sha256 = \"AB:CD:EF\"\n", "");
    let out = env.run(&["block", "203.0.113.7"]);
    assert_eq!(out.code(), 2, "{}", out.all());
    assert!(out.stderr().contains("tls_sha256"), "{}", out.stderr());
    assert_eq!(env.lm.request_count(), 0);
}

#[test]
fn skipping_verification_warns_on_every_run() {
    let env = Env::new();
    env.write_config("insecure_skip_tls_verify = true\n", "");
    for address in ["203.0.113.7", "203.0.113.8"] {
        let out = env.run(&["block", address]);
        assert_eq!(out.code(), 0, "{}", out.all());
        assert!(
            out.stderr().contains("verification") && out.stderr().contains("OFF"),
            "{}",
            out.stderr()
        );
    }
}

// ----- the API key --------------------------------------------------------

#[test]
fn a_key_file_readable_by_others_gets_one_warning_without_the_key() {
    let env = Env::new();
    let key = env.dir.path().join("api-key");
    for mode in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = env.run(&["block", "203.0.113.7"]);
        assert_eq!(out.code(), 0, "{}", out.all());
        let warnings: Vec<&str> = out
            .0
            .stderr
            .split(|&b| b == b'\n')
            .filter_map(|l| std::str::from_utf8(l).ok())
            .filter(|l| l.contains("api_key_file"))
            .collect();
        assert_eq!(warnings.len(), 1, "{mode:o}: {}", out.stderr());
        assert!(warnings[0].contains("chmod 600"), "{}", warnings[0]);
        assert!(
            warnings[0].contains(&key.display().to_string()),
            "{}",
            warnings[0]
        );
        assert!(!out.all().contains(KEY));
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = env.run(&["block", "203.0.113.8"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(!out.stderr().contains("api_key_file"), "{}", out.stderr());
}

/// Every subcommand, successful and failing, at -vv and with a trace log
/// file: not one byte sequence of the key in stdout, stderr or the log.
#[test]
fn the_api_key_never_appears_in_any_output_of_any_subcommand() {
    let env = Env::new();
    let log = env.dir.path().join("lmguard.log");
    let logging = format!("[log]\nfile = \"{}\"\nlevel = \"trace\"\n", log.display());
    env.write_config(&ca_line(&env), &logging);
    // Readable by others: the warning must not carry the key either.
    let key_file = env.dir.path().join("api-key");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(
        env.dir.path().join("events.tsv"),
        common::fixture("ads-events.tsv"),
    )
    .unwrap();

    let mut transcript: Vec<u8> = Vec::new();
    let mut record = |out: common::Out| {
        transcript.extend_from_slice(&out.0.stdout);
        transcript.extend_from_slice(&out.0.stderr);
    };
    let runs: &[&[&str]] = &[
        &["-vv", "block", "203.0.113.7", "--reason", "by hand"],
        &["-vv", "block", "--dry-run", "203.0.113.8"],
        &["-vv", "block", "127.0.0.1", "not-an-ip", "10.0.0.0/8"],
        &["-vvv", "list", "--all", "--json"],
        &["-vv", "list"],
        &["-vv", "sweep"],
        &["-vv", "sweep", "--dry-run"],
        &["-vv", "sync"],
        &["-vv", "sync", "--json"],
        &["-vv", "sync", "--apply"],
        &["-vv", "check"],
        &["-v", "check", "--probe"],
        &["-vvv", "check", "--probe"],
        &["-vv", "unblock", "203.0.113.7"],
        &["-vv", "unblock", "--dry-run", "203.0.113.99"],
        &["-vv", "completions", "bash"],
        &["-vv", "--help"],
        &["-vv", "block", "--bogus-option"],
    ];
    for args in runs {
        record(env.run(args));
    }
    record(env.run_stdin(&["-vvv", "block"], common::fixture("ads-events.tsv")));
    // Failures: a refused key, a LoadMaster that is down, a wrong pin.
    env.lm.set_api_key("rotated-key");
    record(env.run(&["-vvv", "block", "203.0.113.9"]));
    record(env.run(&["-vv", "sync"]));
    record(env.run(&["-vv", "check"]));
    env.lm.set_fault(Fault::Down);
    record(env.run(&["-vvv", "sweep"]));
    record(env.run(&["-vv", "unblock", "203.0.113.8"]));
    record(env.run(&["-vv", "check"]));
    env.lm.set_fault(Fault::None);
    env.write_config(&format!("tls_sha256 = \"{}\"\n", "0".repeat(64)), &logging);
    record(env.run(&["-vvv", "block", "203.0.113.10"]));
    // The key file given as the configuration, and a config with the key
    // inline: configuration errors must not quote it.
    record(run_with_config(&key_file, &["-vv", "list"]));
    env.write_config(&format!("{}api_key = \"{KEY}\"\n", ca_line(&env)), &logging);
    record(env.run(&["-vv", "block", "203.0.113.11"]));
    // The key in an environment variable instead of a file.
    env.write_config(&ca_line(&env), &logging);
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        &format!("api_key_file = \"{}\"", key_file.display()),
        "api_key_env = \"LMGUARD_TEST_KEY\"",
    );
    std::fs::write(&env.config, text).unwrap();
    env.lm.set_api_key(KEY);
    let out = common::Out(
        env.cmd()
            .env("LMGUARD_TEST_KEY", KEY)
            .args(["-vvv", "block", "203.0.113.12"])
            .write_stdin(Vec::new())
            .output()
            .unwrap(),
    );
    assert_eq!(out.code(), 0, "{}", out.all());
    record(out);

    let log_bytes = std::fs::read(&log).unwrap();
    assert!(
        !log_bytes.is_empty() && String::from_utf8_lossy(&log_bytes).contains("debug"),
        "the log file was written at debug level"
    );
    transcript.extend_from_slice(&log_bytes);
    let text = String::from_utf8_lossy(&transcript);
    assert!(
        text.contains("api_key_file") && text.contains("chmod 600"),
        "the permission warning was shown"
    );
    let hits = transcript
        .windows(KEY.len())
        .filter(|w| *w == KEY.as_bytes())
        .count();
    assert_eq!(hits, 0, "the API key leaked:\n{text}");
}

// ----- files lmguard creates ---------------------------------------------

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn state_and_log_files_are_private_even_with_umask_0() {
    let env = Env::new();
    private_key_file(&env);
    let log = env.dir.path().join("logs").join("lmguard.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    env.write_config(
        &ca_line(&env),
        &format!("[log]\nfile = \"{}\"\nlevel = \"info\"\n", log.display()),
    );
    let bin = assert_cmd::cargo::cargo_bin("lmguard");
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg("umask 000; exec \"$0\" --config \"$1\" block 203.0.113.7")
        .arg(&bin)
        .arg(&env.config)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state_dir = env.state.parent().unwrap();
    let lock = env.state.with_extension("redb.lock");
    assert_eq!(mode(state_dir), 0o700, "state directory");
    assert_eq!(mode(&env.state), 0o600, "state file");
    assert_eq!(mode(&lock), 0o600, "lock file");
    assert_eq!(mode(&log) & 0o007, 0, "log file is not world-readable");
    assert_eq!(
        mode(&log) & 0o022,
        0,
        "log file is writable by its owner only"
    );
}
